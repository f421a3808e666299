//! Human-readable names: `DisplayName` (a person) and `OrgName` (a clinic,
//! hospital or other organization).
//!
//! These are shown to other people, often next to clinical data, so the rules
//! are about what a reader *sees*: a name must not be blank, must not hide
//! characters the reader cannot see (zero-width, invisible formatting), must
//! not reorder the surrounding text (bidi overrides and isolates, the
//! "Trojan Source" trick), and must not contain private-use glyphs whose look
//! depends on the font. Every script, accents and emoji are welcome.
//!
//! Input is trimmed and NFC-normalized so that a name typed with a precomposed
//! `é` and one typed as `e` + combining accent are the same value; lengths are
//! counted in Unicode scalar values (`char`s) after normalization, never bytes,
//! so a Japanese name is not penalized for taking three bytes per character.

use super::ValidationError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use unicode_normalization::UnicodeNormalization;

/// What differs between the name types; the rules themselves are shared.
struct NameRules {
    field: &'static str,
    code: &'static str,
    /// Used at the start of user-facing messages ("Display name ...").
    label: &'static str,
    min_chars: usize,
    max_chars: usize,
}

/// Input longer than this many times `max_chars` (before normalization) is
/// refused without normalizing it, so a hostile megabyte string costs nothing.
/// NFC only ever shortens realistic input by composing marks, and even fully
/// decomposed Vietnamese needs at most three `char`s per letter.
const PRE_NORMALIZATION_FACTOR: usize = 4;

fn parse_name(raw: &str, rules: &NameRules) -> Result<String, ValidationError> {
    let invalid = |message: String| ValidationError::new(rules.field, rules.code, message);
    let too_long = || {
        invalid(format!(
            "{} can be at most {} characters long.",
            rules.label, rules.max_chars
        ))
    };

    let trimmed = raw.trim();
    if trimmed.chars().count() > rules.max_chars.saturating_mul(PRE_NORMALIZATION_FACTOR) {
        return Err(too_long());
    }
    let name: String = trimmed.nfc().collect();

    if let Some(problem) = name.chars().find_map(forbidden) {
        return Err(invalid(format!("{} {}", rules.label, problem)));
    }
    if name.chars().all(is_blank) {
        return Err(invalid(format!("{} cannot be blank.", rules.label)));
    }
    let len = name.chars().count();
    if len < rules.min_chars {
        return Err(invalid(format!(
            "{} must be at least {} characters long.",
            rules.label, rules.min_chars
        )));
    }
    if len > rules.max_chars {
        return Err(too_long());
    }
    Ok(name)
}

/// Why `c` may not appear in a name, phrased to follow the field label.
fn forbidden(c: char) -> Option<&'static str> {
    match c {
        c if c.is_control() => {
            Some("cannot contain control characters such as tabs or line breaks.")
        }
        // Embeddings/overrides, isolates, and the invisible direction marks.
        '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}'
        | '\u{200E}'
        | '\u{200F}'
        | '\u{061C}' => Some("cannot contain text-direction control characters."),
        // Zero-width space/joiners, word joiner, BOM, plus other invisible
        // formatting: soft hyphen, Mongolian vowel separator, invisible math
        // operators and interlinear annotation marks.
        // ZWNJ and ZWJ (U+200C, U+200D) are allowed: Persian and Indic names
        // need ZWNJ, and joined emoji (👩‍⚕️) need ZWJ.
        '\u{200B}'
        | '\u{2060}'..='\u{2064}'
        | '\u{FEFF}'
        | '\u{00AD}'
        | '\u{180E}'
        | '\u{FFF9}'..='\u{FFFB}' => Some("cannot contain invisible characters."),
        // Private use: BMP area and supplementary planes 15 and 16.
        '\u{E000}'..='\u{F8FF}' | '\u{F0000}'..='\u{10FFFF}' => {
            Some("cannot contain private-use characters.")
        }
        _ => None,
    }
}

/// Characters that render as nothing visible: whitespace, plus the Hangul and
/// Braille "fillers" that are popular for faking an empty name.
fn is_blank(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' | '\u{2800}'
        )
}

/// Declares a validated name newtype with its parse/accessor/serde impls, so
/// the two types cannot drift apart in behaviour.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $rules:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Trims, NFC-normalizes and validates untrusted input.
            pub fn parse(raw: &str) -> Result<Self, ValidationError> {
                parse_name(raw, &$rules).map(Self)
            }

            /// The normalized name.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type!(
    /// How a person is shown to others: 1 to 100 characters after trimming
    /// and NFC normalization.
    DisplayName,
    NameRules {
        field: "display_name",
        code: "invalid_display_name",
        label: "Display name",
        min_chars: 1,
        max_chars: 100,
    }
);

name_type!(
    /// The name of an organization: 2 to 120 characters after trimming and NFC
    /// normalization (a single character is never a real organization name).
    OrgName,
    NameRules {
        field: "org_name",
        code: "invalid_org_name",
        label: "Organization name",
        min_chars: 2,
        max_chars: 120,
    }
);

name_type!(
    /// The title of a case room: 1 to 200 characters after trimming and NFC
    /// normalization. Titles are shown in room lists, so they should name the
    /// case without holding clinical detail.
    RoomTitle,
    NameRules {
        field: "title",
        code: "invalid_title",
        label: "Title",
        min_chars: 1,
        max_chars: 200,
    }
);

#[cfg(test)]
mod tests {
    use super::{DisplayName, OrgName};
    use crate::domain::ValidationError;
    use crate::domain::serde_test_support::{
        deserialize_from_str, deserialize_from_u32, serialize_to_string,
    };

    fn name(raw: &str) -> DisplayName {
        match DisplayName::parse(raw) {
            Ok(n) => n,
            Err(e) => panic!("{raw:?} should be a valid display name: {}", e.message),
        }
    }

    fn name_err(raw: &str) -> ValidationError {
        match DisplayName::parse(raw) {
            Ok(n) => panic!("{raw:?} should be rejected, got {n:?}"),
            Err(e) => {
                assert_eq!(e.field, "display_name");
                assert_eq!(e.code, "invalid_display_name");
                e
            }
        }
    }

    fn org_err(raw: &str) -> ValidationError {
        match OrgName::parse(raw) {
            Ok(n) => panic!("{raw:?} should be rejected, got {n:?}"),
            Err(e) => {
                assert_eq!(e.field, "org_name");
                assert_eq!(e.code, "invalid_org_name");
                e
            }
        }
    }

    #[test]
    fn accepts_names_in_many_scripts() {
        for raw in [
            "Ana",
            "José María Pérez-Ñúñez",
            "Dr. O'Brien",
            "山田 太郎",
            "محمد عبد الله",
            "שרה כהן",
            "Nguyễn Thị Minh Khai",
            "Zoë 🩺",
            "A",
        ] {
            assert_eq!(name(raw).as_str(), raw);
        }
    }

    #[test]
    fn trims_surrounding_whitespace() {
        assert_eq!(name("  Ana Silva \n").as_str(), "Ana Silva");
    }

    #[test]
    fn nfc_and_nfd_forms_are_equal() {
        let composed = name("Jos\u{e9}");
        let decomposed = name("Jose\u{301}");
        assert_eq!(composed, decomposed);
        assert_eq!(decomposed.as_str(), "Jos\u{e9}");
        let org_nfc = OrgName::parse("Cl\u{ed}nica S\u{e3}o Jo\u{e3}o");
        let org_nfd = OrgName::parse("Cli\u{301}nica Sa\u{303}o Joa\u{303}o");
        assert_eq!(org_nfc, org_nfd);
    }

    #[test]
    fn rejects_empty_and_whitespace_only() {
        name_err("");
        name_err("   ");
        assert!(name_err("\u{3000}\u{a0} ").message.contains("blank"));
        // Hangul / Braille fillers render as nothing.
        assert!(name_err("\u{3164}").message.contains("blank"));
        name_err("\u{2800}\u{2800}");
    }

    #[test]
    fn rejects_control_characters() {
        name_err("Ana\nSilva");
        name_err("Ana\tSilva");
        name_err("Ana\0");
        name_err("Ana\u{7f}");
        name_err("Ana\u{85}Silva");
    }

    #[test]
    fn rejects_bidi_overrides_and_isolates() {
        for c in ('\u{202A}'..='\u{202E}').chain('\u{2066}'..='\u{2069}') {
            let e = name_err(&format!("Admin{c}nimda"));
            assert!(e.message.contains("text-direction"), "{c:?}: {}", e.message);
        }
        name_err("\u{200F}Ana");
    }

    #[test]
    fn rejects_zero_width_characters() {
        for c in ['\u{200B}', '\u{2060}', '\u{FEFF}'] {
            let e = name_err(&format!("Ana{c}Silva"));
            assert!(e.message.contains("invisible"), "{c:?}: {}", e.message);
        }
        // A leading BOM is not whitespace, so trimming does not remove it.
        name_err("\u{FEFF}Ana");
        name_err("Ana\u{AD}Silva");
    }

    #[test]
    fn joiners_for_emoji_and_persian_are_allowed() {
        name("Ana \u{1F469}\u{200D}\u{2695}\u{FE0F}");
        name("\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}");
        name("Ana \u{1F469}");
    }

    #[test]
    fn rejects_private_use_characters() {
        name_err("Ana\u{E000}");
        name_err("Ana\u{F8FF}");
        name_err("Ana\u{F0000}");
        name("Ana\u{F900}"); // CJK compatibility ideograph, just past the range
    }

    #[test]
    fn display_name_length_is_counted_in_chars() {
        // 100 three-byte characters = 300 bytes, still fine.
        name(&"漢".repeat(100));
        let e = name_err(&"漢".repeat(101));
        assert!(e.message.contains("100"), "{}", e.message);
        name(&"a".repeat(100));
        name_err(&"a".repeat(101));
        // Length is measured after NFC: 100 decomposed é are 200 chars raw.
        name(&"e\u{301}".repeat(100));
        // Huge input is refused before normalization.
        name_err(&"a".repeat(1_000_000));
    }

    #[test]
    fn org_name_has_its_own_bounds() {
        org_err("");
        org_err("X");
        org_err("  X  ");
        assert_eq!(
            OrgName::parse("  HB  ").map(|o| o.as_str().to_owned()),
            Ok("HB".to_owned())
        );
        assert!(OrgName::parse(&"é".repeat(120)).is_ok());
        assert!(org_err(&"é".repeat(121)).message.contains("120"));
        org_err("Clinic\u{202E}cinilc");
        org_err("Clinic\u{200B}");
        org_err("Clinic\r\nName");
        assert!(OrgName::parse("مستشفى الأمل").is_ok());
    }

    #[test]
    fn errors_do_not_echo_input() {
        let e = name_err("Mallory\u{202E}gpj.exe");
        assert!(!e.message.contains("Mallory"));
    }

    #[test]
    fn serde_round_trip_goes_through_parse() {
        let n: DisplayName = deserialize_from_str("  Jose\u{301} ").expect("valid name");
        assert_eq!(n.as_str(), "Jos\u{e9}");
        assert_eq!(serialize_to_string(&n), "Jos\u{e9}");
        assert!(deserialize_from_str::<DisplayName>("bad\u{202E}name").is_err());
        assert!(deserialize_from_str::<DisplayName>("   ").is_err());
        assert!(deserialize_from_u32::<DisplayName>(7).is_err());

        let o: OrgName = deserialize_from_str("St. Mary's").expect("valid org");
        assert_eq!(serialize_to_string(&o), "St. Mary's");
        assert!(deserialize_from_str::<OrgName>("X").is_err());
    }
}
