//! Chain traits for the Lightning SDK: chain data, broadcasting, fee
//! estimation and chain sync.
#![forbid(unsafe_code)]
