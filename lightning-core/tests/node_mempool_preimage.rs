//! BOLT 5 ("HTLC Output Handling"): a preimage revealed by a spend of an
//! HTLC output we offered fulfils the incoming HTLC, even when that spend
//! is only ever seen in the mempool (replacement cycling,
//! CVE-2023-40231..40234). A - B - C; B - C goes on chain; C claims the
//! HTLC output with the preimage, and that claim leaves the mempool
//! without being mined (cycled out). B, told of it by
//! `Node::transactions_seen_in_mempool`, fulfils A; a hostile "preimage"
//! changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod forward_support;
mod mempool_support;

use bitcoin::hashes::{sha256, Hash};
use lightning_core::node::{Event, ForwardStatus, PaymentPreimage, PaymentStatus};
use mempool_support::{
    b_forward_status, c_claims_then_cycled_out, cycle_out, reveals, spend_with_fake_witness,
    spender, Cycled,
};

/// B learns the preimage from C's claim seen only in the mempool, fulfils
/// A at once (persisted: B restarts before it talks to A), and never fails
/// A back however deep its own HTLC-timeout then goes.
fn fulfils_upstream_from_the_mempool(anchors: bool, b_closes: bool) {
    let preimage = PaymentPreimage([0x61; 32]);
    let Cycled {
        mut line,
        hash,
        htlc,
        claim,
        start,
        ..
    } = c_claims_then_cycled_out(anchors, b_closes, preimage);
    assert_eq!(b_forward_status(&line), ForwardStatus::InFlight);
    // The host's mempool poll: C's claim among unrelated transactions.
    let mut seen = line.chain.mempool();
    seen.insert(0, claim.clone());
    // Held back from A until B restarted: the fulfil must be durable.
    line.disconnect(0);
    let scan = line.members[1].node.transactions_seen_in_mempool(&seen);
    assert_eq!(scan.preimages, 1, "{scan:?}");
    line.members[1].take_events();
    line.restart(1);
    line.disconnect(1);
    line.shuttle();
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Succeeded)
    );
    assert!(line.members[0].take_events().iter().any(|e| matches!(
        e,
        Event::PaymentSent { preimage: p, .. } if *p == preimage
    )));
    assert_eq!(b_forward_status(&line), ForwardStatus::Settled);
    // The same sighting again changes nothing.
    let again = line.members[1].node.transactions_seen_in_mempool(&[claim]);
    assert_eq!(again.preimages, 1);
    line.shuttle();
    assert!(line.members[0].take_events().is_empty());
    // C's claims keep being cycled out; B's timeout (or nothing) confirms,
    // deep: A is never failed.
    for _ in 0..200 {
        for t in cycle_out(&line, htlc) {
            if !reveals(&t, htlc, preimage) {
                let _ = line.chain.submit_transaction(t);
            }
        }
        line.mine(1);
        if spender(&line, start, htlc).is_some() {
            break;
        }
    }
    line.mine(8);
    assert_eq!(b_forward_status(&line), ForwardStatus::Settled);
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Succeeded)
    );
    assert!(!line.members[0]
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::PaymentFailed { .. })));
}

#[test]
fn a_cycled_out_claim_on_b_commitment_fulfils_upstream_static_remotekey() {
    fulfils_upstream_from_the_mempool(false, true);
}

#[test]
fn a_cycled_out_claim_on_b_commitment_fulfils_upstream_anchors() {
    fulfils_upstream_from_the_mempool(true, true);
}

#[test]
fn a_cycled_out_htlc_success_on_c_commitment_fulfils_upstream_static_remotekey() {
    fulfils_upstream_from_the_mempool(false, false);
}

/// Hostile mempool transactions spending the HTLC output: a "preimage"
/// whose hash is not the HTLC's (a witness script committing to it, as an
/// HTLC script would), a genuine preimage of another hash, and the
/// payment hash itself where a preimage would be: nothing happens, and the
/// real claim still works afterwards.
#[test]
fn a_fake_preimage_in_the_mempool_changes_nothing() {
    let preimage = PaymentPreimage([0x62; 32]);
    let Cycled {
        mut line,
        hash,
        htlc,
        claim,
        ..
    } = c_claims_then_cycled_out(false, true, preimage);
    line.members[1].take_events();
    let hostile = vec![
        spend_with_fake_witness(htlc, [0x99; 32]),
        spend_with_fake_witness(htlc, hash.0),
        {
            // The real claim with its preimage swapped for another value.
            let mut t = claim.clone();
            for i in &mut t.input {
                let items: Vec<Vec<u8>> = i
                    .witness
                    .iter()
                    .map(|w| {
                        if w == preimage.0 {
                            sha256::Hash::hash(w).to_byte_array().to_vec()
                        } else {
                            w.to_vec()
                        }
                    })
                    .collect();
                i.witness = bitcoin::Witness::from_slice(&items);
            }
            t
        },
    ];
    let scan = line.members[1].node.transactions_seen_in_mempool(&hostile);
    assert_eq!(scan.preimages, 0, "{scan:?}");
    line.shuttle();
    assert!(line.members[1].take_events().is_empty());
    assert_eq!(b_forward_status(&line), ForwardStatus::InFlight);
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Pending)
    );
    // The genuine one still counts.
    let scan = line.members[1].node.transactions_seen_in_mempool(&[claim]);
    assert_eq!(scan.preimages, 1);
    line.shuttle();
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Succeeded)
    );
}
