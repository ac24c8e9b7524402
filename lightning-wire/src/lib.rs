//! Lightning Network wire codecs, with no IO.
//!
//! - [`types`]: BOLT 1 fundamental types (integers, truncated and signed
//!   integers, points, signatures, `short_channel_id`, `chain_hash`,
//!   `channel_id`).
//! - [`bigsize`] and [`tlv`]: BigSize and TLV streams (BOLT 1).
//! - [`codec`]: the `Encode`/`Decode` framework everything here is built on.
//! - [`features`]: BOLT 9 feature bits, one typed set per context.
//! - [`bolt11`]: BOLT 11 invoices: parse and verify, build and sign.
#![forbid(unsafe_code)]

pub mod bigsize;
pub mod bolt11;
pub mod codec;
pub mod features;
pub mod tlv;
pub mod types;

pub use codec::{Decode, DecodeError, DecodeErrorKind, Encode, Reader};
