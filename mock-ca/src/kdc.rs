//! A real MIT Kerberos KDC for the CA's realm, as a component the harness
//! starts and stops: a private folder with the database (`kdb5_util`), a
//! principal per directory user with their password and the site's
//! `HTTP/<name>` service principals (`kadmin.local`), the service keytab,
//! a `krb5.conf` clients can use through `KRB5_CONFIG` (no DNS, no reverse
//! DNS), and `krb5kdc` listening on the site's address until the [`Kdc`] is dropped.
//! Debian's `krb5-kdc` and `krb5-admin-server` provide the programs.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long `krb5kdc` may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// What the KDC holds and where it lives.
#[derive(Clone, Debug)]
pub struct KdcOptions {
    /// `CONTOSO.TEST`.
    pub realm: String,
    /// The private folder (database, stash, logs, keytab, krb5.conf).
    pub dir: PathBuf,
    /// The port; `None`: 88 when it may be bound, else a free one.
    pub port: Option<u16>,
    /// The address to listen on: the site's (`0.0.0.0` in a container,
    /// so that a published port reaches it).
    pub listen: IpAddr,
    /// User principals (`alice`) and their passwords.
    pub users: Vec<(String, String)>,
    /// Host names the site answers to; each gets `HTTP/<name>` in the keytab.
    pub service_hosts: Vec<String>,
    /// Other service principals for the keytab, as written (`ldap/dc01…`,
    /// `host/…` and `HOST/…`: MIT tells their case apart).
    pub principals: Vec<String>,
    /// How far ticket times may be off (krb5.conf's `clockskew`), seconds.
    pub clockskew: u32,
}

/// Why the KDC could not be set up or started; each names what to do.
#[derive(Debug, thiserror::Error)]
pub enum KdcError {
    #[error("`{program}` is not installed: the Kerberos KDC needs Debian's krb5-kdc and krb5-admin-server (apt-get install krb5-kdc krb5-admin-server)")]
    Missing { program: String },
    #[error("`{program}` failed ({status}): {output}")]
    Command {
        program: String,
        status: String,
        output: String,
    },
    #[error("the KDC cannot listen on {ip}:{port}: {reason} (set `kdc_port` to a free port)")]
    Port {
        ip: IpAddr,
        port: u16,
        reason: String,
    },
    #[error(
        "a password for `{0}` contains a double quote or a line break, which kadmin cannot take"
    )]
    Password(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the KDC did not accept connections within {} s; its log: {log}", READY_TIMEOUT.as_secs())]
    NotReady { log: String },
    #[error("the MIT Kerberos KDC runs on Linux; --kerberos is not available on this system")]
    Unsupported,
}

/// A running KDC; dropping it stops `krb5kdc` and waits for it.
#[derive(Debug)]
pub struct Kdc {
    child: Child,
    pub realm: String,
    pub addr: SocketAddr,
    /// The client configuration (`KRB5_CONFIG`).
    pub krb5_conf: PathBuf,
    /// The service principals in the keytab: `HTTP/<name>` first (the
    /// web server's), then the others asked for.
    pub keytab: PathBuf,
    pub service_principals: Vec<String>,
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KdcError + '_ {
    move |source| KdcError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Kdc {
    /// Makes the realm in `opts.dir` and starts `krb5kdc` on `opts.listen`.
    pub fn start(opts: &KdcOptions) -> Result<Kdc, KdcError> {
        if cfg!(windows) {
            return Err(KdcError::Unsupported);
        }
        std::fs::create_dir_all(&opts.dir).map_err(io(&opts.dir))?;
        // One start at a time in this process: a port found free stays
        // free until its KDC has bound it.
        static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = STARTING.lock().unwrap_or_else(|p| p.into_inner());
        let port = choose_port(opts.listen, opts.port)?;
        let files = Files::new(&opts.dir);
        write_configs(opts, &files, port)?;
        let env = files.env();
        let master = adcs_proto::hex::hex(&adcs_proto::Seed::random().derive("kdc/master"));
        run(
            "kdb5_util",
            &["create", "-s", "-r", &opts.realm, "-P", &master],
            &env,
        )?;
        // Every principal and the keytab in one kadmin.local run: each
        // process costs tens of milliseconds, and serve starts in a few.
        let mut queries = Vec::new();
        for (user, password) in &opts.users {
            if password.contains(['"', '\n', '\r']) {
                return Err(KdcError::Password(user.clone()));
            }
            for name in case_variants(user) {
                queries.push(format!("addprinc -pw \"{password}\" {name}"));
            }
        }
        let mut services = Vec::new();
        let http = opts
            .service_hosts
            .iter()
            .map(|host| format!("HTTP/{}", host.to_ascii_lowercase()));
        for principal in http.chain(opts.principals.iter().cloned()) {
            if services.contains(&principal) {
                continue;
            }
            let keytab = files.keytab.display().to_string();
            queries.push(format!("addprinc -randkey {principal}"));
            queries.push(format!("ktadd -k {keytab} {principal}"));
            services.push(principal);
        }
        kadmin(opts, &env, &queries.join("\n"))?;
        let child = spawn_kdc(opts, &files, &env)?;
        let mut kdc = Kdc {
            child,
            realm: opts.realm.clone(),
            addr: SocketAddr::new(client_ip(opts.listen), port),
            krb5_conf: files.krb5_conf.clone(),
            keytab: files.keytab.clone(),
            service_principals: services,
            dir: opts.dir.clone(),
        };
        kdc.wait_ready(&files.log)?;
        Ok(kdc)
    }

    /// Polls the TCP port until it answers, the KDC exits, or time runs out.
    fn wait_ready(&mut self, log: &Path) -> Result<(), KdcError> {
        let started = Instant::now();
        while started.elapsed() < READY_TIMEOUT {
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let log = std::fs::read_to_string(log).unwrap_or_default();
        Err(KdcError::NotReady {
            log: log.lines().rev().take(5).collect::<Vec<_>>().join(" | "),
        })
    }

    /// The folder the realm lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Kdc {
    /// Closing the guard's stdin stops `krb5kdc`; the guard then exits.
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Where the realm's files go.
struct Files {
    kdc_conf: PathBuf,
    krb5_conf: PathBuf,
    keytab: PathBuf,
    log: PathBuf,
    dir: PathBuf,
}

impl Files {
    fn new(dir: &Path) -> Files {
        Files {
            kdc_conf: dir.join("kdc.conf"),
            krb5_conf: dir.join("krb5.conf"),
            keytab: dir.join("http.keytab"),
            log: dir.join("kdc.log"),
            dir: dir.to_path_buf(),
        }
    }

    /// The environment every krb5 program runs with: these files only.
    fn env(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("KRB5_CONFIG", self.krb5_conf.clone()),
            ("KRB5_KDC_PROFILE", self.kdc_conf.clone()),
        ]
    }
}

/// 88 when it is free to bind (root), else the one asked for, else a port
/// free for both TCP and UDP.
/// The names a user's principal is created under. AD looks accounts up
/// without regard to case (Certipy asks for `ALICE@CONTOSO.TEST`); MIT's
/// database is case-sensitive, so the name as written, in lower case and in
/// capitals each get the user's password.
fn case_variants(user: &str) -> Vec<String> {
    let mut names = vec![user.to_string()];
    for v in [user.to_ascii_lowercase(), user.to_ascii_uppercase()] {
        if !names.contains(&v) {
            names.push(v);
        }
    }
    names
}

fn choose_port(ip: IpAddr, wanted: Option<u16>) -> Result<u16, KdcError> {
    let free = |p: u16| -> Result<u16, String> {
        let tcp = TcpListener::bind((ip, p)).map_err(|e| e.to_string())?;
        let port = tcp.local_addr().map_err(|e| e.to_string())?.port();
        UdpSocket::bind((ip, port)).map_err(|e| e.to_string())?;
        Ok(port)
    };
    match wanted {
        Some(p) => free(p).map_err(|reason| KdcError::Port {
            ip,
            port: p,
            reason,
        }),
        None => free(88)
            .or_else(|_| (0..5).find_map(|_| free(0).ok()).ok_or_else(String::new))
            .map_err(|reason| KdcError::Port {
                ip,
                port: 0,
                reason,
            }),
    }
}

/// Where a client on this machine reaches a KDC listening on `listen`.
fn client_ip(listen: IpAddr) -> IpAddr {
    if listen.is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        listen
    }
}

fn write_configs(opts: &KdcOptions, f: &Files, port: u16) -> Result<(), KdcError> {
    let realm = &opts.realm;
    let dir = f.dir.display();
    // A port alone listens on every address (MIT's kdc.conf). No
    // last-success time or lockout count: either makes every AS exchange
    // a write to the principal database.
    let listen = if opts.listen.is_unspecified() {
        port.to_string()
    } else {
        SocketAddr::new(opts.listen, port).to_string()
    };
    let client = SocketAddr::new(client_ip(opts.listen), port);
    let kdc_conf = format!(
        "[kdcdefaults]\n kdc_listen = {listen}\n kdc_tcp_listen = {listen}\n\n[realms]\n {realm} = {{\n  database_name = {dir}/principal\n  key_stash_file = {dir}/stash\n  acl_file = {dir}/kadm5.acl\n  kdc_listen = {listen}\n  kdc_tcp_listen = {listen}\n  max_life = 10h 0m 0s\n  max_renewable_life = 7d 0h 0m 0s\n }}\n\n[dbmodules]\n {realm} = {{\n  disable_last_success = true\n  disable_lockout = true\n }}\n\n[logging]\n kdc = FILE:{}\n",
        f.log.display()
    );
    let domain = realm.to_ascii_lowercase();
    let skew = opts.clockskew;
    let krb5_conf = format!(
        "[libdefaults]\n default_realm = {realm}\n clockskew = {skew}\n dns_lookup_kdc = false\n dns_lookup_realm = false\n rdns = false\n dns_canonicalize_hostname = false\n\n[realms]\n {realm} = {{\n  kdc = {client}\n }}\n\n[domain_realm]\n .{domain} = {realm}\n {domain} = {realm}\n localhost = {realm}\n 127.0.0.1 = {realm}\n"
    );
    for (path, text) in [(&f.kdc_conf, kdc_conf), (&f.krb5_conf, krb5_conf)] {
        std::fs::write(path, text).map_err(io(path))?;
    }
    let acl = f.dir.join("kadm5.acl");
    std::fs::write(&acl, "").map_err(io(&acl))
}

/// Runs a krb5 admin program to completion; its output goes into the error.
fn run(program: &str, args: &[&str], env: &[(&str, PathBuf)]) -> Result<(), KdcError> {
    let out = command(program, env)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|_| KdcError::Missing {
            program: program.into(),
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(KdcError::Command {
        program: program.into(),
        status: out.status.to_string(),
        output: String::from_utf8_lossy(&[out.stdout, out.stderr].concat())
            .trim()
            .to_string(),
    })
}

/// `kadmin.local` queries, a line each (given on stdin, so passwords are
/// not in `ps`); any failed one fails the call.
fn kadmin(opts: &KdcOptions, env: &[(&str, PathBuf)], queries: &str) -> Result<(), KdcError> {
    let program = "kadmin.local";
    let mut child = command(program, env)
        .args(["-r", &opts.realm])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|_| KdcError::Missing {
            program: program.into(),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = writeln!(stdin, "{queries}");
    }
    let out = child.wait_with_output().map_err(io(Path::new(program)))?;
    let text = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
    // kadmin.local exits 0 even when a query fails; its messages say so.
    let failed = !out.status.success()
        || text.contains("while creating")
        || text.contains("while adding")
        || text.contains("not found");
    if failed {
        return Err(KdcError::Command {
            program: program.into(),
            status: out.status.to_string(),
            output: text.trim().to_string(),
        });
    }
    Ok(())
}

/// The program from the system's sbin or PATH, with the realm's environment.
fn command(program: &str, env: &[(&str, PathBuf)]) -> Command {
    let path = ["/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin"]
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(program));
    let mut c = Command::new(path);
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// Starts `krb5kdc` under a small shell guard that kills it when our end
/// of its stdin pipe closes: when the [`Kdc`] is dropped, and also when
/// this process dies without running destructors (a `serve` ended by a
/// signal), so no KDC is left behind either way.
fn spawn_kdc(opts: &KdcOptions, f: &Files, env: &[(&str, PathBuf)]) -> Result<Child, KdcError> {
    let out = std::fs::File::create(f.dir.join("krb5kdc.out")).map_err(io(&f.dir))?;
    let err = out.try_clone().map_err(io(&f.dir))?;
    let krb5kdc = command("krb5kdc", env).get_program().to_owned();
    if !Path::new(&krb5kdc).is_file() {
        return Err(KdcError::Missing {
            program: "krb5kdc".into(),
        });
    }
    const GUARD: &str =
        "exec 3<&0; \"$0\" \"$@\" </dev/null & k=$!; (read _ <&3; kill $k 2>/dev/null) & wait $k";
    let mut sh = Command::new("/bin/sh");
    for (k, v) in env {
        sh.env(k, v);
    }
    sh.arg("-c")
        .arg(GUARD)
        .arg(&krb5kdc)
        .args(["-n", "-r", &opts.realm])
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|_| KdcError::Missing {
            program: "/bin/sh".into(),
        })
}
