//! Pruning the forwarding history: a routing node writes one record per
//! HTLC it forwards ([`forward_record`](super::forward_record)), so
//! without pruning its store grows with every forward, and anyone can
//! make it grow by routing tiny HTLCs through it.
//!
//! A record may go once nothing can need it again:
//!
//! - the forward is resolved (fulfilled or failed: an `Offered` one links
//!   an incoming HTLC still to be answered);
//! - a fulfilled forward's `PaymentForwarded` event was acknowledged (else
//!   it is raised again after a restart);
//! - neither HTLC is in its channel any more: the answer upstream and the
//!   resolution downstream are irrevocably committed and folded into the
//!   balances, so no retransmission, reconnection or on-chain claim can
//!   ask for the preimage or the error packet again. A channel closed on
//!   chain keeps its HTLCs until it is forgotten, so its forwards stay
//!   until then;
//! - it was resolved before the cutoff the caller gives (a history to
//!   report in `fwdinghistory` is the caller's choice).
//!
//! [`Node::prune_forwards`] prunes on demand;
//! [`ForwardingConfig::history_retention`](super::ForwardingConfig::history_retention)
//! makes [`Node::handle_timeout`] prune at most once an hour.

use std::time::Duration;

use lightning_wire::types::ChannelId;

use super::forward_record::{forward_key, ForwardRecord, ForwardState};
use super::{Node, NodeError};
use crate::channel::update_log::Side;

/// How often the timer prunes, when a retention is set.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

impl Node {
    /// Deletes the records of forwards resolved before `resolved_before`
    /// (host time since the UNIX epoch) that nothing can need again (see
    /// the module): they leave [`Node::list_forwards`] and the store, in
    /// one durable write. Returns how many went.
    ///
    /// ```
    /// use lightning_core::node::{Node, NodeError};
    /// # fn f(node: &mut Node, now: std::time::Duration) -> Result<(), NodeError> {
    /// // Keep 30 days of forwarding history.
    /// let month = std::time::Duration::from_secs(30 * 24 * 3600);
    /// let pruned = node.prune_forwards(now.saturating_sub(month))?;
    /// # let _ = pruned; Ok(()) }
    /// ```
    pub fn prune_forwards(&mut self, resolved_before: Duration) -> Result<usize, NodeError> {
        let pruned = self.prune_forwards_before(resolved_before);
        self.finish()?;
        Ok(pruned)
    }

    /// The timer's pruning ([`ForwardingConfig::history_retention`](super::ForwardingConfig::history_retention)),
    /// at most once per [`PRUNE_EVERY`]; part of the caller's step.
    pub(super) fn forward_prune_timer(&mut self) {
        let Some(keep) = self.config.forwarding.history_retention else {
            return;
        };
        if self
            .forward_pruned_at
            .is_some_and(|at| self.now.saturating_sub(at) < PRUNE_EVERY)
        {
            return;
        }
        self.forward_pruned_at = Some(self.now);
        self.prune_forwards_before(self.now.saturating_sub(keep));
    }

    fn prune_forwards_before(&mut self, resolved_before: Duration) -> usize {
        let cutoff = resolved_before.as_secs();
        let done: Vec<((ChannelId, u64), (ChannelId, u64))> = self
            .forwards
            .values()
            .filter(|r| r.resolved_at.is_some_and(|t| t < cutoff) && self.forward_is_finished(r))
            .map(|r| (r.incoming, r.outgoing))
            .collect();
        for (incoming, outgoing) in &done {
            self.forwards.remove(incoming);
            if self.forwards_by_out.get(outgoing) == Some(incoming) {
                self.forwards_by_out.remove(outgoing);
            }
            self.writer
                .remove_after_writes(forward_key(&incoming.0, incoming.1));
        }
        done.len()
    }

    /// Whether nothing can need `r` again (see the module), its age aside.
    fn forward_is_finished(&self, r: &ForwardRecord) -> bool {
        let resolved = match r.state {
            ForwardState::Offered => false,
            ForwardState::Fulfilled(_) => r.event_handled,
            ForwardState::Failed(_) | ForwardState::Malformed { .. } => true,
        };
        resolved
            && !self.htlc_in_channel(r.incoming, Side::Remote)
            && !self.htlc_in_channel(r.outgoing, Side::Local)
    }

    /// Whether the channel still has HTLC `htlc_id` offered by `offerer`
    /// (its add or its removal not yet folded into the balances).
    fn htlc_in_channel(&self, (channel_id, htlc_id): (ChannelId, u64), offerer: Side) -> bool {
        self.channels.get(&channel_id).is_some_and(|e| {
            let log = &e.channel.state().log;
            log.find_add(offerer, htlc_id).is_some() || log.find_removal(offerer, htlc_id).is_some()
        })
    }
}
