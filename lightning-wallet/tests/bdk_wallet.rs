//! The BDK wallet over the simulated chain (a full-block `ChainSource`):
//! coins and maturity, the `Wallet` trait's signatures checked by the
//! simulated mempool's script verification, funding and release, send-all,
//! reorgs, and a restart from the file.
#![allow(clippy::unwrap_used)]

use bitcoin::absolute::LockTime;
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bitcoin::transaction::Version;
use bitcoin::{
    Address, Amount, CompressedPublicKey, Network, ScriptBuf, Sequence, Transaction, TxIn, TxOut,
    Witness,
};
use lightning_chain::wallet::Wallet;
use lightning_chain::FeeRate;
use lightning_sim::SimChainHandle;
use lightning_wallet::BdkWallet;

fn elsewhere() -> ScriptBuf {
    let secp = Secp256k1::new();
    let key = SecretKey::from_slice(&[0x42; 32]).unwrap();
    Address::p2wpkh(
        &CompressedPublicKey(key.public_key(&secp)),
        Network::Regtest,
    )
    .script_pubkey()
}

fn total(w: &BdkWallet) -> Amount {
    let b = w.balance();
    b.confirmed + b.immature + b.trusted_pending + b.untrusted_pending
}

/// A wallet with `blocks` coinbases, then 100 blocks elsewhere (all mature).
fn funded(blocks: usize) -> (SimChainHandle, BdkWallet, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let chain = SimChainHandle::new();
    let wallet = BdkWallet::open(&[3; 32], Network::Regtest, &dir.path().join("w")).unwrap();
    let address = wallet.new_address().unwrap();
    chain.mine_blocks(blocks, &address.script_pubkey());
    chain.mine_blocks(100, &elsewhere());
    wallet.sync_blocks(&chain).unwrap();
    (chain, wallet, dir)
}

#[test]
fn coins_maturity_and_balance_follow_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let chain = SimChainHandle::new();
    let wallet = BdkWallet::open(&[3; 32], Network::Regtest, &dir.path().join("w")).unwrap();
    let address = wallet.new_address().unwrap();
    chain.mine_blocks(3, &address.script_pubkey());
    chain.mine_blocks(97, &elsewhere());
    wallet.sync_blocks(&chain).unwrap();
    // Coinbases at heights 1..=3, tip 100: the one at 1 may be spent in
    // block 101 (Core: spend height - coin height >= 100).
    let coins = wallet.confirmed_utxos().unwrap();
    assert_eq!(coins.len(), 1);
    assert_eq!(
        wallet.balance().confirmed,
        Amount::from_sat(50 * 100_000_000)
    );
    assert_eq!(
        wallet.balance().immature,
        Amount::from_sat(100 * 100_000_000)
    );
    assert_eq!(total(&wallet), chain.balance_of(&address.script_pubkey()));
    assert_eq!(wallet.best_block(), chain.best_block());
}

#[test]
fn wallet_trait_signatures_pass_script_verification() {
    let (chain, wallet, _dir) = funded(2);
    let coins = wallet.confirmed_utxos().unwrap();
    assert_eq!(coins.len(), 2);
    // A transaction of someone else's making (the node's CPFP child, say)
    // spending both coins, signed through the trait.
    let change = wallet.change_script().unwrap();
    assert!(wallet.is_mine(&change));
    let value: Amount = coins.iter().map(|c| c.txout.value).sum();
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: coins
            .iter()
            .map(|c| TxIn {
                previous_output: c.outpoint,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: vec![TxOut {
            value: value - Amount::from_sat(10_000),
            script_pubkey: change,
        }],
    };
    let prevouts: Vec<TxOut> = coins.iter().map(|c| c.txout.clone()).collect();
    // Not ours: nothing to sign; wrong prevout count: an error.
    assert!(wallet.sign_wallet_inputs(&tx, &prevouts[..1]).is_err());
    let foreign = vec![
        TxOut {
            value: Amount::from_sat(1),
            script_pubkey: elsewhere()
        };
        2
    ];
    assert!(wallet.sign_wallet_inputs(&tx, &foreign).unwrap().is_empty());
    let witnesses = wallet.sign_wallet_inputs(&tx, &prevouts).unwrap();
    assert_eq!(witnesses.len(), 2);
    let mut signed = tx.clone();
    for (i, w) in witnesses {
        signed.input[i].witness = w;
    }
    chain.submit_transaction(signed.clone()).unwrap();
    // A witness for the wrong transaction fails verification.
    let mut tampered = signed.clone();
    tampered.output[0].value -= Amount::from_sat(1);
    assert!(chain.submit_transaction(tampered).is_err());
    chain.mine_blocks(1, &elsewhere());
    wallet.sync_blocks(&chain).unwrap();
    assert_eq!(total(&wallet), value - Amount::from_sat(10_000));
}

#[test]
fn fund_reserves_release_frees_and_send_all_empties() {
    let (chain, wallet, _dir) = funded(1);
    let before = total(&wallet);
    let script = elsewhere();
    let tx = wallet
        .fund(
            Amount::from_sat(1_000_000),
            &script,
            FeeRate::from_sat_per_kw(1000),
        )
        .unwrap();
    // The funded coin is no longer offered; the change is pending, and a
    // second funding spends that change, never the same coin again.
    assert!(wallet.confirmed_utxos().unwrap().is_empty());
    let second = wallet
        .fund(
            Amount::from_sat(1_000_000),
            &script,
            FeeRate::from_sat_per_kw(1000),
        )
        .unwrap();
    assert_eq!(second.input.len(), 1);
    assert_eq!(second.input[0].previous_output.txid, tx.compute_txid());
    wallet.release(&second).unwrap();
    // At least the requested fee rate: 1000 sat per 1000 weight.
    let fee = before - total(&wallet) - Amount::from_sat(1_000_000);
    assert!(
        fee.to_sat() >= tx.weight().to_wu(),
        "{fee} for {}",
        tx.weight()
    );
    assert!(fee.to_sat() < tx.weight().to_wu() * 2);
    wallet.release(&tx).unwrap();
    assert_eq!(wallet.confirmed_utxos().unwrap().len(), 1);
    assert_eq!(total(&wallet), before);

    // Send everything elsewhere; mined, the wallet is empty.
    let all = wallet
        .send_all(&script, FeeRate::from_sat_per_kw(2000))
        .unwrap();
    assert_eq!(all.output.len(), 1);
    chain.submit_transaction(all).unwrap();
    chain.mine_blocks(1, &elsewhere());
    wallet.sync_blocks(&chain).unwrap();
    assert_eq!(total(&wallet), Amount::ZERO);
    assert!(chain.rejections().is_empty());
}

#[test]
fn reorgs_and_restarts_keep_the_balance_true() {
    let (chain, wallet, dir) = funded(1);
    let script = elsewhere();
    let tx = wallet
        .send(
            Amount::from_sat(500_000),
            &script,
            FeeRate::from_sat_per_kw(1000),
        )
        .unwrap();
    chain.submit_transaction(tx.clone()).unwrap();
    chain.mine_blocks(1, &script);
    wallet.sync_blocks(&chain).unwrap();
    let after_send = total(&wallet);
    let ours: Vec<ScriptBuf> = tx
        .output
        .iter()
        .filter(|o| wallet.is_mine(&o.script_pubkey))
        .map(|o| o.script_pubkey.clone())
        .collect();
    assert_eq!(ours.len(), 1, "change");
    // A 3-block reorg that mines the send again, at another height.
    chain.invalidate_tip(3);
    chain.mine_blocks(4, &script);
    let outcome = wallet.sync_blocks(&chain).unwrap();
    assert_eq!((outcome.disconnected, outcome.connected), (3, 4));
    assert_eq!(wallet.best_block(), chain.best_block());
    assert_eq!(total(&wallet), after_send);
    assert_eq!(wallet.balance().confirmed, chain.balance_of(&ours[0]));

    // Restart: the same balance and tip from the file alone.
    let tip = wallet.best_block();
    drop(wallet);
    let wallet = BdkWallet::open(&[3; 32], Network::Regtest, &dir.path().join("w")).unwrap();
    assert_eq!(wallet.best_block(), tip);
    assert_eq!(total(&wallet), after_send);
    chain.mine_blocks(2, &script);
    assert_eq!(wallet.sync_blocks(&chain).unwrap().connected, 2);
    assert_eq!(total(&wallet), after_send);
}
