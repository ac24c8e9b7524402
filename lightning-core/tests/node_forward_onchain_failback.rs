//! BOLT 5 ("HTLC Output Handling: Local Commitment, Local Offers" and
//! "Remote Commitment, Local Offers"): a forwarded HTLC that the
//! forwarder times out on chain is failed back upstream once the timeout
//! is at reasonable depth (6 blocks), and never if the preimage shows up
//! first. A - B - C, C holds the HTLC (a hold invoice) and goes away; B's
//! offered-HTLC deadline (or C) takes B-C on chain.
//!
//! Found by the LDK interop test `interop-ldk/tests/htlc_deadlines.rs`
//! (an LDK payee holding our forward): B's on-chain timeout failed only
//! its own payments (looked up by hash), never a forward, so the payer's
//! HTLC stayed in flight until the payer force-closed at its expiry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod forward_support;

use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::{OutPoint, Transaction};
use forward_support::Line;
use lightning_core::amount::Msat;
use lightning_core::node::{Event, ForwardStatus, PaymentHash, PaymentPreimage, PaymentStatus};
use lightning_core::onion::FailureCode;
use lightning_wire::types::ChannelId;

const CAPACITY_SAT: u64 = 1_000_000;
const AMOUNT: u64 = 40_000_000;
const HTLC_SAT: u64 = AMOUNT / 1000;

/// A - B - C with `anchors` channels; A pays C's hold invoice for
/// `preimage` over B; C holds the HTLC.
fn held_at_c(
    anchors: bool,
    preimage: PaymentPreimage,
) -> (Line, ChannelId, ChannelId, PaymentHash) {
    held_at_c_for(anchors, preimage, AMOUNT)
}

/// [`held_at_c`] for `amount_msat`.
fn held_at_c_for(
    anchors: bool,
    preimage: PaymentPreimage,
    amount_msat: u64,
) -> (Line, ChannelId, ChannelId, PaymentHash) {
    let mut line = Line::new(3, |_, c| c.channel.anchors = anchors);
    let ab = line.open_channel(0, 1, CAPACITY_SAT, 0);
    let bc = line.open_channel(1, 2, CAPACITY_SAT, 0);
    for m in &mut line.members {
        m.take_events();
    }
    let now = line.now;
    let hash = PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array());
    let invoice = line.members[2]
        .node
        .create_hold_invoice(
            hash,
            Some(Msat(amount_msat)),
            "held",
            Duration::from_secs(3600),
            now,
        )
        .unwrap();
    let route = line.route(&[ab, bc], amount_msat);
    line.members[0]
        .node
        .pay_invoice_with_route(&invoice, &route, now)
        .unwrap();
    line.shuttle();
    assert!(line.members[2]
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::HoldInvoiceAccepted { .. })));
    (line, ab, bc, hash)
}

fn funding_of(line: &Line, id: ChannelId) -> OutPoint {
    line.members[1]
        .node
        .list_channels()
        .iter()
        .find(|c| c.channel_id == id)
        .and_then(|c| c.funding_txo)
        .unwrap()
}

/// The confirmed transaction spending `op` since `from`, and its height.
fn spender(line: &Line, from: u32, op: OutPoint) -> Option<(Transaction, u32)> {
    let tip = line.chain.best_block().height;
    (from..=tip).find_map(|h| {
        line.chain
            .block_at(h)
            .unwrap()
            .txdata
            .into_iter()
            .find(|t| t.input.iter().any(|i| i.previous_output == op))
            .map(|t| (t, h))
    })
}

/// The HTLC output of commitment `c`.
fn htlc_output(c: &Transaction) -> OutPoint {
    let vout = c
        .output
        .iter()
        .position(|o| o.value.to_sat() == HTLC_SAT)
        .expect("the commitment has the HTLC output");
    OutPoint {
        txid: c.compute_txid(),
        vout: u32::try_from(vout).unwrap(),
    }
}

fn b_forward_status(line: &Line) -> ForwardStatus {
    let f = line.members[1].node.list_forwards();
    assert_eq!(f.len(), 1, "{f:?}");
    f[0].status
}

/// A's `PaymentFailed` events for `hash` (taken).
fn a_failures(line: &mut Line, hash: PaymentHash) -> Vec<(Option<u16>, Option<usize>)> {
    line.members[0]
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::PaymentFailed {
                payment_hash,
                reason,
            } if payment_hash == hash => Some((reason.failure_code, reason.failing_hop)),
            _ => None,
        })
        .collect()
}

/// C holds the HTLC and goes away; B-C goes on chain (B's commitment at
/// B's offered-HTLC deadline, or C's when `c_closes`), B times the HTLC
/// out (HTLC-timeout, or directly on C's commitment) and is restarted
/// between its confirmation and the sixth block: A's HTLC is failed back
/// with B's `permanent_channel_failure` exactly when the timeout is 6
/// deep, once, and A-B stays open with A's money back.
fn timed_out_forward_fails_back(anchors: bool, c_closes: bool) {
    let (mut line, ab, bc, hash) = held_at_c(anchors, PaymentPreimage([0x51; 32]));
    // A opened A-B with everything on its side.
    let a_before = CAPACITY_SAT * 1000;
    let funding = funding_of(&line, bc);
    let start = line.chain.best_block().height + 1;
    line.disconnect(1);
    if c_closes {
        line.members[2].node.force_close_channel(bc).unwrap();
        line.shuttle();
    }
    // Mine until B's timeout of the HTLC output confirms.
    let mut timeout = None;
    for _ in 0..300 {
        line.mine(1);
        if let Some((commitment, _)) = spender(&line, start, funding) {
            if let Some(found) = spender(&line, start, htlc_output(&commitment)) {
                timeout = Some((commitment, found));
                break;
            }
        }
        assert_eq!(b_forward_status(&line), ForwardStatus::InFlight);
    }
    let (commitment, (timeout_tx, timeout_height)) = timeout.expect("B timed the HTLC out");
    // B's commitment, or C's.
    let b_script = line.members[1].node.shutdown_script();
    if c_closes {
        assert!(timeout_tx
            .output
            .iter()
            .any(|o| o.script_pubkey == b_script));
    } else {
        assert!(!commitment
            .output
            .iter()
            .any(|o| o.script_pubkey == b_script));
    }
    assert_ne!(timeout_tx.lock_time.to_consensus_u32(), 0, "a timeout");
    assert_eq!(line.chain.best_block().height, timeout_height);
    // 1 deep up to 5 deep: nothing goes back yet; B restarts at 3.
    for depth in 1..6 {
        if depth == 3 {
            line.restart(1);
            line.disconnect(1);
            line.shuttle();
        }
        assert_eq!(b_forward_status(&line), ForwardStatus::InFlight, "{depth}");
        assert_eq!(
            line.members[0].payment_status(&hash),
            Some(PaymentStatus::Pending)
        );
        line.mine(1);
    }
    // 6 deep: failed back, with B's own permanent_channel_failure.
    assert_eq!(b_forward_status(&line), ForwardStatus::Failed);
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Failed)
    );
    assert_eq!(
        a_failures(&mut line, hash),
        vec![(Some(FailureCode::PERMANENT_CHANNEL_FAILURE.0), Some(0))]
    );
    let resolved_at = line.members[1].node.list_forwards()[0].resolved_at;
    assert_eq!(line.members[0].local_msat(ab), a_before);
    // Neither more blocks nor a restart repeat it; A-B stays open.
    line.mine(3);
    line.restart(1);
    line.disconnect(1);
    line.shuttle();
    line.mine(3);
    assert!(a_failures(&mut line, hash).is_empty());
    assert_eq!(
        line.members[1].node.list_forwards()[0].resolved_at,
        resolved_at
    );
    assert_eq!(b_forward_status(&line), ForwardStatus::Failed);
    for m in [0, 1] {
        assert!(line.members[m]
            .node
            .list_channels()
            .iter()
            .any(|c| c.channel_id == ab && c.is_usable));
    }
    assert_eq!(line.members[0].local_msat(ab), a_before);
}

#[test]
fn timed_out_on_b_commitment_fails_back_static_remotekey() {
    timed_out_forward_fails_back(false, false);
}

#[test]
fn timed_out_on_b_commitment_fails_back_anchors() {
    timed_out_forward_fails_back(true, false);
}

#[test]
fn timed_out_on_c_commitment_fails_back_static_remotekey() {
    timed_out_forward_fails_back(false, true);
}

#[test]
fn timed_out_on_c_commitment_fails_back_anchors() {
    timed_out_forward_fails_back(true, true);
}

/// B closes B-C before the HTLC's expiry; C, away, claims the HTLC with
/// its preimage on B's commitment, but its claim stays out of blocks until
/// B's HTLC-timeout has been broadcast at the expiry (which then stays out
/// in turn): B takes the preimage from C's claim and fulfils A (the
/// preimage wins), and never fails A's HTLC back, however deep things go.
fn preimage_before_the_timeout_confirms(anchors: bool) {
    let preimage = PaymentPreimage([0x52; 32]);
    let (mut line, _ab, bc, hash) = held_at_c(anchors, preimage);
    let funding = funding_of(&line, bc);
    let start = line.chain.best_block().height + 1;
    line.disconnect(1);
    line.members[1].node.force_close_channel(bc).unwrap();
    line.shuttle();
    line.mine(1);
    let (commitment, _) = spender(&line, start, funding).expect("B's commitment confirmed");
    let op = htlc_output(&commitment);
    // C learns it may claim (B cannot hear of it off chain).
    let now = line.now;
    line.members[2].node.claim_for_hash(preimage, now).unwrap();
    line.shuttle();
    let has_preimage = |t: &Transaction| {
        t.input
            .iter()
            .any(|i| i.previous_output == op && i.witness.iter().any(|w| w == preimage.0))
    };
    let spending = |line: &Line| -> Vec<Transaction> {
        line.chain
            .mempool()
            .into_iter()
            .filter(|t| t.input.iter().any(|i| i.previous_output == op))
            .collect()
    };
    let mut timeout_seen = false;
    let mut c_claim: Option<Transaction> = None;
    for _ in 0..300 {
        // One block, fed to A and B first: B's HTLC-timeout, once
        // broadcast, is taken out of the mempool (it never confirms).
        line.chain.mine_blocks(1, &line.wallet.script_pubkey());
        for m in 0..3 {
            if m == 2 {
                for t in spending(&line) {
                    if !has_preimage(&t) {
                        timeout_seen = true;
                        line.chain
                            .with(|ch| ch.remove_from_mempool(&t.compute_txid()));
                    }
                }
            }
            let member = &mut line.members[m];
            lightning_test_support::host::feed_blocks(
                &mut member.node,
                &mut member.fed,
                &line.chain,
            );
        }
        line.shuttle();
        // C's claim stays out until B's timeout was broadcast.
        for t in spending(&line) {
            if has_preimage(&t) {
                c_claim = Some(t.clone());
                if !timeout_seen {
                    line.chain
                        .with(|ch| ch.remove_from_mempool(&t.compute_txid()));
                }
            }
        }
        for r in line.chain.take_rejections() {
            if has_preimage(&r.tx) {
                c_claim = Some(r.tx);
            }
        }
        if timeout_seen && spending(&line).is_empty() {
            if let Some(t) = c_claim.clone() {
                let _ = line.chain.submit_transaction(t);
            }
        }
        if let Some((t, _)) = spender(&line, start, op) {
            assert!(has_preimage(&t), "C's claim confirmed: {t:?}");
            break;
        }
        assert_eq!(b_forward_status(&line), ForwardStatus::InFlight);
    }
    assert!(timeout_seen, "B broadcast its HTLC-timeout");
    assert!(spender(&line, start, op).is_some_and(|(t, _)| has_preimage(&t)));
    assert_eq!(b_forward_status(&line), ForwardStatus::Settled);
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Succeeded)
    );
    // Deep, and across a restart: never failed.
    line.mine(8);
    line.restart(1);
    line.disconnect(1);
    line.shuttle();
    line.mine(4);
    assert_eq!(b_forward_status(&line), ForwardStatus::Settled);
    assert!(a_failures(&mut line, hash).is_empty());
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Succeeded)
    );
}

#[test]
fn a_preimage_before_the_timeout_confirms_fulfils_upstream_static_remotekey() {
    preimage_before_the_timeout_confirms(false);
}

#[test]
fn a_preimage_before_the_timeout_confirms_fulfils_upstream_anchors() {
    preimage_before_the_timeout_confirms(true);
}

/// BOLT 5: "for any committed HTLC that does NOT have an output in this
/// commitment transaction: once the commitment transaction has reached
/// reasonable depth: MUST fail the corresponding incoming HTLC". A dust
/// forward (trimmed from B's commitment) goes back when B's commitment,
/// confirmed at B's offered-HTLC deadline, is 6 deep, across a restart.
fn dust_forward_fails_back(anchors: bool) {
    let (mut line, _ab, bc, hash) = held_at_c_for(anchors, PaymentPreimage([0x53; 32]), 300_000);
    let funding = funding_of(&line, bc);
    let start = line.chain.best_block().height + 1;
    line.disconnect(1);
    let mut confirmed = None;
    for _ in 0..300 {
        line.mine(1);
        if let Some((c, h)) = spender(&line, start, funding) {
            confirmed = Some((c, h));
            break;
        }
    }
    let (commitment, height) = confirmed.expect("B went to chain");
    assert!(commitment.output.iter().all(|o| o.value.to_sat() != 300));
    assert_eq!(line.chain.best_block().height, height);
    for depth in 1..6 {
        if depth == 2 {
            line.restart(1);
            line.disconnect(1);
            line.shuttle();
        }
        assert_eq!(b_forward_status(&line), ForwardStatus::InFlight, "{depth}");
        line.mine(1);
    }
    assert_eq!(b_forward_status(&line), ForwardStatus::Failed);
    assert_eq!(
        a_failures(&mut line, hash),
        vec![(Some(FailureCode::PERMANENT_CHANNEL_FAILURE.0), Some(0))]
    );
    line.mine(2);
    assert!(a_failures(&mut line, hash).is_empty());
}

#[test]
fn a_dust_forward_fails_back_once_the_commitment_is_deep_static_remotekey() {
    dust_forward_fails_back(false);
}

#[test]
fn a_dust_forward_fails_back_once_the_commitment_is_deep_anchors() {
    dust_forward_fails_back(true);
}
