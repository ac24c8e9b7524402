//! Fuzz targets for the Lightning SDK.
//!
//! Every target is a plain `fn(&[u8])` that must never panic except on a
//! violated invariant (which is the bug a fuzzer looks for). `cargo test -p
//! lightning-fuzz` runs each one over its checked-in corpus under
//! `corpus/<target>/`; `cargo fuzz run --features libfuzzer <target>` runs it
//! under libFuzzer (the binaries live in `fuzz_targets/`).
#![forbid(unsafe_code)]

pub mod bolt11;
pub mod bolt12;
pub mod channel;
pub mod gossip;
pub mod node;
pub mod node_records;
pub mod noise;
pub mod onchain;
pub mod onion;
pub mod peer;
pub mod record;
pub mod router;
pub mod watchtower;

use std::cell::Cell;
use std::path::{Path, PathBuf};

pub mod wire;

/// The checked-in corpus directory of `target`.
pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

thread_local! {
    static REACHED: Cell<bool> = const { Cell::new(false) };
}

/// Called by a target once the input got past its decoder to the
/// round-trip or invariant checks (on the input's own thread). The corpus
/// replays count the inputs that did, so that a decoder rejecting
/// everything fails them instead of passing vacuously.
pub fn reached_checks() {
    REACHED.with(|r| r.set(true));
}

/// What a corpus replay did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorpusRun {
    /// Inputs run.
    pub inputs: usize,
    /// Inputs that reached the target's round-trip or invariant checks
    /// ([`reached_checks`]).
    pub checked: usize,
}

/// Runs `f` over every file in `corpus/<target>/`, counting the inputs that
/// reached the checks. Panics if the corpus is missing or empty.
pub fn run_corpus_counted(target: &str, f: impl Fn(&[u8])) -> CorpusRun {
    let dir = corpus_dir(target);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.expect("readable corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    assert!(!entries.is_empty(), "corpus {} is empty", dir.display());
    let mut checked = 0;
    for path in &entries {
        let data = std::fs::read(path).expect("readable corpus file");
        REACHED.with(|r| r.set(false));
        f(&data);
        if REACHED.with(Cell::get) {
            checked += 1;
        }
    }
    CorpusRun {
        inputs: entries.len(),
        checked,
    }
}

/// Replays the corpus of `target` and asserts that at least `min_checked`
/// inputs reached its round-trip or invariant checks.
pub fn assert_corpus(target: &str, f: impl Fn(&[u8]), min_checked: usize) -> CorpusRun {
    let run = run_corpus_counted(target, f);
    eprintln!(
        "{target}: {} of {} corpus inputs reached the checks",
        run.checked, run.inputs
    );
    assert!(
        run.checked >= min_checked,
        "{target}: only {} of {} corpus inputs reached the checks (at least {min_checked} expected)",
        run.checked,
        run.inputs
    );
    run
}

/// Runs `f` over every file in `corpus/<target>/` and returns how many inputs
/// it ran. Panics (failing the calling test) if the corpus is missing or
/// empty, so a target cannot silently run on nothing.
pub fn run_corpus(target: &str, f: fn(&[u8])) -> usize {
    run_corpus_counted(target, f).inputs
}
