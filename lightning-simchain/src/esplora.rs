//! The simulated chain over the Esplora HTTP API (the subset a light
//! client uses), as Blockstream's Esplora documents it
//! (<https://github.com/Blockstream/esplora/blob/master/API.md>). No
//! Esplora server can run here, so this is what the `esplora` adapter is
//! tested against; its shapes follow the document, not our client.
//!
//! Served: `GET /blocks/tip/height`, `/blocks/tip/hash`,
//! `/block-height/:height`, `/block/:hash/header`, `/block/:hash/status`,
//! `/block/:hash/raw`, `/tx/:txid`, `/tx/:txid/raw`, `/tx/:txid/hex`,
//! `/tx/:txid/status`, `/tx/:txid/merkle-proof`, `/scripthash/:hash/txs`,
//! `/blocks[/:start_height]` (what BDK's `bdk_esplora` reads the tip from),
//! `/scripthash/:hash/txs/chain[/:last_seen_txid]`, `/fee-estimates`;
//! `POST /tx`. Scripthashes are the SHA-256 of the script in plain hex
//! (not Electrum's reversed form). Indexes are scans of the simulated
//! chain: fine for tests.

use std::sync::Arc;
use std::thread::JoinHandle;

use bitcoin::consensus::encode::{deserialize_hex, serialize, serialize_hex};
use bitcoin::hashes::{sha256, Hash};
use bitcoin::{Amount, Block, BlockHash, Network, Transaction, TxOut, Txid};
use lightning_sim::{SimChain, SimChainHandle};
use serde_json::{json, Map, Value};

use crate::json::{hex, script_type};

/// Confirmed transactions per page of `/scripthash/:hash/txs[/chain]`.
const CHAIN_PAGE: usize = 25;
/// Mempool transactions in the first page.
const MEMPOOL_PAGE: usize = 50;

/// A running Esplora-API server over a [`SimChainHandle`]; stops when
/// dropped.
pub struct EsploraServer {
    addr: std::net::SocketAddr,
    server: Arc<tiny_http::Server>,
    worker: Option<JoinHandle<()>>,
    fee_rate: Arc<std::sync::Mutex<Option<f64>>>,
}

impl std::fmt::Debug for EsploraServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsploraServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

enum Reply {
    Text(u16, String),
    Json(Value),
    Bytes(Vec<u8>),
}

fn not_found(what: &str) -> Reply {
    Reply::Text(404, format!("{what} not found"))
}

impl EsploraServer {
    /// Serves `chain` on `addr` (port 0 picks one). `/fee-estimates` starts
    /// at 2 sat/vB for 7 blocks or more, twice that for 3 to 6, four times
    /// for 1 and 2.
    pub fn start(
        chain: SimChainHandle,
        addr: impl std::net::ToSocketAddrs,
    ) -> std::io::Result<Self> {
        let server = tiny_http::Server::http(addr).map_err(std::io::Error::other)?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("not an IP listener"))?;
        let server = Arc::new(server);
        let fee_rate = Arc::new(std::sync::Mutex::new(Some(2.0)));
        let worker = {
            let server = Arc::clone(&server);
            let fee_rate = Arc::clone(&fee_rate);
            std::thread::spawn(move || {
                while let Ok(request) = server.recv() {
                    handle(&chain, &fee_rate, request);
                }
            })
        };
        Ok(EsploraServer {
            addr,
            server,
            worker: Some(worker),
            fee_rate,
        })
    }

    /// `http://127.0.0.1:PORT`, the base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the base fee estimate in sat/vB; `None` serves `{}` (no
    /// estimates).
    pub fn set_fee_rate(&self, sat_per_vbyte: Option<f64>) {
        *crate::lock(&self.fee_rate) = sat_per_vbyte;
    }
}

impl Drop for EsploraServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

fn handle(
    chain: &SimChainHandle,
    fee_rate: &std::sync::Mutex<Option<f64>>,
    mut request: tiny_http::Request,
) {
    let url = request.url().to_owned();
    let path: Vec<&str> = url.trim_matches('/').split('/').collect();
    let reply = match (request.method(), path.as_slice()) {
        (tiny_http::Method::Post, ["tx"]) => {
            let mut body = String::new();
            let _ = std::io::Read::read_to_string(&mut request.as_reader(), &mut body);
            post_tx(chain, body.trim())
        }
        (tiny_http::Method::Get, path) => get(chain, fee_rate, path),
        _ => Reply::Text(405, "method not allowed".into()),
    };
    let (status, body, kind) = match reply {
        Reply::Text(status, text) => (status, text.into_bytes(), "text/plain"),
        Reply::Json(value) => (200, value.to_string().into_bytes(), "application/json"),
        Reply::Bytes(bytes) => (200, bytes, "application/octet-stream"),
    };
    let mut response = tiny_http::Response::from_data(body).with_status_code(status);
    if let Ok(header) = tiny_http::Header::from_bytes(&b"Content-Type"[..], kind.as_bytes()) {
        response.add_header(header);
    }
    let _ = request.respond(response);
}

fn post_tx(chain: &SimChainHandle, body: &str) -> Reply {
    let Ok(tx) = deserialize_hex::<Transaction>(body) else {
        return Reply::Text(
            400,
            "sendrawtransaction RPC error: {\"code\":-22,\"message\":\"TX decode failed\"}".into(),
        );
    };
    match chain.submit_transaction(tx) {
        Ok(txid) => Reply::Text(200, txid.to_string()),
        Err(e) => Reply::Text(
            400,
            format!("sendrawtransaction RPC error: {{\"code\":-26,\"message\":\"{e}\"}}"),
        ),
    }
}

fn get(chain: &SimChainHandle, fee_rate: &std::sync::Mutex<Option<f64>>, path: &[&str]) -> Reply {
    let c = chain.lock();
    match path {
        ["blocks", "tip", "height"] => Reply::Text(200, c.best_block().height.to_string()),
        ["blocks", "tip", "hash"] => Reply::Text(200, c.best_block().hash.to_string()),
        ["blocks"] => blocks_from(&c, None),
        ["blocks", start] => match start.parse::<u32>() {
            Ok(start) => blocks_from(&c, Some(start)),
            Err(_) => not_found("Endpoint"),
        },
        ["block-height", height] => match height.parse::<u32>().ok().and_then(|h| c.block_at(h)) {
            Some(block) => Reply::Text(200, block.block_hash().to_string()),
            None => not_found("Block"),
        },
        ["block", hash, rest @ ..] => {
            let Some((block, height, in_best)) = hash.parse().ok().and_then(|h| find_block(&c, &h))
            else {
                return not_found("Block");
            };
            match rest {
                ["header"] => Reply::Text(200, serialize_hex(&block.header)),
                ["raw"] => Reply::Bytes(serialize(&block)),
                ["status"] => {
                    let next = if in_best {
                        c.block_at(height + 1).map(|b| b.block_hash().to_string())
                    } else {
                        None
                    };
                    Reply::Json(
                        json!({"in_best_chain": in_best, "height": height, "next_best": next}),
                    )
                }
                _ => not_found("Endpoint"),
            }
        }
        ["tx", txid, rest @ ..] => {
            let Some(txid) = txid.parse::<Txid>().ok() else {
                return Reply::Text(400, "Invalid hex string".into());
            };
            let Some(tx) = c.get_transaction(&txid) else {
                return not_found("Transaction");
            };
            match rest {
                [] => Reply::Json(esplora_tx(&c, &tx)),
                ["raw"] => Reply::Bytes(serialize(&tx)),
                ["hex"] => Reply::Text(200, serialize_hex(&tx)),
                ["status"] => Reply::Json(status(&c, &txid)),
                ["merkle-proof"] => match c.tx_location(&txid) {
                    None => not_found("Transaction"),
                    Some((height, pos)) => {
                        let block = c.block_at(height).cloned();
                        let txids: Vec<Txid> = block
                            .iter()
                            .flat_map(|b| b.txdata.iter().map(Transaction::compute_txid))
                            .collect();
                        let merkle: Vec<String> = merkle_branch(&txids, pos)
                            .iter()
                            .map(|h| Txid::from_byte_array(*h).to_string())
                            .collect();
                        Reply::Json(json!({"block_height": height, "merkle": merkle, "pos": pos}))
                    }
                },
                _ => not_found("Endpoint"),
            }
        }
        ["scripthash", hash, "txs", rest @ ..] => {
            let Ok(wanted) = hash.parse::<sha256::Hash>() else {
                return Reply::Text(400, "Invalid hex string".into());
            };
            scripthash_txs(&c, &wanted, rest)
        }
        ["fee-estimates"] => {
            let mut map = Map::new();
            if let Some(base) = *crate::lock(fee_rate) {
                for target in [1u32, 2, 3, 4, 5, 6, 7, 8, 10, 12, 24, 144, 504, 1008] {
                    let multiplier = match target {
                        1 | 2 => 4.0,
                        3..=6 => 2.0,
                        _ => 1.0,
                    };
                    map.insert(target.to_string(), json!(base * multiplier));
                }
            }
            Reply::Json(Value::Object(map))
        }
        _ => not_found("Endpoint"),
    }
}

/// A block by hash: (block, height, on the best chain).
fn find_block(chain: &SimChain, hash: &BlockHash) -> Option<(Block, u32, bool)> {
    let tip = chain.best_block().height;
    if let Some(h) = (0..=tip)
        .rev()
        .find(|&h| chain.block_at(h).map(Block::block_hash) == Some(*hash))
    {
        return chain.block_at(h).cloned().map(|b| (b, h, true));
    }
    let block = lightning_chain::ChainSource::block(chain, hash)
        .ok()
        .flatten()?;
    let height = block
        .bip34_block_height()
        .ok()
        .and_then(|h| u32::try_from(h).ok())?;
    Some((block, height, false))
}

fn status(chain: &SimChain, txid: &Txid) -> Value {
    match chain
        .tx_location(txid)
        .and_then(|(h, _)| chain.block_at(h).map(|b| (h, b)))
    {
        Some((height, block)) => json!({
            "confirmed": true,
            "block_height": height,
            "block_hash": block.block_hash().to_string(),
            "block_time": block.header.time,
        }),
        None => json!({"confirmed": false}),
    }
}

fn prevout(chain: &SimChain, tx: &Transaction, input: usize) -> Option<TxOut> {
    let outpoint = tx.input.get(input)?.previous_output;
    chain
        .get_transaction(&outpoint.txid)
        .and_then(|prev| prev.output.get(outpoint.vout as usize).cloned())
}

fn vout_json(output: &TxOut) -> Value {
    let mut map = Map::new();
    map.insert(
        "scriptpubkey".into(),
        json!(hex(output.script_pubkey.as_bytes())),
    );
    map.insert(
        "scriptpubkey_asm".into(),
        json!(output.script_pubkey.to_asm_string()),
    );
    let kind = match script_type(&output.script_pubkey) {
        "pubkeyhash" => "p2pkh",
        "scripthash" => "p2sh",
        "witness_v0_keyhash" => "v0_p2wpkh",
        "witness_v0_scripthash" => "v0_p2wsh",
        "witness_v1_taproot" => "v1_p2tr",
        "nulldata" => "op_return",
        "pubkey" => "p2pk",
        "multisig" => "multisig",
        _ => "unknown",
    };
    map.insert("scriptpubkey_type".into(), json!(kind));
    if let Ok(address) = bitcoin::Address::from_script(&output.script_pubkey, Network::Regtest) {
        map.insert("scriptpubkey_address".into(), json!(address.to_string()));
    }
    map.insert("value".into(), json!(output.value.to_sat()));
    Value::Object(map)
}

/// `GET /tx/:txid`'s shape.
fn esplora_tx(chain: &SimChain, tx: &Transaction) -> Value {
    let coinbase = tx.is_coinbase();
    let mut fee = Amount::ZERO;
    let mut inputs = Amount::ZERO;
    let vin: Vec<Value> = tx
        .input
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let prev = if coinbase {
                None
            } else {
                prevout(chain, tx, i)
            };
            if let Some(prev) = &prev {
                inputs += prev.value;
            }
            json!({
                "txid": input.previous_output.txid.to_string(),
                "vout": input.previous_output.vout,
                "prevout": prev.as_ref().map(vout_json),
                "scriptsig": hex(input.script_sig.as_bytes()),
                "scriptsig_asm": input.script_sig.to_asm_string(),
                "witness": input.witness.iter().map(hex).collect::<Vec<_>>(),
                "is_coinbase": coinbase,
                "sequence": input.sequence.0,
            })
        })
        .collect();
    if !coinbase {
        let outputs: Amount = tx.output.iter().map(|o| o.value).sum();
        fee = inputs.checked_sub(outputs).unwrap_or(Amount::ZERO);
    }
    json!({
        "txid": tx.compute_txid().to_string(),
        "version": tx.version.0,
        "locktime": tx.lock_time.to_consensus_u32(),
        "vin": vin,
        "vout": tx.output.iter().map(vout_json).collect::<Vec<_>>(),
        "size": tx.total_size(),
        "weight": tx.weight().to_wu(),
        "fee": fee.to_sat(),
        "status": status(chain, &tx.compute_txid()),
    })
}

fn touches(chain: &SimChain, tx: &Transaction, wanted: &sha256::Hash) -> bool {
    let matches = |o: &TxOut| sha256::Hash::hash(o.script_pubkey.as_bytes()) == *wanted;
    tx.output.iter().any(matches)
        || (!tx.is_coinbase()
            && (0..tx.input.len()).any(|i| prevout(chain, tx, i).is_some_and(|o| matches(&o))))
}

/// Newest first: up to 50 mempool transactions, then 25 confirmed; with
/// `chain[/last_seen]`, 25 confirmed after `last_seen`.
fn scripthash_txs(chain: &SimChain, wanted: &sha256::Hash, rest: &[&str]) -> Reply {
    let mut confirmed: Vec<Transaction> = Vec::new();
    for height in (0..=chain.best_block().height).rev() {
        if let Some(block) = chain.block_at(height) {
            for tx in block.txdata.iter().rev() {
                if touches(chain, tx, wanted) {
                    confirmed.push(tx.clone());
                }
            }
        }
    }
    let (mempool, skip_to): (Vec<Transaction>, Option<Txid>) = match rest {
        [] => {
            let mut mempool: Vec<Transaction> = chain
                .mempool()
                .filter(|tx| touches(chain, tx, wanted))
                .cloned()
                .collect();
            mempool.reverse();
            mempool.truncate(MEMPOOL_PAGE);
            (mempool, None)
        }
        ["chain"] => (Vec::new(), None),
        ["chain", last] => match last.parse() {
            Ok(last) => (Vec::new(), Some(last)),
            Err(_) => return Reply::Text(400, "Invalid hex string".into()),
        },
        ["mempool"] => {
            let mut mempool: Vec<Transaction> = chain
                .mempool()
                .filter(|tx| touches(chain, tx, wanted))
                .cloned()
                .collect();
            mempool.reverse();
            return Reply::Json(Value::Array(
                mempool.iter().map(|tx| esplora_tx(chain, tx)).collect(),
            ));
        }
        _ => return not_found("Endpoint"),
    };
    let start = match skip_to {
        None => 0,
        Some(last) => match confirmed.iter().position(|tx| tx.compute_txid() == last) {
            Some(i) => i + 1,
            None => return Reply::Text(400, "last_seen txid not found".into()),
        },
    };
    let page = confirmed.iter().skip(start).take(CHAIN_PAGE);
    let items: Vec<Value> = mempool
        .iter()
        .chain(page)
        .map(|tx| esplora_tx(chain, tx))
        .collect();
    Reply::Json(Value::Array(items))
}

/// The merkle branch of the leaf at `pos`, leaves first, in internal byte
/// order.
fn merkle_branch(txids: &[Txid], mut pos: usize) -> Vec<[u8; 32]> {
    let mut level: Vec<[u8; 32]> = txids.iter().map(|t| t.to_byte_array()).collect();
    let mut branch = Vec::new();
    while level.len() > 1 {
        if level.len() % 2 == 1 {
            if let Some(last) = level.last().copied() {
                level.push(last);
            }
        }
        if let Some(sibling) = level.get(pos ^ 1) {
            branch.push(*sibling);
        }
        level = level
            .chunks(2)
            .map(|pair| {
                let mut data = [0u8; 64];
                data[..32].copy_from_slice(&pair[0]);
                data[32..].copy_from_slice(&pair[pair.len() - 1]);
                bitcoin::hashes::sha256d::Hash::hash(&data).to_byte_array()
            })
            .collect();
        pos /= 2;
    }
    branch
}

/// `GET /blocks[/:start_height]`: the ten best-chain blocks from the tip (or
/// from `start_height`) down, newest first, with the fields the Esplora
/// document lists.
fn blocks_from(c: &SimChain, start: Option<u32>) -> Reply {
    let tip = c.best_block().height;
    let top = start.unwrap_or(tip).min(tip);
    let infos: Vec<Value> = (0..=top)
        .rev()
        .take(10)
        .filter_map(|height| {
            let block = c.block_at(height)?;
            let header = &block.header;
            Some(json!({
                "id": block.block_hash().to_string(),
                "height": height,
                "version": header.version.to_consensus(),
                "timestamp": header.time,
                "tx_count": block.txdata.len(),
                "size": block.total_size(),
                "weight": block.weight().to_wu(),
                "merkle_root": header.merkle_root.to_string(),
                "previousblockhash": (height > 0).then(|| header.prev_blockhash.to_string()),
                "mediantime": c.median_time_past(height),
                "nonce": header.nonce,
                "bits": header.bits.to_consensus(),
                "difficulty": header.difficulty_float(),
            }))
        })
        .collect();
    Reply::Json(Value::Array(infos))
}
