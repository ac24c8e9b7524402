//! Issue 21 against LDK 0.2: our node loses its store. A node built from
//! the seed and the static backup file alone reconnects to LDK and tells
//! it, in `channel_reestablish`, that it lost state (BOLT 2,
//! "option_data_loss_protect": `next_commitment_number` 0). LDK publishes
//! its latest commitment, and we sweep our whole `to_remote` to our
//! script, broadcasting nothing else: no commitment of ours, nothing that
//! spends the funding output. Also with an HTLC each way in flight at the
//! loss (a backup holds no HTLC: those are LDK's to settle on chain).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use interop_ldk::host::{self, OurNode};
use interop_ldk::pair::{Pair, LIMIT, OUR_SEED};
use lightning_core::node::{Event, PaymentPreimage};

fn restore_from_backup_with_ldk(anchors: bool, htlcs: bool) {
    let mut pair = Pair::new(anchors);
    let id = pair.open_from_us(1_000_000, 0);
    for i in 0..3 {
        let h = pair.we_pay_ldk_start(50_000_000 + i * 1_000);
        pair.wait_we_paid_ldk(&h);
    }
    pair.wait_balances_agree(&id);
    for _ in 0..3 {
        let h = pair.ldk_pays_us_start(7_000_000);
        pair.wait_ldk_paid_us(&h);
    }
    pair.wait_balances_agree(&id);
    if htlcs {
        pair.hold_an_htlc_each_way(&id, 15_000_000, 9_000_000, PaymentPreimage([0x42; 32]));
    }
    let file = pair.ours.with(|n| n.export_all_channel_backups()).unwrap();
    let our_sat = pair.our_balance_msat(&id) / 1000;
    let details = pair.ours.channel(&id).unwrap();
    let funding = details.funding_txo.unwrap();
    let capacity = details.capacity_sat.to_sat();

    // The disk is gone: a node from the seed alone, on an empty store.
    let fresh =
        OurNode::start_without_wallet(OUR_SEED, host::config(anchors), pair.world.chain.clone());
    let old = std::mem::replace(&mut pair.ours, fresh);
    old.disconnect_all();
    drop(old);
    assert_eq!(
        pair.ours.with(|n| n.restore_channel_backup(&file)).unwrap(),
        vec![id]
    );
    let script = pair.ours.shutdown_script();
    pair.ours.connect(pair.ldk.node_id(), pair.ldk.addr);

    // LDK closes with its latest commitment.
    let start = std::time::Instant::now();
    let commitment = loop {
        let spend = pair
            .world
            .chain
            .mempool()
            .into_iter()
            .chain(pair.ldk.broadcasts())
            .find(|tx| tx.input.iter().any(|i| i.previous_output == funding));
        if let Some(tx) = spend {
            break tx;
        }
        assert!(
            start.elapsed() < LIMIT,
            "LDK never published a commitment (closed: {:?}; bumps: {:?})",
            pair.ldk.record(|r| r.closed.clone()),
            pair.ldk.record(|r| r.bumps.clone())
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        pair.ldk
            .broadcasts()
            .iter()
            .any(|t| t.compute_txid() == commitment.compute_txid()),
        "the commitment is LDK's"
    );
    // (On anchors LDK hands its commitment to its bump handler, which the
    // harness is: it publishes the commitment as it is.)
    let ctxid = commitment.compute_txid();
    assert_eq!(pair.world.chain.tx_confirmations(&ctxid), Some(0));
    pair.world.mine(1);
    assert_eq!(pair.world.chain.tx_confirmations(&ctxid), Some(1));

    // We sweep `to_remote` (at once, or after its 1-block CSV on anchors).
    let sweep_txid = {
        let start = std::time::Instant::now();
        loop {
            let swept: Vec<Event> = pair.ours.events_matching(
                |e| matches!(e, Event::FundsSwept { channel_id, .. } if *channel_id == id),
            );
            if let Some(Event::FundsSwept { txid, .. }) = swept.first() {
                break *txid;
            }
            assert!(start.elapsed() < LIMIT, "no FundsSwept");
            pair.world.mine(1);
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let sweep = pair.world.chain.get_transaction(&sweep_txid).unwrap();
    pair.world.mine(6);
    assert!(pair.world.chain.tx_confirmations(&sweep_txid).unwrap() >= 6);
    assert_eq!(sweep.input.len(), 1);
    assert_eq!(sweep.input[0].previous_output.txid, ctxid);
    assert_eq!(sweep.output.len(), 1);
    assert_eq!(sweep.output[0].script_pubkey, script);
    let to_remote = &commitment.output[sweep.input[0].previous_output.vout as usize];
    assert!(
        (to_remote.value - sweep.output[0].value).to_sat() < 1_000,
        "sweep fee"
    );
    // We funded: the commitment fee and the anchors are ours; the rest of
    // our balance is the whole `to_remote`.
    let anchors_total = if anchors { 660 } else { 0 };
    let htlc_outputs = commitment
        .output
        .iter()
        .filter(|o| [15_000, 9_000].contains(&o.value.to_sat()))
        .count();
    assert_eq!(htlc_outputs, if htlcs { 2 } else { 0 }, "{commitment:?}");
    let outputs: u64 = commitment.output.iter().map(|o| o.value.to_sat()).sum();
    assert_eq!(
        to_remote.value.to_sat(),
        our_sat - (capacity - outputs) - anchors_total,
        "{commitment:?}"
    );
    // Nothing of ours spends the funding output: the only spend on chain
    // is LDK's commitment.
    let tip = pair.world.height();
    for h in 0..=tip {
        for tx in pair.world.chain.block_at(h).unwrap().txdata.iter() {
            if tx.input.iter().any(|i| i.previous_output == funding) {
                assert_eq!(tx.compute_txid(), ctxid);
            }
        }
    }
    pair.assert_chain_clean();
}

#[test]
fn restore_from_backup_with_ldk_static_remotekey() {
    restore_from_backup_with_ldk(false, false);
}

#[test]
fn restore_from_backup_with_ldk_anchors() {
    restore_from_backup_with_ldk(true, false);
}

#[test]
fn restore_from_backup_with_ldk_htlcs_in_flight_static_remotekey() {
    restore_from_backup_with_ldk(false, true);
}

#[test]
fn restore_from_backup_with_ldk_htlcs_in_flight_anchors() {
    restore_from_backup_with_ldk(true, true);
}
