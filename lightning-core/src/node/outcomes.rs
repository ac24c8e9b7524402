//! What became of the payments we sent: each of our HTLCs fulfilled,
//! failed (its error decoded) or never committed, recorded and reported
//! to the host.
//!
//! A payment (keyed by its hash) is made by one HTLC at a time, its
//! attempt, named by `(channel_id, htlc_id)` in its record, or, split, by
//! parts in flight together ([`super::mpp_send`]), each named the same
//! way. A failure counts only for a pending HTLC of the payment: an HTLC
//! of an earlier attempt (failed, then retried with the same hash) never
//! fails the retry. A preimage is proof of payment whichever HTLC brought
//! it.

use bitcoin::hashes::{sha256, Hash};
use lightning_wire::codec::{Decode, Encode};

use super::events::{Ack, PartStatus, PaymentFailure, PaymentHash, PaymentPreimage, PaymentStatus};
use super::records::{payment_key, PaymentRecord};
use bitcoin::secp256k1::PublicKey;
use lightning_wire::types::ChannelId;

use super::{Event, Node};
use crate::amount::Msat;
use crate::channel::HtlcFailReason;
use crate::onion::{decode_error_packet, FailureCode, FailureMessage, SharedSecret};
use lightning_wire::msgs::AttributionData;

impl Node {
    pub(super) fn save_payment(&mut self, hash: PaymentHash) {
        if let Some(r) = self.payments.get(&hash) {
            let bytes = r.encode();
            // A failed write is recorded by the writer and blocks every
            // later message; the payment record is node-level data.
            let _ = self.writer.write_record(&payment_key(&hash), bytes);
        }
    }

    /// Our HTLC `htlc` of payment `hash` was fulfilled with `attribution`
    /// data: the hold times it reports, verified hop by hop with the
    /// HTLC's shared secrets (BOLT 4, "Hold times for successful
    /// payments"), are kept for the payment's record. While the payment is
    /// pending they are the payment's (written when
    /// [`Node::payment_fulfilled`] marks it succeeded, and carried by
    /// `PaymentSent`); a multi-part payment's part keeps its own, also when
    /// it is fulfilled after the payment succeeded (the record is then
    /// written again, in the same step's batch). Data that does not verify
    /// is dropped: the preimage proves the payment all the same.
    pub(super) fn note_fulfill_hold_times(
        &mut self,
        htlc: (ChannelId, u64),
        hash: PaymentHash,
        attribution: Option<&AttributionData>,
    ) {
        let Some(p) = self.payments.get_mut(&hash) else {
            return;
        };
        let verify = |secrets: &[[u8; 32]]| -> Vec<u32> {
            let secrets: Vec<SharedSecret> = secrets.iter().map(|s| SharedSecret(*s)).collect();
            attribution
                .map(crate::onion::AttributionData::from)
                .and_then(|a| a.verify_fulfill(&secrets).ok())
                .unwrap_or_default()
        };
        let pending = p.status == PaymentStatus::Pending;
        if p.is_multipart() {
            let Some(part) = p.parts.iter_mut().find(|s| s.htlc() == htlc) else {
                return;
            };
            if !part.hold_times.is_empty() {
                return;
            }
            part.hold_times = verify(&part.shared_secrets);
            if pending {
                p.hold_times.clone_from(&part.hold_times);
            } else if !part.hold_times.is_empty() {
                self.save_payment(hash);
            }
        } else if pending && (p.channel_id, p.htlc_id) == htlc {
            p.hold_times = verify(&p.shared_secrets);
        }
    }

    /// Our HTLC of payment `hash` was fulfilled with `preimage`: the
    /// payment succeeded (whichever of its attempts this HTLC was).
    pub(super) fn payment_fulfilled(&mut self, hash: PaymentHash, preimage: PaymentPreimage) {
        if sha256::Hash::hash(&preimage.0).to_byte_array() != hash.0 {
            return;
        }
        // A multi-part payment: every part not failed counts as fulfilled
        // (the payee must fulfil its whole set), and their fees are paid.
        let multipart = self
            .payments
            .get(&hash)
            .is_some_and(|p| p.is_multipart() && p.status != PaymentStatus::Succeeded);
        let parts_fee = multipart.then(|| self.parts_fulfilled(&hash));
        let (fresh, ack, fee_msat) = match self.payments.get_mut(&hash) {
            Some(p) if p.status == PaymentStatus::Succeeded => (false, None, 0),
            Some(p) => {
                if let Some(fee) = parts_fee {
                    p.fee_msat = fee;
                }
                p.status = PaymentStatus::Succeeded;
                p.preimage = Some(preimage);
                p.failure = None;
                p.event_handled = false;
                if let Some(r) = p.retry.as_mut() {
                    r.awaiting = false;
                }
                (true, Some(attempt(p)), p.fee_msat)
            }
            // The record was lost: still report the proof of payment.
            None => (true, None, 0),
        };
        if fresh {
            // The scorer learns from the path that paid (`retry.rs`).
            self.payment_ended(hash, true);
            self.save_payment(hash);
            // Raised again after a restart until the host has acknowledged
            // it ([`super::delivery`]).
            let hold_times = self
                .payments
                .get(&hash)
                .map(|p| p.hold_times.clone())
                .unwrap_or_default();
            let event = Event::PaymentSent {
                payment_hash: hash,
                preimage,
                fee_msat: Msat(fee_msat),
                hold_times,
            };
            self.push_event(event, ack);
        }
    }

    /// Our HTLC `htlc_id` on `channel_id`, for payment `hash`, failed and
    /// the removal is irrevocably committed: the payment fails if that
    /// HTLC is its pending attempt.
    ///
    /// The error is decoded with the HTLC's shared secrets and its
    /// `attribution` data verified hop by hop (BOLT 4, "Origin node"):
    /// the hold times of the hops that verified, and where the HMAC chain
    /// broke, go into the [`PaymentFailure`]. When the error cannot be
    /// read ("When the failure source cannot be identified from the
    /// return packet AND `attribution_data` is present: SHOULD use
    /// `attribution_data` to identify the failure source"), that break
    /// names the pair of hops a retry routes around (`retry.rs`).
    pub(super) fn payment_failed(
        &mut self,
        channel_id: ChannelId,
        htlc_id: u64,
        hash: PaymentHash,
        reason: &HtlcFailReason,
        attribution: Option<&AttributionData>,
    ) {
        let Some(PendingHtlc {
            part,
            shared_secrets,
            route,
        }) = self.pending_htlc(&hash, (channel_id, htlc_id))
        else {
            return;
        };
        let failure = match reason {
            HtlcFailReason::Onion(packet) => {
                let secrets: Vec<SharedSecret> =
                    shared_secrets.iter().map(|s| SharedSecret(*s)).collect();
                let attribution = attribution.map(crate::onion::AttributionData::from);
                let decoded = decode_error_packet(&secrets, packet, attribution.as_ref());
                // Every HMAC verified up to the hop the return came from,
                // yet no error HMAC matched: that hop made a bad packet.
                let attribution_failed_at = decoded.attribution_failed_at.or_else(|| {
                    (decoded.failing_hop.is_none() && !decoded.hold_times.is_empty())
                        .then(|| decoded.hold_times.len() - 1)
                });
                let failure = decoded.message.map(|m| m.reason);
                let failure_code = failure.as_ref().map(|f| f.code().0);
                // The hop that failed it, by node id when the route is
                // known (index 0: the first hop).
                let hop = decoded
                    .failing_hop
                    .map(|i| match route.get(i) {
                        Some(node) => format!(" at hop {i} ({node})"),
                        None => format!(" at hop {i}"),
                    })
                    .unwrap_or_default();
                let name = |i: usize| match route.get(i) {
                    Some(node) => format!("hop {i} ({node})"),
                    None => format!("hop {i}"),
                };
                let message = match (&failure, decoded.failing_hop, attribution_failed_at) {
                    (Some(f), _, _) => {
                        format!("{} ({:#06x}){hop}", failure_name(f.code()), f.code().0)
                    }
                    (None, Some(_), _) => format!("the returned error did not decode{hop}"),
                    (None, None, Some(0)) => format!(
                        "the returned error did not decode; its attribution data blames our peer, {}",
                        name(0)
                    ),
                    (None, None, Some(i)) => format!(
                        "the returned error did not decode; its attribution data blames {} or {}",
                        name(i - 1),
                        name(i)
                    ),
                    (None, None, None) => "the returned error did not decode".into(),
                };
                PaymentFailure {
                    failure_code,
                    failure,
                    failing_hop: decoded.failing_hop,
                    message,
                    attempts: 1,
                    hold_times: decoded.hold_times,
                    attribution_failed_at,
                }
            }
            HtlcFailReason::Malformed { failure_code, .. } => PaymentFailure {
                failure_code: Some(*failure_code),
                failure: None,
                failing_hop: Some(0),
                message: format!(
                    "the first hop could not read the onion: {} ({failure_code:#06x})",
                    failure_name(FailureCode(*failure_code))
                ),
                attempts: 1,
                hold_times: Vec::new(),
                attribution_failed_at: None,
            },
        };
        // A payment the node routes itself may be retried (`retry.rs`).
        let malformed = matches!(reason, HtlcFailReason::Malformed { .. });
        self.payment_attempt_failed(hash, part, failure, malformed);
    }

    /// Our HTLC offer `htlc_id` on `channel_id`, for payment `hash`, never
    /// got committed (disconnection, restart): the payment fails if that
    /// HTLC is its pending attempt.
    pub(super) fn fail_unsent_payment(
        &mut self,
        channel_id: ChannelId,
        htlc_id: u64,
        hash: PaymentHash,
        why: &str,
    ) {
        // A forward's offer that never left fails its incoming HTLC back.
        self.forward_unsent(channel_id, htlc_id);
        let Some(PendingHtlc { part, .. }) = self.pending_htlc(&hash, (channel_id, htlc_id)) else {
            return;
        };
        let failure = PaymentFailure {
            failure_code: None,
            failure: None,
            failing_hop: None,
            message: why.to_string(),
            attempts: 1,
            hold_times: Vec::new(),
            attribution_failed_at: None,
        };
        self.payment_attempt_failed(hash, part, failure, false);
    }

    /// Payment `hash` failed with `failure`: reported, unless parts of it
    /// are still in flight (a multi-part payment waits for them; see
    /// [`super::mpp_send`]).
    pub(super) fn finish_failed(&mut self, hash: PaymentHash, mut failure: PaymentFailure) {
        if let Some(p) = self.payments.get_mut(&hash) {
            if p.has_pending_parts() {
                p.note_failure(&failure);
                self.abandon_parts(hash);
                return;
            }
        }
        self.payment_ended(hash, false);
        let ack = self.payments.get_mut(&hash).map(|p| {
            p.status = PaymentStatus::Failed;
            // Kept to report the same failure again after a restart.
            p.note_failure(&failure);
            if let Some(r) = p.retry.as_mut() {
                r.awaiting = false;
                failure.attempts = r.attempts;
            }
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

impl Node {
    /// The onion secrets and route of payment `hash`'s pending HTLC
    /// `htlc`, and its part index for a multi-part payment.
    pub(super) fn pending_htlc(
        &self,
        hash: &PaymentHash,
        htlc: (ChannelId, u64),
    ) -> Option<PendingHtlc> {
        let p = self.payments.get(hash)?;
        if p.status != PaymentStatus::Pending {
            // A fulfilled payment's other parts still fail or succeed,
            // but nothing depends on it any more.
            return None;
        }
        if p.is_multipart() {
            let i = p.pending_part(htlc)?;
            let s = &p.parts[i];
            return Some(PendingHtlc {
                part: Some(i),
                shared_secrets: s.shared_secrets.clone(),
                route: s.route.clone(),
            });
        }
        ((p.channel_id, p.htlc_id) == htlc).then(|| PendingHtlc {
            part: None,
            shared_secrets: p.shared_secrets.clone(),
            route: p.route.clone(),
        })
    }
    /// Multi-part payment `hash` stops sending parts: failed now when no
    /// part is in flight, else once the last one fails. Returns whether it
    /// was only marked (parts still pending).
    pub(super) fn abandon_parts(&mut self, hash: PaymentHash) -> bool {
        let Some(p) = self.payments.get_mut(&hash) else {
            return false;
        };
        if !p.has_pending_parts() {
            return false;
        }
        if let Some(r) = p.retry.as_mut() {
            r.abandoned = true;
            r.awaiting = false;
        }
        let bytes = p.encode();
        self.payment_retries.forget(&hash);
        // A failed write is recorded by the writer and blocks every later
        // message.
        let _ = self.writer.write_record(&payment_key(&hash), bytes);
        true
    }

    /// Every part of multi-part payment `hash` not failed counts as
    /// fulfilled: its preimage is known. Returns the fees of those parts.
    pub(super) fn parts_fulfilled(&mut self, hash: &PaymentHash) -> u64 {
        let Some(p) = self.payments.get_mut(hash) else {
            return 0;
        };
        for s in &mut p.parts {
            if s.state == PartStatus::Pending {
                s.state = PartStatus::Fulfilled;
            }
        }
        if let Some(r) = p.retry.as_mut() {
            r.abandoned = false;
        }
        p.committed_fee_msat()
    }
}

/// A pending HTLC of one of our payments ([`Node::pending_htlc`]).
pub(super) struct PendingHtlc {
    /// Its part, for a multi-part payment.
    pub part: Option<usize>,
    /// Its onion's shared secrets.
    pub shared_secrets: Vec<[u8; 32]>,
    /// Its route's node ids.
    pub route: Vec<PublicKey>,
}

impl PaymentRecord {
    /// Keeps `failure` (the last attempt's) in the record, to report it
    /// again after a restart or when the payment finally fails.
    pub(super) fn note_failure(&mut self, failure: &PaymentFailure) {
        self.failure = Some(failure.message.clone());
        self.failure_code = failure.failure_code;
        self.failing_hop = failure.failing_hop.and_then(|h| u64::try_from(h).ok());
        self.failure_message = failure
            .failure
            .clone()
            .map(|f| FailureMessage::from(f).to_bytes());
        self.failure_hold_times.clone_from(&failure.hold_times);
        self.attribution_failed_at = failure
            .attribution_failed_at
            .and_then(|i| u64::try_from(i).ok());
    }

    /// The failure kept by [`PaymentRecord::note_failure`].
    pub(super) fn last_failure(&self, attempts: u32) -> PaymentFailure {
        PaymentFailure {
            failure_code: self.failure_code,
            failure: self
                .failure_message
                .as_deref()
                .and_then(|b| FailureMessage::from_bytes(b).ok())
                .map(|m| m.reason),
            failing_hop: self.failing_hop.and_then(|h| usize::try_from(h).ok()),
            message: self.failure.clone().unwrap_or_default(),
            attempts,
            hold_times: self.failure_hold_times.clone(),
            attribution_failed_at: self
                .attribution_failed_at
                .and_then(|i| usize::try_from(i).ok()),
        }
    }
}

/// The acknowledgement of a finished payment's event: this attempt's.
pub(super) fn attempt(p: &PaymentRecord) -> Ack {
    let (channel_id, htlc_id) = p.last_htlc();
    Ack::Payment {
        hash: p.payment_hash,
        channel_id,
        htlc_id,
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

#[cfg(test)]
mod tests {
    //! Issue 14: our HTLCs are told apart by `(channel, htlc id)`. A
    //! payment retried with the same hash is failed only by the HTLC of
    //! its current attempt.
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn node() -> Node {
        crate::node::test_node(3)
    }

    /// A pending payment of `hash` whose attempt is HTLC `htlc_id` on
    /// `channel_id`.
    fn pending(hash: PaymentHash, channel_id: ChannelId, htlc_id: u64) -> PaymentRecord {
        PaymentRecord {
            payment_hash: hash,
            payee: bitcoin::secp256k1::PublicKey::from_secret_key(
                bitcoin::secp256k1::SECP256K1,
                &bitcoin::secp256k1::SecretKey::from_slice(&[9; 32]).unwrap(),
            ),
            amount_msat: 1_000,
            status: PaymentStatus::Pending,
            preimage: None,
            failure: None,
            created_at: 0,
            shared_secrets: vec![[5; 32]],
            channel_id,
            htlc_id,
            event_handled: false,
            failure_code: None,
            failing_hop: None,
            failure_message: None,
            fee_msat: 0,
            route: Vec::new(),
            retry: None,
            parts: Vec::new(),
            hold_times: Vec::new(),
            failure_hold_times: Vec::new(),
            attribution_failed_at: None,
            send_index: None,
            earlier: Vec::new(),
        }
    }

    fn malformed() -> HtlcFailReason {
        HtlcFailReason::Malformed {
            failure_code: FailureCode::INVALID_ONION_HMAC.0,
            sha256_of_onion: [0; 32],
        }
    }

    fn failed_events(node: &mut Node) -> usize {
        // The internal calls above are part of a step; it ends as every
        // public call does (its batch commits, then events may leave).
        node.finish().unwrap();
        std::iter::from_fn(|| node.poll_event())
            .filter(|e| matches!(e, Event::PaymentFailed { .. }))
            .count()
    }

    #[test]
    fn only_the_current_attempts_htlc_fails_a_payment() {
        let mut node = node();
        let hash = PaymentHash([0x11; 32]);
        let (a, b) = (ChannelId([0xa; 32]), ChannelId([0xb; 32]));
        // The retry: HTLC 1 on channel A. HTLC 0 on A was an earlier
        // attempt with the same hash; HTLC 1 on B is another channel's.
        node.payments.insert(hash, pending(hash, a, 1));

        node.payment_failed(a, 0, hash, &malformed(), None);
        node.payment_failed(b, 1, hash, &malformed(), None);
        node.fail_unsent_payment(a, 0, hash, "dropped");
        node.fail_unsent_payment(b, 1, hash, "dropped");
        assert_eq!(node.payments[&hash].status, PaymentStatus::Pending);
        assert_eq!(failed_events(&mut node), 0, "other HTLCs fail nothing");

        node.payment_failed(a, 1, hash, &malformed(), None);
        assert_eq!(node.payments[&hash].status, PaymentStatus::Failed);
        assert_eq!(failed_events(&mut node), 1);
        // Reported once: a second report of the same HTLC changes nothing.
        node.payment_failed(a, 1, hash, &malformed(), None);
        assert_eq!(failed_events(&mut node), 0);
    }

    #[test]
    fn an_unsent_current_attempt_fails_the_payment() {
        let mut node = node();
        let hash = PaymentHash([0x22; 32]);
        let a = ChannelId([0xa; 32]);
        node.payments.insert(hash, pending(hash, a, 4));
        node.fail_unsent_payment(a, 4, hash, "the peer disconnected");
        let p = &node.payments[&hash];
        assert_eq!(p.status, PaymentStatus::Failed);
        assert_eq!(p.failure.as_deref(), Some("the peer disconnected"));
        assert_eq!(failed_events(&mut node), 1);
    }
}
