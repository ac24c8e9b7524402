//! The onion packet itself (BOLT 4, "Packet Structure").

use lightning_wire::{Decode, DecodeError, Encode, Reader};

/// Length of `hop_payloads` in a payment onion.
pub const PAYMENT_HOP_PAYLOADS_LEN: usize = 1300;
/// Length of a serialized payment onion: version, point, payloads, HMAC.
pub const PAYMENT_ONION_LEN: usize = 1 + 33 + PAYMENT_HOP_PAYLOADS_LEN + 32;
/// Bytes of a packet that are not `hop_payloads`.
pub const PACKET_OVERHEAD: usize = 1 + 33 + 32;
/// The only packet version this specification defines.
pub const VERSION: u8 = 0;
/// Length of a per-hop HMAC.
pub const HMAC_LEN: usize = 32;

/// An onion packet: `version`, ephemeral `public_key`, `hop_payloads` and
/// `hmac`.
///
/// The public key is kept as the 33 bytes received, and the version is not
/// checked on decoding, so that peeling can answer a bad key or version with
/// its own BOLT 4 failure (`invalid_onion_key`, `invalid_onion_version`).
/// Payment onions have 1300 bytes of `hop_payloads`; onion messages may have
/// any length.
#[derive(Clone, PartialEq, Eq)]
pub struct OnionPacket {
    /// The `version` byte.
    pub version: u8,
    /// The ephemeral public key, as received (not yet validated).
    pub public_key: [u8; 33],
    /// The obfuscated `hop_payloads`.
    pub hop_payloads: Vec<u8>,
    /// The HMAC over `hop_payloads` and the associated data.
    pub hmac: [u8; 32],
}

impl core::fmt::Debug for OnionPacket {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OnionPacket")
            .field("version", &self.version)
            .field("public_key", &Hex(&self.public_key))
            .field("hop_payloads_len", &self.hop_payloads.len())
            .field("hmac", &Hex(&self.hmac))
            .finish()
    }
}

struct Hex<'a>(&'a [u8]);
impl core::fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl OnionPacket {
    /// Reads a packet of any size (an onion message packet): everything
    /// between the 34-byte header and the trailing 32-byte HMAC is
    /// `hop_payloads`.
    pub fn from_bytes_any_len(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() < PACKET_OVERHEAD {
            return Err(DecodeError::invalid(format!(
                "onion packet of {} bytes is shorter than its {PACKET_OVERHEAD}-byte header and HMAC",
                bytes.len()
            )));
        }
        let mut r = Reader::new(bytes);
        let version = r.read_field("version")?;
        let public_key = r.read_field("public_key")?;
        let hop_payloads = r
            .read_bytes(bytes.len() - PACKET_OVERHEAD)
            .map_err(|e| e.at("hop_payloads"))?
            .to_vec();
        let hmac = r.read_field("hmac")?;
        r.finish()?;
        Ok(OnionPacket {
            version,
            public_key,
            hop_payloads,
            hmac,
        })
    }

    /// Reads a payment onion, which must be exactly 1366 bytes.
    ///
    /// ```
    /// use lightning_core::onion::OnionPacket;
    /// assert!(OnionPacket::from_payment_bytes(&[0u8; 1366]).is_ok());
    /// assert!(OnionPacket::from_payment_bytes(&[0u8; 1365]).is_err());
    /// ```
    pub fn from_payment_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() != PAYMENT_ONION_LEN {
            return Err(DecodeError::invalid(format!(
                "payment onion must be {PAYMENT_ONION_LEN} bytes, got {}",
                bytes.len()
            )));
        }
        Self::from_bytes_any_len(bytes)
    }

    /// The serialized length.
    pub fn serialized_len(&self) -> usize {
        PACKET_OVERHEAD + self.hop_payloads.len()
    }

    /// SHA256 of the serialized packet: the `sha256_of_onion` that
    /// `BADONION` failures and `update_fail_malformed_htlc` carry.
    pub fn sha256(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update([self.version]);
        h.update(self.public_key);
        h.update(&self.hop_payloads);
        h.update(self.hmac);
        h.finalize().into()
    }
}

impl Encode for OnionPacket {
    fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.serialized_len());
        out.push(self.version);
        out.extend_from_slice(&self.public_key);
        out.extend_from_slice(&self.hop_payloads);
        out.extend_from_slice(&self.hmac);
    }
}

/// Decodes a payment onion (1366 bytes) from a reader, as the
/// `onion_routing_packet` field of `update_add_htlc`.
impl Decode for OnionPacket {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bytes = reader.read_bytes(PAYMENT_ONION_LEN)?;
        Self::from_bytes_any_len(bytes)
    }
}
