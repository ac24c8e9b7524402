//! Normal operation (BOLT 2, "Normal Operation"): the `update_*` messages,
//! `commitment_signed`, `revoke_and_ack` and `update_fee`, both as sender
//! (host calls) and as receiver (the peer's messages).
//!
//! Updates only change the [`UpdateLog`](super::update_log::UpdateLog);
//! they reach the commitments through the dance:
//!
//! ```text
//!   A: update_add_htlc ... commitment_signed  -->
//!   B:                       <--  revoke_and_ack, commitment_signed
//!   A: revoke_and_ack  -->
//! ```
//!
//! Host updates and the peer's `update_*` messages get no write of their
//! own (see `Durability` in `state.rs`): nothing depends on them until a
//! `commitment_signed` covers them, and that is written first. A restart
//! before the next write undoes a host update; a lost fulfill must be made
//! again (its preimage may have reached the peer).
//!
//! Host updates are not signed at once: the host batches them and calls
//! [`Channel::commit`]. On receiving `revoke_and_ack` or `commitment_signed`
//! the channel signs by itself whatever is left to commit. At most one
//! `commitment_signed` is outstanding per direction: the next waits for the
//! peer's `revoke_and_ack`.

use std::sync::Arc;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{PublicKey, SecretKey, SECP256K1};
use lightning_wire::msgs::{
    AttributionData, CommitmentSigned, CommitmentSignedTlvs, FixedBytes, Message, RevokeAndAck,
    UpdateAddHtlc, UpdateAddHtlcTlvs, UpdateFailHtlc, UpdateFailHtlcTlvs, UpdateFailMalformedHtlc,
    UpdateFee, UpdateFulfillHtlc, UpdateFulfillHtlcTlvs,
};
use lightning_wire::tlv::UnknownTlvs;
use lightning_wire::types::{ChannelId, PaymentHash, PaymentPreimage};

use super::commitments::{sign_counterparty, verify_holder_signatures, HolderSignatures};
use super::error::ChannelError;
use super::events::{ChannelEvent, ChannelOutput};
use super::htlc_policy::{check_offer, check_received_add, check_update_fee};
use super::reestablish::LastSent;
use super::state::{Channel, Durability, Phase, RemotePoints};
use super::update_log::{HtlcAdd, HtlcRemoval, Side, UpdateKind, UpdateStage, Which};
use crate::keys::shachain::commitment_number_to_index;
use crate::keys::ChannelSigner;

/// `BADONION` in a failure code (BOLT 4).
pub const BADONION: u16 = 0x8000;

/// The message that removes HTLC `htlc_id` as `removal` says, with its
/// `attribution_data` (BOLT 2, "Removing an HTLC").
fn removal_message(channel_id: ChannelId, htlc_id: u64, removal: &HtlcRemoval) -> Message {
    match removal {
        HtlcRemoval::Fulfill {
            payment_preimage,
            attribution_data,
        } => Message::UpdateFulfillHtlc(UpdateFulfillHtlc {
            channel_id,
            id: htlc_id,
            payment_preimage: *payment_preimage,
            tlvs: UpdateFulfillHtlcTlvs {
                attribution_data: attribution_data.as_deref().cloned(),
                unknown: UnknownTlvs::default(),
            },
        }),
        HtlcRemoval::Fail {
            reason,
            attribution_data,
        } => Message::UpdateFailHtlc(UpdateFailHtlc {
            channel_id,
            id: htlc_id,
            reason: reason.clone(),
            tlvs: UpdateFailHtlcTlvs {
                attribution_data: attribution_data.as_deref().cloned(),
                unknown: UnknownTlvs::default(),
            },
        }),
        HtlcRemoval::FailMalformed {
            sha256_of_onion,
            failure_code,
        } => Message::UpdateFailMalformedHtlc(UpdateFailMalformedHtlc {
            channel_id,
            id: htlc_id,
            sha256_of_onion: sha256::Hash::from_byte_array(*sha256_of_onion),
            failure_code: *failure_code,
            tlvs: Default::default(),
        }),
    }
}

/// The onion as `update_add_htlc` carries it, if it has the right length.
fn onion_packet(onion: &[u8]) -> Option<Box<[u8; lightning_wire::msgs::ONION_PACKET_LEN]>> {
    <[u8; lightning_wire::msgs::ONION_PACKET_LEN]>::try_from(onion)
        .ok()
        .map(Box::new)
}

impl<S: ChannelSigner> Channel<S> {
    fn require_operating(&self, what: &'static str) -> Result<(), ChannelError> {
        match self.st.phase {
            Phase::Normal | Phase::ShuttingDown if self.tr.connected => Ok(()),
            _ => Err(ChannelError::NotNow(what)),
        }
    }

    fn peer_operating(&self, message: &'static str) -> Result<(), ChannelError> {
        match self.st.phase {
            Phase::Normal | Phase::ShuttingDown => Ok(()),
            _ => Err(self.unexpected(message)),
        }
    }

    /// Offers an HTLC (BOLT 2, "Adding an HTLC: `update_add_htlc`"): its id
    /// and the `update_add_htlc` to send. It is committed by the next
    /// [`Channel::commit`]. The offer is refused, with nothing sent, if it
    /// breaks a limit (reserve, fees, fee spike buffer, in-flight, count,
    /// dust exposure). The output has no write: the offer becomes durable
    /// with the next write (normally the `commit()` that follows); a restart
    /// before it undoes the offer, and the peer drops it on reconnection.
    pub fn send_htlc(
        &mut self,
        amount_msat: u64,
        payment_hash: PaymentHash,
        cltv_expiry: u32,
        onion_routing_packet: Vec<u8>,
    ) -> Result<(u64, ChannelOutput), ChannelError> {
        self.send_htlc_with_path_key(
            amount_msat,
            payment_hash,
            cltv_expiry,
            onion_routing_packet,
            None,
        )
    }

    /// [`Channel::send_htlc`] with the `path_key` of an HTLC relayed inside
    /// a blinded route (BOLT 4 "Route Blinding"): sent in the
    /// `update_add_htlc`'s `blinded_path` TLV, and again on retransmission.
    pub fn send_htlc_with_path_key(
        &mut self,
        amount_msat: u64,
        payment_hash: PaymentHash,
        cltv_expiry: u32,
        onion_routing_packet: Vec<u8>,
        path_key: Option<PublicKey>,
    ) -> Result<(u64, ChannelOutput), ChannelError> {
        self.run_as(Durability::Deferred, |ch, out| {
            if ch.st.phase != Phase::Normal || !ch.tr.connected {
                return Err(ChannelError::NotNow("offer an HTLC"));
            }
            let packet = onion_packet(&onion_routing_packet).ok_or(
                ChannelError::InvalidArgument("onion_routing_packet is not 1366 bytes"),
            )?;
            let id = ch.st.log.next_htlc_id(Side::Local);
            let add = HtlcAdd {
                id,
                amount_msat,
                payment_hash,
                cltv_expiry,
                onion_routing_packet: onion_routing_packet.into(),
                path_key: path_key.map(|k| k.serialize()),
            };
            check_offer(&ch.st.log, &ch.terms(), &add).map_err(ChannelError::CannotOffer)?;
            ch.st.log.add_htlc(Side::Local, add)?;
            out.messages.push(Message::UpdateAddHtlc(UpdateAddHtlc {
                channel_id: ch.st.channel_id,
                id,
                amount_msat,
                payment_hash,
                cltv_expiry,
                onion_routing_packet: FixedBytes(packet),
                tlvs: UpdateAddHtlcTlvs {
                    path_key,
                    unknown: UnknownTlvs::default(),
                },
            }));
            Ok(id)
        })
    }

    fn remove(
        &mut self,
        htlc_id: u64,
        removal: HtlcRemoval,
    ) -> Result<ChannelOutput, ChannelError> {
        self.run_as(Durability::Deferred, |ch, out| {
            ch.require_operating("remove an HTLC")?;
            let (add, _) = ch
                .st
                .log
                .find_add(Side::Remote, htlc_id)
                .ok_or(ChannelError::InvalidArgument("no such incoming HTLC"))?;
            match &removal {
                HtlcRemoval::Fulfill {
                    payment_preimage, ..
                } if payment_preimage.payment_hash() != add.payment_hash => {
                    return Err(ChannelError::InvalidArgument(
                        "the preimage does not hash to the payment_hash",
                    ));
                }
                HtlcRemoval::FailMalformed { failure_code, .. } if failure_code & BADONION == 0 => {
                    return Err(ChannelError::InvalidArgument(
                        "update_fail_malformed_htlc needs the BADONION bit",
                    ));
                }
                _ => {}
            }
            let msg = removal_message(ch.st.channel_id, htlc_id, &removal);
            ch.st
                .log
                .remove_htlc(Side::Local, htlc_id, removal)
                .map_err(|_| {
                    ChannelError::InvalidArgument(
                        "the HTLC is not irrevocably committed or already being removed",
                    )
                })?;
            out.messages.push(msg);
            Ok(())
        })
        .map(|((), out)| out)
    }

    /// Claims an incoming HTLC with its preimage (BOLT 2, "Removing an HTLC").
    ///
    /// The output has no write: the claim becomes durable with the next
    /// write (normally the `commit()` that follows). The preimage leaves at
    /// once, so after a restart that undid the claim the host must claim the
    /// HTLC again, never fail it.
    pub fn fulfill_htlc(
        &mut self,
        htlc_id: u64,
        payment_preimage: PaymentPreimage,
    ) -> Result<ChannelOutput, ChannelError> {
        self.fulfill_htlc_with_attribution(htlc_id, payment_preimage, None)
    }

    /// As [`Channel::fulfill_htlc`], the `update_fulfill_htlc` carrying
    /// `attribution_data` (its TLV 1; BOLT 4 "Hold times for successful
    /// payments"). It is kept with the removal, persisted with the
    /// channel and sent again after a reconnection.
    pub fn fulfill_htlc_with_attribution(
        &mut self,
        htlc_id: u64,
        payment_preimage: PaymentPreimage,
        attribution_data: Option<AttributionData>,
    ) -> Result<ChannelOutput, ChannelError> {
        self.remove(
            htlc_id,
            HtlcRemoval::Fulfill {
                payment_preimage,
                attribution_data: attribution_data.map(Arc::new),
            },
        )
    }

    /// Fails an incoming HTLC with an encrypted onion error `reason`.
    pub fn fail_htlc(
        &mut self,
        htlc_id: u64,
        reason: Vec<u8>,
    ) -> Result<ChannelOutput, ChannelError> {
        self.fail_htlc_with_attribution(htlc_id, reason, None)
    }

    /// As [`Channel::fail_htlc`], the `update_fail_htlc` carrying
    /// `attribution_data` (its TLV 1; BOLT 4 "Returning Errors"). It is
    /// kept with the removal, persisted with the channel and sent again
    /// after a reconnection.
    pub fn fail_htlc_with_attribution(
        &mut self,
        htlc_id: u64,
        reason: Vec<u8>,
        attribution_data: Option<AttributionData>,
    ) -> Result<ChannelOutput, ChannelError> {
        self.remove(
            htlc_id,
            HtlcRemoval::Fail {
                reason,
                attribution_data: attribution_data.map(Arc::new),
            },
        )
    }

    /// Fails an incoming HTLC whose onion we could not parse
    /// (`failure_code` must have `BADONION`).
    pub fn fail_malformed_htlc(
        &mut self,
        htlc_id: u64,
        sha256_of_onion: [u8; 32],
        failure_code: u16,
    ) -> Result<ChannelOutput, ChannelError> {
        self.remove(
            htlc_id,
            HtlcRemoval::FailMalformed {
                sha256_of_onion,
                failure_code,
            },
        )
    }

    /// The feerates accepted from the peer from now on (its `update_fee`);
    /// the node hands over the bounds its fee estimator gave at the last
    /// block with each message it gives the channel
    /// ([`FeerateBounds::from_estimator`](super::params::FeerateBounds::from_estimator)).
    pub fn set_feerate_bounds(&mut self, bounds: super::params::FeerateBounds) {
        self.config.feerates = bounds;
    }

    /// Proposes a new commitment feerate (BOLT 2, "Updating Fees:
    /// `update_fee`"): funder only, only if the funder can still pay both
    /// commitments' fees, and not if the raise would trim HTLCs past our
    /// `max_dust_htlc_exposure_msat` in either commitment ("MAY NOT send
    /// `update_fee`").
    pub fn update_fee(&mut self, feerate_per_kw: u32) -> Result<ChannelOutput, ChannelError> {
        self.run_as(Durability::Deferred, |ch, out| {
            ch.require_operating("update the fee")?;
            if !ch.st.is_funder {
                return Err(ChannelError::NotNow("update the fee as the non-funder"));
            }
            check_update_fee(&ch.st.log, &ch.terms(), feerate_per_kw)
                .map_err(ChannelError::CannotOffer)?;
            ch.st.log.update_fee(Side::Local, feerate_per_kw);
            out.messages.push(Message::UpdateFee(UpdateFee {
                channel_id: ch.st.channel_id,
                feerate_per_kw,
                tlvs: Default::default(),
            }));
            Ok(())
        })
        .map(|((), out)| out)
    }

    /// Signs the peer's next commitment if there is anything to commit and
    /// no `revoke_and_ack` is awaited (BOLT 2, "Committing Updates So
    /// Far"). Returns an empty output otherwise.
    pub fn commit(&mut self) -> Result<ChannelOutput, ChannelError> {
        self.run(|ch, out| {
            ch.maybe_commit(out)?;
            ch.progress_shutdown(out)
        })
        .map(|((), out)| out)
    }

    /// Sends `commitment_signed` if allowed and useful.
    pub(crate) fn maybe_commit(&mut self, out: &mut ChannelOutput) -> Result<bool, ChannelError> {
        if !self.tr.connected
            || !matches!(self.st.phase, Phase::Normal | Phase::ShuttingDown)
            || self.st.numbers.awaiting_remote_revoke
            || !self.st.log.has_updates_to_commit(Side::Local)
        {
            return Ok(false);
        }
        let points = self
            .st
            .remote_points
            .ok_or(ChannelError::NotNow("commit before channel_ready"))?;
        let next = points
            .next
            .ok_or(ChannelError::NotNow("commit before the peer's next point"))?;
        let number = self
            .st
            .numbers
            .remote
            .checked_add(1)
            .ok_or(ChannelError::NotNow(
                "commit past the last commitment number",
            ))?;
        self.st.log.commitment_signed(Side::Local);
        let ctx = self.build_counterparty(Which::Current, number, &next)?;
        let (signature, htlc_signatures) = sign_counterparty(&self.signer, &ctx)?;
        self.st.numbers.remote = number;
        self.st.numbers.awaiting_remote_revoke = true;
        self.st.numbers.last_sent = LastSent::CommitmentSignedLast;
        self.st.remote_points = Some(RemotePoints {
            revoking: Some(points.current),
            current: next,
            next: None,
        });
        out.messages
            .push(Message::CommitmentSigned(CommitmentSigned {
                channel_id: self.st.channel_id,
                signature,
                htlc_signatures,
                tlvs: CommitmentSignedTlvs::default(),
            }));
        Ok(true)
    }

    /// The `commitment_signed` we last sent, built again (for
    /// retransmission).
    pub(crate) fn last_commitment_signed(&self) -> Result<Message, ChannelError> {
        let point = self.remote_point_current()?;
        let ctx = self.build_counterparty(Which::Current, self.st.numbers.remote, &point)?;
        let (signature, htlc_signatures) = sign_counterparty(&self.signer, &ctx)?;
        Ok(Message::CommitmentSigned(CommitmentSigned {
            channel_id: self.st.channel_id,
            signature,
            htlc_signatures,
            tlvs: CommitmentSignedTlvs::default(),
        }))
    }

    /// The `revoke_and_ack` for our commitment `numbers.local - 1`.
    pub(crate) fn last_revoke_and_ack(&mut self) -> Result<Message, ChannelError> {
        let local = self.st.numbers.local;
        let revoked = local.checked_sub(1).ok_or(ChannelError::NotNow(
            "revoke before the first commitment_signed",
        ))?;
        let next_per_commitment_point = self.signer.holder_per_commitment_point(local + 1)?;
        // Last: the release is the one step that cannot be undone.
        let per_commitment_secret = self.signer.release_holder_commitment_secret(revoked)?;
        self.tr.next_holder_point = Some((local + 1, next_per_commitment_point));
        Ok(Message::RevokeAndAck(RevokeAndAck {
            channel_id: self.st.channel_id,
            per_commitment_secret,
            next_per_commitment_point,
            tlvs: Default::default(),
        }))
    }

    pub(crate) fn on_update_add_htlc(&mut self, m: &UpdateAddHtlc) -> Result<(), ChannelError> {
        // BOLT 2 forbids `update_add_htlc` only after the *sender's*
        // `shutdown` ("MUST NOT send an `update_add_htlc` after a
        // `shutdown`"). Until the peer's `shutdown` arrives, its adds are
        // valid even though we are shutting down: they may have crossed
        // ours, and the peer replies with `shutdown` only "once there are no
        // outstanding updates on the peer".
        //
        // An add after the peer's own `shutdown` breaks that rule, and BOLT
        // 2 gives the receiver no requirement for it. LDK 0.2 sends one
        // when an add it committed before its `shutdown` waits on its own
        // persistence and goes out after the `shutdown`. Failing the channel
        // would cost both sides a unilateral close over an HTLC that cannot
        // hurt us, so until closing negotiation begins such an add is
        // accepted and failed back once committed: it is never routed or
        // claimed (the spirit of "SHOULD fail to route any HTLC added after
        // it has sent `shutdown`"), and the close goes on when it is gone.
        // Once `closing_signed`/`closing_complete` has been exchanged no add
        // has a place, and it fails the channel.
        let after_peer_shutdown = self.st.remote_shutdown.is_some();
        if after_peer_shutdown && self.tr.closing_started {
            return Err(ChannelError::AddAfterShutdown);
        }
        if !matches!(self.st.phase, Phase::Normal | Phase::ShuttingDown) {
            return Err(self.unexpected("update_add_htlc"));
        }
        let add = HtlcAdd {
            id: m.id,
            amount_msat: m.amount_msat,
            payment_hash: m.payment_hash,
            cltv_expiry: m.cltv_expiry,
            onion_routing_packet: Arc::from(&m.onion_routing_packet.as_bytes()[..]),
            path_key: m.tlvs.path_key.map(|k| k.serialize()),
        };
        let fail_back = match check_received_add(&self.st.log, &self.terms(), &add) {
            Ok(()) => false,
            // Accept it, then fail it back once committed.
            Err(e) if e.fails_htlc_only() => true,
            Err(e) => return Err(e.into()),
        };
        self.st.log.add_htlc(Side::Remote, add)?;
        if fail_back || after_peer_shutdown {
            self.st.htlcs_to_fail.push(m.id);
        }
        Ok(())
    }

    pub(crate) fn on_update_fulfill_htlc(
        &mut self,
        m: &UpdateFulfillHtlc,
        out: &mut ChannelOutput,
    ) -> Result<(), ChannelError> {
        self.peer_operating("update_fulfill_htlc")?;
        let payment_hash = match self.st.log.find_add(Side::Local, m.id) {
            Some((add, _)) => add.payment_hash,
            None => {
                return Err(super::update_log::UpdateError::UnknownHtlc {
                    offerer: Side::Local,
                    htlc_id: m.id,
                }
                .into())
            }
        };
        if m.payment_preimage.payment_hash() != payment_hash {
            return Err(ChannelError::BadPreimage { htlc_id: m.id });
        }
        let attribution_data = m.tlvs.attribution_data.clone().map(Arc::new);
        self.st.log.remove_htlc(
            Side::Remote,
            m.id,
            HtlcRemoval::Fulfill {
                payment_preimage: m.payment_preimage,
                attribution_data: attribution_data.clone(),
            },
        )?;
        out.events.push(ChannelEvent::HtlcFulfilled {
            htlc_id: m.id,
            payment_hash,
            payment_preimage: m.payment_preimage,
            attribution_data,
        });
        Ok(())
    }

    pub(crate) fn on_update_fail_htlc(&mut self, m: &UpdateFailHtlc) -> Result<(), ChannelError> {
        self.peer_operating("update_fail_htlc")?;
        self.st.log.remove_htlc(
            Side::Remote,
            m.id,
            HtlcRemoval::Fail {
                reason: m.reason.clone(),
                attribution_data: m.tlvs.attribution_data.clone().map(Arc::new),
            },
        )?;
        Ok(())
    }

    pub(crate) fn on_update_fail_malformed_htlc(
        &mut self,
        m: &UpdateFailMalformedHtlc,
    ) -> Result<(), ChannelError> {
        self.peer_operating("update_fail_malformed_htlc")?;
        if m.failure_code & BADONION == 0 {
            return Err(ChannelError::MalformedWithoutBadOnion {
                htlc_id: m.id,
                failure_code: m.failure_code,
            });
        }
        self.st.log.remove_htlc(
            Side::Remote,
            m.id,
            HtlcRemoval::FailMalformed {
                sha256_of_onion: m.sha256_of_onion.to_byte_array(),
                failure_code: m.failure_code,
            },
        )?;
        Ok(())
    }

    pub(crate) fn on_update_fee(&mut self, m: &UpdateFee) -> Result<(), ChannelError> {
        self.peer_operating("update_fee")?;
        if self.st.is_funder {
            return Err(ChannelError::UpdateFeeFromFundee);
        }
        let b = self.config.feerates;
        if !b.contains(m.feerate_per_kw) {
            return Err(ChannelError::FeerateOutOfBounds {
                got: m.feerate_per_kw,
                min: b.min_feerate_per_kw,
                max: b.max_feerate_per_kw,
            });
        }
        // The funder must afford it, and a raise must not trim so many
        // HTLCs that our dust exposure passes its limit (BOLT 2, "Updating
        // Fees": "MAY fail the channel"; we do, before signing a commitment
        // that would lose them to fees).
        check_update_fee(&self.st.log, &self.terms(), m.feerate_per_kw)
            .map_err(ChannelError::UpdateFee)?;
        self.st.log.update_fee(Side::Remote, m.feerate_per_kw);
        Ok(())
    }

    /// Receiving `commitment_signed` (BOLT 2): verify our next commitment
    /// and every HTLC signature, then revoke the previous one. The record
    /// write of this input holds the new signatures; the `revoke_and_ack`
    /// goes out only after it.
    ///
    /// A `commitment_signed` that covers no update is refused with a
    /// `warning` (BOLT 2: the sender "MUST NOT send a `commitment_signed`
    /// message that does not include any updates"): it would make us
    /// verify, write, revoke and sign a whole commitment for nothing.
    ///
    /// The revocation secret is released last, once every step that can
    /// fail has succeeded: a failed input is undone, and a release cannot
    /// be (the signer would refuse to sign our current commitment).
    pub(crate) fn on_commitment_signed(
        &mut self,
        m: &CommitmentSigned,
        out: &mut ChannelOutput,
    ) -> Result<(), ChannelError> {
        self.peer_operating("commitment_signed")?;
        let number =
            self.st
                .numbers
                .local
                .checked_add(1)
                .ok_or(ChannelError::UnexpectedRevocation {
                    message: "commitment_signed past the last commitment number",
                })?;
        if !self.st.log.has_updates_to_commit(Side::Remote) {
            return Err(ChannelError::UnexpectedMessage {
                message: "commitment_signed",
                phase: "no update is pending (BOLT 2: it must include updates)",
            });
        }
        // Applied in place: the input runs as a transaction, so a bad
        // signature undoes it.
        self.st.log.commitment_signed(Side::Remote);
        let ctx = self.build_holder(Which::Current, number)?;
        let sigs = HolderSignatures {
            commitment: m.signature,
            htlcs: m.htlc_signatures.as_slice().into(),
        };
        verify_holder_signatures(&ctx, &self.remote_keys()?.funding_pubkey, &sigs)?;
        self.st.numbers.local = number;
        self.st.holder_sigs = Some(sigs);
        // Revoke the previous commitment.
        let moved = self.st.log.revoke_and_ack(Side::Local);
        self.note_revoked(moved);
        self.st.numbers.last_sent = LastSent::RevokeAndAckLast;
        // Sign theirs (it goes after the revocation) and move the close on
        // before releasing the secret.
        let mut then = ChannelOutput::default();
        self.maybe_commit(&mut then)?;
        let mut after = ChannelOutput::default();
        self.progress_shutdown(&mut after)?;
        let raa = self.last_revoke_and_ack()?;
        out.messages.push(raa);
        out.messages.append(&mut then.messages);
        out.messages.append(&mut after.messages);
        out.events.append(&mut then.events);
        out.events.append(&mut after.events);
        Ok(())
    }

    /// Receiving `revoke_and_ack` (BOLT 2): the secret must generate the
    /// point of the commitment it revokes and fit the shachain store.
    pub(crate) fn on_revoke_and_ack(
        &mut self,
        m: &RevokeAndAck,
        out: &mut ChannelOutput,
    ) -> Result<(), ChannelError> {
        self.peer_operating("revoke_and_ack")?;
        let points = self
            .st
            .remote_points
            .ok_or(ChannelError::UnexpectedRevocation {
                message: "revoke_and_ack",
            })?;
        let (true, Some(revoking)) = (self.st.numbers.awaiting_remote_revoke, points.revoking)
        else {
            return Err(ChannelError::UnexpectedRevocation {
                message: "revoke_and_ack",
            });
        };
        let revoked = self.st.numbers.remote.saturating_sub(1);
        let matches = SecretKey::from_slice(&m.per_commitment_secret)
            .map(|k| PublicKey::from_secret_key(SECP256K1, &k) == revoking)
            .unwrap_or(false);
        if !matches {
            return Err(ChannelError::RevocationSecretMismatch {
                commitment_number: revoked,
            });
        }
        let index =
            commitment_number_to_index(revoked).ok_or(ChannelError::RevocationSecretMismatch {
                commitment_number: revoked,
            })?;
        // The commitment being revoked, built before the log moves past
        // it (only when asked: it costs one commitment build).
        let revoked_commitment = if self.config.report_revocations {
            Some(self.build_revoking_counterparty(revoked, &revoking)?)
        } else {
            None
        };
        self.st.secrets.insert(index, m.per_commitment_secret)?;
        if let Some(commitment) = revoked_commitment {
            out.events.push(ChannelEvent::CounterpartyRevoked {
                channel_id: self.st.channel_id,
                commitment: Box::new(commitment),
            });
        }
        self.st.remote_points = Some(RemotePoints {
            revoking: None,
            current: points.current,
            next: Some(m.next_per_commitment_point),
        });
        self.st.numbers.awaiting_remote_revoke = false;
        let moved = self.st.log.revoke_and_ack(Side::Remote);
        self.note_revoked(moved);
        self.maybe_commit(out)?;
        self.progress_shutdown(out)
    }

    /// Our updates covered by the `commitment_signed` awaiting the peer's
    /// revocation, as messages, in their original order (for
    /// retransmission).
    pub(crate) fn committed_unacked_updates(&self) -> Vec<Message> {
        self.our_update_messages(UpdateStage::ReceiverCommitted)
    }

    /// Our updates at `stage`, as messages, in order.
    pub(crate) fn our_update_messages(&self, stage: UpdateStage) -> Vec<Message> {
        let channel_id = self.st.channel_id;
        self.st
            .log
            .updates()
            .iter()
            .filter(|u| u.proposer == Side::Local && u.stage == stage)
            .filter_map(|u| match &u.kind {
                UpdateKind::Add(a) => {
                    let packet = onion_packet(&a.onion_routing_packet)?;
                    let path_key = match a.path_key {
                        Some(k) => Some(PublicKey::from_slice(&k).ok()?),
                        None => None,
                    };
                    Some(Message::UpdateAddHtlc(UpdateAddHtlc {
                        channel_id,
                        id: a.id,
                        amount_msat: a.amount_msat,
                        payment_hash: a.payment_hash,
                        cltv_expiry: a.cltv_expiry,
                        onion_routing_packet: FixedBytes(packet),
                        tlvs: UpdateAddHtlcTlvs {
                            path_key,
                            unknown: UnknownTlvs::default(),
                        },
                    }))
                }
                UpdateKind::Remove { htlc_id, removal } => {
                    Some(removal_message(channel_id, *htlc_id, removal))
                }
                UpdateKind::Fee { feerate_per_kw } => Some(Message::UpdateFee(UpdateFee {
                    channel_id,
                    feerate_per_kw: *feerate_per_kw,
                    tlvs: Default::default(),
                })),
            })
            .collect()
    }
}
