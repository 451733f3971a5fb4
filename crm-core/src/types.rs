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

/// A telephone number in E.164 form: `+`, a country code not starting with 0, at most 15 digits.
///
/// Accepts the usual human spellings (`+49 (30) 1234-567`, `0049 30 1234567`) and keeps only
/// the canonical form. Its `Debug` masks the middle digits so a stray `{:?}` never logs a number.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, ToSchema)]
#[schema(value_type = String, example = "+4930123456")]
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

/// A manufacturer serial number: 4–32 characters of `A–Z`, `0–9`, `-` and `/`, stored upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, ToSchema)]
#[schema(value_type = String, example = "WM-2023-004711")]
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

/// A 17-character vehicle identification number (ISO 3779): no I, O or Q.
///
/// The North-American check digit is not enforced: European VINs need not carry one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, ToSchema)]
#[schema(value_type = String, example = "WDB9634031L123456")]
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

/// A skill name: lower case letters, digits, `_` and `-`, 2–40 characters (`washing_machine`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, ToSchema)]
#[schema(value_type = String, example = "refrigeration")]
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

/// Skill level 1 (trainee) to 5 (expert). Levels 4 and 5 make an expert seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[schema(value_type = u8, example = 3)]
pub struct SkillLevel(u8);

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
#[derive(Debug, Clone, PartialEq, Eq, Hash, ToSchema)]
#[schema(value_type = String, example = "EUR")]
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

/// An amount of money in minor units (cents) with its currency. Never a float.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Amount in the currency's minor unit (cents for EUR); never negative for prices.
    pub minor: i64,
    pub currency: Currency,
}

/// An IANA time zone such as `Europe/Berlin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[schema(value_type = String, example = "Europe/Berlin")]
pub struct TimeZone(chrono_tz::Tz);

impl TimeZone {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        raw.trim()
            .parse::<chrono_tz::Tz>()
            .map(TimeZone)
            .map_err(|_| ParseError(format!("unknown time zone {:?}", raw.trim())))
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

/// An e-mail address, checked for shape only (one `@`, a dot in the domain, no spaces).
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[schema(value_type = String, example = "anna@example.com")]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        let ok = s.len() <= 254
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

/// A WGS84 position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct GeoPoint {
    pub lat: f64,
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
#[derive(Debug, Clone, PartialEq, Eq, Hash, ToSchema)]
#[schema(value_type = String)]
pub struct Text(String);

impl Text {
    pub const MAX: usize = 2000;
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        if s.is_empty() {
            return err("must not be empty");
        }
        if s.chars().count() > Self::MAX {
            return err(format!("must be at most {} characters", Self::MAX));
        }
        if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return err("must not contain control characters");
        }
        Ok(Text(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_newtype_serde!(Text);

#[cfg(test)]
mod tests {
    use super::*;

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
