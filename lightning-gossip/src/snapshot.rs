//! The graph's snapshot: one record, written and read through `KvStore`
//! (namespace [`NAMESPACE`], key [`KEY`]), so a restart needs no full
//! resync.
//!
//! Format 2 (big-endian; format 1 is the same without the funding
//! section, and is still read):
//!
//! ```text
//! "LNGG" | version u8 = 2 | chain_hash [32]
//! | u32 nodes   | nodes × (node_id [33] | u16 len | node_announcement or empty)
//! | u32 channels| channels × (scid u64 | node u32 | node u32 | capacity u64
//!                 | added u32 | flags u8 | 4 × sig [64] | 2 × key [33]
//!                 | 2 × (u8 present | [timestamp u32 | message_flags u8
//!                   | channel_flags u8 | cltv u16 | htlc_min u64 | htlc_max u64
//!                   | fee_base u32 | fee_prop u32 | sig [64]])
//!                 | 4 × (u16 len | bytes): features, announcement TLVs,
//!                   update TLVs of each direction)
//! | u32 zombies | zombies × (scid u64 | 2 × node_id [33])
//! | u32 blacklisted | × node_id [33]
//! | u32 spent   | × (scid u64 | height u32)
//! | u32 funding | × (key u64 | scid u64), ascending: the funding outpoint
//!                 index (key: the funding txid's first 8 bytes XOR the
//!                 output index)
//! | CRC32C of everything before, u32
//! ```
//!
//! Nodes are referred to by their position in the node table; node ids are
//! parsed once each. Signatures are not checked again on load (the
//! snapshot is our own record, and the CRC catches damage); everything
//! else is: a damaged or hostile snapshot is a [`SnapshotError`], never a
//! panic or an inconsistent graph.

use std::collections::HashSet;

use lightning_persist::{KvStore, PersistError};
use lightning_wire::codec::{Decode, Encode, Reader};
use lightning_wire::msgs::NodeAnnouncement;
use lightning_wire::types::ShortChannelId;
use secp256k1::PublicKey;

use crate::checksum::crc32c;
use crate::graph::{GraphConfig, NetworkGraph, Zombie};
use crate::store::{
    ChannelIdx, ChannelInfo, ChannelProof, DirectionPolicy, NodeIdx, FLAG_CLOSED,
    FLAG_UNKNOWN_REQUIRED_FEATURES,
};

/// The `KvStore` namespace of the graph.
pub const NAMESPACE: &str = "gossip";
/// The `KvStore` key of the graph snapshot.
pub const KEY: &str = "graph";

const MAGIC: &[u8; 4] = b"LNGG";
const VERSION: u8 = 2;
/// Format 1: no funding outpoint index.
const VERSION_1: u8 = 1;

/// Why a snapshot could not be read or stored.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Not a graph snapshot.
    #[error("not a graph snapshot")]
    BadMagic,
    /// A format this code does not read.
    #[error("snapshot format {0} is not supported")]
    UnsupportedVersion(u8),
    /// The snapshot is of another chain.
    #[error("snapshot is of another chain")]
    WrongChain,
    /// The CRC does not match: damaged.
    #[error("snapshot checksum mismatch")]
    Checksum,
    /// Cut short or malformed.
    #[error("malformed snapshot: {0}")]
    Malformed(String),
    /// Well-formed but inconsistent (an index out of range, a duplicate).
    #[error("inconsistent snapshot: {0}")]
    Invalid(&'static str),
    /// The store failed.
    #[error("store: {0}")]
    Persist(#[from] PersistError),
}

impl From<lightning_wire::DecodeError> for SnapshotError {
    fn from(e: lightning_wire::DecodeError) -> Self {
        SnapshotError::Malformed(e.to_string())
    }
}

fn put_bytes16(out: &mut Vec<u8>, b: &[u8]) {
    let n = u16::try_from(b.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(&b[..usize::from(n)]);
}

fn put_u32(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&u32::try_from(v).unwrap_or(u32::MAX).to_be_bytes());
}

/// Encodes the graph.
///
/// ```
/// use lightning_test_support::gossip::{Generator, SyntheticConfig};
/// use lightning_gossip::{snapshot, GraphConfig, NetworkGraph};
///
/// let net = Generator::new(2, SyntheticConfig::small(8, 10)).generate();
/// let mut graph = NetworkGraph::new(GraphConfig::new(net.chain_hash));
/// for ann in &net.channel_announcements {
///     graph.handle_channel_announcement(ann, Some(&net.utxos), net.now).unwrap();
/// }
/// let bytes = snapshot::encode(&graph);
/// let back = snapshot::decode(&bytes, GraphConfig::new(net.chain_hash)).unwrap();
/// assert_eq!(snapshot::encode(&back), bytes);
/// ```
pub fn encode(graph: &NetworkGraph) -> Vec<u8> {
    let store = graph.store();
    let mut out = Vec::with_capacity(64 + store.channel_count() * 560);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&graph.config().chain_hash.0);
    // Node table, in index order; positions are renumbered densely.
    let mut position = vec![u32::MAX; store.node_slots()];
    let nodes: Vec<_> = store.nodes().collect();
    put_u32(&mut out, nodes.len());
    for (pos, (idx, node)) in nodes.iter().enumerate() {
        position[idx.0 as usize] = pos as u32;
        out.extend_from_slice(&node.node_id().serialize());
        match node.announcement() {
            Some(a) => put_bytes16(&mut out, &a.to_bytes()),
            None => put_bytes16(&mut out, &[]),
        }
    }
    let chans: Vec<_> = store.channels().collect();
    put_u32(&mut out, chans.len());
    for (idx, c) in chans {
        let Some(proof) = store.proof(idx) else {
            continue;
        };
        out.extend_from_slice(&c.scid().0.to_be_bytes());
        out.extend_from_slice(&position[c.node_one().0 as usize].to_be_bytes());
        out.extend_from_slice(&position[c.node_two().0 as usize].to_be_bytes());
        out.extend_from_slice(&c.capacity_sat().unwrap_or(u64::MAX).to_be_bytes());
        out.extend_from_slice(&c.added.to_be_bytes());
        out.push(c.flags & (FLAG_UNKNOWN_REQUIRED_FEATURES | FLAG_CLOSED));
        for s in &proof.sigs {
            out.extend_from_slice(s);
        }
        for k in &proof.bitcoin_keys {
            out.extend_from_slice(k);
        }
        for dir in 0..2usize {
            let p = &c.dirs[dir];
            if p.timestamp == 0 {
                out.push(0);
                continue;
            }
            out.push(1);
            p.timestamp.encode(&mut out);
            out.push(p.message_flags);
            out.push(p.channel_flags);
            p.cltv_expiry_delta.encode(&mut out);
            p.htlc_minimum_msat.encode(&mut out);
            p.htlc_maximum_msat.encode(&mut out);
            p.fee_base_msat.encode(&mut out);
            p.fee_proportional_millionths.encode(&mut out);
            out.extend_from_slice(&proof.update_sigs[dir]);
        }
        for kind in 0..4u8 {
            put_bytes16(&mut out, store.extra(idx, kind));
        }
    }
    let mut zombies: Vec<_> = graph.zombies().collect();
    zombies.sort_by_key(|(s, _)| *s);
    put_u32(&mut out, zombies.len());
    for (scid, z) in zombies {
        out.extend_from_slice(&scid.to_be_bytes());
        out.extend_from_slice(&z.node_ids[0]);
        out.extend_from_slice(&z.node_ids[1]);
    }
    let mut black: Vec<_> = graph.blacklist_iter().collect();
    black.sort();
    put_u32(&mut out, black.len());
    for id in black {
        out.extend_from_slice(id);
    }
    let spent = graph.spent_entries();
    put_u32(&mut out, spent.len());
    for (scid, h) in spent {
        out.extend_from_slice(&scid.0.to_be_bytes());
        out.extend_from_slice(&h.to_be_bytes());
    }
    let funding = graph.funding_entries();
    put_u32(&mut out, funding.len());
    for (key, scid) in funding {
        out.extend_from_slice(&key.to_be_bytes());
        out.extend_from_slice(&scid.to_be_bytes());
    }
    let crc = crc32c(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

fn count(r: &mut Reader<'_>, min_item: usize) -> Result<usize, SnapshotError> {
    let n = r.read::<u32>()? as usize;
    // No allocation or loop from an untrusted count beyond what the bytes
    // can hold.
    if n.saturating_mul(min_item) > r.remaining() {
        return Err(SnapshotError::Malformed("count exceeds the data".into()));
    }
    Ok(n)
}

fn key(bytes: [u8; 33]) -> Result<PublicKey, SnapshotError> {
    PublicKey::from_slice(&bytes).map_err(|_| SnapshotError::Invalid("invalid public key"))
}

/// Decodes a snapshot into a graph with `config` (whose `chain_hash` must
/// match). Never panics.
pub fn decode(bytes: &[u8], config: GraphConfig) -> Result<NetworkGraph, SnapshotError> {
    if bytes.len() < 4 + 1 + 32 + 4 || &bytes[..4] != MAGIC {
        return Err(SnapshotError::BadMagic);
    }
    let version = bytes[4];
    if version != VERSION && version != VERSION_1 {
        return Err(SnapshotError::UnsupportedVersion(version));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32c(body).to_be_bytes() != crc {
        return Err(SnapshotError::Checksum);
    }
    let mut r = Reader::new(&body[5..]);
    let chain: [u8; 32] = r.read_array()?;
    if chain != config.chain_hash.0 {
        return Err(SnapshotError::WrongChain);
    }
    let mut graph = NetworkGraph::new(config);
    let n_nodes = count(&mut r, 35)?;
    if n_nodes > graph.config().max_nodes {
        return Err(SnapshotError::Invalid("more nodes than the graph's cap"));
    }
    let mut table: Vec<(PublicKey, Option<NodeAnnouncement>)> = Vec::with_capacity(n_nodes);
    let mut seen_nodes = HashSet::with_capacity(n_nodes);
    for _ in 0..n_nodes {
        let id: [u8; 33] = r.read_array()?;
        if !seen_nodes.insert(id) {
            return Err(SnapshotError::Invalid("duplicate node"));
        }
        let ann = r.read_u16_prefixed()?;
        // A node's key is parsed once (a point decompression, most of a
        // load's time): from its announcement when it has one, which must
        // name the same bytes.
        let (pk, ann) = if ann.is_empty() {
            (key(id)?, None)
        } else {
            let a = NodeAnnouncement::from_bytes(ann)?;
            if a.node_id.serialize() != id {
                return Err(SnapshotError::Invalid("node announcement of another node"));
            }
            (a.node_id, Some(a))
        };
        table.push((pk, ann));
    }
    let n_chans = count(&mut r, 8 + 4 + 4 + 8 + 4 + 1 + 256 + 66 + 2 + 8)?;
    if n_chans > graph.config().max_channels {
        return Err(SnapshotError::Invalid("more channels than the graph's cap"));
    }
    let mut seen_scids = HashSet::with_capacity(n_chans);
    graph.store_mut().reserve(n_nodes, n_chans);
    // Nodes get the indices of their table positions.
    let idx_of: Vec<NodeIdx> = table
        .iter()
        .map(|(pk, _)| graph.store_mut().get_or_add_node(pk))
        .collect();
    for _ in 0..n_chans {
        let scid: u64 = r.read()?;
        if !seen_scids.insert(scid) {
            return Err(SnapshotError::Invalid("duplicate short_channel_id"));
        }
        let a = r.read::<u32>()? as usize;
        let b = r.read::<u32>()? as usize;
        if a >= n_nodes || b >= n_nodes || a == b {
            return Err(SnapshotError::Invalid("channel end out of range"));
        }
        if table[a].0.serialize() >= table[b].0.serialize() {
            return Err(SnapshotError::Invalid("channel ends out of order"));
        }
        let capacity: u64 = r.read()?;
        let added: u32 = r.read()?;
        let flags: u8 = r.read()?;
        let mut proof = ChannelProof::default();
        for s in &mut proof.sigs {
            *s = r.read_array()?;
        }
        for k in &mut proof.bitcoin_keys {
            *k = r.read_array()?;
        }
        let mut dirs = [DirectionPolicy::default(); 2];
        for (dir, slot) in dirs.iter_mut().enumerate() {
            match r.read::<u8>()? {
                0 => {}
                1 => {
                    *slot = DirectionPolicy {
                        timestamp: r.read()?,
                        message_flags: r.read()?,
                        channel_flags: r.read()?,
                        cltv_expiry_delta: r.read()?,
                        htlc_minimum_msat: r.read()?,
                        htlc_maximum_msat: r.read()?,
                        fee_base_msat: r.read()?,
                        fee_proportional_millionths: r.read()?,
                    };
                    if slot.timestamp == 0 || usize::from(slot.channel_flags & 1) != dir {
                        return Err(SnapshotError::Invalid("bad direction policy"));
                    }
                    proof.update_sigs[dir] = r.read_array()?;
                }
                _ => return Err(SnapshotError::Invalid("bad presence byte")),
            }
        }
        let mut extras: [&[u8]; 4] = [&[]; 4];
        for e in &mut extras {
            *e = r.read_u16_prefixed()?;
        }
        let ends = [idx_of[a], idx_of[b]];
        let cap = (capacity != u64::MAX).then_some(capacity);
        let mut info = ChannelInfo::new(ShortChannelId(scid), ends[0], ends[1], cap, added);
        info.flags |= flags & (FLAG_UNKNOWN_REQUIRED_FEATURES | FLAG_CLOSED);
        info.dirs = dirs;
        let idx: ChannelIdx = graph.store_mut().add_channel(info, proof);
        for (kind, e) in extras.iter().enumerate() {
            graph.store_mut().set_extra(idx, kind as u8, e);
        }
    }
    for (pos, (_, ann)) in table.into_iter().enumerate() {
        let Some(node) = graph.store_mut().node_mut(idx_of[pos]) else {
            return Err(SnapshotError::Invalid("node missing"));
        };
        if node.channels.is_empty() {
            return Err(SnapshotError::Invalid("node without channels"));
        }
        if let Some(ann) = ann {
            node.announcement = Some(Box::new(ann));
        }
    }
    let n_z = count(&mut r, 8 + 66)?;
    for _ in 0..n_z {
        let scid: u64 = r.read()?;
        let node_ids = [r.read_array()?, r.read_array()?];
        graph.insert_zombie(scid, Zombie { node_ids });
    }
    let n_b = count(&mut r, 33)?;
    for _ in 0..n_b {
        graph.blacklist_insert(r.read_array()?);
    }
    let n_s = count(&mut r, 12)?;
    for _ in 0..n_s {
        let scid: u64 = r.read()?;
        let height: u32 = r.read()?;
        if graph.channel_by_scid(ShortChannelId(scid)).is_none() {
            return Err(SnapshotError::Invalid("spent entry of an unknown channel"));
        }
        graph.funding_spent(ShortChannelId(scid), height);
    }
    if version >= VERSION {
        let n_f = count(&mut r, 16)?;
        if n_f > n_chans.saturating_mul(2) {
            return Err(SnapshotError::Invalid("more funding entries than channels"));
        }
        let mut last: Option<(u64, u64)> = None;
        for _ in 0..n_f {
            let entry: (u64, u64) = (r.read()?, r.read()?);
            if last.is_some_and(|l| l >= entry) {
                return Err(SnapshotError::Invalid("funding entries out of order"));
            }
            last = Some(entry);
            let scid = ShortChannelId(entry.1);
            if graph.channel_by_scid(scid).is_none() {
                return Err(SnapshotError::Invalid(
                    "funding entry of an unknown channel",
                ));
            }
            graph.insert_funding_key(entry.0, entry.1);
        }
    }
    r.finish()?;
    graph.shrink_to_fit();
    Ok(graph)
}

/// Writes the graph's snapshot under [`NAMESPACE`]/[`KEY`] with
/// `version` (increasing per write, as `KvStore` requires).
///
/// ```
/// use lightning_test_support::gossip::{Generator, SyntheticConfig};
/// use lightning_gossip::{snapshot, GraphConfig, NetworkGraph};
/// use lightning_persist::MemoryStore;
///
/// let net = Generator::new(2, SyntheticConfig::small(8, 10)).generate();
/// let mut graph = NetworkGraph::new(GraphConfig::new(net.chain_hash));
/// for ann in &net.channel_announcements {
///     graph.handle_channel_announcement(ann, Some(&net.utxos), net.now).unwrap();
/// }
/// let store = MemoryStore::new();
/// snapshot::save(&graph, &store, 1).unwrap();
/// let back = snapshot::load(&store, GraphConfig::new(net.chain_hash)).unwrap().unwrap();
/// assert_eq!(back.channel_count(), graph.channel_count());
/// ```
pub fn save(graph: &NetworkGraph, store: &dyn KvStore, version: u64) -> Result<(), SnapshotError> {
    store.write(NAMESPACE, KEY, version, &encode(graph))?;
    Ok(())
}

/// Reads the graph saved by [`save`], if any.
pub fn load(
    store: &dyn KvStore,
    config: GraphConfig,
) -> Result<Option<NetworkGraph>, SnapshotError> {
    match store.read(NAMESPACE, KEY)? {
        Some(v) => decode(&v.value, config).map(Some),
        None => Ok(None),
    }
}
