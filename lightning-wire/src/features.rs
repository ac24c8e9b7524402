//! BOLT 9 feature bits, one typed set per context.
//!
//! Bits are numbered from the least-significant bit of the last byte. Each
//! feature has an even ("required", compulsory) and an odd ("optional") bit;
//! a receiver that finds an even bit it does not understand must refuse the
//! peer, channel or invoice, while odd bits it does not know are fine ("it's
//! OK to be odd", BOLT 1 "The `init` Message").
//!
//! The table follows BOLT 9 ("Assigned Feature Flags") as of the splicing
//! revision the test vectors come from (bits 62/63 assigned). Features the
//! spec marks ASSUMED (`option_data_loss_protect`, `gossip_queries`,
//! `var_onion_optin`, `option_static_remotekey`, `option_channel_type`) are
//! still listed so that they are understood when a peer sets them.
//!
//! ```
//! use lightning_wire::features::{Feature, InitFeatures};
//! let mut f = InitFeatures::empty();
//! f.set_optional(Feature::PaymentSecret);
//! f.set_required(Feature::BasicMpp);
//! assert!(f.supports(Feature::BasicMpp));
//! assert!(f.requires(Feature::BasicMpp));
//! assert!(f.check_dependencies().is_ok());
//! f.clear(Feature::PaymentSecret);
//! assert!(f.check_dependencies().is_err()); // basic_mpp needs payment_secret
//! ```

use core::fmt;
use core::marker::PhantomData;

use crate::codec::{Decode, DecodeError, Encode, Reader};

/// A context a feature vector appears in (BOLT 9, the "Context" column).
pub trait FeatureContext: sealed::Sealed + Copy + fmt::Debug + Default + 'static {
    /// The context's letter in BOLT 9's table.
    const LETTER: char;
    /// A name for errors and debugging.
    const NAME: &'static str;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! contexts {
    ($($(#[$doc:meta])* $name:ident = $letter:literal, $str:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name;
        impl sealed::Sealed for $name {}
        impl FeatureContext for $name {
            const LETTER: char = $letter;
            const NAME: &'static str = $str;
        }
    )*};
}

contexts! {
    /// `I`: the `init` message.
    InitContext = 'I', "init";
    /// `N`: `node_announcement`.
    NodeContext = 'N', "node_announcement";
    /// `C`: `channel_announcement`.
    ChannelContext = 'C', "channel_announcement";
    /// `9`: BOLT 11 invoices.
    Bolt11InvoiceContext = '9', "invoice";
    /// `T`: the `channel_type` of `open_channel` and `accept_channel`.
    ChannelTypeContext = 'T', "channel_type";
    /// `B`: the `allowed_features` of a blinded path.
    BlindedPathContext = 'B', "blinded_path";
}

/// Features of the `init` message.
pub type InitFeatures = Features<InitContext>;
/// Features of `node_announcement`.
pub type NodeFeatures = Features<NodeContext>;
/// Features of `channel_announcement`.
pub type ChannelFeatures = Features<ChannelContext>;
/// Features of a BOLT 11 invoice.
pub type Bolt11InvoiceFeatures = Features<Bolt11InvoiceContext>;
/// A `channel_type`.
pub type ChannelTypeFeatures = Features<ChannelTypeContext>;
/// The `allowed_features` of a blinded path.
pub type BlindedPathFeatures = Features<BlindedPathContext>;

macro_rules! features {
    ($($(#[$doc:meta])* $variant:ident = $even:literal, $name:literal, $ctx:literal, [$($dep:ident),*];)*) => {
        /// A feature assigned in BOLT 9.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Feature {
            $($(#[$doc])* $variant,)*
        }

        impl Feature {
            /// Every assigned feature.
            pub const ALL: &'static [Feature] = &[$(Feature::$variant,)*];

            /// The even (required) bit; the odd (optional) bit is one more.
            pub const fn required_bit(self) -> usize {
                match self { $(Feature::$variant => $even,)* }
            }

            /// The spec's name, for example `basic_mpp`.
            pub const fn name(self) -> &'static str {
                match self { $(Feature::$variant => $name,)* }
            }

            /// The contexts the feature may be presented in, as BOLT 9's
            /// letters.
            pub const fn contexts(self) -> &'static str {
                match self { $(Feature::$variant => $ctx,)* }
            }

            /// The features that must also be set when this one is.
            pub fn dependencies(self) -> &'static [Feature] {
                match self { $(Feature::$variant => &[$(Feature::$dep),*],)* }
            }
        }
    };
}

features! {
    /// `option_data_loss_protect` (ASSUMED).
    DataLossProtect = 0, "option_data_loss_protect", "IN", [];
    /// `option_upfront_shutdown_script`.
    UpfrontShutdownScript = 4, "option_upfront_shutdown_script", "IN", [];
    /// `gossip_queries` (ASSUMED).
    GossipQueries = 6, "gossip_queries", "IN", [];
    /// `var_onion_optin` (ASSUMED).
    VarOnionOptin = 8, "var_onion_optin", "IN9", [];
    /// `gossip_queries_ex`.
    GossipQueriesEx = 10, "gossip_queries_ex", "IN", [];
    /// `option_static_remotekey` (ASSUMED).
    StaticRemoteKey = 12, "option_static_remotekey", "INT", [];
    /// `payment_secret`.
    PaymentSecret = 14, "payment_secret", "IN9", [];
    /// `basic_mpp`.
    BasicMpp = 16, "basic_mpp", "IN9", [PaymentSecret];
    /// `option_support_large_channel`.
    SupportLargeChannel = 18, "option_support_large_channel", "IN", [];
    /// `option_anchor_outputs` (superseded by `option_anchors`).
    AnchorOutputs = 20, "option_anchor_outputs", "INT", [StaticRemoteKey];
    /// `option_anchors` (zero-fee HTLC transactions).
    AnchorsZeroFeeHtlcTx = 22, "option_anchors", "INT", [];
    /// `option_route_blinding`.
    RouteBlinding = 24, "option_route_blinding", "IN9", [];
    /// `option_shutdown_anysegwit`.
    ShutdownAnySegwit = 26, "option_shutdown_anysegwit", "IN", [];
    /// `option_dual_fund`.
    DualFund = 28, "option_dual_fund", "IN", [];
    /// `option_quiesce`.
    Quiesce = 34, "option_quiesce", "IN", [];
    /// `option_attribution_data`.
    AttributionData = 36, "option_attribution_data", "IN9", [];
    /// `option_onion_messages`.
    OnionMessages = 38, "option_onion_messages", "IN", [];
    /// `option_provide_storage`.
    ProvideStorage = 42, "option_provide_storage", "IN", [];
    /// `option_channel_type` (ASSUMED).
    ChannelType = 44, "option_channel_type", "IN", [];
    /// `option_scid_alias`.
    ScidAlias = 46, "option_scid_alias", "INT", [];
    /// `option_payment_metadata`.
    PaymentMetadata = 48, "option_payment_metadata", "9", [];
    /// `option_zeroconf`.
    ZeroConf = 50, "option_zeroconf", "INT", [ScidAlias];
    /// `option_simple_close`.
    SimpleClose = 60, "option_simple_close", "IN", [ShutdownAnySegwit];
    /// `option_splice`.
    Splice = 62, "option_splice", "IN", [Quiesce];
}

impl Feature {
    /// The odd (optional) bit.
    pub const fn optional_bit(self) -> usize {
        self.required_bit() + 1
    }

    /// The feature a bit belongs to, if assigned.
    pub fn from_bit(bit: usize) -> Option<Feature> {
        Feature::ALL
            .iter()
            .copied()
            .find(|f| f.required_bit() == bit & !1)
    }

    /// Whether the feature may be presented in context `C`.
    pub fn allowed_in<C: FeatureContext>(self) -> bool {
        self.contexts().contains(C::LETTER)
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A feature vector problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeatureError {
    /// A feature is set without one it depends on (BOLT 9: the origin "MUST
    /// set all transitive feature dependencies").
    #[error("{context} features: {feature} is set but its dependency {missing} is not")]
    MissingDependency {
        /// The context.
        context: &'static str,
        /// The feature that is set.
        feature: Feature,
        /// The dependency that is not.
        missing: Feature,
    },
    /// Even bits we do not understand (BOLT 1: the receiver "MUST fail the
    /// connection").
    #[error("{context} features require unknown bits {bits:?}")]
    UnknownRequiredBits {
        /// The context.
        context: &'static str,
        /// The even bits set that are not understood.
        bits: Vec<usize>,
    },
    /// A known feature set in a context BOLT 9 does not list it for.
    #[error("{feature} is not allowed in {context} features")]
    NotAllowedInContext {
        /// The context.
        context: &'static str,
        /// The feature.
        feature: Feature,
    },
}

/// A feature vector in context `C`.
///
/// The bytes are kept exactly as received (big-endian, leading zero bytes
/// included), so a decoded message encodes back to the same bytes.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Features<C: FeatureContext> {
    /// Big-endian: bit 0 is the lowest bit of the last byte.
    be: Vec<u8>,
    _context: PhantomData<C>,
}

impl<C: FeatureContext> Features<C> {
    /// No bits set.
    pub fn empty() -> Self {
        Features {
            be: Vec::new(),
            _context: PhantomData,
        }
    }

    /// A vector from its big-endian wire bytes.
    pub fn from_be_bytes(bytes: Vec<u8>) -> Self {
        Features {
            be: bytes,
            _context: PhantomData,
        }
    }

    /// The big-endian wire bytes.
    pub fn as_be_bytes(&self) -> &[u8] {
        &self.be
    }

    /// The vector without leading zero bytes (how an origin should write it).
    pub fn minimal(&self) -> Self {
        let skip = self.be.iter().take_while(|b| **b == 0).count();
        Self::from_be_bytes(self.be[skip..].to_vec())
    }

    /// Whether `bit` is set.
    pub fn is_set(&self, bit: usize) -> bool {
        let byte = bit / 8;
        if byte >= self.be.len() {
            return false;
        }
        self.be[self.be.len() - 1 - byte] & (1 << (bit % 8)) != 0
    }

    /// Sets `bit`, growing the vector as needed.
    pub fn set_bit(&mut self, bit: usize) {
        let byte = bit / 8;
        if byte >= self.be.len() {
            let grow = byte + 1 - self.be.len();
            self.be.splice(0..0, core::iter::repeat_n(0, grow));
        }
        let len = self.be.len();
        self.be[len - 1 - byte] |= 1 << (bit % 8);
    }

    /// Clears `bit`.
    pub fn clear_bit(&mut self, bit: usize) {
        let byte = bit / 8;
        if byte < self.be.len() {
            let len = self.be.len();
            self.be[len - 1 - byte] &= !(1 << (bit % 8));
        }
    }

    /// Every set bit, in increasing order.
    pub fn bits(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.be.len() * 8).filter(move |b| self.is_set(*b))
    }

    /// Whether no bit is set.
    pub fn is_empty(&self) -> bool {
        self.be.iter().all(|b| *b == 0)
    }

    /// Sets the feature's odd bit.
    pub fn set_optional(&mut self, f: Feature) {
        self.set_bit(f.optional_bit());
    }

    /// Sets the feature's even bit.
    pub fn set_required(&mut self, f: Feature) {
        self.set_bit(f.required_bit());
    }

    /// Clears both of the feature's bits.
    pub fn clear(&mut self, f: Feature) {
        self.clear_bit(f.required_bit());
        self.clear_bit(f.optional_bit());
    }

    /// Whether either of the feature's bits is set.
    pub fn supports(&self, f: Feature) -> bool {
        self.is_set(f.required_bit()) || self.is_set(f.optional_bit())
    }

    /// Whether the feature's even bit is set.
    pub fn requires(&self, f: Feature) -> bool {
        self.is_set(f.required_bit())
    }

    /// Checks BOLT 9's dependency rule: every known feature that is set has
    /// its dependencies set too (either bit).
    pub fn check_dependencies(&self) -> Result<(), FeatureError> {
        for f in Feature::ALL {
            if !self.supports(*f) {
                continue;
            }
            for dep in f.dependencies() {
                if !self.supports(*dep) {
                    return Err(FeatureError::MissingDependency {
                        context: C::NAME,
                        feature: *f,
                        missing: *dep,
                    });
                }
            }
        }
        Ok(())
    }

    /// The even bits set here that `understood` supports neither way: BOLT 1
    /// requires failing the connection (or refusing the invoice or channel)
    /// when this is non-empty.
    pub fn unknown_required_bits(&self, understood: &Self) -> Vec<usize> {
        self.bits()
            .filter(|b| b % 2 == 0 && !understood.is_set(*b) && !understood.is_set(b + 1))
            .collect()
    }

    /// Fails with [`FeatureError::UnknownRequiredBits`] if any even bit is set
    /// that `understood` does not support.
    pub fn check_required_understood(&self, understood: &Self) -> Result<(), FeatureError> {
        let bits = self.unknown_required_bits(understood);
        if bits.is_empty() {
            Ok(())
        } else {
            Err(FeatureError::UnknownRequiredBits {
                context: C::NAME,
                bits,
            })
        }
    }

    /// Checks the origin's rule that only features listed for this context
    /// are set (BOLT 9, "Requirements"). Unassigned bits are not judged.
    pub fn check_context(&self) -> Result<(), FeatureError> {
        for f in Feature::ALL {
            if self.supports(*f) && !f.allowed_in::<C>() {
                return Err(FeatureError::NotAllowedInContext {
                    context: C::NAME,
                    feature: *f,
                });
            }
        }
        Ok(())
    }

    /// The bitwise OR of two vectors (for example `init`'s `globalfeatures`
    /// and `features`, which BOLT 1 says to combine).
    pub fn union(&self, other: &Self) -> Self {
        let mut out = self.clone();
        for b in other.bits() {
            out.set_bit(b);
        }
        out
    }

    /// The same bits in another context.
    pub fn to_context<D: FeatureContext>(&self) -> Features<D> {
        Features::from_be_bytes(self.be.clone())
    }
}

impl<C: FeatureContext> fmt::Debug for Features<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}Features[", C::NAME)?;
        for (i, bit) in self.bits().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match Feature::from_bit(bit) {
                Some(feat) => write!(
                    f,
                    "{}({})",
                    feat.name(),
                    if bit % 2 == 0 { "required" } else { "optional" }
                )?,
                None => write!(f, "{bit}")?,
            }
        }
        f.write_str("]")
    }
}

/// `[u16:flen][flen*byte:features]`, the form every message uses.
impl<C: FeatureContext> Encode for Features<C> {
    fn encode(&self, out: &mut Vec<u8>) {
        crate::codec::write_u16_prefixed(out, &self.be);
    }
}

impl<C: FeatureContext> Decode for Features<C> {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Features::from_be_bytes(
            reader.read_u16_prefixed()?.to_vec(),
        ))
    }
}

/// A feature vector that is the whole of a TLV value (for example
/// `channel_type`): the bytes with no length prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TlvFeatures<C: FeatureContext>(pub Features<C>);

impl<C: FeatureContext> Encode for TlvFeatures<C> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.be);
    }
}

impl<C: FeatureContext> Decode for TlvFeatures<C> {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TlvFeatures(Features::from_be_bytes(
            reader.read_rest().to_vec(),
        )))
    }
}

/// JSON form: `{"hex": "...", "bits": [...], "names": [...]}`. Only `hex` is
/// read back, so the exact bytes survive a round trip.
#[cfg(feature = "serde")]
impl<C: FeatureContext> serde::Serialize for Features<C> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let names: Vec<String> = self
            .bits()
            .map(|b| match Feature::from_bit(b) {
                Some(f) => format!(
                    "{}/{}",
                    f.name(),
                    if b % 2 == 0 { "required" } else { "optional" }
                ),
                None => format!("unknown/{b}"),
            })
            .collect();
        let mut st = s.serialize_struct("Features", 3)?;
        st.serialize_field("hex", &hex::encode(&self.be))?;
        st.serialize_field("bits", &self.bits().collect::<Vec<_>>())?;
        st.serialize_field("names", &names)?;
        st.end()
    }
}

#[cfg(feature = "serde")]
impl<'de, C: FeatureContext> serde::Deserialize<'de> for Features<C> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Repr {
            hex: String,
        }
        let r = Repr::deserialize(d)?;
        let be = hex::decode(&r.hex).map_err(serde::de::Error::custom)?;
        // Messages carry features behind a u16 length.
        if be.len() > usize::from(u16::MAX) {
            return Err(serde::de::Error::custom(
                "feature vector longer than 65535 bytes",
            ));
        }
        Ok(Features::from_be_bytes(be))
    }
}

#[cfg(feature = "serde")]
impl<C: FeatureContext> serde::Serialize for TlvFeatures<C> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

#[cfg(feature = "serde")]
impl<'de, C: FeatureContext> serde::Deserialize<'de> for TlvFeatures<C> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Features::deserialize(d).map(TlvFeatures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_numbering_is_from_the_last_byte() {
        let f = InitFeatures::from_be_bytes(vec![0x01, 0x00]);
        assert!(f.is_set(8));
        assert!(!f.is_set(0));
        let mut g = InitFeatures::empty();
        g.set_bit(8);
        assert_eq!(g.as_be_bytes(), &[0x01, 0x00]);
    }

    #[test]
    fn unknown_even_bits_are_reported_odd_ones_are_not() {
        let mut ours = InitFeatures::empty();
        ours.set_optional(Feature::PaymentSecret);
        let mut theirs = InitFeatures::empty();
        theirs.set_required(Feature::PaymentSecret); // understood
        theirs.set_bit(101); // unknown odd: fine
        assert!(theirs.check_required_understood(&ours).is_ok());
        theirs.set_bit(100); // unknown even
        assert_eq!(theirs.unknown_required_bits(&ours), vec![100]);
        assert!(theirs.check_required_understood(&ours).is_err());
    }

    #[test]
    fn every_dependency_is_checked() {
        for f in Feature::ALL {
            for dep in f.dependencies() {
                let mut v = InitFeatures::empty();
                v.set_optional(*f);
                assert!(v.check_dependencies().is_err(), "{f} without {dep}");
                v.set_required(*dep);
                // Transitive dependencies of the dependency.
                for d2 in dep.dependencies() {
                    v.set_optional(*d2);
                }
                assert!(v.check_dependencies().is_ok(), "{f} with {dep}");
            }
        }
    }

    #[test]
    fn context_rules() {
        let mut inv = Bolt11InvoiceFeatures::empty();
        inv.set_optional(Feature::PaymentMetadata);
        assert!(inv.check_context().is_ok());
        let mut init = InitFeatures::empty();
        init.set_optional(Feature::PaymentMetadata);
        assert!(init.check_context().is_err());
    }

    #[test]
    fn leading_zero_bytes_survive_a_round_trip() {
        let f = NodeFeatures::from_be_bytes(vec![0, 0, 0x02]);
        let bytes = f.to_bytes();
        assert_eq!(bytes, [0, 3, 0, 0, 2]);
        assert_eq!(NodeFeatures::from_bytes(&bytes).unwrap(), f);
        assert_eq!(f.minimal().as_be_bytes(), &[0x02]);
    }
}
