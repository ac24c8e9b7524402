//! Durable state: what a [`Tower`](crate::Tower) or a
//! [`TowerClient`](crate::TowerClient) must find again after a restart,
//! as key/value records the host writes (sans-IO: the crate names the
//! changes, the host's store makes them durable).
//!
//! Both sides hand out their changes ([`Change`]) after each call that
//! made any (`take_changes`), once [`record_changes`](crate::Tower::record_changes)
//! is on. The host writes them *before* it sends the messages that call
//! returned: a tower acknowledges an update only once it is stored, and a
//! client forgets an update only once the acknowledgement is stored (so a
//! crash on either side at any point loses no update; at worst one is
//! sent again, which the tower acknowledges as a duplicate). `restore`
//! rebuilds either side from the records (keys relative to the host's
//! prefix; the host lists them back).
//!
//! Tower records:
//!
//! | key | value |
//! |---|---|
//! | `next` | the next session id, u64 big-endian |
//! | `s/<session id, 16 hex>` | client node id (33) ‖ max updates (u16) ‖ updates taken (u16) |
//! | `u/<session id, 16 hex>/<seqnum, 4 hex>` | locator (16) ‖ blob |
//! | `j/<txid hex>` | a justice transaction broadcast and not yet confirmed (consensus encoding) |
//!
//! Client records (one set per tower):
//!
//! | key | value |
//! |---|---|
//! | `session` | session id (u64) ‖ max updates (u16) ‖ updates acknowledged (u16) |
//! | `q/<queue index, 16 hex>` | locator (16) ‖ blob, an update not yet acknowledged |

use crate::blob::{Locator, MAX_BLOB_LEN};

/// One change to durable state: write `value` under `key`, or remove `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// Store a record written once: its key was never written before, or
    /// was removed since (an update, a queued update).
    Insert {
        /// The record's key, relative to the host's prefix.
        key: String,
        /// Its bytes.
        value: Vec<u8>,
    },
    /// Store or replace a record that may be written again (sessions, the
    /// next session id, justice transactions: [`is_rewritten`]).
    Put {
        /// The record's key, relative to the host's prefix.
        key: String,
        /// Its bytes.
        value: Vec<u8>,
    },
    /// Forget a record.
    Remove {
        /// The record's key, relative to the host's prefix.
        key: String,
    },
}

impl Change {
    /// The key this change is about.
    pub fn key(&self) -> &str {
        match self {
            Change::Insert { key, .. } | Change::Put { key, .. } | Change::Remove { key } => key,
        }
    }
}

/// Whether records under `key` are replaced over time ([`Change::Put`]);
/// the others are written once ([`Change::Insert`]) and later removed.
/// A host keeping versions per key needs them for these only.
pub fn is_rewritten(key: &str) -> bool {
    key == "next" || key == "session" || key.starts_with("s/") || key.starts_with("j/")
}

/// A record that did not decode (damage, or a foreign key under the
/// prefix). Restores skip it and count it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("watchtower record {key}: {reason}")]
pub struct RecordError {
    /// The record's key.
    pub key: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

pub(crate) fn bad(key: &str, reason: &'static str) -> RecordError {
    RecordError {
        key: key.to_string(),
        reason,
    }
}

/// Collects changes when recording is on; costs nothing otherwise.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    on: bool,
    list: Vec<Change>,
}

impl Changes {
    pub(crate) fn set(&mut self, on: bool) {
        self.on = on;
        if !on {
            self.list.clear();
        }
    }

    pub(crate) fn put(&mut self, key: String, value: Vec<u8>) {
        if self.on {
            self.list.push(Change::Put { key, value });
        }
    }

    pub(crate) fn insert(&mut self, key: String, value: Vec<u8>) {
        if self.on {
            self.list.push(Change::Insert { key, value });
        }
    }

    pub(crate) fn remove(&mut self, key: String) {
        if self.on {
            self.list.push(Change::Remove { key });
        }
    }

    pub(crate) fn take(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.list)
    }
}

/// Parses a fixed-width lower-case hex number.
pub(crate) fn parse_hex_u64(s: &str, width: usize) -> Option<u64> {
    if s.len() != width || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// `locator ‖ blob`.
pub(crate) fn encode_update(locator: &Locator, blob: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(16 + blob.len());
    v.extend_from_slice(&locator.0);
    v.extend_from_slice(blob);
    v
}

pub(crate) fn decode_update(key: &str, value: &[u8]) -> Result<(Locator, Vec<u8>), RecordError> {
    if value.len() <= 16 || value.len() > 16 + MAX_BLOB_LEN {
        return Err(bad(key, "update of a bad length"));
    }
    let mut l = [0u8; 16];
    l.copy_from_slice(&value[..16]);
    Ok((Locator(l), value[16..].to_vec()))
}

/// `id (u64) ‖ a (u16) ‖ b (u16)`, the shape of both session records'
/// tails.
pub(crate) fn encode_counts(id: u64, a: u16, b: u16) -> [u8; 12] {
    let mut v = [0u8; 12];
    v[..8].copy_from_slice(&id.to_be_bytes());
    v[8..10].copy_from_slice(&a.to_be_bytes());
    v[10..].copy_from_slice(&b.to_be_bytes());
    v
}

pub(crate) fn decode_counts(key: &str, v: &[u8]) -> Result<(u64, u16, u16), RecordError> {
    if v.len() != 12 {
        return Err(bad(key, "counts of a bad length"));
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&v[..8]);
    Ok((
        u64::from_be_bytes(id),
        u16::from_be_bytes([v[8], v[9]]),
        u16::from_be_bytes([v[10], v[11]]),
    ))
}
