//! Issue 16's second check of the RPC facade: Debian's Electrum 4.3,
//! syncing from the same ElectrumX (indexing `simchain`'s bitcoind RPC),
//! restores our BDK wallet's BIP 84 account as a watching-only wallet and
//! agrees with [`BdkWallet::balance`] to the satoshi; both agree with the
//! simulated chain's own UTXO set and mempool, read directly.
//!
//! Our wallet receives five payments on four addresses (one reused), sends
//! once (confirmed, with change) and once more unconfirmed (its change
//! pending), and has one incoming payment still in the mempool. One block
//! later everything is confirmed and the three views are compared again.
//!
//! The two wallets count an unconfirmed coin differently: BDK splits it
//! into `trusted_pending` (every input of its transaction is ours: our own
//! change) and `untrusted_pending`; Electrum counts unconfirmed change
//! spending its own confirmed coins as `confirmed` and the rest as
//! `unconfirmed`. So Electrum's confirmed is BDK's confirmed plus trusted
//! pending here, and Electrum's unconfirmed is BDK's untrusted pending.
//!
//! Skipped (with `SKIP:` on stderr) only when ElectrumX or Electrum is
//! absent, failing then under `LN_TEST_REQUIRE_ALL=1`.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::str::FromStr;
use std::time::{Duration, Instant};

use bitcoin::bip32::{ChildNumber, DerivationPath, Xpriv, Xpub};
use bitcoin::secp256k1::Secp256k1;
use bitcoin::{
    Address, Amount, CompressedPublicKey, Network, NetworkKind, OutPoint, ScriptBuf, Transaction,
};
use interop_electrum::daemon::{self, ElectrumDaemon, ElectrumOptions};
use lightning_chain::FeeRate;
use lightning_sim::{SimChainHandle, SimWallet};
use lightning_simchain::electrumx::ElectrumX;
use lightning_simchain::{Credentials, RpcServer};
use lightning_wallet::bdk_electrum::{electrum_client, BdkElectrumClient};
use lightning_wallet::{Balance, BdkWallet, WalletKeys};
use serde_json::{json, Value};

/// Our wallet's seed.
const SEED: [u8; 32] = [0x16; 32];

/// How long any one wait may take (ElectrumX and Electrum share two cores
/// with other builds and tests).
const LIMIT: Duration = Duration::from_secs(120);

/// SLIP-132 version bytes of a P2WPKH extended public key on test networks
/// (`vpub`), which Electrum reads as a native segwit account.
const VPUB: [u8; 4] = [0x04, 0x5f, 0x1c, 0xf6];

/// How many addresses of each branch the chain's view counts as ours
/// (Electrum's default receiving gap limit; the test uses far fewer).
const SCAN: u32 = 20;

/// The BIP 84 account `m/84'/1'/0'` of `seed`, derived here with
/// `bitcoin::bip32` as `lightning-wallet`'s keys module does.
fn account_xpub(seed: &[u8]) -> Xpub {
    let secp = Secp256k1::new();
    let master = Xpriv::new_master(NetworkKind::Test, seed).unwrap();
    // The wallet's own descriptors hang off this master key: if the keys
    // module changed its derivation, this test would restore another
    // wallet, so check first.
    let (external, internal) = WalletKeys::from_seed(seed, Network::Regtest)
        .unwrap()
        .descriptors();
    assert_eq!(external, format!("wpkh({master}/84'/1'/0'/0/*)"));
    assert_eq!(internal, format!("wpkh({master}/84'/1'/0'/1/*)"));
    let path = DerivationPath::from_str("m/84'/1'/0'").unwrap();
    let account = master.derive_priv(&secp, &path).unwrap();
    Xpub::from_priv(&secp, &account)
}

/// `xpub` with Electrum's `vpub` version bytes (Base58Check).
fn vpub(xpub: &Xpub) -> String {
    let mut data = xpub.encode();
    data[..4].copy_from_slice(&VPUB);
    bitcoin::base58::encode_check(&data)
}

/// The P2WPKH script of `account`/`branch`/`index`.
fn script_at(account: &Xpub, branch: u32, index: u32) -> ScriptBuf {
    let secp = Secp256k1::verification_only();
    let path = [
        ChildNumber::from_normal_idx(branch).unwrap(),
        ChildNumber::from_normal_idx(index).unwrap(),
    ];
    let key = account.derive_pub(&secp, &path).unwrap();
    ScriptBuf::new_p2wpkh(&CompressedPublicKey(key.public_key).wpubkey_hash())
}

/// Satoshis of one of Electrum's `getbalance` fields (a Python `Decimal`
/// in BTC, possibly in exponent form such as `0E-8`); absent is zero.
fn electrum_sat(value: &Value) -> u64 {
    let Some(text) = value.as_str() else {
        assert!(value.is_null(), "not an amount: {value}");
        return 0;
    };
    let (mantissa, exp) = match text.split_once(['E', 'e']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap()),
        None => (text, 0),
    };
    let (whole, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    assert!(!whole.starts_with('-'), "a negative amount: {text}");
    let digits: u128 = format!("{whole}{frac}").parse().unwrap();
    let shift = exp + 8 - i32::try_from(frac.len()).unwrap();
    assert!(shift >= 0, "not a whole number of satoshis: {text}");
    u64::try_from(digits * 10u128.pow(shift.unsigned_abs())).unwrap()
}

/// The chain's own view of the wallet, from its UTXO set and mempool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ChainView {
    /// Confirmed outputs paying us that nothing in the mempool spends.
    confirmed: u64,
    /// Unspent mempool outputs paying us from transactions whose inputs
    /// are all ours (our own change).
    own_pending: u64,
    /// Unspent mempool outputs paying us from anyone else.
    foreign_pending: u64,
}

impl ChainView {
    fn read(chain: &SimChainHandle, ours: &HashSet<ScriptBuf>) -> ChainView {
        chain.with(|c| {
            let mut view = ChainView {
                confirmed: 0,
                own_pending: 0,
                foreign_pending: 0,
            };
            for script in ours {
                for (outpoint, coin) in c.utxos_of(script) {
                    assert!(!coin.is_coinbase, "no coinbase pays our wallet");
                    if c.mempool_spender(&outpoint).is_none() {
                        view.confirmed += coin.output.value.to_sat();
                    }
                }
            }
            let mempool: Vec<Transaction> = c.mempool().cloned().collect();
            for tx in &mempool {
                let txid = tx.compute_txid();
                let own = tx.input.iter().all(|input| {
                    let prev = input.previous_output;
                    c.get_transaction(&prev.txid)
                        .and_then(|p| p.output.get(prev.vout as usize).cloned())
                        .is_some_and(|out| ours.contains(&out.script_pubkey))
                });
                for (vout, out) in tx.output.iter().enumerate() {
                    let point = OutPoint::new(txid, u32::try_from(vout).unwrap());
                    if ours.contains(&out.script_pubkey) && c.mempool_spender(&point).is_none() {
                        if own {
                            view.own_pending += out.value.to_sat();
                        } else {
                            view.foreign_pending += out.value.to_sat();
                        }
                    }
                }
            }
            view
        })
    }
}

/// Electrum's `getbalance` of the restored wallet, in satoshis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ElectrumBalance {
    confirmed: u64,
    unconfirmed: u64,
    unmatured: u64,
}

/// What BDK's balance must be, given the chain's view.
fn bdk_expected(view: &ChainView) -> (u64, u64, u64, u64) {
    (
        view.confirmed,
        view.own_pending,
        view.foreign_pending,
        0, // immature
    )
}

fn bdk_observed(b: &Balance) -> (u64, u64, u64, u64) {
    (
        b.confirmed.to_sat(),
        b.trusted_pending.to_sat(),
        b.untrusted_pending.to_sat(),
        b.immature.to_sat(),
    )
}

/// What Electrum's balance must be, given the chain's view.
fn electrum_expected(view: &ChainView) -> ElectrumBalance {
    ElectrumBalance {
        confirmed: view.confirmed + view.own_pending,
        unconfirmed: view.foreign_pending,
        unmatured: 0,
    }
}

/// The fee `tx` pays, from its prevouts on the chain.
fn fee_of(chain: &SimChainHandle, tx: &Transaction) -> u64 {
    let inputs: u64 = tx
        .input
        .iter()
        .map(|i| {
            let prev = chain.get_transaction(&i.previous_output.txid).unwrap();
            prev.output[i.previous_output.vout as usize].value.to_sat()
        })
        .sum();
    let outputs: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
    inputs - outputs
}

struct Setup {
    chain: SimChainHandle,
    wallet: BdkWallet,
    client: BdkElectrumClient<electrum_client::Client>,
    ours: HashSet<ScriptBuf>,
    wallet_path: String,
}

impl Setup {
    /// Waits until ElectrumX is at the chain's tip, then until BDK (synced
    /// again each round) and Electrum (at the tip, synchronized) both show
    /// what the chain's view says; then checks all three agree, and
    /// returns the balances compared.
    fn settle(
        &self,
        electrumx: &mut ElectrumX,
        electrum: &ElectrumDaemon,
        what: &str,
    ) -> (ChainView, ElectrumBalance, Balance) {
        let height = self.chain.best_block().height;
        electrumx.wait_for_height(height, LIMIT).unwrap();
        let wallet = json!(self.wallet_path);
        let start = Instant::now();
        loop {
            let view = ChainView::read(&self.chain, &self.ours);
            self.wallet.sync_electrum(&self.client).unwrap();
            let bdk = self.wallet.balance();
            let info = electrum.call("getinfo", json!({}));
            let synced = electrum.call("is_synchronized", json!({ "wallet": wallet }));
            let got = electrum.call("getbalance", json!({ "wallet": wallet }));
            let theirs = ElectrumBalance {
                confirmed: electrum_sat(&got["confirmed"]),
                unconfirmed: electrum_sat(&got["unconfirmed"]),
                unmatured: electrum_sat(&got["unmatured"]),
            };
            let at_tip = info["blockchain_height"].as_u64() == Some(u64::from(height))
                && self.wallet.best_block() == self.chain.best_block();
            let done = at_tip
                && synced == json!(true)
                && bdk_observed(&bdk) == bdk_expected(&view)
                && theirs == electrum_expected(&view);
            if done || start.elapsed() > LIMIT {
                eprintln!(
                    "{what} (height {height}, settled in {:?}): chain {view:?}\n  Electrum getbalance {got} = {theirs:?}\n  BDK {bdk:?}",
                    start.elapsed()
                );
                assert!(
                    at_tip && synced == json!(true),
                    "{what}: not synced in {LIMIT:?} (Electrum getinfo {info}, is_synchronized {synced}; BDK at {:?}, chain at {:?})\n{}",
                    self.wallet.best_block(),
                    self.chain.best_block(),
                    electrum.log_tail(60)
                );
                // Each wallet against the chain's own view...
                assert_eq!(
                    bdk_observed(&bdk),
                    bdk_expected(&view),
                    "{what}: BDK (confirmed, trusted pending, untrusted pending, immature) against the chain"
                );
                assert_eq!(
                    theirs,
                    electrum_expected(&view),
                    "{what}: Electrum against the chain\n{}",
                    electrum.log_tail(60)
                );
                // ...and against each other, to the satoshi.
                assert_eq!(
                    theirs.confirmed,
                    (bdk.confirmed + bdk.trusted_pending).to_sat()
                );
                assert_eq!(theirs.unconfirmed, bdk.untrusted_pending.to_sat());
                assert_eq!(theirs.confirmed + theirs.unconfirmed, bdk.total().to_sat());
                return (view, theirs, bdk);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn electrum_restores_our_wallet_and_agrees_on_its_balance() {
    let test = "electrum_restores_our_wallet_and_agrees_on_its_balance";
    let Some(electrumx_program) = ElectrumX::locate(test) else {
        return;
    };
    let Some((python, launcher)) = daemon::locate(test) else {
        return;
    };
    let started = Instant::now();
    let chain = SimChainHandle::new();
    chain.with(|c| c.use_wall_clock(true));
    let miner = ScriptBuf::from_bytes(vec![0x51]);
    let elsewhere = ScriptBuf::from_bytes(vec![0x52]);
    let funder = SimWallet::from_seed([7; 32], chain.clone());
    chain.mine_blocks(10, &funder.script_pubkey());
    chain.mine_blocks(100, &miner);

    let rpc = RpcServer::start(chain.clone(), Credentials::new("u", "p"), "127.0.0.1:0").unwrap();
    let mut electrumx = ElectrumX::start(&electrumx_program, &rpc).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wallet = BdkWallet::open(&SEED, Network::Regtest, &dir.path().join("wallet")).unwrap();
    let client = BdkElectrumClient::new(electrum_client::Client::new(&electrumx.url()).unwrap());

    // Our scripts, derived here from the account key Electrum is given.
    let account = account_xpub(&SEED);
    let ours: HashSet<ScriptBuf> = (0..SCAN)
        .flat_map(|i| [script_at(&account, 0, i), script_at(&account, 1, i)])
        .collect();
    let addresses: Vec<Address> = (0..5).map(|_| wallet.new_address().unwrap()).collect();
    for (i, address) in (0u32..).zip(&addresses) {
        assert_eq!(address.script_pubkey(), script_at(&account, 0, i));
    }

    // Five payments on four addresses (the first reused), in two blocks.
    let payments: [(usize, u64); 5] = [
        (0, 1_000_000),
        (1, 2_500_000),
        (2, 700_000),
        (0, 300_000),
        (3, 4_200_000),
    ];
    for (n, (i, sat)) in payments.iter().enumerate() {
        funder
            .send(Amount::from_sat(*sat), &addresses[*i].script_pubkey())
            .unwrap();
        if n == 2 {
            chain.mine_blocks(1, &miner);
        }
    }
    chain.mine_blocks(1, &miner);
    let received: u64 = payments.iter().map(|(_, s)| s).sum();
    electrumx
        .wait_for_height(chain.best_block().height, LIMIT)
        .unwrap();
    wallet.sync_electrum(&client).unwrap();
    assert_eq!(wallet.balance().confirmed.to_sat(), received);

    // A send elsewhere, confirmed, with change.
    let sent_confirmed = 3_000_000;
    let send1 = wallet
        .send(
            Amount::from_sat(sent_confirmed),
            &elsewhere,
            FeeRate::from_sat_per_kw(1000),
        )
        .unwrap();
    chain.submit_transaction(send1.clone()).unwrap();
    let fee1 = fee_of(&chain, &send1);
    chain.mine_blocks(1, &miner);
    electrumx
        .wait_for_height(chain.best_block().height, LIMIT)
        .unwrap();
    wallet.sync_electrum(&client).unwrap();

    // Left in the mempool: another send (its change ours and pending) and,
    // after it, a payment to a fifth address.
    let sent_pending = 1_234_567;
    let send2 = wallet
        .send(
            Amount::from_sat(sent_pending),
            &elsewhere,
            FeeRate::from_sat_per_kw(1000),
        )
        .unwrap();
    chain.submit_transaction(send2.clone()).unwrap();
    let fee2 = fee_of(&chain, &send2);
    let incoming_pending = 654_321;
    funder
        .send(
            Amount::from_sat(incoming_pending),
            &addresses[4].script_pubkey(),
        )
        .unwrap();
    let change: Vec<ScriptBuf> = [&send1, &send2]
        .iter()
        .flat_map(|tx| tx.output.iter())
        .filter(|o| o.script_pubkey != elsewhere)
        .map(|o| o.script_pubkey.clone())
        .collect();
    assert_eq!(change.len(), 2, "each send has change");
    for script in &change {
        assert!(ours.contains(script), "the change is on our account");
    }

    // Electrum, restoring the account watching-only from its vpub.
    let mut electrum = ElectrumDaemon::start(
        &python,
        &launcher,
        electrumx.addr(),
        &ElectrumOptions::default(),
    )
    .unwrap();
    let wallet_path = electrum
        .dir()
        .join("data/regtest/wallets/ours_bip84")
        .to_string_lossy()
        .into_owned();
    let key = vpub(&account);
    eprintln!("our account m/84'/1'/0': {key}");
    let restored = electrum.call(
        "restore",
        json!({ "text": key, "wallet_path": wallet_path, "encrypt_file": false }),
    );
    eprintln!("electrum restore: {restored}");
    assert_eq!(
        electrum.call("load_wallet", json!({ "wallet_path": wallet_path })),
        json!(true)
    );
    let setup = Setup {
        chain: chain.clone(),
        wallet,
        client,
        ours,
        wallet_path: wallet_path.clone(),
    };

    let (view, theirs, bdk) = setup.settle(&mut electrumx, &electrum, "with two in the mempool");
    assert!(electrum.is_running());
    // The test's own bookkeeping, a third time.
    let total = received + incoming_pending - sent_confirmed - fee1 - sent_pending - fee2;
    assert_eq!(
        view.confirmed + view.own_pending + view.foreign_pending,
        total
    );
    assert_eq!(view.foreign_pending, incoming_pending);
    assert!(view.own_pending > 0 && theirs.unconfirmed > 0 && bdk.trusted_pending > Amount::ZERO);
    // Electrum knows our addresses in our order.
    let listed = electrum.call(
        "listaddresses",
        json!({ "receiving": true, "wallet": wallet_path }),
    );
    let listed: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let ours_listed: Vec<String> = addresses.iter().map(Address::to_string).collect();
    assert_eq!(listed[..addresses.len()], ours_listed[..]);
    for script in &change {
        let address = Address::from_script(script, Network::Regtest).unwrap();
        let mine = electrum.call(
            "ismine",
            json!({ "address": address.to_string(), "wallet": wallet_path }),
        );
        assert_eq!(mine, json!(true), "Electrum owns our change {address}");
    }

    // One block confirms both; compared again.
    chain.mine_blocks(1, &miner);
    assert!(chain.mempool().is_empty());
    let (view, theirs, bdk) = setup.settle(&mut electrumx, &electrum, "all confirmed");
    assert_eq!(view.confirmed, total);
    assert_eq!(theirs.confirmed, total);
    assert_eq!(bdk.confirmed.to_sat(), total);
    assert_eq!(theirs.unconfirmed, 0);
    assert_eq!(bdk.trusted_pending + bdk.untrusted_pending, Amount::ZERO);
    assert!(electrum.is_running());
    assert!(chain.rejections().is_empty(), "{:?}", chain.rejections());
    eprintln!("took {:?}", started.elapsed());
}
