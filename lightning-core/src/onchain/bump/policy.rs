//! How the node bumps its claims (issue 15): each claim's deadline and
//! fee cap, the data it is rebuilt from at a new rate, and one bump step.
//! Pure: the node (`node/bumping.rs`) calls these once per block for every
//! claim that is due, persists the resolver, then broadcasts.
//!
//! - Deadlines ([`claim_deadline`]): justice before the cheater's CSV
//!   expires ([`justice_deadline`]); an HTLC claimed with its preimage by
//!   its `cltv_expiry` ([`htlc_success_deadline`]); an HTLC we time out
//!   within [`NO_DEADLINE_HORIZON`] of its expiry
//!   ([`htlc_timeout_deadline`]; no forwarding yet, so no incoming HTLC
//!   sets an earlier one); the rest within [`NO_DEADLINE_HORIZON`] blocks
//!   of the first broadcast.
//! - Caps ([`claim_cap`]): a claim that pays for itself may pay up to what
//!   leaves dust ([`value_cap`]), except claims without a deadline, held to
//!   [`NO_DEADLINE_MAX_FEERATE`]; a claim the wallet pays for (an anchors
//!   HTLC transaction, an anchor CPFP) up to the value at stake over its
//!   weight, and never above [`WALLET_MAX_FEERATE`].
//! - Rebuilding ([`claim_source`]): the [`Claim`] or [`HolderHtlcClaim`]
//!   behind a kept claim, derived again from the classified spend (the
//!   claim's key material is not persisted).

use bitcoin::absolute::LockTime;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
use lightning_chain::wallet::{Wallet, WalletError, WalletUtxo};
use lightning_chain::FeeRate;
use lightning_wire::types::{PaymentHash, PaymentPreimage};

use super::record::ClaimBump;
use super::schedule::{
    htlc_success_deadline, htlc_timeout_deadline, justice_deadline, next_bump, value_cap,
    FeeBumpState, NO_DEADLINE_HORIZON,
};
use super::{build_funded_holder_htlc_transaction, BumpError};
use crate::amount::FeeratePerKw;
use crate::channel::state::ChannelState;
use crate::channel::update_log::Side;
use crate::keys::ChannelSigner;
use crate::onchain::classify::SpendKind;
use crate::onchain::resolve::{
    build_claim_transaction, resolve, second_stage_claim, second_stage_justice, Claim,
    HolderHtlcClaim,
};
use crate::onchain::resolver::{ClaimTag, HtlcHistoryEntry, PendingClaim};
use crate::transactions::scripts::{p2wsh, to_local_script};
use crate::transactions::CommitmentTransaction;

/// The highest rate a claim without a deadline (`to_local`, `to_remote`,
/// the delayed output of our HTLC transaction) is bumped to: 25,000 sat/kw
/// (100 sat/vbyte). Nothing is lost by waiting for cheaper blocks.
pub const NO_DEADLINE_MAX_FEERATE: u32 = 25_000;

/// The highest rate the host's wallet pays for a claim or a CPFP package:
/// 100,000 sat/kw (400 sat/vbyte).
pub const WALLET_MAX_FEERATE: u32 = 100_000;

/// The output value a claim paying for itself must keep (the P2WSH dust
/// limit of Bitcoin Core's relay policy; our sweep script is P2WPKH, whose
/// limit is lower).
pub const CLAIM_DUST: Amount = Amount::from_sat(330);

/// The weight a wallet-funded HTLC transaction has at most, for its cap:
/// the HTLC transaction with one wallet input and a change output.
const FUNDED_HTLC_WEIGHT: u64 = 1_100;

/// The data a kept claim is rebuilt from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimSource {
    /// A claim that pays its own fee.
    Own(Claim),
    /// Our HTLC transaction of an `option_anchors` commitment, paid by the
    /// wallet.
    HolderHtlc {
        /// The commitment.
        commitment: Box<CommitmentTransaction>,
        /// The HTLC output and the peer's signature.
        claim: HolderHtlcClaim,
    },
}

/// Whether the claim can be bumped at all: every claim that pays for
/// itself, and our HTLC transactions of an anchors channel (with wallet
/// inputs). Static-remotekey HTLC transactions carry the peer's
/// `SIGHASH_ALL` signature and a fixed fee.
pub fn bumpable(claim: &PendingClaim, anchors: bool) -> bool {
    claim.kind.pays_wallet() || anchors
}

/// Whether the wallet pays the claim's fee (anchors HTLC transactions).
pub fn wallet_paid(claim: &PendingClaim) -> bool {
    !claim.kind.pays_wallet()
}

/// Whether the claim holds the wallet coins of its last version (they are
/// reserved: no other claim may spend them): see
/// [`PendingClaim::holds_wallet_coins`].
pub fn holds_wallet_coins(claim: &PendingClaim) -> bool {
    claim.holds_wallet_coins()
}

/// The last block the claim must confirm by (see the module
/// documentation). `kind` is the classified funding spend, `history` the
/// resolver's HTLC history, `tip` the height of the first broadcast.
pub fn claim_deadline(
    claim: &PendingClaim,
    kind: Option<&SpendKind>,
    history: &[HtlcHistoryEntry],
    tip: u32,
) -> u32 {
    let horizon = tip.saturating_add(NO_DEADLINE_HORIZON);
    let received_cltv = || {
        history
            .iter()
            .find(|h| {
                Some(h.htlc.payment_hash) == claim.payment_hash && h.htlc.offerer == Side::Remote
            })
            .map(|h| h.htlc.cltv_expiry)
    };
    match claim.kind {
        ClaimTag::HolderHtlcTimeout | ClaimTag::HtlcTimeout => {
            htlc_timeout_deadline(claim.cltv, None)
        }
        ClaimTag::HolderHtlcSuccess | ClaimTag::HtlcPreimage => received_cltv()
            .map(htlc_success_deadline)
            .unwrap_or(horizon),
        ClaimTag::RevokedToLocal | ClaimTag::RevokedHtlc | ClaimTag::RevokedSecondStage => {
            match (kind, claim.parent_height) {
                (Some(SpendKind::CounterpartyRevoked(rc)), Some(h)) => {
                    justice_deadline(h, rc.to_self_delay)
                }
                _ => horizon,
            }
        }
        ClaimTag::ToLocal | ClaimTag::ToRemote | ClaimTag::SecondStage => horizon,
    }
}

/// The claim's fee cap (see the module documentation).
pub fn claim_cap(claim: &PendingClaim) -> FeeRate {
    if wallet_paid(claim) {
        let at_stake = value_cap(claim.value, FUNDED_HTLC_WEIGHT, Amount::ZERO);
        return FeeRate::from_sat_per_kw(at_stake.sat_per_kw().min(WALLET_MAX_FEERATE));
    }
    let own = value_cap(claim.value, claim.tx.weight().to_wu(), CLAIM_DUST).sat_per_kw();
    let no_deadline = matches!(
        claim.kind,
        ClaimTag::ToLocal | ClaimTag::ToRemote | ClaimTag::SecondStage
    );
    FeeRate::from_sat_per_kw(if no_deadline {
        own.min(NO_DEADLINE_MAX_FEERATE)
    } else {
        own
    })
}

/// The cap of an anchor CPFP: `at_stake` (our outputs of the commitment)
/// over the package's weight, at most [`WALLET_MAX_FEERATE`].
pub fn anchor_cap(at_stake: Amount, parent_weight: u64) -> FeeRate {
    // A child with one wallet input and change weighs about 700.
    let cap = value_cap(at_stake, parent_weight.saturating_add(700), Amount::ZERO);
    FeeRate::from_sat_per_kw(cap.sat_per_kw().min(WALLET_MAX_FEERATE))
}

/// The [`Claim`] or [`HolderHtlcClaim`] that `claim` spends, derived again
/// from the classified spend `kind` (for second stages, from the claim's
/// own input and value). `None` when it cannot be found (the spend was
/// classified differently: nothing to rebuild).
pub fn claim_source(
    kind: &SpendKind,
    state: &ChannelState,
    preimage_of: &dyn Fn(&PaymentHash) -> Option<PaymentPreimage>,
    claim: &PendingClaim,
) -> Option<ClaimSource> {
    let op = claim.spends().next()?;
    let stub = |input: Option<OutPoint>, script_pubkey: ScriptBuf| Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: input
            .map(|previous_output| TxIn {
                previous_output,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            })
            .into_iter()
            .collect(),
        output: vec![TxOut {
            value: claim.value,
            script_pubkey,
        }],
    };
    match (claim.kind, kind) {
        (ClaimTag::SecondStage, SpendKind::Holder(ctx)) => {
            // The delayed output of our HTLC transaction: only its value
            // and outpoint differ from one HTLC transaction to another.
            let mut c = second_stage_claim(ctx, &stub(None, ScriptBuf::new())).ok()?;
            c.output.outpoint = op;
            Some(ClaimSource::Own(c))
        }
        (ClaimTag::RevokedSecondStage, SpendKind::CounterpartyRevoked(rc)) => {
            let ws = to_local_script(
                &rc.keys.revocation_pubkey,
                rc.to_self_delay,
                &rc.keys.local_delayed_pubkey,
            );
            let fake_input = OutPoint {
                txid: rc.txid,
                vout: u32::MAX,
            };
            let mut c = second_stage_justice(rc, &stub(Some(fake_input), p2wsh(&ws)))
                .into_iter()
                .next()?;
            c.output.outpoint = op;
            Some(ClaimSource::Own(c))
        }
        (ClaimTag::SecondStage | ClaimTag::RevokedSecondStage, _) => None,
        _ => {
            let res = resolve(kind, state, preimage_of).ok()?;
            if let Some(c) = res.claims.into_iter().find(|c| c.output.outpoint == op) {
                return Some(ClaimSource::Own(c));
            }
            let SpendKind::Holder(ctx) = kind else {
                return None;
            };
            let txid = ctx.txid();
            res.holder_htlcs
                .into_iter()
                .find(|h| {
                    OutPoint {
                        txid,
                        vout: h.htlc.output_index,
                    } == op
                })
                .map(|h| ClaimSource::HolderHtlc {
                    commitment: Box::new(ctx.clone()),
                    claim: h,
                })
        }
    }
}

/// What one bump step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BumpStep {
    /// The claim keeps its last transaction (the schedule asks for no
    /// step this block, or the claim cannot be bumped).
    Kept,
    /// The claim's transaction was rebuilt at this rate.
    Bumped(FeeRate),
    /// The claim needs a bump it could not get (no wallet, a signer
    /// error): the reason, for the host. Its last transaction is broadcast
    /// again.
    Failed(String),
    /// As `Failed`, because the wallet's coins (those no other claim
    /// holds) cannot pay: the shortfall, for the host.
    Short(String),
}

/// Starts the claim's schedule if it has none: deadline and cap as above.
pub fn ensure_schedule(
    claim: &mut PendingClaim,
    kind: Option<&SpendKind>,
    history: &[HtlcHistoryEntry],
    tip: u32,
) {
    if claim.bump.is_none() {
        let deadline = claim_deadline(claim, kind, history, tip);
        let cap = claim_cap(claim);
        claim.bump = Some(ClaimBump::new(FeeBumpState::new(deadline, cap)));
    }
}

/// The rate the claim's next broadcast at `tip` must be rebuilt at
/// ([`next_bump`]); `None` to broadcast the last one again.
pub fn rate_due(claim: &PendingClaim, tip: u32, estimate: FeeRate) -> Option<FeeRate> {
    next_bump(&claim.bump.as_ref()?.state, tip, estimate)
}

/// Rebuilds `claim` at `rate` from `source`, paying from `wallet` where
/// the wallet pays; on success the new transaction replaces the claim's
/// (the old txid is kept among its versions) and the broadcast is
/// recorded at `tip`. `reuse`: the wallet coins of the last version it
/// may spend again (those no other claim holds; none when they were spent
/// by something else).
#[allow(clippy::too_many_arguments)]
pub fn rebuild<S: ChannelSigner, W: Wallet>(
    claim: &mut PendingClaim,
    source: &ClaimSource,
    rate: FeeRate,
    tip: u32,
    signer: &S,
    wallet: Option<&W>,
    reuse: &[WalletUtxo],
    destination: &ScriptBuf,
) -> BumpStep {
    let Some(bump) = claim.bump.as_mut() else {
        return BumpStep::Kept;
    };
    let target = bump.state.target(rate);
    let built = match source {
        ClaimSource::Own(c) => {
            let tx = match build_claim_transaction(
                signer,
                std::slice::from_ref(c),
                destination.clone(),
                FeeratePerKw(rate.sat_per_kw()),
            ) {
                Ok(tx) => tx,
                Err(e) => return BumpStep::Failed(format!("rebuilding the claim: {e}")),
            };
            let out: Amount = tx.output.iter().map(|o| o.value).sum();
            let fee = claim.value.checked_sub(out).unwrap_or(Amount::ZERO);
            let weight = tx.weight().to_wu();
            if bump.state.broadcasts() > 0 && !bump.state.is_valid_replacement(fee, weight) {
                return BumpStep::Failed("the rebuilt claim would not replace the last".into());
            }
            Ok((tx, fee, weight, Vec::new()))
        }
        ClaimSource::HolderHtlc {
            commitment,
            claim: h,
        } => {
            let Some(wallet) = wallet else {
                return BumpStep::Failed(
                    "no wallet is configured: the zero-fee HTLC transaction cannot be paid for"
                        .into(),
                );
            };
            build_funded_holder_htlc_transaction(signer, commitment, h, &target, wallet, reuse)
                .map(|f| (f.tx, f.fee, f.weight, f.wallet_inputs))
        }
    };
    match built {
        Ok((tx, fee, weight, inputs)) => {
            let old = claim.tx.compute_txid();
            if tx.compute_txid() != old && !bump.replaced.contains(&old) {
                bump.replaced.push(old);
            }
            bump.state.record_broadcast(tip, rate, fee, weight);
            bump.wallet_inputs = inputs;
            bump.inputs_spent = false;
            claim.tx = tx;
            BumpStep::Bumped(rate)
        }
        Err(BumpError::Wallet(WalletError::InsufficientFunds { needed, available })) => {
            BumpStep::Short(format!(
                "the wallet cannot pay the fee bump: needs {needed}, has {available}"
            ))
        }
        Err(e) => BumpStep::Failed(format!("fee bump failed: {e}")),
    }
}
