//! The BOLT 2 channel state machine, split by concern.
//!
//! - [`Channel`] ([`state`]): phases, the persisted [`ChannelState`], the
//!   entry point for the peer's messages, failure handling.
//! - [`establish`]: v1 establishment as funder and fundee, `channel_ready`,
//!   zero-conf and `scid_alias`.
//! - [`commitments`]: building, signing and verifying both commitment
//!   chains.
//! - [`normal`]: `update_*`, `commitment_signed`, `revoke_and_ack`.
//! - [`reconnect`]: disconnection and `channel_reestablish`.
//! - [`shutdown`]: `shutdown`, `closing_signed`, `closing_complete` /
//!   `closing_sig`.
//! - [`record`]: the persisted record (snapshot + update records);
//!   `log_delta`: the update log in update records, as what changed.
//! - [`events`], [`error`]: what each input returns.
//!
//! The rules, as pure functions the channel calls:
//! - [`update_log`]: where every `update_*` stands in the two
//!   commitment chains, and what each commitment holds.
//! - [`params`]: the parameters of `open_channel`/`accept_channel` and the
//!   rules on them.
//! - [`htlc_policy`]: the rules on offering and accepting HTLCs and fees.
//! - [`reestablish`]: `channel_reestablish` checks and retransmission.
//! - [`close`]: `shutdown` scripts and the `closing_signed` negotiation.
//!
//! # What is public
//!
//! A host drives channels through [`Node`](crate::node::Node), so what a
//! host can name here is what the node's API shows: the configuration
//! ([`ChannelConfig`], [`params`]), the [`Phase`] and the errors. The
//! state machine itself ([`Channel`], its [`ChannelState`] fields, the
//! record encoding, the update log) is public only with the
//! `test-support` feature, for this workspace's tests, fuzz targets and
//! benches; without it those modules are crate-private.
#![cfg_attr(not(feature = "test-support"), allow(dead_code, unreachable_pub))]

pub mod error;
mod log_delta;
pub mod params;

/// Declares the modules that are public only with `test-support`.
macro_rules! internal_modules {
    ($($name:ident),* $(,)?) => {
        $(
            #[cfg(feature = "test-support")]
            pub mod $name;
            #[cfg(not(feature = "test-support"))]
            pub(crate) mod $name;
        )*
    };
}

pub mod announce;
internal_modules!(
    close,
    commitments,
    establish,
    events,
    htlc_policy,
    normal,
    reconnect,
    record,
    reestablish,
    shutdown,
    state,
    update_log,
);

pub use close::{ClosingError, FeeRange};
pub use error::{
    outgoing_error_text, sanitize_peer_text, ChannelError, ErrorAction, MAX_ERROR_TEXT,
};
pub use establish::FUNDING_TIMEOUT_BLOCKS;
pub use events::HtlcFailReason;
#[cfg(not(feature = "test-support"))]
pub(crate) use events::{ChannelEvent, ChannelOutput};
#[cfg(feature = "test-support")]
pub use events::{ChannelEvent, ChannelOutput, ChannelWrite, HolderCommitment, RecordWrite};
pub use htlc_policy::HtlcError;
pub use params::{ChannelLimits, ChannelType, EstablishError, FeerateBounds, PartyParams};
pub use record::RecordError;
pub use reestablish::ReestablishError;
#[cfg(not(feature = "test-support"))]
pub(crate) use state::Channel;
pub use state::{BestHeight, ChannelConfig, Phase};
#[cfg(feature = "test-support")]
pub use state::{Channel, ChannelState};
pub use update_log::{Side, UpdateError};

#[cfg(test)]
mod per_message_tests;
#[cfg(test)]
mod update_log_tests;
