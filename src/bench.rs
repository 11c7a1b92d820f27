//! `adcs-harness bench`: what the harness costs, measured against what
//! bounds it. Issuance is compared with the machine's own RSA-2048 signing
//! rate measured in the same run, start-up with the ready file, and the
//! client flow with the key generation it contains. The report is Markdown
//! for BENCHMARKS.md.

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
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            seconds: 3.0,
            clients: vec![1, 8, 64],
            runs: 5,
        }
    }
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

fn bench_server(tls: bool) -> Result<Server, String> {
    let ca = Ca::new(
        CaConfig::default(),
        Seed(1),
        Clock::frozen_at(1_767_225_600),
    )
    .map_err(|e| e.to_string())?;
    Server::start(
        Arc::new(ca),
        WebOptions {
            tls,
            ..WebOptions::default()
        },
    )
    .map_err(|e| e.to_string())
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
    let key = SigningKey::generate(KeyAlgorithm::Rsa2048, &Seed(1), "bench/request")
        .map_err(|e| e.to_string())?;
    let name = mock_ca::names::parse_dn("CN=bench.contoso.test").map_err(|e| e.to_string())?;
    let csr = mock_ca::encoding::pem(
        "CERTIFICATE REQUEST",
        &mock_ca::x509::build_request(&name, &key, vec![]).map_err(|e| e.to_string())?,
    );
    let attrs = vec![("CertificateTemplate".to_string(), "WebServer".to_string())];
    let endpoint = CaEndpoint {
        url: server.certsrv_url(),
        trust: Trust::Roots(vec![server.ca().root_certificate()]),
        credentials: credentials(ntlm),
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

/// Milliseconds from spawning `serve` to its ready file, and to the first
/// 200 on /certsrv/.
fn startup(exe: &Path, seed: Option<u64>) -> Result<(f64, f64), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ready = dir.path().join("ready.json");
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["serve", "--http", "--ready-file"]).arg(&ready);
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
fn client_flow(server: &Server, runs: usize) -> Result<(f64, f64), String> {
    let endpoint = CaEndpoint {
        url: server.certsrv_url(),
        trust: Trust::Roots(vec![server.ca().root_certificate()]),
        credentials: credentials(false),
    };
    let inf = adcs_client::inf::Inf::parse(
        "bench.inf",
        b"[NewRequest]\r\nSubject = \"CN=bench.contoso.test\"\r\nKeyLength = 2048\r\n",
    )
    .map_err(|e| e.to_string())?;
    let spec = RequestSpec::from_inf(&inf).map_err(|e| e.to_string())?;
    let mut enroll = Vec::new();
    let mut keygen = Vec::new();
    for i in 0..runs {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let store = Store::open(dir.path()).map_err(|e| e.to_string())?;
        let opts = EnrollOptions {
            new: NewOptions::default(),
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
        enroll.push(t.elapsed().as_secs_f64() * 1000.0);
        let mut rng = adcs_client::keys::key_rng(None, &format!("bench/{i}"));
        let t = Instant::now();
        adcs_client::keys::RequestKey::generate(KeyChoice::Rsa(2048), &mut rng)
            .map_err(|e| e.to_string())?;
        keygen.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((median(enroll), median(keygen)))
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
) -> Result<String, String> {
    let mut out = String::new();
    let debug = cfg!(debug_assertions);
    out.push_str(&format!(
        "Machine: {}. Build: {}. Command: `adcs-harness bench --seconds {} --runs {}`.\n\n",
        machine(),
        if debug {
            "debug (figures are not representative: use --release)"
        } else {
            "release"
        },
        opts.seconds,
        opts.runs
    ));

    progress("signing rate");
    let sign = signing_rate(opts.seconds)?;
    out.push_str(&format!(
        "## Issuance throughput\n\nThe machine signs {sign:.0} RSA-2048 signatures per second with every core (the CA's signer, `mock_ca::keys::SigningKey::sign`). Target: issuance at 60% of that or more.\n\n| transport | auth | clients | certificates/s | of the signing rate |\n| --- | --- | ---: | ---: | ---: |\n"
    ));
    for tls in [false, true] {
        let server = bench_server(tls)?;
        for ntlm in [false, true] {
            for &n in &opts.clients {
                progress(&format!(
                    "throughput {} {} {n}",
                    if tls { "https" } else { "http" },
                    if ntlm { "ntlm" } else { "basic" }
                ));
                let rate = throughput(&server, ntlm, n, opts.seconds)?;
                out.push_str(&format!(
                    "| {} | {} | {n} | {rate:.0} | {:.0}% |\n",
                    if tls { "HTTPS" } else { "HTTP" },
                    if ntlm { "NTLM" } else { "Basic" },
                    100.0 * rate / sign
                ));
            }
        }
    }

    progress("start-up");
    let mut cached = (Vec::new(), Vec::new());
    let mut fresh = (Vec::new(), Vec::new());
    for _ in 0..opts.runs {
        let (a, b) = startup(exe, Some(1))?;
        cached.0.push(a);
        cached.1.push(b);
        let (a, b) = startup(exe, None)?;
        fresh.0.push(a);
        fresh.1.push(b);
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

    progress("client flow");
    let server = bench_server(false)?;
    let (enroll, keygen) = client_flow(&server, opts.runs)?;
    out.push_str(&format!(
        "\n## Client flow\n\n`req enroll` (new RSA-2048 key, request, submit, download, accept into a store) against a local CA over HTTP with Basic, median of {} runs. Target: no more than 1.2 × the key generation it contains.\n\n| enroll (ms) | key generation (ms) | ratio |\n| ---: | ---: | ---: |\n| {enroll:.1} | {keygen:.1} | {:.2} |\n",
        opts.runs,
        enroll / keygen.max(0.001)
    ));
    Ok(out)
}
