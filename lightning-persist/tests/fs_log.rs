//! `FsStore`'s log and snapshot on disk: a torn tail is dropped, damage in
//! the middle is a typed error, and every state a crash can leave in the
//! middle of a compaction opens to the same records.

// Test code may unwrap (clippy.toml allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]
#![cfg(feature = "fs")]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::value_for;
use lightning_persist::{BatchOp, FsOptions, FsStore, KvStore, PersistError};

fn files_starting(root: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with(prefix) && !name.ends_with(".tmp")
        })
        .collect();
    out.sort();
    out
}

fn only_log(root: &Path) -> PathBuf {
    let logs = files_starting(root, "~log.");
    assert_eq!(logs.len(), 1, "{logs:?}");
    logs[0].clone()
}

/// Everything in namespace `ns`, as key -> (version, value).
fn contents(store: &FsStore) -> BTreeMap<String, (u64, Vec<u8>)> {
    store
        .list("ns")
        .unwrap()
        .into_iter()
        .map(|k| {
            let r = store.read("ns", &k).unwrap().unwrap();
            (k, (r.version, r.value))
        })
        .collect()
}

/// Writes records 0..n (`k<i>` at version i+1), one per frame, and gives
/// where the log's last frame ends after each. The log file itself is
/// longer: zeros follow, and appends go into them without growing it.
fn write_records(store: &FsStore, root: &Path, n: u64) -> Vec<u64> {
    (0..n)
        .map(|i| {
            let key = format!("k{i}");
            store
                .write("ns", &key, i + 1, &value_for(&key, i + 1, 200))
                .unwrap();
            let space = store.log_space();
            assert_eq!(
                std::fs::metadata(only_log(root)).unwrap().len(),
                space.allocated
            );
            assert!(space.allocated > space.used, "{space:?}");
            space.used
        })
        .collect()
}

#[test]
fn torn_tail_is_dropped_and_the_store_goes_on() {
    for damage in [
        "flip the last byte",
        "flip the first byte",
        "zeros from inside the frame on",
        "cut short",
        "garbage in the zeros after it",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path(), "t").unwrap();
        let ends = write_records(&store, dir.path(), 5);
        drop(store);
        let log = only_log(dir.path());
        let mut bytes = std::fs::read(&log).unwrap();
        assert!(bytes[ends[4] as usize..].iter().all(|&b| b == 0));
        let last_start = ends[3] as usize;
        let last_end = ends[4] as usize;
        match damage {
            "flip the last byte" => bytes[last_end - 1] ^= 0x40,
            "flip the first byte" => bytes[last_start] ^= 1,
            // A torn write into the preallocated space: its first sectors
            // landed, the rest are still zeros.
            "zeros from inside the frame on" => bytes[last_start + 30..].fill(0),
            "cut short" => bytes.truncate(last_start + 30),
            // The whole last frame lost, some of a frame's bytes further on
            // (never a whole frame).
            _ => {
                bytes[last_start..].fill(0);
                bytes[last_end + 100..last_end + 140].fill(0x4c);
            }
        }
        std::fs::write(&log, &bytes).unwrap();

        let store = FsStore::open(dir.path(), "t").unwrap();
        let keys = store.list("ns").unwrap();
        assert_eq!(keys, vec!["k0", "k1", "k2", "k3"], "{damage}");
        for key in &keys {
            let r = store.read("ns", key).unwrap().unwrap();
            assert!(common::value_is_valid(key, r.version, &r.value));
        }
        // Cut off at open, durably: the file ends where the last good record
        // does, and new writes follow it.
        assert_eq!(std::fs::metadata(&log).unwrap().len(), ends[3], "{damage}");
        assert_eq!(store.log_space().used, ends[3], "{damage}");
        store.write("ns", "k4", 9, b"after the tear").unwrap();
        drop(store);
        let store = FsStore::open(dir.path(), "t").unwrap();
        assert_eq!(
            store.read("ns", "k4").unwrap().unwrap().value,
            b"after the tear"
        );
        assert_eq!(store.list("ns").unwrap().len(), 5);
    }
}

#[test]
fn damage_in_the_middle_is_a_typed_error_not_a_rewind() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path(), "t").unwrap();
    let ends = write_records(&store, dir.path(), 5);
    drop(store);
    let log = only_log(dir.path());
    let mut bytes = std::fs::read(&log).unwrap();
    // A byte inside the second record's value.
    let at = ends[0] as usize + 60;
    bytes[at] ^= 0x10;
    std::fs::write(&log, &bytes).unwrap();
    match FsStore::open(dir.path(), "t") {
        Err(PersistError::CorruptLog { offset, reason, .. }) => {
            assert_eq!(offset, ends[0], "{reason}");
            assert!(reason.contains("followed by a valid frame"), "{reason}");
        }
        other => panic!("expected CorruptLog, got {other:?}"),
    }
    // Nothing was cut: the records after the damage are still on disk.
    assert_eq!(std::fs::read(&log).unwrap(), bytes);
    // Damage in a frame's header (its length) is caught the same way.
    bytes[at] ^= 0x10;
    bytes[ends[1] as usize + 9] ^= 0x01;
    std::fs::write(&log, &bytes).unwrap();
    assert!(matches!(
        FsStore::open(dir.path(), "t"),
        Err(PersistError::CorruptLog { offset, .. }) if offset == ends[1]
    ));
    // A frame in the middle read back as zeros (a lost write, a zeroed
    // block) is no end of the log: the frames after it make it damage.
    bytes[ends[1] as usize + 9] ^= 0x01;
    bytes[ends[1] as usize..ends[2] as usize].fill(0);
    std::fs::write(&log, &bytes).unwrap();
    match FsStore::open(dir.path(), "t") {
        Err(PersistError::CorruptLog { offset, reason, .. }) => {
            assert_eq!(offset, ends[1], "{reason}");
            assert!(reason.contains("followed by a valid frame"), "{reason}");
        }
        other => panic!("expected CorruptLog, got {other:?}"),
    }
    assert_eq!(std::fs::read(&log).unwrap(), bytes);
}

/// The zeros after the last frame are the end of the log: a clean reopen
/// keeps them (no truncation, the file's length unchanged) and appends
/// overwrite them without growing the file, until they run out.
#[test]
fn preallocated_zeros_end_the_log_and_are_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = FsOptions::default();
    options.log_preallocate_bytes = 64 << 10;
    let store = FsStore::open_with(dir.path(), "t", &options).unwrap();
    let ends = write_records(&store, dir.path(), 5);
    let log = only_log(dir.path());
    let len = std::fs::metadata(&log).unwrap().len();
    assert_eq!(len, 64 << 10);
    drop(store);
    let store = FsStore::open_with(dir.path(), "t", &options).unwrap();
    assert_eq!(store.list("ns").unwrap().len(), 5);
    assert_eq!(std::fs::metadata(&log).unwrap().len(), len);
    assert_eq!(store.log_space().used, ends[4]);
    // Fill the step: the file does not grow until a frame does not fit,
    // then it grows by one step with that frame.
    let mut i = 0u64;
    while store.log_space().used + 300 < len {
        store
            .write("ns", "fill", i, &value_for("fill", i, 200))
            .unwrap();
        assert_eq!(std::fs::metadata(&log).unwrap().len(), len);
        i += 1;
    }
    store
        .write("ns", "fill", i, &value_for("fill", i, 1000))
        .unwrap();
    assert_eq!(std::fs::metadata(&log).unwrap().len(), 128 << 10);
    // reserve_log grows it ahead by whole steps.
    store.reserve_log(100 << 10).unwrap();
    let space = store.log_space();
    assert!(space.allocated >= space.used + (100 << 10), "{space:?}");
    assert_eq!(space.allocated % (64 << 10), 0);
    assert_eq!(std::fs::metadata(&log).unwrap().len(), space.allocated);
    drop(store);
    let store = FsStore::open_with(dir.path(), "t", &options).unwrap();
    assert_eq!(store.log_space(), space);
    let r = store.read("ns", "fill").unwrap().unwrap();
    assert!(common::value_is_valid("fill", r.version, &r.value));
    // Preallocation off: the log is exactly its frames.
    options.log_preallocate_bytes = 0;
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open_with(dir.path(), "t", &options).unwrap();
    store.write("ns", "k", 1, b"v").unwrap();
    let space = store.log_space();
    assert_eq!(space.used, space.allocated);
    assert_eq!(
        std::fs::metadata(only_log(dir.path())).unwrap().len(),
        space.used
    );
}

/// A log other than the last (a compaction died after creating the next
/// one) may end in zeros, but a damaged frame there is never a torn tail.
#[test]
fn damage_in_an_older_log_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path(), "t").unwrap();
    let ends = write_records(&store, dir.path(), 3);
    drop(store);
    let log = only_log(dir.path());
    let name = log.file_name().unwrap().to_str().unwrap().to_owned();
    let gen: u64 = name.trim_start_matches("~log.").parse().unwrap();
    let next = dir.path().join(format!("~log.{:020}", gen + 1));
    std::fs::write(&next, b"").unwrap();
    // Zeros after its frames: the end of it.
    let store = FsStore::open(dir.path(), "t").unwrap();
    assert_eq!(store.list("ns").unwrap().len(), 3);
    drop(store);
    assert_eq!(files_starting(dir.path(), "~log.").len(), 2);
    // Its last frame torn: not the last log, so damage.
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[ends[2] as usize - 1] ^= 0x01;
    std::fs::write(&log, &bytes).unwrap();
    match FsStore::open(dir.path(), "t") {
        Err(PersistError::CorruptLog { offset, .. }) => assert_eq!(offset, ends[1]),
        other => panic!("expected CorruptLog, got {other:?}"),
    }
}

#[test]
fn a_batch_is_one_frame() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path(), "t").unwrap();
    store.write("ns", "gone", 1, b"x").unwrap();
    let before = store.log_space().used;
    store
        .write_batch(&[
            BatchOp::Write {
                namespace: "ns".into(),
                key: "a".into(),
                version: 1,
                value: vec![1; 300],
            },
            BatchOp::Write {
                namespace: "other".into(),
                key: "b".into(),
                version: 1,
                value: vec![2; 300],
            },
            BatchOp::Remove {
                namespace: "ns".into(),
                key: "gone".into(),
            },
        ])
        .unwrap();
    let after = store.log_space().used as usize;
    drop(store);
    // Tear the batch's frame anywhere: none of it survives.
    let log = only_log(dir.path());
    let bytes = std::fs::read(&log).unwrap();
    for cut in [before as usize + 1, before as usize + 350, after - 1] {
        std::fs::write(&log, &bytes[..cut]).unwrap();
        let store = FsStore::open(dir.path(), "t").unwrap();
        assert_eq!(store.list("ns").unwrap(), vec!["gone"], "cut at {cut}");
        assert!(store.list("other").unwrap().is_empty());
        drop(store);
    }
}

/// Copies the store's files (not the lock) from `from` to `to`.
fn copy_files(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        if name != "~lock" {
            std::fs::copy(&path, to.join(name)).unwrap();
        }
    }
}

#[test]
fn every_crash_point_of_a_compaction_opens_to_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let (before, after) = (dir.path().join("before"), dir.path().join("after"));
    let mut options = FsOptions::default();
    options.compact_min_log_bytes = u64::MAX;
    let store = FsStore::open_with(&live, "t", &options).unwrap();
    for i in 0..30u64 {
        let key = format!("k{}", i % 7);
        store
            .write("ns", &key, i, &value_for(&key, i, 500))
            .unwrap();
        if i % 5 == 0 {
            store.remove("ns", "k3").unwrap();
        }
    }
    store.compact().unwrap();
    // A first compaction, so that the one under test has an old snapshot to
    // replace too.
    for i in 30..40u64 {
        let key = format!("k{}", i % 5);
        store
            .write("ns", &key, i, &value_for(&key, i, 900))
            .unwrap();
    }
    let expected = contents(&store);
    copy_files(&live, &before);
    store.compact().unwrap();
    copy_files(&live, &after);
    drop(store);
    assert_eq!(files_starting(&before, "~snapshot.").len(), 1);
    let new_snapshot = files_starting(&after, "~snapshot.").pop().unwrap();
    let new_log = files_starting(&after, "~log.").pop().unwrap();

    let check = |name: &str, build: &dyn Fn(&Path)| {
        let root = dir.path().join(name);
        build(&root);
        let store = FsStore::open(&root, "t").unwrap();
        assert_eq!(contents(&store), expected, "{name}");
        drop(store);
        // Opening cleaned up: one snapshot is left, and the log after it
        // (two logs where the new one was created before the rename).
        assert_eq!(files_starting(&root, "~snapshot.").len(), 1, "{name}");
        let logs = files_starting(&root, "~log.").len();
        assert!((1..=2).contains(&logs), "{name}: {logs} logs");
        assert!(!std::fs::read_dir(&root).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_str()
            .unwrap()
            .ends_with(".tmp")));
    };
    let tmp_name = |p: &Path| format!("{}.tmp", p.file_name().unwrap().to_str().unwrap());
    // Died while writing the new snapshot: a part of it under its temporary
    // name.
    check("partial-tmp", &|root| {
        copy_files(&before, root);
        let bytes = std::fs::read(&new_snapshot).unwrap();
        std::fs::write(
            root.join(tmp_name(&new_snapshot)),
            &bytes[..bytes.len() / 2],
        )
        .unwrap();
    });
    // Died after writing it and creating the new log, before the rename.
    check("whole-tmp-and-new-log", &|root| {
        copy_files(&before, root);
        std::fs::copy(&new_snapshot, root.join(tmp_name(&new_snapshot))).unwrap();
        std::fs::copy(&new_log, root.join(new_log.file_name().unwrap())).unwrap();
    });
    // Died after the rename, before deleting the old snapshot and log.
    check("renamed-old-files-left", &|root| {
        copy_files(&before, root);
        copy_files(&after, root);
    });
    // The new log's creation did not reach the disk, the rename did.
    check("renamed-no-new-log", &|root| {
        copy_files(&before, root);
        std::fs::copy(&new_snapshot, root.join(new_snapshot.file_name().unwrap())).unwrap();
    });
    // Finished.
    check("done", &|root| copy_files(&after, root));
}

#[test]
fn automatic_compaction_keeps_every_record_and_bounds_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = FsOptions::default();
    options.compact_min_log_bytes = 64 << 10;
    let store = FsStore::open_with(dir.path(), "t", &options).unwrap();
    let mut expected = BTreeMap::new();
    for i in 0..400u64 {
        let key = format!("k{:02}", i % 20);
        let value = value_for(&key, i, 1000);
        store.write("ns", &key, i, &value).unwrap();
        expected.insert(key, (i, value));
        // Reads keep working across compactions.
        let key = format!("k{:02}", (i * 7) % 20);
        if let Some(r) = store.read("ns", &key).unwrap() {
            assert_eq!((r.version, &r.value), (expected[&key].0, &expected[&key].1));
        }
    }
    assert_eq!(contents(&store), expected);
    // 400 KB were appended; compaction kept the log under its threshold
    // plus one record, and its file under that plus one preallocation step
    // (at most the threshold).
    let log = store.log_space().used;
    assert!(log < (64 << 10) + 2000, "log of {log} bytes");
    let file = std::fs::metadata(only_log(dir.path())).unwrap().len();
    assert!(file <= 2 * (64 << 10) + 2000, "log file of {file} bytes");
    assert_eq!(files_starting(dir.path(), "~snapshot.").len(), 1);
    drop(store);
    let store = FsStore::open(dir.path(), "t").unwrap();
    assert_eq!(contents(&store), expected);
}

/// Run under `strace -f -c -e trace=fsync,fdatasync` to count syncs per
/// write: `LN_PERSIST_SYNC_COUNT=<writes>` makes it write that many
/// records (and as many batches of two) after opening.
#[test]
fn sync_count_probe() {
    let Ok(n) = std::env::var("LN_PERSIST_SYNC_COUNT") else {
        return;
    };
    let n: u64 = n.parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path(), "probe").unwrap();
    println!("SYNC-PROBE opened");
    for i in 0..n {
        store.write("ns", "k", i, &[0xa5; 1024]).unwrap();
    }
    println!("SYNC-PROBE {n} writes done");
    for i in 0..n {
        let ops: Vec<BatchOp> = ["a", "b"]
            .iter()
            .map(|k| BatchOp::Write {
                namespace: "ns".into(),
                key: k.to_string(),
                version: i,
                value: vec![0x5a; 1024],
            })
            .collect();
        store.write_batch(&ops).unwrap();
    }
    println!("SYNC-PROBE {n} batches done");
}
