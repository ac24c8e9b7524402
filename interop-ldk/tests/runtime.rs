//! Issue 20: our node on the host runtime (`lightning_node::Runtime`, the
//! loop `lnnode` runs: its socket threads, chain sync over the bitcoind
//! RPC, its BDK wallet and its store) against LDK 0.2 on the same
//! simulated chain. The other files here drive our node with the test
//! host (`TcpHost`), which can cut a connection after N writes or freeze a
//! node between a read and its answer; this one runs it as an operator
//! would:
//!
//! - we fund a channel to LDK from the runtime's wallet, it confirms, both
//!   sides see it ready;
//! - we pay LDK's invoice, and LDK pays ours, to the millisatoshi;
//! - LDK opens a channel to us: the runtime accepts it;
//! - the runtime stops and starts again from its data directory, dials
//!   LDK again by itself, and both channels carry a payment each way;
//! - we close our channel cooperatively: the closing transaction pays the
//!   runtime's wallet exactly our balance less the fee, and LDK exactly
//!   its balance; the wallet's spendable balance grows by our output;
//! - LDK force-closes its channel: the runtime reports it closed and
//!   its wallet gets our balance back once the output is swept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use bitcoin::{Network, ScriptBuf, Transaction};
use interop_ldk::ldk::{LdkConfig, LdkNode, LdkPaymentOutcome};
use interop_ldk::pair::ldk_id;
use lightning::types::payment::PaymentHash as LdkPaymentHash;
use lightning_chain::bitcoind::BitcoindAuth;
use lightning_core::amount::Msat;
use lightning_core::node::{Event, NodeConfig};
use lightning_node::{Builder, ChainConfig, Runtime};
use lightning_sim::{SimChainHandle, SimWallet};
use lightning_simchain::{Credentials, RpcServer};
use lightning_wire::types::ChannelId;

/// How long any one step may take.
const LIMIT: Duration = Duration::from_secs(60);

fn start(rpc: &RpcServer, dir: &Path, anchors: bool, listen: &str) -> Runtime {
    let mut config = NodeConfig::new(Network::Regtest);
    config.channel.anchors = anchors;
    config.channel.minimum_depth = 1;
    Builder::new(Network::Regtest)
        .node_config(config)
        .data_dir(dir)
        .seed([0x2a; 32])
        .chain(ChainConfig::Bitcoind {
            url: rpc.url(),
            auth: BitcoindAuth::UserPass("u".into(), "p".into()),
            rest: true,
        })
        .listen(listen.parse().unwrap())
        .sync_interval(Duration::from_millis(50))
        .build()
        .unwrap()
}

/// The next event `f` picks, waiting up to [`LIMIT`].
fn take<T>(events: &Receiver<Event>, what: &str, mut f: impl FnMut(&Event) -> Option<T>) -> T {
    let deadline = Instant::now() + LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = events
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
        if let Some(t) = f(&e) {
            return t;
        }
    }
}

fn mine(chain: &SimChainHandle, rt: &Runtime, ldk: &LdkNode, n: usize) {
    chain.mine_blocks(n, &ScriptBuf::from_bytes(vec![0x51]));
    rt.sync_chain(LIMIT).unwrap();
    let height = chain.best_block().height;
    ldk.wait_until("LDK has the blocks", LIMIT, || {
        ldk.synced_height() >= height
    });
}

fn our_balance_msat(rt: &Runtime, id: &ChannelId) -> u64 {
    rt.with_node(|n| {
        n.list_channels()
            .iter()
            .find(|c| c.channel_id == *id)
            .map(|c| c.local_balance_msat.0)
            .unwrap()
    })
}

/// Waits until LDK's channels carry no HTLC in any state: the last
/// payment's commitment dance is over on its side.
fn settled(ldk: &LdkNode) {
    ldk.wait_until("LDK's HTLCs are settled", LIMIT, || {
        ldk.channels()
            .iter()
            .all(|c| c.pending_inbound_htlcs.is_empty() && c.pending_outbound_htlcs.is_empty())
    });
}

/// We pay LDK's invoice of `amount` msat; both sides account for it.
fn we_pay_ldk(rt: &Runtime, events: &Receiver<Event>, ldk: &LdkNode, amount: u64) {
    let invoice = ldk.create_invoice(Some(amount), "from the runtime");
    let ours: lightning_core::prelude::Bolt11Invoice = invoice.to_string().parse().unwrap();
    rt.with_node(|n| n.pay_invoice(&ours, lightning_node::now()))
        .unwrap();
    let fee = take(events, "our PaymentSent", |e| match e {
        Event::PaymentSent {
            payment_hash,
            fee_msat,
            ..
        } if payment_hash.0 == invoice.payment_hash().to_byte_array() => Some(*fee_msat),
        Event::PaymentFailed { payment_hash, .. }
            if payment_hash.0 == invoice.payment_hash().to_byte_array() =>
        {
            panic!("our payment to LDK failed: {e:?}")
        }
        _ => None,
    });
    assert_eq!(fee, Msat(0), "a direct channel charges no fee");
    let ldk_hash = LdkPaymentHash(invoice.payment_hash().to_byte_array());
    ldk.wait_until("LDK claimed our payment", LIMIT, || {
        ldk.record(|r| r.claimed.contains(&(ldk_hash, amount)))
    });
    settled(ldk);
}

/// LDK pays our invoice of `amount` msat; we receive exactly that.
fn ldk_pays_us(rt: &Runtime, events: &Receiver<Event>, ldk: &LdkNode, amount: u64) {
    let invoice = rt
        .with_node(|n| {
            n.create_invoice(
                Some(Msat(amount)),
                "to the runtime",
                Duration::from_secs(3600),
                lightning_node::now(),
            )
        })
        .unwrap();
    let hash = ldk.pay_invoice(&invoice.to_string(), None);
    let received = take(events, "our PaymentReceived", |e| match e {
        Event::PaymentReceived {
            payment_hash,
            amount_msat,
            ..
        } if payment_hash.0 == hash.0 => Some(*amount_msat),
        _ => None,
    });
    assert_eq!(received, Msat(amount));
    ldk.wait_until("LDK's payment is sent", LIMIT, || {
        ldk.outcome(&hash).is_some()
    });
    assert!(
        matches!(ldk.outcome(&hash), Some(LdkPaymentOutcome::Sent(_))),
        "{:?}",
        ldk.outcome(&hash)
    );
    settled(ldk);
}

/// The wallet's spendable balance once it reaches at least `at_least`.
fn wallet_reaches(rt: &Runtime, at_least: u64) -> u64 {
    rt.wait_until(LIMIT, |s| {
        let (spendable, _) = s.wallet.balance();
        (spendable >= at_least).then_some(spendable)
    })
    .unwrap_or_else(|| {
        panic!(
            "the wallet holds {} sat, expected at least {at_least}",
            rt.lock().wallet.balance().0
        )
    })
}

/// The closing transaction in the mempool that spends `funding`.
fn spending(chain: &SimChainHandle, funding: bitcoin::OutPoint) -> Transaction {
    let start = Instant::now();
    loop {
        if let Some(tx) = chain
            .mempool()
            .into_iter()
            .find(|tx| tx.input.iter().any(|i| i.previous_output == funding))
        {
            return tx;
        }
        assert!(start.elapsed() < LIMIT, "nothing spends {funding}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn runtime_against_ldk(anchors: bool) {
    let rpc = RpcServer::start(
        SimChainHandle::new(),
        Credentials::new("u", "p"),
        "127.0.0.1:0",
    )
    .unwrap();
    let chain = rpc.chain().clone();
    let ldk_wallet = SimWallet::from_seed([1; 32], chain.clone());
    chain.mine_blocks(2, &ldk_wallet.script_pubkey());
    let dir = tempfile::tempdir().unwrap();
    let rt = start(&rpc, dir.path(), anchors, "127.0.0.1:0");
    let mut events = rt.subscribe();
    let address = rt.new_address().unwrap();
    chain.mine_blocks(1, &address.script_pubkey());
    let ldk = LdkNode::start(
        "ldk",
        [9; 32],
        chain.clone(),
        ldk_wallet,
        LdkConfig::new(anchors),
    );
    mine(&chain, &rt, &ldk, 100);
    let coinbase = wallet_reaches(&rt, 1);
    let ldk_node = ldk.node_id();
    rt.connect(ldk_node, ldk.addr, LIMIT).unwrap();
    ldk.wait_until("LDK sees us", LIMIT, || ldk.is_connected(&rt.node_id()));

    // We fund a channel from the runtime's wallet.
    let capacity = 1_000_000;
    let (ours, funding_tx) = rt.open_channel(ldk_node, capacity, 0, None, LIMIT).unwrap();
    let funding_fee = coinbase
        - funding_tx
            .output
            .iter()
            .map(|o| o.value.to_sat())
            .sum::<u64>();
    mine(&chain, &rt, &ldk, 3);
    take(&events, "our ChannelReady", |e| {
        matches!(e, Event::ChannelReady { channel_id, .. } if *channel_id == ours).then_some(())
    });
    ldk.wait_until("LDK's channel is usable", LIMIT, || {
        ldk.channels()
            .iter()
            .any(|c| c.channel_id == ldk_id(&ours) && c.is_usable)
    });

    we_pay_ldk(&rt, &events, &ldk, 50_000_000);
    ldk_pays_us(&rt, &events, &ldk, 20_000_000);
    assert_eq!(
        our_balance_msat(&rt, &ours),
        capacity * 1000 - 50_000_000 + 20_000_000
    );

    // LDK opens a channel to us, with some of it ours.
    let pushed = 100_000_000;
    let known: Vec<ChannelId> =
        rt.with_node(|n| n.list_channels().iter().map(|c| c.channel_id).collect());
    ldk.open_channel(rt.node_id(), 500_000, pushed);
    let theirs = rt
        .wait_until(LIMIT, |s| {
            s.node
                .list_channels()
                .iter()
                // Listed under its temporary id until `funding_created`.
                .filter(|c| c.funding_txo.is_some())
                .map(|c| c.channel_id)
                .find(|id| !known.contains(id))
        })
        .expect("the runtime accepted LDK's channel");
    ldk.wait_until("LDK broadcasts its funding", LIMIT, || {
        !chain.mempool().is_empty() || !ldk.rejected_broadcasts().is_empty()
    });
    assert!(ldk.rejected_broadcasts().is_empty());
    mine(&chain, &rt, &ldk, 3);
    take(&events, "ChannelReady of LDK's channel", |e| {
        matches!(e, Event::ChannelReady { channel_id, .. } if *channel_id == theirs).then_some(())
    });
    assert_eq!(our_balance_msat(&rt, &theirs), pushed);

    // The runtime stops and starts again from its directory; it dials LDK
    // by itself (the address is kept with the backup).
    let listen = rt.listen_addr().unwrap().to_string();
    rt.stop();
    drop(rt);
    let rt = start(&rpc, dir.path(), anchors, &listen);
    events = rt.subscribe();
    rt.wait_until(LIMIT, |s| {
        s.node
            .list_channels()
            .iter()
            .filter(|c| c.is_usable)
            .count()
            .eq(&2)
            .then_some(())
    })
    .expect("both channels usable again after the restart");
    we_pay_ldk(&rt, &events, &ldk, 7_000_000);
    ldk_pays_us(&rt, &events, &ldk, 3_000_000);
    let our_msat = capacity * 1000 - 50_000_000 + 20_000_000 - 7_000_000 + 3_000_000;
    // Which channel each payment took is the router's choice; the sum is
    // what both sides agree on.
    let total = our_balance_msat(&rt, &ours) + our_balance_msat(&rt, &theirs);
    assert_eq!(total, our_msat + pushed);

    // Cooperative close of our channel: the closing transaction pays us
    // our balance less the whole fee (we funded it), and LDK all of its.
    let our_share = our_balance_msat(&rt, &ours) / 1000;
    let ldk_share = capacity - our_balance_msat(&rt, &ours).div_ceil(1000);
    let before = rt.lock().wallet.balance().0;
    rt.with_node(|n| n.close_channel(ours)).unwrap();
    let funding = rt
        .with_node(|n| {
            n.list_channels()
                .iter()
                .find(|c| c.channel_id == ours)
                .and_then(|c| c.funding_txo)
        })
        .unwrap();
    assert_eq!(funding.txid, funding_tx.compute_txid());
    let closing = spending(&chain, funding);
    let fee = capacity - closing.output.iter().map(|o| o.value.to_sat()).sum::<u64>();
    let our_script = rt.with_node(|n| n.shutdown_script());
    let paid_us: u64 = closing
        .output
        .iter()
        .filter(|o| o.script_pubkey == our_script)
        .map(|o| o.value.to_sat())
        .sum();
    let paid_ldk: u64 = closing
        .output
        .iter()
        .filter(|o| o.script_pubkey != our_script)
        .map(|o| o.value.to_sat())
        .sum();
    assert_eq!(paid_us, our_share - fee, "we pay the closing fee");
    assert!(
        paid_ldk.abs_diff(ldk_share) <= 1,
        "LDK gets its balance: {paid_ldk} against {ldk_share}"
    );
    mine(&chain, &rt, &ldk, 1);
    take(&events, "our ChannelClosed", |e| {
        matches!(e, Event::ChannelClosed { channel_id, .. } if *channel_id == ours).then_some(())
    });
    let after = wallet_reaches(&rt, before + paid_us);
    assert_eq!(
        after,
        before + paid_us,
        "the wallet holds our closing output"
    );
    assert!(funding_fee > 0);

    // LDK force-closes its channel: our balance comes back to the wallet.
    let ours_in_theirs = our_balance_msat(&rt, &theirs) / 1000;
    ldk.force_close(&ldk_id(&theirs), &rt.node_id());
    mine(&chain, &rt, &ldk, 1);
    take(&events, "ChannelClosed of LDK's channel", |e| {
        matches!(e, Event::ChannelClosed { channel_id, .. } if *channel_id == theirs).then_some(())
    });
    // Our output of their commitment: spendable at once (static
    // remotekey) or after one block (anchors); the runtime sweeps it.
    let deadline = Instant::now() + LIMIT;
    let swept = loop {
        mine(&chain, &rt, &ldk, 1);
        let now = rt.lock().wallet.balance().0;
        if now > after + ours_in_theirs / 2 {
            break now - after;
        }
        assert!(Instant::now() < deadline, "our output was never swept");
    };
    assert!(
        swept <= ours_in_theirs && swept > ours_in_theirs - 10_000,
        "swept {swept} sat of our {ours_in_theirs}"
    );
    println!(
        "runtime against LDK (anchors {anchors}): closing paid us {paid_us} sat (fee {fee}), \
         LDK {paid_ldk} sat; LDK's force close returned {swept} of our {ours_in_theirs} sat"
    );
    rt.stop();
    let rejections = chain.rejections();
    assert!(rejections.is_empty(), "{rejections:#?}");
}

#[test]
fn runtime_against_ldk_static_remotekey() {
    runtime_against_ldk(false);
}

#[test]
fn runtime_against_ldk_anchors() {
    runtime_against_ldk(true);
}
