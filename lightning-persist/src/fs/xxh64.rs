//! XXH64, the 64-bit xxHash (its specification: `doc/xxhash_spec.md` of the
//! xxHash project), one-shot: the check of a log frame. A fast,
//! well-mixing non-cryptographic hash: it detects torn and damaged
//! frames; it is not meant to resist an adversary.

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

fn read64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(b)
}

fn read32(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[..4]);
    u64::from(u32::from_le_bytes(b))
}

fn round(acc: u64, lane: u64) -> u64 {
    acc.wrapping_add(lane.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

fn merge(acc: u64, lane: u64) -> u64 {
    (acc ^ round(0, lane)).wrapping_mul(P1).wrapping_add(P4)
}

/// XXH64 of `input` with `seed`.
pub(crate) fn hash(input: &[u8], seed: u64) -> u64 {
    let mut rest = input;
    let mut h = if input.len() >= 32 {
        let mut v = [
            seed.wrapping_add(P1).wrapping_add(P2),
            seed.wrapping_add(P2),
            seed,
            seed.wrapping_sub(P1),
        ];
        let mut stripes = rest.chunks_exact(32);
        for stripe in &mut stripes {
            for (i, lane) in v.iter_mut().enumerate() {
                *lane = round(*lane, read64(&stripe[i * 8..]));
            }
        }
        rest = stripes.remainder();
        let mut h = v[0]
            .rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18));
        for lane in v {
            h = merge(h, lane);
        }
        h
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(input.len() as u64);
    let mut words = rest.chunks_exact(8);
    for word in &mut words {
        h = (h ^ round(0, read64(word)))
            .rotate_left(27)
            .wrapping_mul(P1)
            .wrapping_add(P4);
    }
    rest = words.remainder();
    if rest.len() >= 4 {
        h = (h ^ read32(rest).wrapping_mul(P1))
            .rotate_left(23)
            .wrapping_mul(P2)
            .wrapping_add(P3);
        rest = &rest[4..];
    }
    for &byte in rest {
        h = (h ^ u64::from(byte).wrapping_mul(P5))
            .rotate_left(11)
            .wrapping_mul(P1);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

#[cfg(test)]
mod tests {
    use super::hash;

    /// Values from the reference implementation (libxxhash 0.8's `XXH64`).
    #[test]
    fn reference_vectors() {
        assert_eq!(hash(b"", 0), 0xef46_db37_51d8_e999);
        assert_eq!(hash(b"a", 0), 0xd24e_c4f1_a98c_6e5b);
        assert_eq!(hash(b"abc", 0), 0x44bc_2cf5_ad77_0999);
        let text = b"Nobody inspects the spammish repetition";
        assert_eq!(hash(text, 0), 0xfbce_a83c_8a37_8bf1);
        assert_eq!(hash(text, 20_141_025), 0xce06_9361_3685_2706);
        let counting: Vec<u8> = (0..=255u8).cycle().take(768).collect();
        assert_eq!(hash(&counting, 0), 0x8e03_c838_c596_036f);
        assert_eq!(
            hash(&counting[..100], 0x9E37_79B1_85EB_CA87),
            0x0027_8bda_0ee3_f586
        );
    }
}
