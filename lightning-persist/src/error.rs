//! The one error type of this crate.

use std::io;

/// Which part of a record's address a [`PersistError::InvalidKey`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPart {
    /// The namespace.
    Namespace,
    /// The key inside a namespace.
    Key,
    /// A prefix given to [`KvStore::list_prefix`](crate::KvStore::list_prefix).
    Prefix,
}

impl std::fmt::Display for KeyPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyPart::Namespace => "namespace",
            KeyPart::Key => "key",
            KeyPart::Prefix => "prefix",
        })
    }
}

/// Everything that can go wrong while storing or loading a record.
///
/// Each variant names the backend (`"memory"`, `"fs"`, `"sqlite"`,
/// `"postgres"`) and, where there is one, the record (`namespace/key`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistError {
    /// A namespace, key or prefix breaks the rules of [`crate::keys`]. The same
    /// rules hold for every backend, so this never depends on where data lives.
    #[error("invalid {part} {value:?}: {reason}")]
    InvalidKey {
        /// Which part is invalid.
        part: KeyPart,
        /// The offending text (cut to 200 characters).
        value: String,
        /// The rule it breaks.
        reason: &'static str,
    },

    /// A version above [`crate::MAX_VERSION`] or a value longer than
    /// [`crate::MAX_VALUE_LEN`].
    #[error("{backend}: write to {namespace}/{key}: {reason}")]
    InvalidWrite {
        /// The backend.
        backend: &'static str,
        /// The record's namespace.
        namespace: String,
        /// The record's key.
        key: String,
        /// What is out of range.
        reason: String,
    },

    /// A write carried a version older than the one already stored, so it was
    /// refused and the stored record is unchanged. An asynchronous host that
    /// sees this for a write that arrived late may drop it: a newer one has
    /// already landed.
    #[error("{backend}: stale write to {namespace}/{key}: version {attempted} is older than the stored version {stored}")]
    StaleVersion {
        /// The backend.
        backend: &'static str,
        /// The record's namespace.
        namespace: String,
        /// The record's key.
        key: String,
        /// The version already stored.
        stored: u64,
        /// The version of the refused write.
        attempted: u64,
    },

    /// A write carried the version already stored but different bytes. A
    /// replay of the same write (same version, same bytes) succeeds; this one
    /// would make one version mean two things, so it is refused.
    #[error("{backend}: conflicting write to {namespace}/{key}: version {version} is already stored with different contents")]
    VersionConflict {
        /// The backend.
        backend: &'static str,
        /// The record's namespace.
        namespace: String,
        /// The record's key.
        key: String,
        /// The version both writes carry.
        version: u64,
    },

    /// Another instance holds the store (file lock, lock row or lease). It is
    /// named as it described itself when it took the store.
    #[error("{backend}: {location} is held by another instance: {holder}")]
    Locked {
        /// The backend.
        backend: &'static str,
        /// The directory, database file or PostgreSQL store name.
        location: String,
        /// The holder, as it recorded itself (instance name, pid, host).
        holder: String,
    },

    /// This instance lost the store to another one (a forced takeover): its
    /// fencing token is no longer the current one, so it may not write again.
    /// The write was not applied. Open the store anew to get a new token.
    #[error("{backend}: this instance was fenced off (token {token}); the store now belongs to {holder} (token {current_token})")]
    Fenced {
        /// The backend.
        backend: &'static str,
        /// This instance's token.
        token: u64,
        /// The current token.
        current_token: u64,
        /// The current holder.
        holder: String,
    },

    /// A stored record failed its integrity check (bad header, bad checksum,
    /// wrong length): it is reported, never returned as data.
    #[error("{backend}: corrupt record {namespace}/{key}: {reason}")]
    Corrupt {
        /// The backend.
        backend: &'static str,
        /// The record's namespace.
        namespace: String,
        /// The record's key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A file of `FsStore`'s log or snapshot is damaged where no crash can
    /// have damaged it: a bad checksum followed by valid records, or a
    /// snapshot that does not end with its seal. The store refuses to open
    /// rather than silently go back to an older state; a torn tail (the last
    /// record of the log, cut short by a crash) is not this, it is dropped.
    #[error("{backend}: corrupt {file} at byte {offset}: {reason}")]
    CorruptLog {
        /// The backend.
        backend: &'static str,
        /// The damaged file.
        file: String,
        /// Where the damage starts.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },

    /// An earlier durability step failed after its change became visible
    /// (an `fsync` of a directory after a rename), so what is on disk is
    /// unknown. The store refuses every further write; reopen it to read
    /// back what survived.
    #[error("{backend}: store is poisoned by an earlier failed sync ({cause}); reopen it")]
    Poisoned {
        /// The backend.
        backend: &'static str,
        /// The failure that poisoned the store.
        cause: String,
    },

    /// An operating-system error, with what was being done and to what.
    #[error("{backend}: {op} {target}: {source}")]
    Io {
        /// The backend.
        backend: &'static str,
        /// What was being done (`"write"`, `"fsync"`, `"rename"`, ...).
        op: &'static str,
        /// The path or record concerned.
        target: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// An SQLite error.
    #[cfg(feature = "sqlite")]
    #[error("sqlite: {op} {target}: {source}")]
    Sqlite {
        /// What was being done.
        op: &'static str,
        /// The database file or record concerned.
        target: String,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },

    /// A PostgreSQL error (including a lost connection).
    #[cfg(feature = "postgres")]
    #[error("postgres: {op} {target}: {source}")]
    Postgres {
        /// What was being done.
        op: &'static str,
        /// The store or record concerned.
        target: String,
        /// The PostgreSQL client error.
        #[source]
        source: postgres::Error,
    },
}

impl PersistError {
    /// The kind of the underlying OS error, if this is one, e.g.
    /// [`io::ErrorKind::StorageFull`] for a full disk or
    /// [`io::ErrorKind::ReadOnlyFilesystem`].
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            PersistError::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }

    /// Whether the storage ran out of space (or the file grew past a size
    /// limit), on any backend.
    pub fn is_storage_full(&self) -> bool {
        match self {
            PersistError::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::StorageFull
                    | io::ErrorKind::FileTooLarge
                    | io::ErrorKind::QuotaExceeded
            ),
            #[cfg(feature = "sqlite")]
            PersistError::Sqlite { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DiskFull | rusqlite::ErrorCode::TooBig)
            ),
            #[cfg(feature = "postgres")]
            PersistError::Postgres { source, .. } => {
                source.code() == Some(&postgres::error::SqlState::DISK_FULL)
            }
            _ => false,
        }
    }

    /// Whether this is a refused stale write ([`PersistError::StaleVersion`]),
    /// which an asynchronous host may drop.
    pub fn is_stale(&self) -> bool {
        matches!(self, PersistError::StaleVersion { .. })
    }
}

/// `namespace/key`, for error messages.
#[cfg_attr(
    not(any(feature = "fs", feature = "sqlite", feature = "postgres")),
    allow(dead_code)
)]
pub(crate) fn record_name(namespace: &str, key: &str) -> String {
    format!("{namespace}/{key}")
}
