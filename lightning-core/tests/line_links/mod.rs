//! Setting up a `forward_support::Line` beyond its chain of links, shared
//! by the tests that add links of their own (node_blinded_paths'
//! diamond and triangle, node_keysend_mpp's star and diamond, the long
//! run's extra channels).
// Not every test that includes it clears events.
#![allow(dead_code)]

use crate::forward_support::{Line, Link};

/// Adds a link between members `a` and `b` to `line` and connects it.
pub fn add_link(line: &mut Line, a: usize, b: usize) {
    line.links.push(Link {
        a,
        b,
        pa: None,
        pb: None,
        hold_from: None,
    });
    let l = line.links.len() - 1;
    line.connect(l);
}

/// Drops every event the members have reported so far (the channel
/// openings'), so that a test sees only its payments'.
pub fn clear_events(line: &mut Line) {
    for m in &mut line.members {
        m.take_events();
    }
}
