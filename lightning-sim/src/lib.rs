//! An in-memory regtest-like chain for tests and demos. Not published: test
//! and demo infrastructure only (ARCHITECTURE.md, "Crates and layers").
//!
//! - [`SimChain`]: blocks with valid coinbases (BIP 34 height, subsidy plus
//!   fees, witness commitment), correct merkle roots, regtest proof of work
//!   and linkage; a mempool that accepts a transaction only if it could go in
//!   the next block, with every input's script checked by libbitcoinconsensus;
//!   reorgs that return transactions to the mempool.
//! - [`SimChainHandle`]: a cloneable, thread-safe handle for nodes running in
//!   threads; it implements [`ChainSource`](lightning_chain::ChainSource) and
//!   [`Broadcaster`](lightning_chain::Broadcaster).
//! - [`SimWallet`]: a P2WPKH wallet that funds outputs from its coins.
//!
//! ```
//! use bitcoin::Amount;
//! use lightning_sim::{SimChainHandle, SimWallet};
//!
//! let chain = SimChainHandle::new();
//! let alice = SimWallet::from_seed([1; 32], chain.clone());
//! let bob = SimWallet::from_seed([2; 32], chain.clone());
//! chain.mine_blocks(101, &alice.script_pubkey()); // block 1's coinbase matures
//!
//! let txid = alice.send(Amount::from_sat(100_000), &bob.script_pubkey()).unwrap();
//! chain.mine_blocks(1, &alice.script_pubkey());
//! assert_eq!(chain.tx_confirmations(&txid), Some(1));
//! assert_eq!(bob.balance(), Amount::from_sat(100_000));
//! assert!(chain.rejections().is_empty());
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod chain;
mod handle;
mod validate;
mod wallet;

pub use chain::{Coin, Rejection, SimChain, COINBASE_MATURITY, SUBSIDY_HALVING_INTERVAL};
pub use handle::SimChainHandle;
pub use validate::TxRejected;
pub use wallet::{SimWallet, WalletError};
