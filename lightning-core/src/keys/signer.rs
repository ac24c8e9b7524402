//! ChannelSigner.
pub trait ChannelSigner {}
pub struct InMemorySigner;
#[derive(Debug)]
pub enum SignerError {}
