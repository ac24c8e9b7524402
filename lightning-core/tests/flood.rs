//! Flood: 1,000 hostile connections against one node while an honest peer
//! keeps paying it over a funded channel (issue 13, "Flood tests with a
//! memory bound").
//!
//! The node under attack is Bob of [`node_support::Net`]; Alice is the
//! honest peer, a real second `Node` with a channel to him. 1,000
//! [`HostilePeer`]s complete Noise and `init` with Bob and stay connected
//! while they send, in turn: maximum-size junk (65,535-byte messages of an
//! unknown odd type), `ping`s asking for the largest `pong` (65,531 bytes)
//! and carrying the largest padding, batches of small unknown odd
//! messages, gossip queries (`query_channel_range`, a maximal
//! `query_short_channel_ids`, `gossip_timestamp_filter`) and `open_channel`s
//! with fresh temporary ids, five at a time (one more than the per-peer
//! cap of unfunded inbound channels). They read their sockets (what Bob sends is
//! taken and dropped), except every 50th, which never reads. Between
//! rounds of hostile traffic Alice pays Bob; every payment must succeed.
//!
//! The heap is measured by a counting global allocator: every live byte of
//! this test process (Bob, Alice, the 1,000 hostile peers' own state, the
//! simulated chain), so it is an upper bound on Bob's. The bound asserted
//! is [`HEAP_BOUND`]; the peak and the honest payment rate are printed.
//! After every burst, Bob's unfunded inbound channels are counted: at most
//! `NodeConfig::inbound`'s 4 per peer and 64 in all, whatever the
//! `open_channel` flood.
#![allow(clippy::unwrap_used)]

mod node_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use lightning_core::node::Node;
use lightning_test_support::hostile::{unknown_odd, HostilePeer};
use lightning_wire::msgs::{
    ExtensionTlvs, GossipTimestampFilter, Message, OpenChannel, Ping, QueryChannelRange,
};
use lightning_wire::types::{ChainHash, ChannelId};
use node_support::Net;

/// Counts live heap bytes and their high-water mark.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// A global allocator can only be written with `unsafe`: this one hands
// every call to `System` unchanged and only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CONNECTIONS: usize = 1_000;
/// Rounds of hostile traffic: each connection sends one burst per round.
const ROUNDS: usize = 10;
/// Alice pays Bob after every this many hostile bursts.
const BURSTS_PER_PAYMENT: usize = 100;
/// Every this-many-th hostile peer never reads its socket.
const NON_READER_EVERY: usize = 50;
/// The bound on the process's live heap during the flood: 144 MiB, 1.5x
/// the measured peak.
///
/// Measured (debug build, as `cargo test` runs it in CI, the figures this
/// test prints): at 6dd7ea2, before inbound opens were capped, peak
/// 138,668 KiB, of which about 8 KiB per unfunded inbound channel for the
/// 6,000 the `open_channel` flood left; with the caps (64 unfunded inbound
/// channels at most, issue 13 finding 6) and five opens a burst, peak
/// 97,858 KiB (with the caps lifted, this flood leaves 10,000 unfunded
/// channels and peaks at 162,968 KiB, over the bound). What remains
/// is transient: the peak comes while bursts of maximum-size frames are
/// decrypted and answered (a 65,535-byte message and its 65,531-byte
/// `pong`), and the non-reading peers' outbound queues (at most
/// `PeerConfig::max_outbound_bytes`, 1 MiB, each); with 1,000 connections
/// open and idle the process holds ~2 MiB.
const HEAP_BOUND: usize = 144 << 20;
/// What may stay allocated once the hostile peers are gone (measured:
/// 3,474 KiB at 6dd7ea2, 1,228 KiB with the inbound caps): their
/// connections and unfunded channels are freed.
const AFTER_BOUND: usize = 16 << 20;

/// The bound on the whole flood's time, debug build. Measured on a 2-core
/// machine: 252 s when every step compared each connected peer with every
/// channel (`peer_storage_step` asked each of the 1,000 peers whether it
/// had a funded channel, and a public key comparison serializes both
/// keys), 14 s once the funded peers are listed once per step, 7.8 s once
/// each is one lookup of its connection instead of a pass over all. The bound
/// leaves room for a loaded CI machine and still fails the old cost.
const FLOOD_TIME_BOUND: Duration = Duration::from_secs(90);

/// Bob's inbound channels whose funding has not confirmed: the most any
/// one peer has, and the total.
fn unfunded_inbound(bob: &Node) -> (usize, usize) {
    let mut per_peer: BTreeMap<_, usize> = BTreeMap::new();
    for c in bob.list_channels() {
        if !c.is_outbound && c.short_channel_id.is_none() {
            *per_peer.entry(c.counterparty).or_default() += 1;
        }
    }
    (
        per_peer.values().copied().max().unwrap_or(0),
        per_peer.values().sum(),
    )
}

fn chain() -> ChainHash {
    ChainHash::for_network(bitcoin::Network::Regtest)
}

/// A valid `open_channel` to copy: Alice's, as a hostile peer connected to
/// her receives it.
fn open_channel_template(net: &mut Net) -> OpenChannel {
    let open = net.open_channel_template();
    net.a.take_events();
    open
}

/// A maximal `query_short_channel_ids`: an uncompressed encoding of as many
/// short channel ids as fit one message.
fn max_query_short_channel_ids() -> Vec<u8> {
    let mut out = 261u16.to_be_bytes().to_vec();
    out.extend_from_slice(&chain().0);
    let ids = (65_535 - out.len() - 2 - 1) / 8;
    out.extend_from_slice(&u16::try_from(1 + ids * 8).unwrap().to_be_bytes());
    out.push(0); // encoding type 0: uncompressed
    for i in 0..ids as u64 {
        out.extend_from_slice(&((100 + i) << 40 | i << 16).to_be_bytes());
    }
    assert!(out.len() <= 65_535);
    out
}

/// What hostile peer `i` sends in round `round`: several messages as one
/// socket write.
fn burst(
    peer: &mut HostilePeer,
    i: usize,
    round: usize,
    template: &OpenChannel,
    qscid: &[u8],
) -> Vec<u8> {
    let mut wire = Vec::new();
    let mut add = |payload: &[u8]| wire.extend(peer.frame(payload).unwrap());
    match (i + round) % 5 {
        0 => add(&unknown_odd(0x8001 + 2 * (i as u16 % 100), 65_535)),
        1 => {
            add(&Message::Ping(Ping {
                num_pong_bytes: 65_531,
                ignored: vec![0; 65_535 - 2 - 2 - 2],
                tlvs: ExtensionTlvs::default(),
            })
            .encode()
            .unwrap());
        }
        2 => {
            for k in 0..20u16 {
                add(&unknown_odd(0x1001 + 2 * k, 64 + usize::from(k) * 31));
            }
        }
        3 => {
            add(&Message::QueryChannelRange(QueryChannelRange {
                chain_hash: chain(),
                first_blocknum: 0,
                number_of_blocks: u32::MAX,
                tlvs: Default::default(),
            })
            .encode()
            .unwrap());
            add(qscid);
            add(&Message::GossipTimestampFilter(GossipTimestampFilter {
                chain_hash: chain(),
                first_timestamp: 0,
                timestamp_range: u32::MAX,
                tlvs: ExtensionTlvs::default(),
            })
            .encode()
            .unwrap());
        }
        _ => {
            // One more than the per-peer cap of unfunded inbound channels.
            for k in 0..5usize {
                let mut open = template.clone();
                let mut id = [0u8; 32];
                id[..8].copy_from_slice(&(i as u64).to_be_bytes());
                id[8..16].copy_from_slice(&((round * 5 + k) as u64).to_be_bytes());
                id[31] = 0x0f;
                open.temporary_channel_id = ChannelId(id);
                add(&Message::OpenChannel(open).encode().unwrap());
            }
        }
    }
    wire
}

#[test]
fn thousand_hostile_connections_do_not_stop_honest_payments() {
    let start = Instant::now();
    let mut net = Net::new(false, false);
    let channel = net.open_channel(1_000_000, 0);
    let template = open_channel_template(&mut net);
    let qscid = max_query_short_channel_ids();
    let before_flood = CURRENT.load(Ordering::Relaxed);

    let mut hostile: Vec<HostilePeer> = (0..CONNECTIONS)
        .map(|i| {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            key[31] = 1;
            HostilePeer::connect(&mut net.b.node, key, net.now).unwrap()
        })
        .collect();
    assert_eq!(
        net.b.node.connected_peers().len(),
        CONNECTIONS + 1,
        "every hostile peer and Alice are connected"
    );
    let connected_at = CURRENT.load(Ordering::Relaxed);
    let limits = net.b.node.config().inbound;
    let (mut most_per_peer, mut most_total) = (0, 0);

    let mut paid = 0usize;
    let mut pay_time = Duration::ZERO;
    let mut bursts = 0usize;
    let mut sent_bytes = 0usize;
    for round in 0..ROUNDS {
        for (i, peer) in hostile.iter_mut().enumerate() {
            let wire = burst(peer, i, round, &template, &qscid);
            sent_bytes += wire.len();
            // The node may close a connection (that is its right); it may
            // not fail the honest peer.
            let _ = peer.send_bytes(&mut net.b.node, &wire, net.now);
            if !i.is_multiple_of(NON_READER_EVERY) {
                peer.discard(&mut net.b.node);
            }
            let (per_peer, total) = unfunded_inbound(&net.b.node);
            assert!(
                per_peer <= limits.max_unfunded_per_peer && total <= limits.max_unfunded_total,
                "burst {bursts}: {per_peer} unfunded inbound channels from one peer, {total} in all"
            );
            most_per_peer = most_per_peer.max(per_peer);
            most_total = most_total.max(total);
            bursts += 1;
            if bursts.is_multiple_of(BURSTS_PER_PAYMENT) {
                let t = Instant::now();
                let before = Net::local_msat(&net.b.node, channel);
                net.pay(true, 10_000);
                assert_eq!(
                    Net::local_msat(&net.b.node, channel),
                    before + 10_000,
                    "the honest payment reached Bob during the flood"
                );
                pay_time += t.elapsed();
                paid += 1;
            }
        }
    }
    let still_connected = hostile
        .iter()
        .filter(|p| p.is_connected(&net.b.node))
        .count();
    let peak = PEAK.load(Ordering::Relaxed);
    let rate = paid as f64 / pay_time.as_secs_f64();
    println!(
        "flood: {CONNECTIONS} connections, {ROUNDS} rounds, {bursts} bursts, {} MB sent; \
         {still_connected} hostile connections still open; {} channels at Bob",
        sent_bytes / 1_000_000,
        net.b.node.list_channels().len(),
    );
    println!(
        "heap: {} KiB before the flood, {} KiB with {CONNECTIONS} connections, peak {} KiB, \
         bound {} KiB",
        before_flood >> 10,
        connected_at >> 10,
        peak >> 10,
        HEAP_BOUND >> 10
    );
    println!(
        "honest payments: {paid} succeeded, {rate:.1} payments/s while flooded \
         (time in payments {:.1} s of {:.1} s total)",
        pay_time.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
    println!(
        "unfunded inbound channels at Bob: at most {most_per_peer} from one peer \
         (cap {}), {most_total} in all (cap {})",
        limits.max_unfunded_per_peer, limits.max_unfunded_total
    );
    assert_eq!(paid, CONNECTIONS * ROUNDS / BURSTS_PER_PAYMENT);
    // The flood did reach the caps (so the check above was not vacuous).
    assert_eq!(
        (most_per_peer, most_total),
        (limits.max_unfunded_per_peer, limits.max_unfunded_total)
    );
    assert!(
        peak < HEAP_BOUND,
        "peak heap {peak} bytes is over the bound {HEAP_BOUND}"
    );
    let flood_time = start.elapsed();
    assert!(
        flood_time < FLOOD_TIME_BOUND,
        "the flood took {flood_time:?}, over {FLOOD_TIME_BOUND:?}: a step's cost grows with \
         the number of connections"
    );

    // Bob still serves Alice after the flood, and everyone's bytes go.
    for peer in &mut hostile {
        peer.disconnect(&mut net.b.node);
    }
    net.pay(true, 10_000);
    let after = CURRENT.load(Ordering::Relaxed);
    println!(
        "heap after the hostile peers left: {} KiB, bound {} KiB",
        after >> 10,
        AFTER_BOUND >> 10
    );
    assert!(
        after < AFTER_BOUND,
        "{after} bytes still allocated after the flood"
    );
}
