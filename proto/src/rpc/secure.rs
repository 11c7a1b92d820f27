//! NTLM session security on request and response fragments (MS-RPCE
//! 3.3.1.5.2): at packet integrity the signature covers the whole PDU up
//! to its auth value; at packet privacy the stub and its padding are
//! sealed too, and the signature covers them in the clear.
//!
//! Both work in place on encoded fragments, so [`pdu::encode`] and
//! [`pdu::parse`] stay ignorant of keys: encode with a 16-byte auth value
//! of zeros, then [`protect`]; [`unprotect`] before parsing.

use std::ops::Range;

use super::pdu::{self, pfc, ptype, Header, HEADER_LEN, SEC_TRAILER_LEN};
use super::RpcError;
use crate::ntlm::session::Session;

/// `RPC_C_AUTHN_WINNT`: NTLM.
pub const AUTHN_WINNT: u8 = 10;
/// Length of an NTLM signature: the auth value of a protected PDU.
pub const SIGNATURE_LEN: usize = 16;

/// Authentication levels (`RPC_C_AUTHN_LEVEL_*`).
pub mod level {
    pub const NONE: u8 = 1;
    pub const CONNECT: u8 = 2;
    pub const CALL: u8 = 3;
    pub const PKT: u8 = 4;
    pub const PKT_INTEGRITY: u8 = 5;
    pub const PKT_PRIVACY: u8 = 6;

    /// The name Windows' and impacket's constants give it.
    pub fn name(level: u8) -> &'static str {
        match level {
            NONE => "none",
            CONNECT => "connect",
            CALL => "call",
            PKT => "packet",
            PKT_INTEGRITY => "packet integrity",
            PKT_PRIVACY => "packet privacy",
            _ => "unknown",
        }
    }

    /// The level a client asks for by its short name (`--rpc-level`):
    /// `privacy`, `integrity` or `connect`, in any case.
    pub fn from_name(name: &str) -> Option<u8> {
        match name.to_ascii_lowercase().as_str() {
            "privacy" => Some(PKT_PRIVACY),
            "integrity" => Some(PKT_INTEGRITY),
            "connect" => Some(CONNECT),
            _ => None,
        }
    }
}

/// The stub (with its auth padding) of a request or response fragment
/// carrying a 16-byte signature, and the level its trailer names.
fn stub_range(frag: &[u8]) -> Result<(Range<usize>, u8), RpcError> {
    let h = Header::parse(frag)?;
    if frag.len() != usize::from(h.frag_length) {
        return Err(RpcError::Truncated("the fragment"));
    }
    let start = match h.ptype {
        ptype::REQUEST if h.flags & pfc::OBJECT_UUID != 0 => HEADER_LEN + 24,
        ptype::REQUEST | ptype::RESPONSE => HEADER_LEN + 8,
        other => return Err(RpcError::PduType(other)),
    };
    if usize::from(h.auth_length) != SIGNATURE_LEN {
        return Err(RpcError::Malformed(
            "the auth value (not an NTLM signature)",
        ));
    }
    let trailer = frag
        .len()
        .checked_sub(SIGNATURE_LEN + SEC_TRAILER_LEN)
        .filter(|t| *t >= start)
        .ok_or(RpcError::Truncated("the security trailer"))?;
    Ok((start..trailer, frag[trailer + 1]))
}

/// Signs (packet integrity) or seals (packet privacy) an encoded fragment
/// whose auth value is 16 placeholder bytes; other levels leave it as is.
pub fn protect(frag: &mut [u8], session: &mut Session) -> Result<(), RpcError> {
    let (stub, level) = stub_range(frag)?;
    let signed = frag.len() - SIGNATURE_LEN;
    let signature = match level {
        level::PKT_PRIVACY => session.seal(&mut frag[..signed], stub),
        level::PKT_INTEGRITY => session.sign(&frag[..signed]),
        _ => return Ok(()),
    };
    frag[signed..].copy_from_slice(&signature);
    Ok(())
}

/// Checks (and at packet privacy, unseals in place) a received request or
/// response fragment; returns the level it was protected at. A failure
/// leaves the session's streams out of step: drop the connection.
pub fn unprotect(frag: &mut [u8], session: &mut Session) -> Result<u8, RpcError> {
    let (stub, level) = stub_range(frag)?;
    let signed = frag.len() - SIGNATURE_LEN;
    let (message, signature) = frag.split_at_mut(signed);
    let checked = match level {
        level::PKT_PRIVACY => session.unseal(message, stub, signature),
        level::PKT_INTEGRITY => session.verify(message, signature),
        _ => return Ok(level),
    };
    checked.map_err(|_| RpcError::Signature)?;
    Ok(level)
}

/// The auth part a protected fragment is encoded with before [`protect`].
pub fn placeholder(level: u8, context_id: u32) -> pdu::Auth {
    pdu::Auth {
        auth_type: AUTHN_WINNT,
        auth_level: level,
        pad_length: 0,
        context_id,
        value: vec![0; SIGNATURE_LEN],
    }
}
