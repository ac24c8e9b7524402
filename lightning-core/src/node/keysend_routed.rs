//! Keysend to any reachable node (bLIP 3), routed and retried by the node
//! like an invoice payment ([`Node::pay_invoice`]): a direct channel when
//! one can carry the amount, else one path from the node's router
//! ([`Node::find_route`]) within the routed-payment fee budget, else,
//! when no single path carries it, several: a **multi-part keysend**.
//!
//! Every HTLC of the payment carries the same preimage (drawn once, kept
//! in the payment record with the rest of the keysend's target), so a
//! retry pays the same payment: the payee can claim only once, with one
//! preimage, whatever reached it. Parts (BOLT 4 "Basic Multi-Part
//! Payments", the way LDK and LND split a keysend) also carry a
//! `payment_data`: a `payment_secret` we draw for the payment, the same
//! in every part, and the whole `total_msat`; the payee holds them until
//! they add up (see the `keysend` module for our side of it). A keysend
//! sent over one path carries no `payment_data`, exactly as before, so a
//! payee that takes no parts is unaffected; the payment is split only
//! when the router finds no single path for the amount (no invoice tells
//! whether the payee takes parts; a payee that refuses them fails the
//! payment with its final error).
//!
//! The record (with the preimage, secret, records and hints; type 59 of
//! its retry state) is written before any HTLC leaves, and the parts and
//! retries are the invoice payments' own (`mpp_send`, `retry`): failed
//! parts are routed again for the outstanding amount, within
//! [`NodeConfig::payment_retry_attempts`](super::NodeConfig::payment_retry_attempts)
//! and [`NodeConfig::payment_retry_timeout`](super::NodeConfig::payment_retry_timeout),
//! and a restart resumes the payment. [`Node::send_keysend`] over a
//! caller's route is not retried.

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::PublicKey;

use super::events::{PaymentHash, PaymentId};
use super::mpp_send::PartsOf;
use super::pay_options::PayOptions;
use super::records::{KeysendTarget, RetryState};
use super::route::Route;
use super::router_path::{keysend_params, keysend_recipient, node_route, single_path};
use super::{Node, NodeError};
use crate::amount::Msat;

impl Node {
    /// Sends `amount_msat` to `payee` as a keysend (bLIP 3: a fresh
    /// preimage in onion TLV 5482373484, with `custom_records`), over a
    /// direct channel or a path the router finds through the public graph,
    /// fees within
    /// [`NodeConfig::payment_max_fee_ppm`](super::NodeConfig::payment_max_fee_ppm) /
    /// [`payment_max_fee_base_msat`](super::NodeConfig::payment_max_fee_base_msat).
    /// When no single path can carry the amount, it is split over up to
    /// [`NodeConfig::payment_max_parts`](super::NodeConfig::payment_max_parts)
    /// paths (a multi-part keysend: every part with the same preimage,
    /// a `payment_secret` we draw and the whole total;
    /// [`PaymentDetails::parts`](super::PaymentDetails::parts) lists them);
    /// the payee must then take keysends in parts (ours do with
    /// [`MppReceiveConfig::accept_keysend_parts`](super::MppReceiveConfig::accept_keysend_parts)).
    /// A failed attempt or part is retried like an invoice payment's
    /// (same preimage, so one payment whatever the retries), and the
    /// payment survives a restart: its record, written before any HTLC
    /// leaves, keeps the preimage and what a retry needs.
    ///
    /// The payee must accept keysend. Returns the payment's id (its hash);
    /// [`Event::PaymentSent`](super::Event::PaymentSent), with the
    /// preimage, or [`Event::PaymentFailed`](super::Event::PaymentFailed)
    /// follows. Refused with [`NodeError::NoRoute`] when neither a channel
    /// nor a path (nor several) can carry it.
    ///
    /// ```
    /// use lightning_core::node::{Event, Node, NodeError};
    /// use lightning_core::Msat;
    /// # fn f(node: &mut Node, payee: bitcoin::secp256k1::PublicKey, now: std::time::Duration) -> Result<(), NodeError> {
    /// // A tip of 1,000 sat with a message for the payee (an odd custom
    /// // record type of at least 65536).
    /// let id = node.keysend_to(payee, Msat(1_000_000), vec![(65_537, b"thanks".to_vec())], now)?;
    /// // ... the host loop runs; later:
    /// if let Some(p) = node.payment(&id) {
    ///     // One part, or several if no single path could carry it.
    ///     println!("{:?} in {} part(s)", p.status, p.parts.len().max(1));
    /// }
    /// while let Some(event) = node.poll_event() {
    ///     if let Event::PaymentSent { preimage, .. } = event {
    ///         println!("paid, proof {:?}", preimage);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn keysend_to(
        &mut self,
        payee: PublicKey,
        amount_msat: Msat,
        custom_records: Vec<(u64, Vec<u8>)>,
        now: std::time::Duration,
    ) -> Result<PaymentId, NodeError> {
        self.keysend_to_with(
            payee,
            amount_msat,
            custom_records,
            &PayOptions::default(),
            now,
        )
    }

    /// [`Node::keysend_to`] with the caller's [`PayOptions`]: a cap on the
    /// routing fees of all its paths (kept across retries), and route
    /// hints to a payee the public graph does not reach
    /// ([`PayOptions::route_hints`]).
    ///
    /// ```
    /// use lightning_core::node::{Node, NodeError, PayOptions};
    /// use lightning_core::Msat;
    /// # fn f(node: &mut Node, payee: bitcoin::secp256k1::PublicKey, now: std::time::Duration) -> Result<(), NodeError> {
    /// let mut options = PayOptions::default();
    /// options.max_fee_msat = Some(Msat(0)); // a direct channel, or nothing
    /// node.keysend_to_with(payee, Msat(5_000_000), Vec::new(), &options, now)?;
    /// # Ok(()) }
    /// ```
    pub fn keysend_to_with(
        &mut self,
        payee: PublicKey,
        amount_msat: Msat,
        custom_records: Vec<(u64, Vec<u8>)>,
        options: &PayOptions,
        now: std::time::Duration,
    ) -> Result<PaymentId, NodeError> {
        self.now = now;
        let amount = amount_msat.0;
        let no_route = || NodeError::NoRoute {
            payee,
            amount_msat: amount,
        };
        if amount == 0 {
            return Err(no_route());
        }
        let preimage = self.fresh_secret().secret_bytes();
        let hash = PaymentHash(sha256::Hash::hash(&preimage).to_byte_array());
        let target = KeysendTarget {
            payee,
            preimage,
            // Ours to choose (no invoice gives one): drawn afresh, shared
            // by every part if the keysend is split.
            payment_secret: self.fresh_secret().secret_bytes(),
            final_cltv_expiry_delta: u32::from(self.config.keysend_final_cltv_expiry_delta),
            custom_records,
            route_hints: options.route_hints.clone(),
        };
        let mut retry = RetryState {
            attempts: 1,
            max_fee_msat: options.max_fee_msat.map(|m| m.0),
            keysend: Some(target.clone()),
            ..RetryState::default()
        };
        let created_at = now.as_secs();
        let whole = keysend_recipient(&target, amount, false);
        // A direct channel that can carry it: one hop, no router.
        if let Some(channel_id) = self.direct_channel(&payee, amount) {
            let route = Route::direct(payee);
            let routed = Some((created_at, retry));
            self.start_attempt(&route, hash, &whole, Some(channel_id), routed)?;
            self.finish()?;
            return Ok(PaymentId(hash.0));
        }
        // One path if one carries it (a single-path keysend is what every
        // payee accepting keysend takes); parts only otherwise.
        let params = keysend_params(&target, amount, &retry, &self.config);
        let route = match self.find_route(&single_path(&params)) {
            Ok(r) if !r.paths.is_empty() => r,
            _ if params.allow_mpp => self.find_route(&params).map_err(|_| no_route())?,
            _ => return Err(no_route()),
        };
        if route.paths.len() > 1 {
            // Split: one HTLC per path (`mpp_send`), each with the
            // preimage, our `payment_secret` and the whole total.
            let parts = keysend_recipient(&target, amount, true);
            let of = PartsOf::New { created_at, retry };
            self.send_parts(hash, &parts, &route.paths, of)?;
            self.finish()?;
            return Ok(PaymentId(hash.0));
        }
        let path = route.paths.first().ok_or_else(no_route)?;
        let (route, path) = node_route(path).map_err(NodeError::Route)?;
        retry.path = path;
        self.start_attempt(&route, hash, &whole, None, Some((created_at, retry)))?;
        self.finish()?;
        Ok(PaymentId(hash.0))
    }
}
