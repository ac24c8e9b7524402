//! The Lightning protocol engine, with no IO: keys and signers, BOLT 3
//! transactions, the BOLT 2 channel state machine, BOLT 4 onions, and the
//! sans-IO `Node`.
#![forbid(unsafe_code)]

pub mod amount;
pub mod channel;
pub mod keys;
pub mod node;
pub mod onion;
pub mod peer;
pub mod transactions;

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
