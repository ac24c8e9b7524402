//! Where chain data comes from.

use bitcoin::block::Header;
use bitcoin::{Block, BlockHash};

use crate::BestBlock;

/// Why a [`ChainSource`] could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainSourceError {
    /// The source could not be reached or timed out; try again later.
    #[error("chain source unavailable: {0}")]
    Unavailable(String),
    /// The source answered with something unusable (a block that does not
    /// hash to what was asked, a malformed reply).
    #[error("chain source gave bad data: {0}")]
    BadData(String),
}

/// Headers and blocks of the best chain, for the [`ChainSync`](crate::ChainSync)
/// driver. A host implements it over bitcoind's RPC or REST, an Esplora
/// server, or its own block store.
///
/// The source's best chain may change between calls (a reorg); the driver
/// copes with that, so an implementation need not lock anything across
/// calls.
///
/// ```
/// use bitcoin::{Block, BlockHash};
/// use lightning_chain::{BestBlock, ChainSource, ChainSourceError};
///
/// /// A chain held in memory, genesis first.
/// #[derive(Debug)]
/// struct Blocks(Vec<Block>);
///
/// impl ChainSource for Blocks {
///     fn best_block(&self) -> Result<BestBlock, ChainSourceError> {
///         let tip = self.0.last().ok_or_else(|| ChainSourceError::Unavailable("empty".into()))?;
///         Ok(BestBlock::new(tip.block_hash(), (self.0.len() - 1) as u32))
///     }
///     fn block_hash_at(&self, height: u32) -> Result<Option<BlockHash>, ChainSourceError> {
///         Ok(self.0.get(height as usize).map(|b| b.block_hash()))
///     }
///     fn block(&self, hash: &BlockHash) -> Result<Option<Block>, ChainSourceError> {
///         Ok(self.0.iter().find(|b| b.block_hash() == *hash).cloned())
///     }
/// }
///
/// let chain = Blocks(vec![bitcoin::constants::genesis_block(bitcoin::Network::Regtest)]);
/// assert_eq!(chain.best_block().unwrap(), BestBlock::genesis(bitcoin::Network::Regtest));
/// ```
pub trait ChainSource {
    /// The tip of the source's best chain.
    fn best_block(&self) -> Result<BestBlock, ChainSourceError>;

    /// The hash of the best chain's block at `height`; `None` above the tip.
    fn block_hash_at(&self, height: u32) -> Result<Option<BlockHash>, ChainSourceError>;

    /// The block with `hash`, on the best chain or not; `None` if unknown.
    fn block(&self, hash: &BlockHash) -> Result<Option<Block>, ChainSourceError>;

    /// The header of the block with `hash`, on the best chain or not;
    /// `None` if unknown. The default fetches the whole block; a source that
    /// can serve headers alone should override it.
    fn header(&self, hash: &BlockHash) -> Result<Option<Header>, ChainSourceError> {
        Ok(self.block(hash)?.map(|block| block.header))
    }
}

impl<T: ChainSource + ?Sized> ChainSource for &T {
    fn best_block(&self) -> Result<BestBlock, ChainSourceError> {
        (**self).best_block()
    }
    fn block_hash_at(&self, height: u32) -> Result<Option<BlockHash>, ChainSourceError> {
        (**self).block_hash_at(height)
    }
    fn block(&self, hash: &BlockHash) -> Result<Option<Block>, ChainSourceError> {
        (**self).block(hash)
    }
    fn header(&self, hash: &BlockHash) -> Result<Option<Header>, ChainSourceError> {
        (**self).header(hash)
    }
}

impl<T: ChainSource + ?Sized> ChainSource for std::sync::Arc<T> {
    fn best_block(&self) -> Result<BestBlock, ChainSourceError> {
        (**self).best_block()
    }
    fn block_hash_at(&self, height: u32) -> Result<Option<BlockHash>, ChainSourceError> {
        (**self).block_hash_at(height)
    }
    fn block(&self, hash: &BlockHash) -> Result<Option<Block>, ChainSourceError> {
        (**self).block(hash)
    }
    fn header(&self, hash: &BlockHash) -> Result<Option<Header>, ChainSourceError> {
        (**self).header(hash)
    }
}
