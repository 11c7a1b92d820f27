//! The pages also on IIS's own ports: HTTP on 80 and HTTPS on 443 beside
//! the listen address, as IIS serves certsrv. Tools that probe the CA's
//! DNS name on the default ports find web enrollment there (Certipy's ESC8
//! check: `http://<CA host>/certsrv/` answering 401, and whether HTTPS
//! asks for channel binding).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::Deserialize;

use super::connections::{accept_loop, bind_error};
use super::Shared;

/// `[iis]` in serve.toml: on where the ports can be bound (`serve`'s
/// default), `--iis` insists, `--no-iis` turns it off.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IisConfig {
    /// `false` turns the extra ports off (as `serve --no-iis` does).
    pub enabled: bool,
    /// Serve only if the ports can be bound; otherwise go on without (and
    /// say why). Not a file setting: `serve`'s default.
    #[serde(skip)]
    pub optional: bool,
    /// Plain HTTP; 0 picks a free port.
    pub http_port: u16,
    /// HTTPS with the web server's certificate; 0 picks a free port.
    pub https_port: u16,
}

impl Default for IisConfig {
    fn default() -> Self {
        IisConfig {
            enabled: true,
            optional: false,
            http_port: 80,
            https_port: 443,
        }
    }
}

/// The HTTP and HTTPS addresses, or why they are not served.
pub(super) type IisStarted = (Option<(SocketAddr, SocketAddr)>, Option<String>);

/// Binds both ports on the listen address's IP and serves the pages on
/// them (HTTPS with `acceptor`), until the server's runtime stops.
pub(super) fn start(
    runtime: &tokio::runtime::Runtime,
    shared: &Arc<Shared>,
    listen: SocketAddr,
    config: Option<&IisConfig>,
    acceptor: &tokio_rustls::TlsAcceptor,
) -> io::Result<IisStarted> {
    let Some(c) = config.filter(|c| c.enabled) else {
        return Ok((None, None));
    };
    let bind = |port: u16, what: &str, setting: &str| {
        let at = SocketAddr::new(listen.ip(), port);
        let l = std::net::TcpListener::bind(at)
            .map_err(|e| bind_error(e, what, at, setting, Some("--no-iis")))?;
        l.set_nonblocking(true)?;
        Ok::<_, io::Error>(l)
    };
    let bound = bind(c.http_port, "HTTP", "[iis] http_port").and_then(|http| {
        let https = bind(c.https_port, "HTTPS", "[iis] https_port")?;
        Ok((http, https))
    });
    let (http, https) = match bound {
        Ok(b) => b,
        Err(e) if c.optional => return Ok((None, Some(e.to_string()))),
        Err(e) => return Err(e),
    };
    let addrs = (http.local_addr()?, https.local_addr()?);
    let _guard = runtime.enter();
    for (listener, tls) in [(http, None), (https, Some(acceptor.clone()))] {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let shared = shared.clone();
        // Stopped with the runtime: the sender lives as long as the loop.
        let (keep, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _keep = keep;
            accept_loop(listener, shared, tls, stopped).await;
        });
    }
    Ok((Some(addrs), None))
}
