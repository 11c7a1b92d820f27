//! A record of every HTTP request the server answered, for test assertions:
//! endpoint, user, status and (for submissions and fetches) the request ID
//! and disposition. Secrets (passwords, keys, request bodies) never go in.

use std::sync::Mutex;

use serde::Serialize;

use adcs_proto::clock::UnixTime;

/// One answered HTTP request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JournalEntry {
    pub seq: u64,
    pub time: UnixTime,
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// The account that was authenticated, if any.
    pub user: Option<String>,
    /// `basic`, `ntlm`, `negotiate`, `connection` (NTLM cached on the connection).
    pub auth: Option<String>,
    pub status: u16,
    pub request_id: Option<u32>,
    pub disposition: Option<String>,
    /// More about the answer: for SCEP, the operation or message type,
    /// transaction ID, pkiStatus and failInfo (and why, in words).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The fault injected into the answer, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

/// Append-only, in memory.
#[derive(Debug, Default)]
pub struct Journal {
    entries: Mutex<Vec<JournalEntry>>,
}

impl Journal {
    pub fn record(&self, mut e: JournalEntry) -> u64 {
        let mut v = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        e.seq = v.len() as u64 + 1;
        let seq = e.seq;
        v.push(e);
        seq
    }

    /// Entries with `seq > since`.
    pub fn since(&self, since: u64) -> Vec<JournalEntry> {
        let v = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        v.iter().filter(|e| e.seq > since).cloned().collect()
    }

    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
