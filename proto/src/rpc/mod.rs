//! DCE/RPC as AD CS's ICertPassage (MS-ICPR) is reached over
//! `ncacn_ip_tcp`: the connection-oriented PDUs (`pdu`), the syntax
//! identifiers both ends name, and the fault statuses. Sans-IO: a stream
//! reader asks [`pdu::fragment_len`] how many bytes make the next
//! fragment, then [`pdu::parse`]s it.

pub mod assoc;
pub mod client;
pub mod epm;
pub mod icpr;
pub mod ndr;
pub mod pdu;
pub mod pipe;
pub mod rrp;
pub mod secure;
pub mod services;

#[cfg(test)]
pub(crate) mod assoc_tests;
#[cfg(test)]
mod ndr_tests;

/// Why a PDU was refused; the server answers a fault or closes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    #[error("RPC version {0}.{1} (only 5.0 is spoken)")]
    Version(u8, u8),
    #[error("big-endian NDR data representation is not supported")]
    BigEndian,
    #[error("the PDU ends inside {0}")]
    Truncated(&'static str),
    #[error("PDU type {0} is not one this side takes")]
    PduType(u8),
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("opnum {0} is not served")]
    Opnum(u16),
    #[error("the PDU's signature does not verify")]
    Signature,
    #[error("NTLM: {0}")]
    Auth(String),
    #[error("the server answered with fault 0x{0:08x}")]
    Fault(u32),
    #[error("the server rejected the bind (reason {0})")]
    Rejected(u16),
}

/// An interface or transfer syntax: its UUID in wire order (the first
/// three fields little-endian) and its version (major in the low half).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyntaxId {
    pub uuid: [u8; 16],
    pub version: u32,
}

impl SyntaxId {
    /// From the text form, `91ae6020-9e3c-11cf-8d7c-00aa00c091be`, and
    /// `major.minor`.
    pub const fn new(text: &str, major: u16, minor: u16) -> SyntaxId {
        let t = text.as_bytes();
        let mut hex = [0u8; 16];
        let (mut i, mut n) = (0, 0);
        while i < t.len() {
            if t[i] != b'-' {
                let v = match t[i] {
                    b'0'..=b'9' => t[i] - b'0',
                    b'a'..=b'f' => t[i] - b'a' + 10,
                    b'A'..=b'F' => t[i] - b'A' + 10,
                    _ => panic!("not a UUID"),
                };
                hex[n / 2] |= if n % 2 == 0 { v << 4 } else { v };
                n += 1;
            }
            i += 1;
        }
        assert!(n == 32, "not a UUID");
        let uuid = [
            hex[3], hex[2], hex[1], hex[0], hex[5], hex[4], hex[7], hex[6], hex[8], hex[9],
            hex[10], hex[11], hex[12], hex[13], hex[14], hex[15],
        ];
        SyntaxId {
            uuid,
            version: major as u32 | (minor as u32) << 16,
        }
    }
}

/// ICertPassage v0.0 (MS-ICPR), opnum 0 CertServerRequest.
pub const ICERT_PASSAGE: SyntaxId = SyntaxId::new("91ae6020-9e3c-11cf-8d7c-00aa00c091be", 0, 0);
/// The endpoint mapper v3.0, which clients ask for the port first.
pub const EPM: SyntaxId = SyntaxId::new("e1af8308-5d1f-11c9-91a4-08002b14a0fa", 3, 0);
/// NDR 2.0, the transfer syntax this side speaks.
pub const NDR: SyntaxId = SyntaxId::new("8a885d04-1ceb-11c9-9fe8-08002b104860", 2, 0);
/// NDR64, which Windows clients also offer; refused with reason 2.
pub const NDR64: SyntaxId = SyntaxId::new("71710533-beba-4937-8319-b5dbef9ccc36", 1, 0);

impl RpcError {
    /// The fault a server answers a call whose stub this error refused:
    /// an opnum out of range, or stub data that does not unmarshal.
    pub fn call_fault(&self) -> u32 {
        match self {
            RpcError::Opnum(_) => status::NCA_S_OP_RNG_ERROR,
            _ => status::RPC_X_BAD_STUB_DATA,
        }
    }
}

/// Fault statuses (C706 appendix E, MS-RPCE 2.2.2.11).
pub mod status {
    /// The opnum is out of range.
    pub const NCA_S_OP_RNG_ERROR: u32 = 0x1c01_0002;
    /// The interface is not one the server exports.
    pub const NCA_S_UNK_IF: u32 = 0x1c01_0003;
    /// A malformed PDU.
    pub const NCA_S_PROTO_ERROR: u32 = 0x1c01_000b;
    /// RPC_X_BAD_STUB_DATA: the call's arguments do not unmarshal.
    pub const RPC_X_BAD_STUB_DATA: u32 = 0x0000_06f7;
    /// ERROR_ACCESS_DENIED: authentication missing or too weak.
    pub const ACCESS_DENIED: u32 = 0x0000_0005;
}

#[cfg(test)]
mod tests;
