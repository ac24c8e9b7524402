//! Fuzz targets for the `lightning-wire` decoders. Each decodes, re-encodes
//! and decodes again, and asserts that nothing changed. Every decoder in
//! `lightning-wire` accepts only canonical encodings, so whatever decodes
//! must also re-encode to exactly the input.

use core::fmt::Debug;

use lightning_wire::features::{ChannelTypeContext, Features, InitContext, TlvFeatures};
use lightning_wire::msgs::{
    ChannelReestablishTlvs, ClosingTlvs, InitTlvs, Message, OpenChannel2Tlvs,
    QueryShortChannelIdsTlvs, ReplyChannelRangeTlvs, UpdateFailHtlcTlvs,
};
use lightning_wire::tlv::UnknownTlvs;
use lightning_wire::{Decode, Encode};

/// Any message: decode, re-encode (must equal the input), decode again, and
/// the JSON round trip (`encode(from_json(to_json(m))) == input`).
pub fn message(data: &[u8]) {
    let Ok(m) = Message::decode(data) else {
        return;
    };
    let bytes = m.encode();
    assert_eq!(bytes, data, "{} did not re-encode to its input", m.name());
    let again = Message::decode(&bytes).expect("re-encoded message decodes");
    assert_eq!(again, m);
    let json = serde_json::to_string(&m).expect("message serializes");
    let from_json: Message = serde_json::from_str(&json).expect("own JSON deserializes");
    assert_eq!(from_json.encode(), data, "JSON round trip of {}", m.name());
    crate::reached_checks();
}

fn round_trip<T: Decode + Encode + PartialEq + Debug>(data: &[u8]) {
    let Ok(v) = T::from_bytes(data) else {
        return;
    };
    let bytes = v.to_bytes();
    assert_eq!(bytes, data, "{v:?} did not re-encode to its input");
    assert_eq!(T::from_bytes(&bytes).expect("re-encoded value decodes"), v);
    crate::reached_checks();
}

/// A TLV stream in one of several message namespaces, chosen by the first
/// byte; the rest is the stream.
pub fn tlv_stream(data: &[u8]) {
    let Some((selector, stream)) = data.split_first() else {
        return;
    };
    match selector % 8 {
        0 => round_trip::<UnknownTlvs>(stream),
        1 => round_trip::<InitTlvs>(stream),
        2 => round_trip::<OpenChannel2Tlvs>(stream),
        3 => round_trip::<ChannelReestablishTlvs>(stream),
        4 => round_trip::<ReplyChannelRangeTlvs>(stream),
        5 => round_trip::<ClosingTlvs>(stream),
        6 => round_trip::<UpdateFailHtlcTlvs>(stream),
        _ => round_trip::<QueryShortChannelIdsTlvs>(stream),
    }
}

/// A `u16`-prefixed feature vector, and the same bytes as a TLV
/// `channel_type`; every query on them must not panic.
pub fn features(data: &[u8]) {
    round_trip::<Features<InitContext>>(data);
    round_trip::<TlvFeatures<ChannelTypeContext>>(data);
    let f = Features::<InitContext>::from_be_bytes(data.to_vec());
    let bits: Vec<usize> = f.bits().collect();
    for &b in &bits {
        assert!(f.is_set(b));
    }
    let _ = f.check_dependencies();
    let _ = f.check_context();
    let _ = f.unknown_required_bits(&Features::empty());
    let minimal = f.minimal();
    assert_eq!(minimal.bits().collect::<Vec<_>>(), bits);
    assert_eq!(f.union(&f).bits().collect::<Vec<_>>(), bits);
}
