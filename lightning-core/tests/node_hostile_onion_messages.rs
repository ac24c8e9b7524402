//! A raw peer sends onion messages (BOLT 4 "Onion Messages") to a real
//! `Node`: garbage and a flood are dropped and counted (over
//! `MAX_MESSAGES_PER_PEER_PER_SECOND` not even peeled) and the connection
//! stays; a message to forward to a node that is not a connected peer is
//! dropped; an `invoice_request` for an offer that is not the node's
//! (BOLT 12) is answered along the raw peer's reply path with an
//! `invoice_error` that the raw peer peels and reads; an issuer's hostile
//! `invoice_error` text reaches our host printable and bounded.
#![allow(clippy::unwrap_used)]

mod node_hostile_support;

use bitcoin::secp256k1::{Keypair, PublicKey, SecretKey, SECP256K1};
use lightning_core::node::{
    INVOICE_ERROR_TYPE, INVOICE_REQUEST_TYPE, MAX_MESSAGES_PER_PEER_PER_SECOND,
};
use lightning_core::onion::onion_message::build_onion_message_along;
use lightning_core::onion::{blind_path, peel_onion_message, EncryptedDataTlv, OnionMessageHop};
use lightning_wire::bolt12::{
    BlindedPath, InvoiceError, InvoiceRequest, InvreqFields, Offer, OfferFields,
};
use lightning_wire::msgs::{Message, OnionMessage};
use lightning_wire::tlv::TlvRecord;
use lightning_wire::{Decode, Encode};
use node_hostile_support::{lone_node, node_config, Got, Raw};

fn key(b: u8) -> SecretKey {
    SecretKey::from_slice(&[b; 32]).unwrap()
}

/// An onion message along `path` (whose first hop is the node), the last
/// payload carrying `contents` and `reply`.
fn message(path: &BlindedPath, contents: Vec<TlvRecord>, reply: Option<&BlindedPath>) -> Message {
    let hops: Vec<(PublicKey, Vec<u8>)> = path
        .hops
        .iter()
        .map(|h| (h.blinded_node_id, h.encrypted_recipient_data.clone()))
        .collect();
    let packet =
        build_onion_message_along(&key(0x33), &hops, contents, reply.map(Encode::to_bytes))
            .unwrap();
    Message::OnionMessage(OnionMessage {
        path_key: path.first_path_key,
        onion_message_packet: packet.to_bytes(),
        tlvs: Default::default(),
    })
}

#[test]
fn garbage_and_floods_are_dropped_and_counted() {
    let (mut node, _store, _chain) = lone_node(1, node_config());
    let mut raw = Raw::connect(&mut node, 0x41);
    let n = MAX_MESSAGES_PER_PEER_PER_SECOND as usize + 20;
    let point = PublicKey::from_secret_key(SECP256K1, &key(9));
    for i in 0..n {
        // Packets of every shape: empty, short, a payment onion's size of
        // noise.
        let len = [0, 10, 1366][i % 3];
        raw.queue(&Message::OnionMessage(OnionMessage {
            path_key: point,
            onion_message_packet: vec![i as u8; len],
            tlvs: Default::default(),
        }));
    }
    raw.shuttle(&mut node);
    let stats = node.onion_message_stats();
    assert_eq!(stats.dropped, n as u64, "{stats:?}");
    assert_eq!(stats.rate_limited, 20, "{stats:?}");
    assert_eq!(stats.forwarded + stats.received + stats.sent, 0);
    assert!(
        raw.connected(&node),
        "onion messages never cost the connection"
    );
}

#[test]
fn a_message_for_a_node_that_is_not_a_peer_is_dropped() {
    let (mut node, _store, _chain) = lone_node(1, node_config());
    let mut raw = Raw::connect(&mut node, 0x41);
    let stranger = PublicKey::from_secret_key(SECP256K1, &key(0x77));
    let relay = EncryptedDataTlv {
        next_node_id: Some(stranger),
        ..Default::default()
    };
    let path = (blind_path(
        &key(0x21),
        &[
            (node.node_id(), relay.to_bytes()),
            (stranger, EncryptedDataTlv::default().to_bytes()),
        ],
    )
    .unwrap())
    .into_bolt12_path();
    raw.send(&mut node, &message(&path, vec![], None));
    let stats = node.onion_message_stats();
    assert_eq!((stats.forwarded, stats.dropped), (0, 1), "{stats:?}");
}

#[test]
fn a_request_for_a_foreign_offer_is_answered_with_an_invoice_error() {
    let (mut node, _store, _chain) = lone_node(1, node_config());
    let mut raw = Raw::connect(&mut node, 0x41);
    // An offer naming the node as issuer that the node never made.
    let offer = Offer::new(OfferFields {
        amount: Some(5_000),
        description: Some("not yours".into()),
        issuer_id: Some(node.node_id()),
        metadata: Some(vec![0; 32]),
        ..Default::default()
    })
    .unwrap();
    let payer = Keypair::from_secret_key(SECP256K1, &key(0x55));
    let req = InvoiceRequest::for_offer(
        &offer,
        InvreqFields {
            metadata: Some(vec![7; 32]),
            ..Default::default()
        },
        &payer,
    )
    .unwrap();
    // To the node over a one-hop path the raw peer blinds; the reply comes
    // back over a one-hop path to the raw peer.
    let to_node = (blind_path(
        &key(0x22),
        &[(node.node_id(), EncryptedDataTlv::default().to_bytes())],
    )
    .unwrap())
    .into_bolt12_path();
    let reply_data = EncryptedDataTlv {
        path_id: Some(vec![0xab; 8]),
        ..Default::default()
    };
    let reply = (blind_path(&key(0x23), &[(raw.node_id(), reply_data.to_bytes())]).unwrap())
        .into_bolt12_path();
    let contents = vec![TlvRecord {
        r#type: INVOICE_REQUEST_TYPE,
        value: req.as_bytes().to_vec(),
    }];
    raw.send(&mut node, &message(&to_node, contents, Some(&reply)));

    let answer = raw
        .take()
        .into_iter()
        .find_map(|g| match g {
            Got::Message(Message::OnionMessage(m)) => Some(m),
            _ => None,
        })
        .expect("the node answered");
    let packet =
        lightning_core::onion::OnionPacket::from_bytes_any_len(&answer.onion_message_packet)
            .unwrap();
    // The raw peer's node key is `[0x41; 32]` itself (its `PeerManager` identity).
    let peeled = peel_onion_message(&key(0x41), &answer.path_key, &packet).unwrap();
    let OnionMessageHop::Receive { payload, data, .. } = peeled else {
        panic!("the answer is for the raw peer");
    };
    assert_eq!(data.path_id, Some(vec![0xab; 8]));
    let rec = payload
        .unknown
        .0
        .iter()
        .find(|r| r.r#type == INVOICE_ERROR_TYPE)
        .expect("an invoice_error");
    let err = InvoiceError::from_bytes(&rec.value).unwrap();
    assert_eq!(err.error, "unknown offer", "{err:?}");
    assert_eq!(node.onion_message_stats().sent, 1);
}

#[test]
fn invoice_requests_beyond_the_budget_get_an_invoice_error() {
    use lightning_core::node::{OfferParams, INVOICE_TYPE, MAX_OFFER_INVOICES_PER_MINUTE};
    let (mut node, _store, _chain) = lone_node(1, node_config());
    let offer = node
        .create_offer(OfferParams {
            amount_msat: Some(lightning_core::amount::Msat(1_000)),
            description: Some("spam me".into()),
            ..Default::default()
        })
        .unwrap();
    let payer = Keypair::from_secret_key(SECP256K1, &key(0x55));
    let n = MAX_OFFER_INVOICES_PER_MINUTE as usize + 10;
    // Three raw peers share the requests, each under the per-peer limit
    // of onion messages a second; the harness's clock stands still, so
    // all fall in one minute.
    let per_peer = n.div_ceil(3);
    assert!(per_peer <= MAX_MESSAGES_PER_PEER_PER_SECOND as usize);
    let (mut invoices, mut errors) = (0, 0);
    for (p, seed) in [0x41u8, 0x42, 0x43].into_iter().enumerate() {
        let mut raw = Raw::connect(&mut node, seed);
        let reply = (blind_path(
            &key(0x23),
            &[(raw.node_id(), EncryptedDataTlv::default().to_bytes())],
        )
        .unwrap())
        .into_bolt12_path();
        for i in (p * per_peer)..((p + 1) * per_peer).min(n) {
            let req = InvoiceRequest::for_offer(
                &offer,
                InvreqFields {
                    metadata: Some((i as u32).to_be_bytes().to_vec()),
                    // The node is on regtest (absent means bitcoin).
                    chain: Some(lightning_wire::types::ChainHash::for_network(
                        bitcoin::Network::Regtest,
                    )),
                    ..Default::default()
                },
                &payer,
            )
            .unwrap();
            let to_node = (blind_path(
                &key(0x22),
                &[(node.node_id(), EncryptedDataTlv::default().to_bytes())],
            )
            .unwrap())
            .into_bolt12_path();
            let contents = vec![TlvRecord {
                r#type: INVOICE_REQUEST_TYPE,
                value: req.as_bytes().to_vec(),
            }];
            raw.send(&mut node, &message(&to_node, contents, Some(&reply)));
        }
        for g in raw.take() {
            let Got::Message(Message::OnionMessage(m)) = g else {
                continue;
            };
            let packet =
                lightning_core::onion::OnionPacket::from_bytes_any_len(&m.onion_message_packet)
                    .unwrap();
            let OnionMessageHop::Receive { payload, .. } =
                peel_onion_message(&key(seed), &m.path_key, &packet).unwrap()
            else {
                panic!("for the raw peer");
            };
            for r in &payload.unknown.0 {
                match r.r#type {
                    INVOICE_TYPE => invoices += 1,
                    INVOICE_ERROR_TYPE => {
                        errors += 1;
                        let e = InvoiceError::from_bytes(&r.value).unwrap();
                        assert!(e.error.contains("too many"), "{e:?}");
                    }
                    _ => {}
                }
            }
        }
    }
    assert_eq!(invoices, MAX_OFFER_INVOICES_PER_MINUTE as usize);
    assert_eq!(errors, 10);
    assert_eq!(
        node.list_invoices().len(),
        MAX_OFFER_INVOICES_PER_MINUTE as usize
    );
}

/// An issuer (the raw peer) answers our request with an `invoice_error`
/// whose text is long and full of control characters: the reason our
/// host (and the RPC's `fetchinvoice`) sees is printable ASCII and
/// bounded.
#[test]
fn a_hostile_invoice_error_reaches_the_host_printable_and_bounded() {
    use lightning_core::channel::MAX_ERROR_TEXT;
    use lightning_core::node::{Event, InvoiceRequestParams};
    let (mut node, _store, _chain) = lone_node(1, node_config());
    let mut raw = Raw::connect(&mut node, 0x41);
    let offer = Offer::new(OfferFields {
        issuer_id: Some(raw.node_id()),
        description: Some("bait".into()),
        amount: Some(5_000),
        chains: Some(vec![lightning_wire::types::ChainHash::for_network(
            bitcoin::Network::Regtest,
        )]),
        ..Default::default()
    })
    .unwrap();
    let id = node
        .fetch_offer_invoice(
            &offer,
            InvoiceRequestParams::default(),
            node_hostile_support::NOW,
        )
        .unwrap();
    raw.shuttle(&mut node);
    // The raw peer reads our request and its reply path.
    let reply = raw
        .take()
        .into_iter()
        .find_map(|g| {
            let Got::Message(Message::OnionMessage(m)) = g else {
                return None;
            };
            let packet =
                lightning_core::onion::OnionPacket::from_bytes_any_len(&m.onion_message_packet)
                    .ok()?;
            match peel_onion_message(&key(0x41), &m.path_key, &packet).ok()? {
                OnionMessageHop::Receive { payload, .. } => payload
                    .reply_path
                    .and_then(|b| BlindedPath::from_bytes(&b).ok()),
                OnionMessageHop::Forward { .. } => None,
            }
        })
        .expect("our request, with a reply path");
    let evil = format!("\u{1b}[31mpay me\r\n\u{7}{}", "x".repeat(20_000));
    let answer = InvoiceError::new(evil);
    let contents = vec![TlvRecord {
        r#type: INVOICE_ERROR_TYPE,
        value: answer.to_bytes(),
    }];
    raw.send(&mut node, &message(&reply, contents, None));
    let reason = std::iter::from_fn(|| node.poll_event())
        .find_map(|e| match e {
            Event::OfferPaymentFailed {
                offer_payment_id,
                reason,
            } if offer_payment_id == id => Some(reason),
            _ => None,
        })
        .expect("the request failed");
    assert!(reason.starts_with("the issuer refused: "), "{reason}");
    assert!(
        reason.chars().all(|c| c == ' ' || c.is_ascii_graphic()),
        "{reason:?}"
    );
    assert!(
        reason.len() <= "the issuer refused: ".len() + MAX_ERROR_TEXT,
        "{}",
        reason.len()
    );
    assert!(reason.contains("pay me"), "{reason}");
}
