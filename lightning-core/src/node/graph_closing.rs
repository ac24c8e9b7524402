//! Public channels closed on chain (BOLT 7, "Pruning the Network View":
//! "SHOULD monitor the funding transactions in the blockchain, to identify
//! channels that are being closed"; "once its funding output has been
//! spent OR reorganized out: SHOULD forget a channel after a 12-block
//! delay").
//!
//! - Every input of every transaction the node is given
//!   (`transactions_confirmed`: a full block's, or a light client's
//!   filtered ones) is looked up once in the graph's funding outpoint index
//!   ([`NetworkGraph::spent_input`](lightning_gossip::NetworkGraph::spent_input));
//!   a match closes the channel (no longer routed over), and each new tip
//!   forgets the channels whose spend has 12 confirmations. A disconnected
//!   block undoes the spends seen in it.
//! - Which outpoints are known: those the host's `UtxoLookup` answered
//!   (it gives the funding txid), and our own announced channels'. A light
//!   client without a lookup sees only its own channels close; the others
//!   fall to the two-week staleness rule. A light client with a lookup and
//!   a `WatchFilter` gets each funding output the lookup reveals
//!   registered with its filter (`NetworkGraphConfig::watch_funding_outputs`),
//!   as they are learned, and all of them again whenever a filter is set
//!   (`Node::set_watch_filter`), in particular after a restart.
//! - Full outpoints across restarts: the graph's index keeps only an
//!   8-byte prefix of each funding txid (16 bytes an entry, in memory),
//!   too little to register an output with a filter. The full outpoints
//!   live only in the store, in records of their own ([`FUNDING_PREFIX`],
//!   40 bytes an entry): the ones learned since the last snapshot are
//!   held in memory and written as one new record with each snapshot
//!   (the snapshot is re-encoded from the in-memory graph, and an async
//!   store cannot be read back before the host completes a write, so
//!   neither the snapshot nor a rewrite of one record could carry the
//!   older ones without holding them all in memory). On restore the
//!   records are merged into one without the channels the graph no
//!   longer holds; setting a filter reads them and registers each
//!   outpoint whose channel the graph still holds under that outpoint,
//!   its script the P2WSH of the announced funding keys. Nothing of it
//!   stays in memory. With `watch_funding_outputs` off no record is kept
//!   (and those of an earlier run are removed).
//! - Crash safety: the graph snapshot is written at most once per
//!   `snapshot_interval`, and a host does not replay blocks it already
//!   gave. So the spends seen since the last snapshot are also kept in a
//!   small record of their own, [`CLOSING_KEY`] (a few bytes per closing
//!   channel, written only in a block that closed a public channel or
//!   reorganised one back, and emptied with each snapshot). A spend
//!   reorganised out is recorded as a reopening (the snapshot may hold
//!   the spend), a new spend of it with its new height. On restore the
//!   record overrides the loaded graph's spends and the channels already
//!   12 blocks deep are forgotten.

use std::collections::HashSet;

use bitcoin::hashes::Hash;
use lightning_gossip::NetworkGraph;
use lightning_persist::KvStore;
use lightning_wire::types::ShortChannelId;

use super::{Node, NodeError, NAMESPACE};

/// The node's key (namespace [`NAMESPACE`]) of the funding spends seen
/// since the last graph snapshot: `version u8 = 2 | u32 count | count ×
/// (short_channel_id u64 | spend height u32)`, big-endian; height 0: the
/// spend was reorganised out (the channel is open again). Version 1, the
/// same without reopenings, is still read.
pub const CLOSING_KEY: &str = "gossip/closing";

const CLOSING_VERSION: u8 = 2;
const CLOSING_VERSION_1: u8 = 1;
/// A log entry's height for a spend reorganised out.
const REOPENED: u32 = 0;
/// Entries read back at most (a record past it is damaged).
const MAX_CLOSING_ENTRIES: usize = 1_000_000;

/// The prefix of the node's keys (namespace [`NAMESPACE`]) of the full
/// funding outpoints the `UtxoLookup` revealed (with
/// [`NetworkGraphConfig::watch_funding_outputs`](super::NetworkGraphConfig::watch_funding_outputs)
/// on), for a light client's filter after a restart: `gossip/funding/`
/// and a 10-digit sequence number. Each record is written once, with the
/// graph snapshot, holding the outpoints learned since the one before:
/// `version u8 = 1 | u32 count | count × (short_channel_id u64 | funding
/// txid [32])`, big-endian (the output index is the
/// `short_channel_id`'s, the script the P2WSH of the announced funding
/// keys). On restore the records are merged into one, without the
/// channels the graph no longer holds.
pub const FUNDING_PREFIX: &str = "gossip/funding/";

const FUNDING_VERSION: u8 = 1;
/// Entries of one funding record read back at most.
const MAX_FUNDING_ENTRIES: usize = 10_000_000;

/// Full funding outpoints awaiting their record ([`FUNDING_PREFIX`]).
#[derive(Debug, Default)]
pub(super) struct FundingLog {
    /// Learned since the last snapshot: `(short_channel_id, txid)`.
    unsaved: Vec<(u64, [u8; 32])>,
    /// The sequence number of the next record.
    next: u64,
}

fn encode_funding(entries: &[(u64, [u8; 32])]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + entries.len() * 40);
    out.push(FUNDING_VERSION);
    out.extend_from_slice(
        &u32::try_from(entries.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    for (scid, txid) in entries.iter().take(u32::MAX as usize) {
        out.extend_from_slice(&scid.to_be_bytes());
        out.extend_from_slice(txid);
    }
    out
}

/// The entries of a funding record; `None` if it is damaged.
fn decode_funding(bytes: &[u8]) -> Option<Vec<(u64, [u8; 32])>> {
    let (&version, rest) = bytes.split_first()?;
    if version != FUNDING_VERSION || rest.len() < 4 {
        return None;
    }
    let (n, body) = rest.split_at(4);
    let n = u32::from_be_bytes(n.try_into().ok()?) as usize;
    if n > MAX_FUNDING_ENTRIES || body.len() != n.checked_mul(40)? {
        return None;
    }
    Some(
        body.chunks_exact(40)
            .map(|c| {
                let mut scid = [0u8; 8];
                scid.copy_from_slice(&c[..8]);
                let mut txid = [0u8; 32];
                txid.copy_from_slice(&c[8..]);
                (u64::from_be_bytes(scid), txid)
            })
            .collect(),
    )
}

fn funding_key(seq: u64) -> String {
    format!("{FUNDING_PREFIX}{seq:010}")
}

/// The funding records in the store: `(key, sequence number, entries;
/// None if damaged)`.
type FundingRecord = (String, u64, Option<Vec<(u64, [u8; 32])>>);

fn read_funding_records(store: &dyn KvStore) -> Result<Vec<FundingRecord>, NodeError> {
    let keys = store
        .list_prefix(NAMESPACE, FUNDING_PREFIX)
        .map_err(|e| NodeError::Restore(format!("{FUNDING_PREFIX}: {e}")))?;
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let seq = key
            .strip_prefix(FUNDING_PREFIX)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        let v = store
            .read(NAMESPACE, &key)
            .map_err(|e| NodeError::Restore(format!("{key}: {e}")))?;
        let entries = v.and_then(|v| decode_funding(&v.value));
        out.push((key, seq, entries));
    }
    Ok(out)
}

/// The output to watch for a saved entry, if the graph still holds the
/// channel with that funding outpoint.
fn live_output(
    graph: &NetworkGraph,
    scid: u64,
    txid: &[u8; 32],
) -> Option<lightning_chain::WatchedOutput> {
    let scid = ShortChannelId(scid);
    let outpoint = bitcoin::OutPoint::new(
        bitcoin::Txid::from_byte_array(*txid),
        u32::from(scid.output_index()),
    );
    if !graph.knows_funding_outpoint(scid, &outpoint) {
        return None;
    }
    Some(lightning_chain::WatchedOutput {
        block_hash: None,
        outpoint,
        script_pubkey: graph.funding_script_pubkey(scid)?,
    })
}

fn encode_log(entries: impl ExactSizeIterator<Item = (u64, u32)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + entries.len() * 12);
    out.push(CLOSING_VERSION);
    out.extend_from_slice(
        &u32::try_from(entries.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    for (scid, height) in entries {
        out.extend_from_slice(&scid.to_be_bytes());
        out.extend_from_slice(&height.to_be_bytes());
    }
    out
}

/// The entries of a log record; `None` if it is damaged.
fn decode_log(bytes: &[u8]) -> Option<Vec<(u64, u32)>> {
    let (&version, rest) = bytes.split_first()?;
    if (version != CLOSING_VERSION && version != CLOSING_VERSION_1) || rest.len() < 4 {
        return None;
    }
    let (n, body) = rest.split_at(4);
    let n = u32::from_be_bytes(n.try_into().ok()?) as usize;
    if n > MAX_CLOSING_ENTRIES || body.len() != n.checked_mul(12)? {
        return None;
    }
    Some(
        body.chunks_exact(12)
            .map(|c| {
                let mut scid = [0u8; 8];
                scid.copy_from_slice(&c[..8]);
                let mut h = [0u8; 4];
                h.copy_from_slice(&c[8..]);
                (u64::from_be_bytes(scid), u32::from_be_bytes(h))
            })
            .collect(),
    )
}

impl Node {
    /// Transactions confirmed in the block at `height` (all of a full
    /// block, or a light client's filtered ones): each input that spends
    /// the funding output of a channel in the graph marks it closing. One
    /// hash lookup per input, and none when the graph knows no funding
    /// outpoint.
    pub(super) fn graph_transactions_confirmed(
        &mut self,
        txdata: &[(usize, &bitcoin::Transaction)],
        height: u32,
    ) {
        let Some(p) = self.public_graph.parts.as_mut() else {
            return;
        };
        if p.graph.funding_outpoints() == 0 {
            return;
        }
        let mut logged = false;
        for (_, tx) in txdata {
            for input in &tx.input {
                if let Some(scid) = p.graph.spent_input(input, height) {
                    p.dirty = true;
                    // The first spend's height stays (as in the graph);
                    // a reopened channel's new spend replaces the mark.
                    let h = p.closing_log.entry(scid.0).or_insert(height);
                    if *h == REOPENED {
                        *h = height;
                    }
                    logged = true;
                }
            }
        }
        if logged {
            self.save_closing_log();
        }
    }

    /// The tip moved to `height`: channels whose funding spend has 12
    /// confirmations leave the graph (BOLT 7: "SHOULD forget a channel
    /// after a 12-block delay").
    pub(super) fn graph_best_height(&mut self, height: u32) {
        if let Some(p) = self.public_graph.parts.as_mut() {
            if p.graph.block_connected(height) > 0 {
                p.dirty = true;
            }
        }
    }

    /// The block at `height` left the best chain: spends seen in it (or
    /// above) are undone and their channels open again.
    pub(super) fn graph_block_disconnected(&mut self, height: u32) {
        let Some(p) = self.public_graph.parts.as_mut() else {
            return;
        };
        let undone: Vec<u64> = p
            .graph
            .closing_spends()
            .into_iter()
            .filter(|(_, h)| *h >= height)
            .map(|(s, _)| s.0)
            .collect();
        if p.graph.block_disconnected(height) > 0 {
            p.dirty = true;
        }
        // Recorded as reopened (not just dropped from the log): the last
        // snapshot may hold the spend.
        let mut changed = false;
        for scid in undone {
            changed |= p.closing_log.insert(scid, REOPENED) != Some(REOPENED);
        }
        for h in p.closing_log.values_mut() {
            if *h != REOPENED && *h >= height {
                *h = REOPENED;
                changed = true;
            }
        }
        if changed {
            self.save_closing_log();
        }
    }

    /// Indexes the funding outpoints of our own announced channels (after
    /// a restore: a snapshot older than the announcement lacks them).
    pub(super) fn graph_index_own_funding(&mut self) {
        let Some(p) = self.public_graph.parts.as_mut() else {
            return;
        };
        for e in self.channels.values() {
            let st = e.channel.state();
            if let (Some(scid), Some(op)) = (st.short_channel_id, st.funding_outpoint) {
                if !p.graph.knows_funding_outpoint(scid, &op)
                    && p.graph.set_funding_outpoint(scid, op)
                {
                    p.dirty = true;
                }
            }
        }
    }

    /// A light client's filter was set: the funding output of every
    /// channel the graph holds whose outpoint a lookup revealed, in this
    /// run or an earlier one ([`FUNDING_PREFIX`] records and those not
    /// yet saved), is registered with it, and from now on each one the
    /// lookup reveals
    /// ([`NetworkGraphConfig::watch_funding_outputs`](super::NetworkGraphConfig::watch_funding_outputs)).
    /// A store that cannot be read leaves the saved ones out (their
    /// closes fall to the staleness rule).
    pub(super) fn graph_watch_filter_set(&mut self) {
        if !self.public_graph.config.watch_funding_outputs {
            return;
        }
        let Some(filter) = self.watch_filter.clone() else {
            return;
        };
        // Learned and not yet taken: into the unsaved list.
        self.graph_take_new_funding(None);
        let stored = read_funding_records(self.writer.store()).unwrap_or_default();
        let Some(p) = self.public_graph.parts.as_ref() else {
            return;
        };
        let saved = stored.iter().flat_map(|(_, _, e)| e.iter().flatten());
        let mut seen = HashSet::new();
        for (scid, txid) in saved.chain(p.funding_log.unsaved.iter()) {
            if seen.insert(*scid) {
                if let Some(out) = live_output(&p.graph, *scid, txid) {
                    filter.register_output(out);
                }
            }
        }
    }

    /// Registers the funding outputs the graph learned with the host's
    /// filter, and keeps them for the next funding record.
    pub(super) fn graph_watch_new_funding(&mut self) {
        let filter = self.watch_filter.clone();
        self.graph_take_new_funding(filter.as_deref());
    }

    fn graph_take_new_funding(
        &mut self,
        filter: Option<&(dyn lightning_chain::WatchFilter + Send + Sync)>,
    ) {
        let Some(p) = self.public_graph.parts.as_mut() else {
            return;
        };
        for f in p.graph.take_new_funding() {
            p.funding_log
                .unsaved
                .push((f.scid.0, f.outpoint.txid.to_byte_array()));
            if let Some(filter) = filter {
                filter.register_output(lightning_chain::WatchedOutput {
                    block_hash: None,
                    outpoint: f.outpoint,
                    script_pubkey: f.script_pubkey,
                });
            }
        }
    }

    /// Writes the full funding outpoints learned since the last snapshot
    /// as a new record ([`FUNDING_PREFIX`]); called with each snapshot.
    pub(super) fn save_funding_log(&mut self) {
        self.graph_take_new_funding(self.watch_filter.clone().as_deref());
        let Some(p) = self.public_graph.parts.as_mut() else {
            return;
        };
        if p.funding_log.unsaved.is_empty() {
            return;
        }
        let bytes = encode_funding(&p.funding_log.unsaved);
        p.funding_log.unsaved = Vec::new();
        let key = funding_key(p.funding_log.next);
        p.funding_log.next += 1;
        // Written once: version 1. A failed write shows in
        // `persist_failure`.
        let _ = self.writer.write_in(NAMESPACE, &key, 1, bytes);
    }

    /// Turns the lookup's report of funding outputs on (with
    /// `watch_funding_outputs`), and merges the funding records into one
    /// without the channels the loaded graph no longer holds (nothing is
    /// kept in memory: a filter set later reads them again).
    pub(super) fn restore_funding_log(&mut self, store: &dyn KvStore) -> Result<(), NodeError> {
        let on = self.public_graph.config.watch_funding_outputs;
        let Some(p) = self.public_graph.parts.as_mut() else {
            return Ok(());
        };
        p.graph.report_new_funding(on);
        let records = read_funding_records(store)?;
        p.funding_log.next = records.iter().map(|r| r.1 + 1).max().unwrap_or(0);
        let mut live = Vec::new();
        let mut seen = HashSet::new();
        let mut dropped = false;
        for (_, _, entries) in &records {
            let Some(entries) = entries else {
                dropped = true;
                continue;
            };
            for (scid, txid) in entries {
                if on && seen.insert(*scid) && live_output(&p.graph, *scid, txid).is_some() {
                    live.push((*scid, *txid));
                } else {
                    dropped = true;
                }
            }
        }
        if records.len() < 2 && !dropped {
            return Ok(());
        }
        if !live.is_empty() {
            let key = funding_key(p.funding_log.next);
            p.funding_log.next += 1;
            self.writer
                .write_in(NAMESPACE, &key, 1, encode_funding(&live))?;
        }
        // After the merged record (a store applying the batch in order
        // never holds fewer outpoints).
        for (key, _, _) in records {
            self.writer.remove_in(NAMESPACE, &key);
        }
        Ok(())
    }

    /// Writes the spends seen since the last snapshot ([`CLOSING_KEY`]).
    pub(super) fn save_closing_log(&mut self) {
        let Some(p) = self.public_graph.parts.as_ref() else {
            return;
        };
        let bytes = encode_log(p.closing_log.iter().map(|(s, h)| (*s, *h)));
        // A failed write shows in `persist_failure`.
        let _ = self.writer.write_record(CLOSING_KEY, bytes);
    }

    /// Applies the spends saved after the loaded snapshot, then forgets
    /// the channels whose spend is 12 blocks deep at our best block. A
    /// damaged record is ignored (those channels fall to the staleness
    /// rule).
    pub(super) fn restore_closing_log(&mut self, store: &dyn KvStore) -> Result<(), NodeError> {
        let Some(v) = store
            .read(NAMESPACE, CLOSING_KEY)
            .map_err(|e| NodeError::Restore(format!("{CLOSING_KEY}: {e}")))?
        else {
            return Ok(());
        };
        self.writer.set_version(CLOSING_KEY, v.version);
        let height = self.best_height();
        let Some(p) = self.public_graph.parts.as_mut() else {
            return Ok(());
        };
        // The log is newer than the snapshot: its height (or reopening)
        // replaces the snapshot's.
        for (scid, spent_at) in decode_log(&v.value).unwrap_or_default() {
            let scid = ShortChannelId(scid);
            if p.graph.channel_by_scid(scid).is_none() {
                continue;
            }
            p.graph.funding_unspent(scid);
            if spent_at != REOPENED {
                p.graph.funding_spent(scid, spent_at);
            }
            p.closing_log.insert(scid.0, spent_at);
            p.dirty = true;
        }
        p.graph.block_connected(height);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_round_trips_and_damage_is_refused() {
        let entries = vec![(5u64, 100u32), (u64::MAX, 7)];
        let bytes = encode_log(entries.iter().copied());
        assert_eq!(decode_log(&bytes), Some(entries.clone()));
        assert_eq!(decode_log(&encode_log(std::iter::empty())), Some(vec![]));
        assert_eq!(decode_log(&bytes[..bytes.len() - 1]), None);
        assert_eq!(decode_log(&[]), None);
        let mut wrong = bytes.clone();
        wrong[0] = 3;
        assert_eq!(decode_log(&wrong), None);
        // Version 1 (no reopenings) is still read.
        let mut v1 = bytes.clone();
        v1[0] = 1;
        assert_eq!(decode_log(&v1), Some(entries));
        // A count past the data.
        let mut big = vec![1u8];
        big.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(decode_log(&big), None);
    }

    #[test]
    fn funding_record_round_trips_and_damage_is_refused() {
        let entries = vec![(5u64, [1u8; 32]), (u64::MAX, [0xfe; 32])];
        let bytes = encode_funding(&entries);
        assert_eq!(bytes.len(), 5 + 2 * 40);
        assert_eq!(decode_funding(&bytes), Some(entries));
        assert_eq!(decode_funding(&encode_funding(&[])), Some(vec![]));
        assert_eq!(decode_funding(&bytes[..bytes.len() - 1]), None);
        assert_eq!(decode_funding(&[]), None);
        let mut wrong = bytes.clone();
        wrong[0] = 2;
        assert_eq!(decode_funding(&wrong), None);
        let mut big = vec![1u8];
        big.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(decode_funding(&big), None);
        // Keys sort by sequence number.
        assert!(funding_key(9) < funding_key(10));
        assert_eq!(funding_key(7), "gossip/funding/0000000007");
    }
}
