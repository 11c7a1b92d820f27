//! MS-ICPR over `ncacn_ip_tcp` (what `certipy req` without `-web` uses),
//! and the endpoint mapper on port 135 that tells clients where it is:
//! the listeners, one [`Association`] per connection, NTLM against the
//! directory, and the mapper's one call (`icpr` answers the CA's).
//! Each connection is one [`Association`]; NTLM proves the caller against
//! the same directory as the pages, and `CertServerRequest` goes to the
//! same CA engine, so templates, ACLs, the pending flow and the journal
//! are shared.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::auth::{new_challenge, prove_authenticate};
use super::directory::Identity;
use super::Shared;
use adcs_proto::ntlm::{self, ChallengeState, Verified};
use adcs_proto::rpc::assoc::{Acceptor, Association, Call, Step, MAX_FRAG};
use adcs_proto::rpc::epm::{EptMap, EptMapResponse, Tower, EPT_MAP, EPT_S_NOT_REGISTERED};
use adcs_proto::rpc::icpr::CERT_SERVER_REQUEST;
use adcs_proto::rpc::{pdu, status, EPM, ICERT_PASSAGE, NDR};

mod icpr;

/// How the journal names calls over TCP.
const OVER_TCP: &str = "RPC";

/// `[rpc]` in serve.toml. Every field is optional. Without the section
/// `serve` runs RPC when it can bind the ports (`optional`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpcConfig {
    /// `false` turns RPC off (as `serve --no-rpc` does).
    pub enabled: bool,
    /// Serve RPC only if the ports can be bound; otherwise go on without
    /// it (and say why). Not a file setting: `serve`'s default.
    #[serde(skip)]
    pub optional: bool,
    /// The endpoint mapper's port: 135, where every client looks.
    pub epm_port: u16,
    /// ICertPassage's port; 0 picks a free one (the mapper names it).
    pub port: u16,
    /// IF_ENFORCEENCRYPTICERTREQUEST: refuse requests below packet
    /// privacy, as a patched CA does. Off is ESC11.
    pub enforce_encryption: bool,
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            enabled: true,
            optional: false,
            epm_port: 135,
            port: 0,
            enforce_encryption: true,
        }
    }
}

/// How long a connection may sit between fragments.
const IDLE: Duration = Duration::from_secs(120);
/// The largest fragment read: twice what the bind_ack offers, so a client
/// that overshoots it is still read, and nothing unbounded is.
const MAX_READ: usize = 2 * MAX_FRAG as usize;

/// The two listeners, bound before the server starts.
pub(crate) struct Listeners {
    epm: std::net::TcpListener,
    icpr: std::net::TcpListener,
}

impl Listeners {
    /// Binds both on `ip`; port 135 without the right to gets a message
    /// naming the setting to change.
    pub(crate) fn bind(ip: std::net::IpAddr, c: &RpcConfig) -> io::Result<Listeners> {
        let epm_at = SocketAddr::new(ip, c.epm_port);
        let epm = std::net::TcpListener::bind(epm_at).map_err(|e| {
            let what = "the RPC endpoint mapper";
            let setting = "[rpc] epm_port or --rpc-epm-port";
            crate::web::connections::bind_error(e, what, epm_at, setting, Some("--no-rpc"))
        })?;
        let icpr_at = SocketAddr::new(ip, c.port);
        let icpr = std::net::TcpListener::bind(icpr_at)
            .map_err(|e| io::Error::new(e.kind(), format!("ICertPassage on {icpr_at}: {e}")))?;
        epm.set_nonblocking(true)?;
        icpr.set_nonblocking(true)?;
        Ok(Listeners { epm, icpr })
    }

    pub(crate) fn addrs(&self) -> io::Result<(SocketAddr, SocketAddr)> {
        Ok((self.epm.local_addr()?, self.icpr.local_addr()?))
    }

    /// Starts both accept loops on the current runtime.
    pub(crate) fn spawn(self, shared: Arc<Shared>, enforce: bool) -> io::Result<()> {
        let icpr_at = self.icpr.local_addr()?;
        let epm = TcpListener::from_std(self.epm)?;
        let icpr = TcpListener::from_std(self.icpr)?;
        let s = shared.clone();
        tokio::spawn(accept(epm, s, Service::Epm { icpr: icpr_at }));
        tokio::spawn(accept(
            icpr,
            shared,
            Service::Icpr {
                enforce,
                method: OVER_TCP,
            },
        ));
        Ok(())
    }
}

/// What an association serves.
#[derive(Clone, Copy)]
pub(crate) enum Service {
    /// The mapper, naming ICertPassage's address.
    Epm { icpr: SocketAddr },
    /// ICertPassage; `method` is how the journal names the transport.
    Icpr { enforce: bool, method: &'static str },
}

async fn accept(listener: TcpListener, shared: Arc<Shared>, service: Service) {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let mut group = 0x1000u32;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors, say: back off as the page listener does.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        group = group.wrapping_add(1);
        let interfaces = match service {
            Service::Epm { .. } => vec![EPM],
            Service::Icpr { .. } => vec![ICERT_PASSAGE],
        };
        let assoc = Association::new(interfaces, port, group);
        tokio::spawn(connection(stream, shared.clone(), service, assoc));
    }
}

/// Reads one fragment, bounded in size and time; `None` at a clean end.
async fn read_fragment(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut frag = vec![0u8; pdu::HEADER_LEN];
    match tokio::time::timeout(IDLE, stream.read_exact(&mut frag)).await {
        Err(_) => return Err(io::ErrorKind::TimedOut.into()),
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Ok(r) => r?,
    };
    let len = match pdu::fragment_len(&frag) {
        Ok(Some(n)) if (pdu::HEADER_LEN..=MAX_READ).contains(&n) => n,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a DCE/RPC fragment",
            ))
        }
    };
    frag.resize(len, 0);
    tokio::time::timeout(IDLE, stream.read_exact(&mut frag[pdu::HEADER_LEN..]))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
    Ok(Some(frag))
}

/// NTLM against the directory; remembers who signed in.
pub(crate) struct DirectoryAcceptor {
    shared: Arc<Shared>,
    pub(crate) identity: Option<Identity>,
}

impl DirectoryAcceptor {
    pub(crate) fn new(shared: Arc<Shared>) -> DirectoryAcceptor {
        DirectoryAcceptor {
            shared,
            identity: None,
        }
    }
}

impl Acceptor for DirectoryAcceptor {
    fn challenge(&mut self, negotiate: &[u8]) -> Result<ChallengeState, String> {
        let now = ntlm::filetime(self.shared.ca.clock().now());
        new_challenge(&self.shared.auth.names, now, negotiate)
    }

    fn authenticate(
        &mut self,
        state: &ChallengeState,
        msg: &[u8],
    ) -> Result<(String, Verified, u32), String> {
        self.identity = None;
        // No TLS under RPC: no channel binding to check.
        let policy = ntlm::ChannelBindingPolicy::Off;
        let dir = &self.shared.directory;
        let (identity, verified, flags) = prove_authenticate(dir, state, msg, policy, None)?;
        let account = identity.account.clone();
        self.identity = Some(identity);
        Ok((account, verified, flags))
    }
}

async fn connection(
    mut stream: TcpStream,
    shared: Arc<Shared>,
    service: Service,
    mut assoc: Association,
) {
    let _ = stream.set_nodelay(true);
    let mut acceptor = DirectoryAcceptor::new(shared.clone());
    while let Ok(Some(frag)) = read_fragment(&mut stream).await {
        let out = match assoc.feed(&frag, &mut acceptor) {
            Step::Nothing => continue,
            Step::Send(bytes) => bytes,
            Step::Call(call) => {
                let who = assoc.authenticated().and(acceptor.identity.clone());
                let why = assoc.auth_failure().map(str::to_string);
                match answer(&shared, service, &mut assoc, &call, who, why).await {
                    Some(bytes) => bytes,
                    None => break,
                }
            }
            Step::Close(bytes, _) => {
                let _ = stream.write_all(&bytes).await;
                break;
            }
        };
        if stream.write_all(&out).await.is_err() {
            break;
        }
    }
}

/// The reply to one call: a response or a fault; `None` closes the
/// connection unanswered (an injected reset).
pub(crate) async fn answer(
    shared: &Arc<Shared>,
    service: Service,
    assoc: &mut Association,
    call: &Call,
    who: Option<Identity>,
    auth_failure: Option<String>,
) -> Option<Vec<u8>> {
    let result = match (service, who) {
        (Service::Epm { icpr }, _) if call.opnum == EPT_MAP => ept_map(call, icpr),
        (Service::Epm { .. }, _) => Err(status::NCA_S_OP_RNG_ERROR),
        (Service::Icpr { method, .. }, None) => {
            icpr::unauthenticated(shared, call, auth_failure, method);
            Err(status::ACCESS_DENIED)
        }
        (Service::Icpr { enforce, method }, Some(who)) if call.opnum == CERT_SERVER_REQUEST => {
            icpr::cert_server_request(shared, call, &who, enforce, method).await?
        }
        (Service::Icpr { .. }, Some(_)) => Err(status::NCA_S_OP_RNG_ERROR),
    };
    Some(match result {
        Ok(stub) => assoc.respond(call, &stub),
        Err(status) => assoc.fault(call.call_id, call.context_id, status),
    })
}

/// Maps ICertPassage over TCP to its address; anything else is not
/// registered. A listener on every address names loopback.
fn ept_map(call: &Call, icpr: SocketAddr) -> Result<Vec<u8>, u32> {
    let ip = match icpr.ip() {
        std::net::IpAddr::V4(v4) if !v4.is_unspecified() => v4.octets(),
        _ => [127, 0, 0, 1],
    };
    let m = EptMap::parse(&call.stub).map_err(|_| status::RPC_X_BAD_STUB_DATA)?;
    let asked = m.tower.as_deref().and_then(|t| Tower::parse(t).ok());
    let ours = asked.as_ref().is_some_and(|t| {
        t.interface() == Some(ICERT_PASSAGE)
            && t.transfer_syntax() == Some(NDR)
            && t.transport() == Some(adcs_proto::rpc::epm::floor::TCP)
    });
    let (towers, st) = if ours && m.max_towers > 0 {
        (
            vec![Tower::tcp(&ICERT_PASSAGE, &NDR, icpr.port(), ip).encode()],
            0,
        )
    } else {
        (Vec::new(), EPT_S_NOT_REGISTERED)
    };
    Ok(EptMapResponse {
        handle: [0; 20],
        towers,
        max_towers: m.max_towers,
        status: st,
    }
    .encode())
}
