//! Bitcoin Core's unauthenticated REST interface (`-rest=1`), the subset a
//! chain client reads blocks with: `GET /rest/block/<hash>.<bin|hex>`,
//! `/rest/headers/<hash>.<bin|hex>?count=N` (and the older
//! `/rest/headers/<count>/<hash>.<bin|hex>`),
//! `/rest/blockhashbyheight/<height>.<bin|hex|json>` and
//! `/rest/chaininfo.json`, with Core's statuses: 404 and
//! `"<hash> not found"` for an unknown block, 400 for a bad request, and
//! a 404 with an empty body for every path while REST is off (Core has no
//! handler registered then).

use bitcoin::consensus::serialize;
use bitcoin::hashes::Hash;
use bitcoin::BlockHash;
use lightning_chain::ChainSource;

use crate::{lock, rpc, State};

/// Core's cap on `count` for headers.
const MAX_HEADERS: u32 = 2_000;

/// A REST reply: status, content type, body.
pub(crate) type Reply = (u16, &'static str, Vec<u8>);

fn text(status: u16, message: impl Into<String>) -> Reply {
    let mut body = message.into().into_bytes();
    body.push(b'\n');
    (status, "text/plain", body)
}

/// The body in the format the path's extension asks for.
fn formatted(bytes: Vec<u8>, format: &str) -> Reply {
    match format {
        "bin" => (200, "application/octet-stream", bytes),
        _ => {
            let mut body = hex::encode(bytes).into_bytes();
            body.push(b'\n');
            (200, "text/plain", body)
        }
    }
}

/// `name.ext` split, for the extensions the endpoint serves.
fn split_format<'a>(last: &'a str, allowed: &[&str]) -> Result<(&'a str, &'a str), Reply> {
    let (name, ext) = last.rsplit_once('.').unwrap_or((last, ""));
    if allowed.contains(&ext) {
        Ok((name, ext))
    } else {
        Err(text(
            404,
            format!(
                "output format not found (available: {})",
                allowed.join(", ")
            ),
        ))
    }
}

fn parse_hash(s: &str) -> Result<BlockHash, Reply> {
    s.parse()
        .map_err(|_| text(400, format!("Invalid hash: {s}")))
}

/// Answers a GET of `url` (path and query) under `/rest/`.
pub(crate) fn get(state: &State, url: &str) -> Reply {
    lock(&state.rest_log).push(url.to_owned());
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let parts: Vec<&str> = path.trim_start_matches("/rest/").split('/').collect();
    let outcome = match parts.as_slice() {
        ["block", last] => block(state, last),
        ["headers", last] => {
            let count = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("count="))
                .unwrap_or("5");
            headers(state, count, last)
        }
        ["headers", count, last] => headers(state, count, last),
        ["blockhashbyheight", last] => hash_by_height(state, last),
        ["chaininfo.json"] => chain_info(state),
        _ => Err(text(404, "")),
    };
    outcome.unwrap_or_else(|reply| reply)
}

fn block(state: &State, last: &str) -> Result<Reply, Reply> {
    let (hash, format) = split_format(last, &["bin", "hex"])?;
    let hash = parse_hash(hash)?;
    let chain = state.chain.lock();
    let block = ChainSource::block(&*chain, &hash)
        .ok()
        .flatten()
        .ok_or_else(|| text(404, format!("{hash} not found")))?;
    Ok(formatted(serialize(&block), format))
}

fn headers(state: &State, count: &str, last: &str) -> Result<Reply, Reply> {
    let (hash, format) = split_format(last, &["bin", "hex"])?;
    let hash = parse_hash(hash)?;
    let count: u32 = count
        .parse()
        .ok()
        .filter(|c| (1..=MAX_HEADERS).contains(c))
        .ok_or_else(|| {
            text(
                400,
                format!(
                    "Header count is invalid or out of acceptable range (1-{MAX_HEADERS}): {count}"
                ),
            )
        })?;
    let chain = state.chain.lock();
    // Core: the headers from `hash` up the best chain; none when `hash`
    // is unknown or not on it (an empty 200).
    let mut bytes = Vec::new();
    if let Some(height) = chain.height_of(&hash) {
        for h in height..height.saturating_add(count) {
            let Some(b) = chain.block_at(h) else { break };
            bytes.extend(serialize(&b.header));
        }
    }
    Ok(formatted(bytes, format))
}

fn hash_by_height(state: &State, last: &str) -> Result<Reply, Reply> {
    let (height, format) = split_format(last, &["bin", "hex", "json"])?;
    let height: u32 = height
        .parse()
        .map_err(|_| text(400, format!("Invalid height: {height}")))?;
    let hash = state
        .chain
        .block_at(height)
        .map(|b| b.block_hash())
        .ok_or_else(|| text(404, "Block height out of range"))?;
    Ok(match format {
        "json" => {
            let body = serde_json::json!({ "blockhash": hash.to_string() }).to_string();
            (200, "application/json", (body + "\n").into_bytes())
        }
        // Core's `.bin` is the hash in its internal byte order; `.hex`
        // the display order.
        "bin" => (
            200,
            "application/octet-stream",
            hash.to_byte_array().to_vec(),
        ),
        _ => text(200, hash.to_string()),
    })
}

fn chain_info(state: &State) -> Result<Reply, Reply> {
    let info = rpc::call(state, "getblockchaininfo", &serde_json::json!([]))
        .map_err(|e| text(500, e.message))?;
    Ok((
        200,
        "application/json",
        (info.to_string() + "\n").into_bytes(),
    ))
}
