//! Spending transactions: claiming outputs of commitment and HTLC
//! transactions to a wallet script (BOLT 3 witness forms; BOLT 5 decides
//! when each applies).
//!
//! - our `to_local` and our second-stage HTLC outputs after `to_self_delay`;
//! - penalties (justice) with the revocation key: revoked `to_local`,
//!   revoked offered/received HTLC outputs, revoked second-stage outputs;
//! - the `to_remote` output of the other side's commitment;
//! - HTLC outputs of the other side's commitment (preimage or timeout);
//! - anchors, with the funding key or by anyone after 16 blocks.
//!
//! Several outputs can be swept by one transaction (for example every
//! revoked output of one commitment in a single justice transaction).

use bitcoin::absolute::LockTime;
use bitcoin::ecdsa;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Message, PublicKey, SecretKey, SECP256K1};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};

use super::closing::dust_threshold;
use super::scripts::{p2wpkh, ANCHOR_ANYONE_CAN_SPEND_DELAY};
use super::TxError;
use crate::amount::FeeratePerKw;

/// How an output is spent, which fixes its witness and `nSequence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpendPath {
    /// `to_local` (or a second-stage HTLC output) of our own commitment,
    /// after `to_self_delay`: witness `<local_delayedsig> 0`.
    DelayedToLocal {
        /// The CSV delay of the script; becomes the input's `nSequence`.
        to_self_delay: u16,
    },
    /// Revocation path of a `to_local`-style script (revoked `to_local` or
    /// revoked second-stage HTLC output): witness `<revocationsig> 1`.
    RevokedToLocal,
    /// Revocation path of an offered or received HTLC output: witness
    /// `<revocation_sig> <revocationpubkey>`.
    RevokedHtlc {
        /// `revocationpubkey` of that commitment.
        revocation_pubkey: PublicKey,
    },
    /// `to_remote` P2WPKH (`option_static_remotekey`) of the other side's
    /// commitment: witness `<sig> <pubkey>`.
    ToRemoteP2wpkh {
        /// Our `payment_basepoint`.
        pubkey: PublicKey,
    },
    /// `to_remote` of an `option_anchors` commitment: witness `<sig>`,
    /// `nSequence` 1.
    ToRemoteAnchors,
    /// An HTLC we received, on the other side's commitment (they offered
    /// it): witness `<remotehtlcsig> <payment_preimage>`.
    HtlcPreimageOnRemote {
        /// The payment preimage.
        preimage: [u8; 32],
        /// `option_anchors`: the script requires `nSequence` >= 1.
        anchors: bool,
    },
    /// An HTLC we offered, on the other side's commitment (they received
    /// it), after `cltv_expiry`: witness `<remotehtlcsig> 0`.
    HtlcTimeoutOnRemote {
        /// `cltv_expiry`: the transaction's `nLockTime` is at least this.
        cltv_expiry: u32,
        /// `option_anchors`: the script requires `nSequence` >= 1.
        anchors: bool,
    },
    /// An anchor with its funding key: witness `<sig>`.
    AnchorWithFundingKey,
    /// An anchor by anyone, 16 blocks after the commitment confirmed:
    /// witness `<>` (empty), `nSequence` 16.
    AnchorAnyone,
}

/// An output to spend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendableOutput {
    /// The outpoint.
    pub outpoint: OutPoint,
    /// Its value.
    pub value: Amount,
    /// The witness script (P2WSH) or, for [`SpendPath::ToRemoteP2wpkh`], the
    /// P2WPKH output script.
    pub witness_script: ScriptBuf,
    /// How it is spent.
    pub path: SpendPath,
}

impl SpendableOutput {
    /// The `nSequence` its spending input needs.
    pub fn sequence(&self) -> Sequence {
        match self.path {
            SpendPath::DelayedToLocal { to_self_delay } => Sequence(u32::from(to_self_delay)),
            SpendPath::ToRemoteAnchors => Sequence(1),
            SpendPath::HtlcPreimageOnRemote { anchors: true, .. }
            | SpendPath::HtlcTimeoutOnRemote { anchors: true, .. } => Sequence(1),
            SpendPath::AnchorAnyone => Sequence(u32::from(ANCHOR_ANYONE_CAN_SPEND_DELAY)),
            _ => Sequence::ENABLE_RBF_NO_LOCKTIME,
        }
    }

    /// The `nLockTime` it requires (only HTLC timeouts need one).
    pub fn min_lock_time(&self) -> u32 {
        match self.path {
            SpendPath::HtlcTimeoutOnRemote { cltv_expiry, .. } => cltv_expiry,
            _ => 0,
        }
    }

    /// The output script of what is spent.
    pub fn script_pubkey(&self) -> ScriptBuf {
        match self.path {
            SpendPath::ToRemoteP2wpkh { pubkey } => p2wpkh(&pubkey),
            _ => super::scripts::p2wsh(&self.witness_script),
        }
    }

    /// The signature hash of input `input_index` of `tx` spending this
    /// output (SIGHASH_ALL).
    pub fn sighash(&self, tx: &Transaction, input_index: usize) -> Result<Message, TxError> {
        let mut cache = SighashCache::new(tx);
        let hash = match self.path {
            SpendPath::ToRemoteP2wpkh { pubkey } => cache
                .p2wpkh_signature_hash(
                    input_index,
                    &p2wpkh(&pubkey),
                    self.value,
                    EcdsaSighashType::All,
                )
                .map_err(|_| TxError::Sighash(input_index))?,
            _ => cache
                .p2wsh_signature_hash(
                    input_index,
                    &self.witness_script,
                    self.value,
                    EcdsaSighashType::All,
                )
                .map_err(|_| TxError::Sighash(input_index))?,
        };
        Ok(Message::from_digest(hash.to_byte_array()))
    }

    /// The witness, given the signature (ignored by [`SpendPath::AnchorAnyone`]).
    pub fn witness(&self, sig: Option<&ecdsa::Signature>) -> Witness {
        let mut w = Witness::new();
        let sig_bytes = sig.map(|s| s.serialize().to_vec()).unwrap_or_default();
        match self.path {
            SpendPath::DelayedToLocal { .. } => {
                w.push(&sig_bytes);
                w.push([]);
            }
            SpendPath::RevokedToLocal => {
                w.push(&sig_bytes);
                w.push([1u8]);
            }
            SpendPath::RevokedHtlc { revocation_pubkey } => {
                w.push(&sig_bytes);
                w.push(revocation_pubkey.serialize());
            }
            SpendPath::ToRemoteP2wpkh { pubkey } => {
                w.push(&sig_bytes);
                w.push(pubkey.serialize());
                return w;
            }
            SpendPath::ToRemoteAnchors | SpendPath::AnchorWithFundingKey => w.push(&sig_bytes),
            SpendPath::HtlcPreimageOnRemote { preimage, .. } => {
                w.push(&sig_bytes);
                w.push(preimage);
            }
            SpendPath::HtlcTimeoutOnRemote { .. } => {
                w.push(&sig_bytes);
                w.push([]);
            }
            SpendPath::AnchorAnyone => w.push([]),
        }
        w.push(self.witness_script.as_bytes());
        w
    }

    /// Whether spending needs a signature.
    pub fn needs_signature(&self) -> bool {
        !matches!(self.path, SpendPath::AnchorAnyone)
    }
}

/// Sign input `input_index` of `tx` (spending `output`) with `key`
/// (SIGHASH_ALL) and set its witness.
pub fn sign_sweep_input(
    tx: &mut Transaction,
    input_index: usize,
    output: &SpendableOutput,
    key: &SecretKey,
) -> Result<ecdsa::Signature, TxError> {
    let msg = output.sighash(tx, input_index)?;
    let sig = ecdsa::Signature {
        signature: SECP256K1.sign_ecdsa(&msg, key),
        sighash_type: EcdsaSighashType::All,
    };
    let input = tx
        .input
        .get_mut(input_index)
        .ok_or(TxError::Sighash(input_index))?;
    input.witness = output.witness(Some(&sig));
    Ok(sig)
}

/// Build an unsigned transaction sweeping `outputs` to `destination`,
/// paying `feerate` on an upper bound of its signed weight (73-byte
/// signatures), so the fee paid is never below `feerate` times the real
/// weight.
///
/// ```
/// # use lightning_core::transactions::sweep::*;
/// # use lightning_core::transactions::scripts::to_local_script;
/// # use lightning_core::amount::FeeratePerKw;
/// # use bitcoin::{Amount, OutPoint, ScriptBuf};
/// # use bitcoin::secp256k1::{PublicKey, SecretKey, SECP256K1};
/// let pk = |b: u8| PublicKey::from_secret_key(SECP256K1, &SecretKey::from_slice(&[b; 32]).unwrap());
/// let out = SpendableOutput {
///     outpoint: OutPoint::null(),
///     value: Amount::from_sat(100_000),
///     witness_script: to_local_script(&pk(1), 144, &pk(2)),
///     path: SpendPath::DelayedToLocal { to_self_delay: 144 },
/// };
/// let tx = build_sweep_transaction(&[out], ScriptBuf::new_op_return([0u8; 8]), FeeratePerKw(253), 0).unwrap();
/// assert_eq!(tx.input[0].sequence.0, 144);
/// ```
pub fn build_sweep_transaction(
    outputs: &[SpendableOutput],
    destination: ScriptBuf,
    feerate: FeeratePerKw,
    lock_time: u32,
) -> Result<Transaction, TxError> {
    let lock_time = outputs
        .iter()
        .map(SpendableOutput::min_lock_time)
        .fold(lock_time, u32::max);
    let mut total = Amount::ZERO;
    for o in outputs {
        total = total
            .checked_add(o.value)
            .ok_or(TxError::Overflow("sweep inputs"))?;
    }
    let mut tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::from_consensus(lock_time),
        input: outputs
            .iter()
            .map(|o| TxIn {
                previous_output: o.outpoint,
                script_sig: ScriptBuf::new(),
                sequence: o.sequence(),
                witness: Witness::new(),
            })
            .collect(),
        output: vec![TxOut {
            value: Amount::ZERO,
            script_pubkey: destination,
        }],
    };
    let weight = max_signed_weight(&tx, outputs);
    let fee = feerate.fee_for_weight(weight);
    let dust = dust_threshold(&tx.output[0].script_pubkey);
    let value =
        total
            .checked_sub(fee)
            .filter(|v| *v >= dust)
            .ok_or(TxError::InsufficientForFee {
                inputs_sat: total.to_sat(),
                fee_sat: fee.to_sat(),
                dust_sat: dust.to_sat(),
            })?;
    tx.output[0].value = value;
    Ok(tx)
}

/// An upper bound of the weight of `tx` once every input is signed: each
/// signature counted at 73 bytes (72-byte DER maximum plus sighash flag).
pub fn max_signed_weight(tx: &Transaction, outputs: &[SpendableOutput]) -> u64 {
    let mut t = tx.clone();
    let dummy = [0u8; 73];
    for (input, o) in t.input.iter_mut().zip(outputs) {
        let real = o.witness(None);
        let mut w = Witness::new();
        for (i, el) in real.iter().enumerate() {
            if i == 0 && o.needs_signature() {
                w.push(dummy);
            } else {
                w.push(el);
            }
        }
        input.witness = w;
    }
    t.weight().to_wu()
}
