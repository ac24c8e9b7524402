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
use lightning_core::node::{Event, InvoiceStatus, Node, Persistence};
use lightning_core::onion::{build_payment_onion, HopPayload, PaymentData};
use lightning_core::Msat;
use lightning_persist::MemoryStore;
use lightning_wire::msgs::Message;
use lightning_wire::types::{ChannelId, PaymentHash};
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
        self.offer_together(&[(amount_msat, hash, cltv, onion)])[0]
    }

    /// Offers the HTLCs `(amount_msat, hash, cltv, onion)` in one
    /// commitment and returns, for each, whether the node fulfilled it.
    fn offer_together(&mut self, htlcs: &[(u64, [u8; 32], u32, Vec<u8>)]) -> Vec<bool> {
        let mut ids = Vec::new();
        for (amount_msat, hash, cltv, onion) in htlcs {
            let (id, out) = self
                .ch
                .send_htlc(*amount_msat, PaymentHash(*hash), *cltv, onion.clone())
                .unwrap();
            for m in out.messages {
                self.raw.queue(&m);
            }
            ids.push(id);
        }
        self.pump();
        ids.iter()
            .map(|id| {
                let outcome = self.events.iter().find_map(|e| match e {
                    ChannelEvent::HtlcFulfilled { htlc_id, .. } if htlc_id == id => Some(true),
                    ChannelEvent::HtlcFailed { htlc_id, .. } if htlc_id == id => Some(false),
                    _ => None,
                });
                outcome.expect("the HTLC was answered")
            })
            .collect()
    }

    /// The node's events so far (acknowledging them).
    fn node_events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.node.poll_event()).collect()
    }
}

/// A raw peer that funded a usable channel of 500,000 sat to the node.
fn setup() -> (Setup, SimWallet) {
    let chain = SimChainHandle::new();
    let wallet = SimWallet::from_seed([9; 32], chain.clone());
    chain.mine_blocks(101, &wallet.script_pubkey());
    let store = Arc::new(MemoryStore::new());
    let mut node = Node::new(
        &[40; 32],
        node_config(),
        Persistence::Inline(store),
        host(&chain),
        chain.best_block(),
    )
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
    let invoice = s
        .node
        .create_invoice(
            Some(lightning_core::amount::Msat(20_000)),
            "x",
            std::time::Duration::from_secs(3600),
            NOW,
        )
        .unwrap();
    let hash: [u8; 32] = invoice.payment_hash().0;
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
    let (onion, _) =
        build_payment_onion(&session, &[(s.node.node_id(), payload)], &PaymentHash(hash)).unwrap();
    let mut packet = Vec::new();
    onion.encode(&mut packet);

    assert!(s.offer(20_000, hash, cltv, packet.clone()), "the payment");
    assert!(!s.offer(20_000, hash, cltv, packet), "the replay");
}

/// An onion paying `amount_msat` of `total_msat` for `invoice` to the
/// node, built with session key `[session; 32]`.
fn payment_onion(
    s: &Setup,
    invoice: &lightning_wire::bolt11::Bolt11Invoice,
    amount_msat: u64,
    total_msat: u64,
    cltv: u32,
    session: u8,
) -> Vec<u8> {
    let payload = HopPayload {
        amt_to_forward: Some(amount_msat),
        outgoing_cltv_value: Some(cltv),
        payment_data: Some(PaymentData {
            payment_secret: invoice.payment_secret().0,
            total_msat,
        }),
        ..HopPayload::default()
    };
    let session = SecretKey::from_slice(&[session; 32]).unwrap();
    let hash: [u8; 32] = invoice.payment_hash().0;
    let (onion, _) =
        build_payment_onion(&session, &[(s.node.node_id(), payload)], &PaymentHash(hash)).unwrap();
    let mut packet = Vec::new();
    onion.encode(&mut packet);
    packet
}

/// Issue 14: HTLCs are tracked by (channel, htlc id), not by payment hash.
/// Two HTLCs with one hash in one commitment, each a valid onion paying
/// the whole invoice (a payer paying twice, or a hostile peer): the first
/// pays the invoice and is fulfilled; the second is a different HTLC for a
/// paid invoice and is failed (BOLT 4, final node: for a payment hash
/// already paid it "MAY treat the payment hash as unknown"), not claimed
/// silently. One `PaymentReceived`, for the one HTLC claimed. (Before
/// issue 14 both were claimed: 40,000 msat taken, 20,000 reported.)
#[test]
fn two_htlcs_with_one_hash_are_answered_each_on_its_own() {
    let (mut s, _wallet) = setup();
    let invoice = s
        .node
        .create_invoice(
            Some(lightning_core::amount::Msat(20_000)),
            "x",
            std::time::Duration::from_secs(3600),
            NOW,
        )
        .unwrap();
    let hash: [u8; 32] = invoice.payment_hash().0;
    let cltv = s.chain.best_block().height + 30;
    let first = payment_onion(&s, &invoice, 20_000, 20_000, cltv, 0x31);
    let second = payment_onion(&s, &invoice, 20_000, 20_000, cltv, 0x32);
    assert_ne!(first, second, "two different onions (no replay)");

    let answers = s.offer_together(&[(20_000, hash, cltv, first), (20_000, hash, cltv, second)]);
    assert_eq!(
        answers,
        vec![true, false],
        "the first pays, the second fails"
    );

    let received: Vec<u64> = s
        .node_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::PaymentReceived {
                payment_hash,
                amount_msat,
            } if payment_hash.0 == hash => Some(amount_msat.0),
            _ => None,
        })
        .collect();
    assert_eq!(received, vec![20_000], "one payment received, once");
    let inv = s
        .node
        .list_invoices()
        .into_iter()
        .find(|i| i.payment_hash.0 == hash)
        .unwrap();
    assert_eq!(inv.status, InvoiceStatus::Paid);
    assert_eq!(inv.amount_received_msat.0, 20_000);
    // Our side of the channel holds the one HTLC claimed, not two.
    let balance = s.node.list_channels()[0].local_balance_msat.0;
    assert_eq!(balance, 20_000, "exactly one HTLC's amount is ours");
}

/// Issue 14: two parts of one payment (one hash, each half of the total)
/// are answered each on its own: the node takes no multi-part payments,
/// so both fail and the invoice stays open; a third HTLC with the same
/// hash carrying the whole amount then pays it.
#[test]
fn parts_of_one_hash_fail_each_and_a_whole_htlc_still_pays() {
    let (mut s, _wallet) = setup();
    let invoice = s
        .node
        .create_invoice(
            Some(lightning_core::amount::Msat(20_000)),
            "x",
            std::time::Duration::from_secs(3600),
            NOW,
        )
        .unwrap();
    let hash: [u8; 32] = invoice.payment_hash().0;
    let cltv = s.chain.best_block().height + 30;
    let a = payment_onion(&s, &invoice, 10_000, 20_000, cltv, 0x41);
    let b = payment_onion(&s, &invoice, 10_000, 20_000, cltv, 0x42);
    let answers = s.offer_together(&[(10_000, hash, cltv, a), (10_000, hash, cltv, b)]);
    assert_eq!(answers, vec![false, false], "no multi-part payments");
    assert!(
        s.node_events()
            .iter()
            .all(|e| !matches!(e, Event::PaymentReceived { .. })),
        "nothing received"
    );
    let whole = payment_onion(&s, &invoice, 20_000, 20_000, cltv, 0x43);
    assert!(s.offer(20_000, hash, cltv, whole), "the whole payment");
    let received = s
        .node_events()
        .into_iter()
        .filter(|e| matches!(e, Event::PaymentReceived { payment_hash, amount_msat: Msat(20_000) } if payment_hash.0 == hash))
        .count();
    assert_eq!(received, 1);
    assert_eq!(s.node.list_channels()[0].local_balance_msat.0, 20_000);
}
