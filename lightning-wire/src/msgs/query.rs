//! BOLT 7 gossip queries ("Query Messages"): `query_short_channel_ids`,
//! `reply_short_channel_ids_end`, `query_channel_range`,
//! `reply_channel_range`, `gossip_timestamp_filter`, with the extended query
//! TLVs (`query_flags`, `query_option`, `timestamps_tlv`, `checksums_tlv`).
//!
//! Encoded lists start with an encoding type byte. Type 0 (uncompressed) is
//! parsed. Type 1 (zlib) is deprecated by BOLT 7 ("MUST NOT use zlib") and
//! this crate has no decompressor: a zlib list is kept as its opaque
//! compressed bytes ([`EncodedList::Zlib`]), so the message still decodes and
//! re-encodes exactly, and a gossip syncer can answer it as not understood.
//! Any other encoding type is an error.

use crate::bigsize::BigSize;
use crate::codec::{Decode, DecodeError, DecodeErrorKind, Encode, Reader};
use crate::msgs::U16Framed;
use crate::tlv::UnknownTlvs;
use crate::types::{ChainHash, ShortChannelId};

/// An encoded list of `T` (BOLT 7, "Query Messages": `encoding_type` then
/// the data).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(tag = "encoding", content = "values", rename_all = "snake_case")
)]
pub enum EncodedList<T> {
    /// Encoding type 0: the items one after another.
    Uncompressed(Vec<T>),
    /// Encoding type 1, deprecated zlib: the compressed bytes, not parsed.
    Zlib(#[cfg_attr(feature = "serde", serde(with = "crate::types::serde_hex"))] Vec<u8>),
}

impl<T> Default for EncodedList<T> {
    fn default() -> Self {
        EncodedList::Uncompressed(Vec::new())
    }
}

impl<T> EncodedList<T> {
    /// The items, if the list is uncompressed.
    pub fn items(&self) -> Option<&[T]> {
        match self {
            EncodedList::Uncompressed(v) => Some(v),
            EncodedList::Zlib(_) => None,
        }
    }
}

/// Encoding type 0.
pub const ENCODING_UNCOMPRESSED: u8 = 0;
/// Encoding type 1 (deprecated).
pub const ENCODING_ZLIB: u8 = 1;

impl<T: Encode> Encode for EncodedList<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            EncodedList::Uncompressed(items) => {
                out.push(ENCODING_UNCOMPRESSED);
                for item in items {
                    item.encode(out);
                }
            }
            EncodedList::Zlib(bytes) => {
                out.push(ENCODING_ZLIB);
                out.extend_from_slice(bytes);
            }
        }
    }
}

/// Reads every remaining byte.
impl<T: Decode> Decode for EncodedList<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let ty = u8::decode(r).map_err(|e| e.at("encoding_type"))?;
        match ty {
            ENCODING_UNCOMPRESSED => {
                let mut items = Vec::new();
                while !r.is_empty() {
                    items.push(T::decode(r)?);
                }
                Ok(EncodedList::Uncompressed(items))
            }
            ENCODING_ZLIB => Ok(EncodedList::Zlib(r.read_rest().to_vec())),
            other => Err(DecodeError::new(DecodeErrorKind::InvalidValue(format!(
                "unknown encoding type {other}"
            )))
            .at("encoding_type")),
        }
    }
}

/// `encoded_short_ids`.
pub type EncodedShortIds = EncodedList<ShortChannelId>;

/// Bits of a `query_flags` entry (BOLT 7, "The `query_short_channel_ids`
/// Message").
pub mod query_flag {
    /// The sender wants `channel_announcement`.
    pub const ANNOUNCEMENT: u64 = 1;
    /// The sender wants `channel_update` for node 1.
    pub const UPDATE_1: u64 = 2;
    /// The sender wants `channel_update` for node 2.
    pub const UPDATE_2: u64 = 4;
    /// The sender wants `node_announcement` for node 1.
    pub const NODE_1: u64 = 8;
    /// The sender wants `node_announcement` for node 2.
    pub const NODE_2: u64 = 16;
}

tlv_stream! {
    /// `query_short_channel_ids_tlvs` (BOLT 7).
    QueryShortChannelIdsTlvs {
        /// `query_flags`: one BigSize flag set per short channel id.
        1 => query_flags: EncodedList<BigSize>,
    }
}

wire_message! {
    /// `query_short_channel_ids` (BOLT 7, "The `query_short_channel_ids`
    /// Message").
    QueryShortChannelIds = 261, "query_short_channel_ids" {
        /// `chain_hash`.
        chain_hash: ChainHash,
        /// `[u16:len][len*byte:encoded_short_ids]`.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::u16_framed"))]
        encoded_short_ids: EncodedShortIds => U16Framed,
    }
    tlvs: QueryShortChannelIdsTlvs
}

wire_message! {
    /// `reply_short_channel_ids_end` (BOLT 7).
    ReplyShortChannelIdsEnd = 262, "reply_short_channel_ids_end" {
        /// `chain_hash`.
        chain_hash: ChainHash,
        /// 0 if the sender lacks up-to-date information on the chain.
        full_information: u8,
    }
    tlvs: UnknownTlvs
}

/// Bits of `query_option` (BOLT 7, "The `query_channel_range` and
/// `reply_channel_range` Messages").
pub mod query_option {
    /// The sender wants `timestamps_tlv` in the reply.
    pub const WANT_TIMESTAMPS: u64 = 1;
    /// The sender wants `checksums_tlv` in the reply.
    pub const WANT_CHECKSUMS: u64 = 2;
}

tlv_stream! {
    /// `query_channel_range_tlvs` (BOLT 7).
    QueryChannelRangeTlvs {
        /// `query_option`: see [`query_option`].
        1 => query_option: BigSize,
    }
}

wire_message! {
    /// `query_channel_range` (BOLT 7).
    QueryChannelRange = 263, "query_channel_range" {
        /// `chain_hash`.
        chain_hash: ChainHash,
        /// The first block of the range.
        first_blocknum: u32,
        /// The range's length in blocks.
        number_of_blocks: u32,
    }
    tlvs: QueryChannelRangeTlvs
}

/// One entry of `timestamps_tlv`: the `channel_update` timestamps of both
/// directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ChannelUpdateTimestamps {
    /// `timestamp_node_id_1`.
    pub timestamp_node_id_1: u32,
    /// `timestamp_node_id_2`.
    pub timestamp_node_id_2: u32,
}

impl Encode for ChannelUpdateTimestamps {
    fn encode(&self, out: &mut Vec<u8>) {
        self.timestamp_node_id_1.encode(out);
        self.timestamp_node_id_2.encode(out);
    }
}

impl Decode for ChannelUpdateTimestamps {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ChannelUpdateTimestamps {
            timestamp_node_id_1: r.read_field("timestamp_node_id_1")?,
            timestamp_node_id_2: r.read_field("timestamp_node_id_2")?,
        })
    }
}

/// One entry of `checksums_tlv`: the `channel_update` checksums of both
/// directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ChannelUpdateChecksums {
    /// `checksum_node_id_1`.
    pub checksum_node_id_1: u32,
    /// `checksum_node_id_2`.
    pub checksum_node_id_2: u32,
}

impl Encode for ChannelUpdateChecksums {
    fn encode(&self, out: &mut Vec<u8>) {
        self.checksum_node_id_1.encode(out);
        self.checksum_node_id_2.encode(out);
    }
}

impl Decode for ChannelUpdateChecksums {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ChannelUpdateChecksums {
            checksum_node_id_1: r.read_field("checksum_node_id_1")?,
            checksum_node_id_2: r.read_field("checksum_node_id_2")?,
        })
    }
}

crate::types::rest_array!(ChannelUpdateChecksums);

tlv_stream! {
    /// `reply_channel_range_tlvs` (BOLT 7).
    ReplyChannelRangeTlvs {
        /// `timestamps_tlv`: one entry per short channel id.
        1 => timestamps_tlv: EncodedList<ChannelUpdateTimestamps>,
        /// `checksums_tlv`: one entry per short channel id.
        3 => checksums_tlv: Vec<ChannelUpdateChecksums>,
    }
}

wire_message! {
    /// `reply_channel_range` (BOLT 7).
    ReplyChannelRange = 264, "reply_channel_range" {
        /// `chain_hash`.
        chain_hash: ChainHash,
        /// The first block this reply covers.
        first_blocknum: u32,
        /// The blocks this reply covers.
        number_of_blocks: u32,
        /// 1 on the last reply.
        sync_complete: u8,
        /// `[u16:len][len*byte:encoded_short_ids]`.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::u16_framed"))]
        encoded_short_ids: EncodedShortIds => U16Framed,
    }
    tlvs: ReplyChannelRangeTlvs
}

wire_message! {
    /// `gossip_timestamp_filter` (BOLT 7, "The `gossip_timestamp_filter`
    /// Message").
    GossipTimestampFilter = 265, "gossip_timestamp_filter" {
        /// `chain_hash`.
        chain_hash: ChainHash,
        /// The first timestamp of interest.
        first_timestamp: u32,
        /// The range's length in seconds.
        timestamp_range: u32,
    }
    tlvs: UnknownTlvs
}
