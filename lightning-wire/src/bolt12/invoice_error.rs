//! `invoice_error` (BOLT 12, "Invoice Errors"): why an invoice request or
//! an invoice was refused, sent back along the onion message's
//! `reply_path`.

use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::tlv::{TlvStreamReader, TlvStreamWriter};
use crate::types::Tu64;

/// An `invoice_error`.
///
/// ```
/// use lightning_wire::bolt12::InvoiceError;
/// use lightning_wire::{Decode, Encode};
///
/// let e = InvoiceError::new("unknown offer").with_field(22, None);
/// assert_eq!(InvoiceError::from_bytes(&e.to_bytes()).unwrap(), e);
/// // LDK 0.2's form, with a length in front, is read too.
/// let ldk = [0x0e, 0x05, 0x0c, b'M', b'i', b's', b's', b'i', b'n', b'g', b'P', b'a', b't', b'h', b's'];
/// assert_eq!(InvoiceError::from_bytes(&ldk).unwrap().error, "MissingPaths");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceError {
    /// 1 `erroneous_field`: the TLV type at fault.
    pub erroneous_field: Option<u64>,
    /// 3 `suggested_value`: only with `erroneous_field`.
    pub suggested_value: Option<Vec<u8>>,
    /// 5 `error`: the explanation (BOLT 12: the writer "MUST set").
    pub error: String,
}

impl InvoiceError {
    /// An error with its explanation.
    pub fn new(error: impl Into<String>) -> InvoiceError {
        InvoiceError {
            erroneous_field: None,
            suggested_value: None,
            error: error.into(),
        }
    }

    /// Names the field at fault, and optionally a value that would do.
    #[must_use]
    pub fn with_field(mut self, field: u64, suggested: Option<Vec<u8>>) -> InvoiceError {
        self.erroneous_field = Some(field);
        self.suggested_value = suggested;
        self
    }
}

impl Encode for InvoiceError {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut w = TlvStreamWriter::new();
        w.put_opt(1, self.erroneous_field.map(Tu64).as_ref());
        // BOLT 12: without `erroneous_field`, "MUST NOT set
        // `suggested_value`".
        if self.erroneous_field.is_some() {
            if let Some(v) = &self.suggested_value {
                w.put_raw(3, v);
            }
        }
        w.put_raw(5, self.error.as_bytes());
        w.write(out);
    }
}

/// Reads the rest of the input as an `invoice_error` TLV stream.
///
/// LDK 0.2 writes the stream after a BigSize of its own length (seen in
/// `interop-ldk/tests/offers.rs`: `0e 05 0c "MissingPaths"`). A stream
/// that does not parse, but does once a leading BigSize equal to the
/// length of the rest is taken off, is read that way; one that parses as
/// BOLT 12 writes it is always read as such.
impl Decode for InvoiceError {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bytes = reader.read_rest();
        match Self::decode_stream(&mut Reader::new(bytes)) {
            Ok(e) => Ok(e),
            Err(first) => {
                let mut r = Reader::new(bytes);
                match r.read::<crate::bigsize::BigSize>() {
                    Ok(crate::bigsize::BigSize(n)) if n == r.remaining() as u64 => {
                        Self::decode_stream(&mut r).map_err(|_| first)
                    }
                    _ => Err(first),
                }
            }
        }
    }
}

impl InvoiceError {
    fn decode_stream(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut r = TlvStreamReader::parse(reader)?;
        let erroneous_field = r.take::<Tu64>(1, "erroneous_field")?.map(|t| t.0);
        // Without `erroneous_field` a writer "MUST NOT set
        // `suggested_value`": one sent anyway names no field, and is
        // dropped (so what we read writes back the same).
        let suggested_value = r
            .take_raw(3)
            .filter(|_| erroneous_field.is_some())
            .map(<[u8]>::to_vec);
        // The reader's rules are a FIXME in BOLT 12; a missing or non-UTF-8
        // `error` is read as an empty or lossy text rather than refused,
        // so the reason still reaches the user.
        let error = r
            .take_raw(5)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        r.finish()?;
        Ok(InvoiceError {
            erroneous_field,
            suggested_value,
            error,
        })
    }
}
