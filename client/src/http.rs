//! A small blocking HTTP/1.1 client pinned to one TCP/TLS connection, which
//! NTLM needs (its three legs must share a socket; a pooled client does not
//! promise that). Basic or NTLM credentials, TLS with chosen roots, and the
//! server certificate for channel bindings.
//!
//! Every wait is bounded: connecting, the TLS handshake and the wait for a
//! response each give up after the session's timeout. A request is sent
//! again only when it provably never left (the kept-alive connection was
//! found closed before the write) or when it is a GET or HEAD, which change
//! nothing; a POST whose bytes were written is never re-sent, because the CA
//! may already hold it.

use std::sync::Arc;
use std::time::Duration;

use adcs_proto::ntlm;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// Errors below the certsrv level: addresses, connections, TLS, HTTP.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("bad URL `{0}`: {1}")]
    Url(String, &'static str),
    #[error("cannot connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("TLS with {0}: {1}")]
    Tls(String, String),
    #[error("HTTP: {0}")]
    Http(String),
    #[error("authentication failed: {0}")]
    Auth(String),
    /// Nothing came back in time. After a POST was written the request may
    /// have reached the CA, and the message says how to find out.
    #[error("{url}: no answer within {} s while {phase}{}", seconds.as_secs_f64(), if *sent_post { "; the request may have reached the CA: check the pending list or the request ID before submitting it again" } else { "" })]
    Timeout {
        url: String,
        phase: Phase,
        seconds: Duration,
        sent_post: bool,
    },
    /// The connection broke after a POST was written: never sent again.
    #[error("{url}: the connection broke after the request was sent ({detail}); the request may have reached the CA: check the pending list or the request ID before submitting it again")]
    MaybeSent { url: String, detail: String },
}

impl HttpError {
    /// True when a wait ran out (the CLI's own exit code).
    pub fn is_timeout(&self) -> bool {
        matches!(self, HttpError::Timeout { .. })
    }
}

/// How long a client waits for each step of a request, unless told
/// otherwise: 60 s, as Certipy and impacket do.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Which wait ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Connect,
    TlsHandshake,
    Response,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Connect => "connecting",
            Phase::TlsHandshake => "in the TLS handshake",
            Phase::Response => "waiting for the response",
        })
    }
}

/// Why a request on an open connection failed: whether it may have reached
/// the server decides whether it may be sent again.
enum SendFailure {
    /// The connection was closed before anything was written.
    NotSent(HttpError),
    /// Written, or possibly written.
    Sent(HttpError),
}

impl SendFailure {
    fn into_error(self) -> HttpError {
        match self {
            SendFailure::NotSent(e) | SendFailure::Sent(e) => e,
        }
    }
}

/// Runs `fut`, or gives up after `limit` with a timeout naming `phase`.
async fn within<T>(
    limit: Duration,
    url: &str,
    phase: Phase,
    fut: impl std::future::Future<Output = Result<T, HttpError>>,
) -> Result<T, HttpError> {
    tokio::time::timeout(limit, fut).await.unwrap_or_else(|_| {
        Err(HttpError::Timeout {
            url: url.to_string(),
            phase,
            seconds: limit,
            sent_post: false,
        })
    })
}

/// A parsed `http(s)://host[:port]/path` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Starts with `/`.
    pub path: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, HttpError> {
        let bad = |why| HttpError::Url(url.to_string(), why);
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad("expected http:// or https://"));
        };
        let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
        let (host, port) = if let Some(h) = authority.strip_prefix('[') {
            let (h, p) = h.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            (h.to_string(), p.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("bad port"))?,
            None if tls => 443,
            None => 80,
        };
        Ok(Url {
            tls,
            host,
            port,
            path: path.to_string(),
        })
    }

    /// `scheme://host:port` without a path.
    pub fn origin(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }

    /// This URL's path joined with `rel` (which may carry a query).
    pub fn join(&self, rel: &str) -> String {
        if rel.starts_with('/') {
            rel.to_string()
        } else {
            let base = &self.path[..self.path.rfind('/').map_or(0, |i| i + 1)];
            format!("{}{rel}", if base.is_empty() { "/" } else { base })
        }
    }
}

/// Which certificates an HTTPS server may present.
#[derive(Clone, Debug)]
pub enum Trust {
    /// Chains ending in one of these DER certificates.
    Roots(Vec<Vec<u8>>),
    /// Accept any certificate (tests against throwaway servers only).
    AnyCertificate,
}

/// How to sign in. Its `Debug` form leaves the password out.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    None,
    Basic {
        user: String,
        password: String,
    },
    /// NTLMv2; `user` may be `DOMAIN\name`, `name@domain` or `name`.
    Ntlm {
        user: String,
        password: String,
        /// Send the tokens under `Negotiate` instead of `NTLM`; then
        /// Kerberos comes first when the realm is configured
        /// ([`crate::negotiate`]).
        negotiate_label: bool,
    },
    /// Kerberos under `Negotiate`, with no NTLM to fall back on: a ticket
    /// for `account` (user, password) from the realm's KDC, or from the
    /// ticket cache (after kinit) when `None`.
    Kerberos {
        account: Option<(String, String)>,
        /// The ticket cache when `account` is `None` (else `KRB5CCNAME`'s).
        ccache: Option<std::path::PathBuf>,
        /// The realm's krb5.conf; the process's `KRB5_CONFIG` when `None`.
        krb5_conf: Option<std::path::PathBuf>,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Kerberos {
                account,
                ccache,
                krb5_conf,
            } => f
                .debug_struct("Kerberos")
                .field("user", &account.as_ref().map(|(u, _)| u))
                .field("ccache", ccache)
                .field("krb5_conf", krb5_conf)
                .finish(),
            Credentials::Basic { user, .. } => f
                .debug_struct("Basic")
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
            Credentials::Ntlm {
                user,
                negotiate_label,
                ..
            } => f
                .debug_struct("Ntlm")
                .field("user", user)
                .field("password", &"<redacted>")
                .field("negotiate_label", negotiate_label)
                .finish(),
        }
    }
}

/// How one Kerberos attempt gets its ticket.
#[derive(Clone, Copy)]
struct Kerberos<'a> {
    account: Option<(&'a str, &'a str)>,
    ccache: Option<&'a std::path::Path>,
    krb5_conf: Option<&'a std::path::Path>,
    /// NTLM may follow when no ticket can be had.
    fallback: bool,
}

/// A response with its body read.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

mod tls;
pub(crate) use tls::tls_config;

/// One kept-alive HTTP/1.1 connection.
pub struct Connection {
    rt: tokio::runtime::Runtime,
    sender: SendRequest<Full<Bytes>>,
    host_header: String,
    origin: String,
    timeout: Duration,
    /// A second handle on the socket, to ask the kernel whether the server
    /// has closed it: the runtime's reactor may learn that late (Wine's
    /// socket emulation on a busy machine), the kernel knows at once.
    probe: Option<std::net::TcpStream>,
    /// The server's TLS certificate (DER), for channel bindings.
    pub server_certificate: Option<Vec<u8>>,
}

impl Connection {
    /// Opens a connection, each step bounded by [`DEFAULT_TIMEOUT`].
    pub fn open(url: &Url, trust: &Trust) -> Result<Connection, HttpError> {
        Self::open_within(url, trust, DEFAULT_TIMEOUT)
    }

    /// Opens a connection, giving up on each step after `timeout`.
    pub fn open_within(
        url: &Url,
        trust: &Trust,
        timeout: Duration,
    ) -> Result<Connection, HttpError> {
        let origin = url.origin();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| HttpError::Connect(origin.clone(), e))?;
        let addr = format!("{}:{}", url.host, url.port);
        let mut probe = None;
        let (sender, server_certificate) = rt.block_on(async {
            let tcp = within(timeout, &origin, Phase::Connect, async {
                tokio::net::TcpStream::connect(&addr)
                    .await
                    .map_err(|e| HttpError::Connect(origin.clone(), e))
            })
            .await?;
            let _ = tcp.set_nodelay(true);
            let (tcp, second) =
                with_probe(tcp).map_err(|e| HttpError::Connect(origin.clone(), e))?;
            probe = second;
            if !url.tls {
                return Ok((handshake(tcp).await?, None));
            }
            let tls = within(timeout, &origin, Phase::TlsHandshake, async {
                let config = tls_config(trust, &[b"http/1.1"])
                    .map_err(|e| HttpError::Tls(origin.clone(), e))?;
                let name = rustls::pki_types::ServerName::try_from(url.host.clone())
                    .map_err(|e| HttpError::Tls(origin.clone(), e.to_string()))?;
                tokio_rustls::TlsConnector::from(Arc::new(config))
                    .connect(name, tcp)
                    .await
                    .map_err(|e| HttpError::Tls(origin.clone(), e.to_string()))
            })
            .await?;
            let cert = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.to_vec());
            Ok((handshake(tls).await?, cert))
        })?;
        let host_header = if url.port == if url.tls { 443 } else { 80 } {
            url.host.clone()
        } else {
            format!("{}:{}", url.host, url.port)
        };
        Ok(Connection {
            rt,
            sender,
            host_header,
            origin,
            timeout,
            probe,
            server_certificate,
        })
    }

    /// Whether the server has closed this connection (or reset it): the
    /// kernel has its FIN, so a request written now would meet a closed
    /// socket. Bytes waiting (a TLS alert, an unasked-for answer) are left
    /// to the HTTP stack.
    fn closed_by_server(&self) -> bool {
        let Some(probe) = &self.probe else {
            return false;
        };
        match probe.peek(&mut [0u8; 1]) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
        }
    }

    /// Sends one request on this connection and reads the whole response.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<HttpResponse, HttpError> {
        self.exchange(method, path, headers, body)
            .map_err(SendFailure::into_error)
    }

    /// [`Connection::send`], saying whether a failed request may have left.
    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<HttpResponse, SendFailure> {
        let mut b = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("Host", &self.host_header);
        for (k, v) in headers {
            b = b.header(*k, v.as_str());
        }
        if !body.is_empty() || method == "POST" {
            b = b.header("Content-Length", body.len().to_string());
        }
        let req = b
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| SendFailure::NotSent(HttpError::Http(e.to_string())))?;
        let url = format!("{}{path}", self.origin);
        if self.closed_by_server() {
            return Err(SendFailure::NotSent(HttpError::Http(format!(
                "{url}: the server closed the connection"
            ))));
        }
        let post = method == "POST";
        let limit = self.timeout;
        let sender = &mut self.sender;
        let exchange = async {
            // Let the connection task see a close the server sent while the
            // connection sat idle, so a stale connection is found closed
            // before the write (and the request may go on a new one).
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
            if let Err(e) = sender.ready().await {
                return Err(SendFailure::NotSent(HttpError::Http(format!(
                    "connection closed: {e}"
                ))));
            }
            let resp = match sender.try_send_request(req).await {
                Ok(r) => r,
                Err(e) if e.message().is_some() => {
                    return Err(SendFailure::NotSent(HttpError::Http(
                        e.into_error().to_string(),
                    )))
                }
                Err(e) if post => {
                    return Err(SendFailure::Sent(HttpError::MaybeSent {
                        url: url.clone(),
                        detail: e.into_error().to_string(),
                    }))
                }
                Err(e) => {
                    return Err(SendFailure::Sent(HttpError::Http(
                        e.into_error().to_string(),
                    )))
                }
            };
            read_response(resp).await.map_err(SendFailure::Sent)
        };
        match self
            .rt
            .block_on(async move { tokio::time::timeout(limit, exchange).await })
        {
            Ok(result) => result,
            Err(_) => Err(SendFailure::Sent(HttpError::Timeout {
                url,
                phase: Phase::Response,
                seconds: limit,
                sent_post: post,
            })),
        }
    }
}

/// The status, reason, headers and whole body of a response.
async fn read_response(
    resp: hyper::Response<hyper::body::Incoming>,
) -> Result<HttpResponse, HttpError> {
    let status = resp.status().as_u16();
    let reason = resp
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .unwrap_or_else(|| resp.status().canonical_reason().unwrap_or("").to_string());
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| HttpError::Http(e.to_string()))?
        .to_bytes()
        .to_vec();
    Ok(HttpResponse {
        status,
        reason,
        headers,
        body,
    })
}

/// The stream, and a second handle on its socket for [`Connection::closed_by_server`]
/// (none where the platform cannot duplicate it: then only the reactor tells).
fn with_probe(
    tcp: tokio::net::TcpStream,
) -> std::io::Result<(tokio::net::TcpStream, Option<std::net::TcpStream>)> {
    let std = tcp.into_std()?;
    let probe = std.try_clone().ok();
    Ok((tokio::net::TcpStream::from_std(std)?, probe))
}

async fn handshake<I>(io: I) -> Result<SendRequest<Full<Bytes>>, HttpError>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| HttpError::Http(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// A signed-in connection: Basic on every request, or NTLM once per
/// connection (answered again if the server asks). Reconnects if the server
/// closed the connection between requests.
pub struct Session {
    url: Url,
    trust: Trust,
    credentials: Credentials,
    conn: Option<Connection>,
    pub user_agent: Option<String>,
    /// The bound on each wait (connect, TLS handshake, response).
    pub timeout: Duration,
}

impl Session {
    pub fn new(url: &str, trust: Trust, credentials: Credentials) -> Result<Session, HttpError> {
        Ok(Session {
            url: Url::parse(url)?,
            trust,
            credentials,
            conn: None,
            user_agent: None,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The TLS certificate the server presented on the open connection.
    pub fn server_certificate(&self) -> Option<&[u8]> {
        self.conn.as_ref()?.server_certificate.as_deref()
    }

    fn connection(&mut self) -> Result<&mut Connection, HttpError> {
        if self.conn.is_none() {
            self.conn = Some(Connection::open_within(
                &self.url,
                &self.trust,
                self.timeout,
            )?);
        }
        Ok(self.conn.as_mut().expect("just opened"))
    }

    /// The same request on a fresh connection.
    fn retry(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<HttpResponse, HttpError> {
        self.conn = None;
        self.connection()?.send(method, path, headers, body)
    }

    /// Sends a request to `path` (absolute, or relative to the session URL).
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<HttpResponse, HttpError> {
        let path = self.url.join(path);
        let mut headers: Vec<(&str, String)> = Vec::new();
        if let Some(ua) = &self.user_agent {
            headers.push(("User-Agent", ua.clone()));
        }
        if let Some(ct) = content_type {
            headers.push(("Content-Type", ct.to_string()));
        }
        if let Credentials::Basic { user, password } = &self.credentials {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            headers.push(("Authorization", format!("Basic {token}")));
        }
        let first = match self.connection()?.exchange(method, &path, &headers, body) {
            Ok(r) => r,
            // A kept-alive connection the server had closed: the request
            // never left, so one fresh connection may carry it. A GET or
            // HEAD may go again whatever happened; a POST that left may not.
            Err(SendFailure::NotSent(_)) => self.retry(method, &path, &headers, body)?,
            Err(SendFailure::Sent(HttpError::Http(_))) if matches!(method, "GET" | "HEAD") => {
                self.retry(method, &path, &headers, body)?
            }
            Err(failure) => {
                self.conn = None;
                return Err(failure.into_error());
            }
        };
        if first.status != 401 {
            return Ok(first);
        }
        let offers_negotiate = first
            .header_all("WWW-Authenticate")
            .iter()
            .any(|v| v.split(' ').next() == Some("Negotiate"));
        match self.credentials.clone() {
            Credentials::Kerberos {
                account,
                ccache,
                krb5_conf,
            } => {
                let account = account.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
                let krb = Kerberos {
                    account,
                    ccache: ccache.as_deref(),
                    krb5_conf: krb5_conf.as_deref(),
                    fallback: false,
                };
                return Ok(self
                    .kerberos(method, &path, &headers, body, krb)?
                    .unwrap_or(first));
            }
            Credentials::Ntlm {
                user,
                password,
                negotiate_label: true,
            } if offers_negotiate && crate::negotiate::realm_configured() => {
                let krb = Kerberos {
                    account: Some((user.as_str(), password.as_str())),
                    ccache: None,
                    krb5_conf: None,
                    fallback: true,
                };
                if let Some(r) = self.kerberos(method, &path, &headers, body, krb)? {
                    return Ok(r);
                }
            }
            _ => {}
        }
        let Credentials::Ntlm {
            user,
            password,
            negotiate_label,
        } = self.credentials.clone()
        else {
            return Ok(first);
        };
        let label = if negotiate_label { "Negotiate" } else { "NTLM" };
        let b64 = base64::engine::general_purpose::STANDARD;
        let negotiate = ntlm::client_negotiate();
        let mut leg = headers.clone();
        leg.push((
            "Authorization",
            format!("{label} {}", b64.encode(&negotiate)),
        ));
        let conn = self.connection()?;
        let challenge = conn.send(method, &path, &leg, body)?;
        let token = challenge
            .header_all("WWW-Authenticate")
            .into_iter()
            .find_map(|v| {
                let (scheme, t) = v.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case(label)
                    .then(|| b64.decode(t.trim()).ok())?
            })
            .ok_or_else(|| {
                HttpError::Auth(format!("no {label} challenge (HTTP {})", challenge.status))
            })?;
        let (domain, name) = ntlm::split_account(&user, "");
        let opts = ntlm::ClientOptions {
            channel_binding: conn
                .server_certificate
                .as_deref()
                .map(ntlm::channel_binding_hash),
            mic: true,
            client_challenge: {
                let mut c = [0u8; 8];
                aws_lc_rs::rand::fill(&mut c).map_err(|_| {
                    HttpError::Auth("no randomness for the client challenge".into())
                })?;
                c
            },
        };
        let auth = ntlm::client_authenticate(&negotiate, &token, name, domain, &password, &opts)
            .map_err(|e| HttpError::Auth(e.to_string()))?;
        let mut leg = headers;
        leg.push(("Authorization", format!("{label} {}", b64.encode(&auth))));
        conn.send(method, &path, &leg, body)
    }

    /// One Kerberos leg under `Negotiate`, the server's proof checked.
    /// `None` when no ticket could be had and `krb.fallback` lets the
    /// caller go on with NTLM; otherwise that is an error.
    fn kerberos(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
        krb: Kerberos<'_>,
    ) -> Result<Option<HttpResponse>, HttpError> {
        let host = self.url.host.clone();
        let conn = self.connection()?;
        let binding = conn
            .server_certificate
            .as_deref()
            .map(crate::negotiate::binding_of);
        let started = crate::negotiate::start(
            &host,
            krb.account,
            krb.ccache,
            binding.as_deref(),
            krb.krb5_conf,
        );
        let (mut ctx, token) = match started {
            Ok(started) => started,
            Err(_) if krb.fallback => return Ok(None),
            Err(e) => return Err(HttpError::Auth(format!("Kerberos: {e}"))),
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut leg = headers.to_vec();
        leg.push(("Authorization", format!("Negotiate {}", b64.encode(token))));
        let r = conn.send(method, path, &leg, body)?;
        if r.status == 401 {
            return Ok(Some(r));
        }
        let proof = r.header_all("WWW-Authenticate").into_iter().find_map(|v| {
            let (scheme, t) = v.split_once(' ')?;
            (scheme == "Negotiate").then(|| b64.decode(t.trim()).ok())?
        });
        crate::negotiate::finish(&mut ctx, proof.as_deref())
            .map_err(|e| HttpError::Auth(format!("Kerberos: {e}")))?;
        Ok(Some(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_defaults_and_ipv6() {
        let u = Url::parse("https://127.0.0.1:8443/certsrv/").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.path.as_str()),
            (true, "127.0.0.1", 8443, "/certsrv/")
        );
        assert_eq!(
            u.join("certnew.cer?ReqID=1"),
            "/certsrv/certnew.cer?ReqID=1"
        );
        assert_eq!(u.join("/control/status"), "/control/status");
        let u = Url::parse("http://ca01.contoso.test").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/"));
        let u = Url::parse("https://[::1]:9/x").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9));
        assert_eq!(u.origin(), "https://[::1]:9");
        assert!(Url::parse("ftp://x").is_err());
        assert!(Url::parse("http://:80/").is_err());
        assert!(Url::parse("http://x:port/").is_err());
    }
}
