//! SPNEGO (RFC 4178) as Windows accepts it, sans-IO.
//!
//! Kerberos inside it goes to MIT, with one repair: impacket (so Certipy's
//! `-k`) sends a NegTokenInit whose Kerberos mechToken is a bare AP-REQ,
//! without the RFC 4121 framing (`[APPLICATION 0]`, the mechanism OID,
//! TOK_ID 01 00). SSPI takes that; MIT refuses it as a defective token.
//! Reading it as IIS does means adding the framing before MIT sees the
//! token, under the standard Kerberos OID: MIT finds no acceptor
//! credential for a token framed under Microsoft's alias when the client
//! lists only the alias, as impacket does.
//!
//! NTLM inside it (what Windows browsers and pyspnego send when Kerberos
//! is out of reach) is unwrapped here for the NTLM acceptor, and its
//! answers wrapped in NegTokenResp (MS-SPNG 3.3.5).

use der::asn1::{BitString, ContextSpecific, ObjectIdentifier as Oid, OctetString};
use der::{Decode, Encode, Header, Length, Reader, SliceReader, Tag, TagMode, TagNumber};

const SPNEGO: Oid = Oid::new_unwrap("1.3.6.1.5.5.2");
const KRB5: Oid = Oid::new_unwrap("1.2.840.113554.1.2.2");
/// Microsoft's alias for Kerberos 5, which Windows clients list first.
const MS_KRB5: Oid = Oid::new_unwrap("1.2.840.48018.1.2.2");
/// `[APPLICATION 0]`, constructed: the GSS-API InitialContextToken.
const GSS_TOKEN: Tag = Tag::Application {
    constructed: true,
    number: TagNumber(0),
};
/// NTLMSSP (1.3.6.1.4.1.311.2.2.10).
const NTLM: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.2.2.10");
/// A Kerberos AP-REQ begins `[APPLICATION 14]`, constructed.
const AP_REQ: u8 = 0x6e;

/// NegTokenResp's negState.
#[derive(Clone, Copy, Debug, PartialEq, Eq, der::Enumerated)]
#[repr(u32)]
enum NegState {
    AcceptCompleted = 0,
    AcceptIncomplete = 1,
    /// Read from clients; never sent.
    #[allow(dead_code)]
    Reject = 2,
    #[allow(dead_code)]
    RequestMic = 3,
}

/// NegTokenResp (RFC 4178 §4.2.2), under `[1]`.
#[derive(der::Sequence)]
struct NegTokenResp {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    neg_state: Option<NegState>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    supported_mech: Option<Oid>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    response_token: Option<OctetString>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    mech_list_mic: Option<OctetString>,
}

/// NegTokenInit (RFC 4178 §4.2.1).
#[derive(der::Sequence)]
struct NegTokenInit {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    mech_types: Vec<Oid>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    req_flags: Option<BitString>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    mech_token: Option<OctetString>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    mech_list_mic: Option<OctetString>,
}

fn is_ntlm(token: &[u8]) -> bool {
    token.starts_with(b"NTLMSSP\0")
}

/// A NegTokenInit's mechanism list (its DER, which the mechListMIC signs)
/// and optimistic NTLM message, when it carries one.
pub fn ntlm_in_init(token: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (oid, inner) = split_gss_token(token).ok()?;
    if oid != SPNEGO {
        return None;
    }
    let init = ContextSpecific::<NegTokenInit>::from_der(inner).ok()?.value;
    let ntlm = init.mech_token.as_ref()?.as_bytes();
    if !is_ntlm(ntlm) || init.mech_types.first() != Some(&NTLM) {
        return None;
    }
    Some((init.mech_types.to_der().ok()?, ntlm.to_vec()))
}

/// A NegTokenResp's NTLM message and mechListMIC, when it carries one.
pub fn ntlm_in_resp(token: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let resp = ContextSpecific::<NegTokenResp>::from_der(token).ok()?.value;
    let ntlm = resp.response_token.as_ref()?.as_bytes();
    if !is_ntlm(ntlm) {
        return None;
    }
    let mic = resp.mech_list_mic.map(|m| m.as_bytes().to_vec());
    Some((ntlm.to_vec(), mic))
}

fn resp(token: NegTokenResp) -> Vec<u8> {
    let wrapped = ContextSpecific {
        tag_number: TagNumber(1),
        tag_mode: TagMode::Explicit,
        value: token,
    };
    wrapped
        .to_der()
        .expect("a NegTokenResp of owned parts encodes")
}

/// The server's first answer around an NTLM CHALLENGE: accept-incomplete,
/// NTLM chosen.
pub fn ntlm_challenge(challenge: &[u8]) -> Vec<u8> {
    resp(NegTokenResp {
        neg_state: Some(NegState::AcceptIncomplete),
        supported_mech: Some(NTLM),
        response_token: OctetString::new(challenge).ok(),
        mech_list_mic: None,
    })
}

/// The server's last answer: accept-completed, with its mechListMIC when
/// the exchange has one.
pub fn completed(mech_list_mic: Option<&[u8]>) -> Vec<u8> {
    resp(NegTokenResp {
        neg_state: Some(NegState::AcceptCompleted),
        supported_mech: None,
        response_token: None,
        mech_list_mic: mech_list_mic.and_then(|m| OctetString::new(m).ok()),
    })
}

/// The server's hint before any token (SMB's NEGOTIATE response): a
/// NegTokenInit naming the mechanisms it takes, NTLM here.
pub fn server_hint() -> Vec<u8> {
    ntlm_init(None).0
}

/// Client side: a NegTokenInit offering NTLM with its NEGOTIATE, and the
/// DER of its mechanism list (what the mechListMICs sign).
pub fn client_ntlm_init(negotiate: &[u8]) -> (Vec<u8>, Vec<u8>) {
    ntlm_init(Some(negotiate))
}

/// A NegTokenInit offering NTLM, with `token` when there is one; and the
/// DER of its mechanism list.
fn ntlm_init(token: Option<&[u8]>) -> (Vec<u8>, Vec<u8>) {
    let init = NegTokenInit {
        mech_types: vec![NTLM],
        req_flags: None,
        mech_token: token.and_then(|t| OctetString::new(t).ok()),
        mech_list_mic: None,
    };
    let types = init.mech_types.to_der().expect("OIDs encode");
    let wrapped = ContextSpecific {
        tag_number: TagNumber(0),
        tag_mode: TagMode::Explicit,
        value: init,
    };
    let inner = wrapped
        .to_der()
        .expect("a NegTokenInit of owned parts encodes");
    (gss_token(&SPNEGO, &inner).expect("lengths fit"), types)
}

/// Client side: the NegTokenResp carrying an AUTHENTICATE and the
/// client's mechListMIC.
pub fn client_ntlm_answer(authenticate: &[u8], mech_list_mic: Option<&[u8]>) -> Vec<u8> {
    resp(NegTokenResp {
        neg_state: None,
        supported_mech: None,
        response_token: OctetString::new(authenticate).ok(),
        mech_list_mic: mech_list_mic.and_then(|m| OctetString::new(m).ok()),
    })
}

/// A NegTokenResp's payload, as a client reads the server's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    pub response_token: Option<Vec<u8>>,
    pub mech_list_mic: Option<Vec<u8>>,
}

/// Reads the server's NegTokenResp.
pub fn read_resp(token: &[u8]) -> Option<Answer> {
    let r = ContextSpecific::<NegTokenResp>::from_der(token).ok()?.value;
    let bytes = |o: Option<OctetString>| o.map(|o| o.as_bytes().to_vec());
    Some(Answer {
        response_token: bytes(r.response_token),
        mech_list_mic: bytes(r.mech_list_mic),
    })
}

/// `[APPLICATION 0] { oid, inner }`, with `inner` as raw bytes.
fn gss_token(oid: &Oid, inner: &[u8]) -> der::Result<Vec<u8>> {
    let oid = oid.to_der()?;
    let len = Length::try_from(oid.len() + inner.len())?;
    let mut out = Header::new(GSS_TOKEN, len).to_der()?;
    out.extend_from_slice(&oid);
    out.extend_from_slice(inner);
    Ok(out)
}

/// The mechanism OID and the inner bytes of an InitialContextToken.
fn split_gss_token(token: &[u8]) -> der::Result<(Oid, &[u8])> {
    let mut r = SliceReader::new(token)?;
    let header = Header::decode(&mut r)?;
    if header.tag() != GSS_TOKEN {
        return Err(der::Error::from(der::ErrorKind::TagUnexpected {
            expected: Some(GSS_TOKEN),
            actual: header.tag(),
        }));
    }
    let body = r.read_slice(header.length())?;
    let mut r = SliceReader::new(body)?;
    let oid = Oid::decode(&mut r)?;
    let rest = r.read_slice(r.remaining_len())?;
    Ok((oid, rest))
}

/// The token with its bare AP-REQ framed, when it is a SPNEGO NegTokenInit
/// carrying one; `None` for any other token (passed on unchanged).
pub fn frame_bare_ap_req(token: &[u8]) -> Option<Vec<u8>> {
    let (oid, inner) = split_gss_token(token).ok()?;
    if oid != SPNEGO {
        return None;
    }
    let init = ContextSpecific::<NegTokenInit>::from_der(inner).ok()?;
    let mut init = init.value;
    let bare = init.mech_token.as_ref()?.as_bytes();
    if bare.first() != Some(&AP_REQ) {
        return None;
    }
    if !init.mech_types.iter().any(|m| *m == MS_KRB5 || *m == KRB5) {
        return None;
    }
    if !init.mech_types.contains(&KRB5) {
        for m in init.mech_types.iter_mut().filter(|m| **m == MS_KRB5) {
            *m = KRB5;
        }
    }
    let mut framed_inner = vec![0x01, 0x00];
    framed_inner.extend_from_slice(bare);
    let framed = gss_token(&KRB5, &framed_inner).ok()?;
    init.mech_token = Some(OctetString::new(framed).ok()?);
    let wrapped = ContextSpecific {
        tag_number: TagNumber(0),
        tag_mode: TagMode::Explicit,
        value: init,
    };
    gss_token(&SPNEGO, &wrapped.to_der().ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negtokeninit(mech_types: Vec<Oid>, mech_token: &[u8]) -> Vec<u8> {
        let init = NegTokenInit {
            mech_types,
            req_flags: None,
            mech_token: Some(OctetString::new(mech_token).unwrap()),
            mech_list_mic: None,
        };
        let wrapped = ContextSpecific {
            tag_number: TagNumber(0),
            tag_mode: TagMode::Explicit,
            value: init,
        };
        gss_token(&SPNEGO, &wrapped.to_der().unwrap()).unwrap()
    }

    fn reframed(mech_types: Vec<Oid>) -> (Vec<Oid>, Oid, Vec<u8>) {
        let ap_req = [AP_REQ, 0x03, 0x02, 0x01, 0x05];
        let fixed = frame_bare_ap_req(&negtokeninit(mech_types, &ap_req)).expect("reframed");
        let (oid, inner) = split_gss_token(&fixed).unwrap();
        assert_eq!(oid, SPNEGO);
        let init = ContextSpecific::<NegTokenInit>::from_der(inner)
            .unwrap()
            .value;
        let framed = init.mech_token.unwrap();
        let (mech, body) = split_gss_token(framed.as_bytes()).unwrap();
        assert_eq!(body, [&[0x01, 0x00][..], &ap_req].concat());
        (init.mech_types, mech, body.to_vec())
    }

    #[test]
    fn a_bare_ap_req_gets_the_kerberos_framing() {
        // impacket lists Microsoft's alias only: it becomes the standard OID.
        let (types, mech, _) = reframed(vec![MS_KRB5]);
        assert_eq!((types, mech), (vec![KRB5], KRB5));
        // Both listed: the list stays as the client sent it.
        let (types, mech, _) = reframed(vec![MS_KRB5, KRB5]);
        assert_eq!((types, mech), (vec![MS_KRB5, KRB5], KRB5));
    }

    #[test]
    fn ntlm_goes_in_and_out_of_negtokeninit_and_negtokenresp() {
        let negotiate = crate::ntlm::client_negotiate();
        let init = negtokeninit(vec![NTLM, KRB5], &negotiate);
        let (types, got) = ntlm_in_init(&init).expect("NTLM first with its message");
        assert_eq!(got, negotiate);
        assert_eq!(types, vec![NTLM, KRB5].to_der().unwrap());
        // Kerberos listed first: the optimistic token is not NTLM's.
        assert_eq!(
            ntlm_in_init(&negtokeninit(vec![KRB5, NTLM], &negotiate)),
            None
        );

        let challenge = ntlm_challenge(b"NTLMSSP\0\x02rest");
        let r = ContextSpecific::<NegTokenResp>::from_der(&challenge)
            .unwrap()
            .value;
        assert_eq!(r.neg_state, Some(NegState::AcceptIncomplete));
        assert_eq!(r.supported_mech, Some(NTLM));

        let auth = resp(NegTokenResp {
            neg_state: None,
            supported_mech: None,
            response_token: OctetString::new(&b"NTLMSSP\0\x03rest"[..]).ok(),
            mech_list_mic: OctetString::new(&[1u8; 16][..]).ok(),
        });
        let (msg, mic) = ntlm_in_resp(&auth).unwrap();
        assert_eq!(
            (msg.as_slice(), mic),
            (&b"NTLMSSP\0\x03rest"[..], Some(vec![1; 16]))
        );
        let done = ContextSpecific::<NegTokenResp>::from_der(&completed(Some(&[2; 16])))
            .unwrap()
            .value;
        assert_eq!(done.neg_state, Some(NegState::AcceptCompleted));
        assert_eq!(done.mech_list_mic.unwrap().as_bytes(), &[2; 16]);
        assert_eq!(ntlm_in_resp(&completed(None)), None);
    }

    #[test]
    fn framed_tokens_and_other_bytes_pass_unchanged() {
        let framed = gss_token(&KRB5, &[0x01, 0x00, AP_REQ, 0x00]).unwrap();
        assert_eq!(frame_bare_ap_req(&negtokeninit(vec![KRB5], &framed)), None);
        let ntlm = Oid::new_unwrap("1.3.6.1.4.1.311.2.2.10");
        assert_eq!(
            frame_bare_ap_req(&negtokeninit(vec![ntlm], &[AP_REQ, 0])),
            None
        );
        assert_eq!(frame_bare_ap_req(&framed), None);
        assert_eq!(frame_bare_ap_req(b"NTLMSSP\0\x01"), None);
        assert_eq!(frame_bare_ap_req(&[0x60, 0x80, 0x00]), None);
        assert_eq!(frame_bare_ap_req(&[]), None);
    }
}
