//! BOLT 12 between our own nodes: Carol issues an offer, Alice requests an
//! invoice for it, Carol answers with an invoice carrying her blinded
//! paths, and Alice pays it through Bob. The messages travel as their
//! text forms (`lno1`, `lnr1`, `lni1`), as a host would carry them.
//!
//! ```text
//!   A(lice) -- B(ob) -- C(arol, issuer)
//! ```
//!
//! Also the readers' MUSTs at node level: a request for an offer that is
//! not ours, or whose offer fields were changed in any byte, is refused;
//! an expired offer or invoice is refused; an invoice that answers another
//! request, or a request we did not make, is not paid.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod forward_support;

use std::time::Duration;

use forward_support::Line;
use lightning_core::amount::Msat;
use lightning_core::node::{Event, InvoiceRequestParams, OfferParams, PaymentHash, PaymentStatus};
use lightning_wire::bolt12::{Bolt12Invoice, InvoiceRequest, Offer, OfferFields};
use lightning_wire::types::ChannelId;

const CAPACITY_SAT: u64 = 1_000_000;

fn line() -> (Line, ChannelId, ChannelId) {
    Line::a_b_c(CAPACITY_SAT)
}

fn offer(line: &mut Line, amount_msat: Option<u64>) -> Offer {
    let text = line.members[2]
        .node
        .create_offer(OfferParams {
            amount_msat: amount_msat.map(Msat),
            description: Some("a book".into()),
            issuer: Some("Carol".into()),
            ..Default::default()
        })
        .unwrap()
        .to_string();
    assert!(text.starts_with("lno1"));
    text.parse().unwrap()
}

fn request(line: &mut Line, payer: usize, offer: &Offer, amount: Option<u64>) -> InvoiceRequest {
    let now = line.now;
    let r = line.members[payer]
        .node
        .request_invoice(
            offer,
            InvoiceRequestParams {
                amount_msat: amount.map(Msat),
                payer_note: Some("for the library".into()),
                ..Default::default()
            },
            now,
        )
        .unwrap();
    r.to_string().parse().unwrap()
}

fn answer(line: &mut Line, request: &InvoiceRequest) -> Bolt12Invoice {
    let now = line.now;
    let invoice = line.members[2]
        .node
        .respond_to_invoice_request(request, now)
        .unwrap();
    invoice.to_string().parse().unwrap()
}

fn hash_of(invoice: &Bolt12Invoice) -> PaymentHash {
    use bitcoin::hashes::Hash;
    PaymentHash(invoice.payment_hash().to_byte_array())
}

#[test]
fn alice_pays_carols_offer_through_bob() {
    let (mut line, ab, bc) = line();
    let amount = 40_000_000;
    let offer = offer(&mut line, Some(amount));
    let req = request(&mut line, 0, &offer, None);
    assert_eq!(req.amount_msat(), Some(amount));
    let invoice = answer(&mut line, &req);
    assert_eq!(invoice.amount_msat(), amount);
    assert_eq!(invoice.node_id(), line.members[2].id());
    assert!(invoice.check_answers(&req).is_ok());
    // Carol's path is introduced by Bob: her own id is not in it.
    let (path, info) = invoice.usable_paths().next().unwrap();
    assert_eq!(
        path.first_node_id,
        lightning_wire::bolt12::IntroductionNode::NodeId(line.members[1].id())
    );
    assert!(path
        .hops
        .iter()
        .all(|h| h.blinded_node_id != line.members[2].id()));
    let fee = u64::from(info.fee_base_msat)
        + amount * u64::from(info.fee_proportional_millionths) / 1_000_000;

    let before = (
        line.members[0].local_msat(ab),
        line.members[2].local_msat(bc),
    );
    let now = line.now;
    line.members[0]
        .node
        .pay_bolt12_invoice(&invoice, &req, now)
        .unwrap();
    line.shuttle();
    let hash = hash_of(&invoice);
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Succeeded)
    );
    assert_eq!(line.members[0].local_msat(ab), before.0 - amount - fee);
    let got = line.members[2].local_msat(bc) - before.1;
    assert!((amount..=amount + 2).contains(&got), "Carol got {got}");
    assert!(line.members[2].take_events().iter().any(|e| matches!(e,
        Event::PaymentReceived { payment_hash, .. } if *payment_hash == hash)));
    // Paying the same invoice again is refused.
    assert!(line.members[0]
        .node
        .pay_bolt12_invoice(&invoice, &req, now)
        .is_err());
}

#[test]
fn an_offer_without_amount_is_paid_what_the_payer_asks_and_carol_survives_a_restart() {
    let (mut line, _, bc) = line();
    let offer = offer(&mut line, None);
    // Without an amount Alice must name one.
    let now = line.now;
    assert!(line.members[0]
        .node
        .request_invoice(&offer, InvoiceRequestParams::default(), now)
        .is_err());
    let req = request(&mut line, 0, &offer, Some(12_345_000));
    let invoice = answer(&mut line, &req);
    assert_eq!(invoice.amount_msat(), 12_345_000);
    // Carol restarts between answering and being paid: the invoice's
    // payment is held in her store.
    line.restart(2);
    line.shuttle();
    let before = line.members[2].local_msat(bc);
    let now = line.now;
    line.members[0]
        .node
        .pay_bolt12_invoice(&invoice, &req, now)
        .unwrap();
    line.shuttle();
    assert_eq!(
        line.members[0].payment_status(&hash_of(&invoice)),
        Some(PaymentStatus::Succeeded)
    );
    assert!(line.members[2].local_msat(bc) - before >= 12_345_000);
}

#[test]
fn carol_refuses_requests_for_offers_that_are_not_hers_exactly() {
    let (mut line, _, _) = line();
    let ours = offer(&mut line, Some(1_000_000));
    // Bob's offer sent to Carol.
    let bobs = line.members[1]
        .node
        .create_offer(OfferParams {
            description: Some("b".into()),
            ..Default::default()
        })
        .unwrap();
    let to_carol = request(&mut line, 0, &bobs, Some(5_000));
    let err = line.members[2]
        .node
        .respond_to_invoice_request(&to_carol, line.now)
        .unwrap_err();
    assert_eq!(err.erroneous_field, Some(22), "{err:?}");

    // Carol's offer with the amount lowered, everything else (her id, her
    // metadata) kept: the tag no longer verifies.
    let mut cheaper: OfferFields = ours.fields().clone();
    cheaper.amount = Some(1);
    let cheaper = Offer::new(cheaper).unwrap();
    let req = request(&mut line, 0, &cheaper, None);
    let err = line.members[2]
        .node
        .respond_to_invoice_request(&req, line.now)
        .unwrap_err();
    assert_eq!(err.error, "unknown offer");

    // An unknown odd field added to her offer: not byte-for-byte hers.
    let mut with_extra = ours.as_bytes().to_vec();
    with_extra.extend([0x4f, 0x01, 0x00]); // type 79, one byte
    let with_extra = Offer::from_bytes(with_extra).unwrap();
    let req = request(&mut line, 0, &with_extra, None);
    assert!(line.members[2]
        .node
        .respond_to_invoice_request(&req, line.now)
        .is_err());

    // The untouched offer is answered.
    let req = request(&mut line, 0, &ours, None);
    assert!(line.members[2]
        .node
        .respond_to_invoice_request(&req, line.now)
        .is_ok());
}

#[test]
fn expired_offers_and_invoices_are_refused() {
    let (mut line, _, _) = line();
    let now = line.now;
    let offer = line.members[2]
        .node
        .create_offer(OfferParams {
            amount_msat: Some(Msat(1_000_000)),
            description: Some("soon gone".into()),
            absolute_expiry: Some(now.as_secs() + 60),
            ..Default::default()
        })
        .unwrap();
    let req = request(&mut line, 0, &offer, None);
    // Alice asks in time, Carol looks after the expiry.
    let later = now + Duration::from_secs(61);
    let err = line.members[2]
        .node
        .respond_to_invoice_request(&req, later)
        .unwrap_err();
    assert_eq!(err.erroneous_field, Some(14));
    assert!(line.members[0]
        .node
        .request_invoice(&offer, InvoiceRequestParams::default(), later)
        .is_err());

    // An invoice past its 7200 s.
    let req = request(&mut line, 0, &offer, None);
    let invoice = answer(&mut line, &req);
    let too_late = now + Duration::from_secs(7_201);
    assert!(line.members[0]
        .node
        .pay_bolt12_invoice(&invoice, &req, too_late)
        .is_err());
}

#[test]
fn alice_pays_only_an_invoice_for_her_own_request() {
    let (mut line, _, _) = line();
    let offer = offer(&mut line, Some(2_000_000));
    let r1 = request(&mut line, 0, &offer, None);
    let r2 = request(&mut line, 0, &offer, None);
    let i1 = answer(&mut line, &r1);
    let now = line.now;
    // The invoice for r1 does not answer r2.
    assert!(line.members[0]
        .node
        .pay_bolt12_invoice(&i1, &r2, now)
        .is_err());
    // Bob's request and Carol's answer to it, handed to Alice: the payer
    // key is not one Alice derives.
    let bobs = request(&mut line, 1, &offer, None);
    let for_bob = answer(&mut line, &bobs);
    let err = line.members[0]
        .node
        .pay_bolt12_invoice(&for_bob, &bobs, now)
        .unwrap_err();
    assert!(err.to_string().contains("did not make"), "{err}");
    // Nothing was sent for any of them.
    for inv in [&i1, &for_bob] {
        assert_eq!(line.members[0].payment_status(&hash_of(inv)), None);
    }
}
