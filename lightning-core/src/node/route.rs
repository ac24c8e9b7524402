//! Routes the node sends over, and the hop payloads they make (BOLT 4,
//! "Payload Format"; BOLT 7, "HTLC Fees" and the "Routing Example").
//!
//! A [`Route`] comes from the caller ([`Node::send_to_route`](super::Node::send_to_route))
//! or from the router's path (`router_path::node_route`, for
//! [`Node::pay_invoice`](super::Node::pay_invoice)): each hop is the
//! channel *into* a node, with what that node charges to forward into the
//! next hop.

use bitcoin::secp256k1::PublicKey;
use lightning_wire::tlv::{TlvRecord, UnknownTlvs};
use lightning_wire::types::ShortChannelId;

use super::events::PaymentPreimage;
use crate::onion::{HopPayload, PaymentData};

/// The onion TLV type of a keysend preimage (a custom record; bLIP 3).
pub const KEYSEND_PREIMAGE_TYPE: u64 = crate::onion::payload::KEYSEND_PREIMAGE;

/// The least type of a custom record a host may add to the final payload
/// (BOLT 4 leaves types of 2^16 and above to applications).
pub const MIN_CUSTOM_RECORD_TYPE: u64 = 1 << 16;

/// One hop of a [`Route`]: the channel into `node_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RouteHop {
    /// The node this hop reaches.
    pub node_id: PublicKey,
    /// The channel into it (for the first hop: one of our channels, by its
    /// `short_channel_id` or the alias the peer gave us).
    pub short_channel_id: ShortChannelId,
    /// What `node_id` charges to forward into the next hop (from its
    /// `channel_update` for the next hop's channel); ignored for the last
    /// hop.
    pub fee_msat: u64,
    /// The `cltv_expiry_delta` `node_id` asks for to forward into the next
    /// hop; ignored for the last hop.
    pub cltv_expiry_delta: u32,
}

/// A path from us to the payee: `hops[0]` is our channel to the first node,
/// the last hop reaches the payee.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Route {
    /// The hops, in order.
    pub hops: Vec<RouteHop>,
}

impl Route {
    /// The one-hop route to a direct peer: the channel is picked when the
    /// HTLC is offered, so the hop names none, and there is no fee or
    /// delta to pay.
    pub(crate) fn direct(payee: PublicKey) -> Route {
        Route {
            hops: vec![RouteHop {
                node_id: payee,
                short_channel_id: ShortChannelId(0),
                fee_msat: 0,
                cltv_expiry_delta: 0,
            }],
        }
    }

    /// The payee: the last hop's node.
    pub fn payee(&self) -> Option<PublicKey> {
        self.hops.last().map(|h| h.node_id)
    }

    /// The fees the route pays: every hop's but the last.
    pub fn fee_msat(&self) -> u64 {
        let n = self.hops.len().saturating_sub(1);
        self.hops[..n]
            .iter()
            .fold(0u64, |acc, h| acc.saturating_add(h.fee_msat))
    }
}

/// What the final hop's payload carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecipientOnion {
    /// What the payee receives.
    pub amount_msat: u64,
    /// The invoice's `payment_secret` (sent in `payment_data` with
    /// [`RecipientOnion::total_msat`]).
    pub payment_secret: Option<[u8; 32]>,
    /// The whole payment's amount when this HTLC is one part of a
    /// multi-part payment (BOLT 4, "Basic Multi-Part Payments": the
    /// payee holds the parts until their `amount_msat` reach it). `None`:
    /// one part, the total is `amount_msat`. Needs `payment_secret`.
    pub total_msat: Option<u64>,
    /// The invoice's `payment_metadata`.
    pub payment_metadata: Option<Vec<u8>>,
    /// The payee's `min_final_cltv_expiry_delta`.
    pub final_cltv_expiry_delta: u32,
    /// Keysend: the preimage, in TLV [`KEYSEND_PREIMAGE_TYPE`].
    pub keysend_preimage: Option<PaymentPreimage>,
    /// Custom records for the payee (odd types of at least
    /// [`MIN_CUSTOM_RECORD_TYPE`]).
    pub custom_records: Vec<(u64, Vec<u8>)>,
    /// The blinded path this HTLC ends in (BOLT 4 "Route Blinding"): the
    /// route's last hop is then the path's introduction node. The payee's
    /// payload is the path's last hop's, with `amt_to_forward`,
    /// `outgoing_cltv_value` and `total_amount_msat` (`total_msat`, else
    /// `amount_msat`); `payment_secret`, `payment_metadata`, keysend and
    /// custom records are refused, and `final_cltv_expiry_delta` is the
    /// baseline offset only (the path's delta covers the payee's).
    pub blinded: Option<BlindedRecipient>,
}

/// The blinded end of an HTLC's route, from the router's
/// [`BlindedTail`](lightning_router::BlindedTail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlindedRecipient {
    /// The path: introduction node, first path key, blinded hops.
    pub path: lightning_router::BlindedPaymentPath,
    /// What the introduction node receives.
    pub intro_amount_msat: u64,
    /// The CLTV delta the introduction node's HTLC carries above the
    /// payee's `outgoing_cltv_value` (the path's `cltv_expiry_delta`).
    pub intro_cltv_expiry_delta: u32,
}

/// The payloads of a route: per hop `(node_id, payload)`, and the amount
/// and `cltv_expiry` of the HTLC we offer on the first channel.
#[derive(Debug, Clone)]
pub(crate) struct RoutePayloads {
    pub hops: Vec<(PublicKey, HopPayload)>,
    pub first_amount_msat: u64,
    pub first_cltv_expiry: u32,
}

/// Builds the hop payloads of `route` for `recipient`, the final HTLC
/// expiring at `final_cltv_expiry` (BOLT 7 "Routing Example": amounts and
/// expiries are summed backwards from the payee). Refuses an empty route,
/// more than 20 hops, arithmetic overflow and bad custom records.
pub(crate) fn route_payloads(
    route: &Route,
    recipient: &RecipientOnion,
    final_cltv_expiry: u32,
) -> Result<RoutePayloads, String> {
    let n = route.hops.len();
    if n == 0 {
        return Err("the route is empty".into());
    }
    if n > 20 {
        return Err(format!("the route has {n} hops; an onion holds 20"));
    }
    if let Some(b) = &recipient.blinded {
        return blinded_payloads(route, recipient, b, final_cltv_expiry);
    }
    if recipient.total_msat.is_some() && recipient.payment_secret.is_none() {
        // BOLT 4: `total_msat` travels in `payment_data`, with the secret.
        return Err("a part of a multi-part payment needs the payment_secret".into());
    }
    let mut unknown = Vec::new();
    let mut custom = recipient.custom_records.clone();
    custom.sort_by_key(|(t, _)| *t);
    for w in custom.windows(2) {
        if w[0].0 == w[1].0 {
            return Err(format!("custom record {} given twice", w[0].0));
        }
    }
    for (ty, _) in &custom {
        if *ty < MIN_CUSTOM_RECORD_TYPE || ty % 2 == 0 || *ty == KEYSEND_PREIMAGE_TYPE {
            return Err(format!(
                "custom record type {ty}: must be odd, at least 65536, not keysend's"
            ));
        }
    }
    if let Some(p) = recipient.keysend_preimage {
        custom.push((KEYSEND_PREIMAGE_TYPE, p.0.to_vec()));
        custom.sort_by_key(|(t, _)| *t);
    }
    for (ty, value) in custom {
        unknown.push(TlvRecord { r#type: ty, value });
    }
    let last = HopPayload {
        amt_to_forward: Some(recipient.amount_msat),
        outgoing_cltv_value: Some(final_cltv_expiry),
        payment_data: recipient.payment_secret.map(|s| PaymentData {
            payment_secret: s,
            total_msat: recipient.total_msat.unwrap_or(recipient.amount_msat),
        }),
        payment_metadata: recipient.payment_metadata.clone(),
        unknown: UnknownTlvs(unknown),
        ..HopPayload::default()
    };
    let (mut payloads, amount, cltv) =
        forwarding_payloads(route, n - 1, recipient.amount_msat, final_cltv_expiry)?;
    payloads.push(last);
    Ok(RoutePayloads {
        hops: route.hops.iter().map(|h| h.node_id).zip(payloads).collect(),
        first_amount_msat: amount,
        first_cltv_expiry: cltv,
    })
}

/// The payloads of the route's first `count` hops, each forwarding into the
/// next hop of `route`, summed backwards from the HTLC hop `count` receives
/// (`amount`, `cltv`; BOLT 7 "Routing Example"): hop `i` sends on what hop
/// `i + 1` receives and itself receives that plus its fee and delta.
/// Returns the payloads and what the first hop receives; refuses overflow.
fn forwarding_payloads(
    route: &Route,
    count: usize,
    mut amount: u64,
    mut cltv: u32,
) -> Result<(Vec<HopPayload>, u64, u32), String> {
    let mut payloads = vec![HopPayload::default(); count];
    for i in (0..count).rev() {
        payloads[i] = HopPayload {
            amt_to_forward: Some(amount),
            outgoing_cltv_value: Some(cltv),
            short_channel_id: Some(route.hops[i + 1].short_channel_id),
            ..HopPayload::default()
        };
        amount = amount
            .checked_add(route.hops[i].fee_msat)
            .ok_or("fees overflow")?;
        cltv = cltv
            .checked_add(route.hops[i].cltv_expiry_delta)
            .ok_or("CLTV deltas overflow")?;
    }
    Ok((payloads, amount, cltv))
}

/// [`route_payloads`] for a route that ends in a blinded path (BOLT 4
/// "Requirements" for the writer of the TLV `payload`): the hops before the
/// introduction node forward as usual into it with the path's amount and
/// CLTV; the introduction node reads `encrypted_recipient_data` and
/// `current_path_key`, every later blinded hop its
/// `encrypted_recipient_data`, and the final one also `amt_to_forward`,
/// `outgoing_cltv_value` and `total_amount_msat`.
fn blinded_payloads(
    route: &Route,
    recipient: &RecipientOnion,
    b: &BlindedRecipient,
    final_cltv_expiry: u32,
) -> Result<RoutePayloads, String> {
    let n = route.hops.len();
    let k = b.path.hops.len();
    if n == 0 {
        return Err("the route to the introduction node is empty".into());
    }
    if k == 0 {
        return Err("the blinded path has no hops".into());
    }
    if n + k - 1 > 20 {
        return Err(format!(
            "the route has {} hops; an onion holds 20",
            n + k - 1
        ));
    }
    if recipient.payment_secret.is_some()
        || recipient.payment_metadata.is_some()
        || recipient.keysend_preimage.is_some()
        || !recipient.custom_records.is_empty()
    {
        return Err("a blinded path's payee reads only its encrypted data and amounts".into());
    }
    let intro = route.hops[n - 1].node_id;
    if lightning_router::NodeId::from_pubkey(&intro) != b.path.introduction_node {
        return Err("the route does not end at the blinded path's introduction node".into());
    }
    let mut hops = Vec::with_capacity(n + k - 1);
    let mut blinded = Vec::with_capacity(k);
    for (j, h) in b.path.hops.iter().enumerate() {
        let mut p = HopPayload {
            encrypted_recipient_data: Some(h.encrypted_recipient_data.clone()),
            current_path_key: (j == 0).then_some(b.path.first_path_key),
            ..HopPayload::default()
        };
        if j + 1 == k {
            p.amt_to_forward = Some(recipient.amount_msat);
            p.outgoing_cltv_value = Some(final_cltv_expiry);
            p.total_amount_msat = Some(recipient.total_msat.unwrap_or(recipient.amount_msat));
        }
        let node_id = if j == 0 { intro } else { h.blinded_node_id };
        blinded.push((node_id, p));
    }
    let intro_cltv = final_cltv_expiry
        .checked_add(b.intro_cltv_expiry_delta)
        .ok_or("CLTV deltas overflow")?;
    let (before, amount, cltv) =
        forwarding_payloads(route, n - 1, b.intro_amount_msat, intro_cltv)?;
    hops.extend(route.hops[..n - 1].iter().map(|h| h.node_id).zip(before));
    hops.extend(blinded);
    Ok(RoutePayloads {
        hops,
        first_amount_msat: amount,
        first_cltv_expiry: cltv,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(b: u8) -> PublicKey {
        PublicKey::from_secret_key(
            bitcoin::secp256k1::SECP256K1,
            &bitcoin::secp256k1::SecretKey::from_slice(&[b; 32]).unwrap(),
        )
    }

    /// BOLT 7 "Routing Example", A->B->C: B charges 200 + 2000 millionths
    /// (10199 msat on 4999999) and a delta of 20.
    #[test]
    fn bolt7_routing_example_amounts() {
        let route = Route {
            hops: vec![
                RouteHop {
                    node_id: key(2),
                    short_channel_id: ShortChannelId(1),
                    fee_msat: 200 + 4_999_999 * 2000 / 1_000_000,
                    cltv_expiry_delta: 20,
                },
                RouteHop {
                    node_id: key(3),
                    short_channel_id: ShortChannelId(2),
                    fee_msat: 0,
                    cltv_expiry_delta: 0,
                },
            ],
        };
        let recipient = RecipientOnion {
            amount_msat: 4_999_999,
            ..Default::default()
        };
        let height = 1000;
        let p = route_payloads(&route, &recipient, height + 18 + 42).unwrap();
        assert_eq!(p.first_amount_msat, 5_010_198);
        assert_eq!(p.first_cltv_expiry, height + 20 + 18 + 42);
        assert_eq!(p.hops[0].1.amt_to_forward, Some(4_999_999));
        assert_eq!(p.hops[0].1.outgoing_cltv_value, Some(height + 18 + 42));
        assert_eq!(p.hops[0].1.short_channel_id, Some(ShortChannelId(2)));
        assert_eq!(p.hops[1].1.amt_to_forward, Some(4_999_999));
        assert_eq!(route.fee_msat(), 10_199);
    }

    #[test]
    fn bad_routes_and_records_are_refused() {
        let hop = RouteHop {
            node_id: key(2),
            short_channel_id: ShortChannelId(1),
            fee_msat: 0,
            cltv_expiry_delta: 0,
        };
        let r = RecipientOnion::default();
        assert!(route_payloads(&Route::default(), &r, 0).is_err());
        let long = Route {
            hops: vec![hop; 21],
        };
        assert!(route_payloads(&long, &r, 0).is_err());
        let one = Route { hops: vec![hop] };
        for ty in [65_536, 3, KEYSEND_PREIMAGE_TYPE] {
            let r = RecipientOnion {
                custom_records: vec![(ty, vec![1])],
                ..Default::default()
            };
            assert!(route_payloads(&one, &r, 0).is_err(), "type {ty}");
        }
        let r = RecipientOnion {
            custom_records: vec![(65_537, vec![1])],
            keysend_preimage: Some(PaymentPreimage([7; 32])),
            ..Default::default()
        };
        let p = route_payloads(&one, &r, 0).unwrap();
        let types: Vec<u64> = p.hops[0].1.unknown.0.iter().map(|t| t.r#type).collect();
        assert_eq!(types, vec![65_537, KEYSEND_PREIMAGE_TYPE]);
        // A part of a multi-part payment: its total in `payment_data`,
        // which needs the secret.
        let part = RecipientOnion {
            amount_msat: 400,
            total_msat: Some(1000),
            ..Default::default()
        };
        assert!(route_payloads(&one, &part, 0).is_err());
        let part = RecipientOnion {
            payment_secret: Some([3; 32]),
            ..part
        };
        let p = route_payloads(&one, &part, 0).unwrap();
        let data = p.hops[0].1.payment_data.unwrap();
        assert_eq!(
            (data.total_msat, p.hops[0].1.amt_to_forward),
            (1000, Some(400))
        );
    }
}
