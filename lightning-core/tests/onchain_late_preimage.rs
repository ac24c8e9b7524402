//! BOLT 5 regression ("HTLC Output Handling"): a preimage the node learns
//! after the channel went on chain, here a hold invoice claimed once the
//! commitment confirmed, still claims the HTLC offered to us: directly on
//! the peer's commitment, by HTLC-success on ours. Found by the LDK
//! on-chain interop scenarios (`interop-ldk/tests/onchain.rs`): claims
//! were made once, when the funding spend confirmed, so a later preimage
//! went unused and the HTLC timed out to the peer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod node_support;

use bitcoin::{OutPoint, Transaction};
use lightning_core::node::PaymentPreimage;
use node_support::Net;

const HTLC_SAT: u64 = 9_000;

/// Whether Alice still expects anything on chain (every claim 6 deep).
fn alice_expects_more(net: &Net) -> bool {
    !net.a.node.claimable_balances().is_empty()
}

fn late_preimage(anchors: bool, alice_closes: bool) {
    let mut net = Net::with_anchors(anchors);
    let id = net.open_channel(1_000_000, 300_000_000);
    net.mine(10);
    // Bob pays Alice's hold invoice; Alice holds it.
    let preimage = PaymentPreimage([0x42; 32]);
    net.hold(false, HTLC_SAT * 1000, 0x42);
    net.disconnect();
    if alice_closes {
        net.a.node.force_close_channel(id).unwrap();
    } else {
        net.b.node.force_close_channel(id).unwrap();
    }
    let start = net.chain.best_block().height + 1;
    let commitment: Transaction = net
        .chain
        .mempool()
        .into_iter()
        .find(|t| t.output.iter().any(|o| o.value.to_sat() == HTLC_SAT))
        .expect("the commitment, with the HTLC");
    net.mine(1);
    assert_eq!(
        net.chain.tx_confirmations(&commitment.compute_txid()),
        Some(1)
    );
    // Only now does Alice learn she may claim it.
    net.a.node.claim_for_hash(preimage, net.now).unwrap();
    let mut mined = 0;
    while alice_expects_more(&net) {
        assert!(mined < 400, "{:?}", net.a.node.claimable_balances());
        net.mine(1);
        mined += 1;
    }
    // The HTLC output went to Alice, by its preimage path.
    let vout = commitment
        .output
        .iter()
        .position(|o| o.value.to_sat() == HTLC_SAT)
        .unwrap();
    let htlc = OutPoint {
        txid: commitment.compute_txid(),
        vout: vout as u32,
    };
    let tip = net.chain.best_block().height;
    let spender = (start..=tip)
        .flat_map(|h| net.chain.block_at(h).unwrap().txdata.clone())
        .find(|t| t.input.iter().any(|i| i.previous_output == htlc))
        .expect("the HTLC output is spent");
    let input = spender
        .input
        .iter()
        .find(|i| i.previous_output == htlc)
        .unwrap();
    assert!(
        input.witness.iter().any(|w| w == preimage.0),
        "claimed with the preimage, not timed out: {spender:?}"
    );
    let alice_script = net.a.node.shutdown_script();
    if alice_closes {
        // HTLC-success, then its delayed output to Alice.
        let second = (start..=tip)
            .flat_map(|h| net.chain.block_at(h).unwrap().txdata.clone())
            .find(|t| {
                t.input
                    .iter()
                    .any(|i| i.previous_output.txid == spender.compute_txid())
            })
            .expect("the HTLC-success output is swept");
        assert!(second
            .output
            .iter()
            .any(|o| o.script_pubkey == alice_script));
    } else {
        assert!(spender
            .output
            .iter()
            .any(|o| o.script_pubkey == alice_script));
    }
}

#[test]
fn late_preimage_claims_on_the_peers_commitment_static_remotekey() {
    late_preimage(false, false);
}

#[test]
fn late_preimage_claims_on_the_peers_commitment_anchors() {
    late_preimage(true, false);
}

#[test]
fn late_preimage_claims_on_our_commitment_static_remotekey() {
    late_preimage(false, true);
}

#[test]
fn late_preimage_claims_on_our_commitment_anchors() {
    late_preimage(true, true);
}
