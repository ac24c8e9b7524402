//! Our side of the queries: `query_channel_range` and the checks on its
//! `reply_channel_range`s, then `query_short_channel_ids` in batches, one
//! at a time (BOLT 7: the sender "MUST NOT send `query_short_channel_ids`
//! if it has sent a previous `query_short_channel_ids` to this peer and not
//! received `reply_short_channel_ids_end`").

use std::collections::{HashSet, VecDeque};

use lightning_wire::bigsize::BigSize;
use lightning_wire::msgs::{
    query_flag, query_option, EncodedList, Message, QueryChannelRange, QueryChannelRangeTlvs,
    QueryShortChannelIds, QueryShortChannelIdsTlvs, ReplyChannelRange, ReplyShortChannelIdsEnd,
};
use lightning_wire::types::ShortChannelId;

use super::{SyncConfig, SyncError};
use crate::graph::NetworkGraph;

/// Everything about one channel.
const ALL: u8 = (query_flag::ANNOUNCEMENT
    | query_flag::UPDATE_1
    | query_flag::UPDATE_2
    | query_flag::NODE_1
    | query_flag::NODE_2) as u8;

/// Where our range query to a peer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeQueryState {
    /// None sent.
    Idle,
    /// Replies are arriving.
    InProgress {
        /// Replies so far.
        replies: usize,
        /// Short channel ids so far.
        scids: usize,
    },
    /// The last reply arrived.
    Complete {
        /// Short channel ids received.
        scids: usize,
    },
    /// The peer broke the reply rules; the query was abandoned.
    Failed,
}

#[derive(Debug)]
struct RangeQuery {
    first: u32,
    end: u64,
    last_first: Option<u32>,
    replies: usize,
    scids: usize,
}

#[derive(Debug)]
pub(crate) struct FetchState {
    range: Option<RangeQuery>,
    outcome: RangeQueryState,
    use_flags: bool,
    wanted: VecDeque<(u64, u8)>,
    wanted_set: HashSet<u64>,
    scid_query_out: bool,
    /// Wanted ids dropped over [`SyncConfig::max_wanted`].
    pub(crate) dropped: u64,
}

impl Default for FetchState {
    fn default() -> Self {
        FetchState {
            range: None,
            outcome: RangeQueryState::Idle,
            use_flags: false,
            wanted: VecDeque::new(),
            wanted_set: HashSet::new(),
            scid_query_out: false,
            dropped: 0,
        }
    }
}

fn block_of(scid: u64) -> u32 {
    ShortChannelId(scid).block()
}

impl FetchState {
    pub(crate) fn state(&self) -> RangeQueryState {
        match &self.range {
            Some(q) => RangeQueryState::InProgress {
                replies: q.replies,
                scids: q.scids,
            },
            None => self.outcome,
        }
    }

    /// Our query over every block, with timestamps if the peer offers
    /// `gossip_queries_ex`.
    pub(crate) fn start_range_query(&mut self, config: &SyncConfig, queries_ex: bool) -> Message {
        self.use_flags = queries_ex;
        self.range = Some(RangeQuery {
            first: 0,
            end: u64::from(u32::MAX),
            last_first: None,
            replies: 0,
            scids: 0,
        });
        Message::QueryChannelRange(QueryChannelRange {
            chain_hash: config.chain_hash,
            first_blocknum: 0,
            number_of_blocks: u32::MAX,
            tlvs: QueryChannelRangeTlvs {
                query_option: queries_ex.then_some(BigSize(query_option::WANT_TIMESTAMPS)),
                ..Default::default()
            },
        })
    }

    /// Adds a short channel id to ask for (`flags` 0: everything).
    pub(crate) fn want(&mut self, config: &SyncConfig, scid: u64, flags: u8) {
        if self.wanted_set.contains(&scid) {
            return;
        }
        if self.wanted.len() >= config.max_wanted {
            self.dropped += 1;
            return;
        }
        self.wanted_set.insert(scid);
        self.wanted.push_back((scid, flags));
    }

    fn fail(&mut self, why: &'static str) -> Result<(), SyncError> {
        self.range = None;
        self.outcome = RangeQueryState::Failed;
        Err(SyncError::BadReply(why))
    }

    /// Checks a `reply_channel_range` against BOLT 7's rules for the
    /// replier and collects what we lack. A broken reply abandons the
    /// query.
    pub(crate) fn handle_reply_channel_range(
        &mut self,
        config: &SyncConfig,
        graph: &NetworkGraph,
        m: &ReplyChannelRange,
    ) -> Result<(), SyncError> {
        let Some(q) = &mut self.range else {
            return Err(SyncError::BadReply("unsolicited reply_channel_range"));
        };
        if m.chain_hash != config.chain_hash {
            return self.fail("reply_channel_range for another chain");
        }
        let end = u64::from(m.first_blocknum) + u64::from(m.number_of_blocks);
        match q.last_first {
            // "the first `reply_channel_range` message: MUST set
            // `first_blocknum` less than or equal to the `first_blocknum`
            // in `query_channel_range`; MUST set `first_blocknum` plus
            // `number_of_blocks` greater than `first_blocknum` in
            // `query_channel_range`."
            None if m.first_blocknum > q.first || end <= u64::from(q.first) => {
                return self.fail("first reply does not cover the query's start");
            }
            // "successive `reply_channel_range` message: MUST have
            // `first_blocknum` equal or greater than the previous".
            Some(prev) if m.first_blocknum < prev => {
                return self.fail("replies out of order");
            }
            _ => {}
        }
        let Some(ids) = m.encoded_short_ids.items() else {
            return self.fail("zlib-encoded short ids");
        };
        q.replies += 1;
        q.scids += ids.len();
        if q.replies > config.max_range_replies || q.scids > config.max_range_reply_scids {
            return self.fail("too many replies");
        }
        let mut prev: Option<u64> = None;
        for id in ids {
            let b = u64::from(block_of(id.0));
            if b < u64::from(m.first_blocknum) || b >= end {
                return self.fail("short id outside its reply's blocks");
            }
            if prev.is_some_and(|p| p >= id.0) {
                return self.fail("short ids not ascending");
            }
            prev = Some(id.0);
        }
        let stamps = match &m.tlvs.timestamps_tlv {
            Some(t) => match t.items() {
                Some(v) if v.len() == ids.len() => Some(v),
                _ => return self.fail("timestamps do not match the short ids"),
            },
            None => None,
        };
        q.last_first = Some(m.first_blocknum);
        let complete = m.sync_complete != 0;
        for (i, id) in ids.iter().enumerate() {
            let flags = match graph.channel_by_scid(*id) {
                None if graph.is_zombie(*id) => continue,
                None => ALL,
                Some(idx) => {
                    let (Some(ts), Some(ch)) = (stamps.map(|s| s[i]), graph.channel(idx)) else {
                        continue;
                    };
                    let mut f = 0u8;
                    let ours = |d: u8| ch.direction(d).map_or(0, |p| p.timestamp);
                    if ts.timestamp_node_id_1 > ours(0) {
                        f |= query_flag::UPDATE_1 as u8;
                    }
                    if ts.timestamp_node_id_2 > ours(1) {
                        f |= query_flag::UPDATE_2 as u8;
                    }
                    if f == 0 {
                        continue;
                    }
                    f
                }
            };
            self.want(config, id.0, flags);
        }
        if complete {
            // "the final `reply_channel_range` message: MUST have
            // `first_blocknum` plus `number_of_blocks` equal or greater
            // than the `query_channel_range` `first_blocknum` plus
            // `number_of_blocks`."
            if self.range.as_ref().is_some_and(|q| end < q.end) {
                return self.fail("final reply does not reach the query's end");
            }
            let scids = self.range.as_ref().map_or(0, |q| q.scids);
            self.range = None;
            self.outcome = RangeQueryState::Complete { scids };
        }
        Ok(())
    }

    /// Our next `query_short_channel_ids`, if one may be sent.
    pub(crate) fn next_query(
        &mut self,
        config: &SyncConfig,
        _graph: &NetworkGraph,
    ) -> Option<Message> {
        if self.scid_query_out || self.wanted.is_empty() {
            return None;
        }
        let n = self.wanted.len().min(config.query_batch.max(1));
        let mut batch: Vec<(u64, u8)> = self.wanted.drain(..n).collect();
        for (s, _) in &batch {
            self.wanted_set.remove(s);
        }
        // "encoding type 0: uncompressed array of `short_channel_id`
        // types, in ascending order".
        batch.sort_unstable();
        batch.dedup_by_key(|(s, _)| *s);
        self.scid_query_out = true;
        let flags = self.use_flags.then(|| {
            EncodedList::Uncompressed(
                batch
                    .iter()
                    .map(|(_, f)| BigSize(u64::from(if *f == 0 { ALL } else { *f })))
                    .collect(),
            )
        });
        Some(Message::QueryShortChannelIds(QueryShortChannelIds {
            chain_hash: config.chain_hash,
            encoded_short_ids: EncodedList::Uncompressed(
                batch.iter().map(|(s, _)| ShortChannelId(*s)).collect(),
            ),
            tlvs: QueryShortChannelIdsTlvs {
                query_flags: flags,
                ..Default::default()
            },
        }))
    }

    pub(crate) fn handle_reply_end(
        &mut self,
        config: &SyncConfig,
        m: &ReplyShortChannelIdsEnd,
    ) -> Result<(), SyncError> {
        if !self.scid_query_out {
            return Err(SyncError::BadReply(
                "unsolicited reply_short_channel_ids_end",
            ));
        }
        self.scid_query_out = false;
        if m.chain_hash != config.chain_hash {
            return Err(SyncError::BadReply(
                "reply_short_channel_ids_end for another chain",
            ));
        }
        Ok(())
    }
}
