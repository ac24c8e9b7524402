//! Script verification of what the library builds, with libbitcoinconsensus.

use bitcoin::consensus::serialize;
use bitcoin::{Transaction, TxOut};

/// Verifies every input of `tx` against the outputs it spends (in input
/// order), with libbitcoinconsensus and all pre-taproot flags (P2SH,
/// DERSIG, NULLDUMMY, CLTV, CSV, WITNESS). A
/// [`TxVerifier`](crate::pair::TxVerifier).
pub fn verify(tx: &Transaction, spent: &[TxOut]) -> Result<(), String> {
    if tx.input.len() != spent.len() {
        return Err(format!(
            "{} inputs but {} spent outputs",
            tx.input.len(),
            spent.len()
        ));
    }
    let bytes = serialize(tx);
    for (i, out) in spent.iter().enumerate() {
        bitcoinconsensus::verify_with_flags(
            out.script_pubkey.as_bytes(),
            out.value.to_sat(),
            &bytes,
            None,
            i,
            bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT,
        )
        .map_err(|e| format!("input {i}: {e:?}"))?;
    }
    Ok(())
}
