//! Gossip sync (placeholder).
