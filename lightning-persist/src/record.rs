//! The on-disk format of one record of [`FsStore`](crate::FsStore).
//!
//! ```text
//! magic "LNKV" | format 1 (u8) | 3 zero bytes | version (u64 BE) | value length (u64 BE)
//! | SHA-256 of the 24 bytes before it and the value (32 bytes) | value
//! ```
//!
//! A record is only ever returned after its length and checksum match, so a
//! torn or otherwise damaged file is reported as corrupt, never read as data.

use sha2::{Digest, Sha256};

const MAGIC: &[u8; 4] = b"LNKV";
const FORMAT: u8 = 1;
/// Bytes before the value.
pub(crate) const HEADER_LEN: usize = 4 + 4 + 8 + 8 + 32;

/// The header of a record holding `value` at `version`.
pub(crate) fn header(version: u64, value: &[u8]) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..4].copy_from_slice(MAGIC);
    header[4] = FORMAT;
    header[8..16].copy_from_slice(&version.to_be_bytes());
    header[16..24].copy_from_slice(&(value.len() as u64).to_be_bytes());
    let digest = checksum(&header[..24], value);
    header[24..].copy_from_slice(&digest);
    header
}

fn checksum(fields: &[u8], value: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(fields);
    hasher.update(value);
    hasher.finalize().into()
}

/// The version in a header, checking only the header's shape (enough to
/// order writes; a full [`decode`] checks the value too).
pub(crate) fn header_version(bytes: &[u8]) -> Result<u64, String> {
    if bytes.len() < HEADER_LEN {
        return Err(format!("{} bytes, shorter than a header", bytes.len()));
    }
    if &bytes[..4] != MAGIC {
        return Err("bad magic".into());
    }
    if bytes[4] != FORMAT {
        return Err(format!("unknown format {}", bytes[4]));
    }
    Ok(u64::from_be_bytes(be8(&bytes[8..16])))
}

/// The version and value of a whole record file.
pub(crate) fn decode(mut bytes: Vec<u8>) -> Result<(u64, Vec<u8>), String> {
    let version = header_version(&bytes)?;
    let len = u64::from_be_bytes(be8(&bytes[16..24]));
    let actual = (bytes.len() - HEADER_LEN) as u64;
    if len != actual {
        return Err(format!("value length {len} in header, {actual} in file"));
    }
    if checksum(&bytes[..24], &bytes[HEADER_LEN..])[..] != bytes[24..HEADER_LEN] {
        return Err("checksum mismatch".into());
    }
    bytes.drain(..HEADER_LEN);
    Ok((version, bytes))
}

fn be8(bytes: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(version: u64, value: &[u8]) -> Vec<u8> {
        let mut out = header(version, value).to_vec();
        out.extend_from_slice(value);
        out
    }

    #[test]
    fn round_trip() {
        let bytes = encode(7, b"hello");
        assert_eq!(header_version(&bytes), Ok(7));
        assert_eq!(decode(bytes), Ok((7, b"hello".to_vec())));
    }

    #[test]
    fn every_truncation_and_bit_flip_is_caught() {
        let bytes = encode(3, b"some value bytes");
        for len in 0..bytes.len() {
            assert!(decode(bytes[..len].to_vec()).is_err(), "truncated to {len}");
        }
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[i] ^= 1 << bit;
                assert!(decode(damaged).is_err(), "flip byte {i} bit {bit}");
            }
        }
    }
}
