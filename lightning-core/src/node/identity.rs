//! The store's identity record: which node and which chain a store belongs
//! to, written once by the first [`NodeBuilder::build`](super::NodeBuilder::build)
//! over the store and checked by every later one.
//!
//! Key `meta/identity`, a TLV stream like the other node records: type 0
//! the format version (u16, 1), type 2 the node id (33 bytes), type 4 the
//! chain hash (32 bytes, BOLT 0 `chain_hash`).
//!
//! Stores written before the record existed hold channels, invoices or
//! counters and no identity: the first build over one adopts it (writes
//! the record with its own node id and chain) and says so
//! ([`Node::store_adopted`](super::Node::store_adopted)), since it cannot
//! prove the store was its own.

use bitcoin::secp256k1::PublicKey;
use lightning_persist::KvStore;
use lightning_wire::codec::{Decode, DecodeError, Reader};
use lightning_wire::tlv::{TlvStreamReader, TlvStreamWriter};
use lightning_wire::types::ChainHash;

use super::NAMESPACE;

/// The key of the identity record.
pub(crate) const IDENTITY_KEY: &str = "meta/identity";

const FORMAT_VERSION: u16 = 1;
const T_VERSION: u64 = 0;
const T_NODE_ID: u64 = 2;
const T_CHAIN: u64 = 4;

/// Which node and chain a store belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    pub node_id: PublicKey,
    pub chain_hash: ChainHash,
}

impl Identity {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = TlvStreamWriter::new();
        w.put_raw(T_VERSION, &FORMAT_VERSION.to_be_bytes());
        w.put_raw(T_NODE_ID, &self.node_id.serialize());
        w.put_raw(T_CHAIN, &self.chain_hash.0);
        w.into_bytes()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Identity, DecodeError> {
        let mut reader = Reader::new(bytes);
        let mut r = TlvStreamReader::parse(&mut reader)?;
        let version = r
            .take_raw(T_VERSION)
            .ok_or_else(|| DecodeError::invalid("identity: version missing"))?;
        let version = u16::decode(&mut Reader::new(version))?;
        if version != FORMAT_VERSION {
            return Err(DecodeError::invalid(format!(
                "identity: unknown format version {version}"
            )));
        }
        let node_id = r
            .take_raw(T_NODE_ID)
            .ok_or_else(|| DecodeError::invalid("identity: node id missing"))?;
        let node_id = PublicKey::from_slice(node_id)
            .map_err(|_| DecodeError::invalid("identity: node id is not a point"))?;
        let chain = r
            .take_raw(T_CHAIN)
            .ok_or_else(|| DecodeError::invalid("identity: chain hash missing"))?;
        let chain_hash = ChainHash(
            chain
                .try_into()
                .map_err(|_| DecodeError::invalid("identity: chain hash not 32 bytes"))?,
        );
        r.finish()?;
        Ok(Identity {
            node_id,
            chain_hash,
        })
    }
}

/// What the store says about whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stored {
    /// The identity record, and its version.
    Identity(Identity, u64),
    /// No identity record; `legacy` when the store holds other records
    /// (written before identity records existed).
    Absent { legacy: bool },
}

/// Reads the identity record, or tells whether the store is empty.
pub(crate) fn read(store: &dyn KvStore) -> Result<Stored, String> {
    match store
        .read(NAMESPACE, IDENTITY_KEY)
        .map_err(|e| format!("{IDENTITY_KEY}: {e}"))?
    {
        Some(v) => {
            let id = Identity::decode(&v.value).map_err(|e| format!("{IDENTITY_KEY}: {e}"))?;
            Ok(Stored::Identity(id, v.version))
        }
        None => {
            let any = store
                .list_prefix(NAMESPACE, "")
                .map_err(|e| format!("listing the store: {e}"))?;
            Ok(Stored::Absent {
                legacy: !any.is_empty(),
            })
        }
    }
}
