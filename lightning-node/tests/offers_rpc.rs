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

/// Core Lightning's BOLT 12 payer flow: `fetchinvoice` asks Bob's node
/// for an invoice over onion messages, `pay` pays it, `listpays` lists it
/// under `bolt12`, and Bob's `listinvoices` shows it paid.
#[test]
fn fetchinvoice_then_pay() {
    let net = Net::start();
    net.fund(&net.alice);
    net.open_channel(1_000_000);
    let made = net.bob.call(
        "offer",
        json!({"amount": 250_000, "description": "a sticker", "label": "stickers"}),
    );
    let offer = made["bolt12"].as_str().unwrap().to_owned();
    let offer_id = made["offer_id"].as_str().unwrap().to_owned();
    assert_eq!(made["label"], "stickers");
    assert_eq!(made["used"], false);

    // Bad input first: refused before anything is sent.
    let (code, m) = net.bob.call_err("fetchinvoice", json!({"offer": offer}));
    assert_eq!(code, -32602, "{m}");
    assert!(m.contains("own offer"), "{m}");
    let (code, m) = net.alice.call_err(
        "fetchinvoice",
        json!({"offer": offer, "recurrence_counter": 1}),
    );
    assert_eq!(code, -32602, "{m}");
    let (code, m) = net
        .alice
        .call_err("fetchinvoice", json!({"offer": "lno1qqqq"}));
    assert_eq!(code, -32602, "{m}");
    // Less than the offer's price.
    let (code, m) = net.alice.call_err(
        "fetchinvoice",
        json!({"offer": offer, "amount_msat": 1_000}),
    );
    assert_eq!(code, -32602, "{m}");

    let fetched = net.alice.call(
        "fetchinvoice",
        json!({"offer": offer, "payer_note": "thanks", "timeout": 30}),
    );
    let invoice = fetched["invoice"].as_str().unwrap().to_owned();
    assert!(invoice.starts_with("lni1"), "{fetched}");
    // The offer fixed the amount: no change to report.
    assert_eq!(fetched["changes"], json!({}), "{fetched}");
    let d = net.alice.call("decode", json!([invoice]));
    assert_eq!(d["type"], "bolt12 invoice");
    assert_eq!(d["invoice_amount_msat"], 250_000);
    assert_eq!(d["invreq_payer_note"], "thanks");

    let (code, m) = net
        .alice
        .call_err("pay", json!({"bolt11": invoice, "amount_msat": 250_000}));
    assert_eq!(code, -32602, "{m}");
    // Fee limits as for BOLT 11: `maxfee` does not combine with
    // `maxfeepercent`.
    let (code, m) = net.alice.call_err(
        "pay",
        json!({"bolt11": invoice, "maxfee": 1_000, "maxfeepercent": 1}),
    );
    assert_eq!(code, -32602, "{m}");
    assert!(m.contains("cannot be combined"), "{m}");
    // Bob did not make the request.
    let (code, m) = net.bob.call_err("pay", json!([invoice]));
    assert_eq!(code, -32602, "{m}");

    let paid = net
        .alice
        .call("pay", json!({"bolt11": invoice, "maxfee": 10_000}));
    assert_eq!(paid["status"], "complete", "{paid}");
    assert_eq!(paid["amount_msat"], 250_000);
    assert_eq!(paid["payment_hash"], d["invoice_payment_hash"]);
    let pays = net.alice.call("listpays", json!([]));
    let entry = &pays["pays"][0];
    assert_eq!(entry["bolt12"], invoice.as_str(), "{pays}");
    assert!(entry.get("bolt11").is_none(), "{pays}");
    // Paying it again pays nothing more: the same result, as for BOLT 11.
    let again = net.alice.call("pay", json!([invoice]));
    assert_eq!(again["payment_preimage"], paid["payment_preimage"]);
    assert_eq!(
        net.alice.call("listpays", json!([]))["pays"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let invoices = net.bob.call(
        "listinvoices",
        json!({"payment_hash": d["invoice_payment_hash"]}),
    );
    assert_eq!(invoices["invoices"][0]["status"], "paid", "{invoices}");
    assert_eq!(invoices["invoices"][0]["local_offer_id"], offer_id.as_str());
    let by_offer = net.bob.call("listinvoices", json!({"offer_id": offer_id}));
    assert_eq!(
        by_offer["invoices"].as_array().unwrap().len(),
        1,
        "{by_offer}"
    );

    // Bob's offers: this one used, still active.
    let listed = net.bob.call("listoffers", json!({"offer_id": offer_id}));
    let entry = &listed["offers"][0];
    assert_eq!(entry["bolt12"], offer.as_str(), "{listed}");
    assert_eq!(entry["used"], true, "{listed}");
    assert_eq!(entry["active"], true, "{listed}");
    assert_eq!(entry["label"], "stickers");

    // Disabled: no more invoices, and it shows.
    let disabled = net.bob.call("disableoffer", json!([offer_id]));
    assert_eq!(disabled["active"], false, "{disabled}");
    let (code, _) = net.bob.call_err("disableoffer", json!([offer_id]));
    assert_eq!(code, 1001);
    let (code, m) = net.alice.call_err("fetchinvoice", json!({"offer": offer}));
    assert_eq!(code, 1004, "{m}");
    assert!(m.contains("no longer available"), "{m}");
    let active = net.bob.call("listoffers", json!({"active_only": true}));
    assert!(
        active["offers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["offer_id"] != offer_id.as_str()),
        "{active}"
    );

    // An offer for any amount: the amount is the payer's, and reported
    // as a change.
    let any = net.bob.call("offer", json!({"amount": "any"}))["bolt12"].clone();
    let (code, m) = net.alice.call_err("fetchinvoice", json!({"offer": any}));
    assert_eq!(code, -32602, "{m}");
    let fetched = net
        .alice
        .call("fetchinvoice", json!({"offer": any, "amount_msat": 4_000}));
    assert_eq!(fetched["changes"]["amount_msat"], 4_000, "{fetched}");

    // Bob's offers and the disabling outlive a restart.
    let Net { chain, bob, .. } = net;
    let bob = bob.restart(&chain, 0xb0);
    let listed = bob.call("listoffers", json!([]));
    let offers = listed["offers"].as_array().unwrap();
    assert_eq!(offers.len(), 2, "{listed}");
    let first = offers.iter().find(|o| o["offer_id"] == offer_id.as_str());
    assert_eq!(first.unwrap()["active"], false, "{listed}");
    assert_eq!(first.unwrap()["used"], true, "{listed}");

    // Enabled again (CLN's `enableoffer`; 1006 the second time), across
    // a restart.
    let enabled = bob.call("enableoffer", json!({"offer_id": offer_id}));
    assert_eq!(enabled["active"], true, "{enabled}");
    let (code, _) = bob.call_err("enableoffer", json!([offer_id]));
    assert_eq!(code, 1006);
    let bob = bob.restart(&chain, 0xb0);
    let listed = bob.call("listoffers", json!([offer_id]));
    assert_eq!(listed["offers"][0]["active"], true, "{listed}");
}
