//! The `electrum` light client against a real ElectrumX indexing
//! `simchain`: confirmations, a spend, a 3-block and a 7-block reorg, a
//! restart of our client, and fee estimates. Skipped (with a message) when ElectrumX is not installed,
//! unless `LN_TEST_REQUIRE_ALL` is set.
#![cfg(feature = "electrum")]
#![allow(clippy::unwrap_used)] // test helpers

use std::time::Duration;

use bitcoin::{Amount, OutPoint};
use lightning_chain::electrum::ElectrumSource;
use lightning_chain::{
    BestBlock, Broadcaster, ConfirmationEvent, ConfirmationTarget, ConfirmationTracker, FeeConfig,
    FeeEstimator, LightClientSync, WatchFilter, WatchedOutput,
};
use lightning_sim::{SimChainHandle, SimWallet};
use lightning_simchain::electrumx::ElectrumX;
use lightning_simchain::{Credentials, RpcServer};

fn events(tracker: &mut ConfirmationTracker) -> Vec<ConfirmationEvent> {
    std::iter::from_fn(|| tracker.poll_event()).collect()
}

#[test]
fn electrumx_confirmations_spends_reorg_and_fees() {
    let Some(program) = ElectrumX::locate("electrumx_confirmations_spends_reorg_and_fees") else {
        return;
    };
    let chain = SimChainHandle::new();
    chain.with(|c| c.use_wall_clock(true));
    let alice = SimWallet::from_seed([3; 32], chain.clone());
    let bob = SimWallet::from_seed([4; 32], chain.clone());
    chain.mine_blocks(110, &alice.script_pubkey());
    let daemon =
        RpcServer::start(chain.clone(), Credentials::new("u", "p"), "127.0.0.1:0").unwrap();
    let mut electrumx = ElectrumX::start(&program, &daemon).unwrap();
    let wait = |electrumx: &mut ElectrumX| {
        electrumx
            .wait_for_height(chain.best_block().height, Duration::from_secs(30))
            .unwrap()
    };

    let source = ElectrumSource::new(
        &electrumx.url(),
        Duration::from_secs(10),
        FeeConfig::default(),
    )
    .unwrap();
    let checkpoint = BestBlock::new(chain.block_at(100).unwrap().block_hash(), 100);
    let mut tracker = ConfirmationTracker::new(checkpoint);
    let mut light = LightClientSync::new(checkpoint);
    let outcome = light.sync(&source, &mut tracker).unwrap();
    assert_eq!(outcome.new_headers, 10);
    assert_eq!(tracker.best_block(), chain.best_block());

    // Fund Bob, watched by txid and script; broadcast through ElectrumX.
    let funding = alice
        .fund(Amount::from_sat(300_000), &bob.script_pubkey())
        .unwrap();
    let txid = funding.compute_txid();
    let vout = funding
        .output
        .iter()
        .position(|o| o.script_pubkey == bob.script_pubkey())
        .unwrap() as u32;
    let watched = OutPoint::new(txid, vout);
    tracker.watch_tx(txid, 3);
    tracker.watch_outpoint(watched);
    light.register_tx(&txid, &bob.script_pubkey());
    light.register_output(WatchedOutput {
        block_hash: None,
        outpoint: watched,
        script_pubkey: bob.script_pubkey(),
    });
    source.broadcast_transaction(&funding);
    assert!(source.take_broadcast_errors().is_empty());
    assert_eq!(chain.mempool(), vec![funding.clone()]);

    chain.mine_blocks(1, &alice.script_pubkey());
    wait(&mut electrumx);
    // The tip notification arrives (ElectrumX sends it once indexed).
    let notified = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        source.has_notifications().unwrap()
    });
    assert!(notified);
    let outcome = light.sync(&source, &mut tracker).unwrap();
    assert_eq!(outcome.confirmed, 1);
    let seen = events(&mut tracker);
    assert!(
        matches!(&seen[..], [ConfirmationEvent::Confirmed { txid: t, confirmation, .. }] if *t == txid && confirmation.height == 111),
        "{seen:?}"
    );

    // Bob spends it; two more blocks: depth 3 and the spend.
    let spend = bob
        .fund(Amount::from_sat(100_000), &alice.script_pubkey())
        .unwrap();
    assert!(spend.input.iter().any(|i| i.previous_output == watched));
    chain.submit_transaction(spend.clone()).unwrap();
    chain.mine_blocks(2, &alice.script_pubkey());
    wait(&mut electrumx);
    light.sync(&source, &mut tracker).unwrap();
    let seen = events(&mut tracker);
    assert!(seen.iter().any(|e| matches!(e, ConfirmationEvent::OutpointSpent { outpoint, spend: s } if *outpoint == watched && s.spending_txid() == spend.compute_txid() && s.confirmation.height == 112)), "{seen:?}");
    assert!(
        seen.iter()
            .any(|e| matches!(e, ConfirmationEvent::ReachedDepth { txid: t, .. } if *t == txid)),
        "{seen:?}"
    );
    assert_eq!(tracker.best_block(), chain.best_block());

    // A 3-block reorg (blocks 111..=113 replaced, the transactions mined
    // again on the new branch), seen only through ElectrumX.
    let old_111 = chain.block_at(111).unwrap().block_hash();
    chain.invalidate_tip(3);
    chain.mine_blocks(5, &alice.script_pubkey());
    wait(&mut electrumx);
    let outcome = light.sync(&source, &mut tracker).unwrap();
    assert_eq!(outcome.disconnected, 3, "{outcome:?}");
    assert_eq!(tracker.best_block(), chain.best_block());
    let seen = events(&mut tracker);
    assert!(seen.iter().any(|e| matches!(e, ConfirmationEvent::ReorgedOut { txid: t, was } if *t == txid && was.block_hash == old_111)), "{seen:?}");
    assert!(seen.iter().any(|e| matches!(e, ConfirmationEvent::SpendReorgedOut { outpoint, .. } if *outpoint == watched)), "{seen:?}");
    let new_111 = chain.block_at(111).unwrap().block_hash();
    assert!(seen.iter().any(|e| matches!(e, ConfirmationEvent::Confirmed { txid: t, confirmation, .. } if *t == txid && confirmation.block_hash == new_111)), "{seen:?}");
    assert!(seen.iter().any(|e| matches!(e, ConfirmationEvent::OutpointSpent { outpoint, .. } if *outpoint == watched)), "{seen:?}");
    assert_eq!(
        tracker.confirmations(&txid).unwrap().get(),
        chain.tx_confirmations(&txid).unwrap()
    );

    // A 7-block reorg, deeper than the funding's depth: the blocks from
    // 109 up replaced, the transactions mined again on the new branch.
    let reorged_from = chain.best_block().height - 6;
    let old_blocks: Vec<_> = (reorged_from..=chain.best_block().height)
        .map(|h| chain.block_at(h).unwrap().block_hash())
        .collect();
    chain.invalidate_tip(7);
    chain.mine_blocks(9, &alice.script_pubkey());
    wait(&mut electrumx);
    let outcome = light.sync(&source, &mut tracker).unwrap();
    assert_eq!(outcome.disconnected, 7, "{outcome:?}");
    assert_eq!(tracker.best_block(), chain.best_block());
    let seen = events(&mut tracker);
    assert!(seen.iter().any(|e| matches!(e, ConfirmationEvent::ReorgedOut { txid: t, was } if *t == txid && old_blocks.contains(&was.block_hash))), "{seen:?}");
    assert!(seen.iter().any(|e| matches!(e, ConfirmationEvent::Confirmed { txid: t, confirmation, .. } if *t == txid && !old_blocks.contains(&confirmation.block_hash))), "{seen:?}");
    assert_eq!(
        tracker.confirmations(&txid).unwrap().get(),
        chain.tx_confirmations(&txid).unwrap()
    );

    // Our side restarts: a new client and a new sync from the tracker's
    // best block, the watches registered again, as a restarted node does.
    drop(light);
    let source = ElectrumSource::new(
        &electrumx.url(),
        Duration::from_secs(10),
        FeeConfig::default(),
    )
    .unwrap();
    let mut light = LightClientSync::new(tracker.best_block());
    light.register_tx(&txid, &bob.script_pubkey());
    light.register_output(WatchedOutput {
        block_hash: None,
        outpoint: watched,
        script_pubkey: bob.script_pubkey(),
    });
    chain.mine_blocks(2, &alice.script_pubkey());
    wait(&mut electrumx);
    let outcome = light.sync(&source, &mut tracker).unwrap();
    assert_eq!(outcome.new_headers, 2, "{outcome:?}");
    assert_eq!(outcome.disconnected, 0, "{outcome:?}");
    assert_eq!(tracker.best_block(), chain.best_block());
    assert_eq!(
        tracker.confirmations(&txid).unwrap().get(),
        chain.tx_confirmations(&txid).unwrap()
    );

    // Fees through ElectrumX's `blockchain.estimatefee` (simchain: 2,000
    // sat/kvB for 7+ blocks, four times that for 2).
    let update = source.refresh_fee_estimates().unwrap();
    assert_eq!(update.fell_back, 0, "{update:?}");
    assert_eq!(
        source
            .fee_rate(ConfirmationTarget::UrgentOnChainSweep)
            .sat_per_kw(),
        2_000
    );
    assert_eq!(
        source
            .fee_rate(ConfirmationTarget::NonUrgentOnChainSweep)
            .sat_per_kw(),
        500
    );
    // (The no-estimate fallback is tested through bitcoind: ElectrumX
    // passes `estimatesmartfee`'s answer through as -1.)
    assert!(chain.rejections().is_empty());
}
