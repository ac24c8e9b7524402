//! Bech32 (BIP-173) for invoices: no length limit, as BOLT 11 ("Encoding
//! Overview") asks, and 5-bit/8-bit conversions without intermediate strings.
//!
//! The `bech32` crate caps a checksummed string at 1023 characters, which a
//! long invoice can exceed, so the few lines of checksum arithmetic live here.

use core::fmt;

/// The 32 data characters, by value.
const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// Byte to value (low 5 bits) plus flags: [`UPPER`], [`LOWER`], or
/// [`INVALID`] for a byte outside the charset.
const CHARSET_REV: [u8; 256] = {
    let mut rev = [INVALID; 256];
    let mut i = 0;
    while i < 32 {
        let c = CHARSET[i];
        rev[c as usize] = i as u8 | if c.is_ascii_lowercase() { LOWER } else { 0 };
        rev[c.to_ascii_uppercase() as usize] =
            i as u8 | if c.is_ascii_lowercase() { UPPER } else { 0 };
        i += 1;
    }
    rev
};
const UPPER: u8 = 0x20;
const LOWER: u8 = 0x40;
const INVALID: u8 = 0x80;

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

/// Six steps at once. The checksum state is 30 bits and six steps shift
/// all of them out, and the feedback is linear over GF(2), so it splits into
/// three lookups of 10 bits each; the six input values land in the low 30
/// bits without feeding back. This cuts the serial dependency chain, which
/// is what bounds decoding speed, by about six.
const GEN_TABLE6: [[u32; 1024]; 3] = {
    let mut tables = [[0u32; 1024]; 3];
    let mut k = 0;
    while k < 3 {
        let mut x = 0;
        while x < 1024 {
            let mut chk = (x as u32) << (10 * k);
            let mut step = 0;
            while step < 6 {
                chk = GEN_TABLE[(chk >> 25) as usize] ^ ((chk & 0x01ff_ffff) << 5);
                step += 1;
            }
            tables[k][x] = chk;
            x += 1;
        }
        k += 1;
    }
    tables
};

/// The residue of a valid Bech32 (not Bech32m) checksum.
const BECH32_CONST: u32 = 1;

#[inline(always)]
fn polymod_step(chk: u32, value: u8) -> u32 {
    GEN_TABLE[(chk >> 25) as usize] ^ (((chk & 0x01ff_ffff) << 5) ^ u32::from(value))
}

/// Runs the checksum over 5-bit values, six at a time.
#[inline]
fn polymod_values(mut chk: u32, values: &[u8]) -> u32 {
    let mut chunks = values.chunks_exact(6);
    for c in &mut chunks {
        let input = c
            .iter()
            .fold(0u32, |acc, v| (acc << 5) | u32::from(*v & 0x1f));
        chk = GEN_TABLE6[0][(chk & 0x3ff) as usize]
            ^ GEN_TABLE6[1][((chk >> 10) & 0x3ff) as usize]
            ^ GEN_TABLE6[2][((chk >> 20) & 0x3ff) as usize]
            ^ input;
    }
    for &v in chunks.remainder() {
        chk = polymod_step(chk, v);
    }
    chk
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

/// The first character that is not printable ASCII, or (after the last
/// `1`) not in the charset.
fn first_error(s: &str) -> Option<Bech32Error> {
    let sep = s.bytes().rposition(|b| b == b'1');
    s.char_indices().find_map(|(pos, ch)| {
        let bad = !(33..=126).contains(&u32::from(ch))
            || sep.is_some_and(|sep| pos > sep && CHARSET_REV[ch as usize & 0xff] & INVALID != 0);
        bad.then_some(Bech32Error::InvalidChar { pos, ch })
    })
}

/// Appends the values of `chars` to `out` and returns the OR of their
/// flags.
fn map_values(chars: &[u8], out: &mut Vec<u8>) -> u8 {
    let mut flags = 0u8;
    out.extend(chars.iter().map(|&c| {
        let t = CHARSET_REV[usize::from(c)];
        flags |= t;
        t & 0x1f
    }));
    flags
}

/// Splits and checks a Bech32 string. Returns the human-readable part in
/// lower case and the 5-bit data values without the checksum.
pub(crate) fn decode(s: &str) -> Result<(String, Vec<u8>), Bech32Error> {
    let bytes = s.as_bytes();
    // The separator is the last `1`. Look for the first one (near the start
    // of an invoice, where the scan is short); a later `1` is not in the
    // charset, so the mapping pass flags it and the slow path takes over.
    let first = bytes
        .iter()
        .position(|&b| b == b'1')
        .ok_or_else(|| first_error(s).unwrap_or(Bech32Error::MissingSeparator))?;
    let mut sep = first;
    let mut data = Vec::with_capacity(bytes.len() - first - 1);
    let mut flags = map_values(&bytes[first + 1..], &mut data);
    if flags & INVALID != 0 {
        let last = bytes.iter().rposition(|&b| b == b'1').unwrap_or(first);
        if last != first {
            sep = last;
            data.clear();
            flags = map_values(&bytes[sep + 1..], &mut data);
        }
    }
    let (hrp, rest) = (&bytes[..sep], &bytes[sep + 1..]);
    for &b in hrp {
        flags |= if !(33..=126).contains(&b) {
            INVALID
        } else if b.is_ascii_uppercase() {
            UPPER
        } else if b.is_ascii_lowercase() {
            LOWER
        } else {
            0
        };
    }
    if flags & INVALID != 0 {
        return Err(first_error(s).unwrap_or(Bech32Error::InvalidChar {
            pos: sep
                + 1
                + rest
                    .iter()
                    .position(|c| CHARSET_REV[usize::from(*c)] & INVALID != 0)
                    .unwrap_or(0),
            ch: '?',
        }));
    }
    if flags & (UPPER | LOWER) == UPPER | LOWER {
        return Err(Bech32Error::MixedCase);
    }
    if sep == 0 {
        return Err(Bech32Error::EmptyHrp);
    }
    if rest.len() < 6 {
        return Err(Bech32Error::TooShort);
    }
    if polymod_values(hrp_polymod(hrp), &data) != BECH32_CONST {
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
    chk = polymod_values(chk, &[0; 6]);
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

/// Eight 5-bit values are exactly five bytes.
#[inline(always)]
fn pack8(values: &[u8]) -> [u8; 5] {
    let acc = values
        .iter()
        .fold(0u64, |acc, v| (acc << 5) | u64::from(v & 0x1f));
    let b = acc.to_be_bytes();
    [b[3], b[4], b[5], b[6], b[7]]
}

/// [`for_each_byte`], but handing out runs of bytes, packed eight values
/// (five bytes) at a time.
#[inline]
pub(crate) fn for_each_chunk(data: &[u8], pad: bool, mut sink: impl FnMut(&[u8])) {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        sink(&pack8(c));
    }
    let mut tail = [0u8; 5];
    let mut n = 0;
    for_each_byte(chunks.remainder(), pad, |b| {
        tail[n] = b;
        n += 1;
    });
    sink(&tail[..n]);
}

/// Field data as bytes: 5-bit values packed, trailing partial bits dropped.
pub(crate) fn to_bytes(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 5 / 8 + 5);
    for_each_chunk(data, false, |b| out.extend_from_slice(b));
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
    fn errors_name_the_character() {
        assert_eq!(
            decode("a1b2345678"),
            Err(Bech32Error::InvalidChar { pos: 2, ch: 'b' })
        );
        assert_eq!(
            decode("\u{e9}1qqqqqq"),
            Err(Bech32Error::InvalidChar {
                pos: 0,
                ch: '\u{e9}'
            })
        );
        assert_eq!(decode("qqqqqqqq"), Err(Bech32Error::MissingSeparator));
        assert_eq!(decode("A1qqqqqq"), Err(Bech32Error::MixedCase));
        assert_eq!(decode("1qqqqqq"), Err(Bech32Error::EmptyHrp));
        assert_eq!(decode("a1qqqqq"), Err(Bech32Error::TooShort));
    }

    #[test]
    fn six_at_a_time_matches_one_at_a_time() {
        let values: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 32) as u8).collect();
        for len in [0, 1, 5, 6, 7, 12, 13, 999, 1000] {
            let slow = values[..len].iter().fold(1, |c, v| polymod_step(c, *v));
            assert_eq!(polymod_values(1, &values[..len]), slow, "{len}");
        }
        let mut fast = Vec::new();
        for_each_chunk(&values[..13], true, |b| fast.extend_from_slice(b));
        let mut slow = Vec::new();
        for_each_byte(&values[..13], true, |b| slow.push(b));
        assert_eq!(fast, slow);
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
