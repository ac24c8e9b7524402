//! [`NetworkGraph`]: validated ingestion of `channel_announcement`,
//! `channel_update` and `node_announcement` (BOLT 7), pruning, zombies and
//! the blacklist, over the compact [`GraphStore`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::Deref;

use bitcoin::{OutPoint, ScriptBuf, TxIn};
use lightning_wire::codec::Encode;
use lightning_wire::features::ChannelFeatures;
use lightning_wire::msgs::{
    ChannelAnnouncement, ChannelUpdate, ExtensionTlvs, NodeAddress, NodeAnnouncement,
};
use lightning_wire::types::{ChainHash, ShortChannelId};
use secp256k1::ecdsa::Signature;
use secp256k1::PublicKey;

use crate::funding::{self, FundingIndex};
use crate::store::{
    ChannelIdx, ChannelInfo, ChannelProof, DirectionPolicy, GraphStore, NodeIdx, RateState,
    EXTRA_ANN_TLVS, EXTRA_FEATURES, EXTRA_UPDATE_TLVS, FLAG_CLOSED, FLAG_UNKNOWN_REQUIRED_FEATURES,
};
use crate::utxo::{Settled, UtxoAnswer, UtxoCache, UtxoLookup};
use crate::verify;
use crate::GossipError;

/// BOLT 7, "Recommendation on Pruning Stale Entries": two weeks.
pub const STALE_AFTER_SECS: u32 = 1_209_600;
/// BOLT 7, "Pruning the Network View": "if the funding output of a channel
/// is spent and received 12 block confirmations: SHOULD be removed".
pub const CLOSE_DELAY_BLOCKS: u32 = 12;

/// Limits and policies of a [`NetworkGraph`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphConfig {
    /// The chain whose gossip is accepted.
    pub chain_hash: ChainHash,
    /// How far ahead of our clock a timestamp may be (one day: BOLT 7
    /// allows discarding one "unreasonably far in the future").
    pub max_future_secs: u32,
    /// Age after which a channel's updates are stale ([`STALE_AFTER_SECS`]).
    pub stale_after_secs: u32,
    /// Confirmations of a funding spend before the channel is forgotten
    /// ([`CLOSE_DELAY_BLOCKS`]).
    pub close_delay_blocks: u32,
    /// Funding lookups that may await the host at once.
    pub max_pending_lookups: usize,
    /// Settled funding answers kept.
    pub utxo_cache_size: usize,
    /// Most channels held.
    pub max_channels: usize,
    /// Most nodes held.
    pub max_nodes: usize,
    /// Most zombie channels remembered.
    pub max_zombies: usize,
    /// Updates a direction may have accepted in a burst.
    pub update_burst: u8,
    /// Seconds to earn one more update in a direction's budget.
    pub update_refill_secs: u32,
    /// Refuse announcements with unknown even channel feature bits instead
    /// of storing them as unroutable.
    pub reject_unknown_required_features: bool,
    /// A message whose unknown TLV extension exceeds this many bytes is
    /// applied but not relayed (BOLT 7: "MAY choose NOT to for messages
    /// longer than the minimum expected length").
    pub max_relay_extension_bytes: usize,
}

impl GraphConfig {
    /// Defaults for `chain_hash`.
    pub fn new(chain_hash: ChainHash) -> Self {
        GraphConfig {
            chain_hash,
            max_future_secs: 86_400,
            stale_after_secs: STALE_AFTER_SECS,
            close_delay_blocks: CLOSE_DELAY_BLOCKS,
            max_pending_lookups: 1_000,
            utxo_cache_size: 10_000,
            max_channels: 500_000,
            max_nodes: 200_000,
            max_zombies: 200_000,
            update_burst: 10,
            update_refill_secs: 300,
            reject_unknown_required_features: false,
            max_relay_extension_bytes: 1_024,
        }
    }
}

/// What happened to an accepted `channel_announcement`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnouncementOutcome {
    /// Added at this index. BOLT 7 (`gossip_timestamp_filter`): it is
    /// relayed only once a first `channel_update` arrives.
    Added {
        /// The new channel.
        idx: ChannelIdx,
        /// Whether it may be relayed (extension within bounds).
        relay: bool,
    },
    /// Signatures verified; the funding lookup awaits the host's
    /// [`NetworkGraph::resolve_utxo`].
    Pending,
}

/// What happened to an accepted `channel_update`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// Applied to the channel.
    Applied {
        /// The channel.
        idx: ChannelIdx,
        /// The channel had no update before: relay its announcement first
        /// (BOLT 7: "MUST send the `channel_announcement` prior to any
        /// corresponding `channel_update`s").
        first: bool,
        /// Whether the update may be relayed (not `dont_forward`,
        /// extension within bounds).
        relay: bool,
    },
    /// A zombie's fresh update: the channel may come back. Query its
    /// announcement again (`query_short_channel_ids`).
    ZombieRevived(ShortChannelId),
}

/// What happened to an accepted `node_announcement`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeOutcome {
    /// The node.
    pub idx: NodeIdx,
    /// Whether it may be relayed (BOLT 7: "if more than one `type 5`
    /// address is announced: ... MUST not forward"; extension bounds).
    pub relay: bool,
}

/// A pruned channel remembered so that it comes back only with a fresh
/// update signed by one of its nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Zombie {
    pub(crate) node_ids: [[u8; 33]; 2],
}

/// An announcement awaiting its funding lookup, with the latest update of
/// each direction that arrived meanwhile (checked when applied).
#[derive(Debug, Clone)]
struct Pending {
    ann: ChannelAnnouncement,
    updates: [Option<ChannelUpdate>; 2],
}

/// The public network graph.
///
/// ```
/// use lightning_test_support::gossip::{Generator, SyntheticConfig};
/// use lightning_gossip::{GraphConfig, NetworkGraph};
///
/// let net = Generator::new(7, SyntheticConfig::small(20, 40)).generate();
/// let mut graph = NetworkGraph::new(GraphConfig::new(net.chain_hash));
/// for ann in &net.channel_announcements {
///     graph.handle_channel_announcement(ann, Some(&net.utxos), net.now).unwrap();
/// }
/// for upd in &net.channel_updates {
///     graph.handle_channel_update(upd, net.now).unwrap();
/// }
/// assert_eq!(graph.channel_count(), net.channel_announcements.len());
/// let (idx, ch) = graph.channels().next().unwrap();
/// assert!(ch.direction(0).is_some());
/// assert!(graph.channel_update_msg(idx, 0).is_some());
/// ```
#[derive(Debug, Clone)]
pub struct NetworkGraph {
    store: GraphStore,
    config: GraphConfig,
    utxo_cache: UtxoCache,
    pending: HashMap<u64, Box<Pending>>,
    zombies: HashMap<u64, Zombie>,
    blacklist: HashSet<[u8; 33]>,
    /// Closed channels: spend height by channel index.
    spent: HashMap<u32, u32>,
    /// Funding outpoints of the channels whose funding txid we know.
    funding: FundingIndex,
    /// Funding outputs learned from lookups since the host last took them
    /// (only while [`NetworkGraph::report_new_funding`] is on).
    new_funding: Option<VecDeque<NewFunding>>,
}

/// A funding output the graph learned from a [`UtxoLookup`] answer, for a
/// light-client host to watch for its spend
/// ([`NetworkGraph::take_new_funding`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFunding {
    /// The channel.
    pub scid: ShortChannelId,
    /// Its funding outpoint.
    pub outpoint: OutPoint,
    /// The output's script (the P2WSH of the funding keys).
    pub script_pubkey: ScriptBuf,
}

/// At most this many learned funding outputs wait for
/// [`NetworkGraph::take_new_funding`]; past it the oldest are dropped.
const MAX_NEW_FUNDING: usize = 100_000;

impl Deref for NetworkGraph {
    type Target = GraphStore;
    fn deref(&self) -> &GraphStore {
        &self.store
    }
}

fn clamp_u32(t: u64) -> u32 {
    u32::try_from(t).unwrap_or(u32::MAX)
}

fn policy_of(msg: &ChannelUpdate) -> DirectionPolicy {
    DirectionPolicy {
        timestamp: msg.timestamp,
        message_flags: msg.message_flags,
        channel_flags: msg.channel_flags,
        cltv_expiry_delta: msg.cltv_expiry_delta,
        htlc_minimum_msat: msg.htlc_minimum_msat,
        htlc_maximum_msat: msg.htlc_maximum_msat,
        fee_base_msat: msg.fee_base_msat,
        fee_proportional_millionths: msg.fee_proportional_millionths,
    }
}

impl NetworkGraph {
    /// An empty graph.
    pub fn new(config: GraphConfig) -> Self {
        NetworkGraph {
            store: GraphStore::default(),
            utxo_cache: UtxoCache::new(config.utxo_cache_size),
            config,
            pending: HashMap::new(),
            zombies: HashMap::new(),
            blacklist: HashSet::new(),
            spent: HashMap::new(),
            funding: FundingIndex::default(),
            new_funding: None,
        }
    }

    /// Whether funding outputs learned from lookups are kept for
    /// [`take_new_funding`](Self::take_new_funding) (off by default): a
    /// light-client host registers them with its chain filter, so the
    /// transactions spending them reach
    /// [`spent_input`](Self::spent_input).
    pub fn report_new_funding(&mut self, on: bool) {
        self.new_funding = on.then(VecDeque::new);
    }

    /// The funding outputs learned since the last call (see
    /// [`report_new_funding`](Self::report_new_funding)).
    pub fn take_new_funding(&mut self) -> Vec<NewFunding> {
        match &mut self.new_funding {
            Some(v) => v.drain(..).collect(),
            None => Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &GraphConfig {
        &self.config
    }

    /// The storage and its read API (also reachable through `Deref`).
    pub fn store(&self) -> &GraphStore {
        &self.store
    }

    /// Releases the store's spare capacity ([`GraphStore::shrink_to_fit`])
    /// and the funding index's.
    pub fn shrink_to_fit(&mut self) {
        self.store.shrink_to_fit();
        self.funding.shrink_to_fit();
    }

    pub(crate) fn store_mut(&mut self) -> &mut GraphStore {
        &mut self.store
    }

    /// Funding lookups awaiting the host.
    pub fn pending_lookups(&self) -> usize {
        self.pending.len()
    }

    /// Whether `scid` is a zombie (pruned as stale).
    pub fn is_zombie(&self, scid: ShortChannelId) -> bool {
        self.zombies.contains_key(&scid.0)
    }

    /// Whether `node` is blacklisted.
    pub fn is_blacklisted(&self, node: &PublicKey) -> bool {
        self.blacklist.contains(&node.serialize())
    }

    pub(crate) fn zombies(&self) -> impl Iterator<Item = (u64, &Zombie)> + '_ {
        self.zombies.iter().map(|(s, z)| (*s, z))
    }

    pub(crate) fn insert_zombie(&mut self, scid: u64, z: Zombie) {
        if self.zombies.len() < self.config.max_zombies {
            self.zombies.insert(scid, z);
        }
    }

    pub(crate) fn spent_entries(&self) -> Vec<(ShortChannelId, u32)> {
        let mut v: Vec<(ShortChannelId, u32)> = self
            .spent
            .iter()
            .filter_map(|(i, h)| Some((self.store.channel(ChannelIdx(*i))?.scid(), *h)))
            .collect();
        v.sort();
        v
    }

    pub(crate) fn blacklist_iter(&self) -> impl Iterator<Item = &[u8; 33]> + '_ {
        self.blacklist.iter()
    }

    pub(crate) fn blacklist_insert(&mut self, id: [u8; 33]) {
        self.blacklist.insert(id);
    }

    /// Validates and stores a `channel_announcement` (BOLT 7, "The
    /// `channel_announcement` Message", receiving node). `utxo` is the
    /// host's UTXO source; `None` skips the funding check (a light client):
    /// the capacity is then unknown. `now` is our clock, in UNIX seconds.
    ///
    /// Checks, in order: `chain_hash`; `node_id_1 < node_id_2`; unknown
    /// even features; the blacklist; a channel already known for this
    /// `short_channel_id` (a copy is [`GossipError::DuplicateAnnouncement`],
    /// a validly signed one for other nodes blacklists both pairs); a
    /// zombie; the four signatures; the funding output (cached, bounded
    /// in flight).
    ///
    /// ```
    /// use lightning_test_support::gossip::{Generator, SyntheticConfig};
    /// use lightning_gossip::{AnnouncementOutcome, GossipError, GraphConfig, NetworkGraph};
    ///
    /// let net = Generator::new(1, SyntheticConfig::small(4, 3)).generate();
    /// let mut graph = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    /// let ann = &net.channel_announcements[0];
    /// let out = graph.handle_channel_announcement(ann, Some(&net.utxos), net.now).unwrap();
    /// assert!(matches!(out, AnnouncementOutcome::Added { .. }));
    /// assert!(matches!(
    ///     graph.handle_channel_announcement(ann, Some(&net.utxos), net.now),
    ///     Err(GossipError::DuplicateAnnouncement(_))
    /// ));
    /// ```
    pub fn handle_channel_announcement(
        &mut self,
        msg: &ChannelAnnouncement,
        utxo: Option<&dyn UtxoLookup>,
        now: u64,
    ) -> Result<AnnouncementOutcome, GossipError> {
        let scid = msg.short_channel_id;
        let unknown_required = self.precheck_announcement(msg)?;
        if let Some(idx) = self.store.channel_by_scid(scid) {
            return self.conflict_or_duplicate(idx, msg);
        }
        if self.zombies.contains_key(&scid.0) {
            return Err(GossipError::Zombie(scid));
        }
        if self.pending.contains_key(&scid.0) {
            return Err(GossipError::LookupAlreadyPending(scid));
        }
        verify::check_channel_announcement(msg)?;
        let Some(utxo) = utxo else {
            return self.insert_announcement(msg, None, unknown_required, now);
        };
        let settled = match self.utxo_cache.get(scid) {
            Some(s) => s.clone(),
            None => {
                if self.pending.len() >= self.config.max_pending_lookups {
                    return Err(GossipError::TooManyPendingLookups);
                }
                match utxo.lookup(&self.config.chain_hash, scid) {
                    UtxoAnswer::Pending => {
                        self.pending.insert(
                            scid.0,
                            Box::new(Pending {
                                ann: msg.clone(),
                                updates: [None, None],
                            }),
                        );
                        return Ok(AnnouncementOutcome::Pending);
                    }
                    UtxoAnswer::Failed => return Err(GossipError::FundingLookupFailed(scid)),
                    other => {
                        let s = settle(other);
                        self.utxo_cache.insert(scid, s.clone());
                        s
                    }
                }
            }
        };
        let capacity = check_funding(msg, &settled)?;
        let out = self.insert_announcement(msg, Some(capacity), unknown_required, now)?;
        self.index_funding(scid, &settled);
        Ok(out)
    }

    /// Completes a funding lookup the host answered
    /// [`UtxoAnswer::Pending`] to. The announcement's signatures were
    /// checked when it arrived. The latest update per direction that came
    /// while it waited ([`GossipError::AwaitingFunding`]) is applied after
    /// it; a host relaying gossip then calls
    /// [`GossipSync::relay_channel`](crate::sync::GossipSync::relay_channel).
    ///
    /// ```
    /// use lightning_test_support::gossip::{Generator, SyntheticConfig};
    /// use lightning_gossip::{AnnouncementOutcome, GraphConfig, NetworkGraph, UtxoAnswer, UtxoLookup};
    /// use lightning_wire::types::{ChainHash, ShortChannelId};
    ///
    /// struct Later;
    /// impl UtxoLookup for Later {
    ///     fn lookup(&self, _: &ChainHash, _: ShortChannelId) -> UtxoAnswer { UtxoAnswer::Pending }
    /// }
    /// let net = Generator::new(1, SyntheticConfig::small(4, 3)).generate();
    /// let mut graph = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    /// let ann = &net.channel_announcements[0];
    /// assert_eq!(
    ///     graph.handle_channel_announcement(ann, Some(&Later), net.now).unwrap(),
    ///     AnnouncementOutcome::Pending
    /// );
    /// let answer = net.utxos.lookup(&net.chain_hash, ann.short_channel_id);
    /// let out = graph.resolve_utxo(ann.short_channel_id, answer, net.now).unwrap();
    /// assert!(matches!(out, AnnouncementOutcome::Added { .. }));
    /// ```
    pub fn resolve_utxo(
        &mut self,
        scid: ShortChannelId,
        answer: UtxoAnswer,
        now: u64,
    ) -> Result<AnnouncementOutcome, GossipError> {
        let msg = match answer {
            UtxoAnswer::Pending => {
                return if self.pending.contains_key(&scid.0) {
                    Ok(AnnouncementOutcome::Pending)
                } else {
                    Err(GossipError::NoPendingLookup(scid))
                }
            }
            _ => self
                .pending
                .remove(&scid.0)
                .ok_or(GossipError::NoPendingLookup(scid))?,
        };
        let Pending { ann: msg, updates } = *msg;
        if answer == UtxoAnswer::Failed {
            return Err(GossipError::FundingLookupFailed(scid));
        }
        let settled = settle(answer);
        self.utxo_cache.insert(scid, settled.clone());
        let capacity = check_funding(&msg, &settled)?;
        // The graph may have changed while the lookup was out.
        let unknown_required = self.precheck_announcement(&msg)?;
        if let Some(idx) = self.store.channel_by_scid(scid) {
            return self.conflict_or_duplicate(idx, &msg);
        }
        let out = self.insert_announcement(&msg, Some(capacity), unknown_required, now)?;
        self.index_funding(scid, &settled);
        // The updates that waited with it; each is checked as if it had
        // arrived now, and one that fails is dropped.
        for u in updates.into_iter().flatten() {
            let _ = self.handle_channel_update(&u, now);
        }
        Ok(out)
    }

    /// Chain, ordering, features, blacklist. Returns whether the channel
    /// has unknown required features.
    fn precheck_announcement(&self, msg: &ChannelAnnouncement) -> Result<bool, GossipError> {
        if msg.chain_hash != self.config.chain_hash {
            return Err(GossipError::UnknownChain);
        }
        let (a, b) = (msg.node_id_1.serialize(), msg.node_id_2.serialize());
        if a >= b {
            return Err(GossipError::NodeIdOrder);
        }
        let unknown = msg
            .features
            .unknown_required_bits(&ChannelFeatures::empty());
        if let Some(bit) = unknown.first() {
            if self.config.reject_unknown_required_features {
                return Err(GossipError::UnknownRequiredFeature(*bit));
            }
        }
        if self.blacklist.contains(&a) || self.blacklist.contains(&b) {
            return Err(GossipError::Blacklisted);
        }
        Ok(!unknown.is_empty())
    }

    /// A second announcement of a known `short_channel_id`.
    fn conflict_or_duplicate(
        &mut self,
        idx: ChannelIdx,
        msg: &ChannelAnnouncement,
    ) -> Result<AnnouncementOutcome, GossipError> {
        let scid = msg.short_channel_id;
        let (Some(info), Some(proof)) = (self.store.channel(idx), self.store.proof(idx)) else {
            return Err(GossipError::DuplicateAnnouncement(scid));
        };
        let known = [
            self.node_key_bytes(info.node_one()),
            self.node_key_bytes(info.node_two()),
        ];
        let new = [msg.node_id_1.serialize(), msg.node_id_2.serialize()];
        if known == [Some(new[0]), Some(new[1])] {
            return Err(GossipError::DuplicateAnnouncement(scid));
        }
        let same_funding =
            proof.bitcoin_keys == [msg.bitcoin_key_1.serialize(), msg.bitcoin_key_2.serialize()];
        verify::check_channel_announcement(msg)?;
        if !same_funding {
            // Other funding keys cannot pay the output we verified.
            return Err(GossipError::FundingScriptMismatch(scid));
        }
        // BOLT 7: "SHOULD blacklist the previous message's `node_id_1` and
        // `node_id_2`, as well as this `node_id_1` and `node_id_2` AND
        // forget any channels connected to them."
        let mut ids: Vec<[u8; 33]> = new.to_vec();
        ids.extend(known.into_iter().flatten());
        for id in ids {
            self.blacklist.insert(id);
            if let Some(&n) = self.store.by_node.get(&id) {
                let chans: Vec<ChannelIdx> = self
                    .store
                    .node(NodeIdx(n))
                    .map(|n| n.channels().to_vec())
                    .unwrap_or_default();
                for c in chans {
                    self.remove_channel(c);
                }
            }
        }
        Err(GossipError::ConflictingAnnouncement(scid))
    }

    fn node_key_bytes(&self, idx: NodeIdx) -> Option<[u8; 33]> {
        self.store.node(idx).map(|n| n.node_id().serialize())
    }

    fn insert_announcement(
        &mut self,
        msg: &ChannelAnnouncement,
        capacity: Option<u64>,
        unknown_required: bool,
        now: u64,
    ) -> Result<AnnouncementOutcome, GossipError> {
        if self.store.channel_count() >= self.config.max_channels {
            return Err(GossipError::GraphFull("channels"));
        }
        let new_nodes = [&msg.node_id_1, &msg.node_id_2]
            .iter()
            .filter(|k| self.store.node_by_id(k).is_none())
            .count();
        if self.store.node_count() + new_nodes > self.config.max_nodes {
            return Err(GossipError::GraphFull("nodes"));
        }
        let one = self.store.get_or_add_node(&msg.node_id_1);
        let two = self.store.get_or_add_node(&msg.node_id_2);
        let mut info = ChannelInfo::new(msg.short_channel_id, one, two, capacity, clamp_u32(now));
        if unknown_required {
            info.flags |= FLAG_UNKNOWN_REQUIRED_FEATURES;
        }
        let proof = ChannelProof {
            sigs: [
                msg.node_signature_1.serialize_compact(),
                msg.node_signature_2.serialize_compact(),
                msg.bitcoin_signature_1.serialize_compact(),
                msg.bitcoin_signature_2.serialize_compact(),
            ],
            bitcoin_keys: [msg.bitcoin_key_1.serialize(), msg.bitcoin_key_2.serialize()],
            ..ChannelProof::default()
        };
        let idx = self.store.add_channel(info, proof);
        self.store
            .set_extra(idx, EXTRA_FEATURES, msg.features.as_be_bytes());
        let tlvs = msg.tlvs.to_bytes();
        self.store.set_extra(idx, EXTRA_ANN_TLVS, &tlvs);
        Ok(AnnouncementOutcome::Added {
            idx,
            relay: tlvs.len() <= self.config.max_relay_extension_bytes,
        })
    }

    /// Validates and applies a `channel_update` (BOLT 7, "The
    /// `channel_update` Message", receiving node): the channel must be
    /// known and open, the timestamp non-zero, at most
    /// [`GraphConfig::max_future_secs`] ahead of `now`, not older than the
    /// staleness limit and strictly newer than the direction's last one
    /// (equal with equal fields is [`GossipError::Duplicate`], with other
    /// fields [`GossipError::ConflictingUpdate`]); the signature is the
    /// direction's node's; then the direction's rate budget.
    ///
    /// `htlc_maximum_msat` below `htlc_minimum_msat` or above the capacity
    /// is stored, and [`ChannelInfo::is_routable`] is then false (BOLT 7:
    /// "SHOULD ignore this channel during route considerations").
    ///
    /// ```
    /// use lightning_test_support::gossip::{Generator, SyntheticConfig};
    /// use lightning_gossip::{GossipError, GraphConfig, NetworkGraph, UpdateOutcome};
    ///
    /// let net = Generator::new(1, SyntheticConfig::small(4, 3)).generate();
    /// let mut graph = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    /// let upd = &net.channel_updates[0];
    /// assert!(matches!(
    ///     graph.handle_channel_update(upd, net.now),
    ///     Err(GossipError::UnknownChannel(_))
    /// ));
    /// for ann in &net.channel_announcements {
    ///     graph.handle_channel_announcement(ann, Some(&net.utxos), net.now).unwrap();
    /// }
    /// let out = graph.handle_channel_update(upd, net.now).unwrap();
    /// assert!(matches!(out, UpdateOutcome::Applied { first: true, .. }));
    /// ```
    pub fn handle_channel_update(
        &mut self,
        msg: &ChannelUpdate,
        now: u64,
    ) -> Result<UpdateOutcome, GossipError> {
        let scid = msg.short_channel_id;
        if msg.chain_hash != self.config.chain_hash {
            return Err(GossipError::UnknownChain);
        }
        self.check_timestamp(msg.timestamp, now)?;
        let dir = msg.direction();
        let Some(idx) = self.store.channel_by_scid(scid) else {
            if let Some(p) = self.pending.get_mut(&scid.0) {
                // Kept (the newer per direction) until the lookup settles.
                let slot = &mut p.updates[usize::from(dir)];
                if slot.as_ref().is_none_or(|u| u.timestamp < msg.timestamp) {
                    *slot = Some(msg.clone());
                }
                return Err(GossipError::AwaitingFunding(scid));
            }
            return self.zombie_update(msg, now);
        };
        let info = *self
            .store
            .channel(idx)
            .ok_or(GossipError::UnknownChannel(scid))?;
        if info.is_closed() {
            return Err(GossipError::ChannelClosed(scid));
        }
        let have = info.dirs[usize::from(dir)];
        let new = policy_of(msg);
        if have.timestamp != 0 {
            if msg.timestamp < have.timestamp {
                return Err(GossipError::Stale {
                    have: have.timestamp,
                    got: msg.timestamp,
                });
            }
            if msg.timestamp == have.timestamp {
                let same_tlvs =
                    self.store.extra(idx, EXTRA_UPDATE_TLVS + dir) == &msg.tlvs.to_bytes()[..];
                if have == new && same_tlvs {
                    return Err(GossipError::Duplicate);
                }
            }
        }
        let origin = if dir == 0 {
            info.node_one()
        } else {
            info.node_two()
        };
        let key = *self
            .store
            .node(origin)
            .ok_or(GossipError::UnknownChannel(scid))?
            .node_id();
        let digest = verify::channel_update_digest(msg)?;
        verify::check(&digest, &msg.signature, &key, "signature")?;
        if have.timestamp != 0 && msg.timestamp == have.timestamp {
            // Signed by the origin, same timestamp, other fields.
            return Err(GossipError::ConflictingUpdate);
        }
        let (burst, refill) = (self.config.update_burst, self.config.update_refill_secs);
        let proof = self
            .store
            .proof_mut(idx)
            .ok_or(GossipError::UnknownChannel(scid))?;
        if have.timestamp != 0 {
            take_token(&mut proof.rate[usize::from(dir)], burst, refill, now)
                .map_err(|()| GossipError::RateLimited(scid))?;
        } else {
            proof.rate[usize::from(dir)] = RateState {
                tokens: burst.saturating_sub(1),
                last_refill: clamp_u32(now),
            };
        }
        proof.update_sigs[usize::from(dir)] = msg.signature.serialize_compact();
        let first = info.direction(0).is_none() && info.direction(1).is_none();
        if let Some(ch) = self.store.channel_mut(idx) {
            ch.dirs[usize::from(dir)] = new;
        }
        let tlvs = msg.tlvs.to_bytes();
        self.store.set_extra(idx, EXTRA_UPDATE_TLVS + dir, &tlvs);
        Ok(UpdateOutcome::Applied {
            idx,
            first,
            relay: !msg.dont_forward() && tlvs.len() <= self.config.max_relay_extension_bytes,
        })
    }

    fn check_timestamp(&self, ts: u32, now: u64) -> Result<(), GossipError> {
        if ts == 0 {
            return Err(GossipError::ZeroTimestamp);
        }
        if u64::from(ts) > now.saturating_add(u64::from(self.config.max_future_secs)) {
            return Err(GossipError::FutureTimestamp { got: ts, now });
        }
        if u64::from(ts) + u64::from(self.config.stale_after_secs) < now {
            return Err(GossipError::TooOld { got: ts });
        }
        Ok(())
    }

    /// An update for a channel we do not hold: a zombie comes back with a
    /// fresh update signed by its node; anything else is unknown.
    fn zombie_update(
        &mut self,
        msg: &ChannelUpdate,
        _now: u64,
    ) -> Result<UpdateOutcome, GossipError> {
        let scid = msg.short_channel_id;
        let Some(z) = self.zombies.get(&scid.0) else {
            return Err(GossipError::UnknownChannel(scid));
        };
        let key = PublicKey::from_slice(&z.node_ids[usize::from(msg.direction())])
            .map_err(|_| GossipError::UnknownChannel(scid))?;
        let digest = verify::channel_update_digest(msg)?;
        verify::check(&digest, &msg.signature, &key, "signature")?;
        self.zombies.remove(&scid.0);
        Ok(UpdateOutcome::ZombieRevived(scid))
    }

    /// Validates and stores a `node_announcement` (BOLT 7, "The
    /// `node_announcement` Message", receiving node): the node must have a
    /// channel, the timestamp must be newer than the stored one and not far
    /// in the future, and the signature valid.
    ///
    /// ```
    /// use lightning_test_support::gossip::{Generator, SyntheticConfig};
    /// use lightning_gossip::{GossipError, GraphConfig, NetworkGraph};
    ///
    /// let net = Generator::new(1, SyntheticConfig::small(4, 3)).generate();
    /// let mut graph = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    /// let na = &net.node_announcements[0];
    /// assert_eq!(graph.handle_node_announcement(na, net.now), Err(GossipError::UnknownNode));
    /// for ann in &net.channel_announcements {
    ///     graph.handle_channel_announcement(ann, Some(&net.utxos), net.now).unwrap();
    /// }
    /// assert!(graph.handle_node_announcement(na, net.now).unwrap().relay);
    /// ```
    pub fn handle_node_announcement(
        &mut self,
        msg: &NodeAnnouncement,
        now: u64,
    ) -> Result<NodeOutcome, GossipError> {
        if self.blacklist.contains(&msg.node_id.serialize()) {
            return Err(GossipError::Blacklisted);
        }
        let idx = self
            .store
            .node_by_id(&msg.node_id)
            .ok_or(GossipError::UnknownNode)?;
        if msg.timestamp == 0 {
            return Err(GossipError::ZeroTimestamp);
        }
        if u64::from(msg.timestamp) > now.saturating_add(u64::from(self.config.max_future_secs)) {
            return Err(GossipError::FutureTimestamp {
                got: msg.timestamp,
                now,
            });
        }
        if let Some(have) = self.store.node(idx).and_then(|n| n.announcement()) {
            if msg.timestamp < have.timestamp {
                return Err(GossipError::Stale {
                    have: have.timestamp,
                    got: msg.timestamp,
                });
            }
            if msg.timestamp == have.timestamp {
                return Err(if have == msg {
                    GossipError::Duplicate
                } else {
                    GossipError::Stale {
                        have: have.timestamp,
                        got: msg.timestamp,
                    }
                });
            }
        }
        let digest = verify::node_announcement_digest(msg)?;
        verify::check(&digest, &msg.signature, &msg.node_id, "signature")?;
        let dns = msg
            .addresses
            .addresses
            .iter()
            .filter(|a| matches!(a, NodeAddress::Dns { .. }))
            .count();
        let relay = dns <= 1 && msg.tlvs.to_bytes().len() <= self.config.max_relay_extension_bytes;
        let (burst, refill) = (self.config.update_burst, self.config.update_refill_secs);
        if let Some(node) = self.store.node_mut(idx) {
            // The same budget as a channel direction's updates.
            if node.announcement.is_some() {
                take_token(&mut node.rate, burst, refill, now)
                    .map_err(|()| GossipError::NodeRateLimited)?;
            } else {
                node.rate = RateState {
                    tokens: burst.saturating_sub(1),
                    last_refill: clamp_u32(now),
                };
            }
            node.announcement = Some(Box::new(msg.clone()));
        }
        Ok(NodeOutcome { idx, relay })
    }

    /// Rebuilds the stored `channel_announcement` of `idx`, byte for byte
    /// as received.
    pub fn channel_announcement_msg(&self, idx: ChannelIdx) -> Option<ChannelAnnouncement> {
        let info = self.store.channel(idx)?;
        let proof = self.store.proof(idx)?;
        let sig = |b: &[u8; 64]| Signature::from_compact(b).ok();
        let key = |b: &[u8; 33]| PublicKey::from_slice(b).ok();
        let tlvs = lightning_wire::codec::Decode::from_bytes(self.store.extra(idx, EXTRA_ANN_TLVS))
            .unwrap_or_else(|_| ExtensionTlvs::default());
        Some(ChannelAnnouncement {
            node_signature_1: sig(&proof.sigs[0])?,
            node_signature_2: sig(&proof.sigs[1])?,
            bitcoin_signature_1: sig(&proof.sigs[2])?,
            bitcoin_signature_2: sig(&proof.sigs[3])?,
            features: ChannelFeatures::from_be_bytes(
                self.store.extra(idx, EXTRA_FEATURES).to_vec(),
            ),
            chain_hash: self.config.chain_hash,
            short_channel_id: info.scid(),
            node_id_1: *self.store.node(info.node_one())?.node_id(),
            node_id_2: *self.store.node(info.node_two())?.node_id(),
            bitcoin_key_1: key(&proof.bitcoin_keys[0])?,
            bitcoin_key_2: key(&proof.bitcoin_keys[1])?,
            tlvs,
        })
    }

    /// Rebuilds the latest `channel_update` of direction `dir` of `idx`.
    pub fn channel_update_msg(&self, idx: ChannelIdx, dir: u8) -> Option<ChannelUpdate> {
        let info = self.store.channel(idx)?;
        let p = info.direction(dir)?;
        let proof = self.store.proof(idx)?;
        let tlvs = lightning_wire::codec::Decode::from_bytes(
            self.store.extra(idx, EXTRA_UPDATE_TLVS + (dir & 1)),
        )
        .unwrap_or_else(|_| ExtensionTlvs::default());
        Some(ChannelUpdate {
            signature: Signature::from_compact(&proof.update_sigs[usize::from(dir & 1)]).ok()?,
            chain_hash: self.config.chain_hash,
            short_channel_id: info.scid(),
            timestamp: p.timestamp,
            message_flags: p.message_flags,
            channel_flags: p.channel_flags,
            cltv_expiry_delta: p.cltv_expiry_delta,
            htlc_minimum_msat: p.htlc_minimum_msat,
            fee_base_msat: p.fee_base_msat,
            fee_proportional_millionths: p.fee_proportional_millionths,
            htlc_maximum_msat: p.htlc_maximum_msat,
            tlvs,
        })
    }

    /// The stored `node_announcement` of `idx`.
    pub fn node_announcement_msg(&self, idx: NodeIdx) -> Option<NodeAnnouncement> {
        self.store.node(idx)?.announcement().cloned()
    }

    /// Removes a channel (and ends left without channels).
    pub(crate) fn remove_channel(&mut self, idx: ChannelIdx) -> Option<ChannelInfo> {
        self.spent.remove(&idx.0);
        self.store.remove_channel(idx)
    }

    /// The funding output of `scid` was spent in a block at `height`
    /// (BOLT 7, "The `channel_announcement` Message": "once its funding
    /// output has been spent OR reorganized out: SHOULD forget a channel
    /// after a 12-block delay"; "Pruning the Network View": "if the funding
    /// output of a channel is spent and received 12 block confirmations:
    /// SHOULD be removed from the local network view AND be considered
    /// closed"). The channel stays, closed (not routable, its updates
    /// refused), until [`block_connected`](Self::block_connected) reaches
    /// `height + close_delay_blocks - 1`, the spend's 12th confirmation; the
    /// delay lets a splice's new `channel_announcement` propagate. A
    /// second report keeps the first height. Returns whether the channel is
    /// known.
    ///
    /// A host that sees blocks passes each input to
    /// [`spent_input`](Self::spent_input) instead, which finds the channel
    /// by its funding outpoint.
    ///
    /// ```
    /// use lightning_test_support::gossip::{Generator, SyntheticConfig};
    /// use lightning_gossip::{GraphConfig, NetworkGraph};
    ///
    /// let net = Generator::new(1, SyntheticConfig::small(4, 3)).generate();
    /// let mut graph = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    /// let ann = &net.channel_announcements[0];
    /// graph.handle_channel_announcement(ann, Some(&net.utxos), net.now).unwrap();
    /// graph.funding_spent(ann.short_channel_id, 900_000);
    /// assert_eq!(graph.block_connected(900_010), 0);
    /// assert_eq!(graph.block_connected(900_011), 1);
    /// assert!(graph.channel_by_scid(ann.short_channel_id).is_none());
    /// ```
    pub fn funding_spent(&mut self, scid: ShortChannelId, height: u32) -> bool {
        self.utxo_cache.insert(scid, Settled::Spent);
        let Some(idx) = self.store.channel_by_scid(scid) else {
            return false;
        };
        if let Some(ch) = self.store.channel_mut(idx) {
            ch.flags |= FLAG_CLOSED;
        }
        self.spent.entry(idx.0).or_insert(height);
        true
    }

    /// Records the funding outpoint of the channel `scid` (for a host or
    /// node that knows it without a lookup: our own channels, or a light
    /// client told by other means), so that [`spent_input`](Self::spent_input)
    /// can find it. Refused (`false`) when the channel is unknown or the
    /// outpoint's index is not the `short_channel_id`'s output index.
    pub fn set_funding_outpoint(&mut self, scid: ShortChannelId, outpoint: OutPoint) -> bool {
        if u32::from(scid.output_index()) != outpoint.vout
            || self.store.channel_by_scid(scid).is_none()
        {
            return false;
        }
        self.insert_funding_key(funding::key(&outpoint.txid, outpoint.vout), scid.0);
        true
    }

    /// Whether the graph knows the funding outpoint of `scid` (its spend
    /// can be detected).
    pub fn knows_funding_outpoint(&self, scid: ShortChannelId, outpoint: &OutPoint) -> bool {
        self.funding
            .get(funding::key(&outpoint.txid, outpoint.vout))
            .any(|s| s == scid.0)
    }

    /// The script of `scid`'s funding output: the P2WSH of `2 <k1> <k2> 2
    /// OP_CHECKMULTISIG` over its announced `bitcoin_key`s (BOLT 3); `None`
    /// if the channel is not held. With the funding txid kept elsewhere
    /// (the graph indexes only a prefix of it), this is what a light
    /// client's host watches for the channel's close.
    ///
    /// ```
    /// use lightning_test_support::gossip::{Generator, SyntheticConfig};
    /// use lightning_gossip::{GraphConfig, NetworkGraph, UtxoAnswer, UtxoLookup};
    ///
    /// let net = Generator::new(1, SyntheticConfig::small(4, 3)).generate();
    /// let mut graph = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    /// let ann = &net.channel_announcements[0];
    /// graph.handle_channel_announcement(ann, Some(&net.utxos), net.now).unwrap();
    /// let UtxoAnswer::Unspent { output, .. } = net.utxos.lookup(&net.chain_hash, ann.short_channel_id) else {
    ///     panic!("unspent");
    /// };
    /// assert_eq!(graph.funding_script_pubkey(ann.short_channel_id), Some(output.script_pubkey));
    /// ```
    pub fn funding_script_pubkey(&self, scid: ShortChannelId) -> Option<ScriptBuf> {
        let proof = self
            .store
            .channel_by_scid(scid)
            .and_then(|idx| self.store.proof(idx))?;
        let script = verify::funding_witness_script(&proof.bitcoin_keys[0], &proof.bitcoin_keys[1]);
        Some(ScriptBuf::new_p2wsh(&script.wscript_hash()))
    }

    /// The channels closing (funding spent, not yet forgotten) with their
    /// spend heights, by `short_channel_id`.
    pub fn closing_spends(&self) -> Vec<(ShortChannelId, u32)> {
        self.spent_entries()
    }

    /// Funding outpoints indexed (see [`spent_input`](Self::spent_input)).
    pub fn funding_outpoints(&self) -> usize {
        self.funding.len()
    }

    /// An input of a transaction confirmed in the block at `height`: if it
    /// spends the funding output of a channel we hold, the channel is
    /// closing ([`funding_spent`](Self::funding_spent)). One hash lookup
    /// per input; a candidate counts only when the `short_channel_id`'s
    /// output index is the input's and the input's last witness element is
    /// the channel's funding witness script (BOLT 3, `2 <pubkey1>
    /// <pubkey2> 2 OP_CHECKMULTISIG` of the announced `bitcoin_key`s), which
    /// every valid spend of the funding output carries. Only channels
    /// whose funding txid the graph learned are found: from a
    /// [`UtxoLookup`] answer or [`set_funding_outpoint`](Self::set_funding_outpoint).
    /// Returns the channel now closing.
    ///
    /// ```
    /// use bitcoin::{OutPoint, Sequence, TxIn, Witness, ScriptBuf};
    /// use lightning_test_support::gossip::{Generator, SyntheticConfig};
    /// use lightning_gossip::{verify, GraphConfig, NetworkGraph};
    ///
    /// let net = Generator::new(1, SyntheticConfig::small(4, 3)).generate();
    /// let mut graph = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    /// let ann = &net.channel_announcements[0];
    /// let scid = ann.short_channel_id;
    /// graph.handle_channel_announcement(ann, Some(&net.utxos), net.now).unwrap();
    /// let script = verify::funding_witness_script(
    ///     &ann.bitcoin_key_1.serialize(),
    ///     &ann.bitcoin_key_2.serialize(),
    /// );
    /// let input = TxIn {
    ///     previous_output: net.utxos.funding_outpoint(scid),
    ///     script_sig: ScriptBuf::new(),
    ///     sequence: Sequence::MAX,
    ///     witness: Witness::from_slice(&[vec![], vec![0x30; 71], vec![0x30; 71], script.to_bytes()]),
    /// };
    /// assert_eq!(graph.spent_input(&input, 900_000), Some(scid));
    /// assert!(graph.channel(graph.channel_by_scid(scid).unwrap()).unwrap().is_closed());
    /// ```
    pub fn spent_input(&mut self, input: &TxIn, height: u32) -> Option<ShortChannelId> {
        let op = input.previous_output;
        let k = funding::key(&op.txid, op.vout);
        let hit = self.funding.get(k).find(|s| {
            let scid = ShortChannelId(*s);
            u32::from(scid.output_index()) == op.vout && self.spends_funding_of(scid, input)
        })?;
        let scid = ShortChannelId(hit);
        self.funding_spent(scid, height);
        Some(scid)
    }

    /// Whether `input`'s witness script is the funding script of `scid`.
    fn spends_funding_of(&self, scid: ShortChannelId, input: &TxIn) -> bool {
        let Some(proof) = self
            .store
            .channel_by_scid(scid)
            .and_then(|idx| self.store.proof(idx))
        else {
            return false;
        };
        let script = verify::funding_witness_script(&proof.bitcoin_keys[0], &proof.bitcoin_keys[1]);
        input.witness.last() == Some(script.as_bytes())
    }

    /// Indexes a channel's funding outpoint from a settled lookup.
    fn index_funding(&mut self, scid: ShortChannelId, settled: &Settled) {
        if let Settled::Unspent { txid, output } = settled {
            let vout = u32::from(scid.output_index());
            self.insert_funding_key(funding::key(txid, vout), scid.0);
            if let Some(v) = &mut self.new_funding {
                if v.len() >= MAX_NEW_FUNDING {
                    v.pop_front();
                }
                v.push_back(NewFunding {
                    scid,
                    outpoint: OutPoint::new(*txid, vout),
                    script_pubkey: output.script_pubkey.clone(),
                });
            }
        }
    }

    pub(crate) fn insert_funding_key(&mut self, key: u64, scid: u64) {
        // Entries of removed channels are dropped at `prune_stale`, or here
        // once they could outnumber the live ones.
        if self.funding.len() >= self.store.channel_count().saturating_mul(2) + 1_024 {
            self.gc_funding();
        }
        self.funding.insert(key, scid);
    }

    /// The index entries of the channels held (entries of removed channels
    /// wait for the next clean-up and are not saved).
    pub(crate) fn funding_entries(&self) -> Vec<(u64, u64)> {
        let mut v = self.funding.entries();
        v.retain(|(_, s)| self.store.channel_by_scid(ShortChannelId(*s)).is_some());
        v
    }

    fn gc_funding(&mut self) {
        let store = &self.store;
        self.funding
            .retain(|s| store.channel_by_scid(ShortChannelId(s)).is_some());
    }

    /// The chain tip is at `height`: forgets closed channels whose spend
    /// has 12 confirmations ([`CLOSE_DELAY_BLOCKS`]: the tip is at
    /// `spend height + 11`). Returns how many were removed.
    pub fn block_connected(&mut self, height: u32) -> usize {
        if self.spent.is_empty() {
            return 0;
        }
        let delay = self.config.close_delay_blocks;
        let due: Vec<u32> = self
            .spent
            .iter()
            .filter(|(_, spent)| height.saturating_add(1) >= spent.saturating_add(delay))
            .map(|(i, _)| *i)
            .collect();
        for i in &due {
            self.remove_channel(ChannelIdx(*i));
        }
        due.len()
    }

    /// The block at `height` left the best chain (a reorg): every spend
    /// seen at `height` or above is undone and its channel is open again
    /// (BOLT 7 forgets a channel only 12 blocks after the spend, so a
    /// reorg shallower than that loses nothing; a channel already
    /// forgotten comes back through gossip). Returns how many reopened.
    ///
    /// ```
    /// use lightning_test_support::gossip::{Generator, SyntheticConfig};
    /// use lightning_gossip::{GraphConfig, NetworkGraph};
    ///
    /// let net = Generator::new(1, SyntheticConfig::small(4, 3)).generate();
    /// let mut graph = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    /// let ann = &net.channel_announcements[0];
    /// graph.handle_channel_announcement(ann, Some(&net.utxos), net.now).unwrap();
    /// graph.funding_spent(ann.short_channel_id, 900_000);
    /// assert_eq!(graph.block_disconnected(900_000), 1);
    /// assert_eq!(graph.block_connected(900_020), 0);
    /// let idx = graph.channel_by_scid(ann.short_channel_id).unwrap();
    /// assert!(!graph.channel(idx).unwrap().is_closed());
    /// ```
    pub fn block_disconnected(&mut self, height: u32) -> usize {
        if self.spent.is_empty() {
            return 0;
        }
        let undone: Vec<ShortChannelId> = self
            .spent
            .iter()
            .filter(|(_, spent)| **spent >= height)
            .filter_map(|(i, _)| Some(self.store.channel(ChannelIdx(*i))?.scid()))
            .collect();
        for scid in &undone {
            self.funding_unspent(*scid);
        }
        undone.len()
    }

    /// The funding spend of `scid` was reorganised out: the channel is
    /// open again.
    pub fn funding_unspent(&mut self, scid: ShortChannelId) {
        self.utxo_cache.forget(scid);
        if let Some(idx) = self.store.channel_by_scid(scid) {
            self.spent.remove(&idx.0);
            if let Some(ch) = self.store.channel_mut(idx) {
                ch.flags &= !FLAG_CLOSED;
            }
        }
    }

    /// Channels closed on chain and awaiting their 12th confirmation.
    pub fn closing_channels(&self) -> usize {
        self.spent.len()
    }

    /// The store's estimate ([`GraphStore::approx_bytes`]) plus the funding
    /// outpoint index.
    pub fn approx_bytes(&self) -> usize {
        self.store.approx_bytes() + self.funding.approx_bytes()
    }

    /// Prunes channels whose latest update in either direction is older
    /// than the staleness limit (BOLT 7, "Recommendation on Pruning Stale
    /// Entries": "if the `timestamp` of the latest `channel_update` in
    /// either direction is older than two weeks (1209600 seconds): MAY
    /// prune the channel"). A direction without any update counts from
    /// when we accepted the announcement. Pruned channels become zombies.
    /// Returns how many were pruned.
    ///
    /// ```
    /// use lightning_test_support::gossip::{Generator, SyntheticConfig};
    /// use lightning_gossip::{GraphConfig, NetworkGraph, STALE_AFTER_SECS};
    ///
    /// let net = Generator::new(1, SyntheticConfig::small(4, 3)).generate();
    /// let mut graph = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    /// for ann in &net.channel_announcements {
    ///     graph.handle_channel_announcement(ann, Some(&net.utxos), net.now).unwrap();
    /// }
    /// assert_eq!(graph.prune_stale(net.now), 0);
    /// let later = net.now + u64::from(STALE_AFTER_SECS) + 1;
    /// assert_eq!(graph.prune_stale(later), net.channel_announcements.len());
    /// assert!(graph.is_zombie(net.channel_announcements[0].short_channel_id));
    /// ```
    pub fn prune_stale(&mut self, now: u64) -> usize {
        let limit = u64::from(self.config.stale_after_secs);
        let stale: Vec<(ChannelIdx, u64)> = self
            .store
            .channels()
            .filter(|(_, c)| {
                let oldest = c
                    .dirs
                    .iter()
                    .map(|d| {
                        if d.timestamp == 0 {
                            c.added
                        } else {
                            d.timestamp
                        }
                    })
                    .min()
                    .unwrap_or(c.added);
                u64::from(oldest) + limit < now
            })
            .map(|(i, c)| (i, c.scid().0))
            .collect();
        for (idx, scid) in &stale {
            let ids = self.store.channel(*idx).and_then(|c| {
                Some([
                    self.node_key_bytes(c.node_one())?,
                    self.node_key_bytes(c.node_two())?,
                ])
            });
            self.remove_channel(*idx);
            if let Some(node_ids) = ids {
                self.insert_zombie(*scid, Zombie { node_ids });
            }
        }
        // Drops the index entries of every channel removed since (stale,
        // closed, blacklisted).
        self.gc_funding();
        stale.len()
    }
}

fn settle(answer: UtxoAnswer) -> Settled {
    match answer {
        UtxoAnswer::Unspent { txid, output } => Settled::Unspent { txid, output },
        UtxoAnswer::Spent => Settled::Spent,
        _ => Settled::NotFound,
    }
}

/// The funding check proper; returns the capacity in satoshis.
fn check_funding(msg: &ChannelAnnouncement, settled: &Settled) -> Result<u64, GossipError> {
    let scid = msg.short_channel_id;
    match settled {
        Settled::Spent => Err(GossipError::FundingSpent(scid)),
        Settled::NotFound => Err(GossipError::FundingNotFound(scid)),
        Settled::Unspent { output: out, .. } => {
            if out.script_pubkey
                != verify::funding_script_pubkey(&msg.bitcoin_key_1, &msg.bitcoin_key_2)
            {
                return Err(GossipError::FundingScriptMismatch(scid));
            }
            Ok(out.value.to_sat())
        }
    }
}

/// Takes one token from a direction's budget, refilled one per
/// `refill_secs` of our clock up to `burst`.
fn take_token(rate: &mut RateState, burst: u8, refill_secs: u32, now: u64) -> Result<(), ()> {
    let now = clamp_u32(now);
    match now
        .saturating_sub(rate.last_refill)
        .checked_div(refill_secs)
    {
        Some(0) => {}
        Some(earned) => {
            rate.tokens = u8::try_from(u32::from(rate.tokens).saturating_add(earned))
                .unwrap_or(u8::MAX)
                .min(burst);
            rate.last_refill = rate
                .last_refill
                .saturating_add(earned.saturating_mul(refill_secs));
        }
        None => rate.tokens = burst,
    }
    if rate.tokens == 0 {
        return Err(());
    }
    rate.tokens -= 1;
    Ok(())
}
