//! The PostgreSQL backend.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, NoTls, Statement, Transaction};

use crate::error::record_name;
use crate::{
    decide_write, holder_description, keys, validate_batch, validate_write, BatchOp, KvStore,
    PersistError, Versioned, WriteDecision,
};

const BACKEND: &str = "postgres";

/// Serialises schema creation between stores sharing a database.
const SCHEMA_LOCK: i64 = 0x6c6e_6b76_5f73_6368; // "lnkv_sch"

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS ln_kv (
    store     TEXT NOT NULL,
    namespace TEXT COLLATE "C" NOT NULL,
    key       TEXT COLLATE "C" NOT NULL,
    version   BIGINT NOT NULL,
    value     BYTEA NOT NULL,
    PRIMARY KEY (store, namespace, key)
);
CREATE TABLE IF NOT EXISTS ln_kv_lease (
    store       TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    token       BIGINT NOT NULL,
    backend_pid INTEGER NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL DEFAULT now()
);"#;

/// The advisory-lock key of a store, computed by the server.
const LOCK_KEY: &str = "hashtextextended('ln_kv:' || $1, 0)";

/// How to open a [`PostgresStore`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Which store in the database: one per node, so several nodes can share
    /// a database. Same rules as a namespace (see [`crate::keys`]).
    pub store: String,
    /// This instance's name, shown to a second opener.
    pub instance: String,
    /// How long to wait for a held lease before failing with
    /// [`PersistError::Locked`]; `None` fails at once. The wait is the
    /// server's `lock_timeout`. Useful right after a crash, before the server
    /// has noticed the dead connection.
    pub lock_wait: Option<Duration>,
}

impl PostgresOptions {
    /// Options for store `store` opened by `instance`, failing at once if held.
    pub fn new(store: &str, instance: &str) -> PostgresOptions {
        PostgresOptions {
            store: store.to_owned(),
            instance: instance.to_owned(),
            lock_wait: None,
        }
    }
}

/// A [`KvStore`] on a PostgreSQL server. Batches are atomic.
///
/// Records live in table `ln_kv`, keyed by the store's name, so several nodes
/// may share one database; the tables are created on first open. A write
/// returns once its transaction has committed, which is durable with the
/// server's default `synchronous_commit = on` (and `fsync = on`).
///
/// # Leases and fencing
///
/// Opening a store takes its lease, in two parts:
///
/// - a session-level advisory lock on the store's name, held by this
///   instance's connection. A second instance fails at once with
///   [`PersistError::Locked`], naming the holder. When the holder's process
///   or connection dies, the server drops the lock, so a crashed node's store
///   can be reopened without waiting for an expiry and without any clock.
/// - the lease row in `ln_kv_lease` (holder, fencing token, backend pid). Each
///   open increments the token. Every write locks the row (`FOR SHARE`) and
///   checks the token in the same transaction, so a takeover waits for a
///   write in flight, and from the moment it commits the old instance's
///   writes fail with [`PersistError::Fenced`] and are not applied.
///
/// [`PostgresStore::force_take_over`] is the operator's way past a holder
/// that hangs: it bumps the token (fencing the holder off), terminates the
/// holder's connection and then takes the lock.
///
/// # TLS
///
/// [`PostgresStore::open`] connects without TLS (a server on localhost or a
/// private network). To use TLS or other connection settings, connect a
/// [`postgres::Client`] yourself and pass it to
/// [`PostgresStore::from_client`].
#[derive(Debug)]
pub struct PostgresStore {
    store: String,
    token: u64,
    conn: Mutex<Connection>,
}

struct Connection {
    client: Client,
    st: Statements,
}

/// The prepared statements of a connection.
struct Statements {
    lease: Statement,
    version: Statement,
    same: Statement,
    upsert: Statement,
    delete: Statement,
    read: Statement,
    list: Statement,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("closed", &self.client.is_closed())
            .finish_non_exhaustive()
    }
}

fn pg_error(
    op: &'static str,
    target: impl std::fmt::Display,
) -> impl FnOnce(postgres::Error) -> PersistError {
    let target = target.to_string();
    move |source| PersistError::Postgres { op, target, source }
}

fn lock_wait_setting(wait: Duration) -> String {
    format!("SET lock_timeout = '{}ms'", wait.as_millis().max(1))
}

impl PostgresStore {
    /// Connects to `url` (a `postgresql://` URL or a key=value string, see
    /// [`postgres::Config`]) without TLS and opens the store.
    ///
    /// ```no_run
    /// use lightning_persist::{KvStore, PostgresOptions, PostgresStore};
    /// let store = PostgresStore::open(
    ///     "postgresql://lnd@db.internal/lightning",
    ///     &PostgresOptions::new("node-a", "node-a@host1"),
    /// )?;
    /// store.write("channels", "00ab/snapshot", 1, b"state")?;
    /// # Ok::<(), lightning_persist::PersistError>(())
    /// ```
    pub fn open(url: &str, options: &PostgresOptions) -> Result<PostgresStore, PersistError> {
        let client = Client::connect(url, NoTls).map_err(pg_error("connect to", "the server"))?;
        Self::from_client(client, options)
    }

    /// Opens the store over a connection the host made. The connection must
    /// stay this store's alone: the lease is tied to its session.
    pub fn from_client(
        mut client: Client,
        options: &PostgresOptions,
    ) -> Result<PostgresStore, PersistError> {
        let store = &options.store;
        keys::validate_namespace(store)?;
        create_schema(&mut client, store)?;
        if !take_lock(&mut client, store, options.lock_wait)? {
            return Err(locked(&mut client, store));
        }
        let row = client
            .query_one(
                "INSERT INTO ln_kv_lease (store, holder, token, backend_pid)
                 VALUES ($1, $2, 1, pg_backend_pid())
                 ON CONFLICT (store) DO UPDATE SET holder = EXCLUDED.holder,
                     token = ln_kv_lease.token + 1, backend_pid = EXCLUDED.backend_pid,
                     acquired_at = now()
                 RETURNING token",
                &[store, &holder_description(&options.instance)],
            )
            .map_err(pg_error("take lease of", store))?;
        Self::finish(client, store, row.get(0))
    }

    /// Connects to `url` and takes the store over from an instance that
    /// holds it, for an operator who knows that instance is hung or gone.
    ///
    /// The fencing token is bumped first, so from then on the other
    /// instance's writes fail with [`PersistError::Fenced`]; then its
    /// connection is terminated (`pg_terminate_backend`, which needs the same
    /// role or `pg_signal_backend`) and the lock is taken, waiting up to
    /// `options.lock_wait` (10 s if `None`). If the store was not held, this
    /// is a plain open.
    pub fn force_take_over(
        url: &str,
        options: &PostgresOptions,
    ) -> Result<PostgresStore, PersistError> {
        let client = Client::connect(url, NoTls).map_err(pg_error("connect to", "the server"))?;
        Self::force_take_over_with_client(client, options)
    }

    /// [`force_take_over`](PostgresStore::force_take_over) over a connection
    /// the host made.
    pub fn force_take_over_with_client(
        mut client: Client,
        options: &PostgresOptions,
    ) -> Result<PostgresStore, PersistError> {
        let store = &options.store;
        keys::validate_namespace(store)?;
        create_schema(&mut client, store)?;
        if take_lock(&mut client, store, None)? {
            // Nobody held it: a plain open (advisory locks nest, so taking
            // it again there keeps it without a gap).
            return Self::from_client(client, options);
        }
        // 1. Fence the holder off. The update waits for a write of the
        //    holder's in flight (it holds the row FOR SHARE).
        let row = client
            .query_one(
                "INSERT INTO ln_kv_lease (store, holder, token, backend_pid)
                 VALUES ($1, $2, 1, pg_backend_pid())
                 ON CONFLICT (store) DO UPDATE SET holder = EXCLUDED.holder,
                     token = ln_kv_lease.token + 1, backend_pid = EXCLUDED.backend_pid,
                     acquired_at = now()
                 RETURNING token",
                &[store, &holder_description(&options.instance)],
            )
            .map_err(pg_error("take lease of", store))?;
        let token: i64 = row.get(0);
        // 2. End the sessions holding the lock, so that it is released.
        client
            .execute(
                &format!(
                    "SELECT pg_terminate_backend(l.pid) FROM pg_locks l
                     WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                       AND l.classid = ((({LOCK_KEY}) >> 32) & 4294967295)::oid
                       AND l.objid = (({LOCK_KEY}) & 4294967295)::oid"
                ),
                &[store],
            )
            .map_err(pg_error("terminate holder of", store))?;
        // 3. Take the lock.
        let wait = options.lock_wait.unwrap_or(Duration::from_secs(10));
        if !take_lock(&mut client, store, Some(wait))? {
            return Err(locked(&mut client, store));
        }
        // Someone may have opened the store between 1 and 3: then the token
        // is theirs, and this instance must not use it.
        let current: i64 = client
            .query_one("SELECT token FROM ln_kv_lease WHERE store = $1", &[store])
            .map_err(pg_error("read lease of", store))?
            .get(0);
        if current != token {
            return Err(locked(&mut client, store));
        }
        Self::finish(client, store, token)
    }

    fn finish(mut client: Client, store: &str, token: i64) -> Result<PostgresStore, PersistError> {
        let prepare = |client: &mut Client, sql: &str| {
            client.prepare(sql).map_err(pg_error("prepare", store))
        };
        let st = Statements {
            lease: prepare(&mut client, "SELECT token, holder FROM ln_kv_lease WHERE store = $1 FOR SHARE")?,
            version: prepare(
                &mut client,
                "SELECT version FROM ln_kv WHERE store = $1 AND namespace = $2 AND key = $3 FOR UPDATE",
            )?,
            same: prepare(
                &mut client,
                "SELECT value = $4 FROM ln_kv WHERE store = $1 AND namespace = $2 AND key = $3",
            )?,
            upsert: prepare(
                &mut client,
                "INSERT INTO ln_kv (store, namespace, key, version, value) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (store, namespace, key)
                 DO UPDATE SET version = EXCLUDED.version, value = EXCLUDED.value",
            )?,
            delete: prepare(
                &mut client,
                "DELETE FROM ln_kv WHERE store = $1 AND namespace = $2 AND key = $3",
            )?,
            read: prepare(
                &mut client,
                "SELECT version, value FROM ln_kv WHERE store = $1 AND namespace = $2 AND key = $3",
            )?,
            list: prepare(
                &mut client,
                "SELECT key FROM ln_kv WHERE store = $1 AND namespace = $2
                   AND left(key, length($3)) = $3 ORDER BY key",
            )?,
        };
        let conn = Connection { client, st };
        Ok(PostgresStore {
            store: store.to_owned(),
            token: token as u64,
            conn: Mutex::new(conn),
        })
    }

    /// This instance's fencing token: it grows with every open and takeover
    /// of the store.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// The store's name.
    pub fn store(&self) -> &str {
        &self.store
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic inside a transaction drops it, which rolls it back.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in a transaction after checking the fencing token, holding
    /// the lease row so that a takeover cannot commit in between.
    fn fenced<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>, &Statements, &str) -> Result<T, PersistError>,
    ) -> Result<T, PersistError> {
        let store = self.store.as_str();
        let mut guard = self.conn();
        let Connection { client, st } = &mut *guard;
        let mut tx = client.transaction().map_err(pg_error("begin", store))?;
        let row = tx
            .query_opt(&st.lease, &[&store])
            .map_err(pg_error("read lease of", store))?;
        let (current, holder): (i64, String) = match row {
            Some(row) => (row.get(0), row.get(1)),
            None => (0, "nobody (the lease row is gone)".to_owned()),
        };
        if current as u64 != self.token {
            return Err(PersistError::Fenced {
                backend: BACKEND,
                token: self.token,
                current_token: current as u64,
                holder,
            });
        }
        let out = f(&mut tx, st, store)?;
        tx.commit().map_err(pg_error("commit", store))?;
        Ok(out)
    }
}

fn create_schema(client: &mut Client, store: &str) -> Result<(), PersistError> {
    let mut tx = client.transaction().map_err(pg_error("begin", store))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .map_err(pg_error("lock schema for", store))?;
    tx.batch_execute(SCHEMA)
        .map_err(pg_error("create schema for", store))?;
    tx.commit().map_err(pg_error("commit schema for", store))
}

/// Takes the store's advisory lock: at once, or waiting up to `wait` (the
/// server's `lock_timeout`). `false` if another session holds it.
fn take_lock(
    client: &mut Client,
    store: &str,
    wait: Option<Duration>,
) -> Result<bool, PersistError> {
    let Some(wait) = wait else {
        return client
            .query_one(
                &format!("SELECT pg_try_advisory_lock({LOCK_KEY})"),
                &[&store],
            )
            .map(|row| row.get(0))
            .map_err(pg_error("lock", store));
    };
    client
        .batch_execute(&lock_wait_setting(wait))
        .map_err(pg_error("set lock_timeout for", store))?;
    let taken = match client.execute(&format!("SELECT pg_advisory_lock({LOCK_KEY})"), &[&store]) {
        Ok(_) => true,
        Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => false,
        Err(e) => return Err(pg_error("lock", store)(e)),
    };
    client
        .batch_execute("RESET lock_timeout")
        .map_err(pg_error("reset lock_timeout for", store))?;
    Ok(taken)
}

/// The error for a store held by someone else, naming them if the lease row
/// says who.
fn locked(client: &mut Client, store: &str) -> PersistError {
    let holder = client
        .query_opt(
            "SELECT holder, token, backend_pid, acquired_at::text FROM ln_kv_lease WHERE store = $1",
            &[&store],
        )
        .ok()
        .flatten()
        .map(|row| {
            let (holder, token, pid, since): (String, i64, i32, String) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            format!("{holder} (token {token}, server pid {pid}, since {since})")
        })
        .unwrap_or_else(|| "an unnamed instance".to_owned());
    PersistError::Locked {
        backend: BACKEND,
        location: format!("store {store:?}"),
        holder,
    }
}

fn to_version(namespace: &str, key: &str, version: i64) -> Result<u64, PersistError> {
    u64::try_from(version).map_err(|_| PersistError::Corrupt {
        backend: BACKEND,
        namespace: namespace.to_owned(),
        key: key.to_owned(),
        reason: format!("negative version {version}"),
    })
}

fn write_in(
    tx: &mut Transaction<'_>,
    st: &Statements,
    store: &str,
    namespace: &str,
    key: &str,
    version: u64,
    value: &[u8],
) -> Result<(), PersistError> {
    let name = record_name(namespace, key);
    let stored = tx
        .query_opt(&st.version, &[&store, &namespace, &key])
        .map_err(pg_error("read version of", &name))?
        .map(|row| to_version(namespace, key, row.get(0)))
        .transpose()?;
    let decision = decide_write(BACKEND, namespace, key, stored, version, || {
        tx.query_one(&st.same, &[&store, &namespace, &key, &value])
            .map(|row| row.get(0))
            .map_err(pg_error("compare", &name))
    })?;
    if decision == WriteDecision::Apply {
        tx.execute(
            &st.upsert,
            &[&store, &namespace, &key, &(version as i64), &value],
        )
        .map_err(pg_error("write", &name))?;
    }
    Ok(())
}

fn remove_in(
    tx: &mut Transaction<'_>,
    st: &Statements,
    store: &str,
    namespace: &str,
    key: &str,
) -> Result<(), PersistError> {
    tx.execute(&st.delete, &[&store, &namespace, &key])
        .map_err(pg_error("remove", record_name(namespace, key)))?;
    Ok(())
}

impl KvStore for PostgresStore {
    fn read(&self, namespace: &str, key: &str) -> Result<Option<Versioned>, PersistError> {
        keys::validate_record(namespace, key)?;
        let mut guard = self.conn();
        let Connection { client, st } = &mut *guard;
        let row = client
            .query_opt(&st.read, &[&self.store, &namespace, &key])
            .map_err(pg_error("read", record_name(namespace, key)))?;
        row.map(|row| {
            Ok(Versioned {
                version: to_version(namespace, key, row.get(0))?,
                value: row.get(1),
            })
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
        self.fenced(|tx, st, store| write_in(tx, st, store, namespace, key, version, value))
    }

    fn remove(&self, namespace: &str, key: &str) -> Result<(), PersistError> {
        keys::validate_record(namespace, key)?;
        self.fenced(|tx, st, store| remove_in(tx, st, store, namespace, key))
    }

    fn list(&self, namespace: &str) -> Result<Vec<String>, PersistError> {
        self.list_prefix(namespace, "")
    }

    fn list_prefix(&self, namespace: &str, prefix: &str) -> Result<Vec<String>, PersistError> {
        keys::validate_namespace(namespace)?;
        keys::validate_prefix(prefix)?;
        let mut guard = self.conn();
        let Connection { client, st } = &mut *guard;
        let rows = client
            .query(&st.list, &[&self.store, &namespace, &prefix])
            .map_err(pg_error("list", namespace))?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn write_batch(&self, ops: &[BatchOp]) -> Result<(), PersistError> {
        validate_batch(BACKEND, ops)?;
        self.fenced(|tx, st, store| {
            for op in ops {
                match op {
                    BatchOp::Write {
                        namespace,
                        key,
                        version,
                        value,
                    } => write_in(tx, st, store, namespace, key, *version, value)?,
                    BatchOp::Remove { namespace, key } => remove_in(tx, st, store, namespace, key)?,
                }
            }
            Ok(())
        })
    }

    fn batch_is_atomic(&self) -> bool {
        true
    }
}
