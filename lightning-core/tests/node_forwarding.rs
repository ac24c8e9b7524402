//! Issue 19: three of our nodes, A - B - C, on the simulated chain. A pays
//! C's invoice through B; every failure code B or C produces is decoded by
//! A to the right hop; balances are checked on all three.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod forward_support;

use std::time::Duration;

use forward_support::Line;
use lightning_core::amount::Msat;
use lightning_core::node::{
    Event, ForwardStatus, PaymentHash, PaymentStatus, RecipientOnion, Route,
};
use lightning_core::onion::{FailureCode, FailureReason};
use lightning_wire::msgs::Message;
use lightning_wire::types::{ChannelId, ShortChannelId};

const CAPACITY_SAT: u64 = 1_000_000;
/// B's largest forward.
const HTLC_MAX_MSAT: u64 = 500_000_000;

/// A - B - C with one channel on each link, each opened by the left node
/// (so A and B have the outbound liquidity towards C).
fn line() -> (Line, ChannelId, ChannelId) {
    let mut line = Line::new(3, |i, c| {
        if i == 1 {
            c.forwarding.htlc_maximum_msat = Some(HTLC_MAX_MSAT);
        }
    });
    let ab = line.open_channel(0, 1, CAPACITY_SAT, 0);
    let bc = line.open_channel(1, 2, CAPACITY_SAT, 0);
    for m in &mut line.members {
        m.take_events();
    }
    (line, ab, bc)
}

/// C issues an invoice for `amount_msat`; A pays it over the route through
/// B; returns the invoice's hash.
fn pay_through_b(line: &mut Line, ab: ChannelId, bc: ChannelId, amount_msat: u64) -> PaymentHash {
    let now = line.now;
    let invoice = line.members[2]
        .node
        .create_invoice(
            Some(Msat(amount_msat)),
            "via bob",
            Duration::from_secs(3600),
            now,
        )
        .unwrap();
    let route = line.route(&[ab, bc], amount_msat);
    line.members[0]
        .node
        .pay_invoice_with_route(&invoice, &route, now)
        .unwrap();
    line.shuttle();
    *invoice.payment_hash()
}

fn balances(line: &Line, ab: ChannelId, bc: ChannelId) -> [u64; 4] {
    [
        line.members[0].local_msat(ab),
        line.members[1].local_msat(ab),
        line.members[1].local_msat(bc),
        line.members[2].local_msat(bc),
    ]
}

#[test]
fn a_pays_c_through_b_and_b_earns_its_fee() {
    let (mut line, ab, bc) = line();
    let before = balances(&line, ab, bc);
    let amount = 50_000_000;
    let hash = pay_through_b(&mut line, ab, bc, amount);
    let fee = 1000 + amount / 1_000_000; // B's defaults: 1000 msat + 1 ppm.

    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Succeeded)
    );
    let after = balances(&line, ab, bc);
    assert_eq!(
        after[0],
        before[0] - amount - fee,
        "A paid the amount and B's fee"
    );
    assert_eq!(after[1], before[1] + amount + fee, "B received both on A-B");
    assert_eq!(after[2], before[2] - amount, "B paid the amount on B-C");
    assert_eq!(after[3], before[3] + amount, "C received the amount");

    let a_events = line.members[0].take_events();
    assert!(a_events.iter().any(|e| matches!(e,
        Event::PaymentSent { payment_hash, fee_msat, .. } if *payment_hash == hash && fee_msat.0 == fee)),
        "{a_events:?}");
    let b_events = line.members[1].take_events();
    assert!(b_events.iter().any(|e| matches!(e,
        Event::PaymentForwarded { payment_hash, fee_earned_msat, amount_forwarded_msat, prev_channel_id, next_channel_id, .. }
            if *payment_hash == hash && fee_earned_msat.0 == fee && amount_forwarded_msat.0 == amount
                && *prev_channel_id == ab && *next_channel_id == bc)),
        "{b_events:?}");
    let c_events = line.members[2].take_events();
    assert!(c_events.iter().any(|e| matches!(e,
        Event::PaymentReceived { payment_hash, amount_msat } if *payment_hash == hash && amount_msat.0 == amount)));

    let forwards = line.members[1].node.list_forwards();
    assert_eq!(forwards.len(), 1);
    assert_eq!(forwards[0].status, ForwardStatus::Settled);
    assert_eq!(forwards[0].fee_msat.0, fee);
    assert_eq!(
        (
            forwards[0].incoming_channel_id,
            forwards[0].outgoing_channel_id
        ),
        (ab, bc)
    );

    // The history and the acknowledged event survive a restart; the event
    // is not raised again once acknowledged (the drain above acknowledged
    // it with its final `None`).
    line.restart(1);
    line.shuttle();
    assert_eq!(line.members[1].node.list_forwards(), forwards);
    assert!(!line.members[1]
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::PaymentForwarded { .. })));
}

#[test]
fn an_unacknowledged_forward_event_is_raised_again_after_a_restart() {
    let (mut line, ab, bc) = line();
    let amount = 10_000_000;
    let now = line.now;
    let invoice = line.members[2]
        .node
        .create_invoice(Some(Msat(amount)), "x", Duration::from_secs(3600), now)
        .unwrap();
    let route = line.route(&[ab, bc], amount);
    line.members[0]
        .node
        .pay_invoice_with_route(&invoice, &route, now)
        .unwrap();
    // Move bytes without draining B's events: its PaymentForwarded is
    // handed out once (no acknowledgement follows), then B restarts.
    line.shuttle_links_only();
    let mut seen = None;
    while let Some(e) = line.members[1].node.poll_event() {
        if matches!(e, Event::PaymentForwarded { .. }) {
            seen = Some(e);
            break;
        }
    }
    let seen = seen.expect("B raised PaymentForwarded");
    line.restart(1);
    line.shuttle();
    let again = line.members[1].take_events();
    assert!(again.contains(&seen), "raised again: {again:?}");
    assert_eq!(
        line.members[0].payment_status(invoice.payment_hash()),
        Some(PaymentStatus::Succeeded)
    );
}

/// What A's `PaymentFailed` for `hash` said: code and failing hop.
fn failure(line: &mut Line, hash: &PaymentHash) -> (u16, usize, Option<FailureReason>) {
    let events = line.members[0].take_events();
    events
        .into_iter()
        .find_map(|e| match e {
            Event::PaymentFailed {
                payment_hash,
                reason,
            } if payment_hash == *hash => Some((
                reason.failure_code.expect("a code"),
                reason.failing_hop.expect("a hop"),
                reason.failure,
            )),
            _ => None,
        })
        .expect("PaymentFailed")
}

/// The `channel_update` a failure carries names the B-C channel and B's
/// policy (BOLT 4: the UPDATE flag; BOLT 7 encoding with its type).
fn check_update(reason: &FailureReason, bc_scid: ShortChannelId) {
    let bytes = reason.channel_update().expect("a channel_update");
    let Message::ChannelUpdate(u) = Message::decode(bytes).expect("decodes") else {
        panic!("not a channel_update");
    };
    assert_eq!(u.short_channel_id, bc_scid);
    assert_eq!(u.fee_base_msat, 1000);
    assert_eq!(u.cltv_expiry_delta, 72);
}

#[test]
fn each_failure_is_decoded_to_the_hop_that_made_it() {
    let (mut line, ab, bc) = line();
    let before = balances(&line, ab, bc);
    let bc_scid = line.members[1].scid(bc);
    let amount = 20_000_000;
    let now = line.now;
    let c = line.members[2].id();

    // Each case: a route (changed from the right one) and the recipient.
    type Case = (
        &'static str,
        FailureCode,
        usize,
        Box<dyn Fn(&mut Route, &mut RecipientOnion)>,
    );
    let cases: Vec<Case> = vec![
        (
            "unknown_next_peer",
            FailureCode::UNKNOWN_NEXT_PEER,
            0,
            Box::new(|r, _| r.hops[1].short_channel_id = ShortChannelId(0x0102_0304_0506_0708)),
        ),
        (
            "fee_insufficient",
            FailureCode::FEE_INSUFFICIENT,
            0,
            Box::new(|r, _| r.hops[0].fee_msat -= 1),
        ),
        (
            "incorrect_cltv_expiry",
            FailureCode::INCORRECT_CLTV_EXPIRY,
            0,
            Box::new(|r, _| r.hops[0].cltv_expiry_delta = 71),
        ),
        (
            "expiry_too_soon",
            FailureCode::EXPIRY_TOO_SOON,
            0,
            Box::new(|_, p| p.final_cltv_expiry_delta = 0),
        ),
        (
            "expiry_too_far",
            FailureCode::EXPIRY_TOO_FAR,
            0,
            Box::new(|_, p| p.final_cltv_expiry_delta = 2016),
        ),
        (
            "temporary_channel_failure (above B's htlc maximum)",
            FailureCode::TEMPORARY_CHANNEL_FAILURE,
            0,
            Box::new(|r, p| {
                p.amount_msat = HTLC_MAX_MSAT + 1;
                r.hops[0].fee_msat = 1000 + 500;
            }),
        ),
        (
            "amount_below_minimum",
            FailureCode::AMOUNT_BELOW_MINIMUM,
            0,
            Box::new(|r, p| {
                p.amount_msat = 0;
                r.hops[0].fee_msat = 1000;
            }),
        ),
        (
            "incorrect_or_unknown_payment_details (at C)",
            FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS,
            1,
            Box::new(|_, p| p.payment_secret = Some([0x55; 32])),
        ),
    ];
    for (i, (name, code, hop, change)) in cases.into_iter().enumerate() {
        let invoice = line.members[2]
            .node
            .create_invoice(Some(Msat(amount)), name, Duration::from_secs(3600), now)
            .unwrap();
        let mut route = line.route(&[ab, bc], amount);
        let mut recipient = RecipientOnion {
            amount_msat: amount,
            payment_secret: Some(invoice.payment_secret().0),
            final_cltv_expiry_delta: 18,
            ..RecipientOnion::default()
        };
        change(&mut route, &mut recipient);
        assert_eq!(route.payee(), Some(c));
        let hash = *invoice.payment_hash();
        line.members[0]
            .node
            .send_to_route(&route, hash, &recipient, now)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        line.shuttle();
        let (got, got_hop, reason) = failure(&mut line, &hash);
        assert_eq!((FailureCode(got), got_hop), (code, hop), "case {i}: {name}");
        if code.has_update() {
            check_update(reason.as_ref().expect("decoded"), bc_scid);
        }
        if let Some(FailureReason::FeeInsufficient { htlc_msat, .. }) = &reason {
            assert_eq!(*htlc_msat, amount + route.fee_msat());
        }
        assert_eq!(
            line.members[0].payment_status(&hash),
            Some(PaymentStatus::Failed)
        );
        // Nothing moved.
        assert_eq!(balances(&line, ab, bc), before, "{name}");
    }
    // Every failed forward is in B's history as failed; none settled.
    let forwards = line.members[1].node.list_forwards();
    assert!(
        forwards.iter().all(|f| f.status == ForwardStatus::Failed),
        "{forwards:?}"
    );
    // Only the one that reached C was offered downstream.
    assert_eq!(forwards.len(), 1);
}

#[test]
fn forwarding_can_be_turned_off() {
    let mut line = Line::new(3, |i, c| {
        if i == 1 {
            c.forwarding.enabled = false;
        }
    });
    let ab = line.open_channel(0, 1, CAPACITY_SAT, 0);
    let bc = line.open_channel(1, 2, CAPACITY_SAT, 0);
    let hash = pay_through_b(&mut line, ab, bc, 1_000_000);
    let (code, hop, _) = failure(&mut line, &hash);
    assert_eq!(
        (FailureCode(code), hop),
        (FailureCode::UNKNOWN_NEXT_PEER, 0)
    );
}

#[test]
fn a_payment_over_four_nodes_pays_every_forwarder() {
    let mut line = Line::new(4, |_, _| {});
    let ab = line.open_channel(0, 1, CAPACITY_SAT, 0);
    let bc = line.open_channel(1, 2, CAPACITY_SAT, 0);
    let cd = line.open_channel(2, 3, CAPACITY_SAT, 0);
    let amount = 30_000_000;
    let now = line.now;
    let invoice = line.members[3]
        .node
        .create_invoice(Some(Msat(amount)), "far", Duration::from_secs(3600), now)
        .unwrap();
    let route = line.route(&[ab, bc, cd], amount);
    let fee_c = 1000 + amount / 1_000_000;
    let fee_b = 1000 + (amount + fee_c) / 1_000_000;
    assert_eq!(route.fee_msat(), fee_b + fee_c);
    let a_before = line.members[0].local_msat(ab);
    line.members[0]
        .node
        .pay_invoice_with_route(&invoice, &route, now)
        .unwrap();
    line.shuttle();
    assert_eq!(
        line.members[0].payment_status(invoice.payment_hash()),
        Some(PaymentStatus::Succeeded)
    );
    assert_eq!(
        line.members[0].local_msat(ab),
        a_before - amount - fee_b - fee_c
    );
    assert_eq!(line.members[1].local_msat(ab), amount + fee_b + fee_c);
    assert_eq!(line.members[2].local_msat(bc), amount + fee_c);
    assert_eq!(line.members[3].local_msat(cd), amount);
    let earned = |i: usize| -> u64 {
        line.members[i]
            .node
            .list_forwards()
            .iter()
            .map(|f| f.fee_msat.0)
            .sum()
    };
    assert_eq!((earned(1), earned(2)), (fee_b, fee_c));
}

#[test]
fn a_direct_payment_still_works_and_a_route_must_end_at_the_payee() {
    let (mut line, ab, bc) = line();
    let now = line.now;
    // B pays C directly (one hop, as before).
    let invoice = line.members[2]
        .node
        .create_invoice(
            Some(Msat(1_000_000)),
            "direct",
            Duration::from_secs(3600),
            now,
        )
        .unwrap();
    line.members[1].node.pay_invoice(&invoice, now).unwrap();
    line.shuttle();
    assert_eq!(
        line.members[1].payment_status(invoice.payment_hash()),
        Some(PaymentStatus::Succeeded)
    );
    // A route to B is not a route to C's invoice.
    let invoice = line.members[2]
        .node
        .create_invoice(
            Some(Msat(1_000_000)),
            "wrong",
            Duration::from_secs(3600),
            now,
        )
        .unwrap();
    let mut route = line.route(&[ab, bc], 1_000_000);
    route.hops.pop();
    assert!(line.members[0]
        .node
        .pay_invoice_with_route(&invoice, &route, now)
        .is_err());
    assert!(line.members[0]
        .node
        .pay_invoice_with_route(&invoice, &Route::default(), now)
        .is_err());
}
