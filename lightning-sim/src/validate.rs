//! Mempool and block admission rules of the simulated chain.

use bitcoin::absolute::LockTime;
use bitcoin::{Amount, OutPoint, Sequence, Transaction, TxOut, Txid, Weight};

/// Why the simulated chain refused a transaction. Reasons about one input
/// name it by index and outpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxRejected {
    /// A transaction needs at least one input.
    #[error("transaction has no inputs")]
    NoInputs,
    /// A transaction needs at least one output.
    #[error("transaction has no outputs")]
    NoOutputs,
    /// Coinbase transactions are made by mining, not submitted.
    #[error("a coinbase transaction cannot be submitted")]
    Coinbase,
    /// Above the standard transaction weight limit.
    #[error("transaction weight {weight} is above the limit")]
    TooLarge {
        /// The transaction's weight.
        weight: Weight,
    },
    /// An output value, or their sum, is above 21 million BTC.
    #[error("output {output} value out of range")]
    ValueOutOfRange {
        /// The output's index.
        output: usize,
    },
    /// The same outpoint is spent twice by this transaction.
    #[error("input {input} spends {outpoint}, which an earlier input also spends")]
    DuplicateInput {
        /// The input's index.
        input: usize,
        /// The outpoint.
        outpoint: OutPoint,
    },
    /// The transaction is already in the chain.
    #[error("transaction {txid} is already confirmed")]
    AlreadyConfirmed {
        /// Its id.
        txid: Txid,
    },
    /// The spent output does not exist, neither confirmed nor in the mempool.
    #[error("input {input} spends {outpoint}, which does not exist")]
    MissingInput {
        /// The input's index.
        input: usize,
        /// The outpoint.
        outpoint: OutPoint,
    },
    /// The spent output existed but a confirmed transaction already spent it.
    #[error("input {input} spends {outpoint}, which is already spent on chain")]
    AlreadySpent {
        /// The input's index.
        input: usize,
        /// The outpoint.
        outpoint: OutPoint,
    },
    /// The spent output is spent by a mempool transaction that this one does
    /// not pay enough to replace.
    #[error("input {input} spends {outpoint}, already spent by mempool transaction {spent_by} (replacement needs a higher fee and fee rate)")]
    MempoolConflict {
        /// The input's index.
        input: usize,
        /// The outpoint.
        outpoint: OutPoint,
        /// The mempool transaction spending it.
        spent_by: Txid,
    },
    /// The transaction spends an output of a transaction it would replace.
    #[error("transaction spends an output of {txid}, which it conflicts with")]
    SpendsConflictingTx {
        /// The conflicting transaction.
        txid: Txid,
    },
    /// A coinbase output spent before 100 confirmations.
    #[error("input {input} spends coinbase output {outpoint} with {confirmations} confirmations before the next block; 100 are needed")]
    ImmatureCoinbase {
        /// The input's index.
        input: usize,
        /// The outpoint.
        outpoint: OutPoint,
        /// Its confirmations counting the next block.
        confirmations: u32,
    },
    /// The outputs are worth more than the inputs.
    #[error("outputs ({outputs}) are worth more than inputs ({inputs})")]
    InsufficientInputValue {
        /// Sum of the inputs.
        inputs: Amount,
        /// Sum of the outputs.
        outputs: Amount,
    },
    /// The absolute lock time (`nLockTime`, checked as CLTV would) is not
    /// reached by the next block.
    #[error("lock time {lock_time} not reached at height {height}")]
    NonFinal {
        /// The transaction's lock time.
        lock_time: LockTime,
        /// The next block's height.
        height: u32,
    },
    /// A BIP 68 relative lock time (checked as CSV would) is not reached by
    /// the next block.
    #[error("input {input} spends {outpoint} with relative lock time (sequence {sequence}) not reached at height {height}")]
    RelativeLockTime {
        /// The input's index.
        input: usize,
        /// The outpoint.
        outpoint: OutPoint,
        /// The input's sequence.
        sequence: Sequence,
        /// The next block's height.
        height: u32,
    },
    /// Script verification failed for an input.
    #[error("input {input} spending {outpoint} fails script verification: {reason}")]
    ScriptVerification {
        /// The input's index.
        input: usize,
        /// The outpoint.
        outpoint: OutPoint,
        /// What libbitcoinconsensus said.
        reason: String,
    },
}

/// BIP 68: the sequence does not encode a relative lock time.
const SEQUENCE_DISABLE_FLAG: u32 = 1 << 31;
/// BIP 68: the relative lock time is in units of 512 seconds, not blocks.
const SEQUENCE_TYPE_FLAG: u32 = 1 << 22;
/// BIP 68: the bits holding the relative lock time's value.
const SEQUENCE_LOCKTIME_MASK: u32 = 0x0000_ffff;

/// Bitcoin Core's standard limit (`MAX_STANDARD_TX_WEIGHT`).
const MAX_TX_WEIGHT: Weight = Weight::from_wu(400_000);

/// Checks that need nothing but the transaction.
pub(crate) fn check_context_free(tx: &Transaction) -> Result<(), TxRejected> {
    if tx.is_coinbase() {
        return Err(TxRejected::Coinbase);
    }
    if tx.input.is_empty() {
        return Err(TxRejected::NoInputs);
    }
    if tx.output.is_empty() {
        return Err(TxRejected::NoOutputs);
    }
    let weight = tx.weight();
    if weight > MAX_TX_WEIGHT {
        return Err(TxRejected::TooLarge { weight });
    }
    let mut total = Amount::ZERO;
    for (output, txout) in tx.output.iter().enumerate() {
        total = total
            .checked_add(txout.value)
            .filter(|t| *t <= Amount::MAX_MONEY && txout.value <= Amount::MAX_MONEY)
            .ok_or(TxRejected::ValueOutOfRange { output })?;
    }
    let mut seen = std::collections::HashSet::new();
    for (input, txin) in tx.input.iter().enumerate() {
        if !seen.insert(txin.previous_output) {
            return Err(TxRejected::DuplicateInput {
                input,
                outpoint: txin.previous_output,
            });
        }
    }
    Ok(())
}

/// Whether `tx`'s absolute lock time allows it in a block at `height` whose
/// predecessor's median time past is `mtp` (Core's `IsFinalTx`).
pub(crate) fn check_final(tx: &Transaction, height: u32, mtp: u32) -> Result<(), TxRejected> {
    let lock = tx.lock_time.to_consensus_u32();
    if lock == 0 {
        return Ok(());
    }
    let limit = if lock < bitcoin::absolute::LOCK_TIME_THRESHOLD {
        height
    } else {
        mtp
    };
    if lock < limit || tx.input.iter().all(|i| i.sequence == Sequence::MAX) {
        return Ok(());
    }
    Err(TxRejected::NonFinal {
        lock_time: tx.lock_time,
        height,
    })
}

/// Whether a BIP 68 relative lock on `input` (spending a coin created at
/// `coin_height`) allows `tx` in a block at `height`. `mtp_at(h)` gives the
/// median time past of the block at height `h`.
pub(crate) fn check_sequence_lock(
    tx: &Transaction,
    input: usize,
    coin_height: u32,
    height: u32,
    mtp_at: impl Fn(u32) -> u32,
) -> Result<(), TxRejected> {
    // BIP 68 applies to version 2 and above, compared unsigned as Core does.
    if (tx.version.0 as u32) < 2 {
        return Ok(());
    }
    let Some(txin) = tx.input.get(input) else {
        return Ok(());
    };
    let sequence = txin.sequence.to_consensus_u32();
    if sequence & SEQUENCE_DISABLE_FLAG != 0 {
        return Ok(());
    }
    let value = i64::from(sequence & SEQUENCE_LOCKTIME_MASK);
    let satisfied = if sequence & SEQUENCE_TYPE_FLAG != 0 {
        let coin_time = i64::from(mtp_at(coin_height.saturating_sub(1)));
        let min_time = coin_time + (value << 9) - 1;
        min_time < i64::from(mtp_at(height.saturating_sub(1)))
    } else {
        let min_height = i64::from(coin_height) + value - 1;
        min_height < i64::from(height)
    };
    if satisfied {
        Ok(())
    } else {
        Err(TxRejected::RelativeLockTime {
            input,
            outpoint: txin.previous_output,
            sequence: txin.sequence,
            height,
        })
    }
}

/// Verifies every input's script against the output it spends, with the
/// flags of a post-taproot chain (P2SH, DERSIG, NULLDUMMY, CLTV, CSV,
/// segwit, taproot).
pub(crate) fn verify_scripts(tx: &Transaction, spent: &[TxOut]) -> Result<(), TxRejected> {
    let serialized = bitcoin::consensus::serialize(tx);
    let mut utxos = Vec::with_capacity(spent.len());
    for (input, txout) in spent.iter().enumerate() {
        let value =
            i64::try_from(txout.value.to_sat()).map_err(|_| TxRejected::ScriptVerification {
                input,
                outpoint: tx
                    .input
                    .get(input)
                    .map(|i| i.previous_output)
                    .unwrap_or_default(),
                reason: "spent amount out of range".into(),
            })?;
        utxos.push(bitcoinconsensus::Utxo {
            script_pubkey: txout.script_pubkey.as_bytes().as_ptr(),
            script_pubkey_len: txout.script_pubkey.len() as u32,
            value,
        });
    }
    let flags = bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT | bitcoinconsensus::VERIFY_TAPROOT;
    for (input, (txin, txout)) in tx.input.iter().zip(spent).enumerate() {
        bitcoinconsensus::verify_with_flags(
            txout.script_pubkey.as_bytes(),
            txout.value.to_sat(),
            &serialized,
            Some(&utxos),
            input,
            flags,
        )
        .map_err(|err| TxRejected::ScriptVerification {
            input,
            outpoint: txin.previous_output,
            reason: match err {
                // libbitcoinconsensus leaves ERR_SCRIPT (its "OK") when the
                // script itself evaluated to false or failed.
                bitcoinconsensus::Error::ERR_SCRIPT => "script evaluation failed".into(),
                other => other.to_string(),
            },
        })?;
    }
    Ok(())
}
