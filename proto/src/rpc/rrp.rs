//! MS-RRP, the remote registry (`\pipe\winreg`), as far as reading goes:
//! the calls Certipy and impacket's `reg.py` make to read a key's values
//! and subkeys, in NDR 2.0 — what the client sends and what the server
//! answers. Key handles are 20-byte context handles.

use super::ndr::{utf16_text, utf16z, Reader, Writer};
use super::{RpcError, SyntaxId};

/// winreg v1.0.
pub const WINREG: SyntaxId = SyntaxId::new("338cd001-2244-31f1-aaaa-900038001003", 1, 0);

/// The opnums served.
pub mod opnum {
    pub const OPEN_LOCAL_MACHINE: u16 = 2;
    pub const CLOSE_KEY: u16 = 5;
    pub const ENUM_KEY: u16 = 9;
    pub const ENUM_VALUE: u16 = 10;
    pub const OPEN_KEY: u16 = 15;
    pub const QUERY_INFO_KEY: u16 = 16;
    pub const QUERY_VALUE: u16 = 17;
    pub const GET_VERSION: u16 = 26;
}

/// Win32 errors the calls return.
pub mod error {
    pub const SUCCESS: u32 = 0;
    pub const FILE_NOT_FOUND: u32 = 2;
    pub const ACCESS_DENIED: u32 = 5;
    pub const INVALID_HANDLE: u32 = 6;
    pub const INVALID_PARAMETER: u32 = 87;
    pub const MORE_DATA: u32 = 234;
    pub const NO_MORE_ITEMS: u32 = 259;
}

/// Registry value types.
pub mod kind {
    pub const SZ: u32 = 1;
    pub const BINARY: u32 = 3;
    pub const DWORD: u32 = 4;
    pub const MULTI_SZ: u32 = 7;
}

/// A key's context handle.
pub type Handle = [u8; 20];

/// A call the server takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    OpenLocalMachine,
    CloseKey(Handle),
    OpenKey {
        key: Handle,
        sub_key: String,
    },
    QueryValue {
        key: Handle,
        name: String,
        buffer: u32,
    },
    QueryInfoKey(Handle),
    EnumKey {
        key: Handle,
        index: u32,
    },
    EnumValue {
        key: Handle,
        index: u32,
        buffer: u32,
    },
    GetVersion(Handle),
}

fn handle(r: &mut Reader) -> Result<Handle, RpcError> {
    r.align(4)?;
    Ok(r.bytes(20, "a key handle")?.try_into().expect("20 bytes"))
}

/// An RRP_UNICODE_STRING and its buffer: the text, and the buffer's size
/// in bytes.
fn unicode(r: &mut Reader, what: &'static str) -> Result<(String, u16), RpcError> {
    let _length = r.u16(what)?;
    let max = r.u16(what)?;
    if !r.pointer(what)? {
        return Ok((String::new(), max));
    }
    let _max_count = r.u32(what)?;
    let offset = r.u32(what)?;
    let actual = r.u32(what)? as usize;
    let n = actual.checked_mul(2).ok_or(RpcError::Malformed(what))?;
    if offset != 0 {
        return Err(RpcError::Malformed(what));
    }
    Ok((utf16_text(r.bytes(n, what)?), max))
}

/// A unique pointer to a DWORD: its value, when present.
fn dword_ptr(r: &mut Reader, what: &'static str) -> Result<Option<u32>, RpcError> {
    if r.pointer(what)? {
        Ok(Some(r.u32(what)?))
    } else {
        Ok(None)
    }
}

/// A unique pointer to a conformant varying byte array: skipped.
fn skip_bytes_ptr(r: &mut Reader, what: &'static str) -> Result<(), RpcError> {
    if r.pointer(what)? {
        let _max = r.u32(what)?;
        let _offset = r.u32(what)?;
        let actual = r.u32(what)?;
        r.bytes(actual as usize, what)?;
    }
    Ok(())
}

impl Call {
    pub fn parse(op: u16, stub: &[u8]) -> Result<Call, RpcError> {
        let mut r = Reader::new(stub);
        let r = &mut r;
        Ok(match op {
            opnum::OPEN_LOCAL_MACHINE => Call::OpenLocalMachine,
            opnum::CLOSE_KEY => Call::CloseKey(handle(r)?),
            opnum::OPEN_KEY => {
                let key = handle(r)?;
                let (sub_key, _) = unicode(r, "lpSubKey")?;
                Call::OpenKey { key, sub_key }
            }
            opnum::QUERY_VALUE => {
                let key = handle(r)?;
                let (name, _) = unicode(r, "lpValueName")?;
                dword_ptr(r, "lpType")?;
                skip_bytes_ptr(r, "lpData")?;
                let buffer = dword_ptr(r, "lpcbData")?.unwrap_or(0);
                Call::QueryValue { key, name, buffer }
            }
            opnum::QUERY_INFO_KEY => Call::QueryInfoKey(handle(r)?),
            opnum::ENUM_KEY => {
                let key = handle(r)?;
                let index = r.u32("dwIndex")?;
                Call::EnumKey { key, index }
            }
            opnum::ENUM_VALUE => {
                let key = handle(r)?;
                let index = r.u32("dwIndex")?;
                unicode(r, "lpValueNameIn")?;
                dword_ptr(r, "lpType")?;
                skip_bytes_ptr(r, "lpData")?;
                let buffer = dword_ptr(r, "lpcbData")?.unwrap_or(0);
                Call::EnumValue { key, index, buffer }
            }
            opnum::GET_VERSION => Call::GetVersion(handle(r)?),
            other => return Err(RpcError::Opnum(other)),
        })
    }

    /// The client's side: the call's opnum and stub.
    pub fn encode(&self) -> (u16, Vec<u8>) {
        let mut w = Writer::new();
        let op = match self {
            Call::OpenLocalMachine => {
                w.pointer(false);
                w.u32(0x0002_0019);
                opnum::OPEN_LOCAL_MACHINE
            }
            Call::CloseKey(h) => {
                w.bytes(h);
                opnum::CLOSE_KEY
            }
            Call::OpenKey { key, sub_key } => {
                w.bytes(key);
                write_unicode(&mut w, sub_key);
                w.u32(0);
                w.u32(0x0002_0019);
                opnum::OPEN_KEY
            }
            Call::QueryValue { key, name, buffer } => {
                w.bytes(key);
                write_unicode(&mut w, name);
                w.pointer(true);
                w.u32(0);
                w.pointer(true);
                w.u32(*buffer);
                w.u32(0);
                w.u32(0);
                w.pointer(true);
                w.u32(*buffer);
                w.pointer(true);
                w.u32(0);
                opnum::QUERY_VALUE
            }
            Call::QueryInfoKey(h) | Call::GetVersion(h) => {
                w.bytes(h);
                if matches!(self, Call::QueryInfoKey(_)) {
                    write_unicode(&mut w, "");
                    opnum::QUERY_INFO_KEY
                } else {
                    opnum::GET_VERSION
                }
            }
            Call::EnumKey { key, index } => {
                w.bytes(key);
                w.u32(*index);
                write_unicode(&mut w, "");
                w.pointer(false);
                w.pointer(false);
                opnum::ENUM_KEY
            }
            Call::EnumValue { key, index, buffer } => {
                w.bytes(key);
                w.u32(*index);
                write_unicode(&mut w, "");
                w.pointer(false);
                w.pointer(false);
                w.pointer(true);
                w.u32(*buffer);
                w.pointer(true);
                w.u32(0);
                opnum::ENUM_VALUE
            }
        };
        (op, w.finish())
    }
}

/// An RRP_UNICODE_STRING with its buffer, NUL-terminated (empty: no
/// buffer).
fn write_unicode(w: &mut Writer, s: &str) {
    if s.is_empty() {
        w.u16(0);
        w.u16(0);
        w.pointer(false);
        return;
    }
    let units = utf16z(s);
    let n = units.len() as u32 / 2;
    w.u16(units.len() as u16);
    w.u16(units.len() as u16);
    w.pointer(true);
    w.u32(n);
    w.u32(0);
    w.u32(n);
    w.bytes(&units);
}

/// A pointer to a DWORD.
fn write_dword_ptr(w: &mut Writer, v: u32) {
    w.pointer(true);
    w.u32(v);
}

/// A pointer to a conformant varying byte array of `size`, holding `data`.
fn write_bytes_ptr(w: &mut Writer, size: u32, data: &[u8]) {
    w.pointer(true);
    w.u32(size);
    w.u32(0);
    w.u32(data.len() as u32);
    w.bytes(data);
}

/// A handle and a status: OpenLocalMachine, OpenKey, CloseKey.
pub fn handle_response(h: &Handle, status: u32) -> Vec<u8> {
    let mut w = Writer::new();
    w.bytes(h);
    w.u32(status);
    w.finish()
}

/// The handle of a handle response, or its error.
pub fn parse_handle_response(stub: &[u8]) -> Result<Result<Handle, u32>, RpcError> {
    let mut r = Reader::new(stub);
    let h = handle(&mut r)?;
    let status = r.u32("ErrorCode")?;
    Ok(if status == 0 { Ok(h) } else { Err(status) })
}

/// Just a status (GetVersion's version first).
pub fn version_response(version: u32) -> Vec<u8> {
    let mut w = Writer::new();
    write_dword_ptr(&mut w, version);
    w.u32(0);
    w.finish()
}

/// A value read: its type and data. Data longer than the client's
/// buffer gives MORE_DATA with the size needed, as Windows answers.
pub fn query_value_response(kind: u32, data: &[u8], buffer: u32) -> Vec<u8> {
    let mut w = Writer::new();
    value_fields(&mut w, kind, data, buffer);
    w.finish()
}

fn value_fields(w: &mut Writer, kind: u32, data: &[u8], buffer: u32) {
    let fits = data.len() <= buffer as usize;
    write_dword_ptr(w, kind);
    write_bytes_ptr(w, buffer, if fits { data } else { &[] });
    write_dword_ptr(w, data.len() as u32);
    write_dword_ptr(w, if fits { data.len() as u32 } else { 0 });
    w.u32(if fits {
        error::SUCCESS
    } else {
        error::MORE_DATA
    });
}

/// A failed QueryValue or EnumValue: NULL outputs and the error.
pub fn value_error(status: u32, with_name: bool) -> Vec<u8> {
    let mut w = Writer::new();
    if with_name {
        write_unicode(&mut w, "");
    }
    for _ in 0..4 {
        w.pointer(false);
    }
    w.u32(status);
    w.finish()
}

/// A QueryValue's answer, client side: the type and data, or the error.
pub fn parse_query_value(stub: &[u8]) -> Result<Result<(u32, Vec<u8>), u32>, RpcError> {
    let mut r = Reader::new(stub);
    let kind = dword_ptr(&mut r, "lpType")?.unwrap_or(0);
    let mut data = Vec::new();
    if r.pointer("lpData")? {
        let _max = r.u32("lpData")?;
        let _offset = r.u32("lpData")?;
        let n = r.u32("lpData")?;
        data = r.bytes(n as usize, "lpData")?.to_vec();
    }
    let needed = dword_ptr(&mut r, "lpcbData")?;
    dword_ptr(&mut r, "lpcbLen")?;
    let status = r.u32("ErrorCode")?;
    Ok(match status {
        0 => Ok((kind, data)),
        error::MORE_DATA => Err(needed.unwrap_or(status)),
        s => Err(s),
    })
}

/// EnumValue's answer: the value's name, type and data.
pub fn enum_value_response(name: &str, kind: u32, data: &[u8], buffer: u32) -> Vec<u8> {
    let mut w = Writer::new();
    write_unicode(&mut w, name);
    value_fields(&mut w, kind, data, buffer);
    w.finish()
}

/// EnumKey's answer: the subkey's name, no class, the last write time.
pub fn enum_key_response(name: &str, written: u64) -> Vec<u8> {
    let mut w = Writer::new();
    write_unicode(&mut w, name);
    w.pointer(false);
    w.pointer(true);
    w.u32(written as u32);
    w.u32((written >> 32) as u32);
    w.u32(error::SUCCESS);
    w.finish()
}

/// A failed EnumKey (NO_MORE_ITEMS past the last).
pub fn enum_key_error(status: u32) -> Vec<u8> {
    let mut w = Writer::new();
    write_unicode(&mut w, "");
    w.pointer(false);
    w.pointer(false);
    w.u32(status);
    w.finish()
}

/// What QueryInfoKey reports of a key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyInfo {
    pub sub_keys: u32,
    /// The longest subkey name, in characters.
    pub max_sub_key_len: u32,
    pub values: u32,
    pub max_value_name_len: u32,
    /// The largest value, in bytes.
    pub max_value_len: u32,
    pub written: u64,
}

/// QueryInfoKey's answer (zeros with an error).
pub fn query_info_key_response(i: &KeyInfo, status: u32) -> Vec<u8> {
    let mut w = Writer::new();
    w.u16(0);
    w.u16(0);
    w.pointer(false);
    for v in [
        i.sub_keys,
        i.max_sub_key_len,
        0,
        i.values,
        i.max_value_name_len,
        i.max_value_len,
        0,
        i.written as u32,
        (i.written >> 32) as u32,
        status,
    ] {
        w.u32(v);
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_read_as_they_were_written() {
        let key = [7u8; 20];
        let calls = [
            Call::OpenLocalMachine,
            Call::CloseKey(key),
            Call::OpenKey {
                key,
                sub_key: r"SYSTEM\CurrentControlSet".into(),
            },
            Call::QueryValue {
                key,
                name: "EditFlags".into(),
                buffer: 512,
            },
            Call::QueryInfoKey(key),
            Call::EnumKey { key, index: 3 },
            Call::EnumValue {
                key,
                index: 1,
                buffer: 100,
            },
            Call::GetVersion(key),
        ];
        for c in calls {
            let (op, stub) = c.encode();
            assert_eq!(Call::parse(op, &stub), Ok(c));
        }
        assert!(Call::parse(opnum::OPEN_KEY, &[0; 10]).is_err());
        assert_eq!(Call::parse(99, &[]), Err(RpcError::Opnum(99)));
        assert_eq!(
            RpcError::Opnum(99).call_fault(),
            super::super::status::NCA_S_OP_RNG_ERROR
        );
    }

    #[test]
    fn values_and_their_errors_read_back() {
        let data = 0x1234u32.to_le_bytes();
        let stub = query_value_response(kind::DWORD, &data, 512);
        assert_eq!(
            parse_query_value(&stub),
            Ok(Ok((kind::DWORD, data.to_vec())))
        );
        let stub = query_value_response(kind::BINARY, &[1; 600], 512);
        assert_eq!(
            parse_query_value(&stub),
            Ok(Err(600)),
            "MORE_DATA names the size"
        );
        let stub = value_error(error::FILE_NOT_FOUND, false);
        assert_eq!(parse_query_value(&stub), Ok(Err(error::FILE_NOT_FOUND)));
        let h = [3u8; 20];
        assert_eq!(parse_handle_response(&handle_response(&h, 0)), Ok(Ok(h)));
        assert_eq!(parse_handle_response(&handle_response(&h, 2)), Ok(Err(2)));
    }
}
