//! CPFP of an unconfirmed `option_anchors` commitment through our anchor.
//!
//! BOLT 3, "`to_local_anchor` and `to_remote_anchor` Output (option_anchors)":
//! each side's anchor pays `<local_funding_pubkey> OP_CHECKSIG OP_IFDUP
//! OP_NOTIF OP_16 OP_CHECKSEQUENCEVERIFY OP_ENDIF` and "may be spent by
//! the owner of the funding pubkey" with the witness `<local_sig>` at once.
//! Both commitments carry an anchor for each side, so the same child bumps
//! our commitment and the peer's (BOLT 5 lets either side CPFP).

use bitcoin::absolute::LockTime;
use bitcoin::secp256k1::PublicKey;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Weight};
use lightning_chain::wallet::{CoinSelectionRequest, Wallet, WalletUtxo};
use lightning_chain::FeeRate;

use super::{
    apply_wallet_signatures, placeholder_witness, select_for_target, BumpError, FeeTarget,
    FundedTransaction,
};
use crate::keys::{ChannelSigner, SpendKeyMaterial};
use crate::transactions::scripts::{anchor_script, p2wsh, ANCHOR_OUTPUT_VALUE};
use crate::transactions::sweep::{SpendPath, SpendableOutput};

/// A CPFP child and the package it makes with its parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorCpfp {
    /// The child, signed: our anchor, then wallet inputs; one change output.
    pub child: FundedTransaction,
    /// The parent's fee.
    pub parent_fee: Amount,
    /// The parent's weight.
    pub parent_weight: u64,
}

impl AnchorCpfp {
    /// The package's fee rate (parent and child fees over their weights),
    /// rounded down.
    pub fn package_feerate(&self) -> FeeRate {
        let fee = self
            .parent_fee
            .to_sat()
            .saturating_add(self.child.fee.to_sat());
        let weight = self.parent_weight.saturating_add(self.child.weight).max(1);
        let rate = fee.saturating_mul(1000) / weight;
        FeeRate::from_sat_per_kw(u32::try_from(rate).unwrap_or(u32::MAX))
    }
}

/// Our anchor in `commitment`: the output paying
/// `P2WSH(anchor_script(funding_pubkey))`, as a [`SpendableOutput`] spent
/// with the funding key.
pub fn find_anchor(
    commitment: &Transaction,
    funding_pubkey: &PublicKey,
) -> Option<SpendableOutput> {
    let witness_script = anchor_script(funding_pubkey);
    let spk = p2wsh(&witness_script);
    let txid = commitment.compute_txid();
    commitment
        .output
        .iter()
        .enumerate()
        .find(|(_, o)| o.script_pubkey == spk && o.value == ANCHOR_OUTPUT_VALUE)
        .and_then(|(i, o)| {
            Some(SpendableOutput {
                outpoint: OutPoint {
                    txid,
                    vout: u32::try_from(i).ok()?,
                },
                value: o.value,
                witness_script,
                path: SpendPath::AnchorWithFundingKey,
            })
        })
}

/// The signed CPFP child of `parent`, an unconfirmed commitment (ours or
/// the peer's) of an `option_anchors` channel whose signed transaction pays
/// `parent_fee`: it spends our anchor (found by our `funding_pubkey`, signed
/// by `signer` with the funding key) and wallet coins, and sends the rest to
/// the wallet's change script, so that parent and child together pay
/// `target.feerate` on their weight (the child alone at least as much), and
/// the child replaces an earlier child of ours under BIP 125
/// ([`FeeTarget::min_fee`]).
///
/// `reuse`: the wallet coins of the child this one replaces
/// ([`FundedTransaction::wallet_inputs`]), which the wallet no longer lists
/// while that child is in its mempool; empty for a first child.
///
/// The wallet's coins must be confirmed (the wallet trait promises so): a
/// child spending another unconfirmed transaction could be pinned.
pub fn build_anchor_cpfp<S: ChannelSigner, W: Wallet>(
    signer: &S,
    parent: &Transaction,
    parent_fee: Amount,
    target: &FeeTarget,
    wallet: &W,
    reuse: &[WalletUtxo],
) -> Result<AnchorCpfp, BumpError> {
    if parent.input.iter().any(|i| i.witness.is_empty()) {
        return Err(BumpError::UnsignedParent);
    }
    let anchor =
        find_anchor(parent, &signer.pubkeys().funding_pubkey).ok_or(BumpError::NoAnchor)?;
    let parent_weight = parent.weight().to_wu();
    // What the parent lacks to pay the target rate on its own weight.
    let parent_needs = target
        .feerate
        .fee_for_weight_rounded_up(Weight::from_wu(parent_weight))
        .ok_or(BumpError::Mismatch("fee overflow"))?;
    let extra_fee = parent_needs.checked_sub(parent_fee).unwrap_or(Amount::ZERO);

    let mut tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: anchor.outpoint,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            // `<sig> <anchor script>`, the signature at its largest.
            witness: placeholder_witness(&[73, anchor.witness_script.len()]),
        }],
        output: Vec::new(),
    };
    let change_script = wallet.change_script()?;
    let request = CoinSelectionRequest {
        base_weight: tx.weight().to_wu(),
        base_inputs: 1,
        base_outputs: 0,
        fixed_input_value: anchor.value,
        fixed_output_value: Amount::ZERO,
        feerate: target.feerate,
        extra_fee,
        min_fee: Amount::ZERO,
        change_script,
        change_required: true,
    };
    let sel = select_for_target(wallet, reuse, request, target)?;
    let change = sel
        .change
        .clone()
        .ok_or(BumpError::Mismatch("a CPFP child needs its change output"))?;
    let mut prevouts = vec![TxOut {
        value: anchor.value,
        script_pubkey: anchor.script_pubkey(),
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
    tx.output.push(change);
    signer.sign_spend_input(&mut tx, 0, &anchor, SpendKeyMaterial::None)?;
    apply_wallet_signatures(wallet, &mut tx, &prevouts, 1)?;
    if tx.weight().to_wu() > sel.weight {
        return Err(BumpError::Mismatch("a witness is larger than announced"));
    }
    Ok(AnchorCpfp {
        child: FundedTransaction {
            tx,
            fee: sel.fee,
            weight: sel.weight,
            wallet_inputs: sel.inputs.clone(),
        },
        parent_fee,
        parent_weight,
    })
}
