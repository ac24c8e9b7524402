//! Why a gossip message was not applied to the graph.
//!
//! Every rejection is a [`GossipError`]. [`GossipError::is_misbehavior`]
//! separates what only a dishonest or broken *peer* can send (a bad
//! signature, a wrong `node_id` order: BOLT 7 "SHOULD send a `warning`",
//! "MAY close the connection") from what an honest peer relays in good
//! faith (stale or duplicate gossip, channels we cannot see on chain yet).
//! Nothing here panics: the caller decides whether to warn or ban.

use lightning_wire::types::ShortChannelId;

/// A gossip message that was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GossipError {
    /// `chain_hash` is not the graph's chain (BOLT 7: "MUST ignore the
    /// message").
    #[error("chain_hash is not our chain")]
    UnknownChain,
    /// A signature does not verify (BOLT 7: "MUST verify the integrity AND
    /// authenticity of the message by verifying the signatures").
    #[error("invalid {which}")]
    InvalidSignature {
        /// The signature field that failed.
        which: &'static str,
    },
    /// `node_id_1` is not the lesser of the two keys (BOLT 7: the origin
    /// "MUST set `node_id_1` and `node_id_2` ... such that `node_id_1` is
    /// the lexicographically-lesser").
    #[error("node_id_1 is not lexicographically less than node_id_2")]
    NodeIdOrder,
    /// The announcement has an unknown even channel feature. BOLT 7 only
    /// forbids routing through such a channel; we store nothing we may not
    /// use, when [`GraphConfig::reject_unknown_required_features`] is set.
    ///
    /// [`GraphConfig::reject_unknown_required_features`]: crate::GraphConfig::reject_unknown_required_features
    #[error("unknown required channel feature bit {0}")]
    UnknownRequiredFeature(usize),
    /// The funding output is not on chain (BOLT 7: "MUST ignore the
    /// message").
    #[error("funding output of {0} not found")]
    FundingNotFound(ShortChannelId),
    /// The funding output is spent (BOLT 7: "OR the output is spent: MUST
    /// ignore the message").
    #[error("funding output of {0} is spent")]
    FundingSpent(ShortChannelId),
    /// The funding output is not the 2-of-2 P2WSH of the bitcoin keys
    /// (BOLT 7, BOLT 3 "Funding Transaction Output").
    #[error("funding output of {0} does not pay the announced bitcoin keys")]
    FundingScriptMismatch(ShortChannelId),
    /// The host's UTXO source could not answer.
    #[error("funding lookup for {0} failed")]
    FundingLookupFailed(ShortChannelId),
    /// Too many funding lookups are waiting for the host; try later.
    #[error("too many funding lookups in flight")]
    TooManyPendingLookups,
    /// This announcement is already waiting for its funding lookup.
    #[error("announcement of {0} already awaits its funding lookup")]
    LookupAlreadyPending(ShortChannelId),
    /// The channel's announcement awaits its funding lookup: the update is
    /// kept (the newest per direction) and applied once the lookup settles.
    #[error("channel {0} awaits its funding lookup; update kept")]
    AwaitingFunding(ShortChannelId),
    /// No lookup was pending for this channel.
    #[error("no funding lookup pending for {0}")]
    NoPendingLookup(ShortChannelId),
    /// The same channel is already known with these node ids.
    #[error("channel {0} already announced")]
    DuplicateAnnouncement(ShortChannelId),
    /// A second valid announcement of the same funding output with other
    /// node ids (BOLT 7: "SHOULD blacklist the previous message's
    /// `node_id_1` and `node_id_2`, as well as this `node_id_1` and
    /// `node_id_2` AND forget any channels connected to them").
    #[error("conflicting announcement of {0}: its nodes are now blacklisted")]
    ConflictingAnnouncement(ShortChannelId),
    /// One of the nodes is blacklisted (BOLT 7: "SHOULD ignore the
    /// message").
    #[error("a node of this message is blacklisted")]
    Blacklisted,
    /// The channel was pruned as stale; it comes back only with a fresh
    /// `channel_update`.
    #[error("channel {0} is a zombie (pruned as stale)")]
    Zombie(ShortChannelId),
    /// The funding output is spent; the channel is forgotten after the
    /// spec's delay (BOLT 7: "if the channel has been closed in the
    /// meantime: MUST ignore").
    #[error("channel {0} is closed")]
    ChannelClosed(ShortChannelId),
    /// `channel_update` for a channel without `channel_announcement`
    /// (BOLT 7: "MUST ignore `channel_update`s that do NOT correspond to
    /// one of its own channels").
    #[error("channel {0} is unknown")]
    UnknownChannel(ShortChannelId),
    /// `timestamp` is 0 (BOLT 7: the origin "MUST set `timestamp` to
    /// greater than 0").
    #[error("timestamp is zero")]
    ZeroTimestamp,
    /// Not newer than what we hold (BOLT 7: "if `timestamp` is lower than
    /// that of the last-received ...: SHOULD ignore the message").
    #[error("timestamp {got} is not newer than {have}")]
    Stale {
        /// The stored timestamp.
        have: u32,
        /// The received one.
        got: u32,
    },
    /// Same timestamp and same fields as what we hold (BOLT 7: "SHOULD
    /// ignore this message").
    #[error("duplicate of the stored message")]
    Duplicate,
    /// Same timestamp, different fields (BOLT 7: "MAY blacklist this
    /// `node_id`"). The origin node misbehaved, not the relaying peer.
    #[error("same timestamp as the stored update but different fields")]
    ConflictingUpdate,
    /// More than [`GraphConfig::max_future_secs`] ahead of our clock (BOLT
    /// 7: "if the `timestamp` is unreasonably far in the future: MAY
    /// discard").
    ///
    /// [`GraphConfig::max_future_secs`]: crate::GraphConfig::max_future_secs
    #[error("timestamp {got} is too far in the future (now {now})")]
    FutureTimestamp {
        /// The received timestamp.
        got: u32,
        /// Our clock.
        now: u64,
    },
    /// Older than the two-week staleness limit: it would be pruned at once
    /// (BOLT 7, "Recommendation on Pruning Stale Entries").
    #[error("timestamp {got} is older than the staleness limit")]
    TooOld {
        /// The received timestamp.
        got: u32,
    },
    /// The direction's update budget is spent
    /// ([`GraphConfig::update_burst`]); BOLT 7 treats many updates in a
    /// short time as a possible DoS.
    ///
    /// [`GraphConfig::update_burst`]: crate::GraphConfig::update_burst
    #[error("channel_update rate limit reached for {0}")]
    RateLimited(ShortChannelId),
    /// The node's `node_announcement` budget is spent (the same token
    /// bucket as a channel direction's updates).
    #[error("node_announcement rate limit reached")]
    NodeRateLimited,
    /// `node_announcement` for a node without a known channel (BOLT 7:
    /// "if `node_id` is NOT previously known from a `channel_announcement`
    /// message ...: SHOULD ignore the message").
    #[error("node is not known from any channel")]
    UnknownNode,
    /// The graph holds [`GraphConfig::max_channels`] or
    /// [`GraphConfig::max_nodes`] already.
    ///
    /// [`GraphConfig::max_channels`]: crate::GraphConfig::max_channels
    /// [`GraphConfig::max_nodes`]: crate::GraphConfig::max_nodes
    #[error("graph is full ({0})")]
    GraphFull(&'static str),
    /// The message could not be encoded again (for the signature hash).
    #[error("message cannot be encoded")]
    Unencodable,
}

impl GossipError {
    /// Whether only a dishonest or broken peer sends this: a signature
    /// that does not verify or a `channel_announcement` with its node ids
    /// out of order. BOLT 7 says the receiver "SHOULD send a `warning`" and
    /// "MAY close the connection"; a host bans on repeated offences.
    ///
    /// ```
    /// use lightning_gossip::GossipError;
    /// assert!(GossipError::InvalidSignature { which: "signature" }.is_misbehavior());
    /// assert!(!GossipError::Stale { have: 2, got: 1 }.is_misbehavior());
    /// ```
    pub fn is_misbehavior(&self) -> bool {
        matches!(
            self,
            GossipError::InvalidSignature { .. } | GossipError::NodeIdOrder
        )
    }
}
