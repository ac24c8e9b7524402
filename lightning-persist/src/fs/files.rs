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

    /// The generation in the file's name, which its frames of format 4
    /// name too.
    pub(super) fn generation(self) -> u64 {
        match self {
            FileId::Snapshot(gen) | FileId::Log(gen) => gen,
        }
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
        log_legacy: false,
        compactions: 0,
        frame_buf: Vec::new(),
        ranges_buf: Vec::new(),
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
            state.log_legacy = end.legacy;
            if end.torn {
                // A torn tail: the frame being written when the last holder
                // died, never acknowledged, in a log that holds nothing of an
                // earlier generation after it. Cut it off, durably. (In a
                // recycled log it is left to be overwritten like the earlier
                // generation's frames around it: the bytes are the log's
                // preallocated space.)
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
    /// What follows `valid_len` is a torn frame (not only zeros, and no
    /// frame of an earlier generation anywhere after it).
    torn: bool,
    /// Frames of format 2 or 3 were read: the file is not recycled (after
    /// its frames, only zeros or a torn frame may lie, never frames of an
    /// earlier generation, which those formats could not tell apart).
    legacy: bool,
}

/// What kind of file a scan reads, and so what may follow its last frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing: every byte is a valid frame.
    Snapshot,
    /// A log appended to no more: zeros (space it had preallocated).
    Log,
    /// The log appended to last: zeros, a torn frame (the one being written
    /// when the last holder died), or, in a recycled log, what is left of
    /// the earlier generations' frames.
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

/// Why a scan stopped before the end of the file.
enum Stop {
    /// A frame of an earlier generation: a recycled log's old contents.
    Earlier(u64),
    /// Not a valid frame of this file.
    Damage(String),
}

/// Reads every frame of `file` in order, handing each to `apply`. A frame
/// of format 4 must name the file's generation; frames of formats 2 and 3
/// name none and are taken as they are.
///
/// The frames end where something else begins. In a log, bytes that are all
/// zeros to the end of the file end it (preallocated space). In the last
/// log, so does a frame of an earlier generation (the log was recycled:
/// what follows the new frames is the old ones), and so does damage (a
/// torn frame, or what is left of an old frame that a new one partly
/// overwrote), if no valid frame of the file's own generation lies anywhere
/// after it. Anything else is [`PersistError::CorruptLog`]: damage or an
/// earlier generation's frame with a frame of the file's generation after
/// it (a lost or damaged write in the middle), zeros followed by a frame,
/// anything but zeros after the frames of a log other than the last, and
/// any damage in a snapshot.
fn scan(
    root: &Path,
    id: FileId,
    file: &File,
    mode: Mode,
    mut apply: impl FnMut(u64, u64, Vec<Decoded>),
) -> Result<ScanEnd, PersistError> {
    let path = id.path(root);
    let generation = id.generation();
    let file_len = file.metadata().map_err(io_error("stat", &path))?.len();
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    reader
        .seek(SeekFrom::Start(0))
        .map_err(io_error("seek", &path))?;
    let mut at = 0u64;
    let mut legacy = false;
    let mut header = [0u8; frame::HEADER_LEN];
    let mut bytes = Vec::new();
    while at < file_len {
        let left = file_len - at;
        let stop = if left < frame::HEADER_LEN as u64 {
            Stop::Damage(format!("{left} bytes left, shorter than a frame header"))
        } else {
            reader
                .read_exact(&mut header)
                .map_err(io_error("read", &path))?;
            match frame::body_len(&header) {
                Err(reason) => Stop::Damage(reason),
                Ok(body) if body > left - frame::HEADER_LEN as u64 => Stop::Damage(format!(
                    "frame of {body} body bytes runs past the end of the file"
                )),
                Ok(body) => {
                    let total = frame::HEADER_LEN + body as usize;
                    bytes.clear();
                    bytes.extend_from_slice(&header);
                    bytes.resize(total, 0);
                    reader
                        .read_exact(&mut bytes[frame::HEADER_LEN..])
                        .map_err(io_error("read", &path))?;
                    match frame::decode(&bytes) {
                        Err(reason) => Stop::Damage(reason),
                        Ok(ops) => match frame::generation(&bytes) {
                            Some(g) if g == generation => {
                                apply(at, total as u64, ops);
                                at += total as u64;
                                continue;
                            }
                            None => {
                                legacy = true;
                                apply(at, total as u64, ops);
                                at += total as u64;
                                continue;
                            }
                            Some(g) if g < generation && mode == Mode::LastLog => Stop::Earlier(g),
                            Some(g) => Stop::Damage(format!(
                                "a frame of generation {g} in a file of generation {generation}"
                            )),
                        },
                    }
                }
            }
        };
        let end = |torn| ScanEnd {
            valid_len: at,
            file_len,
            torn,
            legacy,
        };
        if mode != Mode::Snapshot
            && all_zeros(file, at, file_len).map_err(io_error("read", &path))?
        {
            // The zero-filled space ahead of the next append.
            return Ok(end(false));
        }
        let earlier_here = matches!(stop, Stop::Earlier(_));
        let reason = match stop {
            Stop::Damage(reason) => reason,
            Stop::Earlier(g) => format!("a frame of the earlier generation {g}"),
        };
        if mode != Mode::LastLog {
            return Err(corrupt_log(root, id, at, reason));
        }
        // Is a frame of this generation anywhere after it? Then it is not
        // the end: something in the middle was damaged or lost.
        let after =
            search_after(file, at + 1, file_len, generation).map_err(io_error("read", &path))?;
        if let Some(found) = after.own {
            return Err(corrupt_log(
                root,
                id,
                at,
                format!("{reason}, followed by a valid frame at byte {found}"),
            ));
        }
        let recycled = after.earlier || earlier_here;
        return Ok(end(!recycled));
    }
    Ok(ScanEnd {
        valid_len: at,
        file_len,
        torn: false,
        legacy,
    })
}

/// Whether the bytes of `file` in `from..len` are all zeros. Reads in
/// chunks, and stops at the first byte that is not.
fn all_zeros(file: &File, from: u64, len: u64) -> std::io::Result<bool> {
    use std::os::unix::fs::FileExt;
    const CHUNK: u64 = 1 << 20;
    let mut buf = vec![0u8; CHUNK.min(len.saturating_sub(from)) as usize];
    let mut at = from;
    while at < len {
        let n = (len - at).min(CHUNK) as usize;
        file.read_exact_at(&mut buf[..n], at)?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        at += n as u64;
    }
    Ok(true)
}

/// What lies in a log after the end of its frames.
struct After {
    /// Where a valid frame of the log's own generation starts, if anywhere.
    own: Option<u64>,
    /// A frame mark of an earlier generation was seen: the log is recycled.
    earlier: bool,
}

/// Looks through `from..len` of `file` for a valid frame of generation
/// `generation` (or of a format before generations), at every byte, in
/// chunks of 1 MiB: only the frames whose first bytes say so are read
/// whole and checked. Stops at the first one.
fn search_after(file: &File, from: u64, len: u64, generation: u64) -> std::io::Result<After> {
    use std::os::unix::fs::FileExt;
    const CHUNK: usize = 1 << 20;
    // The bytes `frame::candidate` looks at, for a mark near a chunk's end.
    const HEAD: usize = frame::HEADER_LEN + 8;
    let mut after = After {
        own: None,
        earlier: false,
    };
    let mut buf = vec![0u8; (CHUNK + HEAD).min(len.saturating_sub(from) as usize)];
    let mut base = from;
    while base < len {
        let n = ((len - base) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], base)?;
        let marks_end = n.min(CHUNK);
        let mut i = 0;
        while let Some(found) = frame::find(&buf[i..n], &frame::MAGIC) {
            let at = i + found;
            if at >= marks_end {
                break;
            }
            let pos = base + at as u64;
            match frame::candidate(&buf[at..n], generation) {
                frame::Candidate::Earlier => after.earlier = true,
                frame::Candidate::Own(total) if total <= len - pos => {
                    let mut bytes = vec![0u8; total as usize];
                    file.read_exact_at(&mut bytes, pos)?;
                    if frame::decode(&bytes).is_ok() {
                        after.own = Some(pos);
                        return Ok(after);
                    }
                }
                _ => {}
            }
            i = at + 1;
        }
        base += CHUNK as u64;
    }
    Ok(after)
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
    generation: u64,
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
        let (bytes, ranges) = frame::encode(
            generation,
            &[Op::Write {
                namespace: &namespace,
                key: &key,
                version,
                value: &value,
            }],
        );
        out.write_all(&bytes).map_err(io_error("write", tmp))?;
        let value_at = ranges.first().cloned().flatten().map_or(0, |r| r.start);
        places.push((at, bytes.len() as u64, value_at as u64));
        at += bytes.len() as u64;
    }
    let (seal, _) = frame::encode(
        generation,
        &[Op::Seal {
            records: places.len() as u64,
        }],
    );
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
    if let Err(e) = write_snapshot(&tmp, 1, records) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    create_log(root, 2)?;
    let snapshot = FileId::Snapshot(1).path(root);
    fs::rename(&tmp, &snapshot).map_err(io_error("rename", &snapshot))?;
    sync_dir(root)
}

/// Compacts: writes the live records to snapshot `g` (the current log's
/// generation), renames it into place and syncs the directory (the commit
/// point), then starts log `g + 1`, syncs the directory again, switches to
/// them and deletes the old files.
///
/// The new log is the old one recycled when `recycle` is `Some(cap)` and the
/// old log holds frames of format 4 only: renamed to `~log.<g+1>` (cut to
/// `cap` bytes first if it is longer), so that its blocks, already
/// allocated and written, take the next generation's appends as
/// overwrites. Otherwise, or if that fails, it is a new empty file. Either
/// way it appears only after the commit point: until then the old log is
/// the one that replays (were it renamed before the snapshot is durable,
/// its frames would be an earlier generation's in the log that has to
/// replay them), and a crash between the two syncs leaves no log above the
/// snapshot, which open then creates empty. So a log above the snapshot is
/// always the last one.
pub(super) fn compact(
    root: &Path,
    state: &mut State,
    recycle: Option<u64>,
) -> Result<(), PersistError> {
    let gen = state.log_gen();
    let recycle = recycle.filter(|_| !state.log_legacy && state.logs.len() == 1);
    let tmp = snapshot_tmp_path(root, gen);
    remove_file(&tmp)?;
    let prepared = (|| {
        let records = state.index.iter().flat_map(|(namespace, keys)| {
            keys.iter().map(|(key, entry)| {
                let value = state.read_value(namespace, key, entry)?;
                Ok((namespace.clone(), key.clone(), entry.version, value))
            })
        });
        let places = write_snapshot(&tmp, gen, records)?;
        // Read handles taken before the rename stay valid after it.
        let snapshot = File::open(&tmp).map_err(io_error("open", &tmp))?;
        Ok::<_, PersistError>((places, snapshot))
    })();
    let (places, snapshot) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let snapshot_path = FileId::Snapshot(gen).path(root);
    if let Err(e) = fs::rename(&tmp, &snapshot_path) {
        let _ = fs::remove_file(&tmp);
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
    // Every record is in the snapshot now: a read that took an entry of the
    // old log before this looks again if its frame was overwritten.
    state.compactions += 1;
    let old_log = FileId::Log(gen);
    let new_log = FileId::Log(gen + 1);
    let recycled = recycle.and_then(|cap| recycle_log(root, old_log, new_log, cap));
    let (log, log_alloc) = match recycled {
        Some(alloc) => {
            let log = match state.files.remove(&old_log) {
                Some(handle) => handle,
                None => open_read(root, new_log).inspect_err(|e| state.poison(e))?,
            };
            (log, alloc)
        }
        None => {
            // The old log is below the snapshot now: were the new one not
            // there, the next appends would go where open does not look.
            let started = create_log(root, gen + 1)
                .and_then(|()| sync_dir(root))
                .and_then(|()| open_read(root, new_log));
            match started {
                Ok(log) => (log, 0),
                Err(e) => {
                    state.poison(&e);
                    return Err(e);
                }
            }
        }
    };
    let old: Vec<FileId> = state.files.keys().copied().collect();
    state.files.clear();
    state.files.insert(snapshot_id, Arc::new(snapshot));
    state.files.insert(new_log, log);
    state.logs = vec![gen + 1];
    state.log_len = 0;
    state.log_alloc = log_alloc;
    state.log_legacy = false;
    state.preallocate_off = false;
    state.compact_not_before = 0;
    // Superseded: a leftover would be deleted on the next open anyway.
    for id in old {
        let _ = fs::remove_file(id.path(root));
    }
    Ok(())
}

/// Renames the old log `from` (below the new snapshot, so no longer read
/// by open) to `to`, cut to `cap` bytes if it is longer, and syncs the
/// directory. Gives the file's length; `None` if any of it failed (then
/// `to` is created empty, replacing what the rename may have left).
fn recycle_log(root: &Path, from: FileId, to: FileId, cap: u64) -> Option<u64> {
    let (from, to) = (from.path(root), to.path(root));
    let file = OpenOptions::new().write(true).open(&from).ok()?;
    let mut len = file.metadata().ok()?.len();
    if len > cap {
        file.set_len(cap).ok()?;
        len = cap;
    }
    fs::rename(&from, &to).ok()?;
    sync_dir(root).ok()?;
    Some(len)
}
