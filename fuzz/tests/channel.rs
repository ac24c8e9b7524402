//! Runs the two-endpoint channel fuzz target over its checked-in corpus.
//! `WRITE_CHANNEL_CORPUS=1 cargo test -p lightning-fuzz --test channel`
//! writes the seed corpus (named scenarios and short random walks) again.

use lightning_fuzz::{channel, corpus_dir, run_corpus};

#[test]
fn channel_two_endpoints_corpus() {
    if std::env::var_os("WRITE_CHANNEL_CORPUS").is_some() {
        let dir = corpus_dir("channel_two_endpoints");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in channel::seed_corpus() {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    assert!(run_corpus("channel_two_endpoints", channel::channel_two_endpoints) >= 30);
}

/// Edge inputs that need no corpus file.
#[test]
fn channel_two_endpoints_edge_inputs() {
    for data in [
        &[][..],
        &[0],
        &[0xff; 64],
        &[12; 40],
        &[13; 40],
        &[18, 18, 16, 17, 19],
        &[20, 0, 0, 0],
    ] {
        channel::channel_two_endpoints(data);
    }
}
