//! A seeded random walk of 10,000 operations on two wired channels
//! ([`lightning_test_support::sim`]): HTLC offers both ways, fulfills,
//! fails, fee updates, commits, message deliveries one at a time and in
//! batches, disconnections, restarts from the stored record at random
//! points, and crashes between handling a message and its write.
//!
//! Checked throughout: value is conserved; no HTLC is received or settled
//! twice, or lost; host calls a restart undid (they had no write yet) are
//! undone in the ledger too; when quiet, both sides hold the same
//! commitments and every commitment we hold verifies against the funding
//! output (libbitcoinconsensus). At the end everything settles and each
//! balance moved by exactly the fulfilled amounts.
#![allow(clippy::unwrap_used)]

mod channel_harness;
mod common;

use channel_harness::*;
use lightning_test_support::sim::{random_ops, Op, Sim};

#[test]
fn ten_thousand_random_operations() {
    let mut o = OpenOptions::default();
    o.a_config.snapshot_every = 16;
    o.b_config.snapshot_every = 16;
    o.a_config.max_dust_htlc_exposure_msat = 50_000_000;
    o.b_config.max_dust_htlc_exposure_msat = 50_000_000;
    let mut sim = Sim::new(open(o));
    const OPS: usize = 10_000;
    let ops = random_ops(0x5eed_1234_abcd_0001, OPS);
    let batches = ops
        .iter()
        .filter(|op| matches!(op, Op::DeliverAll { .. }))
        .count();
    for op in ops {
        sim.step(op);
    }
    sim.finish();
    let s = sim.stats;
    let settled = sim.ledger.settled;
    eprintln!(
        "{OPS} ops: {settled} HTLCs settled, {} delivered ({batches} batch deliveries), {} restarts ({} crashes before a write), {} reconnects, {} agreement checks, {} refused host calls",
        s.delivered, s.restarts, s.crashes, s.reconnects, s.agreements, s.refused
    );
    assert!(!sim.tainted && !sim.failed);
    assert!(settled > 100, "only {settled} HTLCs settled");
    assert!(
        s.agreements >= 40 && s.restarts > 10 && s.crashes > 10 && s.reconnects > 10,
        "{s:?}"
    );
    assert!(batches > 500, "only {batches} batch deliveries");
}
