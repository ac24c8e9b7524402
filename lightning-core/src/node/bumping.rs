//! Fee bumping in the node (issue 15, "Deadlines and fee bumping"): every
//! block, each claim that is due is rebroadcast at the rate its persisted
//! [`FeeBumpState`](crate::onchain::bump::FeeBumpState) gives
//! ([`policy`]: RBF of claims that pay for themselves, rebuilt at the new
//! rate, never lower than the last; anchors HTLC transactions funded by
//! the host's wallet), and an unconfirmed `option_anchors` commitment is
//! CPFP'd through our anchor and re-bumped against its deadline.
//!
//! The caller (`node/onchain.rs`) persists the resolver before it queues
//! what these return (persist before broadcast).

use std::sync::Arc;

use bitcoin::{Amount, Transaction};
use lightning_chain::{ConfirmationTarget, FeeRate, Wallet};
use lightning_wire::types::{ChannelId, PaymentHash, PaymentPreimage};

use super::{Event, Node};
use crate::channel::Phase;
use crate::onchain::bump::policy::{self, BumpStep};
use crate::onchain::bump::record::AnchorBump;
use crate::onchain::bump::{
    anchor_cpfp_deadline, build_anchor_cpfp, htlc_success_deadline, htlc_timeout_deadline,
    next_bump, FeeBumpState,
};
use crate::onchain::classify::{classify_spend, SpendKind};
use crate::onchain::resolver::SpendTag;
use crate::transactions::{CommitmentTransaction, HtlcDirection};

impl Node {
    /// Sets (or replaces) the host's wallet, which pays for fee bumps: see
    /// [`NodeBuilder::wallet`](super::NodeBuilder::wallet). Takes effect
    /// from the next block.
    pub fn set_wallet(&mut self, wallet: Arc<dyn Wallet + Send + Sync>) {
        self.wallet = Some(wallet);
    }

    /// Whether the node has a wallet to pay for fee bumps.
    pub fn has_wallet(&self) -> bool {
        self.wallet.is_some()
    }

    fn bump_estimate(&self) -> FeeRate {
        FeeRate::from_sat_per_kw(self.feerate_per_kw(ConfirmationTarget::UrgentOnChainSweep))
    }

    /// Every due claim of channel `id` at `tip`, bumped per its schedule:
    /// the transactions to broadcast (after the caller persists the
    /// resolver), and whether the resolver changed. `preimages`: those the
    /// node may reveal (for rebuilding HTLC-success claims).
    pub(super) fn bump_due_claims(
        &mut self,
        id: ChannelId,
        tip: u32,
        preimages: &[(PaymentHash, PaymentPreimage)],
    ) -> (Vec<Transaction>, bool) {
        let estimate = self.bump_estimate();
        let destination = self.shutdown_script();
        let wallet = self.wallet.clone();
        let mut warnings = Vec::new();
        let mut out = Vec::new();
        let mut changed = false;
        let (Some(entry), Some(r)) = (self.channels.get(&id), self.onchain.get_mut(&id)) else {
            return (out, false);
        };
        let st = entry.channel.state();
        let signer = entry.channel.signer();
        let anchors = st.channel_type.anchors;
        let history = r.history.clone();
        // Classified once, and only if a claim must be rebuilt.
        let mut kind: Option<Option<SpendKind>> = None;
        let classify = |r: &crate::onchain::ChannelResolver| {
            let spend = r.spend.as_ref()?;
            classify_spend(st, signer, &spend.tx, &r.history_candidates()).ok()
        };
        let preimage_of = |h: &PaymentHash| preimages.iter().find(|(x, _)| x == h).map(|(_, p)| *p);
        let due: Vec<usize> = (0..r.claims.len())
            .filter(|i| r.claims.get(*i).is_some_and(|c| c.due(tip)))
            .collect();
        for i in due {
            let needs_kind = r
                .claims
                .get(i)
                .is_some_and(|c| c.bump.is_none() && policy::bumpable(c, anchors));
            if needs_kind && kind.is_none() {
                kind = Some(classify(r));
            }
            let Some(c) = r.claims.get_mut(i) else {
                continue;
            };
            if policy::bumpable(c, anchors) {
                if c.bump.is_none() {
                    policy::ensure_schedule(
                        c,
                        kind.as_ref().and_then(Option::as_ref),
                        &history,
                        tip,
                    );
                    changed = true;
                }
                if let Some(rate) = policy::rate_due(c, tip, estimate) {
                    if kind.is_none() {
                        kind = Some(classify(r));
                    }
                    let Some(c) = r.claims.get_mut(i) else {
                        continue;
                    };
                    let source = kind
                        .as_ref()
                        .and_then(Option::as_ref)
                        .and_then(|k| policy::claim_source(k, st, &preimage_of, c));
                    let step = match &source {
                        Some(source) => policy::rebuild(
                            c,
                            source,
                            rate,
                            tip,
                            signer,
                            wallet.as_ref(),
                            &destination,
                        ),
                        None => BumpStep::Failed("the claim's output was not found again".into()),
                    };
                    match step {
                        BumpStep::Bumped(_) => changed = true,
                        BumpStep::Failed(reason) => {
                            if let Some(b) = c.bump.as_mut().filter(|b| !b.warned) {
                                b.warned = true;
                                changed = true;
                                warnings.push((c.tx.compute_txid(), reason));
                            }
                        }
                        BumpStep::Kept => {}
                    }
                }
            }
            if let Some(c) = r.claims.get(i) {
                out.push(c.tx.clone());
            }
        }
        for (txid, reason) in warnings {
            self.push_event(
                Event::FeeBumpUnavailable {
                    channel_id: id,
                    txid,
                    reason,
                },
                None,
            );
        }
        (out, changed)
    }

    /// The anchor CPFP of channel `id` at `tip`: its unconfirmed anchors
    /// commitment (ours, broadcast after a force close and not yet seen
    /// confirmed; or the funding spend a reorg unconfirmed, ours or the
    /// peer's) and our child, re-bumped per schedule. Returns what to
    /// broadcast (parent first) and whether the resolver changed.
    pub(super) fn anchor_cpfp(
        &mut self,
        id: ChannelId,
        tip: u32,
        preimages: &[(PaymentHash, PaymentPreimage)],
    ) -> (Vec<Transaction>, bool) {
        let estimate = self.bump_estimate();
        let wallet = self.wallet.clone();
        let Some(entry) = self.channels.get(&id) else {
            return (Vec::new(), false);
        };
        let st = entry.channel.state();
        if !st.channel_type.anchors {
            return (Vec::new(), false);
        }
        let signer = entry.channel.signer();
        let resolver = self.onchain.get(&id);
        let parent = match resolver.and_then(|r| r.spend.as_ref()) {
            Some(s)
                if s.height.is_none()
                    && matches!(
                        s.kind,
                        SpendTag::Holder
                            | SpendTag::CounterpartyCurrent
                            | SpendTag::CounterpartyNext
                    ) =>
            {
                s.tx.clone()
            }
            Some(_) => return (Vec::new(), false),
            None => {
                if entry.channel.phase() != Phase::Failed {
                    return (Vec::new(), false);
                }
                match entry.channel.holder_commitment() {
                    Ok(h) => h.commitment,
                    Err(_) => return (Vec::new(), false),
                }
            }
        };
        let parent_txid = parent.compute_txid();
        let mut changed = false;
        let known = resolver
            .and_then(|r| r.anchor.as_ref())
            .is_some_and(|a| a.parent_txid() == parent_txid);
        let fresh = if known {
            None
        } else {
            let history = resolver.map(|r| r.history_candidates()).unwrap_or_default();
            let Ok(kind) = classify_spend(st, signer, &parent, &history) else {
                return (vec![parent], false);
            };
            let (ctx, ours) = match &kind {
                SpendKind::Holder(c) => (c, true),
                SpendKind::CounterpartyCurrent(c) | SpendKind::CounterpartyNext(c) => (c, false),
                _ => return (vec![parent], false),
            };
            let (deadlines, at_stake) = stakes(ctx, ours, preimages);
            let outputs: Amount = parent.output.iter().map(|o| o.value).sum();
            let parent_fee = ctx
                .funding_amount
                .checked_sub(outputs)
                .unwrap_or(Amount::ZERO);
            let cap = policy::anchor_cap(at_stake, parent.weight().to_wu());
            Some(AnchorBump {
                parent: parent.clone(),
                parent_fee,
                state: FeeBumpState::new(anchor_cpfp_deadline(tip, &deadlines), cap),
                child: None,
                wallet_inputs: Vec::new(),
                warned: false,
            })
        };
        let r = self.onchain.entry(id).or_default();
        if let Some(a) = fresh {
            r.anchor = Some(a);
            changed = true;
        }
        let Some(a) = r.anchor.as_mut() else {
            return (vec![parent], changed);
        };
        let mut warning = None;
        if let Some(rate) = next_bump(&a.state, tip, estimate) {
            let parent_rate = a
                .parent_fee
                .to_sat()
                .saturating_mul(1000)
                .checked_div(a.parent.weight().to_wu())
                .unwrap_or(0);
            let needed = a.child.is_some() || parent_rate < u64::from(rate.sat_per_kw());
            match (&wallet, needed) {
                (_, false) => {}
                (None, true) => {
                    warning = Some(
                        "no wallet is configured: the anchors commitment cannot be CPFP'd".into(),
                    );
                }
                (Some(w), true) => {
                    match build_anchor_cpfp(
                        signer,
                        &a.parent,
                        a.parent_fee,
                        &a.state.target(rate),
                        w,
                        &a.wallet_inputs,
                    ) {
                        Ok(cpfp) => {
                            a.state
                                .record_broadcast(tip, rate, cpfp.child.fee, cpfp.child.weight);
                            a.wallet_inputs = cpfp.child.wallet_inputs;
                            a.child = Some(cpfp.child.tx);
                            changed = true;
                        }
                        Err(e) => warning = Some(format!("the anchor CPFP failed: {e}")),
                    }
                }
            }
        }
        let warn = warning.filter(|_| !a.warned);
        if warn.is_some() {
            a.warned = true;
            changed = true;
        }
        let mut out = vec![a.parent.clone()];
        out.extend(a.child.clone());
        if let Some(reason) = warn {
            self.push_event(
                Event::FeeBumpUnavailable {
                    channel_id: id,
                    txid: parent_txid,
                    reason,
                },
                None,
            );
        }
        (out, changed)
    }

    /// Failed `option_anchors` channels, their funding confirmed, whose
    /// commitment is not seen on chain yet: the ones [`Node::anchor_cpfp`]
    /// bumps.
    pub(super) fn unconfirmed_anchor_commitments(&self) -> Vec<ChannelId> {
        self.channels
            .iter()
            .filter(|(id, e)| {
                e.channel.phase() == Phase::Failed
                    && e.channel.state().channel_type.anchors
                    && e.channel.state().funding_height.is_some()
                    && self.onchain.get(id).is_none_or(|r| r.spend.is_none())
            })
            .map(|(id, _)| *id)
            .collect()
    }
}

/// The HTLC deadlines of a commitment and the value at stake for us in it:
/// our main output and the HTLCs we can claim (ours to time out, or
/// offered to us with a known preimage). `ours`: our commitment (else the
/// peer's, whose directions are the other way round).
fn stakes(
    ctx: &CommitmentTransaction,
    ours: bool,
    preimages: &[(PaymentHash, PaymentPreimage)],
) -> (Vec<u32>, Amount) {
    let mut deadlines = Vec::new();
    let main = if ours { ctx.to_local } else { ctx.to_remote };
    let mut stake = main.map(|(_, v)| v).unwrap_or(Amount::ZERO);
    for h in &ctx.htlcs {
        let we_offered = (h.htlc.direction == HtlcDirection::Offered) == ours;
        if we_offered {
            deadlines.push(htlc_timeout_deadline(h.htlc.cltv_expiry, None));
        } else if preimages.iter().any(|(x, _)| *x == h.htlc.payment_hash) {
            deadlines.push(htlc_success_deadline(h.htlc.cltv_expiry));
        } else {
            continue;
        }
        stake = stake.checked_add(h.amount).unwrap_or(stake);
    }
    (deadlines, stake)
}
