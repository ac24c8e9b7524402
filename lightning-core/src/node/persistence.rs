//! Persist before send, inline or asynchronous, one durable operation per
//! step.
//!
//! A *step* is one call of the host into the node that changes state
//! (`handle_bytes`, `pay_invoice`, `create_invoice`, a block, a timer,
//! `poll_event` acknowledging an event, ...). Every record the step
//! changes (the channel records, the payment, invoice and event records,
//! the keys index, and the removal of keys made obsolete) joins one open
//! batch; at the end of the step the batch goes out as ONE durable
//! operation: inline, one [`KvStore::write_batch`] (one fsync on `FsStore`,
//! one transaction on SQLite and PostgreSQL); asynchronously, one
//! [`PersistRequest`] for the host.
//!
//! Every batch carries an increasing [`PersistId`]. A message (or a
//! broadcast, or a money event) queued during a step waits for that
//! step's batch and every one before it: inline, that is at once (the
//! `KvStore` call returned); asynchronously, when the host has called
//! [`Node::persist_completed`](super::Node::persist_completed) for each of
//! them. Ops keep their order inside a batch (a compaction's snapshot
//! comes before the removal of the update records it covers), so a store
//! whose batches are not atomic, applying them in order, leaves a state a
//! restore reads correctly.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use lightning_persist::{BatchOp, KvStore, PersistError};

use super::NodeError;

/// The namespace of every record the node writes.
pub const NAMESPACE: &str = "node";

/// The namespace of the watchtower client's and server's records
/// (`lightning_watchtower::record`; their own namespace, so a tower's
/// million updates never slow the listing of the node's records).
pub const WATCHTOWER_NAMESPACE: &str = "watchtower";

/// The id of one batch handed out by [`Node::poll_persist`](super::Node::poll_persist).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PersistId(pub u64);

/// One durable operation for the host (async persistence): every record
/// one step changed, writes and removals, in order. Make all of it durable
/// as one operation (for a [`KvStore`]: [`PersistRequest::apply`], one
/// [`KvStore::write_batch`]), then report it with
/// [`Node::persist_completed`](super::Node::persist_completed).
///
/// Apply requests in the order they are handed out (a queue may pipeline
/// them, but a request's ops never land before an earlier request's): a
/// removal may follow a write of the same key in an earlier request.
/// Completions may be reported in any order; what waits on a request
/// leaves once it and every earlier one are reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistRequest {
    /// Report this id when done.
    pub id: PersistId,
    /// The writes and removals, in order, in namespace [`NAMESPACE`] (and
    /// [`WATCHTOWER_NAMESPACE`] for watchtower records).
    /// A write carries the next version of its key: a store that already
    /// has a newer one (a replay after the host restarted) may drop it.
    pub ops: Vec<BatchOp>,
}

impl PersistRequest {
    /// Makes the whole request durable through `store`: one
    /// [`KvStore::write_batch`] (one fsync on `FsStore`, one transaction on
    /// the SQL backends). A write refused as stale (the store already holds
    /// a newer version of that key) is success: the rest of the batch is
    /// then applied without it.
    pub fn apply(&self, store: &dyn KvStore) -> Result<(), PersistError> {
        apply_batch(store, &self.ops)
    }

    /// How many records the request writes or removes.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether it has no op (never true of a request the node hands out).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// One [`KvStore::write_batch`]; if a write in it is stale (a newer
/// version is already stored: nothing to do for that key), the others are
/// applied without it, one at a time.
fn apply_batch(store: &dyn KvStore, ops: &[BatchOp]) -> Result<(), PersistError> {
    match store.write_batch(ops) {
        Err(e) if e.is_stale() => {
            for op in ops {
                let result = match op {
                    BatchOp::Write {
                        namespace,
                        key,
                        version,
                        value,
                    } => store.write(namespace, key, *version, value),
                    BatchOp::Remove { namespace, key } => store.remove(namespace, key),
                };
                match result {
                    Err(e) if !e.is_stale() => return Err(e),
                    _ => {}
                }
            }
            Ok(())
        }
        other => other,
    }
}

/// How the node persists.
#[derive(Clone)]
pub enum Persistence {
    /// The node writes through this store itself, synchronously: one
    /// [`KvStore::write_batch`] per step, before it releases any message
    /// that depends on it.
    Inline(Arc<dyn KvStore>),
    /// The node hands its writes out through
    /// [`Node::poll_persist`](super::Node::poll_persist), one
    /// [`PersistRequest`] per step, and holds back
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
    /// The id of the open batch (the step in progress).
    open_id: u64,
    /// The open batch: what this step changed so far.
    open: Vec<BatchOp>,
    /// Async batches handed out (or to hand out) and not yet completed.
    incomplete: BTreeSet<u64>,
    requests: VecDeque<PersistRequest>,
    /// Versions of node-level keys.
    versions: BTreeMap<String, u64>,
    /// A batch failed (inline): nothing leaves any more.
    failed: Option<String>,
}

impl Writer {
    pub(crate) fn new(mode: Persistence) -> Self {
        Writer {
            mode,
            open_id: 1,
            open: Vec::new(),
            incomplete: BTreeSet::new(),
            requests: VecDeque::new(),
            versions: BTreeMap::new(),
            failed: None,
        }
    }

    /// What a message, broadcast or event queued now waits for: the open
    /// batch (this step's), and so every batch before it.
    pub(crate) fn barrier(&self) -> u64 {
        self.open_id
    }

    /// Whether batch `dep` and every one before it are durable (a batch
    /// that had nothing to write counts once its step ended).
    pub(crate) fn is_durable(&self, dep: u64) -> bool {
        self.failed.is_none()
            && dep < self.open_id
            && self.incomplete.first().is_none_or(|first| *first > dep)
    }

    /// The store: written through (inline) or only read (async), so a
    /// read sees the writes the host completed.
    pub(crate) fn store(&self) -> &dyn KvStore {
        match &self.mode {
            Persistence::Inline(s) | Persistence::Async(s) => &**s,
        }
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

    /// Adds the write of `key` at `version` to this step's batch. Refused
    /// once a batch failed.
    pub(crate) fn write(
        &mut self,
        key: &str,
        version: u64,
        value: Vec<u8>,
    ) -> Result<(), NodeError> {
        self.write_in(NAMESPACE, key, version, value)
    }

    /// Writes a record of another namespace (the watchtower's) with the
    /// next version of its key.
    pub(crate) fn write_record_in(
        &mut self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
    ) -> Result<(), NodeError> {
        let slot = format!("{namespace}:{key}");
        let version = self.versions.get(&slot).map_or(1, |v| v + 1);
        self.versions.insert(slot, version);
        self.write_in(namespace, key, version, value)
    }

    /// Remembers the stored version of a key of another namespace.
    pub(crate) fn set_version_in(&mut self, namespace: &str, key: &str, version: u64) {
        self.versions.insert(format!("{namespace}:{key}"), version);
    }

    /// Adds the write of a record of another namespace at `version`
    /// (records written once take version 1 and keep no version here).
    pub(crate) fn write_in(
        &mut self,
        namespace: &str,
        key: &str,
        version: u64,
        value: Vec<u8>,
    ) -> Result<(), NodeError> {
        if let Some(f) = &self.failed {
            return Err(NodeError::Persist(f.clone()));
        }
        self.push(BatchOp::Write {
            namespace: namespace.to_string(),
            key: key.to_string(),
            version,
            value,
        });
        Ok(())
    }

    /// Adds the removal of a record of another namespace. Its version is
    /// kept: a later write goes on above it (so a removal and a new
    /// write of the key in one batch, where only the write stays, are
    /// taken by the store).
    pub(crate) fn remove_in(&mut self, namespace: &str, key: &str) {
        self.push(BatchOp::Remove {
            namespace: namespace.to_string(),
            key: key.to_string(),
        });
    }

    /// Adds the removal of `key` to this step's batch, after the writes
    /// before it (a compaction's snapshot, a forgotten channel's last
    /// write).
    pub(crate) fn remove_after_writes(&mut self, key: String) {
        self.push(BatchOp::Remove {
            namespace: NAMESPACE.to_string(),
            key,
        });
    }

    /// Appends `op`; an earlier op of this batch on the same key is
    /// dropped (the last one decides what the key holds), so a batch names
    /// each key once.
    fn push(&mut self, op: BatchOp) {
        let (ns, key) = (op_namespace(&op).to_string(), op_key(&op).to_string());
        self.open
            .retain(|o| op_key(o) != key || op_namespace(o) != ns);
        self.open.push(op);
    }

    /// Ends the step: its batch goes out as one durable operation (inline:
    /// one `write_batch` now; async: one request). A step that changed
    /// nothing costs nothing.
    pub(crate) fn commit(&mut self) {
        let id = self.open_id;
        self.open_id += 1;
        let ops = std::mem::take(&mut self.open);
        if ops.is_empty() || self.failed.is_some() {
            return;
        }
        match &self.mode {
            Persistence::Inline(store) => {
                if let Err(e) = apply_batch(&**store, &ops) {
                    let keys: Vec<&str> = ops.iter().map(op_key).collect();
                    self.failed = Some(format!("writing {}: {e}", keys.join(", ")));
                }
            }
            Persistence::Async(_) => {
                self.incomplete.insert(id);
                self.requests.push_back(PersistRequest {
                    id: PersistId(id),
                    ops,
                });
            }
        }
    }

    /// The next request (async); ends the open step first.
    pub(crate) fn poll(&mut self) -> Option<PersistRequest> {
        if !self.open.is_empty() {
            self.commit();
        }
        self.requests.pop_front()
    }

    pub(crate) fn completed(&mut self, id: PersistId) {
        self.incomplete.remove(&id.0);
    }
}

fn op_namespace(op: &BatchOp) -> &str {
    match op {
        BatchOp::Write { namespace, .. } | BatchOp::Remove { namespace, .. } => namespace,
    }
}

fn op_key(op: &BatchOp) -> &str {
    match op {
        BatchOp::Write { key, .. } | BatchOp::Remove { key, .. } => key,
    }
}
