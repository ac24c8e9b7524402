//! Channel parameters and the rules BOLT 2 sets on them when a channel is
//! opened ("Channel Establishment v1": `open_channel`, `accept_channel`).
//!
//! Each side announces the limits it imposes on the *other* side
//! ([`PartyParams`]). The receiver of `open_channel` or `accept_channel`
//! checks them with [`check_open_channel`] or [`check_accept_channel`]; every
//! MUST of the spec is an [`EstablishError`] variant naming the rule, and the
//! MAY rules are applied through the node's [`ChannelLimits`].

use lightning_wire::features::{ChannelTypeFeatures, Feature, InitFeatures};

/// The largest `max_accepted_htlcs` BOLT 2 allows.
pub const MAX_ACCEPTED_HTLCS_LIMIT: u16 = 483;

/// The smallest `dust_limit_satoshis` BOLT 2 allows (BOLT 3, "Dust Limits":
/// the largest of the standardness dust thresholds).
pub const MIN_DUST_LIMIT_SATOSHIS: u64 = 354;

/// Channels at or above this many satoshis need `option_support_large_channel`.
pub const LARGE_CHANNEL_SATOSHIS: u64 = 1 << 24;

/// The default largest inbound channel: 10 BTC.
pub const DEFAULT_MAX_FUNDING_SATOSHIS: u64 = 1_000_000_000;

/// How many times the host's [`UrgentOnChainSweep`] estimate the highest
/// peer feerate is, when the host's [`MaxAllowedRemoteFee`] answer is not
/// above that urgent estimate (a host that answers one rate for every
/// target). See [`FeerateBounds::from_estimator`].
///
/// [`UrgentOnChainSweep`]: lightning_chain::ConfirmationTarget::UrgentOnChainSweep
/// [`MaxAllowedRemoteFee`]: lightning_chain::ConfirmationTarget::MaxAllowedRemoteFee
pub const REMOTE_FEERATE_CEILING_MULTIPLE: u32 = 10;

/// The value of each anchor output (BOLT 3, "Anchors").
pub const ANCHOR_OUTPUT_SATOSHIS: u64 = 330;

/// The limits one side imposes on the other, as `open_channel` and
/// `accept_channel` carry them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartyParams {
    /// Outputs below this are not created in the announcing side's
    /// commitment and HTLC transactions.
    pub dust_limit_satoshis: u64,
    /// The most value of HTLCs the other side may have outstanding.
    pub max_htlc_value_in_flight_msat: u64,
    /// What the other side must keep as a direct payment.
    pub channel_reserve_satoshis: u64,
    /// The smallest HTLC the announcing side accepts.
    pub htlc_minimum_msat: u64,
    /// The delay on the other side's to-self outputs.
    pub to_self_delay: u16,
    /// The most HTLCs the other side may offer.
    pub max_accepted_htlcs: u16,
}

/// The channel types this library implements (BOLT 2, "Defined Channel
/// Types"): a basic type and its allowed variations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ChannelType {
    /// `option_anchors` (with `option_static_remotekey`); otherwise plain
    /// `option_static_remotekey`.
    pub anchors: bool,
    /// `option_scid_alias`: only aliases are used for this channel.
    pub scid_alias: bool,
    /// `option_zeroconf`: usable before the funding transaction confirms.
    pub zeroconf: bool,
}

impl ChannelType {
    /// `option_static_remotekey` with no variation.
    pub const STATIC_REMOTEKEY: ChannelType = ChannelType {
        anchors: false,
        scid_alias: false,
        zeroconf: false,
    };
    /// `option_anchors` with no variation.
    pub const ANCHORS: ChannelType = ChannelType {
        anchors: true,
        scid_alias: false,
        zeroconf: false,
    };

    /// The `channel_type` bitmap: even bits only, smallest bitmap possible.
    ///
    /// ```
    /// use lightning_core::channel::params::ChannelType;
    /// let t = ChannelType::ANCHORS.to_features();
    /// assert_eq!(t.as_be_bytes(), &[0x40, 0x10, 0x00]); // bits 22 and 12
    /// assert_eq!(ChannelType::from_features(&t), Some(ChannelType::ANCHORS));
    /// ```
    pub fn to_features(self) -> ChannelTypeFeatures {
        let mut f = ChannelTypeFeatures::empty();
        f.set_required(Feature::StaticRemoteKey);
        if self.anchors {
            f.set_required(Feature::AnchorsZeroFeeHtlcTx);
        }
        if self.scid_alias {
            f.set_required(Feature::ScidAlias);
        }
        if self.zeroconf {
            f.set_required(Feature::ZeroConf);
        }
        f
    }

    /// The type a `channel_type` bitmap names, if it is one we implement.
    /// Any other bit (odd bits included) makes it unsuitable.
    pub fn from_features(f: &ChannelTypeFeatures) -> Option<ChannelType> {
        let t = ChannelType {
            anchors: f.is_set(Feature::AnchorsZeroFeeHtlcTx.required_bit()),
            scid_alias: f.is_set(Feature::ScidAlias.required_bit()),
            zeroconf: f.is_set(Feature::ZeroConf.required_bit()),
        };
        (t.to_features().minimal() == f.minimal()).then_some(t)
    }

    /// The `channel_type` to propose given both nodes' `init` features: the
    /// best basic type both support, with no variation.
    pub fn negotiate(ours: &InitFeatures, theirs: &InitFeatures) -> ChannelType {
        let both = |f| ours.supports(f) && theirs.supports(f);
        ChannelType {
            anchors: both(Feature::AnchorsZeroFeeHtlcTx),
            scid_alias: false,
            zeroconf: false,
        }
    }

    /// The fee the funder pays for a commitment with `num_htlc_outputs`
    /// untrimmed HTLCs, plus the two anchors where there are anchors (BOLT 3,
    /// "Fee Payment").
    pub fn commitment_fee_satoshis(self, feerate_per_kw: u32, num_htlc_outputs: usize) -> u64 {
        // The weights live in `transactions::fees`, with the builders.
        let fee = crate::transactions::fees::commitment_fee(
            self.commitment_format(),
            crate::amount::FeeratePerKw(feerate_per_kw),
            num_htlc_outputs,
        )
        .to_sat();
        if self.anchors {
            fee + 2 * ANCHOR_OUTPUT_SATOSHIS
        } else {
            fee
        }
    }
}

/// The local policy for accepting the other side's parameters: BOLT 2's
/// "unreasonably large" and the MAY-fail rules, made concrete.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ChannelLimits {
    /// The largest `to_self_delay` we accept for our own outputs.
    pub max_to_self_delay: u16,
    /// The smallest channel we accept.
    pub min_funding_satoshis: u64,
    /// The largest channel we accept from a funder (`open_channel`'s
    /// `funding_satoshis`, BOLT 2: a receiver MAY fail the channel on terms
    /// it does not find suitable). Above it, the open is refused with an
    /// `error` naming the field and the limit. Default: 10 BTC.
    pub max_funding_satoshis: u64,
    /// The largest `htlc_minimum_msat` we accept.
    pub max_htlc_minimum_msat: u64,
    /// The smallest `max_htlc_value_in_flight_msat` we accept.
    pub min_max_htlc_value_in_flight_msat: u64,
    /// The largest reserve we accept, in thousandths of the channel.
    pub max_channel_reserve_per_mille: u64,
    /// The smallest `max_accepted_htlcs` we accept.
    pub min_max_accepted_htlcs: u16,
    /// The largest `dust_limit_satoshis` we accept.
    pub max_dust_limit_satoshis: u64,
    /// The largest `minimum_depth` we accept.
    pub max_minimum_depth: u32,
    /// Whether we accept `option_support_large_channel` sizes.
    pub support_large_channel: bool,
}

impl Default for ChannelLimits {
    fn default() -> Self {
        ChannelLimits {
            max_to_self_delay: 2016,
            min_funding_satoshis: 1000,
            max_funding_satoshis: DEFAULT_MAX_FUNDING_SATOSHIS,
            max_htlc_minimum_msat: 1_000_000,
            min_max_htlc_value_in_flight_msat: 1_000,
            max_channel_reserve_per_mille: 200,
            min_max_accepted_htlcs: 1,
            max_dust_limit_satoshis: 10_000,
            max_minimum_depth: 144,
            support_large_channel: true,
        }
    }
}

/// The feerates the node accepts from a peer (`open_channel`'s and
/// `update_fee`'s `feerate_per_kw`), from its fee estimator at the time of
/// the check (BOLT 2: the receiver fails the channel if the feerate is "too
/// small for timely processing or unreasonably large").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeerateBounds {
    /// Below this, a commitment might not confirm in time.
    pub min_feerate_per_kw: u32,
    /// Above this, the rate is unreasonably large.
    pub max_feerate_per_kw: u32,
}

impl FeerateBounds {
    /// The bounds from the host's estimates (read through
    /// [`BoundedFeeEstimator`](lightning_chain::BoundedFeeEstimator), so
    /// never below 253 sat/kw):
    ///
    /// - floor: the [`MinAllowedRemoteFee`] estimate;
    /// - ceiling: the [`MaxAllowedRemoteFee`] estimate when it is above the
    ///   [`UrgentOnChainSweep`] (high-priority) estimate, as a host that
    ///   sets a ceiling on purpose makes it; otherwise
    ///   [`REMOTE_FEERATE_CEILING_MULTIPLE`] times the urgent estimate. The
    ///   ceiling is never below the floor.
    ///
    /// ```
    /// use lightning_chain::{ConfirmationTarget as T, FeeEstimator, FeeRate, FixedFeeEstimator};
    /// use lightning_core::channel::params::FeerateBounds;
    ///
    /// struct Host;
    /// impl FeeEstimator for Host {
    ///     fn fee_rate(&self, target: T) -> FeeRate {
    ///         FeeRate::from_sat_per_kw(match target {
    ///             T::MinAllowedRemoteFee => 300,
    ///             T::UrgentOnChainSweep => 5_000,
    ///             _ => 1_000,
    ///         })
    ///     }
    /// }
    /// // MaxAllowedRemoteFee (1000) is not above urgent (5000): 10 * 5000.
    /// assert_eq!(FeerateBounds::from_estimator(&Host),
    ///     FeerateBounds { min_feerate_per_kw: 300, max_feerate_per_kw: 50_000 });
    /// let fixed = FixedFeeEstimator::new(FeeRate::from_sat_per_kw(1000));
    /// assert_eq!(FeerateBounds::from_estimator(&fixed),
    ///     FeerateBounds { min_feerate_per_kw: 1000, max_feerate_per_kw: 25_000 });
    /// ```
    ///
    /// [`MinAllowedRemoteFee`]: lightning_chain::ConfirmationTarget::MinAllowedRemoteFee
    /// [`MaxAllowedRemoteFee`]: lightning_chain::ConfirmationTarget::MaxAllowedRemoteFee
    /// [`UrgentOnChainSweep`]: lightning_chain::ConfirmationTarget::UrgentOnChainSweep
    pub fn from_estimator<F: lightning_chain::FeeEstimator + ?Sized>(fees: &F) -> Self {
        use lightning_chain::{BoundedFeeEstimator, ConfirmationTarget, FeeEstimator};
        let bounded = BoundedFeeEstimator::new(fees);
        let rate = |t| bounded.fee_rate(t).sat_per_kw();
        let min = rate(ConfirmationTarget::MinAllowedRemoteFee);
        let urgent = rate(ConfirmationTarget::UrgentOnChainSweep);
        let max_allowed = rate(ConfirmationTarget::MaxAllowedRemoteFee);
        let max = if max_allowed > urgent {
            max_allowed
        } else {
            urgent.saturating_mul(REMOTE_FEERATE_CEILING_MULTIPLE)
        };
        FeerateBounds {
            min_feerate_per_kw: min,
            max_feerate_per_kw: max.max(min),
        }
    }

    /// Whether `feerate_per_kw` is within the bounds.
    pub fn contains(&self, feerate_per_kw: u32) -> bool {
        (self.min_feerate_per_kw..=self.max_feerate_per_kw).contains(&feerate_per_kw)
    }
}

/// What the funder proposes in `open_channel`, besides its [`PartyParams`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenProposal {
    /// Whether `chain_hash` names the chain this node is on.
    pub chain_is_ours: bool,
    /// `funding_satoshis`.
    pub funding_satoshis: u64,
    /// `push_msat`.
    pub push_msat: u64,
    /// `feerate_per_kw`.
    pub feerate_per_kw: u32,
    /// The `channel_type` TLV, if present.
    pub channel_type: Option<ChannelTypeFeatures>,
    /// The funder's limits on us.
    pub params: PartyParams,
}

/// A violated rule of channel establishment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EstablishError {
    /// `chain_hash` names a chain we are not on.
    #[error("chain_hash names a chain this node is not on")]
    UnknownChain,
    /// `push_msat` > `funding_satoshis` * 1000.
    #[error("push_msat {push_msat} is more than funding_satoshis {funding_satoshis} * 1000")]
    PushTooLarge {
        /// `push_msat`.
        push_msat: u64,
        /// `funding_satoshis`.
        funding_satoshis: u64,
    },
    /// `to_self_delay` above our limit.
    #[error("to_self_delay {got} is unreasonably large (limit {limit})")]
    ToSelfDelayTooLarge {
        /// The value.
        got: u16,
        /// Our limit.
        limit: u16,
    },
    /// `max_accepted_htlcs` above 483.
    #[error("max_accepted_htlcs {0} is more than 483")]
    TooManyAcceptedHtlcs(u16),
    /// `feerate_per_kw` outside our bounds.
    #[error("feerate_per_kw {got} is outside [{min}, {max}]")]
    FeerateOutOfBounds {
        /// The value.
        got: u32,
        /// Lowest acceptable.
        min: u32,
        /// Highest acceptable.
        max: u32,
    },
    /// `dust_limit_satoshis` > `channel_reserve_satoshis`.
    #[error("dust_limit_satoshis {dust_limit} is more than channel_reserve_satoshis {reserve}")]
    DustLimitAboveReserve {
        /// The dust limit.
        dust_limit: u64,
        /// The reserve it is compared with.
        reserve: u64,
    },
    /// `dust_limit_satoshis` < 354.
    #[error("dust_limit_satoshis {0} is below 354")]
    DustLimitTooSmall(u64),
    /// The funder cannot pay the initial commitment's fee.
    #[error("the funder's {funder_satoshis} sat cannot pay the initial commitment fee of {fee_satoshis} sat")]
    FunderCannotPayFee {
        /// The funder's initial balance.
        funder_satoshis: u64,
        /// The fee.
        fee_satoshis: u64,
    },
    /// Both initial outputs at or below the reserve.
    #[error("both initial balances ({to_funder} and {to_fundee} sat) are at or below the reserve")]
    BothBalancesBelowReserve {
        /// The funder's initial balance after fees.
        to_funder: u64,
        /// The fundee's initial balance.
        to_fundee: u64,
    },
    /// A large channel without `option_support_large_channel`.
    #[error("funding_satoshis {0} needs option_support_large_channel")]
    LargeChannelNotSupported(u64),
    /// A `channel_type` we do not implement.
    ///
    /// The text describes the bitmap by its length and first few bits only
    /// ([`describe_channel_type`]): it goes to the peer, and the peer's
    /// bitmap can be up to 65 KB long (issue 13, finding 1).
    #[error("channel_type {} is not a type this node supports", describe_channel_type(.0))]
    UnsupportedChannelType(ChannelTypeFeatures),
    /// `option_zeroconf` from a peer we do not trust.
    #[error("channel_type asks for option_zeroconf but the peer is not trusted for zero-conf")]
    ZeroconfNotTrusted,
    /// `accept_channel`'s `channel_type` differs from the one proposed.
    #[error("accept_channel's channel_type differs from open_channel's")]
    ChannelTypeMismatch,
    /// A MAY-fail rule our [`ChannelLimits`] apply.
    #[error("{field} {got} is outside this node's limit of {limit}")]
    OutsideLimits {
        /// The field's name in BOLT 2.
        field: &'static str,
        /// The value.
        got: u64,
        /// The limit.
        limit: u64,
    },
    /// `minimum_depth` is not zero for a zero-conf channel type.
    #[error("minimum_depth {0} with option_zeroconf must be 0")]
    ZeroconfDepthNotZero(u32),
}

/// How many set bits of a refused `channel_type` its description names.
const DESCRIBED_BITS: usize = 4;

/// A short description of a `channel_type` bitmap, whatever its size: its
/// length and its first few set bits, for example `of 2 bytes (bits 12, 22)`
/// or `of 4096 bytes (bits 0, 1, 2, 3 and 32764 more)`. At most about 100
/// characters.
pub fn describe_channel_type(t: &ChannelTypeFeatures) -> String {
    let mut bits = t.bits();
    let first: Vec<String> = bits
        .by_ref()
        .take(DESCRIBED_BITS)
        .map(|b| b.to_string())
        .collect();
    let more = bits.count();
    let len = t.as_be_bytes().len();
    let mut text = format!("of {len} bytes (bits {}", first.join(", "));
    if first.is_empty() {
        text = format!("of {len} bytes (no bits");
    }
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text.push(')');
    text
}

fn check_common(
    p: &PartyParams,
    funding_satoshis: u64,
    limits: &ChannelLimits,
) -> Result<(), EstablishError> {
    if p.to_self_delay > limits.max_to_self_delay {
        return Err(EstablishError::ToSelfDelayTooLarge {
            got: p.to_self_delay,
            limit: limits.max_to_self_delay,
        });
    }
    if p.max_accepted_htlcs > MAX_ACCEPTED_HTLCS_LIMIT {
        return Err(EstablishError::TooManyAcceptedHtlcs(p.max_accepted_htlcs));
    }
    if p.dust_limit_satoshis < MIN_DUST_LIMIT_SATOSHIS {
        return Err(EstablishError::DustLimitTooSmall(p.dust_limit_satoshis));
    }
    let outside = |field, got: u64, limit: u64| EstablishError::OutsideLimits { field, got, limit };
    if p.htlc_minimum_msat > limits.max_htlc_minimum_msat {
        return Err(outside(
            "htlc_minimum_msat",
            p.htlc_minimum_msat,
            limits.max_htlc_minimum_msat,
        ));
    }
    if p.max_htlc_value_in_flight_msat < limits.min_max_htlc_value_in_flight_msat {
        return Err(outside(
            "max_htlc_value_in_flight_msat",
            p.max_htlc_value_in_flight_msat,
            limits.min_max_htlc_value_in_flight_msat,
        ));
    }
    let max_reserve = funding_satoshis.saturating_mul(limits.max_channel_reserve_per_mille) / 1000;
    if p.channel_reserve_satoshis > max_reserve {
        return Err(outside(
            "channel_reserve_satoshis",
            p.channel_reserve_satoshis,
            max_reserve,
        ));
    }
    if p.max_accepted_htlcs < limits.min_max_accepted_htlcs {
        return Err(outside(
            "max_accepted_htlcs",
            u64::from(p.max_accepted_htlcs),
            u64::from(limits.min_max_accepted_htlcs),
        ));
    }
    if p.dust_limit_satoshis > limits.max_dust_limit_satoshis {
        return Err(outside(
            "dust_limit_satoshis",
            p.dust_limit_satoshis,
            limits.max_dust_limit_satoshis,
        ));
    }
    Ok(())
}

/// Checks a received `open_channel` (BOLT 2, "The `open_channel` Message",
/// receiver requirements) and returns the channel type to use.
///
/// `their_features` and `our_features` are the `init` features, `trusted`
/// says whether we accept zero-conf channels from this peer. Without a
/// `channel_type` the type is implied by the `init` features.
pub fn check_open_channel(
    open: &OpenProposal,
    our_features: &InitFeatures,
    their_features: &InitFeatures,
    feerates: FeerateBounds,
    limits: &ChannelLimits,
    trusted_for_zeroconf: bool,
) -> Result<ChannelType, EstablishError> {
    if !open.chain_is_ours {
        return Err(EstablishError::UnknownChain);
    }
    if open.push_msat > open.funding_satoshis.saturating_mul(1000) {
        return Err(EstablishError::PushTooLarge {
            push_msat: open.push_msat,
            funding_satoshis: open.funding_satoshis,
        });
    }
    if open.funding_satoshis >= LARGE_CHANNEL_SATOSHIS && !limits.support_large_channel {
        return Err(EstablishError::LargeChannelNotSupported(
            open.funding_satoshis,
        ));
    }
    if open.funding_satoshis < limits.min_funding_satoshis {
        return Err(EstablishError::OutsideLimits {
            field: "funding_satoshis",
            got: open.funding_satoshis,
            limit: limits.min_funding_satoshis,
        });
    }
    if open.funding_satoshis > limits.max_funding_satoshis {
        return Err(EstablishError::OutsideLimits {
            field: "funding_satoshis",
            got: open.funding_satoshis,
            limit: limits.max_funding_satoshis,
        });
    }
    let p = &open.params;
    check_common(p, open.funding_satoshis, limits)?;
    if !(feerates.min_feerate_per_kw..=feerates.max_feerate_per_kw).contains(&open.feerate_per_kw) {
        return Err(EstablishError::FeerateOutOfBounds {
            got: open.feerate_per_kw,
            min: feerates.min_feerate_per_kw,
            max: feerates.max_feerate_per_kw,
        });
    }
    if p.dust_limit_satoshis > p.channel_reserve_satoshis {
        return Err(EstablishError::DustLimitAboveReserve {
            dust_limit: p.dust_limit_satoshis,
            reserve: p.channel_reserve_satoshis,
        });
    }
    let channel_type = match &open.channel_type {
        Some(t) => {
            let ct = ChannelType::from_features(t)
                .ok_or_else(|| EstablishError::UnsupportedChannelType(t.clone()))?;
            if ct.anchors && !(our_features.supports(Feature::AnchorsZeroFeeHtlcTx)) {
                return Err(EstablishError::UnsupportedChannelType(t.clone()));
            }
            if ct.zeroconf && !trusted_for_zeroconf {
                return Err(EstablishError::ZeroconfNotTrusted);
            }
            ct
        }
        None => ChannelType::negotiate(our_features, their_features),
    };
    // Initial balances: the funder pays the commitment fee (and anchors).
    let fee = channel_type.commitment_fee_satoshis(open.feerate_per_kw, 0);
    let pushed_sat = open.push_msat / 1000;
    let funder = open.funding_satoshis - pushed_sat;
    if funder < fee {
        return Err(EstablishError::FunderCannotPayFee {
            funder_satoshis: funder,
            fee_satoshis: fee,
        });
    }
    let to_funder = funder - fee;
    let reserve = p.channel_reserve_satoshis;
    if to_funder <= reserve && pushed_sat <= reserve {
        return Err(EstablishError::BothBalancesBelowReserve {
            to_funder,
            to_fundee: pushed_sat,
        });
    }
    Ok(channel_type)
}

/// What the fundee answers in `accept_channel`, besides its [`PartyParams`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptResponse {
    /// `minimum_depth`.
    pub minimum_depth: u32,
    /// The `channel_type` TLV, if present.
    pub channel_type: Option<ChannelTypeFeatures>,
    /// The fundee's limits on us.
    pub params: PartyParams,
}

/// Checks a received `accept_channel` against the `open_channel` we sent
/// (BOLT 2, "The `accept_channel` Message", receiver requirements).
pub fn check_accept_channel(
    accept: &AcceptResponse,
    our_open: &PartyParams,
    funding_satoshis: u64,
    proposed_type: ChannelType,
    limits: &ChannelLimits,
) -> Result<(), EstablishError> {
    let p = &accept.params;
    check_common(p, funding_satoshis, limits)?;
    // Their reserve on us must not be below our dust limit, and our reserve
    // on them must not be below their dust limit.
    if p.channel_reserve_satoshis < our_open.dust_limit_satoshis {
        return Err(EstablishError::DustLimitAboveReserve {
            dust_limit: our_open.dust_limit_satoshis,
            reserve: p.channel_reserve_satoshis,
        });
    }
    if our_open.channel_reserve_satoshis < p.dust_limit_satoshis {
        return Err(EstablishError::DustLimitAboveReserve {
            dust_limit: p.dust_limit_satoshis,
            reserve: our_open.channel_reserve_satoshis,
        });
    }
    if let Some(t) = &accept.channel_type {
        if ChannelType::from_features(t) != Some(proposed_type) {
            return Err(EstablishError::ChannelTypeMismatch);
        }
    }
    if proposed_type.zeroconf && accept.minimum_depth != 0 {
        return Err(EstablishError::ZeroconfDepthNotZero(accept.minimum_depth));
    }
    if accept.minimum_depth > limits.max_minimum_depth {
        return Err(EstablishError::OutsideLimits {
            field: "minimum_depth",
            got: u64::from(accept.minimum_depth),
            limit: u64::from(limits.max_minimum_depth),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> PartyParams {
        PartyParams {
            dust_limit_satoshis: 546,
            max_htlc_value_in_flight_msat: 500_000_000,
            channel_reserve_satoshis: 10_000,
            htlc_minimum_msat: 1,
            to_self_delay: 144,
            max_accepted_htlcs: 483,
        }
    }

    fn open() -> OpenProposal {
        OpenProposal {
            chain_is_ours: true,
            funding_satoshis: 1_000_000,
            push_msat: 0,
            feerate_per_kw: 2500,
            channel_type: Some(ChannelType::STATIC_REMOTEKEY.to_features()),
            params: params(),
        }
    }

    fn features(anchors: bool) -> InitFeatures {
        let mut f = InitFeatures::empty();
        f.set_optional(Feature::StaticRemoteKey);
        if anchors {
            f.set_optional(Feature::AnchorsZeroFeeHtlcTx);
        }
        f
    }

    const FEERATES: FeerateBounds = FeerateBounds {
        min_feerate_per_kw: 253,
        max_feerate_per_kw: 100_000,
    };

    fn check(o: &OpenProposal) -> Result<ChannelType, EstablishError> {
        check_open_channel(
            o,
            &features(true),
            &features(true),
            FEERATES,
            &ChannelLimits::default(),
            false,
        )
    }

    #[test]
    fn a_sane_open_is_accepted() {
        assert_eq!(check(&open()), Ok(ChannelType::STATIC_REMOTEKEY));
        let mut o = open();
        o.channel_type = None;
        assert_eq!(
            check(&o),
            Ok(ChannelType::ANCHORS),
            "implied by init features"
        );
    }

    /// One test per MUST-fail rule of the `open_channel` receiver.
    #[test]
    fn every_open_channel_must_fail_rule() {
        type Case = (
            &'static str,
            Box<dyn Fn(&mut OpenProposal)>,
            fn(&EstablishError) -> bool,
        );
        let cases: Vec<Case> = vec![
            (
                "unknown chain",
                Box::new(|o| o.chain_is_ours = false),
                |e| matches!(e, EstablishError::UnknownChain),
            ),
            (
                "push > funding",
                Box::new(|o| o.push_msat = o.funding_satoshis * 1000 + 1),
                |e| matches!(e, EstablishError::PushTooLarge { .. }),
            ),
            (
                "to_self_delay",
                Box::new(|o| o.params.to_self_delay = 2017),
                |e| matches!(e, EstablishError::ToSelfDelayTooLarge { .. }),
            ),
            (
                "max_accepted_htlcs > 483",
                Box::new(|o| o.params.max_accepted_htlcs = 484),
                |e| matches!(e, EstablishError::TooManyAcceptedHtlcs(484)),
            ),
            (
                "feerate too small",
                Box::new(|o| o.feerate_per_kw = 252),
                |e| matches!(e, EstablishError::FeerateOutOfBounds { .. }),
            ),
            (
                "feerate too large",
                Box::new(|o| o.feerate_per_kw = 100_001),
                |e| matches!(e, EstablishError::FeerateOutOfBounds { .. }),
            ),
            (
                "dust > reserve",
                Box::new(|o| {
                    o.params.dust_limit_satoshis = 5000;
                    o.params.channel_reserve_satoshis = 4999
                }),
                |e| matches!(e, EstablishError::DustLimitAboveReserve { .. }),
            ),
            (
                "dust < 354",
                Box::new(|o| o.params.dust_limit_satoshis = 353),
                |e| matches!(e, EstablishError::DustLimitTooSmall(353)),
            ),
            (
                "funder cannot pay fee",
                Box::new(|o| {
                    o.funding_satoshis = 20_000;
                    o.params.channel_reserve_satoshis = 1000;
                    o.feerate_per_kw = 100_000
                }),
                |e| matches!(e, EstablishError::FunderCannotPayFee { .. }),
            ),
            (
                "both below reserve",
                Box::new(|o| {
                    // Fee 724 * 20 = 14480 sat leaves the funder 3520; 2000 pushed.
                    o.funding_satoshis = 20_000;
                    o.params.channel_reserve_satoshis = 4000;
                    o.feerate_per_kw = 20_000;
                    o.push_msat = 2_000_000;
                }),
                |e| {
                    matches!(
                        e,
                        EstablishError::BothBalancesBelowReserve {
                            to_funder: 3520,
                            to_fundee: 2000
                        }
                    )
                },
            ),
            (
                "unsupported type",
                Box::new(|o| {
                    o.channel_type = Some(
                        lightning_wire::features::ChannelTypeFeatures::from_be_bytes(vec![0x01]),
                    )
                }),
                |e| matches!(e, EstablishError::UnsupportedChannelType(_)),
            ),
            (
                "odd bit in type",
                Box::new(|o| {
                    let mut t = ChannelType::STATIC_REMOTEKEY.to_features();
                    t.set_bit(13);
                    o.channel_type = Some(t)
                }),
                |e| matches!(e, EstablishError::UnsupportedChannelType(_)),
            ),
            (
                "zeroconf untrusted",
                Box::new(|o| {
                    o.channel_type = Some(
                        ChannelType {
                            zeroconf: true,
                            ..ChannelType::STATIC_REMOTEKEY
                        }
                        .to_features(),
                    )
                }),
                |e| matches!(e, EstablishError::ZeroconfNotTrusted),
            ),
        ];
        for (name, mutate, expect) in cases {
            let mut o = open();
            mutate(&mut o);
            match check(&o) {
                Err(e) if expect(&e) => {}
                other => panic!("{name}: got {other:?}"),
            }
        }
    }

    #[test]
    fn funding_above_our_maximum_is_refused_with_a_bounded_text() {
        let limits = ChannelLimits {
            max_funding_satoshis: 2_000_000,
            ..ChannelLimits::default()
        };
        let run = |funding_satoshis| {
            let o = OpenProposal {
                funding_satoshis,
                ..open()
            };
            check_open_channel(
                &o,
                &features(true),
                &features(true),
                FEERATES,
                &limits,
                false,
            )
        };
        assert!(run(2_000_000).is_ok());
        let err = run(2_000_001).unwrap_err();
        assert_eq!(
            err,
            EstablishError::OutsideLimits {
                field: "funding_satoshis",
                got: 2_000_001,
                limit: 2_000_000
            }
        );
        // Our own words and two numbers: bounded whatever the peer sent.
        let worst = run(u64::MAX).unwrap_err().to_string();
        assert!(worst.len() < 100, "{worst}");
        assert_eq!(
            ChannelLimits::default().max_funding_satoshis,
            DEFAULT_MAX_FUNDING_SATOSHIS
        );
    }

    #[test]
    fn feerate_bounds_follow_the_estimator() {
        use lightning_chain::{ConfirmationTarget as T, FeeEstimator, FeeRate};
        struct Host(u32, u32, u32);
        impl FeeEstimator for Host {
            fn fee_rate(&self, target: T) -> FeeRate {
                FeeRate::from_sat_per_kw(match target {
                    T::MinAllowedRemoteFee => self.0,
                    T::UrgentOnChainSweep => self.1,
                    T::MaxAllowedRemoteFee => self.2,
                    _ => 1,
                })
            }
        }
        // A deliberate ceiling above urgent is the ceiling.
        assert_eq!(
            FeerateBounds::from_estimator(&Host(500, 4_000, 30_000)),
            FeerateBounds {
                min_feerate_per_kw: 500,
                max_feerate_per_kw: 30_000
            }
        );
        // Otherwise ten times urgent; the floor never below 253.
        assert_eq!(
            FeerateBounds::from_estimator(&Host(100, 4_000, 4_000)),
            FeerateBounds {
                min_feerate_per_kw: 253,
                max_feerate_per_kw: 40_000
            }
        );
        // The ceiling never below the floor.
        let b = FeerateBounds::from_estimator(&Host(9_000, 300, 300));
        assert_eq!((b.min_feerate_per_kw, b.max_feerate_per_kw), (9_000, 9_000));
        assert!(b.contains(9_000) && !b.contains(8_999) && !b.contains(9_001));
    }

    #[test]
    fn large_channels_need_the_feature() {
        let mut o = open();
        o.funding_satoshis = LARGE_CHANNEL_SATOSHIS;
        o.params.channel_reserve_satoshis = 100_000;
        let limits = ChannelLimits {
            support_large_channel: false,
            ..ChannelLimits::default()
        };
        assert!(matches!(
            check_open_channel(
                &o,
                &features(false),
                &features(false),
                FEERATES,
                &limits,
                false
            ),
            Err(EstablishError::LargeChannelNotSupported(_))
        ));
        assert!(check(&o).is_ok());
    }

    #[test]
    fn anchors_type_needs_our_support() {
        let mut o = open();
        o.channel_type = Some(ChannelType::ANCHORS.to_features());
        assert!(matches!(
            check_open_channel(
                &o,
                &features(false),
                &features(true),
                FEERATES,
                &ChannelLimits::default(),
                false
            ),
            Err(EstablishError::UnsupportedChannelType(_))
        ));
        let mut zc = open();
        zc.channel_type = Some(
            ChannelType {
                zeroconf: true,
                scid_alias: true,
                anchors: true,
            }
            .to_features(),
        );
        assert!(check_open_channel(
            &zc,
            &features(true),
            &features(true),
            FEERATES,
            &ChannelLimits::default(),
            true
        )
        .is_ok());
    }

    fn accept() -> AcceptResponse {
        AcceptResponse {
            minimum_depth: 3,
            channel_type: Some(ChannelType::STATIC_REMOTEKEY.to_features()),
            params: params(),
        }
    }

    #[test]
    fn every_accept_channel_must_fail_rule() {
        let limits = ChannelLimits::default();
        let ours = params();
        let t = ChannelType::STATIC_REMOTEKEY;
        assert_eq!(
            check_accept_channel(&accept(), &ours, 1_000_000, t, &limits),
            Ok(())
        );

        let mut a = accept();
        a.params.channel_reserve_satoshis = ours.dust_limit_satoshis - 1;
        assert!(matches!(
            check_accept_channel(&a, &ours, 1_000_000, t, &limits),
            Err(EstablishError::DustLimitAboveReserve { .. })
        ));

        let ours_low_reserve = PartyParams {
            channel_reserve_satoshis: 5000,
            ..ours
        };
        let mut a = accept();
        a.params.dust_limit_satoshis = 5001;
        assert!(matches!(
            check_accept_channel(&a, &ours_low_reserve, 1_000_000, t, &limits),
            Err(EstablishError::DustLimitAboveReserve {
                dust_limit: 5001,
                reserve: 5000
            })
        ));

        let mut a = accept();
        a.channel_type = Some(ChannelType::ANCHORS.to_features());
        assert_eq!(
            check_accept_channel(&a, &ours, 1_000_000, t, &limits),
            Err(EstablishError::ChannelTypeMismatch)
        );

        let zc = ChannelType {
            zeroconf: true,
            ..t
        };
        let mut a = accept();
        a.channel_type = Some(zc.to_features());
        assert_eq!(
            check_accept_channel(&a, &ours, 1_000_000, zc, &limits),
            Err(EstablishError::ZeroconfDepthNotZero(3))
        );

        let mut a = accept();
        a.params.max_accepted_htlcs = 484;
        assert_eq!(
            check_accept_channel(&a, &ours, 1_000_000, t, &limits),
            Err(EstablishError::TooManyAcceptedHtlcs(484))
        );

        let mut a = accept();
        a.params.dust_limit_satoshis = 353;
        a.params.channel_reserve_satoshis = 10_000;
        assert_eq!(
            check_accept_channel(&a, &ours, 1_000_000, t, &limits),
            Err(EstablishError::DustLimitTooSmall(353))
        );
    }
}
