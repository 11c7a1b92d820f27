//! The bench's protocol rows: issuance through each way a client reaches
//! the CA besides the pages (ICertPassage over RPC, SCEP, a Kerberos
//! sign-in before the pages) and the directory's bind and template
//! search, each next to the signing rate measured just before it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use adcs_client::certsrv::Outcome;
use adcs_client::flow::CaEndpoint;
use adcs_client::http::{Credentials, Session, Trust};
use adcs_client::icpr::RpcTarget;
use adcs_client::scep::{self, Device};
use adcs_proto::rpc::secure::level;
use adcs_proto::scep::{Cipher, MessageType};
use mock_ca::web::{Server, WebOptions};
use mock_ca::Seed;

const USER: &str = "CONTOSO\\alice";
const TIMEOUT: Duration = Duration::from_secs(60);

/// Operations per second that `clients` threads reach in `seconds`, each
/// thread running the operation `make` gives it (once: a connection, a
/// key) in a loop. The clock starts once every thread is ready, and each
/// thread finishes the operation it is in. Any failure fails the
/// measurement, named.
fn per_second<F, Op>(clients: usize, seconds: f64, make: F) -> Result<f64, String>
where
    F: Fn(usize) -> Result<Op, String> + Sync,
    Op: FnMut() -> Result<(), String>,
{
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let ready = std::sync::Barrier::new(clients + 1);
    let (failures, elapsed) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..clients)
            .map(|i| {
                let (make, stop, done, ready) = (&make, &stop, &done, &ready);
                s.spawn(move || -> Result<(), String> {
                    let made = make(i);
                    ready.wait();
                    let mut op = made?;
                    loop {
                        op()?;
                        done.fetch_add(1, Ordering::Relaxed);
                        if stop.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                    }
                })
            })
            .collect();
        ready.wait();
        let started = Instant::now();
        std::thread::sleep(Duration::from_secs_f64(seconds));
        stop.store(true, Ordering::Relaxed);
        let failures: Vec<String> = workers
            .into_iter()
            .filter_map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err("a client panicked".into()))
                    .err()
            })
            .collect();
        (failures, started.elapsed().as_secs_f64())
    });
    if let Some(first) = failures.first() {
        return Err(format!(
            "{} of {clients} clients failed: {first}",
            failures.len()
        ));
    }
    Ok(done.load(Ordering::Relaxed) as f64 / elapsed)
}

/// An enterprise CA over HTTP with RPC, NDES (no challenge: a device's
/// request is all it sends, AES offered) and the directory on free ports,
/// and the realm where this machine has the MIT KDC.
fn server(kerberos: bool) -> Result<Server, String> {
    let mut ndes = mock_ca::ndes::NdesConfig {
        enforce_password: false,
        ..Default::default()
    };
    if !ndes.capabilities.iter().any(|c| c == "AES") {
        ndes.capabilities.push("AES".into());
    }
    super::bench_server_with(WebOptions {
        tls: false,
        ndes: Some(ndes),
        rpc: Some(mock_ca::web::rpc::RpcConfig {
            epm_port: 0,
            ..Default::default()
        }),
        ldap: Some(mock_ca::web::ldap::LdapConfig {
            port: 0,
            ldaps_port: 0,
            ..Default::default()
        }),
        kerberos: kerberos.then(mock_ca::kerberos::KerberosConfig::default),
        ..WebOptions::default()
    })
}

fn issued(o: Outcome) -> Result<(), String> {
    match o {
        Outcome::Issued { .. } => Ok(()),
        other => Err(format!("not issued: {other:?}")),
    }
}

/// ICertPassage as `certipy req` uses it: for each request a connection,
/// an NTLM bind at packet privacy and one sealed CertServerRequest.
fn icpr(server: &Server, clients: usize, seconds: f64) -> Result<f64, String> {
    let (_, icpr_at) = server.rpc_addrs().ok_or("no RPC")?;
    let csr = super::request("rpc.contoso.test")?;
    let attrs = vec![("CertificateTemplate".to_string(), "WebServer".to_string())];
    let target = RpcTarget {
        host: icpr_at.ip().to_string(),
        epm_port: 0,
        port: Some(icpr_at.port()),
        ca_name: server.ca().ca_cn(),
        user: USER.into(),
        password: mock_ca::web::directory::DEFAULT_USER_PASSWORD.into(),
        auth_level: level::PKT_PRIVACY,
        timeout: TIMEOUT,
    };
    per_second(clients, seconds, |_| {
        Ok(|| {
            let o = adcs_client::icpr::submit(&target, &csr, &attrs).map_err(|e| e.to_string())?;
            issued(o)
        })
    })
}

/// A device's PKCSReq through NDES, sealed with `cipher`: each thread's
/// device has its key made once and sends a new transaction each time.
fn scep(server: &Server, cipher: Cipher, clients: usize, seconds: f64) -> Result<f64, String> {
    let url = server.ndes_url().ok_or("no NDES")?;
    let now = server.ca().clock().now();
    per_second(clients, seconds, |i| {
        let mut session = Session::new(&url, Trust::AnyCertificate, Credentials::None)
            .map_err(|e| e.to_string())?;
        session.timeout = TIMEOUT;
        let certs = scep::ca_certificates(&mut session).map_err(|e| e.to_string())?;
        let seed = Seed(i as u64 + 1);
        let mut rng = adcs_client::keys::key_rng(Some(&seed), "bench/scep");
        let device = Device::new(
            &format!("CN=device{i}.contoso.test"),
            2048,
            None,
            now,
            &mut rng,
        )
        .map_err(|e| e.to_string())?;
        let mut n = 0u64;
        Ok(move || {
            n += 1;
            let signer = device.signer();
            let id = format!("{}-{n}", device.transaction_id());
            let enrollment = device.enrollment(&signer, id, cipher);
            let mut nonce = [0u8; 16];
            nonce[..8].copy_from_slice(&n.to_be_bytes());
            let sent = scep::send(
                &mut session,
                &certs,
                &enrollment,
                MessageType::PkcsReq,
                nonce,
                true,
                &mut rng,
            );
            match sent.map_err(|e| e.to_string())? {
                scep::Outcome::Issued(_) => Ok(()),
                other => Err(format!("not issued: {other:?}")),
            }
        })
    })
}

/// A Kerberos sign-in (a ticket from the realm's KDC with the password,
/// then Negotiate on a new connection) and a submission, each time.
fn kerberos(server: &Server, clients: usize, seconds: f64) -> Result<f64, String> {
    let realm = server.kerberos().ok_or("no realm")?;
    let csr =
        adcs_proto::encoding::pem("CERTIFICATE REQUEST", &super::request("krb.contoso.test")?);
    let attrs = vec![("CertificateTemplate".to_string(), "WebServer".to_string())];
    let endpoint = CaEndpoint {
        url: server.certsrv_url(),
        trust: Trust::AnyCertificate,
        credentials: Credentials::Kerberos {
            account: Some((
                "alice".into(),
                mock_ca::web::directory::DEFAULT_USER_PASSWORD.into(),
            )),
            ccache: None,
            krb5_conf: Some(realm.kdc.krb5_conf.clone()),
        },
        timeout: TIMEOUT,
    };
    per_second(clients, seconds, |_| {
        Ok(|| {
            let mut web = endpoint.connect().map_err(|e| e.to_string())?;
            issued(web.submit(&csr, &attrs).map_err(|e| e.to_string())?)
        })
    })
}

/// A signed-in client's submission: alice's ticket-granting ticket comes
/// once from `kinit` into a ticket cache per thread, as a logged-on user
/// has it; each submission is a new connection with `Negotiate` from that
/// cache (the service ticket too is kept there after the first).
fn kerberos_kept(
    server: &Server,
    kinit: &Path,
    clients: usize,
    seconds: f64,
) -> Result<f64, String> {
    let realm = server.kerberos().ok_or("no realm")?;
    let dir = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
    let signed_in = dir.path().join("ccache");
    let said = std::process::Command::new(kinit)
        .arg(format!("alice@{}", realm.kdc.realm))
        .env("KRB5_CONFIG", &realm.kdc.krb5_conf)
        .env("KRB5CCNAME", &signed_in)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            let mut stdin = child.stdin.take().expect("piped");
            writeln!(stdin, "{}", mock_ca::web::directory::DEFAULT_USER_PASSWORD)?;
            drop(stdin);
            child.wait_with_output()
        })
        .map_err(|e| format!("{}: {e}", kinit.display()))?;
    if !said.status.success() {
        return Err(format!(
            "kinit alice: {}{}",
            String::from_utf8_lossy(&said.stdout),
            String::from_utf8_lossy(&said.stderr)
        ));
    }
    let csr =
        adcs_proto::encoding::pem("CERTIFICATE REQUEST", &super::request("krb.contoso.test")?);
    let attrs = vec![("CertificateTemplate".to_string(), "WebServer".to_string())];
    per_second(clients, seconds, |i| {
        let ccache = dir.path().join(format!("ccache-{i}"));
        std::fs::copy(&signed_in, &ccache).map_err(|e| format!("{}: {e}", ccache.display()))?;
        let endpoint = CaEndpoint {
            url: server.certsrv_url(),
            trust: Trust::AnyCertificate,
            credentials: Credentials::Kerberos {
                account: None,
                ccache: Some(ccache),
                krb5_conf: Some(realm.kdc.krb5_conf.clone()),
            },
            timeout: TIMEOUT,
        };
        let (csr, attrs) = (&csr, &attrs);
        Ok(move || {
            let mut web = endpoint.connect().map_err(|e| e.to_string())?;
            issued(web.submit(csr, attrs).map_err(|e| e.to_string())?)
        })
    })
}

/// What `certipy find` and `ca-info` start with: a connection, an NTLM
/// bind and the template search.
fn ldap(server: &Server, clients: usize, seconds: f64) -> Result<f64, String> {
    let (plain, _) = server.ldap_addrs().ok_or("no directory")?;
    let url = format!("ldap://{plain}");
    per_second(clients, seconds, |_| {
        Ok(|| {
            let mut c =
                adcs_client::ldap::Connection::connect(&url, &Trust::AnyCertificate, TIMEOUT)
                    .map_err(|e| e.to_string())?;
            c.bind(&adcs_client::ldap::Bind::Ntlm {
                user: USER.into(),
                password: mock_ca::web::directory::DEFAULT_USER_PASSWORD.into(),
            })
            .map_err(|e| e.to_string())?;
            let found = adcs_client::ldap::templates(&mut c, USER).map_err(|e| e.to_string())?;
            if found.is_empty() {
                return Err("the template search found nothing".into());
            }
            c.unbind();
            Ok(())
        })
    })
}

/// The section: one row per protocol with `clients` threads for `seconds`,
/// each after a signing measurement of half that.
pub(super) fn section(
    clients: usize,
    seconds: f64,
    progress: &mut dyn FnMut(&str),
) -> Result<String, String> {
    let kdc = !cfg!(windows) && Path::new("/usr/sbin/krb5kdc").exists();
    let kinit = super::on_path("kinit").filter(|_| kdc);
    let server = server(kdc)?;
    let server = &server;
    let mut out = format!(
        "\n## Every protocol\n\nIssuance through each way a client reaches the CA besides the pages, and the directory's bind and template search, with {clients} client threads, each row after the machine's signing rate measured just before it (as above). Target for the issuing rows: 60% of the signing rate or more.\n\n| protocol | per request | per second | signatures/s just before | of the signing rate |\n| --- | --- | ---: | ---: | ---: |\n"
    );
    type Measure<'a> = Box<dyn Fn() -> Result<f64, String> + 'a>;
    let rows: Vec<(&str, &str, bool, Option<Measure>)> = vec![
        (
            "ICPR over RPC",
            "connection, NTLM bind, sealed CertServerRequest",
            true,
            Some(Box::new(|| icpr(server, clients, seconds))),
        ),
        (
            "SCEP PKCSReq, AES-128",
            "signed and enveloped request and reply",
            true,
            Some(Box::new(|| scep(server, Cipher::Aes128, clients, seconds))),
        ),
        (
            "SCEP PKCSReq, 3DES",
            "signed and enveloped request and reply",
            true,
            Some(Box::new(|| {
                scep(server, Cipher::TripleDes, clients, seconds)
            })),
        ),
        (
            "Kerberos sign-in and submit",
            "AS and TGS exchanges, connection, Negotiate, certfnsh.asp",
            true,
            kdc.then(|| Box::new(|| kerberos(server, clients, seconds)) as Measure),
        ),
        (
            "Kerberos submit with a kept ticket",
            "connection, Negotiate from the ticket cache, certfnsh.asp",
            true,
            kinit
                .as_deref()
                .map(|k| Box::new(move || kerberos_kept(server, k, clients, seconds)) as Measure),
        ),
        (
            "LDAP bind and template search",
            "connection, NTLM bind, the templates and their rights",
            false,
            Some(Box::new(|| ldap(server, clients, seconds))),
        ),
    ];
    for (name, what, issues, measure) in rows {
        progress(&format!("protocol {name}"));
        let Some(measure) = measure else {
            out.push_str(&format!(
                "| {name} | {what} | not measured: no krb5-kdc or no kinit here | | |\n"
            ));
            continue;
        };
        let sign = super::signing_rate(seconds / 2.0)?;
        let rate = measure().map_err(|e| format!("{name}: {e}"))?;
        let share = if issues {
            format!("{:.0}%", 100.0 * rate / sign)
        } else {
            "(no signature)".into()
        };
        out.push_str(&format!(
            "| {name} | {what} | {rate:.0} | {sign:.0} | {share} |\n"
        ));
    }
    Ok(out)
}
