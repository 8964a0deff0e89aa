//! The native token amount: an integer count of the smallest unit, 12 decimals to a token.

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use std::str::FromStr;

/// An amount of the native token in its smallest unit (10^-12 VEIL). Arithmetic is checked: an
/// overflow is an error value for the caller to handle, never a wrap.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug, Encode, Decode, MaxEncodedLen)]
pub struct Balance(pub u128);

impl Balance {
    /// Digits after the decimal point.
    pub const DECIMALS: u32 = 12;
    /// One whole token.
    pub const ONE: Self = Self(10u128.pow(Self::DECIMALS));
    /// Nothing.
    pub const ZERO: Self = Self(0);
    /// The token's ticker.
    pub const SYMBOL: &'static str = "VEIL";

    /// `whole` tokens, or `None` on overflow.
    pub fn from_tokens(whole: u128) -> Option<Self> {
        whole.checked_mul(Self::ONE.0).map(Self)
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }

    /// `self - other`, or `None` when `other` is larger.
    pub fn checked_sub(self, other: Self) -> Option<Self> {
        self.0.checked_sub(other.0).map(Self)
    }
}

/// Shows the amount in tokens with the fraction trimmed: `1.5 VEIL`, `0.000000000001 VEIL`.
impl std::fmt::Display for Balance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let whole = self.0 / Self::ONE.0;
        let fraction = self.0 % Self::ONE.0;
        if fraction == 0 {
            return write!(f, "{whole} {}", Self::SYMBOL);
        }
        let digits = format!("{fraction:012}");
        write!(f, "{whole}.{} {}", digits.trim_end_matches('0'), Self::SYMBOL)
    }
}

/// Why a token amount could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BalanceParseError {
    /// Not a decimal number.
    #[error("{0:?} is not an amount: write tokens as digits with an optional fraction, like 12 or 0.5")]
    NotANumber(String),
    /// More than 12 digits after the point.
    #[error("{0:?} has more than 12 decimal places, the token's precision")]
    TooPrecise(String),
    /// Larger than the largest representable amount.
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// Parses a token amount written in whole tokens, with an optional `VEIL` suffix: `12`, `0.5`,
/// `1.000000000001 VEIL`.
impl FromStr for Balance {
    type Err = BalanceParseError;
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let text = input.trim();
        let text = text.strip_suffix(Self::SYMBOL).map_or(text, str::trim_end);
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !is_digits(whole) || !is_digits(fraction) || (text.ends_with('.')) {
            return Err(BalanceParseError::NotANumber(input.to_owned()));
        }
        if fraction.len() > Self::DECIMALS as usize {
            return Err(BalanceParseError::TooPrecise(input.to_owned()));
        }
        let too_large = || BalanceParseError::TooLarge(input.to_owned());
        let whole: u128 = whole.parse().map_err(|_| too_large())?;
        let fraction_units: u128 = if fraction.is_empty() {
            0
        } else {
            let scale = 10u128.pow(Self::DECIMALS - fraction.len() as u32);
            fraction.parse::<u128>().map_err(|_| too_large())? * scale
        };
        Self::from_tokens(whole).and_then(|units| units.checked_add(Self(fraction_units))).ok_or_else(too_large)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_shows_tokens() {
        assert_eq!("1.5".parse::<Balance>().unwrap(), Balance(1_500_000_000_000));
        assert_eq!("2 VEIL".parse::<Balance>().unwrap(), Balance(2_000_000_000_000));
        assert_eq!("0.000000000001".parse::<Balance>().unwrap(), Balance(1));
        assert_eq!(Balance(1_500_000_000_000).to_string(), "1.5 VEIL");
        assert_eq!(Balance(1).to_string(), "0.000000000001 VEIL");
        assert_eq!(Balance::from_tokens(1_000_000_000).unwrap().to_string(), "1000000000 VEIL");
    }

    #[test]
    fn refuses_bad_amounts_with_reasons() {
        for bad in ["", "abc", "-1", "1.", ".5", "1.2.3", "1e3", "1,5"] {
            assert!(matches!(bad.parse::<Balance>(), Err(BalanceParseError::NotANumber(_))), "{bad}");
        }
        assert!(matches!("0.0000000000001".parse::<Balance>(), Err(BalanceParseError::TooPrecise(_))));
        assert!(matches!("999999999999999999999999999999999".parse::<Balance>(), Err(BalanceParseError::TooLarge(_))));
    }

    #[test]
    fn checked_arithmetic_never_wraps() {
        assert_eq!(Balance(u128::MAX).checked_add(Balance(1)), None);
        assert_eq!(Balance(0).checked_sub(Balance(1)), None);
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(units in any::<u128>()) {
            let shown = Balance(units).to_string();
            prop_assert_eq!(shown.parse::<Balance>(), Ok(Balance(units)));
        }
    }
}
