//! Two update logs, one per peer, exchanging messages in FIFO order in random
//! interleavings: every commitment one side signs must be exactly the one the
//! other side then holds, and value is conserved throughout.

use std::collections::VecDeque;

use lightning_wire::types::{PaymentHash, PaymentPreimage};
use proptest::prelude::*;

use super::update_log::*;

#[derive(Debug, Clone)]
enum Msg {
    Update(UpdateKind),
    /// The view the signer computed for the receiver's new commitment.
    CommitmentSigned(Snapshot),
    RevokeAndAck,
}

/// A commitment in side-neutral terms: balances by owner, HTLCs by
/// (owner-is-holder, id, amount).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    holder_msat: u64,
    counterparty_msat: u64,
    feerate: u32,
    htlcs: Vec<(bool, u64, u64)>,
}

fn snapshot(v: &CommitmentView<'_>) -> Snapshot {
    let mut htlcs: Vec<_> = v
        .htlcs
        .iter()
        .map(|h| (h.offerer == v.holder, h.add.id, h.add.amount_msat))
        .collect();
    htlcs.sort();
    Snapshot {
        holder_msat: v.holder_msat,
        counterparty_msat: v.counterparty_msat,
        feerate: v.feerate_per_kw,
        htlcs,
    }
}

struct Peer {
    log: UpdateLog,
    inbox: VecDeque<Msg>,
    awaiting_raa: bool,
    funder: bool,
    commitments_checked: usize,
}

const TOTAL: u64 = 1_000_000_000;

impl Peer {
    fn new(local: u64, funder: bool) -> Self {
        Peer {
            log: UpdateLog::new(local, TOTAL - local, 1000),
            inbox: VecDeque::new(),
            awaiting_raa: false,
            funder,
            commitments_checked: 0,
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Add {
        who: bool,
        amount: u64,
    },
    Remove {
        who: bool,
        pick: usize,
        fulfill: bool,
    },
    Fee {
        rate: u32,
    },
    Commit {
        who: bool,
    },
    Deliver {
        to: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<bool>(), 1u64..50_000_000).prop_map(|(who, amount)| Op::Add { who, amount }),
        3 => (any::<bool>(), any::<usize>(), any::<bool>())
            .prop_map(|(who, pick, fulfill)| Op::Remove { who, pick, fulfill }),
        1 => (253u32..20_000).prop_map(|rate| Op::Fee { rate }),
        3 => any::<bool>().prop_map(|who| Op::Commit { who }),
        8 => any::<bool>().prop_map(|to| Op::Deliver { to }),
    ]
}

/// Runs `ops` on peers a (index 0) and b (index 1). Returns how many signed
/// commitments were cross-checked.
fn run(ops: &[Op]) -> usize {
    let mut peers = [Peer::new(700_000_000, true), Peer::new(300_000_000, false)];
    for op in ops {
        match *op {
            Op::Add { who, amount } => {
                let i = usize::from(who);
                let p = &mut peers[i];
                // Affordability in the remote's next commitment.
                let next = p.log.view(Side::Remote, Which::Next);
                if next.balance_msat(Side::Local) < amount {
                    continue;
                }
                let add = HtlcAdd {
                    id: p.log.next_htlc_id(Side::Local),
                    amount_msat: amount,
                    payment_hash: PaymentHash([i as u8; 32]),
                    cltv_expiry: 1000,
                    onion_routing_packet: Vec::new().into(),
                    path_key: None,
                };
                p.log.add_htlc(Side::Local, add.clone()).unwrap();
                peers[1 - i]
                    .inbox
                    .push_back(Msg::Update(UpdateKind::Add(add)));
            }
            Op::Remove { who, pick, fulfill } => {
                let i = usize::from(who);
                let p = &mut peers[i];
                let candidates: Vec<u64> = p
                    .log
                    .updates()
                    .iter()
                    .filter_map(|u| match &u.kind {
                        UpdateKind::Add(a)
                            if u.proposer == Side::Remote
                                && u.stage == UpdateStage::LockedIn
                                && p.log.find_removal(Side::Remote, a.id).is_none() =>
                        {
                            Some(a.id)
                        }
                        _ => None,
                    })
                    .collect();
                if candidates.is_empty() {
                    continue;
                }
                let htlc_id = candidates[pick % candidates.len()];
                let removal = if fulfill {
                    HtlcRemoval::Fulfill {
                        payment_preimage: PaymentPreimage([7; 32]),
                        attribution_data: None,
                    }
                } else {
                    HtlcRemoval::Fail {
                        reason: vec![1, 2, 3],
                        attribution_data: None,
                    }
                };
                p.log
                    .remove_htlc(Side::Local, htlc_id, removal.clone())
                    .unwrap();
                peers[1 - i]
                    .inbox
                    .push_back(Msg::Update(UpdateKind::Remove { htlc_id, removal }));
            }
            Op::Fee { rate } => {
                let i = if peers[0].funder { 0 } else { 1 };
                peers[i].log.update_fee(Side::Local, rate);
                peers[1 - i].inbox.push_back(Msg::Update(UpdateKind::Fee {
                    feerate_per_kw: rate,
                }));
            }
            Op::Commit { who } => {
                let i = usize::from(who);
                let p = &mut peers[i];
                if p.awaiting_raa || !p.log.has_updates_to_commit(Side::Local) {
                    continue;
                }
                p.log.commitment_signed(Side::Local);
                p.awaiting_raa = true;
                let snap = snapshot(&p.log.view(Side::Remote, Which::Current));
                peers[1 - i].inbox.push_back(Msg::CommitmentSigned(snap));
            }
            Op::Deliver { to } => {
                let i = usize::from(to);
                let Some(msg) = peers[i].inbox.pop_front() else {
                    continue;
                };
                match msg {
                    Msg::Update(UpdateKind::Add(add)) => {
                        peers[i].log.add_htlc(Side::Remote, add).unwrap()
                    }
                    Msg::Update(UpdateKind::Remove { htlc_id, removal }) => peers[i]
                        .log
                        .remove_htlc(Side::Remote, htlc_id, removal)
                        .unwrap(),
                    Msg::Update(UpdateKind::Fee { feerate_per_kw }) => {
                        peers[i].log.update_fee(Side::Remote, feerate_per_kw)
                    }
                    Msg::CommitmentSigned(expected) => {
                        let p = &mut peers[i];
                        let before = p.log.view(Side::Local, Which::Next);
                        let before = snapshot(&before);
                        p.log.commitment_signed(Side::Remote);
                        let now = snapshot(&p.log.view(Side::Local, Which::Current));
                        assert_eq!(now, expected, "signed commitment differs from the one held");
                        assert_eq!(now, before, "Next view predicted the commitment");
                        p.commitments_checked += 1;
                        p.log.revoke_and_ack(Side::Local);
                        peers[1 - i].inbox.push_back(Msg::RevokeAndAck);
                    }
                    Msg::RevokeAndAck => {
                        let p = &mut peers[i];
                        assert!(p.awaiting_raa);
                        p.awaiting_raa = false;
                        p.log.revoke_and_ack(Side::Remote);
                    }
                }
            }
        }
        for p in &peers {
            assert_eq!(p.log.total_msat(), u128::from(TOTAL), "value conserved");
            for holder in [Side::Local, Side::Remote] {
                for which in [Which::Current, Which::Next] {
                    let v = p.log.view(holder, which);
                    let sum = u128::from(v.holder_msat)
                        + u128::from(v.counterparty_msat)
                        + v.htlcs
                            .iter()
                            .map(|h| u128::from(h.add.amount_msat))
                            .sum::<u128>();
                    assert_eq!(
                        sum,
                        u128::from(TOTAL),
                        "value conserved in {holder:?} {which:?}"
                    );
                }
            }
            // Stages never go backwards along the log for one proposer.
            for side in [Side::Local, Side::Remote] {
                let stages: Vec<_> = p
                    .log
                    .updates()
                    .iter()
                    .filter(|u| u.proposer == side)
                    .map(|u| u.stage)
                    .collect();
                assert!(stages.windows(2).all(|w| w[0] >= w[1]), "{stages:?}");
            }
        }
    }
    peers[0].commitments_checked + peers[1].commitments_checked
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn both_sides_agree_on_every_commitment(ops in proptest::collection::vec(op(), 0..400)) {
        run(&ops);
    }
}

#[test]
fn a_long_random_run_checks_many_commitments() {
    // A deterministic long run, so the property above cannot pass by never
    // reaching a commitment.
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let ops = proptest::collection::vec(op(), 20_000)
        .new_tree(&mut runner)
        .unwrap()
        .current();
    let checked = run(&ops);
    assert!(
        checked > 500,
        "only {checked} commitments were cross-checked"
    );
}

#[test]
fn forget_uncommitted_rewinds_ids_and_keeps_committed() {
    let mut log = UpdateLog::new(500, 500, 253);
    let add = |id| HtlcAdd {
        id,
        amount_msat: 10,
        payment_hash: PaymentHash([0; 32]),
        cltv_expiry: 100,
        onion_routing_packet: Vec::new().into(),
        path_key: None,
    };
    log.add_htlc(Side::Local, add(0)).unwrap();
    log.commitment_signed(Side::Local);
    log.add_htlc(Side::Local, add(1)).unwrap();
    log.add_htlc(Side::Remote, add(0)).unwrap();
    let dropped = log.forget_uncommitted();
    assert_eq!(dropped.len(), 1);
    assert_eq!(log.next_htlc_id(Side::Local), 1);
    assert_eq!(log.next_htlc_id(Side::Remote), 0);
    assert_eq!(log.updates().len(), 1);
}

#[test]
fn removal_rules() {
    let mut log = UpdateLog::new(500, 500, 253);
    let add = HtlcAdd {
        id: 0,
        amount_msat: 10,
        payment_hash: PaymentHash([0; 32]),
        cltv_expiry: 100,
        onion_routing_packet: Vec::new().into(),
        path_key: None,
    };
    assert!(matches!(
        log.add_htlc(
            Side::Remote,
            HtlcAdd {
                id: 1,
                ..add.clone()
            }
        ),
        Err(UpdateError::UnexpectedHtlcId {
            expected: 0,
            got: 1,
            ..
        })
    ));
    log.add_htlc(Side::Remote, add).unwrap();
    let fail = HtlcRemoval::Fail {
        reason: vec![],
        attribution_data: None,
    };
    // Not locked in yet.
    assert!(matches!(
        log.remove_htlc(Side::Local, 0, fail.clone()),
        Err(UpdateError::HtlcNotLockedIn { .. })
    ));
    assert!(matches!(
        log.remove_htlc(Side::Local, 5, fail.clone()),
        Err(UpdateError::UnknownHtlc { .. })
    ));
    // Lock it in: they sign ours, we revoke, we sign theirs, they revoke.
    log.commitment_signed(Side::Remote);
    log.revoke_and_ack(Side::Local);
    log.commitment_signed(Side::Local);
    log.revoke_and_ack(Side::Remote);
    log.remove_htlc(Side::Local, 0, fail.clone()).unwrap();
    assert!(matches!(
        log.remove_htlc(Side::Local, 0, fail),
        Err(UpdateError::AlreadyRemoved { .. })
    ));
    // Nothing for the remote to commit: the removal is ours.
    assert!(!log.has_updates_to_commit(Side::Remote));
    assert!(log.has_updates_to_commit(Side::Local));
}
