//! A light-client chain source over the Esplora HTTP API (feature
//! `esplora`), with the blocking `esplora-client`.
//!
//! [`EsploraSource`] is a [`LightBackend`] for
//! [`LightClientSync`](crate::LightClientSync) (`/blocks/tip/hash`,
//! `/block/:hash/status`, `/block-height/:height`, `/block/:hash/header`,
//! `/scripthash/:hash/txs[/chain/:last_seen]`, `/tx/:txid/raw`,
//! `/tx/:txid/merkle-proof`; the driver checks every header's linkage and
//! every merkle branch), a [`Broadcaster`] (`POST /tx`) and, through its
//! [`CachedFeeEstimator`], a [`FeeEstimator`] (`/fee-estimates`).

use std::sync::Mutex;
use std::time::Duration;

use bitcoin::block::Header;
use bitcoin::hashes::Hash;
use bitcoin::{Block, BlockHash, Script, Transaction, TxMerkleNode, Txid};
use esplora_client::{BlockingClient, Error as ClientError};

use crate::block_check::check_block;
use crate::fee_cache::{CachedFeeEstimator, FeeConfig, FeeUpdate};
use crate::{
    BestBlock, Broadcaster, ChainSource, ChainSourceError, ConfirmationTarget, FeeEstimator,
    FeeRate, LightBackend, MempoolPoll, MerkleProof,
};

/// Pages of script history fetched at most (25 transactions each).
const MAX_HISTORY_PAGES: usize = 400;

/// A transaction the server refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BroadcastError {
    /// The transaction.
    pub txid: Txid,
    /// The server's error.
    pub error: String,
}

/// An Esplora server; see the [module documentation](self).
pub struct EsploraSource {
    client: BlockingClient,
    fees: CachedFeeEstimator,
    broadcast_errors: Mutex<Vec<BroadcastError>>,
}

impl std::fmt::Debug for EsploraSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsploraSource")
            .field("url", &self.client.url())
            .finish_non_exhaustive()
    }
}

fn classify(e: ClientError) -> ChainSourceError {
    match &e {
        ClientError::BitReq(_) => ChainSourceError::Unavailable(e.to_string()),
        ClientError::HttpResponse { status, .. } if *status >= 500 || *status == 429 => {
            ChainSourceError::Unavailable(e.to_string())
        }
        _ => ChainSourceError::BadData(e.to_string()),
    }
}

impl EsploraSource {
    /// A source for the Esplora API at `base_url`
    /// (`https://blockstream.info/api`, without a trailing slash), with a
    /// per-request `timeout`. Makes no request yet.
    pub fn new(base_url: &str, timeout: Duration, fees: FeeConfig) -> Self {
        let client = esplora_client::Builder::new(base_url)
            .timeout(timeout)
            .max_retries(2)
            .build_blocking();
        EsploraSource {
            client,
            fees: CachedFeeEstimator::new(fees),
            broadcast_errors: Mutex::new(Vec::new()),
        }
    }

    /// Fetches `/fee-estimates` (sat/vB per confirmation target) and, for
    /// each distinct block count the node's targets map to
    /// ([`target_blocks`](crate::target_blocks)), uses the estimate for the
    /// largest target not above it (a shorter target's estimate is the
    /// higher, safer one); none at or below it gives the fallback. A failed
    /// request keeps the last estimates.
    pub fn refresh_fee_estimates(&self) -> Result<FeeUpdate, ChainSourceError> {
        let estimates = self.client.get_fee_estimates().map_err(classify)?;
        self.fees.update(|blocks| {
            Ok::<_, ChainSourceError>(
                estimates
                    .iter()
                    .filter(|(target, _)| **target <= blocks)
                    .max_by_key(|(target, _)| **target)
                    .map(|(_, rate)| {
                        FeeRate::from_sat_per_kw(
                            u32::try_from(rate.to_sat_per_kwu()).unwrap_or(u32::MAX),
                        )
                    }),
            )
        })
    }

    /// The cached estimates.
    pub fn fee_estimator(&self) -> &CachedFeeEstimator {
        &self.fees
    }

    /// Unconfirmed transactions touching `scripts`
    /// (`/scripthash/:hash/txs/mempool`, one request per script) that
    /// `poll` has not reported yet, at most [`MempoolPoll::limit`] per
    /// call (`/tx/:txid/raw` each, checked to hash to the txid asked) and
    /// kept only if `poll`'s filter wants it (for
    /// [`MempoolListener`](crate::MempoolListener)).
    pub fn mempool_transactions(
        &self,
        scripts: &[bitcoin::ScriptBuf],
        poll: &mut MempoolPoll,
    ) -> Result<Vec<Transaction>, ChainSourceError> {
        let mut unconfirmed: Vec<Txid> = Vec::new();
        for script in scripts {
            let txs = self
                .client
                .get_mempool_scripthash_txs(script)
                .map_err(classify)?;
            for tx in txs {
                if !tx.status.confirmed && !unconfirmed.contains(&tx.txid) {
                    unconfirmed.push(tx.txid);
                }
            }
        }
        let new = poll.select_new(&unconfirmed);
        let mut fetched = Vec::with_capacity(new.len());
        for txid in &new {
            // Gone (mined or evicted) since: skipped.
            if let Some(tx) = self.client.get_tx(txid).map_err(classify)? {
                fetched.push(tx);
            }
        }
        Ok(poll.accept(&new, fetched))
    }

    /// Transactions the server refused since the last call.
    pub fn take_broadcast_errors(&self) -> Vec<BroadcastError> {
        std::mem::take(
            &mut *self
                .broadcast_errors
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// Esplora serves whole blocks too (`/block-height/:height`,
/// `/block/:hash/raw`, `/block/:hash/header`), so it can also be a
/// [`ChainSource`]: a host that wants every block (a runtime whose wallet
/// and node read full blocks, a watchtower) follows it with
/// [`ChainSync`](crate::ChainSync) as it would a bitcoind, at the cost of
/// the blocks' bytes. A height above the tip is `None` (the server's 404).
impl ChainSource for EsploraSource {
    fn best_block(&self) -> Result<BestBlock, ChainSourceError> {
        self.tip()
    }

    fn block_hash_at(&self, height: u32) -> Result<Option<BlockHash>, ChainSourceError> {
        match self.client.get_block_hash(height) {
            Ok(h) => Ok(Some(h)),
            Err(ClientError::HttpResponse { status: 404, .. }) => Ok(None),
            Err(e) => Err(classify(e)),
        }
    }

    fn block(&self, hash: &BlockHash) -> Result<Option<Block>, ChainSourceError> {
        let block = self.client.get_block_by_hash(hash).map_err(classify)?;
        if let Some(b) = &block {
            check_block(hash, b, "block")?;
        }
        Ok(block)
    }

    fn header(&self, hash: &BlockHash) -> Result<Option<Header>, ChainSourceError> {
        match self.client.get_header_by_hash(hash) {
            Ok(h) if h.block_hash() == *hash => Ok(Some(h)),
            Ok(h) => Err(ChainSourceError::BadData(format!(
                "asked for header {hash}, got {}",
                h.block_hash()
            ))),
            Err(ClientError::HttpResponse { status: 404, .. }) => Ok(None),
            Err(e) => Err(classify(e)),
        }
    }
}

impl LightBackend for EsploraSource {
    fn tip(&self) -> Result<BestBlock, ChainSourceError> {
        // The hash, then its height: one consistent pair.
        let hash = self.client.get_tip_hash().map_err(classify)?;
        let status = self.client.get_block_status(&hash).map_err(classify)?;
        let height = status
            .height
            .ok_or_else(|| ChainSourceError::BadData(format!("no height for tip {hash}")))?;
        Ok(BestBlock::new(hash, height))
    }

    fn headers(&self, start: u32, count: u32) -> Result<Vec<Header>, ChainSourceError> {
        let mut headers = Vec::new();
        for height in start..start.saturating_add(count) {
            let hash = match self.client.get_block_hash(height) {
                Ok(hash) => hash,
                Err(ClientError::HttpResponse { status: 404, .. }) => break,
                Err(e) => return Err(classify(e)),
            };
            let header = self.client.get_header_by_hash(&hash).map_err(classify)?;
            if header.block_hash() != hash {
                return Err(ChainSourceError::BadData(format!(
                    "header served for {hash} hashes to {}",
                    header.block_hash()
                )));
            }
            headers.push(header);
        }
        Ok(headers)
    }

    fn script_history(&self, script: &Script) -> Result<Vec<(Txid, u32)>, ChainSourceError> {
        let mut history = Vec::new();
        let mut last_seen = None;
        for _ in 0..MAX_HISTORY_PAGES {
            let page = self
                .client
                .get_scripthash_txs(script, last_seen)
                .map_err(classify)?;
            let confirmed: Vec<(Txid, u32)> = page
                .iter()
                .filter_map(|tx| {
                    tx.status
                        .block_height
                        .filter(|_| tx.status.confirmed)
                        .map(|height| (tx.txid, height))
                })
                .collect();
            let full = confirmed.len() >= 25;
            last_seen = confirmed.last().map(|(txid, _)| *txid);
            history.extend(confirmed);
            if !full || last_seen.is_none() {
                return Ok(history);
            }
        }
        Err(ChainSourceError::BadData(format!(
            "script history longer than {} pages",
            MAX_HISTORY_PAGES
        )))
    }

    fn transaction(&self, txid: &Txid) -> Result<Transaction, ChainSourceError> {
        self.client
            .get_tx(txid)
            .map_err(classify)?
            .ok_or_else(|| ChainSourceError::BadData(format!("transaction {txid} not found")))
    }

    fn merkle_proof(&self, txid: &Txid, height: u32) -> Result<MerkleProof, ChainSourceError> {
        let proof = self
            .client
            .get_merkle_proof(txid)
            .map_err(classify)?
            .ok_or_else(|| ChainSourceError::BadData(format!("no merkle proof for {txid}")))?;
        if proof.block_height != height {
            return Err(ChainSourceError::BadData(format!(
                "merkle proof of {txid} is for height {}, not {height}",
                proof.block_height
            )));
        }
        Ok(MerkleProof {
            pos: proof.pos,
            branch: proof
                .merkle
                .iter()
                .map(|node| TxMerkleNode::from_byte_array(node.to_byte_array()))
                .collect(),
        })
    }
}

impl Broadcaster for EsploraSource {
    /// Each transaction in order with `POST /tx`; refusals are recorded for
    /// [`take_broadcast_errors`](EsploraSource::take_broadcast_errors).
    fn broadcast_transactions(&self, txs: &[&Transaction]) {
        for tx in txs {
            if let Err(e) = self.client.broadcast(tx) {
                self.broadcast_errors
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(BroadcastError {
                        txid: tx.compute_txid(),
                        error: e.to_string(),
                    });
            }
        }
    }
}

impl FeeEstimator for EsploraSource {
    fn fee_rate(&self, target: ConfirmationTarget) -> FeeRate {
        self.fees.fee_rate(target)
    }
}
