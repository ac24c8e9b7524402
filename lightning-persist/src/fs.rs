//! The filesystem backend.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::error::record_name;
use crate::lock::LockFile;
use crate::record::{self, HEADER_LEN};
use crate::{
    apply_in_order, decide_write, keys, validate_batch, validate_write, BatchOp, KvStore,
    PersistError, Versioned, WriteDecision,
};

const BACKEND: &str = "fs";
const LOCK_FILE: &str = "~lock";
const TMP_PREFIX: &str = "~tmp.";

/// A [`KvStore`] in a directory, one file per record. The default backend.
///
/// Layout: `<root>/<namespace>/<key>`, with each `/` inside a namespace or a
/// key written as `%` (which keys cannot contain), so a namespace is one flat
/// directory. Files whose names start with `~` are the store's own: `~lock`
/// at the root, `~tmp.*` for writes in flight (removed on open).
///
/// A write goes to a temporary file, which is fsynced and renamed over the
/// record, and then the directory is fsynced: a crash leaves either the old
/// record or the new one, never a mix. Each file starts with a header holding
/// the version, the length and a SHA-256 checksum, so a damaged file is
/// reported as [`PersistError::Corrupt`], never returned as data.
///
/// Only one `FsStore` at a time may have a directory open: [`FsStore::open`]
/// takes an exclusive `flock` on `<root>/~lock` and writes its instance name,
/// pid and host into it, and a second open, in this process or another,
/// fails at once with [`PersistError::Locked`] naming them. The operating
/// system drops the lock when the process dies, so a crashed node reopens at
/// once. Batches are not atomic (see [`KvStore::write_batch`]).
///
/// The directory should be on a local, case-sensitive filesystem that honours
/// `fsync` (ext4, xfs, btrfs, zfs, tmpfs for tests); `flock` is not reliable
/// on every network filesystem.
///
/// If an `fsync` of a directory fails after a rename made a change visible,
/// what reached the disk is unknown, and the store refuses every further
/// write with [`PersistError::Poisoned`] until it is reopened.
#[derive(Debug)]
pub struct FsStore {
    root: PathBuf,
    _lock: LockFile,
    state: Mutex<State>,
    next_tmp: AtomicU64,
    poisoned: Mutex<Option<String>>,
}

#[derive(Debug, Default)]
struct State {
    /// Versions of records known to be on disk. This instance is the only
    /// writer, so once read from a header a version stays right.
    versions: HashMap<(String, String), u64>,
    /// Namespace directories known to exist durably.
    namespaces: HashSet<String>,
}

fn encode_name(s: &str) -> String {
    s.replace('/', "%")
}

fn decode_name(s: &str) -> String {
    s.replace('%', "/")
}

fn io_error<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> PersistError + 'a {
    move |source| PersistError::Io {
        backend: BACKEND,
        op,
        target: path.display().to_string(),
        source,
    }
}

fn sync_dir(dir: &Path) -> Result<(), PersistError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("fsync directory", dir))
}

impl FsStore {
    /// Opens (creating if needed) the store in directory `root` as
    /// `instance`, a name for this node instance that a second opener will be
    /// shown.
    ///
    /// ```
    /// use lightning_persist::{FsStore, PersistError};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = FsStore::open(dir.path(), "node-a")?;
    /// let second = FsStore::open(dir.path(), "node-b");
    /// assert!(matches!(second, Err(PersistError::Locked { .. })));
    /// # Ok::<(), PersistError>(())
    /// ```
    pub fn open(root: impl AsRef<Path>, instance: &str) -> Result<FsStore, PersistError> {
        let root = root.as_ref().to_path_buf();
        if !root.is_dir() {
            fs::create_dir_all(&root).map_err(io_error("create directory", &root))?;
            // Make the new directory's own entry durable, or records written
            // into it could vanish with it.
            if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        let lock = LockFile::acquire(BACKEND, &root.join(LOCK_FILE), &root, instance)?;
        // Writes in flight when the last holder died never became records.
        for entry in fs::read_dir(&root).map_err(io_error("list", &root))? {
            let entry = entry.map_err(io_error("list", &root))?;
            let dir = entry.path();
            if !entry.file_type().map_err(io_error("stat", &dir))?.is_dir() {
                continue;
            }
            for file in fs::read_dir(&dir).map_err(io_error("list", &dir))? {
                let file = file.map_err(io_error("list", &dir))?;
                if file.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                    let path = file.path();
                    fs::remove_file(&path).map_err(io_error("remove temporary file", &path))?;
                }
            }
        }
        Ok(FsStore {
            root,
            _lock: lock,
            state: Mutex::new(State::default()),
            next_tmp: AtomicU64::new(0),
            poisoned: Mutex::new(None),
        })
    }

    /// The directory this store lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is a cache that every path updates only after the disk
        // operation it describes succeeded; a panic cannot leave it wrong.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check_poisoned(&self) -> Result<(), PersistError> {
        match &*self.poisoned.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(cause) => Err(PersistError::Poisoned {
                backend: BACKEND,
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Syncs `dir`; on failure the store is poisoned, since the change that
    /// needed the sync is already visible.
    fn sync_dir_or_poison(&self, dir: &Path) -> Result<(), PersistError> {
        sync_dir(dir).inspect_err(|e| {
            *self.poisoned.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        })
    }

    /// Unlinks a record's file without syncing its directory: the directory
    /// to sync for the removal to be durable, or `None` when the namespace
    /// does not exist (nothing to remove).
    fn unlink(&self, namespace: &str, key: &str) -> Result<Option<PathBuf>, PersistError> {
        let dir = self.namespace_path(namespace);
        let path = dir.join(encode_name(key));
        let mut state = self.state();
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !dir.exists() {
                    return Ok(None);
                }
            }
            Err(e) => {
                return Err(PersistError::Io {
                    backend: BACKEND,
                    op: "remove",
                    target: record_name(namespace, key),
                    source: e,
                })
            }
        }
        state
            .versions
            .remove(&(namespace.to_owned(), key.to_owned()));
        Ok(Some(dir))
    }

    fn namespace_path(&self, namespace: &str) -> PathBuf {
        self.root.join(encode_name(namespace))
    }

    /// The namespace's directory, created durably if it is not there yet.
    fn namespace_dir(&self, namespace: &str) -> Result<PathBuf, PersistError> {
        let dir = self.namespace_path(namespace);
        if self.state().namespaces.contains(namespace) {
            return Ok(dir);
        }
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_error("create directory", &dir)(e)),
        }
        sync_dir(&self.root)?;
        self.state().namespaces.insert(namespace.to_owned());
        Ok(dir)
    }

    /// The version stored for a record, from the cache or its header.
    fn stored_version(
        &self,
        state: &mut State,
        namespace: &str,
        key: &str,
        path: &Path,
    ) -> Result<Option<u64>, PersistError> {
        let id = (namespace.to_owned(), key.to_owned());
        if let Some(version) = state.versions.get(&id) {
            return Ok(Some(*version));
        }
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("open", path)(e)),
        };
        let mut header = Vec::with_capacity(HEADER_LEN);
        (&mut file)
            .take(HEADER_LEN as u64)
            .read_to_end(&mut header)
            .map_err(io_error("read", path))?;
        let version = record::header_version(&header).map_err(|reason| PersistError::Corrupt {
            backend: BACKEND,
            namespace: namespace.to_owned(),
            key: key.to_owned(),
            reason,
        })?;
        state.versions.insert(id, version);
        Ok(Some(version))
    }

    fn read_record(
        &self,
        namespace: &str,
        key: &str,
        path: &Path,
    ) -> Result<Option<Versioned>, PersistError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("read", path)(e)),
        };
        let (version, value) = record::decode(bytes).map_err(|reason| PersistError::Corrupt {
            backend: BACKEND,
            namespace: namespace.to_owned(),
            key: key.to_owned(),
            reason,
        })?;
        Ok(Some(Versioned { version, value }))
    }

    /// Writes the record to a new temporary file in `dir` and fsyncs it.
    fn write_temporary(
        &self,
        dir: &Path,
        version: u64,
        value: &[u8],
    ) -> Result<PathBuf, PersistError> {
        let n = self.next_tmp.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!("{TMP_PREFIX}{n}"));
        let written = (|| {
            let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            file.write_all(&record::header(version, value))?;
            file.write_all(value)?;
            file.sync_all()
        })();
        match written {
            Ok(()) => Ok(tmp),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(io_error("write", &tmp)(e))
            }
        }
    }
}

impl KvStore for FsStore {
    fn read(&self, namespace: &str, key: &str) -> Result<Option<Versioned>, PersistError> {
        keys::validate_record(namespace, key)?;
        let path = self.namespace_path(namespace).join(encode_name(key));
        self.read_record(namespace, key, &path)
    }

    fn write(
        &self,
        namespace: &str,
        key: &str,
        version: u64,
        value: &[u8],
    ) -> Result<(), PersistError> {
        validate_write(BACKEND, namespace, key, version, value)?;
        self.check_poisoned()?;
        let dir = self.namespace_dir(namespace)?;
        let path = dir.join(encode_name(key));
        // The slow part (writing and syncing the data) runs unlocked; only
        // the version check and the rename are serialised.
        let tmp = self.write_temporary(&dir, version, value)?;
        let mut state = self.state();
        let applied = (|| {
            let stored = self.stored_version(&mut state, namespace, key, &path)?;
            let decision = decide_write(BACKEND, namespace, key, stored, version, || {
                Ok(self
                    .read_record(namespace, key, &path)?
                    .is_some_and(|r| r.value == value))
            })?;
            if decision == WriteDecision::Apply {
                fs::rename(&tmp, &path).map_err(io_error("rename", &path))?;
                state
                    .versions
                    .insert((namespace.to_owned(), key.to_owned()), version);
            }
            Ok(decision)
        })();
        drop(state);
        if !matches!(applied, Ok(WriteDecision::Apply)) {
            let _ = fs::remove_file(&tmp);
        }
        applied?;
        // Also on a replay: the first write of these bytes may still be
        // between its rename and its directory sync in another thread.
        self.sync_dir_or_poison(&dir)
    }

    fn remove(&self, namespace: &str, key: &str) -> Result<(), PersistError> {
        keys::validate_record(namespace, key)?;
        self.check_poisoned()?;
        if let Some(dir) = self.unlink(namespace, key)? {
            self.sync_dir_or_poison(&dir)?;
        }
        Ok(())
    }

    fn list(&self, namespace: &str) -> Result<Vec<String>, PersistError> {
        keys::validate_namespace(namespace)?;
        let dir = self.namespace_path(namespace);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error("list", &dir)(e)),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_error("list", &dir))?;
            let Some(name) = entry.file_name().to_str().map(decode_name) else {
                continue;
            };
            // Skip the store's own files and anything else that is not a key.
            if !name.starts_with('~') && keys::validate_key(&name).is_ok() {
                keys.push(name);
            }
        }
        keys.sort_unstable();
        Ok(keys)
    }

    /// Applies the ops in order, each atomic; a crash can leave a prefix
    /// applied. A run of consecutive removes shares one directory fsync per
    /// namespace at its end (compaction removes dozens of obsolete records
    /// at once), so a crash can leave any part of such a run applied.
    fn write_batch(&self, ops: &[BatchOp]) -> Result<(), PersistError> {
        validate_batch(BACKEND, ops)?;
        let mut i = 0;
        while i < ops.len() {
            let run = ops[i..]
                .iter()
                .take_while(|op| matches!(op, BatchOp::Remove { .. }))
                .count();
            if run < 2 {
                apply_in_order(self, &ops[i..=i])?;
                i += 1;
                continue;
            }
            self.check_poisoned()?;
            let mut dirs: Vec<PathBuf> = Vec::new();
            let mut failed = None;
            for op in &ops[i..i + run] {
                if let BatchOp::Remove { namespace, key } = op {
                    match self.unlink(namespace, key) {
                        Ok(Some(dir)) if !dirs.contains(&dir) => dirs.push(dir),
                        Ok(_) => {}
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
            }
            // What was unlinked is made durable even when a later unlink
            // failed: the batch then stops with a prefix applied.
            for dir in &dirs {
                self.sync_dir_or_poison(dir)?;
            }
            if let Some(e) = failed {
                return Err(e);
            }
            i += run;
        }
        Ok(())
    }
}
