//! Gossip sync with peers (BOLT 7, "Query Messages", "Rebroadcasting"),
//! sans-IO: messages in ([`GossipSync::handle_message`]), messages out
//! ([`GossipSync::poll_message`]), time passed in.
//!
//! - On connection ([`GossipSync::peer_connected`]), the first
//!   [`SyncConfig::full_sync_peers`] peers that offer `gossip_queries` are
//!   asked for everything (`query_channel_range` over all blocks, with
//!   timestamps if they offer `gossip_queries_ex`, then
//!   `query_short_channel_ids` for what we lack or hold older); every peer
//!   gets a `gossip_timestamp_filter`: from now for full-sync peers, from
//!   [`SyncConfig::recent_window_secs`] ago for the others, and the
//!   spec's "nothing" filter (`0xFFFFFFFF`, 0) for peers without
//!   `gossip_queries`.
//! - Peer queries are answered lazily from the graph: a reply is built
//!   only when the host polls, from a cursor, so a peer asking for the
//!   whole history costs a cursor, not a copy of the graph (the LND
//!   `gossip_timestamp_filter` OOM class). One query of each kind at a
//!   time per peer ("MAY close the connection" otherwise), a token bucket
//!   on queries, and at most one historical dump per
//!   [`SyncConfig::min_dump_interval_secs`].
//! - New gossip is relayed to the peers whose filter covers its timestamp,
//!   staged and flushed every [`SyncConfig::flush_interval_secs`] (BOLT 7:
//!   "SHOULD flush outgoing gossip messages once every 60 seconds"), into
//!   a bounded per-peer queue of graph indices (oldest dropped first).

mod fetch;
mod serve;

use std::collections::{HashMap, HashSet, VecDeque};

use lightning_wire::features::{Feature, InitFeatures};
use lightning_wire::msgs::{GossipTimestampFilter, Message};
use lightning_wire::types::ChainHash;

use crate::graph::{AnnouncementOutcome, NetworkGraph, UpdateOutcome};
use crate::store::{ChannelIdx, NodeIdx};
use crate::utxo::UtxoLookup;
use crate::GossipError;

pub use fetch::RangeQueryState;

/// The host's name for a connection.
pub type PeerId = u64;

/// Limits and policy of [`GossipSync`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    /// The chain.
    pub chain_hash: ChainHash,
    /// Peers we fully sync from.
    pub full_sync_peers: usize,
    /// How far back the other peers' filters reach.
    pub recent_window_secs: u32,
    /// Relay items queued per peer before the oldest are dropped.
    pub max_relay_queue: usize,
    /// Short channel ids per `query_short_channel_ids` we send.
    pub query_batch: usize,
    /// Short channel ids we may want at once from one peer's range
    /// replies; more are dropped (and asked for from another peer later).
    pub max_wanted: usize,
    /// Short channel ids a peer's range replies may carry in total.
    pub max_range_reply_scids: usize,
    /// Reply messages a range query of ours may take.
    pub max_range_replies: usize,
    /// Queries a peer may send in a burst.
    pub query_burst: u32,
    /// Seconds to earn one more query.
    pub query_refill_secs: u32,
    /// Seconds between two historical dumps for one peer.
    pub min_dump_interval_secs: u32,
    /// Seconds between relay flushes.
    pub flush_interval_secs: u32,
}

impl SyncConfig {
    /// Defaults for `chain_hash`.
    pub fn new(chain_hash: ChainHash) -> Self {
        SyncConfig {
            chain_hash,
            full_sync_peers: 3,
            recent_window_secs: 3_600,
            max_relay_queue: 20_000,
            query_batch: 1_000,
            max_wanted: 200_000,
            max_range_reply_scids: 1_000_000,
            max_range_replies: 10_000,
            query_burst: 20,
            query_refill_secs: 3,
            min_dump_interval_secs: 600,
            flush_interval_secs: 60,
        }
    }
}

/// A peer broke the query protocol or sent invalid gossip: BOLT 7 allows a
/// `warning` and closing the connection; the host decides.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// The peer is not registered ([`GossipSync::peer_connected`]).
    #[error("unknown peer")]
    UnknownPeer,
    /// Invalid gossip (bad signature, wrong node order).
    #[error("invalid gossip: {0}")]
    Gossip(GossipError),
    /// A second query of a kind before the first was answered (BOLT 7:
    /// "if it has not sent all `reply_channel_range` ...: MAY send a
    /// `warning`. MAY close the connection").
    #[error("overlapping {0}")]
    OverlappingQuery(&'static str),
    /// A malformed query: unknown encoding, flags not one per id.
    #[error("bad query: {0}")]
    BadQuery(&'static str),
    /// A reply we did not ask for, out of order or out of range.
    #[error("bad reply: {0}")]
    BadReply(&'static str),
    /// Too many queries.
    #[error("query rate exceeded")]
    QueryRate,
}

/// One thing to relay, by graph index; the message is rebuilt when sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RelayItem {
    Announcement(ChannelIdx),
    Update(ChannelIdx, u8),
    Node(NodeIdx),
}

/// Counters of what a peer sent and what we did with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Gossip messages applied to the graph.
    pub accepted: u64,
    /// Gossip messages ignored (stale, duplicate, unknown, ...).
    pub ignored: u64,
    /// Misbehaviour (invalid signatures, protocol violations).
    pub misbehaved: u64,
    /// Relay items dropped because the peer's queue was full.
    pub relay_dropped: u64,
}

/// The state of one peer.
#[derive(Debug)]
pub(crate) struct PeerState {
    pub(crate) queries: bool,
    pub(crate) full_sync: bool,
    /// Control messages (our queries, reply ends).
    pub(crate) control: VecDeque<Message>,
    pub(crate) fetch: fetch::FetchState,
    pub(crate) serve: serve::ServeState,
    /// Their filter: `[first, end)`.
    pub(crate) filter: Option<(u32, u64)>,
    pub(crate) relay: VecDeque<RelayItem>,
    pub(crate) stats: PeerStats,
    pub(crate) query_tokens: u32,
    pub(crate) query_refill_at: u64,
}

/// The gossip sync state machine over all peers.
///
/// ```
/// use lightning_gossip::sync::{GossipSync, SyncConfig};
/// use lightning_test_support::gossip::{Generator, SyntheticConfig};
/// use lightning_gossip::{GraphConfig, NetworkGraph};
/// use lightning_wire::features::{Feature, InitFeatures};
///
/// // Peer 1 holds a network; peer 2 starts empty and syncs from it.
/// let net = Generator::new(9, SyntheticConfig::small(10, 15)).generate();
/// let mut full = NetworkGraph::new(GraphConfig::new(net.chain_hash));
/// for a in &net.channel_announcements {
///     full.handle_channel_announcement(a, Some(&net.utxos), net.now).unwrap();
/// }
/// for u in &net.channel_updates {
///     full.handle_channel_update(u, net.now).unwrap();
/// }
/// let mut empty = NetworkGraph::new(GraphConfig::new(net.chain_hash));
/// let mut features = InitFeatures::empty();
/// features.set_optional(Feature::GossipQueries);
/// let (mut a, mut b) = (
///     GossipSync::new(SyncConfig::new(net.chain_hash)),
///     GossipSync::new(SyncConfig::new(net.chain_hash)),
/// );
/// a.peer_connected(1, &features, net.now);
/// b.peer_connected(2, &features, net.now);
/// loop {
///     let mut moved = false;
///     while let Some(m) = a.poll_message(1, &full, net.now) {
///         b.handle_message(2, &m, &mut empty, Some(&net.utxos), net.now).unwrap();
///         moved = true;
///     }
///     while let Some(m) = b.poll_message(2, &empty, net.now) {
///         a.handle_message(1, &m, &mut full, Some(&net.utxos), net.now).unwrap();
///         moved = true;
///     }
///     if !moved { break; }
/// }
/// assert_eq!(empty.channel_count(), full.channel_count());
/// ```
#[derive(Debug)]
pub struct GossipSync {
    config: SyncConfig,
    peers: HashMap<PeerId, PeerState>,
    staged: Vec<RelayItem>,
    staged_set: HashSet<RelayItem>,
    next_flush: u64,
}

impl GossipSync {
    /// No peers yet.
    pub fn new(config: SyncConfig) -> Self {
        GossipSync {
            config,
            peers: HashMap::new(),
            staged: Vec::new(),
            staged_set: HashSet::new(),
            next_flush: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    /// A peer's counters.
    pub fn stats(&self, peer: PeerId) -> Option<PeerStats> {
        self.peers.get(&peer).map(|p| p.stats)
    }

    /// Whether we are fully syncing from `peer`.
    pub fn is_full_sync_peer(&self, peer: PeerId) -> bool {
        self.peers.get(&peer).is_some_and(|p| p.full_sync)
    }

    /// Where our range query to `peer` stands.
    pub fn range_query_state(&self, peer: PeerId) -> Option<RangeQueryState> {
        self.peers.get(&peer).map(|p| p.fetch.state())
    }

    /// Relay items waiting for `peer`.
    pub fn relay_queue_len(&self, peer: PeerId) -> usize {
        self.peers.get(&peer).map_or(0, |p| p.relay.len())
    }

    /// A connection completed `init`: registers the peer and queues our
    /// `gossip_timestamp_filter` and, for a full-sync peer, our
    /// `query_channel_range`.
    pub fn peer_connected(&mut self, peer: PeerId, their_features: &InitFeatures, now: u64) {
        let queries = their_features.supports(Feature::GossipQueries);
        let queries_ex = their_features.supports(Feature::GossipQueriesEx);
        let full_count = self.peers.values().filter(|p| p.full_sync).count();
        let full_sync = queries && full_count < self.config.full_sync_peers;
        let mut st = PeerState {
            queries,
            full_sync,
            control: VecDeque::new(),
            fetch: fetch::FetchState::default(),
            serve: serve::ServeState::default(),
            filter: None,
            relay: VecDeque::new(),
            stats: PeerStats::default(),
            query_tokens: self.config.query_burst,
            query_refill_at: now,
        };
        let now32 = u32::try_from(now).unwrap_or(u32::MAX);
        // BOLT 7: "If the receiver does not offer `gossip_queries`: SHOULD
        // set `first_timestamp` to 0xFFFFFFFF and `timestamp_range` to 0."
        let (first, range) = if !queries {
            (u32::MAX, 0)
        } else if full_sync {
            (now32, u32::MAX)
        } else {
            (
                now32.saturating_sub(self.config.recent_window_secs),
                u32::MAX,
            )
        };
        st.control
            .push_back(Message::GossipTimestampFilter(GossipTimestampFilter {
                chain_hash: self.config.chain_hash,
                first_timestamp: first,
                timestamp_range: range,
                tlvs: Default::default(),
            }));
        if full_sync {
            let q = st.fetch.start_range_query(&self.config, queries_ex);
            st.control.push_back(q);
        }
        self.peers.insert(peer, st);
    }

    /// The connection closed. A full-sync slot it held is free for the
    /// next peer.
    pub fn peer_disconnected(&mut self, peer: PeerId) {
        self.peers.remove(&peer);
    }

    /// Handles one message from `peer`. Gossip is applied to `graph`
    /// (through `utxo` for new channels); queries are answered through
    /// [`poll_message`](Self::poll_message). An `Err` is misbehaviour the
    /// host may answer with a `warning` and a disconnection; ignored
    /// gossip (stale, duplicate, unknown) is not an error.
    pub fn handle_message(
        &mut self,
        peer: PeerId,
        msg: &Message,
        graph: &mut NetworkGraph,
        utxo: Option<&dyn UtxoLookup>,
        now: u64,
    ) -> Result<(), SyncError> {
        let config = self.config.clone();
        let st = self.peers.get_mut(&peer).ok_or(SyncError::UnknownPeer)?;
        let result = match msg {
            Message::ChannelAnnouncement(m) => {
                match graph.handle_channel_announcement(m, utxo, now) {
                    // Relayed with its first update.
                    Ok(AnnouncementOutcome::Added { .. } | AnnouncementOutcome::Pending) => {
                        st.stats.accepted += 1;
                        Ok(())
                    }
                    Err(e) => gossip_error(st, e),
                }
            }
            Message::ChannelUpdate(m) => match graph.handle_channel_update(m, now) {
                Ok(UpdateOutcome::Applied { idx, first, relay }) => {
                    st.stats.accepted += 1;
                    if relay {
                        if first {
                            self.stage(RelayItem::Announcement(idx));
                        }
                        self.stage(RelayItem::Update(idx, m.direction()));
                    }
                    Ok(())
                }
                Ok(UpdateOutcome::ZombieRevived(scid)) => {
                    st.stats.accepted += 1;
                    if st.queries {
                        st.fetch.want(&config, scid.0, 0);
                    }
                    Ok(())
                }
                Err(e) => gossip_error(st, e),
            },
            Message::NodeAnnouncement(m) => match graph.handle_node_announcement(m, now) {
                Ok(out) => {
                    st.stats.accepted += 1;
                    if out.relay {
                        self.stage(RelayItem::Node(out.idx));
                    }
                    Ok(())
                }
                Err(e) => gossip_error(st, e),
            },
            Message::GossipTimestampFilter(m) => {
                serve::handle_filter(st, &config, m, now);
                Ok(())
            }
            Message::QueryChannelRange(m) => {
                take_query_token(st, &config, now)?;
                serve::handle_query_channel_range(st, m)
            }
            Message::QueryShortChannelIds(m) => {
                take_query_token(st, &config, now)?;
                serve::handle_query_short_channel_ids(st, &config, m)
            }
            Message::ReplyChannelRange(m) => st.fetch.handle_reply_channel_range(&config, graph, m),
            Message::ReplyShortChannelIdsEnd(m) => st.fetch.handle_reply_end(&config, m),
            _ => Ok(()),
        };
        if let (Err(_), Some(st)) = (&result, self.peers.get_mut(&peer)) {
            st.stats.misbehaved += 1;
        }
        result
    }

    fn stage(&mut self, item: RelayItem) {
        if self.staged_set.insert(item) {
            self.staged.push(item);
        }
    }

    /// Queues gossip the host learned elsewhere (for example a channel
    /// announcement whose funding lookup resolved later, once it has an
    /// update) for relay at the next flush.
    pub fn relay_channel(&mut self, idx: ChannelIdx) {
        self.stage(RelayItem::Announcement(idx));
        self.stage(RelayItem::Update(idx, 0));
        self.stage(RelayItem::Update(idx, 1));
    }

    /// Queues a `node_announcement` the host applied itself (its own) for
    /// relay at the next flush.
    pub fn relay_node(&mut self, idx: NodeIdx) {
        self.stage(RelayItem::Node(idx));
    }

    /// Flushes staged gossip into the queues of the peers whose filter
    /// covers it, once per [`SyncConfig::flush_interval_secs`].
    pub fn handle_timeout(&mut self, graph: &NetworkGraph, now: u64) {
        if now < self.next_flush {
            return;
        }
        self.next_flush = now.saturating_add(u64::from(self.config.flush_interval_secs));
        let staged = std::mem::take(&mut self.staged);
        self.staged_set.clear();
        let cap = self.config.max_relay_queue;
        for item in staged {
            let Some(ts) = serve::item_timestamp(graph, item) else {
                continue;
            };
            for st in self.peers.values_mut() {
                let Some((first, end)) = st.filter else {
                    continue;
                };
                if u64::from(ts) < u64::from(first) || u64::from(ts) >= end {
                    continue;
                }
                if st.relay.len() >= cap {
                    st.relay.pop_front();
                    st.stats.relay_dropped += 1;
                }
                st.relay.push_back(item);
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work.
    pub fn next_timeout(&self) -> u64 {
        self.next_flush
    }

    /// The next message for `peer`, built from `graph` when it is asked
    /// for: control messages first, then answers to its queries, then
    /// relayed gossip, then its historical dump. `None` when there is
    /// nothing to send.
    pub fn poll_message(
        &mut self,
        peer: PeerId,
        graph: &NetworkGraph,
        now: u64,
    ) -> Option<Message> {
        let config = &self.config;
        let st = self.peers.get_mut(&peer)?;
        if let Some(m) = st.control.pop_front() {
            return Some(m);
        }
        if let Some(m) = st.fetch.next_query(config, graph) {
            return Some(m);
        }
        if let Some(m) = serve::next_reply(st, config, graph) {
            return Some(m);
        }
        while let Some(item) = st.relay.pop_front() {
            if let Some(m) = serve::build(graph, item) {
                return Some(m);
            }
        }
        serve::next_dump(st, graph, now)
    }
}

fn gossip_error(st: &mut PeerState, e: GossipError) -> Result<(), SyncError> {
    if e.is_misbehavior() {
        Err(SyncError::Gossip(e))
    } else {
        st.stats.ignored += 1;
        Ok(())
    }
}

fn take_query_token(st: &mut PeerState, config: &SyncConfig, now: u64) -> Result<(), SyncError> {
    if let Some(earned) = now
        .saturating_sub(st.query_refill_at)
        .checked_div(u64::from(config.query_refill_secs))
    {
        if earned > 0 {
            st.query_tokens = u32::try_from(u64::from(st.query_tokens).saturating_add(earned))
                .unwrap_or(u32::MAX)
                .min(config.query_burst);
            st.query_refill_at = st
                .query_refill_at
                .saturating_add(earned.saturating_mul(u64::from(config.query_refill_secs)));
        }
    } else {
        st.query_tokens = config.query_burst;
    }
    if st.query_tokens == 0 {
        return Err(SyncError::QueryRate);
    }
    st.query_tokens -= 1;
    Ok(())
}
