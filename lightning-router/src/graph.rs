//! The read interface the router needs from a channel graph
//! ([`RoutingGraph`]), and a compact adjacency-list graph implementing it
//! ([`CompactGraph`]).
//!
//! The trait is shaped so that a graph stored as adjacency lists (one array
//! of channel entries per node, policies inline) hands out each adjacent
//! channel as a small `Copy` value (policies by value, so a graph that
//! stores them in another shape, such as the gossip crate's, converts them
//! on the fly): no allocation per edge, no hashing per edge. Nodes are addressed by a dense [`NodeIndex`]
//! during a search; [`NodeId`]s are only looked up at the ends.

use std::collections::HashMap;

use lightning_wire::types::ShortChannelId;
use lightning_wire::Msat;
use secp256k1::PublicKey;

/// A node's public key as its 33-byte compressed encoding (BOLT 7
/// `node_id`). The point is not checked: a router never needs it to be on
/// the curve, and the onion builder converts with [`NodeId::to_pubkey`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 33]);

impl NodeId {
    /// The id of `key`.
    pub fn from_pubkey(key: &PublicKey) -> NodeId {
        NodeId(key.serialize())
    }

    /// The public key, if the bytes are a point on the curve.
    pub fn to_pubkey(&self) -> Result<PublicKey, secp256k1::Error> {
        PublicKey::from_slice(&self.0)
    }
}

impl From<PublicKey> for NodeId {
    fn from(key: PublicKey) -> Self {
        NodeId::from_pubkey(&key)
    }
}

impl core::fmt::Debug for NodeId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("NodeId(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        f.write_str("..)")
    }
}

/// A node's position in a graph, dense from zero to
/// [`RoutingGraph::node_count`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeIndex(pub u32);

/// Which end of a channel a `channel_update` comes from: BOLT 7
/// `channel_flags` bit 0 (`direction`), 0 for the update of `node_id_1` (the
/// lesser key), 1 for `node_id_2`'s. A direction names the flow from that
/// node to the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// From `node_id_1` to `node_id_2`.
    FromNode1,
    /// From `node_id_2` to `node_id_1`.
    FromNode2,
}

impl Direction {
    /// The `direction` bit of `channel_flags`.
    pub fn bit(self) -> u8 {
        match self {
            Direction::FromNode1 => 0,
            Direction::FromNode2 => 1,
        }
    }

    /// The direction a `channel_flags` byte names (bit 0).
    pub fn from_bit(flags: u8) -> Direction {
        if flags & 1 == 0 {
            Direction::FromNode1
        } else {
            Direction::FromNode2
        }
    }

    /// The other direction.
    pub fn reversed(self) -> Direction {
        match self {
            Direction::FromNode1 => Direction::FromNode2,
            Direction::FromNode2 => Direction::FromNode1,
        }
    }
}

/// What a node charges and accepts to forward over one direction of a
/// channel: the fields of its latest BOLT 7 `channel_update`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChannelPolicy {
    /// `fee_base_msat`.
    pub fee_base_msat: u32,
    /// `fee_proportional_millionths`.
    pub fee_proportional_millionths: u32,
    /// `cltv_expiry_delta`.
    pub cltv_expiry_delta: u16,
    /// `htlc_minimum_msat`.
    pub htlc_minimum_msat: Msat,
    /// `htlc_maximum_msat`.
    pub htlc_maximum_msat: Msat,
    /// `channel_flags` bit 1 (`disable`).
    pub disabled: bool,
}

impl ChannelPolicy {
    /// The fee this policy charges to forward `amount_to_forward` (BOLT 7
    /// "The `channel_update` Message": `fee_base_msat + (amount_to_forward *
    /// fee_proportional_millionths / 1000000)`, the division rounding down;
    /// BOLT 4 "Payload for the last node", the amount the next hop
    /// forwards). `None` if the sum does not fit a `u64`.
    pub fn fee_for(&self, amount_to_forward: Msat) -> Option<Msat> {
        let base = u64::from(self.fee_base_msat);
        let ppm = u64::from(self.fee_proportional_millionths);
        // The product fits a u64 for every realistic amount; the wide
        // division is the slow path.
        let prop = match amount_to_forward.0.checked_mul(ppm) {
            Some(x) => x / 1_000_000,
            None => {
                let x = u128::from(amount_to_forward.0) * u128::from(ppm) / 1_000_000;
                u64::try_from(x).ok()?
            }
        };
        base.checked_add(prop).map(Msat)
    }

    /// Whether an HTLC of `amount` is within `htlc_minimum_msat` and
    /// `htlc_maximum_msat`.
    pub fn accepts(&self, amount: Msat) -> bool {
        amount >= self.htlc_minimum_msat && amount <= self.htlc_maximum_msat
    }
}

/// One channel of a node, as [`RoutingGraph::adjacent`] yields it: both
/// directions' policies seen from `node`, by value.
#[derive(Clone, Copy, Debug)]
pub struct AdjacentChannel {
    /// The channel.
    pub scid: ShortChannelId,
    /// The node at the other end.
    pub other: NodeIndex,
    /// The channel's capacity, if known (from the funding output).
    pub capacity: Option<Msat>,
    /// The direction of a payment from `other` into `node` (the one a
    /// search from the payee backwards relaxes).
    pub inbound_direction: Direction,
    /// `other`'s policy for forwarding to `node`.
    pub inbound: Option<ChannelPolicy>,
    /// `node`'s policy for forwarding to `other`.
    pub outbound: Option<ChannelPolicy>,
}

/// A channel by id: its ends, capacity and both policies.
#[derive(Clone, Copy, Debug)]
pub struct ChannelView {
    /// `node_id_1` (the lesser key).
    pub node_1: NodeIndex,
    /// `node_id_2`.
    pub node_2: NodeIndex,
    /// The capacity, if known.
    pub capacity: Option<Msat>,
    /// The policy of `node_1` (direction [`Direction::FromNode1`]).
    pub from_node_1: Option<ChannelPolicy>,
    /// The policy of `node_2`.
    pub from_node_2: Option<ChannelPolicy>,
}

impl ChannelView {
    /// The policy of one direction.
    pub fn policy(&self, direction: Direction) -> Option<ChannelPolicy> {
        match direction {
            Direction::FromNode1 => self.from_node_1,
            Direction::FromNode2 => self.from_node_2,
        }
    }
}

/// What the router reads from a graph. A validated gossip graph implements
/// it; so does [`CompactGraph`].
pub trait RoutingGraph {
    /// The iterator over a node's channels.
    type Adjacent<'a>: Iterator<Item = AdjacentChannel>
    where
        Self: 'a;

    /// The number of nodes; indices run from 0 to this, exclusive.
    fn node_count(&self) -> usize;

    /// The index of a node, if the graph has it.
    fn node_index(&self, id: &NodeId) -> Option<NodeIndex>;

    /// The id of the node at `index`, if in range.
    fn node_id(&self, index: NodeIndex) -> Option<NodeId>;

    /// The channels of `node` (none if out of range).
    fn adjacent(&self, node: NodeIndex) -> Self::Adjacent<'_>;

    /// One channel by id.
    fn channel(&self, scid: ShortChannelId) -> Option<ChannelView>;
}

/// One channel of [`CompactGraph`].
#[derive(Clone, Debug)]
struct ChannelEntry {
    scid: ShortChannelId,
    node_1: NodeIndex,
    node_2: NodeIndex,
    capacity: Option<Msat>,
    policies: [Option<ChannelPolicy>; 2],
}

/// One adjacency entry: a channel seen from one of its ends.
#[derive(Clone, Copy, Debug)]
struct AdjEntry {
    channel: u32,
    other: NodeIndex,
    /// The direction from `other` into this node.
    inbound: Direction,
}

/// A channel to add to a [`CompactGraph`].
#[derive(Clone, Debug)]
pub struct ChannelSpec {
    /// The channel.
    pub scid: ShortChannelId,
    /// One end (any order: the graph orders them by key).
    pub node_a: NodeId,
    /// The other end.
    pub node_b: NodeId,
    /// The capacity, if known.
    pub capacity: Option<Msat>,
    /// `node_a`'s policy towards `node_b`.
    pub a_to_b: Option<ChannelPolicy>,
    /// `node_b`'s policy towards `node_a`.
    pub b_to_a: Option<ChannelPolicy>,
}

/// Why a [`CompactGraph`] refused a channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// Both ends are the same node.
    #[error("channel {0} has the same node at both ends")]
    SelfLoop(ShortChannelId),
    /// The id is already in the graph.
    #[error("channel {0} is already in the graph")]
    Duplicate(ShortChannelId),
    /// More than `u32::MAX` nodes or channels.
    #[error("graph too large")]
    TooLarge,
}

/// A read-only graph in compressed-adjacency form: nodes are dense indices,
/// each node's channels are one contiguous run of entries, channels and
/// their policies sit in one array. Built once by [`CompactGraph::build`].
#[derive(Clone, Debug, Default)]
pub struct CompactGraph {
    node_ids: Vec<NodeId>,
    index_of: HashMap<NodeId, NodeIndex>,
    adj_start: Vec<u32>,
    adj: Vec<AdjEntry>,
    channels: Vec<ChannelEntry>,
    scid_index: HashMap<ShortChannelId, u32>,
}

impl CompactGraph {
    /// Builds the graph from channels (nodes are the channels' ends).
    pub fn build(specs: impl IntoIterator<Item = ChannelSpec>) -> Result<CompactGraph, GraphError> {
        let mut g = CompactGraph::default();
        let intern = |g: &mut CompactGraph, id: NodeId| -> Result<NodeIndex, GraphError> {
            if let Some(i) = g.index_of.get(&id) {
                return Ok(*i);
            }
            let i = NodeIndex(u32::try_from(g.node_ids.len()).map_err(|_| GraphError::TooLarge)?);
            g.node_ids.push(id);
            g.index_of.insert(id, i);
            Ok(i)
        };
        for s in specs {
            if s.node_a == s.node_b {
                return Err(GraphError::SelfLoop(s.scid));
            }
            if g.scid_index.contains_key(&s.scid) {
                return Err(GraphError::Duplicate(s.scid));
            }
            let (id1, id2, p1, p2) = if s.node_a < s.node_b {
                (s.node_a, s.node_b, s.a_to_b, s.b_to_a)
            } else {
                (s.node_b, s.node_a, s.b_to_a, s.a_to_b)
            };
            let node_1 = intern(&mut g, id1)?;
            let node_2 = intern(&mut g, id2)?;
            let idx = u32::try_from(g.channels.len()).map_err(|_| GraphError::TooLarge)?;
            g.scid_index.insert(s.scid, idx);
            g.channels.push(ChannelEntry {
                scid: s.scid,
                node_1,
                node_2,
                capacity: s.capacity,
                policies: [p1, p2],
            });
        }
        // Counting sort of the 2 * channels adjacency entries by node.
        let n = g.node_ids.len();
        let mut degree = vec![0u32; n + 1];
        for c in &g.channels {
            degree[c.node_1.0 as usize] += 1;
            degree[c.node_2.0 as usize] += 1;
        }
        let mut start = vec![0u32; n + 1];
        let mut acc = 0u32;
        for i in 0..n {
            start[i] = acc;
            acc = acc.checked_add(degree[i]).ok_or(GraphError::TooLarge)?;
        }
        start[n] = acc;
        let mut fill = start.clone();
        let placeholder = AdjEntry {
            channel: 0,
            other: NodeIndex(0),
            inbound: Direction::FromNode1,
        };
        let mut adj = vec![placeholder; acc as usize];
        for (ci, c) in g.channels.iter().enumerate() {
            let ci = ci as u32;
            let a = c.node_1.0 as usize;
            adj[fill[a] as usize] = AdjEntry {
                channel: ci,
                other: c.node_2,
                inbound: Direction::FromNode2,
            };
            fill[a] += 1;
            let b = c.node_2.0 as usize;
            adj[fill[b] as usize] = AdjEntry {
                channel: ci,
                other: c.node_1,
                inbound: Direction::FromNode1,
            };
            fill[b] += 1;
        }
        g.adj_start = start;
        g.adj = adj;
        Ok(g)
    }

    /// The number of channels.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Every channel id, in insertion order.
    pub fn channel_ids(&self) -> impl Iterator<Item = ShortChannelId> + '_ {
        self.channels.iter().map(|c| c.scid)
    }

    /// The direction of `scid` that leads into `to`, if `to` is one of its
    /// ends.
    pub fn direction_into(&self, scid: ShortChannelId, to: &NodeId) -> Option<Direction> {
        let c = &self.channels[*self.scid_index.get(&scid)? as usize];
        let to = *self.index_of.get(to)?;
        if to == c.node_2 {
            Some(Direction::FromNode1)
        } else if to == c.node_1 {
            Some(Direction::FromNode2)
        } else {
            None
        }
    }
}

/// The iterator [`CompactGraph::adjacent`] returns.
#[derive(Debug)]
pub struct CompactAdjacent<'a> {
    graph: &'a CompactGraph,
    entries: core::slice::Iter<'a, AdjEntry>,
}

impl<'a> Iterator for CompactAdjacent<'a> {
    type Item = AdjacentChannel;

    fn next(&mut self) -> Option<AdjacentChannel> {
        let e = self.entries.next()?;
        let c = self.graph.channels.get(e.channel as usize)?;
        let inb = e.inbound.bit() as usize;
        Some(AdjacentChannel {
            scid: c.scid,
            other: e.other,
            capacity: c.capacity,
            inbound_direction: e.inbound,
            inbound: c.policies[inb],
            outbound: c.policies[1 - inb],
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl RoutingGraph for CompactGraph {
    type Adjacent<'a> = CompactAdjacent<'a>;

    fn node_count(&self) -> usize {
        self.node_ids.len()
    }

    fn node_index(&self, id: &NodeId) -> Option<NodeIndex> {
        self.index_of.get(id).copied()
    }

    fn node_id(&self, index: NodeIndex) -> Option<NodeId> {
        self.node_ids.get(index.0 as usize).copied()
    }

    fn adjacent(&self, node: NodeIndex) -> CompactAdjacent<'_> {
        let i = node.0 as usize;
        let range = match (self.adj_start.get(i), self.adj_start.get(i + 1)) {
            (Some(&a), Some(&b)) => a as usize..b as usize,
            _ => 0..0,
        };
        CompactAdjacent {
            graph: self,
            entries: self.adj.get(range).unwrap_or(&[]).iter(),
        }
    }

    fn channel(&self, scid: ShortChannelId) -> Option<ChannelView> {
        let c = self.channels.get(*self.scid_index.get(&scid)? as usize)?;
        Some(ChannelView {
            node_1: c.node_1,
            node_2: c.node_2,
            capacity: c.capacity,
            from_node_1: c.policies[0],
            from_node_2: c.policies[1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> NodeId {
        let mut x = [b; 33];
        x[0] = 2;
        NodeId(x)
    }

    fn pol(base: u32) -> ChannelPolicy {
        ChannelPolicy {
            fee_base_msat: base,
            fee_proportional_millionths: 0,
            cltv_expiry_delta: 40,
            htlc_minimum_msat: Msat(1),
            htlc_maximum_msat: Msat(1_000_000),
            disabled: false,
        }
    }

    #[test]
    fn adjacency_sees_both_directions_from_each_end() {
        let g = CompactGraph::build([ChannelSpec {
            scid: ShortChannelId(7),
            node_a: id(9),
            node_b: id(3),
            capacity: Some(Msat(5)),
            a_to_b: Some(pol(9)),
            b_to_a: Some(pol(3)),
        }])
        .unwrap();
        let n9 = g.node_index(&id(9)).unwrap();
        let n3 = g.node_index(&id(3)).unwrap();
        let e: Vec<_> = g.adjacent(n9).collect();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].other, n3);
        // Into 9 the fee is 3's, out of 9 it is 9's.
        assert_eq!(e[0].inbound.unwrap().fee_base_msat, 3);
        assert_eq!(e[0].outbound.unwrap().fee_base_msat, 9);
        // id(3) < id(9): 3 is node_1, so into 9 is FromNode1.
        assert_eq!(e[0].inbound_direction, Direction::FromNode1);
        assert_eq!(
            g.direction_into(ShortChannelId(7), &id(9)),
            Some(Direction::FromNode1)
        );
        let v = g.channel(ShortChannelId(7)).unwrap();
        assert_eq!(v.policy(Direction::FromNode1).unwrap().fee_base_msat, 3);
        assert_eq!(g.adjacent(NodeIndex(99)).count(), 0);
    }

    #[test]
    fn fee_formula_rounds_down() {
        let p = ChannelPolicy {
            fee_proportional_millionths: 1,
            ..pol(1000)
        };
        assert_eq!(p.fee_for(Msat(999_999)), Some(Msat(1000)));
        assert_eq!(p.fee_for(Msat(1_000_000)), Some(Msat(1001)));
        // Past u64 in the product: the wide path, exact.
        let q = ChannelPolicy {
            fee_proportional_millionths: 4_000_000_000,
            ..pol(0)
        };
        assert_eq!(
            q.fee_for(Msat(10_000_000_000)),
            Some(Msat(40_000_000_000_000))
        );
        assert_eq!(q.fee_for(Msat(u64::MAX)), None);
    }
}
