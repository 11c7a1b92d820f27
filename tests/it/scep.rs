//! The client toolkit's SCEP enrollment against the mock's NDES: a device
//! with a password from mscep_admin, a refused password, and a pending
//! request polled until a manager issues it.

use std::sync::Arc;
use std::time::Duration;

use adcs_client::http::{Credentials, Trust};
use adcs_client::scep::{enroll_device, ChallengeSource, DeviceError, DeviceRequest, Polling};
use adcs_proto::scep::FailInfo;
use mock_ca::ndes::NdesConfig;
use mock_ca::web::{Server, WebOptions};
use mock_ca::{Ca, CaConfig, Clock, Seed};

use crate::support::*;

fn ndes_server(ndes: NdesConfig) -> Server {
    let ca = Ca::new(CaConfig::default(), Seed(7), Clock::frozen_at(T0)).unwrap();
    let opts = WebOptions {
        tls: false,
        users: users(),
        ndes: Some(ndes),
        ..Default::default()
    };
    Server::start(Arc::new(ca), opts).unwrap()
}

fn device(s: &Server, subject: &str, challenge: ChallengeSource) -> DeviceRequest {
    DeviceRequest {
        url: s.ndes_url().unwrap(),
        trust: Trust::AnyCertificate,
        timeout: Duration::from_secs(30),
        subject: subject.into(),
        challenge,
        key_bits: 2048,
        cipher: None,
        polling: Polling {
            interval: Duration::from_millis(20),
            max_wait: Duration::from_secs(20),
        },
        seed: Some(Seed(9)),
        now: T0,
    }
}

#[test]
fn a_device_enrolls_with_a_password_from_mscep_admin() {
    let s = ndes_server(NdesConfig::default());
    let admin = ChallengeSource::Admin {
        url: s.ndes_admin_url().unwrap(),
        credentials: Credentials::Ntlm {
            user: ALICE.0.into(),
            password: ALICE.1.into(),
            negotiate_label: false,
        },
    };
    let done = enroll_device(&device(&s, "CN=router01.contoso.test, O=Contoso", admin)).unwrap();
    let ca = s.ca().ca_certificate(0).unwrap();
    assert_eq!(done.ca.ca, ca);
    let spki = |c: &[u8]| {
        use der::{Decode, Encode};
        let c = x509_cert::Certificate::from_der(c).unwrap();
        c.tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .unwrap()
    };
    assert!(adcs_proto::x509::verify_signed(
        &done.certificate,
        &spki(&ca)
    ));
    assert_eq!(spki(&done.certificate), done.key.spki_der());
    let journal = s.journal();
    let last = journal.last().unwrap();
    let detail = last.detail.as_deref().unwrap();
    assert!(
        detail.starts_with("PKCSReq ") && detail.ends_with(" SUCCESS"),
        "{detail}"
    );
    assert!(detail.contains(&done.transaction_id), "{detail}");
}

#[test]
fn a_wrong_password_is_refused_with_bad_request() {
    let s = ndes_server(NdesConfig::default());
    let given = ChallengeSource::Given("0123456789ABCDEF".into());
    let e = enroll_device(&device(&s, "CN=router02", given)).unwrap_err();
    assert!(
        matches!(e, DeviceError::Refused(FailInfo::BadRequest)),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "the SCEP server refused the request: failInfo badRequest (2)"
    );
}

#[test]
fn a_pending_request_is_polled_until_issued() {
    let s = ndes_server(NdesConfig {
        general_purpose_template: "WebServerApproval".into(),
        enforce_password: false,
        ..Default::default()
    });
    let req = device(&s, "CN=vpn01.contoso.test", ChallengeSource::None);
    // The officer issues once NDES has answered PENDING, so the device polls.
    let (done, id) = std::thread::scope(|scope| {
        let officer = scope.spawn(|| {
            for _ in 0..2000 {
                let answered = s.journal().into_iter().find_map(|e| {
                    let pending = e.detail.as_deref()?.ends_with(" PENDING");
                    pending.then_some(e.request_id?)
                });
                if let Some(id) = answered {
                    s.ca().issue_pending(id, "CONTOSO\\Administrator").unwrap();
                    return id;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            panic!("NDES never answered PENDING");
        });
        let done = enroll_device(&req).unwrap();
        (done, officer.join().unwrap())
    });
    assert_eq!(
        s.ca().request(id).unwrap().certificate,
        Some(done.certificate)
    );
    let polls = s
        .journal()
        .iter()
        .filter(|e| {
            e.detail
                .as_deref()
                .is_some_and(|d| d.starts_with("CertPoll "))
        })
        .count();
    assert!(polls >= 1, "no CertPoll in the journal");
}

#[test]
fn req_scep_writes_key_and_certificate_or_exits_4_when_refused() {
    use std::process::Command;
    let s = ndes_server(NdesConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
    let run = |extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_adcs-harness"));
        cmd.args([
            "req",
            "scep",
            "--url",
            &s.ndes_url().unwrap(),
            "--subject",
            "CN=router01",
        ])
        .args(["--seed", "3", "--key-out", key.to_str().unwrap()])
        .args(["--out", cert.to_str().unwrap()])
        .args(extra)
        .env("ADCS_HARNESS_PASSWORD", ALICE.1);
        cmd.output().unwrap()
    };
    let admin = s.ndes_admin_url().unwrap();
    let ok = run(&["--admin-url", &admin, "--user", ALICE.0]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let written = std::fs::read_to_string(&cert).unwrap();
    let der = adcs_proto::encoding::pem_blocks(&written, "CERTIFICATE").remove(0);
    assert_eq!(
        s.ca()
            .list(Some(mock_ca::Disposition::Issued))
            .last()
            .unwrap()
            .certificate,
        Some(der)
    );
    assert!(std::fs::read_to_string(&key)
        .unwrap()
        .contains("BEGIN PRIVATE KEY"));
    std::fs::remove_file(&cert).unwrap();
    let refused = run(&["--challenge", "0123456789ABCDEF"]);
    assert_eq!(refused.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("failInfo badRequest (2)"));
    assert!(!cert.exists());
}
