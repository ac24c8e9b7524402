//! The conformance suite: what every [`KvStore`] must do, whatever it keeps
//! its records in. `conformance_tests!` instantiates it for one backend.

use std::sync::atomic::{AtomicU64, Ordering};

use lightning_persist::{BatchOp, KeyPart, KvStore, PersistError, MAX_VERSION};

use super::{value_for, value_is_valid};

pub fn read_your_writes(store: &dyn KvStore) {
    assert_eq!(store.read("ns", "k").unwrap(), None);
    store.write("ns", "k", 1, b"one").unwrap();
    let r = store.read("ns", "k").unwrap().unwrap();
    assert_eq!((r.version, r.value.as_slice()), (1, &b"one"[..]));
    store.write("ns", "k", 5, b"five").unwrap();
    let r = store.read("ns", "k").unwrap().unwrap();
    assert_eq!((r.version, r.value.as_slice()), (5, &b"five"[..]));
    store.write("ns", "empty", 0, b"").unwrap();
    assert_eq!(store.read("ns", "empty").unwrap().unwrap().value, b"");
}

pub fn list_and_remove(store: &dyn KvStore) {
    assert!(store.list("nothing-here").unwrap().is_empty());
    store.remove("nothing-here", "k").unwrap();
    let keys = [
        "channel/01/update/0000000002",
        "b",
        "channel/01/snapshot",
        "A",
        "channel/01/update/0000000001",
        "a.b",
        "a-b",
        "a_b",
        "channel/02/snapshot",
    ];
    for (i, key) in keys.iter().enumerate() {
        store.write("ns", key, i as u64, key.as_bytes()).unwrap();
    }
    let mut sorted: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    sorted.sort();
    assert_eq!(store.list("ns").unwrap(), sorted);
    assert_eq!(
        store.list_prefix("ns", "channel/01/update/").unwrap(),
        vec![
            "channel/01/update/0000000001",
            "channel/01/update/0000000002"
        ]
    );
    assert_eq!(store.list_prefix("ns", "").unwrap(), sorted);
    assert!(store.list_prefix("ns", "zzz").unwrap().is_empty());
    // '_' must not act as a wildcard.
    assert_eq!(store.list_prefix("ns", "a_").unwrap(), vec!["a_b"]);

    store.remove("ns", "b").unwrap();
    store.remove("ns", "b").unwrap();
    assert_eq!(store.read("ns", "b").unwrap(), None);
    sorted.retain(|k| k != "b");
    assert_eq!(store.list("ns").unwrap(), sorted);

    // Removing forgets the version: an older one may be written again.
    store.write("ns", "A", 10, b"x").unwrap();
    store.remove("ns", "A").unwrap();
    store.write("ns", "A", 1, b"again").unwrap();
    assert_eq!(store.read("ns", "A").unwrap().unwrap().version, 1);
}

pub fn namespaces(store: &dyn KvStore) {
    store.write("one", "k", 1, b"in one").unwrap();
    store.write("two", "k", 7, b"in two").unwrap();
    store.write("one/nested", "k", 3, b"nested").unwrap();
    assert_eq!(store.read("one", "k").unwrap().unwrap().value, b"in one");
    assert_eq!(store.read("two", "k").unwrap().unwrap().value, b"in two");
    assert_eq!(store.read("one/nested", "k").unwrap().unwrap().version, 3);
    assert_eq!(store.list("one").unwrap(), vec!["k"]);
    assert_eq!(store.list("one/nested").unwrap(), vec!["k"]);
    // A key with '/' and a namespace with '/' do not alias.
    store
        .write("one", "nested/k", 1, b"key with slash")
        .unwrap();
    assert_eq!(
        store.read("one/nested", "k").unwrap().unwrap().value,
        b"nested"
    );
    store.remove("one", "k").unwrap();
    assert_eq!(store.read("two", "k").unwrap().unwrap().version, 7);
}

pub fn key_validation(store: &dyn KvStore) {
    let long = "x".repeat(121);
    for bad in [
        "", "/a", "a/", "a//b", "..", "a/../b", ".", "a b", "a%b", "a~", "é", &long,
    ] {
        let key_err = |r: Result<(), PersistError>| {
            assert!(
                matches!(
                    r,
                    Err(PersistError::InvalidKey {
                        part: KeyPart::Key,
                        ..
                    })
                ),
                "key {bad:?}: {r:?}"
            )
        };
        let ns_err = |r: Result<(), PersistError>| {
            assert!(
                matches!(
                    r,
                    Err(PersistError::InvalidKey {
                        part: KeyPart::Namespace,
                        ..
                    })
                ),
                "namespace {bad:?}: {r:?}"
            )
        };
        key_err(store.write("ns", bad, 1, b"v"));
        key_err(store.read("ns", bad).map(drop));
        key_err(store.remove("ns", bad));
        ns_err(store.write(bad, "k", 1, b"v"));
        ns_err(store.read(bad, "k").map(drop));
        ns_err(store.list(bad).map(drop));
        ns_err(store.remove(bad, "k"));
    }
    assert!(matches!(
        store.list_prefix("ns", "a b"),
        Err(PersistError::InvalidKey {
            part: KeyPart::Prefix,
            ..
        })
    ));
    let longest = "y".repeat(120);
    store.write(&longest, &longest, 1, b"v").unwrap();
    assert_eq!(store.list(&longest).unwrap(), vec![longest.clone()]);
    assert!(store.list("ns").unwrap().is_empty());
}

pub fn versions(store: &dyn KvStore) {
    store.write("ns", "k", 10, b"ten").unwrap();
    match store.write("ns", "k", 9, b"nine") {
        Err(
            e @ PersistError::StaleVersion {
                stored: 10,
                attempted: 9,
                ..
            },
        ) => assert!(e.is_stale()),
        other => panic!("expected StaleVersion, got {other:?}"),
    }
    // Replay of the same write: fine. Same version, other bytes: refused.
    store.write("ns", "k", 10, b"ten").unwrap();
    assert!(matches!(
        store.write("ns", "k", 10, b"TEN"),
        Err(PersistError::VersionConflict { version: 10, .. })
    ));
    let r = store.read("ns", "k").unwrap().unwrap();
    assert_eq!((r.version, r.value.as_slice()), (10, &b"ten"[..]));
    store.write("ns", "k", 11, b"eleven").unwrap();
    store.write("ns", "k", MAX_VERSION, b"max").unwrap();
    assert_eq!(store.read("ns", "k").unwrap().unwrap().version, MAX_VERSION);
    assert!(matches!(
        store.write("ns", "other", MAX_VERSION + 1, b"v"),
        Err(PersistError::InvalidWrite { .. })
    ));
    assert_eq!(store.read("ns", "other").unwrap(), None);
}

pub fn large_values(store: &dyn KvStore) {
    let big = value_for("big", 1, 10 << 20);
    store.write("ns", "big", 1, &big).unwrap();
    let r = store.read("ns", "big").unwrap().unwrap();
    assert!(r.value == big, "10 MiB value came back different");
    let bigger = value_for("big", 2, (10 << 20) + 12345);
    store.write("ns", "big", 2, &bigger).unwrap();
    assert!(store.read("ns", "big").unwrap().unwrap().value == bigger);
    // Replay of a big value compares bytes.
    store.write("ns", "big", 2, &bigger).unwrap();
}

pub fn concurrent_writers(store: &dyn KvStore) {
    const THREADS: u64 = 6;
    const WRITES: u64 = 15;
    let next_version = AtomicU64::new(1);
    let max_written = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let next_version = &next_version;
            let max_written = &max_written;
            s.spawn(move || {
                for i in 0..WRITES {
                    let own = format!("thread-{t}/key-{}", i % 3);
                    store
                        .write("conc", &own, i, &value_for(&own, i, 100))
                        .unwrap();
                    let v = next_version.fetch_add(1, Ordering::SeqCst);
                    match store.write(
                        "conc",
                        "shared",
                        v,
                        &value_for("shared", v, 200 + v as usize),
                    ) {
                        Ok(()) => {
                            max_written.fetch_max(v, Ordering::SeqCst);
                        }
                        Err(PersistError::StaleVersion {
                            stored, attempted, ..
                        }) => {
                            assert!(stored > attempted)
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
    });
    let last = next_version.load(Ordering::SeqCst) - 1;
    // The write carrying the highest version can never be stale.
    assert_eq!(max_written.load(Ordering::SeqCst), last);
    let shared = store.read("conc", "shared").unwrap().unwrap();
    assert_eq!(shared.version, last);
    assert!(value_is_valid("shared", last, &shared.value));
    let keys = store.list("conc").unwrap();
    assert_eq!(keys.len() as u64, THREADS * 3 + 1);
    for t in 0..THREADS {
        for k in 0..3 {
            let key = format!("thread-{t}/key-{k}");
            let r = store.read("conc", &key).unwrap().unwrap();
            let last = (0..WRITES).filter(|i| i % 3 == k).max().unwrap();
            assert_eq!(r.version, last);
            assert!(value_is_valid(&key, last, &r.value));
        }
    }
}

pub fn batches(store: &dyn KvStore) {
    store.write("ch", "01/update/0001", 0, b"u1").unwrap();
    store.write("ch", "01/update/0002", 0, b"u2").unwrap();
    // Compaction: snapshot plus removal of the covered updates.
    store
        .write_batch(&[
            BatchOp::Write {
                namespace: "ch".into(),
                key: "01/snapshot".into(),
                version: 2,
                value: b"snap@2".to_vec(),
            },
            BatchOp::Remove {
                namespace: "ch".into(),
                key: "01/update/0001".into(),
            },
            BatchOp::Remove {
                namespace: "ch".into(),
                key: "01/update/0002".into(),
            },
        ])
        .unwrap();
    assert_eq!(store.list("ch").unwrap(), vec!["01/snapshot"]);

    // A long run of removes over two namespaces, one key absent (compaction
    // of many update records at once; the filesystem syncs each directory
    // once for the run).
    let mut removes = Vec::new();
    for i in 0..40u32 {
        let key = format!("02/update/{i:04}");
        store.write("ch", &key, 1, b"u").unwrap();
        removes.push(BatchOp::Remove {
            namespace: "ch".into(),
            key,
        });
        if i % 10 == 0 {
            let key = format!("x/{i}");
            store.write("ch2", &key, 1, b"v").unwrap();
            removes.push(BatchOp::Remove {
                namespace: "ch2".into(),
                key,
            });
        }
    }
    removes.push(BatchOp::Remove {
        namespace: "ch".into(),
        key: "02/update/9999".into(),
    });
    store.write_batch(&removes).unwrap();
    assert_eq!(store.list("ch").unwrap(), vec!["01/snapshot"]);
    assert!(store.list("ch2").unwrap().is_empty());
    // A removed key takes any version again.
    store.write("ch", "02/update/0000", 0, b"again").unwrap();
    store.remove("ch", "02/update/0000").unwrap();

    // A batch with a stale op in the middle.
    let result = store.write_batch(&[
        BatchOp::Write {
            namespace: "ch".into(),
            key: "02/snapshot".into(),
            version: 1,
            value: b"first".to_vec(),
        },
        BatchOp::Write {
            namespace: "ch".into(),
            key: "01/snapshot".into(),
            version: 1,
            value: b"stale".to_vec(),
        },
        BatchOp::Write {
            namespace: "ch".into(),
            key: "03/snapshot".into(),
            version: 1,
            value: b"third".to_vec(),
        },
    ]);
    assert!(result.unwrap_err().is_stale());
    assert_eq!(
        store.read("ch", "01/snapshot").unwrap().unwrap().value,
        b"snap@2"
    );
    assert_eq!(store.read("ch", "03/snapshot").unwrap(), None);
    let first = store.read("ch", "02/snapshot").unwrap();
    if store.batch_is_atomic() {
        assert_eq!(first, None, "an atomic batch applied part of itself");
    } else {
        assert_eq!(
            first.unwrap().value,
            b"first",
            "a non-atomic batch applies a prefix"
        );
    }

    // A node's step: a record written and an obsolete key removed in one
    // batch; a stale write after them refuses the whole of it where
    // batches are atomic (the removal too), a prefix lands otherwise.
    store.write("ch", "05/update/0001", 1, b"u1").unwrap();
    let result = store.write_batch(&[
        BatchOp::Write {
            namespace: "ch".into(),
            key: "05/snapshot".into(),
            version: 1,
            value: b"snap".to_vec(),
        },
        BatchOp::Remove {
            namespace: "ch".into(),
            key: "05/update/0001".into(),
        },
        BatchOp::Write {
            namespace: "ch".into(),
            key: "01/snapshot".into(),
            version: 1,
            value: b"stale".to_vec(),
        },
    ]);
    assert!(result.unwrap_err().is_stale());
    let (snapshot, update) = (
        store.read("ch", "05/snapshot").unwrap(),
        store.read("ch", "05/update/0001").unwrap(),
    );
    if store.batch_is_atomic() {
        assert_eq!(snapshot, None, "an atomic batch applied its write");
        assert!(update.is_some(), "an atomic batch applied its removal");
    } else {
        assert!(snapshot.is_some() && update.is_none(), "a prefix applies");
    }
    store.remove("ch", "05/update/0001").unwrap();
    store.remove("ch", "05/snapshot").unwrap();

    // An invalid key anywhere fails the whole batch before anything happens.
    let result = store.write_batch(&[
        BatchOp::Write {
            namespace: "ch".into(),
            key: "04/snapshot".into(),
            version: 1,
            value: b"x".to_vec(),
        },
        BatchOp::Remove {
            namespace: "ch".into(),
            key: "../escape".into(),
        },
    ]);
    assert!(matches!(result, Err(PersistError::InvalidKey { .. })));
    assert_eq!(store.read("ch", "04/snapshot").unwrap(), None);
}

/// Instantiates the suite as `#[test]`s in module `$name`; `$make` is an
/// expression giving `Option<(store, guard)>` (`None` = skip), where the guard
/// keeps whatever the store needs alive.
#[macro_export]
macro_rules! conformance_tests {
    ($name:ident, $make:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::conformance_tests!(@each $make;
                read_your_writes, list_and_remove, namespaces, key_validation,
                versions, large_values, concurrent_writers, batches);
        }
    };
    (@each $make:expr; $($check:ident),*) => {$(
        #[test]
        fn $check() {
            let Some((store, _guard)) = $make else { return };
            $crate::common::conformance::$check(&store);
        }
    )*};
}
