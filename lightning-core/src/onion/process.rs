//! Processing the onion of an incoming HTLC into a forward or a receive
//! (BOLT 4, "Payload Format" requirements for the reader, "Route
//! Blinding", "Failure Messages" requirements for the erring node).
//!
//! Checks that need channel state (the outgoing channel exists, fees and
//! CLTV delta are met, the payment hash is known, the expiry is far enough
//! from the current height) belong to the caller; everything the onion
//! alone decides is checked here, each failure with its BOLT 4 code.

use lightning_wire::tlv::UnknownTlvs;
use lightning_wire::types::{PaymentHash, ShortChannelId};
use secp256k1::PublicKey;

use super::blinding::{self, EncryptedDataTlv, PaymentConstraints, PaymentRelay};
use super::error_packet::create_error_packet;
use super::failure::{FailureCode, FailureReason};
use super::keys::SharedSecret;
use super::packet::OnionPacket;
use super::payload::{self, HopPayload};
use super::peel::{peel_packet_with_shared_secret, PeelError, Peeled};
use super::replay::SharedSecretCache;
use crate::keys::NodeEcdh;

/// The parts of an incoming `update_add_htlc` the onion is checked
/// against.
#[derive(Debug, Clone, Copy)]
pub struct IncomingHtlc<'a> {
    /// `onion_routing_packet`.
    pub onion: &'a OnionPacket,
    /// `payment_hash`: the onion's associated data.
    pub payment_hash: PaymentHash,
    /// `amount_msat`.
    pub amount_msat: u64,
    /// `cltv_expiry`.
    pub cltv_expiry: u32,
    /// The `path_key` TLV of `update_add_htlc`, set inside a blinded route
    /// (after the introduction node).
    pub path_key: Option<PublicKey>,
}

/// Where to forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextHop {
    /// Over this channel (`short_channel_id`).
    Channel(ShortChannelId),
    /// To this peer, over any channel (blinded `next_node_id`).
    Node(PublicKey),
}

/// A forward: what the outgoing `update_add_htlc` carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The next hop.
    pub next_hop: NextHop,
    /// Amount of the outgoing HTLC.
    pub amt_to_forward: u64,
    /// `cltv_expiry` of the outgoing HTLC.
    pub outgoing_cltv_value: u32,
    /// The onion for the next hop.
    pub next_packet: OnionPacket,
    /// Inside a blinded route: the `path_key` of the outgoing
    /// `update_add_htlc`.
    pub next_path_key: Option<PublicKey>,
    /// The `payment_constraints` of a blinded hop (already checked).
    pub payment_constraints: Option<PaymentConstraints>,
    /// The `payment_relay` of a blinded hop, which `amt_to_forward` and
    /// `outgoing_cltv_value` were computed from: the caller checks it
    /// against its own policy.
    pub payment_relay: Option<PaymentRelay>,
    /// Kept to wrap errors returned from downstream.
    pub shared_secret: SharedSecret,
    /// The decoded payload.
    pub payload: HopPayload,
}

/// A payment (part) for this node. Its `Debug` output hides the
/// `payment_secret`.
#[derive(Clone, PartialEq, Eq)]
pub struct Receive {
    /// `amt_to_forward` of the final payload.
    pub amt_to_forward: u64,
    /// `outgoing_cltv_value` of the final payload.
    pub outgoing_cltv_value: u32,
    /// `payment_secret`, from `payment_data`.
    pub payment_secret: Option<[u8; 32]>,
    /// Total of the payment: `payment_data.total_msat`, or
    /// `total_amount_msat` in a blinded route, or `amt_to_forward`.
    pub total_msat: u64,
    /// `payment_metadata`.
    pub payment_metadata: Option<Vec<u8>>,
    /// The recipient's `path_id`, when it came over a blinded route: check
    /// it is one this node issued.
    pub path_id: Option<Vec<u8>>,
    /// Whether it came over a blinded route.
    pub blinded: bool,
    /// Unknown odd records (custom records).
    pub custom_records: UnknownTlvs,
    /// Kept to wrap an error or attribution data.
    pub shared_secret: SharedSecret,
}

impl core::fmt::Debug for Receive {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Receive")
            .field("amt_to_forward", &self.amt_to_forward)
            .field("outgoing_cltv_value", &self.outgoing_cltv_value)
            .field(
                "payment_secret",
                &self.payment_secret.map(|_| crate::keys::Redacted),
            )
            .field("total_msat", &self.total_msat)
            .field("payment_metadata", &self.payment_metadata)
            .field("path_id", &self.path_id)
            .field("blinded", &self.blinded)
            .field("custom_records", &self.custom_records)
            .field("shared_secret", &self.shared_secret)
            .finish()
    }
}

/// What to do with the HTLC.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum ProcessedHtlc {
    /// Forward it.
    Forward(Forward),
    /// It is ours.
    Receive(Receive),
}

/// A failure to answer the HTLC with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtlcFailure {
    /// The failure.
    pub reason: FailureReason,
    /// The shared secret, when the onion got that far: needed to build the
    /// error packet.
    pub shared_secret: Option<SharedSecret>,
    /// Whether to answer with `update_fail_malformed_htlc` (carrying
    /// `sha256_of_onion` and the code) rather than `update_fail_htlc`:
    /// `BADONION` failures, and any failure inside a blinded route after
    /// the introduction node (BOLT 2).
    pub malformed: bool,
}

impl HtlcFailure {
    /// The BOLT 4 code.
    pub fn code(&self) -> FailureCode {
        self.reason.code()
    }

    /// The `reason` of `update_fail_htlc`, or `None` when the failure goes
    /// back malformed (or the shared secret is unknown).
    pub fn error_packet(&self) -> Option<Vec<u8>> {
        if self.malformed {
            return None;
        }
        let ss = self.shared_secret.as_ref()?;
        Some(create_error_packet(ss, &self.reason.clone().into()))
    }
}

/// Peels the onion of an incoming HTLC and checks its payload.
///
/// Inside a blinded route (`htlc.path_key` set) the onion is addressed to
/// the blinded id, so it is peeled with the blinded key; any failure there
/// becomes `invalid_onion_blinding` (BOLT 4, "Failure Messages").
///
/// `node_key` is the node's [`NodeSigner`](crate::keys::NodeSigner) (or,
/// in tests, a bare `SecretKey`): the shared secret comes from its ECDH,
/// with the blinding tweak inside a blinded route, so the node key never
/// leaves the signer. When the signer's ECDH fails there is no shared
/// secret to encrypt an error with, so the HTLC is failed malformed with
/// `invalid_onion_key` ([`PeelError::Signer`]).
///
/// ```
/// use lightning_core::onion::*;
/// use secp256k1::{PublicKey, SecretKey, SECP256K1};
///
/// let alice = SecretKey::from_slice(&[1; 32]).unwrap();
/// let bob = SecretKey::from_slice(&[2; 32]).unwrap();
/// let hash = lightning_wire::types::PaymentHash([9u8; 32]);
/// let route = [
///     (PublicKey::from_secret_key(SECP256K1, &alice), HopPayload {
///         amt_to_forward: Some(1_000), outgoing_cltv_value: Some(800_040),
///         short_channel_id: Some("1x2x3".parse().unwrap()), ..Default::default() }),
///     (PublicKey::from_secret_key(SECP256K1, &bob), HopPayload {
///         amt_to_forward: Some(1_000), outgoing_cltv_value: Some(800_040), ..Default::default() }),
/// ];
/// let session = SecretKey::from_slice(&[0x41; 32]).unwrap();
/// let (onion, _secrets) = build_payment_onion(&session, &route, &hash).unwrap();
/// let htlc = IncomingHtlc { onion: &onion, payment_hash: hash, amount_msat: 1_001,
///     cltv_expiry: 800_080, path_key: None };
/// let ProcessedHtlc::Forward(fwd) = process_htlc_onion(&alice, &htlc, None).unwrap() else { panic!() };
/// assert_eq!(fwd.amt_to_forward, 1_000);
/// let htlc = IncomingHtlc { onion: &fwd.next_packet, payment_hash: hash, amount_msat: 1_000,
///     cltv_expiry: 800_040, path_key: None };
/// let ProcessedHtlc::Receive(rcv) = process_htlc_onion(&bob, &htlc, None).unwrap() else { panic!() };
/// assert_eq!(rcv.total_msat, 1_000);
/// ```
pub fn process_htlc_onion<K: NodeEcdh + ?Sized>(
    node_key: &K,
    htlc: &IncomingHtlc<'_>,
    replay: Option<&mut dyn SharedSecretCache>,
) -> Result<ProcessedHtlc, HtlcFailure> {
    let onion = htlc.onion;
    let in_blinded_route = htlc.path_key.is_some();
    let blinding_failure = |ss: Option<SharedSecret>| HtlcFailure {
        reason: FailureReason::InvalidOnionBlinding {
            sha256_of_onion: onion.sha256(),
        },
        shared_secret: ss,
        malformed: in_blinded_route,
    };

    // Inside a blinded route, the onion is encrypted to b(i).
    let blinded_keys = match &htlc.path_key {
        Some(e) => {
            Some(blinding::blinded_hop_keys(node_key, e).ok_or_else(|| blinding_failure(None))?)
        }
        None => None,
    };
    let onion_tweak = blinded_keys.as_ref().map(|k| &k.blinded_node_tweak);

    let bad_onion = |e: PeelError| -> HtlcFailure {
        if in_blinded_route {
            return blinding_failure(None);
        }
        let reason = FailureReason::bad_onion(e.failure_code(), onion.sha256())
            .unwrap_or(FailureReason::TemporaryNodeFailure);
        HtlcFailure {
            reason,
            shared_secret: None,
            malformed: true,
        }
    };
    if onion.version != super::packet::VERSION {
        return Err(bad_onion(PeelError::InvalidVersion(onion.version)));
    }
    let point =
        PublicKey::from_slice(&onion.public_key).map_err(|_| bad_onion(PeelError::InvalidKey))?;
    // The node key (or the blinded one) stays with the signer: ECDH only.
    let ss = SharedSecret(
        node_key
            .ecdh(&point, onion_tweak)
            .map_err(|_| bad_onion(PeelError::Signer))?,
    );
    let peeled = peel_packet_with_shared_secret(onion, &htlc.payment_hash.0, &point, ss, replay)
        .map_err(|e| match e {
            PeelError::InvalidVersion(_)
            | PeelError::InvalidKey
            | PeelError::InvalidHmac
            | PeelError::Signer => bad_onion(e),
            _ if in_blinded_route => blinding_failure(Some(ss)),
            PeelError::InvalidPayloadFraming { offset } => HtlcFailure {
                reason: FailureReason::InvalidOnionPayload { r#type: 0, offset },
                shared_secret: Some(ss),
                malformed: false,
            },
            PeelError::Replayed | PeelError::InvalidNextKey => HtlcFailure {
                reason: FailureReason::TemporaryNodeFailure,
                shared_secret: Some(ss),
                malformed: false,
            },
        })?;

    let payload_failure = |p: payload::InvalidPayload| HtlcFailure {
        reason: FailureReason::InvalidOnionPayload {
            r#type: p.r#type,
            offset: p.offset,
        },
        shared_secret: Some(ss),
        malformed: false,
    };
    let hop = match HopPayload::decode_payload(&peeled.payload) {
        Ok(hop) => hop,
        Err(_) if in_blinded_route => return Err(blinding_failure(Some(ss))),
        Err(p) => return Err(payload_failure(p)),
    };

    match &hop.encrypted_recipient_data {
        Some(encrypted) => {
            let keys = match (&blinded_keys, &hop.current_path_key) {
                (Some(k), None) => *k,
                // The introduction node reads its path key from the payload.
                (None, Some(e)) => blinding::blinded_hop_keys(node_key, e)
                    .ok_or_else(|| blinding_failure(Some(ss)))?,
                _ => return Err(blinding_failure(Some(ss))),
            };
            let unblinded = blinding::unblind_with_keys(keys, encrypted)
                .map_err(|_| blinding_failure(Some(ss)))?;
            process_blinded(
                htlc,
                hop,
                unblinded.data,
                unblinded.next_path_key,
                peeled.next,
                ss,
            )
            .ok_or_else(|| blinding_failure(Some(ss)))
        }
        None => {
            if in_blinded_route {
                return Err(blinding_failure(Some(ss)));
            }
            if hop.current_path_key.is_some() {
                return Err(payload_failure(offset_of(
                    &peeled.payload,
                    payload::CURRENT_PATH_KEY,
                )));
            }
            let amt = hop.amt_to_forward.ok_or_else(|| {
                payload_failure(payload::InvalidPayload::missing(payload::AMT_TO_FORWARD))
            })?;
            let cltv = hop.outgoing_cltv_value.ok_or_else(|| {
                payload_failure(payload::InvalidPayload::missing(
                    payload::OUTGOING_CLTV_VALUE,
                ))
            })?;
            match peeled.next {
                Peeled::Forward(next_packet) => {
                    let scid = hop.short_channel_id.ok_or_else(|| {
                        payload_failure(payload::InvalidPayload::missing(payload::SHORT_CHANNEL_ID))
                    })?;
                    Ok(ProcessedHtlc::Forward(Forward {
                        next_hop: NextHop::Channel(scid),
                        amt_to_forward: amt,
                        outgoing_cltv_value: cltv,
                        next_packet,
                        next_path_key: None,
                        payment_constraints: None,
                        payment_relay: None,
                        shared_secret: ss,
                        payload: hop,
                    }))
                }
                Peeled::Final => {
                    let fail = |reason| HtlcFailure {
                        reason,
                        shared_secret: Some(ss),
                        malformed: false,
                    };
                    if htlc.cltv_expiry < cltv {
                        return Err(fail(FailureReason::FinalIncorrectCltvExpiry {
                            cltv_expiry: htlc.cltv_expiry,
                        }));
                    }
                    if htlc.amount_msat < amt {
                        return Err(fail(FailureReason::FinalIncorrectHtlcAmount {
                            incoming_htlc_amt: htlc.amount_msat,
                        }));
                    }
                    Ok(ProcessedHtlc::Receive(Receive {
                        amt_to_forward: amt,
                        outgoing_cltv_value: cltv,
                        payment_secret: hop.payment_data.map(|d| d.payment_secret),
                        total_msat: hop.payment_data.map_or(amt, |d| d.total_msat),
                        payment_metadata: hop.payment_metadata,
                        path_id: None,
                        blinded: false,
                        custom_records: hop.unknown,
                        shared_secret: ss,
                    }))
                }
            }
        }
    }
}

fn offset_of(payload_bytes: &[u8], ty: u64) -> payload::InvalidPayload {
    let offset = payload::locate_records(payload_bytes)
        .ok()
        .and_then(|r| r.into_iter().find(|(t, _)| *t == ty).map(|(_, o)| o))
        .unwrap_or(0);
    payload::InvalidPayload { r#type: ty, offset }
}

/// What a hop inside a blinded route forwards of an incoming `amount_msat`
/// under the recipient's `payment_relay` (BOLT 4 "Route Blinding":
/// `amt_to_forward = ((amount - fee_base_msat) * 1000000 + 1000000 +
/// fee_proportional_millionths - 1) / (1000000 +
/// fee_proportional_millionths)`); `None` when the amount is below the
/// base fee.
pub(crate) fn relay_amt_to_forward(amount_msat: u64, relay: &PaymentRelay) -> Option<u64> {
    let prop = u128::from(relay.fee_proportional_millionths);
    let base = u128::from(amount_msat).checked_sub(u128::from(relay.fee_base_msat))?;
    let amt = (base * 1_000_000 + 1_000_000 + prop - 1) / (1_000_000 + prop);
    u64::try_from(amt).ok()
}

/// The checks of a hop inside a blinded route; `None` means
/// `invalid_onion_blinding`.
fn process_blinded(
    htlc: &IncomingHtlc<'_>,
    hop: HopPayload,
    data: EncryptedDataTlv,
    next_path_key: PublicKey,
    next: Peeled,
    ss: SharedSecret,
) -> Option<ProcessedHtlc> {
    if let Some(c) = &data.payment_constraints {
        if htlc.cltv_expiry > c.max_cltv_expiry || htlc.amount_msat < c.htlc_minimum_msat {
            return None;
        }
    }
    // No feature is defined for blinded payments yet: any bit is unknown.
    if data
        .allowed_features
        .as_ref()
        .is_some_and(|f| f.iter().any(|b| *b != 0))
    {
        return None;
    }
    if data.short_channel_id.is_some() && data.next_node_id.is_some() {
        return None;
    }
    let types = hop.present_types();
    match next {
        Peeled::Forward(next_packet) => {
            let allowed = [payload::ENCRYPTED_RECIPIENT_DATA, payload::CURRENT_PATH_KEY];
            if types.iter().any(|t| !allowed.contains(t)) {
                return None;
            }
            let next_hop = match (data.short_channel_id, data.next_node_id) {
                (Some(scid), None) => NextHop::Channel(scid),
                (None, Some(node)) => NextHop::Node(node),
                _ => return None,
            };
            let relay = data.payment_relay?;
            let amt_to_forward = relay_amt_to_forward(htlc.amount_msat, &relay)?;
            let outgoing_cltv_value = htlc
                .cltv_expiry
                .checked_sub(u32::from(relay.cltv_expiry_delta))?;
            Some(ProcessedHtlc::Forward(Forward {
                next_hop,
                amt_to_forward,
                outgoing_cltv_value,
                next_packet,
                next_path_key: Some(next_path_key),
                payment_constraints: data.payment_constraints,
                payment_relay: Some(relay),
                shared_secret: ss,
                payload: hop,
            }))
        }
        Peeled::Final => {
            let allowed = [
                payload::AMT_TO_FORWARD,
                payload::OUTGOING_CLTV_VALUE,
                payload::ENCRYPTED_RECIPIENT_DATA,
                payload::CURRENT_PATH_KEY,
                payload::TOTAL_AMOUNT_MSAT,
            ];
            if types.iter().any(|t| !allowed.contains(t)) {
                return None;
            }
            let amt = hop.amt_to_forward?;
            let cltv = hop.outgoing_cltv_value?;
            let total = hop.total_amount_msat?;
            if htlc.cltv_expiry < cltv || htlc.amount_msat < amt {
                return None;
            }
            Some(ProcessedHtlc::Receive(Receive {
                amt_to_forward: amt,
                outgoing_cltv_value: cltv,
                payment_secret: None,
                total_msat: total,
                payment_metadata: None,
                path_id: data.path_id,
                blinded: true,
                custom_records: UnknownTlvs::default(),
                shared_secret: ss,
            }))
        }
    }
}
