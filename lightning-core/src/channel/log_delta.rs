//! The update log in update records as a delta: what changed since the
//! previous write, so that a write costs what the input changed, not the
//! size of the log (issue 13 finding 7; DESIGN.md invariant 7). Snapshots
//! keep the whole log ([`super::record`], field 78).
//!
//! The delta is field 80 of an update record (even: a reader that does
//! not know it refuses the record instead of misreading the log):
//!
//! ```text
//! head:   settled local msat (u64), remote msat (u64), feerate (u32),
//!         next local HTLC id (u64), next remote HTLC id (u64)
//! count:  BigSize, the number of updates in the log it applies to
//! ops, to the end of the field:
//!   0 BigSize(n)   keep the next n updates as they are
//!   1 BigSize(n)   drop the next n updates
//!   2 stage (u8)   keep the next update, now at this stage
//!   3 update       a new update (encoded as in the log field; an add's
//!                  onion, and a removal's attribution data, are in a
//!                  field of their own, written beside)
//! ```
//!
//! The ops consume every update of the old log in order, so the new log is
//! the old one with some updates dropped, some moved to another stage, and
//! new ones inserted where they stand. Restoring applies each record's
//! delta to the log as it stands after the previous records.
//!
//! The writer matches the updates it wrote with the log's by their
//! identities ([`UpdateLog::uids`]): an update keeps its identity while
//! only its stage changes, so one pass over both lists, comparing small
//! integers, finds what changed; nothing is re-encoded but the new
//! updates.

use std::sync::Arc;

use lightning_wire::bigsize::BigSize;
use lightning_wire::codec::{DecodeError, Encode, Reader};

use super::record::{decode_log_head, decode_update, encode_log_head, encode_update};
use super::record::{stage_code, update_side_field, SideValue};
use super::update_log::{Side, Update, UpdateKind, UpdateLog, UpdateStage};

const OP_KEEP: u8 = 0;
const OP_DROP: u8 = 1;
const OP_STAGE: u8 = 2;
const OP_NEW: u8 = 3;

/// What identifies an update beside its identity, checked when the
/// identities match: (proposer, kind, HTLC id or feerate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EntryKey(Side, u8, u64);

fn entry_key(u: &Update) -> EntryKey {
    match &u.kind {
        UpdateKind::Add(a) => EntryKey(u.proposer, 0, a.id),
        UpdateKind::Remove { htlc_id, .. } => EntryKey(u.proposer, 1, *htlc_id),
        UpdateKind::Fee { feerate_per_kw } => EntryKey(u.proposer, 2, u64::from(*feerate_per_kw)),
    }
}

/// One update as the store holds it.
#[derive(Debug, Clone, Copy)]
struct StoredEntry {
    uid: u64,
    stage: UpdateStage,
    key: EntryKey,
    /// The field of its own the store holds for it (an add's onion, a
    /// removal's attribution data).
    onion: Option<u64>,
}

/// The log as the store holds it: what the next delta is computed against.
#[derive(Debug, Clone)]
pub(super) struct StoredLog {
    head: Vec<u8>,
    entries: Vec<StoredEntry>,
    /// Every identity given out before this was taken is below it; an
    /// update with a higher one is new.
    watermark: u64,
}

impl StoredLog {
    /// The log as just written whole; `has_onion(ty)` says whether the
    /// store holds onion field `ty` (else the onion is inline).
    pub(super) fn of(log: &UpdateLog, has_onion: impl Fn(u64) -> bool) -> Self {
        let mut head = Vec::with_capacity(40);
        encode_log_head(log, &mut head);
        let entries = log
            .updates()
            .iter()
            .zip(log.uids())
            .map(|(u, &uid)| StoredEntry {
                uid,
                stage: u.stage,
                key: entry_key(u),
                onion: update_side_field(u)
                    .map(|(ty, _)| ty)
                    .filter(|ty| has_onion(*ty)),
            })
            .collect();
        StoredLog {
            head,
            entries,
            watermark: UpdateLog::uid_watermark(),
        }
    }

    /// The fields of their own the store holds for the log's updates
    /// (the adds' onions, the removals' attribution data).
    pub(super) fn onion_fields(&self) -> impl Iterator<Item = u64> + '_ {
        self.entries.iter().filter_map(|e| e.onion)
    }
}

/// The change of the log since the stored one.
pub(super) struct LogDelta<'a> {
    /// The delta field's value.
    pub(super) bytes: Vec<u8>,
    /// Whether anything changed (else nothing of the log is written).
    pub(super) changed: bool,
    /// The fields of their own of the new updates (adds' onions,
    /// removals' attribution data).
    pub(super) new_onions: Vec<(u64, SideValue<'a>)>,
    /// The fields of their own of the dropped updates.
    pub(super) dropped_onions: Vec<u64>,
    /// The log as the store holds it once this is written.
    pub(super) next: StoredLog,
}

/// A run of keeps or drops not yet written.
#[derive(Clone, Copy)]
struct Run {
    op: u8,
    n: u64,
}

fn flush(out: &mut Vec<u8>, run: &mut Run) {
    if run.n > 0 {
        out.push(run.op);
        BigSize(run.n).encode(out);
    }
    run.n = 0;
}

fn extend_run(out: &mut Vec<u8>, run: &mut Run, op: u8) {
    if run.op != op {
        flush(out, run);
        run.op = op;
    }
    run.n += 1;
}

/// The delta from `stored` to `log`, or `None` if `log` is not `stored`
/// with updates dropped, restaged or inserted (then the log is written
/// whole). One pass over both; only new updates are encoded.
pub(super) fn diff<'a>(stored: &StoredLog, log: &'a UpdateLog) -> Option<LogDelta<'a>> {
    let mut head = Vec::with_capacity(40);
    encode_log_head(log, &mut head);
    let mut changed = head != stored.head;
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&head);
    BigSize(stored.entries.len() as u64).encode(&mut out);
    let mut run = Run { op: OP_KEEP, n: 0 };
    let mut old = stored.entries.iter();
    let mut entries = Vec::with_capacity(log.updates().len());
    let mut new_onions = Vec::new();
    let mut dropped_onions = Vec::new();
    for (u, &uid) in log.updates().iter().zip(log.uids()) {
        if uid >= stored.watermark {
            flush(&mut out, &mut run);
            changed = true;
            out.push(OP_NEW);
            let side = update_side_field(u);
            let onion = side.map(|(ty, _)| ty);
            encode_update(&mut out, u, onion.is_some());
            new_onions.extend(side);
            entries.push(StoredEntry {
                uid,
                stage: u.stage,
                key: entry_key(u),
                onion,
            });
            continue;
        }
        let o = loop {
            let o = old.next()?;
            if o.uid == uid {
                break o;
            }
            extend_run(&mut out, &mut run, OP_DROP);
            dropped_onions.extend(o.onion);
            changed = true;
        };
        if o.key != entry_key(u) {
            return None;
        }
        if o.stage == u.stage {
            extend_run(&mut out, &mut run, OP_KEEP);
        } else {
            flush(&mut out, &mut run);
            changed = true;
            out.push(OP_STAGE);
            out.push(stage_code(u.stage));
        }
        entries.push(StoredEntry {
            stage: u.stage,
            ..*o
        });
    }
    for o in old {
        extend_run(&mut out, &mut run, OP_DROP);
        dropped_onions.extend(o.onion);
        changed = true;
    }
    flush(&mut out, &mut run);
    Some(LogDelta {
        bytes: out,
        changed,
        new_onions,
        dropped_onions,
        next: StoredLog {
            head,
            entries,
            watermark: UpdateLog::uid_watermark(),
        },
    })
}

/// A log field as raw updates, to apply deltas to when restoring.
#[derive(Debug)]
pub(super) struct LogImage {
    /// The field it came from (and goes back to).
    pub(super) ty: u64,
    head: Vec<u8>,
    entries: Vec<Vec<u8>>,
}

/// Reads one update and returns its bytes (onions not looked up).
fn raw_update<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], DecodeError> {
    let before = r.peek_rest();
    decode_update(r, &mut |_, _| Ok(Arc::from(&[][..])), &mut |_, _| Ok(None))?;
    Ok(&before[..before.len() - r.remaining()])
}

/// Reads a head and returns its bytes.
fn raw_head<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], DecodeError> {
    let before = r.peek_rest();
    decode_log_head(r)?;
    Ok(&before[..before.len() - r.remaining()])
}

impl LogImage {
    /// Splits the log field `ty` (`bytes`) into its updates.
    pub(super) fn parse(ty: u64, bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let head = raw_head(&mut r)?.to_vec();
        let BigSize(n) = r.read()?;
        let mut entries = Vec::new();
        for _ in 0..n {
            entries.push(raw_update(&mut r)?.to_vec());
        }
        r.finish()?;
        Ok(LogImage { ty, head, entries })
    }

    /// Applies one delta field.
    pub(super) fn apply(&mut self, delta: &[u8]) -> Result<(), DecodeError> {
        let mut r = Reader::new(delta);
        let head = raw_head(&mut r)?.to_vec();
        let BigSize(count) = r.read()?;
        if count != self.entries.len() as u64 {
            return Err(DecodeError::invalid("log delta for another log"));
        }
        let mut old = std::mem::take(&mut self.entries).into_iter();
        let mut entries = Vec::with_capacity(old.len());
        let gone = || DecodeError::invalid("log delta past the log");
        while !r.is_empty() {
            match r.read::<u8>()? {
                OP_KEEP => {
                    let BigSize(n) = r.read()?;
                    for _ in 0..n {
                        entries.push(old.next().ok_or_else(gone)?);
                    }
                }
                OP_DROP => {
                    let BigSize(n) = r.read()?;
                    for _ in 0..n {
                        old.next().ok_or_else(gone)?;
                    }
                }
                OP_STAGE => {
                    let stage = r.read::<u8>()?;
                    if stage > stage_code(UpdateStage::LockedIn) {
                        return Err(DecodeError::invalid("stage"));
                    }
                    let mut e = old.next().ok_or_else(gone)?;
                    // An update starts with its proposer and its stage.
                    match e.get_mut(1) {
                        Some(s) => *s = stage,
                        None => return Err(DecodeError::invalid("update")),
                    }
                    entries.push(e);
                }
                OP_NEW => entries.push(raw_update(&mut r)?.to_vec()),
                _ => return Err(DecodeError::invalid("log delta op")),
            }
        }
        if old.next().is_some() {
            return Err(DecodeError::invalid("log delta leaves updates unaccounted"));
        }
        self.head = head;
        self.entries = entries;
        Ok(())
    }

    /// The log field's value.
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        let len: usize = self.entries.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(self.head.len() + 9 + len);
        out.extend_from_slice(&self.head);
        BigSize(self.entries.len() as u64).encode(&mut out);
        for e in &self.entries {
            out.extend_from_slice(e);
        }
        out
    }
}
