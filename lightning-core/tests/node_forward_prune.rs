//! Issue 19: pruning the forwarding history. A - B - C; A pays C through
//! B. B's records of resolved forwards go from `list_forwards` and from
//! its store when pruned, and nothing B still needs goes with them: not a
//! forward in flight, not one whose `PaymentForwarded` event the host has
//! not taken, not one resolved after the cutoff. A restarted B forwards as
//! before. `ForwardingConfig::history_retention` prunes from the timer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod forward_support;

use std::time::Duration;

use forward_support::Line;
use lightning_core::amount::Msat;
use lightning_core::node::{ForwardStatus, PaymentHash, PaymentStatus};
use lightning_persist::KvStore;
use lightning_wire::types::ChannelId;

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
const AMOUNT_MSAT: u64 = 20_000_000;

fn line(retention: Option<Duration>) -> (Line, ChannelId, ChannelId) {
    let mut line = Line::new(3, |i, c| {
        if i == B {
            c.forwarding.history_retention = retention;
        }
    });
    let ab = line.open_channel(A, B, 1_000_000, 0);
    let bc = line.open_channel(B, C, 1_000_000, 0);
    for m in &mut line.members {
        m.take_events();
    }
    (line, ab, bc)
}

/// A pays a fresh invoice of C through B (messages not moved yet).
fn start_payment(line: &mut Line, ab: ChannelId, bc: ChannelId) -> PaymentHash {
    let now = line.now;
    let invoice = line.members[C]
        .node
        .create_invoice(
            Some(Msat(AMOUNT_MSAT)),
            "pruned",
            Duration::from_secs(3600),
            now,
        )
        .unwrap();
    let route = line.route(&[ab, bc], AMOUNT_MSAT);
    line.members[A]
        .node
        .pay_invoice_with_route(&invoice, &route, now)
        .unwrap();
    *invoice.payment_hash()
}

/// B's forwarding records in its store.
fn stored_forwards(line: &Line) -> usize {
    line.members[B]
        .store
        .list("node")
        .unwrap()
        .iter()
        .filter(|k| k.starts_with("forwards/"))
        .count()
}

fn statuses(line: &Line) -> Vec<ForwardStatus> {
    line.members[B]
        .node
        .list_forwards()
        .into_iter()
        .map(|f| f.status)
        .collect()
}

#[test]
fn resolved_forwards_are_pruned_and_nothing_still_needed() {
    let (mut line, ab, bc) = line(None);
    for _ in 0..3 {
        start_payment(&mut line, ab, bc);
        line.shuttle();
    }
    assert_eq!(statuses(&line), vec![ForwardStatus::Settled; 3]);
    assert_eq!(stored_forwards(&line), 3);

    // One more in flight: C's answers held.
    line.links[1].hold_from = Some(C);
    let held = start_payment(&mut line, ab, bc);
    line.shuttle();
    assert_eq!(statuses(&line).last(), Some(&ForwardStatus::InFlight));

    // A cutoff before they were resolved prunes nothing.
    let before = line.now - Duration::from_secs(1);
    assert_eq!(line.members[B].node.prune_forwards(before).unwrap(), 0);
    assert_eq!(stored_forwards(&line), 4);

    // A cutoff after: the three settled go, the one in flight stays.
    line.tick(5);
    let cutoff = line.now;
    assert_eq!(line.members[B].node.prune_forwards(cutoff).unwrap(), 3);
    assert_eq!(statuses(&line), vec![ForwardStatus::InFlight]);
    assert_eq!(stored_forwards(&line), 1);

    // B restarts from its store: still only the one in flight, and it
    // still resolves (the link to A kept).
    line.restart(B);
    line.shuttle();
    assert_eq!(statuses(&line), vec![ForwardStatus::InFlight]);
    line.links[1].hold_from = None;
    line.shuttle();
    assert_eq!(statuses(&line), vec![ForwardStatus::Settled]);
    assert_eq!(
        line.members[A].payment_status(&held),
        Some(PaymentStatus::Succeeded)
    );

    // An unacknowledged PaymentForwarded keeps its record: events left in
    // the nodes.
    let unacked = start_payment(&mut line, ab, bc);
    line.shuttle_links_only();
    line.now += Duration::from_secs(5);
    let cutoff = line.now;
    assert_eq!(
        line.members[B].node.prune_forwards(cutoff).unwrap(),
        1,
        "only the earlier one"
    );
    let left = line.members[B].node.list_forwards();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].payment_hash, unacked);
    // Taken by the host: now it goes too.
    line.shuttle();
    assert_eq!(line.members[B].node.prune_forwards(cutoff).unwrap(), 1);
    assert!(line.members[B].node.list_forwards().is_empty());
    assert_eq!(stored_forwards(&line), 0);

    // B forwards as before.
    let again = start_payment(&mut line, ab, bc);
    line.shuttle();
    assert_eq!(
        line.members[A].payment_status(&again),
        Some(PaymentStatus::Succeeded)
    );
    assert_eq!(statuses(&line), vec![ForwardStatus::Settled]);
}

#[test]
fn a_failed_forward_is_pruned_once_failed_back() {
    let (mut line, ab, bc) = line(None);
    // C does not know this hash: C fails it, B fails it back to A.
    let now = line.now;
    let hash = PaymentHash([0x42; 32]);
    let route = line.route(&[ab, bc], AMOUNT_MSAT);
    let recipient = lightning_core::node::RecipientOnion {
        amount_msat: AMOUNT_MSAT,
        payment_secret: Some([0x24; 32]),
        final_cltv_expiry_delta: 18,
        ..Default::default()
    };
    line.members[A]
        .node
        .send_to_route(&route, hash, &recipient, now)
        .unwrap();
    line.shuttle();
    assert_eq!(statuses(&line), vec![ForwardStatus::Failed]);
    line.now += Duration::from_secs(1);
    let cutoff = line.now;
    assert_eq!(line.members[B].node.prune_forwards(cutoff).unwrap(), 1);
    assert_eq!(stored_forwards(&line), 0);
    line.restart(B);
    line.shuttle();
    assert!(line.members[B].node.list_forwards().is_empty());
}

#[test]
fn the_retention_prunes_from_the_timer() {
    let (mut line, ab, bc) = line(Some(Duration::from_secs(600)));
    start_payment(&mut line, ab, bc);
    line.shuttle();
    assert_eq!(statuses(&line), vec![ForwardStatus::Settled]);
    // Younger than the retention: kept.
    line.tick(60);
    assert_eq!(statuses(&line), vec![ForwardStatus::Settled]);
    // Older, but the timer prunes at most once an hour: the first prune
    // was at the tick above.
    line.tick(600);
    assert_eq!(statuses(&line), vec![ForwardStatus::Settled]);
    line.tick(3000);
    assert!(statuses(&line).is_empty(), "pruned within the hour");
    assert_eq!(stored_forwards(&line), 0);
}
