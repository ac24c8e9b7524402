//! The `electrum` adapter's mempool poll (`mempool_transactions`): against
//! a real ElectrumX indexing `simchain` (skipped, with a message, when
//! ElectrumX is not installed, unless `LN_TEST_REQUIRE_ALL` is set), and
//! against a small fake Electrum server in this file that lies about a
//! transaction and holds more unconfirmed entries than one poll fetches.
#![cfg(feature = "electrum")]
#![allow(clippy::unwrap_used)] // test helpers

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hashes::Hash;
use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, TxIn, TxOut, Txid};
use lightning_chain::electrum::ElectrumSource;
use lightning_chain::{FeeConfig, LightBackend, MempoolPoll, DEFAULT_MEMPOOL_FETCH_LIMIT};
use lightning_sim::{SimChainHandle, SimWallet};
use lightning_simchain::electrumx::ElectrumX;
use lightning_simchain::{Credentials, RpcServer};
use serde_json::{json, Value};

fn txids(txs: &[Transaction]) -> Vec<Txid> {
    let mut v: Vec<Txid> = txs.iter().map(Transaction::compute_txid).collect();
    v.sort();
    v
}

/// Polls until something is reported (ElectrumX refreshes its mempool from
/// the daemon every 100 ms), at most `timeout`.
fn poll_until_some(
    source: &ElectrumSource,
    scripts: &[ScriptBuf],
    poll: &mut MempoolPoll,
    timeout: Duration,
) -> Vec<Transaction> {
    let deadline = Instant::now() + timeout;
    loop {
        let got = source.mempool_transactions(scripts, poll).unwrap();
        if !got.is_empty() || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn electrumx_reports_unconfirmed_transactions_of_watched_scripts_once() {
    let Some(program) =
        ElectrumX::locate("electrumx_reports_unconfirmed_transactions_of_watched_scripts_once")
    else {
        return;
    };
    let chain = SimChainHandle::new();
    chain.with(|c| c.use_wall_clock(true));
    let alice = SimWallet::from_seed([11; 32], chain.clone());
    let bob = SimWallet::from_seed([12; 32], chain.clone());
    let carol = SimWallet::from_seed([13; 32], chain.clone());
    chain.mine_blocks(110, &alice.script_pubkey());
    let daemon =
        RpcServer::start(chain.clone(), Credentials::new("u", "p"), "127.0.0.1:0").unwrap();
    let mut electrumx = ElectrumX::start(&program, &daemon).unwrap();
    let source = ElectrumSource::new(
        &electrumx.url(),
        Duration::from_secs(10),
        FeeConfig::default(),
    )
    .unwrap();

    // Nothing unconfirmed yet: the confirmed coinbases paying Alice are
    // history, not mempool sightings.
    let mut poll = MempoolPoll::default();
    let both = [bob.script_pubkey(), alice.script_pubkey()];
    assert!(source
        .mempool_transactions(&both, &mut poll)
        .unwrap()
        .is_empty());

    // A payment to Bob's (watched) script, in the simulated chain's
    // mempool only; ElectrumX learns it from the daemon's getrawmempool.
    let to_bob = alice
        .fund(Amount::from_sat(60_000), &bob.script_pubkey())
        .unwrap();
    chain.submit_transaction(to_bob.clone()).unwrap();
    let bob_only = [bob.script_pubkey()];
    let seen = poll_until_some(&source, &bob_only, &mut poll, Duration::from_secs(20));
    assert_eq!(seen, vec![to_bob.clone()], "{}", electrumx.log());
    // Reported once: later polls (ElectrumX has refreshed in between)
    // report nothing new.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(250));
        assert!(source
            .mempool_transactions(&bob_only, &mut poll)
            .unwrap()
            .is_empty());
    }

    // A spend of Alice's (watched) script paying Carol (not watched).
    // Watching both scripts: only it is new (`to_bob`, in both histories,
    // was reported already).
    let from_alice = alice
        .fund(Amount::from_sat(40_000), &carol.script_pubkey())
        .unwrap();
    chain.submit_transaction(from_alice.clone()).unwrap();
    let seen = poll_until_some(&source, &both, &mut poll, Duration::from_secs(20));
    assert_eq!(seen, vec![from_alice.clone()]);
    std::thread::sleep(Duration::from_millis(250));
    assert!(source
        .mempool_transactions(&both, &mut poll)
        .unwrap()
        .is_empty());

    // A new poll sees both; filtered by an outpoint only `from_alice`
    // spends, only it.
    let mut fresh = MempoolPoll::default();
    let all = source.mempool_transactions(&both, &mut fresh).unwrap();
    assert_eq!(txids(&all), txids(&[to_bob.clone(), from_alice.clone()]));
    let mut filtered = MempoolPoll::default();
    filtered.watch_outpoints([from_alice.input[0].previous_output]);
    assert_eq!(
        source.mempool_transactions(&both, &mut filtered).unwrap(),
        vec![from_alice.clone()]
    );

    // Mined: both are confirmed history now, no longer mempool sightings,
    // even for a poll that never reported them.
    chain.mine_blocks(1, &alice.script_pubkey());
    electrumx
        .wait_for_height(chain.best_block().height, Duration::from_secs(30))
        .unwrap();
    let confirmed = source.script_history(&bob.script_pubkey()).unwrap();
    assert_eq!(confirmed, vec![(to_bob.compute_txid(), 111)]);
    // (ElectrumX drops mined transactions from its mempool on its next
    // refresh, within a few hundred milliseconds of indexing the block.)
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut never_reported = MempoolPoll::default();
        let left = source
            .mempool_transactions(&both, &mut never_reported)
            .unwrap();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "mined transactions still reported: {:?}",
            txids(&left)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(200));
        let mut never_reported = MempoolPoll::default();
        assert!(source
            .mempool_transactions(&both, &mut never_reported)
            .unwrap()
            .is_empty());
        assert!(source
            .mempool_transactions(&both, &mut poll)
            .unwrap()
            .is_empty());
    }
    assert!(chain.rejections().is_empty());
}

/// What the fake server answers.
struct Fake {
    /// Every script's history: `(txid, height)`.
    history: Vec<(Txid, i32)>,
    /// `blockchain.transaction.get` answers, by txid asked.
    txs: HashMap<Txid, Transaction>,
    /// How many `blockchain.transaction.get` requests it answered.
    tx_gets: AtomicUsize,
}

impl Fake {
    fn answer(&self, request: &Value) -> Value {
        let id = request["id"].clone();
        let params = &request["params"];
        let result = match request["method"].as_str().unwrap_or("") {
            "server.version" => json!(["fake", "1.4"]),
            "server.ping" => Value::Null,
            "blockchain.scripthash.get_history" => Value::Array(
                self.history
                    .iter()
                    .map(|(txid, height)| json!({"tx_hash": txid.to_string(), "height": height}))
                    .collect(),
            ),
            "blockchain.transaction.get" => {
                self.tx_gets.fetch_add(1, Ordering::SeqCst);
                let txid: Txid = params[0].as_str().unwrap().parse().unwrap();
                match self.txs.get(&txid) {
                    Some(tx) => json!(serialize_hex(tx)),
                    None => {
                        return json!({"jsonrpc": "2.0", "id": id,
                            "error": {"code": 2, "message": "no such transaction"}})
                    }
                }
            }
            other => {
                return json!({"jsonrpc": "2.0", "id": id,
                    "error": {"code": -32601, "message": format!("unknown method {other}")}})
            }
        };
        json!({"jsonrpc": "2.0", "id": id, "result": result})
    }

    /// Serves the Electrum line protocol (one JSON request, or a JSON
    /// array of them, per line) on a loopback port, one connection at a
    /// time, until the process ends.
    fn serve(self: Arc<Self>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("tcp://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let fake = Arc::clone(&self);
                std::thread::spawn(move || fake.connection(stream));
            }
        });
        url
    }

    fn connection(&self, stream: TcpStream) {
        let Ok(mut writer) = stream.try_clone() else {
            return;
        };
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            let Ok(request) = serde_json::from_str::<Value>(&line) else {
                return;
            };
            let reply = match &request {
                Value::Array(batch) => Value::Array(batch.iter().map(|r| self.answer(r)).collect()),
                one => self.answer(one),
            };
            if writer.write_all(format!("{reply}\n").as_bytes()).is_err() {
                return;
            }
        }
    }
}

/// A distinct transaction for each `n`.
fn transaction(n: u32) -> Transaction {
    let mut prev = [0u8; 32];
    prev[..4].copy_from_slice(&n.to_le_bytes());
    Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(Txid::from_byte_array(prev), n),
            ..Default::default()
        }],
        output: vec![TxOut {
            value: Amount::from_sat(10_000 + u64::from(n)),
            script_pubkey: ScriptBuf::new_op_return([7u8; 4]),
        }],
    }
}

#[test]
fn electrum_mempool_poll_rejects_lies_and_fetches_at_most_the_limit() {
    // 600 honest unconfirmed entries (height 0, every tenth -1: an
    // unconfirmed parent), one confirmed entry, and first of all a txid
    // the server answers with another transaction.
    let honest: Vec<Transaction> = (0..600).map(transaction).collect();
    let confirmed = transaction(1_000);
    let lie_asked = transaction(2_000).compute_txid();
    let lie_given = transaction(2_001);
    let mut history = vec![(lie_asked, 0), (confirmed.compute_txid(), 120)];
    history.extend(
        honest
            .iter()
            .enumerate()
            .map(|(i, tx)| (tx.compute_txid(), if i % 10 == 9 { -1 } else { 0 })),
    );
    let mut txs: HashMap<Txid, Transaction> = honest
        .iter()
        .chain([&confirmed])
        .map(|tx| (tx.compute_txid(), tx.clone()))
        .collect();
    txs.insert(lie_asked, lie_given.clone());
    let fake = Arc::new(Fake {
        history,
        txs,
        tx_gets: AtomicUsize::new(0),
    });
    let url = Arc::clone(&fake).serve();
    let source = ElectrumSource::new(&url, Duration::from_secs(10), FeeConfig::default()).unwrap();
    let scripts = [ScriptBuf::new_op_return([1u8; 4])];

    // First poll: 500 fetched (the lie and 499 honest ones); the lie is
    // dropped, neither the transaction given nor the one asked reported.
    let mut poll = MempoolPoll::default();
    assert_eq!(poll.limit(), DEFAULT_MEMPOOL_FETCH_LIMIT);
    let first = source.mempool_transactions(&scripts, &mut poll).unwrap();
    assert_eq!(fake.tx_gets.load(Ordering::SeqCst), 500);
    assert_eq!(first.len(), 499);
    assert!(first.iter().all(|tx| *tx != lie_given));
    assert!(
        first == honest[..499],
        "first poll: not the first 499 honest ones"
    );
    // Second: the other 101 (the lie is not asked again); then nothing,
    // and nothing fetched.
    let second = source.mempool_transactions(&scripts, &mut poll).unwrap();
    assert_eq!(fake.tx_gets.load(Ordering::SeqCst), 601);
    assert!(
        second == honest[499..],
        "second poll: {} reported",
        second.len()
    );
    assert!(source
        .mempool_transactions(&scripts, &mut poll)
        .unwrap()
        .is_empty());
    assert_eq!(fake.tx_gets.load(Ordering::SeqCst), 601);
    // The confirmed entry was never fetched, never reported.
    assert!(!first
        .iter()
        .chain(&second)
        .any(|tx| *tx == confirmed || *tx == lie_given));
}
