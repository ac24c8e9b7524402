//! Hostile peers and the node's new knobs (issue 13, findings 6 and 10):
//! the host's decision on inbound channels, and building a node over an
//! existing store in async mode.
#![allow(clippy::unwrap_used)]

mod node_hostile_support;

use std::sync::Arc;

use bitcoin::secp256k1::{PublicKey, SecretKey, SECP256K1};
use lightning_core::node::{
    InboundChannelAcceptor, InboundChannelDecision, InboundChannelRequest, Node, NodeBuilder,
    Persistence,
};
use lightning_persist::MemoryStore;
use lightning_sim::SimChainHandle;
use lightning_wire::types::ChannelId;
use node_hostile_support::{host, lone_node, node_config, Got, Raw, NOW};

/// Below 150,000 sat: rejected; from 300,000 sat: accepted without
/// zero-conf; in between: accepted, zero-conf asked for.
struct Policy;

impl InboundChannelAcceptor for Policy {
    fn decide(&self, r: &InboundChannelRequest) -> InboundChannelDecision {
        match r.funding_satoshis {
            0..150_000 => InboundChannelDecision::Reject,
            150_000..300_000 => InboundChannelDecision::Accept { zero_conf: true },
            _ => InboundChannelDecision::Accept { zero_conf: false },
        }
    }
}

fn raw_node_id(seed: u8) -> PublicKey {
    PublicKey::from_secret_key(SECP256K1, &SecretKey::from_slice(&[seed; 32]).unwrap())
}

/// Finding 6: the host decides on each inbound open; zero-conf only for a
/// trusted peer, and only when the host asks for it.
#[test]
fn the_host_accepts_or_rejects_inbound_opens_zero_conf_only_for_trusted_peers() {
    let mut config = node_config();
    config.trusted_zeroconf_peers = vec![raw_node_id(0x21)];
    let (mut node, _store, _chain) = lone_node(20, config);
    node.set_inbound_channel_acceptor(Arc::new(Policy));

    let mut stranger = Raw::connect(&mut node, 0x22);
    let (_c, small) = stranger.new_channel(0, ChannelId([1; 32]), 100_000);
    assert!(stranger.open(&mut node, &small).is_none());
    assert!(stranger
        .take()
        .iter()
        .any(|g| matches!(g, Got::Error(c, _) if *c == ChannelId([1; 32]))));
    let (_c, mid) = stranger.new_channel(1, ChannelId([2; 32]), 200_000);
    let accept = stranger.open(&mut node, &mid).unwrap();
    assert_eq!(accept.minimum_depth, 3, "zero-conf for an untrusted peer");

    let mut friend = Raw::connect(&mut node, 0x21);
    let (_c, mid) = friend.new_channel(0, ChannelId([3; 32]), 200_000);
    assert_eq!(friend.open(&mut node, &mid).unwrap().minimum_depth, 0);
    let (_c, big) = friend.new_channel(1, ChannelId([4; 32]), 400_000);
    assert_eq!(
        friend.open(&mut node, &big).unwrap().minimum_depth,
        3,
        "zero-conf the host did not ask for"
    );
}

/// Async persistence, done by the host.
fn complete(node: &mut Node, store: &MemoryStore) {
    while let Some(req) = node.poll_persist() {
        req.apply(store).unwrap();
        node.persist_completed(req.id);
    }
}

fn async_node(chain: &SimChainHandle, store: &Arc<MemoryStore>) -> Node {
    NodeBuilder::from_config(node_config())
        .seed(&[30; 32])
        .persistence(Persistence::Async(store.clone()))
        .host(host(chain))
        .best_block(chain.best_block())
        .build()
        .unwrap()
}

/// Finding 10: a node built in async mode restores what the store holds:
/// invoices survive, and neither a preimage nor a keys index of the run
/// before is drawn again.
#[test]
fn async_node_new_restores_the_store_and_reuses_nothing() {
    let chain = SimChainHandle::new();
    let store = Arc::new(MemoryStore::new());

    let mut node = async_node(&chain, &store);
    complete(&mut node, &store);
    let first = node
        .create_invoice(
            Some(lightning_core::amount::Msat(1_000)),
            "x",
            std::time::Duration::from_secs(3600),
            NOW,
        )
        .unwrap();
    complete(&mut node, &store);
    let mut raw = Raw::connect(&mut node, 0x23);
    let (_c, open) = raw.new_channel(0, ChannelId([5; 32]), 100_000);
    raw.queue(&open);
    raw.shuttle(&mut node);
    complete(&mut node, &store);
    raw.shuttle(&mut node);
    let key_before = raw
        .take()
        .into_iter()
        .find_map(|g| match g {
            Got::Message(lightning_wire::msgs::Message::AcceptChannel(a)) => Some(a.funding_pubkey),
            _ => None,
        })
        .unwrap();
    drop(node);

    // The same steps again over the same store.
    let mut node = async_node(&chain, &store);
    assert!(
        node.list_invoices()
            .iter()
            .any(|i| i.payment_hash.0 == first.payment_hash().0),
        "the invoice of the run before is gone"
    );
    complete(&mut node, &store);
    let second = node
        .create_invoice(
            Some(lightning_core::amount::Msat(1_000)),
            "x",
            std::time::Duration::from_secs(3600),
            NOW,
        )
        .unwrap();
    assert_ne!(
        first.payment_hash(),
        second.payment_hash(),
        "a preimage of the run before was drawn again"
    );
    complete(&mut node, &store);
    let mut raw = Raw::connect(&mut node, 0x24);
    let (_c, open) = raw.new_channel(0, ChannelId([6; 32]), 100_000);
    raw.queue(&open);
    raw.shuttle(&mut node);
    complete(&mut node, &store);
    raw.shuttle(&mut node);
    let key_after = raw
        .take()
        .into_iter()
        .find_map(|g| match g {
            Got::Message(lightning_wire::msgs::Message::AcceptChannel(a)) => Some(a.funding_pubkey),
            _ => None,
        })
        .unwrap();
    assert_ne!(key_before, key_after, "a keys index was handed out twice");
}

/// Async mode: no preimage reaches the host before this run's entropy
/// epoch is durable (a crash before it would draw the same again).
#[test]
fn async_invoices_wait_for_the_entropy_epoch() {
    let chain = SimChainHandle::new();
    let store = Arc::new(MemoryStore::new());
    let mut node = async_node(&chain, &store);
    assert!(node
        .create_invoice(
            Some(lightning_core::amount::Msat(1_000)),
            "x",
            std::time::Duration::from_secs(3600),
            NOW
        )
        .is_err());
    complete(&mut node, &store);
    assert!(node
        .create_invoice(
            Some(lightning_core::amount::Msat(1_000)),
            "x",
            std::time::Duration::from_secs(3600),
            NOW
        )
        .is_ok());
}
