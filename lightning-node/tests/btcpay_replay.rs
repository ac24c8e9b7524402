//! The requests BTCPayServer.Lightning's CLN client sends, in its shapes
//! (`{"id":0,"jsonrpc":"2.0","method":…,"params":[…]}`, positional with
//! `null`s, amounts as strings, `waitanyinvoice 99999999999`,
//! `fundchannel` with a `perkb` feerate), and the fields its client reads:
//! for list calls the first property of `result` must be the array.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;
use std::os::unix::net::UnixStream;

use serde_json::{json, Value};
use support::*;

/// As the C# client sends it: id 0, params always an array.
fn btcpay(node: &TestNode, method: &str, params: Value) -> Value {
    let mut s = UnixStream::connect(&node.socket).unwrap();
    let req = json!({"id": 0, "jsonrpc": "2.0", "method": method, "params": params});
    s.write_all(req.to_string().as_bytes()).unwrap();
    let r = read_one(&mut s);
    assert!(r.get("error").is_none(), "{method} {params}: {r}");
    r["result"].clone()
}

/// `result.Children().First().Children().First()`: the first property's
/// value.
fn first_array(v: &Value) -> Vec<Value> {
    let (_, first) = v.as_object().unwrap().iter().next().unwrap();
    first.as_array().unwrap().clone()
}

#[test]
fn btcpay_requests_replayed() {
    let net = Net::start();
    let (alice, bob) = (&net.alice, &net.bob);
    net.fund(alice);

    let info = btcpay(alice, "getinfo", json!([]));
    for k in ["id", "alias", "color", "version", "network"] {
        assert!(info[k].is_string(), "getinfo.{k}: {info}");
    }
    for k in [
        "blockheight",
        "num_peers",
        "num_pending_channels",
        "num_active_channels",
        "num_inactive_channels",
    ] {
        assert!(info[k].is_u64(), "getinfo.{k}: {info}");
    }
    assert!(info["address"][0]["port"].is_u64());

    // NewAddressAsync: the first property's value.
    let a = btcpay(alice, "newaddr", json!([]));
    let (_, addr) = a.as_object().unwrap().iter().next().unwrap();
    assert!(addr.as_str().unwrap().starts_with("bcrt1"));

    // ConnectAsync, FundChannelAsync with a feerate.
    btcpay(alice, "connect", json!([bob.uri()]));
    btcpay(alice, "fundchannel", json!([bob.id(), 500000, "2000perkb"]));
    net.mine_empty(6);
    wait("normal", || {
        first_array(&btcpay(alice, "listpeerchannels", json!([])))
            .iter()
            .any(|c| c["state"] == "CHANNELD_NORMAL")
    });
    let chans = first_array(&btcpay(alice, "listpeerchannels", json!([])));
    let c = &chans[0];
    assert_eq!(c["peer_id"], bob.id());
    assert_eq!(c["private"], false, "public by default, as in CLN");
    assert!(c["funding_txid"].is_string() && c["funding_outnum"].is_u64());
    assert_eq!(c["to_us_msat"], 500_000_000u64);
    let funds = btcpay(alice, "listfunds", json!([]));
    assert_eq!(funds["outputs"][0]["status"], "confirmed");
    assert_eq!(funds["channels"][0]["state"], "CHANNELD_NORMAL");
    assert_eq!(funds["channels"][0]["our_amount_msat"], 500_000_000u64);

    // CreateInvoice: [msat as string, label, description, expiry, null,
    // null, privateRouteHints].
    let label = "7Qmo3uXk2Jk8sKvV4pLhYb";
    let inv = btcpay(
        bob,
        "invoice",
        json!(["120000", label, "BTCPay order", 900, null, null, false]),
    );
    for k in ["payment_hash", "bolt11", "payment_secret"] {
        assert!(inv[k].is_string(), "invoice.{k}");
    }
    assert!(inv["expires_at"].is_u64());
    // An amount-less one ("any").
    btcpay(
        bob,
        "invoice",
        json!(["any", "any-1", "tip", 900, null, null, true]),
    );

    // The invoice listener: waitanyinvoice 99999999999 waits for the next.
    let waiter = {
        let socket = bob.socket.clone();
        std::thread::spawn(move || {
            let mut s = UnixStream::connect(&socket).unwrap();
            let req = json!({"id": 0, "jsonrpc": "2.0", "method": "waitanyinvoice",
                "params": [99999999999u64]});
            s.write_all(req.to_string().as_bytes()).unwrap();
            read_one(&mut s)
        })
    };
    // PayAsync: xpay [bolt11, null, null].
    let paid = btcpay(alice, "xpay", json!([inv["bolt11"], null, null]));
    assert_eq!(paid["amount_msat"], 120_000u64);
    assert_eq!(paid["amount_sent_msat"], 120_000u64);
    assert!(paid["payment_preimage"].is_string());
    let got = waiter.join().unwrap()["result"].clone();
    assert_eq!(got["label"], label);
    assert_eq!(got["status"], "paid");
    let pay_index = got["pay_index"].as_u64().unwrap();

    // GetInvoice by label, by hash ([null, null, hash]); ListInvoices.
    let by_label = first_array(&btcpay(bob, "listinvoices", json!([label])));
    let by_hash = first_array(&btcpay(
        bob,
        "listinvoices",
        json!([null, null, inv["payment_hash"]]),
    ));
    assert_eq!(by_label, by_hash);
    let i = &by_label[0];
    assert_eq!(i["status"], "paid");
    assert_eq!(i["payment_preimage"], paid["payment_preimage"]);
    assert_eq!(i["amount_msat"], 120_000u64);
    assert_eq!(i["amount_received_msat"], 120_000u64);
    assert_eq!(i["pay_index"], pay_index);
    assert!(i["paid_at"].is_u64() && i["expires_at"].is_u64());
    assert_eq!(
        first_array(&btcpay(bob, "listinvoices", json!([]))).len(),
        2
    );

    // The next waitanyinvoice with the last pay_index waits again (no
    // later one yet): with a timeout it says so.
    let mut s = UnixStream::connect(&bob.socket).unwrap();
    s.write_all(
        json!({"id": 0, "jsonrpc": "2.0", "method": "waitanyinvoice", "params": [pay_index, 1]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(read_one(&mut s)["error"]["code"], 904);

    // GetPayment: listpays [null, hash]; ListPayments: listpays.
    let pays = first_array(&btcpay(
        alice,
        "listpays",
        json!([null, inv["payment_hash"]]),
    ));
    assert_eq!(pays[0]["status"], "complete");
    assert_eq!(pays[0]["preimage"], paid["payment_preimage"]);
    assert_eq!(pays[0]["amount_msat"], 120_000u64);
    assert_eq!(pays[0]["amount_sent_msat"], 120_000u64);
    assert!(pays[0]["created_at"].is_u64());
    assert_eq!(first_array(&btcpay(alice, "listpays", json!([]))).len(), 1);

    // CancelInvoice: delinvoice [label, "unpaid"].
    let open = btcpay(
        bob,
        "invoice",
        json!(["5000", "cancel-me", "x", 900, null, null, false]),
    );
    assert!(open["bolt11"].is_string());
    let del = btcpay(bob, "delinvoice", json!(["cancel-me", "unpaid"]));
    assert_eq!(del["label"], "cancel-me");
    assert!(first_array(&btcpay(bob, "listinvoices", json!(["cancel-me"]))).is_empty());
    // A paid one is not "unpaid".
    let mut s = UnixStream::connect(&bob.socket).unwrap();
    s.write_all(
        json!({"id": 0, "jsonrpc": "2.0", "method": "delinvoice", "params": [label, "unpaid"]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(read_one(&mut s)["error"]["code"], 906);

    // Paying the same invoice again: CLN's pay error range.
    let mut s = UnixStream::connect(&alice.socket).unwrap();
    s.write_all(
        json!({"id": 0, "jsonrpc": "2.0", "method": "xpay", "params": [inv["bolt11"], null, null]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let again = read_one(&mut s);
    // Already paid: CLN answers with the completed payment.
    assert_eq!(
        again["result"]["payment_preimage"], paid["payment_preimage"],
        "{again}"
    );
}
