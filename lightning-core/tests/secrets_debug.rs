//! Issue 13, finding 10: preimages, payment secrets, per-commitment
//! secrets, private keys and seeds never appear in `Debug` output, neither
//! of the types that hold them nor of the structs and events around them.
#![allow(clippy::unwrap_used)]

use lightning_core::channel::update_log::HtlcRemoval;
use lightning_core::channel::ChannelEvent;
use lightning_core::keys::{ChannelSigner, KeysManager, NodeSigner};
use lightning_core::node::{Event, PaymentPreimage};
use lightning_core::onion::payload::PaymentData;
use lightning_test_support::pair::{open, preimage, OpenOptions, ONION};
use lightning_wire::bolt11::PaymentSecret;

/// Every form a 32-byte secret could take in `Debug` output: hex (lower
/// and upper case, and its first 8 bytes alone) and Rust's array form.
fn assert_hidden(debug: &str, secret: &[u8; 32], what: &str) {
    let hex = hex::encode(secret);
    for needle in [
        hex.clone(),
        hex.to_uppercase(),
        hex[..16].to_string(),
        format!("{:?}", &secret[..8])
            .trim_end_matches(']')
            .to_string(),
    ] {
        assert!(
            !debug.contains(&needle),
            "{what} shows a secret ({needle}) in: {debug}"
        );
    }
}

#[test]
fn seeds_and_keys_are_not_in_debug() {
    let seed = [0x5a; 32];
    let km = KeysManager::new(&seed).unwrap();
    let debug = format!("{km:?}");
    assert_hidden(&debug, &seed, "KeysManager");
    let wallet = km.wallet_key(0).unwrap().secret_bytes();
    assert_hidden(&debug, &wallet, "KeysManager");
    let mut signer = km.derive_channel_signer(0).unwrap();
    let secret = signer.release_holder_commitment_secret(0).unwrap();
    assert_hidden(&format!("{signer:?}"), &secret, "InMemorySigner");
    assert_hidden(&format!("{signer:?}"), &seed, "InMemorySigner");
}

#[test]
fn preimages_and_payment_secrets_are_not_in_debug() {
    let p = [0xa7; 32];
    assert_hidden(&format!("{:?}", PaymentPreimage(p)), &p, "PaymentPreimage");
    assert_hidden(&format!("{:?}", PaymentSecret(p)), &p, "PaymentSecret");
    let data = PaymentData {
        payment_secret: p,
        total_msat: 1,
    };
    assert_hidden(&format!("{data:?}"), &p, "PaymentData");
    let receive = lightning_core::onion::process::Receive {
        amt_to_forward: 1,
        outgoing_cltv_value: 2,
        payment_secret: Some(p),
        total_msat: 1,
        payment_metadata: None,
        path_id: None,
        blinded: false,
        custom_records: Default::default(),
        shared_secret: lightning_core::onion::keys::SharedSecret::new(
            &KeysManager::new(&[1; 32]).unwrap().node_id(),
            &bitcoin::secp256k1::SecretKey::from_slice(&[3; 32]).unwrap(),
        ),
    };
    assert_hidden(&format!("{receive:?}"), &p, "Receive");
    let removal = HtlcRemoval::Fulfill {
        payment_preimage: PaymentPreimage(p),
        attribution_data: None,
    };
    assert_hidden(&format!("{removal:?}"), &p, "HtlcRemoval");
    let sent = Event::PaymentSent {
        payment_hash: lightning_core::node::PaymentHash([2; 32]),
        preimage: PaymentPreimage(p),
        fee_msat: lightning_core::Msat(0),
        hold_times: Vec::new(),
    };
    assert_hidden(&format!("{sent:?}"), &p, "Event::PaymentSent");
}

/// A real channel after a fulfilled payment and several revocations: its
/// state (update log with the fulfill, the store of the peer's
/// per-commitment secrets), its events and the whole endpoint show none of
/// the secrets.
#[test]
fn channel_state_and_events_show_no_secret() {
    let mut pair = open(OpenOptions::default());
    let (pre, hash) = preimage(7);
    let (id, out) = pair
        .a
        .ch
        .send_htlc(5_000_000, hash, 700_000, ONION.to_vec())
        .unwrap();
    pair.a.apply(out);
    let out = pair.a.ch.commit().unwrap();
    pair.a.apply(out);
    pair.run_until_quiet();
    let out = pair.b.ch.fulfill_htlc(id, pre).unwrap();
    pair.b.apply(out);
    // The fulfill sits in B's update log until committed.
    assert_hidden(&format!("{:?}", pair.b.ch.state()), &pre.0, "ChannelState");
    assert_hidden(&format!("{:?}", pair.b), &pre.0, "Endpoint");
    let out = pair.b.ch.commit().unwrap();
    pair.b.apply(out);
    pair.run_until_quiet();

    let events = pair.a.take_events();
    assert!(events
        .iter()
        .any(|e| matches!(e, ChannelEvent::HtlcFulfilled { payment_preimage, .. } if *payment_preimage == pre)));
    assert_hidden(&format!("{events:?}"), &pre.0, "ChannelEvent");

    for side in [&pair.a, &pair.b] {
        let stored = side.ch.state().secrets.stored();
        assert!(!stored.is_empty(), "revocations happened");
        let debug = format!("{:?}", side.ch.state());
        for (_, secret) in &stored {
            assert_hidden(&debug, secret, "ChannelState (revocation store)");
            assert_hidden(&format!("{:?}", side.ch), secret, "Channel");
        }
        assert_hidden(&debug, &pre.0, "ChannelState");
    }
}
