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
    // With preallocation the old log is recycled as the new one; without,
    // the new log is a new file.
    every_crash_point_of_a_compaction(FsOptions::default().log_preallocate_bytes, true);
    every_crash_point_of_a_compaction(0, false);
}

fn every_crash_point_of_a_compaction(preallocate: u64, recycled: bool) {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let (before, after) = (dir.path().join("before"), dir.path().join("after"));
    let mut options = FsOptions::default();
    options.compact_min_log_bytes = u64::MAX;
    options.log_preallocate_bytes = preallocate;
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
    // replace too (and, recycling, a log that holds an earlier generation's
    // frames after its own).
    for i in 30..40u64 {
        let key = format!("k{}", i % 5);
        store
            .write("ns", &key, i, &value_for(&key, i, 900))
            .unwrap();
    }
    let expected = contents(&store);
    copy_files(&live, &before);
    let old_log = only_log(&before);
    store.compact().unwrap();
    copy_files(&live, &after);
    drop(store);
    assert_eq!(files_starting(&before, "~snapshot.").len(), 1);
    let new_snapshot = files_starting(&after, "~snapshot.").pop().unwrap();
    let new_log = only_log(&after);
    let (old_bytes, new_bytes) = (
        std::fs::read(&old_log).unwrap(),
        std::fs::read(&new_log).unwrap(),
    );
    if recycled {
        // The same file under the next generation's name, its frames now
        // an earlier generation's.
        assert_eq!(old_bytes, new_bytes);
        assert!(new_bytes.len() > 20_000);
    } else {
        assert!(new_bytes.is_empty());
    }

    let check = |name: &str, build: &dyn Fn(&Path)| {
        let root = dir.path().join(format!("{name}-{preallocate}"));
        build(&root);
        let store = FsStore::open_with(&root, "t", &options).unwrap();
        assert_eq!(contents(&store), expected, "{name}");
        // It goes on: a write lands in the log of the snapshot's
        // generation and reads back after a reopen.
        store.write("ns", "k0", 1000, b"after").unwrap();
        drop(store);
        let store = FsStore::open_with(&root, "t", &options).unwrap();
        let mut more = expected.clone();
        more.insert("k0".into(), (1000, b"after".to_vec()));
        assert_eq!(contents(&store), more, "{name}");
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
    // Died after writing it, before the rename.
    check("whole-tmp", &|root| {
        copy_files(&before, root);
        std::fs::copy(&new_snapshot, root.join(tmp_name(&new_snapshot))).unwrap();
    });
    if !recycled {
        // Died after writing it and creating the new, empty log, before
        // the rename: what format 3 did (its store may have been left so).
        check("whole-tmp-and-new-log", &|root| {
            copy_files(&before, root);
            std::fs::copy(&new_snapshot, root.join(tmp_name(&new_snapshot))).unwrap();
            std::fs::copy(&new_log, root.join(new_log.file_name().unwrap())).unwrap();
        });
    }
    // Died after the rename, before deleting the old snapshot and log.
    check("renamed-old-files-left", &|root| {
        copy_files(&before, root);
        copy_files(&after, root);
    });
    // The rename reached the disk, the new log (recycled or created) did
    // not.
    check("renamed-no-new-log", &|root| {
        copy_files(&before, root);
        std::fs::copy(&new_snapshot, root.join(new_snapshot.file_name().unwrap())).unwrap();
    });
    // The new log is there, the old snapshot not yet deleted.
    check("new-log-old-snapshot-left", &|root| {
        copy_files(&after, root);
        for old in files_starting(&before, "~snapshot.") {
            std::fs::copy(&old, root.join(old.file_name().unwrap())).unwrap();
        }
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

/// A store whose log was recycled by a compaction: generation 1 wrote
/// `k0..k9` (one frame each, 200-byte values), then `k3` again, `k7`'s
/// removal and `k1` again; the compaction made snapshot 1 and renamed the
/// log to `~log.2`, whose first frames are now generation 2's: `k1`
/// removed, `k3` at version 50. Everything after them is generation 1's
/// frames (whole ones among them, `k1` and `k3` at their older versions)
/// and zeros. Gives the store, the log file as it was right after the
/// compaction, and where each generation-2 frame ends.
fn recycled_store(root: &Path) -> (FsStore, Vec<u8>, Vec<u64>) {
    let mut options = FsOptions::default();
    options.compact_min_log_bytes = u64::MAX;
    let store = FsStore::open_with(root, "t", &options).unwrap();
    for i in 0..10u64 {
        let key = format!("k{i}");
        store
            .write("ns", &key, 1, &value_for(&key, 1, 200))
            .unwrap();
    }
    store
        .write("ns", "k3", 2, &value_for("k3", 2, 200))
        .unwrap();
    store.remove("ns", "k7").unwrap();
    store
        .write("ns", "k1", 2, &value_for("k1", 2, 200))
        .unwrap();
    let old_len = std::fs::metadata(only_log(root)).unwrap().len();
    store.compact().unwrap();
    let log = only_log(root);
    assert!(log.ends_with("~log.00000000000000000002"), "{log:?}");
    // The same file: its length kept, nothing of it used yet.
    assert_eq!(std::fs::metadata(&log).unwrap().len(), old_len);
    assert_eq!(store.log_space().used, 0);
    assert_eq!(store.log_space().allocated, old_len);
    let recycled = std::fs::read(&log).unwrap();
    let mut ends = Vec::new();
    store.remove("ns", "k1").unwrap();
    ends.push(store.log_space().used);
    store
        .write("ns", "k3", 50, &value_for("k3", 50, 200))
        .unwrap();
    ends.push(store.log_space().used);
    store
        .write("ns", "k4", 50, &value_for("k4", 50, 200))
        .unwrap();
    ends.push(store.log_space().used);
    // Overwrites in place: the file did not grow.
    assert_eq!(std::fs::metadata(&log).unwrap().len(), old_len);
    (store, recycled, ends)
}

/// What [`recycled_store`] holds: the acknowledged records only.
fn recycled_expected() -> BTreeMap<String, (u64, Vec<u8>)> {
    let mut expected = BTreeMap::new();
    for i in [0u64, 2, 5, 6, 8, 9] {
        let key = format!("k{i}");
        expected.insert(key.clone(), (1, value_for(&key, 1, 200)));
    }
    expected.insert("k3".into(), (50, value_for("k3", 50, 200)));
    expected.insert("k4".into(), (50, value_for("k4", 50, 200)));
    expected
}

/// Whole frames of format 4 that a byte range holds, by a plain search for
/// their mark (for the tests' own look at a file).
fn marks(bytes: &[u8]) -> usize {
    bytes.windows(5).filter(|w| w == b"LNKF\x04").count()
}

#[test]
fn a_recycled_log_replays_exactly_the_acknowledged_records() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, ends) = recycled_store(dir.path());
    assert_eq!(contents(&store), recycled_expected());
    drop(store);
    let log = only_log(dir.path());
    let len = std::fs::metadata(&log).unwrap().len();
    let bytes = std::fs::read(&log).unwrap();
    // Generation 1's frames are still there after generation 2's, among
    // them whole, valid ones of `k1` (removed since) and `k3` (older).
    assert!(marks(&bytes[ends[2] as usize..]) >= 8);
    let store = FsStore::open(dir.path(), "t").unwrap();
    assert_eq!(contents(&store), recycled_expected());
    assert_eq!(store.read("ns", "k1").unwrap(), None);
    assert_eq!(store.read("ns", "k7").unwrap(), None);
    // A clean open keeps the recycled file as it is, and takes its space as
    // the room for the next appends.
    assert_eq!(std::fs::metadata(&log).unwrap().len(), len);
    assert_eq!(store.log_space().used, ends[2]);
    assert_eq!(store.log_space().allocated, len);
    // A second compaction recycles it again: three generations in one file.
    store.compact().unwrap();
    let log3 = only_log(dir.path());
    assert!(log3.ends_with("~log.00000000000000000003"), "{log3:?}");
    store
        .write("ns", "k0", 60, &value_for("k0", 60, 10))
        .unwrap();
    let mut expected = recycled_expected();
    expected.insert("k0".into(), (60, value_for("k0", 60, 10)));
    assert_eq!(contents(&store), expected);
    drop(store);
    let store = FsStore::open(dir.path(), "t").unwrap();
    assert_eq!(contents(&store), expected);
    assert_eq!(std::fs::metadata(&log3).unwrap().len(), len);
}

#[test]
fn a_torn_tail_in_a_recycled_log_is_dropped() {
    for damage in [
        "flip a byte",
        "zeros from inside the frame on",
        "old bytes back",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (store, recycled, ends) = recycled_store(dir.path());
        drop(store);
        let log = only_log(dir.path());
        let mut bytes = std::fs::read(&log).unwrap();
        let len = bytes.len() as u64;
        let (start, end) = (ends[1] as usize, ends[2] as usize);
        match damage {
            "flip a byte" => bytes[end - 3] ^= 0x08,
            "zeros from inside the frame on" => bytes[start + 40..end].fill(0),
            // The write never reached the disk past its first sector.
            _ => bytes[start + 30..end].copy_from_slice(&recycled[start + 30..end]),
        }
        std::fs::write(&log, &bytes).unwrap();
        let store = FsStore::open(dir.path(), "t").unwrap();
        let mut expected = recycled_expected();
        expected.insert("k4".into(), (1, value_for("k4", 1, 200)));
        assert_eq!(contents(&store), expected, "{damage}");
        // Left in place, to be overwritten (the file keeps its blocks).
        assert_eq!(std::fs::metadata(&log).unwrap().len(), len, "{damage}");
        assert_eq!(store.log_space().used, ends[1], "{damage}");
        store.write("ns", "k4", 51, b"after the tear").unwrap();
        drop(store);
        let store = FsStore::open(dir.path(), "t").unwrap();
        expected.insert("k4".into(), (51, b"after the tear".to_vec()));
        assert_eq!(contents(&store), expected, "{damage}");
    }
}

#[test]
fn damage_in_the_middle_of_a_recycled_log_is_a_typed_error() {
    for damage in ["flip a byte", "the old bytes back", "zeros"] {
        let dir = tempfile::tempdir().unwrap();
        let (store, recycled, ends) = recycled_store(dir.path());
        drop(store);
        let log = only_log(dir.path());
        let mut bytes = std::fs::read(&log).unwrap();
        let (start, end) = (ends[0] as usize, ends[1] as usize);
        match damage {
            "flip a byte" => bytes[start + 100] ^= 0x02,
            // A lost write: the disk gives back what the block held before,
            // generation 1's bytes.
            "the old bytes back" => bytes[start..end].copy_from_slice(&recycled[start..end]),
            _ => bytes[start..end].fill(0),
        }
        std::fs::write(&log, &bytes).unwrap();
        match FsStore::open(dir.path(), "t") {
            Err(PersistError::CorruptLog { offset, reason, .. }) => {
                assert_eq!(offset, ends[0], "{damage}: {reason}");
                assert!(
                    reason.contains(&format!("followed by a valid frame at byte {}", ends[1])),
                    "{damage}: {reason}"
                );
            }
            other => panic!("{damage}: expected CorruptLog, got {other:?}"),
        }
        // Nothing was cut or rewritten.
        assert_eq!(std::fs::read(&log).unwrap(), bytes, "{damage}");
    }
}

/// Reads that race with compactions recycling the log: a read that took
/// a record's place in the old log before the compaction and reads it after
/// the next appends overwrote it must not return those bytes (or fail); it
/// looks the record up again.
#[test]
fn reads_racing_a_recycling_compaction_see_whole_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = FsOptions::default();
    options.compact_min_log_bytes = 16 << 10;
    let store = std::sync::Arc::new(FsStore::open_with(dir.path(), "t", &options).unwrap());
    for i in 0..8u64 {
        let key = format!("k{i}");
        store
            .write("ns", &key, 0, &value_for(&key, 0, 300))
            .unwrap();
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for i in 0..8u64 {
                        let key = format!("k{i}");
                        let r = store.read("ns", &key).unwrap().unwrap();
                        assert!(
                            common::value_is_valid(&key, r.version, &r.value),
                            "{key} v{}",
                            r.version
                        );
                        reads += 1;
                    }
                }
                reads
            })
        })
        .collect();
    let mut generation_changes = 0;
    let mut last = only_log(dir.path());
    for v in 1..1500u64 {
        let key = format!("k{}", v % 8);
        store
            .write("ns", &key, v, &value_for(&key, v, 300))
            .unwrap();
        if v % 50 == 0 {
            let log = only_log(dir.path());
            generation_changes += usize::from(log != last);
            last = log;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        assert!(reader.join().unwrap() > 0);
    }
    assert!(
        generation_changes >= 10,
        "{generation_changes} compactions seen"
    );
}
