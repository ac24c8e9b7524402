//! A light-client chain source over the Electrum protocol (feature
//! `electrum`), with the `electrum-client` crate.
//!
//! [`ElectrumSource`] is a [`LightBackend`] for [`LightClientSync`]
//! (headers, per-script histories through `blockchain.scripthash.*`
//! subscriptions, transactions and merkle branches, each checked by the
//! driver against the header chain), a [`Broadcaster`] and, through its
//! [`CachedFeeEstimator`], a [`FeeEstimator`]. Protocol 1.4 methods only:
//! `blockchain.headers.subscribe`, `blockchain.block.headers`,
//! `blockchain.scripthash.subscribe`/`get_history`,
//! `blockchain.transaction.get`/`get_merkle`/`broadcast`,
//! `blockchain.estimatefee`.
//!
//! [`LightClientSync`]: crate::LightClientSync

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use bitcoin::block::Header;
use bitcoin::hashes::Hash;
use bitcoin::{Script, ScriptBuf, Transaction, TxMerkleNode, Txid};
use electrum_client::{ElectrumApi, Error as ClientError};

use crate::fee_cache::{
    fee_rate_from_btc_per_kvb, target_blocks, CachedFeeEstimator, FeeConfig, FeeUpdate,
};
use crate::{
    BestBlock, Broadcaster, ChainSourceError, ConfirmationTarget, FeeEstimator, FeeRate,
    LightBackend, MempoolPoll, MerkleProof,
};

/// A transaction the server refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BroadcastError {
    /// The transaction.
    pub txid: Txid,
    /// The server's error.
    pub error: String,
}

/// An Electrum server; see the [module documentation](self).
pub struct ElectrumSource {
    /// One request at a time: the client's responses are matched to
    /// callers by a reader one of them elects, and calls from several
    /// threads at once (the chain thread's sync, a broadcast from an RPC
    /// call) were seen to leave one waiting until its timeout.
    client: Mutex<electrum_client::Client>,
    subscribed: Mutex<HashSet<ScriptBuf>>,
    fees: CachedFeeEstimator,
    broadcast_errors: Mutex<Vec<BroadcastError>>,
}

impl std::fmt::Debug for ElectrumSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElectrumSource")
            .field("fees", &self.fees)
            .finish_non_exhaustive()
    }
}

fn classify(e: ClientError) -> ChainSourceError {
    match &e {
        ClientError::IOError(_)
        | ClientError::Protocol(_)
        | ClientError::AllAttemptsErrored(_)
        | ClientError::SharedIOError(_)
        | ClientError::CouldntLockReader
        | ClientError::Mpsc
        | ClientError::MissingDomain => ChainSourceError::Unavailable(e.to_string()),
        _ => ChainSourceError::BadData(e.to_string()),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ElectrumSource {
    /// Connects to `url` (`tcp://host:port`, or `ssl://host:port` when
    /// `electrum-client` is built with TLS), with a per-request `timeout`.
    pub fn new(url: &str, timeout: Duration, fees: FeeConfig) -> Result<Self, ChainSourceError> {
        let config = electrum_client::ConfigBuilder::new()
            .timeout(Some(timeout))
            .retry(1)
            .build();
        let client = electrum_client::Client::from_config(url, config).map_err(classify)?;
        Ok(ElectrumSource {
            client: Mutex::new(client),
            subscribed: Mutex::new(HashSet::new()),
            fees: CachedFeeEstimator::new(fees),
            broadcast_errors: Mutex::new(Vec::new()),
        })
    }

    /// Whether the server has notified a new tip or a change in a
    /// subscribed script's history since the last call (then a host
    /// syncs). Drains the notifications.
    pub fn has_notifications(&self) -> Result<bool, ChainSourceError> {
        // Notifications are read from the socket along with replies: a
        // ping collects those already sent.
        lock(&self.client).ping().map_err(classify)?;
        let mut any = false;
        while lock(&self.client)
            .block_headers_pop()
            .map_err(classify)?
            .is_some()
        {
            any = true;
        }
        let scripts: Vec<ScriptBuf> = lock(&self.subscribed).iter().cloned().collect();
        for script in scripts {
            while lock(&self.client)
                .script_pop(&script)
                .map_err(classify)?
                .is_some()
            {
                any = true;
            }
        }
        Ok(any)
    }

    /// Asks `blockchain.estimatefee` for each distinct block count the
    /// node's targets map to ([`target_blocks`]); `-1`
    /// (no estimate) gives the configured fallback; a failure keeps the
    /// last estimates.
    pub fn refresh_fee_estimates(&self) -> Result<FeeUpdate, ChainSourceError> {
        // One batch for all of them.
        let mut counts: Vec<u16> = ConfirmationTarget::ALL
            .iter()
            .map(|t| target_blocks(*t))
            .collect();
        counts.sort_unstable();
        counts.dedup();
        let rates = lock(&self.client)
            .batch_estimate_fee(counts.iter().map(|c| usize::from(*c)))
            .map_err(classify)?;
        if rates.len() != counts.len() {
            return Err(ChainSourceError::BadData(
                "estimatefee batch answered short".into(),
            ));
        }
        self.fees.update(|blocks| {
            Ok(counts
                .iter()
                .position(|c| *c == blocks)
                .and_then(|i| rates.get(i))
                .and_then(|rate| fee_rate_from_btc_per_kvb(*rate)))
        })
    }

    /// The cached estimates.
    pub fn fee_estimator(&self) -> &CachedFeeEstimator {
        &self.fees
    }

    /// Transactions the server refused since the last call.
    pub fn take_broadcast_errors(&self) -> Vec<BroadcastError> {
        std::mem::take(&mut *lock(&self.broadcast_errors))
    }

    /// Unconfirmed transactions touching `scripts` (their histories'
    /// entries at height 0, or -1 for those with unconfirmed parents) that
    /// `poll` has not reported yet, at most [`MempoolPoll::limit`] per
    /// call, each checked to hash to the txid asked and kept only if
    /// `poll`'s filter wants it (for
    /// [`MempoolListener`](crate::MempoolListener)). One batch for the
    /// histories, one for the transactions.
    pub fn mempool_transactions(
        &self,
        scripts: &[ScriptBuf],
        poll: &mut MempoolPoll,
    ) -> Result<Vec<Transaction>, ChainSourceError> {
        if scripts.is_empty() {
            return Ok(Vec::new());
        }
        let histories = lock(&self.client)
            .batch_script_get_history(scripts.iter().map(|s| s.as_script()))
            .map_err(classify)?;
        let mut unconfirmed: Vec<Txid> = Vec::new();
        for item in histories.into_iter().flatten() {
            if item.height <= 0 && !unconfirmed.contains(&item.tx_hash) {
                unconfirmed.push(item.tx_hash);
            }
        }
        let new = poll.select_new(&unconfirmed);
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let fetched = lock(&self.client)
            .batch_transaction_get(new.iter())
            .map_err(classify)?;
        Ok(poll.accept(&new, fetched))
    }

    fn subscribe(&self, script: &Script) -> Result<(), ChainSourceError> {
        if lock(&self.subscribed).contains(script) {
            return Ok(());
        }
        match lock(&self.client).script_subscribe(script) {
            Ok(_) | Err(ClientError::AlreadySubscribed(_)) => {}
            Err(e) => return Err(classify(e)),
        }
        lock(&self.subscribed).insert(script.to_owned());
        Ok(())
    }
}

impl LightBackend for ElectrumSource {
    fn tip(&self) -> Result<BestBlock, ChainSourceError> {
        let tip = lock(&self.client)
            .block_headers_subscribe()
            .map_err(classify)?;
        let height = u32::try_from(tip.height)
            .map_err(|_| ChainSourceError::BadData(format!("tip height {}", tip.height)))?;
        Ok(BestBlock::new(tip.header.block_hash(), height))
    }

    fn headers(&self, start: u32, count: u32) -> Result<Vec<Header>, ChainSourceError> {
        let reply = lock(&self.client)
            .block_headers(start as usize, count as usize)
            .map_err(classify)?;
        if reply.headers.len() > count as usize {
            return Err(ChainSourceError::BadData(format!(
                "asked for {count} headers, got {}",
                reply.headers.len()
            )));
        }
        Ok(reply.headers)
    }

    fn script_history(&self, script: &Script) -> Result<Vec<(Txid, u32)>, ChainSourceError> {
        self.subscribe(script)?;
        let history = lock(&self.client)
            .script_get_history(script)
            .map_err(classify)?;
        Ok(history
            .into_iter()
            .filter_map(|item| {
                u32::try_from(item.height)
                    .ok()
                    .filter(|h| *h > 0)
                    .map(|h| (item.tx_hash, h))
            })
            .collect())
    }

    /// One batch to subscribe the scripts not yet subscribed, one batch
    /// for all the histories.
    fn script_histories(
        &self,
        scripts: &[ScriptBuf],
    ) -> Result<Vec<Vec<(Txid, u32)>>, ChainSourceError> {
        let new: Vec<&ScriptBuf> = {
            let subscribed = lock(&self.subscribed);
            let mut new: Vec<&ScriptBuf> = scripts
                .iter()
                .filter(|s| !subscribed.contains(*s))
                .collect();
            new.sort();
            new.dedup();
            new
        };
        if !new.is_empty() {
            match lock(&self.client).batch_script_subscribe(new.iter().map(|s| s.as_script())) {
                Ok(_) | Err(ClientError::AlreadySubscribed(_)) => {}
                Err(e) => return Err(classify(e)),
            }
            lock(&self.subscribed).extend(new.into_iter().cloned());
        }
        if scripts.is_empty() {
            return Ok(Vec::new());
        }
        let histories = lock(&self.client)
            .batch_script_get_history(scripts.iter().map(|s| s.as_script()))
            .map_err(classify)?;
        Ok(histories
            .into_iter()
            .map(|history| {
                history
                    .into_iter()
                    .filter_map(|item| {
                        u32::try_from(item.height)
                            .ok()
                            .filter(|h| *h > 0)
                            .map(|h| (item.tx_hash, h))
                    })
                    .collect()
            })
            .collect())
    }

    fn transaction(&self, txid: &Txid) -> Result<Transaction, ChainSourceError> {
        lock(&self.client).transaction_get(txid).map_err(classify)
    }

    fn transactions(&self, txids: &[Txid]) -> Result<Vec<Transaction>, ChainSourceError> {
        if txids.is_empty() {
            return Ok(Vec::new());
        }
        lock(&self.client)
            .batch_transaction_get(txids.iter())
            .map_err(classify)
    }

    fn merkle_proofs(&self, txs: &[(Txid, u32)]) -> Result<Vec<MerkleProof>, ChainSourceError> {
        if txs.is_empty() {
            return Ok(Vec::new());
        }
        let replies = lock(&self.client)
            .batch_transaction_get_merkle(
                txs.iter()
                    .map(|(t, h)| (*t, *h as usize))
                    .collect::<Vec<_>>(),
            )
            .map_err(classify)?;
        txs.iter()
            .zip(replies)
            .map(|((txid, height), reply)| proof_from(txid, *height, reply))
            .collect()
    }

    fn merkle_proof(&self, txid: &Txid, height: u32) -> Result<MerkleProof, ChainSourceError> {
        let reply = lock(&self.client)
            .transaction_get_merkle(txid, height as usize)
            .map_err(classify)?;
        proof_from(txid, height, reply)
    }
}

fn proof_from(
    txid: &Txid,
    height: u32,
    reply: electrum_client::GetMerkleRes,
) -> Result<MerkleProof, ChainSourceError> {
    if reply.block_height != height as usize {
        return Err(ChainSourceError::BadData(format!(
            "merkle proof of {txid} is for height {}, not {height}",
            reply.block_height
        )));
    }
    // The protocol gives the branch hashes in display (reversed) order.
    let branch = reply
        .merkle
        .into_iter()
        .map(|mut bytes| {
            bytes.reverse();
            TxMerkleNode::from_byte_array(bytes)
        })
        .collect();
    Ok(MerkleProof {
        pos: reply.pos,
        branch,
    })
}

impl Broadcaster for ElectrumSource {
    /// Each transaction in order with `blockchain.transaction.broadcast`;
    /// refusals are recorded for
    /// [`take_broadcast_errors`](ElectrumSource::take_broadcast_errors).
    fn broadcast_transactions(&self, txs: &[&Transaction]) {
        for tx in txs {
            if let Err(e) = lock(&self.client).transaction_broadcast(tx) {
                lock(&self.broadcast_errors).push(BroadcastError {
                    txid: tx.compute_txid(),
                    error: e.to_string(),
                });
            }
        }
    }
}

impl FeeEstimator for ElectrumSource {
    fn fee_rate(&self, target: ConfirmationTarget) -> FeeRate {
        self.fees.fee_rate(target)
    }
}
