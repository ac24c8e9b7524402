//! Storage for the Lightning SDK: the `KvStore` trait and its backends.
#![forbid(unsafe_code)]
