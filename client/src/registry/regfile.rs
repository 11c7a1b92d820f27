//! A `.reg` file kept line for line: parsed into records that remember
//! their text, so a change rewrites only the lines it touches and the rest
//! (comments, encoding, line ends) comes back byte for byte.

use adcs_proto::atomic_file::write_atomic;
use std::fmt;
use std::path::{Path, PathBuf};

use super::key_path::{display_key, is_within, normalise_key};
use super::value_syntax::{clip, is_hex_data, parse_value, value_lines};
use super::{Change, RegValue, RegistryError};

/// How the file was encoded, kept so a rewrite changes only what it must.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileEncoding {
    /// UTF-16 LE with a byte-order mark: what regedit exports.
    Utf16Le,
    Utf8Bom,
    Utf8,
}

/// What a record of the file means.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Meaning {
    /// Header, comments, blank lines: kept as they are.
    Other,
    /// `[KEY]` (or `[-KEY]` when `delete`).
    Key { path: String, delete: bool },
    /// A value line of the key above it; `None` is `"name"=-`.
    Value {
        key: String,
        name: String,
        data: Option<RegValue>,
    },
}

/// One logical line (a value may span several physical lines) with its text.
#[derive(Clone, Debug)]
struct Record {
    text: Vec<String>,
    meaning: Meaning,
}

/// A `.reg` file, parsed; unknown to nothing, it keeps every line.
#[derive(Clone, Debug)]
pub struct RegFile {
    path: PathBuf,
    encoding: FileEncoding,
    newline: &'static str,
    records: Vec<Record>,
    /// Whether the original text ended with a line end.
    final_newline: bool,
}

/// The first line of a regedit 5 export.
pub const HEADER_V5: &str = "Windows Registry Editor Version 5.00";
/// The first line of a Windows 9x / NT 4 export, still accepted by `reg import`.
pub const HEADER_V4: &str = "REGEDIT4";

impl RegFile {
    /// An empty registry file as regedit writes one: UTF-16 LE, CRLF.
    pub fn new(path: &Path) -> RegFile {
        RegFile {
            path: path.to_path_buf(),
            encoding: FileEncoding::Utf16Le,
            newline: "\r\n",
            records: vec![
                Record {
                    text: vec![HEADER_V5.into()],
                    meaning: Meaning::Other,
                },
                Record {
                    text: vec![String::new()],
                    meaning: Meaning::Other,
                },
            ],
            final_newline: true,
        }
    }

    /// Reads `path`; a missing file is [`RegistryError::Missing`].
    pub fn read(path: &Path) -> Result<RegFile, RegistryError> {
        match std::fs::read(path) {
            Ok(bytes) => RegFile::parse(path, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(RegistryError::Missing {
                path: path.to_path_buf(),
            }),
            Err(source) => Err(RegistryError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Reads `path`, or starts a new file when there is none yet.
    pub fn read_or_new(path: &Path) -> Result<RegFile, RegistryError> {
        match RegFile::read(path) {
            Err(RegistryError::Missing { .. }) => Ok(RegFile::new(path)),
            other => other,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The encoding the file came in (and will be written back in).
    pub fn encoding(&self) -> FileEncoding {
        self.encoding
    }

    /// Parses the bytes of a `.reg` file (`path` names it in errors).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<RegFile, RegistryError> {
        let syntax = |line: usize, message: String| RegistryError::Syntax {
            path: path.to_path_buf(),
            line,
            message,
        };
        let (encoding, text) = decode(bytes).map_err(|m| syntax(1, m))?;
        let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
        let final_newline = text.ends_with('\n');
        let mut lines: Vec<&str> = text.split('\n').collect();
        if final_newline {
            lines.pop();
        }
        let lines: Vec<&str> = lines
            .into_iter()
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        let mut records = Vec::new();
        let mut current_key: Option<String> = None;
        let mut seen_header = false;
        let mut i = 0;
        while i < lines.len() {
            let number = i + 1;
            let line = lines[i];
            let trimmed = line.trim();
            i += 1;
            if !seen_header {
                if trimmed.is_empty() {
                    records.push(other(line));
                    continue;
                }
                if trimmed != HEADER_V5 && trimmed != HEADER_V4 {
                    return Err(syntax(
                        number,
                        format!("not a registry file: the first line must be `{HEADER_V5}` (or `{HEADER_V4}`), not `{}`", clip(trimmed)),
                    ));
                }
                seen_header = true;
                records.push(other(line));
                continue;
            }
            if trimmed.is_empty() || trimmed.starts_with(';') {
                records.push(other(line));
                continue;
            }
            if let Some(inner) = trimmed.strip_prefix('[') {
                let Some(end) = inner.rfind(']') else {
                    return Err(syntax(
                        number,
                        format!("key line `{}` has no closing `]`", clip(trimmed)),
                    ));
                };
                let name = &inner[..end];
                let (delete, name) = match name.strip_prefix('-') {
                    Some(n) => (true, n),
                    None => (false, name),
                };
                if name.trim().is_empty() {
                    return Err(syntax(number, "a key line names no key".into()));
                }
                let path = normalise_key(name);
                current_key = (!delete).then(|| path.clone());
                records.push(Record {
                    text: vec![line.to_string()],
                    meaning: Meaning::Key { path, delete },
                });
                continue;
            }
            if !(trimmed.starts_with('"') || trimmed.starts_with('@')) {
                return Err(syntax(
                    number,
                    format!(
                        "`{}` is neither a [key] line, a \"value\"=data line nor a ; comment",
                        clip(trimmed)
                    ),
                ));
            }
            let mut text = vec![line.to_string()];
            let mut logical = trimmed.to_string();
            // hex data continues on the next line after a trailing backslash.
            while logical.ends_with('\\') && is_hex_data(&logical) && i < lines.len() {
                logical.pop();
                logical.push_str(lines[i].trim());
                text.push(lines[i].to_string());
                i += 1;
            }
            let (name, data) = parse_value(&logical).map_err(|m| syntax(number, m))?;
            let Some(key) = current_key.clone() else {
                return Err(syntax(
                    number,
                    format!("value `{name}` comes before any [key] line"),
                ));
            };
            records.push(Record {
                text,
                meaning: Meaning::Value { key, name, data },
            });
        }
        if !seen_header {
            return Err(syntax(
                1,
                format!("not a registry file: it is empty (the first line must be `{HEADER_V5}`)"),
            ));
        }
        Ok(RegFile {
            path: path.to_path_buf(),
            encoding,
            newline,
            records,
            final_newline,
        })
    }

    /// The value `name` of `key` as importing the file would leave it.
    pub fn get(&self, key: &str, name: &str) -> Option<RegValue> {
        let key = normalise_key(key);
        let mut out = None;
        for r in &self.records {
            match &r.meaning {
                Meaning::Key { path, delete: true } if is_within(&key, path) => out = None,
                Meaning::Value {
                    key: k,
                    name: n,
                    data,
                } if *k == key && n.eq_ignore_ascii_case(name) => out = data.clone(),
                _ => {}
            }
        }
        out
    }

    /// Every value `key` ends up with, in file order (names as written).
    pub fn values(&self, key: &str) -> Vec<(String, RegValue)> {
        let key = normalise_key(key);
        let mut out: Vec<(String, RegValue)> = Vec::new();
        for r in &self.records {
            match &r.meaning {
                Meaning::Key { path, delete: true } if is_within(&key, path) => out.clear(),
                Meaning::Value { key: k, name, data } if *k == key => {
                    out.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                    if let Some(d) = data {
                        out.push((name.clone(), d.clone()));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Applies changes to `key` in memory (see [`RegFile::write`]).
    pub fn change(&mut self, key: &str, changes: &[Change]) {
        let norm = normalise_key(key);
        for change in changes {
            let name = match change {
                Change::Set { name, .. } | Change::Delete { name } => name,
            };
            self.records.retain(|r| {
                !matches!(&r.meaning, Meaning::Value { key: k, name: n, .. }
                    if *k == norm && n.eq_ignore_ascii_case(name))
            });
            let Change::Set { name, value } = change else {
                continue;
            };
            let record = Record {
                text: value_lines(name, value),
                meaning: Meaning::Value {
                    key: norm.clone(),
                    name: name.clone(),
                    data: Some(value.clone()),
                },
            };
            let at = self.insertion_point(&norm);
            match at {
                Some(at) => self.records.insert(at, record),
                None => {
                    // No live [key] section: a new one at the end.
                    if !self.ends_with_blank() {
                        self.records.push(other(""));
                    }
                    self.records.push(Record {
                        text: vec![format!("[{}]", display_key(key))],
                        meaning: Meaning::Key {
                            path: norm.clone(),
                            delete: false,
                        },
                    });
                    self.records.push(record);
                    self.records.push(other(""));
                }
            }
        }
    }

    /// Where a new value of `key` goes: after the last value (or header) of
    /// the last `[key]` section, unless a later `[-…]` line deletes it.
    fn insertion_point(&self, key: &str) -> Option<usize> {
        let mut section = None;
        for (i, r) in self.records.iter().enumerate() {
            match &r.meaning {
                Meaning::Key {
                    path,
                    delete: false,
                } if path == key => section = Some(i),
                Meaning::Key { path, delete: true } if is_within(key, path) => section = None,
                _ => {}
            }
        }
        let start = section?;
        let mut at = start + 1;
        for (i, r) in self.records.iter().enumerate().skip(start + 1) {
            match &r.meaning {
                Meaning::Key { .. } => break,
                Meaning::Value { .. } => at = i + 1,
                Meaning::Other => {}
            }
        }
        Some(at)
    }

    fn ends_with_blank(&self) -> bool {
        self.records.last().is_some_and(|r| {
            r.meaning == Meaning::Other && r.text.iter().all(|l| l.trim().is_empty())
        })
    }

    /// The file's text as it would be written.
    pub fn to_text(&self) -> String {
        let lines: Vec<&str> = self
            .records
            .iter()
            .flat_map(|r| r.text.iter().map(String::as_str))
            .collect();
        let mut text = lines.join(self.newline);
        if self.final_newline {
            text.push_str(self.newline);
        }
        text
    }

    /// The file's bytes in its encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let text = self.to_text();
        match self.encoding {
            FileEncoding::Utf16Le => [0xFF, 0xFE]
                .into_iter()
                .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
                .collect(),
            FileEncoding::Utf8Bom => [0xEF, 0xBB, 0xBF]
                .into_iter()
                .chain(text.into_bytes())
                .collect(),
            FileEncoding::Utf8 => text.into_bytes(),
        }
    }

    /// Replaces the file atomically (`adcs_proto::atomic_file`).
    pub fn write(&self) -> Result<(), RegistryError> {
        write_atomic(&self.path, &self.to_bytes()).map_err(|e| RegistryError::Io {
            path: e.path,
            source: e.source,
        })
    }
}

impl fmt::Display for RegFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

fn other(line: &str) -> Record {
    Record {
        text: vec![line.to_string()],
        meaning: Meaning::Other,
    }
}

/// The text and how it was encoded: UTF-16 LE with a byte-order mark, or
/// UTF-8 with or without one.
fn decode(bytes: &[u8]) -> Result<(FileEncoding, String), String> {
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        if rest.len() % 2 != 0 {
            return Err("UTF-16 text with an odd number of bytes".into());
        }
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16(&units)
            .map(|t| (FileEncoding::Utf16Le, t))
            .map_err(|_| "invalid UTF-16 text".into());
    }
    let (encoding, body) = match bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        Some(rest) => (FileEncoding::Utf8Bom, rest),
        None => (FileEncoding::Utf8, bytes),
    };
    std::str::from_utf8(body)
        .map(|t| (encoding, t.to_string()))
        .map_err(|e| format!("neither UTF-16 (with a byte-order mark) nor UTF-8 text: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Microsoft Operations Manager\3.0\Machine Settings";

    fn parse(text: &str) -> Result<RegFile, RegistryError> {
        RegFile::parse(Path::new("t.reg"), text.as_bytes())
    }

    #[test]
    fn reads_strings_dwords_binaries_and_typed_values_with_continuations() {
        let f = parse(concat!(
            "Windows Registry Editor Version 5.00\r\n\r\n",
            "; exported\r\n",
            "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Microsoft Operations Manager\\3.0\\Machine Settings]\r\n",
            "\"ChannelCertificateSerialNumber\"=hex:d8,14,00,00,\\\r\n  00,00,8a,5c,92,16\r\n",
            "\"ChannelCertificateHash\"=\"ab\\\\cd\\\"e\"\r\n",
            "\"Count\"=dword:0000002a\r\n",
            "\"Multi\"=hex(7):61,00,00,00,00,00\r\n",
            "@=\"default\"\r\n",
        ))
        .unwrap();
        assert_eq!(
            f.get(KEY, "channelcertificateserialnumber"),
            Some(RegValue::Binary(vec![
                0xd8, 0x14, 0, 0, 0, 0, 0x8a, 0x5c, 0x92, 0x16
            ]))
        );
        assert_eq!(
            f.get(
                "HKLM\\software\\microsoft\\microsoft operations manager\\3.0\\machine settings",
                "ChannelCertificateHash"
            ),
            Some(RegValue::String("ab\\cd\"e".into()))
        );
        assert_eq!(f.get(KEY, "Count"), Some(RegValue::Dword(42)));
        assert_eq!(
            f.get(KEY, "Multi"),
            Some(RegValue::Typed {
                kind: 7,
                data: vec![0x61, 0, 0, 0, 0, 0]
            })
        );
        assert_eq!(f.get(KEY, ""), Some(RegValue::String("default".into())));
        assert_eq!(f.values(KEY).len(), 5);
    }

    #[test]
    fn later_lines_win_and_deletions_apply() {
        let f = parse(
            "REGEDIT4\n[HKEY_LOCAL_MACHINE\\A]\n\"x\"=\"1\"\n\"x\"=\"2\"\n\"y\"=\"1\"\n\"y\"=-\n[-HKEY_LOCAL_MACHINE\\A\\B]\n[HKEY_LOCAL_MACHINE\\A\\B]\n",
        )
        .unwrap();
        assert_eq!(f.get("HKLM\\A", "x"), Some(RegValue::String("2".into())));
        assert_eq!(f.get("HKLM\\A", "y"), None);
        let g =
            parse("REGEDIT4\n[HKEY_LOCAL_MACHINE\\A\\B]\n\"x\"=\"1\"\n[-HKEY_LOCAL_MACHINE\\A]\n")
                .unwrap();
        assert_eq!(g.get("HKLM\\A\\B", "x"), None);
    }

    #[test]
    fn changes_touch_only_their_lines_and_keep_encoding_and_line_ends() {
        let original = concat!(
            "Windows Registry Editor Version 5.00\n\n",
            "[HKEY_CURRENT_USER\\Other]\n\"Keep\"=\"me\" ; a comment\n\n",
            "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Microsoft Operations Manager\\3.0\\Machine Settings]\n",
            "\"ChannelCertificateSerialNumber\"=hex:01,02\n",
            "\"Unrelated\"=dword:00000001\n",
        );
        let mut f = parse(original).unwrap();
        assert_eq!(
            f.to_text(),
            original,
            "an unchanged file comes back byte for byte"
        );
        f.change(
            KEY,
            &[
                Change::Set {
                    name: "ChannelCertificateSerialNumber".into(),
                    value: RegValue::Binary((0..30).collect()),
                },
                Change::Set {
                    name: "ChannelCertificateHash".into(),
                    value: RegValue::String("AB".into()),
                },
            ],
        );
        let text = f.to_text();
        assert!(text.starts_with("Windows Registry Editor Version 5.00\n\n[HKEY_CURRENT_USER\\Other]\n\"Keep\"=\"me\" ; a comment\n"));
        assert!(text.contains("\"Unrelated\"=dword:00000001\n"));
        assert!(!text.contains("hex:01,02\n"));
        assert!(!text.contains('\r'));
        assert!(
            text.lines()
                .filter(|l| !l.starts_with('['))
                .all(|l| l.len() <= 80),
            "{text}"
        );
        let again = parse(&text).unwrap();
        assert_eq!(
            again.get(KEY, "ChannelCertificateSerialNumber"),
            Some(RegValue::Binary((0..30).collect()))
        );
        assert_eq!(
            again.get("HKCU\\Other", "Keep"),
            Some(RegValue::String("me".into()))
        );
        f.change(
            KEY,
            &[Change::Delete {
                name: "channelcertificatehash".into(),
            }],
        );
        assert_eq!(
            parse(&f.to_text())
                .unwrap()
                .get(KEY, "ChannelCertificateHash"),
            None
        );
    }

    #[test]
    fn a_new_file_is_utf16_like_regedit_and_reads_back() {
        let mut f = RegFile::new(Path::new("new.reg"));
        f.change(
            KEY,
            &[Change::Set {
                name: "N".into(),
                value: RegValue::Binary(vec![1]),
            }],
        );
        let bytes = f.to_bytes();
        assert_eq!(&bytes[..2], &[0xFF, 0xFE]);
        let back = RegFile::parse(Path::new("new.reg"), &bytes).unwrap();
        assert_eq!(back.encoding(), FileEncoding::Utf16Le);
        assert_eq!(back.get(KEY, "N"), Some(RegValue::Binary(vec![1])));
        assert!(back.to_text().contains("\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Microsoft Operations Manager\\3.0\\Machine Settings]\r\n\"N\"=hex:01\r\n"));
    }

    #[test]
    fn a_value_after_a_deleted_key_goes_into_a_new_section() {
        let mut f =
            parse("REGEDIT4\n[HKEY_LOCAL_MACHINE\\A]\n\"x\"=\"1\"\n[-HKEY_LOCAL_MACHINE\\A]\n")
                .unwrap();
        f.change(
            "HKLM\\A",
            &[Change::Set {
                name: "y".into(),
                value: RegValue::Dword(1),
            }],
        );
        let back = parse(&f.to_text()).unwrap();
        assert_eq!(back.get("HKLM\\A", "y"), Some(RegValue::Dword(1)));
        assert_eq!(back.get("HKLM\\A", "x"), None);
    }

    #[test]
    fn corrupt_files_name_the_line() {
        let cases = [
            ("hello\n", 1, "not a registry file"),
            ("", 1, "empty"),
            ("REGEDIT4\n\"x\"=\"1\"\n", 2, "before any [key]"),
            ("REGEDIT4\n[HKEY_LOCAL_MACHINE\\A\n", 2, "closing `]`"),
            (
                "REGEDIT4\n[HKEY_LOCAL_MACHINE\\A]\n\"x\"=hex:zz\n",
                3,
                "not a hex byte",
            ),
            (
                "REGEDIT4\n[HKEY_LOCAL_MACHINE\\A]\n\"x\"=dword:123456789\n",
                3,
                "1 to 8 hex digits",
            ),
            (
                "REGEDIT4\n[HKEY_LOCAL_MACHINE\\A]\n\"x\"=\"open\n",
                3,
                "no closing quote",
            ),
            (
                "REGEDIT4\n[HKEY_LOCAL_MACHINE\\A]\n\"x\"=what\n",
                3,
                "none of",
            ),
            ("REGEDIT4\n[HKEY_LOCAL_MACHINE\\A]\nstray\n", 3, "neither"),
        ];
        for (text, line, needle) in cases {
            match parse(text) {
                Err(RegistryError::Syntax {
                    line: l, message, ..
                }) => {
                    assert_eq!(l, line, "{text:?}: {message}");
                    assert!(message.contains(needle), "{text:?}: {message}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        assert!(RegFile::parse(Path::new("x"), &[0xFF, 0xFE, 0x41]).is_err());
        assert!(RegFile::parse(Path::new("x"), &[0xC3, 0x28]).is_err());
    }

    #[test]
    fn raw_bytes_round_trip() {
        for v in [
            RegValue::String("Zoë".into()),
            RegValue::Binary(vec![1, 2]),
            RegValue::Dword(7),
            RegValue::Typed {
                kind: 11,
                data: vec![0; 8],
            },
        ] {
            assert_eq!(RegValue::from_raw(v.kind(), v.raw_bytes()), v);
        }
    }
}
