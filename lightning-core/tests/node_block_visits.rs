//! Issue 15: a block visits only the channels with something to do at it
//! (`Node::channels_to_visit_at_next_block`): an idle channel is skipped,
//! one carrying an HTLC is visited at every block until the HTLC is gone,
//! and a channel skipped for many blocks still reads the current height
//! (its cooperative close's locktime).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod forward_support;

use forward_support::Line;
use lightning_core::node::{PaymentPreimage, PaymentStatus};
use lightning_wire::features::Feature;

const AMOUNT: u64 = 30_000_000;

fn visits(line: &Line) -> Vec<usize> {
    line.members
        .iter()
        .map(|m| m.node.channels_to_visit_at_next_block())
        .collect()
}

#[test]
fn blocks_visit_busy_channels_only_and_idle_ones_read_the_current_height() {
    // `option_simple_close`: the closing transaction's locktime is the
    // closer's best height (BOLT 2 `closing_complete`).
    let mut line = Line::new(3, |_, c| {
        c.channel.simple_close = true;
        c.features.set_optional(Feature::SimpleClose);
    });
    let ab = line.open_channel(0, 1, 1_000_000, 0);
    let bc = line.open_channel(1, 2, 1_000_000, 0);
    // Past the announcement depth, then one more block to settle.
    line.mine(7);
    for m in &mut line.members {
        m.take_events();
    }
    assert_eq!(visits(&line), [0, 0, 0], "idle channels are not visited");

    // C holds an HTLC of A's through B: A - B and B - C carry it.
    let preimage = PaymentPreimage([0x61; 32]);
    let hash = line.pay_held(ab, bc, preimage, AMOUNT);
    for _ in 0..3 {
        line.mine(1);
        assert_eq!(visits(&line), [1, 2, 1], "the HTLC's channels, every block");
    }
    let now = line.now;
    line.members[2].node.claim_for_hash(preimage, now).unwrap();
    line.shuttle();
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Succeeded)
    );
    line.mine(1);
    assert_eq!(visits(&line), [0, 0, 0], "idle again once the HTLC is gone");

    // Twenty blocks with no visit: the close still uses the height now.
    line.mine(20);
    assert_eq!(visits(&line), [0, 0, 0]);
    let height = line.chain.best_block().height;
    line.members[0].node.close_channel(ab).unwrap();
    line.shuttle();
    let funding = line.members[0]
        .node
        .list_channels()
        .into_iter()
        .find(|c| c.channel_id == ab)
        .and_then(|c| c.funding_txo);
    let close = line
        .chain
        .mempool()
        .into_iter()
        .find(|tx| tx.input.iter().any(|i| Some(i.previous_output) == funding))
        .expect("the closing transaction");
    assert_eq!(close.lock_time.to_consensus_u32(), height);
}
