//! Shared code of the example programs.
pub mod lnctl;
