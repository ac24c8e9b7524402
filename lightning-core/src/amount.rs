//! Typed amounts.
//!
//! Satoshi amounts are [`bitcoin::Amount`]; channel balances and HTLCs are
//! kept in millisatoshi as [`Msat`]. Arithmetic on funds is checked: every
//! operation that could overflow or underflow returns an `Option`.

use bitcoin::Amount;

/// An amount in millisatoshi (BOLT 1 `u64` "msat"): defined in
/// `lightning-wire` so that the crates below this one (the router) share it.
pub use lightning_wire::amount::Msat;

/// A fee rate in satoshi per 1000 weight units (BOLT 2 `feerate_per_kw`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FeeratePerKw(pub u32);

impl FeeratePerKw {
    /// The fee for `weight` weight units, rounded down (BOLT 3 "Fee Calculation":
    /// "Multiply `feerate_per_kw` by `weight`, divide by 1000 (rounding down)").
    pub const fn fee_for_weight(self, weight: u64) -> Amount {
        // u32 * u64 fits easily unless weight is absurd; saturate rather than wrap.
        Amount::from_sat((self.0 as u64).saturating_mul(weight) / 1000)
    }
}

/// A block height (absolute), as used by `cltv_expiry` and `nLockTime`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BlockHeight(pub u32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msat_arithmetic_is_checked() {
        assert_eq!(Msat(u64::MAX).checked_add(Msat(1)), None);
        assert_eq!(Msat(1).checked_sub(Msat(2)), None);
        assert_eq!(Msat(1).saturating_sub(Msat(2)), Msat::ZERO);
        assert_eq!(Msat(1999).to_sat_floor(), Amount::from_sat(1));
        assert_eq!(Msat::from_sat(u64::MAX), None);
        assert_eq!(
            FeeratePerKw(5000).fee_for_weight(663),
            Amount::from_sat(3315)
        );
    }
}
