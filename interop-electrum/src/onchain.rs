//! Force closes: mining until both sides have swept what is theirs,
//! script-verifying every transaction on the way, and the accounting of
//! where each output of the commitment ended.

use std::collections::HashMap;
use std::time::Duration;

use bitcoin::{Address, Network, OutPoint, Transaction, Txid};
use serde_json::json;

use crate::harness::Harness;

/// Who an output that nobody spends any more belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Our node's shutdown (sweep) script.
    Us,
    /// An address of Electrum's wallet (`ismine`).
    Electrum,
}

/// The final outputs one commitment output became: each outpoint, its
/// value and its owner.
pub type Leaves = Vec<(OutPoint, u64, Owner)>;

/// Where the outputs of a commitment transaction ended.
#[derive(Debug, Clone, Default)]
pub struct Settlement {
    /// For each output of the commitment (by index): its value and the
    /// final outputs it became, with their owners.
    pub outputs: Vec<(u64, Leaves)>,
    /// Every transaction in the tree below the commitment, in chain order.
    pub spends: Vec<Transaction>,
    /// Fees paid by those transactions.
    pub fees_sat: u64,
}

impl Settlement {
    /// What `owner` ended with, in satoshis.
    pub fn total(&self, owner: Owner) -> u64 {
        self.outputs
            .iter()
            .flat_map(|(_, leaves)| leaves.iter())
            .filter(|(_, _, o)| *o == owner)
            .map(|(_, v, _)| v)
            .sum()
    }

    /// The single owner of everything commitment output `index` became.
    pub fn owner_of(&self, index: usize) -> Option<Owner> {
        let leaves = &self.outputs.get(index)?.1;
        let first = leaves.first()?.2;
        leaves.iter().all(|(_, _, o)| *o == first).then_some(first)
    }
}

impl Harness {
    /// Script-verifies every transaction in the mempool (each spends
    /// outputs of the chain or of earlier mempool transactions).
    pub fn verify_mempool(&self) {
        for tx in self.chain.mempool() {
            self.verify(&tx);
        }
    }

    /// Mines until `done` holds (checked between blocks), at most `max`
    /// blocks, script-verifying the mempool before each block: one block
    /// at a time while anything is waiting to confirm, six at a time while
    /// both sides only wait for timelocks.
    pub fn mine_until(&mut self, max: u32, what: &str, mut done: impl FnMut(&Self) -> bool) {
        let mut mined = 0;
        let mut idle = 0;
        while mined < max {
            if done(self) {
                return;
            }
            self.verify_mempool();
            let step = if self.chain.mempool().is_empty() {
                idle += 1;
                if idle > 2 {
                    6
                } else {
                    1
                }
            } else {
                idle = 0;
                1
            };
            self.mine(step);
            mined += step as u32;
            // Give both sides' watchers a moment to broadcast.
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            done(self),
            "not done after {max} blocks: {what}\nElectrum's log:\n{}",
            self.electrum.log_tail(60)
        );
    }

    fn owner(&self, script: &bitcoin::Script) -> Option<Owner> {
        if *script == self.ours.shutdown_script() {
            return Some(Owner::Us);
        }
        let address = Address::from_script(script, Network::Regtest).ok()?;
        let mine = self
            .electrum
            .call("ismine", json!({"address": address.to_string()}));
        (mine == json!(true)).then_some(Owner::Electrum)
    }

    /// Follows every output of `commitment` through the confirmed
    /// transactions spending it down to outputs nobody spends; `Err` while
    /// one of those is neither ours nor Electrum's (a timelocked output
    /// not swept yet) or something is still unconfirmed.
    pub fn settlement(&self, commitment: &Transaction) -> Result<Settlement, String> {
        let commit_txid = commitment.compute_txid();
        let Some((start, _)) = self.chain.with(|c| c.tx_location(&commit_txid)) else {
            return Err("the commitment is unconfirmed".into());
        };
        // Spender of each outpoint, on the chain from the commitment up.
        let mut spender: HashMap<OutPoint, Transaction> = HashMap::new();
        let mut order: Vec<Txid> = Vec::new();
        let tip = self.chain.best_block().height;
        for height in start..=tip {
            let block = self.chain.block_at(height).unwrap();
            for tx in block.txdata.iter().skip(1) {
                for input in &tx.input {
                    spender.insert(input.previous_output, tx.clone());
                }
                order.push(tx.compute_txid());
            }
        }
        if !self.chain.mempool().is_empty() {
            return Err("the mempool is not empty".into());
        }
        let mut settlement = Settlement::default();
        let mut seen: Vec<Txid> = Vec::new();
        for (index, out) in commitment.output.iter().enumerate() {
            let mut leaves = Vec::new();
            let mut queue = vec![OutPoint::new(commit_txid, index as u32)];
            while let Some(point) = queue.pop() {
                match spender.get(&point) {
                    Some(tx) => {
                        let txid = tx.compute_txid();
                        if !seen.contains(&txid) {
                            seen.push(txid);
                            settlement.spends.push(tx.clone());
                            for (vout, _) in tx.output.iter().enumerate() {
                                queue.push(OutPoint::new(txid, vout as u32));
                            }
                        }
                    }
                    None => {
                        let tx = self.chain.get_transaction(&point.txid).unwrap();
                        let output = &tx.output[point.vout as usize];
                        match self.owner(&output.script_pubkey) {
                            Some(owner) => leaves.push((point, output.value.to_sat(), owner)),
                            None => {
                                return Err(format!(
                                    "{point} ({} sat) is not swept yet",
                                    output.value
                                ))
                            }
                        }
                    }
                }
            }
            settlement.outputs.push((out.value.to_sat(), leaves));
        }
        settlement
            .spends
            .sort_by_key(|tx| order.iter().position(|t| *t == tx.compute_txid()));
        for tx in &settlement.spends {
            let spent: u64 = tx
                .input
                .iter()
                .map(|i| {
                    self.chain
                        .get_transaction(&i.previous_output.txid)
                        .unwrap()
                        .output[i.previous_output.vout as usize]
                        .value
                        .to_sat()
                })
                .sum();
            let paid: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
            settlement.fees_sat += spent - paid;
        }
        Ok(settlement)
    }
}
