//! Sending payments to a direct peer, and what comes back.

use bitcoin::hashes::{sha256, Hash};
use lightning_wire::bolt11::Bolt11Invoice;
use lightning_wire::codec::Encode;

use super::events::{
    Ack, PaymentDetails, PaymentFailure, PaymentHash, PaymentId, PaymentPreimage, PaymentStatus,
};
use super::records::{payment_key, PaymentRecord};
use super::{Event, Node, NodeError};
use crate::channel::{Channel, ChannelError, HtlcFailReason};
use crate::keys::DynChannelSigner;
use crate::onion::{
    build_payment_onion, decode_error_packet, FailureCode, FailureMessage, HopPayload, PaymentData,
    SharedSecret,
};

/// Blocks added to the payee's `min_final_cltv_expiry_delta`, for blocks
/// found while the HTLC travels.
const CLTV_SLACK: u32 = 3;

/// What we could offer in one HTLC now: our balance less the reserve the
/// peer imposed and, as funder, twice the commitment fee with one more HTLC
/// (the fee spike buffer) plus the anchors. An estimate; the channel's own
/// check decides.
pub(crate) fn outbound_capacity_msat(ch: &Channel<DynChannelSigner>) -> u64 {
    let st = ch.state();
    let reserve_msat = st
        .remote_params
        .channel_reserve_satoshis
        .saturating_mul(1000);
    let mut spendable = ch.local_balance_msat().saturating_sub(reserve_msat);
    if st.is_funder {
        let (_, _, feerate) = st.log.settled();
        let htlcs = st.log.updates().len();
        let fee_sat = st
            .channel_type
            .commitment_fee_satoshis(feerate.saturating_mul(2), htlcs + 2);
        let anchors_sat = if st.channel_type.anchors { 660 } else { 0 };
        spendable = spendable.saturating_sub((fee_sat + anchors_sat).saturating_mul(1000));
    }
    spendable
}

impl Node {
    /// Pays a BOLT 11 invoice given as a string (see [`Node::pay_invoice`]).
    pub fn pay_invoice_str(
        &mut self,
        invoice: &str,
        now: std::time::Duration,
    ) -> Result<PaymentId, NodeError> {
        let invoice: Bolt11Invoice = invoice
            .parse()
            .map_err(|e| NodeError::Invoice(format!("{e}")))?;
        self.pay_invoice(&invoice, now)
    }

    /// Pays `invoice` over a channel to its payee, who must be a direct
    /// peer: one HTLC with a one-hop onion. Refused when the invoice is for
    /// another chain, has expired, has no amount, asks for a
    /// `min_final_cltv_expiry_delta` above
    /// [`NodeConfig::max_final_cltv_expiry_delta`](super::NodeConfig::max_final_cltv_expiry_delta),
    /// is already being paid, or no usable channel to the payee has enough
    /// outbound capacity.
    /// [`Event::PaymentSent`] or [`Event::PaymentFailed`] follows.
    pub fn pay_invoice(
        &mut self,
        invoice: &Bolt11Invoice,
        now: std::time::Duration,
    ) -> Result<PaymentId, NodeError> {
        self.now = now;
        if invoice.currency().network() != Some(self.config.network) {
            return Err(NodeError::Invoice(
                "the invoice is for another chain".into(),
            ));
        }
        if invoice.is_expired(now.as_secs()) {
            return Err(NodeError::Invoice("the invoice has expired".into()));
        }
        let amount_msat = invoice
            .amount_msat()
            .ok_or_else(|| NodeError::Invoice("the invoice has no amount".into()))?;
        let delta = invoice.min_final_cltv_expiry_delta();
        let max = self.config.max_final_cltv_expiry_delta;
        if delta > u64::from(max) {
            return Err(NodeError::FinalCltvExpiryDeltaTooLarge { delta, max });
        }
        let delta = u32::try_from(delta).unwrap_or(u32::MAX);
        let payment_hash = PaymentHash(*invoice.payment_hash().as_ref());
        if let Some(p) = self.payments.get(&payment_hash) {
            if p.status != PaymentStatus::Failed {
                return Err(NodeError::DuplicatePayment(payment_hash));
            }
        }
        let payee = *invoice.payee();
        let channel_id = self
            .channels
            .iter()
            .filter(|(_, e)| e.counterparty == payee && e.channel.is_usable())
            .map(|(id, e)| (*id, outbound_capacity_msat(&e.channel)))
            .filter(|(_, cap)| *cap >= amount_msat)
            .max_by_key(|(_, cap)| *cap)
            .map(|(id, _)| id)
            .ok_or(NodeError::NoRoute { payee, amount_msat })?;

        let cltv_expiry = self
            .best_height()
            .saturating_add(delta)
            .saturating_add(CLTV_SLACK);
        let payload = HopPayload {
            amt_to_forward: Some(amount_msat),
            outgoing_cltv_value: Some(cltv_expiry),
            payment_data: Some(PaymentData {
                payment_secret: invoice.payment_secret().0,
                total_msat: amount_msat,
            }),
            payment_metadata: invoice.payment_metadata().map(<[u8]>::to_vec),
            ..HopPayload::default()
        };
        let session_key = self.fresh_secret();
        let (onion, secrets) =
            build_payment_onion(&session_key, &[(payee, payload)], &payment_hash.0)
                .map_err(|e| NodeError::Invoice(format!("building the onion: {e}")))?;
        let mut packet = Vec::new();
        onion.encode(&mut packet);

        let entry = self
            .channels
            .get_mut(&channel_id)
            .ok_or(NodeError::UnknownChannel(channel_id))?;
        let (htlc_id, out) = entry
            .channel
            .send_htlc(amount_msat, payment_hash.0, cltv_expiry, packet)
            .map_err(|e| match e {
                ChannelError::CannotOffer(_) => NodeError::NoRoute { payee, amount_msat },
                other => NodeError::Channel(other),
            })?;
        let record = PaymentRecord {
            payment_hash,
            payee,
            amount_msat,
            status: PaymentStatus::Pending,
            preimage: None,
            failure: None,
            created_at: now.as_secs(),
            shared_secrets: secrets.iter().map(|s| *s.as_bytes()).collect(),
            channel_id,
            htlc_id,
            event_handled: false,
            failure_code: None,
            failing_hop: None,
            failure_message: None,
        };
        // The payment record goes first: the HTLC leaves only after both.
        self.writer
            .write_record(&payment_key(&payment_hash), record.encode())?;
        self.payments.insert(payment_hash, record);
        self.apply(channel_id, out);
        self.to_commit.insert(channel_id);
        self.flush_commits();
        self.flush_outbox();
        self.persist_error()?;
        Ok(PaymentId(payment_hash.0))
    }

    fn save_payment(&mut self, hash: PaymentHash) {
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

    /// Every payment we sent, oldest first.
    pub fn list_payments(&self) -> Vec<PaymentDetails> {
        let mut v: Vec<PaymentDetails> = self
            .payments
            .values()
            .map(|p| PaymentDetails {
                payment_hash: p.payment_hash,
                payee: p.payee,
                amount_msat: p.amount_msat,
                status: p.status,
                preimage: p.preimage,
                failure: p.failure.clone(),
                created_at: p.created_at,
            })
            .collect();
        v.sort_by_key(|p| p.created_at);
        v
    }

    /// One payment.
    pub fn payment(&self, id: &PaymentId) -> Option<PaymentDetails> {
        self.list_payments()
            .into_iter()
            .find(|p| p.payment_hash.0 == id.0)
    }
}

/// The acknowledgement of a finished payment's event: this attempt's.
fn attempt(p: &PaymentRecord) -> Ack {
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
