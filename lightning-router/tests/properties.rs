//! Property test: on random synthetic graphs and random requests, every
//! route the router returns obeys every constraint, and its fees and CLTV
//! deltas are exactly BOLT 7's, recomputed here from the graph's policies.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use lightning_router::synthetic::{generate, SyntheticParams};
use lightning_router::{
    find_route, CompactGraph, NodeId, ProbabilisticScorer, Route, RouteParams, RoutingGraph,
    ScorerParams, ZeroPenalty, MAX_PATH_LENGTH,
};
use lightning_wire::Msat;
use proptest::prelude::*;

fn check(g: &CompactGraph, payer: &NodeId, p: &RouteParams, r: &Route) -> Result<(), String> {
    let sum = r
        .paths
        .iter()
        .fold(Msat::ZERO, |a, x| a.saturating_add(x.final_amount()));
    if sum != p.amount || r.total_msat != p.amount {
        return Err(format!("parts sum to {sum:?}, total {:?}", r.total_msat));
    }
    let max_parts = if p.allow_mpp { p.max_path_count } else { 1 };
    if r.paths.len() > usize::from(max_parts) {
        return Err(format!("{} parts", r.paths.len()));
    }
    if let Some(max) = p.max_total_fee {
        if r.total_fee() > max {
            return Err(format!("fee {:?} over {max:?}", r.total_fee()));
        }
    }
    let mut used: HashMap<u64, u64> = HashMap::new();
    for path in &r.paths {
        let hops = &path.hops;
        if hops.is_empty() || hops.len() > usize::from(p.max_path_length.min(MAX_PATH_LENGTH)) {
            return Err(format!("{} hops", hops.len()));
        }
        if hops[hops.len() - 1].node_id != p.payee {
            return Err("does not end at the payee".into());
        }
        if hops[0].cltv_expiry_delta > p.max_total_cltv_expiry_delta {
            return Err("cltv over the limit".into());
        }
        let mut from = *payer;
        for (i, h) in hops.iter().enumerate() {
            if p.excluded_channels.contains(&h.short_channel_id)
                || (i + 1 < hops.len() && p.excluded_nodes.contains(&h.node_id))
            {
                return Err("excluded channel or node used".into());
            }
            let c = g.channel(h.short_channel_id).ok_or("unknown channel")?;
            let ends = (g.node_id(c.node_1).unwrap(), g.node_id(c.node_2).unwrap());
            if !(ends == (from, h.node_id) || ends == (h.node_id, from)) {
                return Err(format!("hop {i} does not join {from:?} to {:?}", h.node_id));
            }
            let pol = c.policy(h.direction).ok_or("no policy")?;
            if pol.disabled || !pol.accepts(h.amount) {
                return Err(format!("hop {i}: disabled or outside htlc limits"));
            }
            *used.entry(h.short_channel_id.0).or_default() += h.amount.0;
            if used[&h.short_channel_id.0] > c.capacity.map_or(u64::MAX, |m| m.0) {
                return Err(format!("hop {i}: over capacity"));
            }
            match hops.get(i + 1) {
                Some(next) => {
                    let np = g
                        .channel(next.short_channel_id)
                        .and_then(|c| c.policy(next.direction))
                        .ok_or("no next policy")?;
                    let fee = np.fee_for(next.amount).ok_or("fee overflow")?;
                    if h.fee != fee || h.amount != next.amount.checked_add(fee).unwrap() {
                        return Err(format!("hop {i}: fee {:?}, expected {fee:?}", h.fee));
                    }
                    if h.cltv_expiry_delta
                        != next.cltv_expiry_delta + u32::from(np.cltv_expiry_delta)
                    {
                        return Err(format!("hop {i}: cltv"));
                    }
                }
                None => {
                    if h.fee != Msat::ZERO
                        || h.cltv_expiry_delta != u32::from(p.min_final_cltv_expiry_delta)
                    {
                        return Err("last hop fee or cltv".into());
                    }
                }
            }
            from = h.node_id;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn every_route_obeys_every_constraint(
        seed in 0u64..1_000,
        a in 0usize..120,
        b in 0usize..120,
        sat in 1_000u64..3_000_000,
        mpp in any::<bool>(),
        max_paths in 1u8..6,
        max_len in 2u8..8,
        max_cltv in 100u32..2016,
        fee_ppm in prop::option::of(100u64..20_000),
        scored in any::<bool>(),
        exclude in 0usize..4,
    ) {
        let net = generate(SyntheticParams { nodes: 120, channels: 400, seed }).unwrap();
        prop_assume!(a != b);
        let mut p = RouteParams::new(net.nodes[b], Msat(sat * 1000));
        p.allow_mpp = mpp;
        p.max_path_count = max_paths;
        p.max_path_length = max_len;
        p.max_total_cltv_expiry_delta = max_cltv;
        p.max_total_fee = fee_ppm.map(|ppm| Msat(sat * 1000 * ppm / 1_000_000));
        for c in net.channels.iter().skip(seed as usize % 50).step_by(97).take(exclude) {
            p.excluded_channels.insert(c.scid);
        }
        for n in net.nodes.iter().skip(seed as usize % 7 + 3).step_by(31).take(exclude) {
            p.excluded_nodes.insert(*n);
        }
        let r = if scored {
            find_route(&net.graph, &net.nodes[a], None, &p, &ProbabilisticScorer::new(ScorerParams::default()))
        } else {
            find_route(&net.graph, &net.nodes[a], None, &p, &ZeroPenalty)
        };
        if let Ok(r) = r {
            let checked = check(&net.graph, &net.nodes[a], &p, &r);
            prop_assert!(checked.is_ok(), "{:?}", checked);
        }
    }
}

/// The same check over a fixed sweep, counting how many requests found a
/// route (and a split one), so that the property above is not vacuous.
#[test]
fn sweep_finds_routes_and_all_obey() {
    use lightning_router::synthetic::Rng;
    let net = generate(SyntheticParams {
        nodes: 120,
        channels: 400,
        seed: 3,
    })
    .unwrap();
    let scorer = ProbabilisticScorer::new(ScorerParams::default());
    let mut rng = Rng::new(5);
    let (mut found, mut split, mut tried) = (0, 0, 0);
    for _ in 0..300 {
        let a = rng.below(120) as usize;
        let b = rng.below(120) as usize;
        if a == b {
            continue;
        }
        tried += 1;
        let sat = rng.log_uniform(1_000.0, 20_000_000.0) as u64;
        let mut p = RouteParams::new(net.nodes[b], Msat(sat * 1000));
        p.max_total_fee = Some(Msat(sat * 1000 / 50 + 50_000));
        if let Ok(r) = find_route(&net.graph, &net.nodes[a], None, &p, &scorer) {
            found += 1;
            split += usize::from(r.paths.len() > 1);
            check(&net.graph, &net.nodes[a], &p, &r).unwrap();
        }
    }
    println!("sweep: {found} of {tried} routed, {split} split");
    assert!(found * 2 > tried, "{found} of {tried}");
    assert!(split >= 5, "only {split} split routes");
}
