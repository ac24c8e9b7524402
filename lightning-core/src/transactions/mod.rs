//! BOLT 3 transactions: scripts, commitment, HTLC, closing and spending
//! transactions, and their fees.
//!
//! Builders return *unsigned* [`bitcoin::Transaction`]s plus what is needed
//! to sign and complete them (witness scripts, spent amounts). Signing goes
//! through a [`ChannelSigner`](crate::keys::ChannelSigner); the helpers
//! here ([`sign_p2wsh_input`], the `*_witness` functions) are what a signer
//! and the channel use to finish a transaction.
//!
//! "Local" and "remote" follow BOLT 3: *local* is the holder (the
//! broadcaster) of the commitment transaction in question.

pub mod closing;
pub mod commitment;
pub mod fees;
pub mod htlc;
pub mod scripts;
pub mod sweep;

use bitcoin::ecdsa;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Message, PublicKey, SecretKey, SECP256K1};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{Amount, Script, Transaction, Witness};

pub use commitment::{
    build_commitment_transaction, obscuring_factor, CommitmentHtlc, CommitmentKeys,
    CommitmentParams, CommitmentTransaction, HtlcDirection, HtlcInfo,
};

/// The commitment format, from the negotiated `channel_type` (BOLT 2, BOLT 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum CommitmentFormat {
    /// `option_static_remotekey`: P2WPKH `to_remote` to the remote's
    /// `payment_basepoint`; HTLC transactions pay their own fee.
    StaticRemoteKey,
    /// `option_anchors` (zero-fee HTLC transactions, with static remotekey):
    /// two 330-sat anchors, a 1-CSV `to_remote`, HTLC outputs with
    /// `1 OP_CHECKSEQUENCEVERIFY`, and HTLC transactions with no fee.
    AnchorsZeroFeeHtlc,
}

impl CommitmentFormat {
    /// Whether this is an `option_anchors` channel.
    pub const fn has_anchors(self) -> bool {
        matches!(self, CommitmentFormat::AnchorsZeroFeeHtlc)
    }
}

/// Building or signing a transaction failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// Balances and HTLCs add up to more than the funding output.
    #[error(
        "balances and HTLCs ({total_msat} msat) exceed the funding amount ({funding_sat} sat)"
    )]
    ExceedsFunding {
        /// Sum of `to_local`, `to_remote` and every HTLC.
        total_msat: u64,
        /// The funding output's value.
        funding_sat: u64,
    },
    /// An amount overflowed.
    #[error("amount overflow in {0}")]
    Overflow(&'static str),
    /// An HTLC transaction would have an output that is zero or negative.
    #[error("HTLC output {output_index} cannot pay its second-stage fee")]
    HtlcBelowFee {
        /// The commitment output index.
        output_index: u32,
    },
    /// A spending transaction's inputs cannot pay its fee and leave a
    /// non-dust output.
    #[error("inputs ({inputs_sat} sat) cannot pay the fee ({fee_sat} sat) and leave at least {dust_sat} sat")]
    InsufficientForFee {
        /// Sum of the inputs.
        inputs_sat: u64,
        /// The fee at the requested rate.
        fee_sat: u64,
        /// The dust threshold of the destination.
        dust_sat: u64,
    },
    /// A closing transaction option is not allowed (BOLT 2, `closing_complete`).
    #[error("closing transaction: {0}")]
    Closing(&'static str),
    /// The input to sign does not exist or the sighash could not be computed.
    #[error("cannot compute the signature hash of input {0}")]
    Sighash(usize),
    /// A key derivation failed.
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
}

/// The BIP 143 signature hash of a P2WSH input.
pub fn p2wsh_sighash(
    tx: &Transaction,
    input_index: usize,
    witness_script: &Script,
    value: Amount,
    sighash_type: EcdsaSighashType,
) -> Result<Message, TxError> {
    let hash = SighashCache::new(tx)
        .p2wsh_signature_hash(input_index, witness_script, value, sighash_type)
        .map_err(|_| TxError::Sighash(input_index))?;
    Ok(Message::from_digest(hash.to_byte_array()))
}

/// Sign a P2WSH input with `key` (RFC 6979 deterministic nonces, as the
/// BOLT 3 vectors use; no low-R grinding).
pub fn sign_p2wsh_input(
    tx: &Transaction,
    input_index: usize,
    witness_script: &Script,
    value: Amount,
    sighash_type: EcdsaSighashType,
    key: &SecretKey,
) -> Result<ecdsa::Signature, TxError> {
    let msg = p2wsh_sighash(tx, input_index, witness_script, value, sighash_type)?;
    Ok(ecdsa::Signature {
        signature: SECP256K1.sign_ecdsa(&msg, key),
        sighash_type,
    })
}

/// Check a peer's signature over a P2WSH input.
pub fn verify_p2wsh_signature(
    tx: &Transaction,
    input_index: usize,
    witness_script: &Script,
    value: Amount,
    sig: &ecdsa::Signature,
    pubkey: &PublicKey,
) -> Result<bool, TxError> {
    // BOLT 2: a signature "non-compliant with LOW-S-standard rule" is
    // refused like an invalid one. libsecp256k1's verification already
    // refuses high-S; this says so explicitly, whatever the backend.
    let mut normalized = sig.signature;
    normalized.normalize_s();
    if normalized != sig.signature {
        return Ok(false);
    }
    let msg = p2wsh_sighash(tx, input_index, witness_script, value, sig.sighash_type)?;
    Ok(SECP256K1.verify_ecdsa(&msg, &sig.signature, pubkey).is_ok())
}

/// The witness spending the 2-of-2 funding output: `0 <sig_for_pubkey1>
/// <sig_for_pubkey2> <funding_script>`, signatures in key order (BOLT 3,
/// "Funding Transaction Output").
pub fn funding_witness(
    sig_a: &ecdsa::Signature,
    pubkey_a: &PublicKey,
    sig_b: &ecdsa::Signature,
    pubkey_b: &PublicKey,
) -> Witness {
    let script = scripts::funding_script(pubkey_a, pubkey_b);
    let (first, second) = if pubkey_a.serialize() <= pubkey_b.serialize() {
        (sig_a, sig_b)
    } else {
        (sig_b, sig_a)
    };
    let mut w = Witness::new();
    w.push([]);
    w.push(first.serialize());
    w.push(second.serialize());
    w.push(script.as_bytes());
    w
}
