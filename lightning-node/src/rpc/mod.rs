//! A Core Lightning-compatible JSON-RPC 2.0 server on a unix socket.
//!
//! Like `lightningd`'s `lightning-rpc`: the socket is created mode 0600
//! (only the node's user may connect), a client writes one JSON-RPC 2.0
//! request object (no newline framing needed; several may follow each
//! other on one connection) and reads one response object per request,
//! each followed by a blank line. Errors are
//! `{"error":{"code":...,"message":...}}` with CLN's codes (see
//! `methods`). A request over [`MAX_REQUEST`] bytes, a body that is not
//! JSON, or a client that goes away mid-request ends that connection
//! only; each connection has its own thread, so a method that waits
//! (`waitanyinvoice`, `pay`) holds up no one else.
//!
//! [`HttpRpcServer`] serves the same methods over TCP (HTTP `POST`),
//! behind a bearer token.

mod backup;
mod graph;
mod http;
mod keysend;
mod methods;
mod offers;
mod params;
mod pays;

use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};

use crate::Runtime;

pub use http::{new_token, HttpRpcServer};
pub use methods::METHODS;

/// The largest request accepted, in bytes.
pub const MAX_REQUEST: usize = 1 << 20;

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 64;

/// A JSON-RPC error: CLN's code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// The code (JSON-RPC's -32xxx, or CLN's own).
    pub code: i64,
    /// In words.
    pub message: String,
}

impl RpcError {
    /// An error with `code`.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
        }
    }
    /// -32602, bad parameters.
    pub fn params(message: impl Into<String>) -> Self {
        Self::new(-32602, message)
    }
    /// -1, a general error.
    pub fn general(message: impl Into<String>) -> Self {
        Self::new(-1, message)
    }
}

/// What the methods share with the server.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub(crate) rt: Runtime,
    pub(crate) stop_requested: Arc<AtomicBool>,
}

/// A running RPC server; [`RpcServer::shutdown`] or dropping it stops
/// accepting and removes the socket file.
#[derive(Debug)]
pub struct RpcServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    stop_requested: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RpcServer {
    /// Serves `rt` on the unix socket at `path` (mode 0600). A stale
    /// socket file (nobody answers on it) is replaced; a live one is an
    /// error (`AddrInUse`).
    pub fn start(rt: Runtime, path: &Path) -> std::io::Result<RpcServer> {
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(std::io::Error::new(
                    ErrorKind::AddrInUse,
                    format!("{} is in use by a running node", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_requested = Arc::new(AtomicBool::new(false));
        let ctx = Ctx {
            rt,
            stop_requested: stop_requested.clone(),
        };
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("lnnode-rpc".into())
                .spawn(move || accept_loop(&listener, &ctx, &stop))?
        };
        Ok(RpcServer {
            path: path.to_owned(),
            stop,
            stop_requested,
            thread: Some(thread),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a client called `stop`.
    pub fn stop_requested(&self) -> bool {
        self.stop_requested.load(Ordering::SeqCst)
    }

    /// Stops accepting and removes the socket.
    pub fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for RpcServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(listener: &UnixListener, ctx: &Ctx, stop: &AtomicBool) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                    let mut s = stream;
                    let _ = write_response(
                        &mut s,
                        &Value::Null,
                        Err(RpcError::general("too many connections")),
                    );
                    continue;
                }
                active.fetch_add(1, Ordering::SeqCst);
                let ctx = ctx.clone();
                let active = active.clone();
                let spawned = std::thread::Builder::new()
                    .name("lnnode-rpc-conn".into())
                    .spawn(move || {
                        serve(stream, &ctx);
                        active.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    crate::log::warn("rpc: cannot start a connection thread");
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => {
                crate::log::warn(&format!("rpc accept: {e}"));
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn write_response(
    stream: &mut UnixStream,
    id: &Value,
    result: Result<Value, RpcError>,
) -> std::io::Result<()> {
    let body = match result {
        Ok(v) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
        Err(e) => json!({"jsonrpc": "2.0", "id": id,
            "error": {"code": e.code, "message": e.message}}),
    };
    let mut bytes = serde_json::to_vec(&body).unwrap_or_default();
    bytes.extend_from_slice(b"\n\n");
    stream.write_all(&bytes)?;
    stream.flush()
}

/// Whether the client is still there: a non-blocking read that sees
/// end-of-file (or an error) says it left. Bytes it did send (a next
/// request) are kept in `early` for the request loop.
pub(crate) fn client_alive(stream: &UnixStream, early: &std::cell::RefCell<Vec<u8>>) -> bool {
    let mut b = [0u8; 4096];
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let mut s = stream;
    let alive = match s.read(&mut b) {
        Ok(0) => false,
        Ok(n) => {
            early.borrow_mut().extend_from_slice(&b[..n]);
            true
        }
        Err(e) => matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted),
    };
    let _ = stream.set_nonblocking(false);
    alive
}

fn serve(mut stream: UnixStream, ctx: &Ctx) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        // Every complete request in the buffer.
        loop {
            let mut it = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
            match it.next() {
                Some(Ok(request)) => {
                    let used = it.byte_offset();
                    buf.drain(..used);
                    let early = std::cell::RefCell::new(Vec::new());
                    let (id, result) = handle(ctx, &request, &stream, &early);
                    if write_response(&mut stream, &id, result).is_err() {
                        return;
                    }
                    buf.extend_from_slice(&early.into_inner());
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(e)) => {
                    let _ = write_response(
                        &mut stream,
                        &Value::Null,
                        Err(RpcError::new(-32700, format!("parse error: {e}"))),
                    );
                    return;
                }
                None => {
                    buf.clear();
                    break;
                }
            }
        }
        if buf.len() > MAX_REQUEST {
            let _ = write_response(
                &mut stream,
                &Value::Null,
                Err(RpcError::new(
                    -32600,
                    format!("request larger than {MAX_REQUEST} bytes"),
                )),
            );
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if ctx.rt.is_stopping() {
                    return;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// One request: its id and the method's result.
fn handle(
    ctx: &Ctx,
    request: &Value,
    stream: &UnixStream,
    early: &std::cell::RefCell<Vec<u8>>,
) -> (Value, Result<Value, RpcError>) {
    let alive = || client_alive(stream, early);
    dispatch(ctx, request, &alive)
}

/// One JSON-RPC request object, over any transport: its id and the
/// method's result. `alive` says whether the client still waits.
pub(crate) fn dispatch(
    ctx: &Ctx,
    request: &Value,
    alive: &dyn Fn() -> bool,
) -> (Value, Result<Value, RpcError>) {
    let Some(obj) = request.as_object() else {
        return (
            Value::Null,
            Err(RpcError::new(-32600, "a request is a JSON object")),
        );
    };
    let id = obj.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = obj.get("method").and_then(Value::as_str) else {
        return (id, Err(RpcError::new(-32600, "missing method")));
    };
    let params = obj.get("params").cloned().unwrap_or(Value::Null);
    crate::log::debug(&format!("rpc: {method}"));
    let result = methods::call(ctx, method, &params, alive);
    if let Err(e) = &result {
        crate::log::debug(&format!("rpc: {method}: error {}: {}", e.code, e.message));
    }
    (id, result)
}
