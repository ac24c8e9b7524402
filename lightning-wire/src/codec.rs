//! The encoding framework every codec in this crate is built on.
//!
//! [`Encode`] appends a value's wire form to a buffer; [`Decode`] reads one
//! from a [`Reader`] and returns a typed [`DecodeError`] on bad input. Nothing
//! here panics on untrusted input, and no decoder allocates more than the
//! input it was given.

use core::fmt;

/// A value with a canonical wire encoding.
pub trait Encode {
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// Returns the encoding of `self` as a new vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// A value that can be read from its wire encoding.
pub trait Decode: Sized {
    /// Reads one value from `reader`, leaving any bytes after it unread.
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes a value that must span all of `bytes`.
    ///
    /// ```
    /// use lightning_wire::{Decode, DecodeErrorKind};
    /// assert_eq!(u16::from_bytes(&[0x01, 0x02]).unwrap(), 0x0102);
    /// let err = u16::from_bytes(&[0x01, 0x02, 0x03]).unwrap_err();
    /// assert_eq!(err.kind(), &DecodeErrorKind::TrailingBytes(1));
    /// ```
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let value = Self::decode(&mut reader)?;
        reader.finish()?;
        Ok(value)
    }
}

/// A cursor over untrusted input.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    /// The number of bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.data.len()
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The unread bytes, without consuming them.
    pub fn peek_rest(&self) -> &'a [u8] {
        self.data
    }

    /// Reads exactly `n` bytes.
    pub fn read_bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.data.len() {
            return Err(DecodeError::new(DecodeErrorKind::ShortRead {
                needed: n,
                available: self.data.len(),
            }));
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }

    /// Reads a fixed-size array.
    pub fn read_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.read_bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// Reads all remaining bytes.
    pub fn read_rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.data)
    }

    /// Reads a `u16` length followed by that many bytes (the BOLT 1
    /// `[u16:len][len*byte:data]` pattern).
    pub fn read_u16_prefixed(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = u16::decode(self)?;
        self.read_bytes(usize::from(len))
    }

    /// Reads one value of type `T`.
    pub fn read<T: Decode>(&mut self) -> Result<T, DecodeError> {
        T::decode(self)
    }

    /// Reads one value of type `T`, naming `field` in any error.
    pub fn read_field<T: Decode>(&mut self, field: &'static str) -> Result<T, DecodeError> {
        T::decode(self).map_err(|e| e.at(field))
    }

    /// Fails unless every byte has been read.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.data.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::new(DecodeErrorKind::TrailingBytes(
                self.data.len(),
            )))
        }
    }
}

/// The most bytes one message (type included) can have: BOLT 8 frames a
/// message with a `u16` length ("Lightning Message Specification"), and
/// BOLT 1 "Lightning Message Format" builds every message inside one frame.
pub const MAX_MESSAGE_LEN: usize = 65535;

/// Appends `[u16:len][len*byte:data]`.
///
/// Never panics. Data longer than 65535 bytes cannot be framed: the length
/// is then written as 65535 and *all* the data follows, so the field is not
/// decodable and, since it alone is longer than [`MAX_MESSAGE_LEN`], so is
/// any message holding it. [`Message::encode`](crate::msgs::Message::encode)
/// refuses exactly such messages with [`EncodeError::MessageTooLong`]; the
/// bytes of a single field are never silently cut.
pub fn write_u16_prefixed(out: &mut Vec<u8>, data: &[u8]) {
    saturating_u16(data.len()).encode(out);
    out.extend_from_slice(data);
}

/// `len` as a `u16` length or count, 65535 when it does not fit (see
/// [`write_u16_prefixed`]).
pub fn saturating_u16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

/// Why a message cannot be encoded for the wire. Encoding never panics: a
/// value no message can carry (a field longer than its length prefix, a
/// message longer than a transport frame) is this error instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The encoded message is longer than [`MAX_MESSAGE_LEN`]. Every
    /// `u16`-prefixed field or count that overflows its prefix lands here,
    /// because such a field alone is longer than a message can be.
    #[error("{message}: {len} bytes encoded, more than the {MAX_MESSAGE_LEN} a message can carry")]
    MessageTooLong {
        /// The spec name of the message.
        message: &'static str,
        /// Its encoded length, type included.
        len: usize,
    },
    /// A field longer than its own (shorter than `u16`) length prefix
    /// allows, for example a DNS hostname of more than 255 bytes in
    /// `node_announcement`.
    #[error("{message}.{field}: {len} bytes, more than the {max} its length prefix allows")]
    FieldTooLong {
        /// The spec name of the message.
        message: &'static str,
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The most it may have.
        max: usize,
    },
}

/// What went wrong while decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended before the value did.
    #[error("short read: needed {needed} bytes, {available} available")]
    ShortRead {
        /// Bytes the value needed.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// Bytes were left after a value that must span its input.
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
    /// A BigSize was not minimally encoded (BOLT 1, "Appendix A").
    #[error("non-canonical BigSize")]
    NonCanonicalBigSize,
    /// A truncated integer (`tu16`, `tu32`, `tu64`) had a leading zero byte
    /// or was longer than its type.
    #[error("non-minimal or oversized truncated integer")]
    NonMinimalTruncatedInt,
    /// 33 bytes that are not a valid compressed secp256k1 point.
    #[error("invalid point")]
    InvalidPoint,
    /// 64 bytes that are not a valid compact ECDSA signature.
    #[error("invalid signature")]
    InvalidSignature,
    /// TLV types were not strictly increasing.
    #[error("TLV type {current} follows type {previous}: types must be strictly increasing")]
    TlvOutOfOrder {
        /// The type before.
        previous: u64,
        /// The offending type.
        current: u64,
    },
    /// The same TLV type appeared twice.
    #[error("duplicate TLV type {0}")]
    TlvDuplicate(u64),
    /// An even TLV type this namespace does not know ("it's OK to be odd").
    #[error("unknown even TLV type {0}")]
    TlvUnknownEvenType(u64),
    /// A message type that is even and unknown: BOLT 1 says the receiver
    /// MUST fail the connection.
    #[error("unknown even message type {0}: the connection must be failed")]
    UnknownEvenMessageType(u16),
    /// The message is shorter than its two-byte type.
    #[error("message shorter than its type field")]
    MissingMessageType,
    /// A field holds a value its type does not allow.
    #[error("invalid value: {0}")]
    InvalidValue(String),
}

/// A decoding failure: what went wrong, and where (outermost name first, for
/// example `open_channel.tlv.upfront_shutdown_script`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    kind: DecodeErrorKind,
    path: Vec<&'static str>,
}

impl DecodeError {
    /// A new error with no location yet.
    pub fn new(kind: DecodeErrorKind) -> Self {
        DecodeError {
            kind,
            path: Vec::new(),
        }
    }

    /// An [`DecodeErrorKind::InvalidValue`] error.
    pub fn invalid(reason: impl Into<String>) -> Self {
        DecodeError::new(DecodeErrorKind::InvalidValue(reason.into()))
    }

    /// Adds an enclosing name (a field, TLV record or message) to the path.
    #[must_use]
    pub fn at(mut self, name: &'static str) -> Self {
        self.path.insert(0, name);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &DecodeErrorKind {
        &self.kind
    }

    /// Where, outermost name first.
    pub fn path(&self) -> &[&'static str] {
        &self.path
    }

    /// Whether this error means the connection must be failed because the
    /// peer sent an unknown even message type (BOLT 1, "Lightning Message
    /// Format").
    pub fn is_unknown_even_message(&self) -> bool {
        matches!(self.kind, DecodeErrorKind::UnknownEvenMessageType(_))
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.path.join("."), self.kind)
        }
    }
}

impl std::error::Error for DecodeError {}

impl From<DecodeErrorKind> for DecodeError {
    fn from(kind: DecodeErrorKind) -> Self {
        DecodeError::new(kind)
    }
}

/// Adds location context to decoding results.
pub trait ResultExt<T> {
    /// Names the enclosing field, record or message of any error.
    fn at(self, name: &'static str) -> Result<T, DecodeError>;
}

impl<T> ResultExt<T> for Result<T, DecodeError> {
    fn at(self, name: &'static str) -> Result<T, DecodeError> {
        self.map_err(|e| e.at(name))
    }
}
