//! The node's on-chain wallet: P2WPKH keys from the seed
//! (`KeysManager::wallet_key`), coins found by scanning the blocks the
//! runtime connects, funding and withdrawal transactions signed here.
//!
//! Key 0 is the script cooperative closes and sweeps pay to (the node's
//! default shutdown script), so what a channel returns lands here. The
//! wallet follows [`LOOKAHEAD`] keys past the last address handed out.
//! Its state (addresses handed out, coins and their heights) is one
//! record of the store, written after each chain sync.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Message, PublicKey, SecretKey, SECP256K1};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    Address, Amount, Block, CompressedPublicKey, Network, OutPoint, ScriptBuf, Sequence,
    Transaction, TxIn, TxOut, Witness,
};
use lightning_chain::wallet::{
    select_coins, CoinSelectionRequest, WalletUtxo, P2WPKH_SATISFACTION_WEIGHT,
};
use lightning_chain::FeeRate;
use lightning_core::keys::KeysManager;
use serde::{Deserialize, Serialize};

/// Keys followed past the last address handed out.
pub const LOOKAHEAD: u32 = 20;

/// Coinbase outputs are spendable after this many confirmations.
const COINBASE_MATURITY: u32 = 100;

/// Spent coins are kept this many blocks (a reorg may unspend them).
const KEEP_SPENT: u32 = 144;

/// Why the wallet could not build a transaction.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// Not enough confirmed coins.
    #[error("insufficient funds: {0}")]
    InsufficientFunds(String),
    /// A key could not be derived or an input not signed.
    #[error("wallet: {0}")]
    Internal(String),
}

/// One coin of the wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coin {
    /// Where it is.
    pub outpoint: OutPoint,
    /// The output.
    pub txout: TxOut,
    /// The key index its script belongs to.
    pub key_index: u32,
    /// The height of the block it confirmed in.
    pub height: u32,
    /// A coinbase output (spendable after 100 confirmations).
    pub coinbase: bool,
    /// Spent in the block at this height.
    pub spent_height: Option<u32>,
    /// Spent by a transaction of ours not confirmed yet.
    pub reserved: bool,
}

/// One saved coin: `txid:vout`, value, script hex, key index, height,
/// coinbase, spent height, reserved.
type SavedCoin = (String, u64, String, u32, u32, bool, Option<u32>, bool);

/// The wallet's persisted state.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    next_index: u32,
    coins: Vec<SavedCoin>,
}

/// See the [module documentation](self).
pub struct OnchainWallet {
    keys: Arc<KeysManager>,
    network: Network,
    next_index: u32,
    scripts: HashMap<ScriptBuf, u32>,
    coins: BTreeMap<OutPoint, Coin>,
    height: u32,
}

impl std::fmt::Debug for OnchainWallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnchainWallet")
            .field("next_index", &self.next_index)
            .field("coins", &self.coins.len())
            .finish_non_exhaustive()
    }
}

impl OnchainWallet {
    /// An empty wallet over `keys`.
    pub fn new(keys: Arc<KeysManager>, network: Network) -> Result<Self, WalletError> {
        let mut w = OnchainWallet {
            keys,
            network,
            next_index: 0,
            scripts: HashMap::new(),
            coins: BTreeMap::new(),
            height: 0,
        };
        w.extend_scripts()?;
        Ok(w)
    }

    fn key(&self, index: u32) -> Result<SecretKey, WalletError> {
        self.keys
            .wallet_key(index)
            .map_err(|e| WalletError::Internal(e.to_string()))
    }

    fn script_of(&self, index: u32) -> Result<ScriptBuf, WalletError> {
        let pk = CompressedPublicKey(PublicKey::from_secret_key(SECP256K1, &self.key(index)?));
        Ok(ScriptBuf::new_p2wpkh(&pk.wpubkey_hash()))
    }

    fn extend_scripts(&mut self) -> Result<(), WalletError> {
        for i in 0..=self.next_index.saturating_add(LOOKAHEAD) {
            if !self.scripts.values().any(|v| *v == i) {
                let s = self.script_of(i)?;
                self.scripts.insert(s, i);
            }
        }
        Ok(())
    }

    /// A fresh receiving address (bech32 P2WPKH).
    pub fn new_address(&mut self) -> Result<Address, WalletError> {
        self.next_index = self.next_index.saturating_add(1);
        self.extend_scripts()?;
        let script = self.script_of(self.next_index)?;
        Address::from_script(&script, self.network)
            .map_err(|e| WalletError::Internal(e.to_string()))
    }

    /// The address of `script`, for display.
    pub fn address_of(&self, script: &ScriptBuf) -> String {
        Address::from_script(script, self.network)
            .map(|a| a.to_string())
            .unwrap_or_default()
    }

    /// Every coin not spent in a block (reserved ones included).
    pub fn coins(&self) -> Vec<Coin> {
        self.coins
            .values()
            .filter(|c| c.spent_height.is_none())
            .cloned()
            .collect()
    }

    fn is_spendable(&self, c: &Coin) -> bool {
        let depth = self.height.saturating_sub(c.height).saturating_add(1);
        c.spent_height.is_none() && !c.reserved && (!c.coinbase || depth >= COINBASE_MATURITY)
    }

    /// (confirmed and spendable, immature or reserved) in satoshis.
    pub fn balance(&self) -> (u64, u64) {
        let mut spendable = 0u64;
        let mut other = 0u64;
        for c in self.coins.values().filter(|c| c.spent_height.is_none()) {
            if self.is_spendable(c) {
                spendable = spendable.saturating_add(c.txout.value.to_sat());
            } else {
                other = other.saturating_add(c.txout.value.to_sat());
            }
        }
        (spendable, other)
    }

    /// The height of the last block connected.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Scans a connected block.
    pub fn block_connected(&mut self, block: &Block, height: u32) {
        self.height = height;
        self.scan(block.txdata.iter(), height);
    }

    /// Transactions a light client reports confirmed at `height` (those
    /// touching [`scripts`](Self::scripts)).
    pub fn transactions_confirmed(&mut self, txs: &[&Transaction], height: u32) {
        self.scan(txs.iter().copied(), height);
    }

    /// A light client's new tip.
    pub fn best_block_updated(&mut self, height: u32) {
        self.height = height;
    }

    /// The scripts the wallet receives on (every address handed out and
    /// a lookahead past them): what a light client watches for it.
    pub fn scripts(&self) -> Vec<ScriptBuf> {
        self.scripts.keys().cloned().collect()
    }

    fn scan<'a>(&mut self, txs: impl Iterator<Item = &'a Transaction>, height: u32) {
        for tx in txs {
            for input in &tx.input {
                if let Some(c) = self.coins.get_mut(&input.previous_output) {
                    c.spent_height = Some(height);
                    c.reserved = false;
                }
            }
            let txid = tx.compute_txid();
            for (vout, out) in tx.output.iter().enumerate() {
                if let Some(index) = self.scripts.get(&out.script_pubkey) {
                    let outpoint = OutPoint {
                        txid,
                        vout: vout as u32,
                    };
                    self.coins.insert(
                        outpoint,
                        Coin {
                            outpoint,
                            txout: out.clone(),
                            key_index: *index,
                            height,
                            coinbase: tx.is_coinbase(),
                            spent_height: None,
                            reserved: false,
                        },
                    );
                }
            }
        }
        self.coins.retain(|_, c| {
            c.spent_height
                .is_none_or(|h| height.saturating_sub(h) < KEEP_SPENT)
        });
    }

    /// Undoes the block at `height` (a reorg).
    pub fn block_disconnected(&mut self, height: u32) {
        self.coins.retain(|_, c| c.height < height);
        for c in self.coins.values_mut() {
            if c.spent_height.is_some_and(|h| h >= height) {
                c.spent_height = None;
            }
        }
        self.height = height.saturating_sub(1);
    }

    /// Builds and signs a transaction paying `outputs` (no change output
    /// when `sweep` takes every coin to the first output). Reserves its
    /// inputs.
    pub fn build(
        &mut self,
        outputs: Vec<TxOut>,
        feerate: FeeRate,
        sweep: bool,
    ) -> Result<Transaction, WalletError> {
        let utxos: Vec<WalletUtxo> = self
            .coins
            .values()
            .filter(|c| self.is_spendable(c))
            .map(|c| WalletUtxo {
                outpoint: c.outpoint,
                txout: c.txout.clone(),
                satisfaction_weight: P2WPKH_SATISFACTION_WEIGHT,
            })
            .collect();
        let (inputs, outputs) = if sweep {
            let mut outputs = outputs;
            let total: u64 = utxos.iter().map(|u| u.txout.value.to_sat()).sum();
            let weight: u64 = tx_weight(utxos.len(), &outputs);
            let fee = feerate
                .fee_for_weight_rounded_up(bitcoin::Weight::from_wu(weight))
                .ok_or_else(|| WalletError::Internal("fee overflow".into()))?;
            let first = outputs
                .first_mut()
                .ok_or_else(|| WalletError::Internal("no output".into()))?;
            let value = total
                .checked_sub(fee.to_sat())
                .filter(|v| *v >= first.script_pubkey.minimal_non_dust().to_sat())
                .ok_or_else(|| {
                    WalletError::InsufficientFunds(format!(
                        "{total} sat cannot pay the {} sat fee",
                        fee.to_sat()
                    ))
                })?;
            first.value = Amount::from_sat(value);
            (utxos, outputs)
        } else {
            let out_value: u64 = outputs.iter().map(|o| o.value.to_sat()).sum();
            let request = CoinSelectionRequest {
                base_weight: tx_weight(0, &outputs),
                base_inputs: 0,
                base_outputs: outputs.len(),
                fixed_input_value: Amount::ZERO,
                fixed_output_value: Amount::from_sat(out_value),
                feerate,
                extra_fee: Amount::ZERO,
                min_fee: Amount::ZERO,
                change_script: self.script_of(0)?,
                change_required: false,
            };
            let sel = select_coins(&utxos, &request)
                .map_err(|e| WalletError::InsufficientFunds(e.to_string()))?;
            let mut outputs = outputs;
            if let Some(change) = sel.change {
                outputs.push(change);
            }
            (sel.inputs, outputs)
        };
        if inputs.is_empty() {
            return Err(WalletError::InsufficientFunds("no confirmed coins".into()));
        }
        let mut tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::from_height(self.height).unwrap_or(LockTime::ZERO),
            input: inputs
                .iter()
                .map(|u| TxIn {
                    previous_output: u.outpoint,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                    witness: Witness::new(),
                })
                .collect(),
            output: outputs,
        };
        let mut witnesses = Vec::with_capacity(inputs.len());
        {
            let mut cache = SighashCache::new(&tx);
            for (i, u) in inputs.iter().enumerate() {
                let index = self
                    .coins
                    .get(&u.outpoint)
                    .map(|c| c.key_index)
                    .ok_or_else(|| WalletError::Internal("coin vanished".into()))?;
                let key = self.key(index)?;
                let hash = cache
                    .p2wpkh_signature_hash(
                        i,
                        &u.txout.script_pubkey,
                        u.txout.value,
                        EcdsaSighashType::All,
                    )
                    .map_err(|e| WalletError::Internal(e.to_string()))?;
                let sig = SECP256K1.sign_ecdsa(&Message::from_digest(hash.to_byte_array()), &key);
                let pk = CompressedPublicKey(PublicKey::from_secret_key(SECP256K1, &key));
                witnesses.push(Witness::p2wpkh(
                    &bitcoin::ecdsa::Signature::sighash_all(sig),
                    &pk.0,
                ));
            }
        }
        for (input, w) in tx.input.iter_mut().zip(witnesses) {
            input.witness = w;
        }
        for u in &inputs {
            if let Some(c) = self.coins.get_mut(&u.outpoint) {
                c.reserved = true;
            }
        }
        Ok(tx)
    }

    /// Releases the coins `tx` reserved (it was not used).
    pub fn release(&mut self, tx: &Transaction) {
        for input in &tx.input {
            if let Some(c) = self.coins.get_mut(&input.previous_output) {
                c.reserved = false;
            }
        }
    }

    /// The state as bytes for the store.
    pub fn encode(&self) -> Vec<u8> {
        let saved = Saved {
            next_index: self.next_index,
            coins: self
                .coins
                .values()
                .map(|c| {
                    (
                        c.outpoint.to_string(),
                        c.txout.value.to_sat(),
                        hex::encode(c.txout.script_pubkey.as_bytes()),
                        c.key_index,
                        c.height,
                        c.coinbase,
                        c.spent_height,
                        c.reserved,
                    )
                })
                .collect(),
        };
        serde_json::to_vec(&saved).unwrap_or_default()
    }

    /// Restores the state [`encode`](Self::encode) wrote.
    pub fn restore(&mut self, bytes: &[u8], height: u32) -> Result<(), WalletError> {
        let saved: Saved =
            serde_json::from_slice(bytes).map_err(|e| WalletError::Internal(e.to_string()))?;
        self.next_index = saved.next_index;
        self.extend_scripts()?;
        self.height = height;
        for (op, value, script, key_index, h, coinbase, spent, reserved) in saved.coins {
            let outpoint: OutPoint = op
                .parse()
                .map_err(|_| WalletError::Internal(format!("bad outpoint {op}")))?;
            let script = hex::decode(&script).map_err(|e| WalletError::Internal(e.to_string()))?;
            self.coins.insert(
                outpoint,
                Coin {
                    outpoint,
                    txout: TxOut {
                        value: Amount::from_sat(value),
                        script_pubkey: ScriptBuf::from_bytes(script),
                    },
                    key_index,
                    height: h,
                    coinbase,
                    spent_height: spent,
                    reserved,
                },
            );
        }
        Ok(())
    }

    /// Outpoints of unspent coins (for tests and `listfunds`).
    pub fn outpoints(&self) -> BTreeSet<OutPoint> {
        self.coins
            .values()
            .filter(|c| c.spent_height.is_none())
            .map(|c| c.outpoint)
            .collect()
    }
}

/// An upper bound of the weight of a segwit transaction with `inputs`
/// P2WPKH inputs and `outputs`.
fn tx_weight(inputs: usize, outputs: &[TxOut]) -> u64 {
    let outs: u64 = outputs.iter().map(|o| o.size() as u64).sum();
    // version, locktime, input and output counts (one byte each below 253).
    let base = 4 + 4 + 1 + 1 + outs;
    // marker and flag.
    let mut weight = base * 4 + 2;
    // outpoint, empty scriptSig, sequence; the witness.
    weight += inputs as u64 * ((32 + 4 + 1 + 4) * 4 + P2WPKH_SATISFACTION_WEIGHT);
    weight
}
