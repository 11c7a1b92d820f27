//! The scenario library runs green, runs the same twice, and a scenario
//! that expects the wrong thing fails with what was expected and what came.

use std::path::{Path, PathBuf};

use adcs_harness::scenario::{self, RunOptions};

fn library() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// Runs a scenario file named relative to the crate, so transcripts name it
/// the same way wherever the checkout is.
fn run(file: &Path, seed: Option<u64>) -> scenario::ScenarioReport {
    let mut s = scenario::load(file).unwrap();
    s.path = scenario::relative(file, Path::new(env!("CARGO_MANIFEST_DIR")));
    scenario::run_scenario(&s, &RunOptions { seed })
}

/// The library's files this machine can run: a world with a Kerberos
/// realm needs Debian's MIT KDC, which Windows (and a machine without
/// krb5-kdc) lacks.
fn runnable() -> Vec<PathBuf> {
    let kdc = !cfg!(windows) && Path::new("/usr/sbin/krb5kdc").exists();
    let mut files = scenario::files(&[library()]).unwrap();
    files.retain(|f| {
        let needs_kdc = scenario::load(f).unwrap().world.kerberos.is_some();
        if needs_kdc && !kdc {
            println!(
                "SKIPPED: {} needs the MIT KDC (Debian krb5-kdc)",
                f.display()
            );
        }
        kdc || !needs_kdc
    });
    files
}

#[test]
fn every_scenario_in_the_library_passes() {
    let files = runnable();
    assert!(files.len() >= 12, "{files:?}");
    let mut bad = String::new();
    let mut steps = 0;
    for f in &files {
        let r = run(f, None);
        steps += r.steps.len();
        if r.failed() > 0 {
            bad.push_str(&r.transcript());
        }
    }
    assert!(bad.is_empty(), "{bad}");
    println!("scenario library: {} files, {steps} steps", files.len());
}

/// Each scenario's transcript is pinned: outcomes, messages and the
/// thumbprints of every certificate made. A change that alters any of them
/// shows up here (review with `cargo insta review`, or rerun with
/// `INSTA_UPDATE=always` when the change is meant).
#[test]
fn transcripts_match_their_snapshots() {
    for f in runnable() {
        let r = run(&f, None);
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        insta::assert_snapshot!(name, r.transcript().replace("\r\n", "\n"));
    }
}

#[test]
fn the_same_seed_gives_the_same_transcript_and_certificates() {
    let file = library().join("renewal.toml");
    let a = run(&file, None);
    let b = run(&file, None);
    assert_eq!(a.transcript(), b.transcript());
    let thumbs = |r: &scenario::ScenarioReport| -> Vec<String> {
        r.steps
            .iter()
            .filter_map(|s| s.certificate.clone())
            .collect()
    };
    assert_eq!(thumbs(&a).len(), 3, "{}", a.transcript());
    assert!(a.transcript().starts_with("scenario Renewal with the same key and with a new key (scenarios/renewal.toml), seed 1\n"), "{}", a.transcript());
    assert!(!a.transcript().contains("/tmp") && !a.transcript().contains("127.0.0.1"));
    // Another seed: other keys and serials, so other certificate bytes.
    let c = run(&file, Some(99));
    assert_eq!(c.failed(), 0, "{}", c.transcript());
    assert!(c.transcript().contains("seed 99"));
    assert!(thumbs(&a).iter().zip(thumbs(&c)).all(|(x, y)| *x != y));
}

#[test]
fn a_wrong_expectation_fails_with_expected_and_actual() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wrong.toml");
    std::fs::write(
        &file,
        concat!(
            "name = \"wrong on purpose\"\n",
            "[[step]]\ndo = \"req.new\"\ninf = \"[NewRequest]\\nSubject = \\\"CN=a.contoso.test\\\"\"\n",
            "[[step]]\ndo = \"req.submit\"\ntemplate = \"WebServer\"\n",
            "[step.expect]\ndisposition = \"pending\"\nsubject = \"CN=b.contoso.test\"\n",
            "[[step]]\ndo = \"ca.issue\"\nid = 99\n",
        ),
    )
    .unwrap();
    let r = scenario::run_scenario(&scenario::load(&file).unwrap(), &RunOptions::default());
    let t = r.transcript();
    assert_eq!((r.passed(), r.failed()), (1, 2), "{t}");
    assert!(t.contains("(step at line 5)"), "{t}");
    assert!(
        t.contains("disposition: expected pending, got issued"),
        "{t}"
    );
    assert!(
        t.contains("subject: expected CN=b.contoso.test, got CN=a.contoso.test"),
        "{t}"
    );
    assert!(
        t.contains("the step: expected to succeed, got error:"),
        "{t}"
    );
}

#[test]
fn the_run_verb_prints_transcripts_and_the_summary() {
    let bin = env!("CARGO_BIN_EXE_adcs-harness");
    let o = std::process::Command::new(bin)
        .args(["run", "--quiet"])
        .arg(library().join("denied-unknown-template.toml"))
        .arg(library().join("pending-then-denied.toml"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert_eq!(out.trim(), "scenarios: 7 passed, 0 failed");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"x\"\n[[step]]\ndo = \"req.new\"\nfoo = 1\n").unwrap();
    let o = std::process::Command::new(bin)
        .arg("run")
        .arg(&bad)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out.contains("bad.toml: line 4, column 1: unknown field `foo`"),
        "{out}"
    );
    assert!(out.contains("scenarios: 0 passed, 1 failed"), "{out}");
}
