//! Issue 16: two runtimes following the simulated chain through its
//! bitcoind RPC (the `bitcoind` adapter) through a force close whose
//! commitment is reorganized out at depth 1, 6 and 20. The reorged blocks'
//! transactions are dropped from the mempool, so the nodes must see the
//! disconnections, publish the commitment again and resolve the channel on
//! the new chain: both wallets end with their channel balances, less
//! fees, and no transaction either node broadcast was refused.
#![allow(clippy::unwrap_used)]

mod support;

use bitcoin::Txid;
use serde_json::json;
use support::*;

const CAPACITY_SAT: u64 = 1_000_000;
const PAID_SAT: u64 = 300_000;
/// Fees the close may cost a side at most (commitment, sweeps, anchors).
const FEE_BOUND_SAT: u64 = 25_000;

fn force_close_reorged_at(depth: usize) {
    let net = Net::start();
    let (alice, bob) = (&net.alice, &net.bob);
    net.fund(alice);
    net.open_channel(CAPACITY_SAT);
    // Deeper than the reorg: the funding stays confirmed.
    net.mine_empty(25);
    let after_open = onchain_sat(&alice.call("listfunds", json!([])));
    let inv = bob.call(
        "invoice",
        json!([PAID_SAT * 1000, "reorg", "before the close", 3600]),
    );
    let paid = alice.call("xpay", json!([inv["bolt11"]]));
    assert_eq!(paid["amount_msat"], PAID_SAT * 1000);

    // Alice closes unilaterally; her commitment goes out.
    let channel_id = alice.rt.with_node(|n| n.list_channels()[0].channel_id);
    let chain = net.chain.chain().clone();
    let before = chain.with(|c| c.mempool().count());
    alice
        .rt
        .with_node(|n| n.force_close_channel(channel_id))
        .unwrap();
    wait("the commitment is in the mempool", || {
        chain.with(|c| c.mempool().count()) > before
    });
    let commitment: Vec<Txid> = chain.with(|c| c.mempool().map(|t| t.compute_txid()).collect());
    net.mine_empty(depth);
    for txid in &commitment {
        assert_eq!(
            chain.with(|c| c.tx_location(txid).map(|(h, _)| h)),
            Some(chain.best_block().height + 1 - depth as u32),
            "the commitment (and its package) confirmed {depth} deep"
        );
    }

    // The blocks holding it are replaced by a longer chain without it,
    // and the reorged transactions are not in the mempool any more.
    chain.invalidate_tip(depth);
    chain.with(|c| {
        let txids: Vec<Txid> = c.mempool().map(|t| t.compute_txid()).collect();
        for t in txids {
            c.remove_from_mempool(&t);
        }
    });
    net.mine_empty(depth + 1);
    for txid in &commitment {
        assert_eq!(
            chain.with(|c| c.tx_location(txid)),
            None,
            "reorged out, not mined again by the chain itself"
        );
    }

    // The nodes publish again and resolve on the new chain: Alice's
    // to_local after her `to_self_delay` (144), Bob's output at once.
    let bob_target = PAID_SAT - FEE_BOUND_SAT;
    let alice_target = after_open + CAPACITY_SAT - PAID_SAT - FEE_BOUND_SAT;
    for _ in 0..40 {
        net.mine_empty(5);
        let a = onchain_sat(&alice.call("listfunds", json!([])));
        let b = onchain_sat(&bob.call("listfunds", json!([])));
        if a >= alice_target && b >= bob_target {
            break;
        }
    }
    let a = onchain_sat(&alice.call("listfunds", json!([])));
    let b = onchain_sat(&bob.call("listfunds", json!([])));
    eprintln!(
        "reorg at depth {depth}: alice's wallet {a} sat (channel share {} less fees), bob's {b} sat (channel share {PAID_SAT} less fees)",
        CAPACITY_SAT - PAID_SAT
    );
    assert!(
        (bob_target..=PAID_SAT).contains(&b),
        "bob's wallet {b} sat after the close (depth {depth})"
    );
    assert!(
        (alice_target..=after_open + CAPACITY_SAT - PAID_SAT).contains(&a),
        "alice's wallet {a} sat after the close (depth {depth}), {after_open} before"
    );
    for txid in &commitment {
        assert!(
            chain.with(|c| c.tx_location(txid)).is_some(),
            "the same commitment confirmed again on the new chain"
        );
    }
    let refused = chain.take_rejections();
    assert!(refused.is_empty(), "refused broadcasts: {refused:?}");
}

#[test]
fn a_force_close_reorged_out_at_depth_1_resolves() {
    force_close_reorged_at(1);
}

#[test]
fn a_force_close_reorged_out_at_depth_6_resolves() {
    force_close_reorged_at(6);
}

#[test]
fn a_force_close_reorged_out_at_depth_20_resolves() {
    force_close_reorged_at(20);
}
