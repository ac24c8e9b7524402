//! A - B - C over the simulated chain with B - C on chain and C's
//! preimage claim kept out of every block: what B learns from the mempool
//! alone (`Node::transactions_seen_in_mempool`). Used by
//! `node_mempool_preimage.rs` and `cve_regressions/replacement_cycling.rs`
//! (each declares `forward_support` at its root).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bitcoin::hashes::{ripemd160, sha256, Hash};
use bitcoin::{OutPoint, Transaction};
use lightning_core::node::{Event, ForwardStatus, PaymentHash, PaymentPreimage};
use lightning_wire::types::ChannelId;

use crate::forward_support::Line;

pub const CAPACITY_SAT: u64 = 1_000_000;
pub const AMOUNT: u64 = 40_000_000;
pub const HTLC_SAT: u64 = AMOUNT / 1000;

/// A - B - C with `anchors` channels; A pays C's hold invoice for
/// `preimage` over B; C holds the HTLC. Gives (line, A-B, B-C, hash).
pub fn held_at_c(
    anchors: bool,
    preimage: PaymentPreimage,
) -> (Line, ChannelId, ChannelId, PaymentHash) {
    let mut line = Line::new(3, |_, c| c.channel.anchors = anchors);
    let ab = line.open_channel(0, 1, CAPACITY_SAT, 0);
    let bc = line.open_channel(1, 2, CAPACITY_SAT, 0);
    for m in &mut line.members {
        m.take_events();
    }
    let now = line.now;
    let hash = PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array());
    let invoice = line.members[2]
        .node
        .create_hold_invoice(
            hash,
            Some(lightning_core::amount::Msat(AMOUNT)),
            "held",
            Duration::from_secs(3600),
            now,
        )
        .unwrap();
    let route = line.route(&[ab, bc], AMOUNT);
    line.members[0]
        .node
        .pay_invoice_with_route(&invoice, &route, now)
        .unwrap();
    line.shuttle();
    assert!(line.members[2]
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::HoldInvoiceAccepted { .. })));
    (line, ab, bc, hash)
}

pub fn funding_of(line: &Line, id: ChannelId) -> OutPoint {
    line.members[1]
        .node
        .list_channels()
        .iter()
        .find(|c| c.channel_id == id)
        .and_then(|c| c.funding_txo)
        .unwrap()
}

/// The confirmed transaction spending `op` since `from`.
pub fn spender(line: &Line, from: u32, op: OutPoint) -> Option<Transaction> {
    let tip = line.chain.best_block().height;
    (from..=tip).find_map(|h| {
        line.chain
            .block_at(h)
            .unwrap()
            .txdata
            .into_iter()
            .find(|t| t.input.iter().any(|i| i.previous_output == op))
    })
}

/// The HTLC output of commitment `c`.
pub fn htlc_output(c: &Transaction) -> OutPoint {
    let vout = c
        .output
        .iter()
        .position(|o| o.value.to_sat() == HTLC_SAT)
        .expect("the commitment has the HTLC output");
    OutPoint {
        txid: c.compute_txid(),
        vout: u32::try_from(vout).unwrap(),
    }
}

pub fn b_forward_status(line: &Line) -> ForwardStatus {
    let f = line.members[1].node.list_forwards();
    assert_eq!(f.len(), 1, "{f:?}");
    f[0].status
}

/// Whether `t` spends `op` with `preimage` in the witness.
pub fn reveals(t: &Transaction, op: OutPoint, preimage: PaymentPreimage) -> bool {
    t.input
        .iter()
        .any(|i| i.previous_output == op && i.witness.iter().any(|w| w == preimage.0))
}

/// Takes every mempool transaction spending `op` out of the mempool (the
/// outcome of replacement cycling: the spend is gone, never mined); gives
/// them.
pub fn cycle_out(line: &Line, op: OutPoint) -> Vec<Transaction> {
    let gone: Vec<Transaction> = line
        .chain
        .mempool()
        .into_iter()
        .filter(|t| t.input.iter().any(|i| i.previous_output == op))
        .collect();
    for t in &gone {
        line.chain
            .with(|ch| ch.remove_from_mempool(&t.compute_txid()));
    }
    gone
}

/// B (`b_closes`) or C closes B - C while C, away from B, holds the
/// HTLC; once the commitment confirms, C learns the preimage (its hold
/// invoice is claimed) and claims the HTLC output on chain. Gives (line,
/// A-B, B-C, hash, the confirmed commitment's HTLC outpoint, C's claim as
/// it sat in the mempool, which is then cycled out of it, never mined;
/// B has not seen it).
pub struct Cycled {
    pub line: Line,
    pub ab: ChannelId,
    pub bc: ChannelId,
    pub hash: PaymentHash,
    pub preimage: PaymentPreimage,
    pub htlc: OutPoint,
    pub claim: Transaction,
    pub start: u32,
}

pub fn c_claims_then_cycled_out(
    anchors: bool,
    b_closes: bool,
    preimage: PaymentPreimage,
) -> Cycled {
    let (mut line, ab, bc, hash) = held_at_c(anchors, preimage);
    let funding = funding_of(&line, bc);
    let start = line.chain.best_block().height + 1;
    line.disconnect(1);
    let closer = if b_closes { 1 } else { 2 };
    line.members[closer].node.force_close_channel(bc).unwrap();
    line.shuttle();
    let mut commitment = None;
    for _ in 0..5 {
        line.mine(1);
        if let Some(c) = spender(&line, start, funding) {
            commitment = Some(c);
            break;
        }
    }
    let commitment = commitment.expect("the commitment confirmed");
    let htlc = htlc_output(&commitment);
    let now = line.now;
    line.members[2].node.claim_for_hash(preimage, now).unwrap();
    line.shuttle();
    // C's claim goes out with its next block.
    let mut claim = None;
    for _ in 0..5 {
        line.mine(1);
        let spends = cycle_out(&line, htlc);
        if let Some(t) = spends.into_iter().find(|t| reveals(t, htlc, preimage)) {
            claim = Some(t);
            break;
        }
    }
    let claim = claim.expect("C broadcast its preimage claim");
    assert!(spender(&line, start, htlc).is_none(), "nothing mined it");
    Cycled {
        line,
        ab,
        bc,
        hash,
        preimage,
        htlc,
        claim,
        start,
    }
}

/// A transaction spending `op` whose witness holds `element` and a
/// script committing to `RIPEMD160(SHA256(element))`, as an HTLC script
/// does to its payment hash: a "preimage" of whatever `element` hashes to.
pub fn spend_with_fake_witness(op: OutPoint, element: [u8; 32]) -> Transaction {
    let commit = ripemd160::Hash::hash(&sha256::Hash::hash(&element).to_byte_array());
    let script = bitcoin::script::Builder::new()
        .push_opcode(bitcoin::opcodes::all::OP_HASH160)
        .push_slice(commit.to_byte_array())
        .push_opcode(bitcoin::opcodes::all::OP_EQUAL)
        .into_script();
    Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![bitcoin::TxIn {
            previous_output: op,
            witness: bitcoin::Witness::from_slice(&[element.to_vec(), script.to_bytes()]),
            ..Default::default()
        }],
        output: vec![bitcoin::TxOut {
            value: bitcoin::Amount::from_sat(HTLC_SAT - 1_000),
            script_pubkey: bitcoin::ScriptBuf::new_op_return([]),
        }],
    }
}
