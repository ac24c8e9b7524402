//! BOLT 2, "The `channel_ready` Message": a fundee "SHOULD forget the
//! channel if it does not see the correct funding transaction after a
//! timeout of 2016 blocks". The funder never forgets (its funds are in the
//! channel), and a confirmed funding transaction stops the clock.
#![allow(clippy::unwrap_used)]

mod channel_harness;
mod common;

use channel_harness::*;
use lightning_core::channel::{ChannelEvent, Phase, FUNDING_TIMEOUT_BLOCKS};
use lightning_wire::types::ShortChannelId;

/// A (funder) and B (fundee) after `funding_signed`: funded, unconfirmed.
fn funded_unconfirmed() -> Pair {
    let mut pair = lightning_test_support::pair::open_funded(OpenOptions::default());
    assert_eq!(pair.b.ch.phase(), Phase::AwaitingChannelReady);
    pair.a.take_events();
    pair.b.take_events();
    pair
}

fn timed_out(events: &[ChannelEvent]) -> Option<u32> {
    events.iter().find_map(|e| match e {
        ChannelEvent::FundingTimedOut { waiting_since, .. } => Some(*waiting_since),
        _ => None,
    })
}

#[test]
fn the_fundee_forgets_after_2016_blocks_across_a_restart() {
    let mut pair = funded_unconfirmed();
    let start = 800_000;
    let out = pair.b.ch.best_block_updated(start).unwrap();
    assert!(out.persist.is_some(), "the start of the wait is written");
    pair.b.apply(out);
    for h in [start + 1, start + FUNDING_TIMEOUT_BLOCKS - 1] {
        let out = pair.b.ch.best_block_updated(h).unwrap();
        assert!(out.persist.is_none(), "nothing changes while waiting");
        pair.b.apply(out);
        assert_eq!(timed_out(&pair.b.take_events()), None, "height {h}");
    }
    // A restart keeps the start of the wait.
    pair.b.restart();
    assert_eq!(pair.b.ch.state().funding_wait_since, Some(start));
    let out = pair
        .b
        .ch
        .best_block_updated(start + FUNDING_TIMEOUT_BLOCKS)
        .unwrap();
    pair.b.apply(out);
    assert_eq!(timed_out(&pair.b.take_events()), Some(start));
    // Until the host drops the channel, every block says so again.
    let out = pair
        .b
        .ch
        .best_block_updated(start + FUNDING_TIMEOUT_BLOCKS + 1)
        .unwrap();
    pair.b.apply(out);
    assert_eq!(timed_out(&pair.b.take_events()), Some(start));
    // The record's keys, for the host to remove.
    let keys = pair.b.ch.record_keys();
    assert!(keys[0].ends_with("/snapshot"), "{keys:?}");
    for k in pair.b.stored_keys() {
        assert!(keys.contains(&k), "{k} is not in {keys:?}");
    }
}

#[test]
fn the_funder_never_forgets_and_confirmation_stops_the_clock() {
    let mut pair = funded_unconfirmed();
    for h in [1_000, 1_000 + 10 * FUNDING_TIMEOUT_BLOCKS] {
        let out = pair.a.ch.best_block_updated(h).unwrap();
        pair.a.apply(out);
        assert_eq!(timed_out(&pair.a.take_events()), None, "funder at {h}");
    }
    assert_eq!(pair.a.ch.state().funding_wait_since, None);

    let mut pair = funded_unconfirmed();
    let out = pair.b.ch.best_block_updated(1_000).unwrap();
    pair.b.apply(out);
    let funding_tx = pair.a.ch.state().funding_tx.clone().unwrap();
    let out = pair
        .b
        .ch
        .funding_confirmed(&funding_tx, 1, ShortChannelId::new(1_000, 1, 1))
        .unwrap();
    pair.b.apply(out);
    let out = pair
        .b
        .ch
        .best_block_updated(1_000 + FUNDING_TIMEOUT_BLOCKS + 5)
        .unwrap();
    pair.b.apply(out);
    assert_eq!(timed_out(&pair.b.take_events()), None);
    assert_eq!(pair.b.ch.state().funding_wait_since, None);
}
