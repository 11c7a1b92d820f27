//! Every real-world INF in shared/reference/inf (ADCS_REFERENCE_DIR) is
//! read into the request it describes, or refused with certreq's message.

use std::path::PathBuf;

use adcs_client::inf::{BasicConstraints, HashChoice, Inf, KeyChoice, RequestKind, RequestSpec};
use adcs_proto::x509::SanEntry;

const SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";

fn read(name: &str) -> Option<Result<RequestSpec, String>> {
    let dir = PathBuf::from(std::env::var_os("ADCS_REFERENCE_DIR")?);
    let inf = Inf::read(&dir.join("inf").join(name)).map_err(|e| e.to_string());
    Some(inf.and_then(|i| RequestSpec::from_inf(&i).map_err(|e| e.to_string())))
}

#[test]
fn every_reference_inf_is_read_or_refused_as_certreq_does() {
    let Some(dir) = std::env::var_os("ADCS_REFERENCE_DIR").map(PathBuf::from) else {
        eprintln!("SKIPPED: ADCS_REFERENCE_DIR is not set (point it at shared/reference to run this conformance test)");
        return;
    };
    let mut seen = 0;
    for entry in std::fs::read_dir(dir.join("inf")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let got = read(&name).unwrap();
        seen += 1;
        match name.as_str() {
            "blakedrumm_scom_offline_request.inf" => {
                let s = got.unwrap();
                assert_eq!(
                    s.subject,
                    "CN=IIS-2019,OU=Servers,O=Support Team,L=Charlotte,S=North Carolina,C=US"
                );
                assert_eq!(
                    (s.key, s.key_spec, s.key_usage),
                    (KeyChoice::Rsa(2048), 1, Some(0xf0))
                );
                assert!(s.exportable && s.machine_key_set);
                assert_eq!(s.ekus, vec![SERVER_AUTH, CLIENT_AUTH]);
                assert!(
                    s.attributes.is_empty() && s.warnings.is_empty(),
                    "{:?}",
                    s.warnings
                );
            }
            "edk2_TestEKUParsingIssuingCA.ini" => {
                let s = got.unwrap();
                assert_eq!(
                    (s.request_type, s.key, s.key_usage),
                    (RequestKind::Cert, KeyChoice::Ecdsa(256), Some(0x04))
                );
                assert_eq!(
                    s.basic_constraints,
                    Some(BasicConstraints {
                        ca: true,
                        path_length: Some(0)
                    })
                );
                assert_eq!(s.critical, vec!["2.5.29.19"]);
                assert_eq!(s.ekus, vec!["1.3.6.1.4.1.311.76.9.21.1"]);
                assert_eq!((s.validity_days, s.key_spec), (Some(20 * 365), 0));
            }
            "edk2_TestEKUParsingLeafSignerPid12345.ini" => {
                let s = got.unwrap();
                assert_eq!(
                    (s.key, s.key_spec, s.key_usage),
                    (KeyChoice::Rsa(2048), 2, Some(0x86))
                );
                assert_eq!(
                    s.ekus,
                    vec![
                        "1.3.6.1.4.1.311.76.9.21.1",
                        "1.3.6.1.4.1.311.76.9.21.1.12345"
                    ]
                );
            }
            "edk2_TestEKUParsingRoot.ini" => {
                let s = got.unwrap();
                assert_eq!((s.key, s.key_usage), (KeyChoice::Ecdsa(521), Some(0x86)));
                assert_eq!(
                    s.basic_constraints,
                    Some(BasicConstraints {
                        ca: true,
                        path_length: None
                    })
                );
            }
            "msdocs_certreq_requestconfig.inf" => {
                let e = got.unwrap_err();
                assert!(
                    e.contains("line 11: [Extensions] OID = 1.3.6.1.5.5.7.3.1"),
                    "{e}"
                );
                assert!(e.contains("Certificate Request Processor: The parameter is incorrect. 0x80070057 (WIN32: 87 ERROR_INVALID_PARAMETER)"), "{e}");
            }
            "msdocs_certreq_san_text.inf" => {
                let s = got.unwrap();
                assert_eq!(s.request_type, RequestKind::Cert);
                assert_eq!(
                    s.san,
                    vec![
                        SanEntry::Dns("example.com".into()),
                        SanEntry::Dns("www.example.com".into()),
                        SanEntry::Ip("192.168.1.1".parse().unwrap()),
                    ]
                );
            }
            "msdocs_certreq_strings_eku_text.inf" => {
                assert_eq!(got.unwrap().ekus, vec![SERVER_AUTH, CLIENT_AUTH]);
            }
            "msdocs_scom_obtain_certificate_2022.inf"
            | "msdocs_scom_obtain_certificate_2025.inf" => {
                check_scom_guide_inf(&name, &got.unwrap());
            }
            "tamemycerts_Computer_Online_DSA.inf" => {
                let s = got.unwrap();
                assert_eq!(
                    (s.key, s.hash, s.key_spec, s.subject.as_str()),
                    (KeyChoice::Dsa(1024), HashChoice::Sha1, 2, "CN=")
                );
                assert_eq!(
                    s.provider_name.as_deref(),
                    Some("Microsoft Base DSS Cryptographic Provider")
                );
            }
            "tamemycerts_GenericWebServer_SubjectOnly.inf" => {
                assert!(got.unwrap_err().contains("this is a `certreq -policy` INF"));
            }
            "tamemycerts_GenericWebServer_process_allowed.inf" => {
                let s = got.unwrap();
                assert_eq!(
                    (s.subject.as_str(), s.key, s.request_type),
                    (
                        "CN=www.intra.tmctests.internal",
                        KeyChoice::Rsa(2048),
                        RequestKind::Pkcs10
                    )
                );
            }
            other => panic!("new reference INF {other}: add its expectation here"),
        }
    }
    assert_eq!(seen, 12);
}

/// The SCOM guide's INF (2022 and 2025 editions): Microsoft's SChannel CSP
/// key, and the warnings certreq's reader gives for its known slips.
fn check_scom_guide_inf(name: &str, s: &RequestSpec) {
    assert_eq!(s.subject, "CN=server.contoso.com");
    assert_eq!(
        (s.key, s.key_spec, s.key_usage, s.provider_type),
        (KeyChoice::Rsa(2048), 1, Some(0xf0), Some(12))
    );
    assert_eq!(
        s.provider_name.as_deref(),
        Some("Microsoft RSA SChannel Cryptographic Provider")
    );
    assert!(s.machine_key_set && !s.exportable);
    assert_eq!(s.ekus, vec![SERVER_AUTH, CLIENT_AUTH]);
    let exportable_warning = s
        .warnings
        .iter()
        .find(|w| w.message.contains("`Key Exportable`"))
        .expect("Key Exportable warning");
    assert!(
        exportable_warning
            .to_string()
            .contains(&format!("{name}: line 3: warning:")),
        "{exportable_warning}"
    );
    let typographic = s
        .warnings
        .iter()
        .any(|w| w.message.contains("typographic quotes") && w.line == 2);
    assert_eq!(typographic, name.contains("2022"), "{:?}", s.warnings);
    if name.contains("2025") {
        assert_eq!(
            s.attributes,
            vec![(
                "CertificateTemplate".to_string(),
                "OperationsManager".to_string()
            )]
        );
    }
}

/// `openssl req -verify` on a PEM request; `None` (with a SKIPPED note)
/// when openssl is not installed (`.ci/run` installs it).
fn openssl_verifies_request(pem: &str) -> Option<bool> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.req");
    std::fs::write(&path, pem).unwrap();
    let Ok(out) = std::process::Command::new("openssl")
        .args(["req", "-verify", "-noout", "-in"])
        .arg(&path)
        .output()
    else {
        eprintln!("SKIPPED: openssl is not installed; `openssl req -verify` left out");
        return None;
    };
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    Some(
        out.status.success()
            && text.to_ascii_lowercase().contains("verif")
            && !text.contains("fail"),
    )
}

#[test]
fn every_readable_reference_inf_produces_a_request_windows_would() {
    use adcs_client::keys::key_rng;
    use adcs_client::request::{effective_key_usage, new_request, provider, Requester};
    use adcs_proto::request::parse_request;
    use adcs_proto::seed::Seed;
    let Some(dir) = std::env::var_os("ADCS_REFERENCE_DIR").map(PathBuf::from) else {
        eprintln!("SKIPPED: ADCS_REFERENCE_DIR is not set");
        return;
    };
    let who = Requester {
        machine: "scom01.contoso.com".into(),
        user: "CONTOSO\\alice".into(),
        os_version: "10.0.20348.2".into(),
    };
    let mut made = 0;
    for entry in std::fs::read_dir(dir.join("inf")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let Some(Ok(spec)) = read(&name) else {
            continue;
        };
        let mut rng = key_rng(Some(&Seed(11)), &name);
        let made_req = new_request(&spec, &mut rng, &who, 1_700_000_000).unwrap();
        made += 1;
        let ku = effective_key_usage(&spec).unwrap();
        match spec.request_type {
            // The mock CA refuses DSA keys (NTE_BAD_ALGID), so its request
            // reader does not take this one; OpenSSL and x509-parser do.
            RequestKind::Pkcs10 if matches!(spec.key, KeyChoice::Dsa(_)) => {
                assert_ne!(
                    openssl_verifies_request(&made_req.pem()),
                    Some(false),
                    "{name}"
                );
                use x509_parser::prelude::FromDer;
                let (_, req) =
                    x509_parser::certification_request::X509CertificationRequest::from_der(
                        &made_req.der,
                    )
                    .unwrap();
                assert_eq!(
                    req.signature_algorithm.algorithm.to_id_string(),
                    "1.2.840.10040.4.3",
                    "dsaWithSHA1, as the Base DSS CSP signs"
                );
                assert_eq!(
                    req.certification_request_info
                        .subject_pki
                        .algorithm
                        .algorithm
                        .to_id_string(),
                    "1.2.840.10040.4.1"
                );
                checks_extensions(&name, &spec, &made_req.der, true);
            }
            RequestKind::Pkcs10 => {
                assert_ne!(
                    openssl_verifies_request(&made_req.pem()),
                    Some(false),
                    "{name}"
                );
                let req = parse_request(made_req.der.as_slice()).unwrap();
                assert_eq!(req.spki_der, made_req.key.spki_der(), "{name}");
                assert_eq!(
                    adcs_proto::names::format_dn(&req.subject).is_empty(),
                    spec.subject.is_empty()
                );
                assert_eq!(req.os_version.as_deref(), Some("10.0.20348.2"));
                let client = req.client_info.clone().unwrap();
                assert_eq!(
                    (
                        client.client_id,
                        client.machine.as_str(),
                        client.user.as_str(),
                        client.process.as_str()
                    ),
                    (9, "scom01.contoso.com", "CONTOSO\\alice", "certreq")
                );
                let csp = req.csp.clone().unwrap();
                let (spec_key_spec, spec_provider) = provider(&spec);
                assert_eq!(
                    (csp.key_spec, csp.provider.as_str()),
                    (i64::from(spec_key_spec), spec_provider.as_str()),
                    "{name}"
                );
                let ku_ext = req.extension(adcs_proto::protocol::oid::KEY_USAGE).unwrap();
                assert!(ku_ext.critical);
                assert_eq!(
                    adcs_proto::x509::key_usage_bits(ku_ext.extn_value.as_bytes()),
                    Some(ku)
                );
                for (n, v) in &spec.attributes {
                    assert_eq!(req.attribute(n), Some(v.as_str()), "{name}");
                }
                if name.starts_with("msdocs_scom") {
                    // 0xf0 = digitalSignature, nonRepudiation, keyEncipherment, dataEncipherment.
                    assert_eq!(ku_ext.extn_value.as_bytes(), [0x03, 0x02, 0x04, 0xf0]);
                    assert_eq!(
                        (csp.key_spec, csp.provider.as_str()),
                        (1, "Microsoft RSA SChannel Cryptographic Provider")
                    );
                }
                if name.contains("2025") {
                    assert_eq!(
                        req.template_ref(),
                        Some(adcs_proto::request::TemplateRef::Name(
                            "OperationsManager".into()
                        ))
                    );
                }
                checks_extensions(&name, &spec, &made_req.der, true);
            }
            RequestKind::Cert => {
                let (_, cert) = x509_parser::parse_x509_certificate(&made_req.der).unwrap();
                assert_eq!(cert.subject(), cert.issuer());
                assert!(
                    adcs_proto::x509::verify_signed(&made_req.der, made_req.key.spki_der()),
                    "{name}"
                );
                let ku_bits = cert.key_usage().unwrap().unwrap().value.flags;
                // x509-parser numbers bits from digitalSignature = 1.
                assert_eq!(ku_bits.reverse_bits() >> 8, ku, "{name}");
                checks_extensions(&name, &spec, &made_req.der, false);
            }
        }
    }
    assert_eq!(made, 10);
}

/// EKUs, SANs and basic constraints as the spec asked, read back by x509-parser.
fn checks_extensions(name: &str, spec: &RequestSpec, der: &[u8], is_request: bool) {
    use x509_parser::prelude::FromDer;
    let (mut ekus, dns, bc) = if is_request {
        let (_, req) =
            x509_parser::certification_request::X509CertificationRequest::from_der(der).unwrap();
        summarize(req.requested_extensions().into_iter().flatten())
    } else {
        let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
        summarize(cert.extensions().iter().map(|e| e.parsed_extension()))
    };
    let mut want_ekus = spec.ekus.clone();
    want_ekus.sort();
    ekus.sort();
    assert_eq!(ekus, want_ekus, "{name}");
    let want_dns: Vec<String> = spec
        .san
        .iter()
        .filter_map(|s| match s {
            SanEntry::Dns(d) => Some(d.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(dns, want_dns, "{name}");
    assert_eq!(
        bc,
        spec.basic_constraints.map(|b| (b.ca, b.path_length)),
        "{name}"
    );
}

type Summary = (Vec<String>, Vec<String>, Option<(bool, Option<u32>)>);

/// EKU OIDs, DNS SANs and basic constraints of parsed extensions.
fn summarize<'a>(
    exts: impl Iterator<Item = &'a x509_parser::extensions::ParsedExtension<'a>>,
) -> Summary {
    use x509_parser::extensions::ParsedExtension;
    let mut ekus = Vec::new();
    let mut dns = Vec::new();
    let mut bc = None;
    for e in exts {
        match e {
            ParsedExtension::ExtendedKeyUsage(k) => {
                if k.server_auth {
                    ekus.push(SERVER_AUTH.to_string())
                }
                if k.client_auth {
                    ekus.push(CLIENT_AUTH.to_string())
                }
                ekus.extend(k.other.iter().map(|o| o.to_id_string()));
            }
            ParsedExtension::SubjectAlternativeName(s) => {
                for n in &s.general_names {
                    if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                        dns.push(d.to_string());
                    }
                }
            }
            ParsedExtension::BasicConstraints(b) => bc = Some((b.ca, b.path_len_constraint)),
            _ => {}
        }
    }
    (ekus, dns, bc)
}
