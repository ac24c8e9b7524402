//! The shared channel harness (`lightning_test_support`: the ledger, the
//! pair and the simulator) fails on wrong outcomes. Each test feeds it one
//! (a doctored event, or an endpoint whose store loses writes) and expects
//! the harness to report it; a twin test runs the same steps honestly and
//! expects them to pass, so the failure is the doctoring's doing.
#![allow(clippy::unwrap_used)]

mod channel_harness;
mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use channel_harness::{open, open_with_stores, preimage, OpenOptions};
use lightning_core::channel::{ChannelEvent, HtlcFailReason};
use lightning_persist::{KvStore, MemoryStore, PersistError, Versioned};
use lightning_test_support::sim::{Op, Sim};

/// Runs `f`, which must panic with a message containing `needle`.
fn expect_harness_error(needle: &str, f: impl FnOnce()) {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("the harness accepted a wrong outcome");
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    assert!(
        msg.contains(needle),
        "the harness failed, but not on the wrong outcome: {msg:?} (expected {needle:?})"
    );
}

/// A simulation where A offered payment 1 (1,000,000 msat plus) to B and
/// it is committed both ways.
fn offered() -> Sim {
    let mut sim = Sim::new(open(OpenOptions::default()));
    sim.step(Op::Send {
        side: 0,
        small: false,
        amount: 5,
    });
    sim.step(Op::Quiesce);
    assert_eq!(sim.ledger.books[1].incoming.len(), 1, "B holds the HTLC");
    sim
}

fn fulfilled_event(n: u64) -> ChannelEvent {
    let (p, h) = preimage(n);
    ChannelEvent::HtlcFulfilled {
        htlc_id: 0,
        payment_hash: h,
        payment_preimage: p,
        attribution_data: None,
    }
}

fn failed_event(n: u64) -> ChannelEvent {
    ChannelEvent::HtlcFailed {
        htlc_id: 0,
        payment_hash: preimage(n).1,
        reason: HtlcFailReason::Onion(vec![0; 20]),
        attribution_data: None,
    }
}

#[test]
fn honest_fail_and_fulfil_pass() {
    let mut sim = offered();
    sim.step(Op::Fail { side: 1, index: 0 });
    sim.step(Op::Quiesce);
    assert_eq!(sim.ledger.settled, 1);
    let mut sim = offered();
    sim.step(Op::Fulfill { side: 1, index: 0 });
    sim.step(Op::Quiesce);
    // A repeat of the same fulfil (after a reconnection) is harmless.
    sim.pair.a.events.push(fulfilled_event(1));
    sim.step(Op::Commit { side: 0 });
    sim.finish();
    assert_eq!(sim.ledger.settled, 1);
}

/// The payee failed the payment and the payer heard so; then the payer is
/// told it was fulfilled. Before the payee's outcome was recorded, the
/// ledger let this through (the payment was "already settled").
#[test]
fn failed_then_fulfilled_is_caught() {
    let mut sim = offered();
    sim.step(Op::Fail { side: 1, index: 0 });
    sim.step(Op::Quiesce);
    assert_eq!(sim.ledger.settled, 1, "A heard of the failure");
    sim.pair.a.events.push(fulfilled_event(1));
    expect_harness_error("payer told Fulfilled for payment 1", || {
        sim.step(Op::Commit { side: 0 })
    });
}

/// The payee fulfilled (its preimage is out) while the payer is told the
/// payment failed: the payer would retry, or give up, on money it paid.
#[test]
fn payer_told_failed_while_payee_paid_is_caught() {
    let mut sim = offered();
    sim.step(Op::Fulfill { side: 1, index: 0 });
    // Before B's update_fulfill_htlc reaches A, A hears "failed".
    sim.pair.a.events.push(failed_event(1));
    expect_harness_error("payer told Failed for payment 1", || {
        sim.step(Op::Commit { side: 0 })
    });
}

/// A fulfil heard twice is fine; a failure after the fulfil is not.
#[test]
fn fulfilled_then_failed_is_caught() {
    let mut sim = offered();
    sim.step(Op::Fulfill { side: 1, index: 0 });
    sim.step(Op::Quiesce);
    sim.pair.a.events.push(failed_event(1));
    expect_harness_error("payer told Failed for payment 1", || {
        sim.step(Op::Commit { side: 0 })
    });
}

/// A store that can be told to lose every write from now on (returning
/// success): the endpoint believes its state is durable when it is not.
struct LosingStore {
    inner: MemoryStore,
    lose: AtomicBool,
}

impl KvStore for LosingStore {
    fn read(&self, namespace: &str, key: &str) -> Result<Option<Versioned>, PersistError> {
        self.inner.read(namespace, key)
    }
    fn write(
        &self,
        namespace: &str,
        key: &str,
        version: u64,
        value: &[u8],
    ) -> Result<(), PersistError> {
        if self.lose.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.inner.write(namespace, key, version, value)
    }
    fn remove(&self, namespace: &str, key: &str) -> Result<(), PersistError> {
        if self.lose.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.inner.remove(namespace, key)
    }
    fn list(&self, namespace: &str) -> Result<Vec<String>, PersistError> {
        self.inner.list(namespace)
    }
}

fn run_with_store(lose: bool) {
    let store = Arc::new(LosingStore {
        inner: MemoryStore::new(),
        lose: AtomicBool::new(false),
    });
    let pair = open_with_stores(
        OpenOptions::default(),
        store.clone(),
        Arc::new(MemoryStore::new()),
    );
    let mut sim = Sim::new(pair);
    store.lose.store(lose, Ordering::SeqCst);
    // An HTLC offered and committed: A writes its new commitment.
    sim.step(Op::Send {
        side: 0,
        small: false,
        amount: 5,
    });
    sim.step(Op::Quiesce);
    sim.step(Op::Restart { side: 0 });
    sim.step(Op::Quiesce);
}

#[test]
fn restart_from_a_durable_store_passes() {
    run_with_store(false);
}

/// The restored state is compared with the last durable one: a store that
/// lost the latest writes restores an older state, and the harness says so.
#[test]
fn restore_of_a_lost_write_is_caught() {
    expect_harness_error("restored state is not the last durable state", || {
        run_with_store(true)
    });
}

/// A crash between handling a message and its write restores the state of
/// the write before: the simulator checks it on every `DeliverAndCrash`;
/// here a store that loses that earlier write makes it fail.
#[test]
fn crash_restore_of_a_lost_write_is_caught() {
    let store = Arc::new(LosingStore {
        inner: MemoryStore::new(),
        lose: AtomicBool::new(false),
    });
    let pair = open_with_stores(
        OpenOptions::default(),
        Arc::new(MemoryStore::new()),
        store.clone(),
    );
    let mut sim = Sim::new(pair);
    sim.step(Op::Send {
        side: 0,
        small: false,
        amount: 5,
    });
    sim.step(Op::Commit { side: 0 });
    sim.step(Op::Deliver { from: 0 }); // update_add_htlc
    store.lose.store(true, Ordering::SeqCst);
    // commitment_signed: B writes (lost) and revokes; B signs in turn.
    sim.step(Op::Deliver { from: 0 });
    sim.step(Op::Commit { side: 1 });
    sim.step(Op::Deliver { from: 1 });
    sim.step(Op::Deliver { from: 1 });
    assert!(!sim.pair.a.outbox.is_empty(), "A's revoke_and_ack");
    let crashes = sim.stats.crashes;
    expect_harness_error("restored state is not the last durable state", || {
        sim.step(Op::DeliverAndCrash { from: 0 })
    });
    assert_eq!(sim.stats.crashes, crashes + 1);
}
