//! The state directory: `authority.json` (seed, configuration, CA keys and
//! certificates), replaced atomically by write-then-rename, and `ca.db`,
//! the request table ([`crate::db::disk`]). A directory written by an
//! earlier version keeps its rows in `requests.jsonl`, a journal of JSON
//! lines; the first open moves them into `ca.db` and keeps the journal as
//! `requests.jsonl.migrated`.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use adcs_proto::atomic_file::{write_atomic, WriteError};

use crate::config::CaConfig;
use crate::db::disk::{self, DiskRows};
use crate::db::{b64 as base64_bytes, RequestRow};
pub use crate::db::{CrlRecord, StateError};
use crate::keys::KeyAlgorithm;
use adcs_proto::clock::UnixTime;
use adcs_proto::seed::Seed;

const AUTHORITY_FILE: &str = "authority.json";
const JOURNAL_FILE: &str = "requests.jsonl";
const MIGRATED_JOURNAL: &str = "requests.jsonl.migrated";
/// The table a migration fills, renamed to [`disk::FILE`] once complete.
const MIGRATING_FILE: &str = "ca.db.migrating";
/// The settings key of the template list an administrator changed.
pub const TEMPLATES_SETTING: &str = "templates";
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

/// One line of the journal an earlier version kept.
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
}

impl StateDir {
    /// True when `dir` already holds a CA.
    pub fn exists(dir: &Path) -> bool {
        dir.join(AUTHORITY_FILE).is_file()
    }

    /// Creates a new state directory for a freshly made CA.
    pub fn create(dir: &Path, authority: &AuthorityFile) -> Result<(Self, DiskRows), StateError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        // Left by a directory whose authority file never got written.
        remove_database(&dir.join(disk::FILE))?;
        let rows = DiskRows::open(&dir.join(disk::FILE))?;
        let state = StateDir {
            dir: dir.to_path_buf(),
        };
        state.write_authority(authority)?;
        Ok((state, rows))
    }

    /// Opens an existing directory: its authority and its table, moving an
    /// earlier version's journal into the table first.
    pub fn open(dir: &Path) -> Result<(Self, AuthorityFile, DiskRows), StateError> {
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
        migrate_journal(dir)?;
        let rows = DiskRows::open(&dir.join(disk::FILE))?;
        Ok((
            StateDir {
                dir: dir.to_path_buf(),
            },
            authority,
            rows,
        ))
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

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

/// Deletes a database file and its WAL companions, if present.
fn remove_database(path: &Path) -> Result<(), StateError> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let p = PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&p)(e)),
        }
    }
    Ok(())
}

/// Moves the rows, CRLs and templates of `requests.jsonl` into a new
/// table, renamed into place only once complete, then keeps the journal as
/// `requests.jsonl.migrated`. A crash at any point leaves either the
/// journal to migrate again or the complete table.
fn migrate_journal(dir: &Path) -> Result<(), StateError> {
    let journal = dir.join(JOURNAL_FILE);
    if !journal.is_file() {
        return Ok(());
    }
    let table = dir.join(disk::FILE);
    if !table.is_file() {
        let building = dir.join(MIGRATING_FILE);
        remove_database(&building)?;
        let filled = fill_from_journal(&journal, &building);
        if let Err(e) = filled {
            remove_database(&building)?;
            return Err(e);
        }
        std::fs::rename(&building, &table).map_err(io_err(&table))?;
    }
    let backup = dir.join(MIGRATED_JOURNAL);
    std::fs::rename(&journal, &backup).map_err(io_err(&backup))
}

/// Copies every record of the journal into a table at `path`, a batch of
/// rows per transaction; closed (checkpointed) when this returns.
fn fill_from_journal(journal: &Path, path: &Path) -> Result<(), StateError> {
    const BATCH: usize = 10_000;
    let mut rows = DiskRows::open(path)?;
    let mut batch = Vec::with_capacity(BATCH);
    let mut failed = None;
    read_journal(journal, |record| {
        if failed.is_some() {
            return;
        }
        let stored = match record {
            Record::Row(row) => {
                batch.push(*row);
                if batch.len() < BATCH {
                    return;
                }
                let r = rows.put_all(&batch);
                batch.clear();
                r
            }
            Record::Crl(c) => rows.save_crl(&c),
            Record::Templates { templates } => serde_json::to_string(&templates)
                .map_err(|e| StateError::Corrupt {
                    path: journal.to_path_buf(),
                    reason: e.to_string(),
                })
                .and_then(|t| rows.save_setting(TEMPLATES_SETTING, &t)),
        };
        failed = stored.err();
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    rows.put_all(&batch)
}

/// Reads the journal line by line (a large journal is never held in
/// memory whole). A last line without its newline was cut by a crash
/// before it was acknowledged: it is left out. A damaged line elsewhere
/// is an error naming it.
fn read_journal(path: &Path, mut each: impl FnMut(Record)) -> Result<(), StateError> {
    use std::io::BufRead;
    let file = File::open(path).map_err(io_err(path))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    let mut line_no = 0usize;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(io_err(path))?;
        if n == 0 || line.last() != Some(&b'\n') {
            return Ok(());
        }
        line_no += 1;
        let record =
            serde_json::from_slice::<Record>(&line[..n - 1]).map_err(|e| StateError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("line {line_no}: {e}"),
            })?;
        each(record);
    }
}
