//! What became of the payments we sent: each of our HTLCs fulfilled,
//! failed (its error decoded) or never committed, recorded and reported
//! to the host.

use bitcoin::hashes::{sha256, Hash};
use lightning_wire::codec::Encode;

use super::events::{Ack, PaymentFailure, PaymentHash, PaymentPreimage, PaymentStatus};
use super::records::{payment_key, PaymentRecord};
use super::{Event, Node};
use crate::channel::HtlcFailReason;
use crate::onion::{decode_error_packet, FailureCode, FailureMessage, SharedSecret};

impl Node {
    pub(super) fn save_payment(&mut self, hash: PaymentHash) {
        if let Some(r) = self.payments.get(&hash) {
            let bytes = r.encode();
            // A failed write is recorded by the writer and blocks every
            // later message; the payment record is node-level data.
            let _ = self.writer.write_record(&payment_key(&hash), bytes);
        }
    }

    pub(super) fn payment_fulfilled(&mut self, hash: PaymentHash, preimage: PaymentPreimage) {
        if sha256::Hash::hash(&preimage.0).to_byte_array() != hash.0 {
            return;
        }
        let (fresh, ack) = match self.payments.get_mut(&hash) {
            Some(p) if p.status == PaymentStatus::Succeeded => (false, None),
            Some(p) => {
                p.status = PaymentStatus::Succeeded;
                p.preimage = Some(preimage);
                p.failure = None;
                p.event_handled = false;
                (true, Some(attempt(p)))
            }
            // The record was lost: still report the proof of payment.
            None => (true, None),
        };
        if fresh {
            self.save_payment(hash);
            // Raised again after a restart until the host has acknowledged
            // it ([`super::delivery`]).
            let event = Event::PaymentSent {
                payment_hash: hash,
                preimage,
                fee_msat: 0,
            };
            self.push_event(event, ack);
        }
    }

    pub(super) fn payment_failed(&mut self, hash: PaymentHash, reason: &HtlcFailReason) {
        let Some(p) = self.payments.get(&hash) else {
            return;
        };
        if p.status != PaymentStatus::Pending {
            return;
        }
        let failure = match reason {
            HtlcFailReason::Onion(packet) => {
                let secrets: Vec<SharedSecret> =
                    p.shared_secrets.iter().map(|s| SharedSecret(*s)).collect();
                let decoded = decode_error_packet(&secrets, packet, None);
                let failure = decoded.message.map(|m| m.reason);
                let failure_code = failure.as_ref().map(|f| f.code().0);
                let message = match &failure {
                    Some(f) => format!("{} ({:#06x})", failure_name(f.code()), f.code().0),
                    None => "the returned error did not decode".into(),
                };
                PaymentFailure {
                    failure_code,
                    failure,
                    failing_hop: decoded.failing_hop,
                    message,
                }
            }
            HtlcFailReason::Malformed { failure_code, .. } => PaymentFailure {
                failure_code: Some(*failure_code),
                failure: None,
                failing_hop: Some(0),
                message: format!(
                    "the payee could not read the onion: {} ({failure_code:#06x})",
                    failure_name(FailureCode(*failure_code))
                ),
            },
        };
        self.finish_failed(hash, failure);
    }

    /// An HTLC offer that never got committed (disconnection, restart).
    pub(super) fn fail_unsent_payment(&mut self, hash: PaymentHash, why: &str) {
        if self.payments.get(&hash).map(|p| p.status) != Some(PaymentStatus::Pending) {
            return;
        }
        self.finish_failed(
            hash,
            PaymentFailure {
                failure_code: None,
                failure: None,
                failing_hop: None,
                message: why.to_string(),
            },
        );
    }

    fn finish_failed(&mut self, hash: PaymentHash, failure: PaymentFailure) {
        let ack = self.payments.get_mut(&hash).map(|p| {
            p.status = PaymentStatus::Failed;
            p.failure = Some(failure.message.clone());
            // Kept to report the same failure again after a restart.
            p.failure_code = failure.failure_code;
            p.failing_hop = failure.failing_hop.and_then(|h| u64::try_from(h).ok());
            p.failure_message = failure
                .failure
                .clone()
                .map(|f| FailureMessage::from(f).to_bytes());
            p.event_handled = false;
            attempt(p)
        });
        self.save_payment(hash);
        let event = Event::PaymentFailed {
            payment_hash: hash,
            reason: failure,
        };
        self.push_event(event, ack);
    }
}

/// The acknowledgement of a finished payment's event: this attempt's.
pub(super) fn attempt(p: &PaymentRecord) -> Ack {
    Ack::Payment {
        hash: p.payment_hash,
        channel_id: p.channel_id,
        htlc_id: p.htlc_id,
    }
}

/// The BOLT 4 name of a failure code.
pub fn failure_name(code: FailureCode) -> &'static str {
    match code {
        FailureCode::INVALID_REALM => "invalid_realm",
        FailureCode::TEMPORARY_NODE_FAILURE => "temporary_node_failure",
        FailureCode::PERMANENT_NODE_FAILURE => "permanent_node_failure",
        FailureCode::REQUIRED_NODE_FEATURE_MISSING => "required_node_feature_missing",
        FailureCode::INVALID_ONION_VERSION => "invalid_onion_version",
        FailureCode::INVALID_ONION_HMAC => "invalid_onion_hmac",
        FailureCode::INVALID_ONION_KEY => "invalid_onion_key",
        FailureCode::TEMPORARY_CHANNEL_FAILURE => "temporary_channel_failure",
        FailureCode::PERMANENT_CHANNEL_FAILURE => "permanent_channel_failure",
        FailureCode::REQUIRED_CHANNEL_FEATURE_MISSING => "required_channel_feature_missing",
        FailureCode::UNKNOWN_NEXT_PEER => "unknown_next_peer",
        FailureCode::AMOUNT_BELOW_MINIMUM => "amount_below_minimum",
        FailureCode::FEE_INSUFFICIENT => "fee_insufficient",
        FailureCode::INCORRECT_CLTV_EXPIRY => "incorrect_cltv_expiry",
        FailureCode::EXPIRY_TOO_SOON => "expiry_too_soon",
        FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS => "incorrect_or_unknown_payment_details",
        FailureCode::FINAL_INCORRECT_CLTV_EXPIRY => "final_incorrect_cltv_expiry",
        FailureCode::FINAL_INCORRECT_HTLC_AMOUNT => "final_incorrect_htlc_amount",
        FailureCode::CHANNEL_DISABLED => "channel_disabled",
        FailureCode::EXPIRY_TOO_FAR => "expiry_too_far",
        FailureCode::INVALID_ONION_PAYLOAD => "invalid_onion_payload",
        FailureCode::MPP_TIMEOUT => "mpp_timeout",
        FailureCode::INVALID_ONION_BLINDING => "invalid_onion_blinding",
        _ => "unknown failure",
    }
}
