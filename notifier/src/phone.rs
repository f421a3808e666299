//! A phone number we are willing to hand to an SMS provider.
//!
//! Providers want E.164 (`+` country code and subscriber number, no
//! punctuation). Parsing once at the edge into a `PhoneNumber` means the
//! rest of the hub never re-checks, and a typo is reported to the person
//! who typed it instead of surfacing later as a provider rejection.
//!
//! Error messages never echo the number itself: phone numbers are personal
//! data and errors end up in logs.

use std::fmt;
use std::str::FromStr;

/// Fewest digits we accept after the `+` (country code included).
const MIN_DIGITS: usize = 8;
/// Most digits E.164 allows after the `+` (country code included).
const MAX_DIGITS: usize = 15;

/// A phone number in canonical E.164 form, e.g. `+14155550100`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

/// Why a string is not an E.164 phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Nothing (or only whitespace) was given.
    #[error("phone number is empty")]
    Empty,
    /// The number lacks the leading `+` and country code.
    #[error("phone number must start with '+' and the country code (E.164), e.g. +14155550100")]
    MissingPlus,
    /// A character other than digits and the allowed separators.
    #[error(
        "phone number contains {0:?}; only digits, spaces, dashes, dots and parentheses are allowed"
    )]
    InvalidCharacter(char),
    /// A separator before the first digit or after the last one.
    #[error("spaces, dashes, dots and parentheses are only allowed between digits")]
    MisplacedSeparator,
    /// Country codes never start with 0.
    #[error("the country code after '+' cannot start with 0")]
    LeadingZero,
    /// Fewer than 8 digits.
    #[error("phone number has {0} digits; E.164 needs 8 to 15")]
    TooShort(usize),
    /// More than 15 digits.
    #[error("phone number has {0} digits; E.164 allows at most 15")]
    TooLong(usize),
}

impl PhoneError {
    /// Stable machine-readable code for API responses, the same for every variant.
    pub fn code(&self) -> &'static str {
        "invalid_phone"
    }
}

impl PhoneNumber {
    /// Parses E.164 input, stripping spaces, dashes, dots and parentheses
    /// between digits: `"+1 (415) 555-0100"` becomes `"+14155550100"`.
    /// Surrounding whitespace is ignored.
    pub fn parse(input: &str) -> Result<PhoneNumber, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        let rest = trimmed.strip_prefix('+').ok_or(PhoneError::MissingPlus)?;
        let digits = collect_digits(rest)?;
        check_digits(&digits)?;
        Ok(PhoneNumber(format!("+{digits}")))
    }

    /// The canonical E.164 text, e.g. `+14155550100`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Keeps the digits of `rest`, allowing separators only between digits.
fn collect_digits(rest: &str) -> Result<String, PhoneError> {
    let mut digits = String::with_capacity(rest.len());
    let mut pending_separator = false;
    for c in rest.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            pending_separator = false;
        } else if is_separator(c) {
            if digits.is_empty() {
                return Err(PhoneError::MisplacedSeparator);
            }
            pending_separator = true;
        } else {
            return Err(PhoneError::InvalidCharacter(c));
        }
    }
    if pending_separator {
        return Err(PhoneError::MisplacedSeparator);
    }
    Ok(digits)
}

/// Checks the E.164 rules on the bare digits (everything after `+`).
fn check_digits(digits: &str) -> Result<(), PhoneError> {
    let count = digits.len();
    if digits.starts_with('0') {
        return Err(PhoneError::LeadingZero);
    }
    if count < MIN_DIGITS {
        return Err(PhoneError::TooShort(count));
    }
    if count > MAX_DIGITS {
        return Err(PhoneError::TooLong(count));
    }
    Ok(())
}

fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '(' | ')')
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for PhoneNumber {
    type Err = PhoneError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PhoneNumber::parse(s)
    }
}

impl AsRef<str> for PhoneNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str) -> String {
        PhoneNumber::parse(input)
            .unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
            .as_str()
            .to_owned()
    }

    fn err(input: &str) -> PhoneError {
        PhoneNumber::parse(input).expect_err(input)
    }

    #[test]
    fn canonical_e164_is_kept_as_is() {
        assert_eq!(ok("+14155550100"), "+14155550100");
        assert_eq!(ok("+447911123456"), "+447911123456");
    }

    #[test]
    fn punctuation_between_digits_is_stripped() {
        assert_eq!(ok("+1 (415) 555-0100"), "+14155550100");
        assert_eq!(ok("+44 7911.123-456"), "+447911123456");
        assert_eq!(ok("  +14155550100 \n"), "+14155550100");
    }

    #[test]
    fn length_limits_are_8_to_15_digits() {
        assert_eq!(ok("+12345678"), "+12345678");
        assert_eq!(ok("+123456789012345"), "+123456789012345");
        assert_eq!(err("+1234567"), PhoneError::TooShort(7));
        assert_eq!(err("+1234567890123456"), PhoneError::TooLong(16));
    }

    #[test]
    fn empty_input_is_rejected() {
        assert_eq!(err(""), PhoneError::Empty);
        assert_eq!(err("   "), PhoneError::Empty);
        assert_eq!(err("+"), PhoneError::TooShort(0));
    }

    #[test]
    fn missing_plus_is_rejected() {
        assert_eq!(err("14155550100"), PhoneError::MissingPlus);
        assert_eq!(err("00 44 7911 123456"), PhoneError::MissingPlus);
    }

    #[test]
    fn letters_and_other_symbols_are_rejected() {
        assert_eq!(err("+1415555CALL"), PhoneError::InvalidCharacter('C'));
        assert_eq!(err("+1415555/0100"), PhoneError::InvalidCharacter('/'));
        assert_eq!(err("++14155550100"), PhoneError::InvalidCharacter('+'));
    }

    #[test]
    fn leading_zero_after_plus_is_rejected() {
        assert_eq!(err("+04155550100"), PhoneError::LeadingZero);
    }

    #[test]
    fn separators_outside_the_digits_are_rejected() {
        assert_eq!(err("+ 14155550100"), PhoneError::MisplacedSeparator);
        assert_eq!(err("+(1) 415 555 0100"), PhoneError::MisplacedSeparator);
        assert_eq!(err("+14155550100-"), PhoneError::MisplacedSeparator);
    }

    #[test]
    fn every_error_has_the_stable_code_and_never_echoes_the_number() {
        let inputs = [
            "",
            "19876543210",
            "+1987654CALL",
            "+0987654321",
            "+1987654321098765",
        ];
        for input in inputs {
            let e = err(input);
            assert_eq!(e.code(), "invalid_phone");
            assert!(!e.to_string().contains("98765"), "{e}");
        }
    }

    #[test]
    fn display_from_str_and_as_ref_agree() {
        let phone: PhoneNumber = "+1 415 555 0100".parse().expect("valid");
        assert_eq!(phone.to_string(), "+14155550100");
        assert_eq!(phone.as_ref(), phone.as_str());
    }
}
