//! Payments over blinded paths between our own nodes (BOLT 4 "Route
//! Blinding"): the payee makes its paths (`create_blinded_payment_paths`),
//! the payer routes to their introduction nodes (`pay_blinded_paths`),
//! the introduction node relays inside the blinded route with the
//! recipient's `payment_relay`, and the payee checks `path_id` and
//! `payment_constraints`.
//!
//! ```text
//!   A(lice) -- B(ob, introduction) -- C(arol, payee)
//!        \                          /
//!         ------ D(ave) -----------      (the MPP test only)
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod forward_support;

use std::time::Duration;

use forward_support::{Line, Link};
use lightning_core::amount::Msat;
use lightning_core::node::{Event, PaymentHash, PaymentStatus};
use lightning_core::onion::FailureCode;
use lightning_router::NodeId;
use lightning_wire::types::ChannelId;

const CAPACITY_SAT: u64 = 1_000_000;

/// A - B - C, each channel opened by the left node.
fn line() -> (Line, ChannelId, ChannelId) {
    let mut line = Line::new(3, |_, _| {});
    let ab = line.open_channel(0, 1, CAPACITY_SAT, 0);
    let bc = line.open_channel(1, 2, CAPACITY_SAT, 0);
    for m in &mut line.members {
        m.take_events();
    }
    (line, ab, bc)
}

fn invoice(line: &mut Line, payee: usize, amount_msat: u64) -> PaymentHash {
    let now = line.now;
    let inv = line.members[payee]
        .node
        .create_invoice(
            Some(Msat(amount_msat)),
            "blinded",
            Duration::from_secs(3600),
            now,
        )
        .unwrap();
    *inv.payment_hash()
}

fn failed_code(line: &mut Line, hash: &PaymentHash) -> Option<u16> {
    line.members[0]
        .take_events()
        .into_iter()
        .find_map(|e| match e {
            Event::PaymentFailed {
                payment_hash,
                reason,
            } if payment_hash == *hash => Some(reason.failure_code.unwrap_or(0)),
            _ => None,
        })
}

#[test]
fn a_pays_c_over_a_blinded_path_introduced_by_b() {
    let (mut line, ab, bc) = line();
    let amount = 50_000_000;
    let hash = invoice(&mut line, 2, amount);
    let paths = line.members[2]
        .node
        .create_blinded_payment_paths(&hash, 3)
        .unwrap();
    assert_eq!(paths.len(), 1);
    let path = &paths[0];
    assert_eq!(
        path.introduction_node,
        NodeId::from_pubkey(&line.members[1].id())
    );
    assert_eq!(path.hops.len(), 2);
    // Neither hop is known by its real id.
    assert_ne!(path.hops[1].blinded_node_id, line.members[2].id());
    // B's defaults (1000 msat + 1 ppm, delta 40: `GossipConfig`) and
    // C's final delta, aggregated.
    let info = path.payinfo.clone();
    let fee = u64::from(info.fee_base_msat)
        + amount * u64::from(info.fee_proportional_millionths) / 1_000_000;
    let before = [
        line.members[0].local_msat(ab),
        line.members[1].local_msat(ab),
        line.members[1].local_msat(bc),
        line.members[2].local_msat(bc),
    ];
    let now = line.now;
    line.members[0]
        .node
        .pay_blinded_paths(hash, amount, paths, now)
        .unwrap();
    line.shuttle();
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Succeeded)
    );
    let after = [
        line.members[0].local_msat(ab),
        line.members[1].local_msat(ab),
        line.members[1].local_msat(bc),
        line.members[2].local_msat(bc),
    ];
    assert_eq!(
        after[0],
        before[0] - amount - fee,
        "A paid the amount and the path's fee"
    );
    assert_eq!(after[1], before[1] + amount + fee);
    // C gets at least the amount (the aggregate's rounding favours it).
    let got = after[3] - before[3];
    assert!((amount..=amount + 2).contains(&got), "C got {got}");
    let c_events = line.members[2].take_events();
    assert!(
        c_events.iter().any(|e| matches!(e,
            Event::PaymentReceived { payment_hash, .. } if *payment_hash == hash)),
        "{c_events:?}"
    );
    let b_events = line.members[1].take_events();
    assert!(
        b_events.iter().any(|e| matches!(e,
            Event::PaymentForwarded { payment_hash, .. } if *payment_hash == hash)),
        "{b_events:?}"
    );
}

#[test]
fn two_part_payment_over_two_blinded_paths() {
    // Alice, Bob, Carol, Dave: A-B, B-C as in the line, and A-D, D-C.
    let mut line = Line::new(4, |_, _| {});
    line.links.truncate(2);
    for (a, b) in [(0, 3), (3, 2)] {
        line.links.push(Link {
            a,
            b,
            pa: None,
            pb: None,
            hold_from: None,
        });
        let l = line.links.len() - 1;
        line.connect(l);
    }
    line.shuttle();
    let ab = line.open_channel(0, 1, 400_000, 0);
    let bc = line.open_channel(1, 2, 400_000, 0);
    let ad = line.open_channel(0, 3, 400_000, 0);
    let dc = line.open_channel(3, 2, 400_000, 0);
    for m in &mut line.members {
        m.take_events();
    }
    // More than either side can carry: 2 x 400k sat less reserves.
    let amount = 500_000_000;
    let hash = invoice(&mut line, 2, amount);
    let paths = line.members[2]
        .node
        .create_blinded_payment_paths(&hash, 2)
        .unwrap();
    assert_eq!(paths.len(), 2);
    let intros: Vec<NodeId> = paths.iter().map(|p| p.introduction_node).collect();
    assert!(intros.contains(&NodeId::from_pubkey(&line.members[1].id())));
    assert!(intros.contains(&NodeId::from_pubkey(&line.members[3].id())));
    let c_before = line.members[2].local_msat(bc) + line.members[2].local_msat(dc);
    let now = line.now;
    line.members[0]
        .node
        .pay_blinded_paths(hash, amount, paths, now)
        .unwrap();
    line.shuttle();
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Succeeded)
    );
    let details = line.members[0]
        .node
        .list_payments()
        .into_iter()
        .find(|p| p.payment_hash == hash)
        .unwrap();
    assert_eq!(details.parts.len(), 2, "{details:?}");
    let c_after = line.members[2].local_msat(bc) + line.members[2].local_msat(dc);
    let got = c_after - c_before;
    assert!((amount..=amount + 4).contains(&got), "C got {got}");
    assert!(line.members[1].local_msat(bc) < 400_000_000);
    assert!(line.members[3].local_msat(dc) < 400_000_000);
    let _ = (ab, ad);
}

#[test]
fn a_wrong_path_id_is_refused() {
    let (mut line, ab, _) = line();
    let amount = 20_000_000;
    let asked = invoice(&mut line, 2, amount);
    let other = invoice(&mut line, 2, amount);
    // Paths made for `other` carry its secret as `path_id`: paying
    // `asked` over them must fail at C.
    let paths = line.members[2]
        .node
        .create_blinded_payment_paths(&other, 1)
        .unwrap();
    let before = line.members[0].local_msat(ab);
    let now = line.now;
    line.members[0]
        .node
        .pay_blinded_paths(asked, amount, paths, now)
        .unwrap();
    line.shuttle();
    assert_eq!(
        line.members[0].payment_status(&asked),
        Some(PaymentStatus::Failed)
    );
    assert_eq!(line.members[0].local_msat(ab), before, "nothing paid");
    // C answered `invalid_onion_blinding` (malformed, after the
    // introduction node); B turned it into its own failure.
    let code = failed_code(&mut line, &asked);
    assert!(code.is_some());
    let c_events = line.members[2].take_events();
    assert!(!c_events
        .iter()
        .any(|e| matches!(e, Event::PaymentReceived { .. })));
}

#[test]
fn a_sender_breaking_payment_constraints_is_refused() {
    let (mut line, ab, _) = line();
    let amount = 20_000_000;
    let hash = invoice(&mut line, 2, amount);
    let mut paths = line.members[2]
        .node
        .create_blinded_payment_paths(&hash, 1)
        .unwrap();
    // The path may be used until `max_cltv_expiry` (2016 blocks and the
    // path's delta above the height when it was made). A hostile sender
    // ignores the payinfo's delta and locks the HTLC far longer, after
    // the chain moved on.
    line.mine(300);
    line.shuttle();
    paths[0].payinfo.cltv_expiry_delta = 2000;
    let before = line.members[0].local_msat(ab);
    let now = line.now;
    line.members[0]
        .node
        .pay_blinded_paths(hash, amount, paths, now)
        .unwrap();
    line.shuttle();
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Failed)
    );
    assert_eq!(line.members[0].local_msat(ab), before);
    // B, the introduction node, answers `invalid_onion_blinding` (BOLT 4:
    // `payment_constraints.max_cltv_expiry` exceeded).
    let code = failed_code(&mut line, &hash);
    assert_eq!(code, Some(FailureCode::INVALID_ONION_BLINDING.0));
}
