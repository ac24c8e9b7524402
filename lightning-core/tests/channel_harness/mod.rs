//! The two-endpoint harness lives in `lightning_test_support::pair` (shared
//! with the fuzz target and the benches); here it gets libbitcoinconsensus
//! as its script verifier, so every agreement check also verifies each
//! commitment and HTLC-timeout transaction against what it spends.
#![allow(dead_code, unused_imports, clippy::unwrap_used)]

pub use lightning_test_support::pair::{
    config, funding_tx, node, preimage, Endpoint as Node, OpenOptions, Pair, ONION,
};

use std::sync::Arc;

use lightning_persist::KvStore;

use lightning_test_support::verify::verify;

/// Opens the test channel over memory stores, with script verification.
pub fn open(o: OpenOptions) -> Pair {
    let mut pair = lightning_test_support::pair::open(o);
    pair.verifier = Some(verify);
    pair.check_agreement();
    pair
}

/// [`open`] with the given stores.
pub fn open_with_stores(o: OpenOptions, a: Arc<dyn KvStore>, b: Arc<dyn KvStore>) -> Pair {
    let mut pair = lightning_test_support::pair::open_with_stores(o, a, b);
    pair.verifier = Some(verify);
    pair.check_agreement();
    pair
}
