//! One Electrum daemon (Debian's `python3-electrum` 4.3) in regtest, with
//! its own data directory, talking to one ElectrumX and listening for
//! Lightning connections; controlled through its JSON-RPC command server.
//!
//! Debian ships no `electrum` launcher on `PATH`: the package's own script
//! (`electrum/electrum` beside the module) is copied into the temporary
//! directory and run with the interpreter that has the module
//! (`LN_TEST_ELECTRUM_PYTHON`, by default `/usr/bin/python3`). Run from
//! inside the package directory it would think it is a source checkout.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bitcoin::secp256k1::PublicKey;
use lightning_test_support::external::{electrum_python, skip, KillOnDrop};
use serde_json::{json, Value};

use crate::rpc::{CallError, RpcClient};

/// How long an ordinary command may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The CSV delay each side asks of the other's outputs in these
/// scenarios (Electrum's default is 1008 blocks, ours 144).
pub const TO_SELF_DELAY: u16 = 24;

/// What [`ElectrumDaemon::start`] sets in Electrum's config file, besides
/// the RPC and listening addresses.
#[derive(Debug, Clone)]
pub struct ElectrumOptions {
    /// `use_gossip`: with it Electrum routes over the channel graph (a
    /// direct peer is a one-hop route); without it, it works in trampoline
    /// mode and opens channels only to trampoline nodes.
    pub use_gossip: bool,
    /// `lightning_to_self_delay`, the CSV delay Electrum asks of our
    /// outputs (its default is 1008 blocks).
    pub to_self_delay: u16,
}

impl Default for ElectrumOptions {
    fn default() -> Self {
        ElectrumOptions {
            use_gossip: true,
            to_self_delay: TO_SELF_DELAY,
        }
    }
}

/// A running Electrum daemon with a loaded wallet; killed when dropped.
#[derive(Debug)]
pub struct ElectrumDaemon {
    child: KillOnDrop,
    dir: tempfile::TempDir,
    rpc: RpcClient,
    /// Electrum's Lightning node id.
    pub node_id: PublicKey,
    /// Where it accepts Lightning connections (`lightning_listen`).
    pub ln_addr: SocketAddr,
}

/// The interpreter and the package's launcher script, or `None` after a
/// skip (a failure under `LN_TEST_REQUIRE_ALL=1`).
pub fn locate(test: &str) -> Option<(PathBuf, PathBuf)> {
    let python = electrum_python("electrum.lnworker")?;
    let out = Command::new(&python)
        .args([
            "-c",
            "import electrum, os; print(os.path.dirname(electrum.__file__))",
        ])
        .output()
        .ok()?;
    let package = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let launcher = package.join("electrum");
    if !launcher.is_file() {
        skip(format!(
            "{test}: Electrum's launcher {} is missing",
            launcher.display()
        ));
        return None;
    }
    Some((python, launcher))
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl ElectrumDaemon {
    /// Starts Electrum in regtest against the ElectrumX at `server`, with a
    /// new wallet, and waits until it is connected and the wallet loaded.
    pub fn start(
        python: &Path,
        launcher: &Path,
        server: SocketAddr,
        options: &ElectrumOptions,
    ) -> Result<Self, String> {
        let err = |what: &str, e: &dyn std::fmt::Display| format!("electrum: {what}: {e}");
        let dir = tempfile::Builder::new()
            .prefix("ln-electrum-")
            .tempdir()
            .map_err(|e| err("temp dir", &e))?;
        let script = dir.path().join("run-electrum");
        std::fs::copy(launcher, &script).map_err(|e| err("copy the launcher", &e))?;
        let data = dir.path().join("data");
        let net = data.join("regtest");
        std::fs::create_dir_all(&net).map_err(|e| err("data dir", &e))?;
        let rpc_port = free_port().map_err(|e| err("port", &e))?;
        let ln_port = free_port().map_err(|e| err("port", &e))?;
        let ln_addr = SocketAddr::from(([127, 0, 0, 1], ln_port));
        let password = format!("pw{}", std::process::id());
        let config = json!({
            "config_version": 3,
            "rpchost": "127.0.0.1",
            "rpcport": rpc_port,
            "rpcuser": "electrum",
            "rpcpassword": password,
            "lightning_listen": ln_addr.to_string(),
            "use_gossip": options.use_gossip,
            "lightning_to_self_delay": options.to_self_delay,
            "log_to_file": true,
            "auto_connect": false,
            "oneserver": true,
            "server": format!("{server}:t"),
            "check_updates": false,
            "dont_show_testnet_warning": true,
        });
        std::fs::write(net.join("config"), config.to_string()).map_err(|e| err("config", &e))?;
        let electrum = |args: &[&str]| {
            let mut cmd = Command::new(python);
            cmd.arg(&script)
                .arg("--regtest")
                .arg("-D")
                .arg(&data)
                .args(args)
                .current_dir(dir.path())
                .stdin(Stdio::null());
            cmd
        };
        let created = electrum(&["create", "--offline"])
            .output()
            .map_err(|e| err("create", &e))?;
        if !created.status.success() {
            return Err(format!(
                "electrum create failed: {}{}",
                String::from_utf8_lossy(&created.stdout),
                String::from_utf8_lossy(&created.stderr)
            ));
        }
        let log =
            std::fs::File::create(dir.path().join("daemon.out")).map_err(|e| err("log", &e))?;
        let log2 = log.try_clone().map_err(|e| err("log", &e))?;
        let child = electrum(&["daemon"])
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| err("spawn", &e))?;
        let mut child = KillOnDrop(child);
        let rpc = RpcClient::new(
            SocketAddr::from(([127, 0, 0, 1], rpc_port)),
            "electrum",
            &password,
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = child.0.try_wait() {
                return Err(format!(
                    "electrum daemon exited ({status}): {}",
                    std::fs::read_to_string(dir.path().join("daemon.out")).unwrap_or_default()
                ));
            }
            if let Ok(info) = rpc.call("getinfo", json!({}), Duration::from_secs(5)) {
                if info["connected"] == json!(true) {
                    break;
                }
            }
            if Instant::now() > deadline {
                return Err("the Electrum daemon did not connect to ElectrumX in time".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        rpc.call("load_wallet", json!({}), CALL_TIMEOUT)
            .map_err(|e| err("load_wallet", &e))?;
        let id = rpc
            .call("nodeid", json!({}), CALL_TIMEOUT)
            .map_err(|e| err("nodeid", &e))?;
        let id = id.as_str().unwrap_or_default();
        let node_id = id
            .split('@')
            .next()
            .and_then(|hex| hex.parse::<PublicKey>().ok())
            .ok_or_else(|| format!("electrum: bad nodeid {id:?}"))?;
        Ok(ElectrumDaemon {
            child,
            dir,
            rpc,
            node_id,
            ln_addr,
        })
    }

    /// Calls a command; its error is Electrum's exception.
    pub fn try_call(&self, method: &str, params: Value) -> Result<Value, CallError> {
        self.rpc.call(method, params, CALL_TIMEOUT)
    }

    /// Calls a command that may take up to `timeout`.
    pub fn try_call_for(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        self.rpc.call(method, params, timeout)
    }

    /// Calls a command; panics (with Electrum's log tail) on an error.
    pub fn call(&self, method: &str, params: Value) -> Value {
        match self.try_call(method, params.clone()) {
            Ok(v) => v,
            Err(e) => panic!("electrum {method} {params}: {e}\n{}", self.log_tail(60)),
        }
    }

    /// The client, for calls made from another thread (`lnpay` blocks
    /// until the payment ends).
    pub fn client(&self) -> RpcClient {
        self.rpc.clone()
    }

    /// `<node_id>@127.0.0.1:<port>`.
    pub fn connect_string(&self) -> String {
        format!("{}@{}", self.node_id, self.ln_addr)
    }

    /// The last `lines` lines of Electrum's log file.
    pub fn log_tail(&self, lines: usize) -> String {
        let logs = self.dir.path().join("data/regtest/logs");
        let mut text = String::new();
        if let Ok(entries) = std::fs::read_dir(&logs) {
            let mut files: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            files.sort();
            if let Some(last) = files.last() {
                text = std::fs::read_to_string(last).unwrap_or_default();
            }
        }
        let out = std::fs::read_to_string(self.dir.path().join("daemon.out")).unwrap_or_default();
        let all: Vec<&str> = text.lines().chain(out.lines()).collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Electrum's whole log file.
    pub fn log(&self) -> String {
        self.log_tail(usize::MAX)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.0.try_wait(), Ok(None))
    }

    /// Where its data lives (kept while it runs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
