//! The directory over sockets, spoken with adcs_proto's LDAP messages:
//! the rootDSE to anyone, binds (simple, Sicily NTLM, wrong passwords),
//! searches refused before a bind, paging that ends, a template changed
//! in the engine seen at once, garbage that closes one connection only.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use adcs_proto::ldap::{
    self, control, request, BindAuth, Done, Outcome, Response, ResultCode, SearchRequestScope,
};
use adcs_proto::ntlm;
use adcs_proto::ntlm::session::{Role, Session as NtlmSession};
use mock_ca::testing::{start_with, ALICE};
use mock_ca::web::ldap::{LdapConfig, Signing};
use mock_ca::web::{Server, WebOptions};
use mock_ca::CaConfig;

fn server(config: CaConfig) -> Server {
    server_with(config, LdapConfig::default())
}

fn server_with(config: CaConfig, ldap: LdapConfig) -> Server {
    start_with(
        config,
        WebOptions {
            tls: false,
            ldap: Some(LdapConfig {
                port: 0,
                ldaps_port: 0,
                ..ldap
            }),
            ..Default::default()
        },
    )
}

/// A search's entries, its final result and the result's controls.
type Searched = (
    Vec<(String, Vec<ldap::Attribute>)>,
    Outcome,
    Vec<control::Control>,
);

struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    raw: Vec<u8>,
    next_id: u32,
    /// NTLM sealing after a bind that negotiated it.
    sealed: Option<NtlmSession>,
}

impl Client {
    fn connect(server: &Server) -> Client {
        let (plain, _) = server.ldap_addrs().expect("LDAP is served");
        let stream = TcpStream::connect(plain).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Client {
            stream,
            buf: Vec::new(),
            raw: Vec::new(),
            next_id: 1,
            sealed: None,
        }
    }

    fn id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    /// Sends one message, in a sealed SASL buffer once sealing is on.
    fn send(&mut self, message: &[u8]) {
        let out = match self.sealed.as_mut() {
            Some(s) => {
                let mut body = message.to_vec();
                let all = 0..body.len();
                let sig = s.seal(&mut body, all);
                let mut out = ((16 + body.len()) as u32).to_be_bytes().to_vec();
                out.extend_from_slice(&sig);
                out.extend_from_slice(&body);
                out
            }
            None => message.to_vec(),
        };
        self.stream.write_all(&out).unwrap();
    }

    /// Moves one whole sealed SASL buffer, unsealed, into the message
    /// buffer; false when more bytes are needed.
    fn unseal_buffered(&mut self) -> bool {
        let Some(head) = self.raw.get(..4) else {
            return false;
        };
        let len = u32::from_be_bytes(head.try_into().unwrap()) as usize;
        if self.raw.len() < 4 + len {
            return false;
        }
        let frame: Vec<u8> = self.raw.drain(..4 + len).skip(4).collect();
        let (sig, body) = frame.split_at(16);
        let mut body = body.to_vec();
        let all = 0..body.len();
        let s = self.sealed.as_mut().unwrap();
        s.unseal(&mut body, all, sig)
            .expect("the server's signature");
        self.buf.extend_from_slice(&body);
        true
    }

    /// The next message, or `None` when the server closed the connection.
    fn read(&mut self) -> Option<(u32, Response, Vec<control::Control>)> {
        loop {
            if let Some(n) = ldap::frame_len(&self.buf, ldap::MAX_MESSAGE).unwrap() {
                let bytes: Vec<u8> = self.buf.drain(..n).collect();
                return Some(Response::decode(&bytes).unwrap());
            }
            if self.sealed.is_some() && self.unseal_buffered() {
                continue;
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) if self.sealed.is_some() => self.raw.extend_from_slice(&chunk[..n]),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn bind(&mut self, name: &str, auth: BindAuth) -> (Outcome, Vec<u8>) {
        let id = self.id();
        self.send(&request::bind(id, name, &auth));
        match self.read() {
            Some((
                got,
                Response::Bind {
                    outcome,
                    matched_dn,
                    ..
                },
                _,
            )) if got == id => (outcome, matched_dn),
            other => panic!("{other:?}"),
        }
    }

    /// A Sicily NTLM bind as ldap3 sends it (no signing).
    fn ntlm(&mut self, user: &str, password: &str) -> Outcome {
        self.ntlm_with(user, password, false)
    }

    /// A Sicily NTLM bind, asking for sealing as Certipy 5 does off TLS.
    fn ntlm_with(&mut self, user: &str, password: &str, seal: bool) -> Outcome {
        let (o, matched) = self.bind("", BindAuth::SicilyDiscovery);
        assert_eq!(
            (o.code, matched.as_slice()),
            (ResultCode::Success, &b"NTLM"[..])
        );
        let negotiate = if seal {
            ntlm::client_negotiate_sealing()
        } else {
            ntlm::client_negotiate()
        };
        let (_, challenge) = self.bind(user, BindAuth::SicilyNegotiate(negotiate.clone()));
        let flags = u32::from_le_bytes(challenge[20..24].try_into().unwrap());
        let granted = flags & (ntlm::flags::SIGN | ntlm::flags::SEAL) != 0;
        assert_eq!(granted, seal, "sealing granted exactly when asked for");
        let (domain, name) = user.split_once('\\').unwrap();
        let opts = ntlm::ClientOptions {
            channel_binding: None,
            mic: true,
            client_challenge: [7; 8],
        };
        let auth = ntlm::client_authenticate(&negotiate, &challenge, name, domain, password, &opts)
            .unwrap();
        let outcome = self.bind(user, BindAuth::SicilyResponse(auth.clone())).0;
        if seal && outcome.code == ResultCode::Success {
            let key = ntlm::client_session_key(&auth, password).unwrap();
            self.sealed = Some(NtlmSession::new(&key, flags, Role::Client).unwrap());
        }
        outcome
    }

    /// Entries and the final result of one search (one page).
    fn search(
        &mut self,
        base: &str,
        scope: SearchRequestScope,
        filter: ldap::Filter,
        attributes: &[&str],
        controls: &[control::Control],
    ) -> Searched {
        let id = self.id();
        let s = ldap::search_request(base, scope, filter, attributes);
        self.send(&request::search(id, &s, controls));
        let mut entries = Vec::new();
        loop {
            match self.read() {
                Some((_, Response::Entry { dn, attributes }, _)) => entries.push((dn, attributes)),
                Some((
                    _,
                    Response::Done {
                        kind: Done::Search,
                        outcome,
                    },
                    c,
                )) => return (entries, outcome, c),
                other => panic!("{other:?}"),
            }
        }
    }
}

fn values<'a>(attrs: &'a [ldap::Attribute], name: &str) -> Vec<&'a [u8]> {
    attrs
        .iter()
        .filter(|a| a.name.eq_ignore_ascii_case(name))
        .flat_map(|a| a.values.iter().map(Vec::as_slice))
        .collect()
}

const TEMPLATES: &str =
    "CN=Certificate Templates,CN=Public Key Services,CN=Services,CN=Configuration,DC=contoso,DC=test";

#[test]
fn anyone_reads_the_root_dse_but_nothing_else_before_a_bind() {
    let s = server(CaConfig::default());
    let mut c = Client::connect(&s);
    let (entries, o, _) = c.search(
        "",
        SearchRequestScope::BaseObject,
        ldap::present("objectClass"),
        &[],
        &[],
    );
    assert_eq!(o.code, ResultCode::Success);
    let root = &entries[0].1;
    assert_eq!(
        values(root, "defaultNamingContext"),
        [b"DC=contoso,DC=test"]
    );
    assert_eq!(
        values(root, "ldapServiceName"),
        [b"contoso.test:dc01$@CONTOSO.TEST"]
    );
    assert_eq!(values(root, "dnsHostName"), [b"dc01.contoso.test"]);
    let (_, o, _) = c.search(
        "DC=contoso,DC=test",
        SearchRequestScope::WholeSubtree,
        ldap::present("objectClass"),
        &[],
        &[],
    );
    assert_eq!(o.code, ResultCode::OperationsError);
    assert!(o.diagnostic.starts_with("000004DC"), "{}", o.diagnostic);
}

#[test]
fn binds_check_the_accounts_passwords() {
    let s = server(CaConfig::default());
    let mut c = Client::connect(&s);
    let (o, _) = c.bind("alice@contoso.test", BindAuth::Simple(b"wrong".to_vec()));
    assert_eq!(o.code, ResultCode::InvalidCredentials);
    assert!(o.diagnostic.contains("data 52e"), "{}", o.diagnostic);
    assert_eq!(
        c.ntlm(ALICE.0, "wrong").code,
        ResultCode::InvalidCredentials
    );
    let (o, _) = c.bind(
        "CN=alice,CN=Users,DC=contoso,DC=test",
        BindAuth::Simple(ALICE.1.as_bytes().to_vec()),
    );
    assert_eq!(o.code, ResultCode::Success);
    assert_eq!(c.ntlm(ALICE.0, ALICE.1).code, ResultCode::Success);
    let (entries, o, _) = c.search(
        "DC=contoso,DC=test",
        SearchRequestScope::WholeSubtree,
        ldap::equality("sAMAccountName", b"ALICE"),
        &["objectSid", "sAMAccountName"],
        &[],
    );
    assert_eq!((o.code, entries.len()), (ResultCode::Success, 1));
    assert_eq!(values(&entries[0].1, "sAMAccountName"), [b"alice"]);
    let journal = s.journal();
    let binds: Vec<_> = journal.iter().filter(|e| e.path == "ldap/bind").collect();
    assert!(binds
        .iter()
        .any(|e| e.status == 49 && e.detail.as_deref().unwrap_or("").contains("wrong password")));
    assert!(binds.iter().any(|e| e.status == 0
        && e.auth.as_deref() == Some("ntlm")
        && e.user.as_deref() == Some(ALICE.0)));
    let search = journal
        .iter()
        .find(|e| e.path == "ldap/search" && e.status == 0)
        .unwrap();
    assert!(
        search
            .detail
            .as_deref()
            .unwrap()
            .contains("(sAMAccountName=ALICE): 1 entries"),
        "{search:?}"
    );
}

#[test]
fn pages_end_and_a_changed_template_shows_at_once() {
    let s = server(CaConfig::default());
    let mut c = Client::connect(&s);
    assert_eq!(c.ntlm(ALICE.0, ALICE.1).code, ResultCode::Success);
    let filter = || ldap::equality("objectclass", b"pKICertificateTemplate");
    let mut cookie = Vec::new();
    let mut names = Vec::new();
    for _ in 0..10 {
        let paged = control::Paged {
            size: 4,
            cookie: cookie.clone(),
        }
        .control(true);
        let sd = control::sd_flags_control(5, false);
        let (entries, o, reply) = c.search(
            TEMPLATES,
            SearchRequestScope::WholeSubtree,
            filter(),
            &["cn", "nTSecurityDescriptor"],
            &[paged, sd],
        );
        assert_eq!(o.code, ResultCode::Success);
        names.extend(entries.iter().map(|(dn, _)| dn.clone()));
        for (_, attrs) in &entries {
            let sd =
                adcs_proto::sd::SecurityDescriptor::parse(values(attrs, "nTSecurityDescriptor")[0])
                    .unwrap();
            assert!(sd.owner.is_some() && sd.dacl.is_some() && sd.group.is_none());
        }
        cookie = control::Paged::parse(reply[0].value.as_deref().unwrap())
            .unwrap()
            .cookie;
        if cookie.is_empty() {
            break;
        }
    }
    assert!(cookie.is_empty(), "the cookie ends");
    assert_eq!(names.len(), s.ca().templates().len());
    let mut t = s.ca().template("WebServer").unwrap();
    t.validity_days = 5;
    s.ca().put_template(t).unwrap();
    let (entries, _, _) = c.search(
        &format!("CN=WebServer,{TEMPLATES}"),
        SearchRequestScope::BaseObject,
        ldap::present("objectClass"),
        &["pKIExpirationPeriod"],
        &[],
    );
    assert_eq!(
        values(&entries[0].1, "pKIExpirationPeriod"),
        [(-5 * 864_000_000_000i64).to_le_bytes().as_slice()]
    );
    // An unknown critical control is refused as AD refuses it.
    let odd = control::Control {
        oid: "1.2.3.4".into(),
        critical: true,
        value: None,
    };
    let (_, o, _) = c.search(
        TEMPLATES,
        SearchRequestScope::BaseObject,
        ldap::present("objectClass"),
        &[],
        &[odd],
    );
    assert_eq!(o.code, ResultCode::UnavailableCriticalExtension);
}

#[test]
fn a_standalone_ca_has_no_enrollment_service() {
    let s = server(CaConfig::standalone());
    let mut c = Client::connect(&s);
    assert_eq!(c.ntlm(ALICE.0, ALICE.1).code, ResultCode::Success);
    let base = "CN=Public Key Services,CN=Services,CN=Configuration,DC=contoso,DC=test";
    let (entries, o, _) = c.search(
        base,
        SearchRequestScope::WholeSubtree,
        ldap::equality("objectClass", b"pKIEnrollmentService"),
        &[],
        &[],
    );
    assert_eq!((o.code, entries.len()), (ResultCode::Success, 0));
}

#[test]
fn garbage_closes_that_connection_only() {
    let s = server(CaConfig::default());
    let mut bad = Client::connect(&s);
    bad.stream.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    match bad.read() {
        Some((0, Response::Extended { outcome, name, .. }, _)) => {
            assert_eq!(outcome.code, ResultCode::ProtocolError);
            assert_eq!(name.as_deref(), Some(ldap::oid::NOTICE_OF_DISCONNECTION));
        }
        other => panic!("{other:?}"),
    }
    assert!(bad.read().is_none(), "closed");
    let mut good = Client::connect(&s);
    let (o, _) = good.bind(
        "CONTOSO\\alice",
        BindAuth::Simple(ALICE.1.as_bytes().to_vec()),
    );
    assert_eq!(o.code, ResultCode::Success);
}

#[test]
fn a_sealed_ntlm_session_searches_in_sealed_buffers() {
    let s = server(CaConfig::default());
    let mut c = Client::connect(&s);
    assert_eq!(
        c.ntlm_with(ALICE.0, ALICE.1, true).code,
        ResultCode::Success
    );
    for _ in 0..2 {
        let (entries, o, _) = c.search(
            "DC=contoso,DC=test",
            SearchRequestScope::WholeSubtree,
            ldap::equality("objectClass", b"group"),
            &["cn"],
            &[],
        );
        assert_eq!(o.code, ResultCode::Success);
        assert!(
            entries.len() > 5,
            "every answer of a search in one sealed buffer"
        );
    }
    let sealed = s
        .journal()
        .into_iter()
        .filter(|e| e.auth.as_deref() == Some("ntlm sealed"))
        .count();
    assert!(
        sealed >= 3,
        "the bind and both searches journaled as sealed"
    );
}

#[test]
fn the_signing_policy_refuses_clear_binds_off_tls() {
    let policy = LdapConfig {
        signing: Signing::Require,
        ..Default::default()
    };
    let s = server_with(CaConfig::default(), policy);
    let mut c = Client::connect(&s);
    let (o, _) = c.bind(
        "alice@contoso.test",
        BindAuth::Simple(ALICE.1.as_bytes().to_vec()),
    );
    assert_eq!(o.code, ResultCode::StrongerAuthRequired);
    assert!(o.diagnostic.starts_with("00002028"), "{}", o.diagnostic);
    assert_eq!(
        c.ntlm(ALICE.0, ALICE.1).code,
        ResultCode::StrongerAuthRequired
    );
    assert_eq!(
        c.ntlm_with(ALICE.0, ALICE.1, true).code,
        ResultCode::Success
    );
}

#[test]
fn fault_rules_delay_refuse_or_cut_directory_operations() {
    use mock_ca::web::faults::FaultRule;
    let s = server(CaConfig::default());
    let rule = |endpoint: &str, nth: u64| FaultRule {
        endpoint: endpoint.into(),
        nth: Some(nth),
        ..Default::default()
    };
    s.set_faults(vec![
        FaultRule {
            result: Some(51),
            ..rule("ldap/search", 1)
        },
        FaultRule {
            reset: true,
            ..rule("ldap/*", 4)
        },
    ])
    .unwrap();
    let mut c = Client::connect(&s);
    let (o, _) = c.bind(
        "alice@contoso.test",
        BindAuth::Simple(ALICE.1.as_bytes().to_vec()),
    );
    assert_eq!(o.code, ResultCode::Success);
    let all = || ldap::present("objectClass");
    let base = "DC=contoso,DC=test";
    let (_, o, _) = c.search(base, SearchRequestScope::BaseObject, all(), &[], &[]);
    assert_eq!(
        o.code,
        ResultCode::Busy,
        "the first search is refused as busy"
    );
    let (entries, o, _) = c.search(base, SearchRequestScope::BaseObject, all(), &[], &[]);
    assert_eq!((o.code, entries.len()), (ResultCode::Success, 1));
    // The fourth directory operation is cut off unanswered.
    c.stream
        .write_all(&request::search(
            9,
            &ldap::search_request(base, SearchRequestScope::BaseObject, all(), &[]),
            &[],
        ))
        .unwrap();
    assert!(c.read().is_none(), "the connection is reset");
    let faults: Vec<_> = s.journal().into_iter().filter_map(|e| e.fault).collect();
    assert_eq!(faults.len(), 2, "{faults:?}");
    assert!(faults[0].contains("LDAP result 51"));
    // Rules that mean nothing for a directory operation are refused.
    let bad = FaultRule {
        status: Some(503),
        ..rule("ldap/search", 1)
    };
    assert!(s.set_faults(vec![bad]).is_err());
    let bad = FaultRule {
        result: Some(51),
        ..rule("certfnsh.asp", 1)
    };
    assert!(s.set_faults(vec![bad]).is_err());
}

#[test]
fn directory_connections_count_against_the_connection_limit() {
    let s = start_with(
        CaConfig::default(),
        WebOptions {
            tls: false,
            ldap: Some(LdapConfig {
                port: 0,
                ldaps_port: 0,
                ..Default::default()
            }),
            limits: mock_ca::web::limits::Limits {
                max_connections: 1,
                ..Default::default()
            },
            ..Default::default()
        },
    );
    let mut first = Client::connect(&s);
    let (o, _) = first.bind(
        "alice@contoso.test",
        BindAuth::Simple(ALICE.1.as_bytes().to_vec()),
    );
    assert_eq!(o.code, ResultCode::Success);
    let mut second = Client::connect(&s);
    assert!(
        second.read().is_none(),
        "a connection over the limit is closed"
    );
    assert_eq!(s.connection_counts().refused_over_limit, 1);
    drop(first);
    // The place is free again once the server has seen the first go
    // (waited for generously: a loaded machine may be slow to notice).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while s.connection_counts().open > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut third = Client::connect(&s);
    let (o, _) = third.bind("", BindAuth::Simple(Vec::new()));
    assert_eq!(o.code, ResultCode::Success, "served once a place is free");
}

#[test]
fn ldaps_presents_the_domain_controllers_own_certificate() {
    let s = server(CaConfig::default());
    assert_eq!(
        s.ca().next_request_id(),
        2,
        "the DC's certificate takes no request row: numbering is as without the directory"
    );
    let (_, secure) = s.ldap_addrs().unwrap();
    let url = format!("ldaps://{secure}");
    let any = adcs_client::http::Trust::AnyCertificate;
    let unchecked =
        adcs_client::ldap::Connection::connect(&url, &any, Duration::from_secs(30)).unwrap();
    let der = unchecked.server_certificate().unwrap().to_vec();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    assert_eq!(cert.subject().to_string(), "CN=dc01.contoso.test");
    let ca_der = s.ca().ca_certificate(0).unwrap();
    let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    assert_eq!(cert.issuer(), ca.subject(), "issued by the CA");
    let san = cert.subject_alternative_name().unwrap().unwrap().value;
    let names: Vec<String> = san.general_names.iter().map(|n| n.to_string()).collect();
    for want in [
        "DNSName(dc01.contoso.test)",
        "DNSName(contoso.test)",
        "IPAddress(7f:00:00:01)",
    ] {
        assert_eq!(
            names.iter().filter(|n| *n == want).count(),
            1,
            "{want} in {names:?}"
        );
    }
    // A client that checks the chain and the name gets in over LDAPS.
    let (_, secure) = s.ldap_addrs().unwrap();
    let trust = adcs_client::http::Trust::Roots(vec![s.ca().root_certificate()]);
    let mut c = adcs_client::ldap::Connection::connect(
        &format!("ldaps://{secure}"),
        &trust,
        Duration::from_secs(30),
    )
    .unwrap();
    c.bind(&adcs_client::ldap::Bind::Anonymous).unwrap();
    assert!(c.root_dse().is_ok());
}

#[test]
fn ntlm_inside_gss_spnego_signs_in_with_both_mech_list_mics() {
    use adcs_proto::gss::spnego;
    use adcs_proto::ntlm::Direction;
    let s = server(CaConfig::default());
    for (password, expect) in [
        (ALICE.1, ResultCode::Success),
        ("wrong", ResultCode::InvalidCredentials),
    ] {
        let mut c = Client::connect(&s);
        let sasl = |c: &mut Client, token: Vec<u8>| {
            let id = c.id();
            let auth = BindAuth::Sasl {
                mechanism: "GSS-SPNEGO".into(),
                credentials: Some(token),
            };
            c.send(&request::bind(id, "", &auth));
            match c.read() {
                Some((
                    _,
                    Response::Bind {
                        outcome,
                        sasl_creds,
                        ..
                    },
                    _,
                )) => (outcome, sasl_creds),
                other => panic!("{other:?}"),
            }
        };
        let negotiate = ntlm::client_negotiate();
        let (init, types) = spnego::client_ntlm_init(&negotiate);
        let (o, creds) = sasl(&mut c, init);
        assert_eq!(o.code, ResultCode::SaslBindInProgress);
        let challenge = spnego::read_resp(&creds.unwrap())
            .unwrap()
            .response_token
            .unwrap();
        let opts = ntlm::ClientOptions {
            mic: true,
            ..Default::default()
        };
        let auth =
            ntlm::client_authenticate(&negotiate, &challenge, "alice", "CONTOSO", password, &opts)
                .unwrap();
        let key = ntlm::client_session_key(&auth, password).unwrap();
        let flags = ntlm::parse_authenticate(&auth).unwrap().flags;
        let mic = ntlm::sign_first(&key, flags, Direction::ClientToServer, &types);
        let (o, creds) = sasl(&mut c, spnego::client_ntlm_answer(&auth, Some(&mic)));
        assert_eq!(o.code, expect, "{password}");
        if expect == ResultCode::Success {
            let server_mic = spnego::read_resp(&creds.unwrap()).unwrap().mech_list_mic;
            let ours = ntlm::sign_first(&key, flags, Direction::ServerToClient, &types);
            assert_eq!(server_mic.as_deref(), Some(&ours[..]));
            let (entries, o, _) = c.search(
                "DC=contoso,DC=test",
                SearchRequestScope::WholeSubtree,
                ldap::equality("sAMAccountName", b"alice"),
                &["cn"],
                &[],
            );
            assert_eq!((o.code, entries.len()), (ResultCode::Success, 1));
        }
    }
}
