//! Forwarding (BOLT 4, "Payload Format" and "Returning Errors"; BOLT 2,
//! "Adding an HTLC"): an incoming HTLC whose onion names a next hop is
//! checked against our policy, offered on the outgoing channel, and
//! answered once the outgoing HTLC is resolved.
//!
//! The link between the two HTLCs is a [`ForwardRecord`], written in the
//! same batch as the outgoing channel's update that commits the offer, so
//! it is durable before the `update_add_htlc` (or anything after it) can
//! leave. The incoming HTLC is answered only from that record:
//!
//! - a downstream fulfil makes it `Fulfilled` (the preimage kept), and the
//!   incoming HTLC is claimed, now or after the next reconnection or
//!   restart (the record answers again until the claim is settled);
//! - a downstream failure irrevocably committed makes it `Failed`, the
//!   error wrapped with our shared secret (BOLT 4 "Returning Errors");
//! - an offer that was never committed (dropped on disconnection or by a
//!   restart) is failed with our own `temporary_channel_failure`;
//! - an outgoing HTLC resolved on chain without its preimage (BOLT 5: our
//!   timeout of its output 6 deep, or the confirmed commitment 6 deep
//!   without an output for it) fails back with our
//!   `permanent_channel_failure`, unless the preimage came first;
//! - nothing else fails it back: an outgoing HTLC still in the downstream
//!   commitment, on or off chain, can still be claimed with the preimage,
//!   so failing upstream before it is resolved could lose the amount (the
//!   "excessive failback" class of bugs);
//! - a forwarded HTLC is answered from its record only, never from our
//!   invoices, even when an invoice has the same hash and amount
//!   (CVE-2020-26896: settling it would reveal the preimage to the
//!   forwarder's upstream and let the payee be robbed).

use lightning_wire::types::{ChannelId, ShortChannelId};

use super::events::{Ack, ForwardDetails, ForwardStatus, PaymentHash, PaymentPreimage};
use super::forward_record::{forward_key, BlindedForward, ForwardRecord, ForwardState};
use super::{Event, Node};
use crate::amount::Msat;
use crate::channel::update_log::{HtlcAdd, HtlcRemoval, Side};
use crate::channel::{ChannelError, HtlcFailReason, Phase};
use crate::onion::{FailureCode, FailureMessage, FailureReason, Forward, NextHop, SharedSecret};
use lightning_wire::msgs::AttributionData;
use std::time::Duration;

/// Whether a blinded hop's `payment_relay` (BOLT 4 "Route Blinding",
/// written by the recipient from our `channel_update`) charges less than
/// our current policy (`fee_base_msat`, `fee_proportional_millionths`,
/// `cltv_expiry_delta`): `FEE_INSUFFICIENT` or `INCORRECT_CLTV_EXPIRY`
/// (which the caller turns into `invalid_onion_blinding`). BOLT 4 only
/// says the relay decides the outgoing amount and expiry; without this
/// check a recipient could write a zero fee for us, or a delta below
/// ours, into a path through us. The parameters are compared, not the
/// amounts: the spec's `amt_to_forward` rounds up, so a relay equal to
/// our policy can leave up to 1 msat less than BOLT 7's fee on it. A
/// path made before we raised our fees is refused until the recipient
/// makes new ones (its `max_cltv_expiry` bounds how long it lives).
pub(super) fn relay_below_policy(
    relay: &crate::onion::PaymentRelay,
    base: u64,
    prop: u64,
    delta: u32,
) -> Option<FailureCode> {
    if u64::from(relay.fee_base_msat) < base || u64::from(relay.fee_proportional_millionths) < prop
    {
        Some(FailureCode::FEE_INSUFFICIENT)
    } else if u32::from(relay.cltv_expiry_delta) < delta {
        Some(FailureCode::INCORRECT_CLTV_EXPIRY)
    } else {
        None
    }
}

/// How a forwarded incoming HTLC is to be answered now, with the
/// `attribution_data` the record keeps for the answer.
pub(super) enum ForwardAnswer {
    /// Not yet: the outgoing HTLC is unresolved.
    Pending,
    /// Claim it.
    Fulfill(PaymentPreimage, Option<AttributionData>),
    /// Fail it with this packet (already wrapped).
    Fail(Vec<u8>, Option<AttributionData>),
    /// Fail it with `update_fail_malformed_htlc` (inside a blinded route
    /// after its introduction node).
    Malformed {
        sha256_of_onion: [u8; 32],
        code: u16,
    },
}

impl Node {
    /// The answer for incoming HTLC `htlc_id` on `channel_id` if we
    /// forwarded it (its record decides, never the onion or our invoices).
    pub(super) fn forwarded_answer(
        &self,
        channel_id: ChannelId,
        htlc_id: u64,
    ) -> Option<ForwardAnswer> {
        let r = self.forwards.get(&(channel_id, htlc_id))?;
        let attribution = r.answer_attribution.clone();
        Some(match &r.state {
            ForwardState::Offered => ForwardAnswer::Pending,
            ForwardState::Fulfilled(p) => ForwardAnswer::Fulfill(*p, attribution),
            ForwardState::Failed(packet) => ForwardAnswer::Fail(packet.clone(), attribution),
            ForwardState::Malformed {
                sha256_of_onion,
                failure_code,
            } => ForwardAnswer::Malformed {
                sha256_of_onion: *sha256_of_onion,
                code: *failure_code,
            },
        })
    }

    /// The channel a forward names: by `short_channel_id`, or by the alias
    /// we gave the peer (a private channel in a route hint), not closed.
    pub(super) fn outgoing_channel(&self, scid: ShortChannelId) -> Option<ChannelId> {
        self.channels.iter().find_map(|(id, e)| {
            let st = e.channel.state();
            let named = st.short_channel_id == Some(scid) || st.local_alias == Some(scid);
            let open = !matches!(e.channel.phase(), Phase::Closed | Phase::Failed);
            (named && open).then_some(*id)
        })
    }

    /// Checks forward `fwd` of incoming HTLC `htlc_id` on `channel_id`
    /// against our policy and offers it downstream, recording the link.
    /// `Err`: the failure to answer the incoming HTLC with now (BOLT 4,
    /// "Failure Messages", requirements for an intermediate hop).
    pub(super) fn forward_htlc(
        &mut self,
        channel_id: ChannelId,
        htlc_id: u64,
        add: &HtlcAdd,
        fwd: &Forward,
    ) -> Result<(), FailureReason> {
        if !self.config.forwarding.enabled {
            return Err(FailureReason::UnknownNextPeer);
        }
        // Inside a blinded route (BOLT 4 "Route Blinding") the onion
        // layer already checked `payment_constraints` and computed the
        // outgoing amount and expiry from the recipient's `payment_relay`;
        // the outgoing HTLC carries `path_key`.
        let blinded = fwd.next_path_key.is_some();
        let (scid, out_id) = match fwd.next_hop {
            NextHop::Channel(scid) => (
                scid,
                self.outgoing_channel(scid)
                    .ok_or(FailureReason::UnknownNextPeer)?,
            ),
            // `next_node_id` (blinded routes only): our usable channel to
            // that peer with the most outbound capacity.
            NextHop::Node(peer) => {
                let id = self
                    .channels
                    .iter()
                    .filter(|(_, e)| e.counterparty == peer && e.channel.is_usable())
                    .max_by_key(|(id, _)| self.outbound_capacity(**id))
                    .map(|(id, _)| *id)
                    .ok_or(FailureReason::UnknownNextPeer)?;
                let st = self.channels.get(&id).map(|e| e.channel.state());
                let scid = st
                    .and_then(|st| st.short_channel_id.or(st.local_alias))
                    .unwrap_or(ShortChannelId(0));
                (scid, id)
            }
        };
        let usable = self
            .channels
            .get(&out_id)
            .is_some_and(|e| e.channel.is_usable());
        if !usable {
            let channel_update = self.failure_channel_update(out_id, Some(scid));
            return Err(FailureReason::TemporaryChannelFailure { channel_update });
        }
        let amt = fwd.amt_to_forward;
        let height = self.best_height();
        let (min_msat, max_msat) = self.forward_limits(out_id);
        let gossip = &self.config.gossip;
        let (base, prop, delta) = (
            u64::from(gossip.fee_base_msat),
            u64::from(gossip.fee_proportional_millionths),
            u32::from(gossip.cltv_expiry_delta),
        );
        let fwd_cfg = self.config.forwarding.clone();
        // BOLT 7 "HTLC Fees": fee_base_msat + amount_to_forward *
        // fee_proportional_millionths / 1000000.
        let fee = base.saturating_add(amt.saturating_mul(prop) / 1_000_000);
        let cltv = fwd.outgoing_cltv_value;
        // A blinded hop is paid what the recipient's `payment_relay` says
        // (`amt_to_forward` and the expiry were computed from it, so the
        // HTLCs always agree with it): that relay must charge at least our
        // policy (see [`relay_below_policy`]).
        let relay_short = fwd
            .payment_relay
            .as_ref()
            .and_then(|r| relay_below_policy(r, base, prop, delta));
        let why = if amt < min_msat {
            Some(FailureCode::AMOUNT_BELOW_MINIMUM)
        } else if amt > max_msat {
            Some(FailureCode::TEMPORARY_CHANNEL_FAILURE)
        } else if relay_short.is_some() {
            relay_short
        } else if !blinded && add.amount_msat < amt.saturating_add(fee) {
            Some(FailureCode::FEE_INSUFFICIENT)
        } else if !blinded && add.cltv_expiry < cltv.saturating_add(delta) {
            Some(FailureCode::INCORRECT_CLTV_EXPIRY)
        } else if cltv <= height.saturating_add(fwd_cfg.min_outgoing_cltv_blocks) {
            Some(FailureCode::EXPIRY_TOO_SOON)
        } else if cltv > height.saturating_add(fwd_cfg.max_outgoing_cltv_blocks) {
            return Err(FailureReason::ExpiryTooFar);
        } else if self.outbound_capacity(out_id) < amt {
            Some(FailureCode::TEMPORARY_CHANNEL_FAILURE)
        } else {
            None
        };
        if let Some(code) = why {
            return Err(self.policy_failure(code, out_id, scid, add));
        }
        let mut packet = Vec::new();
        lightning_wire::codec::Encode::encode(&fwd.next_packet, &mut packet);
        let Some(entry) = self.channels.get_mut(&out_id) else {
            return Err(FailureReason::UnknownNextPeer);
        };
        let sent = entry.channel.send_htlc_with_path_key(
            amt,
            add.payment_hash,
            cltv,
            packet,
            fwd.next_path_key,
        );
        let (out_htlc, out) = match sent {
            Ok(x) => x,
            Err(ChannelError::CannotOffer(_) | ChannelError::NotNow(_)) => {
                return Err(self.policy_failure(
                    FailureCode::TEMPORARY_CHANNEL_FAILURE,
                    out_id,
                    scid,
                    add,
                ))
            }
            Err(_) => return Err(FailureReason::TemporaryNodeFailure),
        };
        let record = ForwardRecord {
            incoming: (channel_id, htlc_id),
            incoming_amount_msat: add.amount_msat,
            incoming_cltv_expiry: add.cltv_expiry,
            payment_hash: add.payment_hash,
            shared_secret: *fwd.shared_secret.as_bytes(),
            outgoing: (out_id, out_htlc),
            outgoing_amount_msat: amt,
            outgoing_cltv_expiry: cltv,
            state: ForwardState::Offered,
            created_at: self.now.as_secs(),
            resolved_at: None,
            event_handled: false,
            created_at_ms: u64::try_from(self.now.as_millis()).unwrap_or(u64::MAX),
            answer_attribution: None,
            // Inside a blinded route: introduced by us when the onion
            // carried `current_path_key` (no `path_key` on the incoming
            // `update_add_htlc`).
            blinded: blinded.then(|| BlindedForward {
                introduction: add.path_key.is_none(),
                sha256_of_onion: {
                    use bitcoin::hashes::{sha256, Hash};
                    sha256::Hash::hash(&add.onion_routing_packet).to_byte_array()
                },
            }),
        };
        // The record joins this step's batch, with the outgoing channel's
        // update that commits the offer (`flush_commits`): durable before
        // the `update_add_htlc` leaves.
        self.save_forward(&record);
        self.forwards_by_out
            .insert((out_id, out_htlc), (channel_id, htlc_id));
        self.forwards.insert((channel_id, htlc_id), record);
        self.apply_channel_output(out_id, out);
        self.to_commit.insert(out_id);
        Ok(())
    }

    /// The least and most we forward over `out_id`: our configured and
    /// announced limits, and the peer's `htlc_minimum_msat`.
    fn forward_limits(&self, out_id: ChannelId) -> (u64, u64) {
        let Some(e) = self.channels.get(&out_id) else {
            return (u64::MAX, 0);
        };
        let st = e.channel.state();
        let min = self
            .config
            .gossip
            .htlc_minimum_msat
            .max(st.remote_params.htlc_minimum_msat);
        let max = st
            .funding_satoshis
            .saturating_mul(1000)
            .min(st.remote_params.max_htlc_value_in_flight_msat)
            .min(self.config.forwarding.htlc_maximum_msat.unwrap_or(u64::MAX));
        (min, max)
    }

    /// Our failure `code` for a forward over `out_id`, with the data BOLT 4
    /// gives it and our `channel_update` for the channel.
    fn policy_failure(
        &mut self,
        code: FailureCode,
        out_id: ChannelId,
        scid: ShortChannelId,
        add: &HtlcAdd,
    ) -> FailureReason {
        let channel_update = self.failure_channel_update(out_id, Some(scid));
        let htlc_msat = add.amount_msat;
        match code {
            FailureCode::AMOUNT_BELOW_MINIMUM => FailureReason::AmountBelowMinimum {
                htlc_msat,
                channel_update,
            },
            FailureCode::FEE_INSUFFICIENT => FailureReason::FeeInsufficient {
                htlc_msat,
                channel_update,
            },
            FailureCode::INCORRECT_CLTV_EXPIRY => FailureReason::IncorrectCltvExpiry {
                cltv_expiry: add.cltv_expiry,
                channel_update,
            },
            FailureCode::EXPIRY_TOO_SOON => FailureReason::ExpiryTooSoon { channel_update },
            _ => FailureReason::TemporaryChannelFailure { channel_update },
        }
    }

    fn save_forward(&mut self, r: &ForwardRecord) {
        let key = forward_key(&r.incoming.0, r.incoming.1);
        // A failed write is recorded by the writer and blocks every later
        // message (the host restarts from the store).
        let _ = self.writer.write_record(&key, r.encode());
    }

    /// A preimage for `payment_hash` was revealed on chain by a spend of an
    /// HTLC output of `channel_id`'s commitment (BOLT 5: the node "MUST
    /// extract the payment preimage from the transaction input witness"
    /// and use it to fulfil the corresponding incoming HTLC): every forward
    /// still offered over that channel for that hash is fulfilled upstream,
    /// as if the downstream peer had sent `update_fulfill_htlc`.
    pub(super) fn forward_preimage_on_chain(
        &mut self,
        channel_id: ChannelId,
        payment_hash: PaymentHash,
        preimage: PaymentPreimage,
    ) {
        let outgoing: Vec<(ChannelId, u64)> = self
            .forwards
            .values()
            .filter(|r| {
                r.state == ForwardState::Offered
                    && r.outgoing.0 == channel_id
                    && r.payment_hash == payment_hash
            })
            .map(|r| r.outgoing)
            .collect();
        for (out_channel, out_htlc) in outgoing {
            // No attribution data comes with a preimage found on chain: ours
            // goes over an all-zero downstream block.
            self.forward_fulfilled(out_channel, out_htlc, preimage, None);
        }
    }

    /// Our outgoing HTLC `htlc_id` on `channel_id` was fulfilled: if it was
    /// a forward, the incoming HTLC is claimed with the preimage (recorded
    /// first, in this step's batch), and the fee reported. The claim
    /// carries the downstream `attribution` with our hold time added
    /// (BOLT 4, "Hold times for successful payments"; BOLT 2: "MUST
    /// initialize `attribution_data` and include it in ...
    /// `update_fulfill_htlc`"), kept in the record.
    pub(super) fn forward_fulfilled(
        &mut self,
        channel_id: ChannelId,
        htlc_id: u64,
        preimage: PaymentPreimage,
        attribution: Option<&AttributionData>,
    ) {
        let Some(incoming) = self.forwards_by_out.get(&(channel_id, htlc_id)).copied() else {
            return;
        };
        let now = self.now.as_secs();
        let Some(r) = self.forwards.get(&incoming) else {
            return;
        };
        let answer_attribution = (r.state == ForwardState::Offered)
            .then(|| {
                let secret = SharedSecret(r.shared_secret);
                let since = Duration::from_millis(r.created_at_ms);
                self.relay_fulfill_attribution(incoming, &secret, attribution, Some(since))
            })
            .flatten();
        let Some(r) = self.forwards.get_mut(&incoming) else {
            return;
        };
        if r.state == ForwardState::Offered {
            self.preimage_learned = true;
            r.state = ForwardState::Fulfilled(preimage);
            r.answer_attribution = answer_attribution;
            r.resolved_at = Some(now);
            r.event_handled = false;
            let r = r.clone();
            self.save_forward(&r);
            self.push_event(
                Event::PaymentForwarded {
                    prev_channel_id: r.incoming.0,
                    prev_htlc_id: r.incoming.1,
                    next_channel_id: r.outgoing.0,
                    payment_hash: r.payment_hash,
                    amount_forwarded_msat: Msat(r.outgoing_amount_msat),
                    fee_earned_msat: Msat(r.fee_msat()),
                },
                Some(Ack::Forward(r.incoming.0, r.incoming.1)),
            );
        }
        self.answer_upstream(incoming);
    }

    /// Our outgoing HTLC `htlc_id` on `channel_id` failed, the removal
    /// irrevocably committed: if it was a forward, the incoming HTLC fails
    /// with the error wrapped with our shared secret (BOLT 4, "Returning
    /// Errors": a malformed failure becomes our error with its code).
    ///
    /// Attribution data (BOLT 4, "Intermediate nodes"): the downstream
    /// `attribution` ("if `attribution_data` is received from downstream:
    /// MUST transform `attribution_data`"; otherwise "MUST instantiate an
    /// all-zeroes `attribution_data` block") gets our hold time and HMACs
    /// over the packet as we received it. A malformed failure makes us the
    /// erring node: a new block over our own packet.
    pub(super) fn forward_failed(
        &mut self,
        channel_id: ChannelId,
        htlc_id: u64,
        reason: &HtlcFailReason,
        attribution: Option<&AttributionData>,
    ) {
        let Some(incoming) = self.forwards_by_out.get(&(channel_id, htlc_id)).copied() else {
            return;
        };
        let Some(r) = self.forwards.get(&incoming) else {
            return;
        };
        let secret = SharedSecret(r.shared_secret);
        let since = Some(Duration::from_millis(r.created_at_ms));
        if let Some(b) = r.blinded {
            // BOLT 2 "Removing an HTLC" / BOLT 4 "Failure Messages": inside
            // a blinded route every downstream error becomes
            // `invalid_onion_blinding`; the downstream one is dropped.
            self.fail_blinded_forward(incoming, b, &secret, since);
            return;
        }
        let (packet, attribution) = match reason {
            HtlcFailReason::Onion(packet) => {
                self.relay_failure(incoming, &secret, packet, attribution, since)
            }
            HtlcFailReason::Malformed {
                failure_code,
                sha256_of_onion,
            } => {
                let reason = FailureReason::bad_onion(FailureCode(*failure_code), *sha256_of_onion)
                    .unwrap_or(FailureReason::TemporaryNodeFailure);
                let failure = FailureMessage::from(reason);
                self.originate_failure(incoming.0, incoming.1, &secret, &failure, since)
            }
        };
        self.resolve_failed(incoming, ForwardState::Failed(packet), attribution);
    }

    /// A forward inside a blinded route failed (downstream, or it never
    /// left): as the introduction node we fail the incoming HTLC with our
    /// own `invalid_onion_blinding` in `update_fail_htlc`, after it with
    /// `update_fail_malformed_htlc` carrying `invalid_onion_blinding`
    /// (BOLT 2, "Removing an HTLC": "MUST send ... using the
    /// `invalid_onion_blinding` failure code for any local or downstream
    /// errors"; "SHOULD use the `sha256_of_onion` of the onion it
    /// received", which we do). BOLT 2's SHOULD of a random delay before
    /// the introduction node's answer is not followed: the answer leaves
    /// with the next commitment, like every other.
    fn fail_blinded_forward(
        &mut self,
        incoming: (ChannelId, u64),
        b: BlindedForward,
        secret: &SharedSecret,
        since: Option<Duration>,
    ) {
        if b.introduction {
            let reason = FailureReason::InvalidOnionBlinding {
                sha256_of_onion: b.sha256_of_onion,
            };
            let failure = FailureMessage::from(reason);
            let (packet, attribution) =
                self.originate_failure(incoming.0, incoming.1, secret, &failure, since);
            self.resolve_failed(incoming, ForwardState::Failed(packet), attribution);
        } else {
            let state = ForwardState::Malformed {
                sha256_of_onion: b.sha256_of_onion,
                failure_code: FailureCode::INVALID_ONION_BLINDING.0,
            };
            self.resolve_failed(incoming, state, None);
        }
    }

    /// Our outgoing HTLC `htlc_id` on `channel_id` was never committed
    /// (the connection dropped or the node restarted first): the peer never
    /// had it, so if it was a forward the incoming HTLC fails with our
    /// `temporary_channel_failure`.
    pub(super) fn forward_unsent(&mut self, channel_id: ChannelId, htlc_id: u64) {
        self.fail_offered_forward(channel_id, htlc_id, |node| {
            let channel_update = node.failure_channel_update(channel_id, None);
            FailureReason::TemporaryChannelFailure { channel_update }
        });
    }

    /// Our outgoing HTLC `htlc_id` on `channel_id` is resolved on chain
    /// without its preimage (BOLT 5, "HTLC Output Handling: Local
    /// Commitment, Local Offers" and "Remote Commitment, Local Offers": our
    /// timeout of its output reached reasonable depth, or the confirmed
    /// commitment, that deep, has no output for it): if it was a forward,
    /// the incoming HTLC "MUST" be failed. The reason is our
    /// `permanent_channel_failure` (BOLT 5's "presumably"; BOLT 4: the
    /// outgoing channel is closed). A forward already fulfilled (the
    /// preimage was learned, on or off chain) is left alone: the preimage
    /// wins. The record is written in this step's batch; a forward no
    /// longer `Offered` is never failed again, so a restart neither loses
    /// nor repeats the failure.
    pub(super) fn forward_failed_on_chain(&mut self, channel_id: ChannelId, htlc_id: u64) {
        self.fail_offered_forward(channel_id, htlc_id, |_| {
            FailureReason::PermanentChannelFailure
        });
    }

    /// Fails back the incoming HTLC of the forward whose outgoing HTLC is
    /// `htlc_id` on `channel_id`, if it is still `Offered`: inside a
    /// blinded route as its role there says, else with `reason` (made only
    /// when a failure goes out).
    fn fail_offered_forward(
        &mut self,
        channel_id: ChannelId,
        htlc_id: u64,
        reason: impl FnOnce(&mut Self) -> FailureReason,
    ) {
        let Some(incoming) = self.forwards_by_out.get(&(channel_id, htlc_id)).copied() else {
            return;
        };
        let Some(r) = self.forwards.get(&incoming) else {
            return;
        };
        if r.state != ForwardState::Offered {
            return;
        }
        let secret = SharedSecret(r.shared_secret);
        let since = Some(Duration::from_millis(r.created_at_ms));
        if let Some(b) = r.blinded {
            self.fail_blinded_forward(incoming, b, &secret, since);
            return;
        }
        let failure = FailureMessage::from(reason(self));
        let (packet, attribution) =
            self.originate_failure(incoming.0, incoming.1, &secret, &failure, since);
        self.resolve_failed(incoming, ForwardState::Failed(packet), attribution);
    }

    /// Whether our outgoing HTLC `htlc_id` on `channel_id` is a forward
    /// still waiting for its outgoing HTLC's resolution.
    pub(super) fn forward_waits_on(&self, channel_id: ChannelId, htlc_id: u64) -> bool {
        self.forwards_by_out
            .get(&(channel_id, htlc_id))
            .and_then(|incoming| self.forwards.get(incoming))
            .is_some_and(|r| {
                r.state == ForwardState::Offered && r.outgoing == (channel_id, htlc_id)
            })
    }

    /// Records the failure `state` of a forward still offered and answers
    /// its incoming HTLC.
    fn resolve_failed(
        &mut self,
        incoming: (ChannelId, u64),
        state: ForwardState,
        attribution: Option<AttributionData>,
    ) {
        let now = self.now.as_secs();
        let Some(r) = self.forwards.get_mut(&incoming) else {
            return;
        };
        if r.state != ForwardState::Offered {
            // Already resolved (a fulfil is never undone by a failure).
            return;
        }
        r.state = state;
        r.answer_attribution = attribution;
        r.resolved_at = Some(now);
        let r = r.clone();
        self.save_forward(&r);
        // The outgoing HTLC is gone: its id may be used again only by a
        // new offer, which must not find this forward.
        self.forwards_by_out.remove(&r.outgoing);
        self.answer_upstream(incoming);
    }

    /// Answers the incoming HTLC of a resolved forward, if its channel
    /// operates now; otherwise it is answered from the record after the
    /// next `channel_reestablish` (`answer_pending_htlcs`).
    fn answer_upstream(&mut self, incoming: (ChannelId, u64)) {
        let Some(answer) = self.forwarded_answer(incoming.0, incoming.1) else {
            return;
        };
        let Some(entry) = self.channels.get_mut(&incoming.0) else {
            return;
        };
        let result =
            match answer {
                ForwardAnswer::Pending => return,
                ForwardAnswer::Fulfill(p, attribution) => entry
                    .channel
                    .fulfill_htlc_with_attribution(incoming.1, p, attribution),
                ForwardAnswer::Fail(packet, attribution) => entry
                    .channel
                    .fail_htlc_with_attribution(incoming.1, packet, attribution),
                ForwardAnswer::Malformed {
                    sha256_of_onion,
                    code,
                } => entry
                    .channel
                    .fail_malformed_htlc(incoming.1, sha256_of_onion, code),
            };
        if let Ok(out) = result {
            self.apply_channel_output(incoming.0, out);
            self.to_commit.insert(incoming.0);
        }
    }

    /// At every new height: an incoming HTLC we know the preimage of (its
    /// forward was fulfilled downstream, or the host claimed its hold
    /// invoice) but could not claim off chain (its channel was not
    /// operating since) is claimed on chain before the peer can time it
    /// out: its channel is closed `fulfill_deadline_blocks` before the
    /// HTLC's expiry (BOLT 2, "fulfillment deadline for received HTLCs"),
    /// and the resolver claims it with the preimage
    /// ([`Node::known_preimages`]).
    pub(super) fn claim_deadlines(&mut self, height: u32) {
        let margin = self.config.fulfill_deadline_blocks;
        let mut due: Vec<(ChannelId, u64, u32)> = self
            .forwards
            .values()
            .filter(|r| matches!(r.state, ForwardState::Fulfilled(_)))
            .map(|r| (r.incoming.0, r.incoming.1, r.incoming_cltv_expiry))
            .collect();
        due.extend(self.claimed_holds());
        let mut late = Vec::new();
        for (channel_id, htlc_id, cltv_expiry) in due {
            if height.saturating_add(margin) < cltv_expiry {
                continue;
            }
            let Some(entry) = self.channels.get(&channel_id) else {
                continue;
            };
            if !matches!(entry.channel.phase(), Phase::Normal | Phase::ShuttingDown) {
                continue;
            }
            let log = &entry.channel.state().log;
            // Still offered to us and not answered: our claim never made
            // it into the channel.
            let unanswered = log.find_add(Side::Remote, htlc_id).is_some()
                && log.find_removal(Side::Remote, htlc_id).is_none();
            if unanswered && !late.contains(&channel_id) {
                late.push(channel_id);
            }
        }
        for id in late {
            if let Some(entry) = self.channels.get_mut(&id) {
                let out = entry
                    .channel
                    .force_close("an HTLC we can claim is near its expiry and was not claimed");
                self.apply_channel_output(id, out);
            }
        }
    }

    /// On restore, once every channel is back (and its uncommitted offers
    /// were dropped and reported): each forward still `Offered` whose
    /// outgoing HTLC the channel never had (the offer was not in any
    /// write) is failed back; one whose fulfil the channel already holds
    /// is claimed. Anything else waits for the channel to resolve it.
    pub(super) fn reconcile_forwards(&mut self) {
        let offered: Vec<((ChannelId, u64), (ChannelId, u64))> = self
            .forwards
            .values()
            .filter(|r| r.state == ForwardState::Offered)
            .map(|r| (r.incoming, r.outgoing))
            .collect();
        for (_incoming, (out_id, out_htlc)) in offered {
            let Some(entry) = self.channels.get(&out_id) else {
                // The outgoing channel is unknown: never fail back on a
                // guess (its HTLC may still be claimed downstream).
                continue;
            };
            let log = &entry.channel.state().log;
            let fulfilled = match log.find_removal(Side::Local, out_htlc) {
                Some((
                    HtlcRemoval::Fulfill {
                        payment_preimage,
                        attribution_data,
                    },
                    _,
                )) => Some((*payment_preimage, attribution_data.clone())),
                _ => None,
            };
            let never_had = log.find_add(Side::Local, out_htlc).is_none()
                && log.next_htlc_id(Side::Local) <= out_htlc;
            if let Some((p, attribution)) = fulfilled {
                self.forward_fulfilled(out_id, out_htlc, p, attribution.as_deref());
            } else if never_had {
                self.forward_unsent(out_id, out_htlc);
            }
        }
    }

    /// A forwarding record read back from the store.
    pub(super) fn restore_forward(&mut self, key: &str, bytes: &[u8], version: u64) {
        self.writer.set_version(key, version);
        // A damaged record loses that forward's history only; its
        // incoming HTLC is then left unanswered (never failed on a guess)
        // until it expires.
        if let Ok(r) = ForwardRecord::decode(bytes) {
            if r.state == ForwardState::Offered {
                self.forwards_by_out.insert(r.outgoing, r.incoming);
            } else if let ForwardState::Fulfilled(_) = r.state {
                // A fulfil may come again for the same HTLC (the peer
                // retransmits it): it must still find the forward.
                self.forwards_by_out.insert(r.outgoing, r.incoming);
            }
            self.forwards.insert(r.incoming, r);
        }
    }

    /// Every HTLC we forwarded, oldest first (`fwdinghistory`).
    pub fn list_forwards(&self) -> Vec<ForwardDetails> {
        let mut v: Vec<ForwardDetails> = self
            .forwards
            .values()
            .map(|r| ForwardDetails {
                incoming_channel_id: r.incoming.0,
                incoming_htlc_id: r.incoming.1,
                outgoing_channel_id: r.outgoing.0,
                outgoing_htlc_id: r.outgoing.1,
                payment_hash: r.payment_hash,
                incoming_amount_msat: Msat(r.incoming_amount_msat),
                outgoing_amount_msat: Msat(r.outgoing_amount_msat),
                fee_msat: Msat(r.fee_msat()),
                status: match r.state {
                    ForwardState::Offered => ForwardStatus::InFlight,
                    ForwardState::Fulfilled(_) => ForwardStatus::Settled,
                    ForwardState::Failed(_) | ForwardState::Malformed { .. } => {
                        ForwardStatus::Failed
                    }
                },
                created_at: r.created_at,
                resolved_at: r.resolved_at,
            })
            .collect();
        v.sort_by_key(|f| (f.created_at, f.incoming_channel_id, f.incoming_htlc_id));
        v
    }
}
