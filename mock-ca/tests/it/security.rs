//! The security review, one test per claim: every certsrv and control
//! route needs a signed-in account and the control plane an administrator;
//! template permissions hold however the request names the template;
//! echoed values are escaped; bodies and headers are bounded; NTLM refuses
//! replayed, altered and wrongly keyed messages over the wire. (That
//! `serve` binds loopback and keeps secrets out of its logs is tested on the
//! process, in the root crate's tests.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::{csr_pem, form_body, start_default as start, start_with, ADMIN, ALICE, BOB};
use adcs_client::http::{Connection, Credentials, HttpResponse, Session, Trust, Url};
use adcs_proto::ntlm;
use adcs_proto::protocol::{endpoint, oid, portal};
use base64::Engine;
use mock_ca::keys::SigningKey;
use mock_ca::web::{control, Server, WebOptions};
use mock_ca::{CaConfig, CaMode, KeyAlgorithm, Seed};

fn basic((user, password): (&str, &str)) -> Credentials {
    Credentials::Basic {
        user: user.into(),
        password: password.into(),
    }
}

const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

/// Every certsrv page as (method, path under /certsrv/, body).
fn certsrv_routes(csr: &str) -> Vec<(&'static str, String, Vec<u8>)> {
    let submit = form_body(&[
        ("Mode", endpoint::MODE_NEW),
        ("CertRequest", csr),
        ("CertAttrib", "CertificateTemplate:WebServer"),
    ]);
    let portal_form = form_body(&[
        (portal::TEMPLATE, "WebServer"),
        ("CN", "www.contoso.test"),
        (portal::PASSWORD, "Pfx-Passw0rd"),
    ]);
    vec![
        ("GET", String::new(), vec![]),
        ("GET", "default.asp".into(), vec![]),
        ("GET", endpoint::SUBMIT.into(), vec![]),
        ("POST", endpoint::SUBMIT.into(), submit),
        ("GET", format!("{}?ReqID=1", endpoint::CERT), vec![]),
        ("GET", format!("{}?ReqID=CACert", endpoint::CERT), vec![]),
        ("GET", format!("{}?ReqID=1", endpoint::CHAIN), vec![]),
        ("GET", endpoint::CRL.into(), vec![]),
        ("GET", endpoint::CA_CERTS.into(), vec![]),
        ("GET", endpoint::TEMPLATES.into(), vec![]),
        ("GET", endpoint::CHECK_PENDING.into(), vec![]),
        ("GET", endpoint::REMOVE_PENDING.into(), vec![]),
        ("GET", endpoint::REQUEST_TASKS.into(), vec![]),
        ("GET", endpoint::ADVANCED_TASKS.into(), vec![]),
        ("GET", endpoint::CREATE_REQUEST.into(), vec![]),
        ("POST", endpoint::CREATE_REQUEST.into(), portal_form),
        ("GET", format!("{}?ReqID=1", endpoint::PFX), vec![]),
        ("GET", "no-such-page.asp".into(), vec![]),
    ]
}

/// Every control route with a request ID filled in, and a body where the
/// route takes one.
fn control_routes() -> Vec<(&'static str, String, Vec<u8>)> {
    control::ROUTES
        .iter()
        .map(|(method, path)| {
            let body = match *path {
                "revoke" | "unrevoke" => br#"{"serial": "00"}"#.to_vec(),
                "clock" => br#"{"advance": 86400}"#.to_vec(),
                "faults" => b"[]".to_vec(),
                _ => Vec::new(),
            };
            (*method, path.replace('N', "1"), body)
        })
        .chain([("GET", "no-such-route".to_string(), Vec::new())])
        .collect()
}

fn send(sess: &mut Session, method: &str, path: &str, body: &[u8]) -> HttpResponse {
    let ct = if method == "POST" { FORM } else { None };
    sess.request(method, path, ct, body).unwrap()
}

#[test]
fn every_certsrv_and_control_route_needs_a_signed_in_account() {
    for tls in [false, true] {
        let s = start(tls);
        let trust = Trust::Roots(vec![s.ca().root_certificate()]);
        let csr = csr_pem("www.contoso.test", KeyAlgorithm::Rsa2048);
        let strangers = [
            Credentials::None,
            basic((ALICE.0, "not-her-password")),
            basic(("CONTOSO\\mallory", ALICE.1)),
            basic((ADMIN.0, "")),
            Credentials::Ntlm {
                user: ADMIN.0.into(),
                password: "guess".into(),
                negotiate_label: false,
            },
        ];
        let before = s.ca().next_request_id();
        let now = s.ca().clock().now();
        let mut tried = 0;
        for creds in &strangers {
            for (base, routes) in [
                (s.certsrv_url(), certsrv_routes(&csr)),
                (s.control_url(), control_routes()),
            ] {
                for (method, path, body) in &routes {
                    let mut sess = Session::new(&base, trust.clone(), creds.clone()).unwrap();
                    let r = send(&mut sess, method, path, body);
                    assert_eq!(
                        r.status, 401,
                        "{method} {base}{path} as {creds:?} answered {}",
                        r.status
                    );
                    assert!(!r.text().contains("-----BEGIN"), "{path}: {}", r.text());
                    tried += 1;
                }
            }
            // `/certsrv` and `/control` without the slash are theirs too.
            for bare in ["/certsrv", "/control", "/CERTSRV/", "/Control/status"] {
                let mut sess = Session::new(&s.base_url(), trust.clone(), creds.clone()).unwrap();
                assert_eq!(
                    sess.request("GET", bare, None, b"").unwrap().status,
                    401,
                    "{bare}"
                );
            }
        }
        assert!(tried > 100, "{tried} requests");
        assert_eq!(s.ca().next_request_id(), before, "no request was made");
        assert_eq!(s.ca().clock().now(), now, "the clock did not move");
        assert!(s.journal().iter().all(|e| e.user.is_none()));
    }
}

#[test]
fn non_administrators_reach_no_control_route() {
    let s = start(false);
    let trust = Trust::AnyCertificate;
    let csr = csr_pem("www.contoso.test", KeyAlgorithm::Rsa2048);
    // A pending request and an issued one, so every action has a target.
    let mut admin = Session::new(&s.control_url(), trust.clone(), basic(ADMIN)).unwrap();
    let mut alice = Session::new(&s.certsrv_url(), trust.clone(), basic(ALICE)).unwrap();
    send(
        &mut alice,
        "POST",
        endpoint::SUBMIT,
        &form_body(&[
            ("Mode", "newreq"),
            ("CertRequest", &csr),
            ("CertAttrib", "CertificateTemplate:WebServerApproval"),
        ]),
    );
    let state = |admin: &mut Session| {
        // The CA's state; the live connection counts move with every probe.
        let mut status: serde_json::Value =
            serde_json::from_str(&send(admin, "GET", "status", b"").text()).unwrap();
        status.as_object_mut().unwrap().remove("connections");
        let pending = send(admin, "GET", "requests?disposition=pending", b"").text();
        (status, pending, s.journal().len())
    };
    let before = state(&mut admin);
    for who in [ALICE, BOB] {
        for (method, path, body) in control_routes() {
            let mut sess = Session::new(&s.control_url(), trust.clone(), basic(who)).unwrap();
            let ct = if method == "POST" {
                Some("application/json")
            } else {
                None
            };
            let r = sess.request(method, &path, ct, &body).unwrap();
            assert_eq!(r.status, 403, "{method} /control/{path} as {}", who.0);
            assert!(r.text().contains("is not a CA administrator"));
        }
    }
    let after = state(&mut admin);
    assert_eq!(
        (&before.0, &before.1),
        (&after.0, &after.1),
        "nothing moved"
    );
    // The administrator reaches each route: the list names real routes.
    for (method, path, body) in control_routes() {
        if path == "no-such-route" || path == "reset" {
            continue;
        }
        let ct = (method == "POST").then_some("application/json");
        let r = admin.request(method, &path, ct, &body).unwrap();
        assert!(
            !r.text().contains("no control route"),
            "{method} /control/{path}: {}",
            r.text()
        );
    }
}

/// A request signed by a fresh key, for `CN=cn`, with these extensions.
fn csr_with(cn: &str, extensions: Vec<x509_cert::ext::Extension>) -> String {
    let key = SigningKey::generate(KeyAlgorithm::Rsa2048, &Seed(1), cn).unwrap();
    let name = adcs_proto::names::parse_dn(&format!("CN={cn}")).unwrap();
    adcs_proto::encoding::pem(
        "CERTIFICATE REQUEST",
        &adcs_proto::x509::build_request(&name, &key, extensions).unwrap(),
    )
}

#[test]
fn template_permissions_hold_when_the_request_names_the_template_itself() {
    use der::Encode;
    // WebServer for Web Admins only; alice is not one of them, bob is.
    let mut config = CaConfig::default();
    let web = config
        .templates
        .iter_mut()
        .find(|t| t.name == "WebServer")
        .unwrap();
    web.enroll = vec!["CONTOSO\\Web Admins".into()];
    let web_oid = web.template_oid();
    let s = start_with(config, WebOptions::default());
    let v1 = adcs_proto::x509::extension(
        oid::TEMPLATE_NAME,
        false,
        adcs_proto::x509::template_name_value("WebServer"),
    );
    let v2 = adcs_proto::x509::extension(
        oid::TEMPLATE_V2,
        false,
        adcs_proto::x509::TemplateV2 {
            oid: web_oid.parse().unwrap(),
            major: 100,
            minor: 0,
        }
        .to_der()
        .unwrap(),
    );
    let submit = |who, csr: &str, attrib: &str| {
        let mut sess = Session::new(&s.certsrv_url(), Trust::AnyCertificate, basic(who)).unwrap();
        let body = form_body(&[
            ("Mode", "newreq"),
            ("CertRequest", csr),
            ("CertAttrib", attrib),
        ]);
        sess.request("POST", endpoint::SUBMIT, FORM, &body)
            .unwrap()
            .text()
    };
    for (ext, label) in [(v1, "v1 name"), (v2, "v2 OID")] {
        let csr = csr_with("www.contoso.test", vec![ext]);
        // The extension alone.
        let page = submit(ALICE, &csr, "");
        assert!(
            page.contains("Denied by Policy Module") && !page.contains("Certificate Issued"),
            "{label}, no attribute: {page}"
        );
        // The extension, and the attribute naming a template alice may use.
        let page = submit(ALICE, &csr, "CertificateTemplate:OperationsManager");
        assert!(
            page.contains("Denied by Policy Module") && !page.contains("Certificate Issued"),
            "{label} against the attribute: {page}"
        );
        // The permission itself is what refused: bob gets the same request.
        let page = submit(BOB, &csr, "");
        assert!(
            page.contains("Certificate Issued"),
            "{label} for bob: {page}"
        );
    }
    let denied = s
        .ca()
        .list(Some(mock_ca::Disposition::Denied))
        .into_iter()
        .map(|r| r.status.0)
        .collect::<Vec<_>>();
    assert_eq!(
        denied,
        vec![0x8009_4012, 0x8009_4802, 0x8009_4012, 0x8009_4802],
        "TEMPLATE_DENIED for the extension alone, TEMPLATE_CONFLICT when the attribute differs"
    );
}

#[test]
fn echoed_values_are_escaped_on_every_page() {
    const PAYLOADS: [&str; 3] = [
        "<script>alert(7)</script>",
        "\"><img src=x onerror=alert(8)>",
        "'><svg/onload=alert(9)>",
    ];
    let raw_markers = ["<script>alert(7)", "<img src=x", "<svg/onload"];
    for mode in [CaMode::Enterprise, CaMode::Standalone] {
        let s = start_with(
            CaConfig {
                mode,
                ..CaConfig::default()
            },
            WebOptions {
                tls: false,
                ..Default::default()
            },
        );
        let mut sess = Session::new(&s.certsrv_url(), Trust::AnyCertificate, basic(ALICE)).unwrap();
        let mut pages = Vec::new();
        for p in PAYLOADS {
            let csr = csr_with(&format!("www{}.contoso.test", p.len()), vec![]);
            let enc = form_urlencoded::byte_serialize(p.as_bytes()).collect::<String>();
            for (method, path, body) in [
                (
                    "POST",
                    endpoint::SUBMIT.to_string(),
                    form_body(&[("Mode", p)]),
                ),
                (
                    "POST",
                    endpoint::SUBMIT.to_string(),
                    form_body(&[
                        ("Mode", "newreq"),
                        ("CertRequest", &csr),
                        (
                            "CertAttrib",
                            &format!("CertificateTemplate:{p}\nFriendlyName:{p}"),
                        ),
                    ]),
                ),
                (
                    "POST",
                    endpoint::SUBMIT.to_string(),
                    form_body(&[("Mode", "newreq"), ("CertRequest", p)]),
                ),
                (
                    "POST",
                    endpoint::SUBMIT.to_string(),
                    form_body(&[("Mode", "chkpnd"), ("ReqID", p)]),
                ),
                ("GET", format!("{}?ReqID={enc}", endpoint::CERT), vec![]),
                (
                    "GET",
                    format!("{}?ReqID={enc}&Enc={enc}", endpoint::CHAIN),
                    vec![],
                ),
                ("GET", format!("{}?Renewal={enc}", endpoint::CRL), vec![]),
                ("GET", format!("{}?ReqID={enc}", endpoint::PFX), vec![]),
                (
                    "POST",
                    endpoint::CREATE_REQUEST.to_string(),
                    form_body(&[
                        (portal::TEMPLATE, p),
                        ("CN", p),
                        (portal::FRIENDLY_NAME, p),
                        (portal::PASSWORD, "pw"),
                    ]),
                ),
                (
                    "POST",
                    endpoint::CREATE_REQUEST.to_string(),
                    form_body(&[("CN", "x"), (portal::KEY_SIZE, p), (portal::PASSWORD, "pw")]),
                ),
                (
                    "GET",
                    format!("{}?{enc}={enc}", endpoint::CHECK_PENDING),
                    vec![],
                ),
            ] {
                let r = send(&mut sess, method, &path, &body);
                pages.push((format!("{method} {path}"), r.text()));
            }
        }
        // A subject carrying markup, pending on the stand-alone CA, then
        // listed on the status page through its cookie.
        let mut c = Connection::open(
            &Url::parse(&s.certsrv_url()).unwrap(),
            &Trust::AnyCertificate,
        )
        .unwrap();
        let auth = [(
            "Authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", ALICE.0, ALICE.1))
            ),
        )];
        let cookie = [
            auth[0].clone(),
            (
                "Cookie",
                format!(
                    "Requests=%5B2%2C{}%2C%3Cscript%3Ealert(7)%3C%2Fscript%3E%5D",
                    "%3Cimg+src%3Dx%3E"
                ),
            ),
        ];
        let url = Url::parse(&s.certsrv_url()).unwrap();
        let r = c
            .send("GET", &url.join(endpoint::CHECK_PENDING), &cookie, b"")
            .unwrap();
        pages.push(("certckpn.asp with a hostile cookie".into(), r.text()));
        assert!(pages.len() > 30);
        for (what, text) in &pages {
            for m in raw_markers {
                assert!(!text.contains(m), "{mode:?} {what} echoes {m} raw:\n{text}");
            }
        }
        // The payloads did come back, escaped, somewhere: the test sees echoes.
        assert!(pages
            .iter()
            .any(|(_, t)| t.contains("&lt;script&gt;alert(7)")));
    }
}

/// Sends `head` and `body` on a raw socket and returns what came back
/// before the server closed or went quiet.
fn raw_exchange(s: &Server, head: &str, body: &[u8]) -> String {
    let mut tcp = TcpStream::connect(s.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = tcp.write_all(head.as_bytes());
    let _ = tcp.write_all(body);
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.windows(4).any(|w| w == b"\r\n\r\n") && out.len() > 12 {
                    // Status line and headers are in; a body may follow.
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        if out.starts_with(b"HTTP/1.1 4") && out.len() > 200 {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn bodies_and_headers_are_bounded_and_the_server_goes_on() {
    let s = start(false);
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", ALICE.0, ALICE.1));
    let before = s.ca().next_request_id();
    // A header block over 64 KiB.
    let head = format!(
        "GET /certsrv/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let r = raw_exchange(&s, &head, b"");
    assert!(
        r.is_empty() || r.starts_with("HTTP/1.1 431"),
        "oversized headers: {}",
        &r[..r.len().min(200)]
    );
    // Many small headers adding up to the same.
    let many: String = (0..3000)
        .map(|i| format!("X-H{i}: {}\r\n", "b".repeat(20)))
        .collect();
    let head = format!("GET /certsrv/ HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    let r = raw_exchange(&s, &head, b"");
    assert!(
        r.is_empty() || r.starts_with("HTTP/1.1 431"),
        "{}",
        &r[..r.len().min(200)]
    );
    // A chunked body that never declares its length, past the limit.
    let head = format!(
        "POST /certsrv/certfnsh.asp HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let mut body = Vec::new();
    for _ in 0..30 {
        let chunk = "Mode=newreq&CertRequest=".to_string() + &"A".repeat(10_000);
        body.extend(format!("{:x}\r\n{chunk}\r\n", chunk.len()).into_bytes());
    }
    body.extend(b"0\r\n\r\n");
    let r = raw_exchange(&s, &head, &body);
    assert!(r.starts_with("HTTP/1.1 413"), "{}", &r[..r.len().min(300)]);
    assert!(r.contains("larger than 200000 bytes"));
    // A declared length past the limit is refused before the body is read.
    let head = format!(
        "POST /certsrv/certfnsh.asp HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Length: 5000000\r\n\r\n"
    );
    let r = raw_exchange(&s, &head, b"Mode=newreq");
    assert!(r.starts_with("HTTP/1.1 413"), "{}", &r[..r.len().min(300)]);
    // Nothing was submitted, and the next client is served.
    assert_eq!(s.ca().next_request_id(), before);
    let mut sess = Session::new(&s.certsrv_url(), Trust::AnyCertificate, basic(ALICE)).unwrap();
    assert_eq!(sess.request("GET", "", None, b"").unwrap().status, 200);
}

/// NEGOTIATE, CHALLENGE, then an AUTHENTICATE that `alter` may change, on
/// one connection; the status of the last leg, and the token sent.
fn ntlm_attempt(
    c: &mut Connection,
    path: &str,
    password: &str,
    opts: &ntlm::ClientOptions,
    alter: impl Fn(&mut Vec<u8>),
) -> (u16, Vec<u8>) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let neg = ntlm::client_negotiate();
    let header = |t: &[u8]| [("Authorization", format!("NTLM {}", b64.encode(t)))];
    let challenge = c.send("GET", path, &header(&neg), b"").unwrap();
    assert_eq!(challenge.status, 401);
    let token = challenge
        .header("WWW-Authenticate")
        .and_then(|v| v.strip_prefix("NTLM "))
        .map(|t| b64.decode(t).unwrap())
        .expect("an NTLM challenge");
    let mut auth =
        ntlm::client_authenticate(&neg, &token, "alice", "CONTOSO", password, opts).unwrap();
    alter(&mut auth);
    let last = c.send("GET", path, &header(&auth), b"").unwrap();
    (last.status, auth)
}

fn u32_at(m: &[u8], at: usize) -> usize {
    u32::from_le_bytes(m[at..at + 4].try_into().unwrap()) as usize
}

#[test]
fn ntlm_refuses_replayed_altered_and_wrongly_keyed_messages() {
    let s = start(false);
    let url = Url::parse(&s.certsrv_url()).unwrap();
    let path = url.join("");
    let open = || Connection::open(&url, &Trust::AnyCertificate).unwrap();
    for mic in [false, true] {
        let opts = ntlm::ClientOptions {
            mic,
            client_challenge: [3; 8],
            ..Default::default()
        };
        // The right password passes (the harness itself is sound).
        let (ok, good) = ntlm_attempt(&mut open(), &path, ALICE.1, &opts, |_| {});
        assert_eq!(ok, 200, "mic {mic}");
        // Wrong password.
        let (st, _) = ntlm_attempt(&mut open(), &path, "Alice-Passw0rd!", &opts, |_| {});
        assert_eq!(st, 401, "wrong password, mic {mic}");
        // A flipped bit in NTProofStr.
        let (st, _) = ntlm_attempt(&mut open(), &path, ALICE.1, &opts, |m| {
            let at = u32_at(m, 24);
            m[at] ^= 1;
        });
        assert_eq!(st, 401, "altered NTProofStr, mic {mic}");
        // Another user name under the same proof.
        let (st, _) = ntlm_attempt(&mut open(), &path, ALICE.1, &opts, |m| {
            let at = u32_at(m, 40);
            m[at] ^= 0x20; // 'a' -> 'A' is the same account; flip deeper too
            m[at + 2] ^= 1;
        });
        assert_eq!(st, 401, "altered user name, mic {mic}");
        // Replayed: the token that passed, on a connection with its own challenge.
        let mut c = open();
        let (st, _) = ntlm_attempt(&mut c, &path, ALICE.1, &opts, |m| *m = good.clone());
        assert_eq!(st, 401, "replayed AUTHENTICATE, mic {mic}");
        if mic {
            // A negotiated flag changed after the fact: the MIC catches it.
            let (st, _) = ntlm_attempt(&mut open(), &path, ALICE.1, &opts, |m| {
                m[60] ^= 0x10; // NTLMSSP_NEGOTIATE_SIGN
            });
            assert_eq!(st, 401, "altered flags under a MIC");
            // A MIC zeroed out.
            let (st, _) = ntlm_attempt(&mut open(), &path, ALICE.1, &opts, |m| {
                m[72..88].fill(0);
            });
            assert_eq!(st, 401, "zeroed MIC");
        }
    }
    assert!(s.journal().iter().filter(|e| e.status == 200).count() == 2);
}

/// The CA's roles open their routes to accounts that are not the
/// harness's administrator, and nothing else: bob (in `Web Admins`) as a
/// certificate manager issues and denies pending requests, alice as a CA
/// manager reads the CA; neither reaches the clock, faults, journal or
/// reset, nor the other's routes.
#[test]
fn ca_roles_open_their_own_routes_only() {
    let mut config = CaConfig::default();
    config.roles.officers.push("Web Admins".into());
    config.roles.managers.push("CONTOSO\\alice".into());
    let s = start_with(config, WebOptions::default());
    let trust = Trust::AnyCertificate;
    let csr = csr_pem("www.contoso.test", KeyAlgorithm::Rsa2048);
    let mut bob = Session::new(&s.certsrv_url(), trust.clone(), basic(BOB)).unwrap();
    for _ in 0..2 {
        let body = form_body(&[
            ("Mode", "newreq"),
            ("CertRequest", &csr),
            ("CertAttrib", "CertificateTemplate:WebServerApproval"),
        ]);
        send(&mut bob, "POST", endpoint::SUBMIT, &body);
    }
    let pending = s.ca().next_request_id() - 2;
    let as_who = |who| Session::new(&s.control_url(), trust.clone(), basic(who)).unwrap();
    let json = Some("application/json");
    let mut officer = as_who(BOB);
    let issued = officer.request("POST", &format!("requests/{pending}/issue"), json, b"{}");
    assert_eq!(issued.unwrap().status, 200);
    let denied = officer.request(
        "POST",
        &format!("requests/{}/deny", pending + 1),
        json,
        b"{}",
    );
    assert_eq!(denied.unwrap().status, 200);
    assert_eq!(
        officer
            .request("GET", "requests", None, b"")
            .unwrap()
            .status,
        200
    );
    let mut manager = as_who(ALICE);
    assert_eq!(manager.request("GET", "ca", None, b"").unwrap().status, 200);
    for (who, method, path) in [
        (BOB, "GET", "ca"),
        (BOB, "POST", "clock"),
        (BOB, "GET", "journal"),
        (BOB, "POST", "reset"),
        (ALICE, "GET", "requests"),
        (ALICE, "POST", "faults"),
        (ALICE, "POST", "reset"),
    ] {
        let r = as_who(who).request(method, path, json, b"{}").unwrap();
        assert_eq!(r.status, 403, "{method} /control/{path} as {}", who.0);
    }
    let by = |id: u32| s.ca().request(id).unwrap().disposition;
    assert_eq!(by(pending), mock_ca::Disposition::Issued);
    assert_eq!(by(pending + 1), mock_ca::Disposition::Denied);
}

/// Without Enroll on the CA itself, a request is denied with
/// CERTSRV_E_ENROLL_DENIED whatever the template allows.
#[test]
fn enroll_on_the_ca_comes_before_the_template() {
    let mut config = CaConfig::default();
    config.roles.enrollees = vec!["Web Admins".into()];
    let s = start_with(config, WebOptions::default());
    let csr = csr_pem("www.contoso.test", KeyAlgorithm::Rsa2048);
    let body = form_body(&[
        ("Mode", "newreq"),
        ("CertRequest", &csr),
        ("CertAttrib", "CertificateTemplate:WebServer"),
    ]);
    for (who, allowed) in [(ALICE, false), (BOB, true)] {
        let mut sess = Session::new(&s.certsrv_url(), Trust::AnyCertificate, basic(who)).unwrap();
        let id = s.ca().next_request_id();
        let page = send(&mut sess, "POST", endpoint::SUBMIT, &body).text();
        assert_eq!(
            page.contains("Certificate Request Denied"),
            !allowed,
            "{}",
            who.0
        );
        let row = s.ca().request(id).unwrap();
        let denied = row.status == mock_ca::HResult::ENROLL_DENIED;
        assert_eq!(denied, !allowed, "{}: 0x{:08x}", who.0, row.status.0);
    }
}
