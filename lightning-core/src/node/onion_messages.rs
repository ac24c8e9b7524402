//! Onion messages (BOLT 4, "Onion Messages") at the node: peeling what
//! peers send, forwarding to the next peer, handing our own messages'
//! contents to the offers flow (`offers_flow`), and sending along a
//! blinded path.
//!
//! - **Receiving** (`on_onion_message`): the packet is peeled with the
//!   node key and the message's `path_key`. A hop for someone else is
//!   forwarded to the next node (`next_node_id`, or the peer of the
//!   channel `short_channel_id` names) if it is a connected peer, and
//!   dropped otherwise: BOLT 4 gives onion messages no errors. What does
//!   not peel is dropped and counted. A message for us goes back to the
//!   caller (`peers`), which hands its contents to the offers flow.
//! - **Rate limit**: at most [`MAX_MESSAGES_PER_PEER_PER_SECOND`] onion
//!   messages are taken from one peer per second (BOLT 4: a node "MAY
//!   rate-limit" them); the rest are dropped and counted.
//! - **Sending** (`send_onion_message`): to a blinded path whose
//!   introduction node is a connected peer, or us (our own hop is opened
//!   first, as its introduction node would), or any node the public graph
//!   reaches through onion-message nodes (`onion_message_route`: our own
//!   blinded hops go in front); for a node id, to that node if it is a
//!   connected peer, over a one-hop path we blind ourselves. The packet is 1,300 bytes of `hop_payloads` when the
//!   payloads fit, else 32,768 (`build_onion_message_along`).
//! - **Paths to us** (`onion_message_path_to_us`): through up to
//!   `max_paths` connected channel peers (they introduce; their hop names
//!   us by `next_node_id`), or us alone when we have none. Our hop carries
//!   the `path_id` the caller gives, which tells which of our requests or
//!   offers a message answers.

use std::collections::HashMap;

use bitcoin::secp256k1::PublicKey;
use lightning_wire::bolt12::{BlindedPath, IntroductionNode};
use lightning_wire::msgs::{Message, OnionMessage};
use lightning_wire::tlv::TlvRecord;
use lightning_wire::{Decode, Encode};

use super::{Node, NodeError};
use crate::channel::Phase;
use crate::onion::onion_message::build_onion_message_along;
use crate::onion::packet::OnionPacket;
use crate::onion::{
    blind_path, peel_onion_message, unblind, EncryptedDataTlv, OnionMessageHop, OnionMessagePayload,
};

/// Onion messages taken from one peer in one second; more are dropped.
pub const MAX_MESSAGES_PER_PEER_PER_SECOND: u32 = 50;

/// What the node counted of onion messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnionMessageStats {
    /// Messages for us, handed to the offers flow.
    pub received: u64,
    /// Messages passed on to the next peer.
    pub forwarded: u64,
    /// Messages sent by us.
    pub sent: u64,
    /// Dropped: did not peel, broke a forwarding rule, next node not a
    /// connected peer, or over the rate limit.
    pub dropped: u64,
    /// Of those dropped, over the rate limit (not even peeled).
    pub rate_limited: u64,
}

/// The node's onion message state: counts and the per-peer rate window.
#[derive(Debug, Default)]
pub(super) struct OnionMessenger {
    pub(super) stats: OnionMessageStats,
    /// Per peer: the second of its window and messages taken in it.
    window: HashMap<PublicKey, (u64, u32)>,
    /// The second of the route-search window and searches made in it.
    route_searches: (u64, u32),
}

/// Searches of the graph for an onion message route in one second, at
/// most (a message to a node that is not our peer). Answers to invoice requests go where the requester's
/// reply path says, so strangers choose how many searches we make; past
/// this, such a message is refused until the next second.
pub const MAX_ONION_MESSAGE_ROUTE_SEARCHES_PER_SECOND: u32 = 10;

impl Node {
    /// What the node counted of onion messages since it started.
    pub fn onion_message_stats(&self) -> OnionMessageStats {
        self.onion_messages.stats
    }

    /// Peels an onion message from `from`: forwards it, or drops it, or
    /// gives back the payload and our hop's `path_id` when it is for us.
    pub(super) fn on_onion_message(
        &mut self,
        from: PublicKey,
        m: OnionMessage,
    ) -> Option<(OnionMessagePayload, Option<Vec<u8>>)> {
        let second = self.now.as_secs();
        let w = self
            .onion_messages
            .window
            .entry(from)
            .or_insert((second, 0));
        if w.0 != second {
            *w = (second, 0);
        }
        w.1 += 1;
        if w.1 > MAX_MESSAGES_PER_PEER_PER_SECOND {
            self.onion_messages.stats.dropped += 1;
            self.onion_messages.stats.rate_limited += 1;
            return None;
        }
        // Bounded by the number of connected peers: forget the others.
        if self.onion_messages.window.len() > 4 * self.peers.connected_peers().count() + 16 {
            self.onion_messages.window.retain(|_, (s, _)| *s == second);
        }
        let Ok(packet) = OnionPacket::from_bytes_any_len(&m.onion_message_packet) else {
            self.onion_messages.stats.dropped += 1;
            return None;
        };
        match peel_onion_message(&*self.node_signer, &m.path_key, &packet) {
            Ok(OnionMessageHop::Forward {
                next_node_id,
                short_channel_id,
                next_path_key,
                packet,
            }) => {
                let next = next_node_id
                    .or_else(|| short_channel_id.and_then(|scid| self.peer_of_channel(scid)));
                match next {
                    Some(n) if n != self.node_id() && self.is_connected(&n) => {
                        self.onion_messages.stats.forwarded += 1;
                        self.queue_message(
                            n,
                            Message::OnionMessage(OnionMessage {
                                path_key: next_path_key,
                                onion_message_packet: packet.to_bytes(),
                                tlvs: Default::default(),
                            }),
                        );
                    }
                    _ => self.onion_messages.stats.dropped += 1,
                }
                None
            }
            Ok(OnionMessageHop::Receive { payload, data, .. }) => {
                self.onion_messages.stats.received += 1;
                Some((payload, data.path_id))
            }
            Err(_) => {
                self.onion_messages.stats.dropped += 1;
                None
            }
        }
    }

    /// Sends `contents` (records of type 64 and above) to the end of
    /// `destination`, with `reply_path` for the answer.
    pub(super) fn send_onion_message(
        &mut self,
        destination: &BlindedPath,
        contents: Vec<TlvRecord>,
        reply_path: Option<&BlindedPath>,
    ) -> Result<(), NodeError> {
        let mut path_key = destination.first_path_key;
        let mut hops = destination.hops.clone();
        let mut first = match destination.first_node_id {
            IntroductionNode::NodeId(k) => k,
            IntroductionNode::DirectedScid { direction, scid } => self
                .graph_channel_end(scid, direction)
                .ok_or_else(|| NodeError::Route(format!("unknown introduction channel {scid}")))?,
        };
        if first == self.node_id() {
            // We introduce the path: open our hop as a forwarding node would.
            let ours = hops
                .first()
                .ok_or_else(|| NodeError::Route("a blinded path with no hop".into()))?;
            let opened = unblind(
                &*self.node_signer,
                &path_key,
                &ours.encrypted_recipient_data,
            )
            .map_err(|e| NodeError::Route(format!("our hop of the path does not open: {e}")))?;
            let next = opened
                .data
                .next_node_id
                .or_else(|| {
                    opened
                        .data
                        .short_channel_id
                        .and_then(|s| self.peer_of_channel(s))
                })
                .ok_or_else(|| NodeError::Route("the path ends at us".into()))?;
            first = next;
            path_key = opened.next_path_key;
            hops.remove(0);
        }
        if hops.is_empty() {
            return Err(NodeError::Route("a blinded path with no hop".into()));
        }
        if !self.is_connected(&first) {
            // Not our peer: our own hops to it go in front
            // (`onion_message_route`), within the search budget.
            let second = self.now.as_secs();
            let w = &mut self.onion_messages.route_searches;
            if w.0 != second {
                *w = (second, 0);
            }
            if w.1 >= MAX_ONION_MESSAGE_ROUTE_SEARCHES_PER_SECOND {
                return Err(NodeError::Route(format!(
                    "{MAX_ONION_MESSAGE_ROUTE_SEARCHES_PER_SECOND} onion message route searches this second already"
                )));
            }
            w.1 += 1;
            let route = self.onion_message_route(&first).ok_or_else(|| {
                NodeError::Route(format!(
                    "no route of onion-message nodes from a connected peer to {first}"
                ))
            })?;
            let (start, start_key, mut ours) = self.route_prefix(&route, first, path_key)?;
            ours.append(&mut hops);
            hops = ours;
            first = start;
            path_key = start_key;
        }
        let hops: Vec<(PublicKey, Vec<u8>)> = hops
            .into_iter()
            .map(|h| (h.blinded_node_id, h.encrypted_recipient_data))
            .collect();
        let session = self.fresh_secret();
        let packet =
            build_onion_message_along(&session, &hops, contents, reply_path.map(Encode::to_bytes))
                .map_err(|e| NodeError::Route(format!("onion message: {e}")))?;
        self.onion_messages.stats.sent += 1;
        self.queue_message(
            first,
            Message::OnionMessage(OnionMessage {
                path_key,
                onion_message_packet: packet.to_bytes(),
                tlvs: Default::default(),
            }),
        );
        Ok(())
    }

    /// A one-hop path to `node` that we blind ourselves, for a node known
    /// only by its id (sent directly to a connected peer, else over
    /// `onion_message_route`).
    pub(super) fn direct_path_to(&self, node: PublicKey) -> Result<BlindedPath, NodeError> {
        let session = self.fresh_secret();
        let path = blind_path(&session, &[(node, EncryptedDataTlv::default().to_bytes())])
            .map_err(|e| NodeError::Route(format!("blinding a path: {e}")))?;
        Ok(path.into_bolt12_path())
    }

    /// Blinded paths to us for onion messages, our hop carrying `path_id`:
    /// one per connected channel peer (at most `max_paths`), or a path of
    /// us alone when none is connected.
    pub(super) fn onion_message_paths_to_us(
        &self,
        path_id: &[u8],
        max_paths: usize,
    ) -> Result<Vec<BlindedPath>, NodeError> {
        let us = self.node_id();
        let ours = EncryptedDataTlv {
            path_id: Some(path_id.to_vec()),
            ..EncryptedDataTlv::default()
        }
        .to_bytes();
        let mut peers: Vec<PublicKey> = self
            .channels
            .values()
            .filter(|e| e.channel.phase() == Phase::Normal)
            .map(|e| e.counterparty)
            .filter(|p| self.is_connected(p))
            .collect();
        peers.sort();
        peers.dedup();
        let mut out = Vec::new();
        for peer in peers.into_iter().take(max_paths.max(1)) {
            let relay = EncryptedDataTlv {
                next_node_id: Some(us),
                ..EncryptedDataTlv::default()
            };
            let session = self.fresh_secret();
            let path = blind_path(&session, &[(peer, relay.to_bytes()), (us, ours.clone())])
                .map_err(|e| NodeError::Route(format!("blinding a path: {e}")))?;
            out.push(path.into_bolt12_path());
        }
        if out.is_empty() {
            let session = self.fresh_secret();
            let path = blind_path(&session, &[(us, ours)])
                .map_err(|e| NodeError::Route(format!("blinding a path: {e}")))?;
            out.push(path.into_bolt12_path());
        }
        Ok(out)
    }

    pub(super) fn is_connected(&self, node: &PublicKey) -> bool {
        self.peers.peer_for_node(node).is_some()
    }

    /// The peer of our channel known by `scid` (its real id or an alias).
    fn peer_of_channel(&self, scid: lightning_wire::types::ShortChannelId) -> Option<PublicKey> {
        self.channels.values().find_map(|e| {
            let st = e.channel.state();
            (st.short_channel_id == Some(scid)
                || st.remote_alias == Some(scid)
                || st.local_alias == Some(scid))
            .then_some(e.counterparty)
        })
    }

    /// The node at end `direction` of the public channel `scid`.
    pub(super) fn graph_channel_end(
        &self,
        scid: lightning_wire::types::ShortChannelId,
        direction: u8,
    ) -> Option<PublicKey> {
        let store = self.network_graph()?.store();
        let ch = store.channel(store.channel_by_scid(scid)?)?;
        let end = if direction == 0 {
            ch.node_one()
        } else {
            ch.node_two()
        };
        Some(*store.node(end)?.node_id())
    }
}

/// Reads a `reply_path` as sent in an `onionmsg_tlv`.
pub(super) fn read_reply_path(bytes: &[u8]) -> Option<BlindedPath> {
    BlindedPath::from_bytes(bytes).ok()
}
