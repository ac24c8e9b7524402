//! Gossip ingestion beside its floor, on the synthetic mainnet-size
//! network (`lightning_test_support::gossip`, 15,000 nodes, 50,000 channels:
//! 50,000 `channel_announcement`s, 100,000 `channel_update`s and a
//! `node_announcement` per node with a channel).
//!
//! `cargo bench -p lightning-benches --bench gossip -- --warm-up-time 1 --measurement-time 3`
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
//! - Once per run, beside LDK 0.2's `NetworkGraph` fed the same signed
//!   messages (`support/ldk_gossip.rs`; the updates are moved to the
//!   system clock's now and signed again first, because LDK refuses updates
//!   older than two weeks by that clock, and ours is given the same now):
//!   both graphs' channel, direction and node counts (checked equal); the
//!   live heap bytes each graph holds, counted by this binary's global
//!   allocator around the ingest only (the messages are allocated before);
//!   save (our `snapshot::encode`, LDK's `Writeable::encode`) and load (our
//!   `snapshot::decode`, LDK's `ReadableArgs::read` with a logger) of the
//!   whole graph, median of a few runs, the serialized sizes, and the same
//!   through an in-memory `KvStore` (what the node adds: the store's copy).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use lightning_gossip::verify;
use lightning_gossip::{snapshot, GraphConfig, NetworkGraph};
use lightning_test_support::gossip::{Generator, SyntheticConfig, SyntheticNetwork};
use lightning_wire::msgs::{ChannelAnnouncement, ChannelUpdate, NodeAnnouncement};
use secp256k1::ecdsa::Signature;
use secp256k1::{Message, PublicKey, SECP256K1};

#[path = "support/ldk_gossip.rs"]
mod ldk_gossip;

/// The system allocator, counting the bytes live and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is passed to `System` unchanged, with the caller's
// layout and pointer, so `System`'s guarantees hold; the counters are
// plain atomics and never touch the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through this wrapper)
        // with `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and `new_size` is the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Starts a peak measurement at the current live bytes.
fn reset_peak() {
    PEAK.store(live(), Ordering::Relaxed);
}

fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

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
    let live_before = live();
    reset_peak();
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
    let ours_grown = live() - live_before;
    let ours_peak = peak() - live_before;
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
    let before_shrink = live();
    g.shrink_to_fit();
    let ours_shrunk = ours_grown - (before_shrink - live());
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
    println!(
        "gossip/whole: counted heap of our graph: {ours_grown} bytes after ingest ({:.0} per channel), peak during ingest {ours_peak}, {ours_shrunk} after shrink_to_fit ({:.0} per channel)",
        ours_grown as f64 / chans as f64,
        ours_shrunk as f64 / chans as f64
    );
    drop(inputs);
    beside_ldk(net, g, ours_grown, ours_peak, ingest_s);
}

/// Times `f` `REPS` times; the median in seconds and the last result.
fn timed<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    const REPS: usize = 5;
    let mut times = Vec::with_capacity(REPS);
    let mut last = None;
    for _ in 0..REPS {
        // The previous result is dropped before the next run starts.
        drop(last.take());
        let t = Instant::now();
        let out = f();
        times.push(t.elapsed().as_secs_f64());
        last = Some(out);
    }
    (median(times), last.unwrap())
}

/// LDK's `NetworkGraph` fed the same messages; memory, save and load
/// beside ours (`g`, already holding them).
fn beside_ldk(
    net: &SyntheticNetwork,
    g: NetworkGraph,
    ours_grown: usize,
    ours_peak: usize,
    ours_ingest_s: f64,
) {
    use lightning::util::ser::{ReadableArgs, Writeable};
    use lightning_persist::{KvStore, MemoryStore};

    // Messages and lookup allocated before the measurement.
    let msgs = ldk_gossip::LdkMessages::of(net);
    let utxos = ldk_gossip::LdkUtxos(net.utxos.clone());
    let lookup = Some(&utxos);
    let live_before = live();
    reset_peak();
    let t = Instant::now();
    let ldk = ldk_gossip::Graph::new(bitcoin::Network::Bitcoin, &ldk_gossip::NO_LOG);
    ldk_gossip::ingest(&ldk, &msgs, &lookup);
    let ldk_ingest_s = t.elapsed().as_secs_f64();
    let ldk_grown = live() - live_before;
    let ldk_peak = peak() - live_before;
    drop(msgs);

    // The same graph on both sides.
    let (l_chans, l_dirs, l_nodes, l_announced) = ldk_gossip::counts(&ldk);
    let chans = g.channel_count();
    let dirs: usize = g
        .channels()
        .map(|(_, c)| usize::from(c.direction(0).is_some()) + usize::from(c.direction(1).is_some()))
        .sum();
    let announced = g
        .nodes()
        .filter(|(_, n)| n.announcement().is_some())
        .count();
    println!(
        "gossip/ldk: ours {chans} channels, {dirs} directions, {} nodes ({announced} announced); LDK {l_chans} channels, {l_dirs} directions, {l_nodes} nodes ({l_announced} announced)",
        g.node_count()
    );
    assert_eq!(
        (chans, dirs, g.node_count(), announced),
        (l_chans, l_dirs, l_nodes, l_announced),
        "both graphs hold the same network"
    );
    println!(
        "gossip/ldk: ingest of the whole network: ours {ours_ingest_s:.2} s (over ten slices, alternating with the floor), LDK {ldk_ingest_s:.2} s, ratio {:.3}",
        ours_ingest_s / ldk_ingest_s
    );
    let per = |b: usize| b as f64 / chans as f64;
    println!(
        "gossip memory: ours {ours_grown} bytes ({:.0}/channel), LDK {ldk_grown} bytes ({:.0}/channel), ratio {:.3} (live heap after ingest, counted by the allocator; nodes and announcements included)",
        per(ours_grown),
        per(ldk_grown),
        ours_grown as f64 / ldk_grown as f64
    );
    println!(
        "gossip memory: peak during ingest: ours {ours_peak} bytes, LDK {ldk_peak} bytes, ratio {:.3}",
        ours_peak as f64 / ldk_peak as f64
    );

    // Save: the whole graph to bytes.
    let (ours_save, bytes) = timed(|| snapshot::encode(&g));
    let (ldk_save, ldk_bytes) = timed(|| ldk.encode());
    println!(
        "gossip save: ours {:.1} ms, LDK {:.1} ms, ratio {:.3}; serialized ours {} bytes, LDK {} bytes (median of 5)",
        ours_save * 1e3,
        ldk_save * 1e3,
        ours_save / ldk_save,
        bytes.len(),
        ldk_bytes.len()
    );
    // Load: bytes to a graph, and the memory the loaded graph holds.
    let config = GraphConfig::new(net.chain_hash);
    let mut ours_loaded = 0;
    let (ours_load, back) = timed(|| {
        let b = live();
        let back = snapshot::decode(&bytes, config.clone()).unwrap();
        ours_loaded = live() - b;
        back
    });
    assert_eq!(back.channel_count(), chans);
    drop(back);
    let mut ldk_loaded = 0;
    let (ldk_load, ldk_back) = timed(|| {
        let b = live();
        let back = ldk_gossip::Graph::read(&mut &ldk_bytes[..], &ldk_gossip::NO_LOG).unwrap();
        ldk_loaded = live() - b;
        back
    });
    assert_eq!(ldk_gossip::counts(&ldk_back).0, chans);
    drop(ldk_back);
    println!(
        "gossip load: ours {:.1} ms, LDK {:.1} ms, ratio {:.3} (median of 5)",
        ours_load * 1e3,
        ldk_load * 1e3,
        ours_load / ldk_load
    );
    // The part of our load LDK's has not: our decode parses each node's
    // public key once (a point decompression); LDK keeps node ids as bytes.
    let ids: Vec<[u8; 33]> = net
        .node_announcements
        .iter()
        .map(|n| n.node_id.serialize())
        .collect();
    let (parse_s, parsed) = timed(|| {
        ids.iter()
            .filter(|id| PublicKey::from_slice(black_box(&id[..])).is_ok())
            .count()
    });
    assert_eq!(parsed, ids.len());
    println!(
        "gossip load: of ours, parsing the {parsed} node public keys alone takes {:.1} ms ({:.0}% of our load)",
        parse_s * 1e3,
        100.0 * parse_s / ours_load
    );
    println!(
        "gossip memory: loaded graph: ours {ours_loaded} bytes ({:.0}/channel), LDK {ldk_loaded} bytes ({:.0}/channel), ratio {:.3}",
        per(ours_loaded),
        per(ldk_loaded),
        ours_loaded as f64 / ldk_loaded as f64
    );

    // What persisting adds: the record through an in-memory `KvStore`
    // (ours `snapshot::save`/`load`; LDK's bytes written and read under
    // the same store, as its background processor persists the graph).
    let store = MemoryStore::new();
    let mut version = 0;
    let (ours_save, ()) = timed(|| {
        version += 1;
        snapshot::save(&g, &store, version).unwrap()
    });
    let (ours_load, back) = timed(|| snapshot::load(&store, config.clone()).unwrap().unwrap());
    assert_eq!(back.channel_count(), chans);
    drop(back);
    let (ldk_save, ()) = timed(|| {
        version += 1;
        store
            .write("ldk", "network_graph", version, &ldk.encode())
            .unwrap()
    });
    let (ldk_load, ldk_back) = timed(|| {
        let v = store.read("ldk", "network_graph").unwrap().unwrap();
        ldk_gossip::Graph::read(&mut &v.value[..], &ldk_gossip::NO_LOG).unwrap()
    });
    assert_eq!(ldk_gossip::counts(&ldk_back).0, chans);
    println!(
        "gossip save+store: ours {:.1} ms, LDK {:.1} ms, ratio {:.3}; store+load: ours {:.1} ms, LDK {:.1} ms, ratio {:.3} (in-memory KvStore, median of 5)",
        ours_save * 1e3,
        ldk_save * 1e3,
        ours_save / ldk_save,
        ours_load * 1e3,
        ldk_load * 1e3,
        ours_load / ldk_load
    );
}

fn bench(c: &mut Criterion) {
    let t = Instant::now();
    let mut net = Generator::new(2026, SyntheticConfig::mainnet()).generate();
    println!(
        "gossip: generated the synthetic network in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // LDK refuses updates more than two weeks old by the system clock.
    let t = Instant::now();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    ldk_gossip::move_updates_to(&mut net, now);
    println!(
        "gossip: moved the updates to now and signed them again in {:.1} s",
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
