//! Issue 19: receiving multi-part payments (BOLT 4, "Basic Multi-Part
//! Payments"). Bob issues the invoice; Alice, Carol and Dave each have a
//! channel to him and each send one part of the same payment hash, with
//! the onion's `total_msat` the whole payment (friends splitting a bill:
//! the parts arrive over different channels, as BOLT 4 expects).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod forward_support;

use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use forward_support::{Line, Link};
use lightning_core::amount::Msat;
use lightning_core::node::{
    Event, InvoiceStatus, NodeConfig, PaymentHash, PaymentPreimage, PaymentStatus, RecipientOnion,
    Route, RouteHop,
};
use lightning_core::onion::FailureCode;
use lightning_wire::bolt11::Bolt11Invoice;
use lightning_wire::features::Feature;
use lightning_wire::types::ChannelId;

const AMOUNT: u64 = 30_000_000;
const BOB: usize = 1;

/// Alice (0), Bob (1), Carol (2), Dave (3); a channel from each payer to
/// Bob. Returns the line and the channels by payer index.
fn star(configure: impl Fn(usize, &mut NodeConfig)) -> (Line, [ChannelId; 4]) {
    let mut line = Line::new(4, configure);
    // Dave is linked to Carol by `Line::new`; link him to Bob too.
    line.links.push(Link {
        a: 3,
        b: BOB,
        pa: None,
        pb: None,
        hold_from: None,
    });
    let l = line.links.len() - 1;
    line.connect(l);
    line.shuttle();
    let a = line.open_channel(0, BOB, 1_000_000, 0);
    let c = line.open_channel(2, BOB, 1_000_000, 0);
    let d = line.open_channel(3, BOB, 1_000_000, 0);
    for m in &mut line.members {
        m.take_events();
    }
    (line, [a, ChannelId([0; 32]), c, d])
}

fn invoice(line: &mut Line) -> Bolt11Invoice {
    let now = line.now;
    line.members[BOB]
        .node
        .create_invoice(Some(Msat(AMOUNT)), "split", Duration::from_secs(3600), now)
        .unwrap()
}

/// Payer `from` sends `part_msat` of a payment of `total_msat` for
/// `invoice` over its channel to Bob.
fn send_part(
    line: &mut Line,
    channels: &[ChannelId; 4],
    from: usize,
    invoice: &Bolt11Invoice,
    part_msat: u64,
    total_msat: u64,
) {
    let route = Route {
        hops: vec![RouteHop {
            node_id: line.members[BOB].id(),
            short_channel_id: line.members[from].scid(channels[from]),
            fee_msat: 0,
            cltv_expiry_delta: 0,
        }],
    };
    let recipient = RecipientOnion {
        amount_msat: part_msat,
        total_msat: Some(total_msat),
        payment_secret: Some(invoice.payment_secret().0),
        final_cltv_expiry_delta: 18,
        ..RecipientOnion::default()
    };
    let now = line.now;
    line.members[from]
        .node
        .send_to_route(&route, *invoice.payment_hash(), &recipient, now)
        .unwrap();
    line.shuttle();
}

fn status(line: &Line, payer: usize, hash: &PaymentHash) -> Option<PaymentStatus> {
    line.members[payer].payment_status(hash)
}

/// The failure code payer `payer` got for `hash`.
fn failure_code(line: &mut Line, payer: usize, hash: PaymentHash) -> Option<u16> {
    line.members[payer]
        .take_events()
        .into_iter()
        .find_map(|e| match e {
            Event::PaymentFailed {
                payment_hash,
                reason,
            } if payment_hash == hash => Some(reason.failure_code),
            _ => None,
        })
        .expect("PaymentFailed")
}

/// Bob's `PaymentReceived` events for `hash`: their amounts.
fn received(line: &mut Line, hash: PaymentHash) -> Vec<u64> {
    line.members[BOB]
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::PaymentReceived {
                payment_hash,
                amount_msat,
            } if payment_hash == hash => Some(amount_msat.0),
            _ => None,
        })
        .collect()
}

fn invoice_state(line: &Line, hash: PaymentHash) -> (InvoiceStatus, u64) {
    let inv = line.members[BOB]
        .node
        .list_invoices()
        .into_iter()
        .find(|i| i.payment_hash == hash)
        .unwrap();
    (inv.status, inv.amount_received_msat.0)
}

#[test]
fn our_invoices_and_init_offer_basic_mpp() {
    let (mut line, _) = star(|_, _| {});
    let inv = invoice(&mut line);
    let features = inv.features().expect("the invoice has features");
    assert!(features.supports(Feature::BasicMpp));
    assert!(!features.requires(Feature::BasicMpp));
    assert!(line.members[BOB]
        .node
        .config()
        .features
        .supports(Feature::BasicMpp));
}

#[test]
fn three_parts_over_three_channels_are_fulfilled_only_once_complete() {
    let (mut line, ch) = star(|_, _| {});
    let inv = invoice(&mut line);
    let hash = *inv.payment_hash();
    let first_at = line.now;
    send_part(&mut line, &ch, 0, &inv, 10_000_000, AMOUNT);
    line.now += Duration::from_secs(20);
    send_part(&mut line, &ch, 2, &inv, 12_000_000, AMOUNT);
    // Two parts of three: both held, nothing claimed, nothing reported.
    for payer in [0, 2] {
        assert_eq!(status(&line, payer, &hash), Some(PaymentStatus::Pending));
    }
    assert!(received(&mut line, hash).is_empty());
    assert_eq!(invoice_state(&line, hash), (InvoiceStatus::Open, 0));
    assert_eq!(line.members[BOB].local_msat(ch[0]), 0);
    // The set's timeout is one of Bob's timers.
    let next = line.members[BOB].node.next_timeout().unwrap();
    assert!(next <= first_at + Duration::from_secs(60), "{next:?}");
    // A timer before the deadline fails nothing.
    line.now += Duration::from_secs(30);
    let now = line.now;
    line.members[BOB].node.handle_timeout(now);
    line.shuttle();
    assert_eq!(status(&line, 0, &hash), Some(PaymentStatus::Pending));

    send_part(&mut line, &ch, 3, &inv, 8_000_000, AMOUNT);
    for payer in [0, 2, 3] {
        assert_eq!(
            status(&line, payer, &hash),
            Some(PaymentStatus::Succeeded),
            "payer {payer}"
        );
    }
    assert_eq!(received(&mut line, hash), vec![AMOUNT]);
    assert_eq!(invoice_state(&line, hash), (InvoiceStatus::Paid, AMOUNT));
    assert_eq!(line.members[BOB].local_msat(ch[0]), 10_000_000);
    assert_eq!(line.members[BOB].local_msat(ch[2]), 12_000_000);
    assert_eq!(line.members[BOB].local_msat(ch[3]), 8_000_000);
    assert_eq!(
        line.members[0].node.invoice_preimage(&hash),
        None,
        "the preimage is Bob's"
    );
}

#[test]
fn an_incomplete_set_fails_every_part_with_mpp_timeout() {
    let (mut line, ch) = star(|_, _| {});
    let inv = invoice(&mut line);
    let hash = *inv.payment_hash();
    let before = [
        line.members[0].local_msat(ch[0]),
        line.members[2].local_msat(ch[2]),
    ];
    let first_at = line.now;
    send_part(&mut line, &ch, 0, &inv, 10_000_000, AMOUNT);
    line.now += Duration::from_secs(10);
    send_part(&mut line, &ch, 2, &inv, 10_000_000, AMOUNT);
    // BOLT 4: at least 60 seconds after the first part.
    line.now = first_at + Duration::from_secs(59);
    let now = line.now;
    line.members[BOB].node.handle_timeout(now);
    line.shuttle();
    for payer in [0, 2] {
        assert_eq!(status(&line, payer, &hash), Some(PaymentStatus::Pending));
    }
    line.now = first_at + Duration::from_secs(60);
    let now = line.now;
    line.members[BOB].node.handle_timeout(now);
    line.shuttle();
    for payer in [0, 2] {
        assert_eq!(
            failure_code(&mut line, payer, hash),
            Some(FailureCode::MPP_TIMEOUT.0),
            "payer {payer}"
        );
    }
    assert_eq!(
        [
            line.members[0].local_msat(ch[0]),
            line.members[2].local_msat(ch[2])
        ],
        before
    );
    assert!(received(&mut line, hash).is_empty());
    assert_eq!(invoice_state(&line, hash), (InvoiceStatus::Open, 0));
    // The invoice is still open: a complete payment later succeeds.
    send_part(&mut line, &ch, 0, &inv, AMOUNT, AMOUNT);
    assert_eq!(status(&line, 0, &hash), Some(PaymentStatus::Succeeded));
    assert_eq!(received(&mut line, hash), vec![AMOUNT]);
}

#[test]
fn a_part_with_another_total_fails_the_whole_set() {
    let (mut line, ch) = star(|_, _| {});
    let inv = invoice(&mut line);
    let hash = *inv.payment_hash();
    send_part(&mut line, &ch, 0, &inv, 12_000_000, AMOUNT);
    // With its own total the second part would complete the first's.
    send_part(&mut line, &ch, 2, &inv, 19_000_000, AMOUNT + 1_000_000);
    for payer in [0, 2] {
        assert_eq!(
            failure_code(&mut line, payer, hash),
            Some(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS.0),
            "payer {payer}"
        );
    }
    assert!(received(&mut line, hash).is_empty());
    assert_eq!(invoice_state(&line, hash), (InvoiceStatus::Open, 0));
    assert_eq!(line.members[BOB].local_msat(ch[0]), 0);
}

#[test]
fn a_part_held_across_the_receivers_restart_completes_with_the_next() {
    let (mut line, ch) = star(|_, _| {});
    let inv = invoice(&mut line);
    let hash = *inv.payment_hash();
    send_part(&mut line, &ch, 0, &inv, 20_000_000, AMOUNT);
    assert_eq!(status(&line, 0, &hash), Some(PaymentStatus::Pending));
    // Bob restarts from his store: the part is an HTLC of his channel
    // with Alice, answered again (held again) after reestablishment.
    line.restart(BOB);
    line.shuttle();
    assert_eq!(status(&line, 0, &hash), Some(PaymentStatus::Pending));
    assert!(received(&mut line, hash).is_empty());
    send_part(&mut line, &ch, 2, &inv, 10_000_000, AMOUNT);
    for payer in [0, 2] {
        assert_eq!(
            status(&line, payer, &hash),
            Some(PaymentStatus::Succeeded),
            "payer {payer}"
        );
    }
    assert_eq!(received(&mut line, hash), vec![AMOUNT]);
    assert_eq!(line.members[BOB].local_msat(ch[0]), 20_000_000);
    assert_eq!(line.members[BOB].local_msat(ch[2]), 10_000_000);
    // Both parts are recorded: after another restart neither is claimed
    // twice nor reported twice.
    line.restart(BOB);
    line.shuttle();
    assert!(received(&mut line, hash).is_empty());
    assert_eq!(invoice_state(&line, hash), (InvoiceStatus::Paid, AMOUNT));
    // The invoice is paid: another part, even with the right secret and
    // total, is not claimed.
    send_part(&mut line, &ch, 3, &inv, 1_000_000, AMOUNT);
    assert_eq!(
        failure_code(&mut line, 3, hash),
        Some(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS.0)
    );
    assert_eq!(invoice_state(&line, hash), (InvoiceStatus::Paid, AMOUNT));
}

#[test]
fn a_total_over_twice_the_invoice_is_refused() {
    let (mut line, ch) = star(|_, _| {});
    let inv = invoice(&mut line);
    let hash = *inv.payment_hash();
    // BOLT 4: the amount paid (`total_msat`) at most twice the amount.
    send_part(&mut line, &ch, 0, &inv, 10_000_000, 2 * AMOUNT + 1);
    assert_eq!(
        failure_code(&mut line, 0, hash),
        Some(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS.0)
    );
    // Below the amount too, even whole.
    send_part(&mut line, &ch, 2, &inv, AMOUNT - 1, AMOUNT - 1);
    assert_eq!(
        failure_code(&mut line, 2, hash),
        Some(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS.0)
    );
    // Twice the amount is paid.
    send_part(&mut line, &ch, 3, &inv, 2 * AMOUNT, 2 * AMOUNT);
    assert_eq!(status(&line, 3, &hash), Some(PaymentStatus::Succeeded));
    assert_eq!(received(&mut line, hash), vec![2 * AMOUNT]);
}

#[test]
fn a_part_beyond_the_bound_of_parts_is_refused_alone() {
    let (mut line, ch) = star(|i, c| {
        if i == BOB {
            c.mpp_receive.max_parts_per_payment = 2;
        }
    });
    let inv = invoice(&mut line);
    let hash = *inv.payment_hash();
    send_part(&mut line, &ch, 0, &inv, 5_000_000, AMOUNT);
    send_part(&mut line, &ch, 2, &inv, 5_000_000, AMOUNT);
    // A third part that would not complete the set: over the bound.
    send_part(&mut line, &ch, 3, &inv, 5_000_000, AMOUNT);
    assert_eq!(
        failure_code(&mut line, 3, hash),
        Some(FailureCode::TEMPORARY_NODE_FAILURE.0)
    );
    // The two parts within the bound are still held, and time out.
    for payer in [0, 2] {
        assert_eq!(status(&line, payer, &hash), Some(PaymentStatus::Pending));
    }
    line.now += Duration::from_secs(61);
    let now = line.now;
    line.members[BOB].node.handle_timeout(now);
    line.shuttle();
    for payer in [0, 2] {
        assert_eq!(
            failure_code(&mut line, payer, hash),
            Some(FailureCode::MPP_TIMEOUT.0)
        );
    }
    assert!(received(&mut line, hash).is_empty());
}

#[test]
fn a_hold_invoice_paid_in_two_parts_is_held_and_claimed_whole() {
    let (mut line, ch) = star(|_, _| {});
    let preimage = PaymentPreimage([0x61; 32]);
    let hash = PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array());
    let now = line.now;
    let inv = line.members[BOB]
        .node
        .create_hold_invoice(
            hash,
            Some(Msat(AMOUNT)),
            "hold split",
            Duration::from_secs(3600),
            now,
        )
        .unwrap();
    let accepted = |line: &mut Line| -> Vec<u64> {
        line.members[BOB]
            .take_events()
            .into_iter()
            .filter_map(|e| match e {
                Event::HoldInvoiceAccepted {
                    payment_hash,
                    amount_msat,
                    ..
                } if payment_hash == hash => Some(amount_msat.0),
                _ => None,
            })
            .collect()
    };
    send_part(&mut line, &ch, 0, &inv, 16_000_000, AMOUNT);
    assert!(accepted(&mut line).is_empty(), "one part is not the set");
    assert!(line.members[BOB]
        .node
        .claim_for_hash(preimage, now)
        .is_err());
    send_part(&mut line, &ch, 2, &inv, 14_000_000, AMOUNT);
    assert_eq!(accepted(&mut line), vec![AMOUNT]);
    // Held past the MPP timeout: the set is complete, the host decides.
    line.now += Duration::from_secs(120);
    let now = line.now;
    line.members[BOB].node.handle_timeout(now);
    line.shuttle();
    // Across a restart the whole set is still held (the record names
    // both parts) and announced again, once.
    line.restart(BOB);
    line.shuttle();
    assert_eq!(accepted(&mut line), vec![AMOUNT]);
    for payer in [0, 2] {
        assert_eq!(status(&line, payer, &hash), Some(PaymentStatus::Pending));
    }
    let now = line.now;
    line.members[BOB]
        .node
        .claim_for_hash(preimage, now)
        .unwrap();
    line.shuttle();
    for payer in [0, 2] {
        assert_eq!(
            status(&line, payer, &hash),
            Some(PaymentStatus::Succeeded),
            "payer {payer}"
        );
    }
    assert_eq!(received(&mut line, hash), vec![AMOUNT]);
    assert_eq!(line.members[BOB].local_msat(ch[0]), 16_000_000);
    assert_eq!(line.members[BOB].local_msat(ch[2]), 14_000_000);
}

#[test]
fn a_hold_invoice_failed_by_the_host_fails_every_part() {
    let (mut line, ch) = star(|_, _| {});
    let hash = PaymentHash(sha256::Hash::hash(&[0x71; 32]).to_byte_array());
    let now = line.now;
    let inv = line.members[BOB]
        .node
        .create_hold_invoice(
            hash,
            Some(Msat(AMOUNT)),
            "x",
            Duration::from_secs(3600),
            now,
        )
        .unwrap();
    // A complete set of two, and (another payment) nothing else.
    send_part(&mut line, &ch, 0, &inv, 15_000_000, AMOUNT);
    send_part(&mut line, &ch, 2, &inv, 15_000_000, AMOUNT);
    line.members[BOB].node.fail_for_hash(hash, now).unwrap();
    line.shuttle();
    for payer in [0, 2] {
        assert_eq!(
            failure_code(&mut line, payer, hash),
            Some(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS.0),
            "payer {payer}"
        );
    }
    assert_eq!(line.members[BOB].local_msat(ch[0]), 0);
    assert_eq!(line.members[BOB].local_msat(ch[2]), 0);
}

#[test]
fn a_part_too_close_to_its_expiry_is_refused_alone() {
    let (mut line, ch) = star(|_, _| {});
    let inv = invoice(&mut line);
    let hash = *inv.payment_hash();
    send_part(&mut line, &ch, 0, &inv, 10_000_000, AMOUNT);
    // Carol's part leaves 10 + 3 blocks, less than Bob's
    // `min_final_cltv_expiry_delta` of 18 (BOLT 4: each HTLC is checked).
    let route = Route {
        hops: vec![RouteHop {
            node_id: line.members[BOB].id(),
            short_channel_id: line.members[2].scid(ch[2]),
            fee_msat: 0,
            cltv_expiry_delta: 0,
        }],
    };
    let short = RecipientOnion {
        amount_msat: 20_000_000,
        total_msat: Some(AMOUNT),
        payment_secret: Some(inv.payment_secret().0),
        final_cltv_expiry_delta: 10,
        ..RecipientOnion::default()
    };
    let now = line.now;
    line.members[2]
        .node
        .send_to_route(&route, hash, &short, now)
        .unwrap();
    line.shuttle();
    assert_eq!(
        failure_code(&mut line, 2, hash),
        Some(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS.0)
    );
    // Alice's part is still held; Dave's completes the set.
    assert_eq!(status(&line, 0, &hash), Some(PaymentStatus::Pending));
    send_part(&mut line, &ch, 3, &inv, 20_000_000, AMOUNT);
    for payer in [0, 3] {
        assert_eq!(status(&line, payer, &hash), Some(PaymentStatus::Succeeded));
    }
    assert_eq!(received(&mut line, hash), vec![AMOUNT]);
}

#[test]
fn an_incomplete_set_fails_when_a_part_reaches_its_claim_deadline() {
    let (mut line, ch) = star(|_, _| {});
    let inv = invoice(&mut line);
    let hash = *inv.payment_hash();
    let height = line.chain.best_block().height;
    send_part(&mut line, &ch, 0, &inv, 10_000_000, AMOUNT);
    // The part expires at height + 18 + 3 (the payer's slack); it must be
    // failed by the fulfilment deadline (12) plus the margin (2) before:
    // at height + 7, well within the 60 s of the timeout.
    line.mine(6);
    assert_eq!(status(&line, 0, &hash), Some(PaymentStatus::Pending));
    line.mine(1);
    assert_eq!(
        failure_code(&mut line, 0, hash),
        Some(FailureCode::MPP_TIMEOUT.0)
    );
    assert_eq!(line.chain.best_block().height, height + 7);
    assert_eq!(invoice_state(&line, hash), (InvoiceStatus::Open, 0));
}

#[test]
fn parts_beyond_the_nodes_bound_of_held_parts_are_refused() {
    let (mut line, ch) = star(|i, c| {
        if i == BOB {
            c.mpp_receive.max_held_parts = 1;
        }
    });
    let first = invoice(&mut line);
    let second = invoice(&mut line);
    send_part(&mut line, &ch, 0, &first, 10_000_000, AMOUNT);
    // Another payment's part: over the node's bound.
    send_part(&mut line, &ch, 2, &second, 10_000_000, AMOUNT);
    assert_eq!(
        failure_code(&mut line, 2, *second.payment_hash()),
        Some(FailureCode::TEMPORARY_NODE_FAILURE.0)
    );
    assert_eq!(
        status(&line, 0, first.payment_hash()),
        Some(PaymentStatus::Pending)
    );
    // A part completing its set is never held: taken at the bound (a
    // whole payment here), so a full node still takes payments.
    send_part(&mut line, &ch, 3, &second, AMOUNT, AMOUNT);
    assert_eq!(
        status(&line, 3, second.payment_hash()),
        Some(PaymentStatus::Succeeded)
    );
    assert_eq!(received(&mut line, *second.payment_hash()), vec![AMOUNT]);
}

#[test]
fn a_part_on_a_disconnected_channel_is_fulfilled_on_reconnection() {
    let (mut line, ch) = star(|_, _| {});
    let inv = invoice(&mut line);
    let hash = *inv.payment_hash();
    send_part(&mut line, &ch, 0, &inv, 10_000_000, AMOUNT);
    // A reconnection answers Alice's part again: still held, once.
    line.disconnect(0);
    line.connect(0);
    line.shuttle();
    assert_eq!(status(&line, 0, &hash), Some(PaymentStatus::Pending));
    // Alice goes away; Carol's part completes the set. Bob records both
    // parts as paying the invoice; Alice's is fulfilled when she is back.
    line.disconnect(0);
    send_part(&mut line, &ch, 2, &inv, 20_000_000, AMOUNT);
    assert_eq!(status(&line, 2, &hash), Some(PaymentStatus::Succeeded));
    assert_eq!(status(&line, 0, &hash), Some(PaymentStatus::Pending));
    assert_eq!(received(&mut line, hash), vec![AMOUNT]);
    // Even across Bob's restart while she is away.
    line.restart(BOB);
    line.disconnect(0);
    line.shuttle();
    line.connect(0);
    line.shuttle();
    assert_eq!(status(&line, 0, &hash), Some(PaymentStatus::Succeeded));
    assert_eq!(line.members[BOB].local_msat(ch[0]), 10_000_000);
    assert!(received(&mut line, hash).is_empty(), "reported once");
}
