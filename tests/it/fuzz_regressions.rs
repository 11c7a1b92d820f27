//! The fuzz targets' inputs without cargo-fuzz: the generated seeds, the
//! scenario library, and every input under fuzz/regressions/<target>/ (a
//! crash a fuzzer once found) go through the same functions the targets
//! call (`adcs_harness::fuzzing`), so a fixed crash stays fixed.

use std::path::Path;

use adcs_harness::fuzzing::{self, TARGETS};

fn target(name: &str) -> fn(&[u8]) {
    TARGETS.iter().find(|(n, _)| *n == name).unwrap().1
}

#[test]
fn seeds_cover_every_target_and_parse() {
    let seeds = fuzzing::seeds().unwrap();
    for (name, _) in TARGETS {
        assert!(
            seeds.iter().filter(|(t, _, _)| t == name).count() >= 1,
            "no seed for {name}"
        );
    }
    for (t, name, bytes) in &seeds {
        target(t)(bytes);
        // Seeds are meant to reach deep: each one is valid input.
        let valid = match *t {
            "request" => adcs_proto::request::parse_request(bytes).is_ok(),
            "inf" => adcs_client::inf::Inf::parse(name, bytes).is_ok(),
            "reg" => adcs_client::registry::RegFile::parse(Path::new(name), bytes).is_ok(),
            "scenario" => {
                adcs_harness::scenario::parse(Path::new(name), std::str::from_utf8(bytes).unwrap())
                    .is_ok()
            }
            "scep" => {
                name.starts_with("envelope")
                    || adcs_proto::scep::PkiMessage::parse(bytes).is_ok_and(|m| m.signature_valid)
            }
            "ldap" => adcs_proto::ldap::frame_len(bytes, adcs_proto::ldap::MAX_MESSAGE)
                .ok()
                .flatten()
                .is_some_and(|n| adcs_proto::ldap::Request::decode(&bytes[..n]).is_ok()),
            _ => true,
        };
        assert!(valid, "seed {t}/{name} does not parse");
    }
}

#[test]
fn committed_crash_inputs_and_the_scenario_library_run_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ran = fuzzing::replay(&root.join("fuzz").join("regressions")).unwrap();
    let total: usize = ran.iter().map(|(_, n)| n).sum();
    println!("fuzz regressions: {total} inputs ({ran:?})");
    let mut scenarios = 0;
    for e in std::fs::read_dir(root.join("scenarios")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            target("scenario")(&std::fs::read(&p).unwrap());
            scenarios += 1;
        }
    }
    assert!(scenarios >= 20, "{scenarios} scenario files");
}

/// `replay` reports a panicking input with its file, so a regression fails
/// loudly rather than being skipped.
#[test]
fn a_panicking_input_is_reported_by_name() {
    fn picky(data: &[u8]) {
        assert!(!data.starts_with(b"boom"), "found");
    }
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("picky");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("a-fine"), b"fine").unwrap();
    let ran = fuzzing::replay_with(dir.path(), &[("picky", picky)]).unwrap();
    assert_eq!(ran, vec![("picky".to_string(), 1)]);
    std::fs::write(sub.join("crash-1234"), b"boom!").unwrap();
    let e = fuzzing::replay_with(dir.path(), &[("picky", picky)]).unwrap_err();
    assert!(e.0.contains("crash-1234") && e.0.contains("picky"), "{e}");
}
