//! The public Lightning network graph and gossip sync (BOLT 7), with no IO.
//!
//! - [`NetworkGraph`] (`graph`): validated ingestion of
//!   `channel_announcement`, `channel_update` and `node_announcement`;
//!   funding checks through the host's [`UtxoLookup`] (`utxo`); pruning of
//!   stale channels, and of closed ones 12 blocks after their funding
//!   spend, found from a block's inputs through a compact funding outpoint
//!   index (`funding`, [`NetworkGraph::spent_input`]); zombies and the
//!   blacklist.
//! - [`GraphStore`] (`store`): the compact storage and the read API a
//!   router walks (dense [`NodeIdx`] / [`ChannelIdx`] indices).
//! - [`snapshot`]: the graph's persistence through `KvStore`.
//! - [`sync`]: the per-peer gossip sync state machine (queries, replies,
//!   filters, relay), sans-IO.
//!
//! The seeded generator of signed gossip that the tests, fuzz targets and
//! benches use is `lightning_test_support::gossip` (not published).
//!
//! Time is passed in as UNIX seconds (`now`); nothing here reads a clock,
//! opens a socket or draws randomness.
#![forbid(unsafe_code)]

pub mod checksum;
pub mod error;
pub(crate) mod funding;
pub mod graph;
pub mod snapshot;
pub mod store;
pub mod sync;
pub mod utxo;
pub mod verify;

pub use error::GossipError;
pub use graph::{
    AnnouncementOutcome, GraphConfig, NetworkGraph, NewFunding, NodeOutcome, UpdateOutcome,
    CLOSE_DELAY_BLOCKS, STALE_AFTER_SECS,
};
pub use store::{ChannelIdx, ChannelInfo, DirectionPolicy, GraphStore, NodeIdx, NodeInfo};
pub use utxo::{UtxoAnswer, UtxoLookup};
