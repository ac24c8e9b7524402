//! Receiving spontaneous payments (keysend, bLIP 3): the sender puts the
//! preimage in the final onion payload, TLV 5482373484, and no invoice is
//! involved. Accepted only with
//! [`ForwardingConfig::accept_keysend`](super::ForwardingConfig::accept_keysend).
//!
//! The claim is recorded (`keysend/<payment hash>`, with the paying HTLC)
//! before the preimage can leave, and the host's event is delivered at
//! least once, as for a paid invoice. The payment hash must be the
//! preimage's; the HTLC must carry the whole amount (no multi-part) and
//! expire far enough away; a second HTLC for a hash already received
//! fails (BOLT 4 lets the final node treat a paid hash as unknown).

use bitcoin::hashes::{sha256, Hash};
use lightning_wire::types::ChannelId;

use super::events::{Ack, PaymentPreimage};
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

impl Node {
    /// Decides an HTLC for us whose payload carries a keysend preimage
    /// (and whose hash is none of our invoices'): the preimage to claim
    /// with, the claim recorded and its event queued, or the failure.
    pub(super) fn receive_keysend(
        &mut self,
        channel_id: ChannelId,
        htlc_id: u64,
        add: &HtlcAdd,
        r: &Receive,
        preimage: PaymentPreimage,
    ) -> Result<PaymentPreimage, FailureReason> {
        let unknown = FailureReason::IncorrectOrUnknownPaymentDetails {
            htlc_msat: add.amount_msat,
            height: self.best_height(),
        };
        let hash = add.payment_hash;
        if let Some(rec) = self.keysends.get(&hash) {
            // The paying HTLC answered again (after a restart or a
            // reconnection); any other HTLC for this hash fails.
            return if rec.paid_by == (channel_id, htlc_id) {
                Ok(rec.preimage)
            } else {
                Err(unknown)
            };
        }
        let min_expiry = self
            .best_height()
            .saturating_add(u32::from(self.config.min_final_cltv_expiry_delta));
        let ok = self.config.forwarding.accept_keysend
            && sha256::Hash::hash(&preimage.0).to_byte_array() == hash.0
            && r.total_msat <= add.amount_msat
            && add.cltv_expiry >= min_expiry;
        if !ok {
            return Err(unknown);
        }
        let custom_records: Vec<(u64, Vec<u8>)> = r
            .custom_records
            .0
            .iter()
            .filter(|t| t.r#type >= MIN_CUSTOM_RECORD_TYPE && t.r#type != KEYSEND_PREIMAGE_TYPE)
            .map(|t| (t.r#type, t.value.clone()))
            .collect();
        let record = KeysendRecord {
            payment_hash: hash,
            preimage,
            amount_msat: add.amount_msat,
            paid_by: (channel_id, htlc_id),
            custom_records: custom_records.clone(),
            event_handled: false,
        };
        // Recorded before the preimage can leave (same batch).
        let _ = self
            .writer
            .write_record(&keysend_key(&hash), record.encode());
        self.keysends.insert(hash, record);
        self.push_event(
            Event::SpontaneousPaymentReceived {
                payment_hash: hash,
                amount_msat: Msat(add.amount_msat),
                custom_records,
            },
            Some(Ack::Keysend(hash)),
        );
        Ok(preimage)
    }
}
