//! Sending multi-part payments (BOLT 4 "Basic Multi-Part Payments"; the
//! payee's invoice sets `basic_mpp`).
//!
//! When the router splits an invoice payment ([`Node::pay_invoice`], or a
//! retry), each of its paths becomes one HTLC, a *part*: every part's
//! onion carries the invoice's `payment_secret` and the whole payment's
//! `total_msat`, and its own `amt_to_forward`. The payee holds the parts
//! until they reach `total_msat`, then fulfils all of them with the one
//! preimage. The payment record keeps every part ([`SentPart`]): its
//! HTLC, amount, fee, onion secrets, route and path, and whether it is
//! pending, failed or fulfilled.
//!
//! - **Persist before send**: the record naming every new part is
//!   written before any of their HTLCs can leave.
//! - **A part fails**: it is judged like a single attempt (`retry`
//!   module: the erring channel or node excluded, the scorer told), and
//!   only the *outstanding* amount (the total less what the parts still
//!   in flight carry) is routed again, with the fee budget less their
//!   fees, the router seeing the liquidity they hold. An `mpp_timeout`
//!   from the payee (it gave up waiting for the rest) is retried like a
//!   channel's temporary failure, nothing excluded.
//! - **The payment stops** (a final error from the payee, retries or time
//!   exhausted, no route): no part is sent any more (the record is marked
//!   *abandoned*), and [`Event::PaymentFailed`](super::Event::PaymentFailed)
//!   goes out only once no part is in flight: a part still pending may
//!   yet be fulfilled, and then the payment succeeded.
//! - **The preimage arrives** with any part: the payment succeeded
//!   ([`Event::PaymentSent`](super::Event::PaymentSent) with the fees of
//!   every part not failed); the payee must fulfil its other parts.
//!
//! A part that cannot be offered on its first channel after all (the
//! channel's own checks refuse it) is not sent: its channel is excluded
//! and its amount stays outstanding for the next round, in the same step.

use lightning_router::{HopUse, RoutePath};
use lightning_wire::types::{ChannelId, ShortChannelId};

use super::events::PartStatus;
use super::events::{PaymentHash, PaymentStatus};
use super::payments::Offered;
use super::records::{payment_key, PaymentRecord, RetryState};
use super::route::{BlindedRecipient, RecipientOnion};
use super::router_path::{hop_uses, node_route};
use super::sent_parts::SentPart;
use super::{Node, NodeError};

/// How a batch of parts starts: a new payment, or more parts of one.
pub(super) enum PartsOf {
    /// A payment's first attempt: when it started and its retry state.
    New { created_at: u64, retry: RetryState },
    /// A retry of a pending payment, with its next retry state.
    Retry(RetryState),
}

impl Node {
    /// Offers one part per path of `paths` for payment `hash` to
    /// `recipient` (its `amount_msat` the payment's total), writes the
    /// record naming them, then lets them leave. Returns the first hops
    /// that refused their part (excluded; their amount stays outstanding),
    /// or an error when no part could be offered (nothing is written).
    pub(super) fn send_parts(
        &mut self,
        hash: PaymentHash,
        recipient: &RecipientOnion,
        paths: &[RoutePath],
        of: PartsOf,
    ) -> Result<Vec<ShortChannelId>, NodeError> {
        let mut offered: Vec<(SentPart, Offered)> = Vec::new();
        let mut refused = Vec::new();
        let mut first_error = None;
        // A blinded path we introduce ourselves becomes a hop over our
        // channel to its next node (`blinded_intro`); done for every path
        // before any part is offered, so a refusal leaves nothing behind.
        let excluded = match &of {
            PartsOf::New { retry, .. } | PartsOf::Retry(retry) => &retry.excluded_nodes,
        };
        let paths = paths
            .iter()
            .map(|p| self.introduce_our_blinded_hop(p, excluded))
            .collect::<Result<Vec<_>, _>>()?;
        for path in &paths {
            let (route, kept) = node_route(path).map_err(NodeError::Route)?;
            let part_recipient = RecipientOnion {
                amount_msat: path.final_amount().0,
                total_msat: Some(recipient.amount_msat),
                blinded: path.blinded_tail.as_ref().map(|t| BlindedRecipient {
                    path: t.path.clone(),
                    intro_amount_msat: t.amount.0,
                    intro_cltv_expiry_delta: t.cltv_expiry_delta,
                }),
                ..recipient.clone()
            };
            match self.offer_htlc(&route, hash, &part_recipient, None) {
                Ok(o) => {
                    let part = SentPart {
                        channel_id: o.channel_id,
                        htlc_id: o.htlc_id,
                        amount_msat: part_recipient.amount_msat,
                        fee_msat: o.fee_msat,
                        state: PartStatus::Pending,
                        shared_secrets: o.shared_secrets.clone(),
                        route: route.hops.iter().map(|h| h.node_id).collect(),
                        path: kept,
                        hold_times: Vec::new(),
                        index: None,
                    };
                    offered.push((part, o));
                }
                Err(e) => {
                    if matches!(e, NodeError::NoRoute { .. }) {
                        refused.push(route.hops[0].short_channel_id);
                    }
                    first_error.get_or_insert(e);
                }
            }
        }
        if offered.is_empty() {
            return Err(first_error.unwrap_or_else(|| NodeError::Route("no parts".into())));
        }
        // Each part's index: the next partids of the payment (from 1), and
        // the node's next `created_index`es. A new payment keeps what the
        // record it replaces (a failed payment of the same hash) listed.
        let (carried, next_partid) = match of {
            PartsOf::New { .. } => self.carried_sends(&hash),
            PartsOf::Retry(_) => (
                Vec::new(),
                self.payments
                    .get(&hash)
                    .map_or(0, PaymentRecord::next_partid),
            ),
        };
        for (i, (part, _)) in offered.iter_mut().enumerate() {
            let partid = next_partid
                .max(1)
                .saturating_add(u64::try_from(i).unwrap_or(u64::MAX));
            part.index = Some(self.take_send_index(partid));
        }
        let Some((first, first_offer)) = offered.first() else {
            return Err(NodeError::Route("no parts".into()));
        };
        let shortfall = !refused.is_empty();
        let parts: Vec<SentPart> = offered.iter().map(|(p, _)| p.clone()).collect();
        match of {
            PartsOf::New {
                created_at,
                mut retry,
            } => {
                if shortfall {
                    retry.awaiting = true;
                    retry.excluded_channels.extend(&refused);
                }
                let record = PaymentRecord {
                    payment_hash: hash,
                    payee: first_offer.payee,
                    amount_msat: recipient.amount_msat,
                    status: PaymentStatus::Pending,
                    preimage: None,
                    failure: None,
                    created_at,
                    shared_secrets: first.shared_secrets.clone(),
                    channel_id: first.channel_id,
                    htlc_id: first.htlc_id,
                    event_handled: false,
                    failure_code: None,
                    failing_hop: None,
                    failure_message: None,
                    fee_msat: 0,
                    route: first.route.clone(),
                    retry: Some(retry),
                    parts,
                    hold_times: Vec::new(),
                    failure_hold_times: Vec::new(),
                    attribution_failed_at: None,
                    send_index: None,
                    earlier: carried,
                };
                self.payments.insert(hash, record);
            }
            PartsOf::Retry(mut retry) => {
                let keep = self.kept_earlier();
                let Some(p) = self.payments.get_mut(&hash) else {
                    return Err(NodeError::Route("no payment to retry".into()));
                };
                if shortfall {
                    retry.awaiting = true;
                    retry.excluded_channels.extend(&refused);
                }
                if !p.is_multipart() {
                    // Split from now on: the failed single attempt
                    // before is an earlier HTLC.
                    p.retire_current(keep);
                }
                p.retry = Some(retry);
                p.parts.extend(parts);
            }
        }
        if let Some(p) = self.payments.get(&hash) {
            // The record goes first, then the index counter: the HTLCs
            // leave only after both.
            self.writer.write_record(&payment_key(&hash), p.encode())?;
            self.write_send_counter()?;
        }
        if shortfall {
            self.payment_retries.mark_due(hash);
        }
        for (_, o) in offered {
            self.release_offer(o.channel_id, o.out);
        }
        Ok(refused)
    }

    /// What payment `hash`'s parts in flight hold past our own channels,
    /// for the router's view of liquidity.
    pub(super) fn parts_in_flight(&self, hash: &PaymentHash) -> Vec<HopUse> {
        self.payments.get(hash).map_or_else(Vec::new, |p| {
            p.parts
                .iter()
                .filter(|s| s.state == PartStatus::Pending)
                .flat_map(|s| hop_uses(&s.path).into_iter().skip(1))
                .collect()
        })
    }

    /// The paths of payment `hash` that carried it (every part not
    /// failed), for the scorer once it is paid.
    pub(super) fn paid_paths(&self, hash: &PaymentHash) -> Vec<Vec<HopUse>> {
        let Some(p) = self.payments.get(hash) else {
            return Vec::new();
        };
        if !p.is_multipart() {
            return p
                .retry
                .as_ref()
                .map(|r| vec![hop_uses(&r.path)])
                .unwrap_or_default();
        }
        p.parts
            .iter()
            .filter(|s| s.state != PartStatus::Failed)
            .map(|s| hop_uses(&s.path))
            .collect()
    }
}

impl PaymentRecord {
    /// Whether the payment is made of parts ([`SentPart`]).
    pub(crate) fn is_multipart(&self) -> bool {
        !self.parts.is_empty()
    }

    /// The index of the pending part carried by HTLC `htlc` (multi-part
    /// payments only).
    pub(crate) fn pending_part(&self, htlc: (ChannelId, u64)) -> Option<usize> {
        self.parts
            .iter()
            .position(|p| p.state == PartStatus::Pending && p.htlc() == htlc)
    }

    /// Whether some part is still in flight.
    pub(crate) fn has_pending_parts(&self) -> bool {
        self.parts.iter().any(|p| p.state == PartStatus::Pending)
    }

    /// The pending HTLCs of this payment on `channel_id`: the current
    /// attempt's, or every pending part's.
    pub(crate) fn pending_htlcs_on(&self, channel_id: ChannelId) -> Vec<u64> {
        if self.is_multipart() {
            return self
                .parts
                .iter()
                .filter(|p| p.state == PartStatus::Pending && p.channel_id == channel_id)
                .map(|p| p.htlc_id)
                .collect();
        }
        if self.channel_id == channel_id {
            vec![self.htlc_id]
        } else {
            Vec::new()
        }
    }

    /// The HTLC that names the payment's last attempt, for the
    /// acknowledgement of its final event: the last part's, or the
    /// single attempt's. A finished payment sends nothing more, so it
    /// stays the same until the host acknowledges.
    pub(crate) fn last_htlc(&self) -> (ChannelId, u64) {
        self.parts
            .last()
            .map_or((self.channel_id, self.htlc_id), SentPart::htlc)
    }

    /// What the payee gets from parts in flight or fulfilled.
    pub(crate) fn committed_msat(&self) -> u64 {
        self.parts
            .iter()
            .filter(|p| p.state != PartStatus::Failed)
            .fold(0u64, |a, p| a.saturating_add(p.amount_msat))
    }

    /// Routing fees of parts in flight or fulfilled.
    pub(crate) fn committed_fee_msat(&self) -> u64 {
        self.parts
            .iter()
            .filter(|p| p.state != PartStatus::Failed)
            .fold(0u64, |a, p| a.saturating_add(p.fee_msat))
    }
}
