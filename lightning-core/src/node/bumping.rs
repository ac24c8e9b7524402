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

use std::collections::HashMap;
use std::sync::Arc;

use bitcoin::{Amount, OutPoint, Transaction};
use lightning_chain::{ConfirmationTarget, FeeRate, Wallet};
use lightning_wire::types::{ChannelId, PaymentHash, PaymentPreimage};

use super::{Event, Node};
use crate::channel::Phase;
use crate::onchain::bump::policy::{self, BumpStep};
use crate::onchain::bump::record::AnchorBump;
use crate::onchain::bump::{
    anchor_cpfp_deadline, build_anchor_cpfp, htlc_success_deadline, htlc_timeout_deadline,
    next_bump, CoinHolder, FeeBumpState, ReservedWallet,
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

    /// Every wallet coin a pending claim (of any channel) or a pending
    /// anchor CPFP child holds, by holder: no other claim may spend it.
    /// Derived from the resolvers (each claim's last version's coins are
    /// persisted with it), so the reservation survives a restart; a coin is
    /// released when its claim confirms, is lost to a conflict, or is
    /// rebuilt without it, and an anchor child's when its parent is no
    /// longer the unconfirmed commitment. Where records written before
    /// reservations share a coin, the first holder in channel and claim
    /// order keeps it.
    fn reserved_coins(&self) -> HashMap<OutPoint, CoinHolder> {
        let mut held = HashMap::new();
        for (id, r) in &self.onchain {
            if let Some(a) = r.anchor.as_ref().filter(|a| a.child.is_some()) {
                let pending = r
                    .spend
                    .as_ref()
                    .is_none_or(|s| s.height.is_none() && s.tx.compute_txid() == a.parent_txid());
                if pending {
                    for u in &a.wallet_inputs {
                        held.entry(u.outpoint).or_insert((*id, None));
                    }
                }
            }
            for (i, c) in r.claims.iter().enumerate() {
                if !policy::holds_wallet_coins(c) {
                    continue;
                }
                for u in c.bump.iter().flat_map(|b| &b.wallet_inputs) {
                    held.entry(u.outpoint).or_insert((*id, Some(i)));
                }
            }
        }
        held
    }

    /// Every due claim of channel `id` at `tip`, bumped per its schedule:
    /// the transactions to broadcast (after the caller persists the
    /// resolver), and whether the resolver changed. `preimages`: those the
    /// node may reveal (for rebuilding HTLC-success claims).
    ///
    /// Wallet-paid claims (anchors HTLC transactions) select their coins
    /// through a [`ReservedWallet`]: never a coin another pending claim
    /// holds, including those picked earlier in this step (the host's
    /// wallet still lists them: the transactions go out after the step's
    /// write). The due claims are taken nearest deadline first, so when
    /// the wallet's coins run short the most urgent HTLCs get them; the
    /// others keep their last version and raise
    /// [`Event::FeeBumpUnavailable`] naming the shortfall, and are tried
    /// again each block (change of the funded ones comes back once they
    /// confirm).
    pub(super) fn bump_due_claims(
        &mut self,
        id: ChannelId,
        tip: u32,
        preimages: &[(PaymentHash, PaymentPreimage)],
    ) -> (Vec<Transaction>, bool) {
        let estimate = self.bump_estimate();
        let destination = self.shutdown_script();
        let wallet = self.wallet.clone();
        let anchors_channel = self
            .channels
            .get(&id)
            .is_some_and(|e| e.channel.state().channel_type.anchors);
        let mut reserved = if wallet.is_some() && anchors_channel {
            self.reserved_coins()
        } else {
            HashMap::new()
        };
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
        let mut due: Vec<usize> = (0..r.claims.len())
            .filter(|i| r.claims.get(*i).is_some_and(|c| c.due(tip)))
            .collect();
        // Schedules first: their deadlines order the claims.
        for &i in &due {
            let needs_schedule = r
                .claims
                .get(i)
                .is_some_and(|c| c.bump.is_none() && policy::bumpable(c, anchors));
            if !needs_schedule {
                continue;
            }
            if kind.is_none() {
                kind = Some(classify(r));
            }
            if let Some(c) = r.claims.get_mut(i) {
                policy::ensure_schedule(c, kind.as_ref().and_then(Option::as_ref), &history, tip);
                changed = true;
            }
        }
        // Nearest deadline first (BOLT 5: every HTLC claimed before its
        // deadline): the wallet's coins go to the most urgent claims.
        due.sort_by_key(|&i| {
            r.claims
                .get(i)
                .and_then(|c| c.bump.as_ref())
                .map_or(u32::MAX, |b| b.state.deadline())
        });
        for i in due {
            let Some(c) = r.claims.get(i) else {
                continue;
            };
            if policy::bumpable(c, anchors) {
                let me: CoinHolder = (id, Some(i));
                let paid = policy::wallet_paid(c);
                // A coin of the last version spent by another transaction
                // (`inputs_spent`), or held by another claim (records
                // written before coins were reserved): that version cannot
                // be mined, so the claim is rebuilt with other coins now
                // instead of broadcast again, at no lower a rate.
                let spent = paid && c.bump.as_ref().is_some_and(|b| b.inputs_spent);
                let shared = spent
                    || paid
                        && c.bump.as_ref().is_some_and(|b| {
                            b.wallet_inputs
                                .iter()
                                .any(|u| reserved.get(&u.outpoint).is_some_and(|h| *h != me))
                        });
                let rate = policy::rate_due(c, tip, estimate).or_else(|| {
                    shared
                        .then(|| c.bump.as_ref().and_then(|b| b.state.last_feerate()))
                        .flatten()
                });
                if let Some(rate) = rate {
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
                    let step = {
                        let rw = wallet.as_deref().map(|w| ReservedWallet {
                            wallet: w,
                            reserved: &reserved,
                            me,
                        });
                        // Coins of a version found spent are not reused: the
                        // wallet lists those still unspent.
                        let reuse = match (&rw, c.bump.as_ref()) {
                            (Some(rw), Some(b)) if !spent => rw.reusable(&b.wallet_inputs),
                            _ => Vec::new(),
                        };
                        match &source {
                            Some(source) => policy::rebuild(
                                c,
                                source,
                                rate,
                                tip,
                                signer,
                                rw.as_ref(),
                                &reuse,
                                &destination,
                            ),
                            None => {
                                BumpStep::Failed("the claim's output was not found again".into())
                            }
                        }
                    };
                    let reason = match step {
                        BumpStep::Bumped(_) => {
                            changed = true;
                            if paid {
                                reserved.retain(|_, h| *h != me);
                                for u in c.bump.iter().flat_map(|b| &b.wallet_inputs) {
                                    reserved.insert(u.outpoint, me);
                                }
                            }
                            None
                        }
                        BumpStep::Short(reason) => {
                            let held = reserved.values().filter(|h| **h != me).count();
                            Some(format!(
                                "{reason}: the wallet is short of coins for the claims due \
                                 ({held} of its coins are held by other pending claims, \
                                 funded first as nearer their deadline); the claim keeps its \
                                 last transaction and is tried again each block"
                            ))
                        }
                        BumpStep::Failed(reason) => Some(reason),
                        BumpStep::Kept => None,
                    };
                    if let Some(reason) = reason {
                        if let Some(b) = c.bump.as_mut().filter(|b| !b.warned) {
                            b.warned = true;
                            changed = true;
                            warnings.push((c.tx.compute_txid(), reason));
                        }
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
        let reserved = if wallet.is_some() {
            self.reserved_coins()
        } else {
            HashMap::new()
        };
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
        let r = self.onchain.get_or_default(id);
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
                    // Never a coin another pending claim holds.
                    let rw = ReservedWallet {
                        wallet: &**w,
                        reserved: &reserved,
                        me: (id, None),
                    };
                    let reuse = rw.reusable(&a.wallet_inputs);
                    match build_anchor_cpfp(
                        signer,
                        &a.parent,
                        a.parent_fee,
                        &a.state.target(rate),
                        &rw,
                        &reuse,
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
    /// bumps. `among`: the channels to look at (`None`: every channel).
    pub(super) fn unconfirmed_anchor_commitments(
        &self,
        among: Option<&[ChannelId]>,
    ) -> Vec<ChannelId> {
        let entries: Box<dyn Iterator<Item = (&ChannelId, &super::ChannelEntry)> + '_> = match among
        {
            Some(ids) => Box::new(
                ids.iter()
                    .filter_map(|id| Some((id, self.channels.get(id)?))),
            ),
            None => Box::new(self.channels.iter()),
        };
        entries
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
