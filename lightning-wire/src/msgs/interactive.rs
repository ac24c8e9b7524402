//! BOLT 2 interactive transaction construction ("Interactive Transaction
//! Construction"): `tx_add_input`, `tx_add_output`, `tx_remove_input`,
//! `tx_remove_output`, `tx_complete`, `tx_signatures`, `tx_init_rbf`,
//! `tx_ack_rbf`, `tx_abort`.

use bitcoin::Txid;
use secp256k1::ecdsa::Signature;

use crate::codec::{write_u16_prefixed, Decode, DecodeError, Encode, Reader};
use crate::msgs::{Empty, U16Bytes, U16Count};
use crate::tlv::UnknownTlvs;
use crate::types::ChannelId;

tlv_stream! {
    /// `tx_add_input_tlvs` (BOLT 2, "The `tx_add_input` Message").
    TxAddInputTlvs {
        /// `shared_input_txid`: the input spends the current funding output
        /// (a splice), whose transaction is not sent in `prevtx`.
        0 => shared_input_txid: Txid,
    }
}

wire_message! {
    /// `tx_add_input` (BOLT 2, "The `tx_add_input` Message").
    TxAddInput = 66, "tx_add_input" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// Orders the input; even from the initiator, odd otherwise.
        serial_id: u64,
        /// The whole transaction holding the spent output; empty for the
        /// shared input of a splice.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::hex_u16"))]
        prevtx: Vec<u8> => U16Bytes,
        /// The spent output's index in `prevtx`.
        prevtx_vout: u32,
        /// The input's nSequence.
        sequence: u32,
    }
    tlvs: TxAddInputTlvs
}

wire_message! {
    /// `tx_add_output` (BOLT 2, "The `tx_add_output` Message").
    TxAddOutput = 67, "tx_add_output" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// Orders the output.
        serial_id: u64,
        /// The output's value.
        sats: u64,
        /// The output's scriptPubKey.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::hex_u16"))]
        script: Vec<u8> => U16Bytes,
    }
    tlvs: UnknownTlvs
}

wire_message! {
    /// `tx_remove_input` (BOLT 2, "The `tx_remove_input` and
    /// `tx_remove_output` Messages").
    TxRemoveInput = 68, "tx_remove_input" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// The input to remove.
        serial_id: u64,
    }
    tlvs: UnknownTlvs
}

wire_message! {
    /// `tx_remove_output` (BOLT 2, "The `tx_remove_input` and
    /// `tx_remove_output` Messages").
    TxRemoveOutput = 69, "tx_remove_output" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// The output to remove.
        serial_id: u64,
    }
    tlvs: UnknownTlvs
}

wire_message! {
    /// `tx_complete` (BOLT 2, "The `tx_complete` Message").
    TxComplete = 70, "tx_complete" {
        /// `channel_id`.
        channel_id: ChannelId,
    }
    tlvs: UnknownTlvs
}

/// One `witness` of `tx_signatures`: `[u16:len][len*byte:witness_data]`,
/// where `witness_data` is a witness stack in Bitcoin's serialization. The
/// bytes are kept as received; [`TxWitness::to_witness`] parses them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct TxWitness(
    #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::hex_u16"))] pub Vec<u8>,
);

impl TxWitness {
    /// The witness stack, if `witness_data` is a valid serialized one.
    pub fn to_witness(&self) -> Result<bitcoin::Witness, bitcoin::consensus::encode::Error> {
        bitcoin::consensus::deserialize(&self.0)
    }
}

impl From<&bitcoin::Witness> for TxWitness {
    fn from(w: &bitcoin::Witness) -> Self {
        TxWitness(bitcoin::consensus::serialize(w))
    }
}

impl Encode for TxWitness {
    fn encode(&self, out: &mut Vec<u8>) {
        write_u16_prefixed(out, &self.0);
    }
}

impl Decode for TxWitness {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TxWitness(reader.read_u16_prefixed()?.to_vec()))
    }
}

tlv_stream! {
    /// `tx_signatures_tlvs` (BOLT 2, "The `tx_signatures` Message").
    TxSignaturesTlvs {
        /// `shared_input_signature`: the sender's signature of the shared
        /// (previous funding) input of a splice.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::sig_option"))]
        0 => shared_input_signature: Signature,
    }
}

wire_message! {
    /// `tx_signatures` (BOLT 2, "The `tx_signatures` Message"): the witnesses
    /// of the sender's inputs, in `serial_id` order.
    TxSignatures = 71, "tx_signatures" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// The id of the constructed transaction.
        txid: Txid,
        /// One witness per input the sender added.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::u16_list"))]
        witnesses: Vec<TxWitness> => U16Count,
    }
    tlvs: TxSignaturesTlvs
}

tlv_stream! {
    /// `tx_init_rbf_tlvs` and `tx_ack_rbf_tlvs` (BOLT 2, "The `tx_init_rbf`
    /// Message").
    TxRbfTlvs {
        /// `funding_output_contribution`: what the sender puts into the
        /// funding output (negative: takes out, in a splice).
        0 => funding_output_contribution: i64,
        /// `require_confirmed_inputs`.
        2 => require_confirmed_inputs: Empty,
    }
}

wire_message! {
    /// `tx_init_rbf` (BOLT 2, "The `tx_init_rbf` Message"): start replacing a
    /// constructed transaction.
    TxInitRbf = 72, "tx_init_rbf" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// nLockTime of the replacement.
        locktime: u32,
        /// Feerate of the replacement, at least 25/24 of the previous one.
        feerate: u32,
    }
    tlvs: TxRbfTlvs
}

wire_message! {
    /// `tx_ack_rbf` (BOLT 2, "The `tx_ack_rbf` Message").
    TxAckRbf = 73, "tx_ack_rbf" {
        /// `channel_id`.
        channel_id: ChannelId,
    }
    tlvs: TxRbfTlvs
}

wire_message! {
    /// `tx_abort` (BOLT 2, "The `tx_abort` Message"): cancel the negotiation
    /// in progress.
    TxAbort = 74, "tx_abort" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// Free-form data, usually ASCII text.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::hex_u16"))]
        data: Vec<u8> => U16Bytes,
    }
    tlvs: UnknownTlvs
}
