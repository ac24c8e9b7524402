//! Interop harness: an LDK 0.2 node ([`ldk::LdkNode`]) and a TCP host for
//! our own node, following one simulated chain. Test-only; no library crate
//! depends on LDK.

// Test infrastructure: a failure here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod host;
pub mod ldk;
pub mod pair;
pub mod world;
