//! What the channel writes, and when (ARCHITECTURE.md, "The channel state
//! machine" and "Channel record format"; BOLT 2, "Message Retransmission"):
//! - one durable write per received `commitment_signed` or
//!   `revoke_and_ack` batch, none for an `update_*` alone or a host update
//!   alone, so one payment's round trip costs 8 writes over both sides;
//! - each write is an incremental record: an HTLC's onion is written once,
//!   with the write that first holds the add, and later records carry only
//!   what changed;
//! - records of the first format (the whole log with inline onions) stay
//!   readable and restore a working channel.
#![allow(clippy::unwrap_used)]

mod channel_harness;
mod common;

use channel_harness::*;
use lightning_core::channel::record::{decode_snapshot, encode_snapshot_first_format};
use lightning_core::channel::{ChannelError, ChannelEvent};
use lightning_persist::{KvStore, MemoryStore};
use lightning_wire::msgs::Message;
use std::sync::Arc;

/// Every write (side, bytes) of one payment A -> B, delivered in batches.
fn pay_batched(pair: &mut Pair, n: u64, amount_msat: u64) -> Vec<(char, u64)> {
    let mut writes = Vec::new();
    let mut last = (pair.a.stats, pair.b.stats);
    let mut track = |pair: &Pair, writes: &mut Vec<(char, u64)>| {
        for (side, before, now) in [('A', last.0, pair.a.stats), ('B', last.1, pair.b.stats)] {
            assert!(now.writes - before.writes <= 1, "one write per input");
            if now.writes > before.writes {
                writes.push((side, now.bytes - before.bytes));
            }
        }
        last = (pair.a.stats, pair.b.stats);
    };
    let (_, hash) = preimage(n);
    let (id, out) = pair
        .a
        .ch
        .send_htlc(amount_msat, hash, 700_000, ONION.to_vec())
        .unwrap();
    assert!(out.persist.is_none(), "send_htlc alone writes nothing");
    pair.a.apply(out);
    let out = pair.a.ch.commit().unwrap();
    assert!(out.persist.is_some(), "commitment_signed is written first");
    pair.a.apply(out);
    track(pair, &mut writes);
    pair.deliver_all_a_to_b().unwrap(); // update_add_htlc + commitment_signed
    track(pair, &mut writes);
    pair.deliver_all_b_to_a().unwrap(); // revoke_and_ack + commitment_signed
    track(pair, &mut writes);
    pair.deliver_all_a_to_b().unwrap(); // revoke_and_ack
    track(pair, &mut writes);
    assert!(pair
        .b
        .take_events()
        .iter()
        .any(|e| matches!(e, ChannelEvent::HtlcReceived { htlc_id, .. } if *htlc_id == id)));
    let out = pair.b.ch.fulfill_htlc(id, preimage(n).0).unwrap();
    assert!(out.persist.is_none(), "fulfill_htlc alone writes nothing");
    pair.b.apply(out);
    let out = pair.b.ch.commit().unwrap();
    pair.b.apply(out);
    track(pair, &mut writes);
    pair.deliver_all_b_to_a().unwrap(); // update_fulfill_htlc + commitment_signed
    track(pair, &mut writes);
    pair.deliver_all_a_to_b().unwrap(); // revoke_and_ack + commitment_signed
    track(pair, &mut writes);
    pair.deliver_all_b_to_a().unwrap(); // revoke_and_ack
    track(pair, &mut writes);
    assert!(pair.a.outbox.is_empty() && pair.b.outbox.is_empty());
    pair.a.take_events();
    pair.b.take_events();
    writes
}

#[test]
fn a_payment_costs_eight_incremental_writes() {
    let mut o = OpenOptions::default();
    // No compaction inside the measured payments.
    o.a_config.snapshot_every = 1000;
    o.b_config.snapshot_every = 1000;
    let mut pair = open(o);
    for n in 0..4 {
        let writes = pay_batched(&mut pair, n, 50_000_000);
        let sides: String = writes.iter().map(|(s, _)| *s).collect();
        // A: commit; B: add+CS; A: RAA+CS; B: RAA; B: commit; A:
        // fulfill+CS; B: RAA+CS; A: RAA.
        assert_eq!(sides, "ABABBABA", "{writes:?}");
        // The onion (1366 bytes) is written once per side: with A's
        // commitment_signed and with B's first write that holds the add.
        let big: Vec<usize> = writes
            .iter()
            .enumerate()
            .filter(|(_, (_, b))| *b > 1366)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(big, vec![0, 1], "{writes:?}");
        for (side, bytes) in &writes[2..] {
            assert!(*bytes < 600, "side {side}: a {bytes}-byte record");
        }
        pair.check_agreement();
    }
}

#[test]
fn updates_alone_are_not_written_and_a_failing_batch_keeps_what_came_before() {
    let mut pair = open(OpenOptions::default());
    let (_, hash) = preimage(1);
    let (_, out) = pair
        .a
        .ch
        .send_htlc(5_000_000, hash, 700_000, ONION.to_vec())
        .unwrap();
    pair.a.apply(out);
    let writes = pair.b.stats.writes;
    pair.deliver_a_to_b().unwrap();
    assert_eq!(pair.b.stats.writes, writes, "update_add_htlc alone");
    // A batch whose second message fails: a commitment_signed with a
    // signature that does not verify.
    let out = pair.a.ch.commit().unwrap();
    pair.a.apply(out);
    let Some(Message::CommitmentSigned(mut cs)) = pair.a.outbox.pop_front() else {
        panic!("commitment_signed expected")
    };
    cs.signature = secp256k1::ecdsa::Signature::from_compact(&[1; 64]).unwrap();
    let (_, hash2) = preimage(2);
    let (_, out) = pair
        .b
        .ch
        .send_htlc(6_000_000, hash2, 700_000, ONION.to_vec())
        .unwrap();
    pair.b.apply(out);
    let add_from_b = pair.b.outbox.pop_front().unwrap();
    let (out, result) = pair
        .a
        .ch
        .handle_messages(&[add_from_b, Message::CommitmentSigned(cs.clone())]);
    // The first message was handled (A's view of B's add)...
    assert!(out.messages.is_empty() && out.persist.is_none());
    assert!(pair
        .a
        .ch
        .state()
        .log
        .find_add(lightning_core::channel::update_log::Side::Remote, 0)
        .is_some());
    // ...and the failing one is reported, for handle_error. (A sent that
    // commitment_signed itself; fed back to A it is a protocol error.)
    assert!(result.is_err());
    // B gets the bad signature alone: the channel fails with a typed error.
    let (_, result) = pair.b.ch.handle_messages(&[Message::CommitmentSigned(cs)]);
    assert!(matches!(
        result,
        Err(ChannelError::BadCommitmentSignature { .. })
    ));
}

#[test]
fn first_format_records_stay_readable_with_htlcs_in_flight() {
    let mut pair = open(OpenOptions::default());
    // Two HTLCs each way, committed on both sides and not yet settled.
    for (n, from_a) in [(1, true), (2, false), (3, true), (4, false)] {
        let (_, hash) = preimage(n);
        let node = if from_a { &mut pair.a } else { &mut pair.b };
        let (_, out) = node
            .ch
            .send_htlc(3_000_000 + n, hash, 700_000, ONION.to_vec())
            .unwrap();
        node.apply(out);
    }
    pair.commit_both();
    pair.run_until_quiet();
    pair.commit_both();
    pair.run_until_quiet();
    assert_eq!(pair.a.ch.state().log.updates().len(), 4);
    for side in [0, 1] {
        let node = if side == 0 { &mut pair.a } else { &mut pair.b };
        let state = node.ch.state().clone();
        let old = encode_snapshot_first_format(&state, 7);
        let (decoded, seq) = decode_snapshot(&old).unwrap();
        assert_eq!(seq, 7);
        assert_eq!(decoded, state, "side {side}");
        // A channel restored from it works on: write it alone into a fresh
        // store and restart from there.
        let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
        let key = format!("channels/{}/snapshot", hex::encode(state.channel_id.0));
        store.write("ln", &key, 7, &old).unwrap();
        node.store = store;
        node.restart();
        assert_eq!(node.ch.state(), &state);
    }
    pair.reconnect();
    pair.check_agreement();
    // Settle everything from the restored channels.
    for (n, payee_is_b, id) in [(1, true, 0), (3, true, 1), (2, false, 0), (4, false, 1)] {
        let node = if payee_is_b { &mut pair.b } else { &mut pair.a };
        let out = node.ch.fulfill_htlc(id, preimage(n).0).unwrap();
        node.apply(out);
    }
    for _ in 0..3 {
        pair.commit_both();
        pair.run_until_quiet();
    }
    assert!(pair.a.ch.state().log.updates().is_empty());
    pair.check_agreement();
}
