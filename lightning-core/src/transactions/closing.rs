//! Closing transactions: legacy `closing_signed` and `option_simple_close`
//! (`closing_complete`/`closing_sig`). BOLT 3, "Closing Transaction";
//! BOLT 2, "Closing Negotiation".

use bitcoin::absolute::LockTime;
use bitcoin::opcodes::all::OP_RETURN;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, Script, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};

use super::TxError;
use crate::amount::Msat;

/// The dust threshold of an output script (BOLT 3, "Dust Limits"): 546 for
/// P2PKH, 540 for P2SH, 294 for P2WPKH, 330 for P2WSH, 354 for other
/// witness programs, 0 for `OP_RETURN` (which must carry zero value).
pub fn dust_threshold(script_pubkey: &Script) -> Amount {
    if script_pubkey.is_op_return() {
        Amount::ZERO
    } else if script_pubkey.is_p2pkh() {
        Amount::from_sat(546)
    } else if script_pubkey.is_p2sh() {
        Amount::from_sat(540)
    } else if script_pubkey.is_p2wpkh() {
        Amount::from_sat(294)
    } else if script_pubkey.is_p2wsh() {
        Amount::from_sat(330)
    } else {
        Amount::from_sat(354)
    }
}

fn is_op_return(script: &Script) -> bool {
    script.as_bytes().first() == Some(&OP_RETURN.to_u8())
}

/// One side of a closing transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosingOutput {
    /// The `scriptpubkey` from that side's `shutdown` (or, with
    /// `option_simple_close`, from `closing_complete`).
    pub script_pubkey: ScriptBuf,
    /// That side's final balance.
    pub balance: Msat,
}

fn closing_tx(
    funding_outpoint: OutPoint,
    sequence: Sequence,
    lock_time: LockTime,
    mut outputs: Vec<TxOut>,
) -> Transaction {
    // BIP 69 order (BOLT 3, "Transaction Output Ordering").
    outputs.sort_by(|a, b| {
        a.value
            .cmp(&b.value)
            .then_with(|| a.script_pubkey.as_bytes().cmp(b.script_pubkey.as_bytes()))
    });
    Transaction {
        version: Version::TWO,
        lock_time,
        input: vec![TxIn {
            previous_output: funding_outpoint,
            script_sig: ScriptBuf::new(),
            sequence,
            witness: Witness::new(),
        }],
        output: outputs,
    }
}

/// The legacy closing transaction of `closing_signed` (BOLT 3, "Legacy
/// Closing Transaction"): locktime 0, sequence 0xFFFFFFFF, `fee` taken from
/// the funder's output, outputs rounded down, outputs below `dust_limit`
/// (the signer's own) removed. `omit_local` lets the signer eliminate its own
/// output ("MAY eliminate its own output").
pub fn build_legacy_closing_transaction(
    funding_outpoint: OutPoint,
    local: &ClosingOutput,
    remote: &ClosingOutput,
    local_is_funder: bool,
    fee: Amount,
    dust_limit: Amount,
    omit_local: bool,
) -> Result<Transaction, TxError> {
    let fee_msat = Msat::from_sat(fee.to_sat()).ok_or(TxError::Overflow("fee"))?;
    let (local_amt, remote_amt) = if local_is_funder {
        (
            local
                .balance
                .checked_sub(fee_msat)
                .ok_or(TxError::Closing("fee exceeds the funder's balance"))?,
            remote.balance,
        )
    } else {
        (
            local.balance,
            remote
                .balance
                .checked_sub(fee_msat)
                .ok_or(TxError::Closing("fee exceeds the funder's balance"))?,
        )
    };
    let mut outputs = Vec::with_capacity(2);
    let local_amt = local_amt.to_sat_floor();
    let remote_amt = remote_amt.to_sat_floor();
    if !omit_local && local_amt >= dust_limit {
        outputs.push(TxOut {
            value: local_amt,
            script_pubkey: local.script_pubkey.clone(),
        });
    }
    if remote_amt >= dust_limit {
        outputs.push(TxOut {
            value: remote_amt,
            script_pubkey: remote.script_pubkey.clone(),
        });
    }
    if outputs.is_empty() {
        return Err(TxError::Closing("no output left above the dust limit"));
    }
    Ok(closing_tx(
        funding_outpoint,
        Sequence::MAX,
        LockTime::ZERO,
        outputs,
    ))
}

/// Which outputs an `option_simple_close` closing transaction has; one
/// signature per variant travels in `closing_complete`'s TLVs
/// (`closer_output_only`, `closee_output_only`, `closer_and_closee_outputs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimpleCloseVariant {
    /// Only the closer's output.
    CloserOutputOnly,
    /// Only the closee's output.
    CloseeOutputOnly,
    /// Both outputs.
    CloserAndCloseeOutputs,
}

/// The `option_simple_close` closing transaction (BOLT 3, "Closing
/// Transaction"): version 2, the `locktime` from `closing_complete`,
/// sequence 0xFFFFFFFD; the closer pays `fee` from its own output; an
/// `OP_RETURN` output always has value 0 (its balance goes to fees); an
/// included output that is not `OP_RETURN` must not be dust.
pub fn build_simple_closing_transaction(
    funding_outpoint: OutPoint,
    closer: &ClosingOutput,
    closee: &ClosingOutput,
    fee: Amount,
    lock_time: LockTime,
    variant: SimpleCloseVariant,
) -> Result<Transaction, TxError> {
    let fee_msat = Msat::from_sat(fee.to_sat()).ok_or(TxError::Overflow("fee"))?;
    let closer_amt = closer
        .balance
        .checked_sub(fee_msat)
        .ok_or(TxError::Closing("fee exceeds the closer's balance"))?
        .to_sat_floor();
    let closee_amt = closee.balance.to_sat_floor();
    let output = |o: &ClosingOutput, amt: Amount| -> Result<TxOut, TxError> {
        if is_op_return(&o.script_pubkey) {
            Ok(TxOut {
                value: Amount::ZERO,
                script_pubkey: o.script_pubkey.clone(),
            })
        } else if amt < dust_threshold(&o.script_pubkey) {
            Err(TxError::Closing("output below the dust limit"))
        } else {
            Ok(TxOut {
                value: amt,
                script_pubkey: o.script_pubkey.clone(),
            })
        }
    };
    let outputs = match variant {
        SimpleCloseVariant::CloserOutputOnly => vec![output(closer, closer_amt)?],
        SimpleCloseVariant::CloseeOutputOnly => vec![output(closee, closee_amt)?],
        SimpleCloseVariant::CloserAndCloseeOutputs => {
            vec![output(closer, closer_amt)?, output(closee, closee_amt)?]
        }
    };
    Ok(closing_tx(
        funding_outpoint,
        Sequence::ENABLE_RBF_NO_LOCKTIME,
        lock_time,
        outputs,
    ))
}

/// The variants a closer signs in `closing_complete` (BOLT 2): with a dust
/// (or `OP_RETURN`) closee output, only `closer_output_only`; with a dust
/// closer output, only `closee_output_only`; otherwise both
/// `closer_output_only` (which lets the closee drop its output) and
/// `closer_and_closee_outputs`.
pub fn simple_close_variants(
    closer: &ClosingOutput,
    closee: &ClosingOutput,
    fee: Amount,
) -> Vec<SimpleCloseVariant> {
    let closer_amt = Msat::from_sat(fee.to_sat())
        .and_then(|f| closer.balance.checked_sub(f))
        .map(Msat::to_sat_floor);
    let closer_dust = match closer_amt {
        None => return Vec::new(),
        Some(a) => {
            !is_op_return(&closer.script_pubkey) && a < dust_threshold(&closer.script_pubkey)
        }
    };
    let closee_amt = closee.balance.to_sat_floor();
    let closee_dust =
        is_op_return(&closee.script_pubkey) || closee_amt < dust_threshold(&closee.script_pubkey);
    match (closer_dust, closee_dust) {
        (true, true) => Vec::new(),
        (true, false) => vec![SimpleCloseVariant::CloseeOutputOnly],
        (false, true) => vec![SimpleCloseVariant::CloserOutputOnly],
        (false, false) => vec![
            SimpleCloseVariant::CloserOutputOnly,
            SimpleCloseVariant::CloserAndCloseeOutputs,
        ],
    }
}
