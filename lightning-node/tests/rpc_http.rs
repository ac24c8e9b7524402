//! The RPC over TCP behind a bearer token (`HttpRpcServer`): the right
//! token gets the methods; a missing or wrong token, another verb, an
//! oversized or malformed request get HTTP errors, never a method call.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use lightning_node::rpc::{HttpRpcServer, MAX_REQUEST};
use serde_json::{json, Value};
use support::*;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// Sends `raw` and reads the whole answer: (status code, body).
fn exchange(addr: SocketAddr, raw: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    let _ = s.write_all(raw);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = match out.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => out[i + 4..].to_vec(),
        None => Vec::new(),
    };
    (code, body)
}

fn post(addr: SocketAddr, token: Option<&str>, body: &str) -> (u16, Value) {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let raw = format!(
        "POST / HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (code, body) = exchange(addr, raw.as_bytes());
    (code, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[test]
fn the_token_guards_every_method() {
    let net = Net::start();
    let alice = &net.alice;
    assert!(HttpRpcServer::start(
        alice.rt.clone(),
        "127.0.0.1:0".parse().unwrap(),
        String::new()
    )
    .is_err());
    let server = HttpRpcServer::start(
        alice.rt.clone(),
        "127.0.0.1:0".parse().unwrap(),
        TOKEN.into(),
    )
    .unwrap();
    let addr = server.local_addr();
    let getinfo = json!({"jsonrpc": "2.0", "id": 3, "method": "getinfo", "params": []}).to_string();

    let (code, r) = post(addr, Some(TOKEN), &getinfo);
    assert_eq!(code, 200);
    assert_eq!(r["id"], 3);
    assert_eq!(r["result"]["id"], alice.id());

    // No token, a wrong one, one a byte off.
    let mut off = TOKEN.to_owned();
    off.replace_range(31..32, "0");
    for t in [None, Some("nope"), Some(off.as_str())] {
        let (code, r) = post(addr, t, &getinfo);
        assert_eq!(code, 401, "{t:?}");
        assert_eq!(r, Value::Null, "no method answer without the token");
    }
    // Another verb; no length; too long a body; too long a head.
    let (code, _) = exchange(
        addr,
        format!("GET / HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n").as_bytes(),
    );
    assert_eq!(code, 405);
    let (code, _) = exchange(
        addr,
        format!("POST / HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n").as_bytes(),
    );
    assert_eq!(code, 411);
    let (code, _) = exchange(
        addr,
        format!(
            "POST / HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n\r\n",
            MAX_REQUEST + 1
        )
        .as_bytes(),
    );
    assert_eq!(code, 413);
    let mut flood = b"POST / HTTP/1.1\r\nX-Junk: ".to_vec();
    flood.extend(std::iter::repeat_n(b'a', 20_000));
    let (code, _) = exchange(addr, &flood);
    assert_eq!(code, 431);
    let (code, _) = exchange(addr, b"garbage\r\n\r\n");
    assert_eq!(code, 400);
    // JSON-RPC errors come as on the socket.
    let (code, r) = post(addr, Some(TOKEN), "{not json");
    assert_eq!((code, r["error"]["code"].as_i64()), (200, Some(-32700)));
    let (code, r) = post(
        addr,
        Some(TOKEN),
        &json!({"jsonrpc": "2.0", "id": 1, "method": "nosuchmethod"}).to_string(),
    );
    assert_eq!((code, r["error"]["code"].as_i64()), (200, Some(-32601)));
    let (_, r) = post(
        addr,
        Some(TOKEN),
        &json!({"jsonrpc": "2.0", "id": 1, "method": "invoice", "params": []}).to_string(),
    );
    assert_eq!(r["error"]["code"], -32602);
    // A client that sends half a body and goes away costs nothing.
    {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(
            format!(
                "POST / HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .unwrap();
    }
    let (code, _) = post(addr, Some(TOKEN), &getinfo);
    assert_eq!(code, 200, "still serving");
    assert!(!server.stop_requested());
}
