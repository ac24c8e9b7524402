//! On-chain classes seen only in the mempool (issue 15).

use lightning_core::node::{ForwardStatus, PaymentPreimage, PaymentStatus};

use super::mempool_support::{
    b_forward_status, c_claims_then_cycled_out, cycle_out, reveals, spender, Cycled,
};

/// CVE-2023-40231..40234 (replacement cycling, all four implementations):
/// the downstream peer claims the HTLC output of the forwarder's
/// commitment with the preimage, then replaces that claim out of the
/// mempool (double-spending another of its inputs) before any block takes
/// it, again and again, keeping the forwarder's HTLC-timeout out of
/// blocks until the upstream HTLC expires; a forwarder that reads
/// preimages only from blocks loses the HTLC both ways. Here C's preimage
/// claim on B's anchors commitment sits in the mempool for one poll of
/// B's host and is then cycled out, every block: B fulfils A from the
/// first sighting and never fails A back.
#[test]
fn cve_replacement_cycling_preimage_from_the_mempool() {
    let preimage = PaymentPreimage([0x64; 32]);
    let Cycled {
        mut line,
        hash,
        htlc,
        claim,
        start,
        ..
    } = c_claims_then_cycled_out(true, true, preimage);
    // The host's poll caught the claim before it was cycled out.
    let scan = line.members[1]
        .node
        .transactions_seen_in_mempool(std::slice::from_ref(&claim));
    assert_eq!(scan.preimages, 1);
    line.shuttle();
    assert_eq!(b_forward_status(&line), ForwardStatus::Settled);
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Succeeded)
    );
    // The attack goes on (each claim of C polled by B, then cycled out)
    // past the HTLC's expiry: nothing is failed back.
    for _ in 0..60 {
        line.mine(1);
        let mempool = line.chain.mempool();
        line.members[1].node.transactions_seen_in_mempool(&mempool);
        for t in cycle_out(&line, htlc) {
            if !reveals(&t, htlc, preimage) {
                let _ = line.chain.submit_transaction(t);
            }
        }
        line.shuttle();
    }
    assert!(spender(&line, start, htlc).is_none_or(|t| !reveals(&t, htlc, preimage)));
    assert_eq!(b_forward_status(&line), ForwardStatus::Settled);
    assert_eq!(
        line.members[0].payment_status(&hash),
        Some(PaymentStatus::Succeeded)
    );
}
