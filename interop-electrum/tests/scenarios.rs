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
