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
//!   as they are learned: those learned before the filter was set (in an
//!   earlier run) are not registered again, since the index keeps only a
//!   prefix of the txid; a host whose filter does not persist sees those
//!   closes through the staleness rule.
//! - Crash safety: the graph snapshot is written at most once per
//!   `snapshot_interval`, and a host does not replay blocks it already
//!   gave. So the spends seen since the last snapshot are also kept in a
//!   small record of their own, [`CLOSING_KEY`] (a few bytes per closing
//!   channel, written only in a block that closed a public channel or
//!   reorganised one back, and emptied with each snapshot). On restore
//!   they are applied to the loaded graph and the channels already 12
//!   blocks deep are forgotten.

use lightning_persist::KvStore;
use lightning_wire::types::ShortChannelId;

use super::{Node, NodeError, NAMESPACE};

/// The node's key (namespace [`NAMESPACE`]) of the funding spends seen
/// since the last graph snapshot: `version u8 = 1 | u32 count | count ×
/// (short_channel_id u64 | spend height u32)`, big-endian.
pub const CLOSING_KEY: &str = "gossip/closing";

const CLOSING_VERSION: u8 = 1;
/// Entries read back at most (a record past it is damaged).
const MAX_CLOSING_ENTRIES: usize = 1_000_000;

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
    if version != CLOSING_VERSION || rest.len() < 4 {
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
                    p.closing_log.entry(scid.0).or_insert(height);
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
        if p.graph.block_disconnected(height) > 0 {
            p.dirty = true;
        }
        let before = p.closing_log.len();
        p.closing_log.retain(|_, h| *h < height);
        if p.closing_log.len() != before {
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

    /// A light client's filter was set: from now on the funding outputs
    /// the lookup reveals are registered with it
    /// ([`NetworkGraphConfig::watch_funding_outputs`](super::NetworkGraphConfig::watch_funding_outputs)).
    pub(super) fn graph_watch_filter_set(&mut self) {
        let on = self.public_graph.config.watch_funding_outputs;
        if let Some(p) = self.public_graph.parts.as_mut() {
            p.graph.report_new_funding(on);
        }
    }

    /// Registers the funding outputs the graph learned with the host's
    /// filter.
    pub(super) fn graph_watch_new_funding(&mut self) {
        let Some(filter) = self.watch_filter.clone() else {
            return;
        };
        let Some(p) = self.public_graph.parts.as_mut() else {
            return;
        };
        for f in p.graph.take_new_funding() {
            filter.register_output(lightning_chain::WatchedOutput {
                block_hash: None,
                outpoint: f.outpoint,
                script_pubkey: f.script_pubkey,
            });
        }
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
        for (scid, spent_at) in decode_log(&v.value).unwrap_or_default() {
            if p.graph.funding_spent(ShortChannelId(scid), spent_at) {
                p.closing_log.insert(scid, spent_at);
                p.dirty = true;
            }
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
        assert_eq!(decode_log(&bytes), Some(entries));
        assert_eq!(decode_log(&encode_log(std::iter::empty())), Some(vec![]));
        assert_eq!(decode_log(&bytes[..bytes.len() - 1]), None);
        assert_eq!(decode_log(&[]), None);
        let mut wrong = bytes.clone();
        wrong[0] = 2;
        assert_eq!(decode_log(&wrong), None);
        // A count past the data.
        let mut big = vec![1u8];
        big.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(decode_log(&big), None);
    }
}
