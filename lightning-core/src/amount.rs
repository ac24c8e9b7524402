//! Typed amounts.
//!
//! Satoshi amounts are [`bitcoin::Amount`]; channel balances and HTLCs are
//! kept in millisatoshi as [`Msat`]. Arithmetic on funds is checked: every
//! operation that could overflow or underflow returns an `Option`.

use core::fmt;

use bitcoin::Amount;

/// An amount in millisatoshi (BOLT 1 `u64` "msat").
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Msat(pub u64);

impl Msat {
    /// Zero millisatoshi.
    pub const ZERO: Msat = Msat(0);

    /// `sat` whole satoshis, or `None` on overflow.
    pub const fn from_sat(sat: u64) -> Option<Msat> {
        match sat.checked_mul(1000) {
            Some(v) => Some(Msat(v)),
            None => None,
        }
    }

    /// The amount in millisatoshi.
    pub const fn to_msat(self) -> u64 {
        self.0
    }

    /// The amount rounded down to whole satoshis, as BOLT 3 rounds every
    /// output ("rounded down to whole satoshis").
    pub const fn to_sat_floor(self) -> Amount {
        Amount::from_sat(self.0 / 1000)
    }

    /// `self + rhs`, or `None` on overflow.
    pub const fn checked_add(self, rhs: Msat) -> Option<Msat> {
        match self.0.checked_add(rhs.0) {
            Some(v) => Some(Msat(v)),
            None => None,
        }
    }

    /// `self - rhs`, or `None` if `rhs > self`.
    pub const fn checked_sub(self, rhs: Msat) -> Option<Msat> {
        match self.0.checked_sub(rhs.0) {
            Some(v) => Some(Msat(v)),
            None => None,
        }
    }

    /// `self + rhs`, or `u64::MAX` msat (for totals shown to a host, never
    /// for balances that are signed).
    pub const fn saturating_add(self, rhs: Msat) -> Msat {
        Msat(self.0.saturating_add(rhs.0))
    }

    /// `self - rhs`, floored at zero (BOLT 3 "Fee Payment": "with a floor of 0").
    pub const fn saturating_sub(self, rhs: Msat) -> Msat {
        Msat(self.0.saturating_sub(rhs.0))
    }

    /// `self * rhs`, or `None` on overflow.
    pub const fn checked_mul(self, rhs: u64) -> Option<Msat> {
        match self.0.checked_mul(rhs) {
            Some(v) => Some(Msat(v)),
            None => None,
        }
    }
}

impl fmt::Debug for Msat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} msat", self.0)
    }
}

impl fmt::Display for Msat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} msat", self.0)
    }
}

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
