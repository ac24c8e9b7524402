//! The single-writer lock of the file-based backends: an exclusive `flock` on
//! a lock file, which names its holder.
//!
//! The operating system releases the lock when the holding process exits,
//! however it exits (a crash, `SIGKILL`), so a crashed node's store can be
//! reopened at once, and a live holder keeps every other opener out, in this
//! process or any other on the machine.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::Path;

use crate::{holder_description, PersistError};

/// A held lock; dropping it (or the process dying) releases it.
#[derive(Debug)]
pub(crate) struct LockFile {
    file: File,
}

impl Drop for LockFile {
    fn drop(&mut self) {
        // Unlock explicitly rather than rely on closing: a child process
        // being forked by another thread holds a copy of the descriptor until
        // it execs, and the lock would outlive this store until then.
        let _ = self.file.unlock();
    }
}

impl LockFile {
    /// Takes the lock at `path` for `instance`, or fails at once naming the
    /// holder.
    pub(crate) fn acquire(
        backend: &'static str,
        path: &Path,
        location: &Path,
        instance: &str,
    ) -> Result<LockFile, PersistError> {
        let io = |op: &'static str| {
            move |source| PersistError::Io {
                backend,
                op,
                target: path.display().to_string(),
                source,
            }
        };
        // The lock is held through a read-only descriptor, so that holding it
        // never keeps the filesystem busy (a read-only remount still works);
        // the holder's name goes in through a second, short-lived one.
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io("create lock file"))?;
        let mut file = File::open(path).map_err(io("open lock file"))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                // The holder may be between truncating and writing: then it
                // is simply not named.
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(PersistError::Locked {
                    backend,
                    location: location.display().to_string(),
                    holder: if holder.is_empty() {
                        "an unnamed instance".to_owned()
                    } else {
                        holder.to_owned()
                    },
                });
            }
            Err(TryLockError::Error(e)) => return Err(io("lock")(e)),
        }
        let mut name = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(io("open lock file"))?;
        name.write_all(holder_description(instance).as_bytes())
            .map_err(io("write lock file"))?;
        name.sync_all().map_err(io("fsync lock file"))?;
        Ok(LockFile { file })
    }
}
