//! Helpers shared by the engine and server tests: requests made in-process,
//! a fixed clock, openssl when the machine has it, the test server and
//! accounts (`mock_ca::testing`), and requests sent by hand.

use std::path::{Path, PathBuf};
use std::process::Command;

use adcs_proto::names::parse_dn;
use adcs_proto::protocol::oid;
use adcs_proto::x509::{self, extension, SanEntry};
use der::asn1::{BmpString, ObjectIdentifier};
use der::Encode;
use mock_ca::keys::SigningKey;
use mock_ca::{CaConfig, Clock, KeyAlgorithm, Requester, Seed};

use adcs_client::http::{Connection, HttpResponse};
use adcs_proto::ntlm;
use base64::Engine;
use mock_ca::web::Server;

pub use mock_ca::testing::*;

pub fn clock() -> Clock {
    Clock::frozen_at(T0)
}

pub fn alice() -> Requester {
    let mut r = Requester::new("CONTOSO\\alice");
    r.groups = vec!["CONTOSO\\Domain Users".into()];
    r
}

/// What a test request carries.
pub struct Req<'a> {
    pub subject: &'a str,
    pub key: KeyAlgorithm,
    pub label: &'a str,
    pub template_ext: Option<&'a str>,
    pub san: Vec<SanEntry>,
    pub key_usage: Option<u16>,
    /// An Application Policies extension (1.3.6.1.4.1.311.21.10) with these OIDs.
    pub application_policies: Vec<&'a str>,
}

impl Default for Req<'_> {
    fn default() -> Self {
        Req {
            subject: "CN=web01.contoso.test",
            key: KeyAlgorithm::Rsa2048,
            label: "client/0",
            template_ext: None,
            san: vec![],
            key_usage: Some(0xa0),
            application_policies: vec![],
        }
    }
}

/// A PKCS#10 request (DER) signed by a seeded key.
pub fn request(r: &Req<'_>) -> Vec<u8> {
    let key = SigningKey::generate(r.key, &Seed(1), r.label).unwrap();
    let mut ext = Vec::new();
    if let Some(t) = r.template_ext {
        ext.push(extension(
            oid::TEMPLATE_NAME,
            false,
            BmpString::from_utf8(t).unwrap().to_der().unwrap(),
        ));
    }
    if let Some(ku) = r.key_usage {
        ext.push(extension(oid::KEY_USAGE, true, x509::key_usage_value(ku)));
    }
    if !r.san.is_empty() {
        ext.push(extension(
            oid::SUBJECT_ALT_NAME,
            false,
            x509::san_value(&r.san).unwrap(),
        ));
    }
    if !r.application_policies.is_empty() {
        let policies: Vec<ObjectIdentifier> = r
            .application_policies
            .iter()
            .map(|o| ObjectIdentifier::new_unwrap(o))
            .collect();
        ext.push(extension(
            oid::APPLICATION_POLICIES,
            false,
            x509::application_policies_value(&policies),
        ));
    }
    ext.push(extension(
        oid::EXTENDED_KEY_USAGE,
        false,
        x509::eku_value(&[
            ObjectIdentifier::new_unwrap(oid::EKU_SERVER_AUTH),
            ObjectIdentifier::new_unwrap(oid::EKU_CLIENT_AUTH),
        ]),
    ));
    x509::build_request(&parse_dn(r.subject).unwrap(), &key, ext).unwrap()
}

pub fn template_attr(t: &str) -> Vec<(String, String)> {
    vec![("CertificateTemplate".to_string(), t.to_string())]
}

pub fn enterprise() -> CaConfig {
    CaConfig::default()
}

#[allow(unused_imports)]
pub use adcs_proto::encoding::pem;

/// openssl, when installed; tests that need it say so when it is missing.
pub fn openssl() -> Option<&'static str> {
    Command::new("openssl")
        .arg("version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| "openssl")
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The shared reference data (ADCS_REFERENCE_DIR), if present.
pub fn reference_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("ADCS_REFERENCE_DIR").map(PathBuf::from)?;
    dir.is_dir().then_some(dir)
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

/// The workspace's `fixtures/`, seen from this crate.
const FIXTURES: &str = "../fixtures";

/// A file of the project's own test inputs under `fixtures/`, as text.
pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(FIXTURES)
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The default enterprise CA with the test accounts, over HTTPS or HTTP.
pub fn start_default(tls: bool) -> Server {
    start_with(
        CaConfig::default(),
        mock_ca::web::WebOptions {
            tls,
            ..Default::default()
        },
    )
}
