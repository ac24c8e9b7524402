//! Following the chain: full blocks through `lightning-chain`'s
//! [`ChainSync`](lightning_chain::ChainSync) driver (bitcoind, the simulated
//! chain), or BDK's own Electrum and Esplora clients.

use bdk_wallet::chain::BlockId;
use bdk_wallet::Wallet as Bdk;
use bitcoin::block::Header;
use bitcoin::{Block, Transaction};
use lightning_chain::{ChainListener, ChainSource, SyncOutcome};

use crate::{BdkWallet, BdkWalletError};

/// How many unused addresses past the last used one a full scan looks at
/// (BIP 44's gap limit).
#[cfg(any(feature = "electrum", feature = "esplora"))]
pub const STOP_GAP: usize = 20;

/// Hands each connected block to BDK, connected to its parent. A
/// disconnection needs nothing: BDK's chain drops the stale blocks when the
/// block replacing the first of them connects (the driver connects the new
/// branch in the same sync).
struct BlockApplier<'a> {
    wallet: &'a mut Bdk,
    error: Option<String>,
}

impl ChainListener for BlockApplier<'_> {
    fn block_connected(&mut self, block: &Block, height: u32) {
        if self.error.is_some() {
            return;
        }
        let Some(parent) = height.checked_sub(1) else {
            return; // genesis: every BDK wallet starts from it
        };
        let connected_to = BlockId {
            height: parent,
            hash: block.header.prev_blockhash,
        };
        if let Err(e) = self
            .wallet
            .apply_block_connected_to(block, height, connected_to)
        {
            self.error = Some(format!("block {height}: {e}"));
        }
    }

    fn block_disconnected(&mut self, _header: &Header, _height: u32) {}

    fn transactions_confirmed(&mut self, _: &Header, _: &[(usize, &Transaction)], _: u32) {}

    fn best_block_updated(&mut self, _: &Header, _: u32) {}
}

impl BdkWallet {
    /// Brings the wallet to `source`'s tip, block by block (reorgs
    /// included), and persists it. A bitcoind through
    /// `lightning_chain::bitcoind::BitcoindSource` is such a source. On an
    /// error nothing is lost: the next call resumes from the last block
    /// the wallet took.
    pub fn sync_blocks<S: ChainSource + ?Sized>(
        &self,
        source: &S,
    ) -> Result<SyncOutcome, BdkWalletError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let mut applier = BlockApplier {
            wallet: &mut inner.wallet,
            error: None,
        };
        let result = inner.sync.sync(source, &mut applier);
        let error = applier.error.take();
        let persisted = inner.persist();
        match (result, error) {
            (Ok(outcome), None) => persisted.map(|()| outcome),
            (result, error) => {
                inner.reset_sync();
                Err(BdkWalletError::Sync(match (result, error) {
                    (_, Some(e)) => e,
                    (Err(e), None) => e.to_string(),
                    (Ok(_), None) => String::new(),
                }))
            }
        }
    }

    /// Scans the wallet's scripts on an Electrum server (`bdk_electrum`:
    /// histories, transactions, and the headers that anchor them),
    /// applies what it found and persists it.
    #[cfg(feature = "electrum")]
    pub fn sync_electrum<E: bdk_electrum::electrum_client::ElectrumApi>(
        &self,
        client: &bdk_electrum::BdkElectrumClient<E>,
    ) -> Result<(), BdkWalletError> {
        let request = self.lock().wallet.start_full_scan().build();
        let update = client
            .full_scan(request, STOP_GAP, 10, false)
            .map_err(|e| BdkWalletError::Sync(e.to_string()))?;
        let mut inner = self.lock();
        inner
            .wallet
            .apply_update(update)
            .map_err(|e| BdkWalletError::Sync(e.to_string()))?;
        inner.reset_sync();
        inner.persist()
    }

    /// Scans the wallet's scripts on an Esplora API (`bdk_esplora`'s
    /// blocking client), applies what it found and persists it.
    #[cfg(feature = "esplora")]
    pub fn sync_esplora(
        &self,
        client: &bdk_esplora::esplora_client::BlockingClient,
    ) -> Result<(), BdkWalletError> {
        use bdk_esplora::EsploraExt;
        let request = self.lock().wallet.start_full_scan().build();
        let update = client
            .full_scan(request, STOP_GAP, 4)
            .map_err(|e| BdkWalletError::Sync(e.to_string()))?;
        let mut inner = self.lock();
        inner
            .wallet
            .apply_update(update)
            .map_err(|e| BdkWalletError::Sync(e.to_string()))?;
        inner.reset_sync();
        inner.persist()
    }
}
