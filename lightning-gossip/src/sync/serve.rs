//! The peer's side of the queries, answered lazily from the graph:
//! `reply_channel_range` chunks, the messages of `query_short_channel_ids`
//! and `reply_short_channel_ids_end`, and the historical dump a
//! `gossip_timestamp_filter` asks for. Each holds a cursor and at most a
//! handful of built messages, whatever the peer asked.

use std::collections::{HashSet, VecDeque};

use lightning_wire::codec::Encode;
use lightning_wire::msgs::{
    query_flag, query_option, ChannelUpdateChecksums, ChannelUpdateTimestamps, EncodedList,
    GossipTimestampFilter, Message, QueryChannelRange, QueryShortChannelIds, ReplyChannelRange,
    ReplyChannelRangeTlvs, ReplyShortChannelIdsEnd,
};
use lightning_wire::types::{ChainHash, ShortChannelId};

use super::{PeerState, RelayItem, SyncConfig, SyncError};
use crate::checksum::channel_update_checksum;
use crate::graph::NetworkGraph;
use crate::store::{ChannelIdx, NodeIdx};

/// The largest message body (BOLT 8 frames a message with a `u16`).
const MAX_MSG: usize = 65_535;
/// `reply_channel_range` without ids or TLVs: type, chain hash, two
/// `u32`, `sync_complete`, `len`, encoding byte.
const RANGE_REPLY_BASE: usize = 2 + 32 + 4 + 4 + 1 + 2 + 1;
/// Room for the TLV headers (type, length, encoding byte) of both records.
const TLV_HEADERS: usize = 2 * (1 + 5 + 1);
/// Blocks a `short_channel_id` can name (3 bytes).
const MAX_BLOCKS: u64 = 1 << 24;

#[derive(Debug)]
struct RangeServe {
    chain_ok: bool,
    chain_hash: ChainHash,
    query_first: u32,
    query_end: u64,
    cursor: u64,
    end_key: u64,
    want_ts: bool,
    want_cs: bool,
    sent_any: bool,
}

#[derive(Debug)]
struct ScidServe {
    chain_ok: bool,
    chain_hash: ChainHash,
    scids: Vec<ShortChannelId>,
    flags: Option<Vec<u64>>,
    pos: usize,
    pending: VecDeque<Message>,
    sent_nodes: HashSet<u32>,
}

#[derive(Debug)]
struct Dump {
    chan_cursor: usize,
    node_cursor: usize,
    pending: VecDeque<Message>,
}

#[derive(Debug, Default)]
pub(crate) struct ServeState {
    range: Option<RangeServe>,
    scids: Option<ScidServe>,
    dump: Option<Dump>,
    last_dump_at: Option<u64>,
}

/// `gossip_timestamp_filter` (BOLT 7): the filter replaces any previous
/// one; the receiver "SHOULD send all gossip messages whose `timestamp` is
/// greater or equal to `first_timestamp`, and less than `first_timestamp`
/// plus `timestamp_range`". The dump of what we hold starts at most once
/// per [`SyncConfig::min_dump_interval_secs`].
pub(crate) fn handle_filter(
    st: &mut PeerState,
    config: &SyncConfig,
    m: &GossipTimestampFilter,
    now: u64,
) {
    if m.chain_hash != config.chain_hash {
        st.filter = None;
        st.serve.dump = None;
        return;
    }
    let end = u64::from(m.first_timestamp) + u64::from(m.timestamp_range);
    st.filter = Some((m.first_timestamp, end));
    if m.timestamp_range == 0 {
        st.serve.dump = None;
        return;
    }
    let allowed = st
        .serve
        .last_dump_at
        .is_none_or(|t| now >= t.saturating_add(u64::from(config.min_dump_interval_secs)));
    if allowed {
        st.serve.last_dump_at = Some(now);
        st.serve.dump = Some(Dump {
            chan_cursor: 0,
            node_cursor: 0,
            pending: VecDeque::new(),
        });
    }
}

/// The first `short_channel_id` of block `b` (saturating past the last
/// block a `short_channel_id` can name).
fn block_key(b: u64) -> u64 {
    if b >= MAX_BLOCKS {
        u64::MAX
    } else {
        b << 40
    }
}

pub(crate) fn handle_query_channel_range(
    st: &mut PeerState,
    m: &QueryChannelRange,
) -> Result<(), SyncError> {
    if st.serve.range.is_some() {
        return Err(SyncError::OverlappingQuery("query_channel_range"));
    }
    let number = u64::from(m.number_of_blocks.max(1));
    let query_end = u64::from(m.first_blocknum) + number;
    let opt = m.tlvs.query_option.map_or(0, |b| b.0);
    st.serve.range = Some(RangeServe {
        chain_ok: true,
        chain_hash: m.chain_hash,
        query_first: m.first_blocknum,
        query_end,
        cursor: block_key(u64::from(m.first_blocknum)),
        end_key: block_key(query_end),
        want_ts: opt & query_option::WANT_TIMESTAMPS != 0,
        want_cs: opt & query_option::WANT_CHECKSUMS != 0,
        sent_any: false,
    });
    Ok(())
}

pub(crate) fn handle_query_short_channel_ids(
    st: &mut PeerState,
    _config: &SyncConfig,
    m: &QueryShortChannelIds,
) -> Result<(), SyncError> {
    if st.serve.scids.is_some() {
        return Err(SyncError::OverlappingQuery("query_short_channel_ids"));
    }
    // "if the first byte of `encoded_short_ids` is not a known encoding
    // type: MAY send a `warning`": zlib "MUST NOT be used".
    let Some(ids) = m.encoded_short_ids.items() else {
        return Err(SyncError::BadQuery("zlib-encoded short ids"));
    };
    let flags = match &m.tlvs.query_flags {
        None => None,
        Some(f) => match f.items() {
            // "if `encoded_query_flags` does not decode to exactly one
            // flag per `short_channel_id`: MAY send a `warning`".
            Some(v) if v.len() == ids.len() => Some(v.iter().map(|b| b.0).collect()),
            _ => return Err(SyncError::BadQuery("query_flags not one per short id")),
        },
    };
    st.serve.scids = Some(ScidServe {
        chain_ok: true,
        chain_hash: m.chain_hash,
        scids: ids.to_vec(),
        flags,
        pos: 0,
        pending: VecDeque::new(),
        sent_nodes: HashSet::new(),
    });
    Ok(())
}

/// The next answer to the peer's queries.
pub(crate) fn next_reply(
    st: &mut PeerState,
    config: &SyncConfig,
    graph: &NetworkGraph,
) -> Option<Message> {
    if let Some(m) = next_scid_reply(&mut st.serve, config, graph) {
        return Some(m);
    }
    next_range_reply(&mut st.serve, config, graph)
}

fn next_scid_reply(
    serve: &mut ServeState,
    config: &SyncConfig,
    graph: &NetworkGraph,
) -> Option<Message> {
    let s = serve.scids.as_mut()?;
    if s.chain_ok && s.chain_hash != config.chain_hash {
        s.chain_ok = false;
        s.pos = s.scids.len();
    }
    loop {
        if let Some(m) = s.pending.pop_front() {
            return Some(m);
        }
        let Some(scid) = s.scids.get(s.pos).copied() else {
            break;
        };
        let flag = s.flags.as_ref().and_then(|f| f.get(s.pos).copied());
        s.pos += 1;
        // Without flags: "with a `channel_announcement` and the latest
        // `channel_update` for each end", then "any `node_announcement`s".
        let flag = flag.unwrap_or(
            query_flag::ANNOUNCEMENT
                | query_flag::UPDATE_1
                | query_flag::UPDATE_2
                | query_flag::NODE_1
                | query_flag::NODE_2,
        );
        let Some(idx) = graph.channel_by_scid(scid) else {
            continue;
        };
        let Some(ch) = graph.channel(idx) else {
            continue;
        };
        if flag & query_flag::ANNOUNCEMENT != 0 {
            if let Some(a) = graph.channel_announcement_msg(idx) {
                s.pending.push_back(Message::ChannelAnnouncement(a));
            }
        }
        for (bit, dir) in [(query_flag::UPDATE_1, 0u8), (query_flag::UPDATE_2, 1)] {
            if flag & bit != 0 {
                if let Some(u) = graph.channel_update_msg(idx, dir) {
                    s.pending.push_back(Message::ChannelUpdate(u));
                }
            }
        }
        for (bit, node) in [
            (query_flag::NODE_1, ch.node_one()),
            (query_flag::NODE_2, ch.node_two()),
        ] {
            // "SHOULD avoid sending duplicate `node_announcements` in
            // response to a single `query_short_channel_ids`."
            if flag & bit != 0 && !s.sent_nodes.contains(&node.0) {
                if let Some(n) = graph.node_announcement_msg(node) {
                    s.sent_nodes.insert(node.0);
                    s.pending.push_back(Message::NodeAnnouncement(n));
                }
            }
        }
    }
    let end = ReplyShortChannelIdsEnd {
        chain_hash: s.chain_hash,
        full_information: u8::from(s.chain_ok),
        tlvs: Default::default(),
    };
    serve.scids = None;
    Some(Message::ReplyShortChannelIdsEnd(end))
}

fn next_range_reply(
    serve: &mut ServeState,
    config: &SyncConfig,
    graph: &NetworkGraph,
) -> Option<Message> {
    let r = serve.range.as_mut()?;
    if r.chain_hash != config.chain_hash {
        r.chain_ok = false;
    }
    let per = 8 + if r.want_ts { 8 } else { 0 } + if r.want_cs { 8 } else { 0 };
    let chunk = (MAX_MSG - RANGE_REPLY_BASE - TLV_HEADERS) / per;
    let ids: Vec<(ShortChannelId, ChannelIdx)> = if r.chain_ok && r.cursor < r.end_key {
        graph
            .scids_in(r.cursor..r.end_key)
            .take(chunk + 1)
            .collect()
    } else {
        Vec::new()
    };
    let last = ids.len() <= chunk;
    let ids = &ids[..ids.len().min(chunk)];
    let first_blocknum = if r.sent_any {
        ids.first().map_or(r.query_first, |(s, _)| s.block())
    } else {
        r.query_first
    };
    // The last reply reaches the query's end ("MUST have `first_blocknum`
    // plus `number_of_blocks` equal or greater than the
    // `query_channel_range` `first_blocknum` plus `number_of_blocks`");
    // the others end with their last id's block.
    let end = if last {
        r.query_end
    } else {
        ids.last()
            .map_or(r.query_end, |(s, _)| u64::from(s.block()) + 1)
    };
    let number_of_blocks =
        u32::try_from(end.saturating_sub(u64::from(first_blocknum))).unwrap_or(u32::MAX);
    let mut tlvs = ReplyChannelRangeTlvs::default();
    if r.want_ts {
        tlvs.timestamps_tlv = Some(EncodedList::Uncompressed(
            ids.iter()
                .map(|(_, idx)| {
                    let ts = |d| {
                        graph
                            .channel(*idx)
                            .and_then(|c| c.direction(d))
                            .map_or(0, |p| p.timestamp)
                    };
                    ChannelUpdateTimestamps {
                        timestamp_node_id_1: ts(0),
                        timestamp_node_id_2: ts(1),
                    }
                })
                .collect(),
        ));
    }
    if r.want_cs {
        tlvs.checksums_tlv = Some(
            ids.iter()
                .map(|(_, idx)| {
                    let cs = |d| {
                        graph
                            .channel_update_msg(*idx, d)
                            .map_or(0, |u| channel_update_checksum(&u))
                    };
                    ChannelUpdateChecksums {
                        checksum_node_id_1: cs(0),
                        checksum_node_id_2: cs(1),
                    }
                })
                .collect(),
        );
    }
    let reply = ReplyChannelRange {
        chain_hash: r.chain_hash,
        first_blocknum,
        number_of_blocks,
        sync_complete: u8::from(last),
        encoded_short_ids: EncodedList::Uncompressed(ids.iter().map(|(s, _)| *s).collect()),
        tlvs,
    };
    r.sent_any = true;
    if let Some((s, _)) = ids.last() {
        r.cursor = s.0.saturating_add(1);
    }
    if last {
        serve.range = None;
    }
    Some(Message::ReplyChannelRange(reply))
}

/// The timestamp a relay item is filtered by. A `channel_announcement`
/// takes that of its latest `channel_update` and is not sent without one
/// (BOLT 7, `gossip_timestamp_filter`: "If a `channel_announcement` has no
/// corresponding `channel_update`s: MUST NOT send").
pub(crate) fn item_timestamp(graph: &NetworkGraph, item: RelayItem) -> Option<u32> {
    match item {
        RelayItem::Announcement(idx) => {
            let c = graph.channel(idx)?;
            [0u8, 1]
                .iter()
                .filter_map(|d| c.direction(*d).map(|p| p.timestamp))
                .max()
        }
        RelayItem::Update(idx, dir) => graph.channel(idx)?.direction(dir).map(|p| p.timestamp),
        RelayItem::Node(idx) => graph.node(idx)?.announcement().map(|a| a.timestamp),
    }
}

/// The message of a relay item, as the graph holds it now; `None` for an
/// update with `dont_forward` or a message whose unknown extension is over
/// [`GraphConfig::max_relay_extension_bytes`] (BOLT 7: "MAY choose NOT to
/// for messages longer than the minimum expected length").
///
/// [`GraphConfig::max_relay_extension_bytes`]: crate::GraphConfig::max_relay_extension_bytes
pub(crate) fn build(graph: &NetworkGraph, item: RelayItem) -> Option<Message> {
    let limit = graph.config().max_relay_extension_bytes;
    let small = |t: &lightning_wire::msgs::ExtensionTlvs| t.to_bytes().len() <= limit;
    match item {
        RelayItem::Announcement(idx) => graph
            .channel_announcement_msg(idx)
            .filter(|a| small(&a.tlvs))
            .map(Message::ChannelAnnouncement),
        RelayItem::Update(idx, dir) => graph
            .channel_update_msg(idx, dir)
            .filter(|u| !u.dont_forward() && small(&u.tlvs))
            .map(Message::ChannelUpdate),
        RelayItem::Node(idx) => graph
            .node_announcement_msg(idx)
            .filter(|n| small(&n.tlvs))
            .map(Message::NodeAnnouncement),
    }
}

/// The next message of the historical dump: each channel with an update
/// in the filter (announcement first, BOLT 7: "MUST send the
/// `channel_announcement` prior to any corresponding `channel_update`s"),
/// then the node announcements in the filter.
pub(crate) fn next_dump(st: &mut PeerState, graph: &NetworkGraph, _now: u64) -> Option<Message> {
    let (first, end) = st.filter?;
    let in_filter = |ts: u32| u64::from(ts) >= u64::from(first) && u64::from(ts) < end;
    let dump = st.serve.dump.as_mut()?;
    loop {
        if let Some(m) = dump.pending.pop_front() {
            return Some(m);
        }
        if dump.chan_cursor < graph.channel_slots() {
            let idx = ChannelIdx(dump.chan_cursor as u32);
            dump.chan_cursor += 1;
            let Some(c) = graph.channel(idx) else {
                continue;
            };
            let dirs: Vec<u8> = [0u8, 1]
                .into_iter()
                .filter(|d| c.direction(*d).is_some_and(|p| in_filter(p.timestamp)))
                .collect();
            if dirs.is_empty() {
                continue;
            }
            if let Some(a) = build(graph, RelayItem::Announcement(idx)) {
                dump.pending.push_back(a);
                for d in dirs {
                    if let Some(u) = build(graph, RelayItem::Update(idx, d)) {
                        dump.pending.push_back(u);
                    }
                }
            }
            continue;
        }
        if dump.node_cursor < graph.node_slots() {
            let idx = NodeIdx(dump.node_cursor as u32);
            dump.node_cursor += 1;
            if item_timestamp(graph, RelayItem::Node(idx)).is_some_and(in_filter) {
                if let Some(m) = build(graph, RelayItem::Node(idx)) {
                    return Some(m);
                }
            }
            continue;
        }
        st.serve.dump = None;
        return None;
    }
}
