//! The conformance suite, run against every backend.

// Test code may unwrap (clippy.toml allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use lightning_persist::MemoryStore;

fn memory() -> Option<(MemoryStore, ())> {
    Some((MemoryStore::new(), ()))
}
conformance_tests!(memory_store, memory());

#[cfg(feature = "fs")]
fn fs() -> Option<(lightning_persist::FsStore, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let store = lightning_persist::FsStore::open(dir.path().join("store"), "conformance").unwrap();
    Some((store, dir))
}
#[cfg(feature = "fs")]
conformance_tests!(fs_store, fs());

#[cfg(feature = "sqlite")]
fn sqlite() -> Option<(lightning_persist::SqliteStore, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let store =
        lightning_persist::SqliteStore::open(dir.path().join("kv.sqlite"), "conformance").unwrap();
    Some((store, dir))
}
#[cfg(feature = "sqlite")]
conformance_tests!(sqlite_store, sqlite());

#[cfg(feature = "postgres")]
fn postgres() -> Option<(lightning_persist::PostgresStore, ())> {
    let url = lightning_test_support::external::postgres_url("conformance::postgres_store")?;
    let options = lightning_persist::PostgresOptions::new(
        &lightning_test_support::external::unique_name("conf"),
        "conformance",
    );
    Some((
        lightning_persist::PostgresStore::open(&url, &options).unwrap(),
        (),
    ))
}
#[cfg(feature = "postgres")]
conformance_tests!(postgres_store, postgres());

/// CI (`LN_TEST_REQUIRE_ALL=1`) must test every backend: the features come
/// from `lightning-benches`' dependency, unified by `cargo test --workspace`.
#[test]
fn every_backend_is_compiled_when_required() {
    if lightning_test_support::external::require_all() {
        let compiled = [
            ("fs", cfg!(feature = "fs")),
            ("sqlite", cfg!(feature = "sqlite")),
            ("postgres", cfg!(feature = "postgres")),
        ];
        let missing: Vec<&str> = compiled
            .iter()
            .filter(|(_, on)| !on)
            .map(|(name, _)| *name)
            .collect();
        assert!(
            missing.is_empty(),
            "LN_TEST_REQUIRE_ALL=1 but lightning-persist was built without {missing:?}"
        );
    }
}
