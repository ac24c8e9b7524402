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

use channel_harness::*;
use lightning_core::channel::update_log::{Side, Which};
use lightning_core::channel::{ChannelError, ChannelOutput, ErrorAction};
use lightning_core::testing::ledger::Ledger;
use lightning_core::testing::sim::Rng;

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
    let v = pair.a.ch.state().log.view(Side::Local, Which::Current);
    let mut ledger = Ledger::new(v.holder_msat, v.counterparty_msat);
    let (mut quiet_checks, mut restarts, mut reconnects) = (0, 0, 0);
    const OPS: usize = 10_000;
    for step in 0..OPS {
        let side = rng.below(2) as usize;
        let op = rng.below(100);
        let me = if side == 0 { &mut pair.a } else { &mut pair.b };
        match op {
            0..=14 => {
                let amount = match rng.below(4) {
                    0 => 1_000 + rng.below(500_000), // often trimmed
                    _ => 1_000_000 + rng.below(60_000_000),
                };
                let (n, hash) = ledger.new_payment(amount);
                match me.ch.send_htlc(
                    amount,
                    hash,
                    700_000 + rng.below(1000) as u32,
                    ONION.to_vec(),
                ) {
                    Ok((id, out)) => {
                        me.apply(out);
                        ledger.offered(side, id, n);
                    }
                    Err(e) => assert_eq!(e.action(), ErrorAction::Refuse, "{e}"),
                }
            }
            15..=24 => {
                let pick = ledger.books[side]
                    .incoming
                    .iter()
                    .nth(rng.below(4) as usize)
                    .map(|(a, b)| (*a, *b));
                if let Some((id, n)) = pick {
                    let fulfill = rng.below(3) != 0;
                    let r = if fulfill {
                        me.ch.fulfill_htlc(id, preimage(n).0)
                    } else {
                        me.ch.fail_htlc(id, vec![n as u8; 20])
                    };
                    if let Some(out) = ok_or_refused(r) {
                        me.apply(out);
                        ledger.removed_incoming(side, id, fulfill);
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
            _ => {
                if op >= 98 {
                    // Restart one node from its record; its unsent messages
                    // and everything in flight are lost.
                    restarts += 1;
                    me.restart();
                } else {
                    reconnects += 1;
                }
                pair.a.outbox.clear();
                pair.b.outbox.clear();
                for (i, n) in [&mut pair.a, &mut pair.b].into_iter().enumerate() {
                    let (out, dropped) = n.ch.peer_disconnected();
                    n.apply(out);
                    // Dropped offers were never committed: forget them.
                    ledger.dropped(i, &dropped);
                }
                pair.reconnect();
            }
        }
        for (i, n) in [&mut pair.a, &mut pair.b].into_iter().enumerate() {
            ledger.handle(i, n.take_events(), false);
            assert_eq!(n.ch.state().log.total_msat(), total, "value conserved");
        }
        if step % 250 == 249 {
            // Quiesce and check full agreement.
            for _ in 0..4 {
                pair.commit_both();
                pair.run_until_quiet();
            }
            for (i, n) in [&mut pair.a, &mut pair.b].into_iter().enumerate() {
                ledger.handle(i, n.take_events(), false);
            }
            pair.check_agreement();
            quiet_checks += 1;
        }
    }
    // Settle everything: nothing may be lost.
    for _ in 0..20 {
        for (i, n) in [&mut pair.a, &mut pair.b].into_iter().enumerate() {
            let open: Vec<(u64, u64)> = ledger.books[i]
                .incoming
                .iter()
                .map(|(a, b)| (*a, *b))
                .collect();
            for (id, n_) in open {
                if let Some(out) = ok_or_refused(n.ch.fulfill_htlc(id, preimage(n_).0)) {
                    n.apply(out);
                    ledger.removed_incoming(i, id, true);
                }
            }
        }
        pair.commit_both();
        pair.run_until_quiet();
        for (i, n) in [&mut pair.a, &mut pair.b].into_iter().enumerate() {
            ledger.handle(i, n.take_events(), false);
        }
    }
    pair.check_agreement();
    for (i, b) in ledger.books.iter().enumerate() {
        assert!(
            b.outgoing.is_empty(),
            "side {i}: HTLCs never settled: {:?}",
            b.outgoing
        );
        assert!(b.incoming.is_empty());
    }
    assert!(pair.a.ch.state().log.updates().is_empty());
    let v = pair.a.ch.state().log.view(Side::Local, Which::Current);
    assert_eq!(
        [i128::from(v.holder_msat), i128::from(v.counterparty_msat)],
        ledger.expected_msat,
        "balances moved by exactly the fulfilled amounts"
    );
    let settled = ledger.settled;
    assert!(settled > 100, "only {settled} HTLCs settled");
    assert!(quiet_checks >= 40 && restarts > 10 && reconnects > 10);
    eprintln!(
        "{OPS} ops: {settled} HTLCs settled, {restarts} restarts, {reconnects} reconnects, {quiet_checks} agreement checks"
    );
}
