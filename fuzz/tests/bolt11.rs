//! Runs the BOLT 11 fuzz target over its checked-in corpus.

#[test]
fn bolt11_parse_corpus() {
    // Every corpus invoice but the deliberately broken ones parses and
    // reaches the round-trip checks.
    lightning_fuzz::assert_corpus("bolt11_parse", lightning_fuzz::bolt11::parse, 16);
}

/// A parser that rejected every invoice would reach no check: the replay
/// fails on it.
#[test]
fn a_decoder_rejecting_everything_fails_the_replay() {
    let r = std::panic::catch_unwind(|| {
        lightning_fuzz::assert_corpus("bolt11_parse", |_| {}, 16);
    });
    assert!(r.is_err(), "a target that checks nothing passed the replay");
}
