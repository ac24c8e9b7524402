//! The BOLT 2 channel state machine, split by concern.
//!
//! - [`update_log`]: where every `update_*` stands in the two commitment
//!   chains, and what each commitment holds.
pub mod update_log;

#[cfg(test)]
mod update_log_tests;
