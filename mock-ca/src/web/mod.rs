//! The certsrv web server: HTTP/1.1 (optionally TLS with a certificate the
//! CA issued itself), IIS-style authentication, the `/certsrv/` pages,
//! `/CertEnroll/` publication and the `/control/` API, over one CA engine.
//!
//! Data flows one way: connection → auth (Basic; NTLM and Kerberos under
//! Negotiate, cached per connection) → route (`routes`) → page handler →
//! CA engine → page renderer. [`Server::start`]
//! runs it on its own runtime, so a synchronous test or the CLI can start a
//! server on port 0 and talk to it.

pub mod auth;
mod certsrv;
mod connections;
pub mod console;
pub mod control;
pub use crate::accounts as directory;
mod dc;
pub mod dns;
pub mod faults;
pub mod form;
pub mod iis;
mod inject;
pub mod journal;
pub mod ldap;
pub mod limits;
mod ndes;
pub mod pages;
mod portal;
mod replies;
mod routes;
pub mod rpc;
pub mod smb;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Response, StatusCode};

use crate::ca::Ca;
use adcs_proto::ntlm::{self, ChannelBindingPolicy, ServerNames};
use adcs_proto::protocol::{content_type, endpoint, Disposition};
use auth::{AuthSettings, ConnAuth};
use directory::{Directory, User};
use journal::{Journal, JournalEntry};

/// ASP's default `maxRequestEntityAllowed`: larger form posts are refused.
pub const DEFAULT_MAX_BODY_BYTES: usize = 200_000;
/// Connections the OS queues before the server accepts them.
const LISTEN_BACKLOG: u32 = 4096;
/// Request line plus headers; IIS refuses more with 400/431.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// How to run the server.
#[derive(Clone, Debug)]
pub struct WebOptions {
    /// Loopback by default; port 0 picks a free port.
    pub listen: SocketAddr,
    /// HTTPS with the CA-issued server certificate (request 1); else plain HTTP.
    pub tls: bool,
    /// Accounts; empty means the defaults (`alice` and `Administrator`).
    pub users: Vec<User>,
    pub basic: bool,
    pub ntlm: bool,
    /// Extended Protection for NTLM over HTTPS.
    pub channel_binding: ChannelBindingPolicy,
    pub max_body_bytes: usize,
    /// Faults to inject into certsrv pages ([`faults::FaultRule`]).
    pub faults: Vec<faults::FaultRule>,
    /// HTTP.sys's connection limits and timeouts.
    pub limits: limits::Limits,
    /// NDES (SCEP at `/certsrv/mscep/`, passwords at `/certsrv/mscep_admin/`).
    pub ndes: Option<crate::ndes::NdesConfig>,
    /// A Kerberos realm with its KDC, and Kerberos under `Negotiate`.
    pub kerberos: Option<crate::kerberos::KerberosConfig>,
    /// ICertPassage over DCE/RPC, with the endpoint mapper.
    pub rpc: Option<rpc::RpcConfig>,
    /// The domain controller's LDAP and LDAPS (the forest's directory).
    pub ldap: Option<ldap::LdapConfig>,
    /// The domain's DNS zone.
    pub dns: Option<dns::DnsConfig>,
    /// The pages also on IIS's ports, 80 and 443.
    pub iis: Option<iis::IisConfig>,
    /// SMB on 445: the CA's named pipes.
    pub smb: Option<smb::SmbConfig>,
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: true,
            users: Vec::new(),
            basic: true,
            ntlm: true,
            channel_binding: ChannelBindingPolicy::Off,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            faults: Vec::new(),
            limits: limits::Limits::default(),
            ndes: None,
            kerberos: None,
            rpc: None,
            ldap: None,
            dns: None,
            iis: None,
            smb: None,
        }
    }
}

/// The names clients may use for the site, each an `HTTP/<name>` service
/// principal: the CA's host name, `localhost`, loopback and the address
/// it listens on.
fn service_hosts(host_name: &str, listen: SocketAddr) -> Vec<String> {
    let mut hosts = vec![
        host_name.to_string(),
        "localhost".into(),
        "127.0.0.1".into(),
    ];
    if !listen.ip().is_unspecified() {
        hosts.push(listen.ip().to_string());
    }
    hosts
}

/// The default accounts: one user and one administrator.
pub fn default_users() -> Vec<User> {
    let mut alice = User::parse(&format!(
        "{}:{}",
        directory::DEFAULT_USER,
        directory::DEFAULT_USER_PASSWORD
    ))
    .expect("valid default user");
    alice.groups = vec!["Domain Users".into()];
    let mut admin = User::parse(&format!(
        "{}:{}",
        directory::DEFAULT_ADMIN,
        directory::DEFAULT_ADMIN_PASSWORD
    ))
    .expect("valid default admin");
    admin.admin = true;
    vec![alice, admin]
}

/// What every connection handler shares.
pub(crate) struct Shared {
    ca: Arc<Ca>,
    directory: Directory,
    auth: AuthSettings,
    journal: Journal,
    max_body: usize,
    /// The TLS certificate's channel binding (HTTPS only).
    binding: Option<auth::Binding>,
    /// Keys the CA made for "Create and submit a request to this CA".
    portal: portal::PortalKeys,
    faults: faults::Faults,
    /// Requests a `pending_polls` fault holds.
    held: faults::HeldRequests,
    /// Anti-forgery tokens of the console's forms.
    csrf: console::Csrf,
    limits: limits::Limits,
    connections: Arc<limits::ConnectionStats>,
    ndes: Option<crate::ndes::Ndes>,
    /// The realm's KDC, stopped with the server.
    kerberos: Option<crate::kerberos::Kerberos>,
    /// The forest's names, when the directory is served.
    ldap: Option<crate::forest::Naming>,
}

/// One HTTP request, body read.
pub(crate) struct Request {
    method: Method,
    query: String,
    body: Bytes,
    user_agent: Option<String>,
    cookie: Option<String>,
    /// What a browser says about where the request comes from (the
    /// console's cross-site checks).
    origin: Option<String>,
    host: Option<String>,
    sec_fetch_site: Option<String>,
}

/// One HTTP response plus what the journal records of it.
pub(crate) struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    request_id: Option<u32>,
    disposition: Option<Disposition>,
    close: bool,
    /// What the journal says of the answer beyond status and disposition
    /// (SCEP: operation, transaction ID, pkiStatus, failInfo).
    detail: Option<String>,
    /// What an injected fault did to this answer (boxed: it is rare).
    fault: Option<Box<Injected>>,
}

/// An injected fault's effect on one answer.
#[derive(Debug, Default)]
struct Injected {
    /// For the journal.
    description: String,
    /// Drop the connection instead of answering.
    reset: bool,
    /// A wrong Content-Type.
    content_type: Option<String>,
}

impl Reply {
    fn bytes(content_type: &'static str, body: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            content_type,
            body,
            headers: Vec::new(),
            request_id: None,
            disposition: None,
            close: false,
            detail: None,
            fault: None,
        }
    }

    fn html(page: String) -> Reply {
        let mut r = Reply::bytes(content_type::HTML, page.into_bytes());
        r.headers.push(("Cache-Control", "private".into()));
        r
    }

    fn status(code: u16, text: &str) -> Reply {
        let mut r = Reply::bytes(
            content_type::HTML,
            pages::status_page(code, text).into_bytes(),
        );
        r.status = code;
        r
    }

    fn json(code: u16, v: &serde_json::Value) -> Reply {
        let mut r = Reply::bytes(
            content_type::JSON,
            serde_json::to_vec_pretty(v).expect("JSON values serialise"),
        );
        r.status = code;
        r
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let mut b = Response::builder()
            .status(StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .header(
                "Content-Type",
                self.fault
                    .as_ref()
                    .and_then(|f| f.content_type.as_deref())
                    .unwrap_or(self.content_type),
            );
        if !self.headers.iter().any(|(k, _)| *k == "Server") {
            b = b.header("Server", "Microsoft-IIS/10.0");
        }
        for (k, v) in &self.headers {
            b = b.header(*k, v.as_str());
        }
        b = b.header("X-Powered-By", "ASP.NET");
        if self.close {
            b = b.header("Connection", "close");
        }
        b.body(Full::new(Bytes::from(self.body)))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
    }
}

type RpcStarted = (Option<(SocketAddr, SocketAddr)>, Option<String>);

/// Binds and starts RPC (the endpoint mapper and ICertPassage), as
/// `opts.rpc` asks: a port that cannot be had is an error, or (serve's
/// default) a reason.
fn start_rpc(
    runtime: &tokio::runtime::Runtime,
    shared: &Arc<Shared>,
    opts: &WebOptions,
) -> io::Result<RpcStarted> {
    let Some(c) = opts.rpc.as_ref().filter(|c| c.enabled) else {
        return Ok((None, None));
    };
    let listeners = match rpc::Listeners::bind(opts.listen.ip(), c) {
        Ok(l) => l,
        Err(e) if c.optional => return Ok((None, Some(e.to_string()))),
        Err(e) => return Err(e),
    };
    let addrs = listeners.addrs()?;
    let _guard = runtime.enter();
    listeners.spawn(shared.clone(), c.enforce_encryption)?;
    Ok((Some(addrs), None))
}

/// A running server. Dropping it (or [`Server::shutdown`]) stops it.
pub struct Server {
    addr: SocketAddr,
    /// The endpoint mapper's and ICertPassage's addresses.
    rpc: Option<(SocketAddr, SocketAddr)>,
    /// Why RPC, asked for where it could be bound, is not served.
    rpc_unavailable: Option<String>,
    /// LDAP's and LDAPS's addresses.
    ldap: Option<(SocketAddr, SocketAddr)>,
    /// Why the directory, asked for where it could be bound, is not served.
    ldap_unavailable: Option<String>,
    /// The DNS zone's address (UDP and TCP).
    dns: Option<SocketAddr>,
    /// Why the zone, asked for where it could be bound, is not served.
    dns_unavailable: Option<String>,
    /// The pages' addresses on IIS's HTTP and HTTPS ports.
    iis: Option<(SocketAddr, SocketAddr)>,
    /// Why IIS's ports, asked for where they could be bound, are not served.
    iis_unavailable: Option<String>,
    /// SMB's address.
    smb: Option<SocketAddr>,
    /// Why SMB, asked for where it could be bound, is not served.
    smb_unavailable: Option<String>,
    tls: bool,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .finish()
    }
}

impl Server {
    /// Binds and starts serving `ca`. Returns once the socket accepts
    /// connections, so the URL is usable at once (no sleeps needed).
    pub fn start(ca: Arc<Ca>, opts: WebOptions) -> io::Result<Server> {
        let config = ca.config();
        let users = if opts.users.is_empty() {
            default_users()
        } else {
            opts.users.clone()
        };
        let directory = Directory::new(users, &config.netbios_domain, &config.dns_domain);
        let nb_computer = config
            .host_name
            .split('.')
            .next()
            .unwrap_or("CA")
            .to_ascii_uppercase();
        let forest = opts
            .ldap
            .as_ref()
            .filter(|l| l.enabled)
            .map(|l| crate::forest::Naming::new(&config, &ca.seed(), l.dc_name.as_deref()));
        let kerberos = match &opts.kerberos {
            Some(k) => Some(
                crate::kerberos::Kerberos::start(
                    k,
                    opts.listen.ip(),
                    &config.dns_domain,
                    &directory
                        .users()
                        .iter()
                        .map(|u| (u.short_name().to_string(), u.password.clone()))
                        .collect::<Vec<_>>(),
                    &service_hosts(&config.host_name, opts.listen),
                    &forest
                        .as_ref()
                        .map(|n| dc::ldap_principals(n, opts.listen))
                        .unwrap_or_default()
                        .into_iter()
                        .chain(smb::principals(&config.host_name, opts.listen))
                        .collect::<Vec<_>>(),
                )
                .map_err(io::Error::other)?,
            ),
            None => None,
        };
        let auth = AuthSettings {
            kerberos: kerberos.as_ref().map(|k| auth::KerberosAuth {
                acceptor: k.acceptor.clone(),
                realm: k.kdc.realm.clone(),
                max_skew_seconds: k.max_skew_seconds,
            }),
            basic: opts.basic,
            ntlm: opts.ntlm,
            channel_binding: opts.channel_binding,
            realm: config.host_name.clone(),
            names: ServerNames {
                nb_domain: config.netbios_domain.clone(),
                nb_computer,
                dns_domain: config.dns_domain.clone(),
                dns_computer: config.host_name.clone(),
            },
        };
        let any_tls = opts.tls || opts.iis.as_ref().is_some_and(|c| c.enabled);
        let (https, binding) = if any_tls {
            let (acceptor, binding) = https_identity(&ca)?;
            (Some(acceptor), Some(binding))
        } else {
            (None, None)
        };
        let ndes = match opts.ndes.clone() {
            Some(c) => Some(crate::ndes::Ndes::start(&ca, c).map_err(io::Error::other)?),
            None => None,
        };
        let shared = Arc::new(Shared {
            ca,
            directory,
            auth,
            journal: Journal::default(),
            max_body: opts.max_body_bytes,
            binding,
            portal: portal::PortalKeys::default(),
            faults: faults::Faults::new(opts.faults.clone()),
            held: faults::HeldRequests::default(),
            csrf: console::Csrf::new(),
            limits: opts.limits.clone(),
            connections: Arc::default(),
            ndes,
            kerberos,
            ldap: forest,
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("certsrv")
            .build()?;
        // A deep accept queue, as HTTP.sys keeps: a burst of connections
        // waits to be accepted instead of being dropped and retried.
        let listener = {
            let _guard = runtime.enter();
            let socket = if opts.listen.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            // As std's listeners do on Unix: a restarted server may take its
            // port back while old connections linger in TIME_WAIT.
            #[cfg(unix)]
            socket.set_reuseaddr(true)?;
            socket.bind(opts.listen)?;
            socket.listen(LISTEN_BACKLOG)?
        };
        let addr = listener.local_addr()?;
        let (rpc_addrs, rpc_unavailable) = start_rpc(&runtime, &shared, &opts)?;
        let (iis, iis_unavailable) = match &https {
            Some(a) => iis::start(&runtime, &shared, opts.listen, opts.iis.as_ref(), a)?,
            None => (None, None),
        };
        let acceptor = https.filter(|_| opts.tls);
        let (ldap, ldap_unavailable) = dc::start_ldap(&runtime, &shared, &opts)?;
        let (dns, dns_unavailable) =
            dc::start_dns(&runtime, &shared, &opts, ldap.map(|l| l.0.port()))?;
        let (smb, smb_unavailable) = smb::start(&runtime, &shared, &opts)?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("certsrv-accept".into())
            .spawn(move || {
                runtime.block_on(connections::accept_loop(listener, s, acceptor, stopped));
                // The workers let go of the CA (its state directory's table
                // can be opened again at once); bounded for work under way.
                runtime.shutdown_timeout(SHUTDOWN_WAIT);
            })?;
        Ok(Server {
            addr,
            rpc: rpc_addrs,
            rpc_unavailable,
            ldap,
            ldap_unavailable,
            dns,
            dns_unavailable,
            iis,
            iis_unavailable,
            smb,
            smb_unavailable,
            tls: opts.tls,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint mapper's and ICertPassage's addresses, when serving RPC.
    pub fn rpc_addrs(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.rpc
    }

    /// Why RPC is off although `serve`'s default asked for it where it
    /// could bind (port 135 taken or privileged).
    pub fn rpc_unavailable(&self) -> Option<&str> {
        self.rpc_unavailable.as_deref()
    }

    /// LDAP's and LDAPS's addresses, when serving the directory.
    pub fn ldap_addrs(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.ldap
    }

    /// Why the directory is off although `serve`'s default asked for it
    /// where it could bind (ports 389 and 636 taken or privileged).
    pub fn ldap_unavailable(&self) -> Option<&str> {
        self.ldap_unavailable.as_deref()
    }

    /// The DNS zone's address, when served.
    pub fn dns_addr(&self) -> Option<SocketAddr> {
        self.dns
    }

    /// Why the zone is off although `serve`'s default asked for it where
    /// it could bind (port 53 taken or privileged).
    pub fn dns_unavailable(&self) -> Option<&str> {
        self.dns_unavailable.as_deref()
    }

    /// The pages' HTTP and HTTPS addresses on IIS's ports, when served.
    pub fn iis_addrs(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.iis
    }

    /// Why IIS's ports are not served although `serve`'s default asked for
    /// them where they could be bound (ports 80 and 443 taken or privileged).
    pub fn iis_unavailable(&self) -> Option<&str> {
        self.iis_unavailable.as_deref()
    }

    /// SMB's address, when serving the named pipes.
    pub fn smb_addr(&self) -> Option<SocketAddr> {
        self.smb
    }

    /// Why SMB is off although `serve`'s default asked for it where it
    /// could bind (port 445 taken or privileged).
    pub fn smb_unavailable(&self) -> Option<&str> {
        self.smb_unavailable.as_deref()
    }

    /// The forest's names, when serving the directory.
    pub fn forest(&self) -> Option<&crate::forest::Naming> {
        self.shared.ldap.as_ref()
    }

    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// `https://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// `…/certsrv/`
    pub fn certsrv_url(&self) -> String {
        format!("{}{}", self.base_url(), endpoint::CERTSRV)
    }

    /// `…/control/`
    pub fn control_url(&self) -> String {
        format!("{}{}", self.base_url(), endpoint::CONTROL)
    }

    /// `…/certsrv/mscep/mscep.dll` when NDES runs.
    pub fn ndes_url(&self) -> Option<String> {
        let path = adcs_proto::scep::endpoint::MSCEP;
        self.shared
            .ndes
            .as_ref()
            .map(|_| format!("{}{path}", self.base_url()))
    }

    /// `…/certsrv/mscep_admin/` when NDES runs.
    pub fn ndes_admin_url(&self) -> Option<String> {
        let path = adcs_proto::scep::endpoint::MSCEP_ADMIN;
        self.shared
            .ndes
            .as_ref()
            .map(|_| format!("{}{path}", self.base_url()))
    }

    /// The realm, when the site has Kerberos.
    pub fn kerberos(&self) -> Option<&crate::kerberos::Kerberos> {
        self.shared.kerberos.as_ref()
    }

    /// NDES, when it runs.
    pub fn ndes(&self) -> Option<&crate::ndes::Ndes> {
        self.shared.ndes.as_ref()
    }

    /// The CA behind the server: the in-process admin handle.
    pub fn ca(&self) -> &Arc<Ca> {
        &self.shared.ca
    }

    pub fn journal(&self) -> Vec<JournalEntry> {
        self.shared.journal.since(0)
    }

    /// Replaces the fault rules (each is checked first; counts start again).
    pub fn set_faults(
        &self,
        rules: Vec<faults::FaultRule>,
    ) -> Result<(), crate::config::ConfigError> {
        for r in &rules {
            r.validate()?;
        }
        self.shared.faults.set(rules);
        Ok(())
    }

    /// Connections open now and closed so far, by reason.
    pub fn connection_counts(&self) -> limits::ConnectionCounts {
        self.shared.connections.counts()
    }

    /// All accounts (with passwords: this is a test server).
    pub fn users(&self) -> &[User] {
        self.shared.directory.users()
    }

    /// The first administrator account.
    pub fn admin(&self) -> Option<&User> {
        self.users().iter().find(|u| u.admin)
    }

    /// Stops accepting and closes the listener.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    /// Whether the server's thread still runs.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Blocks until the server stops (it does not on its own).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn stop_now(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The pages' HTTPS acceptor with the CA-issued web server certificate, and
/// that certificate's channel bindings (NTLM's and GSS's).
fn https_identity(ca: &Ca) -> io::Result<(tokio_rustls::TlsAcceptor, auth::Binding)> {
    let (chain, key) = ca.tls_identity();
    let Some(leaf) = chain.first() else {
        return Err(io::Error::other("the CA has no web server certificate"));
    };
    let binding = auth::Binding {
        ntlm: ntlm::channel_binding_hash(leaf),
        gss: adcs_proto::gss::tls_server_end_point(leaf),
    };
    let acceptor = connections::tls_acceptor(chain, key, &[b"http/1.1"])?;
    Ok((acceptor, binding))
}

/// How long a stopping server waits for work under way (a signing, a disk write).
const SHUTDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// An injected connection reset: hyper drops the connection unanswered.
#[derive(Debug)]
struct InjectedReset;

impl std::fmt::Display for InjectedReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by an injected fault")
    }
}

impl std::error::Error for InjectedReset {}

async fn handle(
    shared: Arc<Shared>,
    conn: Arc<Mutex<ConnAuth>>,
    req: hyper::Request<Incoming>,
    tls: bool,
) -> Result<Response<Full<Bytes>>, InjectedReset> {
    let (parts, body) = req.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let raw_path = parts.uri.path().to_string();
    let mut entry = JournalEntry {
        seq: 0,
        time: shared.ca.clock().now(),
        method: parts.method.to_string(),
        path: raw_path.clone(),
        user: None,
        auth: None,
        status: 0,
        request_id: None,
        disposition: None,
        detail: None,
        fault: None,
    };
    let declared = header("Content-Length").and_then(|v| v.trim().parse::<u64>().ok());
    let reply = if declared.is_some_and(|n| n > shared.max_body as u64) {
        too_large(shared.max_body)
    } else {
        let body = Limited::new(body, shared.max_body).collect();
        match tokio::time::timeout(shared.limits.entity_body(), body).await {
            Err(_) => {
                shared.connections.closed(limits::Closed::EntityBody);
                let mut r = Reply::status(408, "Request Timeout");
                r.close = true;
                r
            }
            Ok(Err(e))
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                too_large(shared.max_body)
            }
            Ok(Err(_)) => {
                let mut r = Reply::status(400, "Bad Request");
                r.close = true;
                r
            }
            Ok(Ok(collected)) => {
                let request = Request {
                    method: parts.method.clone(),
                    query: parts.uri.query().unwrap_or("").to_string(),
                    body: collected.to_bytes(),
                    user_agent: header("User-Agent"),
                    cookie: header("Cookie"),
                    origin: header("Origin"),
                    host: header("Host"),
                    sec_fetch_site: header("Sec-Fetch-Site"),
                };
                let authorization = header("Authorization");
                routes::route(
                    &shared,
                    &conn,
                    &request,
                    &raw_path,
                    authorization.as_deref(),
                    tls,
                    &mut entry,
                )
                .await
            }
        }
    };
    entry.status = reply.status;
    entry.request_id = reply.request_id;
    entry.disposition = reply.disposition.map(|d| d.as_str().to_string());
    entry.fault = reply.fault.as_ref().map(|f| f.description.clone());
    entry.detail = reply.detail.clone();
    shared.journal.record(entry);
    if reply.fault.as_ref().is_some_and(|f| f.reset) {
        return Err(InjectedReset);
    }
    Ok(reply.into_response())
}

fn too_large(limit: usize) -> Reply {
    let mut r = Reply::status(
        413,
        &format!("Request Entity Too Large: the form is larger than {limit} bytes"),
    );
    r.close = true;
    r
}
