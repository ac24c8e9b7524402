//! [`RoutingGraph`] for the validated public graph of `lightning-gossip`
//! ([`NetworkGraph`] and its [`GraphStore`]), behind the `gossip` feature.
//!
//! The gossip store already keeps what a search reads in the router's
//! shape: dense node indices (free slots included, which have no id and no
//! channels), each node's channels as a list of indices, and per channel
//! both directions' policies inline. So the router walks it directly: one
//! vector index per adjacent channel, each policy converted to a
//! [`ChannelPolicy`] on the fly, no copy of the graph.
//!
//! A direction is offered to the router only if
//! [`ChannelInfo::is_routable`] says so (an update was received, it is not
//! disabled, the channel is not closed and has no unknown required
//! feature, and `htlc_maximum_msat` is within `htlc_minimum_msat` and the
//! capacity: BOLT 7 "SHOULD ignore this channel during route
//! considerations").
//!
//! ```
//! use lightning_gossip::{GraphConfig, NetworkGraph};
//! use lightning_router::{find_route, NodeId, RouteParams, RoutingGraph, ZeroPenalty};
//! use lightning_test_support::gossip::{Generator, SyntheticConfig};
//! use lightning_wire::Msat;
//!
//! let net = Generator::new(3, SyntheticConfig::small(30, 80)).generate();
//! let mut graph = NetworkGraph::new(GraphConfig::new(net.chain_hash));
//! for a in &net.channel_announcements {
//!     graph.handle_channel_announcement(a, Some(&net.utxos), net.now).unwrap();
//! }
//! for u in &net.channel_updates {
//!     graph.handle_channel_update(u, net.now).unwrap();
//! }
//! assert_eq!(graph.node_slots(), RoutingGraph::node_count(&graph));
//! let (_, ch) = graph.channels().next().unwrap();
//! let payer = NodeId::from_pubkey(graph.node(ch.node_one()).unwrap().node_id());
//! let payee = NodeId::from_pubkey(graph.node(ch.node_two()).unwrap().node_id());
//! // A small amount over a generated channel: a route exists.
//! let route = find_route(&graph, &payer, None, &RouteParams::new(payee, Msat(1_000)), &ZeroPenalty);
//! assert!(route.is_ok());
//! ```

use lightning_gossip::{
    ChannelIdx, ChannelInfo, DirectionPolicy, GraphStore, NetworkGraph, NodeIdx,
};
use lightning_wire::types::ShortChannelId;
use lightning_wire::Msat;

use crate::graph::{
    AdjacentChannel, ChannelPolicy, ChannelView, Direction, NodeId, NodeIndex, RoutingGraph,
};

fn policy(p: &DirectionPolicy) -> ChannelPolicy {
    ChannelPolicy {
        fee_base_msat: p.fee_base_msat,
        fee_proportional_millionths: p.fee_proportional_millionths,
        cltv_expiry_delta: p.cltv_expiry_delta,
        htlc_minimum_msat: Msat(p.htlc_minimum_msat),
        htlc_maximum_msat: Msat(p.htlc_maximum_msat),
        disabled: p.is_disabled(),
    }
}

/// The policy of direction `dir` (0: out of `node_id_1`), if routable.
fn routable(c: &ChannelInfo, dir: u8) -> Option<ChannelPolicy> {
    if !c.is_routable(dir) {
        return None;
    }
    c.direction(dir).map(policy)
}

fn capacity(c: &ChannelInfo) -> Option<Msat> {
    c.capacity_sat().map(|sat| Msat(sat.saturating_mul(1000)))
}

/// The iterator [`RoutingGraph::adjacent`] returns for a [`GraphStore`].
#[derive(Debug)]
pub struct GossipAdjacent<'a> {
    store: &'a GraphStore,
    node: NodeIdx,
    channels: core::slice::Iter<'a, ChannelIdx>,
}

impl Iterator for GossipAdjacent<'_> {
    type Item = AdjacentChannel;

    fn next(&mut self) -> Option<AdjacentChannel> {
        for idx in self.channels.by_ref() {
            let Some(c) = self.store.channel(*idx) else {
                continue;
            };
            let Some(other) = c.other_end(self.node) else {
                continue;
            };
            // A payment from `other` into `node` leaves `other`: the
            // direction whose origin is `other`.
            let inbound_bit = u8::from(other != c.node_one());
            return Some(AdjacentChannel {
                scid: c.scid(),
                other: NodeIndex(other.0),
                capacity: capacity(c),
                inbound_direction: Direction::from_bit(inbound_bit),
                inbound: routable(c, inbound_bit),
                outbound: routable(c, 1 - inbound_bit),
            });
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.channels.len()))
    }
}

impl RoutingGraph for GraphStore {
    type Adjacent<'a> = GossipAdjacent<'a>;

    /// The node slots: indices of removed nodes stay in range and have no
    /// id and no channels.
    fn node_count(&self) -> usize {
        self.node_slots()
    }

    fn node_index(&self, id: &NodeId) -> Option<NodeIndex> {
        let key = id.to_pubkey().ok()?;
        self.node_by_id(&key).map(|i| NodeIndex(i.0))
    }

    fn node_id(&self, index: NodeIndex) -> Option<NodeId> {
        self.node(NodeIdx(index.0))
            .map(|n| NodeId::from_pubkey(n.node_id()))
    }

    fn adjacent(&self, node: NodeIndex) -> GossipAdjacent<'_> {
        let idx = NodeIdx(node.0);
        GossipAdjacent {
            store: self,
            node: idx,
            channels: self.node(idx).map_or(&[][..], |n| n.channels()).iter(),
        }
    }

    fn channel(&self, scid: ShortChannelId) -> Option<ChannelView> {
        let c = self.channel(self.channel_by_scid(scid)?)?;
        Some(ChannelView {
            node_1: NodeIndex(c.node_one().0),
            node_2: NodeIndex(c.node_two().0),
            capacity: capacity(c),
            from_node_1: routable(c, 0),
            from_node_2: routable(c, 1),
        })
    }
}

impl RoutingGraph for NetworkGraph {
    type Adjacent<'a> = GossipAdjacent<'a>;

    fn node_count(&self) -> usize {
        RoutingGraph::node_count(self.store())
    }

    fn node_index(&self, id: &NodeId) -> Option<NodeIndex> {
        RoutingGraph::node_index(self.store(), id)
    }

    fn node_id(&self, index: NodeIndex) -> Option<NodeId> {
        RoutingGraph::node_id(self.store(), index)
    }

    fn adjacent(&self, node: NodeIndex) -> GossipAdjacent<'_> {
        RoutingGraph::adjacent(self.store(), node)
    }

    fn channel(&self, scid: ShortChannelId) -> Option<ChannelView> {
        RoutingGraph::channel(self.store(), scid)
    }
}
