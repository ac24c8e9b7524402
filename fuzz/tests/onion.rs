//! Runs the onion fuzz targets over their checked-in corpus.

#[test]
fn onion_peel_corpus() {
    assert!(lightning_fuzz::run_corpus("onion_peel", lightning_fuzz::onion::peel) > 0);
}

#[test]
fn onion_error_packet_corpus() {
    assert!(
        lightning_fuzz::run_corpus("onion_error_packet", lightning_fuzz::onion::error_packet) > 0
    );
}

#[test]
fn onion_hop_payload_corpus() {
    assert!(
        lightning_fuzz::run_corpus("onion_hop_payload", lightning_fuzz::onion::hop_payload) > 0
    );
}
