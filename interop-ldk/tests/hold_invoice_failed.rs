//! Issue 19: a hold invoice of ours that LDK 0.2 pays, failed instead of
//! claimed, on a direct channel and through an LDK middle hop:
//!
//! ```text
//!   direct:   LDK ==1,000,000 sat (we fund, push 300,000)== us
//!   middle:   LDK payer ==500,000== LDK middle ==1,000,000== us
//! ```
//!
//! Each scenario holds two payments in turn. The first the host cancels
//! (`Node::fail_for_hash`); the second it leaves until its claim deadline
//! (the fulfilment deadline plus `HOLD_MARGIN_BLOCKS` before the HTLC's
//! `cltv_expiry`), at which the node fails it back by itself. Each time:
//! LDK's payer reports the payment failed by the recipient (BOLT 4:
//! `incorrect_or_unknown_payment_details`, PERM|15, decoded as from us),
//! no balance moved on any channel (LDK's monitor agrees with ours), the
//! claim comes too late for `claim_for_hash`, and the automatic failure
//! reaches the payer at the claim deadline, before the HTLC's expiry: no
//! channel is closed, even once the chain is past the expiry.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use interop_ldk::host::now;
use interop_ldk::ldk::{LdkNode, LdkPaymentOutcome};
use interop_ldk::pair::{ldk_id, Pair, LIMIT};
use lightning::events::PaymentFailureReason;
use lightning::types::payment::PaymentHash as LdkPaymentHash;
use lightning_core::amount::Msat;
use lightning_core::channel::Phase;
use lightning_core::node::{Event, PaymentHash, PaymentPreimage, HOLD_MARGIN_BLOCKS};
use lightning_wire::types::ChannelId;

const CANCELLED_MSAT: u64 = 20_000_000;
const TIMED_OUT_MSAT: u64 = 30_000_000;

/// Our node and the LDK nodes, with the channel LDK pays us over.
struct Net {
    pair: Pair,
    /// The payer when it is not the pair's LDK node (which is then the
    /// middle hop).
    payer: Option<LdkNode>,
    /// Our channel with the pair's LDK node.
    ours: ChannelId,
}

impl Net {
    fn payer(&self) -> &LdkNode {
        self.payer.as_ref().unwrap_or(&self.pair.ldk)
    }

    fn ldks(&self) -> Vec<&LdkNode> {
        let mut v = vec![&self.pair.ldk];
        v.extend(self.payer.as_ref());
        v
    }

    /// Mines one block and waits until every node has seen it.
    fn mine_and_follow(&self) {
        self.pair.world.mine(1);
        let height = self.pair.world.height();
        self.pair
            .ours
            .wait_until("our node follows the chain", LIMIT, |s| s.fed >= height);
        for ldk in self.ldks() {
            ldk.wait_until("LDK follows the chain", LIMIT, || {
                ldk.synced_height() >= height
            });
        }
    }

    /// Every balance of every channel: ours, and each LDK node's
    /// (outbound and inbound capacity), once nothing is in flight.
    fn settled_balances(&self, our_msat: u64) -> Vec<u64> {
        for ldk in self.ldks() {
            ldk.wait_until("no HTLC in flight at LDK", LIMIT, || {
                ldk.channels().iter().all(|c| {
                    c.pending_inbound_htlcs.is_empty() && c.pending_outbound_htlcs.is_empty()
                })
            });
        }
        self.pair.wait_settled(&self.ours, our_msat);
        let mut v = vec![self.pair.our_balance_msat(&self.ours)];
        for ldk in self.ldks() {
            let mut chans = ldk.channels();
            chans.sort_by_key(|c| c.channel_id.0);
            for c in chans {
                v.extend([c.outbound_capacity_msat, c.inbound_capacity_msat]);
            }
        }
        v
    }

    /// No channel closed anywhere, ours usable.
    fn assert_nothing_closed(&self) {
        for ldk in self.ldks() {
            let closed = ldk.record(|r| r.closed.clone());
            assert!(closed.is_empty(), "LDK closed a channel: {closed:?}");
        }
        let ours = self.pair.ours.channel(&self.ours).unwrap();
        assert!(
            ours.phase == Phase::Normal && ours.is_usable,
            "our channel: {ours:?}"
        );
        assert!(
            self.pair.world.chain.mempool().is_empty(),
            "nothing broadcast: {:?}",
            self.pair.world.chain.mempool()
        );
    }
}

/// We open to the pair's LDK node and push it 300,000 sat: it pays us
/// directly.
fn direct(anchors: bool) -> Net {
    let pair = Pair::new(anchors);
    let ours = pair.open_from_us(1_000_000, 300_000_000);
    pair.wait_balances_agree(&ours);
    Net {
        pair,
        payer: None,
        ours,
    }
}

/// The pair's LDK node opens to us and is the middle hop; a second LDK
/// node opens to it and pays. Our invoices hint at the middle's channel to
/// us (BOLT 11 `r`, from the middle's `channel_update`).
fn through_ldk(anchors: bool) -> Net {
    let pair = Pair::new(anchors);
    let ours = pair.open_from_ldk(1_000_000, 0);
    let wallets = pair.world.wallets(&[[6; 32]], 2);
    let payer = LdkNode::start(
        "ldk-payer",
        [36; 32],
        pair.world.chain.clone(),
        wallets[0].clone(),
        pair.ldk.config(),
    );
    payer.connect(pair.ldk.node_id(), pair.ldk.addr);
    let before = pair.world.chain.mempool().len();
    payer.open_channel(pair.ldk.node_id(), 500_000, 0);
    payer.wait_until("the payer broadcasts its funding", LIMIT, || {
        pair.world.chain.mempool().len() > before
    });
    pair.world.mine(1);
    payer.wait_until("the payer's channel is usable", LIMIT, || {
        payer.channels().iter().any(|c| c.is_usable)
            && pair
                .ldk
                .channels()
                .iter()
                .any(|c| c.counterparty.node_id == payer.node_id() && c.is_usable)
    });
    pair.ours
        .wait_until("our invoices hint at the middle's channel", LIMIT, |s| {
            s.node
                .create_invoice(Some(Msat(1_000)), "probe", Duration::from_secs(60), now())
                .is_ok_and(|i| i.route_hints().len() == 1)
        });
    Net {
        pair,
        payer: Some(payer),
        ours,
    }
}

/// A payment held by one of our hold invoices.
struct Held {
    preimage: PaymentPreimage,
    hash: PaymentHash,
    /// The HTLC's `cltv_expiry` (the middle's or the payer's outgoing one).
    cltv_expiry: u32,
    /// `HoldInvoiceAccepted`'s claim deadline.
    claim_deadline: u32,
}

/// We issue a hold invoice for `amount_msat`; LDK's payer pays it; we hold
/// the HTLC (`HoldInvoiceAccepted`), committed on both sides.
fn hold(net: &Net, seed: u8, amount_msat: u64) -> Held {
    let preimage = PaymentPreimage([seed; 32]);
    let hash = PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array());
    let invoice = net
        .pair
        .ours
        .with(|n| {
            n.create_hold_invoice(
                hash,
                Some(Msat(amount_msat)),
                "held",
                Duration::from_secs(3600),
                now(),
            )
        })
        .unwrap();
    net.payer().pay_invoice(&invoice.to_string(), None);
    net.pair.ours.wait_until("we hold the HTLC", LIMIT, |s| {
        s.events.iter().any(|e| {
            matches!(e, Event::HoldInvoiceAccepted { payment_hash, .. } if *payment_hash == hash)
        })
    });
    let (amount, claim_deadline) = net
        .pair
        .ours
        .events_matching(|e| {
            matches!(e, Event::HoldInvoiceAccepted { payment_hash, .. } if *payment_hash == hash)
        })
        .into_iter()
        .find_map(|e| match e {
            Event::HoldInvoiceAccepted {
                amount_msat,
                claim_deadline_height,
                ..
            } => Some((amount_msat.0, claim_deadline_height)),
            _ => None,
        })
        .unwrap();
    assert_eq!(amount, amount_msat);
    // The HTLC as the LDK node next to us offered it, committed.
    use lightning::ln::channel_state::OutboundHTLCStateDetails;
    let ldk = &net.pair.ldk;
    let mut cltv_expiry = 0;
    ldk.wait_until("LDK's HTLC to us is committed", LIMIT, || {
        let htlc = ldk
            .channels()
            .into_iter()
            .find(|c| c.channel_id == ldk_id(&net.ours))
            .and_then(|c| {
                c.pending_outbound_htlcs
                    .into_iter()
                    .find(|h| h.payment_hash.0 == hash.0)
            });
        match htlc {
            Some(h) if h.state == Some(OutboundHTLCStateDetails::Committed) => {
                assert_eq!(h.amount_msat, amount_msat);
                cltv_expiry = h.cltv_expiry;
                true
            }
            _ => false,
        }
    });
    let fulfil_deadline = net.pair.ours.with(|n| n.config().fulfill_deadline_blocks);
    assert_eq!(
        claim_deadline,
        cltv_expiry - fulfil_deadline - HOLD_MARGIN_BLOCKS,
        "the claim deadline is the fulfilment deadline plus the margin before the expiry"
    );
    assert!(claim_deadline > net.pair.world.height());
    Held {
        preimage,
        hash,
        cltv_expiry,
        claim_deadline,
    }
}

/// The payer's payment `hash` failed at the recipient (LDK's
/// `RecipientRejected`, permanent), with the `failures`-th
/// `incorrect_or_unknown_payment_details` from us in LDK's log.
fn check_rejected(net: &Net, hash: &PaymentHash, failures: usize) {
    let payer = net.payer();
    let ldk_hash = LdkPaymentHash(hash.0);
    payer.wait_until("LDK's payment fails", LIMIT, || {
        payer.outcome(&ldk_hash).is_some()
    });
    assert_eq!(
        payer.outcome(&ldk_hash),
        Some(LdkPaymentOutcome::Failed(Some(
            PaymentFailureReason::RecipientRejected
        ))),
        "LDK's payment {hash}"
    );
    assert!(
        payer.record(|r| r.path_failures.contains(&(ldk_hash, true))),
        "the path failed permanently"
    );
    let decoded = format!(
        "Onion Error[from {}: IncorrectPaymentDetails(0x400f)",
        net.pair.ours.node_id()
    );
    assert_eq!(
        payer.log_count(&decoded),
        failures,
        "LDK decoded PERM|15 from us"
    );
}

fn hold_invoice_failed(net: &Net) {
    let our_msat = net.pair.our_balance_msat(&net.ours);
    let start = net.settled_balances(our_msat);

    // 1. The host cancels.
    let held = hold(net, 0x61, CANCELLED_MSAT);
    net.pair
        .ours
        .with(|n| n.fail_for_hash(held.hash, now()))
        .unwrap();
    check_rejected(net, &held.hash, 1);
    assert_eq!(net.settled_balances(our_msat), start, "nothing moved");
    assert!(
        net.pair
            .ours
            .with(|n| n.claim_for_hash(held.preimage, now()))
            .is_err(),
        "a cancelled hold invoice cannot be claimed"
    );
    assert!(!net.pair.ours.received(&held.hash));

    // 2. The host waits too long: the node fails the HTLC back at its
    // claim deadline, not a block earlier.
    let held = hold(net, 0x62, TIMED_OUT_MSAT);
    let ldk_hash = LdkPaymentHash(held.hash.0);
    while net.pair.world.height() + 1 < held.claim_deadline {
        net.mine_and_follow();
        assert_eq!(net.payer().outcome(&ldk_hash), None);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        net.payer().outcome(&ldk_hash),
        None,
        "still held one block before the claim deadline"
    );
    net.mine_and_follow();
    assert_eq!(net.pair.world.height(), held.claim_deadline);
    check_rejected(net, &held.hash, 2);
    assert!(
        net.pair.world.height() < held.cltv_expiry,
        "the failure reached LDK before the HTLC's expiry"
    );
    assert_eq!(net.settled_balances(our_msat), start, "nothing moved");
    assert!(
        net.pair
            .ours
            .with(|n| n.claim_for_hash(held.preimage, now()))
            .is_err(),
        "too late to claim"
    );
    assert!(!net.pair.ours.received(&held.hash));

    // Past the expiry (and LDK's grace of 3 blocks after it for an
    // outbound HTLC), nobody goes to chain: the HTLC is gone on both sides.
    while net.pair.world.height() < held.cltv_expiry + 4 {
        net.mine_and_follow();
    }
    std::thread::sleep(Duration::from_millis(200));
    net.assert_nothing_closed();
    net.pair.wait_balances_agree(&net.ours);
    eprintln!(
        "hold invoice failed back at height {} (claim deadline), HTLC expiry {}",
        held.claim_deadline, held.cltv_expiry
    );
    net.pair.assert_chain_clean();
}

#[test]
fn ldk_pays_a_hold_invoice_we_fail_static_remotekey() {
    hold_invoice_failed(&direct(false));
}

#[test]
fn ldk_pays_a_hold_invoice_we_fail_anchors() {
    hold_invoice_failed(&direct(true));
}

#[test]
fn ldk_pays_a_hold_invoice_we_fail_through_an_ldk_middle_static_remotekey() {
    hold_invoice_failed(&through_ldk(false));
}

#[test]
fn ldk_pays_a_hold_invoice_we_fail_through_an_ldk_middle_anchors() {
    hold_invoice_failed(&through_ldk(true));
}
