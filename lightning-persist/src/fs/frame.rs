//! The on-disk unit of [`FsStore`](crate::FsStore)'s log and snapshot files:
//! a frame, holding one or more operations under one checksum.
//!
//! ```text
//! frame  := magic "LNKF" | format 4 (u8) | 3 zero bytes | body length (u64 LE)
//!           | check (8 bytes) | body
//! check  := XXH64(body, seed = XXH64(the 16 header bytes before it, seed 0)),
//!           u64 LE
//!           (format 2, still read: the first 8 bytes of
//!           SHA-256(the 16 header bytes ‖ body))
//! body   := generation (u64 LE) | op count (u32 LE) | op*
//!           (formats 2 and 3, still read: no generation)
//! op     := 1 (write)  | ns len (u8) | ns | key len (u8) | key | version (u64 LE)
//!                      | value len (u64 LE) | value
//!         | 2 (remove) | ns len (u8) | ns | key len (u8) | key
//!         | 3 (seal)   | record count (u64 LE)          (snapshots only, last)
//! ```
//!
//! The check guards against torn and damaged writes, not against an
//! adversary (whoever can write the files can write any state): formats 3
//! and 4 use XXH64 (`super::xxh64`), about 20 times cheaper than SHA-256 on
//! a 64 KiB value here, which was most of the CPU of a durable write. Frames
//! of all formats may follow each other in one file (a store written before
//! format 4 appends format 4 frames to its log).
//!
//! The generation (format 4) is that of the file the frame was written to:
//! `<gen>` of `~log.<gen>` or `~snapshot.<gen>`. A compaction may recycle
//! the log it replaces as the next generation's log (its blocks are already
//! written, so appends into them are overwrites): the frames of the earlier
//! generation are still in the file after the new ones, each of them whole
//! and valid, and only the generation tells them apart. Replay takes the
//! frames of the file's own generation and stops at the first one of an
//! earlier generation (`super::files` documents the rules).
//!
//! A frame is all or nothing: its ops are applied only if the whole frame is
//! there and its check matches, which is what makes a `write_batch` (one
//! frame) atomic. Everything read back is checked (names against
//! [`crate::keys`], versions and lengths against the crate's limits), since a
//! file is untrusted input.

use std::ops::Range;

use sha2::{Digest, Sha256};

use crate::{keys, MAX_VALUE_LEN, MAX_VERSION};

/// The first bytes of every frame this code writes: magic and format, for
/// resynchronising after a damaged frame.
pub(crate) const MARK: [u8; 8] = *b"LNKF\x04\0\0\0";
/// The mark of format 3 (XXH64 check, no generation), still read.
const MARK_V3: [u8; 8] = *b"LNKF\x03\0\0\0";
/// The mark of format 2 (SHA-256 check), still read.
const MARK_V2: [u8; 8] = *b"LNKF\x02\0\0\0";
/// The magic every format starts with.
pub(crate) const MAGIC: [u8; 4] = *b"LNKF";
/// Bytes before the body.
pub(crate) const HEADER_LEN: usize = 24;

const WRITE: u8 = 1;
const REMOVE: u8 = 2;
const SEAL: u8 = 3;

/// An operation to encode.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op<'a> {
    /// Store `value` under `namespace`/`key` at `version`.
    Write {
        namespace: &'a str,
        key: &'a str,
        version: u64,
        value: &'a [u8],
    },
    /// Forget `namespace`/`key`.
    Remove { namespace: &'a str, key: &'a str },
    /// The end of a snapshot, naming how many records it holds.
    Seal { records: u64 },
}

/// An operation read back; a write's value is given as a byte range of the
/// frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decoded {
    Write {
        namespace: String,
        key: String,
        version: u64,
        value: Range<usize>,
    },
    Remove {
        namespace: String,
        key: String,
    },
    Seal {
        records: u64,
    },
}

/// The check of a frame of this code's format.
fn check(header16: &[u8], body: &[u8]) -> [u8; 8] {
    let seed = super::xxh64::hash(header16, 0);
    super::xxh64::hash(body, seed).to_le_bytes()
}

/// The check of a format 2 frame.
fn check_v2(header16: &[u8], body: &[u8]) -> [u8; 8] {
    let mut hasher = Sha256::new();
    hasher.update(header16);
    hasher.update(body);
    let digest = hasher.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

/// Encodes `ops` as one frame of generation `generation`; also gives, for
/// each op, the range of its value inside the frame (`None` for removes
/// and seals).
pub(crate) fn encode(generation: u64, ops: &[Op<'_>]) -> (Vec<u8>, Vec<Option<Range<usize>>>) {
    let mut frame = Vec::new();
    let mut ranges = Vec::new();
    encode_into(&mut frame, &mut ranges, generation, ops);
    (frame, ranges)
}

/// [`encode`] into `frame` and `ranges`, which are cleared first: the
/// store reuses them from write to write (no allocation once they have
/// grown to the largest frame).
pub(crate) fn encode_into(
    frame: &mut Vec<u8>,
    ranges: &mut Vec<Option<Range<usize>>>,
    generation: u64,
    ops: &[Op<'_>],
) {
    let body_len: usize = 8
        + 4
        + ops
            .iter()
            .map(|op| match op {
                Op::Write {
                    namespace,
                    key,
                    value,
                    ..
                } => 1 + 1 + namespace.len() + 1 + key.len() + 8 + 8 + value.len(),
                Op::Remove { namespace, key } => 1 + 1 + namespace.len() + 1 + key.len(),
                Op::Seal { .. } => 1 + 8,
            })
            .sum::<usize>();
    frame.clear();
    ranges.clear();
    frame.reserve(HEADER_LEN + body_len);
    frame.extend_from_slice(&MARK);
    frame.extend_from_slice(&(body_len as u64).to_le_bytes());
    frame.extend_from_slice(&[0u8; 8]);
    frame.extend_from_slice(&generation.to_le_bytes());
    frame.extend_from_slice(&(ops.len() as u32).to_le_bytes());
    let name = |frame: &mut Vec<u8>, s: &str| {
        // Namespaces and keys are validated (at most 120 bytes) before they
        // get here.
        frame.push(s.len() as u8);
        frame.extend_from_slice(s.as_bytes());
    };
    for op in ops {
        match *op {
            Op::Write {
                namespace,
                key,
                version,
                value,
            } => {
                frame.push(WRITE);
                name(frame, namespace);
                name(frame, key);
                frame.extend_from_slice(&version.to_le_bytes());
                frame.extend_from_slice(&(value.len() as u64).to_le_bytes());
                let start = frame.len();
                frame.extend_from_slice(value);
                ranges.push(Some(start..frame.len()));
            }
            Op::Remove { namespace, key } => {
                frame.push(REMOVE);
                name(frame, namespace);
                name(frame, key);
                ranges.push(None);
            }
            Op::Seal { records } => {
                frame.push(SEAL);
                frame.extend_from_slice(&records.to_le_bytes());
                ranges.push(None);
            }
        }
    }
    let digest = check(&frame[..16], &frame[HEADER_LEN..]);
    frame[16..HEADER_LEN].copy_from_slice(&digest);
}

/// The body length a frame header announces, checking its mark; `Err` with
/// a reason when `header` is not the start of a frame.
pub(crate) fn body_len(header: &[u8]) -> Result<u64, String> {
    if header.len() < HEADER_LEN {
        return Err(format!(
            "{} bytes left, shorter than a frame header",
            header.len()
        ));
    }
    if header[..8] != MARK && header[..8] != MARK_V3 && header[..8] != MARK_V2 {
        return Err("no frame mark".into());
    }
    Ok(u64::from_le_bytes(le8(&header[8..16])))
}

/// The generation a frame of format 4 names (the first bytes of its body),
/// unchecked; `None` for a frame of an earlier format, which names none, or
/// bytes too short to hold one.
pub(crate) fn generation(frame: &[u8]) -> Option<u64> {
    if frame.len() < HEADER_LEN + 8 || frame[..8] != MARK {
        return None;
    }
    Some(u64::from_le_bytes(le8(&frame[HEADER_LEN..HEADER_LEN + 8])))
}

/// Whether `header` starts a frame of an earlier format (2 or 3), which
/// names no generation.
pub(crate) fn is_legacy(header: &[u8]) -> bool {
    header.len() >= 8 && (header[..8] == MARK_V3 || header[..8] == MARK_V2)
}

/// Checks a whole frame (header and body, nothing after) against its check
/// bytes.
pub(crate) fn verify(frame: &[u8]) -> Result<(), String> {
    let len = body_len(frame)?;
    if frame.len() as u64 != HEADER_LEN as u64 + len {
        return Err(format!(
            "frame of {} bytes announces a body of {len}",
            frame.len()
        ));
    }
    let check = if frame[..8] == MARK_V2 {
        check_v2
    } else {
        check
    };
    if check(&frame[..16], &frame[HEADER_LEN..]) != frame[16..HEADER_LEN] {
        return Err("checksum mismatch".into());
    }
    Ok(())
}

/// Verifies a whole frame and decodes its ops.
pub(crate) fn decode(frame: &[u8]) -> Result<Vec<Decoded>, String> {
    verify(frame)?;
    let mut r = Reader {
        bytes: frame,
        at: HEADER_LEN,
    };
    if frame[..8] == MARK {
        r.take(8)?;
    }
    let count = u32::from_le_bytes(le4(r.take(4)?));
    let mut ops = Vec::new();
    for _ in 0..count {
        let op = match r.take(1)?[0] {
            WRITE => {
                let (namespace, key) = (r.name()?, r.name()?);
                keys::validate_record(&namespace, &key).map_err(|e| e.to_string())?;
                let version = u64::from_le_bytes(le8(r.take(8)?));
                if version > MAX_VERSION {
                    return Err(format!("version {version} above the maximum"));
                }
                let len = u64::from_le_bytes(le8(r.take(8)?));
                if len > MAX_VALUE_LEN as u64 {
                    return Err(format!("value of {len} bytes above the maximum"));
                }
                let start = r.at;
                r.take(len as usize)?;
                Decoded::Write {
                    namespace,
                    key,
                    version,
                    value: start..r.at,
                }
            }
            REMOVE => {
                let (namespace, key) = (r.name()?, r.name()?);
                keys::validate_record(&namespace, &key).map_err(|e| e.to_string())?;
                Decoded::Remove { namespace, key }
            }
            SEAL => Decoded::Seal {
                records: u64::from_le_bytes(le8(r.take(8)?)),
            },
            other => return Err(format!("unknown op {other}")),
        };
        ops.push(op);
    }
    if r.at != frame.len() {
        return Err(format!("{} bytes after the last op", frame.len() - r.at));
    }
    Ok(ops)
}

/// What a position holding a frame mark may start, judged from its first
/// bytes (`head`: the header and the generation after it, or as many of
/// them as the file has) without checking the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Candidate {
    /// Possibly a frame of generation `generation`, or of a format before
    /// generations (either counts as a frame of the file's own), this many
    /// bytes long in all: to be read and checked.
    Own(u64),
    /// A frame of an earlier generation, left in a recycled log.
    Earlier,
    /// Neither.
    Other,
}

/// Classifies `head` (see [`Candidate`]) for a file of generation
/// `generation`.
pub(crate) fn candidate(head: &[u8], generation: u64) -> Candidate {
    let Ok(body) = body_len(head) else {
        return Candidate::Other;
    };
    let Some(total) = (HEADER_LEN as u64).checked_add(body) else {
        return Candidate::Other;
    };
    if is_legacy(head) {
        return Candidate::Own(total);
    }
    match self::generation(head) {
        Some(g) if g == generation => Candidate::Own(total),
        Some(g) if g < generation => Candidate::Earlier,
        _ => Candidate::Other,
    }
}

/// Where `needle` first occurs in `haystack`.
pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| format!("op runs past the end of its frame at byte {}", self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn name(&mut self) -> Result<String, String> {
        let len = self.take(1)?[0] as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "name is not UTF-8".to_string())
    }
}

fn le8(bytes: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(bytes);
    out
}

fn le4(bytes: &[u8]) -> [u8; 4] {
    let mut out = [0u8; 4];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GEN: u64 = 5;

    fn sample() -> Vec<u8> {
        encode(
            GEN,
            &[
                Op::Write {
                    namespace: "node",
                    key: "channel/00ab/snapshot",
                    version: 7,
                    value: b"some value bytes",
                },
                Op::Remove {
                    namespace: "node",
                    key: "channel/00ab/update/01",
                },
                Op::Write {
                    namespace: "one/nested",
                    key: "k",
                    version: 0,
                    value: b"",
                },
            ],
        )
        .0
    }

    #[test]
    fn round_trip() {
        let (frame, ranges) = encode(
            GEN,
            &[
                Op::Write {
                    namespace: "ns",
                    key: "k",
                    version: 3,
                    value: b"hello",
                },
                Op::Seal { records: 1 },
            ],
        );
        let ops = decode(&frame).unwrap();
        let Decoded::Write { value, .. } = &ops[0] else {
            panic!("{ops:?}")
        };
        assert_eq!(&frame[value.clone()], b"hello");
        assert_eq!(ranges[0].as_ref(), Some(value));
        assert_eq!(ops[1], Decoded::Seal { records: 1 });
        assert_eq!(generation(&frame), Some(GEN));
        assert_eq!(decode(&sample()).unwrap().len(), 3);
        // The reused buffers give the same bytes.
        let (mut buf, mut ranges2) = (b"left over".to_vec(), vec![None]);
        encode_into(&mut buf, &mut ranges2, GEN, &[Op::Seal { records: 2 }]);
        assert_eq!(buf, encode(GEN, &[Op::Seal { records: 2 }]).0);
        assert_eq!(ranges2, vec![None]);
    }

    #[test]
    fn every_truncation_and_bit_flip_is_caught() {
        let frame = sample();
        for len in 0..frame.len() {
            assert!(decode(&frame[..len]).is_err(), "truncated to {len}");
        }
        for i in 0..frame.len() {
            for bit in 0..8 {
                let mut damaged = frame.clone();
                damaged[i] ^= 1 << bit;
                assert!(decode(&damaged).is_err(), "flip byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn the_generation_is_under_the_check() {
        let frame = sample();
        let mut other = frame.clone();
        other[HEADER_LEN..HEADER_LEN + 8].copy_from_slice(&(GEN + 1).to_le_bytes());
        assert_eq!(generation(&other), Some(GEN + 1));
        assert!(decode(&other).is_err());
        // The same ops in another generation: another check.
        let again = encode(GEN + 1, &[Op::Seal { records: 0 }]).0;
        assert_ne!(
            again[16..HEADER_LEN],
            encode(GEN, &[Op::Seal { records: 0 }]).0[16..HEADER_LEN]
        );
    }

    /// `sample()` as format 2 or 3 wrote it: no generation in the body,
    /// that format's mark and check.
    fn sample_legacy(mark: [u8; 8], check: fn(&[u8], &[u8]) -> [u8; 8]) -> Vec<u8> {
        let v4 = sample();
        let mut frame = v4[..HEADER_LEN].to_vec();
        frame.extend_from_slice(&v4[HEADER_LEN + 8..]);
        frame[..8].copy_from_slice(&mark);
        let body = (frame.len() - HEADER_LEN) as u64;
        frame[8..16].copy_from_slice(&body.to_le_bytes());
        let digest = check(&frame[..16], &frame[HEADER_LEN..]);
        frame[16..HEADER_LEN].copy_from_slice(&digest);
        frame
    }

    #[test]
    fn format_2_and_3_frames_still_read() {
        let v2 = sample_legacy(MARK_V2, check_v2);
        let v3 = sample_legacy(MARK_V3, check);
        // The same ops, values 8 bytes earlier (no generation before them).
        let shifted: Vec<Decoded> = decode(&sample())
            .unwrap()
            .into_iter()
            .map(|op| match op {
                Decoded::Write {
                    namespace,
                    key,
                    version,
                    value,
                } => Decoded::Write {
                    namespace,
                    key,
                    version,
                    value: value.start - 8..value.end - 8,
                },
                other => other,
            })
            .collect();
        for old in [&v2, &v3] {
            assert_eq!(decode(old).unwrap(), shifted);
            assert_eq!(generation(old), None);
            assert!(is_legacy(old));
            for i in 0..old.len() {
                let mut damaged = old.clone();
                damaged[i] ^= 0x10;
                assert!(decode(&damaged).is_err(), "flip byte {i}");
            }
        }
        assert_ne!(v2[16..HEADER_LEN], v3[16..HEADER_LEN]);
        // Each format with its own check and layout only.
        let mut wrong = v2.clone();
        wrong[..8].copy_from_slice(&MARK_V3);
        assert!(decode(&wrong).is_err());
        let mut wrong = v3.clone();
        wrong[..8].copy_from_slice(&MARK);
        assert!(decode(&wrong).is_err());
    }

    #[test]
    fn candidates_by_generation() {
        let frame = sample();
        let len = frame.len() as u64;
        assert_eq!(candidate(&frame, GEN), Candidate::Own(len));
        assert_eq!(candidate(&frame, GEN + 1), Candidate::Earlier);
        assert_eq!(candidate(&frame, GEN - 1), Candidate::Other);
        // Older formats name no generation: they count as the file's own.
        let v3 = sample_legacy(MARK_V3, check);
        assert_eq!(candidate(&v3, 9), Candidate::Own(v3.len() as u64));
        assert_eq!(candidate(b"LNKF\x03\0\0\0 too short", 9), Candidate::Other);
        assert_eq!(candidate(b"garbage LNKF\x04", GEN), Candidate::Other);
        let mut bytes = b"garbage".to_vec();
        bytes.extend_from_slice(&frame);
        assert_eq!(find(&bytes, &MAGIC), Some(7));
    }
}
