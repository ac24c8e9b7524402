//! BOLT 2 normal operation ("Normal Operation"): `update_add_htlc`,
//! `update_fulfill_htlc`, `update_fail_htlc`, `update_fail_malformed_htlc`,
//! `commitment_signed`, `revoke_and_ack`, `update_fee`.

use bitcoin::hashes::sha256;
use bitcoin::Txid;
use secp256k1::ecdsa::Signature;
use secp256k1::PublicKey;

use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::msgs::{ExtensionTlvs, FixedBytes, U16Bytes, U16Count};
use crate::types::{ChannelId, PaymentHash, PaymentPreimage};

/// The size of `onion_routing_packet` (BOLT 4, "Packet Structure").
pub const ONION_PACKET_LEN: usize = 1366;

/// `onion_routing_packet`: a 1366-byte Sphinx packet (BOLT 4).
pub type OnionRoutingPacket = FixedBytes<ONION_PACKET_LEN>;

tlv_stream! {
    /// `update_add_htlc_tlvs` (BOLT 2, "Adding an HTLC: `update_add_htlc`").
    UpdateAddHtlcTlvs {
        /// Record 0, `blinded_path`, whose one field is `path_key`: set when
        /// the HTLC is relayed inside a blinded route (BOLT 4, "Route
        /// Blinding").
        0 => path_key: PublicKey,
    }
}

wire_message! {
    /// `update_add_htlc` (BOLT 2, "Adding an HTLC: `update_add_htlc`").
    UpdateAddHtlc = 128, "update_add_htlc" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// The HTLC's id, counting up from 0 per direction.
        id: u64,
        /// The amount offered.
        amount_msat: u64,
        /// The hash the preimage must match.
        payment_hash: PaymentHash,
        /// The block height the HTLC expires at.
        cltv_expiry: u32,
        /// The onion for the next hops.
        onion_routing_packet: OnionRoutingPacket,
    }
    tlvs: UpdateAddHtlcTlvs
}

/// `attribution_data` (BOLT 4, "Returning Errors", attributable failures):
/// the hold times of up to 20 hops and their truncated HMACs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AttributionData {
    /// `htlc_hold_times`, in units of 100 ms, one per hop.
    pub htlc_hold_times: [u32; 20],
    /// `truncated_hmacs`: 210 four-byte HMACs.
    pub truncated_hmacs: FixedBytes<840>,
}

impl Encode for AttributionData {
    fn encode(&self, out: &mut Vec<u8>) {
        for t in &self.htlc_hold_times {
            t.encode(out);
        }
        self.truncated_hmacs.encode(out);
    }
}

impl Decode for AttributionData {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut htlc_hold_times = [0u32; 20];
        for t in &mut htlc_hold_times {
            *t = u32::decode(reader).map_err(|e| e.at("htlc_hold_times"))?;
        }
        let truncated_hmacs = reader.read_field("truncated_hmacs")?;
        Ok(AttributionData {
            htlc_hold_times,
            truncated_hmacs,
        })
    }
}

tlv_stream! {
    /// `update_fulfill_htlc_tlvs` (BOLT 2, attributable failures).
    UpdateFulfillHtlcTlvs {
        /// `attribution_data`: hold times for a successful payment.
        1 => attribution_data: AttributionData,
    }
}

wire_message! {
    /// `update_fulfill_htlc` (BOLT 2, "Removing an HTLC").
    ///
    /// The `attribution_data` record follows attributable failures (BOLT 4,
    /// with `option_attribution_data`), merged after the stored BOLT 2 copy.
    UpdateFulfillHtlc = 130, "update_fulfill_htlc" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// The HTLC.
        id: u64,
        /// The preimage of the HTLC's `payment_hash`.
        payment_preimage: PaymentPreimage,
    }
    tlvs: UpdateFulfillHtlcTlvs
}

tlv_stream! {
    /// `update_fail_htlc_tlvs` (BOLT 2, attributable failures).
    UpdateFailHtlcTlvs {
        /// `attribution_data`: lets the origin tell which hop failed.
        1 => attribution_data: AttributionData,
    }
}

wire_message! {
    /// `update_fail_htlc` (BOLT 2, "Removing an HTLC").
    UpdateFailHtlc = 131, "update_fail_htlc" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// The HTLC.
        id: u64,
        /// The failure, encrypted for the origin (BOLT 4).
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::hex_u16"))]
        reason: Vec<u8> => U16Bytes,
    }
    tlvs: UpdateFailHtlcTlvs
}

wire_message! {
    /// `update_fail_malformed_htlc` (BOLT 2, "Removing an HTLC"): the onion
    /// could not be parsed.
    UpdateFailMalformedHtlc = 135, "update_fail_malformed_htlc" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// The HTLC.
        id: u64,
        /// SHA256 of the onion received.
        sha256_of_onion: sha256::Hash,
        /// A failure code with the `BADONION` bit.
        failure_code: u16,
    }
    tlvs: ExtensionTlvs
}

tlv_stream! {
    /// `commitment_signed_tlvs` (BOLT 2, "Committing Updates So Far").
    CommitmentSignedTlvs {
        /// `funding_txid`: the funding transaction the signed commitment
        /// spends (one `commitment_signed` per pending splice).
        1 => funding_txid: Txid,
    }
}

wire_message! {
    /// `commitment_signed` (BOLT 2, "Committing Updates So Far:
    /// `commitment_signed`").
    CommitmentSigned = 132, "commitment_signed" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// The signature of the receiver's new commitment.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::sig"))]
        signature: Signature,
        /// One signature per HTLC transaction, in output order.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::sigs"))]
        htlc_signatures: Vec<Signature> => U16Count,
    }
    tlvs: CommitmentSignedTlvs
}

wire_message! {
    /// `revoke_and_ack` (BOLT 2, "Completing the Transition to the Updated
    /// State: `revoke_and_ack`").
    RevokeAndAck = 133, "revoke_and_ack" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// The secret of the commitment being revoked.
        #[cfg_attr(feature = "serde", serde(with = "crate::types::serde_hex"))]
        per_commitment_secret: [u8; 32],
        /// The point for the commitment after next.
        next_per_commitment_point: PublicKey,
    }
    tlvs: ExtensionTlvs
}

wire_message! {
    /// `update_fee` (BOLT 2, "Updating Fees: `update_fee`").
    UpdateFee = 134, "update_fee" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// The new commitment feerate.
        feerate_per_kw: u32,
    }
    tlvs: ExtensionTlvs
}
