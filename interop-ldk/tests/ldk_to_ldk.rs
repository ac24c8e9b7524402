//! The harness's own check: two LDK nodes on the simulated chain open a
//! channel, pay one invoice and close cooperatively, with every transaction
//! going through the chain's validation. If this fails, the plumbing is
//! wrong, not our node.

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use interop_ldk::ldk::{LdkConfig, LdkNode, LdkPaymentOutcome};
use interop_ldk::world::World;

const LIMIT: Duration = Duration::from_secs(20);

fn ldk_to_ldk(anchors: bool) {
    let world = World::new();
    let wallets = world.wallets(&[[1; 32], [2; 32]], 2);
    let config = LdkConfig::new(anchors);
    let alice = LdkNode::start(
        "alice",
        [11; 32],
        world.chain.clone(),
        wallets[0].clone(),
        config,
    );
    let bob = LdkNode::start(
        "bob",
        [12; 32],
        world.chain.clone(),
        wallets[1].clone(),
        config,
    );
    alice.connect(bob.node_id(), bob.addr);

    alice.open_channel(bob.node_id(), 1_000_000, 0);
    alice.wait_until("the funding is broadcast", LIMIT, || {
        alice.record(|r| !r.pending.is_empty()) && world.chain.mempool().len() == 1
    });
    world.mine(1);
    alice.wait_until("both channels are usable", LIMIT, || {
        alice.channels().iter().any(|c| c.is_usable) && bob.channels().iter().any(|c| c.is_usable)
    });
    let channel = alice.channels()[0].clone();
    assert_eq!(
        channel
            .channel_type
            .as_ref()
            .unwrap()
            .supports_anchors_zero_fee_htlc_tx(),
        anchors
    );

    let invoice = bob.create_invoice(Some(50_000_000), "harness");
    let hash = alice.pay_invoice(&invoice.to_string(), None);
    alice.wait_until("the payment is sent", LIMIT, || {
        alice.outcome(&hash).is_some()
    });
    assert!(matches!(
        alice.outcome(&hash),
        Some(LdkPaymentOutcome::Sent(_))
    ));
    bob.wait_until("the payment is claimed", LIMIT, || {
        bob.record(|r| r.claimed.len() == 1)
    });

    alice.close_channel(&channel.channel_id, &bob.node_id());
    alice.wait_until("both see the channel closed", LIMIT, || {
        alice.record(|r| !r.closed.is_empty()) && bob.record(|r| !r.closed.is_empty())
    });
    let mempool = world.wait_for_mempool(1, LIMIT);
    let closing = mempool[0].clone();
    assert_eq!(
        closing.input[0].previous_output.txid,
        channel.funding_txo.unwrap().txid
    );
    world.mine(1);
    assert_eq!(
        world.chain.tx_confirmations(&closing.compute_txid()),
        Some(1)
    );
    // Bob's output is the 50,000 sat he was paid.
    assert!(closing.output.iter().any(|o| o.value.to_sat() == 50_000));
    world.assert_no_rejections();
    assert!(alice.rejected_broadcasts().is_empty());
    assert!(bob.rejected_broadcasts().is_empty());
}

#[test]
fn ldk_to_ldk_static_remotekey() {
    ldk_to_ldk(false);
}

#[test]
fn ldk_to_ldk_anchors() {
    ldk_to_ldk(true);
}
