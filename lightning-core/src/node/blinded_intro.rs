//! Paying over a blinded path that we introduce ourselves (BOLT 4 "Route
//! Blinding"): the recipient chose our node as the path's introduction
//! node, so the router's part reaches it with no hop at all
//! ([`RoutePath::blinded_tail`] with empty `hops`).
//!
//! We do what the introduction node does with an incoming HTLC, before
//! any HTLC exists: open our `encrypted_recipient_data` with
//! `ss = ECDH(k, E(0))` (our node key, the path's `first_path_key`),
//! read where it leads (`short_channel_id` or `next_node_id`) and the
//! recipient's `payment_relay`, and derive `E(1)`, applying
//! `next_path_key_override`. The part then becomes an ordinary blinded
//! part over one of our channels: the next node introduces the rest of
//! the path, reached unblinded, with `E(1)` as its `current_path_key`,
//! and receives what our relay would have forwarded
//! (`amt_to_forward` by the relay's formula on what the introduction
//! node is paid, the expiry less the relay's `cltv_expiry_delta`), so
//! every later hop and the recipient see the amounts the recipient
//! aggregated. The fee the path charged for our own hop is not paid to
//! anyone: we keep it.
//!
//! The same checks as [`process_htlc_onion`](crate::onion::process_htlc_onion)
//! makes of a blinded hop apply to our data (one of `short_channel_id`
//! and `next_node_id`, a `payment_relay`, no unknown `allowed_features`
//! bit); a path that names us as its recipient (one hop) is refused, as is
//! a next node that this payment's retries have excluded. The router sees
//! only the introduction node of such a path, us, so
//! [`Node::blinded_paths_left`] drops the paths we cannot pay over before
//! each search (`pay_blinded_paths` and every retry).
//! `payment_constraints` bound the HTLC an introduction node receives;
//! as the payer we receive none, so they are not checked here.
//!
//! [`RoutePath::blinded_tail`]: lightning_router::RoutePath::blinded_tail

use bitcoin::secp256k1::PublicKey;
use lightning_router::{BlindedPaymentPath, BlindedTail, Direction, NodeId, RouteHop, RoutePath};

use super::{Node, NodeError};
use crate::amount::Msat;
use crate::onion::process::relay_amt_to_forward;
use crate::onion::{unblind, PaymentRelay, Unblinded};
use lightning_wire::types::ChannelId;

impl Node {
    /// `path` ready to send: itself, unless it ends in a blinded path we
    /// introduce, which becomes one hop over our channel to the next node
    /// of the path and a blinded tail that node introduces (see the
    /// module). `excluded`: nodes this payment no longer uses.
    pub(super) fn introduce_our_blinded_hop(
        &self,
        path: &RoutePath,
        excluded: &[PublicKey],
    ) -> Result<RoutePath, NodeError> {
        let tail = match &path.blinded_tail {
            Some(t) if path.hops.is_empty() => t,
            _ => return Ok(path.clone()),
        };
        let refuse = |why: &str| NodeError::Route(format!("our own blinded hop: {why}"));
        let our_id = NodeId::from_pubkey(&self.node_signer.node_id());
        if tail.path.introduction_node != our_id {
            return Err(refuse("the path's introduction node is not us"));
        }
        let rest = tail
            .path
            .hops
            .get(1..)
            .filter(|rest| !rest.is_empty())
            .ok_or_else(|| refuse("the path has no hop past us: we would pay ourselves"))?;
        let (opened, relay, channel_id) = self.open_our_hop(&tail.path)?;
        let entry = &self.channels[&channel_id];
        let peer = entry.counterparty;
        if excluded.contains(&peer) {
            return Err(refuse("its next node failed this payment before"));
        }
        let st = entry.channel.state();
        let scid = st
            .short_channel_id
            .or(st.remote_alias)
            .or(st.local_alias)
            .ok_or_else(|| refuse("the channel has no short channel id yet"))?;
        let amount = relay_amt_to_forward(tail.amount.0, &relay)
            .ok_or_else(|| refuse("the amount is below our relay's base fee"))?;
        let cltv_expiry_delta = tail
            .cltv_expiry_delta
            .checked_sub(u32::from(relay.cltv_expiry_delta))
            .ok_or_else(|| refuse("the path's CLTV delta is below our relay's"))?;
        if amount < tail.final_amount.0 {
            return Err(refuse("our relay leaves less than the recipient's amount"));
        }
        let direction = if our_id.0 < NodeId::from_pubkey(&peer).0 {
            Direction::FromNode1
        } else {
            Direction::FromNode2
        };
        Ok(RoutePath {
            hops: vec![RouteHop {
                short_channel_id: scid,
                node_id: NodeId::from_pubkey(&peer),
                direction,
                capacity: Some(Msat(st.funding_satoshis.saturating_mul(1000))),
                amount: Msat(amount),
                fee: Msat(0),
                cltv_expiry_delta,
            }],
            success_probability: path.success_probability,
            blinded_tail: Some(BlindedTail {
                path: BlindedPaymentPath {
                    introduction_node: NodeId::from_pubkey(&peer),
                    first_path_key: opened.next_path_key,
                    hops: rest.to_vec(),
                    payinfo: tail.path.payinfo.clone(),
                },
                amount: Msat(amount),
                cltv_expiry_delta,
                ..tail.clone()
            }),
        })
    }

    /// Opens our hop of `path` (introduced by us): the hop's data, its
    /// `payment_relay`, and the usable channel of ours it leads over.
    fn open_our_hop(
        &self,
        path: &BlindedPaymentPath,
    ) -> Result<(Unblinded, PaymentRelay, ChannelId), NodeError> {
        let refuse = |why: &str| NodeError::Route(format!("our own blinded hop: {why}"));
        let ours = path
            .hops
            .first()
            .ok_or_else(|| refuse("the path has no hops"))?;
        let opened = unblind(
            &*self.node_signer,
            &path.first_path_key,
            &ours.encrypted_recipient_data,
        )
        .map_err(|e| refuse(&e.to_string()))?;
        let data = &opened.data;
        if data
            .allowed_features
            .as_ref()
            .is_some_and(|f| f.iter().any(|b| *b != 0))
        {
            return Err(refuse("it requires features we do not know"));
        }
        let relay = data
            .payment_relay
            .ok_or_else(|| refuse("it carries no payment_relay"))?;
        let channel = match (data.short_channel_id, data.next_node_id) {
            (Some(scid), None) => self.outgoing_channel(scid),
            (None, Some(peer)) => self
                .channels
                .iter()
                .filter(|(_, e)| e.counterparty == peer && e.channel.is_usable())
                .max_by_key(|(id, _)| self.outbound_capacity(**id))
                .map(|(id, _)| *id),
            _ => return Err(refuse("it names no single next hop")),
        };
        let channel_id = channel
            .filter(|id| self.channels.get(id).is_some_and(|e| e.channel.is_usable()))
            .ok_or_else(|| refuse("it leads over no usable channel of ours"))?;
        Ok((opened, relay, channel_id))
    }

    /// `paths` without those we introduce that we cannot pay over: our
    /// hop does not open, leads over no usable channel of ours, or to a
    /// node this payment has `excluded` (it failed before). The router
    /// cannot tell: it sees only the introduction node, us. Also gives why
    /// the first such path was dropped.
    pub(super) fn blinded_paths_left(
        &self,
        paths: &[BlindedPaymentPath],
        excluded: &[PublicKey],
    ) -> (Vec<BlindedPaymentPath>, Option<NodeError>) {
        let our_id = NodeId::from_pubkey(&self.node_signer.node_id());
        let mut why = None;
        let mut left = Vec::with_capacity(paths.len());
        for p in paths {
            if p.introduction_node == our_id {
                let opened = if p.hops.len() < 2 {
                    Err(NodeError::Route(
                        "our own blinded hop: the path has no hop past us: we would pay ourselves"
                            .into(),
                    ))
                } else {
                    self.open_our_hop(p)
                };
                let opened = opened.and_then(|(_, _, id)| {
                    if excluded.contains(&self.channels[&id].counterparty) {
                        Err(NodeError::Route(
                            "our own blinded hop: its next node failed this payment before".into(),
                        ))
                    } else {
                        Ok(())
                    }
                });
                if let Err(e) = opened {
                    why.get_or_insert(e);
                    continue;
                }
            }
            left.push(p.clone());
        }
        (left, why)
    }
}
