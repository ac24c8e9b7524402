//! Announcing our channels and ourselves (BOLT 7): the
//! `announcement_signatures` exchange, the full `channel_announcement`, our
//! `channel_update`s (disable on disconnect, enable on reconnect, refresh
//! before the two-week staleness, a rate limit) and our
//! `node_announcement`. What is for the whole network leaves through
//! [`Node::poll_gossip`]; the host may broadcast it. It also goes into the
//! node's own public graph ([`graph`](super::graph)), which relays it to
//! the peers whose `gossip_timestamp_filter` covers it.
//!
//! Timestamps are UNIX seconds from the host's time, strictly increasing,
//! and the last one is persisted (key [`GOSSIP_TIMESTAMP_KEY`]) before any
//! message carrying it leaves: a restart, even with a clock set back,
//! never reuses or regresses one (BOLT 7: a `timestamp` not greater than
//! the last one the network saw is ignored).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use bitcoin::secp256k1::{ecdsa::Signature, PublicKey};
use lightning_wire::features::NodeFeatures;
use lightning_wire::msgs::{
    AnnouncementSignatures, ChannelUpdate, Message, NodeAddress, NodeAddresses, NodeAnnouncement,
};
use lightning_wire::types::ChannelId;

use super::Node;
use crate::channel::announce::{channel_update_hash, node_announcement_hash, AnnouncementReceipt};
use crate::channel::{ErrorAction, Phase};
use crate::keys::{GossipMessageHash, KeyError};

/// BOLT 7 ("Pruning the Network View"): a channel whose latest update is
/// older than two weeks may be pruned; ours is refreshed a day before.
pub const UPDATE_REFRESH: Duration = Duration::from_secs(13 * 24 * 3600);

/// The node's key of the last gossip timestamp it signed (4 bytes,
/// big-endian).
pub const GOSSIP_TIMESTAMP_KEY: &str = "gossip/last_timestamp";

/// What we announce about ourselves and our channels
/// ([`NodeConfig::gossip`](super::NodeConfig::gossip)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipConfig {
    /// `alias` of `node_announcement` (UTF-8, cut to 32 bytes at a
    /// character boundary, zero padded).
    pub alias: String,
    /// `rgb_color`.
    pub rgb_color: [u8; 3],
    /// `addresses`, the public addresses that take connections (sorted by
    /// type before signing: BOLT 7 "MUST place address descriptors in
    /// ascending order"; port 0 entries are dropped).
    pub addresses: Vec<NodeAddress>,
    /// `cltv_expiry_delta` of our `channel_update`s.
    pub cltv_expiry_delta: u16,
    /// `fee_base_msat`.
    pub fee_base_msat: u32,
    /// `fee_proportional_millionths`.
    pub fee_proportional_millionths: u32,
    /// The least `htlc_minimum_msat` we announce (never below what the
    /// peer accepts, BOLT 7).
    pub htlc_minimum_msat: u64,
    /// A peer gone this long gets its public channel disabled (BOLT 7
    /// allows a disabling update "due to a loss of connectivity"; the delay
    /// keeps short flaps off the network). Default 10 minutes.
    pub disable_delay: Duration,
    /// At most one public `channel_update` per channel per this interval
    /// (BOLT 7 "SHOULD NOT create redundant `channel_update`s"; gossip
    /// implementations rate-limit updates per channel). Later changes wait
    /// and go out together. Default 5 minutes.
    pub min_update_interval: Duration,
}

impl Default for GossipConfig {
    fn default() -> Self {
        GossipConfig {
            alias: String::new(),
            rgb_color: [0; 3],
            addresses: Vec::new(),
            cltv_expiry_delta: 72,
            fee_base_msat: 1000,
            fee_proportional_millionths: 1,
            htlc_minimum_msat: 1,
            disable_delay: Duration::from_secs(600),
            min_update_interval: Duration::from_secs(300),
        }
    }
}

/// Our last public update of one channel.
#[derive(Debug, Clone, Copy)]
struct Published {
    disabled: bool,
    at: Duration,
    /// A new update is wanted (enable, disable) but the rate limit holds it.
    pending: bool,
}

/// The node's gossip state (in memory: timestamps are UNIX seconds from
/// the host's clock, never below the last one made in this run).
#[derive(Debug, Default)]
pub(super) struct GossipState {
    /// Each message behind the write of its timestamp.
    queue: VecDeque<(u64, Message)>,
    /// Channels whose full announcement went to the host this run.
    announced: BTreeSet<ChannelId>,
    published: BTreeMap<ChannelId, Published>,
    /// Channels whose peer got our update on this connection.
    sent_to_peer: BTreeSet<ChannelId>,
    /// When each announced channel's peer went away.
    disconnected_at: BTreeMap<ChannelId, Duration>,
    node_announcement_timestamp: u32,
    last_timestamp: u32,
}

impl Node {
    /// The next gossip message for the whole network: our
    /// `channel_announcement`s, `channel_update`s of public channels and
    /// `node_announcement`s, each already signed, in the order to send
    /// them. The host broadcasts them to its peers (or to a gossip layer).
    ///
    /// ```no_run
    /// # fn f(node: &mut lightning_core::node::Node) {
    /// while let Some(msg) = node.poll_gossip() {
    ///     println!("broadcast {}", msg.name());
    /// }
    /// # }
    /// ```
    ///
    /// A message waits until the write of its timestamp is durable (with
    /// [`Persistence::Async`](super::Persistence::Async), until
    /// [`Node::persist_completed`] reports it).
    pub fn poll_gossip(&mut self) -> Option<Message> {
        let (dep, _) = self.gossip.queue.front()?;
        if !self.writer.is_durable(*dep) {
            return None;
        }
        self.gossip.queue.pop_front().map(|(_, m)| m)
    }

    /// Queues `msg` for [`Node::poll_gossip`], dropping what it supersedes
    /// (an earlier update of the same channel and direction, an earlier
    /// node announcement), so a host that polls seldom holds at most one
    /// announcement and one update per channel and one node announcement.
    fn push_gossip(&mut self, msg: Message) {
        self.graph_own_gossip(&msg);
        self.gossip.queue.retain(|(_, old)| match (old, &msg) {
            (Message::ChannelUpdate(a), Message::ChannelUpdate(b)) => {
                a.short_channel_id != b.short_channel_id || a.direction() != b.direction()
            }
            (Message::NodeAnnouncement(_), Message::NodeAnnouncement(_)) => false,
            _ => true,
        });
        let dep = self.writer.barrier();
        self.gossip.queue.push_back((dep, msg));
    }

    fn gossip_timestamp(&mut self) -> u32 {
        let now = u32::try_from(self.now.as_secs()).unwrap_or(u32::MAX);
        let t = now.max(self.gossip.last_timestamp.saturating_add(1));
        self.gossip.last_timestamp = t;
        // Joins this step's batch: what carries `t` leaves after it.
        let _ = self
            .writer
            .write_record(GOSSIP_TIMESTAMP_KEY, t.to_be_bytes().to_vec());
        t
    }

    /// Our last gossip timestamp from the store: later ones are above it.
    pub(super) fn restore_gossip_timestamp(
        &mut self,
        store: &dyn lightning_persist::KvStore,
    ) -> Result<(), super::NodeError> {
        let read = store
            .read(super::NAMESPACE, GOSSIP_TIMESTAMP_KEY)
            .map_err(|e| super::NodeError::Restore(format!("{GOSSIP_TIMESTAMP_KEY}: {e}")))?;
        if let Some(v) = read {
            self.writer.set_version(GOSSIP_TIMESTAMP_KEY, v.version);
            // A damaged record leaves the clock alone to decide.
            if let Ok(bytes) = <[u8; 4]>::try_from(v.value.as_slice()) {
                let t = u32::from_be_bytes(bytes);
                self.gossip.last_timestamp = t;
                self.gossip.node_announcement_timestamp = t;
            }
        }
        Ok(())
    }

    fn sign_gossip(&self, hash: [u8; 32]) -> Result<Signature, KeyError> {
        self.node_signer
            .sign_gossip_message(GossipMessageHash::DoubleSha256(hash))
    }

    /// After every channel output: send our `announcement_signatures` when
    /// BOLT 7 says, our `channel_update` to the peer once per connection,
    /// and track the peer's presence for the disable bit.
    pub(super) fn after_channel_output(&mut self, id: ChannelId) {
        let our_id = self.node_id();
        let Some(entry) = self.channels.get_mut(&id) else {
            return;
        };
        let their = entry.counterparty;
        let connected = entry.channel.tr.connected;
        if !connected {
            if self.gossip.sent_to_peer.remove(&id) && self.gossip.published.contains_key(&id) {
                self.gossip.disconnected_at.insert(id, self.now);
            }
            return;
        }
        if entry.channel.announcement_due() {
            let signer = self.node_signer.clone();
            let sign = |h| signer.sign_gossip_message(GossipMessageHash::DoubleSha256(h));
            if let Ok(out) = entry.channel.announcement_signatures(our_id, their, sign) {
                self.apply(id, out);
            }
        }
        self.maybe_publish(id);
        let usable = self
            .channels
            .get(&id)
            .is_some_and(|e| e.channel.phase() == Phase::Normal);
        if usable && !self.gossip.sent_to_peer.contains(&id) {
            self.gossip.sent_to_peer.insert(id);
            self.gossip.disconnected_at.remove(&id);
            let public = self.gossip.published.contains_key(&id);
            if let Some(u) = self.our_channel_update(id, !public, false) {
                self.queue_message(their, Message::ChannelUpdate(u));
            }
            if public {
                self.publish_update(id, false, false);
            }
        }
    }

    /// Once the peer's signatures are stored: the full
    /// `channel_announcement`, then our public `channel_update`, then our
    /// `node_announcement` (BOLT 7: a node announcement is ignored unless
    /// a channel announcement named the node first).
    fn maybe_publish(&mut self, id: ChannelId) {
        if self.gossip.announced.contains(&id) {
            return;
        }
        let our_id = self.node_id();
        let Some(entry) = self.channels.get(&id) else {
            return;
        };
        if !matches!(entry.channel.phase(), Phase::Normal) {
            return;
        }
        let signer = self.node_signer.clone();
        let sign = |h| signer.sign_gossip_message(GossipMessageHash::DoubleSha256(h));
        let Ok(Some(ann)) = entry
            .channel
            .channel_announcement(our_id, entry.counterparty, sign)
        else {
            return;
        };
        self.gossip.announced.insert(id);
        self.push_gossip(Message::ChannelAnnouncement(ann));
        self.publish_update(id, false, false);
        if let Some(n) = self.make_node_announcement() {
            self.push_gossip(Message::NodeAnnouncement(n));
        }
    }

    /// Queues a public update for `id` now, or marks it pending when the
    /// rate limit holds it.
    /// `force` (a refresh, or a held update whose time came) skips both
    /// checks.
    fn publish_update(&mut self, id: ChannelId, disabled: bool, force: bool) {
        let now = self.now;
        let interval = self.config.gossip.min_update_interval;
        if let Some(p) = self.gossip.published.get_mut(&id).filter(|_| !force) {
            if p.disabled == disabled && !p.pending {
                return;
            }
            if now < p.at.saturating_add(interval) {
                p.disabled = disabled;
                p.pending = true;
                return;
            }
        }
        let Some(u) = self.our_channel_update(id, false, disabled) else {
            return;
        };
        self.gossip.published.insert(
            id,
            Published {
                disabled,
                at: now,
                pending: false,
            },
        );
        if let Some(peer) = self.channels.get(&id).map(|e| e.counterparty) {
            if self.gossip.sent_to_peer.contains(&id) {
                self.queue_message(peer, Message::ChannelUpdate(u.clone()));
            }
        }
        self.push_gossip(Message::ChannelUpdate(u));
    }

    /// Our `channel_update` for `id` (BOLT 7, "The `channel_update`
    /// Message"): `must_be_one` set, `dont_forward` for a private one (then
    /// the `short_channel_id` is the peer's alias when it gave one),
    /// `direction` 0 when our node id is the lesser, `htlc_maximum_msat` at
    /// most the capacity and the peer's `max_htlc_value_in_flight_msat`,
    /// `htlc_minimum_msat` at least the peer's, and a timestamp above every
    /// one made before.
    pub(super) fn our_channel_update(
        &mut self,
        id: ChannelId,
        private: bool,
        disabled: bool,
    ) -> Option<ChannelUpdate> {
        self.our_channel_update_named(id, None, private, disabled)
    }

    /// [`Node::our_channel_update`] naming the channel `scid` when given
    /// (the id a failed forward's onion used: the payer knows the channel
    /// by it), else as that one chooses.
    pub(super) fn our_channel_update_named(
        &mut self,
        id: ChannelId,
        named: Option<lightning_wire::types::ShortChannelId>,
        private: bool,
        disabled: bool,
    ) -> Option<ChannelUpdate> {
        let our_id = self.node_id();
        let entry = self.channels.get(&id)?;
        let st = entry.channel.state();
        let scid = match (named, private, st.remote_alias) {
            (Some(scid), _, _) => scid,
            (None, true, Some(alias)) => alias,
            _ => st.short_channel_id?,
        };
        let direction = u8::from(our_id.serialize() > entry.counterparty.serialize());
        let cfg = &self.config.gossip;
        let capacity_msat = st.funding_satoshis.saturating_mul(1000);
        let htlc_maximum_msat = capacity_msat.min(st.remote_params.max_htlc_value_in_flight_msat);
        let htlc_minimum_msat = cfg
            .htlc_minimum_msat
            .max(st.remote_params.htlc_minimum_msat)
            .min(htlc_maximum_msat);
        let (chain_hash, cltv, base, prop) = (
            st.chain_hash,
            cfg.cltv_expiry_delta,
            cfg.fee_base_msat,
            cfg.fee_proportional_millionths,
        );
        let timestamp = self.gossip_timestamp();
        let mut u = ChannelUpdate {
            signature: self.sign_gossip([0; 32]).ok()?,
            chain_hash,
            short_channel_id: scid,
            timestamp,
            message_flags: 1 | if private { 2 } else { 0 },
            channel_flags: direction | if disabled { 2 } else { 0 },
            cltv_expiry_delta: cltv,
            htlc_minimum_msat,
            fee_base_msat: base,
            fee_proportional_millionths: prop,
            htlc_maximum_msat,
            tlvs: Default::default(),
        };
        u.signature = self.sign_gossip(channel_update_hash(&u)).ok()?;
        Some(u)
    }

    /// Our `node_announcement` (BOLT 7, "The `node_announcement`
    /// Message"), signed through the [`NodeSigner`](crate::keys::NodeSigner):
    /// a timestamp above the last one, the alias zero padded, addresses in
    /// ascending type order without port 0, our `init` features.
    /// The node queues it by itself once it has a public channel; a host
    /// may also ask for one (say after changing its addresses).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use bitcoin::hashes::{sha256d, Hash};
    /// use bitcoin::secp256k1::{Message, SECP256K1};
    /// use lightning_chain::{FeeRate, FixedFeeEstimator};
    /// use lightning_core::node::{GossipConfig, NodeBuilder, NodeConfig, NodeHost};
    /// use lightning_wire::codec::Encode;
    ///
    /// #[derive(Debug)]
    /// struct NoBroadcast;
    /// impl lightning_chain::Broadcaster for NoBroadcast {
    ///     fn broadcast_transactions(&self, _: &[&bitcoin::Transaction]) {}
    /// }
    /// let mut config = NodeConfig::new(bitcoin::Network::Regtest);
    /// config.gossip = GossipConfig { alias: "satoshi".into(), ..GossipConfig::default() };
    /// let mut node = NodeBuilder::from_config(config)
    ///     .seed(&[1; 32])
    ///     .store(Arc::new(lightning_persist::MemoryStore::new()))
    ///     .host(NodeHost {
    ///         broadcaster: Arc::new(NoBroadcast),
    ///         fee_estimator: Arc::new(FixedFeeEstimator::new(FeeRate::from_sat_per_kw(253))),
    ///     })
    ///     .build()
    ///     .unwrap();
    /// let ann = node.our_node_announcement().unwrap();
    /// assert_eq!(ann.alias_str(), Some("satoshi"));
    /// let h = sha256d::Hash::hash(&ann.to_bytes()[64..]).to_byte_array();
    /// SECP256K1
    ///     .verify_ecdsa(&Message::from_digest(h), &ann.signature, &node.node_id())
    ///     .unwrap();
    /// ```
    pub fn our_node_announcement(&mut self) -> Option<NodeAnnouncement> {
        let n = self.make_node_announcement();
        // A public call ends a step: the timestamp's write is durable
        // (inline) or handed out before the host sees the message.
        let _ = self.finish();
        n
    }

    fn make_node_announcement(&mut self) -> Option<NodeAnnouncement> {
        let cfg = self.config.gossip.clone();
        let mut alias = [0u8; 32];
        let mut end = cfg.alias.len().min(32);
        while !cfg.alias.is_char_boundary(end) {
            end -= 1;
        }
        alias[..end].copy_from_slice(&cfg.alias.as_bytes()[..end]);
        let mut addresses: Vec<NodeAddress> = cfg
            .addresses
            .into_iter()
            .filter(|a| match a {
                NodeAddress::Ipv4 { port, .. }
                | NodeAddress::Ipv6 { port, .. }
                | NodeAddress::Dns { port, .. } => *port != 0,
                NodeAddress::TorV3 { .. } => true,
            })
            .collect();
        addresses.sort_by_key(NodeAddress::type_byte);
        let timestamp = self
            .gossip_timestamp()
            .max(self.gossip.node_announcement_timestamp.saturating_add(1));
        self.gossip.node_announcement_timestamp = timestamp;
        let features = NodeFeatures::from_be_bytes(self.config.features.as_be_bytes().to_vec());
        let mut n = NodeAnnouncement {
            signature: self.sign_gossip([0; 32]).ok()?,
            features,
            timestamp,
            node_id: self.node_id(),
            rgb_color: cfg.rgb_color,
            alias,
            addresses: NodeAddresses {
                addresses,
                unparsed: Vec::new(),
            },
            tlvs: Default::default(),
        };
        n.signature = self.sign_gossip(node_announcement_hash(&n)).ok()?;
        Some(n)
    }

    /// The peer's `announcement_signatures` (BOLT 7): checked and stored by
    /// the channel (the write comes before our answer), then answered with
    /// ours when due, and the full announcement published. A bad one
    /// gets a `warning` and a disconnect; one for a channel we do not have
    /// with this peer is ignored.
    pub(super) fn on_announcement_signatures(
        &mut self,
        node_id: PublicKey,
        m: &AnnouncementSignatures,
    ) {
        let our_id = self.node_id();
        let Some(entry) = self.channels.get_mut(&m.channel_id) else {
            return;
        };
        if entry.counterparty != node_id {
            return;
        }
        match entry.channel.on_announcement_signatures(m, our_id, node_id) {
            Ok(AnnouncementReceipt::Stored(out)) => self.apply(m.channel_id, out),
            Ok(AnnouncementReceipt::Ignored(_)) => {}
            Err(e) => {
                if let Some(msg) = e.to_message(m.channel_id) {
                    self.queue_message(node_id, msg);
                }
                if e.action() == ErrorAction::Warn {
                    self.queue_disconnect(node_id);
                }
            }
        }
    }

    /// Timers: disable the public channels whose peer has been away
    /// [`GossipConfig::disable_delay`], release updates the rate limit
    /// held, refresh updates before [`UPDATE_REFRESH`].
    pub(super) fn gossip_timeout(&mut self) {
        let now = self.now;
        let delay = self.config.gossip.disable_delay;
        let interval = self.config.gossip.min_update_interval;
        let gone: Vec<ChannelId> = self
            .gossip
            .disconnected_at
            .iter()
            .filter(|(_, t)| now >= t.saturating_add(delay))
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            self.gossip.disconnected_at.remove(&id);
            self.publish_update(id, true, false);
        }
        let due: Vec<(ChannelId, bool)> = self
            .gossip
            .published
            .iter()
            .filter(|(_, p)| {
                (p.pending && now >= p.at.saturating_add(interval))
                    || now >= p.at.saturating_add(UPDATE_REFRESH)
            })
            .map(|(id, p)| (*id, p.disabled))
            .collect();
        for (id, disabled) in due {
            self.publish_update(id, disabled, true);
        }
        self.graph_timeout();
    }

    /// When [`Node::gossip_timeout`] next has work.
    pub(super) fn gossip_next_timeout(&self) -> Option<Duration> {
        let delay = self.config.gossip.disable_delay;
        let interval = self.config.gossip.min_update_interval;
        let disable = self
            .gossip
            .disconnected_at
            .values()
            .map(|t| t.saturating_add(delay));
        let publish = self.gossip.published.values().map(|p| {
            if p.pending {
                p.at.saturating_add(interval)
            } else {
                p.at.saturating_add(UPDATE_REFRESH)
            }
        });
        disable
            .chain(publish)
            .chain(self.graph_next_timeout())
            .min()
    }
}
