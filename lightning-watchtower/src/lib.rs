//! A watchtower (issue 21) in the draft BOLT 13 format, sans-IO.
//!
//! A client that learns a revocation secret for the peer's commitment `C`
//! builds the justice transaction(s) that would sweep `C`'s outputs and
//! hands the tower one *update*: the locator (the first 16 bytes of
//! `txid(C)`) and a blob (the justice kit encrypted with
//! ChaCha20-Poly1305 under a key derived from the full `txid(C)`). The tower
//! learns nothing until `C` confirms: then it finds the locator among the
//! block's txids, derives the key from the txid, decrypts, checks the kit
//! spends `C`, and broadcasts it.
//!
//! - [`blob`]: locator, key, the justice kit and its envelope;
//! - [`server`]: [`Tower`]: sessions per client node id (authenticated by
//!   the BOLT 8 connection), per-session update limits, a storage bound,
//!   the per-block check (one hash lookup per transaction, whatever the
//!   number of stored updates) and the broadcast;
//! - [`client`]: [`TowerClient`]: a bounded queue of updates per tower,
//!   sent in order, resent after a reconnection until acknowledged, never
//!   blocking the caller;
//! - [`record`]: the durable state of both, as records the host writes
//!   before it sends what depends on them;
//! - [`wire`]: the messages between them, custom odd types carried over
//!   the BOLT 8 peer connection (ARCHITECTURE.md, "Backups and
//!   watchtowers").

pub mod blob;
pub mod client;
pub mod record;
pub mod server;
pub mod wire;

pub use blob::{JusticeKit, Locator};
pub use client::{ClientError, TowerClient};
pub use server::{Tower, TowerConfig, TowerError};
