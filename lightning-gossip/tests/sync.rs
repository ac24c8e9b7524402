//! Gossip sync: full sync between two state machines, the spec's chunking
//! of `reply_channel_range`, query answers, filters and relay, and
//! hostile peers (broken chunking, duplicates, out-of-range replies,
//! floods).
#![allow(clippy::unwrap_used)]

use lightning_gossip::sync::{GossipSync, PeerId, RangeQueryState, SyncConfig, SyncError};
use lightning_gossip::*;
use lightning_test_support::gossip::{Generator, SyntheticConfig, SyntheticNetwork};
use lightning_wire::bigsize::BigSize;
use lightning_wire::features::{Feature, InitFeatures};
use lightning_wire::msgs::*;
use lightning_wire::types::{ChainHash, ShortChannelId};

fn features(ex: bool) -> InitFeatures {
    let mut f = InitFeatures::empty();
    f.set_optional(Feature::GossipQueries);
    if ex {
        f.set_optional(Feature::GossipQueriesEx);
    }
    f
}

fn full_graph(net: &SyntheticNetwork) -> NetworkGraph {
    let mut g = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    for a in &net.channel_announcements {
        g.handle_channel_announcement(a, Some(&net.utxos), net.now)
            .unwrap();
    }
    for u in &net.channel_updates {
        g.handle_channel_update(u, net.now).unwrap();
    }
    for n in &net.node_announcements {
        g.handle_node_announcement(n, net.now).unwrap();
    }
    g
}

fn drain(s: &mut GossipSync, peer: PeerId, g: &NetworkGraph, now: u64) -> Vec<Message> {
    let mut out = Vec::new();
    while let Some(m) = s.poll_message(peer, g, now) {
        out.push(m);
        assert!(out.len() < 1_000_000, "unbounded output");
    }
    out
}

/// Runs two state machines against each other until quiet.
fn converse(
    a: &mut GossipSync,
    ga: &mut NetworkGraph,
    b: &mut GossipSync,
    gb: &mut NetworkGraph,
    net: &SyntheticNetwork,
) {
    loop {
        let mut moved = false;
        while let Some(m) = a.poll_message(1, ga, net.now) {
            b.handle_message(2, &m, gb, Some(&net.utxos), net.now)
                .unwrap();
            moved = true;
        }
        while let Some(m) = b.poll_message(2, gb, net.now) {
            a.handle_message(1, &m, ga, Some(&net.utxos), net.now)
                .unwrap();
            moved = true;
        }
        if !moved {
            break;
        }
    }
}

fn sync_pair(net: &SyntheticNetwork, ex: bool) -> (NetworkGraph, NetworkGraph) {
    let mut full = full_graph(net);
    let mut empty = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    let mut a = GossipSync::new(SyncConfig::new(net.chain_hash));
    let mut b = GossipSync::new(SyncConfig::new(net.chain_hash));
    // `a` serves as peer 1 of `b`; `b` is peer 2 of `a`.
    a.peer_connected(1, &features(ex), net.now);
    b.peer_connected(2, &features(ex), net.now);
    converse(&mut a, &mut full, &mut b, &mut empty, net);
    assert_eq!(
        b.range_query_state(2),
        Some(RangeQueryState::Complete {
            scids: full.channel_count()
        })
    );
    (full, empty)
}

fn same_graph(x: &NetworkGraph, y: &NetworkGraph) {
    assert_eq!(x.channel_count(), y.channel_count());
    assert_eq!(x.node_count(), y.node_count());
    for (idx, c) in x.channels() {
        let j = y.channel_by_scid(c.scid()).unwrap();
        assert_eq!(
            x.channel_announcement_msg(idx),
            y.channel_announcement_msg(j)
        );
        for d in 0..2 {
            assert_eq!(x.channel_update_msg(idx, d), y.channel_update_msg(j, d));
        }
    }
    for (idx, n) in x.nodes() {
        let j = y.node_by_id(n.node_id()).unwrap();
        assert_eq!(x.node_announcement_msg(idx), y.node_announcement_msg(j));
    }
}

#[test]
fn full_sync_copies_the_graph() {
    let net = Generator::new(5, SyntheticConfig::small(40, 120)).generate();
    let (full, synced) = sync_pair(&net, false);
    same_graph(&full, &synced);
}

#[test]
fn full_sync_with_timestamps_asks_only_for_newer_updates() {
    let net = Generator::new(6, SyntheticConfig::small(30, 80)).generate();
    let (full, synced) = sync_pair(&net, true);
    same_graph(&full, &synced);
}

#[test]
fn only_the_first_peers_are_full_sync_peers() {
    let net = Generator::new(6, SyntheticConfig::small(4, 3)).generate();
    let g = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    let mut s = GossipSync::new(SyncConfig::new(net.chain_hash));
    for p in 0..5 {
        s.peer_connected(p, &features(false), net.now);
    }
    s.peer_connected(9, &InitFeatures::empty(), net.now);
    for p in 0..5 {
        let out = drain(&mut s, p, &g, net.now);
        let Message::GossipTimestampFilter(f) = &out[0] else {
            panic!()
        };
        assert_eq!(f.timestamp_range, u32::MAX);
        if p < 3 {
            assert!(s.is_full_sync_peer(p));
            assert_eq!(u64::from(f.first_timestamp), net.now);
            assert!(matches!(out[1], Message::QueryChannelRange(_)));
        } else {
            assert!(!s.is_full_sync_peer(p));
            assert_eq!(
                u64::from(f.first_timestamp),
                net.now - u64::from(s.config().recent_window_secs)
            );
            assert_eq!(out.len(), 1);
        }
    }
    // Without gossip_queries: the spec's "send nothing" filter.
    let out = drain(&mut s, 9, &g, net.now);
    let Message::GossipTimestampFilter(f) = &out[0] else {
        panic!()
    };
    assert_eq!((f.first_timestamp, f.timestamp_range), (u32::MAX, 0));
    // A full-sync peer leaving frees its slot.
    s.peer_disconnected(0);
    s.peer_connected(10, &features(false), net.now);
    assert!(s.is_full_sync_peer(10));
}

/// Checks a reply sequence against BOLT 7's rules for the replier.
fn check_chunking(replies: &[ReplyChannelRange], first: u32, number: u32) -> usize {
    assert!(!replies.is_empty());
    let q_end = u64::from(first) + u64::from(number);
    let r0 = &replies[0];
    assert!(r0.first_blocknum <= first);
    assert!(u64::from(r0.first_blocknum) + u64::from(r0.number_of_blocks) > u64::from(first));
    let mut prev_first = 0;
    let mut prev_scid = 0u64;
    let mut total = 0;
    for (i, r) in replies.iter().enumerate() {
        assert!(r.first_blocknum >= prev_first);
        prev_first = r.first_blocknum;
        let last = i == replies.len() - 1;
        assert_eq!(r.sync_complete, u8::from(last));
        let end = u64::from(r.first_blocknum) + u64::from(r.number_of_blocks);
        let ids = r.encoded_short_ids.items().unwrap();
        for id in ids {
            assert!(u64::from(id.block()) >= u64::from(r.first_blocknum));
            assert!(u64::from(id.block()) < end);
            assert!(id.0 > prev_scid || total == 0);
            prev_scid = id.0;
        }
        if let Some(ts) = &r.tlvs.timestamps_tlv {
            assert_eq!(ts.items().unwrap().len(), ids.len());
        }
        if let Some(cs) = &r.tlvs.checksums_tlv {
            assert_eq!(cs.len(), ids.len());
        }
        let len = Message::ReplyChannelRange(r.clone())
            .encode()
            .unwrap()
            .len();
        assert!(len <= 65_535);
        total += ids.len();
        if last {
            assert!(end >= q_end);
        }
    }
    total
}

fn ask_range(
    s: &mut GossipSync,
    g: &mut NetworkGraph,
    net: &SyntheticNetwork,
    first: u32,
    number: u32,
    option: Option<u64>,
) -> Vec<ReplyChannelRange> {
    let q = Message::QueryChannelRange(QueryChannelRange {
        chain_hash: net.chain_hash,
        first_blocknum: first,
        number_of_blocks: number,
        tlvs: QueryChannelRangeTlvs {
            query_option: option.map(BigSize),
            ..Default::default()
        },
    });
    s.handle_message(7, &q, g, None, net.now).unwrap();
    drain(s, 7, g, net.now)
        .into_iter()
        .filter_map(|m| match m {
            Message::ReplyChannelRange(r) => Some(r),
            _ => None,
        })
        .collect()
}

#[test]
fn reply_channel_range_chunks_follow_the_spec() {
    // 3,000 channels with timestamps and checksums do not fit one reply
    // (2,700 per message).
    let net = Generator::new(8, SyntheticConfig::small(400, 3_000)).generate();
    let mut g = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    for a in &net.channel_announcements {
        g.handle_channel_announcement(a, None, net.now).unwrap();
    }
    for u in net.channel_updates.iter().take(200) {
        g.handle_channel_update(u, net.now).unwrap();
    }
    let mut s = GossipSync::new(SyncConfig::new(net.chain_hash));
    s.peer_connected(7, &features(true), net.now);
    drain(&mut s, 7, &g, net.now);
    let both = query_option::WANT_TIMESTAMPS | query_option::WANT_CHECKSUMS;
    let replies = ask_range(&mut s, &mut g, &net, 0, u32::MAX, Some(both));
    assert!(replies.len() >= 2, "{} replies", replies.len());
    assert_eq!(check_chunking(&replies, 0, u32::MAX), g.channel_count());
    // Timestamps and checksums are those of the stored updates.
    let r = &replies[0];
    let ids = r.encoded_short_ids.items().unwrap();
    let ts = r.tlvs.timestamps_tlv.as_ref().unwrap().items().unwrap();
    let cs = r.tlvs.checksums_tlv.as_ref().unwrap();
    for (i, id) in ids.iter().enumerate() {
        let idx = g.channel_by_scid(*id).unwrap();
        let upd = g.channel_update_msg(idx, 0);
        assert_eq!(
            ts[i].timestamp_node_id_1,
            upd.as_ref().map_or(0, |u| u.timestamp)
        );
        assert_eq!(
            cs[i].checksum_node_id_1,
            upd.as_ref()
                .map_or(0, lightning_gossip::checksum::channel_update_checksum)
        );
    }
    // A sub-range: only its channels, first reply starting at the query.
    let mid = net.channel_announcements[1_000].short_channel_id.block();
    let replies = ask_range(&mut s, &mut g, &net, mid, 50_000, None);
    let n = check_chunking(&replies, mid, 50_000);
    let expect = g
        .channels()
        .filter(|(_, c)| (mid..mid + 50_000).contains(&c.scid().block()))
        .count();
    assert_eq!(n, expect);
    assert_eq!(replies[0].first_blocknum, mid);
    // An empty range: one reply, complete.
    let replies = ask_range(&mut s, &mut g, &net, 10, 5, None);
    assert_eq!(replies.len(), 1);
    assert_eq!(check_chunking(&replies, 10, 5), 0);
}

#[test]
fn overlapping_and_flooding_queries_are_refused() {
    let net = Generator::new(8, SyntheticConfig::small(10, 10)).generate();
    let mut g = full_graph(&net);
    let mut s = GossipSync::new(SyncConfig::new(net.chain_hash));
    s.peer_connected(7, &features(false), net.now);
    let q = Message::QueryChannelRange(QueryChannelRange {
        chain_hash: net.chain_hash,
        first_blocknum: 0,
        number_of_blocks: u32::MAX,
        tlvs: Default::default(),
    });
    s.handle_message(7, &q, &mut g, None, net.now).unwrap();
    assert_eq!(
        s.handle_message(7, &q, &mut g, None, net.now),
        Err(SyncError::OverlappingQuery("query_channel_range"))
    );
    drain(&mut s, 7, &g, net.now);
    // Rate: the burst, then refusals until time passes.
    let mut refused = 0;
    for _ in 0..100 {
        match s.handle_message(7, &q, &mut g, None, net.now) {
            Ok(()) => {
                drain(&mut s, 7, &g, net.now);
            }
            Err(SyncError::QueryRate) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(refused >= 100 - 20, "{refused}");
    s.handle_message(7, &q, &mut g, None, net.now + 60).unwrap();
    assert!(s.stats(7).unwrap().misbehaved > 0);
}

fn scid_query(
    net: &SyntheticNetwork,
    ids: Vec<ShortChannelId>,
    flags: Option<Vec<u64>>,
) -> Message {
    Message::QueryShortChannelIds(QueryShortChannelIds {
        chain_hash: net.chain_hash,
        encoded_short_ids: EncodedList::Uncompressed(ids),
        tlvs: QueryShortChannelIdsTlvs {
            query_flags: flags
                .map(|f| EncodedList::Uncompressed(f.into_iter().map(BigSize).collect())),
            ..Default::default()
        },
    })
}

#[test]
fn query_short_channel_ids_answers() {
    let net = Generator::new(11, SyntheticConfig::small(20, 30)).generate();
    let mut g = full_graph(&net);
    let mut s = GossipSync::new(SyncConfig::new(net.chain_hash));
    s.peer_connected(7, &features(true), net.now);
    drain(&mut s, 7, &g, net.now);
    let a0 = &net.channel_announcements[0];
    let a1 = &net.channel_announcements[1];
    let unknown = ShortChannelId::new(1, 1, 1).unwrap();
    // No flags: announcement, both updates, node announcements (deduped).
    let q = scid_query(
        &net,
        vec![a0.short_channel_id, a1.short_channel_id, unknown],
        None,
    );
    s.handle_message(7, &q, &mut g, None, net.now).unwrap();
    let out = drain(&mut s, 7, &g, net.now);
    let names: Vec<&str> = out.iter().map(|m| m.name()).collect();
    assert_eq!(names[0], "channel_announcement");
    assert_eq!(names[1..3], ["channel_update", "channel_update"]);
    assert_eq!(*names.last().unwrap(), "reply_short_channel_ids_end");
    let anns = names
        .iter()
        .filter(|n| **n == "channel_announcement")
        .count();
    let nodes: Vec<_> = out
        .iter()
        .filter_map(|m| match m {
            Message::NodeAnnouncement(n) => Some(n.node_id),
            _ => None,
        })
        .collect();
    let mut dedup = nodes.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(anns, 2);
    assert_eq!(nodes.len(), dedup.len(), "no duplicate node_announcement");
    let Message::ReplyShortChannelIdsEnd(end) = out.last().unwrap() else {
        panic!()
    };
    assert_eq!(end.full_information, 1);
    // With flags: exactly what was asked.
    let q = scid_query(
        &net,
        vec![a0.short_channel_id, a1.short_channel_id],
        Some(vec![query_flag::UPDATE_2, query_flag::ANNOUNCEMENT]),
    );
    s.handle_message(7, &q, &mut g, None, net.now).unwrap();
    let out = drain(&mut s, 7, &g, net.now);
    assert_eq!(out.len(), 3);
    let Message::ChannelUpdate(u) = &out[0] else {
        panic!()
    };
    assert_eq!(
        (u.short_channel_id, u.direction()),
        (a0.short_channel_id, 1)
    );
    assert!(matches!(&out[1], Message::ChannelAnnouncement(a) if a == a1));
    // Flags not one per id, zlib, overlapping: refused.
    let bad = scid_query(&net, vec![a0.short_channel_id], Some(vec![1, 2]));
    assert_eq!(
        s.handle_message(7, &bad, &mut g, None, net.now),
        Err(SyncError::BadQuery("query_flags not one per short id"))
    );
    let zlib = Message::QueryShortChannelIds(QueryShortChannelIds {
        chain_hash: net.chain_hash,
        encoded_short_ids: EncodedList::Zlib(vec![1, 2, 3]),
        tlvs: Default::default(),
    });
    assert!(matches!(
        s.handle_message(7, &zlib, &mut g, None, net.now),
        Err(SyncError::BadQuery(_))
    ));
    let q = scid_query(&net, vec![a0.short_channel_id], None);
    s.handle_message(7, &q, &mut g, None, net.now).unwrap();
    assert_eq!(
        s.handle_message(7, &q, &mut g, None, net.now),
        Err(SyncError::OverlappingQuery("query_short_channel_ids"))
    );
    drain(&mut s, 7, &g, net.now);
    // Another chain: nothing, and full_information 0.
    let mut other = scid_query(&net, vec![a0.short_channel_id], None);
    if let Message::QueryShortChannelIds(q) = &mut other {
        q.chain_hash = ChainHash::for_network(bitcoin::Network::Testnet);
    }
    s.handle_message(7, &other, &mut g, None, net.now).unwrap();
    let out = drain(&mut s, 7, &g, net.now);
    assert_eq!(out.len(), 1);
    let Message::ReplyShortChannelIdsEnd(end) = &out[0] else {
        panic!()
    };
    assert_eq!(end.full_information, 0);
}

fn filter(net: &SyntheticNetwork, first: u32, range: u32) -> Message {
    Message::GossipTimestampFilter(GossipTimestampFilter {
        chain_hash: net.chain_hash,
        first_timestamp: first,
        timestamp_range: range,
        tlvs: Default::default(),
    })
}

#[test]
fn timestamp_filter_dumps_only_its_range_announcements_first() {
    let net = Generator::new(12, SyntheticConfig::small(20, 40)).generate();
    let mut g = full_graph(&net);
    let mut s = GossipSync::new(SyncConfig::new(net.chain_hash));
    s.peer_connected(7, &features(false), net.now);
    drain(&mut s, 7, &g, net.now);
    let first = (net.now - 5 * 86_400) as u32;
    let range = 3 * 86_400;
    s.handle_message(7, &filter(&net, first, range), &mut g, None, net.now)
        .unwrap();
    let out = drain(&mut s, 7, &g, net.now);
    assert!(!out.is_empty());
    let in_range = |t: u32| t >= first && u64::from(t) < u64::from(first) + u64::from(range);
    let mut announced = std::collections::HashSet::new();
    for m in &out {
        match m {
            Message::ChannelAnnouncement(a) => {
                announced.insert(a.short_channel_id);
            }
            Message::ChannelUpdate(u) => {
                assert!(in_range(u.timestamp));
                assert!(
                    announced.contains(&u.short_channel_id),
                    "announcement first"
                );
            }
            Message::NodeAnnouncement(n) => assert!(in_range(n.timestamp)),
            other => panic!("{}", other.name()),
        }
    }
    let expect = net
        .channel_updates
        .iter()
        .filter(|u| in_range(u.timestamp))
        .count();
    let got = out.iter().filter(|m| m.name() == "channel_update").count();
    assert_eq!(got, expect);
    // A second filter soon after does not restart the dump.
    s.handle_message(7, &filter(&net, 0, u32::MAX), &mut g, None, net.now + 1)
        .unwrap();
    assert!(drain(&mut s, 7, &g, net.now + 1).is_empty());
}

#[test]
fn new_gossip_is_relayed_at_the_flush_to_peers_that_asked() {
    let net = Generator::new(13, SyntheticConfig::small(10, 12)).generate();
    let mut g = full_graph(&net);
    // A channel the graph does not hold yet, announced and updated by
    // peer 1.
    let extra = Generator::new(14, SyntheticConfig::small(6, 3)).generate();
    let mut utxos = net.utxos.clone();
    utxos.outputs.extend(extra.utxos.outputs.clone());
    let mut s = GossipSync::new(SyncConfig::new(net.chain_hash));
    for p in 1..=3 {
        s.peer_connected(p, &features(false), net.now);
        drain(&mut s, p, &g, net.now);
    }
    // Peer 2 asks for everything new; peer 3 for nothing.
    s.handle_message(
        2,
        &filter(&net, net.now as u32 - 86_400 * 20, u32::MAX),
        &mut g,
        None,
        net.now,
    )
    .unwrap();
    drain(&mut s, 2, &g, net.now);
    s.handle_message(3, &filter(&net, u32::MAX, 0), &mut g, None, net.now)
        .unwrap();
    let a = &extra.channel_announcements[0];
    s.handle_message(
        1,
        &Message::ChannelAnnouncement(a.clone()),
        &mut g,
        Some(&utxos),
        net.now,
    )
    .unwrap();
    s.handle_message(
        1,
        &Message::ChannelUpdate(extra.channel_updates[0].clone()),
        &mut g,
        Some(&utxos),
        net.now,
    )
    .unwrap();
    // Nothing before the flush.
    assert!(drain(&mut s, 2, &g, net.now).is_empty());
    s.handle_timeout(&g, net.now);
    let out = drain(&mut s, 2, &g, net.now);
    assert_eq!(out.len(), 2);
    assert!(matches!(&out[0], Message::ChannelAnnouncement(x) if x == a));
    assert!(matches!(&out[1], Message::ChannelUpdate(u) if *u == extra.channel_updates[0]));
    assert!(drain(&mut s, 3, &g, net.now).is_empty());
    // Peer 1 (no filter sent) gets nothing either.
    assert!(drain(&mut s, 1, &g, net.now).is_empty());
}

#[test]
fn relay_queues_are_bounded() {
    let net = Generator::new(15, SyntheticConfig::small(30, 60)).generate();
    let mut g = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    for a in &net.channel_announcements {
        g.handle_channel_announcement(a, Some(&net.utxos), net.now)
            .unwrap();
    }
    let mut cfg = SyncConfig::new(net.chain_hash);
    cfg.max_relay_queue = 10;
    let mut s = GossipSync::new(cfg);
    s.peer_connected(1, &features(false), net.now);
    s.peer_connected(2, &features(false), net.now);
    s.handle_message(2, &filter(&net, 0, u32::MAX), &mut g, None, net.now)
        .unwrap();
    drain(&mut s, 2, &g, net.now);
    for u in &net.channel_updates {
        s.handle_message(1, &Message::ChannelUpdate(u.clone()), &mut g, None, net.now)
            .unwrap();
    }
    s.handle_timeout(&g, net.now);
    assert_eq!(s.relay_queue_len(2), 10);
    assert!(s.stats(2).unwrap().relay_dropped > 0);
}

// ---- hostile replies ----------------------------------------------------

fn range_reply(
    net: &SyntheticNetwork,
    first: u32,
    number: u32,
    complete: bool,
    ids: Vec<ShortChannelId>,
) -> Message {
    Message::ReplyChannelRange(ReplyChannelRange {
        chain_hash: net.chain_hash,
        first_blocknum: first,
        number_of_blocks: number,
        sync_complete: u8::from(complete),
        encoded_short_ids: EncodedList::Uncompressed(ids),
        tlvs: Default::default(),
    })
}

fn querying(net: &SyntheticNetwork) -> (GossipSync, NetworkGraph) {
    let g = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    let mut s = GossipSync::new(SyncConfig::new(net.chain_hash));
    s.peer_connected(1, &features(false), net.now);
    let out = drain(&mut s, 1, &g, net.now);
    assert!(matches!(out[1], Message::QueryChannelRange(_)));
    (s, g)
}

fn scid(block: u32, tx: u32) -> ShortChannelId {
    ShortChannelId::new(block, tx, 0).unwrap()
}

#[test]
fn hostile_range_replies_are_rejected() {
    let net = Generator::new(16, SyntheticConfig::small(4, 3)).generate();
    type Case = (&'static str, Vec<Message>);
    let cases: Vec<Case> = vec![
        (
            "first reply does not cover the query's start",
            vec![range_reply(&net, 10, 100, false, vec![])],
        ),
        (
            "replies out of order",
            vec![
                range_reply(&net, 0, 600_000, false, vec![]),
                range_reply(&net, 500_000, 10, false, vec![]),
                range_reply(&net, 400_000, 10, false, vec![]),
            ],
        ),
        (
            "short id outside its reply's blocks",
            vec![range_reply(&net, 0, 100, false, vec![scid(200, 1)])],
        ),
        (
            "short ids not ascending",
            vec![range_reply(
                &net,
                0,
                1000,
                false,
                vec![scid(20, 1), scid(10, 1)],
            )],
        ),
        (
            "short ids not ascending",
            vec![range_reply(
                &net,
                0,
                1000,
                false,
                vec![scid(20, 1), scid(20, 1)],
            )],
        ),
        (
            "final reply does not reach the query's end",
            vec![range_reply(&net, 0, 1000, true, vec![])],
        ),
    ];
    for (why, msgs) in cases {
        let (mut s, mut g) = querying(&net);
        let mut result = Ok(());
        for m in &msgs {
            result = s.handle_message(1, m, &mut g, None, net.now);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(SyncError::BadReply(why)), "{why}");
        assert_eq!(s.range_query_state(1), Some(RangeQueryState::Failed));
        // The query is over: a further reply is unsolicited.
        assert_eq!(
            s.handle_message(1, &msgs[0], &mut g, None, net.now),
            Err(SyncError::BadReply("unsolicited reply_channel_range"))
        );
    }
    // Timestamps not one per id.
    let (mut s, mut g) = querying(&net);
    let mut m = range_reply(&net, 0, u32::MAX, true, vec![scid(5, 1)]);
    if let Message::ReplyChannelRange(r) = &mut m {
        r.tlvs.timestamps_tlv = Some(EncodedList::Uncompressed(vec![]));
    }
    assert_eq!(
        s.handle_message(1, &m, &mut g, None, net.now),
        Err(SyncError::BadReply("timestamps do not match the short ids"))
    );
}

#[test]
fn a_reply_flood_is_cut_off() {
    let net = Generator::new(16, SyntheticConfig::small(4, 3)).generate();
    let (mut s, mut g) = querying(&net);
    let mut err = None;
    for i in 0..20_000u32 {
        let ids = vec![scid(i + 1, 1)];
        let m = range_reply(&net, i, 1_000_000, false, ids);
        if let Err(e) = s.handle_message(1, &m, &mut g, None, net.now) {
            err = Some((i, e));
            break;
        }
    }
    let (i, e) = err.unwrap();
    assert_eq!(e, SyncError::BadReply("too many replies"));
    assert_eq!(i as usize, s.config().max_range_replies);
}

#[test]
fn good_replies_lead_to_queries_one_at_a_time() {
    let net = Generator::new(17, SyntheticConfig::small(4, 3)).generate();
    let mut cfg = SyncConfig::new(net.chain_hash);
    cfg.query_batch = 2;
    let g0 = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    let mut g = g0;
    let mut s = GossipSync::new(cfg);
    s.peer_connected(1, &features(false), net.now);
    drain(&mut s, 1, &g, net.now);
    // Two replies; duplicates across replies are asked for once.
    let r1 = range_reply(
        &net,
        0,
        100,
        false,
        vec![scid(1, 1), scid(2, 1), scid(50, 3)],
    );
    let r2 = range_reply(
        &net,
        50,
        u32::MAX - 50,
        true,
        vec![scid(50, 3), scid(60, 1)],
    );
    s.handle_message(1, &r1, &mut g, None, net.now).unwrap();
    s.handle_message(1, &r2, &mut g, None, net.now).unwrap();
    assert_eq!(
        s.range_query_state(1),
        Some(RangeQueryState::Complete { scids: 5 })
    );
    let out = drain(&mut s, 1, &g, net.now);
    assert_eq!(
        out.len(),
        1,
        "one query_short_channel_ids outstanding at a time"
    );
    let Message::QueryShortChannelIds(q) = &out[0] else {
        panic!()
    };
    assert_eq!(
        q.encoded_short_ids.items().unwrap(),
        &[scid(1, 1), scid(2, 1)]
    );
    let end = Message::ReplyShortChannelIdsEnd(ReplyShortChannelIdsEnd {
        chain_hash: net.chain_hash,
        full_information: 1,
        tlvs: Default::default(),
    });
    s.handle_message(1, &end, &mut g, None, net.now).unwrap();
    let out = drain(&mut s, 1, &g, net.now);
    let Message::QueryShortChannelIds(q) = &out[0] else {
        panic!()
    };
    assert_eq!(
        q.encoded_short_ids.items().unwrap(),
        &[scid(50, 3), scid(60, 1)]
    );
    s.handle_message(1, &end, &mut g, None, net.now).unwrap();
    assert!(drain(&mut s, 1, &g, net.now).is_empty());
    // An end nobody asked for.
    assert_eq!(
        s.handle_message(1, &end, &mut g, None, net.now),
        Err(SyncError::BadReply(
            "unsolicited reply_short_channel_ids_end"
        ))
    );
}

#[test]
fn invalid_gossip_from_a_peer_is_reported() {
    let net = Generator::new(18, SyntheticConfig::small(4, 3)).generate();
    let mut g = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    let mut s = GossipSync::new(SyncConfig::new(net.chain_hash));
    s.peer_connected(1, &features(false), net.now);
    let mut a = net.channel_announcements[0].clone();
    a.node_signature_1 = a.node_signature_2;
    let r = s.handle_message(
        1,
        &Message::ChannelAnnouncement(a),
        &mut g,
        Some(&net.utxos),
        net.now,
    );
    assert!(matches!(
        r,
        Err(SyncError::Gossip(GossipError::InvalidSignature { .. }))
    ));
    // Stale or unknown gossip is ignored, not an error.
    let r = s.handle_message(
        1,
        &Message::ChannelUpdate(net.channel_updates[0].clone()),
        &mut g,
        Some(&net.utxos),
        net.now,
    );
    assert_eq!(r, Ok(()));
    let st = s.stats(1).unwrap();
    assert_eq!((st.misbehaved, st.ignored), (1, 1));
}

#[test]
fn a_second_sync_with_timestamps_asks_only_for_what_changed() {
    use lightning_test_support::gossip::sign_channel_update;
    use secp256k1::{PublicKey, SECP256K1};
    let net = Generator::new(19, SyntheticConfig::small(20, 30)).generate();
    let (mut full, mut synced) = sync_pair(&net, true);
    // A newer update for direction 1 of channel 3 reaches only `full`.
    let a = &net.channel_announcements[3];
    let sk = *net
        .node_secrets
        .iter()
        .find(|s| PublicKey::from_secret_key(SECP256K1, s) == a.node_id_2)
        .unwrap();
    let mut u = net.channel_updates[7].clone();
    u.timestamp += 100;
    u.fee_base_msat += 1;
    sign_channel_update(&mut u, &sk);
    full.handle_channel_update(&u, net.now).unwrap();
    let mut srv = GossipSync::new(SyncConfig::new(net.chain_hash));
    let mut cli = GossipSync::new(SyncConfig::new(net.chain_hash));
    srv.peer_connected(1, &features(true), net.now);
    cli.peer_connected(2, &features(true), net.now);
    drain(&mut srv, 1, &full, net.now);
    // The client's filter and range query go to the server.
    for m in drain(&mut cli, 2, &synced, net.now) {
        srv.handle_message(1, &m, &mut full, None, net.now).unwrap();
    }
    for m in drain(&mut srv, 1, &full, net.now) {
        cli.handle_message(2, &m, &mut synced, None, net.now)
            .unwrap();
    }
    let out = drain(&mut cli, 2, &synced, net.now);
    assert_eq!(out.len(), 1);
    let Message::QueryShortChannelIds(q) = &out[0] else {
        panic!("{}", out[0].name())
    };
    assert_eq!(q.encoded_short_ids.items().unwrap(), &[a.short_channel_id]);
    let flags = q.tlvs.query_flags.as_ref().unwrap().items().unwrap();
    assert_eq!(flags, &[BigSize(query_flag::UPDATE_2)]);
    srv.handle_message(1, &out[0], &mut full, None, net.now)
        .unwrap();
    let answer = drain(&mut srv, 1, &full, net.now);
    assert_eq!(answer.len(), 2);
    for m in &answer {
        cli.handle_message(2, m, &mut synced, None, net.now)
            .unwrap();
    }
    same_graph(&full, &synced);
}

#[test]
fn messages_with_a_large_extension_are_not_relayed() {
    use lightning_test_support::gossip::sign_channel_update;
    use lightning_wire::tlv::TlvRecord;
    use secp256k1::{PublicKey, SECP256K1};
    let net = Generator::new(20, SyntheticConfig::small(6, 4)).generate();
    let mut g = full_graph(&net);
    let mut s = GossipSync::new(SyncConfig::new(net.chain_hash));
    s.peer_connected(1, &features(false), net.now);
    s.peer_connected(2, &features(false), net.now);
    s.handle_message(2, &filter(&net, 0, u32::MAX), &mut g, None, net.now)
        .unwrap();
    let dumped = drain(&mut s, 2, &g, net.now);
    let a = &net.channel_announcements[0];
    let sk = *net
        .node_secrets
        .iter()
        .find(|k| PublicKey::from_secret_key(SECP256K1, k) == a.node_id_1)
        .unwrap();
    let mut big = net.channel_updates[0].clone();
    big.timestamp += 10;
    big.tlvs.unknown.0.push(TlvRecord {
        r#type: 101,
        value: vec![0; 2_000],
    });
    sign_channel_update(&mut big, &sk);
    s.handle_message(
        1,
        &Message::ChannelUpdate(big.clone()),
        &mut g,
        None,
        net.now,
    )
    .unwrap();
    let idx = g.channel_by_scid(a.short_channel_id).unwrap();
    assert_eq!(g.channel_update_msg(idx, 0), Some(big), "applied");
    s.handle_timeout(&g, net.now);
    assert!(drain(&mut s, 2, &g, net.now).is_empty(), "not relayed");
    assert!(!dumped.is_empty());
}

#[test]
fn announcements_without_updates_are_never_dumped_and_other_chains_get_empty_replies() {
    let net = Generator::new(21, SyntheticConfig::small(8, 10)).generate();
    let mut g = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    for a in &net.channel_announcements {
        g.handle_channel_announcement(a, Some(&net.utxos), net.now)
            .unwrap();
    }
    let mut s = GossipSync::new(SyncConfig::new(net.chain_hash));
    s.peer_connected(7, &features(false), net.now);
    drain(&mut s, 7, &g, net.now);
    s.handle_message(7, &filter(&net, 0, u32::MAX), &mut g, None, net.now)
        .unwrap();
    assert!(drain(&mut s, 7, &g, net.now).is_empty());
    // One update: its channel's announcement, then the update.
    g.handle_channel_update(&net.channel_updates[4], net.now)
        .unwrap();
    s.handle_message(7, &filter(&net, 0, u32::MAX), &mut g, None, net.now + 3_600)
        .unwrap();
    let out = drain(&mut s, 7, &g, net.now + 3_600);
    let names: Vec<&str> = out.iter().map(|m| m.name()).collect();
    assert_eq!(names, ["channel_announcement", "channel_update"]);
    // query_channel_range for another chain: one empty, complete reply
    // with the query's chain_hash.
    let testnet = ChainHash::for_network(bitcoin::Network::Testnet);
    let q = Message::QueryChannelRange(QueryChannelRange {
        chain_hash: testnet,
        first_blocknum: 0,
        number_of_blocks: 1_000_000,
        tlvs: Default::default(),
    });
    s.handle_message(7, &q, &mut g, None, net.now).unwrap();
    let out = drain(&mut s, 7, &g, net.now);
    assert_eq!(out.len(), 1);
    let Message::ReplyChannelRange(r) = &out[0] else {
        panic!()
    };
    assert_eq!(r.chain_hash, testnet);
    assert_eq!(r.sync_complete, 1);
    assert!(r.encoded_short_ids.items().unwrap().is_empty());
}
