//! Forwarding classes (issue 19).

use super::forward_support;

/// A - B - C, each channel opened by the left node, events drained.
fn forwarding_line() -> (
    forward_support::Line,
    lightning_wire::types::ChannelId,
    lightning_wire::types::ChannelId,
) {
    let mut line = forward_support::Line::new(3, |_, _| {});
    let ab = line.open_channel(0, 1, 1_000_000, 0);
    let bc = line.open_channel(1, 2, 1_000_000, 0);
    for m in &mut line.members {
        m.take_events();
    }
    (line, ab, bc)
}

/// CVE-2020-26896 (LND): an intermediate node settled an HTLC it was asked
/// to forward because one of its own invoices had the same payment hash,
/// revealing that invoice's preimage to whoever routed the HTLC. Here A
/// routes B's own invoice hash (same amount, even B's payment secret)
/// through B to C: B forwards it, C fails it, A never gets the preimage
/// and B's invoice stays open.
#[test]
fn cve_forward_settled_from_own_invoice() {
    use lightning_core::node::{InvoiceStatus, PaymentStatus, RecipientOnion};
    let (mut line, ab, bc) = forwarding_line();
    let now = line.now;
    let amount = 25_000_000;
    let invoice = line.members[1]
        .node
        .create_invoice(
            Some(lightning_core::amount::Msat(amount)),
            "bob's",
            std::time::Duration::from_secs(3600),
            now,
        )
        .unwrap();
    let hash = *invoice.payment_hash();
    let route = line.route(&[ab, bc], amount);
    let recipient = RecipientOnion {
        amount_msat: amount,
        payment_secret: Some(invoice.payment_secret().0),
        final_cltv_expiry_delta: 18,
        ..RecipientOnion::default()
    };
    line.members[0]
        .node
        .send_to_route(&route, hash, &recipient, now)
        .unwrap();
    line.shuttle();
    let paid = line.members[0]
        .node
        .list_payments()
        .into_iter()
        .find(|p| p.payment_hash == hash)
        .unwrap();
    assert_eq!(paid.status, PaymentStatus::Failed);
    assert_eq!(paid.preimage, None, "the preimage leaked to the router");
    let inv = line.members[1]
        .node
        .list_invoices()
        .into_iter()
        .find(|i| i.payment_hash == hash)
        .unwrap();
    assert_eq!(inv.status, InvoiceStatus::Open);
    // It was forwarded (and failed by C), not answered by B.
    let forwards = line.members[1].node.list_forwards();
    assert_eq!(forwards.len(), 1);
    assert_eq!(forwards[0].payment_hash, hash);
}

/// Excessive failback (LND, 2023-2024; Eclair and others before): a
/// forwarding node failed the incoming HTLC back while the outgoing one
/// could still be claimed downstream with the preimage, losing the amount.
/// B's outgoing HTLC is committed to C, C stays silent; B restarts, blocks
/// pass, B closes the B-C channel on chain: A's HTLC is not failed back
/// while C could still get a commitment with it confirmed. B's own
/// commitment lacks it (C never signed one with it), so once that is 6
/// deep (BOLT 5: "for any committed HTLC that does NOT have an output in
/// this commitment transaction: once the commitment transaction has
/// reached reasonable depth: MUST fail the corresponding incoming HTLC")
/// it goes back, with B's `permanent_channel_failure`, exactly then.
#[test]
fn cve_excessive_failback() {
    use lightning_core::node::{Event, ForwardStatus, PaymentStatus};
    let (mut line, ab, bc) = forwarding_line();
    let now = line.now;
    let amount = 25_000_000;
    let invoice = line.members[2]
        .node
        .create_invoice(
            Some(lightning_core::amount::Msat(amount)),
            "held",
            std::time::Duration::from_secs(3600),
            now,
        )
        .unwrap();
    let hash = *invoice.payment_hash();
    line.links[1].hold_from = Some(2);
    let route = line.route(&[ab, bc], amount);
    line.members[0]
        .node
        .pay_invoice_with_route(&invoice, &route, now)
        .unwrap();
    line.shuttle();
    line.restart(1);
    line.shuttle();
    line.mine(3);
    line.members[1].node.force_close_channel(bc).unwrap();
    line.shuttle();
    // B's commitment confirms, then goes 5 deep.
    line.mine(5);
    line.restart(1);
    line.shuttle();
    let forwards = line.members[1].node.list_forwards();
    assert_eq!(forwards.len(), 1);
    assert_eq!(forwards[0].status, ForwardStatus::InFlight);
    assert_eq!(
        line.members[0]
            .node
            .list_payments()
            .into_iter()
            .find(|p| p.payment_hash == hash)
            .map(|p| p.status),
        Some(PaymentStatus::Pending)
    );
    assert!(!line.members[0]
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::PaymentFailed { .. })));
    // 6 deep: no commitment with the HTLC can confirm any more.
    line.mine(1);
    assert_eq!(
        line.members[1].node.list_forwards()[0].status,
        ForwardStatus::Failed
    );
    let failures: Vec<Option<u16>> = line.members[0]
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::PaymentFailed { reason, .. } => Some(reason.failure_code),
            _ => None,
        })
        .collect();
    assert_eq!(
        failures,
        vec![Some(
            lightning_core::onion::FailureCode::PERMANENT_CHANNEL_FAILURE.0
        )]
    );
}

/// Duplicate hash and amount across forwards (the class behind several
/// implementations' bugs that matched HTLCs by payment hash, and amount,
/// instead of by channel and HTLC id: a fulfil or failure applied to the
/// wrong incoming HTLC, or to both, or lost across a restart). A and D
/// both send an HTLC of the same hash and amount through B to C (D copied
/// the public invoice). C answers both while B is down: each of B's
/// forwards resolves on its own link, the incoming HTLC it came in on is
/// settled or failed exactly as its outgoing one was, and B ends with its
/// fees and nothing lost.
#[test]
fn cve_duplicate_hash_and_amount_across_forwards() {
    use forward_support::Link;
    use lightning_core::node::{ForwardStatus, PaymentStatus, RecipientOnion};
    const A: usize = 0;
    const B: usize = 1;
    const C: usize = 2;
    const D: usize = 3;
    let mut line = forward_support::Line::new(4, |_, _| {});
    line.links.push(Link {
        a: D,
        b: B,
        pa: None,
        pb: None,
        hold_from: None,
    });
    line.connect(3);
    line.shuttle();
    let ab = line.open_channel(A, B, 1_000_000, 0);
    let bc = line.open_channel(B, C, 1_000_000, 0);
    let db = line.open_channel(D, B, 1_000_000, 0);
    for m in &mut line.members {
        m.take_events();
    }
    let before: Vec<u64> = [ab, bc, db]
        .iter()
        .map(|id| line.members[B].local_msat(*id))
        .collect();
    let now = line.now;
    let amount = 25_000_000;
    let invoice = line.members[C]
        .node
        .create_invoice(
            Some(lightning_core::amount::Msat(amount)),
            "twice",
            std::time::Duration::from_secs(3600),
            now,
        )
        .unwrap();
    let hash = *invoice.payment_hash();

    // C's answers wait until both HTLCs reached it.
    line.links[1].hold_from = Some(C);
    let route = line.route(&[ab, bc], amount);
    line.members[A]
        .node
        .pay_invoice_with_route(&invoice, &route, now)
        .unwrap();
    let mut d_route = route.clone();
    d_route.hops[0].short_channel_id = line.members[D].scid(db);
    let recipient = RecipientOnion {
        amount_msat: amount,
        payment_secret: Some(invoice.payment_secret().0),
        final_cltv_expiry_delta: 18,
        ..RecipientOnion::default()
    };
    line.members[D]
        .node
        .send_to_route(&d_route, hash, &recipient, now)
        .unwrap();
    line.shuttle();
    let forwards = line.members[B].node.list_forwards();
    assert_eq!(forwards.len(), 2, "{forwards:?}");
    assert!(forwards.iter().all(|f| f.payment_hash == hash
        && f.outgoing_amount_msat.0 == amount
        && f.status == ForwardStatus::InFlight));

    // B goes down; C answers; B comes back from its store alone.
    line.restart(B);
    line.links[1].hold_from = None;
    line.shuttle();
    line.restart(B);
    line.shuttle();

    let payer_of = |channel| if channel == ab { A } else { D };
    let forwards = line.members[B].node.list_forwards();
    assert_eq!(forwards.len(), 2, "{forwards:?}");
    let incoming: std::collections::BTreeSet<_> =
        forwards.iter().map(|f| f.incoming_channel_id).collect();
    assert_eq!(incoming, [ab, db].into_iter().collect(), "one per upstream");
    let mut earned = 0u64;
    for f in &forwards {
        let payer = &line.members[payer_of(f.incoming_channel_id)];
        let paid = payer.payment_status(&hash);
        match f.status {
            ForwardStatus::Settled => {
                assert_eq!(paid, Some(PaymentStatus::Succeeded), "{f:?}");
                earned += f.fee_msat.0;
            }
            ForwardStatus::Failed => assert_eq!(paid, Some(PaymentStatus::Failed), "{f:?}"),
            other => panic!("left {other:?}: {f:?}"),
        }
    }
    assert!(
        forwards.iter().any(|f| f.status == ForwardStatus::Settled),
        "C claimed at least one: {forwards:?}"
    );
    // B's balances: exactly its fees up, whichever way each went.
    let after: Vec<u64> = [ab, bc, db]
        .iter()
        .map(|id| line.members[B].local_msat(*id))
        .collect();
    assert_eq!(
        after.iter().sum::<u64>(),
        before.iter().sum::<u64>() + earned,
        "before {before:?}, after {after:?}"
    );
    for id in [ab, bc, db] {
        let ch = line.members[B]
            .node
            .list_channels()
            .into_iter()
            .find(|c| c.channel_id == id)
            .unwrap();
        assert!(ch.is_usable, "{ch:?}");
    }
}
