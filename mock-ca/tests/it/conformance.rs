//! Checks by a second implementation: OpenSSL verifies what the CA signs,
//! and real Windows-made requests (shared reference data) are parsed and
//! issued or denied correctly.

use std::process::Command;

use crate::support::*;
use adcs_proto::request::parse_request;
use mock_ca::template::{KeyFamily, SubjectSource};
use mock_ca::{Ca, CaConfig, CrlKind, Disposition, HResult, Requester, RevocationReason, Seed};

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn openssl_verifies_certificates_and_crls_of_a_two_tier_ca() {
    let Some(_) = openssl() else {
        eprintln!("SKIPPED: openssl is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Real time, so openssl's own clock agrees with the certificates.
    let ca = Ca::new(
        CaConfig {
            two_tier: true,
            ..enterprise()
        },
        Seed(21),
        mock_ca::Clock::real(),
    )
    .unwrap();
    let s = ca
        .submit(
            &request(&Req::default()),
            &alice(),
            &template_attr("OperationsManager"),
        )
        .unwrap();
    assert_eq!(s.disposition, Disposition::Issued);
    let chain = ca.ca_chain(0).unwrap();
    let root = write(dir.path(), "root.pem", &pem("CERTIFICATE", &chain[1]));
    let issuing = write(dir.path(), "issuing.pem", &pem("CERTIFICATE", &chain[0]));
    let leaf = write(
        dir.path(),
        "leaf.pem",
        &pem("CERTIFICATE", s.certificate.as_ref().unwrap()),
    );
    let both = write(
        dir.path(),
        "chain.pem",
        &(pem("CERTIFICATE", &chain[0]) + &pem("CERTIFICATE", &chain[1])),
    );
    let p = |p: &std::path::PathBuf| p.to_str().unwrap().to_string();

    let (ok, out) = run(&[
        "verify",
        "-CAfile",
        &p(&root),
        "-untrusted",
        &p(&issuing),
        &p(&leaf),
    ]);
    assert!(ok && out.contains("OK"), "{out}");
    // The web server's own certificate (request 1) chains too.
    let (tls_chain, _) = ca.tls_identity();
    let tls = write(dir.path(), "tls.pem", &pem("CERTIFICATE", &tls_chain[0]));
    let (ok, out) = run(&[
        "verify",
        "-CAfile",
        &p(&root),
        "-untrusted",
        &p(&issuing),
        "-purpose",
        "sslserver",
        &p(&tls),
    ]);
    assert!(ok, "{out}");

    // Revoke, publish, and let openssl check the CRL's signature and contents.
    let serial = ca.request(s.id).unwrap().serial.unwrap();
    ca.revoke(
        &serial,
        RevocationReason::KeyCompromise,
        "CONTOSO\\Administrator",
    )
    .unwrap();
    let crl = write(
        dir.path(),
        "ca.crl.pem",
        &pem("X509 CRL", &ca.publish_crl(CrlKind::Base).unwrap()),
    );
    let (ok, out) = run(&[
        "crl",
        "-in",
        &p(&crl),
        "-CAfile",
        &p(&both),
        "-noout",
        "-verify",
    ]);
    assert!(ok && out.contains("verify OK"), "{out}");
    let (_, text) = run(&["crl", "-in", &p(&crl), "-noout", "-text"]);
    assert!(
        text.to_uppercase().contains(&serial.to_uppercase()),
        "{text}"
    );
    assert!(text.contains("Key Compromise"), "{text}");
    let root_crl = write(
        dir.path(),
        "root.crl.pem",
        &pem("X509 CRL", &ca.root_crl().unwrap().unwrap()),
    );
    let (ok, out) = run(&[
        "verify",
        "-crl_check_all",
        "-CAfile",
        &p(&root),
        "-untrusted",
        &p(&issuing),
        "-CRLfile",
        &p(&crl),
        "-CRLfile",
        &p(&root_crl),
        &p(&leaf),
    ]);
    assert!(!ok && out.contains("certificate revoked"), "{out}");
    let delta = write(
        dir.path(),
        "delta.pem",
        &pem("X509 CRL", &ca.publish_crl(CrlKind::Delta).unwrap()),
    );
    let (ok, out) = run(&[
        "crl",
        "-in",
        &p(&delta),
        "-CAfile",
        &p(&both),
        "-noout",
        "-verify",
    ]);
    assert!(ok, "{out}");
}

#[test]
fn openssl_sees_an_expired_certificate_at_the_virtual_time() {
    let Some(_) = openssl() else {
        eprintln!("SKIPPED: openssl is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(enterprise(), Seed(22), clock()).unwrap();
    let s = ca
        .submit(
            &request(&Req::default()),
            &alice(),
            &template_attr("WebServer"),
        )
        .unwrap();
    let root = write(
        dir.path(),
        "root.pem",
        &pem("CERTIFICATE", &ca.root_certificate()),
    );
    let leaf = write(
        dir.path(),
        "leaf.pem",
        &pem("CERTIFICATE", s.certificate.as_ref().unwrap()),
    );
    let at = |t: i64| {
        run(&[
            "verify",
            "-attime",
            &t.to_string(),
            "-CAfile",
            root.to_str().unwrap(),
            leaf.to_str().unwrap(),
        ])
    };
    let (ok, out) = at(ca.clock().now());
    assert!(ok, "{out}");
    ca.clock().advance(800 * 86_400);
    let (ok, out) = at(ca.clock().now());
    assert!(!ok && out.contains("expired"), "{out}");
}

#[test]
fn every_reference_request_parses_and_issues_or_is_denied_correctly() {
    let Some(dir) = reference_dir() else {
        eprintln!("SKIPPED: ADCS_REFERENCE_DIR is not set (point it at shared/reference to run this conformance test)");
        return;
    };
    let mut config = enterprise();
    let mut ecc = config.template("WebServer").unwrap().clone();
    ecc.name = "WebServerECC".into();
    ecc.key_families = vec![KeyFamily::Ecdsa];
    ecc.min_key_size = 256;
    ecc.subject = SubjectSource::Request;
    config.templates.push(ecc);
    let ca = Ca::new(config, Seed(23), clock()).unwrap();
    let user = Requester::new("CONTOSO\\alice").with_group("CONTOSO\\Domain Users");

    let mut seen = 0;
    let mut entries: Vec<_> = std::fs::read_dir(dir.join("req"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(&path).unwrap();
        seen += 1;
        let parsed = parse_request(&bytes);
        let (template, expect) = if name.contains("_dsa_") {
            ("WebServer", Err(HResult::NTE_BAD_ALGID))
        } else if name.contains("template_user") || name.contains("user_template") {
            // Older Windows, 1024-bit RSA, template User named in the request.
            let p = parsed.as_ref().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(p.attribute("CertificateTemplate"), Some("User"), "{name}");
            assert!(
                p.os_version.is_some() && p.csp.is_some(),
                "{name}: Microsoft attributes read"
            );
            let s = ca.submit(&bytes, &user, &[]).unwrap();
            assert_eq!(
                (s.disposition, s.status),
                (Disposition::Denied, HResult::KEY_LENGTH),
                "{name}: {}",
                s.message
            );
            // Issued where the User template accepts 1024-bit keys.
            let mut config = enterprise();
            config
                .templates
                .iter_mut()
                .find(|t| t.name == "User")
                .unwrap()
                .min_key_size = 1024;
            let legacy_ca = Ca::new(config, Seed(23), clock()).unwrap();
            let s = legacy_ca.submit(&bytes, &user, &[]).unwrap();
            assert_eq!(
                s.disposition,
                Disposition::Issued,
                "{name}: {} {}",
                s.message,
                s.status.status_text()
            );
            continue;
        } else if name.contains("ecdsa") {
            ("WebServerECC", Ok(()))
        } else {
            ("WebServer", Ok(()))
        };
        match expect {
            Err(hr) => {
                let e = parsed.expect_err(&name);
                assert_eq!(e.hresult, hr, "{name}");
                let s = ca.submit(&bytes, &user, &template_attr(template)).unwrap();
                assert_eq!(
                    (s.disposition, s.status),
                    (Disposition::Denied, hr),
                    "{name}"
                );
            }
            Ok(()) => {
                parsed.unwrap_or_else(|e| panic!("{name}: {e}"));
                let s = ca.submit(&bytes, &user, &template_attr(template)).unwrap();
                assert_eq!(s.disposition, Disposition::Issued, "{name}: {}", s.message);
            }
        }
    }
    assert_eq!(seen, 6, "all reference requests visited");
}
