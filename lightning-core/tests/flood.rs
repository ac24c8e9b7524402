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
//! with fresh temporary ids. They read their sockets (what Bob sends is
//! taken and dropped), except every 50th, which never reads. Between
//! rounds of hostile traffic Alice pays Bob; every payment must succeed.
//!
//! The heap is measured by a counting global allocator: every live byte of
//! this test process (Bob, Alice, the 1,000 hostile peers' own state, the
//! simulated chain), so it is an upper bound on Bob's. The bound asserted
//! is [`HEAP_BOUND`]; the peak and the honest payment rate are printed.
#![allow(clippy::unwrap_used)]

mod node_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lightning_core::testing::hostile::{unknown_odd, HostilePeer};
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
/// The bound on the process's live heap during the flood.
///
/// Measured on main at 6dd7ea2 (the figures this test prints): peak
/// 138,668 KiB. It is made of one maximum-size receive buffer per
/// connection (~64 KiB each, kept for the connection's life: BOLT 8
/// transport, "a peer costs at most one maximum-size frame"), ~64 MiB for
/// 1,000 connections; about 8 KiB per unfunded inbound channel, of which
/// the `open_channel` flood leaves 6,000 (main has no cap on them: issue 13,
/// finding 6); and the non-reading peers' outbound queues (at most
/// `PeerConfig::max_outbound_bytes`, 1 MiB, each). The bound leaves ~40%
/// headroom over the measured peak; once inbound opens are capped it can
/// come down to ~100 MiB.
const HEAP_BOUND: usize = 192 << 20;
/// What may stay allocated once the hostile peers are gone (measured:
/// 3,474 KiB): their connections and unfunded channels are freed.
const AFTER_BOUND: usize = 16 << 20;

fn chain() -> ChainHash {
    ChainHash::for_network(bitcoin::Network::Regtest)
}

/// A valid `open_channel` to copy: Alice's, as a hostile peer connected to
/// her receives it.
fn open_channel_template(net: &mut Net) -> OpenChannel {
    let now = net.now;
    let mut listener = HostilePeer::connect(&mut net.a.node, [0xee; 32], now).unwrap();
    net.a
        .node
        .open_channel(
            listener.node_id(),
            bitcoin::Amount::from_sat(200_000),
            lightning_core::amount::Msat(0),
        )
        .unwrap();
    let open = listener
        .recv_messages(&mut net.a.node)
        .unwrap()
        .into_iter()
        .find_map(|m| match m {
            Message::OpenChannel(o) => Some(o),
            _ => None,
        })
        .expect("Alice sends open_channel");
    listener.disconnect(&mut net.a.node);
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
            for k in 0..3usize {
                let mut open = template.clone();
                let mut id = [0u8; 32];
                id[..8].copy_from_slice(&(i as u64).to_be_bytes());
                id[8..16].copy_from_slice(&((round * 3 + k) as u64).to_be_bytes());
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
    assert_eq!(paid, CONNECTIONS * ROUNDS / BURSTS_PER_PAYMENT);
    assert!(
        peak < HEAP_BOUND,
        "peak heap {peak} bytes is over the bound {HEAP_BOUND}"
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
