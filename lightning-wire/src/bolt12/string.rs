//! The text form of BOLT 12 messages (BOLT 12, "Encoding"): a
//! human-readable prefix, `1`, then the TLV stream in bech32's 5-bit
//! alphabet with no checksum, optionally split by `+` and whitespace.

use bech32::Fe32;

use super::Bolt12Error;
use crate::bolt11::bech32::{char_of, for_each_byte, for_each_value};

/// The longest string we read: 16 KiB of text is over 10 KB of TLVs, far
/// more than any offer, request or invoice needs, and it bounds the work a
/// hostile string can cause.
pub const MAX_STRING_LEN: usize = 16 * 1024;

/// Reads a BOLT 12 string whose prefix must be `hrp` (`lno`, `lnr` or
/// `lni`), returning the TLV bytes.
///
/// BOLT 12 "Encoding", readers: "MUST handle strings which are all
/// lowercase, or all uppercase" (mixed case is refused) and "if it
/// encounters a `+` followed by zero or more whitespace characters between
/// two bech32 characters: MUST remove the `+` and whitespace". A `+`
/// anywhere else (first, last, or beside another `+`) is refused. The
/// padding left when 5-bit groups are read as bytes must be at most 4 bits
/// and zero.
pub fn decode(s: &str, hrp: &str) -> Result<Vec<u8>, Bolt12Error> {
    if s.len() > MAX_STRING_LEN {
        return Err(Bolt12Error::Encoding(format!(
            "string of {} bytes is longer than {MAX_STRING_LEN}",
            s.len()
        )));
    }
    let joined = join(s)?;
    let has_lower = joined.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = joined.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper {
        return Err(Bolt12Error::Encoding("mixed case".into()));
    }
    let lower = joined.to_ascii_lowercase();
    let (prefix, data) = lower
        .rsplit_once('1')
        .ok_or_else(|| Bolt12Error::Encoding("no separator `1`".into()))?;
    if prefix != hrp {
        return Err(Bolt12Error::Encoding(format!(
            "prefix `{prefix}`, expected `{hrp}`"
        )));
    }
    from_base32(data)
}

/// Writes `bytes` as a lowercase BOLT 12 string with prefix `hrp`, in one
/// piece (no `+`).
pub fn encode(hrp: &str, bytes: &[u8]) -> String {
    let mut out = String::with_capacity(hrp.len() + 1 + (bytes.len() * 8).div_ceil(5));
    out.push_str(hrp);
    out.push('1');
    for_each_value(bytes, |v| out.push(char_of(v)));
    out
}

/// Removes each `+` and the whitespace after it, checking that every `+`
/// stands between two bech32 characters.
fn join(s: &str) -> Result<String, Bolt12Error> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '+' {
            let before_ok = out.chars().last().is_some_and(is_bech32_char);
            let mut j = i + 1;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let after_ok = chars.get(j).is_some_and(|c| is_bech32_char(*c));
            if !before_ok || !after_ok {
                return Err(Bolt12Error::Encoding(
                    "`+` must stand between two bech32 characters".into(),
                ));
            }
            i = j;
            continue;
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
}

/// A character of the bech32 alphabet, the prefix's letters, or the `1`.
fn is_bech32_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// The data characters as bytes: the 5-bit values packed big-endian, the
/// partial byte left at the end (at most 4 bits, all zero) dropped.
fn from_base32(data: &str) -> Result<Vec<u8>, Bolt12Error> {
    let values = data
        .chars()
        .map(|c| {
            Fe32::from_char(c)
                .map(Fe32::to_u8)
                .map_err(|_| Bolt12Error::Encoding(format!("`{c}` is not a bech32 character")))
        })
        .collect::<Result<Vec<u8>, _>>()?;
    let mut out = Vec::with_capacity(values.len() * 5 / 8);
    let (bits, padding) = for_each_byte(&values, false, |b| out.push(b));
    if bits > 4 {
        return Err(Bolt12Error::Encoding(format!(
            "{bits} bits of padding (at most 4)"
        )));
    }
    if padding != 0 {
        return Err(Bolt12Error::Encoding("non-zero padding".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for n in 0..40usize {
            let bytes: Vec<u8> = (0..n as u8).map(|b| b.wrapping_mul(37)).collect();
            let s = encode("lno", &bytes);
            assert_eq!(decode(&s, "lno").unwrap(), bytes, "{n}");
            assert_eq!(decode(&s.to_uppercase(), "lno").unwrap(), bytes);
        }
    }

    #[test]
    fn wrong_prefix_and_garbage() {
        let s = encode("lno", &[1, 2, 3]);
        assert!(decode(&s, "lnr").is_err());
        assert!(decode("lno1b", "lno").is_err()); // `b` is not in the alphabet
        assert!(decode("lno", "lno").is_err());
        assert!(decode(&"q".repeat(MAX_STRING_LEN + 1), "lno").is_err());
    }
}
