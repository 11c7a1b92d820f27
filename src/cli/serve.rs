//! `adcs-harness serve`: flags on top of an optional TOML file, then
//! `mock_ca::serve::start`, a banner, and serving until killed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::BoolishValueParser;
use clap::Args;
use mock_ca::serve::{ServeConfig, DEFAULT_SEED};
use mock_ca::web::directory::{is_builtin_account, User, DEFAULT_ADMIN, DEFAULT_ADMIN_PASSWORD};
use mock_ca::CaMode;

#[derive(Args)]
pub struct ServeArgs {
    /// Print every serve.toml key at its default (a complete config file)
    /// and exit.
    #[arg(long)]
    print_defaults: bool,
    /// enterprise (templates) or standalone (every request pending).
    #[arg(long, env = "ADCS_HARNESS_MODE")]
    mode: Option<CaMode>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR:PORT", env = "ADCS_HARNESS_LISTEN")]
    listen: Option<SocketAddr>,
    /// Plain HTTP instead of HTTPS.
    #[arg(long, env = "ADCS_HARNESS_HTTP", value_parser = BoolishValueParser::new())]
    http: bool,
    /// An account `DOMAIN\name:password` (repeatable); replaces the default user.
    #[arg(long = "user", value_name = "DOMAIN\\NAME:PASSWORD")]
    users: Vec<String>,
    /// The administrator account `DOMAIN\name:password`.
    #[arg(long, value_name = "DOMAIN\\NAME:PASSWORD")]
    admin: Option<String>,
    /// Seed for every key, serial and name (default 1: fast, cached keys).
    #[arg(long, env = "ADCS_HARNESS_SEED")]
    seed: Option<u64>,
    /// Keep the CA (keys, requests, CRLs) in this directory across restarts.
    #[arg(long, value_name = "DIR", env = "ADCS_HARNESS_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// TOML configuration: CA names, keys, templates, users, auth.
    #[arg(long, value_name = "FILE", env = "ADCS_HARNESS_CONFIG")]
    config: Option<PathBuf>,
    /// Written (atomically) once the server accepts connections: URLs,
    /// certificate files, credentials, as JSON.
    #[arg(long, value_name = "PATH", env = "ADCS_HARNESS_READY_FILE")]
    ready_file: Option<PathBuf>,
    /// Extended Protection for NTLM over HTTPS: off, accept or require.
    #[arg(long, value_name = "POLICY")]
    channel_binding: Option<adcs_proto::ntlm::ChannelBindingPolicy>,
    /// Do not offer Basic authentication.
    #[arg(long)]
    no_basic: bool,
    /// Do not offer NTLM/Negotiate.
    #[arg(long)]
    no_ntlm: bool,
    /// Run NDES too: SCEP at /certsrv/mscep/mscep.dll, challenge passwords
    /// at /certsrv/mscep_admin/ (`[ndes]` in the config file sets it up).
    #[arg(long)]
    ndes: bool,
    /// Give the site a Kerberos realm: a real MIT KDC where serve listens, with a
    /// principal per user and HTTP/<host>, and Kerberos under Negotiate
    /// (`[kerberos]` in the config file sets it up; Linux, needs Debian's
    /// krb5-kdc and krb5-admin-server).
    #[arg(long, env = "ADCS_HARNESS_KERBEROS", value_parser = BoolishValueParser::new())]
    kerberos: bool,
    /// Serve ICertPassage (MS-ICPR, `certipy req` without `-web`) over
    /// DCE/RPC, with the endpoint mapper on port 135, and stop if the ports
    /// cannot be bound (`[rpc]` in the config file sets it up). Without
    /// it, RPC runs where port 135 can be bound (as root) and is left out
    /// where it cannot.
    #[arg(long, conflicts_with = "no_rpc")]
    rpc: bool,
    /// No RPC, even where port 135 could be bound.
    #[arg(long)]
    no_rpc: bool,
    /// The endpoint mapper's port instead of 135 (implies --rpc).
    #[arg(long, value_name = "PORT")]
    rpc_epm_port: Option<u16>,
    /// ICertPassage's own port instead of a free one (the endpoint mapper
    /// names it; a container publishes it).
    #[arg(long, value_name = "PORT", env = "ADCS_HARNESS_RPC_PORT")]
    rpc_port: Option<u16>,
    /// Serve the forest's directory as its domain controller does: LDAP on
    /// 389 (with StartTLS) and LDAPS on 636, and stop if the ports cannot
    /// be bound (`[ldap]` in the config file sets it up). Without it, LDAP
    /// runs where the ports can be bound (as root) and is left out where
    /// they cannot.
    #[arg(long, conflicts_with = "no_ldap")]
    ldap: bool,
    /// No directory, even where ports 389 and 636 could be bound.
    #[arg(long)]
    no_ldap: bool,
    /// LDAP's port instead of 389 (0: a free one; implies --ldap).
    #[arg(long, value_name = "PORT")]
    ldap_port: Option<u16>,
    /// LDAPS's port instead of 636 (0: a free one; implies --ldap).
    #[arg(long, value_name = "PORT")]
    ldaps_port: Option<u16>,
    /// Answer for the domain's DNS zone (the DC's and the CA's names, AD's
    /// SRV records) on UDP and TCP port 53, and stop if it cannot be bound
    /// (`[dns]` in the config file). Without it, the zone is served where
    /// port 53 can be bound and left out where it cannot.
    #[arg(long, conflicts_with = "no_dns")]
    dns: bool,
    /// No DNS zone, even where port 53 could be bound.
    #[arg(long)]
    no_dns: bool,
    /// The zone's port instead of 53 (0: a free one; implies --dns).
    #[arg(long, value_name = "PORT")]
    dns_port: Option<u16>,
    /// Serve the pages on IIS's ports 80 and 443 too, or fail (the default:
    /// where they can be bound).
    #[arg(long, conflicts_with = "no_iis")]
    iis: bool,
    /// Not on IIS's ports, even where they could be bound.
    #[arg(long)]
    no_iis: bool,
    /// Serve SMB on port 445 with the CA's named pipes (`\pipe\cert` for
    /// ICertPassage, `\pipe\winreg` for the CA's registry), and stop if
    /// the port cannot be bound (`[smb]` in the config file). Without it,
    /// SMB runs where port 445 can be bound and is left out where it cannot.
    #[arg(long, conflicts_with = "no_smb")]
    smb: bool,
    /// No SMB, even where port 445 could be bound.
    #[arg(long)]
    no_smb: bool,
    /// SMB's port instead of 445 (0: a free one; implies --smb).
    #[arg(long, value_name = "PORT")]
    smb_port: Option<u16>,
    /// Misconfigure the CA for testing AD CS tools: a comma-separated list
    /// of esc1, esc2, esc3, esc4, esc6, esc7, esc8, esc9, esc11, esc13, esc15,
    /// esc16, or all
    /// (adds to `[lab]`).
    #[arg(long, value_name = "LIST", env = "ADCS_HARNESS_VULNERABLE")]
    vulnerable: Option<String>,
    /// A freshly installed, patched Windows Server 2022 CA's templates and
    /// rights (Web Server for administrators only; the SCOM, IPSec and test
    /// templates unpublished): what Certipy reports of a CA nobody
    /// misconfigured (`[lab] hardened`).
    #[arg(long, env = "ADCS_HARNESS_HARDENED", value_parser = BoolishValueParser::new())]
    hardened: bool,
}

/// `--ldap`, `--no-ldap` and the ports over `[ldap]`.
fn ldap_flags(args: &ServeArgs, c: &mut ServeConfig) {
    use mock_ca::web::ldap::LdapConfig;
    let insist = args.ldap || args.ldap_port.is_some() || args.ldaps_port.is_some();
    if insist && c.ldap.is_none() {
        c.ldap = Some(LdapConfig::default());
    }
    if args.no_ldap {
        c.ldap = Some(LdapConfig {
            enabled: false,
            ..Default::default()
        });
    }
    if let Some(l) = c.ldap.as_mut() {
        l.port = args.ldap_port.unwrap_or(l.port);
        l.ldaps_port = args.ldaps_port.unwrap_or(l.ldaps_port);
    }
}

/// `--dns`, `--no-dns` and `--dns-port` over `[dns]`.
fn dns_flags(args: &ServeArgs, c: &mut ServeConfig) {
    use mock_ca::web::dns::DnsConfig;
    if (args.dns || args.dns_port.is_some()) && c.dns.is_none() {
        c.dns = Some(DnsConfig::default());
    }
    if args.no_dns {
        c.dns = Some(DnsConfig {
            enabled: false,
            ..Default::default()
        });
    }
    if let (Some(port), Some(d)) = (args.dns_port, c.dns.as_mut()) {
        d.port = port;
    }
}

/// `--smb`, `--no-smb` and the port over `[smb]`.
fn smb_flags(args: &ServeArgs, c: &mut ServeConfig) {
    use mock_ca::web::smb::SmbConfig;
    if (args.smb || args.smb_port.is_some()) && c.smb.is_none() {
        c.smb = Some(SmbConfig::default());
    }
    if args.no_smb {
        c.smb = Some(SmbConfig {
            enabled: false,
            ..Default::default()
        });
    }
    if let (Some(port), Some(s)) = (args.smb_port, c.smb.as_mut()) {
        s.port = port;
    }
}

/// Merges flags over the file and the defaults.
pub fn config(args: &ServeArgs) -> Result<ServeConfig, String> {
    let mut c = match &args.config {
        Some(p) => ServeConfig::load(p).map_err(|e| e.to_string())?,
        None => ServeConfig::default(),
    };
    if args.mode.is_some() {
        c.mode = args.mode;
    }
    if args.listen.is_some() {
        c.listen = args.listen;
    }
    c.http |= args.http;
    if args.seed.is_some() {
        c.seed = args.seed;
    }
    if args.state_dir.is_some() {
        c.state_dir = args.state_dir.clone();
    }
    if let Some(cb) = args.channel_binding {
        c.auth.channel_binding = cb;
    }
    c.auth.basic &= !args.no_basic;
    c.auth.ntlm &= !args.no_ntlm;
    if args.ndes && c.ndes.is_none() {
        c.ndes = Some(mock_ca::ndes::NdesConfig::default());
    }
    if args.kerberos && c.kerberos.is_none() {
        c.kerberos = Some(mock_ca::kerberos::KerberosConfig::default());
    }
    if (args.rpc || args.rpc_epm_port.is_some()) && c.rpc.is_none() {
        c.rpc = Some(mock_ca::web::rpc::RpcConfig::default());
    }
    if args.no_rpc {
        c.rpc = Some(mock_ca::web::rpc::RpcConfig {
            enabled: false,
            ..Default::default()
        });
    }
    if let (Some(port), Some(r)) = (args.rpc_epm_port, c.rpc.as_mut()) {
        r.epm_port = port;
    }
    if let Some(port) = args.rpc_port {
        let r = c.rpc.get_or_insert_with(|| mock_ca::web::rpc::RpcConfig {
            optional: true,
            ..Default::default()
        });
        r.port = port;
    }
    ldap_flags(args, &mut c);
    dns_flags(args, &mut c);
    smb_flags(args, &mut c);
    if args.iis && c.iis.is_none() {
        c.iis = Some(mock_ca::web::iis::IisConfig::default());
    }
    if args.no_iis {
        c.iis = Some(mock_ca::web::iis::IisConfig {
            enabled: false,
            ..Default::default()
        });
    }
    if let Some(list) = &args.vulnerable {
        let lab = c.lab.get_or_insert_with(Default::default);
        lab.vulnerable
            .extend(mock_ca::lab::LabConfig::from_list(list).vulnerable);
        lab.escs()
            .map_err(|e| format!("--vulnerable: {}", e.reason))?;
    }
    if args.hardened {
        c.lab.get_or_insert_with(Default::default).hardened = true;
    }
    for spec in &args.users {
        c.users
            .push(User::parse(spec).map_err(|e| format!("--user {e}"))?);
    }
    if let Some(spec) = &args.admin {
        let mut a = User::parse(spec).map_err(|e| format!("--admin {e}"))?;
        a.admin = true;
        c.users.retain(|u| !u.admin);
        c.users.push(a);
    }
    if !c.users.is_empty() && !c.users.iter().any(|u| u.admin) {
        let mut a = User::parse(&format!("{DEFAULT_ADMIN}:{DEFAULT_ADMIN_PASSWORD}"))
            .expect("valid default admin");
        a.admin = true;
        c.users.push(a);
    }
    Ok(c)
}

pub fn run(args: ServeArgs) -> Result<ExitCode, String> {
    if args.print_defaults {
        print!("{}", mock_ca::serve::defaults_toml());
        return Ok(ExitCode::SUCCESS);
    }
    let config = config(&args)?;
    let running =
        mock_ca::serve::start(config, args.ready_file.as_deref()).map_err(|e| e.to_string())?;
    let info = &running.info;
    let addr = running.server.addr();
    for w in &running.warnings {
        eprintln!("adcs-harness: warning: {w}");
    }
    println!(
        "adcs-harness: {:?} CA `{}` (seed {}{})",
        info.mode,
        info.ca_name,
        info.seed,
        if info.seed == DEFAULT_SEED {
            ", the default"
        } else {
            ""
        }
    );
    println!("certsrv   {}", info.certsrv_url);
    if let (Some(scep), Some(admin)) = (&info.ndes_url, &info.ndes_admin_url) {
        println!("ndes      {scep}");
        println!("ndes pw   {admin}  (one-time challenge passwords)");
    }
    if let Some(k) = &info.kerberos {
        println!(
            "kerberos  realm {} at {} ({})",
            k.realm, k.kdc, k.service_principal
        );
        println!(
            "krb5.conf {}  (KRB5_CONFIG for kinit, curl --negotiate)",
            k.krb5_conf
        );
    }
    if let Some(r) = &info.rpc {
        println!(
            "rpc       endpoint mapper {}, ICertPassage on port {}",
            r.epm, r.port
        );
    } else if let Some(why) = running.server.rpc_unavailable() {
        println!("rpc       off: {why}");
    }
    if let Some(l) = &info.ldap {
        println!(
            "ldap      {}  {}  (DC {}, {})",
            l.url, l.ldaps_url, l.dc_name, l.domain_dn
        );
    } else if let Some(why) = running.server.ldap_unavailable() {
        println!("ldap      off: {why}");
    }
    if let Some(d) = &info.dns {
        println!("dns       {d}  (the domain's zone: the DC, the CA's host, AD's SRV records)");
    } else if let Some(why) = running.server.dns_unavailable() {
        println!("dns       off: {why}");
    }
    if let Some(a) = &info.smb {
        println!("smb       {a}  (\\pipe\\cert, \\pipe\\winreg: certipy req without -dynamic-endpoint, certipy find's CA flags)");
    } else if let Some(why) = running.server.smb_unavailable() {
        println!("smb       off: {why}");
    }
    if let Some(i) = &info.iis {
        println!(
            "iis       {}  {}  (the pages on IIS's ports, as tools probing the CA's name find them)",
            i.http_url, i.https_url
        );
    } else if let Some(why) = running.server.iis_unavailable() {
        println!("iis       off: {why}");
    }
    if std::env::var_os("ADCS_HARNESS_IN_CONTAINER").is_some() {
        println!(
            "container publish the ports clients dial: {}",
            container_ports(info)
        );
    }
    println!("control   {}", info.control_url);
    println!(
        "console   {}{}/  (CA console in a browser, as the admin)",
        info.control_url,
        mock_ca::web::console::PREFIX
    );
    // Only the documented default passwords are printed; the ready file
    // holds every account for scripts.
    let shown = |name: &str, password: &str| {
        if is_builtin_account(name, password) {
            format!("password {password}")
        } else {
            "password as configured".to_string()
        }
    };
    for u in &info.users {
        println!("user      {}  {}", u.user, shown(&u.user, &u.password));
    }
    println!(
        "admin     {}  {}",
        info.admin.user,
        shown(&info.admin.user, &info.admin.password)
    );
    println!("CA cert   {}", info.ca_cert);
    println!("root      {}  (trust this for HTTPS)", info.root_cert);
    for f in &info.vulnerable {
        println!(
            "vulnerable {} on {}, for {}: {}",
            f.esc, f.target, f.who, f.what
        );
    }
    if let Some(r) = &args.ready_file {
        println!("ready     {}", r.display());
    }
    if !addr.ip().is_loopback() {
        eprintln!(
            "adcs-harness: warning: listening on {addr}, not loopback; this is a test CA with known passwords and exportable keys"
        );
    }
    // Until asked to end; then the server, its KDC and its temporary
    // folders go in order (dropping `running`).
    match mock_ca::shutdown::wait(|| running.server.is_running()) {
        Ok(Some(signal)) => eprintln!("adcs-harness: {signal}: stopping"),
        Ok(None) => {}
        Err(e) => {
            eprintln!("adcs-harness: cannot watch for termination signals ({e}); serving on");
            running.server.wait();
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `-p` options for the ports this container serves, as its host must
/// publish them (the same numbers: clients and the endpoint mapper name
/// them).
fn container_ports(info: &adcs_proto::ready::ReadyInfo) -> String {
    let port = |addr: &str| addr.rsplit(':').next().unwrap_or("").to_string();
    let mut ports = vec![info.port.to_string()];
    // The KDC and DNS answer over UDP too.
    let mut udp: Vec<String> = Vec::new();
    if let Some(k) = &info.kerberos {
        ports.push(port(&k.kdc));
        udp.push(port(&k.kdc));
    }
    if let Some(d) = &info.dns {
        ports.push(port(d));
        udp.push(port(d));
    }
    if let Some(r) = &info.rpc {
        ports.extend([port(&r.epm), r.port.to_string()]);
    }
    if let Some(l) = &info.ldap {
        ports.extend([port(&l.url), port(&l.ldaps_url)]);
    }
    ports.extend(info.smb.as_deref().map(port));
    if let Some(i) = &info.iis {
        let from_url = |u: &str| port(u.trim_end_matches("/certsrv/"));
        ports.extend([from_url(&i.http_url), from_url(&i.https_url)]);
    }
    ports.sort_by_key(|p| p.parse::<u16>().unwrap_or(0));
    ports.dedup();
    let tcp = ports.iter().map(|p| format!("-p {p}:{p}"));
    let udp = udp.iter().map(|p| format!("-p {p}:{p}/udp"));
    tcp.chain(udp).collect::<Vec<_>>().join(" ")
}
