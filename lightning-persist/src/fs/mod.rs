//! The filesystem backend: an append-only log plus a snapshot, one fsync per
//! durable write.

mod files;
mod frame;
mod legacy;
mod xxh64;

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::lock::LockFile;
use crate::{
    decide_write, keys, validate_batch, validate_write, BatchOp, KvStore, PersistError, Versioned,
    WriteDecision,
};

use files::FileId;
use frame::{Decoded, Op};

pub(crate) const BACKEND: &str = "fs";
const LOCK_FILE: &str = "~lock";

/// When [`FsStore`] compacts its log into a new snapshot.
///
/// ```
/// use lightning_persist::{FsOptions, FsStore};
/// # let dir = tempfile::tempdir().unwrap();
/// let mut options = FsOptions::default();
/// options.compact_min_log_bytes = 16 << 20;
/// let store = FsStore::open_with(dir.path(), "node-a", &options)?;
/// # Ok::<(), lightning_persist::PersistError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FsOptions {
    /// A write compacts once the log holds at least this many bytes and at
    /// least as many as the live records (so compaction rewrites at most
    /// as much as was appended since the last one). Default 64 MiB.
    pub compact_min_log_bytes: u64,
    /// The log grows in steps of this many bytes, zero-filled once (written
    /// and synced with the append that needed them), so that the appends
    /// after it overwrite space the file already has and their `fdatasync`
    /// changes no metadata. The step is at most
    /// `max(compact_min_log_bytes, 64 KiB)` (a log is not grown far past the
    /// size at which it is compacted away); 0 turns preallocation off (the
    /// log grows by each frame). Default 4 MiB.
    pub log_preallocate_bytes: u64,
}

impl Default for FsOptions {
    fn default() -> Self {
        FsOptions {
            compact_min_log_bytes: 64 << 20,
            log_preallocate_bytes: 4 << 20,
        }
    }
}

impl FsOptions {
    /// The step the log grows by (see [`FsOptions::log_preallocate_bytes`]).
    fn preallocate_step(&self) -> u64 {
        self.log_preallocate_bytes
            .min(self.compact_min_log_bytes.max(64 << 10))
    }
}

/// How much of the current log file holds frames, and how long the file
/// is: the bytes between are zeros, written ahead for the next appends
/// ([`FsStore::log_space`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogSpace {
    /// The end of the last frame.
    pub used: u64,
    /// The file's length.
    pub allocated: u64,
}

/// A [`KvStore`] in a directory: an append-only log and a snapshot, with
/// one `fsync` per durable write. The default backend.
///
/// # Layout
///
/// ```text
/// <root>/~lock                  the single-writer lock, naming its holder
/// <root>/~snapshot.<gen>        every live record as of generation <gen>
/// <root>/~log.<gen>             operations after the snapshot before it
/// <root>/~snapshot.<gen>.tmp    a compaction in flight (removed on open)
/// ```
///
/// Both kinds of file are sequences of frames (the `frame` module documents
/// the bytes): a frame holds one [`write`](KvStore::write), one
/// [`remove`](KvStore::remove) or a whole
/// [`write_batch`](KvStore::write_batch), under one check. A log's frames
/// are followed by zeros to the end of the file: space written ahead
/// ([`FsOptions::log_preallocate_bytes`]) that the next appends overwrite.
///
/// # Durability
///
/// A write appends one frame to the current log and `fdatasync`s it: one
/// sync per write and one per batch, and no directory sync (the log file's
/// entry was made durable when it was created). The frame lands inside the
/// zero-filled space, so the sync writes its pages and no file metadata (no
/// size or block allocation to journal); when that space runs out, the
/// frame and the next step of zeros are written together and synced once
/// ([`FsStore::reserve_log`] does it ahead of time). Writes are applied in
/// memory only after the sync, under one lock, so a read never returns
/// what is not yet durable, and a replayed write (same version, same
/// bytes) or a removal of a missing key touches no file at all. Batches are
/// atomic: one frame lands whole or not at all.
///
/// # Compaction
///
/// When the log holds at least [`FsOptions::compact_min_log_bytes`] and at
/// least as many bytes as the live records, the write that crossed the line
/// also compacts (or call [`FsStore::compact`]): it writes every live record
/// to `~snapshot.<g>.tmp` (`g` the current log's generation), fsyncs it,
/// creates the empty `~log.<g+1>`, renames the snapshot into place and
/// fsyncs the directory; then it deletes the old snapshot and log. Open
/// takes the highest sealed snapshot and replays every log of a higher
/// generation in order, so a crash at any point of a compaction opens to the
/// same records: before the rename the old snapshot and log still hold
/// them, after it the new snapshot does. A compaction that fails before the
/// rename leaves the store as it was (the write that triggered it still
/// succeeds and a later one tries again); one that fails after it poisons
/// the store (below).
///
/// # Opening
///
/// Open reads the snapshot and the logs through, checking every frame, and
/// keeps an index in memory: per record its version and where its frame
/// lies. Values stay on disk (read by offset, with the frame's check
/// verified on every read): a node with 10⁴ channels keeps an index of a
/// few MB rather than every channel's state in memory, and the kernel's
/// page cache serves the reads. A log ends at its last frame when only
/// zeros follow it. The last log's last frame may be torn by a crash (it was
/// never acknowledged): a damaged frame with no valid frame after it is cut
/// off (the file is truncated there, durably). A damaged frame followed by a
/// valid one (zeros followed by a frame are damage too), damage in a log
/// other than the last, or a damaged snapshot, is
/// [`PersistError::CorruptLog`] and the store does not open: it never
/// silently goes back to an older state.
///
/// A directory in the first format (one file per record,
/// `<root>/<namespace>/<key>`) is migrated on open: its records are copied
/// into a snapshot (a crash-safe compaction: written, fsynced, renamed,
/// directory fsynced), then the old files are removed. Until the snapshot
/// is in place the old files are the store; once it is, they are leftovers
/// and are deleted on sight. A damaged first-format file fails the open
/// with [`PersistError::Corrupt`] naming it.
///
/// # Single writer, failures
///
/// Only one `FsStore` at a time may have a directory open: [`FsStore::open`]
/// takes an exclusive `flock` on `<root>/~lock` and writes its instance name,
/// pid and host into it, and a second open, in this process or another,
/// fails at once with [`PersistError::Locked`] naming them. The operating
/// system drops the lock when the process dies, so a crashed node reopens at
/// once. The store keeps no file open for writing between operations (the
/// log is opened for each append), so the filesystem can be remounted
/// read-only under a live store.
///
/// A failed append is cut back off the log, with the zeros ahead (a full
/// disk frees its space again); if the zeros were what did not fit, the
/// frame is written alone and the log grows by frames only until the next
/// compaction. If that cut, an `fdatasync` of the log, or the directory sync of
/// a compaction fails, what is on disk is unknown, and the store refuses
/// every further write with [`PersistError::Poisoned`] until it is reopened.
///
/// The directory should be on a local filesystem that honours `fsync`
/// (ext4, xfs, btrfs, zfs, tmpfs for tests); `flock` is not reliable on
/// every network filesystem.
#[derive(Debug)]
pub struct FsStore {
    root: PathBuf,
    options: FsOptions,
    _lock: LockFile,
    state: Mutex<State>,
}

/// Where a record's value lies.
#[derive(Debug, Clone, Copy)]
struct Entry {
    version: u64,
    file: FileId,
    /// The frame holding it: offset and length in `file`.
    frame_at: u64,
    frame_len: u64,
    /// The value's bytes inside the frame.
    value_at: u64,
    value_len: u64,
}

type Index = BTreeMap<String, BTreeMap<String, Entry>>;

/// A write earlier in the same batch: its version and bytes.
type Pending<'a> = (u64, &'a [u8]);

#[derive(Debug)]
struct State {
    index: Index,
    /// Read-only handles of the current snapshot and logs.
    files: HashMap<FileId, Arc<File>>,
    /// Every log to replay; the last one is appended to.
    logs: Vec<u64>,
    /// The end of the last frame of the current log.
    log_len: u64,
    /// The current log file's length: zeros (or, in a recycled log, an
    /// earlier generation's frames) from `log_len` to here, overwritten by
    /// the next appends.
    log_alloc: u64,
    /// The current log holds frames of format 2 or 3 (written before
    /// generations): it is not recycled.
    log_legacy: bool,
    /// Compactions since open: a read that found its frame overwritten
    /// (its log recycled meanwhile) tries again if this changed.
    compactions: u64,
    /// The frame being appended, reused from write to write.
    frame_buf: Vec<u8>,
    /// Where the values lie in `frame_buf`.
    ranges_buf: Vec<Option<std::ops::Range<usize>>>,
    /// Set when growing the log by a whole step ran out of space: the log
    /// then grows by each frame only, until the next compaction.
    preallocate_off: bool,
    /// Bytes the live records take in a snapshot.
    live_bytes: u64,
    /// No automatic compaction before the log is this long (after one that
    /// failed).
    compact_not_before: u64,
    poisoned: Option<String>,
}

pub(crate) fn io_error<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> PersistError + 'a {
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

/// An error that says the filesystem (or a limit) has no room.
fn is_out_of_space(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::FileTooLarge | io::ErrorKind::QuotaExceeded
    )
}

/// Cuts the current log back to its last frame, durably, after a failed
/// write: gives back the space of a partial frame and of the zeros ahead.
/// If that fails, what follows the last frame is unknown and the store is
/// poisoned.
fn cut_log(state: &mut State, file: &File, path: &Path) -> Result<(), PersistError> {
    match file.set_len(state.log_len).and_then(|()| file.sync_data()) {
        Ok(()) => {
            state.log_alloc = state.log_len;
            Ok(())
        }
        Err(cut) => {
            let err = io_error("truncate log", path)(cut);
            state.poison(&err);
            Err(err)
        }
    }
}

fn corrupt(namespace: &str, key: &str, reason: String) -> PersistError {
    PersistError::Corrupt {
        backend: BACKEND,
        namespace: namespace.to_owned(),
        key: key.to_owned(),
        reason,
    }
}

/// What a write's frame takes in a snapshot.
fn snapshot_cost(namespace: &str, key: &str, value_len: u64) -> u64 {
    (frame::HEADER_LEN + 4 + 3 + 16 + namespace.len() + key.len()) as u64 + value_len
}

impl State {
    fn log_gen(&self) -> u64 {
        self.logs.last().copied().unwrap_or(1)
    }

    fn entry(&self, namespace: &str, key: &str) -> Option<&Entry> {
        self.index.get(namespace).and_then(|ns| ns.get(key))
    }

    fn check_poisoned(&self) -> Result<(), PersistError> {
        match &self.poisoned {
            Some(cause) => Err(PersistError::Poisoned {
                backend: BACKEND,
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    fn poison(&mut self, error: &PersistError) {
        self.poisoned = Some(error.to_string());
    }

    fn insert(&mut self, namespace: &str, key: &str, entry: Entry) {
        let cost = snapshot_cost(namespace, key, entry.value_len);
        let old = self
            .index
            .entry(namespace.to_owned())
            .or_default()
            .insert(key.to_owned(), entry);
        self.live_bytes += cost;
        if let Some(old) = old {
            self.live_bytes -= snapshot_cost(namespace, key, old.value_len);
        }
    }

    fn remove(&mut self, namespace: &str, key: &str) {
        if let Some(ns) = self.index.get_mut(namespace) {
            if let Some(old) = ns.remove(key) {
                self.live_bytes -= snapshot_cost(namespace, key, old.value_len);
            }
            if ns.is_empty() {
                self.index.remove(namespace);
            }
        }
    }

    /// Applies one decoded frame found at `frame_at` in `file`.
    fn apply(&mut self, file: FileId, frame_at: u64, frame_len: u64, ops: Vec<Decoded>) {
        for op in ops {
            match op {
                Decoded::Write {
                    namespace,
                    key,
                    version,
                    value,
                } => self.insert(
                    &namespace,
                    &key,
                    Entry {
                        version,
                        file,
                        frame_at,
                        frame_len,
                        value_at: value.start as u64,
                        value_len: (value.end - value.start) as u64,
                    },
                ),
                Decoded::Remove { namespace, key } => self.remove(&namespace, &key),
                Decoded::Seal { .. } => {}
            }
        }
    }

    /// The value of `entry`, its frame checked.
    fn read_value(
        &self,
        namespace: &str,
        key: &str,
        entry: &Entry,
    ) -> Result<Vec<u8>, PersistError> {
        let file = self.files.get(&entry.file).cloned();
        read_value(file, namespace, key, entry)
    }
}

/// Reads `entry`'s frame from `file` and returns its value, after checking
/// the frame.
fn read_value(
    file: Option<Arc<File>>,
    namespace: &str,
    key: &str,
    entry: &Entry,
) -> Result<Vec<u8>, PersistError> {
    let Some(file) = file else {
        return Err(corrupt(
            namespace,
            key,
            format!("{} is not open", entry.file.name()),
        ));
    };
    let len = usize::try_from(entry.frame_len)
        .map_err(|_| corrupt(namespace, key, "frame too long".into()))?;
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, entry.frame_at)
        .map_err(|source| PersistError::Io {
            backend: BACKEND,
            op: "read",
            target: crate::error::record_name(namespace, key),
            source,
        })?;
    frame::verify(&buf).map_err(|reason| corrupt(namespace, key, reason))?;
    // A frame of another generation where the entry's was: the log was
    // recycled and overwritten since the entry was taken (the caller
    // retries), or damage.
    if let Some(g) = frame::generation(&buf).filter(|&g| g != entry.file.generation()) {
        return Err(corrupt(
            namespace,
            key,
            format!(
                "a frame of generation {g} where {} has its frames",
                entry.file.name()
            ),
        ));
    }
    let start = entry.value_at as usize;
    let end = start.saturating_add(entry.value_len as usize);
    if end > buf.len() {
        return Err(corrupt(namespace, key, "value outside its frame".into()));
    }
    buf.truncate(end);
    buf.drain(..start);
    Ok(buf)
}

impl FsStore {
    /// Opens (creating if needed) the store in directory `root` as
    /// `instance`, a name for this node instance that a second opener will be
    /// shown, with the default [`FsOptions`].
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
        Self::open_with(root, instance, &FsOptions::default())
    }

    /// [`FsStore::open`] with the given options.
    pub fn open_with(
        root: impl AsRef<Path>,
        instance: &str,
        options: &FsOptions,
    ) -> Result<FsStore, PersistError> {
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
        let state = files::recover(&root)?;
        Ok(FsStore {
            root,
            options: options.clone(),
            _lock: lock,
            state: Mutex::new(state),
        })
    }

    /// The directory this store lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Compacts now: writes every live record to a new snapshot and starts
    /// an empty log (see the type's documentation).
    pub fn compact(&self) -> Result<(), PersistError> {
        let mut state = self.state();
        state.check_poisoned()?;
        let recycle = self.recycle_cap(&state);
        files::compact(&self.root, &mut state, recycle)
    }

    /// Whether a compaction recycles the old log as the new one, and if so
    /// the length it is cut to if longer: the log's size when the next
    /// compaction is due (the threshold, or the live records if more) and a
    /// preallocation step, so that a log that grew far once does not keep
    /// its space for ever. No recycling without preallocation (the log
    /// then grows by each frame, as configured).
    fn recycle_cap(&self, state: &State) -> Option<u64> {
        let step = self.options.preallocate_step();
        if step == 0 {
            return None;
        }
        let due = self.options.compact_min_log_bytes.max(state.live_bytes);
        Some(due.saturating_add(2 * step) / step * step)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every path changes the state only after the disk operation it
        // describes succeeded; a panic cannot leave it half-changed.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decides every op against the store and the ops before it, then
    /// appends those that change something as one frame and syncs it: one
    /// fsync, all or nothing. Nothing is written if any op is refused.
    fn commit(&self, ops: &[Op<'_>]) -> Result<(), PersistError> {
        let mut state = self.state();
        state.check_poisoned()?;
        // What the ops before this one did: `None` = removed.
        let mut overlay: HashMap<(&str, &str), Option<Pending<'_>>> = HashMap::new();
        let mut effective: Vec<Op<'_>> = Vec::with_capacity(ops.len());
        for op in ops {
            match *op {
                Op::Write {
                    namespace,
                    key,
                    version,
                    value,
                } => {
                    let earlier = overlay.get(&(namespace, key)).copied();
                    let stored = match earlier {
                        Some(earlier) => earlier.map(|(v, _)| v),
                        None => state.entry(namespace, key).map(|e| e.version),
                    };
                    let decision =
                        decide_write(BACKEND, namespace, key, stored, version, || {
                            match (earlier, state.entry(namespace, key)) {
                                (Some(earlier), _) => Ok(earlier.is_some_and(|(_, v)| v == value)),
                                (None, Some(entry)) => {
                                    Ok(state.read_value(namespace, key, entry)? == value)
                                }
                                (None, None) => Ok(false),
                            }
                        })?;
                    if decision == WriteDecision::Apply {
                        overlay.insert((namespace, key), Some((version, value)));
                        effective.push(*op);
                    }
                }
                Op::Remove { namespace, key } => {
                    let present = match overlay.get(&(namespace, key)) {
                        Some(earlier) => earlier.is_some(),
                        None => state.entry(namespace, key).is_some(),
                    };
                    if present {
                        overlay.insert((namespace, key), None);
                        effective.push(*op);
                    }
                }
                // Never asked for: seals are written by compaction only.
                Op::Seal { .. } => {}
            }
        }
        if effective.is_empty() {
            // Replays and removals of missing keys: what the index holds is
            // already durable.
            return Ok(());
        }
        let generation = state.log_gen();
        let (mut bytes, mut ranges) = (
            std::mem::take(&mut state.frame_buf),
            std::mem::take(&mut state.ranges_buf),
        );
        frame::encode_into(&mut bytes, &mut ranges, generation, &effective);
        let frame_at = state.log_len;
        let appended = self.append(&mut state, &bytes);
        let frame_len = bytes.len() as u64;
        state.frame_buf = bytes;
        appended?;
        let file = FileId::Log(generation);
        for (op, range) in effective.iter().zip(ranges.drain(..)) {
            match (op, range) {
                (
                    Op::Write {
                        namespace,
                        key,
                        version,
                        ..
                    },
                    Some(range),
                ) => state.insert(
                    namespace,
                    key,
                    Entry {
                        version: *version,
                        file,
                        frame_at,
                        frame_len,
                        value_at: range.start as u64,
                        value_len: (range.end - range.start) as u64,
                    },
                ),
                (Op::Remove { namespace, key }, _) => state.remove(namespace, key),
                _ => {}
            }
        }
        state.ranges_buf = ranges;
        self.maybe_compact(&mut state);
        Ok(())
    }

    /// Appends `bytes` to the current log and syncs it. The log is opened
    /// for this append only (no descriptor open for writing stays behind).
    ///
    /// Inside the zero-filled space ahead of the last frame this is an
    /// overwrite: `pwrite` and an `fdatasync` that has no metadata to
    /// write. Past it, the frame and the next step of zeros go out in the
    /// same `pwrite` (one `fdatasync` still); if there is no room for the
    /// step, the frame alone.
    fn append(&self, state: &mut State, bytes: &[u8]) -> Result<(), PersistError> {
        let path = files::log_path(&self.root, state.log_gen());
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_error("open log", &path))?;
        let at = state.log_len;
        let end = at + bytes.len() as u64;
        let written = if end <= state.log_alloc {
            file.write_all_at(bytes, at).map(|()| state.log_alloc)
        } else {
            let padded_end = self.padded_end(state, end);
            let padded = padded_end > end;
            let first = if padded {
                let mut buf = Vec::with_capacity((padded_end - at) as usize);
                buf.extend_from_slice(bytes);
                buf.resize((padded_end - at) as usize, 0);
                file.write_all_at(&buf, at)
            } else {
                file.write_all_at(bytes, at)
            };
            match first {
                Err(e) if padded && is_out_of_space(&e) => {
                    // No room for the step: give back what it took and try
                    // the frame alone.
                    if cut_log(state, &file, &path).is_err() {
                        return Err(io_error("write", &path)(e));
                    }
                    state.preallocate_off = true;
                    file.write_all_at(bytes, at).map(|()| end)
                }
                other => other.map(|()| padded_end),
            }
        };
        let allocated = match written {
            Ok(allocated) => allocated,
            Err(e) => {
                let err = io_error("write", &path)(e);
                // Cut the partial frame off, giving back its space, durably
                // (a later compaction would otherwise leave garbage at the
                // end of a log that is no longer the last); if that fails
                // the next append would land after garbage (poisoned).
                let _ = cut_log(state, &file, &path);
                return Err(err);
            }
        };
        if let Err(e) = file.sync_data() {
            // What reached the disk is unknown (and after a failed fsync the
            // kernel may have dropped the dirty pages).
            let err = io_error("fdatasync", &path)(e);
            state.poison(&err);
            return Err(err);
        }
        state.log_len = end;
        state.log_alloc = state.log_alloc.max(allocated);
        Ok(())
    }

    /// Where the log should end after an append that ends at `end` past
    /// the zero-filled space: the next multiple of the step above `end`.
    fn padded_end(&self, state: &State, end: u64) -> u64 {
        let step = self.options.preallocate_step();
        if step == 0 || state.preallocate_off {
            return end;
        }
        end.saturating_add(step) / step * step
    }

    /// Makes sure the current log has at least `bytes` of zero-filled space
    /// after its last frame (growing it by whole steps of
    /// [`FsOptions::log_preallocate_bytes`], written and `fdatasync`ed now),
    /// so that appends of that many bytes change no file metadata. Appends
    /// grow the log this way by themselves; a host may call this at a quiet
    /// moment instead. A compaction starts a new, empty log.
    pub fn reserve_log(&self, bytes: u64) -> Result<(), PersistError> {
        let mut state = self.state();
        state.check_poisoned()?;
        let want = state.log_len.saturating_add(bytes);
        if want <= state.log_alloc {
            return Ok(());
        }
        let target = self.padded_end(&state, want).max(want);
        let path = files::log_path(&self.root, state.log_gen());
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_error("open log", &path))?;
        let from = state.log_alloc;
        let zeros = vec![0u8; (target - from) as usize];
        if let Err(e) = file.write_all_at(&zeros, from) {
            let err = io_error("write", &path)(e);
            let _ = cut_log(&mut state, &file, &path);
            return Err(err);
        }
        if let Err(e) = file.sync_data() {
            let err = io_error("fdatasync", &path)(e);
            state.poison(&err);
            return Err(err);
        }
        state.log_alloc = target;
        Ok(())
    }

    /// How much of the current log holds frames, and how long its file is.
    pub fn log_space(&self) -> LogSpace {
        let state = self.state();
        LogSpace {
            used: state.log_len,
            allocated: state.log_alloc,
        }
    }

    fn maybe_compact(&self, state: &mut State) {
        let due = state.log_len >= self.options.compact_min_log_bytes
            && state.log_len >= state.live_bytes
            && state.log_len >= state.compact_not_before;
        if !due {
            return;
        }
        // The write is durable whatever happens here; a failure before the
        // snapshot is in place only postpones compaction, one after it has
        // poisoned the store (the next write reports it).
        let recycle = self.recycle_cap(state);
        if files::compact(&self.root, state, recycle).is_err() && state.poisoned.is_none() {
            state.compact_not_before = state.log_len + self.options.compact_min_log_bytes;
        }
    }
}

impl KvStore for FsStore {
    fn read(&self, namespace: &str, key: &str) -> Result<Option<Versioned>, PersistError> {
        keys::validate_record(namespace, key)?;
        loop {
            let (entry, file, compactions) = {
                let state = self.state();
                match state.entry(namespace, key) {
                    None => return Ok(None),
                    Some(entry) => (
                        *entry,
                        state.files.get(&entry.file).cloned(),
                        state.compactions,
                    ),
                }
            };
            // Read outside the lock: the handle stays valid even if a
            // compaction replaces the file meanwhile. If it recycled the
            // log, the frame may have been overwritten since (the check or
            // the generation tells): the record is in the new snapshot now,
            // so look it up again.
            match read_value(file, namespace, key, &entry) {
                Ok(value) => {
                    return Ok(Some(Versioned {
                        version: entry.version,
                        value,
                    }))
                }
                Err(e) if self.state().compactions == compactions => return Err(e),
                Err(_) => continue,
            }
        }
    }

    fn write(
        &self,
        namespace: &str,
        key: &str,
        version: u64,
        value: &[u8],
    ) -> Result<(), PersistError> {
        validate_write(BACKEND, namespace, key, version, value)?;
        self.commit(&[Op::Write {
            namespace,
            key,
            version,
            value,
        }])
    }

    fn remove(&self, namespace: &str, key: &str) -> Result<(), PersistError> {
        keys::validate_record(namespace, key)?;
        self.commit(&[Op::Remove { namespace, key }])
    }

    fn list(&self, namespace: &str) -> Result<Vec<String>, PersistError> {
        keys::validate_namespace(namespace)?;
        Ok(self
            .state()
            .index
            .get(namespace)
            .map(|ns| ns.keys().cloned().collect())
            .unwrap_or_default())
    }

    fn list_prefix(&self, namespace: &str, prefix: &str) -> Result<Vec<String>, PersistError> {
        keys::validate_namespace(namespace)?;
        keys::validate_prefix(prefix)?;
        Ok(self
            .state()
            .index
            .get(namespace)
            .map(|ns| {
                ns.range(prefix.to_owned()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default())
    }

    /// All or nothing, with one fsync: the ops are checked in order against
    /// the store and each other, and if none is refused those that change
    /// something are appended as one frame.
    fn write_batch(&self, ops: &[BatchOp]) -> Result<(), PersistError> {
        validate_batch(BACKEND, ops)?;
        let ops: Vec<Op<'_>> = ops
            .iter()
            .map(|op| match op {
                BatchOp::Write {
                    namespace,
                    key,
                    version,
                    value,
                } => Op::Write {
                    namespace,
                    key,
                    version: *version,
                    value,
                },
                BatchOp::Remove { namespace, key } => Op::Remove { namespace, key },
            })
            .collect();
        self.commit(&ops)
    }

    fn batch_is_atomic(&self) -> bool {
        true
    }
}
