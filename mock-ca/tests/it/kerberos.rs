//! Kerberos under `Negotiate` against the site's real MIT KDC, with
//! clients nobody here wrote: kinit for the ticket, curl --negotiate for
//! the page. The server must name the user in the journal as `kerberos`,
//! prove itself in its final `WWW-Authenticate`, and refuse a ticket for a
//! service that is not its own.

use std::path::Path;
use std::process::{Command, Stdio};

use mock_ca::kerberos::KerberosConfig;
use mock_ca::web::{Server, WebOptions};
use mock_ca::CaConfig;

/// A site with a realm, or `None` (and SKIPPED) when the tools are missing.
fn site() -> Option<Server> {
    let missing = ["/usr/bin/kinit", "/usr/bin/curl"]
        .into_iter()
        .find(|p| !Path::new(p).exists());
    if let Some(p) = missing {
        println!("SKIPPED: {p} is not installed (Debian krb5-user, curl)");
        return None;
    }
    let opts = WebOptions {
        kerberos: Some(KerberosConfig::default()),
        ..WebOptions::default()
    };
    let ca = mock_ca::ca::Ca::new(
        CaConfig::default(),
        mock_ca::Seed(7),
        mock_ca::Clock::frozen_at(support::T0),
    )
    .unwrap();
    match Server::start(
        std::sync::Arc::new(ca),
        WebOptions {
            users: support::users(),
            ..opts
        },
    ) {
        Err(e) if e.to_string().contains("is not installed") => {
            println!("SKIPPED: {e}");
            None
        }
        other => Some(other.unwrap()),
    }
}

use super::support;

/// Runs a Kerberos client program in the realm with a private ticket cache.
fn krb(s: &Server, program: &str, args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    let k = s.kerberos().unwrap();
    let mut child = Command::new(program)
        .args(args)
        .env("KRB5_CONFIG", &k.kdc.krb5_conf)
        .env("KRB5_KDC_PROFILE", k.kdc.dir().join("kdc.conf"))
        .env(
            "KRB5CCNAME",
            format!("FILE:{}", k.kdc.dir().join("cc").display()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
    (out.status.success(), text)
}

/// `curl --negotiate` to `url`: the status line and the response headers.
fn curl(s: &Server, url: &str, extra: &[&str]) -> String {
    let root = s.kerberos().unwrap().kdc.dir().join("root.pem");
    let pem = adcs_proto::encoding::pem("CERTIFICATE", &s.ca().root_certificate());
    std::fs::write(&root, pem).unwrap();
    let root = root.display().to_string();
    let mut args = vec!["-s", "-o", "/dev/null", "-D", "-", "--negotiate", "-u", ":"];
    args.extend(["--cacert", &root]);
    args.extend(extra);
    args.push(url);
    krb(s, "curl", &args, "").1
}

#[test]
fn curl_with_a_ticket_signs_in_with_kerberos_and_the_server_proves_itself() {
    let Some(s) = site() else { return };
    let k = s.kerberos().unwrap();
    assert_eq!(k.kdc.realm, "CONTOSO.TEST");
    assert!(k
        .user_principals
        .contains(&"alice@CONTOSO.TEST".to_string()));
    let (ok, said) = krb(&s, "kinit", &["alice@CONTOSO.TEST"], "not-her-password\n");
    assert!(!ok, "kinit took a wrong password: {said}");
    let (ok, said) = krb(
        &s,
        "kinit",
        &["alice@CONTOSO.TEST"],
        &format!("{}\n", support::ALICE.1),
    );
    assert!(ok, "{said}");
    for host in ["127.0.0.1", "localhost"] {
        let url = format!("https://{host}:{}/certsrv/", s.addr().port());
        let said = curl(&s, &url, &[]);
        assert!(said.starts_with("HTTP/1.1 200"), "{host}: {said}");
        assert!(
            said.to_ascii_lowercase()
                .contains("www-authenticate: negotiate "),
            "no mutual-authentication token: {said}"
        );
    }
    let journal = s.journal();
    let signed_in: Vec<_> = journal.iter().filter(|e| e.status == 200).collect();
    assert_eq!(signed_in.len(), 2, "{journal:?}");
    for e in signed_in {
        assert_eq!(e.user.as_deref(), Some("CONTOSO\\alice"));
        assert_eq!(e.auth.as_deref(), Some("kerberos"));
    }
}

#[test]
fn a_ticket_for_another_service_is_refused() {
    let Some(s) = site() else { return };
    // A service of the realm that is not this site: its key is not in our keytab.
    let (ok, said) = krb(
        &s,
        "kadmin.local",
        &[
            "-r",
            "CONTOSO.TEST",
            "-q",
            "addprinc -randkey HTTP/other.contoso.test",
        ],
        "",
    );
    assert!(ok, "{said}");
    let (ok, said) = krb(&s, "kinit", &["alice"], &format!("{}\n", support::ALICE.1));
    assert!(ok, "{said}");
    let port = s.addr().port();
    let resolve = format!("other.contoso.test:{port}:127.0.0.1");
    let url = format!("https://other.contoso.test:{port}/certsrv/");
    let said = curl(&s, &url, &["--resolve", &resolve, "-k"]);
    assert!(said.starts_with("HTTP/1.1 401"), "{said}");
    let (ok, said) = krb(&s, "klist", &[], "");
    assert!(
        ok && said.contains("HTTP/other.contoso.test@CONTOSO.TEST"),
        "curl sent no ticket for the other service: {said}"
    );
    let journal = s.journal();
    assert!(journal.iter().all(|e| e.user.is_none()));
    // The journal says why, as IIS's log keeps a 401's substatus.
    assert!(
        journal
            .iter()
            .any(|e| e.detail.as_deref().is_some_and(|d| d.starts_with("Kerberos"))),
        "{journal:?}"
    );
}
