//! HTLC-timeout and HTLC-success transactions (BOLT 3, "HTLC-Timeout and
//! HTLC-Success Transactions").
//!
//! They spend an HTLC output of the holder's commitment into a `to_local`
//! style output (revocable for `to_self_delay` blocks). Without anchors they
//! pay their own fee (663 or 703 weight at the commitment feerate); with
//! `option_anchors` they pay none, use `nSequence = 1`, and the remote's
//! signature is `SIGHASH_SINGLE|SIGHASH_ANYONECANPAY` so the holder can add
//! inputs and outputs to pay for confirmation.

use bitcoin::absolute::LockTime;
use bitcoin::ecdsa;
use bitcoin::sighash::EcdsaSighashType;
use bitcoin::transaction::Version;
use bitcoin::{OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};

use super::commitment::{CommitmentHtlc, CommitmentTransaction, HtlcDirection};
use super::fees::{htlc_success_fee, htlc_timeout_fee};
use super::scripts::{p2wsh, to_local_script};
use super::{CommitmentFormat, TxError};

/// The sighash type of the *remote*'s signature on the holder's HTLC
/// transactions: `SIGHASH_SINGLE|SIGHASH_ANYONECANPAY` with `option_anchors`,
/// `SIGHASH_ALL` otherwise. The holder always signs with `SIGHASH_ALL`.
pub const fn remote_htlc_sighash_type(channel_type: CommitmentFormat) -> EcdsaSighashType {
    match channel_type {
        CommitmentFormat::StaticRemoteKey => EcdsaSighashType::All,
        CommitmentFormat::AnchorsZeroFeeHtlc => EcdsaSighashType::SinglePlusAnyoneCanPay,
    }
}

/// Build the HTLC-timeout (offered HTLC) or HTLC-success (received HTLC)
/// transaction for one untrimmed HTLC of `commitment`.
pub fn build_htlc_transaction(
    commitment_txid: Txid,
    commitment: &CommitmentTransaction,
    htlc: &CommitmentHtlc,
) -> Result<Transaction, TxError> {
    let ct = commitment.channel_type;
    let (fee, lock_time) = match htlc.htlc.direction {
        HtlcDirection::Offered => (
            htlc_timeout_fee(ct, commitment.feerate),
            LockTime::from_consensus(htlc.htlc.cltv_expiry),
        ),
        HtlcDirection::Received => (htlc_success_fee(ct, commitment.feerate), LockTime::ZERO),
    };
    let value = htlc
        .amount
        .checked_sub(fee)
        .filter(|v| v.to_sat() > 0)
        .ok_or(TxError::HtlcBelowFee {
            output_index: htlc.output_index,
        })?;
    let sequence = if ct.has_anchors() {
        Sequence(1)
    } else {
        Sequence(0)
    };
    let output_script = to_local_script(
        &commitment.keys.revocation_pubkey,
        commitment.to_self_delay,
        &commitment.keys.local_delayed_pubkey,
    );
    Ok(Transaction {
        version: Version::TWO,
        lock_time,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: commitment_txid,
                vout: htlc.output_index,
            },
            script_sig: ScriptBuf::new(),
            sequence,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value,
            script_pubkey: p2wsh(&output_script),
        }],
    })
}

/// Every HTLC transaction of `commitment`, in commitment output order.
pub fn build_htlc_transactions(
    commitment: &CommitmentTransaction,
) -> Result<Vec<Transaction>, TxError> {
    let txid = commitment.txid();
    commitment
        .htlcs
        .iter()
        .map(|h| build_htlc_transaction(txid, commitment, h))
        .collect()
}

/// The witness of an HTLC transaction: `0 <remotehtlcsig> <localhtlcsig>
/// <payment_preimage>` for HTLC-success, `0 <remotehtlcsig> <localhtlcsig> 0`
/// (an empty element) for HTLC-timeout, then the HTLC witness script.
pub fn htlc_transaction_witness(
    remote_sig: &ecdsa::Signature,
    local_sig: &ecdsa::Signature,
    preimage: Option<&[u8; 32]>,
    witness_script: &bitcoin::Script,
) -> Witness {
    let mut w = Witness::new();
    w.push([]);
    w.push(remote_sig.serialize());
    w.push(local_sig.serialize());
    match preimage {
        Some(p) => w.push(p),
        None => w.push([]),
    }
    w.push(witness_script.as_bytes());
    w
}
