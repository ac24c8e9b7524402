//! Issue 15, "LDK on chain": a channel with LDK 0.2 goes to chain with an
//! HTLC in flight each way (15,000 sat from us, which LDK holds without
//! its preimage being released, and 9,000 sat from LDK for a hold invoice
//! of ours, whose preimage we release once the channel is on chain), for
//! both channel types, closed once by LDK and once by us (each side
//! disconnected first, so exactly one commitment goes out). Both nodes
//! follow the simulated chain, which script-verifies every transaction.
//!
//! Where the funds go (BOLT 5): we take our main output, the 9,000 sat
//! HTLC (we hold its preimage) and the 15,000 sat HTLC back (it times out:
//! LDK never learns its preimage); LDK keeps its main output, which is
//! exactly the balance LDK's own monitor reported before the close. LDK
//! learns the 9,000 sat preimage from our claim on chain (`PaymentSent`),
//! and our 15,000 sat payment fails once timed out.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use bitcoin::{OutPoint, Transaction};
use interop_ldk::host;
use interop_ldk::ldk::LdkPaymentOutcome;
use interop_ldk::pair::{ldk_id, our_hash, Pair, LIMIT};
use lightning::types::payment::PaymentHash as LdkPaymentHash;
use lightning_core::node::{ClaimableBalance, Event, PaymentPreimage};
use lightning_wire::types::ChannelId;

const TO_LDK_SAT: u64 = 15_000;
const TO_US_SAT: u64 = 9_000;

/// Mines one block and waits until both nodes have seen it.
fn mine_and_follow(pair: &Pair) {
    pair.world.mine(1);
    let height = pair.world.height();
    pair.ours
        .wait_until("our node follows the chain", LIMIT, |s| s.fed >= height);
    pair.ldk.wait_until("LDK follows the chain", LIMIT, || {
        pair.ldk.synced_height() >= height
    });
}

/// Whether our node still expects anything on chain from `id`.
fn pending_for(pair: &Pair, id: &ChannelId) -> Vec<ClaimableBalance> {
    pair.ours.with(|n| {
        n.claimable_balances()
            .into_iter()
            .filter(|b| {
                let cid = match b {
                    ClaimableBalance::ClaimableOnChannelClose { channel_id, .. }
                    | ClaimableBalance::AwaitingConfirmation { channel_id, .. }
                    | ClaimableBalance::TimelockedUntil { channel_id, .. }
                    | ClaimableBalance::ContentiousHtlc { channel_id, .. }
                    | ClaimableBalance::AwaitingPreimage { channel_id, .. }
                    | ClaimableBalance::PendingSweep { channel_id, .. } => channel_id,
                };
                cid == id
            })
            .collect()
    })
}

/// Every confirmed transaction spending an output, by outpoint.
fn spenders(pair: &Pair, from_height: u32) -> HashMap<OutPoint, Transaction> {
    let mut out = HashMap::new();
    for h in from_height..=pair.world.height() {
        for tx in pair.world.chain.block_at(h).unwrap().txdata.iter() {
            for i in &tx.input {
                out.insert(i.previous_output, tx.clone());
            }
        }
    }
    out
}

fn go_to_chain(anchors: bool, ldk_closes: bool) {
    let pair = Pair::new(anchors);
    let id = pair.open_from_us(1_000_000, 0);
    // LDK needs a balance to pay us from.
    let h = pair.we_pay_ldk_start(200_000_000);
    pair.wait_we_paid_ldk(&h);
    pair.wait_balances_agree(&id);
    let preimage = PaymentPreimage([0x42; 32]);
    let (to_ldk, to_us) =
        pair.hold_an_htlc_each_way(&id, TO_LDK_SAT * 1000, TO_US_SAT * 1000, preimage);
    let our_sat = pair.our_balance_msat(&id) / 1000;
    let ldk_before = pair.ldk.claimable_balances(&ldk_id(&id));
    let ldk_balance: u64 = ldk_before
        .iter()
        .filter(|(k, _)| k == "on_channel_close")
        .map(|(_, v)| *v)
        .sum();
    assert!(ldk_balance > 0, "LDK reports its balance: {ldk_before:?}");
    let details = pair.ours.channel(&id).unwrap();
    let funding = details.funding_txo.unwrap();
    let capacity = details.capacity_sat.to_sat();

    // Exactly one side goes to chain.
    pair.ours.disconnect_all();
    pair.ldk.wait_until("LDK sees us gone", LIMIT, || {
        !pair.ldk.is_connected(&pair.ours.node_id())
    });
    if ldk_closes {
        pair.ldk.force_close(&ldk_id(&id), &pair.ours.node_id());
    } else {
        pair.ours.with(|n| n.force_close_channel(id)).unwrap();
    }
    let close_height = pair.world.height() + 1;
    let start = std::time::Instant::now();
    let commitment = loop {
        if let Some(tx) = pair
            .world
            .chain
            .mempool()
            .into_iter()
            .find(|tx| tx.input.iter().any(|i| i.previous_output == funding))
        {
            break tx;
        }
        assert!(start.elapsed() < LIMIT, "no commitment published");
        std::thread::sleep(Duration::from_millis(10));
    };
    let ctxid = commitment.compute_txid();
    mine_and_follow(&pair);
    assert_eq!(pair.world.chain.tx_confirmations(&ctxid), Some(1));
    // Our hold invoice is settled now that the channel is on chain: the
    // preimage can only reach LDK through our claim.
    pair.ours
        .with(|n| n.claim_for_hash(preimage, host::now()))
        .unwrap();

    // Mine until our node expects nothing more from the channel (every
    // claim 6 deep), at most 400 blocks (to_self_delay 144 twice, the
    // HTLCs' expiries).
    let mut mined = 0;
    while !pending_for(&pair, &id).is_empty() {
        assert!(
            mined < 400,
            "still pending after {mined} blocks: {:?}",
            pending_for(&pair, &id)
        );
        mine_and_follow(&pair);
        mined += 1;
    }

    // The commitment's outputs: whose is each, and who took it.
    let spent = spenders(&pair, close_height);
    let script = pair.ours.shutdown_script();
    let value_of = |sat: u64| {
        commitment
            .output
            .iter()
            .filter(|o| o.value.to_sat() == sat)
            .count()
    };
    assert_eq!(
        value_of(TO_LDK_SAT) + value_of(TO_US_SAT),
        2,
        "{commitment:?}"
    );
    let anchors_total = if anchors { 660 } else { 0 };
    let outputs: u64 = commitment.output.iter().map(|o| o.value.to_sat()).sum();
    let commit_fee = capacity - outputs;
    let our_main = our_sat - commit_fee - anchors_total;
    let mut ours_taken = 0u64;
    let mut ldk_main_seen = false;
    for (vout, o) in commitment.output.iter().enumerate() {
        let v = o.value.to_sat();
        let outpoint = OutPoint {
            txid: ctxid,
            vout: vout as u32,
        };
        if v == 330 && anchors {
            continue;
        }
        if v == ldk_balance {
            // LDK's main output: exactly the balance its monitor reported,
            // and nothing of ours touches it.
            ldk_main_seen = true;
            if let Some(tx) = spent.get(&outpoint) {
                assert!(
                    tx.output.iter().all(|out| out.script_pubkey != script),
                    "we took LDK's output: {tx:?}"
                );
            }
            continue;
        }
        assert!(
            [our_main, TO_LDK_SAT, TO_US_SAT].contains(&v),
            "output {vout} of {v} sat is nobody's: ours {our_main}, LDK's {ldk_balance}"
        );
        let tx = spent
            .get(&outpoint)
            .unwrap_or_else(|| panic!("our output {vout} ({v} sat) never claimed"));
        ours_taken += v;
        let _ = tx;
    }
    assert!(ldk_main_seen, "LDK's main output is its reported balance");
    assert_eq!(ours_taken, our_main + TO_LDK_SAT + TO_US_SAT);

    // What reached our script, from the FundsSwept events: everything we
    // took, less the claims' fees.
    let swept: u64 = pair
        .ours
        .events_matching(|e| matches!(e, Event::FundsSwept { channel_id, .. } if *channel_id == id))
        .iter()
        .map(|e| match e {
            Event::FundsSwept { amount_sat, .. } => amount_sat.to_sat(),
            _ => 0,
        })
        .sum();
    assert!(
        swept <= ours_taken && swept + 30_000 >= ours_taken,
        "swept {swept} of {ours_taken}"
    );

    // Payments: LDK learnt our preimage from the chain; ours timed out.
    pair.ldk
        .wait_until("LDK's payment to us is sent", LIMIT, || {
            matches!(
                pair.ldk.outcome(&LdkPaymentHash(to_us.0)),
                Some(LdkPaymentOutcome::Sent(_))
            )
        });
    assert!(
        matches!(pair.ours.payment_outcome(&to_ldk), Some(Err(_))),
        "our timed-out payment failed: {:?}",
        pair.ours.payment_outcome(&to_ldk)
    );
    let _ = our_hash;
    eprintln!(
        "{}, anchors {anchors}: our main {our_main}, HTLCs {TO_LDK_SAT} + {TO_US_SAT} sat, \
         swept {swept} sat after {mined} blocks; LDK's balances before {ldk_before:?}, after {:?}",
        if ldk_closes { "LDK closes" } else { "we close" },
        pair.ldk.claimable_balances(&ldk_id(&id))
    );
    pair.assert_chain_clean();
}

#[test]
fn ldk_force_closes_with_htlcs_both_ways_static_remotekey() {
    go_to_chain(false, true);
}

#[test]
fn ldk_force_closes_with_htlcs_both_ways_anchors() {
    go_to_chain(true, true);
}

#[test]
fn we_force_close_with_htlcs_both_ways_static_remotekey() {
    go_to_chain(false, false);
}

#[test]
fn we_force_close_with_htlcs_both_ways_anchors() {
    go_to_chain(true, false);
}
