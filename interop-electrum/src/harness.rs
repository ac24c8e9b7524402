//! Everything a scenario runs on: the simulated chain (wall-clock
//! timestamps), served over simchain's bitcoind-compatible RPC; ElectrumX
//! indexing it; an Electrum daemon whose wallet holds non-coinbase coins;
//! our node in a [`TcpHost`]; and the steps the scenarios share.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::{Address, Amount, Network, OutPoint, ScriptBuf, Transaction, Txid};
use lightning_core::amount::Msat;
use lightning_core::channel::Phase;
use lightning_core::node::{
    ChannelDetails, Event, NodeConfig, PaymentHash, PaymentId, PaymentStatus,
};
use lightning_sim::{SimChainHandle, SimWallet};
use lightning_simchain::electrumx::ElectrumX;
use lightning_simchain::{Credentials, RpcServer};
use lightning_test_support::host::{now, TcpHost};
use lightning_wire::features::Feature;
use lightning_wire::types::ChannelId;
use serde_json::{json, Value};

use crate::daemon::{self, ElectrumDaemon, ElectrumOptions};
use crate::fees::{SettableFees, ELECTRUM_REGTEST_FEERATE_PER_KW};
use crate::rpc::CallError;

/// How long any one wait may take before the scenario fails.
pub const LIMIT: Duration = Duration::from_secs(60);

/// What Electrum's wallet is given (non-coinbase), in satoshis.
pub const ELECTRUM_FUNDS_SAT: u64 = 5_000_000;

/// Our node's configuration: regtest, no anchors (Electrum 4.3 has none),
/// funding depth 1, a short `to_self_delay`, and `gossip_queries` offered, which Electrum requires
/// in `init` (it never queries a wallet peer; our node ignores the odd
/// query messages).
pub fn our_config() -> NodeConfig {
    let mut config = NodeConfig::new(Network::Regtest);
    config.channel.anchors = false;
    config.channel.minimum_depth = 1;
    config.features.set_optional(Feature::GossipQueries);
    // The CSV delay we ask of Electrum's outputs: short, so that the
    // force-close scenarios mine tens of blocks, not hundreds.
    config.channel.our_params.to_self_delay = crate::daemon::TO_SELF_DELAY;
    config
}

/// Formats satoshis as Electrum's BTC amounts.
pub fn btc(sat: u64) -> String {
    format!("{}.{:08}", sat / 100_000_000, sat % 100_000_000)
}

/// Parses Electrum's BTC amount strings into satoshis.
pub fn sat(btc: &str) -> u64 {
    let (whole, frac) = btc.split_once('.').unwrap_or((btc, ""));
    let frac = format!("{frac:0<8}");
    whole.parse::<u64>().unwrap() * 100_000_000 + frac[..8].parse::<u64>().unwrap()
}

/// A payment Electrum is making to us (its `lnpay` runs on a thread).
#[derive(Debug)]
pub struct PendingPayment {
    /// The payment hash.
    pub hash: PaymentHash,
    /// The amount.
    pub amount_msat: u64,
    thread: std::thread::JoinHandle<Result<Value, CallError>>,
}

/// The harness; fields drop in order (Electrum before its server, the
/// server before the chain's RPC).
#[derive(Debug)]
pub struct Harness {
    /// Electrum.
    pub electrum: ElectrumDaemon,
    /// Our node.
    pub ours: TcpHost,
    /// ElectrumX, indexing `rpc`.
    pub electrumx: ElectrumX,
    /// simchain's RPC server.
    pub rpc: RpcServer,
    /// The chain.
    pub chain: SimChainHandle,
    /// Our node's fee estimator.
    pub fees: Arc<SettableFees>,
    /// Our node's on-chain wallet (funds the channels we open).
    pub our_wallet: SimWallet,
    miner: ScriptBuf,
    /// Set by a scenario that makes our node fail a connection on purpose.
    pub node_errors_expected: bool,
}

/// After a scenario that did not already fail: our host met no error and
/// our node returned none from `handle_bytes`; the chain refused nothing.
impl Drop for Harness {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let (host, node) = self
            .ours
            .with_state(|s| (s.errors.clone(), s.node_errors.clone()));
        assert!(host.is_empty(), "our host met errors: {host:?}");
        assert!(
            self.node_errors_expected || node.is_empty(),
            "our node failed on Electrum's bytes: {node:?}"
        );
        let rejected = self.chain.rejections();
        assert!(rejected.is_empty(), "the chain refused: {rejected:#?}");
    }
}

impl Harness {
    /// Starts everything, or `None` after a skip when ElectrumX or
    /// Electrum is absent (a failure under `LN_TEST_REQUIRE_ALL=1`).
    pub fn start(test: &str) -> Option<Harness> {
        Self::start_with(test, &ElectrumOptions::default())
    }

    /// [`Harness::start`] with Electrum's `options`.
    pub fn start_with(test: &str, options: &ElectrumOptions) -> Option<Harness> {
        let electrumx_program = ElectrumX::locate(test)?;
        let (python, launcher) = daemon::locate(test)?;
        let chain = SimChainHandle::new();
        chain.with(|c| c.use_wall_clock(true));
        let miner = ScriptBuf::from_bytes(vec![0x51]);
        let funder = SimWallet::from_seed([7; 32], chain.clone());
        let our_wallet = SimWallet::from_seed([8; 32], chain.clone());
        chain.mine_blocks(2, &funder.script_pubkey());
        chain.mine_blocks(3, &our_wallet.script_pubkey());
        chain.mine_blocks(100, &miner);
        let rpc =
            RpcServer::start(chain.clone(), Credentials::new("u", "p"), "127.0.0.1:0").unwrap();
        // simchain's 2-block estimate (four times the base) is Electrum's
        // regtest rate, 180 sat/vB: Electrum aims its closing fee at it.
        rpc.set_fee_rate(Some(u64::from(ELECTRUM_REGTEST_FEERATE_PER_KW)));
        let electrumx = ElectrumX::start(&electrumx_program, &rpc).unwrap();
        let electrum =
            ElectrumDaemon::start(&python, &launcher, electrumx.addr(), options).unwrap();
        let fees = SettableFees::new(ELECTRUM_REGTEST_FEERATE_PER_KW);
        let ours = TcpHost::start_with_fees(
            OUR_SEED,
            our_config(),
            chain.clone(),
            our_wallet.clone(),
            fees.clone(),
        );
        let mut harness = Harness {
            electrum,
            ours,
            electrumx,
            rpc,
            chain,
            fees,
            our_wallet,
            miner,
            node_errors_expected: false,
        };
        // Electrum's coins: an ordinary payment from another wallet.
        let address = harness.electrum.call("getunusedaddress", json!({}));
        let address = Address::from_str(address.as_str().unwrap())
            .unwrap()
            .require_network(Network::Regtest)
            .unwrap();
        funder
            .send(
                Amount::from_sat(ELECTRUM_FUNDS_SAT),
                &address.script_pubkey(),
            )
            .unwrap();
        harness.mine(1);
        harness.wait_electrum("Electrum sees its coins", |e| {
            let b = e.call("getbalance", json!({}));
            b["confirmed"].as_str().map(sat) == Some(ELECTRUM_FUNDS_SAT)
        });
        Some(harness)
    }

    /// Mines `n` blocks (with the mempool) and waits until ElectrumX,
    /// Electrum and our node are at the new tip.
    pub fn mine(&mut self, n: usize) {
        self.chain.mine_blocks(n, &self.miner);
        self.sync();
    }

    /// Waits until ElectrumX, Electrum and our node are at the chain's tip.
    pub fn sync(&mut self) {
        let height = self.chain.best_block().height;
        // ElectrumX's first sync, two tests at a time on two cores with
        // their Electrum daemons, once took over `LIMIT` in CI (its log
        // showed only its start-up lines): it gets twice as long.
        self.electrumx.wait_for_height(height, 2 * LIMIT).unwrap();
        self.wait_electrum("Electrum follows the tip", |e| {
            e.call("getinfo", json!({}))["blockchain_height"].as_u64() == Some(u64::from(height))
        });
        self.ours
            .wait_until("our node follows the tip", LIMIT, |s| s.fed == height);
    }

    /// Waits up to [`LIMIT`] until `cond` holds on Electrum.
    pub fn wait_electrum(&self, what: &str, mut cond: impl FnMut(&ElectrumDaemon) -> bool) {
        let start = Instant::now();
        while !cond(&self.electrum) {
            assert!(
                start.elapsed() < LIMIT,
                "timed out waiting until {what}; Electrum's channels {}\nits log:\n{}",
                self.electrum.call("list_channels", json!({})),
                self.electrum.log_tail(80)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Electrum's channel whose funding outpoint is `point`.
    pub fn electrum_channel(&self, point: &OutPoint) -> Option<Value> {
        let list = self.electrum.call("list_channels", json!({}));
        list.as_array()?
            .iter()
            .find(|c| c["channel_point"].as_str() == Some(&point.to_string()))
            .cloned()
    }

    /// Our channel with funding outpoint `point`.
    pub fn our_channel(&self, point: &OutPoint) -> Option<ChannelDetails> {
        self.ours.with(|n| {
            n.list_channels()
                .into_iter()
                .find(|c| c.funding_txo == Some(*point))
        })
    }

    /// Electrum opens a channel of `sats` to us (pushing `push_sat`);
    /// one block confirms it; returns its funding outpoint once both sides
    /// can pay over it.
    pub fn electrum_opens(&mut self, sats: u64, push_sat: u64) -> OutPoint {
        let connect = format!("{}@{}", self.ours.node_id(), self.ours.addr);
        let point = self.electrum.call(
            "open_channel",
            json!({"connection_string": connect, "amount": btc(sats), "push_amount": btc(push_sat)}),
        );
        let point = OutPoint::from_str(point.as_str().unwrap()).unwrap();
        let start = Instant::now();
        while self
            .chain
            .mempool()
            .iter()
            .all(|t| t.compute_txid() != point.txid)
        {
            assert!(
                start.elapsed() < LIMIT,
                "Electrum's funding is not broadcast"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.mine(1);
        self.wait_open(&point);
        point
    }

    /// We open a channel of `sats` to Electrum (pushing `push_msat`); it
    /// asks 3 confirmations; returns the funding outpoint once both sides
    /// can pay over it.
    pub fn we_open(&mut self, sats: u64, push_msat: u64) -> OutPoint {
        let electrum_id = self.electrum.node_id;
        if !self.ours.is_connected(&electrum_id) {
            self.ours.connect(electrum_id, self.electrum.ln_addr);
        }
        let temp = self
            .ours
            .with(|n| n.open_channel(electrum_id, Amount::from_sat(sats), Msat(push_msat)))
            .unwrap();
        let mut point = None;
        self.ours
            .wait_until("our funding is broadcast", LIMIT, |s| {
                let _ = temp;
                point = s
                    .node
                    .list_channels()
                    .iter()
                    .find(|c| {
                        c.is_outbound
                            && c.phase != Phase::Closed
                            && c.funding_txo.is_some()
                            && !c.is_usable
                    })
                    .and_then(|c| c.funding_txo);
                !s.errors.is_empty()
                    || point.is_some_and(|p| {
                        self.chain
                            .mempool()
                            .iter()
                            .any(|t| t.compute_txid() == p.txid)
                    })
            });
        let point = point.unwrap();
        self.mine(3);
        self.wait_open(&point);
        point
    }

    /// Waits until both sides can pay over the channel at `point`.
    pub fn wait_open(&self, point: &OutPoint) {
        self.wait_electrum("Electrum's channel is open", |_| {
            self.electrum_channel(point)
                .is_some_and(|c| c["state"] == json!("OPEN") && c["peer_state"] == json!("GOOD"))
        });
        self.ours
            .wait_until("our side of the channel is usable", LIMIT, |s| {
                s.node
                    .list_channels()
                    .iter()
                    .any(|c| c.funding_txo == Some(*point) && c.is_usable)
            });
    }

    /// Our invoice for `amount_msat`, paid by Electrum's `lnpay` on
    /// another thread (the command returns when the payment ends); see
    /// [`Harness::electrum_pay_finish`].
    pub fn electrum_pay_start(&self, amount_msat: u64) -> PendingPayment {
        let invoice = self
            .ours
            .with(|n| {
                n.create_invoice(
                    Some(Msat(amount_msat)),
                    "electrum interop",
                    Duration::from_secs(3600),
                    now(),
                )
            })
            .unwrap();
        let client = self.electrum.client();
        let bolt11 = invoice.to_string();
        let thread = std::thread::spawn(move || {
            client.call(
                "lnpay",
                json!({"invoice": bolt11, "timeout": 90}),
                Duration::from_secs(120),
            )
        });
        PendingPayment {
            hash: *invoice.payment_hash(),
            amount_msat,
            thread,
        }
    }

    /// Waits until Electrum's payment `pending` ends; checks it succeeded
    /// and we received exactly its amount, once. Returns the hash.
    pub fn electrum_pay_finish(&self, pending: PendingPayment) -> PaymentHash {
        let PendingPayment {
            hash,
            amount_msat,
            thread,
        } = pending;
        let result = thread
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("lnpay: {e}\n{}", self.electrum.log_tail(60)));
        assert_eq!(
            result["success"],
            json!(true),
            "Electrum's payment failed: {result:#}\n{}",
            self.electrum.log_tail(60)
        );
        assert_eq!(result["payment_hash"], json!(hash.to_string()));
        self.ours.wait_until("we received the payment", LIMIT, |s| {
            s.events.iter().any(|e| matches!(e, Event::PaymentReceived { payment_hash, .. } if *payment_hash == hash))
        });
        let received: Vec<u64> = self.ours.with_state(|s| {
            s.events
                .iter()
                .filter_map(|e| match e {
                    Event::PaymentReceived {
                        payment_hash,
                        amount_msat,
                    } if *payment_hash == hash => Some(amount_msat.0),
                    _ => None,
                })
                .collect()
        });
        assert_eq!(received, vec![amount_msat], "what we received");
        hash
    }

    /// Our invoice for `amount_msat`, paid by Electrum; returns the hash
    /// once both sides agree it was paid.
    pub fn electrum_pays_us(&self, amount_msat: u64) -> PaymentHash {
        let pending = self.electrum_pay_start(amount_msat);
        self.electrum_pay_finish(pending)
    }

    /// Our node connects to Electrum again unless either side already
    /// reconnected, and waits until the channel at `point` is usable on
    /// both sides (`channel_reestablish` done).
    pub fn reconnect(&self, point: &OutPoint) {
        let id = self.electrum.node_id;
        let start = Instant::now();
        while !self.ours.is_connected(&id) && start.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if !self.ours.is_connected(&id) {
            self.ours.connect(id, self.electrum.ln_addr);
        }
        self.wait_open(point);
    }

    /// Electrum's request for `amount_sat`: (its id, the BOLT 11 invoice).
    pub fn electrum_invoice(&self, amount_sat: u64) -> (String, String) {
        let req = self.electrum.call(
            "add_request",
            json!({"amount": btc(amount_sat), "memo": "interop", "expiration": 3600, "force": true}),
        );
        (
            req["request_id"].as_str().unwrap().to_owned(),
            req["lightning_invoice"].as_str().unwrap().to_owned(),
        )
    }

    /// We pay an Electrum invoice for `amount_sat`; returns the hash once
    /// our payment succeeded and Electrum's request says paid.
    pub fn we_pay_electrum(&self, amount_sat: u64) -> PaymentHash {
        let (key, invoice) = self.electrum_invoice(amount_sat);
        let id = self
            .ours
            .with(|n| n.pay_invoice_str(&invoice, now()))
            .unwrap_or_else(|e| panic!("pay {amount_sat} sat: {e:?}"));
        self.wait_payment(&id, PaymentStatus::Succeeded);
        let details = self.ours.with(|n| n.payment(&id)).unwrap();
        assert_eq!(details.amount_msat.0, amount_sat * 1000);
        self.wait_electrum("Electrum's request is paid", |e| {
            e.call("get_request", json!({"request_id": key}))["status"] == json!(3)
        });
        PaymentHash(id.0)
    }

    /// Waits until our payment `id` ends, and checks it ended `want`.
    pub fn wait_payment(&self, id: &PaymentId, want: PaymentStatus) {
        self.ours.wait_until("our payment ends", LIMIT, |s| {
            s.node
                .payment(id)
                .is_some_and(|p| p.status != PaymentStatus::Pending)
        });
        let details = self.ours.with(|n| n.payment(id));
        assert_eq!(
            details.as_ref().map(|d| d.status),
            Some(want),
            "our payment: {details:?}\nElectrum's log:\n{}",
            self.electrum.log_tail(60)
        );
    }

    /// Waits until no HTLC is pending on either side of the channel at
    /// `point` and both agree on the balances: Electrum's local balance is
    /// the capacity less ours, each rounded down to the satoshi. Returns
    /// our balance (msat).
    pub fn wait_balances_agree(&self, point: &OutPoint) -> u64 {
        let start = Instant::now();
        loop {
            let ours = self.our_channel(point).unwrap();
            let theirs = self.electrum_channel(point).unwrap();
            let cap = ours.capacity_sat.to_sat();
            let our_msat = ours.local_balance_msat.0;
            let settled = theirs["local_unsettled_sent"] == json!(0)
                && theirs["remote_unsettled_sent"] == json!(0);
            let agree = theirs["local_balance"].as_u64() == Some((cap * 1000 - our_msat) / 1000)
                && theirs["remote_balance"].as_u64() == Some(our_msat / 1000);
            if settled && agree {
                return our_msat;
            }
            assert!(
                start.elapsed() < LIMIT,
                "balances disagree: ours {ours:#?}\nElectrum's {theirs:#}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The transaction in the mempool spending `outpoint`, waiting for it.
    pub fn wait_spender(&self, outpoint: &OutPoint) -> Transaction {
        let start = Instant::now();
        loop {
            if let Some(tx) = self
                .chain
                .mempool()
                .into_iter()
                .find(|t| t.input.iter().any(|i| i.previous_output == *outpoint))
            {
                return tx;
            }
            assert!(
                start.elapsed() < LIMIT,
                "nothing spends {outpoint}; Electrum's log:\n{}",
                self.electrum.log_tail(60)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Script-verifies `tx` against the outputs it spends, on the chain.
    pub fn verify(&self, tx: &Transaction) {
        let spent: Vec<bitcoin::TxOut> = tx
            .input
            .iter()
            .map(|i| {
                self.chain
                    .get_transaction(&i.previous_output.txid)
                    .and_then(|p| p.output.get(i.previous_output.vout as usize).cloned())
                    .unwrap_or_else(|| panic!("{} spends an unknown output", tx.compute_txid()))
            })
            .collect();
        lightning_test_support::verify::verify(tx, &spent)
            .unwrap_or_else(|e| panic!("{} does not verify: {e}", tx.compute_txid()));
    }

    /// Calls Electrum's `command` and gives its error, if any.
    pub fn electrum_try(&self, command: &str, params: Value) -> Result<Value, CallError> {
        self.electrum.try_call(command, params)
    }

    /// The confirmed transaction `txid`.
    pub fn tx(&self, txid: &Txid) -> Option<Transaction> {
        self.chain.get_transaction(txid)
    }

    /// Our channel's id for `point`.
    pub fn channel_id(&self, point: &OutPoint) -> ChannelId {
        self.our_channel(point).unwrap().channel_id
    }

    /// Electrum's on-chain balance, confirmed and unconfirmed, in sat.
    pub fn electrum_onchain_sat(&self) -> u64 {
        let b = self.electrum.call("getbalance", json!({}));
        ["confirmed", "unconfirmed"]
            .iter()
            .filter_map(|k| b[*k].as_str())
            .map(sat)
            .sum()
    }

    /// The `fee_range` Electrum logged for its latest cooperative close
    /// ("Our fee range: {...} and fee: N"): (min, max, the fee it aims at).
    pub fn electrum_close_range(&self) -> Option<(u64, u64, u64)> {
        let log = self.electrum.log();
        let line = log.lines().rev().find(|l| l.contains("Our fee range:"))?;
        let number_after = |key: &str| -> Option<u64> {
            let rest = &line[line.find(key)? + key.len()..];
            let digits: String = rest
                .chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        };
        Some((
            number_after("min_fee_satoshis")?,
            number_after("max_fee_satoshis")?,
            number_after("and fee:")?,
        ))
    }

    /// Closes the channel at `point` cooperatively (`by_us` chooses who
    /// asks), checks the closing transaction (script-verified, spending the
    /// funding output alone, each side paid its balance rounded down, the
    /// funder's less the fee, the fee inside the `fee_range` Electrum
    /// logged), mines it, and waits until both sides see the channel closed
    /// and Electrum's wallet holds its output. Returns the transaction.
    pub fn cooperative_close(&mut self, point: &OutPoint, by_us: bool) -> Transaction {
        let our_msat = self.wait_balances_agree(point);
        let details = self.our_channel(point).unwrap();
        let capacity = details.capacity_sat.to_sat();
        let electrum_before = self.electrum_onchain_sat();
        if by_us {
            let id = details.channel_id;
            self.ours.with(|n| n.close_channel(id)).unwrap();
        } else {
            let txid = self
                .electrum
                .call("close_channel", json!({"channel_point": point.to_string()}));
            assert!(txid.as_str().is_some(), "close_channel gave {txid}");
        }
        let closing = self.wait_spender(point);
        self.verify(&closing);
        assert_eq!(closing.input.len(), 1, "{closing:?}");
        let our_script = self.ours.shutdown_script();
        let our_out: u64 = closing
            .output
            .iter()
            .filter(|o| o.script_pubkey == our_script)
            .map(|o| o.value.to_sat())
            .sum();
        let total: u64 = closing.output.iter().map(|o| o.value.to_sat()).sum();
        let their_out = total - our_out;
        let fee = capacity - total;
        let their_msat = capacity * 1000 - our_msat;
        if details.is_outbound {
            assert_eq!(their_out, their_msat / 1000, "Electrum's output");
            assert_eq!(our_out + fee, our_msat / 1000, "our output pays the fee");
        } else {
            assert_eq!(our_out, our_msat / 1000, "our output");
            assert_eq!(
                their_out + fee,
                their_msat / 1000,
                "Electrum's output pays the fee"
            );
        }
        let (min, max, aim) = self
            .electrum_close_range()
            .expect("Electrum logged its fee range");
        assert!(
            min <= fee && fee <= max,
            "closing fee {fee} sat outside Electrum's range [{min}, {max}] (it aimed at {aim})"
        );
        eprintln!(
            "cooperative close (by {}): fee {fee} sat; Electrum's fee_range [{min}, {max}], aiming at {aim}",
            if by_us { "us" } else { "Electrum" }
        );
        self.mine(1);
        assert_eq!(
            self.chain.tx_confirmations(&closing.compute_txid()),
            Some(1)
        );
        self.ours.wait_until("our side is closed", LIMIT, |s| {
            s.node
                .list_channels()
                .iter()
                .any(|c| c.funding_txo == Some(*point) && c.phase == Phase::Closed)
        });
        self.wait_electrum("Electrum sees the close", |_| {
            self.electrum_channel(point).is_some_and(|c| {
                ["CLOSED", "REDEEMED"].contains(&c["state"].as_str().unwrap_or(""))
            })
        });
        self.wait_electrum("Electrum's wallet holds its output", |_| {
            self.electrum_onchain_sat() == electrum_before + their_out
        });
        closing
    }

    /// An invoice for `amount_msat` with a payment hash our node never
    /// issued, signed with our node's key (`m/0'` of the host's seed, as
    /// `KeysManager` derives it): Electrum pays it to us and we must fail
    /// it with `incorrect_or_unknown_payment_details`.
    pub fn invoice_we_never_issued(&self, amount_msat: u64) -> (PaymentHash, String) {
        use bitcoin::bip32::{ChildNumber, Xpriv};
        use bitcoin::secp256k1::SECP256K1;
        use lightning_wire::bolt11::{Currency, InvoiceBuilder, PaymentSecret};
        use lightning_wire::features::Bolt11InvoiceFeatures;
        let master = Xpriv::new_master(Network::Bitcoin, &OUR_SEED).unwrap();
        let secret = master
            .derive_priv(SECP256K1, &[ChildNumber::from_hardened_idx(0).unwrap()])
            .unwrap()
            .private_key;
        assert_eq!(secret.public_key(SECP256K1), self.ours.node_id());
        let hash = PaymentHash([0x42; 32]);
        let mut features = Bolt11InvoiceFeatures::empty();
        features.set_required(Feature::VarOnionOptin);
        features.set_required(Feature::PaymentSecret);
        let invoice = InvoiceBuilder::new(Currency::Regtest)
            .amount_msat(amount_msat)
            .timestamp(now().as_secs())
            .payment_hash(hash)
            .payment_secret(PaymentSecret([0x43; 32]))
            .description("never issued")
            .expiry(3600)
            .min_final_cltv_expiry_delta(u64::from(our_config().min_final_cltv_expiry_delta))
            .features(features)
            .build_signed(&secret)
            .unwrap();
        (hash, invoice.to_string())
    }

    /// Electrum's `lnpay` of `invoice`, which must fail: the failure
    /// names (`code_name`) Electrum decoded from the error onion, last
    /// attempt last.
    pub fn electrum_pay_fails(&self, invoice: &str) -> Vec<String> {
        let result = self
            .electrum
            .try_call_for(
                "lnpay",
                json!({"invoice": invoice, "timeout": 60}),
                Duration::from_secs(90),
            )
            .unwrap_or_else(|e| panic!("lnpay: {e}\n{}", self.electrum.log_tail(60)));
        assert_eq!(result["success"], json!(false), "{result:#}");
        result["log"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry[2].as_str().unwrap_or("").to_owned())
            .collect()
    }

    /// Electrum's latest commitment transaction for the channel at
    /// `point` (`get_channel_ctx`): signed by Electrum and by us.
    pub fn electrum_commitment(&self, point: &OutPoint) -> Transaction {
        let hex = self.electrum.call(
            "get_channel_ctx",
            json!({"channel_point": point.to_string(), "iknowwhatimdoing": true}),
        );
        bitcoin::consensus::encode::deserialize_hex(hex.as_str().unwrap()).unwrap()
    }

    /// The fee a transaction spending the funding output at `point` pays.
    pub fn fee_from(&self, point: &OutPoint, tx: &Transaction) -> u64 {
        let capacity = self.our_channel(point).unwrap().capacity_sat.to_sat();
        capacity - tx.output.iter().map(|o| o.value.to_sat()).sum::<u64>()
    }
}

/// Our node's seed in these scenarios.
pub const OUR_SEED: [u8; 32] = [32; 32];
