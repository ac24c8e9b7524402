//! Failure messages (BOLT 4, "Failure Messages").
//!
//! A `failuremsg` is a 2-byte `failure_code`, the data of that code, and an
//! optional TLV stream. `channel_update`s are carried as the opaque bytes of
//! the BOLT 7 message (with its `0x0102` type), length-prefixed: gossip
//! messages are decoded elsewhere.

use lightning_wire::bigsize::BigSize;
use lightning_wire::codec::write_u16_prefixed;
use lightning_wire::tlv::{TlvStreamReader, UnknownTlvs};
use lightning_wire::{Decode, DecodeError, Encode, Reader};

/// A `failure_code`: the top byte holds the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FailureCode(pub u16);

impl FailureCode {
    /// Unparsable onion encrypted by the sending peer.
    pub const BADONION: u16 = 0x8000;
    /// Permanent failure (otherwise transient).
    pub const PERM: u16 = 0x4000;
    /// Node failure (otherwise channel).
    pub const NODE: u16 = 0x2000;
    /// A `channel_update` is enclosed.
    pub const UPDATE: u16 = 0x1000;

    /// `invalid_realm`.
    pub const INVALID_REALM: Self = Self(Self::PERM | 1);
    /// `temporary_node_failure`.
    pub const TEMPORARY_NODE_FAILURE: Self = Self(Self::NODE | 2);
    /// `permanent_node_failure`.
    pub const PERMANENT_NODE_FAILURE: Self = Self(Self::PERM | Self::NODE | 2);
    /// `required_node_feature_missing`.
    pub const REQUIRED_NODE_FEATURE_MISSING: Self = Self(Self::PERM | Self::NODE | 3);
    /// `invalid_onion_version`.
    pub const INVALID_ONION_VERSION: Self = Self(Self::BADONION | Self::PERM | 4);
    /// `invalid_onion_hmac`.
    pub const INVALID_ONION_HMAC: Self = Self(Self::BADONION | Self::PERM | 5);
    /// `invalid_onion_key`.
    pub const INVALID_ONION_KEY: Self = Self(Self::BADONION | Self::PERM | 6);
    /// `temporary_channel_failure`.
    pub const TEMPORARY_CHANNEL_FAILURE: Self = Self(Self::UPDATE | 7);
    /// `permanent_channel_failure`.
    pub const PERMANENT_CHANNEL_FAILURE: Self = Self(Self::PERM | 8);
    /// `required_channel_feature_missing`.
    pub const REQUIRED_CHANNEL_FEATURE_MISSING: Self = Self(Self::PERM | 9);
    /// `unknown_next_peer`.
    pub const UNKNOWN_NEXT_PEER: Self = Self(Self::PERM | 10);
    /// `amount_below_minimum`.
    pub const AMOUNT_BELOW_MINIMUM: Self = Self(Self::UPDATE | 11);
    /// `fee_insufficient`.
    pub const FEE_INSUFFICIENT: Self = Self(Self::UPDATE | 12);
    /// `incorrect_cltv_expiry`.
    pub const INCORRECT_CLTV_EXPIRY: Self = Self(Self::UPDATE | 13);
    /// `expiry_too_soon`.
    pub const EXPIRY_TOO_SOON: Self = Self(Self::UPDATE | 14);
    /// `incorrect_or_unknown_payment_details`.
    pub const INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS: Self = Self(Self::PERM | 15);
    /// `final_incorrect_cltv_expiry`.
    pub const FINAL_INCORRECT_CLTV_EXPIRY: Self = Self(18);
    /// `final_incorrect_htlc_amount`.
    pub const FINAL_INCORRECT_HTLC_AMOUNT: Self = Self(19);
    /// `channel_disabled`.
    pub const CHANNEL_DISABLED: Self = Self(Self::UPDATE | 20);
    /// `expiry_too_far`.
    pub const EXPIRY_TOO_FAR: Self = Self(21);
    /// `invalid_onion_payload`.
    pub const INVALID_ONION_PAYLOAD: Self = Self(Self::PERM | 22);
    /// `mpp_timeout`.
    pub const MPP_TIMEOUT: Self = Self(23);
    /// `invalid_onion_blinding`.
    pub const INVALID_ONION_BLINDING: Self = Self(Self::BADONION | Self::PERM | 24);

    /// Whether the `BADONION` flag is set: such failures travel back in
    /// `update_fail_malformed_htlc`.
    pub fn is_bad_onion(self) -> bool {
        self.0 & Self::BADONION != 0
    }
    /// Whether the failure is permanent.
    pub fn is_permanent(self) -> bool {
        self.0 & Self::PERM != 0
    }
    /// Whether the whole node failed (otherwise a channel).
    pub fn is_node(self) -> bool {
        self.0 & Self::NODE != 0
    }
    /// Whether a `channel_update` is enclosed.
    pub fn has_update(self) -> bool {
        self.0 & Self::UPDATE != 0
    }
}

/// A `failure_code` and its data (BOLT 4, "Failure Messages").
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum FailureReason {
    /// PERM|1 `invalid_realm`.
    InvalidRealm,
    /// NODE|2 `temporary_node_failure`.
    TemporaryNodeFailure,
    /// PERM|NODE|2 `permanent_node_failure`.
    PermanentNodeFailure,
    /// PERM|NODE|3 `required_node_feature_missing`.
    RequiredNodeFeatureMissing,
    /// BADONION|PERM|4 `invalid_onion_version`.
    InvalidOnionVersion {
        /// `sha256_of_onion`.
        sha256_of_onion: [u8; 32],
    },
    /// BADONION|PERM|5 `invalid_onion_hmac`.
    InvalidOnionHmac {
        /// `sha256_of_onion`.
        sha256_of_onion: [u8; 32],
    },
    /// BADONION|PERM|6 `invalid_onion_key`.
    InvalidOnionKey {
        /// `sha256_of_onion`.
        sha256_of_onion: [u8; 32],
    },
    /// UPDATE|7 `temporary_channel_failure`.
    TemporaryChannelFailure {
        /// The `channel_update` message, with its type.
        channel_update: Vec<u8>,
    },
    /// PERM|8 `permanent_channel_failure`.
    PermanentChannelFailure,
    /// PERM|9 `required_channel_feature_missing`.
    RequiredChannelFeatureMissing,
    /// PERM|10 `unknown_next_peer`.
    UnknownNextPeer,
    /// UPDATE|11 `amount_below_minimum`.
    AmountBelowMinimum {
        /// The HTLC amount.
        htlc_msat: u64,
        /// The `channel_update` message, with its type.
        channel_update: Vec<u8>,
    },
    /// UPDATE|12 `fee_insufficient`.
    FeeInsufficient {
        /// The HTLC amount.
        htlc_msat: u64,
        /// The `channel_update` message, with its type.
        channel_update: Vec<u8>,
    },
    /// UPDATE|13 `incorrect_cltv_expiry`.
    IncorrectCltvExpiry {
        /// The HTLC's `cltv_expiry`.
        cltv_expiry: u32,
        /// The `channel_update` message, with its type.
        channel_update: Vec<u8>,
    },
    /// UPDATE|14 `expiry_too_soon`.
    ExpiryTooSoon {
        /// The `channel_update` message, with its type.
        channel_update: Vec<u8>,
    },
    /// PERM|15 `incorrect_or_unknown_payment_details`.
    IncorrectOrUnknownPaymentDetails {
        /// The HTLC amount.
        htlc_msat: u64,
        /// The final node's best block height.
        height: u32,
    },
    /// 18 `final_incorrect_cltv_expiry`.
    FinalIncorrectCltvExpiry {
        /// The HTLC's `cltv_expiry`.
        cltv_expiry: u32,
    },
    /// 19 `final_incorrect_htlc_amount`.
    FinalIncorrectHtlcAmount {
        /// The incoming HTLC amount.
        incoming_htlc_amt: u64,
    },
    /// UPDATE|20 `channel_disabled`.
    ChannelDisabled {
        /// `disabled_flags` (none defined: zero).
        disabled_flags: u16,
        /// The `channel_update` message, with its type.
        channel_update: Vec<u8>,
    },
    /// 21 `expiry_too_far`.
    ExpiryTooFar,
    /// PERM|22 `invalid_onion_payload`.
    InvalidOnionPayload {
        /// The offending TLV type.
        r#type: u64,
        /// Its byte offset in the decrypted payload.
        offset: u16,
    },
    /// 23 `mpp_timeout`.
    MppTimeout,
    /// BADONION|PERM|24 `invalid_onion_blinding`.
    InvalidOnionBlinding {
        /// `sha256_of_onion`.
        sha256_of_onion: [u8; 32],
    },
    /// A code this library does not know, with its data undecoded.
    Unknown {
        /// The code.
        code: u16,
        /// Everything after the code.
        data: Vec<u8>,
    },
}

/// A whole `failuremsg`: the reason and the TLV stream after its data.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FailureMessage {
    /// The code and its data.
    pub reason: FailureReason,
    /// The `failuremsg` TLV stream (BOLT 4 defines no types yet, so every
    /// record is kept as unknown).
    pub tlvs: UnknownTlvs,
}

impl From<FailureReason> for FailureMessage {
    fn from(reason: FailureReason) -> Self {
        FailureMessage {
            reason,
            tlvs: Default::default(),
        }
    }
}

impl FailureReason {
    /// This reason's `failure_code`.
    pub fn code(&self) -> FailureCode {
        use FailureReason::*;
        match self {
            InvalidRealm => FailureCode::INVALID_REALM,
            TemporaryNodeFailure => FailureCode::TEMPORARY_NODE_FAILURE,
            PermanentNodeFailure => FailureCode::PERMANENT_NODE_FAILURE,
            RequiredNodeFeatureMissing => FailureCode::REQUIRED_NODE_FEATURE_MISSING,
            InvalidOnionVersion { .. } => FailureCode::INVALID_ONION_VERSION,
            InvalidOnionHmac { .. } => FailureCode::INVALID_ONION_HMAC,
            InvalidOnionKey { .. } => FailureCode::INVALID_ONION_KEY,
            TemporaryChannelFailure { .. } => FailureCode::TEMPORARY_CHANNEL_FAILURE,
            PermanentChannelFailure => FailureCode::PERMANENT_CHANNEL_FAILURE,
            RequiredChannelFeatureMissing => FailureCode::REQUIRED_CHANNEL_FEATURE_MISSING,
            UnknownNextPeer => FailureCode::UNKNOWN_NEXT_PEER,
            AmountBelowMinimum { .. } => FailureCode::AMOUNT_BELOW_MINIMUM,
            FeeInsufficient { .. } => FailureCode::FEE_INSUFFICIENT,
            IncorrectCltvExpiry { .. } => FailureCode::INCORRECT_CLTV_EXPIRY,
            ExpiryTooSoon { .. } => FailureCode::EXPIRY_TOO_SOON,
            IncorrectOrUnknownPaymentDetails { .. } => {
                FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS
            }
            FinalIncorrectCltvExpiry { .. } => FailureCode::FINAL_INCORRECT_CLTV_EXPIRY,
            FinalIncorrectHtlcAmount { .. } => FailureCode::FINAL_INCORRECT_HTLC_AMOUNT,
            ChannelDisabled { .. } => FailureCode::CHANNEL_DISABLED,
            ExpiryTooFar => FailureCode::EXPIRY_TOO_FAR,
            InvalidOnionPayload { .. } => FailureCode::INVALID_ONION_PAYLOAD,
            MppTimeout => FailureCode::MPP_TIMEOUT,
            InvalidOnionBlinding { .. } => FailureCode::INVALID_ONION_BLINDING,
            Unknown { code, .. } => FailureCode(*code),
        }
    }

    /// The reason for a `BADONION` code, which carries `sha256_of_onion`;
    /// `None` for other codes.
    pub fn bad_onion(code: FailureCode, sha256_of_onion: [u8; 32]) -> Option<Self> {
        Some(match code {
            FailureCode::INVALID_ONION_VERSION => Self::InvalidOnionVersion { sha256_of_onion },
            FailureCode::INVALID_ONION_HMAC => Self::InvalidOnionHmac { sha256_of_onion },
            FailureCode::INVALID_ONION_KEY => Self::InvalidOnionKey { sha256_of_onion },
            FailureCode::INVALID_ONION_BLINDING => Self::InvalidOnionBlinding { sha256_of_onion },
            _ => return None,
        })
    }

    /// The `channel_update` enclosed, for `UPDATE` codes.
    pub fn channel_update(&self) -> Option<&[u8]> {
        use FailureReason::*;
        match self {
            TemporaryChannelFailure { channel_update }
            | AmountBelowMinimum { channel_update, .. }
            | FeeInsufficient { channel_update, .. }
            | IncorrectCltvExpiry { channel_update, .. }
            | ExpiryTooSoon { channel_update }
            | ChannelDisabled { channel_update, .. } => Some(channel_update),
            _ => None,
        }
    }

    fn encode_data(&self, out: &mut Vec<u8>) {
        use FailureReason::*;
        match self {
            InvalidRealm
            | TemporaryNodeFailure
            | PermanentNodeFailure
            | RequiredNodeFeatureMissing
            | PermanentChannelFailure
            | RequiredChannelFeatureMissing
            | UnknownNextPeer
            | ExpiryTooFar
            | MppTimeout => {}
            InvalidOnionVersion { sha256_of_onion }
            | InvalidOnionHmac { sha256_of_onion }
            | InvalidOnionKey { sha256_of_onion }
            | InvalidOnionBlinding { sha256_of_onion } => out.extend_from_slice(sha256_of_onion),
            TemporaryChannelFailure { channel_update } | ExpiryTooSoon { channel_update } => {
                write_u16_prefixed(out, channel_update)
            }
            AmountBelowMinimum {
                htlc_msat,
                channel_update,
            }
            | FeeInsufficient {
                htlc_msat,
                channel_update,
            } => {
                htlc_msat.encode(out);
                write_u16_prefixed(out, channel_update);
            }
            IncorrectCltvExpiry {
                cltv_expiry,
                channel_update,
            } => {
                cltv_expiry.encode(out);
                write_u16_prefixed(out, channel_update);
            }
            IncorrectOrUnknownPaymentDetails { htlc_msat, height } => {
                htlc_msat.encode(out);
                height.encode(out);
            }
            FinalIncorrectCltvExpiry { cltv_expiry } => cltv_expiry.encode(out),
            FinalIncorrectHtlcAmount { incoming_htlc_amt } => incoming_htlc_amt.encode(out),
            ChannelDisabled {
                disabled_flags,
                channel_update,
            } => {
                disabled_flags.encode(out);
                write_u16_prefixed(out, channel_update);
            }
            InvalidOnionPayload { r#type, offset } => {
                BigSize(*r#type).encode(out);
                offset.encode(out);
            }
            Unknown { data, .. } => out.extend_from_slice(data),
        }
    }

    fn decode_data(code: FailureCode, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        use FailureReason::*;
        let update = |r: &mut Reader<'_>| -> Result<Vec<u8>, DecodeError> {
            Ok(r.read_u16_prefixed()
                .map_err(|e| e.at("channel_update"))?
                .to_vec())
        };
        Ok(match code {
            FailureCode::INVALID_REALM => InvalidRealm,
            FailureCode::TEMPORARY_NODE_FAILURE => TemporaryNodeFailure,
            FailureCode::PERMANENT_NODE_FAILURE => PermanentNodeFailure,
            FailureCode::REQUIRED_NODE_FEATURE_MISSING => RequiredNodeFeatureMissing,
            FailureCode::INVALID_ONION_VERSION => InvalidOnionVersion {
                sha256_of_onion: r.read_field("sha256_of_onion")?,
            },
            FailureCode::INVALID_ONION_HMAC => InvalidOnionHmac {
                sha256_of_onion: r.read_field("sha256_of_onion")?,
            },
            FailureCode::INVALID_ONION_KEY => InvalidOnionKey {
                sha256_of_onion: r.read_field("sha256_of_onion")?,
            },
            FailureCode::TEMPORARY_CHANNEL_FAILURE => TemporaryChannelFailure {
                channel_update: update(r)?,
            },
            FailureCode::PERMANENT_CHANNEL_FAILURE => PermanentChannelFailure,
            FailureCode::REQUIRED_CHANNEL_FEATURE_MISSING => RequiredChannelFeatureMissing,
            FailureCode::UNKNOWN_NEXT_PEER => UnknownNextPeer,
            FailureCode::AMOUNT_BELOW_MINIMUM => AmountBelowMinimum {
                htlc_msat: r.read_field("htlc_msat")?,
                channel_update: update(r)?,
            },
            FailureCode::FEE_INSUFFICIENT => FeeInsufficient {
                htlc_msat: r.read_field("htlc_msat")?,
                channel_update: update(r)?,
            },
            FailureCode::INCORRECT_CLTV_EXPIRY => IncorrectCltvExpiry {
                cltv_expiry: r.read_field("cltv_expiry")?,
                channel_update: update(r)?,
            },
            FailureCode::EXPIRY_TOO_SOON => ExpiryTooSoon {
                channel_update: update(r)?,
            },
            FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS => IncorrectOrUnknownPaymentDetails {
                htlc_msat: r.read_field("htlc_msat")?,
                height: r.read_field("height")?,
            },
            FailureCode::FINAL_INCORRECT_CLTV_EXPIRY => FinalIncorrectCltvExpiry {
                cltv_expiry: r.read_field("cltv_expiry")?,
            },
            FailureCode::FINAL_INCORRECT_HTLC_AMOUNT => FinalIncorrectHtlcAmount {
                incoming_htlc_amt: r.read_field("incoming_htlc_amt")?,
            },
            FailureCode::CHANNEL_DISABLED => ChannelDisabled {
                disabled_flags: r.read_field("disabled_flags")?,
                channel_update: update(r)?,
            },
            FailureCode::EXPIRY_TOO_FAR => ExpiryTooFar,
            FailureCode::INVALID_ONION_PAYLOAD => InvalidOnionPayload {
                r#type: r.read_field::<BigSize>("type")?.0,
                offset: r.read_field("offset")?,
            },
            FailureCode::MPP_TIMEOUT => MppTimeout,
            FailureCode::INVALID_ONION_BLINDING => InvalidOnionBlinding {
                sha256_of_onion: r.read_field("sha256_of_onion")?,
            },
            FailureCode(code) => Unknown {
                code,
                data: r.read_rest().to_vec(),
            },
        })
    }
}

impl Encode for FailureMessage {
    fn encode(&self, out: &mut Vec<u8>) {
        self.reason.code().0.encode(out);
        self.reason.encode_data(out);
        let mut w = lightning_wire::tlv::TlvStreamWriter::new();
        w.put_unknown(&self.tlvs);
        w.write(out);
    }
}

/// Decodes a `failuremsg`. Bytes after the data that do not form a TLV
/// stream are ignored, as the origin "MUST ignore any extra bytes"
/// (BOLT 4, "Receiving Failure Codes").
impl Decode for FailureMessage {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let code = FailureCode(reader.read_field("failure_code")?);
        let reason = FailureReason::decode_data(code, reader).map_err(|e| e.at("failuremsg"))?;
        let rest = reader.read_rest();
        let tlvs = TlvStreamReader::parse(&mut Reader::new(rest))
            .and_then(|r| r.finish())
            .unwrap_or_default();
        Ok(FailureMessage { reason, tlvs })
    }
}
