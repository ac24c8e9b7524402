//! Two `Channel`s (funder A, fundee B, keys from different seeds) wired in
//! process: establishment of both channel types and zero-conf, payments both
//! ways, failures, fee updates, disconnection and restarts in the middle of
//! the commitment dance, both cooperative close methods, the record format,
//! and one negative test per MUST-fail rule. Every commitment held is
//! checked with libbitcoinconsensus against the funding output.
#![allow(clippy::unwrap_used, clippy::cloned_ref_to_slice_refs)]

mod channel_harness;
mod common;

use channel_harness::*;
use lightning_core::channel::update_log::{Side, Which};
use lightning_core::channel::{ChannelError, ChannelEvent, ErrorAction, Phase};
use lightning_core::keys::ChannelSigner;
use lightning_test_support::verify::verify;
use lightning_wire::msgs::*;
use lightning_wire::types::{PaymentHash, PaymentPreimage};

fn send(pair: &mut Pair, from_a: bool, amount_msat: u64, n: u64) -> u64 {
    let (_, hash) = preimage(n);
    let node = if from_a { &mut pair.a } else { &mut pair.b };
    let (id, out) = node
        .ch
        .send_htlc(amount_msat, hash, 700_000, ONION.to_vec())
        .unwrap();
    node.apply(out);
    let out = node.ch.commit().unwrap();
    node.apply(out);
    pair.run_until_quiet();
    id
}

fn received(node: &mut Node) -> Vec<u64> {
    node.take_events()
        .into_iter()
        .filter_map(|e| match e {
            ChannelEvent::HtlcReceived { htlc_id, .. } => Some(htlc_id),
            _ => None,
        })
        .collect()
}

/// A pays B `amount` and B claims it.
fn pay(pair: &mut Pair, from_a: bool, amount_msat: u64, n: u64) {
    let id = send(pair, from_a, amount_msat, n);
    let payee = if from_a { &mut pair.b } else { &mut pair.a };
    assert_eq!(received(payee), vec![id]);
    let out = payee.ch.fulfill_htlc(id, preimage(n).0).unwrap();
    payee.apply(out);
    let out = payee.ch.commit().unwrap();
    payee.apply(out);
    pair.run_until_quiet();
}

fn balances(pair: &Pair) -> (u64, u64) {
    let v = pair.a.ch.state().log.view(Side::Local, Which::Current);
    (v.holder_msat, v.counterparty_msat)
}

#[test]
fn open_static_remotekey_and_anchors_and_pay_both_ways() {
    for anchors in [false, true] {
        let mut o = OpenOptions::default();
        o.a_config.anchors = anchors;
        o.b_config.anchors = anchors;
        let mut pair = open(o);
        assert_eq!(pair.a.ch.state().channel_type.anchors, anchors);
        let (a0, b0) = balances(&pair);
        pay(&mut pair, true, 50_000_000, 1);
        assert!(pair
            .a
            .take_events()
            .iter()
            .any(|e| matches!(e, ChannelEvent::HtlcFulfilled { htlc_id: 0, .. })));
        pay(&mut pair, false, 20_000_000, 2);
        pair.check_agreement();
        let (a1, b1) = balances(&pair);
        assert_eq!(a1, a0 - 30_000_000);
        assert_eq!(b1, b0 + 30_000_000);
        assert!(pair.a.ch.state().log.updates().is_empty());
        assert_eq!(
            pair.a.ch.state().log.total_msat(),
            u128::from(pair.total_msat())
        );
    }
}

#[test]
fn zero_conf_with_alias_is_ready_without_confirmations() {
    let mut o = OpenOptions::default();
    for c in [&mut o.a_config, &mut o.b_config] {
        c.minimum_depth = 0;
        c.trusted_for_zeroconf = true;
        c.scid_alias = true;
    }
    o.a_config.local_alias = lightning_wire::types::ShortChannelId::new(16_000_000, 1, 0);
    o.b_config.local_alias = lightning_wire::types::ShortChannelId::new(16_000_000, 2, 0);
    // `open` confirms too; check readiness happens before by doing it by hand.
    let ka = lightning_core::keys::KeysManager::new(&[1; 32]).unwrap();
    let kb = lightning_core::keys::KeysManager::new(&[2; 32]).unwrap();
    let (a_ch, open_msg) = lightning_core::channel::Channel::new_outbound(
        ka.derive_channel_signer(0).unwrap(),
        o.a_config.clone(),
        0,
        lightning_wire::types::ChannelId([1; 32]),
        1_000_000,
        0,
        1000,
    )
    .unwrap();
    assert!(open_msg.tlvs.channel_type.is_some());
    let (b_ch, accept) = lightning_core::channel::Channel::from_open_channel(
        kb.derive_channel_signer(0).unwrap(),
        o.b_config.clone(),
        0,
        &open_msg,
    )
    .unwrap();
    assert_eq!(accept.minimum_depth, 0);
    let mut a = node(1, o.a_config, a_ch);
    let b = node(2, o.b_config, b_ch);
    let out =
        a.ch.handle_message(&Message::AcceptChannel(accept))
            .unwrap();
    a.apply(out);
    let Some(ChannelEvent::FundingNeeded { script_pubkey, .. }) = a.take_events().pop() else {
        panic!()
    };
    let out =
        a.ch.funding_transaction(funding_tx(script_pubkey.clone(), 1_000_000))
            .unwrap();
    a.apply(out);
    let mut pair = Pair {
        a,
        b,
        funding_output: bitcoin::TxOut {
            value: bitcoin::Amount::from_sat(1_000_000),
            script_pubkey,
        },
        verifier: Some(verify),
    };
    pair.run_until_quiet();
    assert_eq!(pair.a.ch.phase(), Phase::Normal);
    assert_eq!(pair.b.ch.phase(), Phase::Normal);
    assert!(pair.a.ch.state().channel_type.zeroconf);
    assert_eq!(
        pair.a.ch.state().remote_alias,
        lightning_wire::types::ShortChannelId::new(16_000_000, 2, 0)
    );
    pay(&mut pair, true, 10_000_000, 1);
    pair.check_agreement();
}

#[test]
fn zero_conf_from_an_untrusted_peer_is_refused() {
    let mut cfg = config(1);
    cfg.minimum_depth = 0;
    cfg.trusted_for_zeroconf = true;
    let ka = lightning_core::keys::KeysManager::new(&[1; 32]).unwrap();
    let (_, open_msg) = lightning_core::channel::Channel::new_outbound(
        ka.derive_channel_signer(0).unwrap(),
        cfg,
        0,
        lightning_wire::types::ChannelId([1; 32]),
        1_000_000,
        0,
        1000,
    )
    .unwrap();
    let err = lightning_core::channel::Channel::from_open_channel(
        ka.derive_channel_signer(1).unwrap(),
        config(2),
        1,
        &open_msg,
    )
    .unwrap_err();
    assert!(matches!(err, ChannelError::Establish(_)), "{err}");
}

#[test]
fn fail_and_fail_malformed_return_the_value() {
    let mut pair = open(OpenOptions::default());
    let (a0, _) = balances(&pair);
    let id = send(&mut pair, true, 30_000_000, 1);
    assert_eq!(received(&mut pair.b), vec![id]);
    let out = pair.b.ch.fail_htlc(id, vec![1, 2, 3]).unwrap();
    pair.b.apply(out);
    let out = pair.b.ch.commit().unwrap();
    pair.b.apply(out);
    pair.run_until_quiet();
    assert!(pair.a.take_events().iter().any(|e| matches!(
        e,
        ChannelEvent::HtlcFailed { htlc_id, reason: lightning_core::channel::HtlcFailReason::Onion(r), .. }
            if *htlc_id == id && r == &vec![1, 2, 3]
    )));
    let id = send(&mut pair, true, 30_000_000, 2);
    received(&mut pair.b);
    assert!(
        pair.b.ch.fail_malformed_htlc(id, [5; 32], 0x4005).is_err(),
        "needs BADONION"
    );
    let out = pair.b.ch.fail_malformed_htlc(id, [5; 32], 0xc005).unwrap();
    pair.b.apply(out);
    let out = pair.b.ch.commit().unwrap();
    pair.b.apply(out);
    pair.run_until_quiet();
    assert!(pair
        .a
        .take_events()
        .iter()
        .any(|e| matches!(e, ChannelEvent::HtlcFailed { htlc_id, .. } if *htlc_id == id)));
    assert_eq!(balances(&pair).0, a0);
    pair.check_agreement();
}

#[test]
fn update_fee_by_the_funder_is_committed() {
    let mut pair = open(OpenOptions::default());
    send(&mut pair, true, 30_000_000, 1);
    let out = pair.a.ch.update_fee(5000).unwrap();
    pair.a.apply(out);
    let out = pair.a.ch.commit().unwrap();
    pair.a.apply(out);
    pair.run_until_quiet();
    for n in [&pair.a, &pair.b] {
        assert_eq!(
            n.ch.state()
                .log
                .view(Side::Local, Which::Current)
                .feerate_per_kw,
            5000
        );
    }
    pair.check_agreement();
    assert!(matches!(
        pair.b.ch.update_fee(6000),
        Err(ChannelError::NotNow(_))
    ));
}

#[test]
fn disconnect_in_the_middle_of_the_dance_then_complete() {
    // Cut after every possible number of delivered messages.
    for cut in 0..6 {
        let mut pair = open(OpenOptions::default());
        let (_, hash) = preimage(1);
        let (id, out) = pair
            .a
            .ch
            .send_htlc(40_000_000, hash, 700_000, ONION.to_vec())
            .unwrap();
        pair.a.apply(out);
        let out = pair.a.ch.commit().unwrap();
        pair.a.apply(out);
        let mut delivered = 0;
        while delivered < cut && (!pair.a.outbox.is_empty() || !pair.b.outbox.is_empty()) {
            if !pair.a.outbox.is_empty() {
                pair.deliver_a_to_b().unwrap();
            } else {
                pair.deliver_b_to_a().unwrap();
            }
            delivered += 1;
        }
        pair.reconnect();
        pair.check_agreement();
        // Either it went through or it was dropped before being committed.
        let got = received(&mut pair.b);
        if got.is_empty() {
            assert_eq!(cut, 0, "only an uncommitted add may be dropped");
            continue;
        }
        assert_eq!(got, vec![id]);
        let out = pair.b.ch.fulfill_htlc(id, preimage(1).0).unwrap();
        pair.b.apply(out);
        let out = pair.b.ch.commit().unwrap();
        pair.b.apply(out);
        pair.run_until_quiet();
        pair.check_agreement();
        assert!(pair.a.ch.state().log.updates().is_empty());
    }
}

#[test]
fn restart_in_the_middle_and_between_persist_and_send() {
    for cut in 0..6 {
        for restart_a in [true, false] {
            let mut pair = open(OpenOptions::default());
            let (_, hash) = preimage(1);
            let (_, out) = pair
                .a
                .ch
                .send_htlc(40_000_000, hash, 700_000, ONION.to_vec())
                .unwrap();
            pair.a.apply(out);
            let out = pair.a.ch.commit().unwrap();
            pair.a.apply(out);
            // Each side's state as of its last write (an `update_*` alone
            // is not written: the peer sends it again).
            let mut written = [pair.a.ch.encoded_state(), pair.b.ch.encoded_state()];
            for _ in 0..cut {
                let writes = [pair.a.stats.writes, pair.b.stats.writes];
                if !pair.a.outbox.is_empty() {
                    pair.deliver_a_to_b().unwrap();
                } else if !pair.b.outbox.is_empty() {
                    pair.deliver_b_to_a().unwrap();
                }
                for (i, n) in [&pair.a, &pair.b].into_iter().enumerate() {
                    if n.stats.writes != writes[i] {
                        written[i] = n.ch.encoded_state();
                    }
                }
            }
            // The restarted node loses what it wrote but had not sent, and
            // what it had not written.
            let before = written[usize::from(!restart_a)].clone();
            if restart_a {
                pair.a.restart();
                assert_eq!(pair.a.ch.encoded_state(), before);
            } else {
                pair.b.restart();
                assert_eq!(pair.b.ch.encoded_state(), before);
            }
            pair.reconnect();
            pair.check_agreement();
            pay(&mut pair, false, 1_000_000, 9);
            pair.check_agreement();
        }
    }
}

#[test]
fn restore_after_every_write_reproduces_the_state() {
    let mut o = OpenOptions::default();
    o.a_config.snapshot_every = 3; // compaction happens often
    let mut pair = open(o);
    for i in 0..6 {
        pay(&mut pair, i % 2 == 0, 1_000_000 + i, i);
        for n in [&mut pair.a, &mut pair.b] {
            let expected = n.ch.encoded_state();
            let outbox = n.outbox.clone();
            n.restart();
            assert_eq!(n.ch.encoded_state(), expected);
            n.outbox = outbox;
        }
        pair.reconnect();
    }
    // Compaction left only a few update records.
    let updates = pair
        .a
        .stored_keys()
        .iter()
        .filter(|k| k.contains("/u/"))
        .count();
    assert!(updates < 3, "{updates} update records left");
}

#[test]
fn record_format_is_stable() {
    // A fundee's record right after funding_signed, written by this
    // version; it must stay readable.
    let pair = open(OpenOptions::default());
    let key = pair
        .b
        .stored_keys()
        .into_iter()
        .find(|k| k.ends_with("snapshot"))
        .unwrap();
    let snapshot = pair.b.stored(&key).unwrap();
    let (st, _) = lightning_core::channel::record::decode_snapshot(&snapshot).unwrap();
    assert_eq!(st.funding_satoshis, 10_000_000);
    if std::env::var("WRITE_RECORD_VECTOR").is_ok() {
        std::fs::write(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/channel_record_v1_updates.hex"
            ),
            hex::encode(&snapshot),
        )
        .unwrap();
    }
    // The record as this code writes it (the log in field 78, onions in
    // fields of their own) must not drift.
    let current = include_str!("data/channel_record_v1_updates.hex").trim();
    assert_eq!(hex::encode(&snapshot), current, "the record format changed");
    // A record of the first format (the whole log, onions inline, in field
    // 56) stays readable, and reads as the same state.
    let fixed = include_str!("data/channel_record_v1.hex").trim();
    let bytes = hex::decode(fixed).unwrap();
    let (old, seq) = lightning_core::channel::record::decode_snapshot(&bytes).unwrap();
    assert_eq!(seq, 1);
    assert_eq!(old.funding_satoshis, 10_000_000);
    assert_eq!(old.push_msat, 4_000_000_000);
    assert!(!old.is_funder);
    assert_eq!(old.keys_index, 3);
    assert_eq!(old.phase, Phase::AwaitingChannelReady);
    assert_eq!(old, st);
    assert_eq!(
        lightning_core::channel::record::encode_snapshot(&old, seq),
        snapshot,
        "an old record is written back in the current format"
    );
}

#[test]
fn cooperative_close_legacy_and_simple() {
    for simple in [false, true] {
        let mut o = OpenOptions::default();
        o.a_config.simple_close = simple;
        o.b_config.simple_close = simple;
        let mut pair = open(o);
        pay(&mut pair, true, 100_000_000, 1);
        // B initiates while an HTLC is pending: closing waits for it.
        let id = send(&mut pair, true, 5_000_000, 2);
        received(&mut pair.b);
        let out = pair.b.ch.shutdown().unwrap();
        pair.b.apply(out);
        pair.run_until_quiet();
        assert_eq!(pair.a.ch.phase(), Phase::ShuttingDown);
        assert!(matches!(
            pair.a
                .ch
                .send_htlc(1000, PaymentHash([0; 32]), 700_000, ONION.to_vec()),
            Err(ChannelError::NotNow(_))
        ));
        let out = pair.b.ch.fulfill_htlc(id, preimage(2).0).unwrap();
        pair.b.apply(out);
        let out = pair.b.ch.commit().unwrap();
        pair.b.apply(out);
        pair.run_until_quiet();
        for n in [&mut pair.a, &mut pair.b] {
            assert_eq!(n.ch.phase(), Phase::Closed, "simple={simple}");
            let tx = n
                .take_events()
                .into_iter()
                .find_map(|e| match e {
                    ChannelEvent::ChannelClosed { closing_tx, .. } => Some(closing_tx),
                    _ => None,
                })
                .unwrap();
            verify(&tx, &[pair.funding_output.clone()]).unwrap();
        }
        assert_eq!(pair.a.ch.state().closing_tx, pair.b.ch.state().closing_tx);
    }
}

#[test]
fn shutdown_script_rules() {
    let mut pair = open(OpenOptions::default());
    let bad = Message::Shutdown(Shutdown {
        channel_id: pair.a.ch.channel_id(),
        scriptpubkey: vec![0x76, 0xa9],
        tlvs: Default::default(),
    });
    let err = pair.a.ch.handle_message(&bad).unwrap_err();
    assert!(matches!(err, ChannelError::BadShutdownScript(_)));
    assert_eq!(err.action(), ErrorAction::Warn);
    // Upfront script: a different shutdown script is refused.
    let mut o = OpenOptions::default();
    o.a_config.upfront_shutdown_script = true;
    let mut pair = open(o);
    let other = Message::Shutdown(Shutdown {
        channel_id: pair.b.ch.channel_id(),
        scriptpubkey: [&[0x00, 0x14][..], &[3; 20]].concat(),
        tlvs: Default::default(),
    });
    assert!(matches!(
        pair.b.ch.handle_message(&other),
        Err(ChannelError::BadShutdownScript(_))
    ));
}

// ---- MUST-fail rules: each leaves the state untouched. ----

fn expect_err(node: &mut Node, m: &Message, check: impl Fn(&ChannelError) -> bool) -> ChannelError {
    let before = node.ch.encoded_state();
    let err = node.ch.handle_message(m).unwrap_err();
    assert!(check(&err), "unexpected error {err:?}");
    assert_eq!(node.ch.encoded_state(), before, "state changed on error");
    err
}

/// A with one HTLC added and its commitment_signed in A's outbox.
fn pending_commitment() -> (Pair, CommitmentSigned) {
    let mut pair = open(OpenOptions::default());
    let (_, hash) = preimage(1);
    let (_, out) = pair
        .a
        .ch
        .send_htlc(40_000_000, hash, 700_000, ONION.to_vec())
        .unwrap();
    pair.a.apply(out);
    let out = pair.a.ch.commit().unwrap();
    pair.a.apply(out);
    pair.deliver_a_to_b().unwrap(); // the add
    let Some(Message::CommitmentSigned(cs)) = pair.a.outbox.pop_front() else {
        panic!()
    };
    (pair, cs)
}

#[test]
fn bad_commitment_signature_fails_the_channel() {
    let (mut pair, mut cs) = pending_commitment();
    cs.signature = cs.htlc_signatures[0];
    let err = expect_err(&mut pair.b, &Message::CommitmentSigned(cs), |e| {
        matches!(e, ChannelError::BadCommitmentSignature { .. })
    });
    assert_eq!(err.action(), ErrorAction::FailChannel);
    let out = pair.b.ch.handle_error(&err);
    assert!(matches!(out.messages[0], Message::Error(_)));
    let Some(ChannelEvent::ChannelFailed {
        holder_commitment: Some(hc),
        ..
    }) = out.events.first()
    else {
        panic!()
    };
    verify(&hc.commitment, &[pair.funding_output.clone()]).unwrap();
    assert_eq!(pair.b.ch.phase(), Phase::Failed);
}

#[test]
fn wrong_htlc_signature_count_fails() {
    let (mut pair, mut cs) = pending_commitment();
    cs.htlc_signatures.clear();
    expect_err(&mut pair.b, &Message::CommitmentSigned(cs), |e| {
        matches!(
            e,
            ChannelError::HtlcSignatureCount {
                expected: 1,
                got: 0
            }
        )
    });
}

#[test]
fn bad_htlc_signature_fails() {
    let (mut pair, mut cs) = pending_commitment();
    cs.htlc_signatures[0] = cs.signature;
    expect_err(&mut pair.b, &Message::CommitmentSigned(cs), |e| {
        matches!(e, ChannelError::BadHtlcSignature { index: 0 })
    });
}

#[test]
fn revoked_secret_mismatch_fails() {
    let (mut pair, cs) = pending_commitment();
    pair.a.outbox.push_front(Message::CommitmentSigned(cs));
    pair.deliver_a_to_b().unwrap();
    let Some(Message::RevokeAndAck(mut raa)) = pair.b.outbox.pop_front() else {
        panic!()
    };
    raa.per_commitment_secret[0] ^= 1;
    expect_err(&mut pair.a, &Message::RevokeAndAck(raa), |e| {
        matches!(
            e,
            ChannelError::RevocationSecretMismatch {
                commitment_number: 0
            }
        )
    });
}

#[test]
fn unexpected_revoke_and_ack_fails() {
    let mut pair = open(OpenOptions::default());
    let raa = Message::RevokeAndAck(RevokeAndAck {
        channel_id: pair.a.ch.channel_id(),
        per_commitment_secret: [1; 32],
        next_per_commitment_point: pair.a.ch.signer().pubkeys().funding_pubkey,
        tlvs: Default::default(),
    });
    expect_err(&mut pair.a, &raa, |e| {
        matches!(e, ChannelError::UnexpectedRevocation { .. })
    });
}

#[test]
fn bad_preimage_and_unknown_htlc_fail() {
    let mut pair = open(OpenOptions::default());
    let id = send(&mut pair, true, 10_000_000, 1);
    let channel_id = pair.a.ch.channel_id();
    let wrong = Message::UpdateFulfillHtlc(UpdateFulfillHtlc {
        channel_id,
        id,
        payment_preimage: PaymentPreimage([9; 32]),
        tlvs: Default::default(),
    });
    expect_err(&mut pair.a, &wrong, |e| {
        matches!(e, ChannelError::BadPreimage { .. })
    });
    let unknown = Message::UpdateFulfillHtlc(UpdateFulfillHtlc {
        channel_id,
        id: 99,
        payment_preimage: preimage(1).0,
        tlvs: Default::default(),
    });
    expect_err(&mut pair.a, &unknown, |e| {
        matches!(
            e,
            ChannelError::Update(
                lightning_core::channel::update_log::UpdateError::UnknownHtlc { htlc_id: 99, .. }
            )
        )
    });
    let fail_unknown = Message::UpdateFailHtlc(UpdateFailHtlc {
        channel_id,
        id: 98,
        reason: vec![],
        tlvs: Default::default(),
    });
    expect_err(&mut pair.a, &fail_unknown, |e| {
        matches!(e, ChannelError::Update(_))
    });
}

#[test]
fn fail_malformed_without_badonion_fails() {
    let mut pair = open(OpenOptions::default());
    let id = send(&mut pair, true, 10_000_000, 1);
    let m = Message::UpdateFailMalformedHtlc(UpdateFailMalformedHtlc {
        channel_id: pair.a.ch.channel_id(),
        id,
        sha256_of_onion: bitcoin::hashes::Hash::all_zeros(),
        failure_code: 0x4005,
        tlvs: Default::default(),
    });
    expect_err(&mut pair.a, &m, |e| {
        matches!(
            e,
            ChannelError::MalformedWithoutBadOnion {
                failure_code: 0x4005,
                ..
            }
        )
    });
}

#[test]
fn update_fee_from_the_fundee_and_out_of_bounds_fail() {
    let mut pair = open(OpenOptions::default());
    let m = Message::UpdateFee(UpdateFee {
        channel_id: pair.a.ch.channel_id(),
        feerate_per_kw: 3000,
        tlvs: Default::default(),
    });
    expect_err(&mut pair.a, &m, |e| {
        matches!(e, ChannelError::UpdateFeeFromFundee)
    });
    let m = Message::UpdateFee(UpdateFee {
        channel_id: pair.a.ch.channel_id(),
        feerate_per_kw: 1,
        tlvs: Default::default(),
    });
    expect_err(&mut pair.b, &m, |e| {
        matches!(e, ChannelError::FeerateOutOfBounds { .. })
    });
}

#[test]
fn htlc_rules_on_received_adds() {
    let mut pair = open(OpenOptions::default());
    let channel_id = pair.a.ch.channel_id();
    let add = |id, amount_msat| {
        Message::UpdateAddHtlc(UpdateAddHtlc {
            channel_id,
            id,
            amount_msat,
            payment_hash: PaymentHash([0; 32]),
            cltv_expiry: 700_000,
            onion_routing_packet: FixedBytes(Box::new(ONION)),
            tlvs: Default::default(),
        })
    };
    expect_err(&mut pair.b, &add(5, 1000), |e| {
        matches!(e, ChannelError::Update(_))
    });
    expect_err(&mut pair.b, &add(0, 0), |e| {
        matches!(e, ChannelError::Htlc(_))
    });
    expect_err(&mut pair.b, &add(0, 9_000_000_000), |e| {
        matches!(e, ChannelError::Htlc(_))
    });
    // After the peer's shutdown an add is accepted only to be failed back
    // (`ldk_interop_regressions`); once closing negotiation has begun it
    // fails the channel.
    let out = pair.a.ch.shutdown().unwrap();
    pair.a.apply(out);
    pair.deliver_a_to_b().unwrap(); // A's shutdown
    pair.deliver_b_to_a().unwrap(); // B's reply: A, the funder, starts closing
    assert_eq!(pair.a.ch.phase(), Phase::ShuttingDown);
    expect_err(&mut pair.a, &add(0, 1_000_000), |e| {
        matches!(e, ChannelError::AddAfterShutdown)
    });
}

#[test]
fn bad_funding_signature_is_refused() {
    let ka = lightning_core::keys::KeysManager::new(&[1; 32]).unwrap();
    let kb = lightning_core::keys::KeysManager::new(&[2; 32]).unwrap();
    let (mut a, open_msg) = lightning_core::channel::Channel::new_outbound(
        ka.derive_channel_signer(0).unwrap(),
        config(1),
        0,
        lightning_wire::types::ChannelId([1; 32]),
        1_000_000,
        0,
        1000,
    )
    .unwrap();
    let (mut b, accept) = lightning_core::channel::Channel::from_open_channel(
        kb.derive_channel_signer(0).unwrap(),
        config(2),
        0,
        &open_msg,
    )
    .unwrap();
    let out = a.handle_message(&Message::AcceptChannel(accept)).unwrap();
    let Some(ChannelEvent::FundingNeeded { script_pubkey, .. }) = out.events.into_iter().next()
    else {
        panic!()
    };
    let out = a
        .funding_transaction(funding_tx(script_pubkey, 1_000_000))
        .unwrap();
    let Message::FundingCreated(mut fc) = out.messages[0].clone() else {
        panic!()
    };
    let good = fc.clone();
    fc.signature = {
        let Message::FundingCreated(other) = out.messages[0].clone() else {
            panic!()
        };
        let mut s = other.signature.serialize_compact();
        s[40] ^= 1;
        secp256k1::ecdsa::Signature::from_compact(&s).unwrap_or(other.signature)
    };
    let err = b.handle_message(&Message::FundingCreated(fc)).unwrap_err();
    assert!(
        matches!(err, ChannelError::BadFundingSignature { .. }),
        "{err}"
    );
    let out = b.handle_message(&Message::FundingCreated(good)).unwrap();
    assert!(
        out.persist.is_some(),
        "funding_signed only after the record"
    );
    let Message::FundingSigned(mut fs) = out.messages[0].clone() else {
        panic!()
    };
    fs.signature = good_sig_of_other_message(&out.messages[0]);
    assert!(matches!(
        a.handle_message(&Message::FundingSigned(fs)),
        Err(ChannelError::BadFundingSignature { .. })
    ));
}

fn good_sig_of_other_message(m: &Message) -> secp256k1::ecdsa::Signature {
    let Message::FundingSigned(fs) = m else {
        panic!()
    };
    let mut s = fs.signature.serialize_compact();
    s[63] ^= 1;
    secp256k1::ecdsa::Signature::from_compact(&s).unwrap()
}

#[test]
fn a_node_behind_stops_and_never_broadcasts() {
    let mut pair = open(OpenOptions::default());
    let stale_store = pair.a.copy_store();
    pay(&mut pair, true, 10_000_000, 1);
    pay(&mut pair, false, 5_000_000, 2);
    // A lost its recent state.
    pair.a.store = stale_store;
    pair.a.restart();
    pair.a.outbox.clear();
    pair.b.outbox.clear();
    let ra = pair.a.ch.peer_reconnected().unwrap();
    let _ = pair.b.ch.peer_disconnected();
    let rb = pair.b.ch.peer_reconnected().unwrap();
    let err = pair
        .a
        .ch
        .handle_message(&Message::ChannelReestablish(rb))
        .unwrap_err();
    assert!(err.we_are_behind(), "{err}");
    let out = pair.a.ch.handle_error(&err);
    let Some(ChannelEvent::ChannelFailed {
        we_are_behind: true,
        holder_commitment: None,
        ..
    }) = out.events.first()
    else {
        panic!("{:?}", out.events)
    };
    assert!(out.persist.is_some(), "the failure is recorded");
    assert!(pair.a.ch.holder_commitment().is_err());
    // B sees A's old numbers: that is a protocol error on A's part to B, not
    // data loss on B's.
    let err_b = pair
        .b
        .ch
        .handle_message(&Message::ChannelReestablish(ra))
        .unwrap_err();
    assert!(!err_b.we_are_behind());
}
