//! The graph's compact storage and its read API.
//!
//! Nodes and channels live in two vectors and are named by dense indices
//! ([`NodeIdx`], [`ChannelIdx`]) that stay valid until the entry is
//! removed (a freed slot is reused later). A node lists its channels as
//! indices, so a path search walks adjacency without a hash lookup per
//! edge, and can keep its own per-node or per-channel state in plain
//! vectors of [`GraphStore::node_slots`] / [`GraphStore::channel_slots`].
//!
//! Per channel, what routing reads (`short_channel_id`, the two nodes,
//! capacity, both directions' policies: 96 bytes) is kept apart from what
//! only relaying reads (the six signatures and the two funding keys that
//! rebuild the messages byte for byte), so a search touches only the first.
//! Rare variable-length data (channel features, unknown TLV records) sits
//! in a side table keyed by channel index.

use std::collections::{BTreeMap, HashMap};

use lightning_wire::features::Feature;
use lightning_wire::msgs::NodeAnnouncement;
use lightning_wire::types::ShortChannelId;
use secp256k1::PublicKey;

/// A node's index in the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeIdx(pub u32);

/// A channel's index in the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelIdx(pub u32);

/// One direction's relay policy, from its latest `channel_update` (BOLT 7,
/// "The `channel_update` Message"). A `timestamp` of 0 means no update was
/// received (the origin "MUST set `timestamp` to greater than 0").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DirectionPolicy {
    /// `timestamp` of the update.
    pub timestamp: u32,
    /// `message_flags` (bit 1: `dont_forward`).
    pub message_flags: u8,
    /// `channel_flags` (bit 0: direction, bit 1: `disable`).
    pub channel_flags: u8,
    /// `cltv_expiry_delta`.
    pub cltv_expiry_delta: u16,
    /// `htlc_minimum_msat`.
    pub htlc_minimum_msat: u64,
    /// `htlc_maximum_msat`.
    pub htlc_maximum_msat: u64,
    /// `fee_base_msat`.
    pub fee_base_msat: u32,
    /// `fee_proportional_millionths`.
    pub fee_proportional_millionths: u32,
}

impl DirectionPolicy {
    /// Whether the `disable` bit is set.
    pub fn is_disabled(&self) -> bool {
        self.channel_flags & 2 != 0
    }
}

pub(crate) const FLAG_LIVE: u8 = 1;
pub(crate) const FLAG_UNKNOWN_REQUIRED_FEATURES: u8 = 2;
pub(crate) const FLAG_CLOSED: u8 = 4;

/// Capacity not known (the funding lookup was skipped).
const NO_CAPACITY: u64 = u64::MAX;

/// What routing reads of one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelInfo {
    scid: u64,
    node_one: u32,
    node_two: u32,
    capacity_sat: u64,
    pub(crate) dirs: [DirectionPolicy; 2],
    /// Our clock when the announcement was accepted (seconds).
    pub(crate) added: u32,
    pub(crate) flags: u8,
}

impl ChannelInfo {
    pub(crate) fn new(
        scid: ShortChannelId,
        one: NodeIdx,
        two: NodeIdx,
        capacity: Option<u64>,
        added: u32,
    ) -> Self {
        ChannelInfo {
            scid: scid.0,
            node_one: one.0,
            node_two: two.0,
            capacity_sat: capacity.unwrap_or(NO_CAPACITY),
            dirs: [DirectionPolicy::default(); 2],
            added,
            flags: FLAG_LIVE,
        }
    }

    /// The channel's `short_channel_id`.
    pub fn scid(&self) -> ShortChannelId {
        ShortChannelId(self.scid)
    }

    /// `node_id_1`'s index.
    pub fn node_one(&self) -> NodeIdx {
        NodeIdx(self.node_one)
    }

    /// `node_id_2`'s index.
    pub fn node_two(&self) -> NodeIdx {
        NodeIdx(self.node_two)
    }

    /// The other end, seen from `from` (`None` if `from` is neither end).
    pub fn other_end(&self, from: NodeIdx) -> Option<NodeIdx> {
        if from.0 == self.node_one {
            Some(NodeIdx(self.node_two))
        } else if from.0 == self.node_two {
            Some(NodeIdx(self.node_one))
        } else {
            None
        }
    }

    /// The funding output's amount, if the funding was looked up.
    pub fn capacity_sat(&self) -> Option<u64> {
        (self.capacity_sat != NO_CAPACITY).then_some(self.capacity_sat)
    }

    /// The policy of the direction whose origin is `node_id_1` (0) or
    /// `node_id_2` (1), if an update was received.
    pub fn direction(&self, dir: u8) -> Option<&DirectionPolicy> {
        let p = &self.dirs[usize::from(dir & 1)];
        (p.timestamp != 0).then_some(p)
    }

    /// The policy for leaving `from` over this channel, if any.
    pub fn direction_from(&self, from: NodeIdx) -> Option<&DirectionPolicy> {
        if from.0 == self.node_one {
            self.direction(0)
        } else if from.0 == self.node_two {
            self.direction(1)
        } else {
            None
        }
    }

    /// The announcement had an unknown even feature bit: BOLT 7 "MUST NOT
    /// attempt to route messages through the channel".
    pub fn has_unknown_required_features(&self) -> bool {
        self.flags & FLAG_UNKNOWN_REQUIRED_FEATURES != 0
    }

    /// The funding output is spent; the channel is forgotten after the
    /// close delay.
    pub fn is_closed(&self) -> bool {
        self.flags & FLAG_CLOSED != 0
    }

    /// Whether a payment may be routed out of the direction `dir`: it has
    /// an update, is not disabled, the channel is not closed and has no
    /// unknown required feature, and `htlc_maximum_msat` is at least
    /// `htlc_minimum_msat` and at most the capacity (BOLT 7: otherwise
    /// "SHOULD ignore this channel during route considerations").
    pub fn is_routable(&self, dir: u8) -> bool {
        if self.flags & (FLAG_UNKNOWN_REQUIRED_FEATURES | FLAG_CLOSED) != 0 {
            return false;
        }
        let Some(p) = self.direction(dir) else {
            return false;
        };
        let within_capacity = match self.capacity_sat() {
            Some(sat) => p.htlc_maximum_msat <= sat.saturating_mul(1000),
            None => true,
        };
        !p.is_disabled() && p.htlc_maximum_msat >= p.htlc_minimum_msat && within_capacity
    }

    pub(crate) fn is_live(&self) -> bool {
        self.flags & FLAG_LIVE != 0
    }
}

/// Per-direction budget of accepted updates (a token bucket on our clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RateState {
    pub(crate) tokens: u8,
    pub(crate) last_refill: u32,
}

/// What only relaying reads: enough to rebuild the announcement and the
/// latest updates byte for byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChannelProof {
    /// `node_signature_1`, `node_signature_2`, `bitcoin_signature_1`,
    /// `bitcoin_signature_2`, compact.
    pub(crate) sigs: [[u8; 64]; 4],
    /// `bitcoin_key_1`, `bitcoin_key_2`, compressed.
    pub(crate) bitcoin_keys: [[u8; 33]; 2],
    /// The latest update's signature per direction.
    pub(crate) update_sigs: [[u8; 64]; 2],
    pub(crate) rate: [RateState; 2],
}

impl Default for ChannelProof {
    fn default() -> Self {
        ChannelProof {
            sigs: [[0; 64]; 4],
            bitcoin_keys: [[0; 33]; 2],
            update_sigs: [[0; 64]; 2],
            rate: [RateState::default(); 2],
        }
    }
}

/// Kinds of side-table entries.
pub(crate) const EXTRA_FEATURES: u8 = 0;
pub(crate) const EXTRA_ANN_TLVS: u8 = 1;
/// `EXTRA_UPDATE_TLVS + dir`.
pub(crate) const EXTRA_UPDATE_TLVS: u8 = 2;

/// One node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    key: PublicKey,
    pub(crate) channels: Vec<ChannelIdx>,
    pub(crate) announcement: Option<Box<NodeAnnouncement>>,
    pub(crate) rate: RateState,
}

impl NodeInfo {
    /// The node id.
    pub fn node_id(&self) -> &PublicKey {
        &self.key
    }

    /// The node's channels.
    pub fn channels(&self) -> &[ChannelIdx] {
        &self.channels
    }

    /// The latest accepted `node_announcement`, if any.
    pub fn announcement(&self) -> Option<&NodeAnnouncement> {
        self.announcement.as_deref()
    }

    /// The node announced an even feature bit that BOLT 9 does not define
    /// (BOLT 7, `node_announcement`: "if `features` field contains
    /// _unknown even bits_: ... MUST NOT route a payment _through_ the
    /// node"). A router skips such nodes as hops.
    pub fn has_unknown_required_features(&self) -> bool {
        self.announcement.as_ref().is_some_and(|a| {
            a.features
                .bits()
                .any(|b| b % 2 == 0 && Feature::from_bit(b).is_none())
        })
    }
}

/// The storage: nodes, channels, their indices.
///
/// ```
/// use lightning_gossip::{GraphConfig, NetworkGraph};
/// use lightning_test_support::gossip::{Generator, SyntheticConfig};
///
/// let net = Generator::new(4, SyntheticConfig::small(10, 20)).generate();
/// let mut graph = NetworkGraph::new(GraphConfig::new(net.chain_hash));
/// for a in &net.channel_announcements {
///     graph.handle_channel_announcement(a, Some(&net.utxos), net.now).unwrap();
/// }
/// for u in &net.channel_updates {
///     graph.handle_channel_update(u, net.now).unwrap();
/// }
/// // A router's walk: per-node state in a vector, neighbours by index.
/// let mut cheapest_base = vec![u32::MAX; graph.node_slots()];
/// let (start, _) = graph.nodes().next().unwrap();
/// for c in graph.node(start).unwrap().channels() {
///     let ch = graph.channel(*c).unwrap();
///     let next = ch.other_end(start).unwrap();
///     if let Some(policy) = ch.direction_from(start) {
///         let slot = &mut cheapest_base[next.0 as usize];
///         *slot = (*slot).min(policy.fee_base_msat);
///     }
/// }
/// assert!(cheapest_base.iter().any(|f| *f != u32::MAX));
/// ```
#[derive(Debug, Default, Clone)]
pub struct GraphStore {
    pub(crate) channels: Vec<ChannelInfo>,
    pub(crate) proofs: Vec<ChannelProof>,
    pub(crate) extras: HashMap<(u32, u8), Box<[u8]>>,
    free_channels: Vec<u32>,
    pub(crate) by_scid: BTreeMap<u64, u32>,
    pub(crate) nodes: Vec<Option<NodeInfo>>,
    free_nodes: Vec<u32>,
    pub(crate) by_node: HashMap<[u8; 33], u32>,
    live_channels: usize,
    live_nodes: usize,
}

impl GraphStore {
    /// Channels held.
    pub fn channel_count(&self) -> usize {
        self.live_channels
    }

    /// Nodes held.
    pub fn node_count(&self) -> usize {
        self.live_nodes
    }

    /// One more than the highest channel index in use: size a per-channel
    /// vector with this.
    pub fn channel_slots(&self) -> usize {
        self.channels.len()
    }

    /// One more than the highest node index in use.
    pub fn node_slots(&self) -> usize {
        self.nodes.len()
    }

    /// The channel at `idx`, if live.
    pub fn channel(&self, idx: ChannelIdx) -> Option<&ChannelInfo> {
        self.channels.get(idx.0 as usize).filter(|c| c.is_live())
    }

    /// The node at `idx`, if live.
    pub fn node(&self, idx: NodeIdx) -> Option<&NodeInfo> {
        self.nodes.get(idx.0 as usize).and_then(Option::as_ref)
    }

    /// The index of a channel by `short_channel_id`.
    pub fn channel_by_scid(&self, scid: ShortChannelId) -> Option<ChannelIdx> {
        self.by_scid.get(&scid.0).map(|i| ChannelIdx(*i))
    }

    /// The index of a node by id.
    pub fn node_by_id(&self, id: &PublicKey) -> Option<NodeIdx> {
        self.by_node.get(&id.serialize()).map(|i| NodeIdx(*i))
    }

    /// Every live channel, in index order.
    pub fn channels(&self) -> impl Iterator<Item = (ChannelIdx, &ChannelInfo)> + '_ {
        self.channels
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_live())
            .map(|(i, c)| (ChannelIdx(i as u32), c))
    }

    /// Every live node, in index order.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeIdx, &NodeInfo)> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (NodeIdx(i as u32), n)))
    }

    /// Channels with `short_channel_id` in `range`, ascending.
    pub fn scids_in(
        &self,
        range: impl std::ops::RangeBounds<u64>,
    ) -> impl Iterator<Item = (ShortChannelId, ChannelIdx)> + '_ {
        self.by_scid
            .range(range)
            .map(|(s, i)| (ShortChannelId(*s), ChannelIdx(*i)))
    }

    /// Makes room for `nodes` more nodes and `channels` more channels.
    pub(crate) fn reserve(&mut self, nodes: usize, channels: usize) {
        self.nodes.reserve_exact(nodes);
        self.by_node.reserve(nodes);
        self.channels.reserve_exact(channels);
        self.proofs.reserve_exact(channels);
    }

    /// Releases spare capacity (vector doubling, emptied slots' lists):
    /// worth calling after an initial sync.
    pub fn shrink_to_fit(&mut self) {
        self.channels.shrink_to_fit();
        self.proofs.shrink_to_fit();
        self.nodes.shrink_to_fit();
        self.by_node.shrink_to_fit();
        self.extras.shrink_to_fit();
        for node in self.nodes.iter_mut().flatten() {
            node.channels.shrink_to_fit();
        }
    }

    pub(crate) fn get_or_add_node(&mut self, key: &PublicKey) -> NodeIdx {
        let id = key.serialize();
        if let Some(i) = self.by_node.get(&id) {
            return NodeIdx(*i);
        }
        let info = NodeInfo {
            key: *key,
            channels: Vec::new(),
            announcement: None,
            rate: RateState::default(),
        };
        let idx = match self.free_nodes.pop() {
            Some(i) => {
                self.nodes[i as usize] = Some(info);
                i
            }
            None => {
                self.nodes.push(Some(info));
                (self.nodes.len() - 1) as u32
            }
        };
        self.by_node.insert(id, idx);
        self.live_nodes += 1;
        NodeIdx(idx)
    }

    pub(crate) fn add_channel(&mut self, info: ChannelInfo, proof: ChannelProof) -> ChannelIdx {
        let (one, two, scid) = (info.node_one, info.node_two, info.scid);
        let idx = match self.free_channels.pop() {
            Some(i) => {
                self.channels[i as usize] = info;
                self.proofs[i as usize] = proof;
                i
            }
            None => {
                self.channels.push(info);
                self.proofs.push(proof);
                (self.channels.len() - 1) as u32
            }
        };
        for n in [one, two] {
            if let Some(Some(node)) = self.nodes.get_mut(n as usize) {
                node.channels.push(ChannelIdx(idx));
            }
        }
        self.by_scid.insert(scid, idx);
        self.live_channels += 1;
        ChannelIdx(idx)
    }

    /// Removes a channel, and each end left without channels (BOLT 7,
    /// "Pruning the Network View": "MAY prune nodes added through
    /// `node_announcement` messages").
    pub(crate) fn remove_channel(&mut self, idx: ChannelIdx) -> Option<ChannelInfo> {
        let info = *self.channel(idx)?;
        self.channels[idx.0 as usize].flags = 0;
        self.proofs[idx.0 as usize] = ChannelProof::default();
        for kind in 0..4u8 {
            self.extras.remove(&(idx.0, kind));
        }
        self.by_scid.remove(&info.scid);
        self.free_channels.push(idx.0);
        self.live_channels -= 1;
        for n in [info.node_one, info.node_two] {
            let empty = match self.nodes.get_mut(n as usize) {
                Some(Some(node)) => {
                    node.channels.retain(|c| *c != idx);
                    node.channels.is_empty()
                }
                _ => false,
            };
            if empty {
                self.remove_node(NodeIdx(n));
            }
        }
        Some(info)
    }

    fn remove_node(&mut self, idx: NodeIdx) {
        if let Some(slot) = self.nodes.get_mut(idx.0 as usize) {
            if let Some(node) = slot.take() {
                self.by_node.remove(&node.key.serialize());
                self.free_nodes.push(idx.0);
                self.live_nodes -= 1;
            }
        }
    }

    pub(crate) fn node_mut(&mut self, idx: NodeIdx) -> Option<&mut NodeInfo> {
        self.nodes.get_mut(idx.0 as usize).and_then(Option::as_mut)
    }

    pub(crate) fn channel_mut(&mut self, idx: ChannelIdx) -> Option<&mut ChannelInfo> {
        self.channels
            .get_mut(idx.0 as usize)
            .filter(|c| c.is_live())
    }

    pub(crate) fn proof(&self, idx: ChannelIdx) -> Option<&ChannelProof> {
        self.channel(idx)?;
        self.proofs.get(idx.0 as usize)
    }

    pub(crate) fn proof_mut(&mut self, idx: ChannelIdx) -> Option<&mut ChannelProof> {
        self.channel(idx)?;
        self.proofs.get_mut(idx.0 as usize)
    }

    pub(crate) fn set_extra(&mut self, idx: ChannelIdx, kind: u8, bytes: &[u8]) {
        if bytes.is_empty() {
            self.extras.remove(&(idx.0, kind));
        } else {
            self.extras.insert((idx.0, kind), bytes.into());
        }
    }

    pub(crate) fn extra(&self, idx: ChannelIdx, kind: u8) -> &[u8] {
        self.extras.get(&(idx.0, kind)).map_or(&[], |b| &b[..])
    }

    /// Checks the storage's internal invariants (for fuzzing and tests):
    /// every live channel is in the `short_channel_id` index and in both
    /// ends' lists, whose ends are live and ordered; every listed channel is
    /// live; counts match. `Err` names the first broken one.
    ///
    /// ```
    /// let store = lightning_gossip::GraphStore::default();
    /// assert_eq!(store.check_consistency(), Ok(()));
    /// ```
    pub fn check_consistency(&self) -> Result<(), &'static str> {
        let mut live = 0;
        for (idx, c) in self.channels() {
            live += 1;
            if self.by_scid.get(&c.scid) != Some(&idx.0) {
                return Err("channel missing from the scid index");
            }
            let (Some(a), Some(b)) = (self.node(c.node_one()), self.node(c.node_two())) else {
                return Err("channel end not live");
            };
            if a.key.serialize() >= b.key.serialize() {
                return Err("channel ends out of order");
            }
            if !a.channels.contains(&idx) || !b.channels.contains(&idx) {
                return Err("channel missing from an end's list");
            }
        }
        if live != self.live_channels || self.by_scid.len() != live {
            return Err("channel count mismatch");
        }
        let mut nodes = 0;
        for (idx, n) in self.nodes() {
            nodes += 1;
            if self.by_node.get(&n.key.serialize()) != Some(&idx.0) {
                return Err("node missing from the id index");
            }
            if n.channels.is_empty() {
                return Err("node without channels");
            }
            for c in &n.channels {
                match self.channel(*c) {
                    Some(ch) if ch.other_end(idx).is_some() => {}
                    _ => return Err("node lists a channel that is not its own"),
                }
            }
            if let Some(a) = &n.announcement {
                if a.node_id != n.key {
                    return Err("node announcement of another node");
                }
            }
        }
        if nodes != self.live_nodes || self.by_node.len() != nodes {
            return Err("node count mismatch");
        }
        Ok(())
    }

    /// Heap and inline bytes the storage holds (an estimate from
    /// capacities, for the memory report; hash and tree node overheads are
    /// approximated by their entry sizes plus one pointer).
    pub fn approx_bytes(&self) -> usize {
        use std::mem::size_of;
        let mut n = self.channels.capacity() * size_of::<ChannelInfo>()
            + self.proofs.capacity() * size_of::<ChannelProof>()
            + self.nodes.capacity() * size_of::<Option<NodeInfo>>()
            + self.free_channels.capacity() * 4
            + self.free_nodes.capacity() * 4;
        n += self.by_scid.len() * (8 + 4 + 8);
        n += self.by_node.capacity() * (33 + 4 + 1 + 2);
        for ((_, _), v) in &self.extras {
            n += 5 + 16 + v.len();
        }
        for (_, node) in self.nodes() {
            n += node.channels.capacity() * size_of::<ChannelIdx>();
            if let Some(a) = &node.announcement {
                n += size_of::<NodeAnnouncement>()
                    + a.features.as_be_bytes().len()
                    + a.addresses.addresses.len() * 40
                    + a.addresses.unparsed.len();
            }
        }
        n
    }
}
