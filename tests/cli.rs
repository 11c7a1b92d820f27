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
    let der = mock_ca::x509::build_request(
        &mock_ca::names::parse_dn("CN=cli.contoso.test").unwrap(),
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
