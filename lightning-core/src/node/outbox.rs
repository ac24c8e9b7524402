//! What the node holds back until the writes it depends on are durable:
//! one bounded queue per connection, and one for broadcasts.
//!
//! Persist before send (DESIGN invariant 1): every entry carries the id of
//! the last write issued when it was queued, and leaves only once every
//! write up to that id is durable. Entries for one connection leave in
//! order; connections do not wait for each other, so a peer whose socket
//! is not drained (its peer-layer queue is full) delays only its own
//! messages. A connection's queue holds at most
//! [`NodeConfig::max_queued_messages_per_peer`](super::NodeConfig::max_queued_messages_per_peer)
//! messages: a peer that makes the node queue more than that without
//! reading them is disconnected with a `warning` (DESIGN invariant 7).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bitcoin::Transaction;
use lightning_wire::msgs::Message;

use crate::peer::PeerId;

/// One entry of a connection's queue.
#[derive(Debug)]
pub(super) enum Held {
    /// A message to send.
    Message(Box<Message>),
    /// Close the connection once everything before (a `warning`) is handed
    /// to the peer layer.
    Disconnect,
}

/// The node's held-back output.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    peers: BTreeMap<PeerId, VecDeque<(u64, Held)>>,
    broadcasts: VecDeque<(u64, Transaction)>,
    /// Connections that passed their bound: disconnected at the next flush.
    overflowed: BTreeSet<PeerId>,
}

impl Outbox {
    /// Queues `message` for `peer` behind write `dep`. Refused (and the
    /// peer marked for disconnection) when `limit` messages already wait.
    pub(super) fn push_message(&mut self, peer: PeerId, dep: u64, message: Message, limit: usize) {
        if self.overflowed.contains(&peer) {
            return;
        }
        let queue = self.peers.entry(peer).or_default();
        if queue.len() >= limit {
            self.overflowed.insert(peer);
            self.peers.remove(&peer);
            return;
        }
        queue.push_back((dep, Held::Message(Box::new(message))));
    }

    /// Closes `peer` after what is queued for it so far.
    pub(super) fn push_disconnect(&mut self, peer: PeerId, dep: u64) {
        if self.overflowed.contains(&peer) {
            return;
        }
        let queue = self.peers.entry(peer).or_default();
        if !matches!(queue.back(), Some((_, Held::Disconnect))) {
            queue.push_back((dep, Held::Disconnect));
        }
    }

    pub(super) fn push_broadcast(&mut self, dep: u64, tx: Transaction) {
        self.broadcasts.push_back((dep, tx));
    }

    /// The connections that passed their bound since the last call.
    pub(super) fn take_overflowed(&mut self) -> Vec<PeerId> {
        std::mem::take(&mut self.overflowed).into_iter().collect()
    }

    /// Forgets what was queued for a closed connection (channels resend
    /// after `channel_reestablish`).
    pub(super) fn drop_peer(&mut self, peer: PeerId) {
        self.peers.remove(&peer);
    }

    /// Connections with something queued.
    pub(super) fn peers(&self) -> Vec<PeerId> {
        self.peers.keys().copied().collect()
    }

    pub(super) fn has_for(&self, peer: PeerId) -> bool {
        self.peers.get(&peer).is_some_and(|q| !q.is_empty())
    }

    /// The oldest entry for `peer` if its write `dep` passes `durable`.
    pub(super) fn front_if(&self, peer: PeerId, durable: impl Fn(u64) -> bool) -> Option<&Held> {
        let (dep, held) = self.peers.get(&peer)?.front()?;
        durable(*dep).then_some(held)
    }

    pub(super) fn pop(&mut self, peer: PeerId) {
        if let Some(q) = self.peers.get_mut(&peer) {
            q.pop_front();
            if q.is_empty() {
                self.peers.remove(&peer);
            }
        }
    }

    /// The oldest broadcast if its write passes `durable`.
    pub(super) fn pop_broadcast(&mut self, durable: impl Fn(u64) -> bool) -> Option<Transaction> {
        let (dep, _) = self.broadcasts.front()?;
        if !durable(*dep) {
            return None;
        }
        self.broadcasts.pop_front().map(|(_, tx)| tx)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.peers.is_empty() && self.broadcasts.is_empty()
    }
}
