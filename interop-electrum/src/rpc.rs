//! A JSON-RPC client for the Electrum daemon's command server: one HTTP
//! POST per call (HTTP/1.0, so the reply ends with the connection), basic
//! authentication, named parameters.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

/// Where the daemon's command server listens, and its credentials.
#[derive(Debug, Clone)]
pub struct RpcClient {
    addr: SocketAddr,
    auth: String,
}

/// A call that failed: the daemon was unreachable, or answered with an
/// `error` (Electrum's exception text is in the message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError(pub String);

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CallError {}

impl RpcClient {
    /// A client for `addr` with `user` and `password`.
    pub fn new(addr: SocketAddr, user: &str, password: &str) -> Self {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        RpcClient { addr, auth }
    }

    /// Calls `method` with the named `params`, waiting up to `timeout` for
    /// the answer.
    pub fn call(&self, method: &str, params: Value, timeout: Duration) -> Result<Value, CallError> {
        let err =
            |what: &str, e: &dyn std::fmt::Display| CallError(format!("{method}: {what}: {e}"));
        let body =
            json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))
            .map_err(|e| err("connect", &e))?;
        stream
            .set_read_timeout(Some(timeout))
            .map_err(|e| err("socket", &e))?;
        let request = format!(
            "POST / HTTP/1.0\r\nHost: {}\r\nAuthorization: Basic {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            self.auth,
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| err("write", &e))?;
        let mut reply = Vec::new();
        stream
            .read_to_end(&mut reply)
            .map_err(|e| err("read", &e))?;
        let text = String::from_utf8_lossy(&reply);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            return Err(err("reply", &format!("no HTTP body in {text:?}")));
        };
        let status = head.split_whitespace().nth(1).unwrap_or("");
        let value: Value = serde_json::from_str(body)
            .map_err(|e| err("reply", &format!("{e} (status {status}, body {body:?})")))?;
        match value.get("error") {
            Some(e) if !e.is_null() => Err(CallError(format!("{method}: {e}"))),
            _ => Ok(value.get("result").cloned().unwrap_or(Value::Null)),
        }
    }
}
