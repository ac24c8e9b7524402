//! Our node against LDK 0.2 over TCP on 127.0.0.1, both following one
//! simulated chain that validates every broadcast transaction. Each
//! scenario runs for `static_remotekey` and for `anchors_zero_fee_htlc_tx`
//! channels.

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

use bitcoin::hashes::Hash;
use interop_ldk::pair::{ldk_id, Pair};

/// Runs `$body(anchors: bool)` as `<name>_static_remotekey` and
/// `<name>_anchors`.
macro_rules! both_channel_types {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn static_remotekey() {
                ($body)(false)
            }
            #[test]
            fn anchors() {
                ($body)(true)
            }
        }
    };
}

// 1. We open a channel to LDK; it confirms; both see it ready.
both_channel_types!(s1_we_open_to_ldk, |anchors: bool| {
    let pair = Pair::new(anchors);
    let id = pair.open_from_us(500_000, 0);
    let ldk_channel = pair
        .ldk
        .channels()
        .into_iter()
        .find(|c| c.channel_id == ldk_id(&id))
        .unwrap();
    assert!(!ldk_channel.is_outbound);
    assert_eq!(ldk_channel.channel_value_satoshis, 500_000);
    assert_eq!(
        ldk_channel
            .channel_type
            .unwrap()
            .supports_anchors_zero_fee_htlc_tx(),
        anchors
    );
    assert_eq!(
        ldk_channel.short_channel_id,
        pair.ours
            .channel(&id)
            .unwrap()
            .short_channel_id
            .map(|s| s.0)
    );
    pair.assert_chain_clean();
});

// 2. LDK opens a channel to us, and we accept it.
both_channel_types!(s2_ldk_opens_to_us, |anchors: bool| {
    let pair = Pair::new(anchors);
    let id = pair.open_from_ldk(400_000, 10_000_000);
    let ours = pair.ours.channel(&id).unwrap();
    assert!(!ours.is_outbound);
    assert_eq!(ours.capacity_sat, 400_000);
    assert_eq!(ours.local_balance_msat, 10_000_000);
    let ldk_channel = pair
        .ldk
        .channels()
        .into_iter()
        .find(|c| c.channel_id == ldk_id(&id))
        .unwrap();
    assert_eq!(
        ldk_channel
            .channel_type
            .unwrap()
            .supports_anchors_zero_fee_htlc_tx(),
        anchors
    );
    pair.assert_chain_clean();
});

/// Amounts (msat) the payment scenarios cycle through: dust-sized HTLCs
/// (trimmed from both commitments at 1000 sat/kw: below 546 sat, or below
/// the HTLC-transaction fee on `static_remotekey` channels) and non-dust
/// ones that create HTLC outputs.
const AMOUNTS: [u64; 10] = [
    1_000, 150_000, 353_000, 700_000, 1_500_000, 5_000_000, 12_345_678, 20_000_000, 999, 2_600_000,
];

// 3. BOLT 11 payments each way: 50 each, several in flight at once (five
// each way per round, both directions interleaved).
both_channel_types!(s3_invoice_payments_both_ways, |anchors: bool| {
    let pair = Pair::new(anchors);
    let id = pair.open_from_us(1_000_000, 400_000_000);
    let start_balance = pair.our_balance_msat(&id);
    let (mut sent, mut received) = (0u64, 0u64);
    for round in 0..10 {
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for k in 0..5 {
            let amount = AMOUNTS[(round + k) % AMOUNTS.len()] + round as u64;
            theirs.push(pair.ldk_pays_us_start(amount));
            received += amount;
            let amount = AMOUNTS[(round + 2 * k + 3) % AMOUNTS.len()] + k as u64;
            ours.push(pair.we_pay_ldk_start(amount));
            sent += amount;
        }
        for hash in &theirs {
            pair.wait_ldk_paid_us(hash);
        }
        for hash in &ours {
            pair.wait_we_paid_ldk(hash);
        }
    }
    pair.ldk
        .wait_until("LDK has no HTLC pending", interop_ldk::pair::LIMIT, || {
            pair.ldk
                .channels()
                .iter()
                .all(|c| c.pending_inbound_htlcs.is_empty() && c.pending_outbound_htlcs.is_empty())
        });
    assert_eq!(
        pair.our_balance_msat(&id),
        start_balance + received - sent,
        "our balance moved by what we received less what we sent"
    );
    let (trimmed, htlc_sigs) = pair.ldk.htlc_counts();
    assert!(trimmed > 0, "some HTLCs were dust");
    assert!(
        htlc_sigs > 0,
        "some HTLCs had outputs, with signatures LDK checked"
    );
    pair.assert_chain_clean();
});

// 4. A payment to an unknown payment hash fails back with
// `incorrect_or_unknown_payment_details` (BOLT 4: PERM|15, with
// `htlc_msat` and `height`), decoded at the sender; both directions.
both_channel_types!(s4_unknown_payment_hash, |anchors: bool| {
    use interop_ldk::ldk::LdkPaymentOutcome;
    use lightning::events::PaymentFailureReason;
    use lightning::types::payment::{PaymentHash, PaymentSecret};
    use lightning_core::onion::FailureReason;

    let pair = Pair::new(anchors);
    let id = pair.open_from_us(1_000_000, 300_000_000);
    let height = pair.world.height();

    // LDK pays us under a hash we never issued an invoice for.
    let hash = PaymentHash([0xab; 32]);
    pair.ldk.pay_hash(
        pair.ours.node_id(),
        hash,
        PaymentSecret([0xcd; 32]),
        2_000_000,
        40,
    );
    pair.ldk
        .wait_until("LDK's payment fails", interop_ldk::pair::LIMIT, || {
            pair.ldk.outcome(&hash).is_some()
        });
    assert_eq!(
        pair.ldk.outcome(&hash),
        Some(LdkPaymentOutcome::Failed(Some(
            PaymentFailureReason::RecipientRejected
        )))
    );
    assert!(pair.ldk.record(|r| r.path_failures.contains(&(hash, true))));
    let decoded = format!(
        "Onion Error[from {}: IncorrectPaymentDetails(0x400f)",
        pair.ours.node_id()
    );
    assert!(
        pair.ldk.log_contains(&decoded),
        "LDK decoded PERM|15 from us"
    );

    // We pay LDK an invoice (signed by LDK's key) whose hash LDK does not know.
    let invoice = pair.ldk.create_unknown_invoice(3_000_000);
    let our_hash = lightning_core::node::PaymentHash(invoice.payment_hash().to_byte_array());
    pair.ours
        .with(|n| n.pay_invoice_str(&invoice.to_string(), interop_ldk::host::now()))
        .unwrap();
    pair.ours.wait_until("our payment fails", interop_ldk::pair::LIMIT, |s| {
        s.events.iter().any(|e| {
            matches!(e, lightning_core::node::Event::PaymentFailed { payment_hash, .. } if *payment_hash == our_hash)
        })
    });
    let failure = pair.ours.payment_outcome(&our_hash).unwrap().unwrap_err();
    assert_eq!(failure.failure_code, Some(0x400f), "{failure:?}");
    assert_eq!(failure.failing_hop, Some(0));
    match failure.failure {
        Some(FailureReason::IncorrectOrUnknownPaymentDetails {
            htlc_msat,
            height: their_height,
        }) => {
            assert_eq!(htlc_msat, 3_000_000);
            assert!(their_height >= height);
        }
        other => panic!("decoded {other:?}"),
    }
    // Nothing moved.
    assert_eq!(pair.our_balance_msat(&id), 700_000_000);
    pair.assert_chain_clean();
});
