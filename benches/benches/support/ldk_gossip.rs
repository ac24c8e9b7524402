//! LDK 0.2's `NetworkGraph` fed the synthetic network's signed gossip, the
//! comparison point of the gossip bench (memory, save and load).
//!
//! The messages are ours re-encoded and parsed by LDK, fed through
//! `update_channel_from_announcement` (funding checked by a `UtxoLookup`
//! answering from the same simulated UTXO set), `update_channel` and
//! `update_node_from_announcement`, as the differential test
//! (`benches/tests/gossip_ldk_differential.rs`) does. LDK checks update
//! timestamps against the system clock, so [`move_updates_to`] moves the
//! generated updates to now and signs them again before either graph sees
//! them.

use std::collections::HashMap;

use bitcoin::secp256k1::{PublicKey, SecretKey, SECP256K1};
use lightning::ln::msgs;
use lightning::routing::gossip::NetworkGraph;
use lightning::routing::utxo::{UtxoLookup, UtxoLookupError, UtxoResult};
use lightning::util::logger::{Logger, Record};
use lightning::util::ser::LengthReadable;
use lightning_gossip::{UtxoAnswer, UtxoLookup as _};
use lightning_test_support::gossip::{sign_channel_update, SyntheticNetwork, SyntheticUtxos};
use lightning_wire::codec::Encode;
use lightning_wire::types::{ChainHash, ShortChannelId};

/// A logger that drops everything.
pub struct NoLog;

impl Logger for NoLog {
    fn log(&self, _: Record) {}
}

pub static NO_LOG: NoLog = NoLog;

pub type Graph = NetworkGraph<&'static NoLog>;

/// LDK's lookup over the simulated UTXO set.
pub struct LdkUtxos(pub SyntheticUtxos);

impl UtxoLookup for LdkUtxos {
    fn get_utxo(&self, chain: &bitcoin::constants::ChainHash, scid: u64) -> UtxoResult {
        let chain = ChainHash(chain.to_bytes());
        match self.0.lookup(&chain, ShortChannelId(scid)) {
            UtxoAnswer::Unspent { output, .. } => UtxoResult::Sync(Ok(output)),
            _ => UtxoResult::Sync(Err(UtxoLookupError::UnknownTx)),
        }
    }
}

/// Moves every channel update's timestamp forward by `now - net.now`,
/// signs it again, and sets `net.now` to `now`.
pub fn move_updates_to(net: &mut SyntheticNetwork, now: u64) {
    let shift = u32::try_from(now.saturating_sub(net.now)).expect("shift fits");
    let secret: HashMap<PublicKey, SecretKey> = net
        .node_secrets
        .iter()
        .map(|sk| (sk.public_key(SECP256K1), *sk))
        .collect();
    for (i, u) in net.channel_updates.iter_mut().enumerate() {
        // Updates come in pairs after their announcement's position.
        let a = &net.channel_announcements[i / 2];
        let key = if u.channel_flags & 1 == 0 {
            a.node_id_1
        } else {
            a.node_id_2
        };
        u.timestamp += shift;
        sign_channel_update(u, &secret[&key]);
    }
    net.now = now;
}

fn parse<T: LengthReadable>(bytes: Vec<u8>) -> T {
    T::read_from_fixed_length_buffer(&mut &bytes[..]).expect("LDK parses our message")
}

/// The network's messages as LDK's types.
pub struct LdkMessages {
    pub anns: Vec<msgs::ChannelAnnouncement>,
    pub upds: Vec<msgs::ChannelUpdate>,
    pub nodes: Vec<msgs::NodeAnnouncement>,
}

impl LdkMessages {
    pub fn of(net: &SyntheticNetwork) -> Self {
        LdkMessages {
            anns: net
                .channel_announcements
                .iter()
                .map(|a| parse(a.to_bytes()))
                .collect(),
            upds: net
                .channel_updates
                .iter()
                .map(|u| parse(u.to_bytes()))
                .collect(),
            nodes: net
                .node_announcements
                .iter()
                .map(|n| parse(n.to_bytes()))
                .collect(),
        }
    }
}

/// Every message into `graph`, in the order ours takes them (all
/// announcements, all updates, all node announcements). Panics on a
/// refused message: every generated message is valid.
pub fn ingest(graph: &Graph, m: &LdkMessages, utxos: &Option<&LdkUtxos>) {
    for a in &m.anns {
        graph
            .update_channel_from_announcement(a, utxos)
            .expect("LDK takes the announcement");
    }
    for u in &m.upds {
        graph.update_channel(u).expect("LDK takes the update");
    }
    for n in &m.nodes {
        graph
            .update_node_from_announcement(n)
            .expect("LDK takes the node announcement");
    }
}

/// Channels, directions with a policy, nodes, and nodes with an
/// announcement, as LDK holds them.
pub fn counts(graph: &Graph) -> (usize, usize, usize, usize) {
    let ro = graph.read_only();
    let dirs = ro
        .channels()
        .unordered_iter()
        .map(|(_, c)| usize::from(c.one_to_two.is_some()) + usize::from(c.two_to_one.is_some()))
        .sum();
    let announced = ro
        .nodes()
        .unordered_iter()
        .filter(|(_, n)| n.announcement_info.is_some())
        .count();
    (ro.channels().len(), dirs, ro.nodes().len(), announced)
}
