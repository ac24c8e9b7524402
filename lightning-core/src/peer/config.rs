//! What a [`PeerManager`](super::PeerManager) is configured with.

use std::time::Duration;

use lightning_wire::features::InitFeatures;
use lightning_wire::types::ChainHash;

/// Settings of a [`PeerManager`](super::PeerManager).
///
/// ```
/// use std::time::Duration;
/// use lightning_core::peer::PeerConfig;
/// use lightning_wire::{features::InitFeatures, types::ChainHash};
///
/// let config = PeerConfig {
///     ping_interval: Duration::from_secs(60),
///     ..PeerConfig::new(ChainHash::for_network(bitcoin::Network::Regtest), InitFeatures::empty())
/// };
/// assert_eq!(config.pong_timeout, Duration::from_secs(15));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PeerConfig {
    /// The features we send in `init`. They are also what we "understand":
    /// a peer requiring an even bit for which neither bit is set here is
    /// disconnected (BOLT 1, "The `init` Message").
    pub features: InitFeatures,
    /// Our chain, sent as `networks` in `init`; a peer that lists networks
    /// without it is disconnected.
    pub chain_hash: ChainHash,
    /// After this long without receiving anything from a connected peer, we
    /// send a `ping`. Default 30 s.
    pub ping_interval: Duration,
    /// A `ping` not answered within this is a dead connection. Default 15 s.
    pub pong_timeout: Duration,
    /// How long the handshake and the `init` exchange may take together,
    /// from `connect_outbound`/`accept_inbound`. Default 30 s.
    pub setup_timeout: Duration,
    /// `num_pong_bytes` of our liveness pings. Default 8.
    pub ping_pong_bytes: u16,
    /// Bound on encrypted bytes queued for one peer and not yet taken by
    /// `poll_transmit`. When a message would pass it, `send_message` refuses
    /// it ([`PeerError::OutboundQueueFull`](super::PeerError::OutboundQueueFull))
    /// and a `pong` owed to the peer is not sent (a peer that does not read
    /// will miss it and time us out, which is the right outcome). Default
    /// 1 MiB, about 16 maximal messages.
    pub max_outbound_bytes: usize,
}

impl PeerConfig {
    /// The defaults, with our chain and features.
    pub fn new(chain_hash: ChainHash, features: InitFeatures) -> Self {
        PeerConfig {
            features,
            chain_hash,
            ping_interval: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(15),
            setup_timeout: Duration::from_secs(30),
            ping_pong_bytes: 8,
            max_outbound_bytes: 1 << 20,
        }
    }
}
