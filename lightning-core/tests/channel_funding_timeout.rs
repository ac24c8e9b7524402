//! BOLT 2, "The `channel_ready` Message": a fundee "SHOULD forget the
//! channel if it does not see the correct funding transaction after a
//! timeout of 2016 blocks". The funder never forgets (its funds are in the
//! channel), and a confirmed funding transaction stops the clock.
#![allow(clippy::unwrap_used)]

mod channel_harness;
mod common;

use channel_harness::*;
use lightning_core::channel::{Channel, ChannelEvent, Phase, FUNDING_TIMEOUT_BLOCKS};
use lightning_core::keys::KeysManager;
use lightning_wire::msgs::Message;
use lightning_wire::types::{ChannelId, ShortChannelId};

/// A (funder) and B (fundee) after `funding_signed`: funded, unconfirmed.
fn funded_unconfirmed() -> Pair {
    let o = OpenOptions::default();
    let ka = KeysManager::new(&[1; 32]).unwrap();
    let kb = KeysManager::new(&[2; 32]).unwrap();
    let (a_ch, open) = Channel::new_outbound(
        ka.derive_channel_signer(7).unwrap(),
        o.a_config.clone(),
        7,
        ChannelId([9; 32]),
        o.funding_sat,
        o.push_msat,
        o.feerate,
    )
    .unwrap();
    let (b_ch, accept) = Channel::from_open_channel(
        kb.derive_channel_signer(3).unwrap(),
        o.b_config.clone(),
        3,
        &open,
    )
    .unwrap();
    let mut a = node(1, o.a_config, a_ch);
    let b = node(2, o.b_config, b_ch);
    let out =
        a.ch.handle_message(&Message::AcceptChannel(accept))
            .unwrap();
    a.apply(out);
    let Some(ChannelEvent::FundingNeeded {
        script_pubkey,
        funding_satoshis,
        ..
    }) = a.take_events().pop()
    else {
        panic!("no FundingNeeded")
    };
    let tx = funding_tx(script_pubkey.clone(), funding_satoshis);
    let out = a.ch.funding_transaction(tx).unwrap();
    a.apply(out);
    let mut pair = Pair {
        a,
        b,
        funding_output: bitcoin::TxOut {
            value: bitcoin::Amount::from_sat(funding_satoshis),
            script_pubkey,
        },
        verifier: None,
    };
    pair.deliver_a_to_b().unwrap(); // funding_created
    pair.deliver_b_to_a().unwrap(); // funding_signed
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
    let out = pair
        .b
        .ch
        .funding_confirmed(1, ShortChannelId::new(1_000, 1, 1))
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
