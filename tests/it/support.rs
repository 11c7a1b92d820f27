//! What the server-level tests share: accounts, a server on a free port,
//! requests, and a raw NTLM handshake on one connection.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use adcs_client::http::{Connection, HttpResponse};
use adcs_proto::encoding::pem;
use adcs_proto::ntlm;
use base64::Engine;
use mock_ca::keys::SigningKey;
use mock_ca::web::directory::User;
use mock_ca::web::{Server, WebOptions};
use mock_ca::{Ca, CaConfig, Clock, KeyAlgorithm, Seed};

/// 2026-01-01T00:00:00Z, where the virtual clock stands.
pub const T0: i64 = 1_767_225_600;
pub const ALICE: (&str, &str) = ("CONTOSO\\alice", "Alice-Passw0rd");
/// Member of `Web Admins`.
pub const BOB: (&str, &str) = ("CONTOSO\\bob", "Bob-Passw0rd");
pub const ADMIN: (&str, &str) = ("CONTOSO\\Administrator", "Admin-Passw0rd");

pub fn users() -> Vec<User> {
    let mut admin = User::parse(&format!("{}:{}", ADMIN.0, ADMIN.1)).unwrap();
    admin.admin = true;
    let mut bob = User::parse(&format!("{}:{}", BOB.0, BOB.1)).unwrap();
    bob.groups = vec!["Web Admins".into()];
    vec![
        User::parse(&format!("{}:{}", ALICE.0, ALICE.1)).unwrap(),
        bob,
        admin,
    ]
}

/// A server for `config` with the test accounts, on a free loopback port.
pub fn start_with(config: CaConfig, opts: WebOptions) -> Server {
    let ca = Ca::new(config, Seed(7), Clock::frozen_at(T0)).unwrap();
    Server::start(
        Arc::new(ca),
        WebOptions {
            users: users(),
            ..opts
        },
    )
    .unwrap()
}

/// [`start_with`] over plain HTTP, as the page tests use it.
pub fn start_http(config: CaConfig) -> Server {
    start_with(
        config,
        WebOptions {
            tls: false,
            ..Default::default()
        },
    )
}

/// A PEM PKCS#10 for `CN=cn`, its key seeded by the name.
pub fn csr_pem(cn: &str, alg: KeyAlgorithm) -> String {
    let key = SigningKey::generate(alg, &Seed(1), cn).unwrap();
    let name = adcs_proto::names::parse_dn(&format!("CN={cn}")).unwrap();
    pem(
        "CERTIFICATE REQUEST",
        &adcs_proto::x509::build_request(&name, &key, vec![]).unwrap(),
    )
}

/// NEGOTIATE then AUTHENTICATE on `c` against `path`, by hand (as relay
/// tools do). Returns the CHALLENGE response, the AUTHENTICATE token and
/// the final response.
pub fn ntlm_legs(
    c: &mut Connection,
    path: &str,
    (user, domain, password): (&str, &str, &str),
    opts: &ntlm::ClientOptions,
) -> (HttpResponse, Vec<u8>, HttpResponse) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let neg = ntlm::client_negotiate();
    let header = |token: &[u8]| [("Authorization", format!("NTLM {}", b64.encode(token)))];
    let challenge = c.send("GET", path, &header(&neg), b"").unwrap();
    let token = challenge
        .header("WWW-Authenticate")
        .and_then(|v| v.strip_prefix("NTLM "))
        .map(|t| b64.decode(t).unwrap())
        .expect("an NTLM challenge");
    let auth = ntlm::client_authenticate(&neg, &token, user, domain, password, opts).unwrap();
    let last = c.send("GET", path, &header(&auth), b"").unwrap();
    (challenge, auth, last)
}

/// Every file of a store folder and its bytes, to prove a step changed nothing.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let digest = adcs_client::store::thumbprint(&std::fs::read(&p).unwrap());
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), digest);
            }
        }
    }
    out
}

/// One request to `s` as `account` (Basic), with extra headers; a fresh
/// connection each time, as a browser tab may use.
pub fn call(
    s: &Server,
    method: &str,
    path: &str,
    account: Option<(&str, &str)>,
    headers: &[(&str, String)],
    body: &[u8],
) -> HttpResponse {
    let url = adcs_client::http::Url::parse(&s.base_url()).unwrap();
    let trust = adcs_client::http::Trust::Roots(vec![s.ca().root_certificate()]);
    let mut c = Connection::open(&url, &trust).unwrap();
    let mut h: Vec<(&str, String)> = headers.to_vec();
    if let Some((user, password)) = account {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        h.push(("Authorization", format!("Basic {token}")));
    }
    if !body.is_empty() {
        h.push((
            "Content-Type",
            "application/x-www-form-urlencoded".to_string(),
        ));
    }
    c.send(method, path, &h, body).unwrap()
}

/// An `application/x-www-form-urlencoded` body.
pub fn form_body(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish().into_bytes()
}

/// The values of `attr="…"` in a page (HTML entities for `&` undone).
pub fn attr_values(page: &str, attr: &str) -> Vec<String> {
    let key = format!("{attr}=\"");
    page.match_indices(&key)
        .filter_map(|(i, _)| {
            let rest = &page[i + key.len()..];
            rest.find('"').map(|end| rest[..end].replace("&amp;", "&"))
        })
        .collect()
}
