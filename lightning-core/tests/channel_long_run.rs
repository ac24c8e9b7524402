//! A seeded random walk of 10,000+ operations on two wired channels: HTLC
//! offers both ways, fulfills, fails, fee updates, commits, message
//! deliveries, disconnections and restarts from the stored record at random
//! points (including between a record write and the send of its messages).
//! Checked throughout: value is conserved; no HTLC is settled twice or lost;
//! when quiet, both sides hold the same commitments and every commitment we
//! hold verifies against the funding output (libbitcoinconsensus).
#![allow(clippy::unwrap_used, clippy::cloned_ref_to_slice_refs)]

mod channel_harness;
mod common;

use std::collections::{BTreeMap, BTreeSet};

use channel_harness::*;
use lightning_core::channel::{ChannelError, ChannelEvent, ChannelOutput, ErrorAction};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What one side's "node" knows about HTLCs.
#[derive(Default)]
struct Book {
    /// Our offers still outstanding: id -> payment number.
    outgoing: BTreeMap<u64, u64>,
    /// Offers the peer made that are locked in and not yet removed by us.
    incoming: BTreeMap<u64, u64>,
    settled_out: BTreeSet<u64>,
    received: BTreeSet<(u64, u64)>,
}

fn hash_number(hash: &[u8; 32], known: &BTreeMap<[u8; 32], u64>) -> u64 {
    *known.get(hash).unwrap()
}

fn handle(
    book: &mut Book,
    events: Vec<ChannelEvent>,
    known: &BTreeMap<[u8; 32], u64>,
    settled: &mut u64,
) {
    for e in events {
        match e {
            ChannelEvent::HtlcReceived { htlc_id, add, .. } => {
                let n = hash_number(&add.payment_hash, known);
                assert!(
                    book.received.insert((htlc_id, n)),
                    "HTLC {htlc_id} received twice"
                );
                assert!(book.incoming.insert(htlc_id, n).is_none());
            }
            ChannelEvent::HtlcFulfilled {
                htlc_id,
                payment_preimage,
                payment_hash,
            } => {
                let Some(n) = book.outgoing.remove(&htlc_id) else {
                    // A repeat after reconnection: same preimage, settled.
                    let n = hash_number(&payment_hash, known);
                    assert!(book.settled_out.contains(&n), "fulfilled an unknown HTLC");
                    assert_eq!(preimage(n).0, payment_preimage);
                    continue;
                };
                assert_eq!(preimage(n).0, payment_preimage);
                assert!(book.settled_out.insert(n), "settled twice");
                *settled += 1;
            }
            ChannelEvent::HtlcFailed { htlc_id, .. } => {
                let n = book
                    .outgoing
                    .remove(&htlc_id)
                    .expect("failed an unknown HTLC");
                assert!(book.settled_out.insert(n), "settled twice");
                *settled += 1;
            }
            ChannelEvent::ChannelFailed { reason, .. } => panic!("channel failed: {reason}"),
            _ => {}
        }
    }
}

fn ok_or_refused(r: Result<ChannelOutput, ChannelError>) -> Option<ChannelOutput> {
    match r {
        Ok(o) => Some(o),
        Err(e) if e.action() == ErrorAction::Refuse => None,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn ten_thousand_random_operations() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut o = OpenOptions::default();
    o.a_config.snapshot_every = 16;
    o.b_config.snapshot_every = 16;
    o.a_config.max_dust_htlc_exposure_msat = 50_000_000;
    o.b_config.max_dust_htlc_exposure_msat = 50_000_000;
    let mut pair = open(o);
    let total = u128::from(pair.total_msat());
    let mut books = [Book::default(), Book::default()];
    let mut known: BTreeMap<[u8; 32], u64> = BTreeMap::new();
    let mut next_payment = 0u64;
    let mut settled = 0u64;
    let (mut quiet_checks, mut restarts, mut reconnects) = (0, 0, 0);
    const OPS: usize = 10_000;
    for step in 0..OPS {
        let side = rng.below(2) as usize;
        let op = rng.below(100);
        let (me, book) = if side == 0 {
            (&mut pair.a, &mut books[0])
        } else {
            (&mut pair.b, &mut books[1])
        };
        match op {
            0..=14 => {
                next_payment += 1;
                let (_, hash) = preimage(next_payment);
                known.insert(hash, next_payment);
                let amount = match rng.below(4) {
                    0 => 1_000 + rng.below(500_000), // often trimmed
                    _ => 1_000_000 + rng.below(60_000_000),
                };
                match me.ch.send_htlc(
                    amount,
                    hash,
                    700_000 + rng.below(1000) as u32,
                    ONION.to_vec(),
                ) {
                    Ok((id, out)) => {
                        me.apply(out);
                        book.outgoing.insert(id, next_payment);
                    }
                    Err(e) => assert_eq!(e.action(), ErrorAction::Refuse, "{e}"),
                }
            }
            15..=24 => {
                if let Some((&id, &n)) = book.incoming.iter().nth(rng.below(4) as usize) {
                    let r = if rng.below(3) == 0 {
                        me.ch.fail_htlc(id, vec![n as u8; 20])
                    } else {
                        me.ch.fulfill_htlc(id, preimage(n).0)
                    };
                    if let Some(out) = ok_or_refused(r) {
                        me.apply(out);
                        book.incoming.remove(&id);
                    }
                }
            }
            25..=27 => {
                if side == 0 {
                    let fee = 253 + rng.below(8000) as u32;
                    if let Some(out) = ok_or_refused(me.ch.update_fee(fee)) {
                        me.apply(out);
                    }
                }
            }
            28..=39 => {
                if let Some(out) = ok_or_refused(me.ch.commit()) {
                    me.apply(out);
                }
            }
            40..=95 => {
                let r = if side == 0 && !pair.a.outbox.is_empty() {
                    Some(pair.deliver_a_to_b())
                } else if side == 1 && !pair.b.outbox.is_empty() {
                    Some(pair.deliver_b_to_a())
                } else {
                    None
                };
                if let Some(r) = r {
                    r.unwrap();
                }
            }
            96..=97 => {
                reconnects += 1;
                // Dropped offers were never committed: forget them.
                pair.a.outbox.clear();
                pair.b.outbox.clear();
                let [b0, b1] = &mut books;
                for (n, b) in [(&mut pair.a, b0), (&mut pair.b, b1)] {
                    let (out, dropped) = n.ch.peer_disconnected();
                    n.apply(out);
                    for add in dropped {
                        assert!(b.outgoing.remove(&add.id).is_some());
                    }
                }
                pair.reconnect();
            }
            _ => {
                restarts += 1;
                // Restart one node from its record; its unsent messages and
                // everything in flight are lost.
                me.restart();
                pair.a.outbox.clear();
                pair.b.outbox.clear();
                let [b0, b1] = &mut books;
                for (n, b) in [(&mut pair.a, b0), (&mut pair.b, b1)] {
                    let (out, dropped) = n.ch.peer_disconnected();
                    n.apply(out);
                    for add in dropped {
                        b.outgoing.remove(&add.id);
                    }
                }
                pair.reconnect();
            }
        }
        for (i, n) in [&mut pair.a, &mut pair.b].into_iter().enumerate() {
            let ev = n.take_events();
            handle(&mut books[i], ev, &known, &mut settled);
            assert_eq!(n.ch.state().log.total_msat(), total, "value conserved");
        }
        if step % 250 == 249 {
            // Quiesce and check full agreement.
            for _ in 0..4 {
                pair.commit_both();
                pair.run_until_quiet();
            }
            for (i, n) in [&mut pair.a, &mut pair.b].into_iter().enumerate() {
                let ev = n.take_events();
                handle(&mut books[i], ev, &known, &mut settled);
            }
            pair.check_agreement();
            quiet_checks += 1;
        }
    }
    // Settle everything: nothing may be lost.
    for _ in 0..20 {
        for (i, n) in [&mut pair.a, &mut pair.b].into_iter().enumerate() {
            let ids: Vec<(u64, u64)> = books[i].incoming.iter().map(|(a, b)| (*a, *b)).collect();
            for (id, n_) in ids {
                if let Some(out) = ok_or_refused(n.ch.fulfill_htlc(id, preimage(n_).0)) {
                    n.apply(out);
                    books[i].incoming.remove(&id);
                }
            }
        }
        pair.commit_both();
        pair.run_until_quiet();
        for (i, n) in [&mut pair.a, &mut pair.b].into_iter().enumerate() {
            let ev = n.take_events();
            handle(&mut books[i], ev, &known, &mut settled);
        }
    }
    pair.check_agreement();
    for (i, b) in books.iter().enumerate() {
        assert!(
            b.outgoing.is_empty(),
            "side {i}: HTLCs never settled: {:?}",
            b.outgoing
        );
        assert!(b.incoming.is_empty());
    }
    assert!(pair.a.ch.state().log.updates().is_empty());
    assert!(settled > 100, "only {settled} HTLCs settled");
    assert!(quiet_checks >= 40 && restarts > 10 && reconnects > 10);
    eprintln!(
        "{OPS} ops: {settled} HTLCs settled, {restarts} restarts, {reconnects} reconnects, {quiet_checks} agreement checks"
    );
}
