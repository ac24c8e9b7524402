//! Routes: one path when it is likely enough to succeed, parts otherwise
//! (multi-part payments, BOLT 4 "Basic Multi-Part Payments"), and several
//! candidate routes for a caller to choose from ([`Router::query_routes`]).
//!
//! # Splitting
//!
//! The router first looks for the cheapest single path for the whole
//! amount. If there is none, or its success probability is below
//! [`RouteParams::split_threshold`], and the payee accepts multi-part
//! payments, it tries 2, 4, 8, ... parts up to
//! [`RouteParams::max_path_count`]: parts are routed one after another,
//! each seeing what the earlier ones already put in flight on every channel
//! (capacities, first-hop balances and the scorer's probabilities account
//! for it); a part that finds no path is halved, down to a floor of the
//! amount over four times the path count. A split whose parts end up on
//! the same path as each other is dropped when one path could carry the
//! whole amount (it is that path with more HTLCs). The router keeps whichever answer has the
//! lowest [`ScoreLookup::route_cost`] (fees and the whole route's
//! probability) and stops doubling once more parts stop helping.

use std::collections::HashSet;

use lightning_wire::types::ShortChannelId;
use lightning_wire::Msat;

use crate::graph::{NodeId, RoutingGraph};
use crate::route::{FirstHop, Route, RouteError, RouteParams, RoutePath};
use crate::scorer::{HopUse, ScoreLookup};
use crate::search::{blinded_usage_key, Found, Problem, Searcher, Usage};

/// A router with reusable search memory (one per thread; a search does
/// not allocate per node once it has run on a graph of that size).
#[derive(Debug, Default)]
pub struct Router {
    searcher: Searcher,
}

/// A candidate route from [`Router::query_routes`].
#[derive(Clone, Debug, PartialEq)]
pub struct RouteCandidate {
    /// The route.
    pub route: Route,
    /// Its fees.
    pub total_fee: Msat,
    /// The largest CLTV delta of its parts' first HTLCs.
    pub max_cltv_expiry_delta: u32,
    /// The scorer's estimate that every part arrives.
    pub success_probability: f64,
}

/// [`Router::find_route`] with a fresh router.
pub fn find_route<G: RoutingGraph, S: ScoreLookup>(
    graph: &G,
    payer: &NodeId,
    first_hops: Option<&[FirstHop]>,
    params: &RouteParams,
    scorer: &S,
) -> Result<Route, RouteError> {
    Router::new().find_route(graph, payer, first_hops, params, scorer)
}

struct Candidate {
    route: Route,
    cost: u64,
}

fn route_of<S: ScoreLookup>(parts: Vec<Found>, amount: Msat, scorer: &S) -> Candidate {
    let route = Route {
        paths: parts.into_iter().map(|f| f.path).collect(),
        total_msat: amount,
    };
    let hops = route.paths.iter().map(|p| p.hops.len()).sum();
    let cost = scorer.route_cost(route.total_fee(), amount, route.success_probability(), hops);
    Candidate { route, cost }
}

fn add_usage(usage: &mut Usage, path: &RoutePath) {
    for h in &path.hops {
        let e = usage
            .entry((h.short_channel_id, h.direction))
            .or_insert(Msat::ZERO);
        *e = e.saturating_add(h.amount);
    }
    if let Some(t) = &path.blinded_tail {
        let e = usage
            .entry(blinded_usage_key(t.path_index))
            .or_insert(Msat::ZERO);
        *e = e.saturating_add(t.amount);
    }
}

fn same_channels(a: &RoutePath, b: &RoutePath) -> bool {
    let tail = |p: &RoutePath| p.blinded_tail.as_ref().map(|t| t.path_index);
    tail(a) == tail(b)
        && a.hops.len() == b.hops.len()
        && a.hops
            .iter()
            .zip(&b.hops)
            .all(|(x, y)| x.short_channel_id == y.short_channel_id && x.direction == y.direction)
}

impl Router {
    /// A router.
    pub fn new() -> Self {
        Router::default()
    }

    /// A route from `payer` paying `params.amount` to `params.payee`.
    ///
    /// `first_hops`, when given, are the payer's usable channels with their
    /// real outbound capacity; the graph's channels of the payer are then
    /// ignored. Every returned path obeys the channels' `htlc_minimum_msat`
    /// and `htlc_maximum_msat`, capacities (summed over parts), disabled
    /// flags, exclusions, [`RouteParams::max_path_length`] and
    /// [`RouteParams::max_total_cltv_expiry_delta`]; the route's fees are
    /// at most [`RouteParams::max_total_fee`] and it has at most
    /// [`RouteParams::max_path_count`] parts.
    pub fn find_route<G: RoutingGraph, S: ScoreLookup>(
        &mut self,
        graph: &G,
        payer: &NodeId,
        first_hops: Option<&[FirstHop]>,
        params: &RouteParams,
        scorer: &S,
    ) -> Result<Route, RouteError> {
        self.find_route_with_in_flight(graph, payer, first_hops, params, scorer, &[])
    }

    /// [`Router::find_route`] for what remains of a payment whose `in_flight`
    /// parts (sent and not failed, or held by the payee) already use
    /// liquidity: capacities, first-hop balances and probabilities account
    /// for them.
    pub fn find_route_with_in_flight<G: RoutingGraph, S: ScoreLookup>(
        &mut self,
        graph: &G,
        payer: &NodeId,
        first_hops: Option<&[FirstHop]>,
        params: &RouteParams,
        scorer: &S,
        in_flight: &[RoutePath],
    ) -> Result<Route, RouteError> {
        let uses: Vec<HopUse> = in_flight.iter().flat_map(RoutePath::hop_uses).collect();
        self.find_route_with_usage(graph, payer, first_hops, params, scorer, &uses)
    }

    /// [`Router::find_route_with_in_flight`] with what is in flight given
    /// per channel: each [`HopUse`]'s amount is taken from its channel's
    /// liquidity in its direction (a payer whose `first_hops` already
    /// report the live balance leaves its own channels out).
    pub fn find_route_with_usage<G: RoutingGraph, S: ScoreLookup>(
        &mut self,
        graph: &G,
        payer: &NodeId,
        first_hops: Option<&[FirstHop]>,
        params: &RouteParams,
        scorer: &S,
        in_flight: &[HopUse],
    ) -> Result<Route, RouteError> {
        let pb = Problem::new(graph, payer, first_hops, params)?;
        let mut base = Usage::new();
        for u in in_flight {
            let e = base.entry((u.scid, u.direction)).or_insert(Msat::ZERO);
            *e = e.saturating_add(u.amount);
        }
        match self.solve(graph, &pb, params, scorer, &base) {
            Some(c) => Ok(c.route),
            None if pb.is_blinded() && !pb.introduction_reachable(graph) => {
                Err(RouteError::IntroductionNodeUnreachable)
            }
            None => Err(RouteError::NoRoute),
        }
    }

    fn solve<G: RoutingGraph, S: ScoreLookup>(
        &mut self,
        graph: &G,
        pb: &Problem,
        params: &RouteParams,
        scorer: &S,
        base: &Usage,
    ) -> Option<Candidate> {
        let amount = params.amount;
        let single = self
            .searcher
            .search(graph, pb, amount, base, params.max_total_fee, scorer)
            .map(|f| route_of(vec![f], amount, scorer));
        let max_parts = if params.allow_mpp {
            usize::from(params.max_path_count.max(1))
        } else {
            1
        };
        if max_parts == 1 {
            return single;
        }
        if let Some(s) = &single {
            if s.route.success_probability() >= params.split_threshold {
                return single;
            }
        }
        let single_exists = single.is_some();
        if !single_exists {
            // If the smallest part a split may use finds no path either,
            // no split will (the payee is cut off at these limits).
            let min_part = Msat((amount.0 / (4 * max_parts as u64)).max(1));
            let budget = params.max_total_fee.map(|max| {
                Msat((u128::from(max.0) * u128::from(min_part.0) / u128::from(amount.0)) as u64)
            });
            self.searcher
                .search(graph, pb, min_part, base, budget, scorer)?;
        }
        // The smallest first-part amount seen to find no path (fee budgets
        // are proportional to the part, so this is only a shortcut for
        // amounts at least this large).
        let mut first_fails = if single_exists { u64::MAX } else { amount.0 };
        let mut best = single;
        let mut parts = 2usize;
        loop {
            let parts_now = parts.min(max_parts);
            match self.split(
                graph,
                pb,
                params,
                parts_now,
                max_parts,
                scorer,
                base,
                single_exists,
                &mut first_fails,
            ) {
                Some(c) if best.as_ref().is_none_or(|b| c.cost < b.cost) => best = Some(c),
                Some(_) => break,
                // With a single path at hand, a split that failed (or fell
                // back onto one path) will not do better with more parts.
                None if single_exists => break,
                None => {}
            }
            if parts_now >= max_parts {
                break;
            }
            parts *= 2;
        }
        best
    }

    /// Routes the amount as parts of about `amount / parts` each.
    #[allow(clippy::too_many_arguments)]
    fn split<G: RoutingGraph, S: ScoreLookup>(
        &mut self,
        graph: &G,
        pb: &Problem,
        params: &RouteParams,
        parts: usize,
        max_parts: usize,
        scorer: &S,
        base: &Usage,
        single_exists: bool,
        first_fails: &mut u64,
    ) -> Option<Candidate> {
        let amount = params.amount;
        let shard = amount.0.div_ceil(parts as u64);
        let min_part = (amount.0 / (4 * max_parts as u64)).max(1);
        let mut usage = base.clone();
        let mut found: Vec<Found> = Vec::new();
        let mut remaining = amount.0;
        let mut fees = Msat::ZERO;
        while remaining > 0 {
            let mut part = shard.min(remaining);
            if remaining - part < min_part {
                part = remaining;
            }
            let f = loop {
                let budget = params.max_total_fee.map(|max| {
                    let left = max.saturating_sub(fees).0;
                    Msat((u128::from(left) * u128::from(part) / u128::from(remaining)) as u64)
                });
                // The first part sees only `base`: an amount that already
                // failed there (in an earlier split) fails again.
                let known_to_fail = found.is_empty() && part >= *first_fails;
                if !known_to_fail {
                    if let Some(f) =
                        self.searcher
                            .search(graph, pb, Msat(part), &usage, budget, scorer)
                    {
                        break f;
                    }
                    if found.is_empty() {
                        *first_fails = (*first_fails).min(part);
                    }
                }
                if part <= min_part {
                    return None;
                }
                part = (part / 2).max(min_part);
            };
            add_usage(&mut usage, &f.path);
            fees = fees.saturating_add(f.path.fee());
            remaining -= part;
            // A part on the path of an earlier one: when one path could
            // carry the whole amount, this split is that path again with
            // more HTLCs, so give up on it; otherwise (the path's
            // `htlc_maximum_msat` is what forced the split) keep both.
            if found.iter().any(|g| same_channels(&g.path, &f.path)) && single_exists {
                return None;
            }
            if found.len() >= max_parts {
                return None;
            }
            found.push(f);
        }
        if let Some(max) = params.max_total_fee {
            if fees > max {
                return None;
            }
        }
        Some(route_of(found, amount, scorer))
    }

    /// Up to `count` distinct routes, best first: after each, the channel
    /// its parts are least likely to pass (by the scorer) is excluded and
    /// the search repeats. For a CLI's `queryroutes` and for tests.
    pub fn query_routes<G: RoutingGraph, S: ScoreLookup>(
        &mut self,
        graph: &G,
        payer: &NodeId,
        first_hops: Option<&[FirstHop]>,
        params: &RouteParams,
        scorer: &S,
        count: usize,
    ) -> Result<Vec<RouteCandidate>, RouteError> {
        let mut params = params.clone();
        let mut out: Vec<RouteCandidate> = Vec::new();
        let mut tried: HashSet<ShortChannelId> = HashSet::new();
        while out.len() < count {
            let pb = Problem::new(graph, payer, first_hops, &params)?;
            let Some(c) = self.solve(graph, &pb, &params, scorer, &Usage::new()) else {
                break;
            };
            let route = c.route;
            // The weakest hop that is not the payer's own first hop (when
            // first hops are given, those are the only way out).
            let weakest = route
                .paths
                .iter()
                .flat_map(|p| {
                    let skip = usize::from(first_hops.is_some());
                    p.hops.iter().skip(skip)
                })
                .filter(|h| !tried.contains(&h.short_channel_id))
                .min_by(|a, b| {
                    let pa = scorer.success_probability(
                        a.short_channel_id,
                        a.direction,
                        a.amount,
                        Msat::ZERO,
                        a.capacity,
                    );
                    let pb = scorer.success_probability(
                        b.short_channel_id,
                        b.direction,
                        b.amount,
                        Msat::ZERO,
                        b.capacity,
                    );
                    pa.total_cmp(&pb)
                })
                .map(|h| h.short_channel_id);
            if !out.iter().any(|o| o.route == route) {
                out.push(RouteCandidate {
                    total_fee: route.total_fee(),
                    max_cltv_expiry_delta: route.max_cltv_expiry_delta(),
                    success_probability: route.success_probability(),
                    route,
                });
            }
            match weakest {
                Some(scid) => {
                    tried.insert(scid);
                    params.excluded_channels.insert(scid);
                }
                None => break,
            }
        }
        if out.is_empty() {
            return Err(RouteError::NoRoute);
        }
        Ok(out)
    }
}
