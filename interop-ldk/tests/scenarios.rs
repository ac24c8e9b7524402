//! Our node against LDK 0.2 over TCP on 127.0.0.1, both following one
//! simulated chain that validates every broadcast transaction. Each
//! scenario runs for `static_remotekey` and for `anchors_zero_fee_htlc_tx`
//! channels.

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

use bitcoin::hashes::Hash;
use interop_ldk::pair::{ldk_id, Pair};
use lightning_core::amount::FeeratePerKw;

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
    assert_eq!(ours.capacity_sat.to_sat(), 400_000);
    assert_eq!(ours.local_balance_msat.0, 10_000_000);
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
    // And LDK's own view (its channel monitor) is the rest of the channel.
    pair.wait_balances_agree(&id);
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
    // The attribution data we sent with it verified at LDK (BOLT 4,
    // attributable failures): one hold time, ours.
    let held: Vec<Vec<u32>> = pair.ldk.record(|r| {
        r.path_hold_times
            .iter()
            .filter(|(h, ok, _)| *h == hash && !ok)
            .map(|(_, _, t)| t.clone())
            .collect()
    });
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        held[0].len(),
        1,
        "LDK verified our attribution data: {held:?}"
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
    assert_eq!(
        (failure.hold_times.len(), failure.attribution_failed_at),
        (1, None),
        "we verified LDK's attribution data: {failure:?}"
    );
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

// 5. A disconnect in the middle of a commitment dance, then a reconnect:
// `channel_reestablish` recovers on both sides and the payments complete.
// The connection is cut right after our first, then our second, write of
// a dance we start (update_add_htlc + commitment_signed, then our
// revoke_and_ack...), and in the middle of a dance LDK starts; we reconnect
// the first times, LDK the last.
both_channel_types!(s5_disconnect_mid_dance, |anchors: bool| {
    use interop_ldk::host;
    use interop_ldk::pair::LIMIT;

    let pair = Pair::new(anchors);
    let id = pair.open_from_us(1_000_000, 300_000_000);
    let ldk_node = pair.ldk.node_id();
    let start = pair.our_balance_msat(&id);
    let mut expected = start;
    let (mut committed_across_cut, mut retried) = (0, 0);

    for writes in [1, 2, 3] {
        // Three payments of ours, one of them dust, all in one dance.
        let invoices: Vec<_> = [2_000_000u64, 300_000, 7_000_000]
            .iter()
            .map(|a| pair.ldk.create_invoice(Some(*a), "cut"))
            .collect();
        for invoice in &invoices {
            pair.expect_amount(
                lightning_core::node::PaymentHash(invoice.payment_hash().to_byte_array()),
                invoice.amount_milli_satoshis().unwrap(),
            );
        }
        pair.ours.with_cut(writes, |n| {
            for invoice in &invoices {
                n.pay_invoice_str(&invoice.to_string(), host::now())
                    .unwrap();
            }
        });
        pair.ldk.wait_until("the connection is cut", LIMIT, || {
            pair.ours.cut_done() && !pair.ours.is_connected(&ldk_node)
        });
        pair.ldk
            .wait_until("LDK sees the disconnection", LIMIT, || {
                !pair.ldk.is_connected(&pair.ours.node_id())
            });
        pair.reconnect(id);
        for invoice in &invoices {
            let hash = lightning_core::node::PaymentHash(invoice.payment_hash().to_byte_array());
            pair.ours.wait_until("our payment ends", LIMIT, |s| {
                s.payment_outcome(&hash).is_some()
            });
            if let Some(Err(failure)) = pair.ours.payment_outcome(&hash) {
                // An offer no commitment_signed covered when the connection
                // dropped is forgotten by both sides (BOLT 2) and the
                // payment fails with nothing paid; the payer pays again.
                assert!(
                    failure.message.contains("before the HTLC was committed"),
                    "{failure:?}"
                );
                retried += 1;
                pair.ours
                    .with(|n| n.pay_invoice_str(&invoice.to_string(), host::now()))
                    .unwrap();
            } else {
                committed_across_cut += 1;
            }
            pair.wait_we_paid_ldk(&hash);
            expected -= invoice.amount_milli_satoshis().unwrap();
        }
    }
    // The first offer of each dance was signed before the cut and
    // completed through channel_reestablish alone.
    assert!(
        committed_across_cut >= 3,
        "{committed_across_cut} committed, {retried} retried"
    );

    // LDK's dance: LDK pays us twice; we cut after answering its
    // commitment_signed; LDK reconnects.
    let hashes: Vec<_> = {
        let invoices: Vec<_> = [4_000_000u64, 1_000]
            .iter()
            .map(|a| {
                pair.ours
                    .with(|n| {
                        n.create_invoice(
                            Some(lightning_core::amount::Msat(*a)),
                            "cut",
                            std::time::Duration::from_secs(3600),
                            host::now(),
                        )
                    })
                    .unwrap()
            })
            .collect();
        pair.ours.with_cut(1, |_| ());
        invoices
            .iter()
            .map(|i| {
                expected += i.amount_msat().unwrap();
                let h = pair.ldk.pay_invoice(&i.to_string(), None);
                pair.expect_amount(interop_ldk::pair::our_hash(&h), i.amount_msat().unwrap());
                h
            })
            .collect()
    };
    pair.ldk.wait_until("the connection is cut", LIMIT, || {
        pair.ours.cut_done() && !pair.ldk.is_connected(&pair.ours.node_id())
    });
    pair.ldk.connect(pair.ours.node_id(), pair.ours.addr);
    for hash in &hashes {
        pair.wait_ldk_paid_us(&interop_ldk::pair::our_hash(hash));
    }
    pair.ldk.wait_until("LDK has no HTLC pending", LIMIT, || {
        pair.ldk
            .channels()
            .iter()
            .all(|c| c.pending_inbound_htlcs.is_empty() && c.pending_outbound_htlcs.is_empty())
    });
    assert_eq!(pair.our_balance_msat(&id), expected);
    pair.wait_balances_agree(&id);
    pair.assert_chain_clean();
});

// 6. Our node is restarted from its `FsStore` in the middle of a stream of
// payments (a crash: sockets dropped without a word, the node rebuilt from
// the store alone), and the channel goes on.
both_channel_types!(s6_restart_from_store_mid_stream, |anchors: bool| {
    use interop_ldk::host;
    use interop_ldk::ldk::LdkPaymentOutcome;
    use interop_ldk::pair::{our_hash, LIMIT};
    use lightning_core::node::{PaymentHash, PaymentId, PaymentStatus};

    let pair = Pair::new(anchors);
    let id = pair.open_from_us(1_000_000, 400_000_000);
    let start = pair.our_balance_msat(&id);
    let (mut sent, mut received, mut retried) = (0u64, 0u64, 0);
    let mut ours: Vec<(String, u64)> = Vec::new();
    let mut theirs: Vec<(String, u64)> = Vec::new();

    for i in 0..30u64 {
        let amount = AMOUNTS[(i % 10) as usize] + i;
        let invoice = pair
            .ours
            .with(|n| {
                n.create_invoice(
                    Some(lightning_core::amount::Msat(amount + 7)),
                    "stream",
                    std::time::Duration::from_secs(3600),
                    host::now(),
                )
            })
            .unwrap()
            .to_string();
        let h = pair.ldk.pay_invoice(&invoice, None);
        pair.expect_amount(our_hash(&h), amount + 7);
        theirs.push((invoice, amount + 7));
        let invoice = pair.ldk.create_invoice(Some(amount), "stream");
        pair.expect_amount(PaymentHash(invoice.payment_hash().to_byte_array()), amount);
        let invoice = invoice.to_string();
        if i == 13 {
            // Crash with payments both ways in flight: ours is persisted
            // (its HTLC and our signature on it) but never reaches LDK.
            pair.ours.restart_with(|n| {
                n.pay_invoice_str(&invoice, host::now()).unwrap();
            });
            pair.ldk.wait_until("LDK sees us gone", LIMIT, || {
                !pair.ldk.is_connected(&pair.ours.node_id())
            });
            pair.reconnect(id);
        } else {
            pair.ours
                .with(|n| n.pay_invoice_str(&invoice, host::now()))
                .unwrap();
        }
        ours.push((invoice, amount));
        if i % 5 != 4 {
            continue;
        }
        for (invoice, amount) in ours.drain(..) {
            let parsed: lightning_wire::bolt11::Bolt11Invoice = invoice.parse().unwrap();
            let hash = *parsed.payment_hash();
            let pid = PaymentId(hash.0);
            pair.ours.wait_until("our payment ends", LIMIT, |s| {
                s.node
                    .payment(&pid)
                    .is_some_and(|p| p.status != PaymentStatus::Pending)
            });
            let status = pair.ours.with(|n| n.payment(&pid)).unwrap();
            if status.status == PaymentStatus::Failed {
                // Never committed before the crash: failed, nothing paid.
                assert!(
                    status
                        .failure
                        .as_deref()
                        .unwrap_or("")
                        .contains("committed"),
                    "{status:?}"
                );
                retried += 1;
                pair.ours
                    .with(|n| n.pay_invoice_str(&invoice, host::now()))
                    .unwrap();
            }
            pair.wait_we_paid_ldk(&hash);
            sent += amount;
        }
        for (invoice, amount) in theirs.drain(..) {
            let parsed: lightning_wire::bolt11::Bolt11Invoice = invoice.parse().unwrap();
            let hash = *parsed.payment_hash();
            let ldk_hash = lightning::types::payment::PaymentHash(hash.0);
            pair.ldk.wait_until("LDK's payment ends", LIMIT, || {
                pair.ldk.outcome(&ldk_hash).is_some()
            });
            assert!(
                matches!(
                    pair.ldk.outcome(&ldk_hash),
                    Some(LdkPaymentOutcome::Sent(_))
                ),
                "LDK's payment {hash} across our restart: {:?}",
                pair.ldk.outcome(&ldk_hash)
            );
            pair.wait_ldk_paid_us(&our_hash(&ldk_hash));
            received += amount;
        }
    }
    // Crashes on receipt: LDK pays us; we handle one, two, then three
    // rounds of its bytes (update_add_htlc, commitment_signed, ...), persist
    // what they changed, and crash before anything we answer leaves.
    for reads in [1, 2, 3] {
        let amount = 1_700_000 + reads;
        pair.ours.freeze_after_reads(reads as u32);
        let hash = pair.ldk_pays_us_start(amount);
        pair.ldk
            .wait_until("our host froze", LIMIT, || pair.ours.is_frozen());
        pair.ours.restart();
        pair.ldk.wait_until("LDK sees us gone", LIMIT, || {
            !pair.ldk.is_connected(&pair.ours.node_id())
        });
        pair.reconnect(id);
        pair.wait_ldk_paid_us(&hash);
        received += amount;
    }
    pair.wait_settled(&id, start + received - sent);
    eprintln!("payments of ours retried after the restart: {retried}");
    // The channel goes on after the restart: close it and check balances.
    pair.close(id, true);
});

// 7. `update_fee`, initiated by the funder: by us on a channel we opened
// (with a payment in the same dance), and by LDK on one it opened (LDK
// sends it from its timer when its estimate changes).
both_channel_types!(s7_update_fee_by_funder, |anchors: bool| {
    use interop_ldk::host;
    use interop_ldk::pair::LIMIT;

    let pair = Pair::new(anchors);
    let feerate_at_ldk = |id| {
        pair.ldk
            .channels()
            .into_iter()
            .find(|c| c.channel_id == ldk_id(&id))
            .and_then(|c| c.feerate_sat_per_1000_weight)
    };

    // We fund; we raise the fee, and pay in the same batch.
    let ours = pair.open_from_us(600_000, 100_000_000);
    assert_eq!(feerate_at_ldk(ours), Some(1000));
    let invoice = pair.ldk.create_invoice(Some(5_000_000), "fee");
    pair.expect_amount(
        lightning_core::node::PaymentHash(invoice.payment_hash().to_byte_array()),
        5_000_000,
    );
    pair.ours.with(|n| {
        n.update_fee(ours, FeeratePerKw(2_750)).unwrap();
        n.pay_invoice_str(&invoice.to_string(), host::now())
            .unwrap();
    });
    pair.wait_we_paid_ldk(&lightning_core::node::PaymentHash(
        invoice.payment_hash().to_byte_array(),
    ));
    pair.ldk.wait_until("LDK applies our feerate", LIMIT, || {
        feerate_at_ldk(ours) == Some(2_750)
    });
    // Then lower it, and pay both ways over the new commitments.
    pair.ours
        .with(|n| n.update_fee(ours, FeeratePerKw(600)))
        .unwrap();
    pair.ldk
        .wait_until("LDK applies our lower feerate", LIMIT, || {
            feerate_at_ldk(ours) == Some(600)
        });
    let h = pair.ldk_pays_us_start(3_000_000);
    pair.wait_ldk_paid_us(&h);
    let h = pair.we_pay_ldk_start(2_000_000);
    pair.wait_we_paid_ldk(&h);
    // The fundee may not send it (BOLT 2: "MUST NOT send update_fee" if
    // not the funder) — our node refuses to.
    let theirs = pair.open_from_ldk(500_000, 50_000_000);
    assert!(pair
        .ours
        .with(|n| n.update_fee(theirs, FeeratePerKw(5_000)))
        .is_err());

    // LDK funds; its estimate rises and its timer sends update_fee.
    assert_eq!(feerate_at_ldk(theirs), Some(1000));
    pair.ldk.set_feerate(3_100);
    pair.ldk
        .wait_until("LDK's update_fee is committed", LIMIT, || {
            feerate_at_ldk(theirs) == Some(3_100)
        });
    let h = pair.ldk_pays_us_start(4_000_000);
    pair.wait_ldk_paid_us(&h);
    let h = pair.we_pay_ldk_start(1_500_000);
    pair.wait_we_paid_ldk(&h);
    // Both channels close at agreed balances after the fee changes.
    pair.close(theirs, false);
    pair.close(ours, true);
    pair.assert_chain_clean();
});

// 8. A cooperative close, once initiated by each side, on a channel each
// side funded; the closing transaction is mined on the simulated chain and
// both sides' balances are as expected (checked in `Pair::close`).
both_channel_types!(s8_cooperative_close_each_side, |anchors: bool| {
    let pair = Pair::new(anchors);
    let ours = pair.open_from_us(700_000, 0);
    let theirs = pair.open_from_ldk(300_000, 0);
    // Move funds both ways over both channels first, so that each side has
    // an output; payments pick either channel.
    for amount in [50_000_000u64, 20_000_000, 1_234_567] {
        let h = pair.we_pay_ldk_start(amount);
        pair.wait_we_paid_ldk(&h);
        let h = pair.ldk_pays_us_start(amount / 2);
        pair.wait_ldk_paid_us(&h);
    }
    let ldk_wallet = pair.ldk.wallet().balance();
    for id in [&ours, &theirs] {
        pair.ldk
            .wait_until("LDK has no HTLC pending", interop_ldk::pair::LIMIT, || {
                pair.ldk.channels().iter().all(|c| {
                    c.pending_inbound_htlcs.is_empty() && c.pending_outbound_htlcs.is_empty()
                })
            });
        pair.wait_balances_agree(id);
    }

    // We initiate on the channel we funded.
    let closing = pair.close(ours, true);
    assert_eq!(closing.output.len(), 2);
    // LDK initiates on the channel it funded.
    let closing = pair.close(theirs, false);
    assert_eq!(closing.output.len(), 2);
    // Our side of both closes paid our shutdown script.
    assert!(
        pair.world
            .chain
            .balance_of(&pair.ours.shutdown_script())
            .to_sat()
            > 0
    );
    // LDK's wallet is unchanged (its closing outputs pay its own keys).
    assert_eq!(pair.ldk.wallet().balance(), ldk_wallet);
    pair.ldk.wait_until(
        "LDK forgets both channels",
        interop_ldk::pair::LIMIT,
        || pair.ldk.channels().is_empty(),
    );
    pair.assert_chain_clean();
});

// 9. A zero-conf channel each way, LDK configured to trust us and we to
// trust it: usable before any block, payments both ways, then confirmed.
both_channel_types!(s9_zero_conf, |anchors: bool| {
    use interop_ldk::host;
    use interop_ldk::ldk::LdkConfig;

    let mut ldk_config = LdkConfig::new(anchors);
    ldk_config.trust_zero_conf = true;
    let ldk_id_ = interop_ldk::ldk::LdkNode::node_id_for_seed(interop_ldk::pair::LDK_SEED);
    let mut our_config = host::config(anchors);
    our_config.trusted_zeroconf_peers.push(ldk_id_);
    let pair = Pair::with_configs(ldk_config, our_config);
    assert_eq!(pair.ldk.node_id(), ldk_id_);
    let height = pair.world.height();

    // We open; LDK accepts as trusted with minimum_depth 0.
    let ours = pair.open_zero_conf_from_us(400_000, 100_000_000);
    // LDK opens; we accept as trusted.
    let theirs = pair.open_zero_conf_from_ldk(300_000, 100_000_000);
    assert_eq!(pair.world.height(), height, "no block was mined");
    assert!(pair
        .ldk
        .record(|r| r.open_requests.iter().all(|(_, zc)| *zc)));
    for amount in [10_000_000u64, 2_000, 750_000] {
        let h = pair.we_pay_ldk_start(amount);
        pair.wait_we_paid_ldk(&h);
        let h = pair.ldk_pays_us_start(amount);
        pair.wait_ldk_paid_us(&h);
    }
    // Our node restarts from its store with both funding transactions
    // still unconfirmed; the channels resume (channel_reestablish, then
    // channel_ready again with the alias) and carry payments.
    pair.ours.restart();
    pair.ldk
        .wait_until("LDK sees us gone", interop_ldk::pair::LIMIT, || {
            !pair.ldk.is_connected(&pair.ours.node_id())
        });
    pair.reconnect(ours);
    pair.wait_usable(theirs);
    assert_eq!(pair.world.height(), height, "still no block");
    let h = pair.we_pay_ldk_start(3_000_000);
    pair.wait_we_paid_ldk(&h);
    let h = pair.ldk_pays_us_start(4_000_000);
    pair.wait_ldk_paid_us(&h);
    // The funding transactions confirm later; the channels carry on.
    pair.world.mine(6);
    let scid_known = |id| {
        pair.ours
            .channel(&id)
            .is_some_and(|c| c.short_channel_id.is_some())
    };
    let limit = std::time::Instant::now() + interop_ldk::pair::LIMIT;
    while !(scid_known(ours) && scid_known(theirs)) {
        assert!(
            std::time::Instant::now() < limit,
            "no scid after confirmation"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let h = pair.we_pay_ldk_start(1_000_000);
    pair.wait_we_paid_ldk(&h);
    pair.close(ours, true);
    pair.close(theirs, false);
    pair.assert_chain_clean();
});

// 8 (edges). A close right after opening (the fundee has nothing: one
// output), and closes asked for while payments are in flight both ways
// (BOLT 2: `shutdown` may be sent with HTLCs pending and `closing_signed`
// waits until none are left), initiated once by each side. A payment in
// flight may be failed by its recipient once it is shutting down (LDK fails
// HTLCs it processes after its `shutdown` with `permanent_channel_failure`);
// each must end, failures decoded at the sender, and the closing outputs
// match the balances that result.
both_channel_types!(s8_cooperative_close_edges, |anchors: bool| {
    use interop_ldk::ldk::LdkPaymentOutcome;
    use interop_ldk::pair::LIMIT;
    use lightning_core::node::{PaymentHash, PaymentId, PaymentStatus};

    let pair = Pair::new(anchors);
    // Nothing pushed: only the funder (LDK) has an output.
    let empty = pair.open_from_ldk(200_000, 0);
    let closing = pair.close(empty, true);
    assert_eq!(closing.output.len(), 1, "{closing:?}");
    assert_eq!(
        pair.world
            .chain
            .balance_of(&pair.ours.shutdown_script())
            .to_sat(),
        0
    );

    // Returns how many payments succeeded each way (LDK's, ours).
    let wait_all = |ldk_paid: &[PaymentHash], we_paid: &[PaymentHash]| {
        let (mut ldk_ok, mut ours_ok) = (0, 0);
        for h in ldk_paid {
            let lh = lightning::types::payment::PaymentHash(h.0);
            pair.ldk.wait_until("LDK's payment ends", LIMIT, || {
                pair.ldk.outcome(&lh).is_some()
            });
            match pair.ldk.outcome(&lh) {
                Some(LdkPaymentOutcome::Sent(_)) => {
                    pair.ours.wait_until("we received the payment", LIMIT, |s| {
                        s.events.iter().any(|e| matches!(e, lightning_core::node::Event::PaymentReceived { payment_hash, .. } if payment_hash == h))
                    });
                    pair.check_ldk_paid_us(h);
                    ldk_ok += 1;
                }
                // Either we failed it back once shutting down (LDK decoded
                // our failure as the recipient's refusal), or LDK failed it
                // itself from its holding cell once its channel was shutting
                // down (a path failure, then no route left: retries
                // exhausted). Either way after a failed path, and nothing of
                // it reached us.
                outcome => {
                    use lightning::events::PaymentFailureReason::{
                        RecipientRejected, RetriesExhausted,
                    };
                    assert!(
                        matches!(
                            outcome,
                            Some(LdkPaymentOutcome::Failed(Some(
                                RecipientRejected | RetriesExhausted
                            )))
                        ),
                        "LDK's payment {h}: {outcome:?}"
                    );
                    assert!(
                        pair.ldk
                            .record(|r| r.path_failures.iter().any(|(p, _)| *p == lh)),
                        "LDK's payment {h} failed without a failed path"
                    );
                    assert!(!pair.ours.received(h), "failed at LDK, paid to us: {h}");
                }
            }
        }
        for h in we_paid {
            let id = PaymentId(h.0);
            pair.ours.wait_until("our payment ends", LIMIT, |s| {
                s.node
                    .payment(&id)
                    .is_some_and(|p| p.status != PaymentStatus::Pending)
            });
            match pair.ours.payment_outcome(h) {
                Some(Err(failure)) => {
                    // LDK fails HTLCs it processes after its `shutdown`
                    // with permanent_channel_failure (PERM|8), and claims
                    // nothing.
                    assert_eq!(failure.failure_code, Some(0x4008), "{failure:?}");
                    let lh = lightning::types::payment::PaymentHash(h.0);
                    assert!(
                        pair.ldk.record(|r| r.claimed.iter().all(|(c, _)| *c != lh)),
                        "failed for us, claimed by LDK: {h}"
                    );
                }
                _ => {
                    pair.wait_we_paid_ldk(h);
                    ours_ok += 1;
                }
            }
        }
        (ldk_ok, ours_ok)
    };

    for (ldk_funds, by_us) in [(false, false), (true, true)] {
        let id = if ldk_funds {
            pair.open_from_ldk(800_000, 300_000_000)
        } else {
            pair.open_from_us(800_000, 300_000_000)
        };
        let mut ldk_paid = Vec::new();
        let mut we_paid = Vec::new();
        for amount in [3_000_000u64, 400_000, 9_000_000] {
            ldk_paid.push(pair.ldk_pays_us_start(amount));
            we_paid.push(pair.we_pay_ldk_start(amount + 1));
        }
        let closing = pair.close(id, by_us);
        let (ldk_ok, ours_ok) = wait_all(&ldk_paid, &we_paid);
        eprintln!(
            "close with payments in flight (LDK funds: {ldk_funds}): {ldk_ok} of LDK's and {ours_ok} of ours succeeded"
        );
        // Payments started before the close was asked for: some complete
        // (the close waits for them), whatever the recipient then fails.
        assert!(
            ldk_ok + ours_ok > 0,
            "no payment in flight at the close succeeded"
        );
        assert_eq!(closing.output.len(), 2);
    }
    pair.assert_chain_clean();
});

// 3 (edges). Amounts at the limits each side computes, and many HTLCs in
// flight at once: the sender's idea of what it may send (reserve, the
// funder's commitment fee, anchors) must agree with what the receiver
// accepts, or the receiver fails the channel.
both_channel_types!(s3_capacity_edges, |anchors: bool| {
    use interop_ldk::ldk::LdkPaymentOutcome;
    use interop_ldk::pair::LIMIT;
    use lightning_core::node::{PaymentId, PaymentStatus};

    let pair = Pair::new(anchors);
    let id = pair.open_from_us(300_000, 100_000_000);
    let ldk_chan = || {
        pair.ldk
            .channels()
            .into_iter()
            .find(|c| c.channel_id == ldk_id(&id))
            .unwrap()
    };

    // Twenty non-dust HTLCs each way in flight at once.
    let mut ldk_paid = Vec::new();
    let mut we_paid = Vec::new();
    for k in 0..20u64 {
        ldk_paid.push(pair.ldk_pays_us_start(1_500_000 + k));
        we_paid.push(pair.we_pay_ldk_start(2_000_000 + k));
    }
    for h in &ldk_paid {
        pair.wait_ldk_paid_us(h);
    }
    for h in &we_paid {
        pair.wait_we_paid_ldk(h);
    }

    // We (the funder) send everything we think we can.
    let start = std::time::Instant::now();
    while pair.ours.channel(&id).unwrap().outbound_capacity_msat.0 == 0 {
        assert!(start.elapsed() < LIMIT);
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let ours_max = pair.ours.channel(&id).unwrap().outbound_capacity_msat.0;
    let ldk_view = ldk_chan().inbound_capacity_msat;
    eprintln!("we can send {ours_max} msat; LDK can receive {ldk_view}");
    let h = pair.we_pay_ldk_start(ours_max);
    let pid = PaymentId(h.0);
    pair.ours.wait_until("the payment ends", LIMIT, |s| {
        s.node
            .payment(&pid)
            .is_some_and(|p| p.status != PaymentStatus::Pending)
    });
    let details = pair.ours.with(|n| n.payment(&pid)).unwrap();
    assert_eq!(
        details.status,
        PaymentStatus::Succeeded,
        "our full outbound capacity was refused: {details:?}"
    );
    pair.wait_we_paid_ldk(&h);
    assert!(
        pair.ldk.record(|r| r.closed.is_empty()),
        "LDK closed the channel"
    );

    // LDK sends the most it says it can.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let ldk_max = ldk_chan().next_outbound_htlc_limit_msat;
    eprintln!("LDK can send {ldk_max} msat; we think we can receive up to our side");
    let invoice = pair
        .ours
        .with(|n| {
            n.create_invoice(
                Some(lightning_core::amount::Msat(ldk_max)),
                "max",
                std::time::Duration::from_secs(3600),
                interop_ldk::host::now(),
            )
        })
        .unwrap();
    let lh = pair.ldk.pay_invoice(&invoice.to_string(), None);
    pair.expect_amount(interop_ldk::pair::our_hash(&lh), ldk_max);
    pair.ldk.wait_until("LDK's payment ends", LIMIT, || {
        pair.ldk.outcome(&lh).is_some()
    });
    assert!(
        matches!(pair.ldk.outcome(&lh), Some(LdkPaymentOutcome::Sent(_))),
        "LDK's maximum was refused: {:?}",
        pair.ldk.outcome(&lh)
    );
    pair.wait_ldk_paid_us(&interop_ldk::pair::our_hash(&lh));
    assert!(
        pair.ldk.record(|r| r.closed.is_empty()),
        "LDK closed the channel"
    );
    pair.close(id, true);
    pair.assert_chain_clean();
});

// 7 (with HTLCs). `update_fee` while HTLCs near the dust thresholds are
// pending: on `static_remotekey` channels a feerate change moves the
// trimming thresholds (dust limit plus the HTLC transaction's fee, which
// differs for offered and received HTLCs), so HTLCs change between trimmed
// and output on each commitment; both sides must agree on every signature.
// The funder is us on one channel and LDK on the other.
both_channel_types!(s7_update_fee_with_pending_htlcs, |anchors: bool| {
    use interop_ldk::pair::LIMIT;
    use lightning_core::node::PaymentHash;

    let pair = Pair::new(anchors);
    let feerate_at_ldk = |id| {
        pair.ldk
            .channels()
            .into_iter()
            .find(|c| c.channel_id == ldk_id(&id))
            .and_then(|c| c.feerate_sat_per_1000_weight)
    };
    // Amounts (sat) on both sides of the thresholds at 1000 and 3000
    // sat/kw: 546 + 663 = 1209 and 354 + 703 = 1057 at 1000; 2535 and 2463
    // at 3000 (our dust limit 546, LDK's 354). Trimmed HTLCs stay under
    // our node's 5,000-sat dust exposure limit at either rate.
    let first_sat = [1_100u64, 1_300, 2_480, 2_600, 3_000];
    let second_sat = [2_600u64, 3_000];
    let ours = pair.open_from_us(600_000, 0);
    let theirs = pair.open_from_ldk(600_000, 200_000_000);

    let hold_payments = |amounts_sat: &[u64]| -> Vec<PaymentHash> {
        let before = pair.ldk.held();
        pair.ldk.set_hold(true);
        let hashes: Vec<PaymentHash> = amounts_sat
            .iter()
            .map(|a| pair.we_pay_ldk_start(a * 1000))
            .collect();
        pair.ldk.wait_until("LDK holds every HTLC", LIMIT, || {
            pair.ldk.held() == before + amounts_sat.len()
        });
        hashes
    };
    let release = |hashes: &[PaymentHash]| {
        pair.ldk.set_hold(false);
        pair.ldk.release_held();
        for h in hashes {
            pair.wait_we_paid_ldk(h);
        }
    };

    // Our channel (we fund): HTLCs pending, we raise then lower the fee.
    // Payments pick either channel, so hold on both and move fees on both.
    let hashes = hold_payments(&first_sat);
    pair.ours
        .with(|n| n.update_fee(ours, FeeratePerKw(3_000)))
        .unwrap();
    pair.ldk.set_feerate(3_000);
    pair.ldk
        .wait_until("both updates are committed", LIMIT, || {
            feerate_at_ldk(ours) == Some(3_000) && feerate_at_ldk(theirs) == Some(3_000)
        });
    let more = hold_payments(&second_sat);
    pair.ours
        .with(|n| n.update_fee(ours, FeeratePerKw(1_000)))
        .unwrap();
    pair.ldk.set_feerate(1_000);
    pair.ldk
        .wait_until("both lower updates are committed", LIMIT, || {
            feerate_at_ldk(ours) == Some(1_000) && feerate_at_ldk(theirs) == Some(1_000)
        });
    release(&hashes);
    for h in &more {
        pair.wait_we_paid_ldk(h);
    }
    assert!(
        pair.ldk.record(|r| r.closed.is_empty()),
        "LDK closed a channel"
    );
    pair.close(ours, true);
    pair.close(theirs, false);
    pair.assert_chain_clean();
});

// 8 (restart). Our node crashes right after asking for a close (its
// `shutdown` persisted, never sent): on reconnection `shutdown` is sent
// again (BOLT 2, "Message Retransmission": "upon reconnection, if it has
// sent a previous `shutdown`, MUST retransmit `shutdown`") and the close
// completes; and once more with LDK asking and our node crashing after
// receiving its `shutdown`.
both_channel_types!(s8_close_across_restart, |anchors: bool| {
    use interop_ldk::pair::LIMIT;
    use lightning_core::channel::Phase;

    let pair = Pair::new(anchors);
    let a = pair.open_from_us(400_000, 100_000_000);
    let b = pair.open_from_ldk(400_000, 100_000_000);

    pair.ours.restart_with(|n| n.close_channel(a).unwrap());
    pair.ldk.wait_until("LDK sees us gone", LIMIT, || {
        !pair.ldk.is_connected(&pair.ours.node_id())
    });
    pair.ours.connect(pair.ldk.node_id(), pair.ldk.addr);
    pair.ours
        .wait_until("the first channel closes", LIMIT, |s| {
            s.node
                .list_channels()
                .iter()
                .any(|c| c.channel_id == a && c.phase == Phase::Closed)
        });
    pair.ldk.wait_until("LDK closes it too", LIMIT, || {
        pair.ldk
            .record(|r| r.closed.iter().any(|(c, _)| *c == ldk_id(&a)))
    });
    // The closing transaction spends this channel's funding output and
    // pays each side its balance (100,000 sat pushed to LDK; we funded
    // and pay the fee).
    let closing = pair.check_close(a);
    let ldk_script = pair.ldk.shutdown_script();
    assert!(closing
        .output
        .iter()
        .any(|o| o.script_pubkey == ldk_script && o.value.to_sat() == 100_000));
    pair.assert_chain_clean();

    // LDK asks; we crash after reading its `shutdown`, before answering.
    pair.wait_usable(b);
    pair.ours.freeze_after_reads(1);
    pair.ldk.close_channel(&ldk_id(&b), &pair.ours.node_id());
    pair.ldk
        .wait_until("our host froze", LIMIT, || pair.ours.is_frozen());
    pair.ours.restart();
    pair.ldk.wait_until("LDK sees us gone", LIMIT, || {
        !pair.ldk.is_connected(&pair.ours.node_id())
    });
    pair.ours.connect(pair.ldk.node_id(), pair.ldk.addr);
    pair.ours
        .wait_until("the second channel closes", LIMIT, |s| {
            s.node
                .list_channels()
                .iter()
                .any(|c| c.channel_id == b && c.phase == Phase::Closed)
        });
    pair.ldk.wait_until("LDK closes it too", LIMIT, || {
        pair.ldk
            .record(|r| r.closed.iter().any(|(c, _)| *c == ldk_id(&b)))
    });
    // LDK funded and pushed us 100,000 sat: our output is exactly that.
    let closing = pair.check_close(b);
    let our_script = pair.ours.shutdown_script();
    assert!(closing
        .output
        .iter()
        .any(|o| o.script_pubkey == our_script && o.value.to_sat() == 100_000));
    pair.assert_chain_clean();
});

// Extra: an invoice of ours without an amount, paid by LDK with one.
#[test]
fn extra_amountless_invoice_paid_by_ldk() {
    use interop_ldk::pair::our_hash;
    let pair = Pair::new(true);
    pair.open_from_us(500_000, 100_000_000);
    let invoice = pair
        .ours
        .with(|n| {
            n.create_invoice(
                None,
                "any amount",
                std::time::Duration::from_secs(3600),
                interop_ldk::host::now(),
            )
        })
        .unwrap();
    let h = pair.ldk.pay_invoice(&invoice.to_string(), Some(1_234_567));
    // Both sides' records say 1,234,567 msat (checked by the wait).
    pair.expect_amount(our_hash(&h), 1_234_567);
    pair.wait_ldk_paid_us(&our_hash(&h));
}

// Extra: LDK opens an announced channel (`channel_flags` bit 0); after six
// confirmations both sides send `announcement_signatures` (BOLT 7: the
// fundee "MUST send the `announcement_signatures` message"). LDK checks
// ours and builds the channel's `channel_announcement` (its
// `BroadcastChannelAnnouncement`, seen in its log); the gossip our node
// hands out (`poll_gossip`) is accepted by an LDK `NetworkGraph`, which
// checks every signature. Payments go on.
#[test]
fn extra_announced_channel_from_ldk() {
    use interop_ldk::pair::LIMIT;
    let pair = Pair::new(false);
    let mut config = lightning::util::config::UserConfig::default();
    config.channel_handshake_config.announce_for_forwarding = true;
    config.manually_accept_inbound_channels = true;
    pair.ldk
        .manager()
        .create_channel(
            pair.ours.node_id(),
            300_000,
            50_000_000,
            0,
            None,
            Some(config),
        )
        .unwrap();
    pair.ldk.sync();
    pair.world.wait_for_mempool(1, LIMIT);
    pair.world.mine(6);
    pair.ldk
        .wait_until("LDK sends announcement_signatures", LIMIT, || {
            pair.ldk
                .log_contains("Enqueueing message AnnouncementSignatures")
        });
    pair.ldk.wait_until(
        "LDK takes our announcement_signatures and announces the channel",
        LIMIT,
        || {
            pair.ldk
                .log_contains("Handling BroadcastChannelAnnouncement event")
        },
    );
    let id = pair
        .ours
        .channel_with(&pair.ldk.node_id())
        .unwrap()
        .channel_id;
    pair.wait_usable(id);
    // LDK announces once it has ours; ours needs LDK's, which may still be
    // on its way.
    pair.ours
        .wait_until("our side has LDK's announcement_signatures", LIMIT, |s| {
            s.node
                .list_channels()
                .iter()
                .any(|c| c.channel_id == id && c.is_announced)
        });
    let details = pair.ours.channel_with(&pair.ldk.node_id()).unwrap();
    assert!(details.announce_channel && details.is_announced);
    let scid = details.short_channel_id.unwrap();
    let gossip: Vec<lightning_wire::msgs::Message> = pair
        .ours
        .with(|n| std::iter::from_fn(|| n.poll_gossip()).collect());
    check_gossip_in_ldk_graph(&gossip, scid.0, pair.ours.node_id());
    let h = pair.ldk_pays_us_start(1_000_000);
    pair.wait_ldk_paid_us(&h);
    let h = pair.we_pay_ldk_start(500_000);
    pair.wait_we_paid_ldk(&h);
    assert!(pair.ldk.record(|r| r.closed.is_empty()));
    pair.close(id, true);
}

/// Feeds our gossip to a fresh LDK `NetworkGraph` (no UTXO lookup): it
/// checks the four signatures of the `channel_announcement`, our
/// `channel_update`'s and our `node_announcement`'s.
fn check_gossip_in_ldk_graph(
    gossip: &[lightning_wire::msgs::Message],
    scid: u64,
    our_id: bitcoin::secp256k1::PublicKey,
) {
    use lightning::ln::msgs;
    use lightning::routing::gossip::{NetworkGraph, NodeId};
    use lightning::routing::utxo::UtxoLookup;
    use lightning::util::ser::LengthReadable;
    use lightning_wire::msgs::Message;

    struct Quiet;
    impl lightning::util::logger::Logger for Quiet {
        fn log(&self, _: lightning::util::logger::Record) {}
    }
    fn body(m: &Message) -> Vec<u8> {
        m.encode().unwrap()[2..].to_vec()
    }
    let graph = NetworkGraph::new(bitcoin::Network::Regtest, &Quiet);
    let (mut ann, mut upd, mut node) = (0, 0, 0);
    for m in gossip {
        if let Message::ChannelAnnouncement(_) = m {
            let a = msgs::ChannelAnnouncement::read_from_fixed_length_buffer(&mut &body(m)[..])
                .unwrap();
            graph
                .update_channel_from_announcement(&a, &None::<&dyn UtxoLookup>)
                .unwrap();
            ann += 1;
        }
    }
    for m in gossip {
        match m {
            Message::ChannelUpdate(_) => {
                let u =
                    msgs::ChannelUpdate::read_from_fixed_length_buffer(&mut &body(m)[..]).unwrap();
                graph.update_channel(&u).unwrap();
                upd += 1;
            }
            Message::NodeAnnouncement(_) => {
                let n = msgs::NodeAnnouncement::read_from_fixed_length_buffer(&mut &body(m)[..])
                    .unwrap();
                graph.update_node_from_announcement(&n).unwrap();
                node += 1;
            }
            _ => {}
        }
    }
    assert_eq!((ann, node), (1, 1), "{gossip:?}");
    assert!(upd >= 1);
    let ro = graph.read_only();
    let ch = ro.channel(scid).expect("the channel is in LDK's graph");
    let ours = NodeId::from_pubkey(&our_id);
    let dir = if ch.node_one == ours {
        &ch.one_to_two
    } else {
        &ch.two_to_one
    };
    assert!(
        dir.as_ref().is_some_and(|d| d.enabled),
        "our direction is known"
    );
    assert!(ro
        .node(&ours)
        .and_then(|n| n.announcement_info.as_ref())
        .is_some());
}
