//! The BDK wallet synced through `bdk_esplora` from `simchain`'s Esplora
//! API on loopback (feature `esplora`): coins, a send, and a reorg, with
//! the balance checked against the simulated chain's own UTXO set.
#![cfg(feature = "esplora")]
#![allow(clippy::unwrap_used)]

use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bitcoin::{Address, Amount, CompressedPublicKey, Network, ScriptBuf};
use lightning_chain::FeeRate;
use lightning_sim::SimChainHandle;
use lightning_simchain::esplora::EsploraServer;
use lightning_wallet::bdk_esplora::esplora_client;
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

#[test]
fn wallet_follows_esplora() {
    let chain = SimChainHandle::new();
    let server = EsploraServer::start(chain.clone(), "127.0.0.1:0").unwrap();
    let client = esplora_client::Builder::new(&server.url()).build_blocking();
    let dir = tempfile::tempdir().unwrap();
    let wallet = BdkWallet::open(&[5; 32], Network::Regtest, &dir.path().join("w")).unwrap();
    let address = wallet.new_address().unwrap();
    chain.mine_blocks(2, &address.script_pubkey());
    chain.mine_blocks(100, &elsewhere());
    wallet.sync_esplora(&client).unwrap();
    assert_eq!(wallet.best_block(), chain.best_block());
    let balance = wallet.balance();
    assert_eq!(balance.confirmed, Amount::from_int_btc(100));
    assert_eq!(
        balance.confirmed,
        chain.balance_of(&address.script_pubkey())
    );

    // A send, mined; then a 2-block reorg that mines it again higher.
    let tx = wallet
        .send(
            Amount::from_sat(700_000),
            &elsewhere(),
            FeeRate::from_sat_per_kw(1000),
        )
        .unwrap();
    chain.submit_transaction(tx.clone()).unwrap();
    // Two blocks: the reorg below leaves a tip where the send (locked to
    // the height it was built at, BDK's anti fee sniping) is final again.
    chain.mine_blocks(2, &elsewhere());
    wallet.sync_esplora(&client).unwrap();
    let change: Vec<ScriptBuf> = tx
        .output
        .iter()
        .filter(|o| wallet.is_mine(&o.script_pubkey))
        .map(|o| o.script_pubkey.clone())
        .collect();
    let on_chain = chain.balance_of(&address.script_pubkey()) + chain.balance_of(&change[0]);
    assert_eq!(wallet.balance().confirmed, on_chain);
    assert_eq!(wallet.balance().trusted_pending, Amount::ZERO);
    chain.invalidate_tip(2);
    chain.mine_blocks(3, &elsewhere());
    wallet.sync_esplora(&client).unwrap();
    assert_eq!(wallet.best_block(), chain.best_block());
    assert_eq!(
        wallet.balance().confirmed,
        chain.balance_of(&address.script_pubkey()) + chain.balance_of(&change[0])
    );
    assert_eq!(wallet.balance().confirmed, on_chain);
}
