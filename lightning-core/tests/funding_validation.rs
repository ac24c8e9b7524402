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

/// A zero-conf channel (trusted peers only) is usable before any
/// confirmation; when its funding transaction confirms with a bad output,
/// it is failed all the same.
#[test]
fn a_zero_conf_channel_is_failed_when_its_bad_funding_confirms() {
    use std::sync::Arc;
    for (funding, fails) in [(Funding::Honest, false), (Funding::WrongScript, true)] {
        let mut config = funding_support::victim_config();
        config
            .trusted_zeroconf_peers
            .push(funding_support::attacker_secret().public_key(bitcoin::secp256k1::SECP256K1));
        let fees = Arc::new(lightning_chain::FixedFeeEstimator::new(
            lightning_chain::FeeRate::from_sat_per_kw(1000),
        ));
        let mut h = Hostile::new(config, fees, Feed::LightClient);
        let (tx, outpoint) = h.open_and_fund_with(funding, true);
        h.send_channel_ready(outpoint);
        assert!(h.became_ready(), "{funding:?}: zero-conf is ready at once");
        h.mine(1, &tx);
        let id = channel_id_of(outpoint);
        let usable = h
            .victim
            .list_channels()
            .iter()
            .any(|c| c.channel_id == id && c.is_usable);
        assert_eq!(usable, !fails, "{funding:?}");
        assert_eq!(
            h.closed_reason()
                .is_some_and(|r| r.contains("funding transaction")),
            fails,
            "{funding:?}: {:?}",
            h.events
        );
    }
}

/// The funder checks the transaction the host hands it: no output of
/// `funding_satoshis` to the 2-of-2, no `funding_created`.
#[test]
fn the_funder_checks_its_own_funding_transaction() {
    use bitcoin::{Amount, ScriptBuf, TxOut};
    use lightning_core::channel::{Channel, ChannelError, ChannelEvent};
    use lightning_core::keys::KeysManager;
    use lightning_test_support::pair::{config, funding_tx};
    use lightning_wire::types::ChannelId;
    let a = KeysManager::new(&[1; 32]).unwrap();
    let b = KeysManager::new(&[2; 32]).unwrap();
    let (mut funder, open) = Channel::new_outbound(
        a.derive_channel_signer(0).unwrap(),
        config(0xaa),
        0,
        ChannelId([7; 32]),
        1_000_000,
        0,
        2500,
    )
    .unwrap();
    let (_, accept) =
        Channel::from_open_channel(b.derive_channel_signer(0).unwrap(), config(0xbb), 0, &open)
            .unwrap();
    let out = funder
        .handle_message(&Message::AcceptChannel(accept))
        .unwrap();
    let Some(ChannelEvent::FundingNeeded { script_pubkey, .. }) = out.events.first().cloned()
    else {
        panic!("no FundingNeeded")
    };
    let mut short = funding_tx(script_pubkey.clone(), 999_999);
    let mut elsewhere = funding_tx(ScriptBuf::new_op_return([1]), 1_000_000);
    for tx in [&mut short, &mut elsewhere] {
        assert!(matches!(
            funder.funding_transaction(tx.clone()),
            Err(ChannelError::InvalidArgument(_))
        ));
        // A second output elsewhere changes nothing.
        tx.output.push(TxOut {
            value: Amount::from_sat(5_000),
            script_pubkey: ScriptBuf::new_op_return([2]),
        });
        assert!(funder.funding_transaction(tx.clone()).is_err());
    }
    assert!(!funder.state().funding_verified);
    funder
        .funding_transaction(funding_tx(script_pubkey, 1_000_000))
        .unwrap();
    assert!(funder.state().funding_verified);
}

/// The record: `funding_verified` is odd field 21, written once true. A
/// record written before it existed (`tests/data/channel_record_v1.hex`, a
/// fundee right after `funding_signed`) reads as unchecked, and the
/// restored channel sends `channel_ready` only once the confirmed
/// transaction itself passes the check.
#[test]
fn an_older_record_reads_as_unchecked_and_checks_on_confirmation() {
    use lightning_core::channel::record::{decode_snapshot, encode_snapshot};
    use lightning_core::channel::Channel;
    use lightning_core::keys::KeysManager;
    use lightning_test_support::pair::{config, funding_tx};
    use lightning_wire::types::ShortChannelId;

    let old = hex::decode(include_str!("data/channel_record_v1.hex").trim()).unwrap();
    let (st, seq) = decode_snapshot(&old).unwrap();
    assert!(!st.funding_verified);
    assert_eq!(st.phase, Phase::AwaitingChannelReady);
    // Field 21 round-trips once set.
    let mut checked = st.clone();
    checked.funding_verified = true;
    let bytes = encode_snapshot(&checked, seq);
    assert_eq!(decode_snapshot(&bytes).unwrap().0, checked);
    assert_ne!(bytes, encode_snapshot(&st, seq));

    let keys = KeysManager::new(&[2; 32]).unwrap();
    let mut ch = Channel::restore(
        keys.derive_channel_signer(st.keys_index).unwrap(),
        config(0xbb),
        &old,
        &[],
    )
    .unwrap();
    let spk = ch.funding_script_pubkey().unwrap();
    let scid = ShortChannelId::new(100, 1, 1);
    // A transaction with the right txid cannot be forged; one with another
    // txid is refused as the host's mistake, and checks nothing.
    let other = funding_tx(spk.clone(), st.funding_satoshis - 1);
    assert!(ch.funding_confirmed(&other, 1, scid).is_err());
    assert!(!ch.state().funding_verified);
    let _ = ch.best_block_updated(10).unwrap();
    assert!(!ch.state().channel_ready_sent, "depth alone is not enough");
    let good = funding_tx(spk, st.funding_satoshis);
    assert_eq!(
        Some(good.compute_txid()),
        st.funding_outpoint.map(|o| o.txid),
        "the record's funding transaction"
    );
    let out = ch.funding_confirmed(&good, 1, scid).unwrap();
    assert!(ch.state().funding_verified);
    assert!(ch.state().channel_ready_sent);
    assert!(out.persist.is_some(), "the check is written");
}
