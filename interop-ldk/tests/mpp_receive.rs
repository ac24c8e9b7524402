//! Issue 19: LDK 0.2 pays an invoice of ours in several parts (BOLT 4,
//! "Basic Multi-Part Payments"): two channels from LDK to us, neither able
//! to carry the amount alone, so LDK's router must split it. Our node
//! holds the parts until they reach the total, then fulfils every one.
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
