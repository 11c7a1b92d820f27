//! Helpers shared by the engine tests: requests made in-process, a fixed
//! clock, and openssl when the machine has it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use adcs_proto::names::parse_dn;
use adcs_proto::protocol::oid;
use adcs_proto::x509::{self, extension, SanEntry};
use der::asn1::{BmpString, ObjectIdentifier};
use der::Encode;
use mock_ca::keys::SigningKey;
use mock_ca::{CaConfig, Clock, KeyAlgorithm, Requester, Seed};

/// 2026-01-01T00:00:00Z.
pub const T0: i64 = 1_767_225_600;

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
