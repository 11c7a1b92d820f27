//! The PDU codec fed bytes: a bind as impacket 0.13.1 writes it, round
//! trips of every body this side writes, and broken input refused.

use super::pdu::{self, pfc, ptype, Auth, BindAck, Body, ContextResult, Request, Response};
use super::*;

/// impacket's `MSRPCBind` for ICertPassage over NDR, call 1 (made with
/// impacket 0.13.1's rpcrt classes).
const IMPACKET_BIND: &str = "05000b03100000004800000001000000b810b8100000000001000000000001002060ae913c9ecf118d7c00aa00c091be00000000045d888aeb1cc9119fe808002b10486002000000";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn impackets_bind_reads_as_icert_passage_over_ndr() {
    let bytes = unhex(IMPACKET_BIND);
    assert_eq!(pdu::fragment_len(&bytes[..10]), Ok(None));
    assert_eq!(pdu::fragment_len(&bytes), Ok(Some(bytes.len())));
    let p = pdu::parse(&bytes).unwrap();
    assert_eq!(
        (p.header.ptype, p.header.call_id, p.header.flags),
        (ptype::BIND, 1, pfc::FIRST_FRAG | pfc::LAST_FRAG)
    );
    let Body::Bind(b) = &p.body else {
        panic!("{p:?}")
    };
    assert_eq!(
        (b.max_xmit_frag, b.max_recv_frag, b.assoc_group),
        (4280, 4280, 0)
    );
    assert_eq!(b.contexts.len(), 1);
    assert_eq!(b.contexts[0].abstract_syntax, ICERT_PASSAGE);
    assert_eq!(b.contexts[0].transfer_syntaxes, vec![NDR]);
    assert!(p.auth.is_none());
    // Written back, byte for byte.
    let again = pdu::encode(ptype::BIND, p.header.flags, 1, &p.body, None);
    assert_eq!(again, bytes);
}

#[test]
fn bodies_round_trip_with_and_without_auth() {
    let auth = Auth {
        auth_type: 10,
        auth_level: 6,
        pad_length: 0,
        context_id: 0,
        value: vec![7; 16],
    };
    let ack = Body::BindAck(BindAck {
        max_xmit_frag: 4280,
        max_recv_frag: 4280,
        assoc_group: 0x1234,
        sec_addr: "49667".into(),
        results: vec![
            ContextResult {
                result: 0,
                reason: 0,
                transfer_syntax: NDR,
            },
            ContextResult {
                result: 2,
                reason: 2,
                transfer_syntax: SyntaxId {
                    uuid: [0; 16],
                    version: 0,
                },
            },
        ],
    });
    let request = Body::Request(Request {
        alloc_hint: 5,
        context_id: 0,
        opnum: 0,
        object: None,
        stub: vec![1, 2, 3, 4, 5],
    });
    let response = Body::Response(Response {
        alloc_hint: 3,
        context_id: 0,
        stub: vec![9, 9, 9],
    });
    let fault = Body::Fault {
        context_id: 0,
        status: status::NCA_S_OP_RNG_ERROR,
    };
    let flags = pfc::FIRST_FRAG | pfc::LAST_FRAG;
    for (t, body) in [
        (ptype::BIND_ACK, ack),
        (ptype::REQUEST, request),
        (ptype::RESPONSE, response),
        (ptype::FAULT, fault),
    ] {
        for a in [None, Some(&auth)] {
            let bytes = pdu::encode(t, flags, 7, &body, a);
            let p = pdu::parse(&bytes).unwrap_or_else(|e| panic!("{t}: {e}"));
            assert_eq!(p.body, body, "type {t}");
            assert_eq!(p.header.call_id, 7);
            match a {
                None => assert!(p.auth.is_none()),
                Some(a) => {
                    let got = p.auth.unwrap();
                    assert_eq!((got.auth_level, &got.value), (a.auth_level, &a.value));
                    // Calls' trailers start 16-aligned from the body, the
                    // others' 4-aligned (where impacket reads a bind_ack's).
                    let trailer = bytes.len() - a.value.len() - pdu::SEC_TRAILER_LEN;
                    let align = match t {
                        ptype::REQUEST | ptype::RESPONSE => 16,
                        _ => 4,
                    };
                    assert_eq!((trailer - pdu::HEADER_LEN) % align, 0, "type {t}");
                    assert!(usize::from(got.pad_length) < align);
                }
            }
        }
    }
}

#[test]
fn broken_pdus_are_refused_by_name() {
    let good = unhex(IMPACKET_BIND);
    let mut v4 = good.clone();
    v4[0] = 4;
    assert_eq!(pdu::parse(&v4), Err(RpcError::Version(4, 0)));
    let mut be = good.clone();
    be[4] = 0x00;
    assert_eq!(pdu::parse(&be), Err(RpcError::BigEndian));
    // frag_length longer than what came.
    assert!(matches!(
        pdu::parse(&good[..40]),
        Err(RpcError::Truncated(_))
    ));
    // A context count promising more than the PDU holds.
    let mut many = good.clone();
    many[24] = 9;
    assert!(matches!(pdu::parse(&many), Err(RpcError::Truncated(_))));
    // An auth_length past the start.
    let mut auth = good.clone();
    auth[10] = 0xff;
    assert!(matches!(pdu::parse(&auth), Err(RpcError::Truncated(_))));
    let mut odd = good;
    odd[2] = 99;
    assert_eq!(pdu::parse(&odd), Err(RpcError::PduType(99)));
    // Every prefix of every PDU errs or parses; none panics.
    let bytes = pdu::encode(
        ptype::BIND_ACK,
        3,
        1,
        &Body::BindNak(4),
        Some(&Auth {
            auth_type: 10,
            auth_level: 2,
            pad_length: 0,
            context_id: 0,
            value: vec![1; 8],
        }),
    );
    for n in 0..bytes.len() {
        let mut cut = bytes[..n].to_vec();
        if cut.len() >= 10 {
            cut[8..10].copy_from_slice(&(n as u16).to_le_bytes());
        }
        let _ = pdu::parse(&cut);
    }
}

mod security {
    use super::super::pdu::{self, pfc, ptype, Body, Request, Response};
    use super::super::secure::{self, level};
    use super::super::RpcError;
    use crate::ntlm::session::{Role, Session};

    const FLAGS: u32 = 0xe008_0030;

    fn pair() -> (Session, Session) {
        let key = [7u8; 16];
        (
            Session::new(&key, FLAGS, Role::Client).unwrap(),
            Session::new(&key, FLAGS, Role::Server).unwrap(),
        )
    }

    fn request(level: u8, stub: &[u8]) -> Vec<u8> {
        let body = Body::Request(Request {
            alloc_hint: stub.len() as u32,
            context_id: 0,
            opnum: 0,
            object: None,
            stub: stub.to_vec(),
        });
        let auth = secure::placeholder(level, 79231);
        pdu::encode(
            ptype::REQUEST,
            pfc::FIRST_FRAG | pfc::LAST_FRAG,
            2,
            &body,
            Some(&auth),
        )
    }

    #[test]
    fn privacy_hides_the_stub_and_the_other_end_reads_it() {
        let (mut client, mut server) = pair();
        let stub = b"CertificateTemplate:User, sealed".to_vec();
        let mut frag = request(level::PKT_PRIVACY, &stub);
        secure::protect(&mut frag, &mut client).unwrap();
        assert!(!frag.windows(stub.len()).any(|w| w == stub), "sealed");
        assert_eq!(
            secure::unprotect(&mut frag, &mut server),
            Ok(level::PKT_PRIVACY)
        );
        let Body::Request(r) = pdu::parse(&frag).unwrap().body else {
            panic!()
        };
        assert_eq!(r.stub, stub);
        // The answer goes back the other way, on the other keys.
        let body = Body::Response(Response {
            alloc_hint: 3,
            context_id: 0,
            stub: vec![1, 2, 3],
        });
        let auth = secure::placeholder(level::PKT_PRIVACY, 79231);
        let mut frag = pdu::encode(ptype::RESPONSE, 3, 2, &body, Some(&auth));
        secure::protect(&mut frag, &mut server).unwrap();
        assert_eq!(
            secure::unprotect(&mut frag, &mut client),
            Ok(level::PKT_PRIVACY)
        );
        let Body::Response(r) = pdu::parse(&frag).unwrap().body else {
            panic!()
        };
        assert_eq!(r.stub, [1, 2, 3]);
    }

    #[test]
    fn integrity_signs_the_header_too() {
        let (mut client, mut server) = pair();
        let mut frag = request(level::PKT_INTEGRITY, b"in the clear");
        secure::protect(&mut frag, &mut client).unwrap();
        assert!(frag.windows(12).any(|w| w == b"in the clear"));
        let mut changed = frag.clone();
        changed[12] ^= 1; // the call ID, in the header
        assert_eq!(
            secure::unprotect(&mut changed, &mut server),
            Err(RpcError::Signature)
        );
        let (_, mut server) = pair();
        assert_eq!(
            secure::unprotect(&mut frag, &mut server),
            Ok(level::PKT_INTEGRITY)
        );
    }

    #[test]
    fn only_requests_and_responses_with_a_signature_are_protected() {
        let (mut client, _) = pair();
        let mut bind = super::unhex(super::IMPACKET_BIND);
        assert!(secure::protect(&mut bind, &mut client).is_err());
        let body = Body::Request(Request {
            alloc_hint: 0,
            context_id: 0,
            opnum: 0,
            object: None,
            stub: vec![],
        });
        let mut bare = pdu::encode(ptype::REQUEST, 3, 2, &body, None);
        assert!(secure::unprotect(&mut bare, &mut client).is_err());
    }
}

#[test]
fn a_stub_is_cut_to_fit_the_peers_fragments() {
    let stub = vec![7u8; 10_000];
    let pieces = pdu::split_stub(&stub, 4280);
    assert_eq!(pieces.len(), 3);
    assert_eq!(pieces[0].flags, pfc::FIRST_FRAG);
    assert_eq!(pieces[1].flags, 0);
    assert_eq!(pieces[2].flags, pfc::LAST_FRAG);
    assert_eq!(pieces[0].alloc_hint, 10_000);
    assert_eq!(pieces.iter().map(|p| p.bytes.len()).sum::<usize>(), 10_000);
    // Each piece, as a signed request fragment, fits the fragment size.
    for p in &pieces {
        let body = Body::Request(Request {
            alloc_hint: p.alloc_hint,
            context_id: 0,
            opnum: 0,
            object: None,
            stub: p.bytes.to_vec(),
        });
        let auth = super::secure::placeholder(6, 1);
        let frag = pdu::encode(ptype::REQUEST, p.flags, 2, &body, Some(&auth));
        assert!(frag.len() <= 4280, "{}", frag.len());
    }
    let one = pdu::split_stub(&[], 4280);
    assert_eq!(
        (one.len(), one[0].flags),
        (1, pfc::FIRST_FRAG | pfc::LAST_FRAG)
    );
}
