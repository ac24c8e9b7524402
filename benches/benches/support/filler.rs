//! Filler transactions for the chain benches (`block_connected`,
//! `chain_sync`): two inputs and two outputs each (~230 bytes with their
//! witnesses), spending outpoints no chain knows, distinct per block and
//! per transaction, so a block of them matches nothing a node watches.

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};

/// Block `block`'s `n` filler transactions.
pub fn filler(block: u64, n: usize) -> Vec<Transaction> {
    (0..n)
        .map(|i| {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&(i as u64).to_le_bytes());
            id[8..16].copy_from_slice(&block.to_le_bytes());
            id[31] = 0xab;
            let input = |vout| TxIn {
                previous_output: OutPoint {
                    txid: Txid::from_byte_array(id),
                    vout,
                },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::from_slice(&[vec![0x30; 72], vec![0x02; 33]]),
            };
            Transaction {
                version: Version::TWO,
                lock_time: LockTime::ZERO,
                input: vec![input(0), input(1)],
                output: vec![
                    TxOut {
                        value: Amount::from_sat(10_000 + i as u64),
                        script_pubkey: ScriptBuf::from_bytes(vec![0x00, 0x14, 1, 2, 3]),
                    },
                    TxOut {
                        value: Amount::from_sat(20_000),
                        script_pubkey: ScriptBuf::from_bytes(vec![0x00, 0x14, 4, 5, 6]),
                    },
                ],
            }
        })
        .collect()
}
