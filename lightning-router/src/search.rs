//! One path: a label-setting search (Dijkstra) from the payee back to the
//! payer.
//!
//! Going backwards, the amount each node must receive is known when the
//! node is reached: the payee receives the payment, and a node before it
//! receives what it forwards plus its fee, which BOLT 7 computes on the
//! amount forwarded with the policy of the channel it forwards over:
//! `fee_base_msat + amount_to_forward * fee_proportional_millionths /
//! 1000000` ("The `channel_update` Message"). CLTV deltas add up the same
//! way: the HTLC into a node expires `cltv_expiry_delta` blocks (the policy
//! of its outgoing channel) after the one it sends on, and the payee's HTLC
//! `min_final_cltv_expiry_delta` after the current height (BOLT 4 "Payload
//! for the last node", BOLT 11 `c`). So every limit can be checked on the
//! exact amount as the search goes; a node is settled once, at its cheapest
//! cost, where cost is fees plus the scorer's penalties.
//!
//! With blinded paths (BOLT 4 "Route Blinding") the search starts at a
//! virtual recipient; each blinded path is one virtual edge into it from
//! its introduction node, charging the path's aggregated fee on the amount
//! the recipient receives and its CLTV delta above the current height
//! (`blinded_payinfo`, BOLT 12), and counting its blinded hops after the
//! introduction node toward the path length.

use core::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use lightning_wire::types::ShortChannelId;
use lightning_wire::Msat;

use crate::blinded::{BlindedPaymentPath, BlindedTail};
use crate::graph::{ChannelPolicy, Direction, NodeId, NodeIndex, RoutingGraph};
use crate::route::{FirstHop, RouteError, RouteHop, RouteParams, RoutePath, MAX_PATH_LENGTH};
use crate::scorer::ScoreLookup;

/// In-flight amounts per channel direction of the parts already chosen.
pub(crate) type Usage = HashMap<(ShortChannelId, Direction), Msat>;

/// The key under which [`Usage`] counts what the parts of a route put on
/// blinded path `index` (no real channel: the scid is out of any block's
/// range).
pub(crate) fn blinded_usage_key(index: usize) -> (ShortChannelId, Direction) {
    (
        ShortChannelId(u64::MAX - index as u64),
        Direction::FromNode1,
    )
}

/// A channel not in the graph: a route hint hop.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ExtraEdge {
    from: u32,
    scid: ShortChannelId,
    direction: Direction,
    policy: ChannelPolicy,
}

/// One routing request, resolved against a graph: node indices of the
/// ends, nodes outside the graph (numbered after its nodes), hint edges and
/// first hops by the node they lead to.
#[derive(Debug)]
pub(crate) struct Problem {
    n_graph: u32,
    pub(crate) payer: u32,
    pub(crate) payee: u32,
    payer_id: NodeId,
    extra_ids: Vec<NodeId>,
    extra_in: HashMap<u32, Vec<ExtraEdge>>,
    first_hops: Option<Vec<FirstHop>>,
    first_hops_at: HashMap<u32, Vec<usize>>,
    excluded_nodes: HashSet<u32>,
    excluded_channels: HashSet<ShortChannelId>,
    final_cltv: u32,
    max_cltv: u32,
    max_len: u8,
    /// The usable blinded paths, by index in the request, with their
    /// introduction node's index; `payee` is then a virtual node.
    blinded: Vec<(usize, u32)>,
    blinded_paths: Vec<BlindedPaymentPath>,
}

fn direction_between(from: &NodeId, to: &NodeId) -> Direction {
    if from < to {
        Direction::FromNode1
    } else {
        Direction::FromNode2
    }
}

impl Problem {
    pub(crate) fn new<G: RoutingGraph>(
        graph: &G,
        payer: &NodeId,
        first_hops: Option<&[FirstHop]>,
        params: &RouteParams,
    ) -> Result<Problem, RouteError> {
        let blinded = !params.blinded_paths.is_empty();
        if !blinded && *payer == params.payee {
            return Err(RouteError::PayerIsPayee);
        }
        if params.amount == Msat::ZERO {
            return Err(RouteError::ZeroAmount);
        }
        let n_graph = u32::try_from(graph.node_count()).map_err(|_| RouteError::NoRoute)?;
        let mut extra_ids: Vec<NodeId> = Vec::new();
        let intern = |id: &NodeId, extra_ids: &mut Vec<NodeId>| -> u32 {
            if let Some(i) = graph.node_index(id) {
                return i.0;
            }
            if let Some(p) = extra_ids.iter().position(|x| x == id) {
                return n_graph + p as u32;
            }
            extra_ids.push(*id);
            n_graph + (extra_ids.len() - 1) as u32
        };
        if first_hops.is_none() && graph.node_index(payer).is_none() {
            return Err(RouteError::NoPayerChannels);
        }
        let payer_idx = intern(payer, &mut extra_ids);
        let payee_idx = if blinded {
            // The unknown recipient of the blinded paths: a node of its
            // own, never matched by id.
            extra_ids.push(NodeId([0; 33]));
            n_graph + (extra_ids.len() - 1) as u32
        } else {
            intern(&params.payee, &mut extra_ids)
        };
        let mut extra_in: HashMap<u32, Vec<ExtraEdge>> = HashMap::new();
        let hints: &[_] = if blinded { &[] } else { &params.route_hints };
        for hint in hints {
            for (i, hop) in hint.0.iter().enumerate() {
                let from_id = NodeId(*hop.src_node_id.as_bytes());
                let to_id = match hint.0.get(i + 1) {
                    Some(next) => NodeId(*next.src_node_id.as_bytes()),
                    None => params.payee,
                };
                if from_id == to_id {
                    continue;
                }
                let from = intern(&from_id, &mut extra_ids);
                let to = intern(&to_id, &mut extra_ids);
                extra_in.entry(to).or_default().push(ExtraEdge {
                    from,
                    scid: hop.short_channel_id,
                    direction: direction_between(&from_id, &to_id),
                    policy: ChannelPolicy {
                        fee_base_msat: hop.fee_base_msat,
                        fee_proportional_millionths: hop.fee_proportional_millionths,
                        cltv_expiry_delta: hop.cltv_expiry_delta,
                        htlc_minimum_msat: Msat::ZERO,
                        htlc_maximum_msat: Msat(u64::MAX),
                        disabled: false,
                    },
                });
            }
        }
        let mut first_hops_at: HashMap<u32, Vec<usize>> = HashMap::new();
        if let Some(fhs) = first_hops {
            for (i, fh) in fhs.iter().enumerate() {
                let c = intern(&fh.counterparty, &mut extra_ids);
                first_hops_at.entry(c).or_default().push(i);
            }
        }
        let known =
            |i: u32| i < n_graph || extra_in.contains_key(&i) || first_hops_at.contains_key(&i);
        let mut usable = Vec::new();
        for (i, path) in params.blinded_paths.iter().enumerate() {
            if path.hops.is_empty() || path.payinfo.has_unknown_required_features() {
                continue;
            }
            let intro = graph
                .node_index(&path.introduction_node)
                .map(|x| x.0)
                .or_else(|| {
                    let at = extra_ids
                        .iter()
                        .position(|x| *x == path.introduction_node)?;
                    Some(n_graph + at as u32)
                });
            let Some(intro) = intro else { continue };
            // The payer as the recipient itself: nothing to pay.
            if intro == payer_idx && path.hops.len() == 1 {
                continue;
            }
            if intro == payer_idx || known(intro) {
                usable.push((i, intro));
            }
        }
        if blinded && usable.is_empty() {
            return Err(RouteError::UnknownIntroductionNode);
        }
        if !blinded && !known(payee_idx) {
            return Err(RouteError::UnknownPayee);
        }
        let excluded_nodes = params
            .excluded_nodes
            .iter()
            .filter(|id| **id != *payer && **id != params.payee)
            .map(|id| intern(id, &mut extra_ids))
            .collect();
        Ok(Problem {
            n_graph,
            payer: payer_idx,
            payee: payee_idx,
            payer_id: *payer,
            extra_ids,
            extra_in,
            first_hops: first_hops.map(<[FirstHop]>::to_vec),
            first_hops_at,
            excluded_nodes,
            excluded_channels: params.excluded_channels.clone(),
            final_cltv: if blinded {
                0
            } else {
                u32::from(params.min_final_cltv_expiry_delta)
            },
            max_cltv: params.max_total_cltv_expiry_delta,
            max_len: params.max_path_length.min(MAX_PATH_LENGTH),
            blinded: usable,
            blinded_paths: params.blinded_paths.clone(),
        })
    }

    /// Whether some usable blinded path's introduction node can be reached
    /// from the payer at all (any amount, ignoring fees and limits other
    /// than disabled and excluded channels and nodes): a search backwards
    /// from the introduction nodes.
    pub(crate) fn introduction_reachable<G: RoutingGraph>(&self, graph: &G) -> bool {
        let mut seen = vec![false; self.node_count()];
        let mut stack: Vec<u32> = Vec::new();
        for &(_, intro) in &self.blinded {
            if let Some(s) = seen.get_mut(intro as usize) {
                if !*s {
                    *s = true;
                    stack.push(intro);
                }
            }
        }
        while let Some(u) = stack.pop() {
            if u == self.payer {
                return true;
            }
            let mut from: Vec<u32> = Vec::new();
            if u < self.n_graph {
                for ch in graph.adjacent(NodeIndex(u)) {
                    let usable = ch.inbound.is_some_and(|p| !p.disabled)
                        && !self.excluded_channels.contains(&ch.scid);
                    // With first hops given, the payer's graph channels
                    // are not used.
                    if usable && !(ch.other.0 == self.payer && self.first_hops.is_some()) {
                        from.push(ch.other.0);
                    }
                }
            }
            if let Some(edges) = self.extra_in.get(&u) {
                from.extend(edges.iter().map(|e| e.from));
            }
            if self.first_hops_at.contains_key(&u) {
                from.push(self.payer);
            }
            for w in from {
                if self.excluded_nodes.contains(&w) {
                    continue;
                }
                if let Some(s) = seen.get_mut(w as usize) {
                    if !*s {
                        *s = true;
                        stack.push(w);
                    }
                }
            }
        }
        false
    }

    /// Whether the request is over blinded paths.
    pub(crate) fn is_blinded(&self) -> bool {
        !self.blinded.is_empty()
    }

    fn node_count(&self) -> usize {
        self.n_graph as usize + self.extra_ids.len()
    }

    fn node_id<G: RoutingGraph>(&self, graph: &G, idx: u32) -> Option<NodeId> {
        if idx < self.n_graph {
            graph.node_id(NodeIndex(idx))
        } else {
            self.extra_ids.get((idx - self.n_graph) as usize).copied()
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Step {
    to: u32,
    scid: ShortChannelId,
    direction: Direction,
    capacity: Option<Msat>,
    /// The step is the blinded path of this index into the recipient.
    tail: Option<usize>,
}

#[derive(Clone, Copy, Debug)]
struct Label {
    cost: u64,
    /// What the node receives (for the payer: what it sends).
    amount: u64,
    /// The CLTV delta of the HTLC the node receives.
    cltv: u32,
    /// Channels from this node to the payee.
    hops: u8,
    settled: bool,
    stamp: u32,
    next: Option<Step>,
}

const UNSEEN: Label = Label {
    cost: u64::MAX,
    amount: 0,
    cltv: 0,
    hops: 0,
    settled: false,
    stamp: 0,
    next: None,
};

/// A path found.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    pub(crate) path: RoutePath,
}

/// The search's memory, kept between searches so that a search does not
/// allocate per node: labels are valid only when stamped with the current
/// search's number.
#[derive(Debug, Default)]
pub(crate) struct Searcher {
    labels: Vec<Label>,
    stamp: u32,
    heap: BinaryHeap<Reverse<(u64, u32)>>,
    /// The amount of the part being searched for.
    part: Msat,
}

/// What one relaxation offers: the edge from `from` into the popped node.
struct Edge<'p> {
    from: u32,
    scid: ShortChannelId,
    direction: Direction,
    capacity: Option<Msat>,
    policy: &'p ChannelPolicy,
}

impl Searcher {
    fn get(&self, i: u32) -> Label {
        match self.labels.get(i as usize) {
            Some(l) if l.stamp == self.stamp => *l,
            _ => UNSEEN,
        }
    }

    fn offer(&mut self, i: u32, cand: Label) {
        let cur = self.get(i);
        if cur.settled || cand.cost >= cur.cost {
            return;
        }
        if let Some(l) = self.labels.get_mut(i as usize) {
            *l = Label {
                stamp: self.stamp,
                ..cand
            };
            self.heap.push(Reverse((cand.cost, i)));
        }
    }

    /// The cheapest path carrying `amount` to the payee, given parts
    /// already in flight (`usage`) and a fee budget for this part.
    pub(crate) fn search<G: RoutingGraph, S: ScoreLookup>(
        &mut self,
        graph: &G,
        pb: &Problem,
        amount: Msat,
        usage: &Usage,
        fee_budget: Option<Msat>,
        scorer: &S,
    ) -> Option<Found> {
        let n = pb.node_count();
        if self.labels.len() < n {
            self.labels.resize(n, UNSEEN);
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.labels.iter_mut().for_each(|l| *l = UNSEEN);
            self.stamp = 1;
        }
        self.heap.clear();
        self.part = amount;
        if pb.final_cltv > pb.max_cltv {
            return None;
        }
        self.offer(
            pb.payee,
            Label {
                cost: 0,
                amount: amount.0,
                cltv: pb.final_cltv,
                hops: 0,
                settled: false,
                stamp: 0,
                next: None,
            },
        );
        while let Some(Reverse((cost, u))) = self.heap.pop() {
            let lu = self.get(u);
            if lu.settled || cost != lu.cost {
                continue;
            }
            if let Some(l) = self.labels.get_mut(u as usize) {
                l.settled = true;
            }
            if u == pb.payer {
                return self.reconstruct(graph, pb, usage, scorer);
            }
            if u == pb.payee && pb.is_blinded() {
                for &(i, intro) in &pb.blinded {
                    self.relax_blinded(pb, &lu, i, intro, usage, fee_budget);
                }
                continue;
            }
            if u < pb.n_graph {
                for ch in graph.adjacent(NodeIndex(u)) {
                    if let Some(policy) = ch.inbound {
                        let e = Edge {
                            from: ch.other.0,
                            scid: ch.scid,
                            direction: ch.inbound_direction,
                            capacity: ch.capacity,
                            policy: &policy,
                        };
                        self.relax(pb, u, &lu, &e, usage, fee_budget, scorer);
                    }
                }
            }
            if let Some(edges) = pb.extra_in.get(&u) {
                for x in edges {
                    let e = Edge {
                        from: x.from,
                        scid: x.scid,
                        direction: x.direction,
                        capacity: None,
                        policy: &x.policy,
                    };
                    self.relax(pb, u, &lu, &e, usage, fee_budget, scorer);
                }
            }
            if let (Some(fhs), Some(at)) = (&pb.first_hops, pb.first_hops_at.get(&u)) {
                for &i in at {
                    let Some(fh) = fhs.get(i) else { continue };
                    self.relax_first_hop(pb, u, &lu, fh, usage);
                }
            }
        }
        None
    }

    #[allow(clippy::too_many_arguments)]
    fn relax<S: ScoreLookup>(
        &mut self,
        pb: &Problem,
        u: u32,
        lu: &Label,
        e: &Edge<'_>,
        usage: &Usage,
        fee_budget: Option<Msat>,
        scorer: &S,
    ) {
        let w = e.from;
        if w == pb.payee || e.policy.disabled {
            return;
        }
        let current = self.get(w);
        if current.settled {
            return;
        }
        if !pb.excluded_channels.is_empty() && pb.excluded_channels.contains(&e.scid) {
            return;
        }
        if !pb.excluded_nodes.is_empty() && pb.excluded_nodes.contains(&w) {
            return;
        }
        let amount = Msat(lu.amount);
        if !e.policy.accepts(amount) {
            return;
        }
        let in_flight = if usage.is_empty() {
            Msat::ZERO
        } else {
            usage
                .get(&(e.scid, e.direction))
                .copied()
                .unwrap_or(Msat::ZERO)
        };
        if let Some(cap) = e.capacity {
            if amount.saturating_add(in_flight) > cap {
                return;
            }
        }
        let step = Some(Step {
            to: u,
            scid: e.scid,
            direction: e.direction,
            capacity: e.capacity,
            tail: None,
        });
        if w == pb.payer {
            // The payer's own channel: no fee, and only when the caller
            // did not give its channels explicitly.
            if pb.first_hops.is_some() || lu.hops + 1 > pb.max_len {
                return;
            }
            if lu.cost >= current.cost {
                return;
            }
            let penalty = scorer.penalty_msat(e.scid, e.direction, amount, in_flight, e.capacity);
            if penalty == u64::MAX {
                return;
            }
            let cand = Label {
                cost: lu.cost.saturating_add(penalty),
                amount: lu.amount,
                cltv: lu.cltv,
                hops: lu.hops + 1,
                settled: false,
                stamp: 0,
                next: step,
            };
            self.offer(w, cand);
            return;
        }
        // `w` forwards to `u`: one more hop, and the payer's channel to
        // come still.
        if lu.hops + 2 > pb.max_len {
            return;
        }
        let Some(fee) = e.policy.fee_for(amount) else {
            return;
        };
        let Some(received) = amount.checked_add(fee) else {
            return;
        };
        if let Some(budget) = fee_budget {
            if received.saturating_sub(self.part) > budget {
                return;
            }
        }
        let cltv = lu
            .cltv
            .saturating_add(u32::from(e.policy.cltv_expiry_delta));
        if cltv > pb.max_cltv {
            return;
        }
        // Penalties are never negative: a candidate no cheaper than the
        // current label before its penalty cannot win after it.
        let floor = lu.cost.saturating_add(fee.0);
        if floor >= current.cost {
            return;
        }
        let penalty = scorer.penalty_msat(e.scid, e.direction, amount, in_flight, e.capacity);
        if penalty == u64::MAX {
            return;
        }
        let cand = Label {
            cost: floor.saturating_add(penalty),
            amount: received.0,
            cltv,
            hops: lu.hops + 1,
            settled: false,
            stamp: 0,
            next: step,
        };
        self.offer(w, cand);
    }

    /// The blinded path `index` into the virtual recipient, from its
    /// introduction node `w`: the path's aggregated fee on what the
    /// recipient receives, its CLTV delta, its HTLC limits on every blinded
    /// hop's amount (the maximum also bounds what the parts of one route
    /// put on the path together, as a capacity does), and its later hops
    /// counted toward the path length.
    fn relax_blinded(
        &mut self,
        pb: &Problem,
        lu: &Label,
        index: usize,
        w: u32,
        usage: &Usage,
        fee_budget: Option<Msat>,
    ) {
        let Some(path) = pb.blinded_paths.get(index) else {
            return;
        };
        if self.get(w).settled || (w != pb.payer && pb.excluded_nodes.contains(&w)) {
            return;
        }
        let extra = path.extra_hops();
        // Onion payloads: the hops to the introduction node (at least one
        // unless the payer is it) and the later blinded hops.
        let needed = u32::from(extra) + u32::from(w != pb.payer);
        if needed > u32::from(pb.max_len) {
            return;
        }
        let amount = Msat(lu.amount);
        let pay = &path.payinfo;
        let Some(fee) = pay.fee_for(amount) else {
            return;
        };
        let Some(received) = amount.checked_add(fee) else {
            return;
        };
        let in_flight = usage
            .get(&blinded_usage_key(index))
            .copied()
            .unwrap_or(Msat::ZERO);
        if !pay.accepts(amount, received.saturating_add(in_flight)) {
            return;
        }
        if let Some(budget) = fee_budget {
            if received.saturating_sub(self.part) > budget {
                return;
            }
        }
        let cltv = lu.cltv.saturating_add(u32::from(pay.cltv_expiry_delta));
        if cltv > pb.max_cltv {
            return;
        }
        let cand = Label {
            cost: lu.cost.saturating_add(fee.0),
            amount: received.0,
            cltv,
            hops: extra,
            settled: false,
            stamp: 0,
            next: Some(Step {
                to: pb.payee,
                scid: ShortChannelId(0),
                direction: Direction::FromNode1,
                capacity: None,
                tail: Some(index),
            }),
        };
        self.offer(w, cand);
    }

    fn relax_first_hop(&mut self, pb: &Problem, u: u32, lu: &Label, fh: &FirstHop, usage: &Usage) {
        if lu.hops + 1 > pb.max_len {
            return;
        }
        if !pb.excluded_channels.is_empty() && pb.excluded_channels.contains(&fh.scid) {
            return;
        }
        let direction = direction_between(&pb.payer_id, &fh.counterparty);
        let in_flight = usage
            .get(&(fh.scid, direction))
            .copied()
            .unwrap_or(Msat::ZERO);
        let amount = Msat(lu.amount);
        if amount < fh.htlc_minimum_msat || amount.saturating_add(in_flight) > fh.outbound_capacity
        {
            return;
        }
        let cand = Label {
            cost: lu.cost,
            amount: lu.amount,
            cltv: lu.cltv,
            hops: lu.hops + 1,
            settled: false,
            stamp: 0,
            next: Some(Step {
                to: u,
                scid: fh.scid,
                direction,
                capacity: fh.capacity,
                tail: None,
            }),
        };
        self.offer(pb.payer, cand);
    }

    fn reconstruct<G: RoutingGraph, S: ScoreLookup>(
        &self,
        graph: &G,
        pb: &Problem,
        usage: &Usage,
        scorer: &S,
    ) -> Option<Found> {
        let start = self.get(pb.payer);
        let mut hops = Vec::with_capacity(start.hops as usize);
        let mut step = start.next?;
        let mut at = pb.payer;
        let mut tail = None;
        let mut probability = 1.0;
        let first_hop_given = pb.first_hops.is_some();
        loop {
            if let Some(index) = step.tail {
                let intro = self.get(at);
                tail = Some(BlindedTail {
                    path_index: index,
                    path: pb.blinded_paths.get(index)?.clone(),
                    amount: Msat(intro.amount),
                    cltv_expiry_delta: intro.cltv,
                    final_amount: Msat(self.get(step.to).amount),
                });
                break;
            }
            let here = self.get(step.to);
            let after = here.next;
            // The hop into an introduction node keeps no fee of its own
            // here: the blinded tail's fee covers the blinded part.
            let fee = match after {
                Some(s) if s.tail.is_none() => here.amount.saturating_sub(self.get(s.to).amount),
                _ => 0,
            };
            let amount = Msat(here.amount);
            if !(first_hop_given && hops.is_empty()) {
                let in_flight = usage
                    .get(&(step.scid, step.direction))
                    .copied()
                    .unwrap_or(Msat::ZERO);
                probability *= scorer.success_probability(
                    step.scid,
                    step.direction,
                    amount,
                    in_flight,
                    step.capacity,
                );
            }
            hops.push(RouteHop {
                short_channel_id: step.scid,
                node_id: pb.node_id(graph, step.to)?,
                direction: step.direction,
                capacity: step.capacity,
                amount,
                fee: Msat(fee),
                cltv_expiry_delta: here.cltv,
            });
            if hops.len() > MAX_PATH_LENGTH as usize {
                return None;
            }
            at = step.to;
            match after {
                Some(s) => step = s,
                None => break,
            }
        }
        Some(Found {
            path: RoutePath {
                hops,
                success_probability: probability,
                blinded_tail: tail,
            },
        })
    }
}
