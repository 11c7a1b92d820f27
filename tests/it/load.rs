//! Load, at CI size: concurrent clients submitting (issued at once, or
//! pending for a certificate manager) while an officer on the control plane
//! issues, denies and revokes. No error, no lost or duplicated request ID,
//! IDs without a gap, and every retrieve returns exactly the bytes that
//! were issued. (`adcs-harness bench` runs the same at full size.)

use std::sync::atomic::AtomicBool;

use crate::support::{start_with, ADMIN, ALICE};
use adcs_harness::load::{self, LoadOptions, Target};
use mock_ca::web::WebOptions;
use mock_ca::CaConfig;

#[test]
fn concurrent_submissions_and_officer_actions_lose_nothing() {
    let s = start_with(
        CaConfig::default(),
        WebOptions {
            tls: false,
            ..WebOptions::default()
        },
    );
    let target = Target {
        certsrv_url: s.certsrv_url(),
        control_url: s.control_url(),
        trust: adcs_client::http::Trust::AnyCertificate,
        user: (ALICE.0.into(), ALICE.1.into()),
        officer: (ADMIN.0.into(), ADMIN.1.into()),
    };
    let opts = LoadOptions {
        clients: 12,
        submissions: 240,
        ..LoadOptions::default()
    };
    let ack = load::drive(&target, &opts, &AtomicBool::new(false));
    assert_eq!(ack.errors, Vec::<String>::new());
    assert_eq!(ack.submissions.len(), opts.submissions);
    assert!(
        !ack.issued.is_empty() && !ack.denied.is_empty() && !ack.revoked.is_empty(),
        "the officer issued {}, denied {}, revoked {}",
        ack.issued.len(),
        ack.denied.len(),
        ack.revoked.len()
    );
    let v = load::verify(&target, &ack, true).unwrap();
    let expected: std::collections::BTreeSet<u32> = (2..2 + opts.submissions as u32).collect();
    assert_eq!(v.ids, expected, "IDs run on from request 1 without a gap");
    assert_eq!(s.ca().next_request_id(), 2 + opts.submissions as u32);
    assert_eq!(v.requests, opts.submissions);
    assert_eq!(v.pending, 0);
    assert_eq!(v.revoked, ack.revoked.len());
    assert_eq!(v.denied, ack.denied.len());
    assert_eq!(v.issued + v.revoked + v.denied, v.requests);
}

/// The check itself catches what it claims to: a lost request, a changed
/// certificate, an unacknowledged revocation.
#[test]
fn the_check_fails_on_a_lost_or_altered_request() {
    let s = start_with(
        CaConfig::default(),
        WebOptions {
            tls: false,
            ..WebOptions::default()
        },
    );
    let target = Target {
        certsrv_url: s.certsrv_url(),
        control_url: s.control_url(),
        trust: adcs_client::http::Trust::AnyCertificate,
        user: (ALICE.0.into(), ALICE.1.into()),
        officer: (ADMIN.0.into(), ADMIN.1.into()),
    };
    let opts = LoadOptions {
        clients: 2,
        submissions: 12,
        revoke_every: 2,
        ..LoadOptions::default()
    };
    let ack = load::drive(&target, &opts, &AtomicBool::new(false));
    assert!(ack.errors.is_empty(), "{:?}", ack.errors);
    load::verify(&target, &ack, true).unwrap();

    let mut lost = ack.clone();
    lost.submissions.push((999, None));
    let e = load::verify(&target, &lost, true).unwrap_err();
    assert!(
        e.0.contains("request 999 was acknowledged but is gone"),
        "{e}"
    );

    let mut altered = ack.clone();
    let handed = altered
        .submissions
        .iter_mut()
        .find_map(|(_, c)| c.as_mut())
        .unwrap();
    handed[40] ^= 1;
    let e = load::verify(&target, &altered, true).unwrap_err();
    assert!(e.0.contains("not the one handed over"), "{e}");

    let mut twice = ack.clone();
    twice.submissions.push(twice.submissions[0].clone());
    assert!(load::verify(&target, &twice, true)
        .unwrap_err()
        .0
        .contains("handed out twice"));

    let mut unrevoked = ack.clone();
    let revoked = *unrevoked.revoked.iter().next().unwrap();
    unrevoked.revoked.remove(&revoked);
    let e = load::verify(&target, &unrevoked, true).unwrap_err();
    assert!(
        e.0.contains(&format!("request {revoked} is revoked")),
        "{e}"
    );
    // Without `exact`, an unacknowledged revocation is allowed (a crash
    // may have cut the officer's answer).
    load::verify(&target, &unrevoked, false).unwrap();
}
