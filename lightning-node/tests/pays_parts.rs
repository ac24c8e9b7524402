//! `listpays` and `listsendpays` over the CLN-compatible socket for a
//! payment that one channel cannot carry: Alice pays Bob over two
//! channels, so the payment goes in parts (BOLT 4 "Basic Multi-Part
//! Payments"). `listsendpays` lists each HTLC; `listpays` sums them and
//! counts the parts that paid.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use support::*;

fn normal_channels(node: &TestNode) -> usize {
    node.call("listpeerchannels", json!([]))["channels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["state"] == "CHANNELD_NORMAL" && c["peer_connected"] == true)
        .count()
}

fn msat(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("not an msat amount: {v}"))
}

#[test]
fn a_payment_in_parts_lists_each_part_and_their_sum() {
    let net = Net::start();
    let (alice, bob) = (&net.alice, &net.bob);
    net.fund(alice);
    // Two channels of 400,000 sat: neither carries 600,000 sat alone.
    net.open_channel(400_000);
    alice.call("fundchannel", json!({"id": bob.id(), "amount": 400_000}));
    net.mine_empty(6);
    for node in [alice, bob] {
        wait("both channels normal", || normal_channels(node) == 2);
    }

    let inv = bob.call("invoice", json!([600_000_000u64, "big", "in parts"]));
    let paid = alice.call("xpay", json!([inv["bolt11"]]));
    assert_eq!(msat(&paid["amount_msat"]), 600_000_000);
    let hash = inv["payment_hash"].clone();

    let sent = alice.call("listsendpays", json!([null, hash]))["payments"].clone();
    let sent = sent.as_array().unwrap();
    let complete: Vec<&Value> = sent.iter().filter(|p| p["status"] == "complete").collect();
    assert!(complete.len() >= 2, "one channel cannot carry it: {sent:?}");
    // The parts that paid deliver the amount; a direct peer takes no fee.
    let delivered: u64 = complete.iter().map(|p| msat(&p["amount_msat"])).sum();
    assert_eq!(delivered, 600_000_000, "{sent:?}");
    let sent_total: u64 = complete.iter().map(|p| msat(&p["amount_sent_msat"])).sum();
    assert_eq!(sent_total, 600_000_000);
    let preimage = paid["payment_preimage"].clone();
    for p in &complete {
        assert_eq!(p["payment_preimage"], preimage, "{p}");
        assert_eq!(p["payment_hash"], hash);
        assert_eq!(p["destination"], bob.id());
        assert_eq!(p["bolt11"], inv["bolt11"]);
    }
    // Parts are numbered from 1 as sent; ids increase along the list.
    let partids: Vec<u64> = sent.iter().map(|p| p["partid"].as_u64().unwrap()).collect();
    let expect: Vec<u64> = (1..=sent.len() as u64).collect();
    assert_eq!(partids, expect);
    let ids: Vec<u64> = sent.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    let pays = alice.call("listpays", json!([inv["bolt11"]]))["pays"].clone();
    let pay = &pays[0];
    assert_eq!(pays.as_array().unwrap().len(), 1);
    assert_eq!(pay["status"], "complete");
    assert_eq!(pay["preimage"], preimage);
    assert_eq!(msat(&pay["amount_msat"]), 600_000_000);
    assert_eq!(msat(&pay["amount_sent_msat"]), sent_total);
    assert_eq!(pay["number_of_parts"], json!(complete.len()));

    // A payment one channel carries: one entry, part 0, and no
    // `number_of_parts` in `listpays` (CLN gives it only above one).
    let small = bob.call("invoice", json!([1_000_000u64, "small", "one part"]));
    alice.call("xpay", json!([small["bolt11"]]));
    let one = alice.call("listsendpays", json!([small["bolt11"]]))["payments"].clone();
    assert_eq!(one.as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one[0]["partid"], 0);
    assert_eq!(one[0]["status"], "complete");
    assert_eq!(msat(&one[0]["amount_sent_msat"]), 1_000_000);
    let pay = &alice.call("listpays", json!([small["bolt11"]]))["pays"][0];
    assert!(pay.get("number_of_parts").is_none(), "{pay}");

    // The whole list holds both payments; filters by status.
    let all = alice.call("listsendpays", json!([]))["payments"].clone();
    assert_eq!(all.as_array().unwrap().len(), sent.len() + 1);
    let failed = alice.call("listsendpays", json!([null, null, "failed"]))["payments"].clone();
    let n_failed = sent.iter().filter(|p| p["status"] == "failed").count();
    assert_eq!(failed.as_array().unwrap().len(), n_failed);
    assert_eq!(
        alice.call("listpays", json!({"status": "pending"}))["pays"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // One of bolt11 or payment_hash, not both (CLN's rule).
    assert_eq!(
        alice
            .call_err(
                "listsendpays",
                json!([small["bolt11"], small["payment_hash"]])
            )
            .0,
        -32602
    );
}
