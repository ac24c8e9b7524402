//! The forwarding record: one per HTLC we forwarded, linking the incoming
//! HTLC (channel, HTLC id) to the outgoing one, with what it takes to
//! answer the incoming HTLC later (the onion's shared secret, to wrap a
//! failure; the preimage, once known). Key `forwards/<incoming channel
//! id>/<incoming HTLC id, 16 hex digits>`; a TLV stream whose type 0 is
//! the format version, so a later version can add odd fields.
//!
//! The record is written in the same batch as the outgoing channel's
//! update that commits the offer (persist before send), and again, in the
//! same batch as the upstream answer, when the outgoing HTLC is resolved.

use lightning_wire::codec::{Decode, DecodeError, Encode, Reader};
use lightning_wire::msgs::AttributionData;
use lightning_wire::tlv::{TlvStreamReader, TlvStreamWriter};
use lightning_wire::types::ChannelId;

use super::events::{PaymentHash, PaymentPreimage};

/// The format version of [`ForwardRecord`].
const FORWARD_FORMAT_VERSION: u16 = 1;

/// The key prefix of forwarding records.
pub(crate) const FORWARDS_PREFIX: &str = "forwards/";

/// The key of the forward of incoming HTLC `htlc_id` on `channel_id`.
pub(crate) fn forward_key(channel_id: &ChannelId, htlc_id: u64) -> String {
    format!(
        "{FORWARDS_PREFIX}{}/{htlc_id:016x}",
        hex::encode(channel_id.0)
    )
}

/// Where a forward stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ForwardState {
    /// Offered downstream; not resolved yet. The incoming HTLC is answered
    /// only once the outgoing one is.
    Offered,
    /// The downstream peer fulfilled it: the incoming HTLC is claimed with
    /// this preimage (again, after a restart, until the claim is settled).
    Fulfilled(PaymentPreimage),
    /// It failed (downstream, or never left): the incoming HTLC is failed
    /// with this error packet, already wrapped with our shared secret.
    Failed(Vec<u8>),
    /// It failed inside a blinded route after its introduction node: the
    /// incoming HTLC is failed with `update_fail_malformed_htlc` carrying
    /// these (BOLT 2, "Removing an HTLC": `invalid_onion_blinding` "for any
    /// local or downstream errors"). State tag 3, type 39 (`sha256_of_onion`
    /// then the code); a reader before it refuses the record.
    Malformed {
        sha256_of_onion: [u8; 32],
        failure_code: u16,
    },
}

/// Where a forward sat in a blinded route (BOLT 4 "Route Blinding"), which
/// decides how its failures go back (BOLT 2, "Removing an HTLC"; BOLT 4,
/// "Failure Messages"): odd type 37, our role then the `sha256_of_onion`
/// of the onion we received (what `invalid_onion_blinding` carries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlindedForward {
    /// We were the introduction node (`current_path_key` in our payload):
    /// any failure goes back as our own `invalid_onion_blinding` in
    /// `update_fail_htlc`. Otherwise (`path_key` on the incoming
    /// `update_add_htlc`) it goes back malformed.
    pub introduction: bool,
    pub sha256_of_onion: [u8; 32],
}

/// One forwarded HTLC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ForwardRecord {
    /// The incoming HTLC.
    pub incoming: (ChannelId, u64),
    pub incoming_amount_msat: u64,
    pub incoming_cltv_expiry: u32,
    pub payment_hash: PaymentHash,
    /// The onion's shared secret (BOLT 4), to wrap a returned error.
    pub shared_secret: [u8; 32],
    /// The outgoing HTLC.
    pub outgoing: (ChannelId, u64),
    pub outgoing_amount_msat: u64,
    pub outgoing_cltv_expiry: u32,
    pub state: ForwardState,
    /// UNIX seconds (host time) of the decision and of the resolution.
    pub created_at: u64,
    pub resolved_at: Option<u64>,
    /// The host took the `PaymentForwarded` event (odd type 31).
    pub event_handled: bool,
    /// The decision's host time in milliseconds (odd type 33), what our
    /// hold time in attribution data counts from. Records written before
    /// it have only `created_at`: their hold times count from that whole
    /// second (up to 9 units of 100 ms more than we held the HTLC).
    pub created_at_ms: u64,
    /// The `attribution_data` that goes upstream with the answer of a
    /// resolved forward (odd type 35; BOLT 4 "Returning Errors",
    /// "Intermediate nodes", and "Hold times for successful payments"):
    /// made once, when the outgoing HTLC was resolved, so an answer sent
    /// again after a restart carries the same bytes. `None` in records
    /// written before it, or when we send none.
    pub answer_attribution: Option<AttributionData>,
    /// Set when the forward was inside a blinded route (odd type 37).
    pub blinded: Option<BlindedForward>,
}

impl ForwardRecord {
    /// The fee this forward earns (incoming less outgoing amount).
    pub(crate) fn fee_msat(&self) -> u64 {
        self.incoming_amount_msat
            .saturating_sub(self.outgoing_amount_msat)
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = TlvStreamWriter::new();
        w.put_raw(0, &FORWARD_FORMAT_VERSION.to_be_bytes());
        w.put_raw(
            2,
            &[&self.incoming.0 .0[..], &self.incoming.1.to_be_bytes()[..]].concat(),
        );
        w.put_raw(4, &self.incoming_amount_msat.to_be_bytes());
        w.put_raw(6, &self.incoming_cltv_expiry.to_be_bytes());
        w.put_raw(8, &self.payment_hash.0);
        w.put_raw(10, &self.shared_secret);
        w.put_raw(
            12,
            &[&self.outgoing.0 .0[..], &self.outgoing.1.to_be_bytes()[..]].concat(),
        );
        w.put_raw(14, &self.outgoing_amount_msat.to_be_bytes());
        w.put_raw(16, &self.outgoing_cltv_expiry.to_be_bytes());
        match &self.state {
            ForwardState::Offered => w.put_raw(18, &[0]),
            ForwardState::Fulfilled(p) => {
                w.put_raw(18, &[1]);
                w.put_raw(20, &p.0);
            }
            ForwardState::Failed(packet) => {
                w.put_raw(18, &[2]);
                w.put_raw(22, packet);
            }
            ForwardState::Malformed {
                sha256_of_onion,
                failure_code,
            } => {
                w.put_raw(18, &[3]);
                w.put_raw(
                    39,
                    &[&sha256_of_onion[..], &failure_code.to_be_bytes()[..]].concat(),
                );
            }
        }
        w.put_raw(24, &self.created_at.to_be_bytes());
        if let Some(t) = self.resolved_at {
            w.put_raw(26, &t.to_be_bytes());
        }
        if self.event_handled {
            w.put_raw(31, &[1]);
        }
        w.put_raw(33, &self.created_at_ms.to_be_bytes());
        if let Some(a) = &self.answer_attribution {
            let mut v = Vec::with_capacity(920);
            a.encode(&mut v);
            w.put_raw(35, &v);
        }
        if let Some(b) = &self.blinded {
            let role = if b.introduction { 1u8 } else { 2 };
            w.put_raw(37, &[&[role][..], &b.sha256_of_onion[..]].concat());
        }
        w.into_bytes()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let mut r = TlvStreamReader::parse(&mut reader)?;
        if req(&mut r, 0, "format version")? != FORWARD_FORMAT_VERSION.to_be_bytes() {
            return Err(DecodeError::invalid("unknown forward record version"));
        }
        let incoming = htlc_ref(req(&mut r, 2, "incoming")?)?;
        let incoming_amount_msat = u64_of(req(&mut r, 4, "incoming amount")?)?;
        let incoming_cltv_expiry = u32_of(req(&mut r, 6, "incoming cltv")?)?;
        let payment_hash = PaymentHash(arr32(req(&mut r, 8, "payment_hash")?)?);
        let shared_secret = arr32(req(&mut r, 10, "shared secret")?)?;
        let outgoing = htlc_ref(req(&mut r, 12, "outgoing")?)?;
        let outgoing_amount_msat = u64_of(req(&mut r, 14, "outgoing amount")?)?;
        let outgoing_cltv_expiry = u32_of(req(&mut r, 16, "outgoing cltv")?)?;
        let tag = req(&mut r, 18, "state")?.to_vec();
        let preimage = r.take_raw(20).map(arr32).transpose()?;
        let packet = r.take_raw(22).map(<[u8]>::to_vec);
        let state = match (tag.as_slice(), preimage, packet) {
            ([0], _, _) => ForwardState::Offered,
            ([1], Some(p), _) => ForwardState::Fulfilled(PaymentPreimage(p)),
            ([2], _, Some(packet)) => ForwardState::Failed(packet),
            ([3], _, _) => match r.take_raw(39) {
                Some(b) if b.len() == 34 => ForwardState::Malformed {
                    sha256_of_onion: arr32(&b[..32])?,
                    failure_code: u16::from_be_bytes([b[32], b[33]]),
                },
                _ => return Err(DecodeError::invalid("forward state: malformed failure")),
            },
            _ => return Err(DecodeError::invalid("forward state")),
        };
        let created_at = u64_of(req(&mut r, 24, "created_at")?)?;
        let resolved_at = r.take_raw(26).map(u64_of).transpose()?;
        let event_handled = match r.take_raw(31) {
            None | Some([0]) => false,
            Some([1]) => true,
            Some(_) => return Err(DecodeError::invalid("event_handled: not a flag")),
        };
        let created_at_ms = match r.take_raw(33) {
            Some(b) => u64_of(b)?,
            None => created_at.saturating_mul(1000),
        };
        let answer_attribution = r
            .take_raw(35)
            .map(|b| {
                AttributionData::from_bytes(b)
                    .map_err(|_| DecodeError::invalid("forward record: attribution_data"))
            })
            .transpose()?;
        let blinded = match r.take_raw(37) {
            None => None,
            Some(b) if b.len() == 33 && (b[0] == 1 || b[0] == 2) => Some(BlindedForward {
                introduction: b[0] == 1,
                sha256_of_onion: arr32(&b[1..])?,
            }),
            Some(_) => return Err(DecodeError::invalid("forward record: blinded role")),
        };
        r.finish()?;
        Ok(ForwardRecord {
            incoming,
            incoming_amount_msat,
            incoming_cltv_expiry,
            payment_hash,
            shared_secret,
            outgoing,
            outgoing_amount_msat,
            outgoing_cltv_expiry,
            state,
            created_at,
            resolved_at,
            event_handled,
            created_at_ms,
            answer_attribution,
            blinded,
        })
    }
}

fn req<'a>(r: &mut TlvStreamReader<'a>, ty: u64, what: &str) -> Result<&'a [u8], DecodeError> {
    r.take_raw(ty)
        .ok_or_else(|| DecodeError::invalid(format!("forward record: {what} missing")))
}

fn arr32(b: &[u8]) -> Result<[u8; 32], DecodeError> {
    b.try_into()
        .map_err(|_| DecodeError::invalid("forward record: not 32 bytes"))
}

fn u64_of(b: &[u8]) -> Result<u64, DecodeError> {
    Ok(u64::from_be_bytes(b.try_into().map_err(|_| {
        DecodeError::invalid("forward record: not 8 bytes")
    })?))
}

fn u32_of(b: &[u8]) -> Result<u32, DecodeError> {
    Ok(u32::from_be_bytes(b.try_into().map_err(|_| {
        DecodeError::invalid("forward record: not 4 bytes")
    })?))
}

fn htlc_ref(b: &[u8]) -> Result<(ChannelId, u64), DecodeError> {
    if b.len() != 40 {
        return Err(DecodeError::invalid("forward record: HTLC not 40 bytes"));
    }
    Ok((ChannelId(arr32(&b[..32])?), u64_of(&b[32..])?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn record(state: ForwardState) -> ForwardRecord {
        ForwardRecord {
            incoming: (ChannelId([1; 32]), 7),
            incoming_amount_msat: 10_010,
            incoming_cltv_expiry: 500,
            payment_hash: PaymentHash([2; 32]),
            shared_secret: [3; 32],
            outgoing: (ChannelId([4; 32]), 9),
            outgoing_amount_msat: 10_000,
            outgoing_cltv_expiry: 428,
            state,
            created_at: 1_700_000_000,
            resolved_at: None,
            event_handled: false,
            created_at_ms: 1_700_000_000_250,
            answer_attribution: None,
            blinded: None,
        }
    }

    #[test]
    fn blinded_forwards_round_trip_and_older_records_are_unblinded() {
        let malformed = ForwardState::Malformed {
            sha256_of_onion: [8; 32],
            failure_code: 0x8000 | 0x4000 | 24,
        };
        for (state, introduction) in [
            (ForwardState::Offered, true),
            (malformed.clone(), false),
            (ForwardState::Failed(vec![6; 292]), true),
        ] {
            let mut r = record(state);
            r.blinded = Some(BlindedForward {
                introduction,
                sha256_of_onion: [7; 32],
            });
            assert_eq!(ForwardRecord::decode(&r.encode()).unwrap(), r);
        }
        // Written before type 37: not blinded.
        let mut r = record(ForwardState::Offered);
        r.blinded = Some(BlindedForward {
            introduction: false,
            sha256_of_onion: [7; 32],
        });
        let old = ForwardRecord::decode(&without_new_fields(&r, &[])).unwrap();
        assert_eq!(old.blinded, None);
        // A malformed state without its data, or a bad role, is refused.
        let bytes = without_new_fields(&record(ForwardState::Offered), &[]);
        let mut reader = Reader::new(&bytes);
        let mut s = TlvStreamReader::parse(&mut reader).unwrap();
        let mut w = TlvStreamWriter::new();
        for ty in 0..=31u64 {
            if let Some(v) = s.take_raw(ty) {
                w.put_raw(ty, if ty == 18 { &[3] } else { v });
            }
        }
        assert!(ForwardRecord::decode(&w.into_bytes()).is_err());
        let bad_role = without_new_fields(&r, &[(37, vec![3; 33])]);
        assert!(ForwardRecord::decode(&bad_role).is_err());
    }

    fn attribution() -> AttributionData {
        let mut a = AttributionData::default();
        a.htlc_hold_times[0] = 42;
        a.truncated_hmacs.0[839] = 7;
        a
    }

    /// The record as the code before odd types 33 and 35 wrote it (the
    /// same fields, without them), then `extra` fields.
    fn without_new_fields(r: &ForwardRecord, extra: &[(u64, Vec<u8>)]) -> Vec<u8> {
        let bytes = r.encode();
        let mut reader = Reader::new(&bytes);
        let mut s = TlvStreamReader::parse(&mut reader).unwrap();
        let mut w = TlvStreamWriter::new();
        for ty in 0..=31u64 {
            if let Some(v) = s.take_raw(ty) {
                w.put_raw(ty, v);
            }
        }
        for (ty, v) in extra {
            w.put_raw(*ty, v);
        }
        w.into_bytes()
    }

    #[test]
    fn attribution_and_milliseconds_round_trip() {
        for state in [
            ForwardState::Fulfilled(PaymentPreimage([5; 32])),
            ForwardState::Failed(vec![6; 292]),
        ] {
            let mut r = record(state);
            r.resolved_at = Some(1_700_000_003);
            r.answer_attribution = Some(attribution());
            let back = ForwardRecord::decode(&r.encode()).unwrap();
            assert_eq!(back, r);
            assert_eq!(back.answer_attribution.unwrap().htlc_hold_times[0], 42);
        }
        // An attribution field of the wrong length is refused, not misread.
        let r = record(ForwardState::Failed(vec![6; 292]));
        for len in [919, 921] {
            let bytes = without_new_fields(&r, &[(35, vec![0; len])]);
            assert!(ForwardRecord::decode(&bytes).is_err(), "{len} bytes");
        }
        let bytes = without_new_fields(&r, &[(35, vec![0; 920])]);
        assert!(ForwardRecord::decode(&bytes).is_ok());
    }

    #[test]
    fn records_before_attribution_still_decode() {
        let mut r = record(ForwardState::Failed(vec![6; 292]));
        r.answer_attribution = Some(attribution());
        let old = ForwardRecord::decode(&without_new_fields(&r, &[])).unwrap();
        assert_eq!(old.answer_attribution, None, "sent without attribution");
        assert_eq!(
            old.created_at_ms,
            r.created_at * 1000,
            "hold times count from the whole second"
        );
        assert_eq!(old.state, r.state);
        assert_eq!(old.shared_secret, r.shared_secret);
    }

    #[test]
    fn forward_records_round_trip() {
        for state in [
            ForwardState::Offered,
            ForwardState::Fulfilled(PaymentPreimage([5; 32])),
            ForwardState::Failed(vec![6; 292]),
        ] {
            let mut r = record(state);
            assert_eq!(ForwardRecord::decode(&r.encode()).unwrap(), r);
            r.resolved_at = Some(1_700_000_100);
            r.event_handled = true;
            assert_eq!(ForwardRecord::decode(&r.encode()).unwrap(), r);
        }
        assert_eq!(record(ForwardState::Offered).fee_msat(), 10);
    }

    #[test]
    fn damaged_forward_records_are_refused() {
        let bytes = record(ForwardState::Offered).encode();
        for cut in [0, 3, 10, bytes.len() - 1] {
            assert!(ForwardRecord::decode(&bytes[..cut]).is_err());
        }
        // An unknown even field is refused; an unknown odd one is kept out
        // of the way (a later version's addition).
        let mut w = TlvStreamWriter::new();
        w.put_raw(0, &FORWARD_FORMAT_VERSION.to_be_bytes());
        w.put_raw(1, &[9]);
        assert!(
            ForwardRecord::decode(&w.into_bytes()).is_err(),
            "fields missing"
        );
    }
}
