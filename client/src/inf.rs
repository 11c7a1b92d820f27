//! certreq INF files (certreq-scom.md §1): the setup-INF grammar, then the
//! request they describe. Lenient where certreq is (case-insensitive names,
//! inline `;` comments, unterminated quotes, `_continue_`, `%Strings%`,
//! duplicate sections, UTF-16), strict with a message naming file, line and
//! key where certreq refuses. What is accepted but suspicious (typographic
//! quotes, unknown keys) becomes a warning that says what was done.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use adcs_proto::x509::SanEntry;

/// A refused INF: file, line, key and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfError {
    pub path: String,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for InfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if let Some(l) = self.line {
            write!(f, ": line {l}")?;
        }
        if let Some(k) = &self.key {
            write!(f, ": {k}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for InfError {}

/// Something accepted with a change or ignored, and what was done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfWarning {
    pub path: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for InfWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: line {}: warning: {}",
            self.path, self.line, self.message
        )
    }
}

/// One `key = value` line (with its `_continue_` lines).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    /// The value and its continuations, joined.
    pub value: String,
    /// The value and each `_continue_` value, separately (list boundaries).
    pub parts: Vec<String>,
    pub line: usize,
}

/// A section; duplicates in the file are merged into one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub line: usize,
    pub entries: Vec<Entry>,
}

impl Section {
    /// The last entry named `key` (case-insensitive), as later lines win.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.key.eq_ignore_ascii_case(key))
    }
}

/// A parsed INF file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inf {
    pub path: String,
    pub sections: Vec<Section>,
    pub warnings: Vec<InfWarning>,
}

/// `szOID_*` names certreq knows without a `[Strings]` entry.
const BUILTIN_STRINGS: &[(&str, &str)] = &[
    ("szOID_ENHANCED_KEY_USAGE", "2.5.29.37"),
    ("szOID_SUBJECT_ALT_NAME2", "2.5.29.17"),
    ("szOID_BASIC_CONSTRAINTS2", "2.5.29.19"),
    ("szOID_KEY_USAGE", "2.5.29.15"),
    ("szOID_SUBJECT_KEY_IDENTIFIER", "2.5.29.14"),
    ("szOID_PKIX_KP_SERVER_AUTH", "1.3.6.1.5.5.7.3.1"),
    ("szOID_PKIX_KP_CLIENT_AUTH", "1.3.6.1.5.5.7.3.2"),
    ("szOID_PKIX_KP_CODE_SIGNING", "1.3.6.1.5.5.7.3.3"),
    ("szOID_PKIX_KP_EMAIL_PROTECTION", "1.3.6.1.5.5.7.3.4"),
    ("szOID_PKIX_KP_TIMESTAMP_SIGNING", "1.3.6.1.5.5.7.3.8"),
    ("szOID_KP_SMARTCARD_LOGON", "1.3.6.1.4.1.311.20.2.2"),
    ("szOID_ENROLL_CERTTYPE_EXTENSION", "1.3.6.1.4.1.311.20.2"),
    ("szOID_CERTIFICATE_TEMPLATE", "1.3.6.1.4.1.311.21.7"),
];

fn decode(path: &str, bytes: &[u8], warnings: &mut Vec<InfWarning>) -> String {
    let utf16 = |b: &[u8], le: bool| {
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16_lossy(&units)
    };
    if let Some(b) = bytes.strip_prefix(&[0xff, 0xfe]) {
        return utf16(b, true);
    }
    if let Some(b) = bytes.strip_prefix(&[0xfe, 0xff]) {
        return utf16(b, false);
    }
    let b = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]).unwrap_or(bytes);
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(e) => {
            let line = b[..e.valid_up_to()].iter().filter(|c| **c == b'\n').count() + 1;
            warnings.push(InfWarning {
                path: path.to_string(),
                line,
                message: "the file is not UTF-8 or UTF-16; bytes that are not UTF-8 were replaced with U+FFFD".into(),
            });
            String::from_utf8_lossy(b).into_owned()
        }
    }
}

/// Reads a value: drops `;` comments outside quotes and the quotes
/// themselves; an unterminated quote runs to the end of the line
/// (`Signature="$Windows NT$`). Returns the text and whether typographic
/// quotes were taken as quotes.
fn unquote(raw: &str) -> (String, bool) {
    let mut out = String::new();
    let mut quoted = false;
    let mut typographic = false;
    for c in raw.chars() {
        match c {
            '"' => quoted = !quoted,
            '\u{201c}' | '\u{201d}' => {
                quoted = !quoted;
                typographic = true;
            }
            ';' if !quoted => break,
            _ => out.push(c),
        }
    }
    (out.trim().to_string(), typographic)
}

/// Replaces `%name%` from `strings` (then the built-in `szOID_*` names).
fn substitute(s: &str, strings: &[(String, String)], unknown: &mut Vec<String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let Some(j) = after.find('%') else {
            out.push_str(&rest[i..]);
            return out;
        };
        let name = &after[..j];
        let value = strings
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .or_else(|| {
                BUILTIN_STRINGS
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| *v)
            });
        match value {
            Some(v) if !name.is_empty() => out.push_str(v),
            _ => {
                if !name.is_empty() {
                    unknown.push(name.to_string());
                }
                out.push('%');
                out.push_str(name);
                out.push('%');
            }
        }
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    out
}

impl Inf {
    /// Reads and parses an INF file.
    pub fn read(path: &Path) -> Result<Inf, InfError> {
        let bytes = std::fs::read(path).map_err(|e| InfError {
            path: path.display().to_string(),
            line: None,
            key: None,
            message: e.to_string(),
        })?;
        Inf::parse(&path.display().to_string(), &bytes)
    }

    /// Parses INF text; `path` is used in messages.
    pub fn parse(path: &str, bytes: &[u8]) -> Result<Inf, InfError> {
        let mut warnings = Vec::new();
        let text = decode(path, bytes, &mut warnings);
        let warn = |warnings: &mut Vec<InfWarning>, line: usize, message: String| {
            warnings.push(InfWarning {
                path: path.to_string(),
                line,
                message,
            })
        };
        // Pass 1: sections and raw entries (quotes and comments resolved).
        let mut sections: Vec<Section> = Vec::new();
        let mut current: Option<usize> = None;
        for (n, raw) in text.split('\n').enumerate() {
            let line_no = n + 1;
            let line = raw.trim_end_matches('\r').trim();
            if line.is_empty() || line.starts_with(';') {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let Some(end) = rest.find(']') else {
                    return Err(InfError {
                        path: path.into(),
                        line: Some(line_no),
                        key: None,
                        message: format!("section header `{line}` has no closing ]"),
                    });
                };
                let name = rest[..end].trim().to_string();
                current = Some(
                    match sections
                        .iter()
                        .position(|s| s.name.eq_ignore_ascii_case(&name))
                    {
                        Some(i) => i,
                        None => {
                            sections.push(Section {
                                name,
                                line: line_no,
                                entries: Vec::new(),
                            });
                            sections.len() - 1
                        }
                    },
                );
                continue;
            }
            let Some(sec) = current else {
                warn(
                    &mut warnings,
                    line_no,
                    format!("`{line}` is outside any section; ignored"),
                );
                continue;
            };
            let (key_raw, value_raw) = match line.split_once('=') {
                Some((k, v)) => (k, v),
                None => (line, ""),
            };
            let (key, _) = unquote(key_raw);
            let (value, typographic) = unquote(value_raw);
            if typographic {
                warn(
                    &mut warnings,
                    line_no,
                    format!("typographic quotes around the value of `{key}` were read as straight quotes (value: {value})"),
                );
            }
            if !line.contains('=') && !sections[sec].name.eq_ignore_ascii_case("Version") {
                warn(
                    &mut warnings,
                    line_no,
                    format!("`{key}` has no `=`; read as a key with an empty value"),
                );
            }
            let entries = &mut sections[sec].entries;
            if key.eq_ignore_ascii_case("_continue_") {
                match entries.last_mut() {
                    Some(prev) => {
                        prev.value.push_str(&value);
                        prev.parts.push(value);
                    }
                    None => warn(
                        &mut warnings,
                        line_no,
                        "`_continue_` with nothing before it in the section; ignored".into(),
                    ),
                }
                continue;
            }
            entries.push(Entry {
                key,
                value: value.clone(),
                parts: vec![value],
                line: line_no,
            });
        }
        // Pass 2: %Strings% substitution everywhere but [Strings].
        let strings: Vec<(String, String)> = sections
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case("Strings"))
            .map(|s| {
                s.entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.clone()))
                    .collect()
            })
            .unwrap_or_default();
        for s in sections
            .iter_mut()
            .filter(|s| !s.name.eq_ignore_ascii_case("Strings"))
        {
            for e in &mut s.entries {
                let mut unknown = Vec::new();
                e.key = substitute(&e.key, &strings, &mut unknown);
                e.parts = e
                    .parts
                    .iter()
                    .map(|p| substitute(p, &strings, &mut unknown))
                    .collect();
                e.value = e.parts.concat();
                for u in unknown {
                    warn(
                        &mut warnings,
                        e.line,
                        format!("`%{u}%` is not in [Strings]; left as it is"),
                    );
                }
            }
        }
        Ok(Inf {
            path: path.to_string(),
            sections,
            warnings,
        })
    }

    /// The section named `name` (case-insensitive).
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    fn error(&self, line: usize, key: &str, message: impl Into<String>) -> InfError {
        InfError {
            path: self.path.clone(),
            line: Some(line),
            key: Some(key.to_string()),
            message: message.into(),
        }
    }

    fn warn(&self, warnings: &mut Vec<InfWarning>, line: usize, message: impl Into<String>) {
        warnings.push(InfWarning {
            path: self.path.clone(),
            line,
            message: message.into(),
        });
    }
}

/// The key a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyChoice {
    Rsa(u32),
    /// NIST curve by bit size: 256, 384, 521.
    Ecdsa(u32),
    /// DSA by modulus size: 1024 (the Base DSS CSP), 2048 or 3072 (CNG).
    Dsa(u32),
}

/// `HashAlgorithm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashChoice {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

/// `RequestType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    Pkcs10,
    /// A self-signed certificate (test roots).
    Cert,
}

/// Basic constraints asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BasicConstraints {
    pub ca: bool,
    pub path_length: Option<u32>,
}

/// An extension given as raw DER (`OID = <base64>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawExtension {
    pub oid: String,
    pub value: Vec<u8>,
}

/// Everything an INF asks of `certreq -new`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestSpec {
    pub subject: String,
    pub key: KeyChoice,
    pub hash: HashChoice,
    /// AT_KEYEXCHANGE (1) unless the INF says otherwise; KSP keys report 0.
    pub key_spec: u32,
    pub key_usage: Option<u16>,
    pub key_usage_property: Option<u32>,
    pub exportable: bool,
    pub machine_key_set: bool,
    pub provider_name: Option<String>,
    pub provider_type: Option<u32>,
    pub request_type: RequestKind,
    pub friendly_name: Option<String>,
    pub smime: bool,
    pub silent: bool,
    pub use_existing_key_set: bool,
    pub suppress_defaults: bool,
    /// `ValidityPeriodUnits` × `ValidityPeriod` in days (RequestType = Cert).
    pub validity_days: Option<u32>,
    pub san: Vec<SanEntry>,
    pub ekus: Vec<String>,
    pub basic_constraints: Option<BasicConstraints>,
    pub raw_extensions: Vec<RawExtension>,
    /// OIDs marked `Critical`.
    pub critical: Vec<String>,
    /// [RequestAttributes] pairs, in order.
    pub attributes: Vec<(String, String)>,
    pub warnings: Vec<InfWarning>,
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

fn parse_number(v: &str) -> Option<u32> {
    let v = v.trim();
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

/// `NAME | NAME | 0x10` with a table of names.
fn parse_flags(v: &str, names: &[(&str, u32)]) -> Result<u32, String> {
    let mut total = 0;
    for part in v.split('|').map(str::trim).filter(|p| !p.is_empty()) {
        let bits = parse_number(part)
            .or_else(|| {
                names
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(part))
                    .map(|(_, b)| *b)
            })
            .ok_or_else(|| format!("unknown flag `{part}`"))?;
        total |= bits;
    }
    Ok(total)
}

const KEY_USAGE_NAMES: &[(&str, u32)] = &[
    ("CERT_DIGITAL_SIGNATURE_KEY_USAGE", 0x80),
    ("CERT_NON_REPUDIATION_KEY_USAGE", 0x40),
    ("CERT_KEY_ENCIPHERMENT_KEY_USAGE", 0x20),
    ("CERT_DATA_ENCIPHERMENT_KEY_USAGE", 0x10),
    ("CERT_KEY_AGREEMENT_KEY_USAGE", 0x08),
    ("CERT_KEY_CERT_SIGN_KEY_USAGE", 0x04),
    ("CERT_OFFLINE_CRL_SIGN_KEY_USAGE", 0x02),
    ("CERT_CRL_SIGN_KEY_USAGE", 0x02),
    ("CERT_ENCIPHER_ONLY_KEY_USAGE", 0x01),
    ("CERT_DECIPHER_ONLY_KEY_USAGE", 0x8000),
];

const KEY_SPEC_NAMES: &[(&str, u32)] =
    &[("AT_NONE", 0), ("AT_KEYEXCHANGE", 1), ("AT_SIGNATURE", 2)];

const KEY_USAGE_PROPERTY_NAMES: &[(&str, u32)] = &[
    ("NCRYPT_ALLOW_DECRYPT_FLAG", 1),
    ("NCRYPT_ALLOW_SIGNING_FLAG", 2),
    ("NCRYPT_ALLOW_KEY_AGREEMENT_FLAG", 4),
    ("NCRYPT_ALLOW_ALL_USAGES", 0xff_ffff),
];

/// [NewRequest] keys this toolkit reads, and those it knows but ignores.
const NEW_REQUEST_KEYS: &[&str] = &[
    "Subject",
    "Exportable",
    "ExportableEncrypted",
    "HashAlgorithm",
    "KeyAlgorithm",
    "KeyLength",
    "KeySpec",
    "KeyUsage",
    "KeyUsageProperty",
    "MachineKeySet",
    "ProviderName",
    "ProviderType",
    "RequestType",
    "FriendlyName",
    "SMIME",
    "Silent",
    "UseExistingKeySet",
    "SuppressDefaults",
    "ValidityPeriod",
    "ValidityPeriodUnits",
];
const IGNORED_KEYS: &[&str] = &[
    "KeyContainer",
    "KeyProtection",
    "NotBefore",
    "NotAfter",
    "PrivateKeyArchive",
    "EncryptionAlgorithm",
    "EncryptionLength",
    "RenewalCert",
    "RequesterName",
    "SecurityDescriptor",
    "AlternateSignatureAlgorithm",
    "SubjectNameFlags",
    "X500NameFlags",
    "UserProtected",
];

fn is_oid(s: &str) -> bool {
    let mut parts = s.split('.');
    s.contains('.') && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Splits `{text}` list payloads at `&`, `,` and `_continue_` boundaries.
fn text_items(parts: &[String], first_prefix_len: usize, separators: &[char]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let p = if i == 0 {
            &p[first_prefix_len.min(p.len())..]
        } else {
            p.as_str()
        };
        out.extend(
            p.split(separators)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
    }
    out
}

fn san_entry(item: &str) -> Result<SanEntry, String> {
    let (name, value) = item
        .split_once('=')
        .ok_or_else(|| format!("SAN entry `{item}` has no `=`"))?;
    let value = value.trim().to_string();
    match name.trim().to_ascii_lowercase().replace(' ', "").as_str() {
        "dns" => Ok(SanEntry::Dns(value)),
        "email" | "e-mail" | "rfc822name" => Ok(SanEntry::Email(value)),
        "upn" => Ok(SanEntry::Upn(value)),
        "url" => Ok(SanEntry::Url(value)),
        "ipaddress" | "ip" => value
            .parse::<IpAddr>()
            .map(SanEntry::Ip)
            .map_err(|_| format!("`{value}` is not an IP address")),
        other => Err(format!(
            "SAN entry type `{other}` is not supported (DNS, EMail, UPN, URL, IPAddress are)"
        )),
    }
}

fn basic_constraints_text(text: &str) -> Result<BasicConstraints, String> {
    let lower = text.to_ascii_lowercase().replace([' ', '&', ','], "");
    let mut bc = BasicConstraints {
        ca: false,
        path_length: None,
    };
    if let Some(i) = lower.find("ca=") {
        let v: String = lower[i + 3..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let v = v.trim_end_matches("pathlength");
        bc.ca = parse_bool(v).ok_or_else(|| format!("`ca={v}` is not true or false"))?;
    }
    if let Some(i) = lower.find("pathlength=") {
        let v: String = lower[i + 11..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        bc.path_length = Some(
            v.parse()
                .map_err(|_| "pathlength needs a number".to_string())?,
        );
    }
    Ok(bc)
}

impl RequestSpec {
    /// The request an INF describes, with the INF's warnings and the ones
    /// reading it adds.
    pub fn from_inf(inf: &Inf) -> Result<RequestSpec, InfError> {
        let mut warnings = inf.warnings.clone();
        let Some(nr) = inf.section("NewRequest") else {
            let looks_like_policy = inf.section("Extensions").is_some()
                || inf.section("EnhancedKeyUsageExtension").is_some();
            return Err(InfError {
                path: inf.path.clone(),
                line: None,
                key: None,
                message: if looks_like_policy {
                    "no [NewRequest] section: this is a `certreq -policy` INF (it adds extensions to an existing request), not one that makes a new request".into()
                } else {
                    "no [NewRequest] section: certreq -new needs one with at least one key".into()
                },
            });
        };
        if nr.entries.is_empty() {
            return Err(inf.error(
                nr.line,
                "[NewRequest]",
                "the section must contain at least one key with a value",
            ));
        }
        for e in &nr.entries {
            let known = NEW_REQUEST_KEYS
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&e.key));
            if IGNORED_KEYS.iter().any(|k| k.eq_ignore_ascii_case(&e.key)) {
                inf.warn(
                    &mut warnings,
                    e.line,
                    format!("`{}` is not used by this toolkit; ignored", e.key),
                );
            } else if !known {
                let hint = NEW_REQUEST_KEYS
                    .iter()
                    .find(|k| {
                        e.key
                            .replace(' ', "")
                            .to_ascii_lowercase()
                            .ends_with(&k.to_ascii_lowercase())
                    })
                    .map(|k| format!(" (did you mean `{k}`? it was not applied)"))
                    .unwrap_or_default();
                inf.warn(
                    &mut warnings,
                    e.line,
                    format!(
                        "unknown key `{}` in [NewRequest] ignored, as certreq ignores it{hint}",
                        e.key
                    ),
                );
            }
        }
        let get = |k: &str| nr.get(k);
        let boolean = |k: &str, default: bool| -> Result<bool, InfError> {
            match get(k) {
                None => Ok(default),
                Some(e) => parse_bool(&e.value).ok_or_else(|| {
                    inf.error(
                        e.line,
                        &e.key,
                        format!("`{}` is not true or false", e.value),
                    )
                }),
            }
        };
        let number = |k: &str| -> Result<Option<(u32, usize)>, InfError> {
            match get(k) {
                None => Ok(None),
                Some(e) => parse_number(&e.value)
                    .map(|n| Some((n, e.line)))
                    .ok_or_else(|| {
                        inf.error(e.line, &e.key, format!("`{}` is not a number", e.value))
                    }),
            }
        };
        let flags = |k: &str, names: &[(&str, u32)]| -> Result<Option<u32>, InfError> {
            match get(k) {
                None => Ok(None),
                Some(e) => parse_flags(&e.value, names)
                    .map(Some)
                    .map_err(|m| inf.error(e.line, &e.key, m)),
            }
        };

        let request_type = match get("RequestType") {
            None => RequestKind::Pkcs10,
            Some(e) => match e.value.to_ascii_lowercase().as_str() {
                "pkcs10" | "1" => RequestKind::Pkcs10,
                "cert" | "4" => RequestKind::Cert,
                "cmc" | "pkcs7" | "scep" | "2" | "3" => {
                    return Err(inf.error(e.line, &e.key, format!("RequestType {} is not supported; use PKCS10 (or Cert for a self-signed certificate)", e.value)))
                }
                _ => return Err(inf.error(e.line, &e.key, format!("unknown RequestType `{}`", e.value))),
            },
        };
        let length = number("KeyLength")?;
        let key = match get("KeyAlgorithm").map(|e| (e.value.to_ascii_uppercase(), e)) {
            None => KeyChoice::Rsa(length.map_or(2048, |l| l.0)),
            Some((alg, e)) => match alg.as_str() {
                "RSA" => KeyChoice::Rsa(length.map_or(2048, |l| l.0)),
                "ECDSA_P256" | "ECDSA_P384" | "ECDSA_P521" => {
                    let bits: u32 = alg[7..].parse().expect("curve size");
                    if let Some((l, line)) = length {
                        if l != bits {
                            return Err(inf.error(line, "KeyLength", format!("KeyLength {l} does not match KeyAlgorithm {alg}")));
                        }
                    }
                    KeyChoice::Ecdsa(bits)
                }
                "ECDSA" => KeyChoice::Ecdsa(length.map_or(256, |l| l.0)),
                "DSA" => KeyChoice::Dsa(length.map_or(1024, |l| l.0)),
                _ => return Err(inf.error(e.line, &e.key, format!("KeyAlgorithm {} is not supported (RSA, ECDSA_P256, ECDSA_P384, ECDSA_P521, DSA are)", e.value))),
            },
        };
        match key {
            KeyChoice::Rsa(bits) if !(1024..=4096).contains(&bits) || bits % 8 != 0 => {
                let line = length.map_or(nr.line, |l| l.1);
                return Err(inf.error(
                    line,
                    "KeyLength",
                    format!(
                        "RSA keys of {bits} bits are not supported (1024 to 4096, a multiple of 8)"
                    ),
                ));
            }
            KeyChoice::Ecdsa(bits) if ![256, 384, 521].contains(&bits) => {
                let line = length.map_or(nr.line, |l| l.1);
                return Err(inf.error(
                    line,
                    "KeyLength",
                    format!("no ECDSA curve of {bits} bits (256, 384, 521)"),
                ));
            }
            KeyChoice::Dsa(bits) if ![1024, 2048, 3072].contains(&bits) => {
                let line = length.map_or(nr.line, |l| l.1);
                return Err(inf.error(
                    line,
                    "KeyLength",
                    format!("DSA keys of {bits} bits are not supported (1024, 2048, 3072)"),
                ));
            }
            _ => {}
        }
        let hash = match get("HashAlgorithm") {
            // The DSS CSPs sign with SHA-1 only.
            None if matches!(key, KeyChoice::Dsa(1024)) => HashChoice::Sha1,
            None => HashChoice::Sha256,
            Some(e) => match e.value.to_ascii_lowercase().replace('-', "").as_str() {
                "sha1" => HashChoice::Sha1,
                "sha256" => HashChoice::Sha256,
                "sha384" => HashChoice::Sha384,
                "sha512" => HashChoice::Sha512,
                _ => {
                    return Err(inf.error(
                        e.line,
                        &e.key,
                        format!(
                            "HashAlgorithm {} is not supported (sha1, sha256, sha384, sha512 are)",
                            e.value
                        ),
                    ))
                }
            },
        };
        let provider_name = get("ProviderName").map(|e| e.value.clone());
        let ksp = provider_name
            .as_deref()
            .is_some_and(|p| p.contains("Key Storage Provider"));
        let key_spec = flags("KeySpec", KEY_SPEC_NAMES)?.unwrap_or(match key {
            _ if ksp => 0,
            // DSS keys sign only (AT_SIGNATURE).
            KeyChoice::Dsa(_) => 2,
            _ => 1,
        });
        let key_usage = match flags("KeyUsage", KEY_USAGE_NAMES)? {
            Some(ku) if ku > 0xffff => {
                let e = get("KeyUsage").expect("present");
                return Err(inf.error(e.line, &e.key, format!("0x{ku:x} is not a key usage")));
            }
            ku => ku.map(|k| k as u16),
        };
        let validity_days = match (get("ValidityPeriod"), number("ValidityPeriodUnits")?) {
            (None, None) => None,
            (period, units) => {
                let n = units.map_or(1, |u| u.0);
                let per = match period.map(|e| (e.value.to_ascii_lowercase(), e)) {
                    None => 365,
                    Some((p, e)) => match p.trim_end_matches('s') {
                        "year" => 365,
                        "month" => 30,
                        "week" => 7,
                        "day" => 1,
                        _ => {
                            return Err(inf.error(
                                e.line,
                                &e.key,
                                format!(
                                    "ValidityPeriod `{}` is not Years, Months, Weeks or Days",
                                    e.value
                                ),
                            ))
                        }
                    },
                };
                Some(n.saturating_mul(per))
            }
        };

        let mut spec = RequestSpec {
            subject: get("Subject").map(|e| e.value.clone()).unwrap_or_default(),
            key,
            hash,
            key_spec,
            key_usage,
            key_usage_property: flags("KeyUsageProperty", KEY_USAGE_PROPERTY_NAMES)?,
            exportable: boolean("Exportable", false)?,
            machine_key_set: boolean("MachineKeySet", false)?,
            provider_name,
            provider_type: number("ProviderType")?.map(|n| n.0),
            request_type,
            friendly_name: get("FriendlyName").map(|e| e.value.clone()),
            smime: boolean("SMIME", false)?,
            silent: boolean("Silent", false)?,
            use_existing_key_set: boolean("UseExistingKeySet", false)?,
            suppress_defaults: boolean("SuppressDefaults", false)?,
            validity_days,
            san: Vec::new(),
            ekus: Vec::new(),
            basic_constraints: None,
            raw_extensions: Vec::new(),
            critical: Vec::new(),
            attributes: Vec::new(),
            warnings: Vec::new(),
        };
        if let Some(e) = get("Subject") {
            adcs_proto::names::parse_dn(&e.value).map_err(|err| {
                inf.error(
                    e.line,
                    &e.key,
                    format!("`{}` is not a distinguished name: {}", e.value, err.reason),
                )
            })?;
        }
        if spec.use_existing_key_set {
            let e = get("UseExistingKeySet").expect("set");
            return Err(inf.error(e.line, &e.key, "reusing an existing key needs RenewalCert or KeyContainer, which this toolkit does not support"));
        }

        if let Some(ext) = inf.section("Extensions") {
            for e in &ext.entries {
                if e.key.eq_ignore_ascii_case("Critical") {
                    for oid in e.value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        if !is_oid(oid) {
                            return Err(inf.error(
                                e.line,
                                "Critical",
                                format!("`{oid}` is not an OID"),
                            ));
                        }
                        spec.critical.push(oid.to_string());
                    }
                    continue;
                }
                if !is_oid(&e.key) {
                    // certreq's own words for `[Extensions] OID = …` (windowsserverdocs#6297).
                    return Err(inf.error(
                        e.line,
                        &format!("[Extensions] {} = {}", e.key, e.value),
                        "Certificate Request Processor: The parameter is incorrect. 0x80070057 (WIN32: 87 ERROR_INVALID_PARAMETER); an [Extensions] key must be an extension OID (EKUs go in [EnhancedKeyUsageExtension] or a 2.5.29.37 = \"{text}…\" line)",
                    ));
                }
                let text = e.parts[0].trim_start();
                let is_text = text
                    .get(..6)
                    .is_some_and(|p| p.eq_ignore_ascii_case("{text}"));
                let prefix = e.parts[0].len() - text.len() + if is_text { 6 } else { 0 };
                match (e.key.as_str(), is_text) {
                    ("2.5.29.17", true) => {
                        for item in text_items(&e.parts, prefix, &['&']) {
                            spec.san.push(san_entry(&item).map_err(|m| inf.error(e.line, &e.key, m))?);
                        }
                    }
                    ("2.5.29.37", true) => {
                        for oid in text_items(&e.parts, prefix, &[',']) {
                            if !is_oid(&oid) {
                                return Err(inf.error(e.line, &e.key, format!("EKU `{oid}` is not an OID")));
                            }
                            spec.ekus.push(oid);
                        }
                    }
                    ("2.5.29.19", true) => {
                        let bc = basic_constraints_text(&e.value[prefix.min(e.value.len())..]).map_err(|m| inf.error(e.line, &e.key, m))?;
                        spec.basic_constraints = Some(bc);
                    }
                    (oid, true) => {
                        return Err(inf.error(e.line, &e.key, format!("{{text}} is understood for 2.5.29.17, 2.5.29.37 and 2.5.29.19, not {oid}; give the value as base64 DER")))
                    }
                    (oid, false) => {
                        use base64::Engine;
                        let compact: String = e.value.chars().filter(|c| !c.is_whitespace()).collect();
                        let value = base64::engine::general_purpose::STANDARD
                            .decode(&compact)
                            .map_err(|_| inf.error(e.line, &e.key, "the value is neither {text} nor base64 DER"))?;
                        spec.raw_extensions.push(RawExtension { oid: oid.to_string(), value });
                    }
                }
            }
        }
        if let Some(eku) = inf.section("EnhancedKeyUsageExtension") {
            for e in &eku.entries {
                if !e.key.eq_ignore_ascii_case("OID") || !is_oid(&e.value) {
                    return Err(inf.error(
                        e.line,
                        &e.key,
                        format!(
                            "expected `OID = <dotted OID>`, got `{} = {}`",
                            e.key, e.value
                        ),
                    ));
                }
                if !spec.ekus.contains(&e.value) {
                    spec.ekus.push(e.value.clone());
                }
            }
        }
        if let Some(bc) = inf.section("BasicConstraintsExtension") {
            // The section is how certreq INFs ask for a CA certificate, so
            // it means cA = TRUE unless it says otherwise (a path length
            // is only valid on a CA, RFC 5280 §4.2.1.9).
            for e in &bc.entries {
                let current = spec.basic_constraints.unwrap_or(BasicConstraints {
                    ca: true,
                    path_length: None,
                });
                match e.key.to_ascii_lowercase().as_str() {
                    "pathlength" => {
                        let n = parse_number(&e.value).ok_or_else(|| {
                            inf.error(e.line, &e.key, "PathLength needs a number")
                        })?;
                        spec.basic_constraints = Some(BasicConstraints {
                            path_length: Some(n),
                            ..current
                        });
                    }
                    "ca" | "subjecttype" => {
                        let ca = parse_bool(&e.value)
                            .unwrap_or(!e.value.replace(' ', "").eq_ignore_ascii_case("endentity"));
                        spec.basic_constraints = Some(BasicConstraints { ca, ..current });
                    }
                    "critical" => {
                        if parse_bool(&e.value) == Some(true)
                            && !spec.critical.iter().any(|c| c == "2.5.29.19")
                        {
                            spec.critical.push("2.5.29.19".into());
                        }
                    }
                    _ => inf.warn(
                        &mut warnings,
                        e.line,
                        format!(
                            "unknown key `{}` in [BasicConstraintsExtension] ignored",
                            e.key
                        ),
                    ),
                }
            }
        }
        if let Some(attrs) = inf.section("RequestAttributes") {
            spec.attributes = attrs
                .entries
                .iter()
                .map(|e| (e.key.clone(), e.value.clone()))
                .collect();
        }
        for s in &inf.sections {
            let known = [
                "NewRequest",
                "Extensions",
                "EnhancedKeyUsageExtension",
                "BasicConstraintsExtension",
                "RequestAttributes",
                "Strings",
                "Version",
            ];
            if !known.iter().any(|k| k.eq_ignore_ascii_case(&s.name)) {
                inf.warn(
                    &mut warnings,
                    s.line,
                    format!("section [{}] is not used by certreq -new; ignored", s.name),
                );
            }
        }
        spec.warnings = warnings;
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Result<RequestSpec, InfError> {
        RequestSpec::from_inf(&Inf::parse("t.inf", text.as_bytes()).unwrap())
    }

    #[test]
    fn grammar_comments_quotes_continuation_and_strings() {
        let inf = Inf::parse(
            "t.inf",
            b"[Version]\r\nSignature=\"$Windows NT$\r\n[strings]\r\nFQDN = \"web.contoso.test\" ; the name\r\n[newrequest]\r\nsubject = \"CN=%FQDN%; O=x\" ; comment\r\n[Extensions]\r\n2.5.29.17 = \"{text}\"\r\n  _continue_ = \"dns=%FQDN%&\"\r\n_continue_ = \"dns=b\"\r\n[NewRequest]\r\nKeyLength=3072",
        )
        .unwrap();
        let nr = inf.section("NEWREQUEST").unwrap();
        assert_eq!(nr.get("SUBJECT").unwrap().value, "CN=web.contoso.test; O=x");
        assert_eq!(nr.get("keylength").unwrap().line, 12);
        assert_eq!(
            inf.section("Version")
                .unwrap()
                .get("Signature")
                .unwrap()
                .value,
            "$Windows NT$"
        );
        let s = RequestSpec::from_inf(&inf).unwrap();
        assert_eq!(
            s.san,
            vec![
                SanEntry::Dns("web.contoso.test".into()),
                SanEntry::Dns("b".into())
            ]
        );
        assert_eq!(s.key, KeyChoice::Rsa(3072));
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }

    #[test]
    fn flags_numbers_and_booleans() {
        let s = spec("[NewRequest]\nKeyUsage = \"CERT_DIGITAL_SIGNATURE_KEY_USAGE | CERT_KEY_ENCIPHERMENT_KEY_USAGE\"\nKeySpec=AT_SIGNATURE\nExportable=True\nMachineKeySet=FALSE\nProviderType=0xc\nKeyUsageProperty=NCRYPT_ALLOW_SIGNING_FLAG|1").unwrap();
        assert_eq!(
            (s.key_usage, s.key_spec, s.exportable, s.machine_key_set),
            (Some(0xa0), 2, true, false)
        );
        assert_eq!((s.provider_type, s.key_usage_property), (Some(12), Some(3)));
        let e = spec("[NewRequest]\nSubject=CN=x\nExportable=maybe").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.inf: line 3: Exportable: `maybe` is not true or false"
        );
        let e = spec("[NewRequest]\nKeyUsage=CERT_BOGUS_USAGE").unwrap_err();
        assert!(e
            .to_string()
            .contains("line 2: KeyUsage: unknown flag `CERT_BOGUS_USAGE`"));
    }

    #[test]
    fn refusals_name_line_and_key() {
        let e = spec("[NewRequest]\nSubject=CN=x\n[Extensions]\nOID = 1.3.6.1.5.5.7.3.1\n")
            .unwrap_err();
        assert_eq!(e.line, Some(4));
        assert!(e
            .to_string()
            .contains("0x80070057 (WIN32: 87 ERROR_INVALID_PARAMETER)"));
        assert!(spec("[NewRequest]\nRequestType=CMC")
            .unwrap_err()
            .message
            .contains("not supported"));
        assert!(spec("[NewRequest]\nKeyAlgorithm=DSA\nKeyLength=1536")
            .unwrap_err()
            .message
            .contains("DSA keys of 1536 bits"));
        assert!(spec("[NewRequest]\nKeyAlgorithm=ECC")
            .unwrap_err()
            .message
            .contains("ECC is not supported"));
        let dsa = spec("[NewRequest]\nKeyAlgorithm=DSA").unwrap();
        assert_eq!(
            (dsa.key, dsa.hash),
            (KeyChoice::Dsa(1024), HashChoice::Sha1)
        );
        assert!(spec("[NewRequest]\nKeyLength=512")
            .unwrap_err()
            .message
            .contains("512 bits"));
        assert!(spec("[NewRequest]\nKeyAlgorithm=ECDSA_P384\nKeyLength=256")
            .unwrap_err()
            .message
            .contains("does not match"));
        assert!(spec("[Extensions]\n2.5.29.17={text}dns=x")
            .unwrap_err()
            .message
            .contains("certreq -policy"));
        assert!(spec("[NewRequest]\n")
            .unwrap_err()
            .message
            .contains("at least one key"));
        assert!(Inf::parse("t.inf", b"[NewRequest\nx=1").is_err());
        // A multi-byte character where `{text}` would end (found by the
        // inf fuzz target): an ordinary value, not a panic.
        for value in ["{text\u{fffd}}", "{te\u{e9}xt}"] {
            let e = spec(&format!(
                "[NewRequest]\nSubject=\"CN=a\"\n[Extensions]\n2.5.29.17 = \"{value}\""
            ))
            .unwrap_err();
            assert_eq!(e.line, Some(4));
            assert!(e.message.contains("neither {text} nor base64 DER"), "{e}");
        }
    }

    #[test]
    fn typographic_quotes_and_unknown_keys_are_warnings() {
        let s = spec("[NewRequest]\nSubject=\u{201d}CN=server.contoso.com\u{201d}\nKey Exportable = TRUE  ; comment\n").unwrap();
        assert_eq!(s.subject, "CN=server.contoso.com");
        assert!(!s.exportable);
        assert_eq!(s.warnings.len(), 2);
        assert!(s.warnings[0]
            .to_string()
            .starts_with("t.inf: line 2: warning: typographic quotes"));
        assert!(
            s.warnings[1].message.contains("`Key Exportable`")
                && s.warnings[1].message.contains("did you mean `Exportable`?")
        );
    }

    #[test]
    fn utf16_files_are_read() {
        let text = "[NewRequest]\r\nSubject=\"CN=ünï\"\r\n";
        let mut bytes = vec![0xff, 0xfe];
        bytes.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
        let inf = Inf::parse("u.inf", &bytes).unwrap();
        assert_eq!(
            inf.section("NewRequest")
                .unwrap()
                .get("Subject")
                .unwrap()
                .value,
            "CN=ünï"
        );
    }

    #[test]
    fn eku_and_basic_constraints_forms() {
        let s = spec("[Strings]\nszOID_X=1.2.3.4\n[NewRequest]\nRequestType=Cert\nValidityPeriod=Years\nValidityPeriodUnits=2\n[Extensions]\n%szOID_ENHANCED_KEY_USAGE%={text}%szOID_PKIX_KP_SERVER_AUTH%,\n_continue_ = %szOID_X%\n2.5.29.19 = \"{text}\"\n_continue_ = \"ca=True&pathlength=0\"\nCritical=%szOID_BASIC_CONSTRAINTS2%\n1.2.3.5 = MAMCAQA=\n[EnhancedKeyUsageExtension]\nOID=1.3.6.1.5.5.7.3.2\n").unwrap();
        assert_eq!(
            s.ekus,
            vec!["1.3.6.1.5.5.7.3.1", "1.2.3.4", "1.3.6.1.5.5.7.3.2"]
        );
        assert_eq!(
            s.basic_constraints,
            Some(BasicConstraints {
                ca: true,
                path_length: Some(0)
            })
        );
        assert_eq!(s.critical, vec!["2.5.29.19"]);
        assert_eq!(
            s.raw_extensions,
            vec![RawExtension {
                oid: "1.2.3.5".into(),
                value: vec![0x30, 0x03, 0x02, 0x01, 0x00]
            }]
        );
        assert_eq!(
            (s.request_type, s.validity_days),
            (RequestKind::Cert, Some(730))
        );
    }
}
