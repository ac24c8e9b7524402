//! Gossip ingestion beside its floor, on the synthetic mainnet-size
//! network (`lightning_test_support::gossip`, 15,000 nodes, 50,000 channels:
//! 50,000 `channel_announcement`s, 100,000 `channel_update`s and a
//! `node_announcement` per node with a channel).
//!
//! - `ingest_chunk`: 500 channels (announcement with its funding lookup,
//!   both updates) and their nodes' announcements into an empty graph.
//!   Floor `verify_chunk`: verifying the same signatures (4 + 2 per
//!   channel, 1 per node announcement) over precomputed digests and parsed
//!   keys: the work no implementation can skip.
//! - Once per run, outside criterion (one pass takes seconds): the whole
//!   network ingested and its floor, their ratio, the graph's memory
//!   (RSS delta and the store's own estimate) per channel, and the
//!   snapshot's size and save/load times.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Instant;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use lightning_gossip::verify;
use lightning_gossip::{snapshot, GraphConfig, NetworkGraph};
use lightning_test_support::gossip::{Generator, SyntheticConfig, SyntheticNetwork};
use lightning_wire::msgs::{ChannelAnnouncement, ChannelUpdate, NodeAnnouncement};
use secp256k1::ecdsa::Signature;
use secp256k1::{Message, PublicKey, SECP256K1};

/// One signature check, prepared.
type Check = (Message, Signature, PublicKey);

fn checks(
    anns: &[ChannelAnnouncement],
    upds: &[ChannelUpdate],
    nodes: &[NodeAnnouncement],
) -> Vec<Check> {
    let mut out = Vec::new();
    for (i, a) in anns.iter().enumerate() {
        let d = verify::channel_announcement_digest(a).unwrap();
        out.push((d, a.node_signature_1, a.node_id_1));
        out.push((d, a.node_signature_2, a.node_id_2));
        out.push((d, a.bitcoin_signature_1, a.bitcoin_key_1));
        out.push((d, a.bitcoin_signature_2, a.bitcoin_key_2));
        for u in &upds[2 * i..2 * i + 2] {
            let key = if u.direction() == 0 {
                a.node_id_1
            } else {
                a.node_id_2
            };
            out.push((verify::channel_update_digest(u).unwrap(), u.signature, key));
        }
    }
    for n in nodes {
        out.push((
            verify::node_announcement_digest(n).unwrap(),
            n.signature,
            n.node_id,
        ));
    }
    out
}

fn floor(checks: &[Check]) {
    for (d, s, k) in checks {
        SECP256K1.verify_ecdsa(d, s, k).unwrap();
    }
}

fn ingest(
    net: &SyntheticNetwork,
    anns: &[ChannelAnnouncement],
    upds: &[ChannelUpdate],
    nodes: &[NodeAnnouncement],
) -> NetworkGraph {
    let mut g = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    for a in anns {
        g.handle_channel_announcement(a, Some(&net.utxos), net.now)
            .unwrap();
    }
    for u in upds {
        g.handle_channel_update(u, net.now).unwrap();
    }
    for n in nodes {
        g.handle_node_announcement(n, net.now).unwrap();
    }
    g
}

fn rss_bytes() -> Option<usize> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn whole_network_report(net: &SyntheticNetwork) {
    // Ingest and floor alternate over ten slices of the network (the
    // graph accumulates), so that load from other processes on a shared
    // machine falls on both alike.
    const SLICES: usize = 10;
    let n = net.channel_announcements.len();
    let per = n.div_ceil(SLICES);
    // Prepared first, so that the RSS delta below is the graph's.
    let mut slices = Vec::new();
    let mut done_nodes = std::collections::HashSet::new();
    for k in 0..SLICES {
        let (lo, hi) = ((k * per).min(n), ((k + 1) * per).min(n));
        let anns = &net.channel_announcements[lo..hi];
        let upds = &net.channel_updates[2 * lo..2 * hi];
        // A node's announcement goes with the slice of its first channel.
        let ids: std::collections::HashSet<PublicKey> = anns
            .iter()
            .flat_map(|a| [a.node_id_1, a.node_id_2])
            .filter(|id| !done_nodes.contains(id))
            .collect();
        let nodes: Vec<NodeAnnouncement> = net
            .node_announcements
            .iter()
            .filter(|x| ids.contains(&x.node_id))
            .cloned()
            .collect();
        done_nodes.extend(ids);
        let prepared = checks(anns, upds, &nodes);
        slices.push((anns, upds, nodes, prepared));
    }
    let before = rss_bytes();
    let mut g = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    let (mut ingest_s, mut floor_s, mut sigs) = (0f64, 0f64, 0usize);
    for (anns, upds, nodes, prepared) in &slices {
        sigs += prepared.len();
        let t = Instant::now();
        floor(prepared);
        floor_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        for a in *anns {
            g.handle_channel_announcement(a, Some(&net.utxos), net.now)
                .unwrap();
        }
        for u in *upds {
            g.handle_channel_update(u, net.now).unwrap();
        }
        for x in nodes {
            g.handle_node_announcement(x, net.now).unwrap();
        }
        ingest_s += t.elapsed().as_secs_f64();
    }
    let after = rss_bytes();
    let all_len = sigs;
    let chans = g.channel_count();
    println!(
        "gossip/whole: {} channels, {} nodes, {} signatures",
        chans,
        g.node_count(),
        all_len
    );
    println!(
        "gossip/whole: ingest {ingest_s:.3} s, floor {floor_s:.3} s, ratio {:.3}",
        ingest_s / floor_s
    );
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "gossip/whole: graph RSS delta {} bytes, {:.0} bytes per channel (nodes included)",
            a.saturating_sub(b),
            a.saturating_sub(b) as f64 / chans as f64
        );
    }
    println!(
        "gossip/whole: store estimate {} bytes, {:.0} bytes per channel (nodes included); hot channel record {} bytes",
        g.approx_bytes(),
        g.approx_bytes() as f64 / chans as f64,
        std::mem::size_of::<lightning_gossip::ChannelInfo>()
    );
    let index = g.approx_bytes() - g.store().approx_bytes();
    println!(
        "gossip/whole: funding outpoint index (issue 17) {} entries, {} bytes, {:.1} bytes per channel (in the estimate above)",
        g.funding_outpoints(),
        index,
        index as f64 / chans as f64
    );
    // What a block costs the index: the inputs of 3,000 two-input
    // transactions spending unrelated outpoints (the `block_connected`
    // bench's block), each looked up once.
    let inputs: Vec<bitcoin::TxIn> = (0..6_000u32)
        .map(|i| {
            let mut h = [0u8; 32];
            h[..4].copy_from_slice(&i.to_le_bytes());
            h[4..8].copy_from_slice(&0x9e37_79b9u32.wrapping_mul(i).to_be_bytes());
            bitcoin::TxIn {
                previous_output: bitcoin::OutPoint::new(
                    bitcoin::hashes::Hash::from_byte_array(h),
                    i % 3,
                ),
                ..Default::default()
            }
        })
        .collect();
    let rounds = 200;
    let t = Instant::now();
    let mut hits = 0;
    for _ in 0..rounds {
        for input in &inputs {
            hits += usize::from(g.spent_input(black_box(input), 1_000_000).is_some());
        }
    }
    let per_block = t.elapsed().as_secs_f64() / rounds as f64;
    assert_eq!(hits, 0);
    println!(
        "gossip/whole: a block's 6,000 unrelated inputs against the index: {:.1} us ({:.1} ns per input)",
        per_block * 1e6,
        per_block * 1e9 / inputs.len() as f64
    );
    g.shrink_to_fit();
    let index = g.approx_bytes() - g.store().approx_bytes();
    println!(
        "gossip/whole: funding outpoint index after shrink_to_fit {} bytes, {:.1} bytes per channel",
        index,
        index as f64 / chans as f64
    );
    let shrunk = rss_bytes();
    if let (Some(b), Some(a)) = (before, shrunk) {
        println!(
            "gossip/whole: after shrink_to_fit: RSS delta {} bytes, {:.0} bytes per channel; store estimate {:.0} bytes per channel",
            a.saturating_sub(b),
            a.saturating_sub(b) as f64 / chans as f64,
            g.approx_bytes() as f64 / chans as f64
        );
    }
    let t = Instant::now();
    let bytes = snapshot::encode(&g);
    let save_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let back = snapshot::decode(&bytes, GraphConfig::new(net.chain_hash)).unwrap();
    let load_s = t.elapsed().as_secs_f64();
    assert_eq!(back.channel_count(), chans);
    println!(
        "gossip/whole: snapshot {} bytes, encode {:.1} ms, decode {:.1} ms",
        bytes.len(),
        save_s * 1e3,
        load_s * 1e3
    );
}

fn bench(c: &mut Criterion) {
    let t = Instant::now();
    let net = Generator::new(2026, SyntheticConfig::mainnet()).generate();
    println!(
        "gossip: generated the synthetic network in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    whole_network_report(&net);

    const CHUNK: usize = 500;
    let anns = &net.channel_announcements[..CHUNK];
    let upds = &net.channel_updates[..2 * CHUNK];
    let ids: std::collections::HashSet<PublicKey> = anns
        .iter()
        .flat_map(|a| [a.node_id_1, a.node_id_2])
        .collect();
    let nodes: Vec<NodeAnnouncement> = net
        .node_announcements
        .iter()
        .filter(|n| ids.contains(&n.node_id))
        .cloned()
        .collect();
    let chunk_checks = checks(anns, upds, &nodes);
    let mut g = c.benchmark_group("gossip");
    g.sample_size(10);
    g.bench_function("ingest_chunk", |b| {
        b.iter(|| ingest(&net, black_box(anns), upds, &nodes))
    });
    g.bench_function("verify_chunk", |b| {
        b.iter(|| floor(black_box(&chunk_checks)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
