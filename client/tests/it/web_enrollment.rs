//! The web enrollment client against the mock: every outcome, both modes,
//! Basic and NTLM, and the CA downloads.

use adcs_client::certsrv::{EnrollError, Outcome, WebEnrollment};
use adcs_client::http::{Credentials, Trust};
use adcs_proto::protocol::HResult;
use mock_ca::testing::{csr_pem, start_with};
use mock_ca::web::{Server, WebOptions};
use mock_ca::{CaConfig, KeyAlgorithm};

fn server(config: CaConfig) -> Server {
    start_with(config, WebOptions::default())
}

fn client(s: &Server, ntlm: bool, password: &str) -> WebEnrollment {
    let creds = if ntlm {
        Credentials::Ntlm {
            user: "alice@contoso.test".into(),
            password: password.into(),
            negotiate_label: false,
        }
    } else {
        Credentials::Basic {
            user: "CONTOSO\\alice".into(),
            password: password.into(),
        }
    };
    WebEnrollment::new(
        &s.certsrv_url(),
        Trust::Roots(vec![s.ca().root_certificate()]),
        creds,
    )
    .unwrap()
}

fn csr(cn: &str) -> String {
    csr_pem(cn, KeyAlgorithm::Rsa2048)
}

fn template(t: &str) -> Vec<(String, String)> {
    vec![("CertificateTemplate".into(), t.into())]
}

#[test]
fn enterprise_outcomes_with_basic_and_ntlm() {
    let s = server(CaConfig::default());
    for ntlm in [false, true] {
        let mut c = client(&s, ntlm, "Alice-Passw0rd");
        assert!(c.check_credentials().unwrap());
        let Outcome::Issued { id, certificate } = c
            .submit(&csr("e1.contoso.test"), &template("WebServer"))
            .unwrap()
        else {
            panic!("not issued")
        };
        assert_eq!(Some(certificate), s.ca().request(id).unwrap().certificate);
        match c
            .submit(&csr("e2.contoso.test"), &template("NoSuchTemplate"))
            .unwrap()
        {
            Outcome::Denied {
                id: Some(_),
                message,
                hresult,
            } => {
                assert!(message.contains("template that is not supported"));
                assert_eq!(hresult, Some(HResult::UNSUPPORTED_CERT_TYPE));
            }
            other => panic!("{other:?}"),
        }
        // Approval template: pending, then the officer decides.
        let Outcome::Pending { id } = c
            .submit(&csr("e3.contoso.test"), &template("WebServerApproval"))
            .unwrap()
        else {
            panic!("not pending")
        };
        assert_eq!(c.retrieve(id).unwrap(), Outcome::Pending { id });
        assert_eq!(c.check_pending(id).unwrap(), Outcome::Pending { id });
        s.ca().deny(id, "CONTOSO\\Administrator").unwrap();
        match c.retrieve(id).unwrap() {
            Outcome::Denied {
                message, hresult, ..
            } => {
                assert_eq!(message, "Denied by CONTOSO\\Administrator");
                assert_eq!(hresult, Some(HResult::ADMIN_DENIED_REQUEST));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            c.check_pending(id).unwrap(),
            Outcome::Denied { .. }
        ));
        match c.retrieve(9999).unwrap() {
            Outcome::Error { hresult, .. } => assert_eq!(hresult, Some(HResult::PROPERTY_EMPTY)),
            other => panic!("{other:?}"),
        }
    }
    // Wrong password: a typed auth failure, nothing submitted.
    let before = s.ca().next_request_id();
    for ntlm in [false, true] {
        let mut c = client(&s, ntlm, "wrong");
        assert!(!c.check_credentials().unwrap());
        assert!(matches!(
            c.submit(&csr("x.contoso.test"), &template("WebServer")),
            Err(EnrollError::Unauthorized(_))
        ));
    }
    assert_eq!(s.ca().next_request_id(), before);
}

#[test]
fn acl_denial_gets_its_code_from_the_retrieve_page() {
    let mut config = CaConfig::default();
    config
        .templates
        .iter_mut()
        .find(|t| t.name == "WebServer")
        .unwrap()
        .enroll = vec!["CONTOSO\\Web Admins".into()];
    let s = server(config);
    match client(&s, true, "Alice-Passw0rd")
        .submit(&csr("acl.contoso.test"), &template("WebServer"))
        .unwrap()
    {
        Outcome::Denied {
            message, hresult, ..
        } => {
            assert_eq!(message, "Denied by Policy Module");
            assert_eq!(hresult, Some(HResult::TEMPLATE_DENIED));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn standalone_pending_then_issued_and_ca_downloads() {
    let mut config = CaConfig::standalone();
    config.two_tier = true;
    let s = server(config);
    let mut c = client(&s, false, "Alice-Passw0rd");
    let Outcome::Pending { id } = c.submit(&csr("s1.contoso.test"), &[]).unwrap() else {
        panic!()
    };
    s.ca().issue_pending(id, "CONTOSO\\Administrator").unwrap();
    let Outcome::Issued { certificate, .. } = c.check_pending(id).unwrap() else {
        panic!()
    };
    assert_eq!(c.retrieve(id).unwrap(), Outcome::Issued { id, certificate });
    // Downloads: CA certificate, chain (issuing CA then root), CRL.
    assert_eq!(c.n_renewals().unwrap(), 0);
    let ca = c.ca_certificate(None).unwrap();
    assert_eq!(ca, s.ca().ca_certificate(0).unwrap());
    let chain = c.ca_chain(Some(0)).unwrap();
    assert_eq!(chain, vec![ca, s.ca().root_certificate()]);
    s.ca().publish_crl(mock_ca::CrlKind::Base).unwrap();
    assert!(x509_parser::parse_x509_crl(&c.crl(0, false).unwrap()).is_ok());
    s.ca().renew_ca(false).unwrap();
    assert_eq!(c.n_renewals().unwrap(), 1);
    assert_eq!(
        c.ca_certificate(None).unwrap(),
        s.ca().ca_certificate(1).unwrap()
    );
    assert!(matches!(
        c.crl(0, true),
        Ok(_) | Err(EnrollError::Unexpected { .. })
    ));
}
