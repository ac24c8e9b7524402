//! A small P2WPKH wallet over the simulated chain.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{All, Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    absolute, Amount, CompressedPublicKey, OutPoint, Script, ScriptBuf, Sequence, Transaction,
    TxIn, TxOut, Txid, Witness,
};

use crate::{SimChainHandle, TxRejected, COINBASE_MATURITY};
use lightning_chain::FeeRate;

/// Why the wallet could not fund or send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// Not enough spendable coins for the amount plus fee.
    #[error("insufficient funds: need {needed}, have {available} spendable")]
    InsufficientFunds {
        /// Amount plus fee.
        needed: Amount,
        /// Spendable balance.
        available: Amount,
    },
    /// The amount or fee overflowed.
    #[error("amount out of range")]
    AmountOutOfRange,
    /// Signing failed (an internal error).
    #[error("signing failed: {0}")]
    Signing(String),
    /// The chain refused the transaction.
    #[error("the chain refused the transaction: {0}")]
    Rejected(#[from] TxRejected),
}

/// A single-key P2WPKH wallet for tests and demos. It spends its confirmed,
/// mature coins that no mempool transaction spends, largest first, pays
/// [`SimWallet::FEE_RATE`], and returns change to itself.
///
/// Coins put into a transaction by [`fund`](SimWallet::fund) are reserved
/// (not selected again) until [`release`](SimWallet::release)d, so several
/// funding transactions can be built before any is broadcast.
///
/// ```
/// use bitcoin::Amount;
/// use lightning_sim::{SimChainHandle, SimWallet};
///
/// let chain = SimChainHandle::new();
/// let wallet = SimWallet::from_seed([3; 32], chain.clone());
/// // Block 1's coinbase can be spent in block 101, the next one.
/// chain.mine_blocks(100, &wallet.script_pubkey());
/// assert_eq!(wallet.spendable_balance(), Amount::from_btc(50.0).unwrap());
///
/// let funding_script = bitcoin::ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::all_zeros());
/// # use bitcoin::hashes::Hash;
/// let tx = wallet.fund(Amount::from_sat(1_000_000), &funding_script).unwrap();
/// assert_eq!(tx.output[0].script_pubkey, funding_script);
/// chain.submit_transaction(tx).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct SimWallet {
    secret_key: SecretKey,
    public_key: CompressedPublicKey,
    script_pubkey: ScriptBuf,
    secp: Secp256k1<All>,
    chain: SimChainHandle,
    reserved: Arc<Mutex<HashSet<OutPoint>>>,
}

impl SimWallet {
    /// The fee rate of every transaction the wallet builds: 1000 sat/kw
    /// (4 sat/vbyte).
    pub const FEE_RATE: FeeRate = FeeRate::from_sat_per_kw(1000);

    /// Change below this is left to the fee rather than creating dust.
    const MIN_CHANGE: Amount = Amount::from_sat(1_000);

    /// A wallet with `secret_key` over `chain`.
    pub fn new(secret_key: SecretKey, chain: SimChainHandle) -> Self {
        let secp = Secp256k1::new();
        let public_key = CompressedPublicKey(secret_key.public_key(&secp));
        let script_pubkey = ScriptBuf::new_p2wpkh(&public_key.wpubkey_hash());
        SimWallet {
            secret_key,
            public_key,
            script_pubkey,
            secp,
            chain,
            reserved: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// A wallet whose key is derived from `seed` (SHA-256, retried in the
    /// negligible case that it is not a valid key).
    pub fn from_seed(seed: [u8; 32], chain: SimChainHandle) -> Self {
        let mut counter: u32 = 0;
        loop {
            let mut engine = sha256::Hash::engine();
            bitcoin::hashes::HashEngine::input(&mut engine, &seed);
            bitcoin::hashes::HashEngine::input(&mut engine, &counter.to_be_bytes());
            let digest = sha256::Hash::from_engine(engine);
            if let Ok(key) = SecretKey::from_slice(digest.as_byte_array()) {
                return Self::new(key, chain);
            }
            counter = counter.wrapping_add(1);
        }
    }

    /// The wallet's P2WPKH output script: mine or pay to it to fund it.
    pub fn script_pubkey(&self) -> ScriptBuf {
        self.script_pubkey.clone()
    }

    /// The wallet's public key.
    pub fn public_key(&self) -> CompressedPublicKey {
        self.public_key
    }

    /// The chain this wallet uses.
    pub fn chain(&self) -> &SimChainHandle {
        &self.chain
    }

    /// All confirmed coins paying the wallet, including immature coinbase
    /// outputs and coins spent in the mempool.
    pub fn balance(&self) -> Amount {
        self.chain.balance_of(&self.script_pubkey)
    }

    /// Coins [`fund`](SimWallet::fund) could use now.
    pub fn spendable_balance(&self) -> Amount {
        self.spendable_coins()
            .iter()
            .map(|(_, txout)| txout.value)
            .sum()
    }

    /// Builds and signs a transaction paying `amount` to `to_script` as its
    /// first output, with change (if any) second. It is not broadcast; its
    /// inputs are reserved.
    pub fn fund(&self, amount: Amount, to_script: &Script) -> Result<Transaction, WalletError> {
        // Held from coin selection to reservation, so two threads funding
        // from clones of one wallet never pick the same coin. Lock order:
        // reservations, then the chain.
        let mut reserved = self
            .reserved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let coins = self.spendable_coins_excluding(&reserved);
        let available: Amount = coins.iter().map(|(_, txout)| txout.value).sum();
        let payment = TxOut {
            value: amount,
            script_pubkey: to_script.to_owned(),
        };
        let mut tx = Transaction {
            version: Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: Vec::new(),
            output: vec![payment],
        };
        let mut selected: Vec<TxOut> = Vec::new();
        let mut total = Amount::ZERO;
        let mut done = false;
        let mut needed = amount;
        for (outpoint, txout) in coins {
            total = total
                .checked_add(txout.value)
                .ok_or(WalletError::AmountOutOfRange)?;
            tx.input.push(TxIn {
                previous_output: outpoint,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Self::placeholder_witness(),
            });
            selected.push(txout);

            let change = TxOut {
                value: Amount::ZERO,
                script_pubkey: self.script_pubkey.clone(),
            };
            let mut with_change = tx.clone();
            with_change.output.push(change);
            let fee_with_change = self.fee(&with_change)?;
            let fee_without = self.fee(&tx)?;
            needed = amount
                .checked_add(fee_without)
                .ok_or(WalletError::AmountOutOfRange)?;
            let change_value = total
                .checked_sub(amount)
                .and_then(|rest| rest.checked_sub(fee_with_change))
                .filter(|change| *change >= Self::MIN_CHANGE);
            if let Some(value) = change_value {
                tx = with_change;
                if let Some(change) = tx.output.last_mut() {
                    change.value = value;
                }
                done = true;
                break;
            }
            if total >= needed {
                done = true;
                break;
            }
        }
        if !done {
            return Err(WalletError::InsufficientFunds { needed, available });
        }
        self.sign(&mut tx, &selected)?;
        reserved.extend(tx.input.iter().map(|txin| txin.previous_output));
        Ok(tx)
    }

    /// [`fund`](SimWallet::fund), then submit to the chain's mempool.
    pub fn send(&self, amount: Amount, to_script: &Script) -> Result<Txid, WalletError> {
        let tx = self.fund(amount, to_script)?;
        match self.chain.submit_transaction(tx.clone()) {
            Ok(txid) => Ok(txid),
            Err(err) => {
                self.release(&tx);
                Err(err.into())
            }
        }
    }

    /// Un-reserves the inputs of a funded transaction that will not be
    /// broadcast.
    pub fn release(&self, tx: &Transaction) {
        let mut reserved = self
            .reserved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for txin in &tx.input {
            reserved.remove(&txin.previous_output);
        }
    }

    fn spendable_coins(&self) -> Vec<(OutPoint, TxOut)> {
        let reserved = self
            .reserved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.spendable_coins_excluding(&reserved)
    }

    fn spendable_coins_excluding(&self, reserved: &HashSet<OutPoint>) -> Vec<(OutPoint, TxOut)> {
        let chain = self.chain.lock();
        let next_height = chain.best_block().height + 1;
        let mut coins: Vec<(OutPoint, TxOut)> = chain
            .utxos_of(&self.script_pubkey)
            .into_iter()
            .filter(|(outpoint, coin)| {
                (!coin.is_coinbase || next_height - coin.height >= COINBASE_MATURITY)
                    && !reserved.contains(outpoint)
                    && chain.mempool_spender(outpoint).is_none()
            })
            .map(|(outpoint, coin)| (outpoint, coin.output))
            .collect();
        // Largest first; outpoint order breaks ties, deterministically.
        coins.sort_by(|a, b| b.1.value.cmp(&a.1.value).then(a.0.cmp(&b.0)));
        coins
    }

    fn fee(&self, tx: &Transaction) -> Result<Amount, WalletError> {
        Self::FEE_RATE
            .fee_for_weight_rounded_up(tx.weight())
            .ok_or(WalletError::AmountOutOfRange)
    }

    /// A witness as large as the real one will be at most (a 72-byte
    /// signature with its sighash byte, and a compressed key).
    fn placeholder_witness() -> Witness {
        Witness::from_slice(&[vec![0u8; 73], vec![0u8; 33]])
    }

    fn sign(&self, tx: &mut Transaction, spent: &[TxOut]) -> Result<(), WalletError> {
        let mut witnesses = Vec::with_capacity(tx.input.len());
        {
            let mut cache = SighashCache::new(&*tx);
            for (index, txout) in spent.iter().enumerate() {
                let sighash = cache
                    .p2wpkh_signature_hash(
                        index,
                        &txout.script_pubkey,
                        txout.value,
                        EcdsaSighashType::All,
                    )
                    .map_err(|e| WalletError::Signing(e.to_string()))?;
                let message = Message::from_digest(sighash.to_byte_array());
                let signature = self.secp.sign_ecdsa(&message, &self.secret_key);
                witnesses.push(Witness::p2wpkh(
                    &bitcoin::ecdsa::Signature::sighash_all(signature),
                    &self.public_key.0,
                ));
            }
        }
        for (txin, witness) in tx.input.iter_mut().zip(witnesses) {
            txin.witness = witness;
        }
        Ok(())
    }
}

/// The host wallet the node pays its fee bumps from (anchor CPFP, zero-fee
/// HTLC transactions): its spendable coins (confirmed, mature, not spent in
/// the mempool, not reserved by [`fund`](SimWallet::fund)), its own script
/// for change, and P2WPKH `SIGHASH_ALL` signatures on the inputs that spend
/// its script.
impl lightning_chain::wallet::Wallet for SimWallet {
    fn confirmed_utxos(
        &self,
    ) -> Result<Vec<lightning_chain::WalletUtxo>, lightning_chain::wallet::WalletError> {
        Ok(self
            .spendable_coins()
            .into_iter()
            .map(|(outpoint, txout)| lightning_chain::WalletUtxo {
                outpoint,
                txout,
                satisfaction_weight: lightning_chain::wallet::P2WPKH_SATISFACTION_WEIGHT,
            })
            .collect())
    }

    fn change_script(&self) -> Result<ScriptBuf, lightning_chain::wallet::WalletError> {
        Ok(self.script_pubkey.clone())
    }

    fn sign_wallet_inputs(
        &self,
        tx: &Transaction,
        prevouts: &[TxOut],
    ) -> Result<Vec<(usize, Witness)>, lightning_chain::wallet::WalletError> {
        use lightning_chain::wallet::WalletError as E;
        let mut cache = SighashCache::new(tx);
        let mut out = Vec::new();
        for (index, prevout) in prevouts.iter().enumerate().take(tx.input.len()) {
            if prevout.script_pubkey != self.script_pubkey {
                continue;
            }
            let sighash = cache
                .p2wpkh_signature_hash(
                    index,
                    &prevout.script_pubkey,
                    prevout.value,
                    EcdsaSighashType::All,
                )
                .map_err(|e| E::Signing {
                    input: index,
                    reason: e.to_string(),
                })?;
            let message = Message::from_digest(sighash.to_byte_array());
            let signature = self.secp.sign_ecdsa(&message, &self.secret_key);
            out.push((
                index,
                Witness::p2wpkh(
                    &bitcoin::ecdsa::Signature::sighash_all(signature),
                    &self.public_key.0,
                ),
            ));
        }
        Ok(out)
    }
}
