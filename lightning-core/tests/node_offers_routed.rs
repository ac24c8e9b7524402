//! BOLT 12 over onion messages routed through the public graph (BOLT 4
//! "Onion Messages"): Alice and Dave are not peers, and Dave's offer path
//! is introduced by Carol, whom Alice is not connected to either.
//!
//! ```text
//!   A(lice) -- B(ob) -- C(arol) -- D(ave, issuer)
//! ```
//!
//! Every channel is announced, so each node's graph holds the line and
//! every node's `node_announcement` says `option_onion_messages`. Alice's
//! request goes to Bob, her peer, over hops she blinds herself (Bob's
//! names Carol and hands her the offer path's key), then along Dave's
//! offer path; Dave's invoice comes back the same way towards Alice's
//! reply path, introduced by Bob. Alice then pays it over Dave's blinded
//! payment path, introduced by Carol, through the graph.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod forward_support;

use forward_support::{fetched_invoice, Line};
use lightning_core::amount::Msat;
use lightning_core::node::{InvoiceRequestParams, OfferParams, PaymentStatus};
use lightning_wire::bolt12::{Bolt12Invoice, IntroductionNode, Offer};

const CAPACITY_SAT: u64 = 1_000_000;
const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
const D: usize = 3;

/// The line, every channel announced and every graph holding all three.
fn announced_line() -> Line {
    announced_line_with(|_, _| {})
}

/// [`announced_line`] with member `i` configured by `configure(i, _)`.
fn announced_line_with(configure: impl Fn(usize, &mut lightning_core::node::NodeConfig)) -> Line {
    let mut line = Line::new(4, |i, c| {
        c.channel.announce_channel = true;
        configure(i, c);
    });
    line.open_channel(A, B, CAPACITY_SAT, 0);
    line.open_channel(B, C, CAPACITY_SAT, 0);
    line.open_channel(C, D, CAPACITY_SAT, 0);
    line.mine(6);
    for _ in 0..4 {
        line.tick(61);
    }
    for m in &line.members {
        let g = m.node.network_graph().unwrap();
        assert_eq!(g.channel_count(), 3, "{} has the whole graph", m.name);
    }
    for m in &mut line.members {
        m.take_events();
    }
    line
}

fn daves_offer(line: &mut Line, amount_msat: u64) -> Offer {
    let offer = line.members[D]
        .node
        .create_offer(OfferParams {
            amount_msat: Some(Msat(amount_msat)),
            description: Some("a map".into()),
            ..Default::default()
        })
        .unwrap();
    offer.to_string().parse().unwrap()
}

#[test]
fn alice_pays_daves_offer_over_routed_onion_messages() {
    let mut line = announced_line();
    let amount = 40_000_000;
    let offer = daves_offer(&mut line, amount);
    let paths = offer.fields().paths.clone().expect("offer_paths");
    assert_eq!(
        paths[0].first_node_id,
        IntroductionNode::NodeId(line.members[C].id())
    );
    let now = line.now;
    let id = line.members[A]
        .node
        .fetch_offer_invoice(&offer, InvoiceRequestParams::default(), now)
        .unwrap();
    line.shuttle();
    let events = line.members[A].take_events();
    let text = fetched_invoice(&events, id).unwrap_or_else(|| panic!("no invoice: {events:?}"));
    // Bob passed on the request (to Carol) and the invoice (to Alice),
    // Carol the request (to Dave) and the invoice (to Bob).
    let b = line.members[B].node.onion_message_stats();
    let c = line.members[C].node.onion_message_stats();
    assert_eq!((b.forwarded, c.forwarded), (2, 2), "{b:?} {c:?}");
    assert_eq!((b.dropped, c.dropped), (0, 0));
    let d = line.members[D].node.onion_message_stats();
    assert_eq!((d.received, d.sent), (1, 1), "{d:?}");

    let invoice: Bolt12Invoice = text.parse().unwrap();
    let now = line.now;
    let paid = line.members[A]
        .node
        .pay_fetched_bolt12_invoice(&invoice, now)
        .unwrap();
    line.shuttle();
    let hash = lightning_core::node::PaymentHash(paid.0);
    assert_eq!(
        line.members[A].payment_status(&hash),
        Some(PaymentStatus::Succeeded)
    );
}

/// Without a route of onion-message nodes, sending is refused at once: a
/// node the graph does not know, and one whose only way in is a node that
/// does not announce onion messages.
/// Strangers choose where our answers go (their reply paths), so route
/// searches are budgeted: past
/// [`MAX_ONION_MESSAGE_ROUTE_SEARCHES_PER_SECOND`] in one second, a
/// message to a node that is not our peer is refused until the next.
#[test]
fn route_searches_are_budgeted_per_second() {
    use lightning_core::node::MAX_ONION_MESSAGE_ROUTE_SEARCHES_PER_SECOND as MAX;
    let mut line = announced_line();
    let offer = daves_offer(&mut line, 1_000_000);
    let now = line.now;
    for _ in 0..MAX {
        line.members[A]
            .node
            .fetch_offer_invoice(&offer, InvoiceRequestParams::default(), now)
            .unwrap();
    }
    let err = line.members[A]
        .node
        .fetch_offer_invoice(&offer, InvoiceRequestParams::default(), now)
        .unwrap_err();
    assert!(err.to_string().contains("route searches"), "{err}");
    let next = now + std::time::Duration::from_secs(1);
    line.members[A]
        .node
        .fetch_offer_invoice(&offer, InvoiceRequestParams::default(), next)
        .unwrap();
}

#[test]
fn no_route_of_onion_message_nodes_is_refused() {
    let mut line = announced_line();
    let offer = daves_offer(&mut line, 1_000_000);
    // Alice alone with Bob's link down: no connected peer to start from.
    line.disconnect(0);
    let err = line.members[A]
        .node
        .fetch_offer_invoice(&offer, InvoiceRequestParams::default(), line.now)
        .unwrap_err();
    assert!(err.to_string().contains("no route"), "{err}");

    // Bob does not announce onion messages: Alice has no way to Carol.
    let mut line = announced_line_with(|i, c| {
        if i == B {
            c.features
                .clear(lightning_wire::features::Feature::OnionMessages);
        }
    });
    let offer = daves_offer(&mut line, 1_000_000);
    let err = line.members[A]
        .node
        .fetch_offer_invoice(&offer, InvoiceRequestParams::default(), line.now)
        .unwrap_err();
    assert!(err.to_string().contains("no route"), "{err}");
}
