//! Routing to blinded paths (BOLT 4 "Route Blinding", BOLT 12
//! `blinded_payinfo`): hand-computed fees and CLTV, one test per limit, an
//! introduction node that is the payer, multi-part over several paths, the
//! errors, and properties: the aggregate always covers what the hops
//! deduct, and every route over random graphs and paths obeys every
//! constraint.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use lightning_router::synthetic::{generate, SyntheticParams};
use lightning_router::{
    find_route, BlindedHop, BlindedPayInfo, BlindedPaymentPath, ChannelPolicy, ChannelSpec,
    CompactGraph, FirstHop, HopRelay, NodeId, ProbabilisticScorer, Route, RouteError, RouteParams,
    RoutingGraph, ScorerParams, ZeroPenalty, MAX_PATH_LENGTH,
};
use lightning_wire::types::ShortChannelId;
use lightning_wire::Msat;
use proptest::prelude::*;
use secp256k1::{PublicKey, SecretKey, SECP256K1};

fn key(i: u8) -> PublicKey {
    PublicKey::from_secret_key(SECP256K1, &SecretKey::from_slice(&[i; 32]).unwrap())
}

fn node(i: u8) -> NodeId {
    NodeId::from_pubkey(&key(i))
}

fn pol(base: u32, ppm: u32, cltv: u16) -> ChannelPolicy {
    ChannelPolicy {
        fee_base_msat: base,
        fee_proportional_millionths: ppm,
        cltv_expiry_delta: cltv,
        htlc_minimum_msat: Msat(1),
        htlc_maximum_msat: Msat(10_000_000_000),
        disabled: false,
    }
}

fn ch(scid: u64, a: u8, b: u8, p: ChannelPolicy) -> ChannelSpec {
    ChannelSpec {
        scid: ShortChannelId(scid),
        node_a: node(a),
        node_b: node(b),
        capacity: Some(Msat(10_000_000_000)),
        a_to_b: Some(p),
        b_to_a: Some(p),
    }
}

fn payinfo(base: u32, ppm: u32, cltv: u16) -> BlindedPayInfo {
    BlindedPayInfo {
        fee_base_msat: base,
        fee_proportional_millionths: ppm,
        cltv_expiry_delta: cltv,
        htlc_minimum_msat: Msat(1),
        htlc_maximum_msat: Msat(u64::MAX),
        features: Vec::new(),
    }
}

/// A path of `n` blinded hops whose introduction node is `intro`.
fn path(intro: NodeId, n: u8, info: BlindedPayInfo) -> BlindedPaymentPath {
    BlindedPaymentPath {
        introduction_node: intro,
        first_path_key: key(200),
        hops: (0..n)
            .map(|i| BlindedHop {
                blinded_node_id: key(100 + i),
                encrypted_recipient_data: vec![i; 50],
            })
            .collect(),
        payinfo: info,
    }
}

const A: u8 = 1;
const B: u8 = 2;
const C: u8 = 3;
const D: u8 = 4;
const E: u8 = 5;
const Z: u8 = 9;

/// A-B-C, A-D-E, and Z alone (in the graph through Z-E disabled both ways).
fn graph() -> CompactGraph {
    let mut off = pol(0, 0, 40);
    off.disabled = true;
    CompactGraph::build(vec![
        ch(1, A, B, pol(0, 0, 40)),
        ch(2, B, C, pol(500, 1000, 144)),
        ch(3, A, D, pol(0, 0, 40)),
        ch(4, D, E, pol(100, 10, 20)),
        ch(5, Z, E, off),
    ])
    .unwrap()
}

#[test]
fn fee_and_cltv_of_the_blinded_part_are_exact() {
    let g = graph();
    let p = RouteParams::for_blinded_paths(
        vec![path(node(C), 3, payinfo(1000, 2500, 200))],
        Msat(1_000_000),
    );
    let r = find_route(&g, &node(A), None, &p, &ZeroPenalty).unwrap();
    assert_eq!(r.paths.len(), 1);
    let path0 = &r.paths[0];
    let tail = path0.blinded_tail.as_ref().unwrap();
    // Blinded part: 1000 + floor(1,000,000 * 2500 / 1e6) = 3500.
    assert_eq!(tail.final_amount, Msat(1_000_000));
    assert_eq!(tail.amount, Msat(1_003_500));
    assert_eq!(tail.fee(), Msat(3_500));
    assert_eq!(tail.cltv_expiry_delta, 200);
    assert_eq!(tail.path_index, 0);
    let h = &path0.hops;
    assert_eq!(h.len(), 2);
    assert_eq!(h[1].node_id, node(C));
    assert_eq!(h[1].amount, Msat(1_003_500));
    assert_eq!(h[1].fee, Msat::ZERO);
    assert_eq!(h[1].cltv_expiry_delta, 200);
    // B forwards 1,003,500 over B->C: 500 + floor(1,003,500 * 1000 / 1e6) = 1503.
    assert_eq!(h[0].amount, Msat(1_005_003));
    assert_eq!(h[0].fee, Msat(1_503));
    assert_eq!(h[0].cltv_expiry_delta, 200 + 144);
    assert_eq!(r.total_fee(), Msat(5_003));
    assert_eq!(path0.final_amount(), Msat(1_000_000));
    assert_eq!(path0.onion_hop_count(), 4);
}

#[test]
fn the_cheaper_of_two_paths_wins_and_min_final_cltv_is_ignored() {
    let g = graph();
    let mut p = RouteParams::for_blinded_paths(
        vec![
            path(node(C), 2, payinfo(1000, 2500, 200)),
            path(node(E), 2, payinfo(0, 0, 100)),
        ],
        Msat(1_000_000),
    );
    p.min_final_cltv_expiry_delta = 500;
    let r = find_route(&g, &node(A), None, &p, &ZeroPenalty).unwrap();
    let tail = r.paths[0].blinded_tail.as_ref().unwrap();
    assert_eq!(tail.path_index, 1);
    // D forwards 1,000,000 over D->E: 100 + 10.
    assert_eq!(r.total_fee(), Msat(110));
    assert_eq!(r.max_cltv_expiry_delta(), 100 + 20);
}

#[test]
fn introduction_node_that_is_the_payer_gives_only_the_tail() {
    let g = graph();
    let p = RouteParams::for_blinded_paths(
        vec![path(node(A), 2, payinfo(10, 100, 50))],
        Msat(2_000_000),
    );
    let r = find_route(&g, &node(A), None, &p, &ZeroPenalty).unwrap();
    assert!(r.paths[0].hops.is_empty());
    let tail = r.paths[0].blinded_tail.as_ref().unwrap();
    assert_eq!(tail.amount, Msat(2_000_210));
    assert_eq!(r.paths[0].sent_amount(), Msat(2_000_210));
    assert_eq!(r.total_fee(), Msat(210));
    assert_eq!(r.max_cltv_expiry_delta(), 50);
    // A one-hop path introduced by the payer is the payer itself.
    let own = RouteParams::for_blinded_paths(vec![path(node(A), 1, payinfo(0, 0, 50))], Msat(1));
    assert_eq!(
        find_route(&g, &node(A), None, &own, &ZeroPenalty),
        Err(RouteError::UnknownIntroductionNode)
    );
}

#[test]
fn introduction_node_that_is_a_first_hop_peer_outside_the_graph() {
    let g = graph();
    let fh = [FirstHop {
        scid: ShortChannelId(77),
        counterparty: node(42),
        outbound_capacity: Msat(5_000_000),
        htlc_minimum_msat: Msat(1),
        capacity: None,
    }];
    let p = RouteParams::for_blinded_paths(
        vec![path(node(42), 2, payinfo(0, 1000, 80))],
        Msat(1_000_000),
    );
    let r = find_route(&g, &node(A), Some(&fh), &p, &ZeroPenalty).unwrap();
    assert_eq!(r.paths[0].hops.len(), 1);
    assert_eq!(r.paths[0].hops[0].short_channel_id, ShortChannelId(77));
    assert_eq!(r.paths[0].sent_amount(), Msat(1_001_000));
}

#[test]
fn unknown_and_unreachable_introduction_nodes_are_named() {
    let g = graph();
    let p = RouteParams::for_blinded_paths(vec![path(node(77), 2, payinfo(0, 0, 80))], Msat(1_000));
    assert_eq!(
        find_route(&g, &node(A), None, &p, &ZeroPenalty),
        Err(RouteError::UnknownIntroductionNode)
    );
    // Z is in the graph, but its only channel is disabled.
    let p = RouteParams::for_blinded_paths(vec![path(node(Z), 2, payinfo(0, 0, 80))], Msat(1_000));
    assert_eq!(
        find_route(&g, &node(A), None, &p, &ZeroPenalty),
        Err(RouteError::IntroductionNodeUnreachable)
    );
    // Reachable, but not at this amount: NoRoute.
    let mut info = payinfo(0, 0, 80);
    info.htlc_maximum_msat = Msat(10);
    let p = RouteParams::for_blinded_paths(vec![path(node(C), 2, info)], Msat(1_000));
    assert_eq!(
        find_route(&g, &node(A), None, &p, &ZeroPenalty),
        Err(RouteError::NoRoute)
    );
    // Excluding the way to the introduction node makes it unreachable.
    let mut p = RouteParams::for_blinded_paths(vec![path(node(C), 2, payinfo(0, 0, 80))], Msat(1));
    p.excluded_nodes.insert(node(B));
    assert_eq!(
        find_route(&g, &node(A), None, &p, &ZeroPenalty),
        Err(RouteError::IntroductionNodeUnreachable)
    );
}

#[test]
fn unknown_even_feature_bits_rule_a_path_out() {
    let g = graph();
    let mut info = payinfo(0, 0, 80);
    info.features = vec![0x01];
    let p = RouteParams::for_blinded_paths(
        vec![
            path(node(E), 2, info),
            path(node(C), 2, payinfo(5000, 0, 80)),
        ],
        Msat(1_000),
    );
    let r = find_route(&g, &node(A), None, &p, &ZeroPenalty).unwrap();
    assert_eq!(r.paths[0].blinded_tail.as_ref().unwrap().path_index, 1);
    // An odd bit alone is fine.
    let mut odd = payinfo(0, 0, 80);
    odd.features = vec![0x02];
    let p = RouteParams::for_blinded_paths(vec![path(node(E), 2, odd)], Msat(1_000));
    assert!(find_route(&g, &node(A), None, &p, &ZeroPenalty).is_ok());
}

#[test]
fn htlc_limits_of_the_path_are_honoured() {
    let g = graph();
    // The cheap path's minimum is above the amount, the other's is not.
    let mut cheap = payinfo(0, 0, 80);
    cheap.htlc_minimum_msat = Msat(1_000_001);
    let p = RouteParams::for_blinded_paths(
        vec![
            path(node(E), 2, cheap.clone()),
            path(node(C), 2, payinfo(9, 0, 80)),
        ],
        Msat(1_000_000),
    );
    let mut single = p.clone();
    single.allow_mpp = false;
    let r = find_route(&g, &node(A), None, &single, &ZeroPenalty).unwrap();
    assert_eq!(r.paths[0].blinded_tail.as_ref().unwrap().path_index, 1);
    // The maximum applies to what the introduction node receives.
    let mut capped = payinfo(1000, 0, 80);
    capped.htlc_maximum_msat = Msat(1_000_999);
    let p = RouteParams::for_blinded_paths(
        vec![
            path(node(E), 2, capped),
            path(node(C), 2, payinfo(90_000, 0, 80)),
        ],
        Msat(1_000_000),
    );
    let mut single = p.clone();
    single.allow_mpp = false;
    let r = find_route(&g, &node(A), None, &single, &ZeroPenalty).unwrap();
    assert_eq!(r.paths[0].blinded_tail.as_ref().unwrap().path_index, 1);
}

#[test]
fn blinded_hops_count_toward_the_path_length() {
    let g = graph();
    // Via C: 2 channels + 3 later blinded hops = 5 payloads; via E: 2 + 1.
    let p = |max_len: u8| {
        let mut p = RouteParams::for_blinded_paths(
            vec![
                path(node(C), 4, payinfo(0, 0, 80)),
                path(node(E), 2, payinfo(50_000, 0, 80)),
            ],
            Msat(1_000),
        );
        p.max_path_length = max_len;
        p
    };
    let r = find_route(&g, &node(A), None, &p(5), &ZeroPenalty).unwrap();
    assert_eq!(r.paths[0].blinded_tail.as_ref().unwrap().path_index, 0);
    let r = find_route(&g, &node(A), None, &p(4), &ZeroPenalty).unwrap();
    assert_eq!(r.paths[0].blinded_tail.as_ref().unwrap().path_index, 1);
    assert_eq!(r.paths[0].onion_hop_count(), 3);
    assert_eq!(
        find_route(&g, &node(A), None, &p(2), &ZeroPenalty),
        Err(RouteError::NoRoute)
    );
}

#[test]
fn blinded_cltv_counts_toward_the_total_limit() {
    let g = graph();
    let mut p = RouteParams::for_blinded_paths(
        vec![
            path(node(C), 2, payinfo(0, 0, 300)),
            path(node(E), 2, payinfo(50_000, 0, 100)),
        ],
        Msat(1_000),
    );
    p.max_total_cltv_expiry_delta = 400;
    let r = find_route(&g, &node(A), None, &p, &ZeroPenalty).unwrap();
    // Via C: 300 + 144 = 444 > 400.
    assert_eq!(r.paths[0].blinded_tail.as_ref().unwrap().path_index, 1);
    p.max_total_cltv_expiry_delta = 99;
    assert_eq!(
        find_route(&g, &node(A), None, &p, &ZeroPenalty),
        Err(RouteError::NoRoute)
    );
}

#[test]
fn htlc_maximum_splits_over_several_paths() {
    let g = graph();
    let mut c = payinfo(100, 1000, 80);
    c.htlc_maximum_msat = Msat(700_000);
    let mut e = payinfo(100, 1000, 80);
    e.htlc_maximum_msat = Msat(700_000);
    let p = RouteParams::for_blinded_paths(
        vec![path(node(C), 2, c), path(node(E), 2, e)],
        Msat(1_000_000),
    );
    let r = find_route(&g, &node(A), None, &p, &ZeroPenalty).unwrap();
    assert!(r.paths.len() >= 2, "{r:?}");
    let used: std::collections::HashSet<usize> = r
        .paths
        .iter()
        .map(|x| x.blinded_tail.as_ref().unwrap().path_index)
        .collect();
    assert_eq!(used.len(), 2);
    check(&g, &node(A), &p, &r).unwrap();
    // Without splitting there is no route.
    let mut single = p.clone();
    single.allow_mpp = false;
    assert_eq!(
        find_route(&g, &node(A), None, &single, &ZeroPenalty),
        Err(RouteError::NoRoute)
    );
}

#[test]
fn aggregate_follows_bolt4_and_rounds_up() {
    let relays = [
        HopRelay {
            fee_base_msat: 100,
            fee_proportional_millionths: 500,
            cltv_expiry_delta: 144,
        },
        HopRelay {
            fee_base_msat: 100,
            fee_proportional_millionths: 500,
            cltv_expiry_delta: 144,
        },
    ];
    let agg = BlindedPayInfo::aggregate(&relays, 12).unwrap();
    // Last relay first: base 100, ppm 500; then base (100e6 + 100 * 1000500
    // + 999999) / 1e6 = 201, ppm ((500 + 500) * 1e6 + 500 * 500 + 999999) / 1e6 = 1001.
    assert_eq!(agg.fee_base_msat, 201);
    assert_eq!(agg.fee_proportional_millionths, 1001);
    assert_eq!(agg.cltv_expiry_delta, 300);
    // The sender adds 201 + 1001 = 1202; the hops deduct 1200 of it
    // (100 + 500 ppm each, BOLT 4's `amt_to_forward`), the rounding up
    // leaving the recipient 2 msat more.
    let intro = agg.amount_to_introduction(Msat(1_000_000)).unwrap();
    assert_eq!(intro, Msat(1_001_202));
    let mut amt = intro;
    for r in &relays {
        amt = r.amount_to_forward(amt).unwrap();
    }
    assert_eq!(amt, Msat(1_000_002));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Whatever the hops' relays, the sender's amount from the aggregate
    /// (BOLT 7's formula on the BOLT 4 aggregate) is what the hops need:
    /// applying each hop's `amt_to_forward` leaves at least the amount for
    /// the recipient, and not more than the aggregate's rounding.
    #[test]
    fn aggregate_always_covers_the_hops(
        relays in prop::collection::vec((0u32..10_000, 0u32..50_000, 0u16..300), 0..6),
        amount in 1u64..10_000_000_000,
    ) {
        let relays: Vec<HopRelay> = relays
            .into_iter()
            .map(|(b, p, c)| HopRelay { fee_base_msat: b, fee_proportional_millionths: p, cltv_expiry_delta: c })
            .collect();
        let agg = BlindedPayInfo::aggregate(&relays, 18).unwrap();
        let intro = agg.amount_to_introduction(Msat(amount)).unwrap();
        let mut amt = intro;
        for r in &relays {
            amt = r.amount_to_forward(amt).unwrap();
        }
        prop_assert!(amt.0 >= amount, "recipient gets {} of {}", amt.0, amount);
        prop_assert!(amt.0 <= amount + relays.len() as u64 + 1 + amount / 100_000);
        let cltv: u32 = relays.iter().map(|r| u32::from(r.cltv_expiry_delta)).sum::<u32>() + 18;
        prop_assert_eq!(u32::from(agg.cltv_expiry_delta), cltv);
    }
}

/// Every constraint of a route over blinded paths, recomputed.
fn check(g: &CompactGraph, payer: &NodeId, p: &RouteParams, r: &Route) -> Result<(), String> {
    let sum = r
        .paths
        .iter()
        .fold(Msat::ZERO, |a, x| a.saturating_add(x.final_amount()));
    if sum != p.amount || r.total_msat != p.amount {
        return Err(format!("parts sum to {sum:?}"));
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
    let mut on_path: HashMap<usize, u64> = HashMap::new();
    for path in &r.paths {
        let tail = path.blinded_tail.as_ref().ok_or("no blinded tail")?;
        *on_path.entry(tail.path_index).or_default() += tail.amount.0;
        if on_path[&tail.path_index] > p.blinded_paths[tail.path_index].payinfo.htlc_maximum_msat.0
        {
            return Err("parts over the path's htlc_maximum_msat".into());
        }
        let bp = p.blinded_paths.get(tail.path_index).ok_or("bad index")?;
        if *bp != tail.path {
            return Err("tail is not the indexed path".into());
        }
        let info = &bp.payinfo;
        if tail.amount != info.amount_to_introduction(tail.final_amount).unwrap() {
            return Err("blinded fee".into());
        }
        if tail.final_amount < info.htlc_minimum_msat || tail.amount > info.htlc_maximum_msat {
            return Err("blinded htlc limits".into());
        }
        if tail.cltv_expiry_delta != u32::from(info.cltv_expiry_delta) {
            return Err("blinded cltv".into());
        }
        let len = path.onion_hop_count();
        if len > usize::from(p.max_path_length.min(MAX_PATH_LENGTH)) {
            return Err(format!("{len} onion hops"));
        }
        if path.total_cltv_expiry_delta() > p.max_total_cltv_expiry_delta {
            return Err("cltv over the limit".into());
        }
        let hops = &path.hops;
        if hops.is_empty() {
            if bp.introduction_node != *payer {
                return Err("no hops to a foreign introduction node".into());
            }
            continue;
        }
        if hops[hops.len() - 1].node_id != bp.introduction_node {
            return Err("does not end at the introduction node".into());
        }
        let mut from = *payer;
        for (i, h) in hops.iter().enumerate() {
            if p.excluded_channels.contains(&h.short_channel_id)
                || p.excluded_nodes.contains(&h.node_id)
            {
                return Err("excluded channel or node used".into());
            }
            let c = g.channel(h.short_channel_id).ok_or("unknown channel")?;
            let ends = (g.node_id(c.node_1).unwrap(), g.node_id(c.node_2).unwrap());
            if !(ends == (from, h.node_id) || ends == (h.node_id, from)) {
                return Err(format!("hop {i} does not join"));
            }
            let pol = c.policy(h.direction).ok_or("no policy")?;
            if pol.disabled || !pol.accepts(h.amount) {
                return Err(format!("hop {i}: disabled or outside htlc limits"));
            }
            *used.entry(h.short_channel_id.0).or_default() += h.amount.0;
            if used[&h.short_channel_id.0] > c.capacity.map_or(u64::MAX, |m| m.0) {
                return Err(format!("hop {i}: over capacity"));
            }
            let (next_amount, next_cltv, fee) = match hops.get(i + 1) {
                Some(next) => {
                    let np = g
                        .channel(next.short_channel_id)
                        .and_then(|c| c.policy(next.direction))
                        .ok_or("no next policy")?;
                    (
                        next.amount,
                        next.cltv_expiry_delta + u32::from(np.cltv_expiry_delta),
                        np.fee_for(next.amount).ok_or("fee overflow")?,
                    )
                }
                None => (tail.amount, tail.cltv_expiry_delta, Msat::ZERO),
            };
            if h.fee != fee || h.amount != next_amount.checked_add(fee).unwrap() {
                return Err(format!("hop {i}: fee {:?}, expected {fee:?}", h.fee));
            }
            if h.cltv_expiry_delta != next_cltv {
                return Err(format!("hop {i}: cltv"));
            }
            from = h.node_id;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn every_blinded_route_obeys_every_constraint(
        seed in 0u64..1_000,
        payer in 0usize..120,
        intros in prop::collection::vec((0usize..120, 1u8..4, 0u32..5000, 0u32..5000, 10u16..400, 1u64..3_000_000), 1..4),
        sat in 1_000u64..3_000_000,
        mpp in any::<bool>(),
        max_paths in 1u8..6,
        max_len in 2u8..8,
        max_cltv in 100u32..2016,
        fee_ppm in prop::option::of(100u64..20_000),
        scored in any::<bool>(),
    ) {
        let net = generate(SyntheticParams { nodes: 120, channels: 400, seed }).unwrap();
        let paths = intros
            .iter()
            .map(|&(i, n, base, ppm, cltv, max_sat)| {
                let mut info = payinfo(base, ppm, cltv);
                info.htlc_maximum_msat = Msat(max_sat * 1000);
                path(net.nodes[i], n, info)
            })
            .collect();
        let mut p = RouteParams::for_blinded_paths(paths, Msat(sat * 1000));
        p.allow_mpp = mpp;
        p.max_path_count = max_paths;
        p.max_path_length = max_len;
        p.max_total_cltv_expiry_delta = max_cltv;
        p.max_total_fee = fee_ppm.map(|ppm| Msat(sat * 1000 * ppm / 1_000_000 + 5000));
        let r = if scored {
            find_route(&net.graph, &net.nodes[payer], None, &p, &ProbabilisticScorer::new(ScorerParams::default()))
        } else {
            find_route(&net.graph, &net.nodes[payer], None, &p, &ZeroPenalty)
        };
        if let Ok(r) = r {
            let checked = check(&net.graph, &net.nodes[payer], &p, &r);
            prop_assert!(checked.is_ok(), "{:?}", checked);
        }
    }
}

/// A fixed sweep of the property above, so that it is not vacuous: most
/// requests route, some split, some use a payer-introduced path.
#[test]
fn sweep_routes_to_blinded_paths() {
    use lightning_router::synthetic::Rng;
    let net = generate(SyntheticParams {
        nodes: 120,
        channels: 400,
        seed: 3,
    })
    .unwrap();
    let scorer = ProbabilisticScorer::new(ScorerParams::default());
    let mut rng = Rng::new(9);
    let (mut found, mut split, mut tried) = (0, 0, 0);
    for _ in 0..200 {
        let payer = rng.below(120) as usize;
        let paths: Vec<_> = (0..3)
            .map(|_| {
                let mut info = payinfo(rng.below(2000) as u32, rng.below(3000) as u32, 150);
                info.htlc_maximum_msat = Msat(rng.log_uniform(1e6, 1e10) as u64);
                path(
                    net.nodes[rng.below(120) as usize],
                    1 + rng.below(3) as u8,
                    info,
                )
            })
            .collect();
        tried += 1;
        let sat = rng.log_uniform(1_000.0, 5_000_000.0) as u64;
        let mut p = RouteParams::for_blinded_paths(paths, Msat(sat * 1000));
        p.max_total_fee = Some(Msat(sat * 1000 / 50 + 50_000));
        if let Ok(r) = find_route(&net.graph, &net.nodes[payer], None, &p, &scorer) {
            found += 1;
            split += usize::from(r.paths.len() > 1);
            check(&net.graph, &net.nodes[payer], &p, &r).unwrap();
        }
    }
    println!("blinded sweep: {found} of {tried} routed, {split} split");
    assert!(found * 2 > tried, "{found} of {tried}");
    assert!(split >= 3, "only {split} split routes");
}
