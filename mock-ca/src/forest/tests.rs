use adcs_proto::ldap::{self, Filter, SearchRequestScope};
use adcs_proto::sd::{extended_right, part, Guid, SecurityDescriptor, Sid};

use super::search::{matches, project, scope, Index};
use super::*;
use crate::{CaConfig, Clock};

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600;

/// alice, bob in `Web Admins`, the administrator.
fn users() -> Vec<crate::accounts::User> {
    let parse = |s: &str| crate::accounts::User::parse(s).unwrap();
    let mut bob = parse("CONTOSO\\bob:b");
    bob.groups = vec!["Web Admins".into()];
    let mut admin = parse("CONTOSO\\Administrator:a");
    admin.admin = true;
    vec![parse("CONTOSO\\alice:a"), bob, admin]
}

fn world(config: CaConfig) -> (Ca, Directory, Naming) {
    let ca = Ca::new(config, Seed(7), Clock::frozen_at(T0)).unwrap();
    let c = ca.config();
    let dir = Directory::new(users(), &c.netbios_domain, &c.dns_domain);
    let naming = Naming::new(&c, &ca.seed(), None);
    (ca, dir, naming)
}

fn find<'a>(entries: &'a [Entry], naming: &Naming, base: &str, filter: &Filter) -> Vec<&'a Entry> {
    let index = Index::new(entries);
    scope(entries, naming, base, SearchRequestScope::WholeSubtree)
        .unwrap()
        .into_iter()
        .filter(|e| matches(e, filter, &index) == Some(true))
        .collect()
}

#[test]
fn every_object_uses_the_schema_and_has_a_unique_dn_and_guid() {
    let (ca, dir, naming) = world(CaConfig::default());
    let entries = objects(&ca, &dir, &naming);
    let mut dns = std::collections::HashSet::new();
    let mut guids = std::collections::HashSet::new();
    for e in &entries {
        assert!(dns.insert(normalize_dn(&e.dn)), "{} twice", e.dn);
        assert!(guids.insert(e.get("objectGUID").unwrap()[0].clone()));
        for class in e.get("objectClass").unwrap() {
            let c = String::from_utf8(class.clone()).unwrap();
            assert!(schema::class(&c).is_some(), "{}: {c}", e.dn);
        }
        for (a, v) in &e.attributes {
            assert!(
                !(a.single && v.len() > 1),
                "{}: {} is single-valued",
                e.dn,
                a.name
            );
        }
    }
    // One seed, one forest: byte for byte.
    assert_eq!(objects(&ca, &dir, &naming), entries);
}

#[test]
fn certipys_searches_find_what_it_expects() {
    let (ca, dir, naming) = world(CaConfig::default());
    let entries = objects(&ca, &dir, &naming);
    let d = &naming.domain_dn;
    let alice = find(
        &entries,
        &naming,
        d,
        &ldap::equality("sAMAccountName", b"ALICE"),
    );
    assert_eq!(alice.len(), 1);
    assert_eq!(alice[0].dn, format!("CN=alice,CN=Users,{d}"));
    let domains = find(
        &entries,
        &naming,
        d,
        &ldap::equality("objectClass", b"domain"),
    );
    assert_eq!(domains.len(), 1, "exactly the domain object");
    // objectSid as bytes and as text.
    let sid = alice[0].get("objectSid").unwrap()[0].clone();
    let text = Sid::read(&sid).unwrap().0.to_string();
    assert_eq!(
        find(&entries, &naming, d, &ldap::equality("objectSid", &sid)).len(),
        1
    );
    assert_eq!(
        find(
            &entries,
            &naming,
            d,
            &ldap::equality("objectSid", text.as_bytes())
        )
        .len(),
        1
    );
    // bob is in Web Admins: in chain, and memberOf is member's back link.
    let bob = format!("CN=bob,CN=Users,{d}");
    let chain = Filter::ExtensibleMatch(ldap::MatchingRuleAssertion::new(
        Some(ldap::oid::IN_CHAIN.into()),
        Some("member".into()),
        bob.clone().into_bytes().into(),
        false,
    ));
    let groups: Vec<&str> = find(&entries, &naming, d, &chain)
        .iter()
        .map(|e| e.dn.as_str())
        .collect();
    assert_eq!(groups, [format!("CN=Web Admins,CN=Users,{d}")]);
    let bob_entry = find(
        &entries,
        &naming,
        d,
        &ldap::equality("distinguishedName", bob.as_bytes()),
    );
    assert_eq!(bob_entry[0].text("memberOf").unwrap(), groups[0]);
    // A domain subtree search stays out of the configuration partition.
    assert!(find(
        &entries,
        &naming,
        d,
        &ldap::equality("objectClass", b"pKICertificateTemplate")
    )
    .is_empty());
    let templates = find(
        &entries,
        &naming,
        &format!("CN=Certificate Templates,{}", naming.pki_dn()),
        &ldap::equality("objectclass", b"pKICertificateTemplate"),
    );
    assert_eq!(templates.len(), ca.templates().len());
    // objectCategory by class name, as AD rewrites it.
    let people = find(
        &entries,
        &naming,
        d,
        &ldap::equality("objectCategory", b"person"),
    );
    assert!(people.iter().any(|e| e.dn == bob));
}

#[test]
fn a_template_dacl_grants_enroll_to_exactly_who_the_engine_lets_enroll() {
    let (ca, dir, naming) = world(CaConfig::default());
    let entries = objects(&ca, &dir, &naming);
    let enroll = Guid::parse(extended_right::ENROLL).unwrap();
    for t in ca.templates() {
        let dn = format!("CN={},CN=Certificate Templates,{}", t.name, naming.pki_dn());
        let e = entries.iter().find(|e| e.dn == dn).unwrap();
        let sd = SecurityDescriptor::parse(&e.get("nTSecurityDescriptor").unwrap()[0]).unwrap();
        let granted: Vec<Sid> = sd
            .dacl
            .unwrap()
            .into_iter()
            .filter(|a| {
                a.object_type == Some(enroll)
                    || a.mask & adcs_proto::sd::rights::CONTROL_ACCESS != 0
                        && a.object_type.is_none()
            })
            .map(|a| a.sid)
            .collect();
        for u in dir.users() {
            let id = dir.identity(u);
            let mut sids = vec![Sid::parse(&u.object_sid(&ca.seed())).unwrap()];
            for g in &id.requester.groups {
                sids.push(Sid::parse(&crate::db::sid::of(&ca.seed(), g)).unwrap());
            }
            let by_dacl = sids.iter().any(|s| granted.contains(s));
            let by_engine = t.may_enroll(&id.account, &id.requester.groups);
            assert_eq!(by_dacl, by_engine, "{} for {}", t.name, u.name);
        }
    }
}

#[test]
fn projection_keeps_asked_attributes_and_descriptor_parts() {
    let (ca, dir, naming) = world(CaConfig::default());
    let entries = objects(&ca, &dir, &naming);
    let t = entries
        .iter()
        .find(|e| e.dn.starts_with("CN=User,CN=Certificate Templates"))
        .unwrap();
    let got = project(
        t,
        &[
            "NTSECURITYDESCRIPTOR".into(),
            "cn".into(),
            "noSuchAttr".into(),
        ],
        part::OWNER | part::DACL,
        false,
    );
    let names: Vec<&str> = got.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["cn", "nTSecurityDescriptor"]);
    let sd = SecurityDescriptor::parse(&got[1].values[0]).unwrap();
    assert!(sd.owner.is_some() && sd.dacl.is_some() && sd.group.is_none());
    assert!(project(t, &["1.1".into()], 7, false).is_empty());
    let all = project(t, &[], 7, true);
    assert!(all.len() > 20 && all.iter().all(|a| a.values.is_empty()));
    let ops = project(t, &["+".into()], 7, false);
    assert_eq!(ops.len(), 2, "createTimeStamp and modifyTimeStamp");
    // A missing base is noSuchObject with the best match.
    let err = scope(
        &entries,
        &naming,
        &format!("CN=Nope,{}", naming.domain_dn),
        SearchRequestScope::BaseObject,
    )
    .unwrap_err();
    assert_eq!(err.code, ldap::ResultCode::NoSuchObject);
    assert_eq!(err.matched_dn, naming.domain_dn);
}

#[test]
fn a_standalone_ca_publishes_no_templates_and_no_enrollment_service() {
    let (ca, dir, naming) = world(CaConfig::standalone());
    let entries = objects(&ca, &dir, &naming);
    let pks = naming.pki_dn();
    assert!(find(
        &entries,
        &naming,
        &pks,
        &ldap::equality("objectClass", b"pKICertificateTemplate")
    )
    .is_empty());
    assert!(find(
        &entries,
        &naming,
        &pks,
        &ldap::equality("objectClass", b"pKIEnrollmentService")
    )
    .is_empty());
    assert!(!find(
        &entries,
        &naming,
        &pks,
        &ldap::equality("objectClass", b"certificationAuthority")
    )
    .is_empty());
}

#[test]
fn a_changed_template_shows_at_once() {
    let (ca, dir, naming) = world(CaConfig::default());
    let mut t = ca.template("WebServer").unwrap();
    t.enroll = vec!["CONTOSO\\bob".into()];
    t.validity_days = 10;
    ca.put_template(t).unwrap();
    let entries = objects(&ca, &dir, &naming);
    let e = entries
        .iter()
        .find(|e| e.dn.starts_with("CN=WebServer,"))
        .unwrap();
    assert_eq!(
        e.get("pKIExpirationPeriod").unwrap()[0],
        (-10 * 864_000_000_000i64).to_le_bytes().to_vec()
    );
    let service = entries
        .iter()
        .find(|e| e.dn.contains("CN=Enrollment Services,") && e.dn.starts_with("CN=contoso"))
        .unwrap();
    assert!(service
        .get("certificateTemplates")
        .unwrap()
        .iter()
        .any(|v| v == b"WebServer"));
}

mod writes {
    use super::*;
    use crate::forest::write::{modify, Change};
    use adcs_proto::ldap::{ChangeOperation, ResultCode};
    use adcs_proto::sd::{rights, Ace};

    fn dn(naming: &Naming, t: &str) -> String {
        format!("CN={t},CN=Certificate Templates,{}", naming.pki_dn())
    }

    fn change(attribute: &str, values: &[&[u8]]) -> Change {
        Change {
            op: ChangeOperation::Replace,
            attribute: attribute.into(),
            values: values.iter().map(|v| v.to_vec()).collect(),
        }
    }

    /// Certipy's "write default configuration": enrollee supplies the
    /// subject, client authentication, Authenticated Users full control.
    fn esc1_configuration() -> Vec<Change> {
        let sd = SecurityDescriptor {
            owner: Some(Sid::parse("S-1-5-11").unwrap()),
            group: None,
            dacl: Some(vec![
                Ace::allow(Sid::parse("S-1-5-11").unwrap(), rights::FULL_CONTROL),
                Ace::allow(Sid::parse("S-1-5-11").unwrap(), rights::GENERIC_READ),
            ]),
        };
        vec![
            change("msPKI-Certificate-Name-Flag", &[b"1"]),
            change("pKIExtendedKeyUsage", &[b"1.3.6.1.5.5.7.3.2"]),
            change("msPKI-Enrollment-Flag", &[b"0"]),
            change("flags", &[b"131642"]),
            change(
                "pKIDefaultCSPs",
                &[b"2,Microsoft Base Cryptographic Provider v1.0"],
            ),
            change("nTSecurityDescriptor", &[&sd.to_bytes()]),
        ]
    }

    #[test]
    fn only_those_the_dacl_lets_write_change_a_template() {
        let (ca, dir, naming) = world(CaConfig::default());
        let alice = dir.identity(dir.find("", "alice").unwrap());
        let admin = dir.identity(dir.find("", "administrator").unwrap());
        let refused = modify(
            &ca,
            &dir,
            &naming,
            &alice,
            &dn(&naming, "User"),
            &esc1_configuration(),
            part::DACL,
        )
        .unwrap_err();
        assert_eq!(refused.code, ResultCode::InsufficientAccessRights);
        assert!(
            refused.diagnostic.starts_with("00002098"),
            "{}",
            refused.diagnostic
        );
        let t = modify(
            &ca,
            &dir,
            &naming,
            &admin,
            &dn(&naming, "User"),
            &esc1_configuration(),
            part::DACL,
        )
        .unwrap();
        assert_eq!(t.subject, crate::template::SubjectSource::Request);
        assert_eq!(t.ekus, ["1.3.6.1.5.5.7.3.2"]);
        assert!(
            t.may_enroll(&alice.account, &alice.requester.groups),
            "full control carries Enroll"
        );
        assert_eq!(
            t.owner, "Enterprise Admins",
            "the owner part was not written"
        );
        ca.put_template(t).unwrap();
        // The directory answers what was written, the CA issues from it.
        let entries = objects(&ca, &dir, &naming);
        let e = entries
            .iter()
            .find(|e| e.dn == dn(&naming, "User"))
            .unwrap();
        assert_eq!(e.text("flags").unwrap(), "131642");
        assert_eq!(e.text("msPKI-Certificate-Name-Flag").unwrap(), "1");
        assert_eq!(
            e.text("pKIDefaultCSPs").unwrap(),
            "2,Microsoft Base Cryptographic Provider v1.0"
        );
        // Now alice holds full control herself: she may write it again.
        let again = vec![change("msPKI-Minimal-Key-Size", &[b"4096"])];
        let t = modify(
            &ca,
            &dir,
            &naming,
            &alice,
            &dn(&naming, "User"),
            &again,
            part::DACL,
        )
        .unwrap();
        assert_eq!(t.min_key_size, 4096);
    }

    #[test]
    fn writes_the_ca_cannot_act_on_are_refused() {
        let (ca, dir, naming) = world(CaConfig::default());
        let admin = dir.identity(dir.find("", "administrator").unwrap());
        let user = dn(&naming, "User");
        for (attr, value, code) in [
            (
                "msPKI-RA-Signature",
                &b"-1"[..],
                ResultCode::UnwillingToPerform,
            ),
            (
                "msPKI-RA-Policies",
                b"1.2.3",
                ResultCode::UnwillingToPerform,
            ),
            ("cn", b"Other", ResultCode::NotAllowedOnRdn),
            ("objectGUID", b"x", ResultCode::UnwillingToPerform),
            ("noSuchAttribute", b"1", ResultCode::UndefinedAttributeType),
            (
                "pKIExpirationPeriod",
                b"short",
                ResultCode::ConstraintViolation,
            ),
        ] {
            let e = modify(
                &ca,
                &dir,
                &naming,
                &admin,
                &user,
                &[change(attr, &[value])],
                part::DACL,
            )
            .unwrap_err();
            assert_eq!(e.code, code, "{attr}");
        }
        let two = change("msPKI-Minimal-Key-Size", &[b"1", b"2"]);
        assert_eq!(
            modify(&ca, &dir, &naming, &admin, &user, &[two], part::DACL)
                .unwrap_err()
                .code,
            ResultCode::ConstraintViolation
        );
        let other = format!("CN=alice,CN=Users,{}", naming.domain_dn);
        assert_eq!(
            modify(
                &ca,
                &dir,
                &naming,
                &admin,
                &other,
                &[change("mail", &[b"a@b"])],
                part::DACL
            )
            .unwrap_err()
            .code,
            ResultCode::InsufficientAccessRights
        );
        let missing = dn(&naming, "NoSuchTemplate");
        assert_eq!(
            modify(
                &ca,
                &dir,
                &naming,
                &admin,
                &missing,
                &[change("flags", &[b"1"])],
                part::DACL
            )
            .unwrap_err()
            .code,
            ResultCode::NoSuchObject
        );
    }
    #[test]
    fn the_lab_templates_read_and_write_as_their_escs_need() {
        let mut config = CaConfig::default();
        crate::lab::apply(&mut config, &crate::lab::Esc::ALL);
        let (ca, dir, naming) = world(config);
        let alice = dir.identity(dir.find("", "alice").unwrap());
        let entries = objects(&ca, &dir, &naming);
        let entry = |dn: &str| entries.iter().find(|e| e.dn == dn).unwrap();
        // ESC9: the flag as Certipy tests it; ESC13: the policy and its link.
        let esc9 = entry(&dn(&naming, "ESC9"));
        let flag: i64 = esc9.text("msPKI-Enrollment-Flag").unwrap().parse().unwrap();
        assert_ne!(flag & 0x8_0000, 0, "{flag:#x}");
        let policy = crate::lab::esc13_policy_oid();
        let esc13 = entry(&dn(&naming, "ESC13"));
        assert_eq!(esc13.text("msPKI-Certificate-Policy").unwrap(), policy);
        let oid_object = entries
            .iter()
            .find(|e| {
                e.text("msPKI-Cert-Template-OID").as_deref() == Some(policy.as_str())
                    && e.text("flags").as_deref() == Some("2")
            })
            .expect("the issuance policy's OID object");
        let group = oid_object.text("msDS-OIDToGroupLink").unwrap();
        assert_eq!(
            group,
            format!("CN=ESC13 Group,CN=Users,{}", naming.domain_dn)
        );
        assert!(entries.iter().any(|e| e.dn == group), "the group exists");
        // ESC4: alice (a Domain User) may rewrite ESC4 but not User.
        let t = modify(
            &ca,
            &dir,
            &naming,
            &alice,
            &dn(&naming, "ESC4"),
            &esc1_configuration(),
            part::DACL,
        )
        .unwrap();
        assert_eq!(t.subject, crate::template::SubjectSource::Request);
        let e = modify(
            &ca,
            &dir,
            &naming,
            &alice,
            &dn(&naming, "User"),
            &esc1_configuration(),
            part::DACL,
        )
        .unwrap_err();
        assert_eq!(e.code, ResultCode::InsufficientAccessRights);
        // The flag and the policy written back are what the CA acts on.
        let admin = dir.identity(dir.find("", "administrator").unwrap());
        let t = modify(
            &ca,
            &dir,
            &naming,
            &admin,
            &dn(&naming, "User"),
            &[
                change("msPKI-Enrollment-Flag", &[b"524329"]),
                change("msPKI-Certificate-Policy", &[policy.as_bytes()]),
            ],
            part::DACL,
        )
        .unwrap();
        assert!(t.no_security_extension);
        assert_eq!(t.issuance_policies, vec![policy]);
        assert!(!t
            .directory_attributes
            .contains_key("msPKI-Certificate-Policy"));
    }
}

#[test]
fn a_template_changed_by_an_administrator_shows_when() {
    let (ca, dir, naming) = world(CaConfig::default());
    let dn = format!("CN=User,CN=Certificate Templates,{}", naming.pki_dn());
    let when = |ca: &Ca| {
        let entries = objects(ca, &dir, &naming);
        let e = entries.iter().find(|e| e.dn == dn).unwrap();
        (
            e.text("whenCreated").unwrap(),
            e.text("whenChanged").unwrap(),
        )
    };
    let (created, changed) = when(&ca);
    assert_eq!(created, changed, "a template as the CA was made");
    ca.clock().advance(3600);
    let t = ca.template("User").unwrap();
    ca.put_template(t).unwrap();
    let (created_after, changed_after) = when(&ca);
    assert_eq!(created_after, created);
    assert_eq!(changed_after, generalized_time(T0 + 3600));
}
