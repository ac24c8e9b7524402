//! The `bitcoind` adapter against `simchain`'s JSON-RPC on loopback.
#![cfg(feature = "bitcoind")]
#![allow(clippy::unwrap_used)] // test helpers

use bitcoin::{Amount, Network};
use lightning_chain::bitcoind::{BitcoindAuth, BitcoindSource};
use lightning_chain::{
    BestBlock, Broadcaster, ChainSource, ChainSourceError, ChainSync, ConfirmationEvent,
    ConfirmationTarget, ConfirmationTracker, FeeConfig, FeeEstimator, FeeRate,
};
use lightning_sim::{SimChainHandle, SimWallet};
use lightning_simchain::{Credentials, RpcServer};
use serde_json::{json, Value};

fn setup() -> (SimChainHandle, SimWallet, RpcServer, BitcoindSource) {
    let chain = SimChainHandle::new();
    let wallet = SimWallet::from_seed([7; 32], chain.clone());
    chain.mine_blocks(110, &wallet.script_pubkey());
    let server =
        RpcServer::start(chain.clone(), Credentials::new("u", "p"), "127.0.0.1:0").unwrap();
    let source = BitcoindSource::new(
        &server.url(),
        BitcoindAuth::UserPass("u".into(), "p".into()),
        FeeConfig::default(),
    )
    .unwrap();
    (chain, wallet, server, source)
}

fn rpc(server: &RpcServer, method: &str, params: Value) -> Value {
    server.call_local(method, &params).unwrap()
}

fn events(tracker: &mut ConfirmationTracker) -> Vec<ConfirmationEvent> {
    std::iter::from_fn(|| tracker.poll_event()).collect()
}

#[test]
fn sync_from_checkpoint_through_reorgs_with_broadcast() {
    let (chain, wallet, server, source) = setup();
    assert_eq!(source.server_version().unwrap(), 310_000);

    // Start from a checkpoint at height 100, as a node restored from its
    // store would.
    let checkpoint = BestBlock::new(chain.block_at(100).unwrap().block_hash(), 100);
    let mut tracker = ConfirmationTracker::new(checkpoint);
    let mut sync = ChainSync::new(checkpoint);
    let outcome = sync.sync(&source, &mut tracker).unwrap();
    assert_eq!((outcome.disconnected, outcome.connected), (0, 10));
    assert_eq!(tracker.best_block(), chain.best_block());

    // Broadcast through the adapter; the simulated mempool verifies scripts.
    let tx = wallet
        .fund(Amount::from_sat(70_000), &wallet.script_pubkey())
        .unwrap();
    let txid = tx.compute_txid();
    tracker.watch_tx(txid, 3);
    source.broadcast_transaction(&tx);
    assert!(source.take_broadcast_errors().is_empty());
    assert_eq!(chain.mempool(), vec![tx.clone()]);
    // A rebroadcast after it confirmed is not an error.
    let address = bitcoin::Address::from_script(&wallet.script_pubkey(), Network::Regtest).unwrap();
    rpc(
        &server,
        "generatetoaddress",
        json!([3, address.to_string()]),
    );
    source.broadcast_transaction(&tx);
    assert!(source.take_broadcast_errors().is_empty());

    sync.sync(&source, &mut tracker).unwrap();
    let seen = events(&mut tracker);
    assert!(
        matches!(seen[0], ConfirmationEvent::Confirmed { txid: t, confirmation, .. } if t == txid && confirmation.height == 111),
        "{seen:?}"
    );
    assert!(
        matches!(seen[1], ConfirmationEvent::ReachedDepth { .. }),
        "{seen:?}"
    );

    // A 3-block reorg through `invalidateblock` (the tx's block included),
    // then a longer branch: the tx returns to the mempool, is mined again.
    let at_111 = chain.block_at(111).unwrap().block_hash();
    rpc(&server, "invalidateblock", json!([at_111.to_string()]));
    rpc(
        &server,
        "generatetoaddress",
        json!([5, address.to_string()]),
    );
    let outcome = sync.sync(&source, &mut tracker).unwrap();
    assert_eq!((outcome.disconnected, outcome.connected), (3, 5));
    assert_eq!(tracker.best_block(), chain.best_block());
    let seen = events(&mut tracker);
    assert!(
        matches!(seen[0], ConfirmationEvent::ReorgedOut { txid: t, .. } if t == txid),
        "{seen:?}"
    );
    assert!(
        matches!(seen[1], ConfirmationEvent::Confirmed { confirmation, .. } if confirmation.height == 111 && confirmation.block_hash != at_111),
        "{seen:?}"
    );

    // A 20-block reorg, deeper than anything the driver was told about
    // since it started, and a driver restarted at the stale tip: it walks
    // back through the source's stale headers.
    let stale_tip = sync.best_block();
    let fork = chain.block_at(95).unwrap().block_hash();
    rpc(&server, "invalidateblock", json!([fork.to_string()]));
    rpc(
        &server,
        "generatetoaddress",
        json!([25, address.to_string()]),
    );
    let mut restarted = ChainSync::new(stale_tip);
    let outcome = restarted.sync(&source, &mut tracker).unwrap();
    assert_eq!((outcome.disconnected, outcome.connected), (21, 25));
    assert_eq!(tracker.best_block(), chain.best_block());
    // The tx spends a coinbase that is immature at the fork, so it left the
    // mempool (as in Core) and the tracker has it unconfirmed.
    assert_eq!(chain.tx_confirmations(&txid), None);
    assert_eq!(tracker.confirmations(&txid).map(|c| c.get()), Some(0));
    assert!(events(&mut tracker)
        .iter()
        .any(|e| matches!(e, ConfirmationEvent::ReorgedOut { txid: t, .. } if *t == txid)));

    // Every request was one Bitcoin Core documents, with its parameter
    // shapes: `getblockhash height`, `getblock "hash" 0`,
    // `getblockheader "hash" false`, `sendrawtransaction "hex"`.
    for (method, params) in server.calls() {
        let p = params.as_array().cloned().unwrap_or_default();
        let ok = match method.as_str() {
            "getblockchaininfo" | "getnetworkinfo" => p.is_empty(),
            "getblockhash" => p.len() == 1 && p[0].is_u64(),
            "getblock" => p.len() == 2 && p[0].as_str().is_some_and(|h| h.len() == 64) && p[1] == 0,
            "getblockheader" => {
                p.len() == 2 && p[0].as_str().is_some_and(|h| h.len() == 64) && p[1] == false
            }
            "sendrawtransaction" => p.len() == 1 && p[0].is_string(),
            // The test's own calls through `call_local` are not logged.
            _ => false,
        };
        assert!(ok, "undocumented request shape: {method} {params}");
    }
}

#[test]
fn packages_and_refusals() {
    let (chain, wallet, _server, source) = setup();
    let parent = wallet
        .fund(Amount::from_sat(100_000), &wallet.script_pubkey())
        .unwrap();
    let mut bogus = parent.clone();
    bogus.input[0].previous_output.vout = 9;
    // simchain has no `submitpackage`: the adapter falls back to sending
    // each in order, and records the refusal.
    source.broadcast_transactions(&[&parent, &bogus]);
    assert_eq!(chain.mempool(), vec![parent.clone()]);
    let errors = source.take_broadcast_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].txid, bogus.compute_txid());
    assert!(errors[0].error.contains("missingorspent"), "{errors:?}");
}

#[test]
fn fee_estimates_are_mapped_bounded_and_fall_back() {
    let (_chain, _wallet, server, _source) = setup();
    let config = FeeConfig {
        ceiling: FeeRate::from_sat_per_kw(5_000),
        fallback: FeeRate::from_sat_per_kw(1_111),
        max_allowed_multiplier: 10,
    };
    let source = BitcoindSource::new(
        &server.url(),
        BitcoindAuth::UserPass("u".into(), "p".into()),
        config,
    )
    .unwrap();
    // simchain: base 4,000 sat/kvB (1,000 sat/kw) for 7+ blocks, twice that
    // for 3..=6, four times for 1..=2.
    server.set_fee_rate(Some(4_000));
    let update = source.refresh_fee_estimates().unwrap();
    assert_eq!((update.estimated, update.fell_back), (4, 0));
    let rate = |t| source.fee_rate(t).sat_per_kw();
    assert_eq!(rate(ConfirmationTarget::UrgentOnChainSweep), 4_000);
    assert_eq!(rate(ConfirmationTarget::NonAnchorChannelFee), 2_000);
    assert_eq!(rate(ConfirmationTarget::NonUrgentOnChainSweep), 1_000);
    assert_eq!(rate(ConfirmationTarget::AnchorChannelFee), 1_000);
    assert_eq!(rate(ConfirmationTarget::MaxAllowedRemoteFee), 40_000);
    let asked: Vec<Value> = server
        .calls()
        .into_iter()
        .filter(|(m, _)| m == "estimatesmartfee")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(
        asked,
        vec![json!([2]), json!([144]), json!([1008]), json!([6])]
    );

    // A spike above the ceiling is capped; a tiny rate is raised to 253.
    server.set_fee_rate(Some(1_000_000));
    source.refresh_fee_estimates().unwrap();
    assert_eq!(rate(ConfirmationTarget::UrgentOnChainSweep), 5_000);
    server.set_fee_rate(Some(1));
    source.refresh_fee_estimates().unwrap();
    assert_eq!(rate(ConfirmationTarget::NonUrgentOnChainSweep), 253);

    // No estimate: the fallback.
    server.set_fee_rate(None);
    let update = source.refresh_fee_estimates().unwrap();
    assert_eq!(update.fell_back, 4);
    assert_eq!(rate(ConfirmationTarget::UrgentOnChainSweep), 1_111);

    // The server gone: an error, and the last estimates stay.
    let url = server.url();
    drop(server);
    assert!(matches!(
        source.refresh_fee_estimates(),
        Err(ChainSourceError::Unavailable(_))
    ));
    assert_eq!(rate(ConfirmationTarget::UrgentOnChainSweep), 1_111);
    assert!(
        matches!(source.best_block(), Err(ChainSourceError::Unavailable(_))),
        "{url}"
    );
}

#[test]
fn cookie_auth_and_wrong_credentials() {
    let (chain, _wallet, server, _source) = setup();
    let dir = std::env::temp_dir().join(format!("ln-bitcoind-cookie-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cookie = dir.join(".cookie");
    std::fs::write(&cookie, "u:p").unwrap();
    let source = BitcoindSource::new(
        &server.url(),
        BitcoindAuth::CookieFile(cookie),
        FeeConfig::default(),
    )
    .unwrap();
    assert_eq!(source.best_block().unwrap(), chain.best_block());
    std::fs::remove_dir_all(&dir).unwrap();

    let wrong = BitcoindSource::new(
        &server.url(),
        BitcoindAuth::UserPass("u".into(), "nope".into()),
        FeeConfig::default(),
    )
    .unwrap();
    assert!(wrong.best_block().is_err());
    assert!(wrong.block_hash_at(1).is_err());
    // Above the tip and unknown hashes are `None`, not errors.
    let good = BitcoindSource::new(
        &server.url(),
        BitcoindAuth::UserPass("u".into(), "p".into()),
        FeeConfig::default(),
    )
    .unwrap();
    assert_eq!(good.block_hash_at(10_000).unwrap(), None);
    let unknown: bitcoin::BlockHash = "11".repeat(32).parse().unwrap();
    assert_eq!(good.block(&unknown).unwrap(), None);
    assert_eq!(good.header(&unknown).unwrap(), None);
}

/// A "bitcoind" that answers with well-formed JSON-RPC carrying bad data.
fn garbage_server(block: bitcoin::Block) -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let block = block.clone();
            // A thread per connection: clients keep theirs open.
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                let mut rest_get = false;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if line.starts_with("GET /rest/block/") {
                        rest_get = true;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" && rest_get {
                        // REST: the block's bytes, as Core's `.bin`.
                        let bytes = bitcoin::consensus::serialize(&block);
                        let mut out = stream.try_clone().unwrap();
                        let _ = write!(
                        out,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                        bytes.len()
                    );
                        let _ = out.write_all(&bytes);
                        rest_get = false;
                        continue;
                    }
                    if line == "\r\n" {
                        let mut body = vec![0; length];
                        reader.read_exact(&mut body).unwrap();
                        let request: Value = serde_json::from_slice(&body).unwrap();
                        let result = match request["method"].as_str().unwrap() {
                            "getblockchaininfo" => json!({"blocks": -1, "bestblockhash": "zz"}),
                            "getblockhash" => json!("not a hash"),
                            "getblock" => json!(bitcoin::consensus::encode::serialize_hex(&block)),
                            _ => json!(null),
                        };
                        let reply =
                            json!({"jsonrpc": "2.0", "result": result, "id": request["id"]})
                                .to_string();
                        let mut out = stream.try_clone().unwrap();
                        let _ = write!(
                        out,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{reply}",
                        reply.len()
                    );
                        length = 0;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn garbage_is_bad_data_never_a_block() {
    let chain = SimChainHandle::new();
    let wallet = SimWallet::from_seed([9; 32], chain.clone());
    chain.mine_blocks(101, &wallet.script_pubkey());
    wallet
        .send(Amount::from_sat(10_000), &wallet.script_pubkey())
        .unwrap();
    chain.mine_blocks(1, &wallet.script_pubkey());
    // A block whose transactions were swapped for others: same header (so
    // the same hash), merkle root no longer matching.
    let mut block = chain.block_at(102).unwrap();
    block.txdata[1] = chain.block_at(50).unwrap().txdata[0].clone();
    let hash = block.block_hash();
    let addr = garbage_server(block);
    let source = BitcoindSource::new(
        &format!("http://{addr}/"),
        BitcoindAuth::UserPass("u".into(), "p".into()),
        FeeConfig::default(),
    )
    .unwrap();
    assert!(matches!(
        source.best_block(),
        Err(ChainSourceError::BadData(_))
    ));
    assert!(matches!(
        source.block_hash_at(1),
        Err(ChainSourceError::BadData(_))
    ));
    let err = source.block(&hash).unwrap_err();
    assert!(
        matches!(&err, ChainSourceError::BadData(m) if m.contains("merkle")),
        "{err:?}"
    );
    // The same block by REST: the same checks.
    let rest = BitcoindSource::new(
        &format!("http://{addr}/"),
        BitcoindAuth::UserPass("u".into(), "p".into()),
        FeeConfig::default(),
    )
    .unwrap()
    .use_rest();
    let err = rest.block(&hash).unwrap_err();
    assert!(
        matches!(&err, ChainSourceError::BadData(m) if m.contains("REST") && m.contains("merkle")),
        "{err:?}"
    );
    // The driver stops with the error; the listener saw nothing.
    let mut tracker = ConfirmationTracker::new(BestBlock::genesis(Network::Regtest));
    let mut sync = ChainSync::new(tracker.best_block());
    assert!(sync.sync(&source, &mut tracker).is_err());
    assert_eq!(tracker.best_block(), BestBlock::genesis(Network::Regtest));
}

/// Blocks by Core's REST interface (`-rest=1`): every block the driver
/// connects, through a reorg, comes from `GET /rest/block/<hash>.bin`,
/// none from `getblock`; an unknown block is asked of JSON-RPC, which
/// says so.
#[test]
fn blocks_by_rest_through_a_reorg() {
    let (chain, wallet, server, source) = setup();
    server.set_rest(true);
    let source = source.use_rest();
    let checkpoint = BestBlock::new(chain.block_at(100).unwrap().block_hash(), 100);
    let mut tracker = ConfirmationTracker::new(checkpoint);
    let mut sync = ChainSync::new(checkpoint);
    let outcome = sync.sync(&source, &mut tracker).unwrap();
    assert_eq!((outcome.disconnected, outcome.connected), (0, 10));
    let address = bitcoin::Address::from_script(&wallet.script_pubkey(), Network::Regtest).unwrap();
    let at_108 = chain.block_at(108).unwrap().block_hash();
    rpc(&server, "invalidateblock", json!([at_108.to_string()]));
    rpc(
        &server,
        "generatetoaddress",
        json!([6, address.to_string()]),
    );
    let outcome = sync.sync(&source, &mut tracker).unwrap();
    assert_eq!((outcome.disconnected, outcome.connected), (3, 6));
    assert_eq!(tracker.best_block(), chain.best_block());
    assert!(source.rest_enabled());
    assert_eq!(source.take_rest_fallback(), None);
    let rest = server.rest_requests();
    assert_eq!(rest.len(), 16, "{rest:?}");
    for height in 101..=chain.best_block().height {
        let hash = chain.block_at(height).unwrap().block_hash();
        assert!(
            rest.contains(&format!("/rest/block/{hash}.bin")),
            "{height}"
        );
    }
    assert!(
        !server.calls().iter().any(|(m, _)| m == "getblock"),
        "a block came by JSON-RPC"
    );
    // Unknown: REST's 404 "not found", then JSON-RPC's -5: no block.
    let unknown: bitcoin::BlockHash = "11".repeat(32).parse().unwrap();
    assert_eq!(source.block(&unknown).unwrap(), None);
    let why = source.take_rest_fallback().unwrap();
    assert!(why.contains("not found"), "{why}");
    assert!(
        source.rest_enabled(),
        "a missing block does not turn REST off"
    );
}

/// bitcoind without `-rest`: the first block asked by REST gets Core's
/// empty 404; the source says why, turns REST off, and every block comes
/// by `getblock`.
#[test]
fn rest_off_at_bitcoind_falls_back_to_json_rpc() {
    let (chain, _wallet, server, source) = setup();
    let source = source.use_rest();
    let checkpoint = BestBlock::new(chain.block_at(100).unwrap().block_hash(), 100);
    let mut tracker = ConfirmationTracker::new(checkpoint);
    let mut sync = ChainSync::new(checkpoint);
    let outcome = sync.sync(&source, &mut tracker).unwrap();
    assert_eq!(outcome.connected, 10);
    assert_eq!(tracker.best_block(), chain.best_block());
    assert!(!source.rest_enabled());
    let why = source.take_rest_fallback().unwrap();
    assert!(why.contains("-rest=1"), "{why}");
    let getblocks = server
        .calls()
        .iter()
        .filter(|(m, _)| m == "getblock")
        .count();
    assert_eq!(getblocks, 10);
}
