//! The state directory: restarts continue IDs and serials, torn writes are
//! dropped, corruption is reported, and a process killed during a burst of
//! submissions loses nothing it acknowledged.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use crate::support::*;
use mock_ca::{Ca, CaConfig, CrlKind, Disposition, RevocationReason, Seed};

#[test]
fn restart_keeps_rows_keys_crls_and_continues_ids() {
    let dir = tempfile::tempdir().unwrap();
    let req = request(&Req::default());
    let (root, issued, serial) = {
        let ca = Ca::open(dir.path(), CaConfig::standalone(), Seed(31), clock()).unwrap();
        let a = ca.submit(&req, &alice(), &[]).unwrap();
        let issued = ca.issue_pending(a.id, "CONTOSO\\officer").unwrap();
        let serial = ca.request(a.id).unwrap().serial.unwrap();
        ca.revoke(&serial, RevocationReason::Superseded, "x")
            .unwrap();
        ca.publish_crl(CrlKind::Base).unwrap();
        ca.renew_ca(true).unwrap();
        ca.submit(&req, &alice(), &[]).unwrap();
        (ca.root_certificate(), issued.certificate.unwrap(), serial)
    };
    // Reopened with a different configuration and seed: the stored ones win.
    let ca = Ca::open(dir.path(), CaConfig::default(), Seed(99), clock()).unwrap();
    assert_eq!(ca.seed(), Seed(31));
    assert_eq!(ca.config().mode, mock_ca::CaMode::Standalone);
    assert_eq!(ca.root_certificate(), root);
    assert_eq!(ca.n_renewals(), 1);
    let row = ca.request_by_serial(&serial).unwrap();
    assert_eq!(row.certificate.as_deref(), Some(&issued[..]));
    assert_eq!(row.disposition, Disposition::Revoked);
    assert_eq!(ca.list(Some(Disposition::Pending)).len(), 1);
    assert_eq!(ca.next_request_id(), 4);
    let s = ca.submit(&req, &alice(), &[]).unwrap();
    assert_eq!(s.id, 4);
    // CRL numbering continues from the stored CRLs.
    assert_eq!(
        crl_number(&ca.crl(0, CrlKind::Base).unwrap()),
        1,
        "the stored CRL is served"
    );
    let current = ca.publish_crl(CrlKind::Base).unwrap();
    assert_eq!(crl_number(&current), 1, "the renewed key's first CRL");
    assert_eq!(
        crl_number(&ca.crl(0, CrlKind::Base).unwrap()),
        2,
        "key 0's numbering continues"
    );
}

fn crl_number(der: &[u8]) -> u64 {
    use x509_parser::prelude::FromDer;
    let (_, c) = x509_parser::revocation_list::CertificateRevocationList::from_der(der).unwrap();
    c.crl_number()
        .unwrap()
        .to_u64_digits()
        .first()
        .copied()
        .unwrap_or(0)
}

#[test]
fn torn_last_line_is_dropped_and_corruption_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    {
        let ca = Ca::open(dir.path(), CaConfig::standalone(), Seed(32), clock()).unwrap();
        ca.submit(&request(&Req::default()), &alice(), &[]).unwrap();
    }
    let journal = dir.path().join("requests.jsonl");
    let good = std::fs::read(&journal).unwrap();
    // A write cut by a crash: half a line, no newline.
    let mut torn = good.clone();
    torn.extend_from_slice(b"{\"kind\":\"row\",\"id\":3,\"requ");
    std::fs::write(&journal, &torn).unwrap();
    let ca = Ca::open(dir.path(), CaConfig::standalone(), Seed(32), clock()).unwrap();
    assert_eq!(ca.list(None).len(), 2);
    assert_eq!(
        std::fs::read(&journal).unwrap(),
        good,
        "the torn tail was cut off"
    );
    assert_eq!(
        ca.submit(&request(&Req::default()), &alice(), &[])
            .unwrap()
            .id,
        3
    );
    drop(ca);

    // A damaged line in the middle is not silently skipped.
    let mut bad = std::fs::read(&journal).unwrap();
    bad.splice(0..0, b"garbage\n".iter().copied());
    std::fs::write(&journal, &bad).unwrap();
    let e = Ca::open(dir.path(), CaConfig::standalone(), Seed(32), clock())
        .unwrap_err()
        .to_string();
    assert!(e.contains("requests.jsonl") && e.contains("line 1"), "{e}");
    // ... and the file was left as it was.
    assert_eq!(std::fs::read(&journal).unwrap(), bad);

    std::fs::write(dir.path().join("authority.json"), b"{").unwrap();
    let e = Ca::open(dir.path(), CaConfig::standalone(), Seed(32), clock())
        .unwrap_err()
        .to_string();
    assert!(e.contains("authority.json"), "{e}");
}

/// The child side of the crash test: submits as fast as it can and prints
/// `ACK <id> <serial>` only after each submission returned.
#[test]
fn crash_child_burst() {
    let Some(dir) = std::env::var_os("ADCS_CRASH_CHILD_DIR") else {
        return;
    };
    let ca = Ca::open(
        std::path::Path::new(&dir),
        CaConfig::default(),
        Seed(33),
        mock_ca::Clock::real(),
    )
    .unwrap();
    let req = request(&Req::default());
    let mut out = std::io::stdout();
    for _ in 0..100_000 {
        let s = ca
            .submit(&req, &alice(), &template_attr("WebServer"))
            .unwrap();
        let serial = ca.request(s.id).unwrap().serial.unwrap();
        writeln!(out, "ACK {} {serial}", s.id).unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn killed_during_a_burst_restarts_with_every_acknowledged_request() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: Vec<(u32, String)> = Vec::new();
    for round in 0..3 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "persistence::crash_child_burst",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("ADCS_CRASH_CHILD_DIR", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let target = 20 + round * 7;
        let mut n = 0;
        while let Some(Ok(line)) = lines.next() {
            if let Some(rest) = line.strip_prefix("ACK ") {
                let (id, serial) = rest.split_once(' ').unwrap();
                acked.push((id.parse().unwrap(), serial.to_string()));
                n += 1;
                if n == target {
                    break;
                }
            }
        }
        child.kill().unwrap(); // SIGKILL on Unix, TerminateProcess on Windows
        child.wait().unwrap();
        assert_eq!(
            n, target,
            "round {round}: the child acknowledged too few requests"
        );
    }
    let ca = Ca::open(
        dir.path(),
        CaConfig::default(),
        Seed(33),
        mock_ca::Clock::real(),
    )
    .unwrap();
    for (id, serial) in &acked {
        let row = ca
            .request(*id)
            .unwrap_or_else(|| panic!("acknowledged request {id} was lost"));
        assert_eq!(row.disposition, Disposition::Issued);
        assert_eq!(row.serial.as_deref(), Some(serial.as_str()), "request {id}");
        assert_eq!(ca.request_by_serial(serial).unwrap().id, *id);
    }
    let ids: Vec<u32> = acked.iter().map(|a| a.0).collect();
    let mut sorted = ids.clone();
    sorted.dedup();
    assert_eq!(ids.len(), sorted.len(), "no ID was handed out twice");
    let next = ca
        .submit(
            &request(&Req::default()),
            &alice(),
            &template_attr("WebServer"),
        )
        .unwrap();
    assert!(
        next.id > *ids.iter().max().unwrap(),
        "IDs continue after the restart"
    );
}

#[test]
fn template_changes_take_effect_at_once_and_survive_a_restart_but_not_a_reset() {
    let dir = tempfile::tempdir().unwrap();
    let req = request(&Req::default());
    let copy_oid = {
        let ca = Ca::open(dir.path(), enterprise(), Seed(33), clock()).unwrap();
        let copy = ca
            .duplicate_template("WebServer", "ScomServer", "SCOM Server")
            .unwrap();
        assert!(!copy.published && copy.schema_version == 2);
        assert_eq!((copy.major_version, copy.minor_version), (100, 2));
        assert_ne!(
            copy.template_oid(),
            ca.templates()[0].template_oid(),
            "a duplicate has an OID of its own"
        );
        // Not yet published: the CA refuses it.
        let s = ca
            .submit(&req, &alice(), &template_attr("ScomServer"))
            .unwrap();
        assert_eq!(
            (s.disposition, s.status),
            (Disposition::Denied, mock_ca::HResult::UNSUPPORTED_CERT_TYPE)
        );
        ca.publish_template("ScomServer", true).unwrap();
        let s = ca
            .submit(&req, &alice(), &template_attr("ScomServer"))
            .unwrap();
        assert_eq!(s.disposition, Disposition::Issued, "{}", s.message);
        // A stricter minimum key size applies to the next request.
        let mut strict = ca.template("ScomServer").unwrap();
        strict.min_key_size = 4096;
        ca.put_template(strict).unwrap();
        let s = ca
            .submit(&req, &alice(), &template_attr("ScomServer"))
            .unwrap();
        assert_eq!(s.status, mock_ca::HResult::KEY_LENGTH);
        // Duplicate names and invalid EKUs are refused and change nothing.
        assert!(ca.duplicate_template("User", "scomserver", "x").is_err());
        let mut bad = ca.templates()[0].clone();
        bad.ekus.push("not an oid".into());
        assert!(ca.put_template(bad).is_err());
        assert!(ca.templates()[0].ekus.iter().all(|e| e != "not an oid"));
        copy.template_oid()
    };
    let ca = Ca::open(dir.path(), enterprise(), Seed(33), clock()).unwrap();
    let t = ca
        .template("ScomServer")
        .expect("the duplicate survives a restart");
    assert!(t.published && t.min_key_size == 4096 && t.template_oid() == copy_oid);
    ca.reset().unwrap();
    assert!(ca.template("ScomServer").is_none());
    drop(ca);
    let ca = Ca::open(dir.path(), enterprise(), Seed(33), clock()).unwrap();
    assert!(ca.template("ScomServer").is_none());
}
