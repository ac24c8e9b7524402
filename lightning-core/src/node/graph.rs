//! The node's view of the public network (BOLT 7): a validated
//! [`NetworkGraph`] fed by its peers' gossip and by our own announcements,
//! and a [`GossipSync`] that answers the peers' queries, relays new gossip
//! to the peers that asked for it, and syncs from them on connection.
//!
//! - Peers' gossip (`channel_announcement`, `channel_update`,
//!   `node_announcement`, `gossip_timestamp_filter`, the query and reply
//!   messages) goes to the sync machine, which validates it into the graph
//!   (funding outputs through the host's [`UtxoLookup`] given to
//!   [`NodeBuilder::utxo_lookup`](super::NodeBuilder::utxo_lookup); without
//!   one, the light-client way: no funding check, capacities unknown). A
//!   peer that misbehaves (an invalid signature, overlapping queries, too
//!   many queries) gets a `warning` and is disconnected (BOLT 7: "SHOULD
//!   send a `warning`", "MAY close the connection"); a broken reply or
//!   query gets a `warning` only.
//! - What goes out to a peer (our `gossip_timestamp_filter` and queries,
//!   answers, relayed gossip) is drawn from the sync machine lazily, a few
//!   messages at a time and only while that peer's queue in the node is
//!   empty and its connection holds little: a peer asking for the whole
//!   graph costs a cursor, not a copy of the graph in our queues.
//! - On connection ([`PeerEvent::Connected`](crate::peer::PeerEvent)):
//!   full sync (`query_channel_range` over every block) from the first
//!   [`NetworkGraphConfig::full_sync_peers`] peers offering
//!   `gossip_queries`, recent gossip only from the others (their filter
//!   starts [`NetworkGraphConfig::recent_window`] ago).
//! - Channels closed on chain leave the graph 12 blocks after their
//!   funding spend (`graph_closing`).
//! - The graph is saved under [`GRAPH_KEY`] at most once per
//!   [`NetworkGraphConfig::snapshot_interval`] when it changed, and loaded
//!   by [`NodeBuilder::build`](super::NodeBuilder::build); a damaged
//!   snapshot is dropped (the graph resyncs; no funds depend on it).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use lightning_gossip::sync::{GossipSync, PeerStats, SyncConfig, SyncError};
use lightning_gossip::{
    snapshot, AnnouncementOutcome, GraphConfig, NetworkGraph, UpdateOutcome, UtxoAnswer, UtxoLookup,
};
use lightning_persist::KvStore;
use lightning_router::{ProbabilisticScorer, Router, ScorerParams};
use lightning_wire::features::InitFeatures;
use lightning_wire::msgs::{Message, Warning};
use lightning_wire::types::{ChainHash, ChannelId, ShortChannelId};

use super::graph_closing::FundingLog;
use super::{Node, NodeError, NAMESPACE};
use crate::peer::PeerId;

/// The node's key (namespace [`NAMESPACE`]) of the graph snapshot
/// (`lightning_gossip::snapshot`'s format).
pub const GRAPH_KEY: &str = "gossip/graph";
/// The node's key of the router's scorer (`ProbabilisticScorer::encode`).
pub const SCORER_KEY: &str = "router/scorer";

/// Messages drawn from the sync machine for one peer at a time, when the
/// node holds nothing else for it.
const PUMP_BATCH: usize = 32;
/// ... and while its connection holds less than this many bytes.
const PUMP_MAX_QUEUED_BYTES: usize = 256 * 1024;

/// The node's public graph and gossip sync
/// ([`NodeConfig::network_graph`](super::NodeConfig::network_graph)).
///
/// ```
/// use std::time::Duration;
/// use lightning_core::node::{NetworkGraphConfig, NodeConfig};
/// let mut config = NodeConfig::new(bitcoin::Network::Regtest);
/// assert!(config.network_graph.enabled);
/// // A node that neither holds nor syncs the graph (it still routes to its
/// // peers and through invoice route hints).
/// config.network_graph = NetworkGraphConfig { enabled: false, ..NetworkGraphConfig::default() };
/// # let _ = Duration::ZERO;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkGraphConfig {
    /// Hold the graph, take gossip from peers and sync (default `true`).
    /// Off, gossip from peers is dropped and `gossip_queries` is not
    /// offered in `init`.
    pub enabled: bool,
    /// Peers we fully sync from (default 3).
    pub full_sync_peers: usize,
    /// How far back the other peers' filters reach (default one hour).
    pub recent_window: Duration,
    /// At most one graph snapshot (and one scorer write) per this
    /// interval, and only when it changed (default 10 minutes).
    pub snapshot_interval: Duration,
    /// How often stale channels are pruned (BOLT 7, two weeks without an
    /// update; default one hour).
    pub prune_interval: Duration,
    /// Most channels held (default 500,000).
    pub max_channels: usize,
    /// Most nodes held (default 200,000).
    pub max_nodes: usize,
    /// With a light client's [`WatchFilter`](lightning_chain::WatchFilter)
    /// set ([`Node::set_watch_filter`]), register with it the funding
    /// output of every public channel the host's `UtxoLookup` reveals, so
    /// that its spend is reported and the channel pruned (default `true`;
    /// off, only our own channels' spends are seen and the others go by
    /// the two-week staleness rule). Each is one more output for the host
    /// to watch.
    pub watch_funding_outputs: bool,
    /// New gossip is relayed to the peers that asked for it in batches,
    /// one per this interval (BOLT 7 staggered broadcast; default 60 s,
    /// whole seconds).
    pub relay_interval: Duration,
}

impl Default for NetworkGraphConfig {
    fn default() -> Self {
        NetworkGraphConfig {
            enabled: true,
            full_sync_peers: 3,
            recent_window: Duration::from_secs(3_600),
            snapshot_interval: Duration::from_secs(600),
            prune_interval: Duration::from_secs(3_600),
            max_channels: 500_000,
            max_nodes: 200_000,
            watch_funding_outputs: true,
            relay_interval: Duration::from_secs(60),
        }
    }
}

impl NetworkGraphConfig {
    fn graph_config(&self, chain_hash: ChainHash) -> GraphConfig {
        let mut g = GraphConfig::new(chain_hash);
        g.max_channels = self.max_channels;
        g.max_nodes = self.max_nodes;
        g
    }

    fn sync_config(&self, chain_hash: ChainHash) -> SyncConfig {
        let mut s = SyncConfig::new(chain_hash);
        s.full_sync_peers = self.full_sync_peers;
        s.recent_window_secs = u32::try_from(self.recent_window.as_secs()).unwrap_or(u32::MAX);
        s.flush_interval_secs = u32::try_from(self.relay_interval.as_secs()).unwrap_or(u32::MAX);
        s
    }
}

/// The graph and the sync, when enabled.
pub(super) struct GraphParts {
    pub(super) graph: NetworkGraph,
    sync: GossipSync,
    utxo: Option<Arc<dyn UtxoLookup + Send + Sync>>,
    /// Connections registered with `sync`.
    peers: usize,
    /// Connections the sync machine may have messages for (registered,
    /// sent us something, or a relay flush happened since it last had
    /// none): the only ones [`Node::pump_gossip`] visits.
    active: BTreeSet<u64>,
    pub(super) dirty: bool,
    /// Funding spends seen since the last snapshot, saved apart under
    /// [`CLOSING_KEY`](super::graph_closing::CLOSING_KEY) (scid → spend height).
    pub(super) closing_log: BTreeMap<u64, u32>,
    /// Full funding outpoints learned since the last snapshot, saved
    /// apart for a light client's filter after a restart
    /// ([`FUNDING_PREFIX`](super::graph_closing::FUNDING_PREFIX)).
    pub(super) funding_log: FundingLog,
    saved_at: Option<Duration>,
    next_prune: Duration,
}

/// The node's public graph state, the router's search memory and the
/// scorer (the last two serve [`Node::find_route`] with or without a
/// graph).
pub(super) struct PublicGraph {
    pub(super) parts: Option<Box<GraphParts>>,
    pub(super) router: Router,
    pub(super) scorer: ProbabilisticScorer,
    pub(super) scorer_dirty: bool,
    scorer_saved_at: Option<Duration>,
    pub(super) config: NetworkGraphConfig,
}

impl core::fmt::Debug for PublicGraph {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut d = f.debug_struct("PublicGraph");
        if let Some(p) = &self.parts {
            d.field("channels", &p.graph.channel_count())
                .field("nodes", &p.graph.node_count())
                .field("utxo_lookup", &p.utxo.is_some());
        }
        d.field("scorer_entries", &self.scorer.len())
            .finish_non_exhaustive()
    }
}

impl PublicGraph {
    pub(super) fn new(config: &NetworkGraphConfig, chain_hash: ChainHash) -> Self {
        let parts = config.enabled.then(|| {
            Box::new(GraphParts {
                graph: NetworkGraph::new(config.graph_config(chain_hash)),
                sync: GossipSync::new(config.sync_config(chain_hash)),
                utxo: None,
                peers: 0,
                active: BTreeSet::new(),
                dirty: false,
                closing_log: BTreeMap::new(),
                funding_log: FundingLog::default(),
                saved_at: None,
                next_prune: Duration::ZERO,
            })
        });
        PublicGraph {
            parts,
            router: Router::new(),
            scorer: ProbabilisticScorer::new(ScorerParams::default()),
            scorer_dirty: false,
            scorer_saved_at: None,
            config: config.clone(),
        }
    }
}

/// Whether `m` is for the graph and its sync (BOLT 7).
pub(super) fn is_gossip(m: &Message) -> bool {
    matches!(
        m,
        Message::ChannelAnnouncement(_)
            | Message::ChannelUpdate(_)
            | Message::NodeAnnouncement(_)
            | Message::QueryShortChannelIds(_)
            | Message::ReplyShortChannelIdsEnd(_)
            | Message::QueryChannelRange(_)
            | Message::ReplyChannelRange(_)
            | Message::GossipTimestampFilter(_)
    )
}

impl Node {
    fn unix_secs(&self) -> u64 {
        self.now.as_secs()
    }

    /// The public graph, if the node holds one
    /// ([`NetworkGraphConfig::enabled`]): counts, channels, nodes and their
    /// announcements, for a `describegraph`-like view.
    ///
    /// ```
    /// # fn f(node: &lightning_core::node::Node) {
    /// if let Some(g) = node.network_graph() {
    ///     println!("{} channels, {} nodes", g.channel_count(), g.node_count());
    /// }
    /// # }
    /// ```
    pub fn network_graph(&self) -> Option<&NetworkGraph> {
        self.public_graph.parts.as_ref().map(|p| &p.graph)
    }

    /// What the gossip sync counted for the connection `peer`: messages
    /// applied, ignored, misbehaviour, relay items dropped.
    pub fn gossip_stats(&self, peer: PeerId) -> Option<PeerStats> {
        self.public_graph.parts.as_ref()?.sync.stats(peer.0)
    }

    /// The host's answer to a funding lookup its [`UtxoLookup`] left
    /// [`UtxoAnswer::Pending`]: the waiting `channel_announcement` is
    /// checked and, once it has an update, relayed. Returns whether the
    /// channel was added.
    pub fn resolve_utxo(&mut self, scid: ShortChannelId, answer: UtxoAnswer) -> bool {
        let now = self.unix_secs();
        let Some(p) = self.public_graph.parts.as_mut() else {
            return false;
        };
        match p.graph.resolve_utxo(scid, answer, now) {
            Ok(AnnouncementOutcome::Added { idx, relay }) => {
                p.dirty = true;
                if relay {
                    p.sync.relay_channel(idx);
                }
                self.graph_watch_new_funding();
                let _ = self.finish();
                true
            }
            _ => false,
        }
    }

    /// The host's funding lookup ([`NodeBuilder::utxo_lookup`](super::NodeBuilder::utxo_lookup)).
    pub(super) fn set_utxo_lookup(&mut self, utxo: Arc<dyn UtxoLookup + Send + Sync>) {
        if let Some(p) = self.public_graph.parts.as_mut() {
            p.utxo = Some(utxo);
        }
    }

    /// A connection passed `init`: the sync queues our
    /// `gossip_timestamp_filter` and, for a full-sync peer, our
    /// `query_channel_range` (BOLT 7, "Initial Sync").
    pub(super) fn graph_peer_connected(&mut self, peer: PeerId, their_features: &InitFeatures) {
        let now = self.unix_secs();
        if let Some(p) = self.public_graph.parts.as_mut() {
            p.sync.peer_connected(peer.0, their_features, now);
            p.peers += 1;
            p.active.insert(peer.0);
        }
    }

    pub(super) fn graph_peer_disconnected(&mut self, peer: PeerId) {
        if let Some(p) = self.public_graph.parts.as_mut() {
            if p.sync.stats(peer.0).is_some() {
                p.sync.peer_disconnected(peer.0);
                p.peers = p.peers.saturating_sub(1);
            }
            p.active.remove(&peer.0);
        }
    }

    /// A gossip or gossip-query message from `node_id` ([`is_gossip`]).
    pub(super) fn on_gossip_message(&mut self, node_id: PublicKey, message: &Message) {
        let now = self.unix_secs();
        let Some(peer) = self.peers.peer_for_node(&node_id) else {
            return;
        };
        let Some(p) = self.public_graph.parts.as_mut() else {
            return;
        };
        let before = p.sync.stats(peer.0).map(|s| s.accepted);
        p.active.insert(peer.0);
        let utxo: Option<&dyn UtxoLookup> = match &p.utxo {
            Some(u) => Some(&**u),
            None => None,
        };
        let result = p
            .sync
            .handle_message(peer.0, message, &mut p.graph, utxo, now);
        if p.sync.stats(peer.0).map(|s| s.accepted) != before {
            p.dirty = true;
        }
        self.graph_watch_new_funding();
        let Err(e) = result else {
            self.maybe_save_graph();
            return;
        };
        let close = match &e {
            SyncError::UnknownPeer => return,
            SyncError::Gossip(_) | SyncError::OverlappingQuery(_) | SyncError::QueryRate => true,
            SyncError::BadQuery(_) | SyncError::BadReply(_) => false,
        };
        let warning = Message::Warning(Warning {
            channel_id: ChannelId::ALL,
            data: format!("gossip: {e}").into_bytes(),
            tlvs: Default::default(),
        });
        self.queue_message(node_id, warning);
        if close {
            self.queue_disconnect(node_id);
        }
    }

    /// Our own `channel_announcement`, `channel_update` or
    /// `node_announcement` (from [`Node::poll_gossip`]'s queue) goes into
    /// our graph too, and is relayed to the peers whose filter covers it.
    pub(super) fn graph_own_gossip(&mut self, message: &Message) {
        let now = self.unix_secs();
        let Some(p) = self.public_graph.parts.as_mut() else {
            return;
        };
        let utxo: Option<&dyn UtxoLookup> = match &p.utxo {
            Some(u) => Some(&**u),
            None => None,
        };
        let changed = match message {
            Message::ChannelAnnouncement(m) => {
                let added = p.graph.handle_channel_announcement(m, utxo, now).is_ok();
                // Our own channel's funding outpoint is known without a
                // lookup (a light client has no other way to see its
                // spend); added or already there from the peer's copy.
                let scid = m.short_channel_id;
                let op = self.channels.values().find_map(|e| {
                    let st = e.channel.state();
                    (st.short_channel_id == Some(scid))
                        .then_some(st.funding_outpoint)
                        .flatten()
                });
                let indexed = op.is_some_and(|op| {
                    !p.graph.knows_funding_outpoint(scid, &op)
                        && p.graph.set_funding_outpoint(scid, op)
                });
                added || indexed
            }
            Message::ChannelUpdate(m) => match p.graph.handle_channel_update(m, now) {
                Ok(UpdateOutcome::Applied { idx, relay, .. }) => {
                    if relay {
                        p.sync.relay_channel(idx);
                    }
                    true
                }
                Ok(UpdateOutcome::ZombieRevived(_)) => true,
                Err(_) => false,
            },
            Message::NodeAnnouncement(m) => match p.graph.handle_node_announcement(m, now) {
                Ok(out) => {
                    if out.relay {
                        p.sync.relay_node(out.idx);
                    }
                    true
                }
                Err(_) => false,
            },
            _ => false,
        };
        p.dirty |= changed;
        self.graph_watch_new_funding();
    }

    /// Draws what the sync machine has for each peer (our queries,
    /// answers, relayed gossip) into the node's per-peer queue, a batch
    /// at a time and only while that queue is empty and the connection
    /// holds little (called by [`Node::finish`] before the queues are
    /// flushed).
    pub(super) fn pump_gossip(&mut self) {
        let now = self.unix_secs();
        let Some(p) = self.public_graph.parts.as_mut() else {
            return;
        };
        if p.active.is_empty() {
            return;
        }
        let limit = self.config.max_queued_messages_per_peer;
        let mut idle = Vec::new();
        for &raw in &p.active {
            let peer = PeerId(raw);
            if self.outbox.has_for(peer) || self.peers.queued_bytes(peer) >= PUMP_MAX_QUEUED_BYTES {
                continue;
            }
            let mut drawn = 0;
            while drawn < PUMP_BATCH {
                let Some(m) = p.sync.poll_message(raw, &p.graph, now) else {
                    break;
                };
                self.outbox
                    .push_message(peer, self.writer.barrier(), m, limit);
                drawn += 1;
            }
            if drawn < PUMP_BATCH {
                idle.push(raw);
            }
        }
        for raw in idle {
            p.active.remove(&raw);
        }
    }

    /// Timers: relay flush (every 60 s, BOLT 7), pruning, the snapshot.
    pub(super) fn graph_timeout(&mut self) {
        let now = self.unix_secs();
        let at = self.now;
        let interval = self.public_graph.config.prune_interval;
        if let Some(p) = self.public_graph.parts.as_mut() {
            if now >= p.sync.next_timeout() {
                // The flush may have queued relay items for any peer.
                p.sync.handle_timeout(&p.graph, now);
                let registered: Vec<u64> = self
                    .peers
                    .connected_peers()
                    .map(|(id, _, _)| id.0)
                    .filter(|id| p.sync.stats(*id).is_some())
                    .collect();
                p.active.extend(registered);
            }
            if at >= p.next_prune {
                p.next_prune = at.saturating_add(interval);
                if p.graph.prune_stale(now) > 0 {
                    p.dirty = true;
                }
            }
        }
        self.maybe_save_graph();
    }

    /// When [`Node::graph_timeout`] next has work.
    pub(super) fn graph_next_timeout(&self) -> Option<Duration> {
        let g = &self.public_graph;
        let interval = g.config.snapshot_interval;
        let scorer = (g.scorer_dirty).then(|| {
            g.scorer_saved_at
                .map_or(self.now, |t| t.saturating_add(interval))
        });
        let Some(p) = &g.parts else {
            return scorer;
        };
        let flush = (p.peers > 0).then(|| Duration::from_secs(p.sync.next_timeout()));
        let save = p
            .dirty
            .then(|| p.saved_at.map_or(self.now, |t| t.saturating_add(interval)));
        let prune = (p.graph.channel_count() > 0).then_some(p.next_prune);
        [flush, save, prune, scorer].into_iter().flatten().min()
    }

    /// Writes the graph snapshot and the scorer when they changed and
    /// their last write is [`NetworkGraphConfig::snapshot_interval`] old.
    pub(super) fn maybe_save_graph(&mut self) {
        let at = self.now;
        let interval = self.public_graph.config.snapshot_interval;
        let due = |saved: Option<Duration>| saved.is_none_or(|t| at >= t.saturating_add(interval));
        let graph_bytes = match self.public_graph.parts.as_mut() {
            Some(p) if p.dirty && due(p.saved_at) => {
                p.dirty = false;
                p.saved_at = Some(at);
                // The snapshot holds every spend so far.
                let log_was_empty = std::mem::take(&mut p.closing_log).is_empty();
                Some((snapshot::encode(&p.graph), log_was_empty))
            }
            _ => None,
        };
        if let Some((bytes, log_was_empty)) = graph_bytes {
            // A failed write shows in `persist_failure`.
            let _ = self.writer.write_record(GRAPH_KEY, bytes);
            if !log_was_empty {
                self.save_closing_log();
            }
            self.save_funding_log();
        }
        let g = &mut self.public_graph;
        if g.scorer_dirty && due(g.scorer_saved_at) {
            g.scorer_dirty = false;
            g.scorer_saved_at = Some(at);
            let bytes = g.scorer.encode();
            let _ = self.writer.write_record(SCORER_KEY, bytes);
        }
    }

    /// Loads the graph snapshot and the scorer written by an earlier run.
    /// A damaged record is dropped (the graph resyncs, the scorer learns
    /// again); a store that cannot be read fails the build.
    pub(super) fn restore_public_graph(&mut self, store: &dyn KvStore) -> Result<(), NodeError> {
        let read = |key: &str| {
            store
                .read(NAMESPACE, key)
                .map_err(|e| NodeError::Restore(format!("{key}: {e}")))
        };
        if self.public_graph.parts.is_some() {
            if let Some(v) = read(GRAPH_KEY)? {
                self.writer.set_version(GRAPH_KEY, v.version);
                let config = self
                    .public_graph
                    .config
                    .graph_config(self.config.chain_hash());
                if let (Ok(graph), Some(p)) = (
                    snapshot::decode(&v.value, config),
                    self.public_graph.parts.as_mut(),
                ) {
                    p.graph = graph;
                }
            }
            self.restore_closing_log(store)?;
            self.restore_funding_log(store)?;
        }
        if let Some(v) = read(SCORER_KEY)? {
            self.writer.set_version(SCORER_KEY, v.version);
            let params = *self.public_graph.scorer.params();
            if let Ok(s) = ProbabilisticScorer::decode(&v.value, params) {
                self.public_graph.scorer = s;
            }
        }
        Ok(())
    }
}
