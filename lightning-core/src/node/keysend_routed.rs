//! Keysend to any reachable node (bLIP 3): a direct channel when one can
//! carry the amount, else one path from the node's router
//! ([`Node::find_route`]) within the routed-payment fee budget, then
//! [`Node::send_keysend`] over it. Not retried: a failed keysend is
//! reported as it is, and the caller decides whether to send again (a new
//! attempt is a new preimage, so a new payment).

use bitcoin::secp256k1::PublicKey;
use lightning_router::{NodeId, RouteParams};

use super::events::PaymentId;
use super::retry::PayOptions;
use super::route::Route;
use super::router_path::{node_route, CLTV_SLACK};
use super::{Node, NodeError};
use crate::amount::Msat;

impl Node {
    /// Sends `amount_msat` to `payee` as a keysend (bLIP 3: a fresh
    /// preimage in onion TLV 5482373484, with `custom_records`), over a
    /// direct channel or a path the router finds through the public graph
    /// (one path, fees within
    /// [`NodeConfig::payment_max_fee_ppm`](super::NodeConfig::payment_max_fee_ppm) /
    /// [`payment_max_fee_base_msat`](super::NodeConfig::payment_max_fee_base_msat)).
    /// The payee must accept keysend. Returns the payment's id (its hash);
    /// [`Event::PaymentSent`](super::Event::PaymentSent), with the
    /// preimage, or [`Event::PaymentFailed`](super::Event::PaymentFailed)
    /// follows. Refused with [`NodeError::NoRoute`] when neither a channel
    /// nor a path can carry it.
    ///
    /// ```
    /// use lightning_core::node::{Node, NodeError};
    /// use lightning_core::Msat;
    /// # fn f(node: &mut Node, payee: bitcoin::secp256k1::PublicKey, now: std::time::Duration) -> Result<(), NodeError> {
    /// // A tip of 1,000 sat with a message for the payee (an odd custom
    /// // record type of at least 65536).
    /// let id = node.keysend_to(payee, Msat(1_000_000), vec![(65_537, b"thanks".to_vec())], now)?;
    /// # let _ = id; Ok(()) }
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
    /// path's routing fees, and route hints to a payee the public graph
    /// does not reach ([`PayOptions::route_hints`]).
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
        let route = if self.direct_channel(&payee, amount).is_some() {
            Route::direct(payee)
        } else {
            let mut params = RouteParams::new(NodeId::from_pubkey(&payee), amount_msat);
            params.min_final_cltv_expiry_delta = self.config.keysend_final_cltv_expiry_delta;
            params.max_total_fee = Some(
                options
                    .max_fee_msat
                    .unwrap_or(Msat(self.config.payment_max_fee_msat(amount))),
            );
            params.max_path_count = 1;
            params.allow_mpp = false;
            params.route_hints = options.route_hints.clone();
            params.max_total_cltv_expiry_delta = params
                .max_total_cltv_expiry_delta
                .saturating_sub(CLTV_SLACK);
            let found = self.find_route(&params).map_err(|_| no_route())?;
            let path = found.paths.first().ok_or_else(no_route)?;
            node_route(path).map_err(NodeError::Route)?.0
        };
        self.send_keysend(&route, amount, custom_records, now)
    }
}
