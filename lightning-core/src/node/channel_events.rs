//! What a channel's output does to the node: its writes, its messages and
//! its events ([`ChannelEvent`]), and the commitments signed after a batch.
//! Incoming HTLCs are decided in [`htlcs`](super::htlcs) and answered here.

use bitcoin::secp256k1::PublicKey;
use lightning_wire::msgs::Message;
use lightning_wire::types::ChannelId;

use super::htlcs::Answer;
use super::{delivery, events, ChannelEntry, Event, Node};
use crate::channel::update_log::HtlcAdd;
use crate::channel::{ChannelError, ChannelEvent, ChannelOutput, ErrorAction};
use lightning_chain::OutPointKey;
use std::collections::HashMap;

/// Watches channel `id`'s funding transaction and indexes its funding
/// outpoint once it is known (or when it changes).
fn watch_funding(
    tracker: &mut lightning_chain::ConfirmationTracker,
    index: &mut HashMap<OutPointKey, ChannelId>,
    id: ChannelId,
    entry: &mut ChannelEntry,
) {
    let op = entry.channel.state().funding_outpoint;
    if op == entry.watched {
        return;
    }
    if let Some(was) = entry.watched.take() {
        if index.get(&OutPointKey(was)) == Some(&id) {
            index.remove(&OutPointKey(was));
        }
    }
    if let Some(op) = op {
        tracker.watch_tx(op.txid, 1);
        index.insert(OutPointKey(op), id);
        entry.watched = Some(op);
    }
}

impl Node {
    /// [`watch_funding`] for every channel (after a restore).
    pub(super) fn watch_all_funding(&mut self) {
        for (id, entry) in self.channels.iter_mut() {
            watch_funding(&mut self.tracker, &mut self.funding_index, *id, entry);
        }
    }

    /// Applies one channel output: writes first, then messages (held until
    /// the writes are durable), then events.
    pub(super) fn apply(&mut self, key: ChannelId, out: ChannelOutput) {
        if out.persist.is_none() && out.messages.is_empty() && out.events.is_empty() {
            // Nothing to write, send or report (most channels on most
            // blocks): the entry stays in place.
            let Node {
                channels,
                tracker,
                funding_index,
                ..
            } = self;
            let Some(entry) = channels.get_mut(&key) else {
                return;
            };
            entry.block_settled = false;
            if entry.channel.channel_id() == key {
                watch_funding(tracker, funding_index, key, entry);
                if !delivery::failed_unfunded(&entry.channel) {
                    self.channel_output_applied(key);
                    return;
                }
            }
        }
        let Some(mut entry) = self.channels.remove(&key) else {
            return;
        };
        entry.block_settled = false;
        self.backup_ids_changed();
        let id = entry.channel.channel_id();
        let counterparty = entry.counterparty;
        if id != key && self.channel_id_in_use(&id) {
            // The channel's new id (from its funding outpoint) is another
            // channel's: never replace that one nor write under its keys.
            // Only an unfunded channel changes its id, so nothing is lost.
            self.queue_message(
                counterparty,
                Message::Error(lightning_wire::msgs::Error {
                    channel_id: key,
                    data: b"channel_id already in use".to_vec(),
                    tlvs: Default::default(),
                }),
            );
            let event = Event::ChannelClosed {
                channel_id: key,
                reason: "its channel_id is another channel's".into(),
                closing_tx: None,
            };
            self.push_event(event, None);
            return;
        }
        let mut ok = true;
        if out.persist.is_some() {
            self.history_dirty.insert(id);
        }
        if let Some(write) = out.persist {
            for w in write.writes {
                ok = ok && self.writer.write(&w.key, w.version, w.value).is_ok();
            }
            if ok {
                for k in write.obsolete {
                    self.writer.remove_after_writes(k);
                }
            }
        }
        watch_funding(&mut self.tracker, &mut self.funding_index, id, &mut entry);
        self.channels.insert(id, entry);
        if !ok {
            // The write failed: nothing may leave (the writer now blocks
            // every message); the host restarts from the store.
            return;
        }
        for m in out.messages {
            self.queue_message(counterparty, m);
        }
        for e in out.events {
            self.on_channel_event(id, counterparty, e);
        }
        // BOLT 2: a channel whose funding transaction cannot have been
        // broadcast is forgotten, failed ones too (a peer could otherwise
        // pile them up, past the inbound caps).
        if self
            .channels
            .get(&id)
            .is_some_and(|e| delivery::failed_unfunded(&e.channel))
        {
            self.forget_failed_unfunded(id);
            return;
        }
        self.channel_output_applied(id);
    }

    pub(super) fn on_channel_event(
        &mut self,
        id: ChannelId,
        counterparty: PublicKey,
        event: ChannelEvent,
    ) {
        match event {
            ChannelEvent::FundingNeeded {
                temporary_channel_id,
                funding_satoshis,
                script_pubkey,
            } => self.push_event(
                Event::FundingNeeded {
                    temporary_channel_id,
                    counterparty,
                    amount_sat: bitcoin::Amount::from_sat(funding_satoshis),
                    script_pubkey,
                },
                None,
            ),
            ChannelEvent::BroadcastFunding { tx } => self.queue_broadcast(tx),
            ChannelEvent::ChannelReady {
                channel_id,
                short_channel_id,
                ..
            } => self.push_event(
                Event::ChannelReady {
                    channel_id,
                    counterparty,
                    short_channel_id,
                },
                None,
            ),
            ChannelEvent::HtlcReceived {
                htlc_id,
                add,
                must_fail,
            } => self.receive_htlc(id, htlc_id, &add, must_fail),
            ChannelEvent::HtlcFulfilled {
                htlc_id,
                payment_hash,
                payment_preimage,
                attribution_data,
            } => {
                let attribution = attribution_data.as_deref();
                self.note_fulfill_hold_times((id, htlc_id), payment_hash, attribution);
                self.payment_fulfilled(payment_hash, payment_preimage);
                // A forward's incoming HTLC is claimed at once.
                self.forward_fulfilled(id, htlc_id, payment_preimage, attribution);
            }
            ChannelEvent::HtlcFailed {
                htlc_id,
                payment_hash,
                reason,
                attribution_data,
            } => {
                let attribution = attribution_data.as_deref();
                self.payment_failed(id, htlc_id, payment_hash, &reason, attribution);
                self.forward_failed(id, htlc_id, &reason, attribution);
            }
            ChannelEvent::FundingTimedOut {
                channel_id,
                waiting_since,
            } => {
                // BOLT 2: the fundee forgets the channel; nothing of ours is
                // in it. Its record goes once the writes before are durable.
                if let Some(entry) = self.remove_channel_entry(id) {
                    for key in entry.channel.record_keys() {
                        self.writer.remove_after_writes(key);
                    }
                }
                let event = Event::ChannelClosed {
                    channel_id,
                    reason: format!(
                        "the funding transaction did not confirm within {} blocks of height {waiting_since}",
                        crate::channel::FUNDING_TIMEOUT_BLOCKS
                    ),
                    closing_tx: None,
                };
                self.push_event(event, None);
            }
            ChannelEvent::ChannelClosed {
                channel_id,
                closing_tx,
            } => {
                self.queue_broadcast(closing_tx.clone());
                let event = Event::ChannelClosed {
                    channel_id,
                    reason: "cooperative close".into(),
                    closing_tx: Some(closing_tx),
                };
                self.push_event(event, Some(events::Ack::ChannelClosed(channel_id)));
            }
            ChannelEvent::CounterpartyRevoked { commitment, .. } => {
                self.watchtower_revoked(id, &commitment);
            }
            ChannelEvent::ChannelFailed {
                channel_id,
                reason,
                holder_commitment,
                ..
            } => {
                let closing_tx = holder_commitment.map(|h| h.commitment);
                // Not against a funding spend already confirmed (the
                // on-chain resolver failed the channel because of it).
                let spent = self.onchain.get(&id).is_some_and(|r| r.spend.is_some());
                if let Some(tx) = closing_tx.as_ref().filter(|_| !spent) {
                    self.queue_broadcast(tx.clone());
                }
                // Acknowledged (and raised again after a restart until
                // then) only for a channel that may hold funds.
                let ack = self
                    .channels
                    .get(&id)
                    .is_some_and(|e| delivery::may_be_funded(&e.channel))
                    .then_some(events::Ack::ChannelClosed(channel_id));
                let event = Event::ChannelClosed {
                    channel_id,
                    reason,
                    closing_tx,
                };
                self.push_event(event, ack);
            }
        }
    }

    /// Signs what is waiting on every channel that got updates.
    pub(super) fn flush_commits(&mut self) {
        while let Some(id) = self.to_commit.pop_first() {
            let Some(entry) = self.channels.get_mut(&id) else {
                continue;
            };
            match entry.channel.commit() {
                Ok(out) => self.apply(id, out),
                Err(e) => self.channel_failed_with(id, &e),
            }
        }
    }

    /// Applies what a channel error calls for
    /// ([`Channel::handle_error`](crate::channel::Channel::handle_error)): a
    /// `warning` also closes the connection once it is sent.
    pub(super) fn channel_failed_with(&mut self, id: ChannelId, e: &ChannelError) {
        let Some(entry) = self.channels.get_mut(&id) else {
            return;
        };
        let counterparty = entry.counterparty;
        let out = entry.channel.handle_error(e);
        self.apply(id, out);
        if e.action() == ErrorAction::Warn {
            self.queue_disconnect(counterparty);
        }
    }

    /// Answers the HTLCs the peer offered that are locked in and not yet
    /// answered: after a restart or a disconnection, the channel does not
    /// report them again.
    pub(super) fn answer_pending_htlcs(&mut self, channel_id: ChannelId) {
        use crate::channel::update_log::{Side, UpdateKind, UpdateStage};
        let Some(entry) = self.channels.get(&channel_id) else {
            return;
        };
        if !entry.channel.is_usable() {
            return;
        }
        let st = entry.channel.state();
        let pending: Vec<(HtlcAdd, bool)> = st
            .log
            .updates()
            .iter()
            .filter_map(|u| match (&u.kind, u.proposer, u.stage) {
                (UpdateKind::Add(a), Side::Remote, UpdateStage::LockedIn)
                    if st.log.find_removal(Side::Remote, a.id).is_none() =>
                {
                    Some((a.clone(), st.htlcs_to_fail.contains(&a.id)))
                }
                _ => None,
            })
            .collect();
        for (add, must_fail) in pending {
            self.receive_htlc(channel_id, add.id, &add, must_fail);
        }
    }

    /// An HTLC the peer offered is irrevocably committed: answers it as
    /// [`Node::decide_htlc`] decides.
    pub(super) fn receive_htlc(
        &mut self,
        channel_id: ChannelId,
        htlc_id: u64,
        add: &HtlcAdd,
        must_fail: bool,
    ) {
        let answer = self.decide_htlc(channel_id, htlc_id, add, must_fail);
        let Some(entry) = self.channels.get_mut(&channel_id) else {
            return;
        };
        let result = match answer {
            Answer::Fulfill(p, attribution) => {
                entry
                    .channel
                    .fulfill_htlc_with_attribution(htlc_id, p, attribution)
            }
            Answer::Fail(packet, attribution) => {
                entry
                    .channel
                    .fail_htlc_with_attribution(htlc_id, packet, attribution)
            }
            Answer::Malformed {
                sha256_of_onion,
                code,
            } => entry
                .channel
                .fail_malformed_htlc(htlc_id, sha256_of_onion, code),
            // Forwarded or held: answered when that resolves.
            Answer::Hold => return,
        };
        // Not operating now (disconnected): the HTLC stays locked in and is
        // answered after the next `channel_reestablish`
        // ([`Node::answer_pending_htlcs`]).
        if let Ok(out) = result {
            self.apply(channel_id, out);
            self.to_commit.insert(channel_id);
        }
    }
}
