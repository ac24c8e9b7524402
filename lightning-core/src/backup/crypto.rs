//! The backup key and the sealed envelope (ChaCha20-Poly1305).
//!
//! The key never leaves the node signer as a secret: it is derived from
//! the node key's ECDH with a fixed point nobody knows the discrete
//! logarithm of (a "nothing up my sleeve" point found by hashing a label),
//! so the same seed, or the same remote signer, always gives the same key,
//! and the node id alone gives nothing. HKDF-SHA256 (RFC 5869) turns that
//! shared secret into separate keys per domain (channel backup file, peer
//! storage blob), each with its own nonce key.
//!
//! Envelope: `magic (4) || version (1) || nonce (12) || ciphertext || tag
//! (16)`, with `magic || version` as associated data. The nonce is
//! `HMAC-SHA256(nonce_key, plaintext)[..12]`: deterministic (the library
//! draws no randomness of its own), and two different plaintexts get the
//! same nonce only with negligible probability, which is what
//! ChaCha20-Poly1305 needs.

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::PublicKey;
use lightning_wire::crypto;

use super::BackupError;
use crate::keys::NodeSigner;

/// Bytes before the ciphertext: magic, version, nonce.
pub const HEADER_LEN: usize = 4 + 1 + 12;
/// The Poly1305 tag.
pub const TAG_LEN: usize = 16;

/// What a key is for: each domain has its own label, magic and keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// The static channel backup file.
    ChannelBackup,
    /// Our blob in a peer's storage (BOLT 1 `peer_storage`).
    PeerStorage,
}

impl Domain {
    /// The envelope's first four bytes.
    pub fn magic(self) -> [u8; 4] {
        match self {
            Domain::ChannelBackup => *b"LNCB",
            Domain::PeerStorage => *b"LNPS",
        }
    }

    fn label(self) -> &'static [u8] {
        match self {
            Domain::ChannelBackup => b"lightning-sdk channel backup v1",
            Domain::PeerStorage => b"lightning-sdk peer storage v1",
        }
    }
}

/// A symmetric key for one domain (never printed).
#[derive(Clone)]
pub struct BackupKey {
    domain: Domain,
    cipher_key: [u8; 32],
    nonce_key: [u8; 32],
}

impl core::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BackupKey")
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

/// The label hashed into the fixed ECDH point.
const POINT_LABEL: &[u8] = b"lightning-sdk backup point";

/// The first `02 || SHA256(label || i)` (i = 0, 1, ...) that is a valid
/// point: a point with no known discrete logarithm.
pub fn backup_point() -> Result<PublicKey, BackupError> {
    for i in 0u8..=255 {
        let mut data = POINT_LABEL.to_vec();
        data.push(i);
        let x = sha256::Hash::hash(&data).to_byte_array();
        let mut compressed = [0u8; 33];
        compressed[0] = 2;
        compressed[1..].copy_from_slice(&x);
        if let Ok(p) = PublicKey::from_slice(&compressed) {
            return Ok(p);
        }
    }
    Err(BackupError::Key("no backup point".into()))
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    lightning_wire::crypto::hmac_sha256(key, parts)
}

/// HKDF-SHA256 (RFC 5869) with one block of output.
fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let prk = hmac(salt, &[ikm]);
    hmac(&prk, &[info, &[1]])
}

impl BackupKey {
    /// The key of `domain`, from the node signer's ECDH with the backup
    /// point.
    pub fn derive(signer: &dyn NodeSigner, domain: Domain) -> Result<BackupKey, BackupError> {
        let point = backup_point()?;
        let shared = signer
            .ecdh(&point, None)
            .map_err(|e| BackupError::Key(e.to_string()))?;
        Ok(Self::from_secret(&shared, domain))
    }

    /// The key of `domain` from a 32-byte secret (tests, and hosts that
    /// keep their own secret).
    pub fn from_secret(secret: &[u8; 32], domain: Domain) -> BackupKey {
        BackupKey {
            domain,
            cipher_key: hkdf(domain.label(), secret, b"cipher"),
            nonce_key: hkdf(domain.label(), secret, b"nonce"),
        }
    }

    /// The domain.
    pub fn domain(&self) -> Domain {
        self.domain
    }

    /// Seals `plaintext` in an envelope of format `version`.
    pub fn seal(&self, version: u8, plaintext: &[u8]) -> Result<Vec<u8>, BackupError> {
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&self.domain.magic());
        out.push(version);
        let mac = hmac(&self.nonce_key, &[&out, plaintext]);
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&mac[..12]);
        let sealed = crypto::aead_seal(&self.cipher_key, &nonce, &out, plaintext);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens an envelope: its version and plaintext. Every way the input
    /// can be wrong is a typed error; nothing is allocated beyond the
    /// input's size.
    pub fn open(&self, data: &[u8], max_version: u8) -> Result<(u8, Vec<u8>), BackupError> {
        if data.len() < HEADER_LEN + TAG_LEN {
            return Err(BackupError::Truncated { len: data.len() });
        }
        let (header, sealed) = data.split_at(HEADER_LEN);
        if header[..4] != self.domain.magic() {
            return Err(BackupError::BadMagic);
        }
        let version = header[4];
        if version == 0 || version > max_version {
            return Err(BackupError::UnsupportedVersion(version));
        }
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&header[5..17]);
        let plain = crypto::aead_open(&self.cipher_key, &nonce, &header[..5], sealed)
            .ok_or(BackupError::Decrypt)?;
        Ok((version, plain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_every_damage_is_an_error() {
        let k = BackupKey::from_secret(&[7; 32], Domain::ChannelBackup);
        let sealed = k.seal(1, b"hello").unwrap();
        assert_eq!(k.open(&sealed, 1).unwrap(), (1, b"hello".to_vec()));
        // Deterministic.
        assert_eq!(sealed, k.seal(1, b"hello").unwrap());
        // Another plaintext, another nonce.
        assert_ne!(sealed[5..17], k.seal(1, b"hellp").unwrap()[5..17]);
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(k.open(&bad, 1).is_err(), "flip at {i} accepted");
        }
        for n in 0..sealed.len() {
            assert!(k.open(&sealed[..n], 1).is_err());
        }
        let other = BackupKey::from_secret(&[8; 32], Domain::ChannelBackup);
        assert_eq!(other.open(&sealed, 1), Err(BackupError::Decrypt));
        let ps = BackupKey::from_secret(&[7; 32], Domain::PeerStorage);
        assert_eq!(ps.open(&sealed, 1), Err(BackupError::BadMagic));
        assert_eq!(k.open(&sealed, 0), Err(BackupError::UnsupportedVersion(1)));
    }

    #[test]
    fn backup_point_is_valid_and_fixed() {
        let p = backup_point().unwrap();
        assert_eq!(p, backup_point().unwrap());
    }
}
