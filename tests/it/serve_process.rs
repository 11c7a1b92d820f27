//! `serve` as a process, from the security review: it binds loopback
//! unless told otherwise and warns when it does not, and no password, PFX
//! password or private key reaches its log or its journals.

use std::time::Duration;

use adcs_client::http::{Credentials, HttpResponse, Session, Trust};
use adcs_proto::protocol::{endpoint, portal};
use base64::Engine;
use mock_ca::testing::{csr_pem, form_body};
use mock_ca::web::WebOptions;
use mock_ca::KeyAlgorithm;

fn basic((user, password): (&str, &str)) -> Credentials {
    Credentials::Basic {
        user: user.into(),
        password: password.into(),
    }
}

fn send(sess: &mut Session, method: &str, path: &str, body: &[u8]) -> HttpResponse {
    let ct = (method == "POST").then_some("application/x-www-form-urlencoded");
    sess.request(method, path, ct, body).unwrap()
}

#[test]
fn binds_loopback_by_default_and_warns_when_it_does_not() {
    assert!(WebOptions::default().listen.ip().is_loopback());
    let exe = env!("CARGO_BIN_EXE_adcs-harness");
    let run = |extra: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready.json");
        let mut child = std::process::Command::new(exe)
            .args(["serve", "--http", "--ready-file"])
            .arg(&ready)
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while !ready.exists() && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let info: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&ready).unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        (
            info["host"].as_str().unwrap().to_string(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (host, stderr) = run(&[]);
    assert_eq!(host, "127.0.0.1");
    assert!(!stderr.contains("warning"), "{stderr}");
    let (host, stderr) = run(&["--listen", "0.0.0.0:0"]);
    assert_eq!(host, "0.0.0.0");
    assert!(
        stderr.contains("warning: listening on 0.0.0.0:") && stderr.contains("not loopback"),
        "{stderr}"
    );
}

#[test]
fn no_secret_reaches_the_log_or_the_journals() {
    const CAROL_PW: &str = "Carol-Secret-7781";
    const BOSS_PW: &str = "Boss-Secret-4410";
    const WRONG_PW: &str = "Guessed-Secret-2291";
    const PFX_PW: &str = "Pfx-Secret-5523";
    let exe = env!("CARGO_BIN_EXE_adcs-harness");
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    let state = dir.path().join("state");
    let log = dir.path().join("log");
    let mut child = std::process::Command::new(exe)
        .args(["serve", "--http", "--ready-file"])
        .arg(&ready)
        .arg("--state-dir")
        .arg(&state)
        .args(["--user", &format!("CONTOSO\\carol:{CAROL_PW}")])
        .args(["--admin", &format!("CONTOSO\\boss:{BOSS_PW}")])
        .stdout(std::fs::File::create(log.with_extension("out")).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !ready.exists() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let info: serde_json::Value = serde_json::from_slice(&std::fs::read(&ready).unwrap()).unwrap();
    let certsrv = info["certsrv_url"].as_str().unwrap().to_string();
    let control = info["control_url"].as_str().unwrap().to_string();
    let carol = ("CONTOSO\\carol", CAROL_PW);
    let result = std::panic::catch_unwind(|| {
        let mut pfx_key = Vec::new();
        for creds in [
            basic(carol),
            Credentials::Ntlm {
                user: carol.0.into(),
                password: CAROL_PW.into(),
                negotiate_label: true,
            },
        ] {
            let mut sess = Session::new(&certsrv, Trust::AnyCertificate, creds).unwrap();
            assert_eq!(sess.request("GET", "", None, b"").unwrap().status, 200);
            let csr = csr_pem("www.contoso.test", KeyAlgorithm::Rsa2048);
            let r = send(
                &mut sess,
                "POST",
                endpoint::SUBMIT,
                &form_body(&[
                    ("Mode", "newreq"),
                    ("CertRequest", &csr),
                    ("CertAttrib", "CertificateTemplate:WebServer"),
                ]),
            );
            assert!(r.text().contains("Certificate Issued"));
            let r = send(
                &mut sess,
                "POST",
                endpoint::CREATE_REQUEST,
                &form_body(&[
                    (portal::TEMPLATE, "WebServer"),
                    ("CN", "portal.contoso.test"),
                    (portal::PASSWORD, PFX_PW),
                ]),
            );
            assert_eq!(r.header("Content-Type"), Some("application/x-pkcs12"));
            let pfx = adcs_client::store::read_pfx(&r.body, PFX_PW).unwrap();
            pfx_key = pfx.key.pkcs8_der().to_vec();
        }
        for creds in [
            basic(("CONTOSO\\carol", WRONG_PW)),
            basic(("CONTOSO\\boss", WRONG_PW)),
        ] {
            let mut sess = Session::new(&certsrv, Trust::AnyCertificate, creds).unwrap();
            assert_eq!(sess.request("GET", "", None, b"").unwrap().status, 401);
        }
        let mut admin = Session::new(
            &control,
            Trust::AnyCertificate,
            basic(("CONTOSO\\boss", BOSS_PW)),
        )
        .unwrap();
        let journal = admin.request("GET", "journal", None, b"").unwrap();
        assert_eq!(journal.status, 200);
        let entries: serde_json::Value = serde_json::from_slice(&journal.body).unwrap();
        assert!(entries.as_array().unwrap().len() >= 8, "{entries}");
        (journal.text(), pfx_key)
    });
    let _ = child.kill();
    let _ = child.wait();
    let (http_journal, pfx_key) = result.unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let key_b64 = b64.encode(&pfx_key);
    let mut places = vec![
        (
            "stdout".to_string(),
            std::fs::read_to_string(log.with_extension("out")).unwrap(),
        ),
        (
            "stderr".to_string(),
            std::fs::read_to_string(log.with_extension("err")).unwrap(),
        ),
        ("HTTP journal".to_string(), http_journal),
    ];
    for e in std::fs::read_dir(&state).unwrap() {
        let p = e.unwrap().path();
        // The request table and its WAL: SQLite keeps text as it is.
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("ca.db") {
            places.push((
                p.display().to_string(),
                String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned(),
            ));
        }
    }
    assert!(places.len() >= 4, "the request table is there: {places:?}");
    assert!(
        places[3..]
            .iter()
            .any(|(_, t)| t.contains("CONTOSO\\carol")),
        "the table holds carol's requests in plain text, so a secret would show"
    );
    assert!(places[0].1.contains("carol") && places[0].1.contains("password as configured"));
    for (place, text) in &places {
        for secret in [CAROL_PW, BOSS_PW, WRONG_PW, PFX_PW] {
            assert!(!text.contains(secret), "{place} holds the secret {secret}");
        }
        for encoded in [
            b64.encode(format!("CONTOSO\\carol:{CAROL_PW}")),
            key_b64[..64].to_string(),
        ] {
            assert!(!text.contains(&encoded), "{place} holds {encoded}");
        }
        assert!(!text.contains("PRIVATE KEY"), "{place} holds a private key");
    }
    // Debug forms of accounts and credentials leave the password out.
    let user = mock_ca::web::directory::User::parse(&format!("CONTOSO\\carol:{CAROL_PW}")).unwrap();
    assert!(!format!("{user:?}").contains(CAROL_PW));
    assert!(!format!("{:?}", basic(carol)).contains(CAROL_PW));
}
