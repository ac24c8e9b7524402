//! `listpays` and `listsendpays` over the CLN-compatible socket for a
//! payment that one channel cannot carry: Alice pays Bob over two
//! channels, so the payment goes in parts (BOLT 4 "Basic Multi-Part
//! Payments"). `listsendpays` lists each HTLC; `listpays` sums them and
//! counts the parts that paid.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

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

/// Host time now, as the daemon gives it to the node.
fn now() -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
}

/// Every `listsendpays` entry's id, by (payment hash, partid).
fn ids(node: &TestNode) -> BTreeMap<(String, u64), u64> {
    let all = node.call("listsendpays", json!([]))["payments"].clone();
    let all = all.as_array().unwrap();
    let map: BTreeMap<(String, u64), u64> = all
        .iter()
        .map(|p| {
            assert_eq!(p["id"], p["created_index"], "{p}");
            (
                (
                    p["payment_hash"].as_str().unwrap().to_owned(),
                    p["partid"].as_u64().unwrap(),
                ),
                p["id"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(map.len(), all.len(), "one entry per (hash, partid)");
    let listed: Vec<u64> = all.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert!(
        listed.windows(2).all(|w| w[0] < w[1]),
        "ordered by id: {listed:?}"
    );
    map
}

fn wait_normal(node: &TestNode) {
    wait("the channel normal, peer connected", || {
        normal_channels(node) == 1
    });
}

/// Issue 20: `listsendpays` ids are the node's stored index of each HTLC,
/// given as it is sent: a new payment, even one whose creation time sorts
/// before the others (the host clock stepped back), takes the next id and
/// moves no other entry's; a restart keeps every id and gives none again.
#[test]
fn listsendpays_ids_are_stored_and_never_renumbered() {
    let net = Net::start();
    net.fund(&net.alice);
    net.open_channel(1_000_000);
    let pay = |alice: &TestNode, bob: &TestNode, n: u64| -> String {
        let inv = bob.call(
            "invoice",
            json!([1_000_000 + n, format!("ids-{n}"), "stable ids"]),
        );
        alice.call("xpay", json!([inv["bolt11"]]));
        inv["payment_hash"].as_str().unwrap().to_owned()
    };
    let (alice, bob) = (&net.alice, &net.bob);
    let first = pay(alice, bob, 1);
    let second = pay(alice, bob, 2);
    let before = ids(alice);
    assert_eq!(before[&(first.clone(), 0)], 1, "{before:?}");
    assert_eq!(before[&(second, 0)], 2, "{before:?}");

    // (a) A new payment: the next id; the others unchanged.
    let third = pay(alice, bob, 3);
    let after = ids(alice);
    assert_eq!(after.len(), 3);
    assert!(before.iter().all(|(k, id)| after[k] == *id), "{after:?}");
    assert_eq!(after[&(third, 0)], 3);

    // A payment made with the host clock stepped back: created "before"
    // every other, it is still the fourth HTLC sent.
    let created = alice.call("listsendpays", json!([null, first]))["payments"][0]["created_at"]
        .as_u64()
        .unwrap();
    let inv = bob.call("invoice", json!([1_000_004u64, "ids-back", "clock back"]));
    let back = inv["payment_hash"].as_str().unwrap().to_owned();
    let bolt11 = inv["bolt11"].as_str().unwrap().to_owned();
    alice
        .rt
        .with_node(|n| n.pay_invoice_str(&bolt11, std::time::Duration::from_secs(created - 1)))
        .unwrap();
    wait("the payment made with the clock back completes", || {
        alice.call("listpays", json!({"payment_hash": back}))["pays"][0]["status"] == "complete"
    });
    let stepped = ids(alice);
    assert!(after.iter().all(|(k, id)| stepped[k] == *id), "{stepped:?}");
    assert_eq!(stepped[&(back, 0)], 4);

    // (b) A restart: every entry keeps its id; the next HTLC takes 5.
    let Net { chain, alice, bob } = net;
    let alice = alice.restart(&chain, 0xa1);
    assert_eq!(ids(&alice), stepped);
    wait_normal(&alice);
    let fifth = pay(&alice, &bob, 5);
    let restarted = ids(&alice);
    assert!(stepped.iter().all(|(k, id)| restarted[k] == *id));
    assert_eq!(restarted[&(fifth, 0)], 5, "{restarted:?}");
}

/// Issue 20: a payment sent one HTLC at a time whose first attempt failed
/// (a caller's route with the wrong payment secret: the payee refuses it)
/// and whose next one paid lists both HTLCs, each with its partid and id,
/// the failed one first; the failed attempt is kept across a restart.
#[test]
fn a_failed_attempt_is_listed_before_the_one_that_paid() {
    use lightning_core::node::{PaymentHash, RecipientOnion, Route, RouteHop};
    let net = Net::start();
    net.fund(&net.alice);
    net.open_channel(1_000_000);
    let (alice, bob) = (&net.alice, &net.bob);
    let inv = bob.call("invoice", json!([30_000_000u64, "retried", "two attempts"]));
    let bolt11: lightning_wire::bolt11::Bolt11Invoice =
        inv["bolt11"].as_str().unwrap().parse().unwrap();
    let hash = PaymentHash(bolt11.payment_hash().0);
    let route = Route {
        hops: vec![RouteHop {
            node_id: *bolt11.payee(),
            short_channel_id: lightning_core::ShortChannelId(0),
            fee_msat: 0,
            cltv_expiry_delta: 0,
        }],
    };
    let wrong = RecipientOnion {
        amount_msat: 30_000_000,
        payment_secret: Some([0x55; 32]),
        final_cltv_expiry_delta: u32::try_from(bolt11.min_final_cltv_expiry_delta()).unwrap(),
        ..RecipientOnion::default()
    };
    alice
        .rt
        .with_node(|n| n.send_to_route(&route, hash, &wrong, now()))
        .unwrap();
    let by_hash = json!([null, inv["payment_hash"]]);
    let bob_id = bob.id();
    wait("the first attempt fails", || {
        alice.call("listpays", by_hash.clone())["pays"][0]["status"] == "failed"
    });
    let paid = alice.call("xpay", json!([inv["bolt11"]]));
    assert_eq!(msat(&paid["amount_msat"]), 30_000_000);

    let check = |alice: &TestNode| -> Vec<u64> {
        let sent = alice.call("listsendpays", by_hash.clone())["payments"].clone();
        let sent = sent.as_array().unwrap().clone();
        assert_eq!(sent.len(), 2, "{sent:?}");
        let partids: Vec<u64> = sent.iter().map(|p| p["partid"].as_u64().unwrap()).collect();
        assert_eq!(partids, [0, 1]);
        assert_eq!(sent[0]["status"], "failed");
        assert_eq!(sent[1]["status"], "complete");
        assert!(sent[0].get("payment_preimage").is_none());
        assert_eq!(sent[1]["payment_preimage"], paid["payment_preimage"]);
        for p in &sent {
            assert_eq!(msat(&p["amount_msat"]), 30_000_000, "{p}");
            assert_eq!(p["destination"], bob_id);
            assert_eq!(p["groupid"], 1);
        }
        // Filtered by status: one each.
        let failed = alice.call("listsendpays", json!([null, inv["payment_hash"], "failed"]));
        assert_eq!(failed["payments"].as_array().unwrap().len(), 1);
        let ids: Vec<u64> = sent.iter().map(|p| p["id"].as_u64().unwrap()).collect();
        assert!(ids[0] < ids[1], "{ids:?}");
        ids
    };
    let ids_before = check(alice);
    // `listpays` still sees one payment, complete.
    let pays = alice.call("listpays", by_hash.clone())["pays"].clone();
    assert_eq!(pays.as_array().unwrap().len(), 1);
    assert_eq!(pays[0]["status"], "complete");

    let Net {
        chain,
        alice,
        bob: _bob,
    } = net;
    let alice = alice.restart(&chain, 0xa1);
    assert_eq!(check(&alice), ids_before);
}
