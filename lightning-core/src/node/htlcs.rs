//! Incoming HTLCs: what the node decides for each HTLC the peer offered
//! once it is irrevocably committed (claim, fail, or fail as malformed).
//! The node is only ever the final hop today; forwarding decisions belong
//! here too.

use bitcoin::hashes::{sha256, Hash};
use lightning_wire::types::ChannelId;

use super::events::{Ack, InvoiceStatus, PaymentHash, PaymentPreimage};
use super::records::invoice_key;
use super::{Event, Node};
use crate::channel::update_log::HtlcAdd;
use crate::onion::{
    create_error_packet, process_htlc_onion, FailureCode, FailureReason, IncomingHtlc, OnionPacket,
    ProcessedHtlc,
};

/// How an incoming HTLC is answered.
enum Answer {
    Fulfill(PaymentPreimage),
    Fail(Vec<u8>),
    Malformed {
        sha256_of_onion: [u8; 32],
        code: u16,
    },
}

impl Node {
    /// Answers the HTLCs the peer offered that are locked in and not yet
    /// answered: after a restart or a disconnection, the channel does not
    /// report them again.
    pub(super) fn answer_pending_htlcs(&mut self, channel_id: ChannelId) {
        use crate::channel::update_log::{Side, UpdateKind, UpdateStage};
        let Some(entry) = self.channels.get(&channel_id) else {
            return;
        };
        if !entry.channel.is_usable() {
            return;
        }
        let st = entry.channel.state();
        let pending: Vec<(HtlcAdd, bool)> = st
            .log
            .updates()
            .iter()
            .filter_map(|u| match (&u.kind, u.proposer, u.stage) {
                (UpdateKind::Add(a), Side::Remote, UpdateStage::LockedIn)
                    if st.log.find_removal(Side::Remote, a.id).is_none() =>
                {
                    Some((a.clone(), st.htlcs_to_fail.contains(&a.id)))
                }
                _ => None,
            })
            .collect();
        for (add, must_fail) in pending {
            self.receive_htlc(channel_id, add.id, &add, must_fail);
        }
    }

    /// An HTLC the peer offered is irrevocably committed: claim it if it
    /// pays one of our invoices, fail it back otherwise.
    pub(super) fn receive_htlc(
        &mut self,
        channel_id: ChannelId,
        htlc_id: u64,
        add: &HtlcAdd,
        must_fail: bool,
    ) {
        let answer = match OnionPacket::from_payment_bytes(&add.onion_routing_packet) {
            Err(_) => Answer::Malformed {
                sha256_of_onion: sha256::Hash::hash(&add.onion_routing_packet).to_byte_array(),
                code: FailureCode::INVALID_ONION_VERSION.0,
            },
            Ok(onion) => {
                let path_key = add
                    .path_key
                    .and_then(|k| bitcoin::secp256k1::PublicKey::from_slice(&k).ok());
                let htlc = IncomingHtlc {
                    onion: &onion,
                    payment_hash: add.payment_hash,
                    amount_msat: add.amount_msat,
                    cltv_expiry: add.cltv_expiry,
                    path_key,
                };
                // BOLT 4: a packet "previously forwarded or locally
                // redeemed" is refused (see `HtlcReplayCache` for what is
                // kept and for how long).
                self.replay.expire(self.best_height());
                let mut replay = self.replay.for_htlc(channel_id.0, htlc_id, add.cltv_expiry);
                match process_htlc_onion(&*self.node_signer, &htlc, Some(&mut replay)) {
                    Err(failure) => match failure.error_packet() {
                        Some(packet) => Answer::Fail(packet),
                        None => {
                            let code = failure.code().0;
                            Answer::Malformed {
                                sha256_of_onion: onion.sha256(),
                                code: if code & FailureCode::BADONION != 0 {
                                    code
                                } else {
                                    FailureCode::INVALID_ONION_HMAC.0
                                },
                            }
                        }
                    },
                    // We do not forward.
                    Ok(ProcessedHtlc::Forward(fwd)) => Answer::Fail(create_error_packet(
                        &fwd.shared_secret,
                        &FailureReason::UnknownNextPeer.into(),
                    )),
                    Ok(ProcessedHtlc::Receive(r)) => {
                        let verdict = if must_fail {
                            Err(FailureReason::TemporaryNodeFailure)
                        } else {
                            self.check_receive(channel_id, htlc_id, add, &r)
                        };
                        match verdict {
                            Ok(preimage) => Answer::Fulfill(preimage),
                            Err(reason) => {
                                Answer::Fail(create_error_packet(&r.shared_secret, &reason.into()))
                            }
                        }
                    }
                }
            }
        };
        let hash = PaymentHash(add.payment_hash);
        if let Answer::Fulfill(_) = &answer {
            // The invoice is marked paid before the preimage leaves.
            if let Some(record) = self.invoices.get_mut(&hash) {
                let first = record.status == InvoiceStatus::Open;
                if first {
                    // One HTLC pays an invoice (no multi-part payments); a
                    // second answer is the same HTLC answered again.
                    record.status = InvoiceStatus::Paid;
                    record.amount_received_msat = add.amount_msat;
                    record.paid_by = Some((channel_id, htlc_id));
                    record.event_handled = false;
                    let bytes = record.encode();
                    let _ = self.writer.write_record(&invoice_key(&hash), bytes);
                    // Raised again after a restart until the host has
                    // acknowledged it ([`super::delivery`]).
                    self.push_event(
                        Event::PaymentReceived {
                            payment_hash: hash,
                            amount_msat: add.amount_msat,
                        },
                        Some(Ack::Invoice(hash)),
                    );
                }
            }
        }
        let Some(entry) = self.channels.get_mut(&channel_id) else {
            return;
        };
        let result = match answer {
            Answer::Fulfill(p) => entry.channel.fulfill_htlc(htlc_id, p.0),
            Answer::Fail(packet) => entry.channel.fail_htlc(htlc_id, packet),
            Answer::Malformed {
                sha256_of_onion,
                code,
            } => entry
                .channel
                .fail_malformed_htlc(htlc_id, sha256_of_onion, code),
        };
        // Not operating now (disconnected): the HTLC stays locked in and is
        // answered after the next `channel_reestablish`
        // ([`Node::answer_pending_htlcs`]).
        if let Ok(out) = result {
            self.apply(channel_id, out);
            self.to_commit.insert(channel_id);
        }
    }
}
