//! Drives a `PeerManager` connection over a real `TcpStream`: the host loop
//! a node's runtime would have, reduced to one socket.

// Each test binary uses its own subset of the helpers.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use lightning_core::peer::{PeerEvent, PeerId, PeerManager};

/// One connection and its socket, with a clock for `now`.
pub struct Host {
    pub pm: PeerManager,
    pub peer: PeerId,
    pub stream: TcpStream,
    pub start: Instant,
    /// Every event seen so far.
    pub events: Vec<PeerEvent>,
    /// Whether the other side closed the socket.
    pub eof: bool,
}

impl Host {
    pub fn new(pm: PeerManager, peer: PeerId, stream: TcpStream, start: Instant) -> Host {
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        Host {
            pm,
            peer,
            stream,
            start,
            events: Vec::new(),
            eof: false,
        }
    }

    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// One round: write what is queued, read what arrived, run timers.
    /// Returns the events it produced.
    pub fn step(&mut self) -> Vec<PeerEvent> {
        while let Some(bytes) = self.pm.poll_transmit(self.peer) {
            // The other side may have closed already.
            let _ = self.stream.write_all(&bytes);
        }
        let mut buf = [0u8; 4096];
        if !self.eof {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    self.pm.disconnect(self.peer);
                }
                Ok(n) => {
                    let now = self.now();
                    if let Err(e) = self.pm.handle_bytes(self.peer, &buf[..n], now) {
                        panic!("connection failed: {e}");
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    self.eof = true;
                    self.pm.disconnect(self.peer);
                }
                Err(e) => panic!("read: {e}"),
            }
        }
        let now = self.now();
        if self.pm.next_timeout().is_some_and(|t| t <= now) {
            self.pm.handle_timeout(now);
        }
        let new: Vec<PeerEvent> = std::iter::from_fn(|| self.pm.poll_event()).collect();
        self.events.extend(new.iter().cloned());
        new
    }

    /// Steps until `stop` accepts an event (returning it), panicking after
    /// `limit` or on a disconnect `stop` did not ask for.
    pub fn until(
        &mut self,
        limit: Duration,
        mut stop: impl FnMut(&PeerEvent) -> bool,
    ) -> PeerEvent {
        let deadline = Instant::now() + limit;
        loop {
            for event in self.step() {
                if stop(&event) {
                    return event;
                }
                if let PeerEvent::Disconnected { reason, .. } = &event {
                    panic!("disconnected: {reason:?}");
                }
            }
            assert!(
                Instant::now() < deadline,
                "timed out; events: {:?}",
                self.events
            );
        }
    }

    /// Steps for `period`, panicking on any disconnect; returns the events.
    pub fn idle(&mut self, period: Duration) -> Vec<PeerEvent> {
        let end = Instant::now() + period;
        let mut seen = Vec::new();
        while Instant::now() < end {
            for event in self.step() {
                if let PeerEvent::Disconnected { reason, .. } = &event {
                    panic!("disconnected while idle: {reason:?}");
                }
                seen.push(event);
            }
        }
        seen
    }
}
