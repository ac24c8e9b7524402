//! Attribution data at this node (BOLT 4, "Returning Errors": "Erring
//! node", "Initialization of `attribution_data`", "Intermediate nodes";
//! "Hold times for successful payments"; BOLT 2, "Removing an HTLC":
//! "When supporting `option_attribution_data` ... MUST initialize
//! `attribution_data` and include it in `update_fail_htlc` and
//! `update_fulfill_htlc`").
//!
//! What this node puts in the `attribution_data` TLV of the fulfils and
//! failures it sends upstream, when its `init` features advertise
//! `option_attribution_data` ([`NodeConfig::features`](super::NodeConfig::features)),
//! and never for an HTLC whose `update_add_htlc` carried a `path_key`
//! (inside a blinded route; the requirement is "if `path_key` is not set"):
//!
//! - as the erring node (a failure we make: a forward we refuse, an HTLC
//!   for us we fail) or the final node of a fulfil: a new block with our
//!   hold time, over the unobfuscated error packet (or an empty message);
//! - as a relaying node: the downstream block (or, when downstream sent
//!   none, an all-zero block) with our hold time and HMACs added, over the
//!   packet as we received it.
//!
//! Hold times are in units of 100 ms of the host's time (`now`), from the
//! moment the node was handed the HTLC irrevocably committed to the moment
//! it decided the answer. An HTLC answered in the step it arrived reports
//! 0, and so do answers for which the node keeps no arrival time (hold
//! invoices, HTLCs answered again after a reconnection): BOLT 4 lets nodes
//! "that lack accurate timing information ... report a value of zero".

use std::time::Duration;

use lightning_wire::features::Feature;
use lightning_wire::msgs::AttributionData as WireAttribution;
use lightning_wire::types::ChannelId;

use super::Node;
use crate::channel::update_log::Side;
use crate::onion::error_packet::{
    create_error_packet_with_attribution, fulfill_attribution, hold_time_units, wrap_error_packet,
};
use crate::onion::{
    create_error_packet, obfuscate_error_packet, AttributionData, FailureMessage, SharedSecret,
};

impl Node {
    /// Whether the node sends attribution data: its `init` features
    /// advertise `option_attribution_data` (bit 36/37).
    pub(super) fn attribution_enabled(&self) -> bool {
        self.config.features.supports(Feature::AttributionData)
    }

    /// Whether incoming HTLC `htlc_id` on `channel_id` gets attribution
    /// data with its answer: enabled, and its `update_add_htlc` had no
    /// `path_key`.
    fn attributes_htlc(&self, channel_id: ChannelId, htlc_id: u64) -> bool {
        self.attribution_enabled()
            && self.channels.get(&channel_id).is_none_or(|e| {
                e.channel
                    .state()
                    .log
                    .find_add(Side::Remote, htlc_id)
                    .is_none_or(|(add, _)| add.path_key.is_none())
            })
    }

    /// Our hold time of an HTLC we got at `since` (100 ms units; 0 when
    /// not known).
    fn held_for(&self, since: Option<Duration>) -> u32 {
        since.map_or(0, |t| hold_time_units(self.now.saturating_sub(t)))
    }

    /// Our failure of incoming HTLC `htlc_id` on `channel_id` (we are the
    /// erring node): the error packet, and attribution data started over
    /// it with our hold time since `since`.
    pub(super) fn originate_failure(
        &self,
        channel_id: ChannelId,
        htlc_id: u64,
        shared_secret: &SharedSecret,
        failure: &FailureMessage,
        since: Option<Duration>,
    ) -> (Vec<u8>, Option<WireAttribution>) {
        if !self.attributes_htlc(channel_id, htlc_id) {
            return (create_error_packet(shared_secret, failure), None);
        }
        let hold = self.held_for(since);
        let (packet, attribution) =
            create_error_packet_with_attribution(shared_secret, failure, hold);
        (packet, Some(WireAttribution::from(&attribution)))
    }

    /// Our fulfil of incoming HTLC `htlc_id` on `channel_id` as its final
    /// node: attribution data started over an empty message with our hold
    /// time since `since`.
    pub(super) fn originate_fulfill_attribution(
        &self,
        channel_id: ChannelId,
        htlc_id: u64,
        shared_secret: &SharedSecret,
        since: Option<Duration>,
    ) -> Option<WireAttribution> {
        self.attributes_htlc(channel_id, htlc_id).then(|| {
            let attribution = fulfill_attribution(shared_secret, None, self.held_for(since));
            WireAttribution::from(&attribution)
        })
    }

    /// A downstream failure relayed back over incoming HTLC `htlc_id` on
    /// `channel_id`: `packet` (as received) gets our `ammag` layer, and the
    /// downstream attribution data (or an all-zero block) our hold time
    /// since `since` and our HMACs over `packet` as received.
    pub(super) fn relay_failure(
        &self,
        incoming: (ChannelId, u64),
        shared_secret: &SharedSecret,
        packet: &[u8],
        downstream: Option<&WireAttribution>,
        since: Option<Duration>,
    ) -> (Vec<u8>, Option<WireAttribution>) {
        let mut packet = packet.to_vec();
        if !self.attributes_htlc(incoming.0, incoming.1) {
            obfuscate_error_packet(shared_secret, &mut packet);
            return (packet, None);
        }
        let downstream = downstream.map(AttributionData::from);
        let attribution = wrap_error_packet(
            shared_secret,
            &mut packet,
            downstream.as_ref(),
            self.held_for(since),
        );
        (packet, Some(WireAttribution::from(&attribution)))
    }

    /// A downstream fulfil relayed back over incoming HTLC `htlc_id` on
    /// `channel_id`: the downstream attribution data (or an all-zero
    /// block) with our hold time since `since` and our HMACs added.
    pub(super) fn relay_fulfill_attribution(
        &self,
        incoming: (ChannelId, u64),
        shared_secret: &SharedSecret,
        downstream: Option<&WireAttribution>,
        since: Option<Duration>,
    ) -> Option<WireAttribution> {
        self.attributes_htlc(incoming.0, incoming.1).then(|| {
            let downstream = downstream.map(AttributionData::from);
            let attribution =
                fulfill_attribution(shared_secret, downstream.as_ref(), self.held_for(since));
            WireAttribution::from(&attribution)
        })
    }
}
