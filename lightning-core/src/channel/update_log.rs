//! The log of channel updates and where each one stands in the two
//! commitment chains (BOLT 2, "Normal Operation").
//!
//! Every `update_*` message (add, fulfill, fail, fail-malformed, fee) passes
//! through the five states BOLT 2 lists:
//!
//! 1. pending on the receiver ([`UpdateStage::Proposed`]);
//! 2. in the receiver's latest commitment ([`UpdateStage::ReceiverCommitted`]);
//! 3. the receiver's previous commitment revoked, pending on the proposer
//!    ([`UpdateStage::ReceiverRevoked`]);
//! 4. in the proposer's latest commitment ([`UpdateStage::ProposerCommitted`]);
//! 5. the proposer's previous commitment revoked ([`UpdateStage::LockedIn`]).
//!
//! Two events move updates along, and they are the same for both sides, so the
//! log has just two transitions: [`UpdateLog::commitment_signed`] (a side signs
//! the *other* side's next commitment) and [`UpdateLog::revoke_and_ack`] (a
//! side revokes its previous commitment). Everything a commitment holds (the
//! HTLC outputs, both balances and the feerate) is derived from the stages, so
//! there is no second copy of state that could disagree.

use core::fmt;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lightning_wire::msgs::AttributionData;
use lightning_wire::types::{PaymentHash, PaymentPreimage};

/// The source of update identities ([`UpdateLog::uids`]): unique in the
/// process, so an identity never names two different updates, even across
/// logs.
static NEXT_UID: AtomicU64 = AtomicU64::new(0);

/// `n` fresh update identities: the first of them.
fn fresh_uids(n: usize) -> u64 {
    NEXT_UID.fetch_add(n as u64, Ordering::Relaxed)
}

/// One side of the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Side {
    /// This node ("holder" in BOLT 3).
    Local,
    /// The peer ("counterparty").
    Remote,
}

impl Side {
    /// The other side.
    pub const fn other(self) -> Side {
        match self {
            Side::Local => Side::Remote,
            Side::Remote => Side::Local,
        }
    }
}

/// Where an update stands (BOLT 2, "Normal Operation", the five states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UpdateStage {
    /// Sent, not yet covered by a `commitment_signed`.
    Proposed,
    /// In the receiver's latest commitment, whose predecessor is not yet
    /// revoked.
    ReceiverCommitted,
    /// Irrevocably in the receiver's commitment; pending on the proposer.
    ReceiverRevoked,
    /// In the proposer's latest commitment, whose predecessor is not yet
    /// revoked.
    ProposerCommitted,
    /// Irrevocably committed by both sides.
    LockedIn,
}

/// An offered HTLC, as `update_add_htlc` carries it.
#[derive(Clone, PartialEq, Eq)]
pub struct HtlcAdd {
    /// The offerer's `id` for it: 0 for the first, then one more each time.
    pub id: u64,
    /// `amount_msat`.
    pub amount_msat: u64,
    /// `payment_hash`.
    pub payment_hash: PaymentHash,
    /// `cltv_expiry`, an absolute block height.
    pub cltv_expiry: u32,
    /// The 1366-byte `onion_routing_packet`, kept to retransmit the message.
    /// Shared: copying the log (an input's undo copy, an event) never copies
    /// an onion.
    pub onion_routing_packet: Arc<[u8]>,
    /// The `blinded_path` TLV's `path_key`, if any (33-byte point).
    pub path_key: Option<[u8; 33]>,
}

impl fmt::Debug for HtlcAdd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HtlcAdd")
            .field("id", &self.id)
            .field("amount_msat", &self.amount_msat)
            .field("payment_hash", &self.payment_hash)
            .field("cltv_expiry", &self.cltv_expiry)
            .finish_non_exhaustive()
    }
}

/// How an HTLC is removed. Its `Debug` output never shows a preimage.
///
/// A fulfil or a failure may carry `attribution_data` (BOLT 2 TLV 1 of
/// `update_fulfill_htlc` and `update_fail_htlc`; BOLT 4 "Returning
/// Errors", `option_attribution_data`): kept with the removal, persisted
/// with the channel and sent again with it after a reconnection. Shared,
/// so copying the log never copies its 920 bytes.
#[derive(Clone, PartialEq, Eq)]
pub enum HtlcRemoval {
    /// `update_fulfill_htlc`: the value goes to the HTLC's receiver.
    Fulfill {
        /// `payment_preimage`.
        payment_preimage: PaymentPreimage,
        /// `attribution_data`, when the fulfil carries it.
        attribution_data: Option<Arc<AttributionData>>,
    },
    /// `update_fail_htlc`: the value returns to the offerer.
    Fail {
        /// The encrypted `reason`.
        reason: Vec<u8>,
        /// `attribution_data`, when the failure carries it.
        attribution_data: Option<Arc<AttributionData>>,
    },
    /// `update_fail_malformed_htlc`: the value returns to the offerer.
    FailMalformed {
        /// `sha256_of_onion`.
        sha256_of_onion: [u8; 32],
        /// `failure_code` (has the BADONION bit).
        failure_code: u16,
    },
}

impl fmt::Debug for HtlcRemoval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HtlcRemoval::Fulfill {
                attribution_data, ..
            } => f
                .debug_struct("Fulfill")
                .field("payment_preimage", &crate::keys::Redacted)
                .field("attribution_data", &attribution_data.is_some())
                .finish(),
            HtlcRemoval::Fail {
                reason,
                attribution_data,
            } => f
                .debug_struct("Fail")
                .field("reason", &hex::encode(reason))
                .field("attribution_data", &attribution_data.is_some())
                .finish(),
            HtlcRemoval::FailMalformed {
                sha256_of_onion,
                failure_code,
            } => f
                .debug_struct("FailMalformed")
                .field("sha256_of_onion", &hex::encode(sha256_of_onion))
                .field("failure_code", failure_code)
                .finish(),
        }
    }
}

impl HtlcRemoval {
    /// Whether the value goes to the HTLC's receiver.
    pub fn is_fulfill(&self) -> bool {
        matches!(self, HtlcRemoval::Fulfill { .. })
    }

    /// The `attribution_data` the removal carries, if any.
    pub fn attribution_data(&self) -> Option<&Arc<AttributionData>> {
        match self {
            HtlcRemoval::Fulfill {
                attribution_data, ..
            }
            | HtlcRemoval::Fail {
                attribution_data, ..
            } => attribution_data.as_ref(),
            HtlcRemoval::FailMalformed { .. } => None,
        }
    }
}

/// What an update changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateKind {
    /// `update_add_htlc`.
    Add(HtlcAdd),
    /// `update_fulfill_htlc`, `update_fail_htlc` or
    /// `update_fail_malformed_htlc` of the HTLC the *other* side offered with
    /// this `htlc_id`.
    Remove {
        /// The removed HTLC's `id` (in the offerer's numbering).
        htlc_id: u64,
        /// How it is removed.
        removal: HtlcRemoval,
    },
    /// `update_fee`.
    Fee {
        /// `feerate_per_kw`.
        feerate_per_kw: u32,
    },
}

/// One update and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// Who sent it.
    pub proposer: Side,
    /// What it changes.
    pub kind: UpdateKind,
    /// Where it stands.
    pub stage: UpdateStage,
}

impl Update {
    /// Whether this update is in the latest commitment held by `holder`.
    pub fn in_commitment_of(&self, holder: Side) -> bool {
        if holder == self.proposer {
            self.stage >= UpdateStage::ProposerCommitted
        } else {
            self.stage >= UpdateStage::ReceiverCommitted
        }
    }

    /// Whether this update will be in the next commitment `holder` receives,
    /// that is, the one the other side signs next.
    pub fn in_next_commitment_of(&self, holder: Side) -> bool {
        if holder == self.proposer {
            self.stage >= UpdateStage::ReceiverRevoked
        } else {
            true
        }
    }
}

/// Which commitment a [`CommitmentView`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The latest one signed.
    Current,
    /// The one the other side would sign next.
    Next,
}

/// An HTLC as it appears in one commitment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedHtlc<'a> {
    /// Who offered it.
    pub offerer: Side,
    /// The HTLC.
    pub add: &'a HtlcAdd,
}

/// The contents of one side's commitment, derived from the log: the
/// balances before fees, the feerate and the pending HTLCs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitmentView<'a> {
    /// Whose commitment.
    pub holder: Side,
    /// The holder's balance in millisatoshi, before commitment fees.
    pub holder_msat: u64,
    /// The other side's balance in millisatoshi, before commitment fees.
    pub counterparty_msat: u64,
    /// `feerate_per_kw` of this commitment.
    pub feerate_per_kw: u32,
    /// HTLCs still pending in it, in the order they were offered.
    pub htlcs: Vec<CommittedHtlc<'a>>,
}

impl CommitmentView<'_> {
    /// The balance of `side` before fees.
    pub fn balance_msat(&self, side: Side) -> u64 {
        if side == self.holder {
            self.holder_msat
        } else {
            self.counterparty_msat
        }
    }

    /// The sum of HTLCs `offerer` has offered in this commitment.
    pub fn offered_msat(&self, offerer: Side) -> u64 {
        self.htlcs
            .iter()
            .filter(|h| h.offerer == offerer)
            .map(|h| h.add.amount_msat)
            .sum()
    }

    /// The number of HTLCs `offerer` has offered in this commitment.
    pub fn offered_count(&self, offerer: Side) -> usize {
        self.htlcs.iter().filter(|h| h.offerer == offerer).count()
    }
}

/// A rule the log refuses to break.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// `update_add_htlc` with an `id` other than the next one.
    #[error("HTLC id {got} from {side:?}: expected {expected}")]
    UnexpectedHtlcId {
        /// The offerer.
        side: Side,
        /// The id that was due.
        expected: u64,
        /// The id given.
        got: u64,
    },
    /// A removal of an HTLC that does not exist.
    #[error("no HTLC {htlc_id} offered by {offerer:?}")]
    UnknownHtlc {
        /// The HTLC's offerer.
        offerer: Side,
        /// Its id.
        htlc_id: u64,
    },
    /// A removal of an HTLC that is not yet irrevocably committed by both
    /// sides (BOLT 2: the removal "MUST NOT" be sent before that).
    #[error("HTLC {htlc_id} offered by {offerer:?} is not irrevocably committed yet")]
    HtlcNotLockedIn {
        /// The HTLC's offerer.
        offerer: Side,
        /// Its id.
        htlc_id: u64,
    },
    /// A second removal of the same HTLC.
    #[error("HTLC {htlc_id} offered by {offerer:?} is already being removed")]
    AlreadyRemoved {
        /// The HTLC's offerer.
        offerer: Side,
        /// Its id.
        htlc_id: u64,
    },
}

/// The update log of one channel, from one side's point of view.
///
/// ```
/// use lightning_core::channel::update_log::{HtlcAdd, Side, UpdateLog, Which};
/// let mut log = UpdateLog::new(600_000_000, 400_000_000, 253);
/// log.add_htlc(Side::Local, HtlcAdd {
///     id: 0, amount_msat: 5_000_000, payment_hash: lightning_wire::types::PaymentHash([1; 32]), cltv_expiry: 500,
///     onion_routing_packet: vec![0; 1366].into(), path_key: None,
/// }).unwrap();
/// // We sign the remote's next commitment: the HTLC is in it...
/// log.commitment_signed(Side::Local);
/// assert_eq!(log.view(Side::Remote, Which::Current).htlcs.len(), 1);
/// // ...but not in ours until the remote revokes and signs ours.
/// assert!(log.view(Side::Local, Which::Current).htlcs.is_empty());
/// log.revoke_and_ack(Side::Remote);
/// log.commitment_signed(Side::Remote);
/// assert_eq!(log.view(Side::Local, Which::Current).htlcs.len(), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct UpdateLog {
    /// The balances and feerate all fully settled updates have been folded
    /// into: (local, remote) msat.
    settled_local_msat: u64,
    settled_remote_msat: u64,
    settled_feerate_per_kw: u32,
    /// Updates not yet folded, in the order they were sent or received.
    updates: Vec<Update>,
    /// The next `id` each side will use for `update_add_htlc`.
    next_local_htlc_id: u64,
    next_remote_htlc_id: u64,
    /// Each update's identity, in step with `updates` (not part of the
    /// log's value: ignored by `==`, never persisted). An update keeps its
    /// identity while only its stage changes; one replaced in place gets a
    /// new one. The channel record compares these with the identities it
    /// last wrote, so a write costs what changed (`record.rs`).
    uids: Vec<u64>,
    /// What undoes the changes since [`UpdateLog::begin`] (not part of the
    /// log's value: ignored by `==`, never persisted).
    undo: Option<Box<Undo>>,
}

impl PartialEq for UpdateLog {
    fn eq(&self, other: &Self) -> bool {
        self.settled() == other.settled()
            && self.updates == other.updates
            && self.next_local_htlc_id == other.next_local_htlc_id
            && self.next_remote_htlc_id == other.next_remote_htlc_id
    }
}

impl Eq for UpdateLog {}

/// The undo record of one transaction on the log: the scalars as they
/// were, and a journal of the steps, undone in reverse order. Each step
/// saves what it changes and no more: an appended update nothing, a
/// replaced or removed update that update, a transition
/// (`commitment_signed`, `revoke_and_ack`) every update's stage (a byte
/// each). No step copies the log.
#[derive(Debug, Clone)]
struct Undo {
    next_local_htlc_id: u64,
    next_remote_htlc_id: u64,
    settled: (u64, u64, u32),
    steps: Vec<Step>,
}

/// One step of a transaction on the log, as what undoes it.
#[derive(Debug, Clone)]
enum Step {
    /// An update was appended: drop the last one.
    Appended,
    /// An update was replaced in place: its index, the old update and its
    /// identity.
    Replaced(usize, Update, u64),
    /// Updates were removed in one pass: each with its index before the
    /// pass, in increasing order.
    Removed(Vec<(usize, Update, u64)>),
    /// Every update's stage before a transition.
    Stages(Vec<UpdateStage>),
}

/// What a `revoke_and_ack` moved, for the channel's HTLC events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revoked {
    /// The other side's HTLC adds that are now irrevocably committed by
    /// both sides (moved to [`UpdateStage::LockedIn`]), as (offerer, add).
    pub locked_in: Vec<(Side, HtlcAdd)>,
    /// HTLCs settled and folded into the balances: (offerer, add, removal).
    pub settled: Vec<(Side, HtlcAdd, HtlcRemoval)>,
}

impl UpdateLog {
    /// A log for a channel that starts with these balances and feerate.
    pub fn new(local_msat: u64, remote_msat: u64, feerate_per_kw: u32) -> Self {
        UpdateLog {
            settled_local_msat: local_msat,
            settled_remote_msat: remote_msat,
            settled_feerate_per_kw: feerate_per_kw,
            updates: Vec::new(),
            next_local_htlc_id: 0,
            next_remote_htlc_id: 0,
            uids: Vec::new(),
            undo: None,
        }
    }

    /// Starts a transaction: the changes from here can be undone with
    /// [`UpdateLog::rollback`] or kept with [`UpdateLog::commit`]. Returns
    /// `false` (and does nothing) if one is already running: the running one
    /// covers the new changes.
    pub fn begin(&mut self) -> bool {
        if self.undo.is_some() {
            return false;
        }
        self.undo = Some(Box::new(Undo {
            next_local_htlc_id: self.next_local_htlc_id,
            next_remote_htlc_id: self.next_remote_htlc_id,
            settled: self.settled(),
            steps: Vec::new(),
        }));
        true
    }

    /// Keeps the changes since [`UpdateLog::begin`].
    pub fn commit(&mut self) {
        self.undo = None;
    }

    /// Undoes every change since [`UpdateLog::begin`].
    pub fn rollback(&mut self) {
        let Some(u) = self.undo.take() else {
            return;
        };
        let u = *u;
        for step in u.steps.into_iter().rev() {
            match step {
                Step::Appended => {
                    self.updates.pop();
                    self.uids.pop();
                }
                Step::Replaced(i, old, uid) => {
                    if let (Some(slot), Some(id)) = (self.updates.get_mut(i), self.uids.get_mut(i))
                    {
                        *slot = old;
                        *id = uid;
                    }
                }
                Step::Removed(removed) => {
                    // In increasing order, each goes back where it was.
                    for (i, update, uid) in removed {
                        let i = i.min(self.updates.len());
                        self.updates.insert(i, update);
                        self.uids.insert(i, uid);
                    }
                }
                Step::Stages(stages) => {
                    for (u, stage) in self.updates.iter_mut().zip(stages) {
                        u.stage = stage;
                    }
                }
            }
        }
        self.next_local_htlc_id = u.next_local_htlc_id;
        self.next_remote_htlc_id = u.next_remote_htlc_id;
        (
            self.settled_local_msat,
            self.settled_remote_msat,
            self.settled_feerate_per_kw,
        ) = u.settled;
    }

    /// Before a transition: saves every update's stage for a rollback.
    fn save_stages(&mut self) {
        if let Some(u) = &mut self.undo {
            u.steps
                .push(Step::Stages(self.updates.iter().map(|u| u.stage).collect()));
        }
    }

    /// Rebuilds a log from the parts [`UpdateLog::settled`],
    /// [`UpdateLog::updates`] and [`UpdateLog::next_htlc_id`] return (the
    /// channel record stores them).
    pub fn from_parts(
        settled: (u64, u64, u32),
        updates: Vec<Update>,
        next_local_htlc_id: u64,
        next_remote_htlc_id: u64,
    ) -> Self {
        let first = fresh_uids(updates.len());
        UpdateLog {
            settled_local_msat: settled.0,
            settled_remote_msat: settled.1,
            settled_feerate_per_kw: settled.2,
            uids: (first..).take(updates.len()).collect(),
            updates,
            next_local_htlc_id,
            next_remote_htlc_id,
            undo: None,
        }
    }

    /// Each update's identity, in the order of [`UpdateLog::updates`]:
    /// unique in the process, kept while only the update's stage changes
    /// (a fee update replaced in place gets a new one).
    pub fn uids(&self) -> &[u64] {
        &self.uids
    }

    /// A bound above every update identity given out so far: an update
    /// whose identity is at or above it was made after this call.
    pub fn uid_watermark() -> u64 {
        NEXT_UID.load(Ordering::Relaxed)
    }

    /// Appends an update with a fresh identity.
    fn push(&mut self, update: Update) {
        self.updates.push(update);
        self.uids.push(fresh_uids(1));
        if let Some(u) = &mut self.undo {
            u.steps.push(Step::Appended);
        }
    }

    /// Keeps the updates (and their identities) for which `keep` says so.
    /// In a transaction, the removed ones are saved for a rollback.
    fn retain_updates(&mut self, mut keep: impl FnMut(&Update) -> bool) {
        let journal = self.undo.is_some();
        let mut removed = Vec::new();
        let mut w = 0;
        for r in 0..self.updates.len() {
            // Positions from `r` on are untouched: this is update `r`.
            if keep(&self.updates[r]) {
                self.updates.swap(w, r);
                self.uids.swap(w, r);
                w += 1;
            } else if journal {
                removed.push((r, self.updates[r].clone(), self.uids[r]));
            }
        }
        self.updates.truncate(w);
        self.uids.truncate(w);
        if let (Some(u), false) = (&mut self.undo, removed.is_empty()) {
            u.steps.push(Step::Removed(removed));
        }
    }

    /// The settled (local msat, remote msat, feerate) every folded update
    /// went into.
    pub fn settled(&self) -> (u64, u64, u32) {
        (
            self.settled_local_msat,
            self.settled_remote_msat,
            self.settled_feerate_per_kw,
        )
    }

    /// The updates not yet folded into the settled balances.
    pub fn updates(&self) -> &[Update] {
        &self.updates
    }

    /// The next HTLC id `side` will use.
    pub fn next_htlc_id(&self, side: Side) -> u64 {
        match side {
            Side::Local => self.next_local_htlc_id,
            Side::Remote => self.next_remote_htlc_id,
        }
    }

    /// Records an `update_add_htlc` sent (`Local`) or received (`Remote`).
    /// Its `id` must be the next one; the caller checks the policy rules
    /// (amount, CLTV, limits) against [`UpdateLog::view`] first.
    pub fn add_htlc(&mut self, offerer: Side, add: HtlcAdd) -> Result<(), UpdateError> {
        let expected = self.next_htlc_id(offerer);
        if add.id != expected {
            return Err(UpdateError::UnexpectedHtlcId {
                side: offerer,
                expected,
                got: add.id,
            });
        }
        let next = expected
            .checked_add(1)
            .ok_or(UpdateError::UnexpectedHtlcId {
                side: offerer,
                expected,
                got: add.id,
            })?;
        match offerer {
            Side::Local => self.next_local_htlc_id = next,
            Side::Remote => self.next_remote_htlc_id = next,
        }
        self.push(Update {
            proposer: offerer,
            kind: UpdateKind::Add(add),
            stage: UpdateStage::Proposed,
        });
        Ok(())
    }

    /// Finds the add of HTLC `htlc_id` offered by `offerer`.
    pub fn find_add(&self, offerer: Side, htlc_id: u64) -> Option<(&HtlcAdd, UpdateStage)> {
        self.updates.iter().find_map(|u| match &u.kind {
            UpdateKind::Add(a) if u.proposer == offerer && a.id == htlc_id => Some((a, u.stage)),
            _ => None,
        })
    }

    /// Finds the removal of HTLC `htlc_id` offered by `offerer`.
    pub fn find_removal(&self, offerer: Side, htlc_id: u64) -> Option<(&HtlcRemoval, UpdateStage)> {
        // The removal is proposed by the HTLC's receiver.
        self.updates.iter().find_map(|u| match &u.kind {
            UpdateKind::Remove {
                htlc_id: id,
                removal,
            } if u.proposer != offerer && *id == htlc_id => Some((removal, u.stage)),
            _ => None,
        })
    }

    /// Records a removal (fulfill or fail) proposed by `remover` of the HTLC
    /// the other side offered with `htlc_id`. The HTLC must be locked in and
    /// not already being removed. The caller checks a fulfill's preimage.
    pub fn remove_htlc(
        &mut self,
        remover: Side,
        htlc_id: u64,
        removal: HtlcRemoval,
    ) -> Result<(), UpdateError> {
        let offerer = remover.other();
        match self.find_add(offerer, htlc_id) {
            None => return Err(UpdateError::UnknownHtlc { offerer, htlc_id }),
            Some((_, stage)) if stage != UpdateStage::LockedIn => {
                return Err(UpdateError::HtlcNotLockedIn { offerer, htlc_id })
            }
            Some(_) => {}
        }
        if self.find_removal(offerer, htlc_id).is_some() {
            return Err(UpdateError::AlreadyRemoved { offerer, htlc_id });
        }
        self.push(Update {
            proposer: remover,
            kind: UpdateKind::Remove { htlc_id, removal },
            stage: UpdateStage::Proposed,
        });
        Ok(())
    }

    /// Records an `update_fee` by `proposer` (who must be the funder: the
    /// caller checks that and the bounds).
    ///
    /// Fee updates are bounded: a new one replaces the proposer's fee
    /// update that no `commitment_signed` covers yet, if there is one (both
    /// would enter the same commitments together, where the later one
    /// wins), so a peer flooding `update_fee` grows nothing.
    pub fn update_fee(&mut self, proposer: Side, feerate_per_kw: u32) {
        let pending = self.updates.iter().rposition(|u| {
            u.proposer == proposer
                && u.stage == UpdateStage::Proposed
                && matches!(u.kind, UpdateKind::Fee { .. })
        });
        let update = Update {
            proposer,
            kind: UpdateKind::Fee { feerate_per_kw },
            stage: UpdateStage::Proposed,
        };
        match pending {
            Some(i) => {
                let old = core::mem::replace(&mut self.updates[i], update);
                let old_uid = core::mem::replace(&mut self.uids[i], fresh_uids(1));
                if let Some(u) = &mut self.undo {
                    u.steps.push(Step::Replaced(i, old, old_uid));
                }
            }
            None => self.push(update),
        }
    }

    /// Whether `signer` has anything to commit, that is, whether the other
    /// side's next commitment differs from its current one.
    pub fn has_updates_to_commit(&self, signer: Side) -> bool {
        let holder = signer.other();
        self.updates
            .iter()
            .any(|u| u.in_next_commitment_of(holder) && !u.in_commitment_of(holder))
    }

    /// `signer` signs the other side's next commitment (`commitment_signed`
    /// sent by `Local`, or received from `Remote`). Moves the signer's
    /// proposed updates into the receiver's commitment, and the other side's
    /// acknowledged updates into its own.
    ///
    /// BOLT 2 forbids *sending* a `commitment_signed` that includes no update
    /// (check [`UpdateLog::has_updates_to_commit`] first). The log applies
    /// an empty one as a commitment with a new number only; the channel
    /// refuses to receive one (see `Channel::on_commitment_signed`).
    pub fn commitment_signed(&mut self, signer: Side) {
        self.save_stages();
        for u in &mut self.updates {
            if u.proposer == signer && u.stage == UpdateStage::Proposed {
                u.stage = UpdateStage::ReceiverCommitted;
            } else if u.proposer != signer && u.stage == UpdateStage::ReceiverRevoked {
                u.stage = UpdateStage::ProposerCommitted;
            }
        }
        self.merge_fees();
    }

    /// `revoker` revokes its previous commitment (`revoke_and_ack` sent by
    /// `Local`, or received from `Remote`), then folds every update that is
    /// now settled on both sides into the balances. Returns the HTLC adds
    /// this locked in and the HTLCs it settled.
    pub fn revoke_and_ack(&mut self, revoker: Side) -> Revoked {
        self.save_stages();
        let mut moved = Revoked::default();
        for u in &mut self.updates {
            if u.proposer != revoker && u.stage == UpdateStage::ReceiverCommitted {
                u.stage = UpdateStage::ReceiverRevoked;
            } else if u.proposer == revoker && u.stage == UpdateStage::ProposerCommitted {
                u.stage = UpdateStage::LockedIn;
                if let UpdateKind::Add(a) = &u.kind {
                    moved.locked_in.push((u.proposer, a.clone()));
                }
            }
        }
        self.merge_fees();
        moved.settled = self.fold_settled();
        moved
    }

    /// Keeps one fee update per (proposer, stage): two fee updates at the
    /// same stage enter and leave every commitment together and the later
    /// one wins, so the earlier one changes nothing. This bounds the fee
    /// updates a peer can pile up (one per stage) however many it sends
    /// while its commitments are not revoked.
    fn merge_fees(&mut self) {
        let fees = self
            .updates
            .iter()
            .filter(|u| matches!(u.kind, UpdateKind::Fee { .. }))
            .count();
        if fees < 2 {
            return;
        }
        let mut seen: Vec<(Side, UpdateStage)> = Vec::new();
        let mut drop: Vec<bool> = vec![false; self.updates.len()];
        let mut any = false;
        for (i, u) in self.updates.iter().enumerate().rev() {
            if let UpdateKind::Fee { .. } = u.kind {
                if seen.contains(&(u.proposer, u.stage)) {
                    drop[i] = true;
                    any = true;
                } else {
                    seen.push((u.proposer, u.stage));
                }
            }
        }
        if any {
            let mut i = 0;
            self.retain_updates(|_| {
                i += 1;
                !drop[i - 1]
            });
        }
    }

    /// Forgets the updates no `commitment_signed` has covered, as BOLT 2
    /// requires on reconnection ("MUST reverse any uncommitted updates sent by
    /// the other side"; ours are lost with the connection too). Returns ours,
    /// so the caller can offer them again or fail them upstream; HTLC ids
    /// rewind to the first forgotten add.
    pub fn forget_uncommitted(&mut self) -> Vec<Update> {
        let dropped: Vec<Update> = self
            .updates
            .iter()
            .filter(|u| u.stage == UpdateStage::Proposed)
            .cloned()
            .collect();
        self.retain_updates(|u| u.stage != UpdateStage::Proposed);
        for u in &dropped {
            if let UpdateKind::Add(a) = &u.kind {
                match u.proposer {
                    Side::Local => self.next_local_htlc_id = self.next_local_htlc_id.min(a.id),
                    Side::Remote => self.next_remote_htlc_id = self.next_remote_htlc_id.min(a.id),
                }
            }
        }
        dropped
            .into_iter()
            .filter(|u| u.proposer == Side::Local)
            .collect()
    }

    /// The contents of `holder`'s current or next commitment.
    ///
    /// Balances can go below zero only if a caller skipped the affordability
    /// checks; they saturate at zero rather than wrap (and
    /// [`UpdateLog::total_msat`] then no longer adds up to the channel).
    pub fn view(&self, holder: Side, which: Which) -> CommitmentView<'_> {
        let included = |u: &Update| match which {
            Which::Current => u.in_commitment_of(holder),
            Which::Next => u.in_next_commitment_of(holder),
        };
        let (mut local, mut remote) = (
            i128::from(self.settled_local_msat),
            i128::from(self.settled_remote_msat),
        );
        let mut feerate = self.settled_feerate_per_kw;
        let mut htlcs = Vec::new();
        // Removals included in this commitment, by the removed HTLC's
        // (offerer, id).
        let removals: std::collections::HashMap<(Side, u64), &HtlcRemoval> = self
            .updates
            .iter()
            .filter(|u| included(u))
            .filter_map(|r| match &r.kind {
                UpdateKind::Remove { htlc_id, removal } => {
                    Some(((r.proposer.other(), *htlc_id), removal))
                }
                _ => None,
            })
            .collect();
        for u in self.updates.iter().filter(|u| included(u)) {
            match &u.kind {
                UpdateKind::Add(add) => {
                    let amount = i128::from(add.amount_msat);
                    match u.proposer {
                        Side::Local => local -= amount,
                        Side::Remote => remote -= amount,
                    }
                    match removals.get(&(u.proposer, add.id)) {
                        None => htlcs.push(CommittedHtlc {
                            offerer: u.proposer,
                            add,
                        }),
                        Some(r) => {
                            // Fulfilled: to the receiver; failed: back.
                            let to = if r.is_fulfill() {
                                u.proposer.other()
                            } else {
                                u.proposer
                            };
                            match to {
                                Side::Local => local += amount,
                                Side::Remote => remote += amount,
                            }
                        }
                    }
                }
                UpdateKind::Fee { feerate_per_kw } => feerate = *feerate_per_kw,
                UpdateKind::Remove { .. } => {}
            }
        }
        let clamp = |v: i128| u64::try_from(v.max(0)).unwrap_or(u64::MAX);
        let (holder_msat, counterparty_msat) = match holder {
            Side::Local => (clamp(local), clamp(remote)),
            Side::Remote => (clamp(remote), clamp(local)),
        };
        CommitmentView {
            holder,
            holder_msat,
            counterparty_msat,
            feerate_per_kw: feerate,
            htlcs,
        }
    }

    /// The total value in the channel, settled plus pending, in msat: it never
    /// changes (value is conserved).
    pub fn total_msat(&self) -> u128 {
        let v = self.view(Side::Local, Which::Current);
        u128::from(v.holder_msat)
            + u128::from(v.counterparty_msat)
            + v.htlcs
                .iter()
                .map(|h| u128::from(h.add.amount_msat))
                .sum::<u128>()
    }

    /// Folds updates that are settled on both sides into the balances: a
    /// locked-in add whose removal is locked in, and locked-in fee updates.
    /// Returns the settled HTLCs. One pass over the log, whatever the
    /// number of HTLCs settled.
    fn fold_settled(&mut self) -> Vec<(Side, HtlcAdd, HtlcRemoval)> {
        // The locked-in removals, by the removed HTLC's (offerer, id).
        let removals: HashMap<(Side, u64), &HtlcRemoval> = self
            .updates
            .iter()
            .filter(|u| u.stage == UpdateStage::LockedIn)
            .filter_map(|u| match &u.kind {
                UpdateKind::Remove { htlc_id, removal } => {
                    Some(((u.proposer.other(), *htlc_id), removal))
                }
                _ => None,
            })
            .collect();
        let mut last_fee = None;
        for u in &self.updates {
            if let (UpdateKind::Fee { feerate_per_kw }, UpdateStage::LockedIn) = (&u.kind, u.stage)
            {
                last_fee = Some(*feerate_per_kw);
            }
        }
        if removals.is_empty() && last_fee.is_none() {
            return Vec::new();
        }
        let mut settled = Vec::new();
        let mut settled_ids: HashSet<(Side, u64)> = HashSet::new();
        let (mut local, mut remote) = (self.settled_local_msat, self.settled_remote_msat);
        for u in &self.updates {
            let UpdateKind::Add(add) = &u.kind else {
                continue;
            };
            let offerer = u.proposer;
            let Some(removal) = removals.get(&(offerer, add.id)) else {
                continue;
            };
            // The add's value left the offerer's settled balance only in
            // views; in the settled balances it moves now, in one step, to
            // the receiver if fulfilled (failed back: nothing moves).
            if removal.is_fulfill() {
                let amount = add.amount_msat;
                let (from, to) = match offerer {
                    Side::Local => (&mut local, &mut remote),
                    Side::Remote => (&mut remote, &mut local),
                };
                *from = from.saturating_sub(amount);
                *to = to.saturating_add(amount);
            }
            settled_ids.insert((offerer, add.id));
            settled.push((offerer, add.clone(), (*removal).clone()));
        }
        self.settled_local_msat = local;
        self.settled_remote_msat = remote;
        if let Some(f) = last_fee {
            self.settled_feerate_per_kw = f;
        }
        self.retain_updates(|u| match &u.kind {
            UpdateKind::Add(a) => !settled_ids.contains(&(u.proposer, a.id)),
            UpdateKind::Remove { htlc_id, .. } => {
                !settled_ids.contains(&(u.proposer.other(), *htlc_id))
            }
            UpdateKind::Fee { .. } => u.stage != UpdateStage::LockedIn,
        });
        settled
    }
}
