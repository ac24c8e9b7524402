//! Payments over blinded paths (BOLT 4 "Route Blinding"; BOLT 12
//! `blinded_payinfo`): paying a recipient known only by its blinded paths,
//! and the blinded paths through which we receive.
//!
//! - **Send** ([`Node::pay_blinded_paths`]): the router ends every part in
//!   one of the recipient's paths ([`RoutePath::blinded_tail`]); each part
//!   is one HTLC (`mpp_send`) whose onion gives the introduction node its
//!   `encrypted_recipient_data` and `current_path_key`, every later
//!   blinded hop its `encrypted_recipient_data`, and the last one also
//!   `amt_to_forward`, `outgoing_cltv_value` and `total_amount_msat`
//!   (`route::blinded_payloads`). The record keeps the paths
//!   (`blinded_target`), so a failed part is retried like an invoice's
//!   (`retry`): an error from an introduction node or beyond excludes
//!   that introduction node and the amount goes over the other paths.
//! - **Receive** ([`Node::create_blinded_payment_paths`]): for one of our
//!   invoices, a two-hop path per channel peer (the peer introduces, we
//!   receive), or a one-hop path introduced by us when we have none. The
//!   peer's hop carries `short_channel_id`, `payment_relay` (its policy
//!   towards us) and `payment_constraints`; ours `path_id` (the invoice's
//!   `payment_secret`, which `htlcs` checks in place of `payment_data`,
//!   in constant time) and `payment_constraints`.
//!
//! [`RoutePath::blinded_tail`]: lightning_router::RoutePath::blinded_tail

use bitcoin::secp256k1::PublicKey;
use lightning_router::{BlindedPayInfo, BlindedPaymentPath, HopRelay, RouteParams};
use lightning_wire::Encode;

use super::events::{PaymentHash, PaymentId, PaymentStatus};
use super::mpp_send::PartsOf;
use super::records::RetryState;
use super::route::RecipientOnion;
use super::router_path::CLTV_SLACK;
use super::{Node, NodeError};
use crate::amount::Msat;
use crate::channel::Phase;
use crate::onion::{blind_path, EncryptedDataTlv, PaymentConstraints, PaymentRelay};

/// How long, in blocks, a blinded path we create may be used
/// (`payment_constraints.max_cltv_expiry` is this far above the height
/// at creation, plus the path's CLTV delta).
pub const BLINDED_PATH_EXPIRY_BLOCKS: u32 = 2016;

impl Node {
    /// Pays `amount_msat` for `payment_hash` to the recipient of the
    /// blinded `paths` (BOLT 12 `invoice_paths` with their
    /// `invoice_blindedpay`): routed by `lightning-router` to the paths'
    /// introduction nodes, split over several paths or channels when one
    /// does not carry it (each part's onion carries `total_amount_msat`),
    /// within the node's fee budget. [`Event::PaymentSent`](super::Event::PaymentSent)
    /// or [`Event::PaymentFailed`](super::Event::PaymentFailed) follows.
    ///
    /// Refused when no route reaches an introduction node. A path we
    /// introduce ourselves is paid over our channel to its next node, our
    /// own hop opened first (`blinded_intro`); one that names us as its
    /// recipient, whose hop for us does not open, or that leads over no
    /// usable channel of ours is not used (and if no path is left, the
    /// error says why). A failed part is retried over the paths left, within
    /// `NodeConfig::payment_retry_attempts` and the retry timeout, across
    /// restarts.
    ///
    /// ```no_run
    /// # use lightning_core::node::{Node, NodeError};
    /// # use lightning_core::Msat;
    /// # fn f(payer: &mut Node, payee: &mut Node, now: std::time::Duration) -> Result<(), NodeError> {
    /// let hour = std::time::Duration::from_secs(3600);
    /// let invoice = payee.create_invoice(Some(Msat(50_000)), "coffee", hour, now)?;
    /// let hash = *invoice.payment_hash();
    /// let paths = payee.create_blinded_payment_paths(&hash, 2)?;
    /// payer.pay_blinded_paths(hash, 50_000, paths, now)?;
    /// # Ok(()) }
    /// ```
    pub fn pay_blinded_paths(
        &mut self,
        payment_hash: PaymentHash,
        amount_msat: u64,
        paths: Vec<BlindedPaymentPath>,
        now: std::time::Duration,
    ) -> Result<PaymentId, NodeError> {
        let max_parts = self.config.payment_max_parts;
        self.pay_blinded_paths_split(payment_hash, amount_msat, paths, max_parts, None, now)
    }

    /// [`Node::pay_blinded_paths`] in at most `max_parts` parts (1: one
    /// HTLC, as a BOLT 12 invoice without the MPP feature requires), with
    /// routing fees within `max_fee` over every attempt (`None`: the
    /// node's budget).
    pub(super) fn pay_blinded_paths_split(
        &mut self,
        payment_hash: PaymentHash,
        amount_msat: u64,
        paths: Vec<BlindedPaymentPath>,
        max_parts: u8,
        max_fee: Option<Msat>,
        now: std::time::Duration,
    ) -> Result<PaymentId, NodeError> {
        self.now = now;
        if let Some(p) = self.payments.get(&payment_hash) {
            if p.status != PaymentStatus::Failed {
                return Err(NodeError::DuplicatePayment(payment_hash));
            }
        }
        let target = super::blinded_target::BlindedTarget {
            paths: paths.clone(),
            single_part: max_parts <= 1,
        };
        // Paths we introduce ourselves that we cannot pay over are dropped
        // here (the router sees only their introduction node, us).
        let (usable, dropped) = self.blinded_paths_left(&paths, &[]);
        if let (true, Some(why)) = (usable.is_empty(), dropped) {
            return Err(why);
        }
        let mut params = RouteParams::for_blinded_paths(usable, Msat(amount_msat));
        params.max_total_fee =
            Some(max_fee.unwrap_or(Msat(self.config.payment_max_fee_msat(amount_msat))));
        params.max_path_count = max_parts.max(1);
        params.allow_mpp = max_parts > 1;
        params.max_total_cltv_expiry_delta = params
            .max_total_cltv_expiry_delta
            .saturating_sub(CLTV_SLACK);
        let route = self
            .find_route(&params)
            .map_err(|e| NodeError::Route(format!("no route to the blinded paths: {e}")))?;
        let recipient = RecipientOnion {
            amount_msat,
            ..RecipientOnion::default()
        };
        // The paths are kept for retries (`retry`: a part that fails is
        // routed again over the paths left, within the retry budget).
        let retry = RetryState {
            attempts: 1,
            blinded: Some(target),
            max_fee_msat: max_fee.map(|m| m.0),
            ..RetryState::default()
        };
        let created_at = now.as_secs();
        // Parts whose first channel refused them stay outstanding, routed
        // again in this step.
        self.send_parts(
            payment_hash,
            &recipient,
            &route.paths,
            PartsOf::New { created_at, retry },
        )?;
        self.finish()?;
        Ok(PaymentId(payment_hash.0))
    }

    /// Blinded paths to us for our invoice of `payment_hash`, at most
    /// `max_paths`: one per usable channel peer with inbound capacity, the
    /// largest first (the peer introduces: a two-hop path), or a one-hop
    /// path introduced by us when we have no usable channel.
    ///
    /// Each hop's `encrypted_data_tlv` (BOLT 4 "Requirements" for its
    /// creator): the peer's has our channel's `short_channel_id`, its
    /// `payment_relay` (the policy of its last `channel_update` towards us,
    /// else our own defaults) and `payment_constraints`
    /// (`max_cltv_expiry` `BLINDED_PATH_EXPIRY_BLOCKS` above the height
    /// plus the path's delta, the channel's `htlc_minimum_msat`); ours has
    /// `path_id` (the invoice's `payment_secret`) and `payment_constraints`.
    /// The `blinded_payinfo` aggregates the relay as BOLT 4 defines it,
    /// with our `min_final_cltv_expiry_delta`.
    pub fn create_blinded_payment_paths(
        &mut self,
        payment_hash: &PaymentHash,
        max_paths: usize,
    ) -> Result<Vec<BlindedPaymentPath>, NodeError> {
        let terms = self
            .invoice_terms
            .get(payment_hash)
            .copied()
            .ok_or_else(|| NodeError::Invoice("no invoice of ours has this hash".into()))?;
        let height = self.best_height();
        let final_delta = self.config.min_final_cltv_expiry_delta;
        let mut peers: Vec<(
            u64,
            PublicKey,
            lightning_wire::types::ShortChannelId,
            HopRelay,
            u64,
        )> = Vec::new();
        for (id, e) in &self.channels {
            let ch = &e.channel;
            if ch.phase() != Phase::Normal || !ch.is_usable() {
                continue;
            }
            let st = ch.state();
            let Some(scid) = st.short_channel_id.or(st.remote_alias) else {
                continue;
            };
            let inbound = st
                .funding_satoshis
                .saturating_mul(1000)
                .saturating_sub(ch.local_balance_msat());
            let g = &self.config.gossip;
            let relay = match self.peer_policies_update(id) {
                Some((base, prop, delta)) => HopRelay {
                    fee_base_msat: base,
                    fee_proportional_millionths: prop,
                    cltv_expiry_delta: delta,
                },
                None => HopRelay {
                    fee_base_msat: g.fee_base_msat,
                    fee_proportional_millionths: g.fee_proportional_millionths,
                    cltv_expiry_delta: g.cltv_expiry_delta,
                },
            };
            let min = st.local_params.htlc_minimum_msat;
            peers.push((inbound, e.counterparty, scid, relay, min));
        }
        peers.sort_by_key(|p| std::cmp::Reverse(p.0));
        let us = self.node_id();
        let path_id = terms.secret().to_vec();
        let mut out = Vec::new();
        if peers.is_empty() {
            let info = BlindedPayInfo::aggregate(&[], final_delta)
                .ok_or_else(|| NodeError::Route("path totals overflow".into()))?;
            let ours = EncryptedDataTlv {
                path_id: Some(path_id),
                payment_constraints: Some(PaymentConstraints {
                    max_cltv_expiry: height
                        .saturating_add(BLINDED_PATH_EXPIRY_BLOCKS)
                        .saturating_add(u32::from(final_delta)),
                    htlc_minimum_msat: 0,
                }),
                ..EncryptedDataTlv::default()
            };
            out.push(self.blinded_path_over(&[(us, ours.to_bytes())], info)?);
            return Ok(out);
        }
        for (_, peer, scid, relay, min) in peers.into_iter().take(max_paths.max(1)) {
            let mut info = BlindedPayInfo::aggregate(&[relay], final_delta)
                .ok_or_else(|| NodeError::Route("path totals overflow".into()))?;
            info.htlc_minimum_msat = Msat(min);
            let max_cltv = height
                .saturating_add(BLINDED_PATH_EXPIRY_BLOCKS)
                .saturating_add(u32::from(final_delta));
            let peer_tlv = EncryptedDataTlv {
                short_channel_id: Some(scid),
                payment_relay: Some(PaymentRelay {
                    cltv_expiry_delta: relay.cltv_expiry_delta,
                    fee_proportional_millionths: relay.fee_proportional_millionths,
                    fee_base_msat: relay.fee_base_msat,
                }),
                payment_constraints: Some(PaymentConstraints {
                    max_cltv_expiry: max_cltv.saturating_add(u32::from(relay.cltv_expiry_delta)),
                    htlc_minimum_msat: min,
                }),
                ..EncryptedDataTlv::default()
            };
            let ours = EncryptedDataTlv {
                path_id: Some(path_id.clone()),
                payment_constraints: Some(PaymentConstraints {
                    max_cltv_expiry: max_cltv,
                    htlc_minimum_msat: min,
                }),
                ..EncryptedDataTlv::default()
            };
            out.push(
                self.blinded_path_over(
                    &[(peer, peer_tlv.to_bytes()), (us, ours.to_bytes())],
                    info,
                )?,
            );
        }
        Ok(out)
    }

    fn blinded_path_over(
        &self,
        hops: &[(PublicKey, Vec<u8>)],
        payinfo: BlindedPayInfo,
    ) -> Result<BlindedPaymentPath, NodeError> {
        let session = self.fresh_secret();
        let path = blind_path(&session, hops)
            .map_err(|e| NodeError::Route(format!("blinding the path: {e}")))?;
        Ok(path.into_payment_path(payinfo))
    }
}
