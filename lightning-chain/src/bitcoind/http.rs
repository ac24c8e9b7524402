//! HTTP for the bitcoind adapter: JSON-RPC POSTs (a [`jsonrpc::Transport`])
//! and Core's REST GETs, over one `ureq` agent (keep-alive connections,
//! bodies read in bulk).

use std::fmt;
use std::time::Duration;

use jsonrpc::{Request, Response};

/// The largest reply read: a block of 4 MB is 8 MB as JSON-RPC hex.
const MAX_REPLY: u64 = 64 * 1024 * 1024;

/// Where bitcoind is, as given and as its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Endpoint {
    /// `http://host:port/path`: where JSON-RPC goes (a wallet path kept).
    pub(super) rpc: String,
    /// `http://host:port`: what REST paths are appended to.
    pub(super) base: String,
}

impl Endpoint {
    /// Parses `http://host:port/path` (or `host:port`), dropping any
    /// `user:password@` (credentials are given apart). HTTPS is refused:
    /// bitcoind's RPC has no TLS.
    pub(super) fn parse(url: &str) -> Result<Endpoint, String> {
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "{scheme}:// is not supported: bitcoind's RPC is plain HTTP"
                ))
            }
            None => url,
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        if authority.is_empty() {
            return Err(format!("no host in {url:?}"));
        }
        Ok(Endpoint {
            rpc: format!("http://{authority}{path}"),
            base: format!("http://{authority}"),
        })
    }
}

/// An HTTP status with the start of its body, for errors.
#[derive(Debug)]
pub(super) struct HttpStatus {
    pub(super) status: u16,
    pub(super) body: String,
}

impl fmt::Display for HttpStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if !self.body.is_empty() {
            write!(f, ": {}", self.body)?;
        }
        Ok(())
    }
}

impl std::error::Error for HttpStatus {}

fn excerpt(body: &[u8]) -> String {
    let end = body.len().min(200);
    String::from_utf8_lossy(&body[..end]).trim().to_owned()
}

/// A reply's status and its whole body (up to [`MAX_REPLY`]).
fn status_and_body(
    mut reply: ureq::http::Response<ureq::Body>,
) -> Result<(u16, Vec<u8>), ureq::Error> {
    let status = reply.status().as_u16();
    let body = reply
        .body_mut()
        .with_config()
        .limit(MAX_REPLY)
        .read_to_vec()?;
    Ok((status, body))
}

/// One agent for both interfaces.
#[derive(Clone)]
pub(super) struct Http {
    agent: ureq::Agent,
    endpoint: Endpoint,
    authorization: String,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// What a REST GET gave.
#[derive(Debug)]
pub(super) enum RestReply {
    /// 200: the body.
    Body(Vec<u8>),
    /// 404 with a body: Core's "not found" (or "not available (pruned
    /// data)").
    NotFound(String),
    /// 404 with an empty body: Core has no REST handler (`-rest=0`).
    Disabled,
}

impl Http {
    pub(super) fn new(endpoint: Endpoint, user: &str, password: &str, timeout: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            // Core answers an RPC error with 404 or 500 and a JSON body.
            .http_status_as_error(false)
            .build()
            .into();
        Http {
            agent,
            endpoint,
            authorization: basic_auth(user, password),
        }
    }

    fn post_json<R: serde::de::DeserializeOwned>(
        &self,
        body: &impl serde::Serialize,
    ) -> Result<R, jsonrpc::Error> {
        let bytes = serde_json::to_vec(body)?;
        let reply = self
            .agent
            .post(&self.endpoint.rpc)
            .header("Authorization", &self.authorization)
            .header("Content-Type", "application/json")
            .send(&bytes[..])
            .map_err(|e| jsonrpc::Error::Transport(Box::new(e)))?;
        let (status, body) =
            status_and_body(reply).map_err(|e| jsonrpc::Error::Transport(Box::new(e)))?;
        match serde_json::from_slice(&body) {
            Ok(value) => Ok(value),
            // A 401, or Core's work queue full (503): no JSON in the body.
            Err(_) if status != 200 => Err(jsonrpc::Error::Transport(Box::new(HttpStatus {
                status,
                body: excerpt(&body),
            }))),
            Err(e) => Err(e.into()),
        }
    }

    /// `GET {base}{path}`: the body of a 200, Core's 404s told apart, any
    /// other status or a transport failure as an error.
    pub(super) fn rest_get(&self, path: &str) -> Result<RestReply, String> {
        let url = format!("{}{path}", self.endpoint.base);
        let reply = self.agent.get(&url).call().map_err(|e| e.to_string())?;
        let (status, body) = status_and_body(reply).map_err(|e| e.to_string())?;
        match status {
            200 => Ok(RestReply::Body(body)),
            404 if body.iter().all(u8::is_ascii_whitespace) => Ok(RestReply::Disabled),
            404 => Ok(RestReply::NotFound(excerpt(&body))),
            _ => Err(HttpStatus {
                status,
                body: excerpt(&body),
            }
            .to_string()),
        }
    }
}

/// The JSON-RPC side.
impl jsonrpc::Transport for Http {
    fn send_request(&self, request: Request) -> Result<Response, jsonrpc::Error> {
        self.post_json(&request)
    }

    fn send_batch(&self, requests: &[Request]) -> Result<Vec<Response>, jsonrpc::Error> {
        self.post_json(&requests)
    }

    fn fmt_target(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.endpoint.rpc)
    }
}

/// `Basic base64(user:password)` (RFC 7617).
fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_is_rfc_7617() {
        // RFC 7617, section 2's example.
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic_auth("a", ""), "Basic YTo=");
        assert_eq!(basic_auth("ab", "c"), "Basic YWI6Yw==");
    }

    #[test]
    fn endpoints() {
        let e = Endpoint::parse("http://u:p@127.0.0.1:8332/wallet/w").unwrap();
        assert_eq!(e.rpc, "http://127.0.0.1:8332/wallet/w");
        assert_eq!(e.base, "http://127.0.0.1:8332");
        let e = Endpoint::parse("127.0.0.1:18443").unwrap();
        assert_eq!(e.rpc, "http://127.0.0.1:18443/");
        assert_eq!(e.base, "http://127.0.0.1:18443");
        assert!(Endpoint::parse("https://node:8332/").is_err());
        assert!(Endpoint::parse("http:///").is_err());
    }
}
