//! Warnings about the chain view itself: a tip that stopped moving, and
//! sources that disagree (an eclipse or time-dilation attack, or a broken
//! source). Clock-free: the caller passes the time.

use std::time::{Duration, Instant};

use crate::BestBlock;

/// Something wrong with how the node sees the chain. Neither is proof of an
/// attack; both mean a host should look (and a node should stop opening
/// channels or accepting HTLCs whose safety depends on timely blocks).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChainWarning {
    /// The best block has not changed for `for_duration` (more than the
    /// configured limit). Blocks come every ten minutes on average; an
    /// hour without one happens about once in 400 hours, several hours
    /// almost never.
    StaleTip {
        /// The best block that has not moved.
        best_block: BestBlock,
        /// How long it has been the best block.
        for_duration: Duration,
    },
    /// Two sources' tips are more than the configured number of blocks
    /// apart: one of them is behind (eclipsed, slowed down, or broken).
    TipDisagreement {
        /// The first source's tip.
        first: BestBlock,
        /// The second source's tip.
        second: BestBlock,
        /// How many blocks apart they are.
        blocks_apart: u32,
    },
}

/// Warns once when the best block has not advanced for `max_age`; again
/// only after it has moved and stalled again.
///
/// ```
/// use std::time::{Duration, Instant};
/// use lightning_chain::{BestBlock, ChainWarning, StaleTipMonitor};
///
/// let start = Instant::now();
/// let tip = BestBlock::genesis(bitcoin::Network::Regtest);
/// let mut monitor = StaleTipMonitor::new(Duration::from_secs(3600));
/// assert_eq!(monitor.observe(tip, start), None);
/// let later = start + Duration::from_secs(3601);
/// assert!(matches!(monitor.observe(tip, later), Some(ChainWarning::StaleTip { .. })));
/// assert_eq!(monitor.observe(tip, later), None); // once
/// ```
#[derive(Clone, Debug)]
pub struct StaleTipMonitor {
    max_age: Duration,
    current: Option<(BestBlock, Instant)>,
    warned: bool,
}

impl StaleTipMonitor {
    /// A monitor warning after `max_age` without a new best block.
    pub fn new(max_age: Duration) -> Self {
        StaleTipMonitor {
            max_age,
            current: None,
            warned: false,
        }
    }

    /// Records the best block seen at `now` (call it after each sync, and
    /// periodically even when nothing changed); a warning when the tip has
    /// been the same for longer than the limit, once per stall.
    pub fn observe(&mut self, best: BestBlock, now: Instant) -> Option<ChainWarning> {
        match self.current {
            Some((seen, since)) if seen == best => {
                let age = now.saturating_duration_since(since);
                if age > self.max_age && !self.warned {
                    self.warned = true;
                    return Some(ChainWarning::StaleTip {
                        best_block: best,
                        for_duration: age,
                    });
                }
                None
            }
            _ => {
                self.current = Some((best, now));
                self.warned = false;
                None
            }
        }
    }
}

/// Compares the tips of two sources (for example bitcoind and an Electrum
/// server, or two Electrum servers) and warns once when they are more than
/// `max_blocks` apart; again only after they have come back together.
///
/// ```
/// use bitcoin::hashes::Hash;
/// use lightning_chain::{BestBlock, ChainWarning, TipDisagreementMonitor};
///
/// let at = |h| BestBlock::new(bitcoin::BlockHash::all_zeros(), h);
/// let mut monitor = TipDisagreementMonitor::new(3);
/// assert_eq!(monitor.compare(at(100), at(97)), None);
/// assert!(matches!(monitor.compare(at(101), at(97)), Some(ChainWarning::TipDisagreement { blocks_apart: 4, .. })));
/// ```
#[derive(Clone, Debug)]
pub struct TipDisagreementMonitor {
    max_blocks: u32,
    warned: bool,
}

impl TipDisagreementMonitor {
    /// A monitor warning when two tips are more than `max_blocks` apart.
    pub fn new(max_blocks: u32) -> Self {
        TipDisagreementMonitor {
            max_blocks,
            warned: false,
        }
    }

    /// Compares two sources' current tips.
    pub fn compare(&mut self, first: BestBlock, second: BestBlock) -> Option<ChainWarning> {
        let blocks_apart = first.height.abs_diff(second.height);
        if blocks_apart <= self.max_blocks {
            self.warned = false;
            return None;
        }
        if self.warned {
            return None;
        }
        self.warned = true;
        Some(ChainWarning::TipDisagreement {
            first,
            second,
            blocks_apart,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    fn at(height: u32, tag: u8) -> BestBlock {
        BestBlock::new(bitcoin::BlockHash::from_byte_array([tag; 32]), height)
    }

    #[test]
    fn stale_tip_warns_once_per_stall() {
        let t0 = Instant::now();
        let secs = |s| t0 + Duration::from_secs(s);
        let mut monitor = StaleTipMonitor::new(Duration::from_secs(100));
        assert_eq!(monitor.observe(at(1, 1), t0), None);
        assert_eq!(monitor.observe(at(1, 1), secs(100)), None);
        assert_eq!(
            monitor.observe(at(1, 1), secs(101)),
            Some(ChainWarning::StaleTip {
                best_block: at(1, 1),
                for_duration: Duration::from_secs(101)
            })
        );
        assert_eq!(monitor.observe(at(1, 1), secs(500)), None);
        // A new tip (even at the same height: a reorg) restarts the clock.
        assert_eq!(monitor.observe(at(1, 2), secs(501)), None);
        assert_eq!(monitor.observe(at(1, 2), secs(600)), None);
        assert!(monitor.observe(at(1, 2), secs(602)).is_some());
    }

    #[test]
    fn disagreement_warns_once_until_resolved() {
        let mut monitor = TipDisagreementMonitor::new(2);
        assert_eq!(monitor.compare(at(10, 1), at(8, 2)), None);
        assert!(monitor.compare(at(8, 2), at(11, 1)).is_some());
        assert_eq!(monitor.compare(at(8, 2), at(12, 1)), None);
        assert_eq!(monitor.compare(at(11, 2), at(12, 1)), None);
        assert!(monitor.compare(at(11, 2), at(20, 1)).is_some());
    }
}
