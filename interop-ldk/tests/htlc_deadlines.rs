//! Issue 19: an HTLC held near its expiry with LDK 0.2 on the other side
//! (BOLT 2, "the deadline for offered HTLCs" and "the fulfillment
//! deadline"; BOLT 5, resolving an HTLC on chain before the other side
//! can take it), both channel types.
//!
//! An LDK node that holds an HTLC unclaimed fails it back by itself
//! `HTLC_FAIL_BACK_BUFFER` (39) blocks before its expiry, and takes an
//! `update_fulfill_htlc` at once, so LDK "holds" past a deadline only
//! while it is away: each scenario has LDK hold the HTLC (its
//! `PaymentClaimable` left unclaimed, or our hold invoice's HTLC
//! committed) and then drop the connection to us; LDK's own answer, if
//! any, never arrives.
//!
//! - We offered the HTLC (to an LDK payee, directly or forwarding for an
//!   LDK payer): at `cltv_expiry` + `offered_htlc_grace_blocks`, not a
//!   block earlier, we publish our commitment and time the HTLC out with
//!   our HTLC-timeout transaction (its `nLockTime` the expiry); our main
//!   output and the HTLC come back to us, LDK keeps exactly the main
//!   output its monitor reported, our payment fails; forwarding, the
//!   payer's HTLC is failed back to it before its own expiry and its
//!   channel to us stays open with nothing moved (BOLT 5: once our
//!   HTLC-timeout is 6 deep; before that was fixed our node never failed
//!   the forward back and the payer force-closed at its expiry + 3).
//! - LDK offered the HTLC to our hold invoice and we claimed it while LDK
//!   was away: `fulfill_deadline_blocks` before the expiry, not a block
//!   earlier, we publish our commitment and take the HTLC with our
//!   HTLC-success transaction, confirmed before the expiry; LDK learns the
//!   preimage from the chain (`PaymentSent`).
//!
//! Every transaction is script-verified by the simulated chain.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::{OutPoint, Transaction};
use interop_ldk::host::now;
use interop_ldk::ldk::{LdkNode, LdkPaymentOutcome};
use interop_ldk::pair::{ldk_id, Pair, LIMIT};
use lightning::ln::channel_state::{InboundHTLCStateDetails, OutboundHTLCStateDetails};
use lightning_core::amount::Msat;
use lightning_core::channel::Phase;
use lightning_core::node::{ClaimableBalance, Event, PaymentHash, PaymentPreimage};
use lightning_wire::types::ChannelId;

const HTLC_SAT: u64 = 25_000;

/// Mines one block and waits until our node and every LDK node in `ldks`
/// have seen it.
fn mine_and_follow(pair: &Pair, ldks: &[&LdkNode]) {
    pair.world.mine(1);
    let height = pair.world.height();
    pair.ours
        .wait_until("our node follows the chain", LIMIT, |s| s.fed >= height);
    for ldk in ldks {
        ldk.wait_until("LDK follows the chain", LIMIT, || {
            ldk.synced_height() >= height
        });
    }
}

/// What our node still expects on chain from `id`.
fn pending_for(pair: &Pair, id: &ChannelId) -> Vec<ClaimableBalance> {
    pair.ours.with(|n| {
        n.claimable_balances()
            .into_iter()
            .filter(|b| {
                let cid = match b {
                    ClaimableBalance::ClaimableOnChannelClose { channel_id, .. }
                    | ClaimableBalance::AwaitingConfirmation { channel_id, .. }
                    | ClaimableBalance::TimelockedUntil { channel_id, .. }
                    | ClaimableBalance::ContentiousHtlc { channel_id, .. }
                    | ClaimableBalance::AwaitingPreimage { channel_id, .. }
                    | ClaimableBalance::PendingSweep { channel_id, .. } => channel_id,
                };
                cid == id
            })
            .collect()
    })
}

fn balance_sat(b: &ClaimableBalance) -> u64 {
    match b {
        ClaimableBalance::ClaimableOnChannelClose { amount_sat, .. }
        | ClaimableBalance::AwaitingConfirmation { amount_sat, .. }
        | ClaimableBalance::TimelockedUntil { amount_sat, .. }
        | ClaimableBalance::ContentiousHtlc { amount_sat, .. }
        | ClaimableBalance::AwaitingPreimage { amount_sat, .. }
        | ClaimableBalance::PendingSweep { amount_sat, .. } => amount_sat.to_sat(),
    }
}

/// Each confirmed transaction spending an output, by outpoint, with the
/// height it confirmed at.
fn spenders(pair: &Pair, from_height: u32) -> HashMap<OutPoint, (Transaction, u32)> {
    let mut out = HashMap::new();
    for h in from_height..=pair.world.height() {
        for tx in pair.world.chain.block_at(h).unwrap().txdata.iter() {
            for i in &tx.input {
                out.insert(i.previous_output, (tx.clone(), h));
            }
        }
    }
    out
}

/// The transaction in the mempool spending `funding`, if any.
fn commitment_in_mempool(pair: &Pair, funding: OutPoint) -> Option<Transaction> {
    pair.world
        .chain
        .mempool()
        .into_iter()
        .find(|tx| tx.input.iter().any(|i| i.previous_output == funding))
}

/// LDK drops its connection to us; both sides see it gone.
fn ldk_goes_away(pair: &Pair, ldk: &LdkNode) {
    ldk.disconnect(&pair.ours.node_id());
    let ldk_node = ldk.node_id();
    pair.ours.wait_until("we see LDK gone", LIMIT, |s| {
        !s.node.connected_peers().iter().any(|(_, n)| *n == ldk_node)
    });
    ldk.wait_until("LDK sees us gone", LIMIT, || {
        !ldk.is_connected(&pair.ours.node_id())
    });
}

/// LDK's main balance in `id` as its monitor reports it (sat).
fn ldk_main_balance(ldk: &LdkNode, id: &ChannelId) -> u64 {
    ldk.claimable_balances(&ldk_id(id))
        .iter()
        .filter(|(k, _)| k == "on_channel_close")
        .map(|(_, v)| *v)
        .sum()
}

/// Mines until `height` is reached (the last block excluded) checking
/// that our node keeps `id` open meanwhile; then mines the block at
/// `height` and returns the commitment our node publishes.
fn goes_to_chain_at(
    pair: &Pair,
    ldks: &[&LdkNode],
    id: &ChannelId,
    height: u32,
    what: &str,
) -> Transaction {
    let funding = pair.ours.channel(id).unwrap().funding_txo.unwrap();
    while pair.world.height() + 1 < height {
        mine_and_follow(pair, ldks);
        assert!(
            commitment_in_mempool(pair, funding).is_none(),
            "{what}: we went to chain at {} (expected {height})",
            pair.world.height()
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    let phase = pair.ours.channel(id).unwrap().phase;
    assert_eq!(phase, Phase::Normal, "{what}: open one block before");
    assert!(commitment_in_mempool(pair, funding).is_none());
    mine_and_follow(pair, ldks);
    assert_eq!(pair.world.height(), height);
    let start = std::time::Instant::now();
    loop {
        if let Some(tx) = commitment_in_mempool(pair, funding) {
            let closed = pair.ours.events_matching(|e| {
                matches!(e, Event::ChannelClosed { channel_id, closing_tx: Some(c), .. }
                    if channel_id == id && c.compute_txid() == tx.compute_txid())
            });
            assert_eq!(closed.len(), 1, "{what}: our commitment: {tx:?}");
            return tx;
        }
        assert!(
            start.elapsed() < LIMIT,
            "{what}: no commitment at height {height}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Mines until our node expects nothing more from `id` (every claim 6
/// deep); returns the blocks mined.
fn mine_until_resolved(pair: &Pair, ldks: &[&LdkNode], id: &ChannelId) -> u32 {
    let mut mined = 0;
    while !pending_for(pair, id).is_empty() {
        assert!(
            mined < 400,
            "still pending after {mined} blocks: {:?}",
            pending_for(pair, id)
        );
        mine_and_follow(pair, ldks);
        mined += 1;
    }
    mined
}

/// The outputs of our `commitment` (confirmed at `close_height`) once
/// resolved: the HTLC of `HTLC_SAT` was spent by us at `htlc_spent`'s
/// satisfaction, LDK's main output is `ldk_main` sat and untouched by us,
/// every other non-anchor output is ours and was spent. Returns what we
/// took (sat, before claim fees) and the HTLC's spender with its height.
fn check_outputs(
    pair: &Pair,
    commitment: &Transaction,
    close_height: u32,
    ldk_main: u64,
) -> (u64, Transaction, u32) {
    let spent = spenders(pair, close_height);
    let ctxid = commitment.compute_txid();
    let script = pair.ours.shutdown_script();
    let mut ours = 0;
    let mut ldk_seen = ldk_main == 0;
    let mut htlc = None;
    for (vout, o) in commitment.output.iter().enumerate() {
        let v = o.value.to_sat();
        if v == 330 && pair.anchors {
            continue;
        }
        let outpoint = OutPoint {
            txid: ctxid,
            vout: u32::try_from(vout).unwrap(),
        };
        if v == ldk_main && !ldk_seen {
            ldk_seen = true;
            if let Some((tx, _)) = spent.get(&outpoint) {
                assert!(
                    tx.output.iter().all(|out| out.script_pubkey != script),
                    "we took LDK's output: {tx:?}"
                );
            }
            continue;
        }
        let (tx, h) = spent
            .get(&outpoint)
            .unwrap_or_else(|| panic!("output {vout} ({v} sat) never claimed: {commitment:?}"));
        ours += v;
        if v == HTLC_SAT {
            htlc = Some((tx.clone(), *h));
        }
    }
    assert!(
        ldk_seen,
        "LDK's main output is the {ldk_main} sat its monitor reported: {commitment:?}"
    );
    let (tx, h) = htlc.unwrap_or_else(|| panic!("no {HTLC_SAT} sat HTLC output: {commitment:?}"));
    (ours, tx, h)
}

/// Once our commitment confirmed: LDK's monitor (`get_claimable_balances`)
/// counts its main output at the `ldk_main` sat it reported while open.
fn ldk_counts_its_main_output(ldk: &LdkNode, id: &ChannelId, ldk_main: u64) {
    ldk.wait_until("LDK's monitor counts its main output", LIMIT, || {
        ldk.claimable_balances(&ldk_id(id))
            .iter()
            .any(|(k, v)| k == "awaiting_confirmations" && *v == ldk_main)
    });
}

/// What reached our wallet from `id` (the `FundsSwept` events).
fn swept(pair: &Pair, id: &ChannelId) -> u64 {
    pair.ours
        .events_matching(|e| matches!(e, Event::FundsSwept { channel_id, .. } if channel_id == id))
        .iter()
        .map(|e| match e {
            Event::FundsSwept { amount_sat, .. } => amount_sat.to_sat(),
            _ => 0,
        })
        .sum()
}

/// Our balance in `id` as `claimable_balances` reports it while open
/// (HTLCs in flight apart).
fn our_open_balance(pair: &Pair, id: &ChannelId) -> u64 {
    let b: Vec<ClaimableBalance> = pending_for(pair, id)
        .into_iter()
        .filter(|b| matches!(b, ClaimableBalance::ClaimableOnChannelClose { .. }))
        .collect();
    assert_eq!(b.len(), 1, "{b:?}");
    balance_sat(&b[0])
}

/// The LDK inbound HTLC of `hash` in `id`, once committed: its expiry.
fn ldk_inbound_expiry(ldk: &LdkNode, id: &ChannelId, hash: &PaymentHash) -> u32 {
    let mut expiry = 0;
    ldk.wait_until("LDK's inbound HTLC is committed", LIMIT, || {
        let htlc = ldk
            .channels()
            .into_iter()
            .find(|c| c.channel_id == ldk_id(id))
            .and_then(|c| {
                c.pending_inbound_htlcs
                    .into_iter()
                    .find(|h| h.payment_hash.0 == hash.0)
            });
        match htlc {
            Some(h) if h.state == Some(InboundHTLCStateDetails::Committed) => {
                expiry = h.cltv_expiry;
                true
            }
            _ => false,
        }
    });
    expiry
}

/// The LDK outbound HTLC of `hash` in `id`, once committed: its expiry.
fn ldk_outbound_expiry(ldk: &LdkNode, id: &ChannelId, hash: &PaymentHash) -> u32 {
    let mut expiry = 0;
    ldk.wait_until("LDK's outbound HTLC is committed", LIMIT, || {
        let htlc = ldk
            .channels()
            .into_iter()
            .find(|c| c.channel_id == ldk_id(id))
            .and_then(|c| {
                c.pending_outbound_htlcs
                    .into_iter()
                    .find(|h| h.payment_hash.0 == hash.0)
            });
        match htlc {
            Some(h) if h.state == Some(OutboundHTLCStateDetails::Committed) => {
                expiry = h.cltv_expiry;
                true
            }
            _ => false,
        }
    });
    expiry
}

/// 2 (a), direct: we pay the pair's LDK node, which holds the HTLC and goes
/// away; we time it out on chain.
fn ldk_holds_our_htlc(anchors: bool) {
    let pair = Pair::new(anchors);
    let ldks = [&pair.ldk];
    let id = pair.open_from_us(1_000_000, 0);
    // LDK needs a main output of its own.
    let h = pair.we_pay_ldk_start(200_000_000);
    pair.wait_we_paid_ldk(&h);
    pair.wait_balances_agree(&id);

    pair.ldk.set_hold(true);
    let hash = pair.we_pay_ldk_start(HTLC_SAT * 1000);
    pair.ldk
        .wait_until("LDK holds our HTLC", LIMIT, || pair.ldk.held() >= 1);
    let expiry = ldk_inbound_expiry(&pair.ldk, &id, &hash);
    let ldk_main = ldk_main_balance(&pair.ldk, &id);
    let our_before = our_open_balance(&pair, &id);
    ldk_goes_away(&pair, &pair.ldk);

    let grace = pair.ours.with(|n| n.config().offered_htlc_grace_blocks);
    let commitment = goes_to_chain_at(&pair, &ldks, &id, expiry + grace, "offered HTLC");
    let close_height = pair.world.height() + 1;
    mine_and_follow(&pair, &ldks);
    assert_eq!(
        pair.world
            .chain
            .tx_confirmations(&commitment.compute_txid()),
        Some(1)
    );
    let after_close: u64 = pending_for(&pair, &id).iter().map(balance_sat).sum();
    ldk_counts_its_main_output(&pair.ldk, &id, ldk_main);
    let mined = mine_until_resolved(&pair, &ldks, &id);

    let (ours, htlc_claim, htlc_height) = check_outputs(&pair, &commitment, close_height, ldk_main);
    assert_eq!(
        after_close, ours,
        "what we expected to claim once the commitment confirmed is what we took"
    );
    // Our HTLC-timeout transaction: locked to the HTLC's expiry.
    assert_eq!(
        htlc_claim.lock_time.to_consensus_u32(),
        expiry,
        "HTLC-timeout: {htlc_claim:?}"
    );
    assert!(htlc_height >= expiry);
    assert!(
        htlc_claim
            .output
            .iter()
            .all(|o| o.script_pubkey != pair.ldk.shutdown_script()),
        "LDK did not take the HTLC"
    );
    let swept = swept(&pair, &id);
    assert!(
        swept <= ours && swept + 30_000 >= ours,
        "swept {swept} of {ours}"
    );
    // Our payment failed once the timeout was resolved; LDK never claimed.
    pair.ours.wait_until("our payment fails", LIMIT, |s| {
        matches!(s.payment_outcome(&hash), Some(Err(_)))
    });
    assert!(
        pair.ldk.record(|r| r.claimed.len()) == 1,
        "only the first payment"
    );
    pair.ldk
        .wait_until("LDK sees the channel closed", LIMIT, || {
            pair.ldk
                .record(|r| r.closed.iter().any(|(c, _)| *c == ldk_id(&id)))
        });
    eprintln!(
        "offered HTLC, anchors {anchors}: expiry {expiry}, we went to chain at {}, HTLC timed out at {htlc_height}; \
         our balance {our_before} sat open, {after_close} sat claimable after the close, {ours} taken, {swept} swept \
         after {mined} blocks; LDK's main output {ldk_main} sat, LDK's balances now {:?}",
        expiry + grace,
        pair.ldk.claimable_balances(&ldk_id(&id))
    );
    pair.assert_chain_clean();
}

/// 2 (a), forwarding: the pair's LDK node pays an LDK payee through us;
/// the payee holds our HTLC and goes away. We time it out on chain and
/// fail the payer's HTLC back.
fn ldk_payee_holds_our_forward(anchors: bool) {
    let pair = Pair::new(anchors);
    let wallets = pair.world.wallets(&[[7; 32]], 2);
    let payee = LdkNode::start(
        "ldk-payee",
        [37; 32],
        pair.world.chain.clone(),
        wallets[0].clone(),
        pair.ldk.config(),
    );
    pair.ours.connect(payee.node_id(), payee.addr);
    let inbound = pair.open_from_ldk(500_000, 0);
    let outbound = pair.open_from_us_to(payee.node_id(), 500_000, 1);
    pair.ours
        .wait_until("our channel to the payee is usable", LIMIT, |s| {
            s.node
                .list_channels()
                .iter()
                .any(|c| c.channel_id == outbound && c.is_usable)
        });
    payee.wait_until("the payee has our channel_update", LIMIT, || {
        payee.channels().iter().any(|c| c.is_usable)
            && payee
                .create_invoice(Some(1_000), "probe")
                .route_hints()
                .len()
                == 1
    });
    // The payee needs a main output of its own.
    let invoice = payee.create_invoice(Some(100_000_000), "main output");
    pair.ours
        .with(|n| n.pay_invoice_str(&invoice.to_string(), now()))
        .unwrap();
    payee.wait_until("the payee is paid", LIMIT, || {
        payee.record(|r| r.claimed.len() == 1)
    });
    let ldks = [&pair.ldk, &payee];
    let in_before = pair.our_balance_msat(&inbound);
    let payer_before = pair.ldk.balance_msat(&ldk_id(&inbound)).unwrap();

    payee.set_hold(true);
    let invoice = payee.create_invoice(Some(HTLC_SAT * 1000), "held");
    let hash_ldk = pair.ldk.pay_invoice(&invoice.to_string(), None);
    let hash = PaymentHash(hash_ldk.0);
    payee.wait_until("the payee holds our HTLC", LIMIT, || payee.held() >= 1);
    let expiry = ldk_inbound_expiry(&payee, &outbound, &hash);
    let upstream_expiry = ldk_outbound_expiry(&pair.ldk, &inbound, &hash);
    let payee_main = ldk_main_balance(&payee, &outbound);
    ldk_goes_away(&pair, &payee);

    let grace = pair.ours.with(|n| n.config().offered_htlc_grace_blocks);
    let commitment = goes_to_chain_at(&pair, &ldks, &outbound, expiry + grace, "forwarded HTLC");
    let close_height = pair.world.height() + 1;
    mine_and_follow(&pair, &ldks);
    ldk_counts_its_main_output(&payee, &outbound, payee_main);
    // The payer's HTLC is failed back once the timeout is resolved, before
    // its own expiry.
    while pair.ldk.outcome(&hash_ldk).is_none() {
        assert!(
            pair.world.height() < upstream_expiry,
            "the payer's HTLC was not failed back by its expiry {upstream_expiry} (downstream expiry {expiry}, \
             commitment confirmed at {close_height}); forwards {:?}; pending {:?}; outbound {:?}",
            pair.ours.with(|n| n.list_forwards()),
            pending_for(&pair, &outbound),
            pair.ours.channel(&outbound)
        );
        mine_and_follow(&pair, &ldks);
        std::thread::sleep(Duration::from_millis(20));
    }
    let failed_at = pair.world.height();
    let outcome = pair.ldk.outcome(&hash_ldk);
    assert!(
        matches!(outcome, Some(LdkPaymentOutcome::Failed(_))),
        "{outcome:?}"
    );
    // Nothing moved on the payer's channel, which stays open.
    pair.wait_settled(&inbound, in_before);
    assert_eq!(pair.ldk.balance_msat(&ldk_id(&inbound)), Some(payer_before));
    assert!(pair.ours.channel(&inbound).unwrap().is_usable);
    assert!(
        pair.ldk.record(|r| r.closed.is_empty()),
        "the payer closed nothing"
    );

    let mined = mine_until_resolved(&pair, &ldks, &outbound);
    let (ours, htlc_claim, htlc_height) =
        check_outputs(&pair, &commitment, close_height, payee_main);
    assert_eq!(htlc_claim.lock_time.to_consensus_u32(), expiry);
    let swept = swept(&pair, &outbound);
    assert!(
        swept <= ours && swept + 30_000 >= ours,
        "swept {swept} of {ours}"
    );
    assert!(pair.ldk.record(|r| r.closed.is_empty()));
    let forwards = pair.ours.with(|n| n.list_forwards());
    eprintln!(
        "forwarded HTLC, anchors {anchors}: expiry {expiry} (upstream {upstream_expiry}), we went to chain at {}, \
         HTLC timed out at {htlc_height}, the payer's failed at {failed_at} ({outcome:?}); {ours} sat taken, {swept} swept \
         after {mined} blocks; forwards {forwards:?}",
        expiry + grace
    );
    pair.assert_chain_clean();
}

/// 2 (b): the pair's LDK node pays our hold invoice; LDK goes away; we
/// claim; we take the HTLC on chain with the preimage before its expiry.
fn we_claim_ldks_htlc_on_chain(anchors: bool) {
    let pair = Pair::new(anchors);
    let ldks = [&pair.ldk];
    let id = pair.open_from_us(1_000_000, 300_000_000);
    pair.wait_balances_agree(&id);
    let preimage = PaymentPreimage([0x71; 32]);
    let hash = PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array());
    let invoice = pair
        .ours
        .with(|n| {
            n.create_hold_invoice(
                hash,
                Some(Msat(HTLC_SAT * 1000)),
                "held",
                Duration::from_secs(3600),
                now(),
            )
        })
        .unwrap();
    let hash_ldk = pair.ldk.pay_invoice(&invoice.to_string(), None);
    pair.ours.wait_until("we hold LDK's HTLC", LIMIT, |s| {
        s.events.iter().any(|e| {
            matches!(e, Event::HoldInvoiceAccepted { payment_hash, .. } if *payment_hash == hash)
        })
    });
    let expiry = ldk_outbound_expiry(&pair.ldk, &id, &hash);
    let ldk_main = ldk_main_balance(&pair.ldk, &id);
    let our_before = our_open_balance(&pair, &id);
    ldk_goes_away(&pair, &pair.ldk);
    // The host claims while LDK is away: the fulfil cannot reach it.
    pair.ours
        .with(|n| n.claim_for_hash(preimage, now()))
        .unwrap();
    pair.ours
        .wait_until("we report the payment received", LIMIT, |s| {
            s.events.iter().any(
                |e| matches!(e, Event::PaymentReceived { payment_hash, .. } if *payment_hash == hash),
            )
        });

    let margin = pair.ours.with(|n| n.config().fulfill_deadline_blocks);
    let commitment = goes_to_chain_at(&pair, &ldks, &id, expiry - margin, "received HTLC");
    let close_height = pair.world.height() + 1;
    mine_and_follow(&pair, &ldks);
    let after_close = pending_for(&pair, &id);
    ldk_counts_its_main_output(&pair.ldk, &id, ldk_main);
    // Our HTLC-success confirms before the expiry.
    let mut htlc_height = None;
    while pair.world.height() < expiry {
        let spent = spenders(&pair, close_height);
        let ctxid = commitment.compute_txid();
        if let Some((vout, _)) = commitment
            .output
            .iter()
            .enumerate()
            .find(|(_, o)| o.value.to_sat() == HTLC_SAT)
        {
            let op = OutPoint {
                txid: ctxid,
                vout: u32::try_from(vout).unwrap(),
            };
            if let Some((_, h)) = spent.get(&op) {
                htlc_height = Some(*h);
                break;
            }
        }
        mine_and_follow(&pair, &ldks);
    }
    let htlc_height = htlc_height
        .unwrap_or_else(|| panic!("our HTLC-success did not confirm before the expiry {expiry}"));
    assert!(htlc_height < expiry);
    let mined = mine_until_resolved(&pair, &ldks, &id);
    let (ours, htlc_claim, _) = check_outputs(&pair, &commitment, close_height, ldk_main);
    // HTLC-success: no locktime, the preimage in its witness.
    assert_eq!(htlc_claim.lock_time.to_consensus_u32(), 0, "{htlc_claim:?}");
    assert!(
        htlc_claim
            .input
            .iter()
            .any(|i| i.witness.iter().any(|w| w == preimage.0)),
        "the preimage is in the witness: {htlc_claim:?}"
    );
    let swept = swept(&pair, &id);
    assert!(
        swept <= ours && swept + 30_000 >= ours,
        "swept {swept} of {ours}"
    );
    // LDK learnt the preimage from the chain.
    pair.ldk.wait_until("LDK's payment is sent", LIMIT, || {
        matches!(
            pair.ldk.outcome(&hash_ldk),
            Some(LdkPaymentOutcome::Sent(p)) if p.0 == preimage.0
        )
    });
    eprintln!(
        "received HTLC, anchors {anchors}: expiry {expiry}, we went to chain at {}, HTLC-success at {htlc_height}; \
         our balance {our_before} sat open, after the close {after_close:?}; {ours} taken, {swept} swept after {mined} \
         blocks; LDK's main output {ldk_main}, LDK's balances now {:?}",
        expiry - margin,
        pair.ldk.claimable_balances(&ldk_id(&id))
    );
    pair.assert_chain_clean();
}

#[test]
fn ldk_holds_our_htlc_past_its_expiry_static_remotekey() {
    ldk_holds_our_htlc(false);
}

#[test]
fn ldk_holds_our_htlc_past_its_expiry_anchors() {
    ldk_holds_our_htlc(true);
}

#[test]
fn an_ldk_payee_holds_our_forward_past_its_expiry_static_remotekey() {
    ldk_payee_holds_our_forward(false);
}

#[test]
fn an_ldk_payee_holds_our_forward_past_its_expiry_anchors() {
    ldk_payee_holds_our_forward(true);
}

#[test]
fn we_claim_ldks_htlc_on_chain_before_its_expiry_static_remotekey() {
    we_claim_ldks_htlc_on_chain(false);
}

#[test]
fn we_claim_ldks_htlc_on_chain_before_its_expiry_anchors() {
    we_claim_ldks_htlc_on_chain(true);
}
