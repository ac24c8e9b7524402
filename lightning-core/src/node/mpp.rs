//! Receiving multi-part payments (BOLT 4, "Basic Multi-Part Payments";
//! BOLT 9 `basic_mpp`, bits 16/17, which our `init` and invoices offer).
//!
//! An HTLC for us whose onion's `total_msat` is more than its
//! `amt_to_forward` is one part of an *HTLC set*: the HTLCs of one
//! `payment_hash`. Each part first passes every check a single-part
//! payment passes ([`Node`]'s `check_receive`; for a hold invoice,
//! `receive_hold`): its `payment_secret` is the invoice's (so every part
//! carries the same one, and only someone who knows the invoice can add a
//! part), its `cltv_expiry` leaves `min_final_cltv_expiry_delta`, and
//! `total_msat` (BOLT 4: the "amount paid" of the failure rules) is at
//! least the invoice's amount and at most twice it. Then, BOLT 4 final
//! node requirements:
//!
//! - the part joins the set of its hash;
//! - a part whose `total_msat` differs from the set's fails, and with it
//!   the whole set ("SHOULD fail the entire HTLC set");
//! - once the parts' `amt_to_forward` sum to `total_msat` or more, every
//!   part is fulfilled ("MUST fulfill the entire HTLC set"): the invoice
//!   is recorded paid, naming every part, before any preimage leaves, and
//!   one [`Event::PaymentReceived`](super::Event::PaymentReceived) reports
//!   the sum of the parts' amounts. A hold invoice is instead recorded
//!   accepted with every part, and one
//!   [`Event::HoldInvoiceAccepted`](super::Event::HoldInvoiceAccepted)
//!   follows; the host's claim or failure then applies to every part;
//! - until then no part is fulfilled, and a set still incomplete
//!   [`MppReceiveConfig::timeout`] after its first part (BOLT 4: "SHOULD
//!   wait for at least 60 seconds after the initial HTLC") fails, every
//!   part with `mpp_timeout` (23). [`Node::next_timeout`] names the
//!   deadline; [`Node::handle_timeout`] acts on it. A set is failed the
//!   same way, earlier, when a block brings one of its parts to its claim
//!   deadline (the hold invoices' one, [`HOLD_MARGIN_BLOCKS`] before the
//!   BOLT 2 fulfilment deadline): past it a claim could force the channel
//!   on chain.
//!
//! Bounds: a set holds at most [`MppReceiveConfig::max_parts_per_payment`]
//! parts and the node at most [`MppReceiveConfig::max_held_parts`] over
//! all sets; a part beyond either fails alone with
//! `temporary_node_failure` (the set keeps its parts and may still
//! complete). A part that completes its set (a whole payment, say) is
//! never held, so no bound refuses it. Each channel's own
//! `max_accepted_htlcs` applies as well.
//!
//! Sets of invoices not yet complete are kept in memory only: the parts
//! are HTLCs locked into channel records, which the node answers again
//! after a restart or a reconnection ([`Node`]'s `answer_pending_htlcs`),
//! so each part rejoins its set then (the set's timeout counts from the
//! first part seen in this run). What completes a set is written: the
//! invoice's record names every paying part (`paid_by`), the hold
//! invoice's every held part, and a part answered again after that is
//! answered from the record, never joined again. A part whose HTLC is
//! gone from its channel (failed, or the channel closed) when the set
//! would complete is dropped from the set and not counted.
//!
//! Multi-part keysends ([`MppReceiveConfig::accept_keysend_parts`]) are
//! held in the same sets, under the same rules, bounds and timeout (the
//! `keysend` module decides what joins): a set is of one kind
//! ([`SetKind`]), an invoice's or a keysend's with one `payment_secret`
//! and one set of custom records, and a part of another kind fails the
//! whole set, as a different `total_msat` does.
//!
//! [`Node::next_timeout`]: super::Node::next_timeout
//! [`Node::handle_timeout`]: super::Node::handle_timeout
//! [`HOLD_MARGIN_BLOCKS`]: super::HOLD_MARGIN_BLOCKS

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use lightning_wire::types::ChannelId;

use super::events::{Ack, InvoiceStatus, PaymentHash, PaymentPreimage};
use super::records::invoice_key;
use super::{Event, Node};
use crate::amount::Msat;
use crate::channel::update_log::{HtlcAdd, Side, UpdateKind};
use crate::onion::{FailureReason, Receive, SharedSecret};

/// Limits of multi-part payments we receive ([`NodeConfig::mpp_receive`](super::NodeConfig::mpp_receive)).
///
/// ```
/// use lightning_core::node::{MppReceiveConfig, NodeConfig};
/// let c = MppReceiveConfig::default();
/// assert_eq!(c.timeout.as_secs(), 60);
/// assert_eq!((c.max_parts_per_payment, c.max_held_parts), (32, 1024));
/// // Keysends are taken in one part only, unless the host opts in (and
/// // accepts keysend at all).
/// assert!(!c.accept_keysend_parts);
/// let mut config = NodeConfig::new(bitcoin::Network::Regtest);
/// config.forwarding.accept_keysend = true;
/// config.mpp_receive.accept_keysend_parts = true;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct MppReceiveConfig {
    /// How long an incomplete HTLC set is held, from its first part,
    /// before every part fails with `mpp_timeout`. BOLT 4: "SHOULD wait
    /// for at least 60 seconds" (the default); less goes against that.
    pub timeout: Duration,
    /// The most parts one payment may arrive in. Default 32.
    pub max_parts_per_payment: usize,
    /// The most parts held over every incomplete set. Default 1024.
    pub max_held_parts: usize,
    /// Hold the parts of multi-part keysends too (each part carries the
    /// keysend preimage and a `payment_data` whose `payment_secret` the
    /// sender chose, the same in every part; see the `keysend` module).
    /// Needs [`ForwardingConfig::accept_keysend`](super::ForwardingConfig::accept_keysend).
    ///
    /// Default off: no invoice stands behind a keysend, so anyone who can
    /// reach us could make us hold HTLCs for up to [`timeout`](Self::timeout),
    /// taking slots of [`max_held_parts`](Self::max_held_parts) (and of
    /// each channel's `max_accepted_htlcs`) that invoice payments need;
    /// and few senders split keysends. Off, a keysend part whose
    /// `total_msat` is more than it carries fails
    /// `incorrect_or_unknown_payment_details`, as before.
    pub accept_keysend_parts: bool,
}

impl Default for MppReceiveConfig {
    fn default() -> Self {
        MppReceiveConfig {
            timeout: Duration::from_secs(60),
            max_parts_per_payment: 32,
            max_held_parts: 1024,
            accept_keysend_parts: false,
        }
    }
}

/// What an HTLC set pays: an invoice (or hold invoice) of ours, or a
/// keysend, named by a digest of the `payment_secret` its sender chose
/// and the custom records it carries. Every part of a set must name the
/// same (BOLT 4: the parts of one payment carry the same `payment_secret`
/// and `total_msat`; every part of a keysend carries the same preimage,
/// which the payment hash already pins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SetKind {
    Invoice,
    Keysend([u8; 32]),
}

/// One part of an HTLC set: an HTLC the peer offered us, locked in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SetPart {
    pub channel_id: ChannelId,
    pub htlc_id: u64,
    /// The HTLC's amount: what we receive by it.
    pub amount_msat: u64,
    /// Its onion's `amt_to_forward`: what it counts for in the set.
    pub amt_to_forward: u64,
    pub cltv_expiry: u32,
    /// The onion's shared secret, to fail it.
    pub shared_secret: [u8; 32],
    /// When the node got it (host time): our hold time in the attribution
    /// data of its answer counts from there.
    pub received_at: Duration,
}

impl SetPart {
    fn id(&self) -> (ChannelId, u64) {
        (self.channel_id, self.htlc_id)
    }
}

/// The parts of one payment hash received so far.
#[derive(Debug, Clone)]
struct HtlcSet {
    total_msat: u64,
    kind: SetKind,
    /// When its first part came.
    first_at: Duration,
    parts: Vec<SetPart>,
}

/// What joining a set did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Joined {
    /// The part is held; the set is not complete.
    Held,
    /// The set is complete: every part, the new one included. The set is
    /// gone.
    Complete(Vec<SetPart>),
    /// The part's `total_msat` (or [`SetKind`]) differs from the set's:
    /// every part, the new one included, must fail. The set is gone.
    Mismatch(Vec<SetPart>),
    /// A bound is reached: the new part fails alone.
    TooMany,
}

/// Every incomplete HTLC set, in memory.
#[derive(Debug, Default)]
pub(super) struct HtlcSets {
    sets: BTreeMap<PaymentHash, HtlcSet>,
    /// Parts over all sets.
    held: usize,
    /// Hold invoices whose `HoldInvoiceAccepted` was raised in this run.
    pub announced_holds: BTreeSet<PaymentHash>,
}

impl HtlcSets {
    /// Whether HTLC `id` is a part of the set of `hash`.
    pub(super) fn holds(&self, hash: &PaymentHash, id: (ChannelId, u64)) -> bool {
        self.sets
            .get(hash)
            .is_some_and(|s| s.parts.iter().any(|p| p.id() == id))
    }

    /// Whether an incomplete set of `hash` is held.
    pub(super) fn has_set(&self, hash: &PaymentHash) -> bool {
        self.sets.contains_key(hash)
    }

    /// Parts held over every set.
    #[cfg(test)]
    fn held_parts(&self) -> usize {
        self.held
    }

    /// Adds `part` (of a payment of `total_msat`, of `kind`) to the set of
    /// `hash`, at `now`. Parts for which `pending` is false (their HTLC is
    /// gone) are dropped first, and not counted.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn join(
        &mut self,
        hash: PaymentHash,
        part: SetPart,
        total_msat: u64,
        kind: SetKind,
        now: Duration,
        limits: &MppReceiveConfig,
        pending: impl Fn(&SetPart) -> bool,
    ) -> Joined {
        if let Some(set) = self.sets.get_mut(&hash) {
            let before = set.parts.len();
            set.parts.retain(|p| pending(p));
            self.held = self.held.saturating_sub(before - set.parts.len());
            if set.parts.is_empty() {
                self.sets.remove(&hash);
            }
        }
        let so_far = self.sets.get(&hash).map_or(0, |s| {
            s.parts
                .iter()
                .fold(0u64, |acc, p| acc.saturating_add(p.amt_to_forward))
        });
        // A part that completes its set is never held: no bound applies
        // (a whole payment is taken even while the node is at its bound).
        let completes = so_far.saturating_add(part.amt_to_forward) >= total_msat;
        let limit_reached = !completes
            && (self.held >= limits.max_held_parts
                || self
                    .sets
                    .get(&hash)
                    .is_some_and(|s| s.parts.len() >= limits.max_parts_per_payment));
        if self
            .sets
            .get(&hash)
            .is_some_and(|s| s.total_msat != total_msat || s.kind != kind)
        {
            let mut parts = self.remove(&hash).unwrap_or_default();
            parts.push(part);
            return Joined::Mismatch(parts);
        }
        if limit_reached {
            return Joined::TooMany;
        }
        let set = self.sets.entry(hash).or_insert_with(|| HtlcSet {
            total_msat,
            kind,
            first_at: now,
            parts: Vec::new(),
        });
        set.parts.push(part);
        self.held = self.held.saturating_add(1);
        let sum = set
            .parts
            .iter()
            .fold(0u64, |acc, p| acc.saturating_add(p.amt_to_forward));
        if sum >= set.total_msat {
            Joined::Complete(self.remove(&hash).unwrap_or_default())
        } else {
            Joined::Held
        }
    }

    /// Takes the set of `hash` out, its parts.
    pub(super) fn remove(&mut self, hash: &PaymentHash) -> Option<Vec<SetPart>> {
        let set = self.sets.remove(hash)?;
        self.held = self.held.saturating_sub(set.parts.len());
        Some(set.parts)
    }

    /// Drops HTLC `id` from whatever set holds it.
    pub(super) fn forget(&mut self, id: (ChannelId, u64)) {
        let mut emptied = None;
        for (hash, set) in self.sets.iter_mut() {
            let before = set.parts.len();
            set.parts.retain(|p| p.id() != id);
            if set.parts.len() != before {
                self.held = self.held.saturating_sub(before - set.parts.len());
                if set.parts.is_empty() {
                    emptied = Some(*hash);
                }
                break;
            }
        }
        if let Some(hash) = emptied {
            self.sets.remove(&hash);
        }
    }

    /// When the oldest set times out.
    pub(super) fn next_deadline(&self, timeout: Duration) -> Option<Duration> {
        self.sets
            .values()
            .map(|s| s.first_at.saturating_add(timeout))
            .min()
    }

    /// Takes out the sets timed out at `now`, or with a part for which
    /// `too_late` is true.
    pub(super) fn take_due(
        &mut self,
        now: Duration,
        timeout: Duration,
        too_late: impl Fn(&SetPart) -> bool,
    ) -> Vec<(PaymentHash, Vec<SetPart>)> {
        let due: Vec<PaymentHash> = self
            .sets
            .iter()
            .filter(|(_, s)| {
                now >= s.first_at.saturating_add(timeout) || s.parts.iter().any(&too_late)
            })
            .map(|(h, _)| *h)
            .collect();
        due.into_iter()
            .filter_map(|h| Some((h, self.remove(&h)?)))
            .collect()
    }
}

impl Node {
    /// Whether HTLC `htlc_id` the peer offered on `channel_id` is still
    /// in the channel's log, not removed.
    pub(super) fn htlc_still_pending(&self, channel_id: ChannelId, htlc_id: u64) -> bool {
        self.channels.get(&channel_id).is_some_and(|e| {
            let log = &e.channel.state().log;
            log.updates().iter().any(|u| {
                u.proposer == Side::Remote
                    && matches!(&u.kind, UpdateKind::Add(a) if a.id == htlc_id)
            }) && log.find_removal(Side::Remote, htlc_id).is_none()
        })
    }

    /// `part` joins the set of invoice `hash` (see the [module](self)
    /// documentation).
    pub(super) fn join_set(&mut self, hash: PaymentHash, part: SetPart, total_msat: u64) -> Joined {
        self.join_set_of(hash, part, total_msat, SetKind::Invoice)
    }

    /// `part` joins the set of `hash`, a payment of `kind`.
    pub(super) fn join_set_of(
        &mut self,
        hash: PaymentHash,
        part: SetPart,
        total_msat: u64,
        kind: SetKind,
    ) -> Joined {
        let limits = self.config.mpp_receive;
        let now = self.now;
        let this = part.id();
        let mut sets = std::mem::take(&mut self.htlc_sets);
        let joined = sets.join(hash, part, total_msat, kind, now, &limits, |p| {
            p.id() == this || self.htlc_still_pending(p.channel_id, p.htlc_id)
        });
        self.htlc_sets = sets;
        joined
    }

    /// Fails `part` back with `reason`, unless it is `except` (the HTLC
    /// being decided, answered by its caller). A channel not operating
    /// now answers it after the next `channel_reestablish`.
    pub(super) fn fail_part(
        &mut self,
        part: &SetPart,
        reason: FailureReason,
        except: Option<(ChannelId, u64)>,
    ) {
        if Some(part.id()) == except {
            return;
        }
        self.fail_received(
            part.channel_id,
            part.htlc_id,
            &SharedSecret(part.shared_secret),
            reason,
            Some(part.received_at),
        );
    }

    /// `incorrect_or_unknown_payment_details` for `part`.
    pub(super) fn unknown_details(&self, part: &SetPart) -> FailureReason {
        FailureReason::IncorrectOrUnknownPaymentDetails {
            htlc_msat: part.amount_msat,
            height: self.best_height(),
        }
    }

    /// On a timer and at every block: sets still incomplete after
    /// [`MppReceiveConfig::timeout`], or with a part at its claim
    /// deadline, fail every part with `mpp_timeout`.
    pub(super) fn mpp_deadlines(&mut self) {
        let height = self.best_height();
        let margin = self
            .config
            .fulfill_deadline_blocks
            .saturating_add(super::HOLD_MARGIN_BLOCKS);
        let due = self
            .htlc_sets
            .take_due(self.now, self.config.mpp_receive.timeout, |p| {
                height >= p.cltv_expiry.saturating_sub(margin)
            });
        for (_, parts) in due {
            for part in &parts {
                self.fail_part(part, FailureReason::MppTimeout, None);
            }
        }
    }

    /// An HTLC for invoice `add.payment_hash` that passed every check
    /// (`check_receive`), the invoice not paid yet: it joins its set.
    /// `Ok(Some(preimage))`: the set is complete, fulfil this HTLC (the
    /// invoice is recorded paid by every part, its event queued, and the
    /// other parts are fulfilled); `Ok(None)`: held; `Err`: fail it.
    pub(super) fn receive_invoice_part(
        &mut self,
        channel_id: ChannelId,
        htlc_id: u64,
        add: &HtlcAdd,
        r: &Receive,
        preimage: PaymentPreimage,
    ) -> Result<Option<PaymentPreimage>, FailureReason> {
        let hash = add.payment_hash;
        let this = (channel_id, htlc_id);
        if self.htlc_sets.holds(&hash, this) {
            // Answered again (a reconnection): still held.
            return Ok(None);
        }
        let part = SetPart {
            channel_id,
            htlc_id,
            amount_msat: add.amount_msat,
            amt_to_forward: r.amt_to_forward,
            cltv_expiry: add.cltv_expiry,
            shared_secret: *r.shared_secret.as_bytes(),
            received_at: self.now,
        };
        let unknown = self.unknown_details(&part);
        match self.join_set(hash, part, r.total_msat) {
            Joined::Held => Ok(None),
            Joined::TooMany => Err(FailureReason::TemporaryNodeFailure),
            Joined::Mismatch(parts) => {
                for p in &parts {
                    let reason = self.unknown_details(p);
                    self.fail_part(p, reason, Some(this));
                }
                Err(unknown)
            }
            Joined::Complete(parts) => {
                let received = parts
                    .iter()
                    .fold(0u64, |acc, p| acc.saturating_add(p.amount_msat));
                if let Some(record) = self.invoices.get_mut(&hash) {
                    // Recorded before any preimage leaves: a part
                    // answered again is fulfilled from this record.
                    record.status = InvoiceStatus::Paid;
                    record.amount_received_msat = received;
                    record.paid_by = parts.iter().map(SetPart::id).collect();
                    record.event_handled = false;
                    let bytes = record.encode();
                    let _ = self.writer.write_record(&invoice_key(&hash), bytes);
                    // Raised again after a restart until the host has
                    // acknowledged it ([`super::delivery`]).
                    self.push_event(
                        Event::PaymentReceived {
                            payment_hash: hash,
                            amount_msat: Msat(received),
                        },
                        Some(Ack::Invoice(hash)),
                    );
                }
                for p in parts.iter().filter(|p| p.id() != this) {
                    self.fulfill_part(p, preimage);
                }
                Ok(Some(preimage))
            }
        }
    }

    /// Fulfils `part` with `preimage` (a channel not operating now
    /// answers it after the next `channel_reestablish`, from the record).
    pub(super) fn fulfill_part(&mut self, part: &SetPart, preimage: PaymentPreimage) {
        let attribution = self.originate_fulfill_attribution(
            part.channel_id,
            part.htlc_id,
            &SharedSecret(part.shared_secret),
            Some(part.received_at),
        );
        if let Some(entry) = self.channels.get_mut(&part.channel_id) {
            if let Ok(out) =
                entry
                    .channel
                    .fulfill_htlc_with_attribution(part.htlc_id, preimage, attribution)
            {
                self.apply_channel_output(part.channel_id, out);
                self.to_commit.insert(part.channel_id);
            }
        }
    }

    /// When the oldest incomplete set times out.
    pub(super) fn mpp_next_timeout(&self) -> Option<Duration> {
        self.htlc_sets
            .next_deadline(self.config.mpp_receive.timeout)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn part(channel: u8, htlc_id: u64, amt: u64) -> SetPart {
        SetPart {
            channel_id: ChannelId([channel; 32]),
            htlc_id,
            amount_msat: amt,
            amt_to_forward: amt,
            cltv_expiry: 500,
            shared_secret: [channel; 32],
            received_at: Duration::ZERO,
        }
    }

    const H: PaymentHash = PaymentHash([1; 32]);
    const I: SetKind = SetKind::Invoice;

    #[test]
    fn a_set_completes_at_its_total_and_not_before() {
        let mut sets = HtlcSets::default();
        let limits = MppReceiveConfig::default();
        let t = Duration::from_secs(100);
        assert_eq!(
            sets.join(H, part(1, 0, 400), 1000, I, t, &limits, |_| true),
            Joined::Held
        );
        assert_eq!(
            sets.join(H, part(2, 0, 599), 1000, I, t, &limits, |_| true),
            Joined::Held
        );
        assert_eq!(sets.held_parts(), 2);
        assert_eq!(sets.next_deadline(limits.timeout), Some(t + limits.timeout));
        match sets.join(H, part(1, 1, 1), 1000, I, t, &limits, |_| true) {
            Joined::Complete(parts) => assert_eq!(parts.len(), 3),
            other => panic!("{other:?}"),
        }
        assert_eq!(sets.held_parts(), 0);
        assert_eq!(sets.next_deadline(limits.timeout), None);
    }

    #[test]
    fn a_different_total_fails_the_set_and_gone_parts_do_not_count() {
        let mut sets = HtlcSets::default();
        let limits = MppReceiveConfig::default();
        let t = Duration::from_secs(100);
        sets.join(H, part(1, 0, 400), 1000, I, t, &limits, |_| true);
        match sets.join(H, part(2, 0, 600), 1001, I, t, &limits, |_| true) {
            Joined::Mismatch(parts) => assert_eq!(parts.len(), 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(sets.held_parts(), 0);
        // A part whose HTLC is gone is dropped before the sum.
        sets.join(H, part(1, 1, 400), 1000, I, t, &limits, |_| true);
        let gone = ChannelId([1; 32]);
        assert_eq!(
            sets.join(H, part(2, 1, 600), 1000, I, t, &limits, |p| p.channel_id
                != gone),
            Joined::Held
        );
        assert_eq!(sets.held_parts(), 1);
        sets.forget((ChannelId([2; 32]), 1));
        assert_eq!(sets.held_parts(), 0);
        assert_eq!(sets.next_deadline(limits.timeout), None);
    }

    #[test]
    fn a_part_of_another_kind_fails_the_whole_set() {
        let mut sets = HtlcSets::default();
        let limits = MppReceiveConfig::default();
        let t = Duration::from_secs(100);
        let k = SetKind::Keysend([7; 32]);
        assert_eq!(
            sets.join(H, part(1, 0, 400), 1000, k, t, &limits, |_| true),
            Joined::Held
        );
        assert_eq!(
            sets.join(H, part(1, 1, 400), 1000, k, t, &limits, |_| true),
            Joined::Held
        );
        // Another secret (or other records): every part fails.
        let other = SetKind::Keysend([8; 32]);
        match sets.join(H, part(2, 0, 200), 1000, other, t, &limits, |_| true) {
            Joined::Mismatch(parts) => assert_eq!(parts.len(), 3),
            x => panic!("{x:?}"),
        }
        assert_eq!(sets.held_parts(), 0);
        // An invoice's part under the hash of a keysend set.
        sets.join(H, part(1, 2, 400), 1000, k, t, &limits, |_| true);
        match sets.join(H, part(2, 1, 600), 1000, I, t, &limits, |_| true) {
            Joined::Mismatch(parts) => assert_eq!(parts.len(), 2),
            x => panic!("{x:?}"),
        }
        // The same kind completes.
        sets.join(H, part(1, 3, 400), 1000, k, t, &limits, |_| true);
        match sets.join(H, part(2, 2, 600), 1000, k, t, &limits, |_| true) {
            Joined::Complete(parts) => assert_eq!(parts.len(), 2),
            x => panic!("{x:?}"),
        }
        assert_eq!(sets.held_parts(), 0);
    }

    #[test]
    fn bounds_refuse_the_part_alone_and_sets_time_out() {
        let mut sets = HtlcSets::default();
        let limits = MppReceiveConfig {
            max_parts_per_payment: 2,
            max_held_parts: 3,
            ..MppReceiveConfig::default()
        };
        let t = Duration::from_secs(100);
        sets.join(H, part(1, 0, 1), 1000, I, t, &limits, |_| true);
        sets.join(H, part(1, 1, 1), 1000, I, t, &limits, |_| true);
        assert_eq!(
            sets.join(H, part(1, 2, 1), 1000, I, t, &limits, |_| true),
            Joined::TooMany
        );
        let h2 = PaymentHash([2; 32]);
        let later = t + Duration::from_secs(1);
        assert_eq!(
            sets.join(h2, part(2, 0, 1), 1000, I, later, &limits, |_| true),
            Joined::Held
        );
        assert_eq!(
            sets.join(
                PaymentHash([3; 32]),
                part(3, 0, 1),
                1000,
                I,
                t,
                &limits,
                |_| true
            ),
            Joined::TooMany
        );
        assert_eq!(sets.held_parts(), 3);
        // A part completing its set is taken at the bound (never held).
        match sets.join(
            PaymentHash([4; 32]),
            part(4, 0, 5),
            5,
            I,
            t,
            &limits,
            |_| true,
        ) {
            Joined::Complete(parts) => assert_eq!(parts.len(), 1),
            other => panic!("{other:?}"),
        }
        match sets.join(H, part(1, 3, 998), 1000, I, t, &limits, |_| true) {
            Joined::Complete(parts) => assert_eq!(parts.len(), 3),
            other => panic!("{other:?}"),
        }
        assert_eq!(sets.held_parts(), 1);
        sets.join(H, part(1, 0, 1), 1000, I, t, &limits, |_| true);
        sets.join(H, part(1, 1, 1), 1000, I, t, &limits, |_| true);
        assert_eq!(sets.held_parts(), 3);
        // At the first set's deadline only it is due.
        let due = sets.take_due(t + limits.timeout, limits.timeout, |_| false);
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].0, due[0].1.len()), (H, 2));
        assert_eq!(sets.held_parts(), 1);
        // A part past its claim deadline makes its set due early.
        let due = sets.take_due(later, limits.timeout, |p| p.htlc_id == 0);
        assert_eq!(due.len(), 1);
        assert_eq!(sets.held_parts(), 0);
    }
}
