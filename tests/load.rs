//! Load, at CI size: concurrent clients submitting (issued at once, or
//! pending for a certificate manager) while an officer issues, denies and
//! revokes. No error, no lost or duplicated request ID, and every retrieve
//! returns exactly the bytes that were issued. (The full size is a bench.)

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use adcs_client::certsrv::{Outcome, WebEnrollment};
use adcs_client::http::{Credentials, Trust};
use common::{csr_pem, start_with, ALICE};
use mock_ca::web::WebOptions;
use mock_ca::{CaConfig, Disposition, KeyAlgorithm, RevocationReason};

const CLIENTS: usize = 12;
/// What a client saw of one submission: its ID, and the certificate it was
/// handed when issued at once.
type Seen = (u32, Option<Vec<u8>>);
const PER_CLIENT: usize = 20;

#[test]
fn concurrent_submissions_and_officer_actions_lose_nothing() {
    let s = start_with(
        CaConfig::default(),
        WebOptions {
            tls: false,
            ..WebOptions::default()
        },
    );
    let url = s.certsrv_url();
    let csr = csr_pem("load.contoso.test", KeyAlgorithm::Rsa2048);
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let ca = Arc::clone(s.ca());
    let officer = {
        let (ca, done) = (ca.clone(), done.clone());
        std::thread::spawn(move || {
            let mut acted = 0;
            let mut revoked = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                for r in ca.list(Some(Disposition::Pending)) {
                    if r.id % 2 == 0 {
                        ca.issue_pending(r.id, "CONTOSO\\Administrator").unwrap();
                    } else {
                        ca.deny(r.id, "CONTOSO\\Administrator").unwrap();
                    }
                    acted += 1;
                }
                if let Some(r) = ca
                    .list(Some(Disposition::Issued))
                    .into_iter()
                    .find(|r| r.id % 5 == 0 && r.id > 1)
                {
                    ca.revoke(
                        r.serial.as_deref().unwrap(),
                        RevocationReason::Superseded,
                        "CONTOSO\\Administrator",
                    )
                    .unwrap();
                    revoked += 1;
                }
                if finished {
                    return (acted, revoked);
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (url, csr, seen) = (url.clone(), csr.clone(), seen.clone());
            std::thread::spawn(move || {
                let creds = Credentials::Basic {
                    user: ALICE.0.into(),
                    password: ALICE.1.into(),
                };
                let mut web = WebEnrollment::new(&url, Trust::AnyCertificate, creds).unwrap();
                for i in 0..PER_CLIENT {
                    let template = if (c + i) % 3 == 0 {
                        "WebServerApproval"
                    } else {
                        "WebServer"
                    };
                    let attrs = vec![("CertificateTemplate".to_string(), template.to_string())];
                    let entry = match web.submit(&csr, &attrs).unwrap() {
                        Outcome::Issued { id, certificate } => (id, Some(certificate)),
                        Outcome::Pending { id } => (id, None),
                        // Issued, then revoked by the officer before the download.
                        Outcome::Denied {
                            id: Some(id),
                            message,
                            ..
                        } if message.starts_with("Revoked by") => (id, None),
                        other => panic!("client {c}, submission {i}: {other:?}"),
                    };
                    seen.lock().unwrap().push(entry);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let (acted, revoked) = officer.join().unwrap();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), CLIENTS * PER_CLIENT);
    let ids: BTreeSet<u32> = seen.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), seen.len(), "no request ID was handed out twice");
    let expected: BTreeSet<u32> = (2..2 + seen.len() as u32).collect();
    assert_eq!(ids, expected, "IDs run on from request 1 without a gap");
    assert_eq!(ca.next_request_id(), 2 + seen.len() as u32);
    assert!(
        acted > 0 && revoked > 0,
        "the officer acted ({acted}) and revoked ({revoked})"
    );

    // Every retrieve returns exactly what was issued.
    let mut web = WebEnrollment::new(
        &url,
        Trust::AnyCertificate,
        Credentials::Basic {
            user: ALICE.0.into(),
            password: ALICE.1.into(),
        },
    )
    .unwrap();
    let given: BTreeMap<u32, Option<Vec<u8>>> = seen.into_iter().collect();
    let mut serials = BTreeSet::new();
    for (id, handed) in &given {
        let row = ca.request(*id).expect("no request is lost");
        if let Some(cert) = handed {
            assert_eq!(row.certificate.as_ref(), Some(cert), "request {id}");
        }
        match row.disposition {
            Disposition::Issued => match web.retrieve(*id).unwrap() {
                Outcome::Issued { certificate, .. } => {
                    assert_eq!(Some(&certificate), row.certificate.as_ref(), "request {id}")
                }
                other => panic!("request {id}: {other:?}"),
            },
            Disposition::Revoked | Disposition::Denied => {}
            other => panic!("request {id} is still {other:?}"),
        }
        if let Some(s) = row.serial {
            assert!(serials.insert(s), "request {id}: serial reused");
        }
    }
}
