//! The host's side of the node: the chain services it provides
//! ([`NodeHost`]) and the sans-IO calls of its loop (connections, socket
//! bytes, timers, persistence completions).

use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::{PublicKey, SecretKey};
use lightning_chain::{Broadcaster, FeeEstimator};

use super::{InboundChannelAcceptor, Node, NodeConfig, NodeError, PersistId, PersistRequest};
use crate::peer::PeerId;

/// The host's chain-facing services.
#[derive(Clone)]
pub struct NodeHost {
    /// Publishes funding, closing and commitment transactions.
    pub broadcaster: Arc<dyn Broadcaster + Send + Sync>,
    /// Fee rates (read through [`BoundedFeeEstimator`]).
    pub fee_estimator: Arc<dyn FeeEstimator + Send + Sync>,
}

impl core::fmt::Debug for NodeHost {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("NodeHost")
    }
}

impl Node {
    /// Our node id.
    pub fn node_id(&self) -> PublicKey {
        self.node_signer.node_id()
    }

    /// The configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The host's decision on inbound channels (default [`AcceptAll`]);
    /// see [`InboundChannelAcceptor`] for what is asked and when.
    pub fn set_inbound_channel_acceptor(&mut self, acceptor: Arc<dyn InboundChannelAcceptor>) {
        self.acceptor = acceptor;
    }

    pub(super) fn fresh_secret(&self) -> SecretKey {
        loop {
            if let Ok(k) = SecretKey::from_slice(&self.entropy.random_bytes()) {
                return k;
            }
        }
    }

    /// Opens a connection to `node_id`: write the returned act one to a new
    /// socket, then feed what it reads to [`Node::handle_bytes`]. `now` is
    /// the host's time since the UNIX epoch (used for timers and invoice
    /// expiry).
    pub fn connect_outbound(&mut self, node_id: PublicKey, now: Duration) -> (PeerId, Vec<u8>) {
        self.now = now;
        let eph = self.fresh_secret();
        self.peers.connect_outbound(node_id, &eph, now)
    }

    /// Registers a connection the host accepted.
    pub fn accept_inbound(&mut self, now: Duration) -> PeerId {
        self.now = now;
        let eph = self.fresh_secret();
        self.peers.accept_inbound(&eph, now)
    }

    /// Bytes read from `peer`'s socket. On `Err` the connection is closed:
    /// write what [`Node::poll_transmit`] still returns, then close the
    /// socket.
    pub fn handle_bytes(
        &mut self,
        peer: PeerId,
        bytes: &[u8],
        now: Duration,
    ) -> Result<(), NodeError> {
        self.now = now;
        let result = self.peers.handle_bytes(peer, bytes, now);
        self.process_peer_events();
        result.map_err(NodeError::from)
    }

    /// The next bytes to write to `peer`'s socket, or `None`.
    pub fn poll_transmit(&mut self, peer: PeerId) -> Option<Vec<u8>> {
        self.flush_outbox();
        let out = self.peers.poll_transmit(peer);
        if out.is_none() && self.outbox.has_for(peer) {
            // The peer's queue was full; it is empty now.
            self.flush_outbox();
            return self.peers.poll_transmit(peer);
        }
        out
    }

    /// Timers: pings, pong and setup timeouts.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.now = now;
        self.peers.handle_timeout(now);
        self.process_peer_events();
    }

    /// When [`Node::handle_timeout`] next has work.
    pub fn next_timeout(&self) -> Option<Duration> {
        self.peers.next_timeout()
    }

    /// The host's socket to `peer` closed (or the host wants it closed).
    pub fn peer_disconnected(&mut self, peer: PeerId) {
        self.peers.disconnect(peer);
        self.process_peer_events();
    }

    /// Connected peers and their node ids.
    pub fn connected_peers(&self) -> Vec<(PeerId, PublicKey)> {
        self.peers
            .connected_peers()
            .map(|(p, n, _)| (p, n))
            .collect()
    }

    /// Async persistence: the next write to make durable. Report it with
    /// [`Node::persist_completed`]; messages that depend on it wait.
    pub fn poll_persist(&mut self) -> Option<PersistRequest> {
        self.writer.poll()
    }

    /// Async persistence: write `id` is durable (or was refused as stale).
    pub fn persist_completed(&mut self, id: PersistId) {
        self.writer.completed(id);
        self.flush_outbox();
    }

    /// Whether any message or broadcast waits for a write.
    pub fn has_held_messages(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// The inline write that failed, if one did (the node is then stuck:
    /// restart it from the store).
    pub fn persist_failure(&self) -> Option<&str> {
        self.writer.failure()
    }
}
