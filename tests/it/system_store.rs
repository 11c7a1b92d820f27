//! `--system-store` / `--user-store`: the Windows certificate store itself.
//! On Windows (CI runs this under Wine) certificates go in, are listed and
//! come out again through CryptoAPI, request keys live in the SChannel CSP
//! with its export permission, and accept, export and repair act on them;
//! elsewhere the flag is a clear error.

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
        &[
            "store",
            "export",
            "--system-store",
            "scom01",
            "x.pfx",
            "--password",
            "x",
        ][..],
        &["store", "repair", "--system-store", "scom01"][..],
        &["req", "new", "web01.inf", "--system-store"][..],
        &["req", "accept", "web01.cer", "--user-store"][..],
        &[
            "scom",
            "check",
            "--system-store",
            "--fqdn",
            "scom01.contoso.test",
        ][..],
        &["scom", "import", "--system-store", "--subject", "scom01"][..],
    ] {
        let out = cli(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("are the Windows certificate store (CryptoAPI) and need Windows"),
            "{args:?}: {stderr}"
        );
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
    let in_ca = || -> Vec<Vec<u8>> {
        let held = store.held(StoreName::Ca.folder()).unwrap();
        held.into_iter().map(|h| h.der).collect()
    };
    let _ = store.remove(StoreName::Ca.folder(), &der);

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
    assert!(in_ca().contains(&der));

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

    let copies = || in_ca().iter().filter(|c| **c == der).count();
    assert_eq!(copies(), 1);
    assert!(store.remove(StoreName::Ca.folder(), &der).unwrap());
    assert_eq!(copies(), 0, "the removal lasts beyond its handle");
    assert!(!store.remove(StoreName::Ca.folder(), &der).unwrap());
}

/// A request INF for the SChannel CSP in the machine key set, as SCOM's.
#[cfg(windows)]
fn schannel_inf(subject: &str, exportable: bool) -> String {
    format!(
        "[NewRequest]\r\nSubject = \"CN={subject}\"\r\nKeyLength = 2048\r\nKeySpec = 1\r\n\
         KeyUsage = 0xf0\r\nMachineKeySet = TRUE\r\n\
         ProviderName = \"Microsoft RSA SChannel Cryptographic Provider\"\r\nProviderType = 12\r\n\
         Exportable = {}\r\nRequestType = PKCS10\r\n",
        if exportable { "TRUE" } else { "FALSE" }
    )
}

#[cfg(windows)]
#[test]
fn request_keys_live_in_the_schannel_csp_and_keep_its_export_policy() {
    use adcs_client::flow::{self, CaEndpoint, EnrollOptions, NewOptions};
    use adcs_client::http::{Credentials, Trust};
    use adcs_client::request::Requester;
    use adcs_client::store::system::Location;
    use adcs_client::store::{container_name, read_pfx, PfxFormat, Store, StoreError, StoreName};

    let server = crate::support::start_with(
        mock_ca::CaConfig::default(),
        mock_ca::web::WebOptions::default(),
    );
    let endpoint = CaEndpoint {
        url: server.certsrv_url(),
        trust: Trust::Roots(vec![server.ca().root_certificate()]),
        credentials: Credentials::Ntlm {
            user: crate::support::ALICE.0.into(),
            password: crate::support::ALICE.1.into(),
            negotiate_label: false,
        },
        timeout: adcs_client::http::DEFAULT_TIMEOUT,
    };
    let store = Store::open_system(Location::LocalMachine).unwrap();
    // Keys are seeded: a run-unique seed keeps runs in one prefix apart.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let dir = tempfile::tempdir().unwrap();
    for exportable in [false, true] {
        let subject = format!("sys-{run:x}-{exportable}.contoso.test");
        let inf = dir.path().join(format!("{exportable}.inf"));
        std::fs::write(&inf, schannel_inf(&subject, exportable)).unwrap();
        let opts = EnrollOptions {
            new: NewOptions {
                seed: Some(mock_ca::Seed(run ^ u64::from(exportable))),
                requester: Requester {
                    machine: "scom01.contoso.test".into(),
                    user: crate::support::ALICE.0.into(),
                    os_version: "10.0.20348.2".into(),
                },
                now: crate::support::T0,
            },
            template: Some("WebServer".into()),
            ..EnrollOptions::default()
        };
        let done = flow::enroll(&endpoint, &inf, &store, &opts, &mut |_| {}).unwrap();
        let e = done.accepted.entry.clone();
        let container = e.properties.key_container.clone().unwrap();
        let _leave = Leave(&store, e.thumbprint.clone(), container.clone());
        assert_eq!(container, container_name(&spki_of(&e.der)));
        assert!(
            store
                .pending()
                .unwrap()
                .iter()
                .all(|p| p.key_container != container),
            "accept takes the request out of REQUEST"
        );

        // Read back through a fresh enumeration: what Windows holds.
        let held = store.find(StoreName::My, &e.thumbprint).unwrap();
        assert!(held.has_private_key, "{held:?}");
        assert_eq!(
            held.properties.provider.as_deref(),
            Some("Microsoft RSA SChannel Cryptographic Provider")
        );
        assert_eq!(held.properties.key_spec, Some(1));
        assert!(held.properties.machine_key_set);
        assert_eq!(
            held.properties.exportable, exportable,
            "the CSP's CRYPT_EXPORT"
        );
        assert_eq!(store.key_public(&container).unwrap(), Some(spki_of(&e.der)));

        match store.export_pfx(&e.thumbprint, "Pfx-Passw0rd", PfxFormat::Aes256) {
            Ok(pfx) if exportable => {
                let opened = read_pfx(&pfx, "Pfx-Passw0rd").unwrap();
                assert_eq!(opened.leaf, e.der);
                assert_eq!(opened.key.spki_der(), spki_of(&e.der).as_slice());
            }
            Err(err @ StoreError::NotExportable { .. }) if !exportable => {
                assert_eq!(err.hresult(), Some(0x8009_000B), "{err}");
            }
            other => panic!("exportable {exportable}: {other:?}"),
        }

        // A certificate added again without its key link, then repaired.
        store.delete(StoreName::My, &e.thumbprint).unwrap();
        let bare = store.import_certificate(StoreName::My, &e.der).unwrap();
        assert!(!bare.has_private_key && bare.properties.key_container.is_none());
        let fixed = store.repair(&e.thumbprint).unwrap();
        assert!(fixed.has_private_key, "{fixed:?}");
        assert_eq!(
            fixed.properties.key_container.as_deref(),
            Some(container.as_str())
        );
        assert_eq!(fixed.properties.exportable, exportable);

        // Leave the machine as it was: the certificate, then its key.
        store.delete(StoreName::My, &e.thumbprint).unwrap();
        store.forget_pending(&container).unwrap();
        assert_eq!(store.key_public(&container).unwrap(), None);
    }
}

#[cfg(windows)]
fn spki_of(der: &[u8]) -> Vec<u8> {
    use der::{Decode, Encode};
    x509_cert::Certificate::from_der(der)
        .unwrap()
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap()
}

/// Takes a test's certificate and key out of the machine's store even when
/// the test fails half-way.
#[cfg(windows)]
struct Leave<'a>(&'a adcs_client::store::Store, String, String);

#[cfg(windows)]
impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let _ = self.0.delete(adcs_client::store::StoreName::My, &self.1);
        let _ = self.0.forget_pending(&self.2);
    }
}
