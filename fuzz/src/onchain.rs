//! On-chain fuzz target (`onchain_events`, issue 15): a [`Node`] (Alice,
//! `option_anchors`, with a host wallet) with one funded channel to an
//! honest second `Node` (Bob), HTLCs in flight both ways, and a copy of
//! Bob's store from an older, revoked state (the cheater), all on a
//! simulated chain; the input drives the chain and the nodes.
//!
//! The setup (open, pay, copy, HTLCs) is built once and cloned for each
//! input: stores and chain are copied, the nodes restored from them.
//!
//! The input is a sequence of operations, each one byte of opcode
//! (`op % 10`) and its arguments:
//!
//! | op | arguments | what |
//! | --- | --- | --- |
//! | 0 | n: u8 | `n % 4 + 1` blocks are mined (mempool included) and fed |
//! | 1 | n: u8 | `n % 3 + 1` blocks are disconnected (a reorg), fed |
//! | 2 | — | Alice force-closes |
//! | 3 | — | Bob force-closes |
//! | 4 | — | the cheater broadcasts its revoked commitment |
//! | 5 | inputs: u8, outs: u8, then per input: pick: u8, vout: u8, witness len: u8, bytes; per output: value: u16, script len: u8, bytes | a transaction with arbitrary witnesses spending the funding outpoint or outputs of transactions the chain or mempool hold, reported to Alice as confirmed in the next block (a light client's word: it is not validated), then that block |
//! | 6 | — | Alice restarts from her store |
//! | 7 | rate: u8 | Alice's fee estimate becomes `rate × 250 + 253` sat/kw |
//! | 8 | — | the mempool is dropped |
//! | 9 | — | Bob is fed the chain |
//!
//! Invariants, checked after every operation: no panic; Alice restarts
//! from her store; her resolver record always decodes; no claim's fee rate
//! ever goes down (the highest rate of each claim, by the outpoint it
//! claims, across restarts and reorgs); nothing Alice broadcasts fails
//! script verification or spends more than its inputs (rejections for
//! missing or spent inputs are expected: the fuzzer fakes spends).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bitcoin::absolute::LockTime;
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness,
};
use lightning_chain::{
    ChainListener, ChainSync, ConfirmationTarget, FeeEstimator, FeeRate, FixedFeeEstimator,
};
use lightning_core::node::{Event, Node, NodeBuilder, NodeConfig, NodeHost, Persistence};
use lightning_core::peer::PeerId;
use lightning_persist::{KvStore, MemoryStore};
use lightning_sim::{SimChain, SimChainHandle, SimWallet, TxRejected};
use lightning_wire::types::ChannelId;

/// Operations run per input at most.
pub const MAX_OPS: usize = 48;

const ALICE: [u8; 32] = [0x61; 32];
const BOB: [u8; 32] = [0x62; 32];

fn config() -> NodeConfig {
    let mut c = NodeConfig::new(Network::Regtest);
    c.channel.minimum_depth = 1;
    c.channel.anchors = true;
    c
}

#[derive(Debug)]
struct Estimate(AtomicU32);

impl FeeEstimator for Estimate {
    fn fee_rate(&self, _: ConfirmationTarget) -> FeeRate {
        FeeRate::from_sat_per_kw(self.0.load(Ordering::Relaxed))
    }
}

/// The setup every input starts from.
struct Setup {
    chain: SimChain,
    alice: Vec<(String, Vec<u8>)>,
    bob: Vec<(String, Vec<u8>)>,
    cheater: Vec<(String, Vec<u8>)>,
    id: ChannelId,
    funding: OutPoint,
}

fn dump(store: &MemoryStore) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for key in store.list_prefix("node", "").unwrap_or_default() {
        if let Ok(Some(r)) = store.read("node", &key) {
            v.push((key, r.value));
        }
    }
    v
}

fn load(records: &[(String, Vec<u8>)]) -> Arc<MemoryStore> {
    let s = Arc::new(MemoryStore::new());
    for (k, v) in records {
        let _ = s.write("node", k, 1, v);
    }
    s
}

fn fixed_host(chain: &SimChainHandle) -> NodeHost {
    NodeHost {
        broadcaster: Arc::new(chain.clone()),
        fee_estimator: Arc::new(FixedFeeEstimator::new(FeeRate::from_sat_per_kw(1000))),
    }
}

fn build(seed: &[u8; 32], store: Arc<MemoryStore>, host: NodeHost, chain: &SimChainHandle) -> Node {
    NodeBuilder::from_config(config())
        .seed(seed)
        .persistence(Persistence::Inline(store))
        .host(host)
        .best_block(chain.best_block())
        .build()
        .expect("a node")
}

fn shuttle(a: &mut Node, b: &mut Node, pa: PeerId, pb: PeerId, wallet: &SimWallet) {
    let now = Duration::from_secs(1_700_000_000);
    for _ in 0..200 {
        let mut moved = false;
        if let Some(x) = a.poll_transmit(pa) {
            moved = true;
            let _ = b.handle_bytes(pb, &x, now);
        }
        if let Some(x) = b.poll_transmit(pb) {
            moved = true;
            let _ = a.handle_bytes(pa, &x, now);
        }
        while let Some(e) = a.poll_event() {
            if let Event::FundingNeeded {
                temporary_channel_id,
                amount_sat,
                script_pubkey,
                ..
            } = e
            {
                if let Ok(tx) = wallet.fund(amount_sat, &script_pubkey) {
                    let _ = a.funding_transaction_generated(temporary_channel_id, tx);
                }
                moved = true;
            }
        }
        while b.poll_event().is_some() {}
        if !moved {
            break;
        }
    }
}

fn feed(node: &mut Node, chain: &SimChainHandle) {
    let mut sync = ChainSync::new(node.best_block());
    let _ = sync.sync(chain, node);
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let chain = SimChainHandle::new();
        let funder = SimWallet::from_seed([9; 32], chain.clone());
        chain.mine_blocks(101, &funder.script_pubkey());
        let a_store = Arc::new(MemoryStore::new());
        let b_store = Arc::new(MemoryStore::new());
        let mut a = build(&ALICE, a_store.clone(), fixed_host(&chain), &chain);
        let mut b = build(&BOB, b_store.clone(), fixed_host(&chain), &chain);
        let now = Duration::from_secs(1_700_000_000);
        let (pa, act) = a.connect_outbound(b.node_id(), now);
        let pb = b.accept_inbound(now);
        let _ = b.handle_bytes(pb, &act, now);
        shuttle(&mut a, &mut b, pa, pb, &funder);
        a.open_channel(
            b.node_id(),
            Amount::from_sat(1_000_000),
            lightning_core::amount::Msat(300_000_000),
        )
        .expect("opens");
        shuttle(&mut a, &mut b, pa, pb, &funder);
        chain.mine_blocks(6, &funder.script_pubkey());
        feed(&mut a, &chain);
        feed(&mut b, &chain);
        shuttle(&mut a, &mut b, pa, pb, &funder);
        let id = a.list_channels()[0].channel_id;
        let funding = a.list_channels()[0].funding_txo.expect("funded");
        let pay = |from_a: bool, msat: u64, a: &mut Node, b: &mut Node| {
            let (payer, payee) = if from_a { (a, b) } else { (b, a) };
            if let Ok(inv) = payee.create_invoice(
                Some(lightning_core::amount::Msat(msat)),
                "f",
                Duration::from_secs(3600),
                now,
            ) {
                let _ = payer.pay_invoice(&inv, now);
            }
        };
        pay(true, 50_000_000, &mut a, &mut b);
        shuttle(&mut a, &mut b, pa, pb, &funder);
        pay(false, 20_000_000, &mut a, &mut b);
        shuttle(&mut a, &mut b, pa, pb, &funder);
        let cheater = dump(&b_store);
        pay(true, 7_000_000, &mut a, &mut b);
        shuttle(&mut a, &mut b, pa, pb, &funder);
        // HTLCs in flight both ways: delivered half way.
        pay(true, 11_000_000, &mut a, &mut b);
        pay(false, 13_000_000, &mut a, &mut b);
        for _ in 0..3 {
            if let Some(x) = a.poll_transmit(pa) {
                let _ = b.handle_bytes(pb, &x, now);
            }
            if let Some(x) = b.poll_transmit(pb) {
                let _ = a.handle_bytes(pa, &x, now);
            }
        }
        a.peer_disconnected(pa);
        b.peer_disconnected(pb);
        // Alice's fee wallet: two coins.
        let w = SimWallet::from_seed([0x77; 32], chain.clone());
        for _ in 0..2 {
            let _ = funder.send(Amount::from_sat(200_000), &w.script_pubkey());
        }
        chain.mine_blocks(1, &funder.script_pubkey());
        feed(&mut a, &chain);
        feed(&mut b, &chain);
        let chain = chain.lock().clone();
        Setup {
            chain,
            alice: dump(&a_store),
            bob: dump(&b_store),
            cheater,
            id,
            funding,
        }
    })
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a.to_vec()
    }
}

struct World {
    chain: SimChainHandle,
    wallet: SimWallet,
    estimate: Arc<Estimate>,
    alice: Node,
    a_store: Arc<MemoryStore>,
    bob: Node,
    cheater: Node,
    id: ChannelId,
    funding: OutPoint,
    /// The highest fee rate each claim of Alice's had, by claimed outpoint.
    rates: HashMap<OutPoint, u32>,
    /// Rejections already looked at.
    seen_rejections: usize,
}

impl World {
    fn alice_host(&self) -> NodeHost {
        NodeHost {
            broadcaster: Arc::new(self.chain.clone()),
            fee_estimator: self.estimate.clone(),
        }
    }

    fn restart_alice(&mut self) {
        let fed = self.alice.best_block();
        self.alice = NodeBuilder::from_config(config())
            .seed(&ALICE)
            .persistence(Persistence::Inline(self.a_store.clone()))
            .host(self.alice_host())
            .wallet(Arc::new(self.wallet.clone()))
            .best_block(fed)
            .build()
            .expect("Alice restarts from her store");
    }

    fn mine(&mut self, n: usize) {
        self.chain
            .mine_blocks(n, &ScriptBuf::new_op_return([1u8; 1]));
        feed(&mut self.alice, &self.chain);
        feed(&mut self.cheater, &self.chain);
    }

    /// Outpoints worth spending: the funding outpoint, and outputs of the
    /// last blocks' and the mempool's transactions.
    fn outpoints(&self) -> Vec<(OutPoint, Amount)> {
        let mut v = vec![(self.funding, Amount::from_sat(1_000_000))];
        let tip = self.chain.best_block().height;
        let mut txs: Vec<Transaction> = self.chain.mempool();
        for h in tip.saturating_sub(3)..=tip {
            if let Some(b) = self.chain.block_at(h) {
                txs.extend(b.txdata.into_iter().skip(1));
            }
        }
        for t in txs {
            let txid = t.compute_txid();
            for (i, o) in t.output.iter().enumerate() {
                v.push((
                    OutPoint {
                        txid,
                        vout: i as u32,
                    },
                    o.value,
                ));
            }
        }
        v
    }

    fn fake_spend(&mut self, input: &mut Input<'_>) {
        let n_in = usize::from(input.u8().unwrap_or(0) % 3) + 1;
        let n_out = usize::from(input.u8().unwrap_or(0) % 3) + 1;
        let pool = self.outpoints();
        let mut tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: Vec::new(),
            output: Vec::new(),
        };
        for _ in 0..n_in {
            let pick = usize::from(input.u8().unwrap_or(0)) % pool.len();
            let vout_bump = input.u8().unwrap_or(0);
            let mut op = pool[pick].0;
            if vout_bump >= 0xf0 {
                op.vout = op.vout.wrapping_add(u32::from(vout_bump & 0x0f));
            }
            let len = usize::from(input.u8().unwrap_or(0));
            let bytes = input.bytes(len);
            // Witness elements of 0, 32 and other sizes, cut from `bytes`.
            let mut w = Witness::new();
            for chunk in bytes.chunks(33) {
                let (&k, rest) = chunk.split_first().unwrap_or((&0, &[]));
                w.push(&rest[..usize::from(k).min(rest.len())]);
            }
            tx.input.push(TxIn {
                previous_output: op,
                script_sig: ScriptBuf::new(),
                sequence: Sequence(u32::from(vout_bump)),
                witness: w,
            });
        }
        for _ in 0..n_out {
            let value = u64::from(u16::from_be_bytes([
                input.u8().unwrap_or(0),
                input.u8().unwrap_or(0),
            ])) * 10;
            let len = usize::from(input.u8().unwrap_or(0) % 40);
            tx.output.push(TxOut {
                value: Amount::from_sat(value),
                script_pubkey: ScriptBuf::from_bytes(input.bytes(len)),
            });
        }
        // Reported as confirmed in the next block (a light client's word),
        // which is then connected for real (without it).
        let tip = self.chain.best_block().height;
        self.chain
            .mine_blocks(1, &ScriptBuf::new_op_return([2u8; 1]));
        let Some(block) = self.chain.block_at(tip + 1) else {
            return;
        };
        self.alice
            .transactions_confirmed(&block.header, &[(1, &tx)], tip + 1);
        self.alice.best_block_updated(&block.header, tip + 1);
    }

    /// The invariants (module documentation).
    fn check(&mut self) {
        while self.alice.poll_event().is_some() {}
        while self.bob.poll_event().is_some() {}
        while self.cheater.poll_event().is_some() {}
        let key = format!("onchain/{}", hex_id(&self.id));
        if let Ok(Some(r)) = self.a_store.read("node", &key) {
            let r = lightning_core::onchain::record::decode(&r.value)
                .expect("Alice's resolver record decodes");
            for c in &r.claims {
                let (Some(b), Some(op)) = (&c.bump, c.spends().next()) else {
                    continue;
                };
                let Some(rate) = b.state.last_feerate() else {
                    continue;
                };
                let best = self.rates.entry(op).or_insert(0);
                assert!(
                    rate.sat_per_kw() >= *best,
                    "a claim's fee rate went down: {} < {best}",
                    rate.sat_per_kw()
                );
                *best = rate.sat_per_kw();
            }
        }
        let rejections = self.chain.rejections();
        for r in rejections.iter().skip(self.seen_rejections) {
            assert!(
                !matches!(
                    r.reason,
                    TxRejected::ScriptVerification { .. }
                        | TxRejected::InsufficientInputValue { .. }
                        | TxRejected::ValueOutOfRange { .. }
                        | TxRejected::DuplicateInput { .. }
                ),
                "a node broadcast an invalid transaction: {:?}",
                r.reason
            );
        }
        self.seen_rejections = rejections.len();
    }
}

fn hex_id(id: &ChannelId) -> String {
    id.0.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a run did (for the seed tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Run {
    /// Operations run.
    pub ops: usize,
    /// Claims Alice made (in her resolver record at the end).
    pub claims: usize,
    /// Claims with a fee bump state.
    pub bumped: usize,
    /// Whether the funding output was seen spent.
    pub spent: bool,
}

/// The fuzz target.
pub fn onchain_events(data: &[u8]) {
    let _ = run(data);
}

/// Runs one input; what it did.
pub fn run(data: &[u8]) -> Run {
    let s = setup();
    let chain = SimChainHandle::from_chain(s.chain.clone());
    let wallet = SimWallet::from_seed([0x77; 32], chain.clone());
    let a_store = load(&s.alice);
    let estimate = Arc::new(Estimate(AtomicU32::new(1000)));
    let alice = NodeBuilder::from_config(config())
        .seed(&ALICE)
        .persistence(Persistence::Inline(a_store.clone()))
        .host(NodeHost {
            broadcaster: Arc::new(chain.clone()),
            fee_estimator: estimate.clone(),
        })
        .wallet(Arc::new(wallet.clone()))
        .best_block(chain.best_block())
        .build()
        .expect("Alice restores");
    let bob = build(&BOB, load(&s.bob), fixed_host(&chain), &chain);
    let cheater = build(&BOB, load(&s.cheater), fixed_host(&chain), &chain);
    let mut w = World {
        chain,
        wallet,
        estimate,
        alice,
        a_store,
        bob,
        cheater,
        id: s.id,
        funding: s.funding,
        rates: HashMap::new(),
        seen_rejections: 0,
    };
    let mut input = Input(data);
    let mut run = Run::default();
    while run.ops < MAX_OPS {
        let Some(op) = input.u8() else { break };
        run.ops += 1;
        match op % 10 {
            0 => {
                let n = usize::from(input.u8().unwrap_or(0) % 4) + 1;
                w.mine(n);
            }
            1 => {
                let n = usize::from(input.u8().unwrap_or(0) % 3) + 1;
                w.chain.invalidate_tip(n);
                feed(&mut w.alice, &w.chain);
                feed(&mut w.cheater, &w.chain);
            }
            2 => {
                let _ = w.alice.force_close_channel(w.id);
            }
            3 => {
                let _ = w.bob.force_close_channel(w.id);
            }
            4 => {
                let _ = w.cheater.force_close_channel(w.id);
            }
            5 => w.fake_spend(&mut input),
            6 => w.restart_alice(),
            7 => {
                let r = u32::from(input.u8().unwrap_or(0)) * 250 + 253;
                w.estimate.0.store(r, Ordering::Relaxed);
            }
            8 => w.chain.with(|c| {
                let txids: Vec<Txid> = c.mempool().map(|t| t.compute_txid()).collect();
                for t in txids {
                    c.remove_from_mempool(&t);
                }
            }),
            _ => feed(&mut w.bob, &w.chain),
        }
        w.check();
    }
    crate::reached_checks();
    let key = format!("onchain/{}", hex_id(&w.id));
    if let Ok(Some(r)) = w.a_store.read("node", &key) {
        if let Ok(r) = lightning_core::onchain::record::decode(&r.value) {
            run.claims = r.claims.len();
            run.bumped = r.claims.iter().filter(|c| c.bump.is_some()).count();
            run.spent = r.spend.is_some();
        }
    }
    run
}

/// Hand-made seeds: each reaches a different resolution.
pub fn seed_corpus() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        // Alice closes; blocks with a rising estimate; a restart; blocks.
        (
            "seed-holder-close-bump",
            vec![
                2, 7, 4, 0, 0, 7, 12, 0, 1, 6, 0, 3, 0, 3, 7, 40, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0,
                3, 0, 3,
            ],
        ),
        // Bob closes; blocks; a reorg; blocks.
        (
            "seed-bob-close-reorg",
            vec![
                3, 0, 0, 0, 1, 1, 2, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3,
            ],
        ),
        // The cheater's revoked commitment; the estimate rises; blocks
        // without the mempool now and then.
        (
            "seed-revoked-justice",
            vec![4, 0, 0, 7, 30, 8, 0, 0, 0, 0, 6, 7, 60, 0, 0, 8, 0, 0, 0, 0],
        ),
        // A fake spend of the funding outpoint with garbage witnesses.
        (
            "seed-fake-funding-spend",
            vec![
                5, 0, 0, 0, 0, 40, 32, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
                18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 0, 0, 0, 100, 22, 0, 0,
                0, 0,
            ],
        ),
        // Alice closes, the commitment confirms, then a fake spend of its
        // outputs, blocks and a restart.
        (
            "seed-holder-close-fake-claim-spend",
            vec![
                2, 0, 0, 5, 1, 0, 1, 0, 33, 32, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
                9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 1, 0, 3, 0, 3, 6, 0, 3, 0, 3, 0, 3, 0,
                3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0,
                3, 0, 3, 0, 3, 0, 3, 0, 3,
            ],
        ),
    ]
}
