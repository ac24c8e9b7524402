//! Returning errors (BOLT 4, "Returning Errors"), with attribution data.
//!
//! The erring node builds `hmac || failure_len || failuremsg || pad_len ||
//! pad`, HMACs it with its `um` key and obfuscates it with its `ammag`
//! stream; every hop back obfuscates it again with its own `ammag` stream;
//! the origin peels the layers until one hop's HMAC matches.
//!
//! Attribution data (`option_attribution_data`) rides beside the packet in
//! `update_fail_htlc` and `update_fulfill_htlc`: 20 hold times (`u32`, this
//! hop's first) and 210 HMACs truncated to 4 bytes. Each hop shifts in its
//! hold time and adds 20 HMACs, one for each number of hops it could have
//! downstream, over the message it received, the hold times and the
//! downstream HMACs; then it obfuscates the whole with its `ammagext`
//! stream. The origin checks them hop by hop, so a hop that corrupts the
//! return is pinned down even when the message can no longer be read.

use lightning_wire::{Decode, Encode};

use super::failure::FailureMessage;
use super::keys::{self, SharedSecret};

/// `failure_len + pad_len` that BOLT 4 asks for ("SHOULD ... equal to 256").
pub const ERROR_PAD_TARGET: usize = 256;
/// The padded length used when a message does not fit in 256 bytes (as
/// the attributable-failure test vector does).
pub const ERROR_PAD_TARGET_LARGE: usize = 1024;
/// The most hops the origin peels a returned error with (the longest route
/// a payment onion can carry).
pub const MAX_ERROR_HOPS: usize = 27;

/// Builds the error packet at the erring node, obfuscated with its own
/// `ammag` stream, ready to put in `update_fail_htlc.reason`.
///
/// `failure_len + pad_len` is 256 when the message fits, else 1024 when it
/// fits, else the message is not padded.
///
/// ```
/// use lightning_core::onion::{create_error_packet, FailureMessage, FailureReason, SharedSecret};
/// let ss = SharedSecret([7; 32]);
/// let packet = create_error_packet(&ss, &FailureReason::TemporaryNodeFailure.into());
/// assert_eq!(packet.len(), 32 + 2 + 256 + 2);
/// ```
pub fn create_error_packet(shared_secret: &SharedSecret, failure: &FailureMessage) -> Vec<u8> {
    let mut packet = create_unobfuscated_error_packet(shared_secret, &failure.to_bytes());
    obfuscate_error_packet(shared_secret, &mut packet);
    packet
}

/// The error packet before the erring node's own `ammag` stream: what its
/// attribution HMACs cover. `failuremsg` is at most 65535 bytes.
pub fn create_unobfuscated_error_packet(
    shared_secret: &SharedSecret,
    failuremsg: &[u8],
) -> Vec<u8> {
    let failure_len = failuremsg.len().min(usize::from(u16::MAX));
    let failuremsg = &failuremsg[..failure_len];
    let padded = if failure_len <= ERROR_PAD_TARGET {
        ERROR_PAD_TARGET
    } else if failure_len <= ERROR_PAD_TARGET_LARGE {
        ERROR_PAD_TARGET_LARGE
    } else {
        failure_len
    };
    let pad_len = padded - failure_len;
    let mut packet = Vec::with_capacity(32 + 2 + padded + 2);
    packet.extend_from_slice(&[0u8; 32]);
    packet.extend_from_slice(&(failure_len as u16).to_be_bytes());
    packet.extend_from_slice(failuremsg);
    packet.extend_from_slice(&(pad_len as u16).to_be_bytes());
    packet.resize(packet.len() + pad_len, 0);
    let um = keys::derive_key(keys::UM, shared_secret.as_bytes());
    let hmac = keys::hmac_sha256(&um, &[&packet[32..]]);
    packet[..32].copy_from_slice(&hmac);
    packet
}

/// Applies this hop's `ammag` stream to a returned error: done once by the
/// erring node and once by every hop on the way back.
pub fn obfuscate_error_packet(shared_secret: &SharedSecret, packet: &mut [u8]) {
    let ammag = keys::derive_key(keys::AMMAG, shared_secret.as_bytes());
    keys::apply_stream(&ammag, packet);
}

/// Number of hops attribution data covers.
pub const ATTRIBUTION_MAX_HOPS: usize = 20;
/// Number of truncated HMACs in attribution data: 20 + 19 + ... + 1.
pub const ATTRIBUTION_HMACS: usize = ATTRIBUTION_MAX_HOPS * (ATTRIBUTION_MAX_HOPS + 1) / 2;
/// Serialized length of attribution data.
pub const ATTRIBUTION_DATA_LEN: usize = ATTRIBUTION_MAX_HOPS * 4 + ATTRIBUTION_HMACS * 4;
const HOLD_TIMES_LEN: usize = ATTRIBUTION_MAX_HOPS * 4;

/// `attribution_data`: `20*u32` hold times and `210*sha256[..4]` HMACs, as
/// carried in the `update_fail_htlc` and `update_fulfill_htlc` TLV type 1.
#[derive(Clone, PartialEq, Eq)]
pub struct AttributionData(pub [u8; ATTRIBUTION_DATA_LEN]);

impl core::fmt::Debug for AttributionData {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AttributionData(..)")
    }
}

impl Default for AttributionData {
    fn default() -> Self {
        AttributionData([0u8; ATTRIBUTION_DATA_LEN])
    }
}

/// Offset of HMAC block `i` (the block of the hop `i` places downstream of
/// the newest), which holds `20 - i` HMACs.
const fn block_offset(i: usize) -> usize {
    HOLD_TIMES_LEN + 4 * (ATTRIBUTION_MAX_HOPS * i - i * (i.saturating_sub(1)) / 2)
}

impl AttributionData {
    /// Reads attribution data, which must be exactly 920 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        Some(AttributionData(bytes.try_into().ok()?))
    }

    /// Attribution data started by the erring node (or, for a fulfill, the
    /// final node), over the error packet before its `ammag` stream
    /// ([`create_unobfuscated_error_packet`]) or an empty message for a
    /// fulfill. `hold_time` is in units of 100 ms.
    pub fn new_at_origin_of_return(
        shared_secret: &SharedSecret,
        hold_time: u32,
        message: &[u8],
    ) -> Self {
        let mut data = AttributionData::default();
        data.add_hop(shared_secret, hold_time, message);
        data
    }

    /// Adds this hop's hold time and HMACs and applies its `ammagext`
    /// stream. `message` is the return packet as this hop received it (for
    /// the erring node, before its own `ammag` stream; for a fulfill, empty).
    pub fn add_hop(&mut self, shared_secret: &SharedSecret, hold_time: u32, message: &[u8]) {
        let d = &mut self.0;
        // Shift the hold times right, and each downstream block one place
        // further, dropping its first HMAC: the one that assumed this many
        // fewer hops upstream of it.
        d.copy_within(0..HOLD_TIMES_LEN - 4, 4);
        d[..4].copy_from_slice(&hold_time.to_be_bytes());
        for i in (1..ATTRIBUTION_MAX_HOPS).rev() {
            let src = block_offset(i - 1) + 4;
            let len = 4 * (ATTRIBUTION_MAX_HOPS - i);
            d.copy_within(src..src + len, block_offset(i));
        }
        let um = keys::derive_key(keys::UM, shared_secret.as_bytes());
        for j in 0..ATTRIBUTION_MAX_HOPS {
            let downstream = ATTRIBUTION_MAX_HOPS - 1 - j;
            let hmac = self.position_hmac(&um, message, downstream);
            let at = block_offset(0) + 4 * j;
            self.0[at..at + 4].copy_from_slice(&hmac);
        }
        let ammagext = keys::derive_key(keys::AMMAGEXT, shared_secret.as_bytes());
        keys::apply_stream(&ammagext, &mut self.0);
    }

    /// The truncated HMAC the newest hop writes assuming `downstream` hops
    /// after it: over the message, its own and `downstream` hold times, and
    /// the matching HMAC of each of those hops.
    fn position_hmac(&self, um: &[u8; 32], message: &[u8], downstream: usize) -> [u8; 4] {
        let mut parts: Vec<&[u8]> = Vec::with_capacity(downstream + 2);
        parts.push(message);
        parts.push(&self.0[..4 * (downstream + 1)]);
        let index = ATTRIBUTION_MAX_HOPS - 1 - downstream;
        for m in 1..=downstream {
            let at = block_offset(m) + 4 * index;
            parts.push(&self.0[at..at + 4]);
        }
        let full = keys::hmac_sha256(um, &parts);
        [full[0], full[1], full[2], full[3]]
    }

    /// Undoes one hop at the origin: removes its `ammagext` stream and
    /// returns its hold time and whether its HMAC for `downstream` hops
    /// after it verifies; then shifts the data back into the layout the
    /// next hop wrote.
    fn peel_hop(
        &mut self,
        shared_secret: &SharedSecret,
        message: &[u8],
        downstream: usize,
    ) -> (u32, bool) {
        let ammagext = keys::derive_key(keys::AMMAGEXT, shared_secret.as_bytes());
        keys::apply_stream(&ammagext, &mut self.0);
        let hold_time = u32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]]);
        let valid = downstream < ATTRIBUTION_MAX_HOPS && {
            let um = keys::derive_key(keys::UM, shared_secret.as_bytes());
            let expected = self.position_hmac(&um, message, downstream);
            let at = block_offset(0) + 4 * (ATTRIBUTION_MAX_HOPS - 1 - downstream);
            keys::ct_eq(&expected, &self.0[at..at + 4])
        };
        let d = &mut self.0;
        d.copy_within(4..HOLD_TIMES_LEN, 0);
        d[HOLD_TIMES_LEN - 4..HOLD_TIMES_LEN].fill(0);
        for i in 0..ATTRIBUTION_MAX_HOPS - 1 {
            let src = block_offset(i + 1);
            let len = 4 * (ATTRIBUTION_MAX_HOPS - 1 - i);
            let dst = block_offset(i) + 4;
            d.copy_within(src..src + len, dst);
            d[block_offset(i)..dst].fill(0);
        }
        d[block_offset(ATTRIBUTION_MAX_HOPS - 1)..].fill(0);
        (hold_time, valid)
    }

    /// Verifies the attribution data of a fulfilled HTLC at the origin and
    /// returns the hold times, first hop first. `Err(i)`: the HMAC of hop
    /// `i` failed, so hop `i` or the hop before it altered the data.
    ///
    /// Routes longer than 20 hops cannot be verified (no hop wrote an HMAC
    /// for that many hops downstream): the result is then empty.
    pub fn verify_fulfill(&self, shared_secrets: &[SharedSecret]) -> Result<Vec<u32>, usize> {
        let n = shared_secrets.len();
        if n > ATTRIBUTION_MAX_HOPS {
            return Ok(Vec::new());
        }
        let mut data = self.clone();
        let mut hold_times = Vec::with_capacity(n);
        for (i, ss) in shared_secrets.iter().enumerate() {
            let (hold, ok) = data.peel_hop(ss, &[], n - 1 - i);
            if !ok {
                return Err(i);
            }
            hold_times.push(hold);
        }
        Ok(hold_times)
    }
}

impl From<&lightning_wire::msgs::AttributionData> for AttributionData {
    /// The 920 bytes a peer sent in TLV 1 of `update_fail_htlc` or
    /// `update_fulfill_htlc`.
    fn from(w: &lightning_wire::msgs::AttributionData) -> Self {
        let mut data = AttributionData::default();
        for (i, t) in w.htlc_hold_times.iter().enumerate() {
            data.0[4 * i..4 * i + 4].copy_from_slice(&t.to_be_bytes());
        }
        data.0[HOLD_TIMES_LEN..].copy_from_slice(&w.truncated_hmacs.0[..]);
        data
    }
}

impl From<&AttributionData> for lightning_wire::msgs::AttributionData {
    /// The TLV 1 of `update_fail_htlc` or `update_fulfill_htlc`.
    fn from(d: &AttributionData) -> Self {
        let mut htlc_hold_times = [0u32; ATTRIBUTION_MAX_HOPS];
        for (i, t) in htlc_hold_times.iter_mut().enumerate() {
            let b = &d.0[4 * i..4 * i + 4];
            *t = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        }
        let mut hmacs = Box::new([0u8; ATTRIBUTION_HMACS * 4]);
        hmacs.copy_from_slice(&d.0[HOLD_TIMES_LEN..]);
        lightning_wire::msgs::AttributionData {
            htlc_hold_times,
            truncated_hmacs: lightning_wire::msgs::FixedBytes(hmacs),
        }
    }
}

/// A hold time in the unit of `htlc_hold_times` (100 ms), rounded down,
/// at most `u32::MAX` (BOLT 4, "Initialization of `attribution_data`").
///
/// ```
/// use lightning_core::onion::error_packet::hold_time_units;
/// use std::time::Duration;
/// assert_eq!(hold_time_units(Duration::from_millis(399)), 3);
/// ```
pub fn hold_time_units(held: core::time::Duration) -> u32 {
    u32::try_from(held.as_millis() / 100).unwrap_or(u32::MAX)
}

/// The erring node's return (BOLT 4, "Returning Errors", "Erring node"
/// and "Initialization of `attribution_data`"): the error packet for
/// `update_fail_htlc.reason`, and the attribution data started over the
/// packet before its `ammag` stream, with our `hold_time` (100 ms units).
///
/// ```
/// use lightning_core::onion::*;
/// use lightning_core::onion::error_packet::create_error_packet_with_attribution;
/// let secrets = [SharedSecret([1; 32]), SharedSecret([2; 32])];
/// let (mut packet, mut attr) =
///     create_error_packet_with_attribution(&secrets[1], &FailureReason::MppTimeout.into(), 7);
/// // Hop 0 relays it (`wrap_error_packet`), holding it 3 units.
/// attr = lightning_core::onion::error_packet::wrap_error_packet(&secrets[0], &mut packet, Some(&attr), 3);
/// let d = decode_error_packet(&secrets, &packet, Some(&attr));
/// assert_eq!((d.failing_hop, d.hold_times), (Some(1), vec![3, 7]));
/// ```
pub fn create_error_packet_with_attribution(
    shared_secret: &SharedSecret,
    failure: &FailureMessage,
    hold_time: u32,
) -> (Vec<u8>, AttributionData) {
    let mut packet = create_unobfuscated_error_packet(shared_secret, &failure.to_bytes());
    let attribution = AttributionData::new_at_origin_of_return(shared_secret, hold_time, &packet);
    obfuscate_error_packet(shared_secret, &mut packet);
    (packet, attribution)
}

/// An intermediate node's part of a return (BOLT 4, "Returning Errors",
/// "Intermediate nodes"): adds our `hold_time` and HMACs to the
/// downstream attribution data (an all-zero block when downstream sent
/// none: "MUST instantiate an all-zeroes `attribution_data` block"), over
/// `packet` as we received it, then applies our `ammag` stream to
/// `packet`. Returns the attribution data to send upstream.
pub fn wrap_error_packet(
    shared_secret: &SharedSecret,
    packet: &mut [u8],
    downstream: Option<&AttributionData>,
    hold_time: u32,
) -> AttributionData {
    let mut attribution = downstream.cloned().unwrap_or_default();
    attribution.add_hop(shared_secret, hold_time, packet);
    obfuscate_error_packet(shared_secret, packet);
    attribution
}

/// A fulfil's attribution data (BOLT 4, "Hold times for successful
/// payments"): the final node starts it, each hop back adds itself, both
/// over an empty message. `downstream`: what the next hop sent (none at
/// the final node, or when it sent none: then an all-zero block).
pub fn fulfill_attribution(
    shared_secret: &SharedSecret,
    downstream: Option<&AttributionData>,
    hold_time: u32,
) -> AttributionData {
    let mut attribution = downstream.cloned().unwrap_or_default();
    attribution.add_hop(shared_secret, hold_time, &[]);
    attribution
}

/// A returned error, decoded at the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedFailure {
    /// Index in the route of the hop whose HMAC matched: the node that
    /// created the error. `None` if no hop matched (the error was
    /// corrupted on the way back).
    pub failing_hop: Option<usize>,
    /// The failure, when the HMAC matched and `failuremsg` decoded.
    pub message: Option<FailureMessage>,
    /// The raw `failuremsg`, when the HMAC matched.
    pub raw_message: Option<Vec<u8>>,
    /// Hold times (units of 100 ms) of the hops whose attribution verified,
    /// first hop first.
    pub hold_times: Vec<u32>,
    /// When attribution data was given and did not verify: the first hop
    /// whose HMAC failed. That hop or the one before it is to blame. (When
    /// no error HMAC matched and every hop of the route verified, this is
    /// `None` and `hold_times` has a time for every hop: the last hop
    /// returned a packet it made itself, unreadable.)
    pub attribution_failed_at: Option<usize>,
}

/// Decodes a returned error at the origin: peels each hop's `ammag` layer
/// and checks its `um` HMAC, and verifies `attribution` when given.
///
/// Peeling continues over every hop of the route even after a match, so the
/// time taken does not tell the position of the erring node.
///
/// ```
/// use lightning_core::onion::*;
/// let secrets = [SharedSecret([1; 32]), SharedSecret([2; 32]), SharedSecret([3; 32])];
/// // Hop 2 fails; hops 1 and 0 wrap the error on the way back.
/// let mut packet = create_error_packet(&secrets[2], &FailureReason::MppTimeout.into());
/// obfuscate_error_packet(&secrets[1], &mut packet);
/// obfuscate_error_packet(&secrets[0], &mut packet);
/// let decoded = decode_error_packet(&secrets, &packet, None);
/// assert_eq!(decoded.failing_hop, Some(2));
/// assert_eq!(decoded.message.unwrap().reason, FailureReason::MppTimeout);
/// ```
pub fn decode_error_packet(
    shared_secrets: &[SharedSecret],
    packet: &[u8],
    attribution: Option<&AttributionData>,
) -> DecodedFailure {
    let mut working = packet.to_vec();
    let mut failing_hop = None;
    let mut raw_message = None;
    // The message each hop received (for attribution), kept until the
    // erring hop is known.
    let mut received: Vec<Vec<u8>> = Vec::new();
    let keep_received = attribution.is_some();
    for (i, ss) in shared_secrets.iter().enumerate().take(MAX_ERROR_HOPS) {
        obfuscate_error_packet(ss, &mut working);
        if keep_received {
            received.push(working.clone());
        }
        if failing_hop.is_some() || working.len() < 32 + 2 {
            continue;
        }
        let um = keys::derive_key(keys::UM, ss.as_bytes());
        let hmac = keys::hmac_sha256(&um, &[&working[32..]]);
        if keys::ct_eq(&hmac, &working[..32]) {
            failing_hop = Some(i);
            let len = usize::from(u16::from_be_bytes([working[32], working[33]]));
            let end = (34 + len).min(working.len());
            raw_message = Some(working[34..end].to_vec());
        }
    }
    let message = raw_message
        .as_deref()
        .and_then(|m| FailureMessage::decode(&mut lightning_wire::Reader::new(m)).ok());

    let mut hold_times = Vec::new();
    let mut attribution_failed_at = None;
    if let Some(attr) = attribution {
        let mut data = attr.clone();
        let hops = received.len().min(ATTRIBUTION_MAX_HOPS);
        // With the erring hop `e` known, hop `i` is `e - i` hops from it.
        // Without (no error HMAC matched), each hop's HMAC is checked at
        // its position in the path, the one that assumes the longest
        // route after it: the erring node computes every position, the
        // ones past it over its zero-initialized data ("for verification
        // efficiency at the origin node"), so an honest return verifies at
        // every hop up to the erring one, and the check breaks at the
        // first hop that altered it (or the first past the erring one).
        let checks: Vec<usize> = match failing_hop {
            Some(e) if e < ATTRIBUTION_MAX_HOPS => (0..=e).map(|i| e - i).collect(),
            Some(_) => Vec::new(),
            None => (0..hops).map(|i| ATTRIBUTION_MAX_HOPS - 1 - i).collect(),
        };
        for (i, downstream) in checks.into_iter().enumerate() {
            let (hold, ok) = data.peel_hop(&shared_secrets[i], &received[i], downstream);
            if !ok {
                attribution_failed_at = Some(i);
                break;
            }
            hold_times.push(hold);
        }
    }
    DecodedFailure {
        failing_hop,
        message,
        raw_message,
        hold_times,
        attribution_failed_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onion::FailureReason;

    fn secrets(n: u8) -> Vec<SharedSecret> {
        (1..=n).map(|i| SharedSecret([i; 32])).collect()
    }

    /// Hop `erring` fails; each hop back relays with hold time `10 * (i +
    /// 1)`, hop `alter` (if any) flipping a byte of the packet it sends.
    fn returned(
        secrets: &[SharedSecret],
        erring: usize,
        alter: Option<usize>,
    ) -> (Vec<u8>, AttributionData) {
        let failure = FailureMessage::from(FailureReason::TemporaryNodeFailure);
        let (mut packet, mut attr) =
            create_error_packet_with_attribution(&secrets[erring], &failure, 77);
        if alter == Some(erring) {
            packet[40] ^= 1;
        }
        for i in (0..erring).rev() {
            attr = wrap_error_packet(&secrets[i], &mut packet, Some(&attr), 10 * (i as u32 + 1));
            if alter == Some(i) {
                packet[40] ^= 1;
            }
        }
        (packet, attr)
    }

    #[test]
    fn an_honest_return_verifies_at_every_hop() {
        let s = secrets(5);
        let (packet, attr) = returned(&s, 3, None);
        let d = decode_error_packet(&s, &packet, Some(&attr));
        assert_eq!(d.failing_hop, Some(3));
        assert_eq!(d.hold_times, vec![10, 20, 30, 77]);
        assert_eq!(d.attribution_failed_at, None);
        // The wire form carries the same 920 bytes.
        let wire = lightning_wire::msgs::AttributionData::from(&attr);
        assert_eq!(AttributionData::from(&wire), attr);
    }

    #[test]
    fn an_altered_packet_is_pinned_to_the_hop_that_altered_it() {
        let s = secrets(5);
        for alter in 0..=3 {
            let (packet, attr) = returned(&s, 3, Some(alter));
            let d = decode_error_packet(&s, &packet, Some(&attr));
            assert_eq!(d.failing_hop, None, "hop {alter} altered it");
            // Hop `alter`'s HMAC covers what it received, not what it
            // sent: the check breaks there (it or the hop before it).
            assert_eq!(d.attribution_failed_at, Some(alter), "hop {alter}");
            assert_eq!(d.hold_times.len(), alter);
        }
    }

    #[test]
    fn a_return_without_attribution_downstream_verifies_up_to_there() {
        // Hop 2 fails and sends no attribution data; hop 1 starts an
        // all-zero block (BOLT 4, "Intermediate nodes").
        let s = secrets(4);
        let mut packet = create_error_packet(&s[2], &FailureReason::MppTimeout.into());
        let mut attr = wrap_error_packet(&s[1], &mut packet, None, 4);
        attr = wrap_error_packet(&s[0], &mut packet, Some(&attr), 5);
        let d = decode_error_packet(&s, &packet, Some(&attr));
        assert_eq!(d.failing_hop, Some(2));
        assert_eq!(d.hold_times, vec![5, 4]);
        assert_eq!(d.attribution_failed_at, Some(2));
    }

    #[test]
    fn fulfils_carry_every_hops_hold_time() {
        let s = secrets(3);
        let mut attr = fulfill_attribution(&s[2], None, 9);
        attr = fulfill_attribution(&s[1], Some(&attr), 8);
        attr = fulfill_attribution(&s[0], Some(&attr), 7);
        assert_eq!(attr.verify_fulfill(&s), Ok(vec![7, 8, 9]));
        // Hop 0's HMAC for two hops after it altered: the check breaks at
        // hop 0.
        let mut bad = attr.clone();
        bad.0[HOLD_TIMES_LEN + 4 * 17] ^= 1;
        assert_eq!(bad.verify_fulfill(&s), Err(0));
        // Hop 1's hold time altered: hop 0's HMAC covers it, and breaks.
        let mut bad = attr.clone();
        bad.0[4] ^= 1;
        assert_eq!(bad.verify_fulfill(&s), Err(0));
        assert_eq!(hold_time_units(core::time::Duration::from_secs(61)), 610);
        assert_eq!(hold_time_units(core::time::Duration::MAX), u32::MAX);
    }
}
