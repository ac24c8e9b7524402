//! The randomized restart test on every storage backend (issue
//! "lightning-persist": the channel's randomized restart test runs on each
//! backend). A seeded sequence of honest operations
//! (`lightning_test_support::sim::random_ops`: offers both ways, fulfills,
//! fails, fee updates, commits, deliveries in any order each direction
//! allows, reconnections, restarts that lose the messages written but not
//! sent, crashes between handling a message and its write) runs on two
//! endpoints whose records live in `MemoryStore`, `FsStore`, `SqliteStore`
//! and `PostgresStore`. A restart drops the endpoint's store handle, opens
//! the backend again and rebuilds the channel only from what it returns.
//! Checked as in the long run: value conserved on both sides after every
//! operation; no HTLC received or settled twice, none lost; both sides
//! agree on their commitments (which verify with libbitcoinconsensus)
//! whenever quiet; at the end all settles and each balance moved by exactly
//! the fulfilled amounts.
//!
//! Operation counts are scaled per backend because every durable write is
//! fsync'd (FsStore: two fsyncs; SQLite: WAL with `synchronous=FULL`;
//! PostgreSQL: a committed transaction, the slowest): 4,000 on memory,
//! 1,200 on files and SQLite, 600 on PostgreSQL, keeping the whole file
//! well under a minute in debug.
//! `LN_CHANNEL_RESTART_OPS` overrides the count for all backends.
#![allow(clippy::unwrap_used)]

mod channel_harness;
mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use channel_harness::{open_with_stores, OpenOptions};
use lightning_persist::{
    FsStore, KvStore, MemoryStore, PostgresOptions, PostgresStore, SqliteStore,
};
use lightning_test_support::external::{postgres_url, unique_name};
use lightning_test_support::pair::Reopen;
use lightning_test_support::sim::{random_ops, Sim};

fn ops(default: usize) -> usize {
    std::env::var("LN_CHANNEL_RESTART_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn options() -> OpenOptions {
    let mut o = OpenOptions::default();
    for c in [&mut o.a_config, &mut o.b_config] {
        c.snapshot_every = 12;
        c.max_dust_htlc_exposure_msat = 50_000_000;
    }
    o
}

/// Runs `count` random operations (seed `seed`) over stores opened by
/// `open_a`/`open_b`, which are also used to reopen them on restart.
fn run(
    backend: &str,
    seed: u64,
    count: usize,
    mut open_a: impl FnMut() -> Arc<dyn KvStore> + 'static,
    mut open_b: impl FnMut() -> Arc<dyn KvStore> + 'static,
) {
    let started = Instant::now();
    let mut pair = open_with_stores(options(), open_a(), open_b());
    pair.a.reopen = Some(Box::new(open_a) as Reopen);
    pair.b.reopen = Some(Box::new(open_b) as Reopen);
    let mut sim = Sim::new(pair);
    for op in random_ops(seed, count) {
        sim.step(op);
    }
    sim.finish();
    let s = sim.stats;
    eprintln!(
        "{backend}: {count} ops in {:.1?}: {} delivered, {} HTLCs settled, {} restarts ({} crashes before a write), {} reconnects, {} agreement checks, {} durable writes",
        started.elapsed(),
        s.delivered,
        sim.ledger.settled,
        s.restarts,
        s.crashes,
        s.reconnects,
        s.agreements,
        sim.pair.a.stats.writes + sim.pair.b.stats.writes,
    );
    assert!(!sim.tainted && !sim.failed);
    assert!(
        s.restarts >= 5 && s.crashes >= 1 && s.agreements >= 5,
        "{s:?}"
    );
    assert!(
        sim.ledger.settled >= 20,
        "only {} settled",
        sim.ledger.settled
    );
}

#[test]
fn random_restarts_on_memory_store() {
    // A restart keeps the store (memory does not survive a process).
    let a: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let b: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    run(
        "memory",
        0xa11ce,
        ops(4000),
        move || a.clone(),
        move || b.clone(),
    );
}

fn dir(root: &tempfile::TempDir, name: &str) -> PathBuf {
    root.path().join(name)
}

#[test]
fn random_restarts_on_fs_store() {
    let root = Arc::new(tempfile::tempdir().unwrap());
    let (ra, rb) = (root.clone(), root.clone());
    run(
        "fs",
        0xf5,
        ops(1200),
        move || Arc::new(FsStore::open(dir(&ra, "a"), "a").unwrap()),
        move || Arc::new(FsStore::open(dir(&rb, "b"), "b").unwrap()),
    );
}

#[test]
fn random_restarts_on_sqlite_store() {
    let root = Arc::new(tempfile::tempdir().unwrap());
    let (ra, rb) = (root.clone(), root.clone());
    run(
        "sqlite",
        0x5417e,
        ops(1200),
        move || Arc::new(SqliteStore::open(dir(&ra, "a.sqlite"), "a").unwrap()),
        move || Arc::new(SqliteStore::open(dir(&rb, "b.sqlite"), "b").unwrap()),
    );
}

#[test]
fn random_restarts_on_postgres_store() {
    let Some(url) = postgres_url("random_restarts_on_postgres_store") else {
        return;
    };
    let open = |url: String, store: String| {
        move || -> Arc<dyn KvStore> {
            let mut o = PostgresOptions::new(&store, "channel-restart");
            // The server frees the old connection's lease a moment after
            // the client drops it.
            o.lock_wait = Some(Duration::from_secs(10));
            Arc::new(PostgresStore::open(&url, &o).unwrap())
        }
    };
    run(
        "postgres",
        0x9057,
        ops(600),
        open(url.clone(), unique_name("chanrestart-a")),
        open(url, unique_name("chanrestart-b")),
    );
}
