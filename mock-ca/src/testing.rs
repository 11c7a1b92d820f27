//! A server for Rust tests in one call: the documented test accounts
//! (alice; bob in `Web Admins`; the administrator), a fixed seed and a
//! virtual clock frozen at [`T0`], on a free loopback port. The project's
//! own tests use it, and so can any Rust test of an AD CS client.

use std::sync::Arc;

use adcs_proto::encoding::pem;

use crate::keys::SigningKey;
use crate::web::directory::User;
use crate::web::limits::Limits;
use crate::web::{Server, WebOptions};
use crate::{Ca, CaConfig, Clock, KeyAlgorithm, Seed};

/// 2026-01-01T00:00:00Z, where the virtual clock stands.
pub const T0: i64 = 1_767_225_600;
pub const ALICE: (&str, &str) = ("CONTOSO\\alice", "Alice-Passw0rd");
/// Member of `Web Admins`.
pub const BOB: (&str, &str) = ("CONTOSO\\bob", "Bob-Passw0rd");
pub const ADMIN: (&str, &str) = ("CONTOSO\\Administrator", "Admin-Passw0rd");

/// alice, bob (in `Web Admins`) and the administrator.
pub fn users() -> Vec<User> {
    let account = |(name, password): (&str, &str)| {
        User::parse(&format!("{name}:{password}")).expect("a test account")
    };
    let mut bob = account(BOB);
    bob.groups = vec!["Web Admins".into()];
    let mut admin = account(ADMIN);
    admin.admin = true;
    vec![account(ALICE), bob, admin]
}

/// A server for `config` with the test accounts (seed 7, clock at [`T0`]).
///
/// # Panics
/// When the CA cannot be made or no loopback port is free: a test cannot go on.
pub fn start_with(config: CaConfig, opts: WebOptions) -> Server {
    let ca = Ca::new(config, Seed(7), Clock::frozen_at(T0)).expect("a CA for the test");
    Server::start(
        Arc::new(ca),
        WebOptions {
            users: users(),
            ..opts
        },
    )
    .expect("a free loopback port")
}

/// [`start_with`] over plain HTTP, as the page tests use it.
pub fn start_http(config: CaConfig) -> Server {
    start_http_limited(config, Limits::default())
}

/// [`start_http`] with HTTP.sys's connection limits set (short timeouts).
pub fn start_http_limited(config: CaConfig, limits: Limits) -> Server {
    start_with(
        config,
        WebOptions {
            tls: false,
            limits,
            ..Default::default()
        },
    )
}

/// A PEM PKCS#10 for `CN=cn`, its key seeded by the name.
///
/// # Panics
/// When `cn` does not make a distinguished name.
pub fn csr_pem(cn: &str, alg: KeyAlgorithm) -> String {
    let key = SigningKey::generate(alg, &Seed(1), cn).expect("a seeded key");
    let name = adcs_proto::names::parse_dn(&format!("CN={cn}")).expect("a CN");
    let der = adcs_proto::x509::build_request(&name, &key, vec![]).expect("a request");
    pem("CERTIFICATE REQUEST", &der)
}

/// An `application/x-www-form-urlencoded` body.
pub fn form_body(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish().into_bytes()
}
