//! A hostile peer with a funded channel to a real `Node` (issue 13,
//! finding 10): the onion replay cache is on.
//!
//! The peer drives its side of the channel with the library's own
//! `Channel`, so it can offer any HTLC with any onion.
#![allow(clippy::unwrap_used)]

mod node_hostile_support;

use lightning_core::node::{Event, InvoiceStatus};
use node_hostile_support::Funded;

/// Finding 10: the same onion in a second HTLC is refused (BOLT 4: a
/// packet previously "locally redeemed"), even for an invoice whose
/// checks it passes; the first is fulfilled.
#[test]
fn a_replayed_onion_is_refused() {
    let mut s = Funded::usable();
    let invoice = s.invoice(20_000);
    let hash: [u8; 32] = invoice.payment_hash().0;
    let cltv = s.chain.best_block().height + 30;
    let packet = s.payment_onion(&invoice, 20_000, 20_000, cltv, 0x33);

    assert!(s.offer(20_000, hash, cltv, packet.clone()), "the payment");
    assert!(!s.offer(20_000, hash, cltv, packet), "the replay");
}

/// Issue 14: HTLCs are tracked by (channel, htlc id), not by payment hash.
/// Two HTLCs with one hash in one commitment, each a valid onion paying
/// the whole invoice (a payer paying twice, or a hostile peer): the first
/// pays the invoice and is fulfilled; the second is a different HTLC for a
/// paid invoice and is failed (BOLT 4, final node: for a payment hash
/// already paid it "MAY treat the payment hash as unknown"), not claimed
/// silently. One `PaymentReceived`, for the one HTLC claimed. (Before
/// issue 14 both were claimed: 40,000 msat taken, 20,000 reported.)
#[test]
fn two_htlcs_with_one_hash_are_answered_each_on_its_own() {
    let mut s = Funded::usable();
    let invoice = s.invoice(20_000);
    let hash: [u8; 32] = invoice.payment_hash().0;
    let cltv = s.chain.best_block().height + 30;
    let first = s.payment_onion(&invoice, 20_000, 20_000, cltv, 0x31);
    let second = s.payment_onion(&invoice, 20_000, 20_000, cltv, 0x32);
    assert_ne!(first, second, "two different onions (no replay)");

    let answers = s.offer_together(&[(20_000, hash, cltv, first), (20_000, hash, cltv, second)]);
    assert_eq!(
        answers,
        vec![true, false],
        "the first pays, the second fails"
    );

    let received: Vec<u64> = s
        .node_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::PaymentReceived {
                payment_hash,
                amount_msat,
            } if payment_hash.0 == hash => Some(amount_msat.0),
            _ => None,
        })
        .collect();
    assert_eq!(received, vec![20_000], "one payment received, once");
    let inv = s
        .node
        .list_invoices()
        .into_iter()
        .find(|i| i.payment_hash.0 == hash)
        .unwrap();
    assert_eq!(inv.status, InvoiceStatus::Paid);
    assert_eq!(inv.amount_received_msat.0, 20_000);
    // Our side of the channel holds the one HTLC claimed, not two.
    let balance = s.node.list_channels()[0].local_balance_msat.0;
    assert_eq!(balance, 20_000, "exactly one HTLC's amount is ours");
}

/// Issue 14, then issue 19: two parts of one payment (one hash, each half
/// of the total) in one commitment over one channel are one HTLC set
/// (BOLT 4, "Basic Multi-Part Payments"): both are fulfilled, and one
/// `PaymentReceived` reports the total. (Before issue 19 the node took no
/// multi-part payments and failed both.) A third HTLC with the same hash,
/// carrying the whole amount, then fails: the invoice is paid.
#[test]
fn parts_of_one_hash_pay_together_and_a_later_whole_htlc_fails() {
    let mut s = Funded::usable();
    let invoice = s.invoice(20_000);
    let hash: [u8; 32] = invoice.payment_hash().0;
    let cltv = s.chain.best_block().height + 30;
    let a = s.payment_onion(&invoice, 10_000, 20_000, cltv, 0x41);
    let b = s.payment_onion(&invoice, 10_000, 20_000, cltv, 0x42);
    let answers = s.offer_together(&[(10_000, hash, cltv, a), (10_000, hash, cltv, b)]);
    assert_eq!(answers, vec![true, true], "one set of two parts");
    let received: Vec<u64> = s
        .node_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::PaymentReceived {
                payment_hash,
                amount_msat,
            } if payment_hash.0 == hash => Some(amount_msat.0),
            _ => None,
        })
        .collect();
    assert_eq!(received, vec![20_000], "the total, once");
    assert_eq!(s.node.list_channels()[0].local_balance_msat.0, 20_000);
    let whole = s.payment_onion(&invoice, 20_000, 20_000, cltv, 0x43);
    assert!(!s.offer(20_000, hash, cltv, whole), "the invoice is paid");
    assert!(s
        .node_events()
        .iter()
        .all(|e| !matches!(e, Event::PaymentReceived { .. })));
    assert_eq!(s.node.list_channels()[0].local_balance_msat.0, 20_000);
}
