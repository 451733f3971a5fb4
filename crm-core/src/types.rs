//! Value types parsed once at the edge ("parse, don't validate").
//!
//! Every type here has private fields and a `parse` constructor; once a value exists it is valid, so
//! handlers and storage never re-check it. Deserialisation goes through the same constructors.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Why a raw value was refused. The caller adds the field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(msg.into()))
}

macro_rules! string_newtype_serde {
    ($t:ident) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                $t::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl std::str::FromStr for $t {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                $t::parse(s)
            }
        }
    };
}

/// Whitespace as `str::trim` sees it (Unicode `White_Space`), as a regex character-class body.
macro_rules! ws {
    () => {
        r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    };
}

/// The OpenAPI schema of a text newtype: a string whose `pattern` (ECMA-262, as JSON Schema
/// asks; Python's `re` reads it the same) accepts exactly what `parse` accepts, so a client or a
/// fuzzer reading the document knows the rule. `tests::patterns_agree_with_parsers` keeps each
/// pattern and its parser together.
macro_rules! string_schema {
    ($t:ident, $pattern:expr, $description:expr, $example:expr) => {
        impl $t {
            /// The rule `parse` enforces, as a JSON Schema pattern.
            pub const PATTERN: &'static str = $pattern;
        }
        impl utoipa::PartialSchema for $t {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some($description))
                    .pattern(Some($t::PATTERN))
                    .examples([serde_json::json!($example)])
                    .into()
            }
        }
        impl utoipa::ToSchema for $t {}
    };
}

/// A telephone number in E.164 form: `+`, a country code not starting with 0, at most 15 digits.
///
/// Accepts the usual human spellings (`+49 (30) 1234-567`, `0049 30 1234567`) and keeps only
/// the canonical form. Its `Debug` masks the middle digits so a stray `{:?}` never logs a number.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let trimmed = raw.trim();
        let rest = if let Some(r) = trimmed.strip_prefix('+') {
            r
        } else if let Some(r) = trimmed.strip_prefix("00") {
            r
        } else {
            return err("phone number must be in international form, starting with + or 00");
        };
        let mut digits = String::with_capacity(16);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '(' | ')' | '.' | '/' => {}
                _ => return err(format!("phone number contains {c:?}")),
            }
        }
        if digits.starts_with('0') {
            return err("country code cannot start with 0");
        }
        if !(7..=15).contains(&digits.len()) {
            return err("phone number must have 7 to 15 digits");
        }
        Ok(PhoneNumber(format!("+{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A form safe for logs: country prefix and last two digits only.
    pub fn masked(&self) -> String {
        let s = &self.0;
        let tail = &s[s.len() - 2..];
        format!("{}…{}", &s[..3], tail)
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}
string_newtype_serde!(PhoneNumber);
string_schema!(
    PhoneNumber,
    concat!("^[", ws!(), r"]*(?:\+|00)[ ()./-]*[1-9](?:[ ()./-]*[0-9]){6,14}[ ()./-]*[", ws!(), "]*$"),
    "A telephone number in international form (+ or 00, a country code not starting with 0, 7 to 15 digits; spaces, dots, dashes, slashes and brackets between them are ignored).",
    "+4930123456"
);

/// A manufacturer serial number: 4–32 characters of `A–Z`, `0–9`, `-` and `/`, stored upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SerialNumber(String);

impl SerialNumber {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim().to_ascii_uppercase();
        if !(4..=32).contains(&s.len()) {
            return err("serial number must have 4 to 32 characters");
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '/'))
        {
            return err(format!("serial number contains {c:?}"));
        }
        if !s.chars().any(|c| c.is_ascii_digit()) {
            return err("serial number must contain a digit");
        }
        Ok(SerialNumber(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_newtype_serde!(SerialNumber);
string_schema!(
    SerialNumber,
    concat!(
        "^[",
        ws!(),
        r"]*(?=[A-Za-z0-9/-]{4,32}[",
        ws!(),
        r"]*$)[A-Za-z0-9/-]*[0-9][A-Za-z0-9/-]*[",
        ws!(),
        "]*$"
    ),
    "A manufacturer serial number: 4 to 32 characters of A-Z, 0-9, - and /, at least one digit; stored upper case.",
    "WM-2023-004711"
);

/// A 17-character vehicle identification number (ISO 3779): no I, O or Q.
///
/// The North-American check digit is not enforced: European VINs need not carry one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Vin(String);

impl Vin {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim().to_ascii_uppercase();
        if s.len() != 17 {
            return err("VIN must have exactly 17 characters");
        }
        if let Some(c) = s
            .chars()
            .find(|c| !c.is_ascii_alphanumeric() || matches!(c, 'I' | 'O' | 'Q'))
        {
            return err(format!("VIN contains {c:?}"));
        }
        Ok(Vin(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_newtype_serde!(Vin);
string_schema!(
    Vin,
    concat!("^[", ws!(), "]*[A-HJ-NPR-Za-hj-npr-z0-9]{17}[", ws!(), "]*$"),
    "A 17-character vehicle identification number (ISO 3779): letters and digits, no I, O or Q.",
    "WDB9634031L123456"
);

/// A skill name: lower case letters, digits, `_` and `-`, 2–40 characters (`washing_machine`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SkillName(String);

impl SkillName {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim().to_ascii_lowercase();
        if !(2..=40).contains(&s.len()) {
            return err("skill name must have 2 to 40 characters");
        }
        if s.chars()
            .any(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'))
        {
            return err("skill name may hold only a-z, 0-9, _ and -");
        }
        Ok(SkillName(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_newtype_serde!(SkillName);
string_schema!(
    SkillName,
    concat!("^[", ws!(), "]*[A-Za-z0-9_-]{2,40}[", ws!(), "]*$"),
    "A skill or product line: 2 to 40 of a-z, 0-9, _ and -; stored lower case.",
    "refrigeration"
);

/// Skill level 1 (trainee) to 5 (expert). Levels 4 and 5 make an expert seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SkillLevel(u8);

impl utoipa::PartialSchema for SkillLevel {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .description(Some(
                "Skill level 1 (trainee) to 5 (expert). Levels 4 and 5 make an expert seat.",
            ))
            .minimum(Some(1))
            .maximum(Some(5))
            .examples([serde_json::json!(3)])
            .into()
    }
}
impl utoipa::ToSchema for SkillLevel {}

impl SkillLevel {
    pub const MIN: SkillLevel = SkillLevel(1);
    pub const MAX: SkillLevel = SkillLevel(5);
    pub fn new(level: u8) -> Result<Self, ParseError> {
        if (1..=5).contains(&level) {
            Ok(SkillLevel(level))
        } else {
            err(format!("skill level must be 1 to 5, not {level}"))
        }
    }
    pub fn get(self) -> u8 {
        self.0
    }
    pub fn is_expert(self) -> bool {
        self.0 >= 4
    }
}

impl<'de> Deserialize<'de> for SkillLevel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        u8::try_from(n)
            .map_err(|_| ParseError(format!("skill level must be 1 to 5, not {n}")))
            .and_then(SkillLevel::new)
            .map_err(serde::de::Error::custom)
    }
}

/// A skill with its level, as held by technicians and stations and required by queues and orders.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Skill {
    pub name: SkillName,
    pub level: SkillLevel,
}

impl Skill {
    /// Does this skill satisfy a requirement (same name, level at least the one asked)?
    pub fn satisfies(&self, required: &Skill) -> bool {
        self.name == required.name && self.level >= required.level
    }
}

/// ISO 4217 currency code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Currency(String);

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        if s.len() == 3 && s.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(Currency(s.to_string()))
        } else {
            err("currency must be a three-letter ISO 4217 code such as EUR")
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_newtype_serde!(Currency);
string_schema!(
    Currency,
    concat!("^[", ws!(), "]*[A-Z]{3}[", ws!(), "]*$"),
    "ISO 4217 currency code.",
    "EUR"
);

/// An amount of money in minor units (cents) with its currency. Never a float.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Amount in the currency's minor unit (cents for EUR); never negative, at most 10^10.
    #[schema(minimum = 0, maximum = 10_000_000_000_i64)]
    pub minor: i64,
    pub currency: Currency,
}

/// An IANA time zone such as `Europe/Berlin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(chrono_tz::Tz);

impl TimeZone {
    /// An IANA name exactly as the time zone database spells it.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        raw.parse::<chrono_tz::Tz>()
            .map(TimeZone)
            .map_err(|_| ParseError(format!("unknown time zone {raw:?}")))
    }
    pub fn as_str(&self) -> &str {
        self.0.name()
    }
    pub fn tz(self) -> chrono_tz::Tz {
        self.0
    }
}

impl Default for TimeZone {
    fn default() -> Self {
        TimeZone(chrono_tz::UTC)
    }
}
string_newtype_serde!(TimeZone);

impl utoipa::PartialSchema for TimeZone {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("An IANA time zone, spelled as the time zone database does."))
            .enum_values(Some(chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())))
            .examples([serde_json::json!("Europe/Berlin")])
            .into()
    }
}
impl utoipa::ToSchema for TimeZone {}

/// An e-mail address, checked for shape only (one `@`, a dot in the domain, no spaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        let ok = s.chars().count() <= 254
            && !s.contains(char::is_whitespace)
            && s.split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.contains('@'));
        if ok {
            Ok(Email(s.to_string()))
        } else {
            err("not an e-mail address")
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_newtype_serde!(Email);
string_schema!(
    Email,
    concat!(
        "^[",
        ws!(),
        r"]*(?=[^\x00",
        ws!(),
        "]{1,254}[",
        ws!(),
        r"]*$)[^@\x00",
        ws!(),
        r"]+@[^@\x00",
        ws!(),
        r"]*\.[^@\x00",
        ws!(),
        "]*[",
        ws!(),
        "]*$"
    ),
    "An e-mail address, checked for shape only (one @, a dot in the domain, no spaces, at most 254 characters).",
    "anna@example.com"
);

/// An IBAN, stored without spaces in capitals; the ISO 13616 check digits must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iban(String);

impl Iban {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s: String = raw
            .chars()
            .filter(|c| *c != ' ')
            .collect::<String>()
            .to_ascii_uppercase();
        let b = s.as_bytes();
        let shape = (15..=34).contains(&b.len())
            && b[..2].iter().all(u8::is_ascii_uppercase)
            && b[2..4].iter().all(u8::is_ascii_digit)
            && b[4..].iter().all(u8::is_ascii_alphanumeric);
        if !shape {
            return err("not an IBAN (two letters, two check digits, 11 to 30 letters or digits)");
        }
        // Move the first four characters to the end, letters become 10..35, the number mod 97 is 1.
        let rem = b[4..].iter().chain(&b[..4]).fold(0u32, |acc, &c| {
            let v = if c.is_ascii_digit() {
                u32::from(c - b'0')
            } else {
                u32::from(c - b'A') + 10
            };
            if v >= 10 {
                (acc * 100 + v) % 97
            } else {
                (acc * 10 + v) % 97
            }
        });
        if rem != 1 {
            return err("IBAN check digits do not match");
        }
        Ok(Iban(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_newtype_serde!(Iban);
string_schema!(
    Iban,
    r"^[A-Za-z]{2}[0-9]{2}[A-Za-z0-9 ]{11,40}$",
    "An IBAN (spaces allowed, stored without them); its check digits must hold.",
    "DE89 3704 0044 0532 0130 00"
);

/// A WGS84 position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GeoPoint {
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    #[schema(minimum = -180, maximum = 180)]
    pub lon: f64,
}

impl GeoPoint {
    pub fn new(lat: f64, lon: f64) -> Result<Self, ParseError> {
        if !(-90.0..=90.0).contains(&lat) || lat.is_nan() {
            return err("lat must be between -90 and 90");
        }
        if !(-180.0..=180.0).contains(&lon) || lon.is_nan() {
            return err("lon must be between -180 and 180");
        }
        Ok(GeoPoint { lat, lon })
    }
}

impl<'de> Deserialize<'de> for GeoPoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            lat: f64,
            lon: f64,
        }
        let r = Raw::deserialize(d)?;
        GeoPoint::new(r.lat, r.lon).map_err(serde::de::Error::custom)
    }
}

/// A bounded, trimmed, non-empty piece of text (names, subjects).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Text(String);

impl Text {
    /// Characters at most, as sent (before trimming).
    pub const MAX: usize = 2000;
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if raw.chars().count() > Self::MAX {
            return err(format!("must be at most {} characters", Self::MAX));
        }
        if raw.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return err("must not contain control characters");
        }
        let s = raw.trim();
        if s.is_empty() {
            return err("must not be empty");
        }
        Ok(Text(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_newtype_serde!(Text);
string_schema!(
    Text,
    concat!(
        r"^(?=[\s\S]{1,2000}$)[^\x00-\x08\x0b-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f",
        ws!(),
        r"][^\x00-\x08\x0b-\x1f\x7f-\x9f]*$"
    ),
    "Text of 1 to 2000 characters, not only spaces, without control characters other than tab and line feed; stored trimmed.",
    "Drum does not turn"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ibans_are_checked_by_their_check_digits() {
        assert_eq!(
            Iban::parse("de89 3704 0044 0532 0130 00").unwrap().as_str(),
            "DE89370400440532013000"
        );
        assert!(Iban::parse("GB82 WEST 1234 5698 7654 32").is_ok());
        // One digit changed, two swapped, too short, not a country code.
        for bad in [
            "DE89370400440532013001",
            "DE89370400440532010300",
            "DE8937040044",
            "1289370400440532013000",
        ] {
            assert!(Iban::parse(bad).is_err(), "{bad}");
        }
        // Anything the parser accepts matches the schema pattern.
        assert!(matches_pattern(Iban::PATTERN, "DE89 3704 0044 0532 0130 00"));
    }

    fn matches_pattern(pattern: &str, s: &str) -> bool {
        fancy_regex::Regex::new(pattern).unwrap().is_match(s).unwrap()
    }

    /// Each schema pattern accepts exactly what the API accepts (its parser, and no NUL): fixed cases at the edges and
    /// random strings over an alphabet of the characters the rules treat specially.
    #[test]
    fn patterns_agree_with_parsers() {
        use rand::{Rng, SeedableRng};
        type Check = (&'static str, &'static str, fn(&str) -> bool, &'static [&'static str]);
        let checks: [Check; 7] = [
            (
                "phone",
                PhoneNumber::PATTERN,
                |s| PhoneNumber::parse(s).is_ok(),
                &[
                    "+49 30 1234567",
                    "0049 (30) 1234-567",
                    " +1.212.555.0100\u{3000}",
                    "+0123456789",
                    "+123456",
                    "+1234567890123456",
                    "+123456789012345",
                    "00+4930123456",
                    "+49\t30123456",
                ],
            ),
            (
                "serial",
                SerialNumber::PATTERN,
                |s| SerialNumber::parse(s).is_ok(),
                &[
                    "ab1",
                    "ab12",
                    " wm-2023-0047 ",
                    "ABCDEF",
                    "A/1-",
                    "A1234567890123456789012345678901",
                    "A12345678901234567890123456789012",
                ],
            ),
            (
                "vin",
                Vin::PATTERN,
                |s| Vin::parse(s).is_ok(),
                &[
                    "WDB9634031L123456",
                    "wdb9634031l123456",
                    "WDB9634031O123456",
                    " WDB9634031L123456\n",
                ],
            ),
            (
                "skill",
                SkillName::PATTERN,
                |s| SkillName::parse(s).is_ok(),
                &["hvac", "a", "Truck_2", " ab ", "a b"],
            ),
            (
                "currency",
                Currency::PATTERN,
                |s| Currency::parse(s).is_ok(),
                &["EUR", "eur", " EUR ", "EURO"],
            ),
            (
                "email",
                Email::PATTERN,
                |s| Email::parse(s).is_ok(),
                &[
                    "anna@example.com",
                    "a@b",
                    "@b.c",
                    "a@@b.c",
                    " a@b.c ",
                    "a b@c.d",
                    "a@b.c@d",
                ],
            ),
            (
                "text",
                Text::PATTERN,
                |s| Text::parse(s).is_ok(),
                &[
                    "x",
                    " ",
                    "",
                    " a ",
                    "a\nb",
                    "a\rb",
                    "\u{85}a",
                    "\u{3000}a\u{3000}",
                    "\u{1c}",
                ],
            ),
        ];
        let alphabet: Vec<char> =
            "aAzZiIoOqQ019+-/().@_ \t\n\r\u{b}\u{c}\u{1c}\u{7f}\u{85}\u{a0}\u{3000}\u{2028}\u{0}é€"
                .chars()
                .collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(4475);
        for (name, pattern, parses, fixed) in checks {
            let re = fancy_regex::Regex::new(pattern).unwrap_or_else(|e| panic!("{name}: {e}"));
            let random = (0..20_000).map(|_| {
                let len = rng.gen_range(0..24);
                (0..len)
                    .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                    .collect::<String>()
            });
            let long = [3, 16, 17, 18, 33, 40, 41, 254, 255, 1999, 2000, 2001]
                .map(|n| "a1".repeat(n).chars().take(n).collect());
            for s in fixed.iter().map(|s| s.to_string()).chain(long).chain(random) {
                // The API refuses NUL in every string at its edge, before any parser.
                let accepted = parses(&s) && !s.contains('\0');
                assert_eq!(re.is_match(&s).unwrap(), accepted, "{name}: {s:?} against {pattern}");
            }
        }
    }

    #[test]
    fn phone_numbers() {
        let cases = [
            ("+49 30 1234567", Some("+49301234567")),
            ("0049 (30) 1234-567", Some("+49301234567")),
            ("+1.212.555.0100", Some("+12125550100")),
            ("030 1234567", None),
            ("+0123456789", None),
            ("+49 30 12x4567", None),
            ("+123456", None),
            ("+1234567890123456", None),
        ];
        for (raw, want) in cases {
            assert_eq!(
                PhoneNumber::parse(raw).ok().as_ref().map(PhoneNumber::as_str),
                want,
                "{raw}"
            );
        }
    }

    #[test]
    fn phone_debug_is_masked() {
        let p = PhoneNumber::parse("+49301234567").unwrap();
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("301234"), "{dbg}");
        assert!(dbg.contains("67"));
    }

    #[test]
    fn serials_and_vins() {
        assert_eq!(SerialNumber::parse(" wm-2023-0047 ").unwrap().as_str(), "WM-2023-0047");
        assert!(SerialNumber::parse("ab").is_err());
        assert!(SerialNumber::parse("ABCDEF").is_err(), "needs a digit");
        assert!(SerialNumber::parse("AB CD 12").is_err());
        assert!(Vin::parse("WDB9634031L123456").is_ok());
        assert!(Vin::parse("WDB9634031L12345").is_err());
        assert!(Vin::parse("WDB9634031O123456").is_err());
    }

    #[test]
    fn skill_levels() {
        assert!(SkillLevel::new(0).is_err());
        assert!(SkillLevel::new(6).is_err());
        assert!(SkillLevel::new(4).unwrap().is_expert());
        assert!(!SkillLevel::new(3).unwrap().is_expert());
        let s: Result<Skill, _> = serde_json::from_str(r#"{"name":"hvac","level":9}"#);
        assert!(s.is_err());
        let have = Skill {
            name: SkillName::parse("hvac").unwrap(),
            level: SkillLevel::new(4).unwrap(),
        };
        let need = Skill {
            name: SkillName::parse("hvac").unwrap(),
            level: SkillLevel::new(3).unwrap(),
        };
        assert!(have.satisfies(&need));
        assert!(!need.satisfies(&have));
    }

    #[test]
    fn misc_values() {
        assert!(Currency::parse("EUR").is_ok());
        assert!(Currency::parse("eur").is_err());
        assert_eq!(TimeZone::parse("Europe/Berlin").unwrap().as_str(), "Europe/Berlin");
        assert!(TimeZone::parse("Mars/Olympus").is_err());
        assert!(Email::parse("a@b.de").is_ok());
        assert!(Email::parse("a b@c.de").is_err());
        assert!(Email::parse("abc.de").is_err());
        assert!(GeoPoint::new(91.0, 0.0).is_err());
        assert!(GeoPoint::new(52.5, 13.4).is_ok());
        assert!(Text::parse("   ").is_err());
        assert!(Text::parse("a\u{0}b").is_err());
    }
}
