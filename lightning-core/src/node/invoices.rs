//! Issuing BOLT 11 invoices and receiving their payments.

use bitcoin::hashes::{sha256, Hash};
use lightning_wire::bolt11::{Bolt11Invoice, Currency, InvoiceBuilder, PaymentSecret};
use lightning_wire::features::{Bolt11InvoiceFeatures, Feature};

use super::events::{InvoiceDetails, InvoiceStatus, PaymentHash, PaymentPreimage};
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
        };
        self.writer
            .write_record(&invoice_key(&hash), record.encode())?;
        self.invoices.insert(hash, record);
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

    /// The checks of BOLT 4 for the final node that need the invoice:
    /// the preimage to claim with, or the failure to answer.
    fn check_receive(&self, add: &HtlcAdd, r: &Receive) -> Result<PaymentPreimage, FailureReason> {
        let unknown = FailureReason::IncorrectOrUnknownPaymentDetails {
            htlc_msat: add.amount_msat,
            height: self.best_height(),
        };
        let record = self
            .invoices
            .get(&PaymentHash(add.payment_hash))
            .ok_or_else(|| unknown.clone())?;
        let invoice: Bolt11Invoice = record.bolt11.parse().map_err(|_| unknown.clone())?;
        if r.payment_secret != Some(invoice.payment_secret().0) {
            return Err(unknown);
        }
        // Already claimed: a fulfill the last restart lost (it had no write
        // yet, but its preimage may have reached the peer) is made again,
        // whatever the height or the clock say now.
        if record.status == InvoiceStatus::Paid {
            return Ok(record.preimage);
        }
        if invoice.is_expired(self.now.as_secs()) && record.status == InvoiceStatus::Open {
            return Err(unknown);
        }
        // No multi-part payments: the HTLC must carry the whole total.
        if r.total_msat > add.amount_msat {
            return Err(unknown);
        }
        if let Some(expected) = invoice.amount_msat() {
            // BOLT 4: at least the amount asked, at most twice it.
            if add.amount_msat < expected || add.amount_msat > expected.saturating_mul(2) {
                return Err(unknown);
            }
        }
        let min_expiry = self
            .best_height()
            .saturating_add(u32::from(self.config.min_final_cltv_expiry_delta));
        if add.cltv_expiry < min_expiry {
            return Err(unknown);
        }
        Ok(record.preimage)
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
                match process_htlc_onion(self.keys.node_secret(), &htlc, None) {
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
                            self.check_receive(add, &r)
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
                    let bytes = record.encode();
                    let _ = self.writer.write_record(&invoice_key(&hash), bytes);
                    self.events.push_back(Event::PaymentReceived {
                        payment_hash: hash,
                        amount_msat: add.amount_msat,
                    });
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
