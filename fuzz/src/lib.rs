//! Fuzz targets for the Lightning SDK.
//!
//! Every target is a plain `fn(&[u8])` that must never panic except on a
//! violated invariant (which is the bug a fuzzer looks for). `cargo test -p
//! lightning-fuzz` runs each one over its checked-in corpus under
//! `corpus/<target>/`; `cargo fuzz run --features libfuzzer <target>` runs it
//! under libFuzzer (the binaries live in `fuzz_targets/`).
#![forbid(unsafe_code)]

pub mod bolt11;
pub mod channel;
pub mod node;
pub mod noise;
pub mod onion;
pub mod peer;

use std::path::{Path, PathBuf};

pub mod wire;

/// The checked-in corpus directory of `target`.
pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

/// Runs `f` over every file in `corpus/<target>/` and returns how many inputs
/// it ran. Panics (failing the calling test) if the corpus is missing or
/// empty, so a target cannot silently run on nothing.
pub fn run_corpus(target: &str, f: fn(&[u8])) -> usize {
    let dir = corpus_dir(target);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.expect("readable corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    assert!(!entries.is_empty(), "corpus {} is empty", dir.display());
    for path in &entries {
        let data = std::fs::read(path).expect("readable corpus file");
        f(&data);
    }
    entries.len()
}
