//! Restarts and crashes: a node dropped after a write and before the
//! message it guards was transmitted, restored from its store alone, loses
//! nothing; async persistence holds messages until their writes complete.
#![allow(clippy::unwrap_used)]

mod node_support;

use std::time::Duration;

use bitcoin::hashes::Hash;
use lightning_core::node::{Event, InvoiceStatus, Node, PaymentHash, PaymentStatus};
use lightning_core::Msat;
use lightning_wire::bolt11::Bolt11Invoice;
use lightning_wire::types::ChannelId;
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

/// How many transmissions [`scenario`] takes without a crash, asserted
/// to be more than 20.
fn clean_steps(a_async: bool, b_async: bool) -> usize {
    let clean = scenario(None, a_async, b_async);
    let total = clean.steps;
    assert!(total > 20, "{total}");
    total
}

/// Opens a channel of `sat` from Alice to Bob and takes both nodes'
/// events (the opening's).
fn open_quietly(net: &mut Net, sat: u64) -> ChannelId {
    let id = net.open_channel(sat, 0);
    net.a.take_events();
    net.b.take_events();
    id
}

/// Bob's invoice for `amount_msat`.
fn bob_invoice(net: &mut Net, amount_msat: u64) -> Bolt11Invoice {
    let now = net.now;
    net.b
        .node
        .create_invoice(Some(Msat(amount_msat)), "x", Duration::from_secs(3600), now)
        .unwrap()
}

/// The payment hash of `invoice`, as the nodes' records name it.
fn hash_of(invoice: &Bolt11Invoice) -> PaymentHash {
    PaymentHash(invoice.payment_hash().0)
}

/// Whether `node` holds its invoice `hash` as paid.
fn invoice_paid(node: &Node, hash: PaymentHash) -> bool {
    node.list_invoices()
        .iter()
        .any(|i| i.payment_hash == hash && i.status == InvoiceStatus::Paid)
}

/// Alice pays again, at `now`, those of `invoices` whose payments failed
/// (they were never committed), the line settling after each.
fn repay_failed(net: &mut Net, invoices: &[Bolt11Invoice], now: Duration) {
    for inv in invoices {
        if payment_status(&net.a.node, hash_of(inv)) == Some(PaymentStatus::Failed) {
            net.a.node.pay_invoice(inv, now).unwrap();
            net.shuttle();
        }
    }
}

#[test]
fn crash_before_any_transmission_loses_nothing() {
    // How many transmissions the run takes without a crash.
    let total = clean_steps(false, false);
    let mut crashed = 0;
    for k in 1..=total {
        let net = scenario(Some(k), false, false);
        crashed += net.crashes.len();
    }
    assert!(crashed >= total / 2, "{crashed} of {total}");
}

#[test]
fn crash_with_async_persistence_loses_nothing() {
    let total = clean_steps(true, true);
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
    let id = open_quietly(&mut net, 400_000);
    let now = net.now;
    let invoices: Vec<Bolt11Invoice> = (0..6)
        .map(|i| bob_invoice(&mut net, 1_000_000 + i))
        .collect();
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
    repay_failed(&mut net, &invoices[..3], now);
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
    repay_failed(&mut net, &invoices[3..], now);
    let sent: u64 = net
        .a
        .node
        .list_payments()
        .iter()
        .filter(|p| p.status == PaymentStatus::Succeeded)
        .map(|p| p.amount_msat.0)
        .sum();
    assert_eq!(sent, 6_000_015);
    assert_eq!(Net::local_msat(&net.b.node, id), 6_000_015);
    assert_eq!(
        net.b
            .node
            .list_invoices()
            .iter()
            .filter(|i| i.status == InvoiceStatus::Paid)
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
    let invoice = bob_invoice(&mut net, 7_000_000);
    net.a.auto_complete = false;
    net.a.node.pay_invoice(&invoice, now).unwrap();
    // The payment record and the channel write are handed out as one
    // batch (one step, one durable operation); nothing leaves until it
    // completes.
    let pa = net.a.peer.unwrap();
    assert!(net.a.node.has_held_messages());
    assert_eq!(net.a.node.poll_transmit(pa), None);
    let batch = net.a.node.poll_persist().unwrap();
    assert!(net.a.node.poll_persist().is_none(), "one step, one batch");
    let keys: Vec<&str> = batch
        .ops
        .iter()
        .map(|op| match op {
            lightning_persist::BatchOp::Write { key, .. }
            | lightning_persist::BatchOp::Remove { key, .. } => key.as_str(),
        })
        .collect();
    assert!(keys[0].starts_with("payments/"), "{keys:?}");
    assert!(keys.iter().any(|k| k.starts_with("channels/")), "{keys:?}");
    // A completion for another id releases nothing.
    net.a
        .node
        .persist_completed(lightning_core::node::PersistId(batch.id.0 + 1));
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
    let err = lightning_core::node::NodeBuilder::from_config(node_support::config())
        .seed(&net.a.seed)
        .persistence(lightning_core::node::Persistence::Inline(
            net.a.store.clone(),
        ))
        .host(net.a.node_host(&net.chain))
        .best_block(net.chain.best_block())
        .build()
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
/// Found by the LDK interop scenario `s6_restart_from_store_mid_stream`
/// (its crash-on-receipt part failed about one run in eight):
/// `PaymentReceived` was queued only in memory when the invoice record
/// turned `Paid`, and a restored node answered the HTLC again without
/// emitting it. Fails on main before the `events` branch.
#[test]
fn payee_crash_after_marking_paid_still_reports_the_payment() {
    let mut net = Net::new(false, false);
    open_quietly(&mut net, 400_000);
    let now = net.now;
    let invoice = bob_invoice(&mut net, 2_000_000);
    let hash = hash_of(&invoice);
    net.a.node.pay_invoice(&invoice, now).unwrap();
    // Bytes by hand, Bob's events not taken; stop as soon as Bob's record
    // says paid.
    deliver_until(&mut net, 100, |_| {}, |n| invoice_paid(&n.b.node, hash));
    assert!(
        invoice_paid(&net.b.node, hash),
        "Bob marked the invoice paid"
    );
    // Bob crashes: what he had not handed out is gone.
    net.restart(false);
    net.shuttle();
    let status = payment_status(&net.a.node, hash);
    assert_eq!(status, Some(PaymentStatus::Succeeded), "Alice paid");
    let events = net.b.take_events();
    assert!(
        events.iter().any(
            |e| matches!(e, Event::PaymentReceived { payment_hash, amount_msat: Msat(2_000_000) } if *payment_hash == hash)
        ),
        "Bob was paid and never told: {events:?}"
    );
}

/// Moves bytes by hand, without taking either node's events: at most
/// `rounds` rounds of `before_round`, then Alice's next message to Bob,
/// then Bob's to Alice, until `stop` holds (checked before each round
/// and after each delivery to Bob). Gives whether it held.
fn deliver_until(
    net: &mut Net,
    rounds: usize,
    mut before_round: impl FnMut(&mut Net),
    stop: impl Fn(&Net) -> bool,
) -> bool {
    let (pa, pb) = (net.a.peer.unwrap(), net.b.peer.unwrap());
    let now = net.now;
    for _ in 0..rounds {
        if stop(net) {
            return true;
        }
        before_round(net);
        if let Some(bytes) = net.a.node.poll_transmit(pa) {
            net.b.node.handle_bytes(pb, &bytes, now).unwrap();
            if stop(net) {
                return true;
            }
        }
        if let Some(bytes) = net.b.node.poll_transmit(pb) {
            net.a.node.handle_bytes(pa, &bytes, now).unwrap();
        }
    }
    false
}

/// Moves bytes by hand, without taking either node's events, until
/// `stop` holds (checked after each delivery); panics after 200 rounds.
fn shuttle_until(net: &mut Net, stop: impl Fn(&Net) -> bool) {
    if !deliver_until(net, 200, |_| {}, stop) {
        panic!("the condition never held");
    }
}

/// The status of `n`'s payment `hash`.
fn payment_status(n: &Node, hash: PaymentHash) -> Option<PaymentStatus> {
    n.list_payments()
        .into_iter()
        .find(|p| p.payment_hash == hash)
        .map(|p| p.status)
}

/// The payer's side of the same gap: the payment record says `Succeeded`
/// and the node crashes before the host took `PaymentSent`. The restored
/// node reports it, with the preimage. Fails on main before the `events`
/// branch (the record is already `Succeeded`, so nothing is raised).
#[test]
fn payer_crash_after_success_still_reports_the_payment() {
    use lightning_core::node::PaymentPreimage;
    let mut net = Net::new(false, false);
    open_quietly(&mut net, 400_000);
    let now = net.now;
    let invoice = bob_invoice(&mut net, 3_000_000);
    let hash = hash_of(&invoice);
    net.a.node.pay_invoice(&invoice, now).unwrap();
    shuttle_until(&mut net, |n| {
        payment_status(&n.a.node, hash) == Some(PaymentStatus::Succeeded)
    });
    net.restart(true);
    net.shuttle();
    let events = net.a.take_events();
    let sent: Vec<PaymentPreimage> = events
        .iter()
        .filter_map(|e| match e {
            Event::PaymentSent {
                payment_hash,
                preimage,
                ..
            } if *payment_hash == hash => Some(*preimage),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 1, "Alice paid and was told once: {events:?}");
    assert_eq!(
        bitcoin::hashes::sha256::Hash::hash(&sent[0].0).to_byte_array(),
        hash.0,
        "the proof of payment"
    );
}

/// The payer crashes after recording a failure and before the host took
/// `PaymentFailed`: the restored node reports the same failure (code,
/// failing hop, decoded reason). Fails on main before the `events` branch.
#[test]
fn payer_crash_after_failure_still_reports_the_failure() {
    use lightning_core::onion::{FailureCode, FailureReason};
    let mut net = Net::new(false, false);
    net.open_channel(400_000, 0);
    net.a.take_events();
    let now = net.now;
    // An invoice Bob signed and then forgot: his answer is a failure.
    let invoice = bob_invoice(&mut net, 7_000);
    net.b.forget_invoice(&invoice);
    net.restart(false);
    net.shuttle();
    let hash = hash_of(&invoice);
    net.a.node.pay_invoice(&invoice, now).unwrap();
    shuttle_until(&mut net, |n| {
        payment_status(&n.a.node, hash) == Some(PaymentStatus::Failed)
    });
    net.restart(true);
    net.shuttle();
    let events = net.a.take_events();
    let failures: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::PaymentFailed {
                payment_hash,
                reason,
            } if *payment_hash == hash => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(failures.len(), 1, "Alice was told once: {events:?}");
    let f = &failures[0];
    assert_eq!(
        f.failure_code,
        Some(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS.0)
    );
    assert_eq!(f.failing_hop, Some(0));
    assert!(
        matches!(
            f.failure,
            Some(FailureReason::IncorrectOrUnknownPaymentDetails {
                htlc_msat: 7_000,
                ..
            })
        ),
        "{f:?}"
    );
}

/// At least once, and no more than that once acknowledged: an event handed
/// out and not acknowledged (no later `poll_event`) comes again after a
/// restart; once acknowledged, it does not.
#[test]
fn acknowledged_payment_events_are_not_raised_again() {
    let mut net = Net::new(false, false);
    net.open_channel(400_000, 0);
    let hash = net.pay(true, 1_000_000);
    // `shuttle` took every event (its last `poll_event` returned `None`,
    // which acknowledges the one before it).
    assert_eq!(received_of(&net.b.take_events(), hash), 1);
    assert_eq!(sent_of(&net.a.take_events(), hash), 1);
    net.restart(true);
    net.restart(false);
    net.shuttle();
    assert_eq!(
        received_of(&net.b.take_events(), hash),
        0,
        "Bob acknowledged it"
    );
    assert_eq!(
        sent_of(&net.a.take_events(), hash),
        0,
        "Alice acknowledged it"
    );

    // Handed out, never acknowledged: it comes again after a restart,
    // until acknowledged.
    let now = net.now;
    let invoice = bob_invoice(&mut net, 2_000_000);
    let hash2 = hash_of(&invoice);
    net.a.node.pay_invoice(&invoice, now).unwrap();
    shuttle_until(&mut net, |n| invoice_paid(&n.b.node, hash2));
    // Bob's host takes the event and crashes before asking for the next.
    let first = net.b.node.poll_event();
    assert!(
        matches!(first, Some(Event::PaymentReceived { payment_hash, .. }) if payment_hash == hash2),
        "{first:?}"
    );
    net.restart(false);
    net.shuttle();
    let again = net.b.take_events();
    assert_eq!(
        received_of(&again, hash2),
        1,
        "not acknowledged, so raised again: {again:?}"
    );
    net.restart(false);
    net.shuttle();
    let none = net.b.take_events();
    assert_eq!(
        received_of(&none, hash2),
        0,
        "acknowledged by the next poll_event: {none:?}"
    );
}

/// How many of `evs` say the payment `hash` was received.
fn received_of(evs: &[Event], hash: PaymentHash) -> usize {
    evs.iter()
        .filter(
            |e| matches!(e, Event::PaymentReceived { payment_hash, .. } if *payment_hash == hash),
        )
        .count()
}

/// How many of `evs` say the payment `hash` was sent.
fn sent_of(evs: &[Event], hash: PaymentHash) -> usize {
    evs.iter()
        .filter(|e| matches!(e, Event::PaymentSent { payment_hash, .. } if *payment_hash == hash))
        .count()
}

/// A cooperative close recorded (the closing transaction fully signed) and
/// the node crashes before the host took `ChannelClosed`: the restored node
/// reports it, with the closing transaction; once taken, not again.
#[test]
fn channel_closed_survives_a_crash_before_the_host_took_it() {
    use lightning_core::channel::Phase;
    let mut net = Net::new(false, false);
    let id = open_quietly(&mut net, 400_000);
    net.a.node.close_channel(id).unwrap();
    let closed = |n: &Node| {
        n.list_channels()
            .iter()
            .any(|c| c.channel_id == id && c.phase == Phase::Closed)
    };
    shuttle_until(&mut net, |n| closed(&n.a.node));
    net.disconnect();
    net.a.restart(&net.chain);
    let events = net.a.take_events();
    let tx = events.iter().find_map(|e| match e {
        Event::ChannelClosed {
            channel_id,
            closing_tx,
            ..
        } if *channel_id == id => Some(closing_tx.clone()),
        _ => None,
    });
    let Some(Some(tx)) = tx else {
        panic!("ChannelClosed with its transaction after the restart: {events:?}");
    };
    assert!(tx.input.iter().any(|i| net
        .a
        .node
        .list_channels()
        .iter()
        .any(|c| c.funding_txo == Some(i.previous_output))));
    net.a.restart(&net.chain);
    let again = net.a.take_events();
    assert!(
        !again
            .iter()
            .any(|e| matches!(e, Event::ChannelClosed { .. })),
        "acknowledged: {again:?}"
    );
}

/// Persist before telling: with async persistence, `PaymentReceived`
/// leaves `poll_event` only once the invoice record that says `Paid` is
/// durable (a crash before that would answer the HTLC afresh, and it could
/// fail).
#[test]
fn payment_received_waits_for_its_write() {
    let mut net = Net::new(false, true);
    open_quietly(&mut net, 400_000);
    let now = net.now;
    let invoice = bob_invoice(&mut net, 1_500_000);
    net.b.complete_writes();
    let hash = hash_of(&invoice);
    net.b.auto_complete = false;
    net.a.node.pay_invoice(&invoice, now).unwrap();
    // Bob's writes complete as they come until his invoice record turns
    // `Paid`; that write is held.
    deliver_until(
        &mut net,
        200,
        |n| {
            n.b.complete_writes();
        },
        |n| invoice_paid(&n.b.node, hash),
    );
    assert!(invoice_paid(&net.b.node, hash));
    let mut held = Vec::new();
    while let Some(req) = net.b.node.poll_persist() {
        held.push(req);
    }
    assert!(!held.is_empty(), "the paid invoice's write is pending");
    assert_eq!(net.b.node.poll_event(), None, "not before the write");
    for req in held {
        req.apply(&*net.b.store).unwrap();
        net.b.node.persist_completed(req.id);
    }
    assert!(
        matches!(net.b.node.poll_event(), Some(Event::PaymentReceived { payment_hash, .. }) if payment_hash == hash),
        "released once durable"
    );
    net.b.auto_complete = true;
    net.shuttle();
}
