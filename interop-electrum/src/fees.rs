//! Our node's fee estimator in these scenarios: one rate the test can
//! change (for `update_fee`), matched to what Electrum uses in regtest.
//!
//! Electrum 4.3 in regtest uses a fixed 180 sat/vB (45,000 sat/kw) for its
//! commitments and on-chain transactions, and takes the cooperative-close
//! fee it aims at from the server's 2-block estimate (which ElectrumX
//! gets from simchain's `estimatesmartfee`). The harness sets simchain's
//! market to match, and our node's estimates to the same rate, with a
//! ceiling on the peer's feerate well above it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use lightning_chain::{ConfirmationTarget, FeeEstimator, FeeRate};

/// Electrum's regtest feerate, sat per 1000 weight (180 sat/vB).
pub const ELECTRUM_REGTEST_FEERATE_PER_KW: u32 = 45_000;

/// The largest feerate we accept from Electrum (`update_fee`,
/// `open_channel`), sat/kw.
pub const MAX_REMOTE_FEERATE_PER_KW: u32 = 200_000;

/// A fee estimator giving one settable rate for every target but the
/// bounds on the peer's feerate (253 sat/kw floor,
/// [`MAX_REMOTE_FEERATE_PER_KW`] ceiling).
#[derive(Debug)]
pub struct SettableFees {
    rate: AtomicU32,
}

impl SettableFees {
    /// An estimator at `sat_per_kw`.
    pub fn new(sat_per_kw: u32) -> Arc<Self> {
        Arc::new(SettableFees {
            rate: AtomicU32::new(sat_per_kw),
        })
    }

    /// Changes the rate.
    pub fn set(&self, sat_per_kw: u32) {
        self.rate.store(sat_per_kw, Ordering::SeqCst);
    }

    /// The rate.
    pub fn get(&self) -> u32 {
        self.rate.load(Ordering::SeqCst)
    }
}

impl FeeEstimator for SettableFees {
    fn fee_rate(&self, target: ConfirmationTarget) -> FeeRate {
        FeeRate::from_sat_per_kw(match target {
            ConfirmationTarget::MinAllowedRemoteFee => 253,
            ConfirmationTarget::MaxAllowedRemoteFee => MAX_REMOTE_FEERATE_PER_KW,
            _ => self.get(),
        })
    }
}
