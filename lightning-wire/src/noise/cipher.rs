//! The cryptographic primitives of BOLT 8: `HKDF`, `ECDH`, `encryptWithAD` /
//! `decryptWithAD`, and the per-direction cipher state with its key rotation.
//!
//! BOLT 8, "Handshake State" and "Lightning Message Key Rotation".

use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce, Tag};
use hkdf::Hkdf;
use secp256k1::ecdh::SharedSecret;
use secp256k1::{PublicKey, SecretKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::length_prefix;

/// Length of a Poly1305 MAC.
pub(crate) const MAC_LEN: usize = 16;

/// A key is rotated after this many encryptions or decryptions with it
/// (every 500 messages, since each message uses two nonces).
///
/// BOLT 8, "Lightning Message Key Rotation".
pub(crate) const KEY_ROTATION_INTERVAL: u64 = 1000;

/// A 32-byte secret (a chaining key, a cipher key or an ECDH output) that is
/// wiped when dropped.
pub(crate) type Secret32 = Zeroizing<[u8; 32]>;

/// The 96-bit nonce for counter `n`: 32 zero bits, then `n` as a
/// little-endian 64-bit integer (BOLT 8, "Handshake State", `encryptWithAD`).
#[inline]
pub(crate) fn nonce(n: u64) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&n.to_le_bytes());
    Nonce::from(bytes)
}

/// `HKDF(salt, ikm)`: HKDF-SHA256 with an empty `info`, expanded to 64 bytes
/// and split in two 32-byte halves (BOLT 8, "Handshake State", `HKDF`).
pub(crate) fn hkdf(salt: &[u8; 32], ikm: &[u8]) -> (Secret32, Secret32) {
    let mut okm = Zeroizing::new([0u8; 64]);
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(&[], &mut okm[..])
        .expect("64 bytes is far below HKDF-SHA256's 8160-byte output limit");
    let mut first = Zeroizing::new([0u8; 32]);
    let mut second = Zeroizing::new([0u8; 32]);
    first.copy_from_slice(&okm[..32]);
    second.copy_from_slice(&okm[32..]);
    (first, second)
}

/// `ECDH(k, rk)`: SHA-256 of the compressed point `k * rk` (BOLT 8,
/// "Handshake State", `ECDH`). libsecp256k1's default ECDH hash is exactly
/// this.
pub(crate) fn ecdh(scalar: &SecretKey, point: &PublicKey) -> Secret32 {
    Zeroizing::new(SharedSecret::new(point, scalar).secret_bytes())
}

/// `SHA-256(a || b)`, the handshake hash update `h = SHA-256(h || data)`.
pub(crate) fn mix_hash(h: &[u8; 32], data: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(h);
    hasher.update(data);
    hasher.finalize().into()
}

/// `encryptWithAD(k, n, ad, plaintext)` in place: `buf` holds the plaintext
/// and becomes the ciphertext; the MAC is returned.
pub(crate) fn encrypt_with_ad(key: &[u8; 32], n: u64, ad: &[u8], buf: &mut [u8]) -> [u8; MAC_LEN] {
    ChaCha20Poly1305::new(Key::from_slice(key))
        .encrypt_in_place_detached(&nonce(n), ad, buf)
        .expect("handshake plaintexts are at most 33 bytes, far below the AEAD limit")
        .into()
}

/// `decryptWithAD(k, n, ad, ciphertext)` in place. `Err(())` means the MAC
/// did not verify; `buf` is then unspecified.
pub(crate) fn decrypt_with_ad(
    key: &[u8; 32],
    n: u64,
    ad: &[u8],
    buf: &mut [u8],
    mac: &[u8],
) -> Result<(), ()> {
    ChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt_in_place_detached(&nonce(n), ad, buf, Tag::from_slice(mac))
        .map_err(|_| ())
}

/// One direction of an established transport: the key `sk` or `rk`, its
/// nonce `sn` or `rn`, and the chaining key `sck` or `rck` it rotates with.
///
/// The ChaCha20-Poly1305 instance is built once per key, not per message.
/// Both keys are wiped on drop (`Zeroizing`, and chacha20poly1305's own
/// `ZeroizeOnDrop` for the AEAD's copy).
pub(crate) struct CipherState {
    chaining_key: Secret32,
    key: Secret32,
    aead: ChaCha20Poly1305,
    nonce: u64,
}

impl CipherState {
    /// A cipher state with `key` and nonce 0, rotating with `chaining_key`.
    pub(crate) fn new(chaining_key: &[u8; 32], key: &[u8; 32]) -> Self {
        CipherState {
            chaining_key: Zeroizing::new(*chaining_key),
            key: Zeroizing::new(*key),
            aead: ChaCha20Poly1305::new(Key::from_slice(key)),
            nonce: 0,
        }
    }

    /// Encrypts `buf` in place with the next nonce and returns its MAC.
    #[inline]
    pub(crate) fn seal(&mut self, buf: &mut [u8]) -> [u8; MAC_LEN] {
        let mac = self
            .aead
            .encrypt_in_place_detached(&nonce(self.nonce), &[], buf)
            .expect("transport plaintexts are at most 65535 bytes, far below the AEAD limit");
        self.advance();
        mac.into()
    }

    /// Decrypts `buf` in place with the next nonce if `mac` verifies. On
    /// failure the nonce does not advance and `buf` is unspecified.
    #[inline]
    pub(crate) fn open(&mut self, buf: &mut [u8], mac: &[u8]) -> Result<(), ()> {
        self.aead
            .decrypt_in_place_detached(&nonce(self.nonce), &[], buf, Tag::from_slice(mac))
            .map_err(|_| ())?;
        self.advance();
        Ok(())
    }

    /// [`seal`](Self::seal) for the 2-byte length prefix, by the specialised
    /// AEAD of [`super::length_prefix`] (same output).
    #[inline]
    pub(crate) fn seal_length(&mut self, length: &mut [u8; 2]) -> [u8; MAC_LEN] {
        let mac = length_prefix::seal(&self.key, self.nonce, length);
        self.advance();
        mac
    }

    /// [`open`](Self::open) for the 2-byte length prefix. On failure the
    /// nonce does not advance and `length` stays encrypted.
    #[inline]
    pub(crate) fn open_length(&mut self, length: &mut [u8; 2], mac: &[u8]) -> Result<(), ()> {
        length_prefix::open(&self.key, self.nonce, length, mac)?;
        self.advance();
        Ok(())
    }

    /// Counts one use of the key and rotates it after the 1000th:
    /// `ck', k' = HKDF(ck, k)`, nonce back to 0 (BOLT 8, "Lightning Message
    /// Key Rotation").
    #[inline]
    fn advance(&mut self) {
        self.nonce += 1;
        if self.nonce == KEY_ROTATION_INTERVAL {
            let (chaining_key, key) = hkdf(&self.chaining_key, &self.key[..]);
            self.aead = ChaCha20Poly1305::new(Key::from_slice(&key[..]));
            self.chaining_key = chaining_key;
            self.key = key;
            self.nonce = 0;
        }
    }
}

impl core::fmt::Debug for CipherState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Keys stay out of logs.
        f.debug_struct("CipherState")
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}
