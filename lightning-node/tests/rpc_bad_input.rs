//! Bad input on every RPC method gives a JSON-RPC error and the server
//! keeps serving: wrong types, missing parameters, unknown parameters and
//! methods, bodies that are not JSON, oversized requests, clients that
//! leave mid-request; and the socket is mode 0600.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;

use serde_json::{json, Value};
use support::*;

#[test]
fn every_method_refuses_bad_input() {
    let net = Net::start();
    let a = &net.alice;
    let mode = std::fs::metadata(&a.socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let cases: Vec<(&str, Value)> = vec![
        ("getinfo", json!([1])),
        ("getinfo", json!({"x": 1})),
        ("getinfo", json!("nope")),
        ("invoice", json!([])),
        ("invoice", json!([{"a": 1}, "l", "d"])),
        ("invoice", json!(["-5", "l", "d"])),
        ("invoice", json!([1000, "l"])),
        ("invoice", json!([1000, "l", 5])),
        ("invoice", json!([1000, "l", "d", "soon"])),
        (
            "invoice",
            json!({"amount_msat": 1000, "label": "l", "description": "d", "bogus": 1}),
        ),
        ("invoice", json!([1000, "l", "d", 60, null, "00"])),
        (
            "invoice",
            json!([1000, "l", "d", 60, null, null, null, null, "maybe"]),
        ),
        ("invoice", json!([0, "l", "d"])),
        ("listinvoices", json!([[1]])),
        ("listinvoices", json!([null, null, "zz"])),
        ("listinvoices", json!(["a", "b"])),
        ("waitanyinvoice", json!(["x"])),
        ("waitanyinvoice", json!([0, -1])),
        ("waitanyinvoice", json!([0, 0])),
        ("delinvoice", json!([])),
        ("delinvoice", json!(["nope", "unpaid"])),
        ("delinvoice", json!(["nope", "bogus"])),
        ("pay", json!([])),
        ("pay", json!(["lnbc1notaninvoice"])),
        ("pay", json!([42])),
        ("xpay", json!([])),
        ("xpay", json!([null, "x"])),
        ("xpay", json!(["lnbcrt1xyz"])),
        ("listpays", json!([5])),
        ("listpays", json!([null, "00"])),
        ("listpays", json!([null, null, "weird"])),
        ("listpays", json!(["lnbcrt1xyz", "00".repeat(32)])),
        ("listsendpays", json!([5])),
        ("listsendpays", json!([null, "00"])),
        ("listsendpays", json!([null, null, "weird"])),
        (
            "listsendpays",
            json!({"payment_hash": "00".repeat(32), "bogus": 1}),
        ),
        ("listfunds", json!(["x"])),
        ("listpeerchannels", json!(["not a key"])),
        ("newaddr", json!(["p2pkh"])),
        ("newaddr", json!([7])),
        ("connect", json!([])),
        ("connect", json!(["02aa@127.0.0.1:1"])),
        (
            "connect",
            json!([format!("{}@127.0.0.1:99999", net.bob.id())]),
        ),
        ("connect", json!([format!("{}@127.0.0.1:1", net.bob.id())])),
        ("connect", json!([net.bob.id()])),
        ("fundchannel", json!([])),
        ("fundchannel", json!([net.bob.id()])),
        ("fundchannel", json!([net.bob.id(), "lots"])),
        ("fundchannel", json!([net.bob.id(), 100000, "fast"])),
        ("fundchannel", json!([net.bob.id(), 100000])),
        ("close", json!([])),
        ("close", json!(["nope"])),
        ("close", json!([net.bob.id(), "x"])),
        ("withdraw", json!([])),
        ("withdraw", json!(["notanaddress", 1000])),
        (
            "withdraw",
            json!(["bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", 1000]),
        ),
        (
            "withdraw",
            json!(["bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", "x"]),
        ),
        ("decode", json!([])),
        ("decode", json!([[]])),
        ("decodepay", json!([])),
        ("stop", json!([1])),
        ("keysend", json!([net.bob.id(), 1000])),
        ("xkeysend", json!([net.bob.id(), 1000])),
        ("exportchanbackup", json!(["nosuchchannel"])),
        ("exportchanbackup", json!([5])),
        ("verifychanbackup", json!([])),
        ("verifychanbackup", json!(["zz"])),
        ("verifychanbackup", json!(["00ff"])),
        ("restorechanbackup", json!(["00ff"])),
        ("restorechanbackup", json!([{}])),
        ("listchannels", json!(["notascid"])),
        ("listchannels", json!([null, "notanode"])),
        ("listnodes", json!(["notanode"])),
        ("getroute", json!([])),
        ("getroute", json!([net.bob.id(), 1000, 1])),
        ("getroute", json!([net.bob.id(), "x", 1])),
        ("listforwards", json!(["weird"])),
        ("listforwards", json!([null, "nope"])),
        ("offer", json!([])),
        ("offer", json!([0, "x"])),
        ("offer", json!([1000])),
        (
            "offer",
            json!({"amount": 1000, "description": "x", "recurrence": "1week"}),
        ),
        ("offer", json!({"amount": "any", "quantity_max": "lots"})),
        ("decode", json!(["lno1qqqq"])),
        ("decode", json!(["lni1zcss"])),
        ("fetchinvoice", json!([])),
        ("fetchinvoice", json!(["lno1qqqq"])),
        ("fetchinvoice", json!({"offer": 5})),
        ("pay", json!(["lni1zcss"])),
        ("listoffers", json!(["nothex"])),
        ("listoffers", json!({"active_only": "yes"})),
        ("disableoffer", json!([])),
        ("disableoffer", json!(["00".repeat(32)])),
        ("enableoffer", json!([])),
        ("enableoffer", json!([42])),
        ("enableoffer", json!(["00".repeat(32)])),
        ("nosuchmethod", json!([])),
    ];
    for (method, params) in &cases {
        let r = raw_call(&a.socket, method, params.clone());
        let e = r
            .get("error")
            .unwrap_or_else(|| panic!("{method} {params}: no error in {r}"));
        assert!(e["code"].is_i64(), "{method}: {r}");
        assert!(e["message"].is_string(), "{method}: {r}");
        assert_eq!(r["id"], 7, "{method}: {r}");
    }
    // Every served method is covered.
    for m in lightning_node::rpc::METHODS {
        assert!(
            cases.iter().any(|(c, _)| c == m),
            "no bad-input case for {m}"
        );
    }
    assert_eq!(a.call_err("nosuchmethod", json!([])).0, -32601);
    assert_eq!(a.call_err("invoice", json!([])).0, -32602);
    assert_eq!(a.call_err("decode", json!(["x"])).0, -32602);
}

#[test]
fn malformed_oversized_and_abandoned_requests() {
    let net = Net::start();
    let a = &net.alice;

    // Not a JSON object, not JSON at all.
    for body in [
        &b"[1,2]"[..],
        b"\"x\"",
        b"{\"id\":1}",
        b"{\"method\": 5, \"id\": 1}",
    ] {
        let mut s = UnixStream::connect(&a.socket).unwrap();
        s.write_all(body).unwrap();
        let r = read_one(&mut s);
        assert_eq!(r["error"]["code"], -32600, "{r}");
    }
    let mut s = UnixStream::connect(&a.socket).unwrap();
    s.write_all(b"{not json").unwrap();
    let r = read_one(&mut s);
    assert_eq!(r["error"]["code"], -32700, "{r}");

    // Oversized: an unfinished string of 2 MiB.
    let mut s = UnixStream::connect(&a.socket).unwrap();
    let mut body = b"{\"id\":1,\"method\":\"getinfo\",\"params\":[\"".to_vec();
    body.extend(std::iter::repeat_n(b'a', 2 << 20));
    let _ = s.write_all(&body);
    let r = read_one(&mut s);
    assert_eq!(r["error"]["code"], -32600, "{r}");

    // A client that leaves mid-request, and one that leaves while waiting.
    for _ in 0..20 {
        let mut s = UnixStream::connect(&a.socket).unwrap();
        s.write_all(b"{\"id\":1,\"method\":\"getin").unwrap();
        drop(s);
    }
    let mut s = UnixStream::connect(&a.socket).unwrap();
    s.write_all(br#"{"id":1,"method":"waitanyinvoice","params":[]}"#)
        .unwrap();
    drop(s);

    // Two requests on one connection, no separator.
    let mut s = UnixStream::connect(&a.socket).unwrap();
    s.write_all(br#"{"id":1,"method":"getinfo"}{"id":2,"method":"newaddr","params":{}}"#)
        .unwrap();
    assert_eq!(read_one(&mut s)["id"], 1);

    // Still serving.
    let info = a.call("getinfo", json!({}));
    assert_eq!(info["id"], a.id());
}
