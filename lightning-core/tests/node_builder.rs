//! `NodeBuilder`: a store remembers whose it is (node id and chain), a build
//! over another node's store or another chain's is refused with a typed
//! error, a build over the node's own store restores it, and a store
//! written before identity records is adopted once, visibly.
#![allow(clippy::unwrap_used)]

mod node_support;

use std::sync::Arc;

use bitcoin::Network;
use lightning_chain::BestBlock;
use lightning_core::node::{BuildError, Node, NodeBuilder, Persistence, NAMESPACE};
use lightning_persist::{KvStore, MemoryStore};
use node_support::{config, Net};

/// Alice with a funded, used channel to Bob; her store holds it.
fn net_with_channel() -> (Net, lightning_wire::types::ChannelId) {
    let mut net = Net::new(false, false);
    let id = net.open_channel(300_000, 0);
    net.pay(true, 10_000_000);
    net.disconnect();
    (net, id)
}

fn build(net: &Net, seed: &[u8; 32], network: Network) -> Result<Node, BuildError> {
    let mut c = config();
    c.network = network;
    c.channel.chain_hash = lightning_wire::types::ChainHash::for_network(network);
    NodeBuilder::from_config(c)
        .seed(seed)
        .store(net.a.store.clone())
        .host(net.a.node_host(&net.chain))
        .best_block(net.chain.best_block())
        .build()
}

#[test]
fn a_store_of_another_node_is_refused_with_wrong_node() {
    let (net, _) = net_with_channel();
    let keys_before = net.a.store.list(NAMESPACE).unwrap();
    let err = build(&net, &[0x77; 32], Network::Regtest).unwrap_err();
    match err {
        BuildError::WrongNode { stored, ours } => {
            assert_eq!(*stored, net.a.node.node_id());
            assert_ne!(*ours, *stored);
        }
        other => panic!("expected WrongNode, got {other:?}"),
    }
    // Refused before anything was written (no new entropy epoch).
    assert_eq!(net.a.store.list(NAMESPACE).unwrap(), keys_before);
    let epoch = |s: &MemoryStore| s.read(NAMESPACE, "meta/entropy_epoch").unwrap();
    let before = epoch(&net.a.store);
    let _ = build(&net, &[0x77; 32], Network::Regtest);
    assert_eq!(epoch(&net.a.store), before);
}

#[test]
fn a_store_of_another_network_is_refused_with_wrong_network() {
    let (net, _) = net_with_channel();
    let err = build(&net, &net.a.seed, Network::Testnet).unwrap_err();
    match err {
        BuildError::WrongNetwork {
            stored,
            stored_network,
            ours,
        } => {
            assert_eq!(stored_network, Some(Network::Regtest));
            assert_eq!(
                stored,
                lightning_wire::types::ChainHash::for_network(Network::Regtest)
            );
            assert_eq!(ours, Network::Testnet);
        }
        other => panic!("expected WrongNetwork, got {other:?}"),
    }
}

#[test]
fn the_nodes_own_store_restores_its_channels() {
    let (net, id) = net_with_channel();
    let node = build(&net, &net.a.seed, Network::Regtest).unwrap();
    assert_eq!(node.node_id(), net.a.node.node_id());
    assert!(!node.store_adopted());
    let restored = node.list_channels();
    let original = net.a.node.list_channels();
    assert_eq!(restored.len(), 1);
    assert_eq!(restored[0].channel_id, id);
    assert_eq!(
        restored[0].local_balance_msat,
        original[0].local_balance_msat
    );
    assert_eq!(restored[0].local_balance_msat.0, 300_000_000 - 10_000_000);
    assert_eq!(restored[0].capacity_sat.to_sat(), 300_000);
}

#[test]
fn a_store_written_before_identity_records_is_adopted_once() {
    let (net, id) = net_with_channel();
    // What a store of the previous version looks like: every record but
    // the identity.
    net.a.store.remove(NAMESPACE, "meta/identity").unwrap();

    let node = build(&net, &net.a.seed, Network::Regtest).unwrap();
    assert!(node.store_adopted(), "the adoption is reported");
    assert_eq!(node.list_channels()[0].channel_id, id);
    assert!(net
        .a
        .store
        .read(NAMESPACE, "meta/identity")
        .unwrap()
        .is_some());
    drop(node);

    // From now on the store is this node's: checked, not adopted again.
    let again = build(&net, &net.a.seed, Network::Regtest).unwrap();
    assert!(!again.store_adopted());
    assert!(matches!(
        build(&net, &[0x77; 32], Network::Regtest),
        Err(BuildError::WrongNode { .. })
    ));
}

#[test]
fn an_empty_store_gets_the_identity_of_its_first_node() {
    let (net, _) = net_with_channel();
    let store = Arc::new(MemoryStore::new());
    let first = NodeBuilder::new(Network::Regtest)
        .seed(&[0x55; 32])
        .store(store.clone())
        .host(net.a.node_host(&net.chain))
        .build()
        .unwrap();
    assert!(!first.store_adopted());
    assert!(first.list_channels().is_empty());
    let other = NodeBuilder::new(Network::Regtest)
        .seed(&[0x56; 32])
        .store(store.clone())
        .host(net.a.node_host(&net.chain))
        .build();
    assert!(matches!(other, Err(BuildError::WrongNode { .. })));
    let other_chain = NodeBuilder::new(Network::Signet)
        .seed(&[0x55; 32])
        .store(store)
        .host(net.a.node_host(&net.chain))
        .build();
    assert!(matches!(
        other_chain,
        Err(BuildError::WrongNetwork {
            ours: Network::Signet,
            ..
        })
    ));
}

#[test]
fn async_persistence_hands_the_identity_write_out() {
    let (net, _) = net_with_channel();
    let store = Arc::new(MemoryStore::new());
    let mut node = NodeBuilder::new(Network::Regtest)
        .seed(&[0x55; 32])
        .persistence(Persistence::Async(store.clone()))
        .host(net.a.node_host(&net.chain))
        .best_block(BestBlock::genesis(Network::Regtest))
        .build()
        .unwrap();
    // The async store is a read handle: nothing is written until the host
    // makes the handed-out writes durable.
    assert!(store.read(NAMESPACE, "meta/identity").unwrap().is_none());
    let mut keys = Vec::new();
    while let Some(req) = node.poll_persist() {
        for op in &req.ops {
            let (lightning_persist::BatchOp::Write { key, .. }
            | lightning_persist::BatchOp::Remove { key, .. }) = op;
            keys.push(key.clone());
        }
        req.apply(&*store).unwrap();
        node.persist_completed(req.id);
    }
    assert!(keys.iter().any(|k| k == "meta/identity"), "{keys:?}");
    let other = NodeBuilder::new(Network::Regtest)
        .seed(&[0x56; 32])
        .persistence(Persistence::Async(store))
        .host(net.a.node_host(&net.chain))
        .build();
    assert!(matches!(other, Err(BuildError::WrongNode { .. })));
}

#[test]
fn missing_parts_are_typed_errors() {
    let (net, _) = net_with_channel();
    let store = || Arc::new(MemoryStore::new());
    let host = || net.a.node_host(&net.chain);
    assert!(matches!(
        NodeBuilder::new(Network::Regtest)
            .store(store())
            .host(host())
            .build(),
        Err(BuildError::MissingKeys)
    ));
    assert!(matches!(
        NodeBuilder::new(Network::Regtest)
            .seed(&[1; 32])
            .host(host())
            .build(),
        Err(BuildError::MissingPersistence)
    ));
    assert!(matches!(
        NodeBuilder::new(Network::Regtest)
            .seed(&[1; 32])
            .store(store())
            .build(),
        Err(BuildError::MissingHost)
    ));
    // Host signers give the node no wallet key of its own: it must be told
    // where closes pay.
    let km = Arc::new(lightning_core::keys::KeysManager::new(&[1; 32]).unwrap());
    assert!(matches!(
        NodeBuilder::new(Network::Regtest)
            .signers(km.clone(), km.clone(), km.clone())
            .store(store())
            .host(host())
            .build(),
        Err(BuildError::MissingShutdownScript)
    ));
    let mut c = config();
    c.shutdown_script = Some(bitcoin::ScriptBuf::new_op_return([1u8; 4]));
    let node = NodeBuilder::from_config(c.clone())
        .signers(km.clone(), km.clone(), km.clone())
        .store(store())
        .host(host())
        .build()
        .unwrap();
    assert_eq!(node.shutdown_script(), c.shutdown_script.unwrap());
    // The same keys through a seed: the same node.
    let seeded = NodeBuilder::new(Network::Regtest)
        .seed(&[1; 32])
        .store(store())
        .host(host())
        .build()
        .unwrap();
    assert_eq!(seeded.node_id(), node.node_id());
}

#[test]
fn a_node_with_host_signers_is_still_send() {
    // Hosts move a node to its own thread: the key traits it holds are
    // `Send + Sync`, and boxed channel signers `Send`.
    fn assert_send<T: Send>() {}
    assert_send::<Node>();
    assert_send::<NodeBuilder>();
}
