//! Pathfinding for the Lightning SDK. No IO: the graph, the scorer's
//! knowledge and the time are passed in.
//!
//! - [`graph`] holds the [`RoutingGraph`] read trait a channel graph implements
//!   for the router, and [`CompactGraph`], an adjacency-list graph.
//! - `gossip` (feature `gossip`) implements [`RoutingGraph`] for the
//!   validated public graph of `lightning-gossip` (`NetworkGraph`).
//! - [`router`] holds `Router::find_route` (one path or a multi-part split)
//!   and `Router::query_routes`; the search itself is in `search`.
//! - [`scorer`] holds [`ProbabilisticScorer`], liquidity bounds per channel
//!   direction learned from outcomes and turned into a penalty.
//! - [`blinded`] holds [`BlindedPaymentPath`] and its [`BlindedPayInfo`]
//!   (BOLT 4 "Route Blinding", BOLT 12 `blinded_payinfo`): a route may end
//!   in a blinded tail ([`RoutePath::blinded_tail`]).
//! - [`attempts`] holds [`PaymentAttempts`], retries within a budget.
//! - [`synthetic`] holds a seeded mainnet-like topology with hidden liquidity,
//!   and [`sim`], the payment loop a simulation runs over it.
#![forbid(unsafe_code)]

pub mod attempts;
pub mod blinded;
#[cfg(feature = "gossip")]
pub mod gossip;
pub mod graph;
pub mod route;
pub mod router;
pub mod scorer;
mod search;
pub mod sim;
pub mod synthetic;

pub use attempts::{
    Attempt, FailureReason, PartId, PaymentAttempts, PaymentFailure, PaymentState, RetryBudget,
};
pub use blinded::{BlindedHop, BlindedPayInfo, BlindedPaymentPath, BlindedTail, HopRelay};
pub use graph::{
    AdjacentChannel, ChannelPolicy, ChannelSpec, ChannelView, CompactGraph, Direction, NodeId,
    NodeIndex, RoutingGraph,
};
pub use route::{
    FirstHop, Route, RouteError, RouteHop, RouteParams, RoutePath,
    DEFAULT_MAX_TOTAL_CLTV_EXPIRY_DELTA, MAX_PATH_LENGTH,
};
pub use router::{find_route, RouteCandidate, Router};
pub use scorer::{HopUse, ProbabilisticScorer, ScoreLookup, ScorerParams, ZeroPenalty};
