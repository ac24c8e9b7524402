//! The host's on-chain wallet for the Lightning SDK, built on BDK
//! (`bdk_wallet` 3).
//!
//! [`BdkWallet`] is a BIP 84 descriptor wallet (P2WPKH, `m/84'/c'/0'/0/*`
//! for receiving and `m/84'/c'/0'/1/*` for change, `c` = 0 on mainnet and 1
//! elsewhere) derived from a seed, persisted to a file with BDK's file store
//! after every change. It gives a node what it needs from a wallet:
//!
//! - receive addresses ([`BdkWallet::new_address`]) and a balance
//!   ([`BdkWallet::balance`]);
//! - channel funding: a signed transaction paying a given script and amount
//!   at a fee rate ([`BdkWallet::fund`], for `Event::FundingNeeded`), whose
//!   coins stay reserved until it confirms or [`BdkWallet::release`] gives
//!   them back;
//! - a sweep destination: set `NodeConfig::shutdown_script` to one of its
//!   addresses, and cooperative closes and BOLT 5 sweeps pay the wallet;
//! - the [`lightning_chain::Wallet`] trait the node's fee bumping uses
//!   (confirmed coins, a change script, witnesses for its inputs);
//! - sending on chain ([`BdkWallet::send`], [`BdkWallet::send_all`]).
//!
//! It follows the chain through any full-block
//! [`ChainSource`](lightning_chain::ChainSource) with
//! [`BdkWallet::sync_blocks`] (bitcoind through `lightning-chain`'s
//! `bitcoind` adapter, or the simulated chain), through an Electrum server
//! with `bdk_electrum` (feature `electrum`, `BdkWallet::sync_electrum`)
//! or an Esplora API with `bdk_esplora` (feature `esplora`,
//! `BdkWallet::sync_esplora`).
//!
//! ```
//! use bitcoin::Network;
//! use lightning_wallet::BdkWallet;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("wallet.db");
//! let wallet = BdkWallet::open(&[7; 32], Network::Regtest, &path).unwrap();
//! let address = wallet.new_address().unwrap();
//! assert!(address.to_string().starts_with("bcrt1q"));
//! drop(wallet);
//!
//! // Reopened from its file: the same keys, the address still revealed.
//! let wallet = BdkWallet::open(&[7; 32], Network::Regtest, &path).unwrap();
//! assert!(wallet.is_mine(&address.script_pubkey()));
//! // Another seed does not open it.
//! assert!(BdkWallet::open(&[8; 32], Network::Regtest, &path).is_err());
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod keys;
mod sync;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use bdk_wallet::chain::ChainPosition;
use bdk_wallet::file_store::Store;
use bdk_wallet::{ChangeSet, KeychainKind, PersistedWallet, SignOptions, Wallet as Bdk};
use bitcoin::{Address, Amount, Network, ScriptBuf, Transaction, TxOut, Txid, Witness};
use lightning_chain::wallet::{Wallet, WalletError, WalletUtxo, P2WPKH_SATISFACTION_WEIGHT};
use lightning_chain::{BestBlock, ChainSync, FeeRate};

#[cfg(feature = "electrum")]
pub use bdk_electrum;
#[cfg(feature = "esplora")]
pub use bdk_esplora;
pub use bdk_wallet;
pub use bdk_wallet::Balance;

pub use keys::WalletKeys;

/// The file store's magic bytes (the first bytes of the file).
const MAGIC: &[u8] = b"lightning-wallet-bdk-v1";

/// Coinbase outputs may be spent by a transaction in a block at least this
/// many blocks above theirs (Core's `COINBASE_MATURITY`).
const COINBASE_MATURITY: u32 = 100;

/// Why the wallet failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BdkWalletError {
    /// The wallet file could not be read or written.
    #[error("wallet store: {0}")]
    Store(String),
    /// The file holds another wallet (other keys or network) or could not
    /// be loaded.
    #[error("loading the wallet: {0}")]
    Load(String),
    /// The descriptors could not be built from the seed.
    #[error("keys: {0}")]
    Keys(String),
    /// Building the transaction failed (not enough coins, among others).
    #[error("building the transaction: {0}")]
    CreateTx(String),
    /// Signing failed, or left inputs unsigned.
    #[error("signing: {0}")]
    Sign(String),
    /// The chain source failed or served something that does not connect.
    #[error("sync: {0}")]
    Sync(String),
}

impl From<BdkWalletError> for WalletError {
    fn from(e: BdkWalletError) -> Self {
        WalletError::Unavailable(e.to_string())
    }
}

struct Inner {
    wallet: PersistedWallet<Store<ChangeSet>>,
    store: Store<ChangeSet>,
    /// The full-block sync driver, from the wallet's latest checkpoint.
    sync: ChainSync,
}

impl Inner {
    fn persist(&mut self) -> Result<(), BdkWalletError> {
        self.wallet
            .persist(&mut self.store)
            .map(|_| ())
            .map_err(|e| BdkWalletError::Store(e.to_string()))
    }

    fn tip(&self) -> BestBlock {
        let cp = self.wallet.latest_checkpoint();
        BestBlock::new(cp.hash(), cp.height())
    }

    /// The driver restarts from the wallet's checkpoint (after a sync by
    /// another source, or a failed one).
    fn reset_sync(&mut self) {
        self.sync = ChainSync::new(self.tip());
    }
}

/// A BIP 84 BDK wallet persisted to a file; see the [crate documentation](crate).
///
/// Every method takes `&self` (one lock inside), so a host shares it (an
/// `Arc`) between its funding, its sync and the node's fee bumping.
pub struct BdkWallet {
    inner: Mutex<Inner>,
    keys: WalletKeys,
}

impl std::fmt::Debug for BdkWallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BdkWallet")
            .field("network", &self.keys.network())
            .finish_non_exhaustive()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Our fee rate (sat per 1000 weight) in BDK's type.
fn bdk_feerate(rate: FeeRate) -> bitcoin::FeeRate {
    bitcoin::FeeRate::from_sat_per_kwu(u64::from(rate.sat_per_kw()))
}

impl BdkWallet {
    /// Opens the wallet of `seed` on `network` stored at `path`, creating
    /// the file if it does not exist. A file made with other keys or for
    /// another network is refused ([`BdkWalletError::Load`]).
    pub fn open(seed: &[u8], network: Network, path: &Path) -> Result<Self, BdkWalletError> {
        let keys = WalletKeys::from_seed(seed, network)?;
        let (external, internal) = keys.descriptors();
        let (mut store, _) = Store::<ChangeSet>::load_or_create(MAGIC, path)
            .map_err(|e| BdkWalletError::Store(e.to_string()))?;
        let loaded = Bdk::load()
            .descriptor(KeychainKind::External, Some(external.clone()))
            .descriptor(KeychainKind::Internal, Some(internal.clone()))
            .check_network(network)
            .load_wallet(&mut store)
            .map_err(|e| BdkWalletError::Load(e.to_string()))?;
        let wallet = match loaded {
            Some(wallet) => wallet,
            None => Bdk::create(external, internal)
                .network(network)
                .create_wallet(&mut store)
                .map_err(|e| BdkWalletError::Load(e.to_string()))?,
        };
        let cp = wallet.latest_checkpoint();
        let sync = ChainSync::new(BestBlock::new(cp.hash(), cp.height()));
        Ok(BdkWallet {
            inner: Mutex::new(Inner {
                wallet,
                store,
                sync,
            }),
            keys,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The network.
    pub fn network(&self) -> Network {
        self.keys.network()
    }

    /// A new receive address (the next index of the external keychain,
    /// never returned before), persisted before it is returned.
    pub fn new_address(&self) -> Result<Address, BdkWalletError> {
        let mut inner = self.lock();
        let info = inner.wallet.reveal_next_address(KeychainKind::External);
        inner.persist()?;
        Ok(info.address)
    }

    /// Whether `script` is one of the wallet's (revealed or within its
    /// lookahead).
    pub fn is_mine(&self, script: &ScriptBuf) -> bool {
        self.lock().wallet.is_mine(script.clone())
    }

    /// The balance: confirmed (spendable now), pending (unconfirmed, our
    /// own change counted as trusted) and immature coinbase.
    pub fn balance(&self) -> Balance {
        self.lock().wallet.balance()
    }

    /// The block the wallet has synced to.
    pub fn best_block(&self) -> BestBlock {
        self.lock().tip()
    }

    /// The wallet's transaction `txid`, if it has one.
    pub fn transaction(&self, txid: &Txid) -> Option<Transaction> {
        self.lock()
            .wallet
            .get_tx(*txid)
            .map(|t| t.tx_node.tx.as_ref().clone())
    }

    /// A signed transaction paying `amount` to `script` at `feerate` (sat
    /// per 1000 weight), from confirmed and unconfirmed coins, with change
    /// back to the wallet: the funding transaction of a channel
    /// (`Event::FundingNeeded` gives the amount and script; BOLT 2 wants
    /// every input segwit, which a P2WPKH wallet's are). The transaction
    /// is recorded as pending, so its coins are not offered again; give it
    /// back with [`release`](Self::release) if it is never broadcast.
    pub fn fund(
        &self,
        amount: Amount,
        script: &ScriptBuf,
        feerate: FeeRate,
    ) -> Result<Transaction, BdkWalletError> {
        self.build_and_sign(feerate, |b| {
            b.add_recipient(script.clone(), amount);
        })
    }

    /// Sends `amount` to `script` at `feerate` (as [`fund`](Self::fund));
    /// the caller broadcasts the transaction.
    pub fn send(
        &self,
        amount: Amount,
        script: &ScriptBuf,
        feerate: FeeRate,
    ) -> Result<Transaction, BdkWalletError> {
        self.fund(amount, script, feerate)
    }

    /// Sends everything the wallet has (confirmed and mature) to `script`
    /// at `feerate`; the caller broadcasts the transaction.
    pub fn send_all(
        &self,
        script: &ScriptBuf,
        feerate: FeeRate,
    ) -> Result<Transaction, BdkWalletError> {
        self.build_and_sign(feerate, |b| {
            b.drain_wallet().drain_to(script.clone());
        })
    }

    fn build_and_sign(
        &self,
        feerate: FeeRate,
        f: impl FnOnce(
            &mut bdk_wallet::TxBuilder<
                '_,
                bdk_wallet::coin_selection::DefaultCoinSelectionAlgorithm,
            >,
        ),
    ) -> Result<Transaction, BdkWalletError> {
        let mut inner = self.lock();
        let mut psbt = {
            let mut builder = inner.wallet.build_tx();
            builder.fee_rate(bdk_feerate(feerate.at_least_floor()));
            f(&mut builder);
            builder
                .finish()
                .map_err(|e| BdkWalletError::CreateTx(e.to_string()))?
        };
        // BIP 174 signing with our master key (BDK filled in every
        // input's BIP 32 path), then BDK's finalizer.
        psbt.sign(self.keys.master(), inner.wallet.secp_ctx())
            .map_err(|(_, errors)| BdkWalletError::Sign(format!("{errors:?}")))?;
        let finalized = inner
            .wallet
            .finalize_psbt(&mut psbt, SignOptions::default())
            .map_err(|e| BdkWalletError::Sign(e.to_string()))?;
        if !finalized {
            return Err(BdkWalletError::Sign("inputs left unsigned".into()));
        }
        let tx = psbt
            .extract_tx()
            .map_err(|e| BdkWalletError::Sign(e.to_string()))?;
        // Pending from now on: its inputs are spent, its change ours.
        inner
            .wallet
            .apply_unconfirmed_txs([(tx.clone(), unix_now())]);
        inner.persist()?;
        Ok(tx)
    }

    /// Gives back the coins of a transaction made by [`fund`](Self::fund)
    /// that will never be broadcast (the channel open failed). Does
    /// nothing to a confirmed transaction.
    pub fn release(&self, tx: &Transaction) -> Result<(), BdkWalletError> {
        let mut inner = self.lock();
        inner
            .wallet
            .apply_evicted_txs([(tx.compute_txid(), unix_now())]);
        inner.persist()
    }

    /// Records a transaction the host broadcast that touches the wallet
    /// (for example the node's sweep, before it confirms).
    pub fn transaction_broadcast(&self, tx: &Transaction) -> Result<(), BdkWalletError> {
        let mut inner = self.lock();
        inner
            .wallet
            .apply_unconfirmed_txs([(tx.clone(), unix_now())]);
        inner.persist()
    }
}

impl Wallet for BdkWallet {
    /// Confirmed, mature, unspent coins (coins a pending transaction of the
    /// wallet spends are left out).
    fn confirmed_utxos(&self) -> Result<Vec<WalletUtxo>, WalletError> {
        let inner = self.lock();
        let wallet = &inner.wallet;
        let tip = wallet.latest_checkpoint().height();
        let mut coins = Vec::new();
        for utxo in wallet.list_unspent() {
            let ChainPosition::Confirmed { anchor, .. } = utxo.chain_position else {
                continue;
            };
            let height = anchor.block_id.height;
            let coinbase = wallet
                .get_tx(utxo.outpoint.txid)
                .is_some_and(|t| t.tx_node.tx.is_coinbase());
            // Spendable in the next block (`tip + 1`).
            if coinbase && (tip + 1).saturating_sub(height) < COINBASE_MATURITY {
                continue;
            }
            if wallet.is_outpoint_locked(utxo.outpoint) {
                continue;
            }
            coins.push(WalletUtxo {
                outpoint: utxo.outpoint,
                txout: utxo.txout,
                satisfaction_weight: P2WPKH_SATISFACTION_WEIGHT,
            });
        }
        Ok(coins)
    }

    fn change_script(&self) -> Result<ScriptBuf, WalletError> {
        let mut inner = self.lock();
        let info = inner.wallet.next_unused_address(KeychainKind::Internal);
        inner.persist()?;
        Ok(info.address.script_pubkey())
    }

    fn sign_wallet_inputs(
        &self,
        tx: &Transaction,
        prevouts: &[TxOut],
    ) -> Result<Vec<(usize, Witness)>, WalletError> {
        if prevouts.len() != tx.input.len() {
            return Err(WalletError::Signing {
                input: prevouts.len().min(tx.input.len()),
                reason: "one previous output per input is needed".into(),
            });
        }
        let owned: Vec<(usize, KeychainKind, u32)> = {
            let inner = self.lock();
            prevouts
                .iter()
                .enumerate()
                .filter_map(|(i, prevout)| {
                    inner
                        .wallet
                        .derivation_of_spk(prevout.script_pubkey.clone())
                        .map(|(k, index)| (i, k, index))
                })
                .collect()
        };
        owned
            .into_iter()
            .map(|(i, keychain, index)| {
                self.keys
                    .sign_p2wpkh(tx, i, &prevouts[i], keychain, index)
                    .map(|w| (i, w))
                    .map_err(|reason| WalletError::Signing { input: i, reason })
            })
            .collect()
    }
}
