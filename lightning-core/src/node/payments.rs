//! Sending payments over a route ([`Route`]): a caller's
//! (`pay_invoice_with_route`, `send_to_route`, keysend), or one attempt of
//! an invoice payment the node routes and retries itself
//! ([`retry`](super::retry), `pay_invoice`); what comes back is
//! [`outcomes`](super::outcomes)'s. And the list of payments.

use lightning_wire::bolt11::Bolt11Invoice;
use lightning_wire::codec::Encode;

use bitcoin::hashes::{sha256, Hash};
use lightning_wire::types::ChannelId;

use super::events::{
    PartStatus, PaymentDetails, PaymentHash, PaymentId, PaymentPart, PaymentPreimage, PaymentStatus,
};
use super::records::{payment_key, PaymentRecord, RetryState};
use super::route::{route_payloads, RecipientOnion, Route};
use super::router_path::CLTV_SLACK;
use super::{Node, NodeError};
use crate::amount::Msat;
use crate::channel::update_log::{Side, Which};
use crate::channel::{Channel, ChannelError, ChannelOutput};
use crate::keys::DynChannelSigner;
use crate::onion::build_payment_onion;

/// An HTLC of ours added to a channel and not yet released
/// ([`Node::offer_htlc`]).
pub(super) struct Offered {
    pub payee: bitcoin::secp256k1::PublicKey,
    pub channel_id: ChannelId,
    pub htlc_id: u64,
    /// The onion's shared secrets, first hop first.
    pub shared_secrets: Vec<[u8; 32]>,
    /// What the HTLC carries beyond the payee's amount.
    pub fee_msat: u64,
    /// The channel's output for the offer.
    pub out: ChannelOutput,
}

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
    // HTLCs we offered that our latest commitment does not hold yet are
    // already in the peer's next one, where an offer is checked.
    let next = st
        .log
        .view(Side::Remote, Which::Next)
        .balance_msat(Side::Local);
    let mut spendable = ch
        .local_balance_msat()
        .min(next)
        .saturating_sub(reserve_msat);
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
    /// The usable channel to `payee` with the most outbound capacity, if
    /// that is at least `amount_msat`: a payment to a direct peer needs no
    /// router.
    pub(super) fn direct_channel(
        &self,
        payee: &bitcoin::secp256k1::PublicKey,
        amount_msat: u64,
    ) -> Option<ChannelId> {
        self.channels
            .iter()
            .filter(|(_, e)| e.counterparty == *payee && e.channel.is_usable())
            .map(|(id, e)| (*id, outbound_capacity_msat(&e.channel)))
            .filter(|(_, cap)| *cap >= amount_msat)
            .max_by_key(|(_, cap)| *cap)
            .map(|(id, _)| id)
    }
}

impl Node {
    /// Pays `invoice` over `route` (its last hop must be the invoice's
    /// payee): the same checks as [`Node::pay_invoice`], then an onion for
    /// every hop (BOLT 4), the first HTLC carrying the route's fees and
    /// CLTV deltas. A failure is decoded to the hop that returned it
    /// ([`PaymentFailure::failing_hop`](super::PaymentFailure::failing_hop),
    /// 0 = the first hop).
    pub fn pay_invoice_with_route(
        &mut self,
        invoice: &Bolt11Invoice,
        route: &Route,
        now: std::time::Duration,
    ) -> Result<PaymentId, NodeError> {
        self.now = now;
        let (amount_msat, delta) = self.check_invoice(invoice, None, now)?;
        if route.payee() != Some(*invoice.payee()) {
            return Err(NodeError::Invoice(
                "the route does not end at the invoice's payee".into(),
            ));
        }
        let recipient = recipient_of(invoice, amount_msat, delta);
        self.send_over_route(route, *invoice.payment_hash(), &recipient, None)
    }

    /// Sends a payment of `payment_hash` over `route` with the final
    /// payload `recipient` (an invoice's secret and metadata, or a keysend
    /// preimage and custom records). [`Event::PaymentSent`](super::Event::PaymentSent)
    /// or [`Event::PaymentFailed`](super::Event::PaymentFailed) follows.
    pub fn send_to_route(
        &mut self,
        route: &Route,
        payment_hash: PaymentHash,
        recipient: &RecipientOnion,
        now: std::time::Duration,
    ) -> Result<PaymentId, NodeError> {
        self.now = now;
        let max = self.config.max_final_cltv_expiry_delta;
        let delta = recipient.final_cltv_expiry_delta;
        if delta > max {
            return Err(NodeError::FinalCltvExpiryDeltaTooLarge {
                delta: u64::from(delta),
                max,
            });
        }
        self.send_over_route(route, payment_hash, recipient, None)
    }

    /// Keysend (spontaneous payment, bLIP 3): pays `amount_msat` to
    /// `route`'s last node with a fresh preimage in onion TLV 5482373484
    /// and `custom_records`; the payee must accept keysend. Returns the
    /// payment hash (the preimage comes back in
    /// [`Event::PaymentSent`](super::Event::PaymentSent)). One HTLC over
    /// the caller's route, never retried nor split; [`Node::keysend_to`]
    /// routes, retries and splits a keysend itself.
    pub fn send_keysend(
        &mut self,
        route: &Route,
        amount_msat: u64,
        custom_records: Vec<(u64, Vec<u8>)>,
        now: std::time::Duration,
    ) -> Result<PaymentId, NodeError> {
        let preimage = PaymentPreimage(self.fresh_secret().secret_bytes());
        let hash = PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array());
        let recipient = RecipientOnion {
            amount_msat,
            final_cltv_expiry_delta: u32::from(self.config.keysend_final_cltv_expiry_delta),
            keysend_preimage: Some(preimage),
            custom_records,
            ..RecipientOnion::default()
        };
        self.send_to_route(route, hash, &recipient, now)
    }

    /// The checks every invoice payment makes: chain, expiry, amount, the
    /// payee's CLTV delta against our cap.
    pub(super) fn check_invoice(
        &self,
        invoice: &Bolt11Invoice,
        amount: Option<Msat>,
        now: std::time::Duration,
    ) -> Result<(u64, u32), NodeError> {
        if invoice.currency().network() != Some(self.config.network) {
            return Err(NodeError::Invoice(
                "the invoice is for another chain".into(),
            ));
        }
        if invoice.is_expired(now.as_secs()) {
            return Err(NodeError::Invoice("the invoice has expired".into()));
        }
        let amount_msat = invoice_amount(invoice, amount)?;
        let delta = invoice.min_final_cltv_expiry_delta();
        let max = self.config.max_final_cltv_expiry_delta;
        if delta > u64::from(max) {
            return Err(NodeError::FinalCltvExpiryDeltaTooLarge { delta, max });
        }
        Ok((amount_msat, u32::try_from(delta).unwrap_or(u32::MAX)))
    }

    /// Offers the first HTLC of a payment over `route` and ends the step
    /// ([`Node::start_attempt`]).
    fn send_over_route(
        &mut self,
        route: &Route,
        payment_hash: PaymentHash,
        recipient: &RecipientOnion,
        first_channel: Option<ChannelId>,
    ) -> Result<PaymentId, NodeError> {
        self.start_attempt(route, payment_hash, recipient, first_channel, None)?;
        self.finish()?;
        Ok(PaymentId(payment_hash.0))
    }

    /// Offers the HTLC of an attempt of payment `payment_hash` over `route`
    /// (over `first_channel` when given, else the channel to the first hop
    /// its `short_channel_id` names, else the usable one to that peer with
    /// the most outbound capacity), the payment record written first.
    /// `routed`: a payment the node retries itself, with the time of its
    /// first attempt and its retry state for this attempt; a retry
    /// (`attempts` above 1) continues a pending payment awaiting it, any
    /// other attempt starts a payment not already pending.
    pub(super) fn start_attempt(
        &mut self,
        route: &Route,
        payment_hash: PaymentHash,
        recipient: &RecipientOnion,
        first_channel: Option<ChannelId>,
        routed: Option<(u64, RetryState)>,
    ) -> Result<(), NodeError> {
        let is_retry = routed.as_ref().is_some_and(|(_, r)| r.attempts > 1);
        if let Some(p) = self.payments.get(&payment_hash) {
            let awaiting =
                p.status == PaymentStatus::Pending && p.retry.as_ref().is_some_and(|r| r.awaiting);
            let allowed = if is_retry {
                awaiting
            } else {
                p.status == PaymentStatus::Failed
            };
            if !allowed {
                return Err(NodeError::DuplicatePayment(payment_hash));
            }
        } else if is_retry {
            return Err(NodeError::Route("no payment to retry".into()));
        }
        let now = self.now;
        let (created_at, retry) = match routed {
            Some((at, r)) => (at, Some(r)),
            None => (now.as_secs(), None),
        };
        let offer = self.offer_htlc(route, payment_hash, recipient, first_channel)?;
        let record = PaymentRecord {
            payment_hash,
            payee: offer.payee,
            amount_msat: recipient.amount_msat,
            status: PaymentStatus::Pending,
            preimage: None,
            failure: None,
            created_at,
            shared_secrets: offer.shared_secrets,
            channel_id: offer.channel_id,
            htlc_id: offer.htlc_id,
            event_handled: false,
            failure_code: None,
            failing_hop: None,
            failure_message: None,
            fee_msat: offer.fee_msat,
            route: route.hops.iter().map(|h| h.node_id).collect(),
            retry,
            parts: Vec::new(),
            hold_times: Vec::new(),
            failure_hold_times: Vec::new(),
            attribution_failed_at: None,
        };
        // The payment record goes first: the HTLC leaves only after both.
        self.writer
            .write_record(&payment_key(&payment_hash), record.encode())?;
        self.payments.insert(payment_hash, record);
        self.release_offer(offer.channel_id, offer.out);
        Ok(())
    }

    /// Adds the HTLC of one attempt or part of payment `payment_hash` over
    /// `route` to a channel (over `first_channel` when given, else the
    /// channel to the first hop its `short_channel_id` names, else the
    /// usable one to that peer with the most outbound capacity). Nothing
    /// leaves yet: the caller writes the payment record, then passes
    /// [`Offered::out`] to [`Node::release_offer`].
    pub(super) fn offer_htlc(
        &mut self,
        route: &Route,
        payment_hash: PaymentHash,
        recipient: &RecipientOnion,
        first_channel: Option<ChannelId>,
    ) -> Result<Offered, NodeError> {
        let payee = route
            .payee()
            .ok_or_else(|| NodeError::Route("the route is empty".into()))?;
        let final_cltv = self
            .best_height()
            .saturating_add(recipient.final_cltv_expiry_delta)
            .saturating_add(CLTV_SLACK);
        let payloads = route_payloads(route, recipient, final_cltv).map_err(NodeError::Route)?;
        let first_amount = payloads.first_amount_msat;
        let first = route.hops[0];
        let channel_id = match first_channel {
            Some(id) => id,
            None => {
                let usable: Vec<(ChannelId, u64, bool)> = self
                    .channels
                    .iter()
                    .filter(|(_, e)| e.counterparty == first.node_id && e.channel.is_usable())
                    .map(|(id, e)| {
                        let st = e.channel.state();
                        let named = [st.short_channel_id, st.remote_alias, st.local_alias]
                            .contains(&Some(first.short_channel_id));
                        (*id, outbound_capacity_msat(&e.channel), named)
                    })
                    .filter(|(_, cap, _)| *cap >= first_amount)
                    .collect();
                usable
                    .iter()
                    .find(|(_, _, named)| *named)
                    .or_else(|| usable.iter().max_by_key(|(_, cap, _)| *cap))
                    .map(|(id, _, _)| *id)
                    .ok_or(NodeError::NoRoute {
                        payee,
                        amount_msat: first_amount,
                    })?
            }
        };
        let session_key = self.fresh_secret();
        let (onion, secrets) = build_payment_onion(&session_key, &payloads.hops, &payment_hash)
            .map_err(|e| NodeError::Route(format!("building the onion: {e}")))?;
        let mut packet = Vec::new();
        onion.encode(&mut packet);

        let entry = self
            .channels
            .get_mut(&channel_id)
            .ok_or(NodeError::UnknownChannel(channel_id))?;
        let (htlc_id, out) = entry
            .channel
            .send_htlc(
                first_amount,
                payment_hash,
                payloads.first_cltv_expiry,
                packet,
            )
            .map_err(|e| match e {
                ChannelError::CannotOffer(_) => NodeError::NoRoute {
                    payee,
                    amount_msat: first_amount,
                },
                other => NodeError::Channel(other),
            })?;
        Ok(Offered {
            payee,
            channel_id,
            htlc_id,
            shared_secrets: secrets.iter().map(|s| *s.as_bytes()).collect(),
            fee_msat: first_amount.saturating_sub(recipient.amount_msat),
            out,
        })
    }

    /// Lets an offered HTLC leave, once the payment record naming it is
    /// written (the writer orders the record before the channel's).
    pub(super) fn release_offer(&mut self, channel_id: ChannelId, out: ChannelOutput) {
        self.apply(channel_id, out);
        self.to_commit.insert(channel_id);
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
                fee_msat: Msat(fees_of(p)),
                status: p.status,
                preimage: p.preimage,
                failure: p.failure.clone(),
                created_at: p.created_at,
                attempts: p.retry.as_ref().map_or(1, |r| r.attempts),
                parts: p
                    .parts
                    .iter()
                    .map(|s| PaymentPart {
                        channel_id: s.channel_id,
                        htlc_id: s.htlc_id,
                        amount_msat: Msat(s.amount_msat),
                        fee_msat: Msat(s.fee_msat),
                        status: s.state,
                        route: s.route.clone(),
                        hold_times: s.hold_times.clone(),
                    })
                    .collect(),
                hold_times: p.hold_times.clone(),
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

/// [`PaymentDetails::fee_msat`] of `p`: the fees of what paid or is in
/// flight.
fn fees_of(p: &PaymentRecord) -> u64 {
    if p.status == PaymentStatus::Failed {
        return 0;
    }
    if p.parts.is_empty() {
        return p.fee_msat;
    }
    let counted = |s: PartStatus| match p.status {
        PaymentStatus::Succeeded => s == PartStatus::Fulfilled,
        _ => s != PartStatus::Failed,
    };
    p.parts
        .iter()
        .filter(|s| counted(s.state))
        .fold(0u64, |a, s| a.saturating_add(s.fee_msat))
}

/// What paying `invoice` sends the payee: its amount, or for an invoice
/// without one (BOLT 11: "the payer ... chooses the amount") the payer's
/// `amount`. Refused: no amount at all, a zero amount, or the payer's
/// amount for an invoice that names another.
pub(super) fn invoice_amount(
    invoice: &Bolt11Invoice,
    amount: Option<Msat>,
) -> Result<u64, NodeError> {
    match (invoice.amount_msat(), amount) {
        (Some(a), None) => Ok(a),
        (Some(a), Some(m)) if m.0 == a => Ok(a),
        (Some(a), Some(m)) => Err(NodeError::Invoice(format!(
            "the invoice is for {a} msat, not {} msat",
            m.0
        ))),
        (None, Some(m)) if m.0 > 0 => Ok(m.0),
        (None, Some(_)) => Err(NodeError::Invoice("a payment of 0 msat".into())),
        (None, None) => Err(NodeError::Invoice(
            "the invoice has no amount: give one (PayOptions::amount_msat)".into(),
        )),
    }
}

/// The final payload an invoice asks for: its secret (one part: the total
/// is the amount), metadata and CLTV delta.
pub(super) fn recipient_of(
    invoice: &Bolt11Invoice,
    amount_msat: u64,
    delta: u32,
) -> RecipientOnion {
    RecipientOnion {
        amount_msat,
        payment_secret: Some(invoice.payment_secret().0),
        payment_metadata: invoice.payment_metadata().map(<[u8]>::to_vec),
        final_cltv_expiry_delta: delta,
        ..RecipientOnion::default()
    }
}
