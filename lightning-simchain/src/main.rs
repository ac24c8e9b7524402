//! `simchain`: the simulated chain over a bitcoind-compatible JSON-RPC.
//!
//! ```text
//! simchain [--rpcbind 127.0.0.1:18443] [--rpcuser U --rpcpassword P | --datadir DIR]
//!          [--blocks N] [--fee-rate SAT_PER_KVB|none] [--deterministic-time]
//!          [--esplora-bind 127.0.0.1:3002] [--rest]
//! ```
//!
//! Without `--rpcuser`, it writes a cookie to `DIR/regtest/.cookie` as
//! Bitcoin Core does (DIR defaults to the current directory). Block
//! timestamps follow the wall clock unless `--deterministic-time`. It prints
//! `simchain listening on ADDR` (and `esplora listening on URL` with
//! `--esplora-bind`, the Esplora HTTP API subset) once ready, and serves
//! until its standard input closes (so that it dies with the process that
//! started it) or it is killed. `--rest` serves Core's REST subset
//! (`/rest/block/<hash>.bin` and kin) on the RPC port, as Core's `-rest`.

use std::io::{Read, Write};
use std::path::PathBuf;

use bitcoin::ScriptBuf;
use lightning_sim::SimChainHandle;
use lightning_simchain::{Credentials, RpcServer};

fn usage(error: &str) -> ! {
    eprintln!("simchain: {error}");
    eprintln!(
        "usage: simchain [--rpcbind ADDR] [--rpcuser U --rpcpassword P | --datadir DIR] \
         [--blocks N] [--fee-rate SAT_PER_KVB|none] [--deterministic-time] \
         [--esplora-bind ADDR] [--rest]"
    );
    std::process::exit(2)
}

fn main() {
    let mut bind = "127.0.0.1:18443".to_owned();
    let mut user = None;
    let mut password = None;
    let mut datadir = PathBuf::from(".");
    let mut blocks = 0usize;
    let mut fee_rate = Some(RpcServer::DEFAULT_FEE_RATE_SAT_PER_KVB);
    let mut wall_clock = true;
    let mut esplora_bind = None;
    let mut rest = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--rpcbind" => bind = value(),
            "--rpcuser" => user = Some(value()),
            "--rpcpassword" => password = Some(value()),
            "--datadir" => datadir = PathBuf::from(value()),
            "--blocks" => blocks = value().parse().unwrap_or_else(|_| usage("bad --blocks")),
            "--fee-rate" => {
                let v = value();
                fee_rate = if v == "none" {
                    None
                } else {
                    Some(v.parse().unwrap_or_else(|_| usage("bad --fee-rate")))
                };
            }
            "--deterministic-time" => wall_clock = false,
            "--esplora-bind" => esplora_bind = Some(value()),
            "--rest" => rest = true,
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let credentials = match (user, password) {
        (Some(user), Some(password)) => Credentials::new(user, password),
        (None, None) => {
            let cookie = Credentials::random_cookie()
                .unwrap_or_else(|e| usage(&format!("cannot make a cookie: {e}")));
            let dir = datadir.join("regtest");
            if let Err(e) = std::fs::create_dir_all(&dir)
                .and_then(|()| cookie.write_cookie(&dir.join(".cookie")))
            {
                usage(&format!(
                    "cannot write the cookie in {}: {e}",
                    dir.display()
                ));
            }
            cookie
        }
        _ => usage("--rpcuser and --rpcpassword go together"),
    };

    let chain = SimChainHandle::new();
    chain.with(|c| c.use_wall_clock(wall_clock));
    // Initial blocks pay to OP_TRUE (anyone can spend it; tests that need
    // coins mine to their own addresses with `generatetoaddress`).
    chain.mine_blocks(blocks, &ScriptBuf::from_bytes(vec![0x51]));

    let esplora = esplora_bind.map(|addr| {
        let server =
            lightning_simchain::esplora::EsploraServer::start(chain.clone(), addr.as_str())
                .unwrap_or_else(|e| usage(&format!("cannot listen on {addr}: {e}")));
        println!("esplora listening on {}", server.url());
        server
    });
    let server = RpcServer::start(chain, credentials, bind.as_str())
        .unwrap_or_else(|e| usage(&format!("cannot listen on {bind}: {e}")));
    server.set_fee_rate(fee_rate);
    server.set_rest(rest);
    println!("simchain listening on {}", server.addr());
    let _ = std::io::stdout().flush();

    // Serve until standard input closes.
    let mut sink = [0u8; 64];
    let mut stdin = std::io::stdin();
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
    drop(server);
    drop(esplora);
}
