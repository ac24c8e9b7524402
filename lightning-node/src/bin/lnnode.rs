//! `lnnode`: the Lightning node daemon.
//!
//! ```text
//! lnnode create --datadir DIR [--password-file F]   new seed, shown once as 24 words
//! lnnode [unlock] --datadir DIR [--password-file F] [flags]   run the node
//! ```
//!
//! The password comes from `--password-file`, else `LNNODE_PASSWORD`, else
//! the first line of standard input. Settings come from
//! `DIR/lnnode.toml` (or `--config`), overridden by flags (see
//! `lightning_node::config`). The node serves a Core Lightning-compatible
//! JSON-RPC on `DIR/lightning-rpc` (mode 0600) and stops on its `stop`
//! method, SIGINT or SIGTERM, after finishing its writes.
//!
//! Exit codes: 0 stopped cleanly; 1 bad usage or configuration; 2 wrong
//! password or no seed; 3 another instance holds the data directory; 4 a
//! failure while starting.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lightning_chain::bitcoind::BitcoindAuth;
use lightning_node::config::{BitcoindSection, Config};
use lightning_node::log::{self, Level};
use lightning_node::rpc::RpcServer;
use lightning_node::{seed, BuildError, Builder, ChainConfig, StoreConfig};

const USAGE: &str = "usage: lnnode [create|unlock] --datadir DIR [--config FILE] \
[--password-file FILE] [--network NET] [--listen ADDR] [--alias NAME] [--rpc-file PATH] \
[--log-level LEVEL] [--store fs|sqlite|postgres] [--postgres-url URL] \
[--bitcoind-url URL] [--bitcoind-user U] [--bitcoind-password P] [--bitcoind-cookie FILE] \
[--bitcoind-rest true|false] \
[--electrum tcp://HOST:PORT | ssl://HOST:PORT] [--esplora URL] \
[--sync-interval-ms N] [--watchtower-server true|false] [--watchtower ID@HOST:PORT]... [--accept-keysend true|false] \
[--rpc-tcp ADDR] [--rpc-token-file PATH]";

fn fail(code: i32, msg: &str) -> ! {
    eprintln!("lnnode: {msg}");
    std::process::exit(code)
}

struct Args {
    command: String,
    datadir: Option<PathBuf>,
    config_file: Option<PathBuf>,
    password_file: Option<PathBuf>,
    flags: Config,
}

fn parse_args() -> Args {
    let mut args = std::env::args().skip(1).peekable();
    let command = match args.peek().map(String::as_str) {
        Some("create") | Some("unlock") | Some("run") => args.next().unwrap_or_default(),
        _ => "unlock".to_owned(),
    };
    let mut out = Args {
        command,
        datadir: None,
        config_file: None,
        password_file: None,
        flags: Config::default(),
    };
    let mut bitcoind = BitcoindSection::default();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        if name == "-h" || name == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = inline
            .or_else(|| args.next())
            .unwrap_or_else(|| fail(1, &format!("{name} needs a value\n{USAGE}")));
        match name.as_str() {
            "--datadir" | "--lightning-dir" => out.datadir = Some(value.into()),
            "--config" => out.config_file = Some(value.into()),
            "--password-file" => out.password_file = Some(value.into()),
            "--network" => out.flags.network = Some(value),
            "--listen" | "--addr" => out.flags.listen = Some(value),
            "--alias" => out.flags.alias = Some(value),
            "--rpc-file" => out.flags.rpc_file = Some(value.into()),
            "--log-level" => out.flags.log_level = Some(value),
            "--store" => out.flags.store = Some(value),
            "--postgres-url" => out.flags.postgres_url = Some(value),
            "--sync-interval-ms" => {
                out.flags.sync_interval_ms = Some(
                    value
                        .parse()
                        .unwrap_or_else(|_| fail(1, "bad --sync-interval-ms")),
                )
            }
            "--watchtower-server" => {
                out.flags.watchtower_server = Some(
                    value
                        .parse()
                        .unwrap_or_else(|_| fail(1, "bad --watchtower-server (true or false)")),
                )
            }
            "--rpc-tcp" => out.flags.rpc_tcp = Some(value),
            "--rpc-token-file" => out.flags.rpc_token_file = Some(PathBuf::from(value)),
            "--accept-keysend" => {
                out.flags.accept_keysend = Some(
                    value
                        .parse()
                        .unwrap_or_else(|_| fail(1, "bad --accept-keysend (true or false)")),
                )
            }
            "--watchtower" => out
                .flags
                .watchtowers
                .get_or_insert_with(Vec::new)
                .push(value),
            "--bitcoind-url" => bitcoind.url = Some(value),
            "--electrum" => out.flags.electrum = Some(value),
            "--esplora" => out.flags.esplora = Some(value),
            "--bitcoind-user" => bitcoind.user = Some(value),
            "--bitcoind-password" => bitcoind.password = Some(value),
            "--bitcoind-cookie" => bitcoind.cookie = Some(value.into()),
            "--bitcoind-rest" => {
                bitcoind.rest = Some(
                    value
                        .parse()
                        .unwrap_or_else(|_| fail(1, "bad --bitcoind-rest (true or false)")),
                )
            }
            other => fail(1, &format!("unknown argument {other}\n{USAGE}")),
        }
    }
    out.flags.bitcoind = bitcoind;
    out
}

fn read_password(file: Option<&PathBuf>) -> String {
    if let Some(f) = file {
        let s = std::fs::read_to_string(f)
            .unwrap_or_else(|e| fail(1, &format!("password file {}: {e}", f.display())));
        return s.trim_end_matches(['\r', '\n']).to_owned();
    }
    if let Ok(p) = std::env::var("LNNODE_PASSWORD") {
        return p;
    }
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        fail(1, "cannot read the password from standard input");
    }
    line.trim_end_matches(['\r', '\n']).to_owned()
}

fn main() {
    let args = parse_args();
    let datadir = args
        .datadir
        .clone()
        .unwrap_or_else(|| fail(1, &format!("--datadir is required\n{USAGE}")));
    let config_path = args
        .config_file
        .clone()
        .unwrap_or_else(|| datadir.join("lnnode.toml"));
    let file = match std::fs::read_to_string(&config_path) {
        Ok(text) => Config::parse(&text)
            .unwrap_or_else(|e| fail(1, &format!("{}: {e}", config_path.display()))),
        Err(_) if args.config_file.is_none() => Config::default(),
        Err(e) => fail(1, &format!("{}: {e}", config_path.display())),
    };
    let config = file.overridden_by(args.flags.clone());
    if let Some(l) = &config.log_level {
        log::set_level(l.parse::<Level>().unwrap_or_else(|e| fail(1, &e)));
    }
    let password = read_password(args.password_file.as_ref());
    if args.command == "create" {
        if password.is_empty() {
            fail(1, "the password is empty");
        }
        match seed::create(&datadir, &password) {
            Ok((mnemonic, _)) => {
                println!("Your seed (24 words). Write it down: it is shown only this once.");
                println!("{mnemonic}");
                return;
            }
            Err(e) => fail(1, &e.to_string()),
        }
    }
    let seed = match seed::unlock(&datadir, &password) {
        Ok(s) => s,
        Err(e @ (seed::SeedError::WrongPassword | seed::SeedError::Missing(_))) => {
            fail(2, &e.to_string())
        }
        Err(e) => fail(4, &e.to_string()),
    };
    run(&datadir, &config, seed);
}

fn run(datadir: &std::path::Path, config: &Config, seed: [u8; 32]) {
    let network = config.network().unwrap_or_else(|e| fail(1, &e));
    // One chain source: an Electrum server, an Esplora API, or bitcoind.
    let chain = match (&config.electrum, &config.esplora, &config.bitcoind.url) {
        (Some(url), None, None) => ChainConfig::Electrum { url: url.clone() },
        (None, Some(url), None) => ChainConfig::Esplora { url: url.clone() },
        (None, None, Some(url)) => {
            let auth = match (
                &config.bitcoind.user,
                &config.bitcoind.password,
                &config.bitcoind.cookie,
            ) {
                (Some(u), Some(p), _) => BitcoindAuth::UserPass(u.clone(), p.clone()),
                (_, _, Some(c)) => BitcoindAuth::CookieFile(c.clone()),
                _ => fail(1, "bitcoind: give user and password, or a cookie file"),
            };
            ChainConfig::Bitcoind {
                url: url.clone(),
                auth,
                rest: config.bitcoind.rest.unwrap_or(false),
            }
        }
        (None, None, None) => fail(
            1,
            "no chain source: set [bitcoind] url (--bitcoind-url), electrum (--electrum) or esplora (--esplora)",
        ),
        _ => fail(1, "give one chain source: bitcoind, electrum or esplora"),
    };
    let store = match config.store.as_deref().unwrap_or("fs") {
        "fs" => StoreConfig::Fs,
        "sqlite" => StoreConfig::Sqlite,
        "postgres" => StoreConfig::Postgres {
            url: config
                .postgres_url
                .clone()
                .unwrap_or_else(|| fail(1, "store = postgres needs postgres_url")),
            store: "lnnode".into(),
        },
        other => fail(1, &format!("unknown store {other:?}")),
    };
    let mut builder = Builder::new(network)
        .data_dir(datadir)
        .seed(seed)
        .chain(chain)
        .store(store)
        .sync_interval(Duration::from_millis(
            config.sync_interval_ms.unwrap_or(1000),
        ));
    if let Some(l) = &config.listen {
        let addr = l
            .parse()
            .unwrap_or_else(|_| fail(1, &format!("bad listen address {l:?}")));
        builder = builder.listen(addr);
    }
    if let Some(a) = &config.alias {
        builder = builder.alias(a.clone());
    }
    // Watchtowers (issue 21): a client of each configured tower, and/or a
    // tower for any peer.
    let towers = config.watchtowers().unwrap_or_else(|e| fail(1, &e));
    let serve = config.watchtower_server.unwrap_or(false);
    let keysend = config.accept_keysend.unwrap_or(false);
    let history = config
        .forward_history_days
        .map(|d| std::time::Duration::from_secs(u64::from(d) * 86_400));
    if serve || !towers.is_empty() || keysend || history.is_some() {
        let mut nc = lightning_core::node::NodeConfig::new(network);
        nc.channel.announce_channel = true;
        nc.watchtower.towers = towers.iter().map(|(id, _)| *id).collect();
        nc.watchtower.server = serve.then(Default::default);
        nc.forwarding.accept_keysend = keysend;
        nc.forwarding.history_retention = history;
        builder = builder.node_config(nc);
    }
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e @ BuildError::Locked(_)) => fail(3, &e.to_string()),
        Err(e) => fail(4, &e.to_string()),
    };
    let rpc_path = {
        let p = config
            .rpc_file
            .clone()
            .unwrap_or_else(|| PathBuf::from("lightning-rpc"));
        if p.is_absolute() {
            p
        } else {
            datadir.join(p)
        }
    };
    let mut rpc = match RpcServer::start(rt.clone(), &rpc_path) {
        Ok(r) => r,
        Err(e) => {
            rt.stop();
            fail(4, &format!("rpc socket {}: {e}", rpc_path.display()))
        }
    };
    // The RPC over TCP, behind a bearer token read from (or first written
    // to, mode 0600) the token file.
    let mut http = config.rpc_tcp.as_ref().map(|a| {
        let addr: std::net::SocketAddr = a
            .parse()
            .unwrap_or_else(|_| fail(1, &format!("bad rpc_tcp address {a:?}")));
        let file = config
            .rpc_token_file
            .clone()
            .unwrap_or_else(|| PathBuf::from("rpc-token"));
        let file = if file.is_absolute() {
            file
        } else {
            datadir.join(file)
        };
        let token = read_or_create_token(&file)
            .unwrap_or_else(|e| fail(4, &format!("rpc token {}: {e}", file.display())));
        let server = lightning_node::rpc::HttpRpcServer::start(rt.clone(), addr, token)
            .unwrap_or_else(|e| fail(4, &format!("rpc on {addr}: {e}")));
        log::info(&format!(
            "rpc over http on {} (bearer token in {})",
            server.local_addr(),
            file.display()
        ));
        server
    });
    let signalled = Arc::new(AtomicBool::new(false));
    {
        let s = signalled.clone();
        let _ = ctrlc::set_handler(move || s.store(true, Ordering::SeqCst));
    }
    log::info(&format!(
        "node {} on {:?}, peers on {}, rpc on {}",
        rt.node_id(),
        network,
        rt.listen_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|| "(not listening)".into()),
        rpc_path.display()
    ));
    println!(
        "lnnode ready id={} listen={} rpc={}",
        rt.node_id(),
        rt.listen_addr().map(|a| a.to_string()).unwrap_or_default(),
        rpc_path.display()
    );
    let mut reported_sync = false;
    let mut tower_dial = std::time::Instant::now();
    while !rpc.stop_requested()
        && !http.as_ref().is_some_and(|h| h.stop_requested())
        && !signalled.load(Ordering::SeqCst)
    {
        std::thread::sleep(Duration::from_millis(50));
        // Towers are dialled again every 10 s while away: their updates
        // wait in the node's queue meanwhile.
        if !towers.is_empty() && std::time::Instant::now() >= tower_dial {
            tower_dial = std::time::Instant::now() + Duration::from_secs(10);
            for (id, addr) in &towers {
                if !rt.is_connected(id) {
                    if let Err(e) = rt.connect(*id, *addr, Duration::from_secs(5)) {
                        log::warn(&format!("watchtower {id}@{addr}: {e}"));
                    }
                }
            }
        }
        if !reported_sync {
            let st = rt.lock();
            if st.synced {
                log::info(&format!(
                    "initial chain sync done: height {}",
                    st.node.best_block().height
                ));
                reported_sync = true;
            }
        }
    }
    log::info("stopping: finishing in-flight work");
    // Let the `stop` reply reach its client.
    std::thread::sleep(Duration::from_millis(100));
    rpc.shutdown();
    if let Some(h) = &mut http {
        h.shutdown();
    }
    rt.stop();
    log::info("stopped");
}

/// The bearer token in `file`, or a fresh one written there (mode 0600).
fn read_or_create_token(file: &std::path::Path) -> std::io::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::read_to_string(file) {
        Ok(t) if !t.trim().is_empty() => return Ok(t.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let token = lightning_node::rpc::new_token()?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(file)?;
    std::io::Write::write_all(&mut f, token.as_bytes())?;
    f.sync_all()?;
    Ok(token)
}
