//! Router tests on small hand-built graphs: fees and CLTV computed by hand,
//! one test per limit (each fails if the router ignores that limit), and
//! multi-part splitting.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns
use std::time::Duration;

use lightning_router::attempts::{FailureReason, PaymentAttempts, PaymentState, RetryBudget};
use lightning_router::{
    find_route, ChannelPolicy, ChannelSpec, CompactGraph, FirstHop, NodeId, ProbabilisticScorer,
    Route, RouteError, RouteParams, Router, ScorerParams, ZeroPenalty,
};
use lightning_wire::bolt11::{RouteHint, RouteHintHop};
use lightning_wire::types::ShortChannelId;
use lightning_wire::Msat;
use secp256k1::{PublicKey, SecretKey, SECP256K1};

fn node(i: u8) -> NodeId {
    let k = SecretKey::from_slice(&[i; 32]).unwrap();
    NodeId::from_pubkey(&PublicKey::from_secret_key(SECP256K1, &k))
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

/// A channel `a -> b` with `p` as `a`'s policy (and the same back).
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

fn scids(r: &Route) -> Vec<Vec<u64>> {
    r.paths
        .iter()
        .map(|p| p.hops.iter().map(|h| h.short_channel_id.0).collect())
        .collect()
}

const A: u8 = 1;
const B: u8 = 2;
const C: u8 = 3;
const D: u8 = 4;
const E: u8 = 5;

/// A-B-C-D, and A-E-D as a dearer alternative.
fn diamond(mut tweak: impl FnMut(&mut Vec<ChannelSpec>)) -> CompactGraph {
    let mut chans = vec![
        ch(1, A, B, pol(0, 0, 40)),
        ch(2, B, C, pol(500, 1000, 144)),
        ch(3, C, D, pol(1000, 100, 40)),
        ch(4, A, E, pol(0, 0, 40)),
        ch(5, E, D, pol(10_000, 5000, 40)),
    ];
    tweak(&mut chans);
    CompactGraph::build(chans).unwrap()
}

fn params(amount: u64) -> RouteParams {
    let mut p = RouteParams::new(node(D), Msat(amount));
    p.allow_mpp = false;
    p
}

#[test]
fn fees_and_cltv_accumulate_hop_by_hop() {
    let g = diamond(|_| {});
    let r = find_route(&g, &node(A), None, &params(1_000_000), &ZeroPenalty).unwrap();
    assert_eq!(scids(&r), vec![vec![1, 2, 3]]);
    let h = &r.paths[0].hops;
    // C forwards 1,000,000 over C->D: 1000 + 1,000,000 * 100 / 1e6 = 1100.
    assert_eq!(h[2].amount, Msat(1_000_000));
    assert_eq!(h[2].fee, Msat(0));
    assert_eq!(h[2].cltv_expiry_delta, 18);
    assert_eq!(h[1].amount, Msat(1_001_100));
    assert_eq!(h[1].fee, Msat(1_100));
    assert_eq!(h[1].cltv_expiry_delta, 18 + 40);
    // B forwards 1,001,100 over B->C: 500 + floor(1,001,100 * 1000 / 1e6) = 500 + 1001.
    assert_eq!(h[0].amount, Msat(1_002_601));
    assert_eq!(h[0].fee, Msat(1_501));
    assert_eq!(h[0].cltv_expiry_delta, 18 + 40 + 144);
    assert_eq!(r.total_fee(), Msat(2_601));
    assert_eq!(r.total_msat, Msat(1_000_000));
    assert_eq!(h[2].node_id, node(D));
    assert_eq!(h[0].node_id, node(B));
}

#[test]
fn min_final_cltv_expiry_delta_is_the_last_hops() {
    let g = diamond(|_| {});
    let mut p = params(1_000_000);
    p.min_final_cltv_expiry_delta = 100;
    let r = find_route(&g, &node(A), None, &p, &ZeroPenalty).unwrap();
    let h = &r.paths[0].hops;
    assert_eq!(h[2].cltv_expiry_delta, 100);
    assert_eq!(h[0].cltv_expiry_delta, 100 + 40 + 144);
}

fn expect_detour(g: &CompactGraph, p: &RouteParams) {
    let r = find_route(g, &node(A), None, p, &ZeroPenalty).unwrap();
    assert_eq!(scids(&r), vec![vec![4, 5]]);
}

#[test]
fn honours_htlc_maximum() {
    let g = diamond(|c| c[2].a_to_b.as_mut().unwrap().htlc_maximum_msat = Msat(999_999));
    expect_detour(&g, &params(1_000_000));
}

#[test]
fn honours_htlc_minimum() {
    let g = diamond(|c| c[1].a_to_b.as_mut().unwrap().htlc_minimum_msat = Msat(2_000_000));
    expect_detour(&g, &params(1_000_000));
}

#[test]
fn honours_capacity() {
    let g = diamond(|c| c[2].capacity = Some(Msat(999_000)));
    expect_detour(&g, &params(1_000_000));
}

#[test]
fn honours_disabled_flag() {
    let g = diamond(|c| c[1].a_to_b.as_mut().unwrap().disabled = true);
    expect_detour(&g, &params(1_000_000));
}

#[test]
fn honours_excluded_channels_and_nodes() {
    let g = diamond(|_| {});
    let mut p = params(1_000_000);
    p.excluded_channels.insert(ShortChannelId(2));
    expect_detour(&g, &p);
    let mut p = params(1_000_000);
    p.excluded_nodes.insert(node(C));
    expect_detour(&g, &p);
}

#[test]
fn honours_max_total_fee() {
    let g = diamond(|_| {});
    let mut p = params(1_000_000);
    p.max_total_fee = Some(Msat(2_601));
    assert!(find_route(&g, &node(A), None, &p, &ZeroPenalty).is_ok());
    p.max_total_fee = Some(Msat(2_600));
    // The detour costs 10,000 + 5,000: over the limit too.
    assert_eq!(
        find_route(&g, &node(A), None, &p, &ZeroPenalty),
        Err(RouteError::NoRoute)
    );
}

#[test]
fn max_total_fee_steers_a_scorer_away_from_dear_paths() {
    // A scorer that distrusts B->C makes the detour (fee 15,000) the
    // cheapest in cost; a fee limit of 10,000 forces the short path back.
    let g = diamond(|_| {});
    let mut scorer = ProbabilisticScorer::new(ScorerParams::default());
    let fail = lightning_router::HopUse {
        scid: ShortChannelId(2),
        direction: g_direction(&g, 2, C),
        // Failed at twice what this payment puts on it: about even odds.
        amount: Msat(2_002_200),
        capacity: Some(Msat(10_000_000_000)),
    };
    scorer.path_failed(&[fail], 0, Duration::from_secs(1));
    let p = params(1_000_000);
    let r = find_route(&g, &node(A), None, &p, &scorer).unwrap();
    assert_eq!(scids(&r), vec![vec![4, 5]]);
    let mut p = params(1_000_000);
    p.max_total_fee = Some(Msat(10_000));
    let r = find_route(&g, &node(A), None, &p, &scorer).unwrap();
    assert_eq!(scids(&r), vec![vec![1, 2, 3]]);
}

fn g_direction(g: &CompactGraph, scid: u64, into: u8) -> lightning_router::Direction {
    g.direction_into(ShortChannelId(scid), &node(into)).unwrap()
}

#[test]
fn honours_max_total_cltv_expiry_delta() {
    let g = diamond(|c| c[1].a_to_b.as_mut().unwrap().cltv_expiry_delta = 2000);
    let mut p = params(1_000_000);
    // 18 + 40 + 2000 = 2058 > 2016 (the default).
    expect_detour(&g, &p);
    p.max_total_cltv_expiry_delta = 18 + 40 - 1;
    assert_eq!(
        find_route(&g, &node(A), None, &p, &ZeroPenalty),
        Err(RouteError::NoRoute)
    );
    p.max_total_cltv_expiry_delta = 18 + 40;
    assert!(find_route(&g, &node(A), None, &p, &ZeroPenalty).is_ok());
}

#[test]
fn honours_max_path_length() {
    let g = diamond(|_| {});
    let mut p = params(1_000_000);
    p.max_path_length = 2;
    expect_detour(&g, &p);
    p.max_path_length = 1;
    assert_eq!(
        find_route(&g, &node(A), None, &p, &ZeroPenalty),
        Err(RouteError::NoRoute)
    );
}

#[test]
fn never_exceeds_twenty_hops() {
    // A chain of 21 channels: 22 nodes.
    let chans: Vec<ChannelSpec> = (0..21u8)
        .map(|i| ch(100 + u64::from(i), 10 + i, 11 + i, pol(0, 0, 10)))
        .collect();
    let g = CompactGraph::build(chans).unwrap();
    let mut p = RouteParams::new(node(31), Msat(1000));
    p.max_path_length = 255;
    assert_eq!(
        find_route(&g, &node(10), None, &p, &ZeroPenalty),
        Err(RouteError::NoRoute)
    );
    let p = RouteParams::new(node(30), Msat(1000));
    let r = find_route(&g, &node(10), None, &p, &ZeroPenalty).unwrap();
    assert_eq!(r.paths[0].hops.len(), 20);
}

#[test]
fn first_hops_replace_the_payers_graph_channels() {
    let g = diamond(|_| {});
    // Our channel to B has only 900,000 msat outbound: the route must go
    // through E even though the graph says A-B is large.
    let fh = [
        FirstHop {
            scid: ShortChannelId(1),
            counterparty: node(B),
            outbound_capacity: Msat(900_000),
            htlc_minimum_msat: Msat(1),
            capacity: None,
        },
        FirstHop {
            scid: ShortChannelId(4),
            counterparty: node(E),
            outbound_capacity: Msat(5_000_000),
            htlc_minimum_msat: Msat(1),
            capacity: None,
        },
    ];
    let r = find_route(&g, &node(A), Some(&fh), &params(1_000_000), &ZeroPenalty).unwrap();
    assert_eq!(scids(&r), vec![vec![4, 5]]);
    // With enough outbound the cheap path is back.
    let mut fh2 = fh;
    fh2[0].outbound_capacity = Msat(2_000_000);
    let r = find_route(&g, &node(A), Some(&fh2), &params(1_000_000), &ZeroPenalty).unwrap();
    assert_eq!(scids(&r), vec![vec![1, 2, 3]]);
    // A payer outside the graph routes through a private first hop.
    let fh3 = [FirstHop {
        scid: ShortChannelId(77),
        counterparty: node(B),
        outbound_capacity: Msat(2_000_000),
        htlc_minimum_msat: Msat(1),
        capacity: None,
    }];
    let r = find_route(&g, &node(99), Some(&fh3), &params(1_000_000), &ZeroPenalty).unwrap();
    assert_eq!(scids(&r), vec![vec![77, 2, 3]]);
    assert_eq!(
        find_route(&g, &node(99), None, &params(1_000_000), &ZeroPenalty),
        Err(RouteError::NoPayerChannels)
    );
}

fn hint_hop(src: u8, scid: u64, base: u32, ppm: u32, cltv: u16) -> RouteHintHop {
    let k = SecretKey::from_slice(&[src; 32]).unwrap();
    RouteHintHop {
        src_node_id: PublicKey::from_secret_key(SECP256K1, &k).into(),
        short_channel_id: ShortChannelId(scid),
        fee_base_msat: base,
        fee_proportional_millionths: ppm,
        cltv_expiry_delta: cltv,
    }
}

#[test]
fn route_hints_reach_a_private_payee() {
    let g = diamond(|_| {});
    let mut p = RouteParams::new(node(50), Msat(1_000_000));
    p.allow_mpp = false;
    assert_eq!(
        find_route(&g, &node(A), None, &p, &ZeroPenalty),
        Err(RouteError::UnknownPayee)
    );
    // D -> 60 (private) -> 50 (the payee).
    p.route_hints = vec![RouteHint(vec![
        hint_hop(D, 900, 1000, 0, 40),
        hint_hop(60, 901, 0, 2000, 80),
    ])];
    let r = find_route(&g, &node(A), None, &p, &ZeroPenalty).unwrap();
    assert_eq!(scids(&r), vec![vec![1, 2, 3, 900, 901]]);
    let h = &r.paths[0].hops;
    // 60 forwards 1,000,000 with 2000 ppm: 2,000. D forwards 1,002,000
    // with base 1000: 1,000.
    assert_eq!(h[4].amount, Msat(1_000_000));
    assert_eq!(h[3].amount, Msat(1_002_000));
    assert_eq!(h[2].amount, Msat(1_003_000));
    assert_eq!(h[3].cltv_expiry_delta, 18 + 80);
    assert_eq!(h[2].cltv_expiry_delta, 18 + 80 + 40);
    assert_eq!(h[4].node_id, node(50));
}

/// A and D joined by three parallel two-hop paths of 600,000 msat each.
fn parallel() -> CompactGraph {
    let mut chans = Vec::new();
    for (i, mid) in [(0u64, 20u8), (1, 21), (2, 22)] {
        let mut a = ch(10 + i, A, mid, pol(0, 0, 40));
        let mut b = ch(20 + i, mid, D, pol(100 * (i as u32 + 1), 10, 40));
        a.capacity = Some(Msat(600_000));
        b.capacity = Some(Msat(600_000));
        for c in [&mut a, &mut b] {
            c.a_to_b.as_mut().unwrap().htlc_maximum_msat = Msat(600_000);
            c.b_to_a.as_mut().unwrap().htlc_maximum_msat = Msat(600_000);
        }
        chans.push(a);
        chans.push(b);
    }
    CompactGraph::build(chans).unwrap()
}

#[test]
fn splits_when_no_single_path_can_carry_it() {
    let g = parallel();
    let mut p = RouteParams::new(node(D), Msat(1_000_000));
    p.allow_mpp = false;
    assert_eq!(
        find_route(&g, &node(A), None, &p, &ZeroPenalty),
        Err(RouteError::NoRoute)
    );
    p.allow_mpp = true;
    let r = find_route(&g, &node(A), None, &p, &ZeroPenalty).unwrap();
    assert!(r.paths.len() >= 2, "{:?}", scids(&r));
    let sum = r
        .paths
        .iter()
        .fold(Msat::ZERO, |a, x| a.saturating_add(x.final_amount()));
    assert_eq!(sum, Msat(1_000_000));
    assert_eq!(r.total_msat, Msat(1_000_000));
    // Capacities hold summed over parts: no channel carries more than
    // 600,000 in total.
    let mut per = std::collections::HashMap::new();
    for path in &r.paths {
        for h in &path.hops {
            *per.entry(h.short_channel_id).or_insert(0u64) += h.amount.0;
        }
    }
    assert!(per.values().all(|v| *v <= 600_000), "{per:?}");
    // Two parts at most cannot carry 1,300,000 over 600,000 paths (it
    // takes three).
    p.amount = Msat(1_300_000);
    p.max_path_count = 2;
    assert_eq!(
        find_route(&g, &node(A), None, &p, &ZeroPenalty),
        Err(RouteError::NoRoute)
    );
    p.max_path_count = 3;
    let r = find_route(&g, &node(A), None, &p, &ZeroPenalty).unwrap();
    assert_eq!(r.paths.len(), 3);
}

#[test]
fn splits_when_splitting_is_cheaper_in_probability() {
    // Both paths could carry 1,000,000 alone, but each is 1,200,000 in
    // capacity: one path has p = 0.17, two halves p = 0.58 each (0.34).
    let mut chans = Vec::new();
    for (i, mid) in [(0u64, 20u8), (1, 21)] {
        let mut a = ch(10 + i, A, mid, pol(0, 0, 40));
        let mut b = ch(20 + i, mid, D, pol(0, 1, 40));
        a.capacity = Some(Msat(1_200_000));
        b.capacity = Some(Msat(1_200_000));
        chans.push(a);
        chans.push(b);
    }
    let g = CompactGraph::build(chans).unwrap();
    let scorer = ProbabilisticScorer::new(ScorerParams::default());
    let p = RouteParams::new(node(D), Msat(1_000_000));
    let r = find_route(&g, &node(A), None, &p, &scorer).unwrap();
    assert_eq!(r.paths.len(), 2, "{:?}", scids(&r));
    let mut single = p.clone();
    single.allow_mpp = false;
    let s = find_route(&g, &node(A), None, &single, &scorer).unwrap();
    assert!(r.success_probability() > s.success_probability());
}

#[test]
fn query_routes_returns_distinct_candidates() {
    let g = diamond(|_| {});
    let scorer = ProbabilisticScorer::new(ScorerParams::default());
    let c = Router::new()
        .query_routes(&g, &node(A), None, &params(1_000_000), &scorer, 3)
        .unwrap();
    assert_eq!(c.len(), 2);
    assert_ne!(c[0].route, c[1].route);
    assert_eq!(c[0].total_fee, Msat(2_601));
    assert_eq!(c[1].total_fee, Msat(15_000));
    assert_eq!(c[0].max_cltv_expiry_delta, 18 + 40 + 144);
    assert!(c
        .iter()
        .all(|x| x.success_probability > 0.0 && x.success_probability <= 1.0));
}

#[test]
fn retries_learn_and_reroute() {
    let g = diamond(|_| {});
    let mut scorer = ProbabilisticScorer::new(ScorerParams::default());
    let mut router = Router::new();
    let budget = RetryBudget {
        max_attempts: 3,
        timeout: Duration::from_secs(60),
    };
    let mut pay = PaymentAttempts::new(params(1_000_000), budget);
    let now = Duration::from_secs(10);
    let a = pay
        .next_attempt(&mut router, &g, &node(A), None, &scorer, now)
        .unwrap()
        .unwrap();
    let (id, path) = &a.parts[0];
    assert_eq!(path.hops[1].short_channel_id, ShortChannelId(2));
    // B could not forward over B->C.
    pay.part_failed(*id, Some(1), FailureReason::Liquidity, &mut scorer, now);
    let b = pay
        .next_attempt(&mut router, &g, &node(A), None, &scorer, now)
        .unwrap()
        .unwrap();
    let (id2, path2) = &b.parts[0];
    assert_eq!(
        path2
            .hops
            .iter()
            .map(|h| h.short_channel_id.0)
            .collect::<Vec<_>>(),
        vec![4, 5]
    );
    pay.part_arrived(*id2, &mut scorer, now);
    assert_eq!(*pay.state(), PaymentState::Succeeded);
    assert_eq!(pay.attempts(), 2);
}

#[test]
fn retries_stop_at_the_budget() {
    let g = diamond(|_| {});
    let mut scorer = ProbabilisticScorer::new(ScorerParams::default());
    let mut router = Router::new();
    let budget = RetryBudget {
        max_attempts: 2,
        timeout: Duration::from_secs(60),
    };
    let mut pay = PaymentAttempts::new(params(1_000_000), budget);
    for _ in 0..2 {
        let a = pay
            .next_attempt(&mut router, &g, &node(A), None, &scorer, Duration::ZERO)
            .unwrap()
            .unwrap();
        pay.part_failed(
            a.parts[0].0,
            Some(0),
            FailureReason::Liquidity,
            &mut scorer,
            Duration::ZERO,
        );
    }
    assert!(pay
        .next_attempt(&mut router, &g, &node(A), None, &scorer, Duration::ZERO)
        .is_err());
    assert!(matches!(pay.state(), PaymentState::Failed(_)));
    // And the time budget.
    let mut scorer = ProbabilisticScorer::new(ScorerParams::default());
    let mut pay = PaymentAttempts::new(params(1_000_000), RetryBudget::default());
    let a = pay
        .next_attempt(&mut router, &g, &node(A), None, &scorer, Duration::ZERO)
        .unwrap()
        .unwrap();
    pay.part_failed(
        a.parts[0].0,
        Some(0),
        FailureReason::Liquidity,
        &mut scorer,
        Duration::ZERO,
    );
    assert!(pay
        .next_attempt(
            &mut router,
            &g,
            &node(A),
            None,
            &scorer,
            Duration::from_secs(61)
        )
        .is_err());
}

#[test]
fn params_from_an_invoice_route_over_its_hints() {
    use lightning_wire::bolt11::{Bolt11Invoice, Currency, InvoiceBuilder, PaymentSecret};
    use lightning_wire::features::{Bolt11InvoiceFeatures, Feature};
    let payee_key = SecretKey::from_slice(&[50; 32]).unwrap();
    let mut features = Bolt11InvoiceFeatures::empty();
    for f in [
        Feature::VarOnionOptin,
        Feature::PaymentSecret,
        Feature::BasicMpp,
    ] {
        features.set_bit(f.optional_bit());
    }
    let text = InvoiceBuilder::new(Currency::Bitcoin)
        .amount_msat(1_000_000)
        .timestamp(1_700_000_000)
        .payment_hash(lightning_wire::types::PaymentHash([9; 32]))
        .payment_secret(PaymentSecret([1; 32]))
        .description("test")
        .min_final_cltv_expiry_delta(40)
        .route_hint(RouteHint(vec![hint_hop(D, 900, 1000, 0, 40)]))
        .features(features)
        .build_signed(&payee_key)
        .unwrap()
        .to_string();
    let invoice = Bolt11Invoice::parse(&text).unwrap();
    let p = RouteParams::from_invoice(&invoice, None).unwrap();
    assert_eq!(p.payee, node(50));
    assert_eq!(p.amount, Msat(1_000_000));
    assert_eq!(p.min_final_cltv_expiry_delta, 40);
    assert!(p.allow_mpp);
    let g = diamond(|_| {});
    let r = find_route(&g, &node(A), None, &p, &ZeroPenalty).unwrap();
    assert_eq!(scids(&r), vec![vec![1, 2, 3, 900]]);
    assert_eq!(r.paths[0].hops[3].cltv_expiry_delta, 40);
    assert_eq!(r.paths[0].hops[2].amount, Msat(1_001_000));
}
