//! A chain source over Bitcoin Core's JSON-RPC (feature `bitcoind`).
//!
//! [`BitcoindSource`] is a [`ChainSource`] for the [`ChainSync`](crate::ChainSync)
//! driver (full blocks from a checkpoint, reorgs of any depth: Core serves
//! stale blocks by hash), a [`Broadcaster`] and, through its
//! [`CachedFeeEstimator`], a [`FeeEstimator`].
//!
//! The client is the rust-bitcoin project's `jsonrpc` crate (0.21), the
//! client `corepc-client` is built on, over a transport of ours on `ureq`
//! (`http`: keep-alive connections, replies read in bulk; `jsonrpc`'s
//! own `bitreq` transport read a reply a byte at a time, a quarter of a
//! sync's time in the `chain_sync` bench).
//!
//! With [`use_rest`](BitcoindSource::use_rest) (bitcoind run with
//! `-rest=1`), blocks come from Core's unauthenticated REST interface,
//! `GET /rest/block/<hash>.bin`: the block's own bytes, with neither the
//! hex nor the JSON of `getblock`. Any other answer than a block falls
//! back to `getblock` for that block (which also tells an unknown block
//! from a pruned one), and a REST interface found off (Core's 404 with an
//! empty body) is not asked again.
//! `corepc-client` itself was the first choice, but its 0.18 release marks
//! the blocking client deprecated outside regtest testing (it points to
//! `corepc-regtest-client`), and its typed methods are tied to one Core
//! version's reply shapes; the few calls here read only fields every Core
//! since 0.17 has, so one adapter serves any version. Every block and header
//! fetched is checked to hash to what was asked, and a block's merkle root
//! to match its transactions.

mod http;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bitcoin::block::Header;
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::hex::FromHex;
use bitcoin::{Block, BlockHash, Transaction, Txid};
use jsonrpc::Error as ClientError;
use serde_json::{json, Value};

use crate::block_check::check_block;
use crate::fee_cache::{fee_rate_from_btc_per_kvb, CachedFeeEstimator, FeeConfig, FeeUpdate};
use crate::{
    BestBlock, Broadcaster, ChainSource, ChainSourceError, ConfirmationTarget, FeeEstimator,
    FeeRate, MempoolPoll,
};

/// Outpoints asked per `gettxspendingprevout` request.
const SPENDING_PREVOUT_CHUNK: usize = 500;

/// Core's `RPC_INVALID_ADDRESS_OR_KEY` ("Block not found").
const RPC_INVALID_ADDRESS_OR_KEY: i32 = -5;
/// Core's `RPC_INVALID_PARAMETER` ("Block height out of range").
const RPC_INVALID_PARAMETER: i32 = -8;
/// Core's `RPC_VERIFY_ALREADY_IN_CHAIN`.
const RPC_VERIFY_ALREADY_IN_CHAIN: i32 = -27;
/// JSON-RPC's "method not found".
const RPC_METHOD_NOT_FOUND: i32 = -32601;

/// How to log in to bitcoind.
#[derive(Clone, PartialEq, Eq)]
pub enum BitcoindAuth {
    /// `rpcuser`/`rpcpassword` (or an `rpcauth` entry).
    UserPass(String, String),
    /// The `.cookie` file Core writes in its data directory; read when the
    /// source is made.
    CookieFile(std::path::PathBuf),
}

impl std::fmt::Debug for BitcoindAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BitcoindAuth::UserPass(user, _) => write!(f, "UserPass({user:?}, ..)"),
            BitcoindAuth::CookieFile(path) => write!(f, "CookieFile({path:?})"),
        }
    }
}

/// A transaction bitcoind refused, as [`BitcoindSource::take_broadcast_errors`]
/// reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BroadcastError {
    /// The transaction.
    pub txid: Txid,
    /// bitcoind's error.
    pub error: String,
}

/// Bitcoin Core over JSON-RPC (and REST for blocks); see the
/// [module documentation](self).
pub struct BitcoindSource {
    client: jsonrpc::Client,
    http: http::Http,
    /// Blocks are asked of REST first.
    rest: AtomicBool,
    /// Why the last REST request gave no block (for the host's logs).
    rest_fallback: Mutex<Option<String>>,
    fees: CachedFeeEstimator,
    broadcast_errors: Mutex<Vec<BroadcastError>>,
}

impl std::fmt::Debug for BitcoindSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BitcoindSource")
            .field("http", &self.http)
            .field("rest", &self.rest.load(Ordering::Relaxed))
            .field("fees", &self.fees)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> ChainSourceError {
    ChainSourceError::Unavailable(e.to_string())
}

/// The RPC error code, if `e` is an error bitcoind returned (as opposed to
/// a transport failure).
fn rpc_code(e: &ClientError) -> Option<i32> {
    match e {
        ClientError::Rpc(rpc) => Some(rpc.code),
        _ => None,
    }
}

/// A transport failure or an error bitcoind returned: try again later;
/// anything else (a reply that is not what was asked): bad data.
fn classify(e: ClientError) -> ChainSourceError {
    match &e {
        ClientError::Transport(_) | ClientError::Rpc(_) => unavailable(e),
        _ => ChainSourceError::BadData(e.to_string()),
    }
}

impl BitcoindSource {
    /// How long one request may take by default.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// A source for the bitcoind at `url` (`http://127.0.0.1:8332/`),
    /// answering fee estimates bounded by `fees`. Makes no request yet
    /// (a cookie file is read now).
    pub fn new(url: &str, auth: BitcoindAuth, fees: FeeConfig) -> Result<Self, ChainSourceError> {
        Self::with_timeout(url, auth, fees, Self::DEFAULT_TIMEOUT)
    }

    /// As [`new`](Self::new), with a request timeout.
    pub fn with_timeout(
        url: &str,
        auth: BitcoindAuth,
        fees: FeeConfig,
        timeout: Duration,
    ) -> Result<Self, ChainSourceError> {
        let (user, password) = match auth {
            BitcoindAuth::UserPass(user, password) => (user, password),
            BitcoindAuth::CookieFile(path) => {
                let cookie = std::fs::read_to_string(&path).map_err(|e| {
                    unavailable(format!("cannot read cookie {}: {e}", path.display()))
                })?;
                let line = cookie.lines().next().unwrap_or("");
                let (user, password) = line.split_once(':').ok_or_else(|| {
                    ChainSourceError::BadData(format!(
                        "cookie {} is not user:password",
                        path.display()
                    ))
                })?;
                (user.to_owned(), password.to_owned())
            }
        };
        let endpoint = http::Endpoint::parse(url).map_err(ChainSourceError::BadData)?;
        let http = http::Http::new(endpoint, &user, &password, timeout);
        let client = jsonrpc::Client::with_transport(http.clone());
        Ok(BitcoindSource {
            client,
            http,
            rest: AtomicBool::new(false),
            rest_fallback: Mutex::new(None),
            fees: CachedFeeEstimator::new(fees),
            broadcast_errors: Mutex::new(Vec::new()),
        })
    }

    /// Blocks from Core's REST interface (bitcoind run with `-rest=1`),
    /// `GET /rest/block/<hash>.bin`, on the RPC port; see the
    /// [module documentation](self).
    ///
    /// ```
    /// use lightning_chain::bitcoind::{BitcoindAuth, BitcoindSource};
    /// use lightning_chain::FeeConfig;
    ///
    /// let auth = BitcoindAuth::UserPass("user".into(), "pass".into());
    /// let source = BitcoindSource::new("http://127.0.0.1:8332/", auth, FeeConfig::default())?
    ///     .use_rest();
    /// assert!(source.rest_enabled());
    /// # Ok::<(), lightning_chain::ChainSourceError>(())
    /// ```
    #[must_use]
    pub fn use_rest(self) -> Self {
        self.rest.store(true, Ordering::Relaxed);
        self
    }

    /// Whether blocks are still asked of REST first (false once bitcoind
    /// was found with REST off).
    pub fn rest_enabled(&self) -> bool {
        self.rest.load(Ordering::Relaxed)
    }

    /// Why the last REST request fell back to JSON-RPC, if one did since
    /// the last call.
    pub fn take_rest_fallback(&self) -> Option<String> {
        self.rest_fallback
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// The block by REST, or `None` (with the reason noted) when JSON-RPC
    /// must answer.
    fn rest_block(&self, hash: &BlockHash) -> Option<Vec<u8>> {
        let why = match self.http.rest_get(&format!("/rest/block/{hash}.bin")) {
            Ok(http::RestReply::Body(bytes)) => return Some(bytes),
            Ok(http::RestReply::NotFound(body)) => format!("REST: {body}"),
            Ok(http::RestReply::Disabled) => {
                self.rest.store(false, Ordering::Relaxed);
                "REST is off at bitcoind (run it with -rest=1); blocks come by JSON-RPC".to_owned()
            }
            Err(e) => format!("REST: {e}"),
        };
        *self
            .rest_fallback
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why);
        None
    }

    fn call(&self, method: &str, params: &[Value]) -> Result<Value, ClientError> {
        let raw = serde_json::value::to_raw_value(params)?;
        self.client.call::<Value>(method, Some(&raw))
    }

    /// bitcoind's `getnetworkinfo.version` (e.g. 310000 for 31.0).
    pub fn server_version(&self) -> Result<u64, ChainSourceError> {
        let info = self.call("getnetworkinfo", &[]).map_err(classify)?;
        info.get("version")
            .and_then(Value::as_u64)
            .ok_or_else(|| ChainSourceError::BadData("getnetworkinfo without version".into()))
    }

    /// Asks `estimatesmartfee` for each distinct block count the node's
    /// targets map to ([`target_blocks`](crate::target_blocks)) and
    /// refreshes the cache [`fee_rate`](FeeEstimator::fee_rate) answers
    /// from. A reply without `feerate` (Core has no estimate yet) gives the
    /// configured fallback; a failed call leaves the cache unchanged.
    pub fn refresh_fee_estimates(&self) -> Result<FeeUpdate, ChainSourceError> {
        self.fees.update(|blocks| {
            let reply = self
                .call("estimatesmartfee", &[json!(blocks)])
                .map_err(classify)?;
            Ok(reply
                .get("feerate")
                .and_then(Value::as_f64)
                .and_then(fee_rate_from_btc_per_kvb))
        })
    }

    /// The cached estimates.
    pub fn fee_estimator(&self) -> &CachedFeeEstimator {
        &self.fees
    }

    /// Transactions bitcoind refused since the last call, oldest first
    /// ("already in the chain" is not an error: a rebroadcast race).
    pub fn take_broadcast_errors(&self) -> Vec<BroadcastError> {
        std::mem::take(
            &mut *self
                .broadcast_errors
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Sends one transaction with `sendrawtransaction`; its txid.
    pub fn send_transaction(&self, tx: &Transaction) -> Result<Txid, ChainSourceError> {
        let reply = self
            .call("sendrawtransaction", &[json!(serialize_hex(tx))])
            .map_err(classify)?;
        reply
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ChainSourceError::BadData(format!("sendrawtransaction gave {reply}")))
    }

    /// Transactions in bitcoind's mempool that `poll` has not reported
    /// yet, at most [`MempoolPoll::limit`] per call, each checked to hash
    /// to the txid asked (for
    /// [`MempoolListener`](crate::MempoolListener)). With watched outpoints
    /// ([`MempoolPoll::watch_outpoints`]) bitcoind is asked for their
    /// spenders only (`gettxspendingprevout`, Core 24+); otherwise, or when
    /// bitcoind lacks that call, `getrawmempool` then `getrawtransaction`
    /// for each new txid (filtered afterwards). A transaction that left the
    /// mempool between the two calls is skipped.
    pub fn mempool_transactions(
        &self,
        poll: &mut MempoolPoll,
    ) -> Result<Vec<Transaction>, ChainSourceError> {
        let spenders = match poll.watched_outpoints() {
            Some(w) => {
                let mut outpoints: Vec<&bitcoin::OutPoint> = w.iter().collect();
                outpoints.sort();
                self.mempool_spenders(&outpoints)?
            }
            None => None,
        };
        let current: Vec<Txid> = match spenders {
            Some(txids) => txids,
            None => {
                let reply = self.call("getrawmempool", &[]).map_err(classify)?;
                reply
                    .as_array()
                    .ok_or_else(|| {
                        ChainSourceError::BadData(format!("getrawmempool gave {reply}"))
                    })?
                    .iter()
                    .map(|v| {
                        v.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
                            ChainSourceError::BadData(format!("getrawmempool: txid {v}"))
                        })
                    })
                    .collect::<Result<_, _>>()?
            }
        };
        let new = poll.select_new(&current);
        let mut fetched = Vec::with_capacity(new.len());
        for txid in &new {
            match self.call(
                "getrawtransaction",
                &[json!(txid.to_string()), json!(false)],
            ) {
                Ok(hex) => {
                    let tx: Transaction = hex
                        .as_str()
                        .and_then(|s| deserialize_hex(s).ok())
                        .ok_or_else(|| {
                            ChainSourceError::BadData(format!(
                                "getrawtransaction {txid}: not a transaction"
                            ))
                        })?;
                    fetched.push(tx);
                }
                // Mined or evicted since `getrawmempool`.
                Err(e) if rpc_code(&e) == Some(RPC_INVALID_ADDRESS_OR_KEY) => {}
                Err(e) => return Err(classify(e)),
            }
        }
        Ok(poll.accept(&new, fetched))
    }

    /// The mempool txids spending `outpoints` (`gettxspendingprevout`), or `None` when bitcoind lacks the call.
    fn mempool_spenders(
        &self,
        outpoints: &[&bitcoin::OutPoint],
    ) -> Result<Option<Vec<Txid>>, ChainSourceError> {
        let mut spenders = Vec::new();
        for chunk in outpoints.chunks(SPENDING_PREVOUT_CHUNK) {
            let items: Vec<Value> = chunk
                .iter()
                .map(|o| json!({"txid": o.txid.to_string(), "vout": o.vout}))
                .collect();
            let reply = match self.call(
                "gettxspendingprevout",
                // Only the outputs: Core 24-29 take no options. With
                // `txospenderindex` a confirmed spender comes too, with
                // its `blockhash`: skipped.
                &[Value::Array(items)],
            ) {
                Ok(reply) => reply,
                Err(e) if rpc_code(&e) == Some(RPC_METHOD_NOT_FOUND) => return Ok(None),
                Err(e) => return Err(classify(e)),
            };
            let entries = reply.as_array().ok_or_else(|| {
                ChainSourceError::BadData(format!("gettxspendingprevout gave {reply}"))
            })?;
            for entry in entries {
                if entry.get("blockhash").is_some() {
                    continue;
                }
                if let Some(t) = entry.get("spendingtxid") {
                    let txid: Txid = t.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
                        ChainSourceError::BadData(format!("gettxspendingprevout: txid {t}"))
                    })?;
                    if !spenders.contains(&txid) {
                        spenders.push(txid);
                    }
                }
            }
        }
        Ok(Some(spenders))
    }

    fn record(&self, tx: &Transaction, error: String) {
        self.broadcast_errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(BroadcastError {
                txid: tx.compute_txid(),
                error,
            });
    }
}

/// The block `bytes` hold, checked to be the one asked (its hash) and
/// whole (its merkle root).
fn checked_block(hash: &BlockHash, bytes: &[u8], what: &str) -> Result<Block, ChainSourceError> {
    let block: Block = bitcoin::consensus::deserialize(bytes)
        .map_err(|e| ChainSourceError::BadData(format!("{what} {hash}: not a block: {e}")))?;
    check_block(hash, &block, what)?;
    Ok(block)
}

fn parse_hash(value: &Value, what: &str) -> Result<BlockHash, ChainSourceError> {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ChainSourceError::BadData(format!("{what} gave {value}")))
}

impl ChainSource for BitcoindSource {
    fn best_block(&self) -> Result<BestBlock, ChainSourceError> {
        // One call gives hash and height together (two could straddle a
        // new block).
        let info = self.call("getblockchaininfo", &[]).map_err(classify)?;
        let hash = parse_hash(&info["bestblockhash"], "getblockchaininfo.bestblockhash")?;
        let height = info["blocks"]
            .as_u64()
            .and_then(|h| u32::try_from(h).ok())
            .ok_or_else(|| ChainSourceError::BadData("getblockchaininfo.blocks".into()))?;
        Ok(BestBlock::new(hash, height))
    }

    fn block_hash_at(&self, height: u32) -> Result<Option<BlockHash>, ChainSourceError> {
        match self.call("getblockhash", &[json!(height)]) {
            Ok(value) => parse_hash(&value, "getblockhash").map(Some),
            Err(e) if rpc_code(&e) == Some(RPC_INVALID_PARAMETER) => Ok(None),
            Err(e) => Err(classify(e)),
        }
    }

    fn block(&self, hash: &BlockHash) -> Result<Option<Block>, ChainSourceError> {
        if self.rest_enabled() {
            if let Some(bytes) = self.rest_block(hash) {
                return checked_block(hash, &bytes, "REST block").map(Some);
            }
        }
        let hex = match self.call("getblock", &[json!(hash.to_string()), json!(0)]) {
            Ok(value) => value,
            Err(e) if rpc_code(&e) == Some(RPC_INVALID_ADDRESS_OR_KEY) => return Ok(None),
            Err(e) => return Err(classify(e)),
        };
        // Hex to bytes in one pass, then the block from the bytes: a
        // block is up to 4 MB of witness data, and the streaming
        // `deserialize_hex` reads it a byte at a time.
        let bytes = hex
            .as_str()
            .and_then(|s| Vec::<u8>::from_hex(s).ok())
            .ok_or_else(|| ChainSourceError::BadData(format!("getblock {hash}: not hex")))?;
        checked_block(hash, &bytes, "getblock").map(Some)
    }

    fn header(&self, hash: &BlockHash) -> Result<Option<Header>, ChainSourceError> {
        let hex = match self.call("getblockheader", &[json!(hash.to_string()), json!(false)]) {
            Ok(value) => value,
            Err(e) if rpc_code(&e) == Some(RPC_INVALID_ADDRESS_OR_KEY) => return Ok(None),
            Err(e) => return Err(classify(e)),
        };
        let header: Header = hex
            .as_str()
            .and_then(|s| deserialize_hex(s).ok())
            .ok_or_else(|| {
                ChainSourceError::BadData(format!("getblockheader {hash}: not a header"))
            })?;
        if header.block_hash() != *hash {
            return Err(ChainSourceError::BadData(format!(
                "getblockheader {hash} served {}",
                header.block_hash()
            )));
        }
        Ok(Some(header))
    }
}

impl Broadcaster for BitcoindSource {
    /// A package of several goes to `submitpackage` (Core 26+); if bitcoind
    /// lacks it, or for a single transaction, each goes to
    /// `sendrawtransaction` in order. Refusals are recorded for
    /// [`take_broadcast_errors`](BitcoindSource::take_broadcast_errors).
    fn broadcast_transactions(&self, txs: &[&Transaction]) {
        if txs.len() > 1 {
            let hexes: Vec<Value> = txs.iter().map(|tx| json!(serialize_hex(*tx))).collect();
            match self.call("submitpackage", &[Value::Array(hexes)]) {
                Ok(reply) => {
                    if reply.get("package_msg").and_then(Value::as_str) == Some("success") {
                        return;
                    }
                    // Fall through: try each alone, recording why.
                }
                Err(e) if rpc_code(&e) == Some(RPC_METHOD_NOT_FOUND) => {}
                Err(e) => {
                    for tx in txs {
                        self.record(tx, e.to_string());
                    }
                    return;
                }
            }
        }
        for tx in txs {
            match self.call("sendrawtransaction", &[json!(serialize_hex(*tx))]) {
                Ok(_) => {}
                Err(e) if rpc_code(&e) == Some(RPC_VERIFY_ALREADY_IN_CHAIN) => {}
                Err(e) => self.record(tx, e.to_string()),
            }
        }
    }
}

impl FeeEstimator for BitcoindSource {
    /// From the cache [`refresh_fee_estimates`](BitcoindSource::refresh_fee_estimates)
    /// fills; never a request.
    fn fee_rate(&self, target: ConfirmationTarget) -> FeeRate {
        self.fees.fee_rate(target)
    }
}
