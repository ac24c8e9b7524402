//! Chain warnings as events for the host: [`ChainHealth`] runs a
//! [`StaleTipMonitor`] per chain source and a [`TipDisagreementMonitor`]
//! per pair of sources, and queues what they raise as
//! [`ChainHealthEvent`]s that the host polls (and, if it set one, hands to
//! a callback as they happen). IO-free and clock-free: the host reports
//! each source's tip after it syncs and passes the time.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::{BestBlock, ChainWarning, StaleTipMonitor, TipDisagreementMonitor};

/// A warning about the host's view of the chain, with the sources it is
/// about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainHealthEvent {
    /// The source whose tip is stale, or the two sources that disagree
    /// (in the order they were added).
    pub sources: Vec<String>,
    /// What is wrong.
    pub warning: ChainWarning,
}

/// Limits for [`ChainHealth`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainHealthConfig {
    /// A source's tip unchanged for longer than this is stale (one hour
    /// by default: about once in 400 hours on mainnet by chance).
    pub stale_after: Duration,
    /// Two sources' tips more than this many blocks apart disagree (3 by
    /// default).
    pub max_blocks_apart: u32,
}

impl Default for ChainHealthConfig {
    fn default() -> Self {
        ChainHealthConfig {
            stale_after: Duration::from_secs(3600),
            max_blocks_apart: 3,
        }
    }
}

type Callback = Box<dyn FnMut(&ChainHealthEvent) + Send>;

/// Watches every chain source's tip and turns the warnings into events; see
/// the `health` module's documentation.
///
/// ```
/// use std::time::{Duration, Instant};
/// use bitcoin::hashes::Hash;
/// use lightning_chain::{BestBlock, ChainHealth, ChainHealthConfig, ChainWarning};
///
/// let at = |h| BestBlock::new(bitcoin::BlockHash::from_byte_array([h as u8; 32]), h);
/// let t0 = Instant::now();
/// let mut health = ChainHealth::new(ChainHealthConfig::default());
/// health.observe("bitcoind", at(100), t0);
/// health.observe("electrum", at(100), t0);
/// assert!(health.poll_event().is_none());
///
/// // The Electrum server falls behind by more than 3 blocks.
/// health.observe("bitcoind", at(104), t0 + Duration::from_secs(60));
/// let event = health.poll_event().unwrap();
/// assert_eq!(event.sources, ["bitcoind", "electrum"]);
/// assert!(matches!(event.warning, ChainWarning::TipDisagreement { blocks_apart: 4, .. }));
///
/// // No new block anywhere for over an hour.
/// health.check(t0 + Duration::from_secs(2 * 3600));
/// let stale: Vec<_> = std::iter::from_fn(|| health.poll_event()).collect();
/// assert_eq!(stale.len(), 2); // both sources
/// assert!(stale.iter().all(|e| matches!(e.warning, ChainWarning::StaleTip { .. })));
/// ```
pub struct ChainHealth {
    config: ChainHealthConfig,
    /// Per source, in the order added: its last tip and its monitor.
    sources: Vec<(String, Option<BestBlock>, StaleTipMonitor)>,
    /// Per pair of source indexes (lower first).
    pairs: BTreeMap<(usize, usize), TipDisagreementMonitor>,
    events: VecDeque<ChainHealthEvent>,
    callback: Option<Callback>,
}

impl std::fmt::Debug for ChainHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainHealth")
            .field("config", &self.config)
            .field("sources", &self.sources.len())
            .field("queued", &self.events.len())
            .finish_non_exhaustive()
    }
}

/// At most this many events wait to be polled; the oldest go first.
const MAX_QUEUED: usize = 1024;

impl ChainHealth {
    /// A watcher with no source yet (each is added when first observed).
    pub fn new(config: ChainHealthConfig) -> Self {
        ChainHealth {
            config,
            sources: Vec::new(),
            pairs: BTreeMap::new(),
            events: VecDeque::new(),
            callback: None,
        }
    }

    /// Calls `f` with each event as it is raised (it is queued for
    /// [`poll_event`](Self::poll_event) as well).
    pub fn set_callback(&mut self, f: impl FnMut(&ChainHealthEvent) + Send + 'static) {
        self.callback = Some(Box::new(f));
    }

    fn index(&mut self, source: &str) -> usize {
        if let Some(i) = self.sources.iter().position(|(name, ..)| name == source) {
            return i;
        }
        self.sources.push((
            source.to_owned(),
            None,
            StaleTipMonitor::new(self.config.stale_after),
        ));
        let new = self.sources.len() - 1;
        for other in 0..new {
            self.pairs.insert(
                (other, new),
                TipDisagreementMonitor::new(self.config.max_blocks_apart),
            );
        }
        new
    }

    fn raise(&mut self, sources: Vec<String>, warning: ChainWarning) {
        let event = ChainHealthEvent { sources, warning };
        if let Some(f) = &mut self.callback {
            f(&event);
        }
        if self.events.len() >= MAX_QUEUED {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// `source`'s tip is `best` at `now` (call after each sync of it, also
    /// when nothing changed). Raises a stale-tip warning for it and a
    /// disagreement with each other source, when due.
    pub fn observe(&mut self, source: &str, best: BestBlock, now: Instant) {
        let i = self.index(source);
        let (name, tip, monitor) = &mut self.sources[i];
        *tip = Some(best);
        let name = name.clone();
        if let Some(w) = monitor.observe(best, now) {
            self.raise(vec![name], w);
        }
        let mut raised = Vec::new();
        for (&(x, y), monitor) in self.pairs.iter_mut() {
            if x != i && y != i {
                continue;
            }
            let (Some(first), Some(second)) = (self.sources[x].1, self.sources[y].1) else {
                continue;
            };
            if let Some(w) = monitor.compare(first, second) {
                raised.push((
                    vec![self.sources[x].0.clone(), self.sources[y].0.clone()],
                    w,
                ));
            }
        }
        for (sources, w) in raised {
            self.raise(sources, w);
        }
    }

    /// Checks every source's tip against the clock at `now` without a new
    /// observation (a host calls it on a timer: a source that stopped
    /// answering is stale too).
    pub fn check(&mut self, now: Instant) {
        let mut raised = Vec::new();
        for (name, tip, monitor) in self.sources.iter_mut() {
            if let Some(best) = *tip {
                if let Some(w) = monitor.observe(best, now) {
                    raised.push((vec![name.clone()], w));
                }
            }
        }
        for (sources, w) in raised {
            self.raise(sources, w);
        }
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<ChainHealthEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    fn at(height: u32) -> BestBlock {
        BestBlock::new(
            bitcoin::BlockHash::from_byte_array([height as u8; 32]),
            height,
        )
    }

    #[test]
    fn stale_tip_is_an_event_once_per_stall_and_the_callback_sees_it() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let t0 = Instant::now();
        let secs = |s| t0 + Duration::from_secs(s);
        let mut health = ChainHealth::new(ChainHealthConfig {
            stale_after: Duration::from_secs(100),
            max_blocks_apart: 3,
        });
        {
            let seen = seen.clone();
            health.set_callback(move |e| seen.lock().unwrap().push(e.clone()));
        }
        health.observe("bitcoind", at(5), t0);
        health.check(secs(100));
        assert_eq!(health.poll_event(), None);
        health.check(secs(101));
        let event = health.poll_event().unwrap();
        assert_eq!(event.sources, ["bitcoind"]);
        assert_eq!(
            event.warning,
            ChainWarning::StaleTip {
                best_block: at(5),
                for_duration: Duration::from_secs(101)
            }
        );
        health.observe("bitcoind", at(5), secs(200));
        health.check(secs(300));
        assert_eq!(health.poll_event(), None);
        // A new block, then another stall: a second warning.
        health.observe("bitcoind", at(6), secs(301));
        health.check(secs(402));
        assert!(health.poll_event().is_some());
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    #[test]
    fn disagreement_between_any_two_sources() {
        let t0 = Instant::now();
        let mut health = ChainHealth::new(ChainHealthConfig::default());
        health.observe("a", at(10), t0);
        health.observe("b", at(10), t0);
        health.observe("c", at(7), t0);
        assert_eq!(health.poll_event(), None); // 3 apart: allowed
        health.observe("a", at(11), t0);
        let event = health.poll_event().unwrap();
        assert_eq!(event.sources, ["a", "c"]);
        assert_eq!(health.poll_event(), None);
        health.observe("b", at(12), t0);
        let event = health.poll_event().unwrap();
        assert_eq!(event.sources, ["b", "c"]);
        // Once per disagreement; again after they agreed.
        health.observe("a", at(12), t0);
        assert_eq!(health.poll_event(), None);
        health.observe("c", at(12), t0);
        health.observe("a", at(16), t0);
        let event = health.poll_event().unwrap();
        assert_eq!(event.sources, ["a", "b"]);
        let event = health.poll_event().unwrap();
        assert_eq!(event.sources, ["a", "c"]);
    }
}
