//! Issue 19: multi-part payments between LDK 0.2 and us (BOLT 4, "Basic
//! Multi-Part Payments"), both ways over two channels neither of which can
//! carry the amount alone, so the payer's router must split it.
//!
//! - LDK pays an invoice of ours: our node holds the parts until they
//!   reach the total, then fulfils every one.
//! - We pay an invoice of LDK's: our router splits the payment over our
//!   two channels, each part carrying LDK's `payment_secret` and the whole
//!   `total_msat`; LDK claims the whole amount once.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use interop_ldk::pair::Pair;

#[test]
fn ldk_pays_our_invoice_in_parts_over_two_channels() {
    let pair = Pair::new(true);
    let a = pair.open_from_ldk(200_000, 0);
    let b = pair.open_from_ldk(200_000, 0);
    // 300,000 sat: more than one 200,000 sat channel can send.
    let amount_msat = 300_000_000;
    let hash = pair.ldk_pays_us_start(amount_msat);
    // Exactly the amount, received once, and LDK's `PaymentSent`.
    pair.wait_ldk_paid_us(&hash);
    // The last removals may still be finishing on the channels.
    pair.ldk
        .wait_until("both parts settled", Duration::from_secs(30), || {
            pair.our_balance_msat(&a) + pair.our_balance_msat(&b) == amount_msat
        });
    let (on_a, on_b) = (pair.our_balance_msat(&a), pair.our_balance_msat(&b));
    assert!(
        on_a > 0 && on_b > 0,
        "both channels carried a part: {on_a}, {on_b}"
    );
    pair.wait_balances_agree(&a);
    pair.wait_balances_agree(&b);
}

#[test]
fn we_pay_ldks_invoice_in_parts_over_two_channels() {
    let pair = Pair::new(true);
    let a = pair.open_from_us(200_000, 0);
    let b = pair.open_from_us(200_000, 0);
    let before = pair.our_balance_msat(&a) + pair.our_balance_msat(&b);
    let amount_msat = 300_000_000;
    let hash = pair.we_pay_ldk_start(amount_msat);
    // Ours succeeded, and LDK claimed exactly the amount, once.
    pair.wait_we_paid_ldk(&hash);
    let details = pair
        .ours
        .with(|n| n.payment(&lightning_core::node::PaymentId(hash.0)))
        .unwrap();
    assert!(details.parts.len() >= 2, "sent in parts: {details:?}");
    let delivered: u64 = details.parts.iter().map(|p| p.amount_msat.0).sum();
    assert_eq!(delivered, amount_msat, "{details:?}");
    pair.ldk
        .wait_until("both parts settled", Duration::from_secs(30), || {
            before - pair.our_balance_msat(&a) - pair.our_balance_msat(&b) == amount_msat
        });
    let (on_a, on_b) = (pair.our_balance_msat(&a), pair.our_balance_msat(&b));
    assert!(
        on_a < before / 2 && on_b < before / 2,
        "both channels carried a part: {on_a}, {on_b}"
    );
    pair.wait_balances_agree(&a);
    pair.wait_balances_agree(&b);
}
