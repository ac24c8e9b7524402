//! The SQLite backend.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::error::record_name;
use crate::lock::LockFile;
use crate::{
    decide_write, holder_description, keys, validate_batch, validate_write, BatchOp, KvStore,
    PersistError, Versioned, WriteDecision,
};

const BACKEND: &str = "sqlite";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ln_kv (
    namespace TEXT NOT NULL,
    key       TEXT NOT NULL,
    version   INTEGER NOT NULL,
    value     BLOB NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE TABLE IF NOT EXISTS ln_kv_lease (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,
    token  INTEGER NOT NULL
);";

/// A [`KvStore`] in one SQLite database file. Batches are atomic.
///
/// The database runs in WAL mode with `synchronous=FULL`, so a write has
/// reached the disk when it returns. Records live in table `ln_kv`.
///
/// Single writer, twice over: [`SqliteStore::open`] takes an exclusive
/// `flock` on `<file>.lock` (which names the holder; the OS drops it when the
/// process dies), and bumps the fencing token in the lock row of table
/// `ln_kv_lease`. Every write checks, in its own transaction, that the token
/// is still this instance's; after [`SqliteStore::force_take_over`] by
/// another instance, the old one's writes fail with
/// [`PersistError::Fenced`].
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    token: u64,
    _lock: Option<LockFile>,
}

fn sql_error(
    op: &'static str,
    target: impl std::fmt::Display,
) -> impl FnOnce(rusqlite::Error) -> PersistError {
    let target = target.to_string();
    move |source| PersistError::Sqlite { op, target, source }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` as `instance`; fails
    /// at once with [`PersistError::Locked`] while another instance has it
    /// open.
    ///
    /// ```
    /// use lightning_persist::{KvStore, SqliteStore};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = SqliteStore::open(dir.path().join("node.sqlite"), "node-a")?;
    /// store.write("channels", "00ab/snapshot", 1, b"state")?;
    /// # Ok::<(), lightning_persist::PersistError>(())
    /// ```
    pub fn open(path: impl AsRef<Path>, instance: &str) -> Result<SqliteStore, PersistError> {
        let path = path.as_ref();
        let lock = LockFile::acquire(BACKEND, &lock_path(path), path, instance)?;
        Self::open_locked(path, instance, Some(lock))
    }

    /// Takes the database over from another instance that still holds it
    /// (one that hangs, or whose host is gone but whose lock is not): bumps
    /// the fencing token so that the other instance's next write fails with
    /// [`PersistError::Fenced`] and is not applied. For operators; the other
    /// instance may keep its file lock until it exits, after which a plain
    /// [`open`](SqliteStore::open) elsewhere would in turn fence this one.
    pub fn force_take_over(
        path: impl AsRef<Path>,
        instance: &str,
    ) -> Result<SqliteStore, PersistError> {
        let path = path.as_ref();
        let lock = match LockFile::acquire(BACKEND, &lock_path(path), path, instance) {
            Ok(lock) => Some(lock),
            Err(PersistError::Locked { .. }) => None,
            Err(e) => return Err(e),
        };
        Self::open_locked(path, instance, lock)
    }

    fn open_locked(
        path: &Path,
        instance: &str,
        lock: Option<LockFile>,
    ) -> Result<SqliteStore, PersistError> {
        let target = path.display().to_string();
        let mut conn = Connection::open(path).map_err(sql_error("open", &target))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql_error("set journal_mode", &target))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql_error("set synchronous", &target))?;
        // Only a forced takeover ever has two writers; let it wait its turn.
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(sql_error("set busy_timeout", &target))?;
        conn.execute_batch(SCHEMA)
            .map_err(sql_error("create schema", &target))?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql_error("begin", &target))?;
        let token: i64 = tx
            .query_row(
                "INSERT INTO ln_kv_lease (id, holder, token) VALUES (1, ?1, 1)
                 ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, token = ln_kv_lease.token + 1
                 RETURNING token",
                params![holder_description(instance)],
                |row| row.get(0),
            )
            .map_err(sql_error("take lock row", &target))?;
        tx.commit().map_err(sql_error("commit", &target))?;
        // SQLite syncs the directory for its journal files, not for a newly
        // created database file: do it here, so the file cannot vanish.
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::File::open(parent)
                .and_then(|dir| dir.sync_all())
                .map_err(|source| PersistError::Io {
                    backend: BACKEND,
                    op: "fsync directory",
                    target: parent.display().to_string(),
                    source,
                })?;
        }
        Ok(SqliteStore {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            token: token as u64,
            _lock: lock,
        })
    }

    /// This instance's fencing token: it grows with every open of the
    /// database.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic inside a transaction drops it, which rolls it back.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in an immediate transaction after checking the fencing token.
    fn fenced<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, PersistError>,
    ) -> Result<T, PersistError> {
        let target = self.path.display().to_string();
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql_error("begin", &target))?;
        let (current, holder): (i64, String) = tx
            .query_row(
                "SELECT token, holder FROM ln_kv_lease WHERE id = 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(sql_error("read lock row", &target))?;
        if current as u64 != self.token {
            return Err(PersistError::Fenced {
                backend: BACKEND,
                token: self.token,
                current_token: current as u64,
                holder,
            });
        }
        let out = f(&tx)?;
        tx.commit().map_err(sql_error("commit", &target))?;
        Ok(out)
    }
}

fn write_in(
    tx: &Transaction<'_>,
    namespace: &str,
    key: &str,
    version: u64,
    value: &[u8],
) -> Result<(), PersistError> {
    let name = record_name(namespace, key);
    let stored: Option<i64> = tx
        .prepare_cached("SELECT version FROM ln_kv WHERE namespace = ?1 AND key = ?2")
        .and_then(|mut s| {
            s.query_row(params![namespace, key], |row| row.get(0))
                .optional()
        })
        .map_err(sql_error("read version of", &name))?;
    let decision = decide_write(
        BACKEND,
        namespace,
        key,
        stored.map(|v| v as u64),
        version,
        || {
            tx.prepare_cached("SELECT value = ?3 FROM ln_kv WHERE namespace = ?1 AND key = ?2")
                .and_then(|mut s| s.query_row(params![namespace, key, value], |row| row.get(0)))
                .map_err(sql_error("compare", &name))
        },
    )?;
    if decision == WriteDecision::Apply {
        tx.prepare_cached(
            "INSERT INTO ln_kv (namespace, key, version, value) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (namespace, key) DO UPDATE SET version = excluded.version, value = excluded.value",
        )
        .and_then(|mut s| s.execute(params![namespace, key, version as i64, value]))
        .map_err(sql_error("write", &name))?;
    }
    Ok(())
}

fn remove_in(tx: &Transaction<'_>, namespace: &str, key: &str) -> Result<(), PersistError> {
    tx.prepare_cached("DELETE FROM ln_kv WHERE namespace = ?1 AND key = ?2")
        .and_then(|mut s| s.execute(params![namespace, key]))
        .map_err(sql_error("remove", record_name(namespace, key)))?;
    Ok(())
}

impl KvStore for SqliteStore {
    fn read(&self, namespace: &str, key: &str) -> Result<Option<Versioned>, PersistError> {
        keys::validate_record(namespace, key)?;
        let conn = self.conn();
        let row: Option<(i64, Vec<u8>)> = conn
            .prepare_cached("SELECT version, value FROM ln_kv WHERE namespace = ?1 AND key = ?2")
            .and_then(|mut s| {
                s.query_row(params![namespace, key], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
            })
            .map_err(sql_error("read", record_name(namespace, key)))?;
        row.map(|(version, value)| match u64::try_from(version) {
            Ok(version) => Ok(Versioned { version, value }),
            Err(_) => Err(PersistError::Corrupt {
                backend: BACKEND,
                namespace: namespace.to_owned(),
                key: key.to_owned(),
                reason: format!("negative version {version}"),
            }),
        })
        .transpose()
    }

    fn write(
        &self,
        namespace: &str,
        key: &str,
        version: u64,
        value: &[u8],
    ) -> Result<(), PersistError> {
        validate_write(BACKEND, namespace, key, version, value)?;
        self.fenced(|tx| write_in(tx, namespace, key, version, value))
    }

    fn remove(&self, namespace: &str, key: &str) -> Result<(), PersistError> {
        keys::validate_record(namespace, key)?;
        self.fenced(|tx| remove_in(tx, namespace, key))
    }

    fn list(&self, namespace: &str) -> Result<Vec<String>, PersistError> {
        self.list_prefix(namespace, "")
    }

    fn list_prefix(&self, namespace: &str, prefix: &str) -> Result<Vec<String>, PersistError> {
        keys::validate_namespace(namespace)?;
        keys::validate_prefix(prefix)?;
        let conn = self.conn();
        conn.prepare_cached(
            "SELECT key FROM ln_kv WHERE namespace = ?1 AND substr(key, 1, length(?2)) = ?2 ORDER BY key",
        )
        .and_then(|mut s| {
            s.query_map(params![namespace, prefix], |row| row.get(0))?
                .collect::<Result<Vec<String>, _>>()
        })
        .map_err(sql_error("list", namespace))
    }

    fn write_batch(&self, ops: &[BatchOp]) -> Result<(), PersistError> {
        validate_batch(BACKEND, ops)?;
        self.fenced(|tx| {
            for op in ops {
                match op {
                    BatchOp::Write {
                        namespace,
                        key,
                        version,
                        value,
                    } => write_in(tx, namespace, key, *version, value)?,
                    BatchOp::Remove { namespace, key } => remove_in(tx, namespace, key)?,
                }
            }
            Ok(())
        })
    }

    fn batch_is_atomic(&self) -> bool {
        true
    }
}
