//! The host's on-chain wallet, as the node needs it to pay for its claims
//! (anchor CPFP, zero-fee HTLC transactions), and the coin selection the
//! node runs over its coins.
//!
//! The node never holds the wallet's keys: it asks the host for confirmed
//! coins ([`Wallet::confirmed_utxos`]), a change script
//! ([`Wallet::change_script`]), and signatures on the inputs that spend
//! them ([`Wallet::sign_wallet_inputs`]), which come back as witnesses per
//! input index (no PSBT). [`select_coins`] picks the coins.

use std::sync::Arc;

use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, TxOut, Witness};

/// The weight every input adds besides its satisfaction: outpoint (36
/// bytes), script length (1 byte) and `nSequence` (4 bytes), times 4.
pub const INPUT_BASE_WEIGHT: u64 = (36 + 1 + 4) * 4;

/// The satisfaction weight of a P2WPKH input: witness item count, a 73-byte
/// signature (72-byte DER maximum plus sighash flag) and a 33-byte key, each
/// with its length byte (`1 + 1 + 73 + 1 + 33`).
pub const P2WPKH_SATISFACTION_WEIGHT: u64 = 1 + 1 + 73 + 1 + 33;

/// A confirmed coin of the host's wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletUtxo {
    /// Where it is.
    pub outpoint: OutPoint,
    /// What it is: value and output script.
    pub txout: TxOut,
    /// An upper bound of the weight of what spends it: `4 x` the
    /// `scriptSig` bytes (without their length byte) plus the serialized
    /// witness (item count, items with their lengths), as
    /// [`P2WPKH_SATISFACTION_WEIGHT`] is for P2WPKH.
    pub satisfaction_weight: u64,
}

impl WalletUtxo {
    /// The weight spending it adds to a transaction.
    pub fn input_weight(&self) -> u64 {
        INPUT_BASE_WEIGHT.saturating_add(self.satisfaction_weight)
    }
}

/// Why the wallet or coin selection failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// The confirmed coins cannot pay for what is asked.
    #[error("insufficient funds: need {needed}, have {available}")]
    InsufficientFunds {
        /// What the selection needed (fee plus outputs), at least.
        needed: Amount,
        /// The value of every coin offered.
        available: Amount,
    },
    /// An amount or weight overflowed.
    #[error("amount or weight out of range")]
    Overflow,
    /// The host's wallet is not available (for example locked or offline).
    #[error("wallet unavailable: {0}")]
    Unavailable(String),
    /// The wallet was asked to sign an input it does not own.
    #[error("input {0} is not the wallet's")]
    NotOurInput(usize),
    /// Signing failed.
    #[error("signing input {input} failed: {reason}")]
    Signing {
        /// The input index.
        input: usize,
        /// Why.
        reason: String,
    },
}

/// The host's on-chain wallet, as the node uses it to pay fees.
///
/// Implemented for `&T`, `Box<T>` and `Arc<T>` of its implementors, like the
/// other host traits. It takes `&self`: a host shares it and uses interior
/// mutability.
///
/// ```
/// use lightning_chain::wallet::{Wallet, WalletError, WalletUtxo, P2WPKH_SATISFACTION_WEIGHT};
/// use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, TxOut, Witness};
///
/// /// A wallet with one coin that cannot sign (a watch-only example).
/// #[derive(Debug)]
/// struct OneCoin(WalletUtxo);
///
/// impl Wallet for OneCoin {
///     fn confirmed_utxos(&self) -> Result<Vec<WalletUtxo>, WalletError> {
///         Ok(vec![self.0.clone()])
///     }
///     fn change_script(&self) -> Result<ScriptBuf, WalletError> {
///         Ok(self.0.txout.script_pubkey.clone())
///     }
///     fn sign_wallet_inputs(
///         &self,
///         _tx: &Transaction,
///         _prevouts: &[TxOut],
///     ) -> Result<Vec<(usize, Witness)>, WalletError> {
///         Err(WalletError::Unavailable("watch-only".into()))
///     }
/// }
///
/// let coin = WalletUtxo {
///     outpoint: OutPoint::null(),
///     txout: TxOut { value: Amount::from_sat(10_000), script_pubkey: ScriptBuf::new() },
///     satisfaction_weight: P2WPKH_SATISFACTION_WEIGHT,
/// };
/// let wallet = std::sync::Arc::new(OneCoin(coin));
/// assert_eq!(wallet.confirmed_utxos().unwrap().len(), 1);
/// ```
pub trait Wallet {
    /// Coins the node may spend now: confirmed, mature, not spent by any
    /// transaction the host knows of, and not reserved by the host for
    /// something else.
    fn confirmed_utxos(&self) -> Result<Vec<WalletUtxo>, WalletError>;

    /// A script of the wallet to send change to.
    fn change_script(&self) -> Result<ScriptBuf, WalletError>;

    /// Signs every input of `tx` that spends one of the wallet's coins,
    /// with `SIGHASH_ALL`, and returns its witness by input index.
    /// `prevouts[i]` is the output input `i` spends (every input, as
    /// taproot signature hashes need). Inputs that are not the wallet's are
    /// left alone.
    fn sign_wallet_inputs(
        &self,
        tx: &Transaction,
        prevouts: &[TxOut],
    ) -> Result<Vec<(usize, Witness)>, WalletError>;
}

macro_rules! forward_wallet {
    ($($ptr:ty),*) => {$(
        impl<T: Wallet + ?Sized> Wallet for $ptr {
            fn confirmed_utxos(&self) -> Result<Vec<WalletUtxo>, WalletError> {
                (**self).confirmed_utxos()
            }
            fn change_script(&self) -> Result<ScriptBuf, WalletError> {
                (**self).change_script()
            }
            fn sign_wallet_inputs(
                &self,
                tx: &Transaction,
                prevouts: &[TxOut],
            ) -> Result<Vec<(usize, Witness)>, WalletError> {
                (**self).sign_wallet_inputs(tx, prevouts)
            }
        }
    )*};
}

forward_wallet!(&T, Box<T>, Arc<T>);

/// What a transaction needs from the wallet: the part of it that is fixed
/// (inputs and outputs that are not the wallet's) and what it must pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoinSelectionRequest {
    /// The weight of the transaction before wallet inputs and change: its
    /// fixed inputs carry witnesses as large as their real ones will be at
    /// most (so the segwit marker is counted).
    pub base_weight: u64,
    /// The number of inputs and outputs in `base_weight` (their count
    /// prefixes grow at 253).
    pub base_inputs: usize,
    /// See `base_inputs`.
    pub base_outputs: usize,
    /// The value the fixed inputs bring.
    pub fixed_input_value: Amount,
    /// The value the fixed outputs take.
    pub fixed_output_value: Amount,
    /// The fee rate, in sat per 1000 weight, the transaction itself pays
    /// (rounded up, as relay checks it).
    pub feerate: crate::FeeRate,
    /// Fee to pay on top of `feerate x weight` (for a CPFP child, what its
    /// parent lacks to reach the package fee rate).
    pub extra_fee: Amount,
    /// The fee may not be below this (BIP 125: what the transaction
    /// replaces, plus the incremental relay fee).
    pub min_fee: Amount,
    /// The change script.
    pub change_script: ScriptBuf,
    /// The transaction has no other output, so it needs change.
    pub change_required: bool,
}

/// The coins [`select_coins`] chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoinSelection {
    /// The coins to add as inputs, in this order.
    pub inputs: Vec<WalletUtxo>,
    /// The change output, if any.
    pub change: Option<TxOut>,
    /// The fee the finished transaction pays.
    pub fee: Amount,
    /// An upper bound of the finished transaction's weight.
    pub weight: u64,
}

fn compact_size_len(n: usize) -> u64 {
    match n {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Largest-first coin selection with a change/no-change decision against
/// dust.
///
/// Coins are taken largest first (outpoint order breaking ties, so the
/// result is deterministic) until they pay the outputs and the fee; then
/// change is added when what is left after the larger fee of a
/// transaction with change is at least the change script's dust threshold
/// ([`bitcoin::Script::minimal_non_dust`]); otherwise the rest goes to the
/// fee (it is below dust plus the cost of a change output). The fee is
/// `max(feerate x weight (rounded up) + extra_fee, min_fee)`.
///
/// ```
/// use lightning_chain::wallet::*;
/// use lightning_chain::FeeRate;
/// use bitcoin::{Amount, OutPoint, ScriptBuf, TxOut, WPubkeyHash};
/// use bitcoin::hashes::Hash;
///
/// let script = ScriptBuf::new_p2wpkh(&WPubkeyHash::all_zeros());
/// let coin = |vout, sat| WalletUtxo {
///     outpoint: OutPoint { txid: bitcoin::Txid::all_zeros(), vout },
///     txout: TxOut { value: Amount::from_sat(sat), script_pubkey: script.clone() },
///     satisfaction_weight: P2WPKH_SATISFACTION_WEIGHT,
/// };
/// let request = CoinSelectionRequest {
///     base_weight: 500,
///     base_inputs: 1,
///     base_outputs: 0,
///     fixed_input_value: Amount::from_sat(330),
///     fixed_output_value: Amount::ZERO,
///     feerate: FeeRate::from_sat_per_kw(2_000),
///     extra_fee: Amount::from_sat(3_000),
///     min_fee: Amount::ZERO,
///     change_script: script.clone(),
///     change_required: true,
/// };
/// let sel = select_coins(&[coin(0, 2_000), coin(1, 50_000)], &request).unwrap();
/// assert_eq!(sel.inputs.len(), 1); // the 50,000 sat coin is enough
/// let change = sel.change.unwrap();
/// assert_eq!(change.value + sel.fee, Amount::from_sat(50_330));
/// assert!(sel.fee >= Amount::from_sat(3_000 + 2 * sel.weight / 1000));
///
/// // Not enough coins: a typed error, not a panic.
/// let err = select_coins(&[coin(0, 2_000)], &request).unwrap_err();
/// assert!(matches!(err, WalletError::InsufficientFunds { .. }));
/// ```
pub fn select_coins(
    utxos: &[WalletUtxo],
    request: &CoinSelectionRequest,
) -> Result<CoinSelection, WalletError> {
    let mut coins: Vec<&WalletUtxo> = utxos.iter().collect();
    coins.sort_by(|a, b| {
        b.txout
            .value
            .cmp(&a.txout.value)
            .then(a.outpoint.cmp(&b.outpoint))
    });
    let available = coins
        .iter()
        .try_fold(Amount::ZERO, |acc, c| acc.checked_add(c.txout.value))
        .ok_or(WalletError::Overflow)?;
    let change_txout = TxOut {
        value: Amount::ZERO,
        script_pubkey: request.change_script.clone(),
    };
    let change_weight = (change_txout.size() as u64).saturating_mul(4);
    let dust = request.change_script.minimal_non_dust();

    let fee_at = |weight: u64| -> Result<Amount, WalletError> {
        let rate_fee = request
            .feerate
            .fee_for_weight_rounded_up(bitcoin::Weight::from_wu(weight))
            .ok_or(WalletError::Overflow)?;
        let fee = rate_fee
            .checked_add(request.extra_fee)
            .ok_or(WalletError::Overflow)?;
        Ok(fee.max(request.min_fee))
    };

    let mut chosen: Vec<WalletUtxo> = Vec::new();
    let mut input_weight: u64 = 0;
    let mut value = request.fixed_input_value;
    let mut needed = request.fixed_output_value;
    // With no coin at all, the fixed inputs may be enough (only when change
    // is not required); then one coin at a time.
    for next in std::iter::once(None).chain(coins.iter().map(Some)) {
        if let Some(c) = next {
            chosen.push((*c).clone());
            input_weight = input_weight
                .checked_add(c.input_weight())
                .ok_or(WalletError::Overflow)?;
            value = value
                .checked_add(c.txout.value)
                .ok_or(WalletError::Overflow)?;
        }
        let inputs = request.base_inputs.saturating_add(chosen.len());
        let grow = |count: usize, base: usize| {
            (compact_size_len(count).saturating_sub(compact_size_len(base))).saturating_mul(4)
        };
        let without_change = request
            .base_weight
            .checked_add(input_weight)
            .and_then(|w| w.checked_add(grow(inputs, request.base_inputs)))
            .ok_or(WalletError::Overflow)?;
        let with_change = without_change
            .checked_add(change_weight)
            .and_then(|w| {
                w.checked_add(grow(
                    request.base_outputs.saturating_add(1),
                    request.base_outputs,
                ))
            })
            .ok_or(WalletError::Overflow)?;
        let fee_with = fee_at(with_change)?;
        let fee_without = fee_at(without_change)?;
        needed = request
            .fixed_output_value
            .checked_add(if request.change_required {
                fee_with.checked_add(dust).ok_or(WalletError::Overflow)?
            } else {
                fee_without
            })
            .ok_or(WalletError::Overflow)?;
        let rest = value.checked_sub(request.fixed_output_value);
        if let Some(change) = rest
            .and_then(|r| r.checked_sub(fee_with))
            .filter(|c| *c >= dust)
        {
            return Ok(CoinSelection {
                inputs: chosen,
                change: Some(TxOut {
                    value: change,
                    script_pubkey: request.change_script.clone(),
                }),
                fee: fee_with,
                weight: with_change,
            });
        }
        if !request.change_required {
            if let Some(r) = rest.filter(|r| *r >= fee_without) {
                return Ok(CoinSelection {
                    inputs: chosen,
                    change: None,
                    fee: r,
                    weight: without_change,
                });
            }
        }
    }
    Err(WalletError::InsufficientFunds {
        needed: needed.max(request.fixed_output_value),
        available: available
            .checked_add(request.fixed_input_value)
            .ok_or(WalletError::Overflow)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use bitcoin::{Txid, WPubkeyHash};

    fn script() -> ScriptBuf {
        ScriptBuf::new_p2wpkh(&WPubkeyHash::all_zeros())
    }

    fn coin(vout: u32, sat: u64) -> WalletUtxo {
        WalletUtxo {
            outpoint: OutPoint {
                txid: Txid::all_zeros(),
                vout,
            },
            txout: TxOut {
                value: Amount::from_sat(sat),
                script_pubkey: script(),
            },
            satisfaction_weight: P2WPKH_SATISFACTION_WEIGHT,
        }
    }

    fn request(change_required: bool) -> CoinSelectionRequest {
        CoinSelectionRequest {
            base_weight: 700,
            base_inputs: 1,
            base_outputs: 1,
            fixed_input_value: Amount::from_sat(10_000),
            fixed_output_value: Amount::from_sat(10_000),
            feerate: crate::FeeRate::from_sat_per_kw(1_000),
            extra_fee: Amount::ZERO,
            min_fee: Amount::ZERO,
            change_script: script(),
            change_required,
        }
    }

    #[test]
    fn largest_first_with_change() {
        let sel = select_coins(&[coin(0, 5_000), coin(1, 100_000)], &request(false)).unwrap();
        assert_eq!(sel.inputs.len(), 1);
        assert_eq!(sel.inputs[0].outpoint.vout, 1);
        let change = sel.change.unwrap().value;
        assert_eq!(change + sel.fee, Amount::from_sat(100_000));
        // 700 + one P2WPKH input (273) + a P2WPKH change output (124), at
        // 1000 sat/kw: one sat per weight unit.
        assert_eq!(sel.weight, 700 + 273 + 31 * 4);
        assert_eq!(sel.fee, Amount::from_sat(sel.weight));
    }

    #[test]
    fn leftover_below_dust_goes_to_fee() {
        // One coin just above the fee without change.
        let fee_without = 700 + 273u64;
        let sel = select_coins(&[coin(0, fee_without + 100)], &request(false)).unwrap();
        assert!(sel.change.is_none());
        assert_eq!(sel.fee, Amount::from_sat(fee_without + 100));
    }

    #[test]
    fn min_fee_and_extra_fee_apply() {
        let mut r = request(true);
        r.min_fee = Amount::from_sat(7_777);
        let sel = select_coins(&[coin(0, 100_000)], &r).unwrap();
        assert_eq!(sel.fee, Amount::from_sat(7_777));
        r.min_fee = Amount::ZERO;
        r.extra_fee = Amount::from_sat(5_000);
        let sel = select_coins(&[coin(0, 100_000)], &r).unwrap();
        assert_eq!(sel.fee, Amount::from_sat(5_000 + sel.weight));
    }

    #[test]
    fn insufficient_funds_is_typed() {
        let mut r = request(true);
        r.extra_fee = Amount::from_sat(1_000_000);
        let err = select_coins(&[coin(0, 1_000), coin(1, 2_000)], &r).unwrap_err();
        let WalletError::InsufficientFunds { needed, available } = err else {
            panic!("{err:?}")
        };
        assert_eq!(available, Amount::from_sat(13_000));
        assert!(needed > Amount::from_sat(1_000_000));
        assert!(select_coins(&[], &r).is_err());
    }

    #[test]
    fn no_coins_needed_when_fixed_inputs_pay() {
        let mut r = request(false);
        r.fixed_input_value = Amount::from_sat(20_000);
        let sel = select_coins(&[coin(0, 1_000)], &r).unwrap();
        assert!(sel.inputs.is_empty());
        assert!(sel.change.is_some());
    }
}
