//! The same JSON-RPC over TCP, behind a bearer token: for a client on
//! another host or in a container, where the unix socket's file
//! permissions cannot reach.
//!
//! Each connection carries one HTTP/1.1 request: `POST` (any path) with
//! `Authorization: Bearer <token>`, `Content-Length` and a JSON-RPC 2.0
//! object as the body; the answer is `200` with the JSON-RPC response
//! (errors included, as on the socket), then the connection closes. A
//! missing or wrong token gets `401` (compared in constant time), another
//! verb `405`, a malformed request `400`, a body over
//! [`MAX_REQUEST`](super::MAX_REQUEST) `413`, headers over 16 KiB `431`.
//! No TLS: put it behind one, or bind it to loopback or a private
//! network.
//!
//! ```no_run
//! # fn f(rt: lightning_node::Runtime) -> std::io::Result<()> {
//! use lightning_node::rpc::HttpRpcServer;
//! let server = HttpRpcServer::start(rt, "127.0.0.1:9835".parse().unwrap(), "s3cret".into())?;
//! // curl -s -H 'Authorization: Bearer s3cret' \
//! //   -d '{"jsonrpc":"2.0","id":1,"method":"getinfo","params":[]}' http://127.0.0.1:9835/
//! # drop(server); Ok(()) }
//! ```

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};

use super::{Ctx, RpcError, MAX_REQUEST};
use crate::Runtime;

/// The longest request head (request line and headers).
const MAX_HEAD: usize = 16 * 1024;

/// Connections served at once.
const MAX_CONNECTIONS: usize = 64;

/// The longest a client may take to send its whole request (so 64 slow
/// senders cannot hold every connection).
const REQUEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// A running TCP server; dropping it stops accepting.
#[derive(Debug)]
pub struct HttpRpcServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    stop_requested: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpRpcServer {
    /// Serves `rt` on `addr`, to requests carrying `token`. Refuses an
    /// empty token.
    pub fn start(rt: Runtime, addr: SocketAddr, token: String) -> std::io::Result<HttpRpcServer> {
        if token.is_empty() {
            return Err(std::io::Error::new(
                ErrorKind::InvalidInput,
                "the RPC bearer token is empty",
            ));
        }
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_requested = Arc::new(AtomicBool::new(false));
        let ctx = Ctx {
            rt,
            stop_requested: stop_requested.clone(),
        };
        let token = Arc::new(token.into_bytes());
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("lnnode-rpc-http".into())
                .spawn(move || accept_loop(&listener, &ctx, &token, &stop))?
        };
        Ok(HttpRpcServer {
            addr,
            stop,
            stop_requested,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether a client called `stop`.
    pub fn stop_requested(&self) -> bool {
        self.stop_requested.load(Ordering::SeqCst)
    }

    /// Stops accepting.
    pub fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HttpRpcServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(listener: &TcpListener, ctx: &Ctx, token: &Arc<Vec<u8>>, stop: &AtomicBool) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((mut stream, _)) => {
                if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                    let _ = reply(&mut stream, 503, "Service Unavailable", b"");
                    continue;
                }
                active.fetch_add(1, Ordering::SeqCst);
                let (ctx, token, active) = (ctx.clone(), token.clone(), active.clone());
                let spawned = std::thread::Builder::new()
                    .name("lnnode-rpc-http-conn".into())
                    .spawn(move || {
                        serve(stream, &ctx, &token);
                        active.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    crate::log::warn("rpc http: cannot start a connection thread");
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => {
                crate::log::warn(&format!("rpc http accept: {e}"));
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn reply(stream: &mut TcpStream, code: u16, reason: &str, body: &[u8]) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if code == 401 {
        head.push_str("WWW-Authenticate: Bearer\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

/// Equal bytes, in time that depends on the lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The request's verb, headers (lower-cased names) and where the body
/// starts in `buf`, once the head is complete.
type Head = (String, Vec<(String, String)>, usize);

fn parse_head(buf: &[u8]) -> Result<Option<Head>, (u16, &'static str)> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Err((431, "Request Header Fields Too Large"))
        } else {
            Ok(None)
        };
    };
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| (400, "Bad Request"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let verb = parts.next().unwrap_or("").to_owned();
    let (Some(_path), Some(version)) = (parts.next(), parts.next()) else {
        return Err((400, "Bad Request"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err((400, "Bad Request"));
    }
    let mut headers = Vec::new();
    for l in lines {
        let (name, value) = l.split_once(':').ok_or((400, "Bad Request"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Ok(Some((verb, headers, end + 4)))
}

fn serve(mut stream: TcpStream, ctx: &Ctx, token: &[u8]) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_nodelay(true);
    let started = std::time::Instant::now();
    let late = || started.elapsed() > REQUEST_DEADLINE;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let (verb, headers, body_at) = loop {
        match parse_head(&buf) {
            Ok(Some(h)) => break h,
            Ok(None) => {}
            Err((code, reason)) => {
                let _ = reply(&mut stream, code, reason, b"");
                return;
            }
        }
        if late() {
            let _ = reply(&mut stream, 408, "Request Timeout", b"");
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let authorized = header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| same(t.trim().as_bytes(), token));
    if !authorized {
        let _ = reply(&mut stream, 401, "Unauthorized", b"");
        return;
    }
    if verb != "POST" {
        let _ = reply(&mut stream, 405, "Method Not Allowed", b"");
        return;
    }
    let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) else {
        let _ = reply(&mut stream, 411, "Length Required", b"");
        return;
    };
    if len > MAX_REQUEST {
        let _ = reply(&mut stream, 413, "Payload Too Large", b"");
        return;
    }
    let mut body = buf.split_off(body_at);
    while body.len() < len {
        if late() {
            let _ = reply(&mut stream, 408, "Request Timeout", b"");
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(len);
    let (id, result) = match serde_json::from_slice::<Value>(&body) {
        // One request per connection, answered once: a client that left
        // is found when the answer cannot be written.
        Ok(request) => super::dispatch(ctx, &request, &|| !ctx.rt.is_stopping()),
        Err(e) => (
            Value::Null,
            Err(RpcError::new(-32700, format!("parse error: {e}"))),
        ),
    };
    let out = match result {
        Ok(v) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
        Err(e) => json!({"jsonrpc": "2.0", "id": id,
            "error": {"code": e.code, "message": e.message}}),
    };
    let _ = reply(
        &mut stream,
        200,
        "OK",
        &serde_json::to_vec(&out).unwrap_or_default(),
    );
}

/// A fresh token: 32 bytes from the system's random source, hex.
pub fn new_token() -> std::io::Result<String> {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(hex::encode(b))
}
