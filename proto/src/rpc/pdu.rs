//! Connection-oriented DCE/RPC PDUs (C706 chapter 12, MS-RPCE 2.2.2):
//! the 16-byte common header, bind / alter_context and their acks,
//! request, response and fault bodies, and the security trailer that
//! carries NTLM's tokens and signatures. Little-endian NDR only, as every
//! Windows peer and impacket send; big-endian is refused by name.

use super::ndr::Reader;
use super::{RpcError, SyntaxId};

pub const HEADER_LEN: usize = 16;
/// The security trailer before the auth value (MS-RPCE 2.2.2.11).
pub const SEC_TRAILER_LEN: usize = 8;

/// PDU types this side reads or writes.
pub mod ptype {
    pub const REQUEST: u8 = 0;
    pub const RESPONSE: u8 = 2;
    pub const FAULT: u8 = 3;
    pub const BIND: u8 = 11;
    pub const BIND_ACK: u8 = 12;
    pub const BIND_NAK: u8 = 13;
    pub const ALTER_CONTEXT: u8 = 14;
    pub const ALTER_CONTEXT_RESP: u8 = 15;
    pub const AUTH3: u8 = 16;
}

/// `pfc_flags`.
pub mod pfc {
    pub const FIRST_FRAG: u8 = 0x01;
    pub const LAST_FRAG: u8 = 0x02;
    pub const OBJECT_UUID: u8 = 0x80;
}

/// The common header of every connection-oriented PDU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub ptype: u8,
    pub flags: u8,
    pub frag_length: u16,
    pub auth_length: u16,
    pub call_id: u32,
}

/// Little-endian integers, ASCII characters, IEEE floats.
const DREP: [u8; 4] = [0x10, 0, 0, 0];

impl Header {
    pub fn parse(b: &[u8]) -> Result<Header, RpcError> {
        if b.len() < HEADER_LEN {
            return Err(RpcError::Truncated("the common header"));
        }
        if (b[0], b[1]) != (5, 0) {
            return Err(RpcError::Version(b[0], b[1]));
        }
        if b[4] & 0xf0 != 0x10 {
            return Err(RpcError::BigEndian);
        }
        let h = Header {
            ptype: b[2],
            flags: b[3],
            frag_length: u16_at(b, 8),
            auth_length: u16_at(b, 10),
            call_id: u32_at(b, 12),
        };
        if usize::from(h.frag_length) < HEADER_LEN {
            return Err(RpcError::Truncated("frag_length"));
        }
        Ok(h)
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend([5, 0, self.ptype, self.flags]);
        out.extend(DREP);
        out.extend(self.frag_length.to_le_bytes());
        out.extend(self.auth_length.to_le_bytes());
        out.extend(self.call_id.to_le_bytes());
    }
}

/// How many bytes the next fragment in `buf` takes, once its header is
/// in; `None` until then. A stream reader waits for that many bytes.
pub fn fragment_len(buf: &[u8]) -> Result<Option<usize>, RpcError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    Ok(Some(usize::from(Header::parse(buf)?.frag_length)))
}

/// One presentation context a bind proposes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextElem {
    pub id: u16,
    pub abstract_syntax: SyntaxId,
    pub transfer_syntaxes: Vec<SyntaxId>,
}

/// bind and alter_context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bind {
    pub max_xmit_frag: u16,
    pub max_recv_frag: u16,
    pub assoc_group: u32,
    pub contexts: Vec<ContextElem>,
}

/// The answer to one proposed context: 0 acceptance, 2 provider rejection
/// (reason 1 abstract syntax, 2 transfer syntaxes not supported), 3
/// negotiate ack (bind-time feature negotiation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextResult {
    pub result: u16,
    pub reason: u16,
    pub transfer_syntax: SyntaxId,
}

/// bind_ack and alter_context_resp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindAck {
    pub max_xmit_frag: u16,
    pub max_recv_frag: u16,
    pub assoc_group: u32,
    /// The port the client reached, as text (`49667`); empty in an
    /// alter_context_resp.
    pub sec_addr: String,
    pub results: Vec<ContextResult>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub alloc_hint: u32,
    pub context_id: u16,
    pub opnum: u16,
    pub object: Option<[u8; 16]>,
    pub stub: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub alloc_hint: u32,
    pub context_id: u16,
    pub stub: Vec<u8>,
}

/// The security trailer and its auth value (an NTLM token or signature).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auth {
    /// 10: NTLM (RPC_C_AUTHN_WINNT); 9: SPNEGO.
    pub auth_type: u8,
    /// 2 connect, 5 packet integrity, 6 packet privacy.
    pub auth_level: u8,
    pub pad_length: u8,
    pub context_id: u32,
    pub value: Vec<u8>,
}

/// What a PDU carries after its header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Bind(Bind),
    AlterContext(Bind),
    BindAck(BindAck),
    AlterContextResp(BindAck),
    /// Provider rejection reason.
    BindNak(u16),
    Request(Request),
    Response(Response),
    /// Status (`nca_s_*` or a Win32 error).
    Fault {
        context_id: u16,
        status: u32,
    },
    /// NTLM's AUTHENTICATE after a bind (its value is in the auth part).
    Auth3,
}

/// One fragment, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pdu {
    pub header: Header,
    pub body: Body,
    pub auth: Option<Auth>,
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// An interface or transfer syntax as a PDU carries it.
fn syntax(c: &mut Reader) -> Result<SyntaxId, RpcError> {
    let uuid: [u8; 16] = c.bytes(16, "a syntax UUID")?.try_into().expect("16");
    Ok(SyntaxId {
        uuid,
        version: c.u32("a syntax version")?,
    })
}

/// Reads one whole fragment (`frag.len()` must be its frag_length).
pub fn parse(frag: &[u8]) -> Result<Pdu, RpcError> {
    let header = Header::parse(frag)?;
    if frag.len() != usize::from(header.frag_length) {
        return Err(RpcError::Truncated("the fragment"));
    }
    let (body_end, auth) = split_auth(frag, &header)?;
    let mut c = Reader::starting_at(&frag[..body_end], HEADER_LEN);
    let body = match header.ptype {
        ptype::BIND => Body::Bind(bind(&mut c)?),
        ptype::ALTER_CONTEXT => Body::AlterContext(bind(&mut c)?),
        ptype::BIND_ACK => Body::BindAck(bind_ack(&mut c)?),
        ptype::ALTER_CONTEXT_RESP => Body::AlterContextResp(bind_ack(&mut c)?),
        ptype::BIND_NAK => Body::BindNak(c.u16("bind_nak")?),
        ptype::REQUEST => Body::Request(Request {
            alloc_hint: c.u32("alloc_hint")?,
            context_id: c.u16("p_cont_id")?,
            opnum: c.u16("opnum")?,
            object: if header.flags & pfc::OBJECT_UUID != 0 {
                Some(c.bytes(16, "the object UUID")?.try_into().expect("16"))
            } else {
                None
            },
            stub: c.rest().to_vec(),
        }),
        ptype::RESPONSE => {
            let alloc_hint = c.u32("alloc_hint")?;
            let context_id = c.u16("p_cont_id")?;
            c.bytes(2, "cancel_count")?;
            Body::Response(Response {
                alloc_hint,
                context_id,
                stub: c.rest().to_vec(),
            })
        }
        ptype::FAULT => {
            c.u32("alloc_hint")?;
            let context_id = c.u16("p_cont_id")?;
            c.bytes(2, "cancel_count")?;
            Body::Fault {
                context_id,
                status: c.u32("the fault status")?,
            }
        }
        ptype::AUTH3 => Body::Auth3,
        other => return Err(RpcError::PduType(other)),
    };
    Ok(Pdu { header, body, auth })
}

/// Where the body ends and the auth part, when auth_length says there is one.
fn split_auth(frag: &[u8], h: &Header) -> Result<(usize, Option<Auth>), RpcError> {
    if h.auth_length == 0 {
        return Ok((frag.len(), None));
    }
    let value_at = frag
        .len()
        .checked_sub(usize::from(h.auth_length))
        .filter(|v| *v >= HEADER_LEN + SEC_TRAILER_LEN)
        .ok_or(RpcError::Truncated("auth_length"))?;
    let t = &frag[value_at - SEC_TRAILER_LEN..value_at];
    let auth = Auth {
        auth_type: t[0],
        auth_level: t[1],
        pad_length: t[2],
        context_id: u32_at(t, 4),
        value: frag[value_at..].to_vec(),
    };
    let body_end = (value_at - SEC_TRAILER_LEN)
        .checked_sub(usize::from(auth.pad_length))
        .filter(|e| *e >= HEADER_LEN)
        .ok_or(RpcError::Truncated("auth_pad_length"))?;
    Ok((body_end, Some(auth)))
}

fn bind(c: &mut Reader) -> Result<Bind, RpcError> {
    let max_xmit_frag = c.u16("max_xmit_frag")?;
    let max_recv_frag = c.u16("max_recv_frag")?;
    let assoc_group = c.u32("assoc_group_id")?;
    let n = c.u8("n_context_elem")?;
    c.bytes(3, "the context list")?;
    let mut contexts = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let id = c.u16("p_cont_id")?;
        let n_ts = c.u8("n_transfer_syn")?;
        c.bytes(1, "a context element")?;
        let abstract_syntax = syntax(c)?;
        let transfer_syntaxes = (0..n_ts).map(|_| syntax(c)).collect::<Result<_, _>>()?;
        contexts.push(ContextElem {
            id,
            abstract_syntax,
            transfer_syntaxes,
        });
    }
    Ok(Bind {
        max_xmit_frag,
        max_recv_frag,
        assoc_group,
        contexts,
    })
}

fn bind_ack(c: &mut Reader) -> Result<BindAck, RpcError> {
    let max_xmit_frag = c.u16("max_xmit_frag")?;
    let max_recv_frag = c.u16("max_recv_frag")?;
    let assoc_group = c.u32("assoc_group_id")?;
    let len = usize::from(c.u16("sec_addr")?);
    let addr = c.bytes(len, "sec_addr")?;
    let sec_addr = String::from_utf8_lossy(addr.strip_suffix(&[0]).unwrap_or(addr)).into_owned();
    c.align(4)?;
    let n = c.u8("n_results")?;
    c.bytes(3, "the result list")?;
    let results = (0..n)
        .map(|_| {
            Ok(ContextResult {
                result: c.u16("a result")?,
                reason: c.u16("a reason")?,
                transfer_syntax: syntax(c)?,
            })
        })
        .collect::<Result<_, RpcError>>()?;
    Ok(BindAck {
        max_xmit_frag,
        max_recv_frag,
        assoc_group,
        sec_addr,
        results,
    })
}

fn put_syntax(out: &mut Vec<u8>, s: &SyntaxId) {
    out.extend(s.uuid);
    out.extend(s.version.to_le_bytes());
}

fn encode_bind(out: &mut Vec<u8>, b: &Bind) {
    out.extend(b.max_xmit_frag.to_le_bytes());
    out.extend(b.max_recv_frag.to_le_bytes());
    out.extend(b.assoc_group.to_le_bytes());
    out.extend([b.contexts.len() as u8, 0, 0, 0]);
    for ctx in &b.contexts {
        out.extend(ctx.id.to_le_bytes());
        out.extend([ctx.transfer_syntaxes.len() as u8, 0]);
        put_syntax(out, &ctx.abstract_syntax);
        for t in &ctx.transfer_syntaxes {
            put_syntax(out, t);
        }
    }
}

fn encode_bind_ack(out: &mut Vec<u8>, a: &BindAck) {
    out.extend(a.max_xmit_frag.to_le_bytes());
    out.extend(a.max_recv_frag.to_le_bytes());
    out.extend(a.assoc_group.to_le_bytes());
    let addr: Vec<u8> = if a.sec_addr.is_empty() {
        vec![]
    } else {
        [a.sec_addr.as_bytes(), &[0]].concat()
    };
    out.extend((addr.len() as u16).to_le_bytes());
    out.extend(&addr);
    while out.len() % 4 != 0 {
        out.push(0);
    }
    out.extend([a.results.len() as u8, 0, 0, 0]);
    for r in &a.results {
        out.extend(r.result.to_le_bytes());
        out.extend(r.reason.to_le_bytes());
        put_syntax(out, &r.transfer_syntax);
    }
}

/// Writes one fragment. The auth part, when given, follows the body
/// padded (its pad_length is set here).
pub fn encode(ptype_: u8, flags: u8, call_id: u32, body: &Body, auth: Option<&Auth>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    Header {
        ptype: ptype_,
        flags,
        frag_length: 0,
        auth_length: 0,
        call_id,
    }
    .encode(&mut out);
    match body {
        Body::Bind(b) | Body::AlterContext(b) => encode_bind(&mut out, b),
        Body::BindAck(a) | Body::AlterContextResp(a) => encode_bind_ack(&mut out, a),
        Body::BindNak(reason) => out.extend(reason.to_le_bytes()),
        Body::Request(r) => {
            out.extend(r.alloc_hint.to_le_bytes());
            out.extend(r.context_id.to_le_bytes());
            out.extend(r.opnum.to_le_bytes());
            if let Some(o) = r.object {
                out.extend(o);
            }
            out.extend(&r.stub);
        }
        Body::Response(r) => {
            out.extend(r.alloc_hint.to_le_bytes());
            out.extend(r.context_id.to_le_bytes());
            out.extend([0, 0]);
            out.extend(&r.stub);
        }
        Body::Fault { context_id, status } => {
            out.extend(0u32.to_le_bytes());
            out.extend(context_id.to_le_bytes());
            out.extend([0, 0]);
            out.extend(status.to_le_bytes());
            out.extend(0u32.to_le_bytes());
        }
        Body::Auth3 => out.extend([0u8; 4]),
    }
    if let Some(a) = auth {
        // Calls pad their stub to 16 as Windows does; the rest to the
        // trailer's 4-byte alignment, where impacket looks for it.
        let align = if matches!(body, Body::Request(_) | Body::Response(_)) {
            16
        } else {
            4
        };
        let pad = (align - (out.len() - HEADER_LEN) % align) % align;
        out.extend(std::iter::repeat_n(0u8, pad));
        out.extend([a.auth_type, a.auth_level, pad as u8, 0]);
        out.extend(a.context_id.to_le_bytes());
        out.extend(&a.value);
        out[10..12].copy_from_slice(&(a.value.len() as u16).to_le_bytes());
    }
    let len = out.len() as u16;
    out[8..10].copy_from_slice(&len.to_le_bytes());
    out
}

/// One fragment's share of a call's stub.
#[derive(Debug, PartialEq, Eq)]
pub struct StubPiece<'a> {
    /// FIRST_FRAG and LAST_FRAG as they apply.
    pub flags: u8,
    /// The bytes left from this piece on.
    pub alloc_hint: u32,
    pub bytes: &'a [u8],
}

/// Cuts a call's stub into pieces that fit fragments of `max_frag` bytes
/// with a request or response header, 16-byte padding and an NTLM
/// signature's trailer. An empty stub is one empty piece.
pub fn split_stub(stub: &[u8], max_frag: u16) -> Vec<StubPiece<'_>> {
    // The common header, the call header (8 bytes), padding (at most 15),
    // the trailer and a 16-byte signature.
    let room = usize::from(max_frag).saturating_sub(HEADER_LEN + 8 + 15 + SEC_TRAILER_LEN + 16);
    let room = (room - room % 16).max(16);
    let chunks: Vec<&[u8]> = if stub.is_empty() {
        vec![&[]]
    } else {
        stub.chunks(room).collect()
    };
    let last = chunks.len() - 1;
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| StubPiece {
            flags: if i == 0 { pfc::FIRST_FRAG } else { 0 }
                | if i == last { pfc::LAST_FRAG } else { 0 },
            alloc_hint: (stub.len() - i * room) as u32,
            bytes,
        })
        .collect()
}
