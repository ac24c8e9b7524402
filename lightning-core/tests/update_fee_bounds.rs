//! `update_fee` is judged against the host's `FeeEstimator` of the moment
//! (issue 13, finding 9): the floor is its `MinAllowedRemoteFee`, the
//! ceiling its `MaxAllowedRemoteFee` when that is above the urgent
//! estimate, else ten times the urgent estimate; both move with the
//! estimates, refreshed at every block.
#![allow(clippy::unwrap_used)]

mod funding_support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use funding_support::{channel_id_of, Feed, Funding, Hostile};
use lightning_chain::{ConfirmationTarget, FeeEstimator, FeeRate};
use lightning_wire::msgs::{Message, UpdateFee};
use lightning_wire::types::ChannelId;

/// A host whose estimates the test moves.
#[derive(Debug, Default)]
struct Estimates {
    min: AtomicU32,
    urgent: AtomicU32,
    max: AtomicU32,
}

impl FeeEstimator for Estimates {
    fn fee_rate(&self, target: ConfirmationTarget) -> FeeRate {
        let v = match target {
            ConfirmationTarget::MinAllowedRemoteFee => &self.min,
            ConfirmationTarget::UrgentOnChainSweep => &self.urgent,
            ConfirmationTarget::MaxAllowedRemoteFee => &self.max,
            _ => return FeeRate::from_sat_per_kw(1000),
        };
        FeeRate::from_sat_per_kw(v.load(Ordering::SeqCst))
    }
}

/// An honest channel from the peer (open at 1000 sat/kw), usable; then the
/// estimates become `(min, urgent, max)` and a block passes.
fn usable_channel(min: u32, urgent: u32, max: u32) -> (Hostile, ChannelId) {
    let fees = Arc::new(Estimates::default());
    for (a, v) in [(&fees.min, 500), (&fees.urgent, 2_000), (&fees.max, 2_000)] {
        a.store(v, Ordering::SeqCst);
    }
    let mut h = Hostile::new(
        funding_support::victim_config(),
        fees.clone(),
        Feed::FullBlocks,
    );
    let (tx, outpoint) = h.open_and_fund(Funding::Honest);
    h.mine(3, &tx);
    h.send_channel_ready(outpoint);
    assert!(h.became_ready(), "{:?}", h.events);
    for (a, v) in [(&fees.min, min), (&fees.urgent, urgent), (&fees.max, max)] {
        a.store(v, Ordering::SeqCst);
    }
    h.mine(1, &tx);
    (h, channel_id_of(outpoint))
}

fn update_fee(h: &mut Hostile, id: ChannelId, feerate_per_kw: u32) -> Option<String> {
    h.send(&Message::UpdateFee(UpdateFee {
        channel_id: id,
        feerate_per_kw,
        tlvs: Default::default(),
    }));
    h.closed_reason()
}

#[test]
fn update_fee_bounds_come_from_the_fee_estimator() {
    let mut wrong = Vec::new();
    // Ceiling: MaxAllowedRemoteFee (30,000) above urgent (3,000) is it.
    let (mut h, id) = usable_channel(1_000, 3_000, 30_000);
    if let Some(r) = update_fee(&mut h, id, 30_000) {
        wrong.push(format!(
            "30,000 within [1000, 30000] failed the channel: {r}"
        ));
    }
    match update_fee(&mut h, id, 30_001) {
        Some(r) if r.contains("30001 is outside [1000, 30000]") => {}
        other => wrong.push(format!("30,001 above the ceiling: {other:?}")),
    }
    // Ceiling: a MaxAllowedRemoteFee not above urgent gives 10 x urgent.
    let (mut h, id) = usable_channel(1_000, 3_000, 3_000);
    match update_fee(&mut h, id, 30_001) {
        Some(r) if r.contains("outside [1000, 30000]") => {}
        other => wrong.push(format!("10 x urgent ceiling: {other:?}")),
    }
    // Floor: estimates rose after the open; the new floor holds.
    let (mut h, id) = usable_channel(2_000, 3_000, 30_000);
    match update_fee(&mut h, id, 1_999) {
        Some(r) if r.contains("1999 is outside [2000, 30000]") => {}
        other => wrong.push(format!("1,999 below the floor: {other:?}")),
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
