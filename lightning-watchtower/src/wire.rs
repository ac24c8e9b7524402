//! Client-tower messages. They travel over the BOLT 8 connection between
//! the client node and the tower node, as custom messages of odd type (a
//! node that does not know them ignores them, BOLT 1). Integers are
//! big-endian; each message is `type (u16) || fields`.
//!
//! | type | name | fields |
//! |---|---|---|
//! | 42001 | `wt_create_session` | `u16 max_updates` |
//! | 42003 | `wt_session_ack` | `u8 code`, `u64 session_id`, `u16 max_updates` |
//! | 42005 | `wt_state_update` | `u64 session_id`, `u16 seqnum`, `16 locator`, `u16 len`, `len blob` |
//! | 42007 | `wt_state_update_ack` | `u64 session_id`, `u16 seqnum`, `u8 code` |
//!
//! Codes: see [`Code`]. `seqnum` counts a session's updates from 1; the
//! tower accepts the next one only, and acknowledges a repeat of the last
//! one again (a client resending after a reconnection).

use crate::blob::{Locator, MAX_BLOB_LEN};

/// `wt_create_session`.
pub const CREATE_SESSION: u16 = 42_001;
/// `wt_session_ack`.
pub const SESSION_ACK: u16 = 42_003;
/// `wt_state_update`.
pub const STATE_UPDATE: u16 = 42_005;
/// `wt_state_update_ack`.
pub const STATE_UPDATE_ACK: u16 = 42_007;

/// An answer's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Accepted.
    Ok = 0,
    /// No such session for this client.
    UnknownSession = 1,
    /// The session used all its updates: open another.
    SessionFull = 2,
    /// Not the next sequence number.
    BadSeqnum = 3,
    /// The tower is out of room (storage bound).
    TowerFull = 4,
    /// The blob is too large or empty.
    BadBlob = 5,
    /// This client has too many sessions.
    TooManySessions = 6,
}

impl Code {
    fn from_u8(b: u8) -> Option<Code> {
        Some(match b {
            0 => Code::Ok,
            1 => Code::UnknownSession,
            2 => Code::SessionFull,
            3 => Code::BadSeqnum,
            4 => Code::TowerFull,
            5 => Code::BadBlob,
            6 => Code::TooManySessions,
            _ => return None,
        })
    }
}

/// A tower message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TowerMessage {
    /// `wt_create_session`.
    CreateSession {
        /// Updates the client asks for.
        max_updates: u16,
    },
    /// `wt_session_ack`.
    SessionAck {
        /// The answer.
        code: Code,
        /// The new session.
        session_id: u64,
        /// Updates granted.
        max_updates: u16,
    },
    /// `wt_state_update`.
    StateUpdate {
        /// The session.
        session_id: u64,
        /// 1, 2, ...
        seqnum: u16,
        /// The revoked commitment's locator.
        locator: Locator,
        /// The encrypted justice kit.
        blob: Vec<u8>,
    },
    /// `wt_state_update_ack`.
    StateUpdateAck {
        /// The session.
        session_id: u64,
        /// The update acknowledged.
        seqnum: u16,
        /// The answer.
        code: Code,
    },
}

/// A message that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Shorter than its fields.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// Bytes after the last field.
    #[error("trailing bytes in {0}")]
    Trailing(&'static str),
    /// Not one of ours.
    #[error("unknown message type {0}")]
    UnknownType(u16),
    /// An unknown answer code.
    #[error("unknown code {0}")]
    UnknownCode(u8),
    /// A blob longer than a tower takes.
    #[error("blob of {0} bytes")]
    BlobTooLong(usize),
}

struct R<'a>(&'a [u8], &'static str);

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(WireError::Truncated(self.1));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
    fn code(&mut self) -> Result<Code, WireError> {
        let b = self.u8()?;
        Code::from_u8(b).ok_or(WireError::UnknownCode(b))
    }
    fn end(self) -> Result<(), WireError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(WireError::Trailing(self.1))
        }
    }
}

impl TowerMessage {
    /// `type || fields`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            TowerMessage::CreateSession { max_updates } => {
                out.extend_from_slice(&CREATE_SESSION.to_be_bytes());
                out.extend_from_slice(&max_updates.to_be_bytes());
            }
            TowerMessage::SessionAck {
                code,
                session_id,
                max_updates,
            } => {
                out.extend_from_slice(&SESSION_ACK.to_be_bytes());
                out.push(*code as u8);
                out.extend_from_slice(&session_id.to_be_bytes());
                out.extend_from_slice(&max_updates.to_be_bytes());
            }
            TowerMessage::StateUpdate {
                session_id,
                seqnum,
                locator,
                blob,
            } => {
                out.extend_from_slice(&STATE_UPDATE.to_be_bytes());
                out.extend_from_slice(&session_id.to_be_bytes());
                out.extend_from_slice(&seqnum.to_be_bytes());
                out.extend_from_slice(&locator.0);
                let len = blob.len().min(MAX_BLOB_LEN);
                out.extend_from_slice(&(len as u16).to_be_bytes());
                out.extend_from_slice(&blob[..len]);
            }
            TowerMessage::StateUpdateAck {
                session_id,
                seqnum,
                code,
            } => {
                out.extend_from_slice(&STATE_UPDATE_ACK.to_be_bytes());
                out.extend_from_slice(&session_id.to_be_bytes());
                out.extend_from_slice(&seqnum.to_be_bytes());
                out.push(*code as u8);
            }
        }
        out
    }

    /// Reads `type || fields`; never panics.
    pub fn decode(data: &[u8]) -> Result<TowerMessage, WireError> {
        let mut r = R(data, "type");
        let ty = r.u16()?;
        let m = match ty {
            CREATE_SESSION => {
                r.1 = "wt_create_session";
                TowerMessage::CreateSession {
                    max_updates: r.u16()?,
                }
            }
            SESSION_ACK => {
                r.1 = "wt_session_ack";
                TowerMessage::SessionAck {
                    code: r.code()?,
                    session_id: r.u64()?,
                    max_updates: r.u16()?,
                }
            }
            STATE_UPDATE => {
                r.1 = "wt_state_update";
                let session_id = r.u64()?;
                let seqnum = r.u16()?;
                let mut l = [0u8; 16];
                l.copy_from_slice(r.take(16)?);
                let len = usize::from(r.u16()?);
                if len > MAX_BLOB_LEN {
                    return Err(WireError::BlobTooLong(len));
                }
                let blob = r.take(len)?.to_vec();
                TowerMessage::StateUpdate {
                    session_id,
                    seqnum,
                    locator: Locator(l),
                    blob,
                }
            }
            STATE_UPDATE_ACK => {
                r.1 = "wt_state_update_ack";
                TowerMessage::StateUpdateAck {
                    session_id: r.u64()?,
                    seqnum: r.u16()?,
                    code: r.code()?,
                }
            }
            other => return Err(WireError::UnknownType(other)),
        };
        r.end()?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<TowerMessage> {
        vec![
            TowerMessage::CreateSession { max_updates: 1024 },
            TowerMessage::SessionAck {
                code: Code::Ok,
                session_id: 7,
                max_updates: 1000,
            },
            TowerMessage::StateUpdate {
                session_id: 7,
                seqnum: 3,
                locator: Locator([9; 16]),
                blob: vec![1, 2, 3],
            },
            TowerMessage::StateUpdateAck {
                session_id: 7,
                seqnum: 3,
                code: Code::BadSeqnum,
            },
        ]
    }

    #[test]
    fn round_trip_truncation_and_trailing() {
        for m in samples() {
            let b = m.encode();
            assert_eq!(TowerMessage::decode(&b).unwrap(), m);
            for n in 0..b.len() {
                assert!(TowerMessage::decode(&b[..n]).is_err());
            }
            let mut t = b.clone();
            t.push(0);
            assert!(TowerMessage::decode(&t).is_err());
        }
        assert_eq!(
            TowerMessage::decode(&[0, 16]),
            Err(WireError::UnknownType(16))
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small deterministic fuzz: every 3-byte prefix over each type.
        for ty in [CREATE_SESSION, SESSION_ACK, STATE_UPDATE, STATE_UPDATE_ACK] {
            for len in 0..40usize {
                for fill in [0u8, 0xff, 0x5a] {
                    let mut b = ty.to_be_bytes().to_vec();
                    b.extend(std::iter::repeat_n(fill, len));
                    let _ = TowerMessage::decode(&b);
                }
            }
        }
    }
}
