//! Durable writes per second on each `KvStore` backend against their floor,
//! all in one run: a plain `write` + `fsync` of the same number of bytes to
//! one file (issue 22: the goal for `FsStore` is at least 0.8× the floor's
//! rate, i.e. at most 1.25× its time per write).
//!
//! Before the criterion rows, each backend is also measured in alternation
//! with the floor (`paired ...` lines on stderr): on a shared machine whose
//! IO load drifts, that ratio is the steadier one.
//!
//! Rows: `floor` (the value's bytes written at offset 0 of an existing
//! file of that size with one `write`, then `fsync`: an in-place rewrite,
//! so no block allocation or size change, but the file's mtime changes),
//! `fs` (`FsStore::write`, the frame written into the log's preallocated
//! zeros, then `fdatasync`), `fs_recycled` (the same once compactions have
//! recycled the log: frames written over an earlier generation's, the
//! steady state of a long-running store), `fs_append` (the same with
//! `log_preallocate_bytes = 0`: every frame extends the file, as before
//! preallocation), `fs_batch2` (`FsStore::write_batch` of two records of
//! this size, one durable operation), `sqlite`, and `postgres` when
//! `LN_TEST_POSTGRES_URL` names a reachable server (skipped with a note on
//! stderr otherwise).
//!
//! `LN_BENCH_PAIRED_ONLY=1` prints the `paired` lines of `fs` and
//! `fs_append` only (a few seconds when `fsync` is fast), to repeat them
//! while the machine's disk is quiet.
//!
//! `cargo bench -p lightning-benches --bench durable_write -- --warm-up-time 1 --measurement-time 3`

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lightning_benches::{bench_store_writes, bench_write_fsync_floor, SIZES};
use lightning_persist::{
    BatchOp, FsOptions, FsStore, KvStore, PostgresOptions, PostgresStore, SqliteStore,
};

fn bench_writes(c: &mut Criterion, name: &str, store: &dyn KvStore) {
    bench_store_writes(c, &format!("durable_write/{name}"), store);
}

fn bench_batches(c: &mut Criterion, name: &str, store: &dyn KvStore) {
    let mut group = c.benchmark_group(format!("durable_write/{name}"));
    group.throughput(Throughput::Elements(1));
    for (size, label) in SIZES {
        let value = vec![0x5au8; size];
        let mut version = 0u64;
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| {
                version += 1;
                let ops: Vec<BatchOp> = ["a", "b"]
                    .iter()
                    .map(|k| BatchOp::Write {
                        namespace: "bench".into(),
                        key: format!("batch-{label}-{k}"),
                        version,
                        value: value.clone(),
                    })
                    .collect();
                store.write_batch(&ops).expect("durable batch");
            })
        });
    }
    group.finish();
}

/// The floor and `store` measured in alternation, one write each in turn,
/// so that a change in the machine's load (other processes' IO) weighs on
/// both alike; printed to stderr as the ratio of writes per second.
fn paired(dir: &Path, name: &str, store: &dyn KvStore) {
    const PAIRS: u32 = 300;
    for (size, label) in SIZES {
        let value = vec![0x3cu8; size];
        let mut floor =
            File::create(dir.join(format!("paired-floor-{label}"))).expect("floor file");
        let (mut floor_time, mut store_time) = (Duration::ZERO, Duration::ZERO);
        let key = format!("paired-{label}");
        for i in 0..PAIRS {
            let start = Instant::now();
            floor.seek(SeekFrom::Start(0)).expect("seek");
            floor.write_all(&value).expect("write");
            floor.sync_all().expect("fsync");
            floor_time += start.elapsed();
            let start = Instant::now();
            store
                .write("bench", &key, u64::from(i), &value)
                .expect("durable write");
            store_time += start.elapsed();
        }
        eprintln!(
            "paired {name}/{label}: floor {:.0} us, store {:.0} us per write, {:.2}x the floor's writes/s ({PAIRS} pairs)",
            floor_time.as_secs_f64() * 1e6 / f64::from(PAIRS),
            store_time.as_secs_f64() * 1e6 / f64::from(PAIRS),
            floor_time.as_secs_f64() / store_time.as_secs_f64(),
        );
    }
}

/// An `FsStore` in its steady state: compacting every 8 MiB of log (the
/// default is 64 MiB, which a short run never reaches) and already past
/// two compactions, so that its log is a recycled one (frames written over
/// an earlier generation's, no zeros written ahead). Panics if the log was
/// not recycled, since the row would then measure something else.
fn recycled_store(dir: &Path) -> FsStore {
    let mut options = FsOptions::default();
    options.compact_min_log_bytes = 8 << 20;
    let root = dir.join("fs-recycled");
    let store = FsStore::open_with(&root, "bench", &options).expect("fs store");
    let value = vec![0x11u8; 64 << 10];
    for version in 0..400u64 {
        store
            .write("bench", "warm-up", version, &value)
            .expect("durable write");
    }
    let logs: Vec<String> = std::fs::read_dir(&root)
        .expect("store directory")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("~log."))
        .collect();
    assert!(
        logs.iter().all(|n| !n.ends_with("00000000000000000001")),
        "the warm-up did not get past the first log: {logs:?}"
    );
    store
}

fn durable_write(c: &mut Criterion) {
    // Beside the target directory, on the same filesystem as a node's data
    // would usually be; not /tmp, which may be a tmpfs.
    // `LN_BENCH_DIR` puts it elsewhere (a tmpfs such as /dev/shm isolates
    // the CPU and syscall cost of each backend from the disk's).
    let base = std::env::var("LN_BENCH_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    let dir = tempfile::tempdir_in(base).expect("temporary directory");

    let mut append_only = FsOptions::default();
    append_only.log_preallocate_bytes = 0;
    if std::env::var_os("LN_BENCH_PAIRED_ONLY").is_some() {
        let fs = FsStore::open(dir.path().join("fs"), "bench").expect("fs store");
        let fs_append = FsStore::open_with(dir.path().join("fs-append"), "bench", &append_only)
            .expect("fs store");
        paired(dir.path(), "fs", &fs);
        paired(dir.path(), "fs_append", &fs_append);
        let fs_recycled = recycled_store(dir.path());
        paired(dir.path(), "fs_recycled", &fs_recycled);
        return;
    }

    bench_write_fsync_floor(c, "durable_write/floor", dir.path());

    let fs = FsStore::open(dir.path().join("fs"), "bench").expect("fs store");
    paired(dir.path(), "fs", &fs);
    bench_writes(c, "fs", &fs);
    bench_batches(c, "fs_batch2", &fs);
    drop(fs);
    let fs_append =
        FsStore::open_with(dir.path().join("fs-append"), "bench", &append_only).expect("fs store");
    paired(dir.path(), "fs_append", &fs_append);
    bench_writes(c, "fs_append", &fs_append);
    drop(fs_append);
    let fs_recycled = recycled_store(dir.path());
    paired(dir.path(), "fs_recycled", &fs_recycled);
    bench_writes(c, "fs_recycled", &fs_recycled);
    drop(fs_recycled);
    let sqlite = SqliteStore::open(dir.path().join("kv.sqlite"), "bench").expect("sqlite store");
    paired(dir.path(), "sqlite", &sqlite);
    bench_writes(c, "sqlite", &sqlite);
    drop(sqlite);
    let postgres = std::env::var("LN_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .map(|url| {
            let store = format!("bench-durable-{}", std::process::id());
            PostgresStore::open(&url, &PostgresOptions::new(&store, "bench"))
        });
    match postgres {
        Some(Ok(store)) => {
            paired(dir.path(), "postgres", &store);
            bench_writes(c, "postgres", &store)
        }
        Some(Err(e)) => eprintln!("durable_write: PostgreSQL unreachable ({e}), no postgres rows"),
        None => eprintln!("durable_write: LN_TEST_POSTGRES_URL unset, no postgres rows"),
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = durable_write
}
criterion_main!(benches);
