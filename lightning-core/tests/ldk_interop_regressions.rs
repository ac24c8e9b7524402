//! Regression tests for disagreements the LDK interop harness
//! (`interop-ldk/`) found, each named after the spec rule it pins.
#![allow(clippy::unwrap_used)]

mod channel_harness;
mod common;

use channel_harness::*;
use lightning_core::channel::Channel;
use lightning_core::keys::KeysManager;
use lightning_wire::msgs::Message;
use lightning_wire::types::ChannelId;

/// BOLT 2, `open_channel` / `accept_channel`: "if both nodes advertised the
/// `option_upfront_shutdown_script` feature: MUST include
/// `upfront_shutdown_script` with either a valid `shutdown_scriptpubkey`
/// [...] or a zero-length `shutdown_scriptpubkey`". Our node advertises the
/// feature, so without a committed script the field must be present and
/// empty (LDK refused our `open_channel` when it was absent).
#[test]
fn bolt2_upfront_shutdown_script_present_when_feature_negotiated() {
    let ka = KeysManager::new(&[1; 32]).unwrap();
    let kb = KeysManager::new(&[2; 32]).unwrap();
    let (_, open) = Channel::new_outbound(
        ka.derive_channel_signer(0).unwrap(),
        config(0xaa),
        0,
        ChannelId([9; 32]),
        1_000_000,
        0,
        1000,
    )
    .unwrap();
    assert_eq!(open.tlvs.upfront_shutdown_script, Some(Vec::new()));
    let (_, accept) =
        Channel::from_open_channel(kb.derive_channel_signer(0).unwrap(), config(0xbb), 0, &open)
            .unwrap();
    assert_eq!(accept.tlvs.upfront_shutdown_script, Some(Vec::new()));

    // A committed script is sent as it is.
    let mut committing = config(0xaa);
    committing.upfront_shutdown_script = true;
    let (_, open) = Channel::new_outbound(
        ka.derive_channel_signer(1).unwrap(),
        committing.clone(),
        1,
        ChannelId([8; 32]),
        1_000_000,
        0,
        1000,
    )
    .unwrap();
    assert_eq!(
        open.tlvs.upfront_shutdown_script,
        Some(committing.shutdown_script.to_bytes())
    );
}

/// The empty `upfront_shutdown_script` is encoded as a present, zero-length
/// TLV (`0x00 0x00`), which is what "a zero-length `shutdown_scriptpubkey`"
/// means on the wire.
#[test]
fn bolt2_empty_upfront_shutdown_script_is_encoded() {
    let ka = KeysManager::new(&[1; 32]).unwrap();
    let (_, open) = Channel::new_outbound(
        ka.derive_channel_signer(0).unwrap(),
        config(0xaa),
        0,
        ChannelId([9; 32]),
        1_000_000,
        0,
        1000,
    )
    .unwrap();
    let bytes = Message::OpenChannel(open).encode();
    let Message::OpenChannel(back) = Message::decode(&bytes).unwrap() else {
        panic!("not an open_channel")
    };
    assert_eq!(back.tlvs.upfront_shutdown_script, Some(Vec::new()));
}
