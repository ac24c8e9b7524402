//! BOLT 12 in the CLN-compatible RPC: `offer` makes an offer of the
//! daemon's node, and `decode` reads it (and refuses a damaged one).
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::json;
use support::*;

#[test]
fn offer_then_decode() {
    let net = Net::start();
    let bob_id = net.bob.call("getinfo", json!([]))["id"].clone();
    let made = net.bob.call(
        "offer",
        json!({"amount": 250_000, "description": "a sticker", "issuer": "Bob's shop"}),
    );
    assert_eq!(made["active"], true);
    assert_eq!(made["created"], true);
    let bolt12 = made["bolt12"].as_str().unwrap().to_owned();
    assert!(bolt12.starts_with("lno1"), "{made}");

    let d = net.alice.call("decode", json!([bolt12]));
    assert_eq!(d["type"], "bolt12 offer");
    assert_eq!(d["valid"], true);
    assert_eq!(d["offer_id"], made["offer_id"]);
    assert_eq!(d["offer_amount_msat"], 250_000);
    assert_eq!(d["offer_description"], "a sticker");
    assert_eq!(d["offer_issuer"], "Bob's shop");
    assert_eq!(d["offer_issuer_id"], bob_id);

    // An offer for any amount, with a quantity limit.
    let any = net
        .bob
        .call("offer", json!({"amount": "any", "quantity_max": 3}));
    let d = net.alice.call("decode", json!([any["bolt12"]]));
    assert!(d.get("offer_amount_msat").is_none(), "{d}");
    assert_eq!(d["offer_quantity_max"], 3);

    // Cut short (BOLT 12 strings have no checksum: a changed character
    // can still decode, a cut record cannot): a parameter error.
    let broken = &bolt12[..bolt12.len() - 10];
    let (code, message) = net.alice.call_err("decode", json!([broken]));
    assert_eq!(code, -32602, "{message}");
}
