//! The scale section of `bench`: a state directory with many requests,
//! its lookups, pages, CRL and restart.

use super::*;

/// The scale section: a CA with a state directory filled with `n`
/// requests (one in ten pending, `revoked` revoked), then lookups, the
/// pending list, a CRL and a restart, all timed.
pub(super) fn scale(n: usize, revoked: usize, runs: usize, exe: &Path) -> Result<String, String> {
    use mock_ca::{CrlKind, Disposition, RevocationReason};
    let e = |e: mock_ca::CaError| e.to_string();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let state = dir.path().join("state");
    let clock = || Clock::frozen_at(1_767_225_600);
    let rss_before = rss_mb();
    let ca = Arc::new(Ca::open(&state, CaConfig::default(), Seed(1), clock()).map_err(e)?);
    let key = SigningKey::generate(KeyAlgorithm::Rsa2048, &Seed(1), "bench/scale")
        .map_err(|e| e.to_string())?;
    let name = adcs_proto::names::parse_dn("CN=scale.contoso.test").map_err(|e| e.to_string())?;
    let csr = adcs_proto::x509::build_request(&name, &key, vec![]).map_err(|e| e.to_string())?;
    let requester = mock_ca::Requester::new("CONTOSO\\alice").with_group("Domain Users");
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let (mut issued_ids, fill_s) = fill(&ca, &csr, &requester, n, cores)?;
    issued_ids.sort_unstable();
    let serial_of = |id: u32| ca.request(id).and_then(|r| r.serial);
    let t = Instant::now();
    for &id in issued_ids.iter().take(revoked) {
        let serial = serial_of(id).ok_or_else(|| format!("request {id} has no serial"))?;
        ca.revoke(
            &serial,
            RevocationReason::KeyCompromise,
            "CONTOSO\\Administrator",
        )
        .map_err(e)?;
    }
    let revoke_s = t.elapsed().as_secs_f64();
    let rss_after = rss_mb();
    let rows = ca.next_request_id() as usize - 1;

    // Lookups at random places (a fixed stride through the table).
    let lookups = 10_000;
    let by_id = per_call_us(lookups, |i| {
        let id = 1 + ((i * 7919) % rows) as u32;
        std::hint::black_box(ca.request(id));
    });
    let serials: Vec<String> = (0..lookups)
        .filter_map(|i| serial_of(issued_ids[(i * 7919) % issued_ids.len().max(1)]))
        .collect();
    let by_serial = per_call_us(serials.len(), |i| {
        std::hint::black_box(ca.request_by_serial(&serials[i]));
    });
    let pending = mock_ca::RowQuery::disposition(Some(Disposition::Pending));
    let page = |mut q: mock_ca::RowQuery| {
        q.newest_first = true;
        q.limit = Some(100);
        q
    };
    let alice = mock_ca::RowQuery {
        requester: Some("CONTOSO\\alice".into()),
        ..Default::default()
    };
    let approval = mock_ca::RowQuery {
        template: Some("WebServerApproval".into()),
        ..Default::default()
    };
    let mut pending_ms = Vec::new();
    let mut pending_n = 0;
    let mut page_ms = Vec::new();
    let mut count_ms = Vec::new();
    let mut requester_ms = Vec::new();
    let mut template_ms = Vec::new();
    let mut crl_ms = Vec::new();
    let mut crl_entries = 0;
    let mut crl_bytes = 0;
    let ms = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64() * 1000.0
    };
    for _ in 0..runs {
        pending_ms.push(ms(&mut || pending_n = ca.query(&pending).len()));
        page_ms.push(ms(&mut || {
            std::hint::black_box(ca.query(&page(pending.clone())));
        }));
        count_ms.push(ms(&mut || {
            std::hint::black_box(ca.count(&pending));
        }));
        requester_ms.push(ms(&mut || {
            std::hint::black_box(ca.query(&page(alice.clone())));
        }));
        template_ms.push(ms(&mut || {
            std::hint::black_box(ca.query(&page(approval.clone())));
        }));
        let t = Instant::now();
        let crl = ca.publish_crl(CrlKind::Base).map_err(e)?;
        crl_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        crl_bytes = crl.len();
        crl_entries = <x509_cert::crl::CertificateList as der::Decode>::from_der(&crl)
            .map_err(|e| e.to_string())?
            .tbs_cert_list
            .revoked_certificates
            .map_or(0, |v| v.len());
    }
    drop(ca);
    let database_mb = ["ca.db", "ca.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(state.join(f)).ok())
        .map(|m| m.len() as f64 / 1e6)
        .sum::<f64>();
    let mut reopen_ms = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let again = Ca::open(&state, CaConfig::default(), Seed(1), clock()).map_err(e)?;
        reopen_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        if again.next_request_id() as usize != rows + 1 {
            return Err(format!(
                "after a restart the CA holds {} requests, not {rows}",
                again.next_request_id() - 1
            ));
        }
    }
    let (restart_ms, rss_served) = restart_serve(exe, dir.path(), &state, runs)?;
    Ok(format!(
        "\n## Scale\n\nA CA with a state directory filled with {rows} requests through `Ca::submit` from {cores} threads (one in ten pending, {revoked} revoked). Targets: `serve` restarted over the directory under 1 GB resident (aim: 100 MB) and ready in under 1 s; lookups, the pending list and a CRL in milliseconds. Times are medians of {runs} runs.\n\n| figure | measured |\n| --- | ---: |\n| fill ({rows} submissions, each committed to disk) | {fill_s:.1} s ({:.0}/s) |\n| revoke {revoked} | {revoke_s:.1} s |\n| resident memory of this process before / filled | {} / {} |\n| resident memory of `serve` restarted over the directory | {} |\n| database on disk (`ca.db` and its WAL) | {database_mb:.0} MB |\n| lookup by ID | {by_id:.1} µs |\n| lookup by serial | {by_serial:.1} µs |\n| list pending, all {pending_n} rows | {:.1} ms |\n| list pending, newest 100 / count them all | {:.2} ms / {:.1} ms |\n| alice's newest 100 / WebServerApproval's newest 100 | {:.2} ms / {:.2} ms |\n| base CRL ({crl_entries} entries, {:.0} KB) | {:.1} ms |\n| reopen in process (`Ca::open`) | {:.0} ms |\n| restart: spawn `serve --state-dir` to its ready file | {:.0} ms |\n",
        rows as f64 / fill_s,
        fmt_mb(rss_before),
        fmt_mb(rss_after),
        fmt_mb(rss_served),
        median(pending_ms),
        median(page_ms),
        median(count_ms),
        median(requester_ms),
        median(template_ms),
        crl_bytes as f64 / 1024.0,
        median(crl_ms),
        median(reopen_ms),
        median(restart_ms),
    ))
}

/// Fills `ca` with `n` submissions from `cores` threads (one in ten for the
/// approval template): the issued IDs and the seconds it took.
fn fill(
    ca: &Arc<Ca>,
    csr: &[u8],
    requester: &mock_ca::Requester,
    n: usize,
    cores: usize,
) -> Result<(Vec<u32>, f64), String> {
    use mock_ca::Disposition;
    let next = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    let fillers: Vec<_> = (0..cores)
        .map(|_| {
            let (ca, next, csr, requester) =
                (ca.clone(), next.clone(), csr.to_vec(), requester.clone());
            std::thread::spawn(move || -> Result<Vec<u32>, String> {
                let mut issued = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if i >= n {
                        return Ok(issued);
                    }
                    let template = if i % 10 == 0 {
                        "WebServerApproval"
                    } else {
                        "WebServer"
                    };
                    let attrs = [("CertificateTemplate".to_string(), template.to_string())];
                    let sub = ca
                        .submit(&csr, &requester, &attrs)
                        .map_err(|e| e.to_string())?;
                    if sub.disposition == Disposition::Issued {
                        issued.push(sub.id);
                    }
                }
            })
        })
        .collect();
    let mut issued_ids = Vec::new();
    for f in fillers {
        issued_ids.extend(f.join().map_err(|_| "a filler panicked".to_string())??);
    }
    let fill_s = t.elapsed().as_secs_f64();
    Ok((issued_ids, fill_s))
}

/// `serve --state-dir` started over `state` `runs` times, as a user sees
/// it: milliseconds to its ready file, and its memory once ready.
fn restart_serve(
    exe: &Path,
    dir: &Path,
    state: &Path,
    runs: usize,
) -> Result<(Vec<f64>, Option<f64>), String> {
    let mut restart_ms = Vec::new();
    let mut rss_served = None;
    for _ in 0..runs {
        let ready = dir.join("ready.json");
        let _ = std::fs::remove_file(&ready);
        let t = Instant::now();
        let mut child = std::process::Command::new(exe)
            .args(["serve", "--http", "--ready-file"])
            .arg(&ready)
            .arg("--state-dir")
            .arg(state)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", exe.display()))?;
        while !ready.exists() && t.elapsed() < Duration::from_secs(120) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let ok = ready.exists();
        restart_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        rss_served = rss_of(&child.id().to_string());
        let _ = child.kill();
        let _ = child.wait();
        if !ok {
            return Err("serve over the scale state directory was not ready in 120 s".into());
        }
    }
    Ok((restart_ms, rss_served))
}
