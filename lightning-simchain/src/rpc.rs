//! The RPC methods, each answering as Bitcoin Core 31 documents it (the
//! subset tests need; what is simplified is said per method).

use std::str::FromStr;

use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::hashes::Hash;
use bitcoin::{Address, Amount, Block, BlockHash, Network, OutPoint, ScriptBuf, Transaction, Txid};
use lightning_chain::ChainSource;
use lightning_sim::{SimChain, TxRejected};
use serde_json::{json, Map, Value};

use crate::json::{self, BlockContext};
use crate::{lock, State};

/// The methods served, for `help`.
pub const METHODS: &[&str] = &[
    "estimatesmartfee",
    "generateblock",
    "generatetoaddress",
    "getbestblockhash",
    "getblock",
    "getblockchaininfo",
    "getblockcount",
    "getblockhash",
    "getblockheader",
    "getindexinfo",
    "getmempoolentry",
    "getmempoolinfo",
    "getnetworkinfo",
    "getrawmempool",
    "getrawtransaction",
    "gettxout",
    "gettxspendingprevout",
    "help",
    "invalidateblock",
    "sendrawtransaction",
    "testmempoolaccept",
    "uptime",
];

/// A JSON-RPC error, with Core's codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// Core's `RPCErrorCode`.
    pub code: i64,
    /// The message.
    pub message: String,
}

impl RpcError {
    pub(crate) fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RPC error {}: {}", self.code, self.message)
    }
}

impl std::error::Error for RpcError {}

const RPC_MISC_ERROR: i64 = -1;
const RPC_TYPE_ERROR: i64 = -3;
const RPC_INVALID_ADDRESS_OR_KEY: i64 = -5;
const RPC_INVALID_PARAMETER: i64 = -8;
const RPC_DESERIALIZATION_ERROR: i64 = -22;
const RPC_VERIFY_ERROR: i64 = -25;
const RPC_VERIFY_REJECTED: i64 = -26;
const RPC_VERIFY_ALREADY_IN_CHAIN: i64 = -27;
const RPC_METHOD_NOT_FOUND: i64 = -32601;

/// Core's version 31.0.0, as `getnetworkinfo` reports it.
const VERSION: u64 = 310_000;

type RpcResult = Result<Value, RpcError>;

/// Positional parameter `i`; `null` counts as absent. Named parameters are
/// not supported (no client here sends them).
fn param(params: &Value, i: usize) -> Option<&Value> {
    match params {
        Value::Array(items) => items.get(i).filter(|v| !v.is_null()),
        _ => None,
    }
}

fn required<'a>(params: &'a Value, i: usize, name: &str) -> Result<&'a Value, RpcError> {
    param(params, i)
        .ok_or_else(|| RpcError::new(RPC_MISC_ERROR, format!("missing parameter {name}")))
}

fn as_hash<T: FromStr>(value: &Value, name: &str) -> Result<T, RpcError> {
    value
        .as_str()
        .and_then(|s| (s.len() == 64).then_some(s))
        .and_then(|s| T::from_str(s).ok())
        .ok_or_else(|| {
            RpcError::new(
                RPC_INVALID_PARAMETER,
                format!("{name} must be of length 64 (not {value}, for '{value}')"),
            )
        })
}

fn as_u64(value: &Value, name: &str) -> Result<u64, RpcError> {
    value.as_u64().ok_or_else(|| {
        RpcError::new(
            RPC_TYPE_ERROR,
            format!("{name}: expected a non-negative integer"),
        )
    })
}

/// `verbose`/`verbosity` parameters: Core takes a bool or a number.
fn as_level(value: Option<&Value>, default: u64) -> Result<u64, RpcError> {
    match value {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(u64::from(*b)),
        Some(v) => as_u64(v, "verbosity"),
    }
}

fn decode_tx(value: &Value) -> Result<Transaction, RpcError> {
    value
        .as_str()
        .and_then(|s| deserialize_hex::<Transaction>(s).ok())
        .ok_or_else(|| {
            RpcError::new(
                RPC_DESERIALIZATION_ERROR,
                "TX decode failed. Make sure the tx has at least one input.",
            )
        })
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Answers `method` with `params`.
pub(crate) fn call(state: &State, method: &str, params: &Value) -> RpcResult {
    match method {
        "getblockchaininfo" => getblockchaininfo(state),
        "getnetworkinfo" => Ok(getnetworkinfo()),
        "getindexinfo" => getindexinfo(state, params),
        "getbestblockhash" => Ok(json!(state.chain.best_block().hash.to_string())),
        "getblockcount" => Ok(json!(state.chain.best_block().height)),
        "getblockhash" => getblockhash(state, params),
        "getblockheader" => getblockheader(state, params),
        "getblock" => getblock(state, params),
        "getrawtransaction" => getrawtransaction(state, params),
        "sendrawtransaction" => sendrawtransaction(state, params),
        "testmempoolaccept" => testmempoolaccept(state, params),
        "getrawmempool" => getrawmempool(state, params),
        "getmempoolentry" => getmempoolentry(state, params),
        "getmempoolinfo" => Ok(getmempoolinfo(state)),
        "estimatesmartfee" => estimatesmartfee(state, params),
        "gettxout" => gettxout(state, params),
        "gettxspendingprevout" => gettxspendingprevout(state, params),
        "generatetoaddress" => generatetoaddress(state, params),
        "generateblock" => generateblock(state, params),
        "invalidateblock" => invalidateblock(state, params),
        "uptime" => Ok(json!(state.started.elapsed().as_secs())),
        "help" => Ok(help(params)),
        _ => Err(RpcError::new(RPC_METHOD_NOT_FOUND, "Method not found")),
    }
}

fn help(params: &Value) -> Value {
    match param(params, 0).and_then(Value::as_str) {
        Some(method) if METHODS.contains(&method) => json!(format!("{method} ...\n(simchain)")),
        Some(method) => json!(format!("help: unknown command: {method}")),
        None => json!(format!("== simchain ==\n{}", METHODS.join("\n"))),
    }
}

/// A block's height: the best chain's index, else (a stale block) one
/// more than its nearest ancestor's on the best chain.
fn height_of(chain: &SimChain, block: &Block) -> Option<u32> {
    if let Some(h) = chain.height_of(&block.block_hash()) {
        return Some(h);
    }
    let mut cursor = block.header.prev_blockhash;
    let mut depth = 1u32;
    loop {
        if let Some(h) = chain.height_of(&cursor) {
            return h.checked_add(depth);
        }
        let parent = ChainSource::block(chain, &cursor).ok().flatten()?;
        cursor = parent.header.prev_blockhash;
        depth = depth.checked_add(1)?;
    }
}

/// The block with `hash`, on the best chain or stale, with its context.
fn locate(chain: &SimChain, hash: &BlockHash) -> Result<(Block, BlockContext), RpcError> {
    let not_found = || RpcError::new(RPC_INVALID_ADDRESS_OR_KEY, "Block not found");
    let block = ChainSource::block(chain, hash)
        .ok()
        .flatten()
        .ok_or_else(not_found)?;
    let height = height_of(chain, &block).ok_or_else(not_found)?;
    let tip = chain.best_block().height;
    let on_best = chain.block_at(height).map(Block::block_hash) == Some(*hash);
    let ctx = if on_best {
        BlockContext {
            height,
            confirmations: i64::from(tip - height) + 1,
            next: chain.block_at(height + 1).map(Block::block_hash),
            median_time: chain.median_time_past(height),
        }
    } else {
        BlockContext {
            height,
            confirmations: -1,
            next: None,
            median_time: block.header.time,
        }
    };
    Ok((block, ctx))
}

fn getblockchaininfo(state: &State) -> RpcResult {
    let chain = state.chain.lock();
    let best = chain.best_block();
    let tip = chain
        .block_at(best.height)
        .ok_or_else(|| RpcError::new(RPC_MISC_ERROR, "no tip"))?;
    Ok(json!({
        "chain": "regtest",
        "blocks": best.height,
        "headers": best.height,
        "bestblockhash": best.hash.to_string(),
        "bits": format!("{:08x}", tip.header.bits.to_consensus()),
        "target": format!("{:x}", tip.header.target()),
        "difficulty": json::difficulty(&tip.header),
        "time": tip.header.time,
        "mediantime": chain.median_time_past(best.height),
        "verificationprogress": 1.0,
        "initialblockdownload": false,
        "chainwork": json::chainwork(best.height),
        "size_on_disk": 0,
        "pruned": false,
        "warnings": [],
    }))
}

fn getnetworkinfo() -> Value {
    json!({
        "version": VERSION,
        "subversion": "/Satoshi:31.0.0(simchain)/",
        "protocolversion": 70016,
        "localservices": "0000000000000c09",
        "localservicesnames": ["NETWORK", "WITNESS", "NETWORK_LIMITED", "P2P_V2"],
        "localrelay": true,
        "timeoffset": 0,
        "networkactive": true,
        "connections": 0,
        "connections_in": 0,
        "connections_out": 0,
        "networks": [],
        "relayfee": 0.00001,
        "incrementalfee": 0.00001,
        "localaddresses": [],
        "warnings": [],
    })
}

fn getindexinfo(state: &State, params: &Value) -> RpcResult {
    let height = state.chain.best_block().height;
    let mut map = Map::new();
    for index in ["txindex", "txospenderindex"] {
        if param(params, 0)
            .and_then(Value::as_str)
            .is_none_or(|name| name == index)
        {
            map.insert(
                index.into(),
                json!({"synced": true, "best_block_height": height}),
            );
        }
    }
    Ok(Value::Object(map))
}

fn getblockhash(state: &State, params: &Value) -> RpcResult {
    let height = required(params, 0, "height")?
        .as_i64()
        .ok_or_else(|| RpcError::new(RPC_TYPE_ERROR, "height: expected an integer"))?;
    u32::try_from(height)
        .ok()
        .and_then(|h| state.chain.block_at(h))
        .map(|block| json!(block.block_hash().to_string()))
        .ok_or_else(|| RpcError::new(RPC_INVALID_PARAMETER, "Block height out of range"))
}

fn getblockheader(state: &State, params: &Value) -> RpcResult {
    let hash: BlockHash = as_hash(required(params, 0, "blockhash")?, "blockhash")?;
    let verbose = as_level(param(params, 1), 1)? != 0;
    let chain = state.chain.lock();
    let (block, ctx) = locate(&chain, &hash)?;
    if verbose {
        Ok(Value::Object(json::header_json(
            &block.header,
            block.txdata.len(),
            &ctx,
        )))
    } else {
        Ok(json!(serialize_hex(&block.header)))
    }
}

fn getblock(state: &State, params: &Value) -> RpcResult {
    let hash: BlockHash = as_hash(required(params, 0, "blockhash")?, "blockhash")?;
    let verbosity = as_level(param(params, 1), 1)?;
    let chain = state.chain.lock();
    let (block, ctx) = locate(&chain, &hash)?;
    match verbosity {
        // One table-driven pass (the streaming encoder was most of a
        // 2,000-transaction block's cost, `chain_sync` bench).
        0 => Ok(json!(hex::encode(bitcoin::consensus::serialize(&block)))),
        1..=3 => Ok(json::block_json(&block, &ctx, verbosity)),
        _ => Err(RpcError::new(RPC_INVALID_PARAMETER, "Invalid verbosity")),
    }
}

fn getrawtransaction(state: &State, params: &Value) -> RpcResult {
    let txid: Txid = as_hash(required(params, 0, "txid")?, "txid")?;
    let verbose = as_level(param(params, 1), 0)? != 0;
    let in_block: Option<BlockHash> = param(params, 2)
        .map(|v| as_hash(v, "blockhash"))
        .transpose()?;
    let chain = state.chain.lock();
    // (tx, and where it confirmed: block, context)
    let found: Option<(Transaction, Option<(Block, BlockContext)>)> = match in_block {
        Some(hash) => {
            let (block, ctx) = locate(&chain, &hash)?;
            let tx = block
                .txdata
                .iter()
                .find(|tx| tx.compute_txid() == txid)
                .cloned();
            match tx {
                Some(tx) => Some((tx, Some((block, ctx)))),
                None => {
                    return Err(RpcError::new(
                        RPC_INVALID_ADDRESS_OR_KEY,
                        "No such transaction found in the provided block. Use gettransaction for wallet transactions.",
                    ))
                }
            }
        }
        None => match chain.tx_location(&txid) {
            Some((height, index)) => chain
                .block_at(height)
                .and_then(|block| {
                    block
                        .txdata
                        .get(index)
                        .cloned()
                        .map(|tx| (tx, block.block_hash()))
                })
                .map(|(tx, hash)| (tx, locate(&chain, &hash).ok())),
            None => chain.get_transaction(&txid).map(|tx| (tx, None)),
        },
    };
    let (tx, place) = found.ok_or_else(|| {
        RpcError::new(
            RPC_INVALID_ADDRESS_OR_KEY,
            "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.",
        )
    })?;
    if !verbose {
        return Ok(json!(serialize_hex(&tx)));
    }
    let mut map = json::tx_json(&tx, Network::Regtest);
    if let Some((block, ctx)) = place {
        if in_block.is_some() {
            map.insert("in_active_chain".into(), json!(ctx.confirmations > 0));
        }
        map.insert("blockhash".into(), json!(block.block_hash().to_string()));
        map.insert("confirmations".into(), json!(ctx.confirmations.max(0)));
        map.insert("time".into(), json!(block.header.time));
        map.insert("blocktime".into(), json!(block.header.time));
    }
    Ok(Value::Object(map))
}

/// Core's reject reasons for the simulated mempool's refusals.
fn reject_error(reason: &TxRejected) -> RpcError {
    let (code, text) = match reason {
        TxRejected::AlreadyConfirmed { .. } => (
            RPC_VERIFY_ALREADY_IN_CHAIN,
            "Transaction outputs already in utxo set".to_owned(),
        ),
        TxRejected::MissingInput { .. } | TxRejected::AlreadySpent { .. } => (
            RPC_VERIFY_ERROR,
            "bad-txns-inputs-missingorspent".to_owned(),
        ),
        TxRejected::MempoolConflict { .. } => {
            (RPC_VERIFY_REJECTED, format!("insufficient fee, {reason}"))
        }
        TxRejected::ImmatureCoinbase { .. } => (
            RPC_VERIFY_REJECTED,
            "bad-txns-premature-spend-of-coinbase".to_owned(),
        ),
        other => (RPC_VERIFY_REJECTED, other.to_string()),
    };
    RpcError::new(code, text)
}

fn sendrawtransaction(state: &State, params: &Value) -> RpcResult {
    let tx = decode_tx(required(params, 0, "hexstring")?)?;
    let txid = state
        .chain
        .submit_transaction(tx)
        .map_err(|e| reject_error(&e))?;
    lock(&state.mempool_times).entry(txid).or_insert_with(now);
    Ok(json!(txid.to_string()))
}

fn testmempoolaccept(state: &State, params: &Value) -> RpcResult {
    let raw = required(params, 0, "rawtxs")?
        .as_array()
        .ok_or_else(|| RpcError::new(RPC_TYPE_ERROR, "rawtxs: expected an array"))?;
    let txs = raw.iter().map(decode_tx).collect::<Result<Vec<_>, _>>()?;
    // Try them on a copy, in order, so a package's child sees its parent.
    let mut scratch = state.chain.lock().clone();
    let mut results = Vec::new();
    let mut failed = false;
    for tx in txs {
        let txid = tx.compute_txid();
        let mut entry = Map::new();
        entry.insert("txid".into(), json!(txid.to_string()));
        entry.insert("wtxid".into(), json!(tx.compute_wtxid().to_string()));
        if failed {
            entry.insert("package-error".into(), json!("package-not-validated"));
        } else {
            match scratch.submit_transaction(tx.clone()) {
                Ok(_) => {
                    entry.insert("allowed".into(), json!(true));
                    entry.insert("vsize".into(), json!(tx.vsize()));
                    let fee = scratch.mempool_fee(&txid).unwrap_or(Amount::ZERO);
                    entry.insert("fees".into(), json!({"base": json::btc(fee)}));
                }
                Err(reason) => {
                    failed = true;
                    entry.insert("allowed".into(), json!(false));
                    entry.insert("reject-reason".into(), json!(reject_error(&reason).message));
                }
            }
        }
        results.push(Value::Object(entry));
    }
    Ok(Value::Array(results))
}

fn mempool_entry(state: &State, chain: &SimChain, tx: &Transaction) -> Value {
    let txid = tx.compute_txid();
    let fee = chain.mempool_fee(&txid).unwrap_or(Amount::ZERO);
    let time = *lock(&state.mempool_times).entry(txid).or_insert_with(now);
    let depends: Vec<Value> = tx
        .input
        .iter()
        .map(|i| i.previous_output.txid)
        .filter(|parent| chain.tx_location(parent).is_none() && chain.mempool_fee(parent).is_some())
        .map(|p| json!(p.to_string()))
        .collect();
    let spentby: Vec<Value> = chain
        .mempool()
        .filter(|other| other.input.iter().any(|i| i.previous_output.txid == txid))
        .map(|other| json!(other.compute_txid().to_string()))
        .collect();
    json!({
        "vsize": tx.vsize(),
        "weight": tx.weight().to_wu(),
        "time": time,
        "height": chain.best_block().height,
        "descendantcount": 1 + spentby.len(),
        "descendantsize": tx.vsize(),
        "ancestorcount": 1 + depends.len(),
        "ancestorsize": tx.vsize(),
        "wtxid": tx.compute_wtxid().to_string(),
        "fees": {"base": json::btc(fee), "modified": json::btc(fee), "ancestor": json::btc(fee), "descendant": json::btc(fee)},
        "depends": depends,
        "spentby": spentby,
        "bip125-replaceable": true,
        "unbroadcast": false,
    })
}

fn getrawmempool(state: &State, params: &Value) -> RpcResult {
    let verbose = as_level(param(params, 0), 0)? != 0;
    let chain = state.chain.lock();
    if verbose {
        let mut map = Map::new();
        for tx in chain.mempool() {
            map.insert(
                tx.compute_txid().to_string(),
                mempool_entry(state, &chain, tx),
            );
        }
        Ok(Value::Object(map))
    } else {
        Ok(Value::Array(
            chain
                .mempool()
                .map(|tx| json!(tx.compute_txid().to_string()))
                .collect(),
        ))
    }
}

fn getmempoolentry(state: &State, params: &Value) -> RpcResult {
    let txid: Txid = as_hash(required(params, 0, "txid")?, "txid")?;
    let chain = state.chain.lock();
    let tx = chain
        .mempool()
        .find(|tx| tx.compute_txid() == txid)
        .ok_or_else(|| RpcError::new(RPC_INVALID_ADDRESS_OR_KEY, "Transaction not in mempool"))?;
    Ok(mempool_entry(state, &chain, tx))
}

fn getmempoolinfo(state: &State) -> Value {
    let chain = state.chain.lock();
    let bytes: usize = chain.mempool().map(Transaction::vsize).sum();
    let fees: Amount = chain
        .mempool()
        .filter_map(|tx| chain.mempool_fee(&tx.compute_txid()))
        .sum();
    json!({
        "loaded": true,
        "size": chain.mempool().count(),
        "bytes": bytes,
        "usage": bytes * 4,
        "total_fee": json::btc(fees),
        "maxmempool": 300_000_000u64,
        "mempoolminfee": 0.00001,
        "minrelaytxfee": 0.00001,
        "incrementalrelayfee": 0.00001,
        "unbroadcastcount": 0,
        "fullrbf": true,
    })
}

/// Core answers conf_target 1 as 2 and caps it at 1008. The simulated
/// market: the base rate for 7 blocks or more, twice it for 3 to 6, four
/// times it for 1 or 2.
fn estimatesmartfee(state: &State, params: &Value) -> RpcResult {
    let target = as_u64(required(params, 0, "conf_target")?, "conf_target")?;
    if !(1..=1008).contains(&target) {
        return Err(RpcError::new(
            RPC_INVALID_PARAMETER,
            "Invalid conf_target, must be between 1 and 1008",
        ));
    }
    if let Some(mode) = param(params, 1).and_then(Value::as_str) {
        if !["unset", "economical", "conservative"].contains(&mode.to_ascii_lowercase().as_str()) {
            return Err(RpcError::new(RPC_INVALID_PARAMETER, "Invalid estimate_mode parameter, must be one of: \"unset\", \"economical\", \"conservative\""));
        }
    }
    let blocks = target.max(2);
    match *lock(&state.fee_rate) {
        None => Ok(json!({"errors": ["Insufficient data or no feerate found"], "blocks": 0})),
        Some(base) => {
            let multiplier = match blocks {
                0..=2 => 4,
                3..=6 => 2,
                _ => 1,
            };
            let sat_per_kvb = base.saturating_mul(multiplier);
            Ok(json!({"feerate": json::btc(Amount::from_sat(sat_per_kvb)), "blocks": blocks}))
        }
    }
}

fn gettxout(state: &State, params: &Value) -> RpcResult {
    let txid: Txid = as_hash(required(params, 0, "txid")?, "txid")?;
    let vout = u32::try_from(as_u64(required(params, 1, "n")?, "n")?)
        .map_err(|_| RpcError::new(RPC_INVALID_PARAMETER, "n out of range"))?;
    let include_mempool = param(params, 2).and_then(Value::as_bool).unwrap_or(true);
    let outpoint = OutPoint::new(txid, vout);
    let chain = state.chain.lock();
    let best = chain.best_block();
    if include_mempool && chain.mempool_spender(&outpoint).is_some() {
        return Ok(Value::Null);
    }
    let (output, confirmations, coinbase) = match chain.utxo(&outpoint) {
        Some(coin) => (
            coin.output.clone(),
            best.height - coin.height + 1,
            coin.is_coinbase,
        ),
        None if include_mempool => {
            let Some(tx) = chain.mempool().find(|tx| tx.compute_txid() == txid) else {
                return Ok(Value::Null);
            };
            let Some(output) = tx.output.get(vout as usize) else {
                return Ok(Value::Null);
            };
            (output.clone(), 0, false)
        }
        None => return Ok(Value::Null),
    };
    Ok(json!({
        "bestblock": best.hash.to_string(),
        "confirmations": confirmations,
        "value": json::btc(output.value),
        "scriptPubKey": json::script_pubkey_json(&output.script_pubkey, Network::Regtest),
        "coinbase": coinbase,
    }))
}

/// With `txospenderindex`: the spender in the mempool, else on the best
/// chain (found by scanning it, tip first).
fn gettxspendingprevout(state: &State, params: &Value) -> RpcResult {
    let outpoints = required(params, 0, "outputs")?
        .as_array()
        .ok_or_else(|| RpcError::new(RPC_TYPE_ERROR, "outputs: expected an array"))?;
    let mempool_only = param(params, 1)
        .and_then(|o| o.get("mempool_only"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let chain = state.chain.lock();
    let mut results = Vec::new();
    for item in outpoints {
        let txid: Txid = as_hash(item.get("txid").unwrap_or(&Value::Null), "txid")?;
        let vout = u32::try_from(as_u64(item.get("vout").unwrap_or(&Value::Null), "vout")?)
            .map_err(|_| RpcError::new(RPC_INVALID_PARAMETER, "vout out of range"))?;
        let outpoint = OutPoint::new(txid, vout);
        let mut entry = json!({"txid": txid.to_string(), "vout": vout});
        if let Some(spender) = chain.mempool_spender(&outpoint) {
            entry["spendingtxid"] = json!(spender.to_string());
        } else if !mempool_only {
            let best = chain.best_block().height;
            'scan: for height in (0..=best).rev() {
                let Some(block) = chain.block_at(height) else {
                    continue;
                };
                for tx in &block.txdata {
                    if tx.input.iter().any(|i| i.previous_output == outpoint) {
                        entry["spendingtxid"] = json!(tx.compute_txid().to_string());
                        entry["blockhash"] = json!(block.block_hash().to_string());
                        break 'scan;
                    }
                }
            }
        }
        results.push(entry);
    }
    Ok(Value::Array(results))
}

fn generatetoaddress(state: &State, params: &Value) -> RpcResult {
    let n = as_u64(required(params, 0, "nblocks")?, "nblocks")?;
    let address = required(params, 1, "address")?
        .as_str()
        .and_then(|s| Address::from_str(s).ok())
        .and_then(|a| a.require_network(Network::Regtest).ok())
        .ok_or_else(|| RpcError::new(RPC_INVALID_ADDRESS_OR_KEY, "Error: Invalid address"))?;
    let script: ScriptBuf = address.script_pubkey();
    let n = usize::try_from(n).unwrap_or(usize::MAX).min(10_000);
    let hashes = state.chain.mine_blocks(n, &script);
    Ok(Value::Array(
        hashes.iter().map(|h| json!(h.to_string())).collect(),
    ))
}

/// Disconnects the block and everything above it (Core also marks it
/// invalid so that it is never reconnected; the simulated chain never
/// reconnects a disconnected block anyway: new blocks always differ).
fn invalidateblock(state: &State, params: &Value) -> RpcResult {
    let hash: BlockHash = as_hash(required(params, 0, "blockhash")?, "blockhash")?;
    let mut chain = state.chain.lock();
    let (block, ctx) = locate(&chain, &hash)?;
    if ctx.height == 0 || block.block_hash() == BlockHash::all_zeros() {
        return Err(RpcError::new(
            RPC_MISC_ERROR,
            "Cannot invalidate the genesis block",
        ));
    }
    if ctx.confirmations > 0 {
        let depth = chain.best_block().height - ctx.height + 1;
        chain.invalidate_tip(depth as usize);
    }
    Ok(Value::Null)
}

/// `generateblock "output" ["rawtx or txid", ...] ( submit )`: mines one
/// block paying the coinbase to `output` (an address; Core also takes a
/// descriptor) holding exactly the given transactions, in dependency order:
/// a txid must be in the mempool, a raw transaction is verified as
/// `sendrawtransaction` would. Whatever else was in the mempool stays there.
/// Answers `{"hash": ...}`; `submit = false` (Core's block template without
/// mining) is not supported.
fn generateblock(state: &State, params: &Value) -> RpcResult {
    let address = required(params, 0, "output")?
        .as_str()
        .and_then(|s| Address::from_str(s).ok())
        .and_then(|a| a.require_network(Network::Regtest).ok())
        .ok_or_else(|| {
            RpcError::new(
                RPC_INVALID_ADDRESS_OR_KEY,
                "Error: Invalid address or descriptor",
            )
        })?;
    let listed = required(params, 1, "transactions")?
        .as_array()
        .ok_or_else(|| RpcError::new(RPC_TYPE_ERROR, "transactions: expected an array"))?;
    if param(params, 2).and_then(Value::as_bool) == Some(false) {
        return Err(RpcError::new(
            RPC_INVALID_PARAMETER,
            "submit=false is not supported here",
        ));
    }
    let mut chain = state.chain.lock();
    let pool: Vec<Transaction> = chain.mempool().cloned().collect();
    let mut wanted: Vec<Transaction> = Vec::with_capacity(listed.len());
    for item in listed {
        let text = item
            .as_str()
            .ok_or_else(|| RpcError::new(RPC_TYPE_ERROR, "transactions: expected strings"))?;
        if text.len() == 64 {
            let txid: Txid = as_hash(item, "txid")?;
            let tx = pool
                .iter()
                .find(|t| t.compute_txid() == txid)
                .cloned()
                .ok_or_else(|| {
                    RpcError::new(
                        RPC_INVALID_ADDRESS_OR_KEY,
                        format!("Transaction {txid} not in mempool."),
                    )
                })?;
            wanted.push(tx);
        } else {
            wanted.push(decode_tx(item)?);
        }
    }
    let wanted_ids: Vec<Txid> = wanted.iter().map(Transaction::compute_txid).collect();
    // The rest of the mempool steps aside for the block, then comes back.
    let others: Vec<Transaction> = pool
        .iter()
        .filter(|t| !wanted_ids.contains(&t.compute_txid()))
        .cloned()
        .collect();
    for tx in &others {
        chain.remove_from_mempool(&tx.compute_txid());
    }
    let restore = |chain: &mut SimChain, txs: Vec<Transaction>| {
        for tx in txs {
            let _ = chain.submit_transaction(tx);
        }
    };
    for tx in &wanted {
        if let Err(e) = chain.submit_transaction(tx.clone()) {
            if !matches!(e, TxRejected::AlreadyConfirmed { .. }) {
                restore(&mut chain, pool);
                return Err(RpcError::new(
                    RPC_VERIFY_ERROR,
                    format!("TestBlockValidity failed: {}", reject_error(&e).message),
                ));
            }
        }
    }
    let script = address.script_pubkey();
    let hashes = chain.mine_blocks(1, &script);
    restore(&mut chain, others);
    let hash = hashes
        .first()
        .ok_or_else(|| RpcError::new(RPC_MISC_ERROR, "no block was mined"))?;
    Ok(json!({ "hash": hash.to_string() }))
}
