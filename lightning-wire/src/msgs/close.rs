//! BOLT 2 channel close ("Channel Close"): `shutdown`, `closing_signed`
//! (legacy negotiation), and `closing_complete`/`closing_sig`
//! (`option_simple_close`).

use secp256k1::ecdsa::Signature;

use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::msgs::U16Bytes;
use crate::tlv::UnknownTlvs;
use crate::types::ChannelId;

wire_message! {
    /// `shutdown` (BOLT 2, "Closing Initiation: `shutdown`").
    Shutdown = 38, "shutdown" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// Where the sender's funds go.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::hex_u16"))]
        scriptpubkey: Vec<u8> => U16Bytes,
    }
    tlvs: UnknownTlvs
}

/// `fee_range` of `closing_signed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FeeRange {
    /// `min_fee_satoshis`.
    pub min_fee_satoshis: u64,
    /// `max_fee_satoshis`.
    pub max_fee_satoshis: u64,
}

impl Encode for FeeRange {
    fn encode(&self, out: &mut Vec<u8>) {
        self.min_fee_satoshis.encode(out);
        self.max_fee_satoshis.encode(out);
    }
}

impl Decode for FeeRange {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(FeeRange {
            min_fee_satoshis: reader.read_field("min_fee_satoshis")?,
            max_fee_satoshis: reader.read_field("max_fee_satoshis")?,
        })
    }
}

tlv_stream! {
    /// `closing_signed_tlvs` (BOLT 2, "Legacy Closing Negotiation").
    ClosingSignedTlvs {
        /// `fee_range`: the fees the sender accepts.
        1 => fee_range: FeeRange,
    }
}

wire_message! {
    /// `closing_signed` (BOLT 2, "Legacy Closing Negotiation:
    /// `closing_signed`"), used when `option_simple_close` is not negotiated.
    ClosingSigned = 39, "closing_signed" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// The proposed fee.
        fee_satoshis: u64,
        /// The sender's signature of the closing transaction.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::sig"))]
        signature: Signature,
    }
    tlvs: ClosingSignedTlvs
}

tlv_stream! {
    /// `closing_tlvs` of `closing_complete` and `closing_sig` (BOLT 2,
    /// "Closing Negotiation: `closing_complete` and `closing_sig`"): one
    /// signature per variant of the closing transaction.
    ClosingTlvs {
        /// `closer_output_only`: the transaction paying only the closer.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::sig_option"))]
        1 => closer_output_only: Signature,
        /// `closee_output_only`: the transaction paying only the closee.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::sig_option"))]
        2 => closee_output_only: Signature,
        /// `closer_and_closee_outputs`: the transaction paying both.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::sig_option"))]
        3 => closer_and_closee_outputs: Signature,
    }
}

wire_message! {
    /// `closing_complete` (BOLT 2, "Closing Negotiation: `closing_complete`
    /// and `closing_sig`", `option_simple_close`): the closer proposes a
    /// closing transaction whose fee it pays.
    ClosingComplete = 40, "closing_complete" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// The closer's output script.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::hex_u16"))]
        closer_scriptpubkey: Vec<u8> => U16Bytes,
        /// The closee's output script.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::hex_u16"))]
        closee_scriptpubkey: Vec<u8> => U16Bytes,
        /// The fee, paid by the closer.
        fee_satoshis: u64,
        /// nLockTime of the closing transaction.
        locktime: u32,
    }
    tlvs: ClosingTlvs
}

wire_message! {
    /// `closing_sig` (BOLT 2, "Closing Negotiation"): the closee's signature
    /// of one variant proposed in `closing_complete`.
    ClosingSig = 41, "closing_sig" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// As in the `closing_complete`.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::hex_u16"))]
        closer_scriptpubkey: Vec<u8> => U16Bytes,
        /// As in the `closing_complete`.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::hex_u16"))]
        closee_scriptpubkey: Vec<u8> => U16Bytes,
        /// As in the `closing_complete`.
        fee_satoshis: u64,
        /// As in the `closing_complete`.
        locktime: u32,
    }
    tlvs: ClosingTlvs
}
