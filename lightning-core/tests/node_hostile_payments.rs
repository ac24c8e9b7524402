//! Hostile payers against a real `Node` (issue 13, finding 10): a paid
//! invoice is not a free pass for later HTLCs.
#![allow(clippy::unwrap_used)]

mod node_support;

use lightning_core::node::{Event, PaymentHash};
use lightning_core::onion::FailureCode;
use lightning_persist::KvStore;
use lightning_wire::bolt11::{Bolt11Invoice, Currency, InvoiceBuilder};
use node_support::Net;

/// An invoice for `real`'s hash and secret, signed with Bob's key, asking
/// `amount_msat` with `min_final_cltv_expiry_delta` `delta`.
fn forged(real: &Bolt11Invoice, amount_msat: u64, delta: u64, now: u64) -> Bolt11Invoice {
    InvoiceBuilder::new(Currency::Regtest)
        .amount_msat(amount_msat)
        .timestamp(now)
        .payment_hash(*real.payment_hash())
        .payment_secret(*real.payment_secret())
        .description("x")
        .min_final_cltv_expiry_delta(delta)
        .build_signed(&lightning_core::keys::KeysManager::new(&[2; 32]).unwrap())
        .unwrap()
}

/// Alice forgets she paid `hash` (her payment record is removed and she
/// restarts), so she will pay it again.
fn forget_payment(net: &mut Net, hash: &PaymentHash) {
    net.a
        .store
        .remove("node", &format!("payments/{}", hex::encode(hash.0)))
        .unwrap();
    net.restart(true);
}

fn failure_code(net: &mut Net) -> Option<u16> {
    net.a.take_events().into_iter().find_map(|e| match e {
        Event::PaymentFailed { reason, .. } => reason.failure_code,
        Event::PaymentSent { .. } => Some(0),
        _ => None,
    })
}

/// Finding 10: once an invoice is paid, another HTLC for it is fulfilled
/// only if it passes the amount, CLTV and expiry checks; the HTLC that
/// paid it is still answered again across a restart.
#[test]
fn a_paid_invoice_refulfils_only_htlcs_that_pass_the_checks() {
    let mut net = Net::new(false, false);
    let id = net.open_channel(300_000, 0);
    let now = net.now;
    let real = net
        .b
        .node
        .create_invoice(
            Some(lightning_core::amount::Msat(50_000)),
            "x",
            std::time::Duration::from_secs(3600),
            now,
        )
        .unwrap();
    let hash = *real.payment_hash();
    net.a.node.pay_invoice(&real, now).unwrap();
    net.shuttle();
    assert_eq!(Net::local_msat(&net.b.node, id), 50_000);
    net.a.take_events();

    // Too little.
    forget_payment(&mut net, &hash);
    net.a
        .node
        .pay_invoice(&forged(&real, 10_000, 18, now.as_secs()), now)
        .unwrap();
    net.shuttle();
    assert_eq!(
        failure_code(&mut net),
        Some(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS.0),
        "an underpaying HTLC for a paid invoice was fulfilled"
    );
    assert_eq!(Net::local_msat(&net.b.node, id), 50_000);

    // The right amount, a CLTV below Bob's minimum (18 blocks).
    forget_payment(&mut net, &hash);
    net.a
        .node
        .pay_invoice(&forged(&real, 50_000, 2, now.as_secs()), now)
        .unwrap();
    net.shuttle();
    assert_eq!(
        failure_code(&mut net),
        Some(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS.0),
        "an HTLC with too short a CLTV for a paid invoice was fulfilled"
    );
    assert_eq!(Net::local_msat(&net.b.node, id), 50_000);

    // After the invoice expired (Bob's clock).
    forget_payment(&mut net, &hash);
    let later = now + std::time::Duration::from_secs(7200);
    net.now = later;
    net.a
        .node
        .pay_invoice(&forged(&real, 50_000, 18, later.as_secs()), later)
        .unwrap();
    net.shuttle();
    assert_eq!(
        failure_code(&mut net),
        Some(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS.0),
        "an HTLC for an expired paid invoice was fulfilled"
    );
    assert_eq!(Net::local_msat(&net.b.node, id), 50_000);
}
