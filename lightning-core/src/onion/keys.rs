//! Key derivation and pseudo-random streams (BOLT 4, "Key Generation",
//! "Pseudo Random Byte Stream", "Shared Secret", "Blinding Ephemeral Keys").

use secp256k1::{ecdh, PublicKey, Scalar, SecretKey};
use sha2::{Digest, Sha256};

/// The 32-byte secret a hop shares with the origin: `SHA256` of the
/// compressed ECDH point (BOLT 4, "Shared Secret").
///
/// Its `Debug` output does not reveal the secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SharedSecret(pub [u8; 32]);

impl SharedSecret {
    /// ECDH between `secret` and `point`, hashed as BOLT 4 requires
    /// (`secp256k1`'s own ECDH hashes the compressed point with SHA256).
    pub fn new(point: &PublicKey, secret: &SecretKey) -> Self {
        SharedSecret(ecdh::SharedSecret::new(point, secret).secret_bytes())
    }

    /// The secret's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl core::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SharedSecret(..)")
    }
}

/// Key type `rho`: the stream that obfuscates `hop_payloads`, and the
/// ChaCha20-Poly1305 key of `encrypted_recipient_data`.
pub const RHO: &[u8] = b"rho";
/// Key type `mu`: the per-hop packet HMAC.
pub const MU: &[u8] = b"mu";
/// Key type `um`: the HMAC of a returned error and of attribution data.
pub const UM: &[u8] = b"um";
/// Key type `pad`: the random starting bytes of a new packet.
pub const PAD: &[u8] = b"pad";
/// Key type `ammag`: the stream that obfuscates a returned error.
pub const AMMAG: &[u8] = b"ammag";
/// Key type `ammagext`: the stream that obfuscates attribution data.
pub const AMMAGEXT: &[u8] = b"ammagext";
/// Key type of a blinded node id's tweak (BOLT 4, "Route Blinding").
pub const BLINDED_NODE_ID: &[u8] = b"blinded_node_id";

/// `HMAC-SHA256(key = key_type, msg = secret)` (BOLT 4, "Key Generation").
pub fn derive_key(key_type: &[u8], secret: &[u8; 32]) -> [u8; 32] {
    hmac_sha256(key_type, &[secret])
}

/// HMAC-SHA256 of the concatenation of `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    lightning_wire::crypto::hmac_sha256(key, parts)
}

/// XORs `data` with the ChaCha20 stream of `key` (all-zero 96-bit nonce),
/// starting `offset` bytes into the stream.
pub fn apply_stream_at(key: &[u8; 32], offset: u64, data: &mut [u8]) {
    lightning_wire::crypto::chacha20_xor(key, &[0u8; 12], offset, data);
}

/// XORs `data` with the ChaCha20 stream of `key` from its start.
pub fn apply_stream(key: &[u8; 32], data: &mut [u8]) {
    apply_stream_at(key, 0, data);
}

/// `SHA256(point || secret)`: the factor that blinds an ephemeral key for
/// the next hop (BOLT 4, "Blinding Ephemeral Keys"; route blinding uses the
/// same formula for `E(i+1)`).
pub fn blinding_factor(point: &[u8; 33], secret: &SharedSecret) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(point);
    h.update(secret.0);
    h.finalize().into()
}

/// A 32-byte value as a scalar for tweaking. A SHA256 or HMAC output is at
/// least the curve order with probability about 2^-128; that input is
/// rejected rather than reduced, as every implementation does.
pub(crate) fn scalar(bytes: [u8; 32]) -> Option<Scalar> {
    Scalar::from_be_bytes(bytes).ok()
}

/// Constant-time equality of two byte strings of the same length.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    core::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_offsets_agree() {
        let key = [7u8; 32];
        let mut whole = [0u8; 200];
        apply_stream(&key, &mut whole);
        let mut tail = [0u8; 77];
        apply_stream_at(&key, 123, &mut tail);
        assert_eq!(&whole[123..], &tail[..]);
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
