//! Bech32 (BIP-173) for invoices: no length limit, as BOLT 11 ("Encoding
//! Overview") asks, and 5-bit/8-bit conversions without intermediate strings
//! ([`for_each_byte`] and [`for_each_value`], which BOLT 12's text form in
//! [`crate::bolt12::string`] uses too).
//!
//! The `bech32` crate caps a checksummed string at 1023 characters, which a
//! long invoice can exceed, so the few lines of checksum arithmetic live here.
//!
//! Decoding is one pass over the characters ([`decode`]): each group of
//! eight becomes five bytes of [`PackedValues`], which are at once the
//! signed message's bytes (BOLT 11 signs the data part packed into bytes)
//! and where the fields are read from ([`Values`]), and the checksum takes
//! the same eight values in one step.

use core::fmt;
use std::borrow::Cow;

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

/// Eight steps at once: the checksum state is 30 bits, so eight steps shift
/// all of it out, and the feedback is linear over GF(2). The state's part
/// splits into three lookups of 10 bits each (tables 0 to 2: the state
/// `x << 10k` after eight steps). Of the eight input values the first two
/// are shifted out too (table 3: the state `x` after six more steps), and
/// the last six land in the low 30 bits without feeding back.
///
/// Eight values are 40 bits, exactly five bytes, which is also how the
/// signed message packs them (see [`scan_data`]). Only the three lookups on
/// the old state are on the serial dependency chain, which is what bounds
/// the checksum's speed: about one table load's latency per eight
/// characters.
const GEN_TABLE8: [[u32; 1024]; 4] = {
    let mut tables = [[0u32; 1024]; 4];
    let mut x = 0;
    while x < 1024 {
        let mut k = 0;
        while k < 3 {
            tables[k][x] = polymod_zeros((x as u32) << (10 * k), 8);
            k += 1;
        }
        tables[3][x] = polymod_zeros(x as u32, 6);
        x += 1;
    }
    tables
};

/// The residue of a valid Bech32 (not Bech32m) checksum.
const BECH32_CONST: u32 = 1;

/// One step of the BIP-173 checksum: shift in one 5-bit value.
#[inline(always)]
const fn polymod_step(chk: u32, value: u8) -> u32 {
    GEN_TABLE[(chk >> 25) as usize] ^ (((chk & 0x01ff_ffff) << 5) ^ value as u32)
}

/// `steps` steps of zeros.
const fn polymod_zeros(mut chk: u32, steps: usize) -> u32 {
    let mut i = 0;
    while i < steps {
        chk = polymod_step(chk, 0);
        i += 1;
    }
    chk
}

/// Eight steps, for the eight values packed big-endian in the low 40 bits
/// of `group`.
#[inline(always)]
fn polymod_step8(chk: u32, group: u64) -> u32 {
    let t = &GEN_TABLE8;
    // The group's part first: it does not wait for `chk`.
    let fed = t[3][((group >> 30) & 0x3ff) as usize] ^ (group & 0x3fff_ffff) as u32;
    (t[0][(chk & 0x3ff) as usize] ^ t[1][((chk >> 10) & 0x3ff) as usize])
        ^ (t[2][((chk >> 20) & 0x3ff) as usize] ^ fed)
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

/// Per position in a group of eight characters, each byte's value already
/// shifted to its place in the group's 40 bits (big-endian: the first
/// value in the top 5 bits), and its [`CHARSET_REV`] flags in the top byte.
/// OR-ing a group's eight entries gives both the packed group and the
/// flags, with one lookup per character.
const GROUP_TABLE: [[u64; 256]; 8] = {
    let mut tables = [[0u64; 256]; 8];
    let mut pos = 0;
    while pos < 8 {
        let mut c = 0;
        while c < 256 {
            let rev = CHARSET_REV[c] as u64;
            tables[pos][c] = ((rev & 0x1f) << (35 - 5 * pos)) | ((rev & 0xe0) << 56);
            c += 1;
        }
        pos += 1;
    }
    tables
};

/// The group's bits in a [`GROUP_TABLE`] OR.
const GROUP_BITS: u64 = (1 << 40) - 1;

/// The OR of the [`GROUP_TABLE`] entries of up to eight characters.
#[inline(always)]
fn group_entries(chars: &[u8]) -> u64 {
    GROUP_TABLE
        .iter()
        .zip(chars)
        .fold(0, |acc, (table, &c)| acc | table[usize::from(c)])
}

/// One pass over the data characters: their values packed big-endian into
/// `packed` (eight values to five bytes, the last group zero-padded; it
/// must hold `chars.len().div_ceil(8) * 5` bytes), and the checksum carried
/// on from `chk`. Returns the checksum and the OR of the characters' flags.
///
/// The data part starts on a byte boundary of the signed message, so the
/// message needs no pass of its own: its bytes are the packed groups (see
/// [`super::parse::signing_hash_packed`]). The fields are read from them
/// too ([`Values`]).
fn scan_data(chars: &[u8], mut chk: u32, packed: &mut [u8]) -> (u32, u8) {
    let mut flags = 0u64;
    let (groups, rest) = chars.as_chunks::<8>();
    let (out, _) = packed.as_chunks_mut::<5>();
    for (c, p) in groups.iter().zip(out.iter_mut()) {
        let entries = group_entries(c);
        flags |= entries;
        let group = entries & GROUP_BITS;
        chk = polymod_step8(chk, group);
        p.copy_from_slice(&group.to_be_bytes()[3..]);
    }
    if let Some(p) = out.get_mut(groups.len()) {
        let entries = group_entries(rest);
        flags |= entries;
        let group = entries & GROUP_BITS;
        for i in 0..rest.len() {
            chk = polymod_step(chk, (group >> (35 - 5 * i)) as u8 & 0x1f);
        }
        p.copy_from_slice(&group.to_be_bytes()[3..]);
    }
    (chk, (flags >> 56) as u8)
}

/// A checked Bech32 string, split.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Decoded<'a> {
    /// The human-readable part in lower case (borrowed if it already is).
    pub hrp: Cow<'a, str>,
    /// The data part without the checksum.
    pub data: PackedValues,
}

/// Splits and checks a Bech32 string.
pub(crate) fn decode(s: &str) -> Result<Decoded<'_>, Bech32Error> {
    let bytes = s.as_bytes();
    // The separator is the last `1`. Look for the first one (near the start
    // of an invoice, where the scan is short); a later `1` is not in the
    // charset, so the scan flags it and the slow path takes over.
    let first = bytes
        .iter()
        .position(|&b| b == b'1')
        .ok_or_else(|| first_error(s).unwrap_or(Bech32Error::MissingSeparator))?;
    let scan = |sep: usize| {
        let (hrp, rest) = (&bytes[..sep], &bytes[sep + 1..]);
        let mut packed = vec![0; rest.len().div_ceil(8) * 5];
        let (chk, flags) = scan_data(rest, hrp_polymod(hrp), &mut packed);
        (chk, flags, packed)
    };
    let mut sep = first;
    let (mut chk, mut flags, mut packed) = scan(sep);
    if flags & INVALID != 0 {
        let last = bytes.iter().rposition(|&b| b == b'1').unwrap_or(first);
        if last != first {
            sep = last;
            (chk, flags, packed) = scan(sep);
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
    if chk != BECH32_CONST {
        return Err(Bech32Error::InvalidChecksum);
    }
    let mut data = PackedValues {
        bytes: packed,
        len: rest.len(),
    };
    data.truncate(rest.len() - 6);
    let hrp = &s[..sep];
    let hrp = if flags & UPPER != 0 {
        Cow::Owned(hrp.to_ascii_lowercase())
    } else {
        Cow::Borrowed(hrp)
    };
    Ok(Decoded { hrp, data })
}

/// Writes `hrp` (lower case ASCII), `1`, the data characters and the
/// checksum. `data` yields 5-bit values.
pub(crate) fn encode_to_fmt(
    f: &mut dyn fmt::Write,
    hrp: &str,
    data: impl IntoIterator<Item = u8>,
) -> fmt::Result {
    f.write_str(hrp)?;
    f.write_char('1')?;
    let mut chk = hrp_polymod(hrp.as_bytes());
    for v in data {
        let v = v & 0x1f;
        chk = polymod_step(chk, v);
        f.write_char(char::from(CHARSET[usize::from(v)]))?;
    }
    chk = polymod_zeros(chk, 6) ^ BECH32_CONST;
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
/// data is read). Returns the bits after the last full byte: how many
/// (fewer than eight) and their value, for a reader that checks them
/// (BOLT 12's text form).
#[inline]
pub(crate) fn for_each_byte(data: &[u8], pad: bool, mut sink: impl FnMut(u8)) -> (u32, u32) {
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
    (bits, acc & ((1 << bits) - 1))
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

/// 5-bit values stored packed: big-endian, eight values to five bytes, the
/// last byte zero-padded. This is how the signed message holds an
/// invoice's data part (BOLT 11, "Data Part"), in five eighths of the space
/// of one value per byte.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PackedValues {
    /// `len * 5` bits, then zero bits to the end of the last byte.
    bytes: Vec<u8>,
    len: usize,
}

impl PackedValues {
    /// Packs values given one per byte (their low 5 bits).
    pub(crate) fn from_values(values: &[u8]) -> PackedValues {
        let mut bytes = Vec::with_capacity(values.len().div_ceil(8) * 5);
        for_each_chunk(values, true, |b| bytes.extend_from_slice(b));
        PackedValues {
            bytes,
            len: values.len(),
        }
    }

    /// The packed bytes: the values' bits, then zero padding to a byte.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// All the values.
    pub(crate) fn values(&self) -> Values<'_> {
        Values {
            bytes: &self.bytes,
            start: 0,
            len: self.len,
        }
    }

    /// Keeps the first `len` values (and zeroes the bits after them).
    fn truncate(&mut self, len: usize) {
        let bits = len.min(self.len) * 5;
        self.len = bits / 5;
        self.bytes.truncate(bits.div_ceil(8));
        if let Some(last) = self.bytes.last_mut() {
            if !bits.is_multiple_of(8) {
                *last &= 0xff << (8 - bits % 8);
            }
        }
    }
}

/// A run of values inside [`PackedValues`]: where a field's data is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Values<'a> {
    bytes: &'a [u8],
    /// The index of the first value.
    start: usize,
    len: usize,
}

impl<'a> Values<'a> {
    /// How many values.
    pub(crate) fn len(self) -> usize {
        self.len
    }

    /// Value `i`, which must be below [`len`](Self::len).
    pub(crate) fn get(self, i: usize) -> u8 {
        debug_assert!(i < self.len);
        let bit = (self.start + i) * 5;
        let hi = self.bytes[bit / 8];
        let lo = self.bytes.get(bit / 8 + 1).copied().unwrap_or(0);
        (u16::from_be_bytes([hi, lo]) >> (11 - bit % 8)) as u8 & 0x1f
    }

    /// Values `start..start + len` of these, which must lie within them.
    pub(crate) fn slice(self, start: usize, len: usize) -> Values<'a> {
        debug_assert!(start + len <= self.len);
        Values {
            bytes: self.bytes,
            start: self.start + start,
            len,
        }
    }

    /// The values in order.
    pub(crate) fn iter(self) -> impl DoubleEndedIterator<Item = u8> + 'a {
        (0..self.len).map(move |i| self.get(i))
    }

    /// One value per byte.
    pub(crate) fn to_vec(self) -> Vec<u8> {
        self.iter().collect()
    }

    /// How many whole bytes the values' bits make (trailing bits dropped).
    pub(crate) fn byte_len(self) -> usize {
        self.len * 5 / 8
    }

    /// Fills `out`, at most [`byte_len`](Self::byte_len) long, with the
    /// values' bits. The values need not start on a byte boundary: each
    /// output byte straddles two packed ones, taken seven at a time from an
    /// eight-byte window.
    pub(crate) fn read_bytes(self, out: &mut [u8]) {
        debug_assert!(out.len() <= self.byte_len());
        let bit = self.start * 5;
        let src = &self.bytes[bit / 8..];
        let shift = bit % 8;
        let mut done = 0;
        for (k, chunk) in out.as_chunks_mut::<7>().0.iter_mut().enumerate() {
            let Some(window) = src[7 * k..].first_chunk::<8>() else {
                break;
            };
            chunk.copy_from_slice(&(u64::from_be_bytes(*window) << shift).to_be_bytes()[..7]);
            done += 7;
        }
        for (j, b) in out.iter_mut().enumerate().skip(done) {
            let window = [src[j], src.get(j + 1).copied().unwrap_or(0)];
            *b = (u16::from_be_bytes(window) << shift >> 8) as u8;
        }
    }

    /// Field data as bytes: trailing partial bits dropped.
    pub(crate) fn to_bytes(self) -> Vec<u8> {
        let mut out = vec![0; self.byte_len()];
        self.read_bytes(&mut out);
        out
    }

    /// Fixed-size field data; `None` unless the values pack into exactly
    /// `N` bytes (plus fewer than 5 padding bits).
    pub(crate) fn to_array<const N: usize>(self) -> Option<[u8; N]> {
        if self.byte_len() != N || (self.len * 5) % 8 >= 5 {
            return None;
        }
        let mut out = [0u8; N];
        self.read_bytes(&mut out);
        Some(out)
    }

    /// A big-endian unsigned integer; `None` on overflow.
    pub(crate) fn to_u64(self) -> Option<u64> {
        let mut v: u64 = 0;
        for d in self.iter() {
            if v >> 59 != 0 {
                return None;
            }
            v = (v << 5) | u64::from(d);
        }
        Some(v)
    }
}

/// Appends bytes as 5-bit values, zero-padding the last one.
pub(crate) fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    for_each_value(bytes, |v| out.push(v));
}

/// Unpacks bytes into 5-bit values, big-endian, calling `sink` with each;
/// the last is completed with zero bits.
#[inline]
pub(crate) fn for_each_value(bytes: &[u8], mut sink: impl FnMut(u8)) {
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            sink(((acc >> bits) & 0x1f) as u8);
        }
    }
    if bits > 0 {
        sink(((acc << (5 - bits)) & 0x1f) as u8);
    }
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
    use proptest::prelude::*;

    fn encode(hrp: &str, data: Values<'_>) -> String {
        let mut s = String::new();
        encode_to_fmt(&mut s, hrp, data.iter()).unwrap();
        s
    }

    /// BIP-173's `bech32_polymod`, bit by bit, without any table.
    fn reference_step(chk: u32, v: u8) -> u32 {
        const GEN: [u32; 5] = [
            0x3b6a_57b2,
            0x2650_8e6d,
            0x1ea1_19fa,
            0x3d42_33dd,
            0x2a14_62b3,
        ];
        let top = chk >> 25;
        let mut chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
        chk
    }

    fn reference_polymod(chk: u32, values: &[u8]) -> u32 {
        values.iter().fold(chk, |c, v| reference_step(c, *v))
    }

    /// The values of a group, first value first.
    fn ungroup(group: u64) -> [u8; 8] {
        core::array::from_fn(|i| (group >> (35 - 5 * i)) as u8 & 0x1f)
    }

    /// Packing by the plain bit-by-bit definition.
    fn reference_bytes(values: &[u8], pad: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for_each_byte(values, pad, |b| out.push(b));
        out
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
            let d = decode(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(encode(&d.hrp, d.data.values()), s.to_ascii_lowercase());
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

    /// The tables against the bitwise definition: every single step, and
    /// for eight steps every entry of every table. The eight-step function
    /// XORs one entry per table, and each table is linear in its index, so
    /// this covers every state and every group.
    #[test]
    fn tables_match_the_definition() {
        for chk in 0..1u32 << 15 {
            for v in 0..32 {
                let chk = chk << 15 | chk;
                assert_eq!(polymod_step(chk, v), reference_step(chk, v));
            }
        }
        for x in 0..1024u64 {
            for k in 0..3 {
                let chk = (x as u32) << (10 * k);
                assert_eq!(
                    polymod_step8(chk, 0),
                    reference_polymod(chk, &[0; 8]),
                    "state {chk:#x}"
                );
            }
            for group in [x << 30, x << 30 | 0x3fff_ffff, x * 0x4010_0401] {
                let group = group & GROUP_BITS;
                assert_eq!(
                    polymod_step8(0, group),
                    reference_polymod(0, &ungroup(group)),
                    "group {group:#x}"
                );
            }
        }
        for (pos, table) in GROUP_TABLE.iter().enumerate() {
            for (c, entry) in table.iter().enumerate() {
                let mut values = [0; 8];
                values[pos] = CHARSET_REV[c] & 0x1f;
                assert_eq!(ungroup(*entry), values);
                assert_eq!(*entry & !GROUP_BITS, u64::from(CHARSET_REV[c] & 0xe0) << 56);
            }
        }
    }

    #[test]
    fn bit_conversions() {
        let mut v = Vec::new();
        push_bytes(&mut v, &[0xff, 0x01]);
        assert_eq!(v, [31, 28, 0, 16]);
        let packed = PackedValues::from_values(&v);
        assert_eq!(packed.values().to_bytes(), [0xff, 0x01]);
        let mut w = Vec::new();
        push_u64_minimal(&mut w, 60);
        assert_eq!(w, [1, 28]);
        let to_u64 = |v: &[u8]| PackedValues::from_values(v).values().to_u64();
        assert_eq!(to_u64(&w), Some(60));
        assert_eq!(to_u64(&[31; 13]), None);
        assert_eq!(to_u64(&[0; 40]), Some(0));
        w.clear();
        push_u64_minimal(&mut w, 0);
        assert!(w.is_empty());
    }

    fn charset_string(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(0..32usize, 0..max)
            .prop_map(|v| v.into_iter().map(|i| CHARSET[i]).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The one-pass scan against the definitions: the checksum step by
        /// step, the packing bit by bit.
        #[test]
        fn scan_matches_the_definition(chars in charset_string(300), chk in 0..1u32 << 30) {
            let mut packed = vec![0; chars.len().div_ceil(8) * 5];
            let (got, flags) = scan_data(&chars, chk, &mut packed);
            let values: Vec<u8> = chars.iter().map(|c| CHARSET_REV[usize::from(*c)] & 0x1f).collect();
            prop_assert_eq!(got, reference_polymod(chk, &values));
            prop_assert_eq!(flags & !LOWER, 0);
            let expected = reference_bytes(&values, true);
            prop_assert_eq!(&packed[..expected.len()], &expected[..]);
            prop_assert!(packed[expected.len()..].iter().all(|b| *b == 0));
        }

        /// Any byte in the input sets the flags it should.
        #[test]
        fn scan_flags(chars in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut packed = vec![0; chars.len().div_ceil(8) * 5];
            let (_, flags) = scan_data(&chars, 1, &mut packed);
            prop_assert_eq!(flags, chars.iter().fold(0, |f, c| f | (CHARSET_REV[usize::from(*c)] & 0xe0)));
        }

        /// Decoding agrees with the definition for any valid string, in
        /// either case, and gives back the values and canonical packing.
        #[test]
        fn decode_round_trips(values in proptest::collection::vec(0..32u8, 0..200), upper in any::<bool>()) {
            let mut s = String::new();
            encode_to_fmt(&mut s, "lnbc", values.iter().copied()).unwrap();
            if upper {
                s.make_ascii_uppercase();
            }
            let d = decode(&s).unwrap();
            prop_assert_eq!(&d.hrp, "lnbc");
            prop_assert_eq!(d.data.values().to_vec(), values.clone());
            prop_assert_eq!(&d.data, &PackedValues::from_values(&values));
            let mut chk = hrp_polymod(b"lnbc");
            chk = reference_polymod(chk, &values);
            let s = s.to_ascii_lowercase();
            let checksum: Vec<u8> = s.bytes().rev().take(6).map(|c| CHARSET_REV[usize::from(c)] & 0x1f).collect();
            let checksum: Vec<u8> = checksum.into_iter().rev().collect();
            prop_assert_eq!(reference_polymod(chk, &checksum), BECH32_CONST);
        }

        /// Reading a run of values at any offset, against the values one
        /// per byte.
        #[test]
        fn values_read_at_any_offset(
            values in proptest::collection::vec(0..32u8, 0..300),
            a in any::<proptest::sample::Index>(),
            b in any::<proptest::sample::Index>(),
        ) {
            let packed = PackedValues::from_values(&values);
            let all = packed.values();
            let start = a.index(values.len() + 1);
            let len = b.index(values.len() - start + 1);
            let run = &values[start..start + len];
            let view = all.slice(start, len);
            prop_assert_eq!(view.to_vec(), run.to_vec());
            prop_assert_eq!(view.to_bytes(), reference_bytes(run, false));
            if len <= 12 {
                let expected = run.iter().fold(0u64, |acc, v| acc << 5 | u64::from(*v));
                prop_assert_eq!(view.to_u64(), Some(expected));
            }
        }

        /// Truncation leaves the same bytes as packing the shorter run.
        #[test]
        fn truncate_is_canonical(values in proptest::collection::vec(0..32u8, 0..100), n in 0..100usize) {
            let mut packed = PackedValues::from_values(&values);
            packed.truncate(n);
            let n = n.min(values.len());
            prop_assert_eq!(packed, PackedValues::from_values(&values[..n]));
        }
    }
}
