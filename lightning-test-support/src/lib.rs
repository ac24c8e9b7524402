//! Test support for the Lightning SDK (`publish = false`; never a
//! dependency of a shipped crate, only a dev-dependency): a hostile
//! peer that drives a real [`Node`](lightning_core::node::Node) over BOLT 8
//! ([`hostile`]); two
//! [`Channel`](lightning_core::channel::Channel) endpoints wired in process, each
//! writing its record through a [`KvStore`](lightning_persist::KvStore)
//! before its messages may leave; a ledger that checks what the HTLC events
//! say; a simulator that turns a byte string into an operation sequence;
//! and the one host loop ([`host`]) that the demo, the LDK interop harness
//! and the node tests run (feature `harness`). Always there, for every crate's
//! tests: the one deterministic generator ([`rng`]) and the rule for tests
//! that need something outside the process ([`external`]). Feature
//! `gossip`: the synthetic network of signed gossip ([`gossip`]) that
//! `lightning-gossip`'s tests, the gossip fuzz targets and benches use.
//!
//! `lightning-core`'s channel tests, the `channel_two_endpoints` fuzz target,
//! the randomized restart test on every storage backend and the payment bench
//! all use it, so they drive the channel the same way. `lightning-core`'s unit
//! tests compile [`pair`] into that crate itself (ARCHITECTURE.md, "Crates
//! and layers").
//!
//! Helpers here panic (with a message) on what a test would fail on: a store
//! that refuses a write, a record that does not restore, a broken invariant.

#![forbid(unsafe_code)]

pub mod external;
pub mod rng;

#[cfg(feature = "gossip")]
pub mod gossip;
#[cfg(feature = "harness")]
pub mod host;
#[cfg(feature = "harness")]
pub mod hostile;
#[cfg(feature = "harness")]
pub mod ledger;
#[cfg(feature = "harness")]
pub mod pair;
#[cfg(feature = "harness")]
pub mod sim;
#[cfg(feature = "harness")]
pub mod verify;
