//! Issuing BOLT 11 invoices and receiving their payments.

use bitcoin::hashes::{sha256, Hash};
use lightning_wire::bolt11::{Bolt11Invoice, Currency, InvoiceBuilder, PaymentSecret};
use lightning_wire::features::{Bolt11InvoiceFeatures, Feature};

use super::events::{Ack, InvoiceDetails, InvoiceStatus, PaymentHash, PaymentPreimage};
use super::records::{invoice_key, InvoiceRecord};
use super::{Event, Node, NodeError};
use crate::channel::update_log::HtlcAdd;
use crate::onion::{
    create_error_packet, process_htlc_onion, FailureCode, FailureReason, IncomingHtlc, OnionPacket,
    ProcessedHtlc, Receive,
};
use lightning_wire::types::ChannelId;

fn currency(network: bitcoin::Network) -> Currency {
    match network {
        bitcoin::Network::Bitcoin => Currency::Bitcoin,
        bitcoin::Network::Testnet | bitcoin::Network::Testnet4 => Currency::Testnet,
        bitcoin::Network::Signet => Currency::Signet,
        _ => Currency::Regtest,
    }
}

/// What [`Node::check_receive`] needs of an invoice, decoded once (on
/// creation and on restore) instead of per HTLC.
#[derive(Debug, Clone, Copy)]
pub(super) struct InvoiceTerms {
    secret: [u8; 32],
    amount_msat: Option<u64>,
    expires_at: u64,
}

impl InvoiceTerms {
    /// Checked against for an unknown hash, so that it costs what a known
    /// one does.
    const STAND_IN: InvoiceTerms = InvoiceTerms {
        secret: [0xa5; 32],
        amount_msat: Some(1),
        expires_at: 0,
    };

    pub(super) fn of(invoice: &Bolt11Invoice) -> Self {
        InvoiceTerms {
            secret: invoice.payment_secret().0,
            amount_msat: invoice.amount_msat(),
            expires_at: invoice.expires_at().unwrap_or(u64::MAX),
        }
    }
}

/// How an incoming HTLC is answered.
enum Answer {
    Fulfill(PaymentPreimage),
    Fail(Vec<u8>),
    Malformed {
        sha256_of_onion: [u8; 32],
        code: u16,
    },
}

impl Node {
    /// Issues an invoice signed with the node key: a fresh preimage and
    /// payment secret from the node's entropy, `min_final_cltv_expiry_delta`
    /// from the config, timestamp `now` (seconds since the UNIX epoch). It
    /// is stored (`invoices/<payment hash>`) before it is returned.
    ///
    /// `amount_msat` `None` accepts any amount.
    pub fn create_invoice(
        &mut self,
        amount_msat: Option<u64>,
        description: &str,
        expiry_secs: u64,
        now: std::time::Duration,
    ) -> Result<Bolt11Invoice, NodeError> {
        if !self.writer.is_durable(self.epoch_write) {
            // Async persistence: a preimage drawn now could be drawn again
            // after a crash that lost the epoch write.
            return Err(NodeError::Persist(
                "this run's entropy epoch is not durable yet: complete the pending writes".into(),
            ));
        }
        let preimage = PaymentPreimage(self.keys_random());
        let hash = PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array());
        let secret = self.keys_random();
        let mut features = Bolt11InvoiceFeatures::empty();
        features.set_required(Feature::VarOnionOptin);
        features.set_required(Feature::PaymentSecret);
        let mut builder = InvoiceBuilder::new(currency(self.config.network));
        if let Some(a) = amount_msat {
            builder = builder.amount_msat(a);
        }
        let invoice = builder
            .timestamp(now.as_secs())
            .payment_hash(sha256::Hash::from_byte_array(hash.0))
            .payment_secret(PaymentSecret(secret))
            .description(description)
            .expiry(expiry_secs)
            .min_final_cltv_expiry_delta(u64::from(self.config.min_final_cltv_expiry_delta))
            .features(features)
            .build_signed(&self.keys)
            .map_err(|e| NodeError::Invoice(e.to_string()))?;
        let record = InvoiceRecord {
            bolt11: invoice.to_string(),
            preimage,
            status: InvoiceStatus::Open,
            amount_received_msat: 0,
            paid_by: None,
            event_handled: false,
        };
        self.writer
            .write_record(&invoice_key(&hash), record.encode())?;
        self.invoices.insert(hash, record);
        self.invoice_terms.insert(hash, InvoiceTerms::of(&invoice));
        // Stored (inline) or handed out (async) before it is returned.
        self.writer.commit();
        self.persist_error()?;
        Ok(invoice)
    }

    fn keys_random(&self) -> [u8; 32] {
        use crate::keys::EntropySource;
        self.keys.random_bytes()
    }

    /// Every invoice we issued.
    pub fn list_invoices(&self) -> Vec<InvoiceDetails> {
        self.invoices
            .iter()
            .filter_map(|(hash, r)| {
                let inv: Bolt11Invoice = r.bolt11.parse().ok()?;
                Some(InvoiceDetails {
                    payment_hash: *hash,
                    bolt11: r.bolt11.clone(),
                    amount_msat: inv.amount_msat(),
                    status: r.status,
                    amount_received_msat: r.amount_received_msat,
                    created_at: inv.timestamp(),
                    expiry_secs: inv.expiry_time(),
                })
            })
            .collect()
    }

    /// The checks of BOLT 4 for the final node that need the invoice: the
    /// preimage to claim with, or the failure to answer.
    ///
    /// Every HTLC gets the same work and the same answer whether its hash
    /// is unknown, known with a wrong secret, amount, CLTV or expiry
    /// (BOLT 4: `incorrect_or_unknown_payment_details` "so that the
    /// sender cannot probe"): the invoice's terms are kept decoded in
    /// memory, an unknown hash is checked against stand-in terms, the
    /// secret is compared in constant time and no check returns early.
    ///
    /// A paid invoice re-fulfils, without checks, only the HTLC that paid
    /// it (after a restart or a reconnection the node answers it again:
    /// its preimage may have reached the peer already). Any other HTLC for
    /// it passes every check or fails.
    fn check_receive(
        &self,
        channel_id: ChannelId,
        htlc_id: u64,
        add: &HtlcAdd,
        r: &Receive,
    ) -> Result<PaymentPreimage, FailureReason> {
        let unknown = FailureReason::IncorrectOrUnknownPaymentDetails {
            htlc_msat: add.amount_msat,
            height: self.best_height(),
        };
        let hash = PaymentHash(add.payment_hash);
        let record = self.invoices.get(&hash);
        if let Some(rec) = record {
            if rec.status == InvoiceStatus::Paid && rec.paid_by == Some((channel_id, htlc_id)) {
                return Ok(rec.preimage);
            }
        }
        let terms = self.invoice_terms.get(&hash);
        let known = record.is_some() & terms.is_some();
        let t = terms.copied().unwrap_or(InvoiceTerms::STAND_IN);
        let given = r.payment_secret.unwrap_or_default();
        let secret_ok = r.payment_secret.is_some() & crate::onion::keys::ct_eq(&given, &t.secret);
        let not_expired = self.now.as_secs() <= t.expires_at;
        // No multi-part payments: the HTLC must carry the whole total.
        let whole = r.total_msat <= add.amount_msat;
        // BOLT 4: at least the amount asked, at most twice it.
        let amount_ok = match t.amount_msat {
            Some(expected) => {
                (add.amount_msat >= expected) & (add.amount_msat <= expected.saturating_mul(2))
            }
            None => true,
        };
        let min_expiry = self
            .best_height()
            .saturating_add(u32::from(self.config.min_final_cltv_expiry_delta));
        let cltv_ok = add.cltv_expiry >= min_expiry;
        // Paid in a version that did not record the paying HTLC: that HTLC
        // may be answered again after the height or the clock moved on.
        let legacy_paid =
            record.is_some_and(|rec| rec.status == InvoiceStatus::Paid && rec.paid_by.is_none());
        let ok = known & secret_ok & whole & amount_ok & ((not_expired & cltv_ok) | legacy_paid);
        match record {
            Some(rec) if ok => Ok(rec.preimage),
            _ => Err(unknown),
        }
    }

    /// Answers the HTLCs the peer offered that are locked in and not yet
    /// answered: after a restart or a disconnection, the channel does not
    /// report them again.
    pub(super) fn answer_pending_htlcs(&mut self, channel_id: ChannelId) {
        use crate::channel::update_log::{Side, UpdateKind, UpdateStage};
        let Some(entry) = self.channels.get(&channel_id) else {
            return;
        };
        if !entry.channel.is_usable() {
            return;
        }
        let st = entry.channel.state();
        let pending: Vec<(HtlcAdd, bool)> = st
            .log
            .updates()
            .iter()
            .filter_map(|u| match (&u.kind, u.proposer, u.stage) {
                (UpdateKind::Add(a), Side::Remote, UpdateStage::LockedIn)
                    if st.log.find_removal(Side::Remote, a.id).is_none() =>
                {
                    Some((a.clone(), st.htlcs_to_fail.contains(&a.id)))
                }
                _ => None,
            })
            .collect();
        for (add, must_fail) in pending {
            self.receive_htlc(channel_id, add.id, &add, must_fail);
        }
    }

    /// An HTLC the peer offered is irrevocably committed: claim it if it
    /// pays one of our invoices, fail it back otherwise.
    pub(super) fn receive_htlc(
        &mut self,
        channel_id: ChannelId,
        htlc_id: u64,
        add: &HtlcAdd,
        must_fail: bool,
    ) {
        let answer = match OnionPacket::from_payment_bytes(&add.onion_routing_packet) {
            Err(_) => Answer::Malformed {
                sha256_of_onion: sha256::Hash::hash(&add.onion_routing_packet).to_byte_array(),
                code: FailureCode::INVALID_ONION_VERSION.0,
            },
            Ok(onion) => {
                let path_key = add
                    .path_key
                    .and_then(|k| bitcoin::secp256k1::PublicKey::from_slice(&k).ok());
                let htlc = IncomingHtlc {
                    onion: &onion,
                    payment_hash: add.payment_hash,
                    amount_msat: add.amount_msat,
                    cltv_expiry: add.cltv_expiry,
                    path_key,
                };
                // BOLT 4: a packet "previously forwarded or locally
                // redeemed" is refused (see `HtlcReplayCache` for what is
                // kept and for how long).
                self.replay.expire(self.best_height());
                let mut replay = self.replay.for_htlc(channel_id.0, htlc_id, add.cltv_expiry);
                match process_htlc_onion(self.keys.node_secret(), &htlc, Some(&mut replay)) {
                    Err(failure) => match failure.error_packet() {
                        Some(packet) => Answer::Fail(packet),
                        None => {
                            let code = failure.code().0;
                            Answer::Malformed {
                                sha256_of_onion: onion.sha256(),
                                code: if code & FailureCode::BADONION != 0 {
                                    code
                                } else {
                                    FailureCode::INVALID_ONION_HMAC.0
                                },
                            }
                        }
                    },
                    // We do not forward.
                    Ok(ProcessedHtlc::Forward(fwd)) => Answer::Fail(create_error_packet(
                        &fwd.shared_secret,
                        &FailureReason::UnknownNextPeer.into(),
                    )),
                    Ok(ProcessedHtlc::Receive(r)) => {
                        let verdict = if must_fail {
                            Err(FailureReason::TemporaryNodeFailure)
                        } else {
                            self.check_receive(channel_id, htlc_id, add, &r)
                        };
                        match verdict {
                            Ok(preimage) => Answer::Fulfill(preimage),
                            Err(reason) => {
                                Answer::Fail(create_error_packet(&r.shared_secret, &reason.into()))
                            }
                        }
                    }
                }
            }
        };
        let hash = PaymentHash(add.payment_hash);
        if let Answer::Fulfill(_) = &answer {
            // The invoice is marked paid before the preimage leaves.
            if let Some(record) = self.invoices.get_mut(&hash) {
                let first = record.status == InvoiceStatus::Open;
                if first {
                    // One HTLC pays an invoice (no multi-part payments); a
                    // second answer is the same HTLC answered again.
                    record.status = InvoiceStatus::Paid;
                    record.amount_received_msat = add.amount_msat;
                    record.paid_by = Some((channel_id, htlc_id));
                    record.event_handled = false;
                    let bytes = record.encode();
                    let _ = self.writer.write_record(&invoice_key(&hash), bytes);
                    // Raised again after a restart until the host has
                    // acknowledged it ([`super::delivery`]).
                    self.push_event(
                        Event::PaymentReceived {
                            payment_hash: hash,
                            amount_msat: add.amount_msat,
                        },
                        Some(Ack::Invoice(hash)),
                    );
                }
            }
        }
        let Some(entry) = self.channels.get_mut(&channel_id) else {
            return;
        };
        let result = match answer {
            Answer::Fulfill(p) => entry.channel.fulfill_htlc(htlc_id, p.0),
            Answer::Fail(packet) => entry.channel.fail_htlc(htlc_id, packet),
            Answer::Malformed {
                sha256_of_onion,
                code,
            } => entry
                .channel
                .fail_malformed_htlc(htlc_id, sha256_of_onion, code),
        };
        // Not operating now (disconnected): the HTLC stays locked in and is
        // answered after the next `channel_reestablish`
        // ([`Node::answer_pending_htlcs`]).
        if let Ok(out) = result {
            self.apply(channel_id, out);
            self.to_commit.insert(channel_id);
        }
    }
}

#[cfg(test)]
mod tests {
    //! Issue 13, finding 10: a known and an unknown payment hash cost the
    //! same. Through a real `Node`'s `check_receive`: the answer is the same
    //! value, and the time per call is within a small factor (the minimum
    //! over batches, so that a busy machine only makes both slower).
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use lightning_chain::{BestBlock, FeeRate, FixedFeeEstimator};
    use lightning_persist::MemoryStore;

    use super::*;
    use crate::node::{NodeConfig, NodeHost, Persistence};
    use crate::onion::SharedSecret;

    #[derive(Debug)]
    struct NoBroadcast;
    impl lightning_chain::Broadcaster for NoBroadcast {
        fn broadcast_transactions(&self, _: &[&bitcoin::Transaction]) {}
    }

    fn receive(secret: [u8; 32], msat: u64) -> Receive {
        Receive {
            amt_to_forward: msat,
            outgoing_cltv_value: 1000,
            payment_secret: Some(secret),
            total_msat: msat,
            payment_metadata: None,
            path_id: None,
            blinded: false,
            custom_records: Default::default(),
            shared_secret: SharedSecret([7; 32]),
        }
    }

    fn add(hash: [u8; 32], msat: u64) -> HtlcAdd {
        HtlcAdd {
            id: 0,
            amount_msat: msat,
            payment_hash: hash,
            cltv_expiry: 1000,
            onion_routing_packet: Vec::new().into(),
            path_key: None,
        }
    }

    /// The fastest of 7 batches of `n` calls.
    fn time(n: u32, mut f: impl FnMut()) -> Duration {
        (0..7)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..n {
                    f();
                }
                start.elapsed()
            })
            .min()
            .unwrap()
    }

    #[test]
    fn known_and_unknown_hashes_cost_the_same() {
        let network = bitcoin::Network::Regtest;
        let host = NodeHost {
            broadcaster: Arc::new(NoBroadcast),
            fee_estimator: Arc::new(FixedFeeEstimator::new(FeeRate::from_sat_per_kw(1000))),
        };
        let mut node = Node::new(
            &[1; 32],
            NodeConfig::new(network),
            Persistence::Inline(Arc::new(MemoryStore::new())),
            host,
            BestBlock::genesis(network),
        )
        .unwrap();
        node.now = Duration::from_secs(1_700_000_000);
        for i in 0..50 {
            node.create_invoice(Some(10_000 + i), "x", 3600, node.now)
                .unwrap();
        }
        let invoice = node
            .create_invoice(Some(5_000), "x", 3600, node.now)
            .unwrap();
        let known = *invoice.payment_hash().as_ref();
        let right = invoice.payment_secret().0;
        let unknown = [0x11; 32];
        let cid = ChannelId([3; 32]);

        // Same answer: a known hash with a wrong secret or amount, and an
        // unknown hash.
        let wrong_secret = node.check_receive(cid, 0, &add(known, 5_000), &receive([9; 32], 5_000));
        let wrong_amount = node.check_receive(cid, 0, &add(known, 4_000), &receive(right, 4_000));
        let not_ours = node.check_receive(cid, 0, &add(unknown, 4_000), &receive(right, 4_000));
        assert!(wrong_secret.is_err());
        assert_eq!(wrong_amount, not_ours);

        let n = 2_000;
        let t_known = time(n, || {
            let _ = std::hint::black_box(node.check_receive(
                cid,
                0,
                &add(known, 5_000),
                &receive([9; 32], 5_000),
            ));
        });
        let t_unknown = time(n, || {
            let _ = std::hint::black_box(node.check_receive(
                cid,
                0,
                &add(unknown, 5_000),
                &receive([9; 32], 5_000),
            ));
        });
        let ratio = t_known.as_secs_f64() / t_unknown.as_secs_f64();
        eprintln!(
            "check_receive per call: known hash {:?}, unknown hash {:?}, ratio {ratio:.2}",
            t_known / n,
            t_unknown / n
        );
        assert!((1.0 / 3.0..3.0).contains(&ratio), "ratio {ratio:.2}");
    }
}
