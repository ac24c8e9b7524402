//! Runs the wire fuzz targets over their checked-in corpora.

#[test]
fn wire_message_corpus() {
    assert!(lightning_fuzz::run_corpus("wire_message", lightning_fuzz::wire::message) >= 50);
}

#[test]
fn wire_tlv_stream_corpus() {
    lightning_fuzz::run_corpus("wire_tlv_stream", lightning_fuzz::wire::tlv_stream);
}

#[test]
fn wire_features_corpus() {
    lightning_fuzz::run_corpus("wire_features", lightning_fuzz::wire::features);
}
