//! The BER of LDAPMessage: the envelope (ID, operation, controls) read
//! with the operation left whole, so that AD's own forms can be told apart
//! from the standard ones before either is decoded.

use rasn::prelude::*;
use rasn::types::Any;
use rasn_ldap as std_ldap;

use super::control::Control;
use super::{malformed, Attribute, Bind, BindAuth, Done, LdapError, Op, Outcome, Response};

#[derive(AsnType, Encode, Decode)]
struct Envelope {
    message_id: u32,
    protocol_op: Any,
    #[rasn(tag(0))]
    controls: Option<SequenceOf<std_ldap::Control>>,
}

/// BindRequest with AD's Sicily choices and a name kept as bytes.
#[derive(AsnType, Encode, Decode)]
#[rasn(tag(application, 0))]
struct AdBindRequest {
    version: u8,
    name: OctetString,
    authentication: AdAuth,
}

#[derive(AsnType, Encode, Decode)]
#[rasn(choice)]
enum AdAuth {
    #[rasn(tag(0))]
    Simple(OctetString),
    #[rasn(tag(3))]
    Sasl(AdSasl),
    #[rasn(tag(9))]
    SicilyDiscovery(OctetString),
    #[rasn(tag(10))]
    SicilyNegotiate(OctetString),
    #[rasn(tag(11))]
    SicilyResponse(OctetString),
}

#[derive(AsnType, Encode, Decode)]
struct AdSasl {
    mechanism: OctetString,
    credentials: Option<OctetString>,
}

/// BindResponse whose matchedDN may be binary (Sicily).
#[derive(AsnType, Encode, Decode)]
#[rasn(tag(application, 1))]
struct AdBindResponse {
    result_code: std_ldap::ResultCode,
    matched_dn: OctetString,
    diagnostic_message: OctetString,
    #[rasn(tag(3))]
    referral: Option<SequenceOf<OctetString>>,
    #[rasn(tag(7))]
    server_sasl_creds: Option<OctetString>,
}

/// SearchResultEntry with values in the directory's order.
#[derive(AsnType, Encode, Decode)]
#[rasn(tag(application, 4))]
struct AdEntry {
    object_name: OctetString,
    attributes: SequenceOf<AdAttribute>,
}

#[derive(AsnType, Encode, Decode)]
struct AdAttribute {
    kind: OctetString,
    vals: Values,
}

/// A SET OF written in the given order (BER allows any; AD keeps its own).
#[derive(AsnType, Encode, Decode)]
#[rasn(delegate, tag(universal, 17))]
struct Values(SequenceOf<OctetString>);

/// The BER of any value the rasn types can encode.
pub(super) fn ber<T: Encode>(value: &T) -> Vec<u8> {
    rasn::ber::encode(value).expect("LDAP types encode")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(super) fn encode(id: u32, op: &[u8], controls: &[Control]) -> Vec<u8> {
    let controls = (!controls.is_empty()).then(|| {
        controls
            .iter()
            .map(|c| {
                std_ldap::Control::new(
                    c.oid.clone().into_bytes().into(),
                    c.critical,
                    c.value.clone().map(Into::into),
                )
            })
            .collect()
    });
    ber(&Envelope {
        message_id: id,
        protocol_op: Any::new(op.to_vec()),
        controls,
    })
}

pub(super) fn decode_envelope(bytes: &[u8]) -> Result<(u32, Vec<u8>, Vec<Control>), LdapError> {
    let e: Envelope = rasn::ber::decode(bytes).map_err(malformed)?;
    let controls = e
        .controls
        .unwrap_or_default()
        .into_iter()
        .map(|c| Control {
            oid: text(&c.control_type),
            critical: c.criticality,
            value: c.control_value.map(|v| v.to_vec()),
        })
        .collect();
    Ok((e.message_id, e.protocol_op.into_bytes(), controls))
}

fn decode<T: Decode>(op: &[u8]) -> Result<T, LdapError> {
    rasn::ber::decode(op).map_err(malformed)
}

/// The operation of a request, by its application tag.
pub(super) fn decode_op(op: &[u8]) -> Result<Op, LdapError> {
    Ok(match op.first().copied().unwrap_or(0) {
        0x60 => Op::Bind(decode_bind(op)?),
        0x42 => Op::Unbind,
        0x63 => Op::Search(Box::new(decode(op)?)),
        0x66 => Op::Modify(decode(op)?),
        0x77 => {
            let r: std_ldap::ExtendedRequest = decode(op)?;
            Op::Extended {
                name: text(&r.request_name),
                value: r.request_value.map(|v| v.to_vec()),
            }
        }
        0x50 => Op::Abandon(decode::<std_ldap::AbandonRequest>(op)?.0),
        0x68 => Op::Other { response_tag: 9 },
        0x4a => Op::Other { response_tag: 11 },
        0x6c => Op::Other { response_tag: 13 },
        0x6e => Op::Other { response_tag: 15 },
        tag => {
            return Err(LdapError::Malformed(format!(
                "unknown operation 0x{tag:02x}"
            )))
        }
    })
}

fn decode_bind(op: &[u8]) -> Result<Bind, LdapError> {
    let b: AdBindRequest = decode(op)?;
    let auth = match b.authentication {
        AdAuth::Simple(p) => BindAuth::Simple(p.to_vec()),
        AdAuth::Sasl(s) => BindAuth::Sasl {
            mechanism: text(&s.mechanism),
            credentials: s.credentials.map(|c| c.to_vec()),
        },
        AdAuth::SicilyDiscovery(_) => BindAuth::SicilyDiscovery,
        AdAuth::SicilyNegotiate(m) => BindAuth::SicilyNegotiate(m.to_vec()),
        AdAuth::SicilyResponse(m) => BindAuth::SicilyResponse(m.to_vec()),
    };
    Ok(Bind {
        version: b.version,
        name: text(&b.name),
        auth,
    })
}

pub(super) fn bind_request(name: &str, auth: &BindAuth) -> Vec<u8> {
    let bytes = |b: &[u8]| OctetString::from(b.to_vec());
    let authentication = match auth {
        BindAuth::Simple(p) => AdAuth::Simple(bytes(p)),
        BindAuth::Sasl {
            mechanism,
            credentials,
        } => AdAuth::Sasl(AdSasl {
            mechanism: bytes(mechanism.as_bytes()),
            credentials: credentials.as_deref().map(bytes),
        }),
        BindAuth::SicilyDiscovery => AdAuth::SicilyDiscovery(OctetString::from_static(b"")),
        BindAuth::SicilyNegotiate(m) => AdAuth::SicilyNegotiate(bytes(m)),
        BindAuth::SicilyResponse(m) => AdAuth::SicilyResponse(bytes(m)),
    };
    ber(&AdBindRequest {
        version: 3,
        name: bytes(name.as_bytes()),
        authentication,
    })
}

pub(super) fn bind_response(o: &Outcome, matched_dn: &[u8], sasl_creds: Option<&[u8]>) -> Vec<u8> {
    ber(&AdBindResponse {
        result_code: o.code,
        matched_dn: matched_dn.to_vec().into(),
        diagnostic_message: o.diagnostic.clone().into_bytes().into(),
        referral: None,
        server_sasl_creds: sasl_creds.map(|c| c.to_vec().into()),
    })
}

pub(super) fn entry(dn: &str, attributes: &[Attribute]) -> Vec<u8> {
    ber(&AdEntry {
        object_name: dn.as_bytes().to_vec().into(),
        attributes: attributes
            .iter()
            .map(|a| AdAttribute {
                kind: a.name.clone().into_bytes().into(),
                vals: Values(a.values.iter().map(|v| v.clone().into()).collect()),
            })
            .collect(),
    })
}

fn ldap_result(o: &Outcome) -> std_ldap::LdapResult {
    std_ldap::LdapResult::new(
        o.code,
        o.matched_dn.as_str().into(),
        o.diagnostic.as_str().into(),
    )
}

fn outcome(code: std_ldap::ResultCode, matched: &[u8], diagnostic: &[u8]) -> Outcome {
    Outcome {
        code,
        matched_dn: text(matched),
        diagnostic: text(diagnostic),
    }
}

/// A result-only response with this application tag.
pub(super) fn result(tag: u8, o: &Outcome) -> Vec<u8> {
    let r = ldap_result(o);
    match tag {
        7 => ber(&std_ldap::ModifyResponse(r)),
        9 => ber(&std_ldap::AddResponse(r)),
        11 => ber(&std_ldap::DelResponse(r)),
        13 => ber(&std_ldap::ModifyDnResponse(r)),
        15 => ber(&std_ldap::CompareResponse(r)),
        _ => ber(&std_ldap::SearchResultDone(r)),
    }
}

pub(super) fn extended_request(name: &str, value: Option<&[u8]>) -> Vec<u8> {
    ber(&std_ldap::ExtendedRequest {
        request_name: name.as_bytes().to_vec().into(),
        request_value: value.map(|v| v.to_vec().into()),
    })
}

pub(super) fn extended_response(o: &Outcome, name: Option<&str>, value: Option<&[u8]>) -> Vec<u8> {
    ber(&std_ldap::ExtendedResponse {
        result_code: o.code,
        matched_dn: o.matched_dn.as_str().into(),
        diagnostic_message: o.diagnostic.as_str().into(),
        referral: None,
        response_name: name.map(|n| n.as_bytes().to_vec().into()),
        response_value: value.map(|v| v.to_vec().into()),
    })
}

/// A response, by its application tag.
pub(super) fn decode_response(op: &[u8]) -> Result<Response, LdapError> {
    let done = |kind: Done, r: std_ldap::LdapResult| Response::Done {
        kind,
        outcome: outcome(
            r.result_code,
            r.matched_dn.as_bytes(),
            r.diagnostic_message.as_bytes(),
        ),
    };
    Ok(match op.first().copied().unwrap_or(0) {
        0x61 => {
            let b: AdBindResponse = decode(op)?;
            Response::Bind {
                outcome: outcome(b.result_code, &[], &b.diagnostic_message),
                matched_dn: b.matched_dn.to_vec(),
                sasl_creds: b.server_sasl_creds.map(|c| c.to_vec()),
            }
        }
        0x64 => {
            let e: AdEntry = decode(op)?;
            Response::Entry {
                dn: text(&e.object_name),
                attributes: e
                    .attributes
                    .into_iter()
                    .map(|a| Attribute {
                        name: text(&a.kind),
                        values: a.vals.0.into_iter().map(|v| v.to_vec()).collect(),
                    })
                    .collect(),
            }
        }
        0x73 => {
            let r: std_ldap::SearchResultReference = decode(op)?;
            Response::Reference(r.0.into_iter().map(|u| u.0).collect())
        }
        0x65 => done(Done::Search, decode::<std_ldap::SearchResultDone>(op)?.0),
        0x67 => done(Done::Modify, decode::<std_ldap::ModifyResponse>(op)?.0),
        0x69 => done(Done::Add, decode::<std_ldap::AddResponse>(op)?.0),
        0x6b => done(Done::Delete, decode::<std_ldap::DelResponse>(op)?.0),
        0x6d => done(Done::ModifyDn, decode::<std_ldap::ModifyDnResponse>(op)?.0),
        0x6f => done(Done::Compare, decode::<std_ldap::CompareResponse>(op)?.0),
        0x78 => {
            let r: std_ldap::ExtendedResponse = decode(op)?;
            Response::Extended {
                outcome: outcome(
                    r.result_code,
                    r.matched_dn.as_bytes(),
                    r.diagnostic_message.as_bytes(),
                ),
                name: r.response_name.map(|n| text(&n)),
                value: r.response_value.map(|v| v.to_vec()),
            }
        }
        tag => {
            return Err(LdapError::Malformed(format!(
                "unknown response 0x{tag:02x}"
            )))
        }
    })
}
