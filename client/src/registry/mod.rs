//! The registry that holds SCOM's certificate configuration: a `.reg` file
//! in regedit's export format (`Windows Registry Editor Version 5.00`, which
//! `reg import` accepts) on any OS, or the real registry on Windows.
//!
//! A `.reg` file is read and rewritten faithfully: every line that a change
//! does not touch (other keys and values, comments, blank lines, the
//! encoding and line ends) comes back byte for byte, and the file is
//! replaced through a temporary file, so a failed step changes nothing.
//!
//! `regfile` reads and rewrites the file, `value_syntax` reads and writes
//! one value line, `key_path` compares key paths, `system` is Windows'.

mod key_path;
mod regfile;
#[cfg(windows)]
mod system;
mod value_syntax;

use std::path::{Path, PathBuf};

pub use regfile::{FileEncoding, RegFile, HEADER_V4, HEADER_V5};
#[cfg(windows)]
pub use system::SystemRegistry;

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
