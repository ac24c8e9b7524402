//! Bitcoin Core's JSON shapes for blocks, headers, transactions and scripts.

use bitcoin::block::Header;
use bitcoin::consensus::encode::serialize_hex;
use bitcoin::{Address, Amount, Block, Network, Script, Transaction};
use serde_json::{json, Map, Value};

/// Regtest's work per block (`bits` 0x207fffff): 2.
const WORK_PER_BLOCK: u128 = 2;

/// Where a block stands: its height, and its confirmations (`-1` off the
/// best chain), the next block's hash if any, and the median time past.
#[derive(Debug, Clone)]
pub(crate) struct BlockContext {
    pub height: u32,
    pub confirmations: i64,
    pub next: Option<bitcoin::BlockHash>,
    pub median_time: u32,
}

pub(crate) fn btc(amount: Amount) -> Value {
    // Core prints exactly 8 decimals; a JSON number parsed back as f64 is
    // what every client does with it anyway.
    json!(amount.to_btc())
}

pub(crate) fn chainwork(height: u32) -> String {
    format!("{:064x}", (u128::from(height) + 1) * WORK_PER_BLOCK)
}

pub(crate) fn difficulty(header: &Header) -> f64 {
    // Regtest's maximum target gives Core's 4.656542373906925e-10.
    header.difficulty_float()
}

pub(crate) fn header_json(header: &Header, n_tx: usize, ctx: &BlockContext) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("hash".into(), json!(header.block_hash().to_string()));
    map.insert("confirmations".into(), json!(ctx.confirmations));
    map.insert("height".into(), json!(ctx.height));
    map.insert("version".into(), json!(header.version.to_consensus()));
    map.insert(
        "versionHex".into(),
        json!(format!("{:08x}", header.version.to_consensus())),
    );
    map.insert("merkleroot".into(), json!(header.merkle_root.to_string()));
    map.insert("time".into(), json!(header.time));
    map.insert("mediantime".into(), json!(ctx.median_time));
    map.insert("nonce".into(), json!(header.nonce));
    map.insert(
        "bits".into(),
        json!(format!("{:08x}", header.bits.to_consensus())),
    );
    map.insert("target".into(), json!(format!("{:x}", header.target())));
    map.insert("difficulty".into(), json!(difficulty(header)));
    map.insert("chainwork".into(), json!(chainwork(ctx.height)));
    map.insert("nTx".into(), json!(n_tx));
    if ctx.height > 0 {
        map.insert(
            "previousblockhash".into(),
            json!(header.prev_blockhash.to_string()),
        );
    }
    if let Some(next) = ctx.next {
        map.insert("nextblockhash".into(), json!(next.to_string()));
    }
    map
}

pub(crate) fn block_json(block: &Block, ctx: &BlockContext, verbosity: u64) -> Value {
    let mut map = header_json(&block.header, block.txdata.len(), ctx);
    map.insert(
        "strippedsize".into(),
        json!(
            block.txdata.iter().map(|tx| tx.base_size()).sum::<usize>()
                + 80
                + varint_len(block.txdata.len())
        ),
    );
    map.insert("size".into(), json!(block.total_size()));
    map.insert("weight".into(), json!(block.weight().to_wu()));
    let txs: Vec<Value> = block
        .txdata
        .iter()
        .map(|tx| {
            if verbosity >= 2 {
                Value::Object(tx_json(tx, Network::Regtest))
            } else {
                json!(tx.compute_txid().to_string())
            }
        })
        .collect();
    map.insert("tx".into(), Value::Array(txs));
    Value::Object(map)
}

fn varint_len(n: usize) -> usize {
    match n {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

pub(crate) fn script_type(script: &Script) -> &'static str {
    if script.is_p2pk() {
        "pubkey"
    } else if script.is_p2pkh() {
        "pubkeyhash"
    } else if script.is_p2sh() {
        "scripthash"
    } else if script.is_multisig() {
        "multisig"
    } else if script.is_op_return() {
        "nulldata"
    } else if script.is_p2wpkh() {
        "witness_v0_keyhash"
    } else if script.is_p2wsh() {
        "witness_v0_scripthash"
    } else if script.is_p2tr() {
        "witness_v1_taproot"
    } else if script.as_bytes() == [0x51, 0x02, 0x4e, 0x73] {
        "anchor"
    } else if script.is_witness_program() {
        "witness_unknown"
    } else {
        "nonstandard"
    }
}

pub(crate) fn script_pubkey_json(script: &Script, network: Network) -> Value {
    let mut map = Map::new();
    map.insert("asm".into(), json!(script.to_asm_string()));
    map.insert("hex".into(), json!(hex(script.as_bytes())));
    if let Ok(address) = Address::from_script(script, network) {
        map.insert("address".into(), json!(address.to_string()));
    }
    map.insert("type".into(), json!(script_type(script)));
    Value::Object(map)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `decoderawtransaction`'s fields, plus `hex`.
pub(crate) fn tx_json(tx: &Transaction, network: Network) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("txid".into(), json!(tx.compute_txid().to_string()));
    map.insert("hash".into(), json!(tx.compute_wtxid().to_string()));
    map.insert("version".into(), json!(tx.version.0));
    map.insert("size".into(), json!(tx.total_size()));
    map.insert("vsize".into(), json!(tx.vsize()));
    map.insert("weight".into(), json!(tx.weight().to_wu()));
    map.insert("locktime".into(), json!(tx.lock_time.to_consensus_u32()));
    let vin: Vec<Value> = tx
        .input
        .iter()
        .map(|input| {
            let mut m = Map::new();
            if tx.is_coinbase() {
                m.insert("coinbase".into(), json!(hex(input.script_sig.as_bytes())));
            } else {
                m.insert(
                    "txid".into(),
                    json!(input.previous_output.txid.to_string()),
                );
                m.insert("vout".into(), json!(input.previous_output.vout));
                m.insert(
                    "scriptSig".into(),
                    json!({"asm": input.script_sig.to_asm_string(), "hex": hex(input.script_sig.as_bytes())}),
                );
            }
            if !input.witness.is_empty() {
                let items: Vec<Value> = input.witness.iter().map(|w| json!(hex(w))).collect();
                m.insert("txinwitness".into(), Value::Array(items));
            }
            m.insert("sequence".into(), json!(input.sequence.0));
            Value::Object(m)
        })
        .collect();
    map.insert("vin".into(), Value::Array(vin));
    let vout: Vec<Value> = tx
        .output
        .iter()
        .enumerate()
        .map(|(n, output)| {
            json!({
                "value": btc(output.value),
                "n": n,
                "scriptPubKey": script_pubkey_json(&output.script_pubkey, network),
            })
        })
        .collect();
    map.insert("vout".into(), Value::Array(vout));
    map.insert("hex".into(), json!(serialize_hex(tx)));
    map
}
