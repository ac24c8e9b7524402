//! Issues 15/16: the chain thread polls the bitcoind adapter's mempool
//! (`getrawmempool`, `getrawtransaction` on `simchain`'s RPC) each chain
//! poll and hands what is new to `Node::transactions_seen_in_mempool`:
//! Alice's commitment, broadcast by her force close and not mined, reaches
//! Bob's node from the mempool alone, once.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::json;
use support::*;

#[test]
fn the_mempool_poll_reaches_the_node() {
    let net = Net::start();
    let (alice, bob) = (&net.alice, &net.bob);
    net.fund(alice);
    net.open_channel(500_000);
    let chain = net.chain.chain().clone();
    let before = bob.rt.lock().mempool_transactions;
    let channel_id = alice.rt.with_node(|n| n.list_channels()[0].channel_id);
    alice
        .rt
        .with_node(|n| n.force_close_channel(channel_id))
        .unwrap();
    wait("the commitment is in the mempool", || {
        chain.with(|c| c.mempool().count()) > 0
    });
    let in_mempool = chain.with(|c| c.mempool().count()) as u64;
    wait("bob's node was handed the mempool", || {
        bob.rt.lock().mempool_transactions >= before + in_mempool
    });
    // Polled again and again: nothing new, nothing handed twice.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        bob.rt.lock().mempool_transactions,
        before + in_mempool,
        "each mempool transaction once"
    );
    assert_eq!(bob.rt.lock().mempool_preimages, 0);
    // Still open for Bob until a block: the mempool alone closes nothing.
    let chans = bob.call("listpeerchannels", json!([]));
    assert_eq!(chans["channels"].as_array().unwrap().len(), 1);
}
