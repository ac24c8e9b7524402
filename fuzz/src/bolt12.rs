//! BOLT 12 readers: any bytes either fail with an error or give an offer,
//! invoice request, invoice or `invoice_error` that writes back to the
//! same bytes (the signed bytes are kept, never re-derived) and reads back
//! equal, in binary and in its text form.
//!
//! The first byte picks the reader: 0 offer, 1 invoice request, 2
//! invoice, 3 `invoice_error`, 4 a text string of any of the three.

use lightning_wire::bolt12::{Bolt12Invoice, InvoiceError, InvoiceRequest, Offer};
use lightning_wire::{Decode, Encode};

/// Fuzz entry point.
pub fn decode(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    match kind % 5 {
        0 => {
            if let Ok(o) = Offer::from_bytes(rest.to_vec()) {
                assert_eq!(o.as_bytes(), rest);
                assert_eq!(o.to_string().parse::<Offer>().as_ref(), Ok(&o));
                let _ = o.id();
                crate::reached_checks();
            }
        }
        1 => {
            if let Ok(r) = InvoiceRequest::from_bytes(rest.to_vec()) {
                assert_eq!(r.as_bytes(), rest);
                assert_eq!(r.to_string().parse::<InvoiceRequest>().as_ref(), Ok(&r));
                let _ = (r.amount_msat(), r.offer_bytes());
                crate::reached_checks();
            }
        }
        2 => {
            if let Ok(i) = Bolt12Invoice::from_bytes(rest.to_vec()) {
                assert_eq!(i.as_bytes(), rest);
                assert_eq!(i.to_string().parse::<Bolt12Invoice>().as_ref(), Ok(&i));
                assert!(i.usable_paths().count() > 0);
                let _ = (i.is_expired(u64::MAX), i.allows_mpp(), i.expires_at());
                crate::reached_checks();
            }
        }
        3 => {
            if let Ok(e) = InvoiceError::from_bytes(rest) {
                let again = InvoiceError::from_bytes(&e.to_bytes()).expect("re-encoded");
                assert_eq!(again, e);
                crate::reached_checks();
            }
        }
        _ => {
            let Ok(s) = core::str::from_utf8(rest) else {
                return;
            };
            if let Ok(o) = s.parse::<Offer>() {
                assert_eq!(o.to_string().parse::<Offer>().as_ref(), Ok(&o));
                crate::reached_checks();
            }
            if let Ok(r) = s.parse::<InvoiceRequest>() {
                assert_eq!(
                    InvoiceRequest::from_bytes(r.as_bytes().to_vec()).as_ref(),
                    Ok(&r)
                );
                crate::reached_checks();
            }
            if let Ok(i) = s.parse::<Bolt12Invoice>() {
                assert_eq!(
                    Bolt12Invoice::from_bytes(i.as_bytes().to_vec()).as_ref(),
                    Ok(&i)
                );
                crate::reached_checks();
            }
        }
    }
}
