//! The checks every chain-source adapter runs on a block it fetched by hash.

use bitcoin::{Block, BlockHash};

use crate::ChainSourceError;

/// Checks that `block`, fetched as `hash`, is the one asked (it hashes to
/// `hash`) and whole (its transactions match its merkle root). `what` names
/// the request in the error ("getblock", "REST block", ...).
///
/// A server that lies or truncates is [`ChainSourceError::BadData`], never a
/// block handed to the sync driver.
pub(crate) fn check_block(
    hash: &BlockHash,
    block: &Block,
    what: &str,
) -> Result<(), ChainSourceError> {
    let got = block.block_hash();
    if got != *hash {
        return Err(ChainSourceError::BadData(format!(
            "{what} {hash} served {got}"
        )));
    }
    if !block.check_merkle_root() {
        return Err(ChainSourceError::BadData(format!(
            "{what} {hash}: merkle root does not match the transactions"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use bitcoin::Network;

    #[test]
    fn wrong_hash_and_wrong_merkle_root_are_bad_data() {
        let genesis = bitcoin::constants::genesis_block(Network::Regtest);
        let hash = genesis.block_hash();
        assert_eq!(check_block(&hash, &genesis, "getblock"), Ok(()));

        let other = BlockHash::all_zeros();
        let err = check_block(&other, &genesis, "getblock").unwrap_err();
        assert!(matches!(&err, ChainSourceError::BadData(m) if m.contains("served")));

        // Same header (so the same hash), transactions no longer matching.
        let mut cut = genesis.clone();
        cut.txdata.clear();
        let err = check_block(&hash, &cut, "REST block").unwrap_err();
        assert!(
            matches!(&err, ChainSourceError::BadData(m) if m.contains("REST block") && m.contains("merkle"))
        );
    }
}
