//! The little NDR 2.0 (little-endian, ASCII, IEEE) the ICertPassage and
//! endpoint-mapper calls need: aligned integers, unique pointers,
//! conformant byte arrays and conformant varying UTF-16 strings. Offsets
//! align from the start of the stub, as NDR aligns them.

use super::RpcError;

/// A bounds-checked NDR reader over one call's stub.
pub struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Reader<'a> {
        Reader { b, at: 0 }
    }

    /// A reader at `at` in `b`, aligning from `b`'s start (a PDU's body
    /// after its common header).
    pub fn starting_at(b: &'a [u8], at: usize) -> Reader<'a> {
        Reader { b, at }
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, RpcError> {
        Ok(self.take(1, what)?[0])
    }

    /// Everything left (a call's stub after its header).
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.b[self.at..];
        self.at = self.b.len();
        s
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], RpcError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.b.len());
        let end = end.ok_or(RpcError::Truncated(what))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    /// Skips the padding to a multiple of `n` (its bytes are not read:
    /// clients fill it with anything).
    pub fn align(&mut self, n: usize) -> Result<(), RpcError> {
        let pad = (n - self.at % n) % n;
        self.take(pad, "alignment padding").map(|_| ())
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16, RpcError> {
        self.align(2)?;
        let s = self.take(2, what)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, RpcError> {
        self.align(4)?;
        let s = self.take(4, what)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], RpcError> {
        self.take(n, what)
    }

    /// A unique pointer's referent ID: `false` for NULL.
    pub fn pointer(&mut self, what: &'static str) -> Result<bool, RpcError> {
        Ok(self.u32(what)? != 0)
    }

    /// A conformant byte array's count and bytes (the pointee of a
    /// `[size_is(n)] BYTE*`).
    pub fn conformant_bytes(&mut self, what: &'static str) -> Result<&'a [u8], RpcError> {
        let n = self.u32(what)? as usize;
        self.take(n, what)
    }

    /// A `[string] wchar_t*` pointee: maximum count, offset, actual count,
    /// then the UTF-16LE units. The terminating NUL is dropped.
    pub fn wide_string(&mut self, what: &'static str) -> Result<String, RpcError> {
        let max = self.u32(what)?;
        let offset = self.u32(what)?;
        let actual = self.u32(what)?;
        if offset != 0 || actual > max {
            return Err(RpcError::Malformed(what));
        }
        let n = (actual as usize)
            .checked_mul(2)
            .ok_or(RpcError::Malformed(what))?;
        Ok(utf16_text(self.take(n, what)?))
    }

    /// Bytes left after the reader's position.
    pub fn remaining(&self) -> usize {
        self.b.len() - self.at
    }
}

/// UTF-16LE to text, up to the first NUL.
pub fn utf16_text(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|u| *u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

/// Text as NUL-terminated UTF-16LE.
pub fn utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain(std::iter::once(0))
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// An NDR writer; referent IDs count up from 0x00020000 as MIDL's do.
#[derive(Default)]
pub struct Writer {
    out: Vec<u8>,
    next_referent: u32,
}

impl Writer {
    pub fn new() -> Writer {
        Writer {
            out: Vec::new(),
            next_referent: 0x0002_0000,
        }
    }

    pub fn align(&mut self, n: usize) {
        while self.out.len() % n != 0 {
            self.out.push(0);
        }
    }

    pub fn u16(&mut self, v: u16) {
        self.align(2);
        self.out.extend(v.to_le_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.align(4);
        self.out.extend(v.to_le_bytes());
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.out.extend(b);
    }

    /// A unique pointer: a fresh referent ID, or 0 for NULL.
    pub fn pointer(&mut self, present: bool) {
        let id = if present {
            self.next_referent += 4;
            self.next_referent
        } else {
            0
        };
        self.u32(id);
    }

    pub fn conformant_bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.out.extend(b);
    }

    /// A `[string] wchar_t*` pointee (NUL-terminated).
    pub fn wide_string(&mut self, s: &str) {
        let units = utf16z(s);
        let n = (units.len() / 2) as u32;
        self.u32(n);
        self.u32(0);
        self.u32(n);
        self.out.extend(units);
    }

    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}
