//! What a [`Node`] is configured with, and what a channel
//! gets from it ([`Node::channel_config`]).

use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use bitcoin::{Network, ScriptBuf};
use lightning_wire::features::{Feature, InitFeatures};
use lightning_wire::types::ChainHash;
use lightning_wire::types::ShortChannelId;

use super::Node;
use crate::channel::params::FeerateBounds;
use crate::channel::ChannelConfig;

/// The node's settings.
///
/// ```
/// use lightning_core::node::NodeConfig;
/// let config = NodeConfig::new(bitcoin::Network::Regtest);
/// assert_eq!(config.channel.minimum_depth, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// The chain: `init`'s `networks`, the channels' `chain_hash`, the
    /// invoices' currency.
    pub network: Network,
    /// The features we send in `init` (and so understand). Default:
    /// [`NodeConfig::default_features`].
    pub features: InitFeatures,
    /// The template of every channel's configuration: our limits on the
    /// peer (among them `limits.max_funding_satoshis`, the largest inbound
    /// channel), the limits we accept, and `minimum_depth`, the depth an
    /// inbound channel waits for (at least 1 for a peer not trusted for
    /// zero-conf). The node fills in `chain_hash`, `anchors` (when both
    /// `init`s have `option_anchors`), `simple_close` (when both have
    /// `option_simple_close`), `trusted_for_zeroconf`, `shutdown_script`,
    /// and `feerates`, which it takes from the host's `FeeEstimator` when
    /// the channel opens and again at every block
    /// ([`FeerateBounds::from_estimator`](crate::channel::params::FeerateBounds::from_estimator)).
    pub channel: ChannelConfig,
    /// Peers whose zero-conf channels we accept (and to whom ours are
    /// opened with `minimum_depth` 0).
    pub trusted_zeroconf_peers: Vec<PublicKey>,
    /// `min_final_cltv_expiry_delta` of our invoices, and the least we
    /// accept between the current height and a received HTLC's expiry.
    pub min_final_cltv_expiry_delta: u16,
    /// The final CLTV delta of the keysends we send (default 48). No
    /// invoice tells a keysend's payee's minimum, so the sender picks one
    /// every implementation accepts: LDK 0.2 fails a final HTLC expiring
    /// within 40 blocks (its `HTLC_FAIL_BACK_BUFFER` + 1), and the payee
    /// may be a few blocks ahead of us. Seen failing at 18 against LDK
    /// (`interop-ldk/tests/keysend.rs`).
    pub keysend_final_cltv_expiry_delta: u16,
    /// Where cooperative closes pay our side. `None`: a P2WPKH of the
    /// seed's wallet key `m/3'/0'` ([`Node::shutdown_script`](super::Node::shutdown_script)).
    pub shutdown_script: Option<ScriptBuf>,
    /// A liveness `ping` after this much silence from a peer.
    pub ping_interval: Duration,
    /// The largest `min_final_cltv_expiry_delta` of an invoice we agree to
    /// pay (default 2016 blocks, about two weeks): a payee asking for more
    /// could hold our HTLC, and the funds in it, that long. Above it
    /// [`Node::pay_invoice`](super::Node::pay_invoice) refuses with
    /// [`NodeError::FinalCltvExpiryDeltaTooLarge`](super::NodeError::FinalCltvExpiryDeltaTooLarge).
    pub max_final_cltv_expiry_delta: u32,
    /// Caps on inbound channels not yet funded (see
    /// [`InboundLimits`]).
    pub inbound: InboundLimits,
    /// Messages the node holds for one connection (waiting for writes, or
    /// for the host to drain the peer's socket). A peer that lets more
    /// than this pile up is disconnected with a `warning`. Default 4096.
    pub max_queued_messages_per_peer: usize,
    /// BOLT 2's "deadline for offered HTLCs" `G`: the channel is failed
    /// (and the HTLC timed out on chain, BOLT 5) when an HTLC we offered
    /// is still not irrevocably removed `G` blocks after its
    /// `cltv_expiry`. BOLT 2: "1 or 2 blocks is reasonable". Default 2.
    pub offered_htlc_grace_blocks: u32,
    /// BOLT 2's "fulfillment deadline for received HTLCs" `R`: the channel
    /// is failed (and the HTLC claimed on chain with its preimage) when we
    /// fulfilled an HTLC the peer offered and the fulfill is still not
    /// irrevocably committed `R` blocks before its `cltv_expiry`. It must
    /// stay below `min_final_cltv_expiry_delta`. Default 12.
    pub fulfill_deadline_blocks: u32,
    /// What we announce (BOLT 7): alias, color, addresses, and the fees and
    /// limits of our `channel_update`s. Channels are announced when
    /// `channel.announce_channel` is set (outbound) or the funder set it.
    pub gossip: super::GossipConfig,
    /// The public graph, gossip from peers and sync (BOLT 7). Default: on.
    pub network_graph: super::NetworkGraphConfig,
    /// Forwarding and receiving beyond invoices: whether we forward, the
    /// HTLC limits of forwards, keysend (see [`ForwardingConfig`]). The
    /// fees and CLTV delta we charge are [`NodeConfig::gossip`]'s, the ones
    /// our `channel_update`s announce (BOLT 7): one source for both.
    pub forwarding: ForwardingConfig,
    /// The most attempts (routes sent, the first included) a payment the
    /// node routes itself ([`Node::pay_invoice`](super::Node::pay_invoice))
    /// makes before it is reported failed. Default
    /// [`DEFAULT_PAYMENT_RETRY_ATTEMPTS`]; 1 never retries.
    pub payment_retry_attempts: u32,
    /// How long after the first attempt a new one may still be sent
    /// (a failure after that is final). Default 60 seconds.
    pub payment_retry_timeout: Duration,
    /// The most routing fees a payment the node routes itself may pay:
    /// the larger of [`NodeConfig::payment_max_fee_base_msat`] and this
    /// many millionths of the amount. Default 5000 (0.5 %).
    pub payment_max_fee_ppm: u32,
    /// Fees up to this are always accepted, however small the payment.
    /// Default 5000 msat.
    pub payment_max_fee_base_msat: u64,
    /// The most HTLCs in flight at once for one payment the node routes
    /// itself: when no single path is likely enough to carry the amount
    /// and the invoice sets `basic_mpp`, it is split into up to this many
    /// parts (BOLT 4 "Basic Multi-Part Payments"). Default 8; 1 never
    /// splits.
    pub payment_max_parts: u8,
    /// Multi-part payments we receive: how long an incomplete one is
    /// held, and how many parts (see [`MppReceiveConfig`](super::MppReceiveConfig)).
    pub mpp_receive: super::MppReceiveConfig,
    /// Watchtowers this node sends justice kits to, and whether it serves
    /// as one (see [`WatchtowerConfig`](super::WatchtowerConfig)).
    pub watchtower: super::WatchtowerConfig,
}

/// The default of [`NodeConfig::payment_retry_attempts`].
pub const DEFAULT_PAYMENT_RETRY_ATTEMPTS: u32 = 4;

/// Forwarding policy beyond what `channel_update` carries (BOLT 4, "Payload
/// Format", requirements for a forwarding node; BOLT 7, "HTLC Fees").
///
/// ```
/// use lightning_core::node::ForwardingConfig;
/// let f = ForwardingConfig::default();
/// assert!(f.enabled && !f.accept_keysend);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ForwardingConfig {
    /// Forward HTLCs whose onion names a next hop. Off: every forward is
    /// failed `unknown_next_peer`. Default on.
    pub enabled: bool,
    /// The largest HTLC we forward (`None`: only the outgoing channel's
    /// own limits, which our `channel_update` announces).
    pub htlc_maximum_msat: Option<u64>,
    /// The fewest blocks between the current height and an outgoing
    /// HTLC's `cltv_expiry` (at or below it the forward is failed
    /// `expiry_too_soon`): blocks for the HTLC to travel and be answered
    /// before the next hop must fail it. Our own safety margin (claiming
    /// upstream after a timeout downstream) is the `cltv_expiry_delta` we
    /// charge, checked separately (`incorrect_cltv_expiry`). Default 6.
    pub min_outgoing_cltv_blocks: u32,
    /// The most blocks between the current height and an outgoing HTLC's
    /// `cltv_expiry`: beyond it the forward is failed `expiry_too_far`.
    /// Default 2016.
    pub max_outgoing_cltv_blocks: u32,
    /// Accept spontaneous payments (keysend: the preimage in onion TLV
    /// 5482373484). Default off: such HTLCs fail
    /// `incorrect_or_unknown_payment_details`.
    pub accept_keysend: bool,
    /// How long resolved forwards stay in the history
    /// ([`Node::list_forwards`](super::Node::list_forwards), the store):
    /// [`Node::handle_timeout`](super::Node::handle_timeout) deletes,
    /// at most once an hour, those resolved longer ago that nothing can
    /// need again ([`Node::prune_forwards`](super::Node::prune_forwards)).
    /// Default `None`: kept until the host prunes them.
    pub history_retention: Option<std::time::Duration>,
}

impl Default for ForwardingConfig {
    fn default() -> Self {
        ForwardingConfig {
            enabled: true,
            htlc_maximum_msat: None,
            min_outgoing_cltv_blocks: 6,
            max_outgoing_cltv_blocks: 2016,
            accept_keysend: false,
            history_retention: None,
        }
    }
}

/// The default [`NodeConfig::max_final_cltv_expiry_delta`].
pub const DEFAULT_MAX_FINAL_CLTV_EXPIRY_DELTA: u32 = 2016;

impl NodeConfig {
    /// Defaults for `network`.
    pub fn new(network: Network) -> Self {
        NodeConfig {
            network,
            features: Self::default_features(),
            channel: ChannelConfig {
                chain_hash: ChainHash::for_network(network),
                ..ChannelConfig::default()
            },
            trusted_zeroconf_peers: Vec::new(),
            min_final_cltv_expiry_delta: 18,
            keysend_final_cltv_expiry_delta: 48,
            shutdown_script: None,
            ping_interval: Duration::from_secs(30),
            max_final_cltv_expiry_delta: DEFAULT_MAX_FINAL_CLTV_EXPIRY_DELTA,
            inbound: InboundLimits::default(),
            max_queued_messages_per_peer: 4096,
            offered_htlc_grace_blocks: 2,
            fulfill_deadline_blocks: 12,
            gossip: super::GossipConfig::default(),
            network_graph: super::NetworkGraphConfig::default(),
            forwarding: ForwardingConfig::default(),
            payment_retry_attempts: DEFAULT_PAYMENT_RETRY_ATTEMPTS,
            payment_retry_timeout: Duration::from_secs(60),
            payment_max_fee_ppm: 5000,
            payment_max_fee_base_msat: 5000,
            payment_max_parts: 8,
            mpp_receive: super::MppReceiveConfig::default(),
            watchtower: super::WatchtowerConfig::default(),
        }
    }

    /// What this node implements (BOLT 9): `var_onion_optin`,
    /// `option_static_remotekey` and `payment_secret` required;
    /// `basic_mpp` (receiving, [`MppReceiveConfig`](super::MppReceiveConfig)),
    /// `option_data_loss_protect`, `option_upfront_shutdown_script`,
    /// `option_anchors`, `option_shutdown_anysegwit`,
    /// `option_channel_type`, `option_provide_storage`, `gossip_queries`
    /// and `gossip_queries_ex` optional.
    pub fn default_features() -> InitFeatures {
        let mut f = InitFeatures::empty();
        f.set_optional(Feature::DataLossProtect);
        f.set_optional(Feature::UpfrontShutdownScript);
        f.set_required(Feature::VarOnionOptin);
        f.set_required(Feature::StaticRemoteKey);
        f.set_required(Feature::PaymentSecret);
        // BOLT 4 "Basic Multi-Part Payments", received (`node/mpp.rs`).
        f.set_optional(Feature::BasicMpp);
        f.set_optional(Feature::AnchorsZeroFeeHtlcTx);
        f.set_optional(Feature::ShutdownAnySegwit);
        f.set_optional(Feature::ChannelType);
        // BOLT 1 peer storage (issue 21, `node/peer_storage.rs`).
        f.set_optional(Feature::ProvideStorage);
        // BOLT 7 queries (cleared when the graph is off).
        f.set_optional(Feature::GossipQueries);
        f.set_optional(Feature::GossipQueriesEx);
        // BOLT 4 attribution data on our fulfils and failures, and checked
        // on those we get back (`node/attribution.rs`, `outcomes.rs`).
        // Clearing it stops the node from sending any.
        f.set_optional(Feature::AttributionData);
        // BOLT 4 onion messages: forwarded for peers, and BOLT 12's
        // requests and invoices (`node/onion_messages.rs`).
        f.set_optional(Feature::OnionMessages);
        // BOLT 4 route blinding: we pay, relay inside and receive over
        // blinded paths (`node/blinded_pay.rs`, `forward.rs`); a payee
        // such as LDK makes its BOLT 12 paths only through peers that say
        // so.
        f.set_optional(Feature::RouteBlinding);
        f
    }

    /// The fee budget of a routed payment of `amount_msat`.
    pub(crate) fn payment_max_fee_msat(&self, amount_msat: u64) -> u64 {
        let ppm = u128::from(amount_msat) * u128::from(self.payment_max_fee_ppm) / 1_000_000;
        u64::try_from(ppm)
            .unwrap_or(u64::MAX)
            .max(self.payment_max_fee_base_msat)
    }

    pub(crate) fn chain_hash(&self) -> ChainHash {
        ChainHash::for_network(self.network)
    }
}

impl Node {
    /// The feerates accepted from peers now, from the host's estimator
    /// ([`FeerateBounds::from_estimator`]).
    pub(crate) fn feerate_bounds(&self) -> FeerateBounds {
        FeerateBounds::from_estimator(&*self.host.fee_estimator)
    }

    /// Where our side of cooperative closes is paid:
    /// [`NodeConfig::shutdown_script`], else a P2WPKH of the seed's wallet
    /// key `m/3'/0'` (a node built with the host's signers must name a
    /// script).
    pub fn shutdown_script(&self) -> ScriptBuf {
        match &self.config.shutdown_script {
            Some(s) => s.clone(),
            None => self.default_shutdown_script.clone(),
        }
    }

    /// The settings of a new (or restored) channel with `counterparty`:
    /// the node's channel settings, with the features both sides support
    /// and this node's feerate bounds and shutdown script.
    pub(super) fn channel_config(&self, counterparty: &PublicKey) -> ChannelConfig {
        let their = self
            .peers
            .connected_peers()
            .find(|(_, n, _)| n == counterparty)
            .map(|(_, _, f)| f.clone());
        let both = |f: Feature| {
            self.config.features.supports(f) && their.as_ref().is_some_and(|t| t.supports(f))
        };
        let trusted = self.config.trusted_zeroconf_peers.contains(counterparty);
        ChannelConfig {
            chain_hash: self.config.chain_hash(),
            anchors: self.config.channel.anchors && both(Feature::AnchorsZeroFeeHtlcTx),
            anysegwit: both(Feature::ShutdownAnySegwit),
            trusted_for_zeroconf: trusted,
            minimum_depth: if trusted {
                0
            } else {
                self.config.channel.minimum_depth
            },
            // BOLT 2: `closing_complete`/`closing_sig` only when both sides
            // advertised `option_simple_close`.
            simple_close: both(Feature::SimpleClose),
            feerates: self.feerate_bounds(),
            shutdown_script: self.shutdown_script(),
            report_revocations: !self.config.watchtower.towers.is_empty(),
            ..self.config.channel.clone()
        }
    }

    /// The alias we send in the `channel_ready` of the channel with keys
    /// index `index`, unless [`ChannelConfig::local_alias`] names one (BOLT 2
    /// `channel_ready`: "MAY set `short_channel_id` `alias`", "a value not
    /// related to the real `short_channel_id`", never the same for two
    /// peers). Derived from our node id and the index, so each channel has
    /// its own, the same after a restart: the SHA256 of both, with the
    /// block height part at 0xF00000 or above, 15 million blocks past any
    /// real channel (so never one's `short_channel_id`). A peer puts it in
    /// its invoices' route hints; we forward over it
    /// ([`Node`]'s `outgoing_channel`).
    pub(super) fn channel_alias(&self, index: u32) -> ShortChannelId {
        use bitcoin::hashes::{sha256, Hash, HashEngine};
        let mut e = sha256::Hash::engine();
        e.input(b"lightning-sdk channel alias");
        e.input(&self.node_id().serialize());
        e.input(&index.to_be_bytes());
        let h = sha256::Hash::from_engine(e).to_byte_array();
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[..8]);
        ShortChannelId(u64::from_be_bytes(b) | (0xF0_0000 << 40))
    }

    /// The configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }
}

/// Caps on inbound channels whose funding has not confirmed.
///
/// ```
/// use lightning_core::node::InboundLimits;
/// let limits = InboundLimits::default();
/// assert_eq!((limits.max_unfunded_per_peer, limits.max_unfunded_total), (4, 64));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct InboundLimits {
    /// Per peer. Default 4.
    pub max_unfunded_per_peer: usize,
    /// Over all peers. Default 64.
    pub max_unfunded_total: usize,
}

impl Default for InboundLimits {
    fn default() -> Self {
        InboundLimits {
            max_unfunded_per_peer: 4,
            max_unfunded_total: 64,
        }
    }
}
