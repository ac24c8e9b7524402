//! Fee estimates from a chain source, bounded, cached and with a fallback:
//! the part every source adapter (bitcoind, Electrum, Esplora) shares. No IO
//! here: an adapter passes a closure that asks its server.

use std::sync::Mutex;

use crate::{ConfirmationTarget, FeeEstimator, FeeRate};

/// How the node's [`ConfirmationTarget`]s map to a source's "confirm within
/// N blocks" estimates, explicitly (Bitcoin Core's `estimatesmartfee
/// conf_target`, Electrum's `blockchain.estimatefee`, Esplora's
/// `/fee-estimates` keys):
///
/// | target | blocks | why |
/// | --- | --- | --- |
/// | `UrgentOnChainSweep` | 2 | races a timelock: next block or the one after |
/// | `NonAnchorChannelFee` | 6 | cannot be bumped later; about an hour |
/// | `NonUrgentOnChainSweep` | 144 | no deadline: within a day |
/// | `ChannelCloseMinimum` | 144 | cooperative close, no deadline |
/// | `AnchorChannelFee` | 1008 | bumped by CPFP when broadcast: the lowest useful rate |
/// | `MinAllowedRemoteFee` | 1008 | a peer's rate below a week's estimate may never confirm |
/// | `MaxAllowedRemoteFee` | 2 | then multiplied (see [`FeeConfig::max_allowed_multiplier`]) |
///
/// ```
/// use lightning_chain::{target_blocks, ConfirmationTarget};
/// assert_eq!(target_blocks(ConfirmationTarget::UrgentOnChainSweep), 2);
/// assert_eq!(target_blocks(ConfirmationTarget::AnchorChannelFee), 1008);
/// ```
pub fn target_blocks(target: ConfirmationTarget) -> u16 {
    match target {
        ConfirmationTarget::UrgentOnChainSweep | ConfirmationTarget::MaxAllowedRemoteFee => 2,
        ConfirmationTarget::NonAnchorChannelFee => 6,
        ConfirmationTarget::NonUrgentOnChainSweep | ConfirmationTarget::ChannelCloseMinimum => 144,
        ConfirmationTarget::AnchorChannelFee | ConfirmationTarget::MinAllowedRemoteFee => 1008,
    }
}

/// Bounds and fallbacks for [`CachedFeeEstimator`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeeConfig {
    /// No estimate is above this (a source gone mad must not empty the
    /// wallet into fees), except `MaxAllowedRemoteFee`, which is at least
    /// this: the node never refuses a peer a rate it could pay itself.
    pub ceiling: FeeRate,
    /// The rate used for a target the source cannot estimate (a fresh node,
    /// regtest, a server that answers "no estimate"), before the bounds.
    pub fallback: FeeRate,
    /// `MaxAllowedRemoteFee` is the urgent estimate times this.
    pub max_allowed_multiplier: u32,
}

impl Default for FeeConfig {
    /// Ceiling 250,000 sat/kw (1,000 sat/vB), fallback 2,500 sat/kw (10
    /// sat/vB), multiplier 10.
    fn default() -> Self {
        FeeConfig {
            ceiling: FeeRate::from_sat_per_kw(250_000),
            fallback: FeeRate::from_sat_per_kw(2_500),
            max_allowed_multiplier: 10,
        }
    }
}

/// A fee rate given in satoshis per 1000 virtual bytes (what Core, Electrum
/// and Esplora use, times 1000 or 10^8) as sat per 1000 weight, rounded up
/// (1 kvB is 4000 weight).
///
/// ```
/// use lightning_chain::{fee_rate_from_sat_per_kvb, FeeRate};
/// assert_eq!(fee_rate_from_sat_per_kvb(1_000), FeeRate::from_sat_per_kw(250));
/// assert_eq!(fee_rate_from_sat_per_kvb(1_001), FeeRate::from_sat_per_kw(251));
/// ```
pub fn fee_rate_from_sat_per_kvb(sat_per_kvb: u64) -> FeeRate {
    FeeRate::from_sat_per_kw(u32::try_from(sat_per_kvb.div_ceil(4)).unwrap_or(u32::MAX))
}

/// A rate in BTC per kvB (Core's `estimatesmartfee`, Electrum's
/// `blockchain.estimatefee`); `None` for a negative, zero or non-finite
/// value (Electrum's "-1": no estimate).
pub fn fee_rate_from_btc_per_kvb(btc_per_kvb: f64) -> Option<FeeRate> {
    if !btc_per_kvb.is_finite() || btc_per_kvb <= 0.0 {
        return None;
    }
    let sat = (btc_per_kvb * 1e8).round();
    // `as` saturates for floats out of range.
    Some(fee_rate_from_sat_per_kvb(sat as u64))
}

/// What one [`CachedFeeEstimator::update`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FeeUpdate {
    /// Block counts the source estimated.
    pub estimated: usize,
    /// Block counts it could not estimate (the fallback is used).
    pub fell_back: usize,
    /// Estimates raised to the floor or lowered to the ceiling.
    pub clamped: usize,
}

/// A [`FeeEstimator`] answering from the last estimates a source gave,
/// bounded to [[`FeeRate::FLOOR`], ceiling], with the configured fallback
/// for targets the source cannot estimate. Until the first update, every
/// target gets the fallback.
///
/// ```
/// use lightning_chain::{CachedFeeEstimator, ConfirmationTarget, FeeConfig, FeeEstimator, FeeRate};
///
/// let fees = CachedFeeEstimator::new(FeeConfig::default());
/// // The source knows only the 2-block rate, and it is absurd.
/// fees.update(|blocks| Ok::<_, ()>((blocks == 2).then(|| FeeRate::from_sat_per_kw(u32::MAX)))).unwrap();
/// assert_eq!(fees.fee_rate(ConfirmationTarget::UrgentOnChainSweep), FeeConfig::default().ceiling);
/// assert_eq!(fees.fee_rate(ConfirmationTarget::AnchorChannelFee), FeeConfig::default().fallback);
/// ```
#[derive(Debug)]
pub struct CachedFeeEstimator {
    config: FeeConfig,
    rates: Mutex<[FeeRate; ConfirmationTarget::ALL.len()]>,
}

impl CachedFeeEstimator {
    /// An estimator at the fallback for every target.
    pub fn new(config: FeeConfig) -> Self {
        let estimator = CachedFeeEstimator {
            config,
            rates: Mutex::new([FeeRate::FLOOR; ConfirmationTarget::ALL.len()]),
        };
        let fallback = estimator.bound(config.fallback).0;
        let mut rates = [fallback; ConfirmationTarget::ALL.len()];
        rates[index(ConfirmationTarget::MaxAllowedRemoteFee)] = estimator.max_allowed(fallback);
        *estimator.lock() = rates;
        estimator
    }

    /// The configuration.
    pub fn config(&self) -> FeeConfig {
        self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, [FeeRate; ConfirmationTarget::ALL.len()]> {
        self.rates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn bound(&self, rate: FeeRate) -> (FeeRate, bool) {
        let ceiling = self.config.ceiling.at_least_floor();
        let bounded = rate.at_least_floor().min(ceiling);
        (bounded, bounded != rate)
    }

    fn max_allowed(&self, urgent: FeeRate) -> FeeRate {
        FeeRate::from_sat_per_kw(
            urgent
                .sat_per_kw()
                .saturating_mul(self.config.max_allowed_multiplier),
        )
        .max(self.config.ceiling)
        .at_least_floor()
    }

    /// Asks `estimate` once per distinct block count of [`target_blocks`]
    /// (`Ok(None)`: the source has no estimate) and replaces the cache. If
    /// `estimate` fails, the cache is left as it was and the error returned:
    /// the node keeps the last good estimates while a source is down.
    pub fn update<E>(
        &self,
        mut estimate: impl FnMut(u16) -> Result<Option<FeeRate>, E>,
    ) -> Result<FeeUpdate, E> {
        let mut by_blocks: Vec<(u16, Option<FeeRate>)> = Vec::new();
        for target in ConfirmationTarget::ALL {
            let blocks = target_blocks(target);
            if !by_blocks.iter().any(|(b, _)| *b == blocks) {
                by_blocks.push((blocks, estimate(blocks)?));
            }
        }
        let mut update = FeeUpdate::default();
        let mut rates = [FeeRate::FLOOR; ConfirmationTarget::ALL.len()];
        for (_, rate) in &by_blocks {
            match rate {
                Some(_) => update.estimated += 1,
                None => update.fell_back += 1,
            }
        }
        for target in ConfirmationTarget::ALL {
            let blocks = target_blocks(target);
            let raw = by_blocks
                .iter()
                .find(|(b, _)| *b == blocks)
                .and_then(|(_, rate)| *rate)
                .unwrap_or(self.config.fallback);
            let (bounded, clamped) = self.bound(raw);
            if clamped {
                update.clamped += 1;
            }
            rates[index(target)] = if target == ConfirmationTarget::MaxAllowedRemoteFee {
                self.max_allowed(bounded)
            } else {
                bounded
            };
        }
        *self.lock() = rates;
        Ok(update)
    }
}

fn index(target: ConfirmationTarget) -> usize {
    ConfirmationTarget::ALL
        .iter()
        .position(|t| *t == target)
        .unwrap_or(0)
}

impl FeeEstimator for CachedFeeEstimator {
    fn fee_rate(&self, target: ConfirmationTarget) -> FeeRate {
        self.lock()[index(target)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_fallback_and_errors_keep_the_cache() {
        let config = FeeConfig {
            ceiling: FeeRate::from_sat_per_kw(10_000),
            fallback: FeeRate::from_sat_per_kw(1_000),
            max_allowed_multiplier: 4,
        };
        let fees = CachedFeeEstimator::new(config);
        for target in ConfirmationTarget::ALL {
            let rate = fees.fee_rate(target);
            assert!(rate >= FeeRate::FLOOR);
            if target != ConfirmationTarget::MaxAllowedRemoteFee {
                assert_eq!(rate, config.fallback);
            }
        }
        // 2 blocks: 3,000; 6: below the floor; 144: above the ceiling;
        // 1008: no estimate.
        let update = fees
            .update(|blocks| {
                Ok::<_, ()>(match blocks {
                    2 => Some(FeeRate::from_sat_per_kw(3_000)),
                    6 => Some(FeeRate::from_sat_per_kw(1)),
                    144 => Some(FeeRate::from_sat_per_kw(1_000_000)),
                    _ => None,
                })
            })
            .unwrap();
        assert_eq!((update.estimated, update.fell_back), (3, 1));
        let rate = |t| fees.fee_rate(t).sat_per_kw();
        assert_eq!(rate(ConfirmationTarget::UrgentOnChainSweep), 3_000);
        assert_eq!(rate(ConfirmationTarget::NonAnchorChannelFee), 253);
        assert_eq!(rate(ConfirmationTarget::NonUrgentOnChainSweep), 10_000);
        assert_eq!(rate(ConfirmationTarget::ChannelCloseMinimum), 10_000);
        assert_eq!(rate(ConfirmationTarget::AnchorChannelFee), 1_000);
        assert_eq!(rate(ConfirmationTarget::MinAllowedRemoteFee), 1_000);
        assert_eq!(rate(ConfirmationTarget::MaxAllowedRemoteFee), 12_000);

        // A failing source leaves the last estimates.
        assert_eq!(fees.update(|_| Err("down")), Err("down"));
        assert_eq!(rate(ConfirmationTarget::UrgentOnChainSweep), 3_000);

        // A ceiling under the floor is the floor.
        let odd = CachedFeeEstimator::new(FeeConfig {
            ceiling: FeeRate::from_sat_per_kw(1),
            ..config
        });
        assert_eq!(
            odd.fee_rate(ConfirmationTarget::UrgentOnChainSweep),
            FeeRate::FLOOR
        );
    }

    #[test]
    fn unit_conversions() {
        assert_eq!(
            fee_rate_from_btc_per_kvb(0.00001),
            Some(FeeRate::from_sat_per_kw(250))
        );
        assert_eq!(fee_rate_from_btc_per_kvb(-1.0), None);
        assert_eq!(fee_rate_from_btc_per_kvb(f64::NAN), None);
        assert_eq!(
            fee_rate_from_btc_per_kvb(1e30),
            Some(FeeRate::from_sat_per_kw(u32::MAX))
        );
        assert_eq!(
            fee_rate_from_sat_per_kvb(u64::MAX),
            FeeRate::from_sat_per_kw(u32::MAX)
        );
    }
}
