//! The rules on offering and accepting HTLCs (BOLT 2, "Adding an HTLC:
//! `update_add_htlc`" and "Bounding exposure to trimmed in-flight HTLCs"),
//! evaluated on the commitments the [`UpdateLog`] derives.
//!
//! Whether an HTLC gets an output depends on whose commitment it is in:
//! each commitment trims at its holder's `dust_limit_satoshis` plus, without
//! zero-fee HTLC transactions, the fee of the second-stage transaction that
//! would spend it (BOLT 3, "Trimmed Outputs").

use super::params::{ChannelType, PartyParams};
use super::update_log::{CommitmentView, HtlcAdd, Side, UpdateLog, Which};

/// `cltv_expiry` must be below this: larger values would be timestamps.
pub const MAX_CLTV_EXPIRY: u32 = 500_000_000;

/// Whether an HTLC is trimmed from `holder`'s commitment (BOLT 3, "Trimmed
/// Outputs"). `offered_by_holder` says whether the holder offered it (then
/// it is spent by HTLC-timeout, else by HTLC-success). With zero-fee HTLC
/// transactions (`option_anchors`) only the dust limit counts. The one rule
/// lives in [`transactions::fees`](crate::transactions::fees), so the policy
/// and the transactions built can never disagree.
pub fn is_trimmed(
    amount_msat: u64,
    offered_by_holder: bool,
    holder_dust_limit_satoshis: u64,
    feerate_per_kw: u32,
    channel_type: ChannelType,
) -> bool {
    crate::transactions::fees::is_htlc_trimmed(
        channel_type.commitment_format(),
        offered_by_holder,
        crate::amount::Msat(amount_msat).to_sat_floor(),
        crate::amount::FeeratePerKw(feerate_per_kw),
        bitcoin::Amount::from_sat(holder_dust_limit_satoshis),
    )
}

/// What both sides agreed when the channel opened, as the policy needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelTerms {
    /// Who pays the commitment fee.
    pub funder: Side,
    /// The channel type.
    pub channel_type: ChannelType,
    /// The limits we imposed on the peer (our `open_channel` or
    /// `accept_channel`): our dust limit, their reserve, what they may offer.
    pub local: PartyParams,
    /// The limits the peer imposed on us.
    pub remote: PartyParams,
    /// Our policy bound on the value of trimmed HTLCs in either commitment.
    pub max_dust_htlc_exposure_msat: u64,
}

impl ChannelTerms {
    /// The dust limit of `holder`'s commitment.
    pub fn dust_limit_satoshis(&self, holder: Side) -> u64 {
        match holder {
            Side::Local => self.local.dust_limit_satoshis,
            Side::Remote => self.remote.dust_limit_satoshis,
        }
    }

    /// The reserve `side` must keep: the one the *other* side imposed.
    pub fn reserve_satoshis(&self, side: Side) -> u64 {
        match side {
            Side::Local => self.remote.channel_reserve_satoshis,
            Side::Remote => self.local.channel_reserve_satoshis,
        }
    }

    /// The limits on what `offerer` may offer: the receiver's parameters.
    fn receiver_params(&self, offerer: Side) -> &PartyParams {
        match offerer {
            Side::Local => &self.remote,
            Side::Remote => &self.local,
        }
    }
}

/// The totals of one commitment that the rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitmentTotals {
    /// HTLC outputs that are not trimmed.
    pub untrimmed_htlcs: usize,
    /// The value of trimmed HTLCs (lost to fees if this commitment confirms).
    pub dust_exposure_msat: u64,
    /// The commitment fee, anchors included, in satoshis.
    pub fee_satoshis: u64,
}

/// Computes [`CommitmentTotals`] for a view, at the view's feerate or at
/// `feerate_override`.
pub fn totals(
    view: &CommitmentView<'_>,
    terms: &ChannelTerms,
    feerate_override: Option<u32>,
) -> CommitmentTotals {
    let feerate = feerate_override.unwrap_or(view.feerate_per_kw);
    let dust_limit = terms.dust_limit_satoshis(view.holder);
    let mut untrimmed = 0;
    let mut dust = 0u64;
    for h in &view.htlcs {
        if is_trimmed(
            h.add.amount_msat,
            h.offerer == view.holder,
            dust_limit,
            feerate,
            terms.channel_type,
        ) {
            dust = dust.saturating_add(h.add.amount_msat);
        } else {
            untrimmed += 1;
        }
    }
    CommitmentTotals {
        untrimmed_htlcs: untrimmed,
        dust_exposure_msat: dust,
        fee_satoshis: terms
            .channel_type
            .commitment_fee_satoshis(feerate, untrimmed),
    }
}

/// Why an HTLC may not be offered, or why a received one breaks the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HtlcError {
    /// `amount_msat` is 0.
    #[error("amount_msat is 0")]
    ZeroAmount,
    /// Below the receiver's `htlc_minimum_msat`.
    #[error("amount_msat {amount_msat} is below htlc_minimum_msat {minimum_msat}")]
    BelowMinimum {
        /// The amount.
        amount_msat: u64,
        /// The receiver's minimum.
        minimum_msat: u64,
    },
    /// `cltv_expiry` >= 500000000.
    #[error("cltv_expiry {0} is not below 500000000")]
    CltvExpiryTooLarge(u32),
    /// More than the receiver's `max_accepted_htlcs`.
    #[error("{count} HTLCs would exceed max_accepted_htlcs {limit}")]
    TooManyHtlcs {
        /// The count with this HTLC.
        count: usize,
        /// The receiver's limit.
        limit: u16,
    },
    /// More than the receiver's `max_htlc_value_in_flight_msat`.
    #[error(
        "{in_flight_msat} msat in flight would exceed max_htlc_value_in_flight_msat {limit_msat}"
    )]
    InFlightExceeded {
        /// The total with this HTLC.
        in_flight_msat: u64,
        /// The receiver's limit.
        limit_msat: u64,
    },
    /// The offerer cannot pay this HTLC (and the fee, if it is the funder)
    /// while keeping its reserve.
    #[error("{offerer:?} cannot afford it: {balance_msat} msat left, {needed_msat} msat needed for reserve and fees")]
    CannotAfford {
        /// The offerer.
        offerer: Side,
        /// The offerer's balance after the HTLC.
        balance_msat: u64,
        /// Reserve plus fee it must still cover.
        needed_msat: u64,
    },
    /// The funder could no longer pay the fee of the other commitment.
    #[error("the funder could not pay the fee of {holder:?}'s commitment after this HTLC")]
    FunderCannotPayFee {
        /// Whose commitment.
        holder: Side,
    },
    /// Trimmed HTLCs would exceed `max_dust_htlc_exposure_msat`.
    #[error("dust exposure of {exposure_msat} msat in {holder:?}'s commitment would exceed {limit_msat}")]
    DustExposure {
        /// Whose commitment.
        holder: Side,
        /// The exposure with this HTLC.
        exposure_msat: u64,
        /// Our limit.
        limit_msat: u64,
    },
}

impl HtlcError {
    /// Whether, for a *received* HTLC, this means failing the HTLC once it is
    /// committed rather than failing the channel (BOLT 2: dust exposure is a
    /// "SHOULD fail this HTLC", the rest break the protocol).
    pub fn fails_htlc_only(&self) -> bool {
        matches!(self, HtlcError::DustExposure { .. })
    }
}

/// The balance `side` has in `view`, minus the commitment fee if it is the
/// funder, compared with its reserve.
fn check_affordable(
    view: &CommitmentView<'_>,
    terms: &ChannelTerms,
    side: Side,
    feerate_override: Option<u32>,
) -> Result<(), HtlcError> {
    let fee_msat = if side == terms.funder {
        totals(view, terms, feerate_override)
            .fee_satoshis
            .saturating_mul(1000)
    } else {
        0
    };
    let needed_msat = terms
        .reserve_satoshis(side)
        .saturating_mul(1000)
        .saturating_add(fee_msat);
    let balance_msat = view.balance_msat(side);
    if balance_msat < needed_msat {
        return Err(HtlcError::CannotAfford {
            offerer: side,
            balance_msat,
            needed_msat,
        });
    }
    Ok(())
}

fn with_htlc<'a>(
    mut view: CommitmentView<'a>,
    offerer: Side,
    add: &'a HtlcAdd,
) -> Option<CommitmentView<'a>> {
    let amount = add.amount_msat;
    let bal = if offerer == view.holder {
        &mut view.holder_msat
    } else {
        &mut view.counterparty_msat
    };
    *bal = bal.checked_sub(amount)?;
    view.htlcs
        .push(super::update_log::CommittedHtlc { offerer, add });
    Some(view)
}

fn check_limits(
    terms: &ChannelTerms,
    offerer: Side,
    add: &HtlcAdd,
    view: &CommitmentView<'_>,
) -> Result<(), HtlcError> {
    let receiver = terms.receiver_params(offerer);
    if add.amount_msat == 0 {
        return Err(HtlcError::ZeroAmount);
    }
    if add.amount_msat < receiver.htlc_minimum_msat {
        return Err(HtlcError::BelowMinimum {
            amount_msat: add.amount_msat,
            minimum_msat: receiver.htlc_minimum_msat,
        });
    }
    if add.cltv_expiry >= MAX_CLTV_EXPIRY {
        return Err(HtlcError::CltvExpiryTooLarge(add.cltv_expiry));
    }
    let count = view.offered_count(offerer);
    if count > usize::from(receiver.max_accepted_htlcs) {
        return Err(HtlcError::TooManyHtlcs {
            count,
            limit: receiver.max_accepted_htlcs,
        });
    }
    let in_flight = view.offered_msat(offerer);
    if in_flight > receiver.max_htlc_value_in_flight_msat {
        return Err(HtlcError::InFlightExceeded {
            in_flight_msat: in_flight,
            limit_msat: receiver.max_htlc_value_in_flight_msat,
        });
    }
    Ok(())
}

fn check_dust(terms: &ChannelTerms, view: &CommitmentView<'_>) -> Result<(), HtlcError> {
    let t = totals(view, terms, None);
    if t.dust_exposure_msat > terms.max_dust_htlc_exposure_msat {
        return Err(HtlcError::DustExposure {
            holder: view.holder,
            exposure_msat: t.dust_exposure_msat,
            limit_msat: terms.max_dust_htlc_exposure_msat,
        });
    }
    Ok(())
}

/// Checks an `update_add_htlc` the peer sent, before it enters the log
/// (BOLT 2, receiving node requirements). The peer's HTLC goes into our
/// next commitment; that is where count, in-flight value and the peer's
/// ability to pay are judged. Errors for which
/// [`HtlcError::fails_htlc_only`] is true mean "accept, then fail it back";
/// the others mean failing the channel.
pub fn check_received_add(
    log: &UpdateLog,
    terms: &ChannelTerms,
    add: &HtlcAdd,
) -> Result<(), HtlcError> {
    let current = log.view(Side::Local, Which::Next);
    let Some(view) = with_htlc(current.clone(), Side::Remote, add) else {
        return Err(HtlcError::CannotAfford {
            offerer: Side::Remote,
            balance_msat: current.balance_msat(Side::Remote),
            needed_msat: add.amount_msat,
        });
    };
    check_limits(terms, Side::Remote, add, &view)?;
    check_affordable(&view, terms, Side::Remote, None)?;
    check_dust(terms, &view)?;
    let remote_view = log.view(Side::Remote, Which::Next);
    if let Some(remote_view) = with_htlc(remote_view, Side::Remote, add) {
        check_dust(terms, &remote_view)?;
    }
    Ok(())
}

/// Checks that we may offer `add` now (BOLT 2, sending node requirements):
/// the peer's limits in its next commitment, our reserve, and, when we are
/// the funder, the fee of both commitments with a "fee spike buffer" of
/// twice the current feerate and one more HTLC, as the spec recommends.
pub fn check_offer(log: &UpdateLog, terms: &ChannelTerms, add: &HtlcAdd) -> Result<(), HtlcError> {
    let remote_now = log.view(Side::Remote, Which::Next);
    let Some(remote_view) = with_htlc(remote_now.clone(), Side::Local, add) else {
        return Err(HtlcError::CannotAfford {
            offerer: Side::Local,
            balance_msat: remote_now.balance_msat(Side::Local),
            needed_msat: add.amount_msat,
        });
    };
    check_limits(terms, Side::Local, add, &remote_view)?;
    check_affordable(&remote_view, terms, Side::Local, None)?;
    // Our own commitment gets it after the peer acknowledges it.
    let local_now = log.view(Side::Local, Which::Next);
    let local_view =
        with_htlc(local_now, Side::Local, add).ok_or(HtlcError::FunderCannotPayFee {
            holder: Side::Local,
        })?;
    if terms.funder == Side::Local {
        check_affordable(&local_view, terms, Side::Local, None)?;
        // Fee spike buffer: twice the feerate, one more untrimmed HTLC.
        let spike = remote_view.feerate_per_kw.saturating_mul(2);
        let t = totals(&remote_view, terms, Some(spike));
        let buffered_fee = terms
            .channel_type
            .commitment_fee_satoshis(spike, t.untrimmed_htlcs + 1);
        let needed = terms
            .reserve_satoshis(Side::Local)
            .saturating_add(buffered_fee)
            .saturating_mul(1000);
        if remote_view.balance_msat(Side::Local) < needed {
            return Err(HtlcError::CannotAfford {
                offerer: Side::Local,
                balance_msat: remote_view.balance_msat(Side::Local),
                needed_msat: needed,
            });
        }
    } else {
        // The peer pays the fee: do not offer what it could not pay for.
        for v in [&remote_view, &local_view] {
            let fee_msat = totals(v, terms, None).fee_satoshis.saturating_mul(1000);
            if v.balance_msat(Side::Remote) < fee_msat {
                return Err(HtlcError::FunderCannotPayFee { holder: v.holder });
            }
        }
    }
    check_dust(terms, &remote_view)?;
    check_dust(terms, &local_view)?;
    Ok(())
}

/// Checks an `update_fee` (BOLT 2, "Updating Fees: `update_fee`"), sent or
/// received: the funder must be able to pay the new fee in both
/// commitments with what it holds, and a raise must not push the trimmed
/// HTLCs of either commitment past `max_dust_htlc_exposure_msat` (BOLT 2,
/// "Bounding exposure to trimmed in-flight HTLCs": without
/// `option_anchors` a higher feerate trims more HTLCs, whose value goes to
/// fees if the commitment confirms; the sender "MAY NOT send", the receiver
/// "MAY fail the channel"). With anchors trimming does not depend on the
/// feerate, so the exposure cannot grow. Returns the first commitment that
/// would break. The feerate bounds are the caller's (see
/// [`FeerateBounds`](super::params::FeerateBounds)).
pub fn check_update_fee(
    log: &UpdateLog,
    terms: &ChannelTerms,
    feerate_per_kw: u32,
) -> Result<(), HtlcError> {
    for holder in [Side::Local, Side::Remote] {
        let view = log.view(holder, Which::Next);
        let t = totals(&view, terms, Some(feerate_per_kw));
        let fee_msat = t.fee_satoshis.saturating_mul(1000);
        if view.balance_msat(terms.funder) < fee_msat {
            return Err(HtlcError::FunderCannotPayFee { holder });
        }
        if feerate_per_kw > view.feerate_per_kw
            && t.dust_exposure_msat > terms.max_dust_htlc_exposure_msat
        {
            return Err(HtlcError::DustExposure {
                holder,
                exposure_msat: t.dust_exposure_msat,
                limit_msat: terms.max_dust_htlc_exposure_msat,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lightning_wire::types::PaymentHash;

    fn party(dust: u64, reserve: u64) -> PartyParams {
        PartyParams {
            dust_limit_satoshis: dust,
            max_htlc_value_in_flight_msat: 1_000_000_000,
            channel_reserve_satoshis: reserve,
            htlc_minimum_msat: 1000,
            to_self_delay: 144,
            max_accepted_htlcs: 30,
        }
    }

    fn terms(funder: Side) -> ChannelTerms {
        ChannelTerms {
            funder,
            channel_type: ChannelType::STATIC_REMOTEKEY,
            local: party(546, 10_000),
            remote: party(546, 10_000),
            max_dust_htlc_exposure_msat: 5_000_000,
        }
    }

    fn add(id: u64, amount_msat: u64) -> HtlcAdd {
        HtlcAdd {
            id,
            amount_msat,
            payment_hash: PaymentHash([id as u8; 32]),
            cltv_expiry: 800_000,
            onion_routing_packet: Vec::new().into(),
            path_key: None,
        }
    }

    /// A 1,000,000 sat channel funded by the local side, 300,000 sat pushed.
    fn log() -> UpdateLog {
        UpdateLog::new(700_000_000, 300_000_000, 2500)
    }

    #[test]
    fn trimming_follows_bolt3() {
        let legacy = ChannelType::STATIC_REMOTEKEY;
        // dust 546 + 663 * 5000 / 1000 = 3861 sat for offered HTLCs.
        assert!(is_trimmed(3_860_999, true, 546, 5000, legacy));
        assert!(!is_trimmed(3_861_000, true, 546, 5000, legacy));
        // dust 546 + 703 * 5000 / 1000 = 4061 sat for received HTLCs.
        assert!(is_trimmed(4_060_999, false, 546, 5000, legacy));
        assert!(!is_trimmed(4_061_000, false, 546, 5000, legacy));
        // Zero-fee HTLC transactions: the dust limit alone.
        assert!(is_trimmed(545_999, true, 546, 5000, ChannelType::ANCHORS));
        assert!(!is_trimmed(546_000, false, 546, 5000, ChannelType::ANCHORS));
    }

    #[test]
    fn a_sane_htlc_passes_both_ways() {
        let l = log();
        check_received_add(&l, &terms(Side::Local), &add(0, 50_000_000)).unwrap();
        check_offer(&l, &terms(Side::Local), &add(0, 50_000_000)).unwrap();
    }

    #[test]
    fn every_receiving_rule() {
        let t = terms(Side::Local);
        let l = log();
        assert_eq!(
            check_received_add(&l, &t, &add(0, 0)),
            Err(HtlcError::ZeroAmount)
        );
        assert!(matches!(
            check_received_add(&l, &t, &add(0, 999)),
            Err(HtlcError::BelowMinimum { .. })
        ));
        let mut far = add(0, 50_000);
        far.cltv_expiry = MAX_CLTV_EXPIRY;
        assert_eq!(
            check_received_add(&l, &t, &far),
            Err(HtlcError::CltvExpiryTooLarge(MAX_CLTV_EXPIRY))
        );

        // In flight: the receiver (us) allows 100,000,000 msat here.
        let mut small = terms(Side::Local);
        small.local.max_htlc_value_in_flight_msat = 100_000_000;
        assert!(matches!(
            check_received_add(&l, &small, &add(0, 100_000_001)),
            Err(HtlcError::InFlightExceeded { .. })
        ));

        // Count: we accept at most 2.
        let mut few = terms(Side::Local);
        few.local.max_accepted_htlcs = 2;
        let mut l2 = log();
        for id in 0..2 {
            check_received_add(&l2, &few, &add(id, 5_000_000)).unwrap();
            l2.add_htlc(Side::Remote, add(id, 5_000_000)).unwrap();
        }
        assert!(matches!(
            check_received_add(&l2, &few, &add(2, 5_000_000)),
            Err(HtlcError::TooManyHtlcs { count: 3, limit: 2 })
        ));

        // Reserve: the remote holds 300,000 sat and must keep 10,000.
        assert!(matches!(
            check_received_add(&l, &t, &add(0, 290_000_001)),
            Err(HtlcError::CannotAfford {
                offerer: Side::Remote,
                ..
            })
        ));
        check_received_add(&l, &t, &add(0, 290_000_000)).unwrap();

        // A remote funder must also pay the fee with the new HTLC output:
        // (724 + 172) * 2.5 = 2240 sat.
        let remote_funds = terms(Side::Remote);
        let l3 = UpdateLog::new(300_000_000, 700_000_000, 2500);
        assert!(matches!(
            check_received_add(&l3, &remote_funds, &add(0, 687_760_001)),
            Err(HtlcError::CannotAfford { .. })
        ));
        check_received_add(&l3, &remote_funds, &add(0, 687_760_000)).unwrap();
    }

    #[test]
    fn dust_exposure_fails_the_htlc_not_the_channel() {
        let t = terms(Side::Local);
        let mut l = log();
        // Each 2,000 sat HTLC is trimmed at 2500 sat/kw (546 + 1757 > 2000).
        for id in 0..2 {
            l.add_htlc(Side::Remote, add(id, 2_000_000)).unwrap();
        }
        let err = check_received_add(&l, &t, &add(2, 2_000_000)).unwrap_err();
        assert!(matches!(
            err,
            HtlcError::DustExposure {
                exposure_msat: 6_000_000,
                ..
            }
        ));
        assert!(err.fails_htlc_only());
        assert!(!HtlcError::ZeroAmount.fails_htlc_only());
    }

    #[test]
    fn offering_keeps_the_fee_spike_buffer() {
        let t = terms(Side::Local);
        let l = log();
        // We hold 700,000 sat and keep 10,000 reserve; the buffer at 5000 sat/kw
        // with this HTLC and one more is (724 + 2 * 172) * 5 = 5340 sat.
        let max = 700_000_000 - 10_000_000 - 5_340_000;
        check_offer(&l, &t, &add(0, max)).unwrap();
        assert!(matches!(
            check_offer(&l, &t, &add(0, max + 1)),
            Err(HtlcError::CannotAfford { .. })
        ));
    }

    #[test]
    fn offering_respects_the_peers_limits() {
        let mut t = terms(Side::Local);
        t.remote.htlc_minimum_msat = 10_000;
        let l = log();
        assert!(matches!(
            check_offer(&l, &t, &add(0, 9_999)),
            Err(HtlcError::BelowMinimum {
                minimum_msat: 10_000,
                ..
            })
        ));
        t.remote.max_htlc_value_in_flight_msat = 20_000;
        assert!(matches!(
            check_offer(&l, &t, &add(0, 20_001)),
            Err(HtlcError::InFlightExceeded { .. })
        ));
    }

    /// BOLT 2, "Updating Fees": a raise that trims HTLCs past the dust
    /// exposure limit is refused, sent or received, in either commitment;
    /// the same HTLCs at the old feerate, or a lower feerate, pass.
    #[test]
    fn update_fee_rechecks_dust_exposure() {
        // Local funds. Three 2,000 sat HTLCs received by us (offered by the
        // remote): untrimmed at 253 sat/kw in our commitment (546 + 703 *
        // 0.253 = 723 sat), trimmed at 2,500 (546 + 1757 = 2303).
        let t = terms(Side::Local);
        let mut l = UpdateLog::new(700_000_000, 300_000_000, 253);
        for id in 0..3 {
            l.add_htlc(Side::Remote, add(id, 2_000_000)).unwrap();
        }
        // At the current rate nothing is trimmed.
        assert_eq!(
            totals(&l.view(Side::Local, Which::Next), &t, None).dust_exposure_msat,
            0
        );
        check_update_fee(&l, &t, 253).unwrap();
        // 6,000,000 msat trimmed at 2,500 sat/kw > 5,000,000.
        assert_eq!(
            check_update_fee(&l, &t, 2_500),
            Err(HtlcError::DustExposure {
                holder: Side::Local,
                exposure_msat: 6_000_000,
                limit_msat: 5_000_000
            })
        );
        // A higher limit lets it through.
        let mut loose = t;
        loose.max_dust_htlc_exposure_msat = 6_000_000;
        check_update_fee(&l, &loose, 2_500).unwrap();
        // With anchors trimming is by dust limit only: nothing changes.
        let mut anchors = t;
        anchors.channel_type = ChannelType::ANCHORS;
        check_update_fee(&l, &anchors, 2_500).unwrap();
        // A lowering never fails on exposure, even above the limit.
        let mut high = UpdateLog::new(700_000_000, 300_000_000, 5_000);
        for id in 0..3 {
            high.add_htlc(Side::Remote, add(id, 2_000_000)).unwrap();
        }
        check_update_fee(&high, &t, 4_000).unwrap();
    }

    #[test]
    fn update_fee_must_be_affordable() {
        let t = terms(Side::Remote);
        // The remote funder holds 10,000 sat: 724 * 13 = 9412 fits, 724 * 14 = 10136 does not.
        let l = UpdateLog::new(990_000_000, 10_000_000, 2500);
        check_update_fee(&l, &t, 13_000).unwrap();
        assert!(matches!(
            check_update_fee(&l, &t, 14_000),
            Err(HtlcError::FunderCannotPayFee { .. })
        ));
    }
}
