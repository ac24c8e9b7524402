//! Routes for payments: the router (`lightning-router`) over the node's
//! public graph, with our own usable channels as first hops (their live
//! outbound capacity, not the graph's capacity) and the invoice's route
//! hints, scored by the node's [`ProbabilisticScorer`] (persisted under
//! [`SCORER_KEY`](super::graph::SCORER_KEY) at a bounded rate).
//!
//! This file finds routes; sending along them is the payments code's.

use lightning_router::{
    CompactGraph, FirstHop, HopUse, NodeId, ProbabilisticScorer, Route, RouteCandidate, RouteError,
    RouteParams,
};
use lightning_wire::Msat;

use super::Node;
use crate::channel::Phase;

impl Node {
    /// Our usable channels as the router's first hops: each `Normal`
    /// channel whose peer is connected, by its `short_channel_id` (or the
    /// peer's alias for it before it has one), with what we can send over
    /// it now and the peer's `htlc_minimum_msat`.
    pub fn first_hops(&self) -> Vec<FirstHop> {
        let mut hops = Vec::new();
        for d in self.list_channels() {
            if !d.is_usable || d.phase != Phase::Normal {
                continue;
            }
            let Some(entry) = self.channels.get(&d.channel_id) else {
                continue;
            };
            let st = entry.channel.state();
            let Some(scid) = d.short_channel_id.or(st.remote_alias) else {
                continue;
            };
            hops.push(FirstHop {
                scid,
                counterparty: NodeId::from_pubkey(&d.counterparty),
                outbound_capacity: d.outbound_capacity_msat,
                htlc_minimum_msat: Msat(st.remote_params.htlc_minimum_msat),
                capacity: Msat::from_sat(d.capacity_sat.to_sat()),
            });
        }
        hops
    }

    /// A route paying `params.amount` to `params.payee` (one path, or a
    /// multi-part split when the payee allows it), over the public graph
    /// (if [`NetworkGraphConfig::enabled`](super::NetworkGraphConfig::enabled))
    /// and the invoice's route hints, leaving through our usable channels
    /// ([`Node::first_hops`]) and scored by [`Node::scorer`].
    ///
    /// Every path obeys each channel's `htlc_minimum_msat`,
    /// `htlc_maximum_msat`, capacity and disabled flag, our channels' real
    /// outbound capacity, `params`' fee, CLTV (2016 by default), length
    /// and exclusion limits; each hop's fee is computed from the policy of
    /// the channel it forwards over (BOLT 7). The returned
    /// [`Route`]'s parts sum to `params.amount` (BOLT 4 `total_msat`).
    ///
    /// ```
    /// use lightning_core::node::{Node, RouteError, RouteParams};
    /// use lightning_core::Msat;
    /// # fn f(node: &mut Node, invoice: &lightning_wire::bolt11::Bolt11Invoice) -> Result<(), RouteError> {
    /// // From an invoice: its payee, amount, `c` field, `r` hints and MPP bit.
    /// let params = RouteParams::from_invoice(invoice, None).ok_or(RouteError::ZeroAmount)?;
    /// let route = node.find_route(&params)?;
    /// for path in &route.paths {
    ///     println!("{} msat over {} hops, fee {}", path.final_amount(), path.hops.len(), path.fee());
    /// }
    /// assert_eq!(route.total_msat, params.amount);
    /// # let _ = Msat(0);
    /// # Ok(()) }
    /// ```
    pub fn find_route(&mut self, params: &RouteParams) -> Result<Route, RouteError> {
        self.find_route_beside(params, &[])
    }

    /// [`Node::find_route`] for what remains of a payment whose parts
    /// `in_flight` (their hops past our own channels, whose live balance
    /// [`Node::first_hops`] already reports) hold liquidity.
    pub(super) fn find_route_beside(
        &mut self,
        params: &RouteParams,
        in_flight: &[HopUse],
    ) -> Result<Route, RouteError> {
        let payer = NodeId::from_pubkey(&self.node_id());
        let first_hops = self.first_hops();
        let g = &mut self.public_graph;
        g.scorer.set_time(self.now);
        match g.parts.as_ref() {
            Some(p) => g.router.find_route_with_usage(
                &p.graph,
                &payer,
                Some(&first_hops),
                params,
                &g.scorer,
                in_flight,
            ),
            None => g.router.find_route_with_usage(
                &CompactGraph::default(),
                &payer,
                Some(&first_hops),
                params,
                &g.scorer,
                in_flight,
            ),
        }
    }

    /// [`Node::find_route`] to `payee` for `amount` with the default
    /// parameters ([`RouteParams::new`]).
    pub fn find_route_to(
        &mut self,
        payee: bitcoin::secp256k1::PublicKey,
        amount: Msat,
    ) -> Result<Route, RouteError> {
        self.find_route(&RouteParams::new(NodeId::from_pubkey(&payee), amount))
    }

    /// Up to `count` distinct candidate routes, best first, with their
    /// fees, largest CLTV delta and success probability (a `queryroutes`
    /// for a CLI): after each, the channel its parts are least likely to
    /// pass is excluded and the search repeats.
    pub fn query_routes(
        &mut self,
        params: &RouteParams,
        count: usize,
    ) -> Result<Vec<RouteCandidate>, RouteError> {
        let payer = NodeId::from_pubkey(&self.node_id());
        let first_hops = self.first_hops();
        let g = &mut self.public_graph;
        g.scorer.set_time(self.now);
        match g.parts.as_ref() {
            Some(p) => g.router.query_routes(
                &p.graph,
                &payer,
                Some(&first_hops),
                params,
                &g.scorer,
                count,
            ),
            None => g.router.query_routes(
                &CompactGraph::default(),
                &payer,
                Some(&first_hops),
                params,
                &g.scorer,
                count,
            ),
        }
    }

    /// The scorer routes are weighed by: liquidity bounds learned from
    /// payment outcomes.
    pub fn scorer(&self) -> &ProbabilisticScorer {
        &self.public_graph.scorer
    }

    /// The scorer, to feed a payment's outcome (`path_failed`,
    /// `path_succeeded`, probes). The node saves it under
    /// [`SCORER_KEY`](super::graph::SCORER_KEY) at most once per
    /// [`NetworkGraphConfig::snapshot_interval`](super::NetworkGraphConfig::snapshot_interval)
    /// (at a timer) and loads it when built.
    pub fn scorer_mut(&mut self) -> &mut ProbabilisticScorer {
        self.public_graph.scorer_dirty = true;
        &mut self.public_graph.scorer
    }
}
