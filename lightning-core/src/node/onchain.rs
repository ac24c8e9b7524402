//! BOLT 5 in the node: every funded channel's funding outpoint is watched;
//! a confirmed spend is classified ([`classify_spend`]), resolved
//! ([`resolve`]) and its claims signed and kept in the channel's
//! [`ChannelResolver`], persisted under `onchain/<channel id>` in the same
//! batch as the step (persist before broadcast: the claims leave through
//! the outbox behind that batch). Every block: reorgs undo confirmations
//! (and what they undid is broadcast again), matured claims are broadcast,
//! HTLC-timeout claims again every block (replacement cycling), claims 6
//! deep are resolved, and a record 100 deep is forgotten.
//!
//! Fee bumping (`node/bumping.rs`): each block, before anything goes out,
//! every due claim is bumped per its persisted schedule and an unconfirmed
//! anchors commitment is CPFP'd; the resolver is written, then the
//! transactions are queued behind that write.

use std::collections::HashMap;

use bitcoin::{OutPoint, ScriptBuf, Transaction, Txid};
use lightning_chain::{ConfirmationTarget, WatchedOutput};
use lightning_chain::{OutPointKey, TxidKey};
use lightning_wire::types::{ChannelId, PaymentHash, PaymentPreimage};

use super::{Event, Node};
use crate::amount::FeeratePerKw;
use crate::channel::update_log::{HtlcRemoval, Side, UpdateKind};
use crate::channel::Phase;
use crate::keys::DynChannelSigner;
use crate::onchain::classify::{
    classify_spend, commitment_htlc_ids, HtlcCandidate, SpendKind, UnknownSpend,
};
use crate::onchain::resolve::{
    build_claim_transaction, build_holder_htlc_transaction, extract_preimages, resolve,
    second_stage_claim, second_stage_justice, Claim, ClaimKind,
};
use crate::onchain::resolver::{
    ChannelResolver, ClaimTag, FundingSpend, PendingClaim, ResolverNote, SpendTag, RESOLVED_DEPTH,
};
use crate::onchain::{record, OnchainError};
use crate::transactions::HtlcDirection;

/// The store key of a channel's resolver.
pub(crate) fn onchain_key(id: &ChannelId) -> String {
    format!("onchain/{}", hex::encode(id.0))
}

/// The prefix of every resolver key.
pub(crate) const ONCHAIN_PREFIX: &str = "onchain/";

fn spend_tag(kind: &SpendKind) -> SpendTag {
    match kind {
        SpendKind::MutualClose { .. } => SpendTag::MutualClose,
        SpendKind::Holder(_) => SpendTag::Holder,
        SpendKind::CounterpartyCurrent(_) => SpendTag::CounterpartyCurrent,
        SpendKind::CounterpartyNext(_) => SpendTag::CounterpartyNext,
        SpendKind::CounterpartyRevoked(_) => SpendTag::CounterpartyRevoked,
        SpendKind::Unknown(_) => SpendTag::Unknown,
    }
}

fn describe(kind: &SpendKind) -> String {
    match kind {
        SpendKind::MutualClose { .. } => "mutual close".into(),
        SpendKind::Holder(_) => "our commitment".into(),
        SpendKind::CounterpartyCurrent(_) => "the peer's current commitment".into(),
        SpendKind::CounterpartyNext(_) => "the peer's next commitment".into(),
        SpendKind::CounterpartyRevoked(rc) => format!(
            "the peer's REVOKED commitment number {} (punished)",
            rc.commitment_number
        ),
        SpendKind::Unknown(u) => match u {
            UnknownSpend::NotACommitment => "UNKNOWN spend: not a commitment".into(),
            UnknownSpend::UnknownCommitment { commitment_number } => {
                format!("UNKNOWN commitment number {commitment_number}: we may have lost data")
            }
            UnknownSpend::MissingSecret { commitment_number } => {
                format!("revoked commitment {commitment_number} whose secret we lack")
            }
            UnknownSpend::RevokedOutputsMismatch { commitment_number } => {
                format!("revoked commitment {commitment_number} matching no script")
            }
        },
    }
}

fn claim_tag(kind: ClaimKind) -> (ClaimTag, Option<PaymentHash>) {
    match kind {
        ClaimKind::DelayedToLocal => (ClaimTag::ToLocal, None),
        ClaimKind::ToRemote => (ClaimTag::ToRemote, None),
        ClaimKind::HtlcPreimage { payment_hash } => (ClaimTag::HtlcPreimage, Some(payment_hash)),
        ClaimKind::HtlcTimeout { payment_hash } => (ClaimTag::HtlcTimeout, Some(payment_hash)),
        ClaimKind::RevokedToLocal => (ClaimTag::RevokedToLocal, None),
        ClaimKind::RevokedHtlc { payment_hash } => (ClaimTag::RevokedHtlc, Some(payment_hash)),
        ClaimKind::RevokedSecondStage { payment_hash } => {
            (ClaimTag::RevokedSecondStage, payment_hash)
        }
    }
}

impl Node {
    /// The host's light-client filter: every funded channel's funding
    /// outpoint is registered now and whenever a channel is funded, every
    /// output a claim spends once it is made, and the funding output of
    /// each public channel the host's `UtxoLookup` revealed, in this run or
    /// an earlier one (read back from the store when the filter is set),
    /// and reveals from now on
    /// ([`NetworkGraphConfig::watch_funding_outputs`](super::NetworkGraphConfig::watch_funding_outputs)) (see
    /// [`WatchFilter`](lightning_chain::WatchFilter)). A host that feeds
    /// full blocks need not set one.
    pub fn set_watch_filter(
        &mut self,
        filter: std::sync::Arc<dyn lightning_chain::WatchFilter + Send + Sync>,
    ) {
        self.watch_filter = Some(filter);
        self.graph_watch_filter_set();
        let ids: Vec<ChannelId> = self.channels.keys().copied().collect();
        self.filter_registered.clear();
        for id in ids {
            self.register_watches(id);
        }
    }

    /// Registers with the host's filter what channel `id` needs watched:
    /// its funding outpoint, and the outputs its claims spend.
    pub(super) fn register_watches(&mut self, id: ChannelId) {
        let Some(filter) = self.watch_filter.clone() else {
            return;
        };
        let Some(entry) = self.channels.get(&id) else {
            return;
        };
        let st = entry.channel.state();
        let mut outputs: Vec<(OutPoint, ScriptBuf)> = Vec::new();
        if let (Some(op), Ok(spk)) = (st.funding_outpoint, entry.channel.funding_script_pubkey()) {
            outputs.push((op, spk));
        }
        if let Some(r) = self.onchain.get(&id) {
            let parents: Vec<&Transaction> = r
                .spend
                .iter()
                .map(|s| &s.tx)
                .chain(r.claims.iter().map(|c| &c.tx))
                .collect();
            for c in &r.claims {
                for op in c.spends() {
                    let spk = parents
                        .iter()
                        .find(|t| t.compute_txid() == op.txid)
                        .and_then(|t| t.output.get(op.vout as usize))
                        .map(|o| o.script_pubkey.clone())
                        .unwrap_or_default();
                    outputs.push((op, spk));
                }
            }
        }
        for (outpoint, script_pubkey) in outputs {
            if self.filter_registered.insert(outpoint) {
                filter.register_output(WatchedOutput {
                    block_hash: None,
                    outpoint,
                    script_pubkey,
                });
            }
        }
    }

    /// Adds the HTLCs of the channels that changed in this step to their
    /// history (for justice on a revoked commitment once they leave the
    /// update log), writing the resolver record when one is new.
    pub(super) fn record_htlc_history(&mut self) {
        let ids: Vec<ChannelId> = std::mem::take(&mut self.history_dirty)
            .into_iter()
            .collect();
        for id in ids {
            self.register_watches(id);
            let Some(entry) = self.channels.get(&id) else {
                continue;
            };
            let st = entry.channel.state();
            if st.funding_outpoint.is_none() {
                continue;
            }
            let number = st.numbers.remote;
            let next = (
                st.log.next_htlc_id(Side::Local),
                st.log.next_htlc_id(Side::Remote),
            );
            let seen = self.history_seen.get(&id).copied();
            if seen == Some(next) {
                continue;
            }
            // Ids handed back (an offer dropped on disconnection is made
            // again with the same id): scan from the start.
            let (seen_local, seen_remote) = match seen {
                Some((l, r)) if l <= next.0 && r <= next.1 => (l, r),
                _ => (0, 0),
            };
            let adds: Vec<HtlcCandidate> = st
                .log
                .updates()
                .iter()
                .filter_map(|u| match &u.kind {
                    UpdateKind::Add(a)
                        if a.id
                            >= if u.proposer == Side::Local {
                                seen_local
                            } else {
                                seen_remote
                            } =>
                    {
                        Some(HtlcCandidate {
                            offerer: u.proposer,
                            amount_msat: a.amount_msat,
                            payment_hash: a.payment_hash,
                            cltv_expiry: a.cltv_expiry,
                        })
                    }
                    _ => None,
                })
                .collect();
            self.history_seen.insert(id, next);
            let r = self.onchain.get_or_default(id);
            let mut new = false;
            for a in adds {
                new |= r.remember_htlc(a, number);
            }
            if new {
                self.save_resolver(id);
            }
        }
    }

    pub(super) fn save_resolver(&mut self, id: ChannelId) {
        if let Some(r) = self.onchain.get(&id) {
            // A failed write is recorded by the writer and blocks every
            // later broadcast and message.
            let _ = self
                .writer
                .write_record(&onchain_key(&id), record::encode(r));
        }
    }

    /// The preimages the node may reveal on chain for channel `id` (BOLT
    /// 5: only for HTLCs we are the final recipient of, or that we
    /// fulfilled off chain): the preimages of our fulfills in the log, and
    /// of our paid invoices.
    fn preimages_for(&self, id: ChannelId) -> Vec<(PaymentHash, PaymentPreimage)> {
        let mut v = Vec::new();
        if let Some(entry) = self.channels.get(&id) {
            for u in entry.channel.state().log.updates() {
                if let UpdateKind::Remove {
                    removal:
                        HtlcRemoval::Fulfill {
                            payment_preimage, ..
                        },
                    ..
                } = &u.kind
                {
                    if u.proposer == Side::Local {
                        v.push((hash_of(payment_preimage), *payment_preimage));
                    }
                }
            }
        }
        for (hash, inv) in &self.invoices {
            if inv.status == super::InvoiceStatus::Paid {
                v.push((*hash, inv.preimage));
            }
        }
        // Forwards fulfilled downstream, claimed hold invoices, keysend.
        v.extend(self.known_preimages());
        v
    }

    fn sweep_feerate(&self) -> FeeratePerKw {
        FeeratePerKw(self.feerate_per_kw(ConfirmationTarget::UrgentOnChainSweep))
    }

    /// Classifies the funding spend of channel `id` again (the channel's
    /// record is frozen once it failed, so this gives what it gave first).
    fn classify_again(&self, id: ChannelId) -> Option<SpendKind> {
        let entry = self.channels.get(&id)?;
        let r = self.onchain.get(&id)?;
        let spend = r.spend.as_ref()?;
        classify_spend(
            entry.channel.state(),
            entry.channel.signer(),
            &spend.tx,
            &r.history_candidates(),
        )
        .ok()
    }

    /// Transactions of a block (all, or those a light client's filter
    /// matched): funding spends and spends of what our claims watch.
    pub(super) fn onchain_transactions_confirmed(
        &mut self,
        txdata: &[(usize, &Transaction)],
        txids: &[Txid],
        height: u32,
    ) {
        if txdata.is_empty() {
            return;
        }
        // The transactions of the channels already resolving on chain
        // (few): their commitments, claims and the cheater's second stages.
        // A copy: the claims below change resolvers, and this block is
        // matched against what they watched when it came.
        let watched: HashMap<TxidKey, Vec<ChannelId>> = self.onchain.watch_index().clone();
        for ((_, tx), &txid) in txdata.iter().zip(txids) {
            for input in &tx.input {
                // One 8-byte-hashed lookup per input; a hit is checked
                // against the channel itself.
                let Some(&id) = self.funding_index.get(&OutPointKey(input.previous_output)) else {
                    continue;
                };
                let funded = self
                    .channels
                    .get(&id)
                    .and_then(|e| e.channel.state().funding_outpoint);
                if funded == Some(input.previous_output) {
                    self.funding_spent(id, tx, height);
                }
            }
            if watched.is_empty() {
                continue;
            }
            let mut ids: Vec<ChannelId> = tx
                .input
                .iter()
                .filter_map(|i| watched.get(&TxidKey(i.previous_output.txid)))
                .flatten()
                .copied()
                .collect();
            ids.extend(watched.get(&TxidKey(txid)).into_iter().flatten().copied());
            ids.sort();
            ids.dedup();
            for id in ids {
                self.claim_side_tx(id, tx, height);
            }
        }
    }

    /// The funding output of channel `id` was spent by `tx` at `height`.
    fn funding_spent(&mut self, id: ChannelId, tx: &Transaction, height: u32) {
        let txid = tx.compute_txid();
        let r = self.onchain.get_or_default(id);
        if let Some(s) = &mut r.spend {
            if s.tx.compute_txid() == txid {
                // The same spend again (a reorg brought it back, or a
                // light client reported it twice).
                s.height = Some(height);
                let _ = r.reorged_to(u32::MAX);
                self.save_resolver(id);
                return;
            }
            if s.height.is_some() {
                // Cannot happen on one chain; keep what we have.
                return;
            }
            // Another spend replaced the one a reorg undid: start over,
            // keeping the fee history of the claims in case it comes back.
            r.retire_claims();
            r.spend = None;
            self.backup.ids_clean = false;
        }
        let Some(entry) = self.channels.get(&id) else {
            return;
        };
        let history = self
            .onchain
            .get(&id)
            .map(ChannelResolver::history_candidates)
            .unwrap_or_default();
        let kind = classify_spend(entry.channel.state(), entry.channel.signer(), tx, &history)
            .unwrap_or(SpendKind::Unknown(UnknownSpend::NotACommitment));
        let tag = spend_tag(&kind);
        if let Some(r) = self.onchain.get_mut(&id) {
            r.spend = Some(FundingSpend {
                tx: tx.clone(),
                height: Some(height),
                kind: tag,
            });
        }
        // A failed channel whose funding is spent leaves the backup.
        self.backup.ids_clean = false;
        let phase = entry.channel.phase();
        if !matches!(phase, Phase::Closed | Phase::Failed) && tag != SpendTag::MutualClose {
            // The channel is over: fail it (its `ChannelClosed` follows).
            // The resolver's spend is set, so the failure does not
            // broadcast our commitment against a confirmed one.
            if let Some(entry) = self.channels.get_mut(&id) {
                let out = entry
                    .channel
                    .force_close("the funding output was spent on chain");
                self.apply(id, out);
            }
        }
        self.push_event(
            Event::FundingSpent {
                channel_id: id,
                txid,
                recognised: tag != SpendTag::Unknown,
                kind: describe(&kind),
            },
            None,
        );
        if let Err(e) = self.make_claims(id, &kind, height) {
            self.push_event(
                Event::FundingSpent {
                    channel_id: id,
                    txid,
                    recognised: false,
                    kind: format!("claims could not be built: {e}"),
                },
                None,
            );
        }
        self.save_resolver(id);
        self.register_watches(id);
    }

    /// Signs every claim `kind` allows and keeps it in the resolver.
    fn make_claims(
        &mut self,
        id: ChannelId,
        kind: &SpendKind,
        height: u32,
    ) -> Result<(), OnchainError> {
        let preimages = self.preimages_for(id);
        let dest = self.shutdown_script();
        let feerate = self.sweep_feerate();
        let Some(entry) = self.channels.get(&id) else {
            return Ok(());
        };
        let st = entry.channel.state();
        let signer = entry.channel.signer();
        let anchors = st.channel_type.anchors;
        let preimage_of = |h: &PaymentHash| preimages.iter().find(|(x, _)| x == h).map(|(_, p)| *p);
        let resolution = resolve(kind, st, &preimage_of)?;
        // Each HTLC output's (channel, HTLC id): a claim carries it, so a
        // timed-out HTLC is failed back by id, never by its hash.
        let ids = commitment_htlc_ids(st, kind);
        let output_ids: Vec<(u32, u64)> = match kind {
            SpendKind::Holder(c)
            | SpendKind::CounterpartyCurrent(c)
            | SpendKind::CounterpartyNext(c) => c
                .htlcs
                .iter()
                .filter_map(|h| Some((h.output_index, ids.get(h.htlc_index)?.1)))
                .collect(),
            _ => Vec::new(),
        };
        let id_at = |vout: u32| {
            output_ids
                .iter()
                .find(|(v, _)| *v == vout)
                .map(|(_, id)| *id)
        };
        let parent = match kind {
            SpendKind::Holder(c)
            | SpendKind::CounterpartyCurrent(c)
            | SpendKind::CounterpartyNext(c) => c.txid(),
            SpendKind::CounterpartyRevoked(rc) => rc.txid,
            _ => return Ok(()),
        };
        let mut claims = Vec::new();
        for c in &resolution.claims {
            if let Some(mut p) = sweep_claim(signer, c, parent, Some(height), &dest, feerate) {
                if matches!(
                    c.kind,
                    ClaimKind::HtlcTimeout { .. } | ClaimKind::HtlcPreimage { .. }
                ) {
                    p.htlc_id = id_at(c.output.outpoint.vout);
                }
                claims.push(p);
            }
        }
        if let SpendKind::Holder(ctx) = kind {
            for h in &resolution.holder_htlcs {
                // Zero-fee with anchors: the bumper funds it from the
                // wallet when it is first due (`node/bumping.rs`).
                let tx = build_holder_htlc_transaction(signer, ctx, h)?;
                let timeout = h.htlc.htlc.direction == HtlcDirection::Offered;
                claims.push(PendingClaim {
                    kind: if timeout {
                        ClaimTag::HolderHtlcTimeout
                    } else {
                        ClaimTag::HolderHtlcSuccess
                    },
                    payment_hash: Some(h.htlc.htlc.payment_hash),
                    htlc_id: id_at(h.htlc.output_index),
                    tx,
                    value: h.htlc.amount,
                    parent,
                    parent_height: Some(height),
                    csv: u16::from(anchors),
                    cltv: if timeout { h.htlc.htlc.cltv_expiry } else { 0 },
                    confirmed_at: None,
                    conflicted: None,
                    bump: None,
                });
            }
        }
        if let Some(r) = self.onchain.get_mut(&id) {
            for c in claims {
                r.add_claim(c);
            }
        }
        Ok(())
    }

    /// A preimage became known after channels went on chain (a hold
    /// invoice claimed, a forward fulfilled downstream): each resolver of a
    /// commitment with HTLCs gains the claims the node's preimages now
    /// allow (BOLT 5, "HTLC Output Handling": an HTLC output offered to us
    /// whose preimage we learn is ours to spend before it times out).
    /// Claims already made stay ([`ChannelResolver::add_claim`] keeps one
    /// claim per output); the new ones go out with the next block's due
    /// claims, behind this step's write.
    pub(super) fn onchain_preimage_learned(&mut self) {
        let tip = self.best_height();
        let open: Vec<(ChannelId, u32)> = self
            .onchain
            .iter()
            .filter(|(_, r)| !r.may_forget(tip))
            .filter_map(|(id, r)| {
                let s = r.spend.as_ref()?;
                let height = s.height?;
                matches!(
                    s.kind,
                    SpendTag::Holder | SpendTag::CounterpartyCurrent | SpendTag::CounterpartyNext
                )
                .then_some((*id, height))
            })
            .collect();
        for (id, height) in open {
            let Some(kind) = self.classify_again(id) else {
                continue;
            };
            let before = self.onchain.get(&id).map_or(0, |r| r.claims.len());
            if self.make_claims(id, &kind, height).is_err() {
                continue;
            }
            if self.onchain.get(&id).map_or(0, |r| r.claims.len()) > before {
                self.save_resolver(id);
                self.register_watches(id);
            }
        }
    }

    /// `tx`, confirmed at `height`, is one of channel `id`'s claims or
    /// spends an output the resolver watches.
    fn claim_side_tx(&mut self, id: ChannelId, tx: &Transaction, height: u32) {
        let Some(r) = self.onchain.get_mut(&id) else {
            return;
        };
        let notes = r.tx_confirmed(tx, height);
        if notes.is_empty() {
            return;
        }
        let txid = tx.compute_txid();
        for note in &notes {
            match note {
                ResolverNote::ClaimConfirmed { kind, value, .. } => {
                    self.push_event(
                        Event::ClaimConfirmed {
                            channel_id: id,
                            txid,
                            amount_sat: *value,
                        },
                        None,
                    );
                    if matches!(
                        kind,
                        ClaimTag::HolderHtlcTimeout | ClaimTag::HolderHtlcSuccess
                    ) {
                        self.second_stage(id, tx, height);
                    }
                }
                ResolverNote::Conflict { .. } | ResolverNote::ForeignSpend => {}
            }
        }
        if notes
            .iter()
            .any(|n| !matches!(n, ResolverNote::ClaimConfirmed { .. }))
        {
            // BOLT 5: extract the preimage from any spend of an HTLC output;
            // it completes our payment, or claims a forward's incoming HTLC.
            for (_, preimage, hash) in extract_preimages(tx) {
                if self.payments.contains_key(&hash) {
                    self.payment_fulfilled(hash, preimage);
                }
                self.forward_preimage_on_chain(id, hash, preimage);
            }
            self.revoked_second_stage(id, tx, height);
        }
        self.save_resolver(id);
        self.register_watches(id);
    }

    /// Our HTLC transaction confirmed: its output is ours after
    /// `to_self_delay` (BOLT 5, "HTLC Output Handling: Local Commitment").
    fn second_stage(&mut self, id: ChannelId, htlc_tx: &Transaction, height: u32) {
        let Some(SpendKind::Holder(ctx)) = self.classify_again(id) else {
            return;
        };
        let Ok(claim) = second_stage_claim(&ctx, htlc_tx) else {
            return;
        };
        let dest = self.shutdown_script();
        let feerate = self.sweep_feerate();
        let Some(entry) = self.channels.get(&id) else {
            return;
        };
        let p = sweep_claim(
            entry.channel.signer(),
            &claim,
            htlc_tx.compute_txid(),
            Some(height),
            &dest,
            feerate,
        );
        if let (Some(mut p), Some(r)) = (p, self.onchain.get_mut(&id)) {
            p.kind = ClaimTag::SecondStage;
            r.add_claim(p);
        }
    }

    /// The cheater's HTLC transaction spending its revoked commitment: its
    /// output is ours by the revocation key before its CSV expires (BOLT 5,
    /// "Revoked Transaction Close Handling").
    fn revoked_second_stage(&mut self, id: ChannelId, tx: &Transaction, height: u32) {
        if !self
            .onchain
            .get(&id)
            .and_then(|r| r.spend.as_ref())
            .is_some_and(|s| s.kind == SpendTag::CounterpartyRevoked)
        {
            return;
        }
        let Some(SpendKind::CounterpartyRevoked(rc)) = self.classify_again(id) else {
            return;
        };
        let claims = second_stage_justice(&rc, tx);
        let dest = self.shutdown_script();
        let feerate = self.sweep_feerate();
        let Some(entry) = self.channels.get(&id) else {
            return;
        };
        let txid = tx.compute_txid();
        let made: Vec<PendingClaim> = claims
            .iter()
            .filter_map(|c| {
                sweep_claim(
                    entry.channel.signer(),
                    c,
                    txid,
                    Some(height),
                    &dest,
                    feerate,
                )
            })
            .collect();
        if let Some(r) = self.onchain.get_mut(&id) {
            for p in made {
                r.add_claim(p);
            }
        }
    }

    /// A new tip: reorgs undo confirmations, due claims go out (again),
    /// claims 6 deep are reported, records 100 deep are forgotten.
    ///
    /// `failed_anchors`: the failed anchors channels among which to look
    /// for our unconfirmed commitment (`None`: every channel).
    pub(super) fn onchain_best_height(
        &mut self,
        tip: u32,
        broadcast: bool,
        failed_anchors: Option<&[ChannelId]>,
    ) {
        // Only resolvers with a funding spend have anything to do.
        for id in self.onchain.spent_ids() {
            let Some(r) = self.onchain.get_mut(&id) else {
                continue;
            };
            if r.spend.is_none() {
                continue;
            }
            let changed = r.reorged_to(tip);
            // The funding spend while a reorg has unconfirmed it (any
            // recognised spend is fully signed: whoever published it,
            // getting it back into a block gets our claims back).
            let respend = r
                .spend
                .as_ref()
                .filter(|s| s.height.is_none() && s.kind != SpendTag::Unknown)
                .map(|s| s.tx.clone());
            let any_due = r.claims.iter().any(|c| c.due(tip));
            let swept: Vec<(Txid, bitcoin::Amount)> = r
                .claims
                .iter()
                .filter(|c| {
                    c.kind.pays_wallet()
                        && c.confirmed_at.is_some_and(|h| {
                            tip.saturating_add(1).saturating_sub(h) == RESOLVED_DEPTH
                        })
                })
                .filter_map(|c| Some((c.tx.compute_txid(), c.tx.output.first()?.value)))
                .collect();
            // 100 blocks deep: the claims and the history go; the spend
            // stays as a tombstone (the channel never broadcasts its
            // commitment again, and `list_channels` still shows it).
            let forget = r.may_forget(tip) && !(r.claims.is_empty() && r.history.is_empty());
            let mut txs: Vec<Transaction> = Vec::new();
            let mut bumped = false;
            if broadcast {
                let preimages = self.preimages_for(id);
                // The commitment and its CPFP child first, then the claims.
                let (cpfp, b) = match respend {
                    Some(_) => self.anchor_cpfp(id, tip, &preimages),
                    None => (Vec::new(), false),
                };
                bumped |= b;
                if cpfp.is_empty() {
                    txs.extend(respend);
                } else {
                    txs.extend(cpfp);
                }
                if any_due {
                    let (claims, b) = self.bump_due_claims(id, tip, &preimages);
                    bumped |= b;
                    txs.extend(claims);
                }
            }
            self.fail_back_resolved_htlcs(id, tip);
            for (txid, amount_sat) in swept {
                self.push_event(
                    Event::FundsSwept {
                        channel_id: id,
                        txid,
                        amount_sat,
                    },
                    None,
                );
            }
            if forget {
                r_compact(self.onchain.get_mut(&id));
                self.save_resolver(id);
            } else if changed || bumped {
                self.save_resolver(id);
            }
            // Persist before broadcast: queued behind the write above.
            for tx in txs {
                self.queue_broadcast(tx);
            }
        }
        if broadcast {
            // Our anchors commitment after a force close, not seen on chain
            // yet: it goes out again each block with its CPFP child.
            for id in self.unconfirmed_anchor_commitments(failed_anchors) {
                let preimages = self.preimages_for(id);
                let (txs, changed) = self.anchor_cpfp(id, tip, &preimages);
                if changed {
                    self.save_resolver(id);
                }
                for tx in txs {
                    self.queue_broadcast(tx);
                }
            }
        }
    }

    /// BOLT 5, "HTLC Output Handling: Local Commitment, Local Offers" and
    /// "Remote Commitment, Local Offers": an HTLC we offered on channel
    /// `id` whose output our timeout claim (our HTLC-timeout transaction,
    /// our direct timeout on the peer's commitment, or justice on a revoked
    /// one) has taken, that claim "reasonable depth" deep, or that has no
    /// output in the confirmed commitment, that commitment as deep: "MUST
    /// fail the corresponding incoming HTLC (if any)". A forward fails back
    /// upstream, our own payment fails. Reasonable depth is
    /// [`RESOLVED_DEPTH`] (6), from then on at every block (a node that
    /// missed that block, or restarted, still fails it; failing is
    /// idempotent: a forward no longer offered, or a payment part no longer
    /// pending, is left alone). An HTLC whose preimage was learned (on or
    /// off chain) is never failed: its forward is fulfilled already.
    fn fail_back_resolved_htlcs(&mut self, id: ChannelId, tip: u32) {
        let deep = |h: u32| tip.saturating_add(1).saturating_sub(h) >= RESOLVED_DEPTH;
        let Some(r) = self.onchain.get(&id) else {
            return;
        };
        let Some(spend) = r.spend.as_ref() else {
            return;
        };
        // Nothing before the commitment itself is that deep (a claim
        // confirms after its parent).
        if !spend.height.is_some_and(deep)
            || !matches!(
                spend.kind,
                SpendTag::Holder
                    | SpendTag::CounterpartyCurrent
                    | SpendTag::CounterpartyNext
                    | SpendTag::CounterpartyRevoked
            )
        {
            return;
        }
        let Some(entry) = self.channels.get(&id) else {
            return;
        };
        // Our offered HTLCs in the channel's (frozen) log whose forward or
        // payment still waits: few, and usually none, so the commitment is
        // classified again only while one waits.
        let waiting: Vec<HtlcCandidateWithId> = entry
            .channel
            .state()
            .log
            .updates()
            .iter()
            .filter_map(|u| match &u.kind {
                UpdateKind::Add(a) if u.proposer == Side::Local => Some(a),
                _ => None,
            })
            .filter(|a| {
                self.forward_waits_on(id, a.id)
                    || self
                        .payments
                        .get(&a.payment_hash)
                        .is_some_and(|p| p.pending_htlcs_on(id).contains(&a.id))
            })
            .map(|a| HtlcCandidateWithId {
                id: a.id,
                htlc: HtlcCandidate {
                    offerer: Side::Local,
                    amount_msat: a.amount_msat,
                    payment_hash: a.payment_hash,
                    cltv_expiry: a.cltv_expiry,
                },
            })
            .collect();
        if waiting.is_empty() {
            return;
        }
        let Some(kind) = self.classify_again(id) else {
            return;
        };
        let Some(entry) = self.channels.get(&id) else {
            return;
        };
        // The claims of ours that took an output, deep enough.
        let taken: Vec<&PendingClaim> = r
            .claims
            .iter()
            .filter(|c| {
                matches!(
                    c.kind,
                    ClaimTag::HolderHtlcTimeout | ClaimTag::HtlcTimeout | ClaimTag::RevokedHtlc
                ) && c.confirmed_at.is_some_and(deep)
            })
            .collect();
        let taken_output = |op: OutPoint| taken.iter().any(|c| c.spends().any(|s| s == op));
        let mut fail: Vec<(u64, PaymentHash)> = Vec::new();
        match &kind {
            SpendKind::Holder(ctx)
            | SpendKind::CounterpartyCurrent(ctx)
            | SpendKind::CounterpartyNext(ctx) => {
                let ids = commitment_htlc_ids(entry.channel.state(), &kind);
                let txid = ctx.txid();
                for w in &waiting {
                    let output = ctx
                        .htlcs
                        .iter()
                        .find(|h| ids.get(h.htlc_index) == Some(&(Side::Local, w.id)));
                    let resolved = match output {
                        // No output: the commitment is deep enough.
                        None => true,
                        // Timed out by a claim that names it (or, in a
                        // record written before claims kept the id, that
                        // spends its output).
                        Some(h) => {
                            taken.iter().any(|c| c.htlc_id == Some(w.id))
                                || taken_output(OutPoint {
                                    txid,
                                    vout: h.output_index,
                                })
                        }
                    };
                    if resolved {
                        fail.push((w.id, w.htlc.payment_hash));
                    }
                }
            }
            SpendKind::CounterpartyRevoked(rc) => {
                // Outputs are known by script only: an HTLC is resolved
                // once every output its script matches is taken by our
                // justice that deep (none: not in that commitment).
                for w in &waiting {
                    let resolved = rc.htlcs.iter().filter(|h| h.htlc == w.htlc).all(|h| {
                        taken_output(OutPoint {
                            txid: rc.txid,
                            vout: h.output_index,
                        })
                    });
                    if resolved {
                        fail.push((w.id, w.htlc.payment_hash));
                    }
                }
            }
            _ => {}
        }
        for (htlc_id, hash) in fail {
            self.forward_failed_on_chain(id, htlc_id);
            self.fail_unsent_payment(
                id,
                htlc_id,
                hash,
                "the HTLC was resolved on chain without its preimage after a force close",
            );
        }
    }

    /// The on-chain state of channel `id`, if its funding output was
    /// spent: what spent it, and whether every claim is resolved.
    pub(super) fn onchain_status(&self, id: &ChannelId, tip: u32) -> Option<(SpendTag, bool)> {
        let r = self.onchain.get(id)?;
        let s = r.spend.as_ref()?;
        Some((s.kind, r.is_resolved(tip)))
    }
}

/// One of our offered HTLCs, with its `id`.
struct HtlcCandidateWithId {
    id: u64,
    htlc: HtlcCandidate,
}

/// A signed sweep of one claim to `dest`, or `None` when the output cannot
/// pay for its own spend (dust at this feerate: left to the chain).
fn sweep_claim(
    signer: &DynChannelSigner,
    c: &Claim,
    parent: Txid,
    parent_height: Option<u32>,
    dest: &ScriptBuf,
    feerate: FeeratePerKw,
) -> Option<PendingClaim> {
    let tx =
        build_claim_transaction(signer, std::slice::from_ref(c), dest.clone(), feerate).ok()?;
    let (kind, payment_hash) = claim_tag(c.kind);
    Some(PendingClaim {
        kind,
        payment_hash,
        htlc_id: None,
        tx,
        value: c.output.value,
        parent,
        parent_height,
        csv: c.csv_delay,
        cltv: c.cltv_expiry,
        confirmed_at: None,
        conflicted: None,
        bump: None,
    })
}

fn r_compact(r: Option<&mut ChannelResolver>) {
    if let Some(r) = r {
        r.claims.clear();
        r.history.clear();
        r.anchor = None;
        r.retired.clear();
    }
}

fn hash_of(p: &PaymentPreimage) -> PaymentHash {
    use bitcoin::hashes::{sha256, Hash};
    PaymentHash(sha256::Hash::hash(&p.0).to_byte_array())
}
