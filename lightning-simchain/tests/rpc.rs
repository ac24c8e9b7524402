//! The RPC facade over HTTP, as ElectrumX and bitcoind clients see it.
#![allow(clippy::unwrap_used)] // test helpers, not library code

use std::io::{Read, Write};
use std::net::TcpStream;

use base64::Engine;
use bitcoin::consensus::encode::deserialize_hex;
use bitcoin::{Amount, Block, BlockHash, Network, Transaction};
use lightning_sim::{SimChainHandle, SimWallet};
use lightning_simchain::{Credentials, RpcServer};
use serde_json::{json, Value};

/// One HTTP POST; returns status, the raw header block, and the body.
fn post(server: &RpcServer, auth: Option<(&str, &str)>, body: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        server.addr(),
        body.len()
    );
    if let Some((user, password)) = auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request.push_str(&format!("Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

fn rpc(server: &RpcServer, method: &str, params: Value) -> Value {
    let body = json!({"method": method, "params": params, "id": 1}).to_string();
    let (status, _, body) = post(server, Some(("u", "p")), &body);
    let reply: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 200, "{method}: {reply}");
    assert_eq!(reply["error"], Value::Null);
    reply["result"].clone()
}

fn start(chain: &SimChainHandle) -> RpcServer {
    RpcServer::start(chain.clone(), Credentials::new("u", "p"), "127.0.0.1:0").unwrap()
}

#[test]
fn what_electrumx_checks() {
    let chain = SimChainHandle::new();
    chain.with(|c| c.use_wall_clock(true));
    chain.mine_empty_blocks(3);
    let server = start(&chain);

    // No `jsonrpc` field: Core's 1.0 shape, `error: null`, JSON content type.
    let (status, head, body) = post(
        &server,
        Some(("u", "p")),
        r#"{"method":"getnetworkinfo","id":7}"#,
    );
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let reply: Value = serde_json::from_str(&body).unwrap();
    assert!(reply.as_object().unwrap().contains_key("error"));
    assert_eq!(reply["error"], Value::Null);
    assert_eq!(reply["id"], 7);
    assert!(reply["result"]["version"].as_u64().unwrap() >= 310_000);

    let indexes = rpc(&server, "getindexinfo", json!([]));
    assert_eq!(indexes["txindex"]["synced"], true);
    assert_eq!(indexes["txospenderindex"]["synced"], true);

    // A batch is answered in order.
    let batch = json!([
        {"method": "getblockhash", "params": [2], "id": "a"},
        {"method": "getblockhash", "params": [0], "id": "b"},
        {"method": "nosuchmethod", "params": [], "id": "c"},
        {"method": "getblockhash", "params": [1], "id": "d"},
    ]);
    let (status, _, body) = post(&server, Some(("u", "p")), &batch.to_string());
    assert_eq!(status, 200);
    let replies: Vec<Value> = serde_json::from_str(&body).unwrap();
    let ids: Vec<&str> = replies.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a", "b", "c", "d"]);
    let genesis = bitcoin::constants::genesis_block(Network::Regtest).block_hash();
    assert_eq!(replies[1]["result"], genesis.to_string());
    assert_eq!(replies[2]["error"]["code"], -32601);
    assert_eq!(
        replies[3]["result"],
        chain.block_at(1).unwrap().block_hash().to_string()
    );

    // Raw blocks decode, hash as asked, carry correct merkle roots and
    // recent timestamps.
    let tip_hash = rpc(&server, "getbestblockhash", json!([]));
    let raw = rpc(&server, "getblock", json!([tip_hash, false]));
    let block: Block = deserialize_hex(raw.as_str().unwrap()).unwrap();
    assert_eq!(block.block_hash().to_string(), tip_hash.as_str().unwrap());
    assert!(block.check_merkle_root());
    assert!(block.check_witness_commitment());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now.abs_diff(u64::from(block.header.time)) < 3600,
        "tip time {}",
        block.header.time
    );

    // The 2.0 shape of a JSON-RPC 2.0 request: no `error` on success.
    let (_, _, body) = post(
        &server,
        Some(("u", "p")),
        r#"{"jsonrpc":"2.0","method":"getblockcount","id":1}"#,
    );
    let reply: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["result"], 3);
    assert!(reply.get("error").is_none());

    // Wrong or missing credentials.
    assert_eq!(post(&server, Some(("u", "wrong")), "{}").0, 401);
    assert_eq!(post(&server, None, "{}").0, 401);
    // A method error alone is HTTP 500 (404 for an unknown method), with a JSON body.
    let (status, _, body) = post(
        &server,
        Some(("u", "p")),
        r#"{"method":"getblockhash","params":[99],"id":1}"#,
    );
    assert_eq!(status, 500);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        -8
    );
    assert_eq!(
        post(&server, Some(("u", "p")), r#"{"method":"x","id":1}"#).0,
        404
    );
    // Garbage is a parse error, not a crash.
    assert_eq!(post(&server, Some(("u", "p")), "{not json").0, 500);
    assert_eq!(rpc(&server, "getblockcount", json!([])), 3);
}

#[test]
fn transactions_mempool_and_reorgs() {
    let chain = SimChainHandle::new();
    let alice = SimWallet::from_seed([1; 32], chain.clone());
    let bob = SimWallet::from_seed([2; 32], chain.clone());
    chain.mine_blocks(101, &alice.script_pubkey());
    let server = start(&chain);

    let tx = alice
        .fund(Amount::from_sat(50_000), &bob.script_pubkey())
        .unwrap();
    let hex = bitcoin::consensus::encode::serialize_hex(&tx);
    let txid = tx.compute_txid();

    let accept = rpc(&server, "testmempoolaccept", json!([[hex]]));
    assert_eq!(accept[0]["allowed"], true, "{accept}");
    assert!(
        chain.mempool().is_empty(),
        "testmempoolaccept must not add to the mempool"
    );

    assert_eq!(
        rpc(&server, "sendrawtransaction", json!([hex])),
        txid.to_string()
    );
    assert_eq!(
        rpc(&server, "getrawmempool", json!([])),
        json!([txid.to_string()])
    );
    let verbose = rpc(&server, "getrawmempool", json!([true]));
    assert_eq!(verbose[txid.to_string()]["vsize"], tx.vsize());
    let entry = rpc(&server, "getmempoolentry", json!([txid.to_string()]));
    assert!(entry["fees"]["base"].as_f64().unwrap() > 0.0);
    assert_eq!(rpc(&server, "getmempoolinfo", json!([]))["size"], 1);
    // Spent in the mempool: gettxout hides the coin unless asked not to.
    let spent = tx.input[0].previous_output;
    assert_eq!(
        rpc(
            &server,
            "gettxout",
            json!([spent.txid.to_string(), spent.vout])
        ),
        Value::Null
    );
    assert!(rpc(
        &server,
        "gettxout",
        json!([spent.txid.to_string(), spent.vout, false])
    )
    .is_object());
    let spender = rpc(
        &server,
        "gettxspendingprevout",
        json!([[{"txid": spent.txid.to_string(), "vout": spent.vout}]]),
    );
    assert_eq!(spender[0]["spendingtxid"], txid.to_string());

    // A spend of a missing coin is refused with Core's code and reason.
    let mut conflict = tx.clone();
    conflict.input[0].previous_output.vout = 7;
    let body = json!({"method": "sendrawtransaction", "params": [bitcoin::consensus::encode::serialize_hex(&conflict)], "id": 1});
    let (status, _, reply) = post(&server, Some(("u", "p")), &body.to_string());
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(status, 500, "{reply}");
    assert_eq!(reply["error"]["code"], -25, "{reply}");
    assert_eq!(reply["error"]["message"], "bad-txns-inputs-missingorspent");

    let address = bitcoin::Address::from_script(&alice.script_pubkey(), Network::Regtest).unwrap();
    let mined = rpc(
        &server,
        "generatetoaddress",
        json!([2, address.to_string()]),
    );
    let first: BlockHash = mined[0].as_str().unwrap().parse().unwrap();
    let got = rpc(&server, "getrawtransaction", json!([txid.to_string(), 1]));
    assert_eq!(got["blockhash"], first.to_string());
    assert_eq!(got["confirmations"], 2);
    let raw = rpc(&server, "getrawtransaction", json!([txid.to_string(), 0]));
    assert_eq!(
        deserialize_hex::<Transaction>(raw.as_str().unwrap()).unwrap(),
        tx
    );
    let header = rpc(&server, "getblockheader", json!([first.to_string()]));
    assert_eq!(header["height"], 102);
    assert_eq!(header["confirmations"], 2);
    assert_eq!(header["nextblockhash"], mined[1]);
    let block = rpc(&server, "getblock", json!([first.to_string(), 2]));
    assert_eq!(block["tx"][1]["txid"], txid.to_string());
    let spender = rpc(
        &server,
        "gettxspendingprevout",
        json!([[{"txid": spent.txid.to_string(), "vout": spent.vout}]]),
    );
    assert_eq!(spender[0]["blockhash"], first.to_string());

    // invalidateblock: both blocks leave the best chain, the tx goes back to
    // the mempool, and the stale block is still served with confirmations -1.
    assert_eq!(
        rpc(&server, "invalidateblock", json!([first.to_string()])),
        Value::Null
    );
    assert_eq!(rpc(&server, "getblockcount", json!([])), 101);
    assert_eq!(
        rpc(&server, "getrawmempool", json!([])),
        json!([txid.to_string()])
    );
    let stale = rpc(&server, "getblockheader", json!([first.to_string(), true]));
    assert_eq!(stale["confirmations"], -1);
    assert_eq!(stale["height"], 102);
    let in_stale = rpc(
        &server,
        "getrawtransaction",
        json!([txid.to_string(), true, first.to_string()]),
    );
    assert_eq!(in_stale["in_active_chain"], false);

    // Fee estimates: a rate per target, or Core's "no estimate" shape.
    let fee = rpc(&server, "estimatesmartfee", json!([1]));
    assert_eq!(fee["blocks"], 2);
    assert!(
        fee["feerate"].as_f64().unwrap()
            > rpc(&server, "estimatesmartfee", json!([144]))["feerate"]
                .as_f64()
                .unwrap()
    );
    server.set_fee_rate(None);
    let none = rpc(&server, "estimatesmartfee", json!([6]));
    assert!(none.get("feerate").is_none());
    assert!(none["errors"].is_array());
    assert!(rpc(&server, "uptime", json!([])).is_u64());
}

/// An error reply's code.
fn rpc_error(server: &RpcServer, method: &str, params: Value) -> i64 {
    let body = json!({"method": method, "params": params, "id": 1}).to_string();
    let (_, _, body) = post(server, Some(("u", "p")), &body);
    let reply: Value = serde_json::from_str(&body).unwrap();
    reply["error"]["code"].as_i64().unwrap()
}

#[test]
fn generateblock_mines_exactly_the_given_transactions() {
    let chain = SimChainHandle::new();
    let alice = SimWallet::from_seed([1; 32], chain.clone());
    let bob = SimWallet::from_seed([2; 32], chain.clone());
    chain.mine_blocks(102, &alice.script_pubkey());
    let server = start(&chain);
    let bob_address = bitcoin::Address::from_script(&bob.script_pubkey(), Network::Regtest)
        .unwrap()
        .to_string();

    // Two in the mempool, a third given raw.
    let first = alice
        .send(Amount::from_sat(10_000), &bob.script_pubkey())
        .unwrap();
    let second = alice
        .send(Amount::from_sat(20_000), &bob.script_pubkey())
        .unwrap();
    let third = alice
        .fund(Amount::from_sat(30_000), &bob.script_pubkey())
        .unwrap();
    let third_hex = bitcoin::consensus::encode::serialize_hex(&third);
    let reply = rpc(
        &server,
        "generateblock",
        json!([bob_address, [first.to_string(), third_hex]]),
    );
    let hash = reply["hash"].as_str().unwrap();
    let block: Block =
        deserialize_hex(rpc(&server, "getblock", json!([hash, 0])).as_str().unwrap()).unwrap();
    let mined: Vec<_> = block
        .txdata
        .iter()
        .skip(1)
        .map(|t| t.compute_txid())
        .collect();
    assert_eq!(mined, vec![first, third.compute_txid()]);
    // The coinbase pays the output given; the other transaction waits.
    assert_eq!(block.txdata[0].output[0].script_pubkey, bob.script_pubkey());
    assert_eq!(
        rpc(&server, "getrawmempool", json!([])),
        json!([second.to_string()])
    );
    assert_eq!(chain.best_block().hash.to_string(), hash);

    // An empty block; an unknown txid, a bad transaction and `submit =
    // false` are errors that mine nothing.
    let empty = rpc(&server, "generateblock", json!([bob_address, []]));
    assert_eq!(
        chain.best_block().hash.to_string(),
        empty["hash"].as_str().unwrap()
    );
    let height = chain.best_block().height;
    let unknown = "11".repeat(32);
    assert_eq!(
        rpc_error(&server, "generateblock", json!([bob_address, [unknown]])),
        -5
    );
    let mut bad = alice
        .fund(Amount::from_sat(5_000), &bob.script_pubkey())
        .unwrap();
    bad.input[0].witness = bitcoin::Witness::new();
    let bad_hex = bitcoin::consensus::encode::serialize_hex(&bad);
    assert_eq!(
        rpc_error(&server, "generateblock", json!([bob_address, [bad_hex]])),
        -25
    );
    assert_eq!(
        rpc_error(&server, "generateblock", json!([bob_address, [], false])),
        -8
    );
    assert_eq!(chain.best_block().height, height);
    assert_eq!(
        rpc(&server, "getrawmempool", json!([])),
        json!([second.to_string()])
    );
}

/// One HTTP GET with no credentials (Core's REST is unauthenticated);
/// returns status, the header block, and the raw body.
fn get(server: &RpcServer, path: &str) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(response[..split].to_vec()).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, response[split + 4..].to_vec())
}

/// Core's REST subset (`-rest`): off at start (an empty 404, as Core
/// without a REST handler), then blocks in binary and hex, headers in
/// both path forms, hashes by height, chain info, and Core's errors.
#[test]
fn rest_interface() {
    use bitcoin::hashes::Hash as _;
    let chain = SimChainHandle::new();
    chain.mine_empty_blocks(5);
    let server = start(&chain);
    let tip = chain.block_at(5).unwrap();
    let hash = tip.block_hash();

    let (status, _, body) = get(&server, &format!("/rest/block/{hash}.bin"));
    assert_eq!((status, body.len()), (404, 0), "REST is off by default");
    server.set_rest(true);

    let (status, head, body) = get(&server, &format!("/rest/block/{hash}.bin"));
    assert_eq!(status, 200);
    assert!(head.contains("application/octet-stream"), "{head}");
    let block: Block = bitcoin::consensus::deserialize(&body).unwrap();
    assert_eq!(block, tip);
    let (_, _, body) = get(&server, &format!("/rest/block/{hash}.hex"));
    let block: Block = deserialize_hex(String::from_utf8(body).unwrap().trim()).unwrap();
    assert_eq!(block, tip);

    let unknown = "11".repeat(32);
    let (status, _, body) = get(&server, &format!("/rest/block/{unknown}.bin"));
    assert_eq!(status, 404);
    assert_eq!(
        String::from_utf8(body).unwrap().trim(),
        format!("{unknown} not found")
    );
    let (status, _, _) = get(&server, "/rest/block/zz.bin");
    assert_eq!(status, 400);

    // Headers upward from block 2: three of them, both path forms.
    let from = chain.block_at(2).unwrap().block_hash();
    let (status, _, new_form) = get(&server, &format!("/rest/headers/{from}.bin?count=3"));
    assert_eq!(status, 200);
    let (_, _, old_form) = get(&server, &format!("/rest/headers/3/{from}.bin"));
    assert_eq!(new_form, old_form);
    assert_eq!(new_form.len(), 3 * 80);
    for (i, raw) in new_form.chunks(80).enumerate() {
        let header: bitcoin::block::Header = bitcoin::consensus::deserialize(raw).unwrap();
        assert_eq!(header, chain.block_at(2 + i as u32).unwrap().header);
    }
    let (status, _, _) = get(&server, &format!("/rest/headers/{from}.bin?count=0"));
    assert_eq!(status, 400);

    let (status, _, body) = get(&server, "/rest/blockhashbyheight/5.bin");
    assert_eq!(status, 200);
    assert_eq!(BlockHash::from_slice(&body).unwrap(), hash);
    let (_, _, body) = get(&server, "/rest/blockhashbyheight/5.json");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["blockhash"], json!(hash.to_string()));
    let (status, _, _) = get(&server, "/rest/blockhashbyheight/6.bin");
    assert_eq!(status, 404);

    let (status, _, body) = get(&server, "/rest/chaininfo.json");
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["blocks"], json!(5));
    assert_eq!(v["bestblockhash"], json!(hash.to_string()));

    // Every request while REST was on.
    assert_eq!(server.rest_requests().len(), 11);
}
