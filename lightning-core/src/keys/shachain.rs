//! Per-commitment secrets: generation from a seed, and the compact 49-slot
//! storage of the secrets a counterparty reveals (BOLT 3, "Per-commitment
//! Secret Requirements" and "Efficient Per-commitment Secret Storage").
//!
//! Secret *indexes* count down from `2^48 - 1`: commitment number `n` uses
//! index `2^48 - 1 - n` (see [`commitment_number_to_index`]).

use bitcoin::hashes::{sha256, Hash};

/// The first (largest) per-commitment secret index, `2^48 - 1`.
pub const FIRST_INDEX: u64 = (1 << 48) - 1;

/// The secret index of commitment number `n` (commitment numbers count up
/// from 0, indexes count down from [`FIRST_INDEX`]). `None` past `2^48 - 1`.
pub const fn commitment_number_to_index(commitment_number: u64) -> Option<u64> {
    FIRST_INDEX.checked_sub(commitment_number)
}

/// Flip bit `b` of a secret (bit `b % 8` of byte `b / 8`).
fn flip(p: &mut [u8; 32], b: u32) {
    p[(b / 8) as usize] ^= 1 << (b % 8);
}

/// `derive_secret(base, bits, I)`: walk down from bit `bits - 1`.
fn derive_secret(base: &[u8; 32], bits: u32, index: u64) -> [u8; 32] {
    let mut p = *base;
    for b in (0..bits).rev() {
        if index & (1 << b) != 0 {
            flip(&mut p, b);
            p = sha256::Hash::hash(&p).to_byte_array();
        }
    }
    p
}

/// `generate_from_seed(seed, I)`: the per-commitment secret at index `I`.
///
/// "flip(B)" alternates bit `B % 8` of byte `B / 8` (the value is read
/// little-endian, as every implementation and the BOLT 3 vectors do).
///
/// ```
/// use lightning_core::keys::shachain::build_commitment_secret;
/// let s = build_commitment_secret(&[0; 32], (1 << 48) - 1);
/// assert_eq!(s[..4], [0x02, 0xa4, 0x0c, 0x85]);
/// ```
pub fn build_commitment_secret(seed: &[u8; 32], index: u64) -> [u8; 32] {
    derive_secret(seed, 48, index)
}

/// Why a revealed secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShachainError {
    /// The index is above `2^48 - 1`.
    #[error("per-commitment secret index {0} is above 2^48 - 1")]
    IndexOutOfRange(u64),
    /// Secrets must arrive in strictly descending index order, one by one.
    #[error("per-commitment secret index {got} out of order: expected {expected:?}")]
    OutOfOrder {
        /// The index the store expected next (`None`: all were received).
        expected: Option<u64>,
        /// The index given.
        got: u64,
    },
    /// The secret does not derive a secret already stored: the
    /// counterparty's secrets do not come from one seed.
    #[error("per-commitment secret for index {index} is inconsistent with the secret stored for index {stored_index}")]
    Inconsistent {
        /// The index of the refused secret.
        index: u64,
        /// The index of the earlier secret it failed to derive.
        stored_index: u64,
    },
}

/// The 49-slot compact store of a counterparty's revealed per-commitment
/// secrets (BOLT 3, "Efficient Per-commitment Secret Storage").
///
/// Slot `b` holds the latest secret whose index has `b` trailing zeros; it
/// derives every older secret sharing its prefix.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CounterpartyCommitmentSecrets {
    slots: Vec<Option<([u8; 32], u64)>>,
    /// The lowest index inserted so far (`None` before the first insert).
    min_index: Option<u64>,
}

impl core::fmt::Debug for CounterpartyCommitmentSecrets {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print secrets.
        f.debug_struct("CounterpartyCommitmentSecrets")
            .field("min_index", &self.min_index)
            .finish_non_exhaustive()
    }
}

impl Default for CounterpartyCommitmentSecrets {
    fn default() -> Self {
        Self::new()
    }
}

impl CounterpartyCommitmentSecrets {
    /// An empty store.
    pub fn new() -> Self {
        CounterpartyCommitmentSecrets {
            slots: vec![None; 49],
            min_index: None,
        }
    }

    /// `where_to_put_secret(I)`: the number of trailing zeros, 48 for I = 0.
    fn slot_for(index: u64) -> usize {
        (index.trailing_zeros().min(48)) as usize
    }

    /// The index the next inserted secret must have: [`FIRST_INDEX`] for an
    /// empty store, `None` once index 0 has been stored.
    pub fn next_index(&self) -> Option<u64> {
        match self.min_index {
            None => Some(FIRST_INDEX),
            Some(i) => i.checked_sub(1),
        }
    }

    /// The lowest index stored so far, if any.
    pub fn min_index(&self) -> Option<u64> {
        self.min_index
    }

    /// `insert_secret(secret, I)`: store a revealed secret after checking
    /// that it derives every secret stored before it, and that indexes
    /// arrive one by one from [`FIRST_INDEX`] down, as BOLT 2
    /// `revoke_and_ack` delivers them.
    pub fn insert(&mut self, index: u64, secret: [u8; 32]) -> Result<(), ShachainError> {
        if index > FIRST_INDEX {
            return Err(ShachainError::IndexOutOfRange(index));
        }
        match self.next_index() {
            Some(expected) if expected == index => {}
            expected => {
                return Err(ShachainError::OutOfOrder {
                    expected,
                    got: index,
                })
            }
        }
        self.insert_unordered(index, secret)
    }

    /// `insert_secret(secret, I)` exactly as BOLT 3 writes it: only the
    /// consistency check, no ordering check.
    pub fn insert_unordered(&mut self, index: u64, secret: [u8; 32]) -> Result<(), ShachainError> {
        if index > FIRST_INDEX {
            return Err(ShachainError::IndexOutOfRange(index));
        }
        let pos = Self::slot_for(index);
        for b in 0..pos {
            if let Some((stored, stored_index)) = self.slots[b] {
                if derive_secret(&secret, pos as u32, stored_index) != stored {
                    return Err(ShachainError::Inconsistent {
                        index,
                        stored_index,
                    });
                }
            }
        }
        self.slots[pos] = Some((secret, index));
        self.min_index = Some(self.min_index.map_or(index, |m| m.min(index)));
        Ok(())
    }

    /// The stored `(index, secret)` pairs in the order they were received
    /// (highest index first): feeding them back to
    /// [`CounterpartyCommitmentSecrets::insert_unordered`] in this order
    /// rebuilds the same store, every consistency check passing as it did
    /// the first time (used by the channel record).
    pub fn stored(&self) -> Vec<(u64, [u8; 32])> {
        let mut v: Vec<(u64, [u8; 32])> = self
            .slots
            .iter()
            .flatten()
            .map(|(secret, index)| (*index, *secret))
            .collect();
        v.sort_by_key(|e| core::cmp::Reverse(e.0));
        v
    }

    /// `derive_old_secret(I)`: the secret at `index`, if it was revealed.
    pub fn get_secret(&self, index: u64) -> Option<[u8; 32]> {
        for (b, slot) in self.slots.iter().enumerate() {
            if let Some((secret, stored_index)) = slot {
                // b <= 48, so the shift cannot overflow.
                let mask = !((1u64 << b) - 1);
                if index & mask == *stored_index {
                    return Some(derive_secret(secret, b as u32, index));
                }
            }
        }
        None
    }
}
