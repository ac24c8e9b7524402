//! `lnctl decodepayreq <invoice>`: the invoice as `lncli decodepayreq` JSON.

use lightning_wire::bolt11::{Bolt11Invoice, DecodedPayReq};

/// Parses and verifies `invoice` and renders it as pretty JSON.
pub fn decodepayreq(args: &[String]) -> Result<String, String> {
    let [invoice] = args else {
        return Err("usage: lnctl decodepayreq <invoice>".to_owned());
    };
    let invoice = invoice.trim();
    let invoice = invoice
        .strip_prefix("lightning:")
        .or_else(|| invoice.strip_prefix("LIGHTNING:"))
        .unwrap_or(invoice);
    let parsed: Bolt11Invoice = invoice
        .parse()
        .map_err(|e| format!("invalid invoice: {e}"))?;
    serde_json::to_string_pretty(&DecodedPayReq::from(&parsed)).map_err(|e| e.to_string())
}
