//! Durable writes per second on each `KvStore` backend, beside the floor: a
//! plain write plus `fsync` of the same number of bytes to one file.
//!
//! `cargo bench -p lightning-benches --bench persist`; the PostgreSQL rows
//! need `LN_TEST_POSTGRES_URL` (see `.ci/postgres.sh`).

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lightning_persist::{FsStore, KvStore, PostgresOptions, PostgresStore, SqliteStore};

const SIZES: [(usize, &str); 2] = [(1 << 10, "1KiB"), (64 << 10, "64KiB")];

fn bench_store(c: &mut Criterion, group_name: &str, store: &dyn KvStore) {
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(1));
    for (size, label) in SIZES {
        let value = vec![0xa5u8; size];
        let mut version = 0u64;
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| {
                version += 1;
                store
                    .write("bench", label, version, &value)
                    .expect("durable write");
            })
        });
    }
    group.finish();
}

fn persist(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");

    let mut group = c.benchmark_group("floor_write_fsync");
    group.throughput(Throughput::Elements(1));
    for (size, label) in SIZES {
        let value = vec![0xa5u8; size];
        let mut file = File::create(dir.path().join(format!("floor-{label}"))).expect("floor file");
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| {
                file.seek(SeekFrom::Start(0)).expect("seek");
                file.write_all(&value).expect("write");
                file.sync_all().expect("fsync");
            })
        });
    }
    group.finish();

    let fs = FsStore::open(dir.path().join("fs"), "bench").expect("fs store");
    bench_store(c, "fs_store", &fs);
    let sqlite = SqliteStore::open(dir.path().join("kv.sqlite"), "bench").expect("sqlite store");
    bench_store(c, "sqlite_store", &sqlite);
    match std::env::var("LN_TEST_POSTGRES_URL") {
        Ok(url) => {
            let store = format!("bench-{}", std::process::id());
            let postgres = PostgresStore::open(&url, &PostgresOptions::new(&store, "bench"))
                .expect("postgres store");
            bench_store(c, "postgres_store", &postgres);
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
