//! `adcs-harness serve` as a library call: a TOML configuration (CA world,
//! users, listener, auth) → a CA → a running server → the ready file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::ca::Ca;
use crate::config::{CaConfig, CaMode, ConfigError};
use crate::web::directory::User;
use crate::web::{Server, WebOptions};
use adcs_proto::atomic_file::{write_atomic, WriteError};
use adcs_proto::clock::{Clock, UnixTime};
use adcs_proto::encoding::pem;
use adcs_proto::ntlm::ChannelBindingPolicy;
use adcs_proto::ready::{ReadyAccount, ReadyInfo, ReadyKerberos, ReadyLdap, ReadyRpc};
use adcs_proto::seed::Seed;

/// The seed `serve` uses when none is given: fixed, so a plain `serve`
/// starts from cached keys in milliseconds and gives the same CA every time.
pub const DEFAULT_SEED: u64 = 1;

/// The `serve --config FILE` format (TOML). Every field is optional.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    pub seed: Option<u64>,
    /// `127.0.0.1:0` when absent.
    pub listen: Option<SocketAddr>,
    /// Plain HTTP instead of HTTPS.
    pub http: bool,
    /// Shortcut for `ca.mode`.
    pub mode: Option<CaMode>,
    pub state_dir: Option<PathBuf>,
    /// Freeze the virtual clock at this Unix time instead of following real time.
    pub start_time: Option<UnixTime>,
    pub auth: AuthConfig,
    pub ca: Option<CaConfig>,
    pub users: Vec<User>,
    /// Faults to inject (`[[faults]]`).
    pub faults: Vec<crate::web::faults::FaultRule>,
    /// HTTP.sys's connection limits (`[limits]`).
    pub limits: crate::web::limits::Limits,
    /// NDES (`[ndes]`; absent: no NDES).
    pub ndes: Option<crate::ndes::NdesConfig>,
    /// A Kerberos realm for the site (`[kerberos]`; absent: NTLM only).
    pub kerberos: Option<crate::kerberos::KerberosConfig>,
    /// MS-ICPR over DCE/RPC with the endpoint mapper (`[rpc]`; absent: on
    /// where port 135 can be bound, off otherwise).
    pub rpc: Option<crate::web::rpc::RpcConfig>,
    /// The domain controller's LDAP and LDAPS (`[ldap]`; absent: on where
    /// ports 389 and 636 can be bound, off otherwise).
    pub ldap: Option<crate::web::ldap::LdapConfig>,
    /// The domain's DNS zone (`[dns]`; absent: on where port 53 can be
    /// bound, off otherwise).
    pub dns: Option<crate::web::dns::DnsConfig>,
    /// The pages also on IIS's ports 80 and 443 (`[iis]`; absent: where
    /// the ports can be bound).
    pub iis: Option<crate::web::iis::IisConfig>,
    /// SMB's named pipes on 445 (`[smb]`; absent: on where port 445 can be
    /// bound, off otherwise).
    pub smb: Option<crate::web::smb::SmbConfig>,
    /// Misconfigurations to set (`[lab]`, `--vulnerable`; absent: none).
    pub lab: Option<crate::lab::LabConfig>,
}

/// Authentication settings of the config file.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub basic: bool,
    pub ntlm: bool,
    /// `off`, `accept` or `require` (IIS Extended Protection).
    pub channel_binding: ChannelBindingPolicy,
    pub max_body_bytes: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            basic: true,
            ntlm: true,
            channel_binding: ChannelBindingPolicy::Off,
            max_body_bytes: crate::web::DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl ServeConfig {
    /// The misconfigurations `[lab]` names (none without it).
    pub fn lab_escs(&self) -> Result<Vec<crate::lab::Esc>, ConfigError> {
        self.lab.as_ref().map_or(Ok(Vec::new()), |l| l.escs())
    }

    /// Reads a TOML file; errors name the file, line and column.
    pub fn load(path: &Path) -> Result<ServeConfig, ServeError> {
        let text = std::fs::read_to_string(path).map_err(|source| ServeError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| {
            let place = e
                .span()
                .map(|s| {
                    let before = &text[..s.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!("line {line}, column {col}: ")
                })
                .unwrap_or_default();
            ServeError::Syntax {
                path: path.to_path_buf(),
                message: format!("{place}{}", e.message()),
            }
        })
    }
}

/// Why `serve` could not start; each names the file, field or address.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A TOML or field error: `message` starts with the line and column.
    #[error("{}: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Ca(#[from] crate::ca::CaError),
    #[error("no administrator among the users (set `admin = true` on one)")]
    NoAdministrator,
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// A started `serve`: the server and what the ready file says.
pub struct Running {
    pub server: Server,
    pub info: ReadyInfo,
    /// Where the certificate files were written.
    pub files_dir: PathBuf,
    /// What the operator should know (for the banner).
    pub warnings: Vec<String>,
}

/// The CA configuration `config` asks for: `[ca]`, `mode` and the lab.
fn requested_ca(config: &ServeConfig) -> Result<CaConfig, ServeError> {
    let mut ca_config = config.ca.clone().unwrap_or_default();
    if let Some(mode) = config.mode {
        ca_config.mode = mode;
    }
    if config.lab.as_ref().is_some_and(|l| l.hardened) {
        crate::lab::harden(&mut ca_config);
    }
    crate::lab::apply(&mut ca_config, &config.lab_escs()?);
    Ok(ca_config)
}

/// Why a state directory's CA is not the one `config` asks for, if it is
/// not: an existing directory keeps its own configuration (templates
/// edited since included), so settings and `--vulnerable` given now are
/// not applied to it.
fn stored_config_differs(config: &ServeConfig, ca: &Ca) -> Result<Option<String>, ServeError> {
    let Some(dir) = &config.state_dir else {
        return Ok(None);
    };
    let asked = requested_ca(config)?;
    let mut have = ca.config();
    let missing: Vec<String> = asked
        .templates
        .iter()
        .filter(|t| !have.templates.iter().any(|h| h.name == t.name))
        .map(|t| t.name.clone())
        .collect();
    have.templates = asked.templates.clone();
    if have == asked && missing.is_empty() {
        return Ok(None);
    }
    let templates = if missing.is_empty() {
        String::new()
    } else {
        format!(" (templates it lacks: {})", missing.join(", "))
    };
    Ok(Some(format!(
        "{} keeps the CA it was made with: the [ca] settings, --mode and --vulnerable given now differ from it and are not applied{templates}; remove the directory to start a CA with them",
        dir.display()
    )))
}

/// The CA and the server options a configuration describes (what `start`
/// serves; the scenario runner serves the same world in-process).
pub fn build(config: &ServeConfig) -> Result<(Arc<Ca>, WebOptions), ServeError> {
    let ca_config = requested_ca(config)?;
    ca_config.validate()?;
    for f in &config.faults {
        f.validate()?;
    }
    for (i, u) in config.users.iter().enumerate() {
        u.validate(i)?;
    }
    config.limits.validate()?;
    if let Some(n) = &config.ndes {
        n.validate()?;
    }
    let seed = Seed(config.seed.unwrap_or(DEFAULT_SEED));
    let clock = match config.start_time {
        Some(t) => Clock::frozen_at(t),
        None => Clock::real(),
    };
    let ca = match &config.state_dir {
        Some(dir) => Ca::open(dir, ca_config, seed, clock),
        None => Ca::new(ca_config, seed, clock),
    }?;
    let ca = Arc::new(ca);
    // No users means the server's defaults, which include an administrator.
    let users = config.users.clone();
    if !users.is_empty() && !users.iter().any(|u| u.admin) {
        return Err(ServeError::NoAdministrator);
    }
    let mut opts = WebOptions {
        listen: config
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
        tls: !config.http,
        users,
        basic: config.auth.basic,
        ntlm: config.auth.ntlm,
        channel_binding: config.auth.channel_binding,
        max_body_bytes: config.auth.max_body_bytes,
        faults: config.faults.clone(),
        limits: config.limits.clone(),
        ndes: config.ndes.clone(),
        kerberos: config.kerberos.clone().map(|mut k| {
            if k.dir.is_none() {
                k.dir = config.state_dir.as_ref().map(|d| d.join("kerberos"));
            }
            k
        }),
        rpc: config.rpc.clone().or_else(default_rpc),
        ldap: Some(config.ldap.clone().unwrap_or(crate::web::ldap::LdapConfig {
            optional: true,
            ..Default::default()
        })),
        dns: Some(config.dns.clone().unwrap_or(crate::web::dns::DnsConfig {
            optional: true,
            ..Default::default()
        })),
        iis: Some(config.iis.clone().unwrap_or(crate::web::iis::IisConfig {
            optional: true,
            ..Default::default()
        })),
        smb: config.smb.clone().or_else(default_smb),
    };
    let lab = crate::lab::web_settings(&config.lab_escs()?);
    if lab.channel_binding_off {
        opts.channel_binding = ChannelBindingPolicy::Off;
    }
    if let (true, Some(rpc)) = (lab.rpc_without_privacy, opts.rpc.as_mut()) {
        rpc.enforce_encryption = false;
    }
    Ok((ca, opts))
}

/// Every serve.toml section at its default, as TOML: what `serve
/// --print-defaults` prints and the guide's reference shows. Keys with no
/// default (`state_dir`, `start_time`, `[[users]]`, `[[faults]]`) are left
/// out. A section written in a file insists on its service; without it,
/// `serve` runs RPC, LDAP, DNS, IIS's ports and SMB where their ports can
/// be bound.
pub fn defaults_toml() -> String {
    let c = ServeConfig {
        seed: Some(DEFAULT_SEED),
        listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        mode: Some(CaMode::Enterprise),
        ca: Some(CaConfig::default()),
        ndes: Some(crate::ndes::NdesConfig::default()),
        kerberos: Some(crate::kerberos::KerberosConfig::default()),
        rpc: Some(crate::web::rpc::RpcConfig::default()),
        ldap: Some(crate::web::ldap::LdapConfig::default()),
        dns: Some(crate::web::dns::DnsConfig::default()),
        iis: Some(crate::web::iis::IisConfig::default()),
        smb: Some(crate::web::smb::SmbConfig::default()),
        lab: Some(crate::lab::LabConfig::default()),
        ..ServeConfig::default()
    };
    toml::to_string(&c).expect("the default configuration serialises")
}

/// RPC without `[rpc]`: where port 135 can be bound. Not on Windows,
/// whose own RPC service always holds it (`--rpc --rpc-epm-port` there).
fn default_rpc() -> Option<crate::web::rpc::RpcConfig> {
    cfg!(not(windows)).then(|| crate::web::rpc::RpcConfig {
        optional: true,
        ..Default::default()
    })
}

/// Where `serve` writes the CA's certificate files (and the realm's
/// temporary folder): beside the ready file, else in the state directory,
/// else in a temporary folder of its own.
fn files_dir(config: &ServeConfig, ready_file: Option<&Path>) -> PathBuf {
    match (ready_file, &config.state_dir) {
        (Some(r), _) => r
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        (None, Some(d)) => d.clone(),
        (None, None) => std::env::temp_dir().join(format!("adcs-harness-{}", std::process::id())),
    }
}

/// [`check_ready`] again every 100 ms until it holds or `wait` has
/// passed (then its last error): for a script that started `serve` in
/// the background and must not race its ready file.
pub fn wait_ready(
    path: &Path,
    wait: std::time::Duration,
    connect: std::time::Duration,
) -> Result<SocketAddr, String> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        match check_ready(path, connect) {
            Ok(addr) => return Ok(addr),
            Err(e) if std::time::Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    }
}

/// Whether the `serve` that wrote the ready file `path` accepts
/// connections: the file reads and its pages' port answers within `wait`
/// (a container's health check).
pub fn check_ready(path: &Path, wait: std::time::Duration) -> Result<SocketAddr, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let info: ReadyInfo =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let ip: std::net::IpAddr = info
        .host
        .parse()
        .map_err(|e| format!("{}: host `{}`: {e}", path.display(), info.host))?;
    let addr = SocketAddr::new(ip, info.port);
    std::net::TcpStream::connect_timeout(&addr, wait)
        .map_err(|e| format!("{addr} (from {}): {e}", path.display()))?;
    Ok(addr)
}

/// SMB without `[smb]`: where port 445 can be bound. Not on Windows,
/// whose own server always holds it (`[smb] port` there).
fn default_smb() -> Option<crate::web::smb::SmbConfig> {
    cfg!(not(windows)).then(|| crate::web::smb::SmbConfig {
        optional: true,
        ..Default::default()
    })
}

/// Builds the CA, starts the server, writes the certificate files and (last,
/// atomically) the ready file.
pub fn start(config: ServeConfig, ready_file: Option<&Path>) -> Result<Running, ServeError> {
    let files_dir = files_dir(&config, ready_file);
    std::fs::create_dir_all(&files_dir).map_err(|source| ServeError::Folder {
        path: files_dir.clone(),
        source,
    })?;
    let (ca, mut opts) = build(&config)?;
    if let Some(k) = opts.kerberos.as_mut() {
        k.temp_in = Some(files_dir.clone());
    }
    let addr = opts.listen;
    let server =
        Server::start(ca.clone(), opts).map_err(|source| ServeError::Listen { addr, source })?;
    let stem = ready_file.and_then(|r| r.file_stem()).map_or_else(
        || "adcs-harness".to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    let abs = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
    let ca_cert = abs(files_dir.join(format!("{stem}-ca.pem")));
    let root_cert = abs(files_dir.join(format!("{stem}-root.pem")));
    let current = ca.ca_certificate(ca.n_renewals()).unwrap_or_default();
    write_atomic(&ca_cert, pem("CERTIFICATE", &current).as_bytes())?;
    write_atomic(
        &root_cert,
        pem("CERTIFICATE", &ca.root_certificate()).as_bytes(),
    )?;

    let account = |u: &User| ReadyAccount {
        user: u.name.clone(),
        password: u.password.clone(),
    };
    let admin = server.admin().map(account).expect("checked above");
    let users: Vec<ReadyAccount> = server
        .users()
        .iter()
        .filter(|u| !u.admin)
        .map(account)
        .collect();
    let addr = server.addr();
    let info = ReadyInfo {
        certsrv_url: server.certsrv_url(),
        control_url: server.control_url(),
        scheme: if server.is_tls() { "https" } else { "http" }.into(),
        host: addr.ip().to_string(),
        port: addr.port(),
        mode: ca.config().mode,
        ca_name: ca.ca_cn(),
        ca_cert: ca_cert.display().to_string(),
        root_cert: root_cert.display().to_string(),
        admin,
        users,
        seed: ca.seed().0,
        pid: std::process::id(),
        ndes_url: server.ndes_url(),
        ndes_admin_url: server.ndes_admin_url(),
        kerberos: server.kerberos().map(|k| ReadyKerberos {
            realm: k.kdc.realm.clone(),
            kdc: k.kdc.addr.to_string(),
            krb5_conf: abs(k.kdc.krb5_conf.clone()).display().to_string(),
            service_principal: format!(
                "{}@{}",
                k.kdc
                    .service_principals
                    .first()
                    .cloned()
                    .unwrap_or_default(),
                k.kdc.realm
            ),
            users: k.user_principals.clone(),
        }),
        rpc: server.rpc_addrs().map(|(epm, icpr)| ReadyRpc {
            epm: epm.to_string(),
            port: icpr.port(),
        }),
        iis: server
            .iis_addrs()
            .map(|(http, https)| adcs_proto::ready::ReadyIis {
                http_url: format!("http://{http}{}", adcs_proto::protocol::endpoint::CERTSRV),
                https_url: format!("https://{https}{}", adcs_proto::protocol::endpoint::CERTSRV),
            }),
        vulnerable: crate::lab::findings(&config.lab_escs()?),
        ldap: server
            .ldap_addrs()
            .zip(server.forest())
            .map(|((plain, tls), n)| ReadyLdap {
                url: format!("ldap://{plain}"),
                ldaps_url: format!("ldaps://{tls}"),
                domain_dn: n.domain_dn.clone(),
                configuration_dn: n.config_dn.clone(),
                dc_name: n.dc_host.clone(),
            }),
        dns: server.dns_addr().map(|a| a.to_string()),
        smb: server.smb_addr().map(|a| a.to_string()),
    };
    if let Some(r) = ready_file {
        let json = serde_json::to_vec_pretty(&info).expect("ready info serialises");
        write_atomic(r, &json)?;
    }
    let warnings = stored_config_differs(&config, &ca)?.into_iter().collect();
    Ok(Running {
        server,
        info,
        files_dir,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_for_the_ready_file_outlasts_a_serve_still_starting() {
        use std::time::Duration;
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready.json");
        let connect = Duration::from_secs(5);
        let e = wait_ready(&ready, Duration::ZERO, connect).unwrap_err();
        assert!(e.contains("ready.json"), "{e}");
        let path = ready.clone();
        let starting = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let config = ServeConfig {
                rpc: Some(crate::web::rpc::RpcConfig {
                    enabled: false,
                    ..Default::default()
                }),
                ..ServeConfig::default()
            };
            start(config, Some(&path)).unwrap()
        });
        // Bounded only for a failure: it returns once the server answers.
        let addr = wait_ready(&ready, Duration::from_secs(600), connect).unwrap();
        let running = starting.join().unwrap();
        assert_eq!(addr, running.server.addr());
    }

    #[test]
    fn a_state_directory_says_when_it_keeps_another_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let config = |lab: &str| ServeConfig {
            state_dir: Some(dir.path().join("ca")),
            lab: (!lab.is_empty()).then(|| crate::lab::LabConfig::from_list(lab)),
            rpc: Some(crate::web::rpc::RpcConfig {
                enabled: false,
                ..Default::default()
            }),
            ..ServeConfig::default()
        };
        let first = start(config(""), None).unwrap();
        assert!(first.warnings.is_empty(), "{:?}", first.warnings);
        drop(first);
        let again = start(config(""), None).unwrap();
        assert!(again.warnings.is_empty(), "{:?}", again.warnings);
        drop(again);
        let lab = start(config("esc1"), None).unwrap();
        assert_eq!(lab.warnings.len(), 1);
        assert!(
            lab.warnings[0].contains("templates it lacks: ESC1"),
            "{:?}",
            lab.warnings
        );
    }

    #[test]
    fn config_errors_name_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("serve.toml");
        std::fs::write(&p, "seed = 3\nhttp = true\nbogus = 1\n").unwrap();
        let e = ServeConfig::load(&p).unwrap_err().to_string();
        assert!(e.contains("serve.toml: line 3, column 1"), "{e}");
        std::fs::write(
            &p,
            "seed = 3\nmode = \"standalone\"\n[auth]\nchannel_binding = \"require\"\n[[users]]\nname = 'CONTOSO\\bob'\npassword = \"pw\"\nadmin = true\n",
        )
        .unwrap();
        let c = ServeConfig::load(&p).unwrap();
        assert_eq!((c.seed, c.mode), (Some(3), Some(CaMode::Standalone)));
        assert_eq!(c.auth.channel_binding, ChannelBindingPolicy::Require);
        assert!(c.users[0].admin && c.auth.basic);
        // A bad policy is refused at load, with its place in the file.
        std::fs::write(&p, "[auth]\nchannel_binding = \"sometimes\"\n").unwrap();
        let e = ServeConfig::load(&p).unwrap_err().to_string();
        assert!(
            e.contains("line 2, column") && e.contains("expected off, accept or require"),
            "{e}"
        );
    }
}
