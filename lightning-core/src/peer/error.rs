//! Why a connection failed, or why a request about one was refused.

use std::time::Duration;

use lightning_wire::codec::DecodeError;
use lightning_wire::features::FeatureError;
use lightning_wire::noise::{HandshakeError, TransportError};
use lightning_wire::types::ChainHash;

use super::PeerId;

/// A connection failed, or a request about one was refused.
///
/// Errors returned by [`PeerManager::handle_bytes`](super::PeerManager::handle_bytes)
/// and reported in [`DisconnectReason::Failed`](super::DisconnectReason::Failed)
/// have closed the connection (see [`PeerError::closes_connection`]); the
/// errors of [`PeerManager::send_message`](super::PeerManager::send_message)
/// (unknown peer, not ready, queue full, message too large) leave it as it
/// was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// No connection has this id (never opened, or already closed and
    /// forgotten).
    #[error("unknown peer {0}")]
    UnknownPeer(PeerId),
    /// No connection to this node has completed its `init` exchange.
    #[error("no connection to node {0} has completed init")]
    NodeNotConnected(bitcoin::secp256k1::PublicKey),
    /// The connection has not finished its handshake and `init` exchange, so
    /// nothing may be sent yet (BOLT 1: "MUST wait to receive `init` before
    /// sending any other messages").
    #[error("connection not ready: handshake or init exchange still in progress")]
    NotReady,
    /// The connection was already closed; its bytes are no longer read.
    #[error("connection already closed")]
    Closed,
    /// `init`, `ping` and `pong` belong to the peer layer; hosts do not send
    /// them through [`send_message`](super::PeerManager::send_message).
    #[error("`{0}` is sent by the peer layer itself")]
    ReservedMessage(&'static str),
    /// The peer's outbound queue holds `queued` bytes not yet taken by
    /// [`poll_transmit`](super::PeerManager::poll_transmit); the message
    /// would take it past `limit`. Nothing was queued: drain the queue (the
    /// socket must be writable) and try again.
    #[error("outbound queue full: {queued} bytes queued, adding {adding} would pass {limit}")]
    OutboundQueueFull {
        /// Bytes already queued.
        queued: usize,
        /// Encrypted size of the refused message.
        adding: usize,
        /// The configured bound ([`PeerConfig::max_outbound_bytes`](super::PeerConfig::max_outbound_bytes)).
        limit: usize,
    },
    /// The BOLT 8 handshake failed (BOLT 8: "MUST abort the connection
    /// attempt").
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    /// The BOLT 8 transport failed: a MAC did not verify (BOLT 8: "MUST fail
    /// the connection"), or a message to send exceeded 65535 bytes.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// A message did not decode, including an unknown even message type
    /// (BOLT 1, "Lightning Message Format": "MUST close the connection").
    #[error("cannot decode message: {0}")]
    Decode(#[from] DecodeError),
    /// The peer's first message was not `init` (BOLT 1, "The `init`
    /// Message": "MUST send `init` as the first Lightning message").
    #[error("first message was `{got}` (type {message_type}), not `init`")]
    InitNotFirst {
        /// The message type received.
        message_type: u16,
        /// Its spec name, or `"unknown"`.
        got: &'static str,
    },
    /// A second `init` on the same connection.
    #[error("`init` received twice")]
    DuplicateInit,
    /// The peer requires feature bits we do not understand (BOLT 1:
    /// "upon receiving unknown _even_ feature bits that are non-zero: MUST
    /// close the connection").
    #[error("peer requires feature bits we do not support: {bits:?}")]
    UnknownRequiredFeatures {
        /// The even bits, in increasing order.
        bits: Vec<usize>,
    },
    /// The peer's features miss a dependency (BOLT 1: "if the feature vector
    /// does not set all known, transitive dependencies: MUST close the
    /// connection"; BOLT 9 lists them).
    #[error("peer features: {0}")]
    FeatureDependency(FeatureError),
    /// The peer listed `networks` and ours is not among them (BOLT 1: "upon
    /// receiving `networks` containing no common chains: MAY close the
    /// connection").
    #[error("peer serves none of our chain {ours}: it lists {theirs:?}")]
    NoCommonNetwork {
        /// Our chain.
        ours: ChainHash,
        /// The chains the peer listed.
        theirs: Vec<ChainHash>,
    },
    /// A `pong` whose length matches no `ping` we sent (BOLT 1: "if
    /// `byteslen` does not correspond to any `ping`'s `num_pong_bytes`
    /// value it has sent: MAY close the connection").
    #[error("pong of {received} bytes matches no outstanding ping (expected: {expected:?})")]
    PongMismatch {
        /// `num_pong_bytes` of our outstanding `ping`, if one is.
        expected: Option<u16>,
        /// `byteslen` of the `pong`.
        received: usize,
    },
    /// No `pong` came within the timeout after our `ping` (BOLT 1: "if it
    /// doesn't receive a corresponding `pong`: MAY close the network
    /// connection").
    #[error("no pong within {0:?}")]
    PongTimeout(Duration),
    /// The handshake and `init` exchange did not finish in time.
    #[error("handshake and init not complete within {0:?}")]
    SetupTimeout(Duration),
    /// The node queued more than `limit` messages for the peer that it did
    /// not read (the peer layer's own queue was full all along): the peer
    /// is disconnected so that one slow reader cannot grow the node's
    /// memory (DESIGN invariant 7: every per-peer queue has a cap).
    #[error("peer too slow: more than {limit} messages waiting for it")]
    NodeQueueFull {
        /// The cap ([`NodeConfig::max_queued_messages_per_peer`](crate::node::NodeConfig::max_queued_messages_per_peer)).
        limit: usize,
    },
    /// We sent the peer a `warning` about a protocol violation and closed
    /// the connection after it (BOLT 1: a sending node "MAY close the
    /// connection after sending"; BOLT 2 asks to "send a `warning` and
    /// close the connection" for the recoverable violations).
    #[error("closed after our warning")]
    Warned,
}

impl PeerError {
    /// Whether this error, when it came from the connection, closed it.
    /// `false` for the refusals of requests (unknown peer, not ready, queue
    /// full, a reserved message); a [`TransportError::MessageTooLarge`] from
    /// `send_message` also leaves the connection open.
    pub fn closes_connection(&self) -> bool {
        !matches!(
            self,
            PeerError::UnknownPeer(_)
                | PeerError::NodeNotConnected(_)
                | PeerError::NotReady
                | PeerError::Closed
                | PeerError::ReservedMessage(_)
                | PeerError::OutboundQueueFull { .. }
                | PeerError::Transport(TransportError::MessageTooLarge { .. })
        )
    }
}
