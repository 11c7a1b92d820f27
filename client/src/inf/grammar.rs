//! The setup-INF grammar as certreq reads it: sections (duplicates merged),
//! `key = value` lines with quotes, `;` comments and `_continue_`,
//! `%name%` from [Strings], UTF-8 or UTF-16 text. Kept apart from what the
//! keys mean (`spec`) so the grammar can be read, fuzzed and fixed alone.

use std::fmt;
use std::path::Path;

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
        let mut sections = read_sections(path, &text, &mut warnings)?;
        substitute_strings(path, &mut sections, &mut warnings);
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

    /// A refusal naming this file, `line` and `key`.
    pub(super) fn error(&self, line: usize, key: &str, message: impl Into<String>) -> InfError {
        InfError {
            path: self.path.clone(),
            line: Some(line),
            key: Some(key.to_string()),
            message: message.into(),
        }
    }

    /// A warning naming this file and `line`.
    pub(super) fn warn(
        &self,
        warnings: &mut Vec<InfWarning>,
        line: usize,
        message: impl Into<String>,
    ) {
        warnings.push(InfWarning {
            path: self.path.clone(),
            line,
            message: message.into(),
        });
    }
}

fn warn(warnings: &mut Vec<InfWarning>, path: &str, line: usize, message: String) {
    warnings.push(InfWarning {
        path: path.to_string(),
        line,
        message,
    })
}

/// Pass 1: sections and raw entries (quotes and comments resolved).
fn read_sections(
    path: &str,
    text: &str,
    warnings: &mut Vec<InfWarning>,
) -> Result<Vec<Section>, InfError> {
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
            current = Some(open_section(&mut sections, name, line_no));
            continue;
        }
        let Some(sec) = current else {
            warn(
                warnings,
                path,
                line_no,
                format!("`{line}` is outside any section; ignored"),
            );
            continue;
        };
        read_entry(path, &mut sections[sec], line, line_no, warnings);
    }
    Ok(sections)
}

/// The index of section `name`, added unless an earlier header opened it
/// (duplicate sections are one section).
fn open_section(sections: &mut Vec<Section>, name: String, line_no: usize) -> usize {
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
    }
}

/// One `key = value` line of `section`, or a `_continue_` of its last entry.
fn read_entry(
    path: &str,
    section: &mut Section,
    line: &str,
    line_no: usize,
    warnings: &mut Vec<InfWarning>,
) {
    let (key_raw, value_raw) = match line.split_once('=') {
        Some((k, v)) => (k, v),
        None => (line, ""),
    };
    let (key, _) = unquote(key_raw);
    let (value, typographic) = unquote(value_raw);
    if typographic {
        warn(
            warnings,
            path,
            line_no,
            format!("typographic quotes around the value of `{key}` were read as straight quotes (value: {value})"),
        );
    }
    if !line.contains('=') && !section.name.eq_ignore_ascii_case("Version") {
        warn(
            warnings,
            path,
            line_no,
            format!("`{key}` has no `=`; read as a key with an empty value"),
        );
    }
    let entries = &mut section.entries;
    if key.eq_ignore_ascii_case("_continue_") {
        match entries.last_mut() {
            Some(prev) => {
                prev.value.push_str(&value);
                prev.parts.push(value);
            }
            None => warn(
                warnings,
                path,
                line_no,
                "`_continue_` with nothing before it in the section; ignored".into(),
            ),
        }
        return;
    }
    entries.push(Entry {
        key,
        value: value.clone(),
        parts: vec![value],
        line: line_no,
    });
}

/// Pass 2: %Strings% substitution everywhere but [Strings].
fn substitute_strings(path: &str, sections: &mut [Section], warnings: &mut Vec<InfWarning>) {
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
                    warnings,
                    path,
                    e.line,
                    format!("`%{u}%` is not in [Strings]; left as it is"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inf::{KeyChoice, RequestSpec};
    use adcs_proto::x509::SanEntry;

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
}
