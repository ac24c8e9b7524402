//! The human-readable part: `ln` + currency prefix + optional amount (BOLT 11,
//! "Human-Readable Part").

use core::fmt;

/// The most an invoice may ask for: 21 million bitcoin, in millisatoshi.
pub const MAX_AMOUNT_MSAT: u64 = 21_000_000 * 100_000_000 * 1_000;

/// The chain an invoice is payable on, named by its BIP-173 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Currency {
    /// `lnbc`: Bitcoin mainnet.
    Bitcoin,
    /// `lntb`: Bitcoin testnet.
    Testnet,
    /// `lntbs`: Bitcoin signet.
    Signet,
    /// `lnbcrt`: Bitcoin regtest.
    Regtest,
    /// `lnsb`: Bitcoin simnet.
    Simnet,
}

impl Currency {
    /// Every currency.
    pub const ALL: [Currency; 5] = [
        Currency::Bitcoin,
        Currency::Testnet,
        Currency::Signet,
        Currency::Regtest,
        Currency::Simnet,
    ];

    /// The prefix after `ln` (`bc`, `tb`, `tbs`, `bcrt`, `sb`).
    pub const fn prefix(self) -> &'static str {
        match self {
            Currency::Bitcoin => "bc",
            Currency::Testnet => "tb",
            Currency::Signet => "tbs",
            Currency::Regtest => "bcrt",
            Currency::Simnet => "sb",
        }
    }

    /// The currency for a prefix (after `ln`).
    pub fn from_prefix(prefix: &str) -> Option<Currency> {
        Currency::ALL.into_iter().find(|c| c.prefix() == prefix)
    }

    /// The Bitcoin network, where `bitcoin` knows it (not simnet).
    pub fn network(self) -> Option<bitcoin::Network> {
        match self {
            Currency::Bitcoin => Some(bitcoin::Network::Bitcoin),
            Currency::Testnet => Some(bitcoin::Network::Testnet),
            Currency::Signet => Some(bitcoin::Network::Signet),
            Currency::Regtest => Some(bitcoin::Network::Regtest),
            Currency::Simnet => None,
        }
    }

    /// The on-chain address parameters of fallback addresses: the base58
    /// version bytes of P2PKH and P2SH, and the segwit HRP.
    pub const fn address_params(self) -> (u8, u8, &'static str) {
        match self {
            Currency::Bitcoin => (0x00, 0x05, "bc"),
            Currency::Testnet | Currency::Signet => (0x6f, 0xc4, "tb"),
            Currency::Regtest => (0x6f, 0xc4, "bcrt"),
            Currency::Simnet => (0x3f, 0x7b, "sb"),
        }
    }
}

/// An amount `multiplier` letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Multiplier {
    /// `m`: 0.001 BTC.
    Milli,
    /// `u`: 0.000001 BTC.
    Micro,
    /// `n`: 0.000000001 BTC.
    Nano,
    /// `p`: 0.000000000001 BTC (a tenth of a millisatoshi).
    Pico,
}

impl Multiplier {
    /// The letter.
    pub const fn letter(self) -> char {
        match self {
            Multiplier::Milli => 'm',
            Multiplier::Micro => 'u',
            Multiplier::Nano => 'n',
            Multiplier::Pico => 'p',
        }
    }

    fn from_letter(c: u8) -> Option<Multiplier> {
        match c {
            b'm' => Some(Multiplier::Milli),
            b'u' => Some(Multiplier::Micro),
            b'n' => Some(Multiplier::Nano),
            b'p' => Some(Multiplier::Pico),
            _ => None,
        }
    }

    /// Picobitcoin per unit.
    const fn pico(self) -> u128 {
        match self {
            Multiplier::Milli => 1_000_000_000,
            Multiplier::Micro => 1_000_000,
            Multiplier::Nano => 1_000,
            Multiplier::Pico => 1,
        }
    }
}

/// Why an amount is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// Followed by something other than `m`, `u`, `n` or `p`.
    #[error("invalid multiplier {0:?}")]
    InvalidMultiplier(char),
    /// A non-digit in the number.
    #[error("amount {0:?} is not a decimal number")]
    NotANumber(String),
    /// The number starts with `0`.
    #[error("amount has leading zeros")]
    LeadingZeros,
    /// The amount is zero.
    #[error("amount is zero")]
    Zero,
    /// A `p` amount whose last digit is not 0: not a whole millisatoshi.
    #[error("amount is not a whole number of millisatoshi")]
    SubMillisatoshi,
    /// More than 21 million bitcoin.
    #[error("amount exceeds 21 million bitcoin")]
    TooLarge,
}

/// An amount as written in the human-readable part: a number and a
/// multiplier. Two spellings of the same value (`2500u`, `2500000n`) are
/// different `Amount`s with the same [`Amount::msat`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Amount {
    value: u64,
    multiplier: Option<Multiplier>,
    msat: u64,
}

impl Amount {
    /// `value` times `multiplier` bitcoin, checked: non-zero, a whole number
    /// of millisatoshi, at most 21 million bitcoin.
    pub fn new(value: u64, multiplier: Option<Multiplier>) -> Result<Amount, AmountError> {
        if value == 0 {
            return Err(AmountError::Zero);
        }
        let pico = u128::from(value) * multiplier.map_or(1_000_000_000_000, Multiplier::pico);
        if !pico.is_multiple_of(10) {
            return Err(AmountError::SubMillisatoshi);
        }
        let msat = pico / 10;
        if msat > u128::from(MAX_AMOUNT_MSAT) {
            return Err(AmountError::TooLarge);
        }
        Ok(Amount {
            value,
            multiplier,
            msat: msat as u64,
        })
    }

    /// The shortest spelling of `msat` (the largest multiplier that keeps
    /// the number whole), as BOLT 11 asks writers to use.
    pub fn from_msat(msat: u64) -> Result<Amount, AmountError> {
        if msat == 0 {
            return Err(AmountError::Zero);
        }
        if msat > MAX_AMOUNT_MSAT {
            return Err(AmountError::TooLarge);
        }
        let mut value = u128::from(msat) * 10;
        let mut multiplier = Some(Multiplier::Pico);
        for next in [
            Some(Multiplier::Nano),
            Some(Multiplier::Micro),
            Some(Multiplier::Milli),
            None,
        ] {
            if value % 1000 != 0 {
                break;
            }
            value /= 1000;
            multiplier = next;
        }
        // Above about 1.8 million bitcoin an odd millisatoshi count needs a
        // `p` number beyond u64; such amounts cannot be written.
        let value = u64::try_from(value).map_err(|_| AmountError::TooLarge)?;
        Amount::new(value, multiplier)
    }

    /// The number as written.
    pub fn value(&self) -> u64 {
        self.value
    }

    /// The multiplier as written (`None`: whole bitcoin).
    pub fn multiplier(&self) -> Option<Multiplier> {
        self.multiplier
    }

    /// The amount in millisatoshi.
    pub fn msat(&self) -> u64 {
        self.msat
    }

    /// Parses the amount part of the human-readable part (after the
    /// currency prefix).
    pub(crate) fn parse(s: &str) -> Result<Amount, AmountError> {
        let bytes = s.as_bytes();
        let (digits, multiplier) = match bytes.last() {
            Some(&c) if !c.is_ascii_digit() => {
                let m = Multiplier::from_letter(c).ok_or_else(|| {
                    AmountError::InvalidMultiplier(s.chars().last().unwrap_or('?'))
                })?;
                (&bytes[..bytes.len() - 1], Some(m))
            }
            _ => (bytes, None),
        };
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(AmountError::NotANumber(s.to_owned()));
        }
        if digits[0] == b'0' {
            return Err(if digits.iter().all(|&d| d == b'0') {
                AmountError::Zero
            } else {
                AmountError::LeadingZeros
            });
        }
        let mut value: u64 = 0;
        for &d in digits {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
                .ok_or(AmountError::TooLarge)?;
        }
        Amount::new(value, multiplier)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value)?;
        if let Some(m) = self.multiplier {
            write!(f, "{}", m.letter())?;
        }
        Ok(())
    }
}

/// Why the human-readable part is not an invoice's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HrpError {
    /// Does not start with `ln`.
    #[error("human-readable part {0:?} does not start with \"ln\"")]
    NotLightning(String),
    /// A currency prefix we do not understand (BOLT 11: "MUST fail").
    #[error("unknown currency prefix {0:?}")]
    UnknownCurrency(String),
    /// The amount is malformed or out of bounds.
    #[error(transparent)]
    Amount(#[from] AmountError),
}

/// Splits `ln<currency><amount>` (lower case).
pub(crate) fn parse_hrp(hrp: &str) -> Result<(Currency, Option<Amount>), HrpError> {
    let rest = hrp
        .strip_prefix("ln")
        .ok_or_else(|| HrpError::NotLightning(hrp.to_owned()))?;
    let split = rest
        .bytes()
        .position(|b| b.is_ascii_digit())
        .unwrap_or(rest.len());
    let (prefix, amount) = rest.split_at(split);
    let currency = Currency::from_prefix(prefix)
        .ok_or_else(|| HrpError::UnknownCurrency(prefix.to_owned()))?;
    let amount = if amount.is_empty() {
        None
    } else {
        Some(Amount::parse(amount)?)
    };
    Ok((currency, amount))
}

/// Writes `ln<currency><amount>`.
pub(crate) fn write_hrp(out: &mut String, currency: Currency, amount: Option<&Amount>) {
    use fmt::Write;
    out.push_str("ln");
    out.push_str(currency.prefix());
    if let Some(a) = amount {
        // Writing to a String cannot fail.
        let _ = write!(out, "{a}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        let a = Amount::parse("2500u").unwrap();
        assert_eq!(a.msat(), 250_000_000);
        assert_eq!(Amount::parse("9678785340p").unwrap().msat(), 967_878_534);
        assert_eq!(
            Amount::parse("2500000001p"),
            Err(AmountError::SubMillisatoshi)
        );
        assert_eq!(
            Amount::parse("2500x"),
            Err(AmountError::InvalidMultiplier('x'))
        );
        assert_eq!(Amount::parse("025m"), Err(AmountError::LeadingZeros));
        assert_eq!(Amount::parse("0"), Err(AmountError::Zero));
        assert_eq!(Amount::parse("21000001"), Err(AmountError::TooLarge));
        assert_eq!(Amount::parse("21000000").unwrap().msat(), MAX_AMOUNT_MSAT);
        assert_eq!(
            Amount::parse("99999999999999999999999m"),
            Err(AmountError::TooLarge)
        );
        assert!(matches!(
            Amount::parse("1.5m"),
            Err(AmountError::NotANumber(_))
        ));
    }

    #[test]
    fn shortest_spelling() {
        for (msat, s) in [
            (1, "10p"),
            (1000, "10n"),
            (250_000_000, "2500u"),
            (2_000_000_000, "20m"),
            (100_000_000_000, "1"),
            (MAX_AMOUNT_MSAT, "21000000"),
            (MAX_AMOUNT_MSAT - 1, "209999999999999999990p"),
        ] {
            if let Ok(a) = Amount::from_msat(msat) {
                assert_eq!(a.to_string(), s);
                assert_eq!(a.msat(), msat);
            } else {
                // Only representable as a pico amount beyond u64.
                assert_eq!(s, "209999999999999999990p");
            }
        }
    }

    #[test]
    fn hrps() {
        for c in Currency::ALL {
            let hrp = format!("ln{}", c.prefix());
            assert_eq!(parse_hrp(&hrp).unwrap(), (c, None));
            assert_eq!(parse_hrp(&format!("{hrp}10u")).unwrap().0, c);
        }
        assert!(matches!(
            parse_hrp("lnxx1"),
            Err(HrpError::UnknownCurrency(_))
        ));
        assert!(matches!(parse_hrp("bc1"), Err(HrpError::NotLightning(_))));
    }
}
