//! Single-writer fencing and reopening: a second instance is refused, naming
//! the holder; a closed or crashed holder's store reopens; an instance whose
//! store was taken over can no longer write.

// Test code may unwrap (clippy.toml allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]
#![cfg(any(feature = "fs", feature = "sqlite", feature = "postgres"))]

mod common;

use lightning_persist::{KvStore, PersistError};

fn assert_locked_by<T: std::fmt::Debug>(result: Result<T, PersistError>, instance: &str) {
    match result {
        Err(PersistError::Locked { holder, .. }) => {
            assert!(
                holder.contains(instance),
                "holder {holder:?} does not name {instance:?}"
            );
            assert!(
                holder.contains(&format!("pid {}", std::process::id())),
                "holder {holder:?} does not name the pid"
            );
        }
        other => panic!("expected Locked, got {other:?}"),
    }
}

#[cfg(feature = "fs")]
mod fs {
    use super::*;
    use lightning_persist::FsStore;

    #[test]
    fn second_instance_is_refused_and_first_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let first = FsStore::open(dir.path(), "node-a").unwrap();
        first.write("ns", "k", 1, b"v1").unwrap();
        assert_locked_by(FsStore::open(dir.path(), "node-b"), "node-a");
        drop(first);
        let again = FsStore::open(dir.path(), "node-b").unwrap();
        assert_eq!(again.read("ns", "k").unwrap().unwrap().value, b"v1");
        assert_locked_by(FsStore::open(dir.path(), "node-c"), "node-b");
    }

    /// The log file of a store that has not compacted yet.
    fn only_log(root: &std::path::Path) -> std::path::PathBuf {
        let logs: Vec<_> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("~log.")
            })
            .collect();
        assert_eq!(logs.len(), 1, "{logs:?}");
        logs[0].clone()
    }

    #[test]
    fn damaged_record_is_reported_not_returned() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path(), "node-a").unwrap();
        store.write("ns", "a/b", 3, b"some bytes").unwrap();
        store.write("ns", "c", 1, b"other bytes").unwrap();
        // Damaged under a live store (a disk error after open): every read
        // checks the record's frame.
        let log = only_log(dir.path());
        let mut bytes = std::fs::read(&log).unwrap();
        let first_value = bytes.windows(10).position(|w| w == b"some bytes").unwrap();
        bytes[first_value] ^= 1;
        std::fs::write(&log, &bytes).unwrap();
        assert!(matches!(
            store.read("ns", "a/b"),
            Err(PersistError::Corrupt { .. })
        ));
        assert_eq!(
            store.read("ns", "c").unwrap().unwrap().value,
            b"other bytes"
        );
        drop(store);
        // At open the damage is in the middle of the log, followed by a
        // valid record: a typed error, not a silent rewind.
        assert!(matches!(
            FsStore::open(dir.path(), "node-a"),
            Err(PersistError::CorruptLog { offset: 0, .. })
        ));
        // The same goes for a damaged snapshot.
        bytes[first_value] ^= 1;
        std::fs::write(&log, &bytes).unwrap();
        let store = FsStore::open(dir.path(), "node-a").unwrap();
        store.compact().unwrap();
        drop(store);
        let snapshot = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("~snapshot.")
            })
            .unwrap();
        let mut bytes = std::fs::read(&snapshot).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&snapshot, &bytes).unwrap();
        assert!(matches!(
            FsStore::open(dir.path(), "node-a"),
            Err(PersistError::CorruptLog { .. })
        ));
    }

    #[test]
    fn leftover_temporary_files_are_cleaned_and_never_listed() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path(), "node-a").unwrap();
        store.write("ns", "k", 1, b"v").unwrap();
        drop(store);
        // A compaction that died before its rename.
        let tmp = dir.path().join("~snapshot.00000000000000000001.tmp");
        std::fs::write(&tmp, b"half a snapshot").unwrap();
        std::fs::write(dir.path().join("not a key"), b"foreign").unwrap();
        let store = FsStore::open(dir.path(), "node-a").unwrap();
        assert!(!tmp.exists());
        assert_eq!(store.list("ns").unwrap(), vec!["k"]);
        assert!(dir.path().join("not a key").exists());
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use lightning_persist::SqliteStore;

    #[test]
    fn second_instance_is_refused_and_first_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.sqlite");
        let first = SqliteStore::open(&path, "node-a").unwrap();
        first.write("ns", "k", 1, b"v1").unwrap();
        assert_locked_by(SqliteStore::open(&path, "node-b"), "node-a");
        let token = first.token();
        drop(first);
        let again = SqliteStore::open(&path, "node-b").unwrap();
        assert!(again.token() > token);
        assert_eq!(again.read("ns", "k").unwrap().unwrap().value, b"v1");
    }

    #[test]
    fn stale_instance_is_fenced_after_takeover() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.sqlite");
        let old = SqliteStore::open(&path, "node-a").unwrap();
        old.write("ns", "k", 1, b"v1").unwrap();
        let new = SqliteStore::force_take_over(&path, "node-b").unwrap();
        assert!(new.token() > old.token());
        match old.write("ns", "k", 2, b"from the old instance") {
            Err(PersistError::Fenced {
                token,
                current_token,
                holder,
                ..
            }) => {
                assert_eq!((token, current_token), (old.token(), new.token()));
                assert!(holder.contains("node-b"), "{holder}");
            }
            other => panic!("expected Fenced, got {other:?}"),
        }
        assert!(matches!(
            old.remove("ns", "k"),
            Err(PersistError::Fenced { .. })
        ));
        assert!(matches!(
            old.write_batch(&[]),
            Err(PersistError::Fenced { .. })
        ));
        assert_eq!(new.read("ns", "k").unwrap().unwrap().value, b"v1");
        new.write("ns", "k", 2, b"from the new instance").unwrap();
        assert_eq!(
            old.read("ns", "k").unwrap().unwrap().value,
            b"from the new instance"
        );
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use lightning_persist::{PostgresOptions, PostgresStore};
    use lightning_test_support::external::{postgres_url, unique_name};
    use std::time::Duration;

    #[test]
    fn second_instance_is_refused_and_first_reopens() {
        let Some(url) = postgres_url("fencing::postgres::second_instance_is_refused") else {
            return;
        };
        let store = unique_name("fence");
        let first = PostgresStore::open(&url, &PostgresOptions::new(&store, "node-a")).unwrap();
        first.write("ns", "k", 1, b"v1").unwrap();
        assert_locked_by(
            PostgresStore::open(&url, &PostgresOptions::new(&store, "node-b")),
            "node-a",
        );
        // Another store in the same database is independent.
        let other =
            PostgresStore::open(&url, &PostgresOptions::new(&unique_name("other"), "node-b"))
                .unwrap();
        assert_eq!(other.read("ns", "k").unwrap(), None);
        let token = first.token();
        drop(first);
        let mut options = PostgresOptions::new(&store, "node-b");
        // The server ends the old session asynchronously.
        options.lock_wait = Some(Duration::from_secs(10));
        let again = PostgresStore::open(&url, &options).unwrap();
        assert!(again.token() > token);
        assert_eq!(again.read("ns", "k").unwrap().unwrap().value, b"v1");
    }

    #[test]
    fn forced_takeover_fences_the_old_instance() {
        let Some(url) = postgres_url("fencing::postgres::forced_takeover") else {
            return;
        };
        let store = unique_name("takeover");
        let old = PostgresStore::open(&url, &PostgresOptions::new(&store, "node-a")).unwrap();
        old.write("ns", "k", 1, b"v1").unwrap();
        let new =
            PostgresStore::force_take_over(&url, &PostgresOptions::new(&store, "node-b")).unwrap();
        assert!(new.token() > old.token());
        // The old instance's connection was terminated, and its token is stale
        // anyway: its write fails and is not applied.
        let err = old
            .write("ns", "k", 2, b"from the old instance")
            .unwrap_err();
        assert!(
            matches!(
                err,
                PersistError::Fenced { .. } | PersistError::Postgres { .. }
            ),
            "{err:?}"
        );
        assert_eq!(new.read("ns", "k").unwrap().unwrap().value, b"v1");
        new.write("ns", "k", 2, b"from the new instance").unwrap();
        // A third instance is refused while the new holder lives.
        assert_locked_by(
            PostgresStore::open(&url, &PostgresOptions::new(&store, "node-c")),
            "node-b",
        );
    }

    #[test]
    fn forced_takeover_of_a_free_store_is_a_plain_open() {
        let Some(url) = postgres_url("fencing::postgres::forced_takeover_of_a_free_store") else {
            return;
        };
        let store = unique_name("free");
        let taken =
            PostgresStore::force_take_over(&url, &PostgresOptions::new(&store, "node-a")).unwrap();
        taken.write("ns", "k", 1, b"v1").unwrap();
        assert_locked_by(
            PostgresStore::open(&url, &PostgresOptions::new(&store, "node-b")),
            "node-a",
        );
    }

    #[test]
    fn write_with_a_stale_token_is_rejected() {
        let Some(url) = postgres_url("fencing::postgres::write_with_a_stale_token") else {
            return;
        };
        let store = unique_name("token");
        let old = PostgresStore::open(&url, &PostgresOptions::new(&store, "node-a")).unwrap();
        old.write("ns", "k", 1, b"v1").unwrap();
        // The lease moves while the old session lives on (say, a takeover
        // that could not terminate it): only the token stops the old writer.
        let mut admin = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
        admin
            .execute(
                "UPDATE ln_kv_lease SET token = token + 1, holder = 'node-b' WHERE store = $1",
                &[&store],
            )
            .unwrap();
        match old.write("ns", "k", 2, b"stale") {
            Err(PersistError::Fenced {
                token,
                current_token,
                holder,
                ..
            }) => {
                assert_eq!(current_token, token + 1);
                assert_eq!(holder, "node-b");
            }
            other => panic!("expected Fenced, got {other:?}"),
        }
        assert!(matches!(
            old.remove("ns", "k"),
            Err(PersistError::Fenced { .. })
        ));
        assert_eq!(old.read("ns", "k").unwrap().unwrap().value, b"v1");
    }
}
