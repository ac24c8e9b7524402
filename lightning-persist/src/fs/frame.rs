//! The on-disk unit of [`FsStore`](crate::FsStore)'s log and snapshot files:
//! a frame, holding one or more operations under one checksum.
//!
//! ```text
//! frame  := magic "LNKF" | format 3 (u8) | 3 zero bytes | body length (u64 LE)
//!           | check (8 bytes) | body
//! check  := XXH64(body, seed = XXH64(the 16 header bytes before it, seed 0)),
//!           u64 LE
//!           (format 2, still read: the first 8 bytes of
//!           SHA-256(the 16 header bytes ‖ body))
//! body   := op count (u32 LE) | op*
//! op     := 1 (write)  | ns len (u8) | ns | key len (u8) | key | version (u64 LE)
//!                      | value len (u64 LE) | value
//!         | 2 (remove) | ns len (u8) | ns | key len (u8) | key
//!         | 3 (seal)   | record count (u64 LE)          (snapshots only, last)
//! ```
//!
//! The check guards against torn and damaged writes, not against an
//! adversary (whoever can write the files can write any state): format 3
//! uses XXH64 (`super::xxh64`), about 20 times cheaper than SHA-256 on a
//! 64 KiB value here, which was most of the CPU of a durable write. Frames
//! of both formats may follow each other in one file (a store written
//! before format 3 appends format 3 frames to its log).
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
pub(crate) const MARK: [u8; 8] = *b"LNKF\x03\0\0\0";
/// The mark of format 2 (SHA-256 check), still read.
const MARK_V2: [u8; 8] = *b"LNKF\x02\0\0\0";
/// The magic every format starts with.
const MAGIC: [u8; 4] = *b"LNKF";
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

/// Encodes `ops` as one frame; also gives, for each op, the range of its
/// value inside the frame (`None` for removes and seals).
pub(crate) fn encode(ops: &[Op<'_>]) -> (Vec<u8>, Vec<Option<Range<usize>>>) {
    let body_len: usize = 4 + ops
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
    let mut frame = Vec::with_capacity(HEADER_LEN + body_len);
    frame.extend_from_slice(&MARK);
    frame.extend_from_slice(&(body_len as u64).to_le_bytes());
    frame.extend_from_slice(&[0u8; 8]);
    frame.extend_from_slice(&(ops.len() as u32).to_le_bytes());
    let mut ranges = Vec::with_capacity(ops.len());
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
                name(&mut frame, namespace);
                name(&mut frame, key);
                frame.extend_from_slice(&version.to_le_bytes());
                frame.extend_from_slice(&(value.len() as u64).to_le_bytes());
                let start = frame.len();
                frame.extend_from_slice(value);
                ranges.push(Some(start..frame.len()));
            }
            Op::Remove { namespace, key } => {
                frame.push(REMOVE);
                name(&mut frame, namespace);
                name(&mut frame, key);
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
    (frame, ranges)
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
    if header[..8] != MARK && header[..8] != MARK_V2 {
        return Err("no frame mark".into());
    }
    Ok(u64::from_le_bytes(le8(&header[8..16])))
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

/// Where, in `bytes`, a whole valid frame starts, if anywhere: used after a
/// damaged frame to tell a torn tail (nothing valid after it) from damage in
/// the middle of a file.
pub(crate) fn find_valid_frame(bytes: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = find(&bytes[from..], &MAGIC) {
        let at = from + found;
        if let Ok(len) = body_len(&bytes[at..]) {
            let end = (HEADER_LEN as u64).checked_add(len);
            if let Some(end) = end.filter(|&e| e <= (bytes.len() - at) as u64) {
                if decode(&bytes[at..at + end as usize]).is_ok() {
                    return Some(at);
                }
            }
        }
        from = at + 1;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
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

    fn sample() -> Vec<u8> {
        encode(&[
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
        ])
        .0
    }

    #[test]
    fn round_trip() {
        let (frame, ranges) = encode(&[
            Op::Write {
                namespace: "ns",
                key: "k",
                version: 3,
                value: b"hello",
            },
            Op::Seal { records: 1 },
        ]);
        let ops = decode(&frame).unwrap();
        let Decoded::Write { value, .. } = &ops[0] else {
            panic!("{ops:?}")
        };
        assert_eq!(&frame[value.clone()], b"hello");
        assert_eq!(ranges[0].as_ref(), Some(value));
        assert_eq!(ops[1], Decoded::Seal { records: 1 });
        assert_eq!(decode(&sample()).unwrap().len(), 3);
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

    /// `sample()` as format 2 wrote it: same layout, SHA-256 check.
    fn sample_v2() -> Vec<u8> {
        let mut frame = sample();
        frame[..8].copy_from_slice(&MARK_V2);
        let digest = check_v2(&frame[..16], &frame[HEADER_LEN..]);
        frame[16..HEADER_LEN].copy_from_slice(&digest);
        frame
    }

    #[test]
    fn format_2_frames_still_read() {
        let v2 = sample_v2();
        assert_eq!(decode(&v2).unwrap(), decode(&sample()).unwrap());
        assert_ne!(v2[16..HEADER_LEN], sample()[16..HEADER_LEN]);
        // Each format with its own check only.
        let mut wrong = v2.clone();
        wrong[..8].copy_from_slice(&MARK);
        assert!(decode(&wrong).is_err());
        for i in 0..v2.len() {
            let mut damaged = v2.clone();
            damaged[i] ^= 0x10;
            assert!(decode(&damaged).is_err(), "flip byte {i}");
        }
        // Found after garbage, in a file mixing both formats.
        let mut bytes = b"garbage".to_vec();
        bytes.extend_from_slice(&v2);
        bytes.extend_from_slice(&sample());
        assert_eq!(find_valid_frame(&bytes), Some(7));
    }

    #[test]
    fn finds_a_valid_frame_after_garbage() {
        let frame = sample();
        let mut bytes = b"garbage LNKF\x03\0\0\0 not a frame LNKF\x02\0\0\0".to_vec();
        assert_eq!(find_valid_frame(&bytes), None);
        let at = bytes.len();
        bytes.extend_from_slice(&frame);
        assert_eq!(find_valid_frame(&bytes), Some(at));
        bytes.truncate(bytes.len() - 1);
        assert_eq!(find_valid_frame(&bytes), None);
    }
}
