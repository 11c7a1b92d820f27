//! LDAP v3 as Active Directory speaks it, sans-IO: framing, the requests a
//! directory server reads, the responses it writes, and the same messages
//! from the client's side, so both ends build and parse the same bytes.
//!
//! The standard messages are `rasn-ldap`'s types over rasn's tolerant BER
//! reader (pyasn1 writes BOOLEAN TRUE as 0x01, which DER readers refuse).
//! AD's own forms are ours ([`wire`]): the Sicily NTLM bind choices
//! `[9]`/`[10]`/`[11]`, whose answers carry binary NTLM messages in
//! matchedDN, and attribute values kept in the order the directory gives
//! them (rasn sorts a SET OF as DER does, AD does not).

pub mod control;
mod filter;
mod wire;

pub use filter::parse_filter;

#[cfg(test)]
mod tests;

/// One change of a ModifyRequest.
pub use rasn_ldap::ModifyRequestChanges as ModifyRequestChange;
pub use rasn_ldap::{
    ChangeOperation, Filter, MatchingRuleAssertion, ModifyRequest, PartialAttribute, ResultCode,
    SearchRequest, SearchRequestDerefAliases, SearchRequestScope, SubstringChoice,
};

use control::Control;

/// The largest message a server reads: AD's MaxReceiveBuffer (10 MB).
pub const MAX_MESSAGE: usize = 10 * 1024 * 1024;

/// OIDs of the extended operations and matching rules AD answers.
pub mod oid {
    /// "Who am I?" (RFC 4532).
    pub const WHOAMI: &str = "1.3.6.1.4.1.4203.1.11.3";
    /// StartTLS (RFC 4511 §4.14.1).
    pub const START_TLS: &str = "1.3.6.1.4.1.1466.20037";
    /// The unsolicited notice of disconnection (RFC 4511 §4.4.1).
    pub const NOTICE_OF_DISCONNECTION: &str = "1.3.6.1.4.1.1466.20036";
    /// LDAP_MATCHING_RULE_BIT_AND.
    pub const BIT_AND: &str = "1.2.840.113556.1.4.803";
    /// LDAP_MATCHING_RULE_BIT_OR.
    pub const BIT_OR: &str = "1.2.840.113556.1.4.804";
    /// LDAP_MATCHING_RULE_IN_CHAIN (transitive membership).
    pub const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";
}

/// Why bytes are not an LDAP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LdapError {
    #[error("not an LDAP message: it must start with a SEQUENCE (0x30), not 0x{0:02x}")]
    NotASequence(u8),
    #[error("an indefinite length, which LDAP forbids (RFC 4511 §5.1)")]
    IndefiniteLength,
    #[error("a message of {0} bytes, over the {MAX_MESSAGE}-byte limit")]
    TooLarge(usize),
    #[error("malformed LDAP message: {0}")]
    Malformed(String),
}

fn malformed(e: impl std::fmt::Display) -> LdapError {
    LdapError::Malformed(e.to_string())
}

/// The length of the first whole message in `buf`: `Ok(None)` while more
/// bytes are needed, an error as soon as the header shows the message
/// cannot be read (so a reader never waits on garbage).
pub fn frame_len(buf: &[u8], max: usize) -> Result<Option<usize>, LdapError> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    if tag != 0x30 {
        return Err(LdapError::NotASequence(tag));
    }
    let Some(&first) = buf.get(1) else {
        return Ok(None);
    };
    let (len, header) = match first {
        0x80 => return Err(LdapError::IndefiniteLength),
        n if n < 0x80 => (usize::from(n), 2),
        n => {
            let count = usize::from(n & 0x7f);
            if count > 4 {
                return Err(LdapError::TooLarge(usize::MAX));
            }
            let Some(bytes) = buf.get(2..2 + count) else {
                return Ok(None);
            };
            let len = bytes.iter().fold(0usize, |a, b| (a << 8) | usize::from(*b));
            (len, 2 + count)
        }
    };
    let total = header + len;
    if total > max {
        return Err(LdapError::TooLarge(total));
    }
    Ok((buf.len() >= total).then_some(total))
}

/// One request as a server reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: u32,
    pub op: Op,
    pub controls: Vec<Control>,
}

/// The operations a directory server tells apart.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Bind(Bind),
    Unbind,
    Search(Box<SearchRequest>),
    Modify(ModifyRequest),
    Extended {
        name: String,
        value: Option<Vec<u8>>,
    },
    Abandon(u32),
    /// Add, delete, modify DN or compare: answered with the response of
    /// this application tag (a refusal).
    Other {
        response_tag: u8,
    },
}

/// A BindRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub version: u8,
    /// The name as sent: a DN, `DOMAIN\user`, `user@domain` or empty.
    pub name: String,
    pub auth: BindAuth,
}

/// How a bind authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindAuth {
    Simple(Vec<u8>),
    Sasl {
        mechanism: String,
        credentials: Option<Vec<u8>>,
    },
    /// Sicily `[9]`: which packages the server offers.
    SicilyDiscovery,
    /// Sicily `[10]`: the NTLM NEGOTIATE message.
    SicilyNegotiate(Vec<u8>),
    /// Sicily `[11]`: the NTLM AUTHENTICATE message.
    SicilyResponse(Vec<u8>),
}

impl Request {
    /// Reads one whole message (as [`frame_len`] cut it).
    pub fn decode(bytes: &[u8]) -> Result<Request, LdapError> {
        let (id, op, controls) = wire::decode_envelope(bytes)?;
        let op = wire::decode_op(&op)?;
        Ok(Request { id, op, controls })
    }
}

/// The result code with this number, among those a directory answers
/// with (what a fault rule may name).
pub fn result_code(n: u32) -> Option<ResultCode> {
    use ResultCode as R;
    Some(match n {
        0 => R::Success,
        1 => R::OperationsError,
        2 => R::ProtocolError,
        3 => R::TimeLimitExceeded,
        4 => R::SizeLimitExceeded,
        8 => R::StrongerAuthRequired,
        11 => R::AdminLimitExceeded,
        32 => R::NoSuchObject,
        49 => R::InvalidCredentials,
        50 => R::InsufficientAccessRights,
        51 => R::Busy,
        52 => R::Unavailable,
        53 => R::UnwillingToPerform,
        80 => R::Other,
        _ => return None,
    })
}

/// The result part of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub code: ResultCode,
    pub matched_dn: String,
    pub diagnostic: String,
}

impl Outcome {
    pub fn success() -> Outcome {
        Outcome::new(ResultCode::Success, "")
    }

    pub fn new(code: ResultCode, diagnostic: impl Into<String>) -> Outcome {
        Outcome {
            code,
            matched_dn: String::new(),
            diagnostic: diagnostic.into(),
        }
    }
}

/// One attribute of an entry, values in the order they are given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub values: Vec<Vec<u8>>,
}

/// The result-only responses, by their application tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    Search = 5,
    Modify = 7,
    Add = 9,
    Delete = 11,
    ModifyDn = 13,
    Compare = 15,
}

impl Done {
    /// The response to an operation that [`Op::Other`] names.
    pub fn from_tag(tag: u8) -> Option<Done> {
        [
            Done::Search,
            Done::Modify,
            Done::Add,
            Done::Delete,
            Done::ModifyDn,
            Done::Compare,
        ]
        .into_iter()
        .find(|d| *d as u8 == tag)
    }
}

/// The messages a server writes.
pub mod response {
    use super::*;

    /// A BindResponse. `matched_dn` is bytes: a Sicily answer carries the
    /// package list or the NTLM CHALLENGE there.
    pub fn bind(
        id: u32,
        outcome: &Outcome,
        matched_dn: &[u8],
        sasl_creds: Option<&[u8]>,
    ) -> Vec<u8> {
        wire::encode(
            id,
            &wire::bind_response(outcome, matched_dn, sasl_creds),
            &[],
        )
    }

    /// A SearchResultEntry.
    pub fn entry(id: u32, dn: &str, attributes: &[Attribute]) -> Vec<u8> {
        wire::encode(id, &wire::entry(dn, attributes), &[])
    }

    /// A result-only response (SearchResultDone, ModifyResponse, …).
    pub fn done(id: u32, kind: Done, outcome: &Outcome, controls: &[Control]) -> Vec<u8> {
        wire::encode(id, &wire::result(kind as u8, outcome), controls)
    }

    /// An ExtendedResponse.
    pub fn extended(
        id: u32,
        outcome: &Outcome,
        name: Option<&str>,
        value: Option<&[u8]>,
    ) -> Vec<u8> {
        wire::encode(id, &wire::extended_response(outcome, name, value), &[])
    }

    /// The unsolicited notice a server sends before it drops a connection.
    pub fn notice_of_disconnection(outcome: &Outcome) -> Vec<u8> {
        extended(0, outcome, Some(oid::NOTICE_OF_DISCONNECTION), None)
    }
}

/// What a client reads back.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    Bind {
        outcome: Outcome,
        /// Raw: the Sicily CHALLENGE comes here.
        matched_dn: Vec<u8>,
        sasl_creds: Option<Vec<u8>>,
    },
    Entry {
        dn: String,
        attributes: Vec<Attribute>,
    },
    Reference(Vec<String>),
    Done {
        kind: Done,
        outcome: Outcome,
    },
    Extended {
        outcome: Outcome,
        name: Option<String>,
        value: Option<Vec<u8>>,
    },
}

impl Response {
    /// Reads one whole message: its ID, the response and its controls.
    pub fn decode(bytes: &[u8]) -> Result<(u32, Response, Vec<Control>), LdapError> {
        let (id, op, controls) = wire::decode_envelope(bytes)?;
        Ok((id, wire::decode_response(&op)?, controls))
    }
}

/// The messages a client writes.
pub mod request {
    use super::*;

    pub fn bind(id: u32, name: &str, auth: &BindAuth) -> Vec<u8> {
        wire::encode(id, &wire::bind_request(name, auth), &[])
    }

    pub fn search(id: u32, search: &SearchRequest, controls: &[Control]) -> Vec<u8> {
        wire::encode(id, &wire::ber(search), controls)
    }

    pub fn modify(id: u32, modify: &ModifyRequest, controls: &[Control]) -> Vec<u8> {
        wire::encode(id, &wire::ber(modify), controls)
    }

    pub fn extended(id: u32, name: &str, value: Option<&[u8]>) -> Vec<u8> {
        wire::encode(id, &wire::extended_request(name, value), &[])
    }

    pub fn unbind(id: u32) -> Vec<u8> {
        wire::encode(id, &wire::ber(&rasn_ldap::UnbindRequest), &[])
    }
}

/// A search for `filter` under `base`, all attributes unless `attributes`
/// names some: the request most callers build.
pub fn search_request(
    base: &str,
    scope: SearchRequestScope,
    filter: Filter,
    attributes: &[&str],
) -> SearchRequest {
    SearchRequest::new(
        base.into(),
        scope,
        SearchRequestDerefAliases::NeverDerefAliases,
        0,
        0,
        false,
        filter,
        attributes.iter().map(|a| (*a).into()).collect(),
    )
}

/// A ModifyRequest of `dn` making `changes`.
pub fn modify_request(dn: &str, changes: Vec<ModifyRequestChange>) -> ModifyRequest {
    ModifyRequest {
        object: dn.into(),
        changes,
    }
}

/// One change replacing `attribute`'s values with `values` (none: delete).
pub fn replace(attribute: &str, values: &[&[u8]]) -> ModifyRequestChange {
    ModifyRequestChange {
        operation: ChangeOperation::Replace,
        modification: PartialAttribute::new(
            attribute.into(),
            values
                .iter()
                .map(|v| rasn::types::OctetString::from(v.to_vec()))
                .collect::<Vec<_>>()
                .into(),
        ),
    }
}

/// `(attribute=value)`.
pub fn equality(attribute: &str, value: &[u8]) -> Filter {
    Filter::EqualityMatch(rasn_ldap::AttributeValueAssertion::new(
        attribute.into(),
        value.to_vec().into(),
    ))
}

/// `(attribute=*)`.
pub fn present(attribute: &str) -> Filter {
    Filter::Present(attribute.into())
}

/// A filter in RFC 4515's text form (`(&(objectClass=user)(cn=a*))`),
/// with bytes outside printable ASCII and `*()\` escaped as `\xx`.
pub fn filter_text(f: &Filter) -> String {
    fn value(v: &[u8]) -> String {
        v.iter()
            .map(|&b| {
                if b.is_ascii_graphic() && !b"*()\\".contains(&b) || b == b' ' {
                    (b as char).to_string()
                } else {
                    format!("\\{b:02x}")
                }
            })
            .collect()
    }
    let all = |fs: &rasn::types::SetOf<Filter>| fs.iter().map(filter_text).collect::<String>();
    match f {
        Filter::And(fs) => format!("(&{})", all(fs)),
        Filter::Or(fs) => format!("(|{})", all(fs)),
        Filter::Not(f) => format!("(!{})", filter_text(f)),
        Filter::EqualityMatch(a) => {
            format!("({}={})", &*a.attribute_desc, value(&a.assertion_value))
        }
        Filter::GreaterOrEqual(a) => {
            format!("({}>={})", &*a.attribute_desc, value(&a.assertion_value))
        }
        Filter::LessOrEqual(a) => {
            format!("({}<={})", &*a.attribute_desc, value(&a.assertion_value))
        }
        Filter::ApproxMatch(a) => {
            format!("({}~={})", &*a.attribute_desc, value(&a.assertion_value))
        }
        Filter::Present(a) => format!("({}=*)", &**a),
        Filter::Substrings(s) => {
            let mut out = format!("({}=", &*s.r#type);
            let mut last_final = false;
            for (i, p) in s.substrings.iter().enumerate() {
                match p {
                    SubstringChoice::Initial(v) => out.push_str(&value(v)),
                    SubstringChoice::Any(v) => {
                        if i == 0 {
                            out.push('*');
                        }
                        out.push_str(&value(v));
                        out.push('*');
                        continue;
                    }
                    SubstringChoice::Final(v) => {
                        if i == 0 {
                            out.push('*');
                        }
                        out.push_str(&value(v));
                        last_final = true;
                        continue;
                    }
                    _ => {}
                }
                out.push('*');
            }
            if !last_final && !out.ends_with('*') {
                out.push('*');
            }
            out.push(')');
            out
        }
        Filter::ExtensibleMatch(m) => format!(
            "({}{}{}:={})",
            m.r#type.as_deref().map(String::as_str).unwrap_or(""),
            if m.dn_attributes { ":dn" } else { "" },
            m.matching_rule
                .as_deref()
                .map(|r| format!(":{r}"))
                .unwrap_or_default(),
            value(&m.match_value)
        ),
        _ => "(?)".into(),
    }
}
