//! The `lnnode` program: `create` shows 24 words once, `unlock` with the
//! wrong password is refused, a second instance on the same data directory
//! is refused, and `stop` over the RPC ends the process cleanly, after
//! which the data directory can be used again.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lightning_sim::SimChainHandle;
use lightning_simchain::{Credentials, RpcServer as ChainServer};
use serde_json::json;
use support::raw_call;

const LNNODE: &str = env!("CARGO_BIN_EXE_lnnode");

fn lnnode(dir: &Path, chain: &ChainServer, args: &[&str], password: &str) -> Child {
    let url = chain.url();
    let source = [
        "--bitcoind-url",
        url.as_str(),
        "--bitcoind-user",
        "u",
        "--bitcoind-password",
        "p",
    ];
    lnnode_on(dir, &source, args, password)
}

/// `lnnode` with the chain source flags `source`.
fn lnnode_on(dir: &Path, source: &[&str], args: &[&str], password: &str) -> Child {
    let mut child = Command::new(LNNODE)
        .args(args)
        .arg("--datadir")
        .arg(dir)
        .args(source)
        .args(["--listen", "127.0.0.1:0", "--sync-interval-ms", "100"])
        .env_remove("LNNODE_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{password}").unwrap();
    child
}

fn wait_exit(child: &mut Child) -> (i32, String, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            let mut err = String::new();
            use std::io::Read;
            if let Some(mut o) = child.stdout.take() {
                o.read_to_string(&mut out).unwrap();
            }
            if let Some(mut e) = child.stderr.take() {
                e.read_to_string(&mut err).unwrap();
            }
            return (status.code().unwrap_or(-1), out, err);
        }
        assert!(Instant::now() < deadline, "lnnode did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn create_unlock_single_instance_stop() {
    let chain = ChainServer::start(
        SimChainHandle::new(),
        Credentials::new("u", "p"),
        "127.0.0.1:0",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();

    let mut create = lnnode(dir.path(), &chain, &["create"], "correct horse");
    let (code, out, err) = wait_exit(&mut create);
    assert_eq!(code, 0, "{err}");
    let words = out.lines().nth(1).unwrap();
    assert_eq!(words.split_whitespace().count(), 24, "{out}");
    assert!(bip39_words_ok(words));
    // The seed file holds no words in the clear.
    let file = std::fs::read_to_string(dir.path().join("seed.json")).unwrap();
    assert!(file.contains("argon2id"));
    assert!(!file.contains(words));

    // A second create over it is refused.
    let mut again = lnnode(dir.path(), &chain, &["create"], "x");
    let (code, _, err) = wait_exit(&mut again);
    assert_ne!(code, 0);
    assert!(err.contains("already exists"), "{err}");

    // Wrong password.
    let mut wrong = lnnode(dir.path(), &chain, &["unlock"], "wrong");
    let (code, _, err) = wait_exit(&mut wrong);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("wrong password"), "{err}");

    // The right one: it runs.
    let mut node = lnnode(dir.path(), &chain, &["unlock"], "correct horse");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let ready = lines.next().unwrap().unwrap();
    assert!(ready.starts_with("lnnode ready id="), "{ready}");
    let socket = dir.path().join("lightning-rpc");
    let info = raw_call(&socket, "getinfo", json!([]));
    let id = info["result"]["id"].as_str().unwrap().to_owned();
    assert!(ready.contains(&id));

    // A second instance on the same data directory is refused.
    let mut second = lnnode(dir.path(), &chain, &["unlock"], "correct horse");
    let (code, _, err) = wait_exit(&mut second);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("already running"), "{err}");
    // The first still serves.
    assert_eq!(raw_call(&socket, "getinfo", json!([]))["result"]["id"], id);

    // An invoice made before stopping is there after a restart.
    let inv = raw_call(&socket, "invoice", json!([1000, "keep", "kept"]));
    assert!(inv["result"]["bolt11"].is_string(), "{inv}");
    let stop = raw_call(&socket, "stop", json!([]));
    assert_eq!(stop["result"], "Shutdown complete");
    let (code, _, err) = wait_exit(&mut node);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("stopped"), "{err}");
    assert!(!socket.exists(), "the socket file is removed");

    // Restarted with the RPC over TCP too: the token file is made (mode
    // 0600), and `stop` over HTTP stops it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tcp = format!("127.0.0.1:{port}");
    let mut node = lnnode(
        dir.path(),
        &chain,
        &["unlock", "--rpc-tcp", &tcp],
        "correct horse",
    );
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let ready = lines.next().unwrap().unwrap();
    assert!(ready.contains(&id), "same node after restart: {ready}");
    let listed = raw_call(&socket, "listinvoices", json!(["keep"]));
    assert_eq!(listed["result"]["invoices"][0]["description"], "kept");
    let token_file = dir.path().join("rpc-token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert_eq!(token.len(), 64);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let http = |method: &str| -> String {
        use std::io::{Read, Write};
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}).to_string();
        let mut s = std::net::TcpStream::connect(&tcp).unwrap();
        write!(
            s,
            "POST / HTTP/1.1\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    assert!(http("getinfo").contains(&id));
    assert!(http("stop").contains("Shutdown complete"));
    let (code, _, err) = wait_exit(&mut node);
    assert_eq!(code, 0, "{err}");
}

fn bip39_words_ok(words: &str) -> bool {
    bip39::Mnemonic::parse(words).is_ok()
}

/// `--esplora`: the daemon follows the chain as a light client of an
/// Esplora API; two chain sources at once are refused.
#[test]
fn a_daemon_over_esplora() {
    let chain = SimChainHandle::new();
    chain.mine_blocks(7, &bitcoin::ScriptBuf::new_op_return([0u8; 4]));
    let esplora =
        lightning_simchain::esplora::EsploraServer::start(chain.clone(), "127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = esplora.url();
    let mut create = lnnode_on(dir.path(), &[], &["create"], "pw");
    assert_eq!(wait_exit(&mut create).0, 0);
    let mut both = lnnode_on(
        dir.path(),
        &["--esplora", &url, "--bitcoind-url", "http://127.0.0.1:1/"],
        &["unlock"],
        "pw",
    );
    let (code, _, err) = wait_exit(&mut both);
    assert_ne!(code, 0);
    assert!(err.contains("one chain source"), "{err}");
    let mut node = lnnode_on(dir.path(), &["--esplora", &url], &["unlock"], "pw");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    assert!(lines.next().unwrap().unwrap().starts_with("lnnode ready"));
    let socket = dir.path().join("lightning-rpc");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = raw_call(&socket, "getinfo", json!([]));
        if info["result"]["blockheight"] == 7 {
            break;
        }
        assert!(Instant::now() < deadline, "{info}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = raw_call(&socket, "stop", json!([]));
    assert_eq!(wait_exit(&mut node).0, 0);
}
