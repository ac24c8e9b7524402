//! Peer events into channels: routing each message to its channel,
//! batching what one socket read brought, and connections coming and going.

use bitcoin::secp256k1::PublicKey;
use lightning_wire::msgs::Message;
use lightning_wire::types::ChannelId;

use super::channels::is_unfunded;
use super::{Event, Node};
use crate::channel::{ErrorAction, Phase};
use crate::peer::PeerEvent;

impl Node {
    /// Handles what the peer manager reported. Consecutive normal-operation
    /// messages for one channel (what one socket read brought) go to the
    /// channel as one batch with one write
    /// ([`Channel::handle_messages`](crate::channel::Channel::handle_messages)).
    /// The commits and messages that follow are [`Node::finish`]'s.
    pub(super) fn process_peer_events(&mut self) {
        loop {
            let events: Vec<PeerEvent> = std::iter::from_fn(|| self.peers.poll_event()).collect();
            if events.is_empty() {
                break;
            }
            let mut batch: Option<(ChannelId, Vec<Message>)> = None;
            for event in events {
                let target = match &event {
                    PeerEvent::Message {
                        node_id, message, ..
                    } => self.batchable(*node_id, message),
                    _ => None,
                };
                let event = match (target, event) {
                    (Some(id), PeerEvent::Message { message, .. }) => {
                        match &mut batch {
                            Some((b, msgs)) if *b == id => msgs.push(*message),
                            _ => {
                                if let Some((b, msgs)) = batch.take() {
                                    self.deliver_batch(b, &msgs);
                                }
                                batch = Some((id, vec![*message]));
                            }
                        }
                        continue;
                    }
                    (_, event) => event,
                };
                if let Some((b, msgs)) = batch.take() {
                    self.deliver_batch(b, &msgs);
                }
                self.on_peer_event(event);
            }
            if let Some((b, msgs)) = batch.take() {
                self.deliver_batch(b, &msgs);
            }
        }
    }

    /// The channel a normal-operation message from `node_id` goes to, if it
    /// may join a batch.
    pub(super) fn batchable(&self, node_id: PublicKey, message: &Message) -> Option<ChannelId> {
        let batchable = matches!(
            message,
            Message::UpdateAddHtlc(_)
                | Message::UpdateFulfillHtlc(_)
                | Message::UpdateFailHtlc(_)
                | Message::UpdateFailMalformedHtlc(_)
                | Message::UpdateFee(_)
                | Message::CommitmentSigned(_)
                | Message::RevokeAndAck(_)
        );
        if !batchable {
            return None;
        }
        let channel_id = message_channel_id(message)?;
        self.channels
            .iter()
            .find(|(id, e)| e.counterparty == node_id && **id == channel_id)
            .map(|(id, _)| *id)
    }

    /// Hands `msgs` to channel `id` as one batch and applies what comes
    /// out; a message that fails ends the batch and fails as it would alone.
    pub(super) fn deliver_batch(&mut self, id: ChannelId, msgs: &[Message]) {
        let bounds = self.current_feerate_bounds();
        let Some(entry) = self.channels.get_mut(&id) else {
            return;
        };
        entry.channel.set_feerate_bounds(bounds);
        let (out, result) = entry.channel.handle_messages(msgs);
        self.apply(id, out);
        if let Err(e) = result {
            self.channel_failed_with(id, &e);
        }
    }

    pub(super) fn on_peer_event(&mut self, event: PeerEvent) {
        match event {
            PeerEvent::Connected {
                peer,
                node_id,
                their_features,
                ..
            } => {
                self.on_peer_connected(node_id);
                self.graph_peer_connected(peer, &their_features);
            }
            PeerEvent::Disconnected {
                peer,
                node_id,
                was_connected,
                ..
            } => {
                self.outbox.drop_peer(peer);
                self.graph_peer_disconnected(peer);
                if let (Some(node_id), true) = (node_id, was_connected) {
                    if self.peers.peer_for_node(&node_id).is_none() {
                        self.on_peer_disconnected(node_id);
                    }
                }
            }
            // BOLT 1, receiving `warning`: "SHOULD log the message", "MAY
            // disconnect". The node keeps the connection: a warning is the
            // peer's way to say "recoverable", and the peer closes it when
            // it means to.
            PeerEvent::WarningReceived { .. } => {}
            PeerEvent::Message {
                node_id, message, ..
            } => self.on_message(node_id, *message),
            PeerEvent::ErrorReceived {
                node_id,
                channel_id,
                data,
                ..
            } => {
                // The channels see the peer's text sanitised and bounded;
                // it is shown to the host, never sent back (issue 13).
                let error = Message::Error(lightning_wire::msgs::Error {
                    channel_id,
                    data: crate::channel::sanitize_peer_text(&data).into_bytes(),
                    tlvs: Default::default(),
                });
                let ids: Vec<ChannelId> = self
                    .channels
                    .iter()
                    .filter(|(id, e)| {
                        e.counterparty == node_id
                            && (channel_id == ChannelId::ALL
                                || **id == channel_id
                                || e.channel.state().temporary_channel_id == channel_id)
                    })
                    .map(|(id, _)| *id)
                    .collect();
                for id in ids {
                    self.deliver(id, &error);
                }
            }
        }
    }

    pub(super) fn on_peer_connected(&mut self, node_id: PublicKey) {
        // BOLT 1: `peer_storage_retrieval` right after `init`, before any
        // `channel_reestablish`.
        self.peer_storage_connected(node_id);
        self.recovery_peer_connected(node_id);
        self.watchtower_connected(node_id);
        let ids: Vec<ChannelId> = self.channels_with(node_id);
        for id in ids {
            let Some(entry) = self.channels.get_mut(&id) else {
                continue;
            };
            entry.block_settled = false;
            if let Some(reestablish) = entry.channel.peer_reconnected() {
                self.queue_message(node_id, Message::ChannelReestablish(reestablish));
            }
        }
    }

    /// BOLT 2: a channel whose funding transaction cannot have been
    /// broadcast is forgotten (nothing of it was ever written).
    pub(super) fn forget_unfunded(&mut self, id: ChannelId, reason: &str) {
        self.remove_channel_entry(id);
        let event = Event::ChannelClosed {
            channel_id: id,
            reason: reason.into(),
            closing_tx: None,
        };
        self.push_event(event, None);
    }

    pub(super) fn on_peer_disconnected(&mut self, node_id: PublicKey) {
        self.watchtower_disconnected(node_id);
        for id in self.channels_with(node_id) {
            let Some(entry) = self.channels.get_mut(&id) else {
                continue;
            };
            if is_unfunded(entry.channel.phase()) {
                self.forget_unfunded(id, "the peer disconnected before the channel was funded");
                continue;
            }
            let (out, dropped) = entry.channel.peer_disconnected();
            self.apply(id, out);
            for add in dropped {
                self.fail_unsent_payment(
                    id,
                    add.id,
                    add.payment_hash,
                    "the peer disconnected before the HTLC was committed",
                );
            }
        }
    }

    pub(super) fn channels_with(&self, node_id: PublicKey) -> Vec<ChannelId> {
        self.channels
            .iter()
            .filter(|(_, e)| e.counterparty == node_id)
            .map(|(id, _)| *id)
            .collect()
    }

    pub(super) fn on_message(&mut self, node_id: PublicKey, message: Message) {
        if let Message::OpenChannel(open) = &message {
            self.on_open_channel(node_id, open);
            return;
        }
        if let Message::AnnouncementSignatures(m) = &message {
            self.on_announcement_signatures(node_id, m);
            return;
        }
        match message {
            Message::Unknown { r#type, payload } => {
                // Odd and unknown to BOLT 1 ("MUST ignore"), unless it is
                // the watchtower protocol's.
                if super::watchtower::is_tower_message(r#type) {
                    self.on_tower_message(node_id, r#type, &payload);
                }
                return;
            }
            Message::PeerStorage(m) => return self.on_peer_storage(node_id, m.blob),
            Message::OnionMessage(m) => {
                if let Some((payload, path_id)) = self.on_onion_message(node_id, m) {
                    self.on_message_contents(payload, path_id);
                }
                return;
            }
            Message::PeerStorageRetrieval(m) => {
                return self.on_peer_storage_retrieval(node_id, &m.blob)
            }
            _ => {}
        }
        // BOLT 7: the peer's forwarding parameters for one of our channels;
        // one not announced is nothing for the graph.
        if let Message::ChannelUpdate(m) = &message {
            if self.on_peer_channel_update(node_id, m) {
                return;
            }
        }
        // BOLT 7 gossip and queries: the public graph and its sync.
        if super::graph::is_gossip(&message) {
            self.on_gossip_message(node_id, &message);
            return;
        }
        let Some(channel_id) = message_channel_id(&message) else {
            return;
        };
        // A channel restored from a backup takes part in nothing.
        if self.recovery_message(node_id, channel_id) {
            return;
        }
        let key = self.channels.iter().find_map(|(id, e)| {
            (e.counterparty == node_id
                && (*id == channel_id || e.channel.state().temporary_channel_id == channel_id))
                .then_some(*id)
        });
        if let (Some(id), Message::FundingCreated(m)) = (key, &message) {
            // Only a channel waiting for it can be forgotten; any other
            // refuses the message itself.
            let waiting = self
                .channels
                .get(&id)
                .is_some_and(|e| e.channel.phase() == Phase::AwaitingFundingCreated);
            if waiting && self.funding_collides(id, m) {
                // Nothing of the channel was written yet: forget it, and
                // tell the peer with an `error` for its temporary id (the
                // only channel that id names between us).
                self.queue_message(
                    node_id,
                    Message::Error(lightning_wire::msgs::Error {
                        channel_id: m.temporary_channel_id,
                        data: b"funding outpoint or channel_id already in use".to_vec(),
                        tlvs: Default::default(),
                    }),
                );
                self.forget_unfunded(id, "funding_created named a funding outpoint in use");
                return;
            }
        }
        match key {
            Some(id) => self.deliver(id, &message),
            None => {
                // BOLT 1/2: tell the peer the channel is unknown to us.
                if !matches!(message, Message::Error(_) | Message::Warning(_)) {
                    self.queue_message(
                        node_id,
                        Message::Warning(lightning_wire::msgs::Warning {
                            channel_id,
                            data: b"unknown channel".to_vec(),
                            tlvs: Default::default(),
                        }),
                    );
                }
            }
        }
    }

    /// Hands `message` to channel `id` and applies what comes out.
    pub(super) fn deliver(&mut self, id: ChannelId, message: &Message) {
        let bounds = self.current_feerate_bounds();
        let Some(entry) = self.channels.get_mut(&id) else {
            return;
        };
        entry.channel.set_feerate_bounds(bounds);
        let (out, failure) = match entry.channel.handle_message(message) {
            Ok(out) => (out, None),
            Err(e) => (entry.channel.handle_error(&e), Some(e)),
        };
        let counterparty = entry.counterparty;
        let new_id = entry.channel.channel_id();
        self.apply(id, out);
        if failure.is_some_and(|e| e.action() == ErrorAction::Warn) {
            self.queue_disconnect(counterparty);
        }
        if let Message::ChannelReestablish(_) = message {
            self.answer_pending_htlcs(new_id);
        }
    }
}

/// The channel a channel message is for (the temporary id during
/// establishment).
pub(super) fn message_channel_id(m: &Message) -> Option<ChannelId> {
    Some(match m {
        Message::AcceptChannel(m) => m.temporary_channel_id,
        Message::FundingCreated(m) => m.temporary_channel_id,
        Message::FundingSigned(m) => m.channel_id,
        Message::ChannelReady(m) => m.channel_id,
        Message::UpdateAddHtlc(m) => m.channel_id,
        Message::UpdateFulfillHtlc(m) => m.channel_id,
        Message::UpdateFailHtlc(m) => m.channel_id,
        Message::UpdateFailMalformedHtlc(m) => m.channel_id,
        Message::CommitmentSigned(m) => m.channel_id,
        Message::RevokeAndAck(m) => m.channel_id,
        Message::UpdateFee(m) => m.channel_id,
        Message::ChannelReestablish(m) => m.channel_id,
        Message::Shutdown(m) => m.channel_id,
        Message::ClosingSigned(m) => m.channel_id,
        Message::ClosingComplete(m) => m.channel_id,
        Message::ClosingSig(m) => m.channel_id,
        _ => return None,
    })
}
