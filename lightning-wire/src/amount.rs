//! Millisatoshi amounts ([`Msat`]), shared by every crate above this one
//! (`lightning-core` re-exports it as `lightning_core::Msat`).
//!
//! Arithmetic on funds is checked: every operation that could overflow or
//! underflow returns an `Option`.

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
