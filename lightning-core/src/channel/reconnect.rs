//! Disconnection and `channel_reestablish` (BOLT 2, "Message
//! Retransmission").
//!
//! On disconnection both sides forget the updates no `commitment_signed`
//! covered. On reconnection each sends `channel_reestablish`; the checks in
//! [`reestablish`](super::reestablish) say what to retransmit: a lost
//! `revoke_and_ack` (built again from the signer), a lost
//! `commitment_signed` (with the updates it covered, in their original
//! order, signed again: RFC 6979 gives the same signatures), in the order
//! they were first sent. A peer that proves we are behind makes the channel
//! fail without ever broadcasting our (possibly revoked) commitment.

use bitcoin::secp256k1::{PublicKey, SecretKey, SECP256K1};
use lightning_wire::msgs::{ChannelReestablish, ChannelReestablishTlvs, Message};

use super::error::ChannelError;
use super::events::ChannelOutput;
use super::reestablish::{check_reestablish, Retransmit, TheirReestablish};
use super::state::{Channel, Phase};
use super::update_log::{HtlcAdd, Side, UpdateKind, UpdateStage};
use crate::keys::shachain::commitment_number_to_index;
use crate::keys::ChannelSigner;

impl<S: ChannelSigner> Channel<S> {
    /// Forgets the uncommitted updates (BOLT 2 on reconnection), except
    /// that our fulfills and fails are queued again at once: the HTLCs they
    /// remove are still locked in, and a preimage we gave out must reach
    /// the chain of commitments. They go out after `channel_reestablish`.
    /// Returns our dropped HTLC offers.
    fn forget_uncommitted(&mut self) -> Vec<HtlcAdd> {
        let mut adds = Vec::new();
        for u in self.st.log.forget_uncommitted() {
            match u.kind {
                UpdateKind::Add(a) => adds.push(a),
                UpdateKind::Remove { htlc_id, removal } => {
                    // Cannot fail: the HTLC is locked in and its removal was
                    // just forgotten.
                    let _ = self.st.log.remove_htlc(Side::Local, htlc_id, removal);
                }
                // A fee update is the host's to propose again.
                UpdateKind::Fee { .. } => {}
            }
        }
        // The peer's forgotten adds had the ids from its next one up.
        let next_remote = self.st.log.next_htlc_id(Side::Remote);
        self.st.htlcs_to_fail.retain(|id| *id < next_remote);
        adds
    }

    /// The connection dropped (or the node restarted). Forgets the updates
    /// no `commitment_signed` covered, and returns our HTLC offers among
    /// them so the node can retry or fail them upstream.
    pub fn peer_disconnected(&mut self) -> (ChannelOutput, Vec<HtlcAdd>) {
        let result = self.run(|ch, _| {
            ch.tr.connected = false;
            ch.tr.announcement_sent = false;
            ch.tr.announcement_received = false;
            ch.tr.closing = None;
            ch.tr.closing_started = false;
            Ok(ch.forget_uncommitted())
        });
        match result {
            Ok((dropped, out)) => (out, dropped),
            // The closure cannot fail; keep the types honest anyway.
            Err(_) => (ChannelOutput::default(), Vec::new()),
        }
    }

    /// The connection is back: the `channel_reestablish` to send first
    /// (BOLT 2, "Message Retransmission"), with the data-loss-protect
    /// fields. `None` before the channel is funded (establishment restarts
    /// from scratch) or once it is closed or failed.
    ///
    /// If [`Channel::peer_disconnected`] was not called (a restored channel
    /// starts disconnected), the uncommitted updates are forgotten here; the
    /// next record write carries that change.
    pub fn peer_reconnected(&mut self) -> Option<ChannelReestablish> {
        self.tr.connected = false;
        self.tr.announcement_sent = false;
        self.tr.announcement_received = false;
        self.tr.closing = None;
        self.tr.closing_started = false;
        let _ = self.forget_uncommitted();
        let funded = self.st.holder_sigs.is_some();
        if !funded || matches!(self.st.phase, Phase::Closed | Phase::Failed) {
            return None;
        }
        let n = self.st.numbers;
        let next_revocation_number = n.next_revocation_number();
        let your_last_per_commitment_secret = match next_revocation_number.checked_sub(1) {
            None => [0; 32],
            Some(last) => commitment_number_to_index(last)
                .and_then(|i| self.st.secrets.get_secret(i))
                .unwrap_or([0; 32]),
        };
        let my_current_per_commitment_point =
            self.signer.holder_per_commitment_point(n.local).ok()?;
        Some(ChannelReestablish {
            channel_id: self.st.channel_id,
            next_commitment_number: n.next_commitment_number(),
            next_revocation_number,
            your_last_per_commitment_secret,
            my_current_per_commitment_point,
            tlvs: ChannelReestablishTlvs::default(),
        })
    }

    pub(crate) fn on_channel_reestablish(
        &mut self,
        m: &ChannelReestablish,
        out: &mut ChannelOutput,
    ) -> Result<(), ChannelError> {
        if self.st.holder_sigs.is_none() || matches!(self.st.phase, Phase::Failed) {
            return Err(self.unexpected("channel_reestablish"));
        }
        if self.tr.connected {
            return Err(ChannelError::UnexpectedMessage {
                message: "channel_reestablish",
                phase: "already reestablished",
            });
        }
        let theirs = TheirReestablish {
            next_commitment_number: m.next_commitment_number,
            next_revocation_number: m.next_revocation_number,
            your_last_per_commitment_secret: m.your_last_per_commitment_secret,
        };
        let signer = &self.signer;
        let todo = check_reestablish(&self.st.numbers, &theirs, |n, secret| {
            let Ok(key) = SecretKey::from_slice(secret) else {
                return false;
            };
            match signer.holder_per_commitment_point(n) {
                Ok(point) => PublicKey::from_secret_key(SECP256K1, &key) == point,
                Err(_) => false,
            }
        })?;
        self.tr.connected = true;
        for r in todo {
            match r {
                Retransmit::ChannelReady => {
                    if self.st.channel_ready_sent {
                        out.messages.push(self.channel_ready_message()?);
                    }
                }
                Retransmit::RevokeAndAck => {
                    let raa = self.last_revoke_and_ack()?;
                    out.messages.push(raa);
                }
                Retransmit::CommitmentSigned => {
                    out.messages.extend(self.committed_unacked_updates());
                    out.messages.push(self.last_commitment_signed()?);
                }
            }
        }
        // BOLT 2: a node that sent `shutdown` retransmits it.
        if let Some(script) = &self.st.local_shutdown {
            out.messages
                .push(Message::Shutdown(lightning_wire::msgs::Shutdown {
                    channel_id: self.st.channel_id,
                    scriptpubkey: script.clone(),
                    tlvs: Default::default(),
                }));
        }
        // Our fulfills and fails queued again on disconnection.
        out.messages
            .extend(self.our_update_messages(UpdateStage::Proposed));
        // Channel_ready may have become due while disconnected.
        self.maybe_channel_ready(out)?;
        self.maybe_commit(out)?;
        self.progress_shutdown(out)
    }
}
