//! Going to chain on time (BOLT 2, "Requirements" of `update_add_htlc`:
//! the deadline for offered HTLCs and the fulfillment deadline for
//! received ones; BOLT 5: an HTLC that is not resolved off chain is
//! resolved on chain before the other side can take it).

use lightning_wire::types::ChannelId;

use super::Node;
use crate::channel::update_log::{HtlcRemoval, Side, UpdateKind, UpdateStage};
use crate::channel::Phase;

impl Node {
    /// Fails every open channel with an HTLC past its deadline at
    /// `height`: one we offered still not irrevocably removed
    /// `offered_htlc_grace_blocks` after its `cltv_expiry`, or one offered
    /// to us that we fulfilled, the fulfill not irrevocably committed,
    /// `fulfill_deadline_blocks` before its `cltv_expiry`. The failure
    /// broadcasts our commitment; the resolver then times out or claims
    /// the HTLC on chain.
    ///
    /// `candidates`: the channels whose log holds updates (the others have
    /// no HTLC), noted by the block's walk over the channels.
    pub(super) fn check_htlc_deadlines(&mut self, height: u32, candidates: &[ChannelId]) {
        let grace = self.config.offered_htlc_grace_blocks;
        let margin = self.config.fulfill_deadline_blocks;
        let mut late: Vec<(ChannelId, String)> = Vec::new();
        for (id, entry) in candidates
            .iter()
            .filter_map(|id| Some((id, self.channels.get(id)?)))
        {
            let ch = &entry.channel;
            if !matches!(ch.phase(), Phase::Normal | Phase::ShuttingDown) {
                continue;
            }
            let log = &ch.state().log;
            for u in log.updates() {
                let UpdateKind::Add(add) = &u.kind else {
                    continue;
                };
                let removal = log.find_removal(u.proposer, add.id);
                let settled = removal.is_some_and(|(_, stage)| stage == UpdateStage::LockedIn);
                if settled {
                    continue;
                }
                let reason = match u.proposer {
                    Side::Local if height >= add.cltv_expiry.saturating_add(grace) => {
                        Some(format!(
                            "offered HTLC {} not removed {grace} blocks after its expiry {}",
                            add.id, add.cltv_expiry
                        ))
                    }
                    Side::Remote
                        if matches!(removal, Some((HtlcRemoval::Fulfill { .. }, _)))
                            && height.saturating_add(margin) >= add.cltv_expiry =>
                    {
                        Some(format!(
                            "fulfilled HTLC {} not committed {margin} blocks before its expiry {}",
                            add.id, add.cltv_expiry
                        ))
                    }
                    _ => None,
                };
                if let Some(r) = reason {
                    late.push((*id, r));
                    break;
                }
            }
        }
        for (id, reason) in late {
            if let Some(entry) = self.channels.get_mut(&id) {
                let out = entry.channel.force_close(&reason);
                self.apply(id, out);
            }
        }
    }
}
