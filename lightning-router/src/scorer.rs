//! Scoring channels by how likely they are to carry an amount.
//!
//! The router asks a [`ScoreLookup`] for a penalty per channel direction
//! and amount and adds it to the fee; [`ProbabilisticScorer`] learns, per
//! channel direction, bounds on the liquidity available at the sending end
//! and turns them into a success probability.
//!
//! # The model
//!
//! A direction of a channel of capacity `c` holds an unknown liquidity `L`
//! in `[0, c]`. The scorer keeps bounds `lo <= L <= hi` learned from
//! outcomes and assumes `L` uniform between them, so the probability that
//! an HTLC of `a` msat passes, given `f` msat already in flight over that
//! direction for the same payment, is
//!
//! ```text
//!   P = 1                                     if a + f <= lo
//!   P = 0                                     if a + f >  hi
//!   P = (F(hi) - F(a + f)) / (F(hi) - F(max(lo, f)))   otherwise
//! ```
//!
//! with `F` the prior's cumulative distribution: a mixture of the uniform
//! one and one that favours nearly empty and nearly full directions
//! ([`ScorerParams::drained_weight`]), as channels drained one way are
//! common. With the weight at 0, `F` is linear and `P` the uniform model's.
//!
//! What it learns (amounts are the HTLC amounts on that channel):
//! - a failure attributed to a channel ("temporary_channel_failure" at the
//!   node before it, BOLT 4): `L < a`, so `hi = a - 1`;
//! - every channel before the failing one, and every channel of a probe or
//!   payment that reached the payee: `L >= a`, so `lo = a`;
//! - a payment that settled: the liquidity moved, both bounds drop by `a`.
//!
//! A contradiction (a new lower bound above `hi`, or a new upper bound
//! below `lo`) resets the other bound: liquidity changes under us.
//!
//! Knowledge decays: the distance of each bound from its no-knowledge value
//! (`lo = 0`, `hi = c`) halves every [`ScorerParams::half_life`]. Time is
//! passed in ([`ProbabilisticScorer::set_time`] and the update calls): the
//! scorer never reads a clock.
//!
//! # The cost
//!
//! With `p` the probability above and `a` the amount, the penalty in msat
//! added to a hop's fee is
//!
//! ```text
//!   base_penalty_msat + a * base_penalty_amount_ppm / 1e6
//!     + min(-ln p, max_log_penalty) * (liquidity_penalty_msat + a * liquidity_penalty_amount_ppm / 1e6)
//! ```
//!
//! so fees and probability meet in one unit: a hop that halves the chance
//! of success (`-ln 0.5 = 0.69`) is worth paying about
//! `0.69 * liquidity_penalty_amount_ppm` ppm of the amount more in fees to
//! avoid. A direction whose learned upper bound is below the amount
//! (`p = 0`) gets `u64::MAX`, which the router treats as unusable: a retry
//! does not go back to a channel that just failed for that amount, and a
//! payment with no other way ends instead of spending its attempts there.
//! `-ln p` is capped at [`ScorerParams::max_log_penalty`] otherwise.

use core::hash::{BuildHasherDefault, Hasher};
use core::time::Duration;
use std::collections::HashMap;

use lightning_wire::types::ShortChannelId;
use lightning_wire::Msat;

use crate::graph::Direction;

/// What the router needs from a scorer.
pub trait ScoreLookup {
    /// The penalty, in msat of cost (not paid), for sending `amount` over
    /// `direction` of `scid` while `in_flight` msat of the same payment
    /// already use that direction. `capacity` is the channel's, if known.
    /// `u64::MAX` means "do not use".
    fn penalty_msat(
        &self,
        scid: ShortChannelId,
        direction: Direction,
        amount: Msat,
        in_flight: Msat,
        capacity: Option<Msat>,
    ) -> u64;

    /// The estimated probability that `amount` passes, between 0 and 1.
    fn success_probability(
        &self,
        scid: ShortChannelId,
        direction: Direction,
        amount: Msat,
        in_flight: Msat,
        capacity: Option<Msat>,
    ) -> f64;

    /// The cost of a whole route carrying `amount` with `fees` over `hops`
    /// hops in all, arriving with `probability`: what the router compares
    /// a single path and a split with. By default the fees alone.
    fn route_cost(&self, fees: Msat, _amount: Msat, _probability: f64, _hops: usize) -> u64 {
        fees.0
    }
}

/// A scorer that penalises nothing: routes are the cheapest in fees.
#[derive(Clone, Copy, Debug, Default)]
pub struct ZeroPenalty;

impl ScoreLookup for ZeroPenalty {
    fn penalty_msat(
        &self,
        _: ShortChannelId,
        _: Direction,
        _: Msat,
        _: Msat,
        _: Option<Msat>,
    ) -> u64 {
        0
    }

    fn success_probability(
        &self,
        _: ShortChannelId,
        _: Direction,
        _: Msat,
        _: Msat,
        _: Option<Msat>,
    ) -> f64 {
        1.0
    }
}

/// The scorer's parameters. Defaults are in parentheses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScorerParams {
    /// Flat cost per hop, in msat (500): prefers shorter routes when fees
    /// and probabilities tie.
    pub base_penalty_msat: u64,
    /// Cost per hop proportional to the amount, in millionths (0).
    pub base_penalty_amount_ppm: u32,
    /// Cost per unit of `-ln p`, in msat (1,000).
    pub liquidity_penalty_msat: u64,
    /// Cost per unit of `-ln p` proportional to the amount, in millionths
    /// (20,000, i.e. 2 % of the amount per unit: a failure costs a retry,
    /// and a retry costs time and may end the payment).
    pub liquidity_penalty_amount_ppm: u32,
    /// The cap on `-ln p` (ln 10^6) for `p > 0`: beyond it a hop is
    /// "nearly certainly failing" and all such hops cost the same.
    pub max_log_penalty: f64,
    /// How long it takes for learned bounds to lose half their distance
    /// from the no-knowledge bounds (6 hours).
    pub half_life: Duration,
    /// The share of channel directions assumed drained towards one end
    /// (0.5). The prior on a direction's liquidity `L` in `[0, c]` is
    /// `1 - w` parts uniform and `w` parts the density `12 (L/c - 1/2)^2`,
    /// which puts most of its weight near empty and near full; learned
    /// bounds cut that prior. 0 gives the plain uniform model.
    pub drained_weight: f64,
    /// The capacity assumed when a channel's is unknown and its policy
    /// gives no `htlc_maximum_msat` (a route hint): 0.1 BTC.
    pub unknown_capacity: Msat,
}

impl Default for ScorerParams {
    fn default() -> Self {
        ScorerParams {
            base_penalty_msat: 500,
            base_penalty_amount_ppm: 0,
            liquidity_penalty_msat: 1_000,
            liquidity_penalty_amount_ppm: 20_000,
            max_log_penalty: 13.815_510_557_964_274,
            half_life: Duration::from_secs(6 * 3600),
            drained_weight: 0.5,
            unknown_capacity: Msat(10_000_000_000),
        }
    }
}

/// Learned bounds of one channel direction, as offsets from the
/// no-knowledge bounds: `lo = min_offset`, `hi = capacity - max_offset`,
/// both as of `last_updated`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Liquidity {
    min_offset: u64,
    max_offset: u64,
    last_updated_secs: u64,
}

/// A multiplicative hasher for the `u64` keys (the default SipHash costs
/// more than the rest of a lookup; keys are not attacker-chosen beyond
/// channel ids a peer could announce, and a collision only slows a map).
#[derive(Default, Clone, Copy, Debug)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 =
                (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;

fn key(scid: ShortChannelId, direction: Direction) -> u64 {
    // Block heights stay below 2^23 for a long while yet, so the top bit
    // of a scid is free; were it not, two channels would share bounds.
    (scid.0 << 1) | u64::from(direction.bit())
}

/// One hop of a path as the scorer learns from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HopUse {
    /// The channel.
    pub scid: ShortChannelId,
    /// The direction used.
    pub direction: Direction,
    /// The HTLC amount on that channel.
    pub amount: Msat,
    /// The channel's capacity, if known.
    pub capacity: Option<Msat>,
}

/// Why [`ProbabilisticScorer::decode`] refused bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScorerDecodeError {
    /// Not a scorer record (magic).
    #[error("not a scorer record")]
    BadMagic,
    /// A version this code does not read.
    #[error("unknown scorer record version {0}")]
    UnknownVersion(u8),
    /// The length does not match the entry count.
    #[error("scorer record length does not match its entry count")]
    BadLength,
    /// Keys are not strictly increasing (duplicates or disorder).
    #[error("scorer record keys are not strictly increasing")]
    Unordered,
}

const MAGIC: &[u8; 4] = b"LRSC";
const VERSION: u8 = 1;
const HEADER_LEN: usize = 4 + 1 + 4;
const ENTRY_LEN: usize = 32;

/// The learning scorer described in the module documentation.
#[derive(Clone, Debug, Default)]
pub struct ProbabilisticScorer {
    params: ScorerParams,
    now_secs: u64,
    entries: KeyMap<Liquidity>,
}

impl ProbabilisticScorer {
    /// A scorer that knows nothing yet.
    pub fn new(params: ScorerParams) -> Self {
        ProbabilisticScorer {
            params,
            now_secs: 0,
            entries: KeyMap::default(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> &ScorerParams {
        &self.params
    }

    /// Sets the time lookups decay to (time since any fixed epoch the host
    /// keeps using; it never goes backwards in effect: an earlier time
    /// decays nothing).
    pub fn set_time(&mut self, now: Duration) {
        self.now_secs = now.as_secs();
    }

    /// The number of channel directions with learned bounds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing has been learned.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// An estimate of the heap bytes the learned bounds occupy (the table's
    /// allocated slots times slot size plus one control byte each).
    pub fn memory_bytes(&self) -> usize {
        self.entries.capacity() * (core::mem::size_of::<(u64, Liquidity)>() + 1)
    }

    fn decay_factor(&self, last_updated_secs: u64) -> f64 {
        let elapsed = self.now_secs.saturating_sub(last_updated_secs);
        let half = self.params.half_life.as_secs().max(1);
        if elapsed == 0 {
            1.0
        } else {
            (-(elapsed as f64) / half as f64).exp2()
        }
    }

    /// The current bounds `(lo, hi)` of a direction of capacity `cap`.
    fn bounds(&self, k: u64, cap: u64) -> (u64, u64) {
        match self.entries.get(&k) {
            None => (0, cap),
            Some(l) => {
                let f = self.decay_factor(l.last_updated_secs);
                let lo = (l.min_offset as f64 * f) as u64;
                let hi = cap.saturating_sub((l.max_offset as f64 * f) as u64);
                (lo.min(cap), hi.max(lo.min(cap)))
            }
        }
    }

    /// The learned bounds `(lo, hi)` of one direction now, for a capacity.
    pub fn liquidity_bounds(
        &self,
        scid: ShortChannelId,
        direction: Direction,
        capacity: Msat,
    ) -> (Msat, Msat) {
        let (lo, hi) = self.bounds(key(scid, direction), capacity.0);
        (Msat(lo), Msat(hi))
    }

    fn capacity_of(&self, capacity: Option<Msat>) -> u64 {
        capacity.unwrap_or(self.params.unknown_capacity).0
    }

    fn probability(&self, k: u64, amount: u64, in_flight: u64, cap: u64) -> f64 {
        let (lo, hi) = self.bounds(k, cap);
        let total = amount.saturating_add(in_flight);
        if total <= lo {
            return 1.0;
        }
        if total > hi {
            return 0.0;
        }
        let floor = lo.max(in_flight).min(hi);
        let w = self.params.drained_weight.clamp(0.0, 1.0);
        if w > 0.0 && cap > 0 {
            let c = cap as f64;
            let cdf = |x: u64| {
                let x = x as f64 / c;
                let d = x - 0.5;
                (1.0 - w) * x + w * (4.0 * d * d * d + 0.5)
            };
            let den = cdf(hi) - cdf(floor);
            if den > 1e-12 {
                return ((cdf(hi) - cdf(total)) / den).clamp(0.0, 1.0);
            }
        }
        let num = (hi - total) as f64 + 1.0;
        let den = (hi - floor) as f64 + 1.0;
        (num / den).clamp(0.0, 1.0)
    }

    fn update(&mut self, k: u64, cap: u64, f: impl FnOnce(u64, u64) -> (u64, u64)) {
        let (lo, hi) = self.bounds(k, cap);
        let (lo, hi) = f(lo, hi);
        let lo = lo.min(cap);
        let hi = hi.clamp(lo, cap);
        self.entries.insert(
            k,
            Liquidity {
                min_offset: lo,
                max_offset: cap - hi,
                last_updated_secs: self.now_secs,
            },
        );
    }

    fn learn_failed(&mut self, hop: &HopUse) {
        let cap = self.capacity_of(hop.capacity);
        let a = hop.amount.0;
        self.update(key(hop.scid, hop.direction), cap, |lo, _hi| {
            let hi = a.saturating_sub(1);
            (if lo > hi { 0 } else { lo }, hi)
        });
    }

    fn learn_passed(&mut self, hop: &HopUse) {
        let cap = self.capacity_of(hop.capacity);
        let a = hop.amount.0;
        self.update(key(hop.scid, hop.direction), cap, |lo, hi| {
            let lo = lo.max(a);
            (lo, if lo > hi { cap } else { hi })
        });
    }

    /// A payment part failed at `path[failing]` (the error attributed the
    /// failure to that channel, BOLT 4 "Returning Errors"): that direction
    /// could not carry its amount, every earlier one could. A `failing`
    /// index past the end learns only the passes.
    pub fn path_failed(&mut self, path: &[HopUse], failing: usize, now: Duration) {
        self.set_time(now);
        for (i, hop) in path.iter().enumerate() {
            if i < failing {
                self.learn_passed(hop);
            } else if i == failing {
                self.learn_failed(hop);
                break;
            }
        }
    }

    /// A payment part reached the payee and settled: every direction could
    /// carry its amount, and now holds that much less.
    pub fn path_succeeded(&mut self, path: &[HopUse], now: Duration) {
        self.set_time(now);
        for hop in path {
            self.learn_passed(hop);
            let cap = self.capacity_of(hop.capacity);
            let a = hop.amount.0;
            self.update(key(hop.scid, hop.direction), cap, |lo, hi| {
                (lo.saturating_sub(a), hi.saturating_sub(a))
            });
        }
    }

    /// A probe failed at `path[failing]`: as [`Self::path_failed`].
    pub fn probe_failed(&mut self, path: &[HopUse], failing: usize, now: Duration) {
        self.path_failed(path, failing, now);
    }

    /// A probe reached the payee (which rejected it as unknown): every
    /// direction could carry its amount, and nothing moved.
    pub fn probe_succeeded(&mut self, path: &[HopUse], now: Duration) {
        self.set_time(now);
        for hop in path {
            self.learn_passed(hop);
        }
    }

    /// The bytes of the learned bounds (parameters are the host's
    /// configuration and are not stored): `"LRSC"`, version 1, a `u32`
    /// count, then per entry, in increasing key order, the key (`scid << 1
    /// | direction`), `min_offset`, `max_offset` and `last_updated` seconds,
    /// all big-endian `u64`.
    pub fn encode(&self) -> Vec<u8> {
        let mut keys: Vec<(&u64, &Liquidity)> = self.entries.iter().collect();
        keys.sort_unstable_by_key(|(k, _)| **k);
        let mut out = Vec::with_capacity(HEADER_LEN + keys.len() * ENTRY_LEN);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&(keys.len() as u32).to_be_bytes());
        for (k, l) in keys {
            out.extend_from_slice(&k.to_be_bytes());
            out.extend_from_slice(&l.min_offset.to_be_bytes());
            out.extend_from_slice(&l.max_offset.to_be_bytes());
            out.extend_from_slice(&l.last_updated_secs.to_be_bytes());
        }
        out
    }

    /// Reads [`Self::encode`]'s bytes back, with `params`. Never panics;
    /// what it accepts re-encodes to the same bytes.
    pub fn decode(bytes: &[u8], params: ScorerParams) -> Result<Self, ScorerDecodeError> {
        let header = bytes
            .get(..HEADER_LEN)
            .ok_or(ScorerDecodeError::BadLength)?;
        if &header[..4] != MAGIC {
            return Err(ScorerDecodeError::BadMagic);
        }
        if header[4] != VERSION {
            return Err(ScorerDecodeError::UnknownVersion(header[4]));
        }
        let count = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) as usize;
        let body = &bytes[HEADER_LEN..];
        if count.checked_mul(ENTRY_LEN) != Some(body.len()) {
            return Err(ScorerDecodeError::BadLength);
        }
        let mut entries = KeyMap::default();
        entries.reserve(count);
        let mut prev: Option<u64> = None;
        let mut max_time = 0;
        for chunk in body.chunks_exact(ENTRY_LEN) {
            let word = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&chunk[i * 8..i * 8 + 8]);
                u64::from_be_bytes(b)
            };
            let k = word(0);
            if prev.is_some_and(|p| p >= k) {
                return Err(ScorerDecodeError::Unordered);
            }
            prev = Some(k);
            let l = Liquidity {
                min_offset: word(1),
                max_offset: word(2),
                last_updated_secs: word(3),
            };
            max_time = max_time.max(l.last_updated_secs);
            entries.insert(k, l);
        }
        Ok(ProbabilisticScorer {
            params,
            now_secs: max_time,
            entries,
        })
    }
}

impl ScoreLookup for ProbabilisticScorer {
    fn penalty_msat(
        &self,
        scid: ShortChannelId,
        direction: Direction,
        amount: Msat,
        in_flight: Msat,
        capacity: Option<Msat>,
    ) -> u64 {
        let p = self.success_probability(scid, direction, amount, in_flight, capacity);
        let neg_ln = if p <= 0.0 {
            // Learned to fail (the amount is above the upper bound): the
            // router does not use it until the bound decays.
            return u64::MAX;
        } else {
            (-p.ln()).min(self.params.max_log_penalty)
        };
        let a = amount.0 as f64;
        let base = self.params.base_penalty_msat as f64
            + a * f64::from(self.params.base_penalty_amount_ppm) / 1e6;
        let liq = neg_ln
            * (self.params.liquidity_penalty_msat as f64
                + a * f64::from(self.params.liquidity_penalty_amount_ppm) / 1e6);
        // Saturating float-to-int conversion.
        (base + liq) as u64
    }

    fn success_probability(
        &self,
        scid: ShortChannelId,
        direction: Direction,
        amount: Msat,
        in_flight: Msat,
        capacity: Option<Msat>,
    ) -> f64 {
        let cap = self.capacity_of(capacity);
        self.probability(key(scid, direction), amount.0, in_flight.0, cap)
    }

    /// Fees, the per-hop base penalties, and the liquidity penalty of the
    /// whole route's probability weighted by the whole amount (so that a
    /// split is not made to look safer by weighting each part's risk by
    /// its own smaller amount).
    fn route_cost(&self, fees: Msat, amount: Msat, probability: f64, hops: usize) -> u64 {
        let a = amount.0 as f64;
        let neg_ln = if probability <= 1e-12 {
            -(1e-12f64).ln()
        } else {
            -probability.ln()
        };
        let base = hops as f64
            * (self.params.base_penalty_msat as f64
                + a * f64::from(self.params.base_penalty_amount_ppm) / 1e6);
        let liq = neg_ln
            * (self.params.liquidity_penalty_msat as f64
                + a * f64::from(self.params.liquidity_penalty_amount_ppm) / 1e6);
        (fees.0 as f64 + base + liq) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CAP: Msat = Msat(1_000_000_000);

    fn hop(scid: u64, amount: u64) -> HopUse {
        HopUse {
            scid: ShortChannelId(scid),
            direction: Direction::FromNode1,
            amount: Msat(amount),
            capacity: Some(CAP),
        }
    }

    fn p(s: &ProbabilisticScorer, scid: u64, amount: u64) -> f64 {
        s.success_probability(
            ShortChannelId(scid),
            Direction::FromNode1,
            Msat(amount),
            Msat(0),
            Some(CAP),
        )
    }

    #[test]
    fn prior_is_uniform_over_capacity() {
        let s = ProbabilisticScorer::new(ScorerParams {
            drained_weight: 0.0,
            ..ScorerParams::default()
        });
        assert!((p(&s, 1, 500_000_000) - 0.5).abs() < 1e-6);
        assert_eq!(p(&s, 1, 0), 1.0);
        assert_eq!(p(&s, 1, CAP.0 + 1), 0.0);
    }

    #[test]
    fn drained_prior_doubts_small_amounts_more_than_uniform() {
        let u = ProbabilisticScorer::new(ScorerParams {
            drained_weight: 0.0,
            ..ScorerParams::default()
        });
        let d = ProbabilisticScorer::new(ScorerParams::default());
        // 10 % of capacity: uniform says 0.9; with half the weight near
        // the ends, 0.5 * 0.9 + 0.5 * (1 - (4 * (-0.4)^3 + 0.5)) = 0.45 +
        // 0.5 * 0.756 = 0.828.
        assert!((p(&u, 1, 100_000_000) - 0.9).abs() < 1e-6);
        assert!(
            (p(&d, 1, 100_000_000) - 0.828).abs() < 1e-9,
            "{}",
            p(&d, 1, 100_000_000)
        );
        // Symmetric: half the capacity is still even odds.
        assert!((p(&d, 1, 500_000_000) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn learns_from_failure_and_passes_before_it() {
        let mut s = ProbabilisticScorer::new(ScorerParams {
            drained_weight: 0.0,
            ..ScorerParams::default()
        });
        let path = [
            hop(1, 600_000_000),
            hop(2, 600_000_000),
            hop(3, 600_000_000),
        ];
        s.path_failed(&path, 1, Duration::from_secs(100));
        // Channel 1 carried it: anything up to it is certain.
        assert_eq!(p(&s, 1, 600_000_000), 1.0);
        // Channel 2 could not: that amount and above are impossible.
        assert_eq!(p(&s, 2, 600_000_000), 0.0);
        assert!(p(&s, 2, 300_000_000) > 0.49 && p(&s, 2, 300_000_000) < 0.51);
        // Channel 3 was never reached.
        assert!((p(&s, 3, 500_000_000) - 0.5).abs() < 1e-6);
        // Penalty follows: the failed direction costs the capped maximum.
        let pen = |scid| {
            s.penalty_msat(
                ShortChannelId(scid),
                Direction::FromNode1,
                Msat(600_000_000),
                Msat(0),
                Some(CAP),
            )
        };
        assert_eq!(pen(2), u64::MAX);
        assert!(pen(3) > pen(1));
    }

    #[test]
    fn knowledge_decays_with_half_life() {
        let params = ScorerParams::default();
        let mut s = ProbabilisticScorer::new(params);
        s.path_failed(&[hop(2, 400_000_000)], 0, Duration::from_secs(0));
        let (_, hi) = s.liquidity_bounds(ShortChannelId(2), Direction::FromNode1, CAP);
        assert_eq!(hi, Msat(399_999_999));
        s.set_time(params.half_life);
        let (_, hi) = s.liquidity_bounds(ShortChannelId(2), Direction::FromNode1, CAP);
        // The offset from capacity (600,000,001) halved.
        assert!((hi.0 as i64 - 700_000_000).abs() <= 1, "{hi:?}");
    }

    #[test]
    fn success_moves_liquidity_and_probe_does_not() {
        let mut s = ProbabilisticScorer::new(ScorerParams::default());
        s.probe_succeeded(&[hop(5, 300_000_000)], Duration::from_secs(1));
        assert_eq!(
            s.liquidity_bounds(ShortChannelId(5), Direction::FromNode1, CAP),
            (Msat(300_000_000), CAP)
        );
        s.path_succeeded(&[hop(5, 300_000_000)], Duration::from_secs(1));
        assert_eq!(
            s.liquidity_bounds(ShortChannelId(5), Direction::FromNode1, CAP),
            (Msat(0), Msat(700_000_000))
        );
    }

    #[test]
    fn in_flight_reduces_probability() {
        let s = ProbabilisticScorer::new(ScorerParams::default());
        let with = s.success_probability(
            ShortChannelId(1),
            Direction::FromNode1,
            Msat(400_000_000),
            Msat(400_000_000),
            Some(CAP),
        );
        assert!(with < p(&s, 1, 400_000_000));
    }

    #[test]
    fn decode_rejects_damage() {
        let mut s = ProbabilisticScorer::new(ScorerParams::default());
        s.path_failed(&[hop(1, 5), hop(2, 9)], 1, Duration::from_secs(3));
        let b = s.encode();
        assert!(ProbabilisticScorer::decode(&b, ScorerParams::default()).is_ok());
        assert_eq!(
            ProbabilisticScorer::decode(&b[..b.len() - 1], ScorerParams::default()).unwrap_err(),
            ScorerDecodeError::BadLength
        );
        let mut bad = b.clone();
        bad[0] ^= 1;
        assert_eq!(
            ProbabilisticScorer::decode(&bad, ScorerParams::default()).unwrap_err(),
            ScorerDecodeError::BadMagic
        );
        // Swap the two entries: out of order.
        let mut swapped = b[..HEADER_LEN].to_vec();
        swapped.extend_from_slice(&b[HEADER_LEN + ENTRY_LEN..]);
        swapped.extend_from_slice(&b[HEADER_LEN..HEADER_LEN + ENTRY_LEN]);
        assert_eq!(
            ProbabilisticScorer::decode(&swapped, ScorerParams::default()).unwrap_err(),
            ScorerDecodeError::Unordered
        );
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(
            events in proptest::collection::vec((0u64..50, 0u64..2_000_000_000, 0usize..3, any::<bool>(), 0u64..100_000), 0..40)
        ) {
            let mut s = ProbabilisticScorer::new(ScorerParams::default());
            for (scid, amount, failing, ok, t) in events {
                let path = [hop(scid, amount), hop(scid + 1, amount), hop(scid + 2, amount)];
                if ok {
                    s.path_succeeded(&path, Duration::from_secs(t));
                } else {
                    s.path_failed(&path, failing, Duration::from_secs(t));
                }
            }
            let bytes = s.encode();
            let back = ProbabilisticScorer::decode(&bytes, ScorerParams::default()).unwrap();
            prop_assert_eq!(back.encode(), bytes);
            prop_assert_eq!(&back.entries, &s.entries);
        }

        #[test]
        fn decode_never_panics_and_is_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(s) = ProbabilisticScorer::decode(&bytes, ScorerParams::default()) {
                prop_assert_eq!(s.encode(), bytes);
            }
        }
    }
}
