//! A real `Node` (the victim, seed 2) and a hostile peer (seed 1) that
//! speaks BOLT 8 and BOLT 1 through its own `PeerManager` and drives a
//! funder `Channel` by hand, so it can say what an honest funder never
//! would: a `funding_created` naming an output that is missing, smaller,
//! or locked to another script, signed as a real funder signs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::SecretKey;
use bitcoin::{Amount, Network, OutPoint, ScriptBuf, Transaction};
use lightning_chain::sim::{SimChainHandle, SimWallet};
use lightning_chain::{ChainListener, FeeEstimator, FeeRate, FixedFeeEstimator};
use lightning_core::channel::commitments::{sign_counterparty, CommitmentBasis};
use lightning_core::channel::update_log::{Side, Which};
use lightning_core::channel::{Channel, ChannelConfig, ChannelEvent};
use lightning_core::keys::{ChannelSigner, InMemorySigner, KeysManager};
use lightning_core::node::{Event, Node, NodeConfig, NodeHost, Persistence};
use lightning_core::peer::{PeerConfig, PeerEvent, PeerId, PeerManager};
use lightning_persist::MemoryStore;
use lightning_wire::msgs::{ChannelReady, FundingCreated, Message};
use lightning_wire::types::{ChainHash, ChannelId};

/// What the hostile funder puts at the outpoint it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Funding {
    /// The honest output: the 2-of-2 P2WSH with `funding_satoshis`.
    Honest,
    /// The 2-of-2, one satoshi short of `funding_satoshis`.
    WrongAmount,
    /// `funding_satoshis`, to the attacker's own wallet script.
    WrongScript,
    /// An index past the transaction's last output.
    MissingIndex,
}

/// How blocks reach the victim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// `block_connected` with the full block.
    FullBlocks,
    /// A light client: `transactions_confirmed` with the funding
    /// transaction alone (a filter's match), then `best_block_updated`.
    LightClient,
}

pub const FUNDING_SAT: u64 = 1_000_000;
/// Pushed to the victim, so that it has a balance a payment could use.
pub const PUSH_MSAT: u64 = 400_000_000;
const TEMP_ID: ChannelId = ChannelId([7; 32]);

pub fn victim_config() -> NodeConfig {
    let mut c = NodeConfig::new(Network::Regtest);
    c.channel.minimum_depth = 3;
    c
}

pub struct Hostile {
    pub chain: SimChainHandle,
    pub wallet: SimWallet,
    pub victim: Node,
    victim_peer: PeerId,
    fed: u32,
    pub pm: PeerManager,
    pm_peer: PeerId,
    pub keys: KeysManager,
    /// Messages the victim sent to the attacker (`error`s included).
    pub received: Vec<Message>,
    /// The victim's events.
    pub events: Vec<Event>,
    pub now: Duration,
    pub feed: Feed,
    /// The attacker's funder channel.
    pub funder: Option<Channel<InMemorySigner>>,
}

impl Hostile {
    pub fn new(config: NodeConfig, fees: Arc<dyn FeeEstimator + Send + Sync>, feed: Feed) -> Self {
        Self::with_features(config, fees, feed, NodeConfig::default_features())
    }

    /// [`Hostile::new`] with the attacker's `init` features.
    pub fn with_features(
        config: NodeConfig,
        fees: Arc<dyn FeeEstimator + Send + Sync>,
        feed: Feed,
        attacker_features: lightning_wire::features::InitFeatures,
    ) -> Self {
        let chain = SimChainHandle::new();
        let wallet = SimWallet::from_seed([9; 32], chain.clone());
        chain.mine_blocks(101, &wallet.script_pubkey());
        let host = NodeHost {
            broadcaster: Arc::new(chain.clone()),
            fee_estimator: fees,
        };
        let victim = Node::new(
            &[2; 32],
            config,
            Persistence::Inline(Arc::new(MemoryStore::new())),
            host,
            chain.best_block(),
        )
        .unwrap();
        let keys = KeysManager::new(&[1; 32]).unwrap();
        let mut pm = PeerManager::new(
            PeerConfig::new(ChainHash::for_network(Network::Regtest), attacker_features),
            bitcoin::secp256k1::Keypair::from_secret_key(
                bitcoin::secp256k1::SECP256K1,
                &attacker_secret(),
            ),
        );
        let now = Duration::from_secs(1_700_000_000);
        let (pm_peer, act_one) = pm.connect_outbound(
            victim.node_id(),
            &SecretKey::from_slice(&[0x55; 32]).unwrap(),
            now,
        );
        let fed = chain.best_block().height;
        let mut h = Hostile {
            chain,
            wallet,
            victim,
            victim_peer: PeerId(0),
            fed,
            pm,
            pm_peer,
            keys,
            received: Vec::new(),
            events: Vec::new(),
            now,
            feed,
            funder: None,
        };
        h.victim_peer = h.victim.accept_inbound(now);
        h.victim.handle_bytes(h.victim_peer, &act_one, now).unwrap();
        h.shuttle();
        h
    }

    /// A victim with the default test config and a fixed 1000 sat/kw.
    pub fn with_defaults(feed: Feed) -> Self {
        Self::new(
            victim_config(),
            Arc::new(FixedFeeEstimator::new(FeeRate::from_sat_per_kw(1000))),
            feed,
        )
    }

    /// Moves bytes both ways until both sides are quiet.
    pub fn shuttle(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(bytes) = self.pm.poll_transmit(self.pm_peer) {
                moved = true;
                let _ = self.victim.handle_bytes(self.victim_peer, &bytes, self.now);
            }
            while let Some(bytes) = self.victim.poll_transmit(self.victim_peer) {
                moved = true;
                let _ = self.pm.handle_bytes(self.pm_peer, &bytes, self.now);
            }
            while let Some(e) = self.pm.poll_event() {
                match e {
                    PeerEvent::Message { message, .. } => self.received.push(*message),
                    PeerEvent::ErrorReceived {
                        channel_id, data, ..
                    } => self
                        .received
                        .push(Message::Error(lightning_wire::msgs::Error {
                            channel_id,
                            data,
                            tlvs: Default::default(),
                        })),
                    PeerEvent::WarningReceived {
                        channel_id, data, ..
                    } => self
                        .received
                        .push(Message::Warning(lightning_wire::msgs::Warning {
                            channel_id,
                            data,
                            tlvs: Default::default(),
                        })),
                    _ => {}
                }
            }
            while let Some(e) = self.victim.poll_event() {
                self.events.push(e);
            }
            if !moved {
                return;
            }
        }
        panic!("never quiet");
    }

    pub fn send(&mut self, m: &Message) {
        self.pm.send_message(self.pm_peer, m).unwrap();
        self.shuttle();
    }

    fn take_received(&mut self, pick: impl Fn(&Message) -> bool) -> Option<Message> {
        let i = self.received.iter().position(pick)?;
        Some(self.received.remove(i))
    }

    /// Opens a channel of [`FUNDING_SAT`] to the victim as funder and
    /// answers `accept_channel` with a `funding_created` for an output of
    /// the kind `funding` says, signed for the victim's first commitment.
    /// Returns the funding transaction (in the mempool) and the outpoint
    /// named.
    pub fn open_and_fund(&mut self, funding: Funding) -> (Transaction, OutPoint) {
        self.open_and_fund_with(funding, false)
    }

    /// [`Hostile::open_and_fund`], asking for `option_zeroconf` when
    /// `zeroconf` (the victim must trust the attacker for it).
    pub fn open_and_fund_with(
        &mut self,
        funding: Funding,
        zeroconf: bool,
    ) -> (Transaction, OutPoint) {
        let config = ChannelConfig {
            chain_hash: ChainHash::for_network(Network::Regtest),
            trusted_for_zeroconf: zeroconf,
            minimum_depth: if zeroconf { 0 } else { 3 },
            ..ChannelConfig::default()
        };
        let signer = self.keys.derive_channel_signer(0).unwrap();
        let (mut ch, open) =
            Channel::new_outbound(signer, config, 0, TEMP_ID, FUNDING_SAT, PUSH_MSAT, 1000)
                .unwrap();
        self.send(&Message::OpenChannel(open));
        let accept = self
            .take_received(|m| matches!(m, Message::AcceptChannel(_)))
            .unwrap_or_else(|| panic!("no accept_channel: {:?}", self.received));
        let out = ch.handle_message(&accept).unwrap();
        let Some(ChannelEvent::FundingNeeded { script_pubkey, .. }) = out.events.first().cloned()
        else {
            panic!("no FundingNeeded")
        };
        let elsewhere = ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::from_raw_hash(
            bitcoin::hashes::Hash::hash(b"the attacker's own script"),
        ));
        let (tx, vout) = match funding {
            Funding::Honest => (self.fund(FUNDING_SAT, &script_pubkey), 0),
            Funding::WrongAmount => (self.fund(FUNDING_SAT - 1, &script_pubkey), 0),
            Funding::WrongScript => (self.fund(FUNDING_SAT, &elsewhere), 0),
            Funding::MissingIndex => {
                let tx = self.fund(FUNDING_SAT, &script_pubkey);
                let past = u32::try_from(tx.output.len()).unwrap();
                (tx, past)
            }
        };
        let outpoint = OutPoint {
            txid: tx.compute_txid(),
            vout,
        };
        // Sign the victim's commitment 0 spending `outpoint`, as the
        // funder's `funding_transaction` would for an honest output.
        let st = ch.state();
        let local = ch.signer().pubkeys();
        let remote = st.remote_keys.unwrap();
        let basis = CommitmentBasis {
            we_are_funder: true,
            channel_type: st.channel_type,
            funding_outpoint: outpoint,
            funding_satoshis: st.funding_satoshis,
            local_keys: &local,
            remote_keys: &remote,
            local_params: &st.local_params,
            remote_params: &st.remote_params,
        };
        let point = st.remote_points.unwrap().current;
        let keys = ch.signer().counterparty_commitment_keys(&point).unwrap();
        let ctx = basis
            .build_with_keys(&st.log.view(Side::Remote, Which::Current), 0, &keys)
            .unwrap();
        let (signature, _) = sign_counterparty(ch.signer(), &ctx).unwrap();
        self.send(&Message::FundingCreated(FundingCreated {
            temporary_channel_id: TEMP_ID,
            funding_txid: outpoint.txid,
            funding_output_index: u16::try_from(vout).unwrap(),
            signature,
            tlvs: Default::default(),
        }));
        assert!(
            self.take_received(|m| matches!(m, Message::FundingSigned(_)))
                .is_some(),
            "the victim signs the funder's commitment: {:?}",
            self.received
        );
        self.chain.submit_transaction(tx.clone()).unwrap();
        self.funder = Some(ch);
        (tx, outpoint)
    }

    /// Sends an `open_channel` of `funding_sat` (with `channel_type`
    /// `zeroconf` if asked) and returns the victim's answer.
    pub fn open_only(&mut self, funding_sat: u64, zeroconf: bool) -> Message {
        let config = ChannelConfig {
            chain_hash: ChainHash::for_network(Network::Regtest),
            trusted_for_zeroconf: zeroconf,
            minimum_depth: if zeroconf { 0 } else { 3 },
            ..ChannelConfig::default()
        };
        let signer = self.keys.derive_channel_signer(0).unwrap();
        let (_, open) =
            Channel::new_outbound(signer, config, 0, TEMP_ID, funding_sat, 0, 1000).unwrap();
        self.send(&Message::OpenChannel(open));
        self.take_received(|m| matches!(m, Message::AcceptChannel(_) | Message::Error(_)))
            .unwrap_or_else(|| panic!("no answer: {:?}", self.received))
    }

    fn fund(&self, amount: u64, script: &ScriptBuf) -> Transaction {
        self.wallet.fund(Amount::from_sat(amount), script).unwrap()
    }

    /// The attacker's `channel_ready` for the channel on `outpoint`.
    pub fn send_channel_ready(&mut self, outpoint: OutPoint) {
        let ch = self.funder.as_ref().unwrap();
        let point = ch.signer().holder_per_commitment_point(1).unwrap();
        let m = Message::ChannelReady(ChannelReady {
            channel_id: channel_id_of(outpoint),
            second_per_commitment_point: point,
            tlvs: Default::default(),
        });
        self.send(&m);
    }

    /// Mines `n` blocks and feeds them to the victim the way `feed` says.
    pub fn mine(&mut self, n: usize, funding: &Transaction) {
        self.chain.mine_blocks(n, &self.wallet.script_pubkey());
        let tip = self.chain.best_block().height;
        for h in self.fed + 1..=tip {
            let block = self.chain.block_at(h).unwrap();
            match self.feed {
                Feed::FullBlocks => self.victim.block_connected(&block, h),
                Feed::LightClient => {
                    let txid = funding.compute_txid();
                    let matched: Vec<(usize, &Transaction)> = block
                        .txdata
                        .iter()
                        .enumerate()
                        .filter(|(_, tx)| tx.compute_txid() == txid)
                        .collect();
                    if !matched.is_empty() {
                        self.victim
                            .transactions_confirmed(&block.header, &matched, h);
                    }
                    self.victim.best_block_updated(&block.header, h);
                }
            }
        }
        self.fed = tip;
        self.shuttle();
    }

    pub fn became_ready(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, Event::ChannelReady { .. }))
    }

    pub fn closed_reason(&self) -> Option<String> {
        self.events.iter().find_map(|e| match e {
            Event::ChannelClosed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
    }

    /// An invoice the attacker's node key signed, for the victim to try
    /// to pay.
    pub fn attacker_invoice(&self, amount_msat: u64) -> lightning_wire::bolt11::Bolt11Invoice {
        use bitcoin::hashes::{sha256, Hash};
        use lightning_wire::bolt11::{Currency, InvoiceBuilder, PaymentSecret};
        use lightning_wire::features::{Bolt11InvoiceFeatures, Feature};
        let mut features = Bolt11InvoiceFeatures::empty();
        features.set_required(Feature::VarOnionOptin);
        features.set_required(Feature::PaymentSecret);
        InvoiceBuilder::new(Currency::Regtest)
            .amount_msat(amount_msat)
            .timestamp(self.now.as_secs())
            .payment_hash(sha256::Hash::hash(b"bait").into())
            .payment_secret(PaymentSecret([3; 32]))
            .description("bait")
            .expiry(3600)
            .min_final_cltv_expiry_delta(18)
            .features(features)
            .build_signed(&attacker_secret())
            .unwrap()
    }
}

/// The attacker's node key.
pub fn attacker_secret() -> SecretKey {
    SecretKey::from_slice(&[0x21; 32]).unwrap()
}

pub fn channel_id_of(outpoint: OutPoint) -> ChannelId {
    ChannelId::v1_from_funding_outpoint(&outpoint.txid, u16::try_from(outpoint.vout).unwrap())
}
