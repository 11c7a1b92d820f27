//! What the client verb families (`req`, `ca-cert`, `store`, `scom`) share:
//! the store and connection arguments, how a failure becomes an exit code,
//! progress lines and how entries print.
//!
//! Exit codes: 0 done (issued), 1 error, 2 usage, 3 pending, 4 denied,
//! 5 CA error page, 6 sign-in refused, (7 SCOM checks failed), 8 timed out.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use adcs_client::certsrv::EnrollError;
use adcs_client::flow::{self, CaEndpoint, FlowError, Progress};
use adcs_client::http::Credentials;
use adcs_client::icpr::RpcTarget;
use adcs_client::store::system::Location;
use adcs_client::store::{Entry, Store};
use clap::{Args, ValueEnum};

/// Exit code for a request still pending.
pub const EXIT_PENDING: u8 = 3;

/// Exit code for a denied request.
pub const EXIT_DENIED: u8 = 4;

/// Exit code for the CA's error page.
pub const EXIT_CA_ERROR: u8 = 5;

/// Exit code when the server refuses the credentials.
pub const EXIT_UNAUTHORIZED: u8 = 6;

/// Exit code when the server did not answer in time.
pub const EXIT_TIMEOUT: u8 = 8;

/// `--timeout SECONDS`: the bound on each network wait.
pub fn timeout_arg(seconds: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("--timeout {seconds}: give a number of seconds above 0"))
}

/// Where the certificate store lives.
#[derive(Args, Clone)]
pub struct StoreArg {
    /// Folder of the certificate store (My, Root, CA, REQUEST, Keys).
    #[arg(
        long,
        value_name = "DIR",
        env = "ADCS_HARNESS_STORE",
        default_value = "adcs-store"
    )]
    store: PathBuf,
    /// The Windows certificate store of the local machine (CryptoAPI
    /// system stores, keys in the provider the INF names) instead of the
    /// folder (Windows only).
    #[arg(long, conflicts_with = "user_store")]
    system_store: bool,
    /// The current user's Windows certificate store (Windows only).
    #[arg(long)]
    user_store: bool,
}

impl StoreArg {
    /// The store these flags name: the folder, or Windows' own.
    pub fn open(&self) -> Result<Store, String> {
        let opened = if self.system_store {
            Store::open_system(Location::LocalMachine)
        } else if self.user_store {
            Store::open_system(Location::CurrentUser)
        } else {
            Store::open(&self.store)
        };
        opened.map_err(|e| e.to_string())
    }

    /// The store folder.
    pub fn path(&self) -> &Path {
        &self.store
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum AuthKind {
    Basic,
    Ntlm,
    /// `Negotiate` as Windows sends it to IIS: Kerberos when the realm is
    /// configured (`KRB5_CONFIG` or a ticket cache in `KRB5CCNAME`; without
    /// --user the ticket cache alone), else NTLM tokens under `Negotiate`.
    Negotiate,
}

/// How to reach and sign in to the CA's web enrollment pages.
#[derive(Args, Clone)]
pub struct Connect {
    /// The certsrv URL, e.g. `https://ca.contoso.com/certsrv/`.
    #[arg(long, value_name = "URL")]
    pub(super) server: String,
    /// Account (`DOMAIN\user`, `user@domain` or `user`).
    #[arg(long)]
    pub(super) user: Option<String>,
    /// Password; better given in ADCS_HARNESS_PASSWORD than on the command line.
    #[arg(long, env = "ADCS_HARNESS_PASSWORD", hide_env_values = true)]
    pub(super) password: Option<String>,
    #[arg(long, value_enum, default_value = "ntlm")]
    pub(super) auth: AuthKind,
    /// PEM/DER file of root certificates to trust for HTTPS, besides the
    /// store's Root.
    #[arg(long, value_name = "FILE")]
    pub(super) ca_file: Option<PathBuf>,
    /// Seconds to wait for each of connect, TLS handshake and response
    /// (a timeout exits with code 8).
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub(super) timeout: f64,
    #[command(flatten)]
    pub(super) store: StoreArg,
}

impl Connect {
    /// The store these flags name.
    pub fn store_arg(&self) -> &StoreArg {
        &self.store
    }

    pub fn endpoint(&self) -> Result<CaEndpoint, String> {
        let credentials = match (&self.user, &self.password) {
            (None, _) if matches!(self.auth, AuthKind::Negotiate) => Credentials::Kerberos {
                account: None,
                ccache: None,
                krb5_conf: None,
            },
            (None, _) => Credentials::None,
            (Some(_), None) => {
                return Err(
                    "--user needs a password: give --password or set ADCS_HARNESS_PASSWORD".into(),
                )
            }
            (Some(u), Some(p)) => match self.auth {
                AuthKind::Basic => Credentials::Basic {
                    user: u.clone(),
                    password: p.clone(),
                },
                AuthKind::Ntlm | AuthKind::Negotiate => Credentials::Ntlm {
                    user: u.clone(),
                    password: p.clone(),
                    negotiate_label: matches!(self.auth, AuthKind::Negotiate),
                },
            },
        };
        let store = self.store.open()?;
        let trust = flow::trust_from(&store, self.ca_file.as_deref()).map_err(|e| e.to_string())?;
        Ok(CaEndpoint {
            url: self.server.clone(),
            trust,
            credentials,
            timeout: timeout_arg(self.timeout)?,
        })
    }
}

pub(super) fn fail(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Exit code and message for a failed flow.
pub fn flow_failure(e: FlowError) -> Result<ExitCode, String> {
    match &e {
        e if e.is_timeout() => {
            eprintln!("adcs-harness: {e}");
            Ok(ExitCode::from(EXIT_TIMEOUT))
        }
        FlowError::Enroll(EnrollError::Unauthorized(_)) => {
            eprintln!("adcs-harness: {e}");
            Ok(ExitCode::from(EXIT_UNAUTHORIZED))
        }
        FlowError::StillPending { .. } => {
            eprintln!("adcs-harness: {e}");
            Ok(ExitCode::from(EXIT_PENDING))
        }
        FlowError::NotIssued { outcome, .. } => {
            eprintln!("adcs-harness: {e}");
            Ok(ExitCode::from(if outcome.contains("denied") {
                EXIT_DENIED
            } else {
                EXIT_CA_ERROR
            }))
        }
        _ => Err(e.to_string()),
    }
}

/// One line of `enroll` progress.
pub fn progress_line(p: &Progress) -> String {
    match p {
        Progress::Created { subject } => format!("Request created for {subject}"),
        Progress::Submitted { id: Some(id) } => {
            format!("Request {id} is pending approval by a certificate manager")
        }
        Progress::Submitted { id: None } => "Request submitted".into(),
        Progress::Waiting { id, attempt } => {
            format!("Waiting for request {id} (check {attempt})")
        }
        Progress::Issued { id } => format!("Request {id} issued"),
    }
}

pub(super) fn parse_attributes(list: &[String]) -> Result<Vec<(String, String)>, String> {
    flow::parse_attributes(list).map_err(|e| format!("--attrib: {e}"))
}

pub(super) fn print_warnings(warnings: &[adcs_client::inf::InfWarning]) {
    for w in warnings {
        eprintln!("{w}");
    }
}

pub(super) fn entry_json(e: &Entry) -> serde_json::Value {
    serde_json::to_value(e).expect("serialisable")
}

pub(super) fn print_entry(e: &Entry) {
    println!("{} store: {}", e.store, e.thumbprint);
    println!("  Serial Number: {}", e.serial);
    println!("  Issuer: {}", e.issuer);
    println!("  Subject: {}", e.subject);
    println!(
        "  NotBefore: {}  NotAfter: {}",
        adcs_proto::x509::rfc3339(e.not_before),
        adcs_proto::x509::rfc3339(e.not_after)
    );
    if let Some(f) = &e.properties.friendly_name {
        println!("  Friendly name: {f}");
    }
    match (&e.properties.key_container, e.has_private_key) {
        (Some(c), true) => println!("  Key Container = {c}\n  Private key is present"),
        (Some(c), false) => println!("  Key Container = {c}\n  Missing stored keyset"),
        (None, _) => println!("  No key provider information"),
    }
    if e.properties.key_container.is_some() {
        println!("  {}", exportable_line(e.properties.exportable));
    }
}

/// Whether a key may be exported, in certutil's words for the refusal.
pub(super) fn exportable_line(exportable: bool) -> &'static str {
    if exportable {
        "Private key is exportable"
    } else {
        "Private key is NOT exportable"
    }
}

/// `--rpc` and its settings: enroll over DCE/RPC (MS-ICPR) instead of
/// the certsrv pages.
#[derive(Args, Clone, Debug)]
pub struct RpcArgs {
    /// Use ICertPassage over DCE/RPC; `--server` is then the CA's host
    /// (a bare name, or a URL whose host is taken).
    #[arg(long)]
    pub(super) rpc: bool,
    /// The CA's name (`contoso-TEST-CA`); needed with --rpc.
    #[arg(long, value_name = "NAME")]
    pub(super) ca_name: Option<String>,
    /// ICertPassage's port; asked of the endpoint mapper when omitted.
    #[arg(long, value_name = "PORT")]
    pub(super) rpc_port: Option<u16>,
    /// The endpoint mapper's port.
    #[arg(long, value_name = "PORT", default_value_t = 135)]
    pub(super) epm_port: u16,
    /// RPC authentication level: privacy (default), integrity or connect.
    #[arg(long, value_name = "LEVEL", default_value = "privacy")]
    pub(super) rpc_level: String,
}

impl RpcArgs {
    /// The RPC target these flags and the connection flags name, or `None`
    /// without --rpc.
    pub fn target(&self, connect: &Connect) -> Result<Option<RpcTarget>, String> {
        use adcs_proto::rpc::secure::level;
        if !self.rpc {
            return Ok(None);
        }
        let ca_name = self
            .ca_name
            .clone()
            .ok_or("--rpc needs --ca-name (the CA's name, e.g. contoso-TEST-CA)")?;
        let (Some(user), Some(password)) = (&connect.user, &connect.password) else {
            return Err(
                "--rpc signs in with NTLM: give --user and --password (or ADCS_HARNESS_PASSWORD)"
                    .into(),
            );
        };
        let auth_level = level::from_name(&self.rpc_level).ok_or_else(|| {
            format!(
                "--rpc-level `{}` (privacy, integrity or connect)",
                self.rpc_level
            )
        })?;
        let server = connect.server.trim();
        let host = server
            .split_once("://")
            .map_or(server, |(_, rest)| rest)
            .split(['/', ':'])
            .next()
            .unwrap_or_default()
            .to_string();
        if host.is_empty() {
            return Err(format!("--server `{server}` names no host"));
        }
        Ok(Some(RpcTarget {
            host,
            epm_port: self.epm_port,
            port: self.rpc_port,
            ca_name,
            user: user.clone(),
            password: password.clone(),
            auth_level,
            timeout: timeout_arg(connect.timeout)?,
        }))
    }
}

/// Exit code and message for an RPC enrollment that got no answer.
pub fn rpc_failure(e: adcs_client::icpr::RpcClientError) -> Result<ExitCode, String> {
    eprintln!("adcs-harness: {e}");
    Ok(ExitCode::from(if e.is_timeout() {
        EXIT_TIMEOUT
    } else if e.is_access_denied() {
        EXIT_UNAUTHORIZED
    } else {
        EXIT_CA_ERROR
    }))
}
