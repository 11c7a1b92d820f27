//! Windows security identifiers, GUIDs and self-relative security
//! descriptors in the binary form Active Directory stores in
//! nTSecurityDescriptor (MS-DTYP 2.4), built and read by both ends: the
//! directory writes a template's owner and DACL, tools such as Certipy
//! read them and write them back.

use std::fmt;

/// Why bytes or text are not a SID, GUID or security descriptor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SdError(String);

fn bad<T>(why: impl Into<String>) -> Result<T, SdError> {
    Err(SdError(why.into()))
}

/// A security identifier.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid {
    pub authority: u64,
    pub sub: Vec<u32>,
}

impl Sid {
    /// Reads `S-1-5-21-…` as ConvertStringSidToSid does.
    pub fn parse(text: &str) -> Result<Sid, SdError> {
        let Some(rest) = text.trim().strip_prefix("S-1-") else {
            return bad(format!("`{text}` is not a SID (it must start with S-1-)"));
        };
        let mut parts = rest.split('-');
        let authority = parts
            .next()
            .and_then(|a| a.parse::<u64>().ok())
            .filter(|a| *a < 1 << 48);
        let sub: Option<Vec<u32>> = parts.map(|p| p.parse().ok()).collect();
        match (authority, sub) {
            (Some(authority), Some(sub)) if sub.len() <= 15 => Ok(Sid { authority, sub }),
            _ => bad(format!("`{text}` is not a SID")),
        }
    }

    /// The binary form (revision 1).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![1, self.sub.len() as u8];
        out.extend_from_slice(&self.authority.to_be_bytes()[2..]);
        for s in &self.sub {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }

    /// Reads a binary SID at the start of `bytes`; returns it and its length.
    pub fn read(bytes: &[u8]) -> Result<(Sid, usize), SdError> {
        let (Some(&1), Some(&count)) = (bytes.first(), bytes.get(1)) else {
            return bad("not a revision-1 SID");
        };
        let len = 8 + 4 * usize::from(count);
        if count > 15 || bytes.len() < len {
            return bad("a SID that runs past its buffer");
        }
        let authority = bytes[2..8]
            .iter()
            .fold(0u64, |a, b| (a << 8) | u64::from(*b));
        let sub = bytes[8..len]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok((Sid { authority, sub }, len))
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S-1-{}", self.authority)?;
        for s in &self.sub {
            write!(f, "-{s}")?;
        }
        Ok(())
    }
}

/// A GUID in AD's binary layout: the first three fields little-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// Reads `0e10c968-78fb-11d2-90d4-00c04f79dc55` (braces allowed).
    pub fn parse(text: &str) -> Result<Guid, SdError> {
        let hex: String = text
            .trim_matches(|c| c == '{' || c == '}')
            .chars()
            .filter(|c| *c != '-')
            .collect();
        let Some(b) = crate::hex::unhex(&hex).filter(|b| b.len() == 16) else {
            return bad(format!("`{text}` is not a GUID"));
        };
        let mut g = [0u8; 16];
        g[..4].copy_from_slice(&[b[3], b[2], b[1], b[0]]);
        g[4..6].copy_from_slice(&[b[5], b[4]]);
        g[6..8].copy_from_slice(&[b[7], b[6]]);
        g[8..].copy_from_slice(&b[8..]);
        Ok(Guid(g))
    }

    /// A GUID from 16 seeded bytes, marked as a random (version 4) one.
    pub fn from_random(mut bytes: [u8; 16]) -> Guid {
        bytes[7] = (bytes[7] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Guid(bytes)
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.0;
        let d1 = u32::from_le_bytes([g[0], g[1], g[2], g[3]]);
        let d2 = u16::from_le_bytes([g[4], g[5]]);
        let d3 = u16::from_le_bytes([g[6], g[7]]);
        write!(f, "{d1:08x}-{d2:04x}-{d3:04x}-{:02x}{:02x}-", g[8], g[9])?;
        g[10..].iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Access masks as AD stores them (generic rights mapped).
pub mod rights {
    /// ADS_RIGHT_DS_CONTROL_ACCESS: an extended right (Enroll, AutoEnroll).
    pub const CONTROL_ACCESS: u32 = 0x0000_0100;
    pub const READ_PROPERTY: u32 = 0x0000_0010;
    pub const WRITE_PROPERTY: u32 = 0x0000_0020;
    pub const LIST_CHILDREN: u32 = 0x0000_0004;
    pub const LIST_OBJECT: u32 = 0x0000_0080;
    pub const READ_CONTROL: u32 = 0x0002_0000;
    pub const WRITE_DACL: u32 = 0x0004_0000;
    pub const WRITE_OWNER: u32 = 0x0008_0000;
    /// Full control (GENERIC_ALL as AD maps it).
    pub const FULL_CONTROL: u32 = 0x000f_01ff;
    /// GENERIC_READ as AD maps it: read control, list, read properties.
    pub const GENERIC_READ: u32 = 0x0002_0094;
    /// Read and write, as "Read" plus "Write" in the template's Security tab.
    pub const READ_WRITE: u32 = GENERIC_READ | WRITE_PROPERTY | 0x0000_0008;
}

/// The extended rights of certificate templates (MS-CRTD 2.1).
pub mod extended_right {
    pub const ENROLL: &str = "0e10c968-78fb-11d2-90d4-00c04f79dc55";
    pub const AUTO_ENROLL: &str = "a05b8cc2-17bc-4802-a710-e7c15ab866a2";
}

/// One access-allowed ACE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ace {
    /// ACE flags (inheritance; 0x10 INHERITED_ACE).
    pub flags: u8,
    pub mask: u32,
    pub sid: Sid,
    /// Set: an ACCESS_ALLOWED_OBJECT_ACE for this right or property.
    pub object_type: Option<Guid>,
}

const ACCESS_ALLOWED: u8 = 0x00;
const ACCESS_ALLOWED_OBJECT: u8 = 0x05;
const ACE_OBJECT_TYPE_PRESENT: u32 = 0x1;
const ACE_INHERITED_OBJECT_TYPE_PRESENT: u32 = 0x2;

impl Ace {
    pub fn allow(sid: Sid, mask: u32) -> Ace {
        Ace {
            flags: 0,
            mask,
            sid,
            object_type: None,
        }
    }

    /// An extended right (`extended_right::ENROLL`, …) for `sid`.
    pub fn allow_right(sid: Sid, right: &str) -> Ace {
        Ace {
            object_type: Some(Guid::parse(right).expect("a known right's GUID")),
            ..Ace::allow(sid, rights::CONTROL_ACCESS)
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        let sid = self.sid.to_bytes();
        let body_len = 4 + self.object_type.map_or(0, |_| 4 + 16) + sid.len();
        let kind = if self.object_type.is_some() {
            ACCESS_ALLOWED_OBJECT
        } else {
            ACCESS_ALLOWED
        };
        out.extend_from_slice(&[kind, self.flags]);
        out.extend_from_slice(&((4 + body_len) as u16).to_le_bytes());
        out.extend_from_slice(&self.mask.to_le_bytes());
        if let Some(g) = self.object_type {
            out.extend_from_slice(&ACE_OBJECT_TYPE_PRESENT.to_le_bytes());
            out.extend_from_slice(&g.0);
        }
        out.extend_from_slice(&sid);
    }

    /// Reads one ACE; `None` for a kind this model does not hold (deny,
    /// audit, callback ACEs), which the caller keeps as raw bytes.
    fn read(ace: &[u8]) -> Result<Option<Ace>, SdError> {
        let field = |at: usize| -> Result<u32, SdError> {
            match ace.get(at..at + 4) {
                Some(b) => Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                None => bad("an ACE shorter than its fields"),
            }
        };
        let (kind, flags, mask) = (ace[0], ace[1], field(4)?);
        let (object_type, sid_at) = match kind {
            ACCESS_ALLOWED => (None, 8),
            ACCESS_ALLOWED_OBJECT => {
                let present = field(8)?;
                let mut at = 12;
                let object_type = if present & ACE_OBJECT_TYPE_PRESENT != 0 {
                    let g = ace
                        .get(at..at + 16)
                        .ok_or(SdError("a short object ACE".into()))?;
                    at += 16;
                    Some(Guid(g.try_into().expect("16 bytes")))
                } else {
                    None
                };
                if present & ACE_INHERITED_OBJECT_TYPE_PRESENT != 0 {
                    at += 16;
                }
                (object_type, at)
            }
            _ => return Ok(None),
        };
        let (sid, _) = Sid::read(ace.get(sid_at..).unwrap_or_default())?;
        Ok(Some(Ace {
            flags,
            mask,
            sid,
            object_type,
        }))
    }
}

/// The parts of a descriptor, as the SD-flags control names them.
pub mod part {
    pub const OWNER: u32 = 1;
    pub const GROUP: u32 = 2;
    pub const DACL: u32 = 4;
    pub const SACL: u32 = 8;
}

const SE_DACL_PRESENT: u16 = 0x0004;
const SE_DACL_AUTO_INHERITED: u16 = 0x0400;
const SE_SELF_RELATIVE: u16 = 0x8000;
const ACL_REVISION: u8 = 2;
const ACL_REVISION_DS: u8 = 4;

/// A security descriptor: owner, group and DACL (AD's templates carry no
/// SACL a client may read).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SecurityDescriptor {
    pub owner: Option<Sid>,
    pub group: Option<Sid>,
    pub dacl: Option<Vec<Ace>>,
}

impl SecurityDescriptor {
    /// Only the parts `parts` ([`part`]) names, as AD answers a search
    /// with the SD-flags control.
    pub fn only(&self, parts: u32) -> SecurityDescriptor {
        SecurityDescriptor {
            owner: self.owner.clone().filter(|_| parts & part::OWNER != 0),
            group: self.group.clone().filter(|_| parts & part::GROUP != 0),
            dacl: self.dacl.clone().filter(|_| parts & part::DACL != 0),
        }
    }

    /// The self-relative form, laid out as Windows lays it out (DACL, then
    /// owner, then group).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = Vec::new();
        let offset = |part: Option<Vec<u8>>, body: &mut Vec<u8>| match part {
            Some(p) => {
                let at = 20 + body.len() as u32;
                body.extend_from_slice(&p);
                at
            }
            None => 0,
        };
        let dacl = offset(self.dacl.as_deref().map(acl_bytes), &mut body);
        let owner = offset(self.owner.as_ref().map(Sid::to_bytes), &mut body);
        let group = offset(self.group.as_ref().map(Sid::to_bytes), &mut body);
        let mut control = SE_SELF_RELATIVE;
        if self.dacl.is_some() {
            control |= SE_DACL_PRESENT | SE_DACL_AUTO_INHERITED;
        }
        let mut out = vec![1, 0];
        out.extend_from_slice(&control.to_le_bytes());
        for o in [owner, group, 0, dacl] {
            out.extend_from_slice(&o.to_le_bytes());
        }
        out.extend_from_slice(&body);
        out
    }

    /// Reads a self-relative descriptor. ACEs other than access-allowed
    /// ones are refused: a DACL that cannot be kept whole is not taken.
    pub fn parse(bytes: &[u8]) -> Result<SecurityDescriptor, SdError> {
        if bytes.len() < 20 || bytes[0] != 1 {
            return bad("not a revision-1 security descriptor");
        }
        let control = u16::from_le_bytes([bytes[2], bytes[3]]);
        if control & SE_SELF_RELATIVE == 0 {
            return bad("not a self-relative security descriptor");
        }
        let at =
            |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes")) as usize;
        let sid_at = |o: usize| -> Result<Option<Sid>, SdError> {
            if o == 0 {
                return Ok(None);
            }
            let tail = bytes
                .get(o..)
                .ok_or(SdError("an offset past the end".into()))?;
            Sid::read(tail).map(|(s, _)| Some(s))
        };
        let dacl = match at(16) {
            o if o != 0 && control & SE_DACL_PRESENT != 0 => Some(read_acl(
                bytes
                    .get(o..)
                    .ok_or(SdError("a DACL past the end".into()))?,
            )?),
            _ => None,
        };
        Ok(SecurityDescriptor {
            owner: sid_at(at(4))?,
            group: sid_at(at(8))?,
            dacl,
        })
    }
}

fn acl_bytes(aces: &[Ace]) -> Vec<u8> {
    let mut body = Vec::new();
    for a in aces {
        a.write(&mut body);
    }
    let revision = if aces.iter().any(|a| a.object_type.is_some()) {
        ACL_REVISION_DS
    } else {
        ACL_REVISION
    };
    let mut out = vec![revision, 0];
    out.extend_from_slice(&((8 + body.len()) as u16).to_le_bytes());
    out.extend_from_slice(&(aces.len() as u16).to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&body);
    out
}

fn read_acl(bytes: &[u8]) -> Result<Vec<Ace>, SdError> {
    if bytes.len() < 8 {
        return bad("a short ACL");
    }
    let size = usize::from(u16::from_le_bytes([bytes[2], bytes[3]]));
    let count = usize::from(u16::from_le_bytes([bytes[4], bytes[5]]));
    let acl = bytes
        .get(..size)
        .ok_or(SdError("an ACL past the end".into()))?;
    let mut at = 8;
    let mut aces = Vec::with_capacity(count.min(256));
    for _ in 0..count {
        let head = acl
            .get(at..at + 4)
            .ok_or(SdError("an ACE past the ACL".into()))?;
        let len = usize::from(u16::from_le_bytes([head[2], head[3]]));
        let ace = acl
            .get(at..at + len)
            .filter(|_| len >= 8)
            .ok_or(SdError("an ACE past the ACL".into()))?;
        match Ace::read(ace)? {
            Some(a) => aces.push(a),
            None => return bad(format!("ACE type {} is not supported here", ace[0])),
        }
        at += len;
    }
    Ok(aces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_read_and_write_both_forms() {
        let s = Sid::parse("S-1-5-21-1004336348-1177238915-682003330-512").unwrap();
        assert_eq!(
            s.to_string(),
            "S-1-5-21-1004336348-1177238915-682003330-512"
        );
        let b = s.to_bytes();
        assert_eq!(&b[..8], &[1, 5, 0, 0, 0, 0, 0, 5]);
        assert_eq!(Sid::read(&b).unwrap(), (s, 28));
        assert_eq!(Sid::parse("S-1-5-11").unwrap().to_bytes().len(), 12);
        for bad in ["S-1-5-x", "5-21", "S-1-281474976710656-1", ""] {
            assert!(Sid::parse(bad).is_err(), "{bad}");
        }
        assert!(Sid::read(&[1, 5, 0, 0]).is_err());
    }

    #[test]
    fn guids_use_ads_mixed_endian_layout() {
        let g = Guid::parse(extended_right::ENROLL).unwrap();
        assert_eq!(
            g.0,
            [
                0x68, 0xc9, 0x10, 0x0e, 0xfb, 0x78, 0xd2, 0x11, 0x90, 0xd4, 0x00, 0xc0, 0x4f, 0x79,
                0xdc, 0x55
            ]
        );
        assert_eq!(g.to_string(), extended_right::ENROLL);
        assert!(Guid::parse("not-a-guid").is_err());
    }

    #[test]
    fn descriptors_round_trip_and_keep_only_asked_parts() {
        let admins = Sid::parse("S-1-5-21-1-2-3-512").unwrap();
        let users = Sid::parse("S-1-5-21-1-2-3-513").unwrap();
        let sd = SecurityDescriptor {
            owner: Some(admins.clone()),
            group: Some(admins.clone()),
            dacl: Some(vec![
                Ace::allow(admins.clone(), rights::FULL_CONTROL),
                Ace::allow_right(users.clone(), extended_right::ENROLL),
                Ace::allow(users, rights::GENERIC_READ),
            ]),
        };
        let bytes = sd.to_bytes();
        assert_eq!(SecurityDescriptor::parse(&bytes).unwrap(), sd);
        let owner_dacl = sd.only(part::OWNER | part::DACL);
        let parsed = SecurityDescriptor::parse(&owner_dacl.to_bytes()).unwrap();
        assert_eq!(parsed.owner, Some(admins));
        assert!(parsed.group.is_none());
        assert_eq!(parsed.dacl.map(|d| d.len()), Some(3));
        let no_dacl = SecurityDescriptor::parse(&sd.only(part::OWNER).to_bytes()).unwrap();
        assert!(no_dacl.dacl.is_none());
    }

    #[test]
    fn broken_descriptors_are_errors() {
        let sd = SecurityDescriptor {
            owner: Some(Sid::parse("S-1-5-11").unwrap()),
            group: None,
            dacl: Some(vec![Ace::allow(Sid::parse("S-1-1-0").unwrap(), 1)]),
        }
        .to_bytes();
        for cut in 0..sd.len() {
            let _ = SecurityDescriptor::parse(&sd[..cut]);
        }
        assert!(SecurityDescriptor::parse(&sd[..10]).is_err());
        let mut deny = sd.clone();
        let ace_at = 20 + 8;
        deny[ace_at] = 0x01;
        assert!(SecurityDescriptor::parse(&deny).is_err());
    }
}
