//! A node you can run: the host runtime around the sans-IO
//! [`Node`](lightning_core::node::Node), and the pieces of the `lnnode`
//! daemon.
//!
//! - [`Builder`] picks the network, data directory, chain source, store
//!   and listen address, and starts a [`Runtime`]: std threads (one for
//!   sockets, timers and events, one for chain sync), the node's poll
//!   order, inline persistence, an on-chain [`wallet`] that funds
//!   channels, and events forwarded to the embedder
//!   ([`Runtime::subscribe`]).
//! - [`rpc`] serves a Core Lightning-compatible JSON-RPC on a unix socket
//!   (what BTCPay Server's `type=clightning` connection uses).
//! - [`seed`] keeps the seed encrypted with a password; [`config`] reads
//!   `lnnode.toml`.
//!
//! ```no_run
//! use lightning_node::{Builder, ChainConfig};
//! use lightning_chain::bitcoind::BitcoindAuth;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let rt = Builder::new(bitcoin::Network::Regtest)
//!     .data_dir("/tmp/alice")
//!     .seed([1; 32])
//!     .chain(ChainConfig::Bitcoind {
//!         url: "http://127.0.0.1:18443/".into(),
//!         auth: BitcoindAuth::UserPass("u".into(), "p".into()),
//!         rest: false,
//!     })
//!     .listen("127.0.0.1:9735".parse()?)
//!     .build()?;
//! let events = rt.subscribe();
//! println!("{}", rt.node_id());
//! # drop(events);
//! rt.stop();
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod builder;
pub mod config;
pub mod log;
pub mod meta;
pub mod rpc;
mod runtime;
pub mod seed;
pub mod wallet;

pub use builder::{BuildError, Builder, ChainConfig, StoreConfig};
pub use runtime::{now, ChainBackend, Follow, FundingState, Runtime, RuntimeError, State};
