//! Peers: the node's connections, sans-IO.
//!
//! [`PeerManager`] runs, for every connection, the BOLT 8 handshake and
//! transport (`lightning_wire::noise`) and what BOLT 1 asks of a connection:
//!
//! - `init` first, both ways, sent by us right after the handshake with our
//!   [`PeerConfig::features`] and `networks` = our chain; anything else first
//!   fails the connection (BOLT 1, "The `init` Message");
//! - the peer's `globalfeatures` and `features` merged; an unknown even bit,
//!   a missing BOLT 9 dependency, or `networks` without our chain fails the
//!   connection;
//! - unknown odd message types ignored, unknown even ones fail the
//!   connection (BOLT 1, "Lightning Message Format");
//! - `ping` answered with `num_pong_bytes` zeroes unless it is 65532 or more;
//!   a `pong` must match our outstanding `ping`; a liveness `ping` after
//!   [`PeerConfig::ping_interval`] of silence, and a disconnect when its
//!   `pong` is later than [`PeerConfig::pong_timeout`] (BOLT 1, "The `ping`
//!   and `pong` Messages");
//! - `warning` and `error` reported as events, the connection kept (BOLT 1,
//!   "The `error` and `warning` Messages": what to fail is the node's call;
//!   a received `warning` "SHOULD" be logged and "MAY" close). When the
//!   node itself warns about a violation it closes the connection after the
//!   `warning` ([`PeerManager::close_after_queued`]), and a peer it cannot
//!   keep up with goes with [`PeerManager::disconnect_with_warning`];
//! - a bounded outbound queue per peer ([`PeerConfig::max_outbound_bytes`]).
//!
//! Every other message goes up as [`PeerEvent::Message`]. A failure closes
//! that connection only, with a [`PeerError`] saying why; when the transport
//! still works the peer is told in a `warning`.
//!
//! The noise static key is anything implementing
//! [`StaticKeyEcdh`](lightning_wire::noise::StaticKeyEcdh): a
//! [`Keypair`](bitcoin::secp256k1::Keypair) ([`PeerManager::new`]) or a
//! signer such as [`KeysManager`](crate::keys::KeysManager), or any
//! [`NodeSigner`](crate::keys::NodeSigner) wrapped in
//! [`NodeStaticKey`](crate::keys::NodeStaticKey)
//! ([`PeerManager::with_static_key`]), so the node secret can stay in a
//! signer or HSM (the `Node` always builds its peer manager this way). Ephemeral keys are passed in by the host (from its
//! `EntropySource`), so a run is deterministic.

mod config;
mod connection;
mod error;
mod manager;

#[cfg(test)]
mod tests;

pub use config::PeerConfig;
pub use error::PeerError;
pub use manager::PeerManager;

use bitcoin::secp256k1::PublicKey;
use lightning_wire::features::InitFeatures;
use lightning_wire::msgs::Message;
use lightning_wire::types::ChannelId;

/// A connection, named by the [`PeerManager`] that owns it. Ids are never
/// reused within one manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PeerId(pub u64);

impl core::fmt::Display for PeerId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "peer#{}", self.0)
    }
}

/// Who opened the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Direction {
    /// We did ([`PeerManager::connect_outbound`]).
    Outbound,
    /// The peer did ([`PeerManager::accept_inbound`]).
    Inbound,
}

/// Why a connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The host called [`PeerManager::disconnect`].
    Requested,
    /// A newer connection to the same node completed `init`.
    Replaced {
        /// The newer connection.
        by: PeerId,
    },
    /// The peer broke a rule, the transport failed, or a timeout passed.
    Failed(PeerError),
}

/// What a [`PeerManager`] tells the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// Both `init`s are exchanged: messages can flow. `their_features` are
    /// the peer's `globalfeatures` and `features` merged.
    Connected {
        /// The connection.
        peer: PeerId,
        /// The peer's node id.
        node_id: PublicKey,
        /// The peer's merged features.
        their_features: InitFeatures,
        /// Who opened it.
        direction: Direction,
    },
    /// The connection closed; the host closes the socket after writing
    /// what [`PeerManager::poll_transmit`] still returns.
    Disconnected {
        /// The connection.
        peer: PeerId,
        /// The peer's node id, if the handshake got far enough to know it.
        node_id: Option<PublicKey>,
        /// Whether [`PeerEvent::Connected`] had been reported for it.
        was_connected: bool,
        /// Why.
        reason: DisconnectReason,
    },
    /// A channel, gossip or other message for the node.
    Message {
        /// The connection.
        peer: PeerId,
        /// The sender.
        node_id: PublicKey,
        /// The message (boxed: the largest are hundreds of bytes).
        message: Box<Message>,
    },
    /// The peer sent `warning`. The connection stays open (BOLT 1: the
    /// receiver "SHOULD log the message").
    WarningReceived {
        /// The connection.
        peer: PeerId,
        /// The sender.
        node_id: PublicKey,
        /// The channel, or [`ChannelId::ALL`].
        channel_id: ChannelId,
        /// Free-form data; print it only if it is printable ASCII.
        data: Vec<u8>,
    },
    /// The peer sent `error`: the node must fail the channel `channel_id`,
    /// or every channel with the peer when it is [`ChannelId::ALL`] (BOLT 1).
    /// The connection stays open.
    ErrorReceived {
        /// The connection.
        peer: PeerId,
        /// The sender.
        node_id: PublicKey,
        /// The channel, or [`ChannelId::ALL`] for all of them.
        channel_id: ChannelId,
        /// Free-form data; print it only if it is printable ASCII.
        data: Vec<u8>,
    },
}
