//! SCOM end to end: MOMCertImport by every selector and from a PFX, the
//! .reg file kept intact, every agent rule passing and failing on a
//! certificate crafted for it, reversed serials, renewal both ways, and the
//! guide's whole procedure against the mock in both CA modes.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::support::{fixture, snapshot, start_with, ALICE, T0};
use adcs_client::flow::{self, CaEndpoint, EnrollOptions, NewOptions};
use adcs_client::http::{Credentials, Trust};
use adcs_client::inf::{Inf, RequestSpec};
use adcs_client::registry::{Change, FileRegistry, RegFile, RegValue, Registry, RegistryError};
use adcs_client::request::Requester;
use adcs_client::scom::check::{registry_serial, CheckOptions, Report, Status};
use adcs_client::scom::facts::{HASH_VALUE, MACHINE_SETTINGS_KEY, SERIAL_VALUE};
use adcs_client::scom::{self, CheckTarget, ImportOptions, ScomError, Selector};
use adcs_client::store::{thumbprint, Entry, PfxFormat, Store, StoreName};
use mock_ca::web::{Server, WebOptions};
use mock_ca::{CaConfig, CaMode, Seed};

const FQDN: &str = "scom01.contoso.test";
const DAY: i64 = 86_400;

/// A self-signed certificate the agent accepts, with its key, from the INF
/// grammar (`RequestType = Cert`); each test changes one line of it.
fn good_inf() -> String {
    fixture("inf/scom-self-signed.inf")
}

fn with_line(inf: &str, key: &str, line: Option<&str>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut replaced = false;
    for l in inf.split("\r\n") {
        if l.split('=')
            .next()
            .unwrap()
            .trim()
            .eq_ignore_ascii_case(key)
            && !replaced
        {
            replaced = true;
            if let Some(n) = line {
                out.push(n.to_string());
            }
        } else {
            out.push(l.to_string());
        }
    }
    if !replaced {
        if let Some(n) = line {
            out.insert(1, n.to_string());
        }
    }
    out.join("\r\n")
}

fn new_opts(seed: u64) -> NewOptions {
    NewOptions {
        seed: Some(Seed(seed)),
        requester: Requester {
            machine: FQDN.into(),
            user: ALICE.0.into(),
            os_version: "10.0.20348.2".into(),
        },
        now: T0,
    }
}

fn spec(inf: &str) -> RequestSpec {
    RequestSpec::from_inf(&Inf::parse("test.inf", inf.as_bytes()).unwrap()).unwrap()
}

/// Installs the self-signed certificate of `inf` in My (trusted in Root
/// unless `trusted` is false) and returns its entry.
fn install(store: &Store, inf: &str, seed: u64, trusted: bool) -> Entry {
    let made = flow::new_from_spec("test.inf", spec(inf), None, store, &new_opts(seed)).unwrap();
    let entry = made.installed.unwrap();
    if trusted {
        store
            .import_certificate(StoreName::Root, &entry.der)
            .unwrap();
    }
    entry
}

fn opts_at(now: i64) -> CheckOptions {
    CheckOptions::new(FQDN, now)
}

fn failing(report: &Report) -> BTreeSet<&'static str> {
    report
        .findings
        .iter()
        .filter(|f| f.status == Status::Fail)
        .map(|f| f.rule)
        .collect()
}

fn check_entry(store: &Store, registry: Option<&dyn Registry>, e: &Entry, now: i64) -> Report {
    scom::check(
        store,
        registry,
        &CheckTarget::Store(Selector::Thumbprint(e.thumbprint.clone())),
        &opts_at(now),
    )
    .unwrap()
}

fn reg(r: &FileRegistry) -> Option<&dyn Registry> {
    Some(r)
}

/// The agent's verdict over the configured certificate at `now`.
fn configured(w: &World, now: i64) -> Report {
    scom::check(
        &w.store,
        reg(&w.registry),
        &CheckTarget::Configured,
        &opts_at(now),
    )
    .unwrap()
}

struct World {
    _dir: tempfile::TempDir,
    root: PathBuf,
    store: Store,
    registry: FileRegistry,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let store = Store::open(&root.join("store")).unwrap();
    let registry = FileRegistry::new(&root.join("registry.reg"));
    World {
        _dir: dir,
        root,
        store,
        registry,
    }
}

#[test]
fn a_good_certificate_passes_every_rule_and_is_loaded() {
    let w = world();
    let e = install(&w.store, &good_inf(), 1, true);
    let report = check_entry(&w.store, None, &e, T0 + DAY);
    assert!(failing(&report).is_empty(), "{report:#?}");
    assert!(report.ok());
    assert_eq!(report.events()[0].id, 20053);
    for rule in [
        "key-usage",
        "enhanced-key-usage",
        "validity",
        "expiry",
        "name",
        "private-key",
        "machine-key",
        "key-spec",
        "chain",
        "key-size",
        "signature-hash",
        "template",
    ] {
        let f = report.findings.iter().find(|f| f.rule == rule).unwrap();
        assert_eq!(f.status, Status::Pass, "{rule}: {}", f.message);
    }
}

#[test]
fn each_rule_fails_on_a_certificate_made_to_break_it() {
    let w = world();
    let good = good_inf();
    // (what changes, the INF, the rules that must fail, the event the agent logs)
    let cases: Vec<(&str, String, &[&str], Option<u32>)> = vec![
        ("key usage without Key Encipherment", with_line(&good, "KeyUsage", Some("KeyUsage = 0x80")), &["key-usage"], Some(20049)),
        ("server authentication only", good.replace("\r\nOID = 1.3.6.1.5.5.7.3.2", ""), &["enhanced-key-usage"], Some(20050)),
        ("another computer's name", with_line(&good, "Subject", Some("Subject = \"CN=other.contoso.test\"")), &["name"], Some(20052)),
        ("two common names", with_line(&good, "Subject", Some("Subject = \"CN=scom01.contoso.test,CN=scom01\"")), &["name"], Some(20052)),
        ("a first DNS SAN that is not the computer", format!("{good}\r\n[Extensions]\r\n2.5.29.17 = \"{{text}}dns=www.contoso.test&dns=scom01.contoso.test\""), &["name"], Some(20052)),
        ("AT_SIGNATURE", with_line(&good, "KeySpec", Some("KeySpec = 2")), &["key-spec"], Some(20069)),
        ("a CNG key", with_line(&with_line(&good, "ProviderType", None), "ProviderName", Some("ProviderName = \"Microsoft Software Key Storage Provider\"")).replace("KeySpec = 1", "KeySpec = 0"), &["key-spec"], Some(20069)),
        ("a user key", with_line(&good, "MachineKeySet", Some("MachineKeySet = FALSE")), &["machine-key"], Some(20068)),
        ("RSA 1024", with_line(&good, "KeyLength", Some("KeyLength = 1024")), &["key-size"], None),
        ("SHA-1", with_line(&good, "HashAlgorithm", Some("HashAlgorithm = SHA1")), &["signature-hash"], None),
        ("no template", with_line(&good, "CertificateTemplate", None), &["template"], None),
        ("ECDSA", with_line(&with_line(&with_line(&good, "ProviderType", None), "ProviderName", None), "KeyLength", Some("KeyAlgorithm = ECDSA_P256")).replace("KeySpec = 1", "KeySpec = 0"), &["key-spec", "key-size"], Some(20069)),
    ];
    for (i, (what, inf, rules, event)) in cases.iter().enumerate() {
        let e = install(&w.store, inf, 10 + i as u64, true);
        let report = check_entry(&w.store, None, &e, T0 + DAY);
        let want: BTreeSet<&str> = rules.iter().copied().collect();
        assert_eq!(failing(&report), want, "{what}: {report:#?}");
        if let Some(id) = event {
            assert!(
                report.events().iter().any(|e| e.id == *id),
                "{what}: event {id} in {:?}",
                report.events()
            );
            assert!(!report.ok(), "{what}");
        } else {
            assert!(report.ok(), "{what}: a warning only");
        }
    }
}

#[test]
fn time_key_and_chain_failures() {
    let w = world();
    let e = install(&w.store, &good_inf(), 2, true);
    let not_after = e.not_after;
    // Expired, not yet valid, expiring soon (a warning: the agent still loads it).
    let expired = check_entry(&w.store, None, &e, not_after + 1);
    assert_eq!(failing(&expired), BTreeSet::from(["validity"]));
    assert!(expired.events().iter().any(|e| e.id == 20051));
    let early = check_entry(&w.store, None, &e, T0 - DAY);
    assert_eq!(failing(&early), BTreeSet::from(["validity"]));
    let soon = check_entry(&w.store, None, &e, not_after - 10 * DAY);
    assert_eq!(failing(&soon), BTreeSet::from(["expiry"]));
    assert!(soon.ok());
    assert_eq!(
        soon.events().iter().map(|e| e.id).collect::<Vec<_>>(),
        [20053, 21020]
    );

    // The root not trusted: 20072.
    let untrusted = install(&w.store, &good_inf(), 3, false);
    let r = check_entry(&w.store, None, &untrusted, T0 + DAY);
    assert_eq!(failing(&r), BTreeSet::from(["chain"]));
    assert!(r.events().iter().any(|e| e.id == 20072));

    // The same certificate re-imported without its key: 20077; the key file gone: 20068.
    let other = world();
    other
        .store
        .import_certificate(StoreName::Root, &e.der)
        .unwrap();
    let bare = other
        .store
        .import_certificate(StoreName::My, &e.der)
        .unwrap();
    let r = check_entry(&other.store, None, &bare, T0 + DAY);
    assert_eq!(failing(&r), BTreeSet::from(["private-key"]));
    assert!(r.events().iter().any(|e| e.id == 20077));
    let container = e.properties.key_container.clone().unwrap();
    std::fs::remove_file(
        w.store
            .folder()
            .unwrap()
            .join("Keys")
            .join(format!("{container}.p8")),
    )
    .unwrap();
    let r = check_entry(&w.store, None, &e, T0 + DAY);
    assert_eq!(failing(&r), BTreeSet::from(["private-key"]));
    assert!(r.events().iter().any(|e| e.id == 20068));
}

#[test]
fn registry_rules_follow_import_and_remove() {
    let mut w = world();
    let a = install(&w.store, &good_inf(), 4, true);
    let b = install(&w.store, &good_inf(), 5, true);
    let now = T0 + DAY;
    // Not configured: 21022, for the configured target and for a named certificate.
    let r = configured(&w, now);
    assert!(!r.ok());
    assert_eq!(r.events()[0].id, 21022);
    assert!(r.findings[0].message.contains("does not exist"), "{r:#?}");
    let r = check_entry(&w.store, reg(&w.registry), &a, now);
    assert_eq!(failing(&r), BTreeSet::from(["registry-serial"]));

    let opts = ImportOptions {
        check: opts_at(now),
        force: false,
    };
    scom::import(
        &w.store,
        &mut w.registry,
        &Selector::Thumbprint(a.thumbprint.clone()),
        &opts,
    )
    .unwrap();
    let r = configured(&w, now);
    assert!(r.ok(), "{r:#?}");
    assert_eq!(r.thumbprint.as_deref(), Some(a.thumbprint.as_str()));
    assert_eq!(r.events()[0].id, 20053);
    // The other certificate is not the configured one: 20066 (and its hash differs).
    let r = check_entry(&w.store, reg(&w.registry), &b, now);
    assert_eq!(
        failing(&r),
        BTreeSet::from(["registry-serial", "registry-hash"])
    );
    assert!(r.events().iter().any(|e| e.id == 20066));
    // A stale hash is a warning.
    w.registry
        .apply(
            MACHINE_SETTINGS_KEY,
            &[Change::Set {
                name: HASH_VALUE.into(),
                value: RegValue::String(b.thumbprint.clone()),
            }],
        )
        .unwrap();
    let r = check_entry(&w.store, reg(&w.registry), &a, now);
    assert_eq!(failing(&r), BTreeSet::from(["registry-hash"]));
    assert!(r.ok());
    // The configured certificate deleted from My: 20066 for the configured target.
    w.store.delete(StoreName::My, &a.thumbprint).unwrap();
    let r = configured(&w, now);
    assert_eq!(r.events()[0].id, 20066);
    // Remove clears both values; the certificate stays.
    let removed = scom::remove(&mut w.registry).unwrap();
    assert_eq!(
        removed.serial,
        Some(registry_serial(&adcs_proto::hex::unhex(&a.serial).unwrap()))
    );
    assert_eq!(
        w.registry
            .value(MACHINE_SETTINGS_KEY, SERIAL_VALUE)
            .unwrap(),
        None
    );
    assert_eq!(
        w.registry.value(MACHINE_SETTINGS_KEY, HASH_VALUE).unwrap(),
        None
    );
    assert!(w.store.find(StoreName::My, &b.thumbprint).is_ok());
}

#[test]
fn import_by_subject_serial_thumbprint_and_pfx_writes_the_reversed_serial() {
    let mut w = world();
    let e = install(&w.store, &good_inf(), 6, true);
    let serial = adcs_proto::hex::unhex(&e.serial).unwrap();
    let mut reversed = serial.clone();
    reversed.reverse();
    let now = T0 + DAY;
    let opts = ImportOptions {
        check: opts_at(now),
        force: false,
    };
    let spaced: String = e
        .serial
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap().to_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    for selector in [
        Selector::Subject("SCOM01.contoso.test".into()),
        Selector::Subject("scom01".into()),
        Selector::Serial(spaced),
        Selector::Thumbprint(e.thumbprint.to_lowercase()),
    ] {
        std::fs::remove_file(w.registry.path()).ok();
        let done = scom::import(&w.store, &mut w.registry, &selector, &opts).unwrap();
        assert_eq!(done.entry.thumbprint, e.thumbprint, "{selector:?}");
        assert_eq!(done.serial_value, reversed);
        let file = RegFile::read(w.registry.path()).unwrap();
        assert_eq!(
            file.get(MACHINE_SETTINGS_KEY, SERIAL_VALUE),
            Some(RegValue::Binary(reversed.clone()))
        );
        assert_eq!(
            file.get(MACHINE_SETTINGS_KEY, HASH_VALUE),
            Some(RegValue::String(e.thumbprint.clone()))
        );
    }

    // From a PFX made on another machine: imported into My with its key, then configured.
    let pfx_path = w.root.join("scom01.pfx");
    std::fs::write(
        &pfx_path,
        w.store
            .export_pfx(&e.thumbprint, "Pfx-Passw0rd", PfxFormat::Aes256)
            .unwrap(),
    )
    .unwrap();
    let mut other = world();
    other
        .store
        .import_certificate(StoreName::Root, &e.der)
        .unwrap();
    let done = scom::import(
        &other.store,
        &mut other.registry,
        &Selector::Pfx {
            path: pfx_path.clone(),
            password: "Pfx-Passw0rd".into(),
        },
        &opts,
    )
    .unwrap();
    assert!(done.from_pfx);
    assert!(done.entry.has_private_key);
    assert_eq!(done.serial_value, reversed);
    let r = configured(&other, now);
    assert!(r.ok(), "{r:#?}");

    // A wrong PFX password changes nothing.
    let third = world();
    let before = snapshot(&third.root);
    let mut reg = FileRegistry::new(third.registry.path());
    let err = scom::import(
        &third.store,
        &mut reg,
        &Selector::Pfx {
            path: pfx_path,
            password: "wrong".into(),
        },
        &opts,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("scom01.pfx") && err.to_string().contains("password"),
        "{err}"
    );
    assert_eq!(snapshot(&third.root), before);
}

#[test]
fn the_newest_usable_certificate_wins_a_shared_subject() {
    let mut w = world();
    let old = install(&w.store, &good_inf(), 7, true);
    let newer = install(
        &w.store,
        &good_inf().replace("ValidityPeriodUnits = 365", "ValidityPeriodUnits = 700"),
        8,
        true,
    );
    let done = scom::import(
        &w.store,
        &mut w.registry,
        &Selector::Subject(FQDN.into()),
        &ImportOptions {
            check: opts_at(T0 + DAY),
            force: false,
        },
    )
    .unwrap();
    assert_eq!(done.matched, 2);
    assert_eq!(done.entry.thumbprint, newer.thumbprint);
    assert_ne!(done.entry.thumbprint, old.thumbprint);
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let mut w = world();
    let good = install(&w.store, &good_inf(), 9, true);
    let now = T0 + DAY;
    let opts = ImportOptions {
        check: opts_at(now),
        force: false,
    };
    scom::import(
        &w.store,
        &mut w.registry,
        &Selector::Thumbprint(good.thumbprint.clone()),
        &opts,
    )
    .unwrap();

    // A certificate without its private key, and an expired one.
    let bare_der = {
        let other = world();
        install(&other.store, &good_inf(), 19, true).der
    };
    w.store
        .import_certificate(StoreName::Root, &bare_der)
        .unwrap();
    let bare = w
        .store
        .import_certificate(StoreName::My, &bare_der)
        .unwrap();
    let before = snapshot(&w.root);
    let err = scom::import(
        &w.store,
        &mut w.registry,
        &Selector::Thumbprint(bare.thumbprint.clone()),
        &opts,
    )
    .unwrap_err();
    let ScomError::Rejected(report) = &err else {
        panic!("{err}")
    };
    assert_eq!(failing(report), BTreeSet::from(["private-key"]));
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    assert_eq!(snapshot(&w.root), before);
    let expired_opts = ImportOptions {
        check: opts_at(good.not_after + DAY),
        force: false,
    };
    let err = scom::import(
        &w.store,
        &mut w.registry,
        &Selector::Thumbprint(good.thumbprint.clone()),
        &expired_opts,
    )
    .unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    assert_eq!(snapshot(&w.root), before);
    // --force writes it anyway (to reproduce the agent's events).
    let forced = ImportOptions {
        check: opts_at(now),
        force: true,
    };
    scom::import(
        &w.store,
        &mut w.registry,
        &Selector::Thumbprint(bare.thumbprint.clone()),
        &forced,
    )
    .unwrap();
    let r = configured(&w, now);
    assert!(r.events().iter().any(|e| e.id == 20077), "{r:#?}");

    // A corrupt .reg file: named with its line, and left as it was.
    std::fs::write(w.registry.path(), fixture("reg/unterminated-key.reg")).unwrap();
    let before = snapshot(&w.root);
    let err = scom::import(
        &w.store,
        &mut w.registry,
        &Selector::Thumbprint(good.thumbprint.clone()),
        &opts,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("registry.reg:3:") && msg.contains("`]`"),
        "{msg}"
    );
    assert_eq!(snapshot(&w.root), before);
    let err = scom::check(
        &w.store,
        reg(&w.registry),
        &CheckTarget::Configured,
        &opts_at(now),
    )
    .unwrap_err();
    assert!(err.to_string().contains("registry.reg:3:"), "{err}");

    // A missing registry file: `remove` says so and writes nothing.
    std::fs::remove_file(w.registry.path()).unwrap();
    let before = snapshot(&w.root);
    let err = scom::remove(&mut w.registry).unwrap_err();
    assert!(
        matches!(err, ScomError::Registry(RegistryError::Missing { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert_eq!(snapshot(&w.root), before);

    // No certificate matches.
    let err = scom::import(
        &w.store,
        &mut w.registry,
        &Selector::Subject("nobody.contoso.test".into()),
        &opts,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("0x80092004") && err.to_string().contains("nobody.contoso.test"),
        "{err}"
    );
    assert!(!w.registry.path().exists());
}

#[test]
fn the_reg_file_keeps_everything_else_byte_for_byte() {
    let mut w = world();
    let e = install(&w.store, &good_inf(), 20, true);
    let original = fixture("reg/agent-export.reg");
    // UTF-16 LE with a byte-order mark, as regedit writes it.
    let bytes: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(original.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    std::fs::write(w.registry.path(), &bytes).unwrap();
    scom::import(
        &w.store,
        &mut w.registry,
        &Selector::Thumbprint(e.thumbprint.clone()),
        &ImportOptions {
            check: opts_at(T0 + DAY),
            force: false,
        },
    )
    .unwrap();
    let after = std::fs::read(w.registry.path()).unwrap();
    assert_eq!(&after[..2], &[0xFF, 0xFE]);
    let text = RegFile::read(w.registry.path()).unwrap().to_text();
    for line in original.split("\r\n").filter(|l| !l.is_empty()) {
        assert!(text.contains(line), "lost `{line}`:\n{text}");
    }
    assert!(
        text.contains("\"ChannelCertificateSerialNumber\"=hex:"),
        "{text}"
    );
    let file = RegFile::read(w.registry.path()).unwrap();
    assert_eq!(
        file.get(MACHINE_SETTINGS_KEY, "DefaultTLSVersion"),
        Some(RegValue::String("1.2".into()))
    );
    // Remove puts the file back exactly as it was.
    scom::remove(&mut w.registry).unwrap();
    assert_eq!(std::fs::read(w.registry.path()).unwrap(), bytes);
}

#[test]
fn serials_reverse_byte_for_byte() {
    // A 10-byte serial (HighSerial = 0: ticks, CA index, request ID) and a
    // 19-byte one as the CA makes them.
    let ten = adcs_proto::hex::unhex("16925C8A000000002A01").unwrap();
    assert_eq!(
        registry_serial(&ten),
        adcs_proto::hex::unhex("012A000000008A5C9216").unwrap()
    );
    let nineteen = adcs_proto::serial::adcs_serial(0x0001_161C, 2, [1, 2, 3, 4, 5, 6, 7, 8], 0x1A);
    let mut want = nineteen.to_vec();
    want.reverse();
    assert_eq!(registry_serial(&nineteen), want);
    assert_eq!(registry_serial(&nineteen).len(), 19);
    for s in [&ten[..], &nineteen[..]] {
        assert!(scom::check::serial_matches(&registry_serial(s), s));
    }
    // A DER sign byte is not part of the registry value; integers compare equal.
    assert_eq!(registry_serial(&[0x00, 0x80, 0x01]), vec![0x01, 0x80]);
    assert!(scom::check::serial_matches(
        &[0x01, 0x80],
        &[0x00, 0x80, 0x01]
    ));
    assert!(!scom::check::serial_matches(
        &[0x01, 0x81],
        &[0x00, 0x80, 0x01]
    ));
}

/// The reference folder, or `None` with a SKIPPED note.
fn reference() -> Option<PathBuf> {
    match std::env::var_os("ADCS_REFERENCE_DIR") {
        Some(d) => Some(PathBuf::from(d)),
        None => {
            eprintln!("SKIPPED: ADCS_REFERENCE_DIR is not set; the reference serial vectors were not checked");
            None
        }
    }
}

#[test]
fn reference_certificates_import_with_the_registry_bytes_their_readme_lists() {
    let Some(dir) = reference() else { return };
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let mut checked = 0;
    for line in readme
        .lines()
        .filter(|l| l.contains('→') && l.starts_with("| `"))
    {
        let file = line.split('`').nth(1).unwrap();
        let tail = line.rsplit('|').nth(1).unwrap();
        let want = tail.split('→').nth(1).unwrap().replace(['`', ' '], "");
        let want = adcs_proto::hex::unhex(&want).unwrap();
        let sub = if file.ends_with(".p7b") {
            "p7b"
        } else {
            "cert"
        };
        let bytes = std::fs::read(dir.join(sub).join(file)).unwrap();
        let leaf = adcs_client::store::read_certificates(&bytes)
            .unwrap()
            .remove(0);
        // Through the whole import: the certificate in My (no key), --force.
        let mut w = world();
        let entry = w.store.import_certificate(StoreName::My, &leaf).unwrap();
        let done = scom::import(
            &w.store,
            &mut w.registry,
            &Selector::Serial(entry.serial.clone()),
            &ImportOptions {
                check: opts_at(T0),
                force: true,
            },
        )
        .unwrap();
        assert_eq!(done.serial_value, want, "{file}");
        let file_value = RegFile::read(w.registry.path())
            .unwrap()
            .get(MACHINE_SETTINGS_KEY, SERIAL_VALUE);
        assert_eq!(file_value, Some(RegValue::Binary(want.clone())), "{file}");
        checked += 1;
    }
    // Five certificates and two per-request p7b downloads carry vectors.
    assert_eq!(checked, 7, "vectors found in the reference README");
}

#[test]
fn infs_and_requests_are_judged_before_submission() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let opts = opts_at(T0);
    let good = dir.path().join("good.inf");
    std::fs::write(
        &good,
        adcs_client::scom::facts::scom_inf(FQDN, Some("OperationsManager"), false),
    )
    .unwrap();
    let r = scom::check(&store, None, &CheckTarget::Inf(good.clone()), &opts).unwrap();
    assert!(r.ok() && failing(&r).is_empty(), "{r:#?}");
    assert!(r
        .verdict()
        .starts_with("This INF will produce a SCOM-usable certificate"));

    let bad = dir.path().join("bad.inf");
    std::fs::write(&bad, "[NewRequest]\r\nSubject = \"CN=other.contoso.test\"\r\nKeySpec = 2\r\nMachineKeySet = FALSE\r\n").unwrap();
    let r = scom::check(&store, None, &CheckTarget::Inf(bad), &opts).unwrap();
    assert_eq!(
        failing(&r),
        BTreeSet::from([
            "key-usage",
            "enhanced-key-usage",
            "name",
            "machine-key",
            "key-spec",
            "template"
        ])
    );
    let v = r.verdict();
    assert!(
        v.starts_with("This INF will not produce a SCOM-usable certificate because "),
        "{v}"
    );
    assert!(
        v.contains("; and KeySpec is 2 (AT_SIGNATURE)")
            && v.contains("because key usage Digital Signature (0x80) lacks Key Encipherment"),
        "{v}"
    );

    // A template can still add EKUs: a warning, not an error.
    let templated = dir.path().join("templated.inf");
    std::fs::write(&templated, "[NewRequest]\r\nSubject = \"CN=scom01.contoso.test\"\r\nMachineKeySet = TRUE\r\nProviderName = \"Microsoft RSA SChannel Cryptographic Provider\"\r\n[RequestAttributes]\r\nCertificateTemplate = OperationsManager\r\n").unwrap();
    let r = scom::check(&store, None, &CheckTarget::Inf(templated), &opts).unwrap();
    assert!(r.ok(), "{r:#?}");
    assert_eq!(failing(&r), BTreeSet::from(["enhanced-key-usage"]));

    // The request file the good INF makes passes too.
    let req = dir.path().join("good.req");
    flow::new_from_inf(&good, Some(&req), &store, &new_opts(30)).unwrap();
    let r = scom::check(&store, None, &CheckTarget::Request(req), &opts).unwrap();
    assert!(failing(&r).is_empty(), "{r:#?}");

    // Microsoft's own SCOM INFs: usable, with the parser's warnings shown.
    if let Some(refdir) = reference() {
        for name in [
            "msdocs_scom_obtain_certificate_2022.inf",
            "msdocs_scom_obtain_certificate_2025.inf",
            "blakedrumm_scom_offline_request.inf",
        ] {
            let fqdn = if name.starts_with("blake") {
                "IIS-2019"
            } else {
                "server.contoso.com"
            };
            let r = scom::check(
                &store,
                None,
                &CheckTarget::Inf(refdir.join("inf").join(name)),
                &CheckOptions::new(fqdn, T0),
            )
            .unwrap();
            assert!(r.ok(), "{name}: {r:#?}");
            if name.contains("2022") {
                assert!(
                    r.findings
                        .iter()
                        .any(|f| f.rule == "inf" && f.message.contains("Key Exportable")),
                    "{r:#?}"
                );
            }
        }
    }
}

// ---- against the mock CA ----

fn server(mode: CaMode) -> Server {
    start_with(
        CaConfig {
            mode,
            ..CaConfig::default()
        },
        WebOptions::default(),
    )
}

/// An endpoint that trusts nothing yet: the procedure pins the root.
fn endpoint(s: &Server) -> CaEndpoint {
    CaEndpoint {
        url: s.certsrv_url(),
        trust: Trust::Roots(Vec::new()),
        credentials: Credentials::Ntlm {
            user: ALICE.0.into(),
            password: ALICE.1.into(),
            negotiate_label: false,
        },
        timeout: adcs_client::http::DEFAULT_TIMEOUT,
    }
}

fn enroll_opts(seed: u64) -> EnrollOptions {
    EnrollOptions {
        new: new_opts(seed),
        poll_interval: Duration::from_millis(20),
        wait: Duration::from_secs(20),
        ..EnrollOptions::default()
    }
}

fn scom_opts(s: &Server, seed: u64) -> scom::ScomEnrollOptions {
    scom::ScomEnrollOptions {
        fqdn: FQDN.into(),
        inf: None,
        template: Some("OperationsManager".into()),
        exportable: false,
        web_portal: false,
        ca_thumbprint: Some(thumbprint(&s.ca().root_certificate())),
        enroll: enroll_opts(seed),
        check: opts_at(T0 + DAY),
        force: false,
        export: None,
    }
}

#[test]
fn scom_enroll_on_an_enterprise_ca_then_renew_both_ways() {
    let s = server(CaMode::Enterprise);
    let mut w = world();
    // A wrong pin stops before anything is trusted or requested.
    let mut wrong = scom_opts(&s, 40);
    wrong.ca_thumbprint = Some("00".repeat(20));
    let before = snapshot(&w.root);
    let err = scom::enroll(
        &endpoint(&s),
        &w.store,
        &mut w.registry,
        &wrong,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("pinned thumbprint"), "{err}");
    assert_eq!(snapshot(&w.root), before);

    let done = scom::enroll(
        &endpoint(&s),
        &w.store,
        &mut w.registry,
        &scom_opts(&s, 40),
        &mut |_| {},
    )
    .unwrap();
    assert!(done.report.ok(), "{:#?}", done.report);
    assert!(failing(&done.report).is_empty(), "{:#?}", done.report);
    assert_eq!(done.report.events()[0].id, 20053);
    assert!(
        matches!(&done.trust, scom::TrustStep::Pinned { added } if added.iter().any(|e| e.store == StoreName::Root))
    );
    let first = done.imported.entry.clone();
    assert!(first.has_private_key);
    let template_of = |der: &[u8]| {
        let (_, c) = x509_parser::parse_x509_certificate(der).unwrap();
        c.extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "1.3.6.1.4.1.311.21.7")
            .map(|e| e.value.to_vec())
    };
    let spki_of = |der: &[u8]| {
        let (_, c) = x509_parser::parse_x509_certificate(der).unwrap();
        c.public_key().raw.to_vec()
    };
    assert!(
        template_of(&first.der).is_some(),
        "the OperationsManager template is a v2 template"
    );

    let renew_opts = |new_key| scom::ScomRenewOptions {
        new_key,
        template: None,
        enroll: enroll_opts(41),
        check: opts_at(T0 + 2 * DAY),
    };
    // Same key: new serial and thumbprint, same public key, same template, registry follows.
    let same = scom::renew(
        &endpoint_trusting(&s),
        &w.store,
        &mut w.registry,
        None,
        &renew_opts(false),
        &mut |_| {},
    )
    .unwrap();
    let second = same.enrolled.accepted.entry.clone();
    assert!(same.same_key);
    assert_ne!(second.serial, first.serial);
    assert_eq!(spki_of(&second.der), spki_of(&first.der));
    assert_eq!(template_of(&second.der), template_of(&first.der));
    let imported = same
        .imported
        .expect("the configured certificate was renewed");
    assert_eq!(
        imported.replaced,
        Some(registry_serial(
            &adcs_proto::hex::unhex(&first.serial).unwrap()
        ))
    );
    let r = configured(&w, T0 + 2 * DAY);
    assert!(
        r.ok() && r.thumbprint.as_deref() == Some(second.thumbprint.as_str()),
        "{r:#?}"
    );

    // New key: another public key, same template.
    let fresh = scom::renew(
        &endpoint_trusting(&s),
        &w.store,
        &mut w.registry,
        None,
        &renew_opts(true),
        &mut |_| {},
    )
    .unwrap();
    let third = fresh.enrolled.accepted.entry.clone();
    assert!(!fresh.same_key);
    assert_ne!(spki_of(&third.der), spki_of(&second.der));
    assert_eq!(template_of(&third.der), template_of(&first.der));
    let r = configured(&w, T0 + 2 * DAY);
    assert_eq!(r.thumbprint.as_deref(), Some(third.thumbprint.as_str()));

    // An expired certificate is not renewed.
    let late = scom::ScomRenewOptions {
        check: opts_at(third.not_after + DAY),
        ..renew_opts(false)
    };
    let err = scom::renew(
        &endpoint_trusting(&s),
        &w.store,
        &mut w.registry,
        None,
        &late,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("time-valid"), "{err}");
}

/// An endpoint trusting the mock's root (after the procedure imported it).
fn endpoint_trusting(s: &Server) -> CaEndpoint {
    CaEndpoint {
        trust: Trust::Roots(vec![s.ca().root_certificate()]),
        ..endpoint(s)
    }
}

#[test]
fn scom_enroll_on_a_standalone_ca_waits_for_the_manager_and_exports_a_pfx() {
    let s = server(CaMode::Standalone);
    let mut w = world();
    let officer = officer(&s);
    let pfx = w.root.join("for-another-machine.pfx");
    let opts = scom::ScomEnrollOptions {
        template: None,
        export: Some((pfx.clone(), "Pfx-Passw0rd".into(), PfxFormat::Aes256)),
        exportable: true,
        ..scom_opts(&s, 50)
    };
    let mut progress = Vec::new();
    let done = scom::enroll(&endpoint(&s), &w.store, &mut w.registry, &opts, &mut |p| {
        progress.push(p)
    })
    .unwrap();
    assert_eq!(done.request_id, Some(officer.join().unwrap()));
    assert!(
        progress
            .iter()
            .any(|p| matches!(p, flow::Progress::Waiting { .. })),
        "{progress:?}"
    );
    // A stand-alone CA copies the requested key usage and EKUs; it adds no template.
    assert!(done.report.ok(), "{:#?}", done.report);
    assert_eq!(failing(&done.report), BTreeSet::from(["template"]));
    // The PFX carries the key to another machine, where MOMCertImport takes it.
    let mut other = world();
    let imported = scom::import(
        &other.store,
        &mut other.registry,
        &Selector::Pfx {
            path: pfx.clone(),
            password: "Pfx-Passw0rd".into(),
        },
        &ImportOptions {
            check: opts_at(T0 + DAY),
            force: false,
        },
    )
    .unwrap();
    assert_eq!(imported.entry.thumbprint, done.imported.entry.thumbprint);
    if let Ok(o) = Command::new("openssl")
        .args(["pkcs12", "-info", "-noout", "-in"])
        .arg(&pfx)
        .args(["-passin", "pass:Pfx-Passw0rd"])
        .output()
    {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    } else {
        eprintln!("SKIPPED: openssl is not installed; the PFX cross-check was left out");
    }
}

#[test]
fn scom_verbs_report_and_exit_like_the_tools() {
    let w = world();
    let e = install(&w.store, &good_inf(), 60, true);
    let bin = env!("CARGO_BIN_EXE_adcs-harness");
    let run = |args: &[&str]| {
        let o = Command::new(bin)
            .args(args)
            .arg("--store")
            .arg(w.store.folder().unwrap())
            .arg("--registry")
            .arg(w.registry.path())
            .env_remove("ADCS_HARNESS_STORE")
            .env_remove("ADCS_HARNESS_REGISTRY")
            .output()
            .unwrap();
        (
            o.status.code().unwrap(),
            String::from_utf8_lossy(&o.stdout).replace("\r\n", "\n"),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let now = (T0 + DAY).to_string();
    let (code, _, err) = run(&["scom", "check", "--fqdn", FQDN, "--now", &now]);
    assert_eq!(code, 7, "{err}");
    let (code, out, err) = run(&[
        "scom",
        "import",
        "--subject",
        FQDN,
        "--fqdn",
        FQDN,
        "--now",
        &now,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("Successfully installed the certificate."),
        "{out}"
    );
    assert!(out.contains(&e.thumbprint));
    let (code, out, err) = run(&[
        "scom",
        "check",
        "--fqdn",
        FQDN,
        "--now",
        "2026-01-02T00:00:00Z",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("SCOM would log 20053"), "{out}");
    assert!(out.trim_end().ends_with("*** This certificate is properly configured and imported for System Center Operations Manager ***"), "{out}");
    let (code, out, _) = run(&[
        "scom",
        "check",
        "--fqdn",
        "other.contoso.test",
        "--now",
        &now,
        "--json",
    ]);
    assert_eq!(code, 7);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert!(
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == 20052),
        "{v}"
    );
    // Expired at import: refused with exit 7, the registry untouched.
    let reg_before = std::fs::read(w.registry.path()).unwrap();
    let late = (e.not_after + DAY).to_string();
    let (code, _, err) = run(&[
        "scom",
        "import",
        "--thumbprint",
        &e.thumbprint,
        "--fqdn",
        FQDN,
        "--now",
        &late,
    ]);
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(std::fs::read(w.registry.path()).unwrap(), reg_before);
    let (code, out, _) = run(&["scom", "remove"]);
    assert_eq!(code, 0);
    assert!(out.contains("the certificate stays in My"), "{out}");
    let (code, _, err) = run(&["scom", "check", "--now", "soon"]);
    assert_eq!(code, 2, "{err}");
    #[cfg(not(windows))]
    {
        let (code, _, err) = Command::new(bin)
            .args(["scom", "remove", "--system-registry", "--store"])
            .arg(w.store.folder().unwrap())
            .output()
            .map(|o| {
                (
                    o.status.code().unwrap(),
                    (),
                    String::from_utf8_lossy(&o.stderr).into_owned(),
                )
            })
            .unwrap();
        assert_eq!(code, 1);
        assert!(err.contains("needs Windows"), "{err}");
    }
    let o = Command::new(bin)
        .args(["scom", "inf", "--fqdn", FQDN])
        .output()
        .unwrap();
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("Subject = \"CN=scom01.contoso.test\"")
            && out.contains("CertificateTemplate = \"OperationsManager\""),
        "{out}"
    );
}

/// A certificate manager on another thread: issues the first request that
/// waits, and returns its ID.
fn officer(s: &Server) -> std::thread::JoinHandle<u32> {
    let ca = std::sync::Arc::clone(s.ca());
    std::thread::spawn(move || {
        for _ in 0..1000 {
            if let Some(r) = ca.list(Some(mock_ca::Disposition::Pending)).first() {
                ca.issue_pending(r.id, "CONTOSO\\Administrator").unwrap();
                return r.id;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("no request became pending")
    })
}

#[test]
fn the_web_portal_path_where_the_ca_makes_the_key() {
    for mode in [CaMode::Enterprise, CaMode::Standalone] {
        let s = server(mode);
        let mut w = world();
        let approver = (mode == CaMode::Standalone).then(|| officer(&s));
        let pfx = w.root.join("portal.pfx");
        let opts = scom::ScomEnrollOptions {
            web_portal: true,
            template: (mode == CaMode::Enterprise).then(|| "OperationsManager".into()),
            export: Some((pfx.clone(), "Pfx-Passw0rd".into(), PfxFormat::Aes256)),
            ..scom_opts(&s, 70)
        };
        let mut progress = Vec::new();
        let done = scom::enroll(&endpoint(&s), &w.store, &mut w.registry, &opts, &mut |p| {
            progress.push(p)
        })
        .unwrap();
        assert!(done.report.ok(), "{mode:?}: {:#?}", done.report);
        assert!(done.request_pem.is_none(), "no request was made here");
        assert!(w.store.pending().unwrap().is_empty());
        let entry = &done.imported.entry;
        assert!(done.imported.from_pfx && entry.has_private_key);
        let row = s
            .ca()
            .request(done.request_id.expect("the ID is in the AD CS serial"))
            .unwrap();
        assert_eq!(
            row.certificate.as_deref(),
            Some(entry.der.as_slice()),
            "{mode:?}"
        );
        if let Some(a) = approver {
            assert_eq!(Some(a.join().unwrap()), done.request_id);
            assert!(
                progress
                    .iter()
                    .any(|p| matches!(p, flow::Progress::Waiting { .. })),
                "{progress:?}"
            );
            assert_eq!(failing(&done.report), BTreeSet::from(["template"]));
        } else {
            assert!(failing(&done.report).is_empty(), "{:#?}", done.report);
        }
        // The PFX the CA made opens with the export password on another machine.
        let again =
            adcs_client::store::read_pfx(&std::fs::read(&pfx).unwrap(), "Pfx-Passw0rd").unwrap();
        assert_eq!(again.leaf, entry.der);
    }
}

/// `scom check` warns about a key that is not exportable only when the
/// certificate is meant for another machine (`for_export`, `--for-export`):
/// the agent itself does not care, the PFX export would fail.
#[test]
fn a_key_not_exportable_is_a_warning_for_a_certificate_meant_for_another_machine() {
    use adcs_client::scom::check::Severity;
    let mut w = world();
    let fixed = with_line(&good_inf(), "Exportable", None);
    let e = install(&w.store, &fixed, 90, true);
    assert!(!e.properties.exportable);
    scom::import(
        &w.store,
        &mut w.registry,
        &Selector::Thumbprint(e.thumbprint.clone()),
        &ImportOptions {
            check: opts_at(T0 + DAY),
            force: false,
        },
    )
    .unwrap();
    // Not for export: no `exportable` finding at all.
    let plain = configured(&w, T0 + DAY);
    assert!(plain.findings.iter().all(|f| f.rule != "exportable"));
    let for_export = CheckOptions {
        for_export: true,
        ..opts_at(T0 + DAY)
    };
    let finding = |r: &Report| {
        r.findings
            .iter()
            .find(|f| f.rule == "exportable")
            .cloned()
            .expect("an exportable finding")
    };
    let r = scom::check(
        &w.store,
        reg(&w.registry),
        &CheckTarget::Configured,
        &for_export,
    )
    .unwrap();
    let f = finding(&r);
    assert_eq!((f.status, f.severity), (Status::Fail, Severity::Warning));
    assert!(f.message.contains("NTE_BAD_KEY_STATE"), "{}", f.message);
    assert!(r.ok(), "a warning, not an error: {r:#?}");
    // An exportable key passes.
    let exportable = install(&w.store, &good_inf(), 91, true);
    let r = scom::check(
        &w.store,
        None,
        &CheckTarget::Store(Selector::Thumbprint(exportable.thumbprint.clone())),
        &for_export,
    )
    .unwrap();
    assert_eq!(finding(&r).status, Status::Pass);
    // Before the request: Microsoft's INF with its `Key Exportable` slip.
    let inf = w.root.join("scom-guide.inf");
    std::fs::write(&inf, fixture("inf/scom-guide-key-exportable.inf")).unwrap();
    let r = scom::check(&w.store, None, &CheckTarget::Inf(inf), &for_export).unwrap();
    let f = finding(&r);
    assert_eq!((f.status, f.severity), (Status::Fail, Severity::Warning));
    assert!(f.message.contains("`Exportable = TRUE`"), "{}", f.message);
    // From the shell: WARN, and the configured certificate still loads (exit 0).
    let o = Command::new(env!("CARGO_BIN_EXE_adcs-harness"))
        .args(["scom", "check", "--for-export", "--fqdn", FQDN, "--now"])
        .arg((T0 + DAY).to_string())
        .arg("--store")
        .arg(w.store.folder().unwrap())
        .arg("--registry")
        .arg(w.registry.path())
        .env_remove("ADCS_HARNESS_STORE")
        .env_remove("ADCS_HARNESS_REGISTRY")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("[WARN] exportable: The private key is not exportable"),
        "{out}"
    );
}
