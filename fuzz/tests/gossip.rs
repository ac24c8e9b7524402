//! Runs the gossip fuzz targets over their checked-in corpora.
//! `WRITE_GOSSIP_CORPUS=1 cargo test -p lightning-fuzz --test gossip`
//! writes the seed corpora again.
#![allow(clippy::unwrap_used)]

use lightning_fuzz::{assert_corpus, corpus_dir, gossip};

fn write(target: &str, seeds: Vec<(String, Vec<u8>)>) {
    if std::env::var_os("WRITE_GOSSIP_CORPUS").is_some() {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

#[test]
fn gossip_graph_corpus() {
    write("gossip_graph", gossip::graph_seed_corpus());
    assert_corpus("gossip_graph", gossip::graph_ingest, 4);
}

#[test]
fn gossip_snapshot_corpus() {
    write("gossip_snapshot", gossip::snapshot_seed_corpus());
    assert_corpus("gossip_snapshot", gossip::snapshot_decode, 3);
}

/// Damage never panics: each snapshot seed with bytes flipped and cut.
#[test]
fn damaged_snapshots_never_panic() {
    for (_, bytes) in gossip::snapshot_seed_corpus() {
        for i in (0..bytes.len()).step_by(13) {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            gossip::snapshot_decode(&b);
        }
        for cut in (0..bytes.len()).step_by(101) {
            gossip::snapshot_decode(&bytes[..cut]);
        }
    }
}

/// Damaged gossip never panics: each graph seed with bytes flipped.
#[test]
fn damaged_gossip_never_panics() {
    for (_, bytes) in gossip::graph_seed_corpus() {
        for i in (0..bytes.len()).step_by(29) {
            let mut b = bytes.clone();
            b[i] ^= 0xa5;
            gossip::graph_ingest(&b);
        }
    }
}
