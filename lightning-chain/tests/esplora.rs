//! The `esplora` light client against `simchain`'s Esplora-API server (no
//! Esplora server can run here: `lightning_simchain::esplora` implements
//! the endpoints as Esplora's API document describes them).
#![cfg(feature = "esplora")]
#![allow(clippy::unwrap_used)] // test helpers

use std::time::Duration;

use bitcoin::{Amount, OutPoint};
use lightning_chain::esplora::EsploraSource;
use lightning_chain::{
    BestBlock, Broadcaster, ConfirmationEvent, ConfirmationTarget, ConfirmationTracker, FeeConfig,
    FeeEstimator, LightClientSync, WatchFilter, WatchedOutput,
};
use lightning_sim::{SimChainHandle, SimWallet};
use lightning_simchain::esplora::EsploraServer;

fn events(tracker: &mut ConfirmationTracker) -> Vec<ConfirmationEvent> {
    std::iter::from_fn(|| tracker.poll_event()).collect()
}

#[test]
fn esplora_confirmations_spends_reorg_paging_and_fees() {
    let chain = SimChainHandle::new();
    let alice = SimWallet::from_seed([5; 32], chain.clone());
    let bob = SimWallet::from_seed([6; 32], chain.clone());
    chain.mine_blocks(110, &alice.script_pubkey());
    let server = EsploraServer::start(chain.clone(), "127.0.0.1:0").unwrap();
    let source = EsploraSource::new(&server.url(), Duration::from_secs(10), FeeConfig::default());

    let checkpoint = BestBlock::new(chain.block_at(60).unwrap().block_hash(), 60);
    let mut tracker = ConfirmationTracker::new(checkpoint);
    let mut light = LightClientSync::new(checkpoint);
    // Alice's script has 110 coinbases: five pages of history. The 50
    // above the checkpoint are reported.
    light.watch_script(alice.script_pubkey());
    let outcome = light.sync(&source, &mut tracker).unwrap();
    assert_eq!(
        (outcome.new_headers, outcome.confirmed),
        (50, 50),
        "{outcome:?}"
    );
    assert_eq!(tracker.best_block(), chain.best_block());

    let funding = alice
        .fund(Amount::from_sat(250_000), &bob.script_pubkey())
        .unwrap();
    let txid = funding.compute_txid();
    let vout = funding
        .output
        .iter()
        .position(|o| o.script_pubkey == bob.script_pubkey())
        .unwrap() as u32;
    let watched = OutPoint::new(txid, vout);
    tracker.watch_tx(txid, 2);
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
    // A refused broadcast is recorded.
    let mut bogus = funding.clone();
    bogus.input[0].previous_output.vout = 50;
    source.broadcast_transaction(&bogus);
    assert_eq!(source.take_broadcast_errors().len(), 1);

    chain.mine_blocks(1, &bob.script_pubkey());
    light.sync(&source, &mut tracker).unwrap();
    let seen = events(&mut tracker);
    assert!(seen.iter().any(|e| matches!(e, ConfirmationEvent::Confirmed { txid: t, confirmation, .. } if *t == txid && confirmation.height == 111)), "{seen:?}");

    let spend = bob
        .fund(Amount::from_sat(40_000), &alice.script_pubkey())
        .unwrap();
    chain.submit_transaction(spend.clone()).unwrap();
    chain.mine_blocks(1, &bob.script_pubkey());
    light.sync(&source, &mut tracker).unwrap();
    let seen = events(&mut tracker);
    assert!(seen.iter().any(|e| matches!(e, ConfirmationEvent::OutpointSpent { outpoint, .. } if *outpoint == watched)), "{seen:?}");

    // A 3-block reorg onto a longer branch.
    let old_111 = chain.block_at(111).unwrap().block_hash();
    chain.reorg(3, 5, &bob.script_pubkey());
    let outcome = light.sync(&source, &mut tracker).unwrap();
    assert_eq!(outcome.disconnected, 3, "{outcome:?}");
    assert_eq!(tracker.best_block(), chain.best_block());
    let seen = events(&mut tracker);
    assert!(seen.iter().any(|e| matches!(e, ConfirmationEvent::ReorgedOut { txid: t, was } if *t == txid && was.block_hash == old_111)), "{seen:?}");
    assert!(seen.iter().any(|e| matches!(e, ConfirmationEvent::SpendReorgedOut { outpoint, .. } if *outpoint == watched)), "{seen:?}");
    assert!(
        seen.iter()
            .any(|e| matches!(e, ConfirmationEvent::Confirmed { txid: t, .. } if *t == txid)),
        "{seen:?}"
    );
    assert_eq!(
        tracker.confirmations(&txid).unwrap().get(),
        chain.tx_confirmations(&txid).unwrap()
    );

    // `/fee-estimates`: 2 sat/vB for 7+ blocks, 4 for 3..=6, 8 for 1..=2.
    source.refresh_fee_estimates().unwrap();
    assert_eq!(
        source
            .fee_rate(ConfirmationTarget::UrgentOnChainSweep)
            .sat_per_kw(),
        2_000
    );
    assert_eq!(
        source
            .fee_rate(ConfirmationTarget::NonAnchorChannelFee)
            .sat_per_kw(),
        1_000
    );
    assert_eq!(
        source
            .fee_rate(ConfirmationTarget::AnchorChannelFee)
            .sat_per_kw(),
        500
    );
    server.set_fee_rate(None);
    let update = source.refresh_fee_estimates().unwrap();
    assert_eq!(update.fell_back, 4);
    assert_eq!(
        source.fee_rate(ConfirmationTarget::UrgentOnChainSweep),
        FeeConfig::default().fallback
    );
    assert!(chain.rejections().is_empty());
}

/// Esplora as a full-block [`ChainSource`](lightning_chain::ChainSource):
/// the same driver as for a bitcoind (`ChainSync`) follows it from a
/// checkpoint and through a reorg; a height above the tip is `None`.
#[test]
fn esplora_serves_whole_blocks_to_chain_sync() {
    use lightning_chain::{ChainSource, ChainSync};
    let chain = SimChainHandle::new();
    let alice = SimWallet::from_seed([7; 32], chain.clone());
    chain.mine_blocks(110, &alice.script_pubkey());
    let server = EsploraServer::start(chain.clone(), "127.0.0.1:0").unwrap();
    let source = EsploraSource::new(&server.url(), Duration::from_secs(10), FeeConfig::default());
    assert_eq!(
        ChainSource::best_block(&source).unwrap(),
        chain.best_block()
    );
    assert_eq!(source.block_hash_at(111).unwrap(), None);
    let b = source
        .block(&chain.block_at(50).unwrap().block_hash())
        .unwrap()
        .unwrap();
    assert_eq!(b, chain.block_at(50).unwrap());
    assert_eq!(source.header(&b.block_hash()).unwrap(), Some(b.header));

    let checkpoint = BestBlock::new(chain.block_at(100).unwrap().block_hash(), 100);
    let mut tracker = ConfirmationTracker::new(checkpoint);
    let mut sync = ChainSync::new(checkpoint);
    let outcome = sync.sync(&source, &mut tracker).unwrap();
    assert_eq!((outcome.disconnected, outcome.connected), (0, 10));
    let tx = alice
        .fund(Amount::from_sat(30_000), &alice.script_pubkey())
        .unwrap();
    let txid = tx.compute_txid();
    tracker.watch_tx(txid, 1);
    source.broadcast_transaction(&tx);
    chain.mine_blocks(1, &alice.script_pubkey());
    sync.sync(&source, &mut tracker).unwrap();
    assert!(events(&mut tracker)
        .iter()
        .any(|e| matches!(e, ConfirmationEvent::Confirmed { txid: t, .. } if *t == txid)));
    // A 2-block reorg that drops the transaction's block.
    chain.reorg(2, 3, &alice.script_pubkey());
    let outcome = sync.sync(&source, &mut tracker).unwrap();
    assert_eq!((outcome.disconnected, outcome.connected), (2, 3));
    assert_eq!(tracker.best_block(), chain.best_block());
}
