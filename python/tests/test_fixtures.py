"""The pytest fixtures as a Python AD CS client's test suite uses them,
with the `certsrv` library (magnuswatn/certsrv) as the client."""

import os
import shutil
import subprocess
import sys
import sysconfig

import certsrv
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

import adcs_harness

UNSUPPORTED_TEMPLATE = 0x80094800  # CERTSRV_E_UNSUPPORTED_CERT_TYPE
BAD_REQUESTSTATUS = 0x80094003  # CERTSRV_E_BAD_REQUESTSTATUS


def csr(cn):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    req = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return req.public_bytes(serialization.Encoding.PEM)


def client(ca, auth="ntlm"):
    return certsrv.Certsrv("%s:%d" % (ca.host, ca.port), ca.user, ca.password,
                           auth_method=auth, cafile=ca.root_cert, timeout=30)


def ca_certificate(ca):
    with open(ca.ca_cert, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def test_enterprise_enrollment_with_the_certsrv_library(adcs_ca):
    pem = client(adcs_ca).get_cert(csr("web01.contoso.test"), "WebServer")
    cert = x509.load_pem_x509_certificate(pem)
    cert.verify_directly_issued_by(ca_certificate(adcs_ca))
    rows = adcs_ca.requests("issued")
    assert [r["id"] for r in rows] == [1, 2]
    assert rows[1]["requester"].lower() == adcs_ca.user.lower()


def test_a_standalone_request_waits_until_issue(adcs_standalone_ca):
    ca = adcs_standalone_ca
    with pytest.raises(certsrv.CertificatePendingException) as pending:
        client(ca).get_cert(csr("web02.contoso.test"), "WebServer")
    req_id = int(pending.value.req_id)
    assert [r["id"] for r in ca.pending()] == [req_id]
    ca.issue(req_id)
    cert = x509.load_pem_x509_certificate(client(ca).get_existing_cert(req_id))
    cert.verify_directly_issued_by(ca_certificate(ca))


def test_denials_carry_the_cas_hresult(adcs_ca, adcs_standalone_ca):
    with pytest.raises(certsrv.RequestDeniedException) as denied:
        client(adcs_ca).get_cert(csr("web03.contoso.test"), "NoSuchTemplate")
    assert "0x%08x" % UNSUPPORTED_TEMPLATE in str(denied.value).lower()
    # A manager's denial, and the control API's error for acting on it again.
    with pytest.raises(certsrv.CertificatePendingException) as pending:
        client(adcs_standalone_ca).get_cert(csr("web04.contoso.test"), "WebServer")
    req_id = int(pending.value.req_id)
    adcs_standalone_ca.deny(req_id)
    with pytest.raises(certsrv.CouldNotRetrieveCertificateException) as gone:
        client(adcs_standalone_ca).get_existing_cert(req_id)
    assert "Denied by" in str(gone.value)
    with pytest.raises(adcs_harness.ControlError) as refused:
        adcs_standalone_ca.issue(req_id)
    assert refused.value.status == 409
    assert refused.value.hresult == BAD_REQUESTSTATUS


def test_advancing_the_clock_expires_a_certificate(adcs_ca):
    first = x509.load_pem_x509_certificate(
        client(adcs_ca).get_cert(csr("web05.contoso.test"), "WebServer"))
    lifetime = int((first.not_valid_after_utc - first.not_valid_before_utc).total_seconds())
    now = adcs_ca.clock(advance=lifetime + 86400)["now"]
    assert now > first.not_valid_after_utc.timestamp(), "expired by the CA's clock"
    second = x509.load_pem_x509_certificate(
        client(adcs_ca).get_cert(csr("web05.contoso.test"), "WebServer"))
    assert second.not_valid_before_utc > first.not_valid_after_utc


def test_a_fault_rule_fails_exactly_one_submission(adcs_ca):
    adcs_ca.faults([{"endpoint": "certfnsh.asp", "method": "POST", "nth": 1, "status": 503}])
    with pytest.raises(Exception) as failed:
        client(adcs_ca, auth="basic").get_cert(csr("web06.contoso.test"), "WebServer")
    assert "503" in str(failed.value)
    pem = client(adcs_ca, auth="basic").get_cert(csr("web06.contoso.test"), "WebServer")
    assert b"BEGIN CERTIFICATE" in pem
    assert [e.get("fault") for e in adcs_ca.journal() if e.get("fault")], "the fault is journaled"


def test_reset_isolation_first_leaves_a_mess(adcs_ca):
    adcs_ca.faults([{"endpoint": "*", "status": 503}])
    adcs_ca.clock(advance=10 * 365 * 86400)
    assert adcs_ca.requests()[-1]["id"] == 1


def test_reset_isolation_then_starts_clean(adcs_ca):
    assert adcs_ca.faults() == []
    assert [r["id"] for r in adcs_ca.requests()] == [1]
    assert adcs_ca.status()["next_request_id"] == 2
    now = adcs_ca.clock()["now"]
    pem = client(adcs_ca).get_cert(csr("web07.contoso.test"), "WebServer")
    cert = x509.load_pem_x509_certificate(pem)
    assert abs(cert.not_valid_before_utc.timestamp() - now) < 3600, "the clock is back"


def test_the_wheel_puts_the_binary_on_path():
    found = shutil.which("adcs-harness")
    assert found, "adcs-harness is not on PATH"
    scripts = sysconfig.get_path("scripts")
    assert os.path.dirname(os.path.realpath(found)) == os.path.realpath(scripts), (found, scripts)
    assert adcs_harness.find_binary() == os.path.join(scripts, os.path.basename(found))
    out = subprocess.run([found, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("adcs-harness "), out.stdout
    assert sys.prefix != sys.base_prefix, "runs in a virtual environment"
