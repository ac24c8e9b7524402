//! Onion messages to a node that is not our peer (BOLT 4, "Onion
//! Messages"): the nodes from one of our connected peers to it over the
//! public graph, and our own blinded path over them, joined to the
//! destination's path.
//!
//! - **The route** (`onion_message_route`) is the fewest hops, found
//!   breadth first from the destination's introduction node over public
//!   channels that are not closed, through nodes whose `node_announcement`
//!   has `option_onion_messages` (BOLT 9, bit 38/39) and no unknown
//!   required feature, to a connected peer (which must announce it too).
//!   At most [`MAX_ONION_MESSAGE_ROUTE_HOPS`] nodes are added in front of
//!   the introduction node, and the search stops after
//!   [`MAX_ONION_MESSAGE_ROUTE_VISITS`] nodes.
//! - **The join** (`route_prefix`): the sender "MAY" prepend its own hops
//!   to a blinded path (BOLT 4: a node that is not the introduction node
//!   reaches it over a path of its own). We blind the route ourselves:
//!   each hop's `encrypted_data_tlv` names the next node
//!   (`next_node_id`), and the last one also gives the introduction node
//!   the destination path's `first_path_key` (`next_path_key_override`,
//!   type 8), so that node opens its hop of the destination's path as if
//!   the message had come from nowhere else.

use std::collections::{HashMap, VecDeque};

use bitcoin::secp256k1::PublicKey;
use lightning_gossip::NodeIdx;
use lightning_wire::bolt12::{BlindedPath, OnionMsgHop};
use lightning_wire::features::Feature;
use lightning_wire::Encode;

use super::{Node, NodeError};
use crate::onion::{blind_path, EncryptedDataTlv};

/// Nodes added in front of an introduction node that is not our peer, at
/// most.
pub const MAX_ONION_MESSAGE_ROUTE_HOPS: usize = 6;

/// Nodes the route search visits at most (a mainnet-sized graph has about
/// 15,000 with channels).
pub const MAX_ONION_MESSAGE_ROUTE_VISITS: usize = 100_000;

impl Node {
    /// The nodes from a connected peer (first) to `target` (not included),
    /// each announcing onion messages; `None` when there is no such route
    /// within the limits (see the module).
    pub(super) fn onion_message_route(&self, target: &PublicKey) -> Option<Vec<PublicKey>> {
        let store = self.network_graph()?.store();
        let start = store.node_by_id(target)?;
        let relays = |idx: NodeIdx| {
            store.node(idx).is_some_and(|n| {
                !n.has_unknown_required_features()
                    && n.announcement()
                        .is_some_and(|a| a.features.supports(Feature::OnionMessages))
            })
        };
        // Breadth first from the target; `toward[n]` is the next node from
        // `n` to the target, `depth[n]` how many nodes lie before it.
        let mut toward: HashMap<NodeIdx, (NodeIdx, usize)> = HashMap::new();
        let mut queue = VecDeque::from([(start, 0usize)]);
        toward.insert(start, (start, 0));
        while let Some((idx, depth)) = queue.pop_front() {
            if idx != start {
                let id = *store.node(idx)?.node_id();
                if id != self.node_id() && self.peers.peer_for_node(&id).is_some() {
                    let mut route = vec![id];
                    let mut at = idx;
                    loop {
                        let (next, _) = toward[&at];
                        if next == start {
                            return Some(route);
                        }
                        route.push(*store.node(next)?.node_id());
                        at = next;
                    }
                }
            }
            if depth >= MAX_ONION_MESSAGE_ROUTE_HOPS
                || toward.len() >= MAX_ONION_MESSAGE_ROUTE_VISITS
            {
                continue;
            }
            let Some(node) = store.node(idx) else {
                continue;
            };
            for &c in node.channels() {
                let Some(ch) = store.channel(c) else {
                    continue;
                };
                if ch.is_closed() {
                    continue;
                }
                let Some(other) = ch.other_end(idx) else {
                    continue;
                };
                if toward.contains_key(&other) || !relays(other) {
                    continue;
                }
                toward.insert(other, (idx, depth + 1));
                queue.push_back((other, depth + 1));
            }
        }
        None
    }

    /// Our blinded path over `route` (from [`Node::onion_message_route`])
    /// that hands the message to `intro` with `path_key`, the destination
    /// path's first path key: its first node, its path key, and its hops
    /// to put in front of the destination's.
    pub(super) fn route_prefix(
        &self,
        route: &[PublicKey],
        intro: PublicKey,
        path_key: PublicKey,
    ) -> Result<(PublicKey, PublicKey, Vec<OnionMsgHop>), NodeError> {
        let first = *route
            .first()
            .ok_or_else(|| NodeError::Route("an empty onion message route".into()))?;
        let hops: Vec<(PublicKey, Vec<u8>)> = route
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let last = i + 1 == route.len();
                let data = EncryptedDataTlv {
                    next_node_id: Some(route.get(i + 1).copied().unwrap_or(intro)),
                    next_path_key_override: last.then_some(path_key),
                    ..EncryptedDataTlv::default()
                };
                (*node, data.to_bytes())
            })
            .collect();
        let session = self.fresh_secret();
        let ours: BlindedPath = blind_path(&session, &hops)
            .map_err(|e| NodeError::Route(format!("blinding a path: {e}")))?
            .into_bolt12_path();
        Ok((first, ours.first_path_key, ours.hops))
    }
}
