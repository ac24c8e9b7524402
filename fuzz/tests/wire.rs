//! Runs the wire fuzz targets over their checked-in corpora. Each replay
//! asserts how many inputs got past the decoder to the round-trip checks.

use lightning_fuzz::{assert_corpus, wire};

#[test]
fn wire_message_corpus() {
    assert_corpus("wire_message", wire::message, 66);
}

#[test]
fn wire_tlv_stream_corpus() {
    assert_corpus("wire_tlv_stream", wire::tlv_stream, 13);
}

#[test]
fn wire_features_corpus() {
    assert_corpus("wire_features", wire::features, 9);
}
