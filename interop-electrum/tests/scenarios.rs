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
        h.electrum_pays_us(55_000_000);
        ours += 55_000_000;
        assert_eq!(h.wait_balances_agree(&point), ours);
    }
    h.cooperative_close(&point, false);
}
