//! Runs the scorer decoder fuzz target over its checked-in corpus.
//! `WRITE_SCORER_CORPUS=1 cargo test -p lightning-fuzz --test router`
//! writes the seed corpus again.
#![allow(clippy::unwrap_used)]

use lightning_fuzz::{assert_corpus, corpus_dir, router};

#[test]
fn scorer_decode_corpus() {
    if std::env::var_os("WRITE_SCORER_CORPUS").is_some() {
        let dir = corpus_dir("scorer_decode");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in router::seed_corpus() {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    // Every seed is a real scorer's bytes: each decodes.
    assert_corpus("scorer_decode", router::scorer_decode, 7);
}

/// Damage never panics: each seed with bytes flipped and cut short.
#[test]
fn damaged_scorer_bytes_never_panic() {
    for (_, bytes) in router::seed_corpus() {
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xa5;
            router::scorer_decode(&b);
        }
        for cut in 0..bytes.len() {
            router::scorer_decode(&bytes[..cut]);
        }
    }
}
