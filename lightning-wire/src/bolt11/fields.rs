//! Tagged fields (BOLT 11, "Tagged Fields"): their typed values, and the
//! reading and writing of each one's 5-bit data.

use bitcoin::hashes::{sha256, Hash};
use secp256k1::PublicKey;

use super::bech32::{self as b32, char_of, Values};
use crate::features::Bolt11InvoiceFeatures;
use crate::types::{PaymentHash, ShortChannelId};

/// The 5-bit type of each field the spec defines.
pub mod tag {
    /// `p`: payment hash.
    pub const PAYMENT_HASH: u8 = 1;
    /// `r`: route hint.
    pub const ROUTE_HINT: u8 = 3;
    /// `9`: features.
    pub const FEATURES: u8 = 5;
    /// `x`: expiry.
    pub const EXPIRY: u8 = 6;
    /// `f`: fallback address.
    pub const FALLBACK: u8 = 9;
    /// `d`: description.
    pub const DESCRIPTION: u8 = 13;
    /// `s`: payment secret.
    pub const PAYMENT_SECRET: u8 = 16;
    /// `n`: payee node id.
    pub const PAYEE: u8 = 19;
    /// `h`: description hash.
    pub const DESCRIPTION_HASH: u8 = 23;
    /// `c`: `min_final_cltv_expiry_delta`.
    pub const MIN_FINAL_CLTV: u8 = 24;
    /// `m`: payment metadata.
    pub const PAYMENT_METADATA: u8 = 27;

    /// Whether this reader gives `t` a meaning.
    pub const fn is_known(t: u8) -> bool {
        matches!(
            t,
            PAYMENT_HASH
                | ROUTE_HINT
                | FEATURES
                | EXPIRY
                | FALLBACK
                | DESCRIPTION
                | PAYMENT_SECRET
                | PAYEE
                | DESCRIPTION_HASH
                | MIN_FINAL_CLTV
                | PAYMENT_METADATA
        )
    }
}

/// The most 5-bit values a field can hold (`data_length` is 10 bits).
pub const MAX_FIELD_LEN: usize = 1023;

/// `s`: the 32-byte `payment_secret` (BOLT 4), which stops forwarding nodes
/// from probing the payee.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PaymentSecret(pub [u8; 32]);

impl core::fmt::Debug for PaymentSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // A secret between payer and payee: never in logs (issue 13).
        f.write_str("PaymentSecret(<redacted>)")
    }
}

/// A node id in a route hint: 33 bytes whose first byte is 2 or 3, checked
/// to be a point on the curve only by [`NodeId::to_pubkey`].
///
/// Decompressing a point costs about a tenth of the signature check, so an
/// invoice with a dozen hops would spend more on its hints than on its
/// signature if every one were decompressed while parsing; a router
/// converts the hints it actually uses (and skips one that fails).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId([u8; 33]);

impl NodeId {
    /// The id of `key`.
    pub fn from_pubkey(key: &PublicKey) -> NodeId {
        NodeId(key.serialize())
    }

    /// 33 bytes that start with 2 or 3 (the point itself is not checked).
    pub fn from_bytes(bytes: [u8; 33]) -> Option<NodeId> {
        matches!(bytes[0], 2 | 3).then_some(NodeId(bytes))
    }

    /// The compressed point.
    pub fn as_bytes(&self) -> &[u8; 33] {
        &self.0
    }

    /// The public key, if the bytes are a point on the curve.
    pub fn to_pubkey(self) -> Result<PublicKey, secp256k1::Error> {
        PublicKey::from_slice(&self.0)
    }
}

impl From<PublicKey> for NodeId {
    fn from(key: PublicKey) -> Self {
        NodeId::from_pubkey(&key)
    }
}

impl core::fmt::Display for NodeId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl core::fmt::Debug for NodeId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "NodeId({self})")
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for NodeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for NodeId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes: [u8; 33] = crate::types::serde_hex::deserialize(d)?;
        NodeId::from_bytes(bytes)
            .ok_or_else(|| serde::de::Error::custom("node id must start with 02 or 03"))
    }
}

/// One hop of an `r` field: the channel from `src_node_id` towards the payee
/// and what it charges (BOLT 7's `channel_update` fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RouteHintHop {
    /// The node at the start of the channel.
    pub src_node_id: NodeId,
    /// The channel.
    pub short_channel_id: ShortChannelId,
    /// `fee_base_msat`.
    pub fee_base_msat: u32,
    /// `fee_proportional_millionths`.
    pub fee_proportional_millionths: u32,
    /// `cltv_expiry_delta`.
    pub cltv_expiry_delta: u16,
}

/// The wire size of a hop.
const HOP_LEN: usize = 33 + 8 + 4 + 4 + 2;

/// An `r` field: a private route from a public node to the payee, in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct RouteHint(pub Vec<RouteHintHop>);

/// An `f` field: an on-chain address to pay if Lightning fails.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Fallback {
    /// Version 17: P2PKH, a 20-byte public key hash.
    PubKeyHash([u8; 20]),
    /// Version 18: P2SH, a 20-byte script hash.
    ScriptHash([u8; 20]),
    /// Versions 0 to 16: a witness program.
    Segwit {
        /// The witness version, 0 to 16.
        version: u8,
        /// The program, 2 to 40 bytes (20 or 32 for version 0).
        program: Vec<u8>,
    },
}

impl Fallback {
    /// The field's `version` value (17, 18, or the witness version).
    pub fn version(&self) -> u8 {
        match self {
            Fallback::PubKeyHash(_) => 17,
            Fallback::ScriptHash(_) => 18,
            Fallback::Segwit { version, .. } => *version,
        }
    }

    /// The hash or witness program.
    pub fn program(&self) -> &[u8] {
        match self {
            Fallback::PubKeyHash(h) | Fallback::ScriptHash(h) => h,
            Fallback::Segwit { program, .. } => program,
        }
    }

    /// A fallback from its version and program, if they form one.
    pub fn new(version: u8, program: &[u8]) -> Option<Fallback> {
        match version {
            17 => program.try_into().ok().map(Fallback::PubKeyHash),
            18 => program.try_into().ok().map(Fallback::ScriptHash),
            0 if program.len() == 20 || program.len() == 32 => Some(Fallback::Segwit {
                version,
                program: program.to_vec(),
            }),
            1..=16 if (2..=40).contains(&program.len()) => Some(Fallback::Segwit {
                version,
                program: program.to_vec(),
            }),
            _ => None,
        }
    }

    /// The address on `currency`'s chain: base58check for versions 17 and
    /// 18, Bech32 (version 0) or Bech32m (1 to 16) for witness programs.
    pub fn address(&self, currency: super::Currency) -> String {
        let (p2pkh, p2sh, segwit_hrp) = currency.address_params();
        let base58 = |version: u8, hash: &[u8; 20]| {
            let mut payload = [0u8; 21];
            payload[0] = version;
            payload[1..].copy_from_slice(hash);
            bitcoin::base58::encode_check(&payload)
        };
        match self {
            Fallback::PubKeyHash(h) => base58(p2pkh, h),
            Fallback::ScriptHash(h) => base58(p2sh, h),
            Fallback::Segwit { version, program } => {
                let encoded = bech32::Hrp::parse(segwit_hrp).ok().and_then(|hrp| {
                    let v = bech32::Fe32::try_from(*version).ok()?;
                    bech32::segwit::encode(hrp, v, program).ok()
                });
                // Every `Fallback` holds a valid version and program length,
                // so this branch is only a safety net.
                encoded.unwrap_or_else(|| format!("witness_v{version}:{}", hex::encode(program)))
            }
        }
    }
}

/// A field as written: its 5-bit type and its 5-bit values. Readers keep the
/// fields they skip this way, so that the invoice encodes back unchanged.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RawTaggedField {
    /// The 5-bit type.
    pub tag: u8,
    /// The data, one 5-bit value per byte.
    pub data: Vec<u8>,
}

impl core::fmt::Debug for RawTaggedField {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let chars: String = self.data.iter().map(|v| char_of(*v)).collect();
        write!(f, "RawTaggedField({}: {chars})", char_of(self.tag))
    }
}

/// A tagged field with its meaning, as the builder takes them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaggedField {
    /// `p`.
    PaymentHash(PaymentHash),
    /// `s`.
    PaymentSecret(PaymentSecret),
    /// `d`: UTF-8, at most 639 bytes.
    Description(String),
    /// `n`.
    PayeePubKey(PublicKey),
    /// `h`.
    DescriptionHash(sha256::Hash),
    /// `x`: seconds after `timestamp`.
    Expiry(u64),
    /// `c`.
    MinFinalCltvExpiryDelta(u64),
    /// `f`.
    Fallback(Fallback),
    /// `r`.
    RouteHint(RouteHint),
    /// `9`.
    Features(Bolt11InvoiceFeatures),
    /// `m`.
    PaymentMetadata(Vec<u8>),
    /// A field this library gives no meaning to.
    Unknown(RawTaggedField),
}

impl TaggedField {
    /// The 5-bit type.
    pub fn tag(&self) -> u8 {
        match self {
            TaggedField::PaymentHash(_) => tag::PAYMENT_HASH,
            TaggedField::PaymentSecret(_) => tag::PAYMENT_SECRET,
            TaggedField::Description(_) => tag::DESCRIPTION,
            TaggedField::PayeePubKey(_) => tag::PAYEE,
            TaggedField::DescriptionHash(_) => tag::DESCRIPTION_HASH,
            TaggedField::Expiry(_) => tag::EXPIRY,
            TaggedField::MinFinalCltvExpiryDelta(_) => tag::MIN_FINAL_CLTV,
            TaggedField::Fallback(_) => tag::FALLBACK,
            TaggedField::RouteHint(_) => tag::ROUTE_HINT,
            TaggedField::Features(_) => tag::FEATURES,
            TaggedField::PaymentMetadata(_) => tag::PAYMENT_METADATA,
            TaggedField::Unknown(raw) => raw.tag,
        }
    }

    /// The field's letter (`p`, `s`, ...).
    pub fn letter(&self) -> char {
        char_of(self.tag())
    }

    /// Appends type, `data_length` and data. Fails with the field's letter
    /// if the data is longer than 1023 values.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), char> {
        let header = out.len();
        out.extend_from_slice(&[self.tag(), 0, 0]);
        match self {
            TaggedField::PaymentHash(h) => b32::push_bytes(out, &h.0),
            TaggedField::DescriptionHash(h) => b32::push_bytes(out, h.as_byte_array()),
            TaggedField::PaymentSecret(s) => b32::push_bytes(out, &s.0),
            TaggedField::Description(d) => b32::push_bytes(out, d.as_bytes()),
            TaggedField::PayeePubKey(pk) => b32::push_bytes(out, &pk.serialize()),
            TaggedField::Expiry(v) | TaggedField::MinFinalCltvExpiryDelta(v) => {
                b32::push_u64_minimal(out, *v)
            }
            TaggedField::Fallback(f) => {
                out.push(f.version());
                b32::push_bytes(out, f.program());
            }
            TaggedField::RouteHint(hint) => {
                let mut bytes = Vec::with_capacity(hint.0.len() * HOP_LEN);
                for hop in &hint.0 {
                    bytes.extend_from_slice(hop.src_node_id.as_bytes());
                    bytes.extend_from_slice(&hop.short_channel_id.0.to_be_bytes());
                    bytes.extend_from_slice(&hop.fee_base_msat.to_be_bytes());
                    bytes.extend_from_slice(&hop.fee_proportional_millionths.to_be_bytes());
                    bytes.extend_from_slice(&hop.cltv_expiry_delta.to_be_bytes());
                }
                b32::push_bytes(out, &bytes);
            }
            TaggedField::Features(f) => push_features(out, f),
            TaggedField::PaymentMetadata(m) => b32::push_bytes(out, m),
            TaggedField::Unknown(raw) => out.extend(raw.data.iter().map(|v| v & 0x1f)),
        }
        let len = out.len() - header - 3;
        if len > MAX_FIELD_LEN {
            out.truncate(header);
            return Err(self.letter());
        }
        out[header + 1] = (len >> 5) as u8;
        out[header + 2] = (len & 0x1f) as u8;
        Ok(())
    }
}

/// Feature bits as 5-bit values, the fewest that hold the highest set bit.
fn push_features(out: &mut Vec<u8>, f: &Bolt11InvoiceFeatures) {
    let Some(top) = f.bits().last() else { return };
    let groups = top / 5 + 1;
    for g in (0..groups).rev() {
        let mut v = 0u8;
        for i in 0..5 {
            if f.is_set(g * 5 + i) {
                v |= 1 << i;
            }
        }
        out.push(v);
    }
}

/// Feature bits from 5-bit values (bit 0 is the lowest bit of the last
/// value), as minimal big-endian bytes.
fn features_from_u5(data: Values<'_>) -> Bolt11InvoiceFeatures {
    let skip = data.iter().take_while(|v| *v == 0).count();
    let data = data.slice(skip, data.len() - skip);
    let nbytes = (data.len() * 5).div_ceil(8);
    let mut be = vec![0u8; nbytes];
    for (j, v) in data.iter().rev().enumerate() {
        for i in 0..5 {
            if v & (1 << i) != 0 {
                let bit = j * 5 + i;
                be[nbytes - 1 - bit / 8] |= 1 << (bit % 8);
            }
        }
    }
    // The top value may leave its byte zero: drop it, in place.
    let zeros = be.iter().take_while(|b| **b == 0).count();
    be.drain(..zeros);
    Bolt11InvoiceFeatures::from_be_bytes(be)
}

/// Why a known field's data cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// `d` is not UTF-8.
    #[error("description is not valid UTF-8")]
    DescriptionNotUtf8,
    /// `n` is not a valid point, or a route hint's node id does not start
    /// with 2 or 3.
    #[error("invalid public key")]
    InvalidPubKey,
    /// `x` or `c` does not fit in 64 bits.
    #[error("integer does not fit in 64 bits")]
    IntegerOverflow,
    /// `f` of a known version whose program has the wrong length.
    #[error("fallback version {version} with a {len}-byte program")]
    InvalidFallback {
        /// The version.
        version: u8,
        /// The program length.
        len: usize,
    },
    /// `f` with no version.
    #[error("empty fallback field")]
    EmptyFallback,
    /// `r` that is empty or not a whole number of 51-byte hops.
    #[error("route hint of {0} bytes is not a whole number of 51-byte hops")]
    InvalidRouteHintLength(usize),
}

/// Reads one field. `Ok(None)` means the reader skips it (BOLT 11: unknown
/// types, `f` of an unknown version, `p`/`h`/`s`/`n` of the wrong length).
pub(crate) fn decode(tag: u8, data: Values<'_>) -> Result<Option<TaggedField>, FieldError> {
    Ok(Some(match tag {
        tag::PAYMENT_HASH | tag::DESCRIPTION_HASH | tag::PAYMENT_SECRET => {
            if data.len() != 52 {
                return Ok(None);
            }
            let Some(bytes) = data.to_array::<32>() else {
                return Ok(None);
            };
            match tag {
                tag::PAYMENT_HASH => TaggedField::PaymentHash(PaymentHash(bytes)),
                tag::DESCRIPTION_HASH => {
                    TaggedField::DescriptionHash(sha256::Hash::from_byte_array(bytes))
                }
                _ => TaggedField::PaymentSecret(PaymentSecret(bytes)),
            }
        }
        tag::PAYEE => {
            if data.len() != 53 {
                return Ok(None);
            }
            let bytes = data.to_array::<33>().ok_or(FieldError::InvalidPubKey)?;
            TaggedField::PayeePubKey(
                PublicKey::from_slice(&bytes).map_err(|_| FieldError::InvalidPubKey)?,
            )
        }
        tag::DESCRIPTION => TaggedField::Description(
            String::from_utf8(data.to_bytes()).map_err(|_| FieldError::DescriptionNotUtf8)?,
        ),
        tag::EXPIRY => TaggedField::Expiry(data.to_u64().ok_or(FieldError::IntegerOverflow)?),
        tag::MIN_FINAL_CLTV => {
            TaggedField::MinFinalCltvExpiryDelta(data.to_u64().ok_or(FieldError::IntegerOverflow)?)
        }
        tag::FALLBACK => {
            if data.len() == 0 {
                return Err(FieldError::EmptyFallback);
            }
            let version = data.get(0);
            if version > 18 {
                return Ok(None);
            }
            let program = data.slice(1, data.len() - 1).to_bytes();
            TaggedField::Fallback(Fallback::new(version, &program).ok_or(
                FieldError::InvalidFallback {
                    version,
                    len: program.len(),
                },
            )?)
        }
        tag::ROUTE_HINT => {
            // A field's data is at most 1023 values, 639 bytes: unpack on
            // the stack.
            let mut buf = [0u8; MAX_FIELD_LEN * 5 / 8];
            let len = data.byte_len().min(buf.len());
            data.read_bytes(&mut buf[..len]);
            let bytes = &buf[..len];
            if bytes.is_empty() || bytes.len() % HOP_LEN != 0 {
                return Err(FieldError::InvalidRouteHintLength(bytes.len()));
            }
            let mut hops = Vec::with_capacity(bytes.len() / HOP_LEN);
            for hop in bytes.chunks_exact(HOP_LEN) {
                let mut id = [0u8; 33];
                id.copy_from_slice(&hop[..33]);
                let be = |r: core::ops::Range<usize>| {
                    hop[r]
                        .iter()
                        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
                };
                hops.push(RouteHintHop {
                    src_node_id: NodeId::from_bytes(id).ok_or(FieldError::InvalidPubKey)?,
                    short_channel_id: ShortChannelId(be(33..41)),
                    fee_base_msat: be(41..45) as u32,
                    fee_proportional_millionths: be(45..49) as u32,
                    cltv_expiry_delta: be(49..51) as u16,
                });
            }
            TaggedField::RouteHint(RouteHint(hops))
        }
        tag::FEATURES => TaggedField::Features(features_from_u5(data)),
        tag::PAYMENT_METADATA => TaggedField::PaymentMetadata(data.to_bytes()),
        _ => return Ok(None),
    }))
}
