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
    assert!(total > 20, "{total}");
    let mut crashed = 0;
    let mut runs = 0;
    for k in (1..=total).step_by(3) {
        crashed += scenario(Some(k), true, false).crashes.len();
        crashed += scenario(Some(k), false, true).crashes.len();
        runs += 2;
    }
    // The crash points fell inside the runs (not past their end): the
    // scenarios really restarted a node mid-stream.
    assert!(crashed >= runs / 2, "{crashed} crashes in {runs} runs");
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

/// The channel record names the peer (an odd field), so a node restores
/// from the channel records alone; a store written before that (the first
/// record format, the peer under `channel_peers/<id>`) still restores, and
/// without either the restore fails and says why.
#[test]
fn restore_finds_the_peer_in_the_record_or_an_older_store() {
    use lightning_core::channel::record::{decode_snapshot, encode_snapshot_first_format};
    use lightning_core::channel::{Channel, ChannelConfig};
    use lightning_core::keys::KeysManager;
    use lightning_persist::KvStore;

    let mut net = Net::new(false, false);
    net.open_channel(400_000, 0);
    net.pay(true, 20_000_000);
    let ns = "node";
    let keys = net.a.store.list(ns).unwrap();
    assert!(
        !keys.iter().any(|k| k.starts_with("channel_peers/")),
        "{keys:?}"
    );
    net.restart(true);
    net.pay(true, 10_000_000);

    // Rewrite Alice's channel as a store of the first format would hold it:
    // one snapshot with no peer in it, and the peer under its own key.
    let bob = net.b.node.node_id();
    let keys = net.a.store.list(ns).unwrap();
    let snap_key = keys
        .iter()
        .find(|k| k.ends_with("/snapshot"))
        .unwrap()
        .clone();
    let prefix = snap_key.trim_end_matches("snapshot").to_string();
    let snapshot = net.a.store.read(ns, &snap_key).unwrap().unwrap();
    let update_keys: Vec<String> = keys
        .iter()
        .filter(|k| k.starts_with(&format!("{prefix}u/")))
        .cloned()
        .collect();
    let mut seq = snapshot.version;
    let mut updates = Vec::new();
    for k in &update_keys {
        let v = net.a.store.read(ns, k).unwrap().unwrap();
        seq = seq.max(v.version);
        updates.push(v.value);
    }
    let (st0, _) = decode_snapshot(&snapshot.value).unwrap();
    let signer = KeysManager::new(&net.a.seed)
        .unwrap()
        .derive_channel_signer(st0.keys_index)
        .unwrap();
    let channel =
        Channel::restore(signer, ChannelConfig::default(), &snapshot.value, &updates).unwrap();
    let mut state = channel.state().clone();
    assert_eq!(
        state.counterparty_node_id,
        Some(bob),
        "the record names Bob"
    );
    state.counterparty_node_id = None;
    let old = encode_snapshot_first_format(&state, seq + 1);
    for k in &update_keys {
        net.a.store.remove(ns, k).unwrap();
    }
    net.a.store.write(ns, &snap_key, seq + 1, &old).unwrap();
    let id_hex = prefix
        .trim_start_matches("channels/")
        .trim_end_matches('/')
        .to_string();
    let peer_key = format!("channel_peers/{id_hex}");

    // Without the old peer key the restore names the problem.
    net.disconnect();
    let err = lightning_core::node::Node::restore(
        &net.a.seed,
        node_support::config(),
        lightning_core::node::Persistence::Inline(net.a.store.clone()),
        net.a.node_host(&net.chain),
        net.chain.best_block(),
        &*net.a.store,
    )
    .expect_err("no peer anywhere");
    assert!(err.to_string().contains("counterparty unknown"), "{err}");

    // With it, the channel comes back and works on.
    net.a
        .store
        .write(ns, &peer_key, 1, &bob.serialize())
        .unwrap();
    net.a.restart(&net.chain);
    net.connect();
    net.pay(true, 5_000_000);
    net.pay(false, 1_000_000);
}

/// A payee that crashes after marking an invoice paid (the record is
/// written, the preimage is about to leave) and before its application took
/// the `PaymentReceived` event must still report the payment once
/// restored: the payer is told it paid, so the payee's application must
/// hear that it was paid, at least once.
///
/// Known bug, found by the LDK interop scenario
/// `s6_restart_from_store_mid_stream` (its crash-on-receipt part fails
/// about one run in eight): `PaymentReceived` is queued only in memory when
/// the invoice record turns `Paid` (`node/invoices.rs`), and a restored node
/// answers the HTLC again without emitting it, because the invoice is
/// already `Paid`. Ignored until the node persists undelivered events (or
/// re-emits them on restore); run it with `--ignored` to see it fail.
#[test]
#[ignore = "known bug: PaymentReceived is lost when the payee crashes after marking the invoice paid"]
fn payee_crash_after_marking_paid_still_reports_the_payment() {
    use lightning_core::node::{InvoiceStatus, PaymentHash, PaymentStatus};
    let mut net = Net::new(false, false);
    net.open_channel(400_000, 0);
    net.a.take_events();
    net.b.take_events();
    let now = net.now;
    let invoice = net
        .b
        .node
        .create_invoice(Some(2_000_000), "x", 3600, now)
        .unwrap();
    let hash = PaymentHash(invoice.payment_hash().to_byte_array());
    net.a.node.pay_invoice(&invoice, now).unwrap();
    let paid = |n: &lightning_core::node::Node| {
        n.list_invoices()
            .iter()
            .any(|i| i.payment_hash == hash && i.status == InvoiceStatus::Paid)
    };
    // Bytes by hand, Bob's events not taken; stop as soon as Bob's record
    // says paid.
    let (pa, pb) = (net.a.peer.unwrap(), net.b.peer.unwrap());
    for _ in 0..100 {
        if let Some(bytes) = net.a.node.poll_transmit(pa) {
            net.b.node.handle_bytes(pb, &bytes, now).unwrap();
            if paid(&net.b.node) {
                break;
            }
        }
        if let Some(bytes) = net.b.node.poll_transmit(pb) {
            net.a.node.handle_bytes(pa, &bytes, now).unwrap();
        }
    }
    assert!(paid(&net.b.node), "Bob marked the invoice paid");
    // Bob crashes: what he had not handed out is gone.
    net.restart(false);
    net.shuttle();
    let status = net
        .a
        .node
        .list_payments()
        .into_iter()
        .find(|p| p.payment_hash == hash)
        .map(|p| p.status);
    assert_eq!(status, Some(PaymentStatus::Succeeded), "Alice paid");
    let events = net.b.take_events();
    assert!(
        events.iter().any(
            |e| matches!(e, Event::PaymentReceived { payment_hash, amount_msat: 2_000_000 } if *payment_hash == hash)
        ),
        "Bob was paid and never told: {events:?}"
    );
}
