//! Issue 19: keysend both ways with LDK 0.2 over TCP (bLIP 3: the
//! preimage in onion TLV 5482373484), with custom records, and our
//! keysend through an LDK middle hop to a second LDK node.
//!
//! ```text
//!   LDK payee ==300,000 sat== LDK ==1,000,000 sat== us
//! ```
//!
//! - We keysend to LDK over our channel: LDK claims it as a spontaneous
//!   payment and hands its host our custom record; we see `PaymentSent`
//!   with the preimage whose hash we sent.
//! - LDK keysends to us (we opt in with `accept_keysend`): we report
//!   `SpontaneousPaymentReceived` with LDK's custom record, and LDK its
//!   `PaymentSent`.
//! - We keysend to the payee through the LDK middle hop over a route we
//!   build from the payee's invoice hint: the middle takes its fee, the
//!   payee claims.
//!
//! - LDK sends us a multi-part keysend over two channels (we opt in with
//!   `MppReceiveConfig::accept_keysend_parts`): we hold the parts, claim
//!   the whole amount once and report it with LDK's record.
//! - We send LDK a multi-part keysend over two channels: our router
//!   splits it (no single channel carries it), every part with the same
//!   preimage and our `payment_secret`; LDK claims the whole amount once.
//!
//! Every channel's balance is checked after each payment.
#![allow(clippy::unwrap_used)]

use bitcoin::hashes::{sha256, Hash};
use interop_ldk::host::{config, now};
use interop_ldk::ldk::{LdkConfig, LdkPaymentOutcome};
use interop_ldk::pair::{ldk_id, Pair, LIMIT};
use lightning_core::amount::Msat;
use lightning_core::node::{Event, PaymentHash, PaymentId, PaymentStatus, Route, RouteHop};
use lightning_wire::types::ShortChannelId;

/// A custom record type (odd, at least 65536: bLIP 3 leaves the rest to
/// the applications).
const RECORD_TYPE: u64 = 696_969;

fn keysend_both_ways(anchors: bool) {
    let mut ours = config(anchors);
    ours.forwarding.accept_keysend = true;
    let pair = Pair::with_configs(LdkConfig::new(anchors), ours);
    // We open with half pushed, so each side can pay.
    let id = pair.open_from_us(1_000_000, 400_000_000);
    let ldk_channel = ldk_id(&id);
    let ldk_balance = || pair.ldk.balance_msat(&ldk_channel).unwrap();

    // Us -> LDK.
    let amount = 12_345_000;
    let ours_before = pair.our_balance_msat(&id);
    let ldk_before = ldk_balance();
    let payment = pair
        .ours
        .with(|n| {
            n.keysend_to(
                pair.ldk.node_id(),
                Msat(amount),
                vec![(RECORD_TYPE, b"from us".to_vec())],
                now(),
            )
        })
        .unwrap();
    pair.ours.wait_until("our keysend ends", LIMIT, |s| {
        s.node
            .payment(&payment)
            .is_some_and(|p| p.status != PaymentStatus::Pending)
    });
    let p = pair.ours.with(|n| n.payment(&payment)).unwrap();
    assert_eq!(p.status, PaymentStatus::Succeeded, "{p:?}");
    let preimage = p.preimage.unwrap();
    assert_eq!(
        sha256::Hash::hash(&preimage.0).to_byte_array(),
        p.payment_hash.0,
        "the preimage we learned is the one we sent"
    );
    let ldk_hash = lightning::types::payment::PaymentHash(p.payment_hash.0);
    pair.ldk.wait_until("LDK claimed our keysend", LIMIT, || {
        pair.ldk.record(|r| {
            r.claimed
                .iter()
                .any(|(h, a)| *h == ldk_hash && *a == amount)
        })
    });
    let got = pair.ldk.record(|r| r.spontaneous.clone());
    assert_eq!(
        got,
        vec![(ldk_hash, amount, vec![(RECORD_TYPE, b"from us".to_vec())])],
        "LDK saw a spontaneous payment with our record"
    );
    pair.ldk.wait_until("both balances moved", LIMIT, || {
        pair.our_balance_msat(&id) == ours_before - amount && ldk_balance() >= ldk_before
    });

    // LDK -> us.
    let amount = 7_654_000;
    let ours_before = pair.our_balance_msat(&id);
    let hash = pair.ldk.keysend(
        pair.ours.node_id(),
        amount,
        vec![(RECORD_TYPE, b"from LDK".to_vec())],
    );
    pair.ldk.wait_until("LDK's keysend ends", LIMIT, || {
        pair.ldk.outcome(&hash).is_some()
    });
    let outcome = pair.ldk.outcome(&hash);
    assert!(
        matches!(outcome, Some(LdkPaymentOutcome::Sent(_))),
        "{outcome:?}"
    );
    let ours_hash = PaymentHash(hash.0);
    let received = pair.ours.events_matching(|e| {
        matches!(e, Event::SpontaneousPaymentReceived { payment_hash, .. } if *payment_hash == ours_hash)
    });
    assert_eq!(received.len(), 1, "{received:?}");
    match &received[0] {
        Event::SpontaneousPaymentReceived {
            amount_msat,
            custom_records,
            ..
        } => {
            assert_eq!(amount_msat.0, amount);
            assert_eq!(
                custom_records,
                &vec![(RECORD_TYPE, b"from LDK".to_vec())],
                "LDK's record reached our host"
            );
        }
        other => panic!("{other:?}"),
    }
    pair.ldk.wait_until("our balance moved", LIMIT, || {
        pair.our_balance_msat(&id) == ours_before + amount
    });
    pair.world.assert_no_rejections();
}

#[test]
fn keysend_both_ways_static_remotekey() {
    keysend_both_ways(false);
}

#[test]
fn keysend_both_ways_anchors() {
    keysend_both_ways(true);
}

/// We keysend through the pair's LDK node (the middle hop) to a second
/// LDK node, over a route we build from the payee's invoice hint.
fn keysend_through_an_ldk_middle_hop(anchors: bool) {
    let pair = Pair::new(anchors);
    let ours = pair.open_from_us(1_000_000, 0);
    let payee = pair.ldk_payee_behind_ldk("ldk-payee", [36; 32], [6; 32], 300_000);
    let first = pair
        .ours
        .with(|n| {
            n.list_channels()
                .into_iter()
                .find(|c| c.channel_id == ours)
                .and_then(|c| c.short_channel_id)
        })
        .unwrap();
    // The hint in any invoice of the payee's names the middle's alias for
    // the channel, its fees and delta.
    let amount = 20_000_000;
    let hint = payee.create_invoice(Some(amount), "hint").route_hints()[0].0[0].clone();
    let fee = u64::from(hint.fees.base_msat)
        + amount * u64::from(hint.fees.proportional_millionths) / 1_000_000;
    let route = Route {
        hops: vec![
            RouteHop {
                node_id: pair.ldk.node_id(),
                short_channel_id: first,
                fee_msat: fee,
                cltv_expiry_delta: u32::from(hint.cltv_expiry_delta),
            },
            RouteHop {
                node_id: payee.node_id(),
                short_channel_id: ShortChannelId(hint.short_channel_id),
                fee_msat: 0,
                cltv_expiry_delta: 0,
            },
        ],
    };
    let before = pair.our_balance_msat(&ours);
    let payment: PaymentId = pair
        .ours
        .with(|n| {
            n.send_keysend(
                &route,
                amount,
                vec![(RECORD_TYPE, b"two hops".to_vec())],
                now(),
            )
        })
        .unwrap();
    pair.ours.wait_until("our keysend ends", LIMIT, |s| {
        s.node
            .payment(&payment)
            .is_some_and(|p| p.status != PaymentStatus::Pending)
    });
    let p = pair.ours.with(|n| n.payment(&payment)).unwrap();
    assert_eq!(p.status, PaymentStatus::Succeeded, "{p:?}");
    let ldk_hash = lightning::types::payment::PaymentHash(p.payment_hash.0);
    payee.wait_until("the payee claimed it", LIMIT, || {
        payee.record(|r| {
            r.claimed
                .iter()
                .any(|(h, a)| *h == ldk_hash && *a == amount)
        })
    });
    assert_eq!(
        payee.record(|r| r.spontaneous.clone()),
        vec![(ldk_hash, amount, vec![(RECORD_TYPE, b"two hops".to_vec())])]
    );
    pair.ldk.wait_until("our balance moved", LIMIT, || {
        pair.our_balance_msat(&ours) == before - amount - fee
    });
    pair.world.assert_no_rejections();
}

#[test]
fn keysend_through_an_ldk_middle_hop_static_remotekey() {
    keysend_through_an_ldk_middle_hop(false);
}

#[test]
fn keysend_through_an_ldk_middle_hop_anchors() {
    keysend_through_an_ldk_middle_hop(true);
}

// Multi-part keysend (the preimage and a sender's `payment_data` in every
// part; BOLT 4 "Basic Multi-Part Payments"), both ways over two channels
// neither of which can carry the amount alone. LDK 0.2 takes keysends in
// parts without any setting (0.2.7's `UserConfig` has no
// `accept_mpp_keysend` any more); it sends them when its route parameters
// allow MPP (`PaymentParameters::for_keysend(.., true)`) and the onion
// has a `payment_secret` (`RecipientOnionFields::secret_only`).

/// 300,000 sat: more than one 200,000 sat channel can send.
const SPLIT_MSAT: u64 = 300_000_000;

#[test]
fn ldk_sends_us_a_multi_part_keysend() {
    use lightning::ln::channelmanager::{PaymentId as LdkPaymentId, RecipientOnionFields, Retry};
    use lightning::routing::router::{PaymentParameters, RouteParameters};
    use lightning::types::payment::{PaymentPreimage, PaymentSecret};

    let mut ours = config(true);
    ours.forwarding.accept_keysend = true;
    ours.mpp_receive.accept_keysend_parts = true;
    let pair = Pair::with_configs(LdkConfig::new(true), ours);
    let a = pair.open_from_ldk(200_000, 0);
    let b = pair.open_from_ldk(200_000, 0);

    let preimage = PaymentPreimage(sha256::Hash::hash(b"ldk multi-part keysend").to_byte_array());
    let ldk_hash =
        lightning::types::payment::PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array());
    let params = RouteParameters::from_payment_params_and_value(
        PaymentParameters::for_keysend(pair.ours.node_id(), 40, true),
        SPLIT_MSAT,
    );
    let onion = RecipientOnionFields::secret_only(PaymentSecret([0x17; 32]))
        .with_custom_tlvs(vec![(RECORD_TYPE, b"in parts".to_vec())])
        .unwrap();
    pair.ldk
        .manager()
        .send_spontaneous_payment(
            Some(preimage),
            onion,
            LdkPaymentId(ldk_hash.0),
            params,
            Retry::Attempts(0),
        )
        .unwrap();
    pair.ldk.wait_until("LDK's keysend ends", LIMIT, || {
        pair.ldk.outcome(&ldk_hash).is_some()
    });
    let outcome = pair.ldk.outcome(&ldk_hash);
    assert!(
        matches!(outcome, Some(LdkPaymentOutcome::Sent(p)) if p == preimage),
        "{outcome:?}"
    );
    // We received it once, the whole amount, with LDK's record.
    let hash = PaymentHash(ldk_hash.0);
    pair.ours.wait_until("we report the keysend", LIMIT, |s| {
        s.events.iter().any(|e| matches!(e, Event::SpontaneousPaymentReceived { payment_hash, .. } if *payment_hash == hash))
    });
    let received = pair.ours.events_matching(|e| {
        matches!(e, Event::SpontaneousPaymentReceived { payment_hash, .. } if *payment_hash == hash)
    });
    assert_eq!(
        received,
        vec![Event::SpontaneousPaymentReceived {
            payment_hash: hash,
            amount_msat: Msat(SPLIT_MSAT),
            custom_records: vec![(RECORD_TYPE, b"in parts".to_vec())],
        }]
    );
    pair.ldk.wait_until("both parts settled", LIMIT, || {
        pair.our_balance_msat(&a) + pair.our_balance_msat(&b) == SPLIT_MSAT
    });
    let (on_a, on_b) = (pair.our_balance_msat(&a), pair.our_balance_msat(&b));
    assert!(
        on_a > 0 && on_b > 0,
        "both channels carried a part: {on_a}, {on_b}"
    );
    pair.wait_balances_agree(&a);
    pair.wait_balances_agree(&b);
    pair.world.assert_no_rejections();
}

#[test]
fn we_send_ldk_a_multi_part_keysend() {
    let pair = Pair::new(true);
    let a = pair.open_from_us(200_000, 0);
    let b = pair.open_from_us(200_000, 0);
    let before = pair.our_balance_msat(&a) + pair.our_balance_msat(&b);
    let payment = pair
        .ours
        .with(|n| {
            n.keysend_to(
                pair.ldk.node_id(),
                Msat(SPLIT_MSAT),
                vec![(RECORD_TYPE, b"ours, in parts".to_vec())],
                now(),
            )
        })
        .unwrap();
    pair.ours.wait_until("our keysend ends", LIMIT, |s| {
        s.node
            .payment(&payment)
            .is_some_and(|p| p.status != PaymentStatus::Pending)
    });
    let p = pair.ours.with(|n| n.payment(&payment)).unwrap();
    assert_eq!(p.status, PaymentStatus::Succeeded, "{p:?}");
    assert!(p.parts.len() >= 2, "sent in parts: {p:?}");
    let delivered: u64 = p.parts.iter().map(|s| s.amount_msat.0).sum();
    assert_eq!(delivered, SPLIT_MSAT, "{p:?}");
    let preimage = p.preimage.unwrap();
    assert_eq!(
        sha256::Hash::hash(&preimage.0).to_byte_array(),
        p.payment_hash.0
    );
    // LDK claimed it once, the whole amount, and handed its host our
    // record.
    let ldk_hash = lightning::types::payment::PaymentHash(p.payment_hash.0);
    pair.ldk.wait_until("LDK claimed our keysend", LIMIT, || {
        pair.ldk
            .record(|r| r.claimed.iter().any(|(h, _)| *h == ldk_hash))
    });
    let claimed: Vec<u64> = pair.ldk.record(|r| {
        r.claimed
            .iter()
            .filter(|(h, _)| *h == ldk_hash)
            .map(|(_, a)| *a)
            .collect()
    });
    assert_eq!(claimed, vec![SPLIT_MSAT]);
    assert_eq!(
        pair.ldk.record(|r| r.spontaneous.clone()),
        vec![(
            ldk_hash,
            SPLIT_MSAT,
            vec![(RECORD_TYPE, b"ours, in parts".to_vec())]
        )]
    );
    pair.ldk.wait_until("both parts settled", LIMIT, || {
        before - pair.our_balance_msat(&a) - pair.our_balance_msat(&b) == SPLIT_MSAT
    });
    pair.wait_balances_agree(&a);
    pair.wait_balances_agree(&b);
    pair.world.assert_no_rejections();
}
