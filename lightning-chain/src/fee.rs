//! Fee rates and fee estimation.

use std::sync::Arc;

use bitcoin::{Amount, Weight};

/// A fee rate in satoshis per 1000 weight units ("sat/kw"), the unit BOLT 2
/// and BOLT 3 use (`feerate_per_kw`).
///
/// One sat/vbyte is 250 sat/kw. Bitcoin Core's default minimum relay fee, 1
/// sat/vbyte, rounds up to [`FeeRate::FLOOR`] = 253 sat/kw: a transaction paying
/// less than that is not relayed, so no fee rate the node uses goes below it.
///
/// ```
/// use lightning_chain::FeeRate;
/// use bitcoin::{Amount, Weight};
///
/// let rate = FeeRate::from_sat_per_vbyte(2);
/// assert_eq!(rate.sat_per_kw(), 500);
/// // BOLT 3 rounds fees down: 724 weight at 500 sat/kw is 362 sat.
/// assert_eq!(rate.fee_for_weight(Weight::from_wu(724)), Some(Amount::from_sat(362)));
/// assert_eq!(FeeRate::from_sat_per_kw(100).at_least_floor(), FeeRate::FLOOR);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FeeRate(u32);

impl FeeRate {
    /// 253 sat/kw: 1 sat/vbyte (Bitcoin Core's default minimum relay fee)
    /// rounded up so that a weight-based fee never falls below it.
    pub const FLOOR: FeeRate = FeeRate(253);

    /// A fee rate of `sat_per_kw` satoshis per 1000 weight units.
    pub const fn from_sat_per_kw(sat_per_kw: u32) -> Self {
        FeeRate(sat_per_kw)
    }

    /// A fee rate of `sat_per_vbyte` satoshis per virtual byte (250 sat/kw
    /// each), saturating.
    pub fn from_sat_per_vbyte(sat_per_vbyte: u32) -> Self {
        FeeRate(sat_per_vbyte.saturating_mul(250))
    }

    /// Satoshis per 1000 weight units.
    pub const fn sat_per_kw(self) -> u32 {
        self.0
    }

    /// This rate, or [`FeeRate::FLOOR`] if it is lower.
    pub fn at_least_floor(self) -> Self {
        self.max(FeeRate::FLOOR)
    }

    /// The fee for `weight` at this rate, rounded down as BOLT 3 does
    /// (`fee = feerate_per_kw * weight / 1000`). `None` on overflow.
    pub fn fee_for_weight(self, weight: Weight) -> Option<Amount> {
        u64::from(self.0)
            .checked_mul(weight.to_wu())
            .map(|milli| Amount::from_sat(milli / 1000))
    }

    /// The fee for `weight` at this rate, rounded up, so that the
    /// transaction's rate is at least this one (what relay policy checks).
    /// `None` on overflow.
    pub fn fee_for_weight_rounded_up(self, weight: Weight) -> Option<Amount> {
        let milli = u64::from(self.0).checked_mul(weight.to_wu())?;
        Some(Amount::from_sat(milli.div_ceil(1000)))
    }
}

impl From<FeeRate> for bitcoin::FeeRate {
    fn from(rate: FeeRate) -> bitcoin::FeeRate {
        bitcoin::FeeRate::from_sat_per_kwu(u64::from(rate.0))
    }
}

impl core::fmt::Display for FeeRate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} sat/kw", self.0)
    }
}

/// What a fee rate is for: each target names the transaction being paid
/// for and how quickly it must confirm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum ConfirmationTarget {
    /// Claims that race a timelock and lose funds if late: HTLC claims near
    /// their expiry, justice (penalty) transactions, anchor CPFP children of a
    /// force-close with HTLCs at stake. Should confirm within a few blocks
    /// even when fees spike.
    UrgentOnChainSweep,
    /// Sweeps with no deadline, such as moving a `to_local` output to the
    /// wallet after its CSV delay: cheap, confirming within a day or so.
    NonUrgentOnChainSweep,
    /// The fee rate for the commitment transaction of a channel with anchor
    /// outputs. It can be low (a mempool minimum), because the commitment is
    /// fee-bumped by CPFP through its anchor when broadcast.
    AnchorChannelFee,
    /// The fee rate for the commitment transaction of a channel without anchor
    /// outputs (`update_fee`). It cannot be bumped after signing, so it must
    /// be high enough to confirm promptly whenever the channel is force-closed.
    NonAnchorChannelFee,
    /// The lowest fee rate the node proposes or accepts for a cooperative
    /// close (`closing_signed`): no deadline, but it should eventually
    /// confirm.
    ChannelCloseMinimum,
    /// The lowest `feerate_per_kw` the node accepts from a peer (in
    /// `open_channel` or `update_fee`). Below it, a commitment might never
    /// confirm, so the node fails the channel rather than sign it. A host
    /// usually returns a low mempool-minimum estimate here.
    MinAllowedRemoteFee,
    /// The highest `feerate_per_kw` the node accepts from a peer, which
    /// protects against a peer that drains the node's balance into fees. A host
    /// usually returns a generous multiple of the urgent rate.
    MaxAllowedRemoteFee,
}

impl ConfirmationTarget {
    /// Every target, for hosts that fill a table of estimates.
    pub const ALL: [ConfirmationTarget; 7] = [
        ConfirmationTarget::UrgentOnChainSweep,
        ConfirmationTarget::NonUrgentOnChainSweep,
        ConfirmationTarget::AnchorChannelFee,
        ConfirmationTarget::NonAnchorChannelFee,
        ConfirmationTarget::ChannelCloseMinimum,
        ConfirmationTarget::MinAllowedRemoteFee,
        ConfirmationTarget::MaxAllowedRemoteFee,
    ];
}

/// Gives fee rates for [`ConfirmationTarget`]s.
///
/// Called often and synchronously: an implementation returns a cached
/// estimate rather than querying a server each time. It should never return
/// less than [`FeeRate::FLOOR`] (253 sat/kw); the node reads it through
/// [`BoundedFeeEstimator`], which raises any lower value to the floor.
///
/// ```
/// use lightning_chain::{ConfirmationTarget, FeeEstimator, FeeRate};
///
/// #[derive(Debug)]
/// struct Table;
///
/// impl FeeEstimator for Table {
///     fn fee_rate(&self, target: ConfirmationTarget) -> FeeRate {
///         match target {
///             ConfirmationTarget::UrgentOnChainSweep => FeeRate::from_sat_per_vbyte(50),
///             ConfirmationTarget::MaxAllowedRemoteFee => FeeRate::from_sat_per_vbyte(500),
///             _ => FeeRate::from_sat_per_vbyte(5),
///         }
///     }
/// }
///
/// assert_eq!(Table.fee_rate(ConfirmationTarget::AnchorChannelFee).sat_per_kw(), 1250);
/// ```
pub trait FeeEstimator {
    /// The fee rate, in sat per 1000 weight, for `target`.
    fn fee_rate(&self, target: ConfirmationTarget) -> FeeRate;
}

impl<T: FeeEstimator + ?Sized> FeeEstimator for &T {
    fn fee_rate(&self, target: ConfirmationTarget) -> FeeRate {
        (**self).fee_rate(target)
    }
}

impl<T: FeeEstimator + ?Sized> FeeEstimator for Box<T> {
    fn fee_rate(&self, target: ConfirmationTarget) -> FeeRate {
        (**self).fee_rate(target)
    }
}

impl<T: FeeEstimator + ?Sized> FeeEstimator for Arc<T> {
    fn fee_rate(&self, target: ConfirmationTarget) -> FeeRate {
        (**self).fee_rate(target)
    }
}

/// A [`FeeEstimator`] wrapper that never returns less than
/// [`FeeRate::FLOOR`], however low the host's estimate.
///
/// ```
/// use lightning_chain::{BoundedFeeEstimator, ConfirmationTarget, FeeEstimator, FeeRate, FixedFeeEstimator};
///
/// let host = FixedFeeEstimator::new(FeeRate::from_sat_per_kw(1));
/// let bounded = BoundedFeeEstimator::new(host);
/// assert_eq!(bounded.fee_rate(ConfirmationTarget::ChannelCloseMinimum), FeeRate::FLOOR);
/// ```
#[derive(Clone, Debug)]
pub struct BoundedFeeEstimator<F> {
    inner: F,
}

impl<F: FeeEstimator> BoundedFeeEstimator<F> {
    /// Wraps the host's estimator.
    pub fn new(inner: F) -> Self {
        BoundedFeeEstimator { inner }
    }

    /// The wrapped estimator.
    pub fn inner(&self) -> &F {
        &self.inner
    }
}

impl<F: FeeEstimator> FeeEstimator for BoundedFeeEstimator<F> {
    fn fee_rate(&self, target: ConfirmationTarget) -> FeeRate {
        self.inner.fee_rate(target).at_least_floor()
    }
}

/// A [`FeeEstimator`] that gives the same rate for every target, except
/// [`ConfirmationTarget::MaxAllowedRemoteFee`], for which it gives a large
/// multiple so that peers using the same fixed rate are accepted. For tests,
/// demos and regtest.
///
/// ```
/// use lightning_chain::{ConfirmationTarget, FeeEstimator, FeeRate, FixedFeeEstimator};
///
/// let fees = FixedFeeEstimator::new(FeeRate::from_sat_per_kw(1000));
/// assert_eq!(fees.fee_rate(ConfirmationTarget::UrgentOnChainSweep).sat_per_kw(), 1000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedFeeEstimator {
    rate: FeeRate,
}

impl FixedFeeEstimator {
    /// How many times the fixed rate [`ConfirmationTarget::MaxAllowedRemoteFee`] is.
    pub const MAX_ALLOWED_MULTIPLIER: u32 = 25;

    /// An estimator answering `rate` (raised to the floor).
    pub fn new(rate: FeeRate) -> Self {
        FixedFeeEstimator {
            rate: rate.at_least_floor(),
        }
    }
}

impl FeeEstimator for FixedFeeEstimator {
    fn fee_rate(&self, target: ConfirmationTarget) -> FeeRate {
        match target {
            ConfirmationTarget::MaxAllowedRemoteFee => FeeRate::from_sat_per_kw(
                self.rate
                    .sat_per_kw()
                    .saturating_mul(Self::MAX_ALLOWED_MULTIPLIER),
            ),
            _ => self.rate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vbyte_conversion_and_floor() {
        assert_eq!(FeeRate::from_sat_per_vbyte(1).sat_per_kw(), 250);
        assert!(FeeRate::from_sat_per_vbyte(1) < FeeRate::FLOOR);
        // 253 sat/kw over a 1000-vbyte (4000 wu) tx pays at least 1 sat/vbyte.
        let fee = FeeRate::FLOOR
            .fee_for_weight(Weight::from_wu(4000))
            .unwrap();
        assert!(fee >= Amount::from_sat(1000));
        assert_eq!(FeeRate::from_sat_per_vbyte(u32::MAX).sat_per_kw(), u32::MAX);
    }

    #[test]
    fn fee_rounding() {
        let rate = FeeRate::from_sat_per_kw(253);
        assert_eq!(rate.fee_for_weight(Weight::from_wu(1)), Some(Amount::ZERO));
        assert_eq!(
            rate.fee_for_weight_rounded_up(Weight::from_wu(1)),
            Some(Amount::from_sat(1))
        );
        assert_eq!(
            FeeRate::from_sat_per_kw(u32::MAX).fee_for_weight(Weight::MAX),
            None
        );
    }

    #[test]
    fn bounded_and_fixed() {
        let fixed = FixedFeeEstimator::new(FeeRate::from_sat_per_kw(10));
        for target in ConfirmationTarget::ALL {
            assert!(fixed.fee_rate(target) >= FeeRate::FLOOR);
            assert!(BoundedFeeEstimator::new(&fixed).fee_rate(target) >= FeeRate::FLOOR);
        }
        assert_eq!(
            fixed
                .fee_rate(ConfirmationTarget::MaxAllowedRemoteFee)
                .sat_per_kw(),
            253 * FixedFeeEstimator::MAX_ALLOWED_MULTIPLIER
        );
        let rate: bitcoin::FeeRate = FeeRate::from_sat_per_kw(500).into();
        assert_eq!(rate.to_sat_per_vb_floor(), 2);
    }
}
