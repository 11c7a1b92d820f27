//! `adcs-harness bench`: what the harness costs, measured against what
//! bounds it. Issuance is compared with the machine's own RSA-2048 signing
//! rate measured in the same run, start-up with the ready file, and the
//! client flow with the key generation it contains. The report is Markdown
//! for BENCHMARKS.md.

mod protocols;
mod scale;
mod wrk;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use adcs_client::flow::{self, CaEndpoint, EnrollOptions, NewOptions};
use adcs_client::http::{Credentials, Trust};
use adcs_client::inf::{KeyChoice, RequestSpec};
use adcs_client::store::Store;
use mock_ca::keys::SigningKey;
use mock_ca::web::{Server, WebOptions};
use mock_ca::{Ca, CaConfig, Clock, KeyAlgorithm, Seed};

/// How long to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Seconds per throughput cell.
    pub seconds: f64,
    /// Client counts for the throughput table.
    pub clients: Vec<usize>,
    /// Runs per start-up and client-flow figure (the median is reported).
    pub runs: usize,
    /// Requests in the scale database (0 skips the section).
    pub scale: usize,
    /// Of those, revoked (for the CRL figure); `None`: one in ten.
    pub scale_revoked: Option<usize>,
    /// Submissions in the full-size load (0 skips the section).
    pub load: usize,
    /// Concurrent clients of the load.
    pub load_clients: usize,
    /// Client threads for the protocol rows (0 skips the section).
    pub protocol_clients: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            seconds: 3.0,
            clients: vec![1, 8, 64],
            runs: 5,
            scale: 100_000,
            scale_revoked: None,
            load: 10_000,
            load_clients: 64,
            protocol_clients: 8,
        }
    }
}

/// `name` on `PATH`, if it is there (the programs the bench drives).
fn on_path(name: &str) -> Option<std::path::PathBuf> {
    let exe = if cfg!(windows) {
        format!("{name}.exe")
    } else {
        name.to_string()
    };
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(&exe))
        .find(|p| p.is_file())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// RSA-2048 signatures per second with every core signing (the CA's own
/// signer, so the same code path as issuance).
fn signing_rate(seconds: f64) -> Result<f64, String> {
    let key = Arc::new(
        SigningKey::generate(KeyAlgorithm::Rsa2048, &Seed(1), "bench/signing")
            .map_err(|e| e.to_string())?,
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..cores)
        .map(|i| {
            let (key, stop, count) = (key.clone(), stop.clone(), count.clone());
            std::thread::spawn(move || {
                let msg = format!("tbs {i}").into_bytes();
                while !stop.load(Ordering::Relaxed) {
                    std::hint::black_box(key.sign(&msg));
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    Ok(count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

/// A PKCS#10 (DER) for `cn`, signed by the bench's request key (from
/// seed 1, so the key cache has it after the first run).
fn request(cn: &str) -> Result<Vec<u8>, String> {
    let key = SigningKey::generate(KeyAlgorithm::Rsa2048, &Seed(1), "bench/request")
        .map_err(|e| e.to_string())?;
    let name = adcs_proto::names::parse_dn(&format!("CN={cn}")).map_err(|e| e.to_string())?;
    adcs_proto::x509::build_request(&name, &key, vec![]).map_err(|e| e.to_string())
}

/// The default enterprise CA (seed 1, clock frozen) behind a server with
/// the pages over HTTPS or HTTP.
fn bench_server(tls: bool) -> Result<Server, String> {
    bench_server_with(WebOptions {
        tls,
        ..WebOptions::default()
    })
}

/// The same CA behind a server with `opts`.
fn bench_server_with(opts: WebOptions) -> Result<Server, String> {
    let ca = Ca::new(
        CaConfig::default(),
        Seed(1),
        Clock::frozen_at(1_767_225_600),
    )
    .map_err(|e| e.to_string())?;
    Server::start(Arc::new(ca), opts).map_err(|e| e.to_string())
}

fn credentials(ntlm: bool) -> Credentials {
    let (user, password) = (
        "CONTOSO\\alice".to_string(),
        mock_ca::web::directory::DEFAULT_USER_PASSWORD.to_string(),
    );
    if ntlm {
        Credentials::Ntlm {
            user,
            password,
            negotiate_label: false,
        }
    } else {
        Credentials::Basic { user, password }
    }
}

/// Certificates per second that `clients` threads get issued (submit and
/// download), each on its own signed-in connection.
fn throughput(server: &Server, ntlm: bool, clients: usize, seconds: f64) -> Result<f64, String> {
    let csr = adcs_proto::encoding::pem("CERTIFICATE REQUEST", &request("bench.contoso.test")?);
    let attrs = vec![("CertificateTemplate".to_string(), "WebServer".to_string())];
    let endpoint = CaEndpoint {
        url: server.certsrv_url(),
        trust: Trust::Roots(vec![server.ca().root_certificate()]),
        credentials: credentials(ntlm),
        timeout: adcs_client::http::DEFAULT_TIMEOUT,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let issued = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (endpoint, stop, issued, errors, csr, attrs) = (
                endpoint.clone(),
                stop.clone(),
                issued.clone(),
                errors.clone(),
                csr.clone(),
                attrs.clone(),
            );
            std::thread::spawn(move || {
                let Ok(mut web) = endpoint.connect() else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                while !stop.load(Ordering::Relaxed) {
                    match web.submit(&csr, &attrs) {
                        Ok(adcs_client::certsrv::Outcome::Issued { .. }) => {
                            issued.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let elapsed = started.elapsed().as_secs_f64();
    if errors.load(Ordering::Relaxed) > 0 {
        return Err(format!(
            "{} submissions failed ({} clients, {})",
            errors.load(Ordering::Relaxed),
            clients,
            if ntlm { "NTLM" } else { "Basic" }
        ));
    }
    Ok(issued.load(Ordering::Relaxed) as f64 / elapsed)
}

/// Milliseconds from spawning `serve` (with `extra` flags) to its ready
/// file, and to the first 200 on /certsrv/.
fn startup(exe: &Path, seed: Option<u64>, extra: &[&str]) -> Result<(f64, f64), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ready = dir.path().join("ready.json");
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["serve", "--http", "--ready-file"])
        .arg(&ready)
        .args(extra);
    if let Some(s) = seed {
        cmd.args(["--seed", &s.to_string()]);
    } else {
        // A fresh seed: no cached keys.
        cmd.args(["--seed", &Seed::random().0.to_string()]);
    }
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("{}: {e}", exe.display()))?;
    let result = (|| {
        while !ready.exists() {
            if started.elapsed() > Duration::from_secs(60) {
                return Err("no ready file within 60 s".to_string());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let to_ready = started.elapsed().as_secs_f64() * 1000.0;
        let info: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&ready).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        let url = info["certsrv_url"].as_str().unwrap_or_default().to_string();
        let mut session =
            adcs_client::http::Session::new(&url, Trust::AnyCertificate, credentials(false))
                .map_err(|e| e.to_string())?;
        let r = session
            .request("GET", "", None, b"")
            .map_err(|e| e.to_string())?;
        if r.status != 200 {
            return Err(format!("/certsrv/ answered {}", r.status));
        }
        Ok((to_ready, started.elapsed().as_secs_f64() * 1000.0))
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// Milliseconds of one `req enroll` (new key, submit, download, accept)
/// against a running CA, and of the RSA-2048 key generation alone.
fn client_flow(server: &Server, runs: usize) -> Result<(f64, f64, f64, f64), String> {
    let endpoint = CaEndpoint {
        url: server.certsrv_url(),
        trust: Trust::Roots(vec![server.ca().root_certificate()]),
        credentials: credentials(false),
        timeout: adcs_client::http::DEFAULT_TIMEOUT,
    };
    let inf = adcs_client::inf::Inf::parse(
        "bench.inf",
        b"[NewRequest]\r\nSubject = \"CN=bench.contoso.test\"\r\nKeyLength = 2048\r\n",
    )
    .map_err(|e| e.to_string())?;
    let spec = RequestSpec::from_inf(&inf).map_err(|e| e.to_string())?;
    let mut enroll = Vec::new();
    let mut keygen = Vec::new();
    let mut ratios = Vec::new();
    let mut rest = Vec::new();
    for _ in 0..runs {
        // A fresh seed per run, given to the flow, so the key generation
        // timed alone below finds the same primes as the one inside the
        // flow: the time to find RSA primes varies by a factor of several
        // between keys.
        let seed = Seed::random();
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let store = Store::open(dir.path()).map_err(|e| e.to_string())?;
        let opts = EnrollOptions {
            new: NewOptions {
                seed: Some(seed),
                ..NewOptions::default()
            },
            template: Some("WebServer".into()),
            ..EnrollOptions::default()
        };
        let t = Instant::now();
        flow::enroll_spec(
            &endpoint,
            "bench.inf",
            spec.clone(),
            None,
            &store,
            &opts,
            &mut |_| {},
        )
        .map_err(|e| e.to_string())?;
        let e = t.elapsed().as_secs_f64() * 1000.0;
        let mut rng = adcs_client::keys::key_rng(Some(&seed), &flow::key_label("bench.inf", &spec));
        let t = Instant::now();
        adcs_client::keys::RequestKey::generate(KeyChoice::Rsa(2048), &mut rng)
            .map_err(|e| e.to_string())?;
        let k = t.elapsed().as_secs_f64() * 1000.0;
        enroll.push(e);
        keygen.push(k);
        ratios.push(e / k.max(0.001));
        rest.push(e - k);
    }
    Ok((median(enroll), median(keygen), median(ratios), median(rest)))
}

/// The resident set of this process in MB (Linux), for the scale figure.
fn rss_mb() -> Option<f64> {
    rss_of("self")
}

/// The resident set of process `pid` ("self" for this one) in MB (Linux).
fn rss_of(pid: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn fmt_mb(v: Option<f64>) -> String {
    v.map_or_else(
        || "not measured on this OS".into(),
        |m| format!("{m:.0} MB"),
    )
}

/// Microseconds per call of `f` over `n` calls.
fn per_call_us(n: usize, mut f: impl FnMut(usize)) -> f64 {
    let t = Instant::now();
    for i in 0..n {
        f(i);
    }
    t.elapsed().as_secs_f64() * 1e6 / n.max(1) as f64
}

/// The full-size load: `submissions` from `clients` over HTTP with an
/// officer issuing, denying and revoking, then the loss check.
fn full_load(submissions: usize, clients: usize) -> Result<String, String> {
    use crate::load::{self, LoadOptions, Target};
    let server = bench_server(false)?;
    let admin = server
        .admin()
        .ok_or("the bench server has no administrator")?;
    let target = Target {
        certsrv_url: server.certsrv_url(),
        control_url: server.control_url(),
        trust: Trust::AnyCertificate,
        user: (
            "CONTOSO\\alice".into(),
            mock_ca::web::directory::DEFAULT_USER_PASSWORD.into(),
        ),
        officer: (admin.name.clone(), admin.password.clone()),
    };
    let opts = LoadOptions {
        clients,
        submissions,
        ..LoadOptions::default()
    };
    let t = Instant::now();
    let ack = load::drive(&target, &opts, &AtomicBool::new(false));
    let load_s = t.elapsed().as_secs_f64();
    if !ack.errors.is_empty() {
        return Err(format!(
            "the load failed ({} errors), first: {}",
            ack.errors.len(),
            ack.errors[0]
        ));
    }
    let t = Instant::now();
    let v = load::verify(&target, &ack, true).map_err(|e| e.0)?;
    let verify_s = t.elapsed().as_secs_f64();
    let ids: Vec<u32> = v.ids.iter().copied().collect();
    let gapless = ids.windows(2).all(|w| w[1] == w[0] + 1);
    Ok(format!(
        "\n## Load\n\n{submissions} submissions from {clients} clients over HTTP with Basic (one in three pending), while an officer on the control plane issues even and denies odd pending requests and revokes one in five certificates received; then every request is checked on the server and every issued certificate retrieved and compared with the bytes handed over (`adcs_harness::load`, also run at CI size by tests/load.rs and under kill -9 by tests/crash.rs).\n\n| figure | measured |\n| --- | ---: |\n| load | {load_s:.1} s ({:.0} submissions/s) |\n| errors | {} |\n| requests checked | {} (IDs {}–{}, {}) |\n| issued / denied / revoked / left pending | {} / {} / {} / {} |\n| officer actions acknowledged | {} issued, {} denied, {} revoked |\n| check and retrieve | {verify_s:.1} s |\n",
        submissions as f64 / load_s,
        ack.errors.len(),
        v.requests,
        ids.first().copied().unwrap_or(0),
        ids.last().copied().unwrap_or(0),
        if gapless { "no gap, no duplicate" } else { "WITH GAPS" },
        v.issued,
        v.denied,
        v.revoked,
        v.pending,
        ack.issued.len(),
        ack.denied.len(),
        ack.revoked.len(),
    ))
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!(
        "{cores} cores ({cpu}), {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// Runs every measurement and returns the report (Markdown).
pub fn run(
    opts: &BenchOptions,
    exe: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<String, BenchError> {
    report(opts, exe, progress).map_err(BenchError)
}

/// A measurement that could not be taken (a server that did not start, a
/// failed submission), named.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BenchError(pub String);

fn report(
    opts: &BenchOptions,
    exe: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<String, String> {
    let mut out = String::new();
    let debug = cfg!(debug_assertions);
    out.push_str(&format!(
        "Machine: {}. Build: {}. Command: `adcs-harness bench --seconds {} --runs {} --scale {} --load {}`.\n\n",
        machine(),
        if debug {
            "debug (figures are not representative: use --release)"
        } else {
            "release"
        },
        opts.seconds,
        opts.runs,
        opts.scale,
        opts.load
    ));

    // Scale first: its memory figure is this process's, before the other
    // sections have grown it.
    let scale_section = if opts.scale > 0 {
        progress("scale");
        Some(scale::scale(
            opts.scale,
            opts.scale_revoked
                .unwrap_or(opts.scale / 10)
                .min(opts.scale),
            opts.runs,
            exe,
        )?)
    } else {
        None
    };

    // The signing rate moves with the machine's load and clock (±30% between
    // minutes on a shared VM), so each cell is compared with a signing
    // measurement taken just before it, on the same cores.
    out.push_str(
        "## Issuance throughput\n\nEach cell: the machine's RSA-2048 signing rate with every core (the CA's signer, `mock_ca::keys::SigningKey::sign`) measured just before, then issuance. Target: issuance at 60% of the signing rate or more.\n\nThe last column is the CPU time each certificate costs besides its signature (cores ÷ issuance rate − cores ÷ signing rate): the two HTTP exchanges at both ends, TCP on loopback, parsing and checking the request, the pages. It bounds the share: with signatures at S µs and the rest at R µs, issuance reaches at most S ÷ (S + R) of the signing rate.\n\n| transport | auth | clients | certificates/s | signatures/s just before | of the signing rate | other CPU per certificate (µs) |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |\n",
    );
    let mut ratios = Vec::new();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for tls in [false, true] {
        let server = bench_server(tls)?;
        for ntlm in [false, true] {
            for &n in &opts.clients {
                progress(&format!(
                    "throughput {} {} {n}",
                    if tls { "https" } else { "http" },
                    if ntlm { "ntlm" } else { "basic" }
                ));
                let sign = signing_rate(opts.seconds / 2.0)?;
                let rate = throughput(&server, ntlm, n, opts.seconds)?;
                ratios.push((n, rate / sign));
                out.push_str(&format!(
                    "| {} | {} | {n} | {rate:.0} | {sign:.0} | {:.0}% | {} |\n",
                    if tls { "HTTPS" } else { "HTTP" },
                    if ntlm { "NTLM" } else { "Basic" },
                    100.0 * rate / sign,
                    if n > 1 {
                        format!("{:.0}", 1e6 * cores as f64 * (1.0 / rate - 1.0 / sign))
                    } else {
                        "(cores idle)".to_string()
                    }
                ));
            }
        }
    }
    let range = |want: &dyn Fn(usize) -> bool| {
        let v: Vec<f64> = ratios
            .iter()
            .filter(|(n, _)| want(*n))
            .map(|(_, r)| r * 100.0)
            .collect();
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(0.0, f64::max);
        if v.is_empty() {
            "none".to_string()
        } else {
            format!("{lo:.0}–{hi:.0}%")
        }
    };
    out.push_str(&format!(
        "\nConcurrent clients (more than one): {}; one client: {}.\n",
        range(&|n| n > 1),
        range(&|n| n == 1)
    ));
    progress("wrk");
    out.push_str(&wrk::section(opts.runs.min(3), opts.seconds, cores)?);

    progress("start-up");
    let mut cached = (Vec::new(), Vec::new());
    let mut fresh = (Vec::new(), Vec::new());
    // With a realm: the MIT KDC made and started (Linux with krb5-kdc).
    let kdc = !cfg!(windows) && Path::new("/usr/sbin/krb5kdc").exists();
    let mut realm = (Vec::new(), Vec::new());
    for _ in 0..opts.runs {
        let (a, b) = startup(exe, Some(1), &[])?;
        cached.0.push(a);
        cached.1.push(b);
        let (a, b) = startup(exe, None, &[])?;
        fresh.0.push(a);
        fresh.1.push(b);
        if kdc {
            let (a, b) = startup(exe, Some(1), &["--kerberos"])?;
            realm.0.push(a);
            realm.1.push(b);
        }
    }
    let mut keygen_ca = Vec::new();
    for i in 0..opts.runs {
        let t = Instant::now();
        let seed = Seed::random();
        SigningKey::generate(KeyAlgorithm::Rsa2048, &seed, &format!("bench/cold/{i}"))
            .map_err(|e| e.to_string())?;
        keygen_ca.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out.push_str(&format!(
        "\n## Start-up\n\nFrom spawning `serve --http --ready-file F` to the ready file, and to the first 200 on `/certsrv/` (median of {} runs). Targets: under 20 ms with cached keys; a fresh seed no slower than one RSA key generation ({:.0} ms here) plus 10 ms.\n\n| seed | to ready file (ms) | to first 200 (ms) |\n| --- | ---: | ---: |\n| known (cached keys) | {:.1} | {:.1} |\n| fresh | {:.1} | {:.1} |\n",
        opts.runs,
        median(keygen_ca.clone()),
        median(cached.0),
        median(cached.1),
        median(fresh.0),
        median(fresh.1)
    ));
    out.push_str(&if kdc {
        format!(
            "| known, `--kerberos` (the MIT KDC made and started) | {:.1} | {:.1} |\n",
            median(realm.0),
            median(realm.1)
        )
    } else {
        "| known, `--kerberos` | not measured: no krb5-kdc here | |\n".to_string()
    });

    progress("client flow");
    let server = bench_server(false)?;
    let (enroll, keygen, ratio, rest) = client_flow(&server, opts.runs)?;
    out.push_str(&format!(
        "\n## Client flow\n\n`req enroll` (new RSA-2048 key, request, submit, download, accept into a store) against a local CA over HTTP with Basic, median of {} runs. Each run seeds the flow's key, and the same key is then generated alone, so both find the same primes. Target: no more than 1.2 × the key generation it contains.\n\n| enroll (ms) | key generation (ms) | ratio (median of the runs' ratios) | the rest of the flow (ms, median) |\n| ---: | ---: | ---: | ---: |\n| {enroll:.1} | {keygen:.1} | {ratio:.2} | {rest:.1} |\n",
        opts.runs,
    ));
    if opts.protocol_clients > 0 {
        out.push_str(&protocols::section(
            opts.protocol_clients,
            opts.seconds,
            progress,
        )?);
    }
    if opts.load > 0 {
        progress("load");
        out.push_str(&full_load(opts.load, opts.load_clients.max(1))?);
    }
    if let Some(section) = scale_section {
        out.push_str(&section);
    }
    Ok(out)
}
