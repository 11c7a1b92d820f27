//! The objectSid extension (szOID_NTDS_CA_SECURITY_EXT, KB5014754): in
//! certificates whose subject the CA builds from the directory, with the
//! requester's seed-derived or configured SID; absent where the subject comes
//! from the request; removed by `disable_extensions`.

use std::sync::Arc;

use crate::support::*;
use mock_ca::db::sid;
use mock_ca::serve::{build, ServeConfig, ServeError};
use mock_ca::web::directory::Directory;
use mock_ca::web::{Server, WebOptions};
use mock_ca::{Ca, CaConfig, CaError, Disposition, Requester, Seed};
use x509_parser::asn1_rs::{Any, Class, OctetString};
use x509_parser::extensions::{GeneralName, SubjectAlternativeName};
use x509_parser::prelude::*;

const SID_EXT: &str = "1.3.6.1.4.1.311.25.2";
const OBJECT_SID: &str = "1.3.6.1.4.1.311.25.2.1";

/// The SID in a certificate's szOID_NTDS_CA_SECURITY_EXT, read with
/// x509-parser alone: a non-critical GeneralNames holding one otherName
/// {szOID_NTDS_OBJECTSID, [0] EXPLICIT OCTET STRING "S-1-5-…"}.
fn object_sid(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).unwrap();
    let ext = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == SID_EXT)?;
    assert!(!ext.critical, "the SID extension is not critical");
    let (rest, names) = SubjectAlternativeName::from_der(ext.value).unwrap();
    assert!(rest.is_empty());
    let [GeneralName::OtherName(type_id, value)] = names.general_names.as_slice() else {
        panic!("one otherName, not {:?}", names.general_names);
    };
    assert_eq!(type_id.to_id_string(), OBJECT_SID);
    let (rest, explicit) = Any::from_der(value).unwrap();
    assert!(rest.is_empty());
    assert_eq!(
        (explicit.class(), explicit.tag().0),
        (Class::ContextSpecific, 0)
    );
    let (rest, text) = OctetString::from_der(explicit.data).unwrap();
    assert!(rest.is_empty());
    let sid = String::from_utf8(text.as_cow().to_vec()).unwrap();
    // Certipy reads the bytes from `S-1-5` to the end of the value.
    let at = ext.value.windows(5).position(|w| w == b"S-1-5").unwrap();
    assert_eq!(&ext.value[at..], sid.as_bytes(), "what Certipy reads");
    Some(sid)
}

/// A certificate of `template` for `who` (a request carrying a DNS SAN,
/// which templates that build the subject from the directory ignore).
fn issue(ca: &Ca, who: &Requester, template: &str) -> Vec<u8> {
    let req = request(&Req {
        san: vec![adcs_proto::x509::SanEntry::Dns("web01.contoso.test".into())],
        ..Req::default()
    });
    let s = ca.submit(&req, who, &template_attr(template)).unwrap();
    assert_eq!(
        s.disposition,
        Disposition::Issued,
        "{template}: {}",
        s.message
    );
    s.certificate.unwrap()
}

fn computer() -> Requester {
    Requester::new("CONTOSO\\WEB01$").with_group("Domain Computers")
}

fn has_extension(der: &[u8], oid: &str) -> bool {
    let (_, cert) = X509Certificate::from_der(der).unwrap();
    cert.extensions()
        .iter()
        .any(|e| e.oid.to_id_string() == oid)
}

#[test]
fn user_and_machine_certificates_carry_the_requesters_sid() {
    let ca = Ca::new(enterprise(), Seed(11), clock()).unwrap();
    let user = object_sid(&issue(&ca, &alice(), "User")).expect("the User template adds it");
    assert_eq!(user, sid::of(&Seed(11), "CONTOSO\\alice"));
    let parts: Vec<&str> = user.split('-').collect();
    assert_eq!(parts[..4], ["S", "1", "5", "21"], "{user}");
    assert_eq!(
        parts.len(),
        8,
        "domain SID (three sub-authorities) + RID: {user}"
    );
    assert!(parts[4..].iter().all(|p| p.parse::<u32>().is_ok()));
    assert!(parts[7].parse::<u32>().unwrap() >= sid::FIRST_RID);
    assert!(user.starts_with(&format!("{}-", sid::domain(&Seed(11)))));

    let machine = object_sid(&issue(&ca, &computer(), "Machine")).expect("Machine adds it");
    assert_eq!(machine, sid::of(&Seed(11), "CONTOSO\\WEB01$"));
    assert_ne!(machine, user);

    let admin = Requester::new("CONTOSO\\Administrator").with_group("Domain Admins");
    let admin = object_sid(&issue(&ca, &admin, "User")).unwrap();
    assert_eq!(admin, format!("{}-500", sid::domain(&Seed(11))));

    // A requester that already carries a SID (the directory's) keeps it.
    let mut given = alice();
    given.sid = Some("S-1-5-21-1-2-3-4242".into());
    let s = object_sid(&issue(&ca, &given, "User"));
    assert_eq!(s.as_deref(), Some("S-1-5-21-1-2-3-4242"));
}

#[test]
fn templates_with_the_subject_in_the_request_carry_no_sid() {
    let ca = Ca::new(enterprise(), Seed(11), clock()).unwrap();
    for t in ["WebServer", "OperationsManager", "IPSECIntermediateOffline"] {
        let der = issue(&ca, &alice(), t);
        assert!(!has_extension(&der, SID_EXT), "{t}");
        assert!(has_extension(&der, "2.5.29.17"), "{t}: the request's SAN");
    }
    let one = ca.request(1).unwrap().certificate.unwrap();
    assert!(
        !has_extension(&one, SID_EXT),
        "the web server's own certificate"
    );

    // A stand-alone CA knows no directory.
    let standalone = Ca::new(CaConfig::standalone(), Seed(11), clock()).unwrap();
    let s = standalone
        .submit(&request(&Req::default()), &alice(), &[])
        .unwrap();
    let s = standalone.issue_pending(s.id, "CONTOSO\\officer").unwrap();
    assert!(!has_extension(&s.certificate.unwrap(), SID_EXT));
}

#[test]
fn disable_extensions_removes_what_it_lists() {
    let mut config = enterprise();
    config.disable_extensions = vec![SID_EXT.into(), " 2.5.29.31 ".into()];
    let ca = Ca::new(config, Seed(11), clock()).unwrap();
    let plain = Ca::new(enterprise(), Seed(11), clock()).unwrap();
    let (der, before) = (
        issue(&ca, &alice(), "User"),
        issue(&plain, &alice(), "User"),
    );
    assert_eq!(object_sid(&der), None);
    assert!(!has_extension(&der, "2.5.29.31"), "CDP listed too");
    assert!(has_extension(&before, SID_EXT) && has_extension(&before, "2.5.29.31"));
    let (_, a) = X509Certificate::from_der(&der).unwrap();
    let (_, b) = X509Certificate::from_der(&before).unwrap();
    assert_eq!(
        a.extensions().len() + 2,
        b.extensions().len(),
        "nothing else goes"
    );
    assert!(has_extension(&der, "2.5.29.17"), "the SAN stays");

    let mut bad = enterprise();
    bad.disable_extensions = vec![SID_EXT.into(), "not-an-oid".into()];
    match Ca::new(bad, Seed(11), clock()) {
        Err(CaError::Config(e)) => {
            assert_eq!(e.field, "disable_extensions[1]");
            assert!(e.reason.contains("not-an-oid"), "{}", e.reason);
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn sids_follow_the_seed_and_the_well_known_rids() {
    let sid_with = |seed: u64| {
        let ca = Ca::new(enterprise(), Seed(seed), clock()).unwrap();
        object_sid(&issue(&ca, &alice(), "User")).unwrap()
    };
    let (a, again, other) = (sid_with(11), sid_with(11), sid_with(12));
    assert_eq!(a, again, "same seed, same SID");
    assert_ne!(a, other, "another seed, another SID");
    assert_ne!(sid::domain(&Seed(11)), sid::domain(&Seed(12)));
    assert_eq!(sid::domain(&Seed(11)), sid::domain(&Seed(11)));

    let s = Seed(11);
    let domain = sid::domain(&s);
    for (name, rid) in [
        ("CONTOSO\\Administrator", 500),
        ("krbtgt", 502),
        ("Domain Admins", 512),
        ("CONTOSO\\Domain Users", 513),
        ("domain computers", 515),
        ("Cert Publishers", 517),
    ] {
        assert_eq!(sid::of(&s, name), format!("{domain}-{rid}"), "{name}");
    }
    assert_eq!(sid::of(&s, "Authenticated Users"), "S-1-5-11");
    assert_eq!(sid::of(&s, "Everyone"), "S-1-1-0");
    // Other accounts and groups: from 1100, by name (any case or domain spelling).
    let names = ["alice", "bob", "Web Admins", "WEB01$"];
    let rids: Vec<u32> = names.iter().map(|n| sid::rid(&s, n)).collect();
    assert!(rids.iter().all(|r| *r >= sid::FIRST_RID), "{rids:?}");
    let mut distinct = rids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), names.len());
    assert_eq!(sid::of(&s, "CONTOSO\\ALICE"), sid::of(&s, "alice"));

    // The directory gives each account the SID the CA derives.
    let dir = Directory::new(users(), "CONTOSO", "contoso.test");
    for u in dir.users() {
        assert_eq!(u.object_sid(&s), sid::of(&s, &u.name), "{}", u.name);
        assert_eq!(dir.identity(u).requester.sid, None, "nothing configured");
    }
}

#[test]
fn a_configured_sid_is_used_and_a_malformed_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let toml = |alice_sid: &str| {
        format!(
            "seed = 11\n[[users]]\nname = 'CONTOSO\\alice'\npassword = 'pw'\nsid = '{alice_sid}'\n\
             [[users]]\nname = 'Administrator'\npassword = 'pw'\nadmin = true\n"
        )
    };
    let path = write(dir.path(), "serve.toml", &toml("S-1-5-21-111-222-333-1234"));
    let (ca, opts) = build(&ServeConfig::load(&path).unwrap()).unwrap();
    let directory = Directory::new(opts.users, "CONTOSO", "contoso.test");
    let alice = directory.identity(directory.find("", "alice").unwrap());
    assert_eq!(
        object_sid(&issue(&ca, &alice.requester, "User")).as_deref(),
        Some("S-1-5-21-111-222-333-1234")
    );
    // The account without one gets the seed's.
    let admin = directory.identity(directory.find("", "administrator").unwrap());
    assert_eq!(
        object_sid(&issue(&ca, &admin.requester, "User")),
        Some(format!("{}-500", sid::domain(&Seed(11))))
    );

    for bad in [
        "S-1-5-21-111-222-x-1234",
        "S-1-5-21-4294967296",
        "s-1-5-21-1-2-3-4",
        "S-1-5",
        "S-1-5-21--1",
        "1-5-21-1",
        "",
    ] {
        let path = write(dir.path(), "bad.toml", &toml(bad));
        match build(&ServeConfig::load(&path).unwrap()) {
            Err(ServeError::Config(e)) => {
                assert_eq!(e.field, "users[0] (CONTOSO\\alice).sid", "{bad}");
                assert!(e.reason.contains("not a SID"), "{bad}: {}", e.reason);
            }
            Err(e) => panic!("{bad}: expected a configuration error, got {e}"),
            Ok(_) => panic!("{bad}: accepted"),
        }
    }
    for good in ["S-1-5-21-1-2-3-500", "S-1-5-11", "S-1-1-0"] {
        assert_eq!(sid::validate(good), Ok(()), "{good}");
    }
}

#[test]
fn web_enrollment_writes_the_signed_in_accounts_sid() {
    let mut accounts = users();
    accounts[0].sid = Some("S-1-5-21-7-8-9-1601".into());
    let ca = Ca::new(enterprise(), Seed(7), clock()).unwrap();
    let s = Server::start(
        Arc::new(ca),
        WebOptions {
            tls: false,
            users: accounts,
            ..Default::default()
        },
    )
    .unwrap();
    let enroll = |account: (&str, &str)| {
        let body = form_body(&[
            ("Mode", "newreq"),
            (
                "CertRequest",
                &csr_pem("user", mock_ca::KeyAlgorithm::Rsa2048),
            ),
            ("CertAttrib", "CertificateTemplate:User"),
        ]);
        let r = call(
            &s,
            "POST",
            "/certsrv/certfnsh.asp",
            Some(account),
            &[],
            &body,
        );
        assert_eq!(r.status, 200);
        let row = s.ca().list(Some(Disposition::Issued)).pop().unwrap();
        assert_eq!(row.requester.account, account.0);
        object_sid(&row.certificate.unwrap())
    };
    assert_eq!(enroll(ALICE).as_deref(), Some("S-1-5-21-7-8-9-1601"));
    assert_eq!(enroll(BOB), Some(sid::of(&Seed(7), "CONTOSO\\bob")));
}
