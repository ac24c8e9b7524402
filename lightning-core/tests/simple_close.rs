//! `option_simple_close` cannot burn or hold back our balance (issue 13,
//! finding 4; BOLT 2, "Closing Negotiation: `closing_complete` and
//! `closing_sig`"). Funder A (the closer here) and fundee B, both with a
//! balance well above dust.
#![allow(clippy::unwrap_used)]

mod funding_support;

use bitcoin::absolute::LockTime;
use bitcoin::Amount;
use lightning_core::amount::Msat;
use lightning_core::channel::{ChannelError, ErrorAction, Phase};
use lightning_core::keys::ChannelSigner;
use lightning_core::transactions::closing::{
    build_simple_closing_transaction, ClosingOutput, SimpleCloseVariant,
};
use lightning_test_support::pair::{open, OpenOptions, Pair};
use lightning_wire::msgs::{ClosingComplete, ClosingSig, ClosingTlvs, Message};

/// A simple-close channel whose nodes are at heights `a_height` and
/// `b_height`; A starts the close. Returns the pair with A's
/// `closing_complete` taken out of A's outbox.
fn a_closes(a_height: u32, b_height: u32) -> (Pair, ClosingComplete) {
    a_closes_with(a_height, b_height, OpenOptions::default())
}

fn a_closes_with(a_height: u32, b_height: u32, mut o: OpenOptions) -> (Pair, ClosingComplete) {
    o.a_config.simple_close = true;
    o.b_config.simple_close = true;
    let mut pair = open(o);
    let out = pair.a.ch.best_block_updated(a_height).unwrap();
    pair.a.apply(out);
    let out = pair.b.ch.best_block_updated(b_height).unwrap();
    pair.b.apply(out);
    let out = pair.a.ch.shutdown().unwrap();
    pair.a.apply(out);
    pair.deliver_a_to_b().unwrap(); // shutdown
    pair.deliver_b_to_a().unwrap(); // shutdown
    let Some(Message::ClosingComplete(cc)) = pair.a.outbox.pop_front() else {
        panic!("no closing_complete: {:?}", pair.a.outbox)
    };
    (pair, cc)
}

fn to_b(pair: &mut Pair, cc: ClosingComplete) -> Result<(), ChannelError> {
    let out = pair.b.ch.handle_message(&Message::ClosingComplete(cc))?;
    pair.b.apply(out);
    Ok(())
}

/// Whether B's error is a refusal that keeps the channel (a `warning`).
fn refused(r: &Result<(), ChannelError>) -> bool {
    matches!(r, Err(e) if e.action() == ErrorAction::Warn)
}

#[test]
fn an_honest_close_keeps_both_outputs() {
    let (mut pair, cc) = a_closes(800_000, 800_000);
    // Neither side is dust, and A holds more: A offers both variants and
    // never one without its own output.
    assert!(cc.tlvs.closer_output_only.is_some());
    assert!(cc.tlvs.closer_and_closee_outputs.is_some());
    assert!(cc.tlvs.closee_output_only.is_none());
    assert_eq!(cc.locktime, 800_000);
    to_b(&mut pair, cc).unwrap();
    pair.run_until_quiet();
    for n in [&pair.a, &pair.b] {
        assert_eq!(n.ch.phase(), Phase::Closed);
        let tx = n.ch.state().closing_tx.as_ref().unwrap();
        assert_eq!(tx.output.len(), 2, "both outputs kept");
    }
}

/// BOLT 2, the sender of `closing_complete`: "If the local outstanding
/// balance [...] is less than the remote outstanding balance: MUST NOT set
/// `closer_output_only`". A closer with less than its peer offers only the
/// transaction with both outputs.
#[test]
fn a_lesser_closer_offers_only_both_outputs() {
    let o = OpenOptions {
        push_msat: 6_000_000_000,
        ..OpenOptions::default()
    };
    let (mut pair, cc) = a_closes_with(800_000, 800_000, o);
    assert!(pair.a.ch.local_balance_msat() < pair.b.ch.local_balance_msat());
    assert!(
        cc.tlvs.closer_output_only.is_none(),
        "closer_output_only set"
    );
    assert!(cc.tlvs.closee_output_only.is_none());
    assert!(cc.tlvs.closer_and_closee_outputs.is_some());
    to_b(&mut pair, cc).unwrap();
    pair.run_until_quiet();
    assert_eq!(pair.a.ch.phase(), Phase::Closed);
}

/// BOLT 2: the closee uses `closer_and_closee_outputs` (or
/// `closee_output_only`), and `closer_output_only` only when its own output
/// is dust. A closer offering nothing else must not get our signature on a
/// transaction that drops our 4,000,000 sat.
#[test]
fn the_closee_never_signs_away_its_output() {
    let (mut pair, mut cc) = a_closes(800_000, 800_000);
    cc.tlvs.closer_and_closee_outputs = None;
    let r = to_b(&mut pair, cc);
    assert!(refused(&r), "{r:?}");
    assert_eq!(pair.b.ch.phase(), Phase::ShuttingDown);
    assert!(pair.b.ch.state().closing_tx.is_none());
    assert!(!pair
        .b
        .outbox
        .iter()
        .any(|m| matches!(m, Message::ClosingSig(_))));
}

/// BOLT 2: "If `fee_satoshis` is greater than the closer's outstanding
/// balance: MUST either send a `warning` [...] or send an `error`".
#[test]
fn a_fee_above_the_closers_balance_is_refused() {
    let (mut pair, mut cc) = a_closes(800_000, 800_000);
    cc.fee_satoshis = pair.a.ch.local_balance_msat() / 1000 + 1;
    let r = to_b(&mut pair, cc);
    assert!(refused(&r), "{r:?}");
    assert!(
        r.unwrap_err()
            .to_string()
            .contains("above the closer's balance"),
        "named for what it is"
    );
    assert_eq!(pair.b.ch.phase(), Phase::ShuttingDown);
}

/// A `locktime` far above our tip would hold our output in a transaction
/// that cannot confirm until then: refused; a few blocks ahead is fine.
#[test]
fn a_far_locktime_is_refused() {
    let (mut pair, cc) = a_closes(900_000, 800_000);
    assert_eq!(cc.locktime, 900_000, "signed by A as it is");
    let r = to_b(&mut pair, cc);
    assert!(refused(&r), "{r:?}");
    assert!(pair.b.ch.state().closing_tx.is_none());

    let (mut pair, cc) = a_closes(800_006, 800_000);
    to_b(&mut pair, cc).unwrap();
    assert_eq!(pair.b.ch.phase(), Phase::Closed);
}

/// BOLT 2, the receiver of `closing_sig`: scripts, `fee_satoshis` and
/// `locktime` must be what our `closing_complete` said. A closee that
/// answers with a validly signed transaction paying a fee of almost all
/// our balance must not get it broadcast.
#[test]
fn closing_sig_must_echo_our_closing_complete() {
    let (mut pair, cc) = a_closes(800_000, 800_000);
    let a_balance = pair.a.ch.local_balance_msat();
    let greedy_fee = a_balance / 1000 - 1_000;
    let tx = build_simple_closing_transaction(
        pair.a.ch.state().funding_outpoint.unwrap(),
        &ClosingOutput {
            script_pubkey: bitcoin::ScriptBuf::from_bytes(cc.closer_scriptpubkey.clone()),
            balance: Msat(a_balance),
        },
        &ClosingOutput {
            script_pubkey: bitcoin::ScriptBuf::from_bytes(cc.closee_scriptpubkey.clone()),
            balance: Msat(pair.b.ch.local_balance_msat()),
        },
        Amount::from_sat(greedy_fee),
        LockTime::from_consensus(cc.locktime),
        SimpleCloseVariant::CloserAndCloseeOutputs,
    )
    .unwrap();
    let funding = Amount::from_sat(pair.a.ch.state().funding_satoshis);
    let sig = pair
        .b
        .ch
        .signer()
        .sign_closing_transaction(&tx, funding)
        .unwrap();
    let reply = Message::ClosingSig(ClosingSig {
        channel_id: cc.channel_id,
        closer_scriptpubkey: cc.closer_scriptpubkey.clone(),
        closee_scriptpubkey: cc.closee_scriptpubkey.clone(),
        fee_satoshis: greedy_fee,
        locktime: cc.locktime,
        tlvs: ClosingTlvs {
            closer_and_closee_outputs: Some(sig.signature),
            ..ClosingTlvs::default()
        },
    });
    let r = pair.a.ch.handle_message(&reply).map(|_| ());
    assert!(refused(&r), "{r:?}");
    assert_eq!(pair.a.ch.phase(), Phase::ShuttingDown);
    assert!(pair.a.ch.state().closing_tx.is_none());
}

/// `closing_complete` only when both `init`s advertised
/// `option_simple_close` (BOLT 2: "If `option_simple_close` is not
/// negotiated, see Legacy Closing Negotiation"), whatever the channel
/// template says. The victim (fundee) starts the close: with simple close
/// it would send `closing_complete`; in the legacy mode the funder speaks
/// first.
#[test]
fn simple_close_only_when_negotiated() {
    use funding_support::{channel_id_of, Feed, Funding, Hostile};
    use lightning_wire::features::Feature;
    use lightning_wire::msgs::Shutdown;
    use std::sync::Arc;
    let mut wrong = Vec::new();
    for negotiated in [false, true] {
        let mut config = funding_support::victim_config();
        config.channel.simple_close = true;
        let mut theirs = lightning_core::node::NodeConfig::default_features();
        if negotiated {
            config.features.set_optional(Feature::SimpleClose);
            theirs.set_optional(Feature::SimpleClose);
        }
        let fees = Arc::new(lightning_chain::FixedFeeEstimator::new(
            lightning_chain::FeeRate::from_sat_per_kw(1000),
        ));
        let mut h = Hostile::with_features(config, fees, Feed::FullBlocks, theirs);
        let (tx, outpoint) = h.open_and_fund(Funding::Honest);
        h.mine(3, &tx);
        h.send_channel_ready(outpoint);
        let id = channel_id_of(outpoint);
        assert!(h.became_ready());
        h.victim.close_channel(id).unwrap();
        h.shuttle();
        h.send(&Message::Shutdown(Shutdown {
            channel_id: id,
            scriptpubkey: [&[0x00, 0x14][..], &[0x21; 20]].concat(),
            tlvs: Default::default(),
        }));
        let sent = h
            .received
            .iter()
            .any(|m| matches!(m, Message::ClosingComplete(_)));
        if sent != negotiated {
            wrong.push(format!(
                "negotiated {negotiated}: closing_complete sent {sent}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
