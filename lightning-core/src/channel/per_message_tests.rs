//! Hostile-peer tests of the per-message rules (issue 13): an empty
//! `commitment_signed`, `update_fee` floods, the revocation secret released
//! only once every fallible step succeeded and never before its write, and
//! the transactional undo of an input with many HTLCs in flight.

use std::cell::Cell;
use std::sync::Arc;

use bitcoin::secp256k1::PublicKey;
use lightning_wire::msgs::{CommitmentSigned, CommitmentSignedTlvs, Message, UpdateFee};
use lightning_wire::types::{PaymentHash, PaymentPreimage};

use super::commitments::sign_counterparty;
use super::record::{decode_snapshot, Persister};
use super::state::{Channel, ChannelState};
use super::update_log::{HtlcAdd, Side, UpdateKind, UpdateLog, Which};
use super::ErrorAction;
use crate::keys::signer::{CounterpartyCommitmentSignatures, SpendKeyMaterial};
use crate::keys::{ChannelPublicKeys, ChannelSigner, InMemorySigner, SignerError};
use crate::test_pair::{open, preimage, Endpoint, OpenOptions, Pair, ONION};
use crate::transactions::{CommitmentHtlc, CommitmentKeys, CommitmentTransaction};

/// A offers `n` HTLCs to B, all committed both ways.
fn htlcs_from_a(pair: &mut Pair, n: u64, first: u64) {
    for i in 0..n {
        let (_, hash) = preimage(first + i);
        let (_, out) = pair
            .a
            .ch
            .send_htlc(5_000_000, hash, 800_000, ONION.to_vec())
            .unwrap();
        pair.a.apply(out);
    }
    let out = pair.a.ch.commit().unwrap();
    pair.a.apply(out);
    pair.run_until_quiet();
}

/// A valid `commitment_signed` from A for B's next commitment that covers
/// no update: the same contents as B's current one, the next number.
fn empty_commitment_signed(pair: &Pair) -> Message {
    let a = &pair.a.ch;
    let next = a.st.remote_points.and_then(|p| p.next).unwrap();
    let number = a.st.numbers.remote + 1;
    let ctx = a.build_counterparty(Which::Current, number, &next).unwrap();
    let (signature, htlc_signatures) = sign_counterparty(&a.signer, &ctx).unwrap();
    Message::CommitmentSigned(CommitmentSigned {
        channel_id: a.st.channel_id,
        signature,
        htlc_signatures,
        tlvs: CommitmentSignedTlvs::default(),
    })
}

#[test]
fn an_empty_commitment_signed_is_refused_with_a_warning() {
    let mut pair = open(OpenOptions::default());
    htlcs_from_a(&mut pair, 3, 0);
    let msg = empty_commitment_signed(&pair);
    let before: ChannelState = pair.b.ch.st.clone();
    let writes = pair.b.stats.writes;
    let err = pair
        .b
        .ch
        .handle_message(&msg)
        .expect_err("a commitment_signed that signs no update");
    assert_eq!(err.action(), ErrorAction::Warn, "{err}");
    assert_eq!(pair.b.ch.st, before, "nothing applied");
    assert_eq!(pair.b.stats.writes, writes);
    // The channel goes on: a real update and its commitment still pass.
    htlcs_from_a(&mut pair, 1, 100);
    pair.check_agreement();
}

#[test]
fn a_commitment_signed_for_our_acknowledged_updates_is_not_empty() {
    // B's commitment_signed after A's revoke_and_ack carries only A's
    // updates (B proposed none): it must pass.
    let mut pair = open(OpenOptions::default());
    htlcs_from_a(&mut pair, 2, 0);
    assert_eq!(pair.a.ch.st.numbers.local, pair.b.ch.st.numbers.remote);
    pair.check_agreement();
}

fn fee_entries(log: &UpdateLog) -> usize {
    log.updates()
        .iter()
        .filter(|u| matches!(u.kind, UpdateKind::Fee { .. }))
        .count()
}

#[test]
fn an_update_fee_flood_is_bounded() {
    let mut pair = open(OpenOptions::default());
    let channel_id = pair.b.ch.st.channel_id;
    for i in 0..1000u32 {
        let m = Message::UpdateFee(UpdateFee {
            channel_id,
            feerate_per_kw: 2500 + i % 7,
            tlvs: Default::default(),
        });
        let out = pair.b.ch.handle_message(&m).unwrap();
        pair.b.apply(out);
    }
    assert_eq!(fee_entries(&pair.b.ch.st.log), 1, "one pending fee");
    assert_eq!(
        pair.b
            .ch
            .st
            .log
            .view(Side::Local, Which::Next)
            .feerate_per_kw,
        2500 + 999 % 7,
        "the last one counts"
    );
}

#[test]
fn fee_updates_piling_up_behind_an_unrevoked_commitment_are_merged() {
    // The peer (funder) proposes a fee and signs, again and again, and
    // never revokes: each of its fees reaches the same stage on our side.
    let mut log = UpdateLog::new(600_000_000, 400_000_000, 2500);
    for i in 0..200u32 {
        log.update_fee(Side::Remote, 3000 + i);
        log.commitment_signed(Side::Remote);
        let _ = log.revoke_and_ack(Side::Local);
        if i == 0 {
            // We sign theirs once; no revocation follows.
            log.commitment_signed(Side::Local);
        }
    }
    assert!(fee_entries(&log) <= 2, "{} fee entries", fee_entries(&log));
    assert_eq!(log.view(Side::Local, Which::Current).feerate_per_kw, 3199);
    assert_eq!(log.view(Side::Remote, Which::Current).feerate_per_kw, 3000);
    assert_eq!(log.view(Side::Remote, Which::Next).feerate_per_kw, 3199);
}

#[test]
fn a_rolled_back_log_is_the_log_before() {
    let mut log = UpdateLog::new(600_000_000, 400_000_000, 2500);
    let add = |id| HtlcAdd {
        id,
        amount_msat: 1_000_000,
        payment_hash: PaymentHash([id as u8; 32]),
        cltv_expiry: 500,
        onion_routing_packet: Arc::from(&ONION[..]),
        path_key: None,
    };
    for id in 0..4 {
        log.add_htlc(Side::Local, add(id)).unwrap();
    }
    log.commitment_signed(Side::Local);
    let _ = log.revoke_and_ack(Side::Remote);
    log.commitment_signed(Side::Remote);
    let _ = log.revoke_and_ack(Side::Local);
    log.update_fee(Side::Local, 3000);
    let before = log.clone();
    // Appends only.
    assert!(log.begin());
    log.add_htlc(Side::Local, add(4)).unwrap();
    log.update_fee(Side::Local, 3100);
    log.rollback();
    assert_eq!(log, before);
    // A fee replaced in place, then transitions and a fold.
    assert!(log.begin());
    assert!(!log.begin(), "no nested transaction");
    log.update_fee(Side::Local, 3200);
    log.remove_htlc(
        Side::Remote,
        0,
        super::update_log::HtlcRemoval::Fulfill {
            payment_preimage: PaymentPreimage([0; 32]),
            attribution_data: None,
        },
    )
    .unwrap();
    log.commitment_signed(Side::Remote);
    let _ = log.revoke_and_ack(Side::Local);
    log.commitment_signed(Side::Local);
    let moved = log.revoke_and_ack(Side::Remote);
    assert_eq!(moved.settled.len(), 1, "the fulfilled HTLC folded");
    assert_ne!(log, before);
    log.rollback();
    assert_eq!(log, before);
    assert_eq!(log.uids(), before.uids(), "identities restored too");
}

/// Random steps on a random log, in a transaction, rolled back: the log
/// and its update identities are what they were (the journal undoes
/// appends, replacements, transitions, merges, folds and forgetting).
#[test]
fn random_transactions_roll_back_exactly() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let add = |id: u64| HtlcAdd {
        id,
        amount_msat: 1_000_000 + id,
        payment_hash: PaymentHash([id as u8; 32]),
        cltv_expiry: 500,
        onion_routing_packet: Arc::from(&ONION[..]),
        path_key: None,
    };
    let side = |b: u64| if b == 0 { Side::Local } else { Side::Remote };
    let step = |log: &mut UpdateLog, op: u64, arg: u64| match op {
        0 | 1 => {
            let s = side(op);
            let _ = log.add_htlc(s, add(log.next_htlc_id(s)));
        }
        2 => log.update_fee(side(arg % 2), 2500 + (arg % 7) as u32),
        3 | 4 => {
            // A removal of one of the other side's HTLCs.
            let remover = side(op - 3);
            let id = arg % log.next_htlc_id(remover.other()).max(1);
            let removal = if arg.is_multiple_of(3) {
                super::update_log::HtlcRemoval::Fulfill {
                    payment_preimage: PaymentPreimage([1; 32]),
                    attribution_data: None,
                }
            } else {
                super::update_log::HtlcRemoval::Fail {
                    reason: vec![2; 3],
                    attribution_data: None,
                }
            };
            let _ = log.remove_htlc(remover, id, removal);
        }
        5 => log.commitment_signed(side(arg % 2)),
        6 => {
            let _ = log.revoke_and_ack(side(arg % 2));
        }
        _ => {
            let _ = log.forget_uncommitted();
        }
    };
    let mut rolled_back = 0;
    for _ in 0..300 {
        let mut log = UpdateLog::new(600_000_000, 400_000_000, 2500);
        for _ in 0..next(40) {
            let (op, arg) = (next(8), next(1000));
            step(&mut log, op, arg);
        }
        let before = log.clone();
        assert!(log.begin());
        for _ in 0..next(12) {
            let (op, arg) = (next(8), next(1000));
            step(&mut log, op, arg);
        }
        rolled_back += usize::from(log != before);
        log.rollback();
        assert_eq!(log, before);
        assert_eq!(log.uids(), before.uids());
    }
    assert!(
        rolled_back > 100,
        "{rolled_back} transactions changed the log"
    );
}

#[test]
fn a_failed_commitment_signed_leaves_no_trace_with_htlcs_in_flight() {
    let mut pair = open(OpenOptions::default());
    htlcs_from_a(&mut pair, 20, 0);
    // B fulfills two (a fold is pending in the next dance) and A offers one.
    for id in [3u64, 7] {
        let out = pair.b.ch.fulfill_htlc(id, preimage(id).0).unwrap();
        pair.b.apply(out);
    }
    let out = pair.b.ch.commit().unwrap();
    pair.b.apply(out);
    pair.run_until_quiet();
    let (_, hash) = preimage(500);
    let (_, out) = pair
        .a
        .ch
        .send_htlc(5_000_000, hash, 800_000, ONION.to_vec())
        .unwrap();
    pair.a.apply(out);
    let out = pair.a.ch.commit().unwrap();
    pair.a.apply(out);
    let mut msgs: Vec<Message> = pair.a.outbox.drain(..).collect();
    let add = msgs.remove(0);
    let out = pair.b.ch.handle_message(&add).unwrap();
    pair.b.apply(out);
    let before = pair.b.ch.st.clone();
    let encoded = pair.b.ch.encoded_state();
    let Some(Message::CommitmentSigned(mut cs)) = msgs.pop() else {
        panic!("commitment_signed")
    };
    // A signature of the right form on the wrong commitment.
    cs.htlc_signatures.swap(0, 1);
    let err = pair
        .b
        .ch
        .handle_message(&Message::CommitmentSigned(cs))
        .unwrap_err();
    assert_eq!(err.action(), ErrorAction::FailChannel, "{err}");
    assert_eq!(pair.b.ch.st, before);
    assert_eq!(pair.b.ch.encoded_state(), encoded);
}

/// A signer that fails `holder_per_commitment_point` for one number: a
/// remote signer's hiccup at the worst moment.
#[derive(Debug)]
struct FlakySigner {
    inner: InMemorySigner,
    fail_point: Cell<Option<u64>>,
}

impl ChannelSigner for FlakySigner {
    fn pubkeys(&self) -> ChannelPublicKeys {
        self.inner.pubkeys()
    }
    fn provide_counterparty_keys(&mut self, keys: ChannelPublicKeys) {
        self.inner.provide_counterparty_keys(keys)
    }
    fn holder_per_commitment_point(&self, n: u64) -> Result<PublicKey, SignerError> {
        if self.fail_point.get() == Some(n) {
            return Err(SignerError::Mismatch("injected failure"));
        }
        self.inner.holder_per_commitment_point(n)
    }
    fn release_holder_commitment_secret(&mut self, n: u64) -> Result<[u8; 32], SignerError> {
        self.inner.release_holder_commitment_secret(n)
    }
    fn next_unrevoked_holder_commitment(&self) -> u64 {
        self.inner.next_unrevoked_holder_commitment()
    }
    fn restore_revocation_state(&mut self, next_unrevoked: u64) {
        self.inner.restore_revocation_state(next_unrevoked)
    }
    fn counterparty_commitment_keys(
        &self,
        point: &PublicKey,
    ) -> Result<CommitmentKeys, SignerError> {
        self.inner.counterparty_commitment_keys(point)
    }
    fn sign_counterparty_commitment(
        &self,
        c: &CommitmentTransaction,
    ) -> Result<CounterpartyCommitmentSignatures, SignerError> {
        self.inner.sign_counterparty_commitment(c)
    }
    fn sign_holder_commitment(
        &self,
        c: &CommitmentTransaction,
    ) -> Result<bitcoin::ecdsa::Signature, SignerError> {
        self.inner.sign_holder_commitment(c)
    }
    fn sign_holder_htlc_transaction(
        &self,
        c: &CommitmentTransaction,
        h: &CommitmentHtlc,
        tx: &bitcoin::Transaction,
    ) -> Result<bitcoin::ecdsa::Signature, SignerError> {
        self.inner.sign_holder_htlc_transaction(c, h, tx)
    }
    fn sign_closing_transaction(
        &self,
        tx: &bitcoin::Transaction,
        amount: bitcoin::Amount,
    ) -> Result<bitcoin::ecdsa::Signature, SignerError> {
        self.inner.sign_closing_transaction(tx, amount)
    }
    fn sign_spend_input(
        &self,
        tx: &mut bitcoin::Transaction,
        i: usize,
        output: &crate::transactions::sweep::SpendableOutput,
        k: SpendKeyMaterial,
    ) -> Result<bitcoin::ecdsa::Signature, SignerError> {
        self.inner.sign_spend_input(tx, i, output, k)
    }
}

/// B's channel again, with a [`FlakySigner`].
fn flaky_b(b: &Endpoint) -> Channel<FlakySigner> {
    let mut inner = b.keys.derive_channel_signer(b.ch.st.keys_index).unwrap();
    inner.provide_counterparty_keys(b.ch.st.remote_keys.unwrap());
    inner.restore_revocation_state(b.ch.st.numbers.local);
    Channel {
        signer: FlakySigner {
            inner,
            fail_point: Cell::new(None),
        },
        config: b.ch.config.clone(),
        st: b.ch.st.clone(),
        tr: b.ch.tr.clone(),
        persister: b.ch.persister.clone(),
    }
}

#[test]
fn a_commitment_signed_that_fails_after_verification_releases_no_secret() {
    let mut pair = open(OpenOptions::default());
    htlcs_from_a(&mut pair, 1, 0);
    let mut b = flaky_b(&pair.b);
    let local = b.st.numbers.local;
    assert_eq!(b.signer.next_unrevoked_holder_commitment(), local);
    // A's next update and commitment_signed; B's signer fails the point of
    // the commitment after the new one, which the revoke_and_ack carries.
    let (_, hash) = preimage(9);
    let (_, out) = pair
        .a
        .ch
        .send_htlc(5_000_000, hash, 800_000, ONION.to_vec())
        .unwrap();
    pair.a.apply(out);
    let out = pair.a.ch.commit().unwrap();
    pair.a.apply(out);
    let msgs: Vec<Message> = pair.a.outbox.drain(..).collect();
    b.signer.fail_point.set(Some(local + 2));
    let (out, result) = b.handle_messages(&msgs);
    let err = result.expect_err("the signer failed");
    assert!(
        !out.messages
            .iter()
            .any(|m| matches!(m, Message::RevokeAndAck(_))),
        "no revoke_and_ack leaves"
    );
    assert_eq!(b.st.numbers.local, local, "the commitment_signed is undone");
    assert_eq!(
        b.signer.next_unrevoked_holder_commitment(),
        local,
        "the signer revoked nothing: {err}"
    );
    // So failing the channel can still put our commitment on chain.
    b.signer.fail_point.set(None);
    b.holder_commitment()
        .expect("our current commitment is still signable");
}

/// The commitment number of B's latest commitment as B's store holds it.
fn stored_local_number(e: &Endpoint) -> u64 {
    let keys = e.stored_keys();
    let snapshot_key = keys.iter().find(|k| k.ends_with("/snapshot")).unwrap();
    let prefix = snapshot_key.trim_end_matches("snapshot").to_owned() + "u/";
    let snapshot = e.stored(snapshot_key).unwrap();
    let updates: Vec<Vec<u8>> = keys
        .iter()
        .filter(|k| k.starts_with(&prefix))
        .filter_map(|k| e.stored(k))
        .collect();
    let (st, _) = decode_snapshot(&snapshot).unwrap();
    let signer = e.keys.derive_channel_signer(st.keys_index).unwrap();
    Channel::restore(signer, e.config.clone(), &snapshot, &updates)
        .unwrap()
        .st
        .numbers
        .local
}

/// Delivers one message at a time, both ways, until quiet; before B's
/// `revoke_and_ack` reaches A, B's store must already hold the commitment
/// that makes the revoked one old (persist before send).
fn run_checking_b_revocations(pair: &mut Pair) -> usize {
    let mut seen = 0;
    while !pair.a.outbox.is_empty() || !pair.b.outbox.is_empty() {
        if !pair.a.outbox.is_empty() {
            pair.deliver_a_to_b().unwrap();
        }
        if let Some(Message::RevokeAndAck(_)) = pair.b.outbox.front() {
            let revoked = pair.b.ch.st.numbers.local - 1;
            assert!(
                stored_local_number(&pair.b) > revoked,
                "B's secret for commitment {revoked} would leave before its write"
            );
            seen += 1;
        }
        if !pair.b.outbox.is_empty() {
            pair.deliver_b_to_a().unwrap();
        }
    }
    seen
}

#[test]
fn a_crash_before_the_write_never_leaks_the_revocation_secret() {
    let mut pair = open(OpenOptions::default());
    htlcs_from_a(&mut pair, 1, 0);
    let before = pair.b.ch.st.numbers.local;
    let (_, hash) = preimage(9);
    let (_, out) = pair
        .a
        .ch
        .send_htlc(5_000_000, hash, 800_000, ONION.to_vec())
        .unwrap();
    pair.a.apply(out);
    let out = pair.a.ch.commit().unwrap();
    pair.a.apply(out);
    let msgs: Vec<Message> = pair.a.outbox.drain(..).collect();
    let (out, result) = pair.b.ch.handle_messages(&msgs);
    result.unwrap();
    // The revoke_and_ack is in the same output as the write that makes
    // its commitment old.
    let w = out.persist.as_ref().expect("a write");
    assert!(out
        .messages
        .iter()
        .any(|m| matches!(m, Message::RevokeAndAck(_))));
    let (_, seq) = (w.writes.len(), w.writes[0].version);
    assert!(seq > 0);
    // Crash: the write never happened, nothing was sent.
    drop(out);
    pair.b.restart();
    assert_eq!(
        pair.b.ch.st.numbers.local, before,
        "restored from the store"
    );
    // A's view: it still waits for B's revocation. Reconnect and finish,
    // checking every revoke_and_ack of B against B's store.
    pair.a.outbox.clear();
    let (out, _) = pair.a.ch.peer_disconnected();
    pair.a.apply(out);
    let (out, _) = pair.b.ch.peer_disconnected();
    pair.b.apply(out);
    pair.queue_reestablish();
    let seen = run_checking_b_revocations(&mut pair);
    assert!(seen >= 1, "B revoked after the retransmission");
    assert_eq!(pair.b.ch.st.numbers.local, before + 1);
    assert!(stored_local_number(&pair.b) > before);
    pair.check_agreement();
}

#[test]
fn an_onion_replaced_under_the_same_id_is_written_again() {
    let pair = open(OpenOptions::default());
    let mut st = pair.a.ch.st.clone();
    let mut p = Persister::new(64);
    let first = p.write(&st).unwrap();
    let add = |byte: u8| HtlcAdd {
        id: 0,
        amount_msat: 5_000_000,
        payment_hash: PaymentHash([1; 32]),
        cltv_expiry: 800_000,
        onion_routing_packet: Arc::from(&[byte; 1366][..]),
        path_key: None,
    };
    st.log.add_htlc(Side::Local, add(1)).unwrap();
    let second = p.write(&st).unwrap();
    // Forgotten on disconnection, offered again with another onion.
    let _ = st.log.forget_uncommitted();
    st.log.add_htlc(Side::Local, add(2)).unwrap();
    let third = p.write(&st).expect("the onion changed");
    let updates: Vec<Vec<u8>> = [second, third]
        .into_iter()
        .map(|w| w.writes[0].value.clone())
        .collect();
    let signer = pair
        .a
        .keys
        .derive_channel_signer(pair.a.ch.st.keys_index)
        .unwrap();
    let restored = Channel::restore(
        signer,
        pair.a.config.clone(),
        &first.writes[0].value,
        &updates,
    )
    .unwrap();
    let (a, _) = restored.st.log.find_add(Side::Local, 0).unwrap();
    assert_eq!(a.onion_routing_packet[0], 2);
    assert_eq!(restored.st, st);
    // And an unchanged state writes nothing.
    assert!(p.write(&st).is_none());
}
