//! Sending payments over a route ([`Route`]): a caller's
//! (`pay_invoice_with_route`, `send_to_route`, keysend), or one attempt of
//! an invoice payment the node routes and retries itself
//! ([`retry`](super::retry), `pay_invoice`); what comes back is
//! [`outcomes`](super::outcomes)'s. And the list of payments, with every
//! HTLC each sent: each HTLC takes an index as it is sent ([`SendIndex`]:
//! the node's next `created_index`, its `partid` in the payment), written
//! with the record naming it before it leaves, with the counter
//! (`meta/send_index`); a new attempt keeps the HTLCs of the record it
//! replaces as earlier ones, bounded ([`kept_earlier`]).

use lightning_wire::bolt11::Bolt11Invoice;
use lightning_wire::codec::Encode;

use bitcoin::hashes::{sha256, Hash};
use lightning_wire::types::ChannelId;

use super::events::{
    PartStatus, PaymentDetails, PaymentHash, PaymentId, PaymentPart, PaymentPreimage, PaymentStatus,
};
use super::records::{payment_key, PaymentRecord, RetryState, SEND_INDEX_KEY};
use super::route::{route_payloads, RecipientOnion, Route};
use super::router_path::CLTV_SLACK;
use super::sent_parts::{kept_earlier, SendCounter, SendIndex, SentPart};
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
        // The record replaced (the failed attempt before this one, or a
        // failed payment of the same hash) stays listed: its HTLCs become
        // earlier ones, and this one takes the next partid and index.
        let (earlier, partid) = self.carried_sends(&payment_hash);
        let send_index = self.take_send_index(partid);
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
            send_index: Some(send_index),
            earlier,
        };
        // The payment record goes first, then the index counter (a crash
        // between the two loses nothing: a restore continues from the
        // highest index a record holds): the HTLC leaves only after both.
        self.writer
            .write_record(&payment_key(&payment_hash), record.encode())?;
        self.write_send_counter()?;
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
                parts: p.parts.iter().map(public_part).collect(),
                htlcs: p.sent_htlcs().iter().map(public_part).collect(),
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

impl PaymentRecord {
    /// The current attempt of a payment made one HTLC at a time, as a
    /// part (`None` once it has parts). Its state: the payment's, failed
    /// while the payment awaits its next attempt.
    fn single_attempt(&self) -> Option<SentPart> {
        if !self.parts.is_empty() {
            return None;
        }
        let awaiting = self.retry.as_ref().is_some_and(|r| r.awaiting);
        let state = match self.status {
            PaymentStatus::Pending if awaiting => PartStatus::Failed,
            PaymentStatus::Pending => PartStatus::Pending,
            PaymentStatus::Succeeded => PartStatus::Fulfilled,
            PaymentStatus::Failed => PartStatus::Failed,
        };
        Some(SentPart {
            channel_id: self.channel_id,
            htlc_id: self.htlc_id,
            amount_msat: self.amount_msat,
            fee_msat: self.fee_msat,
            state,
            shared_secrets: self.shared_secrets.clone(),
            route: self.route.clone(),
            path: self
                .retry
                .as_ref()
                .map(|r| r.path.clone())
                .unwrap_or_default(),
            hold_times: self.hold_times.clone(),
            index: self.send_index,
        })
    }

    /// Every HTLC sent for the payment that the record keeps, oldest
    /// first: the earlier ones, then every part or the current attempt.
    pub(crate) fn sent_htlcs(&self) -> Vec<SentPart> {
        let mut all = self.earlier.clone();
        all.extend(self.parts.iter().cloned());
        all.extend(self.single_attempt());
        all
    }

    /// The `partid` of the payment's next HTLC: one above the highest
    /// given, 0 for the first. A part takes at least 1 (Core Lightning's
    /// partid 0 is a payment not split).
    pub(crate) fn next_partid(&self) -> u64 {
        self.sent_htlcs()
            .iter()
            .filter_map(|s| s.index)
            .map(|i| i.partid.saturating_add(1))
            .max()
            .unwrap_or(0)
    }

    /// The current HTLCs (the attempt, or every part) become earlier ones,
    /// failed, without their onion secrets and path; the newest `kept` of
    /// the earlier ones stay. Called when a new attempt replaces a failed
    /// one, or a new payment of the same hash a failed one.
    pub(crate) fn retire_current(&mut self, kept: usize) {
        let current: Vec<SentPart> = match self.single_attempt() {
            Some(s) => vec![s],
            None => std::mem::take(&mut self.parts),
        };
        self.send_index = None;
        for mut s in current {
            if s.state != PartStatus::Fulfilled {
                s.state = PartStatus::Failed;
            }
            s.shared_secrets = Vec::new();
            s.path = Vec::new();
            self.earlier.push(s);
        }
        let over = self.earlier.len().saturating_sub(kept);
        self.earlier.drain(..over);
    }

    /// Numbers the HTLCs of a record written before indexes, oldest first
    /// (parts from 1, as they were listed; a single attempt 0).
    fn number_unindexed(&mut self, counter: &mut SendCounter) {
        for s in &mut self.earlier {
            if s.index.is_none() {
                s.index = Some(SendIndex {
                    created_index: counter.take(),
                    partid: 0,
                });
            }
        }
        for (i, s) in self.parts.iter_mut().enumerate() {
            if s.index.is_none() {
                s.index = Some(SendIndex {
                    created_index: counter.take(),
                    partid: u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1),
                });
            }
        }
        if self.parts.is_empty() && self.send_index.is_none() {
            let partid = self.next_partid();
            self.send_index = Some(SendIndex {
                created_index: counter.take(),
                partid,
            });
        }
    }
}

impl Node {
    /// A new HTLC's index: `created_index` from the node's counter and
    /// `partid` (see [`SendIndex`]). The caller writes the counter
    /// ([`Node::write_send_counter`]) with the record naming the HTLC.
    pub(super) fn take_send_index(&mut self, partid: u64) -> SendIndex {
        SendIndex {
            created_index: self.payment_retries.sends.take(),
            partid,
        }
    }

    /// Writes the last `created_index` given, in this step's batch, with
    /// the payment record naming the HTLC: before the HTLC can leave.
    pub(super) fn write_send_counter(&mut self) -> Result<(), NodeError> {
        let last = self.payment_retries.sends.last();
        self.writer
            .write_record(SEND_INDEX_KEY, last.to_be_bytes().to_vec())
    }

    /// How many earlier HTLCs a payment record keeps ([`kept_earlier`]).
    pub(super) fn kept_earlier(&self) -> usize {
        kept_earlier(self.config.payment_retry_attempts)
    }

    /// What a new record of payment `hash` keeps of the record it replaces
    /// (the next attempt of a payment made one HTLC at a time, or a new
    /// payment of a failed one's hash): its HTLCs, as earlier ones
    /// ([`PaymentRecord::retire_current`]); and the `partid` the new
    /// record's first HTLC takes.
    pub(super) fn carried_sends(&self, hash: &PaymentHash) -> (Vec<SentPart>, u64) {
        let Some(p) = self.payments.get(hash) else {
            return (Vec::new(), 0);
        };
        let partid = p.next_partid();
        let mut old = p.clone();
        old.retire_current(self.kept_earlier());
        (old.earlier, partid)
    }

    /// Restore: the counter continues from `stored` (the key
    /// [`SEND_INDEX_KEY`](super::records::SEND_INDEX_KEY)) or the highest index a record holds, whichever
    /// is greater; the HTLCs of records written before indexes are
    /// numbered now, oldest payment first, and those records written back
    /// with the counter, so that their numbers never change again.
    pub(super) fn restore_send_indexes(&mut self, stored: u64) -> Result<(), NodeError> {
        let highest = self
            .payments
            .values()
            .flat_map(PaymentRecord::sent_htlcs)
            .filter_map(|s| s.index)
            .map(|i| i.created_index)
            .max()
            .unwrap_or(0);
        self.payment_retries.sends.seen(stored.max(highest));
        let mut unnumbered: Vec<(u64, PaymentHash)> = self
            .payments
            .values()
            .filter(|p| p.sent_htlcs().iter().any(|s| s.index.is_none()))
            .map(|p| (p.created_at, p.payment_hash))
            .collect();
        if unnumbered.is_empty() {
            return Ok(());
        }
        unnumbered.sort();
        for (_, hash) in unnumbered {
            let Some(p) = self.payments.get_mut(&hash) else {
                continue;
            };
            p.number_unindexed(&mut self.payment_retries.sends);
            let bytes = p.encode();
            self.writer.write_record(&payment_key(&hash), bytes)?;
        }
        self.write_send_counter()
    }
}

/// An HTLC we sent, as [`Node::list_payments`] gives it.
fn public_part(s: &SentPart) -> PaymentPart {
    PaymentPart {
        channel_id: s.channel_id,
        htlc_id: s.htlc_id,
        amount_msat: Msat(s.amount_msat),
        fee_msat: Msat(s.fee_msat),
        status: s.state,
        route: s.route.clone(),
        hold_times: s.hold_times.clone(),
        created_index: s.index.map_or(0, |i| i.created_index),
        partid: s.index.map_or(0, |i| i.partid),
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

#[cfg(test)]
mod tests {
    //! Issue 20: the index of every HTLC we send, and the earlier HTLCs a
    //! payment record keeps.
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bitcoin::secp256k1::PublicKey;

    fn part(i: u8, state: PartStatus) -> SentPart {
        SentPart {
            channel_id: ChannelId([i; 32]),
            htlc_id: u64::from(i) + 40,
            amount_msat: 1_000 * u64::from(i),
            fee_msat: u64::from(i),
            state,
            shared_secrets: vec![[i; 32]],
            route: Vec::new(),
            path: Vec::new(),
            hold_times: Vec::new(),
            index: Some(SendIndex {
                created_index: u64::from(i) + 100,
                partid: u64::from(i),
            }),
        }
    }

    fn record(parts: Vec<SentPart>, send_index: Option<SendIndex>) -> PaymentRecord {
        let key = bitcoin::secp256k1::SecretKey::from_slice(&[9; 32]).unwrap();
        PaymentRecord {
            payment_hash: PaymentHash([7; 32]),
            payee: PublicKey::from_secret_key(bitcoin::secp256k1::SECP256K1, &key),
            amount_msat: 5_000,
            status: PaymentStatus::Failed,
            preimage: None,
            failure: None,
            created_at: 10,
            shared_secrets: vec![[1; 32]],
            channel_id: ChannelId([3; 32]),
            htlc_id: 4,
            event_handled: false,
            failure_code: None,
            failing_hop: None,
            failure_message: None,
            fee_msat: 6,
            route: Vec::new(),
            retry: None,
            parts,
            hold_times: Vec::new(),
            failure_hold_times: Vec::new(),
            attribution_failed_at: None,
            send_index,
            earlier: Vec::new(),
        }
    }

    #[test]
    fn retired_attempts_are_kept_failed_and_bounded() {
        let index = |created_index, partid| {
            Some(SendIndex {
                created_index,
                partid,
            })
        };
        let mut r = record(Vec::new(), index(1, 0));
        assert_eq!(r.next_partid(), 1);
        // Ten attempts, each retired for the next: the newest three stay,
        // failed, without their onion secrets; the current one last.
        for i in 2..=10u64 {
            r.retire_current(3);
            r.htlc_id = i;
            r.send_index = index(i, i - 1);
        }
        let sent = r.sent_htlcs();
        let listed: Vec<(u64, u64, u64)> = sent
            .iter()
            .map(|s| {
                (
                    s.htlc_id,
                    s.index.unwrap().created_index,
                    s.index.unwrap().partid,
                )
            })
            .collect();
        assert_eq!(listed, [(7, 7, 6), (8, 8, 7), (9, 9, 8), (10, 10, 9)]);
        assert!(r.earlier.iter().all(|s| s.state == PartStatus::Failed
            && s.shared_secrets.is_empty()
            && s.amount_msat == 5_000
            && s.fee_msat == 6));
        assert_eq!(r.next_partid(), 10);
        // The record with its earlier HTLCs round-trips (types 63, 65).
        let bytes = r.encode();
        assert_eq!(PaymentRecord::decode(&bytes).unwrap(), r);
        // A split payment's parts are retired the same way.
        let mut split = record(
            vec![part(1, PartStatus::Failed), part(2, PartStatus::Failed)],
            None,
        );
        assert_eq!(split.next_partid(), 3);
        split.retire_current(kept_earlier(4));
        assert!(split.parts.is_empty() && split.earlier.len() == 2);
        assert_eq!(kept_earlier(0), 1);
        assert_eq!(kept_earlier(u32::MAX), 32);
    }

    /// A node over `store`, restored from what it holds.
    fn node_over(store: &std::sync::Arc<lightning_persist::MemoryStore>) -> Node {
        #[derive(Debug)]
        struct NoBroadcast;
        impl lightning_chain::Broadcaster for NoBroadcast {
            fn broadcast_transactions(&self, _: &[&bitcoin::Transaction]) {}
        }
        let network = bitcoin::Network::Regtest;
        let host = super::super::NodeHost {
            broadcaster: std::sync::Arc::new(NoBroadcast),
            fee_estimator: std::sync::Arc::new(lightning_chain::FixedFeeEstimator::new(
                lightning_chain::FeeRate::from_sat_per_kw(1000),
            )),
        };
        super::super::NodeBuilder::from_config(super::super::NodeConfig::new(network))
            .seed(&[4; 32])
            .persistence(super::super::Persistence::Inline(store.clone()))
            .host(host)
            .best_block(lightning_chain::BestBlock::genesis(network))
            .build()
            .unwrap()
    }

    #[test]
    fn records_before_indexes_are_numbered_once_when_restored() {
        use lightning_persist::KvStore;
        let store = std::sync::Arc::new(lightning_persist::MemoryStore::new());
        drop(node_over(&store));
        // Two records of the previous version (no types 17, 63, 65): a
        // split payment made first, then one of a single HTLC.
        let mut unindexed = [part(1, PartStatus::Failed), part(2, PartStatus::Fulfilled)];
        for p in &mut unindexed {
            p.index = None;
        }
        let mut split = record(unindexed.to_vec(), None);
        split.payment_hash = PaymentHash([1; 32]);
        split.created_at = 3;
        let mut single = record(Vec::new(), None);
        single.created_at = 5;
        for r in [&split, &single] {
            store
                .write(
                    super::super::NAMESPACE,
                    &payment_key(&r.payment_hash),
                    1,
                    &r.encode(),
                )
                .unwrap();
        }
        let indexes = |node: &Node| -> Vec<(u64, u64)> {
            let mut v: Vec<(u64, u64)> = node
                .list_payments()
                .iter()
                .flat_map(|d| d.htlcs.iter().map(|h| (h.created_index, h.partid)))
                .collect();
            v.sort_unstable();
            v
        };
        let mut node = node_over(&store);
        // Oldest payment first; parts from 1, a single attempt 0.
        assert_eq!(indexes(&node), [(1, 1), (2, 2), (3, 0)]);
        assert_eq!(node.payment_retries.sends.last(), 3);
        drop(node);
        // Written back: the same numbers at the next start, the counter
        // stored, and the next HTLC takes 4.
        let stored = store
            .read(super::super::NAMESPACE, SEND_INDEX_KEY)
            .unwrap()
            .unwrap();
        assert_eq!(stored.value, 3u64.to_be_bytes());
        node = node_over(&store);
        assert_eq!(indexes(&node), [(1, 1), (2, 2), (3, 0)]);
        assert_eq!(node.take_send_index(0).created_index, 4);
        // The stored counter wins over the records: indexes given to
        // HTLCs whose records are gone are not given again.
        store
            .write(
                super::super::NAMESPACE,
                SEND_INDEX_KEY,
                9,
                &40u64.to_be_bytes(),
            )
            .unwrap();
        let mut node = node_over(&store);
        assert_eq!(node.take_send_index(0).created_index, 41);
    }
}
