//! Mutual close: the `shutdown` script rules and the `closing_signed` fee
//! negotiation (BOLT 2, "Channel Close").
//!
//! In the modern method the funder sends a `fee_range` and the non-funder
//! picks a fee inside the overlap of both ranges; negotiation ends after two
//! or three messages. Without `fee_range`, each side proposes a fee strictly
//! between the last two until they meet. [`ClosingNegotiation`] is the pure
//! decision logic; the channel signs and sends what it decides.
//!
//! With `option_simple_close` ("Closing Negotiation: `closing_complete` and
//! `closing_sig`") each side pays for its own closing transaction; the
//! rules that keep a peer from taking our output or holding it back are
//! [`closer_variants`], [`closee_variant`] and [`check_closing_locktime`].

use crate::transactions::closing::SimpleCloseVariant;

/// Whether `script` is a `shutdown` `scriptpubkey` BOLT 2 allows: P2WPKH,
/// P2WSH, or with `option_shutdown_anysegwit` any witness program of version
/// 1 to 16 with a 2 to 40 byte push.
///
/// ```
/// use lightning_core::channel::close::is_valid_shutdown_script;
/// let p2wpkh = [&[0x00, 0x14][..], &[7; 20]].concat();
/// assert!(is_valid_shutdown_script(&p2wpkh, false));
/// let p2tr = [&[0x51, 0x20][..], &[7; 32]].concat();
/// assert!(!is_valid_shutdown_script(&p2tr, false));
/// assert!(is_valid_shutdown_script(&p2tr, true));
/// ```
pub fn is_valid_shutdown_script(script: &[u8], anysegwit: bool) -> bool {
    match script {
        [0x00, 0x14, rest @ ..] => rest.len() == 20,
        [0x00, 0x20, rest @ ..] => rest.len() == 32,
        [version, push, rest @ ..] if anysegwit && (0x51..=0x60).contains(version) => {
            (2..=40).contains(push) && rest.len() == usize::from(*push)
        }
        _ => false,
    }
}

/// How far above our best height the `locktime` of a peer's
/// `closing_complete` may be. The closee signs the closer's transaction and
/// considers the channel closed, so a far `locktime` (or a timestamp) would
/// hold our output in a transaction no miner may include until then; a few
/// blocks cover a peer whose tip is ahead of ours.
pub const MAX_CLOSING_LOCKTIME_AHEAD: u32 = 6;

/// Checks the `locktime` of a peer's `closing_complete` against our best
/// height: a block height (below 500,000,000, not a timestamp), at most
/// [`MAX_CLOSING_LOCKTIME_AHEAD`] blocks above `best_height`.
///
/// ```
/// use lightning_core::channel::close::check_closing_locktime;
/// assert!(check_closing_locktime(800_000, 800_000).is_ok());
/// assert!(check_closing_locktime(800_006, 800_000).is_ok());
/// assert!(check_closing_locktime(800_007, 800_000).is_err());
/// assert!(check_closing_locktime(1_700_000_000, 800_000).is_err());
/// ```
pub fn check_closing_locktime(locktime: u32, best_height: u32) -> Result<(), &'static str> {
    if locktime >= 500_000_000 {
        return Err("locktime is a timestamp, not a block height");
    }
    if locktime > best_height.saturating_add(MAX_CLOSING_LOCKTIME_AHEAD) {
        return Err("locktime is too far above the best block");
    }
    Ok(())
}

/// What we sent in our last `closing_complete`: the peer's `closing_sig`
/// must echo the scripts, `fee_satoshis` and `locktime`, and carry one of
/// the variants we signed (BOLT 2, "The receiver of `closing_sig`").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentClosingComplete {
    /// `closer_scriptpubkey` (ours).
    pub closer_scriptpubkey: Vec<u8>,
    /// `closee_scriptpubkey` (the peer's).
    pub closee_scriptpubkey: Vec<u8>,
    /// `fee_satoshis`, paid from our output.
    pub fee_satoshis: u64,
    /// `locktime`.
    pub locktime: u32,
    /// The variants we signed.
    pub variants: Vec<SimpleCloseVariant>,
}

/// The variants the closer signs (BOLT 2, "The sender of
/// `closing_complete`"), given the closer's and closee's balances in msat
/// and whether each output is dust (the closer's after the fee):
///
/// - a closer with less than the closee never sets `closer_output_only`,
///   and sets `closee_output_only` only when its own output is dust;
/// - otherwise it never sets `closee_output_only`; with a dust closee
///   output it sets `closer_output_only` alone, else `closer_output_only`
///   and `closer_and_closee_outputs`.
///
/// So the closer never signs away its own output unless it is dust. Empty
/// when no variant has an output that is not dust.
///
/// ```
/// use lightning_core::channel::close::closer_variants;
/// use lightning_core::transactions::closing::SimpleCloseVariant::*;
/// assert_eq!(closer_variants(10, 20, false, false), vec![CloserAndCloseeOutputs]);
/// assert_eq!(closer_variants(10, 20, true, false), vec![CloseeOutputOnly]);
/// assert_eq!(closer_variants(20, 10, false, true), vec![CloserOutputOnly]);
/// assert_eq!(closer_variants(20, 10, false, false), vec![CloserOutputOnly, CloserAndCloseeOutputs]);
/// assert!(closer_variants(20, 10, true, true).is_empty());
/// ```
pub fn closer_variants(
    closer_msat: u64,
    closee_msat: u64,
    closer_dust: bool,
    closee_dust: bool,
) -> Vec<SimpleCloseVariant> {
    use SimpleCloseVariant::*;
    match (closer_dust, closee_dust) {
        (true, true) => Vec::new(),
        // Our output is dust: only the peer's output is worth a
        // transaction, whatever the balances.
        (true, false) => vec![CloseeOutputOnly],
        (false, true) => vec![CloserOutputOnly],
        (false, false) if closer_msat < closee_msat => vec![CloserAndCloseeOutputs],
        (false, false) => vec![CloserOutputOnly, CloserAndCloseeOutputs],
    }
}

/// The variant the closee signs (BOLT 2, "The receiver of
/// `closing_complete`": "Select a signature for validation"): with its own
/// output dust, `closer_output_only`; otherwise `closer_and_closee_outputs`
/// if present, else `closee_output_only`. A transaction without the
/// closee's output is never chosen while that output is not dust, so a
/// `closing_complete` offering only `closer_output_only` cannot take it.
///
/// ```
/// use lightning_core::channel::close::closee_variant;
/// use lightning_core::transactions::closing::SimpleCloseVariant::*;
/// assert_eq!(closee_variant(false, true), CloserAndCloseeOutputs);
/// assert_eq!(closee_variant(false, false), CloseeOutputOnly);
/// assert_eq!(closee_variant(true, true), CloserOutputOnly);
/// ```
pub fn closee_variant(our_output_is_dust: bool, both_offered: bool) -> SimpleCloseVariant {
    if our_output_is_dust {
        SimpleCloseVariant::CloserOutputOnly
    } else if both_offered {
        SimpleCloseVariant::CloserAndCloseeOutputs
    } else {
        SimpleCloseVariant::CloseeOutputOnly
    }
}

/// A `fee_range`: the fees, in satoshis, a side accepts for the closing
/// transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FeeRange {
    /// `min_fee_satoshis`.
    pub min_fee_satoshis: u64,
    /// `max_fee_satoshis`.
    pub max_fee_satoshis: u64,
}

impl FeeRange {
    /// Whether `fee` is in the range.
    pub fn contains(&self, fee: u64) -> bool {
        (self.min_fee_satoshis..=self.max_fee_satoshis).contains(&fee)
    }

    /// The overlap of two ranges, if any.
    pub fn overlap(&self, other: &FeeRange) -> Option<FeeRange> {
        let min = self.min_fee_satoshis.max(other.min_fee_satoshis);
        let max = self.max_fee_satoshis.min(other.max_fee_satoshis);
        (min <= max).then_some(FeeRange {
            min_fee_satoshis: min,
            max_fee_satoshis: max,
        })
    }
}

/// What to do after a step of the negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosingStep {
    /// Sign and send `closing_signed` with this fee (and our range), then
    /// wait for the reply.
    Propose {
        /// The fee to sign.
        fee_satoshis: u64,
    },
    /// Agreement: sign the closing transaction with this fee and broadcast
    /// it; send `closing_signed` with it too when `reply` is set.
    Agreed {
        /// The agreed fee.
        fee_satoshis: u64,
        /// Whether the peer still needs our `closing_signed` with this fee.
        reply: bool,
    },
}

/// A `closing_signed` that breaks the negotiation rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClosingError {
    /// The ranges do not overlap (BOLT 2: send a `warning`; fail the channel
    /// if no better range comes).
    #[error("fee_range {theirs:?} does not overlap ours {ours:?}")]
    NoOverlap {
        /// Their range.
        theirs: FeeRange,
        /// Ours.
        ours: FeeRange,
    },
    /// As funder, a fee outside the overlap (BOLT 2: MUST fail the channel).
    #[error("fee_satoshis {fee} is outside the overlap {overlap:?}")]
    OutsideOverlap {
        /// The fee.
        fee: u64,
        /// The overlap of both ranges.
        overlap: FeeRange,
    },
    /// As non-funder who already answered, a different fee (BOLT 2: MUST fail
    /// the channel).
    #[error("fee_satoshis {got} differs from the {sent} we already sent")]
    ChangedFee {
        /// The fee received.
        got: u64,
        /// The fee we sent.
        sent: u64,
    },
    /// Without `fee_range`, no whole fee is left strictly between ours and
    /// theirs, and theirs is outside our range: the negotiation cannot end.
    #[error("no fee is left strictly between our {ours} and their {theirs}")]
    NoFeeBetween {
        /// Our last fee.
        ours: u64,
        /// Their fee.
        theirs: u64,
    },
    /// Without `fee_range`, a fee not strictly between the last two.
    #[error("fee_satoshis {fee} is not strictly between {ours} and {theirs}")]
    NotStrictlyBetween {
        /// The fee.
        fee: u64,
        /// Our last fee.
        ours: u64,
        /// Their previous fee.
        theirs: u64,
    },
}

/// One side's state of the `closing_signed` negotiation.
///
/// ```
/// use lightning_core::channel::close::*;
/// let range = FeeRange { min_fee_satoshis: 200, max_fee_satoshis: 1000 };
/// let mut funder = ClosingNegotiation::new(true, range);
/// let mut fundee = ClosingNegotiation::new(false, FeeRange { min_fee_satoshis: 100, max_fee_satoshis: 400 });
/// let first = funder.start(600);
/// assert_eq!(first, ClosingStep::Propose { fee_satoshis: 600 });
/// // The fundee picks inside the overlap [200, 400].
/// let answer = fundee.on_closing_signed(600, Some(range)).unwrap();
/// assert_eq!(answer, ClosingStep::Propose { fee_satoshis: 400 });
/// let done = funder.on_closing_signed(400, Some(fundee.our_range())).unwrap();
/// assert_eq!(done, ClosingStep::Agreed { fee_satoshis: 400, reply: true });
/// assert_eq!(fundee.on_closing_signed(400, None).unwrap(), ClosingStep::Agreed { fee_satoshis: 400, reply: false });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosingNegotiation {
    is_funder: bool,
    our_range: FeeRange,
    last_sent: Option<u64>,
    last_received: Option<u64>,
}

impl ClosingNegotiation {
    /// A new negotiation (also after a reconnection: BOLT 2 restarts it).
    pub fn new(is_funder: bool, our_range: FeeRange) -> Self {
        ClosingNegotiation {
            is_funder,
            our_range,
            last_sent: None,
            last_received: None,
        }
    }

    /// The range we send.
    pub fn our_range(&self) -> FeeRange {
        self.our_range
    }

    /// The funder's first proposal: `preferred` clamped into our range.
    pub fn start(&mut self, preferred_fee_satoshis: u64) -> ClosingStep {
        let fee = preferred_fee_satoshis.clamp(
            self.our_range.min_fee_satoshis,
            self.our_range.max_fee_satoshis,
        );
        self.last_sent = Some(fee);
        ClosingStep::Propose { fee_satoshis: fee }
    }

    /// Handles a received `closing_signed` (its signature already checked).
    pub fn on_closing_signed(
        &mut self,
        fee: u64,
        their_range: Option<FeeRange>,
    ) -> Result<ClosingStep, ClosingError> {
        let previous_received = self.last_received.replace(fee);
        if self.last_sent == Some(fee) {
            return Ok(ClosingStep::Agreed {
                fee_satoshis: fee,
                reply: false,
            });
        }
        if self.last_sent.is_some() && self.our_range.contains(fee) && their_range.is_none() {
            // Our range was sent: a fee inside it is accepted.
            return Ok(self.agree(fee));
        }
        if let Some(theirs) = their_range {
            let overlap = theirs
                .overlap(&self.our_range)
                .ok_or(ClosingError::NoOverlap {
                    theirs,
                    ours: self.our_range,
                })?;
            if self.is_funder {
                if !overlap.contains(fee) {
                    return Err(ClosingError::OutsideOverlap { fee, overlap });
                }
                return Ok(self.agree(fee));
            }
            if let Some(sent) = self.last_sent {
                if fee != sent {
                    return Err(ClosingError::ChangedFee { got: fee, sent });
                }
            }
            let chosen = fee.clamp(overlap.min_fee_satoshis, overlap.max_fee_satoshis);
            if chosen == fee {
                return Ok(self.agree(fee));
            }
            self.last_sent = Some(chosen);
            return Ok(ClosingStep::Propose {
                fee_satoshis: chosen,
            });
        }
        // The legacy method: strictly between our last and their previous.
        if let (Some(ours), Some(prev)) = (self.last_sent, previous_received) {
            let (lo, hi) = if ours < prev {
                (ours, prev)
            } else {
                (prev, ours)
            };
            if !(lo < fee && fee < hi) {
                return Err(ClosingError::NotStrictlyBetween {
                    fee,
                    ours,
                    theirs: prev,
                });
            }
        }
        if self.our_range.contains(fee) {
            return Ok(self.agree(fee));
        }
        // BOLT 2: propose "strictly between" their fee and our last one: our
        // range's edge nearest to theirs if it fits, else the midpoint.
        let target = fee.clamp(
            self.our_range.min_fee_satoshis,
            self.our_range.max_fee_satoshis,
        );
        let next = match self.last_sent {
            None => target,
            Some(ours) => {
                let (lo, hi) = if ours < fee { (ours, fee) } else { (fee, ours) };
                if hi - lo < 2 {
                    return Err(ClosingError::NoFeeBetween { ours, theirs: fee });
                }
                if lo < target && target < hi {
                    target
                } else {
                    lo + (hi - lo) / 2
                }
            }
        };
        self.last_sent = Some(next);
        Ok(ClosingStep::Propose { fee_satoshis: next })
    }

    fn agree(&mut self, fee: u64) -> ClosingStep {
        let reply = self.last_sent != Some(fee);
        self.last_sent = Some(fee);
        ClosingStep::Agreed {
            fee_satoshis: fee,
            reply,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(min: u64, max: u64) -> FeeRange {
        FeeRange {
            min_fee_satoshis: min,
            max_fee_satoshis: max,
        }
    }

    #[test]
    fn shutdown_script_forms() {
        let p2wsh = [&[0x00, 0x20][..], &[1; 32]].concat();
        assert!(is_valid_shutdown_script(&p2wsh, false));
        let short = [&[0x00, 0x14][..], &[1; 19]].concat();
        assert!(!is_valid_shutdown_script(&short, false));
        let p2pkh = [&[0x76, 0xa9, 0x14][..], &[1; 20], &[0x88, 0xac]].concat();
        assert!(!is_valid_shutdown_script(&p2pkh, true));
        // Version 16, push of 40: allowed; push of 41 or 1: not.
        assert!(is_valid_shutdown_script(
            &[&[0x60, 40][..], &[1; 40]].concat(),
            true
        ));
        assert!(!is_valid_shutdown_script(
            &[&[0x60, 41][..], &[1; 41]].concat(),
            true
        ));
        assert!(!is_valid_shutdown_script(&[0x51, 1, 1], true));
        assert!(!is_valid_shutdown_script(&[], true));
    }

    #[test]
    fn fundee_accepts_a_fee_inside_the_overlap_in_two_messages() {
        let mut fundee = ClosingNegotiation::new(false, range(100, 1000));
        assert_eq!(
            fundee
                .on_closing_signed(500, Some(range(300, 700)))
                .unwrap(),
            ClosingStep::Agreed {
                fee_satoshis: 500,
                reply: true
            }
        );
    }

    #[test]
    fn funder_must_fail_a_fee_outside_the_overlap() {
        let mut funder = ClosingNegotiation::new(true, range(300, 700));
        funder.start(500);
        assert!(matches!(
            funder.on_closing_signed(800, Some(range(100, 1000))),
            Err(ClosingError::OutsideOverlap { fee: 800, .. })
        ));
    }

    #[test]
    fn fundee_must_fail_a_changed_fee() {
        let mut fundee = ClosingNegotiation::new(false, range(100, 400));
        assert_eq!(
            fundee
                .on_closing_signed(600, Some(range(200, 1000)))
                .unwrap(),
            ClosingStep::Propose { fee_satoshis: 400 }
        );
        assert!(matches!(
            fundee.on_closing_signed(350, Some(range(200, 1000))),
            Err(ClosingError::ChangedFee {
                got: 350,
                sent: 400
            })
        ));
    }

    #[test]
    fn disjoint_ranges_are_reported() {
        let mut fundee = ClosingNegotiation::new(false, range(100, 200));
        assert!(matches!(
            fundee.on_closing_signed(600, Some(range(500, 1000))),
            Err(ClosingError::NoOverlap { .. })
        ));
    }

    #[test]
    fn legacy_negotiation_converges_strictly_between() {
        let mut a = ClosingNegotiation::new(true, range(500, 1000));
        let mut b = ClosingNegotiation::new(false, range(100, 520));
        // Without fee_range, each answers strictly between until they meet
        // or one side's range accepts.
        let mut msg = match a.start(1000) {
            ClosingStep::Propose { fee_satoshis } => fee_satoshis,
            other => panic!("{other:?}"),
        };
        let mut rounds = 0;
        let agreed = loop {
            rounds += 1;
            assert!(rounds < 100, "did not converge");
            let (receiver, sender_is_a) = if rounds % 2 == 1 {
                (&mut b, false)
            } else {
                (&mut a, true)
            };
            let _ = sender_is_a;
            match receiver.on_closing_signed(msg, None) {
                Ok(ClosingStep::Propose { fee_satoshis }) => msg = fee_satoshis,
                Ok(ClosingStep::Agreed { fee_satoshis, .. }) => break fee_satoshis,
                Err(e) => panic!("round {rounds}: {e}"),
            }
        };
        assert!((500..=520).contains(&agreed), "{agreed}");
    }

    #[test]
    fn legacy_negotiation_between_disjoint_ranges_ends_in_an_error() {
        let mut a = ClosingNegotiation::new(true, range(1000, 1000));
        let mut b = ClosingNegotiation::new(false, range(100, 100));
        let ClosingStep::Propose {
            fee_satoshis: mut msg,
        } = a.start(1000)
        else {
            panic!()
        };
        for round in 0.. {
            assert!(round < 100, "did not end");
            let receiver = if round % 2 == 0 { &mut b } else { &mut a };
            match receiver.on_closing_signed(msg, None) {
                Ok(ClosingStep::Propose { fee_satoshis }) => msg = fee_satoshis,
                Ok(ClosingStep::Agreed { .. }) => panic!("disjoint ranges agreed"),
                Err(ClosingError::NoFeeBetween { .. }) => break,
                Err(e) => panic!("round {round}: {e}"),
            }
        }
    }

    #[test]
    fn legacy_fee_not_strictly_between_is_rejected() {
        let mut a = ClosingNegotiation::new(true, range(900, 1000));
        a.start(1000);
        assert_eq!(
            a.on_closing_signed(100, None).unwrap(),
            ClosingStep::Propose { fee_satoshis: 900 }
        );
        assert!(matches!(
            a.on_closing_signed(50, None),
            Err(ClosingError::NotStrictlyBetween { .. })
        ));
    }
}
