//! End-to-end tests of the CA engine through its library API.

use crate::support::*;
use adcs_proto::protocol::oid;
use adcs_proto::serial::parse_adcs_serial;
use adcs_proto::x509::{parse_san, verify_signed, SanEntry};
use mock_ca::template::{KeyFamily, SubjectSource};
use mock_ca::{
    Ca, CaConfig, CrlKind, Disposition, HResult, KeyAlgorithm, Requester, RevocationReason, Seed,
};
use x509_parser::prelude::*;

fn ca(config: CaConfig) -> Ca {
    Ca::new(config, Seed(11), clock()).unwrap()
}

fn ext_oids(cert: &X509Certificate<'_>) -> Vec<String> {
    cert.extensions()
        .iter()
        .map(|e| e.oid.to_id_string())
        .collect()
}

#[test]
fn fresh_ca_has_request_one_and_issues_by_template_like_adcs() {
    let ca = ca(enterprise());
    let one = ca
        .request(1)
        .expect("request 1 is the web server's certificate");
    assert_eq!(one.disposition, Disposition::Issued);
    assert_eq!(one.template.as_deref(), Some("WebServer"));

    let req = request(&Req {
        san: vec![SanEntry::Dns("web01.contoso.test".into())],
        ..Req::default()
    });
    let s = ca
        .submit(&req, &alice(), &template_attr("WebServer"))
        .unwrap();
    assert_eq!(
        (s.id, s.disposition, s.status),
        (2, Disposition::Issued, HResult::S_OK)
    );
    assert_eq!(s.message, "Issued");
    let der = s.certificate.unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();

    // Issuer keeps its repeated DC parts; encoded root first.
    assert_eq!(
        cert.issuer().to_string(),
        "DC=test, DC=contoso, CN=contoso-TEST-CA"
    );
    assert_eq!(cert.subject().to_string(), "CN=web01.contoso.test");
    // 19-byte AD CS serial carrying the request ID and CA index 0.
    let serial = cert.raw_serial();
    assert_eq!(serial.len(), 19);
    assert_eq!(parse_adcs_serial(serial), Some((2, 0)));
    assert!(serial[0] & 0x80 == 0);
    // Extension order of a real AD CS v1-template certificate.
    assert_eq!(
        ext_oids(&cert),
        [
            "2.5.29.14",
            "2.5.29.17",
            "2.5.29.35",
            "2.5.29.31",
            "1.3.6.1.5.5.7.1.1",
            "1.3.6.1.4.1.311.20.2",
            "2.5.29.15",
            "2.5.29.37"
        ]
    );
    let ku = cert.key_usage().unwrap().unwrap();
    assert!(
        ku.critical
            && ku.value.digital_signature()
            && ku.value.key_encipherment()
            && !ku.value.non_repudiation()
    );
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(
        eku.server_auth && !eku.client_auth,
        "WebServer has server auth only, whatever was requested"
    );
    // CDP and AIA point at the mock's /CertEnroll/ paths.
    let text = format!("{:?}", cert.extensions());
    assert!(
        text.contains("http://ca01.contoso.test/CertEnroll/contoso-TEST-CA.crl"),
        "{text}"
    );
    assert!(
        text.contains("http://ca01.contoso.test/CertEnroll/ca01.contoso.test_contoso-TEST-CA.crt")
    );
    // notBefore is backdated by the 10-minute skew; WebServer is valid two years.
    assert_eq!(cert.validity().not_before.timestamp(), T0 - 600);
    assert_eq!(cert.validity().not_after.timestamp(), T0 + 730 * 86_400);

    let row = ca
        .request_by_serial(&adcs_proto::hex::hex(serial).to_uppercase())
        .unwrap();
    assert_eq!(row.id, 2);
    assert_eq!(row.requester.account, "CONTOSO\\alice");
}

#[test]
fn v2_template_writes_template_oid_and_application_policies() {
    let ca = ca(enterprise());
    let s = ca
        .submit(
            &request(&Req::default()),
            &alice(),
            &template_attr("operationsmanager"),
        )
        .unwrap();
    assert_eq!(s.disposition, Disposition::Issued, "{}", s.message);
    let der = s.certificate.unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let oids = ext_oids(&cert);
    assert_eq!(
        &oids[4..],
        [
            "2.5.29.15",
            "1.3.6.1.4.1.311.21.7",
            "2.5.29.37",
            "1.3.6.1.4.1.311.21.10"
        ]
    );
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth);
    assert_eq!(
        ca.request(s.id).unwrap().template.as_deref(),
        Some("OperationsManager")
    );
}

#[test]
fn template_from_the_request_extension_when_no_attribute() {
    let ca = ca(enterprise());
    let s = ca
        .submit(
            &request(&Req {
                template_ext: Some("WebServer"),
                ..Req::default()
            }),
            &alice(),
            &[],
        )
        .unwrap();
    assert_eq!(s.disposition, Disposition::Issued, "{}", s.message);
    // Attribute and extension naming different templates conflict.
    let s = ca
        .submit(
            &request(&Req {
                template_ext: Some("WebServer"),
                ..Req::default()
            }),
            &alice(),
            &template_attr("OperationsManager"),
        )
        .unwrap();
    assert_eq!(
        (s.disposition, s.status),
        (Disposition::Denied, HResult::TEMPLATE_CONFLICT)
    );
}

#[test]
fn each_denial_path_returns_its_hresult() {
    let mut config = enterprise();
    config
        .templates
        .iter_mut()
        .find(|t| t.name == "WebServer")
        .unwrap()
        .enroll = vec!["CONTOSO\\Web Admins".into()];
    config
        .templates
        .iter_mut()
        .find(|t| t.name == "IPSECIntermediateOffline")
        .unwrap()
        .published = false;
    config
        .templates
        .iter_mut()
        .find(|t| t.name == "OperationsManager")
        .unwrap()
        .min_key_size = 3072;
    let ca = ca(config);
    let good = request(&Req::default());
    let mut tampered = good.clone();
    let n = tampered.len();
    tampered[n - 5] ^= 0x55;

    type Case<'a> = (&'a str, Vec<u8>, Vec<(String, String)>, HResult, &'a str);
    let cases: Vec<Case> = vec![
        ("unknown template", good.clone(), template_attr("NoSuchTemplate"), HResult::UNSUPPORTED_CERT_TYPE,
         "Denied by Policy Module  0x80094800, The request was for a certificate template that is not supported by the Active Directory Certificate Services policy: NoSuchTemplate."),
        ("unpublished template", good.clone(), template_attr("IPSECIntermediateOffline"), HResult::UNSUPPORTED_CERT_TYPE, "template that is not supported"),
        ("no template", good.clone(), vec![], HResult::NO_CERT_TYPE,
         "Denied by Policy Module  0x80094801, The request does not contain a certificate template extension or the CertificateTemplate request attribute."),
        ("template ACL", good.clone(), template_attr("WebServer"), HResult::TEMPLATE_DENIED, "Denied by Policy Module"),
        ("key too short", good.clone(), template_attr("OperationsManager"), HResult::KEY_LENGTH, "Denied by Policy Module"),
        ("ECDSA key on an RSA template", request(&Req { key: KeyAlgorithm::EcP256, ..Req::default() }), template_attr("Machine"), HResult::NTE_BAD_ALGID, "Denied by Policy Module"),
        ("bad signature", tampered, template_attr("Machine"), HResult::NTE_BAD_SIGNATURE, "Error Verifying Request Signature"),
        ("garbage", b"<html>not a request</html>".to_vec(), template_attr("Machine"), HResult::INVALID_DATA, "Error Parsing Request"),
        ("truncated DER", good[..good.len() / 2].to_vec(), template_attr("Machine"), HResult::ASN1_EOD, "Error Parsing Request"),
        ("oversized", vec![b'A'; 70_000], template_attr("Machine"), HResult::INVALID_DATA, "Error Parsing Request"),
    ];
    let mut expected_id = 2;
    for (what, bytes, attrs, hr, msg) in cases {
        let s = ca.submit(&bytes, &alice(), &attrs).unwrap();
        assert_eq!(
            s.id, expected_id,
            "{what}: one ID sequence for every disposition"
        );
        assert_eq!(s.disposition, Disposition::Denied, "{what}");
        assert_eq!(s.status, hr, "{what}: {}", s.message);
        assert!(s.message.contains(msg), "{what}: {}", s.message);
        assert_eq!(ca.request(s.id).unwrap().status, hr);
        expected_id += 1;
    }
    // The database stayed consistent: every row is there, denied, in order.
    let denied = ca.list(Some(Disposition::Denied));
    assert_eq!(
        denied.iter().map(|r| r.id).collect::<Vec<_>>(),
        (2..expected_id).collect::<Vec<_>>()
    );
    // The same user with the right group gets in.
    let admin = Requester::new("CONTOSO\\bob").with_group("CONTOSO\\Web Admins");
    assert_eq!(
        ca.submit(&good, &admin, &template_attr("WebServer"))
            .unwrap()
            .disposition,
        Disposition::Issued
    );
}

#[test]
fn cmc_is_refused_and_pkcs7_renewal_is_unwrapped() {
    let ca = ca(enterprise());
    let inner = request(&Req::default());
    let wrap = |content_type: &str, payload: &[u8]| -> Vec<u8> {
        use der::asn1::{Any, ObjectIdentifier, OctetString, SetOfVec};
        use der::{Encode, Tag, TagNumber};
        let octets = OctetString::new(payload).unwrap().to_der().unwrap();
        let explicit0 = |inner: &[u8]| {
            Any::new(
                Tag::ContextSpecific {
                    constructed: true,
                    number: TagNumber(0),
                },
                inner.to_vec(),
            )
            .unwrap()
        };
        let encap = vec![
            Any::encode_from(&ObjectIdentifier::new_unwrap(content_type)).unwrap(),
            explicit0(&octets),
        ];
        let signed = vec![
            Any::encode_from(&3u8).unwrap(),
            Any::encode_from(&SetOfVec::<Any>::new()).unwrap(),
            Any::encode_from(&encap).unwrap(),
            Any::encode_from(&SetOfVec::<Any>::new()).unwrap(),
        ];
        let ci = vec![
            Any::encode_from(&oid::PKCS7_SIGNED_DATA).unwrap(),
            explicit0(&signed.to_der().unwrap()),
        ];
        ci.to_der().unwrap()
    };
    let s = ca
        .submit(
            &wrap("1.3.6.1.5.5.7.12.2", b"\x30\x00"),
            &alice(),
            &template_attr("WebServer"),
        )
        .unwrap();
    assert_eq!(
        (s.disposition, s.status),
        (Disposition::Denied, HResult::NOT_SUPPORTED),
        "{}",
        s.message
    );
    let s = ca
        .submit(
            &wrap("1.2.840.113549.1.7.1", &inner),
            &alice(),
            &template_attr("WebServer"),
        )
        .unwrap();
    assert_eq!(s.disposition, Disposition::Issued, "{}", s.message);
}

#[test]
fn standalone_puts_everything_pending_until_an_officer_acts() {
    let ca = ca(CaConfig::standalone());
    let req = request(&Req {
        san: vec![SanEntry::Dns("scom01.contoso.test".into())],
        ..Req::default()
    });
    let a = ca.submit(&req, &alice(), &[]).unwrap();
    let b = ca
        .submit(&req, &alice(), &template_attr("Ignored"))
        .unwrap();
    for s in [&a, &b] {
        assert_eq!(
            (s.disposition, s.status),
            (Disposition::Pending, HResult::S_OK)
        );
        assert_eq!(s.message, "Taken Under Submission");
        assert!(s.certificate.is_none());
    }
    assert_eq!(ca.list(Some(Disposition::Pending)).len(), 2);

    let issued = ca.issue_pending(a.id, "CONTOSO\\Administrator").unwrap();
    assert_eq!(issued.disposition, Disposition::Issued);
    assert_eq!(issued.message, "Resubmitted by CONTOSO\\Administrator");
    let der = issued.certificate.unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    // A stand-alone CA copies what was requested: EKU and SAN, no template.
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth);
    assert!(!ext_oids(&cert)
        .iter()
        .any(|o| o.starts_with("1.3.6.1.4.1.311.2")));
    assert_eq!(cert.validity().not_after.timestamp(), T0 + 365 * 86_400);

    let denied = ca.deny(b.id, "CONTOSO\\Administrator").unwrap();
    assert_eq!(
        (denied.disposition, denied.status),
        (Disposition::Denied, HResult::ADMIN_DENIED_REQUEST)
    );
    assert_eq!(denied.message, "Denied by CONTOSO\\Administrator");

    // Acting twice, or on nothing, is refused with AD CS's codes.
    assert_eq!(
        ca.issue_pending(a.id, "x").unwrap_err().hresult(),
        HResult::BAD_REQUESTSTATUS
    );
    assert_eq!(
        ca.deny(b.id, "x").unwrap_err().hresult(),
        HResult::BAD_REQUESTSTATUS
    );
    assert_eq!(
        ca.issue_pending(999, "x").unwrap_err().hresult(),
        HResult::PROPERTY_EMPTY
    );
}

/// Approvals sign outside the engine's lock: officers racing on the same
/// request, or an officer and a denial, resolve it exactly once.
#[test]
fn concurrent_officers_resolve_a_request_once() {
    let ca = std::sync::Arc::new(ca(CaConfig::standalone()));
    let req = request(&Req::default());
    for round in 0..20 {
        let id = ca.submit(&req, &alice(), &[]).unwrap().id;
        let racers: Vec<_> = (0..4)
            .map(|i| {
                let ca = ca.clone();
                std::thread::spawn(move || {
                    if round % 2 == 1 && i == 3 {
                        ca.deny(id, "CONTOSO\\officer3").map(|s| s.disposition)
                    } else {
                        ca.issue_pending(id, &format!("CONTOSO\\officer{i}"))
                            .map(|s| s.disposition)
                    }
                })
            })
            .collect();
        let results: Vec<_> = racers.into_iter().map(|t| t.join().unwrap()).collect();
        let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(won.len(), 1, "round {round}: {results:?}");
        for r in results.iter().filter_map(|r| r.as_ref().err()) {
            assert_eq!(r.hresult(), HResult::BAD_REQUESTSTATUS, "round {round}");
        }
        let row = ca.request(id).unwrap();
        assert_eq!(row.disposition, *won[0], "round {round}");
        assert_eq!(row.certificate.is_some(), *won[0] == Disposition::Issued);
    }
}

#[test]
fn approval_required_template_goes_pending_in_enterprise_mode() {
    let mut config = enterprise();
    config
        .templates
        .iter_mut()
        .find(|t| t.name == "WebServer")
        .unwrap()
        .requires_approval = true;
    let ca = ca(config);
    let s = ca
        .submit(
            &request(&Req::default()),
            &alice(),
            &template_attr("WebServer"),
        )
        .unwrap();
    assert_eq!(s.disposition, Disposition::Pending);
    assert_eq!(
        ca.request(s.id).unwrap().template.as_deref(),
        Some("WebServer")
    );
    let s = ca.issue_pending(s.id, "CONTOSO\\officer").unwrap();
    assert_eq!(s.disposition, Disposition::Issued);
}

#[test]
fn subject_built_from_the_requester_and_san_attribute_flag() {
    let ca = ca(enterprise());
    let s = ca
        .submit(
            &request(&Req {
                subject: "CN=ignored",
                ..Req::default()
            }),
            &alice(),
            &template_attr("User"),
        )
        .unwrap();
    let der = s.certificate.unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    assert_eq!(
        cert.subject().to_string(),
        "DC=test, DC=contoso, CN=Users, CN=alice"
    );
    let san_ext = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == "2.5.29.17")
        .unwrap();
    assert_eq!(
        parse_san(san_ext.value).unwrap(),
        [SanEntry::Upn("alice@contoso.test".into())]
    );

    let san_attr = vec![
        ("CertificateTemplate".into(), "WebServer".into()),
        ("san".into(), "dns=a.test&dns=b.test".into()),
    ];
    let plain = ca
        .submit(&request(&Req::default()), &alice(), &san_attr)
        .unwrap();
    let der = plain.certificate.unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    assert!(
        cert.subject_alternative_name().unwrap().is_none(),
        "SAN attribute ignored without EDITF_ATTRIBUTESUBJECTALTNAME2"
    );

    let mut config = enterprise();
    config.edit_flags.attribute_subject_alt_name2 = true;
    let flagged = Ca::new(config, Seed(11), clock()).unwrap();
    let s = flagged
        .submit(&request(&Req::default()), &alice(), &san_attr)
        .unwrap();
    let der = s.certificate.unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let names = format!(
        "{:?}",
        cert.subject_alternative_name().unwrap().unwrap().value
    );
    assert!(
        names.contains("a.test") && names.contains("b.test"),
        "{names}"
    );
}

#[test]
fn same_seed_and_clock_give_identical_bytes() {
    let run = |seed: u64| {
        let ca = Ca::new(
            CaConfig {
                two_tier: true,
                ..enterprise()
            },
            Seed(seed),
            clock(),
        )
        .unwrap();
        let s = ca
            .submit(
                &request(&Req::default()),
                &alice(),
                &template_attr("WebServer"),
            )
            .unwrap();
        ca.revoke(
            ca.request(s.id).unwrap().serial.as_deref().unwrap(),
            RevocationReason::KeyCompromise,
            "x",
        )
        .unwrap();
        let crl = ca.publish_crl(CrlKind::Base).unwrap();
        (
            ca.root_certificate(),
            ca.ca_certificate(0).unwrap(),
            s.certificate.unwrap(),
            crl,
            ca.tls_identity(),
        )
    };
    let a = run(5);
    assert_eq!(a, run(5));
    let b = run(6);
    assert_ne!(a.0, b.0);
    assert_ne!(a.2, b.2);
}

#[test]
fn every_key_algorithm_makes_a_working_ca() {
    for alg in KeyAlgorithm::ALL {
        if matches!(alg, KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096)
            && std::env::var_os("ADCS_SLOW_TESTS").is_none()
        {
            continue; // covered by the bench and the slow run; seconds each in debug builds
        }
        let config = CaConfig {
            ca_key: alg,
            root_key: alg,
            two_tier: true,
            ..enterprise()
        };
        let ca = Ca::new(config, Seed(3), clock()).unwrap();
        let s = ca
            .submit(
                &request(&Req::default()),
                &alice(),
                &template_attr("WebServer"),
            )
            .unwrap();
        assert_eq!(s.disposition, Disposition::Issued, "{alg:?}: {}", s.message);
        let der = s.certificate.unwrap();
        let chain = ca.ca_chain(0).unwrap();
        let spki = |c: &[u8]| {
            X509Certificate::from_der(c)
                .unwrap()
                .1
                .public_key()
                .raw
                .to_vec()
        };
        assert!(verify_signed(&der, &spki(&chain[0])), "{alg:?}: leaf");
        assert!(
            verify_signed(&chain[0], &spki(&chain[1])),
            "{alg:?}: issuing CA"
        );
        assert!(
            !verify_signed(&der, &spki(&chain[1])),
            "{alg:?}: wrong key must fail"
        );
    }
}

#[test]
fn clock_drives_validity_and_expiry() {
    let ca = ca(enterprise());
    let s = ca
        .submit(
            &request(&Req::default()),
            &alice(),
            &template_attr("WebServer"),
        )
        .unwrap();
    let row = ca.request(s.id).unwrap();
    let serial = row.serial.clone().unwrap();
    ca.revoke(&serial, RevocationReason::Superseded, "x")
        .unwrap();
    let crl = ca.publish_crl(CrlKind::Base).unwrap();
    let (_, parsed) = CertificateRevocationList::from_der(&crl).unwrap();
    assert_eq!(parsed.iter_revoked_certificates().count(), 1);
    assert_eq!(parsed.last_update().timestamp(), T0);
    assert_eq!(parsed.next_update().unwrap().timestamp(), T0 + 168 * 3600);

    // Past its notAfter the certificate has expired and leaves the CRL.
    ca.clock().advance(731 * 86_400);
    assert!(row.not_after.unwrap() < ca.clock().now());
    let crl = ca.publish_crl(CrlKind::Base).unwrap();
    let (_, parsed) = CertificateRevocationList::from_der(&crl).unwrap();
    assert_eq!(parsed.iter_revoked_certificates().count(), 0);
    assert_eq!(parsed.last_update().timestamp(), T0 + 731 * 86_400);
}

#[test]
fn certificates_never_outlive_their_ca() {
    let config = CaConfig {
        root_validity_days: 100,
        ..enterprise()
    };
    let ca = ca(config);
    let s = ca
        .submit(
            &request(&Req::default()),
            &alice(),
            &template_attr("WebServer"),
        )
        .unwrap();
    let row = ca.request(s.id).unwrap();
    assert_eq!(row.not_after.unwrap(), T0 + 100 * 86_400);
}

#[test]
fn revocation_hold_unrevoke_and_delta_crls() {
    let ca = ca(enterprise());
    let s = ca
        .submit(
            &request(&Req::default()),
            &alice(),
            &template_attr("WebServer"),
        )
        .unwrap();
    let serial = ca.request(s.id).unwrap().serial.unwrap();
    let base = ca.publish_crl(CrlKind::Base).unwrap();
    ca.clock().advance(60);
    ca.revoke(&serial, RevocationReason::CertificateHold, "x")
        .unwrap();
    assert_eq!(ca.request(s.id).unwrap().disposition, Disposition::Revoked);
    let delta = ca.publish_crl(CrlKind::Delta).unwrap();
    let (_, d) = CertificateRevocationList::from_der(&delta).unwrap();
    let reasons: Vec<_> = d
        .iter_revoked_certificates()
        .map(|r| r.reason_code().map(|c| c.1 .0))
        .collect();
    assert_eq!(reasons, [Some(6)]);
    let (_, b) = CertificateRevocationList::from_der(&base).unwrap();
    assert!(
        b.crl_number().unwrap() < d.crl_number().unwrap(),
        "one number sequence"
    );
    assert!(d
        .extensions()
        .iter()
        .any(|e| e.oid.to_id_string() == "2.5.29.27" && e.critical));

    ca.clock().advance(60);
    ca.unrevoke(&serial, "x").unwrap();
    assert_eq!(ca.request(s.id).unwrap().disposition, Disposition::Issued);
    let delta = ca.publish_crl(CrlKind::Delta).unwrap();
    let (_, d) = CertificateRevocationList::from_der(&delta).unwrap();
    let reasons: Vec<_> = d
        .iter_revoked_certificates()
        .map(|r| r.reason_code().map(|c| c.1 .0))
        .collect();
    assert_eq!(reasons, [Some(8)], "removeFromCRL until the next base CRL");

    // Only a hold can be undone; unknown serials are refused.
    ca.revoke(&serial, RevocationReason::KeyCompromise, "x")
        .unwrap();
    assert_eq!(
        ca.unrevoke(&serial, "x").unwrap_err().hresult(),
        HResult::BAD_REQUESTSTATUS
    );
    assert_eq!(
        ca.revoke(&serial, RevocationReason::Unspecified, "x")
            .unwrap_err()
            .hresult(),
        HResult::BAD_REQUESTSTATUS
    );
    assert_eq!(
        ca.revoke("00ff", RevocationReason::Unspecified, "x")
            .unwrap_err()
            .hresult(),
        HResult::CRYPT_E_NOT_FOUND
    );
}

#[test]
fn ca_renewal_counts_and_keeps_old_certificates() {
    let ca = ca(enterprise());
    let first = ca.ca_certificate(0).unwrap();
    assert_eq!(ca.n_renewals(), 0);
    assert_eq!(ca.renew_ca(false).unwrap(), 1);
    assert_eq!(ca.renew_ca(true).unwrap(), 2);
    assert_eq!(ca.n_renewals(), 2);
    assert_eq!(
        ca.ca_certificate(0).unwrap(),
        first,
        "old CA certificates stay retrievable"
    );
    assert_eq!((ca.ca_key_index(1), ca.ca_key_index(2)), (Some(0), Some(1)));
    let ca_version = |der: &[u8]| -> Vec<u8> {
        let (_, c) = X509Certificate::from_der(der).unwrap();
        c.extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "1.3.6.1.4.1.311.21.1")
            .unwrap()
            .value
            .to_vec()
    };
    assert_eq!(ca_version(&ca.ca_certificate(0).unwrap()), [2, 1, 0]);
    assert_eq!(ca_version(&ca.ca_certificate(1).unwrap()), [2, 1, 1]);
    assert_eq!(
        ca_version(&ca.ca_certificate(2).unwrap()),
        [2, 3, 1, 0, 2],
        "key index 1, cert index 2"
    );
    // New issuance uses the newest certificate and key, and says so in the serial.
    let s = ca
        .submit(
            &request(&Req::default()),
            &alice(),
            &template_attr("WebServer"),
        )
        .unwrap();
    let row = ca.request(s.id).unwrap();
    assert_eq!((row.ca_cert_index, row.ca_key_index), (Some(2), Some(1)));
    let der = s.certificate.unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    assert_eq!(parse_adcs_serial(cert.raw_serial()), Some((s.id, 2)));
    let new_ca_der = ca.ca_certificate(2).unwrap();
    let (_, new_ca) = X509Certificate::from_der(&new_ca_der).unwrap();
    cert.verify_signature(Some(new_ca.public_key())).unwrap();
    assert!(format!("{:?}", cert.extensions()).contains("contoso-TEST-CA(1).crl"));
    // One CRL per key.
    assert_ne!(
        ca.crl(0, CrlKind::Base).unwrap(),
        ca.crl(1, CrlKind::Base).unwrap()
    );
    assert!(ca.crl(2, CrlKind::Base).is_err());
    let names: Vec<String> = ca.publication().into_iter().map(|p| p.0).collect();
    assert!(
        names.contains(&"ca01.contoso.test_contoso-TEST-CA(2).crt".to_string()),
        "{names:?}"
    );
}

#[test]
fn reset_returns_to_the_initial_state() {
    let ca = ca(enterprise());
    let first = ca.ca_certificate(0).unwrap();
    ca.submit(
        &request(&Req::default()),
        &alice(),
        &template_attr("WebServer"),
    )
    .unwrap();
    ca.renew_ca(true).unwrap();
    ca.reset().unwrap();
    assert_eq!(ca.n_renewals(), 0);
    assert_eq!(ca.ca_certificate(0).unwrap(), first);
    assert_eq!(ca.list(None).len(), 1);
    assert_eq!(ca.next_request_id(), 2);
}

#[test]
fn ecdsa_requests_issue_under_an_ecdsa_template() {
    let mut config = enterprise();
    let mut t = config.templates[0].clone();
    t.name = "WebServerECC".into();
    t.display_name = "Web Server (ECC)".into();
    t.key_families = vec![KeyFamily::Ecdsa];
    t.min_key_size = 256;
    t.subject = SubjectSource::Request;
    config.templates.push(t);
    let ca = ca(config);
    for alg in [
        KeyAlgorithm::EcP256,
        KeyAlgorithm::EcP384,
        KeyAlgorithm::EcP521,
    ] {
        let s = ca
            .submit(
                &request(&Req {
                    key: alg,
                    ..Req::default()
                }),
                &alice(),
                &template_attr("WebServerECC"),
            )
            .unwrap();
        assert_eq!(s.disposition, Disposition::Issued, "{alg:?}: {}", s.message);
    }
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let mut config = enterprise();
    config.templates.push(config.templates[0].clone());
    let e = Ca::new(config, Seed(1), clock()).unwrap_err().to_string();
    assert!(e.contains("duplicate template name `WebServer`"), "{e}");
    let e = Ca::new(
        CaConfig {
            ca_name: "CN=x,,".into(),
            ..enterprise()
        },
        Seed(1),
        clock(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("ca_name"), "{e}");
}
