//! Receiving spontaneous payments (keysend, bLIP 3): the sender puts the
//! preimage in the final onion payload, TLV 5482373484, and no invoice is
//! involved. Accepted only with
//! [`ForwardingConfig::accept_keysend`](super::ForwardingConfig::accept_keysend).
//!
//! The claim is recorded (`keysend/<payment hash>`, with the paying HTLCs)
//! before the preimage can leave, and the host's event is delivered at
//! least once, as for a paid invoice. The payment hash must be the
//! preimage's and every HTLC must expire far enough away; a second
//! payment for a hash already received fails (BOLT 4 lets the final node
//! treat a paid hash as unknown).
//!
//! One HTLC carrying the whole amount (`total_msat`, which is
//! `amt_to_forward` without `payment_data`, at most what the HTLC brings)
//! is the whole payment, claimed at once, as it always was.
//!
//! **Multi-part keysend** (with
//! [`MppReceiveConfig::accept_keysend_parts`](super::MppReceiveConfig::accept_keysend_parts);
//! the way LDK and LND split a keysend): each part carries the keysend
//! preimage *and* a `payment_data` (BOLT 4 "Basic Multi-Part Payments")
//! whose `payment_secret` the sender chose and whose `total_msat` is the
//! whole payment. The parts are held in the HTLC sets of the `mpp` module,
//! under the rules, bounds and timeout of invoice payments: held until
//! their `amt_to_forward` reach `total_msat`, or failed with `mpp_timeout`
//! after [`MppReceiveConfig::timeout`](super::MppReceiveConfig::timeout).
//! Every part must carry the same preimage (each must hash to the payment
//! hash, so one hash means one preimage), the same `payment_secret`, the
//! same `total_msat` and the same custom records; a part that differs
//! fails with the whole set, `incorrect_or_unknown_payment_details`.
//! Once complete, one [`KeysendRecord`] names every part (written before
//! any preimage leaves), one
//! [`Event::SpontaneousPaymentReceived`](super::Event::SpontaneousPaymentReceived)
//! carries the sum of the parts and the custom records, and every part is
//! fulfilled. A part arriving once the payment is recorded (past the
//! total) fails. A part without `payment_data` whose amount is below its
//! total cannot be one of a set (there is no secret to match) and fails.
//!
//! Without the opt-in, a keysend HTLC whose `total_msat` is more than it
//! brings fails `incorrect_or_unknown_payment_details`, as before.

use bitcoin::hashes::{sha256, Hash, HashEngine};
use lightning_wire::types::ChannelId;

use super::events::{Ack, PaymentPreimage};
use super::mpp::{Joined, SetKind, SetPart};
use super::records::{keysend_key, KeysendRecord};
use super::route::{KEYSEND_PREIMAGE_TYPE, MIN_CUSTOM_RECORD_TYPE};
use super::{Event, Node};
use crate::amount::Msat;
use crate::channel::update_log::HtlcAdd;
use crate::onion::{FailureReason, Receive};

/// The keysend preimage an onion payload carries, if any.
pub(super) fn keysend_preimage(r: &Receive) -> Option<PaymentPreimage> {
    r.custom_records
        .0
        .iter()
        .find(|t| t.r#type == KEYSEND_PREIMAGE_TYPE)
        .and_then(|t| <[u8; 32]>::try_from(t.value.as_slice()).ok())
        .map(PaymentPreimage)
}

/// The custom records of a payload handed to the host: the application
/// types, without the keysend preimage.
fn host_records(r: &Receive) -> Vec<(u64, Vec<u8>)> {
    r.custom_records
        .0
        .iter()
        .filter(|t| t.r#type >= MIN_CUSTOM_RECORD_TYPE && t.r#type != KEYSEND_PREIMAGE_TYPE)
        .map(|t| (t.r#type, t.value.clone()))
        .collect()
}

/// The kind of a keysend's HTLC set: a digest of the sender's
/// `payment_secret` and the custom records, which every part must share.
fn keysend_set_kind(secret: &[u8; 32], records: &[(u64, Vec<u8>)]) -> SetKind {
    let mut e = sha256::Hash::engine();
    e.input(b"keysend set");
    e.input(secret);
    for (ty, value) in records {
        e.input(&ty.to_be_bytes());
        e.input(&(value.len() as u64).to_be_bytes());
        e.input(value);
    }
    SetKind::Keysend(sha256::Hash::from_engine(e).to_byte_array())
}

impl Node {
    /// Decides an HTLC for us whose payload carries a keysend preimage
    /// (and whose hash is none of our invoices'): `Ok(Some(preimage))` to
    /// claim with (the claim recorded and its event queued; for the last
    /// part of a multi-part keysend, every other part fulfilled too),
    /// `Ok(None)` while it is held as a part, or the failure.
    pub(super) fn receive_keysend(
        &mut self,
        channel_id: ChannelId,
        htlc_id: u64,
        add: &HtlcAdd,
        r: &Receive,
        preimage: PaymentPreimage,
    ) -> Result<Option<PaymentPreimage>, FailureReason> {
        let unknown = FailureReason::IncorrectOrUnknownPaymentDetails {
            htlc_msat: add.amount_msat,
            height: self.best_height(),
        };
        let hash = add.payment_hash;
        let this = (channel_id, htlc_id);
        if let Some(rec) = self.keysends.get(&hash) {
            // A paying HTLC answered again (after a restart or a
            // reconnection); any other HTLC for this hash fails.
            return if rec.paid_by.contains(&this) {
                Ok(Some(rec.preimage))
            } else {
                Err(unknown)
            };
        }
        if self.htlc_sets.holds(&hash, this) {
            // A part answered again (a reconnection): still held.
            return Ok(None);
        }
        let min_expiry = self
            .best_height()
            .saturating_add(u32::from(self.config.min_final_cltv_expiry_delta));
        let ok = self.config.forwarding.accept_keysend
            && sha256::Hash::hash(&preimage.0).to_byte_array() == hash.0
            && add.cltv_expiry >= min_expiry;
        if !ok {
            return Err(unknown);
        }
        let custom_records = host_records(r);
        let whole = r.total_msat <= add.amount_msat;
        let set_open = self.htlc_sets.has_set(&hash);
        if whole && !set_open {
            // One HTLC, the whole payment: as before multi-part keysend.
            self.record_keysend(hash, preimage, vec![this], add.amount_msat, custom_records);
            return Ok(Some(preimage));
        }
        // A part of a multi-part keysend (or one completing a set).
        let secret = match r.payment_secret {
            Some(s) if self.config.mpp_receive.accept_keysend_parts => s,
            _ => return Err(unknown),
        };
        let part = SetPart {
            channel_id,
            htlc_id,
            amount_msat: add.amount_msat,
            amt_to_forward: r.amt_to_forward,
            cltv_expiry: add.cltv_expiry,
            shared_secret: *r.shared_secret.as_bytes(),
            received_at: self.now,
        };
        let kind = keysend_set_kind(&secret, &custom_records);
        match self.join_set_of(hash, part, r.total_msat, kind) {
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
                let paid_by = parts.iter().map(|p| (p.channel_id, p.htlc_id)).collect();
                // Recorded before any preimage leaves: a part answered
                // again is fulfilled from this record.
                self.record_keysend(hash, preimage, paid_by, received, custom_records);
                for p in parts.iter().filter(|p| (p.channel_id, p.htlc_id) != this) {
                    self.fulfill_part(p, preimage);
                }
                Ok(Some(preimage))
            }
        }
    }

    /// Writes the claim of keysend `hash` (paid by the HTLCs `paid_by`,
    /// `amount_msat` in all) and queues its event, raised again after a
    /// restart until the host acknowledges it.
    fn record_keysend(
        &mut self,
        hash: super::events::PaymentHash,
        preimage: PaymentPreimage,
        paid_by: Vec<(ChannelId, u64)>,
        amount_msat: u64,
        custom_records: Vec<(u64, Vec<u8>)>,
    ) {
        let record = KeysendRecord {
            payment_hash: hash,
            preimage,
            amount_msat,
            paid_by,
            custom_records: custom_records.clone(),
            event_handled: false,
        };
        // Recorded before the preimage can leave (same batch). A failed
        // write is recorded by the writer and blocks every later message.
        let _ = self
            .writer
            .write_record(&keysend_key(&hash), record.encode());
        self.keysends.insert(hash, record);
        self.push_event(
            Event::SpontaneousPaymentReceived {
                payment_hash: hash,
                amount_msat: Msat(amount_msat),
                custom_records,
            },
            Some(Ack::Keysend(hash)),
        );
    }
}
