//! The certsrv server over real sockets: every endpoint's success and
//! failure shapes, each auth path, and hostile input. The markers checked
//! are the ones real clients match (shared/docs/certsrv-protocol.md §3).

use crate::support::{
    csr_pem, fixture, ntlm_legs, start_default as start, start_with, ADMIN, ALICE, BOB,
};
use adcs_client::http::{Connection, Credentials, HttpResponse, Session, Trust, Url};
use adcs_proto::encoding::{pem, pem_blocks, pkcs7_certificates};
use adcs_proto::ntlm::{self, ChannelBindingPolicy};
use base64::Engine;
use mock_ca::keys::SigningKey;
use mock_ca::web::{Server, WebOptions};
use mock_ca::{CaConfig, KeyAlgorithm, Seed};

const MOZILLA: &str = "Mozilla/5.0 certsrv (https://github.com/magnuswatn/certsrv)";

fn trust(s: &Server) -> Trust {
    Trust::Roots(vec![s.ca().root_certificate()])
}

fn session(s: &Server, creds: Credentials) -> Session {
    Session::new(&s.certsrv_url(), trust(s), creds).unwrap()
}

fn basic((user, password): (&str, &str)) -> Credentials {
    Credentials::Basic {
        user: user.into(),
        password: password.into(),
    }
}

fn ntlm_creds((user, password): (&str, &str), negotiate_label: bool) -> Credentials {
    Credentials::Ntlm {
        user: user.into(),
        password: password.into(),
        negotiate_label,
    }
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish().into_bytes()
}

fn submit(sess: &mut Session, csr: &str, attrib: &str) -> HttpResponse {
    sess.request(
        "POST",
        "certfnsh.asp",
        Some("application/x-www-form-urlencoded"),
        &form(&[
            ("Mode", "newreq"),
            ("CertRequest", csr),
            ("CertAttrib", attrib),
            ("TargetStoreFlags", "0"),
            ("SaveCert", "yes"),
        ]),
    )
    .unwrap()
}

fn get(sess: &mut Session, path: &str) -> HttpResponse {
    sess.request("GET", path, None, b"").unwrap()
}

/// The number after `marker` (digits only).
fn number_after(text: &str, marker: &str) -> u32 {
    let i = text
        .find(marker)
        .unwrap_or_else(|| panic!("no `{marker}` in:\n{text}"))
        + marker.len();
    text[i..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// The value of an error-page row: two TABs after the label's `<DD>`.
fn row(text: &str, label: &str) -> String {
    let i = text.find(label).unwrap_or_else(|| panic!("no {label}")) + label.len();
    let rest = &text[i..];
    let tabs = rest.find("\t\t").unwrap();
    assert!(!rest[..tabs].contains('\t'));
    rest[tabs + 2..].lines().next().unwrap().to_string()
}

#[test]
fn unauthenticated_requests_get_the_iis_401() {
    let s = start(true);
    for path in [
        "",
        "certfnsh.asp",
        "certnew.cer?ReqID=1",
        "certcarc.asp",
        "certrqxt.asp",
    ] {
        let r = get(&mut session(&s, Credentials::None), path);
        assert_eq!(
            (r.status, r.reason.as_str()),
            (401, "Unauthorized"),
            "{path}"
        );
        assert_eq!(
            r.header_all("WWW-Authenticate"),
            vec!["Negotiate", "NTLM", "Basic realm=\"ca01.contoso.test\""]
        );
        assert!(r
            .text()
            .contains("401 - Unauthorized: Access is denied due to invalid credentials."));
    }
    let r = get(&mut session(&s, basic((ALICE.0, "wrong"))), "");
    assert_eq!((r.status, r.reason.as_str()), (401, "Unauthorized"));
    let r = get(&mut session(&s, basic(("CONTOSO\\mallory", "x"))), "");
    assert_eq!(r.status, 401);
}

#[test]
fn welcome_page_with_basic_and_ntlm_under_both_labels() {
    let s = start(true);
    for creds in [
        basic(ALICE),
        ntlm_creds(ALICE, false),
        ntlm_creds(ALICE, true),
    ] {
        let mut sess = session(&s, creds.clone());
        let r = get(&mut sess, "");
        assert_eq!(r.status, 200, "{creds:?}");
        assert_eq!(r.header("Content-Type"), Some("text/html"));
        assert!(r
            .text()
            .contains("Microsoft Active Directory Certificate Services"));
        assert!(r.text().contains("certcarc.asp"));
    }
    let j = s.journal();
    let methods: Vec<_> = j.iter().filter_map(|e| e.auth.clone()).collect();
    assert_eq!(methods, vec!["basic", "ntlm", "negotiate"]);
    assert!(j
        .iter()
        .filter(|e| e.status == 200)
        .all(|e| e.user.as_deref() == Some(ALICE.0)));
    // Wrong NTLM password: 401 after the handshake, reason phrase intact.
    let r = get(&mut session(&s, ntlm_creds((ALICE.0, "nope"), false)), "");
    assert_eq!((r.status, r.reason.as_str()), (401, "Unauthorized"));
}

/// One NTLM handshake, then requests with no Authorization header on the
/// same connection (IMP, MSF and the Certipy relay depend on this).
#[test]
fn ntlm_stays_on_the_connection_and_only_there() {
    let s = start(false);
    let url = Url::parse(&s.certsrv_url()).unwrap();
    let mut c = Connection::open(&url, &Trust::AnyCertificate).unwrap();
    let (challenge, auth, r) = ntlm_legs(
        &mut c,
        "/certsrv/certfnsh.asp",
        ("ALICE", "CONTOSO.TEST", ALICE.1),
        &Default::default(),
    );
    assert_eq!(challenge.status, 401);
    assert_eq!(
        challenge.header("Content-Type"),
        Some("text/html; charset=us-ascii")
    );
    assert_eq!(r.status, 200);
    assert!(r
        .text()
        .contains("You did not come to this page as a result of a form submission."));
    // The form POST and the retrieval carry no header at all.
    let body = form(&[
        ("Mode", "newreq"),
        (
            "CertRequest",
            &csr_pem("relay.contoso.test", KeyAlgorithm::Rsa2048),
        ),
        ("CertAttrib", "CertificateTemplate:WebServer"),
    ]);
    let r = c
        .send(
            "POST",
            "/certsrv/certfnsh.asp",
            &[
                ("Content-Type", "application/x-www-form-urlencoded".into()),
                (
                    "User-Agent",
                    "Mozilla/5.0 (X11; Linux x86_64; rv:78.0) Gecko/20100101 Firefox/78.0".into(),
                ),
            ],
            &body,
        )
        .unwrap();
    assert_eq!(r.status, 200);
    let id = number_after(&r.text(), "location=\"certnew.cer?ReqID=");
    let r = c
        .send("GET", &format!("/certsrv/certnew.cer?ReqID={id}"), &[], b"")
        .unwrap();
    assert_eq!(r.header("Content-Type"), Some("application/pkix-cert"));
    assert!(r.text().starts_with("-----BEGIN CERTIFICATE-----\r\n"));
    let row = s.ca().request(id).unwrap();
    assert_eq!(row.requester.account, ALICE.0);
    // The same AUTHENTICATE replayed on a new connection gets nowhere, and
    // the new connection is not signed in.
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut c2 = Connection::open(&url, &Trust::AnyCertificate).unwrap();
    let r = c2
        .send(
            "GET",
            "/certsrv/",
            &[("Authorization", format!("NTLM {}", b64.encode(&auth)))],
            b"",
        )
        .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(c2.send("GET", "/certsrv/", &[], b"").unwrap().status, 401);
}

#[test]
fn channel_binding_required_over_https() {
    let s = start_with(
        CaConfig::default(),
        WebOptions {
            channel_binding: ChannelBindingPolicy::Require,
            ..Default::default()
        },
    );
    // Our client sends the tls-server-end-point binding: accepted.
    assert_eq!(
        get(&mut session(&s, ntlm_creds(ALICE, false)), "").status,
        200
    );
    // A relay-style client without bindings is refused.
    let url = Url::parse(&s.certsrv_url()).unwrap();
    let legs = |opts: &ntlm::ClientOptions| {
        let mut c = Connection::open(&url, &Trust::AnyCertificate).unwrap();
        ntlm_legs(&mut c, "/certsrv/", ("alice", "CONTOSO", ALICE.1), opts).2
    };
    assert_eq!(legs(&Default::default()).status, 401);
    // A binding for another certificate is refused too.
    let other = ntlm::ClientOptions {
        channel_binding: Some(ntlm::channel_binding_hash(b"some other certificate")),
        mic: true,
        ..Default::default()
    };
    assert_eq!(legs(&other).status, 401);
    // The right binding by hand passes, so the refusals above are about the binding.
    let ours = ntlm::ClientOptions {
        channel_binding: s
            .ca()
            .tls_identity()
            .0
            .first()
            .map(|c| ntlm::channel_binding_hash(c)),
        mic: true,
        ..Default::default()
    };
    assert_eq!(legs(&ours).status, 200);
}

#[test]
fn issued_page_variant_follows_the_user_agent() {
    let s = start(true);
    let csr = csr_pem("web01.contoso.test", KeyAlgorithm::Rsa2048);
    // Script variant for Mozilla-class agents.
    let mut sess = session(&s, basic(ALICE));
    sess.user_agent = Some(MOZILLA.into());
    let page = submit(&mut sess, &csr, "CertificateTemplate:WebServer\r\n").text();
    let id = number_after(&page, "certnew.cer?ReqID=");
    let first = &page[page.find("location=\"").unwrap()..];
    assert!(first.starts_with(&format!("location=\"certnew.cer?ReqID={id}&\"")));
    assert!(page.contains(&format!(
        "\tfunction handleGetChain() {{\r\n\t\tlocation=\"certnew.p7b?ReqID={id}&\"+getEncoding();"
    )));
    assert!(
        page.contains("Certificate Issued")
            && page.contains("The certificate you requested was issued to you.")
    );
    // Plain links for everything else (and no User-Agent at all, as Certipy 4).
    for ua in [Some("Go-http-client/1.1"), None] {
        let mut sess = session(&s, basic(ALICE));
        sess.user_agent = ua.map(str::to_string);
        let page = submit(&mut sess, &csr, "CertificateTemplate:WebServer").text();
        let id = number_after(&page, "certnew.cer?ReqID=");
        let line = page
            .lines()
            .find(|l| l.contains("locDownloadCert1"))
            .unwrap();
        assert!(line.contains(&format!("certnew.cer?ReqID={id}&amp;Enc=b64")));
        assert!(!page.contains("location="));
    }
}

#[test]
fn certificates_and_chains_in_every_encoding() {
    let s = start(true);
    let mut sess = session(&s, basic(ALICE));
    let csr = csr_pem("web02.contoso.test", KeyAlgorithm::Rsa2048);
    let id = number_after(
        &submit(&mut sess, &csr, "CertificateTemplate:WebServer").text(),
        "certnew.cer?ReqID=",
    );
    let der = s.ca().request(id).unwrap().certificate.unwrap();
    // PEM with CRLF when Enc is missing or anything but `bin`; keys case-insensitive.
    for q in ["", "&Enc=b64", "&ENC=b64", "&Enc=BIN"] {
        let r = get(&mut sess, &format!("certnew.cer?ReqID={id}{q}"));
        assert_eq!(
            r.header("Content-Type"),
            Some("application/pkix-cert"),
            "{q}"
        );
        assert_eq!(r.text(), pem("CERTIFICATE", &der), "{q}");
    }
    let r = get(&mut sess, &format!("certnew.cer?reqid={id}&enc=bin"));
    assert_eq!(r.body, der);
    // Chain: PKCS#7 under the CERTIFICATE label, leaf first, leaf as content.
    let r = get(&mut sess, &format!("certnew.p7b?ReqID={id}&Enc=b64"));
    assert_eq!(
        r.header("Content-Type"),
        Some("application/x-pkcs7-certificates")
    );
    assert!(r.text().starts_with("-----BEGIN CERTIFICATE-----\r\n"));
    let p7 = pem_blocks(&r.text(), "CERTIFICATE").remove(0);
    let certs = pkcs7_certificates(&p7).unwrap();
    assert_eq!(certs, vec![der.clone(), s.ca().ca_certificate(0).unwrap()]);
    let r = get(&mut sess, &format!("certnew.p7b?ReqID={id}&Enc=bin"));
    assert_eq!(r.body, p7);
    assert!(
        r.body
            .windows(der.len())
            .filter(|w| *w == der.as_slice())
            .count()
            == 2
    );
    // CA certificate and chain; no Renewal means 0, out of range is clamped.
    let ca0 = s.ca().ca_certificate(0).unwrap();
    for q in [
        "ReqID=CACert&Enc=bin",
        "ReqID=cacert&Renewal=0&Enc=bin",
        "ReqID=CACert&Renewal=5&Enc=bin",
    ] {
        assert_eq!(get(&mut sess, &format!("certnew.cer?{q}")).body, ca0, "{q}");
    }
    let r = get(&mut sess, "certnew.p7b?ReqID=CACert&Renewal=0&Enc=bin");
    assert_eq!(pkcs7_certificates(&r.body).unwrap(), vec![ca0.clone()]);
    // After a renewal, nRenewals=1 and both certificates are served.
    s.ca().renew_ca(true).unwrap();
    let page = get(&mut sess, "certcarc.asp").text();
    assert!(page.contains("var nRenewals=1;"));
    assert_eq!(page.lines().filter(|l| l.contains("Option")).count(), 2);
    let ca1 = get(&mut sess, "certnew.cer?ReqID=CACert&Renewal=1&Enc=bin").body;
    assert_ne!(ca1, ca0);
    assert_eq!(ca1, s.ca().ca_certificate(1).unwrap());
    assert_eq!(
        get(&mut sess, "certnew.cer?ReqID=CACert&Renewal=0&Enc=bin").body,
        ca0
    );
}

#[test]
fn denials_carry_the_policy_module_texts() {
    let s = start(true);
    let mut sess = session(&s, basic(ALICE));
    let csr = csr_pem("web03.contoso.test", KeyAlgorithm::Rsa2048);
    // Unknown template: the long message with two spaces and the template name.
    let page = submit(&mut sess, &csr, "CertificateTemplate:NoSuchTemplate").text();
    let id = number_after(&page, "Your Request Id is ");
    assert!(
        page.contains("Certificate Request Denied")
            && page.contains("Your certificate request was denied.")
    );
    assert!(page.contains(&format!(
        "Your Request Id is {id}. The disposition message is \"Denied by Policy Module  0x80094800, The request was for a certificate template that is not supported by the Active Directory Certificate Services policy: NoSuchTemplate.\".\r\n"
    )));
    assert!(!page.contains("certnew.cer?ReqID="));
    // No template at all.
    let page = submit(&mut sess, &csr, "").text();
    assert!(page.contains("Denied by Policy Module  0x80094801, The request does not contain a certificate template extension or the CertificateTemplate request attribute."));
    // Garbage: Error Parsing Request, with an ID.
    let page = submit(
        &mut sess,
        &fixture("requests/not-base64.req"),
        "CertificateTemplate:WebServer",
    )
    .text();
    assert!(
        page.contains("The disposition message is \"Error Parsing Request"),
        "{page}"
    );
    number_after(&page, "Your Request Id is ");
    // Denied fetch: the error page, with the policy code in LastStatus (ACL denial).
    let mut config = CaConfig::default();
    config
        .templates
        .iter_mut()
        .find(|t| t.name == "WebServer")
        .unwrap()
        .enroll = vec!["CONTOSO\\Web Admins".into(), "Web Admins".into()];
    let s = start_with(config, WebOptions::default());
    let mut alice = session(&s, basic(ALICE));
    let page = submit(&mut alice, &csr, "CertificateTemplate:WebServer").text();
    assert!(
        page.contains("The disposition message is \"Denied by Policy Module\"."),
        "{page}"
    );
    let id = number_after(&page, "Your Request Id is ");
    let r = get(&mut alice, &format!("certnew.cer?ReqID={id}"));
    assert_eq!(
        (r.status, r.header("Content-Type")),
        (200, Some("text/html"))
    );
    let t = r.text();
    assert_eq!(row(&t, "Disposition message:"), "Denied by Policy Module");
    assert_eq!(
        row(&t, "Result:"),
        "The operation completed successfully. 0x0 (WIN32: 0)"
    );
    assert!(row(&t, "LastStatus:").ends_with("0x80094012 (-2146877422 CERTSRV_E_TEMPLATE_DENIED)"));
    // Bob is in Web Admins: the same template issues, and certrqxt lists it for him only.
    let mut bob = session(&s, basic(BOB));
    assert!(submit(&mut bob, &csr, "CertificateTemplate:WebServer")
        .text()
        .contains("Certificate Issued"));
    let option = |sess: &mut Session| {
        get(sess, "certrqxt.asp")
            .text()
            .lines()
            .any(|l| l.contains("<Option Value=\"E;WebServer;"))
    };
    assert!(option(&mut bob) && !option(&mut alice));
}

#[test]
fn standalone_pending_flow_with_cookie_and_control_api() {
    let s = start_with(CaConfig::standalone(), WebOptions::default());
    let mut sess = session(&s, ntlm_creds(ALICE, false));
    let csr = csr_pem("app.contoso.test", KeyAlgorithm::Rsa2048);
    let r = submit(&mut sess, &csr, "");
    let page = r.text();
    assert!(page.contains("Certificate Pending"));
    assert!(page.contains("Your certificate request has been received. However, you must wait for an administrator to issue the certificate you requested."));
    let id = number_after(&page, "Your Request Id is ");
    assert!(
        page.contains(&format!("Your Request Id is {id}."))
            && page.contains(&format!("' nReqId = {id}"))
    );
    assert!(!page.contains("certnew.cer?ReqID=") && !page.contains("location=\"certnew"));
    let cookie = r
        .header("Set-Cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("Requests="));
    // Fetch while pending: the error page saying Taken Under Submission.
    let t = get(&mut sess, &format!("certnew.cer?ReqID={id}&Enc=b64")).text();
    assert_eq!(row(&t, "Disposition message:"), "Taken Under Submission");
    assert_eq!(row(&t, "Disposition:"), "5 - (unknown)");
    // certckpn lists it from the cookie; chkpnd says still pending.
    let url = Url::parse(&s.certsrv_url()).unwrap();
    let mut c = Connection::open(&url, &trust(&s)).unwrap();
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", ALICE.0, ALICE.1))
    );
    let r = c
        .send(
            "GET",
            "/certsrv/certckpn.asp",
            &[("Authorization", auth.clone()), ("Cookie", cookie.clone())],
            b"",
        )
        .unwrap();
    assert!(r.text().contains(&format!("Name=ReqID Value=\"{id}\"")));
    let chk = |sess: &mut Session| {
        sess.request(
            "POST",
            "certfnsh.asp",
            Some("application/x-www-form-urlencoded"),
            &form(&[("Mode", "chkpnd"), ("ReqID", &id.to_string())]),
        )
        .unwrap()
        .text()
    };
    assert!(chk(&mut sess).contains("Your certificate request is still pending."));
    // The administrator approves through the control API; the client retrieves.
    let mut admin =
        adcs_client::control::ControlClient::new(&s.control_url(), trust(&s), ADMIN.0, ADMIN.1)
            .unwrap();
    let pending = admin.requests(Some("pending")).unwrap();
    assert!(pending.as_array().unwrap().iter().any(|r| r["id"] == id));
    let issued = admin.issue(id).unwrap();
    assert_eq!(issued["disposition"], "issued");
    assert!(chk(&mut sess).contains("The certificate you requested was issued to you."));
    let r = get(&mut sess, &format!("certnew.cer?ReqID={id}&Enc=b64"));
    assert_eq!(r.header("Content-Type"), Some("application/pkix-cert"));
    // certrmpn forgets it.
    let r = c
        .send(
            "POST",
            "/certsrv/certrmpn.asp",
            &[
                ("Authorization", auth),
                ("Cookie", cookie),
                ("Content-Type", "application/x-www-form-urlencoded".into()),
            ],
            format!("Action=rmpn&ReqID={id}").as_bytes(),
        )
        .unwrap();
    assert_eq!(r.header("Set-Cookie"), Some("Requests=; path=/certsrv"));
    // Pending then denied by an officer: Denied by <officer>, 0x80094014.
    let id2 = number_after(&submit(&mut sess, &csr, "").text(), "Your Request Id is ");
    admin.deny(id2).unwrap();
    let t = get(&mut sess, &format!("certnew.cer?ReqID={id2}")).text();
    assert_eq!(
        row(&t, "Disposition message:"),
        "Denied by CONTOSO\\Administrator"
    );
    assert!(
        row(&t, "LastStatus:").ends_with("0x80094014 (-2146877420 CERTSRV_E_ADMIN_DENIED_REQUEST)")
    );
    // The journal saw the submissions with their dispositions and users.
    let j = admin.journal(0).unwrap();
    let subs: Vec<_> = j
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["path"] == "/certsrv/certfnsh.asp" && e["request_id"] == id)
        .collect();
    assert!(subs
        .iter()
        .any(|e| e["disposition"] == "pending" && e["user"] == ALICE.0 && e["auth"] == "ntlm"));
}

#[test]
fn unknown_and_invalid_request_ids_give_error_pages_not_4xx() {
    let s = start(true);
    let mut sess = session(&s, basic(ALICE));
    for (q, code) in [
        ("ReqID=-1", "0x80094004"),
        ("ReqID=999", "0x80094004"),
        ("ReqID=99999999999999999999", "0x80094004"),
        ("ReqID=abc", "0x80070057"),
        ("ReqID=%!s(int=5)", "0x80070057"),
        ("Enc=b64", "0x80070057"),
        ("ReqID=CACert&Renewal=x", "0x80070057"),
    ] {
        for file in ["certnew.cer", "certnew.p7b"] {
            let r = get(&mut sess, &format!("{file}?{q}"));
            assert_eq!(
                (r.status, r.header("Content-Type")),
                (200, Some("text/html")),
                "{file}?{q}"
            );
            assert!(row(&r.text(), "Result:").contains(code), "{file}?{q}");
            assert!(!r.text().contains("BEGIN CERTIFICATE"));
        }
    }
    let t = get(&mut sess, "certnew.cer?ReqID=77").text();
    assert!(t.contains("The requested property value is empty"));
    assert!(t.contains(
        "You have have attempted to check on a certificate that has not been requested."
    ));
    assert_eq!(
        row(&t, "Disposition message:"),
        "<LocID ID=locDispMsgNone>(none)</LocID>"
    );
    // chkpnd on an unknown or garbled ID: the check-pending error page.
    for (id, code) in [("77", "0x80094004"), ("%!s(int=5)", "0x80070057")] {
        let t = sess
            .request(
                "POST",
                "certfnsh.asp",
                Some("application/x-www-form-urlencoded"),
                &form(&[("Mode", "chkpnd"), ("ReqID", id)]),
            )
            .unwrap()
            .text();
        assert!(t.contains(
            "An error occurred while the server was checking on your pending certificate request."
        ));
        assert!(row(&t, "LastStatus:").contains(code), "{id}");
    }
    // A CRL for a renewal index that is not a number: the error page.
    let r = get(&mut sess, "certcrl.crl?Type=base&Renewal=x");
    assert_eq!(
        (r.status, r.header("Content-Type")),
        (200, Some("text/html"))
    );
    assert!(row(&r.text(), "Result:").contains("0x80070057"));
}

#[test]
fn bad_forms_and_paths() {
    let s = start(false);
    let mut sess = session(&s, basic(ALICE));
    // GET certfnsh.asp and an empty POST: "not from a form submission".
    for r in [
        get(&mut sess, "certfnsh.asp"),
        sess.request(
            "POST",
            "certfnsh.asp",
            Some("application/x-www-form-urlencoded"),
            b"",
        )
        .unwrap(),
    ] {
        assert_eq!(r.status, 200);
        assert!(r
            .text()
            .contains("You did not come to this page as a result of a form submission."));
    }
    // Unknown Mode: error page; the echoed value is escaped.
    let r = sess
        .request(
            "POST",
            "certfnsh.asp",
            Some("application/x-www-form-urlencoded"),
            &form(&[("Mode", "<script>alert(1)</script>")]),
        )
        .unwrap();
    let t = r.text();
    assert!(
        t.contains("&lt;script&gt;alert(1)&lt;/script&gt; - (unknown)") && !t.contains("<script>")
    );
    assert!(row(&t, "Result:").contains("0x80070057"));
    // Non-UTF-8 and malformed escapes: a denied "Error Parsing Request", never a panic.
    let r = sess
        .request(
            "POST",
            "certfnsh.asp",
            Some("application/x-www-form-urlencoded"),
            b"Mode=newreq&CertRequest=%ff%fe\xff\xfe%zz&CertAttrib=CertificateTemplate%3AWebServer",
        )
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(r.text().contains("Error Parsing Request"));
    // Oversized body: 413 with a clear page, and the server goes on.
    let big = vec![b'a'; mock_ca::web::DEFAULT_MAX_BODY_BYTES + 1];
    let r = sess
        .request(
            "POST",
            "certfnsh.asp",
            Some("application/x-www-form-urlencoded"),
            &big,
        )
        .unwrap();
    assert_eq!(r.status, 413);
    assert!(r.text().contains("larger than 200000 bytes"));
    assert_eq!(get(&mut sess, "").status, 200);
    // Traversal and unknown pages.
    for (path, status) in [
        ("/certsrv/../windows/win.ini", 400),
        ("/certsrv/%2e%2e/x", 400),
        ("/CertEnroll/..%2fx", 400),
        ("/certsrv/nope.asp", 404),
        ("/other", 404),
    ] {
        assert_eq!(
            sess.request("GET", path, None, b"").unwrap().status,
            status,
            "{path}"
        );
    }
}

#[test]
fn crls_and_cert_enroll_publication_match_the_certificate_urls() {
    let s = start(false);
    let mut sess = session(&s, basic(ALICE));
    let csr = csr_pem("web04.contoso.test", KeyAlgorithm::Rsa2048);
    let id = number_after(
        &submit(&mut sess, &csr, "CertificateTemplate:WebServer").text(),
        "certnew.cer?ReqID=",
    );
    let row = s.ca().request(id).unwrap();
    s.ca()
        .revoke(
            row.serial.as_deref().unwrap(),
            mock_ca::RevocationReason::KeyCompromise,
            ADMIN.0,
        )
        .unwrap();
    s.ca().publish_crl(mock_ca::CrlKind::Base).unwrap();
    let base = get(&mut sess, "certcrl.crl?Type=base&Enc=bin");
    assert_eq!(base.header("Content-Type"), Some("application/pkix-crl"));
    let (_, crl) = x509_parser::parse_x509_crl(&base.body).unwrap();
    let serial = row.serial.clone().unwrap();
    assert!(crl
        .iter_revoked_certificates()
        .any(|r| r.raw_serial_as_string().replace(':', "") == serial));
    assert!(get(&mut sess, "certcrl.crl?Type=delta")
        .text()
        .starts_with("-----BEGIN X509 CRL-----\r\n"));
    // The CDP and AIA URLs in the certificate resolve on /CertEnroll/ without auth.
    let (_, cert) = x509_parser::parse_x509_certificate(row.certificate.as_ref().unwrap()).unwrap();
    let mut urls = Vec::new();
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            x509_parser::extensions::ParsedExtension::CRLDistributionPoints(cdp) => {
                for p in cdp.iter() {
                    if let Some(x509_parser::extensions::DistributionPointName::FullName(names)) =
                        &p.distribution_point
                    {
                        for n in names {
                            if let x509_parser::extensions::GeneralName::URI(u) = n {
                                urls.push(u.to_string());
                            }
                        }
                    }
                }
            }
            x509_parser::extensions::ParsedExtension::AuthorityInfoAccess(aia) => {
                for d in aia.iter() {
                    if let x509_parser::extensions::GeneralName::URI(u) = &d.access_location {
                        urls.push(u.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    assert!(urls.len() >= 2, "{urls:?}");
    let mut anon = session(&s, Credentials::None);
    for u in urls {
        let path = &u[u.find("/CertEnroll/").unwrap()..];
        let r = get(&mut anon, path);
        assert_eq!(r.status, 200, "{u}");
        if path.ends_with(".crt") {
            assert_eq!(r.body, s.ca().ca_certificate(0).unwrap());
        } else {
            assert!(x509_parser::parse_x509_crl(&r.body).is_ok());
        }
    }
}

#[test]
fn control_plane_is_for_administrators_only() {
    let s = start(true);
    let mut nobody = Session::new(&s.control_url(), trust(&s), Credentials::None).unwrap();
    assert_eq!(get(&mut nobody, "status").status, 401);
    let mut alice = Session::new(&s.control_url(), trust(&s), basic(ALICE)).unwrap();
    assert_eq!(get(&mut alice, "status").status, 403);
    assert_eq!(
        alice
            .request("POST", "requests/1/issue", None, b"")
            .unwrap()
            .status,
        403
    );
    let mut admin =
        adcs_client::control::ControlClient::new(&s.control_url(), trust(&s), ADMIN.0, ADMIN.1)
            .unwrap();
    assert_eq!(admin.status().unwrap()["next_request_id"], 2);
    let before = admin.clock().unwrap()["now"].as_i64().unwrap();
    let after = admin.move_clock(None, Some(86_400), None).unwrap()["now"]
        .as_i64()
        .unwrap();
    assert_eq!(after - before, 86_400);
    assert!(matches!(
        admin.issue(1),
        Err(adcs_client::control::ControlError::Refused { status: 409, .. })
    ));
    assert!(matches!(
        admin.request(42),
        Err(adcs_client::control::ControlError::Refused { status: 404, .. })
    ));
    let ca = admin.ca().unwrap();
    assert_eq!(ca["keys"].as_array().unwrap().len(), 1);
    // A fault rule and a moved clock do not outlive a reset.
    let mut raw = Session::new(&s.control_url(), trust(&s), basic(ADMIN)).unwrap();
    let rule = br#"[{"endpoint": "certfnsh.asp", "status": 503}]"#;
    let set = raw
        .request("POST", "faults", Some("application/json"), rule)
        .unwrap();
    assert_eq!(set.status, 200, "{}", set.text());
    admin.reset().unwrap();
    let status = admin.status().unwrap();
    assert_eq!(status["next_request_id"], 2);
    assert_eq!(
        status["now"].as_i64().unwrap(),
        before,
        "the clock as it started"
    );
    assert_eq!(get(&mut raw, "faults").text().trim(), "[]");
}

#[test]
fn the_control_plane_lists_requests_by_filter_and_page() {
    let s = start(true);
    for i in 0..6 {
        let t = if i % 2 == 0 { "WebServer" } else { "User" };
        s.ca()
            .submit(
                csr_pem("web01.contoso.test", KeyAlgorithm::Rsa2048).as_bytes(),
                &mock_ca::Requester::new(if i < 3 { ALICE.0 } else { BOB.0 }),
                &[("CertificateTemplate".into(), t.into())],
            )
            .unwrap();
    }
    let mut admin =
        adcs_client::control::ControlClient::new(&s.control_url(), trust(&s), ADMIN.0, ADMIN.1)
            .unwrap();
    let ids = |v: serde_json::Value| -> Vec<u64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_u64().unwrap())
            .collect()
    };
    let p = |pairs: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    };
    assert_eq!(
        ids(admin.requests_where(&[]).unwrap()),
        [1, 2, 3, 4, 5, 6, 7]
    );
    assert_eq!(
        ids(admin
            .requests_where(&p(&[("requester", "contoso\\BOB")]))
            .unwrap()),
        [5, 6, 7]
    );
    assert_eq!(
        ids(admin
            .requests_where(&p(&[
                ("template", "User"),
                ("order", "desc"),
                ("limit", "2")
            ]))
            .unwrap()),
        [7, 5]
    );
    let all = admin.requests_where(&[]).unwrap();
    let issued_or_denied_after_3: Vec<u64> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["id"].as_u64().unwrap() > 3)
        .filter(|r| matches!(r["disposition"].as_str(), Some("issued" | "denied")))
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert!(issued_or_denied_after_3.len() >= 2, "{all}");
    assert_eq!(
        ids(admin
            .requests_where(&p(&[("after", "3"), ("disposition", "issued,denied")]))
            .unwrap()),
        issued_or_denied_after_3
    );
    let bad = admin.requests_where(&p(&[("limit", "many")])).unwrap_err();
    assert!(
        matches!(
            &bad,
            adcs_client::control::ControlError::Refused { status: 400, .. }
        ),
        "{bad:?}"
    );
    assert!(bad.to_string().contains("limit must be a number"), "{bad}");
}

/// Our `certnew.p7b` has the shape of real AD CS downloads
/// (shared/reference/p7b): SignedData v1, no digest algorithms, no signers,
/// leaf first and also the id-data content for `ReqID=N`, no content for
/// `ReqID=CACert`.
#[test]
fn p7b_downloads_have_the_shape_of_real_ones() {
    use adcs_proto::encoding::parse_pkcs7;
    let Some(dir) = std::env::var_os("ADCS_REFERENCE_DIR").map(std::path::PathBuf::from) else {
        eprintln!("SKIPPED: ADCS_REFERENCE_DIR is not set (point it at shared/reference to run this conformance test)");
        return;
    };
    let shape = |p: &adcs_proto::encoding::Pkcs7| {
        (
            p.version,
            p.digest_algorithms,
            p.signer_infos,
            p.content.is_some(),
        )
    };
    let read = |name: &str| {
        let bytes = std::fs::read(dir.join("p7b").join(name)).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let der = pem_blocks(&text, "CERTIFICATE")
            .pop()
            .unwrap_or(bytes.clone());
        parse_pkcs7(&der).unwrap()
    };
    let real_leaf = read("certsrv_certnew_p7b_leaf_webserver_v1template.p7b");
    let real_ca = read("certsrv_certnew_p7b_cacert_only.p7b");
    assert_eq!(real_leaf.content.as_ref(), Some(&real_leaf.certificates[0]));

    let s = start(false);
    let mut sess = session(&s, basic(ALICE));
    let csr = csr_pem("web05.contoso.test", KeyAlgorithm::Rsa2048);
    let id = number_after(
        &submit(&mut sess, &csr, "CertificateTemplate:WebServer").text(),
        "certnew.cer?ReqID=",
    );
    let ours_leaf =
        parse_pkcs7(&get(&mut sess, &format!("certnew.p7b?ReqID={id}&Enc=bin")).body).unwrap();
    let ours_ca = parse_pkcs7(&get(&mut sess, "certnew.p7b?ReqID=CACert&Enc=bin").body).unwrap();
    assert_eq!(shape(&ours_leaf), shape(&real_leaf));
    assert_eq!(shape(&ours_ca), shape(&real_ca));
    assert_eq!(ours_leaf.content.as_ref(), Some(&ours_leaf.certificates[0]));
    assert_eq!(
        ours_leaf.certificates[0],
        s.ca().request(id).unwrap().certificate.unwrap()
    );
}

/// CertRequest and CertAttrib in the shapes real clients post
/// (certsrv-protocol.md §2.2).
#[test]
fn every_request_shape_clients_send_is_accepted() {
    let s = start(false);
    let mut sess = session(&s, basic(ALICE));
    let csr = csr_pem("shapes.contoso.test", KeyAlgorithm::Rsa2048);
    let body: String = csr.lines().filter(|l| !l.starts_with("-----")).collect();
    let issued = |page: String| {
        assert!(page.contains("Certificate Issued"), "{page}");
        number_after(&page, "certnew.cer?ReqID=")
    };
    // Newlines stripped, header glued to the body (impacket, NAE, JPW).
    issued(
        submit(
            &mut sess,
            &csr.replace("\r\n", ""),
            "CertificateTemplate:WebServer",
        )
        .text(),
    );
    // Bare base64 (Ansible) with LF attributes, lower-case names and a trailing line.
    issued(
        submit(
            &mut sess,
            &body,
            "certificatetemplate:WebServer\nsan:dns=a.contoso.test\n",
        )
        .text(),
    );
    // Unescaped `+` that form decoding turned into spaces; JPW's broken
    // TargetStoreFlags; unknown fields.
    let raw = format!(
        "Mode=newreq&CertRequest={}&CertAttrib=CertificateTemplate%3AWebServer%0D%0AUserAgent%3AGoTLS%2F0.2%0D%0A&TargetStoreFlags=%!s(int=0)&FriendlyType=Saved-Request Certificate (1/1/2026)&UserAgent=Python&CertificateTemplate=WebServer",
        body.replace('/', "%2F").replace('=', "%3D")
    );
    assert!(body.contains('+'), "the test request should contain a `+`");
    let page = sess
        .request(
            "POST",
            "certfnsh.asp",
            Some("application/x-www-form-urlencoded"),
            raw.as_bytes(),
        )
        .unwrap()
        .text();
    issued(page);
    // Empty CertAttrib, template named by the request's template extension (NAE wincert).
    let key = SigningKey::generate(KeyAlgorithm::Rsa2048, &Seed(1), "shapes").unwrap();
    let ext = adcs_proto::x509::extension(
        adcs_proto::protocol::oid::TEMPLATE_NAME,
        false,
        adcs_proto::x509::template_name_value("WebServer"),
    );
    let der = adcs_proto::x509::build_request(
        &adcs_proto::names::parse_dn("CN=ext.contoso.test").unwrap(),
        &key,
        vec![ext],
    )
    .unwrap();
    let id = issued(submit(&mut sess, &pem("NEW CERTIFICATE REQUEST", &der), "").text());
    assert_eq!(
        s.ca().request(id).unwrap().template.as_deref(),
        Some("WebServer")
    );
}

#[test]
fn template_list_uses_the_fourteen_field_format() {
    let s = start(false);
    let page = get(&mut session(&s, basic(ALICE)), "certrqxt.asp").text();
    assert!(page.contains("<Select Name=lbCertTemplate ID=lbCertTemplateID>"));
    let values: Vec<Vec<String>> = page
        .lines()
        .filter_map(|l| l.strip_prefix("<Option Value=\""))
        .map(|v| {
            v[..v.find('"').unwrap()]
                .split(';')
                .map(str::to_string)
                .collect()
        })
        .collect();
    assert!(
        values.iter().all(|f| f.len() == 14 && f[0] == "E"),
        "{values:?}"
    );
    let find = |name: &str| {
        values
            .iter()
            .find(|f| f[1] == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    let web = find("WebServer");
    assert_eq!((web[9].as_str(), web[13].as_str()), ("", "Web Server"));
    let scom = find("OperationsManager");
    assert!(scom[9].starts_with("1.3.6.1.4.1.311.21.8.") && scom[10] == "100");
    assert_eq!(find("WebServerApproval")[4], "2"); // CT_FLAG_PEND_ALL_REQUESTS
                                                   // Alice is not a Domain Admin or computer, so Machine is still listed only
                                                   // through Authenticated Users; User needs Domain Users, which she is.
    assert!(values.iter().any(|f| f[1] == "User"));
    // A stand-alone CA has no template list at all.
    let s = start_with(
        CaConfig::standalone(),
        WebOptions {
            tls: false,
            ..Default::default()
        },
    );
    let page = get(&mut session(&s, basic(ALICE)), "certrqxt.asp").text();
    assert!(!page.contains("lbCertTemplate") && !page.contains("<Option"));
    // No auth needed for /favicon.ico (impacket's keep-alive HEAD): a plain 404.
    let r = session(&s, Credentials::None)
        .request("HEAD", "/favicon.ico", None, b"")
        .unwrap();
    assert_eq!(r.status, 404);
}

fn portal(sess: &mut Session, pairs: &[(&str, &str)]) -> HttpResponse {
    sess.request(
        "POST",
        "certrqma.asp",
        Some("application/x-www-form-urlencoded"),
        &form(pairs),
    )
    .unwrap()
}

#[test]
fn the_ca_makes_the_key_and_answers_with_a_pfx() {
    // Enterprise: issued at once, as a PFX of key, leaf and chain.
    let s = start(true);
    let mut sess = session(&s, ntlm_creds(ALICE, false));
    let fields = [
        ("CertificateTemplate", "OperationsManager"),
        ("CN", "scom01.contoso.test"),
        ("FriendlyName", "scom01"),
        ("KeyUsage", "both"),
        ("Exportable", "on"),
        ("PfxPassword", "Pfx-Passw0rd"),
    ];
    let r = portal(&mut sess, &fields);
    assert_eq!(r.header("Content-Type"), Some("application/x-pkcs12"));
    assert!(r
        .header("Content-Disposition")
        .is_some_and(|d| d.contains("certnew.pfx")));
    let pfx = adcs_client::store::read_pfx(&r.body, "Pfx-Passw0rd").unwrap();
    let (_, leaf) = x509_parser::parse_x509_certificate(&pfx.leaf).unwrap();
    assert_eq!(
        leaf.subject().to_string(),
        "CN=scom01.contoso.test",
        "the subject the form gave"
    );
    assert!(
        leaf.extended_key_usage()
            .unwrap()
            .unwrap()
            .value
            .client_auth
    );
    assert_eq!(pfx.issuers, vec![s.ca().root_certificate()]);
    assert_eq!(pfx.friendly_name.as_deref(), Some("scom01"));
    assert!(adcs_client::store::read_pfx(&r.body, "wrong").is_err());

    // Bad forms: the error page with E_INVALIDARG, no request made.
    let before = s.ca().next_request_id();
    for bad in [
        &[("CN", "x")][..],
        &[("PfxPassword", "pw")],
        &[("CN", "x"), ("PfxPassword", "pw"), ("KeySize", "1024")],
    ] {
        let t = portal(&mut sess, bad).text();
        assert!(
            row(&t, "LastStatus:").contains("0x80070057"),
            "{bad:?}: {t}"
        );
    }
    assert_eq!(s.ca().next_request_id(), before);
    // A denied template is denied as on certfnsh.asp.
    let mut denied = fields.to_vec();
    denied[0] = ("CertificateTemplate", "NoSuchTemplate");
    let page = portal(&mut sess, &denied).text();
    assert!(
        page.contains("Certificate Request Denied") && page.contains("0x80094800"),
        "{page}"
    );

    // Stand-alone: pending; the PFX waits for the manager, for its requester only.
    let s = start_with(CaConfig::standalone(), WebOptions::default());
    let mut sess = session(&s, ntlm_creds(ALICE, false));
    let page = portal(
        &mut sess,
        &[
            ("Subject", "CN=scom02.contoso.test, O=Contoso"),
            ("ExtendedKeyUsage", "1.3.6.1.5.5.7.3.1,1.3.6.1.5.5.7.3.2"),
            ("PfxPassword", "pw"),
        ],
    )
    .text();
    let id = number_after(&page, "Your Request Id is ");
    let t = get(&mut sess, &format!("certnew.pfx?ReqID={id}")).text();
    assert_eq!(row(&t, "Disposition message:"), "Taken Under Submission");
    s.ca().issue_pending(id, ADMIN.0).unwrap();
    let mut bob = session(&s, ntlm_creds(BOB, false));
    let t = get(&mut bob, &format!("certnew.pfx?ReqID={id}"));
    assert_ne!(t.header("Content-Type"), Some("application/x-pkcs12"));
    assert!(
        row(&t.text(), "LastStatus:").contains("0x8009400"),
        "another user gets no key"
    );
    let r = get(&mut sess, &format!("certnew.pfx?ReqID={id}"));
    assert_eq!(r.header("Content-Type"), Some("application/x-pkcs12"));
    let pfx = adcs_client::store::read_pfx(&r.body, "pw").unwrap();
    let (_, leaf) = x509_parser::parse_x509_certificate(&pfx.leaf).unwrap();
    assert_eq!(
        leaf.subject().to_string(),
        "O=Contoso, CN=scom02.contoso.test"
    );
    assert!(
        leaf.extended_key_usage()
            .unwrap()
            .unwrap()
            .value
            .server_auth
    );
}

#[test]
fn faults_hit_the_requests_their_schedule_names_and_are_journaled() {
    use mock_ca::web::faults::FaultRule;
    let s = start_with(
        CaConfig::default(),
        WebOptions {
            faults: vec![FaultRule {
                endpoint: "certfnsh.asp".into(),
                method: Some("POST".into()),
                nth: Some(2),
                status: Some(503),
                ..FaultRule::default()
            }],
            ..WebOptions::default()
        },
    );
    let mut sess = session(&s, basic(ALICE));
    let csr = csr_pem("fault.contoso.test", KeyAlgorithm::Rsa2048);
    assert_eq!(
        submit(&mut sess, &csr, "CertificateTemplate:WebServer").status,
        200
    );
    let r = submit(&mut sess, &csr, "CertificateTemplate:WebServer");
    assert_eq!((r.status, r.header("Retry-After")), (503, Some("1")));
    assert_eq!(
        submit(&mut sess, &csr, "CertificateTemplate:WebServer").status,
        200
    );
    let journal = s.journal();
    let faulted: Vec<_> = journal.iter().filter(|e| e.fault.is_some()).collect();
    assert_eq!(faulted.len(), 1, "{journal:?}");
    assert_eq!(faulted[0].status, 503);
    assert!(faulted[0]
        .fault
        .as_deref()
        .unwrap()
        .contains("status 503 (request 2 to certfnsh.asp)"));

    // Through the control API: a wrong content type, a scrambled body, a cut one.
    let mut admin = Session::new(&s.control_url(), trust(&s), basic(ADMIN)).unwrap();
    let set = |admin: &mut Session, json: &str| {
        admin
            .request("POST", "faults", Some("application/json"), json.as_bytes())
            .unwrap()
    };
    let r = set(
        &mut admin,
        r#"[{"endpoint": "certnew.cer", "content_type": "text/html"}]"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let cert = get(&mut sess, "certnew.cer?ReqID=2&Enc=bin");
    assert_eq!(cert.header("Content-Type"), Some("text/html"));
    let clean = {
        set(&mut admin, "[]");
        get(&mut sess, "certnew.cer?ReqID=2&Enc=bin").body
    };
    set(
        &mut admin,
        r#"[{"endpoint": "certnew.cer", "garble": true}]"#,
    );
    let garbled = get(&mut sess, "certnew.cer?ReqID=2&Enc=bin").body;
    assert_eq!(garbled.len(), clean.len());
    assert_ne!(garbled, clean);
    set(
        &mut admin,
        r#"[{"endpoint": "certnew.cer", "truncate": 10}]"#,
    );
    assert_eq!(
        get(&mut sess, "certnew.cer?ReqID=2&Enc=bin").body,
        clean[..10]
    );
    // The CA offline: the error page with its HRESULT.
    set(
        &mut admin,
        r#"[{"endpoint": "certfnsh.asp", "hresult": "0x800706ba"}]"#,
    );
    let page = submit(&mut sess, &csr, "CertificateTemplate:WebServer").text();
    assert!(row(&page, "LastStatus:").contains("0x800706ba"), "{page}");
    // A reset: no answer at all on that connection.
    set(&mut admin, r#"[{"endpoint": "*", "reset": true}]"#);
    assert!(sess.request("GET", "certcarc.asp", None, b"").is_err());
    // Bad rules are refused with the reason.
    let r = set(&mut admin, r#"[{"endpoint": "*"}]"#);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("does nothing"), "{}", r.text());
    let r = set(
        &mut admin,
        r#"[{"endpoint": "*", "probability": 3, "status": 500}]"#,
    );
    assert_eq!(r.status, 400);
    let listed = admin.request("GET", "faults", None, b"").unwrap().text();
    assert!(listed.contains("\"reset\": true"), "{listed}");
}
