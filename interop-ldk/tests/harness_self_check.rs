//! The LDK interop harness (`interop_ldk::pair`) fails on wrong outcomes:
//! a doctored LDK record (the amount LDK claimed, the amount its
//! `PaymentSent` reports), an amount other than the payment was for, and
//! an error in LDK's event handler each fail the checks every scenario
//! runs through.

// Test code may unwrap.
#![allow(clippy::unwrap_used)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use interop_ldk::pair::Pair;

fn fails(what: &str, f: impl FnOnce()) {
    assert!(
        catch_unwind(AssertUnwindSafe(f)).is_err(),
        "the harness accepted {what}"
    );
}

#[test]
fn doctored_ldk_records_fail_the_checks() {
    let pair = Pair::new(false);
    pair.open_from_us(500_000, 100_000_000);
    let ours = pair.we_pay_ldk_start(2_000_000);
    pair.wait_we_paid_ldk(&ours);
    let theirs = pair.ldk_pays_us_start(3_000_000);
    pair.wait_ldk_paid_us(&theirs);

    // LDK claimed one msat less than we paid.
    pair.ldk.record_mut(|r| {
        for c in r.claimed.iter_mut().filter(|c| c.0 .0 == ours.0) {
            c.1 -= 1;
        }
    });
    fails("LDK claiming less than we sent", || {
        pair.check_we_paid_ldk(&ours)
    });

    // LDK's PaymentSent says the recipient got less than we received.
    pair.ldk.record_mut(|r| {
        for s in r.sent.iter_mut().filter(|s| s.0 .0 == theirs.0) {
            s.1 = Some(2_999_000);
        }
    });
    fails("LDK's PaymentSent with another amount", || {
        pair.check_ldk_paid_us(&theirs)
    });

    // The payment was for more than we received.
    pair.expect_amount(theirs, 3_000_001);
    fails("a payee paid less than the payment", || {
        pair.check_ldk_paid_us(&theirs)
    });

    // An error in LDK's event handler fails the scenario at its end.
    pair.ldk.record_mut(|r| r.errors.push("doctored".into()));
    fails("an error in LDK's harness", move || drop(pair));
}
