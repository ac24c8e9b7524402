//! BigSize, the variable-length integer of BOLT 1 ("Appendix A: BigSize").

use crate::codec::{Decode, DecodeError, DecodeErrorKind, Encode, Reader};

/// A `u64` in the BigSize encoding: one byte below `0xfd`, else a marker
/// (`0xfd`, `0xfe`, `0xff`) and a big-endian `u16`, `u32` or `u64`. Decoding
/// rejects any value that is not minimally encoded.
///
/// ```
/// use lightning_wire::{bigsize::BigSize, Decode, Encode};
/// assert_eq!(BigSize(0xfd).to_bytes(), [0xfd, 0x00, 0xfd]);
/// assert!(BigSize::from_bytes(&[0xfd, 0x00, 0xfc]).is_err()); // not minimal
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct BigSize(pub u64);

impl BigSize {
    /// The number of bytes the encoding of `value` takes.
    pub const fn encoded_len(value: u64) -> usize {
        match value {
            0..=0xfc => 1,
            0xfd..=0xffff => 3,
            0x1_0000..=0xffff_ffff => 5,
            _ => 9,
        }
    }
}

impl Encode for BigSize {
    fn encode(&self, out: &mut Vec<u8>) {
        let v = self.0;
        match v {
            0..=0xfc => out.push(v as u8),
            0xfd..=0xffff => {
                out.push(0xfd);
                out.extend_from_slice(&(v as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                out.push(0xfe);
                out.extend_from_slice(&(v as u32).to_be_bytes());
            }
            _ => {
                out.push(0xff);
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
    }
}

impl Decode for BigSize {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let first = u8::decode(reader)?;
        let (value, min) = match first {
            0xfd => (u64::from(u16::decode(reader)?), 0xfd),
            0xfe => (u64::from(u32::decode(reader)?), 0x1_0000),
            0xff => (u64::decode(reader)?, 0x1_0000_0000),
            b => return Ok(BigSize(u64::from(b))),
        };
        if value < min {
            return Err(DecodeErrorKind::NonCanonicalBigSize.into());
        }
        Ok(BigSize(value))
    }
}
