//! Being told about the chain: push-style block notifications, and the
//! filter a light-client host keeps.

use bitcoin::block::Header;
use bitcoin::{Block, BlockHash, OutPoint, Script, ScriptBuf, Transaction, Txid};

/// Receives the chain, block by block. The node implements it; the
/// [`ChainSync`](crate::ChainSync) driver or the host calls it.
///
/// There are two ways to feed a listener:
///
/// - **Full blocks** (bitcoind, a block source): call
///   [`block_connected`](ChainListener::block_connected) for each new block in
///   height order, and [`block_disconnected`](ChainListener::block_disconnected)
///   for each block a reorg removes, tip first, before connecting the new
///   branch.
/// - **Light client** (Electrum, Esplora, compact filters): call
///   [`transactions_confirmed`](ChainListener::transactions_confirmed) with
///   the relevant transactions of a block (those matching the
///   [`WatchFilter`]), possibly several times per block, then
///   [`best_block_updated`](ChainListener::best_block_updated) with the new
///   tip. On a reorg, call `block_disconnected` for each height that was
///   removed (tip first) before confirming anything on the new branch.
///
/// Heights are those of the block in question, not of the listener's tip.
///
/// ```
/// use bitcoin::block::Header;
/// use bitcoin::Transaction;
/// use lightning_chain::{BestBlock, ChainListener};
///
/// #[derive(Debug)]
/// struct TipFollower(BestBlock);
///
/// impl ChainListener for TipFollower {
///     fn transactions_confirmed(&mut self, _: &Header, _: &[(usize, &Transaction)], _: u32) {}
///     fn best_block_updated(&mut self, header: &Header, height: u32) {
///         self.0 = BestBlock::from_header(header, height);
///     }
///     fn block_disconnected(&mut self, header: &Header, height: u32) {
///         self.0 = BestBlock::new(header.prev_blockhash, height - 1);
///     }
/// }
///
/// let genesis = bitcoin::constants::genesis_block(bitcoin::Network::Regtest);
/// let mut follower = TipFollower(BestBlock::genesis(bitcoin::Network::Regtest));
/// follower.block_connected(&genesis, 0);
/// assert_eq!(follower.0.hash, genesis.block_hash());
/// ```
pub trait ChainListener {
    /// `block` at `height` joined the best chain, extending the listener's
    /// best block. By default: all of its transactions to
    /// [`transactions_confirmed`](ChainListener::transactions_confirmed), then
    /// [`best_block_updated`](ChainListener::best_block_updated).
    fn block_connected(&mut self, block: &Block, height: u32) {
        let txdata: Vec<(usize, &Transaction)> = block.txdata.iter().enumerate().collect();
        self.transactions_confirmed(&block.header, &txdata, height);
        self.best_block_updated(&block.header, height);
    }

    /// The block `header` at `height`, the listener's best block, left the
    /// best chain. Afterwards the best block is `header.prev_blockhash` at
    /// `height - 1`. Everything confirmed at `height` or above is unconfirmed.
    fn block_disconnected(&mut self, header: &Header, height: u32);

    /// Transactions in the block `header` at `height`, with their index in
    /// the block. May be a subset (those a light client's filter matched), and
    /// may be called more than once for the same block.
    fn transactions_confirmed(
        &mut self,
        header: &Header,
        txdata: &[(usize, &Transaction)],
        height: u32,
    );

    /// The best chain's tip is now `header` at `height`.
    fn best_block_updated(&mut self, header: &Header, height: u32);
}

impl<T: ChainListener + ?Sized> ChainListener for &mut T {
    fn block_connected(&mut self, block: &Block, height: u32) {
        (**self).block_connected(block, height);
    }
    fn block_disconnected(&mut self, header: &Header, height: u32) {
        (**self).block_disconnected(header, height);
    }
    fn transactions_confirmed(
        &mut self,
        header: &Header,
        txdata: &[(usize, &Transaction)],
        height: u32,
    ) {
        (**self).transactions_confirmed(header, txdata, height);
    }
    fn best_block_updated(&mut self, header: &Header, height: u32) {
        (**self).best_block_updated(header, height);
    }
}

/// Several listeners at the same best block, notified in order.
impl<T: ChainListener> ChainListener for [T] {
    fn block_connected(&mut self, block: &Block, height: u32) {
        for listener in self.iter_mut() {
            listener.block_connected(block, height);
        }
    }
    fn block_disconnected(&mut self, header: &Header, height: u32) {
        for listener in self.iter_mut() {
            listener.block_disconnected(header, height);
        }
    }
    fn transactions_confirmed(
        &mut self,
        header: &Header,
        txdata: &[(usize, &Transaction)],
        height: u32,
    ) {
        for listener in self.iter_mut() {
            listener.transactions_confirmed(header, txdata, height);
        }
    }
    fn best_block_updated(&mut self, header: &Header, height: u32) {
        for listener in self.iter_mut() {
            listener.best_block_updated(header, height);
        }
    }
}

/// An output a light client must watch for spends.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct WatchedOutput {
    /// The block that confirmed the output, if known: a host can start
    /// scanning there.
    pub block_hash: Option<BlockHash>,
    /// The output.
    pub outpoint: OutPoint,
    /// Its script, for hosts that look spends up by script (Electrum).
    pub script_pubkey: ScriptBuf,
}

/// What a light-client host must watch for the node.
///
/// A host that sees every block (bitcoind) need not implement it. A light
/// client (Electrum, Esplora, BIP 157 filters) must report through
/// [`ChainListener::transactions_confirmed`] every transaction that has a
/// registered txid, pays to a registered script, or spends a registered
/// output. Registrations are never withdrawn by the node; a host may drop an
/// output once its spend is deeply buried.
///
/// ```
/// use std::collections::HashSet;
/// use std::sync::Mutex;
/// use bitcoin::{Script, Txid, OutPoint};
/// use lightning_chain::{WatchFilter, WatchedOutput};
///
/// #[derive(Debug, Default)]
/// struct Filter { outpoints: Mutex<HashSet<OutPoint>> }
///
/// impl WatchFilter for Filter {
///     fn register_tx(&self, _txid: &Txid, _script_pubkey: &Script) {}
///     fn register_output(&self, output: WatchedOutput) {
///         self.outpoints.lock().unwrap_or_else(|e| e.into_inner()).insert(output.outpoint);
///     }
/// }
/// ```
pub trait WatchFilter {
    /// Watch for the confirmation of `txid`, which pays to `script_pubkey`
    /// (a host may look it up by script).
    fn register_tx(&self, txid: &Txid, script_pubkey: &Script);

    /// Watch for any transaction spending `output`.
    fn register_output(&self, output: WatchedOutput);
}

impl<T: WatchFilter + ?Sized> WatchFilter for &T {
    fn register_tx(&self, txid: &Txid, script_pubkey: &Script) {
        (**self).register_tx(txid, script_pubkey);
    }
    fn register_output(&self, output: WatchedOutput) {
        (**self).register_output(output);
    }
}

impl<T: WatchFilter + ?Sized> WatchFilter for std::sync::Arc<T> {
    fn register_tx(&self, txid: &Txid, script_pubkey: &Script) {
        (**self).register_tx(txid, script_pubkey);
    }
    fn register_output(&self, output: WatchedOutput) {
        (**self).register_output(output);
    }
}
