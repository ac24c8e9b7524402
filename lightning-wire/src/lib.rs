//! Lightning Network wire codecs, with no IO.
//!
//! - [`types`]: BOLT 1 fundamental types (integers, truncated and signed
//!   integers, points, signatures, `short_channel_id`, `chain_hash`,
//!   `channel_id`).
//! - [`bigsize`] and [`tlv`]: BigSize and TLV streams (BOLT 1).
//! - [`codec`]: the `Encode`/`Decode` framework everything here is built on.
//! - [`crypto`]: the ChaCha20, ChaCha20-Poly1305 and HMAC-SHA256 the BOLTs
//!   share, compiled once (optimised) for every crate.
//! - [`features`]: BOLT 9 feature bits, one typed set per context.
//! - [`msgs`]: every BOLT 1, 2 and 7 message, and [`msgs::Message`] over them.
//! - [`noise`]: the BOLT 8 Noise_XK handshake and encrypted transport, as a
//!   sans-IO state machine.
//! - [`bolt11`]: BOLT 11 invoices: parse and verify, build and sign.
//! - [`bolt12`]: BOLT 12 offers, invoice requests and invoices: text form,
//!   Merkle signatures, readers' rules.
#![forbid(unsafe_code)]

pub mod amount;
pub mod bigsize;
pub mod bolt11;
pub mod bolt12;
pub mod codec;
pub mod crypto;
pub mod features;
pub mod msgs;
pub mod noise;
pub mod tlv;
pub mod types;

pub use amount::Msat;
pub use codec::{Decode, DecodeError, DecodeErrorKind, Encode, EncodeError, Reader};
