//! The domain controller's LDAP (389, with StartTLS) and LDAPS (636): the
//! listeners and one connection loop each, reading whole messages under
//! AD's size bound and an idle timeout. What a message does is in
//! `session` (binds) and `ops` (searches and the rest); the objects come
//! from [`crate::forest`], computed from the CA engine on every search.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::Shared;
use adcs_proto::ldap::{self, Outcome, Request, ResultCode, MAX_MESSAGE};

mod ops;
mod sasl;
mod session;

pub use session::{Binding, Policies, Session};

/// `[ldap]` in serve.toml. Without the section `serve` runs LDAP where
/// the ports can be bound (`optional`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LdapConfig {
    /// `false` turns the directory off (as `serve --no-ldap` does).
    pub enabled: bool,
    /// Serve only if the ports can be bound; otherwise go on without (and
    /// say why). Not a file setting: `serve`'s default.
    #[serde(skip)]
    pub optional: bool,
    /// LDAP (with StartTLS); 0 picks a free port.
    pub port: u16,
    /// LDAPS; 0 picks a free port.
    pub ldaps_port: u16,
    /// The domain controller's DNS name; `dc01.<domain>` when absent.
    pub dc_name: Option<String>,
    /// "LDAP server signing requirements": `none` (the default) or
    /// `require` (simple binds and binds without signing refused off TLS).
    pub signing: Signing,
    /// "LDAP server channel binding token requirements" for NTLM over
    /// LDAPS: `off` (never), `accept` (when supported, the default) or
    /// `require` (always).
    pub channel_binding: adcs_proto::ntlm::ChannelBindingPolicy,
}

/// AD's LDAP server signing requirements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Signing {
    #[default]
    None,
    Require,
}

impl Default for LdapConfig {
    fn default() -> Self {
        LdapConfig {
            enabled: true,
            optional: false,
            port: 389,
            ldaps_port: 636,
            dc_name: None,
            signing: Signing::None,
            channel_binding: adcs_proto::ntlm::ChannelBindingPolicy::Accept,
        }
    }
}

/// AD's MaxConnIdleTime (900 s): a connection silent this long is closed.
const IDLE: Duration = Duration::from_secs(900);
/// How long a TLS handshake may take.
const HANDSHAKE: Duration = Duration::from_secs(30);

/// The two listeners, bound before the server starts.
pub(crate) struct Listeners {
    plain: std::net::TcpListener,
    tls: std::net::TcpListener,
}

impl Listeners {
    /// Binds both on `ip`; a port that cannot be had gets a message naming
    /// the setting to change.
    pub(crate) fn bind(ip: std::net::IpAddr, c: &LdapConfig) -> io::Result<Listeners> {
        let bind = |port: u16, what: &str, key: &str, flag: &str| {
            let at = SocketAddr::new(ip, port);
            let l = std::net::TcpListener::bind(at).map_err(|e| {
                let setting = format!("[ldap] {key} or {flag}");
                crate::web::connections::bind_error(e, what, at, &setting, Some("--no-ldap"))
            })?;
            l.set_nonblocking(true)?;
            Ok::<_, io::Error>(l)
        };
        Ok(Listeners {
            plain: bind(c.port, "LDAP", "port", "--ldap-port")?,
            tls: bind(c.ldaps_port, "LDAPS", "ldaps_port", "--ldaps-port")?,
        })
    }

    pub(crate) fn addrs(&self) -> io::Result<(SocketAddr, SocketAddr)> {
        Ok((self.plain.local_addr()?, self.tls.local_addr()?))
    }

    /// Starts both accept loops on the current runtime. `tls` is the DC's
    /// TLS identity (chain, PKCS#8 key) for LDAPS and StartTLS.
    pub(crate) fn spawn(
        self,
        shared: Arc<Shared>,
        tls: (Vec<Vec<u8>>, Vec<u8>),
        policies: Policies,
    ) -> io::Result<()> {
        let leaf = tls.0.first();
        let binding = Binding {
            ntlm: leaf.map(|l| adcs_proto::ntlm::channel_binding_hash(l)),
            gss: leaf.map(|l| adcs_proto::gss::tls_server_end_point(l)),
        };
        let acceptor = super::connections::tls_acceptor(tls.0, tls.1, &[])?;
        let plain = TcpListener::from_std(self.plain)?;
        let secure = TcpListener::from_std(self.tls)?;
        let tls = Tls {
            acceptor,
            binding,
            policies,
        };
        tokio::spawn(accept(plain, shared.clone(), tls.clone(), false));
        tokio::spawn(accept(secure, shared, tls, true));
        Ok(())
    }
}

/// LDAPS and StartTLS: the acceptor and its NTLM channel binding.
#[derive(Clone)]
struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
    binding: Binding,
    policies: Policies,
}

async fn accept(listener: TcpListener, shared: Arc<Shared>, tls: Tls, secure: bool) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        // The directory's connections count against [limits]
        // max_connections with the pages'; one over it is closed at once.
        let Some(place) = shared.connections.admit(shared.limits.max_connections) else {
            drop(stream);
            continue;
        };
        let (shared, tls) = (shared.clone(), tls.clone());
        tokio::spawn(async move {
            let _place = place;
            let stream = if secure {
                match handshake(&tls, stream).await {
                    Some(s) => s,
                    None => return,
                }
            } else {
                Stream::Plain(stream)
            };
            connection(stream, shared, tls).await;
        });
    }
}

async fn handshake(tls: &Tls, stream: TcpStream) -> Option<Stream> {
    match tokio::time::timeout(HANDSHAKE, tls.acceptor.accept(stream)).await {
        Ok(Ok(s)) => Some(Stream::Tls(Box::new(s))),
        _ => None,
    }
}

/// A connection, before or after TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Stream {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf).await,
            Stream::Tls(s) => s.read(buf).await,
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(bytes).await,
            Stream::Tls(s) => s.write_all(bytes).await,
        }
    }

    fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }
}

/// What has been read and not yet answered: raw bytes (SASL buffers once
/// NTLM signing or sealing is on) and the clear LDAP bytes inside them.
#[derive(Default)]
struct Reader {
    raw: Vec<u8>,
    clear: Vec<u8>,
}

/// Reads the next whole message, unwrapping SASL buffers when the session
/// signs or seals; `Ok(None)` at a clean end of the connection.
async fn read_message(
    stream: &mut Stream,
    r: &mut Reader,
    session: &mut Session,
) -> io::Result<Option<Vec<u8>>> {
    loop {
        match ldap::frame_len(&r.clear, MAX_MESSAGE) {
            Ok(Some(n)) => return Ok(Some(r.clear.drain(..n).collect())),
            Ok(None) => {}
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
        if unwrap_buffered(r, session)? {
            continue;
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout(IDLE, stream.read(&mut chunk))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        if n == 0 {
            return Ok(None);
        }
        r.raw.extend_from_slice(&chunk[..n]);
    }
}

/// Moves what `raw` holds into `clear`: as it is, or one whole SASL
/// buffer unwrapped. False when more bytes are needed.
fn unwrap_buffered(r: &mut Reader, session: &mut Session) -> io::Result<bool> {
    let Some(wrapper) = session.wrapper() else {
        let moved = !r.raw.is_empty();
        r.clear.append(&mut r.raw);
        return Ok(moved);
    };
    let Some(head) = r.raw.get(..4) else {
        return Ok(false);
    };
    let len = u32::from_be_bytes(head.try_into().expect("4 bytes")) as usize;
    if len > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a SASL buffer over the size limit",
        ));
    }
    if r.raw.len() < 4 + len {
        return Ok(false);
    }
    let buffer: Vec<u8> = r.raw.drain(..4 + len).skip(4).collect();
    let clear = wrapper
        .unwrap(&buffer)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    r.clear.extend_from_slice(&clear);
    Ok(true)
}

/// What the loop does after a message.
pub(crate) enum Next {
    /// Send these messages and read on.
    Send(Vec<Vec<u8>>),
    /// Send this answer, then start TLS on the connection.
    StartTls(Vec<u8>),
    /// Close the connection (unbind).
    Close,
}

/// The notice of disconnection a server sends before it drops a
/// connection whose bytes it cannot read (protocolError, with why).
async fn goodbye(stream: &mut Stream, why: String) {
    let notice =
        ldap::response::notice_of_disconnection(&Outcome::new(ResultCode::ProtocolError, why));
    let _ = stream.write_all(&notice).await;
}

async fn connection(mut stream: Stream, shared: Arc<Shared>, tls: Tls) {
    let mut session = Session::new(stream.is_tls(), &tls.binding, tls.policies);
    let mut reader = Reader::default();
    loop {
        let bytes = match read_message(&mut stream, &mut reader, &mut session).await {
            Ok(Some(b)) => b,
            Ok(None) => return,
            Err(e) => return goodbye(&mut stream, e.to_string()).await,
        };
        let wrapped = session.wrapper().is_some();
        let next = match Request::decode(&bytes) {
            Ok(request) => {
                match ops::injected(&shared, ops::Caller::of(&session), &request).await {
                    Some(next) => next,
                    None => ops::answer(&shared, &mut session, request),
                }
            }
            Err(e) => return goodbye(&mut stream, e.to_string()).await,
        };
        match next {
            Next::Send(messages) if messages.is_empty() => {}
            Next::Send(messages) => {
                let all = messages.concat();
                let out = match session.wrapper().filter(|_| wrapped) {
                    Some(w) => match w.wrap(&all) {
                        Ok(out) => out,
                        Err(_) => return,
                    },
                    None => all,
                };
                if stream.write_all(&out).await.is_err() {
                    return;
                }
            }
            Next::StartTls(answer) => {
                let Stream::Plain(mut plain) = stream else {
                    return;
                };
                let pending = !reader.raw.is_empty() || !reader.clear.is_empty();
                if plain.write_all(&answer).await.is_err() || pending {
                    return;
                }
                stream = match handshake(&tls, plain).await {
                    Some(s) => s,
                    None => return,
                };
                session.started_tls();
            }
            Next::Close => return,
        }
    }
}
