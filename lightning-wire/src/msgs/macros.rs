//! The declarative macros the message modules are written in.
//!
//! `wire_message!` takes a struct whose fields are listed in spec order, each
//! optionally followed by `=> Codec` (a [`FieldCodec`](super::FieldCodec),
//! for length- and count-prefixed fields), and a `tlvs:` stream type. It
//! writes the struct, its `TYPE` and `NAME`, and an `Encode`/`Decode` that
//! names the message and the field in every error.
//!
//! `tlv_stream!` takes `type => field: T` lines and writes a struct of
//! `Option<T>` fields plus the kept unknown odd records.

/// The codec of a field: the one named, or the type's own.
macro_rules! field_codec {
    () => {
        $crate::msgs::Plain
    };
    ($codec:ty) => {
        $codec
    };
}

macro_rules! wire_message {
    (
        $(#[$meta:meta])*
        $name:ident = $ty:literal, $wire:literal {
            $( $(#[$fmeta:meta])* $field:ident : $fty:ty $(=> $codec:ty)? ),* $(,)?
        }
        tlvs: $tlvty:ty
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $fty, )*
            /// The message's TLV stream (its extension).
            #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "crate::msgs::TlvStream::is_empty"))]
            pub tlvs: $tlvty,
        }

        impl $name {
            /// The message type number.
            pub const TYPE: u16 = $ty;
            /// The message's name in the spec.
            pub const NAME: &'static str = $wire;
        }

        impl $crate::codec::Encode for $name {
            fn encode(&self, out: &mut Vec<u8>) {
                $( <field_codec!($($codec)?) as $crate::msgs::FieldCodec<$fty>>::encode(&self.$field, out); )*
                $crate::codec::Encode::encode(&self.tlvs, out);
            }
        }

        /// Reads the fields and then the rest of the input as the TLV stream.
        impl $crate::codec::Decode for $name {
            fn decode(r: &mut $crate::codec::Reader<'_>) -> Result<Self, $crate::codec::DecodeError> {
                let read = |r: &mut $crate::codec::Reader<'_>| -> Result<Self, $crate::codec::DecodeError> {
                    $(
                        let $field = <field_codec!($($codec)?) as $crate::msgs::FieldCodec<$fty>>::decode(r)
                            .map_err(|e| e.at(stringify!($field)))?;
                    )*
                    let tlvs = <$tlvty as $crate::codec::Decode>::decode(r).map_err(|e| e.at("tlvs"))?;
                    Ok($name { $($field,)* tlvs })
                };
                read(r).map_err(|e| e.at($wire))
            }
        }

        #[cfg(test)]
        impl $crate::msgs::tests::Sample for $name {
            fn sample(g: &mut $crate::msgs::tests::Gen) -> Self {
                $name {
                    $( $field: $crate::msgs::tests::Sample::sample(g), )*
                    tlvs: $crate::msgs::tests::Sample::sample(g),
                }
            }
        }
    };
}

macro_rules! tlv_stream {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$fmeta:meta])* $ty:literal => $field:ident : $fty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        pub struct $name {
            $(
                $(#[$fmeta])*
                #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
                pub $field: Option<$fty>,
            )*
            /// Unknown odd records, written back unchanged.
            #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "crate::tlv::UnknownTlvs::is_empty"))]
            pub unknown: $crate::tlv::UnknownTlvs,
        }

        impl $crate::codec::Encode for $name {
            fn encode(&self, out: &mut Vec<u8>) {
                let mut w = $crate::tlv::TlvStreamWriter::new();
                $( w.put_opt($ty, self.$field.as_ref()); )*
                w.put_unknown(&self.unknown);
                w.write(out);
            }
        }

        /// Reads every remaining byte as this namespace's stream.
        impl $crate::codec::Decode for $name {
            fn decode(r: &mut $crate::codec::Reader<'_>) -> Result<Self, $crate::codec::DecodeError> {
                #[allow(unused_mut)]
                let mut s = $crate::tlv::TlvStreamReader::parse(r)?;
                $( let $field = s.take::<$fty>($ty, stringify!($field))?; )*
                let unknown = s.finish()?;
                Ok($name { $($field,)* unknown })
            }
        }

        impl $crate::msgs::TlvStream for $name {
            fn is_empty(&self) -> bool {
                true $( && self.$field.is_none() )* && self.unknown.is_empty()
            }
        }

        #[cfg(test)]
        impl $crate::msgs::tests::Sample for $name {
            fn sample(g: &mut $crate::msgs::tests::Gen) -> Self {
                $name {
                    $( $field: $crate::msgs::tests::Sample::sample(g), )*
                    unknown: $crate::msgs::tests::Sample::sample(g),
                }
            }
        }
    };
}

macro_rules! messages {
    ($( $(#[$meta:meta])* $ty:literal => $variant:ident ),* $(,)?) => {
        /// Any message of BOLT 1, 2 or 7, or an unknown odd one.
        ///
        /// In JSON a message is an object whose `type` is the spec's name of
        /// the message (`"open_channel"`), beside the message's fields.
        // Messages are short-lived values on their way to or from the wire;
        // boxing the larger variants would cost an allocation per message.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(tag = "type", rename_all = "snake_case"))]
        #[non_exhaustive]
        pub enum Message {
            $( $(#[$meta])* $variant($variant), )*
            /// A message of an odd type this crate does not know. BOLT 1:
            /// the receiver "MUST ignore" it; it is kept so that it can be
            /// logged or passed on.
            Unknown {
                /// The message type (odd).
                #[cfg_attr(feature = "serde", serde(rename = "message_type"))]
                r#type: u16,
                /// Everything after the type.
                #[cfg_attr(feature = "serde", serde(with = "crate::types::serde_hex"))]
                payload: Vec<u8>,
            },
        }

        impl Message {
            /// Decodes a whole message: the two-byte type, then the payload.
            ///
            /// An unknown odd type gives [`Message::Unknown`]; an unknown even
            /// type is [`DecodeErrorKind::UnknownEvenMessageType`], on which
            /// the caller must fail the connection (BOLT 1).
            ///
            /// ```
            /// use lightning_wire::msgs::Message;
            /// use lightning_wire::DecodeErrorKind;
            ///
            /// let init = Message::decode(&hex::decode("001000000000").unwrap()).unwrap();
            /// assert_eq!(init.r#type(), 16);
            ///
            /// let odd = Message::decode(&[0x80, 0x01, 0xaa]).unwrap();
            /// assert!(matches!(odd, Message::Unknown { r#type: 0x8001, .. }));
            ///
            /// let err = Message::decode(&[0x80, 0x02]).unwrap_err();
            /// assert_eq!(err.kind(), &DecodeErrorKind::UnknownEvenMessageType(0x8002));
            /// ```
            pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
                let mut r = Reader::new(bytes);
                let ty = u16::decode(&mut r).map_err(|_| DecodeError::new(DecodeErrorKind::MissingMessageType))?;
                let payload = r.read_rest();
                match ty {
                    $( $ty => $variant::from_bytes(payload).map(Message::$variant), )*
                    _ => unknown_message(ty, payload),
                }
            }

            /// Encodes the message with its two-byte type, for the wire.
            ///
            /// Fails, and never panics, when the message cannot be sent:
            /// longer than [`MAX_MESSAGE_LEN`](crate::codec::MAX_MESSAGE_LEN)
            /// (which every overflowing `u16` length or count makes it), or
            /// a field over a shorter prefix's limit.
            ///
            /// ```
            /// use lightning_wire::msgs::{Message, Pong};
            /// use lightning_wire::EncodeError;
            /// let pong = Message::Pong(Pong { ignored: vec![0; 2], tlvs: Default::default() });
            /// assert_eq!(pong.encode()?, [0x00, 0x13, 0x00, 0x02, 0x00, 0x00]);
            /// let huge = Message::Pong(Pong { ignored: vec![0; 70_000], tlvs: Default::default() });
            /// assert!(matches!(huge.encode(), Err(EncodeError::MessageTooLong { .. })));
            /// # Ok::<(), EncodeError>(())
            /// ```
            pub fn encode(&self) -> Result<Vec<u8>, crate::codec::EncodeError> {
                let mut out = Vec::new();
                self.encode_into(&mut out)?;
                Ok(out)
            }

            /// Appends the encoding of the message, with its type, to `out`.
            /// On error `out` is left as it was.
            pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), crate::codec::EncodeError> {
                self.check_prefixed_lengths()?;
                let start = out.len();
                self.r#type().encode(out);
                match self {
                    $( Message::$variant(m) => m.encode(out), )*
                    Message::Unknown { payload, .. } => out.extend_from_slice(payload),
                }
                let len = out.len() - start;
                if len > crate::codec::MAX_MESSAGE_LEN {
                    out.truncate(start);
                    return Err(crate::codec::EncodeError::MessageTooLong {
                        message: self.name(),
                        len,
                    });
                }
                Ok(())
            }

            /// The message type number.
            pub fn r#type(&self) -> u16 {
                match self {
                    $( Message::$variant(_) => $ty, )*
                    Message::Unknown { r#type, .. } => *r#type,
                }
            }

            /// The spec's name of the message (`"unknown"` for an unknown one).
            pub fn name(&self) -> &'static str {
                match self {
                    $( Message::$variant(_) => $variant::NAME, )*
                    Message::Unknown { .. } => "unknown",
                }
            }

            /// The spec's name of a known message type.
            pub fn name_of(ty: u16) -> Option<&'static str> {
                match ty {
                    $( $ty => Some($variant::NAME), )*
                    _ => None,
                }
            }

            /// Every known message type number.
            pub const KNOWN_TYPES: &'static [u16] = &[$($ty,)*];
        }

        $(
            impl From<$variant> for Message {
                fn from(m: $variant) -> Message {
                    Message::$variant(m)
                }
            }
        )*

        #[cfg(test)]
        impl Message {
            /// A sample of every known message, from one generator.
            pub(crate) fn samples(g: &mut $crate::msgs::tests::Gen) -> Vec<Message> {
                vec![$( Message::$variant($crate::msgs::tests::Sample::sample(g)), )*]
            }
        }
    };
}
