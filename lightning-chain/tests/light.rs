//! The light-client driver over an in-memory backend built on the simulated
//! chain: confirmations, spends and reorgs through the listener's
//! light-client path, and bad data (a forged merkle branch, a header chain
//! that does not connect) refused without a wrong confirmation.
#![allow(clippy::unwrap_used)] // test helpers

use std::cell::Cell;

use bitcoin::block::Header;
use bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoin::{Amount, OutPoint, Script, Transaction, TxMerkleNode, Txid};
use lightning_chain::{
    BestBlock, ChainSourceError, ConfirmationEvent, ConfirmationTracker, LightBackend,
    LightClientSync, MerkleProof, SyncError, WatchFilter, WatchedOutput,
};
use lightning_sim::{SimChainHandle, SimWallet};

#[derive(Debug)]
struct SimBackend {
    chain: SimChainHandle,
    forge_proofs: Cell<bool>,
    break_headers: Cell<bool>,
    /// A transaction the backend claims at a height, in every history.
    planted: std::cell::RefCell<Option<(Transaction, u32)>>,
}

fn branch(txids: &[Txid], mut pos: usize) -> Vec<TxMerkleNode> {
    let mut level: Vec<[u8; 32]> = txids.iter().map(|t| t.to_byte_array()).collect();
    let mut out = Vec::new();
    while level.len() > 1 {
        if level.len() % 2 == 1 {
            level.push(*level.last().unwrap());
        }
        out.push(TxMerkleNode::from_byte_array(level[pos ^ 1]));
        level = level
            .chunks(2)
            .map(|pair| {
                let mut engine = sha256d::Hash::engine();
                engine.input(&pair[0]);
                engine.input(&pair[1]);
                sha256d::Hash::from_engine(engine).to_byte_array()
            })
            .collect();
        pos /= 2;
    }
    out
}

impl LightBackend for SimBackend {
    fn tip(&self) -> Result<BestBlock, ChainSourceError> {
        Ok(self.chain.best_block())
    }
    fn headers(&self, start: u32, count: u32) -> Result<Vec<Header>, ChainSourceError> {
        let mut headers: Vec<Header> = (start..start + count)
            .map_while(|h| self.chain.block_at(h).map(|b| b.header))
            .collect();
        if self.break_headers.get() {
            if let Some(last) = headers.last_mut() {
                last.prev_blockhash = bitcoin::BlockHash::all_zeros();
            }
        }
        Ok(headers)
    }
    fn script_history(&self, script: &Script) -> Result<Vec<(Txid, u32)>, ChainSourceError> {
        let tip = self.chain.best_block().height;
        let mut history = Vec::new();
        for height in 1..=tip {
            let block = self.chain.block_at(height).unwrap();
            for tx in &block.txdata {
                let pays = tx.output.iter().any(|o| o.script_pubkey == *script);
                let spends = tx.input.iter().any(|i| {
                    self.chain
                        .get_transaction(&i.previous_output.txid)
                        .and_then(|prev| prev.output.get(i.previous_output.vout as usize).cloned())
                        .is_some_and(|o| o.script_pubkey == *script)
                });
                if pays || spends {
                    history.push((tx.compute_txid(), height));
                }
            }
        }
        if let Some((tx, height)) = self.planted.borrow().as_ref() {
            history.push((tx.compute_txid(), *height));
        }
        Ok(history)
    }
    fn transaction(&self, txid: &Txid) -> Result<Transaction, ChainSourceError> {
        if let Some((tx, _)) = self
            .planted
            .borrow()
            .as_ref()
            .filter(|(tx, _)| tx.compute_txid() == *txid)
        {
            return Ok(tx.clone());
        }
        self.chain
            .get_transaction(txid)
            .ok_or_else(|| ChainSourceError::BadData("unknown tx".into()))
    }
    fn merkle_proof(&self, txid: &Txid, height: u32) -> Result<MerkleProof, ChainSourceError> {
        if self
            .planted
            .borrow()
            .as_ref()
            .is_some_and(|(tx, _)| tx.compute_txid() == *txid)
        {
            return Ok(MerkleProof {
                pos: 0,
                branch: vec![],
            });
        }
        let block = self.chain.block_at(height).unwrap();
        let txids: Vec<Txid> = block.txdata.iter().map(Transaction::compute_txid).collect();
        let pos = txids.iter().position(|t| t == txid).unwrap();
        let mut proof = MerkleProof {
            pos,
            branch: branch(&txids, pos),
        };
        if self.forge_proofs.get() {
            proof.branch[0] = TxMerkleNode::from_byte_array([7; 32]);
        }
        Ok(proof)
    }
}

fn events(tracker: &mut ConfirmationTracker) -> Vec<ConfirmationEvent> {
    std::iter::from_fn(|| tracker.poll_event()).collect()
}

#[test]
fn light_client_confirms_spends_and_reorgs() {
    let chain = SimChainHandle::new();
    let alice = SimWallet::from_seed([1; 32], chain.clone());
    let bob = SimWallet::from_seed([2; 32], chain.clone());
    chain.mine_blocks(105, &alice.script_pubkey());
    let backend = SimBackend {
        chain: chain.clone(),
        forge_proofs: Cell::new(false),
        break_headers: Cell::new(false),
        planted: std::cell::RefCell::new(None),
    };
    let checkpoint = BestBlock::new(chain.block_at(100).unwrap().block_hash(), 100);
    let mut tracker = ConfirmationTracker::new(checkpoint);
    let mut light = LightClientSync::new(checkpoint);
    assert_eq!(light.sync(&backend, &mut tracker).unwrap().new_headers, 5);

    let funding = alice
        .fund(Amount::from_sat(200_000), &bob.script_pubkey())
        .unwrap();
    let txid = funding.compute_txid();
    let vout = funding
        .output
        .iter()
        .position(|o| o.script_pubkey == bob.script_pubkey())
        .unwrap() as u32;
    let watched = OutPoint::new(txid, vout);
    tracker.watch_tx(txid, 2);
    tracker.watch_outpoint(watched);
    light.register_tx(&txid, &bob.script_pubkey());
    light.register_output(WatchedOutput {
        block_hash: None,
        outpoint: watched,
        script_pubkey: bob.script_pubkey(),
    });
    chain.submit_transaction(funding).unwrap();
    // Enough other transactions for a real merkle branch.
    for _ in 0..4 {
        alice
            .send(Amount::from_sat(10_000), &alice.script_pubkey())
            .unwrap();
    }
    chain.mine_blocks(1, &alice.script_pubkey());

    // A forged merkle branch: an error, and no confirmation reported.
    backend.forge_proofs.set(true);
    let err = light.sync(&backend, &mut tracker).unwrap_err();
    assert!(
        matches!(err, SyncError::Source(ChainSourceError::BadData(_))),
        "{err:?}"
    );
    assert!(events(&mut tracker).is_empty());
    assert_eq!(light.best_block().height, 105);
    // A 64-byte transaction (which could pose as an inner merkle node) is
    // refused before its proof is even looked at.
    let sixty_four = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![bitcoin::TxIn::default()],
        output: vec![bitcoin::TxOut {
            value: Amount::from_sat(1),
            script_pubkey: bitcoin::ScriptBuf::from_bytes(vec![0x51; 4]),
        }],
    };
    assert_eq!(sixty_four.base_size(), 64);
    *backend.planted.borrow_mut() = Some((sixty_four, 106));
    backend.forge_proofs.set(false);
    let err = light.sync(&backend, &mut tracker).unwrap_err();
    assert!(
        matches!(&err, SyncError::Source(ChainSourceError::BadData(m)) if m.contains("64 bytes")),
        "{err:?}"
    );
    assert!(events(&mut tracker).is_empty());
    *backend.planted.borrow_mut() = None;
    // Headers that do not connect: no progress, no confirmation.
    backend.forge_proofs.set(false);
    backend.break_headers.set(true);
    assert!(light.sync(&backend, &mut tracker).is_err());
    assert!(events(&mut tracker).is_empty());
    backend.break_headers.set(false);

    let outcome = light.sync(&backend, &mut tracker).unwrap();
    assert_eq!(outcome.confirmed, 1, "{outcome:?}");
    let seen = events(&mut tracker);
    assert!(
        matches!(&seen[..], [ConfirmationEvent::Confirmed { txid: t, confirmation, .. }] if *t == txid && confirmation.height == 106),
        "{seen:?}"
    );
    // Syncing again reports nothing twice.
    assert_eq!(light.sync(&backend, &mut tracker).unwrap().confirmed, 0);

    let spend = bob
        .fund(Amount::from_sat(50_000), &alice.script_pubkey())
        .unwrap();
    chain.submit_transaction(spend.clone()).unwrap();
    chain.mine_blocks(1, &alice.script_pubkey());
    light.sync(&backend, &mut tracker).unwrap();
    let seen = events(&mut tracker);
    assert!(seen.iter().any(|e| matches!(e, ConfirmationEvent::OutpointSpent { outpoint, .. } if *outpoint == watched)), "{seen:?}");
    assert!(
        seen.iter()
            .any(|e| matches!(e, ConfirmationEvent::ReachedDepth { .. })),
        "{seen:?}"
    );

    // A 2-block reorg onto a longer branch: both undone, then confirmed
    // again in the new blocks.
    chain.reorg(2, 4, &alice.script_pubkey());
    let outcome = light.sync(&backend, &mut tracker).unwrap();
    assert_eq!(outcome.disconnected, 2);
    assert_eq!(tracker.best_block(), chain.best_block());
    let seen = events(&mut tracker);
    assert!(
        seen.iter()
            .any(|e| matches!(e, ConfirmationEvent::ReorgedOut { txid: t, .. } if *t == txid)),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, ConfirmationEvent::SpendReorgedOut { .. })),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, ConfirmationEvent::Confirmed { txid: t, .. } if *t == txid)),
        "{seen:?}"
    );
    assert_eq!(
        tracker.confirmations(&txid).unwrap().get(),
        chain.tx_confirmations(&txid).unwrap()
    );

    // A reorg below the checkpoint is an error, never a silent fork.
    chain.invalidate_tip(10);
    chain.mine_empty_blocks(12);
    assert!(matches!(
        light.sync(&backend, &mut tracker),
        Err(SyncError::UnknownBlock { .. })
    ));
}
