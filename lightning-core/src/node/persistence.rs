//! Persist before send, inline or asynchronous.
//!
//! Every write the node makes gets an increasing [`PersistId`]. A message
//! (or a broadcast) queued after write `n` leaves only once every write up
//! to `n` is durable: inline, that is at once (the `KvStore` call returned);
//! asynchronously, when the host has called
//! [`Node::persist_completed`](super::Node::persist_completed) for each of
//! them. Keys made obsolete by a compaction are removed only once the writes
//! before them are durable.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use lightning_persist::{BatchOp, KvStore};

use super::NodeError;

/// The namespace of every record the node writes.
pub const NAMESPACE: &str = "node";

/// The id of one write handed out by [`Node::poll_persist`](super::Node::poll_persist).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PersistId(pub u64);

/// What to do with a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersistOp {
    /// `KvStore::write(namespace, key, version, value)`. A store that
    /// already has a newer version refuses it as stale: that is success
    /// for the node.
    Write {
        /// Increasing per key.
        version: u64,
        /// The bytes.
        value: Vec<u8>,
    },
    /// `KvStore::remove(namespace, key)`.
    Remove,
}

/// One write for the host to make durable (async persistence), then report
/// with [`Node::persist_completed`](super::Node::persist_completed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistRequest {
    /// Report this id when done.
    pub id: PersistId,
    /// The namespace ([`NAMESPACE`]).
    pub namespace: String,
    /// The key.
    pub key: String,
    /// Write or remove.
    pub op: PersistOp,
}

/// How the node persists.
#[derive(Clone)]
pub enum Persistence {
    /// The node writes through this store itself, synchronously, before it
    /// releases any message that depends on the write.
    Inline(Arc<dyn KvStore>),
    /// The node hands its writes out through
    /// [`Node::poll_persist`](super::Node::poll_persist) and holds back
    /// dependent messages until the host reports them complete. The store
    /// is a read handle: [`NodeBuilder::build`](super::NodeBuilder::build) restores from it
    /// (so a node never starts empty over an existing store, and never
    /// draws a keys index or a preimage again); the node never writes
    /// through it.
    Async(Arc<dyn KvStore>),
}

impl core::fmt::Debug for Persistence {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Persistence::Inline(_) => f.write_str("Inline"),
            Persistence::Async(_) => f.write_str("Async"),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Writer {
    mode: Persistence,
    next_id: u64,
    /// Async writes handed out (or to hand out) and not yet completed.
    incomplete: BTreeSet<u64>,
    requests: VecDeque<PersistRequest>,
    /// Removals waiting for the writes up to their id to be durable.
    deferred_removes: Vec<(u64, String)>,
    /// Versions of node-level keys.
    versions: BTreeMap<String, u64>,
    /// An inline write failed: nothing leaves any more.
    failed: Option<String>,
}

impl Writer {
    pub(crate) fn new(mode: Persistence) -> Self {
        Writer {
            mode,
            next_id: 1,
            incomplete: BTreeSet::new(),
            requests: VecDeque::new(),
            deferred_removes: Vec::new(),
            versions: BTreeMap::new(),
            failed: None,
        }
    }

    /// The id of the last write issued: what a message queued now waits for.
    pub(crate) fn barrier(&self) -> u64 {
        self.next_id - 1
    }

    /// Whether every write up to `dep` is durable.
    pub(crate) fn is_durable(&self, dep: u64) -> bool {
        self.failed.is_none() && self.incomplete.first().is_none_or(|first| *first > dep)
    }

    pub(crate) fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// Remembers the stored version of a node-level key (on restore).
    pub(crate) fn set_version(&mut self, key: &str, version: u64) {
        self.versions.insert(key.to_string(), version);
    }

    /// Writes a node-level record with the next version of its key.
    pub(crate) fn write_record(&mut self, key: &str, value: Vec<u8>) -> Result<(), NodeError> {
        let version = self.versions.get(key).map_or(1, |v| v + 1);
        self.versions.insert(key.to_string(), version);
        self.write(key, version, value)
    }

    /// Writes `key` at `version` (inline: now; async: handed out).
    pub(crate) fn write(
        &mut self,
        key: &str,
        version: u64,
        value: Vec<u8>,
    ) -> Result<(), NodeError> {
        if let Some(f) = &self.failed {
            return Err(NodeError::Persist(f.clone()));
        }
        let id = self.next_id;
        self.next_id += 1;
        match &self.mode {
            Persistence::Inline(store) => {
                match store.write(NAMESPACE, key, version, &value) {
                    Ok(()) => Ok(()),
                    // A newer version is already durable: nothing to do.
                    Err(e) if e.is_stale() => Ok(()),
                    Err(e) => {
                        let msg = format!("writing {key}: {e}");
                        self.failed = Some(msg.clone());
                        Err(NodeError::Persist(msg))
                    }
                }
            }
            Persistence::Async(_) => {
                self.incomplete.insert(id);
                self.requests.push_back(PersistRequest {
                    id: PersistId(id),
                    namespace: NAMESPACE.to_string(),
                    key: key.to_string(),
                    op: PersistOp::Write { version, value },
                });
                Ok(())
            }
        }
    }

    /// Removes `key` once every write issued so far is durable.
    pub(crate) fn remove_after_writes(&mut self, key: String) {
        let dep = self.barrier();
        self.deferred_removes.push((dep, key));
        self.release_removes();
    }

    fn release_removes(&mut self) {
        let ready: Vec<String> = {
            let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.deferred_removes)
                .into_iter()
                .partition(|(dep, _)| self.is_durable(*dep));
            self.deferred_removes = waiting;
            ready.into_iter().map(|(_, k)| k).collect()
        };
        if ready.is_empty() {
            return;
        }
        if let Persistence::Inline(store) = &self.mode {
            // One batch (one directory sync on the filesystem). Best effort:
            // a leftover obsolete key is ignored on restore.
            let ops: Vec<BatchOp> = ready
                .into_iter()
                .map(|key| BatchOp::Remove {
                    namespace: NAMESPACE.to_string(),
                    key,
                })
                .collect();
            let _ = store.write_batch(&ops);
            return;
        }
        for key in ready {
            let id = self.next_id;
            self.next_id += 1;
            // Removals gate nothing: not added to `incomplete`.
            self.requests.push_back(PersistRequest {
                id: PersistId(id),
                namespace: NAMESPACE.to_string(),
                key,
                op: PersistOp::Remove,
            });
        }
    }

    pub(crate) fn poll(&mut self) -> Option<PersistRequest> {
        self.requests.pop_front()
    }

    pub(crate) fn completed(&mut self, id: PersistId) {
        self.incomplete.remove(&id.0);
        self.release_removes();
    }
}
