//! LDK's router and `ProbabilisticScorer` on a synthetic network of
//! `lightning-router`, and the payment loop of `lightning_router::sim::pay`
//! run with them, for the router bench and the simulation test.
//!
//! LDK's `NetworkGraph` is built from the same channels with its unsigned
//! APIs: `add_channel_from_partial_announcement` (capacity, ends) and
//! `update_channel_unsigned` per direction (the same policy fields).

#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::constants::ChainHash;
use bitcoin::Network;
use lightning::ln::msgs::UnsignedChannelUpdate;
use lightning::routing::gossip::{NetworkGraph, NodeId as LdkNodeId};
use lightning::routing::router::{
    find_route, InFlightHtlcs, Path, PaymentParameters, Route as LdkRoute, RouteParameters,
    ScorerAccountingForInFlightHtlcs,
};
use lightning::routing::scoring::{
    ProbabilisticScorer as LdkScorer, ProbabilisticScoringDecayParameters,
    ProbabilisticScoringFeeParameters, ScoreUpdate,
};
use lightning::types::features::{Bolt11InvoiceFeatures, ChannelFeatures};
use lightning::util::logger::{Logger, Record};
use lightning_core::Msat;
use lightning_router::sim::SimOutcome;
use lightning_router::synthetic::{HiddenLiquidity, SimHop, SyntheticNetwork};
use lightning_router::{ChannelPolicy, ChannelSpec, NodeId};
use secp256k1::PublicKey;

/// A logger that drops everything.
pub struct NoLog;

impl Logger for NoLog {
    fn log(&self, _: Record) {}
}

pub static NO_LOG: NoLog = NoLog;

pub type Graph = NetworkGraph<&'static NoLog>;
pub type Scorer<'g> = LdkScorer<&'g Graph, &'static NoLog>;

fn ldk_node(id: &NodeId) -> LdkNodeId {
    LdkNodeId::from_slice(&id.0).expect("33 bytes")
}

fn update(scid: u64, dir: u8, p: &ChannelPolicy, timestamp: u32) -> UnsignedChannelUpdate {
    UnsignedChannelUpdate {
        chain_hash: ChainHash::using_genesis_block(Network::Bitcoin),
        short_channel_id: scid,
        timestamp,
        message_flags: 1,
        channel_flags: dir | if p.disabled { 2 } else { 0 },
        cltv_expiry_delta: p.cltv_expiry_delta,
        htlc_minimum_msat: p.htlc_minimum_msat.0,
        htlc_maximum_msat: p.htlc_maximum_msat.0,
        fee_base_msat: p.fee_base_msat,
        fee_proportional_millionths: p.fee_proportional_millionths,
        excess_data: Vec::new(),
    }
}

/// LDK's graph of the same channels and policies.
pub fn ldk_graph(channels: &[ChannelSpec]) -> Graph {
    let graph = NetworkGraph::new(Network::Bitcoin, &NO_LOG);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    for c in channels {
        let (n1, n2, p1, p2) = if c.node_a < c.node_b {
            (c.node_a, c.node_b, c.a_to_b, c.b_to_a)
        } else {
            (c.node_b, c.node_a, c.b_to_a, c.a_to_b)
        };
        graph
            .add_channel_from_partial_announcement(
                c.scid.0,
                c.capacity.map(|m| m.0 / 1000),
                now,
                ChannelFeatures::empty(),
                ldk_node(&n1),
                ldk_node(&n2),
            )
            .expect("channel");
        for (dir, p) in [(0u8, p1), (1u8, p2)] {
            if let Some(p) = p {
                graph
                    .update_channel_unsigned(&update(c.scid.0, dir, &p, now as u32))
                    .expect("update");
            }
        }
    }
    graph
}

/// LDK's scorer with its default decay parameters.
pub fn ldk_scorer(graph: &Graph) -> Scorer<'_> {
    LdkScorer::new(
        ProbabilisticScoringDecayParameters::default(),
        graph,
        &NO_LOG,
    )
}

/// LDK's route parameters for a payment, with the same limits ours use:
/// LDK's default fee limit (1 % + 50 sat), 2016 blocks, 10 parts when the
/// payee supports MPP.
pub fn ldk_params(payee: &PublicKey, amount: Msat, mpp: bool, max_fee: Msat) -> RouteParameters {
    let mut pp = PaymentParameters::from_node_id(*payee, 18)
        .with_max_total_cltv_expiry_delta(2016)
        .with_max_path_count(if mpp { 10 } else { 1 });
    if mpp {
        let mut f = Bolt11InvoiceFeatures::empty();
        f.set_variable_length_onion_required();
        f.set_payment_secret_required();
        f.set_basic_mpp_optional();
        pp = pp.with_bolt11_features(f).expect("bolt11 features");
    }
    let mut rp = RouteParameters::from_payment_params_and_value(pp, amount.0);
    rp.max_total_routing_fee_msat = Some(max_fee.0);
    rp
}

/// LDK's default fee limit for an amount: 1 % plus 50 sat.
pub fn default_max_fee(amount: Msat) -> Msat {
    Msat(amount.0 / 100 + 50_000)
}

/// One `find_route` of LDK.
pub fn ldk_route(
    graph: &Graph,
    scorer: &Scorer<'_>,
    payer: &PublicKey,
    params: &RouteParameters,
) -> Result<LdkRoute, &'static str> {
    find_route(
        payer,
        params,
        graph,
        None,
        &NO_LOG,
        scorer,
        &ProbabilisticScoringFeeParameters::default(),
        &[7u8; 32],
    )
}

/// An LDK path as the liquidity model sees it (the amount on each channel
/// is the sum of the fees of that hop and those after it, LDK's last hop
/// `fee_msat` being the amount delivered).
pub fn ldk_sim_hops(net: &SyntheticNetwork, path: &Path) -> Vec<SimHop> {
    let mut amounts = vec![0u64; path.hops.len()];
    let mut acc = 0u64;
    for (i, h) in path.hops.iter().enumerate().rev() {
        acc += h.fee_msat;
        amounts[i] = acc;
    }
    path.hops
        .iter()
        .zip(amounts)
        .map(|(h, a)| {
            let scid = lightning_wire::types::ShortChannelId(h.short_channel_id);
            let to = NodeId(h.pubkey.serialize());
            SimHop {
                scid,
                direction: net.graph.direction_into(scid, &to).expect("hop in graph"),
                amount: Msat(a),
            }
        })
        .collect()
}

/// `lightning_router::sim::pay` with LDK: route what is outstanding
/// (accounting for the parts already sent, as LDK's `DefaultRouter`
/// does), lock each part hop by hop, feed failures (and, as LDK's
/// `ChannelManager` does, the failing channel to `previously_failed_channels`)
/// and successes to LDK's scorer.
#[allow(clippy::too_many_arguments)]
pub fn ldk_pay(
    net: &SyntheticNetwork,
    graph: &Graph,
    scorer: &mut Scorer<'_>,
    liquidity: &mut HiddenLiquidity,
    payer: &PublicKey,
    payee: &PublicKey,
    amount: Msat,
    max_attempts: u32,
    now: Duration,
) -> SimOutcome {
    scorer.time_passed(now);
    let max_fee = default_max_fee(amount);
    let mut outstanding = amount;
    let mut fees = Msat::ZERO;
    let mut held: Vec<(Path, Vec<SimHop>)> = Vec::new();
    let mut failed_scids: Vec<u64> = Vec::new();
    let mut attempts = 0;
    while outstanding > Msat::ZERO && attempts < max_attempts {
        let mut rp = ldk_params(payee, outstanding, true, max_fee.saturating_sub(fees));
        rp.payment_params.previously_failed_channels = failed_scids.clone();
        let mut inflight = InFlightHtlcs::new();
        for (p, _) in &held {
            inflight.process_path(p, *payer);
        }
        let accounting = ScorerAccountingForInFlightHtlcs::new(&*scorer, &inflight);
        let route = find_route(
            payer,
            &rp,
            graph,
            None,
            &NO_LOG,
            &accounting,
            &ProbabilisticScoringFeeParameters::default(),
            &[7u8; 32],
        );
        attempts += 1;
        let Ok(route) = route else { break };
        for path in route.paths {
            let hops = ldk_sim_hops(net, &path);
            match liquidity.lock(&hops) {
                Ok(()) => {
                    outstanding = outstanding.saturating_sub(Msat(path.final_value_msat()));
                    fees = fees.saturating_add(Msat(path.fee_msat()));
                    held.push((path, hops));
                }
                Err(i) => {
                    let scid = hops[i].scid.0;
                    scorer.payment_path_failed(&path, scid, now);
                    failed_scids.push(scid);
                }
            }
        }
    }
    let succeeded = outstanding == Msat::ZERO;
    for (path, hops) in &held {
        if succeeded {
            liquidity.settle(hops);
            scorer.payment_path_successful(path, now);
        } else {
            liquidity.release(hops);
        }
    }
    SimOutcome {
        succeeded,
        attempts,
        fees: if succeeded { fees } else { Msat::ZERO },
    }
}
