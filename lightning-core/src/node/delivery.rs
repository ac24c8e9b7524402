//! At-least-once delivery of the events that matter for money.
//!
//! `PaymentReceived`, `PaymentSent`, `PaymentFailed`, `PaymentForwarded` and the
//! `ChannelClosed` of a funded channel report a state the node has already
//! written (an invoice or payment record, a channel record). The event
//! itself lives only in memory, so a crash between that write and the
//! host's handling of the event would lose it for good: the restored node
//! sees the invoice paid, the payment finished, the channel closed, and
//! has nothing left to report. Instead:
//!
//! - Each such event leaves [`Node::poll_event`] only once the write it
//!   reports is durable (as a message does: persist before send), so the
//!   host is never told of a state a crash could still undo.
//! - The host acknowledges an event by calling [`Node::poll_event`] again:
//!   that call first writes "handled" for the event handed out before it
//!   (the record's `event_handled` flag, or the key
//!   `acks/channel_closed/<id>`), then hands out the next one.
//! - On restore, every paid invoice, finished payment and closed or failed
//!   funded channel not marked handled is reported again.
//!
//! Delivery is therefore at least once: after a crash an event the host
//! handled but did not acknowledge comes again. Hosts deduplicate by
//! payment hash (payments) or channel id (closes).

use std::collections::BTreeSet;

use lightning_wire::types::ChannelId;

use super::events::{Ack, InvoiceStatus, PaymentStatus};
use super::forward_record::{forward_key, ForwardState};
use super::records::{
    channel_closed_ack_key, hold_key, invoice_key, keysend_key, payment_key, HoldState,
};
use super::{Event, Node};
use crate::amount::Msat;
use crate::channel::{Channel, Phase};
use crate::keys::DynChannelSigner;

/// Whether a channel's funding transaction could have been broadcast: the
/// peer's signature on our first commitment is the point from which the
/// funder broadcasts (on `funding_signed`), and the fundee has sent
/// `funding_signed` (BOLT 2, "The `funding_signed` Message").
pub(super) fn may_be_funded(channel: &Channel<DynChannelSigner>) -> bool {
    channel.state().holder_sigs.is_some()
}

/// A channel that failed before its funding transaction could have been
/// broadcast: nothing of ours is in it, so it is forgotten.
pub(super) fn failed_unfunded(channel: &Channel<DynChannelSigner>) -> bool {
    channel.phase() == Phase::Failed && !may_be_funded(channel)
}

impl Node {
    /// Queues `event` behind the writes made so far; `ack` is what handling
    /// it writes (see the [module](self) documentation).
    pub(super) fn push_event(&mut self, event: Event, ack: Option<Ack>) {
        self.events.push(self.writer.barrier(), event, ack);
    }

    /// Writes that the host handled the event `ack` names. A failed write
    /// is recorded by the writer (it blocks everything after it); the event
    /// then comes again after the restart.
    pub(super) fn acknowledge(&mut self, ack: Ack) {
        match ack {
            Ack::Invoice(hash) => {
                let Some(r) = self.invoices.get_mut(&hash) else {
                    return;
                };
                if r.status != InvoiceStatus::Paid || r.event_handled {
                    return;
                }
                r.event_handled = true;
                let bytes = r.encode();
                let _ = self.writer.write_record(&invoice_key(&hash), bytes);
            }
            Ack::Payment {
                hash,
                channel_id,
                htlc_id,
            } => {
                let Some(p) = self.payments.get_mut(&hash) else {
                    return;
                };
                // Only the attempt the event was about: a retry after a
                // failure is a new attempt whose own outcome must come.
                if p.status == PaymentStatus::Pending
                    || p.event_handled
                    || p.last_htlc() != (channel_id, htlc_id)
                {
                    return;
                }
                p.event_handled = true;
                let bytes = p.encode();
                let _ = self.writer.write_record(&payment_key(&hash), bytes);
            }
            Ack::ChannelClosed(id) => {
                let _ = self
                    .writer
                    .write_record(&channel_closed_ack_key(&id), vec![1]);
            }
            Ack::Hold(hash) => {
                let Some(r) = self.holds.get_mut(&hash) else {
                    return;
                };
                if r.event_handled || !matches!(r.state, HoldState::Claimed(_)) {
                    return;
                }
                r.event_handled = true;
                let bytes = r.encode();
                let _ = self.writer.write_record(&hold_key(&hash), bytes);
            }
            Ack::Keysend(hash) => {
                let Some(r) = self.keysends.get_mut(&hash) else {
                    return;
                };
                if r.event_handled {
                    return;
                }
                r.event_handled = true;
                let bytes = r.encode();
                let _ = self.writer.write_record(&keysend_key(&hash), bytes);
            }
            Ack::Forward(channel_id, htlc_id) => {
                let Some(r) = self.forwards.get_mut(&(channel_id, htlc_id)) else {
                    return;
                };
                if r.event_handled || !matches!(r.state, ForwardState::Fulfilled(_)) {
                    return;
                }
                r.event_handled = true;
                let bytes = r.encode();
                let _ = self
                    .writer
                    .write_record(&forward_key(&channel_id, htlc_id), bytes);
            }
        }
    }

    /// On restore: raises again every money event the host did not
    /// acknowledge before the node stopped. `closed_acks` are the channels
    /// whose `ChannelClosed` was acknowledged.
    pub(super) fn raise_unhandled_events(&mut self, closed_acks: &BTreeSet<ChannelId>) {
        let mut events = Vec::new();
        for (hash, r) in &self.invoices {
            if r.status == InvoiceStatus::Paid && !r.event_handled {
                events.push((
                    Event::PaymentReceived {
                        payment_hash: *hash,
                        amount_msat: Msat(r.amount_received_msat),
                    },
                    Ack::Invoice(*hash),
                ));
            }
        }
        for (hash, p) in &self.payments {
            if p.event_handled {
                continue;
            }
            let (channel_id, htlc_id) = p.last_htlc();
            let ack = Ack::Payment {
                hash: *hash,
                channel_id,
                htlc_id,
            };
            let event = match (p.status, p.preimage) {
                (PaymentStatus::Succeeded, Some(preimage)) => Event::PaymentSent {
                    payment_hash: *hash,
                    preimage,
                    fee_msat: Msat(p.fee_msat),
                    hold_times: p.hold_times.clone(),
                },
                (PaymentStatus::Failed, _) => Event::PaymentFailed {
                    payment_hash: *hash,
                    reason: p.last_failure(p.retry.as_ref().map_or(1, |r| r.attempts)),
                },
                _ => continue,
            };
            events.push((event, ack));
        }
        for (hash, r) in &self.holds {
            if r.event_handled || !matches!(r.state, HoldState::Claimed(_)) {
                continue;
            }
            let amount = r
                .held
                .iter()
                .fold(0u64, |acc, h| acc.saturating_add(h.amount_msat));
            events.push((
                Event::PaymentReceived {
                    payment_hash: *hash,
                    amount_msat: Msat(amount),
                },
                Ack::Hold(*hash),
            ));
        }
        for r in self.keysends.values().filter(|r| !r.event_handled) {
            events.push((
                Event::SpontaneousPaymentReceived {
                    payment_hash: r.payment_hash,
                    amount_msat: Msat(r.amount_msat),
                    custom_records: r.custom_records.clone(),
                },
                Ack::Keysend(r.payment_hash),
            ));
        }
        for r in self.forwards.values() {
            if r.event_handled || !matches!(r.state, ForwardState::Fulfilled(_)) {
                continue;
            }
            events.push((
                Event::PaymentForwarded {
                    prev_channel_id: r.incoming.0,
                    prev_htlc_id: r.incoming.1,
                    next_channel_id: r.outgoing.0,
                    payment_hash: r.payment_hash,
                    amount_forwarded_msat: Msat(r.outgoing_amount_msat),
                    fee_earned_msat: Msat(r.fee_msat()),
                },
                Ack::Forward(r.incoming.0, r.incoming.1),
            ));
        }
        for (id, entry) in &self.channels {
            let ch = &entry.channel;
            if closed_acks.contains(id) || !may_be_funded(ch) {
                continue;
            }
            let closing_tx = match ch.phase() {
                Phase::Closed => ch.state().closing_tx.clone(),
                Phase::Failed => ch.holder_commitment().ok().map(|h| h.commitment),
                _ => continue,
            };
            events.push((
                Event::ChannelClosed {
                    channel_id: *id,
                    reason: "closed before the node restarted (reported again: \
                             the host had not acknowledged it)"
                        .into(),
                    closing_tx,
                },
                Ack::ChannelClosed(*id),
            ));
        }
        for (event, ack) in events {
            self.push_event(event, Some(ack));
        }
    }

    /// Forgets a channel that failed before it could have been funded
    /// ([`failed_unfunded`]): it leaves memory, the inbound caps and the
    /// store (the funder's record from `funding_created`, if any). Its
    /// `ChannelClosed` was already raised.
    pub(super) fn forget_failed_unfunded(&mut self, id: ChannelId) {
        let Some(entry) = self.remove_channel_entry(id) else {
            return;
        };
        if entry.channel.state().funding_outpoint.is_some() {
            for key in entry.channel.record_keys() {
                self.writer.remove_after_writes(key);
            }
        }
    }
}
