//! The fee schedule of one claim: a pure function of its persisted history
//! ([`FeeBumpState`]), the height and the fee estimate.
//!
//! A claim is (re)broadcast every block until it confirms. [`next_bump`]
//! says when to replace it and at what fee rate:
//!
//! - the first broadcast pays the estimator's estimate (never below
//!   [`FeeRate::FLOOR`]), capped by the claim's maximum;
//! - then the rate follows a line from that start to the maximum, reached at
//!   the claim's deadline, and never less than the current estimate;
//! - it never decreases: each replacement pays at least
//!   [`MIN_FEERATE_INCREMENT`] more than the last broadcast, and at least as
//!   much above the highest conflicting spend seen
//!   ([`FeeBumpState::record_conflict`]). Seeing a conflict never resets
//!   the schedule (an adversary who replaces our claim with its own
//!   transaction and lets it drop from mempools must not bring our rate
//!   back down: the LND replacement-stalling class);
//! - the fee itself must satisfy BIP 125 against the last broadcast:
//!   [`FeeTarget::min_fee`] is the least fee a replacement of a given
//!   weight may pay (higher rate, and the old fee plus the incremental relay
//!   fee of 1 sat/vbyte over the new size).
//!
//! The state is data: the resolver persists [`FeeBumpState::encode`]'s
//! bytes beside its claim and reads them back with
//! [`FeeBumpState::decode`], which never panics.

use bitcoin::Amount;
use lightning_chain::FeeRate;
use lightning_wire::tlv::{TlvStreamReader, TlvStreamWriter};
use lightning_wire::{DecodeError, Reader};

/// The least step, in sat per 1000 weight, between two broadcasts of one
/// claim: BIP 125's incremental relay fee (1 sat/vbyte = 250 sat/kw) plus a
/// margin for fees rounded down to whole satoshis, so that a claim of the
/// same weight at the new rate also pays the old fee plus 1 sat/vbyte.
pub const MIN_FEERATE_INCREMENT: u32 = 260;

/// The deadline, in blocks from the first broadcast, of a claim with none
/// of its own (`to_local` after its CSV, `to_remote`): a day.
pub const NO_DEADLINE_HORIZON: u32 = 144;

/// The last height at which a justice transaction may confirm: the revoked
/// commitment confirmed at `confirmation_height`, and the cheater's
/// `to_local` (and second-stage outputs) become theirs to spend in block
/// `confirmation_height + to_self_delay` (BIP 68; BOLT 5, "Revoked
/// Transaction Close Handling": claim "before the `to_self_delay`
/// expires"). `to_self_delay` is the cheater's CSV, the one in the revoked
/// script.
pub fn justice_deadline(confirmation_height: u32, to_self_delay: u16) -> u32 {
    confirmation_height
        .saturating_add(u32::from(to_self_delay))
        .saturating_sub(1)
}

/// The last height at which our HTLC-success (or a preimage claim on the
/// peer's commitment) may confirm: from block `cltv_expiry + 1` on, the
/// peer's timeout spend is final (`nLockTime = cltv_expiry`; BOLT 5, "HTLC
/// Output Handling").
pub fn htlc_success_deadline(cltv_expiry: u32) -> u32 {
    cltv_expiry
}

/// The deadline of an HTLC-timeout claim: the expiry of the incoming HTLC it
/// was forwarded from, which we must fail upstream before it expires (BOLT
/// 2, "`cltv_expiry_delta` Selection"); for a payment we made, which loses
/// nothing if the peer claims it with the preimage, `cltv_expiry` plus
/// [`NO_DEADLINE_HORIZON`].
pub fn htlc_timeout_deadline(cltv_expiry: u32, incoming_cltv_expiry: Option<u32>) -> u32 {
    incoming_cltv_expiry.unwrap_or(cltv_expiry.saturating_add(NO_DEADLINE_HORIZON))
}

/// The deadline of an anchor CPFP: the earliest deadline among the HTLC
/// claims waiting for the commitment (`htlc_deadlines`), or
/// [`NO_DEADLINE_HORIZON`] blocks from `height` when none is at stake.
pub fn anchor_cpfp_deadline(height: u32, htlc_deadlines: &[u32]) -> u32 {
    htlc_deadlines
        .iter()
        .copied()
        .min()
        .unwrap_or(height.saturating_add(NO_DEADLINE_HORIZON))
}

/// The highest fee rate a claim of `value` can pay on its own over
/// `weight` and still leave `dust` in its output: `(value - dust) x 1000 /
/// weight` sat/kw, a natural cap ([`FeeBumpState::new`]) for a claim that
/// pays for itself. A claim the wallet pays for (CPFP, anchors HTLC
/// transactions) is capped by what is at stake instead, or by the host.
///
/// ```
/// # use lightning_core::onchain::bump::value_cap;
/// # use bitcoin::Amount;
/// let cap = value_cap(Amount::from_sat(100_330), 1_000, Amount::from_sat(330));
/// assert_eq!(cap.sat_per_kw(), 100_000);
/// assert_eq!(value_cap(Amount::from_sat(100), 1_000, Amount::from_sat(330)).sat_per_kw(), 0);
/// ```
pub fn value_cap(value: Amount, weight: u64, dust: Amount) -> FeeRate {
    let spendable = u128::from(value.to_sat().saturating_sub(dust.to_sat()));
    let rate = spendable * 1000 / u128::from(weight.max(1));
    FeeRate::from_sat_per_kw(u32::try_from(rate).unwrap_or(u32::MAX))
}

/// One claim's fee history: what the schedule needs to stay monotonic
/// across restarts and conflicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FeeBumpState {
    deadline: u32,
    max_feerate: u32,
    start_height: u32,
    start_feerate: u32,
    last_height: u32,
    last_feerate: u32,
    last_fee: u64,
    last_weight: u64,
    conflict_feerate: u32,
    conflict_fee: u64,
    broadcasts: u32,
}

/// What the next broadcast must pay: a fee rate, and a fee that also
/// replaces the last broadcast under BIP 125.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeTarget {
    /// The fee rate (for a CPFP child: of the package).
    pub feerate: FeeRate,
    /// The fee and weight of the transaction this one replaces.
    pub replaces: Option<(Amount, u64)>,
    /// The highest fee and fee rate of a conflicting spend seen, which the
    /// transaction must outbid as well.
    pub conflict: Option<(Amount, FeeRate)>,
}

impl FeeTarget {
    /// A first broadcast at `feerate`.
    pub fn new(feerate: FeeRate) -> Self {
        FeeTarget {
            feerate,
            replaces: None,
            conflict: None,
        }
    }

    /// The least fee a transaction of `weight` may pay to replace the last
    /// broadcast (BIP 125 rules 3, 4 and 6): more than the old fee rate, and
    /// the old fee plus 1 sat per vbyte of its own size. Zero for a first
    /// broadcast.
    pub fn min_fee(&self, weight: u64) -> Amount {
        let relay = weight.div_ceil(4);
        let mut least = 0u64;
        if let Some((old_fee, old_weight)) = self.replaces {
            let old = old_fee.to_sat();
            // fee / weight > old / old_weight  <=>  fee > old * weight / old_weight.
            let higher_rate = if old_weight == 0 {
                0
            } else {
                let scaled = u128::from(old) * u128::from(weight) / u128::from(old_weight);
                u64::try_from(scaled).unwrap_or(u64::MAX).saturating_add(1)
            };
            least = least.max(old.saturating_add(relay)).max(higher_rate);
        }
        if let Some((fee, rate)) = self.conflict {
            let at_rate = u64::from(rate.sat_per_kw()).saturating_mul(weight) / 1000;
            least = least
                .max(fee.to_sat().saturating_add(relay))
                .max(at_rate.saturating_add(1));
        }
        Amount::from_sat(least)
    }
}

impl FeeBumpState {
    /// The schedule of a claim that must confirm by block `deadline` and
    /// may pay at most `max_feerate` (what its value at stake or the
    /// host's configuration allows).
    pub fn new(deadline: u32, max_feerate: FeeRate) -> Self {
        FeeBumpState {
            deadline,
            max_feerate: max_feerate.sat_per_kw(),
            start_height: 0,
            start_feerate: 0,
            last_height: 0,
            last_feerate: 0,
            last_fee: 0,
            last_weight: 0,
            conflict_feerate: 0,
            conflict_fee: 0,
            broadcasts: 0,
        }
    }

    /// The claim's deadline.
    pub fn deadline(&self) -> u32 {
        self.deadline
    }

    /// The fee rate of the last broadcast, if any.
    pub fn last_feerate(&self) -> Option<FeeRate> {
        (self.broadcasts > 0).then(|| FeeRate::from_sat_per_kw(self.last_feerate))
    }

    /// The number of broadcasts recorded.
    pub fn broadcasts(&self) -> u32 {
        self.broadcasts
    }

    /// The highest fee rate of a conflicting spend seen.
    pub fn conflict_feerate(&self) -> FeeRate {
        FeeRate::from_sat_per_kw(self.conflict_feerate)
    }

    /// What a broadcast at `feerate` must pay to replace the last one.
    pub fn target(&self, feerate: FeeRate) -> FeeTarget {
        FeeTarget {
            feerate,
            replaces: (self.broadcasts > 0)
                .then_some((Amount::from_sat(self.last_fee), self.last_weight)),
            conflict: (self.conflict_feerate > 0 || self.conflict_fee > 0).then_some((
                Amount::from_sat(self.conflict_fee),
                FeeRate::from_sat_per_kw(self.conflict_feerate),
            )),
        }
    }

    /// Whether a transaction paying `fee` at `weight` is a valid BIP 125
    /// replacement of the last broadcast (always, for the first).
    pub fn is_valid_replacement(&self, fee: Amount, weight: u64) -> bool {
        fee >= self.target(FeeRate::from_sat_per_kw(0)).min_fee(weight)
    }

    /// Records a broadcast at `height` at `feerate` paying `fee` over
    /// `weight` (for a CPFP child: the child's own fee and weight, which is
    /// what its replacement must beat). A rate below the last one is
    /// recorded as the last one: the history never goes down.
    pub fn record_broadcast(&mut self, height: u32, feerate: FeeRate, fee: Amount, weight: u64) {
        let rate = feerate.sat_per_kw();
        if self.broadcasts == 0 {
            self.start_height = height;
            self.start_feerate = rate;
        }
        self.broadcasts = self.broadcasts.saturating_add(1);
        self.last_height = self.last_height.max(height);
        self.last_feerate = self.last_feerate.max(rate);
        self.last_fee = self.last_fee.max(fee.to_sat());
        self.last_weight = weight;
    }

    /// Records a spend conflicting with the claim (for example seen in the
    /// mempool) paying `fee` over `weight`. It only ever raises what the
    /// next replacement must pay (BIP 125: more than its fee rate, and its
    /// fee plus the relay fee); it never lowers or resets the schedule.
    pub fn record_conflict(&mut self, fee: Amount, weight: u64) {
        let rate = u128::from(fee.to_sat()) * 1000 / u128::from(weight.max(1));
        let rate = u32::try_from(rate).unwrap_or(u32::MAX);
        self.conflict_feerate = self.conflict_feerate.max(rate);
        self.conflict_fee = self.conflict_fee.max(fee.to_sat());
    }

    /// The persisted form: a version byte, then a TLV stream (BOLT 1
    /// framing), so that later fields can be added as odd types.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = TlvStreamWriter::new();
        w.put(0, &self.deadline);
        w.put(2, &self.max_feerate);
        w.put(4, &self.start_height);
        w.put(6, &self.start_feerate);
        w.put(8, &self.last_height);
        w.put(10, &self.last_feerate);
        w.put(12, &self.last_fee);
        w.put(14, &self.last_weight);
        w.put(16, &self.conflict_feerate);
        w.put(18, &self.broadcasts);
        w.put(20, &self.conflict_fee);
        let mut out = vec![Self::VERSION];
        w.write(&mut out);
        out
    }

    const VERSION: u8 = 1;

    /// Reads [`encode`](Self::encode)'s bytes: any input gives a state or a
    /// typed error, never a panic. A state whose history is inconsistent
    /// (a last rate below the start, broadcasts without a rate) is refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (&version, rest) = bytes
            .split_first()
            .ok_or_else(|| DecodeError::invalid("empty fee bump state"))?;
        if version != Self::VERSION {
            return Err(DecodeError::invalid("unknown fee bump state version"));
        }
        let mut r = TlvStreamReader::parse(&mut Reader::new(rest))?;
        fn need<T>(v: Option<T>, name: &'static str) -> Result<T, DecodeError> {
            v.ok_or_else(|| DecodeError::invalid(format!("fee bump state: missing {name}")))
        }
        let s = FeeBumpState {
            deadline: need(r.take(0, "deadline")?, "deadline")?,
            max_feerate: need(r.take(2, "max_feerate")?, "max_feerate")?,
            start_height: need(r.take(4, "start_height")?, "start_height")?,
            start_feerate: need(r.take(6, "start_feerate")?, "start_feerate")?,
            last_height: need(r.take(8, "last_height")?, "last_height")?,
            last_feerate: need(r.take(10, "last_feerate")?, "last_feerate")?,
            last_fee: need(r.take(12, "last_fee")?, "last_fee")?,
            last_weight: need(r.take(14, "last_weight")?, "last_weight")?,
            conflict_feerate: need(r.take(16, "conflict_feerate")?, "conflict_feerate")?,
            broadcasts: need(r.take(18, "broadcasts")?, "broadcasts")?,
            conflict_fee: need(r.take(20, "conflict_fee")?, "conflict_fee")?,
        };
        r.finish()?;
        let consistent = if s.broadcasts == 0 {
            s.start_height == 0
                && s.start_feerate == 0
                && s.last_height == 0
                && s.last_feerate == 0
                && s.last_fee == 0
                && s.last_weight == 0
        } else {
            s.last_feerate >= s.start_feerate && s.last_height >= s.start_height
        };
        if !consistent {
            return Err(DecodeError::invalid("fee bump state: inconsistent history"));
        }
        Ok(s)
    }
}

/// The fee rate of the claim's next broadcast at `height`, given the
/// estimator's current `estimate` for it; `None` to keep (and rebroadcast)
/// the last one.
///
/// Pure. Always `Some` before the first broadcast; after it, at most one
/// step per block, and every step is strictly above the last broadcast by
/// at least [`MIN_FEERATE_INCREMENT`] and above any conflicting spend seen
/// by as much, and never above the claim's maximum (when the maximum leaves
/// no room for such a step: `None`).
///
/// ```
/// # use lightning_core::onchain::bump::{next_bump, FeeBumpState};
/// # use lightning_chain::FeeRate;
/// # use bitcoin::Amount;
/// let mut s = FeeBumpState::new(110, FeeRate::from_sat_per_kw(20_000));
/// let first = next_bump(&s, 100, FeeRate::from_sat_per_kw(1_000)).unwrap();
/// assert_eq!(first.sat_per_kw(), 1_000);
/// s.record_broadcast(100, first, Amount::from_sat(700), 700);
/// // The same block: keep it. Next block: a step up the line to 20,000.
/// assert_eq!(next_bump(&s, 100, FeeRate::from_sat_per_kw(1_000)), None);
/// assert_eq!(next_bump(&s, 101, FeeRate::from_sat_per_kw(1_000)).unwrap().sat_per_kw(), 2_900);
/// // A lower estimate or a cheap conflict never brings it down.
/// s.record_conflict(Amount::from_sat(350), 700);
/// assert!(next_bump(&s, 101, FeeRate::from_sat_per_kw(253)).unwrap().sat_per_kw() >= 2_900);
/// ```
pub fn next_bump(state: &FeeBumpState, height: u32, estimate: FeeRate) -> Option<FeeRate> {
    let cap = state.max_feerate.max(FeeRate::FLOOR.sat_per_kw());
    let estimate = estimate.at_least_floor().sat_per_kw();
    let over_conflict = over_conflict(state);
    if state.broadcasts == 0 {
        let rate = estimate.max(over_conflict).min(cap);
        return Some(FeeRate::from_sat_per_kw(rate));
    }
    if height <= state.last_height {
        return None;
    }
    // The line from the first broadcast's rate to the cap at the deadline.
    let total = state.deadline.saturating_sub(state.start_height).max(1);
    let elapsed = height.saturating_sub(state.start_height).min(total);
    let start = state.start_feerate.min(cap);
    let span = u64::from(cap - start);
    let along = span * u64::from(elapsed) / u64::from(total);
    let curve = u32::try_from(u64::from(start) + along).unwrap_or(cap);
    let desired = curve.max(estimate);
    let outbid = over_conflict > state.last_feerate;
    if desired <= state.last_feerate && !outbid {
        return None;
    }
    let least = state.last_feerate.saturating_add(MIN_FEERATE_INCREMENT);
    let rate = desired.max(least).max(over_conflict);
    if rate <= cap {
        Some(FeeRate::from_sat_per_kw(rate))
    } else if cap >= least {
        Some(FeeRate::from_sat_per_kw(cap))
    } else {
        // The cap leaves no room for a valid replacement.
        None
    }
}

/// The least rate that outbids the conflict seen: its rate plus
/// [`MIN_FEERATE_INCREMENT`], and, at the weight of our last broadcast, its
/// fee plus the relay fee of our size (BIP 125 rule 3) with a satoshi of
/// margin for fees rounded down.
fn over_conflict(state: &FeeBumpState) -> u32 {
    if state.conflict_feerate == 0 && state.conflict_fee == 0 {
        return 0;
    }
    let by_rate = state.conflict_feerate.saturating_add(MIN_FEERATE_INCREMENT);
    let by_fee = if state.last_weight > 0 {
        let w = u128::from(state.last_weight);
        let need = u128::from(state.conflict_fee) + w.div_ceil(4) + 1;
        u32::try_from((need * 1000).div_ceil(w)).unwrap_or(u32::MAX)
    } else {
        0
    };
    by_rate.max(by_fee)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rate(r: u32) -> FeeRate {
        FeeRate::from_sat_per_kw(r)
    }

    #[test]
    fn rises_to_the_cap_at_the_deadline() {
        let mut s = FeeBumpState::new(110, rate(10_253));
        let mut last = 0;
        for h in 100..=115 {
            if let Some(r) = next_bump(&s, h, rate(253)) {
                assert!(r.sat_per_kw() > last);
                last = r.sat_per_kw();
                s.record_broadcast(h, r, Amount::from_sat(u64::from(last)), 1_000);
            }
        }
        assert_eq!(last, 10_253);
        assert_eq!(next_bump(&s, 200, rate(50_000)), None);
    }

    #[test]
    fn conflict_is_outbid_and_never_lowers() {
        let mut s = FeeBumpState::new(200, rate(100_000));
        s.record_broadcast(100, rate(5_000), Amount::from_sat(5_000), 1_000);
        s.record_conflict(Amount::from_sat(8_000), 1_000);
        let r = next_bump(&s, 101, rate(253)).unwrap();
        assert!(r.sat_per_kw() >= 8_000 + MIN_FEERATE_INCREMENT);
        // A larger conflict must be outbid in absolute fee too, at our
        // weight (1,000): 16,000 sat plus 250 vbytes.
        s.record_conflict(Amount::from_sat(16_000), 2_000);
        let r = next_bump(&s, 101, rate(253)).unwrap();
        assert!(u64::from(r.sat_per_kw()) >= 16_000 + 250);
        // A lower conflict later does not lower anything.
        s.record_conflict(Amount::from_sat(300), 1_000);
        assert_eq!(s.conflict_feerate(), rate(8_000));
    }

    #[test]
    fn min_fee_is_bip125() {
        let mut s = FeeBumpState::new(200, rate(100_000));
        assert!(s.is_valid_replacement(Amount::ZERO, 1_000));
        s.record_broadcast(100, rate(1_000), Amount::from_sat(1_000), 1_000);
        let t = s.target(rate(2_000));
        // Same weight: old fee + 250 vbytes.
        assert_eq!(t.min_fee(1_000), Amount::from_sat(1_250));
        // Half the weight: must still beat the old rate.
        assert_eq!(t.min_fee(400), Amount::from_sat(1_100));
        assert!(s.is_valid_replacement(Amount::from_sat(1_250), 1_000));
        assert!(!s.is_valid_replacement(Amount::from_sat(1_249), 1_000));
    }

    #[test]
    fn decoder_refuses_damage() {
        let mut s = FeeBumpState::new(7, rate(9_000));
        s.record_broadcast(3, rate(1_000), Amount::from_sat(500), 600);
        let bytes = s.encode();
        assert_eq!(FeeBumpState::decode(&bytes), Ok(s));
        assert!(FeeBumpState::decode(&[]).is_err());
        assert!(FeeBumpState::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert!(FeeBumpState::decode(&v2).is_err());
    }

    fn arb_state() -> impl Strategy<Value = FeeBumpState> {
        (
            any::<u32>(),
            any::<u32>(),
            proptest::collection::vec(
                (0u32..1_000, 0u32..200_000, 0u64..1_000_000, 1u64..100_000),
                0..5,
            ),
            any::<u32>(),
        )
            .prop_map(|(deadline, max, broadcasts, conflict)| {
                let mut s = FeeBumpState::new(deadline, rate(max));
                let mut h = 0u32;
                for (dh, r, fee, w) in broadcasts {
                    h = h.saturating_add(dh);
                    s.record_broadcast(h, rate(r), Amount::from_sat(fee), w);
                }
                s.record_conflict(Amount::from_sat(u64::from(conflict)), 1_000);
                s
            })
    }

    proptest! {
        #[test]
        fn encoding_round_trips(s in arb_state()) {
            prop_assert_eq!(FeeBumpState::decode(&s.encode()), Ok(s));
        }

        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = FeeBumpState::decode(&bytes);
            let mut v = vec![1u8];
            v.extend_from_slice(&bytes);
            let _ = FeeBumpState::decode(&v);
        }

        /// Whatever the heights, estimates and conflicts, the rates given
        /// only go up, and each one is a valid BIP 125 replacement at the
        /// same weight.
        #[test]
        fn rates_never_decrease(
            deadline in 0u32..300,
            max in 253u32..200_000,
            steps in proptest::collection::vec((0u32..4, 0u32..60_000, 0u32..60_000, any::<bool>()), 1..40),
        ) {
            let mut s = FeeBumpState::new(deadline, rate(max));
            let mut h = 100u32;
            let weight = 700u64;
            let mut last: Option<(u32, Amount)> = None;
            for (dh, estimate, conflict, seen) in steps {
                h += dh;
                if seen {
                    s.record_conflict(Amount::from_sat(u64::from(conflict)), 900);
                }
                if let Some(r) = next_bump(&s, h, rate(estimate)) {
                    // Fee as a sweep pays it: rounded down.
                    let fee = Amount::from_sat(u64::from(r.sat_per_kw()) * weight / 1000);
                    if let Some((prev, prev_fee)) = last {
                        prop_assert!(r.sat_per_kw() > prev);
                        prop_assert!(r.sat_per_kw() >= prev + MIN_FEERATE_INCREMENT);
                        prop_assert!(r.sat_per_kw() <= max.max(253));
                        prop_assert!(fee >= prev_fee + Amount::from_sat(weight.div_ceil(4)));
                    }
                    s.record_broadcast(h, r, fee, weight);
                    last = Some((r.sat_per_kw(), fee));
                }
                prop_assert_eq!(s.last_feerate().map(FeeRate::sat_per_kw), last.map(|l| l.0));
            }
        }
    }
}
