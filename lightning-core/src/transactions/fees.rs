//! Expected weights and fees (BOLT 3, "Fees" and "Appendix A: Expected
//! Weights").
//!
//! The spec fixes the *expected* weights below so that both peers compute
//! the same fee; the real weight of a signed transaction is usually a little
//! lower (signatures are 71-73 bytes, not always 73).

use bitcoin::Amount;

use super::CommitmentFormat;
use crate::amount::FeeratePerKw;

/// Commitment transaction base weight without `option_anchors`.
pub const COMMITMENT_WEIGHT: u64 = 724;
/// Commitment transaction base weight with `option_anchors` (two anchor
/// outputs and the P2WSH `to_remote` included).
pub const COMMITMENT_WEIGHT_ANCHORS: u64 = 1124;
/// Weight added per untrimmed HTLC output.
pub const HTLC_OUTPUT_WEIGHT: u64 = 172;
/// HTLC-timeout transaction weight without `option_anchors`.
pub const HTLC_TIMEOUT_WEIGHT: u64 = 663;
/// HTLC-success transaction weight without `option_anchors`.
pub const HTLC_SUCCESS_WEIGHT: u64 = 703;
/// HTLC-timeout transaction weight with `option_anchors`.
pub const HTLC_TIMEOUT_WEIGHT_ANCHORS: u64 = 666;
/// HTLC-success transaction weight with `option_anchors`.
pub const HTLC_SUCCESS_WEIGHT_ANCHORS: u64 = 706;

/// The expected weight of a commitment with `num_untrimmed_htlcs` HTLC
/// outputs: `724 + 172 * n` (anchors: `1124 + 172 * n`).
pub const fn commitment_weight(channel_type: CommitmentFormat, num_untrimmed_htlcs: usize) -> u64 {
    let base = match channel_type {
        CommitmentFormat::StaticRemoteKey => COMMITMENT_WEIGHT,
        CommitmentFormat::AnchorsZeroFeeHtlc => COMMITMENT_WEIGHT_ANCHORS,
    };
    base + HTLC_OUTPUT_WEIGHT * num_untrimmed_htlcs as u64
}

/// The base commitment fee the funder pays (BOLT 3, "Fee Calculation").
pub const fn commitment_fee(
    channel_type: CommitmentFormat,
    feerate: FeeratePerKw,
    num_untrimmed_htlcs: usize,
) -> Amount {
    feerate.fee_for_weight(commitment_weight(channel_type, num_untrimmed_htlcs))
}

/// The expected weight of an HTLC-timeout transaction.
pub const fn htlc_timeout_weight(channel_type: CommitmentFormat) -> u64 {
    match channel_type {
        CommitmentFormat::StaticRemoteKey => HTLC_TIMEOUT_WEIGHT,
        CommitmentFormat::AnchorsZeroFeeHtlc => HTLC_TIMEOUT_WEIGHT_ANCHORS,
    }
}

/// The expected weight of an HTLC-success transaction.
pub const fn htlc_success_weight(channel_type: CommitmentFormat) -> u64 {
    match channel_type {
        CommitmentFormat::StaticRemoteKey => HTLC_SUCCESS_WEIGHT,
        CommitmentFormat::AnchorsZeroFeeHtlc => HTLC_SUCCESS_WEIGHT_ANCHORS,
    }
}

/// The fee an HTLC-timeout transaction pays: `feerate * 663 / 1000`, and
/// zero with `option_anchors` (zero-fee HTLC transactions: the broadcaster
/// adds inputs to pay the fee).
pub const fn htlc_timeout_fee(channel_type: CommitmentFormat, feerate: FeeratePerKw) -> Amount {
    match channel_type {
        CommitmentFormat::StaticRemoteKey => feerate.fee_for_weight(HTLC_TIMEOUT_WEIGHT),
        CommitmentFormat::AnchorsZeroFeeHtlc => Amount::ZERO,
    }
}

/// The fee an HTLC-success transaction pays: `feerate * 703 / 1000`, and
/// zero with `option_anchors`.
pub const fn htlc_success_fee(channel_type: CommitmentFormat, feerate: FeeratePerKw) -> Amount {
    match channel_type {
        CommitmentFormat::StaticRemoteKey => feerate.fee_for_weight(HTLC_SUCCESS_WEIGHT),
        CommitmentFormat::AnchorsZeroFeeHtlc => Amount::ZERO,
    }
}

/// Whether an HTLC of `amount` (already rounded down to satoshis) is trimmed
/// from a commitment whose holder has `dust_limit` (BOLT 3, "Trimmed
/// Outputs"): it is, when the amount minus its second-stage fee is below the
/// dust limit.
pub fn is_htlc_trimmed(
    channel_type: CommitmentFormat,
    offered: bool,
    amount: Amount,
    feerate: FeeratePerKw,
    dust_limit: Amount,
) -> bool {
    let fee = if offered {
        htlc_timeout_fee(channel_type, feerate)
    } else {
        htlc_success_fee(channel_type, feerate)
    };
    match dust_limit.checked_add(fee) {
        Some(threshold) => amount < threshold,
        // A threshold beyond 21M BTC trims everything.
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BOLT 3, "Fees" / "Fee Calculation" / "Example".
    #[test]
    fn spec_fee_example() {
        let f = FeeratePerKw(5000);
        let ct = CommitmentFormat::StaticRemoteKey;
        let dust = Amount::from_sat(546);
        assert_eq!(htlc_timeout_fee(ct, f), Amount::from_sat(3315));
        assert_eq!(htlc_success_fee(ct, f), Amount::from_sat(3515));
        assert!(!is_htlc_trimmed(ct, true, Amount::from_sat(5000), f, dust));
        assert!(is_htlc_trimmed(ct, true, Amount::from_sat(1000), f, dust));
        assert!(!is_htlc_trimmed(ct, false, Amount::from_sat(7000), f, dust));
        assert!(is_htlc_trimmed(ct, false, Amount::from_sat(800), f, dust));
        assert_eq!(commitment_weight(ct, 2), 1068);
        assert_eq!(commitment_fee(ct, f, 2), Amount::from_sat(5340));
    }
}
