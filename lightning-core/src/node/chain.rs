//! Blocks in: funding confirmations through a [`ConfirmationTracker`](lightning_chain::ConfirmationTracker), and
//! the best height every channel needs.

use bitcoin::block::Header;
use bitcoin::Transaction;
use lightning_chain::{BestBlock, ChainListener, ConfirmationEvent};
use lightning_wire::types::{ChannelId, ShortChannelId};

use super::Node;
use crate::channel::ChannelOutput;

impl Node {
    /// How many channels the next block will visit (`block_connected`
    /// visits only the channels touched since the last block and those
    /// with more than the height to do at a block: HTLCs, a funding wait,
    /// an announcement coming due, a failed anchors commitment to bump).
    /// For diagnostics and tests; an idle node's count is 0.
    ///
    /// ```no_run
    /// # fn f(node: &lightning_core::node::Node) {
    /// println!("{} channel(s) to visit at the next block", node.channels_to_visit_at_next_block());
    /// # }
    /// ```
    pub fn channels_to_visit_at_next_block(&self) -> usize {
        self.channels.to_visit_len()
    }

    /// The fee-rate bounds a peer's `update_fee` must keep within: those
    /// the last block gave, or the estimator's now before any block.
    pub(super) fn current_feerate_bounds(&self) -> crate::channel::params::FeerateBounds {
        self.last_feerate_bounds
            .unwrap_or_else(|| self.feerate_bounds())
    }

    /// The best block the node has seen.
    pub fn best_block(&self) -> BestBlock {
        self.tracker.best_block()
    }

    /// The channel funded by `txid` and its funding output index: by the
    /// funding index when the transaction is at hand (one lookup per
    /// output), else (or when no output is a channel's) by a walk over the
    /// channels.
    fn channel_funded_by(
        &self,
        txid: &bitcoin::Txid,
        tx: Option<&Transaction>,
    ) -> Option<(ChannelId, u32)> {
        if let Some(tx) = tx {
            let found = (0..u32::try_from(tx.output.len()).unwrap_or(u32::MAX)).find_map(|vout| {
                let op = bitcoin::OutPoint { txid: *txid, vout };
                let id = self.funding_index.get(&lightning_chain::OutPointKey(op))?;
                let funded = self.channels.get(id)?.channel.state().funding_outpoint;
                (funded == Some(op)).then_some((*id, vout))
            });
            if found.is_some() {
                return found;
            }
            // A channel whose funding index is past the transaction's
            // outputs (a funder's lie): found by the walk below, so that
            // the channel checks the output and fails.
        }
        self.channels.iter().find_map(|(id, e)| {
            let op = e.channel.state().funding_outpoint?;
            (op.txid == *txid).then_some((*id, op.vout))
        })
    }

    /// Hands each funding confirmation to its channel with the confirmed
    /// transaction itself, which the channel checks the funding output
    /// against before it counts the depth (a fundee never trusts the
    /// funder's word for the output: see
    /// [`Channel::funding_confirmed`](crate::channel::Channel::funding_confirmed)).
    /// Full blocks and a light client's `transactions_confirmed` both reach
    /// here with the transaction.
    fn on_chain_events(&mut self) {
        let height = self.best_height();
        while let Some(event) = self.tracker.poll_event() {
            let (txid, confirmed) = match event {
                ConfirmationEvent::Confirmed {
                    txid,
                    confirmation,
                    tx,
                }
                | ConfirmationEvent::ReachedDepth {
                    txid,
                    confirmation,
                    tx,
                    ..
                } => (txid, Some((confirmation, tx))),
                ConfirmationEvent::ReorgedOut { txid, .. } => (txid, None),
                _ => continue,
            };
            let Some((id, vout)) =
                self.channel_funded_by(&txid, confirmed.as_ref().map(|(_, tx)| tx))
            else {
                continue;
            };
            let Some(entry) = self.channels.get_mut(&id) else {
                continue;
            };
            let result = match confirmed {
                Some((confirmation, tx)) => {
                    let depth = height.saturating_add(1).saturating_sub(confirmation.height);
                    let scid = u32::try_from(confirmation.tx_index)
                        .ok()
                        .zip(u16::try_from(vout).ok())
                        .and_then(|(i, v)| ShortChannelId::new(confirmation.height, i, v));
                    entry.channel.funding_confirmed(&tx, depth, scid)
                }
                None => entry.channel.funding_unconfirmed(),
            };
            match result {
                Ok(out) => self.apply(id, out),
                Err(e) => {
                    let out = entry.channel.handle_error(&e);
                    self.apply(id, out);
                }
            }
        }
    }

    /// `disconnected`: the call comes from a block disconnection, one of
    /// several of a reorg: the chain source is already at the new branch,
    /// so claims wait for the next connected block to go out (a claim
    /// broadcast now could spend what the reorg removed).
    fn on_best_height(&mut self, height: u32, disconnected: bool) {
        // Estimates move with the chain: every block refreshes the bounds
        // a peer's `update_fee` is checked against. A channel reads them
        // only when given a message, and `deliver` hands them over then
        // (`current_feerate_bounds`), so a change visits no channel.
        self.last_feerate_bounds = Some(self.feerate_bounds());
        if height.is_multiple_of(144) {
            // A backstop for the end-of-step backup check, which skips
            // steps in which no channel changed: compare once a day.
            self.backup_ids_changed();
        }
        // Only the channels with more than the height to do at a block, or
        // touched since the last one, are visited (`channel_map`): the
        // height itself is one cell all channels read. A visited channel
        // sees the block in place; only those with something to write,
        // send or report, and those whose state changed since they last
        // settled (or whose announcement came due at this depth), go
        // through `apply`. The same walk notes the channels the later
        // per-block checks need: those holding HTLC updates
        // (`check_htlc_deadlines`) and failed anchors channels (our
        // commitment's CPFP, `onchain_best_height`).
        self.channels.set_best_height(height);
        let visit = self.channels.take_to_visit();
        let mut changed: Vec<(ChannelId, ChannelOutput)> = Vec::new();
        let mut unsettled: Vec<ChannelId> = Vec::new();
        let mut with_updates: Vec<ChannelId> = Vec::new();
        let mut failed_anchors: Vec<ChannelId> = Vec::new();
        for id in &visit {
            let Some(entry) = self.channels.visit_mut(id) else {
                continue;
            };
            let noted = note_for_block(entry);
            if noted.0 {
                with_updates.push(*id);
            }
            if noted.1 {
                failed_anchors.push(*id);
            }
            let Ok(out) = entry.channel.best_block_updated(height) else {
                continue;
            };
            if out.persist.is_some() || !out.messages.is_empty() || !out.events.is_empty() {
                changed.push((*id, out));
            } else if !entry.block_settled || entry.channel.announcement_due() {
                unsettled.push(*id);
            }
        }
        let changed_ids: Vec<ChannelId> = changed.iter().map(|(id, _)| *id).collect();
        for (id, out) in changed {
            self.apply(id, out);
        }
        for &id in &unsettled {
            self.apply(id, ChannelOutput::default());
            if let Some(entry) = self.channels.get_mut(&id) {
                entry.block_settled = true;
            }
        }
        // Channels `apply` just ran on may have changed: note them again.
        for id in changed_ids.iter().chain(&unsettled) {
            if let Some(entry) = self.channels.get(id) {
                let noted = note_for_block(entry);
                if noted.0 {
                    with_updates.push(*id);
                }
                if noted.1 {
                    failed_anchors.push(*id);
                }
            }
        }
        with_updates.sort_unstable();
        with_updates.dedup();
        failed_anchors.sort_unstable();
        failed_anchors.dedup();
        self.on_chain_events();
        if !disconnected {
            self.graph_best_height(height);
        }
        self.onchain_best_height(height, !disconnected, Some(&failed_anchors));
        self.recovery_best_height(height, !disconnected);
        self.peer_storage_best_height(height);
        self.check_htlc_deadlines(height, &with_updates);
        // Held HTLCs of hold invoices whose claim deadline came fail back.
        self.hold_deadlines(height);
        // Incomplete multi-part payments with a part at its claim deadline.
        self.mpp_deadlines();
        // Preimages we hold for HTLCs not claimed off chain go on chain.
        self.claim_deadlines(height);
        // What the next block visits: the channels still busy at blocks,
        // and those this one touched.
        self.channels.settle(&visit);
        // A failed write shows in `persist_failure`.
        let _ = self.finish();
    }
}

/// Feed blocks with `block_connected`/`block_disconnected` (full blocks), or
/// `transactions_confirmed` + `best_block_updated` (a light client's
/// filtered view), e.g. from [`lightning_chain::ChainSync`].
impl ChainListener for Node {
    fn block_disconnected(&mut self, header: &Header, height: u32) {
        self.tracker.block_disconnected(header, height);
        self.graph_block_disconnected(height);
        self.on_best_height(height.saturating_sub(1), true);
    }

    fn transactions_confirmed(
        &mut self,
        header: &Header,
        txdata: &[(usize, &Transaction)],
        height: u32,
    ) {
        // Each txid once per block: the largest part of watching a block.
        let txids: Vec<bitcoin::Txid> = txdata.iter().map(|(_, tx)| tx.compute_txid()).collect();
        self.tracker
            .transactions_confirmed_with_txids(header, txdata, &txids, height);
        self.onchain_transactions_confirmed(txdata, &txids, height);
        self.recovery_transactions_confirmed(txdata, &txids, height);
        self.graph_transactions_confirmed(txdata, height);
        self.watchtower_transactions_confirmed(txdata, &txids);
    }

    fn best_block_updated(&mut self, header: &Header, height: u32) {
        self.tracker.best_block_updated(header, height);
        self.on_best_height(height, false);
        self.watchtower_best_block(header, height);
    }
}

/// What a block's walk notes of a channel: (its log holds updates, it is a
/// failed anchors channel whose funding confirmed).
fn note_for_block(entry: &super::ChannelEntry) -> (bool, bool) {
    let st = entry.channel.state();
    let with_updates = !st.log.updates().is_empty();
    let failed_anchors = st.phase == crate::channel::Phase::Failed
        && st.channel_type.anchors
        && st.funding_height.is_some();
    (with_updates, failed_anchors)
}
