//! BOLT 12 with LDK 0.2 over TCP: offers, invoice requests and invoices
//! in BOLT 4 onion messages, and the payments over blinded paths.
//!
//! - LDK pays our offer (`ChannelManager::pay_for_offer`): its request
//!   reaches us along our offer's path (LDK, our channel peer, introduces
//!   it), we answer along LDK's reply path, LDK checks our invoice and
//!   signature and pays through our blinded payment path (LDK introduces
//!   it too). We receive exactly the amount, LDK reports `PaymentSent`.
//! - We pay LDK's offer (`Node::pay_offer`): LDK's offer paths and
//!   payment paths are introduced by us (LDK's only peer), so we open our
//!   own hop of each. LDK claims exactly the amount; we report
//!   `OfferInvoiceReceived` then `PaymentSent`.
//!
//! - We fetch LDK's invoice without paying it (`Node::fetch_offer_invoice`,
//!   the RPC's `fetchinvoice`) and pay it later from its string alone.
//!
//! Every direction checks the channel balances.
#![allow(clippy::unwrap_used)]

use interop_ldk::host::now;
use interop_ldk::pair::{ldk_id, Pair, LIMIT};
use lightning::ln::channelmanager::{OptionalOfferPaymentParams, PaymentId as LdkPaymentId};
use lightning_core::amount::Msat;
use lightning_core::node::{Event, InvoiceRequestParams, OfferParams, PaymentStatus};
use lightning_wire::bolt12::Offer;

#[test]
fn ldk_pays_our_offer() {
    let pair = Pair::new(false);
    // LDK opens, so it has the balance to pay.
    let id = pair.open_from_ldk(1_000_000, 0);
    let ldk_channel = ldk_id(&id);
    let amount = 21_000_000;
    let offer = pair
        .ours
        .with(|n| {
            n.create_offer(OfferParams {
                amount_msat: Some(Msat(amount)),
                description: Some("an LDK customer".into()),
                ..Default::default()
            })
        })
        .unwrap();
    let text = offer.to_string();
    let ldk_offer: lightning::offers::offer::Offer = text.parse().unwrap();
    let ours_before = pair.our_balance_msat(&id);
    let ldk_before = pair.ldk.balance_msat(&ldk_channel).unwrap();
    pair.ldk
        .manager()
        .pay_for_offer(
            &ldk_offer,
            None,
            LdkPaymentId([7; 32]),
            OptionalOfferPaymentParams::default(),
        )
        .unwrap();
    pair.ldk.wait_until("LDK paid our offer", LIMIT, || {
        pair.ldk
            .record(|r| !r.sent.is_empty() || !r.errors.is_empty())
    });
    let sent = pair.ldk.record(|r| r.sent.clone());
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (hash, ldk_amount, _) = sent[0];
    assert_eq!(ldk_amount, Some(amount));
    let hash = lightning_core::node::PaymentHash(hash.0);
    pair.ours.wait_until("we were paid", LIMIT, |s| {
        s.events.iter().any(
            |e| matches!(e, Event::PaymentReceived { payment_hash, .. } if *payment_hash == hash),
        )
    });
    pair.wait_balances_agree(&id);
    assert_eq!(pair.our_balance_msat(&id) - ours_before, amount);
    assert_eq!(
        ldk_before - pair.ldk.balance_msat(&ldk_channel).unwrap(),
        amount
    );
    let stats = pair.ours.with(|n| n.onion_message_stats());
    assert!(stats.received >= 1 && stats.sent >= 1, "{stats:?}");
}

#[test]
fn we_pay_ldks_offer() {
    let pair = Pair::new(false);
    let id = pair.open_from_us(1_000_000, 0);
    let ldk_channel = ldk_id(&id);
    let amount = 17_000_000;
    let offer = ldk_offer(&pair, amount, "LDK's shop");
    let ours_before = pair.our_balance_msat(&id);
    // LDK holds nothing yet, below its reserve: count its monitor's sats.
    let ldk_before = pair.ldk.monitor_balance_sat(&ldk_channel).unwrap();
    let offer_payment = pair
        .ours
        .with(|n| n.pay_offer(&offer, InvoiceRequestParams::default(), now()))
        .unwrap();
    pair.ours.wait_until("LDK's invoice came", LIMIT, |s| {
        s.events.iter().any(|e| {
            matches!(e, Event::OfferInvoiceReceived { offer_payment_id, .. }
                | Event::OfferPaymentFailed { offer_payment_id, .. } if *offer_payment_id == offer_payment)
        })
    });
    let hash = pair.ours.with_state(|s| {
        s.events
            .iter()
            .find_map(|e| match e {
                Event::OfferInvoiceReceived {
                    payment_hash,
                    amount_msat,
                    ..
                } => {
                    assert_eq!(*amount_msat, Msat(amount));
                    Some(*payment_hash)
                }
                Event::OfferPaymentFailed { reason, .. } => panic!("failed: {reason}"),
                _ => None,
            })
            .unwrap()
    });
    wait_we_paid(&pair, lightning_core::node::PaymentId(hash.0));
    wait_ldk_claimed(&pair, hash.0, amount);
    pair.wait_balances_agree(&id);
    assert_eq!(ours_before - pair.our_balance_msat(&id), amount);
    assert_eq!(
        pair.ldk.monitor_balance_sat(&ldk_channel).unwrap() - ldk_before,
        amount / 1000
    );
}

/// Core Lightning's `fetchinvoice` flow against LDK's offer
/// (`Node::fetch_offer_invoice`): LDK's invoice is handed over unpaid,
/// read back from its string form, and paid from it alone
/// (`Node::pay_fetched_bolt12_invoice`); LDK claims exactly its amount.
#[test]
fn we_fetch_ldks_invoice_then_pay_it() {
    let pair = Pair::new(false);
    let id = pair.open_from_us(1_000_000, 0);
    let amount = 9_000_000;
    let offer = ldk_offer(&pair, amount, "LDK's kiosk");
    let ours_before = pair.our_balance_msat(&id);
    let fetch = pair
        .ours
        .with(|n| n.fetch_offer_invoice(&offer, InvoiceRequestParams::default(), now()))
        .unwrap();
    pair.ours.wait_until("LDK's invoice came", LIMIT, |s| {
        s.events.iter().any(|e| {
            matches!(e, Event::OfferInvoiceFetched { offer_payment_id, .. }
                | Event::OfferPaymentFailed { offer_payment_id, .. } if *offer_payment_id == fetch)
        })
    });
    let text = pair.ours.with_state(|s| {
        s.events
            .iter()
            .find_map(|e| match e {
                Event::OfferInvoiceFetched { invoice, .. } => Some(invoice.clone()),
                Event::OfferPaymentFailed { reason, .. } => panic!("failed: {reason}"),
                _ => None,
            })
            .unwrap()
    });
    let invoice: lightning_wire::bolt12::Bolt12Invoice = text.parse().unwrap();
    assert_eq!(invoice.amount_msat(), amount);
    // Fetched only: nothing paid yet.
    assert_eq!(pair.our_balance_msat(&id), ours_before);
    let paid = pair
        .ours
        .with(|n| n.pay_fetched_bolt12_invoice(&invoice, now()))
        .unwrap();
    wait_we_paid(&pair, paid);
    wait_ldk_claimed(&pair, paid.0, amount);
    pair.wait_balances_agree(&id);
    assert_eq!(ours_before - pair.our_balance_msat(&id), amount);
}

/// An offer of LDK's for `amount_msat`.
fn ldk_offer(pair: &Pair, amount_msat: u64, description: &str) -> Offer {
    let offer = pair
        .ldk
        .manager()
        .create_offer_builder()
        .unwrap()
        .amount_msats(amount_msat)
        .description(description.into())
        .build()
        .unwrap();
    offer.to_string().parse().unwrap()
}

/// Waits until our payment `id` ends, and checks that it succeeded.
fn wait_we_paid(pair: &Pair, id: lightning_core::node::PaymentId) {
    pair.ours.wait_until("our payment ends", LIMIT, |s| {
        s.node
            .payment(&id)
            .is_some_and(|p| p.status != PaymentStatus::Pending)
    });
    let p = pair.ours.with(|n| n.payment(&id)).unwrap();
    assert_eq!(p.status, PaymentStatus::Succeeded, "{p:?}");
}

/// Waits until LDK claims the payment of `hash`, exactly `amount_msat`.
fn wait_ldk_claimed(pair: &Pair, hash: [u8; 32], amount_msat: u64) {
    let ldk_hash = lightning::types::payment::PaymentHash(hash);
    pair.ldk.wait_until("LDK claimed", LIMIT, || {
        pair.ldk
            .record(|r| r.claimed.iter().any(|(h, _)| *h == ldk_hash))
    });
    let claimed = pair.ldk.record(|r| r.claimed.clone());
    assert!(claimed.contains(&(ldk_hash, amount_msat)), "{claimed:?}");
}
