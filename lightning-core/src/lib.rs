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
#[cfg(feature = "test-support")]
pub mod testing;
pub mod transactions;
