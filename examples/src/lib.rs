//! Shared code of the example programs.
pub mod demo;
pub mod lnctl;
