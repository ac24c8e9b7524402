//! Incoming HTLCs: what the node decides for each HTLC the peer offered
//! once it is irrevocably committed (claim, fail, fail as malformed, or
//! forward and answer later, [`forward`](super::forward)).

use bitcoin::hashes::{sha256, Hash};
use lightning_wire::types::ChannelId;

use super::events::{InvoiceStatus, PaymentHash, PaymentPreimage};
use super::forward::ForwardAnswer;
use super::hold::HoldAnswer;
use super::keysend::keysend_preimage;
use super::Node;
use crate::channel::update_log::HtlcAdd;
use crate::onion::{
    process_htlc_onion, FailureCode, FailureReason, IncomingHtlc, OnionPacket, ProcessedHtlc,
    SharedSecret,
};
use lightning_wire::msgs::AttributionData;

/// How an incoming HTLC is answered (BOLT 2 `update_fulfill_htlc`,
/// `update_fail_htlc` or `update_fail_malformed_htlc`).
///
/// Fulfils and failures carry the `attribution_data` to send with them
/// ([`attribution`](super::attribution)), when we send any.
pub(super) enum Answer {
    Fulfill(PaymentPreimage, Option<AttributionData>),
    Fail(Vec<u8>, Option<AttributionData>),
    Malformed {
        sha256_of_onion: [u8; 32],
        code: u16,
    },
    /// No answer now: the HTLC was forwarded (or is held) and is answered
    /// once that resolves.
    Hold,
}

impl Node {
    /// For HTLC `htlc_id` the peer offered on `channel_id` with `path_key`
    /// (we receive inside a blinded route, not as its introduction node):
    /// the `sha256_of_onion` of its onion. Any failure of such an HTLC
    /// goes back as `update_fail_malformed_htlc` with
    /// `invalid_onion_blinding` (BOLT 2, "Removing an HTLC").
    pub(super) fn blinded_incoming(&self, channel_id: ChannelId, htlc_id: u64) -> Option<[u8; 32]> {
        let add = self
            .channels
            .get(&channel_id)?
            .channel
            .state()
            .log
            .find_add(crate::channel::update_log::Side::Remote, htlc_id)?
            .0;
        add.path_key?;
        Some(sha256::Hash::hash(&add.onion_routing_packet).to_byte_array())
    }

    /// Fails HTLC `htlc_id` the peer offered on `channel_id`, which we
    /// received (not forwarded), with our `reason` (the onion's shared
    /// secret `ss`; held since `since`) or, inside a blinded route, with
    /// `invalid_onion_blinding` malformed ([`Node::blinded_incoming`]).
    pub(super) fn fail_received(
        &mut self,
        channel_id: ChannelId,
        htlc_id: u64,
        ss: &SharedSecret,
        reason: FailureReason,
        since: Option<std::time::Duration>,
    ) {
        let result = match self.blinded_incoming(channel_id, htlc_id) {
            Some(sha256_of_onion) => self.channels.get_mut(&channel_id).map(|e| {
                e.channel.fail_malformed_htlc(
                    htlc_id,
                    sha256_of_onion,
                    FailureCode::INVALID_ONION_BLINDING.0,
                )
            }),
            None => {
                let (packet, attribution) =
                    self.originate_failure(channel_id, htlc_id, ss, &reason.into(), since);
                self.channels.get_mut(&channel_id).map(|e| {
                    e.channel
                        .fail_htlc_with_attribution(htlc_id, packet, attribution)
                })
            }
        };
        if let Some(Ok(out)) = result {
            self.apply_channel_output(channel_id, out);
            self.to_commit.insert(channel_id);
        }
    }

    /// Whether our invoice `hash` is paid.
    fn invoice_paid(&self, hash: &PaymentHash) -> bool {
        self.invoices
            .get(hash)
            .is_some_and(|r| r.status == InvoiceStatus::Paid)
    }

    /// Decides HTLC `htlc_id` the peer offered on `channel_id`, now
    /// irrevocably committed: an HTLC we forwarded is answered from its
    /// forwarding record alone (never from our invoices, CVE-2020-26896);
    /// a new forward is checked and offered downstream; one for us is
    /// failed unless it pays one of our invoices, and then joins the
    /// payment's HTLC set ([`mpp`](super::mpp)): held until the set is
    /// complete, when every part is claimed. A claimed invoice is marked
    /// paid, and its event queued, before the answer is returned: the
    /// preimage leaves only behind that write.
    pub(super) fn decide_htlc(
        &mut self,
        channel_id: ChannelId,
        htlc_id: u64,
        add: &HtlcAdd,
        must_fail: bool,
    ) -> Answer {
        if let Some(answer) = self.forwarded_answer(channel_id, htlc_id) {
            return match answer {
                ForwardAnswer::Pending => Answer::Hold,
                ForwardAnswer::Fulfill(p, a) => Answer::Fulfill(p, a),
                ForwardAnswer::Fail(packet, a) => Answer::Fail(packet, a),
                ForwardAnswer::Malformed {
                    sha256_of_onion,
                    code,
                } => Answer::Malformed {
                    sha256_of_onion,
                    code,
                },
            };
        }
        match OnionPacket::from_payment_bytes(&add.onion_routing_packet) {
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
                // Our own failures are answered in the step the HTLC came
                // to us: a hold time of 0.
                let fail = |node: &Self, ss: &SharedSecret, reason: FailureReason| {
                    let (packet, attribution) =
                        node.originate_failure(channel_id, htlc_id, ss, &reason.into(), None);
                    Answer::Fail(packet, attribution)
                };
                match process_htlc_onion(&*self.node_signer, &htlc, Some(&mut replay)) {
                    Err(failure) => match (&failure.shared_secret, failure.malformed) {
                        (Some(ss), false) => fail(self, ss, failure.reason.clone()),
                        _ => {
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
                    // BOLT 4: inside a blinded route every error is
                    // `invalid_onion_blinding` (malformed after the
                    // introduction node).
                    Ok(ProcessedHtlc::Forward(fwd)) if fwd.next_path_key.is_some() => {
                        let verdict = if must_fail {
                            Err(FailureReason::TemporaryNodeFailure)
                        } else {
                            self.forward_htlc(channel_id, htlc_id, add, &fwd)
                        };
                        if verdict.is_ok() {
                            Answer::Hold
                        } else if add.path_key.is_some() {
                            Answer::Malformed {
                                sha256_of_onion: onion.sha256(),
                                code: FailureCode::INVALID_ONION_BLINDING.0,
                            }
                        } else {
                            let reason = FailureReason::InvalidOnionBlinding {
                                sha256_of_onion: onion.sha256(),
                            };
                            fail(self, &fwd.shared_secret, reason)
                        }
                    }
                    Ok(ProcessedHtlc::Forward(fwd)) => {
                        let verdict = if must_fail {
                            Err(FailureReason::TemporaryNodeFailure)
                        } else {
                            self.forward_htlc(channel_id, htlc_id, add, &fwd)
                        };
                        match verdict {
                            Ok(()) => Answer::Hold,
                            Err(reason) => fail(self, &fwd.shared_secret, reason),
                        }
                    }
                    Ok(ProcessedHtlc::Receive(mut r)) => {
                        // BOLT 4: the recipient of a blinded path checks
                        // its `path_id`; ours is the invoice's secret
                        // (`blinded_pay`), checked as `payment_data`'s.
                        if r.blinded {
                            r.payment_secret = r
                                .path_id
                                .as_deref()
                                .and_then(|p| <[u8; 32]>::try_from(p).ok());
                        }
                        // After the introduction node every error is
                        // `invalid_onion_blinding`, malformed (BOLT 4
                        // "Failure Messages", BOLT 2).
                        let hide = r.blinded && add.path_key.is_some();
                        let keysend = keysend_preimage(&r)
                            .filter(|_| !self.invoices.contains_key(&add.payment_hash));
                        let hold = if must_fail {
                            // Never fulfilled: out of any set it joined.
                            self.htlc_sets.forget((channel_id, htlc_id));
                            None
                        } else {
                            self.receive_hold(channel_id, htlc_id, add, &r)
                        };
                        let ss = r.shared_secret;
                        let fulfil = |node: &Self, p| {
                            let attribution =
                                node.originate_fulfill_attribution(channel_id, htlc_id, &ss, None);
                            Answer::Fulfill(p, attribution)
                        };
                        let verdict = match (hold, keysend) {
                            (Some(HoldAnswer::Hold), _) => return Answer::Hold,
                            (Some(HoldAnswer::Fulfill(p)), _) => return fulfil(self, p),
                            (Some(HoldAnswer::Fail(reason)), _) => Err(reason),
                            _ if must_fail => Err(FailureReason::TemporaryNodeFailure),
                            (None, Some(p)) => {
                                match self.receive_keysend(channel_id, htlc_id, add, &r, p) {
                                    Ok(Some(p)) => Ok(p),
                                    // A part of a multi-part keysend, held.
                                    Ok(None) => return Answer::Hold,
                                    Err(reason) => Err(reason),
                                }
                            }
                            (None, None) => {
                                match self.check_receive(channel_id, htlc_id, add, &r) {
                                    // A paying HTLC answered again.
                                    Ok(p) if self.invoice_paid(&add.payment_hash) => Ok(p),
                                    Ok(p) => match self
                                        .receive_invoice_part(channel_id, htlc_id, add, &r, p)
                                    {
                                        Ok(Some(p)) => Ok(p),
                                        Ok(None) => return Answer::Hold,
                                        Err(reason) => Err(reason),
                                    },
                                    Err(reason) => Err(reason),
                                }
                            }
                        };
                        match verdict {
                            Ok(preimage) => fulfil(self, preimage),
                            Err(_) if hide => Answer::Malformed {
                                sha256_of_onion: onion.sha256(),
                                code: FailureCode::INVALID_ONION_BLINDING.0,
                            },
                            Err(reason) => fail(self, &ss, reason),
                        }
                    }
                }
            }
        }
    }
}
