//! Our client against the server association, in memory: bind with NTLM,
//! auth3, a sealed call and its answer cut into fragments.

use super::assoc::{Acceptor, Association, Step};
use super::client::{self, Credentials};
use super::secure::level;
use super::{RpcError, ICERT_PASSAGE};
use crate::ntlm::{self, ChallengeState, ServerNames, Verified};

/// An NTLM acceptor for one password, whoever the user.
pub(crate) struct Password(pub(crate) &'static str);

impl Acceptor for Password {
    fn challenge(&mut self, negotiate: &[u8]) -> Result<ChallengeState, String> {
        let names = ServerNames {
            nb_domain: "CONTOSO".into(),
            nb_computer: "CA".into(),
            dns_domain: "contoso.test".into(),
            dns_computer: "ca.contoso.test".into(),
        };
        ntlm::challenge(negotiate, &names, [9; 8], ntlm::filetime(1_700_000_000))
            .map_err(|e| e.to_string())
    }

    fn authenticate(
        &mut self,
        state: &ChallengeState,
        msg: &[u8],
    ) -> Result<(String, Verified, u32), String> {
        let auth = ntlm::parse_authenticate(msg).map_err(|e| e.to_string())?;
        let policy = ntlm::ChannelBindingPolicy::Off;
        let v = ntlm::verify(state, msg, &auth, self.0, policy, None).map_err(|e| e.to_string())?;
        Ok((auth.user, v, auth.flags))
    }
}

const ALICE: Credentials = Credentials {
    user: "alice",
    domain: "CONTOSO",
    password: "P@ssw0rd!",
};

/// Binds and authenticates; the server's association and the client's.
fn connect(
    auth_level: u8,
    server_password: &'static str,
) -> (Association, client::ClientAssociation) {
    let mut server = Association::new(vec![ICERT_PASSAGE], 49667, 0x1234);
    let mut acceptor = Password(server_password);
    let (bind, negotiate) = client::bind(&ICERT_PASSAGE, auth_level);
    let Step::Send(ack) = server.feed(&bind, &mut acceptor) else {
        panic!("no bind_ack")
    };
    let (auth3, assoc) = client::bound(&ack, &negotiate, auth_level, &ALICE).unwrap();
    if let Some(auth3) = auth3 {
        assert!(matches!(server.feed(&auth3, &mut acceptor), Step::Nothing));
    }
    (server, assoc)
}

/// Splits a byte stream into its fragments.
fn fragments(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Ok(Some(n)) = super::pdu::fragment_len(bytes) {
        out.push(bytes[..n].to_vec());
        bytes = &bytes[n..];
    }
    out
}

#[test]
fn a_sealed_call_and_a_long_answer_arrive_whole() {
    let (mut server, mut client) = connect(level::PKT_PRIVACY, "P@ssw0rd!");
    assert_eq!(server.authenticated(), Some(("alice", level::PKT_PRIVACY)));
    let stub: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
    let frags = fragments(&client.call(0, &stub));
    assert!(frags.len() > 3, "cut to the server's fragment size");
    let mut acceptor = Password("unused");
    let mut call = None;
    for f in &frags {
        match server.feed(f, &mut acceptor) {
            Step::Nothing => {}
            Step::Call(c) => call = Some(c),
            other => panic!("{other:?}"),
        }
    }
    let call = call.expect("the last fragment completes the call");
    assert_eq!(
        (call.opnum, call.auth_level, call.interface),
        (0, level::PKT_PRIVACY, ICERT_PASSAGE)
    );
    assert_eq!(call.stub, stub);
    let answer: Vec<u8> = stub.iter().rev().copied().collect();
    let mut got = None;
    for f in fragments(&server.respond(&call, &answer)) {
        got = client.response(&f).unwrap();
    }
    assert_eq!(got, Some(answer));
}

#[test]
fn a_wrong_password_leaves_the_association_unauthenticated() {
    let (mut server, mut client) = connect(level::PKT_PRIVACY, "another password");
    assert_eq!(server.authenticated(), None);
    assert!(server.auth_failure().unwrap().contains("wrong password"));
    // Its sealed request cannot be read: the server closes with a fault.
    let frag = client.call(0, b"stub");
    let mut acceptor = Password("unused");
    match server.feed(&frag, &mut acceptor) {
        Step::Call(c) => assert_eq!(c.auth_level, level::NONE),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_unknown_interface_is_refused_in_the_bind_ack() {
    let mut server = Association::new(vec![super::EPM], 135, 1);
    let (bind, negotiate) = client::bind(&ICERT_PASSAGE, level::NONE);
    let Step::Send(ack) = server.feed(&bind, &mut Password("x")) else {
        panic!()
    };
    let err = client::bound(&ack, &negotiate, level::NONE, &ALICE).err();
    assert_eq!(err, Some(RpcError::Rejected(1)));
}

#[test]
fn a_tampered_sealed_request_closes_the_connection_with_a_fault() {
    let (mut server, mut client) = connect(level::PKT_PRIVACY, "P@ssw0rd!");
    let mut frag = client.call(0, b"a request stub, sealed");
    frag[30] ^= 1;
    match server.feed(&frag, &mut Password("unused")) {
        Step::Close(fault, RpcError::Signature) => {
            let p = super::pdu::parse(&fault).unwrap();
            assert!(matches!(p.body, super::pdu::Body::Fault { status: 5, .. }));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn alter_context_adds_a_context_and_ndr64_alone_is_refused() {
    use super::pdu::{self, pfc, ptype, Bind, Body, ContextElem};
    use super::{NDR, NDR64};
    let mut server = Association::new(vec![ICERT_PASSAGE], 49667, 7);
    let proposal = |id, transfer: Vec<super::SyntaxId>| {
        Body::AlterContext(Bind {
            max_xmit_frag: 4280,
            max_recv_frag: 4280,
            assoc_group: 0,
            contexts: vec![ContextElem {
                id,
                abstract_syntax: ICERT_PASSAGE,
                transfer_syntaxes: transfer,
            }],
        })
    };
    let flags = pfc::FIRST_FRAG | pfc::LAST_FRAG;
    for (id, transfer, result, reason) in [(1, vec![NDR64], 2, 2), (2, vec![NDR64, NDR], 0, 0)] {
        let alter = pdu::encode(
            ptype::ALTER_CONTEXT,
            flags,
            3,
            &proposal(id, transfer),
            None,
        );
        let Step::Send(reply) = server.feed(&alter, &mut Password("x")) else {
            panic!("no alter_context_resp")
        };
        let p = pdu::parse(&reply).unwrap();
        let Body::AlterContextResp(ack) = p.body else {
            panic!("{p:?}")
        };
        assert_eq!(
            (ack.results[0].result, ack.results[0].reason),
            (result, reason)
        );
        assert!(ack.sec_addr.is_empty());
    }
    // A call on the refused context is unknown; on the accepted one it is a call.
    for (context_id, is_call) in [(1, false), (2, true)] {
        let body = Body::Request(pdu::Request {
            alloc_hint: 0,
            context_id,
            opnum: 0,
            object: None,
            stub: vec![],
        });
        let frag = pdu::encode(ptype::REQUEST, flags, 4, &body, None);
        match server.feed(&frag, &mut Password("x")) {
            Step::Call(c) => assert!(is_call, "{c:?}"),
            Step::Send(fault) => {
                assert!(!is_call);
                let p = pdu::parse(&fault).unwrap();
                assert!(
                    matches!(
                        p.body,
                        Body::Fault {
                            status: 0x1c01_0003,
                            ..
                        }
                    ),
                    "{p:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_request_below_the_bound_level_is_refused() {
    use super::pdu::{self, pfc, ptype, Body, Request};
    let body = Body::Request(Request {
        alloc_hint: 4,
        context_id: 0,
        opnum: 0,
        object: None,
        stub: b"stub".to_vec(),
    });
    let flags = pfc::FIRST_FRAG | pfc::LAST_FRAG;
    // Without a verifier on a privacy-bound association.
    let (mut server, _client) = connect(level::PKT_PRIVACY, "P@ssw0rd!");
    let bare = pdu::encode(ptype::REQUEST, flags, 3, &body, None);
    assert!(matches!(
        server.feed(&bare, &mut Password("unused")),
        Step::Close(_, RpcError::Malformed(_))
    ));
    // A trailer naming connect level on an integrity-bound association.
    let (mut server, _client) = connect(level::PKT_INTEGRITY, "P@ssw0rd!");
    let connect_level = super::secure::placeholder(level::CONNECT, 79231);
    let lower = pdu::encode(ptype::REQUEST, flags, 3, &body, Some(&connect_level));
    match server.feed(&lower, &mut Password("unused")) {
        Step::Close(fault, RpcError::Malformed(_)) => {
            let p = pdu::parse(&fault).unwrap();
            assert!(matches!(p.body, Body::Fault { status: 5, .. }), "{p:?}");
        }
        other => panic!("{other:?}"),
    }
}
