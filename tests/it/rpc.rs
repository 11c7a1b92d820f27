//! MS-ICPR over DCE/RPC against the server, driven by the protocol crate's
//! client end over real sockets: the endpoint mapper names the port, a
//! sealed CertServerRequest issues, IF_ENFORCEENCRYPTICERTREQUEST refuses
//! a request at connect level, and a wrong password is a fault.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use adcs_client::icpr::{self, RpcClientError};
use adcs_proto::rpc::client::{self, Credentials};
use adcs_proto::rpc::epm::{EptMap, EptMapResponse, Tower, EPT_MAP};
use adcs_proto::rpc::icpr::{CertServerRequest, CertServerResponse, CERT_SERVER_REQUEST};
use adcs_proto::rpc::secure::level;
use adcs_proto::rpc::{RpcError, EPM, ICERT_PASSAGE, NDR};
use mock_ca::web::faults::FaultRule;
use mock_ca::web::rpc::RpcConfig;
use mock_ca::web::{Server, WebOptions};
use mock_ca::{Ca, CaConfig, Clock, KeyAlgorithm, Seed};

use crate::support::*;

fn rpc_server(enforce_encryption: bool) -> Server {
    rpc_server_with(enforce_encryption, Vec::new())
}

fn rpc_server_with(enforce_encryption: bool, faults: Vec<FaultRule>) -> Server {
    let ca = Ca::new(CaConfig::default(), Seed(7), Clock::frozen_at(T0)).unwrap();
    let opts = WebOptions {
        tls: false,
        users: users(),
        faults,
        rpc: Some(RpcConfig {
            epm_port: 0,
            enforce_encryption,
            ..Default::default()
        }),
        ..Default::default()
    };
    Server::start(Arc::new(ca), opts).unwrap()
}

/// What the tests call a closed connection.
const CLOSED: RpcError = RpcError::Truncated("the connection (closed)");

/// The next fragment; `Err` when the server closed the connection.
fn read_fragment(s: &mut TcpStream) -> Result<Vec<u8>, RpcError> {
    icpr::read_fragment(s).map_err(|_| CLOSED)
}

/// Binds (with NTLM as alice with `password` at `auth_level`) and makes
/// one call through the client toolkit.
fn call(
    at: SocketAddr,
    interface: &adcs_proto::rpc::SyntaxId,
    auth_level: u8,
    password: &str,
    opnum: u16,
    stub: &[u8],
) -> Result<Vec<u8>, RpcError> {
    let creds = Credentials {
        user: "alice",
        domain: "CONTOSO",
        password,
    };
    let timeout = Duration::from_secs(30);
    icpr::call(at, timeout, interface, auth_level, &creds, opnum, stub).map_err(|e| match e {
        RpcClientError::Rpc { source, .. } => source,
        _ => CLOSED,
    })
}

fn icpr_port(s: &Server) -> u16 {
    let (epm, _) = s.rpc_addrs().unwrap();
    let ask = EptMap {
        object: Some([0; 16]),
        tower: Some(Tower::tcp(&ICERT_PASSAGE, &NDR, 0, [0; 4]).encode()),
        handle: [0; 20],
        max_towers: 4,
    };
    let answer = call(epm, &EPM, level::NONE, "", EPT_MAP, &ask.encode()).unwrap();
    let answer = EptMapResponse::parse(&answer).unwrap();
    assert_eq!(answer.status, 0);
    Tower::parse(&answer.towers[0]).unwrap().tcp_port().unwrap()
}

fn user_request() -> CertServerRequest {
    let pem = csr_pem("alice", KeyAlgorithm::Rsa2048);
    CertServerRequest {
        flags: 0,
        authority: Some("contoso-TEST-CA".into()),
        request_id: 0,
        attributes: "CertificateTemplate:User".into(),
        request: pem.into_bytes(),
    }
}

#[test]
fn the_mapper_names_the_port_and_a_sealed_request_is_issued() {
    let s = rpc_server(true);
    let port = icpr_port(&s);
    assert_eq!(port, s.rpc_addrs().unwrap().1.port());
    let at = SocketAddr::from(([127, 0, 0, 1], port));
    let stub = user_request().encode();
    let answer = call(
        at,
        &ICERT_PASSAGE,
        level::PKT_PRIVACY,
        ALICE.1,
        CERT_SERVER_REQUEST,
        &stub,
    );
    let answer = CertServerResponse::parse(&answer.unwrap()).unwrap();
    assert_eq!((answer.disposition, answer.status), (3, 0), "{answer:?}");
    assert_eq!(answer.disposition_message, "Issued");
    let row = s.ca().request(answer.request_id).unwrap();
    assert_eq!(row.certificate.as_deref(), Some(&answer.encoded_cert[..]));
    // Retrieval by ID gives the same certificate.
    let retrieve = CertServerRequest {
        request_id: answer.request_id,
        attributes: String::new(),
        request: Vec::new(),
        ..user_request()
    };
    let again = call(
        at,
        &ICERT_PASSAGE,
        level::PKT_PRIVACY,
        ALICE.1,
        0,
        &retrieve.encode(),
    );
    let again = CertServerResponse::parse(&again.unwrap()).unwrap();
    assert_eq!(again.encoded_cert, answer.encoded_cert, "{again:?}");
    let rpc: Vec<_> = s
        .journal()
        .into_iter()
        .filter(|e| e.method == "RPC")
        .collect();
    assert_eq!(rpc[0].auth.as_deref(), Some("ntlm packet privacy"));
    assert_eq!(rpc[0].request_id, Some(answer.request_id));
}

#[test]
fn below_packet_privacy_is_refused_while_encryption_is_enforced() {
    for (enforce, expect) in [(true, 0x8007_0005), (false, 3)] {
        let s = rpc_server(enforce);
        let at = s.rpc_addrs().unwrap().1;
        let stub = user_request().encode();
        let answer = call(at, &ICERT_PASSAGE, level::CONNECT, ALICE.1, 0, &stub).unwrap();
        let answer = CertServerResponse::parse(&answer).unwrap();
        assert_eq!(answer.disposition, expect, "enforce {enforce}: {answer:?}");
    }
}

#[test]
fn a_wrong_password_or_an_unknown_opnum_is_a_fault() {
    let s = rpc_server(true);
    let at = s.rpc_addrs().unwrap().1;
    let stub = user_request().encode();
    let wrong = call(at, &ICERT_PASSAGE, level::PKT_PRIVACY, "nope", 0, &stub);
    assert_eq!(wrong, Err(RpcError::Fault(5)));
    let journal = s.journal();
    let refused = journal.iter().find(|e| e.method == "RPC").unwrap();
    assert_eq!(refused.status, 401);
    assert!(
        refused
            .detail
            .as_deref()
            .unwrap()
            .contains("wrong password"),
        "{refused:?}"
    );
    let unknown = call(at, &ICERT_PASSAGE, level::PKT_PRIVACY, ALICE.1, 7, &stub);
    assert_eq!(unknown, Err(RpcError::Fault(0x1c01_0002)));
}

fn rule(nth: u64) -> FaultRule {
    FaultRule {
        endpoint: "rpc/CertServerRequest".into(),
        nth: Some(nth),
        ..Default::default()
    }
}

fn submit_sealed(at: SocketAddr, stub: &[u8]) -> Result<CertServerResponse, RpcError> {
    let answer = call(at, &ICERT_PASSAGE, level::PKT_PRIVACY, ALICE.1, 0, stub)?;
    Ok(CertServerResponse::parse(&answer).unwrap())
}

#[test]
fn fault_rules_deny_hold_or_reset_rpc_calls() {
    let faults = vec![
        FaultRule {
            deny_hresult: Some("0x80094012".into()),
            ..rule(1)
        },
        FaultRule {
            pending_polls: Some(1),
            ..rule(2)
        },
        FaultRule {
            hresult: Some("0x800706ba".into()),
            ..rule(3)
        },
    ];
    let s = rpc_server_with(true, faults);
    let at = s.rpc_addrs().unwrap().1;
    let stub = user_request().encode();
    let denied = submit_sealed(at, &stub).unwrap();
    assert_eq!((denied.disposition, denied.status), (0x8009_4012, 0));
    let held = submit_sealed(at, &stub).unwrap();
    assert_eq!(held.disposition, 5, "{held:?}");
    let offline = submit_sealed(at, &stub).unwrap();
    assert_eq!(
        (offline.disposition, offline.status),
        (0x8007_06ba, 0x8007_06ba)
    );
    // The held request: one poll still pending, the next issued.
    let retrieve = CertServerRequest {
        request_id: held.request_id,
        attributes: String::new(),
        request: Vec::new(),
        ..user_request()
    }
    .encode();
    assert_eq!(submit_sealed(at, &retrieve).unwrap().disposition, 5);
    let issued = submit_sealed(at, &retrieve).unwrap();
    assert_eq!(issued.disposition, 3);
    assert!(!issued.encoded_cert.is_empty());
    // A reset closes the connection unanswered.
    s.set_faults(vec![FaultRule {
        reset: true,
        ..rule(1)
    }])
    .unwrap();
    let reset = submit_sealed(at, &stub);
    assert_eq!(reset.err(), Some(CLOSED));
    let journal = s.journal();
    let faulted: Vec<_> = journal.iter().filter(|e| e.fault.is_some()).collect();
    assert_eq!(faulted.len(), 4, "{faulted:?}");
}

#[test]
fn a_taken_mapper_port_stops_an_explicit_rpc_and_is_skipped_by_default() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let start = |optional| {
        let ca = Ca::new(CaConfig::default(), Seed(7), Clock::frozen_at(T0)).unwrap();
        let rpc = RpcConfig {
            epm_port: port,
            optional,
            ..Default::default()
        };
        let opts = WebOptions {
            tls: false,
            rpc: Some(rpc),
            ..Default::default()
        };
        Server::start(Arc::new(ca), opts)
    };
    let e = start(false).unwrap_err().to_string();
    assert!(
        e.contains(&format!("endpoint mapper on 127.0.0.1:{port}")),
        "{e}"
    );
    let s = start(true).unwrap();
    assert_eq!(s.rpc_addrs(), None);
    assert!(s.rpc_unavailable().unwrap().contains("endpoint mapper"));
}

#[test]
fn garbage_closes_only_its_own_connection() {
    let s = rpc_server(true);
    let at = s.rpc_addrs().unwrap().1;
    let mut idle = TcpStream::connect(at).unwrap();
    let (bind, _) = client::bind(&ICERT_PASSAGE, level::NONE);
    idle.write_all(&bind).unwrap();
    for junk in [
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        vec![5, 0, 11, 3, 0x10, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0],
        bind[..30].to_vec(),
    ] {
        let mut bad = TcpStream::connect(at).unwrap();
        bad.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // The server may close (even reset) the connection as soon as it
        // has read enough to refuse it: a failed write or shutdown is fine.
        let _ = bad.write_all(&junk);
        let _ = bad.shutdown(std::net::Shutdown::Write);
        let mut rest = Vec::new();
        let _ = bad.read_to_end(&mut rest);
    }
    // The bound connection and new ones still work.
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert!(read_fragment(&mut idle).is_ok());
    let stub = user_request().encode();
    let answer = submit_sealed(at, &stub).unwrap();
    assert_eq!(answer.disposition, 3);
}
