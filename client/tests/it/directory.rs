//! The client's directory reader against the mock's domain controller:
//! NTLM and simple binds over LDAP and LDAPS, the enrollment services as
//! certutil -ADCA lists them, and the templates the signed-in account may
//! enroll in, read from their DACLs and matching what the CA enforces.

use std::time::Duration;

use adcs_client::http::Trust;
use adcs_client::ldap::{self, Bind, Connection};
use adcs_proto::ldap::SearchRequestScope;
use mock_ca::testing::{start_with, ALICE, BOB};
use mock_ca::web::ldap::LdapConfig;
use mock_ca::web::{Server, WebOptions};
use mock_ca::CaConfig;

const TIMEOUT: Duration = Duration::from_secs(30);

fn server(config: CaConfig) -> Server {
    start_with(
        config,
        WebOptions {
            ldap: Some(LdapConfig {
                port: 0,
                ldaps_port: 0,
                ..Default::default()
            }),
            ..Default::default()
        },
    )
}

fn connect(s: &Server, tls: bool) -> Connection {
    let (plain, secure) = s.ldap_addrs().unwrap();
    let url = if tls {
        format!("ldaps://{secure}")
    } else {
        format!("ldap://{plain}")
    };
    let trust = Trust::Roots(vec![s.ca().root_certificate()]);
    Connection::connect(&url, &trust, TIMEOUT).unwrap()
}

fn ntlm(who: (&str, &str)) -> Bind {
    Bind::Ntlm {
        user: who.0.into(),
        password: who.1.into(),
    }
}

#[test]
fn the_enrollment_service_and_templates_read_as_certutil_shows_them() {
    let s = server(CaConfig::default());
    for tls in [false, true] {
        let mut c = connect(&s, tls);
        c.bind(&ntlm(ALICE)).unwrap();
        let cas = ldap::enrollment_services(&mut c).unwrap();
        assert_eq!(cas.len(), 1);
        assert_eq!(cas[0].name, s.ca().ca_cn());
        assert_eq!(cas[0].dns_name, "ca01.contoso.test");
        assert_eq!(cas[0].certificate, s.ca().ca_certificate(0).unwrap());
        assert!(cas[0].templates.iter().any(|t| t == "User"));
    }
}

#[test]
fn may_enroll_follows_the_dacl_as_the_ca_does() {
    let s = server(CaConfig::default());
    let mut t = s.ca().template("WebServer").unwrap();
    t.enroll = vec!["Web Admins".into()];
    s.ca().put_template(t).unwrap();
    for (who, expect) in [(ALICE, false), (BOB, true)] {
        let mut c = connect(&s, false);
        c.bind(&Bind::Simple {
            name: who.0.into(),
            password: who.1.into(),
        })
        .unwrap();
        let all = ldap::templates(&mut c, who.0).unwrap();
        let web = all.iter().find(|t| t.name == "WebServer").unwrap();
        assert_eq!(web.may_enroll, expect, "{}", who.0);
        assert!(web.published && web.enrollee_supplies_subject);
        let user = all.iter().find(|t| t.name == "User").unwrap();
        assert!(user.may_enroll, "Domain Users enroll in User");
        // What the DACL says is what the CA enforces.
        let ca_says = s.ca().template("WebServer").unwrap();
        let account = s.users().iter().find(|u| u.name == who.0).unwrap();
        let id =
            mock_ca::web::directory::Directory::new(s.users().to_vec(), "CONTOSO", "contoso.test")
                .identity(account);
        assert_eq!(
            ca_says.may_enroll(&id.account, &id.requester.groups),
            expect
        );
    }
}

#[test]
fn a_wrong_password_and_a_search_before_binding_are_refused() {
    let s = server(CaConfig::default());
    let mut c = connect(&s, false);
    let e = c.bind(&ntlm((ALICE.0, "wrong"))).unwrap_err();
    assert!(e.is_invalid_credentials(), "{e}");
    assert!(e.to_string().contains("data 52e"), "{e}");
    let e = c
        .search(
            "DC=contoso,DC=test",
            SearchRequestScope::WholeSubtree,
            adcs_proto::ldap::present("cn"),
            &[],
        )
        .unwrap_err();
    assert!(e.to_string().contains("000004DC"), "{e}");
    assert!(Connection::connect("http://x", &Trust::AnyCertificate, TIMEOUT).is_err());
}

#[test]
fn ntlm_over_ldaps_sends_the_channel_binding_a_strict_dc_requires() {
    let s = start_with(
        CaConfig::default(),
        WebOptions {
            ldap: Some(LdapConfig {
                port: 0,
                ldaps_port: 0,
                channel_binding: adcs_proto::ntlm::ChannelBindingPolicy::Require,
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let mut c = connect(&s, true);
    assert!(c.server_certificate().is_some());
    c.bind(&ntlm(ALICE)).unwrap();
    assert_eq!(ldap::enrollment_services(&mut c).unwrap().len(), 1);
}
