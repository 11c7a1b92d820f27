//! The lab's misconfigurations as the CA engine acts on them: each ESC's
//! abusing request is issued as a misconfigured (or unpatched) CA issues
//! it, and the same request against the default CA is refused or stripped.

use crate::support::*;
use adcs_proto::protocol::oid;
use adcs_proto::x509::SanEntry;
use mock_ca::lab::{self, Esc};
use mock_ca::{Ca, CaConfig, Disposition, HResult, Seed, Submission};
use x509_parser::asn1_rs::{Any, FromDer as _};
use x509_parser::extensions::{GeneralName, SubjectAlternativeName};
use x509_parser::prelude::*;

const SID_EXT: &str = "1.3.6.1.4.1.311.25.2";
const APPLICATION_POLICIES: &str = "1.3.6.1.4.1.311.21.10";
const ADMIN_UPN: &str = "administrator@contoso.test";

fn vulnerable() -> Ca {
    let mut c = CaConfig::default();
    lab::apply(&mut c, &Esc::ALL);
    Ca::new(c, Seed(11), clock()).unwrap()
}

fn hardened() -> Ca {
    Ca::new(CaConfig::default(), Seed(11), clock()).unwrap()
}

/// alice submits `req` for `template`, with `extra` request attributes.
fn submit(ca: &Ca, req: &Req<'_>, template: &str, extra: &[(&str, &str)]) -> Submission {
    let mut attributes = template_attr(template);
    attributes.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    ca.submit(&request(req), &alice(), &attributes).unwrap()
}

fn issued(s: &Submission) -> Vec<u8> {
    assert_eq!(s.disposition, Disposition::Issued, "{}", s.message);
    s.certificate.clone().unwrap()
}

/// The value of the extension `oid`, if the certificate has it.
fn extension(der: &[u8], oid: &str) -> Option<Vec<u8>> {
    let (_, cert) = X509Certificate::from_der(der).unwrap();
    cert.extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == oid)
        .map(|e| e.value.to_vec())
}

/// The UPNs in the certificate's SAN (otherName 1.3.6.1.4.1.311.20.2.3).
fn upns(der: &[u8]) -> Vec<String> {
    let Some(value) = extension(der, "2.5.29.17") else {
        return Vec::new();
    };
    let (_, san) = SubjectAlternativeName::from_der(&value).unwrap();
    san.general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::OtherName(id, v) if id.to_id_string() == "1.3.6.1.4.1.311.20.2.3" => {
                let (_, explicit) = Any::from_der(v).unwrap();
                let (_, text) = Any::from_der(explicit.data).unwrap();
                Some(String::from_utf8(text.data.to_vec()).unwrap())
            }
            _ => None,
        })
        .collect()
}

/// The OIDs of a SEQUENCE OF SEQUENCE { OID, … } value (certificate and
/// application policies), in order.
fn policy_oids(value: &[u8]) -> Vec<String> {
    let (_, outer) = Any::from_der(value).unwrap();
    let mut rest = outer.data;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (next, inner) = Any::from_der(rest).unwrap();
        let (_, oid) = x509_parser::der_parser::oid::Oid::from_der(inner.data).unwrap();
        out.push(oid.to_id_string());
        rest = next;
    }
    out
}

fn ekus(der: &[u8]) -> Vec<String> {
    let (_, cert) = X509Certificate::from_der(der).unwrap();
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    let known = [
        (eku.any, oid::EKU_ANY_PURPOSE),
        (eku.server_auth, oid::EKU_SERVER_AUTH),
        (eku.client_auth, oid::EKU_CLIENT_AUTH),
    ];
    let mut out: Vec<String> = known
        .iter()
        .filter(|(set, _)| *set)
        .map(|(_, o)| o.to_string())
        .collect();
    out.extend(eku.other.iter().map(|o| o.to_id_string()));
    out
}

fn admin_san() -> Req<'static> {
    Req {
        subject: "CN=Administrator",
        san: vec![SanEntry::Upn(ADMIN_UPN.into())],
        ..Req::default()
    }
}

#[test]
fn esc1_the_subject_and_upn_come_from_the_request() {
    let der = issued(&submit(&vulnerable(), &admin_san(), "ESC1", &[]));
    assert_eq!(upns(&der), [ADMIN_UPN]);
    assert!(
        extension(&der, SID_EXT).is_none(),
        "the request names the subject"
    );
    assert_eq!(ekus(&der), [oid::EKU_CLIENT_AUTH]);
    // The default CA has no such template, and User ignores the request's SAN.
    let refused = submit(&hardened(), &admin_san(), "ESC1", &[]);
    assert_eq!(refused.disposition, Disposition::Denied);
    assert_eq!(refused.status, HResult::UNSUPPORTED_CERT_TYPE);
    let user = issued(&submit(&hardened(), &admin_san(), "User", &[]));
    assert_eq!(upns(&user), ["alice@contoso.test"]);
}

#[test]
fn the_audit_view_shows_the_names_as_requested_and_as_issued() {
    let ca = vulnerable();
    let esc1 = submit(&ca, &admin_san(), "ESC1", &[]);
    let a = mock_ca::audit::of(&ca.request(esc1.id).unwrap());
    assert_eq!(a.events, [4886, 4887]);
    assert_eq!(a.requester, "CONTOSO\\alice");
    assert_eq!(a.template.as_deref(), Some("ESC1"));
    let requested = a.requested.unwrap();
    assert_eq!(requested.san, [format!("upn={ADMIN_UPN}")]);
    assert_eq!(a.issued.unwrap().san, requested.san, "ESC1 takes it");
    // ESC6: the name comes from an attribute, not the request's SAN.
    let san = [("SAN", "upn=administrator@contoso.test")];
    let esc6 = submit(&ca, &Req::default(), "User", &san);
    let a = mock_ca::audit::of(&ca.request(esc6.id).unwrap());
    assert!(a.requested.unwrap().san.is_empty());
    assert!(a
        .attributes
        .contains(&("SAN".into(), "upn=administrator@contoso.test".into())));
    assert_eq!(a.issued.unwrap().san, [format!("upn={ADMIN_UPN}")]);
    assert!(!a.issued_sid, "ESC16");
    // Refused on the default CA: received, then denied, nothing issued.
    let default = hardened();
    let refused = submit(&default, &admin_san(), "ESC1", &[]);
    let a = mock_ca::audit::of(&default.request(refused.id).unwrap());
    assert_eq!(a.events, [4886, 4888]);
    assert!(a.issued.is_none());
}

#[test]
fn esc2_and_esc3_templates_issue_any_purpose_and_request_agent_certificates() {
    let ca = vulnerable();
    let any = issued(&submit(&ca, &Req::default(), "ESC2", &[]));
    assert_eq!(ekus(&any), [oid::EKU_ANY_PURPOSE]);
    let agent = issued(&submit(&ca, &Req::default(), "ESC3", &[]));
    assert_eq!(ekus(&agent), [oid::EKU_CERTIFICATE_REQUEST_AGENT]);
    assert_eq!(
        upns(&agent),
        ["alice@contoso.test"],
        "the agent's own names"
    );
}

#[test]
fn esc6_a_san_attribute_wins_on_a_template_built_from_the_directory() {
    let san = [("SAN", "upn=administrator@contoso.test")];
    let der = issued(&submit(&vulnerable(), &Req::default(), "User", &san));
    assert_eq!(upns(&der), [ADMIN_UPN]);
    // Strong mapping still names the requester (why ESC6 alone is patched).
    let sid = extension(&der, SID_EXT);
    let plain = issued(&submit(&hardened(), &Req::default(), "User", &san));
    assert_eq!(
        upns(&plain),
        ["alice@contoso.test"],
        "the attribute ignored"
    );
    assert!(
        sid.is_none(),
        "the lab also disables the SID extension (ESC16)"
    );
    let mut only_esc6 = CaConfig::default();
    lab::apply(&mut only_esc6, &[Esc::Esc6]);
    let ca = Ca::new(only_esc6, Seed(11), clock()).unwrap();
    let der = issued(&submit(&ca, &Req::default(), "User", &san));
    assert_eq!(upns(&der), [ADMIN_UPN]);
    assert_eq!(
        extension(&der, SID_EXT),
        extension(&plain, SID_EXT),
        "alice's SID, not the administrator's"
    );
}

#[test]
fn esc9_and_esc16_certificates_carry_no_sid() {
    let mut only_esc9 = CaConfig::default();
    lab::apply(&mut only_esc9, &[Esc::Esc9]);
    let ca = Ca::new(only_esc9, Seed(11), clock()).unwrap();
    let esc9 = issued(&submit(&ca, &Req::default(), "ESC9", &[]));
    assert!(extension(&esc9, SID_EXT).is_none());
    assert_eq!(upns(&esc9), ["alice@contoso.test"]);
    let user = issued(&submit(&ca, &Req::default(), "User", &[]));
    assert!(
        extension(&user, SID_EXT).is_some(),
        "other templates keep it"
    );
    let user = issued(&submit(&vulnerable(), &Req::default(), "User", &[]));
    assert!(
        extension(&user, SID_EXT).is_none(),
        "ESC16: the CA drops it"
    );
}

#[test]
fn esc13_the_issuance_policy_is_in_the_certificate() {
    let der = issued(&submit(&vulnerable(), &Req::default(), "ESC13", &[]));
    let policies = extension(&der, "2.5.29.32").expect("certificatePolicies");
    assert_eq!(policy_oids(&policies), [lab::esc13_policy_oid()]);
    let user = issued(&submit(&vulnerable(), &Req::default(), "User", &[]));
    assert!(extension(&user, "2.5.29.32").is_none());
}

#[test]
fn esc15_an_unpatched_ca_copies_the_requested_application_policies() {
    // Certipy's `-application-policies 'Certificate Request Agent'`.
    let req = Req {
        application_policies: vec![oid::EKU_CERTIFICATE_REQUEST_AGENT],
        ..Req::default()
    };
    let der = issued(&submit(&vulnerable(), &req, "ESC15", &[]));
    let copied = extension(&der, APPLICATION_POLICIES).expect("copied");
    assert_eq!(policy_oids(&copied), [oid::EKU_CERTIFICATE_REQUEST_AGENT]);
    assert_eq!(
        ekus(&der),
        [oid::EKU_IPSEC_IKE_INTERMEDIATE],
        "the template's EKU stays"
    );
    // Patched (the default): the same request to the same kind of template
    // (WebServer: schema version 1, subject from the request) has none.
    let der = issued(&submit(&hardened(), &req, "WebServer", &[]));
    assert!(extension(&der, APPLICATION_POLICIES).is_none());
    // Nor does a version 2 template copy it on the unpatched CA.
    let der = issued(&submit(&vulnerable(), &req, "ESC1", &[]));
    let own = policy_oids(&extension(&der, APPLICATION_POLICIES).unwrap());
    assert_eq!(own, [oid::EKU_CLIENT_AUTH], "the template's own");
}

/// alice's enrollment-agent certificate from the lab's ESC3 template (or
/// another template), with the key that signs her requests (`client/0`).
fn agent_certificate(ca: &Ca, template: &str) -> Vec<u8> {
    issued(&submit(ca, &Req::default(), template, &[]))
}

fn agent_key() -> mock_ca::keys::SigningKey {
    mock_ca::keys::SigningKey::generate(mock_ca::KeyAlgorithm::Rsa2048, &Seed(1), "client/0")
        .unwrap()
}

/// A request for `template` that alice signs, with `agent_cert`, on the
/// administrator's behalf (Certipy's `req -on-behalf-of`).
fn on_behalf_of_administrator(ca: &Ca, agent_cert: &[u8], template: &str) -> Submission {
    let csr = request(&Req {
        label: "target/0",
        ..Req::default()
    });
    let signed =
        adcs_proto::agent::sign(&csr, "CONTOSO\\Administrator", agent_cert, &agent_key()).unwrap();
    ca.submit(&signed, &alice(), &template_attr(template))
        .unwrap()
}

#[test]
fn esc3_an_agent_certificate_enrolls_for_another_account() {
    let mut config = CaConfig::default();
    lab::apply(&mut config, &[Esc::Esc3]);
    let ca = Ca::new(config, Seed(11), clock()).unwrap();
    let agent = agent_certificate(&ca, "ESC3");
    let s = on_behalf_of_administrator(&ca, &agent, "User");
    let der = issued(&s);
    assert_eq!(
        upns(&der)
            .iter()
            .map(|u| u.to_lowercase())
            .collect::<Vec<_>>(),
        [ADMIN_UPN]
    );
    // The administrator's SID (RID 500), as strong mapping checks it.
    let sid = extension(&der, SID_EXT).expect("the target's SID extension");
    let at = sid.windows(5).position(|w| w == b"S-1-5").unwrap();
    assert!(String::from_utf8_lossy(&sid[at..]).ends_with("-500"));
    let row = ca.request(s.id).unwrap();
    assert_eq!(row.requester.account, "CONTOSO\\Administrator");
    assert_eq!(row.agent.as_deref(), Some("CONTOSO\\alice"));
    assert_eq!(
        mock_ca::audit::of(&row).agent.as_deref(),
        Some("CONTOSO\\alice")
    );
}

#[test]
fn agent_requests_are_refused_as_windows_refuses_them() {
    let mut config = CaConfig::default();
    lab::apply(&mut config, &[Esc::Esc1, Esc::Esc3]);
    let ca = Ca::new(config, Seed(11), clock()).unwrap();
    let refused = |s: Submission, h: HResult| {
        assert_eq!(s.disposition, Disposition::Denied, "{}", s.message);
        assert_eq!(s.status, h, "{}", s.message);
    };
    // A certificate without the agent purpose.
    let user = agent_certificate(&ca, "User");
    refused(
        on_behalf_of_administrator(&ca, &user, "User"),
        HResult::SIGNATURE_REJECTED,
    );
    // A later-schema target template asks for RA signatures.
    let agent = agent_certificate(&ca, "ESC3");
    refused(
        on_behalf_of_administrator(&ca, &agent, "ESC1"),
        HResult::SIGNATURE_POLICY_REQUIRED,
    );
    // Another CA's certificate (the same bytes this CA never issued).
    let other = Ca::new(
        {
            let mut c = CaConfig::default();
            lab::apply(&mut c, &[Esc::Esc3]);
            c
        },
        Seed(12),
        clock(),
    )
    .unwrap();
    let foreign = agent_certificate(&other, "ESC3");
    refused(
        on_behalf_of_administrator(&ca, &foreign, "User"),
        HResult::CERT_E_UNTRUSTEDROOT,
    );
    // Signed with a key that is not the certificate's.
    let csr = request(&Req::default());
    let wrong = mock_ca::keys::SigningKey::generate(
        mock_ca::KeyAlgorithm::Rsa2048,
        &Seed(1),
        "someone-else",
    )
    .unwrap();
    let forged = adcs_proto::agent::sign(&csr, "CONTOSO\\Administrator", &agent, &wrong).unwrap();
    refused(
        ca.submit(&forged, &alice(), &template_attr("User"))
            .unwrap(),
        HResult::NTE_BAD_SIGNATURE,
    );
    // Revoked.
    let serial = adcs_proto::hex::hex(
        x509_parser::parse_x509_certificate(&agent)
            .unwrap()
            .1
            .raw_serial(),
    );
    ca.revoke(
        &serial,
        mock_ca::RevocationReason::KeyCompromise,
        "CONTOSO\\officer",
    )
    .unwrap();
    refused(
        on_behalf_of_administrator(&ca, &agent, "User"),
        HResult::CRYPT_E_REVOKED,
    );
}

/// A schema 2 template that asks for one enrollment-agent signature with
/// the Certificate Request Agent purpose (the smart-card enrollment
/// station's kind of template) takes the agent's request; asking for
/// two, or for a purpose the agent lacks, is refused as Windows refuses it.
#[test]
fn ra_signatures_open_later_templates_to_enrollment_agents() {
    let mut config = CaConfig::default();
    lab::apply(&mut config, &[Esc::Esc1, Esc::Esc3]);
    let esc1 = config
        .templates
        .iter()
        .position(|t| t.name == "ESC1")
        .unwrap();
    let mut station = config.templates[esc1].clone();
    station.name = "SmartcardStation".into();
    station.ra_signatures = 1;
    station.ra_application_policies = vec![oid::EKU_CERTIFICATE_REQUEST_AGENT.into()];
    let mut two = station.clone();
    two.name = "TwoAgents".into();
    two.ra_signatures = 2;
    let mut other_purpose = station.clone();
    other_purpose.name = "OtherPurpose".into();
    other_purpose.ra_application_policies = vec!["1.3.6.1.4.1.311.10.3.4".into()];
    config.templates.extend([station, two, other_purpose]);
    let ca = Ca::new(config, Seed(11), clock()).unwrap();
    let agent = agent_certificate(&ca, "ESC3");
    let s = on_behalf_of_administrator(&ca, &agent, "SmartcardStation");
    assert_eq!(s.disposition, Disposition::Issued, "{}", s.message);
    for (template, h) in [
        ("TwoAgents", HResult::SIGNATURE_COUNT),
        ("OtherPurpose", HResult::SIGNATURE_REJECTED),
        ("ESC1", HResult::SIGNATURE_POLICY_REQUIRED),
    ] {
        let s = on_behalf_of_administrator(&ca, &agent, template);
        assert_eq!(
            (s.disposition, s.status),
            (Disposition::Denied, h),
            "{template}: {}",
            s.message
        );
    }
}
