//! The bodies of the requests a named-pipe client sends and of the
//! server's responses (MS-SMB2 2.2), both ends: `parse` for what arrives,
//! `encode` for what is sent. Buffer offsets count from the header's
//! start, as on the wire; a body is the bytes after its header.

use super::{SmbError, HEADER_LEN};

/// Little-endian fields of a body, bounds-checked.
struct Fields<'a> {
    b: &'a [u8],
    what: &'static str,
}

impl<'a> Fields<'a> {
    fn new(b: &'a [u8], size: u16, what: &'static str) -> Result<Fields<'a>, SmbError> {
        let f = Fields { b, what };
        // The structure size counts the fixed part and one buffer byte
        // when the structure has a buffer (odd sizes).
        if b.len() < usize::from(size & !1) || f.u16(0)? != size {
            return Err(SmbError::Malformed(what));
        }
        Ok(f)
    }

    fn get<const N: usize>(&self, at: usize) -> Result<[u8; N], SmbError> {
        self.b
            .get(at..at + N)
            .and_then(|s| s.try_into().ok())
            .ok_or(SmbError::Truncated(self.what))
    }

    fn u8(&self, at: usize) -> Result<u8, SmbError> {
        Ok(self.get::<1>(at)?[0])
    }

    fn u16(&self, at: usize) -> Result<u16, SmbError> {
        self.get(at).map(u16::from_le_bytes)
    }

    fn u32(&self, at: usize) -> Result<u32, SmbError> {
        self.get(at).map(u32::from_le_bytes)
    }

    fn u64(&self, at: usize) -> Result<u64, SmbError> {
        self.get(at).map(u64::from_le_bytes)
    }

    /// A buffer named by an offset from the header's start and a length.
    fn buffer(&self, offset: u32, len: u32) -> Result<&'a [u8], SmbError> {
        if len == 0 {
            return Ok(&[]);
        }
        let start = (offset as usize)
            .checked_sub(HEADER_LEN)
            .ok_or(SmbError::Malformed(self.what))?;
        self.b
            .get(start..start + len as usize)
            .ok_or(SmbError::Truncated(self.what))
    }
}

/// A body being written: fixed fields, then the buffer.
#[derive(Default)]
struct Out(Vec<u8>);

impl Out {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend(v.to_le_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend(v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend(v.to_le_bytes());
        self
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend(b);
        self
    }
    /// The offset from the header's start of what comes next.
    fn offset(&self) -> u16 {
        (HEADER_LEN + self.0.len()) as u16
    }
    fn done(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

/// UTF-16LE to text, up to a NUL if there is one.
pub use crate::rpc::ndr::utf16_text as utf16;

/// Text as UTF-16LE, without a terminator.
pub fn to_utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A file's two-part handle.
pub type FileId = [u8; 16];

/// Negotiate contexts (3.1.1).
pub mod context {
    pub const PREAUTH_INTEGRITY: u16 = 1;
    pub const ENCRYPTION: u16 = 2;
    /// SHA-512, the one pre-authentication hash.
    pub const SHA512: u16 = 1;
}

/// NEGOTIATE request (2.2.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Negotiate {
    pub security_mode: u16,
    pub capabilities: u32,
    pub client_guid: [u8; 16],
    pub dialects: Vec<u16>,
    /// Negotiate contexts: type and data.
    pub contexts: Vec<(u16, Vec<u8>)>,
}

impl Negotiate {
    pub fn parse(body: &[u8]) -> Result<Negotiate, SmbError> {
        let f = Fields::new(body, 36, "NEGOTIATE")?;
        let count = usize::from(f.u16(2)?);
        let mut dialects = Vec::with_capacity(count);
        for i in 0..count {
            dialects.push(f.u16(36 + 2 * i)?);
        }
        let mut contexts = Vec::new();
        if dialects.contains(&super::dialect::SMB_3_1_1) {
            let offset = f.u32(28)? as usize;
            let n = f.u16(32)?;
            let mut at = offset
                .checked_sub(HEADER_LEN)
                .ok_or(SmbError::Malformed("NEGOTIATE contexts"))?;
            for _ in 0..n {
                at = at.next_multiple_of(8);
                let kind = f.u16(at)?;
                let len = usize::from(f.u16(at + 2)?);
                let data = body
                    .get(at + 8..at + 8 + len)
                    .ok_or(SmbError::Truncated("a NEGOTIATE context"))?;
                contexts.push((kind, data.to_vec()));
                at += 8 + len;
            }
        }
        Ok(Negotiate {
            security_mode: f.u16(4)?,
            capabilities: f.u32(8)?,
            client_guid: f.get(12)?,
            dialects,
            contexts,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut o = Out::default();
        o.u16(36)
            .u16(self.dialects.len() as u16)
            .u16(self.security_mode)
            .u16(0);
        o.u32(self.capabilities).bytes(&self.client_guid);
        let list_at = (HEADER_LEN + 36 + 2 * self.dialects.len()).next_multiple_of(8);
        let with_contexts = !self.contexts.is_empty();
        o.u32(if with_contexts { list_at as u32 } else { 0 });
        o.u16(self.contexts.len() as u16).u16(0);
        for d in &self.dialects {
            o.u16(*d);
        }
        if with_contexts {
            write_contexts(&mut o, &self.contexts);
        }
        o.done()
    }
}

/// Negotiate contexts, each at an 8-byte boundary from the header's start.
fn write_contexts(o: &mut Out, contexts: &[(u16, Vec<u8>)]) {
    for (kind, data) in contexts {
        while o.offset() % 8 != 0 {
            o.u8(0);
        }
        o.u16(*kind).u16(data.len() as u16).u32(0).bytes(data);
    }
}

/// NEGOTIATE response (2.2.4).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NegotiateResponse {
    pub security_mode: u16,
    pub dialect: u16,
    pub server_guid: [u8; 16],
    pub capabilities: u32,
    pub max_io: u32,
    pub system_time: u64,
    pub security_buffer: Vec<u8>,
    pub contexts: Vec<(u16, Vec<u8>)>,
}

impl NegotiateResponse {
    pub fn encode(&self) -> Vec<u8> {
        let mut o = Out::default();
        o.u16(65).u16(self.security_mode).u16(self.dialect);
        o.u16(self.contexts.len() as u16);
        o.bytes(&self.server_guid).u32(self.capabilities);
        o.u32(self.max_io).u32(self.max_io).u32(self.max_io);
        o.u64(self.system_time).u64(0);
        let buffer_at = HEADER_LEN as u16 + 64;
        o.u16(buffer_at).u16(self.security_buffer.len() as u16);
        let contexts_at = if self.contexts.is_empty() {
            0
        } else {
            (usize::from(buffer_at) + self.security_buffer.len()).next_multiple_of(8) as u32
        };
        o.u32(contexts_at).bytes(&self.security_buffer);
        write_contexts(&mut o, &self.contexts);
        o.done()
    }

    pub fn parse(body: &[u8]) -> Result<NegotiateResponse, SmbError> {
        let f = Fields::new(body, 65, "NEGOTIATE response")?;
        Ok(NegotiateResponse {
            security_mode: f.u16(2)?,
            dialect: f.u16(4)?,
            server_guid: f.get(8)?,
            capabilities: f.u32(24)?,
            max_io: f.u32(28)?,
            system_time: f.u64(40)?,
            security_buffer: f
                .buffer(u32::from(f.u16(56)?), u32::from(f.u16(58)?))?
                .to_vec(),
            contexts: Vec::new(),
        })
    }
}

/// SESSION_SETUP request (2.2.5): the security token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionSetup {
    pub flags: u8,
    pub security_mode: u8,
    pub token: Vec<u8>,
    pub previous_session: u64,
}

impl SessionSetup {
    pub fn parse(body: &[u8]) -> Result<SessionSetup, SmbError> {
        let f = Fields::new(body, 25, "SESSION_SETUP")?;
        Ok(SessionSetup {
            flags: f.u8(2)?,
            security_mode: f.u8(3)?,
            token: f
                .buffer(u32::from(f.u16(12)?), u32::from(f.u16(14)?))?
                .to_vec(),
            previous_session: f.u64(16)?,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut o = Out::default();
        o.u16(25)
            .u8(self.flags)
            .u8(self.security_mode)
            .u32(0)
            .u32(0);
        o.u16(HEADER_LEN as u16 + 24).u16(self.token.len() as u16);
        o.u64(self.previous_session).bytes(&self.token);
        o.done()
    }
}

/// SESSION_SETUP response (2.2.6).
pub fn session_setup_response(session_flags: u16, token: &[u8]) -> Vec<u8> {
    let mut o = Out::default();
    o.u16(9).u16(session_flags);
    o.u16(HEADER_LEN as u16 + 8)
        .u16(token.len() as u16)
        .bytes(token);
    o.done()
}

/// The security token of a SESSION_SETUP response.
pub fn session_setup_token(body: &[u8]) -> Result<Vec<u8>, SmbError> {
    let f = Fields::new(body, 9, "SESSION_SETUP response")?;
    Ok(f.buffer(u32::from(f.u16(4)?), u32::from(f.u16(6)?))?
        .to_vec())
}

/// The 4-byte bodies: LOGOFF, TREE_DISCONNECT, ECHO and their answers.
pub fn empty() -> Vec<u8> {
    vec![4, 0, 0, 0]
}

/// TREE_CONNECT request (2.2.9): the share's path, `\\server\IPC$`.
pub fn tree_connect_path(body: &[u8]) -> Result<String, SmbError> {
    let f = Fields::new(body, 9, "TREE_CONNECT")?;
    Ok(utf16(f.buffer(u32::from(f.u16(4)?), u32::from(f.u16(6)?))?))
}

pub fn tree_connect(path: &str) -> Vec<u8> {
    let p = to_utf16(path);
    let mut o = Out::default();
    o.u16(9)
        .u16(0)
        .u16(HEADER_LEN as u16 + 8)
        .u16(p.len() as u16)
        .bytes(&p);
    o.done()
}

/// Share types of a TREE_CONNECT response.
pub const SHARE_TYPE_PIPE: u8 = 2;

/// TREE_CONNECT response (2.2.10).
pub fn tree_connect_response(share_type: u8, maximal_access: u32) -> Vec<u8> {
    let mut o = Out::default();
    o.u16(16)
        .u8(share_type)
        .u8(0)
        .u32(0)
        .u32(0)
        .u32(maximal_access);
    o.done()
}

/// CREATE request (2.2.13): what a pipe client gives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Create {
    pub desired_access: u32,
    pub create_disposition: u32,
    pub create_options: u32,
    pub name: String,
}

impl Create {
    pub fn parse(body: &[u8]) -> Result<Create, SmbError> {
        let f = Fields::new(body, 57, "CREATE")?;
        let name = f.buffer(u32::from(f.u16(44)?), u32::from(f.u16(46)?))?;
        Ok(Create {
            desired_access: f.u32(24)?,
            create_disposition: f.u32(36)?,
            create_options: f.u32(40)?,
            name: utf16(name),
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let name = to_utf16(&self.name);
        let mut o = Out::default();
        o.u16(57).u8(0).u8(0).u32(2).u64(0).u64(0);
        o.u32(self.desired_access)
            .u32(0)
            .u32(3)
            .u32(self.create_disposition);
        o.u32(self.create_options)
            .u16(HEADER_LEN as u16 + 56)
            .u16(name.len() as u16);
        o.u32(0).u32(0).bytes(&name);
        if name.is_empty() {
            o.u8(0);
        }
        o.done()
    }
}

/// FILE_ATTRIBUTE_NORMAL, what a pipe's open reports.
const FILE_ATTRIBUTE_NORMAL: u32 = 0x80;

/// CREATE response (2.2.14) for a pipe: opened, no times, no size.
pub fn create_response(file: &FileId) -> Vec<u8> {
    let mut o = Out::default();
    o.u16(89).u8(0).u8(0).u32(1);
    o.u64(0).u64(0).u64(0).u64(0).u64(4096).u64(0);
    o.u32(FILE_ATTRIBUTE_NORMAL)
        .u32(0)
        .bytes(file)
        .u32(0)
        .u32(0);
    o.done()
}

/// The file ID a CREATE response gives.
pub fn created_file(body: &[u8]) -> Result<FileId, SmbError> {
    Fields::new(body, 89, "CREATE response")?.get(64)
}

/// CLOSE request (2.2.15): the file.
pub fn close_file(body: &[u8]) -> Result<FileId, SmbError> {
    Fields::new(body, 24, "CLOSE")?.get(8)
}

pub fn close(file: &FileId) -> Vec<u8> {
    let mut o = Out::default();
    o.u16(24).u16(0).u32(0).bytes(file);
    o.done()
}

/// CLOSE response (2.2.16), without the attributes (not asked for).
pub fn close_response() -> Vec<u8> {
    let mut o = Out::default();
    o.u16(60).u16(0).u32(0).bytes(&[0; 52]);
    o.done()
}

/// READ request (2.2.19): how much, from which file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read {
    pub length: u32,
    pub file: FileId,
}

impl Read {
    pub fn parse(body: &[u8]) -> Result<Read, SmbError> {
        let f = Fields::new(body, 49, "READ")?;
        Ok(Read {
            length: f.u32(4)?,
            file: f.get(16)?,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut o = Out::default();
        o.u16(49)
            .u8(0)
            .u8(0)
            .u32(self.length)
            .u64(0)
            .bytes(&self.file);
        o.u32(1).u32(0).u32(0).u16(0).u16(0).u8(0);
        o.done()
    }
}

/// READ response (2.2.20).
pub fn read_response(data: &[u8]) -> Vec<u8> {
    let mut o = Out::default();
    o.u16(17).u8(HEADER_LEN as u8 + 16).u8(0);
    o.u32(data.len() as u32).u32(0).u32(0).bytes(data);
    o.done()
}

/// The data of a READ response.
pub fn read_data(body: &[u8]) -> Result<Vec<u8>, SmbError> {
    let f = Fields::new(body, 17, "READ response")?;
    Ok(f.buffer(u32::from(f.u8(2)?), f.u32(4)?)?.to_vec())
}

/// WRITE request (2.2.21): the data and the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub file: FileId,
    pub data: Vec<u8>,
}

impl Write {
    pub fn parse(body: &[u8]) -> Result<Write, SmbError> {
        let f = Fields::new(body, 49, "WRITE")?;
        Ok(Write {
            file: f.get(16)?,
            data: f.buffer(u32::from(f.u16(2)?), f.u32(4)?)?.to_vec(),
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut o = Out::default();
        o.u16(49)
            .u16(HEADER_LEN as u16 + 48)
            .u32(self.data.len() as u32)
            .u64(0);
        o.bytes(&self.file).u32(0).u32(0).u16(0).u16(0).u32(0);
        o.bytes(&self.data);
        o.done()
    }
}

/// WRITE response (2.2.22).
pub fn write_response(count: u32) -> Vec<u8> {
    let mut o = Out::default();
    o.u16(17).u16(0).u32(count).u32(0).u16(0).u16(0);
    o.done()
}

/// IOCTL control codes a pipe client or a 3.x client sends.
pub mod fsctl {
    pub const PIPE_TRANSCEIVE: u32 = 0x0011_c017;
    pub const VALIDATE_NEGOTIATE_INFO: u32 = 0x0014_0204;
    pub const DFS_GET_REFERRALS: u32 = 0x0006_0194;
}

/// IOCTL request (2.2.31).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ioctl {
    pub ctl_code: u32,
    pub file: FileId,
    pub input: Vec<u8>,
    pub max_output: u32,
}

impl Ioctl {
    pub fn parse(body: &[u8]) -> Result<Ioctl, SmbError> {
        let f = Fields::new(body, 57, "IOCTL")?;
        Ok(Ioctl {
            ctl_code: f.u32(4)?,
            file: f.get(8)?,
            input: f.buffer(f.u32(24)?, f.u32(28)?)?.to_vec(),
            max_output: f.u32(44)?,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut o = Out::default();
        o.u16(57).u16(0).u32(self.ctl_code).bytes(&self.file);
        o.u32(HEADER_LEN as u32 + 56)
            .u32(self.input.len() as u32)
            .u32(0);
        o.u32(0).u32(0).u32(self.max_output).u32(1).u32(0);
        o.bytes(&self.input);
        o.done()
    }
}

/// IOCTL response (2.2.32) with its output.
pub fn ioctl_response(ctl_code: u32, file: &FileId, output: &[u8]) -> Vec<u8> {
    let mut o = Out::default();
    o.u16(49).u16(0).u32(ctl_code).bytes(file);
    let at = HEADER_LEN as u32 + 48;
    o.u32(at)
        .u32(0)
        .u32(at)
        .u32(output.len() as u32)
        .u32(0)
        .u32(0);
    o.bytes(output);
    o.done()
}

/// The output of an IOCTL response.
pub fn ioctl_output(body: &[u8]) -> Result<Vec<u8>, SmbError> {
    let f = Fields::new(body, 49, "IOCTL response")?;
    Ok(f.buffer(f.u32(32)?, f.u32(36)?)?.to_vec())
}

/// The error response (2.2.2) every failed command carries.
pub fn error_response() -> Vec<u8> {
    vec![9, 0, 0, 0, 0, 0, 0, 0, 0]
}
