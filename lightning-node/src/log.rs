//! Leveled logging to standard error: `error`, `warn`, `info`, `debug`.
//! The level is process-wide ([`set_level`]); lines carry the UTC time in
//! seconds since the epoch and the level.

use std::sync::atomic::{AtomicU8, Ordering};

static LEVEL: AtomicU8 = AtomicU8::new(2);

/// A log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Failures.
    Error = 0,
    /// Something to look at.
    Warn = 1,
    /// What the node does.
    Info = 2,
    /// Details.
    Debug = 3,
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Ok(Level::Error),
            "warn" | "warning" => Ok(Level::Warn),
            "info" => Ok(Level::Info),
            "debug" | "trace" => Ok(Level::Debug),
            other => Err(format!(
                "unknown log level {other:?} (error, warn, info, debug)"
            )),
        }
    }
}

/// Sets the level: messages above it are dropped.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Logs `msg` at `level`.
pub fn log(level: Level, msg: &str) {
    if level as u8 > LEVEL.load(Ordering::Relaxed) {
        return;
    }
    let t = crate::runtime::now();
    let name = match level {
        Level::Error => "ERROR",
        Level::Warn => "WARN",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
    };
    eprintln!("{}.{:03} {name} {msg}", t.as_secs(), t.subsec_millis());
}

/// Logs at error level.
pub fn error(msg: &str) {
    log(Level::Error, msg)
}
/// Logs at warn level.
pub fn warn(msg: &str) {
    log(Level::Warn, msg)
}
/// Logs at info level.
pub fn info(msg: &str) {
    log(Level::Info, msg)
}
/// Logs at debug level.
pub fn debug(msg: &str) {
    log(Level::Debug, msg)
}
