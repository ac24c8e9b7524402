//! Mempool polls (`mempool_transactions`) of the `bitcoind` and `esplora`
//! adapters against `simchain` on loopback: new transactions once each,
//! bounded per poll, a filter by watched outpoint, one that left the
//! mempool and came back reported again.
#![cfg(all(feature = "bitcoind", feature = "esplora"))]
#![allow(clippy::unwrap_used)] // test helpers

use std::time::Duration;

use bitcoin::{Amount, OutPoint, Transaction, Txid};
use lightning_chain::bitcoind::{BitcoindAuth, BitcoindSource};
use lightning_chain::esplora::EsploraSource;
use lightning_chain::{Broadcaster, FeeConfig, MempoolPoll};
use lightning_sim::{SimChainHandle, SimWallet};
use lightning_simchain::esplora::EsploraServer;
use lightning_simchain::{Credentials, RpcServer};

fn txids(txs: &[Transaction]) -> Vec<Txid> {
    let mut v: Vec<Txid> = txs.iter().map(Transaction::compute_txid).collect();
    v.sort();
    v
}

#[test]
fn bitcoind_reports_new_mempool_transactions_bounded_and_filtered() {
    let chain = SimChainHandle::new();
    let wallet = SimWallet::from_seed([7; 32], chain.clone());
    let other = SimWallet::from_seed([8; 32], chain.clone());
    chain.mine_blocks(110, &wallet.script_pubkey());
    let server =
        RpcServer::start(chain.clone(), Credentials::new("u", "p"), "127.0.0.1:0").unwrap();
    let source = BitcoindSource::new(
        &server.url(),
        BitcoindAuth::UserPass("u".into(), "p".into()),
        FeeConfig::default(),
    )
    .unwrap();
    let sent: Vec<Transaction> = (0..3)
        .map(|_| {
            let tx = wallet
                .fund(Amount::from_sat(50_000), &other.script_pubkey())
                .unwrap();
            source.broadcast_transactions(&[&tx]);
            tx
        })
        .collect();
    assert!(source.take_broadcast_errors().is_empty());

    // Unfiltered: getrawmempool, two new ones per poll, then nothing new.
    let mut poll = MempoolPoll::new(2);
    let first = source.mempool_transactions(&mut poll).unwrap();
    assert_eq!(first.len(), 2);
    let second = source.mempool_transactions(&mut poll).unwrap();
    assert_eq!(second.len(), 1);
    let mut all = first.clone();
    all.extend(second);
    assert_eq!(txids(&all), txids(&sent));
    assert!(source.mempool_transactions(&mut poll).unwrap().is_empty());
    // One leaves the mempool (cycled out) and comes back: new again.
    let back = sent[1].clone();
    chain.with(|c| c.remove_from_mempool(&back.compute_txid()));
    assert!(source.mempool_transactions(&mut poll).unwrap().is_empty());
    chain.submit_transaction(back.clone()).unwrap();
    assert_eq!(
        source.mempool_transactions(&mut poll).unwrap(),
        vec![back.clone()]
    );

    // Filtered by a watched outpoint: its spender only
    // (gettxspendingprevout), a confirmed spend never.
    let mut watching = MempoolPoll::new(10);
    watching.watch_outpoints([sent[2].input[0].previous_output]);
    assert_eq!(
        source.mempool_transactions(&mut watching).unwrap(),
        vec![sent[2].clone()]
    );
    chain.mine_blocks(1, &wallet.script_pubkey());
    let mut fresh = MempoolPoll::new(10);
    fresh.watch_outpoints([sent[2].input[0].previous_output]);
    assert!(source.mempool_transactions(&mut fresh).unwrap().is_empty());
    drop(server);
}

#[test]
fn esplora_reports_unconfirmed_spends_of_watched_scripts() {
    let chain = SimChainHandle::new();
    let wallet = SimWallet::from_seed([5; 32], chain.clone());
    let other = SimWallet::from_seed([6; 32], chain.clone());
    chain.mine_blocks(110, &wallet.script_pubkey());
    let server = EsploraServer::start(chain.clone(), "127.0.0.1:0").unwrap();
    let source = EsploraSource::new(&server.url(), Duration::from_secs(10), FeeConfig::default());
    let tx = wallet
        .fund(Amount::from_sat(70_000), &other.script_pubkey())
        .unwrap();
    source.broadcast_transactions(&[&tx]);
    assert!(source.take_broadcast_errors().is_empty());
    let mut poll = MempoolPoll::default();
    let scripts = [other.script_pubkey()];
    assert_eq!(
        source.mempool_transactions(&scripts, &mut poll).unwrap(),
        vec![tx.clone()]
    );
    assert!(source
        .mempool_transactions(&scripts, &mut poll)
        .unwrap()
        .is_empty());
    // A filter on an outpoint it does not spend: not reported.
    let mut filtered = MempoolPoll::default();
    filtered.watch_outpoints([OutPoint::new(tx.compute_txid(), 0)]);
    assert!(source
        .mempool_transactions(&scripts, &mut filtered)
        .unwrap()
        .is_empty());
    // Confirmed: no longer in the mempool history.
    chain.mine_blocks(1, &wallet.script_pubkey());
    let mut fresh = MempoolPoll::default();
    assert!(source
        .mempool_transactions(&scripts, &mut fresh)
        .unwrap()
        .is_empty());
}
