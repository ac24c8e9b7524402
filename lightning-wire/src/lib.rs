//! Lightning Network wire codecs, with no IO.
//!
//! - [`types`]: BOLT 1 fundamental types (integers, truncated and signed
//!   integers, points, signatures, `short_channel_id`, `chain_hash`,
//!   `channel_id`).
//! - [`bigsize`] and [`tlv`]: BigSize and TLV streams (BOLT 1).
//! - [`codec`]: the `Encode`/`Decode` framework everything here is built on.
//! - [`features`]: BOLT 9 feature bits, one typed set per context.
//! - [`msgs`]: every BOLT 1, 2 and 7 message, and [`msgs::Message`] over them.
#![forbid(unsafe_code)]

pub mod bigsize;
pub mod codec;
pub mod features;
pub mod msgs;
pub mod tlv;
pub mod types;

pub use codec::{Decode, DecodeError, DecodeErrorKind, Encode, Reader};
