#!/usr/bin/env python3
"""Browser suite: headless Chromium clicking through `adcs-harness serve`.

Usage:
    python run.py --bin PATH_TO_adcs-harness --chromium PATH_TO_chromium
                  [--artifacts DIR] [--screenshots DIR] [--only NAME]... [--list] [--verbose]

Playwright drives the system's Chromium (no browser download) against one
enterprise and one stand-alone server on loopback over HTTPS. The cases walk
what a person does with the pages: the stand-alone flow (submit a request,
issue it in the CA console, find it on the status page, download it), the
enterprise flow with the template drop-down, "Create and submit a request
to this CA" with its PFX, the CA certificate download page, template
duplication in the console, that strangers and non-administrators get
no console and cannot forge a console action from another site, and a
Kerberos sign-in (kinit, then Chromium with the site on its
--auth-server-allowlist) that enrolls through the pages.

What the browser downloads is checked with `cryptography`, independently of
the harness. Prints `PASS name` / `FAIL name: reason` per case, then
`browser: N passed, M failed`; a failed case leaves a screenshot of each of
its pages in --artifacts. With --screenshots, the stand-alone flow and the
CA certificate page also save the guide's screenshots there (the SCOM
procedure's pages, step by step). Exits 1 if any case failed.
"""

import argparse
import base64
import fnmatch
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from playwright.sync_api import sync_playwright

ALICE = ("CONTOSO\\alice", "Alice-Passw0rd")
BOB = ("CONTOSO\\bob", "Bob-Passw0rd")
READY_TIMEOUT = 30.0
TIMEOUT_MS = 15_000
TEMPLATE_NAME_EXT = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2")
TEMPLATE_V2_EXT = x509.ObjectIdentifier("1.3.6.1.4.1.311.21.7")

VERBOSE = False

# AD CS writes the certificates of a PKCS#7 in chain order, not in DER's
# sorted SET OF order (shared/reference/p7b shows it); cryptography reads
# them as BER and warns.
warnings.filterwarnings("ignore", message="PKCS#7 certificates could not be parsed as DER")


class Fail(AssertionError):
    """The case failed; the message says why."""


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def log(msg):
    if VERBOSE:
        print("  | " + msg, file=sys.stderr, flush=True)


class Server:
    """One `adcs-harness serve` on a free loopback port, until stopped."""

    def __init__(self, binary, mode, workdir, extra=()):
        self.mode = mode
        self.dir = tempfile.mkdtemp(prefix=f"browser-{mode}-", dir=workdir)
        ready = os.path.join(self.dir, "ready.json")
        self.log = open(os.path.join(self.dir, "serve.log"), "wb")
        self.proc = subprocess.Popen(
            [
                binary, "serve", "--mode", mode, "--listen", "127.0.0.1:0",
                "--ready-file", ready,
                "--user", f"{ALICE[0]}:{ALICE[1]}",
                "--user", f"{BOB[0]}:{BOB[1]}",
                *extra,
            ],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir,
        )
        deadline = time.time() + READY_TIMEOUT
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError(f"serve --mode {mode} did not get ready; see {self.log.name}")
            time.sleep(0.02)
        with open(ready) as f:
            self.info = json.load(f)
        self.certsrv = self.info["certsrv_url"]
        self.console = self.info["control_url"] + "console/"
        self.admin = (self.info["admin"]["user"], self.info["admin"]["password"])
        with open(self.info["ca_cert"], "rb") as f:
            self.ca_cert = x509.load_pem_x509_certificate(f.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


class Case:
    """What one case works with: browser contexts signed in as someone,
    closed (after screenshots, if it failed) when the case ends."""

    def __init__(self, env, name):
        self.env = env
        self.name = name
        self.contexts = []

    def page(self, account=None):
        ctx = self.env.browser.new_context(
            # `send: always` is for the context's API requests only; the
            # pages answer the server's challenge as a browser does.
            http_credentials=(
                {"username": account[0], "password": account[1], "send": "always"}
                if account
                else None
            ),
            ignore_https_errors=True,
            accept_downloads=True,
        )
        ctx.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(ctx)
        return ctx.new_page()

    def screenshots(self):
        os.makedirs(self.env.artifacts, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name)
        paths = []
        for i, ctx in enumerate(self.contexts):
            for j, p in enumerate(ctx.pages):
                path = os.path.join(self.env.artifacts, f"{safe}-{i}-{j}.png")
                try:
                    p.screenshot(path=path, full_page=True)
                    paths.append(path)
                except Exception as e:  # a crashed page still lets the others be saved
                    log(f"no screenshot of {p.url}: {e}")
        return paths

    def close(self):
        for ctx in self.contexts:
            ctx.close()


def download(page, selector):
    """Clicks `selector` and returns the bytes the browser downloads."""
    with page.expect_download() as d:
        page.click(selector)
    path = d.value.path()
    with open(path, "rb") as f:
        data = f.read()
    log(f"downloaded {d.value.suggested_filename} ({len(data)} bytes) from {d.value.url}")
    return data


def unarmor(pem):
    """The DER inside one PEM block, whatever its label (certsrv labels a
    Base64 PKCS#7 `CERTIFICATE`)."""
    lines = pem.decode("ascii").strip().splitlines()
    check(lines[0].startswith("-----BEGIN ") and lines[-1].startswith("-----END "), "not PEM")
    return base64.b64decode("".join(lines[1:-1]))


def csr(cn):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    req = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .sign(key, hashes.SHA256())
    )
    return req.public_bytes(serialization.Encoding.PEM).decode()


def common_name(cert):
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def ekus(cert):
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def issued_by(cert, ca):
    check(cert.issuer == ca.subject, f"issuer {cert.issuer.rfc4514_string()} is not the CA")
    cert.verify_directly_issued_by(ca)


def request_id(page):
    m = re.search(r"Your Request Id is (\d+)\.", page.content())
    check(m, "no request ID on the page")
    return int(m.group(1))


def text_of(page):
    return page.inner_text("body")


def follow(page, text):
    """Clicks the link whose text starts with `text`, as a person would."""
    page.get_by_role("link", name=re.compile("^" + re.escape(text))).click()


def go_to_base64_form(page, server):
    page.goto(server.certsrv)
    follow(page, "Request a certificate")
    follow(page, "advanced certificate request")
    follow(page, "Submit a certificate request by using a base-64-encoded")
    check("Saved Request" in text_of(page), "not on the base-64 request form")


def issue_with_template(page, cn, template):
    """On the Base64 form: submits a request for `cn` under the template
    labelled `template` and downloads the certificate it is issued (DER)."""
    page.fill("#locTbRequest", csr(cn))
    page.select_option("#lbCertTemplateID", label=template)
    page.click("#btnSubmit")
    check("Certificate Issued" in text_of(page), f"not issued at once under {template}")
    page.check("#rbDerEncoding")
    return x509.load_der_x509_certificate(download(page, "#locDownloadCert2"))


def shot(case, page, name):
    """Saves what `page` shows as the guide's `name`.png (--screenshots)."""
    folder = case.env.args.screenshots
    if folder:
        os.makedirs(folder, exist_ok=True)
        page.screenshot(path=os.path.join(folder, name + ".png"))


def issue_in_console(case, server, rid, screenshot=None):
    admin = case.page(server.admin)
    admin.goto(server.console + "pending")
    if screenshot:
        shot(case, admin, screenshot)
    admin.click(f"#issue-{rid}")
    banner = admin.inner_text("#banner")
    check(f"Request {rid}: issued" in banner, f"console says: {banner}")
    check(admin.locator(f"#row-{rid}").count() == 0, "still listed as pending")


CASES = []


def case(name):
    def register(f):
        CASES.append((name, f))
        return f
    return register


@case("standalone/submit-issue-status-download")
def standalone_flow(c):
    s = c.env.server("standalone")
    alice = c.page(ALICE)
    go_to_base64_form(alice, s)
    check(alice.locator("#lbCertTemplateID").count() == 0, "a stand-alone CA offers templates")
    alice.fill("#locTbRequest", csr("web01.contoso.test"))
    shot(c, alice, "certsrv-submit-request")
    alice.click("#btnSubmit")
    check("Certificate Pending" in text_of(alice), "no pending page")
    shot(c, alice, "certsrv-pending")
    rid = request_id(alice)

    issue_in_console(c, s, rid, screenshot="console-pending")

    alice.goto(s.certsrv)
    follow(alice, "View the status of a pending certificate request")
    shot(c, alice, "certsrv-status")
    alice.click(f"#btnView{rid}")
    check("Certificate Issued" in text_of(alice), "status page does not say issued")
    shot(c, alice, "certsrv-issued")
    cert = x509.load_pem_x509_certificate(download(alice, "#locDownloadCert2"))
    check(common_name(cert) == "web01.contoso.test", f"CN {common_name(cert)}")
    issued_by(cert, s.ca_cert)
    alice.check("#rbDerEncoding")
    chain = pkcs7.load_der_pkcs7_certificates(download(alice, "#locDownloadCertChain2"))
    check(cert in chain and s.ca_cert in chain, "the chain lacks the leaf or the CA")

    # Chromium signed in as a browser does against IIS: with NTLM, which
    # the server offers before Basic (later requests ride on the connection).
    journal = c.page(s.admin).request.get(s.info["control_url"] + "journal").json()
    schemes = {e["auth"] for e in journal if e["user"] == ALICE[0]}
    check("ntlm" in schemes and "basic" not in schemes, f"alice signed in with {schemes}")

    # Remove forgets it from the status page.
    alice.goto(s.certsrv + "certckpn.asp")
    alice.click(f"#btnRemove{rid}")
    alice.goto(s.certsrv + "certckpn.asp")
    check(alice.locator(f"#btnView{rid}").count() == 0, "removed request still listed")


@case("enterprise/template-drop-down")
def enterprise_flow(c):
    s = c.env.server("enterprise")
    alice = c.page(ALICE)
    go_to_base64_form(alice, s)
    labels = alice.locator("#lbCertTemplateID option").all_inner_texts()
    check("Operations Manager" in labels and "Web Server" in labels, f"templates: {labels}")
    cert = issue_with_template(alice, "scom01.contoso.test", "Operations Manager")
    issued_by(cert, s.ca_cert)
    check(
        ekus(cert) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH},
        f"EKUs {ekus(cert)} are not the Operations Manager template's",
    )
    cert.extensions.get_extension_for_oid(TEMPLATE_V2_EXT)


@case("enterprise/create-and-submit-pfx")
def enterprise_pfx(c):
    s = c.env.server("enterprise")
    alice = c.page(ALICE)
    alice.goto(s.certsrv)
    follow(alice, "Request a certificate")
    follow(alice, "advanced certificate request")
    follow(alice, "Create and submit a request to this CA")
    alice.select_option("#CertificateTemplate", label="Operations Manager")
    alice.fill("#CN", "scom02.contoso.test")
    alice.fill("#O", "Contoso")
    alice.check("#Exportable")
    alice.fill("#FriendlyName", "SCOM agent")
    alice.fill("#PfxPassword", "Pfx-Passw0rd")
    data = download(alice, "#btnSubmit")
    pfx = pkcs12.load_pkcs12(data, b"Pfx-Passw0rd")
    check(pfx.key is not None and pfx.key.key_size == 2048, "no 2048-bit key in the PFX")
    cert = pfx.cert.certificate
    check(common_name(cert) == "scom02.contoso.test", f"CN {common_name(cert)}")
    # The friendly name labels the key's bag (in the clear); p12-keystore
    # labels each certificate's bag with its subject.
    check("SCOM agent".encode("utf-16-be") in data, "no friendly name on the key")
    check(
        cert.public_key().public_numbers() == pfx.key.public_key().public_numbers(),
        "the key does not belong to the certificate",
    )
    check(s.ca_cert in [a.certificate for a in pfx.additional_certs], "no CA in the PFX")
    issued_by(cert, s.ca_cert)


@case("standalone/create-and-submit-pending-pfx")
def standalone_pfx(c):
    s = c.env.server("standalone")
    alice = c.page(ALICE)
    alice.goto(s.certsrv + "certrqad.asp")
    follow(alice, "Create and submit a request to this CA")
    check(alice.locator("#CertificateTemplate").count() == 0, "a stand-alone CA offers templates")
    alice.select_option("#lbUsage", label="Other...")
    alice.fill("#ExtendedKeyUsage", "1.3.6.1.5.5.7.3.1,1.3.6.1.5.5.7.3.2")
    alice.fill("#CN", "scom03.contoso.test")
    alice.fill("#PfxPassword", "Pfx-Passw0rd")
    alice.click("#btnSubmit")
    check("Certificate Pending" in text_of(alice), "no pending page")
    rid = request_id(alice)
    issue_in_console(c, s, rid)
    alice.goto(s.certsrv + "certckpn.asp")
    alice.click(f"#btnView{rid}")
    pfx = pkcs12.load_pkcs12(download(alice, "#locDownloadPfx"), b"Pfx-Passw0rd")
    cert = pfx.cert.certificate
    check(common_name(cert) == "scom03.contoso.test", f"CN {common_name(cert)}")
    check(
        ekus(cert) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH},
        f"EKUs {ekus(cert)} are not the ones typed",
    )


@case("both/ca-certificate-download-page")
def ca_certificate_page(c):
    for mode in ("enterprise", "standalone"):
        s = c.env.server(mode)
        alice = c.page(ALICE)
        alice.goto(s.certsrv)
        follow(alice, "Download a CA certificate, certificate chain, or CRL")
        if mode == "standalone":
            shot(c, alice, "certsrv-ca-certificate")
        alice.check("#rbDerEncoding")
        der = download(alice, "#locDownloadCACert")
        check(x509.load_der_x509_certificate(der) == s.ca_cert, f"{mode}: not the CA certificate")
        alice.check("#rbB64Encoding")
        chain = pkcs7.load_der_pkcs7_certificates(unarmor(download(alice, "#locDownloadCAChain")))
        check(s.ca_cert in chain, f"{mode}: the chain lacks the CA")
        crl = x509.load_pem_x509_crl(download(alice, "#locDownloadCrl"))
        check(crl.issuer == s.ca_cert.subject, f"{mode}: the CRL is not the CA's")
        check(crl.is_signature_valid(s.ca_cert.public_key()), f"{mode}: bad CRL signature")

    # After a renewal in the console the list offers both, newest first.
    s = c.env.server("enterprise")
    admin = c.page(s.admin)
    admin.goto(s.console + "settings")
    admin.click("#renew-new-key")
    banner = admin.inner_text("#banner")
    check("renewed with a new key" in banner, f"console says: {banner}")
    alice = c.page(ALICE)
    alice.goto(s.certsrv + "certcarc.asp")
    options = alice.locator("#lbCaInstance option").all_inner_texts()
    check(len(options) == 2 and options[0].startswith("Current"), f"options {options}")
    alice.select_option("#lbCaInstance", index=1)
    alice.check("#rbDerEncoding")
    previous = x509.load_der_x509_certificate(download(alice, "#locDownloadCACert"))
    check(previous == s.ca_cert, "Previous is not the first CA certificate")
    alice.select_option("#lbCaInstance", index=0)
    current = x509.load_der_x509_certificate(download(alice, "#locDownloadCACert"))
    check(current != s.ca_cert and current.subject == s.ca_cert.subject, "Current is not the renewal")


def ldap_attribute(s, base, scope, attribute, filt="(objectClass=*)"):
    """Values of `attribute` under `base`, read with OpenLDAP's ldapsearch
    as the administrator from the server's directory."""
    ldap = s.info["ldap"]
    base = base.replace("{config}", ldap["configuration_dn"])
    r = subprocess.run(
        ["ldapsearch", "-LLL", "-x", "-o", "ldif-wrap=no", "-o", "nettimeout=15", "-H", ldap["url"],
         "-D", s.admin[0], "-w", s.admin[1], "-b", base, "-s", scope, filt, attribute],
        capture_output=True, text=True, timeout=60,
    )
    check(r.returncode == 0, f"ldapsearch {base}: exit {r.returncode}: {r.stderr.strip()}")
    prefix = attribute.lower() + ": "
    return [l[len(prefix):] for l in r.stdout.splitlines() if l.lower().startswith(prefix)]


def certipy_finds(s, template):
    """Certipy 5 (the interop suite's venv, when it has been made) lists
    `template` as enabled, reading the directory over LDAP as the admin."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    exe = os.environ.get("CERTIPY5") or os.path.join(root, "target", "certipy5-venv", "bin", "certipy")
    if not os.path.exists(exe):
        print("NOTE: no Certipy 5 venv (the interop suite makes it): Certipy's view is not checked")
        return
    port = s.info["ldap"]["url"].rsplit(":", 1)[1]
    user = s.admin[0].split("\\")[-1] + "@contoso.test"
    r = subprocess.run(
        [exe, "find", "-u", user, "-p", s.admin[1], "-dc-ip", "127.0.0.1", "-ldap-scheme", "ldap",
         "-ldap-port", port, "-dc-only", "-enabled", "-stdout", "-timeout", "5"],
        capture_output=True, text=True, timeout=120, cwd=s.dir,
    )
    out = r.stdout + r.stderr
    check(re.search(rf"Template Name\s+: {template}\n", out), f"certipy find does not list {template}: {out[-800:]}")


TEMPLATES_DN = "CN=Certificate Templates,CN=Public Key Services,CN=Services,{config}"
SERVICES_DN = "CN=Enrollment Services,CN=Public Key Services,CN=Services,{config}"


@case("enterprise/console-template-duplication")
def template_duplication(c):
    # Its own server with the directory on free ports: the console and
    # the LDAP view must agree.
    s = c.env.server("enterprise", "--ldap-port", "0", "--ldaps-port", "0")
    directory = shutil.which("ldapsearch") is not None
    if not directory:
        print("NOTE: ldapsearch not installed (ldap-utils): the directory's side is not checked")
    admin = c.page(s.admin)
    admin.goto(s.console + "templates")
    admin.click('tr[data-template="WebServer"] a.duplicate')
    check(admin.input_value("#display_name") == "Copy of Web Server", "display name not proposed")
    admin.fill("#display_name", "SCOM Server")
    admin.fill("#name", "ScomServer")
    admin.select_option("#compatibility", label="Windows Server 2008")
    admin.fill("#validity_days", "365")
    admin.select_option("#purpose", label="Signature and encryption")
    admin.check("#exportable_key")
    admin.fill("#min_key_size", "2048")
    admin.check('input[name=eku][value="1.3.6.1.5.5.7.3.2"]')
    admin.check("#key_usage_critical")
    admin.fill("#enroll", "Authenticated Users")
    admin.click("#save-template")
    banner = admin.inner_text("#banner")
    check("SCOM Server (ScomServer) was saved at version 100.2" in banner, f"console says: {banner}")
    row = 'tr[data-template="ScomServer"]'
    check(admin.inner_text(f"{row} td.published") == "No", "a new template is published at once")
    if directory:
        dn = "CN=ScomServer," + TEMPLATES_DN
        check(ldap_attribute(s, dn, "base", "displayName") == ["SCOM Server"], "the directory lacks the duplicate")
        check(ldap_attribute(s, dn, "base", "msPKI-Template-Schema-Version") == ["3"],
              "the duplicate's schema version in the directory")
        issued = ldap_attribute(s, SERVICES_DN, "one", "certificateTemplates")
        check("ScomServer" not in issued, f"the directory says an unpublished template is issued: {issued}")

    alice = c.page(ALICE)
    go_to_base64_form(alice, s)
    labels = alice.locator("#lbCertTemplateID option").all_inner_texts()
    check("SCOM Server" not in labels, "certsrv offers an unpublished template")

    admin.click(f"{row} button.publish")
    check("is issued by this CA" in admin.inner_text("#banner"), "not published")
    check(admin.inner_text(f"{row} td.published") == "Yes", "not shown as published")
    if directory:
        issued = ldap_attribute(s, SERVICES_DN, "one", "certificateTemplates")
        check("ScomServer" in issued, f"the enrollment service does not list the published template: {issued}")
    certipy_finds(s, "ScomServer")

    go_to_base64_form(alice, s)
    cert = issue_with_template(alice, "scom04.contoso.test", "SCOM Server")
    check(
        ekus(cert) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH},
        f"EKUs {ekus(cert)}",
    )
    days = (cert.not_valid_after_utc - cert.not_valid_before_utc).days
    check(364 <= days <= 366, f"valid for {days} days, not 365")
    cert.extensions.get_extension_for_oid(TEMPLATE_V2_EXT)


@case("both/console-refuses-strangers-non-admins-and-forgery")
def console_access(c):
    s = c.env.server("standalone")
    stranger = c.page(None)
    try:
        r = stranger.goto(s.console)
        check(r.status == 401, f"unauthenticated: HTTP {r.status}")
    except Fail:
        raise
    except Exception as e:  # Chromium gives up on the challenge: no page at all
        check("ERR_INVALID_AUTH_CREDENTIALS" in str(e), f"unauthenticated: {e}")
    check(stranger.locator("form").count() == 0, "a stranger sees a form")
    for who in (ALICE, BOB):
        p = c.page(who)
        r = p.goto(s.console + "pending")
        check(r.status == 403, f"{who[0]}: HTTP {r.status}")
        check("is not a CA administrator" in text_of(p), f"{who[0]}: no refusal text")
        check(p.locator("form").count() == 0, f"{who[0]} sees a console form")

    # A pending request, and a page on another site that posts the console's
    # Issue form for it, without the token.
    alice = c.page(ALICE)
    go_to_base64_form(alice, s)
    alice.fill("#locTbRequest", csr("victim.contoso.test"))
    alice.click("#btnSubmit")
    rid = request_id(alice)
    forged = (
        "<!DOCTYPE html><html><body>"
        f'<form id=f method=post action="{s.console}action">'
        f'<input name=action value=issue><input name=id value="{rid}"></form>'
        "<script>document.getElementById('f').submit()</script></body></html>"
    )
    attacker = c.env.attacker_site(forged)
    admin = c.page(s.admin)
    admin.goto(s.console + "pending")  # signed in: the browser holds the credentials
    with admin.expect_response(lambda r: r.url.endswith("/console/action")) as forged_post:
        admin.goto(attacker)
    status = forged_post.value.status
    check(status == 403, f"the forged post got HTTP {status}")
    admin.goto(s.console + "pending")
    check(admin.locator(f"#issue-{rid}").count() == 1, "the forged post issued the request")


@case("enterprise/kerberos-sign-in-and-enroll")
def kerberos_sign_in(c):
    kinit = shutil.which("kinit")
    check(kinit and os.path.exists("/usr/sbin/krb5kdc"), "needs Debian's krb5-kdc and krb5-user")
    s = c.env.server("enterprise", "--kerberos")
    realm = s.info["kerberos"]
    ccache = os.path.join(s.dir, "alice.ccache")
    env = dict(os.environ, KRB5_CONFIG=realm["krb5_conf"], KRB5CCNAME="FILE:" + ccache)
    r = subprocess.run([kinit, "alice@" + realm["realm"]], input=(ALICE[1] + "\n").encode(),
                       env=env, capture_output=True, timeout=60)
    check(r.returncode == 0, f"kinit: {r.stderr.decode(errors='replace')}")
    ctx = c.env.kerberos_context(realm["krb5_conf"], ccache)
    c.contexts.append(ctx)
    alice = ctx.new_page()
    go_to_base64_form(alice, s)
    cert = issue_with_template(alice, "krb-browser.contoso.test", "Web Server")
    check(common_name(cert) == "krb-browser.contoso.test", f"CN {common_name(cert)}")
    issued_by(cert, s.ca_cert)
    journal = c.page(s.admin).request.get(s.info["control_url"] + "journal").json()
    schemes = {e["auth"] for e in journal if e["user"] == ALICE[0]} - {"connection"}
    check(schemes == {"kerberos"}, f"alice signed in with {schemes}")


class Env:
    def __init__(self, args, browser, workdir):
        self.args = args
        self.browser = browser
        self.workdir = workdir
        self.artifacts = args.artifacts
        self.servers = {}
        self.httpd = None
        self.attacker_page = b""
        self.pw = None

    def server(self, mode, *extra):
        key = (mode,) + extra
        if key not in self.servers:
            self.servers[key] = Server(self.args.bin, mode, self.workdir, extra)
        return self.servers[key]

    def kerberos_context(self, krb5_conf, ccache):
        """A second Chromium that signs in with Kerberos, as a domain
        member's browser does: the site on its allowlist, and the realm's
        krb5.conf and alice's ticket cache in its environment. Chromium on
        Linux loads GSS-API only once an earlier session has seen a
        Negotiate header (the Local State pref
        net.received_http_auth_negotiate_headers), so its profile starts as
        one that has."""
        profile = tempfile.mkdtemp(prefix="kerberos-profile-", dir=self.workdir)
        with open(os.path.join(profile, "Local State"), "w") as f:
            json.dump({"net": {"received_http_auth_negotiate_headers": True}}, f)
        ctx = self.pw.chromium.launch_persistent_context(
            profile,
            executable_path=self.args.chromium,
            headless=True,
            args=["--auth-server-allowlist=127.0.0.1,localhost"],
            env=dict(os.environ, KRB5_CONFIG=krb5_conf, KRB5CCNAME="FILE:" + ccache),
            ignore_https_errors=True,
            accept_downloads=True,
        )
        ctx.set_default_timeout(TIMEOUT_MS)
        return ctx

    def attacker_site(self, html):
        """A page on another origin (a second loopback port) serving `html`."""
        self.attacker_page = html.encode()
        env = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(env.attacker_page)

            def log_message(self, *a):
                pass

        if self.httpd is None:
            self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return f"http://localhost:{self.httpd.server_address[1]}/"

    def close(self):
        for s in self.servers.values():
            s.stop()
        if self.httpd:
            self.httpd.shutdown()


def selected(names, only):
    if not only:
        return names
    return [n for n in names if any(o == n or o in n or fnmatch.fnmatch(n, o) for o in only)]


def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--chromium", required=True)
    ap.add_argument("--artifacts", default="browser-artifacts")
    ap.add_argument("--screenshots", help="save the guide's screenshots here")
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    VERBOSE = args.verbose
    args.bin = os.path.abspath(args.bin)
    names = selected([n for n, _ in CASES], args.only)
    if args.list:
        print("\n".join(names))
        return 0
    if not names:
        print("browser: no case matches --only", file=sys.stderr)
        return 2
    passed = failed = 0
    workdir = tempfile.mkdtemp(prefix="adcs-browser-")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, headless=True)
        log(f"Chromium {browser.version}")
        env = Env(args, browser, workdir)
        env.pw = pw
        try:
            for name, f in CASES:
                if name not in names:
                    continue
                c = Case(env, name)
                started = time.time()
                try:
                    f(c)
                    passed += 1
                    print(f"PASS {name} ({time.time() - started:.1f} s)", flush=True)
                except Exception as e:
                    failed += 1
                    shots = c.screenshots()
                    reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                    print(f"FAIL {name}: {reason}", flush=True)
                    if shots:
                        print("  screenshots: " + ", ".join(shots), flush=True)
                    if VERBOSE or not isinstance(e, Fail):
                        traceback.print_exc()
                finally:
                    c.close()
        finally:
            env.close()
            browser.close()
    if failed == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"server logs kept in {workdir}", flush=True)
    print(f"browser: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
