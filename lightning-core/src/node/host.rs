//! The host's side of the node: the services it provides ([`NodeHost`]:
//! broadcasting, fee estimates) and the sans-IO calls of its loop
//! (connections, socket bytes, timers, persistence completions).

use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use lightning_chain::{BoundedFeeEstimator, Broadcaster, ConfirmationTarget, FeeEstimator};

use super::{Event, Node, NodeError, PersistId, PersistRequest};
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
        // A failed write shows in `persist_failure`; this call reports the
        // connection's fate.
        let _ = self.finish();
        result.map_err(NodeError::from)
    }

    /// The next bytes to write to `peer`'s socket, or `None`.
    pub fn poll_transmit(&mut self, peer: PeerId) -> Option<Vec<u8>> {
        let _ = self.finish();
        let out = self.peers.poll_transmit(peer);
        if out.is_none() && self.outbox.has_for(peer) {
            // The peer's queue was full; it is empty now.
            let _ = self.finish();
            return self.peers.poll_transmit(peer);
        }
        out
    }

    /// Timers: pings, pong and setup timeouts; multi-part payments not
    /// complete in time ([`MppReceiveConfig::timeout`](super::MppReceiveConfig::timeout)).
    pub fn handle_timeout(&mut self, now: Duration) {
        self.now = now;
        self.peers.handle_timeout(now);
        self.gossip_timeout();
        self.payment_retries_timer();
        self.mpp_deadlines();
        self.forward_prune_timer();
        self.expire_offer_requests();
        let _ = self.finish();
    }

    /// When [`Node::handle_timeout`] next has work.
    pub fn next_timeout(&self) -> Option<Duration> {
        [
            self.peers.next_timeout(),
            self.gossip_next_timeout(),
            self.payment_retries_next_timeout(),
            self.mpp_next_timeout(),
            self.offer_requests_next_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The host's socket to `peer` closed (or the host wants it closed).
    pub fn peer_disconnected(&mut self, peer: PeerId) {
        self.peers.disconnect(peer);
        let _ = self.finish();
    }

    /// Connected peers and their node ids.
    pub fn connected_peers(&self) -> Vec<(PeerId, PublicKey)> {
        self.peers
            .connected_peers()
            .map(|(p, n, _)| (p, n))
            .collect()
    }

    /// Async persistence: the next batch to make durable, one per step that
    /// changed state (see [`PersistRequest`]). Report it with
    /// [`Node::persist_completed`]; messages that depend on it wait.
    pub fn poll_persist(&mut self) -> Option<PersistRequest> {
        self.writer.poll()
    }

    /// Async persistence: batch `id` is durable (a write in it refused as
    /// stale counts as done). Releases what waited on it and on every
    /// batch before it.
    pub fn persist_completed(&mut self, id: PersistId) {
        self.writer.completed(id);
        let _ = self.finish();
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

    pub(super) fn feerate_per_kw(&self, target: ConfirmationTarget) -> u32 {
        BoundedFeeEstimator::new(&*self.host.fee_estimator)
            .fee_rate(target)
            .sat_per_kw()
    }

    /// The next event, oldest first, once the writes it reports are
    /// durable. Calling it again acknowledges the event it returned before:
    /// a payment or close event that was not acknowledged is raised again
    /// after a restart (at-least-once delivery; deduplicate by payment hash
    /// or channel id). A host that handled the last event calls it once
    /// more (it returns `None`) to acknowledge it.
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(ack) = self.events.take_delivered() {
            self.acknowledge(ack);
            // The acknowledgement is this step's one durable operation. A
            // failed write shows in `persist_failure`; the event then
            // comes again after the restart.
            let _ = self.finish();
        }
        let writer = &self.writer;
        self.events.pop(|dep| writer.is_durable(dep))
    }
}
