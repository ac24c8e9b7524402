//! The gossip graph and sync (`lightning-gossip`): what a hostile peer's
//! gossip and queries, and a damaged snapshot on disk, do to the graph.
//!
//! - [`graph_ingest`]: the first byte moves the clock (0..=255 hours
//!   ahead); the rest is a sequence of messages, each a 2-byte big-endian
//!   length and the message (type and payload, as on the wire), fed to a
//!   `GossipSync` over a graph preloaded with a small synthetic network.
//!   Invariants: no panic, the store stays consistent
//!   (`GraphStore::check_consistency`), every reply is encodable, and the
//!   graph's snapshot decodes to a graph that encodes the same again
//!   (after funding spends found by outpoint, a reorg and pruning).
//! - [`snapshot_decode`]: the input is a snapshot without its trailing
//!   CRC, which the target appends, so the decoder's structure checks (not
//!   only the CRC) are exercised. Invariants: no panic; whatever decodes
//!   is consistent and round trips.

use std::sync::OnceLock;

use lightning_gossip::snapshot;
use lightning_gossip::sync::{GossipSync, SyncConfig};
use lightning_gossip::{GraphConfig, NetworkGraph};
use lightning_test_support::gossip::{Generator, SyntheticConfig, SyntheticNetwork};
use lightning_wire::features::{Feature, InitFeatures};
use lightning_wire::msgs::Message;

struct Base {
    net: SyntheticNetwork,
    graph: NetworkGraph,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let net = Generator::new(1, SyntheticConfig::small(12, 20)).generate();
        let mut graph = NetworkGraph::new(GraphConfig::new(net.chain_hash));
        // The last few channels are left out so inputs can announce them.
        for a in &net.channel_announcements[..15] {
            let _ = graph.handle_channel_announcement(a, Some(&net.utxos), net.now);
        }
        for u in &net.channel_updates[..30] {
            let _ = graph.handle_channel_update(u, net.now);
        }
        for n in &net.node_announcements {
            let _ = graph.handle_node_announcement(n, net.now);
        }
        Base { net, graph }
    })
}

fn check(graph: &NetworkGraph) {
    if let Err(e) = graph.store().check_consistency() {
        panic!("inconsistent graph: {e}");
    }
    let bytes = snapshot::encode(graph);
    let back = snapshot::decode(&bytes, graph.config().clone())
        .unwrap_or_else(|e| panic!("own snapshot does not decode: {e}"));
    assert_eq!(snapshot::encode(&back), bytes, "snapshot round trip");
}

/// Splits `data` into length-prefixed frames (a short tail is dropped).
fn frames(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while data.len() >= 2 {
        let n = usize::from(u16::from_be_bytes([data[0], data[1]]));
        let rest = &data[2..];
        let take = n.min(rest.len());
        out.push(&rest[..take]);
        data = &rest[take..];
    }
    out
}

/// The graph-ingestion target.
pub fn graph_ingest(data: &[u8]) {
    let Some((clock, rest)) = data.split_first() else {
        return;
    };
    let b = base();
    let now = b.net.now + u64::from(*clock) * 3_600;
    let mut graph = b.graph.clone();
    let mut sync = GossipSync::new(SyncConfig::new(b.net.chain_hash));
    let mut f = InitFeatures::empty();
    f.set_optional(Feature::GossipQueries);
    f.set_optional(Feature::GossipQueriesEx);
    sync.peer_connected(1, &f, now);
    let mut decoded = 0;
    for frame in frames(rest) {
        let Ok(msg) = Message::decode(frame) else {
            continue;
        };
        decoded += 1;
        let _ = sync.handle_message(1, &msg, &mut graph, Some(&b.net.utxos), now);
        sync.handle_timeout(&graph, now);
        let mut sent = 0;
        while let Some(out) = sync.poll_message(1, &graph, now) {
            assert!(out.encode().is_ok(), "{} reply does not encode", out.name());
            sent += 1;
            assert!(sent < 100_000, "unbounded replies");
        }
    }
    // Chain facts: blocks spending half the held channels' funding outputs
    // (the synthetic UTXO set names the txids), the later ones reorganised
    // out, then pruning.
    let inputs: Vec<_> = graph
        .channels()
        .filter(|(_, c)| c.scid().0 % 2 == u64::from(*clock % 2))
        .map(|(idx, c)| {
            let ann = graph.channel_announcement_msg(idx);
            (c.scid(), ann)
        })
        .collect();
    for (scid, ann) in inputs {
        let Some(ann) = ann else { continue };
        let script = lightning_gossip::verify::funding_witness_script(
            &ann.bitcoin_key_1.serialize(),
            &ann.bitcoin_key_2.serialize(),
        );
        let input = bitcoin::TxIn {
            previous_output: b.net.utxos.funding_outpoint(scid),
            witness: bitcoin::Witness::from_slice(&[script.to_bytes()]),
            ..Default::default()
        };
        graph.spent_input(&input, 999_990 + u32::from(*clock & 7));
    }
    graph.block_disconnected(999_995);
    graph.prune_stale(now);
    graph.block_connected(1_000_000);
    if decoded > 0 {
        check(&graph);
        crate::reached_checks();
    }
}

/// The snapshot-decoder target.
pub fn snapshot_decode(data: &[u8]) {
    let b = base();
    let mut bytes = data.to_vec();
    bytes.extend_from_slice(&lightning_gossip::checksum::crc32c(data).to_be_bytes());
    if let Ok(graph) = snapshot::decode(&bytes, GraphConfig::new(b.net.chain_hash)) {
        check(&graph);
        crate::reached_checks();
    }
}

fn frame(out: &mut Vec<u8>, m: &Message) {
    if let Ok(bytes) = m.encode() {
        if let Ok(n) = u16::try_from(bytes.len()) {
            out.extend_from_slice(&n.to_be_bytes());
            out.extend_from_slice(&bytes);
        }
    }
}

/// Seeds of [`graph_ingest`]: the left-out channels with their updates,
/// newer and damaged versions, and queries.
pub fn graph_seed_corpus() -> Vec<(String, Vec<u8>)> {
    use lightning_wire::msgs::*;
    let b = base();
    let net = &b.net;
    let mut seeds = Vec::new();
    let mut all = vec![0u8];
    for i in 15..net.channel_announcements.len() {
        frame(&mut all, &net.channel_announcements[i].clone().into());
        frame(&mut all, &net.channel_updates[2 * i].clone().into());
        frame(&mut all, &net.channel_updates[2 * i + 1].clone().into());
    }
    seeds.push(("new-channels".to_string(), all));
    let mut bad = vec![0u8];
    let mut a = net.channel_announcements[16].clone();
    a.node_signature_1 = a.node_signature_2;
    frame(&mut bad, &a.into());
    let mut u = net.channel_updates[0].clone();
    u.timestamp += 1;
    frame(&mut bad, &u.into());
    frame(&mut bad, &net.node_announcements[0].clone().into());
    seeds.push(("bad-signatures".to_string(), bad));
    let mut q = vec![3u8];
    frame(
        &mut q,
        &QueryChannelRange {
            chain_hash: net.chain_hash,
            first_blocknum: 0,
            number_of_blocks: u32::MAX,
            tlvs: QueryChannelRangeTlvs {
                query_option: Some(lightning_wire::bigsize::BigSize(3)),
                ..Default::default()
            },
        }
        .into(),
    );
    frame(
        &mut q,
        &QueryShortChannelIds {
            chain_hash: net.chain_hash,
            encoded_short_ids: EncodedList::Uncompressed(
                net.channel_announcements[..4]
                    .iter()
                    .map(|a| a.short_channel_id)
                    .collect(),
            ),
            tlvs: Default::default(),
        }
        .into(),
    );
    frame(
        &mut q,
        &GossipTimestampFilter {
            chain_hash: net.chain_hash,
            first_timestamp: 0,
            timestamp_range: u32::MAX,
            tlvs: Default::default(),
        }
        .into(),
    );
    seeds.push(("queries".to_string(), q));
    let mut r = vec![200u8];
    frame(
        &mut r,
        &ReplyChannelRange {
            chain_hash: net.chain_hash,
            first_blocknum: 0,
            number_of_blocks: u32::MAX,
            sync_complete: 1,
            encoded_short_ids: EncodedList::Uncompressed(
                net.channel_announcements
                    .iter()
                    .map(|a| a.short_channel_id)
                    .collect(),
            ),
            tlvs: Default::default(),
        }
        .into(),
    );
    seeds.push(("range-reply-late-clock".to_string(), r));
    seeds
}

/// Seeds of [`snapshot_decode`]: snapshots (without CRC) of the base
/// graph, an empty one, and one with closed channels and zombies.
pub fn snapshot_seed_corpus() -> Vec<(String, Vec<u8>)> {
    let b = base();
    let strip = |mut v: Vec<u8>| {
        v.truncate(v.len().saturating_sub(4));
        v
    };
    let mut seeds = vec![
        ("base".to_string(), strip(snapshot::encode(&b.graph))),
        (
            "empty".to_string(),
            strip(snapshot::encode(&NetworkGraph::new(GraphConfig::new(
                b.net.chain_hash,
            )))),
        ),
    ];
    let mut g = b.graph.clone();
    g.funding_spent(b.net.channel_announcements[0].short_channel_id, 900_000);
    let later = b.net.now + 14 * 86_400 - 3_600;
    g.prune_stale(later);
    seeds.push((
        "closed-and-zombies".to_string(),
        strip(snapshot::encode(&g)),
    ));
    seeds
}
