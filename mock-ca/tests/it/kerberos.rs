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

/// A site with a realm (its clock skew given, or AD's default), or `None`
/// (and SKIPPED) when the tools are missing.
fn site(max_skew_seconds: Option<u32>) -> Option<Server> {
    if cfg!(windows) {
        println!("SKIPPED: the MIT KDC runs on Linux");
        return None;
    }
    let missing = ["/usr/bin/kinit", "/usr/bin/curl"]
        .into_iter()
        .find(|p| !Path::new(p).exists());
    if let Some(p) = missing {
        println!("SKIPPED: {p} is not installed (Debian krb5-user, curl)");
        return None;
    }
    let opts = WebOptions {
        kerberos: Some(KerberosConfig {
            max_skew_seconds,
            ..KerberosConfig::default()
        }),
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
    let Some(s) = site(None) else { return };
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
    let Some(s) = site(None) else { return };
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
        journal.iter().any(|e| e
            .detail
            .as_deref()
            .is_some_and(|d| d.starts_with("Kerberos"))),
        "{journal:?}"
    );
}

#[test]
fn a_server_clock_moved_past_the_skew_refuses_tickets() {
    let Some(s) = site(None) else { return };
    let (ok, said) = krb(&s, "kinit", &["alice"], &format!("{}\n", support::ALICE.1));
    assert!(ok, "{said}");
    let url = format!("https://127.0.0.1:{}/certsrv/", s.addr().port());
    assert!(curl(&s, &url, &[]).starts_with("HTTP/1.1 200"));
    // An hour ahead: too far from the KDC's and the client's clocks.
    s.ca().clock().advance(3_600);
    assert!(curl(&s, &url, &[]).starts_with("HTTP/1.1 401"));
    let detail = s.journal().last().and_then(|e| e.detail.clone());
    assert!(
        detail
            .as_deref()
            .is_some_and(|d| d.contains("KRB_AP_ERR_SKEW")),
        "{detail:?}"
    );
    // Within the skew, as on a domain whose clocks agree.
    s.ca().clock().advance(-3_500);
    assert!(curl(&s, &url, &[]).starts_with("HTTP/1.1 200"));
}

/// The `Authorization` curl sends to a stand-in on loopback that asks for
/// Negotiate: a fresh token that no server has seen.
fn captured_token(s: &Server) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/",
        listener.local_addr().unwrap().port()
    );
    let taker = std::thread::spawn(move || {
        for _ in 0..2 {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut auth = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.strip_prefix("Authorization: ") {
                    auth = Some(v.trim().to_string());
                }
            }
            if auth.is_some() {
                return auth;
            }
            let mut w = stream;
            w.write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
        }
        None
    });
    curl(s, &url, &["--max-time", "5"]);
    taker.join().unwrap().expect("curl sent no Negotiate token")
}

#[test]
fn an_expired_ticket_is_refused() {
    // A realm with a one-second skew, so a two-second ticket is soon past it.
    let Some(s) = site(Some(1)) else { return };
    let (ok, said) = krb(
        &s,
        "kinit",
        &["-l", "2s", "alice"],
        &format!("{}\n", support::ALICE.1),
    );
    assert!(ok, "{said}");
    let url = format!("https://127.0.0.1:{}/certsrv/", s.addr().port());
    assert!(curl(&s, &url, &[]).starts_with("HTTP/1.1 200"));
    // MIT's clients do not send an expired ticket, so the token is taken
    // while the ticket is good and sent once it is not.
    let token = captured_token(&s);
    std::thread::sleep(std::time::Duration::from_millis(3_500));
    let header = format!("Authorization: {token}");
    let args = [
        "-s",
        "-o",
        "/dev/null",
        "-D",
        "-",
        "-k",
        "-H",
        &header,
        &url,
    ];
    let said = krb(&s, "curl", &args, "").1;
    assert!(said.starts_with("HTTP/1.1 401"), "{said}");
    let detail = s.journal().last().and_then(|e| e.detail.clone());
    assert!(
        detail
            .as_deref()
            .is_some_and(|d| d.contains("expired") || d.contains("skew")),
        "{detail:?}"
    );
}

/// Two realms in one process, three clients each, signing in and
/// submitting at once: every submission is issued to alice through
/// Kerberos, each client asking its own realm's KDC (the realms share a
/// name, so a client given the other's krb5.conf gets a ticket the server
/// cannot read). One client uses kinit's ticket cache file instead of the
/// password. The process's `KRB5_CONFIG` is as it was after.
#[test]
fn clients_of_two_realms_sign_in_at_once_in_one_process() {
    use adcs_client::certsrv::Outcome;
    use adcs_client::flow::CaEndpoint;
    use adcs_client::http::{Credentials, Trust};
    let Some(a) = site(None) else { return };
    let Some(b) = site(None) else { return };
    let before = std::env::var_os("KRB5_CONFIG");
    let (ok, said) = krb(
        &a,
        "kinit",
        &["alice@CONTOSO.TEST"],
        &format!("{}\n", support::ALICE.1),
    );
    assert!(ok, "{said}");
    let cache = a.kerberos().unwrap().kdc.dir().join("cc");
    let csr = adcs_proto::encoding::pem(
        "CERTIFICATE REQUEST",
        &support::request(&support::Req::default()),
    );
    let attributes = support::template_attr("WebServer");
    let results: Vec<Result<usize, String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = [&a, &b, &a, &b, &a, &b]
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let (cache, csr, attributes) = (&cache, &csr, &attributes);
                scope.spawn(move || {
                    let krb5_conf = Some(s.kerberos().unwrap().kdc.krb5_conf.clone());
                    let credentials = if i == 0 {
                        Credentials::Kerberos {
                            account: None,
                            ccache: Some(cache.clone()),
                            krb5_conf,
                        }
                    } else {
                        Credentials::Kerberos {
                            account: Some(("alice".into(), support::ALICE.1.into())),
                            ccache: None,
                            krb5_conf,
                        }
                    };
                    let endpoint = CaEndpoint {
                        url: s.certsrv_url(),
                        trust: Trust::Roots(vec![s.ca().root_certificate()]),
                        credentials,
                        timeout: std::time::Duration::from_secs(120),
                    };
                    for round in 0..3 {
                        let mut web = endpoint
                            .connect()
                            .map_err(|e| format!("client {i}, round {round}: {e}"))?;
                        match web.submit(csr, attributes) {
                            Ok(Outcome::Issued { .. }) => {}
                            other => return Err(format!("client {i}, round {round}: {other:?}")),
                        }
                    }
                    Ok(3)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for r in &results {
        assert_eq!(r, &Ok(3));
    }
    for s in [&a, &b] {
        let by_kerberos = s
            .journal()
            .iter()
            .filter(|e| e.status == 200 && e.auth.as_deref() == Some("kerberos"))
            .filter(|e| e.user.as_deref() == Some("CONTOSO\\alice"))
            .count();
        assert!(by_kerberos >= 9, "{by_kerberos} Kerberos answers");
    }
    assert_eq!(std::env::var_os("KRB5_CONFIG"), before);
}
