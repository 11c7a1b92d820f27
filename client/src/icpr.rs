//! Enrollment over DCE/RPC (MS-ICPR), the way `certipy req` and Windows
//! reach a CA without the web pages: ask the endpoint mapper for
//! ICertPassage's port (unless given), bind with NTLM at packet privacy,
//! and call `CertServerRequest` to submit or retrieve. Every socket wait
//! is bounded by the target's timeout. Outcomes are the web client's, so
//! callers treat both paths alike.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use adcs_proto::ntlm::split_account;
use adcs_proto::protocol::HResult;
use adcs_proto::rpc::client::{self, ClientAssociation, Credentials};
use adcs_proto::rpc::epm::{EptMap, EptMapResponse, Tower, EPT_MAP};
use adcs_proto::rpc::icpr::{CertServerRequest, CertServerResponse, CERT_SERVER_REQUEST};
use adcs_proto::rpc::secure::level;
use adcs_proto::rpc::{pdu, RpcError, SyntaxId, EPM, ICERT_PASSAGE, NDR};

use crate::certsrv::Outcome;

/// Where the CA's RPC interface is and who signs in.
#[derive(Clone, Debug)]
pub struct RpcTarget {
    /// Host name or address.
    pub host: String,
    /// The endpoint mapper's port (135).
    pub epm_port: u16,
    /// ICertPassage's port; `None` asks the endpoint mapper.
    pub port: Option<u16>,
    /// The CA's name (`contoso-TEST-CA`), as `pwszAuthority`.
    pub ca_name: String,
    /// `DOMAIN\user` or `user@domain`.
    pub user: String,
    pub password: String,
    /// An `RPC_C_AUTHN_LEVEL_*`: packet privacy unless testing ESC11.
    pub auth_level: u8,
    /// Bounds each connect, read and write.
    pub timeout: Duration,
}

/// Why an RPC enrollment did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum RpcClientError {
    #[error("cannot resolve {0}")]
    Resolve(String),
    #[error("{addr}: {source}")]
    Io {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{addr}: {source}")]
    Rpc { addr: SocketAddr, source: RpcError },
    #[error("the endpoint mapper at {0} does not know ICertPassage over TCP")]
    NotRegistered(SocketAddr),
}

impl RpcClientError {
    /// A wait ran out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, RpcClientError::Io { source, .. }
            if matches!(source.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock))
    }

    /// The server refused the sign-in (fault `rpc_s_access_denied`).
    pub fn is_access_denied(&self) -> bool {
        matches!(
            self,
            RpcClientError::Rpc {
                source: RpcError::Fault(5),
                ..
            }
        )
    }
}

/// Submits a request (DER or PEM bytes) with its attribute pairs.
pub fn submit(
    target: &RpcTarget,
    request: &[u8],
    attributes: &[(String, String)],
) -> Result<Outcome, RpcClientError> {
    let call = CertServerRequest {
        flags: 0,
        authority: Some(target.ca_name.clone()),
        request_id: 0,
        attributes: attributes
            .iter()
            .map(|(n, v)| format!("{n}:{v}"))
            .collect::<Vec<_>>()
            .join("\n"),
        request: request.to_vec(),
    };
    cert_server_request(target, &call)
}

/// Retrieves request `id` (issued, still pending, or why not).
pub fn retrieve(target: &RpcTarget, id: u32) -> Result<Outcome, RpcClientError> {
    let call = CertServerRequest {
        flags: 0,
        authority: Some(target.ca_name.clone()),
        request_id: id,
        attributes: String::new(),
        request: Vec::new(),
    };
    cert_server_request(target, &call)
}

fn cert_server_request(
    target: &RpcTarget,
    request: &CertServerRequest,
) -> Result<Outcome, RpcClientError> {
    let port = match target.port {
        Some(p) => p,
        None => map_port(target)?,
    };
    let addr = resolve(&target.host, port)?;
    let (domain, user) = split_account(&target.user, "");
    let creds = Credentials {
        user,
        domain,
        password: &target.password,
    };
    let stub = call(
        addr,
        target.timeout,
        &ICERT_PASSAGE,
        target.auth_level,
        &creds,
        CERT_SERVER_REQUEST,
        &request.encode(),
    )?;
    let answer =
        CertServerResponse::parse(&stub).map_err(|source| RpcClientError::Rpc { addr, source })?;
    Ok(outcome(&answer))
}

/// Asks the endpoint mapper for ICertPassage's TCP port.
fn map_port(target: &RpcTarget) -> Result<u16, RpcClientError> {
    let addr = resolve(&target.host, target.epm_port)?;
    let ask = EptMap {
        object: Some([0; 16]),
        tower: Some(Tower::tcp(&ICERT_PASSAGE, &NDR, 0, [0; 4]).encode()),
        handle: [0; 20],
        max_towers: 4,
    };
    let none = Credentials {
        user: "",
        domain: "",
        password: "",
    };
    let stub = call(
        addr,
        target.timeout,
        &EPM,
        level::NONE,
        &none,
        EPT_MAP,
        &ask.encode(),
    )?;
    let answer =
        EptMapResponse::parse(&stub).map_err(|source| RpcClientError::Rpc { addr, source })?;
    answer
        .towers
        .iter()
        .filter_map(|t| Tower::parse(t).ok())
        .find_map(|t| t.tcp_port())
        .filter(|_| answer.status == 0)
        .ok_or(RpcClientError::NotRegistered(addr))
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, RpcClientError> {
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| RpcClientError::Resolve(format!("{host}:{port}")))
}

/// Connects, binds (with NTLM above level none), makes one call and
/// returns its response stub.
pub fn call(
    addr: SocketAddr,
    timeout: Duration,
    interface: &SyntaxId,
    auth_level: u8,
    creds: &Credentials,
    opnum: u16,
    stub: &[u8],
) -> Result<Vec<u8>, RpcClientError> {
    let io = |source| RpcClientError::Io { addr, source };
    let rpc = |source| RpcClientError::Rpc { addr, source };
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    s.set_write_timeout(Some(timeout)).map_err(io)?;
    // AUTH3 has no answer: without this, the call written after it waits
    // for the server's delayed ACK (Nagle), 40 ms per request.
    let _ = s.set_nodelay(true);
    let (bind, negotiate) = client::bind(interface, auth_level);
    s.write_all(&bind).map_err(io)?;
    let ack = read_fragment(&mut s).map_err(io)?;
    let (auth3, mut assoc): (_, ClientAssociation) =
        client::bound(&ack, &negotiate, auth_level, creds).map_err(rpc)?;
    // AUTH3 and the call in one write, as one segment where they fit.
    let mut out = auth3.unwrap_or_default();
    out.extend_from_slice(&assoc.call(opnum, stub));
    s.write_all(&out).map_err(io)?;
    loop {
        let frag = read_fragment(&mut s).map_err(io)?;
        if let Some(stub) = assoc.response(&frag).map_err(rpc)? {
            return Ok(stub);
        }
    }
}

/// Reads one whole fragment off a connection.
pub fn read_fragment(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut frag = vec![0u8; pdu::HEADER_LEN];
    s.read_exact(&mut frag)?;
    let n = match pdu::fragment_len(&frag) {
        Ok(Some(n)) if n >= pdu::HEADER_LEN => n,
        _ => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not a DCE/RPC fragment",
            ))
        }
    };
    frag.resize(n, 0);
    s.read_exact(&mut frag[pdu::HEADER_LEN..])?;
    Ok(frag)
}

/// The web client's outcome for an ICPR answer.
pub fn outcome(r: &CertServerResponse) -> Outcome {
    let id = (r.request_id != 0).then_some(r.request_id);
    match (r.status, r.disposition) {
        (0, 3) if !r.encoded_cert.is_empty() => Outcome::Issued {
            id: r.request_id,
            certificate: r.encoded_cert.clone(),
        },
        (0, 5) => Outcome::Pending { id: r.request_id },
        (0, d) => Outcome::Denied {
            id,
            message: r.disposition_message.clone(),
            hresult: (d & 0x8000_0000 != 0).then_some(HResult(d)),
        },
        (h, _) => Outcome::Error {
            message: r.disposition_message.clone(),
            hresult: Some(HResult(h)),
        },
    }
}
