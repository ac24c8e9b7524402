//! Issue 19: ours → LDK → ours over TCP. Our payer has a channel to an LDK
//! 0.2 node; the LDK node has an unannounced channel to our payee, whose
//! invoice hints at it (the alias LDK gave in `channel_ready`, with LDK's
//! fees). Our payer routes over its
//! channel and the hint; LDK forwards; our payee is paid. Balances and
//! fees are checked on both of our nodes, and LDK's hinted fee is what the
//! payer's `PaymentSent` reports.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use interop_ldk::host::{config, now, OurNode};
use interop_ldk::pair::{Pair, LIMIT};
use lightning_core::amount::Msat;
use lightning_core::node::{Event, PaymentId, PaymentStatus};

const AMOUNT_MSAT: u64 = 60_000_000;

fn ours_ldk_ours(anchors: bool) {
    let pair = Pair::new(anchors);
    let wallets = pair.world.wallets(&[[8; 32]], 2);
    let payee = OurNode::start(
        [38; 32],
        config(anchors),
        pair.world.chain.clone(),
        wallets[0].clone(),
    );
    payee.connect(pair.ldk.node_id(), pair.ldk.addr);
    pair.ldk.wait_until("LDK sees our payee", LIMIT, || {
        pair.ldk.is_connected(&payee.node_id())
    });
    // Our payer opens to LDK; LDK opens to our payee.
    let first = pair.open_from_us(1_000_000, 0);
    let before = pair.world.chain.mempool().len();
    pair.ldk.open_channel(payee.node_id(), 400_000, 150_000_000);
    pair.ldk
        .wait_until("LDK broadcasts its funding", LIMIT, || {
            pair.world.chain.mempool().len() > before
        });
    pair.world.mine(1);
    payee.wait_until("our payee's channel is usable", LIMIT, |s| {
        s.node.list_channels().iter().any(|c| c.is_usable)
    });
    let second = payee.with(|n| n.list_channels()[0].channel_id);

    // The payee's invoice hints at LDK's channel (the alias LDK sent).
    // LDK's default fees are ours too (1,000 msat, 0 ppm, delta 72), so
    // the payment below, which LDK checks against its own policy, is what
    // shows the hint right.
    let invoice = payee
        .with(|n| {
            n.create_invoice(
                Some(Msat(AMOUNT_MSAT)),
                "via LDK",
                Duration::from_secs(3600),
                now(),
            )
        })
        .unwrap();
    assert_eq!(
        invoice.route_hints().len(),
        1,
        "{:?}",
        invoice.route_hints()
    );
    let hop = invoice.route_hints()[0].0[0];
    assert_eq!(hop.src_node_id, pair.ldk.node_id().into());
    let fee = u64::from(hop.fee_base_msat)
        + AMOUNT_MSAT * u64::from(hop.fee_proportional_millionths) / 1_000_000;

    let payer_before = pair.our_balance_msat(&first);
    let payee_before = payee.channel(&second).unwrap().local_balance_msat.0;
    let hash = *invoice.payment_hash();
    pair.ours.with(|n| n.pay_invoice(&invoice, now())).unwrap();
    pair.ours.wait_until("our payment ends", LIMIT, |s| {
        s.node
            .payment(&PaymentId(hash.0))
            .is_some_and(|p| p.status != PaymentStatus::Pending)
    });
    let p = pair.ours.with(|n| n.payment(&PaymentId(hash.0))).unwrap();
    assert_eq!(p.status, PaymentStatus::Succeeded, "{p:?}");
    payee.wait_until("our payee received it", LIMIT, |s| {
        s.events.iter().any(|e| matches!(e, Event::PaymentReceived { payment_hash, amount_msat } if *payment_hash == hash && amount_msat.0 == AMOUNT_MSAT))
    });
    let sent_fee: Vec<u64> = pair.ours.with_state(|s| {
        s.events
            .iter()
            .filter_map(|e| match e {
                Event::PaymentSent {
                    payment_hash,
                    fee_msat,
                    ..
                } if *payment_hash == hash => Some(fee_msat.0),
                _ => None,
            })
            .collect()
    });
    assert_eq!(sent_fee, vec![fee], "LDK's hinted fee, paid once");
    pair.ldk.wait_until("both channels settled", LIMIT, || {
        pair.our_balance_msat(&first) == payer_before - AMOUNT_MSAT - fee
            && payee.channel(&second).unwrap().local_balance_msat.0 == payee_before + AMOUNT_MSAT
    });
    pair.world.assert_no_rejections();
}

#[test]
fn ours_to_ldk_to_ours_static_remotekey() {
    ours_ldk_ours(false);
}

#[test]
fn ours_to_ldk_to_ours_anchors() {
    ours_ldk_ours(true);
}
