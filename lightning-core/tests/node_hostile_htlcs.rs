//! A hostile peer with a funded channel to a real `Node` (issue 13,
//! finding 10): the onion replay cache is on.
//!
//! The peer drives its side of the channel with the library's own
//! `Channel`, so it can offer any HTLC with any onion.
#![allow(clippy::unwrap_used)]

mod node_hostile_support;

use std::sync::Arc;

use bitcoin::secp256k1::SecretKey;
use bitcoin::Amount;
use lightning_chain::sim::{SimChainHandle, SimWallet};
use lightning_chain::{Broadcaster, ChainListener};
use lightning_core::channel::{Channel, ChannelEvent, Phase};
use lightning_core::keys::InMemorySigner;
use lightning_core::node::{Node, NodeBuilder, Persistence};
use lightning_core::onion::{build_payment_onion, HopPayload, PaymentData};
use lightning_persist::MemoryStore;
use lightning_wire::msgs::Message;
use lightning_wire::types::ChannelId;
use lightning_wire::Encode;
use node_hostile_support::{host, node_config, take_accept, Got, Raw, NOW};

struct Setup {
    chain: SimChainHandle,
    node: Node,
    raw: Raw,
    ch: Channel<InMemorySigner>,
    fed: u32,
    events: Vec<ChannelEvent>,
}

impl Setup {
    /// Messages both ways until quiet; the raw side signs whenever it has
    /// something to commit.
    fn pump(&mut self) {
        for _ in 0..1000 {
            self.raw.shuttle(&mut self.node);
            let msgs: Vec<Message> = self
                .raw
                .take()
                .into_iter()
                .map(|g| match g {
                    Got::Message(m) => m,
                    Got::Warning(_, d) | Got::Error(_, d) => {
                        panic!("node complained: {}", String::from_utf8_lossy(&d))
                    }
                    Got::Disconnected => panic!("disconnected"),
                })
                .collect();
            let mut sent = false;
            for m in msgs {
                let out = self.ch.handle_message(&m).unwrap();
                self.events.extend(out.events);
                for m in out.messages {
                    self.raw.queue(&m);
                    sent = true;
                }
            }
            let out = self.ch.commit().unwrap();
            self.events.extend(out.events);
            for m in out.messages {
                self.raw.queue(&m);
                sent = true;
            }
            if !sent && self.raw.pm.queued_bytes(self.raw.peer) == 0 {
                self.raw.shuttle(&mut self.node);
                if self.raw.got.is_empty() {
                    return;
                }
            }
        }
        panic!("never quiet");
    }

    fn mine(&mut self, n: usize, wallet: &SimWallet) {
        self.chain.mine_blocks(n, &wallet.script_pubkey());
        let tip = self.chain.best_block().height;
        for h in self.fed + 1..=tip {
            let block = self.chain.block_at(h).unwrap();
            self.node.block_connected(&block, h);
        }
        self.fed = tip;
    }

    /// Offers an HTLC with `onion` and returns whether the node fulfilled it.
    fn offer(&mut self, amount_msat: u64, hash: [u8; 32], cltv: u32, onion: Vec<u8>) -> bool {
        let (id, out) = self.ch.send_htlc(amount_msat, hash, cltv, onion).unwrap();
        for m in out.messages {
            self.raw.queue(&m);
        }
        self.pump();
        let outcome = self.events.iter().find_map(|e| match e {
            ChannelEvent::HtlcFulfilled { htlc_id, .. } if *htlc_id == id => Some(true),
            ChannelEvent::HtlcFailed { htlc_id, .. } if *htlc_id == id => Some(false),
            _ => None,
        });
        outcome.expect("the HTLC was answered")
    }
}

/// A raw peer that funded a usable channel of 500,000 sat to the node.
fn setup() -> (Setup, SimWallet) {
    let chain = SimChainHandle::new();
    let wallet = SimWallet::from_seed([9; 32], chain.clone());
    chain.mine_blocks(101, &wallet.script_pubkey());
    let store = Arc::new(MemoryStore::new());
    let mut node = NodeBuilder::from_config(node_config())
        .seed(&[40; 32])
        .persistence(Persistence::Inline(store))
        .host(host(&chain))
        .best_block(chain.best_block())
        .build()
        .unwrap();
    let mut raw = Raw::connect(&mut node, 0x41);
    let (mut ch, open) = raw.new_channel(0, ChannelId([0x42; 32]), 500_000);
    let accept = raw.open(&mut node, &open).unwrap();
    let (script, amount) = take_accept(&mut ch, accept);
    let tx = wallet.fund(Amount::from_sat(amount), &script).unwrap();
    let out = ch.funding_transaction(tx.clone()).unwrap();
    for m in out.messages {
        raw.queue(&m);
    }
    let fed = chain.best_block().height;
    let mut s = Setup {
        chain,
        node,
        raw,
        ch,
        fed,
        events: Vec::new(),
    };
    s.pump();
    assert_eq!(s.ch.phase(), Phase::AwaitingChannelReady);
    s.chain.broadcast_transactions(&[&tx]);
    s.mine(3, &wallet);
    let scid = s
        .node
        .list_channels()
        .into_iter()
        .find_map(|c| c.short_channel_id)
        .expect("the node saw the funding confirm");
    let out = s.ch.funding_confirmed(&tx, 3, Some(scid)).unwrap();
    for m in out.messages {
        s.raw.queue(&m);
    }
    s.pump();
    assert_eq!(s.ch.phase(), Phase::Normal);
    assert!(s.node.list_channels()[0].is_usable);
    (s, wallet)
}

/// Finding 10: the same onion in a second HTLC is refused (BOLT 4: a
/// packet previously "locally redeemed"), even for an invoice whose
/// checks it passes; the first is fulfilled.
#[test]
fn a_replayed_onion_is_refused() {
    let (mut s, _wallet) = setup();
    let invoice = s.node.create_invoice(Some(20_000), "x", 3600, NOW).unwrap();
    let hash: [u8; 32] = *invoice.payment_hash().as_ref();
    let cltv = s.chain.best_block().height + 30;
    let payload = HopPayload {
        amt_to_forward: Some(20_000),
        outgoing_cltv_value: Some(cltv),
        payment_data: Some(PaymentData {
            payment_secret: invoice.payment_secret().0,
            total_msat: 20_000,
        }),
        ..HopPayload::default()
    };
    let session = SecretKey::from_slice(&[0x33; 32]).unwrap();
    let (onion, _) = build_payment_onion(&session, &[(s.node.node_id(), payload)], &hash).unwrap();
    let mut packet = Vec::new();
    onion.encode(&mut packet);

    assert!(s.offer(20_000, hash, cltv, packet.clone()), "the payment");
    assert!(!s.offer(20_000, hash, cltv, packet), "the replay");
}
