//! The tip a chain follower has processed, and confirmation depth.

use bitcoin::block::Header;
use bitcoin::{BlockHash, Network};

/// The block a chain follower has processed last: its hash and height.
///
/// Every [`ChainListener`](crate::ChainListener) has one; the
/// [`ChainSync`](crate::ChainSync) driver walks from it to the source's tip.
///
/// ```
/// use lightning_chain::BestBlock;
/// use bitcoin::Network;
///
/// let genesis = BestBlock::genesis(Network::Regtest);
/// assert_eq!(genesis.height, 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BestBlock {
    /// Hash of the block.
    pub hash: BlockHash,
    /// Height of the block; the genesis block is at height 0.
    pub height: u32,
}

impl BestBlock {
    /// A best block at `hash` and `height`.
    pub fn new(hash: BlockHash, height: u32) -> Self {
        BestBlock { hash, height }
    }

    /// The genesis block of `network`, where a node that has seen nothing
    /// starts.
    pub fn genesis(network: Network) -> Self {
        let genesis = bitcoin::constants::genesis_block(network);
        BestBlock {
            hash: genesis.block_hash(),
            height: 0,
        }
    }

    /// The best block after `header` at `height` was connected.
    pub fn from_header(header: &Header, height: u32) -> Self {
        BestBlock {
            hash: header.block_hash(),
            height,
        }
    }
}

/// How deep a transaction is buried: 1 in the block that confirms it, 0 while
/// unconfirmed.
///
/// ```
/// use lightning_chain::Confirmations;
///
/// // Confirmed at height 100, tip at 102: three confirmations.
/// let depth = Confirmations::at(100, 102);
/// assert_eq!(depth.get(), 3);
/// assert!(depth.is_at_least(3));
/// assert_eq!(Confirmations::at(103, 102), Confirmations::NONE);
/// // The height at which a tx confirmed at 100 reaches depth 6:
/// assert_eq!(Confirmations::height_for_depth(100, 6), Some(105));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Confirmations(u32);

impl Confirmations {
    /// Not confirmed.
    pub const NONE: Confirmations = Confirmations(0);

    /// Depth of a transaction confirmed at `confirmation_height` when the tip
    /// is at `tip_height`; [`Confirmations::NONE`] if the tip is below it.
    pub fn at(confirmation_height: u32, tip_height: u32) -> Self {
        match tip_height.checked_sub(confirmation_height) {
            Some(diff) => Confirmations(diff.saturating_add(1)),
            None => Confirmations::NONE,
        }
    }

    /// The tip height at which a transaction confirmed at
    /// `confirmation_height` reaches `depth` confirmations (`depth` 0 or 1
    /// both give the confirmation height). `None` on overflow.
    pub fn height_for_depth(confirmation_height: u32, depth: u32) -> Option<u32> {
        confirmation_height.checked_add(depth.saturating_sub(1))
    }

    /// The number of confirmations.
    pub fn get(self) -> u32 {
        self.0
    }

    /// Whether the transaction is confirmed at all.
    pub fn is_confirmed(self) -> bool {
        self.0 > 0
    }

    /// Whether the depth is at least `depth`.
    pub fn is_at_least(self, depth: u32) -> bool {
        self.0 >= depth
    }
}

impl From<Confirmations> for u32 {
    fn from(c: Confirmations) -> u32 {
        c.0
    }
}

impl core::fmt::Display for Confirmations {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} confirmations", self.0)
    }
}
