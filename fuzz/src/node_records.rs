//! The node's own records on a damaged or hostile disk (`node_records`):
//! what restoring a [`Node`](lightning_core::node::Node) reads besides
//! its channels: invoices, payments (their retry state and multi-part
//! parts), hold invoices, keysends and forwards. Invariant: no panic, in
//! the restore nor after it (listing, the events raised again, timers
//! that retry payments); a record that does not decode is skipped.
//!
//! Input framing: records one after the other, each a kind byte (its key
//! prefix, `kind % 5`: invoices, payments, hold, keysend, forwards), a
//! 2-byte big-endian length and its bytes. The seeds are a real node's
//! records after `node_full_stack` runs ([`seed_corpus`]).

use std::sync::Arc;
use std::time::Duration;

use lightning_core::node::{NodeBuilder, Persistence, NAMESPACE};
use lightning_persist::{KvStore, MemoryStore};
use lightning_sim::SimChainHandle;

/// The key prefixes, by kind.
const PREFIXES: [&str; 5] = ["invoices/", "payments/", "hold/", "keysend/", "forwards/"];

/// The most records one input writes.
const MAX_RECORDS: usize = 64;

/// The target.
pub fn node_records(data: &[u8]) {
    let store = Arc::new(MemoryStore::new());
    let mut rest = data;
    let mut n = 0usize;
    while rest.len() >= 3 && n < MAX_RECORDS {
        let prefix = PREFIXES[usize::from(rest[0]) % PREFIXES.len()];
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
        let body = &rest[3..];
        let take = len.min(body.len());
        let key = match prefix {
            "forwards/" => format!("{prefix}{n:064x}/{n}"),
            _ => format!("{prefix}{n:064x}"),
        };
        if store.write(NAMESPACE, &key, 1, &body[..take]).is_err() {
            return;
        }
        rest = &body[take..];
        n += 1;
    }
    let chain = SimChainHandle::new();
    let built = NodeBuilder::from_config(crate::node::config())
        .seed(&crate::node::SEED)
        .persistence(Persistence::Inline(store))
        .host(crate::node::host(&chain))
        .best_block(chain.best_block())
        .build();
    let Ok(mut node) = built else {
        return;
    };
    let restored =
        node.list_payments().len() + node.list_invoices().len() + node.list_forwards().len();
    // Events raised again, then timers: payments owed an attempt are
    // retried (or fail) from their restored state.
    while node.poll_event().is_some() {}
    let now = Duration::from_secs(1_700_000_000);
    for secs in [0, 61, 3_600] {
        node.handle_timeout(now + Duration::from_secs(secs));
        while node.poll_event().is_some() {}
    }
    // Listing what the timers left still answers.
    let _ = node.list_payments();
    if restored > 0 {
        crate::reached_checks();
    }
}

/// Frames `(kind, bytes)` records as the target reads them.
pub fn frame(records: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (kind, r) in records {
        let n = u16::try_from(r.len()).expect("a record under 64 KiB");
        out.push(*kind);
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(r);
    }
    out
}

/// Seeds: the node records a real node kept after each of the
/// `node_full_stack` corpus inputs that left some, at most `max`.
pub fn seed_corpus(max: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(crate::corpus_dir("node_full_stack")) else {
        return out;
    };
    let mut files: Vec<_> = dir.flatten().map(|e| e.path()).collect();
    files.sort();
    for path in files {
        if out.len() >= max {
            break;
        }
        let Ok(input) = std::fs::read(&path) else {
            continue;
        };
        let store = crate::node::store_after(&input);
        let Ok(keys) = store.list(NAMESPACE) else {
            continue;
        };
        let mut records = Vec::new();
        for key in keys {
            let Some(kind) = PREFIXES.iter().position(|p| key.starts_with(p)) else {
                continue;
            };
            if let Ok(Some(v)) = store.read(NAMESPACE, &key) {
                records.push((u8::try_from(kind).unwrap_or(0), v.value));
            }
        }
        if records.iter().any(|(k, _)| *k == 1) {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((name, frame(&records)));
        }
    }
    out
}
