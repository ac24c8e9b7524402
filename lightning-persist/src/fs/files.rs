//! The files of [`FsStore`](crate::FsStore): naming, recovery on open
//! (snapshot + logs, torn tails, migration from the first format) and
//! compaction.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::PersistError;

use super::frame::{self, Decoded, Op};
use super::{io_error, legacy, sync_dir, Entry, State, BACKEND};

const LOG_PREFIX: &str = "~log.";
const SNAPSHOT_PREFIX: &str = "~snapshot.";
const TMP_SUFFIX: &str = ".tmp";

/// A file of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum FileId {
    Snapshot(u64),
    Log(u64),
}

impl FileId {
    pub(super) fn name(self) -> String {
        match self {
            FileId::Snapshot(gen) => format!("{SNAPSHOT_PREFIX}{gen:020}"),
            FileId::Log(gen) => format!("{LOG_PREFIX}{gen:020}"),
        }
    }

    fn path(self, root: &Path) -> PathBuf {
        root.join(self.name())
    }
}

pub(super) fn log_path(root: &Path, gen: u64) -> PathBuf {
    FileId::Log(gen).path(root)
}

fn snapshot_tmp_path(root: &Path, gen: u64) -> PathBuf {
    root.join(format!("{}{TMP_SUFFIX}", FileId::Snapshot(gen).name()))
}

/// What the root directory holds.
#[derive(Debug, Default)]
pub(super) struct Listing {
    snapshots: Vec<u64>,
    logs: Vec<u64>,
    tmps: Vec<PathBuf>,
}

fn list(root: &Path) -> Result<Listing, PersistError> {
    let mut listing = Listing::default();
    for entry in fs::read_dir(root).map_err(io_error("list", root))? {
        let entry = entry.map_err(io_error("list", root))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(rest) = name.strip_prefix(SNAPSHOT_PREFIX) {
            if rest.ends_with(TMP_SUFFIX) {
                listing.tmps.push(entry.path());
            } else if let Ok(gen) = rest.parse() {
                listing.snapshots.push(gen);
            }
        } else if let Some(Ok(gen)) = name.strip_prefix(LOG_PREFIX).map(str::parse) {
            listing.logs.push(gen);
        }
    }
    listing.snapshots.sort_unstable();
    listing.logs.sort_unstable();
    Ok(listing)
}

fn remove_file(path: &Path) -> Result<(), PersistError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error("remove", path)(e)),
        _ => Ok(()),
    }
}

fn open_read(root: &Path, id: FileId) -> Result<Arc<File>, PersistError> {
    let path = id.path(root);
    File::open(&path)
        .map(Arc::new)
        .map_err(io_error("open", &path))
}

/// Creates an empty log (replacing an empty leftover of a failed
/// compaction); the caller syncs the directory.
fn create_log(root: &Path, gen: u64) -> Result<(), PersistError> {
    let path = log_path(root, gen);
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map(drop)
        .map_err(io_error("create log", &path))
}

/// Brings the store in `root` to a consistent state and loads its index:
/// removes what crashed operations left, migrates a first-format store,
/// loads the snapshot, replays the logs and cuts a torn tail off the last.
pub(super) fn recover(root: &Path) -> Result<State, PersistError> {
    let mut listing = list(root)?;
    for tmp in &listing.tmps {
        remove_file(tmp)?;
    }
    let legacy_dirs = legacy::namespace_dirs(root)?;
    if listing.snapshots.is_empty() && listing.logs.is_empty() {
        if legacy_dirs.is_empty() {
            create_log(root, 1)?;
            sync_dir(root)?;
        } else {
            migrate(root, &legacy_dirs)?;
        }
        listing = list(root)?;
    }
    // From here on the log format is the store: first-format directories
    // are what a migration already copied.
    if !legacy_dirs.is_empty() {
        for (dir, _) in &legacy_dirs {
            legacy::remove_namespace_dir(dir)?;
        }
        sync_dir(root)?;
    }

    let snapshot_gen = listing.snapshots.last().copied();
    let floor = snapshot_gen.unwrap_or(0);
    // Superseded by the snapshot: a compaction died before deleting them.
    for &gen in listing.snapshots.iter().filter(|&&g| g < floor) {
        remove_file(&FileId::Snapshot(gen).path(root))?;
    }
    for &gen in listing.logs.iter().filter(|&&g| g <= floor) {
        remove_file(&log_path(root, gen))?;
    }
    let mut logs: Vec<u64> = listing.logs.into_iter().filter(|&g| g > floor).collect();
    if logs.is_empty() {
        create_log(root, floor + 1)?;
        sync_dir(root)?;
        logs.push(floor + 1);
    }

    let mut state = State {
        index: Default::default(),
        files: HashMap::new(),
        logs: logs.clone(),
        log_len: 0,
        log_alloc: 0,
        preallocate_off: false,
        live_bytes: 0,
        compact_not_before: 0,
        poisoned: None,
    };
    if let Some(gen) = snapshot_gen {
        let id = FileId::Snapshot(gen);
        let file = open_read(root, id)?;
        load_snapshot(root, id, &file, &mut state)?;
        state.files.insert(id, file);
    }
    for (i, &gen) in logs.iter().enumerate() {
        let id = FileId::Log(gen);
        let file = open_read(root, id)?;
        let last = i + 1 == logs.len();
        let mode = if last { Mode::LastLog } else { Mode::Log };
        let end = scan(root, id, &file, mode, |at, len, ops| {
            state.apply(id, at, len, ops)
        })?;
        if last {
            state.log_alloc = end.file_len;
            if end.torn {
                // A torn tail: the frame being written when the last holder
                // died, never acknowledged. Cut it off, durably.
                let path = id.path(root);
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| {
                        f.set_len(end.valid_len)?;
                        f.sync_data()
                    })
                    .map_err(io_error("truncate torn tail of", &path))?;
                state.log_alloc = end.valid_len;
            }
            state.log_len = end.valid_len;
        }
        state.files.insert(id, file);
    }
    Ok(state)
}

/// How far a file's frames were valid.
struct ScanEnd {
    valid_len: u64,
    file_len: u64,
    /// What follows `valid_len` is a torn frame (not only zeros).
    torn: bool,
}

/// What kind of file a scan reads, and so what may follow its last frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing: every byte is a valid frame.
    Snapshot,
    /// A log appended to no more: zeros (space it had preallocated).
    Log,
    /// The log appended to last: zeros, or a torn frame (the one being
    /// written when the last holder died, then zeros or nothing).
    LastLog,
}

fn corrupt_log(root: &Path, id: FileId, offset: u64, reason: String) -> PersistError {
    PersistError::CorruptLog {
        backend: BACKEND,
        file: id.path(root).display().to_string(),
        offset,
        reason,
    }
}

/// Reads every frame of `file` in order, handing each to `apply`. In a log,
/// bytes that are all zeros to the end of the file end it (preallocated
/// space). Otherwise a damaged frame is a torn tail (the scan stops there)
/// if no valid frame follows it and `mode` is [`Mode::LastLog`]; anything
/// else is [`PersistError::CorruptLog`]: zeros followed by a frame are
/// damage too, never an end.
fn scan(
    root: &Path,
    id: FileId,
    file: &File,
    mode: Mode,
    mut apply: impl FnMut(u64, u64, Vec<Decoded>),
) -> Result<ScanEnd, PersistError> {
    let path = id.path(root);
    let file_len = file.metadata().map_err(io_error("stat", &path))?.len();
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    reader
        .seek(SeekFrom::Start(0))
        .map_err(io_error("seek", &path))?;
    let mut at = 0u64;
    let mut header = [0u8; frame::HEADER_LEN];
    while at < file_len {
        let left = file_len - at;
        let damage = if left < frame::HEADER_LEN as u64 {
            Some(format!("{left} bytes left, shorter than a frame header"))
        } else {
            reader
                .read_exact(&mut header)
                .map_err(io_error("read", &path))?;
            match frame::body_len(&header) {
                Err(reason) => Some(reason),
                Ok(body) if body > left - frame::HEADER_LEN as u64 => Some(format!(
                    "frame of {body} body bytes runs past the end of the file"
                )),
                Ok(body) => {
                    let total = frame::HEADER_LEN + body as usize;
                    let mut bytes = Vec::with_capacity(total);
                    bytes.extend_from_slice(&header);
                    bytes.resize(total, 0);
                    reader
                        .read_exact(&mut bytes[frame::HEADER_LEN..])
                        .map_err(io_error("read", &path))?;
                    match frame::decode(&bytes) {
                        Ok(ops) => {
                            apply(at, total as u64, ops);
                            at += total as u64;
                            None
                        }
                        Err(reason) => Some(reason),
                    }
                }
            }
        };
        let Some(reason) = damage else { continue };
        // Only the bytes up to the last non-zero one are read into memory:
        // a log's zeros may be long (`FsStore::reserve_log`).
        let data_end = last_nonzero_end(file, at, file_len).map_err(io_error("read", &path))?;
        let mut rest = Vec::new();
        let mut raw = file;
        raw.seek(SeekFrom::Start(at))
            .and_then(|_| raw.take(data_end - at).read_to_end(&mut rest))
            .map_err(io_error("read", &path))?;
        if mode != Mode::Snapshot && data_end == at {
            // The zero-filled space ahead of the next append.
            return Ok(ScanEnd {
                valid_len: at,
                file_len,
                torn: false,
            });
        }
        if mode != Mode::LastLog {
            return Err(corrupt_log(root, id, at, reason));
        }
        // Is anything valid after the damage? Then it is not a torn tail.
        if let Some(found) = rest.get(1..).and_then(frame::find_valid_frame) {
            return Err(corrupt_log(
                root,
                id,
                at,
                format!(
                    "{reason}, followed by a valid frame at byte {}",
                    at + 1 + found as u64
                ),
            ));
        }
        return Ok(ScanEnd {
            valid_len: at,
            file_len,
            torn: true,
        });
    }
    Ok(ScanEnd {
        valid_len: at,
        file_len,
        torn: false,
    })
}

/// Where the bytes of `file` in `from..len` stop being all zeros: the end
/// of the last non-zero byte, or `from` if there is none. Reads in chunks.
fn last_nonzero_end(file: &File, from: u64, len: u64) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt;
    const CHUNK: u64 = 1 << 20;
    let mut buf = vec![0u8; CHUNK as usize];
    let mut end = from;
    let mut at = from;
    while at < len {
        let n = (len - at).min(CHUNK) as usize;
        file.read_exact_at(&mut buf[..n], at)?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b != 0) {
            end = at + i as u64 + 1;
        }
        at += n as u64;
    }
    Ok(end)
}

/// Loads a snapshot, which must be whole: every frame valid, the last one
/// its seal, naming as many records as it holds.
fn load_snapshot(
    root: &Path,
    id: FileId,
    file: &File,
    state: &mut State,
) -> Result<(), PersistError> {
    let mut records = 0u64;
    let mut seal: Option<(u64, u64)> = None;
    let mut after_seal = None;
    let end = scan(root, id, file, Mode::Snapshot, |at, len, ops| {
        if seal.is_some() && after_seal.is_none() {
            after_seal = Some(at);
        }
        for op in &ops {
            match op {
                Decoded::Write { .. } => records += 1,
                Decoded::Seal { records: n } => seal = Some((at, *n)),
                Decoded::Remove { .. } => {}
            }
        }
        state.apply(id, at, len, ops);
    })?;
    let problem = match (seal, after_seal) {
        (_, Some(at)) => Some((at, "frames after the seal".to_string())),
        (None, _) => Some((end.valid_len, "no seal: the snapshot is cut short".into())),
        (Some((at, n)), None) if n != records => Some((
            at,
            format!("the seal names {n} records, the snapshot holds {records}"),
        )),
        _ => None,
    };
    match problem {
        Some((at, reason)) => Err(corrupt_log(root, id, at, reason)),
        None => Ok(()),
    }
}

/// Writes a sealed snapshot to `tmp` from `records` and fsyncs it. Gives
/// each record's place in it, in order.
fn write_snapshot(
    tmp: &Path,
    records: impl Iterator<Item = Result<(String, String, u64, Vec<u8>), PersistError>>,
) -> Result<Vec<(u64, u64, u64)>, PersistError> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(io_error("create", tmp))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut places = Vec::new();
    let mut at = 0u64;
    for record in records {
        let (namespace, key, version, value) = record?;
        let (bytes, ranges) = frame::encode(&[Op::Write {
            namespace: &namespace,
            key: &key,
            version,
            value: &value,
        }]);
        out.write_all(&bytes).map_err(io_error("write", tmp))?;
        let value_at = ranges.first().cloned().flatten().map_or(0, |r| r.start);
        places.push((at, bytes.len() as u64, value_at as u64));
        at += bytes.len() as u64;
    }
    let (seal, _) = frame::encode(&[Op::Seal {
        records: places.len() as u64,
    }]);
    out.write_all(&seal).map_err(io_error("write", tmp))?;
    let file = out
        .into_inner()
        .map_err(|e| io_error("write", tmp)(e.into_error()))?;
    file.sync_all().map_err(io_error("fsync", tmp))?;
    Ok(places)
}

/// Copies a first-format store into snapshot 1 (with an empty log 2), the
/// crash-safe way: until the rename the old files are the store.
fn migrate(root: &Path, dirs: &[(PathBuf, String)]) -> Result<(), PersistError> {
    let mut files = Vec::new();
    for (dir, namespace) in dirs {
        for (path, key) in legacy::record_files(dir)? {
            files.push((path, namespace.clone(), key));
        }
    }
    let tmp = snapshot_tmp_path(root, 1);
    let records = files.iter().map(|(path, namespace, key)| {
        let (version, value) = legacy::read_record(path, namespace, key)?;
        Ok((namespace.clone(), key.clone(), version, value))
    });
    if let Err(e) = write_snapshot(&tmp, records) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    create_log(root, 2)?;
    let snapshot = FileId::Snapshot(1).path(root);
    fs::rename(&tmp, &snapshot).map_err(io_error("rename", &snapshot))?;
    sync_dir(root)
}

/// Compacts: writes the live records to snapshot `g` (the current log's
/// generation), creates log `g + 1`, renames the snapshot into place,
/// syncs the directory, then switches to them and deletes the old files.
pub(super) fn compact(root: &Path, state: &mut State) -> Result<(), PersistError> {
    let gen = state.log_gen();
    let tmp = snapshot_tmp_path(root, gen);
    remove_file(&tmp)?;
    let prepared = (|| {
        let records = state.index.iter().flat_map(|(namespace, keys)| {
            keys.iter().map(|(key, entry)| {
                let value = state.read_value(namespace, key, entry)?;
                Ok((namespace.clone(), key.clone(), entry.version, value))
            })
        });
        let places = write_snapshot(&tmp, records)?;
        // Read handles taken before the rename stay valid after it.
        let snapshot = File::open(&tmp).map_err(io_error("open", &tmp))?;
        create_log(root, gen + 1)?;
        let log = open_read(root, FileId::Log(gen + 1))?;
        Ok::<_, PersistError>((places, snapshot, log))
    })();
    let (places, snapshot, log) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            let _ = fs::remove_file(log_path(root, gen + 1));
            return Err(e);
        }
    };
    let snapshot_path = FileId::Snapshot(gen).path(root);
    if let Err(e) = fs::rename(&tmp, &snapshot_path) {
        let _ = fs::remove_file(&tmp);
        let _ = fs::remove_file(log_path(root, gen + 1));
        return Err(io_error("rename", &snapshot_path)(e));
    }
    // The commit point: once this sync returns, the new snapshot is the
    // store. If it fails, whether the rename reached the disk is unknown,
    // so no further write may go to either log.
    if let Err(e) = sync_dir(root) {
        state.poison(&e);
        return Err(e);
    }

    let snapshot_id = FileId::Snapshot(gen);
    let mut places = places.into_iter();
    for keys in state.index.values_mut() {
        for entry in keys.values_mut() {
            if let Some((frame_at, frame_len, value_at)) = places.next() {
                *entry = Entry {
                    version: entry.version,
                    file: snapshot_id,
                    frame_at,
                    frame_len,
                    value_at,
                    value_len: entry.value_len,
                };
            }
        }
    }
    let old: Vec<FileId> = state.files.keys().copied().collect();
    state.files.clear();
    state.files.insert(snapshot_id, Arc::new(snapshot));
    state.files.insert(FileId::Log(gen + 1), log);
    state.logs = vec![gen + 1];
    state.log_len = 0;
    state.log_alloc = 0;
    state.preallocate_off = false;
    state.compact_not_before = 0;
    // Superseded: a leftover would be deleted on the next open anyway.
    for id in old {
        let _ = fs::remove_file(id.path(root));
    }
    Ok(())
}
