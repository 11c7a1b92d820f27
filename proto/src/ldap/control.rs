//! The request and response controls AD clients send: simple paged
//! results (RFC 2696) and AD's security-descriptor flags, plus the OIDs AD
//! lists as supported in its rootDSE.

use rasn::prelude::*;

use super::{malformed, LdapError};

/// One control as sent: its OID, criticality and raw value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    pub oid: String,
    pub critical: bool,
    pub value: Option<Vec<u8>>,
}

/// LDAP_PAGED_RESULT_OID_STRING.
pub const PAGED_RESULTS: &str = "1.2.840.113556.1.4.319";
/// LDAP_SERVER_SD_FLAGS_OID.
pub const SD_FLAGS: &str = "1.2.840.113556.1.4.801";

/// The controls AD's rootDSE lists in supportedControl (Windows Server
/// 2016 and later). A critical control outside this list is refused with
/// unavailableCriticalExtension, as AD refuses it.
pub const SUPPORTED: &[&str] = &[
    PAGED_RESULTS,
    "1.2.840.113556.1.4.801",
    "1.2.840.113556.1.4.473",
    "1.2.840.113556.1.4.528",
    "1.2.840.113556.1.4.417",
    "1.2.840.113556.1.4.619",
    "1.2.840.113556.1.4.841",
    "1.2.840.113556.1.4.529",
    "1.2.840.113556.1.4.805",
    "1.2.840.113556.1.4.521",
    "1.2.840.113556.1.4.970",
    "1.2.840.113556.1.4.1338",
    "1.2.840.113556.1.4.474",
    "1.2.840.113556.1.4.1339",
    "1.2.840.113556.1.4.1340",
    "1.2.840.113556.1.4.1413",
    "2.16.840.1.113730.3.4.9",
    "2.16.840.1.113730.3.4.10",
    "1.2.840.113556.1.4.1504",
    "1.2.840.113556.1.4.1852",
    "1.2.840.113556.1.4.802",
    "1.2.840.113556.1.4.1907",
    "1.2.840.113556.1.4.1948",
    "1.2.840.113556.1.4.1974",
    "1.2.840.113556.1.4.1341",
    "1.2.840.113556.1.4.2026",
    "1.2.840.113556.1.4.2064",
    "1.2.840.113556.1.4.2065",
    "1.2.840.113556.1.4.2066",
    "1.2.840.113556.1.4.2090",
    "1.2.840.113556.1.4.2205",
    "1.2.840.113556.1.4.2204",
    "1.2.840.113556.1.4.2206",
    "1.2.840.113556.1.4.2211",
    "1.2.840.113556.1.4.2239",
    "1.2.840.113556.1.4.2255",
    "1.2.840.113556.1.4.2256",
    "1.2.840.113556.1.4.2309",
];

#[derive(AsnType, Encode, Decode)]
struct PagedValue {
    size: u32,
    cookie: OctetString,
}

#[derive(AsnType, Encode, Decode)]
struct SdFlagsValue {
    flags: u32,
}

/// The paged-results control: the page size asked for (requests) or the
/// size estimate (responses), and the cookie: empty on the first request
/// and on the last page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paged {
    pub size: u32,
    pub cookie: Vec<u8>,
}

impl Paged {
    pub fn parse(value: &[u8]) -> Result<Paged, LdapError> {
        let v: PagedValue = rasn::ber::decode(value).map_err(malformed)?;
        Ok(Paged {
            size: v.size,
            cookie: v.cookie.to_vec(),
        })
    }

    pub fn control(&self, critical: bool) -> Control {
        let v = PagedValue {
            size: self.size,
            cookie: self.cookie.clone().into(),
        };
        Control {
            oid: PAGED_RESULTS.into(),
            critical,
            value: Some(rasn::ber::encode(&v).expect("a paged-results value encodes")),
        }
    }
}

/// The parts of nTSecurityDescriptor a search asks for
/// (OWNER 1, GROUP 2, DACL 4, SACL 8); without the control AD returns all
/// four to those allowed to read the SACL.
pub fn sd_flags(value: &[u8]) -> Result<u32, LdapError> {
    let v: SdFlagsValue = rasn::ber::decode(value).map_err(malformed)?;
    Ok(v.flags)
}

/// The SD-flags control with `flags`.
pub fn sd_flags_control(flags: u32, critical: bool) -> Control {
    Control {
        oid: SD_FLAGS.into(),
        critical,
        value: Some(rasn::ber::encode(&SdFlagsValue { flags }).expect("an SD flags value encodes")),
    }
}

/// The first control with this OID.
pub fn find<'a>(controls: &'a [Control], oid: &str) -> Option<&'a Control> {
    controls.iter().find(|c| c.oid == oid)
}
