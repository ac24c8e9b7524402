//! Runs the `node_records` fuzz target over its checked-in corpus: the
//! node records a real node kept (invoices, payments, forwards) after
//! `node_full_stack` corpus inputs, each restoring at least one of them;
//! and damaged copies, which must never panic.
//! `WRITE_NODE_RECORDS_CORPUS=1 cargo test -p lightning-fuzz --test
//! node_records` writes the seed corpus again.
#![allow(clippy::unwrap_used)]

use lightning_fuzz::{assert_corpus, corpus_dir, node_records};

/// Seeds kept.
const SEEDS: usize = 6;

#[test]
fn node_records_corpus() {
    if std::env::var_os("WRITE_NODE_RECORDS_CORPUS").is_some() {
        let dir = corpus_dir("node_records");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in node_records::seed_corpus(SEEDS) {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    // Every seed is real records: each restores something.
    assert_corpus("node_records", node_records::node_records, SEEDS);
}

/// Damage never panics: every seed with bytes flipped (a sample of
/// positions), cut short, or its record kinds shifted (a payment read as
/// an invoice, ...).
#[test]
fn damaged_node_records_never_panic() {
    let dir = corpus_dir("node_records");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for i in (0..bytes.len()).step_by(13) {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            node_records::node_records(&b);
        }
        for cut in (0..bytes.len()).step_by(151) {
            node_records::node_records(&bytes[..cut]);
        }
        let mut shifted = bytes.clone();
        shifted[0] = shifted[0].wrapping_add(1);
        node_records::node_records(&shifted);
    }
}
