//! BOLT 11 invoice parsing: any string either fails with an error or gives
//! an invoice that prints back to the same string and parses to an equal
//! invoice.

use lightning_wire::bolt11::Bolt11Invoice;

/// Fuzz entry point.
pub fn parse(data: &[u8]) {
    let Ok(s) = core::str::from_utf8(data) else {
        return;
    };
    let Ok(invoice) = s.parse::<Bolt11Invoice>() else {
        return;
    };
    let text = invoice.to_string();
    assert_eq!(
        text,
        s.to_ascii_lowercase(),
        "re-encoding changed the invoice"
    );
    let again: Bolt11Invoice = text.parse().expect("a re-encoded invoice parses");
    assert_eq!(again, invoice, "re-parsing changed the invoice");
    crate::reached_checks();
}
