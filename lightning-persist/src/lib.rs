//! Storage for the Lightning SDK: the [`KvStore`] trait and its backends.
//!
//! A node keeps all of its state as records in a [`KvStore`]: a value of bytes
//! under a `namespace` and a `key`, carrying a `version`. The store promises
//! that a write has reached stable storage when it returns, so the node can
//! let a message that depends on it leave ("persist before send").
//!
//! | backend | feature | for |
//! | --- | --- | --- |
//! | [`MemoryStore`] | - | tests, simulations |
//! | [`FsStore`] | `fs` (default) | one node on one machine: an append-only log and a snapshot, one fsync per write |
//! | `SqliteStore` | `sqlite` | one node on one machine, one file, atomic batches |
//! | `PostgresStore` | `postgres` | a node whose state lives on a database server, with leases and fencing |
//!
//! # Versions
//!
//! Writes to one key carry increasing versions. A write whose version is
//! older than the stored one is refused with [`PersistError::StaleVersion`]
//! and changes nothing, so a host that persists asynchronously may drop a
//! write that arrives late. A write with the stored version and the same
//! bytes is an idempotent replay and succeeds; with different bytes it is
//! refused with [`PersistError::VersionConflict`]. [`KvStore::remove`]
//! forgets a key and its version.
//!
//! # Single writer
//!
//! Every durable backend lets only one instance write at a time: a second
//! `open` of the same directory, database file or PostgreSQL store fails at
//! once with [`PersistError::Locked`], naming the holder. The SQLite and
//! PostgreSQL backends also carry a fencing token: an instance whose store
//! was taken over by `force_take_over` gets [`PersistError::Fenced`] on its
//! next write, which is not applied.
//!
//! # Example
//!
//! Every backend behaves the same; [`MemoryStore`] stands in here (see
//! `FsStore::open`, `SqliteStore::open` and `PostgresStore::open` for the
//! durable ones).
//!
//! ```
//! use std::sync::Arc;
//! use lightning_persist::{KvStore, MemoryStore};
//! # fn main() -> Result<(), lightning_persist::PersistError> {
//! let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
//! store.write("channels", "00ab/snapshot", 1, b"state v1")?; // durable on return
//! store.write("channels", "00ab/snapshot", 2, b"state v2")?;
//! assert!(store.write("channels", "00ab/snapshot", 1, b"late").unwrap_err().is_stale());
//! let record = store.read("channels", "00ab/snapshot")?.expect("written above");
//! assert_eq!((record.version, &record.value[..]), (2, &b"state v2"[..]));
//! assert_eq!(store.list("channels")?, vec!["00ab/snapshot".to_string()]);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::sync::Arc;

mod error;
#[cfg(feature = "fs")]
mod fs;
pub mod keys;
#[cfg(any(feature = "fs", feature = "sqlite"))]
mod lock;
mod memory;
#[cfg(feature = "postgres")]
mod postgres_store;
#[cfg(feature = "sqlite")]
mod sqlite_store;

pub use error::{KeyPart, PersistError};
#[cfg(feature = "fs")]
pub use fs::{FsOptions, FsStore, LogSpace};
pub use memory::MemoryStore;
/// The PostgreSQL client this crate uses, for hosts that connect a
/// [`postgres::Client`] themselves (TLS, other settings) and pass it to
/// [`PostgresStore::from_client`].
#[cfg(feature = "postgres")]
pub use postgres;
#[cfg(feature = "postgres")]
pub use postgres_store::{PostgresOptions, PostgresStore};
#[cfg(feature = "sqlite")]
pub use sqlite_store::SqliteStore;

/// The highest version a record may carry (SQL backends store it as a signed
/// 64-bit integer).
pub const MAX_VERSION: u64 = i64::MAX as u64;

/// The longest value a record may hold: 256 MiB, within what every backend
/// can store in one piece.
pub const MAX_VALUE_LEN: usize = 256 << 20;

/// How an instance describes itself to a second opener: its name, pid and
/// host.
#[cfg_attr(
    not(any(feature = "fs", feature = "sqlite", feature = "postgres")),
    allow(dead_code)
)]
pub(crate) fn holder_description(instance: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown host".to_owned());
    format!(
        "instance {instance:?}, pid {}, host {host}",
        std::process::id()
    )
}

/// A stored value and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Versioned {
    /// The version it was written with.
    pub version: u64,
    /// The bytes.
    pub value: Vec<u8>,
}

/// One operation of [`KvStore::write_batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    /// [`KvStore::write`].
    Write {
        /// The namespace.
        namespace: String,
        /// The key.
        key: String,
        /// The version.
        version: u64,
        /// The bytes.
        value: Vec<u8>,
    },
    /// [`KvStore::remove`].
    Remove {
        /// The namespace.
        namespace: String,
        /// The key.
        key: String,
    },
}

/// Versioned, namespaced, durable key-value storage: the node's only way to
/// keep state.
///
/// Namespaces and keys follow the rules in [`keys`], the same for every
/// backend. Methods are synchronous and may block on IO; implementations are
/// `Send + Sync` so one store can be shared as `Arc<dyn KvStore>`.
///
/// # Append and compact
///
/// The channel engine keeps one snapshot per channel and appends small update
/// records after it (`channel/<id>/update/<seq>`, `seq` zero-padded so that
/// [`list_prefix`](KvStore::list_prefix) returns them in order). To compact,
/// it writes a new snapshot that records the last `seq` it covers, then
/// removes the covered updates, in one [`write_batch`](KvStore::write_batch).
/// On a backend whose batches are not atomic a crash can leave a prefix of the
/// batch applied; a reader then ignores updates at or below the snapshot's
/// `seq`, so the recipe is correct on every backend.
pub trait KvStore: Send + Sync {
    /// The record under `namespace`/`key`, or `None` if there is none.
    fn read(&self, namespace: &str, key: &str) -> Result<Option<Versioned>, PersistError>;

    /// Stores `value` under `namespace`/`key` with `version`, returning once it
    /// is durable.
    ///
    /// Refused, leaving the stored record as it was, when `version` is older
    /// than the stored one ([`PersistError::StaleVersion`]) or equal to it with
    /// different bytes ([`PersistError::VersionConflict`]). Equal version and
    /// equal bytes is a replay and succeeds.
    fn write(
        &self,
        namespace: &str,
        key: &str,
        version: u64,
        value: &[u8],
    ) -> Result<(), PersistError>;

    /// Removes the record under `namespace`/`key`, with its version; returns
    /// once durable. Removing a missing record succeeds.
    fn remove(&self, namespace: &str, key: &str) -> Result<(), PersistError>;

    /// The keys in `namespace`, in ascending bytewise order.
    fn list(&self, namespace: &str) -> Result<Vec<String>, PersistError>;

    /// The keys in `namespace` that start with `prefix`, in ascending bytewise
    /// order.
    fn list_prefix(&self, namespace: &str, prefix: &str) -> Result<Vec<String>, PersistError> {
        keys::validate_prefix(prefix)?;
        let mut keys = self.list(namespace)?;
        keys.retain(|k| k.starts_with(prefix));
        Ok(keys)
    }

    /// Applies `ops` in order, returning once all are durable.
    ///
    /// Where [`batch_is_atomic`](KvStore::batch_is_atomic) is true (every
    /// backend of this crate: memory, files, SQLite, PostgreSQL) either every
    /// op is applied or, on any error or crash, none is; `FsStore` makes the
    /// whole batch durable with one fsync. Elsewhere (this default method,
    /// for a host's own store) the ops are applied one at a time, each
    /// atomic, and a failure or crash can leave a prefix of the batch
    /// applied.
    fn write_batch(&self, ops: &[BatchOp]) -> Result<(), PersistError> {
        validate_batch("store", ops)?;
        apply_in_order(self, ops)
    }

    /// Whether [`write_batch`](KvStore::write_batch) is all-or-nothing.
    fn batch_is_atomic(&self) -> bool {
        false
    }
}

macro_rules! forward_kv_store {
    ($($ty:ty),*) => {$(
        impl<T: KvStore + ?Sized> KvStore for $ty {
            fn read(&self, namespace: &str, key: &str) -> Result<Option<Versioned>, PersistError> {
                (**self).read(namespace, key)
            }
            fn write(&self, namespace: &str, key: &str, version: u64, value: &[u8]) -> Result<(), PersistError> {
                (**self).write(namespace, key, version, value)
            }
            fn remove(&self, namespace: &str, key: &str) -> Result<(), PersistError> {
                (**self).remove(namespace, key)
            }
            fn list(&self, namespace: &str) -> Result<Vec<String>, PersistError> {
                (**self).list(namespace)
            }
            fn list_prefix(&self, namespace: &str, prefix: &str) -> Result<Vec<String>, PersistError> {
                (**self).list_prefix(namespace, prefix)
            }
            fn write_batch(&self, ops: &[BatchOp]) -> Result<(), PersistError> {
                (**self).write_batch(ops)
            }
            fn batch_is_atomic(&self) -> bool {
                (**self).batch_is_atomic()
            }
        }
    )*};
}
forward_kv_store!(&T, Box<T>, Arc<T>);

/// What a write should do, given what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteDecision {
    /// Store it.
    Apply,
    /// Already stored: an idempotent replay.
    Unchanged,
}

/// The version rule shared by every backend. `same_bytes` is asked only when
/// the versions are equal.
pub(crate) fn decide_write(
    backend: &'static str,
    namespace: &str,
    key: &str,
    stored: Option<u64>,
    attempted: u64,
    same_bytes: impl FnOnce() -> Result<bool, PersistError>,
) -> Result<WriteDecision, PersistError> {
    match stored {
        None => Ok(WriteDecision::Apply),
        Some(stored) if attempted > stored => Ok(WriteDecision::Apply),
        Some(stored) if attempted < stored => Err(PersistError::StaleVersion {
            backend,
            namespace: namespace.to_owned(),
            key: key.to_owned(),
            stored,
            attempted,
        }),
        Some(_) => {
            if same_bytes()? {
                Ok(WriteDecision::Unchanged)
            } else {
                Err(PersistError::VersionConflict {
                    backend,
                    namespace: namespace.to_owned(),
                    key: key.to_owned(),
                    version: attempted,
                })
            }
        }
    }
}

/// Checks a write's address, version and size: the rules every backend shares.
pub(crate) fn validate_write(
    backend: &'static str,
    namespace: &str,
    key: &str,
    version: u64,
    value: &[u8],
) -> Result<(), PersistError> {
    keys::validate_record(namespace, key)?;
    let reason = if version > MAX_VERSION {
        format!("version {version} is above the maximum {MAX_VERSION}")
    } else if value.len() > MAX_VALUE_LEN {
        format!(
            "value of {} bytes is longer than the maximum {MAX_VALUE_LEN}",
            value.len()
        )
    } else {
        return Ok(());
    };
    Err(PersistError::InvalidWrite {
        backend,
        namespace: namespace.to_owned(),
        key: key.to_owned(),
        reason,
    })
}

/// Applies a batch one op at a time, in order: each op is atomic and durable
/// on its own, the batch as a whole is not. Callers validate it first.
pub(crate) fn apply_in_order<S: KvStore + ?Sized>(
    store: &S,
    ops: &[BatchOp],
) -> Result<(), PersistError> {
    for op in ops {
        match op {
            BatchOp::Write {
                namespace,
                key,
                version,
                value,
            } => store.write(namespace, key, *version, value)?,
            BatchOp::Remove { namespace, key } => store.remove(namespace, key)?,
        }
    }
    Ok(())
}

/// Checks every op of a batch before any is applied.
pub(crate) fn validate_batch(backend: &'static str, ops: &[BatchOp]) -> Result<(), PersistError> {
    for op in ops {
        match op {
            BatchOp::Write {
                namespace,
                key,
                version,
                value,
            } => validate_write(backend, namespace, key, *version, value)?,
            BatchOp::Remove { namespace, key } => keys::validate_record(namespace, key)?,
        }
    }
    Ok(())
}
