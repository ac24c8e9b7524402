//! The client side, per tower: a bounded queue of updates, sent in order
//! within a session, kept until acknowledged (so a disconnection loses
//! none: they go again, same sequence numbers, after the next
//! connection), a new session asked for when one is full. Queueing never
//! waits on the tower: a payment's revocation costs one push.

use std::collections::VecDeque;

use crate::blob::Locator;
use crate::wire::{Code, TowerMessage};

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
    queue: VecDeque<(Locator, Vec<u8>)>,
    session: Option<Session>,
    /// A `wt_create_session` is out.
    asking: bool,
    connected: bool,
    /// Updates acknowledged over the client's life.
    pub acknowledged: u64,
}

impl TowerClient {
    /// A client keeping at most `max_queue` unacknowledged updates.
    pub fn new(max_queue: usize) -> TowerClient {
        TowerClient {
            max_queue,
            queue: VecDeque::new(),
            session: None,
            asking: false,
            connected: false,
            acknowledged: 0,
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
        self.queue.push_back((locator, blob));
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
        for (locator, blob) in self.queue.iter().skip(in_flight) {
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
                        self.queue.pop_front();
                        self.acknowledged += 1;
                    }
                    Code::SessionFull => {
                        // Start over in a new session with what is left.
                        self.session = None;
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
