//! The state directory: `authority.json` (seed, configuration, CA keys and
//! certificates), replaced atomically by write-then-rename, and
//! `requests.jsonl`, an append-only journal of row and CRL changes with an
//! fsync after every record. A record is acknowledged only after its fsync,
//! so killing the process at any instant loses nothing acknowledged; a torn
//! last line (the write that was cut) is dropped on the next open.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use adcs_proto::atomic_file::{write_atomic, WriteError};

use crate::config::CaConfig;
use crate::db::{b64 as base64_bytes, RequestRow};
use crate::keys::KeyAlgorithm;
use adcs_proto::clock::UnixTime;
use adcs_proto::seed::Seed;

const AUTHORITY_FILE: &str = "authority.json";
const JOURNAL_FILE: &str = "requests.jsonl";
const FORMAT_VERSION: u32 = 1;

/// A stored private key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredKey {
    pub algorithm: KeyAlgorithm,
    #[serde(with = "base64_bytes")]
    pub pkcs8: Vec<u8>,
}

/// A stored CA certificate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredCert {
    #[serde(with = "base64_bytes")]
    pub der: Vec<u8>,
    pub key_index: u16,
}

/// The root of a two-tier hierarchy.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredRoot {
    pub key: StoredKey,
    #[serde(with = "base64_bytes")]
    pub der: Vec<u8>,
}

/// Everything needed to bring the CA back exactly.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuthorityFile {
    pub format: u32,
    pub seed: Seed,
    pub created_at: UnixTime,
    pub config: CaConfig,
    pub root: Option<StoredRoot>,
    pub keys: Vec<StoredKey>,
    pub certs: Vec<StoredCert>,
}

impl AuthorityFile {
    /// A new file in the current format.
    pub fn new(seed: Seed, created_at: UnixTime, config: CaConfig) -> Self {
        AuthorityFile {
            format: FORMAT_VERSION,
            seed,
            created_at,
            config,
            root: None,
            keys: Vec::new(),
            certs: Vec::new(),
        }
    }
}

/// A published CRL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrlRecord {
    pub key_index: u16,
    pub delta: bool,
    pub number: u64,
    pub this_update: UnixTime,
    #[serde(with = "base64_bytes")]
    pub der: Vec<u8>,
}

/// One journal line.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    Row(Box<RequestRow>),
    Crl(CrlRecord),
    /// The whole template list after an administrator changed it (the
    /// last one wins on open).
    Templates {
        templates: Vec<crate::template::Template>,
    },
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

impl From<WriteError> for StateError {
    fn from(e: WriteError) -> Self {
        StateError::Io {
            path: e.path,
            source: e.source,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An open state directory.
#[derive(Debug)]
pub struct StateDir {
    dir: PathBuf,
    journal: File,
}

impl StateDir {
    /// True when `dir` already holds a CA.
    pub fn exists(dir: &Path) -> bool {
        dir.join(AUTHORITY_FILE).is_file()
    }

    /// Creates a new state directory for a freshly made CA.
    pub fn create(dir: &Path, authority: &AuthorityFile) -> Result<Self, StateError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let journal_path = dir.join(JOURNAL_FILE);
        write_atomic(&journal_path, b"")?;
        let state = Self::open_journal(dir)?;
        state.write_authority(authority)?;
        Ok(state)
    }

    fn open_journal(dir: &Path) -> Result<Self, StateError> {
        let path = dir.join(JOURNAL_FILE);
        let journal = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_err(&path))?;
        Ok(StateDir {
            dir: dir.to_path_buf(),
            journal,
        })
    }

    /// Opens an existing directory: the authority, and every journal
    /// record handed to `each` in order (so that a large journal is never
    /// held whole).
    pub fn open(dir: &Path, each: impl FnMut(Record)) -> Result<(Self, AuthorityFile), StateError> {
        let apath = dir.join(AUTHORITY_FILE);
        let text = std::fs::read_to_string(&apath).map_err(io_err(&apath))?;
        let authority: AuthorityFile =
            serde_json::from_str(&text).map_err(|e| StateError::Corrupt {
                path: apath.clone(),
                reason: e.to_string(),
            })?;
        if authority.format != FORMAT_VERSION {
            return Err(StateError::Corrupt {
                path: apath,
                reason: format!(
                    "format {} is not supported (this build reads {FORMAT_VERSION})",
                    authority.format
                ),
            });
        }
        let mut state = Self::open_journal(dir)?;
        state.read_journal(each)?;
        Ok((state, authority))
    }

    /// Reads the journal line by line (a large journal is never held in
    /// memory whole). A last line without its newline was cut by a crash
    /// before it was acknowledged: it is dropped and the file truncated.
    fn read_journal(&mut self, mut each: impl FnMut(Record)) -> Result<(), StateError> {
        use std::io::BufRead;
        let path = self.dir.join(JOURNAL_FILE);
        self.journal
            .seek(SeekFrom::Start(0))
            .map_err(io_err(&path))?;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, &self.journal);
        let mut line = Vec::new();
        let mut offset = 0u64;
        let mut line_no = 0usize;
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(io_err(&path))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            if line.last() != Some(&b'\n') {
                drop(reader);
                self.journal.set_len(offset).map_err(io_err(&path))?;
                self.journal.sync_data().map_err(io_err(&path))?;
                break;
            }
            let record = serde_json::from_slice::<Record>(&line[..n - 1]).map_err(|e| {
                StateError::Corrupt {
                    path: path.clone(),
                    reason: format!("line {line_no}: {e}"),
                }
            })?;
            each(record);
            offset += n as u64;
        }
        Ok(())
    }

    /// Appends a record and waits until it is on disk.
    pub fn append(&mut self, record: &Record) -> Result<(), StateError> {
        let path = self.dir.join(JOURNAL_FILE);
        let mut line = serde_json::to_vec(record).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        line.push(b'\n');
        self.journal.write_all(&line).map_err(io_err(&path))?;
        self.journal.sync_data().map_err(io_err(&path))
    }

    /// Replaces `authority.json`.
    pub fn write_authority(&self, authority: &AuthorityFile) -> Result<(), StateError> {
        let path = self.dir.join(AUTHORITY_FILE);
        let text = serde_json::to_vec_pretty(authority).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        Ok(write_atomic(&path, &text)?)
    }

    /// Starts over: a new authority file and an empty journal.
    pub fn reset(&mut self, authority: &AuthorityFile) -> Result<(), StateError> {
        // Emptied in place: Windows refuses to rename over a file that is
        // open, as the journal is. Appends start again at its beginning.
        let path = self.dir.join(JOURNAL_FILE);
        self.journal.set_len(0).map_err(io_err(&path))?;
        self.journal.sync_all().map_err(io_err(&path))?;
        self.write_authority(authority)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}
