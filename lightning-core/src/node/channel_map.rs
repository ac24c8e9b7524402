//! The node's channels, and which of them the next block must visit
//! (issue 15: `block_connected` with 10,000 channels).
//!
//! A block changes nothing for most channels but the height, which all of
//! a node's channels read from one shared cell ([`BestHeight`]). So the
//! block's walk (`Node::on_best_height`) visits only the channels in
//! `to_visit`: every channel touched since the last block (any `&mut`
//! access goes through [`ChannelMap::get_mut`], [`ChannelMap::iter_mut`]
//! or [`ChannelMap::insert`], which note it; reads go through `Deref`, which
//! cannot change a channel), and every channel whose per-block work is
//! more than the height ([`Channel::idle_at_blocks`] false: HTLCs whose
//! deadlines each block checks, a funding wait, an announcement that may
//! come due by depth, a failed anchors channel to bump), which stays in
//! the set until it is idle. A channel leaves the set only when a block's
//! walk finds it idle and settled, so what a visit would have done to it
//! is nothing.
//!
//! [`Channel::idle_at_blocks`]: crate::channel::Channel::idle_at_blocks

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;

use lightning_wire::types::ChannelId;

use super::ChannelEntry;
use crate::channel::BestHeight;

/// The node's channels by id, with the set the next block visits.
#[derive(Debug, Default)]
pub(super) struct ChannelMap {
    map: BTreeMap<ChannelId, ChannelEntry>,
    /// Channels the next block visits.
    to_visit: BTreeSet<ChannelId>,
    /// The height every channel of the map reads.
    height: BestHeight,
}

impl Deref for ChannelMap {
    type Target = BTreeMap<ChannelId, ChannelEntry>;

    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl<'a> IntoIterator for &'a ChannelMap {
    type Item = (&'a ChannelId, &'a ChannelEntry);
    type IntoIter = std::collections::btree_map::Iter<'a, ChannelId, ChannelEntry>;

    fn into_iter(self) -> Self::IntoIter {
        self.map.iter()
    }
}

impl ChannelMap {
    /// No channels; the height they will read is `height`.
    pub(super) fn at_height(height: u32) -> Self {
        let map = ChannelMap::default();
        map.height.set(height);
        map
    }

    /// The channel `id` to change: the next block visits it.
    pub(super) fn get_mut(&mut self, id: &ChannelId) -> Option<&mut ChannelEntry> {
        let entry = self.map.get_mut(id)?;
        self.to_visit.insert(*id);
        Some(entry)
    }

    /// Every channel to change: the next block visits them all.
    pub(super) fn iter_mut(
        &mut self,
    ) -> impl Iterator<Item = (&ChannelId, &mut ChannelEntry)> + '_ {
        self.to_visit.extend(self.map.keys().copied());
        self.map.iter_mut()
    }

    /// Adds a channel, which reads the map's height from now on; the next
    /// block visits it.
    pub(super) fn insert(
        &mut self,
        id: ChannelId,
        mut entry: ChannelEntry,
    ) -> Option<ChannelEntry> {
        entry.channel.share_best_height(&self.height);
        self.to_visit.insert(id);
        self.map.insert(id, entry)
    }

    /// Removes a channel (its height cell stays shared: a removed channel
    /// handed back to a caller still reads the node's height).
    pub(super) fn remove(&mut self, id: &ChannelId) -> Option<ChannelEntry> {
        self.to_visit.remove(id);
        self.map.remove(id)
    }

    /// The channel `id` for the block's walk, which does not note it: the
    /// walk's end ([`ChannelMap::settle`]) decides whether it stays.
    pub(super) fn visit_mut(&mut self, id: &ChannelId) -> Option<&mut ChannelEntry> {
        self.map.get_mut(id)
    }

    /// Sets the height every channel reads.
    pub(super) fn set_best_height(&self, height: u32) {
        self.height.set(height);
    }

    /// The channels this block visits, in id order; the set starts empty
    /// again (what the block touches is noted anew, and
    /// [`ChannelMap::settle`] puts back those still busy).
    pub(super) fn take_to_visit(&mut self) -> Vec<ChannelId> {
        std::mem::take(&mut self.to_visit).into_iter().collect()
    }

    /// After a block: each of `visited`, and each channel touched since
    /// the walk, stays in the set unless it is idle at blocks and settled.
    pub(super) fn settle(&mut self, visited: &[ChannelId]) {
        let touched: Vec<ChannelId> = self.to_visit.iter().copied().collect();
        for id in visited.iter().chain(&touched) {
            let busy = self
                .map
                .get(id)
                .is_some_and(|e| !e.block_settled || !e.channel.idle_at_blocks());
            if busy {
                self.to_visit.insert(*id);
            } else {
                self.to_visit.remove(id);
            }
        }
    }

    /// How many channels the next block visits.
    pub(super) fn to_visit_len(&self) -> usize {
        self.to_visit.len()
    }
}
