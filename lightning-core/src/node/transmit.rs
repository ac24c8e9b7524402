//! What leaves the node: messages, disconnections and broadcasts are
//! queued behind the writes they depend on ([`outbox`](super::outbox)) and
//! handed out once those writes are durable.

use bitcoin::secp256k1::PublicKey;
use bitcoin::Transaction;
use lightning_wire::msgs::Message;

use super::outbox::Held;
use super::Node;
use crate::peer::PeerError;

impl Node {
    /// Hands out what the writes before it allow: broadcasts, then each
    /// connection's messages in order until its peer-layer queue is full
    /// (that connection waits; the others go on). A connection that passed
    /// its bound is disconnected with a `warning`.
    ///
    /// Returns whether it closed a connection: the closures are peer
    /// events the channels must learn of ([`Node::finish`] loops on it).
    pub(super) fn flush_outbox(&mut self) -> bool {
        // The step's records go out first, as one durable operation
        // ([`persistence`](super::persistence)).
        self.writer.commit();
        while let Some(tx) = self.outbox.pop_broadcast(|dep| self.writer.is_durable(dep)) {
            self.host.broadcaster.broadcast_transaction(&tx);
        }
        let mut closed = false;
        for peer in self.outbox.take_overflowed() {
            let limit = self.config.max_queued_messages_per_peer;
            closed |= self
                .peers
                .disconnect_with_warning(peer, PeerError::NodeQueueFull { limit });
        }
        for peer in self.outbox.peers() {
            while let Some(held) = self
                .outbox
                .front_if(peer, |dep| self.writer.is_durable(dep))
            {
                match held {
                    Held::Message(message) => {
                        // Full: this connection waits for the host to drain
                        // it. Any other refusal means the connection is
                        // gone: the channel retransmits after
                        // `channel_reestablish`.
                        if let Err(PeerError::OutboundQueueFull { .. }) =
                            self.peers.send_message(peer, message)
                        {
                            break;
                        }
                        self.outbox.pop(peer);
                    }
                    Held::Disconnect => {
                        self.outbox.drop_peer(peer);
                        closed |= self.peers.close_after_queued(peer);
                        break;
                    }
                }
            }
        }
        closed
    }

    pub(super) fn queue_message(&mut self, node_id: PublicKey, message: Message) {
        if let Some(peer) = self.peers.peer_for_node(&node_id) {
            self.outbox.push_message(
                peer,
                self.writer.barrier(),
                message,
                self.config.max_queued_messages_per_peer,
            );
        }
    }

    /// Closes the connection to `node_id` after what is queued for it (a
    /// `warning` we just sent): BOLT 2's recoverable violations ask to
    /// "send a `warning` and close the connection".
    pub(super) fn queue_disconnect(&mut self, node_id: PublicKey) {
        if let Some(peer) = self.peers.peer_for_node(&node_id) {
            self.outbox.push_disconnect(peer, self.writer.barrier());
        }
    }

    pub(super) fn queue_broadcast(&mut self, tx: Transaction) {
        self.outbox.push_broadcast(self.writer.barrier(), tx);
    }
}
