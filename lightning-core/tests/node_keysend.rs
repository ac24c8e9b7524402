//! Issue 19: keysend (spontaneous payments, the preimage in onion TLV
//! 5482373484) both ways across a forwarding node, custom records handed
//! to the payee's host, and receiving keysend only when configured.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod forward_support;

use forward_support::Line;
use lightning_core::node::{Event, PaymentStatus, Route, RouteHop};
use lightning_core::onion::FailureCode;
use lightning_wire::types::ChannelId;

const CAPACITY_SAT: u64 = 1_000_000;

fn line(c_accepts: bool, a_accepts: bool) -> (Line, ChannelId, ChannelId) {
    let mut line = Line::new(3, |i, c| {
        c.forwarding.accept_keysend = (i == 2 && c_accepts) || (i == 0 && a_accepts);
    });
    let ab = line.open_channel(0, 1, CAPACITY_SAT, 0);
    let bc = line.open_channel(1, 2, CAPACITY_SAT, 0);
    for m in &mut line.members {
        m.take_events();
    }
    (line, ab, bc)
}

/// The route from C back to A through B.
fn back_route(line: &Line, ab: ChannelId, bc: ChannelId, amount: u64) -> Route {
    Route {
        hops: vec![
            RouteHop {
                node_id: line.members[1].id(),
                short_channel_id: line.members[2].scid(bc),
                fee_msat: 1000 + amount / 1_000_000,
                cltv_expiry_delta: 72,
            },
            RouteHop {
                node_id: line.members[0].id(),
                short_channel_id: line.members[1].scid(ab),
                fee_msat: 0,
                cltv_expiry_delta: 0,
            },
        ],
    }
}

#[test]
fn keysend_both_ways_through_a_forwarding_node() {
    let (mut line, ab, bc) = line(true, true);
    let amount = 70_000_000;
    let fee = 1000 + amount / 1_000_000;
    let a_before = line.members[0].local_msat(ab);
    let route = line.route(&[ab, bc], amount);
    let now = line.now;
    let custom = vec![(65_537, b"hello carol".to_vec())];
    let id = line.members[0]
        .node
        .send_keysend(&route, amount, custom.clone(), now)
        .unwrap();
    line.shuttle();
    let hash = lightning_core::node::PaymentHash(id.0);
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Succeeded)
    );
    let sent = line.members[0].take_events();
    let preimage = sent
        .iter()
        .find_map(|e| match e {
            Event::PaymentSent {
                payment_hash,
                preimage,
                fee_msat,
                ..
            } if *payment_hash == hash => {
                assert_eq!(fee_msat.0, fee);
                Some(*preimage)
            }
            _ => None,
        })
        .expect("PaymentSent");
    let got = line.members[2].take_events();
    assert!(
        got.iter().any(|e| matches!(e,
        Event::SpontaneousPaymentReceived { payment_hash, amount_msat, custom_records }
            if *payment_hash == hash && amount_msat.0 == amount && *custom_records == custom)),
        "{got:?}"
    );
    assert_eq!(line.members[0].local_msat(ab), a_before - amount - fee);
    assert_eq!(line.members[2].local_msat(bc), amount);
    let _ = preimage;

    // And back: C keysends to A through B.
    let back = 20_000_000;
    let back_fee = 1000 + back / 1_000_000;
    let route = back_route(&line, ab, bc, back);
    let id = line.members[2]
        .node
        .send_keysend(&route, back, Vec::new(), now)
        .unwrap();
    line.shuttle();
    let hash = lightning_core::node::PaymentHash(id.0);
    assert_eq!(
        line.members[2].payment_status(&hash),
        Some(PaymentStatus::Succeeded)
    );
    assert!(line.members[0].take_events().iter().any(|e| matches!(e,
        Event::SpontaneousPaymentReceived { payment_hash, amount_msat, .. }
            if *payment_hash == hash && amount_msat.0 == back)));
    assert_eq!(line.members[2].local_msat(bc), amount - back - back_fee);
    assert_eq!(
        line.members[0].local_msat(ab),
        a_before - amount - fee + back
    );
    // B earned both fees.
    let earned: u64 = line.members[1]
        .node
        .list_forwards()
        .iter()
        .map(|f| f.fee_msat.0)
        .sum();
    assert_eq!(earned, fee + back_fee);

    // The claim survives C's restart: the event, once acknowledged, is not
    // raised again, and the record still re-fulfils nothing new.
    line.restart(2);
    line.shuttle();
    assert!(!line.members[2]
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::SpontaneousPaymentReceived { .. })));
}

#[test]
fn keysend_is_refused_unless_configured() {
    let (mut line, ab, bc) = line(false, false);
    let route = line.route(&[ab, bc], 1_000_000);
    let now = line.now;
    let id = line.members[0]
        .node
        .send_keysend(&route, 1_000_000, Vec::new(), now)
        .unwrap();
    line.shuttle();
    let hash = lightning_core::node::PaymentHash(id.0);
    let failure = line.members[0]
        .take_events()
        .into_iter()
        .find_map(|e| match e {
            Event::PaymentFailed {
                payment_hash,
                reason,
            } if payment_hash == hash => Some(reason),
            _ => None,
        })
        .expect("PaymentFailed");
    assert_eq!(
        (failure.failure_code, failure.failing_hop),
        (
            Some(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS.0),
            Some(1)
        )
    );
    assert_eq!(line.members[2].local_msat(bc), 0);
}

#[test]
fn bad_custom_records_are_refused_before_anything_is_sent() {
    let (mut line, ab, bc) = line(true, false);
    let route = line.route(&[ab, bc], 1_000_000);
    let now = line.now;
    for bad in [
        vec![(65_536, vec![1])],
        vec![(7, vec![1])],
        vec![(65_537, vec![]), (65_537, vec![])],
    ] {
        assert!(line.members[0]
            .node
            .send_keysend(&route, 1_000_000, bad, now)
            .is_err());
    }
    assert!(line.members[0].node.list_payments().is_empty());
}
