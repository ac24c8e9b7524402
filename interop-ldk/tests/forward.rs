//! Issue 19: we forward between two LDK 0.2 nodes (LDK → us → LDK).
//!
//! The payer (the pair's LDK node) opens a channel to us; we open an
//! unannounced one to a second LDK node, the payee. The payee's invoice
//! carries a route hint for that channel (BOLT 11 `r`): by the alias we
//! sent it in `channel_ready` (BOLT 2: the receiver "MAY use any of the
//! `alias` it received, in BOLT 11 `r` fields"; we "MUST always recognize
//! the `alias`"), with our fees from the `channel_update` we sent it. The
//! payer routes over its channel to us and the hint; we check the onion
//! against our policy and forward. Every side's balance and fee is
//! checked.
//!
//! The same forward with us crashed and restarted from our store twice
//! mid-payment (the HTLC held downstream; the downstream fulfil read and
//! nothing answered yet): the preimage still goes upstream.
#![allow(clippy::unwrap_used)]

use interop_ldk::ldk::{LdkNode, LdkPaymentOutcome};
use interop_ldk::pair::{Pair, LIMIT};
use lightning_core::node::Event;
use lightning_wire::types::ChannelId;

const AMOUNT_MSAT: u64 = 100_000_000;

/// The payer (the pair's LDK node) with a channel to us (`inbound`), and
/// the payee, an LDK node we opened an unannounced channel to
/// (`outbound`); both usable.
struct Line {
    pair: Pair,
    payee: LdkNode,
    inbound: ChannelId,
    outbound: ChannelId,
}

fn line(anchors: bool) -> Line {
    let pair = Pair::new(anchors);
    let wallets = pair.world.wallets(&[[3; 32]], 2);
    let payee = LdkNode::start(
        "ldk-payee",
        [34; 32],
        pair.world.chain.clone(),
        wallets[0].clone(),
        pair.ldk.config(),
    );
    pair.ours.connect(payee.node_id(), payee.addr);
    payee.wait_until("the payee sees us", LIMIT, || {
        payee.is_connected(&pair.ours.node_id())
    });

    // The payer opens to us; we open to the payee.
    let inbound = pair.open_from_ldk(500_000, 0);
    let outbound = pair.open_from_us_to(payee.node_id(), 500_000, 1);
    pair.ours
        .wait_until("our channel to the payee is usable", LIMIT, |s| {
            s.node
                .list_channels()
                .iter()
                .any(|c| c.channel_id == outbound && c.is_usable)
        });
    payee.wait_until("the payee's channel is usable", LIMIT, || {
        payee.channels().iter().any(|c| c.is_usable)
    });
    // The payee's invoices hint at our channel once it has our
    // `channel_update` for it.
    payee.wait_until("the payee has our channel_update", LIMIT, || {
        payee
            .create_invoice(Some(1_000), "probe")
            .route_hints()
            .len()
            == 1
    });
    Line {
        pair,
        payee,
        inbound,
        outbound,
    }
}

fn we_forward_between_two_ldk_nodes(anchors: bool) {
    let Line {
        pair,
        payee,
        inbound,
        outbound,
    } = line(anchors);

    // The payee's hint names us and the alias we gave it.
    let invoice = payee.create_invoice(Some(AMOUNT_MSAT), "forwarded");
    let hints = invoice.route_hints();
    assert_eq!(hints.len(), 1, "{hints:?}");
    let hop = &hints[0].0[0];
    assert_eq!(hop.src_node_id, pair.ours.node_id());
    let fee_base = u64::from(hop.fees.base_msat);
    let fee_ppm = u64::from(hop.fees.proportional_millionths);
    let ours_cfg = pair.ours.with(|n| n.config().gossip.clone());
    assert_eq!(
        (fee_base, fee_ppm),
        (
            u64::from(ours_cfg.fee_base_msat),
            u64::from(ours_cfg.fee_proportional_millionths)
        ),
        "our fees, from our channel_update"
    );
    let real = pair.ours.with(|n| {
        n.list_channels()
            .into_iter()
            .find(|c| c.channel_id == outbound)
            .and_then(|c| c.short_channel_id)
    });
    assert_ne!(Some(hop.short_channel_id), real.map(|s| s.0), "the alias");

    let before_in = pair.our_balance_msat(&inbound);
    let before_out = pair.our_balance_msat(&outbound);
    let hash = pair.ldk.pay_invoice(&invoice.to_string(), None);
    pair.ldk.wait_until("the payer's payment ends", LIMIT, || {
        pair.ldk.outcome(&hash).is_some()
    });
    let outcome = pair.ldk.outcome(&hash);
    assert!(
        matches!(outcome, Some(LdkPaymentOutcome::Sent(_))),
        "{outcome:?}"
    );
    payee.wait_until("the payee claimed it", LIMIT, || {
        payee.record(|r| {
            r.claimed
                .iter()
                .any(|(h, a)| *h == hash && *a == AMOUNT_MSAT)
        })
    });

    // Our fee: BOLT 7's base + proportional on what we forward.
    let fee = fee_base + AMOUNT_MSAT * fee_ppm / 1_000_000;
    let hash_ours = lightning_core::node::PaymentHash(hash.0);
    pair.ours.wait_until("we report the forward", LIMIT, |s| {
        s.events.iter().any(|e| {
            matches!(e, Event::PaymentForwarded { payment_hash, fee_earned_msat, .. }
                if *payment_hash == hash_ours && fee_earned_msat.0 == fee)
        })
    });
    let sent: Vec<(Option<u64>, Option<u64>)> = pair.ldk.record(|r| {
        r.sent
            .iter()
            .filter(|(h, ..)| *h == hash)
            .map(|(_, a, f)| (*a, *f))
            .collect()
    });
    assert_eq!(
        sent,
        vec![(Some(AMOUNT_MSAT), Some(fee))],
        "the payer's PaymentSent"
    );
    pair.ldk.wait_until("both our channels settled", LIMIT, || {
        pair.our_balance_msat(&inbound) == before_in + AMOUNT_MSAT + fee
            && pair.our_balance_msat(&outbound) == before_out - AMOUNT_MSAT
    });
    // (`Pair::wait_balances_agree` compares whole satoshis; our fee leaves
    // a fraction of one on each side of the payer's channel, which LDK's
    // monitor and we round differently.)

    // The fulfil's attribution data (BOLT 4, "Hold times for successful
    // payments"): the payee's, with our hop added, verified by the payer
    // for both hops.
    pair.ldk
        .wait_until("the payer verified the hold times", LIMIT, || {
            pair.ldk.record(|r| {
                r.path_hold_times
                    .iter()
                    .any(|(h, ok, t)| *h == hash && *ok && t.len() == 2)
            })
        });
}

#[test]
fn we_forward_between_two_ldk_nodes_static_remotekey() {
    we_forward_between_two_ldk_nodes(false);
}

#[test]
fn we_forward_between_two_ldk_nodes_anchors() {
    we_forward_between_two_ldk_nodes(true);
}

/// Reconnects us to both LDK nodes and waits until both channels are
/// usable again (`channel_reestablish` done).
fn reconnect(l: &Line) {
    l.pair.ldk.wait_until("both see us gone", LIMIT, || {
        !l.pair.ldk.is_connected(&l.pair.ours.node_id())
            && !l.payee.is_connected(&l.pair.ours.node_id())
    });
    l.pair.ours.connect(l.pair.ldk.node_id(), l.pair.ldk.addr);
    l.pair.ours.connect(l.payee.node_id(), l.payee.addr);
    l.pair
        .ours
        .wait_until("both our channels are usable", LIMIT, |s| {
            let chans = s.node.list_channels();
            [l.inbound, l.outbound]
                .iter()
                .all(|id| chans.iter().any(|c| c.channel_id == *id && c.is_usable))
        });
}

/// The middle node (us) crashes twice in one forward over TCP: while the
/// HTLC is held at the payee, and again right after reading the payee's
/// `update_fulfill_htlc` (persisted, nothing answered). Each time it
/// restarts from its `FsStore` alone and reconnects; the link between the
/// two HTLCs survives both, the preimage goes upstream, the payer's
/// payment succeeds and every balance moves by the amount and our fee.
fn middle_restarted_mid_payment(anchors: bool) {
    let l = line(anchors);
    let (pair, payee) = (&l.pair, &l.payee);
    let invoice = payee.create_invoice(Some(AMOUNT_MSAT), "restarted");
    let hop = invoice.route_hints()[0].0[0].clone();
    let fee = u64::from(hop.fees.base_msat)
        + AMOUNT_MSAT * u64::from(hop.fees.proportional_millionths) / 1_000_000;
    let before_in = pair.our_balance_msat(&l.inbound);
    let before_out = pair.our_balance_msat(&l.outbound);

    payee.set_hold(true);
    let hash = pair.ldk.pay_invoice(&invoice.to_string(), None);
    payee.wait_until("the payee holds the HTLC", LIMIT, || payee.held() == 1);
    let ours = lightning_core::node::PaymentHash(hash.0);
    let forwards = pair.ours.with(|n| n.list_forwards());
    assert_eq!(forwards.len(), 1, "{forwards:?}");
    assert_eq!(forwards[0].payment_hash, ours);

    // First crash: the HTLC held downstream.
    pair.ours.restart();
    reconnect(&l);
    assert_eq!(pair.ldk.outcome(&hash), None, "still pending upstream");

    // Second crash: right after reading the payee's fulfil (the round
    // of reads after which our forward knows the preimage).
    pair.ours.freeze_when(move |n| {
        n.list_forwards().iter().any(|f| {
            f.payment_hash == ours && f.status == lightning_core::node::ForwardStatus::Settled
        })
    });
    payee.release_held();
    payee.wait_until("our host froze", LIMIT, || pair.ours.is_frozen());
    pair.ours.restart();
    // The restored node knows the preimage (the fulfil was read and
    // persisted) and the payer has not heard of it yet.
    let restored = pair.ours.with(|n| n.list_forwards());
    assert_eq!(
        restored[0].status,
        lightning_core::node::ForwardStatus::Settled,
        "{restored:?}"
    );
    assert_eq!(pair.ldk.outcome(&hash), None);
    reconnect(&l);

    pair.ldk.wait_until("the payer's payment ends", LIMIT, || {
        pair.ldk.outcome(&hash).is_some()
    });
    let outcome = pair.ldk.outcome(&hash);
    assert!(
        matches!(outcome, Some(LdkPaymentOutcome::Sent(_))),
        "{outcome:?}"
    );
    payee.wait_until("the payee claimed it", LIMIT, || {
        payee.record(|r| {
            r.claimed
                .iter()
                .any(|(h, a)| *h == hash && *a == AMOUNT_MSAT)
        })
    });
    pair.ours.wait_until("our forward is settled", LIMIT, |s| {
        s.node.list_forwards().iter().any(|f| {
            f.payment_hash == ours
                && f.status == lightning_core::node::ForwardStatus::Settled
                && f.fee_msat.0 == fee
        })
    });
    pair.ldk.wait_until("both our channels settled", LIMIT, || {
        pair.our_balance_msat(&l.inbound) == before_in + AMOUNT_MSAT + fee
            && pair.our_balance_msat(&l.outbound) == before_out - AMOUNT_MSAT
    });
    assert_eq!(pair.ours.with(|n| n.list_forwards()).len(), 1);
    pair.world.assert_no_rejections();
}

#[test]
fn middle_restarted_mid_payment_static_remotekey() {
    middle_restarted_mid_payment(false);
}

#[test]
fn middle_restarted_mid_payment_anchors() {
    middle_restarted_mid_payment(true);
}
