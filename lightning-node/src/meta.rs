//! What the runtime keeps beside the node's own records: invoice labels,
//! descriptions and pay indexes (Core Lightning's `label`, `pay_index`,
//! `paid_at`), the invoice strings of payments we sent and their fees,
//! the offers made through the RPC (for `listoffers`), and the chain tip
//! the wallet and node were synced to.
//!
//! One record per invoice, payment or offer in the store's [`NAMESPACE`], JSON,
//! with the version going up by one on each write.

use std::collections::BTreeMap;
use std::sync::Arc;

use lightning_core::node::PaymentHash;
use lightning_persist::{KvStore, PersistError};
use serde::{Deserialize, Serialize};

/// The store namespace of the runtime's records.
pub const NAMESPACE: &str = "lnnode";

/// An invoice's runtime-side record.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct InvoiceMeta {
    /// Its label (unique).
    pub label: String,
    /// The description it was made with.
    pub description: String,
    /// Order of payment, from 1 (`None` until paid).
    pub pay_index: Option<u64>,
    /// When it was paid (seconds).
    pub paid_at: Option<u64>,
    /// What was received.
    pub amount_received_msat: Option<u64>,
    /// Creation order, from 1.
    pub created_index: u64,
    /// Deleted with `delinvoice` (the node keeps its record).
    pub deleted: bool,
}

/// A payment's runtime-side record.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PaymentMeta {
    /// The invoice paid.
    pub bolt11: String,
    /// The routing fee, once it succeeded.
    pub fee_msat: Option<u64>,
    /// Why it failed, in words.
    pub failure: Option<String>,
}

/// An offer made through the RPC (`offer`), for `listoffers`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OfferMeta {
    /// The offer (`lno1...`).
    pub bolt12: String,
    /// The caller's label, if any.
    pub label: Option<String>,
}

/// The chain position the wallet and node were synced to, with the
/// wallet's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChainMeta {
    /// Height.
    pub height: u32,
    /// Block hash (hex).
    pub hash: String,
    /// The wallet's state ([`crate::wallet::OnchainWallet::encode`]).
    pub wallet: serde_json::Value,
}

/// See the [module documentation](self).
pub struct Meta {
    store: Arc<dyn KvStore>,
    versions: BTreeMap<String, u64>,
    /// Invoices by payment hash.
    pub invoices: BTreeMap<PaymentHash, InvoiceMeta>,
    /// Payments by payment hash.
    pub payments: BTreeMap<PaymentHash, PaymentMeta>,
    /// The last `pay_index` given.
    pub last_pay_index: u64,
    /// The last `created_index` given.
    pub last_created_index: u64,
    /// Offers made through the RPC, by offer id (hex).
    pub offers: BTreeMap<String, OfferMeta>,
}

impl std::fmt::Debug for Meta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meta")
            .field("invoices", &self.invoices.len())
            .field("payments", &self.payments.len())
            .finish_non_exhaustive()
    }
}

fn parse_hash(s: &str) -> Option<PaymentHash> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(PaymentHash(out))
}

impl Meta {
    /// Loads every record from `store`.
    pub fn load(store: Arc<dyn KvStore>) -> Result<Meta, PersistError> {
        let mut meta = Meta {
            store,
            versions: BTreeMap::new(),
            invoices: BTreeMap::new(),
            payments: BTreeMap::new(),
            last_pay_index: 0,
            last_created_index: 0,
            offers: BTreeMap::new(),
        };
        for key in meta.store.list(NAMESPACE)? {
            let Some(rec) = meta.store.read(NAMESPACE, &key)? else {
                continue;
            };
            meta.versions.insert(key.clone(), rec.version);
            if let Some(h) = key.strip_prefix("invoice/").and_then(parse_hash) {
                if let Ok(inv) = serde_json::from_slice::<InvoiceMeta>(&rec.value) {
                    meta.last_pay_index = meta.last_pay_index.max(inv.pay_index.unwrap_or(0));
                    meta.last_created_index = meta.last_created_index.max(inv.created_index);
                    meta.invoices.insert(h, inv);
                }
            } else if let Some(h) = key.strip_prefix("payment/").and_then(parse_hash) {
                if let Ok(p) = serde_json::from_slice::<PaymentMeta>(&rec.value) {
                    meta.payments.insert(h, p);
                }
            } else if let Some(id) = key.strip_prefix("offer/") {
                if let Ok(o) = serde_json::from_slice::<OfferMeta>(&rec.value) {
                    meta.offers.insert(id.to_owned(), o);
                }
            }
        }
        Ok(meta)
    }

    fn write(&mut self, key: String, value: &[u8]) -> Result<(), PersistError> {
        let version = self.versions.get(&key).copied().unwrap_or(0) + 1;
        self.store.write(NAMESPACE, &key, version, value)?;
        self.versions.insert(key, version);
        Ok(())
    }

    /// Writes invoice `hash`'s record.
    pub fn save_invoice(&mut self, hash: PaymentHash) -> Result<(), PersistError> {
        let Some(inv) = self.invoices.get(&hash) else {
            return Ok(());
        };
        let bytes = serde_json::to_vec(inv).unwrap_or_default();
        self.write(format!("invoice/{hash}"), &bytes)
    }

    /// Writes payment `hash`'s record.
    pub fn save_payment(&mut self, hash: PaymentHash) -> Result<(), PersistError> {
        let Some(p) = self.payments.get(&hash) else {
            return Ok(());
        };
        let bytes = serde_json::to_vec(p).unwrap_or_default();
        self.write(format!("payment/{hash}"), &bytes)
    }

    /// Records offer `id` (hex) made through the RPC.
    pub fn save_offer(&mut self, id: &str, offer: OfferMeta) -> Result<(), PersistError> {
        let bytes = serde_json::to_vec(&offer).unwrap_or_default();
        self.write(format!("offer/{id}"), &bytes)?;
        self.offers.insert(id.to_owned(), offer);
        Ok(())
    }

    /// The invoice labelled `label`.
    pub fn by_label(&self, label: &str) -> Option<PaymentHash> {
        self.invoices
            .iter()
            .find(|(_, m)| m.label == label && !m.deleted)
            .map(|(h, _)| *h)
    }

    /// Records a payment of invoice `hash` (once: a repeated event keeps
    /// the first index).
    pub fn invoice_paid(
        &mut self,
        hash: PaymentHash,
        amount_msat: u64,
        now: u64,
    ) -> Result<bool, PersistError> {
        let next = self.last_pay_index + 1;
        let inv = self.invoices.entry(hash).or_insert_with(|| InvoiceMeta {
            label: hash.to_string(),
            ..InvoiceMeta::default()
        });
        if inv.pay_index.is_some() {
            return Ok(false);
        }
        inv.pay_index = Some(next);
        inv.paid_at = Some(now);
        inv.amount_received_msat = Some(amount_msat);
        self.last_pay_index = next;
        self.save_invoice(hash)?;
        Ok(true)
    }

    /// The chain record, if any.
    pub fn load_chain(&self) -> Result<Option<ChainMeta>, PersistError> {
        Ok(self
            .store
            .read(NAMESPACE, "chain")?
            .and_then(|r| serde_json::from_slice(&r.value).ok()))
    }

    /// Writes the chain record.
    pub fn save_chain(&mut self, chain: &ChainMeta) -> Result<(), PersistError> {
        let bytes = serde_json::to_vec(chain).unwrap_or_default();
        self.write("chain".into(), &bytes)
    }
}
