//! HTTP.sys's doors: half-open request headers, idle kept-alive connections
//! and slow bodies are closed on time and counted, a connection over
//! `max_connections` gets a 503, and ordinary clients are served throughout.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use adcs_client::certsrv::{Outcome, WebEnrollment};
use adcs_client::http::{Credentials, Trust};
use mock_ca::web::limits::{ConnectionCounts, Limits};
use mock_ca::web::Server;
use mock_ca::{CaConfig, KeyAlgorithm};

use crate::support::{csr_pem, start_http_limited, ALICE};

fn start(limits: Limits) -> Server {
    start_http_limited(CaConfig::default(), limits)
}

fn alice(s: &Server) -> WebEnrollment {
    WebEnrollment::new(
        &s.certsrv_url(),
        Trust::AnyCertificate,
        Credentials::Basic {
            user: ALICE.0.into(),
            password: ALICE.1.into(),
        },
    )
    .unwrap()
}

/// Waits (at most `limit`) until the counts satisfy `done`.
fn counts_until(
    s: &Server,
    limit: Duration,
    done: impl Fn(&ConnectionCounts) -> bool,
) -> ConnectionCounts {
    let start = Instant::now();
    loop {
        let c = s.connection_counts();
        if done(&c) || start.elapsed() > limit {
            return c;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// True when the server has closed `c` (a read sees the end of the stream).
fn closed_by_server(c: &mut TcpStream) -> bool {
    c.set_read_timeout(Some(HANG)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match c.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

fn half_header(addr: SocketAddr) -> TcpStream {
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"GET /certsrv/ HTTP/1.1\r\nHost: ca\r\nUser-Agent: slow")
        .unwrap();
    c
}

/// How long any wait for the server may take before the test calls it a
/// hang: far beyond what a loaded runner needs, so only a real fault trips it.
const HANG: Duration = Duration::from_secs(120);

/// Half-open connections to open: under Wine every socket call goes through
/// one wineserver process, so the load is sized to the platform.
const HALF_OPEN: usize = if cfg!(windows) { 500 } else { 2000 };

#[test]
fn half_open_headers_are_closed_on_time_while_clients_are_served() {
    let wait = Duration::from_secs(2);
    let s = start(Limits {
        header_wait_timeout: wait.as_secs(),
        ..Limits::default()
    });
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        // An ordinary client submits all along, and every submission is kept.
        let client = scope.spawn(|| {
            let mut web = alice(&s);
            let csr = csr_pem("web01.contoso.test", KeyAlgorithm::Rsa2048);
            let mut ids = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let attributes = [("CertificateTemplate".into(), "WebServer".into())];
                match web.submit(&csr, &attributes) {
                    Ok(Outcome::Issued { id, .. }) => ids.push(id),
                    other => return Err(format!("not served: {other:?}")),
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(ids)
        });
        let first = Instant::now();
        let mut half_open: Vec<TcpStream> = (0..HALF_OPEN).map(|_| half_header(s.addr())).collect();
        let opening = first.elapsed();
        // None closes before its header wait: read while that still holds.
        let early = s.connection_counts().closed_header_wait;
        if first.elapsed() < wait {
            assert_eq!(early, 0, "closed before {wait:?}");
        }
        let n = HALF_OPEN as u64;
        let counts = counts_until(&s, HANG, |c| c.closed_header_wait >= n);
        let took = first.elapsed();
        eprintln!("{n} half-open connections opened in {opening:?}, all closed after {took:?}");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(counts.closed_header_wait >= n, "after {took:?}: {counts:?}");
        // On time: the last was opened after `opening`, and closing them all
        // costs the server about what opening them cost this machine now
        // (the baseline, measured in this run, loaded or not), so allow
        // three times that besides the header wait itself.
        let bound = wait + opening * 3 + Duration::from_secs(2);
        assert!(
            took < bound,
            "{took:?} to close {n} connections opened in {opening:?}"
        );
        for c in half_open.iter_mut().step_by(97) {
            assert!(closed_by_server(c), "a half-open connection stayed open");
        }
        let ids = client.join().unwrap().unwrap();
        assert!(ids.len() >= 2, "{ids:?}");
        for id in &ids {
            assert!(s.ca().request(*id).is_some(), "request {id} was lost");
        }
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    });
}

#[test]
fn idle_connections_close_and_slow_bodies_get_408() {
    let s = start(Limits {
        idle_connection_timeout: 1,
        entity_body_timeout: 1,
        ..Limits::default()
    });
    // Idle after one request: closed after a second, and counted.
    let mut c = TcpStream::connect(s.addr()).unwrap();
    c.write_all(b"GET /CertEnroll/none.crt HTTP/1.1\r\nHost: ca\r\n\r\n")
        .unwrap();
    let t = Instant::now();
    assert!(closed_by_server(&mut c));
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    let counts = counts_until(&s, HANG, |c| c.closed_idle == 1);
    assert_eq!(counts.closed_idle, 1, "{counts:?}");
    // A body that never arrives whole: 408, then the connection closes.
    let mut c = TcpStream::connect(s.addr()).unwrap();
    c.write_all(b"POST /certsrv/certfnsh.asp HTTP/1.1\r\nHost: ca\r\nContent-Length: 100\r\n\r\nMode=newreq")
        .unwrap();
    c.set_read_timeout(Some(HANG)).unwrap();
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let counts = counts_until(&s, HANG, |c| c.closed_entity_body == 1);
    assert_eq!(counts.closed_entity_body, 1, "{counts:?}");
    assert_eq!(s.ca().next_request_id(), 2, "nothing reached the CA");
}

#[test]
fn over_max_connections_a_new_connection_gets_503() {
    let s = start(Limits {
        max_connections: 2,
        ..Limits::default()
    });
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(s.addr()).unwrap())
        .collect();
    counts_until(&s, HANG, |c| c.open == 2);
    let mut third = TcpStream::connect(s.addr()).unwrap();
    third
        .write_all(b"GET /certsrv/ HTTP/1.1\r\nHost: ca\r\n\r\n")
        .unwrap();
    third.set_read_timeout(Some(HANG)).unwrap();
    let mut answer = String::new();
    let _ = third.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert_eq!(s.connection_counts().refused_over_limit, 1);
    drop(held);
    counts_until(&s, HANG, |c| c.open == 0);
    let mut web = alice(&s);
    let csr = csr_pem("web02.contoso.test", KeyAlgorithm::Rsa2048);
    let issued = web
        .submit(&csr, &[("CertificateTemplate".into(), "WebServer".into())])
        .unwrap();
    assert!(matches!(issued, Outcome::Issued { .. }), "{issued:?}");
}
