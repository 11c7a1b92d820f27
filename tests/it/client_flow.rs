//! The certreq-style flow against the mock, end to end: INF → key + request
//! → submit → (approval) → retrieve → accept → PFX, in both CA modes, and
//! every failure leaving the store as it was.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{fixture, snapshot, start_with, ALICE, T0};
use adcs_client::certsrv::{EnrollError, Outcome};
use adcs_client::flow::{self, CaDownload, CaEndpoint, EnrollOptions, FlowError, NewOptions};
use adcs_client::http::{Credentials, Trust};
use adcs_client::request::Requester;
use adcs_client::store::{PfxFormat, Store, StoreError, StoreName};
use mock_ca::web::{Server, WebOptions};
use mock_ca::{CaConfig, CaMode, Seed};

fn server(mode: CaMode) -> Server {
    let config = CaConfig {
        mode,
        ..CaConfig::default()
    };
    start_with(config, WebOptions::default())
}

fn endpoint(s: &Server, password: &str) -> CaEndpoint {
    CaEndpoint {
        url: s.certsrv_url(),
        trust: Trust::Roots(vec![s.ca().root_certificate()]),
        credentials: Credentials::Ntlm {
            user: ALICE.0.into(),
            password: password.into(),
            negotiate_label: false,
        },
        timeout: adcs_client::http::DEFAULT_TIMEOUT,
    }
}

fn new_opts(seed: u64) -> NewOptions {
    NewOptions {
        seed: Some(Seed(seed)),
        requester: Requester {
            machine: "web01.contoso.test".into(),
            user: ALICE.0.into(),
            os_version: "10.0.20348.2".into(),
        },
        now: T0,
    }
}

fn write_inf(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs openssl; `None` (with a SKIPPED note) when it is not installed.
fn openssl(args: &[&str]) -> Option<std::process::Output> {
    match Command::new("openssl").args(args).output() {
        Ok(o) => Some(o),
        Err(_) => {
            eprintln!("SKIPPED: openssl is not installed; OpenSSL cross-check left out");
            None
        }
    }
}

#[test]
fn enterprise_new_submit_retrieve_accept_export() {
    let s = server(CaMode::Enterprise);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let inf = write_inf(dir.path(), "web.inf", &fixture("inf/web01.inf"));
    let req_path = dir.path().join("web.req");

    let created = flow::new_from_inf(&inf, Some(&req_path), &store, &new_opts(1)).unwrap();
    assert_eq!(store.pending().unwrap().len(), 1);
    let req_text = std::fs::read_to_string(&req_path).unwrap();
    assert!(req_text.starts_with("-----BEGIN NEW CERTIFICATE REQUEST-----\r\n"));
    assert_eq!(req_text, created.pem);
    let verify = openssl(&[
        "req",
        "-verify",
        "-noout",
        "-in",
        req_path.to_str().unwrap(),
    ]);
    if let Some(verify) = verify {
        assert!(verify.status.success(), "{verify:?}");
    }

    let mut web = endpoint(&s, ALICE.1).connect().unwrap();
    let attrs = flow::cert_attributes(Some("WebServer"), &[]);
    let Outcome::Issued { id, certificate } =
        flow::submit_file(&mut web, &req_path, &attrs).unwrap()
    else {
        panic!("not issued")
    };
    // Retrieve gives the same bytes the submission returned.
    let Outcome::Issued {
        certificate: again, ..
    } = web.retrieve(id).unwrap()
    else {
        panic!("retrieve")
    };
    assert_eq!(again, certificate);
    let (_, cert) = x509_parser::parse_x509_certificate(&certificate).unwrap();
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && ku.key_encipherment() && !ku.non_repudiation());
    let san = cert.subject_alternative_name().unwrap().unwrap().value;
    assert_eq!(san.general_names.len(), 2);

    // Accept from a PKCS#7 chain file, as certnew.p7b gives it.
    let p7 = dir.path().join("web.p7b");
    let chain = vec![certificate.clone(), s.ca().root_certificate()];
    std::fs::write(
        &p7,
        adcs_proto::encoding::pkcs7_certs_only(&chain, Some(&certificate)),
    )
    .unwrap();
    let accepted = flow::accept_file(&store, &p7).unwrap();
    assert!(accepted.entry.has_private_key);
    assert_eq!(
        accepted.entry.properties.friendly_name.as_deref(),
        Some("web01")
    );
    assert_eq!(
        accepted.untrusted_root.as_deref(),
        Some("CN=contoso-TEST-CA, DC=contoso, DC=test")
    );
    assert!(store.pending().unwrap().is_empty());
    store
        .import_certificate(StoreName::Root, &s.ca().root_certificate())
        .unwrap();
    assert_eq!(store.untrusted_root(&certificate).unwrap(), None);

    // PFX in both formats, read by OpenSSL with the password and by the store.
    for (format, name) in [
        (PfxFormat::Aes256, "web.pfx"),
        (PfxFormat::Legacy3Des, "web-legacy.pfx"),
    ] {
        let pfx = store.export_pfx("web01", "Pfx-Passw0rd", format).unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, &pfx).unwrap();
        let pfx_info = |pass: &str| {
            openssl(&[
                "pkcs12",
                "-info",
                "-noout",
                "-in",
                path.to_str().unwrap(),
                "-passin",
                &format!("pass:{pass}"),
            ])
        };
        if let Some(info) = pfx_info("Pfx-Passw0rd") {
            let text = String::from_utf8_lossy(&info.stderr).to_string();
            assert!(info.status.success(), "{text}");
            let expect = if format == PfxFormat::Aes256 {
                "AES-256-CBC"
            } else {
                "pbeWithSHA1And3-KeyTripleDES-CBC"
            };
            assert!(text.contains(expect), "{text}");
            assert!(!pfx_info("nope").unwrap().status.success());
        }

        let other = Store::open(&dir.path().join(format!("other-{name}"))).unwrap();
        let entry = other.import_pfx(&pfx, "Pfx-Passw0rd").unwrap();
        assert_eq!(entry.der, certificate);
        assert!(entry.has_private_key);
        assert_eq!(
            other.list(StoreName::Root).unwrap().len(),
            1,
            "the root comes along"
        );
    }
}

#[test]
fn standalone_enroll_waits_for_approval_then_accepts() {
    let s = server(CaMode::Standalone);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let inf = write_inf(dir.path(), "web.inf", &fixture("inf/web01.inf"));
    let ca = std::sync::Arc::clone(s.ca());
    // A certificate manager approves from another thread once the request waits.
    let officer = std::thread::spawn(move || {
        for _ in 0..400 {
            if let Some(r) = ca.list(Some(mock_ca::Disposition::Pending)).first() {
                return ca
                    .issue_pending(r.id, "CONTOSO\\Administrator")
                    .map(|_| r.id);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("no request became pending")
    });
    let opts = EnrollOptions {
        new: new_opts(2),
        poll_interval: Duration::from_millis(20),
        wait: Duration::from_secs(20),
        ..EnrollOptions::default()
    };
    let mut seen = Vec::new();
    let done = flow::enroll(&endpoint(&s, ALICE.1), &inf, &store, &opts, &mut |p| {
        seen.push(p)
    })
    .unwrap();
    assert_eq!(done.id, officer.join().unwrap().unwrap());
    assert!(
        seen.iter()
            .any(|p| matches!(p, flow::Progress::Submitted { id: Some(_) })),
        "{seen:?}"
    );
    assert!(matches!(seen.last(), Some(flow::Progress::Issued { .. })));
    let mine = store.find(StoreName::My, "web01.contoso.test").unwrap();
    assert!(mine.has_private_key);
    assert!(store.pending().unwrap().is_empty());
    // Stand-alone CAs copy the requested EKU and SANs.
    let (_, cert) = x509_parser::parse_x509_certificate(&mine.der).unwrap();
    assert!(
        cert.extended_key_usage()
            .unwrap()
            .unwrap()
            .value
            .server_auth
    );
}

#[test]
fn enroll_gives_up_waiting_but_keeps_the_request() {
    let s = server(CaMode::Standalone);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let inf = write_inf(dir.path(), "web.inf", &fixture("inf/web01.inf"));
    let opts = EnrollOptions {
        new: new_opts(3),
        poll_interval: Duration::from_millis(10),
        wait: Duration::from_millis(30),
        ..EnrollOptions::default()
    };
    let err = flow::enroll(&endpoint(&s, ALICE.1), &inf, &store, &opts, &mut |_| {}).unwrap_err();
    let FlowError::StillPending { id, .. } = err else {
        panic!("{err}")
    };
    // The key still waits, so the certificate can be accepted after approval.
    assert_eq!(store.pending().unwrap().len(), 1);
    let issued = s.ca().issue_pending(id, "CONTOSO\\Administrator").unwrap();
    let cert = issued.certificate.unwrap();
    let entry = store.accept(&cert).unwrap().entry;
    assert!(entry.has_private_key);
}

#[test]
fn failures_leave_the_store_unchanged() {
    let s = server(CaMode::Enterprise);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = Store::open(&root).unwrap();
    // Something already in the store, to show it survives.
    let inf = write_inf(dir.path(), "web.inf", &fixture("inf/web01.inf"));
    let opts = EnrollOptions {
        new: new_opts(4),
        template: Some("WebServer".into()),
        ..EnrollOptions::default()
    };
    flow::enroll(&endpoint(&s, ALICE.1), &inf, &store, &opts, &mut |_| {}).unwrap();
    let before = snapshot(&root);
    assert!(!before.is_empty());

    // A wrong password: refused before any key is made.
    let err = flow::enroll(&endpoint(&s, "wrong"), &inf, &store, &opts, &mut |_| {}).unwrap_err();
    assert!(
        matches!(err, FlowError::Enroll(EnrollError::Unauthorized(_))),
        "{err}"
    );
    assert_eq!(snapshot(&root), before);

    // A template the CA does not have: denied, the waiting request is
    // dropped. The same seed makes the same key as the installed
    // certificate's, so this also proves a key in use is never dropped.
    let denied = EnrollOptions {
        template: Some("NoSuchTemplate".into()),
        ..opts.clone()
    };
    let err = flow::enroll(&endpoint(&s, ALICE.1), &inf, &store, &denied, &mut |_| {}).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("0x80094800"), "{text}");
    assert_eq!(snapshot(&root), before);

    // A bad INF: file, line and key in the message.
    let bad = write_inf(
        dir.path(),
        "bad.inf",
        "[NewRequest]\r\nSubject = \"CN=x\"\r\nKeyLength = 512\r\n",
    );
    let err = flow::new_from_inf(
        &bad,
        Some(&dir.path().join("bad.req")),
        &store,
        &new_opts(5),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("bad.inf: line 3: KeyLength"), "{text}");
    assert!(!dir.path().join("bad.req").exists());
    assert_eq!(snapshot(&root), before);

    // Accepting a certificate whose key this store never made.
    let stranger = s.ca().root_certificate();
    let err = store.accept(&stranger).unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    assert!(err.to_string().contains("0x80092004"), "{err}");
    assert_eq!(snapshot(&root), before);

    // Importing a PFX with the wrong password.
    let pfx = store
        .export_pfx("web01", "right", PfxFormat::Aes256)
        .unwrap();
    let err = store.import_pfx(&pfx, "wrong").unwrap_err();
    assert!(matches!(err, StoreError::WrongPassword), "{err}");
    assert_eq!(snapshot(&root), before);

    // Output that cannot be written undoes the request.
    let err = flow::new_from_inf(
        &inf,
        Some(&dir.path().join("no/such/dir/x.req")),
        &store,
        &new_opts(6),
    )
    .unwrap_err();
    assert!(matches!(err, FlowError::Io { .. }), "{err}");
    assert_eq!(snapshot(&root), before);
}

#[test]
fn pinned_download_imports_the_root_and_refuses_a_wrong_pin() {
    let s = server(CaMode::Enterprise);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    // No trust yet: the store's Root is empty.
    let mut ep = endpoint(&s, ALICE.1);
    ep.trust = flow::trust_from(&store, None).unwrap();
    let err = flow::download_ca(&ep, CaDownload::Certificate, None, None).unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");

    let root = s.ca().root_certificate();
    let pin = adcs_client::store::thumbprint(&root);
    let got = flow::download_ca(
        &ep,
        CaDownload::Certificate,
        None,
        Some(&pin.to_lowercase()),
    )
    .unwrap();
    assert_eq!(got, root);
    store.import_certificate(StoreName::Root, &got).unwrap();
    // Now the store's Root is enough for HTTPS.
    ep.trust = flow::trust_from(&store, None).unwrap();
    let crl = flow::download_ca(&ep, CaDownload::Crl, None, None).unwrap();
    assert!(x509_parser::parse_x509_crl(&crl).is_ok());

    let wrong = "00".repeat(20);
    let err = flow::download_ca(&ep, CaDownload::Certificate, None, Some(&wrong)).unwrap_err();
    assert!(matches!(err, FlowError::PinMismatch { .. }), "{err}");
}

#[test]
fn repair_relinks_a_certificate_imported_without_its_key() {
    let s = server(CaMode::Enterprise);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let inf = write_inf(dir.path(), "web.inf", &fixture("inf/web01.inf"));
    let opts = EnrollOptions {
        new: new_opts(7),
        template: Some("WebServer".into()),
        ..EnrollOptions::default()
    };
    let done = flow::enroll(&endpoint(&s, ALICE.1), &inf, &store, &opts, &mut |_| {}).unwrap();
    let der = done.accepted.entry.der.clone();
    // Delete and re-import: the certificate comes back without its key link.
    store
        .delete(StoreName::My, &done.accepted.entry.thumbprint)
        .unwrap();
    let bare = store.import_certificate(StoreName::My, &der).unwrap();
    assert!(!bare.has_private_key && bare.properties.key_container.is_none());
    assert!(store.export_pfx("web01", "x", PfxFormat::Aes256).is_err());
    let serial = bare.serial.clone();
    let fixed = store.repair(&serial).unwrap();
    assert!(fixed.has_private_key);
    assert!(store.export_pfx(&serial, "x", PfxFormat::Aes256).is_ok());
}

#[test]
fn cli_verbs_exit_codes_and_json() {
    let s = server(CaMode::Enterprise);
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_adcs-harness");
    let root_pem = dir.path().join("root.pem");
    std::fs::write(
        &root_pem,
        adcs_proto::encoding::pem("CERTIFICATE", &s.ca().root_certificate()),
    )
    .unwrap();
    let store = dir.path().join("store");
    let inf = write_inf(dir.path(), "web.inf", &fixture("inf/web01.inf"));
    let run = |args: &[&str]| {
        Command::new(bin)
            .args(args)
            .env("ADCS_HARNESS_STORE", &store)
            .env("ADCS_HARNESS_PASSWORD", ALICE.1)
            .env("ADCS_HARNESS_KEY_CACHE", "off")
            .output()
            .unwrap()
    };
    let req = dir.path().join("web.req");
    let out = run(&[
        "req",
        "new",
        inf.to_str().unwrap(),
        req.to_str().unwrap(),
        "--seed",
        "9",
    ]);
    assert!(out.status.success(), "{out:?}");
    let url = s.certsrv_url();
    let conn = [
        "--server",
        url.as_str(),
        "--user",
        ALICE.0,
        "--ca-file",
        root_pem.to_str().unwrap(),
    ];
    let cer = dir.path().join("web.cer");
    let submit = |template: &str, json: bool| {
        let mut a: Vec<&str> = vec!["req", "submit"];
        a.extend(conn);
        a.extend([
            "--template",
            template,
            req.to_str().unwrap(),
            cer.to_str().unwrap(),
        ]);
        if json {
            a.push("--json");
        }
        run(&a)
    };
    let denied = submit("NoSuchTemplate", true);
    assert_eq!(denied.status.code(), Some(4), "{denied:?}");
    let v: serde_json::Value = serde_json::from_slice(&denied.stdout).unwrap();
    assert_eq!(v["disposition"], "denied");
    assert_eq!(v["hresult"].as_str().unwrap(), "0x80094800");
    let issued = submit("WebServer", false);
    assert_eq!(issued.status.code(), Some(0), "{issued:?}");
    assert!(String::from_utf8_lossy(&issued.stdout).contains("RequestId: "));
    let out = run(&["req", "accept", cer.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["installed"]["has_private_key"], true);

    // Wrong password: exit 6 and nothing echoed.
    let mut a: Vec<&str> = vec!["req", "retrieve"];
    a.extend(conn);
    let x_cer = dir.path().join("x.cer");
    a.extend(["1", x_cer.to_str().unwrap()]);
    let out = Command::new(bin)
        .args(&a)
        .env("ADCS_HARNESS_STORE", &store)
        .env("ADCS_HARNESS_PASSWORD", "Wr0ng-Secret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("Wr0ng-Secret"));

    // A bad INF names the file and line and exits non-zero.
    let bad = write_inf(
        dir.path(),
        "bad.inf",
        "[NewRequest]\nSubject = \"CN=x\"\nHashAlgorithm = md5\n",
    );
    let out = run(&["req", "new", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad.inf: line 3: HashAlgorithm"),
        "{out:?}"
    );

    let out = run(&["store", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["certificates"].as_array().unwrap().len(), 1);
    assert_eq!(v["pending"].as_array().unwrap().len(), 0);
}

#[test]
fn self_signed_request_type_installs_in_my_with_an_owner_only_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let inf = write_inf(
        dir.path(),
        "root.inf",
        &fixture("inf/self-signed-root-ecdsa.inf"),
    );
    let out = dir.path().join("root.cer");
    let created = flow::new_from_inf(&inf, Some(&out), &store, &new_opts(8)).unwrap();
    let entry = created.installed.expect("installed");
    assert!(entry.has_private_key);
    assert!(store.pending().unwrap().is_empty());
    assert_eq!(entry.not_after - entry.not_before, 5 * 365 * 86_400);
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----\r\n"));
    let (_, cert) = x509_parser::parse_x509_certificate(&entry.der).unwrap();
    let bc = cert.basic_constraints().unwrap().unwrap();
    assert!(bc.critical && bc.value.ca);
    assert_eq!(bc.value.path_len_constraint, Some(1));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = dir
            .path()
            .join("store/Keys")
            .join(format!("{}.p8", entry.properties.key_container.unwrap()));
        let mode = std::fs::metadata(key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "key file mode {mode:o}");
    }
}

/// certutil's refusal of a key that was not created exportable.
const NTE_BAD_KEY_STATE: &str =
    "Key not valid for use in specified state. 0x8009000b (-2146893813 NTE_BAD_KEY_STATE)";

/// Runs the harness binary with `--store DIR` (no store from the environment).
fn harness_in(store: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_adcs-harness"))
        .args(args)
        .arg("--store")
        .arg(store)
        .env_remove("ADCS_HARNESS_STORE")
        .env_remove("ADCS_HARNESS_PFX_PASSWORD")
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `store export` of `selector` into `out`: refused with certutil's
/// message and exit code 1, nothing written (no PFX, no temporary file,
/// the store unchanged).
fn assert_export_refused(store: &Path, selector: &str, out: &Path) {
    let before = snapshot(store);
    let files_before: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let (code, stdout, stderr) = harness_in(
        store,
        &[
            "store",
            "export",
            selector,
            out.to_str().unwrap(),
            "--password",
            "Pfx-Passw0rd",
        ],
    );
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.starts_with(&format!("adcs-harness: {NTE_BAD_KEY_STATE}: ")),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "{stdout}");
    assert!(!out.exists());
    let files_after: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files_after, files_before, "nothing written beside the PFX");
    assert_eq!(snapshot(store), before);
}

/// `store list --json`: each My certificate's `exportable`.
fn listed_exportable(store: &Path) -> Vec<bool> {
    let (code, stdout, stderr) = harness_in(store, &["store", "list", "--name", "My", "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    v["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["exportable"].as_bool().unwrap())
        .collect()
}

#[test]
fn a_key_not_created_exportable_does_not_leave_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let inf = write_inf(
        dir.path(),
        "scom.inf",
        &fixture("inf/scom-guide-key-exportable.inf"),
    );
    let inf = inf.to_str().unwrap();

    // Microsoft's SCOM INF: `Key Exportable` is no certreq key, so the key
    // is not exportable, and reading the INF says so.
    let plain = dir.path().join("plain");
    let (code, _, stderr) = harness_in(&plain, &["req", "new", inf, "--seed", "1"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("`Key Exportable`")
            && stderr.contains("the key will NOT be exportable")
            && stderr.contains("write `Exportable = TRUE`"),
        "{stderr}"
    );
    let (_, listed, _) = harness_in(&plain, &["store", "list"]);
    assert!(
        listed.contains("  Private key is NOT exportable\n"),
        "{listed}"
    );
    assert_eq!(listed_exportable(&plain), [false]);
    assert_export_refused(&plain, "scom01", &dir.path().join("plain.pfx"));

    // The library refuses with the typed error and its HRESULT.
    let store = Store::open(&plain).unwrap();
    let err = store
        .export_pfx("scom01", "Pfx-Passw0rd", PfxFormat::Aes256)
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotExportable { hresult, .. }
            if *hresult == adcs_proto::protocol::HResult::NTE_BAD_KEY_STATE),
        "{err:?}"
    );
    assert_eq!(err.hresult(), Some(0x8009_000B));
    assert!(err.to_string().starts_with(NTE_BAD_KEY_STATE), "{err}");

    // `--exportable` overrides the INF: the key leaves the store as a PFX.
    let marked = dir.path().join("marked");
    let (code, _, stderr) =
        harness_in(&marked, &["req", "new", inf, "--seed", "1", "--exportable"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (_, listed, _) = harness_in(&marked, &["store", "list"]);
    assert!(listed.contains("  Private key is exportable\n"), "{listed}");
    assert_eq!(listed_exportable(&marked), [true]);
    let pfx = dir.path().join("marked.pfx");
    let (code, stdout, stderr) = harness_in(
        &marked,
        &[
            "store",
            "export",
            "scom01",
            pfx.to_str().unwrap(),
            "--password",
            "Pfx-Passw0rd",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("PFX written to"), "{stdout}");
    let opened = adcs_client::store::read_pfx(&std::fs::read(&pfx).unwrap(), "Pfx-Passw0rd");
    assert!(opened.is_ok());
}

#[test]
fn a_pfx_imports_exportable_unless_no_export() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = adcs_client::inf::RequestSpec::from_inf(
        &adcs_client::inf::Inf::parse(
            "scom.inf",
            fixture("inf/scom-guide-key-exportable.inf").as_bytes(),
        )
        .unwrap(),
    )
    .unwrap();
    spec.exportable = true;
    let source = Store::open(&dir.path().join("source")).unwrap();
    flow::new_from_spec("scom.inf", spec, None, &source, &new_opts(3)).unwrap();
    let pfx = source
        .export_pfx("scom01", "Pfx-Passw0rd", PfxFormat::Aes256)
        .unwrap();
    let pfx_path = dir.path().join("scom.pfx");
    std::fs::write(&pfx_path, &pfx).unwrap();
    let pfx_arg = pfx_path.to_str().unwrap();

    // certutil -importpfx: exportable by default.
    let default = dir.path().join("default");
    let (code, stdout, stderr) = harness_in(
        &default,
        &["store", "import", pfx_arg, "--password", "Pfx-Passw0rd"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("Private key is exportable"), "{stdout}");
    assert_eq!(listed_exportable(&default), [true]);
    let again = Store::open(&default).unwrap();
    assert!(again.export_pfx("scom01", "x", PfxFormat::Aes256).is_ok());

    // NoExport: the key is in the store, usable, and stays there.
    let no_export = dir.path().join("no-export");
    let (code, stdout, stderr) = harness_in(
        &no_export,
        &[
            "store",
            "import",
            pfx_arg,
            "--password",
            "Pfx-Passw0rd",
            "--no-export",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("Private key is NOT exportable"), "{stdout}");
    assert_eq!(listed_exportable(&no_export), [false]);
    assert!(
        Store::open(&no_export)
            .unwrap()
            .list(StoreName::My)
            .unwrap()[0]
            .has_private_key
    );
    assert_export_refused(&no_export, "scom01", &dir.path().join("again.pfx"));
    // The library's NoExport, and `--no-export` on a certificate file is refused.
    let lib = Store::open(&dir.path().join("lib")).unwrap();
    lib.import_pfx_exportable(&pfx, "Pfx-Passw0rd", false)
        .unwrap();
    assert!(matches!(
        lib.export_pfx("scom01", "x", PfxFormat::Aes256),
        Err(StoreError::NotExportable { .. })
    ));
    let cer = dir.path().join("scom.cer");
    std::fs::write(&cer, &lib.list(StoreName::My).unwrap()[0].der).unwrap();
    let (code, _, stderr) = harness_in(
        &no_export,
        &["store", "import", cer.to_str().unwrap(), "--no-export"],
    );
    assert_eq!(code, Some(1), "{stderr}");
}

/// A store written before keys kept their own export policy (no
/// `Keys/<container>.json`) still loads: a key goes by the `exportable` its
/// certificate's properties recorded, and a properties file without the
/// field means not exportable (Windows' default).
#[test]
fn a_store_from_before_key_properties_goes_by_the_certificate_record() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = Store::open(&root).unwrap();
    let inf = write_inf(
        dir.path(),
        "scom.inf",
        &fixture("inf/scom-guide-key-exportable.inf"),
    );
    let made = flow::new_from_inf(&inf, None, &store, &new_opts(4)).unwrap();
    let entry = made.installed.unwrap();
    let container = entry.properties.key_container.clone().unwrap();
    std::fs::remove_file(root.join("Keys").join(format!("{container}.json"))).unwrap();
    assert_eq!(store.key_exportable(&container).unwrap(), None);
    let props_path = root.join("My").join(format!("{}.json", entry.thumbprint));
    let edit = |f: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&props_path).unwrap()).unwrap();
        f(v.as_object_mut().unwrap());
        std::fs::write(&props_path, serde_json::to_vec(&v).unwrap()).unwrap();
    };
    // As recorded: not exportable.
    assert!(
        !store
            .find(StoreName::My, "scom01")
            .unwrap()
            .properties
            .exportable
    );
    assert!(matches!(
        store.export_pfx("scom01", "x", PfxFormat::Aes256),
        Err(StoreError::NotExportable { .. })
    ));
    // An old store whose INF said `Exportable = TRUE` recorded it so.
    edit(&|m| {
        m.insert("exportable".into(), true.into());
    });
    assert!(
        store
            .find(StoreName::My, "scom01")
            .unwrap()
            .properties
            .exportable
    );
    assert!(store.export_pfx("scom01", "x", PfxFormat::Aes256).is_ok());
    // No `exportable` at all: not exportable.
    edit(&|m| {
        m.remove("exportable");
    });
    assert!(
        !store
            .find(StoreName::My, "scom01")
            .unwrap()
            .properties
            .exportable
    );
    assert!(store.export_pfx("scom01", "x", PfxFormat::Aes256).is_err());
}
