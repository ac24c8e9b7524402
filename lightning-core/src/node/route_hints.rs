//! Route hints in our invoices (BOLT 11 `r`), so that a payer can reach
//! us over channels the public graph does not show: a wallet behind its
//! LSP, whose channel is unannounced.
//!
//! BOLT 11: "if it does not have any public channels: MUST include at
//! least one `r` field"; more generally, a node whose public channels
//! cannot bring the amount in gives hints for the private ones that can.
//! Each hint is one hop, from the peer to us:
//!
//! - `short_channel_id`: the alias the peer sent us in `channel_ready`
//!   (BOLT 2: the receiver "MAY use any of the `alias` it received, in
//!   BOLT 11 `r` fields", and the sender recognizes it for HTLCs into the
//!   channel), else the real one; never the real one of an
//!   `option_scid_alias` channel ("MUST NOT use the real
//!   `short_channel_id` in BOLT 11 `r` fields"): such a channel without
//!   an alias yet gives no hint;
//! - fees and `cltv_expiry_delta`: the peer's own, from the
//!   `channel_update` it sent us for the channel (BOLT 7: a node "SHOULD
//!   accept `channel_update`s for its own channels (even if non-public),
//!   in order to learn the associated origin nodes' forwarding
//!   parameters"); until one came, our own policy stands in
//!   ([`GossipConfig`](super::GossipConfig)).
//!
//! A peer's update is kept when it names one of our channels with it (by
//! real id or either alias), is for the peer's direction, carries the
//! peer's valid signature and is newer than the one kept. Kept in memory:
//! a peer sends it again on every connection.
//!
//! Which channels: `Normal` ones not announced, whose peer can send us
//! something (its balance above the reserve we require), the largest
//! first, at most [`MAX_ROUTE_HINTS`]; given only when the public
//! channels' inbound together is below the amount (or nothing, for an
//! invoice without one).

use std::collections::BTreeMap;

use bitcoin::secp256k1::PublicKey;
use lightning_wire::bolt11::{RouteHint, RouteHintHop};
use lightning_wire::msgs::ChannelUpdate;
use lightning_wire::types::ChannelId;

use super::Node;
use crate::amount::Msat;
use crate::channel::announce::{channel_update_hash, verify_hash};
use crate::channel::Phase;

/// The most `r` fields an invoice of ours carries.
pub const MAX_ROUTE_HINTS: usize = 3;

/// The peers' `channel_update`s for our channels, by channel.
#[derive(Debug, Default)]
pub(super) struct PeerPolicies {
    updates: BTreeMap<ChannelId, ChannelUpdate>,
}

impl Node {
    /// A `channel_update` from peer `from`: kept when it is the peer's own
    /// for one of our channels with it (see the module). Returns whether
    /// it named one of our channels the graph does not know (an
    /// unannounced one): the graph has no use for it then.
    pub(super) fn on_peer_channel_update(&mut self, from: PublicKey, m: &ChannelUpdate) -> bool {
        let scid = m.short_channel_id;
        let Some((id, announced)) = self.channels.iter().find_map(|(id, e)| {
            let st = e.channel.state();
            let named =
                [st.short_channel_id, st.local_alias, st.remote_alias].contains(&Some(scid));
            (e.counterparty == from && named).then(|| {
                let announced = st.announce_channel && st.short_channel_id == Some(scid);
                (*id, announced)
            })
        }) else {
            return false;
        };
        // BOLT 7: direction 0 is sent by `node_id_1`, the lesser key.
        let peer_direction = u8::from(from.serialize() > self.node_id().serialize());
        let valid = m.channel_flags & 1 == peer_direction
            && verify_hash(&channel_update_hash(m), &m.signature, &from);
        let newer = self
            .peer_policies
            .updates
            .get(&id)
            .is_none_or(|kept| m.timestamp > kept.timestamp);
        if valid && newer {
            self.peer_policies.updates.insert(id, m.clone());
        }
        !announced
    }

    /// The `r` fields for an invoice of `amount` (see the module).
    /// The fee base, proportional fee and CLTV delta of the peer's last
    /// `channel_update` for channel `id` towards us, if any.
    pub(super) fn peer_policies_update(&self, id: &ChannelId) -> Option<(u32, u32, u16)> {
        self.peer_policies.updates.get(id).map(|u| {
            (
                u.fee_base_msat,
                u.fee_proportional_millionths,
                u.cltv_expiry_delta,
            )
        })
    }

    pub(super) fn invoice_route_hints(&self, amount: Option<Msat>) -> Vec<RouteHint> {
        let mut public_inbound = 0u64;
        let mut private: Vec<(u64, RouteHint)> = Vec::new();
        for (id, e) in &self.channels {
            let ch = &e.channel;
            if ch.phase() != Phase::Normal {
                continue;
            }
            let st = ch.state();
            let capacity_msat = st.funding_satoshis.saturating_mul(1000);
            let reserve_msat = st
                .local_params
                .channel_reserve_satoshis
                .saturating_mul(1000);
            let inbound = capacity_msat
                .saturating_sub(ch.local_balance_msat())
                .saturating_sub(reserve_msat);
            if st.announce_channel {
                public_inbound = public_inbound.saturating_add(inbound);
                continue;
            }
            let real = (!st.channel_type.scid_alias)
                .then_some(st.short_channel_id)
                .flatten();
            let Some(scid) = st.remote_alias.or(real) else {
                continue;
            };
            if inbound == 0 {
                continue;
            }
            let g = &self.config.gossip;
            let (fee_base_msat, fee_proportional_millionths, cltv_expiry_delta) =
                match self.peer_policies.updates.get(id) {
                    Some(u) => (
                        u.fee_base_msat,
                        u.fee_proportional_millionths,
                        u.cltv_expiry_delta,
                    ),
                    None => (
                        g.fee_base_msat,
                        g.fee_proportional_millionths,
                        g.cltv_expiry_delta,
                    ),
                };
            let hop = RouteHintHop {
                src_node_id: e.counterparty.into(),
                short_channel_id: scid,
                fee_base_msat,
                fee_proportional_millionths,
                cltv_expiry_delta,
            };
            private.push((inbound, RouteHint(vec![hop])));
        }
        let needed = amount.map_or(1, |a| a.0.max(1));
        if public_inbound >= needed {
            return Vec::new();
        }
        private.sort_by_key(|p| std::cmp::Reverse(p.0));
        private
            .into_iter()
            .take(MAX_ROUTE_HINTS)
            .map(|(_, h)| h)
            .collect()
    }
}
