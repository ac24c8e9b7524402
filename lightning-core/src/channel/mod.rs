//! The BOLT 2 channel state machine, split by concern.
//!
//! - [`update_log`]: where every `update_*` stands in the two commitment
//!   chains, and what each commitment holds.
//! - [`params`]: the parameters of `open_channel`/`accept_channel` and the
//!   rules on them.
//! - [`htlc_policy`]: the rules on offering and accepting HTLCs and fees.
//! - [`reestablish`]: `channel_reestablish` checks and retransmission.
//! - [`close`]: `shutdown` scripts and the `closing_signed` negotiation.
pub mod close;
pub mod htlc_policy;
pub mod params;
pub mod reestablish;
pub mod update_log;

#[cfg(test)]
mod update_log_tests;
