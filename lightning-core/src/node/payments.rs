//! Sending payments to a direct peer (what comes back is
//! [`outcomes`](super::outcomes)'s), and the list of them.

use lightning_wire::bolt11::Bolt11Invoice;
use lightning_wire::codec::Encode;

use super::events::{PaymentDetails, PaymentId, PaymentStatus};
use super::records::{payment_key, PaymentRecord};
use super::{Node, NodeError};
use crate::amount::Msat;
use crate::channel::{Channel, ChannelError};
use crate::keys::InMemorySigner;
use crate::onion::{build_payment_onion, HopPayload, PaymentData};

/// Blocks added to the payee's `min_final_cltv_expiry_delta`, for blocks
/// found while the HTLC travels.
const CLTV_SLACK: u32 = 3;

/// What we could offer in one HTLC now: our balance less the reserve the
/// peer imposed and, as funder, twice the commitment fee with one more HTLC
/// (the fee spike buffer) plus the anchors. An estimate; the channel's own
/// check decides.
pub(crate) fn outbound_capacity_msat(ch: &Channel<InMemorySigner>) -> u64 {
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
    /// [`Event::PaymentSent`](super::Event::PaymentSent) or [`Event::PaymentFailed`](super::Event::PaymentFailed) follows.
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
        let payment_hash = *invoice.payment_hash();
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
            build_payment_onion(&session_key, &[(payee, payload)], &payment_hash)
                .map_err(|e| NodeError::Invoice(format!("building the onion: {e}")))?;
        let mut packet = Vec::new();
        onion.encode(&mut packet);

        let entry = self
            .channels
            .get_mut(&channel_id)
            .ok_or(NodeError::UnknownChannel(channel_id))?;
        let (htlc_id, out) = entry
            .channel
            .send_htlc(amount_msat, payment_hash, cltv_expiry, packet)
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
        self.finish()?;
        Ok(PaymentId(payment_hash.0))
    }

    /// Every payment we sent, oldest first.
    pub fn list_payments(&self) -> Vec<PaymentDetails> {
        let mut v: Vec<PaymentDetails> = self
            .payments
            .values()
            .map(|p| PaymentDetails {
                payment_hash: p.payment_hash,
                payee: p.payee,
                amount_msat: Msat(p.amount_msat),
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
