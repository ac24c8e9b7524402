//! The two-node walk-through: Alice and Bob, each in its own thread with a
//! small host loop, talk over TCP on 127.0.0.1; blocks come from a
//! simulated chain; each node persists to its own directory with
//! `FsStore`.
//!
//! Run it with `cargo run --release -p examples --bin demo`.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bitcoin::secp256k1::PublicKey;
use bitcoin::{Network, ScriptBuf, Transaction};
use lightning_chain::sim::{SimChainHandle, SimWallet};
use lightning_chain::{ChainListener, FeeRate, FixedFeeEstimator};
use lightning_core::node::{Event, Node, NodeConfig, NodeHost, Persistence};
use lightning_persist::FsStore;

/// What the demo ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    /// Capacity of the channel.
    pub funding_sat: u64,
    /// Alice's closing output.
    pub alice_sat: u64,
    /// Bob's closing output.
    pub bob_sat: u64,
    /// The closing transaction's fee.
    pub closing_fee_sat: u64,
    /// The closing transaction's weight (the fee is the feerate times it).
    pub closing_weight_wu: u64,
    /// Payments Alice made.
    pub payments: usize,
    /// Wall time.
    pub elapsed: Duration,
}

type Call = Box<dyn FnOnce(&mut Node) + Send>;

/// A node running its host loop in a thread.
struct Running {
    name: &'static str,
    node_id: PublicKey,
    shutdown_script: ScriptBuf,
    calls: Sender<Option<Call>>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl Running {
    /// Runs `f` on the node inside its thread and returns its result.
    fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Node) -> R + Send + 'static,
    ) -> Result<R, String> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.calls
            .send(Some(Box::new(move |n: &mut Node| {
                let _ = tx.send(f(n));
            })))
            .map_err(|_| format!("{} stopped", self.name))?;
        rx.recv_timeout(Duration::from_secs(30))
            .map_err(|_| format!("{} did not answer", self.name))
    }

    fn stop(mut self) -> Result<(), String> {
        let _ = self.calls.send(None);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(format!("{} panicked", self.name)),
            None => Ok(()),
        }
    }
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// The host loop: socket reads into `handle_bytes`, `poll_transmit` out to
/// the socket, timers, events to the main thread, calls from it.
fn host_loop(
    name: &'static str,
    mut node: Node,
    mut stream: TcpStream,
    outbound_to: Option<PublicKey>,
    calls: Receiver<Option<Call>>,
    events: Sender<(&'static str, Event)>,
) -> Result<(), String> {
    let err = |e: std::io::Error| format!("{name}: socket: {e}");
    stream.set_nodelay(true).map_err(err)?;
    stream
        .set_read_timeout(Some(Duration::from_millis(1)))
        .map_err(err)?;
    let peer = match outbound_to {
        Some(id) => {
            let (peer, act_one) = node.connect_outbound(id, now());
            stream.write_all(&act_one).map_err(err)?;
            peer
        }
        None => node.accept_inbound(now()),
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut connected = true;
    loop {
        loop {
            match calls.try_recv() {
                Ok(Some(call)) => call(&mut node),
                Ok(None) | Err(mpsc::TryRecvError::Disconnected) => return Ok(()),
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        if !connected {
            // The peer hung up (the demo is ending): keep serving calls.
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        match stream.read(&mut buf) {
            Ok(0) => {
                node.peer_disconnected(peer);
                connected = false;
                continue;
            }
            Ok(n) => {
                if let Err(e) = node.handle_bytes(peer, &buf[..n], now()) {
                    return Err(format!("{name}: {e}"));
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(err(e)),
        }
        node.handle_timeout(now());
        while let Some(bytes) = node.poll_transmit(peer) {
            stream.write_all(&bytes).map_err(err)?;
        }
        while let Some(event) = node.poll_event() {
            let _ = events.send((name, event));
        }
    }
}

fn start(
    name: &'static str,
    seed: u8,
    dir: &std::path::Path,
    chain: &SimChainHandle,
    stream: TcpStream,
    outbound_to: Option<PublicKey>,
    events: Sender<(&'static str, Event)>,
) -> Result<Running, String> {
    let store = FsStore::open(dir.join(name), name).map_err(|e| format!("{name}: {e}"))?;
    let host = NodeHost {
        broadcaster: Arc::new(chain.clone()),
        fee_estimator: Arc::new(FixedFeeEstimator::new(FeeRate::from_sat_per_kw(1000))),
    };
    let node = Node::new(
        &[seed; 32],
        NodeConfig::new(Network::Regtest),
        Persistence::Inline(Arc::new(store)),
        host,
        chain.best_block(),
    )
    .map_err(|e| format!("{name}: {e}"))?;
    let node_id = node.node_id();
    let shutdown_script = node.shutdown_script();
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || host_loop(name, node, stream, outbound_to, rx, events))
        .map_err(|e| e.to_string())?;
    Ok(Running {
        name,
        node_id,
        shutdown_script,
        calls: tx,
        thread: Some(thread),
    })
}

/// Events from both nodes, kept until a wait consumes them.
struct Events {
    rx: Receiver<(&'static str, Event)>,
    seen: Vec<(&'static str, Event)>,
}

impl Events {
    fn wait<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&'static str, &Event) -> Option<T>,
    ) -> Result<T, String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(i) = self.seen.iter().position(|(n, e)| pick(n, e).is_some()) {
                let (n, e) = self.seen.remove(i);
                return pick(n, &e).ok_or_else(|| "unreachable".to_string());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(ev) => self.seen.push(ev),
                Err(_) => return Err(format!("timed out waiting for {what}")),
            }
        }
    }
}

fn feed_blocks(
    chain: &SimChainHandle,
    nodes: &[&Running],
    from: u32,
    to: u32,
) -> Result<(), String> {
    for h in from..=to {
        let block = chain.block_at(h).ok_or("missing block")?;
        for n in nodes {
            let b = block.clone();
            n.call(move |node| node.block_connected(&b, h))?;
        }
    }
    Ok(())
}

/// Runs the walk-through; prints each step unless `quiet`.
pub fn run(quiet: bool) -> Result<DemoSummary, String> {
    let started = Instant::now();
    let say = |s: String| {
        if !quiet {
            println!("{s}");
        }
    };
    let dir = std::env::temp_dir().join(format!(
        "lightning-demo-{}-{}",
        std::process::id(),
        now().as_nanos()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;

    let chain = SimChainHandle::new();
    let alice_wallet = SimWallet::from_seed([0xa1; 32], chain.clone());
    chain.mine_blocks(101, &alice_wallet.script_pubkey());
    say(format!(
        "chain: mined 101 blocks to Alice's address; her spendable balance is {} sat",
        alice_wallet.spendable_balance().to_sat()
    ));

    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (ev_tx, ev_rx) = mpsc::channel();
    let mut events = Events {
        rx: ev_rx,
        seen: Vec::new(),
    };
    let alice_stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    let (bob_stream, _) = listener.accept().map_err(|e| e.to_string())?;
    let bob = start("bob", 0xb0, &dir, &chain, bob_stream, None, ev_tx.clone())?;
    let alice = start(
        "alice",
        0xa0,
        &dir,
        &chain,
        alice_stream,
        Some(bob.node_id),
        ev_tx,
    )?;
    say(format!(
        "alice {} connects to bob {} at {addr}",
        alice.node_id, bob.node_id
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    while alice.call(|n| n.connected_peers().len())? == 0
        || bob.call(|n| n.connected_peers().len())? == 0
    {
        if Instant::now() > deadline {
            return Err("the peers never finished init".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    say("noise handshake and init done".into());

    // Open.
    let funding_sat = 1_000_000;
    let bob_id = bob.node_id;
    let temp = alice
        .call(move |n| {
            n.open_channel(
                bob_id,
                bitcoin::Amount::from_sat(funding_sat),
                lightning_core::amount::Msat(0),
            )
        })?
        .map_err(|e| e.to_string())?;
    let (amount, script) = events.wait("FundingNeeded", |n, e| match e {
        Event::FundingNeeded {
            temporary_channel_id,
            amount_sat,
            script_pubkey,
            ..
        } if n == "alice" && *temporary_channel_id == temp => {
            Some((*amount_sat, script_pubkey.clone()))
        }
        _ => None,
    })?;
    let funding: Transaction = alice_wallet
        .fund(amount, &script)
        .map_err(|e| e.to_string())?;
    let txid = funding.compute_txid();
    let channel_id = alice
        .call(move |n| n.funding_transaction_generated(temp, funding))?
        .map_err(|e| e.to_string())?;
    say(format!(
        "alice opens a {funding_sat} sat channel: funding tx {txid}"
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    while chain.get_transaction(&txid).is_none() || chain.mempool().is_empty() {
        if chain.tx_confirmations(&txid).is_some() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    if !chain.mempool().iter().any(|t| t.compute_txid() == txid) {
        return Err(format!(
            "the funding tx was not broadcast: {:?}",
            chain.rejections()
        ));
    }
    say(
        "bob signed alice's first commitment (funding_signed); alice broadcast the funding tx"
            .into(),
    );
    let from = chain.best_block().height + 1;
    chain.mine_blocks(3, &alice_wallet.script_pubkey());
    feed_blocks(&chain, &[&alice, &bob], from, chain.best_block().height)?;
    for who in ["alice", "bob"] {
        events.wait("ChannelReady", |n, e| {
            (n == who && matches!(e, Event::ChannelReady { .. })).then_some(())
        })?;
    }
    say(format!(
        "3 blocks confirm it; channel {channel_id} is ready on both sides"
    ));

    // 100 payments Alice -> Bob.
    let payments = 100;
    let per_payment_msat = 1_000_000;
    let t = Instant::now();
    for i in 0..payments {
        let invoice = bob
            .call(move |n| {
                n.create_invoice(
                    Some(lightning_core::amount::Msat(per_payment_msat)),
                    &format!("coffee #{}", i + 1),
                    std::time::Duration::from_secs(3600),
                    now(),
                )
            })?
            .map_err(|e| e.to_string())?;
        let s = invoice.to_string();
        alice
            .call(move |n| n.pay_invoice_str(&s, now()))?
            .map_err(|e| e.to_string())?;
        if i == 0 {
            say(format!("bob's first invoice: {invoice}"));
        }
    }
    for _ in 0..payments {
        events.wait("PaymentSent", |n, e| match e {
            Event::PaymentSent { .. } if n == "alice" => Some(()),
            Event::PaymentFailed { .. } if n == "alice" => Some(()),
            _ => None,
        })?;
        events.wait("PaymentReceived", |n, e| {
            (n == "bob" && matches!(e, Event::PaymentReceived { .. })).then_some(())
        })?;
    }
    let failed = alice.call(|n| {
        n.list_payments()
            .iter()
            .filter(|p| p.status != lightning_core::node::PaymentStatus::Succeeded)
            .count()
    })?;
    if failed > 0 {
        return Err(format!("{failed} payments did not succeed"));
    }
    say(format!(
        "alice paid {payments} invoices of {} sat each in {:?}",
        per_payment_msat / 1000,
        t.elapsed()
    ));

    // Bob pays one back.
    let back_msat = 5_000_000;
    let invoice = alice
        .call(move |n| {
            n.create_invoice(
                Some(lightning_core::amount::Msat(back_msat)),
                "change",
                std::time::Duration::from_secs(3600),
                now(),
            )
        })?
        .map_err(|e| e.to_string())?;
    bob.call(move |n| n.pay_invoice(&invoice, now()))?
        .map_err(|e| e.to_string())?;
    let preimage = events.wait("PaymentSent", |n, e| match e {
        Event::PaymentSent { preimage, .. } if n == "bob" => Some(*preimage),
        _ => None,
    })?;
    say(format!(
        "bob paid alice {} sat back (preimage {preimage})",
        back_msat / 1000
    ));
    // `PaymentSent` comes when Bob learns the preimage; Alice's side of
    // the channel counts the payment once the last commitment dance is
    // done: wait for the two balances to add up to the channel again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (a_bal, b_bal) = loop {
        let (a, b) = (
            alice.call(|n| n.balances().lightning_msat)?,
            bob.call(|n| n.balances().lightning_msat)?,
        );
        if a.0 + b.0 == funding_sat * 1000 || Instant::now() > deadline {
            break (a, b);
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    say(format!(
        "channel balances: alice {a_bal} msat, bob {b_bal} msat"
    ));

    // Cooperative close.
    alice
        .call(move |n| n.close_channel(channel_id))?
        .map_err(|e| e.to_string())?;
    let mut closing = None;
    for who in ["alice", "bob"] {
        let tx = events.wait("ChannelClosed", |n, e| match e {
            Event::ChannelClosed { closing_tx, .. } if n == who => Some(closing_tx.clone()),
            _ => None,
        })?;
        closing = closing.or(tx);
    }
    let closing = closing.ok_or("no closing transaction")?;
    let closing_txid = closing.compute_txid();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !chain
        .mempool()
        .iter()
        .any(|t| t.compute_txid() == closing_txid)
    {
        if Instant::now() > deadline {
            return Err(format!(
                "the closing tx was not broadcast: {:?}",
                chain.rejections()
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let from = chain.best_block().height + 1;
    chain.mine_blocks(1, &alice_wallet.script_pubkey());
    feed_blocks(&chain, &[&alice, &bob], from, chain.best_block().height)?;
    if chain.tx_confirmations(&closing_txid) != Some(1) {
        return Err("the closing tx did not confirm".into());
    }
    say(format!(
        "cooperative close: closing tx {closing_txid} mined"
    ));

    let alice_sat = chain.balance_of(&alice.shutdown_script).to_sat();
    let bob_sat = chain.balance_of(&bob.shutdown_script).to_sat();
    let out_sum: u64 = closing.output.iter().map(|o| o.value.to_sat()).sum();
    let closing_fee_sat = funding_sat
        .checked_sub(out_sum)
        .ok_or("the closing tx pays out more than the funding")?;
    say(format!(
        "on chain: alice {alice_sat} sat + bob {bob_sat} sat + closing fee {closing_fee_sat} sat = {} sat (funding {funding_sat} sat)",
        alice_sat + bob_sat + closing_fee_sat
    ));
    // Each side's amount on its own, not "alice + bob + fee == funding"
    // with the fee taken as the remainder (that holds whatever went
    // wrong). Bob, who pays no fee, gets what the payments moved; Alice
    // the rest less the fee; the fee is the feerate times the closing
    // transaction's weight.
    let bob_msat = payments as u64 * per_payment_msat - back_msat;
    let alice_msat = funding_sat * 1000 - bob_msat;
    if (a_bal.0, b_bal.0) != (alice_msat, bob_msat) {
        return Err(format!(
            "channel balances: alice {a_bal} msat, bob {b_bal} msat (expected {alice_msat}, {bob_msat})"
        ));
    }
    let expected_bob = bob_msat / 1000;
    if alice_sat + bob_sat != out_sum {
        return Err(format!(
            "the closing tx pays {} sat elsewhere",
            out_sum - alice_sat - bob_sat
        ));
    }
    if bob_sat != expected_bob {
        return Err(format!("bob got {bob_sat} sat, expected {expected_bob}"));
    }
    if alice_sat + closing_fee_sat != alice_msat / 1000 {
        return Err(format!(
            "alice got {alice_sat} sat, expected {} less the fee {closing_fee_sat}",
            alice_msat / 1000
        ));
    }
    // The fee the node proposes from a 672-unit weight estimate at the
    // fixed 1000 sat/kw; the real weight differs by the signatures'
    // lengths (71 to 73 bytes each).
    const FEERATE_PER_KW: u64 = 1000;
    let closing_weight_wu = closing.weight().to_wu();
    let at_feerate = FEERATE_PER_KW * closing_weight_wu / 1000;
    if closing_fee_sat.abs_diff(at_feerate) > 4 {
        return Err(format!(
            "closing fee {closing_fee_sat} sat, but {FEERATE_PER_KW} sat/kw x {closing_weight_wu} wu = {at_feerate} sat"
        ));
    }
    if !chain.rejections().is_empty() {
        return Err(format!(
            "the chain rejected transactions: {:?}",
            chain.rejections()
        ));
    }
    alice.stop()?;
    bob.stop()?;
    let _ = std::fs::remove_dir_all(&dir);
    let elapsed = started.elapsed();
    say(format!("done in {elapsed:?}"));
    Ok(DemoSummary {
        funding_sat,
        alice_sat,
        bob_sat,
        closing_fee_sat,
        closing_weight_wu,
        payments,
        elapsed,
    })
}
