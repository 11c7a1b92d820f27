//! The `adcs-harness ca` verbs, run as a user would.

use std::path::Path;
use std::process::{Command, Output};

fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_adcs-harness"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn request_file(dir: &Path) -> std::path::PathBuf {
    use mock_ca::keys::SigningKey;
    let key =
        SigningKey::generate(mock_ca::KeyAlgorithm::Rsa2048, &mock_ca::Seed(1), "cli").unwrap();
    let der = adcs_proto::x509::build_request(
        &adcs_proto::names::parse_dn("CN=cli.contoso.test").unwrap(),
        &key,
        vec![],
    )
    .unwrap();
    let p = dir.join("r.req");
    std::fs::write(&p, der).unwrap();
    p
}

#[test]
fn standalone_flow_from_the_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("ca");
    let s = state.to_str().unwrap();
    let o = harness(&[
        "ca",
        "--state-dir",
        s,
        "init",
        "--mode",
        "standalone",
        "--seed",
        "7",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("seed 7"));
    // A second init refuses to overwrite.
    let o = harness(&["ca", "--state-dir", s, "init"]);
    assert!(
        !o.status.success() && text(&o).contains("already exists"),
        "{}",
        text(&o)
    );

    let req = request_file(tmp.path());
    let o = harness(&["ca", "--state-dir", s, "submit", req.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "pending has its own exit code: {}",
        text(&o)
    );
    assert!(text(&o).contains("request 2: pending"), "{}", text(&o));

    let o = harness(&["ca", "--state-dir", s, "list", "--disposition", "pending"]);
    assert!(text(&o).starts_with("2\tpending"), "{}", text(&o));
    let o = harness(&["ca", "--state-dir", s, "issue", "2"]);
    assert!(
        o.status.success() && text(&o).contains("issued"),
        "{}",
        text(&o)
    );
    let o = harness(&["ca", "--state-dir", s, "issue", "2"]);
    assert!(
        !o.status.success() && text(&o).contains("0x80094003"),
        "{}",
        text(&o)
    );
    // The audit view: received, then pending and now issued (4887).
    let o = harness(&["ca", "--state-dir", s, "audit", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    let audit: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(audit["events"], serde_json::json!([4886, 4887]), "{audit}");
    assert_eq!(audit["requested"]["subject"], audit["issued"]["subject"]);
    let o = harness(&["ca", "--state-dir", s, "audit", "99"]);
    assert!(
        !o.status.success() && text(&o).contains("no request 99"),
        "{}",
        text(&o)
    );

    let crl = tmp.path().join("ca.crl");
    let o = harness(&[
        "ca",
        "--state-dir",
        s,
        "crl",
        "--out",
        crl.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::read_to_string(&crl)
        .unwrap()
        .starts_with("-----BEGIN X509 CRL-----\r\n"));
}

#[test]
fn bad_input_names_the_file_and_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("none");
    let o = harness(&["ca", "--state-dir", state.to_str().unwrap(), "list"]);
    assert!(
        !o.status.success() && text(&o).contains("no CA here"),
        "{}",
        text(&o)
    );

    let cfg = tmp.path().join("bad.json");
    std::fs::write(&cfg, "{\n  \"mode\": \"enterprise\",\n  \"nonsense\": 1\n}").unwrap();
    let o = harness(&[
        "ca",
        "--state-dir",
        state.to_str().unwrap(),
        "init",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(
        !o.status.success() && t.contains("bad.json: line 3") && t.contains("nonsense"),
        "{t}"
    );
    assert!(
        !state.join("authority.json").exists(),
        "nothing was created"
    );

    let ok = tmp.path().join("ok");
    assert!(harness(&[
        "ca",
        "--state-dir",
        ok.to_str().unwrap(),
        "init",
        "--seed",
        "1"
    ])
    .status
    .success());
    let junk = tmp.path().join("junk.req");
    std::fs::write(&junk, "hello").unwrap();
    let o = harness(&[
        "ca",
        "--state-dir",
        ok.to_str().unwrap(),
        "submit",
        junk.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains("Error Parsing Request"), "{}", text(&o));
    let o = harness(&[
        "ca",
        "--state-dir",
        ok.to_str().unwrap(),
        "submit",
        "/no/such/file.req",
    ]);
    assert!(
        !o.status.success() && text(&o).contains("/no/such/file.req"),
        "{}",
        text(&o)
    );
}

/// Kills the server when the test ends, passed or not.
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `serve` writes its ready file only once it accepts connections; the
/// ready file's admin approves a stand-alone CA's pending request from the shell.
/// Starts `serve ARGS --ready-file` and waits for the ready file (no fixed sleep).
fn serve(args: &[&str], ready: &Path) -> (Served, adcs_proto::ready::ReadyInfo) {
    serve_with_env(args, &[], ready)
}

fn serve_with_env(
    args: &[&str],
    env: &[(&str, &str)],
    ready: &Path,
) -> (Served, adcs_proto::ready::ReadyInfo) {
    let child = Command::new(env!("CARGO_BIN_EXE_adcs-harness"))
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .arg("--ready-file")
        .arg(ready)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut served = Served(child);
    let start = std::time::Instant::now();
    while !ready.exists() {
        assert!(served.0.try_wait().unwrap().is_none(), "serve exited early");
        assert!(start.elapsed().as_secs() < 30, "no ready file");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let info = serde_json::from_str(&std::fs::read_to_string(ready).unwrap()).unwrap();
    (served, info)
}

/// A container sets serve's switches in its environment, as `1` or `true`.
#[test]
fn serve_takes_its_switches_from_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let quiet = ["--no-rpc", "--no-ldap", "--no-dns", "--no-iis", "--no-smb"];
    for (value, scheme) in [("1", "http"), ("true", "http"), ("0", "https")] {
        let ready = tmp.path().join(format!("ready-{value}.json"));
        let env = [("ADCS_HARNESS_HTTP", value), ("ADCS_HARNESS_SEED", "9")];
        let (_served, info) = serve_with_env(&quiet, &env, &ready);
        assert_eq!((info.scheme.as_str(), info.seed), (scheme, 9), "{value}");
    }
}

/// `podman stop` and `docker stop` send SIGTERM (to PID 1, which has no
/// default action for it): serve stops in order and exits 0.
#[cfg(unix)]
#[test]
fn serve_stops_in_order_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let ready = tmp.path().join("ready.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_adcs-harness"))
        .args([
            "serve",
            "--no-rpc",
            "--no-ldap",
            "--no-dns",
            "--no-iis",
            "--no-smb",
        ])
        .arg("--ready-file")
        .arg(&ready)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let up = mock_ca::serve::wait_ready(
        &ready,
        std::time::Duration::from_secs(600),
        std::time::Duration::from_secs(5),
    );
    assert!(up.is_ok(), "{up:?}");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // A serve that ignored the signal would never end: bounded, then killed.
    let asked = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if asked.elapsed() > std::time::Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("serve ignored SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}: {}", out.status, text(&out));
    assert!(text(&out).contains("SIGTERM: stopping"), "{}", text(&out));
}

#[test]
fn serve_with_no_options_is_https_with_the_default_accounts() {
    let tmp = tempfile::tempdir().unwrap();
    let (_served, info) = serve(&[], &tmp.path().join("ready.json"));
    assert_eq!(
        (info.scheme.as_str(), info.host.as_str(), info.seed),
        ("https", "127.0.0.1", 1)
    );
    assert_eq!(info.admin.user, "CONTOSO\\Administrator");
    assert_eq!(info.users[0].user, "CONTOSO\\alice");
    let root = std::fs::read_to_string(&info.root_cert).unwrap();
    let mut sess = adcs_client::http::Session::new(
        &info.certsrv_url,
        adcs_client::http::Trust::Roots(adcs_proto::encoding::pem_blocks(&root, "CERTIFICATE")),
        adcs_client::http::Credentials::Basic {
            user: info.users[0].user.clone(),
            password: info.users[0].password.clone(),
        },
    )
    .unwrap();
    assert_eq!(sess.request("GET", "", None, b"").unwrap().status, 200);
}

#[test]
fn serve_then_approve_from_the_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let ready = tmp.path().join("ready.json");
    let (_served, info) = serve(
        &[
            "--mode",
            "standalone",
            "--http",
            "--seed",
            "7",
            "--user",
            "CONTOSO\\bob:Bob-Passw0rd",
        ],
        &ready,
    );
    assert_eq!((info.scheme.as_str(), info.users.len()), ("http", 1));
    assert_eq!(info.users[0].user, "CONTOSO\\bob");
    assert!(std::fs::read_to_string(&info.root_cert)
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    // Submit as bob through certsrv.
    let mut sess = adcs_client::http::Session::new(
        &info.certsrv_url,
        adcs_client::http::Trust::AnyCertificate,
        adcs_client::http::Credentials::Ntlm {
            user: "bob@contoso.test".into(),
            password: "Bob-Passw0rd".into(),
            negotiate_label: true,
        },
    )
    .unwrap();
    let req = std::fs::read(request_file(tmp.path())).unwrap();
    let body = format!(
        "Mode=newreq&CertRequest={}&CertAttrib=",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &req)
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D")
    );
    let page = sess
        .request(
            "POST",
            "certfnsh.asp",
            Some("application/x-www-form-urlencoded"),
            body.as_bytes(),
        )
        .unwrap()
        .text();
    assert!(page.contains("Your Request Id is 2."), "{page}");
    let rf = ready.to_str().unwrap();
    let o = harness(&["ca", "--ready-file", rf, "pending"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).starts_with("2\tpending\tCONTOSO\\bob"),
        "{}",
        text(&o)
    );
    let o = harness(&["ca", "--ready-file", rf, "issue", "2"]);
    assert!(text(&o).contains("request 2: issued"), "{}", text(&o));
    let cert = sess
        .request("GET", "certnew.cer?ReqID=2&Enc=bin", None, b"")
        .unwrap();
    assert_eq!(cert.header("Content-Type"), Some("application/pkix-cert"));
    let o = harness(&["ca", "--ready-file", rf, "issue", "2"]);
    assert!(
        !o.status.success() && text(&o).contains("HTTP 409"),
        "{}",
        text(&o)
    );
    let o = harness(&["ca", "--ready-file", rf, "clock", "--advance", "3600"]);
    assert!(
        o.status.success() && text(&o).starts_with("now "),
        "{}",
        text(&o)
    );
    let o = harness(&["ca", "--ready-file", "/no/such/ready.json", "pending"]);
    assert!(
        !o.status.success() && text(&o).contains("ready file /no/such/ready.json"),
        "{}",
        text(&o)
    );
}

#[test]
fn serve_rejects_a_bad_config_with_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("serve.toml");
    std::fs::write(&cfg, "seed = 1\n[auth]\nchannel_binding = 3\n").unwrap();
    let o = harness(&["serve", "--config", cfg.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("serve.toml: line 3, column"),
        "{}",
        text(&o)
    );
    let o = harness(&["serve", "--user", "nocolon"]);
    assert!(
        !o.status.success() && text(&o).contains("--user `nocolon`"),
        "{}",
        text(&o)
    );
}

#[test]
fn req_submit_and_retrieve_over_rpc_from_the_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let ready = tmp.path().join("ready.json");
    let args = ["--mode", "standalone", "--http", "--rpc-epm-port", "0"];
    let (_served, info) = serve(&args, &ready);
    let rpc = info.rpc.as_ref().expect("the ready file's rpc object");
    let epm_port = rpc.epm.rsplit(':').next().unwrap().to_string();
    let req = request_file(tmp.path());
    let cert = tmp.path().join("cert.pem");
    let (user, password) = (&info.users[0].user, &info.users[0].password);
    let rpc_args = |verb: &str| -> Vec<String> {
        [
            "req",
            verb,
            "--server",
            "127.0.0.1",
            "--rpc",
            "--ca-name",
            &info.ca_name,
            "--epm-port",
            &epm_port,
            "--user",
            user,
            "--password",
            password,
        ]
        .map(String::from)
        .to_vec()
    };
    let run = |extra: &[&str], verb: &str| {
        let mut a = rpc_args(verb);
        a.extend(extra.iter().map(|s| s.to_string()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        harness(&a)
    };
    let o = run(&[req.to_str().unwrap()], "submit");
    assert_eq!(o.status.code(), Some(3), "pending: {}", text(&o));
    assert!(text(&o).contains("RequestId: 2"), "{}", text(&o));
    let o = harness(&["ca", "--ready-file", ready.to_str().unwrap(), "issue", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["2", cert.to_str().unwrap()], "retrieve");
    assert!(o.status.success(), "{}", text(&o));
    let pem = std::fs::read_to_string(&cert).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    // Without the CA's name, or at a level the CA does not take: clear errors.
    let o = harness(&[
        "req",
        "submit",
        "--server",
        "127.0.0.1",
        "--rpc",
        "--user",
        user,
        "--password",
        password,
        req.to_str().unwrap(),
    ]);
    assert!(
        !o.status.success() && text(&o).contains("--ca-name"),
        "{}",
        text(&o)
    );
    let o = run(&["--rpc-level", "connect", req.to_str().unwrap()], "submit");
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(text(&o).contains("0x80070005"), "{}", text(&o));
}

#[test]
fn directory_verbs_name_the_bad_flag_before_connecting() {
    for (args, says) in [
        (&["--user", "alice"][..], "--user needs a password"),
        (
            &["--ca-file", "no-such-roots.pem"][..],
            "--ca-file no-such-roots.pem",
        ),
        (&["--timeout", "0"][..], "--timeout 0"),
    ] {
        let mut all = vec!["ca-info", "--ldap", "ldap://127.0.0.1:1"];
        all.extend_from_slice(args);
        let o = harness(&all);
        assert!(!o.status.success(), "{args:?}");
        let t = text(&o);
        assert!(
            t.contains(says) && !t.contains("not an ldap://"),
            "{args:?}: {t}"
        );
    }
    let o = harness(&["req", "templates", "--ldap", "http://dc01"]);
    assert!(
        !o.status.success() && text(&o).contains("http://dc01: not an ldap:// or ldaps:// URL")
    );
}

#[test]
fn serve_answers_smb_on_the_port_its_ready_file_names() {
    use adcs_proto::smb::{frame, frame_len, message::NegotiateResponse, HEADER_LEN};
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let ready = tmp.path().join("ready.json");
    let (_served, info) = serve(&["--http", "--smb-port", "0"], &ready);
    let addr = info.smb.as_ref().expect("the ready file's smb");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .unwrap();
    let mut negotiate = b"\xffSMB\x72".to_vec();
    negotiate.resize(32, 0);
    negotiate.extend([0, 22, 0]);
    negotiate.extend(b"\x02NT LM 0.12\0\x02SMB 2.???\0");
    stream.write_all(&frame(&negotiate)).unwrap();
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).unwrap();
    let mut body = vec![0u8; frame_len(&head).unwrap() - 4];
    stream.read_exact(&mut body).unwrap();
    let answer = NegotiateResponse::parse(&body[HEADER_LEN..]).unwrap();
    assert_eq!(answer.dialect, 0x02ff, "SMB2's wildcard: negotiate again");
    // Off when asked, and a bad lab entry is named.
    let (_off, info) = serve(&["--http", "--no-smb"], &tmp.path().join("off.json"));
    assert_eq!(info.smb, None);
    let o = harness(&["serve", "--vulnerable", "esc1,esc99"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("`esc99` is not one of"), "{}", text(&o));
}

#[test]
fn ready_says_whether_the_server_behind_a_ready_file_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let ready = tmp.path().join("ready.json");
    let missing = tmp.path().join("nothing.json");
    let o = harness(&["ready", missing.to_str().unwrap()]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("nothing.json"), "{}", text(&o));
    let (served, info) = serve(&["--http"], &ready);
    let o = harness(&["ready", ready.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(":{}", info.port)),
        "{}",
        text(&o)
    );
    drop(served);
    let o = harness(&["ready", ready.to_str().unwrap(), "--timeout", "1"]);
    assert!(!o.status.success(), "a stopped server: {}", text(&o));
}
