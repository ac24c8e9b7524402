//! What the storage benches share: the record sizes, the floor (a plain
//! write plus `fsync` of the same bytes to one file) and the timed durable
//! write through a [`KvStore`]. The benches themselves live under
//! `benches/`.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput};
use lightning_persist::KvStore;

/// The record sizes the storage benches write, with their labels.
pub const SIZES: [(usize, &str); 2] = [(1 << 10, "1KiB"), (64 << 10, "64KiB")];

/// The floor, as the group `group_name`: for each size, one write at
/// offset 0 of a file in `dir` and its `fsync`.
pub fn bench_write_fsync_floor(c: &mut Criterion, group_name: &str, dir: &Path) {
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(1));
    for (size, label) in SIZES {
        let value = vec![0xa5u8; size];
        let mut file = File::create(dir.join(format!("floor-{label}"))).expect("floor file");
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| {
                file.seek(SeekFrom::Start(0)).expect("seek");
                file.write_all(&value).expect("write");
                file.sync_all().expect("fsync");
            })
        });
    }
    group.finish();
}

/// One durable `write` per iteration through `store`, each with the next
/// version, as the group `group_name`.
pub fn bench_store_writes(c: &mut Criterion, group_name: &str, store: &dyn KvStore) {
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
