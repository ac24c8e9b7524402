//! Running a real ElectrumX against an [`RpcServer`], for tests.
//!
//! CI (`.ci/run`) installs ElectrumX 2.0 (PyPI `e-x`, with `plyvel` for
//! LevelDB) in its virtualenv and sets `LN_TEST_ELECTRUMX` to the
//! `electrumx_server` script. [`ElectrumX::start`] runs it on a free
//! loopback port with a temporary database directory and waits until it
//! has indexed the chain.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{RpcServer, State};

/// The environment variable naming the `electrumx_server` program.
pub const ENV: &str = "LN_TEST_ELECTRUMX";

/// A running ElectrumX; killed, and its database removed, when dropped.
#[derive(Debug)]
pub struct ElectrumX {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
    /// The daemon's state, for its call log in the error of a stalled wait.
    daemon: Arc<State>,
}

/// Why ElectrumX could not be started.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

impl ElectrumX {
    /// The program `LN_TEST_ELECTRUMX` names, if it exists. When it does
    /// not: `None` after `SKIP:` on stderr (the test returns), or a panic
    /// under `LN_TEST_REQUIRE_ALL=1` (CI must run it); the rule of
    /// `lightning_test_support::external`.
    pub fn locate(test: &str) -> Option<PathBuf> {
        let program = lightning_test_support::external::env_or_skip(
            test,
            ENV,
            "point it at electrumx_server; .ci/run installs e-x 2.0 in .ci/.venv",
        )?;
        let path = PathBuf::from(program);
        if path.is_file() {
            Some(path)
        } else {
            lightning_test_support::external::skip(format!(
                "{test}: {ENV}={} is not a file",
                path.display()
            ));
            None
        }
    }

    /// Starts `program` against `daemon` and waits (up to a minute) until
    /// it serves the Electrum protocol with `daemon`'s tip.
    pub fn start(program: &std::path::Path, daemon: &RpcServer) -> Result<Self, StartError> {
        let err = |what: &str, e: &dyn std::fmt::Display| StartError(format!("{what}: {e}"));
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| err("no free port", &e))?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let dir = std::env::temp_dir().join(format!("ln-electrumx-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| err("temp dir", &e))?;
        let log = std::fs::File::create(dir.join("electrumx.log")).map_err(|e| err("log", &e))?;
        let log2 = log.try_clone().map_err(|e| err("log", &e))?;
        let child = Command::new(program)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("COIN", "Bitcoin")
            .env("NET", "regtest")
            .env("DB_ENGINE", "leveldb")
            .env("DB_DIRECTORY", &dir)
            .env("DAEMON_URL", daemon.url_with_auth())
            .env("SERVICES", format!("tcp://{addr}"))
            .env("ALLOW_ROOT", "1")
            .env("PEER_DISCOVERY", "off")
            .env("PEER_ANNOUNCE", "")
            .env("DAEMON_POLL_INTERVAL_BLOCKS", "100")
            .env("DAEMON_POLL_INTERVAL_MEMPOOL", "100")
            .env("COST_SOFT_LIMIT", "0")
            .env("COST_HARD_LIMIT", "0")
            .env("REQUEST_SLEEP", "0")
            // Info: its sync and mempool progress, which the error of a
            // stalled wait shows (warnings alone showed nothing when it
            // once stalled in CI).
            .env("LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| err("spawn electrumx_server", &e))?;
        let mut server = ElectrumX {
            child,
            addr,
            dir,
            daemon: Arc::clone(&daemon.state),
        };
        let want = daemon.chain().best_block().height;
        server.wait_for_height(want, Duration::from_secs(60))?;
        Ok(server)
    }

    /// Where it serves the Electrum protocol.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `tcp://127.0.0.1:PORT`, as `electrum-client` takes it.
    pub fn url(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("electrumx.log")).unwrap_or_default()
    }

    /// The last 16 KiB of its log (at info level it logs its progress),
    /// without its line per client connection (a stalled wait once showed
    /// nothing but the waiter's own 2,300 polls).
    pub fn log_tail(&self) -> String {
        let log: String = self
            .log()
            .lines()
            .filter(|l| !(l.starts_with("INFO:ElectrumX:[") && l.ends_with(" total")))
            .flat_map(|l| [l, "\n"])
            .collect();
        let mut from = log.len().saturating_sub(16 * 1024);
        while !log.is_char_boundary(from) {
            from += 1;
        }
        log[from..].to_owned()
    }

    /// Waits until ElectrumX reports a tip at `height` (it polls the daemon
    /// every 100 ms).
    pub fn wait_for_height(&mut self, height: u32, timeout: Duration) -> Result<(), StartError> {
        let deadline = Instant::now() + timeout;
        // What the last poll saw, for the error: a tip that stopped short,
        // or why no tip was read (not serving yet, a reply it could not
        // parse).
        let mut last: String;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(StartError(format!(
                    "electrumx_server exited ({status}):\n{}",
                    self.log()
                )));
            }
            match self.tip_height() {
                Ok(tip) if tip == u64::from(height) => return Ok(()),
                Ok(tip) => last = format!("its tip was {tip}"),
                Err(e) => last = format!("asking its tip failed: {e}"),
            }
            if Instant::now() > deadline {
                // The whole log outlives the test's temporary directory.
                let kept = self.dir.with_extension("failed.log");
                let kept = match std::fs::write(&kept, self.log()) {
                    Ok(()) => format!("whole log kept at {}", kept.display()),
                    Err(e) => format!("could not keep the whole log: {e}"),
                };
                return Err(StartError(format!(
                    "ElectrumX did not reach height {height} in {timeout:?} ({last}; {kept}); its log's end, without its per-connection lines:\n{}\n{}",
                    self.log_tail(),
                    self.daemon.call_log_tail(20)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn tip_height(&self) -> std::io::Result<u64> {
        let stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut writer = stream.try_clone()?;
        let mut reader = BufReader::new(stream);
        let mut ask = |id: u32, method: &str, params: Value| -> std::io::Result<Value> {
            let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
            writer.write_all(format!("{line}\n").as_bytes())?;
            let mut reply = String::new();
            reader.read_line(&mut reply)?;
            serde_json::from_str(&reply).map_err(std::io::Error::other)
        };
        ask(0, "server.version", json!(["lightning-simchain", "1.4"]))?;
        let tip = ask(1, "blockchain.headers.subscribe", json!([]))?;
        tip["result"]["height"]
            .as_u64()
            .ok_or_else(|| std::io::Error::other(format!("no height in {tip}")))
    }
}

impl Drop for ElectrumX {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
