//! Two `Node`s through the whole public API: open, invoices paid both
//! ways, failures decoded at the sender, cooperative close.
#![allow(clippy::unwrap_used)]

mod node_support;

use lightning_core::node::{Event, NodeError};
use lightning_core::onion::FailureCode;
use lightning_core::Msat;
use node_support::Net;

#[test]
fn open_pay_both_ways_and_close() {
    let mut net = Net::new(false, false);
    let id = net.open_channel(500_000, 0);
    let ready = net.a.take_events();
    assert!(ready
        .iter()
        .any(|e| matches!(e, Event::ChannelReady { channel_id, .. } if *channel_id == id)));
    assert!(net
        .b
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::ChannelReady { .. })));

    for _ in 0..5 {
        net.pay(true, 10_000_000);
    }
    let hash = net.pay(false, 3_000_000);
    let bob_events = net.b.take_events();
    assert!(bob_events.iter().any(|e| matches!(e, Event::PaymentSent { payment_hash, fee_msat: Msat(0), .. } if *payment_hash == hash)));
    let alice_events = net.a.take_events();
    assert!(alice_events.iter().any(|e| matches!(e, Event::PaymentReceived { payment_hash, amount_msat: Msat(3_000_000) } if *payment_hash == hash)));
    assert_eq!(
        alice_events
            .iter()
            .filter(|e| matches!(e, Event::PaymentSent { .. }))
            .count(),
        5
    );

    assert_eq!(Net::local_msat(&net.b.node, id), 47_000_000);
    assert_eq!(net.b.node.list_invoices().len(), 5);
    assert_eq!(net.a.node.list_payments().len(), 5);
    let json = serde_json::to_string(&net.a.node.list_channels()).unwrap();
    assert!(json.contains("\"phase\":\"Normal\""), "{json}");

    let (a_out, b_out) = net.close_and_check(id, 500_000);
    assert_eq!(b_out, 47_000);
    assert!(a_out > 450_000);
    assert!(net.a.take_events().iter().any(|e| matches!(
        e,
        Event::ChannelClosed {
            closing_tx: Some(_),
            ..
        }
    )));
}

#[test]
fn unknown_hash_expired_and_wrong_amount_fail_back() {
    let mut net = Net::new(false, false);
    let id = net.open_channel(300_000, 0);
    net.a.take_events();
    let now = net.now;

    // An invoice Bob signed but forgot (another node with Bob's key).
    let invoice = net
        .b
        .node
        .create_invoice(
            Some(lightning_core::amount::Msat(5_000)),
            "x",
            std::time::Duration::from_secs(3600),
            now,
        )
        .unwrap();
    net.b.forget_invoice(&invoice);
    net.restart(false);
    net.a.node.pay_invoice(&invoice, now).unwrap();
    net.shuttle();
    let failure = net.a.take_events().into_iter().find_map(|e| match e {
        Event::PaymentFailed { reason, .. } => Some(reason),
        _ => None,
    });
    let failure = failure.expect("payment failed");
    assert_eq!(
        failure.failure_code,
        Some(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS.0)
    );
    assert_eq!(failure.failing_hop, Some(0));
    match failure.failure {
        Some(lightning_core::onion::FailureReason::IncorrectOrUnknownPaymentDetails {
            htlc_msat,
            height,
        }) => {
            assert_eq!(htlc_msat, 5_000);
            assert_eq!(height, net.chain.best_block().height);
        }
        other => panic!("{other:?}"),
    }

    // Expired at the payer: refused before anything is sent.
    let expired = net
        .b
        .node
        .create_invoice(
            Some(lightning_core::amount::Msat(5_000)),
            "x",
            std::time::Duration::from_secs(60),
            now,
        )
        .unwrap();
    let later = now + std::time::Duration::from_secs(120);
    assert!(matches!(
        net.a.node.pay_invoice(&expired, later),
        Err(NodeError::Invoice(_))
    ));
    // Expired at the payee (the payer's clock is behind): failed back.
    net.now = later;
    net.a.node.pay_invoice(&expired, now).unwrap();
    net.shuttle();
    let code = net.a.take_events().into_iter().find_map(|e| match e {
        Event::PaymentFailed { reason, .. } => reason.failure_code,
        _ => None,
    });
    assert_eq!(
        code,
        Some(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS.0)
    );

    // Too little, through the payer's API: a hand-built invoice for the
    // same hash with a smaller amount than Bob's.
    let real = net
        .b
        .node
        .create_invoice(
            Some(lightning_core::amount::Msat(50_000)),
            "x",
            std::time::Duration::from_secs(3600),
            later,
        )
        .unwrap();
    let forged =
        lightning_wire::bolt11::InvoiceBuilder::new(lightning_wire::bolt11::Currency::Regtest)
            .amount_msat(40_000)
            .timestamp(later.as_secs())
            .payment_hash(*real.payment_hash())
            .payment_secret(*real.payment_secret())
            .description("x")
            .min_final_cltv_expiry_delta(18)
            .build_signed(&lightning_core::keys::KeysManager::new(&[2; 32]).unwrap())
            .unwrap();
    net.a.node.pay_invoice(&forged, later).unwrap();
    net.shuttle();
    let code = net.a.take_events().into_iter().find_map(|e| match e {
        Event::PaymentFailed { reason, .. } => reason.failure_code,
        _ => None,
    });
    assert_eq!(
        code,
        Some(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS.0)
    );
    // Nothing moved.
    assert_eq!(Net::local_msat(&net.b.node, id), 0);
    // The real one goes through.
    net.a.node.pay_invoice(&real, later).unwrap();
    net.shuttle();
    assert_eq!(Net::local_msat(&net.b.node, id), 50_000);

    // No channel to a stranger / not enough capacity.
    let big = net
        .b
        .node
        .create_invoice(
            Some(lightning_core::amount::Msat(400_000_000)),
            "x",
            std::time::Duration::from_secs(3600),
            later,
        )
        .unwrap();
    assert!(matches!(
        net.a.node.pay_invoice(&big, later),
        Err(NodeError::NoRoute { .. })
    ));
}

/// One durable operation per payment step per side.
///
/// A *step* is one call of the host into a node that changes its state:
/// `create_invoice`, `pay_invoice`, `handle_bytes` (one socket read: what
/// the other side sent since this one last read, delivered as one call),
/// and `poll_event` when it acknowledges the event it returned before
/// (the write that makes money events at-least-once, see
/// `node/delivery.rs`). `poll_transmit`, `poll_persist` and
/// `persist_completed` change no record and must cost nothing.
///
/// Both nodes persist asynchronously; after every call the test drains
/// `poll_persist` (each request is one durable operation, applied with one
/// `write_batch`) and asserts that the call handed out at most one. Over
/// 20 payments it prints, per side, the durable operations per payment and
/// the records each carried, and checks the floor: each side's channel
/// records (one per received `commitment_signed`/`revoke_and_ack` batch,
/// four per side) cannot cost fewer than the four steps that receive
/// them, and the node records ride in those same operations (before the
/// batch, 7 writes per payment per side).
#[test]
fn durable_writes_per_payment() {
    use lightning_core::node::PaymentStatus;

    let mut net = Net::new(true, true);
    let _id = net.open_channel(1_000_000, 0);
    net.pay(true, 10_000_000);
    net.a.take_events();
    net.b.take_events();
    net.a.complete_writes();
    net.b.complete_writes();

    /// (payer side, what the call was, records of each batch it handed out)
    type Log = Vec<(bool, &'static str, Vec<usize>)>;
    fn drained(node: &mut node_support::TestNode) -> Vec<usize> {
        let before = node.batch_sizes.len();
        node.complete_writes();
        node.batch_sizes[before..].to_vec()
    }
    fn record(log: &mut Log, payer: bool, what: &'static str, node: &mut node_support::TestNode) {
        let batches = drained(node);
        assert!(
            batches.len() <= 1,
            "{} `{what}` handed out {} durable operations: {batches:?}",
            if payer { "payer" } else { "payee" },
            batches.len()
        );
        log.push((payer, what, batches));
    }

    const N: usize = 20;
    let mut log: Log = Vec::new();
    let mut first_payment = 0;
    for n in 0..N {
        if n == 1 {
            first_payment = log.len();
        }
        let now = net.now;
        let invoice = net
            .b
            .node
            .create_invoice(
                Some(Msat(10_000_000)),
                "count",
                std::time::Duration::from_secs(3600),
                now,
            )
            .unwrap();
        record(&mut log, false, "create_invoice", &mut net.b);
        net.a.node.pay_invoice(&invoice, now).unwrap();
        record(&mut log, true, "pay_invoice", &mut net.a);
        loop {
            let mut moved = false;
            for a_to_b in [true, false] {
                let (from, to) = if a_to_b {
                    (&mut net.a, &mut net.b)
                } else {
                    (&mut net.b, &mut net.a)
                };
                let (fp, tp) = (from.peer.unwrap(), to.peer.unwrap());
                // One socket read brings everything sent so far.
                let mut bytes = Vec::new();
                while let Some(b) = from.node.poll_transmit(fp) {
                    bytes.extend_from_slice(&b);
                }
                record(&mut log, a_to_b, "poll_transmit", from);
                if !bytes.is_empty() {
                    moved = true;
                    to.node.handle_bytes(tp, &bytes, now).unwrap();
                    record(&mut log, !a_to_b, "handle_bytes", to);
                }
            }
            for payer in [true, false] {
                let node = if payer { &mut net.a } else { &mut net.b };
                loop {
                    let event = node.node.poll_event();
                    record(&mut log, payer, "poll_event", node);
                    if event.is_none() {
                        break;
                    }
                }
            }
            if !moved {
                break;
            }
        }
        let hash: [u8; 32] = invoice.payment_hash().0;
        let status = net
            .a
            .node
            .list_payments()
            .into_iter()
            .find_map(|p| (p.payment_hash.0 == hash).then_some(p.status));
        assert_eq!(status, Some(PaymentStatus::Succeeded));
    }
    let ignore = ["poll_transmit"];
    assert!(
        log.iter()
            .filter(|(_, what, _)| ignore.contains(what))
            .all(|(_, _, b)| b.is_empty()),
        "poll_transmit wrote"
    );
    eprintln!("one payment (the second), by step:");
    let second_end = log[first_payment + 1..]
        .iter()
        .position(|(_, what, _)| *what == "create_invoice")
        .map_or(log.len(), |p| first_payment + 1 + p);
    for (payer, what, batches) in &log[first_payment..second_end] {
        if let [records] = batches[..] {
            eprintln!(
                "  {} {what}: 1 durable operation, {records} record(s)",
                if *payer { "payer" } else { "payee" }
            );
        }
    }
    for payer in [true, false] {
        let side: Vec<&Vec<usize>> = log
            .iter()
            .filter(|(p, _, _)| *p == payer)
            .map(|(_, _, b)| b)
            .collect();
        let ops: usize = side.iter().map(|b| b.len()).sum();
        let records: usize = side.iter().flat_map(|b| b.iter()).sum();
        let steps = side.iter().filter(|b| !b.is_empty()).count();
        let per = |x: usize| x as f64 / N as f64;
        eprintln!(
            "{}: {:.2} durable operations per payment ({:.2} steps that changed state), {:.2} records per payment, {:.2} records per operation",
            if payer { "payer" } else { "payee" },
            per(ops),
            per(steps),
            per(records),
            records as f64 / ops as f64
        );
        assert_eq!(ops, steps, "one durable operation per step");
        // The channel's four records per side each need their own step
        // (each answers a message of the other side).
        assert!(per(ops) >= 4.0, "fewer operations than the channel needs");
    }
}

/// BOLT 2: the fundee forgets a channel whose funding transaction does not
/// confirm within 2016 blocks, records included; the funder keeps it.
#[test]
fn fundee_forgets_a_channel_never_funded_on_chain() {
    use lightning_core::channel::FUNDING_TIMEOUT_BLOCKS;
    use lightning_core::node::Event;
    use lightning_persist::KvStore;

    let mut net = Net::new(false, false);
    let (temp, funding) = net.request_funding(300_000, 0);
    let (amount, script) = funding.expect("FundingNeeded");
    // A funding transaction the chain never accepts (its input does not
    // exist), so it never confirms.
    let tx = lightning_test_support::pair::funding_tx(script, amount.to_sat());
    let id = net.a.node.funding_transaction_generated(temp, tx).unwrap();
    net.shuttle();
    let channels = |store: &lightning_persist::MemoryStore| {
        store
            .list("node")
            .unwrap()
            .into_iter()
            .filter(|k| k.starts_with("channels/"))
            .count()
    };
    assert!(channels(&net.b.store) > 0, "Bob holds the channel's record");
    net.mine(FUNDING_TIMEOUT_BLOCKS as usize - 1);
    assert_eq!(net.b.node.list_channels().len(), 1, "still waiting");
    net.mine(2);
    let closed: Vec<String> = net
        .b
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::ChannelClosed {
                channel_id, reason, ..
            } if channel_id == id => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert!(closed[0].contains("did not confirm"), "{}", closed[0]);
    assert!(net.b.node.list_channels().is_empty());
    assert_eq!(channels(&net.b.store), 0, "Bob's record is gone");
    assert_eq!(net.a.node.list_channels().len(), 1, "the funder keeps it");
}
