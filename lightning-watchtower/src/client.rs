//! The client side, per tower: a bounded queue of updates, sent in order
//! within a session, kept until acknowledged (so a disconnection loses
//! none: they go again, same sequence numbers, after the next
//! connection), a new session asked for when one is full. Queueing never
//! waits on the tower: a payment's revocation costs one push.

use std::collections::VecDeque;

use crate::blob::Locator;
use crate::record::{self, bad, Change, Changes, RecordError};
use crate::wire::{Code, TowerMessage};

const SESSION_KEY: &str = "session";

fn queue_key(index: u64) -> String {
    format!("q/{index:016x}")
}

/// Updates asked for per session.
pub const SESSION_UPDATES: u16 = 1024;

/// What went wrong with a tower.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The queue is at its bound: the update was not queued (the tower is
    /// down or slow; the node's own resolver still guards the channel).
    #[error("tower queue full ({0} updates)")]
    QueueFull(usize),
    /// The tower refused (a code other than `Ok`).
    #[error("tower refused: {0:?}")]
    Refused(Code),
    /// An answer that fits nothing we sent (a lying or broken tower).
    #[error("unexpected answer from the tower")]
    Unexpected,
}

#[derive(Debug, Clone, Copy)]
struct Session {
    id: u64,
    max: u16,
    /// Updates the tower acknowledged.
    acked: u16,
    /// Updates sent on this connection (`>= acked`).
    sent: u16,
}

/// One tower's client state.
#[derive(Debug)]
pub struct TowerClient {
    max_queue: usize,
    /// (queue index, locator, blob), oldest first.
    queue: VecDeque<(u64, Locator, Vec<u8>)>,
    next_index: u64,
    session: Option<Session>,
    /// A `wt_create_session` is out.
    asking: bool,
    connected: bool,
    /// Updates acknowledged over the client's life.
    pub acknowledged: u64,
    /// Records skipped on restore because they did not decode.
    pub damaged_records: u64,
    changes: Changes,
}

impl TowerClient {
    /// A client keeping at most `max_queue` unacknowledged updates.
    pub fn new(max_queue: usize) -> TowerClient {
        TowerClient {
            max_queue,
            queue: VecDeque::new(),
            next_index: 0,
            session: None,
            asking: false,
            connected: false,
            acknowledged: 0,
            damaged_records: 0,
            changes: Changes::default(),
        }
    }

    /// Turns on (or off) the recording of durable changes
    /// ([`take_changes`](TowerClient::take_changes), [`crate::record`]).
    pub fn record_changes(&mut self, on: bool) {
        self.changes.set(on);
    }

    /// The changes to durable state since the last call, in order: the
    /// host writes them before it sends the messages those calls
    /// returned.
    pub fn take_changes(&mut self) -> Vec<Change> {
        self.changes.take()
    }

    /// A client rebuilt from its records ([`crate::record`]), recording
    /// changes: the updates not acknowledged before the restart wait in
    /// the queue again (past `max_queue` too: they were accepted), and the
    /// session goes on where the acknowledgements stopped. Records that do
    /// not decode are skipped and counted
    /// ([`TowerClient::damaged_records`]).
    ///
    /// ```
    /// use lightning_watchtower::record::Change;
    /// use lightning_watchtower::{Locator, TowerClient};
    /// let mut client = TowerClient::restore(100, Vec::new());
    /// client.queue_update(Locator([1; 16]), vec![9; 100]).unwrap();
    /// let records: Vec<(String, Vec<u8>)> = client
    ///     .take_changes()
    ///     .into_iter()
    ///     .filter_map(|c| match c {
    ///         Change::Insert { key, value } | Change::Put { key, value } => Some((key, value)),
    ///         _ => None,
    ///     })
    ///     .collect();
    /// assert_eq!(TowerClient::restore(100, records).pending(), 1);
    /// ```
    pub fn restore(
        max_queue: usize,
        records: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> TowerClient {
        let mut c = TowerClient::new(max_queue);
        c.record_changes(true);
        let mut queue = Vec::new();
        for (key, value) in records {
            match c.restore_record(&key, &value) {
                Ok(Some(entry)) => queue.push(entry),
                Ok(None) => {}
                Err(_) => c.damaged_records += 1,
            }
        }
        queue.sort_unstable_by_key(|(i, _, _)| *i);
        c.next_index = queue.last().map_or(0, |(i, _, _)| i + 1);
        c.queue = queue.into();
        c
    }

    fn restore_record(
        &mut self,
        key: &str,
        value: &[u8],
    ) -> Result<Option<(u64, Locator, Vec<u8>)>, RecordError> {
        if key == SESSION_KEY {
            let (id, max, acked) = record::decode_counts(key, value)?;
            if max == 0 || acked > max {
                return Err(bad(key, "impossible session counts"));
            }
            self.session = Some(Session {
                id,
                max,
                acked,
                sent: acked,
            });
            return Ok(None);
        }
        let index = key
            .strip_prefix("q/")
            .and_then(|h| record::parse_hex_u64(h, 16))
            .ok_or_else(|| bad(key, "unknown key"))?;
        let (locator, blob) = record::decode_update(key, value)?;
        Ok(Some((index, locator, blob)))
    }

    fn put_session(&mut self) {
        match self.session {
            Some(s) => self.changes.put(
                SESSION_KEY.to_string(),
                record::encode_counts(s.id, s.max, s.acked).to_vec(),
            ),
            None => self.changes.remove(SESSION_KEY.to_string()),
        }
    }

    /// Updates not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Queues one update; what to send now, if connected.
    pub fn queue_update(
        &mut self,
        locator: Locator,
        blob: Vec<u8>,
    ) -> Result<Vec<TowerMessage>, ClientError> {
        if self.queue.len() >= self.max_queue {
            return Err(ClientError::QueueFull(self.queue.len()));
        }
        let index = self.next_index;
        self.next_index += 1;
        self.changes
            .insert(queue_key(index), record::encode_update(&locator, &blob));
        self.queue.push_back((index, locator, blob));
        Ok(self.next_messages())
    }

    /// The connection to the tower is up.
    pub fn connected(&mut self) -> Vec<TowerMessage> {
        self.connected = true;
        self.asking = false;
        if let Some(s) = &mut self.session {
            s.sent = s.acked;
        }
        self.next_messages()
    }

    /// The connection dropped: what was sent and not acknowledged goes
    /// again next time.
    pub fn disconnected(&mut self) {
        self.connected = false;
        self.asking = false;
        if let Some(s) = &mut self.session {
            s.sent = s.acked;
        }
    }

    fn next_messages(&mut self) -> Vec<TowerMessage> {
        let mut out = Vec::new();
        if !self.connected {
            return out;
        }
        let Some(s) = &mut self.session else {
            if !self.queue.is_empty() && !self.asking {
                self.asking = true;
                out.push(TowerMessage::CreateSession {
                    max_updates: SESSION_UPDATES,
                });
            }
            return out;
        };
        let in_flight = usize::from(s.sent - s.acked);
        for (_, locator, blob) in self.queue.iter().skip(in_flight) {
            if s.sent >= s.max {
                break;
            }
            s.sent += 1;
            out.push(TowerMessage::StateUpdate {
                session_id: s.id,
                seqnum: s.sent,
                locator: *locator,
                blob: blob.clone(),
            });
        }
        if s.acked >= s.max && !self.queue.is_empty() && !self.asking {
            self.session = None;
            self.changes.remove(SESSION_KEY.to_string());
            self.asking = true;
            out.push(TowerMessage::CreateSession {
                max_updates: SESSION_UPDATES,
            });
        }
        out
    }

    /// An answer from the tower: what to send next.
    pub fn handle(&mut self, msg: &TowerMessage) -> Result<Vec<TowerMessage>, ClientError> {
        match msg {
            TowerMessage::SessionAck {
                code,
                session_id,
                max_updates,
            } => {
                if !self.asking {
                    return Err(ClientError::Unexpected);
                }
                self.asking = false;
                if *code != Code::Ok {
                    return Err(ClientError::Refused(*code));
                }
                if *max_updates == 0 {
                    return Err(ClientError::Unexpected);
                }
                self.session = Some(Session {
                    id: *session_id,
                    max: *max_updates,
                    acked: 0,
                    sent: 0,
                });
                self.put_session();
            }
            TowerMessage::StateUpdateAck {
                session_id,
                seqnum,
                code,
            } => {
                let Some(s) = &mut self.session else {
                    return Err(ClientError::Unexpected);
                };
                // Only the next update we sent may be acknowledged.
                if *session_id != s.id || *seqnum != s.acked + 1 || *seqnum > s.sent {
                    return Err(ClientError::Unexpected);
                }
                match code {
                    Code::Ok => {
                        s.acked += 1;
                        if let Some((index, _, _)) = self.queue.pop_front() {
                            self.changes.remove(queue_key(index));
                        }
                        self.acknowledged += 1;
                        self.put_session();
                    }
                    Code::SessionFull => {
                        // Start over in a new session with what is left.
                        self.session = None;
                        self.put_session();
                    }
                    other => {
                        // Sent again after the next connection.
                        s.sent = s.acked;
                        return Err(ClientError::Refused(*other));
                    }
                }
            }
            _ => return Err(ClientError::Unexpected),
        }
        Ok(self.next_messages())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{Tower, TowerConfig};
    use bitcoin::secp256k1::{PublicKey, SecretKey, SECP256K1};
    use std::sync::Arc;

    #[derive(Debug)]
    struct Drop;
    impl lightning_chain::Broadcaster for Drop {
        fn broadcast_transactions(&self, _: &[&bitcoin::Transaction]) {}
    }

    fn me() -> PublicKey {
        PublicKey::from_secret_key(SECP256K1, &SecretKey::from_slice(&[4; 32]).unwrap())
    }

    /// Delivers messages both ways until quiet, dropping the connection
    /// after `cut` tower answers (once).
    fn run(c: &mut TowerClient, t: &mut Tower, mut out: Vec<TowerMessage>, mut cut: Option<usize>) {
        let mut answers = 0;
        while let Some(m) = out.first().cloned() {
            out.remove(0);
            let a = t.handle_message(me(), &m).unwrap();
            answers += 1;
            if cut == Some(answers) {
                cut = None;
                c.disconnected();
                out = c.connected();
                continue;
            }
            out.extend(c.handle(&a).unwrap());
        }
    }

    #[test]
    fn updates_reach_the_tower_across_sessions_and_disconnections() {
        let mut t = Tower::new(
            TowerConfig {
                max_updates_per_session: 7,
                ..Default::default()
            },
            Arc::new(Drop),
        );
        let mut c = TowerClient::new(100);
        // Queued while the tower is away: nothing leaves, nothing blocks.
        for i in 0..20u8 {
            assert!(c
                .queue_update(Locator([i; 16]), vec![i; 50])
                .unwrap()
                .is_empty());
        }
        let out = c.connected();
        run(&mut c, &mut t, out, Some(5));
        assert_eq!(c.pending(), 0);
        assert_eq!(c.acknowledged, 20);
        assert_eq!(t.stats().updates, 20, "no duplicate, none lost");
        // The bound.
        let mut c2 = TowerClient::new(2);
        c2.queue_update(Locator([1; 16]), vec![1]).unwrap();
        c2.queue_update(Locator([2; 16]), vec![1]).unwrap();
        assert_eq!(
            c2.queue_update(Locator([3; 16]), vec![1]),
            Err(ClientError::QueueFull(2))
        );
    }

    #[test]
    fn a_lying_tower_gets_typed_errors() {
        let mut c = TowerClient::new(10);
        c.queue_update(Locator([1; 16]), vec![1]).unwrap();
        let out = c.connected();
        assert!(matches!(out[0], TowerMessage::CreateSession { .. }));
        // An ack for something never sent.
        assert_eq!(
            c.handle(&TowerMessage::StateUpdateAck {
                session_id: 1,
                seqnum: 1,
                code: Code::Ok
            }),
            Err(ClientError::Unexpected)
        );
        let out = c
            .handle(&TowerMessage::SessionAck {
                code: Code::Ok,
                session_id: 5,
                max_updates: 10,
            })
            .unwrap();
        assert_eq!(out.len(), 1);
        // A second session ack nobody asked for.
        assert_eq!(
            c.handle(&TowerMessage::SessionAck {
                code: Code::Ok,
                session_id: 6,
                max_updates: 10,
            }),
            Err(ClientError::Unexpected)
        );
        // Acks out of order or for another session.
        for (s, n) in [(5, 2), (6, 1)] {
            assert_eq!(
                c.handle(&TowerMessage::StateUpdateAck {
                    session_id: s,
                    seqnum: n,
                    code: Code::Ok
                }),
                Err(ClientError::Unexpected)
            );
        }
        assert_eq!(c.pending(), 1, "nothing dropped on a bad answer");
        assert_eq!(
            c.handle(&TowerMessage::StateUpdateAck {
                session_id: 5,
                seqnum: 1,
                code: Code::TowerFull
            }),
            Err(ClientError::Refused(Code::TowerFull))
        );
        assert_eq!(c.pending(), 1);
    }
}
