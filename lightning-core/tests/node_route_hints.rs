//! Issue 19: route hints in our invoices (BOLT 11 `r`), so that a wallet
//! behind its LSP, over an unannounced channel, can be paid from anywhere.
//!
//! ```text
//!   P(ayer) ==public== L(SP) --private-- W(allet)
//! ```
//!
//! P opens an announced channel to L; L opens an unannounced one to W
//! (W's side holds nothing: all of it is W's inbound). L's forwarding fees
//! differ from everyone's defaults, so a hint carrying them shows that W
//! learned them from L's `channel_update` for the private channel (BOLT 7:
//! a node "SHOULD accept `channel_update`s for its own channels (even if
//! non-public)").
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod forward_support;

use std::time::Duration;

use forward_support::Line;
use lightning_core::amount::Msat;
use lightning_core::node::{Event, ForwardStatus, PaymentId, PaymentStatus};
use lightning_wire::bolt11::RouteHint;

const P: usize = 0;
const L: usize = 1;
const W: usize = 2;
const AMOUNT_MSAT: u64 = 100_000_000;
/// L's forwarding policy, unlike the defaults.
const L_BASE: u32 = 2_345;
const L_PPM: u32 = 150;
const L_CLTV: u16 = 55;

/// The three nodes, P's channel announced and known to everyone's graph.
fn network() -> Line {
    let mut line = Line::new(3, |i, c| {
        c.channel.announce_channel = i == P;
        if i == W {
            c.forwarding.accept_keysend = true;
        }
        if i == L {
            c.gossip.fee_base_msat = L_BASE;
            c.gossip.fee_proportional_millionths = L_PPM;
            c.gossip.cltv_expiry_delta = L_CLTV;
        }
    });
    line.open_channel(P, L, 1_000_000, 0);
    line.open_channel(L, W, 1_000_000, 0);
    line.mine(6);
    for _ in 0..3 {
        line.tick(61);
    }
    let g = line.members[P].node.network_graph().unwrap();
    assert_eq!(g.channel_count(), 1, "only P - L is public");
    for m in &mut line.members {
        m.take_events();
    }
    line
}

#[test]
fn a_wallet_behind_a_private_channel_is_paid_through_its_hint() {
    let mut line = network();
    let now = line.now;
    let inv = line.members[W]
        .node
        .create_invoice(
            Some(Msat(AMOUNT_MSAT)),
            "coffee",
            Duration::from_secs(3600),
            now,
        )
        .unwrap();
    // One hint: L to W over the private channel, with L's own fees and
    // delta.
    let hints = inv.route_hints();
    assert_eq!(hints.len(), 1, "{hints:?}");
    let RouteHint(hops) = &hints[0];
    assert_eq!(hops.len(), 1);
    let hop = &hops[0];
    assert_eq!(hop.src_node_id, line.members[L].id().into());
    let w_channel = line.members[W].node.list_channels().pop().unwrap();
    assert!(!w_channel.is_announced);
    // The alias L sent W in `channel_ready` (BOLT 2: the receiver "MAY
    // use any of the `alias` it received, in BOLT 11 `r` fields"), not
    // the real channel id; L recognizes it when forwarding.
    assert_ne!(Some(hop.short_channel_id), w_channel.short_channel_id);
    assert!(hop.short_channel_id.block() >= 0xF0_0000, "{hop:?}");
    assert_eq!(
        (
            hop.fee_base_msat,
            hop.fee_proportional_millionths,
            hop.cltv_expiry_delta
        ),
        (L_BASE, L_PPM, L_CLTV)
    );

    // P finds W only through the hint, and pays.
    let hash = *inv.payment_hash();
    line.members[P].node.pay_invoice(&inv, now).unwrap();
    line.shuttle();
    let p = line.members[P].node.payment(&PaymentId(hash.0)).unwrap();
    assert_eq!(p.status, PaymentStatus::Succeeded, "{p:?}");
    let fee = u64::from(L_BASE) + AMOUNT_MSAT * u64::from(L_PPM) / 1_000_000;
    let sent = line.members[P].take_events();
    assert!(
        sent.iter().any(|e| matches!(e,
            Event::PaymentSent { payment_hash, fee_msat, .. }
                if *payment_hash == hash && fee_msat.0 == fee)),
        "{sent:?}"
    );
    let forwards: Vec<ForwardStatus> = line.members[L]
        .node
        .list_forwards()
        .into_iter()
        .map(|f| f.status)
        .collect();
    assert_eq!(forwards, vec![ForwardStatus::Settled]);
    let got = line.members[W].take_events();
    assert!(got.iter().any(|e| matches!(e,
        Event::PaymentReceived { payment_hash, amount_msat }
            if *payment_hash == hash && amount_msat.0 == AMOUNT_MSAT)));
}

#[test]
fn a_node_reachable_over_its_public_channels_gives_no_hint() {
    let mut line = network();
    let now = line.now;
    // L's public channel with P brings 100,000 sat in (P holds it all).
    let inv = line.members[L]
        .node
        .create_invoice(
            Some(Msat(AMOUNT_MSAT)),
            "public",
            Duration::from_secs(3600),
            now,
        )
        .unwrap();
    assert!(inv.route_hints().is_empty());
    // P has no inbound at all: its private-free node gives no hint either
    // (it has no private channel to hint at).
    let inv = line.members[P]
        .node
        .create_invoice(
            Some(Msat(AMOUNT_MSAT)),
            "none",
            Duration::from_secs(3600),
            now,
        )
        .unwrap();
    assert!(inv.route_hints().is_empty());
    // W has only its private channel: a hint even without an amount.
    let inv = line.members[W]
        .node
        .create_invoice(None, "any", Duration::from_secs(3600), now)
        .unwrap();
    assert_eq!(inv.route_hints().len(), 1);
}

#[test]
fn a_keysend_reaches_a_private_node_through_the_hints_given() {
    use lightning_core::node::{NodeError, PayOptions};
    let mut line = network();
    let now = line.now;
    let w = line.members[W].id();
    // The public graph does not reach W.
    let err = line.members[P]
        .node
        .keysend_to(w, Msat(AMOUNT_MSAT), Vec::new(), now)
        .unwrap_err();
    assert!(matches!(err, NodeError::NoRoute { .. }), "{err}");
    // W's hints (as its invoice gives them, or an address book).
    let hints = line.members[W]
        .node
        .create_invoice(None, "hints", Duration::from_secs(60), now)
        .unwrap()
        .route_hints()
        .to_vec();
    let mut options = PayOptions::default();
    options.route_hints = hints;
    let id = line.members[P]
        .node
        .keysend_to_with(w, Msat(AMOUNT_MSAT), Vec::new(), &options, now)
        .unwrap();
    line.shuttle();
    let p = line.members[P].node.payment(&id).unwrap();
    assert_eq!(p.status, PaymentStatus::Succeeded, "{p:?}");
    let got = line.members[W].take_events();
    assert!(
        got.iter().any(|e| matches!(e,
            Event::SpontaneousPaymentReceived { amount_msat, .. } if amount_msat.0 == AMOUNT_MSAT)),
        "{got:?}"
    );
}
