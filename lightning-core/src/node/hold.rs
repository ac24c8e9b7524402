//! Hold invoices: an invoice for a payment hash the host chose (it holds
//! the preimage, or will), whose paying HTLC the node holds until the host
//! claims it ([`Node::claim_for_hash`]) or fails it
//! ([`Node::fail_for_hash`]). The node fails it by itself when the host
//! waits too long: an HTLC claimed later than
//! [`NodeConfig::fulfill_deadline_blocks`](super::NodeConfig::fulfill_deadline_blocks)
//! before its expiry would force the channel on chain (BOLT 2,
//! "fulfillment deadline"), so the claim deadline is that many blocks,
//! plus [`HOLD_MARGIN_BLOCKS`], before the HTLC's `cltv_expiry`.
//!
//! A hold invoice may be paid in several parts (BOLT 4, "Basic Multi-Part
//! Payments", [`mpp`](super::mpp)): the parts gather as for any invoice;
//! once they reach the amount paid, the invoice holds the whole set and
//! the host is told ([`Event::HoldInvoiceAccepted`] with the sum, and the
//! earliest claim deadline of the parts); the host's claim or failure
//! then applies to every part. Each state change is written
//! (`hold/<payment hash>`, with every held part) before the answer it
//! allows leaves, and a held HTLC answered again after a restart is
//! answered from the record.

use bitcoin::hashes::{sha256, Hash};
use lightning_wire::bolt11::Bolt11Invoice;
use lightning_wire::types::ChannelId;

use super::events::{Ack, PaymentHash, PaymentPreimage};
use super::mpp::{Joined, SetPart};
use super::records::{hold_key, HeldHtlc, HoldRecord, HoldState};
use super::{Event, Node, NodeError};
use crate::amount::Msat;
use crate::channel::update_log::HtlcAdd;
use crate::onion::{FailureReason, Receive, SharedSecret};

/// Blocks kept, beyond the fulfilment deadline, between the last moment
/// the host may claim a held HTLC and its expiry.
pub const HOLD_MARGIN_BLOCKS: u32 = 2;

/// What a hold invoice says of an incoming HTLC.
pub(super) enum HoldAnswer {
    /// Keep it: the host decides.
    Hold,
    /// The host claimed it.
    Fulfill(PaymentPreimage),
    /// Fail it.
    Fail(FailureReason),
}

impl Node {
    /// The last height at which the host may claim an HTLC expiring at
    /// `cltv_expiry`.
    fn claim_deadline(&self, cltv_expiry: u32) -> u32 {
        cltv_expiry.saturating_sub(
            self.config
                .fulfill_deadline_blocks
                .saturating_add(HOLD_MARGIN_BLOCKS),
        )
    }

    /// Decides an HTLC for us whose hash is one of our hold invoices'
    /// (`None`: it is not). A valid HTLC joins the payment's HTLC set
    /// ([`mpp`](super::mpp)); once the set is complete the invoice holds
    /// every part, recorded, and the host is told.
    pub(super) fn receive_hold(
        &mut self,
        channel_id: ChannelId,
        htlc_id: u64,
        add: &HtlcAdd,
        r: &Receive,
    ) -> Option<HoldAnswer> {
        let hash = add.payment_hash;
        let height = self.best_height();
        let unknown = FailureReason::IncorrectOrUnknownPaymentDetails {
            htlc_msat: add.amount_msat,
            height,
        };
        let rec = self.holds.get(&hash)?;
        if rec
            .held
            .iter()
            .any(|h| (h.channel_id, h.htlc_id) == (channel_id, htlc_id))
        {
            // A held HTLC answered again (after a restart or a
            // reconnection): the record decides.
            return Some(match &rec.state {
                HoldState::Claimed(p) => HoldAnswer::Fulfill(*p),
                HoldState::Failed | HoldState::Open => HoldAnswer::Fail(unknown),
                HoldState::Accepted => {
                    // Announced again once per run (the host may have
                    // restarted with the node).
                    if self.htlc_sets.announced_holds.insert(hash) {
                        let event = self.hold_accepted_event(hash);
                        self.push_event(event, None);
                    }
                    HoldAnswer::Hold
                }
            });
        }
        if rec.state != HoldState::Open {
            return Some(HoldAnswer::Fail(unknown));
        }
        if self.htlc_sets.holds(&hash, (channel_id, htlc_id)) {
            return Some(HoldAnswer::Hold);
        }
        let Ok(invoice) = rec.bolt11.parse::<Bolt11Invoice>() else {
            return Some(HoldAnswer::Fail(unknown));
        };
        let given = r.payment_secret.unwrap_or_default();
        let secret_ok = r.payment_secret.is_some()
            & crate::onion::keys::ct_eq(&given, &invoice.payment_secret().0);
        // BOLT 4: the amount paid (`total_msat`) at least the amount
        // asked, at most twice it.
        let amount_ok = match invoice.amount_msat() {
            Some(a) => (r.total_msat >= a) & (r.total_msat <= a.saturating_mul(2)),
            None => true,
        };
        let not_expired = !invoice.is_expired(self.now.as_secs());
        let min_expiry = height.saturating_add(u32::from(self.config.min_final_cltv_expiry_delta));
        let cltv_ok =
            add.cltv_expiry >= min_expiry && self.claim_deadline(add.cltv_expiry) > height;
        if !(secret_ok & amount_ok & not_expired & cltv_ok) {
            return Some(HoldAnswer::Fail(unknown));
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
        let parts = match self.join_set(hash, part, r.total_msat) {
            Joined::Held => return Some(HoldAnswer::Hold),
            Joined::TooMany => return Some(HoldAnswer::Fail(FailureReason::TemporaryNodeFailure)),
            Joined::Mismatch(parts) => {
                for p in &parts {
                    let reason = self.unknown_details(p);
                    self.fail_part(p, reason, Some((channel_id, htlc_id)));
                }
                return Some(HoldAnswer::Fail(unknown));
            }
            Joined::Complete(parts) => parts,
        };
        if let Some(rec) = self.holds.get_mut(&hash) {
            rec.state = HoldState::Accepted;
            rec.held = parts
                .iter()
                .map(|p| HeldHtlc {
                    channel_id: p.channel_id,
                    htlc_id: p.htlc_id,
                    amount_msat: p.amount_msat,
                    cltv_expiry: p.cltv_expiry,
                    shared_secret: p.shared_secret,
                })
                .collect();
        }
        self.save_hold(&hash);
        self.htlc_sets.announced_holds.insert(hash);
        let event = self.hold_accepted_event(hash);
        self.push_event(event, None);
        Some(HoldAnswer::Hold)
    }

    /// `HoldInvoiceAccepted` for the set held for `hash`: the sum of its
    /// parts, and the earliest of their claim deadlines.
    fn hold_accepted_event(&self, hash: PaymentHash) -> Event {
        let held = self.holds.get(&hash).map_or(&[][..], |r| &r.held[..]);
        Event::HoldInvoiceAccepted {
            payment_hash: hash,
            amount_msat: Msat(held_sum(held)),
            claim_deadline_height: self.set_claim_deadline(held),
        }
    }

    /// The claim deadline of a set: its earliest part's.
    fn set_claim_deadline(&self, held: &[HeldHtlc]) -> u32 {
        held.iter()
            .map(|h| self.claim_deadline(h.cltv_expiry))
            .min()
            .unwrap_or(0)
    }

    fn save_hold(&mut self, hash: &PaymentHash) {
        if let Some(rec) = self.holds.get(hash) {
            let bytes = rec.encode();
            let _ = self.writer.write_record(&hold_key(hash), bytes);
        }
    }

    /// Claims the HTLCs held for the hold invoice of `preimage`'s hash
    /// (every part of its set;
    /// [`Event::HoldInvoiceAccepted`]
    /// came for it). The claim is recorded before the preimage can leave;
    /// [`Event::PaymentReceived`] follows,
    /// with the sum of the parts. Refused when nothing is held for it, or
    /// the claim deadline (its earliest part's) passed (the node failed
    /// it then).
    pub fn claim_for_hash(
        &mut self,
        preimage: PaymentPreimage,
        now: std::time::Duration,
    ) -> Result<(), NodeError> {
        self.now = now;
        let hash = PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array());
        let height = self.best_height();
        let held = match self.holds.get(&hash) {
            Some(HoldRecord {
                state: HoldState::Accepted,
                held,
                ..
            }) if !held.is_empty() => held.clone(),
            _ => return Err(NodeError::Invoice("no HTLC is held for this hash".into())),
        };
        if height >= self.set_claim_deadline(&held) {
            return Err(NodeError::Invoice(
                "the held HTLC's claim deadline has passed".into(),
            ));
        }
        if let Some(rec) = self.holds.get_mut(&hash) {
            rec.state = HoldState::Claimed(preimage);
            rec.event_handled = false;
        }
        self.preimage_learned = true;
        self.save_hold(&hash);
        self.push_event(
            Event::PaymentReceived {
                payment_hash: hash,
                amount_msat: Msat(held_sum(&held)),
            },
            Some(Ack::Hold(hash)),
        );
        for h in &held {
            // The hold record keeps no arrival time: a hold time of 0
            // (BOLT 4 allows it to nodes without accurate timing).
            let attribution = self.originate_fulfill_attribution(
                h.channel_id,
                h.htlc_id,
                &SharedSecret(h.shared_secret),
                None,
            );
            if let Some(entry) = self.channels.get_mut(&h.channel_id) {
                // Not operating now: answered from the record after the
                // next `channel_reestablish`.
                if let Ok(out) =
                    entry
                        .channel
                        .fulfill_htlc_with_attribution(h.htlc_id, preimage, attribution)
                {
                    self.apply_channel_output(h.channel_id, out);
                    self.to_commit.insert(h.channel_id);
                }
            }
        }
        self.finish()
    }

    /// Fails the hold invoice of `hash`: the HTLCs held for it (every
    /// part, of a complete set or not) fail with
    /// `incorrect_or_unknown_payment_details`, and the invoice takes no
    /// other.
    pub fn fail_for_hash(
        &mut self,
        hash: PaymentHash,
        now: std::time::Duration,
    ) -> Result<(), NodeError> {
        self.now = now;
        match self.holds.get(&hash).map(|r| &r.state) {
            Some(HoldState::Open | HoldState::Accepted) => {}
            _ => {
                return Err(NodeError::Invoice(
                    "no open or held hold invoice for this hash".into(),
                ))
            }
        }
        self.fail_hold(hash);
        self.finish()
    }

    fn fail_hold(&mut self, hash: PaymentHash) {
        let height = self.best_height();
        let Some(rec) = self.holds.get_mut(&hash) else {
            return;
        };
        rec.state = HoldState::Failed;
        let held = rec.held.clone();
        self.save_hold(&hash);
        // Parts of a set not complete yet fail too.
        for part in self.htlc_sets.remove(&hash).unwrap_or_default() {
            let reason = self.unknown_details(&part);
            self.fail_part(&part, reason, None);
        }
        for h in held {
            let reason = FailureReason::IncorrectOrUnknownPaymentDetails {
                htlc_msat: h.amount_msat,
                height,
            };
            // No arrival time in the hold record: a hold time of 0.
            self.fail_received_htlc(
                h.channel_id,
                h.htlc_id,
                &SharedSecret(h.shared_secret),
                reason,
                None,
            );
        }
    }

    /// The incoming HTLCs of claimed hold invoices: (channel, HTLC id,
    /// expiry).
    pub(super) fn claimed_holds(&self) -> Vec<(ChannelId, u64, u32)> {
        self.holds
            .values()
            .filter(|r| matches!(r.state, HoldState::Claimed(_)))
            .flat_map(|r| r.held.iter())
            .map(|h| (h.channel_id, h.htlc_id, h.cltv_expiry))
            .collect()
    }

    /// At every new height: held HTLCs whose claim deadline came are
    /// failed back (the host waited too long).
    pub(super) fn hold_deadlines(&mut self, height: u32) {
        let due: Vec<PaymentHash> = self
            .holds
            .iter()
            .filter(|(_, r)| r.state == HoldState::Accepted)
            .filter(|(_, r)| !r.held.is_empty() && height >= self.set_claim_deadline(&r.held))
            .map(|(h, _)| *h)
            .collect();
        for hash in due {
            self.fail_hold(hash);
        }
    }
}

/// What the parts of a held set pay together.
fn held_sum(held: &[HeldHtlc]) -> u64 {
    held.iter()
        .fold(0u64, |acc, h| acc.saturating_add(h.amount_msat))
}
