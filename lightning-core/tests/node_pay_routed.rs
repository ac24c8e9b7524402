//! Issues 18 and 19: `pay_invoice` to a payee that is not a peer, over
//! the public graph, with retries.
//!
//! Five of our nodes on the simulated chain, every channel announced and
//! the gossip delivered between them (BOLT 7):
//!
//! ```text
//!   P(ayer) -- A -- B -- Z (payee)
//!         \              /
//!          ---- C -------
//! ```
//!
//! Each channel is opened by its left node (P's towards A and C, A's to
//! B, B's and C's to Z), so liquidity flows towards Z. The path through
//! C is the cheaper (one forwarding fee instead of two): the router tries
//! it first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod forward_support;

use std::time::Duration;

use forward_support::{Line, Link};
use lightning_core::amount::Msat;
use lightning_core::node::{
    Event, ForwardStatus, NodeConfig, NodeError, PartStatus, PaymentHash, PaymentStatus,
    DEFAULT_PAYMENT_RETRY_ATTEMPTS,
};
use lightning_core::onion::FailureCode;
use lightning_persist::KvStore;
use lightning_router::Direction;
use lightning_wire::bolt11::Bolt11Invoice;
use lightning_wire::types::ChannelId;

const P: usize = 0;
const A: usize = 1;
const B: usize = 2;
const Z: usize = 3;
const C: usize = 4;
/// The link P - C (the line's own links are P-A, A-B, B-Z, Z-C).
const LINK_PC: usize = 4;
/// The link P - A.
const LINK_PA: usize = 0;

const CAPACITY_SAT: u64 = 1_000_000;
/// What Z is paid in most tests: 100,000 sat.
const AMOUNT_MSAT: u64 = 100_000_000;
/// Forwarding fee of every node (the defaults: 1000 msat + 1 ppm).
fn fee(amount_msat: u64) -> u64 {
    1000 + amount_msat / 1_000_000
}

struct Net {
    line: Line,
    pa: ChannelId,
    bz: ChannelId,
    pc: ChannelId,
    cz: ChannelId,
}

/// The five nodes and their announced channels, every graph holding all
/// five channels. `drain_cz` / `drain_bz`: the channel's opener pushes
/// all but 50,000 sat to Z, so it cannot forward [`AMOUNT_MSAT`].
/// `payer` adjusts P's configuration.
fn network(drain_cz: bool, drain_bz: bool, payer: fn(&mut NodeConfig)) -> Net {
    let drained = |d: bool| if d { (CAPACITY_SAT - 50_000) * 1000 } else { 0 };
    network_pushing(drained(drain_cz), drained(drain_bz), payer)
}

/// [`network`] with C pushing `push_cz_msat` to Z when opening their
/// channel, and B pushing `push_bz_msat`.
fn network_pushing(push_cz_msat: u64, push_bz_msat: u64, payer: fn(&mut NodeConfig)) -> Net {
    let mut line = Line::new(5, |i, c| {
        c.channel.announce_channel = true;
        if i == Z {
            c.forwarding.accept_keysend = true;
        }
        if i == P {
            payer(c);
        }
    });
    line.links.push(Link {
        a: P,
        b: C,
        pa: None,
        pb: None,
        hold_from: None,
    });
    line.connect(LINK_PC);
    line.shuttle();
    let pa = line.open_channel(P, A, CAPACITY_SAT, 0);
    line.open_channel(A, B, CAPACITY_SAT, 0);
    let bz = line.open_channel(B, Z, CAPACITY_SAT, push_bz_msat);
    let pc = line.open_channel(P, C, CAPACITY_SAT, 0);
    let cz = line.open_channel(C, Z, CAPACITY_SAT, push_cz_msat);
    // Six deep: announced (BOLT 7); then the gossip travels, relays
    // flushing once a minute.
    line.mine(6);
    for _ in 0..4 {
        line.tick(61);
    }
    for m in &line.members {
        let g = m.node.network_graph().unwrap();
        assert_eq!(g.channel_count(), 5, "{} has the whole graph", m.name);
    }
    for m in &mut line.members {
        m.take_events();
    }
    Net {
        line,
        pa,
        bz,
        pc,
        cz,
    }
}

fn invoice(line: &mut Line, amount_msat: u64) -> Bolt11Invoice {
    let now = line.now;
    line.members[Z]
        .node
        .create_invoice(
            Some(Msat(amount_msat)),
            "routed",
            Duration::from_secs(3600),
            now,
        )
        .unwrap()
}

fn events_of(line: &mut Line, i: usize, hash: PaymentHash) -> Vec<Event> {
    line.members[i]
        .take_events()
        .into_iter()
        .filter(|e| match e {
            Event::PaymentSent { payment_hash, .. }
            | Event::PaymentFailed { payment_hash, .. }
            | Event::PaymentReceived { payment_hash, .. }
            | Event::PaymentForwarded { payment_hash, .. } => *payment_hash == hash,
            _ => false,
        })
        .collect()
}

/// The forwards `i` made for `hash`, by status.
fn forwards(line: &Line, i: usize, hash: PaymentHash) -> Vec<ForwardStatus> {
    line.members[i]
        .node
        .list_forwards()
        .into_iter()
        .filter(|f| f.payment_hash == hash)
        .map(|f| f.status)
        .collect()
}

/// The direction of channel `x`-`y` used from `x` (BOLT 7: 0 from the
/// lesser node id).
fn direction(line: &Line, x: usize, y: usize) -> Direction {
    let (kx, ky) = (
        line.members[x].id().serialize(),
        line.members[y].id().serialize(),
    );
    if kx < ky {
        Direction::FromNode1
    } else {
        Direction::FromNode2
    }
}

#[test]
fn the_payer_finds_a_two_hop_route_and_pays() {
    let mut net = network(false, false, |_| {});
    let line = &mut net.line;
    let inv = invoice(line, AMOUNT_MSAT);
    let hash = *inv.payment_hash();
    // Z is not a peer of P: the router's path is the only way.
    assert!(!line.members[P]
        .node
        .list_channels()
        .iter()
        .any(|c| c.counterparty == line.members[Z].id()));
    let before_p = line.members[P].local_msat(net.pc);
    let now = line.now;
    line.members[P].node.pay_invoice(&inv, now).unwrap();
    line.shuttle();

    let details = line.members[P].node.list_payments();
    let p = details.iter().find(|p| p.payment_hash == hash).unwrap();
    assert_eq!(p.status, PaymentStatus::Succeeded);
    assert_eq!(p.attempts, 1);
    // Through C, the cheaper path: C earned one fee, P paid it.
    let fee = fee(AMOUNT_MSAT);
    let sent = events_of(line, P, hash);
    assert!(
        sent.iter().any(|e| matches!(e,
            Event::PaymentSent { fee_msat, .. } if fee_msat.0 == fee)),
        "{sent:?}"
    );
    assert_eq!(forwards(line, C, hash), vec![ForwardStatus::Settled]);
    assert!(forwards(line, A, hash).is_empty());
    assert_eq!(
        line.members[P].local_msat(net.pc),
        before_p - AMOUNT_MSAT - fee
    );
    let got = events_of(line, Z, hash);
    assert_eq!(
        got,
        vec![Event::PaymentReceived {
            payment_hash: hash,
            amount_msat: Msat(AMOUNT_MSAT)
        }]
    );
    // The scorer learned that C - Z carried the amount, which moved: at
    // most the capacity less it is left (capacities are unknown without
    // a UTXO lookup: the scorer's default stands in).
    let scorer = line.members[P].node.scorer();
    let cap = scorer.params().unknown_capacity;
    let scid = line.members[C].scid(net.cz);
    let bounds = scorer.liquidity_bounds(scid, direction(line, C, Z), cap);
    assert_eq!(bounds, (Msat(0), Msat(cap.0 - AMOUNT_MSAT)));
    // Paying it again is refused: it is paid.
    assert!(matches!(
        line.members[P].node.pay_invoice(&inv, now),
        Err(NodeError::DuplicatePayment(_))
    ));
}

#[test]
fn a_failed_first_path_is_retried_over_another_and_the_scorer_learns() {
    // C cannot forward the amount to Z: the first attempt fails at C.
    let mut net = network(true, false, |_| {});
    let line = &mut net.line;
    let inv = invoice(line, AMOUNT_MSAT);
    let hash = *inv.payment_hash();
    let before = (
        line.members[P].local_msat(net.pa),
        line.members[P].local_msat(net.pc),
        line.members[Z].local_msat(net.bz),
    );
    let now = line.now;
    line.members[P].node.pay_invoice(&inv, now).unwrap();
    line.shuttle();

    let p = line.members[P]
        .node
        .list_payments()
        .into_iter()
        .find(|p| p.payment_hash == hash)
        .unwrap();
    assert_eq!(p.status, PaymentStatus::Succeeded, "{p:?}");
    assert_eq!(p.attempts, 2, "one failed attempt, one that paid");
    // C refused to forward (temporary_channel_failure: no forward record),
    // A and B carried the second attempt and earned their fees.
    assert!(forwards(line, C, hash).is_empty());
    assert_eq!(forwards(line, A, hash), vec![ForwardStatus::Settled]);
    assert_eq!(forwards(line, B, hash), vec![ForwardStatus::Settled]);
    let fee_b = fee(AMOUNT_MSAT);
    let fee_a = fee(AMOUNT_MSAT + fee_b);
    let events = events_of(line, P, hash);
    assert_eq!(events.len(), 1, "one event for the payment: {events:?}");
    assert!(matches!(&events[0],
        Event::PaymentSent { fee_msat, .. } if fee_msat.0 == fee_a + fee_b));
    // Balances: only the second attempt moved money.
    assert_eq!(
        line.members[P].local_msat(net.pa),
        before.0 - AMOUNT_MSAT - fee_a - fee_b
    );
    assert_eq!(line.members[P].local_msat(net.pc), before.1);
    assert_eq!(line.members[Z].local_msat(net.bz), before.2 + AMOUNT_MSAT);
    let received = events_of(line, Z, hash);
    assert_eq!(received.len(), 1, "paid once: {received:?}");
    // Issue 20: both HTLCs are kept, each with its index and partid: the
    // failed one through C (its fee C's), then the one that paid.
    let sent: Vec<_> = p
        .htlcs
        .iter()
        .map(|h| (h.created_index, h.partid, h.status, h.fee_msat.0))
        .collect();
    assert_eq!(
        sent,
        [
            (1, 0, PartStatus::Failed, fee(AMOUNT_MSAT)),
            (2, 1, PartStatus::Fulfilled, fee_a + fee_b),
        ]
    );
    let c = line.members[C].node.node_id();
    let z = line.members[Z].node.node_id();
    assert_eq!(p.htlcs[0].route, [c, z]);
    assert!(p.htlcs.iter().all(|h| h.amount_msat.0 == AMOUNT_MSAT));
    assert!(p.parts.is_empty(), "one HTLC at a time");

    // The scorer learned: C - Z cannot carry the amount; B - Z carried
    // it (and it moved).
    let scorer = line.members[P].node.scorer();
    let cap = scorer.params().unknown_capacity;
    let (_, hi) = scorer.liquidity_bounds(line.members[C].scid(net.cz), direction(line, C, Z), cap);
    assert_eq!(hi, Msat(AMOUNT_MSAT - 1), "below the amount");
    let bz = scorer.liquidity_bounds(line.members[B].scid(net.bz), direction(line, B, Z), cap);
    assert_eq!(bz, (Msat(0), Msat(cap.0 - AMOUNT_MSAT)));
    // A new payment of the same size goes straight through A and B.
    let inv2 = invoice(line, AMOUNT_MSAT);
    let now = line.now;
    line.members[P].node.pay_invoice(&inv2, now).unwrap();
    line.shuttle();
    let p2 = line.members[P]
        .node
        .payment(&lightning_core::node::PaymentId(inv2.payment_hash().0))
        .unwrap();
    assert_eq!((p2.status, p2.attempts), (PaymentStatus::Succeeded, 1));
    assert!(forwards(line, C, *inv2.payment_hash()).is_empty());
    // The next HTLC sent takes the next index; the first payment's keep
    // theirs.
    let indexes: Vec<(u64, u64)> = p2
        .htlcs
        .iter()
        .map(|h| (h.created_index, h.partid))
        .collect();
    assert_eq!(indexes, [(3, 0)]);
    let again = line.members[P]
        .node
        .payment(&lightning_core::node::PaymentId(hash.0))
        .unwrap();
    assert_eq!(again.htlcs, p.htlcs);
}

#[test]
fn a_failure_from_the_payee_is_not_retried() {
    let mut net = network(false, false, |_| {});
    let line = &mut net.line;
    let inv = invoice(line, AMOUNT_MSAT);
    let hash = *inv.payment_hash();
    // Z forgets the invoice: its answer is incorrect_or_unknown_payment_details.
    line.members[Z]
        .store
        .remove("node", &format!("invoices/{hash}"))
        .unwrap();
    line.restart(Z);
    line.shuttle();
    let now = line.now;
    line.members[P].node.pay_invoice(&inv, now).unwrap();
    line.shuttle();

    let events = events_of(line, P, hash);
    assert_eq!(events.len(), 1, "{events:?}");
    let Event::PaymentFailed { reason, .. } = &events[0] else {
        panic!("{events:?}");
    };
    assert_eq!(
        reason.failure_code,
        Some(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS.0)
    );
    assert_eq!(reason.failing_hop, Some(1), "the payee, after C");
    assert_eq!(reason.attempts, 1);
    // One HTLC only: C forwarded once, A never.
    assert_eq!(forwards(line, C, hash), vec![ForwardStatus::Failed]);
    assert!(forwards(line, A, hash).is_empty());
    let p = line.members[P].node.list_payments();
    assert_eq!(p[0].status, PaymentStatus::Failed);
    assert_eq!(p[0].attempts, 1);
}

#[test]
fn exhausted_retries_fail_the_payment_with_the_attempt_count() {
    // Both paths are drained; P may make two attempts.
    let mut net = network(true, true, |c| c.payment_retry_attempts = 2);
    let line = &mut net.line;
    let inv = invoice(line, AMOUNT_MSAT);
    let hash = *inv.payment_hash();
    let before = line.members[P].node.balances();
    let now = line.now;
    line.members[P].node.pay_invoice(&inv, now).unwrap();
    line.shuttle();

    let events = events_of(line, P, hash);
    assert_eq!(events.len(), 1, "{events:?}");
    let Event::PaymentFailed { reason, .. } = &events[0] else {
        panic!("{events:?}");
    };
    assert_eq!(reason.attempts, 2);
    assert_eq!(
        reason.failure_code,
        Some(FailureCode::TEMPORARY_CHANNEL_FAILURE.0)
    );
    assert!(
        reason.message.contains("retries exhausted"),
        "{}",
        reason.message
    );
    // Both paths were tried, once each: C and B refused to forward (no
    // record), A's forward to B failed back.
    assert!(forwards(line, C, hash).is_empty());
    assert!(forwards(line, B, hash).is_empty());
    assert_eq!(forwards(line, A, hash), vec![ForwardStatus::Failed]);
    assert_eq!(reason.failing_hop, Some(1), "B, the second hop");
    assert_eq!(
        line.members[P].node.balances().lightning_msat,
        before.lightning_msat
    );
    assert_eq!(events_of(line, Z, hash), vec![]);
    let p = &line.members[P].node.list_payments()[0];
    assert_eq!((p.status, p.attempts), (PaymentStatus::Failed, 2));
}

#[test]
fn with_the_default_budget_a_payment_fails_once_no_route_is_left() {
    let mut net = network(true, true, |_| {});
    let line = &mut net.line;
    let inv = invoice(line, AMOUNT_MSAT);
    let hash = *inv.payment_hash();
    let now = line.now;
    line.members[P].node.pay_invoice(&inv, now).unwrap();
    line.shuttle();
    let events = events_of(line, P, hash);
    let Some(Event::PaymentFailed { reason, .. }) = events.first() else {
        panic!("{events:?}");
    };
    // Two attempts; both failing channels excluded, no third route.
    const { assert!(DEFAULT_PAYMENT_RETRY_ATTEMPTS > 2) };
    assert_eq!(reason.attempts, 2);
    assert!(reason.message.contains("no route"), "{}", reason.message);
}

#[test]
fn a_restart_between_attempts_neither_loses_nor_doubles_the_payment() {
    let mut net = network(true, false, |_| {});
    let line = &mut net.line;
    // A is away: the first attempt goes through C and fails there, and no
    // other path is usable now. The payment waits for its next attempt.
    line.disconnect(LINK_PA);
    line.shuttle();
    let inv = invoice(line, AMOUNT_MSAT);
    let hash = *inv.payment_hash();
    let now = line.now;
    line.members[P].node.pay_invoice(&inv, now).unwrap();
    line.shuttle();
    let p = line.members[P].node.list_payments()[0].clone();
    assert_eq!((p.status, p.attempts), (PaymentStatus::Pending, 1), "{p:?}");
    assert!(events_of(line, P, hash).is_empty(), "not failed yet");
    // Its one HTLC failed; the payment awaits the next.
    let sent: Vec<_> = p
        .htlcs
        .iter()
        .map(|h| (h.created_index, h.partid, h.status))
        .collect();
    assert_eq!(sent, [(1, 0, PartStatus::Failed)]);
    // A timer while waiting: still no path, still pending (within the
    // retry timeout), and the node asks to be called back before it ends.
    line.tick(5);
    assert_eq!(
        line.members[P].node.list_payments()[0].status,
        PaymentStatus::Pending
    );
    let next = line.members[P].node.next_timeout().unwrap();
    assert!(next <= line.now + Duration::from_secs(60), "{next:?}");

    // P restarts (its links reconnect, A's too): the owed attempt is made
    // once a channel is usable again, over A and B.
    line.restart(P);
    line.shuttle();
    let p = line.members[P].node.list_payments()[0].clone();
    assert_eq!(
        (p.status, p.attempts),
        (PaymentStatus::Succeeded, 2),
        "{p:?}"
    );
    // Issue 20: the attempt before the restart is still listed, and the
    // one after it took the next index (the counter was restored).
    let sent: Vec<_> = p
        .htlcs
        .iter()
        .map(|h| (h.created_index, h.partid, h.status))
        .collect();
    assert_eq!(
        sent,
        [(1, 0, PartStatus::Failed), (2, 1, PartStatus::Fulfilled)]
    );
    assert_eq!(forwards(line, A, hash), vec![ForwardStatus::Settled]);
    let received = events_of(line, Z, hash);
    assert_eq!(received.len(), 1, "paid once: {received:?}");
    let sent = events_of(line, P, hash);
    assert!(
        sent.iter().any(|e| matches!(e, Event::PaymentSent { .. })),
        "{sent:?}"
    );
    assert!(!sent
        .iter()
        .any(|e| matches!(e, Event::PaymentFailed { .. })));
}

#[test]
fn a_payment_owed_an_attempt_fails_cleanly_when_its_timeout_passes() {
    let mut net = network(true, false, |_| {});
    let line = &mut net.line;
    line.disconnect(LINK_PA);
    line.shuttle();
    let inv = invoice(line, AMOUNT_MSAT);
    let hash = *inv.payment_hash();
    let now = line.now;
    line.members[P].node.pay_invoice(&inv, now).unwrap();
    line.shuttle();
    assert_eq!(
        line.members[P].node.list_payments()[0].status,
        PaymentStatus::Pending
    );
    // P restarts while A is still away; the timeout passes.
    line.restart(P);
    line.disconnect(LINK_PA);
    line.shuttle();
    assert_eq!(
        line.members[P].node.list_payments()[0].status,
        PaymentStatus::Pending
    );
    line.tick(61);
    let events = events_of(line, P, hash);
    let Some(Event::PaymentFailed { reason, .. }) = events.first() else {
        panic!("{events:?}");
    };
    assert_eq!(reason.attempts, 1);
    assert!(reason.message.contains("timeout"), "{}", reason.message);
    assert_eq!(
        reason.failure_code,
        Some(FailureCode::TEMPORARY_CHANNEL_FAILURE.0),
        "the last attempt's failure is reported"
    );
    assert!(forwards(line, A, hash).is_empty());
}

#[test]
fn routes_stay_within_the_fee_budget() {
    // P accepts at most 1,000 msat of fees: the path through C costs
    // 1,100 (1000 msat + 1 ppm of 100,000 sat), the other two fees.
    let mut net = network(false, false, |c| {
        c.payment_max_fee_ppm = 0;
        c.payment_max_fee_base_msat = 1_000;
    });
    let line = &mut net.line;
    let inv = invoice(line, AMOUNT_MSAT);
    let now = line.now;
    let err = line.members[P].node.pay_invoice(&inv, now).unwrap_err();
    assert!(matches!(err, NodeError::NoRoute { .. }), "{err}");
    assert!(line.members[P].node.list_payments().is_empty());
    // A budget of exactly C's fee is enough.
    let mut net = network(false, false, |c| {
        c.payment_max_fee_ppm = 0;
        c.payment_max_fee_base_msat = 1_100;
    });
    let line = &mut net.line;
    let inv = invoice(line, AMOUNT_MSAT);
    let now = line.now;
    line.members[P].node.pay_invoice(&inv, now).unwrap();
    line.shuttle();
    let p = &line.members[P].node.list_payments()[0];
    assert_eq!(p.status, PaymentStatus::Succeeded);
}

/// Z's balance over both of its channels.
fn z_total(net: &Net) -> u64 {
    net.line.members[Z].local_msat(net.bz) + net.line.members[Z].local_msat(net.cz)
}

#[test]
fn a_payer_crashing_at_any_transmission_pays_exactly_once() {
    crash_at_every_transmission(false);
}

#[test]
fn an_async_payer_crashing_at_any_transmission_pays_exactly_once() {
    crash_at_every_transmission(true);
}

/// The first path (through C) fails, the second pays; P (persisting
/// inline, or through `poll_persist` when `is_async`) crashes and is
/// restored from its store in place of its n-th transmission, for every n
/// until a run makes no crash.
fn crash_at_every_transmission(is_async: bool) {
    crash_at_every_transmission_paying(is_async, (CAPACITY_SAT - 50_000) * 1000, AMOUNT_MSAT);
}

/// [`crash_at_every_transmission`] with C pushing `push_cz_msat` to Z
/// when their channel opened, paying `amount_msat`: some part fails and
/// is routed again.
fn crash_at_every_transmission_paying(is_async: bool, push_cz_msat: u64, amount_msat: u64) {
    let mut n = 1;
    loop {
        let mut net = network_pushing(push_cz_msat, 0, |_| {});
        if is_async {
            net.line.set_async(P, true);
        }
        let before = z_total(&net);
        let line = &mut net.line;
        let inv = invoice(line, amount_msat);
        let hash = *inv.payment_hash();
        line.crash_member = P;
        line.steps = 0;
        line.crash_at = Some(n);
        let now = line.now;
        line.members[P].node.pay_invoice(&inv, now).unwrap();
        line.shuttle();
        let crashed = line.crashes > 0;
        line.crash_at = None;
        // Timers: a deferred attempt is made.
        line.tick(1);
        line.tick(1);
        let p = line.members[P]
            .node
            .payment(&lightning_core::node::PaymentId(hash.0))
            .unwrap();
        assert_eq!(p.status, PaymentStatus::Succeeded, "crash at {n}: {p:?}");
        assert!(p.attempts >= 2, "crash at {n}: {p:?}");
        assert_eq!(
            z_total(&net) - before,
            amount_msat,
            "crash at {n}: paid once"
        );
        if !crashed {
            break;
        }
        n += 1;
    }
    assert!(n > 5, "P transmits during the payment ({n})");
}

#[test]
fn keysend_to_a_node_that_is_not_a_peer_is_routed() {
    let mut net = network(false, false, |_| {});
    let line = &mut net.line;
    let z = line.members[Z].id();
    let before_p = line.members[P].local_msat(net.pc);
    let now = line.now;
    let records = vec![(65_537u64, b"thanks".to_vec())];
    let id = line.members[P]
        .node
        .keysend_to(z, Msat(AMOUNT_MSAT), records.clone(), now)
        .unwrap();
    line.shuttle();
    let hash = PaymentHash(id.0);
    let p = line.members[P].node.payment(&id).unwrap();
    assert_eq!(p.status, PaymentStatus::Succeeded, "{p:?}");
    // Through C, the cheaper path, which earned its fee.
    let fee = fee(AMOUNT_MSAT);
    assert_eq!(forwards(line, C, hash), vec![ForwardStatus::Settled]);
    assert_eq!(
        line.members[P].local_msat(net.pc),
        before_p - AMOUNT_MSAT - fee
    );
    let got: Vec<Event> = line.members[Z].take_events();
    assert!(
        got.iter().any(|e| matches!(e,
            Event::SpontaneousPaymentReceived { payment_hash, amount_msat, custom_records }
                if *payment_hash == hash && amount_msat.0 == AMOUNT_MSAT && *custom_records == records)),
        "{got:?}"
    );
    // Nothing carries 2,000,000 sat: refused before anything is sent.
    assert!(matches!(
        line.members[P]
            .node
            .keysend_to(z, Msat(2_000_000_000), vec![], now),
        Err(NodeError::NoRoute { .. })
    ));
}

/// A per-payment cap on routing fees (`PayOptions::max_fee_msat`): one
/// msat under the cheapest path's fee finds no route; exactly its fee
/// pays. The cap holds across retries: with C - Z drained, the first
/// attempt (through C) fails and the only other path (through A and B,
/// two fees) is over the cap, so the payment fails rather than pay more
/// (with the node's budget it succeeds over A and B:
/// `a_failed_first_path_is_retried_over_another_and_the_scorer_learns`).
#[test]
fn a_per_payment_fee_cap_holds_across_retries() {
    use lightning_core::node::PayOptions;
    let mut net = network(false, false, |_| {});
    let line = &mut net.line;
    let now = line.now;
    let inv = invoice(line, AMOUNT_MSAT);
    let mut options = PayOptions::default();
    options.max_fee_msat = Some(Msat(fee(AMOUNT_MSAT) - 1));
    assert!(matches!(
        line.members[P].node.pay_invoice_with(&inv, &options, now),
        Err(NodeError::NoRoute { .. })
    ));
    options.max_fee_msat = Some(Msat(fee(AMOUNT_MSAT)));
    line.members[P]
        .node
        .pay_invoice_with(&inv, &options, now)
        .unwrap();
    line.shuttle();
    let hash = *inv.payment_hash();
    let p = line.members[P].node.list_payments();
    let p = p.iter().find(|p| p.payment_hash == hash).unwrap();
    assert_eq!(p.status, PaymentStatus::Succeeded);

    let mut net = network(true, false, |_| {});
    let line = &mut net.line;
    let inv = invoice(line, AMOUNT_MSAT);
    let hash = *inv.payment_hash();
    line.members[P]
        .node
        .pay_invoice_with(&inv, &options, now)
        .unwrap();
    line.shuttle();
    line.tick(1);
    line.shuttle();
    let p = line.members[P].node.list_payments();
    let p = p.iter().find(|p| p.payment_hash == hash).unwrap();
    assert_eq!(p.status, PaymentStatus::Failed, "{p:?}");
    assert_eq!(p.attempts, 1);
    assert!(forwards(line, A, hash).is_empty(), "nothing over A and B");
}

// Multi-part sending (issue 19; BOLT 4 "Basic Multi-Part Payments"): an
// amount no single path carries is split, every part carrying the
// invoice's `payment_secret` and the whole `total_msat`.

/// More than either of P's channels can send (each holds under 1,000,000
/// sat): only two parts, one over each, can pay it.
const SPLIT_MSAT: u64 = 1_500_000_000;

/// P's balance over both of its channels.
fn p_total(net: &Net) -> u64 {
    net.line.members[P].local_msat(net.pa) + net.line.members[P].local_msat(net.pc)
}

fn payment_of(line: &Line, i: usize, hash: PaymentHash) -> lightning_core::node::PaymentDetails {
    line.members[i]
        .node
        .payment(&lightning_core::node::PaymentId(hash.0))
        .unwrap()
}

#[test]
fn an_amount_no_single_path_carries_is_paid_in_parts() {
    let mut net = network(false, false, |_| {});
    let (p_before, z_before) = (p_total(&net), z_total(&net));
    let line = &mut net.line;
    let inv = invoice(line, SPLIT_MSAT);
    let hash = *inv.payment_hash();
    assert!(line.members[P]
        .node
        .first_hops()
        .iter()
        .all(|h| h.outbound_capacity.0 < SPLIT_MSAT));
    let now = line.now;
    line.members[P].node.pay_invoice(&inv, now).unwrap();
    line.shuttle();

    let p = payment_of(line, P, hash);
    assert_eq!(
        (p.status, p.attempts),
        (PaymentStatus::Succeeded, 1),
        "{p:?}"
    );
    assert_eq!(p.parts.len(), 2, "{p:?}");
    assert!(p.parts.iter().all(|s| s.status == PartStatus::Fulfilled));
    let delivered: u64 = p.parts.iter().map(|s| s.amount_msat.0).sum();
    assert_eq!(delivered, SPLIT_MSAT);
    // One part over each path: C forwarded one, A and B the other.
    for node in [A, B, C] {
        assert_eq!(forwards(line, node, hash), vec![ForwardStatus::Settled]);
    }
    let sent = events_of(line, P, hash);
    let [Event::PaymentSent { fee_msat, .. }] = sent.as_slice() else {
        panic!("one PaymentSent: {sent:?}");
    };
    // Z received the whole amount once, over both channels.
    let got = events_of(line, Z, hash);
    assert_eq!(
        got,
        vec![Event::PaymentReceived {
            payment_hash: hash,
            amount_msat: Msat(SPLIT_MSAT)
        }]
    );
    assert_eq!(z_total(&net) - z_before, SPLIT_MSAT);
    // P paid the amount and exactly the fees it reported: one fee at C,
    // two (A's and B's) on the other part.
    assert_eq!(p_before - p_total(&net), SPLIT_MSAT + fee_msat.0);
    assert!(fee_msat.0 > 3 * 1000, "three hops charged: {fee_msat:?}");
}

#[test]
fn a_failed_part_is_routed_again_beside_the_part_in_flight() {
    // C can forward only 400,000 sat to Z: a part through C larger than
    // that fails there, and only the outstanding amount is routed again
    // (the part through A and B stays in flight, held by Z).
    let push = (CAPACITY_SAT - 400_000) * 1000;
    let mut net = network_pushing(push, 0, |_| {});
    let amount = 1_200_000_000;
    let (p_before, z_before) = (p_total(&net), z_total(&net));
    let line = &mut net.line;
    let inv = invoice(line, amount);
    let hash = *inv.payment_hash();
    let now = line.now;
    line.members[P].node.pay_invoice(&inv, now).unwrap();
    line.shuttle();
    line.tick(1);

    let p = payment_of(line, P, hash);
    assert_eq!(p.status, PaymentStatus::Succeeded, "{p:?}");
    assert!(p.attempts >= 2, "a part failed and was routed again: {p:?}");
    let failed = p.parts.iter().filter(|s| s.status == PartStatus::Failed);
    assert!(failed.count() >= 1, "{p:?}");
    // The parts that paid add up to the amount, their fees to the fee.
    let paid: Vec<_> = p
        .parts
        .iter()
        .filter(|s| s.status == PartStatus::Fulfilled)
        .collect();
    assert_eq!(paid.iter().map(|s| s.amount_msat.0).sum::<u64>(), amount);
    let sent = events_of(line, P, hash);
    let [Event::PaymentSent { fee_msat, .. }] = sent.as_slice() else {
        panic!("one PaymentSent: {sent:?}");
    };
    let got = events_of(line, Z, hash);
    assert_eq!(got.len(), 1, "received once: {got:?}");
    assert_eq!(z_total(&net) - z_before, amount, "paid exactly once");
    assert_eq!(p_before - p_total(&net), amount + fee_msat.0);
    assert_eq!(paid.iter().map(|s| s.fee_msat.0).sum::<u64>(), fee_msat.0);
    // C refused at least one part; what it forwarded settled.
    let at_c = forwards(&net.line, C, hash);
    assert!(
        at_c.iter().all(|s| *s == ForwardStatus::Settled),
        "{at_c:?}"
    );
}

#[test]
fn a_split_payment_that_stops_fails_only_once_no_part_is_in_flight() {
    // One attempt only: when the part through C fails, no other is sent.
    // The part through A and B is held by Z until its `mpp_timeout`; the
    // payment stays pending until it comes back, then fails once.
    let push = (CAPACITY_SAT - 400_000) * 1000;
    let mut net = network_pushing(push, 0, |c| c.payment_retry_attempts = 1);
    let amount = 1_200_000_000;
    let (p_before, z_before) = (p_total(&net), z_total(&net));
    let line = &mut net.line;
    let inv = invoice(line, amount);
    let hash = *inv.payment_hash();
    let now = line.now;
    line.members[P].node.pay_invoice(&inv, now).unwrap();
    line.shuttle();
    let p = payment_of(line, P, hash);
    assert_eq!(
        p.status,
        PaymentStatus::Pending,
        "a part is in flight: {p:?}"
    );
    assert!(
        events_of(line, P, hash).is_empty(),
        "no event while a part is held"
    );
    assert_eq!(forwards(line, B, hash), vec![ForwardStatus::InFlight]);

    // Z's `mpp_timeout` (60 s) fails the held part back.
    line.tick(61);
    let p = payment_of(line, P, hash);
    assert_eq!(p.status, PaymentStatus::Failed, "{p:?}");
    let failed = events_of(line, P, hash);
    assert_eq!(failed.len(), 1, "failed once: {failed:?}");
    assert!(matches!(&failed[0], Event::PaymentFailed { .. }));
    // Nothing moved.
    assert_eq!(p_total(&net), p_before);
    assert_eq!(z_total(&net), z_before);
    // Nothing more comes later.
    net.line.tick(61);
    assert!(events_of(&mut net.line, P, hash).is_empty());
}

#[test]
fn a_payer_crashing_at_any_transmission_pays_a_split_payment_exactly_once() {
    crash_at_every_transmission_paying(false, (CAPACITY_SAT - 400_000) * 1000, 1_200_000_000);
}

#[test]
fn an_invoice_without_an_amount_is_paid_what_the_payer_chooses_across_retries() {
    use lightning_core::node::PayOptions;
    // C cannot carry it: the retry (over A and B) must pay the same chosen
    // amount, which only the payment's record holds.
    let mut net = network(true, false, |_| {});
    let z_before = z_total(&net);
    let line = &mut net.line;
    let now = line.now;
    let inv = line.members[Z]
        .node
        .create_invoice(None, "any amount", Duration::from_secs(3600), now)
        .unwrap();
    let hash = *inv.payment_hash();
    // No amount given: refused, nothing sent.
    let err = line.members[P].node.pay_invoice(&inv, now).unwrap_err();
    assert!(
        matches!(&err, NodeError::Invoice(m) if m.contains("no amount")),
        "{err}"
    );
    let mut options = PayOptions::default();
    options.amount_msat = Some(Msat(0));
    assert!(line.members[P]
        .node
        .pay_invoice_with(&inv, &options, now)
        .is_err());
    assert!(line.members[P].node.list_payments().is_empty());

    options.amount_msat = Some(Msat(AMOUNT_MSAT));
    line.members[P]
        .node
        .pay_invoice_with(&inv, &options, now)
        .unwrap();
    line.shuttle();
    let p = payment_of(line, P, hash);
    assert_eq!(
        (p.status, p.attempts),
        (PaymentStatus::Succeeded, 2),
        "{p:?}"
    );
    assert_eq!(p.amount_msat, Msat(AMOUNT_MSAT));
    assert_eq!(
        events_of(line, Z, hash),
        vec![Event::PaymentReceived {
            payment_hash: hash,
            amount_msat: Msat(AMOUNT_MSAT)
        }]
    );
    assert_eq!(z_total(&net) - z_before, AMOUNT_MSAT);

    // An invoice with an amount takes no other.
    let line = &mut net.line;
    let inv = invoice(line, AMOUNT_MSAT);
    options.amount_msat = Some(Msat(AMOUNT_MSAT + 1));
    let err = line.members[P]
        .node
        .pay_invoice_with(&inv, &options, now)
        .unwrap_err();
    assert!(
        matches!(&err, NodeError::Invoice(m) if m.contains("not")),
        "{err}"
    );
}
