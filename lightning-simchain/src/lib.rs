//! The simulated chain served over a bitcoind-compatible JSON-RPC on
//! loopback. Test infrastructure, not published.
//!
//! [`RpcServer`] is a thin HTTP layer over a [`SimChainHandle`]: every
//! transaction it accepts goes through the simulated mempool, which verifies
//! scripts with libbitcoinconsensus, and every block it serves is the
//! simulated chain's own (regtest genesis, correct merkle roots, BIP 141
//! commitments). It answers the subset of Bitcoin Core's RPC that
//! ElectrumX 2.0 and the `lightning-chain` adapters use (see [`METHODS`]),
//! with Core's shapes: JSON-RPC 1.0 replies carry both `result` and
//! `error` (`null` when there is none), `Content-Type: application/json`,
//! batches are answered in order, and a request may carry `jsonrpc` or not.
//! It claims to be Bitcoin Core 31.0 with `txindex` and `txospenderindex`,
//! which is what ElectrumX 2.0 checks.
//!
//! The `simchain` program runs one on a port of the caller's choosing; tests
//! start one in-process:
//!
//! ```
//! use lightning_sim::SimChainHandle;
//! use lightning_simchain::{Credentials, RpcServer};
//!
//! let chain = SimChainHandle::new();
//! let server = RpcServer::start(chain.clone(), Credentials::new("u", "p"), "127.0.0.1:0").unwrap();
//! let reply = server.call_local("getblockcount", &serde_json::json!([])).unwrap();
//! assert_eq!(reply, serde_json::json!(0));
//! # drop(server);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod electrumx;
pub mod esplora;
mod json;
mod rest;
mod rpc;

use std::collections::HashMap;
use std::io::Read;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;
use bitcoin::Txid;
use lightning_sim::SimChainHandle;
use serde_json::{json, Value};

pub use rpc::{RpcError, METHODS};

/// The largest request body accepted (Core's limit is larger; blocks are
/// never uploaded here).
const MAX_BODY: u64 = 32 * 1024 * 1024;

/// Calls kept for [`RpcServer::calls`].
const MAX_LOGGED_CALLS: usize = 100_000;

/// Threads answering requests.
const WORKERS: usize = 4;

/// The user and password a client must present (HTTP basic auth).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    user: String,
    password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// `user` and `password`, as `rpcuser`/`rpcpassword` set them in Core.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            user: user.into(),
            password: password.into(),
        }
    }

    /// A cookie as Core makes one: user `__cookie__` and 32 random bytes in
    /// hex (from `/dev/urandom`).
    pub fn random_cookie() -> std::io::Result<Self> {
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        let password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Credentials::new("__cookie__", password))
    }

    /// Writes `user:password` to `path`, as Core's `.cookie` file.
    pub fn write_cookie(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, format!("{}:{}", self.user, self.password))
    }

    /// The user.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The password.
    pub fn password(&self) -> &str {
        &self.password
    }

    fn matches_header(&self, value: &str) -> bool {
        let Some(encoded) = value.strip_prefix("Basic ") else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        decoded == format!("{}:{}", self.user, self.password).as_bytes()
    }
}

/// State the RPC methods share.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) chain: SimChainHandle,
    /// `estimatesmartfee`'s base rate in sat/kvB; `None`: no estimate.
    pub(crate) fee_rate: Mutex<Option<u64>>,
    pub(crate) started: Instant,
    /// When each mempool transaction was first accepted (Unix seconds).
    pub(crate) mempool_times: Mutex<HashMap<Txid, u64>>,
    /// Every call, in arrival order, with when it arrived and when it was
    /// answered (since `started`; `None` while it is being served).
    pub(crate) log: Mutex<Vec<LoggedCall>>,
    /// Core's `-rest`: the REST interface is served.
    pub(crate) rest: AtomicBool,
    /// Every REST request (path and query), in arrival order.
    pub(crate) rest_log: Mutex<Vec<String>>,
}

/// One call in [`State::log`].
#[derive(Clone, Debug)]
pub(crate) struct LoggedCall {
    pub(crate) method: String,
    pub(crate) params: Value,
    pub(crate) arrived: Duration,
    pub(crate) answered: Option<Duration>,
}

impl State {
    /// The last `n` calls, one per line: when each arrived and was answered
    /// (seconds since the server started) and its method; for the error of
    /// a client that stalled (was a call left unanswered, or did the client
    /// stop calling?).
    pub(crate) fn call_log_tail(&self, n: usize) -> String {
        let log = lock(&self.log);
        let now = self.started.elapsed().as_secs_f64();
        let mut text = format!("simchain's last {n} RPC calls (now: {now:.2} s):\n");
        for call in log.iter().rev().take(n).rev() {
            let answered = match call.answered {
                Some(t) => format!("answered {:.2}", t.as_secs_f64()),
                None => "NOT ANSWERED".to_owned(),
            };
            text.push_str(&format!(
                "  {:.2} {} ({answered})\n",
                call.arrived.as_secs_f64(),
                call.method
            ));
        }
        text
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running JSON-RPC server; stops when dropped.
pub struct RpcServer {
    addr: SocketAddr,
    credentials: Credentials,
    server: Arc<tiny_http::Server>,
    workers: Vec<JoinHandle<()>>,
    state: Arc<State>,
}

impl std::fmt::Debug for RpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RpcServer {
    /// The rate `estimatesmartfee` starts with: 2,000 sat/kvB (2 sat/vB)
    /// for targets of 7 blocks or more; shorter targets pay more.
    pub const DEFAULT_FEE_RATE_SAT_PER_KVB: u64 = 2_000;

    /// Serves `chain` on `addr` (port 0 picks a free one) to clients
    /// presenting `credentials`.
    pub fn start(
        chain: SimChainHandle,
        credentials: Credentials,
        addr: impl ToSocketAddrs,
    ) -> std::io::Result<Self> {
        let server = tiny_http::Server::http(addr).map_err(std::io::Error::other)?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("not an IP listener"))?;
        let server = Arc::new(server);
        let state = Arc::new(State {
            chain,
            fee_rate: Mutex::new(Some(Self::DEFAULT_FEE_RATE_SAT_PER_KVB)),
            started: Instant::now(),
            mempool_times: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            rest: AtomicBool::new(false),
            rest_log: Mutex::new(Vec::new()),
        });
        let workers = (0..WORKERS)
            .map(|_| {
                let server = Arc::clone(&server);
                let state = Arc::clone(&state);
                let credentials = credentials.clone();
                std::thread::spawn(move || {
                    while let Ok(request) = server.recv() {
                        handle(&state, &credentials, request);
                    }
                })
            })
            .collect();
        Ok(RpcServer {
            addr,
            credentials,
            server,
            workers,
            state,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// `http://USER:PASSWORD@127.0.0.1:PORT/`, ElectrumX's `DAEMON_URL`.
    pub fn url_with_auth(&self) -> String {
        format!(
            "http://{}:{}@{}/",
            self.credentials.user, self.credentials.password, self.addr
        )
    }

    /// The credentials clients must present.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The chain served.
    pub fn chain(&self) -> &SimChainHandle {
        &self.state.chain
    }

    /// Sets `estimatesmartfee`'s base rate in sat/kvB (targets of 7 blocks
    /// or more); `None` makes it answer "Insufficient data", as a fresh
    /// node does.
    pub fn set_fee_rate(&self, sat_per_kvb: Option<u64>) {
        *lock(&self.state.fee_rate) = sat_per_kvb;
    }

    /// Turns Core's unauthenticated REST interface on or off (`-rest`;
    /// off at start, as in Core): `GET /rest/block/<hash>.bin` and the
    /// rest of the subset in the `rest` module. While off, every
    /// `/rest/` path is a 404 with an empty body, as Core answers.
    pub fn set_rest(&self, on: bool) {
        self.state.rest.store(on, Ordering::Relaxed);
    }

    /// Every REST request served so far (path and query), in arrival
    /// order.
    pub fn rest_requests(&self) -> Vec<String> {
        lock(&self.state.rest_log).clone()
    }

    /// Every call served so far: method and params, in arrival order.
    pub fn calls(&self) -> Vec<(String, Value)> {
        lock(&self.state.log)
            .iter()
            .map(|c| (c.method.clone(), c.params.clone()))
            .collect()
    }

    /// Answers one call without HTTP (tests, and the program's own use).
    pub fn call_local(&self, method: &str, params: &Value) -> Result<Value, RpcError> {
        rpc::call(&self.state, method, params)
    }
}

impl Drop for RpcServer {
    fn drop(&mut self) {
        for _ in 0..self.workers.len() {
            self.server.unblock();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn json_response(status: u16, body: &Value) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let mut text = body.to_string();
    text.push('\n');
    let response = tiny_http::Response::from_string(text).with_status_code(status);
    match tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..]) {
        Ok(header) => response.with_header(header),
        Err(()) => response,
    }
}

fn handle(state: &State, credentials: &Credentials, mut request: tiny_http::Request) {
    if *request.method() == tiny_http::Method::Get && request.url().starts_with("/rest/") {
        // Unauthenticated, as Core's.
        let (status, content_type, body) = if state.rest.load(Ordering::Relaxed) {
            rest::get(state, request.url())
        } else {
            (404, "text/plain", Vec::new())
        };
        let mut response = tiny_http::Response::from_data(body).with_status_code(status);
        if let Ok(header) = tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type) {
            response.add_header(header);
        }
        let _ = request.respond(response);
        return;
    }
    let authorised = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .is_some_and(|h| credentials.matches_header(h.value.as_str()));
    if !authorised {
        let mut response = tiny_http::Response::empty(401);
        if let Ok(header) =
            tiny_http::Header::from_bytes(&b"WWW-Authenticate"[..], &b"Basic realm=\"jsonrpc\""[..])
        {
            response.add_header(header);
        }
        let _ = request.respond(response);
        return;
    }
    if *request.method() != tiny_http::Method::Post {
        let _ = request.respond(
            tiny_http::Response::from_string("JSONRPC server handles only POST requests")
                .with_status_code(405),
        );
        return;
    }
    let mut body = Vec::new();
    if request
        .as_reader()
        .take(MAX_BODY)
        .read_to_end(&mut body)
        .is_err()
    {
        return;
    }
    let (status, reply) = match serde_json::from_slice::<Value>(&body) {
        Err(_) => (
            500,
            json!({"result": null, "error": {"code": -32700, "message": "Parse error"}, "id": null}),
        ),
        Ok(Value::Array(batch)) => (
            200,
            Value::Array(batch.iter().map(|r| one(state, r).1).collect()),
        ),
        Ok(single) => one(state, &single),
    };
    let _ = request.respond(json_response(status, &reply));
}

/// One request object: the HTTP status Core would give it alone, and the
/// reply object.
fn one(state: &State, request: &Value) -> (u16, Value) {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let v2 = request.get("jsonrpc").and_then(Value::as_str) == Some("2.0");
    let outcome = match request.get("method").and_then(Value::as_str) {
        None => Err(RpcError::new(-32600, "Method must be a string")),
        Some(method) => {
            let params = request.get("params").cloned().unwrap_or(Value::Null);
            let mut log = lock(&state.log);
            if log.len() >= MAX_LOGGED_CALLS {
                // A long-running `simchain` polled by ElectrumX: keep the
                // newest half.
                log.drain(..MAX_LOGGED_CALLS / 2);
            }
            let arrived = state.started.elapsed();
            log.push(LoggedCall {
                method: method.to_owned(),
                params: params.clone(),
                arrived,
                answered: None,
            });
            drop(log);
            let outcome = rpc::call(state, method, &params);
            let answered = state.started.elapsed();
            if let Some(call) = lock(&state.log)
                .iter_mut()
                .rev()
                .find(|c| c.arrived == arrived && c.method == method)
            {
                call.answered = Some(answered);
            }
            outcome
        }
    };
    match (outcome, v2) {
        (Ok(result), false) => (200, json!({"result": result, "error": null, "id": id})),
        (Ok(result), true) => (200, json!({"jsonrpc": "2.0", "result": result, "id": id})),
        (Err(error), v2) => {
            let status = match error.code {
                -32601 => 404,
                -32600 => 400,
                _ => 500,
            };
            let err = json!({"code": error.code, "message": error.message});
            if v2 {
                (200, json!({"jsonrpc": "2.0", "error": err, "id": id}))
            } else {
                (status, json!({"result": null, "error": err, "id": id}))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_log_tail_shows_each_call_and_its_answer() {
        let chain = lightning_sim::SimChainHandle::new();
        let server = RpcServer::start(chain, Credentials::new("u", "p"), "127.0.0.1:0").unwrap();
        let (status, _) = one(&server.state, &json!({"method": "getblockcount", "id": 1}));
        assert_eq!(status, 200);
        // A call still being served is shown as such.
        lock(&server.state.log).push(LoggedCall {
            method: "getrawmempool".to_owned(),
            params: Value::Null,
            arrived: server.state.started.elapsed(),
            answered: None,
        });
        let tail = server.state.call_log_tail(20);
        let lines: Vec<&str> = tail.lines().skip(1).collect();
        assert_eq!(lines.len(), 2, "{tail}");
        assert!(lines[0].contains("getblockcount (answered"), "{tail}");
        assert!(lines[1].contains("getrawmempool (NOT ANSWERED)"), "{tail}");
        assert_eq!(server.calls().len(), 2);
    }
}
