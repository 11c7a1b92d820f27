//! Kerberos end to end: `serve --kerberos` as a process (its ready file,
//! and no KDC left once it is killed), and the CLI's `--auth negotiate`
//! getting a ticket with a password or from kinit's cache, proving the
//! TLS channel, and falling back to NTLM off the realm.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mock_ca::kerberos::KerberosConfig;
use mock_ca::web::{Server, WebOptions};
use mock_ca::CaConfig;

/// Whether this machine can run a realm; prints SKIPPED when it cannot.
fn realm_tools() -> bool {
    let missing = ["/usr/sbin/krb5kdc", "/usr/bin/kinit"]
        .into_iter()
        .find(|p| !Path::new(p).exists());
    if cfg!(windows) || missing.is_some() {
        println!("SKIPPED: needs Linux with krb5-kdc and krb5-user ({missing:?} missing)");
        return false;
    }
    true
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn serve_kerberos_lists_the_realm_and_leaves_no_kdc_when_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let ready = tmp.path().join("ready.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_adcs-harness"))
        .args(["serve", "--http", "--kerberos", "--ready-file"])
        .arg(&ready)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if !realm_tools() {
        let out = child.wait_with_output().unwrap();
        assert!(
            !out.status.success(),
            "serve --kerberos started without a KDC"
        );
        assert!(
            text(&out).contains("krb5") || text(&out).contains("Linux"),
            "{}",
            text(&out)
        );
        return;
    }
    let start = Instant::now();
    while !ready.exists() {
        assert!(child.try_wait().unwrap().is_none(), "serve exited early");
        assert!(start.elapsed() < Duration::from_secs(30), "no ready file");
        std::thread::sleep(Duration::from_millis(10));
    }
    let info: adcs_proto::ready::ReadyInfo =
        serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
    let k = info.kerberos.expect("a kerberos object in the ready file");
    assert_eq!(k.realm, "CONTOSO.TEST");
    assert_eq!(k.service_principal, "HTTP/ca01.contoso.test@CONTOSO.TEST");
    assert!(
        k.users.contains(&"alice@CONTOSO.TEST".to_string()),
        "{:?}",
        k.users
    );
    assert!(std::fs::read_to_string(&k.krb5_conf)
        .unwrap()
        .contains(&k.kdc));
    // Beside the ready file, where a container's volume shows it.
    assert!(
        Path::new(&k.krb5_conf).starts_with(ready.parent().unwrap()),
        "{} is not beside {}",
        k.krb5_conf,
        ready.display()
    );
    let kdc: std::net::SocketAddr = k.kdc.parse().unwrap();
    assert!(std::net::TcpStream::connect_timeout(&kdc, Duration::from_secs(1)).is_ok());
    // Killed outright, it runs no destructor: the KDC must still go.
    child.kill().unwrap();
    child.wait().unwrap();
    let gone = Instant::now();
    while std::net::TcpStream::connect_timeout(&kdc, Duration::from_millis(200)).is_ok() {
        assert!(
            gone.elapsed() < Duration::from_secs(30),
            "the KDC outlived serve"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An HTTPS site with a realm that requires channel bindings.
fn site(dir: &Path) -> (Server, String) {
    let s = mock_ca::testing::start_with(
        CaConfig::default(),
        WebOptions {
            kerberos: Some(KerberosConfig::default()),
            channel_binding: adcs_proto::ntlm::ChannelBindingPolicy::Require,
            ..WebOptions::default()
        },
    );
    let root = dir.join("root.pem");
    let pem = adcs_proto::encoding::pem("CERTIFICATE", &s.ca().root_certificate());
    std::fs::write(&root, pem).unwrap();
    (s, root.display().to_string())
}

/// `ca-cert download` as alice (or from the cache without `user`), in the
/// realm when `krb5_conf` is given; returns the CLI's output.
fn download(
    s: &Server,
    root: &str,
    dir: &Path,
    krb5_conf: Option<&Path>,
    user: Option<&str>,
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_adcs-harness"));
    cmd.args([
        "ca-cert",
        "download",
        "--auth",
        "negotiate",
        "--ca-file",
        root,
    ])
    .arg("--server")
    .arg(s.certsrv_url())
    .arg("--store")
    .arg(dir.join("store"))
    .arg(dir.join("ca.cer"))
    .env_remove("KRB5_CONFIG")
    .env_remove("KRB5CCNAME")
    .env_remove("ADCS_HARNESS_PASSWORD");
    if let Some(conf) = krb5_conf {
        cmd.env("KRB5_CONFIG", conf)
            .env("KRB5CCNAME", format!("FILE:{}", dir.join("cc").display()));
    }
    if let Some(u) = user {
        cmd.args(["--user", u, "--password", mock_ca::testing::ALICE.1]);
    }
    cmd.output().unwrap()
}

/// How alice signed in on the last request that proved who she is.
fn last_sign_in(s: &Server) -> Option<String> {
    s.journal()
        .into_iter()
        .rev()
        .find(|e| e.status == 200 && e.auth.as_deref() != Some("connection"))
        .and_then(|e| {
            assert_eq!(e.user.as_deref(), Some("CONTOSO\\alice"));
            e.auth
        })
}

#[test]
fn the_client_negotiates_kerberos_in_the_realm_and_ntlm_off_it() {
    if !realm_tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (s, root) = site(tmp.path());
    let conf = s.kerberos().unwrap().kdc.krb5_conf.clone();

    // A password in the realm: a ticket from the KDC, the channel bound.
    let o = download(&s, &root, tmp.path(), Some(&conf), Some("CONTOSO\\alice"));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(last_sign_in(&s).as_deref(), Some("kerberos"));

    // Off the realm: NTLM under Negotiate, as Windows off the domain.
    let o = download(&s, &root, tmp.path(), None, Some("alice@contoso.test"));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(last_sign_in(&s).as_deref(), Some("negotiate"));

    // No user and no ticket: a clear refusal, nothing written.
    std::fs::remove_file(tmp.path().join("ca.cer")).unwrap();
    let o = download(&s, &root, tmp.path(), Some(&conf), None);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("no usable ticket in the cache"),
        "{}",
        text(&o)
    );
    assert!(!tmp.path().join("ca.cer").exists());

    // After kinit, the ticket cache alone.
    let mut kinit = Command::new("kinit")
        .arg("alice@CONTOSO.TEST")
        .env("KRB5_CONFIG", &conf)
        .env(
            "KRB5CCNAME",
            format!("FILE:{}", tmp.path().join("cc").display()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(kinit.stdin.take().unwrap(), "{}", mock_ca::testing::ALICE.1).unwrap();
    assert!(kinit.wait().unwrap().success());
    let o = download(&s, &root, tmp.path(), Some(&conf), None);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(last_sign_in(&s).as_deref(), Some("kerberos"));
}
