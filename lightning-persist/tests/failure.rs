//! Failures of the storage underneath: a full disk and a filesystem that
//! turns read-only. Each gives a typed error and leaves the old record whole
//! and readable, before and after a reopen.
//!
//! Techniques, as root (CI): a 1 MiB tmpfs for the full disk; for read-only,
//! a `mount -o remount,ro` of a tmpfs (the filesystem backend, which keeps no
//! file open for writing between operations) or `chattr +i`
//! on the directory, database and WAL (SQLite, whose open database keeps a
//! remount busy). Root ignores
//! permission bits, hence these. Without root (a developer's machine): the
//! full disk becomes `RLIMIT_FSIZE` in a child process (`ulimit -f`, SIGXFSZ
//! ignored, so writes fail with EFBIG), and read-only becomes `chmod 0555`.
//! What cannot be done is skipped with a notice on stderr; under
//! `LN_TEST_REQUIRE_ALL=1` (CI, as root) the full disk must be the tmpfs,
//! with the disk-full error kind: the fallback is a failure there.
//!
//! The child of the fallback (`failure_child`) is `#[ignore]`d, so the main
//! run does not pass it vacuously; the parent runs it with `--ignored
//! --exact` and checks that it printed its sentinel line.

// Test code may unwrap (clippy.toml allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]
// Helpers go unused when only one of the two backends is compiled.
#![allow(dead_code)]
#![cfg(any(feature = "fs", feature = "sqlite"))]

mod common;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// These tests mount, remount and spawn processes. A process forked for one
/// test holds, until it execs, a copy of every descriptor open in the
/// others, which can keep an unlinked temporary file's space taken on a
/// 1 MiB tmpfs and make a neighbouring test see a full disk. One at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(feature = "sqlite")]
use std::path::PathBuf;
use std::process::Command;

use lightning_persist::KvStore;
#[cfg(feature = "sqlite")]
use lightning_persist::PersistError;
use lightning_test_support::external::{require_all, skip};

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn run(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        // To exercise the fallbacks on a machine that can mount.
        if std::env::var("LN_PERSIST_TEST_NO_MOUNT").as_deref() == Ok("1") {
            return None;
        }
        let dir = tempfile::tempdir().ok()?;
        let path = dir.path().to_str()?;
        run(
            "mount",
            &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", path],
        )
        .then_some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, mode: &str) {
        let path = self.path().to_str().unwrap();
        assert!(
            run("mount", &["-o", &format!("remount,{mode}"), path]),
            "remount {mode} failed"
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = run("umount", &["-l", self.dir.path().to_str().unwrap_or("")]);
    }
}

/// Undoes `chattr +i` when dropped.
#[cfg(feature = "sqlite")]
struct Immutable(Vec<PathBuf>);

#[cfg(feature = "sqlite")]
impl Immutable {
    fn set(paths: &[PathBuf]) -> Option<Immutable> {
        let mut args = vec!["+i"];
        for path in paths {
            args.push(path.to_str()?);
        }
        run("chattr", &args).then(|| Immutable(paths.to_vec()))
    }
}

#[cfg(feature = "sqlite")]
impl Drop for Immutable {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = run("chattr", &["-i", path.to_str().unwrap_or("")]);
        }
    }
}

/// 2 MiB: more than the 1 MiB filesystem or file size limit.
fn too_big() -> Vec<u8> {
    common::value_for("big", 2, 2 << 20)
}

fn assert_old_value(store: &dyn KvStore) {
    let record = store.read("ns", "k").unwrap().unwrap();
    assert_eq!(
        (record.version, record.value.as_slice()),
        (1, &b"old value"[..])
    );
}

type Open = fn(&Path) -> Box<dyn KvStore>;

#[cfg(feature = "fs")]
fn open_fs(dir: &Path) -> Box<dyn KvStore> {
    Box::new(lightning_persist::FsStore::open(dir.join("store"), "failure-test").unwrap())
}

#[cfg(feature = "sqlite")]
fn open_sqlite(dir: &Path) -> Box<dyn KvStore> {
    Box::new(lightning_persist::SqliteStore::open(dir.join("kv.sqlite"), "failure-test").unwrap())
}

/// The full-disk scenario in `dir`, whichever way the space is limited.
/// On a full filesystem (`by_rlimit` false) the error must be the disk-full
/// kind: ENOSPC (`StorageFull`) from the filesystem backend, `SQLITE_FULL`
/// from SQLite. Under `RLIMIT_FSIZE` the filesystem backend sees EFBIG
/// (`FileTooLarge`), and SQLite reports EFBIG as a plain I/O error (it does
/// not say which), so there any SQLite error will do.
fn full_disk(open: Open, dir: &Path, by_rlimit: bool) {
    let store = open(dir);
    store.write("ns", "k", 1, b"old value").unwrap();
    let err = store.write("ns", "k", 2, &too_big()).unwrap_err();
    assert!(
        err.is_storage_full() || by_rlimit,
        "expected a full-disk error, got {err:?}"
    );
    #[cfg(feature = "sqlite")]
    let sqlite = match &err {
        PersistError::Sqlite { source, .. } => Some(source.sqlite_error_code()),
        _ => None,
    };
    #[cfg(not(feature = "sqlite"))]
    let sqlite: Option<()> = None;
    match (sqlite, by_rlimit) {
        (None, false) => assert_eq!(
            err.io_kind(),
            Some(std::io::ErrorKind::StorageFull),
            "a full filesystem: {err:?}"
        ),
        (None, true) => assert_eq!(
            err.io_kind(),
            Some(std::io::ErrorKind::FileTooLarge),
            "over RLIMIT_FSIZE: {err:?}"
        ),
        #[cfg(feature = "sqlite")]
        (Some(code), false) => assert_eq!(
            code,
            Some(rusqlite::ErrorCode::DiskFull),
            "a full filesystem: {err:?}"
        ),
        #[cfg(feature = "sqlite")]
        (Some(_), true) => {}
        #[allow(unreachable_patterns)]
        _ => unreachable!(),
    }
    assert_old_value(&*store);
    assert_eq!(store.list("ns").unwrap(), vec!["k"]);
    drop(store);
    let store = open(dir);
    assert_old_value(&*store);
}

const CHILD_ENV: &str = "LN_PERSIST_FAILURE_CHILD";

/// What the child prints once the scenario passed; the parent requires it.
const CHILD_SENTINEL: &str = "failure_child: full-disk scenario passed";

/// The child of the `RLIMIT_FSIZE` fallback: run only by its parent.
#[test]
#[ignore = "the child of fs_full_disk/sqlite_full_disk, run by them with --ignored --exact"]
fn failure_child() {
    let job = std::env::var(CHILD_ENV).unwrap_or_else(|_| {
        panic!("failure_child runs only as the child of a full-disk test ({CHILD_ENV} unset)")
    });
    let (backend, dir) = job.split_once('|').unwrap();
    let open: Open = match backend {
        #[cfg(feature = "fs")]
        "fs" => open_fs,
        #[cfg(feature = "sqlite")]
        "sqlite" => open_sqlite,
        other => panic!("unknown backend {other}"),
    };
    full_disk(open, Path::new(dir), true);
    println!("{CHILD_SENTINEL} ({backend})");
}

fn full_disk_test(backend: &str, open: Open) {
    if let Some(tmpfs) = Tmpfs::mount("1m") {
        eprintln!("{backend}: full disk = a 1 MiB tmpfs");
        return full_disk(open, tmpfs.path(), false);
    }
    if require_all() {
        panic!("{backend}: cannot mount a tmpfs with LN_TEST_REQUIRE_ALL=1 (the RLIMIT_FSIZE fallback does not give the disk-full error)");
    }
    eprintln!("{backend}: cannot mount a tmpfs here; full disk = RLIMIT_FSIZE of 1 MiB in a child");
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("sh")
        .args(["-c", "trap '' XFSZ; ulimit -f 1024 && exec \"$0\" \"$@\""])
        .arg(&exe)
        .args([
            "--ignored",
            "--exact",
            "failure_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{backend}|{}", dir.path().display()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{backend}: full-disk child failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{CHILD_SENTINEL} ({backend})")),
        "{backend}: the full-disk child did not run its scenario: {stdout}"
    );
}

#[cfg(feature = "fs")]
#[test]
fn fs_full_disk() {
    let _serial = serial();
    full_disk_test("fs", open_fs);
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_full_disk() {
    let _serial = serial();
    full_disk_test("sqlite", open_sqlite);
}

#[cfg(feature = "fs")]
#[test]
fn fs_small_writes_go_on_after_a_full_disk() {
    let _serial = serial();
    let Some(tmpfs) = Tmpfs::mount("1m") else {
        skip("fs_small_writes_go_on_after_a_full_disk: cannot mount a tmpfs");
        return;
    };
    let store = open_fs(tmpfs.path());
    store.write("ns", "k", 1, b"old value").unwrap();
    assert!(store
        .write("ns", "k", 2, &too_big())
        .unwrap_err()
        .is_storage_full());
    // The failed write's temporary file is gone, so its space is free again.
    store.write("ns", "k", 2, b"small").unwrap();
    assert_eq!(store.read("ns", "k").unwrap().unwrap().value, b"small");
}

#[cfg(feature = "fs")]
#[test]
fn fs_read_only() {
    let _serial = serial();
    if !is_root() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_fs(dir.path());
        store.write("ns", "k", 1, b"old value").unwrap();
        // The store's directory and its files lose their write bits (the
        // log is opened for each append, so this stops the next write).
        use std::os::unix::fs::PermissionsExt;
        let root = dir.path().join("store");
        let set = |file_mode: u32, dir_mode: u32| {
            for entry in std::fs::read_dir(&root).unwrap() {
                let path = entry.unwrap().path();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(file_mode))
                    .unwrap();
            }
            std::fs::set_permissions(&root, std::fs::Permissions::from_mode(dir_mode)).unwrap();
        };
        set(0o444, 0o555);
        let err = store.write("ns", "k", 2, b"new").unwrap_err();
        assert_eq!(
            err.io_kind(),
            Some(std::io::ErrorKind::PermissionDenied),
            "{err:?}"
        );
        assert_old_value(&*store);
        set(0o644, 0o755);
        return;
    }
    let Some(tmpfs) = Tmpfs::mount("16m") else {
        skip("fs_read_only: root, but cannot mount a tmpfs");
        return;
    };
    let store = open_fs(tmpfs.path());
    store.write("ns", "k", 1, b"old value").unwrap();
    tmpfs.remount("ro");
    let err = store.write("ns", "k", 2, b"new value").unwrap_err();
    assert_eq!(
        err.io_kind(),
        Some(std::io::ErrorKind::ReadOnlyFilesystem),
        "{err:?}"
    );
    assert!(store.remove("ns", "k").is_err());
    assert_old_value(&*store);
    drop(store);
    // Opening on a read-only filesystem fails with a typed error too.
    let err = lightning_persist::FsStore::open(tmpfs.path().join("store"), "again").unwrap_err();
    assert_eq!(
        err.io_kind(),
        Some(std::io::ErrorKind::ReadOnlyFilesystem),
        "{err:?}"
    );
    tmpfs.remount("rw");
    assert_old_value(&*open_fs(tmpfs.path()));
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_read_only() {
    let _serial = serial();
    if !is_root() {
        skip("sqlite_read_only: needs root (chattr +i); permission bits do not stop an open database");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = open_sqlite(dir.path());
    store.write("ns", "k", 1, b"old value").unwrap();
    // The directory, the database and its WAL turn immutable; the shared
    // memory file (`-shm`) stays writable, because SQLite maps it and a
    // refused write to a mapped page is a SIGBUS, not an error.
    let files = [
        dir.path().to_owned(),
        dir.path().join("kv.sqlite"),
        dir.path().join("kv.sqlite-wal"),
    ];
    let Some(immutable) = Immutable::set(&files) else {
        skip("sqlite_read_only: chattr +i is not supported here");
        return;
    };
    let err = store.write("ns", "k", 2, b"new value").unwrap_err();
    assert!(matches!(err, PersistError::Sqlite { .. }), "{err:?}");
    assert_old_value(&*store);
    drop(store);
    drop(immutable);
    assert_old_value(&*open_sqlite(dir.path()));
}

/// A compaction that runs out of space changes nothing: the write that
/// triggered it is durable and reported as done, the store goes on with
/// its old snapshot and log, and reopens to the same records.
#[cfg(feature = "fs")]
#[test]
fn fs_compaction_on_a_full_disk_leaves_the_store_working() {
    let _serial = serial();
    let Some(tmpfs) = Tmpfs::mount("1m") else {
        skip("fs_compaction_on_a_full_disk_leaves_the_store_working: cannot mount a tmpfs");
        return;
    };
    let root = tmpfs.path().join("store");
    let mut options = lightning_persist::FsOptions::default();
    options.compact_min_log_bytes = 64 << 10;
    let open = || lightning_persist::FsStore::open_with(&root, "failure-test", &options).unwrap();
    let log_len = || {
        std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().starts_with("~log."))
            .map(|e| e.metadata().unwrap().len())
            .sum::<u64>()
    };
    let store = open();
    let v1 = common::value_for("k", 1, 400 << 10);
    let v2 = common::value_for("k", 2, 400 << 10);
    // Compacts at once (the log is past 64 KiB and as large as the live
    // records), with room to spare: 800 KiB at the peak.
    store.write("ns", "k", 1, &v1).unwrap();
    // (The log file keeps its length: it is recycled, its blocks kept for
    // the next appends.)
    assert_eq!(
        store.log_space().used,
        0,
        "the first write was compacted away"
    );
    // Its compaction would need 1.2 MiB: it fails, the write stands.
    store.write("ns", "k", 2, &v2).unwrap();
    assert!(log_len() > 400 << 10, "the second write stays in the log");
    assert!(store.read("ns", "k").unwrap().unwrap().value == v2);
    store.write("ns", "small", 1, b"still writable").unwrap();
    assert!(store.compact().unwrap_err().is_storage_full());
    store
        .write("ns", "small", 2, b"still writable after")
        .unwrap();
    drop(store);
    let store = open();
    assert!(store.read("ns", "k").unwrap().unwrap().value == v2);
    assert_eq!(
        store.read("ns", "small").unwrap().unwrap().value,
        b"still writable after"
    );
}
