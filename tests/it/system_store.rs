//! `--system-store` / `--user-store`: the Windows certificate store itself.
//! On Windows (CI runs this under Wine) certificates go in, are listed and
//! come out again through CryptoAPI; elsewhere the flag is a clear error.

use std::process::Command;

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_adcs-harness"))
        .args(args)
        .output()
        .unwrap()
}

#[cfg(not(windows))]
#[test]
fn elsewhere_the_system_store_is_refused_clearly() {
    for args in [
        &["store", "list", "--system-store"][..],
        &[
            "store",
            "import",
            "--user-store",
            "--name",
            "Root",
            "root.cer",
        ][..],
    ] {
        let out = cli(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("needs Windows"), "{args:?}: {stderr}");
    }
}

#[cfg(windows)]
#[test]
fn certificates_go_into_the_windows_store_and_come_out_again() {
    use adcs_client::store::system::{Location, SystemStore};
    use adcs_client::store::{thumbprint, StoreName};

    // A certificate no other test puts there: a fresh CA's root.
    let ca = mock_ca::Ca::new(
        mock_ca::CaConfig::default(),
        mock_ca::Seed(4242),
        mock_ca::Clock::frozen_at(crate::support::T0),
    )
    .unwrap();
    let der = ca.root_certificate();
    let print = thumbprint(&der);
    let store = SystemStore::open(Location::CurrentUser).unwrap();
    let _ = store.delete_certificate(StoreName::Ca, &der);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("root.cer");
    std::fs::write(&file, &der).unwrap();
    let out = cli(&[
        "store",
        "import",
        "--user-store",
        "--name",
        "CA",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(store.certificates(StoreName::Ca).unwrap().contains(&der));

    let out = cli(&["store", "list", "--user-store", "--name", "CA", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = listed["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["thumbprint"] == print.as_str())
        .expect("the imported certificate is listed");
    assert_eq!(row["store"], "CA");
    assert!(row["subject"].as_str().unwrap().contains("contoso-TEST-CA"));

    let copies = || {
        let all = store.certificates(StoreName::Ca).unwrap();
        all.iter().filter(|c| **c == der).count()
    };
    assert_eq!(copies(), 1);
    assert!(store.delete_certificate(StoreName::Ca, &der).unwrap());
    assert_eq!(copies(), 0, "the removal lasts beyond its handle");
    assert!(!store.delete_certificate(StoreName::Ca, &der).unwrap());
}
