//! Issue 19: hold invoices across a forwarding node. C issues an invoice
//! for a hash only the test (the host) knows the preimage of; A pays it
//! through B; C holds the HTLC until the host claims it, fails it, or its
//! claim deadline comes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod forward_support;

use forward_support::Line;
use lightning_core::node::{
    Event, ForwardStatus, PaymentHash, PaymentPreimage, PaymentStatus, HOLD_MARGIN_BLOCKS,
};
use lightning_core::onion::FailureCode;
use lightning_wire::types::ChannelId;

const AMOUNT: u64 = 30_000_000;
const FEE: u64 = 1000 + AMOUNT / 1_000_000;

fn line() -> (Line, ChannelId, ChannelId) {
    let mut line = Line::new(3, |_, _| {});
    let ab = line.open_channel(0, 1, 1_000_000, 0);
    let bc = line.open_channel(1, 2, 1_000_000, 0);
    for m in &mut line.members {
        m.take_events();
    }
    (line, ab, bc)
}

/// C's hold invoice for a fresh preimage, paid by A through B; C has
/// raised `HoldInvoiceAccepted`. Returns the preimage and hash.
fn held(line: &mut Line, ab: ChannelId, bc: ChannelId, seed: u8) -> (PaymentPreimage, PaymentHash) {
    let preimage = PaymentPreimage([seed; 32]);
    (preimage, line.pay_held(ab, bc, preimage, AMOUNT))
}

fn failed_at(line: &mut Line, hash: PaymentHash) -> (Option<u16>, Option<usize>) {
    line.members[0]
        .take_events()
        .into_iter()
        .find_map(|e| match e {
            Event::PaymentFailed {
                payment_hash,
                reason,
            } if payment_hash == hash => Some((reason.failure_code, reason.failing_hop)),
            _ => None,
        })
        .expect("PaymentFailed")
}

#[test]
fn a_held_payment_is_claimed_by_the_host_even_across_a_restart() {
    let (mut line, ab, bc) = line();
    let a_before = line.members[0].local_msat(ab);
    let (preimage, hash) = held(&mut line, ab, bc, 0x31);
    // C restarts while it holds the HTLC: still held, announced again.
    line.restart(2);
    line.shuttle();
    assert!(line.members[2].take_events().iter().any(
        |e| matches!(e, Event::HoldInvoiceAccepted { payment_hash, .. } if *payment_hash == hash)
    ));
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Pending)
    );
    // A wrong preimage claims nothing.
    let now = line.now;
    assert!(line.members[2]
        .node
        .claim_for_hash(PaymentPreimage([0x32; 32]), now)
        .is_err());
    line.members[2].node.claim_for_hash(preimage, now).unwrap();
    line.shuttle();
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Succeeded)
    );
    assert!(line.members[2].take_events().iter().any(|e| matches!(e,
        Event::PaymentReceived { payment_hash, amount_msat } if *payment_hash == hash && amount_msat.0 == AMOUNT)));
    assert_eq!(line.members[0].local_msat(ab), a_before - AMOUNT - FEE);
    assert_eq!(line.members[2].local_msat(bc), AMOUNT);
    assert_eq!(
        line.members[1].node.list_forwards()[0].status,
        ForwardStatus::Settled
    );
    // Claimed once.
    assert!(line.members[2].node.claim_for_hash(preimage, now).is_err());
}

#[test]
fn a_held_payment_failed_by_the_host_fails_back_to_the_payer() {
    let (mut line, ab, bc) = line();
    let before = (
        line.members[0].local_msat(ab),
        line.members[2].local_msat(bc),
    );
    let (preimage, hash) = held(&mut line, ab, bc, 0x41);
    let now = line.now;
    line.members[2].node.fail_for_hash(hash, now).unwrap();
    line.shuttle();
    assert_eq!(
        failed_at(&mut line, hash),
        (
            Some(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS.0),
            Some(1)
        )
    );
    assert_eq!(
        (
            line.members[0].local_msat(ab),
            line.members[2].local_msat(bc)
        ),
        before
    );
    // Failed for good: no claim afterwards, and a second payment fails.
    assert!(line.members[2].node.claim_for_hash(preimage, now).is_err());
    assert_eq!(
        line.members[1].node.list_forwards()[0].status,
        ForwardStatus::Failed
    );
}

#[test]
fn a_held_payment_is_failed_back_at_its_claim_deadline() {
    let (mut line, ab, bc) = line();
    let before = (
        line.members[0].local_msat(ab),
        line.members[2].local_msat(bc),
    );
    let height = line.chain.best_block().height;
    let (preimage, hash) = held(&mut line, ab, bc, 0x51);
    // The HTLC reaches C expiring at height + 18 + 3 (A's slack); its
    // claim deadline is the fulfilment deadline (12) plus the margin
    // before that.
    let expiry = height + 18 + 3;
    let claim_deadline = expiry - 12 - HOLD_MARGIN_BLOCKS;
    let blocks = usize::try_from(claim_deadline - height).unwrap();
    line.mine(blocks - 1);
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Pending)
    );
    line.mine(1);
    assert_eq!(
        failed_at(&mut line, hash),
        (
            Some(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS.0),
            Some(1)
        )
    );
    assert_eq!(
        (
            line.members[0].local_msat(ab),
            line.members[2].local_msat(bc)
        ),
        before
    );
    let now = line.now;
    assert!(
        line.members[2].node.claim_for_hash(preimage, now).is_err(),
        "too late"
    );
}
