//! Issues 15/16: the chain thread polls the bitcoind adapter's mempool
//! (`getrawmempool`, `getrawtransaction` on `simchain`'s RPC) each chain
//! poll and hands what is new to `Node::transactions_seen_in_mempool`:
//! Alice's commitment, broadcast by her force close and not mined, reaches
//! Bob's node from the mempool alone, once. Bob's poll asks bitcoind only
//! for the spenders of the outpoints his node reads
//! (`Node::mempool_watched_outpoints`, `gettxspendingprevout`): a wallet
//! transaction of Alice's in the same mempool never reaches him.
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
    let funding = bob.rt.with_node(|n| n.list_channels()[0].funding_txo);
    let watched = bob.rt.with_node(|n| n.mempool_watched_outpoints());
    assert_eq!(
        watched,
        vec![funding.unwrap()],
        "the funding outpoint alone"
    );
    // An unrelated transaction: Alice pays her own wallet.
    let addr = alice.call("newaddr", json!([]))["bech32"].clone();
    alice.call("withdraw", json!([addr, 100_000]));
    wait("alice's withdrawal is in the mempool", || {
        chain.with(|c| c.mempool().count()) == 1
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        bob.rt.lock().mempool_transactions,
        before,
        "a transaction spending nothing bob watches is not handed to him"
    );
    alice
        .rt
        .with_node(|n| n.force_close_channel(channel_id))
        .unwrap();
    wait("the commitment is in the mempool", || {
        chain.with(|c| c.mempool().count()) > 1
    });
    // The commitment, and any child of it (an anchor spend): everything but
    // the withdrawal.
    let in_mempool = chain.with(|c| c.mempool().count()) as u64 - 1;
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
    // Bob now also reads the spends of the commitment's outputs.
    let commitment = chain.with(|c| {
        c.mempool()
            .find(|tx| tx.input.iter().any(|i| Some(i.previous_output) == funding))
            .cloned()
            .unwrap()
    });
    let watched = bob.rt.with_node(|n| n.mempool_watched_outpoints());
    for vout in 0..commitment.output.len() as u32 {
        let op = bitcoin::OutPoint::new(commitment.compute_txid(), vout);
        assert!(watched.contains(&op), "{op} watched");
    }
    // Still open for Bob until a block: the mempool alone closes nothing.
    let chans = bob.call("listpeerchannels", json!([]));
    assert_eq!(chans["channels"].as_array().unwrap().len(), 1);
}
