//! Zero-fee HTLC transactions of `option_anchors` channels, paid for by
//! the wallet.
//!
//! BOLT 3, "HTLC-Timeout and HTLC-Success Transactions": with
//! `option_anchors` the HTLC transaction pays no fee, its input's
//! `nSequence` is 1, and the peer's signature is
//! `SIGHASH_SINGLE|SIGHASH_ANYONECANPAY`. That signature covers only input
//! 0 and output 0, so we may add inputs and outputs after them to pay the
//! fee; the pairing of input 0 with output 0 must stay, since
//! `SIGHASH_SINGLE` signs the output at the input's own index. Our own
//! signature on input 0 is `SIGHASH_ALL` (BOLT 3: the holder signs with
//! `SIGHASH_ALL`), made last, over the finished transaction. BOLT 5, "HTLC
//! Output Handling": the holder MUST spend the HTLC output with the HTLC
//! transaction; the fee comes from the added inputs.

use bitcoin::ecdsa;
use bitcoin::{ScriptBuf, Sequence, TxIn, TxOut};
use lightning_chain::wallet::{CoinSelectionRequest, Wallet, WalletUtxo};

use super::{
    apply_wallet_signatures, placeholder_witness, select_for_target, BumpError, FeeTarget,
    FundedTransaction,
};
use crate::keys::ChannelSigner;
use crate::onchain::resolve::HolderHtlcClaim;
use crate::transactions::htlc::{
    build_htlc_transaction, htlc_transaction_witness, remote_htlc_sighash_type,
};
use crate::transactions::scripts::p2wsh;
use crate::transactions::CommitmentTransaction;

/// Our HTLC-timeout or HTLC-success transaction for `claim`, an HTLC output
/// of our `option_anchors` commitment `commitment`, with wallet inputs
/// (after input 0) and change (after output 0, when above dust) so that it
/// pays `target.feerate` on its weight and replaces an earlier one of ours
/// under BIP 125 ([`FeeTarget::min_fee`]). Signed: input 0 with the peer's
/// `SIGHASH_SINGLE|SIGHASH_ANYONECANPAY` signature and ours (`SIGHASH_ALL`),
/// the wallet's inputs by the wallet.
///
/// `reuse`: the wallet coins of the transaction this one replaces
/// ([`FundedTransaction::wallet_inputs`]); empty for a first broadcast.
///
/// The commitment must be confirmed before it can be mined (`nSequence` 1);
/// an HTLC-timeout also waits for its `cltv_expiry` (its `nLockTime`).
pub fn build_funded_holder_htlc_transaction<S: ChannelSigner, W: Wallet>(
    signer: &S,
    commitment: &CommitmentTransaction,
    claim: &HolderHtlcClaim,
    target: &FeeTarget,
    wallet: &W,
    reuse: &[WalletUtxo],
) -> Result<FundedTransaction, BumpError> {
    if !commitment.channel_type.has_anchors() {
        return Err(BumpError::NotAnchors);
    }
    if !commitment.htlcs.contains(&claim.htlc) {
        return Err(BumpError::Mismatch("HTLC not in this commitment"));
    }
    let mut tx = build_htlc_transaction(commitment.txid(), commitment, &claim.htlc)?;
    let (Some(input0), Some(output0)) = (tx.input.first_mut(), tx.output.first().cloned()) else {
        return Err(BumpError::Mismatch(
            "HTLC transaction without input or output",
        ));
    };
    let preimage = claim.preimage.map(|p| p.0);
    // `0 <remotesig> <localsig> <preimage or empty> <script>`.
    input0.witness = placeholder_witness(&[
        0,
        73,
        73,
        if preimage.is_some() { 32 } else { 0 },
        claim.htlc.witness_script.len(),
    ]);
    let change_script = wallet.change_script()?;
    let request = CoinSelectionRequest {
        base_weight: tx.weight().to_wu(),
        base_inputs: 1,
        base_outputs: 1,
        fixed_input_value: claim.htlc.amount,
        fixed_output_value: output0.value,
        feerate: target.feerate,
        extra_fee: bitcoin::Amount::ZERO,
        min_fee: bitcoin::Amount::ZERO,
        change_script,
        change_required: false,
    };
    let sel = select_for_target(wallet, reuse, request, target)?;
    let mut prevouts = vec![TxOut {
        value: claim.htlc.amount,
        script_pubkey: p2wsh(&claim.htlc.witness_script),
    }];
    for coin in &sel.inputs {
        tx.input.push(TxIn {
            previous_output: coin.outpoint,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Default::default(),
        });
        prevouts.push(coin.txout.clone());
    }
    if let Some(change) = sel.change.clone() {
        tx.output.push(change);
    }
    // Ours last, over the finished transaction (SIGHASH_ALL).
    let local = signer.sign_holder_htlc_transaction(commitment, &claim.htlc, &tx)?;
    let remote = ecdsa::Signature {
        signature: claim.remote_signature,
        sighash_type: remote_htlc_sighash_type(commitment.channel_type),
    };
    let witness = htlc_transaction_witness(
        &remote,
        &local,
        preimage.as_ref(),
        &claim.htlc.witness_script,
    );
    if let Some(input0) = tx.input.first_mut() {
        input0.witness = witness;
    }
    apply_wallet_signatures(wallet, &mut tx, &prevouts, 1)?;
    if tx.weight().to_wu() > sel.weight {
        return Err(BumpError::Mismatch("a witness is larger than announced"));
    }
    Ok(FundedTransaction {
        tx,
        fee: sel.fee,
        weight: sel.weight,
        wallet_inputs: sel.inputs.clone(),
    })
}
