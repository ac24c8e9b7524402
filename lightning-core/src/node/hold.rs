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
//! One HTLC pays a hold invoice (no multi-part payments); each state change
//! is written (`hold/<payment hash>`) before the answer it allows leaves,
//! and a held HTLC answered again after a restart is answered from the
//! record.

use bitcoin::hashes::{sha256, Hash};
use lightning_wire::bolt11::Bolt11Invoice;
use lightning_wire::types::ChannelId;

use super::events::{Ack, PaymentHash, PaymentPreimage};
use super::records::{hold_key, HeldHtlc, HoldRecord, HoldState};
use super::{Event, Node, NodeError};
use crate::amount::Msat;
use crate::channel::update_log::HtlcAdd;
use crate::onion::{create_error_packet, FailureReason, Receive, SharedSecret};

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
    /// (`None`: it is not).
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
        if let Some(h) = rec
            .held
            .as_ref()
            .filter(|h| (h.channel_id, h.htlc_id) == (channel_id, htlc_id))
        {
            // The held HTLC answered again (after a restart or a
            // reconnection): the record decides.
            return Some(match &rec.state {
                HoldState::Claimed(p) => HoldAnswer::Fulfill(*p),
                HoldState::Failed | HoldState::Open => HoldAnswer::Fail(unknown),
                HoldState::Accepted => {
                    let event = Event::HoldInvoiceAccepted {
                        payment_hash: hash,
                        amount_msat: Msat(h.amount_msat),
                        claim_deadline_height: self.claim_deadline(h.cltv_expiry),
                    };
                    self.push_event(event, None);
                    HoldAnswer::Hold
                }
            });
        }
        if rec.state != HoldState::Open {
            return Some(HoldAnswer::Fail(unknown));
        }
        let Ok(invoice) = rec.bolt11.parse::<Bolt11Invoice>() else {
            return Some(HoldAnswer::Fail(unknown));
        };
        let given = r.payment_secret.unwrap_or_default();
        let secret_ok = r.payment_secret.is_some()
            & crate::onion::keys::ct_eq(&given, &invoice.payment_secret().0);
        let amount_ok = match invoice.amount_msat() {
            Some(a) => (add.amount_msat >= a) & (add.amount_msat <= a.saturating_mul(2)),
            None => true,
        };
        let whole = r.total_msat <= add.amount_msat;
        let not_expired = !invoice.is_expired(self.now.as_secs());
        let min_expiry = height.saturating_add(u32::from(self.config.min_final_cltv_expiry_delta));
        let cltv_ok =
            add.cltv_expiry >= min_expiry && self.claim_deadline(add.cltv_expiry) > height;
        if !(secret_ok & amount_ok & whole & not_expired & cltv_ok) {
            return Some(HoldAnswer::Fail(unknown));
        }
        let held = HeldHtlc {
            channel_id,
            htlc_id,
            amount_msat: add.amount_msat,
            cltv_expiry: add.cltv_expiry,
            shared_secret: *r.shared_secret.as_bytes(),
        };
        let deadline = self.claim_deadline(add.cltv_expiry);
        if let Some(rec) = self.holds.get_mut(&hash) {
            rec.state = HoldState::Accepted;
            rec.held = Some(held);
        }
        self.save_hold(&hash);
        self.push_event(
            Event::HoldInvoiceAccepted {
                payment_hash: hash,
                amount_msat: Msat(add.amount_msat),
                claim_deadline_height: deadline,
            },
            None,
        );
        Some(HoldAnswer::Hold)
    }

    fn save_hold(&mut self, hash: &PaymentHash) {
        if let Some(rec) = self.holds.get(hash) {
            let bytes = rec.encode();
            let _ = self.writer.write_record(&hold_key(hash), bytes);
        }
    }

    /// Claims the HTLC held for the hold invoice of `preimage`'s hash
    /// ([`Event::HoldInvoiceAccepted`](super::Event::HoldInvoiceAccepted)
    /// came for it). The claim is recorded before the preimage can leave;
    /// [`Event::PaymentReceived`](super::Event::PaymentReceived) follows.
    /// Refused when no HTLC is held for it, or its claim deadline passed
    /// (the node failed it then).
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
                held: Some(h),
                ..
            }) => h.clone(),
            _ => return Err(NodeError::Invoice("no HTLC is held for this hash".into())),
        };
        if height >= self.claim_deadline(held.cltv_expiry) {
            return Err(NodeError::Invoice(
                "the held HTLC's claim deadline has passed".into(),
            ));
        }
        if let Some(rec) = self.holds.get_mut(&hash) {
            rec.state = HoldState::Claimed(preimage);
            rec.event_handled = false;
        }
        self.save_hold(&hash);
        self.push_event(
            Event::PaymentReceived {
                payment_hash: hash,
                amount_msat: Msat(held.amount_msat),
            },
            Some(Ack::Hold(hash)),
        );
        if let Some(entry) = self.channels.get_mut(&held.channel_id) {
            // Not operating now: answered from the record after the next
            // `channel_reestablish`.
            if let Ok(out) = entry.channel.fulfill_htlc(held.htlc_id, preimage) {
                self.apply_channel_output(held.channel_id, out);
                self.to_commit.insert(held.channel_id);
            }
        }
        self.finish()
    }

    /// Fails the hold invoice of `hash`: the HTLC held for it (if any)
    /// fails with `incorrect_or_unknown_payment_details`, and the invoice
    /// takes no other.
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
        let Some(h) = held else {
            return;
        };
        let reason = FailureReason::IncorrectOrUnknownPaymentDetails {
            htlc_msat: h.amount_msat,
            height,
        };
        let packet = create_error_packet(&SharedSecret(h.shared_secret), &reason.into());
        if let Some(entry) = self.channels.get_mut(&h.channel_id) {
            if let Ok(out) = entry.channel.fail_htlc(h.htlc_id, packet) {
                self.apply_channel_output(h.channel_id, out);
                self.to_commit.insert(h.channel_id);
            }
        }
    }

    /// The incoming HTLCs of claimed hold invoices: (channel, HTLC id,
    /// expiry).
    pub(super) fn claimed_holds(&self) -> Vec<(ChannelId, u64, u32)> {
        self.holds
            .values()
            .filter(|r| matches!(r.state, HoldState::Claimed(_)))
            .filter_map(|r| r.held.as_ref())
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
            .filter(|(_, r)| {
                r.held
                    .as_ref()
                    .is_some_and(|h| height >= self.claim_deadline(h.cltv_expiry))
            })
            .map(|(h, _)| *h)
            .collect();
        for hash in due {
            self.fail_hold(hash);
        }
    }
}
