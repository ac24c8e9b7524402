//! Every BOLT 1, 2 and 7 message, and the [`Message`] enum over them.
//!
//! A message on the wire is a two-byte big-endian type, the fields of that
//! type, and an optional TLV stream, the *extension* (BOLT 1, "Lightning
//! Message Format"). Each message here is a struct with its fields in spec
//! order and a last field `tlvs`: the typed records of its TLV namespace plus
//! the unknown odd records, kept so that a decoded message encodes back to the
//! same bytes. Bytes after the fields must parse as a TLV stream: a tail that
//! is not one, or that holds an even record the namespace does not define, is
//! an error (BOLT 1: "if the `extension` is invalid: MUST close the
//! connection").
//!
//! ```
//! use lightning_wire::msgs::{Message, Ping};
//!
//! let bytes = hex::decode("0012000a0004deadbeef").unwrap();
//! let msg = Message::decode(&bytes).unwrap();
//! assert_eq!(msg.name(), "ping");
//! let Message::Ping(ping) = &msg else { panic!() };
//! assert_eq!(ping.num_pong_bytes, 10);
//! assert_eq!(ping.pong_response().unwrap().ignored.len(), 10);
//! assert_eq!(msg.encode().unwrap(), bytes);
//! ```
//!
//! Modules, by spec section:
//! - [`setup`]: BOLT 1 `init`, `error`, `warning`, `ping`, `pong`,
//!   `peer_storage`, `peer_storage_retrieval`;
//! - [`establish`]: BOLT 2 channel establishment v1 and v2;
//! - [`interactive`]: BOLT 2 interactive transaction construction;
//! - [`splice`]: BOLT 2 quiescence (`stfu`), splicing and `start_batch`;
//! - [`update`]: BOLT 2 normal operation;
//! - [`close`]: BOLT 2 channel close;
//! - [`reestablish`]: BOLT 2 `channel_reestablish`;
//! - [`gossip`]: BOLT 7 announcements and `channel_update`;
//! - [`query`]: BOLT 7 gossip queries.

use crate::codec::{write_u16_prefixed, Decode, DecodeError, DecodeErrorKind, Encode, Reader};

#[macro_use]
mod macros;
pub mod close;
pub mod establish;
pub mod gossip;
pub mod interactive;
pub mod query;
pub mod reestablish;
pub mod setup;
pub mod splice;
pub mod update;

#[cfg(test)]
mod tests;

pub use close::*;
pub use establish::*;
pub use gossip::*;
pub use interactive::*;
pub use query::*;
pub use reestablish::*;
pub use setup::*;
pub use splice::*;
pub use update::*;

/// How one field is written and read. Most fields use their type's own
/// [`Encode`]/[`Decode`] ([`Plain`]); length- and count-prefixed fields name
/// one of the other codecs in the message definition.
pub trait FieldCodec<T> {
    /// Appends `value`.
    fn encode(value: &T, out: &mut Vec<u8>);
    /// Reads one value.
    fn decode(reader: &mut Reader<'_>) -> Result<T, DecodeError>;
}

/// The type's own encoding.
#[derive(Debug)]
pub enum Plain {}

impl<T: Encode + Decode> FieldCodec<T> for Plain {
    fn encode(value: &T, out: &mut Vec<u8>) {
        value.encode(out);
    }
    fn decode(reader: &mut Reader<'_>) -> Result<T, DecodeError> {
        T::decode(reader)
    }
}

/// `[u16:len][len*byte:data]`.
///
/// Bytes longer than 65535 are written with a saturated prefix (see
/// [`write_u16_prefixed`]) and the message holding them is refused by
/// [`Message::encode`]; encoding never panics.
#[derive(Debug)]
pub enum U16Bytes {}

impl FieldCodec<Vec<u8>> for U16Bytes {
    fn encode(value: &Vec<u8>, out: &mut Vec<u8>) {
        write_u16_prefixed(out, value);
    }
    fn decode(reader: &mut Reader<'_>) -> Result<Vec<u8>, DecodeError> {
        Ok(reader.read_u16_prefixed()?.to_vec())
    }
}

/// `[u16:num][num*T:items]`: a count, then that many items.
///
/// More than 65535 items are written with a saturated count; every item is
/// at least one byte, so the message is longer than a message can be and
/// [`Message::encode`] refuses it (as for [`U16Bytes`]).
#[derive(Debug)]
pub enum U16Count {}

impl<T: Encode + Decode> FieldCodec<Vec<T>> for U16Count {
    fn encode(value: &Vec<T>, out: &mut Vec<u8>) {
        crate::codec::saturating_u16(value.len()).encode(out);
        for item in value {
            item.encode(out);
        }
    }
    fn decode(reader: &mut Reader<'_>) -> Result<Vec<T>, DecodeError> {
        let n = u16::decode(reader)?;
        // No preallocation from the untrusted count: each item reads bytes.
        let mut items = Vec::new();
        for _ in 0..n {
            items.push(T::decode(reader)?);
        }
        Ok(items)
    }
}

/// `[u16:len][len*byte]` whose bytes are one whole `T` (for example the
/// `addresses` of `node_announcement` or an `encoded_short_ids` list).
#[derive(Debug)]
pub enum U16Framed {}

impl<T: Encode + Decode> FieldCodec<T> for U16Framed {
    fn encode(value: &T, out: &mut Vec<u8>) {
        write_u16_prefixed(out, &value.to_bytes());
    }
    fn decode(reader: &mut Reader<'_>) -> Result<T, DecodeError> {
        T::from_bytes(reader.read_u16_prefixed()?)
    }
}

impl Message {
    /// The length limits that a `u16` prefix does not imply through the
    /// message's total length: today only the `u8` hostname length of a
    /// DNS address descriptor in `node_announcement`.
    fn check_prefixed_lengths(&self) -> Result<(), crate::codec::EncodeError> {
        if let Message::NodeAnnouncement(m) = self {
            for a in &m.addresses.addresses {
                if let NodeAddress::Dns { hostname, .. } = a {
                    if hostname.len() > MAX_HOSTNAME_LEN {
                        return Err(crate::codec::EncodeError::FieldTooLong {
                            message: NodeAnnouncement::NAME,
                            field: "addresses.hostname",
                            len: hostname.len(),
                            max: MAX_HOSTNAME_LEN,
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

tlv_stream! {
    /// The TLV stream of a message that defines no records of its own: only
    /// unknown odd records, kept; an even record fails the message (BOLT 1,
    /// "Lightning Message Format").
    ExtensionTlvs {}
}

/// A TLV stream type: the typed records of one namespace and the kept
/// unknown ones.
pub trait TlvStream: Encode + Decode + Default {
    /// Whether the stream has no records at all.
    fn is_empty(&self) -> bool;
}

impl TlvStream for crate::tlv::UnknownTlvs {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The value of a TLV record that carries no data (for example
/// `require_confirmed_inputs`): its presence is the information. In JSON it
/// is `true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Empty;

impl Encode for Empty {
    fn encode(&self, _out: &mut Vec<u8>) {}
}

impl Decode for Empty {
    fn decode(_reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Empty)
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Empty {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(true)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Empty {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if bool::deserialize(d)? {
            Ok(Empty)
        } else {
            Err(serde::de::Error::custom(
                "an empty TLV record is `true` when present; leave it out when absent",
            ))
        }
    }
}

/// Exactly `N` bytes, boxed so that large fixed fields (the 1366-byte onion)
/// do not bloat every [`Message`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FixedBytes<const N: usize>(pub Box<[u8; N]>);

impl<const N: usize> FixedBytes<N> {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; N] {
        &self.0
    }
}

impl<const N: usize> Default for FixedBytes<N> {
    fn default() -> Self {
        FixedBytes(Box::new([0; N]))
    }
}

impl<const N: usize> core::fmt::Debug for FixedBytes<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "FixedBytes<{N}>({})", hex::encode(&self.0[..]))
    }
}

impl<const N: usize> From<[u8; N]> for FixedBytes<N> {
    fn from(bytes: [u8; N]) -> Self {
        FixedBytes(Box::new(bytes))
    }
}

impl<const N: usize> Encode for FixedBytes<N> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0[..]);
    }
}

impl<const N: usize> Decode for FixedBytes<N> {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bytes = reader.read_bytes(N)?;
        let mut boxed = Box::new([0u8; N]);
        boxed.copy_from_slice(bytes);
        Ok(FixedBytes(boxed))
    }
}

#[cfg(feature = "serde")]
impl<const N: usize> serde::Serialize for FixedBytes<N> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(&self.0[..]))
    }
}

#[cfg(feature = "serde")]
impl<'de, const N: usize> serde::Deserialize<'de> for FixedBytes<N> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: Vec<u8> = crate::types::serde_hex::deserialize(d)?;
        let len = v.len();
        let arr: Box<[u8; N]> = v
            .try_into()
            .map_err(|_| serde::de::Error::custom(format!("expected {N} bytes, got {len}")))?;
        Ok(FixedBytes(arr))
    }
}

/// Serde helpers for the wire's length limits and compact signatures. JSON
/// input is checked against the limits a message can carry, so that
/// encoding a deserialized message never meets an impossible length.
#[cfg(feature = "serde")]
pub mod serde_wire {
    use secp256k1::ecdsa::Signature;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Hex bytes that must fit a `u16` length prefix.
    pub mod hex_u16 {
        use super::*;

        /// As hex.
        pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&hex::encode(bytes))
        }

        /// From hex, at most 65535 bytes.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
            let v: Vec<u8> = crate::types::serde_hex::deserialize(d)?;
            check_u16(v.len())?;
            Ok(v)
        }
    }

    /// Fails if `len` does not fit a `u16` length or count.
    pub fn check_u16<E: serde::de::Error>(len: usize) -> Result<(), E> {
        if len > usize::from(u16::MAX) {
            Err(E::custom(format!(
                "{len} bytes or items do not fit a u16 length (at most 65535)"
            )))
        } else {
            Ok(())
        }
    }

    /// A signature as the 64-byte compact hex the wire uses.
    pub mod sig {
        use super::*;

        /// As compact hex.
        pub fn serialize<S: Serializer>(sig: &Signature, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&hex::encode(sig.serialize_compact()))
        }

        /// From compact hex.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Signature, D::Error> {
            let bytes: [u8; 64] = crate::types::serde_hex::deserialize(d)?;
            Signature::from_compact(&bytes).map_err(serde::de::Error::custom)
        }
    }

    /// An optional compact signature.
    pub mod sig_option {
        use super::*;

        /// As compact hex or null.
        pub fn serialize<S: Serializer>(sig: &Option<Signature>, s: S) -> Result<S::Ok, S::Error> {
            match sig {
                Some(sig) => s.serialize_some(&hex::encode(sig.serialize_compact())),
                None => s.serialize_none(),
            }
        }

        /// From compact hex or null.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Signature>, D::Error> {
            let bytes: Option<[u8; 64]> = crate::types::serde_hex::option::deserialize(d)?;
            bytes
                .map(|b| Signature::from_compact(&b).map_err(serde::de::Error::custom))
                .transpose()
        }
    }

    /// A `u16`-counted list of compact signatures.
    pub mod sigs {
        use super::*;

        /// As a list of compact hex strings.
        pub fn serialize<S: Serializer>(sigs: &[Signature], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(sigs.iter().map(|sig| hex::encode(sig.serialize_compact())))
        }

        /// From a list of compact hex strings, at most 65535.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Signature>, D::Error> {
            let strs = Vec::<String>::deserialize(d)?;
            check_u16(strs.len())?;
            strs.iter()
                .map(|h| {
                    let mut b = [0u8; 64];
                    hex::decode_to_slice(h, &mut b).map_err(serde::de::Error::custom)?;
                    Signature::from_compact(&b).map_err(serde::de::Error::custom)
                })
                .collect()
        }
    }

    /// A value written as `[u16:len][len*byte]` ([`U16Framed`](super::U16Framed)):
    /// its encoding must fit the `u16` length.
    pub mod u16_framed {
        use super::*;
        use crate::codec::Encode;
        use serde::Serialize;

        /// As the value itself.
        pub fn serialize<S: Serializer, T: Serialize>(v: &T, s: S) -> Result<S::Ok, S::Error> {
            v.serialize(s)
        }

        /// The value, if its encoding fits a `u16` length.
        pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de> + Encode>(
            d: D,
        ) -> Result<T, D::Error> {
            let v = T::deserialize(d)?;
            check_u16(v.to_bytes().len())?;
            Ok(v)
        }
    }

    /// A list that must fit a `u16` count.
    pub mod u16_list {
        use super::*;
        use serde::Serialize;

        /// As a list.
        pub fn serialize<S: Serializer, T: Serialize>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(v)
        }

        /// From a list of at most 65535 items.
        pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
            d: D,
        ) -> Result<Vec<T>, D::Error> {
            let v = Vec::<T>::deserialize(d)?;
            check_u16(v.len())?;
            Ok(v)
        }
    }
}

messages! {
    /// `warning` (BOLT 1).
    1 => Warning,
    /// `stfu` (BOLT 2, "Channel Quiescence").
    2 => Stfu,
    /// `peer_storage` (BOLT 1).
    7 => PeerStorage,
    /// `peer_storage_retrieval` (BOLT 1).
    9 => PeerStorageRetrieval,
    /// `init` (BOLT 1).
    16 => Init,
    /// `error` (BOLT 1).
    17 => Error,
    /// `ping` (BOLT 1).
    18 => Ping,
    /// `pong` (BOLT 1).
    19 => Pong,
    /// `open_channel` (BOLT 2).
    32 => OpenChannel,
    /// `accept_channel` (BOLT 2).
    33 => AcceptChannel,
    /// `funding_created` (BOLT 2).
    34 => FundingCreated,
    /// `funding_signed` (BOLT 2).
    35 => FundingSigned,
    /// `channel_ready` (BOLT 2).
    36 => ChannelReady,
    /// `shutdown` (BOLT 2).
    38 => Shutdown,
    /// `closing_signed` (BOLT 2).
    39 => ClosingSigned,
    /// `closing_complete` (BOLT 2).
    40 => ClosingComplete,
    /// `closing_sig` (BOLT 2).
    41 => ClosingSig,
    /// `open_channel2` (BOLT 2).
    64 => OpenChannel2,
    /// `accept_channel2` (BOLT 2).
    65 => AcceptChannel2,
    /// `tx_add_input` (BOLT 2).
    66 => TxAddInput,
    /// `tx_add_output` (BOLT 2).
    67 => TxAddOutput,
    /// `tx_remove_input` (BOLT 2).
    68 => TxRemoveInput,
    /// `tx_remove_output` (BOLT 2).
    69 => TxRemoveOutput,
    /// `tx_complete` (BOLT 2).
    70 => TxComplete,
    /// `tx_signatures` (BOLT 2).
    71 => TxSignatures,
    /// `tx_init_rbf` (BOLT 2).
    72 => TxInitRbf,
    /// `tx_ack_rbf` (BOLT 2).
    73 => TxAckRbf,
    /// `tx_abort` (BOLT 2).
    74 => TxAbort,
    /// `splice_locked` (BOLT 2).
    77 => SpliceLocked,
    /// `splice_init` (BOLT 2).
    80 => SpliceInit,
    /// `splice_ack` (BOLT 2).
    81 => SpliceAck,
    /// `start_batch` (BOLT 2).
    127 => StartBatch,
    /// `update_add_htlc` (BOLT 2).
    128 => UpdateAddHtlc,
    /// `update_fulfill_htlc` (BOLT 2).
    130 => UpdateFulfillHtlc,
    /// `update_fail_htlc` (BOLT 2).
    131 => UpdateFailHtlc,
    /// `commitment_signed` (BOLT 2).
    132 => CommitmentSigned,
    /// `revoke_and_ack` (BOLT 2).
    133 => RevokeAndAck,
    /// `update_fee` (BOLT 2).
    134 => UpdateFee,
    /// `update_fail_malformed_htlc` (BOLT 2).
    135 => UpdateFailMalformedHtlc,
    /// `channel_reestablish` (BOLT 2).
    136 => ChannelReestablish,
    /// `channel_announcement` (BOLT 7).
    256 => ChannelAnnouncement,
    /// `node_announcement` (BOLT 7).
    257 => NodeAnnouncement,
    /// `channel_update` (BOLT 7).
    258 => ChannelUpdate,
    /// `announcement_signatures` (BOLT 7).
    259 => AnnouncementSignatures,
    /// `query_short_channel_ids` (BOLT 7).
    261 => QueryShortChannelIds,
    /// `reply_short_channel_ids_end` (BOLT 7).
    262 => ReplyShortChannelIdsEnd,
    /// `query_channel_range` (BOLT 7).
    263 => QueryChannelRange,
    /// `reply_channel_range` (BOLT 7).
    264 => ReplyChannelRange,
    /// `gossip_timestamp_filter` (BOLT 7).
    265 => GossipTimestampFilter,
    /// `onion_message` (BOLT 4).
    513 => OnionMessage,
}

/// The error for an unknown even message type (kept here so the message
/// table above stays declarative).
fn unknown_message(ty: u16, payload: &[u8]) -> Result<Message, DecodeError> {
    if ty.is_multiple_of(2) {
        Err(DecodeErrorKind::UnknownEvenMessageType(ty).into())
    } else {
        Ok(Message::Unknown {
            r#type: ty,
            payload: payload.to_vec(),
        })
    }
}
