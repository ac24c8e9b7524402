//! The Lightning protocol engine, with no IO: keys and signers, BOLT 3
//! transactions, the BOLT 2 channel state machine, BOLT 4 onions, and the
//! sans-IO [`Node`].
//!
//! # Where to start
//!
//! A host (a wallet, a payment processor, a daemon) needs one type,
//! [`Node`], and the few it takes and returns; they are all re-exported at
//! the crate root and in [`prelude`]:
//!
//! - what the node needs from the host: [`NodeHost`] (a
//!   [`Broadcaster`] and a [`FeeEstimator`]), a [`Persistence`] over a
//!   [`KvStore`], a [`NodeConfig`];
//! - what it gives back: bytes for each peer, [`Event`]s, writes (async
//!   persistence), timer deadlines;
//! - the values it speaks in: [`Msat`], [`PaymentHash`],
//!   [`PaymentPreimage`], [`ChannelId`], [`PeerId`], block heights as
//!   [`BestBlock`].
//!
//! The modules underneath ([`keys`], [`onion`], [`transactions`], [`peer`])
//! are public for hosts that need one piece alone (an onion, a commitment
//! transaction). The channel state machine's internals are public only
//! with the `test-support` feature (see [`channel`]).
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use lightning_core::prelude::*;
//!
//! #[derive(Debug)]
//! struct MyBroadcaster;
//! impl Broadcaster for MyBroadcaster {
//!     fn broadcast_transactions(&self, _txs: &[&bitcoin::Transaction]) {
//!         // hand them to bitcoind, Electrum or Esplora
//!     }
//! }
//!
//! let network = bitcoin::Network::Regtest;
//! let host = NodeHost {
//!     broadcaster: Arc::new(MyBroadcaster),
//!     fee_estimator: Arc::new(FixedFeeEstimator::new(FeeRate::from_sat_per_kw(2_500))),
//! };
//! let store = Arc::new(MemoryStore::new());
//! let mut node = Node::builder(network)
//!     .seed(&[7; 32])
//!     .persistence(Persistence::Inline(store))
//!     .host(host)
//!     .best_block(BestBlock::genesis(network))
//!     .build()?;
//! let now = Duration::from_secs(1_700_000_000);
//! let invoice = node.create_invoice(Some(Msat(25_000)), "coffee", Duration::from_secs(3_600), now)?;
//! assert!(invoice.to_string().starts_with("lnbcrt250n1"));
//! assert!(node.poll_event().is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod amount;
pub mod backup;
pub mod channel;
pub mod keys;
pub mod node;
pub mod onchain;
pub mod onion;
pub mod peer;
pub mod prelude;
pub mod transactions;

pub use amount::Msat;
pub use keys::KeysManager;
pub use lightning_chain::{BestBlock, Broadcaster, FeeEstimator};
pub use lightning_persist::KvStore;
pub use lightning_wire::types::{ChannelId, PaymentHash, PaymentPreimage, ShortChannelId};
pub use node::{
    Balances, ChannelDetails, Event, InvoiceDetails, InvoiceStatus, Node, NodeConfig, NodeError,
    NodeHost, PaymentDetails, PaymentId, PaymentStatus, Persistence,
};
pub use peer::PeerId;

/// The README's examples: its embedding example compiles and runs as a
/// doctest (its other snippets are fragments, marked `ignore`).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

// The unit tests that need two wired channel endpoints compile the one
// harness of `lightning-test-support` into this crate, against this crate's
// own types (a dev-dependency on that crate would bring a second copy of
// them). Its paths name `lightning_core`, hence the alias.
#[cfg(test)]
extern crate self as lightning_core;
#[cfg(test)]
#[path = "../../lightning-test-support/src/pair.rs"]
#[allow(dead_code)]
mod test_pair;
