//! The router's persisted scorer (`ProbabilisticScorer::decode`): what a
//! damaged or hostile store hands the node on restart. Invariants: no
//! panic; what decodes re-encodes to the same bytes; every lookup on what
//! decoded gives a probability in `[0, 1]`; learning on top of it and
//! encoding again round-trips.

use core::time::Duration;

use lightning_core::Msat;
use lightning_router::scorer::HopUse;
use lightning_router::{Direction, ProbabilisticScorer, ScoreLookup, ScorerParams};
use lightning_wire::types::ShortChannelId;

/// The fuzz target.
pub fn scorer_decode(data: &[u8]) {
    let Ok(scorer) = ProbabilisticScorer::decode(data, ScorerParams::default()) else {
        return;
    };
    assert_eq!(
        scorer.encode(),
        data,
        "a decoded scorer re-encodes differently"
    );
    // The keys are the first word of each 32-byte entry after the 9-byte
    // header.
    let keys: Vec<u64> = data
        .get(9..)
        .unwrap_or(&[])
        .chunks_exact(32)
        .map(|c| u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    let mut learned = scorer.clone();
    for (i, k) in keys.iter().enumerate() {
        let scid = ShortChannelId(k >> 1);
        let direction = Direction::from_bit((k & 1) as u8);
        for capacity in [
            None,
            Some(Msat(0)),
            Some(Msat(1)),
            Some(Msat(1_000_000_000)),
            Some(Msat(u64::MAX)),
        ] {
            for amount in [0, 1, 500_000_000, u64::MAX] {
                for in_flight in [0, 7, u64::MAX] {
                    let p = scorer.success_probability(
                        scid,
                        direction,
                        Msat(amount),
                        Msat(in_flight),
                        capacity,
                    );
                    assert!((0.0..=1.0).contains(&p), "probability {p} out of range");
                    let _ = scorer.penalty_msat(
                        scid,
                        direction,
                        Msat(amount),
                        Msat(in_flight),
                        capacity,
                    );
                }
            }
        }
        let hop = HopUse {
            scid,
            direction,
            amount: Msat(k.rotate_left(17)),
            capacity: Some(Msat(k.rotate_left(31))),
        };
        let now = Duration::from_secs(k.rotate_left(7) >> 20);
        match i % 3 {
            0 => learned.path_failed(&[hop], 0, now),
            1 => learned.path_succeeded(&[hop], now),
            _ => learned.probe_succeeded(&[hop], now),
        }
    }
    let bytes = learned.encode();
    let again = ProbabilisticScorer::decode(&bytes, ScorerParams::default())
        .unwrap_or_else(|e| panic!("a scorer's own encoding does not decode: {e}"));
    assert_eq!(again.encode(), bytes, "encode/decode does not round-trip");
    crate::reached_checks();
}

/// A seed corpus: an empty scorer and scorers that learned from a few
/// paths.
pub fn seed_corpus() -> Vec<(String, Vec<u8>)> {
    let mut out = vec![(
        "empty".to_string(),
        ProbabilisticScorer::new(ScorerParams::default()).encode(),
    )];
    let mut s = ProbabilisticScorer::new(ScorerParams::default());
    for i in 0..6u64 {
        let hops: Vec<HopUse> = (0..4u64)
            .map(|j| HopUse {
                scid: ShortChannelId((700_000 + i * 10 + j) << 40),
                direction: Direction::from_bit((i + j) as u8),
                amount: Msat(1_000_000 * (i + 1)),
                capacity: Some(Msat(5_000_000_000)),
            })
            .collect();
        if i % 2 == 0 {
            s.path_failed(&hops, (i % 4) as usize, Duration::from_secs(1000 * i));
        } else {
            s.path_succeeded(&hops, Duration::from_secs(1000 * i));
        }
        out.push((format!("learned_{i}"), s.encode()));
    }
    out
}
