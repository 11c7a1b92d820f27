//! No hangs, no duplicate submissions: a server that never answers is a
//! timeout naming the URL, the phase and the seconds (exit code 8 from the
//! CLI); a submission whose connection breaks after it was sent is never
//! sent again; a kept-alive connection the server closed while idle is
//! replaced without the caller noticing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use adcs_client::certsrv::{EnrollError, Outcome, WebEnrollment};
use adcs_client::http::{Credentials, HttpError, Phase, Session, Trust};
use mock_ca::web::limits::Limits;
use mock_ca::web::Server;
use mock_ca::{CaConfig, KeyAlgorithm};

use crate::support::{csr_pem, start_http_limited, ALICE};

fn basic() -> Credentials {
    Credentials::Basic {
        user: ALICE.0.into(),
        password: ALICE.1.into(),
    }
}

fn web(url: &str, timeout: Duration) -> WebEnrollment {
    let mut w = WebEnrollment::new(url, Trust::AnyCertificate, basic()).unwrap();
    w.set_timeout(timeout);
    w
}

fn webserver() -> Vec<(String, String)> {
    vec![("CertificateTemplate".into(), "WebServer".into())]
}

/// How long the silent listener holds its connections: a client without a
/// working timeout would see them close (an error, but not a timeout) only
/// after this, far beyond the timeouts under test on any loaded runner.
const HOLD: Duration = Duration::from_secs(60);

/// A listener that accepts connections and never says a word.
fn silent_listener() -> (SocketAddr, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let mut held = Vec::new();
        l.set_nonblocking(true).unwrap();
        let until = Instant::now() + HOLD;
        while Instant::now() < until {
            if let Ok((s, _)) = l.accept() {
                held.push(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    (addr, t)
}

#[test]
fn a_server_that_never_answers_is_a_timeout_naming_url_phase_and_seconds() {
    let (addr, _t) = silent_listener();
    let csr = csr_pem("web01.contoso.test", KeyAlgorithm::Rsa2048);
    let started = Instant::now();
    let e = web(&format!("http://{addr}/certsrv/"), Duration::from_secs(1))
        .submit(&csr, &webserver())
        .unwrap_err();
    // It waited the timeout, and gave up on its own (the error is a timeout,
    // not the listener closing at `HOLD`).
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < HOLD,
        "{waited:?}"
    );
    let EnrollError::Http(HttpError::Timeout { phase, .. }) = &e else {
        panic!("not a timeout: {e:?}");
    };
    assert_eq!(*phase, Phase::Response);
    let text = e.to_string();
    for part in [
        format!("http://{addr}/certsrv/certfnsh.asp"),
        "no answer within 1 s while waiting for the response".into(),
        "may have reached the CA".into(),
    ] {
        assert!(text.contains(&part), "`{part}` missing from: {text}");
    }
    // Over HTTPS the wait that runs out is the handshake.
    let mut s = Session::new(
        &format!("https://{addr}/certsrv/"),
        Trust::AnyCertificate,
        basic(),
    )
    .unwrap();
    s.timeout = Duration::from_millis(500);
    let e = s.request("GET", "", None, b"").unwrap_err();
    assert!(
        matches!(
            e,
            HttpError::Timeout {
                phase: Phase::TlsHandshake,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("while in the TLS handshake"), "{e}");
}

#[test]
fn the_cli_exits_8_when_the_server_does_not_answer() {
    let (addr, _t) = silent_listener();
    let dir = tempfile::tempdir().unwrap();
    let req = dir.path().join("web.req");
    std::fs::write(&req, csr_pem("web01.contoso.test", KeyAlgorithm::Rsa2048)).unwrap();
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_adcs-harness"))
        .args(["req", "submit", "--server"])
        .arg(format!("http://{addr}/certsrv/"))
        .args(["--user", ALICE.0, "--password", ALICE.1, "--auth", "basic"])
        .args(["--timeout", "1", "--store"])
        .arg(dir.path().join("store"))
        .arg(&req)
        .arg(dir.path().join("web.cer"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "{stderr}");
    assert!(
        stderr.contains("no answer within 1 s while waiting for the response"),
        "{stderr}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < HOLD,
        "{waited:?}"
    );
}

/// One HTTP/1.1 message from `r`: its head and its body.
fn read_message(r: &mut BufReader<TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    r.read_exact(&mut body).ok()?;
    Some((head, body))
}

/// A proxy that relays GETs, but after relaying a POST to `upstream` and
/// seeing its answer, drops the client's connection unanswered. Counts the
/// POSTs it relayed.
fn dropping_proxy(upstream: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let posts = Arc::new(AtomicUsize::new(0));
    let counted = posts.clone();
    std::thread::spawn(move || {
        for client in l.incoming().flatten() {
            let mut server = TcpStream::connect(upstream).unwrap();
            let mut from_client = BufReader::new(client.try_clone().unwrap());
            let mut from_server = BufReader::new(server.try_clone().unwrap());
            let mut client = client;
            while let Some((head, body)) = read_message(&mut from_client) {
                server.write_all(head.as_bytes()).unwrap();
                server.write_all(&body).unwrap();
                let Some((answer, answer_body)) = read_message(&mut from_server) else {
                    break;
                };
                if head.starts_with("POST") {
                    counted.fetch_add(1, Ordering::SeqCst);
                    break; // the answer is lost on the way back
                }
                client.write_all(answer.as_bytes()).unwrap();
                client.write_all(&answer_body).unwrap();
            }
        }
    });
    (addr, posts)
}

fn http_server(limits: Limits) -> Server {
    start_http_limited(CaConfig::default(), limits)
}

#[test]
fn a_submission_lost_on_the_way_back_is_never_sent_twice() {
    let s = http_server(Limits::default());
    let (proxy, posts) = dropping_proxy(s.addr());
    let before = s.ca().next_request_id();
    let csr = csr_pem("web01.contoso.test", KeyAlgorithm::Rsa2048);
    let e = web(&format!("http://{proxy}/certsrv/"), Duration::from_secs(10))
        .submit(&csr, &webserver())
        .unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(e, EnrollError::Http(HttpError::MaybeSent { .. })),
        "{e:?}"
    );
    assert!(text.contains("may have reached the CA"), "{text}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        posts.load(Ordering::SeqCst),
        1,
        "the submission was sent again"
    );
    assert_eq!(s.ca().next_request_id(), before + 1, "exactly one new row");
    assert!(s.ca().request(before).is_some());
}

#[test]
fn a_kept_alive_connection_the_server_closed_is_replaced_transparently() {
    let s = http_server(Limits {
        idle_connection_timeout: 1,
        ..Limits::default()
    });
    let csr = csr_pem("web01.contoso.test", KeyAlgorithm::Rsa2048);
    let mut w = web(&s.certsrv_url(), Duration::from_secs(10));
    let first = w.submit(&csr, &webserver()).unwrap();
    // Waits for the server's idle close (the event, not a guess at its time).
    let since = Instant::now();
    while s.connection_counts().closed_idle == 0 && since.elapsed() < HOLD {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(s.connection_counts().closed_idle, 1, "the server closed it");
    // Under Wine the client's socket learns of the close through wineserver,
    // a moment after the kernel has it; a real Windows or Linux socket knows
    // at once. That moment is given here, so the test is of the client.
    if cfg!(windows) {
        std::thread::sleep(Duration::from_millis(500));
    }
    let second = w.submit(&csr, &webserver()).unwrap();
    let (Outcome::Issued { id: a, .. }, Outcome::Issued { id: b, .. }) = (first, second) else {
        panic!("not issued");
    };
    assert_eq!(b, a + 1);
    assert_eq!(s.ca().next_request_id(), b + 1, "no duplicate");
}
