//! Runs the peer-layer fuzz target over its checked-in corpus.

use lightning_fuzz::{peer, run_corpus};

#[test]
fn peer_bytes_corpus() {
    assert!(run_corpus("peer_bytes", peer::peer_bytes) >= 8);
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
