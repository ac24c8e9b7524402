//! A store written by the first `FsStore` format (one file per record)
//! opens with today's and reads back every record: it is migrated into a
//! snapshot on open, crash-safely. A store of the second format (log
//! frames with a SHA-256 check, `tests/fixtures/fs-v2`, written by the
//! `FsStore` of commit f22c212: a snapshot, then a log with writes, a
//! batch and removals) opens as it is, and appends frames of today's
//! format (XXH64 check) after the old ones. A store of the third format
//! (XXH64 frames without a generation, a preallocated log,
//! `tests/fixtures/fs-v3`, written by the `FsStore` of commit 603ea4b, see
//! [`third_format_records`]) opens as it is, appends frames of format 4,
//! and once a compaction has replaced its log, recycles logs like any
//! store of today's format.
//!
//! `tests/fixtures/fs-v1` was written by the first format's own code (the
//! `FsStore` of commit 6dd7ea2): the records listed in [`fixture_records`].
//! The test module also keeps a writer of that format, for the cases a
//! fixture cannot show (a damaged file, a crash in the middle of the
//! migration).

// Test code may unwrap (clippy.toml allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]
#![cfg(feature = "fs")]

mod common;

use std::path::Path;

use common::value_for;
use lightning_persist::{FsStore, KvStore, PersistError, MAX_VERSION};
use sha2::{Digest, Sha256};

/// What the fixture holds: (namespace, key, version, value).
fn fixture_records() -> Vec<(&'static str, String, u64, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..5u64 {
        let key = format!("channel/00ab/update/{i:020}");
        let value = value_for(&key, i + 1, 300);
        out.push(("node", key, i + 1, value));
    }
    let key = "channel/00ab/snapshot".to_string();
    out.push(("node", key.clone(), 7, value_for(&key, 7, 5000)));
    out.push((
        "node",
        "meta/keys_index".into(),
        3,
        value_for("meta/keys_index", 3, 8),
    ));
    out.push(("node", "empty".into(), 0, Vec::new()));
    out.push((
        "node",
        "max".into(),
        MAX_VERSION,
        value_for("max", MAX_VERSION, 40),
    ));
    out.push((
        "one/nested",
        "a/b.c_d-e".into(),
        9,
        value_for("a/b.c_d-e", 9, 100),
    ));
    out.push(("payments", "p1".into(), 3, value_for("p1", 3, 70)));
    out.push(("payments", "p2".into(), 5, value_for("p2", 5, 64)));
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

fn fixture() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fs-v1"))
}

fn assert_holds(store: &FsStore, records: &[(&str, String, u64, Vec<u8>)]) {
    for (namespace, key, version, value) in records {
        let r = store
            .read(namespace, key)
            .unwrap()
            .unwrap_or_else(|| panic!("{namespace}/{key} is missing"));
        assert_eq!(
            (r.version, &r.value),
            (*version, value),
            "{namespace}/{key}"
        );
    }
    for namespace in ["node", "one/nested", "payments"] {
        let mut keys: Vec<String> = records
            .iter()
            .filter(|r| r.0 == namespace)
            .map(|r| r.1.clone())
            .collect();
        keys.sort();
        assert_eq!(store.list(namespace).unwrap(), keys, "{namespace}");
    }
}

fn subdirs(root: &Path) -> Vec<String> {
    std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_first_format_store_opens_and_reads_back_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    copy_dir(fixture(), &root);
    let store = FsStore::open(&root, "upgraded").unwrap();
    let records = fixture_records();
    assert_holds(&store, &records);
    assert_eq!(store.read("node", "gone").unwrap(), None);
    // Migrated: the old per-record files are gone.
    assert!(subdirs(&root).is_empty(), "{:?}", subdirs(&root));
    // And it goes on as a store of today's format.
    store
        .write("payments", "p1", 4, b"after the upgrade")
        .unwrap();
    assert!(store
        .write("node", "max", 1, b"stale")
        .unwrap_err()
        .is_stale());
    drop(store);
    let store = FsStore::open(&root, "upgraded").unwrap();
    assert_eq!(
        store.read("payments", "p1").unwrap().unwrap().value,
        b"after the upgrade"
    );
    assert_eq!(
        store.read("node", "max").unwrap().unwrap().version,
        MAX_VERSION
    );
}

/// What `tests/fixtures/fs-v2` holds: the records of [`fixture_records`]
/// but `channel/00ab/update/0…0` (removed in a batch), `meta/keys_index`
/// and `empty` (never written); `node/gone` was written, then removed.
fn second_format_records() -> Vec<(&'static str, String, u64, Vec<u8>)> {
    fixture_records()
        .into_iter()
        .filter(|(_, key, _, _)| {
            !matches!(
                key.as_str(),
                "channel/00ab/update/00000000000000000000" | "meta/keys_index" | "empty"
            )
        })
        .collect()
}

#[test]
fn a_second_format_store_opens_and_goes_on_in_todays_format() {
    let fixture = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fs-v2"));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    copy_dir(fixture, &root);
    let log = root.join("~log.00000000000000000002");
    let old_log = std::fs::read(&log).unwrap();
    assert_eq!(
        &old_log[..5],
        b"LNKF\x02",
        "the fixture is of the second format"
    );
    let store = FsStore::open(&root, "upgraded").unwrap();
    let mut records = second_format_records();
    assert_holds(&store, &records);
    assert_eq!(store.read("node", "gone").unwrap(), None);
    // New frames go after the old ones, in today's format.
    store
        .write("payments", "p1", 4, b"after the upgrade")
        .unwrap();
    store.remove("payments", "p2").unwrap();
    let space = store.log_space();
    drop(store);
    let new_log = std::fs::read(&log).unwrap();
    assert_eq!(new_log[..old_log.len()], old_log[..], "old frames kept");
    assert_eq!(&new_log[old_log.len()..old_log.len() + 5], b"LNKF\x04");
    // The log that ended at its last frame now has preallocated zeros
    // after the new ones.
    assert_eq!(new_log.len() as u64, space.allocated);
    assert!(space.allocated > space.used, "{space:?}");
    assert!(new_log[space.used as usize..].iter().all(|&b| b == 0));
    let store = FsStore::open(&root, "upgraded").unwrap();
    records.retain(|r| r.1 != "p1" && r.1 != "p2");
    records.push(("payments", "p1".into(), 4, b"after the upgrade".to_vec()));
    assert_holds(&store, &records);
    // A compaction rewrites everything in today's format.
    store.compact().unwrap();
    drop(store);
    let store = FsStore::open(&root, "upgraded").unwrap();
    assert_holds(&store, &records);
}

/// The first format's writer: `<root>/<ns>/<key>` with `/` as `%`, header
/// `LNKV` 1 | version BE | length BE | SHA-256 of both and the value.
fn write_first_format(root: &Path, namespace: &str, key: &str, version: u64, value: &[u8]) {
    let dir = root.join(namespace.replace('/', "%"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut bytes = b"LNKV\x01\0\0\0".to_vec();
    bytes.extend_from_slice(&version.to_be_bytes());
    bytes.extend_from_slice(&(value.len() as u64).to_be_bytes());
    let digest: [u8; 32] = Sha256::new()
        .chain_update(&bytes)
        .chain_update(value)
        .finalize()
        .into();
    bytes.extend_from_slice(&digest);
    bytes.extend_from_slice(value);
    std::fs::write(dir.join(key.replace('/', "%")), bytes).unwrap();
}

#[test]
fn the_test_writer_matches_the_fixture() {
    // So that the cases below, built with it, are about the real format.
    let dir = tempfile::tempdir().unwrap();
    for (namespace, key, version, value) in fixture_records() {
        write_first_format(dir.path(), namespace, &key, version, &value);
        let ns = namespace.replace('/', "%");
        let name = key.replace('/', "%");
        assert_eq!(
            std::fs::read(dir.path().join(&ns).join(&name)).unwrap(),
            std::fs::read(fixture().join(&ns).join(&name)).unwrap(),
            "{namespace}/{key}"
        );
    }
}

#[test]
fn a_crash_in_the_middle_of_the_migration_opens_to_the_same_records() {
    let records = fixture_records();
    let dir = tempfile::tempdir().unwrap();

    // Died while writing the snapshot: a partial temporary file. The old
    // files are still the store.
    let root = dir.path().join("partial");
    copy_dir(fixture(), &root);
    std::fs::write(
        root.join("~snapshot.00000000000000000001.tmp"),
        b"LNKF\x02\0\0\0 cut short",
    )
    .unwrap();
    std::fs::write(root.join("node").join("~tmp.3"), b"a write in flight").unwrap();
    assert_holds(&FsStore::open(&root, "t").unwrap(), &records);
    assert!(subdirs(&root).is_empty());

    // Died after the snapshot was in place, before all old files were
    // removed: they are leftovers, never read again, even after a newer
    // write.
    let root = dir.path().join("leftovers");
    copy_dir(fixture(), &root);
    let store = FsStore::open(&root, "t").unwrap();
    store.write("payments", "p1", 10, b"newer").unwrap();
    store.remove("payments", "p2").unwrap();
    drop(store);
    copy_dir(&fixture().join("payments"), &root.join("payments"));
    let store = FsStore::open(&root, "t").unwrap();
    assert_eq!(
        store.read("payments", "p1").unwrap().unwrap().value,
        b"newer"
    );
    assert_eq!(store.read("payments", "p2").unwrap(), None);
    assert!(subdirs(&root).is_empty());
}

#[test]
fn a_damaged_first_format_record_fails_the_open_and_keeps_the_old_files() {
    let dir = tempfile::tempdir().unwrap();
    write_first_format(dir.path(), "ns", "good", 1, b"fine");
    write_first_format(dir.path(), "ns", "bad/one", 2, b"will be damaged");
    let bad = dir.path().join("ns").join("bad%one");
    let mut bytes = std::fs::read(&bad).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(&bad, &bytes).unwrap();
    match FsStore::open(dir.path(), "t") {
        Err(PersistError::Corrupt { namespace, key, .. }) => {
            assert_eq!((namespace.as_str(), key.as_str()), ("ns", "bad/one"))
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(std::fs::read(&bad).unwrap(), bytes);
    assert!(dir.path().join("ns").join("good").exists());
    // Once the damaged file is dealt with (here: removed), it opens.
    std::fs::remove_file(&bad).unwrap();
    let store = FsStore::open(dir.path(), "t").unwrap();
    assert_eq!(store.read("ns", "good").unwrap().unwrap().value, b"fine");
    assert_eq!(store.list("ns").unwrap(), vec!["good"]);
}

/// What `tests/fixtures/fs-v3` holds. Commit 603ea4b's `FsStore` wrote, in
/// order: `node/channel/00ab/update/<0..5>` (versions 1 to 5, 300 bytes),
/// `node/channel/00ab/snapshot` (7, 5000 bytes), `node/max`,
/// `payments/p1` (3), `node/gone`; compacted (snapshot 1); then into log 2:
/// `one/nested/a/b.c_d-e` (9), a batch writing `payments/p2` (5) and
/// removing `node/gone`, the removal of update 0, and `node/empty` (0,
/// empty). The log's preallocated zeros were cut to 4 KiB past its
/// frames, as a shorter file of the same format.
fn third_format_records() -> Vec<(&'static str, String, u64, Vec<u8>)> {
    fixture_records()
        .into_iter()
        .filter(|(_, key, _, _)| {
            !matches!(
                key.as_str(),
                "channel/00ab/update/00000000000000000000" | "meta/keys_index"
            )
        })
        .collect()
}

#[test]
fn a_third_format_store_opens_goes_on_in_format_4_and_then_recycles_its_log() {
    let fixture = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fs-v3"));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    copy_dir(fixture, &root);
    let log = root.join("~log.00000000000000000002");
    let old_log = std::fs::read(&log).unwrap();
    assert_eq!(
        &old_log[..5],
        b"LNKF\x03",
        "the fixture is of the third format"
    );
    let store = FsStore::open(&root, "upgraded").unwrap();
    let mut records = third_format_records();
    assert_holds(&store, &records);
    assert_eq!(store.read("node", "gone").unwrap(), None);
    // (Not from the zeros at the end: the last frame, `node/empty`, ends
    // in zeros itself.)
    let old_used = store.log_space().used as usize;
    // New frames go where the zeros began, in format 4.
    store
        .write("payments", "p1", 4, b"after the upgrade")
        .unwrap();
    drop(store);
    let new_log = std::fs::read(&log).unwrap();
    assert_eq!(new_log[..old_used], old_log[..old_used], "old frames kept");
    assert_eq!(&new_log[old_used..old_used + 5], b"LNKF\x04");
    records.retain(|r| r.1 != "p1");
    records.push(("payments", "p1".into(), 4, b"after the upgrade".to_vec()));
    let store = FsStore::open(&root, "upgraded").unwrap();
    assert_holds(&store, &records);
    // The first compaction starts a fresh log (the old one mixes formats);
    // the second recycles it: log 4 is log 3's file, its old frames after
    // the new ones.
    store.compact().unwrap();
    store.write("payments", "p3", 1, b"in log 3").unwrap();
    store.write("payments", "p5", 1, b"in log 3 too").unwrap();
    store.compact().unwrap();
    store.write("payments", "p4", 1, b"in log 4").unwrap();
    drop(store);
    let log4 = std::fs::read(root.join("~log.00000000000000000004")).unwrap();
    assert_eq!(&log4[..5], b"LNKF\x04");
    let frames = log4.windows(8).filter(|w| *w == b"LNKF\x04\0\0\0").count();
    assert!(frames >= 2, "log 4 holds log 3's frame after its own");
    records.push(("payments", "p3".into(), 1, b"in log 3".to_vec()));
    records.push(("payments", "p5".into(), 1, b"in log 3 too".to_vec()));
    records.push(("payments", "p4".into(), 1, b"in log 4".to_vec()));
    let store = FsStore::open(&root, "upgraded").unwrap();
    assert_holds(&store, &records);
}
