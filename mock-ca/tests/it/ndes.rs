//! NDES end to end over HTTP: GetCACaps, GetCACert, the challenge page and
//! PKIOperation, driven by a device made of the shared SCEP codec.

use std::sync::Arc;

use adcs_proto::encoding::pkcs7_certificates;
use adcs_proto::names::parse_dn;
use adcs_proto::scep::{
    admin_page, envelope, Cipher, FailInfo, MessageType, Outgoing, PkiMessage, PkiStatus,
};
use adcs_proto::x509::{self, CertificateSpec};
use base64::Engine;
use der::{Decode, Encode};
use mock_ca::keys::SigningKey;
use mock_ca::ndes::NdesConfig;
use mock_ca::web::{Server, WebOptions};
use mock_ca::{Ca, CaConfig, KeyAlgorithm, Seed};

use crate::support::*;

const SCEP: &str = "/certsrv/mscep/mscep.dll/pkiclient.exe";
const ADMIN_PAGE: &str = "/certsrv/mscep_admin/";

fn start(config: CaConfig, ndes: NdesConfig) -> Server {
    let ca = Ca::new(config, Seed(7), clock()).unwrap();
    Server::start(
        Arc::new(ca),
        WebOptions {
            tls: false,
            users: users(),
            ndes: Some(ndes),
            ..Default::default()
        },
    )
    .unwrap()
}

/// A network device: a key and the self-signed certificate it signs with.
struct Device {
    key: SigningKey,
    cert: Vec<u8>,
}

fn device(name: &str) -> Device {
    let key = SigningKey::generate(KeyAlgorithm::Rsa2048, &Seed(3), name).unwrap();
    let dn = parse_dn(&format!("CN={name}")).unwrap();
    let spec = CertificateSpec {
        serial: &[0x2a],
        issuer: &dn,
        subject: &dn,
        not_before: T0,
        not_after: T0 + 86_400,
        spki_der: key.spki_der(),
        extensions: Vec::new(),
    };
    let cert = x509::build_certificate(&spec, &key).unwrap();
    Device { key, cert }
}

/// The CA certificate and the RA signing and encryption certificates.
fn ca_ra(s: &Server) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let r = call(
        s,
        "GET",
        &format!("{SCEP}?operation=GetCACert&message=CA"),
        None,
        &[],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Content-Type"),
        Some("application/x-x509-ca-ra-cert")
    );
    let certs = pkcs7_certificates(&r.body).unwrap();
    assert_eq!(certs.len(), 3);
    (certs[0].clone(), certs[1].clone(), certs[2].clone())
}

/// The password on `mscep_admin`, or the page's text when there is none.
fn admin_page_as(s: &Server, who: (&str, &str)) -> Result<String, String> {
    let r = call(s, "GET", ADMIN_PAGE, Some(who), &[], b"");
    assert_eq!(r.status, 200);
    let units: Vec<u16> = r
        .body
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let page = String::from_utf16(&units).unwrap();
    let Some(at) = page.find(admin_page::PASSWORD_MARKER) else {
        return Err(page);
    };
    let rest = &page[at..];
    let start = rest.find("<B> ").unwrap() + 4;
    let end = rest.find(" </B>").unwrap();
    Ok(rest[start..end].to_string())
}

/// A PKCSReq for `cn` with `challenge`, encrypted to `recipient`.
fn pkcs_req(d: &Device, cn: &str, challenge: Option<&str>, recipient: &[u8], tid: &str) -> Vec<u8> {
    let dn = parse_dn(&format!("CN={cn}")).unwrap();
    let csr = x509::build_request_with_challenge(&dn, &d.key, vec![], challenge).unwrap();
    let mut rng = Seed(5).rng(tid);
    let env = envelope::seal(&csr, &[recipient], Cipher::TripleDes, &mut rng).unwrap();
    message(d, MessageType::PkcsReq, tid, env)
}

fn message(d: &Device, kind: MessageType, tid: &str, env: Vec<u8>) -> Vec<u8> {
    Outgoing {
        message_type: kind,
        transaction_id: tid.into(),
        sender_nonce: vec![9; 16],
        recipient_nonce: None,
        status: None,
        fail_info: None,
        envelope: Some(env),
    }
    .sign(&d.cert, &d.key, &[])
    .unwrap()
}

/// POSTs a PKIOperation and reads the CertRep: the message and, on
/// SUCCESS, the issued certificate.
fn operate(s: &Server, d: &Device, msg: &[u8]) -> (PkiMessage, Option<Vec<u8>>) {
    let r = call(
        s,
        "POST",
        &format!("{SCEP}?operation=PKIOperation"),
        None,
        &[],
        msg,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("application/x-pki-message"));
    let rep = PkiMessage::parse(&r.body).unwrap();
    assert!(rep.signature_valid);
    assert_eq!(rep.message_type, MessageType::CertRep);
    assert_eq!(rep.recipient_nonce.as_deref(), Some(&[9u8; 16][..]));
    let cert = rep.envelope.as_ref().map(|env| {
        let private = {
            use rsa::pkcs8::DecodePrivateKey;
            rsa::PrivateKey::from_pkcs8_der(d.key.pkcs8_der()).unwrap()
        };
        let (p7, cipher) = envelope::open(env, &d.cert, &private.clone().into()).unwrap();
        assert_eq!(cipher, Cipher::TripleDes);
        pkcs7_certificates(&p7).unwrap().remove(0)
    });
    (rep, cert)
}

fn spki(cert: &[u8]) -> Vec<u8> {
    let c = x509_cert::Certificate::from_der(cert).unwrap();
    c.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap()
}

#[test]
fn a_device_enrolls_once_with_a_one_time_password() {
    let s = start(CaConfig::default(), NdesConfig::default());
    let caps = call(
        &s,
        "GET",
        &format!("{SCEP}?operation=GetCACaps"),
        None,
        &[],
        b"",
    );
    assert_eq!(caps.text(), "Renewal\nSHA-512\nSHA-256\nSHA-1\nDES3\n");
    let (ca, ra_sign, ra_enc) = ca_ra(&s);
    assert!(x509::verify_signed(&ra_sign, &spki(&ca)) && x509::verify_signed(&ra_enc, &spki(&ca)));
    let password = admin_page_as(&s, ALICE).unwrap();
    assert_eq!(password.len(), 16);
    let d = device("router1");
    let (rep, cert) = operate(
        &s,
        &d,
        &pkcs_req(&d, "router1.contoso.test", Some(&password), &ra_enc, "T-1"),
    );
    assert_eq!(
        (rep.status, rep.transaction_id.as_str()),
        (Some(PkiStatus::Success), "T-1")
    );
    assert_eq!(rep.signer, ra_sign);
    let cert = cert.unwrap();
    assert!(x509::verify_signed(&cert, &spki(&ca)));
    assert_eq!(spki(&cert), d.key.spki_der());
    let last = s.journal().pop().unwrap();
    assert_eq!(last.detail.as_deref(), Some("PKCSReq T-1 SUCCESS"));
    assert_eq!(last.disposition.as_deref(), Some("issued"));
    // The same password a second time: refused.
    let (rep, cert) = operate(
        &s,
        &d,
        &pkcs_req(&d, "router1.contoso.test", Some(&password), &ra_enc, "T-2"),
    );
    assert_eq!(
        (rep.status, rep.fail_info),
        (Some(PkiStatus::Failure), Some(FailInfo::BadRequest))
    );
    assert!(cert.is_none());
    // Through GET, base64 in the query, as clients without POSTPKIOperation send it.
    let fresh = admin_page_as(&s, ALICE).unwrap();
    let msg = pkcs_req(&d, "router2.contoso.test", Some(&fresh), &ra_enc, "T-3");
    let q = base64::engine::general_purpose::STANDARD.encode(&msg);
    let q: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
    let r = call(
        &s,
        "GET",
        &format!("{SCEP}?operation=PKIOperation&message={q}"),
        None,
        &[],
        b"",
    );
    assert_eq!(
        PkiMessage::parse(&r.body).unwrap().status,
        Some(PkiStatus::Success)
    );
}

#[test]
fn bad_messages_fail_as_ndes_fails_them() {
    let s = start(CaConfig::default(), NdesConfig::default());
    let (ca, _, ra_enc) = ca_ra(&s);
    let d = device("router1");
    // Encrypted to the CA instead of the RA (sscep #60): badMessageCheck.
    let pw = admin_page_as(&s, ALICE).unwrap();
    let (rep, _) = operate(&s, &d, &pkcs_req(&d, "r1", Some(&pw), &ca, "T-ca"));
    assert_eq!(rep.fail_info, Some(FailInfo::BadMessageCheck));
    // No password, or one never handed out: badRequest.
    for pw in [None, Some("0123456789ABCDEF")] {
        let (rep, _) = operate(&s, &d, &pkcs_req(&d, "r1", pw, &ra_enc, "T-pw"));
        assert_eq!(rep.fail_info, Some(FailInfo::BadRequest), "{pw:?}");
    }
    // Signed by another key than its certificate's: badMessageCheck.
    let other = device("intruder");
    let pw = admin_page_as(&s, ALICE).unwrap();
    let forged = Device {
        key: other.key,
        cert: d.cert.clone(),
    };
    let msg = pkcs_req(&forged, "r1", Some(&pw), &ra_enc, "T-forged");
    let (rep, _) = operate(&s, &d, &msg);
    assert_eq!(rep.fail_info, Some(FailInfo::BadMessageCheck));
    // Unreadable messages: HTTP 500, and the server goes on.
    for body in [
        &b"\x30\x03\x02\x01\x05"[..],
        b"not base64 at all!",
        &msg[..msg.len() / 2],
    ] {
        let r = call(
            &s,
            "POST",
            &format!("{SCEP}?operation=PKIOperation"),
            None,
            &[],
            body,
        );
        assert_eq!(r.status, 500);
    }
    let r = call(
        &s,
        "GET",
        &format!("{SCEP}?operation=Bogus"),
        None,
        &[],
        b"",
    );
    assert_eq!(r.status, 500);
    assert_eq!(ca_ra(&s).0, ca);
}

#[test]
fn passwords_need_rights_expire_and_fill_the_cache() {
    let mut config = CaConfig::default();
    for t in &mut config.templates {
        if t.name == "IPSECIntermediateOffline" {
            // NDES's service account submits, so it needs Enroll too.
            t.enroll = vec![
                "Domain Admins".into(),
                "CONTOSO\\bob".into(),
                "NDESSvc".into(),
            ];
        }
    }
    let s = start(config, NdesConfig::default());
    let page = admin_page_as(&s, ALICE).unwrap_err();
    assert!(page.contains(admin_page::NO_PERMISSION), "{page}");
    let first = admin_page_as(&s, BOB).unwrap();
    for _ in 1..5 {
        admin_page_as(&s, ADMIN).unwrap();
    }
    let full = admin_page_as(&s, BOB).unwrap_err();
    assert!(full.contains(admin_page::CACHE_FULL), "{full}");
    // An hour on, the five have expired: a new one is handed out, the old refused.
    s.ca().clock().advance(3_601);
    let fresh = admin_page_as(&s, BOB).unwrap();
    assert_ne!(fresh, first);
    let (_, _, ra_enc) = ca_ra(&s);
    let d = device("router1");
    let (rep, _) = operate(&s, &d, &pkcs_req(&d, "r1", Some(&first), &ra_enc, "T-old"));
    assert_eq!(rep.fail_info, Some(FailInfo::BadRequest));
    let (rep, _) = operate(&s, &d, &pkcs_req(&d, "r1", Some(&fresh), &ra_enc, "T-new"));
    assert_eq!(rep.status, Some(PkiStatus::Success));
}

#[test]
fn a_pending_request_is_polled_until_a_manager_issues_it() {
    let ndes = NdesConfig {
        general_purpose_template: "WebServerApproval".into(),
        enforce_password: false,
        ..Default::default()
    };
    let s = start(CaConfig::default(), ndes);
    let (_, _, ra_enc) = ca_ra(&s);
    let d = device("vpn1");
    let (rep, cert) = operate(
        &s,
        &d,
        &pkcs_req(&d, "vpn1.contoso.test", None, &ra_enc, "T-p"),
    );
    assert_eq!((rep.status, cert), (Some(PkiStatus::Pending), None));
    let id = s.journal().pop().unwrap().request_id.unwrap();
    // CertPoll carries IssuerAndSubject in its envelope; NDES finds the request by transaction ID.
    let poll = |tid: &str| {
        let mut rng = Seed(5).rng("poll");
        let env = envelope::seal(
            b"issuer-and-subject",
            &[&ra_enc],
            Cipher::TripleDes,
            &mut rng,
        )
        .unwrap();
        operate(&s, &d, &message(&d, MessageType::CertPoll, tid, env))
    };
    assert_eq!(poll("T-p").0.status, Some(PkiStatus::Pending));
    s.ca().issue_pending(id, "CONTOSO\\Administrator").unwrap();
    let (rep, cert) = poll("T-p");
    assert_eq!(rep.status, Some(PkiStatus::Success));
    assert_eq!(spki(&cert.unwrap()), d.key.spki_der());
    assert_eq!(poll("T-unknown").0.fail_info, Some(FailInfo::BadCertId));
}

#[test]
fn without_ndes_there_is_no_mscep() {
    let s = start_http(CaConfig::default());
    assert_eq!(
        call(
            &s,
            "GET",
            &format!("{SCEP}?operation=GetCACaps"),
            None,
            &[],
            b""
        )
        .status,
        404
    );
    assert_eq!(s.ndes_url(), None);
}

/// Its certificate from a first enrollment: (certificate, device).
fn enrolled(s: &Server, name: &str, ra_enc: &[u8]) -> (Vec<u8>, Device) {
    let d = device(name);
    let pw = admin_page_as(s, ALICE).unwrap();
    let (rep, cert) = operate(
        s,
        &d,
        &pkcs_req(&d, name, Some(&pw), ra_enc, &format!("T-{name}")),
    );
    assert_eq!(rep.status, Some(PkiStatus::Success));
    (cert.unwrap(), d)
}

#[test]
fn a_renewal_signed_by_the_current_certificate_needs_no_password() {
    let s = start(CaConfig::default(), NdesConfig::default());
    let (_, _, ra_enc) = ca_ra(&s);
    let (current, old) = enrolled(&s, "router1", &ra_enc);
    // The new key's request, signed with the old key under the issued
    // certificate: RenewalReq (RFC 8894) and the older PKCSReq form.
    let new = device("router1-next");
    for kind in [MessageType::RenewalReq, MessageType::PkcsReq] {
        let dn = parse_dn("CN=router1").unwrap();
        let csr = x509::build_request(&dn, &new.key, vec![]).unwrap();
        let mut rng = Seed(5).rng(kind.name());
        let env = envelope::seal(&csr, &[&ra_enc], Cipher::Aes128, &mut rng).unwrap();
        let signer = Device {
            key: SigningKey::generate(KeyAlgorithm::Rsa2048, &Seed(3), "router1").unwrap(),
            cert: current.clone(),
        };
        let msg = message(&signer, kind, kind.name(), env);
        let r = call(
            &s,
            "POST",
            &format!("{SCEP}?operation=PKIOperation"),
            None,
            &[],
            &msg,
        );
        let rep = PkiMessage::parse(&r.body).unwrap();
        assert_eq!(rep.status, Some(PkiStatus::Success), "{kind:?}");
        // The reply is sealed to the certificate that signed the request.
        let private = {
            use rsa::pkcs8::DecodePrivateKey;
            rsa::PrivateKey::from_pkcs8_der(old.key.pkcs8_der()).unwrap()
        };
        let (p7, _) = envelope::open(
            rep.envelope.as_ref().unwrap(),
            &current,
            &private.clone().into(),
        )
        .unwrap();
        let issued = pkcs7_certificates(&p7).unwrap().remove(0);
        assert_eq!(spki(&issued), new.key.spki_der());
    }
    // A self-signed signer still needs a password.
    let (rep, _) = operate(
        &s,
        &new,
        &pkcs_req(&new, "router1", None, &ra_enc, "T-nopw"),
    );
    assert_eq!(rep.fail_info, Some(FailInfo::BadRequest));
}

#[test]
fn faults_apply_to_pkioperation_and_are_journaled() {
    use mock_ca::web::faults::FaultRule;
    let s = start(
        CaConfig::default(),
        NdesConfig {
            enforce_password: false,
            ..Default::default()
        },
    );
    let (_, _, ra_enc) = ca_ra(&s);
    let rule = |toml: &str| -> FaultRule { toml::from_str(toml).unwrap() };
    s.set_faults(vec![rule(
        "endpoint = 'mscep/mscep.dll'\nnth = 1\ndeny_hresult = '0x80094012'",
    )])
    .unwrap();
    let d = device("router1");
    let (rep, _) = operate(&s, &d, &pkcs_req(&d, "r1", None, &ra_enc, "T-deny"));
    assert_eq!(rep.fail_info, Some(FailInfo::BadRequest));
    let last = s.journal().pop().unwrap();
    assert!(
        last.fault.is_some() && last.disposition.as_deref() == Some("denied"),
        "{last:?}"
    );
    s.set_faults(vec![rule(
        "endpoint = 'mscep/mscep.dll'\nnth = 1\nstatus = 503",
    )])
    .unwrap();
    let msg = pkcs_req(&d, "r1", None, &ra_enc, "T-503");
    let r = call(
        &s,
        "POST",
        &format!("{SCEP}?operation=PKIOperation"),
        None,
        &[],
        &msg,
    );
    assert_eq!(r.status, 503);
    // The next message goes through.
    assert_eq!(operate(&s, &d, &msg).0.status, Some(PkiStatus::Success));
}
