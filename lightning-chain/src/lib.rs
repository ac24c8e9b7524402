//! Chain traits for the Lightning SDK: chain data, broadcasting, fee
//! estimation and chain sync.
//!
//! A host gives the node its view of the Bitcoin chain through a handful of
//! synchronous traits, all sans-IO from the library's side:
//!
//! | trait | the host... |
//! | --- | --- |
//! | [`ChainSource`] | serves headers and blocks to the [`ChainSync`] driver |
//! | [`ChainListener`] | (implemented by the node) is told about connected and disconnected blocks |
//! | [`MempoolListener`] | (implemented by the node) is told about unconfirmed transactions ([`MempoolPoll`]) |
//! | [`WatchFilter`] | (light clients) learns which scripts and outpoints matter |
//! | [`Broadcaster`] | publishes transactions |
//! | [`FeeEstimator`] | gives a [`FeeRate`] for a [`ConfirmationTarget`] |
//! | [`Wallet`] | lends its confirmed coins, a change script and input signatures for fee bumping |
//!
//! [`ConfirmationTracker`] is a ready-made [`ChainListener`] that follows the
//! depth of watched transactions and the spends of watched outpoints across
//! reorgs.
//!
//! The workspace's `lightning-sim` crate (not published) provides an
//! in-memory regtest-like chain with a script-verifying mempool and a small
//! wallet, for tests and demos.
//!
//! ```
//! use lightning_chain::{BestBlock, ChainSync, ConfirmationTracker};
//! use bitcoin::Network;
//!
//! // A node starting from scratch follows the chain from genesis.
//! let genesis = BestBlock::genesis(Network::Regtest);
//! let tracker = ConfirmationTracker::new(genesis);
//! let sync = ChainSync::new(genesis);
//! assert_eq!(sync.best_block(), tracker.best_block());
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod best_block;
#[cfg(any(feature = "bitcoind", feature = "esplora"))]
mod block_check;
mod broadcast;
mod confirm;
mod fee;
mod fee_cache;
mod health;
mod index;
mod light;
mod listen;
mod mempool;
mod source;
mod sync;
pub mod wallet;
mod warnings;

#[cfg(feature = "bitcoind")]
pub mod bitcoind;
#[cfg(feature = "electrum")]
pub mod electrum;
#[cfg(feature = "esplora")]
pub mod esplora;

pub use best_block::{BestBlock, Confirmations};
pub use broadcast::Broadcaster;
pub use confirm::{ConfirmationEvent, ConfirmationTracker, OutpointSpend, TxConfirmation};
pub use fee::{BoundedFeeEstimator, ConfirmationTarget, FeeEstimator, FeeRate, FixedFeeEstimator};
pub use fee_cache::{
    fee_rate_from_btc_per_kvb, fee_rate_from_sat_per_kvb, target_blocks, CachedFeeEstimator,
    FeeConfig, FeeUpdate,
};
pub use health::{ChainHealth, ChainHealthConfig, ChainHealthEvent};
pub use index::{OutPointKey, TxidKey};
pub use light::{LightBackend, LightClientSync, LightSyncOutcome, MerkleProof, KEPT_HEADERS};
pub use listen::{ChainListener, WatchFilter, WatchedOutput};
pub use mempool::{MempoolListener, MempoolPoll, DEFAULT_MEMPOOL_FETCH_LIMIT, MAX_REPORTED_TXIDS};
pub use source::{ChainSource, ChainSourceError};
pub use sync::{ChainSync, SyncError, SyncOutcome};
pub use wallet::{Wallet, WalletUtxo};
pub use warnings::{ChainWarning, StaleTipMonitor, TipDisagreementMonitor};

/// Re-export of the `bitcoin` crate whose types appear in this crate's API.
pub use bitcoin;
