//! Interop harness: our node against Electrum's own Lightning wallet
//! (Debian's `python3-electrum` 4.3), a second independent implementation
//! beside LDK. Test-only, never published.
//!
//! The chain is `lightning-simchain`'s simulated chain (regtest genesis,
//! wall-clock timestamps) served over its bitcoind-compatible RPC to a
//! real ElectrumX 2.0, to which an Electrum daemon connects; Electrum is
//! driven through its JSON-RPC command server ([`daemon`]), our node runs
//! in `lightning-test-support`'s [`TcpHost`](lightning_test_support::host::TcpHost).
//! See [`harness::Harness`] for the steps the scenarios share.

// Test infrastructure: a failure here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod daemon;
pub mod fees;
pub mod harness;
pub mod onchain;
pub mod rpc;
