//! Accepting and serving connections within HTTP.sys's limits
//! ([`super::limits`]): a place among `max_connections` or a 503, the TLS
//! handshake and each request header within `header_wait_timeout`, idle
//! kept-alive connections closed after `idle_connection_timeout`.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::auth::ConnAuth;
use super::limits::{watchdog, Activity, Closed, Watched};
use super::{handle, Reply, Shared, MAX_HEADER_BYTES};

/// A TLS acceptor for the CA-issued identity, offering `alpn` (none for LDAPS).
pub(super) fn tls_acceptor(
    chain: Vec<Vec<u8>>,
    key: Vec<u8>,
    alpn: &[&[u8]],
) -> io::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let certs = chain.into_iter().map(CertificateDer::from).collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(io::Error::other)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// A port that could not be bound, with what wanted it and the settings
/// that change it (`setting`: `[ldap] port or --ldap-port`; `off`: the
/// flag that turns the service off, if any).
pub(crate) fn bind_error(
    e: io::Error,
    what: &str,
    at: std::net::SocketAddr,
    setting: &str,
    off: Option<&str>,
) -> io::Error {
    let off = off.map(|f| format!(", or {f}")).unwrap_or_default();
    let hint = match e.kind() {
        io::ErrorKind::PermissionDenied => {
            format!(" (ports below 1024 need root or CAP_NET_BIND_SERVICE; set {setting}{off})")
        }
        io::ErrorKind::AddrInUse => format!(" (another server has it; set {setting}{off})"),
        _ => String::new(),
    };
    io::Error::new(e.kind(), format!("{what} on {at}: {e}{hint}"))
}

pub(super) async fn accept_loop(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else {
                    // Out of file descriptors, say: wait instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, shared.clone(), acceptor.clone()));
            }
        }
    }
}

/// One accepted connection: admitted and served, or refused with a 503.
async fn serve(
    stream: tokio::net::TcpStream,
    shared: Arc<Shared>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
) {
    let place = shared.connections.admit(shared.limits.max_connections);
    let Some(acceptor) = acceptor else {
        return match place {
            Some(_place) => serve_connection(stream, shared, false).await,
            None => refuse(stream, &shared).await,
        };
    };
    let handshake = tokio::time::timeout(shared.limits.header_wait(), acceptor.accept(stream));
    match handshake.await {
        Ok(Ok(tls)) => match place {
            Some(_place) => serve_connection(tls, shared, true).await,
            None => refuse(tls, &shared).await,
        },
        Ok(Err(_)) => {}
        Err(_) => shared.connections.closed(Closed::HeaderWait),
    }
}

async fn serve_connection<I>(io: I, shared: Arc<Shared>, tls: bool)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = Arc::new(Mutex::new(ConnAuth::default()));
    let activity = Activity::new();
    let limits = shared.limits.clone();
    let stats = shared.connections.clone();
    let marks = activity.clone();
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        let conn = conn.clone();
        let marks = marks.clone();
        async move {
            marks.busy();
            let answer = handle(shared, conn, req, tls).await;
            marks.idle();
            answer
        }
    });
    let serving = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .max_header_size(MAX_HEADER_BYTES)
        .serve_connection(TokioIo::new(Watched::new(io, activity.clone())), service);
    tokio::select! {
        _ = serving => {}
        why = watchdog(activity, limits) => stats.closed(why),
    }
}

/// Over `max_connections`: each request gets HTTP.sys's 503 and the
/// connection closes; nothing reaches the CA.
async fn refuse<I>(io: I, shared: &Shared)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(|_req| async {
        let mut r = Reply::status(503, "Service Unavailable");
        r.close = true;
        Ok::<_, std::convert::Infallible>(r.into_response())
    });
    let serving = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .max_header_size(MAX_HEADER_BYTES)
        .serve_connection(TokioIo::new(io), service);
    let _ = tokio::time::timeout(shared.limits.header_wait(), serving).await;
}
