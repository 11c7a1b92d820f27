//! The MIT KDC component: a realm made in a temporary folder, a user who
//! gets a ticket with the right password and not with a wrong one, a
//! service ticket for the site's HTTP principal, its keytab, and no KDC
//! left behind once the handle is dropped.

use std::path::Path;
use std::process::{Command, Stdio};

use mock_ca::kdc::{Kdc, KdcError, KdcOptions};

fn options(dir: &Path) -> KdcOptions {
    KdcOptions {
        realm: "CONTOSO.TEST".into(),
        dir: dir.to_path_buf(),
        port: None,
        listen: std::net::IpAddr::from([127, 0, 0, 1]),
        users: vec![("alice".into(), "Alice-Passw0rd".into())],
        service_hosts: vec!["localhost".into(), "ca01.contoso.test".into()],
        principals: vec![
            "ldap/dc01.contoso.test".into(),
            "HOST/dc01.contoso.test".into(),
        ],
        clockskew: 300,
    }
}

/// Runs a krb5 client program with the realm's krb5.conf and a private cache.
fn client(kdc: &Kdc, program: &str, args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    let cache = kdc.dir().join("ccache");
    let mut child = Command::new(program)
        .args(args)
        .env("KRB5_CONFIG", &kdc.krb5_conf)
        .env("KRB5CCNAME", format!("FILE:{}", cache.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
    (out.status.success(), text)
}

#[test]
fn a_realm_gives_tickets_for_the_right_password_only() {
    if cfg!(windows) {
        let dir = tempfile::tempdir().unwrap();
        let e = Kdc::start(&options(dir.path())).unwrap_err();
        assert!(matches!(e, KdcError::Unsupported), "{e}");
        return;
    }
    let kinit_present = Path::new("/usr/bin/kinit").exists();
    let dir = tempfile::tempdir().unwrap();
    let kdc = match Kdc::start(&options(dir.path())) {
        Err(KdcError::Missing { program }) => {
            println!("SKIPPED: {program} is not installed (Debian krb5-kdc, krb5-admin-server)");
            return;
        }
        other => other.unwrap(),
    };
    assert_eq!(
        kdc.service_principals,
        [
            "HTTP/localhost",
            "HTTP/ca01.contoso.test",
            "ldap/dc01.contoso.test",
            "HOST/dc01.contoso.test"
        ]
    );
    let conf = std::fs::read_to_string(&kdc.krb5_conf).unwrap();
    assert!(conf.contains("rdns = false") && conf.contains(&format!("kdc = {}", kdc.addr)));
    if !kinit_present {
        println!("SKIPPED: the ticket checks need kinit (Debian krb5-user)");
        return;
    }
    let (ok, said) = client(&kdc, "kinit", &["alice@CONTOSO.TEST"], "Not-The-Passw0rd\n");
    assert!(!ok && said.contains("Password incorrect"), "{said}");
    let (ok, said) = client(&kdc, "kinit", &["alice@CONTOSO.TEST"], "Alice-Passw0rd\n");
    assert!(ok, "{said}");
    // As AD, without regard to case (Certipy asks for ALICE).
    let (ok, said) = client(&kdc, "kinit", &["ALICE@CONTOSO.TEST"], "Alice-Passw0rd\n");
    assert!(ok, "{said}");
    let (ok, said) = client(&kdc, "kinit", &["alice@CONTOSO.TEST"], "Alice-Passw0rd\n");
    assert!(ok, "{said}");
    let (ok, said) = client(&kdc, "kvno", &["HTTP/ca01.contoso.test"], "");
    assert!(ok && said.contains("kvno"), "{said}");
    for spn in ["ldap/dc01.contoso.test", "HOST/dc01.contoso.test"] {
        let (ok, said) = client(&kdc, "kvno", &[spn], "");
        assert!(ok && said.contains("kvno"), "{spn}: {said}");
    }
    let keytab = kdc.keytab.display().to_string();
    let (ok, said) = client(&kdc, "klist", &["-k", &keytab], "");
    assert!(ok && said.contains("HTTP/localhost@CONTOSO.TEST"), "{said}");
    let addr = kdc.addr;
    drop(kdc);
    assert!(
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(300)).is_err(),
        "the KDC still answers after the handle was dropped"
    );
}

/// In a container `serve` listens on every address, and so does the KDC,
/// so that a published port reaches it; clients on the machine find it on
/// loopback.
#[test]
fn a_kdc_on_every_address_is_found_on_loopback() {
    if cfg!(windows) || !Path::new("/usr/bin/kinit").exists() {
        println!("SKIPPED: needs Linux and kinit (Debian krb5-user)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let opts = KdcOptions {
        listen: std::net::IpAddr::from([0, 0, 0, 0]),
        ..options(dir.path())
    };
    let kdc = match Kdc::start(&opts) {
        Err(KdcError::Missing { program }) => {
            println!("SKIPPED: {program} is not installed (Debian krb5-kdc, krb5-admin-server)");
            return;
        }
        other => other.unwrap(),
    };
    assert!(kdc.addr.ip().is_loopback(), "{}", kdc.addr);
    let kdc_conf = std::fs::read_to_string(dir.path().join("kdc.conf")).unwrap();
    let port = kdc.addr.port();
    assert!(
        kdc_conf.contains(&format!("kdc_tcp_listen = {port}\n")),
        "{kdc_conf}"
    );
    let (ok, said) = client(&kdc, "kinit", &["alice@CONTOSO.TEST"], "Alice-Passw0rd\n");
    assert!(ok, "{said}");
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let opts = KdcOptions {
        port: Some(port),
        ..options(dir.path())
    };
    let e = Kdc::start(&opts).unwrap_err().to_string();
    if cfg!(windows) {
        assert!(e.contains("runs on Linux"), "{e}");
    } else {
        assert!(
            e.contains(&format!("127.0.0.1:{port}")) && e.contains("kdc_port"),
            "{e}"
        );
    }
}
