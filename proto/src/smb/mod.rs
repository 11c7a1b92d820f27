//! SMB2/3 as a Windows server answers clients that come for its named
//! pipes on `IPC$` (MS-SMB2), sans-IO: the direct-TCP framing, the sync
//! header, the requests a pipe client sends and their responses
//! (`message`), the signing keys and signatures of each dialect
//! (`signing`), and one connection's server state (`server`): negotiate,
//! NTLM inside SPNEGO, tree connects, opens, reads and writes on pipes.

pub mod message;
pub mod server;
pub mod signing;

#[cfg(test)]
mod tests;

/// The largest read, write and transaction this side offers (and takes).
pub const MAX_IO: u32 = 65_536;
/// The largest message read off the wire: the largest write and its
/// header, with room for a compound's other commands.
pub const MAX_MESSAGE: usize = MAX_IO as usize + 4096;
/// The sync header's length.
pub const HEADER_LEN: usize = 64;

/// Why a message was refused; the connection is closed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SmbError {
    #[error("not an SMB2 message")]
    NotSmb2,
    #[error("the message ends inside {0}")]
    Truncated(&'static str),
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("{0}")]
    Protocol(String),
}

/// The direct-TCP transport's frame: a zero byte and a 24-bit big-endian
/// length. The whole frame's length once its first four bytes are in.
pub fn frame_len(head: &[u8]) -> Option<usize> {
    match head {
        [0, a, b, c, ..] => {
            Some(4 + (usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c)))
        }
        _ => None,
    }
}

/// A message framed for direct TCP.
pub fn frame(msg: &[u8]) -> Vec<u8> {
    let n = msg.len() as u32;
    let mut out = Vec::with_capacity(msg.len() + 4);
    out.push(0);
    out.extend(&n.to_be_bytes()[1..]);
    out.extend(msg);
    out
}

/// Command codes (MS-SMB2 2.2.1).
pub mod command {
    pub const NEGOTIATE: u16 = 0x00;
    pub const SESSION_SETUP: u16 = 0x01;
    pub const LOGOFF: u16 = 0x02;
    pub const TREE_CONNECT: u16 = 0x03;
    pub const TREE_DISCONNECT: u16 = 0x04;
    pub const CREATE: u16 = 0x05;
    pub const CLOSE: u16 = 0x06;
    pub const FLUSH: u16 = 0x07;
    pub const READ: u16 = 0x08;
    pub const WRITE: u16 = 0x09;
    pub const LOCK: u16 = 0x0a;
    pub const IOCTL: u16 = 0x0b;
    pub const CANCEL: u16 = 0x0c;
    pub const ECHO: u16 = 0x0d;
    pub const QUERY_DIRECTORY: u16 = 0x0e;
    pub const CHANGE_NOTIFY: u16 = 0x0f;
    pub const QUERY_INFO: u16 = 0x10;
    pub const SET_INFO: u16 = 0x11;
    pub const OPLOCK_BREAK: u16 = 0x12;

    /// The name a journal gives a command.
    pub fn name(c: u16) -> &'static str {
        const NAMES: [&str; 19] = [
            "NEGOTIATE",
            "SESSION_SETUP",
            "LOGOFF",
            "TREE_CONNECT",
            "TREE_DISCONNECT",
            "CREATE",
            "CLOSE",
            "FLUSH",
            "READ",
            "WRITE",
            "LOCK",
            "IOCTL",
            "CANCEL",
            "ECHO",
            "QUERY_DIRECTORY",
            "CHANGE_NOTIFY",
            "QUERY_INFO",
            "SET_INFO",
            "OPLOCK_BREAK",
        ];
        NAMES.get(usize::from(c)).copied().unwrap_or("unknown")
    }
}

/// NTSTATUS values these answers carry (MS-ERREF 2.3).
pub mod status {
    pub const SUCCESS: u32 = 0;
    pub const BUFFER_OVERFLOW: u32 = 0x8000_0005;
    pub const INVALID_PARAMETER: u32 = 0xc000_000d;
    pub const MORE_PROCESSING_REQUIRED: u32 = 0xc000_0016;
    pub const ACCESS_DENIED: u32 = 0xc000_0022;
    pub const OBJECT_NAME_NOT_FOUND: u32 = 0xc000_0034;
    pub const LOGON_FAILURE: u32 = 0xc000_006d;
    pub const PIPE_DISCONNECTED: u32 = 0xc000_00b0;
    pub const NOT_SUPPORTED: u32 = 0xc000_00bb;
    pub const NETWORK_NAME_DELETED: u32 = 0xc000_00c9;
    pub const BAD_NETWORK_NAME: u32 = 0xc000_00cc;
    pub const PIPE_EMPTY: u32 = 0xc000_00d9;
    pub const FILE_CLOSED: u32 = 0xc000_0128;
    pub const FS_DRIVER_REQUIRED: u32 = 0xc000_019c;
    pub const USER_SESSION_DELETED: u32 = 0xc000_0203;
}

/// Dialect revisions (MS-SMB2 2.2.3).
pub mod dialect {
    pub const SMB_2_0_2: u16 = 0x0202;
    pub const SMB_2_1: u16 = 0x0210;
    pub const SMB_3_0: u16 = 0x0300;
    pub const SMB_3_0_2: u16 = 0x0302;
    pub const SMB_3_1_1: u16 = 0x0311;
    /// "SMB 2.???": the client also speaks SMB2; negotiate again.
    pub const WILDCARD: u16 = 0x02ff;
    /// What this side speaks, best first.
    pub const SERVED: [u16; 5] = [SMB_3_1_1, SMB_3_0_2, SMB_3_0, SMB_2_1, SMB_2_0_2];

    /// `3.1.1`, as a journal names it.
    pub fn name(d: u16) -> String {
        match d {
            SMB_3_1_1 => "3.1.1".into(),
            SMB_3_0_2 => "3.0.2".into(),
            SMB_3_0 => "3.0".into(),
            SMB_2_1 => "2.1".into(),
            SMB_2_0_2 => "2.0.2".into(),
            other => format!("0x{other:04x}"),
        }
    }
}

/// Header flags (MS-SMB2 2.2.1.2).
pub mod flags {
    pub const SERVER_TO_REDIR: u32 = 0x1;
    pub const RELATED_OPERATIONS: u32 = 0x4;
    pub const SIGNED: u32 = 0x8;
}

/// The SMB2 sync header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub credit_charge: u16,
    /// A request's channel sequence; a response's NTSTATUS.
    pub status: u32,
    pub command: u16,
    pub credits: u16,
    pub flags: u32,
    pub next_command: u32,
    pub message_id: u64,
    pub process_id: u32,
    pub tree_id: u32,
    pub session_id: u64,
    pub signature: [u8; 16],
}

impl Header {
    pub fn parse(b: &[u8]) -> Result<Header, SmbError> {
        if b.len() < HEADER_LEN {
            return Err(if b.starts_with(b"\xfeSMB") || b.len() < 4 {
                SmbError::Truncated("the SMB2 header")
            } else {
                SmbError::NotSmb2
            });
        }
        if &b[..4] != b"\xfeSMB" {
            return Err(SmbError::NotSmb2);
        }
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        if u16_at(4) != 64 {
            return Err(SmbError::Malformed("the header's structure size"));
        }
        Ok(Header {
            credit_charge: u16_at(6),
            status: u32_at(8),
            command: u16_at(12),
            credits: u16_at(14),
            flags: u32_at(16),
            next_command: u32_at(20),
            message_id: u64_at(24),
            process_id: u32_at(32),
            tree_id: u32_at(36),
            session_id: u64_at(40),
            signature: b[48..64].try_into().expect("16 bytes"),
        })
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..4].copy_from_slice(b"\xfeSMB");
        h[4..6].copy_from_slice(&64u16.to_le_bytes());
        h[6..8].copy_from_slice(&self.credit_charge.to_le_bytes());
        h[8..12].copy_from_slice(&self.status.to_le_bytes());
        h[12..14].copy_from_slice(&self.command.to_le_bytes());
        h[14..16].copy_from_slice(&self.credits.to_le_bytes());
        h[16..20].copy_from_slice(&self.flags.to_le_bytes());
        h[20..24].copy_from_slice(&self.next_command.to_le_bytes());
        h[24..32].copy_from_slice(&self.message_id.to_le_bytes());
        h[32..36].copy_from_slice(&self.process_id.to_le_bytes());
        h[36..40].copy_from_slice(&self.tree_id.to_le_bytes());
        h[40..48].copy_from_slice(&self.session_id.to_le_bytes());
        h[48..64].copy_from_slice(&self.signature);
        h
    }

    /// The response header for this request: same IDs, the server's
    /// flag, the status and a grant of credits.
    pub fn response(&self, status: u32) -> Header {
        Header {
            credit_charge: self.credit_charge,
            status,
            command: self.command,
            credits: self.credits.max(1),
            flags: flags::SERVER_TO_REDIR | (self.flags & flags::RELATED_OPERATIONS),
            next_command: 0,
            message_id: self.message_id,
            process_id: self.process_id,
            tree_id: self.tree_id,
            session_id: self.session_id,
            signature: [0; 16],
        }
    }
}
