//! A channel's on-chain resolver: what spent its funding output, every
//! claim we made on what that spend left us, and how deep each is (BOLT 5,
//! "General Requirements": a claim stays pending until it is "irrevocably
//! resolved", which we take as 6 blocks deep; the record is kept until
//! everything is 100 blocks deep, so that a reorg of any depth up to that
//! rebuilds and rebroadcasts what it undid).
//!
//! Sans-IO and pure: the node classifies spends and signs claims
//! (`node/onchain.rs`); this type only keeps the bookkeeping (heights,
//! confirmations, conflicts) and says what to broadcast at a height. It is
//! persisted on its own key (`onchain/<channel id>`) with
//! [`super::record`]'s encoding, in the same batch as the step that
//! changed it, before anything it asks to broadcast leaves.

use bitcoin::{Amount, OutPoint, Transaction, Txid};
use lightning_wire::types::PaymentHash;

use super::bump::record::{AnchorBump, ClaimBump};
use super::classify::HtlcCandidate;

/// Depth at which a claim counts as resolved (BOLT 5: "irrevocably
/// resolved"; a reorg deeper than this is not expected).
pub const RESOLVED_DEPTH: u32 = 6;
/// Depth at which the whole record may be forgotten (BOLT 5 recommends
/// keeping state until outputs are 100 blocks deep).
pub const FORGET_DEPTH: u32 = 100;

/// What spent the funding output (see
/// [`SpendKind`](super::classify::SpendKind)), as persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SpendTag {
    /// A closing transaction.
    MutualClose,
    /// Our commitment.
    Holder,
    /// The peer's current commitment.
    CounterpartyCurrent,
    /// The peer's next commitment.
    CounterpartyNext,
    /// A revoked commitment of the peer.
    CounterpartyRevoked,
    /// Not recognised: funds may be lost (reported loudly).
    Unknown,
}

impl SpendTag {
    pub(crate) fn to_u8(self) -> u8 {
        match self {
            SpendTag::MutualClose => 0,
            SpendTag::Holder => 1,
            SpendTag::CounterpartyCurrent => 2,
            SpendTag::CounterpartyNext => 3,
            SpendTag::CounterpartyRevoked => 4,
            SpendTag::Unknown => 5,
        }
    }
    pub(crate) fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0 => SpendTag::MutualClose,
            1 => SpendTag::Holder,
            2 => SpendTag::CounterpartyCurrent,
            3 => SpendTag::CounterpartyNext,
            4 => SpendTag::CounterpartyRevoked,
            5 => SpendTag::Unknown,
            _ => return None,
        })
    }
}

/// The confirmed (or once confirmed) spend of the funding output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingSpend {
    /// The spending transaction (our commitment is rebroadcast from it
    /// after a reorg).
    pub tx: Transaction,
    /// The height it confirmed at, `None` after a reorg undid it.
    pub height: Option<u32>,
    /// What it is.
    pub kind: SpendTag,
}

/// What a [`PendingClaim`] claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimTag {
    /// `to_local` of our commitment, after `to_self_delay`.
    ToLocal,
    /// Our `to_remote` on the peer's commitment.
    ToRemote,
    /// Our HTLC-timeout transaction (an HTLC we offered, our commitment).
    HolderHtlcTimeout,
    /// Our HTLC-success transaction (an HTLC offered to us, our
    /// commitment, with its preimage).
    HolderHtlcSuccess,
    /// The delayed output of our HTLC transaction, after `to_self_delay`.
    SecondStage,
    /// An HTLC the peer offered, claimed with its preimage on its
    /// commitment.
    HtlcPreimage,
    /// An HTLC we offered, timed out on the peer's commitment.
    HtlcTimeout,
    /// Justice: the peer's `to_local` on its revoked commitment.
    RevokedToLocal,
    /// Justice: an HTLC output of the peer's revoked commitment.
    RevokedHtlc,
    /// Justice: the output of the cheater's HTLC transaction.
    RevokedSecondStage,
}

impl ClaimTag {
    pub(crate) fn to_u8(self) -> u8 {
        match self {
            ClaimTag::ToLocal => 0,
            ClaimTag::ToRemote => 1,
            ClaimTag::HolderHtlcTimeout => 2,
            ClaimTag::HolderHtlcSuccess => 3,
            ClaimTag::SecondStage => 4,
            ClaimTag::HtlcPreimage => 5,
            ClaimTag::HtlcTimeout => 6,
            ClaimTag::RevokedToLocal => 7,
            ClaimTag::RevokedHtlc => 8,
            ClaimTag::RevokedSecondStage => 9,
        }
    }
    pub(crate) fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0 => ClaimTag::ToLocal,
            1 => ClaimTag::ToRemote,
            2 => ClaimTag::HolderHtlcTimeout,
            3 => ClaimTag::HolderHtlcSuccess,
            4 => ClaimTag::SecondStage,
            5 => ClaimTag::HtlcPreimage,
            6 => ClaimTag::HtlcTimeout,
            7 => ClaimTag::RevokedToLocal,
            8 => ClaimTag::RevokedHtlc,
            9 => ClaimTag::RevokedSecondStage,
            _ => return None,
        })
    }

    /// Whether the claim's transaction pays our wallet (sweeps), rather
    /// than an intermediate HTLC transaction whose output is claimed again.
    pub fn pays_wallet(self) -> bool {
        !matches!(
            self,
            ClaimTag::HolderHtlcTimeout | ClaimTag::HolderHtlcSuccess
        )
    }

    /// An HTLC-timeout claim: rebroadcast every block until it confirms
    /// (replacement cycling, CVE-2023-40231..40234).
    pub fn is_timeout(self) -> bool {
        matches!(self, ClaimTag::HolderHtlcTimeout | ClaimTag::HtlcTimeout)
    }
}

/// One claim: a signed transaction spending outputs of `parent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingClaim {
    /// What it claims.
    pub kind: ClaimTag,
    /// The HTLC's hash, for HTLC claims.
    pub payment_hash: Option<PaymentHash>,
    /// The HTLC's `id` (offered by us for a timeout claim, by the peer for
    /// a preimage claim), for HTLC claims on our commitment or the peer's
    /// current or next one: a timed-out HTLC is failed back by (channel,
    /// id), never by its hash. `None` for other claims, a revoked
    /// commitment's, and claims in records written before it was kept.
    pub htlc_id: Option<u64>,
    /// The signed transaction.
    pub tx: Transaction,
    /// The value of the outputs it spends (before its fee).
    pub value: Amount,
    /// The transaction whose outputs it spends.
    pub parent: Txid,
    /// Where `parent` confirmed, while it is.
    pub parent_height: Option<u32>,
    /// `OP_CSV` blocks after `parent` (0: none).
    pub csv: u16,
    /// `OP_CLTV` height (0: none): mined from `cltv + 1`... i.e. in a block
    /// whose height is above its `nLockTime`.
    pub cltv: u32,
    /// Where the claim confirmed, while it does.
    pub confirmed_at: Option<u32>,
    /// Another transaction spent one of its inputs (the peer's claim, or
    /// the cheater's HTLC transaction): its txid and height. The claim is
    /// dead while that spend stands.
    pub conflicted: Option<(Txid, u32)>,
    /// Its fee bumping (from its first broadcast by a node with the
    /// bumper; `None` in records written before).
    pub bump: Option<ClaimBump>,
}

impl PendingClaim {
    /// The outpoints it claims: its inputs, without the wallet coins a
    /// fee bump added (a wallet coin spent elsewhere is not a conflict
    /// with the claim, only with that version of it).
    pub fn spends(&self) -> impl Iterator<Item = OutPoint> + '_ {
        let wallet = self.bump.as_ref().map(|b| &b.wallet_inputs);
        self.tx
            .input
            .iter()
            .map(|i| i.previous_output)
            .filter(move |op| wallet.is_none_or(|w| !w.iter().any(|u| u.outpoint == *op)))
    }

    /// Whether the claim holds the wallet coins of its last version (they
    /// are reserved: no other claim may spend them): while it is pending,
    /// neither confirmed (its coins are spent then) nor lost to a
    /// conflict, and none of its coins spent by another transaction.
    pub fn holds_wallet_coins(&self) -> bool {
        self.confirmed_at.is_none()
            && self.conflicted.is_none()
            && self
                .bump
                .as_ref()
                .is_some_and(|b| !b.inputs_spent && !b.wallet_inputs.is_empty())
    }

    /// Whether `txid` is this claim: its transaction, or a version of it
    /// it replaced by a fee bump.
    pub fn is_version(&self, txid: &Txid) -> bool {
        self.tx.compute_txid() == *txid
            || self
                .bump
                .as_ref()
                .is_some_and(|b| b.replaced.contains(txid))
    }

    /// The first height a block may include it at, once its parent is
    /// confirmed: BIP 68 (`parent_height + csv`) and the `nLockTime`
    /// finality rule (a block above `cltv`).
    pub fn mature_height(&self) -> Option<u32> {
        let parent = self.parent_height?;
        let by_csv = parent.saturating_add(u32::from(self.csv));
        let by_cltv = if self.cltv == 0 {
            0
        } else {
            self.cltv.saturating_add(1)
        };
        Some(by_csv.max(by_cltv).max(parent.saturating_add(1)))
    }

    /// Whether it should be (re)broadcast at tip `tip`: not confirmed, not
    /// conflicted, and mineable in the next block.
    pub fn due(&self, tip: u32) -> bool {
        self.confirmed_at.is_none()
            && self.conflicted.is_none()
            && self
                .mature_height()
                .is_some_and(|h| h <= tip.saturating_add(1))
    }

    fn depth(&self, tip: u32) -> u32 {
        match (self.confirmed_at, self.conflicted) {
            (Some(h), _) | (None, Some((_, h))) => tip.saturating_add(1).saturating_sub(h),
            _ => 0,
        }
    }
}

/// An HTLC we saw on this channel, kept after it left the update log so
/// that its output can be found (and punished) on a revoked commitment of
/// the peer: from remote commitment number `first_seen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HtlcHistoryEntry {
    /// The HTLC.
    pub htlc: HtlcCandidate,
    /// The peer's commitment number when we first saw it.
    pub first_seen: u64,
}

/// Something the resolver noticed in a confirmed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolverNote {
    /// One of our claims confirmed.
    ClaimConfirmed {
        /// Its txid.
        txid: Txid,
        /// What it claimed.
        kind: ClaimTag,
        /// The value it spent.
        value: Amount,
    },
    /// Another transaction spent the outputs of a claim of ours: the node
    /// looks at it (preimages, second-stage justice).
    Conflict {
        /// The claim that lost.
        kind: ClaimTag,
        /// The claim's HTLC.
        payment_hash: Option<PaymentHash>,
    },
    /// A transaction spends an output of a transaction we watch (the
    /// funding spend, or one of our HTLC transactions) and is not one of
    /// our claims.
    ForeignSpend,
}

/// The per-channel resolver.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChannelResolver {
    /// The funding spend, once seen.
    pub spend: Option<FundingSpend>,
    /// Every claim made since.
    pub claims: Vec<PendingClaim>,
    /// The HTLC history for justice.
    pub history: Vec<HtlcHistoryEntry>,
    /// The CPFP of our anchor on an unconfirmed anchors commitment.
    pub anchor: Option<AnchorBump>,
    /// Claims set aside when a reorg replaced the funding spend with
    /// another: if the first spend comes back, its claims resume their fee
    /// schedule (and their last, highest, transaction) instead of starting
    /// lower than what some mempools already hold.
    pub retired: Vec<PendingClaim>,
}

impl ChannelResolver {
    /// Adds an HTLC to the history; whether it was new.
    pub fn remember_htlc(&mut self, htlc: HtlcCandidate, remote_number: u64) -> bool {
        if self.history.iter().any(|h| h.htlc == htlc) {
            return false;
        }
        self.history.push(HtlcHistoryEntry {
            htlc,
            first_seen: remote_number,
        });
        true
    }

    /// The history as the classifier takes it.
    pub fn history_candidates(&self) -> Vec<HtlcCandidate> {
        self.history.iter().map(|h| h.htlc).collect()
    }

    /// Most retired claims kept (the oldest go first).
    pub const MAX_RETIRED: usize = 64;

    /// Sets the claims aside (the funding spend they claim from was
    /// replaced by another after a reorg): those with a fee history go to
    /// [`retired`](Self::retired).
    pub fn retire_claims(&mut self) {
        let old = std::mem::take(&mut self.claims);
        for c in old.into_iter().filter(|c| c.bump.is_some()) {
            let spent: Vec<OutPoint> = c.spends().collect();
            self.retired
                .retain(|r| !r.spends().eq(spent.iter().copied()));
            self.retired.push(c);
        }
        let excess = self.retired.len().saturating_sub(Self::MAX_RETIRED);
        self.retired.drain(..excess);
    }

    /// Adds a claim unless one with the same transaction is already kept.
    /// A retired claim of the same outputs comes back with it: its last
    /// transaction and fee history (never a lower fee after a reorg).
    pub fn add_claim(&mut self, mut claim: PendingClaim) -> bool {
        let txid = claim.tx.compute_txid();
        let claimed: Vec<OutPoint> = claim.spends().collect();
        if self
            .claims
            .iter()
            .any(|c| c.is_version(&txid) || c.spends().eq(claimed.iter().copied()))
        {
            return false;
        }
        if let Some(i) = self
            .retired
            .iter()
            .position(|r| r.spends().eq(claimed.iter().copied()))
        {
            let r = self.retired.remove(i);
            claim.tx = r.tx;
            claim.bump = r.bump;
        }
        self.claims.push(claim);
        true
    }

    /// The transactions whose outputs we care about: the funding spend and
    /// every claim (their outputs are claimed again, or they are
    /// conflicted), and those of the wallet coins our pending claims spend
    /// (a coin spent by another transaction sends its claim back to the
    /// wallet for others: [`ClaimBump::inputs_spent`]).
    pub fn watched_txids(&self) -> Vec<Txid> {
        let mut v = self.claim_txids();
        v.extend(
            self.claims
                .iter()
                .filter(|c| c.holds_wallet_coins())
                .flat_map(|c| c.bump.iter().flat_map(|b| &b.wallet_inputs))
                .map(|u| u.outpoint.txid),
        );
        v.sort();
        v.dedup();
        v
    }

    /// The funding spend, every claim and their parents.
    fn claim_txids(&self) -> Vec<Txid> {
        let mut v: Vec<Txid> = self.spend.iter().map(|s| s.tx.compute_txid()).collect();
        v.extend(self.claims.iter().map(|c| c.tx.compute_txid()));
        v.extend(self.claims.iter().map(|c| c.parent));
        v.sort();
        v.dedup();
        v
    }

    /// A confirmed transaction `tx` at `height` that spends an output of a
    /// watched transaction (or is one of our claims).
    pub fn tx_confirmed(&mut self, tx: &Transaction, height: u32) -> Vec<ResolverNote> {
        let txid = tx.compute_txid();
        let mut notes = Vec::new();
        let mut ours = false;
        for c in &mut self.claims {
            if c.parent == txid {
                c.parent_height = Some(height);
            }
            if c.is_version(&txid) {
                ours = true;
                // An earlier version confirmed: it is the claim now (its
                // outputs are what the next stage spends).
                if c.tx.compute_txid() != txid {
                    c.tx = tx.clone();
                }
                if c.confirmed_at != Some(height) {
                    c.confirmed_at = Some(height);
                    c.conflicted = None;
                    notes.push(ResolverNote::ClaimConfirmed {
                        txid,
                        kind: c.kind,
                        value: c.value,
                    });
                }
            }
        }
        // A wallet coin of a pending claim's last version spent by another
        // transaction (the host's, or another claim's, of this channel or
        // another): that version is dead; the claim is rebuilt with other
        // coins (node/bumping.rs).
        let mut coin_spent = false;
        for c in &mut self.claims {
            if c.is_version(&txid) || !c.holds_wallet_coins() {
                continue;
            }
            if let Some(b) = c.bump.as_mut() {
                let hit = b
                    .wallet_inputs
                    .iter()
                    .any(|u| tx.input.iter().any(|i| i.previous_output == u.outpoint));
                if hit {
                    b.inputs_spent = true;
                    coin_spent = true;
                }
            }
        }
        if coin_spent {
            notes.push(ResolverNote::ForeignSpend);
        }
        if !ours {
            let spent: Vec<OutPoint> = tx.input.iter().map(|i| i.previous_output).collect();
            let fee = self.fee_of(tx);
            let mut foreign = false;
            for c in &mut self.claims {
                if c.spends().any(|op| spent.contains(&op)) {
                    foreign = true;
                    // A replacement of ours must outbid it if a reorg
                    // brings the claim back (never a lower fee).
                    if let (Some(b), Some(fee)) = (c.bump.as_mut(), fee) {
                        b.state.record_conflict(fee, tx.weight().to_wu());
                    }
                    if c.conflicted.is_none() && c.confirmed_at.is_none() {
                        c.conflicted = Some((txid, height));
                        notes.push(ResolverNote::Conflict {
                            kind: c.kind,
                            payment_hash: c.payment_hash,
                        });
                    }
                }
            }
            let watched = self.claim_txids();
            if !coin_spent && (foreign || spent.iter().any(|op| watched.contains(&op.txid))) {
                notes.push(ResolverNote::ForeignSpend);
            }
        }
        notes
    }

    /// The fee `tx` pays, when every output it spends is one we know (of
    /// the funding spend or of a claim).
    pub fn fee_of(&self, tx: &Transaction) -> Option<Amount> {
        let mut inputs = Amount::ZERO;
        for i in &tx.input {
            let op = i.previous_output;
            let parent = self
                .spend
                .iter()
                .map(|s| &s.tx)
                .chain(self.claims.iter().map(|c| &c.tx))
                .find(|t| t.compute_txid() == op.txid)?;
            inputs = inputs.checked_add(parent.output.get(op.vout as usize)?.value)?;
        }
        let outputs = tx
            .output
            .iter()
            .try_fold(Amount::ZERO, |a, o| a.checked_add(o.value))?;
        inputs.checked_sub(outputs)
    }

    /// The chain's tip is now `tip`: everything confirmed above it was
    /// undone by a reorg (a disconnection, or a light client's lower tip).
    /// Returns whether anything changed.
    pub fn reorged_to(&mut self, tip: u32) -> bool {
        let mut changed = false;
        let above = |h: &mut Option<u32>, changed: &mut bool| {
            if h.is_some_and(|h| h > tip) {
                *h = None;
                *changed = true;
            }
        };
        if let Some(s) = &mut self.spend {
            above(&mut s.height, &mut changed);
        }
        for c in &mut self.claims {
            above(&mut c.parent_height, &mut changed);
            above(&mut c.confirmed_at, &mut changed);
            if c.conflicted.is_some_and(|(_, h)| h > tip) {
                c.conflicted = None;
                changed = true;
            }
        }
        // A claim whose parent is the funding spend follows it.
        if let Some(s) = &self.spend {
            let stxid = s.tx.compute_txid();
            let sh = s.height;
            for c in &mut self.claims {
                if c.parent == stxid && c.parent_height != sh {
                    c.parent_height = sh;
                    changed = true;
                }
            }
        }
        changed
    }

    /// What to broadcast at tip `tip`: the funding spend while a reorg has
    /// unconfirmed it, and every due claim (HTLC-timeout claims every block, so
    /// a replacement-cycled one comes back at once).
    pub fn to_broadcast(&self, tip: u32) -> Vec<Transaction> {
        let mut v = Vec::new();
        if let Some(s) = &self.spend {
            // Any recognised spend is fully signed: whoever published it,
            // getting it back into a block gets our claims back.
            if s.height.is_none() && s.kind != SpendTag::Unknown {
                v.push(s.tx.clone());
            }
        }
        v.extend(
            self.claims
                .iter()
                .filter(|c| c.due(tip))
                .map(|c| c.tx.clone()),
        );
        v
    }

    /// Whether every claim is resolved (`RESOLVED_DEPTH` deep, confirmed
    /// or lost to a conflict).
    pub fn is_resolved(&self, tip: u32) -> bool {
        self.spend.as_ref().is_some_and(|s| s.height.is_some())
            && self.claims.iter().all(|c| c.depth(tip) >= RESOLVED_DEPTH)
    }

    /// Whether the record may go: the spend and every claim
    /// `FORGET_DEPTH` deep.
    pub fn may_forget(&self, tip: u32) -> bool {
        let Some(spend) = &self.spend else {
            return false;
        };
        let Some(h) = spend.height else { return false };
        tip.saturating_add(1).saturating_sub(h) >= FORGET_DEPTH
            && self.claims.iter().all(|c| c.depth(tip) >= FORGET_DEPTH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::hashes::Hash;
    use bitcoin::transaction::Version;
    use bitcoin::{ScriptBuf, Sequence, TxIn, TxOut, Witness};

    fn tx(spends: OutPoint, n: u8) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: spends,
                script_sig: ScriptBuf::new(),
                sequence: Sequence(u32::from(n)),
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1000 + u64::from(n)),
                script_pubkey: ScriptBuf::new(),
            }],
        }
    }

    fn resolver() -> (ChannelResolver, Transaction) {
        let funding = OutPoint {
            txid: Txid::all_zeros(),
            vout: 0,
        };
        let commitment = tx(funding, 0);
        let ctxid = commitment.compute_txid();
        let mut r = ChannelResolver {
            spend: Some(FundingSpend {
                tx: commitment.clone(),
                height: Some(200),
                kind: SpendTag::Holder,
            }),
            ..Default::default()
        };
        r.add_claim(PendingClaim {
            kind: ClaimTag::ToLocal,
            payment_hash: None,
            htlc_id: None,
            tx: tx(
                OutPoint {
                    txid: ctxid,
                    vout: 0,
                },
                1,
            ),
            value: Amount::from_sat(5000),
            parent: ctxid,
            parent_height: Some(200),
            csv: 144,
            cltv: 0,
            confirmed_at: None,
            conflicted: None,
            bump: None,
        });
        (r, commitment)
    }

    #[test]
    fn csv_maturity_and_reorg() {
        let (mut r, _) = resolver();
        // Mineable at 200 + 144 = 344, so due at tip 343.
        assert!(r.to_broadcast(342).is_empty());
        assert_eq!(r.to_broadcast(343).len(), 1);
        let claim = r.claims[0].tx.clone();
        let notes = r.tx_confirmed(&claim, 344);
        assert!(matches!(notes[..], [ResolverNote::ClaimConfirmed { .. }]));
        assert!(!r.is_resolved(348));
        assert!(r.is_resolved(349));
        // A reorg of 2 blocks undoes the claim: rebroadcast.
        assert!(r.reorged_to(343));
        assert_eq!(r.to_broadcast(343).len(), 1);
        // A reorg below the commitment: our commitment goes out again.
        assert!(r.reorged_to(199));
        let again = r.to_broadcast(199);
        assert_eq!(again.len(), 1);
        assert_eq!(Some(&again[0]), r.spend.as_ref().map(|s| &s.tx));
        assert!(!r.may_forget(10_000));
    }

    #[test]
    fn conflict_is_noted_and_undone_by_reorg() {
        let (mut r, commitment) = resolver();
        let other = tx(
            OutPoint {
                txid: commitment.compute_txid(),
                vout: 0,
            },
            9,
        );
        let notes = r.tx_confirmed(&other, 300);
        assert!(notes
            .iter()
            .any(|n| matches!(n, ResolverNote::Conflict { .. })));
        assert!(r.to_broadcast(400).is_empty());
        assert!(r.reorged_to(299));
        assert_eq!(r.to_broadcast(400).len(), 1);
    }

    #[test]
    fn forget_after_100() {
        let (mut r, _) = resolver();
        let claim = r.claims[0].tx.clone();
        r.tx_confirmed(&claim, 344);
        assert!(!r.may_forget(442));
        assert!(r.may_forget(443));
    }
}
