//! Sphinx onion routing (BOLT 4): payment onions, returned errors with
//! attribution data, route blinding and onion messages.
//!
//! - [`build_payment_onion`] / [`build_packet`]: the origin builds a packet
//!   for a route, from a session key the caller draws.
//! - [`process_htlc_onion`]: a node peels the onion of an incoming HTLC and
//!   gets a [`Forward`] or a [`Receive`], or the [`HtlcFailure`] to answer
//!   with; [`peel_packet`] is the bare Sphinx step under it.
//! - [`create_error_packet`], [`obfuscate_error_packet`],
//!   [`AttributionData`]: returning a failure; [`decode_error_packet`]: the
//!   origin learns which hop failed and why.
//! - [`blind_path`], [`unblind`]: route blinding.
//! - [`build_onion_message_packet`], [`peel_onion_message`]: onion
//!   messages.
//!
//! Nothing here draws randomness or keeps state: session keys come from the
//! caller and replay detection goes through the host's
//! [`SharedSecretCache`].

pub mod blinding;
pub mod construct;
pub mod error_packet;
pub mod failure;
pub mod keys;
pub mod onion_message;
pub mod packet;
pub mod payload;
pub mod peel;
pub mod process;
pub mod replay;

pub use blinding::{
    blind_path, unblind, BlindedHop, BlindedPath, EncryptedDataTlv, PaymentConstraints,
    PaymentRelay, Unblinded,
};
pub use construct::{
    build_packet, build_payment_onion, hop_keys, route_shared_secrets, BuildError, HopKeys,
    SphinxHop,
};
pub use error_packet::{
    create_error_packet, decode_error_packet, obfuscate_error_packet, AttributionData,
    DecodedFailure,
};
pub use failure::{FailureCode, FailureMessage, FailureReason};
pub use keys::SharedSecret;
pub use onion_message::{
    build_onion_message_packet, peel_onion_message, OnionMessageHop, OnionMessagePayload,
};
pub use packet::{OnionPacket, PAYMENT_ONION_LEN};
pub use payload::{HopPayload, InvalidPayload, PaymentData};
pub use peel::{peel_packet, peel_packet_with_replay, PeelError, Peeled, PeeledHop};
pub use process::{
    process_htlc_onion, Forward, HtlcFailure, IncomingHtlc, NextHop, ProcessedHtlc, Receive,
};
pub use replay::{InMemorySharedSecretCache, SharedSecretCache};
