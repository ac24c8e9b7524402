//! A deterministic synthetic network of correctly signed gossip, for tests,
//! fuzzing and benches.
//!
//! Every key derives from the seed (`SHA-256(seed || label || index)`), and
//! all randomness comes from one seeded SplitMix64, so a seed names one
//! network exactly. Shape: preferential attachment (an endpoint is chosen
//! in proportion to its degree plus one), which gives a heavy-tailed degree
//! distribution with a few large hubs as on the public network; capacities
//! log-uniform from 20,000 sat to 1 BTC with a tail to 5 BTC; fees mostly
//! `fee_base_msat` 0 or 1000 and a heavy-tailed proportional fee; update
//! timestamps within the last 13 days. Funding outputs are in a simulated
//! UTXO set ([`SyntheticUtxos`]). Randomness is [`crate::rng`].

use std::collections::{HashMap, HashSet};

use bitcoin::hashes::{sha256, sha256d, Hash};
use bitcoin::secp256k1::ecdsa::Signature;
use bitcoin::secp256k1::{self, PublicKey, SecretKey, SECP256K1};
use bitcoin::{Amount, OutPoint, TxOut, Txid};
use lightning_gossip::verify;
use lightning_gossip::{UtxoAnswer, UtxoLookup};
use lightning_wire::features::{ChannelFeatures, NodeFeatures};
use lightning_wire::msgs::{
    ChannelAnnouncement, ChannelUpdate, ExtensionTlvs, NodeAddress, NodeAddresses, NodeAnnouncement,
};
use lightning_wire::types::{ChainHash, ShortChannelId};

use crate::rng::Rng;

/// The clock of every generated network (UNIX seconds, mid 2025).
pub const SYNTHETIC_NOW: u64 = 1_750_000_000;

/// Uniform in `[0, 1)`.
fn unit(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// The size of a network to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticConfig {
    /// Nodes.
    pub nodes: usize,
    /// Channels.
    pub channels: usize,
}

impl SyntheticConfig {
    /// About the public network's size: 15,000 nodes, 50,000 channels.
    pub fn mainnet() -> Self {
        SyntheticConfig {
            nodes: 15_000,
            channels: 50_000,
        }
    }

    /// A small network.
    pub fn small(nodes: usize, channels: usize) -> Self {
        SyntheticConfig { nodes, channels }
    }
}

/// The simulated UTXO set: every funding output by `short_channel_id`.
#[derive(Debug, Clone, Default)]
pub struct SyntheticUtxos {
    /// Unspent outputs.
    pub outputs: HashMap<u64, TxOut>,
    /// Spent outputs.
    pub spent: HashSet<u64>,
}

impl SyntheticUtxos {
    /// The funding transaction id of `scid` in this simulated chain: the
    /// SHA-256d of `"synthetic funding"` and the `short_channel_id`, so a
    /// test can build the input that spends it.
    pub fn funding_txid(scid: ShortChannelId) -> Txid {
        let mut data = b"synthetic funding".to_vec();
        data.extend_from_slice(&scid.0.to_be_bytes());
        Txid::from_byte_array(sha256d::Hash::hash(&data).to_byte_array())
    }

    /// The funding outpoint of `scid` ([`Self::funding_txid`], the
    /// `short_channel_id`'s output index).
    pub fn funding_outpoint(&self, scid: ShortChannelId) -> OutPoint {
        OutPoint::new(Self::funding_txid(scid), u32::from(scid.output_index()))
    }
}

impl UtxoLookup for SyntheticUtxos {
    fn lookup(&self, _chain: &ChainHash, scid: ShortChannelId) -> UtxoAnswer {
        if self.spent.contains(&scid.0) {
            return UtxoAnswer::Spent;
        }
        match self.outputs.get(&scid.0) {
            Some(out) => UtxoAnswer::Unspent {
                txid: Self::funding_txid(scid),
                output: out.clone(),
            },
            None => UtxoAnswer::NotFound,
        }
    }
}

/// A generated network.
#[derive(Debug, Clone)]
pub struct SyntheticNetwork {
    /// Bitcoin mainnet.
    pub chain_hash: ChainHash,
    /// The clock the timestamps are relative to.
    pub now: u64,
    /// Node secrets, by node number.
    pub node_secrets: Vec<SecretKey>,
    /// Funding secrets (`bitcoin_key_1`, `bitcoin_key_2`) per channel, in
    /// the order of `channel_announcements`.
    pub funding_secrets: Vec<[SecretKey; 2]>,
    /// One per channel, in ascending `short_channel_id` order.
    pub channel_announcements: Vec<ChannelAnnouncement>,
    /// Two per channel (direction 0 then 1), in channel order.
    pub channel_updates: Vec<ChannelUpdate>,
    /// One per node that has a channel.
    pub node_announcements: Vec<NodeAnnouncement>,
    /// The funding outputs.
    pub utxos: SyntheticUtxos,
}

/// A secret key derived from `seed`, a label and an index.
pub fn derive_secret(seed: u64, label: &str, index: u64) -> SecretKey {
    let mut ctr = 0u32;
    loop {
        let mut data = Vec::with_capacity(32);
        data.extend_from_slice(&seed.to_be_bytes());
        data.extend_from_slice(label.as_bytes());
        data.extend_from_slice(&index.to_be_bytes());
        data.extend_from_slice(&ctr.to_be_bytes());
        let h = sha256::Hash::hash(&data).to_byte_array();
        if let Ok(sk) = SecretKey::from_slice(&h) {
            return sk;
        }
        ctr += 1;
    }
}

fn sign(digest: &secp256k1::Message, sk: &SecretKey) -> Signature {
    SECP256K1.sign_ecdsa(digest, sk)
}

/// Signs `msg` in place with the four secrets (`node_1`, `node_2`,
/// `bitcoin_1`, `bitcoin_2`).
pub fn sign_channel_announcement(msg: &mut ChannelAnnouncement, secrets: [&SecretKey; 4]) {
    let Ok(d) = verify::channel_announcement_digest(msg) else {
        return;
    };
    msg.node_signature_1 = sign(&d, secrets[0]);
    msg.node_signature_2 = sign(&d, secrets[1]);
    msg.bitcoin_signature_1 = sign(&d, secrets[2]);
    msg.bitcoin_signature_2 = sign(&d, secrets[3]);
}

/// Signs a `channel_update` in place.
pub fn sign_channel_update(msg: &mut ChannelUpdate, sk: &SecretKey) {
    if let Ok(d) = verify::channel_update_digest(msg) {
        msg.signature = sign(&d, sk);
    }
}

/// Signs a `node_announcement` in place.
pub fn sign_node_announcement(msg: &mut NodeAnnouncement, sk: &SecretKey) {
    if let Ok(d) = verify::node_announcement_digest(msg) {
        msg.signature = sign(&d, sk);
    }
}

fn placeholder_sig() -> Signature {
    // Replaced when the message is signed.
    sign(
        &secp256k1::Message::from_digest([1; 32]),
        &derive_secret(0, "placeholder", 0),
    )
}

/// A `channel_update` with the given policy fields, unsigned.
#[allow(clippy::too_many_arguments)]
pub fn unsigned_update(
    chain_hash: ChainHash,
    scid: ShortChannelId,
    dir: u8,
    timestamp: u32,
    disabled: bool,
    cltv_expiry_delta: u16,
    htlc_minimum_msat: u64,
    htlc_maximum_msat: u64,
    fee_base_msat: u32,
    fee_proportional_millionths: u32,
) -> ChannelUpdate {
    ChannelUpdate {
        signature: placeholder_sig(),
        chain_hash,
        short_channel_id: scid,
        timestamp,
        message_flags: 1,
        channel_flags: (dir & 1) | if disabled { 2 } else { 0 },
        cltv_expiry_delta,
        htlc_minimum_msat,
        fee_base_msat,
        fee_proportional_millionths,
        htlc_maximum_msat,
        tlvs: ExtensionTlvs::default(),
    }
}

/// A `channel_announcement` of the given keys, unsigned; node keys are put
/// in spec order (the funding keys follow their nodes).
pub fn unsigned_announcement(
    chain_hash: ChainHash,
    scid: ShortChannelId,
    nodes: [PublicKey; 2],
    funding: [PublicKey; 2],
) -> ChannelAnnouncement {
    let s = placeholder_sig();
    ChannelAnnouncement {
        node_signature_1: s,
        node_signature_2: s,
        bitcoin_signature_1: s,
        bitcoin_signature_2: s,
        features: ChannelFeatures::empty(),
        chain_hash,
        short_channel_id: scid,
        node_id_1: nodes[0],
        node_id_2: nodes[1],
        bitcoin_key_1: funding[0],
        bitcoin_key_2: funding[1],
        tlvs: ExtensionTlvs::default(),
    }
}

/// The generator.
#[derive(Debug, Clone)]
pub struct Generator {
    seed: u64,
    config: SyntheticConfig,
}

impl Generator {
    /// A generator for `config` from `seed`.
    pub fn new(seed: u64, config: SyntheticConfig) -> Self {
        Generator { seed, config }
    }

    /// Generates the network.
    ///
    /// ```
    /// use lightning_test_support::gossip::{Generator, SyntheticConfig};
    /// let a = Generator::new(3, SyntheticConfig::small(10, 12)).generate();
    /// let b = Generator::new(3, SyntheticConfig::small(10, 12)).generate();
    /// assert_eq!(a.channel_announcements, b.channel_announcements);
    /// assert_eq!(a.channel_updates.len(), 2 * a.channel_announcements.len());
    /// ```
    pub fn generate(&self) -> SyntheticNetwork {
        let seed = self.seed;
        let n = self.config.nodes.max(2);
        let mut rng = Rng::new(seed);
        let chain_hash = ChainHash::for_network(bitcoin::Network::Bitcoin);
        let now = SYNTHETIC_NOW;
        let node_secrets: Vec<SecretKey> = (0..n)
            .map(|i| derive_secret(seed, "node", i as u64))
            .collect();
        let node_keys: Vec<PublicKey> = node_secrets
            .iter()
            .map(|s| PublicKey::from_secret_key(SECP256K1, s))
            .collect();
        // Preferential attachment: `ends` holds each node once plus once
        // per channel end, so a draw is proportional to degree + 1.
        let mut ends: Vec<u32> = (0..n as u32).collect();
        let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(self.config.channels);
        let mut seen: HashSet<(u32, u32)> = HashSet::new();
        let mut attempts = 0usize;
        while pairs.len() < self.config.channels && attempts < self.config.channels * 20 + 100 {
            attempts += 1;
            let a = ends[rng.below(ends.len() as u64) as usize];
            // One end preferential, the other uniform half the time: keeps
            // the hubs large without making every channel touch one.
            let b = if rng.below(2) == 0 {
                ends[rng.below(ends.len() as u64) as usize]
            } else {
                rng.below(n as u64) as u32
            };
            if a == b {
                continue;
            }
            let key = (a.min(b), a.max(b));
            if !seen.insert(key) && rng.below(8) != 0 {
                // Parallel channels exist, but rarely.
                continue;
            }
            pairs.push((a, b));
            ends.push(a);
            ends.push(b);
        }
        // Short channel ids: ascending blocks over the history.
        let count = pairs.len().max(1) as u64;
        let mut scids: Vec<ShortChannelId> = Vec::with_capacity(pairs.len());
        for i in 0..pairs.len() as u64 {
            let block = 500_000 + (i * 400_000 / count) as u32;
            let tx = rng.below(3_000) as u32;
            let out = rng.below(2) as u16;
            scids.push(ShortChannelId::new(block, tx, out).unwrap_or(ShortChannelId(i)));
        }
        scids.sort();
        scids.dedup();

        let mut net = SyntheticNetwork {
            chain_hash,
            now,
            node_secrets: node_secrets.clone(),
            funding_secrets: Vec::new(),
            channel_announcements: Vec::new(),
            channel_updates: Vec::new(),
            node_announcements: Vec::new(),
            utxos: SyntheticUtxos::default(),
        };
        let mut has_channel = vec![false; n];
        for (i, scid) in scids.iter().enumerate() {
            let (a, b) = pairs[i];
            let (a, b) = if node_keys[a as usize].serialize() < node_keys[b as usize].serialize() {
                (a as usize, b as usize)
            } else {
                (b as usize, a as usize)
            };
            has_channel[a] = true;
            has_channel[b] = true;
            let f1 = derive_secret(seed, "funding", 2 * i as u64);
            let f2 = derive_secret(seed, "funding", 2 * i as u64 + 1);
            let fk = [
                PublicKey::from_secret_key(SECP256K1, &f1),
                PublicKey::from_secret_key(SECP256K1, &f2),
            ];
            let mut ann =
                unsigned_announcement(chain_hash, *scid, [node_keys[a], node_keys[b]], fk);
            sign_channel_announcement(&mut ann, [&node_secrets[a], &node_secrets[b], &f1, &f2]);
            // Capacity: log-uniform 20k..1e8 sat, 3% up to 5e8.
            let hi = if rng.below(100) < 3 { 5e8 } else { 1e8 };
            let cap = (20_000f64 * (hi / 20_000f64).powf(unit(&mut rng))) as u64;
            net.utxos.outputs.insert(
                scid.0,
                TxOut {
                    value: Amount::from_sat(cap),
                    script_pubkey: verify::funding_script_pubkey(&fk[0], &fk[1]),
                },
            );
            for (dir, sk) in [(0u8, &node_secrets[a]), (1u8, &node_secrets[b])] {
                let ts = (now - rng.below(13 * 86_400)) as u32;
                let base = match rng.below(10) {
                    0..=4 => 1_000,
                    5..=7 => 0,
                    _ => rng.below(5_000) as u32,
                };
                let prop = (1.0f64 / (1.0 - unit(&mut rng) * 0.999)).powf(1.5) as u32;
                let cltv = [40u16, 80, 144, 34, 18][rng.below(5) as usize];
                let disabled = rng.below(20) == 0;
                let mut upd = unsigned_update(
                    chain_hash,
                    *scid,
                    dir,
                    ts,
                    disabled,
                    cltv,
                    1_000,
                    cap * 990,
                    base,
                    prop,
                );
                sign_channel_update(&mut upd, sk);
                net.channel_updates.push(upd);
            }
            net.channel_announcements.push(ann);
            net.funding_secrets.push([f1, f2]);
        }
        for (i, sk) in node_secrets.iter().enumerate() {
            if !has_channel[i] {
                continue;
            }
            let mut alias = [0u8; 32];
            let name = format!("synthetic-{i}");
            alias[..name.len()].copy_from_slice(name.as_bytes());
            let mut addresses = vec![NodeAddress::Ipv4 {
                addr: std::net::Ipv4Addr::from(0x0a00_0000u32 + i as u32),
                port: 9735,
            }];
            if i % 7 == 0 {
                addresses.push(NodeAddress::Dns {
                    hostname: format!("n{i}.example.com"),
                    port: 9735,
                });
            }
            let mut features = NodeFeatures::empty();
            features.set_bit(7); // gossip_queries, optional
            let mut na = NodeAnnouncement {
                signature: placeholder_sig(),
                features,
                timestamp: (now - rng.below(13 * 86_400)) as u32,
                node_id: node_keys[i],
                rgb_color: [(i % 256) as u8, 0x80, 0x20],
                alias,
                addresses: NodeAddresses {
                    addresses,
                    unparsed: Vec::new(),
                },
                tlvs: ExtensionTlvs::default(),
            };
            sign_node_announcement(&mut na, sk);
            net.node_announcements.push(na);
        }
        net
    }
}
