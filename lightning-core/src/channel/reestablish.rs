//! Reconnection: what `channel_reestablish` says and what it asks us to
//! retransmit (BOLT 2, "Message Retransmission").
//!
//! Commitment numbers count up from 0 (the commitment signed while opening).
//! The number of a `revoke_and_ack` is the number of the commitment it
//! revokes. With those two rules every check below is arithmetic on four
//! counters, and a peer that proves it has seen a later state than ours
//! tells us we lost data: we must then never broadcast our commitment.

/// Which of `revoke_and_ack` and `commitment_signed` we sent last, when both
/// may need to be retransmitted: BOLT 2 requires "the same relative order as
/// initially transmitted".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum LastSent {
    /// `commitment_signed` went out after our last `revoke_and_ack`.
    CommitmentSignedLast,
    /// `revoke_and_ack` went out after our last `commitment_signed`.
    RevokeAndAckLast,
}

/// The commitment counters of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CommitmentNumbers {
    /// The number of our latest commitment (the one the peer last signed).
    pub local: u64,
    /// The number of the peer's latest commitment (the one we last signed).
    pub remote: u64,
    /// Whether we signed the peer's latest commitment and still wait for the
    /// `revoke_and_ack` of the one before it.
    pub awaiting_remote_revoke: bool,
    /// The order of our last two channel-state messages.
    pub last_sent: LastSent,
}

impl CommitmentNumbers {
    /// The counters right after opening: both commitments number 0.
    pub const OPENED: CommitmentNumbers = CommitmentNumbers {
        local: 0,
        remote: 0,
        awaiting_remote_revoke: false,
        last_sent: LastSent::RevokeAndAckLast,
    };

    /// `next_commitment_number` of our `channel_reestablish`: the number of the
    /// next `commitment_signed` we expect.
    pub fn next_commitment_number(&self) -> u64 {
        self.local + 1
    }

    /// `next_revocation_number` of our `channel_reestablish`: the number of
    /// the commitment whose revocation we expect next.
    pub fn next_revocation_number(&self) -> u64 {
        if self.awaiting_remote_revoke {
            self.remote.saturating_sub(1)
        } else {
            self.remote
        }
    }
}

/// A message to send again after `channel_reestablish`, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retransmit {
    /// `channel_ready` (both sides still at commitment number 1).
    ChannelReady,
    /// Our `revoke_and_ack` of local commitment `local - 1`.
    RevokeAndAck,
    /// The updates covered by our last `commitment_signed`, then that
    /// `commitment_signed` (same commitment number).
    CommitmentSigned,
}

/// A `channel_reestablish` that does not fit our state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReestablishError {
    /// The peer proved it holds a later state than ours: we lost data. BOLT 2:
    /// we "MUST NOT broadcast" our commitment and should ask the peer to
    /// fail the channel, so that it publishes its own.
    #[error(
        "we are behind: the peer expects revocation {their_next_revocation} but our latest \
         commitment is {our_local}; our commitment must never be broadcast"
    )]
    WeAreBehind {
        /// The peer's `next_revocation_number`.
        their_next_revocation: u64,
        /// Our latest commitment number.
        our_local: u64,
    },
    /// The peer's `next_commitment_number` is 0: it lost its state (a node
    /// restored from a static backup says so). BOLT 2, "Message
    /// Retransmission": "if `next_commitment_number` is zero: MUST
    /// immediately fail the channel and broadcast any relevant latest
    /// commitment transaction".
    #[error("the peer lost its channel state (next_commitment_number 0): failing the channel")]
    PeerLostState,
    /// `next_commitment_number` is neither ours again nor the next one.
    #[error(
        "next_commitment_number {got} does not fit our last commitment_signed number {our_remote}"
    )]
    BadNextCommitmentNumber {
        /// The peer's value.
        got: u64,
        /// The number of the peer's commitment we last signed.
        our_remote: u64,
    },
    /// `next_revocation_number` is neither our last revocation again nor the
    /// next one.
    #[error("next_revocation_number {got} does not fit our latest commitment number {our_local}")]
    BadNextRevocationNumber {
        /// The peer's value.
        got: u64,
        /// Our latest commitment number.
        our_local: u64,
    },
    /// `your_last_per_commitment_secret` is not the secret we gave for that
    /// commitment (or not all zeroes when nothing was revoked).
    #[error("your_last_per_commitment_secret does not match our secret for commitment {commitment_number}")]
    WrongLastSecret {
        /// The commitment the secret should be for (`None`: all zeroes).
        commitment_number: u64,
    },
}

/// The peer's `channel_reestablish`, as far as the checks need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TheirReestablish {
    /// `next_commitment_number`.
    pub next_commitment_number: u64,
    /// `next_revocation_number`.
    pub next_revocation_number: u64,
    /// `your_last_per_commitment_secret`.
    pub your_last_per_commitment_secret: [u8; 32],
}

/// Checks the peer's `channel_reestablish` against our counters and returns
/// what to retransmit, in order.
///
/// `is_our_secret(n, secret)` says whether `secret` is our per-commitment
/// secret of local commitment `n` (BOLT 3 index `2^48 - 1 - n`), to verify
/// the data-loss-protect field. A channel answers it by comparing the
/// secret's point with the signer's `per_commitment_point`, so it never has
/// to release a secret out of order.
///
/// ```
/// use lightning_core::channel::reestablish::*;
/// // We signed the peer's commitment 1 and it never arrived.
/// let ours = CommitmentNumbers {
///     local: 0, remote: 1, awaiting_remote_revoke: true,
///     last_sent: LastSent::CommitmentSignedLast,
/// };
/// let theirs = TheirReestablish {
///     next_commitment_number: 1, next_revocation_number: 0,
///     your_last_per_commitment_secret: [0; 32],
/// };
/// let todo = check_reestablish(&ours, &theirs, |_, s| *s == [9; 32]).unwrap();
/// // Both sides are still at commitment 1, so channel_ready goes again too.
/// assert_eq!(todo, vec![Retransmit::ChannelReady, Retransmit::CommitmentSigned]);
/// ```
pub fn check_reestablish(
    ours: &CommitmentNumbers,
    theirs: &TheirReestablish,
    is_our_secret: impl Fn(u64, &[u8; 32]) -> bool,
) -> Result<Vec<Retransmit>, ReestablishError> {
    // BOLT 2: a `next_commitment_number` of zero asks us to fail the
    // channel and publish our latest commitment (the peer lost its state).
    if theirs.next_commitment_number == 0 {
        return Err(ReestablishError::PeerLostState);
    }
    // Revocations first: a peer ahead of us is a data-loss signal that must
    // win over every other complaint.
    let resend_raa = if ours.local >= 1 && theirs.next_revocation_number == ours.local - 1 {
        true
    } else if theirs.next_revocation_number == ours.local {
        false
    } else if theirs.next_revocation_number > ours.local {
        let n = theirs.next_revocation_number - 1;
        if is_our_secret(n, &theirs.your_last_per_commitment_secret) {
            return Err(ReestablishError::WeAreBehind {
                their_next_revocation: theirs.next_revocation_number,
                our_local: ours.local,
            });
        }
        return Err(ReestablishError::BadNextRevocationNumber {
            got: theirs.next_revocation_number,
            our_local: ours.local,
        });
    } else {
        return Err(ReestablishError::BadNextRevocationNumber {
            got: theirs.next_revocation_number,
            our_local: ours.local,
        });
    };

    // The data-loss-protect secret must be the last one we revealed.
    if theirs.next_revocation_number == 0 {
        if theirs.your_last_per_commitment_secret != [0; 32] {
            return Err(ReestablishError::WrongLastSecret {
                commitment_number: 0,
            });
        }
    } else {
        let n = theirs.next_revocation_number - 1;
        if !is_our_secret(n, &theirs.your_last_per_commitment_secret) {
            return Err(ReestablishError::WrongLastSecret {
                commitment_number: n,
            });
        }
    }

    let resend_commit = if ours.remote >= 1 && theirs.next_commitment_number == ours.remote {
        // They never got our last commitment_signed: it is still awaiting
        // its revoke_and_ack, or our counters are corrupt.
        if !ours.awaiting_remote_revoke {
            return Err(ReestablishError::BadNextCommitmentNumber {
                got: theirs.next_commitment_number,
                our_remote: ours.remote,
            });
        }
        true
    } else if theirs.next_commitment_number == ours.remote + 1 {
        false
    } else {
        return Err(ReestablishError::BadNextCommitmentNumber {
            got: theirs.next_commitment_number,
            our_remote: ours.remote,
        });
    };

    let mut out = Vec::new();
    if theirs.next_commitment_number == 1 && ours.next_commitment_number() == 1 {
        out.push(Retransmit::ChannelReady);
    }
    match (resend_raa, resend_commit, ours.last_sent) {
        (true, true, LastSent::CommitmentSignedLast) => {
            out.extend([Retransmit::RevokeAndAck, Retransmit::CommitmentSigned])
        }
        (true, true, LastSent::RevokeAndAckLast) => {
            out.extend([Retransmit::CommitmentSigned, Retransmit::RevokeAndAck])
        }
        (true, false, _) => out.push(Retransmit::RevokeAndAck),
        (false, true, _) => out.push(Retransmit::CommitmentSigned),
        (false, false, _) => {}
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(n: u64) -> [u8; 32] {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&(n + 1).to_be_bytes());
        s
    }

    fn is_secret(n: u64, s: &[u8; 32]) -> bool {
        secret(n) == *s
    }

    #[test]
    fn next_commitment_number_zero_is_a_peer_that_lost_state() {
        for local in [0u64, 1, 5] {
            let ours = CommitmentNumbers {
                local,
                remote: local,
                awaiting_remote_revoke: false,
                last_sent: LastSent::RevokeAndAckLast,
            };
            let theirs = TheirReestablish {
                next_commitment_number: 0,
                next_revocation_number: 0,
                your_last_per_commitment_secret: [0; 32],
            };
            assert_eq!(
                check_reestablish(&ours, &theirs, is_secret),
                Err(ReestablishError::PeerLostState)
            );
        }
    }

    fn theirs(next_commitment_number: u64, next_revocation_number: u64) -> TheirReestablish {
        let your_last_per_commitment_secret = if next_revocation_number == 0 {
            [0; 32]
        } else {
            secret(next_revocation_number - 1)
        };
        TheirReestablish {
            next_commitment_number,
            next_revocation_number,
            your_last_per_commitment_secret,
        }
    }

    fn nums(local: u64, remote: u64, awaiting: bool, last_sent: LastSent) -> CommitmentNumbers {
        CommitmentNumbers {
            local,
            remote,
            awaiting_remote_revoke: awaiting,
            last_sent,
        }
    }

    #[test]
    fn fresh_channel_retransmits_channel_ready() {
        let ours = CommitmentNumbers::OPENED;
        assert_eq!(ours.next_commitment_number(), 1);
        assert_eq!(ours.next_revocation_number(), 0);
        assert_eq!(
            check_reestablish(&ours, &theirs(1, 0), is_secret),
            Ok(vec![Retransmit::ChannelReady])
        );
    }

    #[test]
    fn in_sync_needs_nothing() {
        let ours = nums(5, 5, false, LastSent::RevokeAndAckLast);
        assert_eq!(
            check_reestablish(&ours, &theirs(6, 5), is_secret),
            Ok(vec![])
        );
    }

    #[test]
    fn lost_revoke_and_ack_is_resent() {
        // We received commitment 5 and revoked 4; they never saw the revocation.
        let ours = nums(5, 5, false, LastSent::RevokeAndAckLast);
        assert_eq!(
            check_reestablish(&ours, &theirs(6, 4), is_secret),
            Ok(vec![Retransmit::RevokeAndAck])
        );
    }

    #[test]
    fn both_lost_keep_their_original_order() {
        let t = theirs(5, 4);
        let a = nums(5, 5, true, LastSent::CommitmentSignedLast);
        assert_eq!(
            check_reestablish(&a, &t, is_secret),
            Ok(vec![Retransmit::RevokeAndAck, Retransmit::CommitmentSigned])
        );
        let b = nums(5, 5, true, LastSent::RevokeAndAckLast);
        assert_eq!(
            check_reestablish(&b, &t, is_secret),
            Ok(vec![Retransmit::CommitmentSigned, Retransmit::RevokeAndAck])
        );
    }

    #[test]
    fn a_peer_ahead_with_a_valid_secret_means_we_lost_data() {
        // Restored from an old backup at commitment 3; the peer has seen our
        // revocation of commitment 7.
        let ours = nums(3, 3, false, LastSent::RevokeAndAckLast);
        let err = check_reestablish(&ours, &theirs(9, 8), is_secret).unwrap_err();
        assert!(matches!(
            err,
            ReestablishError::WeAreBehind {
                their_next_revocation: 8,
                our_local: 3
            }
        ));
        // The same numbers with a wrong secret are just a bad peer.
        let mut lying = theirs(9, 8);
        lying.your_last_per_commitment_secret = [1; 32];
        assert!(matches!(
            check_reestablish(&ours, &lying, is_secret),
            Err(ReestablishError::BadNextRevocationNumber { .. })
        ));
    }

    #[test]
    fn wrong_data_loss_protect_secret_is_rejected() {
        let ours = nums(5, 5, false, LastSent::RevokeAndAckLast);
        let mut t = theirs(6, 5);
        t.your_last_per_commitment_secret = secret(3);
        assert_eq!(
            check_reestablish(&ours, &t, is_secret),
            Err(ReestablishError::WrongLastSecret {
                commitment_number: 4
            })
        );
        let mut zero = theirs(1, 0);
        zero.your_last_per_commitment_secret = [5; 32];
        assert!(check_reestablish(&CommitmentNumbers::OPENED, &zero, is_secret).is_err());
    }

    #[test]
    fn impossible_numbers_are_rejected() {
        let ours = nums(5, 5, false, LastSent::RevokeAndAckLast);
        // They claim to lack a commitment_signed we are not waiting on.
        assert!(matches!(
            check_reestablish(&ours, &theirs(5, 5), is_secret),
            Err(ReestablishError::BadNextCommitmentNumber { .. })
        ));
        // Too far ahead on commitments.
        assert!(matches!(
            check_reestablish(&ours, &theirs(8, 5), is_secret),
            Err(ReestablishError::BadNextCommitmentNumber { .. })
        ));
        // Too far behind on revocations.
        assert!(matches!(
            check_reestablish(&ours, &theirs(6, 3), is_secret),
            Err(ReestablishError::BadNextRevocationNumber { .. })
        ));
    }
}
