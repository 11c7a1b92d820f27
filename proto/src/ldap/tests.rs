use super::control::{self, Paged};
use super::*;

/// ldapsearch's anonymous bind, as OpenLDAP writes it.
const ANONYMOUS_BIND: &[u8] = &[
    0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00,
];

#[test]
fn frames_are_cut_from_a_stream() {
    assert_eq!(frame_len(&[], MAX_MESSAGE), Ok(None));
    assert_eq!(frame_len(&ANONYMOUS_BIND[..5], MAX_MESSAGE), Ok(None));
    assert_eq!(frame_len(ANONYMOUS_BIND, MAX_MESSAGE), Ok(Some(14)));
    let mut two = ANONYMOUS_BIND.to_vec();
    two.extend_from_slice(ANONYMOUS_BIND);
    assert_eq!(frame_len(&two, MAX_MESSAGE), Ok(Some(14)));
    // Long form lengths, checked against the bound before any wait.
    assert_eq!(frame_len(&[0x30, 0x82, 0x01], MAX_MESSAGE), Ok(None));
    assert_eq!(
        frame_len(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff], MAX_MESSAGE),
        Err(LdapError::TooLarge(0x7fff_ffff + 6))
    );
    assert_eq!(
        frame_len(&[0x30, 0x80], MAX_MESSAGE),
        Err(LdapError::IndefiniteLength)
    );
    assert_eq!(
        frame_len(b"GET / HTTP/1.1", MAX_MESSAGE),
        Err(LdapError::NotASequence(b'G'))
    );
}

#[test]
fn an_anonymous_bind_reads_as_openldap_sends_it() {
    let r = Request::decode(ANONYMOUS_BIND).unwrap();
    assert_eq!(r.id, 1);
    assert_eq!(
        r.op,
        Op::Bind(Bind {
            version: 3,
            name: String::new(),
            auth: BindAuth::Simple(Vec::new()),
        })
    );
    assert!(r.controls.is_empty());
}

#[test]
fn sicily_binds_go_both_ways() {
    for auth in [
        BindAuth::SicilyDiscovery,
        BindAuth::SicilyNegotiate(b"NTLMSSP\0\x01\0\0\0".to_vec()),
        BindAuth::SicilyResponse(vec![0xff, 0x00, 0x80]),
    ] {
        let bytes = request::bind(7, "CONTOSO\\alice", &auth);
        let r = Request::decode(&bytes).unwrap();
        let Op::Bind(b) = r.op else { panic!("{r:?}") };
        assert_eq!((r.id, b.name.as_str(), b.auth), (7, "CONTOSO\\alice", auth));
    }
    // The challenge travels in matchedDN as raw bytes.
    let challenge = [b'N', b'T', b'L', b'M', 0x00, 0xff, 0x80];
    let bytes = response::bind(7, &Outcome::success(), &challenge, None);
    let (id, resp, _) = Response::decode(&bytes).unwrap();
    assert_eq!(id, 7);
    let Response::Bind { matched_dn, .. } = resp else {
        panic!("{resp:?}")
    };
    assert_eq!(matched_dn, challenge);
}

#[test]
fn searches_keep_binary_assertions_and_controls() {
    let sid = vec![1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 0xfe, 0xff];
    let filter = Filter::And(
        vec![
            equality("objectSid", &sid),
            present("objectClass"),
            Filter::ExtensibleMatch(MatchingRuleAssertion::new(
                Some(oid::IN_CHAIN.into()),
                Some("member".into()),
                b"CN=alice,CN=Users,DC=contoso,DC=test".to_vec().into(),
                false,
            )),
        ]
        .into(),
    );
    let s = search_request(
        "DC=contoso,DC=test",
        SearchRequestScope::WholeSubtree,
        filter.clone(),
        &["objectSid", "member"],
    );
    let paged = Paged {
        size: 200,
        cookie: Vec::new(),
    };
    let bytes = request::search(
        3,
        &s,
        &[paged.control(true), control::sd_flags_control(5, false)],
    );
    let r = Request::decode(&bytes).unwrap();
    let Op::Search(got) = r.op else {
        panic!("{r:?}")
    };
    assert_eq!(got.filter, filter);
    assert_eq!(&*got.base_object, "DC=contoso,DC=test");
    let p = control::find(&r.controls, control::PAGED_RESULTS).unwrap();
    assert!(p.critical);
    assert_eq!(Paged::parse(p.value.as_deref().unwrap()).unwrap(), paged);
    let sd = control::find(&r.controls, control::SD_FLAGS).unwrap();
    assert_eq!(control::sd_flags(sd.value.as_deref().unwrap()), Ok(5));
}

#[test]
fn entries_keep_the_directory_order_of_values() {
    let attrs = vec![Attribute {
        name: "objectClass".into(),
        values: vec![
            b"top".to_vec(),
            b"person".to_vec(),
            b"organizationalPerson".to_vec(),
            b"user".to_vec(),
        ],
    }];
    let bytes = response::entry(4, "CN=alice,CN=Users,DC=contoso,DC=test", &attrs);
    let (_, resp, _) = Response::decode(&bytes).unwrap();
    assert_eq!(
        resp,
        Response::Entry {
            dn: "CN=alice,CN=Users,DC=contoso,DC=test".into(),
            attributes: attrs,
        }
    );
}

#[test]
fn results_carry_their_operation_and_controls() {
    let o = Outcome::new(ResultCode::InsufficientAccessRights, "00002098: SecErr");
    for kind in [
        Done::Search,
        Done::Modify,
        Done::Add,
        Done::Delete,
        Done::ModifyDn,
        Done::Compare,
    ] {
        let paged = Paged {
            size: 0,
            cookie: b"next".to_vec(),
        };
        let bytes = response::done(9, kind, &o, &[paged.control(false)]);
        let (id, resp, controls) = Response::decode(&bytes).unwrap();
        assert_eq!(id, 9);
        assert_eq!(
            resp,
            Response::Done {
                kind,
                outcome: o.clone()
            }
        );
        assert_eq!(
            Paged::parse(controls[0].value.as_deref().unwrap()),
            Ok(paged)
        );
        assert_eq!(Done::from_tag(kind as u8), Some(kind));
    }
    let bytes = response::extended(2, &Outcome::success(), None, Some(b"u:CONTOSO\\alice"));
    let (_, resp, _) = Response::decode(&bytes).unwrap();
    assert!(matches!(resp, Response::Extended { value: Some(v), .. } if v == b"u:CONTOSO\\alice"));
    let r = Request::decode(&request::extended(5, oid::WHOAMI, None)).unwrap();
    assert_eq!(
        r.op,
        Op::Extended {
            name: oid::WHOAMI.into(),
            value: None
        }
    );
    assert_eq!(Request::decode(&request::unbind(6)).unwrap().op, Op::Unbind);
}

#[test]
fn ber_true_as_one_is_read() {
    // pyasn1's BER writes BOOLEAN TRUE as 0x01: a critical paged control.
    let paged = Paged {
        size: 10,
        cookie: Vec::new(),
    };
    let s = search_request(
        "",
        SearchRequestScope::BaseObject,
        present("objectClass"),
        &[],
    );
    let mut bytes = request::search(1, &s, &[paged.control(true)]);
    let at = bytes
        .windows(3)
        .position(|w| w == [0x01, 0x01, 0xff])
        .expect("a DER TRUE");
    bytes[at + 2] = 0x01;
    let r = Request::decode(&bytes).unwrap();
    assert!(r.controls[0].critical);
}

#[test]
fn garbage_is_an_error_never_a_panic() {
    for bad in [
        &b""[..],
        &[0x30, 0x03, 0x02, 0x01, 0x01],
        &[0x30, 0x05, 0x02, 0x01, 0x01, 0x7f, 0x00],
        &[0x30, 0x06, 0x02, 0x01, 0x01, 0x63, 0x01, 0x00],
        &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
    ] {
        assert!(Request::decode(bad).is_err(), "{bad:02x?}");
        assert!(Response::decode(bad).is_err(), "{bad:02x?}");
    }
}

#[test]
fn filters_print_in_rfc_4515_form() {
    let f = Filter::And(
        vec![
            equality("objectSid", &[1, 5, 0x2a]),
            present("cn"),
            Filter::Not(Box::new(equality("cn", b"a*b"))),
            Filter::ExtensibleMatch(MatchingRuleAssertion::new(
                Some(oid::BIT_AND.into()),
                Some("userAccountControl".into()),
                b"2".to_vec().into(),
                false,
            )),
        ]
        .into(),
    );
    assert_eq!(
        filter_text(&f),
        "(&(objectSid=\\01\\05\\2a)(cn=*)(!(cn=a\\2ab))(userAccountControl:1.2.840.113556.1.4.803:=2))"
    );
}
