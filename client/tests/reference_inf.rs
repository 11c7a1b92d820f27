//! Every real-world INF in shared/reference/inf (ADCS_REFERENCE_DIR) is
//! read into the request it describes, or refused with certreq's message.

use std::path::PathBuf;

use adcs_client::inf::{BasicConstraints, Inf, KeyChoice, RequestKind, RequestSpec};
use mock_ca::x509::SanEntry;

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
                let s = got.unwrap();
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
            "tamemycerts_Computer_Online_DSA.inf" => {
                let e = got.unwrap_err();
                assert!(
                    e.contains("line 3: KeyAlgorithm: KeyAlgorithm DSA is not supported"),
                    "{e}"
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
