//! The request database: one row per submission, one ID sequence for every
//! disposition, O(1) lookup by request ID and by serial.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use adcs_proto::clock::UnixTime;
use adcs_proto::protocol::{Disposition, HResult};

pub mod disk;
mod memory;

/// Who submitted a request, as the CA's directory knows them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Requester {
    /// `DOMAIN\name`.
    pub account: String,
    pub groups: Vec<String>,
    pub upn: Option<String>,
    pub email: Option<String>,
    /// For computer accounts: the DNS host name.
    pub dns_name: Option<String>,
    /// The account's objectSid (`S-1-5-21-…`) as the directory knows it.
    /// When absent (a requester made in code), the CA derives it from its
    /// seed and the account name by [`sid::of`], as the directory does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// Whether a list of accounts and groups names `account` or one of its
/// `groups`. A name without `DOMAIN\\` on either side matches the same name
/// in any domain (the CA knows one); `Authenticated Users` and `Everyone`
/// name every account.
pub fn named(principals: &[String], account: &str, groups: &[String]) -> bool {
    let implicit = ["Authenticated Users", "Everyone"];
    let same = |a: &str, b: &str| match (a.split_once('\\'), b.split_once('\\')) {
        (Some(_), Some(_)) => a.eq_ignore_ascii_case(b),
        (Some((_, short)), None) => short.eq_ignore_ascii_case(b),
        (None, Some((_, short))) => a.eq_ignore_ascii_case(short),
        (None, None) => a.eq_ignore_ascii_case(b),
    };
    principals.iter().any(|p| {
        same(p, account)
            || groups.iter().any(|g| same(g, p))
            || implicit.iter().any(|i| i.eq_ignore_ascii_case(p))
    })
}

impl Requester {
    /// A requester with just an account name.
    pub fn new(account: &str) -> Self {
        Requester {
            account: account.to_string(),
            ..Default::default()
        }
    }

    /// Adds a group membership.
    pub fn with_group(mut self, group: &str) -> Self {
        self.groups.push(group.to_string());
        self
    }

    /// The part after `DOMAIN\`.
    pub fn short_name(&self) -> &str {
        self.account.rsplit('\\').next().unwrap_or(&self.account)
    }
}

/// Security identifiers (objectSid) of the directory's accounts and groups.
///
/// The domain SID is `S-1-5-21-X-Y-Z`, its three sub-authorities the first
/// twelve bytes of `seed.derive("sid/domain")` (little-endian `u32`s). A
/// name with a well-known RID gets it (Administrator 500, Guest 501, krbtgt
/// 502, Domain Admins 512, Domain Users 513, Domain Guests 514, Domain
/// Computers 515, Domain Controllers 516, Cert Publishers 517, Schema Admins
/// 518, Enterprise Admins 519, Group Policy Creator Owners 520); any other
/// account or group gets `1100 + n mod 1 000 000`, `n` from
/// `seed.derive("sid/rid/<lowercase name>")`. The RID thus depends on the
/// seed and the name only, not on the order of the configured accounts, so
/// the CA engine (which sees just `DOMAIN\name`) and the directory agree.
/// Two names may in principle share a derived RID (about one chance in
/// 2 000 000 per pair); a `sid` in the configuration settles such a case.
/// Everyone (`S-1-1-0`) and Authenticated Users (`S-1-5-11`) keep their
/// fixed SIDs outside the domain.
pub mod sid {
    use adcs_proto::seed::Seed;

    /// Domain-relative IDs Windows gives its built-in accounts and groups.
    pub const WELL_KNOWN_RIDS: [(&str, u32); 12] = [
        ("Administrator", 500),
        ("Guest", 501),
        ("krbtgt", 502),
        ("Domain Admins", 512),
        ("Domain Users", 513),
        ("Domain Guests", 514),
        ("Domain Computers", 515),
        ("Domain Controllers", 516),
        ("Cert Publishers", 517),
        ("Schema Admins", 518),
        ("Enterprise Admins", 519),
        ("Group Policy Creator Owners", 520),
    ];

    /// The first RID of accounts and groups without a well-known one.
    pub const FIRST_RID: u32 = 1100;

    /// The domain's SID, `S-1-5-21-X-Y-Z`.
    pub fn domain(seed: &Seed) -> String {
        let d = seed.derive("sid/domain");
        let sub = |i: usize| u32::from_le_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
        format!("S-1-5-21-{}-{}-{}", sub(0), sub(4), sub(8))
    }

    /// The RID of an account or group (`DOMAIN\name` or `name`).
    pub fn rid(seed: &Seed, name: &str) -> u32 {
        let short = name.rsplit('\\').next().unwrap_or(name).trim();
        if let Some((_, r)) = WELL_KNOWN_RIDS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(short))
        {
            return *r;
        }
        let d = seed.derive(&format!("sid/rid/{}", short.to_lowercase()));
        FIRST_RID + u32::from_le_bytes([d[0], d[1], d[2], d[3]]) % 1_000_000
    }

    /// The SID of an account or group (`DOMAIN\name` or `name`).
    pub fn of(seed: &Seed, name: &str) -> String {
        let short = name.rsplit('\\').next().unwrap_or(name).trim();
        if short.eq_ignore_ascii_case("Everyone") {
            return "S-1-1-0".into();
        }
        if short.eq_ignore_ascii_case("Authenticated Users") {
            return "S-1-5-11".into();
        }
        format!("{}-{}", domain(seed), rid(seed, name))
    }

    /// Checks the text form of a SID: `S-1-<authority>-<sub>…` with one to
    /// fifteen sub-authorities, each a decimal `u32` (the authority below
    /// 2^48), as ConvertStringSidToSid reads it.
    pub fn validate(text: &str) -> Result<(), String> {
        let bad = |why: &str| Err(format!("`{text}` is not a SID ({why})"));
        let Some(rest) = text.strip_prefix("S-1-") else {
            return bad("it must start with S-1-");
        };
        let parts: Vec<&str> = rest.split('-').collect();
        let decimal = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !parts.iter().all(|p| decimal(p)) {
            return bad("its parts must be decimal numbers");
        }
        if parts[0].parse::<u64>().map_or(true, |a| a >= 1 << 48) {
            return bad("the identifier authority is above 2^48");
        }
        if !(2..=16).contains(&parts.len()) {
            return bad("it needs one to fifteen sub-authorities");
        }
        if parts[1..].iter().any(|p| p.parse::<u32>().is_err()) {
            return bad("a sub-authority is above 2^32");
        }
        Ok(())
    }
}

/// RFC 5280 CRLReason values that AD CS offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
}

impl RevocationReason {
    /// The name in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "key_compromise",
            RevocationReason::CaCompromise => "ca_compromise",
            RevocationReason::AffiliationChanged => "affiliation_changed",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessation_of_operation",
            RevocationReason::CertificateHold => "certificate_hold",
        }
    }

    /// The CRLReason code.
    pub fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::CaCompromise => 2,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
            RevocationReason::CertificateHold => 6,
        }
    }
}

impl std::str::FromStr for RevocationReason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let k = s.to_ascii_lowercase().replace(['-', ' '], "_");
        Ok(match k.as_str() {
            "0" | "unspecified" => RevocationReason::Unspecified,
            "1" | "key_compromise" | "keycompromise" => RevocationReason::KeyCompromise,
            "2" | "ca_compromise" | "cacompromise" => RevocationReason::CaCompromise,
            "3" | "affiliation_changed" | "affiliationchanged" => {
                RevocationReason::AffiliationChanged
            }
            "4" | "superseded" => RevocationReason::Superseded,
            "5" | "cessation_of_operation" | "cessationofoperation" => {
                RevocationReason::CessationOfOperation
            }
            "6" | "certificate_hold" | "certificatehold" | "hold" => {
                RevocationReason::CertificateHold
            }
            _ => return Err(format!("unknown revocation reason `{s}`")),
        })
    }
}

/// A revocation of an issued certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub reason: RevocationReason,
    pub revoked_at: UnixTime,
}

/// One request and what became of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRow {
    pub id: u32,
    /// The bytes as submitted (the parsed DER when they could be decoded).
    #[serde(with = "b64")]
    pub request: Vec<u8>,
    pub requester: Requester,
    /// CertAttrib name/value pairs as submitted.
    pub attributes: Vec<(String, String)>,
    pub template: Option<String>,
    pub disposition: Disposition,
    pub disposition_message: String,
    pub status: HResult,
    pub submitted_at: UnixTime,
    pub resolved_at: Option<UnixTime>,
    #[serde(with = "b64_opt", default)]
    pub certificate: Option<Vec<u8>>,
    /// Lowercase hex, no separators.
    pub serial: Option<String>,
    pub ca_cert_index: Option<u16>,
    pub ca_key_index: Option<u16>,
    pub subject: Option<String>,
    pub not_before: Option<UnixTime>,
    pub not_after: Option<UnixTime>,
    pub revocation: Option<Revocation>,
    /// When a certificate hold was lifted (a delta CRL says removeFromCRL until the next base).
    pub hold_released_at: Option<UnixTime>,
    /// The enrollment agent who signed the request on the requester's
    /// behalf (the account that sent it), when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

/// Base64 (de)serialisation for byte fields of the state file.
pub(crate) mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

mod b64_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => super::b64::serialize(b, s),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        use base64::Engine;
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

/// The request table: in memory (no state directory: the default and
/// fastest), or SQLite in a state directory ([`disk`]). Reads hand out
/// owned rows either way, so callers never hold the table.
#[derive(Debug)]
pub struct Database {
    rows: Rows,
    next_id: u32,
}

#[derive(Debug)]
enum Rows {
    Memory(memory::MemoryRows),
    Disk(Box<disk::DiskRows>),
}

impl Default for Database {
    fn default() -> Self {
        Self::new()
    }
}

impl Database {
    /// An empty in-memory table whose first request gets ID 1.
    pub fn new() -> Self {
        Database {
            rows: Rows::Memory(memory::MemoryRows::default()),
            next_id: 1,
        }
    }

    /// The table of a state directory's database file.
    pub fn on_disk(rows: disk::DiskRows) -> Self {
        Database {
            next_id: rows.max_id() + 1,
            rows: Rows::Disk(Box::new(rows)),
        }
    }

    /// The file behind the table, when it has one.
    pub fn disk(&mut self) -> Option<&mut disk::DiskRows> {
        match &mut self.rows {
            Rows::Memory(_) => None,
            Rows::Disk(d) => Some(d),
        }
    }

    /// Reserves the next request ID.
    pub fn allocate_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Inserts or replaces a row (IDs past the sequence move it on). On a
    /// disk table the row is durable when this returns; a failed write
    /// leaves the table as it was.
    pub fn put(&mut self, row: RequestRow) -> Result<(), StateError> {
        let id = row.id;
        match &mut self.rows {
            Rows::Memory(m) => m.put(row),
            Rows::Disk(d) => d.put(&row)?,
        }
        self.next_id = self.next_id.max(id + 1);
        Ok(())
    }

    pub fn get(&self, id: u32) -> Result<Option<RequestRow>, StateError> {
        match &self.rows {
            Rows::Memory(m) => Ok(m.get(id).cloned()),
            Rows::Disk(d) => d.get(id),
        }
    }

    /// The row whose certificate has this serial (hex, any case, separators ignored).
    pub fn by_serial(&self, serial: &str) -> Result<Option<RequestRow>, StateError> {
        match &self.rows {
            Rows::Memory(m) => Ok(m.by_serial(serial).cloned()),
            Rows::Disk(d) => d.by_serial(&normalize_serial(serial)),
        }
    }

    /// The rows `q` selects.
    pub fn query(&self, q: &RowQuery) -> Result<Vec<RequestRow>, StateError> {
        match &self.rows {
            Rows::Memory(m) => Ok(m.query(q)),
            Rows::Disk(d) => d.query(q),
        }
    }

    /// How many rows `q` selects, whatever its paging.
    pub fn count(&self, q: &RowQuery) -> Result<usize, StateError> {
        match &self.rows {
            Rows::Memory(m) => Ok(m.count(q)),
            Rows::Disk(d) => d.count(q),
        }
    }

    /// Rows of CA key `key_index` a CRL may name.
    pub fn crl_candidates(&self, key_index: u16) -> Result<Vec<CrlCandidate>, StateError> {
        match &self.rows {
            Rows::Memory(m) => Ok(m.crl_candidates(key_index)),
            Rows::Disk(d) => d.crl_candidates(key_index),
        }
    }

    /// The ID the next submission will get.
    pub fn next_id(&self) -> u32 {
        self.next_id
    }

    /// Empties the table; the next request gets ID 1 again.
    pub fn clear(&mut self) -> Result<(), StateError> {
        match &mut self.rows {
            Rows::Memory(m) => *m = memory::MemoryRows::default(),
            Rows::Disk(d) => d.clear()?,
        }
        self.next_id = 1;
        Ok(())
    }
}

/// Which rows to list: every field narrows, `after`/`before` page by ID.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowQuery {
    /// Any of these dispositions (none: all).
    pub dispositions: Vec<Disposition>,
    /// The requester's `DOMAIN\name` (case ignored).
    pub requester: Option<String>,
    /// The template's name (case ignored).
    pub template: Option<String>,
    /// Submitted at or after.
    pub submitted_since: Option<UnixTime>,
    /// Submitted before.
    pub submitted_until: Option<UnixTime>,
    /// Only IDs above.
    pub after: Option<u32>,
    /// Only IDs below.
    pub before: Option<u32>,
    /// Highest ID first (else lowest first).
    pub newest_first: bool,
    pub limit: Option<usize>,
}

impl RowQuery {
    /// Every row, or every row of one disposition.
    pub fn disposition(d: Option<Disposition>) -> Self {
        RowQuery {
            dispositions: d.into_iter().collect(),
            ..RowQuery::default()
        }
    }

    /// Whether `r` passes the filters (paging aside).
    pub fn matches(&self, r: &RequestRow) -> bool {
        let same = |want: &Option<String>, have: Option<&str>| {
            want.as_deref()
                .is_none_or(|w| have.is_some_and(|h| h.eq_ignore_ascii_case(w)))
        };
        (self.dispositions.is_empty() || self.dispositions.contains(&r.disposition))
            && same(&self.requester, Some(&r.requester.account))
            && same(&self.template, r.template.as_deref())
            && self.submitted_since.is_none_or(|t| r.submitted_at >= t)
            && self.submitted_until.is_none_or(|t| r.submitted_at < t)
    }
}

/// What a CRL needs of a row that was revoked or released from hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlCandidate {
    /// Lowercase hex.
    pub serial: String,
    pub not_after: Option<UnixTime>,
    pub revocation: Option<Revocation>,
    pub hold_released_at: Option<UnixTime>,
}

impl CrlCandidate {
    fn of(r: &RequestRow) -> Option<CrlCandidate> {
        if r.revocation.is_none() && r.hold_released_at.is_none() {
            return None;
        }
        Some(CrlCandidate {
            serial: r.serial.clone()?,
            not_after: r.not_after,
            revocation: r.revocation.clone(),
            hold_released_at: r.hold_released_at,
        })
    }
}

/// A published CRL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrlRecord {
    pub key_index: u16,
    pub delta: bool,
    pub number: u64,
    pub this_update: UnixTime,
    #[serde(with = "b64")]
    pub der: Vec<u8>,
}

/// Why the state directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

/// Lowercase hex without spaces or colons, leading zero bytes dropped.
pub fn normalize_serial(serial: &str) -> String {
    let s: String = serial
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect::<String>()
        .to_ascii_lowercase();
    let trimmed = s.trim_start_matches("00");
    if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.to_string()
    }
}
