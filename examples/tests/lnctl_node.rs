//! `lnctl`'s node commands against a running node (a `lightning-node`
//! runtime with its CLN-compatible socket, over the simulated chain's
//! bitcoind RPC): the lncli walkthrough (newaddress, walletbalance,
//! connect, openchannel, listchannels, addinvoice, payinvoice,
//! sendpayment --keysend, listinvoices, listpayments, channelbalance,
//! exportchanbackup, verifychanbackup, closechannel, stop) with
//! lncli's field names, and clear failures with a non-zero exit.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use lightning_chain::bitcoind::BitcoindAuth;
use lightning_node::rpc::RpcServer;
use lightning_node::{Builder, ChainConfig, Runtime};
use lightning_sim::SimChainHandle;
use lightning_simchain::{Credentials, RpcServer as ChainServer};
use serde_json::Value;

struct Node {
    rt: Runtime,
    _rpc: RpcServer,
    socket: String,
    _dir: tempfile::TempDir,
}

fn start(chain: &ChainServer, seed: u8) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let mut config = lightning_core::node::NodeConfig::new(bitcoin::Network::Regtest);
    config.channel.announce_channel = true;
    config.forwarding.accept_keysend = true;
    let rt = Builder::new(bitcoin::Network::Regtest)
        .node_config(config)
        .data_dir(dir.path())
        .seed([seed; 32])
        .chain(ChainConfig::Bitcoind {
            url: chain.url(),
            auth: BitcoindAuth::UserPass("u".into(), "p".into()),
            rest: false,
        })
        .listen("127.0.0.1:0".parse().unwrap())
        .sync_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let socket = dir.path().join("lightning-rpc");
    let rpc = RpcServer::start(rt.clone(), &socket).unwrap();
    Node {
        rt,
        _rpc: rpc,
        socket: socket.display().to_string(),
        _dir: dir,
    }
}

fn lnctl(node: &Node, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lnctl"))
        .args(args)
        .args(["--rpc", &node.socket])
        .output()
        .unwrap()
}

fn ok(node: &Node, args: &[&str]) -> Value {
    let out = lnctl(node, args);
    assert!(
        out.status.success(),
        "lnctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sat(v: &Value) -> u64 {
    v.as_str().unwrap().parse().unwrap()
}

fn sync(chain: &ChainServer, nodes: &[&Node], n: usize, script: &bitcoin::Script) {
    chain.chain().mine_blocks(n, script);
    for node in nodes {
        node.rt.sync_chain(Duration::from_secs(30)).unwrap();
    }
}

fn wait(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn lncli_walkthrough() {
    let chain = ChainServer::start(
        SimChainHandle::new(),
        Credentials::new("u", "p"),
        "127.0.0.1:0",
    )
    .unwrap();
    let alice = start(&chain, 0xa1);
    let bob = start(&chain, 0xb0);
    let empty = bitcoin::ScriptBuf::new_op_return([0u8; 4]);

    let addr = ok(&alice, &["newaddress", "p2wkh"])["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let script = addr
        .parse::<bitcoin::Address<_>>()
        .unwrap()
        .assume_checked()
        .script_pubkey();
    sync(&chain, &[&alice, &bob], 1, &script);
    sync(&chain, &[&alice, &bob], 100, &empty);
    let wb = ok(&alice, &["walletbalance"]);
    assert_eq!(sat(&wb["confirmed_balance"]), 5_000_000_000);

    let bob_info = ok(&bob, &["getinfo"]);
    let bob_id = bob_info["identity_pubkey"].as_str().unwrap().to_owned();
    assert_eq!(bob_info["block_height"], 101);
    let uri = format!("{bob_id}@{}", bob.rt.listen_addr().unwrap());
    ok(&alice, &["connect", &uri]);
    assert_eq!(ok(&alice, &["getinfo"])["num_peers"], 1);
    let open = ok(
        &alice,
        &[
            "openchannel",
            "--node_key",
            &bob_id,
            "--local_amt",
            "1000000",
        ],
    );
    let txid = open["funding_txid"].as_str().unwrap().to_owned();
    let pending = ok(&alice, &["pendingchannels"]);
    let p = pending["pending_open_channels"].as_array().unwrap();
    assert_eq!(p.len(), 1, "{pending}");
    assert_eq!(p[0]["channel"]["remote_node_pub"], bob_id);
    assert_eq!(sat(&p[0]["channel"]["capacity"]), 1_000_000);
    sync(&chain, &[&alice, &bob], 6, &empty);
    wait("the channel is active", || {
        ok(&alice, &["listchannels"])["channels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["active"] == true)
    });
    let ch = &ok(&alice, &["listchannels"])["channels"][0];
    assert_eq!(ch["remote_pubkey"], bob_id);
    assert_eq!(sat(&ch["capacity"]), 1_000_000);
    assert_eq!(sat(&ch["local_balance"]), 1_000_000);
    assert!(ch["channel_point"].as_str().unwrap().starts_with(&txid));
    assert!(ok(&alice, &["pendingchannels"])["pending_open_channels"]
        .as_array()
        .unwrap()
        .is_empty());
    // The announced channel in the graph: one edge between the two, both
    // policies; a one-hop route to Bob over it.
    let chan_id = ch["chan_id"].as_str().unwrap().to_owned();
    wait("the channel is in the graph with both policies", || {
        let g = ok(&alice, &["describegraph"]);
        g["edges"].as_array().is_some_and(|e| {
            e.len() == 1 && !e[0]["node1_policy"].is_null() && !e[0]["node2_policy"].is_null()
        })
    });
    let g = ok(&alice, &["describegraph"]);
    let ids: Vec<&str> = g["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["pub_key"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&bob_id.as_str()), "{g}");
    let edge = ok(&alice, &["getchaninfo", &chan_id]);
    assert_eq!(edge["channel_id"], chan_id);
    assert_eq!(sat(&edge["capacity"]), 1_000_000);
    let ends = [edge["node1_pub"].clone(), edge["node2_pub"].clone()];
    assert!(ends.contains(&Value::String(bob_id.clone())), "{edge}");
    let routes = ok(&alice, &["queryroutes", "--dest", &bob_id, "--amt", "1000"]);
    let r = &routes["routes"][0];
    assert_eq!(r["hops"].as_array().unwrap().len(), 1, "{routes}");
    assert_eq!(r["hops"][0]["chan_id"], chan_id);
    assert_eq!(sat(&r["total_amt"]), 1_000);
    assert_eq!(sat(&r["total_fees"]), 0);
    let out = lnctl(&alice, &["getchaninfo", "12345"]);
    assert!(!out.status.success(), "an unknown edge is an error");

    // The static channel backup: all, one, and checked from a file.
    let exp = ok(&alice, &["exportchanbackup", "--all"]);
    let points = exp["multi_chan_backup"]["chan_points"].clone();
    let point = points[0].as_str().unwrap().to_owned();
    assert!(point.starts_with(&txid), "{exp}");
    let one = ok(&alice, &["exportchanbackup", "--chan_point", &point]);
    assert_eq!(one["chan_point"], point);
    let file = alice._dir.path().join("channel.backup");
    let bytes = hex::decode(
        exp["multi_chan_backup"]["multi_chan_backup"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    std::fs::write(&file, bytes).unwrap();
    let v = ok(
        &alice,
        &["verifychanbackup", "--multi_file", file.to_str().unwrap()],
    );
    assert_eq!(v["chan_points"], points);
    let out = lnctl(
        &bob,
        &["verifychanbackup", "--multi_file", file.to_str().unwrap()],
    );
    assert!(
        !out.status.success(),
        "bob's seed does not open alice's backup"
    );

    let inv = ok(&bob, &["addinvoice", "--amt", "40000", "--memo", "coffee"]);
    let req = inv["payment_request"].as_str().unwrap().to_owned();
    let paid = ok(&alice, &["payinvoice", &req]);
    assert_eq!(paid["status"], "SUCCEEDED");
    assert_eq!(sat(&paid["value"]), 40_000);
    let invs = ok(&bob, &["listinvoices"]);
    let i = &invs["invoices"][0];
    assert_eq!(i["state"], "SETTLED");
    assert_eq!(i["memo"], "coffee");
    assert_eq!(i["r_preimage"], paid["payment_preimage"]);
    assert_eq!(sat(&i["amt_paid_sat"]), 40_000);
    let ks = ok(
        &alice,
        &[
            "sendpayment",
            "--keysend",
            "--dest",
            &bob_id,
            "--amt",
            "5000",
            "--fee_limit",
            "0",
        ],
    );
    assert_eq!(ks["status"], "SUCCEEDED");
    assert_eq!(sat(&ks["value"]), 5_000);
    let pays = ok(&alice, &["listpayments"]);
    let pays = pays["payments"].as_array().unwrap();
    assert_eq!(pays.len(), 2);
    assert!(pays.iter().all(|p| p["status"] == "SUCCEEDED"));
    let mut values: Vec<u64> = pays.iter().map(|p| sat(&p["value_sat"])).collect();
    values.sort_unstable();
    assert_eq!(values, vec![5_000, 40_000]);
    wait("bob holds 45,000 sat", || {
        sat(&ok(&bob, &["channelbalance"])["balance"]) == 45_000
    });

    // Two nodes: nothing forwarded.
    let fw = ok(&bob, &["fwdinghistory"]);
    assert_eq!(fw["forwarding_events"], Value::Array(Vec::new()));

    let closed = ok(&alice, &["closechannel", "--funding_txid", &txid]);
    assert_eq!(closed["type"], "mutual");
    let none = ok(&alice, &["closeallchannels"]);
    assert_eq!(none["closed_channels"], Value::Array(Vec::new()));
    sync(&chain, &[&alice, &bob], 1, &empty);
    wait("bob's wallet has his 45,000 sat", || {
        sat(&ok(&bob, &["walletbalance"])["confirmed_balance"]) == 45_000
    });
    let a = sat(&ok(&alice, &["walletbalance"])["confirmed_balance"]);
    assert!(
        a < 5_000_000_000 - 45_000 && a > 5_000_000_000 - 45_000 - 20_000,
        "alice has {a}"
    );

    // Failures: a bad argument, a refused request, a stopped daemon.
    let out = lnctl(&alice, &["payinvoice", "lnbcrt1garbage"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("rpc error -32602"));
    let out = lnctl(&alice, &["openchannel"]);
    assert!(!out.status.success());
    ok(&alice, &["stop"]);
    let socket = alice.socket.clone();
    drop(alice);
    let out = Command::new(env!("CARGO_BIN_EXE_lnctl"))
        .args(["getinfo", "--rpc", &socket])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is lnnode running?"), "{err}");
}
