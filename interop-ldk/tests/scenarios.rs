//! Our node against LDK 0.2 over TCP on 127.0.0.1, both following one
//! simulated chain that validates every broadcast transaction. Each
//! scenario runs for `static_remotekey` and for `anchors_zero_fee_htlc_tx`
//! channels.

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

use interop_ldk::pair::{ldk_id, Pair};

/// Runs `$body(anchors: bool)` as `<name>_static_remotekey` and
/// `<name>_anchors`.
macro_rules! both_channel_types {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn static_remotekey() {
                ($body)(false)
            }
            #[test]
            fn anchors() {
                ($body)(true)
            }
        }
    };
}

// 1. We open a channel to LDK; it confirms; both see it ready.
both_channel_types!(s1_we_open_to_ldk, |anchors: bool| {
    let pair = Pair::new(anchors);
    let id = pair.open_from_us(500_000, 0);
    let ldk_channel = pair
        .ldk
        .channels()
        .into_iter()
        .find(|c| c.channel_id == ldk_id(&id))
        .unwrap();
    assert!(!ldk_channel.is_outbound);
    assert_eq!(ldk_channel.channel_value_satoshis, 500_000);
    assert_eq!(
        ldk_channel
            .channel_type
            .unwrap()
            .supports_anchors_zero_fee_htlc_tx(),
        anchors
    );
    assert_eq!(
        ldk_channel.short_channel_id,
        pair.ours
            .channel(&id)
            .unwrap()
            .short_channel_id
            .map(|s| s.0)
    );
    pair.assert_chain_clean();
});

// 2. LDK opens a channel to us, and we accept it.
both_channel_types!(s2_ldk_opens_to_us, |anchors: bool| {
    let pair = Pair::new(anchors);
    let id = pair.open_from_ldk(400_000, 10_000_000);
    let ours = pair.ours.channel(&id).unwrap();
    assert!(!ours.is_outbound);
    assert_eq!(ours.capacity_sat, 400_000);
    assert_eq!(ours.local_balance_msat, 10_000_000);
    let ldk_channel = pair
        .ldk
        .channels()
        .into_iter()
        .find(|c| c.channel_id == ldk_id(&id))
        .unwrap();
    assert_eq!(
        ldk_channel
            .channel_type
            .unwrap()
            .supports_anchors_zero_fee_htlc_tx(),
        anchors
    );
    pair.assert_chain_clean();
});
