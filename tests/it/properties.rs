//! Property tests over both ends: the request lifecycle against a small
//! model, and every parser of outside input returning a typed error rather
//! than panicking. Each property prints its case count (`property …`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use der::Decode;
use mock_ca::keys::SigningKey;
use mock_ca::{
    Ca, CaConfig, Clock, CrlKind, Disposition, KeyAlgorithm, Requester, RevocationReason, Seed,
};
use proptest::prelude::*;

const LIFECYCLE_CASES: u32 = 48;
const PARSER_CASES: u32 = 256;

/// Runs a property for `cases` cases and prints how many ran (visible with
/// `--nocapture`, as CI runs it); a failing case panics with the shrunk input.
fn check<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let ran = std::cell::Cell::new(0u32);
    use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
    let config = ProptestConfig {
        cases,
        // A failure prints its shrunk input; nothing is written next to the sources.
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    // The same cases on every run, so CI is reproducible; set
    // ADCS_PROPTEST_RANDOM=1 to explore new ones.
    let mut runner = if std::env::var_os("ADCS_PROPTEST_RANDOM").is_some() {
        TestRunner::new(config)
    } else {
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
    };
    let result = runner.run(&strategy, |v| {
        ran.set(ran.get() + 1);
        test(v)
    });
    if let Err(e) = result {
        panic!("property {name} failed: {e}");
    }
    println!("property {name}: {} cases passed", ran.get());
}

/// One operation of the lifecycle property.
#[derive(Clone, Debug)]
enum Op {
    Submit(usize),
    Issue(usize),
    Deny(usize),
    Revoke(usize, bool),
    Unrevoke(usize),
    Retrieve(usize),
    Advance(u32),
    Crl,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..4usize).prop_map(Op::Submit),
        2 => (0..16usize).prop_map(Op::Issue),
        1 => (0..16usize).prop_map(Op::Deny),
        1 => (0..16usize, any::<bool>()).prop_map(|(i, h)| Op::Revoke(i, h)),
        1 => (0..16usize).prop_map(Op::Unrevoke),
        2 => (0..16usize).prop_map(Op::Retrieve),
        1 => (1..100_000u32).prop_map(Op::Advance),
        1 => Just(Op::Crl),
    ]
}

/// Requests for four subjects, their keys from the key cache.
fn requests() -> Vec<Vec<u8>> {
    (0..4)
        .map(|i| {
            let cn = format!("prop{i}.contoso.test");
            let key = SigningKey::generate(KeyAlgorithm::Rsa2048, &Seed(1), &cn).unwrap();
            let name = adcs_proto::names::parse_dn(&format!("CN={cn}")).unwrap();
            adcs_proto::x509::build_request(&name, &key, vec![]).unwrap()
        })
        .collect()
}

/// What the model remembers of a request.
#[derive(Clone, Debug)]
struct Known {
    disposition: Disposition,
    certificate: Option<Vec<u8>>,
    serial: Option<String>,
    /// Revoked with certificate hold (the only reason that can be lifted).
    on_hold: bool,
}

fn crl_serials(der: &[u8]) -> BTreeSet<String> {
    let crl =
        x509_cert::crl::CertificateList::<x509_cert::certificate::Rfc5280>::from_der(der).unwrap();
    crl.tbs_cert_list
        .revoked_certificates
        .unwrap_or_default()
        .iter()
        .map(|r| adcs_proto::hex::hex(r.serial_number.as_bytes()))
        .collect()
}

/// Random interleavings of submit, issue, deny, revoke, unrevoke,
/// retrieve and clock moves on a stand-alone CA: IDs unique and
/// increasing, no request lost, only legal transitions, retrieve gives
/// exactly what was issued, and the CRL lists exactly the revoked serials.
#[test]
fn the_request_lifecycle_follows_the_model() {
    let reqs = requests();
    check(
        "the_request_lifecycle_follows_the_model",
        LIFECYCLE_CASES,
        proptest::collection::vec(op(), 1..24),
        |ops| {
            let ca = Ca::new(
                CaConfig::standalone(),
                Seed(5),
                Clock::frozen_at(1_767_225_600),
            )
            .unwrap();
            let who = Requester::new("CONTOSO\\alice");
            let officer = "CONTOSO\\Administrator";
            let mut model: BTreeMap<u32, Known> = BTreeMap::new();
            let mut last_id = 1u32; // request 1 is the server's own certificate
            let pick = |model: &BTreeMap<u32, Known>, i: usize| {
                model.keys().nth(i % model.len().max(1)).copied()
            };
            for op in ops {
                match op {
                    Op::Submit(i) => {
                        let s = ca.submit(&reqs[i], &who, &[]).unwrap();
                        prop_assert!(s.id > last_id, "IDs increase: {} after {last_id}", s.id);
                        last_id = s.id;
                        prop_assert_eq!(s.disposition, Disposition::Pending);
                        model.insert(
                            s.id,
                            Known {
                                disposition: Disposition::Pending,
                                certificate: None,
                                serial: None,
                                on_hold: false,
                            },
                        );
                    }
                    Op::Issue(i) | Op::Deny(i) => {
                        let Some(id) = pick(&model, i) else { continue };
                        let issue = matches!(op, Op::Issue(_));
                        let r = if issue {
                            ca.issue_pending(id, officer)
                        } else {
                            ca.deny(id, officer)
                        };
                        let k = model.get_mut(&id).unwrap();
                        if k.disposition == Disposition::Pending {
                            let s = r.unwrap();
                            if issue {
                                prop_assert_eq!(s.disposition, Disposition::Issued);
                                k.certificate = s.certificate.clone();
                                k.serial = ca.request(id).unwrap().serial;
                                prop_assert!(k.certificate.is_some() && k.serial.is_some());
                            } else {
                                prop_assert_eq!(s.disposition, Disposition::Denied);
                            }
                            k.disposition = s.disposition;
                        } else {
                            prop_assert!(
                                r.is_err(),
                                "request {id} is {:?}, not pending",
                                k.disposition
                            );
                        }
                    }
                    Op::Revoke(i, hold) => {
                        let Some(id) = pick(&model, i) else { continue };
                        let k = model.get_mut(&id).unwrap();
                        let Some(serial) = k.serial.clone() else {
                            continue;
                        };
                        let reason = if hold {
                            RevocationReason::CertificateHold
                        } else {
                            RevocationReason::KeyCompromise
                        };
                        let r = ca.revoke(&serial, reason, officer);
                        // A certificate on hold may still be revoked for good (or held again).
                        if k.disposition == Disposition::Issued || k.on_hold {
                            r.unwrap();
                            k.disposition = Disposition::Revoked;
                            k.on_hold = hold;
                        } else {
                            prop_assert!(r.is_err(), "revoking a {:?} certificate", k.disposition);
                        }
                    }
                    Op::Unrevoke(i) => {
                        let Some(id) = pick(&model, i) else { continue };
                        let k = model.get_mut(&id).unwrap();
                        let Some(serial) = k.serial.clone() else {
                            continue;
                        };
                        let r = ca.unrevoke(&serial, officer);
                        if k.disposition == Disposition::Revoked && k.on_hold {
                            r.unwrap();
                            k.disposition = Disposition::Issued;
                            k.on_hold = false;
                        } else {
                            prop_assert!(
                                r.is_err(),
                                "unrevoking a {:?} certificate (hold {})",
                                k.disposition,
                                k.on_hold
                            );
                        }
                    }
                    Op::Retrieve(i) => {
                        let Some(id) = pick(&model, i) else { continue };
                        let row = ca.request(id).expect("no request is lost");
                        let k = &model[&id];
                        prop_assert_eq!(row.disposition, k.disposition);
                        prop_assert_eq!(
                            &row.certificate,
                            &k.certificate,
                            "retrieve gives what was issued"
                        );
                    }
                    Op::Advance(s) => ca.clock().advance(i64::from(s)),
                    Op::Crl => {
                        let crl = ca.publish_crl(CrlKind::Base).unwrap();
                        let want: BTreeSet<String> = model
                            .values()
                            .filter(|k| k.disposition == Disposition::Revoked)
                            .filter_map(|k| k.serial.clone())
                            .collect();
                        prop_assert_eq!(crl_serials(&crl), want);
                    }
                }
            }
            // Every request is still there, with the disposition the model expects.
            for (id, k) in &model {
                prop_assert_eq!(ca.request(*id).map(|r| r.disposition), Some(k.disposition));
            }
            prop_assert_eq!(ca.next_request_id(), last_id + 1);
            Ok(())
        },
    );
}

/// A real request the parsers must survive mutations of.
fn seed_request() -> Vec<u8> {
    requests().remove(0)
}

/// Text with the characters parsers split on, more often than random bytes would.
fn tricky_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("[".to_string()),
            Just("]".to_string()),
            Just("=".to_string()),
            Just("\"".to_string()),
            Just("\\".to_string()),
            Just(",".to_string()),
            Just(";".to_string()),
            Just("\r\n".to_string()),
            Just("%".to_string()),
            Just("&".to_string()),
            Just(":".to_string()),
            Just("_continue_".to_string()),
            Just("hex:".to_string()),
            Just("{text}".to_string()),
            "[A-Za-z0-9 ]{0,6}",
            any::<char>().prop_map(String::from),
        ],
        0..40,
    )
    .prop_map(|v| v.concat())
}

#[test]
fn form_bodies_and_cert_attributes_never_panic() {
    let s = (
        proptest::collection::vec(any::<u8>(), 0..200),
        tricky_text(),
    );
    check(
        "form_bodies_and_cert_attributes_never_panic",
        PARSER_CASES,
        s,
        |(bytes, text)| {
            let p = mock_ca::web::form::Params::parse(&bytes);
            let _ = p.get("Mode");
            let p = mock_ca::web::form::Params::parse(text.as_bytes());
            let _ = p.pairs();
            for (name, _) in mock_ca::web::form::cert_attributes(&text) {
                prop_assert!(!name.is_empty());
            }
            Ok(())
        },
    );
}

#[test]
fn mutated_requests_give_typed_errors() {
    let original = seed_request();
    let s = (
        proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        any::<usize>(),
    );
    check(
        "mutated_requests_give_typed_errors",
        PARSER_CASES,
        s,
        |(flips, cut)| {
            let mut der = original.clone();
            for (at, x) in flips {
                let i = at % der.len();
                der[i] ^= x | 1;
            }
            der.truncate(1 + cut % der.len());
            if let Err(e) = adcs_proto::request::parse_request(&der) {
                prop_assert!(!e.to_string().is_empty());
            }
            Ok(())
        },
    );
}

#[test]
fn inf_text_gives_a_spec_or_an_error_naming_the_file() {
    let s = (tricky_text(), proptest::collection::vec(any::<u8>(), 0..64));
    check(
        "inf_text_gives_a_spec_or_an_error_naming_the_file",
        PARSER_CASES,
        s,
        |(text, raw)| {
            for bytes in [
                format!("[NewRequest]\r\n{text}").into_bytes(),
                text.clone().into_bytes(),
                raw.clone(),
            ] {
                match adcs_client::inf::Inf::parse("p.inf", &bytes) {
                    Ok(inf) => {
                        if let Err(e) = adcs_client::inf::RequestSpec::from_inf(&inf) {
                            prop_assert!(e.to_string().starts_with("p.inf"), "{}", e);
                        }
                    }
                    Err(e) => prop_assert!(e.to_string().starts_with("p.inf"), "{}", e),
                }
            }
            Ok(())
        },
    );
}

#[test]
fn reg_text_gives_a_file_or_an_error_with_its_line() {
    check(
        "reg_text_gives_a_file_or_an_error_with_its_line",
        PARSER_CASES,
        tricky_text(),
        |text| {
            for t in [
                format!("Windows Registry Editor Version 5.00\r\n\r\n{text}"),
                text.clone(),
            ] {
                match adcs_client::registry::RegFile::parse(Path::new("p.reg"), t.as_bytes()) {
                    // What parses writes back as it was read.
                    Ok(f) => prop_assert_eq!(f.to_text(), t),
                    Err(e) => prop_assert!(e.to_string().starts_with("p.reg:"), "{}", e),
                }
            }
            Ok(())
        },
    );
}

#[test]
fn scenario_text_gives_a_scenario_or_an_error_naming_the_file() {
    check(
        "scenario_text_gives_a_scenario_or_an_error_naming_the_file",
        PARSER_CASES,
        tricky_text(),
        |text| {
            for t in [format!("name = \"x\"\n[[step]]\n{text}"), text.clone()] {
                if let Err(e) = adcs_harness::scenario::parse(Path::new("p.toml"), &t) {
                    prop_assert!(e.to_string().starts_with("p.toml:"), "{}", e);
                }
            }
            Ok(())
        },
    );
}
