//! Paying over a [`HiddenLiquidity`]: the loop a payment-success
//! simulation runs for this crate's router (a benchmark runs the same loop
//! for another router). Each part is sent hop by hop; the first hop that
//! cannot carry its amount fails the part with
//! `temporary_channel_failure` (BOLT 4) attributed to that channel; parts
//! that reach the payee are held until the whole amount has, then settle.

use core::time::Duration;

use lightning_wire::Msat;

use crate::attempts::{FailureReason, PaymentAttempts, PaymentState, RetryBudget};
use crate::graph::{NodeId, RoutingGraph};
use crate::route::{RouteParams, RoutePath};
use crate::router::Router;
use crate::scorer::ProbabilisticScorer;
use crate::synthetic::{HiddenLiquidity, SimHop};

/// How one simulated payment ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimOutcome {
    /// Whether the whole amount arrived.
    pub succeeded: bool,
    /// Routes computed (attempts).
    pub attempts: u32,
    /// Fees paid (zero when it failed).
    pub fees: Msat,
}

/// The hops of a path as the liquidity model sees them.
pub fn sim_hops(path: &RoutePath) -> Vec<SimHop> {
    path.hops
        .iter()
        .map(|h| SimHop {
            scid: h.short_channel_id,
            direction: h.direction,
            amount: h.amount,
        })
        .collect()
}

/// Pays `params` from `payer` over `liquidity`, learning into `scorer`.
#[allow(clippy::too_many_arguments)]
pub fn pay<G: RoutingGraph>(
    router: &mut Router,
    graph: &G,
    scorer: &mut ProbabilisticScorer,
    liquidity: &mut HiddenLiquidity,
    payer: &NodeId,
    params: RouteParams,
    budget: RetryBudget,
    now: Duration,
) -> SimOutcome {
    let mut pay = PaymentAttempts::new(params, budget);
    let mut locked: Vec<Vec<SimHop>> = Vec::new();
    scorer.set_time(now);
    while let Ok(Some(attempt)) = pay.next_attempt(router, graph, payer, None, scorer, now) {
        for (id, path) in attempt.parts {
            let hops = sim_hops(&path);
            match liquidity.lock(&hops) {
                Ok(()) => {
                    locked.push(hops);
                    pay.part_arrived(id, scorer, now);
                }
                Err(i) => pay.part_failed(id, Some(i), FailureReason::Liquidity, scorer, now),
            }
        }
        if *pay.state() != PaymentState::Pending {
            break;
        }
    }
    let succeeded = *pay.state() == PaymentState::Succeeded;
    for hops in &locked {
        if succeeded {
            liquidity.settle(hops);
        } else {
            liquidity.release(hops);
        }
    }
    SimOutcome {
        succeeded,
        attempts: pay.attempts(),
        fees: if succeeded {
            pay.fees_paid()
        } else {
            Msat::ZERO
        },
    }
}
