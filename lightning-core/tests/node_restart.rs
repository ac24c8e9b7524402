//! Restarts and crashes: a node dropped after a write and before the
//! message it guards was transmitted, restored from its store alone, loses
//! nothing; async persistence holds messages until their writes complete.
#![allow(clippy::unwrap_used)]

mod node_support;

use bitcoin::hashes::Hash;
use lightning_core::node::Event;
use node_support::Net;

/// The whole life of a channel, with a crash of the sender in place of
/// transmission number `crash_at`.
fn scenario(crash_at: Option<usize>, a_async: bool, b_async: bool) -> Net {
    let mut net = Net::new(a_async, b_async);
    net.crash_at = crash_at.map(|c| c + net.steps);
    let id = net.open_channel(400_000, 0);
    for _ in 0..2 {
        net.pay(true, 20_000_000);
    }
    net.pay(false, 5_000_000);
    let (a_out, b_out) = net.close_and_check(id, 400_000);
    assert_eq!(b_out, 35_000, "crash at {crash_at:?}: {:?}", net.crashes);
    assert!(a_out > 300_000);
    net
}

#[test]
fn crash_before_any_transmission_loses_nothing() {
    // How many transmissions the run takes without a crash.
    let clean = scenario(None, false, false);
    let total = clean.steps;
    assert!(total > 20, "{total}");
    let mut crashed = 0;
    for k in 1..=total {
        let net = scenario(Some(k), false, false);
        crashed += net.crashes.len();
    }
    assert!(crashed >= total / 2, "{crashed} of {total}");
}

#[test]
fn crash_with_async_persistence_loses_nothing() {
    let clean = scenario(None, true, true);
    let total = clean.steps;
    for k in (1..=total).step_by(3) {
        scenario(Some(k), true, false);
        scenario(Some(k), false, true);
    }
}

#[test]
fn restart_either_node_mid_stream_of_payments() {
    let mut net = Net::new(false, false);
    let id = net.open_channel(400_000, 0);
    net.a.take_events();
    net.b.take_events();
    let now = net.now;
    let mut invoices = Vec::new();
    for i in 0..6 {
        invoices.push(
            net.b
                .node
                .create_invoice(Some(1_000_000 + i), "x", 3600, now)
                .unwrap(),
        );
    }
    // Three in flight, then Alice restarts before Bob has answered.
    for inv in &invoices[..3] {
        net.a.node.pay_invoice(inv, now).unwrap();
    }
    let (pa, pb) = (net.a.peer.unwrap(), net.b.peer.unwrap());
    // One message of Alice's reaches Bob; the rest is lost.
    let bytes = net.a.node.poll_transmit(pa).unwrap();
    net.b.node.handle_bytes(pb, &bytes, now).unwrap();
    net.restart(true);
    net.shuttle();
    // Failed (never committed) payments are retried.
    for inv in &invoices[..3] {
        let status = net
            .a
            .node
            .list_payments()
            .into_iter()
            .find(|p| p.payment_hash.0 == inv.payment_hash().to_byte_array())
            .map(|p| p.status);
        if status == Some(lightning_core::node::PaymentStatus::Failed) {
            net.a.node.pay_invoice(inv, now).unwrap();
            net.shuttle();
        }
    }
    // Three more, Bob restarts mid-dance.
    for inv in &invoices[3..] {
        net.a.node.pay_invoice(inv, now).unwrap();
    }
    for _ in 0..3 {
        if let Some(b) = net.a.node.poll_transmit(net.a.peer.unwrap()) {
            net.b
                .node
                .handle_bytes(net.b.peer.unwrap(), &b, now)
                .unwrap();
        }
        if let Some(b) = net.b.node.poll_transmit(net.b.peer.unwrap()) {
            net.a
                .node
                .handle_bytes(net.a.peer.unwrap(), &b, now)
                .unwrap();
        }
    }
    net.restart(false);
    net.shuttle();
    for inv in &invoices[3..] {
        let status = net
            .a
            .node
            .list_payments()
            .into_iter()
            .find(|p| p.payment_hash.0 == inv.payment_hash().to_byte_array())
            .map(|p| p.status);
        if status == Some(lightning_core::node::PaymentStatus::Failed) {
            net.a.node.pay_invoice(inv, now).unwrap();
            net.shuttle();
        }
    }
    let sent: u64 = net
        .a
        .node
        .list_payments()
        .iter()
        .filter(|p| p.status == lightning_core::node::PaymentStatus::Succeeded)
        .map(|p| p.amount_msat)
        .sum();
    assert_eq!(sent, 6_000_015);
    assert_eq!(Net::local_msat(&net.b.node, id), 6_000_015);
    assert_eq!(
        net.b
            .node
            .list_invoices()
            .iter()
            .filter(|i| i.status == lightning_core::node::InvoiceStatus::Paid)
            .count(),
        6
    );
    net.close_and_check(id, 400_000);
}

#[test]
fn async_messages_wait_for_their_writes() {
    let mut net = Net::new(true, false);
    let id = net.open_channel(300_000, 0);
    net.a.take_events();
    let now = net.now;
    let invoice = net
        .b
        .node
        .create_invoice(Some(7_000_000), "x", 3600, now)
        .unwrap();
    net.a.auto_complete = false;
    net.a.node.pay_invoice(&invoice, now).unwrap();
    // The payment record and the channel write are handed out; nothing
    // leaves until they complete.
    let pa = net.a.peer.unwrap();
    assert!(net.a.node.has_held_messages());
    assert_eq!(net.a.node.poll_transmit(pa), None);
    let first = net.a.node.poll_persist().unwrap();
    let second = net.a.node.poll_persist().unwrap();
    assert!(first.key.starts_with("payments/"), "{}", first.key);
    // Completing out of order: still held until both are done.
    net.a.node.persist_completed(second.id);
    assert_eq!(net.a.node.poll_transmit(pa), None);
    // A crash now loses the write that never completed: the restored node
    // has no trace of the HTLC (it never left) and the payment can go again.
    net.restart(true);
    net.a.auto_complete = true;
    net.shuttle();
    net.a.node.pay_invoice(&invoice, now).unwrap();
    net.shuttle();
    assert!(net
        .a
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::PaymentSent { .. })));
    assert_eq!(Net::local_msat(&net.b.node, id), 7_000_000);
    net.close_and_check(id, 300_000);
}
