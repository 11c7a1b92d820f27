//! The table of a state directory: `ca.db`, SQLite in WAL mode with
//! `synchronous = FULL`, so a row is on disk (its WAL frame synced) before
//! the write returns and a process killed at any instant loses nothing it
//! acknowledged. Opening reads nothing but the largest request ID; rows
//! are read when asked for, through indexes by ID, serial, requester,
//! template, disposition and dates, so memory holds only SQLite's page
//! cache.
//!
//! A row is stored as columns for what is searched (and the CRL's fields),
//! the request and certificate as blobs, and the rest as JSON.

use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{CrlCandidate, CrlRecord, RequestRow, Revocation, RowQuery, StateError};

/// The database file in a state directory.
pub const FILE: &str = "ca.db";

/// The schema's version, kept in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE requests (
    id INTEGER PRIMARY KEY,
    disposition TEXT NOT NULL,
    requester TEXT NOT NULL COLLATE NOCASE,
    template TEXT COLLATE NOCASE,
    serial TEXT,
    submitted_at INTEGER NOT NULL,
    resolved_at INTEGER,
    not_after INTEGER,
    ca_key_index INTEGER,
    revoked_at INTEGER,
    reason TEXT,
    hold_released_at INTEGER,
    request BLOB NOT NULL,
    certificate BLOB,
    details TEXT NOT NULL
);
CREATE INDEX requests_by_serial ON requests(serial) WHERE serial IS NOT NULL;
CREATE INDEX requests_by_disposition ON requests(disposition, id);
CREATE INDEX requests_by_requester ON requests(requester, id);
CREATE INDEX requests_by_template ON requests(template, id);
CREATE INDEX requests_by_submitted ON requests(submitted_at);
CREATE INDEX requests_by_resolved ON requests(resolved_at) WHERE resolved_at IS NOT NULL;
CREATE INDEX requests_for_crl ON requests(ca_key_index)
    WHERE revoked_at IS NOT NULL OR hold_released_at IS NOT NULL;
CREATE TABLE crls (
    key_index INTEGER NOT NULL,
    delta INTEGER NOT NULL,
    number INTEGER NOT NULL,
    this_update INTEGER NOT NULL,
    der BLOB NOT NULL,
    PRIMARY KEY (key_index, delta)
);
CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
";

/// The open database.
#[derive(Debug)]
pub struct DiskRows {
    conn: Connection,
    path: PathBuf,
    max_id: u32,
}

impl DiskRows {
    /// Opens `path`, making the file and its schema when it is new.
    pub fn open(path: &Path) -> Result<DiskRows, StateError> {
        let err = sql_err(path);
        let conn = Connection::open(path).map_err(&err)?;
        hold_alone(&conn, path)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(&err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(&err)?;
        // 8 MB of pages: the hot part of the indexes, not the table.
        conn.pragma_update(None, "cache_size", -8000)
            .map_err(&err)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(&err)?;
        match version {
            0 => {
                conn.execute_batch(&format!(
                    "BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                ))
                .map_err(&err)?;
            }
            SCHEMA_VERSION => {}
            v => {
                return Err(StateError::Corrupt {
                    path: path.to_path_buf(),
                    reason: format!(
                        "schema version {v} is not supported (this build reads {SCHEMA_VERSION})"
                    ),
                })
            }
        }
        // The primary key's last entry: no scan, whatever the size.
        let max_id: i64 = conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM requests", [], |r| {
                r.get(0)
            })
            .map_err(&err)?;
        Ok(DiskRows {
            conn,
            path: path.to_path_buf(),
            max_id: max_id as u32,
        })
    }

    /// Inserts or replaces a row; on disk when this returns.
    pub fn put(&mut self, row: &RequestRow) -> Result<(), StateError> {
        insert(&self.conn, row).map_err(sql_err(&self.path))?;
        self.max_id = self.max_id.max(row.id);
        Ok(())
    }

    /// Many rows in one transaction (a migration): all or none.
    pub fn put_all(&mut self, rows: &[RequestRow]) -> Result<(), StateError> {
        let path = self.path.clone();
        let err = sql_err(&path);
        let tx = self.conn.transaction().map_err(&err)?;
        for row in rows {
            insert(&tx, row).map_err(&err)?;
        }
        tx.commit().map_err(&err)?;
        let last = rows.iter().map(|r| r.id).max().unwrap_or(0);
        self.max_id = self.max_id.max(last);
        Ok(())
    }

    pub fn get(&self, id: u32) -> Result<Option<RequestRow>, StateError> {
        self.one("WHERE id = ?1", Value::Integer(id.into()))
    }

    /// The row whose certificate has this serial (already normalized).
    pub fn by_serial(&self, serial: &str) -> Result<Option<RequestRow>, StateError> {
        self.one(
            "WHERE serial = ?1 ORDER BY id DESC LIMIT 1",
            Value::Text(serial.to_string()),
        )
    }

    fn one(&self, tail: &str, key: Value) -> Result<Option<RequestRow>, StateError> {
        let sql = format!("SELECT {COLUMNS} FROM requests {tail}");
        let err = sql_err(&self.path);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(&err)?;
        stmt.query_row([key], read_row).optional().map_err(&err)
    }

    /// The rows `q` selects, in its order.
    pub fn query(&self, q: &RowQuery) -> Result<Vec<RequestRow>, StateError> {
        let (filter, mut values) = where_clause(q, true);
        let order = if q.newest_first { "DESC" } else { "ASC" };
        let limit = q.limit.map_or(-1, |l| l.min(i64::MAX as usize) as i64);
        values.push(Value::Integer(limit));
        let sql = format!(
            "SELECT {COLUMNS} FROM requests {filter} ORDER BY id {order} LIMIT ?{}",
            values.len()
        );
        let err = sql_err(&self.path);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(&err)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values), read_row)
            .map_err(&err)?;
        rows.collect::<Result<_, _>>().map_err(&err)
    }

    /// How many rows `q` selects, ignoring its paging.
    pub fn count(&self, q: &RowQuery) -> Result<usize, StateError> {
        let (filter, values) = where_clause(q, false);
        let sql = format!("SELECT COUNT(*) FROM requests {filter}");
        let err = sql_err(&self.path);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(&err)?;
        let n: i64 = stmt
            .query_row(rusqlite::params_from_iter(values), |r| r.get(0))
            .map_err(&err)?;
        Ok(n as usize)
    }

    /// Rows of `key_index` a CRL may name, from the CRL index alone.
    pub fn crl_candidates(&self, key_index: u16) -> Result<Vec<CrlCandidate>, StateError> {
        let err = sql_err(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT serial, not_after, revoked_at, reason, hold_released_at FROM requests
                 WHERE ca_key_index = ?1 AND (revoked_at IS NOT NULL OR hold_released_at IS NOT NULL)
                 AND serial IS NOT NULL ORDER BY id",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map([key_index], |r| {
                let revocation = match (r.get::<_, Option<i64>>(2)?, r.get::<_, Option<String>>(3)?)
                {
                    (Some(revoked_at), Some(reason)) => Some(Revocation {
                        reason: reason.parse().map_err(|e: String| {
                            rusqlite::Error::FromSqlConversionFailure(
                                3,
                                rusqlite::types::Type::Text,
                                e.into(),
                            )
                        })?,
                        revoked_at,
                    }),
                    _ => None,
                };
                Ok(CrlCandidate {
                    serial: r.get(0)?,
                    not_after: r.get(1)?,
                    revocation,
                    hold_released_at: r.get(4)?,
                })
            })
            .map_err(&err)?;
        rows.collect::<Result<_, _>>().map_err(&err)
    }

    /// Every stored CRL.
    pub fn crls(&self) -> Result<Vec<CrlRecord>, StateError> {
        let err = sql_err(&self.path);
        let mut stmt = self
            .conn
            .prepare("SELECT key_index, delta, number, this_update, der FROM crls")
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(CrlRecord {
                    key_index: r.get(0)?,
                    delta: r.get(1)?,
                    number: r.get::<_, i64>(2)? as u64,
                    this_update: r.get(3)?,
                    der: r.get(4)?,
                })
            })
            .map_err(&err)?;
        rows.collect::<Result<_, _>>().map_err(&err)
    }

    /// Keeps a published CRL (replacing the last of its kind).
    pub fn save_crl(&mut self, c: &CrlRecord) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO crls (key_index, delta, number, this_update, der)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![c.key_index, c.delta, c.number as i64, c.this_update, c.der],
            )
            .map_err(sql_err(&self.path))?;
        Ok(())
    }

    /// A named setting (JSON), if one was saved.
    pub fn setting(&self, name: &str) -> Result<Option<String>, StateError> {
        self.conn
            .query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql_err(&self.path))
    }

    pub fn save_setting(&mut self, name: &str, value: &str) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO settings (name, value) VALUES (?1, ?2)",
                [name, value],
            )
            .map_err(sql_err(&self.path))?;
        Ok(())
    }

    /// Bounds the file at its present size plus `bytes` (`None`: unbound);
    /// past it SQLite answers SQLITE_FULL, as it does for ENOSPC.
    pub fn bound_growth(&mut self, bytes: Option<u64>) -> Result<(), StateError> {
        let err = sql_err(&self.path);
        let pages = match bytes {
            Some(b) => {
                let size: i64 = self
                    .conn
                    .pragma_query_value(None, "page_size", |r| r.get(0))
                    .map_err(&err)?;
                let count: i64 = self
                    .conn
                    .pragma_query_value(None, "page_count", |r| r.get(0))
                    .map_err(&err)?;
                count + (b as i64 / size.max(1))
            }
            None => 0xFFFF_FFFE,
        };
        self.conn
            .pragma_update(None, "max_page_count", pages)
            .map_err(&err)
    }

    /// Empties every table in one transaction.
    pub fn clear(&mut self) -> Result<(), StateError> {
        self.conn
            .execute_batch(
                "BEGIN; DELETE FROM requests; DELETE FROM crls; DELETE FROM settings; COMMIT;",
            )
            .map_err(sql_err(&self.path))?;
        self.max_id = 0;
        Ok(())
    }

    pub fn max_id(&self) -> u32 {
        self.max_id
    }
}

/// Takes the file for this connection alone, for as long as it is open:
/// two processes handing out request IDs from one table would give the
/// same ID twice. A second opener is told at once who to stop.
fn hold_alone(conn: &Connection, path: &Path) -> Result<(), StateError> {
    let err = sql_err(path);
    // rusqlite waits 5 s for a busy file by default; the holder will not let go.
    conn.busy_timeout(std::time::Duration::ZERO).map_err(&err)?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .map_err(&err)?;
    match conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;") {
        Ok(()) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            Err(StateError::Corrupt {
                path: path.to_path_buf(),
                reason: "another process has this state directory open (a running `serve`, \
                         or a `ca --state-dir` verb); stop it, or reach a running server \
                         with `ca --ready-file`"
                    .into(),
            })
        }
        Err(e) => Err(err(e)),
    }
}

/// The columns [`read_row`] reads, in its order.
const COLUMNS: &str = "id, request, certificate, details";

/// Writes one row, replacing the one with its ID.
fn insert(conn: &Connection, row: &RequestRow) -> rusqlite::Result<()> {
    // The blobs have their own columns; the JSON keeps the rest.
    let bare = RequestRow {
        request: Vec::new(),
        certificate: None,
        ..row.clone()
    };
    let details = serde_json::to_string(&bare)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let revocation = row.revocation.as_ref();
    conn.prepare_cached(
        "INSERT OR REPLACE INTO requests (id, disposition, requester, template, serial,
         submitted_at, resolved_at, not_after, ca_key_index, revoked_at, reason,
         hold_released_at, request, certificate, details)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        row.id,
        row.disposition.as_str(),
        row.requester.account,
        row.template,
        row.serial,
        row.submitted_at,
        row.resolved_at,
        row.not_after,
        row.ca_key_index,
        revocation.map(|r| r.revoked_at),
        revocation.map(|r| r.reason.as_str()),
        row.hold_released_at,
        row.request,
        row.certificate,
        details,
    ])?;
    Ok(())
}

fn read_row(r: &Row<'_>) -> rusqlite::Result<RequestRow> {
    let details: String = r.get(3)?;
    let mut row: RequestRow = serde_json::from_str(&details).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, e.into())
    })?;
    row.id = r.get(0)?;
    row.request = r.get(1)?;
    row.certificate = r.get(2)?;
    Ok(row)
}

/// The SQL condition and its values for `q` (`paged`: with `after`/`before`).
fn where_clause(q: &RowQuery, paged: bool) -> (String, Vec<Value>) {
    let mut terms: Vec<String> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    if !q.dispositions.is_empty() {
        let list = q
            .dispositions
            .iter()
            .map(|d| format!("'{}'", d.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        terms.push(format!("disposition IN ({list})"));
    }
    let mut term = |sql: &str, v: Value| {
        values.push(v);
        terms.push(sql.replace('?', &format!("?{}", values.len())));
    };
    if let Some(who) = &q.requester {
        term("requester = ?", Value::Text(who.clone()));
    }
    if let Some(t) = &q.template {
        term("template = ?", Value::Text(t.clone()));
    }
    if let Some(t) = q.submitted_since {
        term("submitted_at >= ?", Value::Integer(t));
    }
    if let Some(t) = q.submitted_until {
        term("submitted_at < ?", Value::Integer(t));
    }
    if paged {
        if let Some(a) = q.after {
            term("id > ?", Value::Integer(a.into()));
        }
        if let Some(b) = q.before {
            term("id < ?", Value::Integer(b.into()));
        }
    }
    let sql = if terms.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", terms.join(" AND "))
    };
    (sql, values)
}

fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> StateError + '_ {
    move |e| match e {
        rusqlite::Error::SqliteFailure(code, _) if code.code == rusqlite::ErrorCode::DiskFull => {
            StateError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "the disk is full; the request was not recorded",
                ),
            }
        }
        e => StateError::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
    }
}
