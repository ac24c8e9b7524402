//! A deterministic synthetic topology shaped like the public network, for
//! tests, benchmarks and payment simulations, with a hidden "true"
//! liquidity per channel direction that only a simulation reads.
//!
//! Shape (seeded, reproducible across platforms: the generator is our own
//! SplitMix64):
//! - nodes join one by one and open a number of channels drawn from a
//!   heavy-tailed distribution (most 1-3, a few dozens), each to a peer
//!   picked with probability proportional to its channel count
//!   (preferential attachment) 80 % of the time and uniformly otherwise:
//!   a few hubs with thousands of channels, a long tail of small nodes;
//! - capacities log-normal around 2,000,000 sat (20,000 sat to 5 BTC),
//!   larger for channels between well-connected nodes;
//! - fees: base 1,000 msat for 60 % of directions, 0 for 30 %, up to
//!   5,000 otherwise; proportional log-uniform from 1 to 5,000 ppm (a tenth
//!   at 0); CLTV deltas from {18, 34, 40, 80, 144, 288} weighted like
//!   mainnet's defaults; `htlc_minimum_msat` mostly 1,000 (some 1 and some
//!   1,000,000); `htlc_maximum_msat` the capacity (99 % of it for most,
//!   half for some); 3 % of directions disabled, 2 % without a policy;
//! - hidden liquidity: for each channel a split of its capacity between
//!   the two directions, uniform for half the channels and skewed towards
//!   one end (a fraction `u^3` or `1 - u^3`) for the other half, as
//!   channels drained one way are common.

use std::collections::HashMap;

use lightning_wire::types::ShortChannelId;
use lightning_wire::Msat;
use secp256k1::{PublicKey, SecretKey, SECP256K1};

use crate::graph::{ChannelPolicy, ChannelSpec, CompactGraph, Direction, GraphError, NodeId};

/// SplitMix64: small, fast, and the same on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[0, n)` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }

    /// A standard normal draw (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-300);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * core::f64::consts::PI * u2).cos()
    }

    /// Log-uniform in `[lo, hi]`.
    pub fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + self.unit() * (hi.ln() - lo.ln())).exp()
    }
}

/// The size of a synthetic network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyntheticParams {
    /// Nodes.
    pub nodes: usize,
    /// Channels (approximately: the last nodes stop once it is reached).
    pub channels: usize,
    /// The seed.
    pub seed: u64,
}

impl SyntheticParams {
    /// Mainnet's public graph in 2025: about 15,000 nodes and 50,000
    /// channels.
    pub fn mainnet_like(seed: u64) -> Self {
        SyntheticParams {
            nodes: 15_000,
            channels: 50_000,
            seed,
        }
    }
}

/// A generated network: its channels, the graph built from them, the
/// nodes' secret keys (so that other implementations can be given the same
/// nodes) and the hidden liquidity.
#[derive(Debug)]
pub struct SyntheticNetwork {
    /// The channels as generated.
    pub channels: Vec<ChannelSpec>,
    /// The graph of those channels.
    pub graph: CompactGraph,
    /// Every node's id, in creation order.
    pub nodes: Vec<NodeId>,
    /// Each node's secret key (same order as `nodes`).
    pub secret_keys: Vec<SecretKey>,
    /// What each channel direction can really forward now.
    pub liquidity: HiddenLiquidity,
}

/// The true liquidity of every channel direction, which moves as payments
/// settle. Only a simulation reads it: a router sees the graph and its
/// scorer.
#[derive(Clone, Debug, Default)]
pub struct HiddenLiquidity {
    balance: HashMap<(ShortChannelId, Direction), Msat>,
}

/// One hop a simulated HTLC crosses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimHop {
    /// The channel.
    pub scid: ShortChannelId,
    /// The direction.
    pub direction: Direction,
    /// The HTLC amount on it.
    pub amount: Msat,
}

impl HiddenLiquidity {
    /// What `direction` of `scid` can forward now (zero if unknown).
    pub fn available(&self, scid: ShortChannelId, direction: Direction) -> Msat {
        self.balance
            .get(&(scid, direction))
            .copied()
            .unwrap_or(Msat::ZERO)
    }

    /// Sets a direction's liquidity.
    pub fn set(&mut self, scid: ShortChannelId, direction: Direction, amount: Msat) {
        self.balance.insert((scid, direction), amount);
    }

    /// Sends an HTLC along `hops`: each hop's amount is locked in turn;
    /// at the first hop that cannot carry its amount, the locks are
    /// released and its index returned.
    pub fn lock(&mut self, hops: &[SimHop]) -> Result<(), usize> {
        for (i, h) in hops.iter().enumerate() {
            let have = self.available(h.scid, h.direction);
            if have < h.amount {
                self.release(&hops[..i]);
                return Err(i);
            }
            self.set(h.scid, h.direction, have.saturating_sub(h.amount));
        }
        Ok(())
    }

    /// Fails locked HTLCs back: the amounts return to where they were.
    pub fn release(&mut self, hops: &[SimHop]) {
        for h in hops {
            let have = self.available(h.scid, h.direction);
            self.set(h.scid, h.direction, have.saturating_add(h.amount));
        }
    }

    /// Settles locked HTLCs: the amounts move to the other direction.
    pub fn settle(&mut self, hops: &[SimHop]) {
        for h in hops {
            let d = h.direction.reversed();
            let have = self.available(h.scid, d);
            self.set(h.scid, d, have.saturating_add(h.amount));
        }
    }
}

fn channel_count_draw(rng: &mut Rng) -> usize {
    // A discrete Pareto-like tail: P(k) ~ k^-2.1, most nodes with 1-3.
    let u = rng.unit().max(1e-9);
    let k = u.powf(-1.0 / 1.15);
    (k as usize).clamp(1, 400)
}

fn policy(rng: &mut Rng, capacity: Msat) -> Option<ChannelPolicy> {
    if rng.unit() < 0.02 {
        return None;
    }
    let r = rng.unit();
    let fee_base_msat = if r < 0.6 {
        1000
    } else if r < 0.9 {
        0
    } else {
        rng.below(5001) as u32
    };
    let fee_proportional_millionths = if rng.unit() < 0.1 {
        0
    } else {
        rng.log_uniform(1.0, 5000.0) as u32
    };
    let r = rng.unit();
    let cltv_expiry_delta = match r {
        r if r < 0.35 => 144,
        r if r < 0.60 => 40,
        r if r < 0.75 => 80,
        r if r < 0.85 => 34,
        r if r < 0.93 => 18,
        _ => 288,
    };
    let r = rng.unit();
    let htlc_minimum_msat = Msat(if r < 0.8 {
        1000
    } else if r < 0.97 {
        1
    } else {
        1_000_000
    });
    let htlc_maximum_msat = if rng.unit() < 0.85 {
        Msat(capacity.0 / 100 * 99)
    } else {
        Msat(capacity.0 / 2)
    };
    Some(ChannelPolicy {
        fee_base_msat,
        fee_proportional_millionths,
        cltv_expiry_delta,
        htlc_minimum_msat,
        htlc_maximum_msat,
        disabled: rng.unit() < 0.03,
    })
}

/// Node `i`'s secret key for a seed (never zero, always valid).
fn secret_key(seed: u64, i: usize) -> SecretKey {
    let mut rng = Rng::new(seed ^ 0x5eed_0000_0000_0000 ^ (i as u64).wrapping_mul(0x9e37_79b9));
    loop {
        let mut b = [0u8; 32];
        for chunk in b.chunks_mut(8) {
            chunk.copy_from_slice(&rng.next_u64().to_be_bytes());
        }
        if let Ok(k) = SecretKey::from_slice(&b) {
            return k;
        }
    }
}

/// Generates a network. Deterministic in `params`.
pub fn generate(params: SyntheticParams) -> Result<SyntheticNetwork, GraphError> {
    let mut rng = Rng::new(params.seed);
    let n = params.nodes.max(2);
    let secret_keys: Vec<SecretKey> = (0..n).map(|i| secret_key(params.seed, i)).collect();
    let nodes: Vec<NodeId> = secret_keys
        .iter()
        .map(|k| NodeId::from_pubkey(&PublicKey::from_secret_key(SECP256K1, k)))
        .collect();
    // One entry per channel end: a uniform pick from it is a pick by degree.
    let mut ends: Vec<u32> = Vec::with_capacity(params.channels * 2);
    let mut degree = vec![0u32; n];
    let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(params.channels);
    pairs.push((0, 1));
    ends.extend([0, 1]);
    degree[0] = 1;
    degree[1] = 1;
    // Each joining node's channel count: a heavy-tailed draw, scaled (by
    // bisection) so that the counts add up to about the target.
    let draws: Vec<f64> = (2..n)
        .map(|_| channel_count_draw(&mut rng) as f64)
        .collect();
    let total_for = |scale: f64| -> usize {
        draws
            .iter()
            .map(|d| ((d * scale).round() as usize).max(1))
            .sum()
    };
    let (mut lo, mut hi) = (0.0f64, 64.0f64);
    for _ in 0..40 {
        let mid = (lo + hi) / 2.0;
        if total_for(mid) + 1 > params.channels {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    for i in 2..n {
        let want = ((draws[i - 2] * lo).round() as usize).max(1);
        for _ in 0..want {
            if pairs.len() >= params.channels {
                break;
            }
            let peer = if rng.unit() < 0.8 {
                ends[rng.below(ends.len() as u64) as usize]
            } else {
                rng.below(i as u64) as u32
            };
            if peer as usize == i {
                continue;
            }
            pairs.push((i as u32, peer));
            ends.extend([i as u32, peer]);
            degree[i] += 1;
            degree[peer as usize] += 1;
        }
        if pairs.len() >= params.channels && degree[i] == 0 {
            // Every node gets at least one channel.
            let peer = ends[rng.below(ends.len() as u64) as usize];
            pairs.push((i as u32, peer));
            ends.extend([i as u32, peer]);
            degree[i] += 1;
            degree[peer as usize] += 1;
        }
    }
    // Top up to the channel target between existing nodes, by degree.
    while pairs.len() < params.channels {
        let a = ends[rng.below(ends.len() as u64) as usize];
        let b = rng.below(n as u64) as u32;
        if a == b {
            continue;
        }
        pairs.push((a, b));
        ends.extend([a, b]);
        degree[a as usize] += 1;
        degree[b as usize] += 1;
    }
    let mut channels = Vec::with_capacity(pairs.len());
    let mut liquidity = HiddenLiquidity::default();
    for (ci, &(a, b)) in pairs.iter().enumerate() {
        // Block heights from 500,000 up, a few channels per block.
        let scid = ShortChannelId::new(500_000 + (ci / 7) as u32, (ci % 7) as u32 * 13 + 1, 0)
            .ok_or(GraphError::TooLarge)?;
        let hubness = f64::from(degree[a as usize].min(degree[b as usize])).ln_1p();
        let log_sat = (2_000_000f64).ln() + 0.35 * (hubness - 1.0) + 1.3 * rng.normal();
        let sat = log_sat.exp().clamp(20_000.0, 500_000_000.0) as u64;
        let capacity = Msat(sat * 1000);
        let a_to_b = policy(&mut rng, capacity);
        let b_to_a = policy(&mut rng, capacity);
        let node_a = nodes[a as usize];
        let node_b = nodes[b as usize];
        let u = rng.unit();
        let frac = if rng.unit() < 0.5 {
            u
        } else if rng.unit() < 0.5 {
            u * u * u
        } else {
            1.0 - u * u * u
        };
        let a_side = Msat((capacity.0 as f64 * frac) as u64);
        let b_side = capacity.saturating_sub(a_side);
        let a_dir = if node_a < node_b {
            Direction::FromNode1
        } else {
            Direction::FromNode2
        };
        liquidity.set(scid, a_dir, a_side);
        liquidity.set(scid, a_dir.reversed(), b_side);
        channels.push(ChannelSpec {
            scid,
            node_a,
            node_b,
            capacity: Some(capacity),
            a_to_b,
            b_to_a,
        });
    }
    let graph = CompactGraph::build(channels.iter().cloned())?;
    Ok(SyntheticNetwork {
        channels,
        graph,
        nodes,
        secret_keys,
        liquidity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::RoutingGraph;

    #[test]
    fn generation_is_deterministic_and_skewed() {
        let p = SyntheticParams {
            nodes: 1500,
            channels: 5000,
            seed: 7,
        };
        let a = generate(p).unwrap();
        let b = generate(p).unwrap();
        assert_eq!(a.nodes, b.nodes);
        assert_eq!(a.channels.len(), 5000);
        assert_eq!(a.graph.node_count(), 1500);
        for (x, y) in a.channels.iter().zip(&b.channels) {
            assert_eq!(
                (x.scid, x.capacity, x.a_to_b),
                (y.scid, y.capacity, y.a_to_b)
            );
        }
        let mut degrees: Vec<usize> = (0..a.graph.node_count() as u32)
            .map(|i| a.graph.adjacent(crate::graph::NodeIndex(i)).count())
            .collect();
        degrees.sort_unstable();
        let median = degrees[degrees.len() / 2];
        let max = degrees[degrees.len() - 1];
        assert!(median <= 4, "median degree {median}");
        assert!(max >= 100, "max degree {max}");
        // Hidden liquidity adds up to the capacity.
        let c = &a.channels[10];
        let total = a.liquidity.available(c.scid, Direction::FromNode1).0
            + a.liquidity.available(c.scid, Direction::FromNode2).0;
        assert_eq!(Some(Msat(total)), c.capacity);
    }

    #[test]
    fn lock_release_settle() {
        let mut l = HiddenLiquidity::default();
        let s = ShortChannelId(1);
        l.set(s, Direction::FromNode1, Msat(10));
        l.set(ShortChannelId(2), Direction::FromNode1, Msat(3));
        let hops = [
            SimHop {
                scid: s,
                direction: Direction::FromNode1,
                amount: Msat(5),
            },
            SimHop {
                scid: ShortChannelId(2),
                direction: Direction::FromNode1,
                amount: Msat(4),
            },
        ];
        assert_eq!(l.lock(&hops), Err(1));
        assert_eq!(l.available(s, Direction::FromNode1), Msat(10));
        assert_eq!(l.lock(&hops[..1]), Ok(()));
        l.settle(&hops[..1]);
        assert_eq!(l.available(s, Direction::FromNode1), Msat(5));
        assert_eq!(l.available(s, Direction::FromNode2), Msat(5));
    }
}
