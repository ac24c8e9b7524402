//! The rules for namespaces and keys, the same for every backend.
//!
//! A namespace or a key is 1 to [`MAX_KEY_LEN`] bytes of ASCII letters,
//! digits and `_ - . /`, where `/` separates segments: no leading or trailing
//! `/`, no empty segment (`a//b`) and no segment `.` or `..`. So a key such as
//! `channel/00ab.../update/00000000000000000042` is fine, and no key can name
//! a path outside its namespace on any backend.
//!
//! Keys sort bytewise (which for this alphabet is plain ASCII order), so
//! numbers in keys should be zero-padded to a fixed width for
//! [`KvStore::list`](crate::KvStore::list) to return them in numeric order.
//!
//! A prefix given to [`KvStore::list_prefix`](crate::KvStore::list_prefix)
//! uses the same alphabet but may be empty and may end in `/`.

use crate::error::{KeyPart, PersistError};

/// The longest namespace or key, in bytes.
pub const MAX_KEY_LEN: usize = 120;

/// Checks a namespace.
pub fn validate_namespace(namespace: &str) -> Result<(), PersistError> {
    validate(KeyPart::Namespace, namespace)
}

/// Checks a key.
pub fn validate_key(key: &str) -> Result<(), PersistError> {
    validate(KeyPart::Key, key)
}

/// Checks a namespace and a key.
pub fn validate_record(namespace: &str, key: &str) -> Result<(), PersistError> {
    validate_namespace(namespace)?;
    validate_key(key)
}

/// Checks a prefix for `list_prefix`: the key alphabet, possibly empty,
/// possibly ending in `/`.
pub fn validate_prefix(prefix: &str) -> Result<(), PersistError> {
    if prefix.is_empty() {
        return Ok(());
    }
    if prefix.len() > MAX_KEY_LEN {
        return Err(invalid(KeyPart::Prefix, prefix, "longer than 120 bytes"));
    }
    if let Some(reason) = bad_char(prefix) {
        return Err(invalid(KeyPart::Prefix, prefix, reason));
    }
    Ok(())
}

fn validate(part: KeyPart, s: &str) -> Result<(), PersistError> {
    if s.is_empty() {
        return Err(invalid(part, s, "empty"));
    }
    if s.len() > MAX_KEY_LEN {
        return Err(invalid(part, s, "longer than 120 bytes"));
    }
    if let Some(reason) = bad_char(s) {
        return Err(invalid(part, s, reason));
    }
    for segment in s.split('/') {
        match segment {
            "" => {
                return Err(invalid(
                    part,
                    s,
                    "empty segment (leading, trailing or double '/')",
                ))
            }
            "." | ".." => return Err(invalid(part, s, "segment '.' or '..'")),
            _ => {}
        }
    }
    Ok(())
}

fn bad_char(s: &str) -> Option<&'static str> {
    s.bytes()
        .any(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/')))
        .then_some("only ASCII letters, digits and '_' '-' '.' '/' are allowed")
}

fn invalid(part: KeyPart, value: &str, reason: &'static str) -> PersistError {
    PersistError::InvalidKey {
        part,
        value: value.chars().take(200).collect(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_alphabet() {
        for ok in [
            "a",
            "channel/00ab/update/0000000042",
            "A-Z_0.9",
            ".hidden",
            "a..b",
            &"x".repeat(MAX_KEY_LEN),
        ] {
            assert!(validate_key(ok).is_ok(), "{ok}");
            assert!(validate_namespace(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_the_rest() {
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            ".",
            "..",
            "a/../b",
            "a/./b",
            "a b",
            "a\\b",
            "a%b",
            "a~",
            "é",
            "a\0",
            &"x".repeat(MAX_KEY_LEN + 1),
        ] {
            assert!(
                matches!(
                    validate_key(bad),
                    Err(PersistError::InvalidKey {
                        part: KeyPart::Key,
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn prefixes() {
        assert!(validate_prefix("").is_ok());
        assert!(validate_prefix("channel/").is_ok());
        assert!(validate_prefix("a b").is_err());
    }
}
