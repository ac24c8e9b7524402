//! `encryptWithAD(k, n, "", l)` for the 2-byte length prefix of every
//! transport message: ChaCha20-Poly1305 (RFC 8439, section 2.8) specialised
//! to a 2-byte plaintext and empty associated data.
//!
//! Why not the `chacha20poly1305` crate, as for the body: for two bytes its
//! cost is all fixed. On x86-64 built without `avx2` (every portable build)
//! `poly1305` 0.8 picks its AVX2 backend at run time, and that backend's key
//! setup and finalisation run outside `target_feature` code, so each
//! intrinsic is an out-of-line call: a 2-byte seal or open costs about 4,900
//! instructions (callgrind), against about 1,700 here. BOLT 8 does two of
//! them per message and side (the raw AEAD a message is compared with does
//! none), which was a fifth of a 1 KiB message. Here the MAC input is always
//! the same two blocks, so Poly1305 (RFC 8439, 2.5; 26-bit limbs) is
//! computed over them directly, and one ChaCha20 call gives both the
//! one-time MAC key (block 0) and the length's keystream (block 1).
//!
//! Checked against the `chacha20poly1305` crate (proptest, every key,
//! nonce and length), against the `poly1305` crate on arbitrary full
//! blocks including the final reduction's edge, and by BOLT 8's message
//! vectors.

use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::ChaCha20;
use zeroize::Zeroizing;

use super::cipher::{nonce, MAC_LEN};

/// Encrypts `length` in place under `(key, n)` and returns its MAC.
#[inline]
pub(crate) fn seal(key: &[u8; 32], n: u64, length: &mut [u8; 2]) -> [u8; MAC_LEN] {
    let keystream = keystream(key, n);
    length[0] ^= keystream[64];
    length[1] ^= keystream[65];
    mac(&keystream, length)
}

/// Checks `mac` over the encrypted `length` under `(key, n)` and decrypts
/// it in place. On `Err(())` `length` is left encrypted.
#[inline]
pub(crate) fn open(key: &[u8; 32], n: u64, length: &mut [u8; 2], mac_in: &[u8]) -> Result<(), ()> {
    let keystream = keystream(key, n);
    let expected = mac(&keystream, length);
    // Constant time: every byte is compared whatever the first difference.
    let diff = expected
        .iter()
        .zip(mac_in)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if diff != 0 || mac_in.len() != MAC_LEN {
        return Err(());
    }
    length[0] ^= keystream[64];
    length[1] ^= keystream[65];
    Ok(())
}

/// ChaCha20 blocks 0 and 1 (the first two bytes of block 1) under
/// `(key, n)`: the one-time Poly1305 key is block 0's first 32 bytes, and
/// the plaintext is encrypted from block 1 on (RFC 8439, 2.6 and 2.8).
#[inline]
fn keystream(key: &[u8; 32], n: u64) -> Zeroizing<[u8; 66]> {
    let mut keystream = Zeroizing::new([0u8; 66]);
    ChaCha20::new(key.into(), &nonce(n)).apply_keystream(&mut keystream[..]);
    keystream
}

/// The AEAD's MAC over ciphertext `c` with empty associated data: Poly1305
/// of `pad16(c) || le64(0) || le64(2)` (RFC 8439, 2.8).
#[inline]
fn mac(keystream: &[u8; 66], c: &[u8; 2]) -> [u8; MAC_LEN] {
    let mut one_time_key = Zeroizing::new([0u8; 32]);
    one_time_key.copy_from_slice(&keystream[..32]);
    let mut blocks = [0u8; 32];
    blocks[..2].copy_from_slice(c);
    blocks[24] = 2; // le64(len(ciphertext)); le64(len(aad)) = 0 before it.
    poly1305(&one_time_key, &blocks)
}

const MASK26: u32 = 0x3ff_ffff;

fn le32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Poly1305 (RFC 8439, 2.5) of `message`, whose length must be a multiple of
/// 16 (every block is full, so each gets the 2^128 bit). The accumulator is
/// five 26-bit limbs, so each limb product fits a `u64` with room for the
/// sums; all operations are constant time.
fn poly1305(key: &[u8; 32], message: &[u8]) -> [u8; MAC_LEN] {
    debug_assert_eq!(message.len() % 16, 0);
    // r, clamped, in 26-bit limbs.
    let r0 = le32(key, 0) & 0x3ff_ffff;
    let r1 = (le32(key, 3) >> 2) & 0x3ff_ff03;
    let r2 = (le32(key, 6) >> 4) & 0x3ff_c0ff;
    let r3 = (le32(key, 9) >> 6) & 0x3f0_3fff;
    let r4 = (le32(key, 12) >> 8) & 0x00f_ffff;
    // 2^130 = 5 (mod p): limb products that pass 2^130 come back times 5.
    let (s1, s2, s3, s4) = (r1 * 5, r2 * 5, r3 * 5, r4 * 5);
    let (r0, r1, r2, r3, r4) = (
        u64::from(r0),
        u64::from(r1),
        u64::from(r2),
        u64::from(r3),
        u64::from(r4),
    );
    let (s1, s2, s3, s4) = (u64::from(s1), u64::from(s2), u64::from(s3), u64::from(s4));

    let (mut h0, mut h1, mut h2, mut h3, mut h4) = (0u32, 0u32, 0u32, 0u32, 0u32);
    for block in message.chunks_exact(16) {
        // h += block + 2^128
        h0 += le32(block, 0) & MASK26;
        h1 += (le32(block, 3) >> 2) & MASK26;
        h2 += (le32(block, 6) >> 4) & MASK26;
        h3 += (le32(block, 9) >> 6) & MASK26;
        h4 += (le32(block, 12) >> 8) | (1 << 24);
        let (h0_, h1_, h2_, h3_, h4_) = (
            u64::from(h0),
            u64::from(h1),
            u64::from(h2),
            u64::from(h3),
            u64::from(h4),
        );
        // h *= r (mod 2^130 - 5), partially reduced.
        let d0 = h0_ * r0 + h1_ * s4 + h2_ * s3 + h3_ * s2 + h4_ * s1;
        let mut d1 = h0_ * r1 + h1_ * r0 + h2_ * s4 + h3_ * s3 + h4_ * s2;
        let mut d2 = h0_ * r2 + h1_ * r1 + h2_ * r0 + h3_ * s4 + h4_ * s3;
        let mut d3 = h0_ * r3 + h1_ * r2 + h2_ * r1 + h3_ * r0 + h4_ * s4;
        let mut d4 = h0_ * r4 + h1_ * r3 + h2_ * r2 + h3_ * r1 + h4_ * r0;
        let mask = u64::from(MASK26);
        d1 += d0 >> 26;
        d2 += d1 >> 26;
        d3 += d2 >> 26;
        d4 += d3 >> 26;
        let d0 = (d0 & mask) + (d4 >> 26) * 5;
        d1 = (d1 & mask) + (d0 >> 26);
        // Every limb is now below 2^27: the casts keep all of it.
        h0 = (d0 & mask) as u32;
        h1 = d1 as u32;
        h2 = (d2 & mask) as u32;
        h3 = (d3 & mask) as u32;
        h4 = (d4 & mask) as u32;
    }

    // Carry fully, so that h < 2^130 + small.
    h2 += h1 >> 26;
    h1 &= MASK26;
    h3 += h2 >> 26;
    h2 &= MASK26;
    h4 += h3 >> 26;
    h3 &= MASK26;
    h0 += (h4 >> 26) * 5;
    h4 &= MASK26;
    h1 += h0 >> 26;
    h0 &= MASK26;

    // g = h - p = h + 5 - 2^130; take g when it is not negative.
    let mut g0 = h0 + 5;
    let mut g1 = h1 + (g0 >> 26);
    g0 &= MASK26;
    let mut g2 = h2 + (g1 >> 26);
    g1 &= MASK26;
    let mut g3 = h3 + (g2 >> 26);
    g2 &= MASK26;
    let g4 = (h4 + (g3 >> 26)).wrapping_sub(1 << 26);
    g3 &= MASK26;
    // All ones when g4 did not borrow (h >= p), zero when it did.
    let take_g = (g4 >> 31).wrapping_sub(1);
    let pick = |h: u32, g: u32| (h & !take_g) | (g & take_g);
    let (h0, h1, h2, h3, h4) = (
        pick(h0, g0),
        pick(h1, g1),
        pick(h2, g2),
        pick(h3, g3),
        pick(h4, g4 & MASK26),
    );

    // tag = (h + s) mod 2^128, s the key's second half.
    let words = [
        h0 | (h1 << 26),
        (h1 >> 6) | (h2 << 20),
        (h2 >> 12) | (h3 << 14),
        (h3 >> 18) | (h4 << 8),
    ];
    let mut tag = [0u8; MAC_LEN];
    let mut carry = 0u64;
    for (i, word) in words.into_iter().enumerate() {
        let sum = u64::from(word) + u64::from(le32(key, 16 + 4 * i)) + carry;
        tag[4 * i..4 * i + 4].copy_from_slice(&(sum as u32).to_le_bytes());
        carry = sum >> 32;
    }
    tag
}

#[cfg(test)]
mod tests {
    use chacha20poly1305::aead::AeadInPlace;
    use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Tag};
    use proptest::prelude::*;

    use super::*;

    fn reference_poly1305(key: &[u8; 32], message: &[u8]) -> [u8; 16] {
        poly1305::Poly1305::new(key.into())
            .compute_unpadded(message)
            .into()
    }

    /// The final reduction's edge: r = 1, s = 0 and all-ones blocks give
    /// h = 2^130 - 2 >= p after two blocks, which must be reduced; and the
    /// key of RFC 8439, 2.5.2.
    #[test]
    fn poly1305_edges() {
        let mut key = [0u8; 32];
        key[0] = 1;
        for blocks in 1..=4 {
            let message = vec![0xff; 16 * blocks];
            assert_eq!(poly1305(&key, &message), reference_poly1305(&key, &message));
        }
        let key: [u8; 32] =
            hex::decode("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
                .unwrap()
                .try_into()
                .unwrap();
        let message = b"Cryptographic Forum Research Group, twice..";
        assert_eq!(
            poly1305(&key, &message[..32]),
            reference_poly1305(&key, &message[..32])
        );
        // All-zero key: the tag is 0 whatever the message.
        assert_eq!(poly1305(&[0; 32], &[0xab; 32]), [0; 16]);
        // Largest r and s.
        let key = [0xff; 32];
        let message = [0xff; 32];
        assert_eq!(poly1305(&key, &message), reference_poly1305(&key, &message));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn poly1305_matches_the_reference(
            key in any::<[u8; 32]>(),
            message in (1usize..6).prop_flat_map(|n| proptest::collection::vec(any::<u8>(), 16 * n)),
        ) {
            prop_assert_eq!(poly1305(&key, &message), reference_poly1305(&key, &message));
        }

        #[test]
        fn matches_chacha20poly1305(key in any::<[u8; 32]>(), n in any::<u64>(), length in any::<u16>()) {
            let reference = ChaCha20Poly1305::new(Key::from_slice(&key));
            let mut expected = length.to_be_bytes();
            let expected_mac = reference
                .encrypt_in_place_detached(&nonce(n), &[], &mut expected)
                .unwrap();

            let mut buf = length.to_be_bytes();
            let mac_out = seal(&key, n, &mut buf);
            prop_assert_eq!(buf, expected);
            prop_assert_eq!(&mac_out[..], &expected_mac[..]);

            open(&key, n, &mut buf, &mac_out).unwrap();
            prop_assert_eq!(buf, length.to_be_bytes());

            // Any flipped bit of the ciphertext or the MAC is refused, as
            // the reference refuses it.
            let mut bad = expected;
            bad[0] ^= 1;
            prop_assert!(open(&key, n, &mut bad, &mac_out).is_err());
            prop_assert_eq!(bad[0], expected[0] ^ 1, "left encrypted");
            let mut bad_mac = mac_out;
            bad_mac[15] ^= 0x80;
            let mut c = expected;
            prop_assert!(open(&key, n, &mut c, &bad_mac).is_err());
            prop_assert!(reference
                .decrypt_in_place_detached(&nonce(n), &[], &mut c, Tag::from_slice(&bad_mac))
                .is_err());
        }
    }
}
