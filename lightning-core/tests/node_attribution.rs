//! Issue 19: attribution data end to end over four of our nodes, A - B -
//! C - D (BOLT 4, "Returning Errors", attributable failures; "Hold times
//! for successful payments"). D holds one part of a multi-part payment
//! until it times out (`mpp_timeout`), so every hop holds the HTLC for a
//! known time; A checks the hold times each hop reported, the failing hop,
//! and, when a relaying hop alters the error on its way back, that the
//! attribution data names the pair of hops where it was altered. A
//! relaying node restarted between the downstream and the upstream failure
//! still sends its attribution data, from its forwarding record.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod forward_support;

use std::time::Duration;

use forward_support::Line;
use lightning_core::amount::Msat;
use lightning_core::node::{
    Event, ForwardStatus, PaymentFailure, PaymentHash, PaymentStatus, RecipientOnion, Route,
    RouteHop,
};
use lightning_core::onion::FailureReason;
use lightning_wire::features::Feature;
use lightning_wire::types::ChannelId;

const CAPACITY_SAT: u64 = 1_000_000;
/// What D's invoice asks; A sends half of it, as one part.
const AMOUNT: u64 = 60_000_000;
/// D's multi-part timeout (the default) and a second more: D fails the
/// held part at this tick.
const MPP_WAIT: u64 = 61;
/// `MPP_WAIT` in units of 100 ms: the hold time of every hop that took
/// the HTLC at the start and answered at that tick.
const HELD: u32 = 610;

/// A - B - C - D, one channel per link opened by its left node.
fn line4() -> (Line, [ChannelId; 3]) {
    let mut line = Line::new(4, |_, _| {});
    let chans = [
        line.open_channel(0, 1, CAPACITY_SAT, 0),
        line.open_channel(1, 2, CAPACITY_SAT, 0),
        line.open_channel(2, 3, CAPACITY_SAT, 0),
    ];
    for m in &mut line.members {
        m.take_events();
    }
    (line, chans)
}

/// A sends half of D's invoice as one part of a multi-part payment over
/// B and C: D holds it, waiting for the rest. Returns the hash and the
/// invoice's payment secret.
fn send_half(line: &mut Line, chans: &[ChannelId; 3]) -> (PaymentHash, [u8; 32]) {
    let now = line.now;
    let invoice = line.members[3]
        .node
        .create_invoice(Some(Msat(AMOUNT)), "half", Duration::from_secs(3600), now)
        .unwrap();
    let part = AMOUNT / 2;
    let route = line.route(chans, part);
    let recipient = RecipientOnion {
        amount_msat: part,
        total_msat: Some(AMOUNT),
        payment_secret: Some(invoice.payment_secret().0),
        final_cltv_expiry_delta: 18,
        ..RecipientOnion::default()
    };
    line.members[0]
        .node
        .send_to_route(&route, *invoice.payment_hash(), &recipient, now)
        .unwrap();
    line.shuttle();
    let hash = *invoice.payment_hash();
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Pending),
        "D holds the part"
    );
    for forwarder in [1, 2] {
        let f = line.members[forwarder].node.list_forwards();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].status, ForwardStatus::InFlight);
    }
    (hash, invoice.payment_secret().0)
}

/// A's `PaymentFailed` for `hash`.
fn failure_at_a(line: &mut Line, hash: PaymentHash) -> PaymentFailure {
    let events = line.members[0].take_events();
    events
        .into_iter()
        .find_map(|e| match e {
            Event::PaymentFailed {
                payment_hash,
                reason,
            } if payment_hash == hash => Some(reason),
            _ => None,
        })
        .expect("A's PaymentFailed")
}

#[test]
fn every_hop_reports_its_hold_time_and_the_failing_hop_is_named() {
    let (mut line, chans) = line4();
    let (hash, _) = send_half(&mut line, &chans);
    // D gives up on the rest at the tick; C's answer to B is held three
    // seconds more, so B holds the HTLC longer than C and D.
    line.links[1].hold_from = Some(2);
    line.tick(MPP_WAIT);
    assert_eq!(
        line.members[2].node.list_forwards()[0].status,
        ForwardStatus::Failed
    );
    line.now += Duration::from_secs(3);
    line.links[1].hold_from = None;
    line.shuttle_links_only();
    // A's host takes the event but crashes before acknowledging it (the
    // next `poll_event` would).
    let failure = std::iter::from_fn(|| line.members[0].node.poll_event())
        .find_map(|e| match e {
            Event::PaymentFailed {
                payment_hash,
                reason,
            } if payment_hash == hash => Some(reason),
            _ => None,
        })
        .expect("A's PaymentFailed");
    assert_eq!(failure.failing_hop, Some(2), "{failure:?}");
    assert_eq!(failure.failure, Some(FailureReason::MppTimeout));
    assert_eq!(
        failure.hold_times,
        vec![HELD + 30, HELD, HELD],
        "B, C and D, first hop first: {failure:?}"
    );
    assert_eq!(failure.attribution_failed_at, None, "every HMAC verified");
    // Raised again after the restart, from the payment record: the same.
    line.restart(0);
    line.shuttle();
    let again = failure_at_a(&mut line, hash);
    assert_eq!(again.hold_times, failure.hold_times);
    assert_eq!(again.attribution_failed_at, None);
    assert_eq!(again.failing_hop, Some(2));
}

#[test]
fn a_fulfil_brings_every_hops_hold_time() {
    let (mut line, chans) = line4();
    let (hash, secret) = send_half(&mut line, &chans);
    // B pays the other half 4 seconds later, over C: D fulfils both parts,
    // A's held 4 seconds at D and at every hop before it.
    line.now += Duration::from_secs(4);
    let now = line.now;
    let part = AMOUNT / 2;
    let c = &line.members[2].config.gossip;
    let c_fee =
        u64::from(c.fee_base_msat) + part * u64::from(c.fee_proportional_millionths) / 1_000_000;
    let route = Route {
        hops: vec![
            RouteHop {
                node_id: line.members[2].id(),
                short_channel_id: line.members[1].scid(chans[1]),
                fee_msat: c_fee,
                cltv_expiry_delta: u32::from(c.cltv_expiry_delta),
            },
            RouteHop {
                node_id: line.members[3].id(),
                short_channel_id: line.members[2].scid(chans[2]),
                fee_msat: 0,
                cltv_expiry_delta: 0,
            },
        ],
    };
    let recipient = RecipientOnion {
        amount_msat: part,
        total_msat: Some(AMOUNT),
        payment_secret: Some(secret),
        final_cltv_expiry_delta: 18,
        ..RecipientOnion::default()
    };
    line.members[1]
        .node
        .send_to_route(&route, hash, &recipient, now)
        .unwrap();
    line.shuttle();
    let details = line.members[0]
        .node
        .list_payments()
        .into_iter()
        .find(|p| p.payment_hash == hash)
        .unwrap();
    assert_eq!(details.status, PaymentStatus::Succeeded);
    assert_eq!(
        details.hold_times,
        vec![40; 3],
        "B, C and D each held A's part 4 seconds: {details:?}"
    );
    // The event that reports the payment carries them too.
    let sent: Vec<Vec<u32>> = line.members[0]
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::PaymentSent {
                payment_hash,
                hold_times,
                ..
            } if payment_hash == hash => Some(hold_times),
            _ => None,
        })
        .collect();
    assert_eq!(sent, vec![details.hold_times.clone()]);
    // B's own part succeeded too; the preimage reached B first with A's
    // part it forwarded, which proved B's payment before its own HTLC's
    // fulfil (and hold times) came: none are kept for it.
    let b_part = line.members[1]
        .node
        .list_payments()
        .into_iter()
        .find(|p| p.payment_hash == hash)
        .unwrap();
    assert_eq!(b_part.status, PaymentStatus::Succeeded);
    // Kept in the payment record.
    line.restart(0);
    line.shuttle();
    let again = line.members[0]
        .node
        .list_payments()
        .into_iter()
        .find(|p| p.payment_hash == hash)
        .unwrap();
    assert_eq!(again.hold_times, details.hold_times);
}

/// D's part times out while the link B - C is down: C records the failure
/// (with its attribution data) but cannot send it to B yet.
fn failed_while_b_c_is_down() -> (Line, PaymentHash) {
    let (mut line, chans) = line4();
    let (hash, _) = send_half(&mut line, &chans);
    line.disconnect(1);
    line.tick(MPP_WAIT);
    assert_eq!(
        line.members[2].node.list_forwards()[0].status,
        ForwardStatus::Failed,
        "C resolved its forward"
    );
    assert_eq!(
        line.members[1].node.list_forwards()[0].status,
        ForwardStatus::InFlight,
        "B has not heard of it"
    );
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Pending)
    );
    (line, hash)
}

#[test]
fn a_relay_restarted_between_the_failures_still_sends_its_attribution() {
    let (mut line, hash) = failed_while_b_c_is_down();
    // C restarts from its store alone and reconnects: it answers B from
    // its forwarding record, attribution data included.
    line.restart(2);
    line.shuttle();
    let failure = failure_at_a(&mut line, hash);
    assert_eq!(failure.failing_hop, Some(2), "{failure:?}");
    assert_eq!(failure.failure, Some(FailureReason::MppTimeout));
    assert_eq!(failure.hold_times, vec![HELD; 3], "{failure:?}");
    assert_eq!(failure.attribution_failed_at, None);
}

#[test]
fn an_altered_error_is_pinned_to_the_pair_of_hops_that_altered_it() {
    let (mut line, hash) = failed_while_b_c_is_down();
    // C alters the error packet it is about to send B.
    assert_eq!(line.corrupt_failed_forwards(2), 1);
    line.restart(2);
    line.shuttle();
    let failure = failure_at_a(&mut line, hash);
    let (b, c) = (line.members[1].id(), line.members[2].id());
    assert_eq!(
        failure.failing_hop, None,
        "no error HMAC matches: {failure:?}"
    );
    assert_eq!(failure.failure, None);
    assert_eq!(
        failure.attribution_failed_at,
        Some(1),
        "C's HMAC breaks: B or C altered it: {failure:?}"
    );
    assert_eq!(failure.hold_times, vec![HELD], "B's attribution verified");
    assert!(
        failure.message.contains(&b.to_string()) && failure.message.contains(&c.to_string()),
        "{}",
        failure.message
    );
}

#[test]
fn without_the_feature_no_attribution_data_is_sent() {
    // C does not advertise option_attribution_data: it sends none, and B
    // starts an all-zero block for its own hop (BOLT 4: "otherwise: MUST
    // instantiate an all-zeroes `attribution_data` block"). A's data then
    // verifies for B only, and the error itself still names D.
    let mut line = Line::new(4, |i, c| {
        if i == 2 {
            c.features.clear(Feature::AttributionData);
        }
    });
    let chans = [
        line.open_channel(0, 1, CAPACITY_SAT, 0),
        line.open_channel(1, 2, CAPACITY_SAT, 0),
        line.open_channel(2, 3, CAPACITY_SAT, 0),
    ];
    for m in &mut line.members {
        m.take_events();
    }
    let (hash, _) = send_half(&mut line, &chans);
    line.tick(MPP_WAIT);
    let failure = failure_at_a(&mut line, hash);
    assert_eq!(failure.failing_hop, Some(2), "{failure:?}");
    assert_eq!(failure.failure, Some(FailureReason::MppTimeout));
    assert_eq!(failure.hold_times, vec![HELD], "B only: {failure:?}");
    assert_eq!(failure.attribution_failed_at, Some(1), "C added none");
}
