//! Bech32 (BIP-173) for invoices: no length limit, as BOLT 11 ("Encoding
//! Overview") asks, and 5-bit/8-bit conversions without intermediate strings.
//!
//! The `bech32` crate caps a checksummed string at 1023 characters, which a
//! long invoice can exceed, so the few lines of checksum arithmetic live here.

use core::fmt;

/// The 32 data characters, by value.
const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// Character (ASCII, lower case) to value, or -1.
const CHARSET_REV: [i8; 128] = {
    let mut rev = [-1i8; 128];
    let mut i = 0;
    while i < 32 {
        rev[CHARSET[i] as usize] = i as i8;
        i += 1;
    }
    rev
};

/// BIP-173 generator, folded into a table indexed by the 5 bits shifted out.
const GEN_TABLE: [u32; 32] = {
    const GEN: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    let mut table = [0u32; 32];
    let mut b = 0;
    while b < 32 {
        let mut acc = 0;
        let mut i = 0;
        while i < 5 {
            if (b >> i) & 1 == 1 {
                acc ^= GEN[i];
            }
            i += 1;
        }
        table[b] = acc;
        b += 1;
    }
    table
};

/// The residue of a valid Bech32 (not Bech32m) checksum.
const BECH32_CONST: u32 = 1;

#[inline(always)]
fn polymod_step(chk: u32, value: u8) -> u32 {
    GEN_TABLE[(chk >> 25) as usize] ^ (((chk & 0x01ff_ffff) << 5) ^ u32::from(value))
}

fn hrp_polymod(hrp: &[u8]) -> u32 {
    let mut chk = 1;
    for c in hrp {
        chk = polymod_step(chk, c.to_ascii_lowercase() >> 5);
    }
    chk = polymod_step(chk, 0);
    for c in hrp {
        chk = polymod_step(chk, c.to_ascii_lowercase() & 0x1f);
    }
    chk
}

/// Why a string is not Bech32.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Bech32Error {
    /// A character outside printable ASCII, or not in the data charset.
    #[error("invalid character {ch:?} at position {pos}")]
    InvalidChar {
        /// Byte offset in the string.
        pos: usize,
        /// The character.
        ch: char,
    },
    /// Both upper and lower case letters (BIP-173 allows one or the other).
    #[error("mixed upper and lower case")]
    MixedCase,
    /// No `1` separating the human-readable part from the data.
    #[error("no separator '1'")]
    MissingSeparator,
    /// Nothing before the separator.
    #[error("empty human-readable part")]
    EmptyHrp,
    /// Fewer than six characters after the separator.
    #[error("data part shorter than the checksum")]
    TooShort,
    /// The checksum does not match (Bech32m strings land here too).
    #[error("invalid checksum")]
    InvalidChecksum,
}

/// Splits and checks a Bech32 string. Returns the human-readable part in
/// lower case and the 5-bit data values without the checksum.
pub(crate) fn decode(s: &str) -> Result<(String, Vec<u8>), Bech32Error> {
    let bytes = s.as_bytes();
    let (mut lower, mut upper) = (false, false);
    for (pos, &b) in bytes.iter().enumerate() {
        if !(33..=126).contains(&b) {
            let ch = s[pos..].chars().next().unwrap_or('\u{fffd}');
            return Err(Bech32Error::InvalidChar { pos, ch });
        }
        lower |= b.is_ascii_lowercase();
        upper |= b.is_ascii_uppercase();
    }
    if lower && upper {
        return Err(Bech32Error::MixedCase);
    }
    let sep = bytes
        .iter()
        .rposition(|&b| b == b'1')
        .ok_or(Bech32Error::MissingSeparator)?;
    if sep == 0 {
        return Err(Bech32Error::EmptyHrp);
    }
    let (hrp, rest) = (&bytes[..sep], &bytes[sep + 1..]);
    if rest.len() < 6 {
        return Err(Bech32Error::TooShort);
    }
    let mut chk = hrp_polymod(hrp);
    let mut data = Vec::with_capacity(rest.len() - 6);
    for (i, &c) in rest.iter().enumerate() {
        let v = CHARSET_REV[usize::from(c.to_ascii_lowercase() & 0x7f)];
        if v < 0 {
            return Err(Bech32Error::InvalidChar {
                pos: sep + 1 + i,
                ch: char::from(c),
            });
        }
        chk = polymod_step(chk, v as u8);
        data.push(v as u8);
    }
    if chk != BECH32_CONST {
        return Err(Bech32Error::InvalidChecksum);
    }
    data.truncate(data.len() - 6);
    Ok((s[..sep].to_ascii_lowercase(), data))
}

/// Writes `hrp` (lower case ASCII), `1`, the data characters and the
/// checksum. `data` must hold 5-bit values.
pub(crate) fn encode_to_fmt(f: &mut dyn fmt::Write, hrp: &str, data: &[u8]) -> fmt::Result {
    f.write_str(hrp)?;
    f.write_char('1')?;
    let mut chk = hrp_polymod(hrp.as_bytes());
    for &v in data {
        let v = v & 0x1f;
        chk = polymod_step(chk, v);
        f.write_char(char::from(CHARSET[usize::from(v)]))?;
    }
    for _ in 0..6 {
        chk = polymod_step(chk, 0);
    }
    chk ^= BECH32_CONST;
    for i in 0..6 {
        let v = (chk >> (5 * (5 - i))) & 0x1f;
        f.write_char(char::from(CHARSET[v as usize]))?;
    }
    Ok(())
}

/// The character for a 5-bit value (for naming tags in errors).
pub(crate) fn char_of(v: u8) -> char {
    char::from(CHARSET[usize::from(v & 0x1f)])
}

/// Packs 5-bit values into bytes, big-endian, calling `sink` with each full
/// byte. When `pad` is set the last partial byte is completed with zero bits
/// (how the signed message is formed); otherwise it is dropped (how field
/// data is read).
#[inline]
pub(crate) fn for_each_byte(data: &[u8], pad: bool, mut sink: impl FnMut(u8)) {
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &v in data {
        acc = (acc << 5) | u32::from(v & 0x1f);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            sink((acc >> bits) as u8);
        }
    }
    if pad && bits > 0 {
        sink((acc << (8 - bits)) as u8);
    }
}

/// Field data as bytes: 5-bit values packed, trailing partial bits dropped.
pub(crate) fn to_bytes(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 5 / 8);
    for_each_byte(data, false, |b| out.push(b));
    out
}

/// Fixed-size field data; `None` unless `data` packs into exactly `N` bytes
/// (plus fewer than 5 padding bits).
pub(crate) fn to_array<const N: usize>(data: &[u8]) -> Option<[u8; N]> {
    if data.len() * 5 / 8 != N || (data.len() * 5) % 8 >= 5 {
        return None;
    }
    let mut out = [0u8; N];
    let mut i = 0;
    for_each_byte(data, false, |b| {
        out[i] = b;
        i += 1;
    });
    Some(out)
}

/// Appends bytes as 5-bit values, zero-padding the last one.
pub(crate) fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(((acc >> bits) & 0x1f) as u8);
        }
    }
    if bits > 0 {
        out.push(((acc << (5 - bits)) & 0x1f) as u8);
    }
}

/// A big-endian unsigned integer from 5-bit values; `None` on overflow.
pub(crate) fn to_u64(data: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for &d in data {
        if v >> 59 != 0 {
            return None;
        }
        v = (v << 5) | u64::from(d & 0x1f);
    }
    Some(v)
}

/// Appends `v` as the fewest 5-bit values (none for zero).
pub(crate) fn push_u64_minimal(out: &mut Vec<u8>, v: u64) {
    let groups = (64 - v.leading_zeros()).div_ceil(5);
    for i in (0..groups).rev() {
        out.push(((v >> (5 * i)) & 0x1f) as u8);
    }
}

/// Appends `v` as exactly `groups` 5-bit values (the low bits of `v`).
pub(crate) fn push_u64_fixed(out: &mut Vec<u8>, v: u64, groups: u32) {
    for i in (0..groups).rev() {
        out.push(((v >> (5 * i)) & 0x1f) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(hrp: &str, data: &[u8]) -> String {
        let mut s = String::new();
        encode_to_fmt(&mut s, hrp, data).unwrap();
        s
    }

    #[test]
    fn bip173_valid_strings() {
        for s in [
            "A12UEL5L",
            "a12uel5l",
            "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
            "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
            "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
            "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
            "?1ezyfcl",
        ] {
            let (hrp, data) = decode(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(encode(&hrp, &data), s.to_ascii_lowercase());
        }
    }

    #[test]
    fn bip173_invalid_strings() {
        for s in [
            "\u{20}1nwldj5",
            "\u{7f}1axkwrx",
            "pzry9x0s0muk",
            "1pzry9x0s0muk",
            "x1b4n0q5v",
            "li1dgmt3",
            "A1G7SGD8",
            "10a06t8",
            "1qzzfhee",
            "a12UEL5L",
        ] {
            assert!(decode(s).is_err(), "{s}");
        }
        // Bech32m checksum is not Bech32.
        assert_eq!(decode("a1lqfn3a"), Err(Bech32Error::InvalidChecksum));
    }

    #[test]
    fn bit_conversions() {
        let mut v = Vec::new();
        push_bytes(&mut v, &[0xff, 0x01]);
        assert_eq!(v, [31, 28, 0, 16]);
        assert_eq!(to_bytes(&v), [0xff, 0x01]);
        let mut w = Vec::new();
        push_u64_minimal(&mut w, 60);
        assert_eq!(w, [1, 28]);
        assert_eq!(to_u64(&w), Some(60));
        assert_eq!(to_u64(&[31; 13]), None);
        assert_eq!(to_u64(&[0; 40]), Some(0));
        w.clear();
        push_u64_minimal(&mut w, 0);
        assert!(w.is_empty());
    }
}
