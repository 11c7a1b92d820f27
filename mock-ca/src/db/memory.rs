//! The in-memory table: what a CA without a state directory keeps, and the
//! fastest. IDs are handed out in sequence, so row `id` sits at index `id`
//! of a vector (an ID whose submission was never recorded stays empty): no
//! hashing, no load-factor slack, and listing is in ID order without a sort.

use std::collections::HashMap;

use super::{normalize_serial, CrlCandidate, RequestRow, RowQuery};

#[derive(Clone, Debug, Default)]
pub struct MemoryRows {
    rows: Vec<Option<RequestRow>>,
    by_serial: HashMap<String, u32>,
}

impl MemoryRows {
    /// Inserts or replaces a row.
    pub fn put(&mut self, row: RequestRow) {
        if let Some(s) = &row.serial {
            self.by_serial.insert(s.clone(), row.id);
        }
        let at = row.id as usize;
        if self.rows.len() <= at {
            self.rows.resize_with(at + 1, || None);
        }
        self.rows[at] = Some(row);
    }

    pub fn get(&self, id: u32) -> Option<&RequestRow> {
        self.rows.get(id as usize).and_then(Option::as_ref)
    }

    pub fn by_serial(&self, serial: &str) -> Option<&RequestRow> {
        let key = normalize_serial(serial);
        self.by_serial.get(&key).and_then(|id| self.get(*id))
    }

    /// The rows `q` selects, in its order.
    pub fn query(&self, q: &RowQuery) -> Vec<RequestRow> {
        let start = q.after.map_or(0, |a| a as usize + 1).min(self.rows.len());
        let end = q
            .before
            .map_or(self.rows.len(), |b| (b as usize).min(self.rows.len()));
        let range = self
            .rows
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .flatten();
        let limit = q.limit.unwrap_or(usize::MAX);
        if q.newest_first {
            range
                .rev()
                .filter(|r| q.matches(r))
                .take(limit)
                .cloned()
                .collect()
        } else {
            range
                .filter(|r| q.matches(r))
                .take(limit)
                .cloned()
                .collect()
        }
    }

    /// How many rows `q` selects, ignoring its paging.
    pub fn count(&self, q: &RowQuery) -> usize {
        self.rows.iter().flatten().filter(|r| q.matches(r)).count()
    }

    /// Rows of `key_index` a CRL may name: revoked, or released from hold.
    pub fn crl_candidates(&self, key_index: u16) -> Vec<CrlCandidate> {
        self.rows
            .iter()
            .flatten()
            .filter(|r| r.ca_key_index == Some(key_index))
            .filter_map(CrlCandidate::of)
            .collect()
    }
}
