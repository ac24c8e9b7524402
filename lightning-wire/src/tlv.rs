//! TLV streams (BOLT 1, "Type-Length-Value Format").
//!
//! A stream is a sequence of `(BigSize type, BigSize length, value)` records
//! with strictly increasing types. A reader of a namespace decodes the types
//! it knows, keeps unknown odd records ("it's OK to be odd") and fails on an
//! unknown even one. [`TlvStreamReader`] and [`TlvStreamWriter`] do that work
//! for every message extension, onion payload and stored record.
//!
//! ```
//! use lightning_wire::tlv::{TlvStreamReader, TlvStreamWriter};
//! use lightning_wire::types::Tu64;
//! use lightning_wire::Reader;
//!
//! let mut w = TlvStreamWriter::new();
//! w.put(1, &Tu64(550));
//! let bytes = w.into_bytes();
//! assert_eq!(bytes, [0x01, 0x02, 0x02, 0x26]);
//!
//! let mut r = TlvStreamReader::parse(&mut Reader::new(&bytes)).unwrap();
//! let amount: Option<Tu64> = r.take(1, "amount_msat").unwrap();
//! assert_eq!(amount, Some(Tu64(550)));
//! assert!(r.finish().unwrap().is_empty());
//! ```

use crate::bigsize::BigSize;
use crate::codec::{Decode, DecodeError, DecodeErrorKind, Encode, Reader};

/// One record kept verbatim: an unknown odd type, written back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TlvRecord {
    /// The record's type.
    #[cfg_attr(feature = "serde", serde(rename = "type"))]
    pub r#type: u64,
    /// The record's value.
    #[cfg_attr(feature = "serde", serde(with = "crate::types::serde_hex"))]
    pub value: Vec<u8>,
}

/// Unknown odd records of a stream, in increasing type order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct UnknownTlvs(pub Vec<TlvRecord>);

impl UnknownTlvs {
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A stream in a namespace that defines no types: the extension of a message
/// that has no TLVs of its own (BOLT 1, "Lightning Message Format"). Odd
/// records are kept; any even record fails the stream.
impl Encode for UnknownTlvs {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut w = TlvStreamWriter::new();
        w.put_unknown(self);
        w.write(out);
    }
}

/// Reads every remaining byte as a TLV stream with no known types.
impl Decode for UnknownTlvs {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        TlvStreamReader::parse(reader)?.finish()
    }
}

/// Reads a whole TLV stream, checking its framing, and hands out its records
/// by type.
#[derive(Debug)]
pub struct TlvStreamReader<'a> {
    records: Vec<(u64, &'a [u8])>,
}

impl<'a> TlvStreamReader<'a> {
    /// Reads every remaining byte of `reader` as a TLV stream.
    ///
    /// Fails on a truncated or non-canonical type or length, a length past the
    /// end of the stream, and types that are not strictly increasing (BOLT 1:
    /// the reader "MUST fail to parse the stream" in each of these cases).
    pub fn parse(reader: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let mut records = Vec::new();
        let mut previous: Option<u64> = None;
        while !reader.is_empty() {
            let BigSize(ty) = reader.read::<BigSize>().map_err(|e| e.at("type"))?;
            let BigSize(len) = reader.read::<BigSize>().map_err(|e| e.at("length"))?;
            let len = usize::try_from(len).map_err(|_| {
                DecodeError::new(DecodeErrorKind::ShortRead {
                    needed: usize::MAX,
                    available: reader.remaining(),
                })
            })?;
            let value = reader.read_bytes(len).map_err(|e| e.at("value"))?;
            if let Some(prev) = previous {
                if ty == prev {
                    return Err(DecodeErrorKind::TlvDuplicate(ty).into());
                }
                if ty < prev {
                    return Err(DecodeErrorKind::TlvOutOfOrder {
                        previous: prev,
                        current: ty,
                    }
                    .into());
                }
            }
            previous = Some(ty);
            records.push((ty, value));
        }
        Ok(TlvStreamReader { records })
    }

    /// Takes the raw value of record `ty`, if present.
    pub fn take_raw(&mut self, ty: u64) -> Option<&'a [u8]> {
        let pos = self.records.iter().position(|(t, _)| *t == ty)?;
        Some(self.records.remove(pos).1)
    }

    /// Takes every record whose type is `from` or above, in order.
    pub fn take_from(&mut self, from: u64) -> Vec<(u64, &'a [u8])> {
        let at = self.records.partition_point(|(t, _)| *t < from);
        self.records.split_off(at)
    }

    /// Decodes record `ty` as a `T` that must span its whole value; `name` is
    /// used in errors.
    pub fn take<T: Decode>(
        &mut self,
        ty: u64,
        name: &'static str,
    ) -> Result<Option<T>, DecodeError> {
        match self.take_raw(ty) {
            None => Ok(None),
            Some(value) => T::from_bytes(value).map(Some).map_err(|e| e.at(name)),
        }
    }

    /// Decodes record `ty` with a custom function over its value, which must
    /// consume all of it.
    pub fn take_with<T>(
        &mut self,
        ty: u64,
        name: &'static str,
        f: impl FnOnce(&mut Reader<'a>) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        match self.take_raw(ty) {
            None => Ok(None),
            Some(value) => {
                let mut r = Reader::new(value);
                let v = f(&mut r).map_err(|e| e.at(name))?;
                r.finish().map_err(|e| e.at(name))?;
                Ok(Some(v))
            }
        }
    }

    /// Ends reading: any record left with an even type is an error, odd ones
    /// are returned to be kept.
    pub fn finish(self) -> Result<UnknownTlvs, DecodeError> {
        let mut unknown = Vec::new();
        for (ty, value) in self.records {
            if ty % 2 == 0 {
                return Err(DecodeErrorKind::TlvUnknownEvenType(ty).into());
            }
            unknown.push(TlvRecord {
                r#type: ty,
                value: value.to_vec(),
            });
        }
        Ok(UnknownTlvs(unknown))
    }
}

/// Collects records in any order and writes them as a canonical stream.
///
/// The values are encoded into one buffer as they are put (two
/// allocations a stream, not one a record).
#[derive(Debug, Default)]
pub struct TlvStreamWriter {
    /// `(type, start, end)` of each record's value in `buf`.
    records: Vec<(u64, usize, usize)>,
    buf: Vec<u8>,
}

impl TlvStreamWriter {
    /// An empty stream.
    pub fn new() -> Self {
        TlvStreamWriter::default()
    }

    /// Adds record `ty` holding the encoding of `value`.
    pub fn put<T: Encode + ?Sized>(&mut self, ty: u64, value: &T) {
        let start = self.buf.len();
        value.encode(&mut self.buf);
        self.records.push((ty, start, self.buf.len()));
    }

    /// Adds record `ty` if `value` is `Some`.
    pub fn put_opt<T: Encode>(&mut self, ty: u64, value: Option<&T>) {
        if let Some(v) = value {
            self.put(ty, v);
        }
    }

    /// Adds record `ty` with a raw value.
    pub fn put_raw(&mut self, ty: u64, value: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(value);
        self.records.push((ty, start, self.buf.len()));
    }

    /// Adds the kept unknown records.
    pub fn put_unknown(&mut self, unknown: &UnknownTlvs) {
        for r in &unknown.0 {
            self.put_raw(r.r#type, &r.value);
        }
    }

    /// Writes the records in increasing type order.
    ///
    /// If two records share a type, only the one put first is written: a
    /// decoded stream never holds duplicates, so this can only come from a
    /// hand-built value (for example a kept "unknown" record that reuses a
    /// known type), and writing both would make a stream no reader accepts.
    pub fn write(mut self, out: &mut Vec<u8>) {
        // A stable sort keeps records of one type in the order they were put.
        self.records.sort_by_key(|(t, _, _)| *t);
        self.records.dedup_by_key(|(t, _, _)| *t);
        // Each record adds its type and length: at most 9 bytes each.
        out.reserve(self.buf.len() + self.records.len() * 18);
        for &(ty, start, end) in &self.records {
            BigSize(ty).encode(out);
            BigSize((end - start) as u64).encode(out);
            out.extend_from_slice(&self.buf[start..end]);
        }
    }

    /// Writes the stream into a new vector.
    pub fn into_bytes(self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }
}

/// Bytes that are the whole of a TLV value (a variable-length byte string).
impl Encode for Vec<u8> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

/// Reads every remaining byte: for a TLV value that is a byte string.
impl Decode for Vec<u8> {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(reader.read_rest().to_vec())
    }
}
