//! Issue 19: the forwarding node B of A - B - C restarted from its store
//! in place of each of its transmissions during a forward (the fulfil path
//! and the fail path), and the rules that keep a forward's money safe
//! across restarts: an outgoing HTLC that can still be claimed downstream
//! is never failed back (excessive failback); a forwarded HTLC is never
//! settled from B's own invoices (CVE-2020-26896).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod forward_support;

use std::time::Duration;

use forward_support::Line;
use lightning_core::amount::Msat;
use lightning_core::node::{
    Event, ForwardStatus, InvoiceStatus, PaymentHash, PaymentStatus, PersistRequest, RecipientOnion,
};
use lightning_core::onion::FailureCode;
use lightning_wire::bolt11::Bolt11Invoice;
use lightning_wire::types::ChannelId;

const CAPACITY_SAT: u64 = 1_000_000;
const AMOUNT: u64 = 40_000_000;
const FEE: u64 = 1000 + AMOUNT / 1_000_000;

fn line() -> (Line, ChannelId, ChannelId) {
    Line::a_b_c(CAPACITY_SAT)
}

/// A's and B's balances on A - B, then B's and C's on B - C.
fn balances(line: &Line, ab: ChannelId, bc: ChannelId) -> [u64; 4] {
    [
        line.members[0].local_msat(ab),
        line.members[1].local_msat(ab),
        line.members[1].local_msat(bc),
        line.members[2].local_msat(bc),
    ]
}

/// The [`balances`] once A paid C `AMOUNT` through B, B earning `FEE`,
/// from `before`.
fn forwarded(before: [u64; 4]) -> [u64; 4] {
    [
        before[0] - AMOUNT - FEE,
        before[1] + AMOUNT + FEE,
        before[2] - AMOUNT,
        before[3] + AMOUNT,
    ]
}

/// Member `i`'s invoice for `AMOUNT`, described as `description`.
fn invoice_of(line: &mut Line, i: usize, description: &str) -> Bolt11Invoice {
    let now = line.now;
    line.members[i]
        .node
        .create_invoice(
            Some(Msat(AMOUNT)),
            description,
            Duration::from_secs(3600),
            now,
        )
        .unwrap()
}

/// The status of member `i`'s invoice `hash`.
fn invoice_status(line: &Line, i: usize, hash: &PaymentHash) -> InvoiceStatus {
    line.members[i]
        .node
        .list_invoices()
        .into_iter()
        .find(|inv| inv.payment_hash == *hash)
        .unwrap()
        .status
}

/// What A's onion tells the last hop: `AMOUNT` with `payment_secret`,
/// final delta 18.
fn recipient(payment_secret: [u8; 32]) -> RecipientOnion {
    RecipientOnion {
        amount_msat: AMOUNT,
        payment_secret: Some(payment_secret),
        final_cltv_expiry_delta: 18,
        ..RecipientOnion::default()
    }
}

/// B(1) is restarted from its store in place of its transmission `n`
/// (counted from now).
fn crash_b_at(line: &mut Line, n: usize) {
    line.crash_member = 1;
    line.steps = 0;
    line.crash_at = Some(n);
}

/// Runs `scenario` on a fresh [`line`] (with its A - B and B - C) for
/// n = `from`, `from` + 1, ... (the scenario restarts B in place of its
/// transmission n, [`crash_b_at`]), until a run with n > 0 saw no crash:
/// B made fewer than n transmissions, every point was tried. Gives that
/// last n.
fn each_crash_point(
    from: usize,
    mut scenario: impl FnMut(&mut Line, ChannelId, ChannelId, usize),
) -> usize {
    let mut n = from;
    loop {
        let (mut line, ab, bc) = line();
        scenario(&mut line, ab, bc, n);
        if n > 0 && line.crashes == 0 {
            return n;
        }
        n += 1;
    }
}

/// A starts paying `invoice` (`AMOUNT`) over A - B - C; nothing is
/// delivered yet.
fn start_paying(line: &mut Line, ab: ChannelId, bc: ChannelId, invoice: &Bolt11Invoice) {
    let now = line.now;
    let route = line.route(&[ab, bc], AMOUNT);
    line.members[0]
        .node
        .pay_invoice_with_route(invoice, &route, now)
        .unwrap();
}

/// C's messages on B - C are held from now on; A pays `invoice` and the
/// line settles: B forwarded, C does not answer.
fn pay_while_c_is_silent(line: &mut Line, ab: ChannelId, bc: ChannelId, invoice: &Bolt11Invoice) {
    line.links[1].hold_from = Some(2);
    start_paying(line, ab, bc, invoice);
    line.shuttle();
}

/// C answers at last: its messages are no longer held, B - C reconnects
/// and the line settles.
fn c_answers(line: &mut Line) {
    line.links[1].hold_from = None;
    line.disconnect(1);
    line.connect(1);
    line.shuttle();
}

/// A sends over the route through B to C with `recipient` (retried while
/// it fails because an offer was lost to a crash, up to 5 times); the
/// codes and hops of every failure A saw, and whether it succeeded.
fn send(
    line: &mut Line,
    ab: ChannelId,
    bc: ChannelId,
    hash: PaymentHash,
    recipient: &RecipientOnion,
) -> (Vec<(u16, usize)>, bool) {
    let mut failures = Vec::new();
    for _ in 0..5 {
        let now = line.now;
        let route = line.route(&[ab, bc], recipient.amount_msat);
        line.members[0]
            .node
            .send_to_route(&route, hash, recipient, now)
            .unwrap();
        line.shuttle();
        // Let anything a restart left unanswered settle.
        for l in 0..line.links.len() {
            line.disconnect(l);
            line.connect(l);
        }
        line.shuttle();
        for e in line.members[0].take_events() {
            if let Event::PaymentFailed {
                payment_hash,
                reason,
            } = e
            {
                if payment_hash == hash {
                    failures.push((
                        reason.failure_code.unwrap_or(0),
                        reason.failing_hop.unwrap_or(usize::MAX),
                    ));
                }
            }
        }
        match line.members[0].payment_status(&hash) {
            Some(PaymentStatus::Succeeded) => return (failures, true),
            Some(PaymentStatus::Failed) => {
                // A failure made by C (the final answer) is not retried.
                if failures.last().is_some_and(|(_, hop)| *hop == 1) {
                    return (failures, false);
                }
            }
            other => panic!("the payment is still {other:?} after settling"),
        }
    }
    (failures, false)
}

/// B's forwards: none in flight, at most one settled.
fn check_forwards(line: &Line) -> usize {
    let forwards = line.members[1].node.list_forwards();
    assert!(
        forwards.iter().all(|f| f.status != ForwardStatus::InFlight),
        "{forwards:?}"
    );
    let settled = forwards
        .iter()
        .filter(|f| f.status == ForwardStatus::Settled)
        .count();
    assert!(settled <= 1, "{forwards:?}");
    settled
}

#[test]
fn b_restarted_in_place_of_each_transmission_of_a_fulfilled_forward() {
    let n = each_crash_point(1, |line, ab, bc, n| {
        let before = balances(line, ab, bc);
        let invoice = invoice_of(line, 2, "crash");
        let recipient = recipient(invoice.payment_secret().0);
        crash_b_at(line, n);
        let (failures, ok) = send(line, ab, bc, *invoice.payment_hash(), &recipient);
        assert!(ok, "crash at B's transmission {n}: failed {failures:?}");
        // Only B's own `temporary_channel_failure` (an offer lost to the
        // crash) may come before the success.
        assert!(
            failures
                .iter()
                .all(|f| *f == (FailureCode::TEMPORARY_CHANNEL_FAILURE.0, 0)),
            "crash at {n}: {failures:?}"
        );
        assert_eq!(
            balances(line, ab, bc),
            forwarded(before),
            "crash at B's transmission {n}"
        );
        assert_eq!(check_forwards(line), 1, "crash at {n}");
        assert_eq!(
            invoice_status(line, 2, invoice.payment_hash()),
            InvoiceStatus::Paid
        );
    });
    // B made fewer than `n` transmissions: every point was tried.
    assert!(n > 10, "B transmitted only {} times", n - 1);
}

#[test]
fn b_restarted_in_place_of_each_transmission_of_a_failed_forward() {
    let n = each_crash_point(1, |line, ab, bc, n| {
        let before = balances(line, ab, bc);
        let invoice = invoice_of(line, 2, "crash");
        // A wrong payment secret: C fails it.
        let recipient = recipient([0x42; 32]);
        crash_b_at(line, n);
        let (failures, ok) = send(line, ab, bc, *invoice.payment_hash(), &recipient);
        assert!(!ok);
        assert_eq!(
            failures.last(),
            Some(&(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS.0, 1)),
            "crash at B's transmission {n}: {failures:?}"
        );
        assert_eq!(balances(line, ab, bc), before, "crash at {n}");
        assert_eq!(check_forwards(line), 0, "crash at {n}");
    });
    assert!(n > 10, "B transmitted only {} times", n - 1);
}

/// CVE-2020-26896: B holds an invoice whose hash A routes *through* B to
/// C. B must forward it (C, who does not know the preimage, fails it), not
/// settle it from its own invoice: that would hand A the preimage of B's
/// invoice. Also with B restarted in place of each of its transmissions
/// (a forwarded HTLC answered again after a restart is answered from the
/// forwarding record, never from the invoices).
#[test]
fn a_forwarded_htlc_is_never_settled_from_our_own_invoice() {
    // n = 0: no restart at all.
    each_crash_point(0, |line, ab, bc, n| {
        let before = balances(line, ab, bc);
        let b_invoice = invoice_of(line, 1, "bob's own");
        let hash = *b_invoice.payment_hash();
        // The same hash, amount and even B's payment secret, but the onion
        // says: forward to C.
        let recipient = recipient(b_invoice.payment_secret().0);
        if n > 0 {
            crash_b_at(line, n);
        }
        let (failures, ok) = send(line, ab, bc, hash, &recipient);
        assert!(!ok, "crash at {n}: B settled a forward from its invoice");
        assert_eq!(
            failures.last(),
            Some(&(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS.0, 1)),
            "crash at {n}: C (hop 1) must be the one failing it: {failures:?}"
        );
        let a_payment = line.members[0]
            .node
            .list_payments()
            .into_iter()
            .find(|p| p.payment_hash == hash)
            .unwrap();
        assert_eq!(a_payment.preimage, None, "A never learns B's preimage");
        assert_eq!(
            invoice_status(line, 1, &hash),
            InvoiceStatus::Open,
            "crash at {n}"
        );
        assert_eq!(balances(line, ab, bc), before, "crash at {n}");
    });
}

/// Excessive failback: B's outgoing HTLC is committed to C but C never
/// answers (its messages are held). However often B restarts, with blocks
/// passing, B never fails A's HTLC back while C can still claim the
/// outgoing one with the preimage. Once C answers, A's payment succeeds.
#[test]
fn an_unresolved_outgoing_htlc_is_never_failed_back() {
    let (mut line, ab, bc) = line();
    let before = balances(&line, ab, bc);
    let invoice = invoice_of(&mut line, 2, "slow");
    let hash = *invoice.payment_hash();
    pay_while_c_is_silent(&mut line, ab, bc, &invoice);
    let in_flight = |line: &Line| {
        let f = line.members[1].node.list_forwards();
        f.len() == 1 && f[0].status == ForwardStatus::InFlight
    };
    assert!(in_flight(&line), "B forwarded and waits");
    for _ in 0..3 {
        line.restart(1);
        line.shuttle();
        // One block each time: C checks the HTLC's expiry against its
        // `min_final_cltv_expiry_delta` only once it answers.
        line.mine(1);
        assert!(in_flight(&line));
        assert_eq!(
            line.members[0].payment_status(&hash),
            Some(PaymentStatus::Pending)
        );
    }
    c_answers(&mut line);
    let events = line.members[0].take_events();
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Succeeded),
        "{events:?}"
    );
    assert_eq!(balances(&line, ab, bc), forwarded(before));
}

#[test]
fn a_force_closed_downstream_channel_does_not_fail_the_forward_back() {
    let (mut line, ab, bc) = line();
    let invoice = invoice_of(&mut line, 2, "closed");
    let hash = *invoice.payment_hash();
    pay_while_c_is_silent(&mut line, ab, bc, &invoice);
    // B gives up on C and closes on chain. C never signed a commitment of
    // B's with the HTLC, but C holds one with it: until B's commitment is
    // 6 deep (BOLT 5's reasonable depth) a reorg could still confirm C's,
    // where C claims with the preimage: A's HTLC must stay.
    line.members[1].node.force_close_channel(bc).unwrap();
    line.shuttle();
    line.mine(1);
    line.mine(2);
    line.restart(1);
    line.shuttle();
    line.mine(2);
    let f = line.members[1].node.list_forwards();
    assert_eq!(f.len(), 1);
    assert_eq!(
        f[0].status,
        ForwardStatus::InFlight,
        "not failed back: {f:?}"
    );
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Pending)
    );
    assert!(line.members[0]
        .take_events()
        .iter()
        .all(|e| !matches!(e, Event::PaymentFailed { .. })));
    // 6 deep: failed back (BOLT 5: no output in the confirmed commitment).
    line.mine(1);
    assert_eq!(
        line.members[1].node.list_forwards()[0].status,
        ForwardStatus::Failed
    );
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Failed)
    );
}

/// C fulfils while the A-B connection is down: B holds the preimage but
/// cannot claim A's HTLC off chain. Before A could time it out, B closes
/// A-B on chain and claims the HTLC with the preimage (BOLT 2 fulfilment
/// deadline, BOLT 5 HTLC-success).
#[test]
fn a_fulfilled_forward_is_claimed_on_chain_when_upstream_stays_away() {
    use bitcoin::hashes::{sha256, Hash};
    let (mut line, ab, bc) = line();
    let invoice = invoice_of(&mut line, 2, "away");
    let hash = *invoice.payment_hash();
    let start = line.chain.best_block().height;
    pay_while_c_is_silent(&mut line, ab, bc, &invoice);
    // A goes away; C answers.
    line.disconnect(0);
    c_answers(&mut line);
    let f = line.members[1].node.list_forwards();
    assert_eq!(f[0].status, ForwardStatus::Settled, "B holds the preimage");
    assert_eq!(line.members[2].local_msat(bc), AMOUNT);
    // A's HTLC expires at start + 18 + 3 + 72; B goes on chain 12 blocks
    // before, not earlier.
    let incoming_expiry = start + 18 + 3 + 72;
    let blocks = usize::try_from(incoming_expiry - 12 - start).unwrap();
    line.mine(blocks - 1);
    let usable = |line: &Line| {
        line.members[1]
            .node
            .list_channels()
            .iter()
            .any(|c| c.channel_id == ab && c.phase == lightning_core::channel::Phase::Normal)
    };
    assert!(usable(&line), "not closed early");
    line.mine(1);
    assert!(!usable(&line), "closed at the deadline");
    // The commitment confirms; B's HTLC-success reveals the preimage on
    // chain.
    line.mine(1);
    line.mine(1);
    let reveals = |tx: &bitcoin::Transaction| {
        tx.input.iter().any(|i| {
            i.witness
                .iter()
                .any(|w| w.len() == 32 && sha256::Hash::hash(w).to_byte_array() == hash.0)
        })
    };
    let tip = line.chain.best_block().height;
    let on_chain = (start..=tip)
        .filter_map(|h| line.chain.block_at(h))
        .any(|b| b.txdata.iter().any(reveals));
    let in_mempool = line.chain.mempool().iter().any(reveals);
    assert!(
        on_chain || in_mempool,
        "B claimed A's HTLC with the preimage"
    );
}

/// Persist before send, with asynchronous persistence: the forwarding
/// record is in the same batch as the outgoing channel's update that
/// commits the offer, and nothing reaches C before that batch is durable.
#[test]
fn the_forwarding_record_is_in_the_batch_of_the_outgoing_commit() {
    let (mut line, ab, bc) = line();
    line.set_async(1, true);
    let before = balances(&line, ab, bc);
    let invoice = invoice_of(&mut line, 2, "async");
    line.members[1].auto_complete = false;
    start_paying(&mut line, ab, bc, &invoice);
    // Move bytes, completing B's writes one batch at a time, until the
    // batch that holds the forwarding record comes out.
    let bc_prefix = format!("channels/{}/", hex::encode(bc.0));
    let mut found = None;
    for _ in 0..50 {
        line.shuttle();
        let Some(req) = line.members[1].node.poll_persist() else {
            continue;
        };
        let keys: Vec<String> = req
            .ops
            .iter()
            .filter_map(|op| match op {
                lightning_persist::BatchOp::Write { key, .. } => Some(key.clone()),
                _ => None,
            })
            .collect();
        if keys.iter().any(|k| k.starts_with("forwards/")) {
            found = Some((req, keys));
            break;
        }
        complete_b_write(&mut line, &req);
    }
    let (req, keys) = found.expect("a batch with the forwarding record");
    assert!(
        keys.iter().any(|k| k.starts_with(&bc_prefix)),
        "the outgoing channel's record is in the same batch: {keys:?}"
    );
    // Until it is durable, C hears nothing of the forward.
    line.shuttle();
    assert!(line.members[1].node.has_held_messages());
    assert!(
        line.members[2].node.list_invoices()[0]
            .amount_received_msat
            .0
            == 0
    );
    assert_eq!(
        balances(&line, ab, bc)[2..],
        before[2..],
        "nothing offered to C yet"
    );
    complete_b_write(&mut line, &req);
    line.members[1].auto_complete = true;
    line.shuttle();
    assert_eq!(
        line.members[0].payment_status(invoice.payment_hash()),
        Some(PaymentStatus::Succeeded)
    );
    assert_eq!(balances(&line, ab, bc), forwarded(before));
}

/// B's write batch `req` is durable: applied to B's store, and B's node
/// told so.
fn complete_b_write(line: &mut Line, req: &PersistRequest) {
    req.apply(&*line.members[1].store).unwrap();
    line.members[1].node.persist_completed(req.id);
}

/// A pays C over A-B-C for a hold invoice of C's whose preimage is
/// `preimage`; C holds the HTLC. Gives the line, A-B, B-C and the hash.
fn held_at_c(
    preimage: lightning_core::node::PaymentPreimage,
) -> (Line, ChannelId, ChannelId, PaymentHash) {
    use bitcoin::hashes::{sha256, Hash};
    let (mut line, ab, bc) = line();
    let now = line.now;
    let hash = PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array());
    let invoice = line.members[2]
        .node
        .create_hold_invoice(
            hash,
            Some(Msat(AMOUNT)),
            "chain",
            Duration::from_secs(3600),
            now,
        )
        .unwrap();
    start_paying(&mut line, ab, bc, &invoice);
    line.shuttle();
    assert!(line.members[2]
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::HoldInvoiceAccepted { .. })));
    (line, ab, bc, hash)
}

/// C holds the HTLC (a hold invoice) and claims it while B-C is down; B
/// closes B-C on chain and C claims the HTLC on B's commitment with the
/// preimage (BOLT 5, "Remote Commitment"). B learns the preimage from C's
/// claim and fulfils A's HTLC with it (BOLT 5: "MUST extract the payment
/// preimage from the transaction input witness"): B earns its fee and A is
/// paid.
#[test]
fn a_preimage_revealed_on_chain_downstream_fulfils_the_forward_upstream() {
    let preimage = lightning_core::node::PaymentPreimage([42; 32]);
    let (mut line, _ab, bc, hash) = held_at_c(preimage);
    let now = line.now;
    line.disconnect(1);
    line.members[2].node.claim_for_hash(preimage, now).unwrap();
    line.members[1].node.force_close_channel(bc).unwrap();
    line.shuttle();
    let mut settled = false;
    for _ in 0..30 {
        line.mine(1);
        line.shuttle();
        let f = line.members[1].node.list_forwards();
        if f.iter().any(|f| f.status == ForwardStatus::Settled) {
            settled = true;
            break;
        }
    }
    let f = line.members[1].node.list_forwards();
    assert!(settled, "B fulfils upstream from C's on-chain claim: {f:?}");
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Succeeded)
    );
    assert!(line.members[1].take_events().iter().any(|e| matches!(e,
        Event::PaymentForwarded { payment_hash, fee_earned_msat, .. }
            if *payment_hash == hash && fee_earned_msat.0 == FEE)));
}

/// The other way round: A closes A-B on chain while C holds the HTLC, and
/// only then does C claim it, off chain, from B. B's incoming HTLC is on
/// A's confirmed commitment: B claims it there with the preimage (BOLT 5:
/// an HTLC output offered to us whose preimage we learn is ours to spend)
/// instead of letting A time it out, and earns its fee.
#[test]
fn a_preimage_learned_after_the_incoming_channel_went_on_chain_is_claimed_there() {
    let preimage = lightning_core::node::PaymentPreimage([43; 32]);
    let (mut line, ab, _bc, _hash) = held_at_c(preimage);
    let now = line.now;
    // A-B goes on chain first.
    line.disconnect(0);
    line.members[0].node.force_close_channel(ab).unwrap();
    line.shuttle();
    let start = line.chain.best_block().height + 1;
    line.mine(1);
    line.shuttle();
    // Now C claims, and B learns the preimage off chain.
    line.members[2].node.claim_for_hash(preimage, now).unwrap();
    line.shuttle();
    let mut claimed = false;
    for _ in 0..30 {
        line.mine(1);
        line.shuttle();
        let tip = line.chain.best_block().height;
        claimed = (start..=tip).any(|h| {
            line.chain.block_at(h).unwrap().txdata.iter().any(|t| {
                t.input
                    .iter()
                    .any(|i| i.witness.iter().any(|w| w == preimage.0))
            })
        });
        if claimed {
            break;
        }
    }
    assert!(claimed, "B claims its incoming HTLC on A's commitment");
    let f = line.members[1].node.list_forwards();
    assert!(
        f.iter().any(|f| f.status == ForwardStatus::Settled),
        "{f:?}"
    );
}
