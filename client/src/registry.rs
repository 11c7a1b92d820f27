//! The registry that holds SCOM's certificate configuration: a `.reg` file
//! in regedit's export format (`Windows Registry Editor Version 5.00`, which
//! `reg import` accepts) on any OS, or the real registry on Windows.
//!
//! A `.reg` file is read and rewritten faithfully: every line that a change
//! does not touch (other keys and values, comments, blank lines, the
//! encoding and line ends) comes back byte for byte, and the file is
//! replaced through a temporary file, so a failed step changes nothing.

use std::fmt;
use std::path::{Path, PathBuf};

/// `HKEY_LOCAL_MACHINE` as `.reg` files spell it.
pub const HKLM: &str = "HKEY_LOCAL_MACHINE";

/// Data of one registry value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegValue {
    /// REG_SZ.
    String(String),
    /// REG_BINARY.
    Binary(Vec<u8>),
    /// REG_DWORD.
    Dword(u32),
    /// Any other type, `hex(N):` in a `.reg` file (N = the REG_* number).
    Typed { kind: u32, data: Vec<u8> },
}

impl RegValue {
    /// The REG_* type number.
    pub fn kind(&self) -> u32 {
        match self {
            RegValue::String(_) => 1,
            RegValue::Binary(_) => 3,
            RegValue::Dword(_) => 4,
            RegValue::Typed { kind, .. } => *kind,
        }
    }

    /// The value's bytes as the registry stores them (REG_SZ as UTF-16 LE
    /// with its terminating NUL).
    pub fn raw_bytes(&self) -> Vec<u8> {
        match self {
            RegValue::String(s) => s
                .encode_utf16()
                .chain(std::iter::once(0))
                .flat_map(u16::to_le_bytes)
                .collect(),
            RegValue::Binary(b) | RegValue::Typed { data: b, .. } => b.clone(),
            RegValue::Dword(d) => d.to_le_bytes().to_vec(),
        }
    }

    /// The value from a REG_* type and raw bytes.
    pub fn from_raw(kind: u32, data: Vec<u8>) -> RegValue {
        match kind {
            1 => {
                let units: Vec<u16> = data
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                let end = units.iter().position(|u| *u == 0).unwrap_or(units.len());
                RegValue::String(String::from_utf16_lossy(&units[..end]))
            }
            3 => RegValue::Binary(data),
            4 if data.len() == 4 => {
                RegValue::Dword(u32::from_le_bytes([data[0], data[1], data[2], data[3]]))
            }
            _ => RegValue::Typed { kind, data },
        }
    }
}

/// A change to one value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Set { name: String, value: RegValue },
    Delete { name: String },
}

/// Why the registry could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: the registry file does not exist (nothing has been imported yet, or the path is wrong)")]
    Missing { path: PathBuf },
    #[error("the Windows registry: {0}")]
    System(String),
}

/// A place SCOM's configuration lives: the registry, or a file standing in
/// for it. Changes to one key are applied all together or not at all.
pub trait Registry {
    /// What this is, for messages (`registry file adcs-store/registry.reg`).
    fn describe(&self) -> String;
    /// One value of `key` (a full path such as `HKEY_LOCAL_MACHINE\SOFTWARE\…`).
    fn value(&self, key: &str, name: &str) -> Result<Option<RegValue>, RegistryError>;
    /// Applies `changes` to `key`, creating it when needed.
    fn apply(&mut self, key: &str, changes: &[Change]) -> Result<(), RegistryError>;
}

/// Key paths compare case-insensitively, with `HKLM\` for `HKEY_LOCAL_MACHINE\`.
fn normalise_key(key: &str) -> String {
    let key = key.trim().trim_matches('\\');
    let (hive, rest) = key.split_once('\\').unwrap_or((key, ""));
    let hive = match hive.to_ascii_uppercase().as_str() {
        "HKLM" => "HKEY_LOCAL_MACHINE".to_string(),
        "HKCU" => "HKEY_CURRENT_USER".to_string(),
        "HKCR" => "HKEY_CLASSES_ROOT".to_string(),
        "HKU" => "HKEY_USERS".to_string(),
        "HKCC" => "HKEY_CURRENT_CONFIG".to_string(),
        other => other.to_string(),
    };
    if rest.is_empty() {
        hive
    } else {
        format!("{hive}\\{}", rest.to_lowercase())
    }
}

/// Whether `key` is `ancestor` or below it.
fn is_within(key: &str, ancestor: &str) -> bool {
    key == ancestor
        || key
            .strip_prefix(ancestor)
            .is_some_and(|r| r.starts_with('\\'))
}

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

    /// Replaces the file through a temporary file in the same folder.
    pub fn write(&self) -> Result<(), RegistryError> {
        let io = |source| RegistryError::Io {
            path: self.path.clone(),
            source,
        };
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io)?;
        std::io::Write::write_all(&mut tmp, &self.to_bytes()).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&self.path).map_err(|e| io(e.error))?;
        Ok(())
    }
}

impl fmt::Display for RegFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// A `.reg` file used as the registry: read for every question, rewritten
/// whole for every change.
#[derive(Clone, Debug)]
pub struct FileRegistry {
    path: PathBuf,
}

impl FileRegistry {
    pub fn new(path: &Path) -> FileRegistry {
        FileRegistry {
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The parsed file (an error when it is missing or corrupt).
    pub fn load(&self) -> Result<RegFile, RegistryError> {
        RegFile::read(&self.path)
    }
}

impl Registry for FileRegistry {
    fn describe(&self) -> String {
        format!("registry file {}", self.path.display())
    }

    fn value(&self, key: &str, name: &str) -> Result<Option<RegValue>, RegistryError> {
        Ok(self.load()?.get(key, name))
    }

    fn apply(&mut self, key: &str, changes: &[Change]) -> Result<(), RegistryError> {
        let mut file = RegFile::read_or_new(&self.path)?;
        file.change(key, changes);
        file.write()
    }
}

/// The real registry (Windows only).
#[cfg(windows)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemRegistry;

#[cfg(windows)]
impl SystemRegistry {
    fn open(key: &str, write: bool) -> Result<Option<winreg::RegKey>, RegistryError> {
        use winreg::enums::*;
        let norm = key.trim().trim_matches('\\');
        let (hive, rest) = norm.split_once('\\').unwrap_or((norm, ""));
        let root = match hive.to_ascii_uppercase().as_str() {
            "HKLM" | "HKEY_LOCAL_MACHINE" => HKEY_LOCAL_MACHINE,
            "HKCU" | "HKEY_CURRENT_USER" => HKEY_CURRENT_USER,
            other => return Err(RegistryError::System(format!("unsupported hive `{other}`"))),
        };
        let root = winreg::RegKey::predef(root);
        if write {
            root.create_subkey(rest)
                .map(|(k, _)| Some(k))
                .map_err(|e| RegistryError::System(format!("{key}: {e}")))
        } else {
            match root.open_subkey(rest) {
                Ok(k) => Ok(Some(k)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(RegistryError::System(format!("{key}: {e}"))),
            }
        }
    }
}

#[cfg(windows)]
impl Registry for SystemRegistry {
    fn describe(&self) -> String {
        "the Windows registry".into()
    }

    fn value(&self, key: &str, name: &str) -> Result<Option<RegValue>, RegistryError> {
        let Some(k) = SystemRegistry::open(key, false)? else {
            return Ok(None);
        };
        match k.get_raw_value(name) {
            Ok(v) => Ok(Some(RegValue::from_raw(v.vtype as u32, v.bytes.to_vec()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RegistryError::System(format!("{key}\\{name}: {e}"))),
        }
    }

    fn apply(&mut self, key: &str, changes: &[Change]) -> Result<(), RegistryError> {
        let k = SystemRegistry::open(key, true)?.expect("created");
        for change in changes {
            match change {
                Change::Set { name, value } => {
                    let vtype = match value.kind() {
                        1 => winreg::enums::RegType::REG_SZ,
                        3 => winreg::enums::RegType::REG_BINARY,
                        4 => winreg::enums::RegType::REG_DWORD,
                        other => {
                            return Err(RegistryError::System(format!(
                                "value type {other} is not written by this tool"
                            )))
                        }
                    };
                    let raw = winreg::RegValue {
                        vtype,
                        bytes: value.raw_bytes().into(),
                    };
                    k.set_raw_value(name, &raw)
                        .map_err(|e| RegistryError::System(format!("{key}\\{name}: {e}")))?;
                }
                Change::Delete { name } => match k.delete_value(name) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(RegistryError::System(format!("{key}\\{name}: {e}"))),
                },
            }
        }
        Ok(())
    }
}

fn other(line: &str) -> Record {
    Record {
        text: vec![line.to_string()],
        meaning: Meaning::Other,
    }
}

fn clip(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

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

fn is_hex_data(logical: &str) -> bool {
    let rest = match logical.strip_prefix('@') {
        Some(r) => Some(r),
        None => logical
            .strip_prefix('"')
            .and_then(|s| unquote(s))
            .map(|(_, r)| r),
    };
    rest.and_then(|r| r.trim_start().strip_prefix('='))
        .is_some_and(|d| d.trim_start().to_ascii_lowercase().starts_with("hex"))
}

/// Reads a quoted string starting after its opening quote; returns the text
/// and the rest after the closing quote.
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => out.push(e),
                None => return None,
            },
            '"' => return Some((out, &s[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

fn parse_value(line: &str) -> Result<(String, Option<RegValue>), String> {
    let (name, rest) = if let Some(r) = line.strip_prefix('@') {
        (String::new(), r)
    } else {
        let inner = &line[1..];
        unquote(inner)
            .ok_or_else(|| format!("value name in `{}` has no closing quote", clip(line)))?
    };
    let shown = if name.is_empty() {
        "@".to_string()
    } else {
        name.clone()
    };
    let data = rest
        .trim_start()
        .strip_prefix('=')
        .ok_or_else(|| format!("value `{shown}` has no `=`"))?
        .trim();
    if data == "-" {
        return Ok((name, None));
    }
    if let Some(s) = data.strip_prefix('"') {
        let (text, tail) = unquote(s)
            .ok_or_else(|| format!("the string of value `{shown}` has no closing quote"))?;
        if !tail.trim().is_empty() && !tail.trim().starts_with(';') {
            return Err(format!(
                "value `{shown}` has `{}` after its closing quote",
                clip(tail.trim())
            ));
        }
        return Ok((name, Some(RegValue::String(text))));
    }
    let lower = data.to_ascii_lowercase();
    if let Some(d) = lower.strip_prefix("dword:") {
        let d = d.trim();
        if d.is_empty() || d.len() > 8 {
            return Err(format!(
                "value `{shown}`: dword `{d}` is not 1 to 8 hex digits"
            ));
        }
        let v = u32::from_str_radix(d, 16)
            .map_err(|_| format!("value `{shown}`: dword `{d}` is not hex"))?;
        return Ok((name, Some(RegValue::Dword(v))));
    }
    let (kind, hex) = if let Some(h) = lower.strip_prefix("hex:") {
        (3, h)
    } else if let Some(h) = lower.strip_prefix("hex(") {
        let (k, h) = h
            .split_once("):")
            .ok_or_else(|| format!("value `{shown}`: `hex(` needs `N):`"))?;
        let k = u32::from_str_radix(k.trim(), 16)
            .map_err(|_| format!("value `{shown}`: type `hex({k})` is not a hex number"))?;
        (k, h)
    } else {
        return Err(format!(
            "value `{shown}` has data `{}` that is none of \"string\", dword:, hex: or hex(N):",
            clip(data)
        ));
    };
    let mut bytes = Vec::new();
    for part in hex.split(',').map(str::trim) {
        if part.is_empty() {
            continue;
        }
        let b = (part.len() <= 2)
            .then(|| u8::from_str_radix(part, 16).ok())
            .flatten()
            .ok_or_else(|| format!("value `{shown}`: `{part}` is not a hex byte"))?;
        bytes.push(b);
    }
    let value = if kind == 3 {
        RegValue::Binary(bytes)
    } else {
        RegValue::Typed { kind, data: bytes }
    };
    Ok((name, Some(value)))
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A key path as written in a new `[KEY]` line: the full hive name.
fn display_key(key: &str) -> String {
    let key = key.trim().trim_matches('\\');
    let (hive, rest) = key.split_once('\\').unwrap_or((key, ""));
    let full = normalise_key(hive);
    if rest.is_empty() {
        full
    } else {
        format!("{full}\\{rest}")
    }
}

/// The lines regedit writes for a value: hex data wrapped below 80 columns
/// with a trailing backslash and two spaces of indent.
fn value_lines(name: &str, value: &RegValue) -> Vec<String> {
    let name = if name.is_empty() {
        "@".to_string()
    } else {
        quote(name)
    };
    let (prefix, bytes) = match value {
        RegValue::String(s) => return vec![format!("{name}={}", quote(s))],
        RegValue::Dword(d) => return vec![format!("{name}=dword:{d:08x}")],
        RegValue::Binary(b) => (format!("{name}=hex:"), b),
        RegValue::Typed { kind, data } => (format!("{name}=hex({kind:x}):"), data),
    };
    let mut lines = Vec::new();
    let mut current = prefix;
    for (i, b) in bytes.iter().enumerate() {
        let piece = if i + 1 < bytes.len() {
            format!("{b:02x},")
        } else {
            format!("{b:02x}")
        };
        if current.len() + piece.len() > 78 {
            current.push('\\');
            lines.push(std::mem::replace(&mut current, "  ".into()));
        }
        current.push_str(&piece);
    }
    lines.push(current);
    lines
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
