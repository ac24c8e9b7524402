//! The scenario `node_over_rpc.rs` and `node_over_esplora.rs` share: two
//! `Node`s driven end to end through a real chain adapter over the
//! simulated chain (`lightning-simchain` on loopback). Each node follows
//! the chain through the adapter and broadcasts and estimates fees through
//! it, and each host's BDK wallet syncs through the same server, funds the
//! channels and receives the closes and sweeps. Blocks are mined and
//! reorged only through bitcoind RPC calls (`generatetoaddress`,
//! `invalidateblock`) on the simulated chain's RPC facade.
//!
//! What differs between the adapters (the servers, how the node and the
//! wallet sync, what a refused broadcast is) is a [`Backend`].
//!
//! The wallets' balances are checked against the simulated chain's own UTXO
//! set (what the wallet should own, read without the adapter), and against
//! the channel balances the nodes reported before closing.

use std::time::Duration;

use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bitcoin::{
    Address, Amount, BlockHash, CompressedPublicKey, Network, OutPoint, ScriptBuf, Transaction,
};
use lightning_chain::{BestBlock, FeeRate};
use lightning_core::node::{Event, Node, NodeBuilder, NodeConfig, NodeHost, Persistence};
use lightning_core::{Msat, PeerId};
use lightning_persist::MemoryStore;
use lightning_sim::SimChainHandle;
use lightning_simchain::{Credentials, RpcServer};
use lightning_wallet::BdkWallet;
use lightning_wire::types::ChannelId;
use serde_json::json;
use std::sync::Arc;

/// How one host's node and wallet reach the chain: an adapter and its sync
/// driver.
pub trait Backend: Sized {
    /// The adapter's name in assertion messages.
    const NAME: &'static str;
    /// What serves the simulated chain to the adapter beside its RPC facade
    /// (kept while the test runs).
    type Server;
    /// A broadcast the adapter's server refused.
    type Refused: std::fmt::Debug;

    /// Starts the [`Server`](Self::Server) on `chain`.
    fn serve(chain: &SimChainHandle) -> Self::Server;
    /// One host's adapter, its sync driver starting from `best`.
    fn connect(rpc: &RpcServer, server: &Self::Server, best: BestBlock) -> Self;
    /// The node's broadcaster and fee estimator.
    fn node_host(&self) -> NodeHost;
    /// Called once the node is built.
    fn attach(&mut self, _node: &mut Node) {}
    /// The node to the adapter's tip: the best block it reached and how many
    /// blocks it had disconnected.
    fn sync_node(&mut self, node: &mut Node) -> (BestBlock, u32);
    /// The wallet to the server's tip.
    fn sync_wallet(&self, wallet: &mut BdkWallet);
    /// The broadcasts refused since the last call.
    fn take_refused(&self) -> Vec<Self::Refused>;
    /// The server's error for a refused broadcast.
    fn refusal_error(refused: &Self::Refused) -> &str;
}

/// What each host runs: the node, its wallet, its adapter and sync driver.
pub struct Host<B: Backend> {
    name: &'static str,
    node: Node,
    wallet: BdkWallet,
    /// The adapter and sync driver.
    pub chain: B,
    peer: Option<PeerId>,
    events: Vec<Event>,
    /// Transactions the adapter's server refused.
    refused: Vec<B::Refused>,
    /// Where the node's closes and sweeps pay (a wallet address).
    sweep_script: ScriptBuf,
    _dir: tempfile::TempDir,
}

impl<B: Backend> Host<B> {
    fn new(name: &'static str, seed: u8, rpc: &RpcServer, server: &B::Server) -> Host<B> {
        let dir = tempfile::tempdir().unwrap();
        let wallet =
            BdkWallet::open(&[seed; 32], Network::Regtest, &dir.path().join("wallet")).unwrap();
        let sweep_script = wallet.new_address().unwrap().script_pubkey();
        let mut config = NodeConfig::new(Network::Regtest);
        config.channel.minimum_depth = 3;
        config.shutdown_script = Some(sweep_script.clone());
        let best = rpc.chain().best_block();
        let mut chain = B::connect(rpc, server, best);
        let mut node = NodeBuilder::from_config(config)
            .seed(&[seed.wrapping_add(100); 32])
            .persistence(Persistence::Inline(Arc::new(MemoryStore::new())))
            .host(chain.node_host())
            .best_block(best)
            .build()
            .unwrap();
        chain.attach(&mut node);
        Host {
            name,
            node,
            wallet,
            chain,
            peer: None,
            events: Vec::new(),
            refused: Vec::new(),
            sweep_script,
            _dir: dir,
        }
    }

    /// Node and wallet to the adapter's tip; how many blocks the node had
    /// disconnected.
    fn sync(&mut self) -> u32 {
        let (best_block, disconnected) = self.chain.sync_node(&mut self.node);
        self.chain.sync_wallet(&mut self.wallet);
        assert_eq!(self.wallet.best_block(), best_block);
        self.refused.extend(self.chain.take_refused());
        disconnected
    }

    /// The node's events; a `FundingNeeded` is answered from the wallet.
    fn take_events(&mut self) {
        while let Some(event) = self.node.poll_event() {
            if let Event::FundingNeeded {
                temporary_channel_id,
                amount_sat,
                script_pubkey,
                ..
            } = &event
            {
                let tx = self
                    .wallet
                    .fund(*amount_sat, script_pubkey, FeeRate::from_sat_per_kw(1000))
                    .unwrap();
                if let Err(e) = self
                    .node
                    .funding_transaction_generated(*temporary_channel_id, tx.clone())
                {
                    self.wallet.release(&tx).unwrap();
                    panic!("{}: funding_transaction_generated: {e}", self.name);
                }
            }
            self.events.push(event);
        }
    }

    fn total(&self) -> Amount {
        let b = self.wallet.balance();
        b.confirmed + b.immature + b.trusted_pending + b.untrusted_pending
    }
}

pub struct Net<B: Backend> {
    /// Served while the test runs.
    _server: B::Server,
    pub rpc: RpcServer,
    pub a: Host<B>,
    b: Host<B>,
    now: Duration,
    /// Coinbases go here: neither wallet's.
    miner: Address,
}

fn miner_address() -> Address {
    let secp = Secp256k1::new();
    let key = SecretKey::from_slice(&[0x42; 32]).unwrap();
    let pk = CompressedPublicKey(key.public_key(&secp));
    Address::p2wpkh(&pk, Network::Regtest)
}

impl<B: Backend> Net<B> {
    fn new() -> Net<B> {
        let chain = SimChainHandle::new();
        let server = B::serve(&chain);
        let rpc = RpcServer::start(chain, Credentials::new("user", "pass"), "127.0.0.1:0").unwrap();
        let a = Host::new("alice", 1, &rpc, &server);
        let b = Host::new("bob", 2, &rpc, &server);
        Net {
            _server: server,
            rpc,
            a,
            b,
            now: Duration::from_secs(1_700_000_000),
            miner: miner_address(),
        }
    }

    fn rpc(&self, method: &str, params: serde_json::Value) -> serde_json::Value {
        self.rpc
            .call_local(method, &params)
            .unwrap_or_else(|e| panic!("{method}: {e:?}"))
    }

    /// Mines `n` blocks to `address` through RPC, then syncs and shuttles.
    fn mine_to(&mut self, n: u32, address: &Address) -> Vec<BlockHash> {
        let hashes = self.rpc("generatetoaddress", json!([n, address.to_string()]));
        let hashes = hashes
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().parse().unwrap())
            .collect();
        self.settle();
        hashes
    }

    pub fn mine(&mut self, n: u32) -> Vec<BlockHash> {
        let miner = self.miner.clone();
        self.mine_to(n, &miner)
    }

    /// Syncs both hosts, then moves bytes and events until quiet.
    fn settle(&mut self) {
        self.a.sync();
        self.b.sync();
        self.shuttle();
    }

    fn connect(&mut self) {
        let now = self.now;
        let (pa, act_one) = self.a.node.connect_outbound(self.b.node.node_id(), now);
        let pb = self.b.node.accept_inbound(now);
        self.a.peer = Some(pa);
        self.b.peer = Some(pb);
        self.b.node.handle_bytes(pb, &act_one, now).unwrap();
        self.shuttle();
    }

    fn shuttle(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for a_to_b in [true, false] {
                let (from, to) = if a_to_b {
                    (&mut self.a, &mut self.b)
                } else {
                    (&mut self.b, &mut self.a)
                };
                let (Some(fp), Some(tp)) = (from.peer, to.peer) else {
                    continue;
                };
                while let Some(bytes) = from.node.poll_transmit(fp) {
                    moved = true;
                    to.node.handle_bytes(tp, &bytes, self.now).unwrap();
                }
            }
            self.a.take_events();
            self.b.take_events();
            if !moved {
                return;
            }
        }
        panic!("the nodes never went quiet");
    }

    fn mempool(&self) -> Vec<String> {
        self.rpc("getrawmempool", json!([]))
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect()
    }

    /// Alice opens a channel of `sat` to Bob, funded by her wallet; mined
    /// and ready on both sides. Gives its id and funding transaction.
    fn open(&mut self, sat: u64) -> (ChannelId, Transaction) {
        self.a
            .node
            .open_channel(self.b.node.node_id(), Amount::from_sat(sat), Msat(0))
            .unwrap();
        self.shuttle();
        let channel = self
            .a
            .node
            .list_channels()
            .into_iter()
            .find(|c| {
                c.funding_txo.is_some()
                    && c.phase == lightning_core::channel::Phase::AwaitingChannelReady
            })
            .unwrap_or_else(|| panic!("no funded channel: {:#?}", self.a.node.list_channels()));
        let funding_txid = channel.funding_txo.unwrap().txid;
        assert!(
            self.mempool().contains(&funding_txid.to_string()),
            "the node broadcast the funding transaction through {}",
            B::NAME
        );
        let funding = self.a.wallet.transaction(&funding_txid).unwrap();
        self.mine(6);
        for host in [&self.a, &self.b] {
            let ready = host
                .node
                .list_channels()
                .into_iter()
                .any(|c| c.channel_id == channel.channel_id && c.is_usable);
            assert!(ready, "{}: the channel is usable", host.name);
        }
        (channel.channel_id, funding)
    }

    fn pay(&mut self, msat: u64) {
        let invoice = self
            .b
            .node
            .create_invoice(Some(Msat(msat)), "rpc", Duration::from_secs(3600), self.now)
            .unwrap();
        self.a.node.pay_invoice(&invoice, self.now).unwrap();
        self.shuttle();
        let hash = *invoice.payment_hash();
        assert!(self.a.events.iter().any(
            |e| matches!(e, Event::PaymentSent { payment_hash, .. } if *payment_hash == hash)
        ));
        assert!(self.b.events.iter().any(
            |e| matches!(e, Event::PaymentReceived { payment_hash, .. } if *payment_hash == hash)
        ));
    }

    /// The chain's own record of what pays `scripts` (no adapter).
    fn chain_balance(&self, scripts: &[ScriptBuf]) -> Amount {
        scripts.iter().map(|s| self.rpc.chain().balance_of(s)).sum()
    }

    /// The transaction of the best chain spending `outpoint`, from the
    /// simulated chain's blocks.
    fn spender(&self, outpoint: OutPoint) -> Option<Transaction> {
        let tip = self.rpc.chain().best_block().height;
        (0..=tip).rev().find_map(|h| {
            let block = self.rpc.chain().block_at(h)?;
            block
                .txdata
                .into_iter()
                .find(|tx| tx.input.iter().any(|i| i.previous_output == outpoint))
        })
    }
}

/// The outputs of `tx` that are `wallet`'s.
fn wallet_outputs(wallet: &BdkWallet, tx: &Transaction) -> Vec<ScriptBuf> {
    tx.output
        .iter()
        .filter(|o| wallet.is_mine(&o.script_pubkey))
        .map(|o| o.script_pubkey.clone())
        .collect()
}

/// The fee `tx` paid, its inputs' values from `wallet`.
fn fee_of(wallet: &BdkWallet, tx: &Transaction) -> Amount {
    let inputs: Amount = tx
        .input
        .iter()
        .map(|i| {
            let prev = wallet.transaction(&i.previous_output.txid).unwrap();
            prev.output[i.previous_output.vout as usize].value
        })
        .sum();
    let outputs: Amount = tx.output.iter().map(|o| o.value).sum();
    inputs - outputs
}

/// The scenario: Alice's wallet mined to; a channel funded by it, a
/// payment and a cooperative close, undone and redone by a reorg; a second
/// channel, a payment and a force close swept to both wallets through a
/// 2-block reorg. Gives the network for the caller to go on with.
pub fn two_nodes<B: Backend>() -> Net<B> {
    let mut net = Net::<B>::new();
    let alice_coinbase = net.a.wallet.new_address().unwrap();
    // 101 coinbases to Alice's wallet, then 10 more elsewhere: her first
    // eleven are mature.
    net.mine_to(101, &alice_coinbase);
    net.mine(10);
    let balance = net.a.wallet.balance();
    assert!(balance.confirmed > Amount::ZERO, "{balance:?}");
    assert!(balance.immature > Amount::ZERO, "{balance:?}");
    let mut alice_scripts = vec![alice_coinbase.script_pubkey(), net.a.sweep_script.clone()];
    let bob_scripts = vec![net.b.sweep_script.clone()];
    assert_eq!(net.a.total(), net.chain_balance(&alice_scripts));
    assert_eq!(net.b.total(), Amount::ZERO);

    net.connect();

    // A channel funded by Alice's BDK wallet; a payment; a cooperative
    // close.
    let before = net.a.total();
    let (id, funding) = net.open(200_000);
    alice_scripts.extend(wallet_outputs(&net.a.wallet, &funding));
    let fee = fee_of(&net.a.wallet, &funding);
    assert!(fee > Amount::ZERO);
    assert_eq!(net.a.total(), before - Amount::from_sat(200_000) - fee);
    assert_eq!(net.a.total(), net.chain_balance(&alice_scripts));

    net.pay(40_000_000);
    let bob_msat = net
        .b
        .node
        .list_channels()
        .into_iter()
        .find(|c| c.channel_id == id)
        .unwrap()
        .local_balance_msat;
    assert_eq!(bob_msat, Msat(40_000_000));

    let before_close = net.a.total();
    net.a.node.close_channel(id).unwrap();
    net.shuttle();
    assert_eq!(net.mempool().len(), 1, "the closing transaction");
    let close_block = net.mine(1)[0];
    let funding_outpoint = OutPoint {
        txid: funding.compute_txid(),
        vout: funding
            .output
            .iter()
            .position(|o| o.value == Amount::from_sat(200_000))
            .unwrap() as u32,
    };
    let closing = net.spender(funding_outpoint).expect("the close is mined");
    let to = |script: &ScriptBuf| -> Amount {
        closing
            .output
            .iter()
            .filter(|o| &o.script_pubkey == script)
            .map(|o| o.value)
            .sum()
    };
    // Bob gets his 40,000 sat (the opener, Alice, pays the closing fee).
    assert_eq!(to(&net.b.sweep_script), Amount::from_sat(40_000));
    assert_eq!(net.b.total(), Amount::from_sat(40_000));
    assert_eq!(net.b.wallet.balance().confirmed, Amount::from_sat(40_000));
    let alice_close = to(&net.a.sweep_script);
    assert!(alice_close > Amount::from_sat(150_000));
    assert_eq!(net.a.total(), before_close + alice_close);
    assert_eq!(net.a.total(), net.chain_balance(&alice_scripts));
    assert_eq!(net.b.total(), net.chain_balance(&bob_scripts));

    // A reorg through RPC: the block holding the close is invalidated and
    // two others are mined; the close is mined again in the first. Nodes
    // and wallets follow (one block disconnected each) and the balances
    // are unchanged.
    net.rpc("invalidateblock", json!([close_block.to_string()]));
    let hashes = net.rpc("generatetoaddress", json!([2, net.miner.to_string()]));
    assert_eq!(hashes.as_array().unwrap().len(), 2);
    assert_eq!(net.a.sync(), 1);
    assert_eq!(net.b.sync(), 1);
    net.shuttle();
    assert!(net.rpc.chain().tx_confirmations(&closing.compute_txid()) == Some(2));
    assert_eq!(net.b.wallet.balance().confirmed, Amount::from_sat(40_000));
    assert_eq!(net.a.total(), before_close + alice_close);

    // A second channel, a payment, and a force close by Alice: Bob's
    // `to_remote` and Alice's `to_local` (after `to_self_delay`) are swept
    // by the nodes to their wallets. A 2-block reorg undoes the
    // commitment's confirmation on the way.
    let (id2, funding2) = net.open(150_000);
    alice_scripts.extend(wallet_outputs(&net.a.wallet, &funding2));
    net.pay(30_000_000);
    let bob_before = net.b.total();
    let alice_before = net.a.total();
    net.a.node.force_close_channel(id2).unwrap();
    net.shuttle();
    assert_eq!(net.mempool().len(), 1, "the commitment transaction");
    let mut idle = 0;
    for i in 0..400 {
        if i == 2 {
            let tip = net.rpc.chain().best_block().height;
            let hash = net.rpc("getblockhash", json!([tip - 1]));
            net.rpc("invalidateblock", json!([hash]));
            let disconnected = {
                net.rpc("generatetoaddress", json!([3, net.miner.to_string()]));
                (net.a.sync(), net.b.sync())
            };
            assert_eq!(disconnected, (2, 2));
            net.shuttle();
        }
        net.mine(1);
        if net.mempool().is_empty() {
            idle += 1;
        } else {
            idle = 0;
        }
        if i > 160 && idle > 6 {
            break;
        }
    }
    let bob_gain = net.b.total() - bob_before;
    let alice_gain = net.a.total() - alice_before;
    // Each got its channel balance less the fees of the commitment
    // (Alice's, the opener) and of its sweeps.
    assert!(
        bob_gain <= Amount::from_sat(30_000) && bob_gain > Amount::from_sat(25_000),
        "bob swept {bob_gain}"
    );
    assert!(
        alice_gain < Amount::from_sat(120_000) && alice_gain > Amount::from_sat(100_000),
        "alice swept {alice_gain}"
    );
    assert_eq!(net.a.total(), net.chain_balance(&alice_scripts));
    assert_eq!(net.b.total(), net.chain_balance(&bob_scripts));
    assert_eq!(
        net.a.wallet.balance().confirmed,
        net.a.total() - net.a.wallet.balance().immature
    );
    assert!(net.rpc.chain().rejections().is_empty());
    // The only broadcasts the adapter's server (bitcoind, the Esplora
    // server) refused are conflicts with a transaction already in its
    // mempool (both sides broadcast their closing and claim transactions).
    for host in [&net.a, &net.b] {
        println!("{}: refused {:#?}", host.name, host.refused);
        assert!(host
            .refused
            .iter()
            .all(|r| B::refusal_error(r).contains("already spent by mempool transaction")));
    }
    println!("bob swept {bob_gain}, alice swept {alice_gain}");
    net
}
