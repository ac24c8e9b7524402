//! The in-memory backend.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use crate::{
    decide_write, keys, validate_batch, validate_write, BatchOp, KvStore, PersistError, Versioned,
    WriteDecision,
};

const BACKEND: &str = "memory";

type Records = BTreeMap<String, BTreeMap<String, Versioned>>;

/// A [`KvStore`] in memory: nothing survives the process. For tests and
/// simulations. Batches are atomic.
///
/// ```
/// use lightning_persist::{KvStore, MemoryStore};
/// let store = MemoryStore::new();
/// store.write("payments", "p1", 1, b"pending").unwrap();
/// assert_eq!(store.read("payments", "p1").unwrap().unwrap().value, b"pending");
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    records: Mutex<Records>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn records(&self) -> MutexGuard<'_, Records> {
        // A panic while holding the lock cannot leave a half-applied change:
        // every change is a single map operation after all checks.
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn apply_write(
    records: &mut Records,
    namespace: &str,
    key: &str,
    version: u64,
    value: &[u8],
) -> Result<(), PersistError> {
    let stored = records.get(namespace).and_then(|ns| ns.get(key));
    let decision = decide_write(
        BACKEND,
        namespace,
        key,
        stored.map(|r| r.version),
        version,
        || Ok(stored.is_some_and(|r| r.value == value)),
    )?;
    if decision == WriteDecision::Apply {
        records.entry(namespace.to_owned()).or_default().insert(
            key.to_owned(),
            Versioned {
                version,
                value: value.to_vec(),
            },
        );
    }
    Ok(())
}

fn apply_remove(records: &mut Records, namespace: &str, key: &str) {
    if let Some(ns) = records.get_mut(namespace) {
        ns.remove(key);
        if ns.is_empty() {
            records.remove(namespace);
        }
    }
}

impl KvStore for MemoryStore {
    fn read(&self, namespace: &str, key: &str) -> Result<Option<Versioned>, PersistError> {
        keys::validate_record(namespace, key)?;
        Ok(self
            .records()
            .get(namespace)
            .and_then(|ns| ns.get(key))
            .cloned())
    }

    fn write(
        &self,
        namespace: &str,
        key: &str,
        version: u64,
        value: &[u8],
    ) -> Result<(), PersistError> {
        validate_write(BACKEND, namespace, key, version, value)?;
        apply_write(&mut self.records(), namespace, key, version, value)
    }

    fn remove(&self, namespace: &str, key: &str) -> Result<(), PersistError> {
        keys::validate_record(namespace, key)?;
        apply_remove(&mut self.records(), namespace, key);
        Ok(())
    }

    fn list(&self, namespace: &str) -> Result<Vec<String>, PersistError> {
        keys::validate_namespace(namespace)?;
        Ok(self
            .records()
            .get(namespace)
            .map(|ns| ns.keys().cloned().collect())
            .unwrap_or_default())
    }

    fn write_batch(&self, ops: &[BatchOp]) -> Result<(), PersistError> {
        validate_batch(BACKEND, ops)?;
        let mut records = self.records();
        // Undo log: on a refused op, put back what the earlier ops changed.
        let mut undo: Vec<(&str, &str, Option<Versioned>)> = Vec::with_capacity(ops.len());
        for op in ops {
            let (namespace, key) = match op {
                BatchOp::Write { namespace, key, .. } | BatchOp::Remove { namespace, key } => {
                    (namespace.as_str(), key.as_str())
                }
            };
            let previous = records.get(namespace).and_then(|ns| ns.get(key)).cloned();
            let applied = match op {
                BatchOp::Write { version, value, .. } => {
                    apply_write(&mut records, namespace, key, *version, value)
                }
                BatchOp::Remove { .. } => {
                    apply_remove(&mut records, namespace, key);
                    Ok(())
                }
            };
            if let Err(e) = applied {
                for (namespace, key, previous) in undo.into_iter().rev() {
                    match previous {
                        Some(record) => {
                            records
                                .entry(namespace.to_owned())
                                .or_default()
                                .insert(key.to_owned(), record);
                        }
                        None => apply_remove(&mut records, namespace, key),
                    }
                }
                return Err(e);
            }
            undo.push((namespace, key, previous));
        }
        Ok(())
    }

    fn batch_is_atomic(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn usable_as_a_shared_trait_object() {
        let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
        let other = Arc::clone(&store);
        std::thread::spawn(move || other.write("ns", "k", 1, b"v").unwrap())
            .join()
            .unwrap();
        assert_eq!(store.read("ns", "k").unwrap().unwrap().version, 1);
        assert!(store.batch_is_atomic());
    }
}
