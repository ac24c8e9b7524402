//! One payment's attempts: route what is still outstanding, learn from each
//! part's failure or arrival, and route again within a budget of attempts
//! and time. A state machine: the host sends the parts and reports back;
//! time is passed in.
//!
//! Multi-part payments (BOLT 4 "Basic Multi-Part Payments"): the payee
//! holds the parts that arrived until their sum reaches `total_msat`, so a
//! retry routes only the amount not yet arrived or in flight, and every
//! part's onion carries the whole payment's `total_msat`.

use core::time::Duration;

use lightning_wire::types::ShortChannelId;
use lightning_wire::Msat;

use crate::graph::{NodeId, RoutingGraph};
use crate::route::{FirstHop, RouteError, RouteParams, RoutePath};
use crate::router::Router;
use crate::scorer::ProbabilisticScorer;

/// How much retrying a payment may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryBudget {
    /// The most routes (attempts) to compute, the first included.
    pub max_attempts: u32,
    /// The longest time from the first attempt to a new one.
    pub timeout: Duration,
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget {
            max_attempts: 10,
            timeout: Duration::from_secs(60),
        }
    }
}

/// What the failure of a part says, by the BOLT 4 failure code the
/// erring node returned ("Returning Errors", "Failure Messages").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureReason {
    /// `temporary_channel_failure`: the channel could not carry the
    /// amount now. The scorer learns an upper bound.
    Liquidity,
    /// `channel_disabled`, `unknown_next_peer`, `permanent_channel_failure`:
    /// the channel is not usable; excluded for the rest of this payment.
    ChannelUnusable,
    /// `fee_insufficient`, `incorrect_cltv_expiry`, `amount_below_minimum`,
    /// `expiry_too_soon`: our view of the policy is stale; the channel is
    /// excluded for this payment (the host applies the `channel_update`
    /// the error carries to its graph).
    PolicyStale,
    /// `temporary_node_failure`, `permanent_node_failure`,
    /// `required_node_feature_missing`: the node at the start of the
    /// failing channel is excluded for this payment.
    NodeFailure,
    /// The payee refused (`incorrect_or_unknown_payment_details`,
    /// `final_incorrect_*`): retrying cannot help.
    PayeeRejected,
}

/// Why a payment ended without success.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentFailure {
    /// The attempt budget ran out.
    RetriesExhausted,
    /// The time budget ran out.
    TimedOut,
    /// No route for what is outstanding.
    NoRoute(RouteError),
    /// The payee refused.
    Rejected,
}

/// Where a payment stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentState {
    /// Parts in flight or more to route.
    Pending,
    /// Every part arrived and settled.
    Succeeded,
    /// It ended; parts still held by the payee must be failed back by it.
    Failed(PaymentFailure),
}

/// An identifier of one part, unique within a payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartId(pub u64);

/// The parts of one attempt, to send.
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    /// Each part and its id, for reporting back.
    pub parts: Vec<(PartId, RoutePath)>,
    /// The onion's `total_msat` for every part: the whole payment.
    pub total_msat: Msat,
}

/// The attempts of one payment.
#[derive(Debug)]
pub struct PaymentAttempts {
    params: RouteParams,
    budget: RetryBudget,
    started: Option<Duration>,
    attempts: u32,
    next_id: u64,
    in_flight: Vec<(PartId, RoutePath)>,
    arrived: Vec<RoutePath>,
    state: PaymentState,
}

impl PaymentAttempts {
    /// A payment of `params.amount` to `params.payee`.
    pub fn new(params: RouteParams, budget: RetryBudget) -> Self {
        PaymentAttempts {
            params,
            budget,
            started: None,
            attempts: 0,
            next_id: 0,
            in_flight: Vec::new(),
            arrived: Vec::new(),
            state: PaymentState::Pending,
        }
    }

    /// Where it stands.
    pub fn state(&self) -> &PaymentState {
        &self.state
    }

    /// Attempts made so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The parts that arrived (all of them once succeeded).
    pub fn arrived(&self) -> &[RoutePath] {
        &self.arrived
    }

    /// Fees of the parts that arrived.
    pub fn fees_paid(&self) -> Msat {
        self.arrived
            .iter()
            .fold(Msat::ZERO, |a, p| a.saturating_add(p.fee()))
    }

    fn committed(&self) -> Msat {
        self.in_flight
            .iter()
            .map(|(_, p)| p)
            .chain(&self.arrived)
            .fold(Msat::ZERO, |a, p| a.saturating_add(p.final_amount()))
    }

    fn committed_fees(&self) -> Msat {
        self.in_flight
            .iter()
            .map(|(_, p)| p)
            .chain(&self.arrived)
            .fold(Msat::ZERO, |a, p| a.saturating_add(p.fee()))
    }

    /// What neither arrived nor is in flight.
    pub fn outstanding(&self) -> Msat {
        self.params.amount.saturating_sub(self.committed())
    }

    fn fail(&mut self, why: PaymentFailure) {
        if self.state == PaymentState::Pending {
            self.state = PaymentState::Failed(why);
        }
    }

    /// Routes what is outstanding, if anything is and the budget allows.
    /// `Ok(None)` while only waiting on parts in flight; an error ends the
    /// payment (it is also the state from then on).
    #[allow(clippy::too_many_arguments)]
    pub fn next_attempt<G: RoutingGraph>(
        &mut self,
        router: &mut Router,
        graph: &G,
        payer: &NodeId,
        first_hops: Option<&[FirstHop]>,
        scorer: &ProbabilisticScorer,
        now: Duration,
    ) -> Result<Option<Attempt>, PaymentFailure> {
        if let PaymentState::Failed(f) = &self.state {
            return Err(f.clone());
        }
        if self.state == PaymentState::Succeeded {
            return Ok(None);
        }
        let outstanding = self.outstanding();
        if outstanding == Msat::ZERO {
            return Ok(None);
        }
        let started = *self.started.get_or_insert(now);
        let out_of_budget = if self.attempts >= self.budget.max_attempts {
            Some(PaymentFailure::RetriesExhausted)
        } else if now.saturating_sub(started) > self.budget.timeout {
            Some(PaymentFailure::TimedOut)
        } else {
            None
        };
        if let Some(why) = out_of_budget {
            if self.in_flight.is_empty() {
                self.fail(why.clone());
                return Err(why);
            }
            return Ok(None);
        }
        let mut p = self.params.clone();
        p.amount = outstanding;
        p.max_total_fee = self
            .params
            .max_total_fee
            .map(|m| m.saturating_sub(self.committed_fees()));
        self.attempts += 1;
        let committed: Vec<RoutePath> = self
            .in_flight
            .iter()
            .map(|(_, p)| p.clone())
            .chain(self.arrived.iter().cloned())
            .collect();
        match router.find_route_with_in_flight(graph, payer, first_hops, &p, scorer, &committed) {
            Ok(route) => {
                let parts = route
                    .paths
                    .into_iter()
                    .map(|path| {
                        let id = PartId(self.next_id);
                        self.next_id += 1;
                        self.in_flight.push((id, path.clone()));
                        (id, path)
                    })
                    .collect();
                Ok(Some(Attempt {
                    parts,
                    total_msat: self.params.amount,
                }))
            }
            Err(e) => {
                if self.in_flight.is_empty() {
                    self.fail(PaymentFailure::NoRoute(e.clone()));
                    return Err(PaymentFailure::NoRoute(e));
                }
                Ok(None)
            }
        }
    }

    /// A part failed at hop `failing` (the index in its path of the channel
    /// the error attributes, i.e. the erring node's outgoing channel; `None`
    /// when the error could not be attributed). The scorer learns, the
    /// failing channel or node is excluded when the reason says so.
    pub fn part_failed(
        &mut self,
        part: PartId,
        failing: Option<usize>,
        reason: FailureReason,
        scorer: &mut ProbabilisticScorer,
        now: Duration,
    ) {
        let Some(pos) = self.in_flight.iter().position(|(id, _)| *id == part) else {
            return;
        };
        let (_, path) = self.in_flight.remove(pos);
        let uses = path.hop_uses();
        let hop = failing.and_then(|i| path.hops.get(i).map(|h| (i, h)));
        match (reason, hop) {
            (FailureReason::PayeeRejected, _) => {
                self.fail(PaymentFailure::Rejected);
                return;
            }
            (FailureReason::Liquidity, Some((i, _))) => scorer.path_failed(&uses, i, now),
            (FailureReason::ChannelUnusable | FailureReason::PolicyStale, Some((i, h))) => {
                scorer.probe_succeeded(&uses[..i], now);
                self.params.excluded_channels.insert(h.short_channel_id);
            }
            (FailureReason::NodeFailure, Some((i, _))) => {
                scorer.probe_succeeded(&uses[..i], now);
                // The erring node is the one before the failing channel.
                if let Some(prev) = i.checked_sub(1).and_then(|j| path.hops.get(j)) {
                    self.params.excluded_nodes.insert(prev.node_id);
                }
            }
            (_, None) => {}
        }
        if self.attempts >= self.budget.max_attempts && self.in_flight.is_empty() {
            self.fail(PaymentFailure::RetriesExhausted);
        }
    }

    /// A part reached the payee (it holds it until all have). Once all
    /// have, the payment succeeded: the payee settles and the scorer
    /// learns that every part's liquidity moved.
    pub fn part_arrived(&mut self, part: PartId, scorer: &mut ProbabilisticScorer, now: Duration) {
        let Some(pos) = self.in_flight.iter().position(|(id, _)| *id == part) else {
            return;
        };
        let (_, path) = self.in_flight.remove(pos);
        self.arrived.push(path);
        let arrived = self
            .arrived
            .iter()
            .fold(Msat::ZERO, |a, p| a.saturating_add(p.final_amount()));
        if arrived >= self.params.amount && self.state == PaymentState::Pending {
            for p in &self.arrived {
                scorer.path_succeeded(&p.hop_uses(), now);
            }
            self.state = PaymentState::Succeeded;
        }
    }

    /// The channel ids this payment excludes by now.
    pub fn excluded_channels(&self) -> impl Iterator<Item = &ShortChannelId> {
        self.params.excluded_channels.iter()
    }
}
