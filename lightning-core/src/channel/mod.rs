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
pub mod close;
pub mod commitments;
pub mod error;
pub mod establish;
pub mod events;
pub mod htlc_policy;
mod log_delta;
pub mod normal;
pub mod params;
pub mod reconnect;
pub mod record;
pub mod reestablish;
pub mod shutdown;
pub mod state;
pub mod update_log;

pub use error::{
    outgoing_error_text, sanitize_peer_text, ChannelError, ErrorAction, MAX_ERROR_TEXT,
};
pub use establish::FUNDING_TIMEOUT_BLOCKS;
pub use events::{
    ChannelEvent, ChannelOutput, ChannelWrite, HolderCommitment, HtlcFailReason, RecordWrite,
};
pub use record::RecordError;
pub use state::{Channel, ChannelConfig, ChannelState, Phase};

#[cfg(test)]
mod per_message_tests;
#[cfg(test)]
mod update_log_tests;
