//! The router's paths as the node sends them: a [`RoutePath`] of
//! `lightning-router` becomes the node's [`Route`] (and the path kept in
//! the payment record for the scorer), and an invoice or a keysend becomes
//! the router's parameters for one attempt
//! ([`Node::pay_invoice`](super::Node::pay_invoice),
//! [`Node::keysend_to`](super::Node::keysend_to)).

use std::collections::HashSet;

use lightning_router::{Direction, HopUse, NodeId, RouteParams, RoutePath};
use lightning_wire::bolt11::Bolt11Invoice;
use lightning_wire::Msat;

use super::config::NodeConfig;
use super::events::PaymentPreimage;
use super::records::{KeysendTarget, PathHop, RetryState};
use super::route::{RecipientOnion, Route, RouteHop};

/// Blocks added to the payee's `min_final_cltv_expiry_delta` for blocks
/// found while the HTLC travels (the payments code adds them to the final
/// expiry; the router's CLTV limit leaves room for them).
pub(super) const CLTV_SLACK: u32 = 3;

/// The node's [`Route`] for one of the router's paths, and the path as the
/// record keeps it for the scorer.
///
/// The router's [`lightning_router::RouteHop`] gives, per hop, the HTLC
/// amount into the hop's node and that HTLC's CLTV delta above the current
/// height (cumulative); the node's [`RouteHop`] wants what the hop's node
/// charges to forward into the next hop and the `cltv_expiry_delta` it
/// asks for (BOLT 7 "Routing Example": amounts and expiries are summed
/// backwards from the payee). So hop `i`'s fee is `amount[i] -
/// amount[i + 1]` (the router's `fee`, checked), its delta `cltv[i] -
/// cltv[i + 1]`; the last hop has neither.
pub(super) fn node_route(path: &RoutePath) -> Result<(Route, Vec<PathHop>), String> {
    let hops = &path.hops;
    if hops.is_empty() {
        return Err("the router returned an empty path".into());
    }
    let mut out = Vec::with_capacity(hops.len());
    for (i, h) in hops.iter().enumerate() {
        let node_id = h
            .node_id
            .to_pubkey()
            .map_err(|e| format!("hop {i}: a node id that is not a key: {e}"))?;
        let (fee_msat, cltv_expiry_delta) = match hops.get(i + 1) {
            Some(next) => {
                let fee = h.amount.0.checked_sub(next.amount.0);
                let delta = h.cltv_expiry_delta.checked_sub(next.cltv_expiry_delta);
                match (fee, delta) {
                    (Some(f), Some(d)) if f == h.fee.0 => (f, d),
                    _ => return Err(format!("hop {i}: amounts or CLTV deltas do not add up")),
                }
            }
            None => (0, 0),
        };
        out.push(RouteHop {
            node_id,
            short_channel_id: h.short_channel_id,
            fee_msat,
            cltv_expiry_delta,
        });
    }
    let kept = hops
        .iter()
        .map(|h| PathHop {
            scid: h.short_channel_id,
            direction: h.direction.bit(),
            amount_msat: h.amount.0,
            capacity_msat: h.capacity.map_or(0, |c| c.0),
        })
        .collect();
    Ok((Route { hops: out }, kept))
}

/// The kept path as the scorer takes it.
pub(super) fn hop_uses(path: &[PathHop]) -> Vec<HopUse> {
    path.iter()
        .map(|h| HopUse {
            scid: h.scid,
            direction: Direction::from_bit(h.direction),
            amount: Msat(h.amount_msat),
            capacity: (h.capacity_msat != 0).then_some(Msat(h.capacity_msat)),
        })
        .collect()
}

/// The router's parameters for an attempt at `invoice`: the whole amount,
/// split in up to [`NodeConfig::payment_max_parts`] parts when the invoice
/// sets `basic_mpp`, fees within the payment's cap (the caller's, else
/// `config`'s budget), room for [`CLTV_SLACK`] under the CLTV limit, and
/// the payment's exclusions so far. A retry narrows the amount and the
/// fee budget to what is not in flight
/// ([`Node::retry_payment`](super::Node)).
pub(super) fn attempt_params(
    invoice: &Bolt11Invoice,
    retry: &RetryState,
    config: &NodeConfig,
) -> Option<RouteParams> {
    let p = RouteParams::from_invoice(invoice, retry.amount_msat.map(Msat))?;
    Some(payment_limits(p, retry, config))
}

/// The router's parameters for an attempt at keysend `target` of
/// `amount_msat` (the whole payment): its payee, our keysend final CLTV
/// delta, the caller's hints, and the limits of [`attempt_params`]; split
/// in up to [`NodeConfig::payment_max_parts`] parts (no invoice says
/// whether the payee takes parts: the caller first asks for one path,
/// `Node::keysend_to_with`).
pub(super) fn keysend_params(
    target: &KeysendTarget,
    amount_msat: u64,
    retry: &RetryState,
    config: &NodeConfig,
) -> RouteParams {
    let mut p = RouteParams::new(NodeId::from_pubkey(&target.payee), Msat(amount_msat));
    p.min_final_cltv_expiry_delta =
        u16::try_from(target.final_cltv_expiry_delta).unwrap_or(u16::MAX);
    p.route_hints.clone_from(&target.route_hints);
    p.allow_mpp = true;
    payment_limits(p, retry, config)
}

/// The router's parameters for an attempt at a blinded payment of
/// `amount_msat` over `paths` (BOLT 4 "Route Blinding"), each path whose
/// introduction node this payment excludes left out, with the limits of
/// [`attempt_params`].
pub(super) fn blinded_params(
    paths: &[lightning_router::BlindedPaymentPath],
    amount_msat: u64,
    retry: &RetryState,
    config: &NodeConfig,
) -> RouteParams {
    let excluded: HashSet<NodeId> = retry
        .excluded_nodes
        .iter()
        .map(NodeId::from_pubkey)
        .collect();
    let usable = paths
        .iter()
        .filter(|p| !excluded.contains(&p.introduction_node))
        .cloned()
        .collect();
    let mut p = RouteParams::for_blinded_paths(usable, Msat(amount_msat));
    p.allow_mpp = true;
    payment_limits(p, retry, config)
}

/// `p` limited as every attempt of a payment is: fees within the
/// payment's cap, at most [`NodeConfig::payment_max_parts`] parts, room
/// for [`CLTV_SLACK`], the payment's exclusions so far.
fn payment_limits(mut p: RouteParams, retry: &RetryState, config: &NodeConfig) -> RouteParams {
    p.max_total_fee = Some(Msat(
        retry
            .max_fee_msat
            .unwrap_or_else(|| config.payment_max_fee_msat(p.amount.0)),
    ));
    p.max_path_count = config.payment_max_parts.max(1);
    p.allow_mpp &= config.payment_max_parts > 1;
    p.max_total_cltv_expiry_delta = p.max_total_cltv_expiry_delta.saturating_sub(CLTV_SLACK);
    p.excluded_channels = retry.excluded_channels.iter().copied().collect();
    p.excluded_nodes = retry
        .excluded_nodes
        .iter()
        .map(NodeId::from_pubkey)
        .collect::<HashSet<_>>();
    p
}

/// `p` for one path only: a keysend is split only when no single path
/// carries it (not every payee takes a keysend in parts).
pub(super) fn single_path(p: &RouteParams) -> RouteParams {
    let mut one = p.clone();
    one.max_path_count = 1;
    one.allow_mpp = false;
    one
}

/// What the final payload of keysend `target` carries for `amount_msat`:
/// the preimage and records; and, for a part of a split keysend
/// (`part`), the `payment_secret` we chose, which goes in `payment_data`
/// with the total (the parts code sets `total_msat`). A single-path
/// keysend carries no `payment_data`, as it always did (bLIP 3).
pub(super) fn keysend_recipient(
    target: &KeysendTarget,
    amount_msat: u64,
    part: bool,
) -> RecipientOnion {
    RecipientOnion {
        amount_msat,
        payment_secret: part.then_some(target.payment_secret),
        final_cltv_expiry_delta: target.final_cltv_expiry_delta,
        keysend_preimage: Some(PaymentPreimage(target.preimage)),
        custom_records: target.custom_records.clone(),
        ..RecipientOnion::default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bitcoin::secp256k1::PublicKey;
    use lightning_router::RouteHop as RouterHop;
    use lightning_wire::types::ShortChannelId;

    fn key(b: u8) -> PublicKey {
        PublicKey::from_secret_key(
            bitcoin::secp256k1::SECP256K1,
            &bitcoin::secp256k1::SecretKey::from_slice(&[b; 32]).unwrap(),
        )
    }

    /// BOLT 7 "Routing Example" A -> B -> C -> D as the router gives it
    /// (amounts into each node, cumulative CLTV deltas): B charges 200 +
    /// 2000 ppm and a delta of 20... here B forwards 4_999_999 + C's fee.
    fn router_path() -> RoutePath {
        // D receives 4_999_999 with a final delta of 9; C charges 1 +
        // 0 ppm... keep it simple and exact: C fee 10, delta 30; B fee
        // 200 + 2000 ppm of what it forwards, delta 20.
        let d_amount = 4_999_999u64;
        let c_fee = 10u64;
        let c_forwards = d_amount;
        let b_forwards = c_forwards + c_fee;
        let b_fee = 200 + b_forwards * 2000 / 1_000_000;
        let hop = |scid: u64, node: u8, amount: u64, fee: u64, cltv: u32| RouterHop {
            short_channel_id: ShortChannelId(scid),
            node_id: NodeId::from_pubkey(&key(node)),
            direction: Direction::FromNode2,
            capacity: Some(Msat(10_000_000)),
            amount: Msat(amount),
            fee: Msat(fee),
            cltv_expiry_delta: cltv,
        };
        RoutePath {
            hops: vec![
                hop(1, 2, b_forwards + b_fee, b_fee, 9 + 30 + 20),
                hop(2, 3, c_forwards + c_fee, c_fee, 9 + 30),
                hop(3, 4, d_amount, 0, 9),
            ],
            success_probability: 1.0,
            blinded_tail: None,
        }
    }

    #[test]
    fn router_paths_become_node_routes_with_per_hop_fees_and_deltas() {
        let path = router_path();
        let (route, kept) = node_route(&path).unwrap();
        assert_eq!(route.hops.len(), 3);
        assert_eq!(route.hops[0].node_id, key(2));
        assert_eq!(route.hops[0].short_channel_id, ShortChannelId(1));
        assert_eq!(route.hops[0].fee_msat, path.hops[0].fee.0);
        assert_eq!(route.hops[0].cltv_expiry_delta, 20);
        assert_eq!(route.hops[1].fee_msat, 10);
        assert_eq!(route.hops[1].cltv_expiry_delta, 30);
        assert_eq!(
            (route.hops[2].fee_msat, route.hops[2].cltv_expiry_delta),
            (0, 0)
        );
        // The onion built from it sends exactly what the router computed.
        let recipient = super::super::route::RecipientOnion {
            amount_msat: 4_999_999,
            final_cltv_expiry_delta: 9,
            ..Default::default()
        };
        let p = super::super::route::route_payloads(&route, &recipient, 1000 + 9).unwrap();
        assert_eq!(p.first_amount_msat, path.sent_amount().0);
        assert_eq!(p.first_cltv_expiry, 1000 + path.total_cltv_expiry_delta());
        assert_eq!(route.fee_msat(), path.fee().0);
        assert_eq!(kept.len(), 3);
        assert_eq!(hop_uses(&kept), path.hop_uses());

        // A router path whose fee does not match its amounts is refused.
        let mut bad = path.clone();
        bad.hops[1].fee = Msat(11);
        assert!(node_route(&bad).is_err());
        let mut bad = path;
        bad.hops[1].cltv_expiry_delta = 100;
        assert!(node_route(&bad).is_err());
    }
}
