//! The sans-IO Lightning node: peers, channels, invoices and payments over
//! one seed, one store and the host's chain.
//!
//! [`Node`] owns a [`PeerManager`] (BOLT 8 and BOLT 1), every
//! [`Channel`] (BOLT 2), the node's invoices and payments, and a
//! [`ConfirmationTracker`] for funding transactions. The host feeds it
//! socket bytes, time and blocks, and takes bytes, events, writes and
//! timer deadlines out. Nothing here reads a clock, opens a socket or
//! draws randomness of its own (the [`KeysManager`] derives entropy from
//! the seed, a persisted epoch and optional host randomness).
//!
//! A node is built with [`NodeBuilder`] (`Node::builder(network)`), from a
//! seed or from the host's own signers ([`NodeSigner`], [`EntropySource`],
//! [`ChannelSignerProvider`]): the node reaches its keys only through those
//! traits, so they can live in another process or an HSM. The builder
//! restores the node from its store when the store holds one, and refuses
//! a store of another node or network.
//!
//! # A minimal host loop
//!
//! ```no_run
//! # use std::{io::{Read, Write}, net::TcpStream, sync::Arc, time::{Duration, SystemTime, UNIX_EPOCH}};
//! # use lightning_core::node::*;
//! # fn host(mut node: Node, mut socket: TcpStream, their_id: bitcoin::secp256k1::PublicKey) -> Result<(), Box<dyn std::error::Error>> {
//! let now = || SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
//! let (peer, act_one) = node.connect_outbound(their_id, now());
//! socket.write_all(&act_one)?;
//! socket.set_read_timeout(Some(Duration::from_millis(50)))?;
//! let mut buf = [0u8; 65536];
//! loop {
//!     match socket.read(&mut buf) {
//!         Ok(0) => { node.peer_disconnected(peer); break; }
//!         Ok(n) => { let _ = node.handle_bytes(peer, &buf[..n], now()); }
//!         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
//!             || e.kind() == std::io::ErrorKind::TimedOut => {}
//!         Err(_) => { node.peer_disconnected(peer); break; }
//!     }
//!     node.handle_timeout(now());
//!     // Async persistence only: make each write durable, then report it.
//!     while let Some(req) = node.poll_persist() { /* write req */ node.persist_completed(req.id); }
//!     while let Some(bytes) = node.poll_transmit(peer) { socket.write_all(&bytes)?; }
//!     while let Some(event) = node.poll_event() { println!("{event:?}"); }
//! }
//! # Ok(()) }
//! ```
//!
//! Blocks go in through [`ChainListener`](lightning_chain::ChainListener)
//! (`block_connected`, `block_disconnected`, or `transactions_confirmed`
//! plus `best_block_updated` for light clients).

mod builder;
mod chain;
mod channel_events;
mod channels;
mod config;
mod delivery;
mod error;
mod events;
mod host;
mod htlcs;
mod identity;
mod inbound;
mod invoices;
mod outbox;
mod payments;
mod peers;
mod persistence;
mod records;
mod restore;
mod transmit;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use lightning_chain::ConfirmationTracker;
use lightning_wire::types::ChannelId;

use crate::channel::Channel;
#[cfg(doc)]
use crate::keys::KeysManager;
use crate::keys::{ChannelSignerProvider, DynChannelSigner, EntropySource, NodeSigner};
use crate::peer::PeerManager;

pub use builder::{BuildError, NodeBuilder};
pub use config::{NodeConfig, DEFAULT_MAX_FINAL_CLTV_EXPIRY_DELTA};
pub use error::NodeError;
pub use events::{
    Balances, ChannelDetails, Event, InvoiceDetails, InvoiceStatus, PaymentDetails, PaymentFailure,
    PaymentHash, PaymentId, PaymentPreimage, PaymentStatus,
};
pub use host::NodeHost;
pub use inbound::{
    AcceptAll, InboundChannelAcceptor, InboundChannelDecision, InboundChannelRequest,
    InboundLimits, KEYS_INDEX_BLOCK,
};
pub use persistence::{PersistId, PersistOp, PersistRequest, Persistence, NAMESPACE};

use inbound::KeysIndexes;
use outbox::Outbox;
use persistence::Writer;
use records::{InvoiceRecord, PaymentRecord};

#[derive(Debug)]
struct ChannelEntry {
    channel: Channel<DynChannelSigner>,
    counterparty: PublicKey,
    /// Whether the funding txid is watched.
    watched: bool,
}

/// A Lightning node, sans-IO. See the [module documentation](self) for a
/// host loop.
pub struct Node {
    /// The node key: BOLT 8 and BOLT 4 ECDH, invoice signatures.
    node_signer: Arc<dyn NodeSigner + Send + Sync>,
    /// Ephemeral keys, session keys, preimages, temporary channel ids.
    entropy: Arc<dyn EntropySource + Send + Sync>,
    /// Each channel's signer, by keys index.
    channel_signers: Arc<dyn ChannelSignerProvider + Send + Sync>,
    /// Where cooperative closes pay when the configuration names no
    /// script (the seed's wallet key).
    default_shutdown_script: bitcoin::ScriptBuf,
    /// The build found a store written before identity records and took
    /// it as this node's ([`Node::store_adopted`]).
    store_adopted: bool,
    config: NodeConfig,
    peers: PeerManager,
    writer: Writer,
    host: NodeHost,
    channels: BTreeMap<ChannelId, ChannelEntry>,
    tracker: ConfirmationTracker,
    invoices: BTreeMap<PaymentHash, InvoiceRecord>,
    /// The terms of each invoice, decoded ([`invoices::InvoiceTerms`]).
    invoice_terms: BTreeMap<PaymentHash, invoices::InvoiceTerms>,
    /// Shared secrets of received HTLCs (BOLT 4 replay detection).
    replay: crate::onion::replay::HtlcReplayCache,
    payments: BTreeMap<PaymentHash, PaymentRecord>,
    outbox: Outbox,
    events: events::EventQueue,
    /// Channels with updates to sign (one `commit` after a batch).
    to_commit: BTreeSet<ChannelId>,
    keys_indexes: KeysIndexes,
    /// The write of this run's entropy epoch: nothing drawn from the
    /// epoch may reach the host before it is durable.
    epoch_write: u64,
    acceptor: Arc<dyn InboundChannelAcceptor>,
    now: Duration,
}

impl core::fmt::Debug for Node {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Node")
            .field("node_id", &self.node_id())
            .field("channels", &self.channels.len())
            .finish_non_exhaustive()
    }
}
