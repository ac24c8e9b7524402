//! A restarted runtime dials its channel peers again by itself, at the
//! address it reached them at before (kept with the node's backup), so
//! its channels come back without an operator's `connect`.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::json;
use support::*;

#[test]
fn a_restarted_node_reconnects_to_its_channel_peers() {
    let net = Net::start();
    net.fund(&net.alice);
    net.open_channel(1_000_000);
    let Net { chain, alice, bob } = net;
    let alice = alice.restart(&chain, 0xa1);
    wait("alice is back with bob, channel normal", || {
        let chans = alice.call("listpeerchannels", json!([]));
        chans["channels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["state"] == "CHANNELD_NORMAL" && c["peer_connected"] == true)
    });
    let inv = bob.call("invoice", json!([10_000_000, "after-restart", "x"]));
    let paid = alice.call("xpay", json!([inv["bolt11"]]));
    assert_eq!(paid["amount_msat"], 10_000_000u64);
    // Bob (who only ever accepted alice's connection) restarts: alice,
    // who dialled, dials again.
    let bob = bob.restart(&chain, 0xb0);
    wait("alice dials bob again", || {
        let chans = bob.call("listpeerchannels", json!([]));
        chans["channels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["state"] == "CHANNELD_NORMAL" && c["peer_connected"] == true)
    });
}
