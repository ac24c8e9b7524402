//! The fundee checks the funding output from the confirmed transaction
//! itself (issue 13, finding 3; the class of CVE-2019-12998, -12999 and
//! -13000): a funder that names a missing output, one short of
//! `funding_satoshis`, or one paying another script never gets a usable
//! channel, whether blocks arrive whole or through a light client's
//! filter.
#![allow(clippy::unwrap_used)]

mod funding_support;

use funding_support::{channel_id_of, Feed, Funding, Hostile};
use lightning_core::channel::Phase;
use lightning_core::node::NodeError;
use lightning_wire::msgs::Message;

/// Runs one open with `funding` fed by `feed`, up to 6 confirmations with
/// the attacker's `channel_ready` in between.
fn run(funding: Funding, feed: Feed) -> (Hostile, lightning_wire::types::ChannelId) {
    let mut h = Hostile::with_defaults(feed);
    let (tx, outpoint) = h.open_and_fund(funding);
    h.send_channel_ready(outpoint);
    h.mine(1, &tx);
    h.mine(5, &tx);
    h.send_channel_ready(outpoint);
    (h, channel_id_of(outpoint))
}

#[test]
fn an_honest_funding_output_makes_a_usable_channel() {
    for feed in [Feed::FullBlocks, Feed::LightClient] {
        let (h, id) = run(Funding::Honest, feed);
        assert!(h.became_ready(), "{feed:?}: {:?}", h.events);
        let ch = h.victim.list_channels();
        assert!(
            ch.iter().any(|c| c.channel_id == id && c.is_usable),
            "{feed:?}"
        );
        assert_eq!(h.closed_reason(), None);
        // The pushed balance pays: the refusal below is not for want of it.
        let mut h = h;
        let invoice = h.attacker_invoice(10_000_000);
        let now = h.now;
        h.victim.pay_invoice(&invoice, now).unwrap();
    }
}

#[test]
fn a_bad_funding_output_fails_the_channel_and_never_carries_a_payment() {
    // Every case runs; the failures are listed together.
    let mut wrong = Vec::new();
    for funding in [
        Funding::WrongAmount,
        Funding::WrongScript,
        Funding::MissingIndex,
    ] {
        for feed in [Feed::FullBlocks, Feed::LightClient] {
            let case = format!("{funding:?} / {feed:?}");
            let (mut h, id) = run(funding, feed);
            if h.became_ready() {
                wrong.push(format!("{case}: the channel became ready"));
            }
            match h.closed_reason() {
                Some(reason) if reason.contains("funding transaction") => {}
                other => wrong.push(format!("{case}: not failed for its funding: {other:?}")),
            }
            let details = h.victim.list_channels();
            let ch = details.iter().find(|c| c.channel_id == id);
            if !ch.is_none_or(|c| !c.is_usable && c.phase == Phase::Failed) {
                wrong.push(format!("{case}: {ch:?}"));
            }
            // BOLT 2 "fail the channel": the peer is told with an `error`.
            if !h
                .received
                .iter()
                .any(|m| matches!(m, Message::Error(e) if e.channel_id == id))
            {
                wrong.push(format!("{case}: no error sent"));
            }
            // A payment over it is refused.
            let invoice = h.attacker_invoice(10_000_000);
            let now = h.now;
            match h.victim.pay_invoice(&invoice, now) {
                Err(NodeError::NoRoute { .. }) => {}
                other => wrong.push(format!("{case}: payment attempt gave {other:?}")),
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The inbound policy: a configurable largest channel, refused with an
/// `error` of our own bounded words; the `minimum_depth` we send is the
/// configured one and never 0 for an untrusted peer; zero-conf only for a
/// trusted peer.
#[test]
fn inbound_max_funding_and_minimum_depth() {
    use std::sync::Arc;
    let fees = || -> Arc<dyn lightning_chain::FeeEstimator + Send + Sync> {
        Arc::new(lightning_chain::FixedFeeEstimator::new(
            lightning_chain::FeeRate::from_sat_per_kw(1000),
        ))
    };
    let mut config = funding_support::victim_config();
    config.channel.limits.max_funding_satoshis = 500_000;
    let mut h = Hostile::new(config.clone(), fees(), Feed::FullBlocks);
    match h.open_only(500_001, false) {
        Message::Error(e) => {
            let text = String::from_utf8(e.data).unwrap();
            assert!(
                text.contains("funding_satoshis 500001") && text.contains("500000"),
                "{text}"
            );
            assert!(text.len() < 200, "{text}");
        }
        other => panic!("accepted above the maximum: {other:?}"),
    }
    let mut h = Hostile::new(config.clone(), fees(), Feed::FullBlocks);
    assert!(matches!(
        h.open_only(500_000, false),
        Message::AcceptChannel(_)
    ));

    for (configured, sent) in [(0, 1), (1, 1), (6, 6)] {
        let mut config = funding_support::victim_config();
        config.channel.minimum_depth = configured;
        let mut h = Hostile::new(config, fees(), Feed::FullBlocks);
        match h.open_only(1_000_000, false) {
            Message::AcceptChannel(a) => {
                assert_eq!(a.minimum_depth, sent, "configured {configured}")
            }
            other => panic!("{other:?}"),
        }
    }
    // Zero-conf asked by an untrusted peer is refused; a trusted one gets 0.
    let mut h = Hostile::new(funding_support::victim_config(), fees(), Feed::FullBlocks);
    assert!(matches!(h.open_only(1_000_000, true), Message::Error(_)));
    let mut config = funding_support::victim_config();
    config
        .trusted_zeroconf_peers
        .push(funding_support::attacker_secret().public_key(bitcoin::secp256k1::SECP256K1));
    let mut h = Hostile::new(config, fees(), Feed::FullBlocks);
    match h.open_only(1_000_000, true) {
        Message::AcceptChannel(a) => assert_eq!(a.minimum_depth, 0),
        other => panic!("{other:?}"),
    }
}
