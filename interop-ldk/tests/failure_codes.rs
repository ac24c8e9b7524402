//! Issue 19: a path whose middle hop, an LDK 0.2 node, fails our HTLC
//! with each failure code it can be made to return (BOLT 4, "Failure
//! Messages"), and the final LDK node with its own.
//!
//! ```text
//!   us ==1,000,000 sat== LDK middle ==300,000 sat (unannounced)== LDK payee
//! ```
//!
//! Each case sends one payment over a route we build by hand from the
//! payee's invoice and its route hint (the middle's alias, fees and CLTV
//! delta), spoiled in one way: too little fee (`fee_insufficient`), too
//! small a CLTV delta (`incorrect_cltv_expiry`), a channel the middle does
//! not have (`unknown_next_peer`), more than the middle can send on
//! (`temporary_channel_failure`), an expiry the middle can no longer
//! forward safely (`expiry_too_soon`), a payment secret the payee never
//! gave (`incorrect_or_unknown_payment_details`), one part of a larger
//! total that never completes (`mpp_timeout`). For each: our
//! `PaymentFailed` names the code and the hop that returned it (decoded
//! from the onion error LDK built), the `channel_update` LDK attaches to
//! an `UPDATE` code decodes, and no balance moved on any channel. A last,
//! unspoiled payment over the same route then succeeds, so the route
//! itself was right.
#![allow(clippy::unwrap_used)]

use interop_ldk::host::now;
use interop_ldk::ldk::LdkNode;
use interop_ldk::pair::{Pair, LIMIT};
use lightning_core::node::{
    Event, PaymentFailure, PaymentHash, PaymentId, PaymentStatus, RecipientOnion, Route, RouteHop,
};
use lightning_core::onion::FailureReason;
use lightning_invoice::Bolt11Invoice;
use lightning_wire::types::{ChannelId, ShortChannelId};

const AMOUNT_MSAT: u64 = 50_000_000;
const PERM: u16 = 0x4000;
const UPDATE: u16 = 0x1000;

/// The three nodes with both channels usable.
struct Net {
    pair: Pair,
    payee: LdkNode,
    ours: ChannelId,
    /// Our channel's `short_channel_id` (the first hop).
    first: ShortChannelId,
}

fn network(anchors: bool) -> Net {
    let pair = Pair::new(anchors);
    let ours = pair.open_from_us(1_000_000, 0);
    let payee = pair.ldk_payee_behind_ldk("ldk-payee", [35; 32], [5; 32], 300_000);
    let first = pair
        .ours
        .with(|n| {
            n.list_channels()
                .into_iter()
                .find(|c| c.channel_id == ours)
                .and_then(|c| c.short_channel_id)
        })
        .unwrap();
    Net {
        pair,
        payee,
        ours,
        first,
    }
}

/// The payee's invoice and the honest route to it: our channel, then the
/// hint's (the middle's alias for its channel to the payee, its fees and
/// delta), and the payload for the payee.
fn honest(net: &Net, amount_msat: u64) -> (Bolt11Invoice, Route, RecipientOnion) {
    let invoice = net.payee.create_invoice(Some(amount_msat), "failure codes");
    let hints = invoice.route_hints();
    assert_eq!(hints.len(), 1, "{hints:?}");
    let hop = &hints[0].0[0];
    assert_eq!(hop.src_node_id, net.pair.ldk.node_id());
    let fee = u64::from(hop.fees.base_msat)
        + amount_msat * u64::from(hop.fees.proportional_millionths) / 1_000_000;
    let route = Route {
        hops: vec![
            RouteHop {
                node_id: net.pair.ldk.node_id(),
                short_channel_id: net.first,
                fee_msat: fee,
                cltv_expiry_delta: u32::from(hop.cltv_expiry_delta),
            },
            RouteHop {
                node_id: net.payee.node_id(),
                short_channel_id: ShortChannelId(hop.short_channel_id),
                fee_msat: 0,
                cltv_expiry_delta: 0,
            },
        ],
    };
    let recipient = RecipientOnion {
        amount_msat,
        payment_secret: Some(invoice.payment_secret().0),
        final_cltv_expiry_delta: u32::try_from(invoice.min_final_cltv_expiry_delta()).unwrap(),
        ..RecipientOnion::default()
    };
    (invoice, route, recipient)
}

fn hash_of(invoice: &Bolt11Invoice) -> PaymentHash {
    use bitcoin::hashes::Hash;
    PaymentHash(invoice.payment_hash().to_byte_array())
}

/// Sends over `route` and waits for our `PaymentFailed`.
fn fails(
    net: &Net,
    hash: PaymentHash,
    route: &Route,
    recipient: &RecipientOnion,
) -> PaymentFailure {
    net.pair
        .ours
        .with(|n| n.send_to_route(route, hash, recipient, now()))
        .unwrap();
    failure_of(net, hash)
}

fn failure_of(net: &Net, hash: PaymentHash) -> PaymentFailure {
    net.pair.ours.wait_until("our payment fails", LIMIT, |s| {
        s.events.iter().any(
            |e| matches!(e, Event::PaymentFailed { payment_hash, .. } if *payment_hash == hash),
        )
    });
    net.pair.ours.with_state(|s| {
        s.events
            .iter()
            .find_map(|e| match e {
                Event::PaymentFailed {
                    payment_hash,
                    reason,
                } if *payment_hash == hash => Some(reason.clone()),
                _ => None,
            })
            .unwrap()
    })
}

/// Every balance of every channel, ours and both LDK nodes'.
fn balances(net: &Net) -> Vec<u64> {
    let mut v = vec![net.pair.our_balance_msat(&net.ours)];
    for node in [&net.pair.ldk, &net.payee] {
        let mut chans = node.channels();
        chans.sort_by_key(|c| c.channel_id.0);
        for c in chans {
            v.extend([c.outbound_capacity_msat, c.inbound_capacity_msat]);
        }
    }
    v
}

/// Waits until nothing is in flight on any channel, then returns the
/// balances.
fn settled_balances(net: &Net) -> Vec<u64> {
    // The middle sees both channels, ours included.
    net.pair
        .ldk
        .wait_until("no HTLC left in flight", LIMIT, || {
            [&net.pair.ldk, &net.payee].iter().all(|n| {
                n.channels().iter().all(|c| {
                    c.pending_inbound_htlcs.is_empty() && c.pending_outbound_htlcs.is_empty()
                })
            })
        });
    balances(net)
}

/// The code, the hop and, for an `UPDATE` code, the attached
/// `channel_update` (BOLT 4: "the erring node's `channel_update`"); and
/// the attribution data LDK sent with the error (BOLT 4, attributable
/// failures) verified by us at every hop up to the erring one.
fn check(f: &PaymentFailure, code: u16, hop: usize, case: &str) {
    assert_eq!(f.failure_code, Some(code), "{case}: {f:?}");
    assert_eq!(f.failing_hop, Some(hop), "{case}: {f:?}");
    assert_eq!(
        f.hold_times.len(),
        hop + 1,
        "{case}: a verified hold time per hop up to the erring one: {f:?}"
    );
    assert_eq!(f.attribution_failed_at, None, "{case}: {f:?}");
    let reason = f
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("{case}: {f:?}"));
    assert_eq!(reason.code().0, code, "{case}: {reason:?}");
    if code & UPDATE != 0 {
        assert!(
            reason.channel_update().is_some(),
            "{case}: an UPDATE code carries the middle's channel_update: {reason:?}"
        );
    }
}

fn every_failure_code(anchors: bool) {
    let net = network(anchors);
    let start = settled_balances(&net);
    let mut table = Vec::new();

    // fee_insufficient: one msat short of the middle's fee.
    let (inv, mut route, recipient) = honest(&net, AMOUNT_MSAT);
    route.hops[0].fee_msat -= 1;
    let f = fails(&net, hash_of(&inv), &route, &recipient);
    check(&f, UPDATE | 12, 0, "fee_insufficient");
    table.push(("fee_insufficient", f.failure_code));

    // incorrect_cltv_expiry: one block short of the middle's delta.
    let (inv, mut route, recipient) = honest(&net, AMOUNT_MSAT);
    route.hops[0].cltv_expiry_delta -= 1;
    let f = fails(&net, hash_of(&inv), &route, &recipient);
    check(&f, UPDATE | 13, 0, "incorrect_cltv_expiry");
    table.push(("incorrect_cltv_expiry", f.failure_code));

    // unknown_next_peer: a channel the middle does not have.
    let (inv, mut route, recipient) = honest(&net, AMOUNT_MSAT);
    route.hops[1].short_channel_id = ShortChannelId(route.hops[1].short_channel_id.0 ^ 0x55);
    let f = fails(&net, hash_of(&inv), &route, &recipient);
    check(&f, PERM | 10, 0, "unknown_next_peer");
    table.push(("unknown_next_peer", f.failure_code));

    // temporary_channel_failure: more than the middle's 300,000 sat
    // channel can carry (ours can).
    let (inv, route, recipient) = honest(&net, 400_000_000);
    let f = fails(&net, hash_of(&inv), &route, &recipient);
    check(&f, UPDATE | 7, 0, "temporary_channel_failure");
    table.push(("temporary_channel_failure", f.failure_code));

    // expiry_too_soon: the payee's final delta cut to one block, so the
    // middle's outgoing HTLC would expire within its safety margin.
    let (inv, route, mut recipient) = honest(&net, AMOUNT_MSAT);
    recipient.final_cltv_expiry_delta = 1;
    let f = fails(&net, hash_of(&inv), &route, &recipient);
    check(&f, UPDATE | 14, 0, "expiry_too_soon");
    table.push(("expiry_too_soon", f.failure_code));

    // incorrect_or_unknown_payment_details, from the payee: a payment
    // secret it never gave.
    let (inv, route, mut recipient) = honest(&net, AMOUNT_MSAT);
    recipient.payment_secret = Some([0x66; 32]);
    let f = fails(&net, hash_of(&inv), &route, &recipient);
    check(&f, PERM | 15, 1, "incorrect_or_unknown_payment_details");
    assert!(
        matches!(
            f.failure,
            Some(FailureReason::IncorrectOrUnknownPaymentDetails { htlc_msat, .. })
                if htlc_msat == AMOUNT_MSAT
        ),
        "BOLT 4: the payee returns the HTLC's amount: {f:?}"
    );
    table.push(("incorrect_or_unknown_payment_details", f.failure_code));

    // mpp_timeout, from the payee: half of a total that never completes,
    // held until the payee's MPP timer gives up.
    let (inv, route, mut recipient) = honest(&net, AMOUNT_MSAT);
    recipient.total_msat = Some(2 * AMOUNT_MSAT);
    let hash = hash_of(&inv);
    net.pair
        .ours
        .with(|n| n.send_to_route(&route, hash, &recipient, now()))
        .unwrap();
    net.payee.wait_until("the payee holds the part", LIMIT, || {
        net.payee
            .channels()
            .iter()
            .any(|c| !c.pending_inbound_htlcs.is_empty())
    });
    // LDK gives up after three timer ticks of an incomplete set (its
    // timer is meant to tick every minute: BOLT 4's 60 s); one tick per
    // 100 ms here, from when the part is claimable.
    net.payee
        .wait_until("the payee gives up on the part", LIMIT, || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            net.payee.timer_tick();
            net.pair.ours.with(|n| {
                n.payment(&PaymentId(hash.0))
                    .is_some_and(|p| p.status == PaymentStatus::Failed)
            })
        });
    let f = failure_of(&net, hash);
    check(&f, 23, 1, "mpp_timeout");
    table.push(("mpp_timeout", f.failure_code));

    // Nothing moved anywhere.
    assert_eq!(settled_balances(&net), start, "no balance moved");

    // The honest route works.
    let (inv, route, recipient) = honest(&net, AMOUNT_MSAT);
    let hash = hash_of(&inv);
    let fee = route.hops[0].fee_msat;
    net.pair
        .ours
        .with(|n| n.send_to_route(&route, hash, &recipient, now()))
        .unwrap();
    net.pair
        .ours
        .wait_until("the honest payment succeeds", LIMIT, |s| {
            s.node
                .payment(&PaymentId(hash.0))
                .is_some_and(|p| p.status != PaymentStatus::Pending)
        });
    let p = net
        .pair
        .ours
        .with(|n| n.payment(&PaymentId(hash.0)))
        .unwrap();
    assert_eq!(p.status, PaymentStatus::Succeeded, "{p:?}");
    assert_eq!(
        p.hold_times.len(),
        2,
        "LDK's fulfil attribution data verified for both hops: {p:?}"
    );
    let end = settled_balances(&net);
    assert_eq!(
        end[0],
        start[0] - AMOUNT_MSAT - fee,
        "our side paid amount + fee"
    );
    eprintln!("LDK middle/payee failure codes (anchors {anchors}): {table:?}");
    net.pair.world.assert_no_rejections();
}

#[test]
fn an_ldk_middle_hop_and_payee_fail_with_each_code_static_remotekey() {
    every_failure_code(false);
}

#[test]
fn an_ldk_middle_hop_and_payee_fail_with_each_code_anchors() {
    every_failure_code(true);
}
