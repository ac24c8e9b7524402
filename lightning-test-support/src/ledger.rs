//! What each side's "node" knows about its HTLCs, checked against the
//! channel's events: an HTLC is received once, settled (fulfilled or
//! failed) once, only the offerer's own HTLCs are settled, a preimage is the
//! right one, and at the end every offer is settled and each balance moved
//! by exactly the fulfilled amounts.
//!
//! The payer's outcome is tied to the payee's: the ledger records, per
//! payment, whether the payee fulfilled or failed it, and the payer's
//! `HtlcFulfilled` or `HtlcFailed` must say the same. A payment's outcome
//! never changes: failed-then-fulfilled, fulfilled-then-failed, or a payer
//! told "failed" while the payee was paid are all errors.

use std::collections::{BTreeMap, BTreeSet};

use lightning_core::channel::update_log::HtlcAdd;
use lightning_core::channel::ChannelEvent;
use lightning_wire::types::PaymentHash;

use crate::pair::preimage;

/// One side's view.
#[derive(Debug, Default, Clone)]
pub struct Book {
    /// Our offers not yet settled: id -> payment number.
    pub outgoing: BTreeMap<u64, u64>,
    /// The peer's offers irrevocably committed and not yet removed by us:
    /// id -> payment number.
    pub incoming: BTreeMap<u64, u64>,
    /// Payments we offered that are settled.
    pub settled_out: BTreeSet<u64>,
    /// (id, payment) of every HTLC received.
    pub received: BTreeSet<(u64, u64)>,
}

/// How a payment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The payee fulfilled it (released the preimage).
    Fulfilled,
    /// The payee failed it (`update_fail_htlc` or
    /// `update_fail_malformed_htlc`).
    Failed,
}

/// Both sides' books, and the payments made so far.
#[derive(Debug, Clone)]
pub struct Ledger {
    /// A's and B's books.
    pub books: [Book; 2],
    /// Payment hash -> payment number.
    known: BTreeMap<PaymentHash, u64>,
    /// Payment number -> amount.
    amounts: BTreeMap<u64, u64>,
    next_payment: u64,
    /// HTLCs settled (fulfilled or failed) back at their offerer.
    pub settled: u64,
    /// Payment number -> what its payee did.
    pub payee_outcome: BTreeMap<u64, Outcome>,
    /// Payment number -> what its payer was told.
    pub payer_outcome: BTreeMap<u64, Outcome>,
    /// What each side should hold once nothing is pending: the opening
    /// balances moved by every fulfill.
    pub expected_msat: [i128; 2],
}

impl Ledger {
    /// A ledger for a channel whose balances are `a_msat`, `b_msat`.
    pub fn new(a_msat: u64, b_msat: u64) -> Self {
        Ledger {
            books: [Book::default(), Book::default()],
            known: BTreeMap::new(),
            amounts: BTreeMap::new(),
            next_payment: 0,
            settled: 0,
            payee_outcome: BTreeMap::new(),
            payer_outcome: BTreeMap::new(),
            expected_msat: [i128::from(a_msat), i128::from(b_msat)],
        }
    }

    /// A new payment of `amount_msat`: its number and payment hash.
    pub fn new_payment(&mut self, amount_msat: u64) -> (u64, PaymentHash) {
        self.next_payment += 1;
        let n = self.next_payment;
        let (_, hash) = preimage(n);
        self.known.insert(hash, n);
        self.amounts.insert(n, amount_msat);
        (n, hash)
    }

    /// `side` offered payment `n` as its HTLC `id`.
    pub fn offered(&mut self, side: usize, id: u64, n: u64) {
        assert!(
            self.books[side].outgoing.insert(id, n).is_none(),
            "side {side}: HTLC id {id} offered twice"
        );
    }

    /// `side` fulfilled (or failed) the peer's HTLC `id` with a host call
    /// the channel accepted.
    pub fn removed_incoming(&mut self, side: usize, id: u64, fulfilled: bool) {
        let n = self.books[side]
            .incoming
            .remove(&id)
            .unwrap_or_else(|| panic!("side {side}: removed HTLC {id} it never received"));
        let outcome = if fulfilled {
            Outcome::Fulfilled
        } else {
            Outcome::Failed
        };
        if let Some(before) = self.payee_outcome.insert(n, outcome) {
            assert_eq!(
                before, outcome,
                "side {side}: payment {n} (HTLC {id}) was {before:?} and is now {outcome:?}"
            );
        }
        if fulfilled {
            let amount = i128::from(self.amounts[&n]);
            self.expected_msat[side] += amount;
            self.expected_msat[1 - side] -= amount;
        }
    }

    /// `side`'s offer `id` was undone by a restart before any write covered
    /// it: it was never made.
    pub fn unoffered(&mut self, side: usize, id: u64) {
        assert!(
            self.books[side].outgoing.remove(&id).is_some(),
            "side {side}: undid HTLC {id} it never offered"
        );
    }

    /// `side`'s removal of incoming HTLC `id` (payment `n`) was undone by a
    /// restart before any write covered it: the HTLC is open again.
    pub fn unremoved(&mut self, side: usize, id: u64, n: u64, fulfilled: bool) {
        assert!(
            self.books[side].incoming.insert(id, n).is_none(),
            "side {side}: undid the removal of HTLC {id} that is open"
        );
        // An undone failure never reached the payer (its removal needs a
        // commitment of ours, hence a write): the payee may settle the
        // payment either way again. An undone fulfil stays recorded: the
        // preimage may have left, so the payee must fulfil it again.
        if !fulfilled {
            assert_eq!(
                self.payer_outcome.get(&n),
                None,
                "side {side}: undid the failure of payment {n} whose payer already heard"
            );
            self.payee_outcome.remove(&n);
        }
        if fulfilled {
            let amount = i128::from(self.amounts[&n]);
            self.expected_msat[side] -= amount;
            self.expected_msat[1 - side] += amount;
        }
    }

    /// `side`'s offers that were never committed and were dropped on
    /// disconnection.
    pub fn dropped(&mut self, side: usize, adds: &[HtlcAdd]) {
        for add in adds {
            assert!(
                self.books[side].outgoing.remove(&add.id).is_some(),
                "side {side}: dropped HTLC {} it never offered",
                add.id
            );
        }
    }

    fn number(&self, hash: &PaymentHash) -> u64 {
        *self
            .known
            .get(hash)
            .expect("an HTLC with a payment hash of this test")
    }

    /// Checks and records `side`'s events. `ChannelFailed` is a failure
    /// unless `failure_expected`.
    pub fn handle(&mut self, side: usize, events: Vec<ChannelEvent>, failure_expected: bool) {
        for e in events {
            match e {
                ChannelEvent::HtlcReceived { htlc_id, add, .. } => {
                    let n = self.number(&add.payment_hash);
                    let book = &mut self.books[side];
                    assert!(
                        book.received.insert((htlc_id, n)),
                        "side {side}: HTLC {htlc_id} received twice"
                    );
                    assert!(book.incoming.insert(htlc_id, n).is_none());
                    assert_eq!(self.amounts[&n], add.amount_msat, "amount changed");
                }
                ChannelEvent::HtlcFulfilled {
                    htlc_id,
                    payment_preimage,
                    payment_hash,
                    ..
                } => {
                    let n = self.number(&payment_hash);
                    assert_eq!(preimage(n).0, payment_preimage, "wrong preimage");
                    self.payer_heard(side, htlc_id, n, Outcome::Fulfilled);
                }
                ChannelEvent::HtlcFailed {
                    htlc_id,
                    payment_hash,
                    ..
                } => {
                    let n = self.number(&payment_hash);
                    self.payer_heard(side, htlc_id, n, Outcome::Failed);
                }
                ChannelEvent::ChannelFailed { reason, .. } => {
                    assert!(failure_expected, "side {side}: channel failed: {reason}");
                }
                _ => {}
            }
        }
    }

    /// `side`, the payer of payment `n` (its HTLC `htlc_id`), was told
    /// `outcome`: it must be what the payee did, and the first word on the
    /// payment; a repeat (after reconnection) must say the same.
    fn payer_heard(&mut self, side: usize, htlc_id: u64, n: u64, outcome: Outcome) {
        let payee = self.payee_outcome.get(&n).copied();
        assert_eq!(
            payee,
            Some(outcome),
            "side {side}: payer told {outcome:?} for payment {n} (HTLC {htlc_id}) but the payee did {payee:?}"
        );
        let book = &mut self.books[side];
        match book.outgoing.remove(&htlc_id) {
            Some(m) => {
                assert_eq!(
                    m, n,
                    "side {side}: HTLC {htlc_id} settled for another payment"
                );
                assert!(book.settled_out.insert(n), "settled twice");
                assert!(
                    self.payer_outcome.insert(n, outcome).is_none(),
                    "side {side}: payment {n} settled twice"
                );
                self.settled += 1;
            }
            // A repeat fulfil after reconnection (same preimage) is
            // harmless; a repeat failure, or a change, is not.
            None => {
                assert_eq!(
                    outcome,
                    Outcome::Fulfilled,
                    "side {side}: failed an unknown HTLC {htlc_id} (payment {n})"
                );
                let before = self.payer_outcome.get(&n).copied();
                assert_eq!(
                    before,
                    Some(outcome),
                    "side {side}: HTLC {htlc_id} (payment {n}) was {before:?} and is now {outcome:?}"
                );
            }
        }
    }

    /// Nothing is pending on either side.
    pub fn all_settled(&self) -> bool {
        self.books
            .iter()
            .all(|b| b.outgoing.is_empty() && b.incoming.is_empty())
    }
}
