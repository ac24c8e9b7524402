//! Our node against Electrum's Lightning wallet, through the channel
//! lifecycle (issue 24's scenarios). Each test starts its own chain,
//! ElectrumX and Electrum daemon; skipped (with `SKIP:` on stderr) only
//! when ElectrumX or Electrum is absent, and failing then under
//! `LN_TEST_REQUIRE_ALL=1`.

#![allow(clippy::unwrap_used)]

use interop_electrum::harness::Harness;

/// Scenario 1: Electrum opens a channel to us; payments both ways, each
/// above Electrum's trimming threshold (about 32,000 sat at its 45,000
/// sat/kw); balances agree on both sides after each.
#[test]
fn electrum_opens_and_payments_both_ways() {
    let Some(mut h) = Harness::start("electrum_opens_and_payments_both_ways") else {
        return;
    };
    let point = h.electrum_opens(1_000_000, 0);
    assert_eq!(h.wait_balances_agree(&point), 0);
    // Scenario 4, Electrum funding: in regtest its feerate is fixed, so the
    // only `update_fee` it sends is its bump of the remote commitment
    // number right after opening (45,000 to 45,001 sat/kw); we took it.
    // Its fee check runs when its fee estimates are refreshed (every 60 s
    // from the server): hand it the server's own estimates now.
    h.electrum.call(
        "inject_fees",
        serde_json::json!({"fees": "{25: 45000, 10: 45000, 5: 90000, 2: 180000}"}),
    );
    h.wait_electrum("Electrum sent update_fee", |e| {
        e.log().contains("new feerate 45001")
    });
    let mut ours = 0u64;
    for amount_sat in [120_000u64, 60_000, 75_000] {
        h.electrum_pays_us(amount_sat * 1000);
        ours += amount_sat * 1000;
        assert_eq!(h.wait_balances_agree(&point), ours);
    }
    for amount_sat in [50_000u64, 55_000] {
        h.we_pay_electrum(amount_sat);
        ours -= amount_sat * 1000;
        assert_eq!(h.wait_balances_agree(&point), ours);
    }
}

/// Scenarios 1 and 5: Electrum opens, a payment each way, we close
/// cooperatively inside Electrum's fee range.
#[test]
fn electrum_opens_we_close() {
    let Some(mut h) = Harness::start("electrum_opens_we_close") else {
        return;
    };
    let point = h.electrum_opens(500_000, 0);
    h.electrum_pays_us(100_000_000);
    h.we_pay_electrum(40_000);
    assert_eq!(h.wait_balances_agree(&point), 60_000_000);
    h.cooperative_close(&point, true);
}

/// Scenarios 2 and 5: we open to Electrum (it listens), payments both
/// ways, Electrum closes cooperatively.
#[test]
fn we_open_electrum_closes() {
    let Some(mut h) = Harness::start("we_open_electrum_closes") else {
        return;
    };
    let point = h.we_open(800_000, 0);
    let mut ours = 800_000_000u64;
    for amount_sat in [50_000u64, 90_000, 61_000] {
        h.we_pay_electrum(amount_sat);
        ours -= amount_sat * 1000;
        assert_eq!(h.wait_balances_agree(&point), ours);
    }
    h.electrum_pays_us(70_000_000);
    ours += 70_000_000;
    assert_eq!(h.wait_balances_agree(&point), ours);
    h.cooperative_close(&point, false);
}

/// Scenario 8: a failure from Electrum (a payment hash it does not know)
/// decoded by us, and ours decoded by Electrum; balances unchanged.
#[test]
fn failures_decoded_both_ways() {
    use lightning_core::node::{PaymentId, PaymentStatus};
    use lightning_core::onion::failure::FailureReason;
    use serde_json::json;

    let Some(mut h) = Harness::start("failures_decoded_both_ways") else {
        return;
    };
    let point = h.electrum_opens(1_000_000, 0);
    h.electrum_pays_us(300_000_000);
    assert_eq!(h.wait_balances_agree(&point), 300_000_000);

    // Electrum pays a hash we never issued: we fail it, it decodes why.
    let (hash, invoice) = h.invoice_we_never_issued(70_000_000);
    let failures = h.electrum_pay_fails(&invoice);
    assert_eq!(
        failures.last().map(String::as_str),
        Some("INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS"),
        "Electrum's attempts: {failures:?}"
    );
    assert!(!h.ours.received(&hash));
    assert_eq!(h.wait_balances_agree(&point), 300_000_000);

    // We pay a request Electrum has deleted (it forgot the hash): it fails
    // the HTLC, we decode the failure, with the amount it saw.
    let (key, invoice) = h.electrum_invoice(60_000);
    h.electrum
        .call("delete_request", json!({"request_id": key}));
    let id: PaymentId = h
        .ours
        .with(|n| n.pay_invoice_str(&invoice, lightning_test_support::host::now()))
        .unwrap();
    h.wait_payment(&id, PaymentStatus::Failed);
    let hash = lightning_core::node::PaymentHash(id.0);
    let failure = h.ours.payment_outcome(&hash).unwrap().unwrap_err();
    assert_eq!(failure.failure_code, Some(0x4000 | 15), "{failure:?}");
    assert_eq!(failure.failing_hop, Some(0), "{failure:?}");
    assert!(
        matches!(
            failure.failure,
            Some(FailureReason::IncorrectOrUnknownPaymentDetails {
                htlc_msat: 60_000_000,
                ..
            })
        ),
        "{failure:?}"
    );
    assert_eq!(h.wait_balances_agree(&point), 300_000_000);
}

/// Scenario 3: the connection drops in the middle of a payment each way
/// (right after our first write of the commitment dance) and
/// `channel_reestablish` finishes it; then our node crashes right after
/// reading Electrum's `update_add_htlc`/`commitment_signed`, restarts
/// from its store alone, and the payment completes; then the same for a
/// payment of ours.
#[test]
fn disconnect_and_restart_mid_payment() {
    use lightning_core::node::PaymentStatus;
    use lightning_test_support::host::now;
    use std::time::Duration;

    let Some(mut h) = Harness::start("disconnect_and_restart_mid_payment") else {
        return;
    };
    let point = h.electrum_opens(1_000_000, 0);
    h.electrum_pays_us(400_000_000);
    let mut ours = 400_000_000u64;

    // We pay; the connection drops after our update_add_htlc and
    // commitment_signed are written.
    let (key, invoice) = h.electrum_invoice(50_000);
    let id = h
        .ours
        .with_cut(1, |n| n.pay_invoice_str(&invoice, now()))
        .unwrap();
    while !h.ours.cut_done() {
        std::thread::sleep(Duration::from_millis(5));
    }
    h.reconnect(&point);
    h.wait_payment(&id, PaymentStatus::Succeeded);
    h.wait_electrum("Electrum's request is paid", |e| {
        e.call("get_request", serde_json::json!({"request_id": key}))["status"]
            == serde_json::json!(3)
    });
    ours -= 50_000_000;
    assert_eq!(h.wait_balances_agree(&point), ours);

    // Electrum pays; the connection drops after our first answer.
    h.ours.with_cut(1, |_| ());
    let pending = h.electrum_pay_start(65_000_000);
    while !h.ours.cut_done() {
        std::thread::sleep(Duration::from_millis(5));
    }
    h.reconnect(&point);
    h.electrum_pay_finish(pending);
    ours += 65_000_000;
    assert_eq!(h.wait_balances_agree(&point), ours);

    // Electrum pays; we crash right after handling its first bytes, and
    // restart from the store.
    h.ours.freeze_after_reads(1);
    let pending = h.electrum_pay_start(70_000_000);
    while !h.ours.is_frozen() {
        std::thread::sleep(Duration::from_millis(5));
    }
    h.ours.restart();
    h.reconnect(&point);
    h.electrum_pay_finish(pending);
    ours += 70_000_000;
    assert_eq!(h.wait_balances_agree(&point), ours);

    // We pay; we crash right after reading Electrum's first answer, and
    // restart from the store.
    let (key, invoice) = h.electrum_invoice(80_000);
    h.ours.freeze_after_reads(1);
    let id = h.ours.with(|n| n.pay_invoice_str(&invoice, now())).unwrap();
    while !h.ours.is_frozen() {
        std::thread::sleep(Duration::from_millis(5));
    }
    h.ours.restart();
    h.reconnect(&point);
    h.wait_payment(&id, PaymentStatus::Succeeded);
    h.wait_electrum("Electrum's request is paid", |e| {
        e.call("get_request", serde_json::json!({"request_id": key}))["status"]
            == serde_json::json!(3)
    });
    ours -= 80_000_000;
    assert_eq!(h.wait_balances_agree(&point), ours);

    // Electrum went through `channel_reestablish` once per reconnection.
    let log = h.electrum.log();
    let reestablished = log
        .lines()
        .filter(|l| l.contains("received channel_reestablish"))
        .count();
    for line in log.lines().filter(|l| l.contains("channel_reestablish (")) {
        eprintln!("electrum: {line}");
    }
    assert!(reestablished >= 4, "{reestablished} reestablishes");
    h.cooperative_close(&point, true);
}

/// Scenario 4, our side funding: `update_fee` up and down; after each,
/// Electrum's own commitment (signed by us) verifies and pays exactly the
/// BOLT 3 fee at the new rate (724 weight, no HTLCs), and payments go on.
#[test]
fn we_update_fee() {
    use lightning_core::amount::FeeratePerKw;

    let Some(mut h) = Harness::start("we_update_fee") else {
        return;
    };
    let point = h.we_open(900_000, 0);
    let id = h.channel_id(&point);
    let ctx = h.electrum_commitment(&point);
    h.verify(&ctx);
    assert_eq!(h.fee_from(&point, &ctx), 45_000 * 724 / 1000);
    let mut ours = 900_000_000u64;
    for rate in [60_000u32, 30_000] {
        h.ours
            .with(|n| n.update_fee(id, FeeratePerKw(rate)))
            .unwrap();
        let want = u64::from(rate) * 724 / 1000;
        h.wait_electrum("Electrum's commitment has the new fee", |_| {
            h.fee_from(&point, &h.electrum_commitment(&point)) == want
        });
        let ctx = h.electrum_commitment(&point);
        h.verify(&ctx);
        // (Electrum keeps 1% of the capacity as its reserve.)
        h.we_pay_electrum(120_000);
        ours -= 120_000_000;
        // Electrum spends what it received only once the fulfil is
        // irrevocably committed on both sides.
        assert_eq!(h.wait_balances_agree(&point), ours);
        h.electrum_pays_us(55_000_000);
        ours += 55_000_000;
        assert_eq!(h.wait_balances_agree(&point), ours);
    }
    h.cooperative_close(&point, false);
}

/// Scenario 6's set-up: Electrum opened 1,000,000 sat to us and paid us
/// 400,000; an HTLC of ours to Electrum (60,000 sat) is held by Electrum
/// (`enable_htlc_settle false`), and an HTLC of Electrum's to us (70,000
/// sat) is in both commitments but not fulfilled: the connection drops
/// right after our `revoke_and_ack`/`commitment_signed` for it, and our
/// node goes silent (a crash) when Electrum reconnects. Returns the
/// channel's outpoint, our payment's id and Electrum's pending payment.
fn htlcs_in_flight_both_ways(
    h: &mut Harness,
) -> (
    bitcoin::OutPoint,
    lightning_core::node::PaymentId,
    interop_electrum::harness::PendingPayment,
) {
    use serde_json::json;
    use std::time::Duration;

    let point = h.electrum_opens(1_000_000, 0);
    h.electrum_pays_us(400_000_000);
    assert_eq!(h.wait_balances_agree(&point), 400_000_000);
    h.electrum.call("enable_htlc_settle", json!({"b": false}));
    let (_, invoice) = h.electrum_invoice(60_000);
    let id = h
        .ours
        .with(|n| n.pay_invoice_str(&invoice, lightning_test_support::host::now()))
        .unwrap();
    h.wait_electrum("Electrum holds our HTLC", |_| {
        h.electrum_channel(&point).unwrap()["remote_unsettled_sent"] == json!(60_000)
    });
    std::thread::sleep(Duration::from_millis(500));
    h.ours.with_cut(1, |_| ());
    let pending = h.electrum_pay_start(70_000_000);
    while !h.ours.cut_done() {
        std::thread::sleep(Duration::from_millis(2));
    }
    h.ours.freeze_after_reads(1);
    // Our revoke_and_ack and commitment_signed reached Electrum: its own
    // commitment holds both HTLCs (ours holds both since its
    // commitment_signed).
    h.wait_electrum("both HTLCs are in Electrum's commitment", |_| {
        let ctx = h.electrum_commitment(&point);
        ctx.output.iter().any(|o| o.value.to_sat() == 70_000)
            && ctx.output.iter().any(|o| o.value.to_sat() == 60_000)
    });
    (point, id, pending)
}

/// What both force-close scenarios check once everything is swept: the
/// commitment pays each side its balance (the funder, Electrum, less the
/// fee at its rate with two HTLCs), each output ended with its
/// owner, the HTLCs with whoever had the right to them (ours to Electrum,
/// which has its preimage; Electrum's back to Electrum, which was not
/// irrevocably committed to it), and each side's
/// wallet grew by exactly what it swept.
fn check_force_close(
    h: &mut Harness,
    commitment: &bitcoin::Transaction,
    our_payment: lightning_core::node::PaymentId,
    pending: interop_electrum::harness::PendingPayment,
    ours_before: u64,
    electrum_before: u64,
) {
    use interop_electrum::onchain::Owner;
    use lightning_core::node::PaymentStatus;

    let values: Vec<u64> = commitment.output.iter().map(|o| o.value.to_sat()).collect();
    // Electrum funds at 45,000 sat/kw and sends update_fee(45,001) once
    // if its fee timer fires before the channel's first update.
    let rate = if h.electrum.log().contains("new feerate 45001") {
        45_001
    } else {
        45_000
    };
    let fee = (724 + 2 * 172) * rate / 1000;
    let mut want = vec![340_000, 1_000_000 - 400_000 - 70_000 - fee, 60_000, 70_000];
    let mut got = values.clone();
    want.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, want, "the commitment's outputs");
    let index = |v: u64| values.iter().position(|x| *x == v).unwrap();

    h.mine_until(400, "both sides swept", |h| {
        h.settlement(commitment).is_ok()
    });
    let settlement = h.settlement(commitment).unwrap();
    for tx in &settlement.spends {
        h.verify(tx);
    }
    assert_eq!(settlement.owner_of(index(340_000)), Some(Owner::Us));
    assert_eq!(
        settlement.owner_of(index(1_000_000 - 400_000 - 70_000 - fee)),
        Some(Owner::Electrum)
    );
    // Our HTLC: Electrum has the preimage and claims it on chain; we
    // learn the preimage there.
    assert_eq!(settlement.owner_of(index(60_000)), Some(Owner::Electrum));
    h.wait_payment(&our_payment, PaymentStatus::Succeeded);
    // Electrum's HTLC: we have the preimage, but Electrum's
    // revoke_and_ack never reached us, so it is not irrevocably committed
    // and BOLT 5 forbids us to spend it ("Local Commitment, Remote
    // Offers" and "Remote Commitment, Remote Offers": "if the remote node
    // is NOT irrevocably committed to the HTLC: MUST NOT resolve the
    // output by spending it"): Electrum times it out.
    assert_eq!(settlement.owner_of(index(70_000)), Some(Owner::Electrum));
    assert!(!h.ours.received(&pending.hash));
    drop(pending);

    let ours = settlement.total(Owner::Us);
    let electrum = settlement.total(Owner::Electrum);
    assert_eq!(
        ours + electrum + settlement.fees_sat,
        values.iter().sum::<u64>()
    );
    let ours_after = h.chain.balance_of(&h.ours.shutdown_script()).to_sat();
    assert_eq!(
        ours_after,
        ours_before + ours,
        "our wallet grew by what we swept"
    );
    h.wait_electrum("Electrum's wallet holds what it swept", |h2| {
        let _ = h2;
        h.electrum_onchain_sat() == electrum_before + electrum
    });
    eprintln!(
        "force close: we swept {ours} sat, Electrum {electrum} sat, fees {} sat in {} transactions",
        settlement.fees_sat,
        settlement.spends.len()
    );
}

/// Scenario 6, our force close with HTLCs in flight both ways.
#[test]
fn we_force_close_with_htlcs_in_flight() {
    let Some(mut h) = Harness::start("we_force_close_with_htlcs_in_flight") else {
        return;
    };
    let (point, our_payment, pending) = htlcs_in_flight_both_ways(&mut h);
    let id = h.channel_id(&point);
    let ours_before = h.chain.balance_of(&h.ours.shutdown_script()).to_sat();
    let electrum_before = h.electrum_onchain_sat();
    // While it is silent, our node force-closes; then it restarts from
    // its store.
    h.ours.with(|n| n.force_close_channel(id)).unwrap();
    h.ours.restart();
    h.node_errors_expected = true;
    let commitment = h.wait_spender(&point);
    h.verify(&commitment);
    check_force_close(
        &mut h,
        &commitment,
        our_payment,
        pending,
        ours_before,
        electrum_before,
    );
}

/// Scenario 6, Electrum's force close with HTLCs in flight both ways.
#[test]
fn electrum_force_closes_with_htlcs_in_flight() {
    let Some(mut h) = Harness::start("electrum_force_closes_with_htlcs_in_flight") else {
        return;
    };
    let (point, our_payment, pending) = htlcs_in_flight_both_ways(&mut h);
    let ours_before = h.chain.balance_of(&h.ours.shutdown_script()).to_sat();
    let electrum_before = h.electrum_onchain_sat();
    h.electrum.call(
        "close_channel",
        serde_json::json!({"channel_point": point.to_string(), "force": true}),
    );
    let commitment = h.wait_spender(&point);
    h.verify(&commitment);
    h.ours.restart();
    h.node_errors_expected = true;
    check_force_close(
        &mut h,
        &commitment,
        our_payment,
        pending,
        ours_before,
        electrum_before,
    );
}

/// Scenario 7: Electrum's `request_force_close` (a `channel_reestablish`
/// claiming it lost its state): we broadcast our latest commitment (its
/// outputs are the latest balances, and it is the one our node records
/// as ours), never an older one, and both sides end with exactly their
/// balances less the fees of the transactions that swept them.
#[test]
fn electrum_requests_force_close() {
    use interop_electrum::onchain::Owner;
    use lightning_core::onchain::SpendTag;

    let Some(mut h) = Harness::start("electrum_requests_force_close") else {
        return;
    };
    let point = h.electrum_opens(1_000_000, 0);
    h.electrum_pays_us(300_000_000);
    h.we_pay_electrum(100_000);
    h.wait_balances_agree(&point);
    h.electrum_pays_us(150_000_000);
    let ours = h.wait_balances_agree(&point);
    assert_eq!(ours, 350_000_000);
    let ours_before = h.chain.balance_of(&h.ours.shutdown_script()).to_sat();
    let electrum_before = h.electrum_onchain_sat();
    h.node_errors_expected = true;
    h.electrum.call(
        "request_force_close",
        serde_json::json!({"channel_point": point.to_string()}),
    );
    let commitment = h.wait_spender(&point);
    h.verify(&commitment);
    let mut values: Vec<u64> = commitment.output.iter().map(|o| o.value.to_sat()).collect();
    values.sort_unstable();
    let fee_45000 = 724 * 45_000 / 1000;
    let fee_45001 = 724 * 45_001 / 1000;
    assert_eq!(fee_45000, fee_45001);
    assert_eq!(
        values,
        vec![350_000, 650_000 - fee_45000],
        "our latest commitment"
    );
    h.mine(1);
    h.ours.wait_until(
        "our node sees its own commitment",
        interop_electrum::harness::LIMIT,
        |s| {
            s.node.list_channels().iter().any(|c| {
                c.funding_txo == Some(point)
                    && c.closing
                        .as_ref()
                        .is_some_and(|cl| cl.spent_by == SpendTag::Holder)
            })
        },
    );
    h.mine_until(200, "both sides swept", |h| {
        h.settlement(&commitment).is_ok()
    });
    let settlement = h.settlement(&commitment).unwrap();
    for tx in &settlement.spends {
        h.verify(tx);
    }
    let to_local = commitment
        .output
        .iter()
        .position(|o| o.value.to_sat() == 350_000)
        .unwrap();
    assert_eq!(settlement.owner_of(to_local), Some(Owner::Us));
    assert_eq!(settlement.owner_of(1 - to_local), Some(Owner::Electrum));
    let ours_swept = settlement.total(Owner::Us);
    let electrum_got = settlement.total(Owner::Electrum);
    assert_eq!(
        electrum_got,
        650_000 - fee_45000,
        "to_remote pays Electrum's wallet"
    );
    assert_eq!(ours_swept + settlement.fees_sat, 350_000);
    assert_eq!(
        h.chain.balance_of(&h.ours.shutdown_script()).to_sat(),
        ours_before + ours_swept
    );
    h.wait_electrum("Electrum's wallet holds its output", |_| {
        h.electrum_onchain_sat() == electrum_before + electrum_got
    });
}
