//! The first on-disk format of [`FsStore`](crate::FsStore) (one file per
//! record), read once to migrate a store to the log format.
//!
//! Layout: `<root>/<namespace>/<key>`, each `/` inside a namespace or a key
//! written as `%`; `~tmp.*` files were writes in flight. Each record file:
//!
//! ```text
//! magic "LNKV" | format 1 (u8) | 3 zero bytes | version (u64 BE) | value length (u64 BE)
//! | SHA-256 of the 24 bytes before it and the value (32 bytes) | value
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{keys, PersistError};

use super::{io_error, BACKEND};

const MAGIC: &[u8; 4] = b"LNKV";
const FORMAT: u8 = 1;
const HEADER_LEN: usize = 4 + 4 + 8 + 8 + 32;
const TMP_PREFIX: &str = "~tmp.";

fn checksum(fields: &[u8], value: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(fields);
    hasher.update(value);
    hasher.finalize().into()
}

/// The version and value of a whole record file.
fn decode(mut bytes: Vec<u8>) -> Result<(u64, Vec<u8>), String> {
    if bytes.len() < HEADER_LEN {
        return Err(format!("{} bytes, shorter than a header", bytes.len()));
    }
    if &bytes[..4] != MAGIC {
        return Err("bad magic".into());
    }
    if bytes[4] != FORMAT {
        return Err(format!("unknown format {}", bytes[4]));
    }
    let version = u64::from_be_bytes(be8(&bytes[8..16]));
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

/// The namespace directories of a first-format store under `root`.
pub(crate) fn namespace_dirs(root: &Path) -> Result<Vec<(PathBuf, String)>, PersistError> {
    let mut dirs = Vec::new();
    for entry in fs::read_dir(root).map_err(io_error("list", root))? {
        let entry = entry.map_err(io_error("list", root))?;
        let path = entry.path();
        if !entry.file_type().map_err(io_error("stat", &path))?.is_dir() {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(|s| s.replace('%', "/")) else {
            continue;
        };
        if keys::validate_namespace(&name).is_ok() {
            dirs.push((path, name));
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// The record files in a namespace directory, as (path, key), sorted.
pub(crate) fn record_files(dir: &Path) -> Result<Vec<(PathBuf, String)>, PersistError> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error("list", dir))? {
        let entry = entry.map_err(io_error("list", dir))?;
        let Some(name) = entry.file_name().to_str().map(|s| s.replace('%', "/")) else {
            continue;
        };
        // As the first format listed them: the store's own files and
        // anything else that is not a key are not records.
        if !name.starts_with('~') && keys::validate_key(&name).is_ok() {
            files.push((entry.path(), name));
        }
    }
    files.sort();
    Ok(files)
}

/// Reads one first-format record; a damaged one is [`PersistError::Corrupt`].
pub(crate) fn read_record(
    path: &Path,
    namespace: &str,
    key: &str,
) -> Result<(u64, Vec<u8>), PersistError> {
    let bytes = fs::read(path).map_err(io_error("read", path))?;
    decode(bytes).map_err(|reason| PersistError::Corrupt {
        backend: BACKEND,
        namespace: namespace.to_owned(),
        key: key.to_owned(),
        reason: format!("first-format record file: {reason}"),
    })
}

/// Whether the file at `path` starts like a first-format record.
fn is_record_file(path: &Path) -> Result<bool, PersistError> {
    use std::io::Read;
    let mut start = [0u8; 5];
    let read = fs::File::open(path).and_then(|mut f| f.read_exact(&mut start));
    match read {
        Ok(()) => Ok(start[..4] == MAGIC[..] && start[4] == FORMAT),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error("read", path)(e)),
    }
}

/// Removes a migrated namespace directory: its record files (those that
/// start like one: a stranger's file is left alone) and `~tmp.*` leftovers,
/// then the directory itself if nothing else is in it.
pub(crate) fn remove_namespace_dir(dir: &Path) -> Result<(), PersistError> {
    for (path, _) in record_files(dir)? {
        if is_record_file(&path)? {
            remove_if_present(&path)?;
        }
    }
    for entry in fs::read_dir(dir).map_err(io_error("list", dir))? {
        let entry = entry.map_err(io_error("list", dir))?;
        if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            remove_if_present(&entry.path())?;
        }
    }
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        // Something that is not ours is left in it: leave it be.
        Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("remove directory", dir)(e)),
    }
}

fn remove_if_present(path: &Path) -> Result<(), PersistError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error("remove", path)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(version: u64, value: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[FORMAT, 0, 0, 0]);
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&(value.len() as u64).to_be_bytes());
        let digest = checksum(&out, value);
        out.extend_from_slice(&digest);
        out.extend_from_slice(value);
        out
    }

    #[test]
    fn round_trip() {
        assert_eq!(decode(encode(7, b"hello")), Ok((7, b"hello".to_vec())));
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
