//! Runs the BOLT 12 fuzz target over its checked-in corpus: the spec's
//! valid offers and signed invoice request, an invoice, an
//! `invoice_error`, text forms, and what the fuzzer kept.

#[test]
fn bolt12_decode_corpus() {
    lightning_fuzz::assert_corpus("bolt12_decode", lightning_fuzz::bolt12::decode, 20);
}

/// A reader that rejected everything would reach no check: the replay
/// fails on it.
#[test]
fn a_decoder_rejecting_everything_fails_the_replay() {
    let r = std::panic::catch_unwind(|| {
        lightning_fuzz::assert_corpus("bolt12_decode", |_| {}, 20);
    });
    assert!(r.is_err(), "a target that checks nothing passed the replay");
}
