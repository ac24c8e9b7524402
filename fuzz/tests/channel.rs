//! Runs the two-endpoint channel fuzz target over its checked-in corpus,
//! with libbitcoinconsensus verifying every commitment and HTLC-timeout
//! transaction at each agreement check.
//! `WRITE_CHANNEL_CORPUS=1 cargo test -p lightning-fuzz --test channel`
//! writes the seed corpus (named scenarios and short random walks) again.
#![allow(clippy::unwrap_used)]

use bitcoin::{Transaction, TxOut};
use lightning_fuzz::{assert_corpus, channel, corpus_dir};
use lightning_test_support::verify::verify;

#[test]
fn channel_two_endpoints_corpus() {
    if std::env::var_os("WRITE_CHANNEL_CORPUS").is_some() {
        let dir = corpus_dir("channel_two_endpoints");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in channel::seed_corpus() {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    // Inputs that end honestly in the final checks (all settled, balances,
    // agreement verified by libbitcoinconsensus).
    let run = assert_corpus(
        "channel_two_endpoints",
        |d| channel::channel_two_endpoints_verified(d, verify),
        CHANNEL_MIN,
    );
    assert!(run.inputs >= 30);
}

/// Measured on the checked-in corpus: the rest corrupt a message.
const CHANNEL_MIN: usize = 74;

/// The verifier is really used: one that rejects everything fails the
/// first agreement check.
#[test]
fn channel_replay_uses_the_verifier() {
    fn reject(_: &Transaction, _: &[TxOut]) -> Result<(), String> {
        Err("rejected".into())
    }
    let data = std::fs::read(corpus_dir("channel_two_endpoints").join("pay-a-to-b")).unwrap();
    channel::channel_two_endpoints_verified(&data, verify);
    let r = std::panic::catch_unwind(|| channel::channel_two_endpoints_verified(&data, reject));
    assert!(r.is_err(), "a verifier rejecting everything went unnoticed");
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
