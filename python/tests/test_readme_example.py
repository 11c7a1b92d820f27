"""The guide's example (docs/src/pytest.md), word for word."""

import certsrv
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

def test_a_manager_approves_the_request(adcs_standalone_ca):
    ca = adcs_standalone_ca
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name.from_rfc4514_string("CN=web01.contoso.test"))
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    client = certsrv.Certsrv(f"{ca.host}:{ca.port}", ca.user, ca.password,
                             auth_method="ntlm", cafile=ca.root_cert)
    try:
        client.get_cert(csr, "WebServer")
    except certsrv.CertificatePendingException as pending:
        ca.issue(int(pending.req_id))  # the certificate manager approves
        assert b"BEGIN CERTIFICATE" in client.get_existing_cert(int(pending.req_id))
    else:
        raise AssertionError("a stand-alone CA holds every request")
