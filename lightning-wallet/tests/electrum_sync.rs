//! The BDK wallet synced through `bdk_electrum` from a real ElectrumX
//! (`LN_TEST_ELECTRUMX`, installed by `.ci/run`) indexing `simchain`'s RPC
//! on loopback (feature `electrum`): coins, a send, and a reorg, with the
//! balance checked against the simulated chain's own UTXO set.
#![cfg(feature = "electrum")]
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bitcoin::{Address, Amount, CompressedPublicKey, Network, ScriptBuf};
use lightning_chain::FeeRate;
use lightning_sim::SimChainHandle;
use lightning_simchain::electrumx::ElectrumX;
use lightning_simchain::{Credentials, RpcServer};
use lightning_wallet::bdk_electrum::{electrum_client, BdkElectrumClient};
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
fn wallet_follows_electrumx() {
    let Some(program) = ElectrumX::locate("wallet_follows_electrumx") else {
        return;
    };
    let chain = SimChainHandle::new();
    chain.with(|c| c.use_wall_clock(true));
    let daemon =
        RpcServer::start(chain.clone(), Credentials::new("u", "p"), "127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wallet = BdkWallet::open(&[6; 32], Network::Regtest, &dir.path().join("w")).unwrap();
    let address = wallet.new_address().unwrap();
    chain.mine_blocks(2, &address.script_pubkey());
    chain.mine_blocks(100, &elsewhere());
    let mut electrumx = ElectrumX::start(&program, &daemon).unwrap();
    let wait = |electrumx: &mut ElectrumX| {
        electrumx
            .wait_for_height(chain.best_block().height, Duration::from_secs(30))
            .unwrap()
    };
    let client = BdkElectrumClient::new(electrum_client::Client::new(&electrumx.url()).unwrap());
    wallet.sync_electrum(&client).unwrap();
    assert_eq!(wallet.best_block(), chain.best_block());
    assert_eq!(wallet.balance().confirmed, Amount::from_int_btc(100));

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
    wait(&mut electrumx);
    wallet.sync_electrum(&client).unwrap();
    let change: Vec<ScriptBuf> = tx
        .output
        .iter()
        .filter(|o| wallet.is_mine(&o.script_pubkey))
        .map(|o| o.script_pubkey.clone())
        .collect();
    let on_chain = chain.balance_of(&address.script_pubkey()) + chain.balance_of(&change[0]);
    assert_eq!(wallet.balance().confirmed, on_chain);
    chain.invalidate_tip(2);
    chain.mine_blocks(3, &elsewhere());
    wait(&mut electrumx);
    wallet.sync_electrum(&client).unwrap();
    assert_eq!(wallet.best_block(), chain.best_block());
    assert_eq!(wallet.balance().confirmed, on_chain);
    assert_eq!(wallet.balance().trusted_pending, Amount::ZERO);
}
