//! BOLT 12 over onion messages between our own nodes (BOLT 4 "Onion
//! Messages"; BOLT 12): Alice pays Carol's offer with
//! [`Node::pay_offer`]. The invoice request goes along the offer's path
//! (introduced by Bob), Carol answers along Alice's reply path (introduced
//! by Bob too), and Alice pays the invoice through Bob.
//!
//! ```text
//!   A(lice) -- B(ob) -- C(arol, issuer)
//! ```
//!
//! Also: an `invoice_error` for an altered offer reaches Alice as
//! `OfferPaymentFailed`, and a request with no answer times out. Hostile
//! onion messages: `node_hostile_onion_messages.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod forward_support;

use bitcoin::hashes::Hash;
use forward_support::{fetched_invoice, offer_failed, Line};
use lightning_core::amount::Msat;
use lightning_core::node::{Event, InvoiceRequestParams, OfferParams, PayOptions, PaymentStatus};
use lightning_wire::bolt12::{IntroductionNode, Offer, OfferFields};
use lightning_wire::types::ChannelId;

const CAPACITY_SAT: u64 = 1_000_000;

fn line() -> (Line, ChannelId, ChannelId) {
    Line::a_b_c(CAPACITY_SAT)
}

fn carols_offer(line: &mut Line, amount_msat: u64) -> Offer {
    let offer = line.members[2]
        .node
        .create_offer(OfferParams {
            amount_msat: Some(Msat(amount_msat)),
            description: Some("tea".into()),
            ..Default::default()
        })
        .unwrap();
    offer.to_string().parse().unwrap()
}

#[test]
fn alice_pays_carols_offer_over_onion_messages() {
    let (mut line, ab, bc) = line();
    let amount = 30_000_000;
    let offer = carols_offer(&mut line, amount);
    // Carol is reachable through her channel peer Bob.
    let paths = offer.fields().paths.clone().expect("offer_paths");
    assert_eq!(
        paths[0].first_node_id,
        IntroductionNode::NodeId(line.members[1].id())
    );
    let before = (
        line.members[0].local_msat(ab),
        line.members[2].local_msat(bc),
    );
    let now = line.now;
    let id = line.members[0]
        .node
        .pay_offer(&offer, InvoiceRequestParams::default(), now)
        .unwrap();
    line.shuttle();

    let events = line.members[0].take_events();
    let hash = events
        .iter()
        .find_map(|e| match e {
            Event::OfferInvoiceReceived {
                offer_payment_id,
                payment_hash,
                amount_msat,
            } if *offer_payment_id == id => {
                assert_eq!(*amount_msat, Msat(amount));
                Some(*payment_hash)
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no invoice: {events:?}"));
    assert!(events.iter().any(|e| matches!(e,
        Event::PaymentSent { payment_hash, .. } if *payment_hash == hash)));
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Succeeded)
    );
    // Alice paid the amount and Bob's fee; Carol got the amount.
    let paid = before.0 - line.members[0].local_msat(ab);
    assert!(paid > amount && paid < amount + 100_000, "paid {paid}");
    let got = line.members[2].local_msat(bc) - before.1;
    assert!((amount..=amount + 2).contains(&got), "Carol got {got}");
    // Bob passed both messages on: the request and the invoice.
    let b = line.members[1].node.onion_message_stats();
    assert_eq!(b.forwarded, 2, "{b:?}");
    assert_eq!(b.dropped, 0);
    let c = line.members[2].node.onion_message_stats();
    assert_eq!((c.received, c.sent), (1, 1), "{c:?}");
}

#[test]
fn an_altered_offer_gets_an_invoice_error_and_an_unanswered_request_times_out() {
    let (mut line, _, bc) = line();
    let offer = carols_offer(&mut line, 10_000_000);
    // The same offer for less: Carol's tag no longer verifies.
    let mut cheap: OfferFields = offer.fields().clone();
    cheap.amount = Some(1_000);
    let cheap = Offer::new(cheap).unwrap();
    let now = line.now;
    let id = line.members[0]
        .node
        .pay_offer(&cheap, InvoiceRequestParams::default(), now)
        .unwrap();
    line.shuttle();
    let events = line.members[0].take_events();
    assert!(offer_failed(&events, id, "unknown offer"), "{events:?}");

    // Carol's channel with Bob goes down after Alice's request left: no
    // answer, and after 60 s the payment fails.
    let bob_carol = line
        .links
        .iter()
        .position(|l| (l.a, l.b) == (1, 2))
        .unwrap();
    line.disconnect(bob_carol);
    let id = line.members[0]
        .node
        .pay_offer(&offer, InvoiceRequestParams::default(), line.now)
        .unwrap();
    line.shuttle();
    assert!(line.members[0].take_events().is_empty());
    line.tick(61);
    let events = line.members[0].take_events();
    assert!(offer_failed(&events, id, "no invoice"), "{events:?}");
    let _ = bc;
}

/// Core Lightning's `fetchinvoice` then `pay`: Alice fetches Carol's
/// invoice without paying ([`Node::fetch_offer_invoice`]), reads it, and
/// pays it from its string form alone
/// ([`Node::pay_fetched_bolt12_invoice`]). Bob cannot pay it: the request
/// it answers is not his.
#[test]
fn alice_fetches_carols_invoice_then_pays_it() {
    let (mut line, ab, _) = line();
    let amount = 12_000_000;
    let offer = carols_offer(&mut line, amount);
    let now = line.now;
    let id = line.members[0]
        .node
        .fetch_offer_invoice(
            &offer,
            InvoiceRequestParams {
                quantity: None,
                amount_msat: None,
                payer_note: Some("for the tea".into()),
            },
            now,
        )
        .unwrap();
    let before = line.members[0].local_msat(ab);
    line.shuttle();
    let events = line.members[0].take_events();
    let text =
        fetched_invoice(&events, id).unwrap_or_else(|| panic!("no invoice fetched: {events:?}"));
    // Fetched, not paid.
    assert!(
        !events.iter().any(|e| matches!(
            e,
            Event::OfferInvoiceReceived { .. } | Event::PaymentSent { .. }
        )),
        "{events:?}"
    );
    assert_eq!(line.members[0].local_msat(ab), before);
    let invoice: lightning_wire::bolt12::Bolt12Invoice = text.parse().unwrap();
    assert_eq!(invoice.amount_msat(), amount);
    assert_eq!(
        invoice.invreq_fields().payer_note.as_deref(),
        Some("for the tea")
    );

    // Not Bob's request: refused, nothing sent.
    let err = line.members[1]
        .node
        .pay_fetched_bolt12_invoice(&invoice, line.now)
        .unwrap_err();
    assert!(err.to_string().contains("did not make"), "{err}");

    // The caller's fee cap: Bob charges for the hop, so no fee at all
    // finds no route; an amount or route hints do not apply.
    let now = line.now;
    let mut options = PayOptions::default();
    options.max_fee_msat = Some(Msat(0));
    let err = line.members[0]
        .node
        .pay_fetched_bolt12_invoice_with(&invoice, &options, now)
        .unwrap_err();
    assert!(err.to_string().contains("route"), "{err}");
    let mut with_amount = PayOptions::default();
    with_amount.amount_msat = Some(Msat(amount));
    let err = line.members[0]
        .node
        .pay_fetched_bolt12_invoice_with(&invoice, &with_amount, now)
        .unwrap_err();
    assert!(err.to_string().contains("fixes its amount"), "{err}");
    assert_eq!(line.members[0].local_msat(ab), before, "nothing was sent");

    options.max_fee_msat = Some(Msat(100_000));
    line.members[0]
        .node
        .pay_fetched_bolt12_invoice_with(&invoice, &options, now)
        .unwrap();
    line.shuttle();
    let hash = lightning_core::node::PaymentHash(invoice.payment_hash().to_byte_array());
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Succeeded)
    );
    let paid = before - line.members[0].local_msat(ab);
    assert!(paid > amount && paid < amount + 100_000, "paid {paid}");
    // Paying it again is refused as a duplicate.
    assert!(line.members[0]
        .node
        .pay_fetched_bolt12_invoice(&invoice, line.now)
        .is_err());

    // An expired invoice is refused.
    line.tick(7_300);
    let id = line.members[0]
        .node
        .fetch_offer_invoice(&offer, InvoiceRequestParams::default(), line.now)
        .unwrap();
    line.shuttle();
    let text = fetched_invoice(&line.members[0].take_events(), id).unwrap();
    let invoice: lightning_wire::bolt12::Bolt12Invoice = text.parse().unwrap();
    line.tick(7_300);
    let err = line.members[0]
        .node
        .pay_fetched_bolt12_invoice(&invoice, line.now)
        .unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
}

/// Core Lightning's `disableoffer`: once Carol disables her offer, a
/// request for it gets an `invoice_error` (Alice's `OfferPaymentFailed`),
/// after a restart too; her other offers are still answered, and
/// disabling twice or someone else's offer is refused.
#[test]
fn a_disabled_offer_gets_no_more_invoices_across_a_restart() {
    let (mut line, _, _) = line();
    let offer = carols_offer(&mut line, 5_000_000);
    let other = carols_offer(&mut line, 6_000_000);
    assert!(line.members[2].node.disable_offer(&offer).unwrap());
    assert!(!line.members[2].node.disable_offer(&offer).unwrap());
    assert!(line.members[2].node.is_offer_disabled(&offer.id()));
    assert!(!line.members[2].node.is_offer_disabled(&other.id()));
    // Not Bob's offer.
    assert!(line.members[1].node.disable_offer(&offer).is_err());

    line.restart(2);
    line.shuttle();
    assert!(line.members[2].node.is_offer_disabled(&offer.id()));
    let now = line.now;
    let refused = line.members[0]
        .node
        .fetch_offer_invoice(&offer, InvoiceRequestParams::default(), now)
        .unwrap();
    let answered = line.members[0]
        .node
        .fetch_offer_invoice(&other, InvoiceRequestParams::default(), now)
        .unwrap();
    line.shuttle();
    let events = line.members[0].take_events();
    assert!(
        offer_failed(&events, refused, "no longer available"),
        "{events:?}"
    );
    assert!(fetched_invoice(&events, answered).is_some(), "{events:?}");

    // Enabled again (Core Lightning's `enableoffer`), across a restart.
    assert!(line.members[1].node.enable_offer(&offer).is_err());
    assert!(line.members[2].node.enable_offer(&offer).unwrap());
    assert!(!line.members[2].node.enable_offer(&offer).unwrap());
    line.restart(2);
    line.shuttle();
    assert!(!line.members[2].node.is_offer_disabled(&offer.id()));
    let now = line.now;
    let answered = line.members[0]
        .node
        .fetch_offer_invoice(&offer, InvoiceRequestParams::default(), now)
        .unwrap();
    line.shuttle();
    let events = line.members[0].take_events();
    assert!(fetched_invoice(&events, answered).is_some(), "{events:?}");
    // And disabled once more: the removal left no version behind that
    // refuses the new record.
    assert!(line.members[2].node.disable_offer(&offer).unwrap());
    line.restart(2);
    line.shuttle();
    assert!(line.members[2].node.is_offer_disabled(&offer.id()));
}
