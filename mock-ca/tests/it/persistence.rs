//! The state directory: restarts continue IDs and serials, an earlier
//! version's journal is migrated (its torn tail dropped), corruption is reported, and a process killed during a burst of
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

/// Writes `rows` (and `extra` lines) as the journal an earlier version
/// kept, beside the authority file of `from`.
fn legacy_dir(
    from: &std::path::Path,
    rows: &[mock_ca::RequestRow],
    extra: &[u8],
) -> tempfile::TempDir {
    use mock_ca::state::Record;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        from.join("authority.json"),
        dir.path().join("authority.json"),
    )
    .unwrap();
    let mut journal = Vec::new();
    for r in rows {
        journal.extend(serde_json::to_vec(&Record::Row(Box::new(r.clone()))).unwrap());
        journal.push(b'\n');
    }
    journal.extend_from_slice(extra);
    std::fs::write(dir.path().join("requests.jsonl"), journal).unwrap();
    dir
}

#[test]
fn a_journal_of_an_earlier_version_is_migrated_once_and_kept() {
    let made = tempfile::tempdir().unwrap();
    let rows = {
        let ca = Ca::open(made.path(), CaConfig::standalone(), Seed(32), clock()).unwrap();
        let a = ca.submit(&request(&Req::default()), &alice(), &[]).unwrap();
        ca.issue_pending(a.id, "CONTOSO\\officer").unwrap();
        ca.submit(&request(&Req::default()), &alice(), &[]).unwrap();
        ca.list(None)
    };
    assert_eq!(rows.len(), 3, "the TLS certificate and two requests");
    // A write cut by a crash: half a line, no newline, never acknowledged.
    let dir = legacy_dir(made.path(), &rows, b"{\"kind\":\"row\",\"id\":4,\"requ");
    let journal = std::fs::read(dir.path().join("requests.jsonl")).unwrap();
    let ca = Ca::open(dir.path(), CaConfig::standalone(), Seed(32), clock()).unwrap();
    assert_eq!(ca.list(None), rows, "every row, as it was");
    assert!(dir.path().join("ca.db").is_file());
    assert!(!dir.path().join("requests.jsonl").exists());
    assert_eq!(
        std::fs::read(dir.path().join("requests.jsonl.migrated")).unwrap(),
        journal,
        "the journal is kept as it was"
    );
    let next = ca.submit(&request(&Req::default()), &alice(), &[]).unwrap();
    assert_eq!(next.id, 4);
    drop(ca);
    let ca = Ca::open(dir.path(), CaConfig::standalone(), Seed(32), clock()).unwrap();
    assert_eq!(ca.list(None).len(), 4, "opened again from the table alone");
}

#[test]
fn a_damaged_journal_or_authority_is_reported_and_left_as_it_was() {
    let made = tempfile::tempdir().unwrap();
    let rows = {
        let ca = Ca::open(made.path(), CaConfig::standalone(), Seed(32), clock()).unwrap();
        ca.submit(&request(&Req::default()), &alice(), &[]).unwrap();
        ca.list(None)
    };
    // A damaged line in the middle is not silently skipped.
    let dir = legacy_dir(made.path(), &rows, b"garbage\n");
    let journal = dir.path().join("requests.jsonl");
    let bad = std::fs::read(&journal).unwrap();
    let e = Ca::open(dir.path(), CaConfig::standalone(), Seed(32), clock())
        .unwrap_err()
        .to_string();
    assert!(e.contains("requests.jsonl") && e.contains("line 3"), "{e}");
    assert_eq!(
        std::fs::read(&journal).unwrap(),
        bad,
        "the journal is untouched"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(!left.iter().any(|f| f.starts_with("ca.db")), "{left:?}");

    std::fs::write(made.path().join("authority.json"), b"{").unwrap();
    let e = Ca::open(made.path(), CaConfig::standalone(), Seed(32), clock())
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

#[test]
fn a_full_disk_refuses_requests_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let req = request(&Req::default());
    let web = template_attr("WebServer");
    let ca = Ca::open(dir.path(), CaConfig::default(), Seed(34), clock()).unwrap();
    let issued = ca.submit(&req, &alice(), &web).unwrap();
    let serial = ca.request(issued.id).unwrap().serial.unwrap();
    ca.bound_storage(Some(64 * 1024)).unwrap();
    let mut acknowledged = vec![issued.id];
    // Until the bound is met (a row may fit in pages already there).
    let refusal = loop {
        match ca.submit(&req, &alice(), &web) {
            Ok(s) => acknowledged.push(s.id),
            Err(e) => break e,
        }
        assert!(acknowledged.len() < 200, "64 KB never filled");
    };
    assert_eq!(refusal.hresult(), mock_ca::HResult::DISK_FULL, "{refusal}");
    assert!(refusal.to_string().contains("ca.db"), "{refusal}");
    // Nothing half-done: a refused revocation leaves the row issued.
    // A change in place may fit the pages there are: it is done, or
    // refused with nothing half-done.
    let before = ca.request(issued.id).unwrap();
    match ca.revoke(&serial, RevocationReason::KeyCompromise, "x") {
        Ok(row) => assert_eq!(ca.request(issued.id).unwrap(), row),
        Err(e) => {
            assert_eq!(e.hresult(), mock_ca::HResult::DISK_FULL, "{e}");
            assert_eq!(ca.request(issued.id).unwrap(), before);
        }
    }
    let refused_id = ca.next_request_id() - 1;
    assert!(
        ca.request(refused_id).is_none(),
        "the refused request left no row"
    );
    // Space again: the CA goes on where it was.
    ca.bound_storage(None).unwrap();
    let after = ca.submit(&req, &alice(), &web).unwrap();
    assert!(after.id > refused_id);
    acknowledged.push(after.id);
    let rows = ca.list(None);
    drop(ca);
    let ca = Ca::open(dir.path(), CaConfig::default(), Seed(34), clock()).unwrap();
    assert_eq!(ca.list(None), rows, "a restart finds the same table");
    for id in &acknowledged[1..] {
        assert_eq!(ca.request(*id).unwrap().disposition, Disposition::Issued);
    }
}

/// A small tmpfs, unmounted when dropped.
#[cfg(target_os = "linux")]
struct SmallDisk(tempfile::TempDir);

#[cfg(target_os = "linux")]
impl SmallDisk {
    /// Mounts one of `size` (as `mount -o size=` reads it), or says why not.
    fn mount(size: &str) -> Result<SmallDisk, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(SmallDisk(dir))
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.0.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "remount");
    }
}

#[cfg(target_os = "linux")]
impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// The same on a real filesystem that fills up (ENOSPC), where one can be
/// mounted: as root (CI sets ADCS_REQUIRE_TMPFS so that it must run there).
#[cfg(target_os = "linux")]
#[test]
fn a_filesystem_that_fills_up_refuses_requests_and_loses_nothing_acknowledged() {
    let disk = match SmallDisk::mount("1m") {
        Ok(d) => d,
        Err(why) if std::env::var_os("ADCS_REQUIRE_TMPFS").is_none() => {
            println!("skipped: no tmpfs could be mounted ({why})");
            return;
        }
        Err(why) => panic!("ADCS_REQUIRE_TMPFS is set but no tmpfs could be mounted: {why}"),
    };
    let state = disk.0.path().join("state");
    let req = request(&Req::default());
    let web = template_attr("WebServer");
    let ca = Ca::open(&state, CaConfig::default(), Seed(35), clock()).unwrap();
    let mut acknowledged = Vec::new();
    let refusal = loop {
        match ca.submit(&req, &alice(), &web) {
            Ok(s) => acknowledged.push(s.id),
            Err(e) => break e,
        }
        assert!(acknowledged.len() < 1000, "1 MB never filled");
    };
    assert!(
        acknowledged.len() > 3,
        "some requests fit: {}",
        acknowledged.len()
    );
    assert_eq!(refusal.hresult(), mock_ca::HResult::DISK_FULL, "{refusal}");
    let refused_id = ca.next_request_id() - 1;
    assert!(ca.request(refused_id).is_none());
    disk.resize("8m");
    let after = ca.submit(&req, &alice(), &web).unwrap();
    acknowledged.push(after.id);
    drop(ca);
    let ca = Ca::open(&state, CaConfig::default(), Seed(35), clock()).unwrap();
    for id in &acknowledged {
        assert_eq!(ca.request(*id).unwrap().disposition, Disposition::Issued);
    }
    assert!(ca.request(refused_id).is_none());
    assert_eq!(ca.next_request_id(), after.id + 1);
}

/// The same submissions into a CA in memory and one in a state directory.
fn twin_cas(dir: &std::path::Path) -> (Ca, Ca) {
    let memory = Ca::new(CaConfig::default(), Seed(36), clock()).unwrap();
    let disk = Ca::open(dir, CaConfig::default(), Seed(36), clock()).unwrap();
    let bob = mock_ca::Requester::new("CONTOSO\\bob").with_group("CONTOSO\\Domain Users");
    for ca in [&memory, &disk] {
        for i in 0..24u32 {
            let who = if i % 3 == 0 { bob.clone() } else { alice() };
            let t = ["WebServer", "WebServerApproval", "User"][i as usize % 3];
            let s = ca
                .submit(&request(&Req::default()), &who, &template_attr(t))
                .unwrap();
            if i % 5 == 0 && s.disposition == Disposition::Pending {
                ca.deny(s.id, "CONTOSO\\officer").unwrap();
            }
            if i % 4 == 0 && s.disposition == Disposition::Issued {
                let serial = ca.request(s.id).unwrap().serial.unwrap();
                ca.revoke(&serial, RevocationReason::CertificateHold, "x")
                    .unwrap();
            }
            ca.clock().advance(3600);
        }
    }
    (memory, disk)
}

#[test]
fn queries_give_the_same_rows_from_memory_and_from_the_database() {
    use mock_ca::RowQuery;
    let dir = tempfile::tempdir().unwrap();
    let (memory, disk) = twin_cas(dir.path());
    let queries = [
        RowQuery::default(),
        RowQuery::disposition(Some(Disposition::Pending)),
        RowQuery {
            dispositions: vec![Disposition::Denied, Disposition::Revoked],
            newest_first: true,
            ..Default::default()
        },
        RowQuery {
            requester: Some("contoso\\BOB".into()),
            ..Default::default()
        },
        RowQuery {
            template: Some("webserverapproval".into()),
            after: Some(5),
            limit: Some(3),
            ..Default::default()
        },
        RowQuery {
            submitted_since: Some(T0 + 5 * 3600),
            submitted_until: Some(T0 + 9 * 3600),
            before: Some(20),
            newest_first: true,
            limit: Some(2),
            ..Default::default()
        },
    ];
    for q in &queries {
        let (a, b) = (memory.query(q), disk.query(q));
        assert!(!a.is_empty(), "{q:?} selects something");
        assert_eq!(a, b, "{q:?}");
        assert_eq!(memory.count(q), disk.count(q), "{q:?}");
    }
    let bobs = memory.query(&queries[3]);
    assert!(bobs.iter().all(|r| r.requester.account == "CONTOSO\\bob"));
    let page = memory.query(&queries[4]);
    assert_eq!(page.len(), 3);
    assert!(page.windows(2).all(|w| w[0].id < w[1].id) && page[0].id > 5);
    let dated = memory.query(&queries[5]);
    assert!(dated[0].id > dated[1].id, "newest first");
    // The CRL reads the revoked rows from its own index: the same list.
    assert_eq!(
        memory.publish_crl(CrlKind::Base).unwrap(),
        disk.publish_crl(CrlKind::Base).unwrap()
    );
    assert_eq!(
        memory.request_by_serial(&bobs[0].serial.clone().unwrap_or_default()),
        disk.request_by_serial(&bobs[0].serial.clone().unwrap_or_default())
    );
}

#[test]
fn a_state_directory_is_open_in_one_place_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::open(dir.path(), CaConfig::default(), Seed(37), clock()).unwrap();
    let e = Ca::open(dir.path(), CaConfig::default(), Seed(37), clock())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("another process has this state directory open"),
        "{e}"
    );
    assert!(e.contains("ca.db"), "{e}");
    ca.submit(
        &request(&Req::default()),
        &alice(),
        &template_attr("WebServer"),
    )
    .unwrap();
    drop(ca);
    let again = Ca::open(dir.path(), CaConfig::default(), Seed(37), clock()).unwrap();
    assert_eq!(again.next_request_id(), 3, "free once the first is closed");
}
