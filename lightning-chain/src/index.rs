//! Hash-map keys for txids and outpoints that hash 8 bytes instead of 36.
//!
//! Watching a block means looking every one of its inputs (and txids) up
//! in the sets of what is watched: for a 3,000-transaction block that is
//! some 9,000 lookups, and with the standard library's SipHash over a
//! whole [`OutPoint`] (a 32-byte txid and a 4-byte index) the hashing is
//! most of their cost. A txid is already the output of a hash, so its
//! first 8 bytes are as uniform as all 32: [`TxidKey`] and [`OutPointKey`]
//! feed only those (XORed with the output index) to the map's hasher, and
//! compare the whole value for equality.
//!
//! Use them with the default, randomly keyed hasher ([`RandomState`]): an
//! attacker who grinds transactions to collide with a watched txid must
//! match 64 bits (2^64 work) to share its bucket, and even then the key
//! equality keeps the two apart; only lookups get slower.
//!
//! [`RandomState`]: std::collections::hash_map::RandomState
//!
//! ```
//! use std::collections::HashMap;
//! use bitcoin::hashes::Hash;
//! use bitcoin::{OutPoint, Txid};
//! use lightning_chain::OutPointKey;
//!
//! let op = OutPoint { txid: Txid::from_byte_array([7; 32]), vout: 1 };
//! let mut watched = HashMap::new();
//! watched.insert(OutPointKey(op), "funding");
//! assert_eq!(watched.get(&OutPointKey(op)), Some(&"funding"));
//! assert_eq!(watched.get(&OutPointKey(OutPoint { vout: 0, ..op })), None);
//! ```

use std::hash::{Hash, Hasher};

use bitcoin::hashes::Hash as _;
use bitcoin::{OutPoint, Txid};

fn prefix(txid: &Txid) -> u64 {
    let b = txid.as_byte_array();
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// A [`Txid`] as a hash-map key that hashes its first 8 bytes (see the
/// `index` module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TxidKey(pub Txid);

impl Hash for TxidKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(prefix(&self.0));
    }
}

/// An [`OutPoint`] as a hash-map key that hashes 8 bytes: its txid's first
/// 8 XORed with the output index (see the `index` module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct OutPointKey(pub OutPoint);

impl Hash for OutPointKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(prefix(&self.0.txid) ^ u64::from(self.0.vout));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn txid(first: u8, last: u8) -> Txid {
        let mut b = [0u8; 32];
        b[0] = first;
        b[31] = last;
        Txid::from_byte_array(b)
    }

    #[test]
    fn equal_prefixes_stay_distinct_keys() {
        // Same first 8 bytes, different txids: one bucket, two entries.
        let (a, b) = (txid(1, 1), txid(1, 2));
        let mut m = HashMap::new();
        m.insert(TxidKey(a), 'a');
        m.insert(TxidKey(b), 'b');
        assert_eq!(m.len(), 2);
        assert_eq!(m[&TxidKey(a)], 'a');
        assert_eq!(m[&TxidKey(b)], 'b');
        // vout XORed into the prefix: (t1, 1) and (t0, 0) where t1 = t0 ^ 1
        // hash alike but are different outpoints.
        let x = OutPoint {
            txid: txid(1, 0),
            vout: 1,
        };
        let y = OutPoint {
            txid: txid(0, 0),
            vout: 0,
        };
        let mut m = HashMap::new();
        m.insert(OutPointKey(x), 'x');
        m.insert(OutPointKey(y), 'y');
        assert_eq!((m[&OutPointKey(x)], m[&OutPointKey(y)]), ('x', 'y'));
        assert!(!m.contains_key(&OutPointKey(OutPoint { vout: 0, ..x })));
    }
}
