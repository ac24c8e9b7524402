//! Runs the peer-layer fuzz target over its checked-in corpus.

use lightning_fuzz::{assert_corpus, peer};

#[test]
fn peer_bytes_corpus() {
    // Inputs that complete the handshake and `init` (a `Connected` event).
    assert_corpus("peer_bytes", peer::peer_bytes, 6);
}

/// Edge inputs that need no corpus file.
#[test]
fn peer_bytes_edge_inputs() {
    for data in [
        &[][..],
        &[0],
        &[1],
        &[2],
        &[3],
        &[0xff; 300],
        &[0x03, 0, 0, 0],
    ] {
        peer::peer_bytes(data);
    }
}
