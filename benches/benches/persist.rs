//! Durable writes per second on each `KvStore` backend, beside the floor: a
//! plain write plus `fsync` of the same number of bytes to one file.
//!
//! `cargo bench -p lightning-benches --bench persist`; the PostgreSQL rows
//! need `LN_TEST_POSTGRES_URL` (see `.ci/postgres.sh`).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use lightning_benches::{bench_store_writes, bench_write_fsync_floor};
use lightning_persist::{FsStore, PostgresOptions, PostgresStore, SqliteStore};

fn persist(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");

    bench_write_fsync_floor(c, "floor_write_fsync", dir.path());

    let fs = FsStore::open(dir.path().join("fs"), "bench").expect("fs store");
    bench_store_writes(c, "fs_store", &fs);
    let sqlite = SqliteStore::open(dir.path().join("kv.sqlite"), "bench").expect("sqlite store");
    bench_store_writes(c, "sqlite_store", &sqlite);
    match std::env::var("LN_TEST_POSTGRES_URL") {
        Ok(url) => {
            let store = format!("bench-{}", std::process::id());
            let postgres = PostgresStore::open(&url, &PostgresOptions::new(&store, "bench"))
                .expect("postgres store");
            bench_store_writes(c, "postgres_store", &postgres);
        }
        Err(_) => eprintln!("persist bench: LN_TEST_POSTGRES_URL unset, no PostgreSQL rows"),
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = persist
}
criterion_main!(benches);
