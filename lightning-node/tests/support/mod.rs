//! Two `lightning-node` runtimes over `lightning-simchain`'s bitcoind RPC,
//! each with its JSON-RPC socket, for the end-to-end tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bitcoin::ScriptBuf;
use lightning_chain::bitcoind::BitcoindAuth;
use lightning_node::rpc::RpcServer;
use lightning_node::{Builder, ChainConfig, Runtime};
use lightning_sim::SimChainHandle;
use lightning_simchain::{Credentials, RpcServer as ChainServer};
use serde_json::{json, Value};

pub struct TestNode {
    pub rt: Runtime,
    pub rpc: RpcServer,
    pub socket: PathBuf,
    pub dir: tempfile::TempDir,
}

impl TestNode {
    pub fn call(&self, method: &str, params: Value) -> Value {
        let r = raw_call(&self.socket, method, params.clone());
        if let Some(e) = r.get("error") {
            panic!("{method} {params}: {e}");
        }
        r["result"].clone()
    }
    pub fn call_err(&self, method: &str, params: Value) -> (i64, String) {
        let r = raw_call(&self.socket, method, params.clone());
        let e = r
            .get("error")
            .unwrap_or_else(|| panic!("{method} {params}: expected an error, got {r}"));
        (
            e["code"].as_i64().unwrap(),
            e["message"].as_str().unwrap().to_owned(),
        )
    }
    pub fn id(&self) -> String {
        self.rt.node_id().to_string()
    }
    pub fn uri(&self) -> String {
        format!("{}@{}", self.id(), self.rt.listen_addr().unwrap())
    }
}

/// One request on a fresh connection; the whole response object.
pub fn raw_call(path: &std::path::Path, method: &str, params: Value) -> Value {
    let mut s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let req = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
    s.write_all(req.to_string().as_bytes()).unwrap();
    read_one(&mut s)
}

pub fn read_one(s: &mut UnixStream) -> Value {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let mut it = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
        if let Some(Ok(v)) = it.next() {
            return v;
        }
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed without a reply");
        buf.extend_from_slice(&chunk[..n]);
    }
}

pub struct Net {
    pub chain: ChainServer,
    pub alice: TestNode,
    pub bob: TestNode,
}

pub fn start_node(chain: &ChainServer, seed: u8) -> TestNode {
    start_in(chain, seed, tempfile::tempdir().unwrap(), "127.0.0.1:0")
}

impl TestNode {
    /// Stops the runtime (and its socket) and starts it again from its
    /// data directory, listening where it did, as a restarted daemon.
    pub fn restart(self, chain: &ChainServer, seed: u8) -> TestNode {
        let TestNode { rt, rpc, dir, .. } = self;
        let listen = rt.listen_addr().unwrap().to_string();
        drop(rpc);
        rt.stop();
        drop(rt);
        start_in(chain, seed, dir, &listen)
    }
}

fn start_in(chain: &ChainServer, seed: u8, dir: tempfile::TempDir, listen: &str) -> TestNode {
    // Blocks by Core's REST interface (simchain serves it, as bitcoind
    // with `-rest=1`); `examples/tests/lnctl_node.rs` keeps JSON-RPC's.
    let source = ChainConfig::Bitcoind {
        url: chain.url(),
        auth: BitcoindAuth::UserPass("u".into(), "p".into()),
        rest: true,
    };
    start_on(source, seed, dir, listen, Duration::from_millis(100))
}

/// A node following `source` in `dir`.
pub fn start_on(
    source: ChainConfig,
    seed: u8,
    dir: tempfile::TempDir,
    listen: &str,
    sync_interval: Duration,
) -> TestNode {
    // Public channels (the runtime's default) and keysend accepted.
    let mut config = lightning_core::node::NodeConfig::new(bitcoin::Network::Regtest);
    config.channel.announce_channel = true;
    config.forwarding.accept_keysend = true;
    let rt = Builder::new(bitcoin::Network::Regtest)
        .node_config(config)
        .data_dir(dir.path())
        .seed([seed; 32])
        .chain(source)
        .listen(listen.parse().unwrap())
        .sync_interval(sync_interval)
        .build()
        .unwrap();
    let socket = dir.path().join("lightning-rpc");
    let rpc = RpcServer::start(rt.clone(), &socket).unwrap();
    TestNode {
        rt,
        rpc,
        socket,
        dir,
    }
}

impl Net {
    pub fn start() -> Net {
        let chain = ChainServer::start(
            SimChainHandle::new(),
            Credentials::new("u", "p"),
            "127.0.0.1:0",
        )
        .unwrap();
        chain.set_rest(true);
        let alice = start_node(&chain, 0xa1);
        let bob = start_node(&chain, 0xb0);
        Net { chain, alice, bob }
    }

    pub fn mine(&self, n: usize, script: &ScriptBuf) {
        self.chain.chain().mine_blocks(n, script);
        for node in [&self.alice, &self.bob] {
            node.rt.sync_chain(Duration::from_secs(30)).unwrap();
        }
    }

    pub fn mine_empty(&self, n: usize) {
        self.mine(n, &ScriptBuf::new_op_return([0u8; 4]));
    }

    /// Funds `node`'s wallet with one mature coinbase (50 BTC).
    pub fn fund(&self, node: &TestNode) {
        let addr = node.call("newaddr", json!([]))["bech32"]
            .as_str()
            .unwrap()
            .to_owned();
        let script = addr
            .parse::<bitcoin::Address<_>>()
            .unwrap()
            .assume_checked()
            .script_pubkey();
        self.mine(1, &script);
        self.mine_empty(100);
    }

    /// Connects alice to bob and opens a channel of `sat`, confirmed and
    /// normal on both sides. Gives fundchannel's result.
    pub fn open_channel(&self, sat: u64) -> Value {
        self.alice.call("connect", json!([self.bob.uri()]));
        let r = self
            .alice
            .call("fundchannel", json!({"id": self.bob.id(), "amount": sat}));
        self.mine_empty(6);
        for node in [&self.alice, &self.bob] {
            wait(&format!("{} sees the channel normal", node.id()), || {
                let chans = node.call("listpeerchannels", json!([]));
                chans["channels"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["state"] == "CHANNELD_NORMAL" && c["peer_connected"] == true)
            });
        }
        r
    }
}

pub fn wait(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The total of a `listfunds` result's outputs, in satoshis.
pub fn onchain_sat(funds: &Value) -> u64 {
    funds["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["amount_msat"].as_u64().unwrap() / 1000)
        .sum()
}
