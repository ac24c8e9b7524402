//! BOLT 1 fundamental types ("Fundamental Types") and the BOLT 2/7 identifiers
//! built from them.
//!
//! Integers are big-endian. The truncated integers `tu16`, `tu32` and `tu64`
//! omit leading zero bytes and appear only as the last field of a TLV value;
//! the signed integers `s8`..`s64` are two's complement. Points are 33-byte
//! compressed secp256k1 keys and signatures 64-byte compact ECDSA.

use core::fmt;
use core::str::FromStr;

use bitcoin::hashes::{sha256, Hash};
use secp256k1::{ecdsa::Signature, PublicKey};

use crate::codec::{Decode, DecodeError, DecodeErrorKind, Encode, Reader};

macro_rules! int_codec {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
        }
        impl Decode for $t {
            fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(<$t>::from_be_bytes(reader.read_array()?))
            }
        }
    )*};
}
int_codec!(u8, u16, u32, u64, i8, i16, i32, i64);

impl<const N: usize> Encode for [u8; N] {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl<const N: usize> Decode for [u8; N] {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        reader.read_array()
    }
}

/// Implements `Encode`/`Decode` for `Vec<$t>` as a TLV value that is an array
/// of `$t` filling the rest of the value (`...*$t` in the spec).
macro_rules! rest_array {
    ($t:ty) => {
        impl $crate::codec::Encode for Vec<$t> {
            fn encode(&self, out: &mut Vec<u8>) {
                for item in self {
                    $crate::codec::Encode::encode(item, out);
                }
            }
        }

        /// Reads items until the input ends; a partial last item is an error.
        impl $crate::codec::Decode for Vec<$t> {
            fn decode(
                reader: &mut $crate::codec::Reader<'_>,
            ) -> Result<Self, $crate::codec::DecodeError> {
                let mut items = Vec::new();
                while !reader.is_empty() {
                    items.push(<$t as $crate::codec::Decode>::decode(reader)?);
                }
                Ok(items)
            }
        }
    };
}
pub(crate) use rest_array;

macro_rules! truncated_int {
    ($(#[$doc:meta])* $name:ident, $t:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(transparent))]
        pub struct $name(pub $t);

        impl Encode for $name {
            fn encode(&self, out: &mut Vec<u8>) {
                let bytes = self.0.to_be_bytes();
                let skip = (self.0.leading_zeros() / 8) as usize;
                out.extend_from_slice(&bytes[skip..]);
            }
        }

        /// Reads every remaining byte of the reader, which must be the rest
        /// of a TLV value.
        impl Decode for $name {
            fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                const SIZE: usize = core::mem::size_of::<$t>();
                let bytes = reader.peek_rest();
                if bytes.len() > SIZE || bytes.first() == Some(&0) {
                    return Err(DecodeErrorKind::NonMinimalTruncatedInt.into());
                }
                let mut buf = [0u8; SIZE];
                buf[SIZE - bytes.len()..].copy_from_slice(bytes);
                reader.read_rest();
                Ok($name(<$t>::from_be_bytes(buf)))
            }
        }

        impl From<$t> for $name {
            fn from(v: $t) -> Self {
                $name(v)
            }
        }
    };
}

truncated_int!(
    /// `tu16`: a `u16` without leading zero bytes, last in a TLV value.
    Tu16, u16
);
truncated_int!(
    /// `tu32`: a `u32` without leading zero bytes, last in a TLV value.
    Tu32, u32
);
truncated_int!(
    /// `tu64`: a `u64` without leading zero bytes, last in a TLV value.
    ///
    /// ```
    /// use lightning_wire::{types::Tu64, Decode, Encode};
    /// assert_eq!(Tu64(0x0100).to_bytes(), [0x01, 0x00]);
    /// assert_eq!(Tu64(0).to_bytes(), [] as [u8; 0]);
    /// assert!(Tu64::from_bytes(&[0x00, 0x01]).is_err()); // leading zero
    /// ```
    Tu64, u64
);

impl Encode for PublicKey {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.serialize());
    }
}

impl Decode for PublicKey {
    /// `point`: 33 bytes that must be a valid compressed point.
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bytes: [u8; 33] = reader.read_array()?;
        PublicKey::from_slice(&bytes).map_err(|_| DecodeErrorKind::InvalidPoint.into())
    }
}

impl Encode for Signature {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.serialize_compact());
    }
}

impl Decode for Signature {
    /// `signature`: 64-byte compact ECDSA (r, s), each below the curve order.
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bytes: [u8; 64] = reader.read_array()?;
        Signature::from_compact(&bytes).map_err(|_| DecodeErrorKind::InvalidSignature.into())
    }
}

impl Encode for sha256::Hash {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_byte_array());
    }
}

impl Decode for sha256::Hash {
    /// `sha256`: a 32-byte SHA-256 hash.
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(sha256::Hash::from_byte_array(reader.read_array()?))
    }
}

impl Encode for bitcoin::Txid {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_byte_array());
    }
}

impl Decode for bitcoin::Txid {
    /// A txid in its internal byte order, as BOLT 2 writes it on the wire.
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(bitcoin::Txid::from_byte_array(reader.read_array()?))
    }
}

/// `short_channel_id`: block height (3 bytes), transaction index (3 bytes)
/// and output index (2 bytes) of a funding output (BOLT 7, "Definition of
/// `short_channel_id`"). Displayed as `BLOCKxTXxOUTPUT`.
///
/// ```
/// use lightning_wire::types::ShortChannelId;
/// let scid = ShortChannelId::new(539268, 845, 1).unwrap();
/// assert_eq!(scid.to_string(), "539268x845x1");
/// assert_eq!("539268x845x1".parse::<ShortChannelId>().unwrap(), scid);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ShortChannelId(pub u64);

impl ShortChannelId {
    /// Builds an id, or `None` if a part does not fit its bytes.
    pub fn new(block: u32, tx_index: u32, output_index: u16) -> Option<Self> {
        if block >= 1 << 24 || tx_index >= 1 << 24 {
            return None;
        }
        Some(ShortChannelId(
            (u64::from(block) << 40) | (u64::from(tx_index) << 16) | u64::from(output_index),
        ))
    }

    /// The block height of the funding transaction.
    pub fn block(self) -> u32 {
        (self.0 >> 40) as u32
    }

    /// The funding transaction's index in its block.
    pub fn tx_index(self) -> u32 {
        ((self.0 >> 16) & 0xff_ffff) as u32
    }

    /// The funding output's index.
    pub fn output_index(self) -> u16 {
        (self.0 & 0xffff) as u16
    }
}

impl fmt::Display for ShortChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}x{}x{}",
            self.block(),
            self.tx_index(),
            self.output_index()
        )
    }
}

impl fmt::Debug for ShortChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShortChannelId({self})")
    }
}

/// The error for a malformed `BLOCKxTXxOUTPUT` string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid short_channel_id {0:?}: expected BLOCKxTXxOUTPUT")]
pub struct ParseShortChannelIdError(pub String);

impl FromStr for ShortChannelId {
    type Err = ParseShortChannelIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseShortChannelIdError(s.to_owned());
        let mut parts = s.split('x');
        let (Some(b), Some(t), Some(o), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err());
        };
        let block = b.parse().map_err(|_| err())?;
        let tx = t.parse().map_err(|_| err())?;
        let out = o.parse().map_err(|_| err())?;
        ShortChannelId::new(block, tx, out).ok_or_else(err)
    }
}

impl Encode for ShortChannelId {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
    }
}

impl Decode for ShortChannelId {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ShortChannelId(u64::decode(reader)?))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for ShortChannelId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for ShortChannelId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

macro_rules! bytes32_newtype {
    (@debug $name:ident) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }
    };
    // A secret: never in `Debug` output, so never in a log line or an error
    // text built with `{:?}` (its `Display` is for showing it on purpose).
    (@debug $name:ident secret) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
    ($(#[$doc:meta])* $name:ident $($secret:ident)?) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub [u8; 32]);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        bytes32_newtype!(@debug $name $($secret)?);

        impl FromStr for $name {
            type Err = hex::FromHexError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let mut out = [0u8; 32];
                hex::decode_to_slice(s, &mut out)?;
                Ok($name(out))
            }
        }

        impl Encode for $name {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.0);
            }
        }

        impl Decode for $name {
            fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok($name(reader.read_array()?))
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

bytes32_newtype!(
    /// `chain_hash`: the genesis block hash of a chain, in the byte order
    /// bitcoind's RPC would show reversed (BOLT 0, "chain_hash").
    ChainHash
);

bytes32_newtype!(
    /// `channel_id`: 32 bytes naming a channel (BOLT 2, "Definition of
    /// `channel_id`"). All zeroes addresses every channel with a peer in
    /// `error` and `warning`.
    ChannelId
);

bytes32_newtype!(
    /// `payment_hash`: the SHA256 of a payment preimage, which an HTLC is
    /// locked to (BOLT 2, "Adding an HTLC: `update_add_htlc`"; BOLT 11 `p`).
    PaymentHash
);

bytes32_newtype!(
    /// `payment_preimage`: the secret whose SHA256 is the payment hash, and
    /// the proof of payment (BOLT 2, "Removing an HTLC:
    /// `update_fulfill_htlc`"). Its `Debug` output is redacted.
    PaymentPreimage secret
);

impl PaymentPreimage {
    /// The payment hash this preimage unlocks: `SHA256(preimage)`.
    ///
    /// ```
    /// use lightning_wire::types::PaymentPreimage;
    /// let hash = PaymentPreimage([0; 32]).payment_hash();
    /// assert_eq!(
    ///     hash.to_string(),
    ///     "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
    /// );
    /// ```
    pub fn payment_hash(&self) -> PaymentHash {
        PaymentHash(sha256::Hash::hash(&self.0).to_byte_array())
    }
}

impl From<sha256::Hash> for PaymentHash {
    fn from(hash: sha256::Hash) -> Self {
        PaymentHash(hash.to_byte_array())
    }
}

impl From<PaymentHash> for sha256::Hash {
    fn from(hash: PaymentHash) -> Self {
        sha256::Hash::from_byte_array(hash.0)
    }
}

impl ChainHash {
    /// The chain hash of a `bitcoin` network.
    ///
    /// ```
    /// use lightning_wire::types::ChainHash;
    /// let main = ChainHash::for_network(bitcoin::Network::Bitcoin);
    /// assert_eq!(
    ///     main.to_string(),
    ///     "6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000"
    /// );
    /// ```
    pub fn for_network(network: bitcoin::Network) -> Self {
        ChainHash(bitcoin::constants::ChainHash::using_genesis_block(network).to_bytes())
    }

    /// The network this hash names, if it is one `bitcoin` knows.
    pub fn network(&self) -> Option<bitcoin::Network> {
        bitcoin::Network::from_chain_hash(bitcoin::constants::ChainHash::from(self.0))
    }
}

impl ChannelId {
    /// The id every channel with a peer shares in `error` and `warning`.
    pub const ALL: ChannelId = ChannelId([0; 32]);

    /// The v1 channel id: the funding txid (internal byte order) XORed with
    /// the funding output index in its last two bytes, big-endian (BOLT 2,
    /// "Definition of `channel_id`").
    pub fn v1_from_funding_outpoint(txid: &bitcoin::Txid, output_index: u16) -> Self {
        let mut id = txid.to_byte_array();
        let idx = output_index.to_be_bytes();
        id[30] ^= idx[0];
        id[31] ^= idx[1];
        ChannelId(id)
    }

    /// The v2 channel id: `SHA256(lesser-revocation-basepoint ||
    /// greater-revocation-basepoint)`, the points ordered as byte strings
    /// (BOLT 2, "Definition of `channel_id`").
    pub fn v2_from_revocation_basepoints(a: &PublicKey, b: &PublicKey) -> Self {
        let (a, b) = (a.serialize(), b.serialize());
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let mut data = [0u8; 66];
        data[..33].copy_from_slice(&lo);
        data[33..].copy_from_slice(&hi);
        ChannelId(sha256::Hash::hash(&data).to_byte_array())
    }
}

/// Serde helpers that write byte strings as lowercase hex.
#[cfg(feature = "serde")]
pub mod serde_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes bytes as a hex string.
    pub fn serialize<S: Serializer, T: AsRef<[u8]>>(bytes: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    /// Deserializes a hex string into any type built from a `Vec<u8>` (a
    /// `Vec<u8>` itself, or a fixed array of the right length).
    pub fn deserialize<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<Vec<u8>>,
    {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let bytes = hex::decode(s.as_ref()).map_err(serde::de::Error::custom)?;
        let len = bytes.len();
        T::try_from(bytes)
            .map_err(|_| serde::de::Error::custom(format!("wrong length for field: {len} bytes")))
    }

    /// The same for `Option`s of bytes.
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        /// Serializes `Some(bytes)` as hex and `None` as null.
        pub fn serialize<S: Serializer, T: AsRef<[u8]>>(
            v: &Option<T>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match v {
                Some(b) => s.serialize_some(&hex::encode(b)),
                None => s.serialize_none(),
            }
        }

        /// Deserializes hex or null.
        pub fn deserialize<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
        where
            D: Deserializer<'de>,
            T: TryFrom<Vec<u8>>,
        {
            let s = Option::<std::borrow::Cow<'de, str>>::deserialize(d)?;
            match s {
                None => Ok(None),
                Some(s) => {
                    let bytes = hex::decode(s.as_ref()).map_err(serde::de::Error::custom)?;
                    let len = bytes.len();
                    T::try_from(bytes).map(Some).map_err(|_| {
                        serde::de::Error::custom(format!("wrong length for field: {len} bytes"))
                    })
                }
            }
        }
    }
}
