//! The symmetric primitives the BOLTs share: the ChaCha20 stream (BOLT 4's
//! onion streams), ChaCha20-Poly1305 with a 96-bit nonce (RFC 8439; BOLT 4's
//! `encrypted_recipient_data`, and the node's sealed backups) and
//! HMAC-SHA256 (BOLT 4's key generation and packet MACs).
//!
//! They are plain functions over byte arrays, compiled once here. The
//! RustCrypto types are generic, and generic code is compiled in the crate
//! that names the types; this crate is built optimised in the workspace's
//! dev profile (as BOLT 8's transport needs), so every crate that calls
//! these gets optimised code in its tests too (ARCHITECTURE.md,
//! "Symmetric crypto in one place").
//!
//! ```
//! use lightning_wire::crypto::{aead_open, aead_seal, chacha20_xor, hmac_sha256};
//!
//! let key = [7u8; 32];
//! let sealed = aead_seal(&key, &[0; 12], b"ad", b"hello");
//! assert_eq!(sealed.len(), 5 + 16);
//! assert_eq!(aead_open(&key, &[0; 12], b"ad", &sealed).as_deref(), Some(&b"hello"[..]));
//! assert_eq!(aead_open(&key, &[0; 12], b"other", &sealed), None);
//!
//! let mut data = *b"stream";
//! chacha20_xor(&key, &[0; 12], 0, &mut data);
//! chacha20_xor(&key, &[0; 12], 0, &mut data);
//! assert_eq!(&data, b"stream");
//!
//! assert_eq!(hmac_sha256(b"key", &[b"a", b"b"]), hmac_sha256(b"key", &[b"ab"]));
//! ```

use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use chacha20::ChaCha20;
use chacha20poly1305::aead::Aead;
use chacha20poly1305::aead::Payload;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Length of a Poly1305 tag.
pub const TAG_LEN: usize = 16;

/// XORs `data` with the ChaCha20 (RFC 8439) stream of `key` and `nonce`,
/// starting `offset` bytes into the stream.
pub fn chacha20_xor(key: &[u8; 32], nonce: &[u8; 12], offset: u64, data: &mut [u8]) {
    let mut cipher = ChaCha20::new(key.into(), nonce.into());
    if offset != 0 {
        cipher.seek(offset);
    }
    cipher.apply_keystream(data);
}

/// ChaCha20-Poly1305 (RFC 8439): `plaintext` encrypted, then its 16-byte
/// tag over `aad` and the ciphertext.
pub fn aead_seal(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    ChaCha20Poly1305::new(key.into())
        .encrypt(
            nonce.into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        // The only failure is a message longer than 2^38 bytes, which no
        // caller can hold in memory.
        .expect("ChaCha20-Poly1305 encrypts any message below 2^38 bytes")
}

/// Opens what [`aead_seal`] made: the plaintext, or `None` when `sealed`
/// is shorter than a tag or does not authenticate under `key`, `nonce` and
/// `aad`.
pub fn aead_open(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    ChaCha20Poly1305::new(key.into())
        .decrypt(nonce.into(), Payload { msg: sealed, aad })
        .ok()
}

/// HMAC-SHA256 (RFC 2104) under `key` of the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any size");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8439 section 2.8.2: the AEAD test vector.
    #[test]
    fn rfc8439_aead_vector() {
        let key: [u8; 32] = core::array::from_fn(|i| 0x80 + i as u8);
        let nonce = [
            0x07, 0, 0, 0, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47,
        ];
        let aad = hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap();
        let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let sealed = aead_seal(&key, &nonce, &aad, plaintext);
        assert_eq!(
            hex::encode(&sealed[sealed.len() - TAG_LEN..]),
            "1ae10b594f09e26a7e902ecbd0600691"
        );
        assert_eq!(
            hex::encode(&sealed[..16]),
            "d31a8d34648e60db7b86afbc53ef7ec2"
        );
        assert_eq!(aead_open(&key, &nonce, &aad, &sealed).unwrap(), plaintext);
        let mut bad = sealed.clone();
        bad[0] ^= 1;
        assert_eq!(aead_open(&key, &nonce, &aad, &bad), None);
        assert_eq!(aead_open(&key, &nonce, &aad, &sealed[..15]), None);
    }

    /// RFC 8439 section 2.4.2: the ChaCha20 encryption vector (counter 1,
    /// which is 64 bytes into the stream).
    #[test]
    fn rfc8439_stream_vector_with_offset() {
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let nonce = [0, 0, 0, 0, 0, 0, 0, 0x4a, 0, 0, 0, 0];
        let mut data = *b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        chacha20_xor(&key, &nonce, 64, &mut data);
        assert_eq!(hex::encode(&data[..16]), "6e2e359a2568f98041ba0728dd0d6981");
    }

    /// RFC 4231 test case 2.
    #[test]
    fn rfc4231_hmac_vector() {
        assert_eq!(
            hex::encode(hmac_sha256(
                b"Jefe",
                &[b"what do ya want ", b"for nothing?"]
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
