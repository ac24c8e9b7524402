//! Runs the watchtower fuzz targets over their checked-in corpora.
//! `WRITE_WATCHTOWER_CORPUS=1 cargo test -p lightning-fuzz --test
//! watchtower` writes the seed corpora again.
#![allow(clippy::unwrap_used)]

use lightning_fuzz::{assert_corpus, corpus_dir, watchtower};

fn write(target: &str, seeds: Vec<(String, Vec<u8>)>) {
    if std::env::var_os("WRITE_WATCHTOWER_CORPUS").is_some() {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

#[test]
fn watchtower_message_corpus() {
    write("watchtower_message", watchtower::seed_corpus().0);
    assert_corpus("watchtower_message", watchtower::watchtower_message, 4);
}

#[test]
fn watchtower_records_corpus() {
    write("watchtower_records", watchtower::seed_corpus().1);
    assert_corpus("watchtower_records", watchtower::watchtower_records, 4);
}

/// Damage never panics: each seed with bytes flipped and cut short.
#[test]
fn damaged_watchtower_inputs_never_panic() {
    let (messages, records) = watchtower::seed_corpus();
    for (seeds, f) in [
        (messages, watchtower::watchtower_message as fn(&[u8])),
        (records, watchtower::watchtower_records),
    ] {
        for (_, bytes) in seeds {
            for i in 0..bytes.len() {
                let mut b = bytes.clone();
                b[i] ^= 0xa5;
                f(&b);
            }
            for cut in 0..bytes.len() {
                f(&bytes[..cut]);
            }
        }
    }
}
