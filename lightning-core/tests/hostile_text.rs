//! Issue 13, findings 1 and 2: no text a peer controls can crash the node
//! or come back to the peer. A raw peer (our own Noise initiator) talks to
//! a real `Node`; two real `Node`s check that a force-close does not start
//! an `error` ping-pong.
#![allow(clippy::unwrap_used)]

mod node_support;

use std::time::Duration;

use bitcoin::secp256k1::{Keypair, SecretKey, SECP256K1};
use lightning_core::channel::{Channel, MAX_ERROR_TEXT};
use lightning_core::keys::KeysManager;
use lightning_core::node::{Event, Node};
use lightning_core::peer::PeerId;
use lightning_wire::features::{ChannelTypeFeatures, TlvFeatures};
use lightning_wire::msgs::{Error as ErrorMessage, Init, Message, OpenChannel};
use lightning_wire::noise::{HandshakeProgress, NoiseHandshake, NoiseTransport};
use lightning_wire::types::ChannelId;
use node_support::Net;

/// A peer that speaks BOLT 8 and BOLT 1 and then sends whatever it likes.
struct RawPeer {
    peer: PeerId,
    transport: NoiseTransport,
    /// What the node sent us, decrypted (after its `init`).
    inbox: Vec<Message>,
    init: Init,
    now: Duration,
}

impl RawPeer {
    /// Connects to `node` and completes the handshake and `init` exchange
    /// (our `init` repeats the node's own features).
    fn connect(node: &mut Node, now: Duration) -> RawPeer {
        let ours =
            Keypair::from_secret_key(SECP256K1, &SecretKey::from_slice(&[0x77; 32]).unwrap());
        let eph = SecretKey::from_slice(&[0x78; 32]).unwrap();
        let (mut hs, act_one) = NoiseHandshake::new_initiator(&ours, node.node_id(), &eph);
        let peer = node.accept_inbound(now);
        node.handle_bytes(peer, &act_one, now).unwrap();
        let act_two = node.poll_transmit(peer).unwrap();
        let HandshakeProgress::Complete(done) = hs.handle_bytes(&mut &act_two[..]).unwrap() else {
            panic!("act two completes the initiator")
        };
        node.handle_bytes(peer, &done.act_three.unwrap(), now)
            .unwrap();
        let mut raw = RawPeer {
            peer,
            transport: done.transport,
            inbox: Vec::new(),
            init: Init {
                global_features: Default::default(),
                features: Default::default(),
                tlvs: Default::default(),
            },
            now,
        };
        raw.read(node);
        let Some(Message::Init(init)) = raw.inbox.first().cloned() else {
            panic!("the node sends init first: {:?}", raw.inbox)
        };
        raw.inbox.clear();
        raw.init = init.clone();
        raw.send(node, &Message::Init(init)).unwrap();
        raw
    }

    fn send(
        &mut self,
        node: &mut Node,
        m: &Message,
    ) -> Result<(), lightning_core::node::NodeError> {
        let mut wire = Vec::new();
        self.transport
            .encrypt_message(&m.encode().unwrap(), &mut wire)
            .unwrap();
        let result = node.handle_bytes(self.peer, &wire, self.now);
        self.read(node);
        result
    }

    fn read(&mut self, node: &mut Node) {
        while let Some(bytes) = node.poll_transmit(self.peer) {
            let mut input = &bytes[..];
            while let Some(m) = self.transport.read_message(&mut input).unwrap() {
                self.inbox.push(Message::decode(m).unwrap());
            }
        }
    }
}

/// A valid `open_channel` for `node`'s chain, from a key of our own.
fn open_channel(raw: &RawPeer) -> OpenChannel {
    let keys = KeysManager::new(&[0x55; 32]).unwrap();
    let (_, mut open) = Channel::new_outbound(
        keys.derive_channel_signer(0).unwrap(),
        lightning_test_support::pair::config(0x55),
        0,
        ChannelId([0x33; 32]),
        1_000_000,
        0,
        1000,
    )
    .unwrap();
    open.chain_hash = raw.init.tlvs.networks.as_ref().unwrap()[0];
    open
}

fn errors(inbox: &[Message]) -> Vec<&ErrorMessage> {
    inbox
        .iter()
        .filter_map(|m| match m {
            Message::Error(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// Finding 1: an `open_channel` whose `channel_type` is 4 KB of set bits
/// used to make the refusal list all 32,768 bits; the `error` was over
/// 65,535 bytes and encoding it panicked the node. Now the refusal is our
/// own short text.
#[test]
fn huge_channel_type_is_refused_with_a_short_error() {
    let mut net = Net::new(false, false);
    let now = net.now;
    let node = &mut net.b.node;
    let mut raw = RawPeer::connect(node, now);
    let mut open = open_channel(&raw);
    open.tlvs.channel_type = Some(TlvFeatures(ChannelTypeFeatures::from_be_bytes(vec![
        0xff;
        4096
    ])));
    let _ = raw.send(node, &Message::OpenChannel(open.clone()));

    let errs = errors(&raw.inbox);
    assert_eq!(errs.len(), 1, "one refusal: {:?}", raw.inbox.len());
    let e = errs[0];
    assert_eq!(e.channel_id, open.temporary_channel_id);
    assert!(e.data.len() <= MAX_ERROR_TEXT, "{} bytes", e.data.len());
    let text = String::from_utf8(e.data.clone()).unwrap();
    assert!(text.contains("channel_type of 4096 bytes"), "{text}");
    assert!(
        text.bytes().all(|b| b == b' ' || b.is_ascii_graphic()),
        "{text}"
    );

    // The node still works: a valid open is accepted on the same connection.
    let mut good = open_channel(&raw);
    good.temporary_channel_id = ChannelId([0x34; 32]);
    raw.inbox.clear();
    raw.send(node, &Message::OpenChannel(good)).unwrap();
    assert!(
        matches!(raw.inbox[..], [Message::AcceptChannel(_)]),
        "{:?}",
        raw.inbox
    );
}

/// Finding 2: a received `error` of 21.8 KB of `0xff` became three times as
/// many bytes of U+FFFD and was quoted back in our own `error`, over 65,535
/// bytes: the node panicked. Now the peer's text is shown to the host
/// sanitised and bounded, and nothing is sent back.
#[test]
fn invalid_utf8_error_is_not_quoted_back() {
    let mut net = Net::new(false, false);
    let now = net.now;
    let mut raw = RawPeer::connect(&mut net.b.node, now);
    let open = open_channel(&raw);
    raw.send(&mut net.b.node, &Message::OpenChannel(open.clone()))
        .unwrap();
    // The node's gossip sync starts on connection (BOLT 7 queries).
    raw.inbox.retain(|m| {
        !matches!(
            m,
            Message::GossipTimestampFilter(_) | Message::QueryChannelRange(_)
        )
    });
    assert!(matches!(raw.inbox[..], [Message::AcceptChannel(_)]));
    raw.inbox.clear();
    net.b.take_events();

    let hostile = ErrorMessage {
        channel_id: open.temporary_channel_id,
        data: vec![0xff; 21_846],
        tlvs: Default::default(),
    };
    let _ = raw.send(&mut net.b.node, &Message::Error(hostile));
    assert!(
        errors(&raw.inbox).is_empty(),
        "no error answers an error: {:?}",
        raw.inbox.iter().map(Message::name).collect::<Vec<_>>()
    );
    for m in &raw.inbox {
        let bytes = m.encode().unwrap();
        assert!(
            !bytes.windows(16).any(|w| w.iter().all(|b| *b == 0xff)),
            "{} carries the peer's bytes",
            m.name()
        );
    }
    // The host sees what happened, sanitised and bounded.
    let events = net.b.take_events();
    let reasons: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            Event::ChannelClosed { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 1, "{events:?}");
    assert!(reasons[0].len() <= 2 * MAX_ERROR_TEXT, "{}", reasons[0]);
    assert!(reasons[0].contains("????"), "{}", reasons[0]);
    assert!(reasons[0].chars().all(|c| c == ' ' || c.is_ascii_graphic()));
}

/// Finding 2, between two nodes of this SDK: Alice force-closes and sends
/// `error`; Bob fails the channel and does not answer with an `error` of
/// his own quoting hers (which she would quote back, and so on until one
/// of them could not encode it).
#[test]
fn force_close_between_two_nodes_does_not_ping_pong() {
    let mut net = Net::new(false, false);
    let id = net.open_channel(500_000, 0);
    net.a.take_events();
    net.b.take_events();
    net.a.node.force_close_channel(id).unwrap();
    let before = net.steps;
    net.shuttle();
    // Alice's `error` is the only message that crosses.
    assert_eq!(net.steps - before, 1, "messages after the force-close");
    let closed = |events: Vec<Event>| {
        events
            .into_iter()
            .filter_map(|e| match e {
                Event::ChannelClosed { reason, .. } => Some(reason),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let a = closed(net.a.take_events());
    let b = closed(net.b.take_events());
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(b.len(), 1, "{b:?}");
    assert!(b[0].contains("force-closed by the host"), "{}", b[0]);
}

/// Issue 13, finding 10: an invoice whose `min_final_cltv_expiry_delta` is
/// above our cap (default 2016) is refused with a typed error before any
/// HTLC is offered; at the cap it is paid.
#[test]
fn invoice_with_a_final_cltv_delta_above_the_cap_is_refused() {
    use lightning_core::node::{NodeError, DEFAULT_MAX_FINAL_CLTV_EXPIRY_DELTA};
    use lightning_wire::bolt11::{Currency, InvoiceBuilder};

    let mut net = Net::new(false, false);
    assert_eq!(
        net.a.node.config().max_final_cltv_expiry_delta,
        DEFAULT_MAX_FINAL_CLTV_EXPIRY_DELTA
    );
    assert_eq!(DEFAULT_MAX_FINAL_CLTV_EXPIRY_DELTA, 2016);
    let id = net.open_channel(500_000, 0);
    let now = net.now;
    let real = net
        .b
        .node
        .create_invoice(
            Some(lightning_core::amount::Msat(50_000)),
            "x",
            std::time::Duration::from_secs(3600),
            now,
        )
        .unwrap();
    let bob_keys = KeysManager::new(&[2; 32]).unwrap();
    let with_delta = |delta: u64| {
        InvoiceBuilder::new(Currency::Regtest)
            .amount_msat(50_000)
            .timestamp(now.as_secs())
            .payment_hash(*real.payment_hash())
            .payment_secret(*real.payment_secret())
            .description("x")
            .min_final_cltv_expiry_delta(delta)
            .build_signed(&bob_keys)
            .unwrap()
    };
    for delta in [2017, 1 << 40] {
        match net.a.node.pay_invoice(&with_delta(delta), now) {
            Err(NodeError::FinalCltvExpiryDeltaTooLarge {
                delta: d,
                max: 2016,
            }) => {
                assert_eq!(d, delta)
            }
            other => panic!("delta {delta}: {other:?}"),
        }
    }
    assert!(net.a.node.list_payments().is_empty());
    net.a.node.pay_invoice(&with_delta(2016), now).unwrap();
    net.shuttle();
    assert_eq!(Net::local_msat(&net.b.node, id), 50_000);
}
