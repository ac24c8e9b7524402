//! Gossip classes (issue 17).

use super::{node_hostile_support, retained_bytes};
use lightning_wire::msgs::Message;

/// A generated network of `channels` channels re-signed for regtest, its
/// update timestamps moved to the raw peers' clock; with its UTXO set.
fn regtest_gossip(
    seed: u64,
    nodes: usize,
    channels: usize,
) -> (
    Vec<lightning_wire::msgs::ChannelAnnouncement>,
    Vec<lightning_wire::msgs::ChannelUpdate>,
    lightning_test_support::gossip::SyntheticUtxos,
) {
    use bitcoin::secp256k1::{PublicKey, SecretKey, SECP256K1};
    use lightning_test_support::gossip::{
        sign_channel_announcement, sign_channel_update, Generator, SyntheticConfig, SYNTHETIC_NOW,
    };
    use std::collections::HashMap;
    let net = Generator::new(seed, SyntheticConfig::small(nodes, channels)).generate();
    let chain = lightning_wire::types::ChainHash::for_network(bitcoin::Network::Regtest);
    let shift = u32::try_from(SYNTHETIC_NOW - node_hostile_support::NOW.as_secs()).unwrap();
    let secret: HashMap<PublicKey, SecretKey> = net
        .node_secrets
        .iter()
        .map(|sk| (sk.public_key(SECP256K1), *sk))
        .collect();
    let mut ends = HashMap::new();
    let anns = net
        .channel_announcements
        .iter()
        .zip(&net.funding_secrets)
        .map(|(a, f)| {
            let mut a = a.clone();
            a.chain_hash = chain;
            let (n1, n2) = (secret[&a.node_id_1], secret[&a.node_id_2]);
            sign_channel_announcement(&mut a, [&n1, &n2, &f[0], &f[1]]);
            ends.insert(a.short_channel_id.0, (n1, n2));
            a
        })
        .collect();
    let upds = net
        .channel_updates
        .iter()
        .map(|u| {
            let mut u = u.clone();
            u.chain_hash = chain;
            u.timestamp -= shift;
            let (n1, n2) = ends[&u.short_channel_id.0];
            let key = if u.channel_flags & 1 == 0 { n1 } else { n2 };
            sign_channel_update(&mut u, &key);
            u
        })
        .collect();
    (anns, upds, net.utxos)
}

/// Feeds announcements and updates to `node` through `raw`, in batches.
fn feed_gossip(
    raw: &mut node_hostile_support::Raw,
    node: &mut lightning_core::node::Node,
    anns: &[lightning_wire::msgs::ChannelAnnouncement],
    upds: &[lightning_wire::msgs::ChannelUpdate],
) {
    for chunk in anns.chunks(50) {
        for a in chunk {
            raw.queue(&Message::ChannelAnnouncement(a.clone()));
        }
        raw.shuttle(node);
    }
    for chunk in upds.chunks(50) {
        for u in chunk {
            raw.queue(&Message::ChannelUpdate(u.clone()));
        }
        raw.shuttle(node);
    }
}

/// Class: **historical gossip dump held in memory** (LND before 0.18.3:
/// a peer's `gossip_timestamp_filter` reaching back to 0 made the node
/// load every matching message at once for that peer; a few peers doing
/// it together ran it out of memory). Ten peers ask for everything and
/// never read: the node keeps a cursor per peer and draws a few messages
/// at a time, so what it holds for them grows with its per-connection
/// bound, not with ten copies of the graph; each still gets all of it
/// once it reads.
#[test]
fn cve_gossip_timestamp_filter_dump() {
    use lightning_wire::msgs::GossipTimestampFilter;
    use node_hostile_support::{lone_node, node_config, Got, Raw, NOW};

    let (mut node, _store, _chain) = lone_node(0x5b, node_config());
    let (anns, upds, _) = regtest_gossip(5, 1_000, 3_000);
    let mut feeder = Raw::connect(&mut node, 0x60);
    feed_gossip(&mut feeder, &mut node, &anns, &upds);
    let graph = node.network_graph().unwrap();
    assert_eq!(graph.channel_count(), anns.len());
    let wire: usize = anns
        .iter()
        .map(|a| {
            Message::ChannelAnnouncement(a.clone())
                .encode()
                .unwrap()
                .len()
        })
        .chain(
            upds.iter()
                .map(|u| Message::ChannelUpdate(u.clone()).encode().unwrap().len()),
        )
        .sum();

    let chain = lightning_wire::types::ChainHash::for_network(bitcoin::Network::Regtest);
    let filter = Message::GossipTimestampFilter(GossipTimestampFilter {
        chain_hash: chain,
        first_timestamp: 0,
        timestamp_range: u32::MAX,
        tlvs: Default::default(),
    });
    let (mut greedy, kept) = retained_bytes(|| {
        let mut peers = Vec::new();
        for i in 0..10u8 {
            let mut p = Raw::connect(&mut node, 0x70 + i);
            p.reads = false;
            p.queue(&filter);
            p.shuttle(&mut node);
            peers.push(p);
        }
        for _ in 0..10 {
            node.handle_timeout(NOW);
            for p in &mut peers {
                p.shuttle(&mut node);
            }
        }
        peers
    });
    println!(
        "graph on the wire {wire} bytes; ten silent peers asking for all of it: {kept} bytes kept"
    );
    assert!(greedy.iter().all(|p| p.connected(&node)));
    assert!(
        kept < (10 * wire / 3) as isize,
        "{kept} bytes kept for ten peers (graph {wire} bytes)"
    );
    // One reads at last: the whole graph.
    let p = &mut greedy[0];
    p.reads = true;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..500 {
        p.shuttle(&mut node);
        for g in p.take() {
            if let Got::Message(Message::ChannelAnnouncement(a)) = g {
                seen.insert(a.short_channel_id);
            }
        }
        if seen.len() == anns.len() {
            break;
        }
    }
    assert_eq!(seen.len(), anns.len());
}

/// Class: **closed channels stay in the graph** (BOLT 7: a
/// `channel_announcement` whose output "is spent: MUST ignore the
/// message", and "once its funding output has been spent ...: SHOULD
/// forget a channel after a 12-block delay"; a node that checks neither
/// can be filled with dead channels a peer replays, and routes payments
/// into them). Announcements of spent outputs are refused; a stored
/// channel whose funding is spent in a block stops being routed over at
/// once and leaves the graph at the spend's 12th confirmation.
#[test]
fn cve_closed_channels_stay_in_the_graph() {
    use bitcoin::hashes::Hash;
    use lightning_chain::ChainListener;
    use lightning_core::node::{NodeBuilder, Persistence};
    use node_hostile_support::{node_config, Raw};
    use std::sync::Arc;

    let (anns, upds, mut utxos) = regtest_gossip(9, 40, 60);
    let spent: Vec<u64> = anns
        .iter()
        .step_by(3)
        .map(|a| a.short_channel_id.0)
        .collect();
    utxos.spent.extend(spent.iter().copied());
    let chain = lightning_sim::SimChainHandle::new();
    let mut node = NodeBuilder::from_config(node_config())
        .seed(&[0x5c; 32])
        .persistence(Persistence::Inline(Arc::new(
            lightning_persist::MemoryStore::new(),
        )))
        .host(lightning_test_support::host::node_host(&chain))
        .best_block(chain.best_block())
        .utxo_lookup(Arc::new(utxos.clone()))
        .build()
        .unwrap();
    let mut peer = Raw::connect(&mut node, 0x61);
    feed_gossip(&mut peer, &mut node, &anns, &upds);
    let graph = node.network_graph().unwrap();
    assert_eq!(graph.channel_count(), anns.len() - spent.len());
    assert!(spent.iter().all(|s| graph
        .channel_by_scid(lightning_wire::types::ShortChannelId(*s))
        .is_none()));

    // A live channel's funding is spent in the next block.
    let victim = &anns[1];
    let scid = victim.short_channel_id;
    assert!(graph.channel_by_scid(scid).is_some());
    let script = lightning_gossip::verify::funding_witness_script(
        &victim.bitcoin_key_1.serialize(),
        &victim.bitcoin_key_2.serialize(),
    );
    let close = bitcoin::Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![bitcoin::TxIn {
            previous_output: utxos.funding_outpoint(scid),
            script_sig: bitcoin::ScriptBuf::new(),
            sequence: bitcoin::Sequence::MAX,
            witness: bitcoin::Witness::from_slice(&[
                vec![],
                vec![0x30; 71],
                vec![0x30; 71],
                script.to_bytes(),
            ]),
        }],
        output: vec![bitcoin::TxOut {
            value: bitcoin::Amount::from_sat(1_000),
            script_pubkey: bitcoin::ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::all_zeros()),
        }],
    };
    chain.mine_empty_blocks(1);
    let tip = chain.best_block().height;
    let header = chain.block_at(tip).unwrap().header;
    node.transactions_confirmed(&header, &[(1, &close)], tip);
    node.best_block_updated(&header, tip);
    let closing = |node: &lightning_core::node::Node| {
        let g = node.network_graph().unwrap();
        g.channel_by_scid(scid)
            .and_then(|i| g.channel(i))
            .map(|c| c.is_closed())
    };
    assert_eq!(closing(&node), Some(true));
    for _ in 0..10 {
        chain.mine_empty_blocks(1);
        let h = chain.best_block().height;
        node.best_block_updated(&chain.block_at(h).unwrap().header, h);
    }
    assert_eq!(closing(&node), Some(true), "eleven confirmations: kept");
    chain.mine_empty_blocks(1);
    let h = chain.best_block().height;
    node.best_block_updated(&chain.block_at(h).unwrap().header, h);
    assert_eq!(closing(&node), None, "the twelfth: forgotten");
    // Replayed by a peer: refused (the spend is remembered, whatever the
    // host's lookup would still say).
    peer.queue(&Message::ChannelAnnouncement(victim.clone()));
    peer.shuttle(&mut node);
    let g = node.network_graph().unwrap();
    assert!(g.channel_by_scid(scid).is_none());
    assert_eq!(g.channel_count(), anns.len() - spent.len() - 1);
}
