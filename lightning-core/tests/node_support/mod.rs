//! Two `Node`s in one process, bytes shuttled in memory, blocks from a
//! simulated chain, each node persisting to its own `MemoryStore`
//! (inline) or through `poll_persist` (async). Besides moving bytes, each
//! node is served by the shared host loop's steps
//! (`lightning_test_support::host`: blocks, async writes, events).
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use bitcoin::{Amount, Network, ScriptBuf};
use lightning_chain::BestBlock;
use lightning_core::keys::{ChannelSignerProvider, EntropySource, NodeSigner};
use lightning_core::node::{
    Event, Node, NodeBuilder, NodeConfig, NodeHost, PaymentHash, Persistence,
};
use lightning_core::peer::PeerId;
use lightning_persist::{KvStore, MemoryStore};
use lightning_sim::{SimChainHandle, SimWallet};
use lightning_test_support::host::{feed_blocks, node_host, take_events};
use lightning_test_support::hostile::HostilePeer;
use lightning_wire::bolt11::Bolt11Invoice;
use lightning_wire::msgs::{Message, OpenChannel};
use lightning_wire::types::ChannelId;

/// A node's keys kept outside it: its node signer, entropy and channel
/// signers, and the script its cooperative closes pay to.
#[derive(Clone)]
pub struct Signers {
    pub node_signer: Arc<dyn NodeSigner + Send + Sync>,
    pub entropy: Arc<dyn EntropySource + Send + Sync>,
    pub channel_signers: Arc<dyn ChannelSignerProvider + Send + Sync>,
    pub shutdown_script: bitcoin::ScriptBuf,
}

pub struct TestNode {
    pub name: &'static str,
    pub seed: [u8; 32],
    /// Keys held outside the node (built with them, not with `seed`).
    pub signers: Option<Signers>,
    pub node: Node,
    pub store: Arc<MemoryStore>,
    pub is_async: bool,
    /// Async: complete writes automatically.
    pub auto_complete: bool,
    pub peer: Option<PeerId>,
    pub events: Vec<Event>,
    pub fed: u32,
    pub restarts: u32,
    /// Async: durable operations (batches, one per step that changed
    /// state) made so far.
    pub writes: u64,
    /// Async: records written or removed so far, over all batches.
    pub records: u64,
    /// Async: the number of records of each batch, in order.
    pub batch_sizes: Vec<usize>,
}

/// The feerate the fixed fee estimator gives every node, sat per 1000
/// weight units.
pub use lightning_test_support::host::FEERATE_PER_KW;

thread_local! {
    /// Set by a test before building its nodes: their outbound channels
    /// set `announce_channel` (BOLT 7).
    pub static ANNOUNCE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

thread_local! {
    /// Set by a test before building (or restarting) its nodes: the node
    /// of that seed sends justice kits to that watchtower.
    pub static TOWER_OF: std::cell::Cell<Option<([u8; 32], bitcoin::secp256k1::PublicKey)>> =
        const { std::cell::Cell::new(None) };
}

/// [`config`], with the watchtower [`TOWER_OF`] names for `seed`.
pub fn config_for(seed: &[u8; 32]) -> NodeConfig {
    let mut c = config();
    if let Some((s, tower)) = TOWER_OF.with(|t| t.get()) {
        if s == *seed {
            c.watchtower.towers = vec![tower];
        }
    }
    c
}

pub fn config() -> NodeConfig {
    let mut c = NodeConfig::new(Network::Regtest);
    c.channel.minimum_depth = 3;
    if let Some(anchors) = ANCHORS.with(|a| a.get()) {
        c.channel.anchors = anchors;
    }
    c.channel.announce_channel = ANNOUNCE.with(|a| a.get());
    c
}

thread_local! {
    /// Whether the nodes this thread builds offer `option_anchors`
    /// ([`Net::with_anchors`]); `None`: the default configuration's.
    static ANCHORS: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// A builder for a test node: `seed`, or `signers` when given.
fn builder(seed: &[u8; 32], signers: Option<&Signers>) -> NodeBuilder {
    match signers {
        None => NodeBuilder::from_config(config_for(seed)).seed(seed),
        Some(s) => {
            let mut c = config_for(seed);
            c.shutdown_script = Some(s.shutdown_script.clone());
            NodeBuilder::from_config(c).signers(
                s.node_signer.clone(),
                s.entropy.clone(),
                s.channel_signers.clone(),
            )
        }
    }
}

impl TestNode {
    fn new(
        name: &'static str,
        seed: u8,
        chain: &SimChainHandle,
        is_async: bool,
        signers: Option<Signers>,
    ) -> Self {
        let store = Arc::new(MemoryStore::new());
        let persistence = if is_async {
            Persistence::Async(store.clone())
        } else {
            Persistence::Inline(store.clone())
        };
        let node = builder(&[seed; 32], signers.as_ref())
            .persistence(persistence)
            .host(node_host(chain))
            .best_block(chain.best_block())
            .build()
            .unwrap();
        TestNode {
            name,
            seed: [seed; 32],
            signers,
            node,
            store,
            is_async,
            auto_complete: true,
            peer: None,
            events: Vec::new(),
            fed: chain.best_block().height,
            restarts: 0,
            writes: 0,
            records: 0,
            batch_sizes: Vec::new(),
        }
    }

    /// A node built (inline) from `store` with `seed`'s keys: e.g. a
    /// cheater restored from an old copy of another node's store.
    pub fn from_store(
        name: &'static str,
        seed: [u8; 32],
        store: Arc<MemoryStore>,
        chain: &SimChainHandle,
    ) -> TestNode {
        let node = builder(&seed, None)
            .persistence(Persistence::Inline(store.clone()))
            .host(node_host(chain))
            .best_block(chain.best_block())
            .build()
            .unwrap();
        TestNode {
            name,
            seed,
            signers: None,
            node,
            store,
            is_async: false,
            auto_complete: true,
            peer: None,
            events: Vec::new(),
            fed: chain.best_block().height,
            restarts: 0,
            writes: 0,
            records: 0,
            batch_sizes: Vec::new(),
        }
    }

    /// Async: makes every handed-out batch durable (one `write_batch`
    /// each) and reports it.
    pub fn complete_writes(&mut self) -> usize {
        let mut n = 0;
        while let Some(req) = self.node.poll_persist() {
            assert!(!req.is_empty(), "an empty batch was handed out");
            self.writes += 1;
            self.records += req.len() as u64;
            self.batch_sizes.push(req.len());
            req.apply(&*self.store).unwrap();
            self.node.persist_completed(req.id);
            n += 1;
        }
        n
    }

    /// Drops the node with whatever it had not sent, and restores it from
    /// its store alone.
    pub fn restart(&mut self, chain: &SimChainHandle) {
        let persistence = if self.is_async {
            Persistence::Async(self.store.clone())
        } else {
            Persistence::Inline(self.store.clone())
        };
        let best = chain
            .block_at(self.fed)
            .map(|b| BestBlock::new(b.block_hash(), self.fed))
            .unwrap();
        self.node = builder(&self.seed, self.signers.as_ref())
            .persistence(persistence)
            .host(node_host(chain))
            .best_block(best)
            .build()
            .unwrap();
        self.peer = None;
        self.restarts += 1;
    }

    /// The host traits this node was built with (a fresh set on `chain`).
    pub fn node_host(&self, chain: &SimChainHandle) -> NodeHost {
        node_host(chain)
    }

    /// Forgets an invoice this node signed: its record leaves the store
    /// (a restart then restores the node without it).
    pub fn forget_invoice(&self, invoice: &Bolt11Invoice) {
        self.store
            .remove(
                "node",
                &format!("invoices/{}", hex::encode(invoice.payment_hash().0)),
            )
            .unwrap();
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        self.collect_events();
        std::mem::take(&mut self.events)
    }

    /// The node's events into `events`; funding is the test's to do.
    fn collect_events(&mut self) {
        take_events(&mut self.node, &mut self.events, None, &mut Vec::new());
    }
}

/// Copies every record of `from` into a new store.
pub fn copy_store(from: &MemoryStore) -> Arc<MemoryStore> {
    let to = Arc::new(MemoryStore::new());
    for ns in ["node", "watchtower"] {
        for key in from.list_prefix(ns, "").unwrap() {
            if let Some(v) = from.read(ns, &key).unwrap() {
                to.write(ns, &key, v.version, &v.value).unwrap();
            }
        }
    }
    to
}

/// Damage a test does to a transmission (`true`: from Alice).
pub type Tamper = Box<dyn FnMut(bool, &mut Vec<u8>)>;

pub struct Net {
    pub chain: SimChainHandle,
    pub wallet: SimWallet,
    pub a: TestNode,
    pub b: TestNode,
    pub now: Duration,
    /// Number of transmissions so far.
    pub steps: usize,
    /// Crash the sender instead of making transmission number `n`.
    pub crash_at: Option<usize>,
    pub crashes: Vec<(usize, &'static str)>,
    /// Every error a node returned from `handle_bytes`: (receiver, error).
    pub errors: Vec<(&'static str, String)>,
    /// Set by a test that injects a fault (a crash, a doctored byte): node
    /// errors are then collected for it to check. Otherwise the first
    /// error fails the test at once.
    pub faults_injected: bool,
    /// Applied to every transmission before delivery (`true`: from Alice):
    /// a test's deliberate damage on the wire.
    pub tamper: Option<Tamper>,
    /// The last closing transaction `close_and_check` saw mined, with the
    /// balances it was checked against.
    pub last_close: Option<(bitcoin::Transaction, (u64, u64))>,
}

impl Net {
    /// `payee_is_bob`'s hold invoice for `amount_msat` (its preimage is
    /// `[seed; 32]`), paid by the other and held: the HTLC is in both
    /// commitments. Returns its hash.
    pub fn hold(&mut self, payee_is_bob: bool, amount_msat: u64, seed: u8) -> PaymentHash {
        use bitcoin::hashes::{sha256, Hash};
        let preimage = lightning_core::node::PaymentPreimage([seed; 32]);
        let hash = PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array());
        let now = self.now;
        let (payee, payer) = if payee_is_bob {
            (&mut self.b, &mut self.a)
        } else {
            (&mut self.a, &mut self.b)
        };
        let invoice = payee
            .node
            .create_hold_invoice(
                hash,
                Some(lightning_core::amount::Msat(amount_msat)),
                "held",
                Duration::from_secs(3600),
                now,
            )
            .unwrap();
        payer.node.pay_invoice(&invoice, now).unwrap();
        self.shuttle();
        let payee = if payee_is_bob { &self.b } else { &self.a };
        assert!(
            payee.events.iter().any(|e| matches!(
                e,
                Event::HoldInvoiceAccepted { payment_hash, .. } if *payment_hash == hash
            )),
            "the HTLC is held"
        );
        hash
    }

    pub fn new(a_async: bool, b_async: bool) -> Net {
        Self::with_signers(a_async, b_async, None, None)
    }

    /// As [`Net::new`] (both inline), every node this thread builds from
    /// now on (restarts too) offering `option_anchors` when `anchors`.
    pub fn with_anchors(anchors: bool) -> Net {
        ANCHORS.with(|a| a.set(Some(anchors)));
        Self::new(false, false)
    }

    /// As [`Net::new`], each node built with `signers` when given instead
    /// of its seed.
    pub fn with_signers(
        a_async: bool,
        b_async: bool,
        a_signers: Option<Signers>,
        b_signers: Option<Signers>,
    ) -> Net {
        let chain = SimChainHandle::new();
        let wallet = SimWallet::from_seed([9; 32], chain.clone());
        chain.mine_blocks(101, &wallet.script_pubkey());
        let a = TestNode::new("alice", 1, &chain, a_async, a_signers);
        let b = TestNode::new("bob", 2, &chain, b_async, b_signers);
        let mut net = Net {
            chain,
            wallet,
            a,
            b,
            now: Duration::from_secs(1_700_000_000),
            steps: 0,
            crash_at: None,
            crashes: Vec::new(),
            errors: Vec::new(),
            faults_injected: false,
            tamper: None,
            last_close: None,
        };
        net.connect();
        net
    }

    pub fn connect(&mut self) {
        let now = self.now;
        let (pa, act_one) = self.a.node.connect_outbound(self.b.node.node_id(), now);
        let pb = self.b.node.accept_inbound(now);
        self.a.peer = Some(pa);
        self.b.peer = Some(pb);
        self.b.node.handle_bytes(pb, &act_one, now).unwrap();
        self.shuttle();
    }

    /// Both sides lose the connection.
    pub fn disconnect(&mut self) {
        if let Some(p) = self.a.peer.take() {
            self.a.node.peer_disconnected(p);
        }
        if let Some(p) = self.b.peer.take() {
            self.b.node.peer_disconnected(p);
        }
    }

    pub fn restart(&mut self, alice: bool) {
        self.disconnect();
        if alice {
            self.a.restart(&self.chain);
        } else {
            self.b.restart(&self.chain);
        }
        self.connect();
    }

    fn pump(node: &mut TestNode) -> bool {
        if node.is_async && node.auto_complete {
            node.complete_writes() > 0
        } else {
            false
        }
    }

    /// Delivers every transmission `from_alice` (else from Bob) has for
    /// the other node (one may carry several messages), and none of the
    /// replies: a test stops an exchange between two messages. Returns
    /// how many were delivered.
    pub fn drain(&mut self, from_alice: bool) -> usize {
        let now = self.now;
        let (from, to) = if from_alice {
            (&mut self.a, &mut self.b)
        } else {
            (&mut self.b, &mut self.a)
        };
        let (fp, tp) = (from.peer.unwrap(), to.peer.unwrap());
        let mut n = 0;
        while let Some(bytes) = from.node.poll_transmit(fp) {
            to.node.handle_bytes(tp, &bytes, now).unwrap();
            n += 1;
        }
        n
    }

    /// Moves bytes both ways until both nodes are quiet.
    pub fn shuttle(&mut self) {
        for _ in 0..100_000 {
            let mut moved = Self::pump(&mut self.a) | Self::pump(&mut self.b);
            for a_to_b in [true, false] {
                let (from, to) = if a_to_b {
                    (&mut self.a, &mut self.b)
                } else {
                    (&mut self.b, &mut self.a)
                };
                let (Some(fp), Some(tp)) = (from.peer, to.peer) else {
                    continue;
                };
                if let Some(mut bytes) = from.node.poll_transmit(fp) {
                    self.steps += 1;
                    moved = true;
                    if self.crash_at == Some(self.steps) {
                        let name = from.name;
                        self.crashes.push((self.steps, name));
                        self.restart(a_to_b);
                        break;
                    }
                    if let Some(tamper) = &mut self.tamper {
                        tamper(a_to_b, &mut bytes);
                    }
                    if let Err(e) = to.node.handle_bytes(tp, &bytes, self.now) {
                        assert!(
                            self.faults_injected,
                            "{} failed on bytes from {}: {e}",
                            to.name, from.name
                        );
                        self.errors.push((to.name, e.to_string()));
                    }
                }
            }
            self.a.collect_events();
            self.b.collect_events();
            if !moved {
                return;
            }
        }
        panic!("the nodes never went quiet");
    }

    /// Mines `n` blocks and feeds them to both nodes.
    pub fn mine(&mut self, n: usize) {
        self.chain.mine_blocks(n, &self.wallet.script_pubkey());
        for node in [&mut self.a, &mut self.b] {
            feed_blocks(&mut node.node, &mut node.fed, &self.chain);
        }
        self.shuttle();
    }

    /// Alice asks to open a channel of `amount_sat` to Bob and the two
    /// exchange `open_channel`/`accept_channel`: the temporary channel id,
    /// and the amount and script of her `FundingNeeded` if she raised it
    /// (her other events are dropped).
    pub fn request_funding(
        &mut self,
        amount_sat: u64,
        push_msat: u64,
    ) -> (ChannelId, Option<(Amount, ScriptBuf)>) {
        let temp = self
            .a
            .node
            .open_channel(
                self.b.node.node_id(),
                Amount::from_sat(amount_sat),
                lightning_core::amount::Msat(push_msat),
            )
            .unwrap();
        self.shuttle();
        let funding = self.a.take_events().into_iter().find_map(|e| match e {
            Event::FundingNeeded {
                temporary_channel_id,
                amount_sat,
                script_pubkey,
                ..
            } if temporary_channel_id == temp => Some((amount_sat, script_pubkey)),
            _ => None,
        });
        (temp, funding)
    }

    /// A valid `open_channel` to copy: Alice's, as a hostile peer
    /// connected to her receives it (the peer then leaves).
    pub fn open_channel_template(&mut self) -> OpenChannel {
        let now = self.now;
        let mut listener = HostilePeer::connect(&mut self.a.node, [0xee; 32], now).unwrap();
        self.a
            .node
            .open_channel(
                listener.node_id(),
                Amount::from_sat(200_000),
                lightning_core::amount::Msat(0),
            )
            .unwrap();
        let open = listener
            .recv_messages(&mut self.a.node)
            .unwrap()
            .into_iter()
            .find_map(|m| match m {
                Message::OpenChannel(o) => Some(o),
                _ => None,
            })
            .expect("Alice sends open_channel");
        listener.disconnect(&mut self.a.node);
        open
    }

    /// Alice opens a channel to Bob and it becomes ready (3 blocks),
    /// retrying if a crash made the peers forget it.
    pub fn open_channel(&mut self, amount_sat: u64, push_msat: u64) -> ChannelId {
        for _ in 0..5 {
            let (temp, funding) = self.request_funding(amount_sat, push_msat);
            let Some((amount, script)) = funding else {
                continue;
            };
            let tx = self.wallet.fund(amount, &script).unwrap();
            let Ok(id) = self.a.node.funding_transaction_generated(temp, tx.clone()) else {
                self.wallet.release(&tx);
                continue;
            };
            self.shuttle();
            self.mine(3);
            self.shuttle();
            if self.usable(id) {
                return id;
            }
            self.wallet.release(&tx);
        }
        panic!("could not open a channel");
    }

    pub fn usable(&self, id: ChannelId) -> bool {
        let ok = |n: &Node| {
            n.list_channels()
                .iter()
                .any(|c| c.channel_id == id && c.is_usable)
        };
        ok(&self.a.node) && ok(&self.b.node)
    }

    /// `payer_is_alice` pays `amount_msat` to the other over an invoice,
    /// retrying payments that failed because of a crash. Returns the hash.
    pub fn pay(&mut self, payer_is_alice: bool, amount_msat: u64) -> PaymentHash {
        let now = self.now;
        let payee = if payer_is_alice {
            &mut self.b
        } else {
            &mut self.a
        };
        let invoice = payee
            .node
            .create_invoice(
                Some(lightning_core::amount::Msat(amount_msat)),
                "test",
                std::time::Duration::from_secs(3600),
                now,
            )
            .unwrap();
        let hash = *invoice.payment_hash();
        for _ in 0..5 {
            let payer = if payer_is_alice {
                &mut self.a
            } else {
                &mut self.b
            };
            match payer.node.pay_invoice(&invoice, now) {
                Ok(_) => {}
                Err(lightning_core::node::NodeError::DuplicatePayment(_)) => {}
                Err(e) => panic!("pay: {e}"),
            }
            self.shuttle();
            let payer = if payer_is_alice {
                &mut self.a
            } else {
                &mut self.b
            };
            let status = payer
                .node
                .list_payments()
                .into_iter()
                .find(|p| p.payment_hash == hash)
                .map(|p| p.status);
            match status {
                Some(lightning_core::node::PaymentStatus::Succeeded) => return hash,
                Some(lightning_core::node::PaymentStatus::Failed) => continue,
                _ => {
                    // In flight across a crash: let it settle.
                    self.shuttle();
                }
            }
        }
        let payer = if payer_is_alice { &self.a } else { &self.b };
        panic!("payment did not complete: {:?}", payer.node.list_payments());
    }

    pub fn local_msat(n: &Node, id: ChannelId) -> u64 {
        n.list_channels()
            .iter()
            .find(|c| c.channel_id == id)
            .map(|c| c.local_balance_msat.0)
            .unwrap()
    }

    /// Closes cooperatively, mines the closing transaction and checks it:
    /// it spends the channel's funding output; Bob (the fundee, who pays
    /// no fee) gets his channel balance rounded down to the satoshi; Alice
    /// gets hers less the fee; the fee is the feerate times the closing
    /// transaction's weight. Returns what each got on chain.
    pub fn close_and_check(&mut self, id: ChannelId, capacity_sat: u64) -> (u64, u64) {
        let a_msat = Self::local_msat(&self.a.node, id);
        let b_msat = Self::local_msat(&self.b.node, id);
        assert_eq!(
            a_msat + b_msat,
            capacity_sat * 1000,
            "the channel's balances are its capacity (nothing pending at close)"
        );
        self.a.node.close_channel(id).unwrap();
        self.shuttle();
        for _ in 0..5 {
            let closed = |n: &Node| {
                n.list_channels().iter().any(|c| {
                    c.channel_id == id && c.phase == lightning_core::channel::Phase::Closed
                })
            };
            if closed(&self.a.node) && closed(&self.b.node) {
                break;
            }
            // A crash interrupted the negotiation: reconnecting resumes it.
            self.disconnect();
            self.connect();
        }
        self.mine(1);
        assert!(
            self.chain.rejections().is_empty(),
            "{:?}",
            self.chain.rejections()
        );
        assert!(self.chain.mempool().is_empty(), "closing tx mined");
        let funding = self
            .a
            .node
            .list_channels()
            .into_iter()
            .find(|c| c.channel_id == id)
            .and_then(|c| c.funding_txo)
            .unwrap();
        // The closing transaction spends the funding output, and only it.
        let block = self.chain.block_at(self.chain.best_block().height).unwrap();
        let closing = block
            .txdata
            .iter()
            .find(|tx| tx.input.iter().any(|i| i.previous_output == funding))
            .expect("closing tx in the last block")
            .clone();
        assert_eq!(
            closing.input.len(),
            1,
            "the closing tx spends the funding output alone"
        );
        self.last_close = Some((closing.clone(), (a_msat, b_msat)));
        check_closing(
            &closing,
            &self.a.node.shutdown_script(),
            &self.b.node.shutdown_script(),
            (a_msat, b_msat),
            capacity_sat,
        )
        .unwrap_or_else(|e| panic!("closing transaction {closing:?}: {e}"))
    }
}

/// Checks a legacy mutual-close transaction of a channel of `capacity_sat`
/// whose balances were `(alice, bob)` msat, Alice the funder: it pays the
/// two shutdown scripts only; Bob (who pays no fee) gets his balance
/// rounded down to the satoshi; Alice gets hers less the fee; the fee is
/// [`FEERATE_PER_KW`] times the transaction's weight. Returns what each
/// got.
pub fn check_closing(
    closing: &bitcoin::Transaction,
    a_script: &bitcoin::ScriptBuf,
    b_script: &bitcoin::ScriptBuf,
    (a_msat, b_msat): (u64, u64),
    capacity_sat: u64,
) -> Result<(u64, u64), String> {
    let paid_to = |script: &bitcoin::ScriptBuf| -> u64 {
        closing
            .output
            .iter()
            .filter(|o| o.script_pubkey == *script)
            .map(|o| o.value.to_sat())
            .sum()
    };
    let a_out = paid_to(a_script);
    let b_out = paid_to(b_script);
    let total: u64 = closing.output.iter().map(|o| o.value.to_sat()).sum();
    if a_out + b_out != total {
        return Err(format!(
            "{} sat go elsewhere than the shutdown scripts",
            total - a_out - b_out
        ));
    }
    // BOLT 3: the funder pays the closing fee.
    if b_out != b_msat / 1000 {
        return Err(format!(
            "Bob's output is {b_out} sat, his balance {b_msat} msat"
        ));
    }
    let fee = capacity_sat
        .checked_sub(total)
        .ok_or("the closing tx pays out more than the channel holds")?;
    // Alice's output is her balance less the fee; the msat remainders of
    // both sides go to the fee too (under 2 sat).
    let a_paid_fee = (a_msat / 1000).checked_sub(a_out).ok_or(format!(
        "Alice's output {a_out} sat exceeds her balance {a_msat} msat"
    ))?;
    if a_paid_fee > fee || fee - a_paid_fee > 1 {
        return Err(format!(
            "Alice's output {a_out} sat: balance {a_msat} msat less the fee {fee} sat"
        ));
    }
    // Our fee proposal uses a 672-unit weight estimate; the real weight
    // differs by the signatures' lengths (a DER signature is 71 to 73
    // bytes): a few units.
    let weight = closing.weight().to_wu();
    let at_feerate = u64::from(FEERATE_PER_KW) * weight / 1000;
    if fee.abs_diff(at_feerate) > 4 {
        return Err(format!(
            "closing fee {fee} sat, but {FEERATE_PER_KW} sat/kw x {weight} wu = {at_feerate} sat"
        ));
    }
    Ok((a_out, b_out))
}
