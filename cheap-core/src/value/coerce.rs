//! Parsing scalar values from text, and the checks behind it.

use std::str::FromStr;

use bigdecimal::BigDecimal;
use num_bigint::BigInt;
use uuid::Uuid;

use super::{CheapDateTime, PropertyValue};
use crate::model::PropertyType;

/// Lower-case hex text of bytes (how the reference stores a BLOB as text).
pub fn hex_encode(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

pub(crate) fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// Checks the characters of a URI reference (RFC 3986 plus non-ASCII text, as java.net.URI
/// accepts) and its scheme, if it has one.
pub(crate) fn check_uri(s: &str) -> Result<(), String> {
    let bad = s
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "<>\"{}|\\^`".contains(*c));
    if let Some(c) = bad {
        return Err(format!(
            "'{s}' is not a URI: character {c:?} is not allowed"
        ));
    }
    let b = s.as_bytes();
    for (i, _) in s.match_indices('%') {
        let ok = b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
        if !ok {
            return Err(format!(
                "'{s}' is not a URI: '%' must start an escape like %20"
            ));
        }
    }
    let end = s.find(['/', '?', '#']).unwrap_or(s.len());
    if let Some(colon) = s[..end].find(':') {
        let scheme = &s[..colon];
        let valid = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !valid {
            return Err(format!("'{s}' is not a URI: bad scheme '{scheme}'"));
        }
    }
    Ok(())
}

pub(crate) fn parse_f64(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "Infinity" | "+Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        t if t
            .chars()
            .any(|c| c.is_ascii_alphabetic() && !"eE".contains(c)) =>
        {
            None
        }
        t => f64::from_str(t).ok(),
    }
}

pub(crate) fn from_text(t: PropertyType, text: &str) -> Result<PropertyValue, String> {
    use PropertyType as T;
    let fail = || format!("'{text}' is not a valid {}", t.name());
    Ok(match t {
        T::Integer => PropertyValue::Integer(text.trim().parse().map_err(|_| fail())?),
        T::Float => PropertyValue::Float(parse_f64(text.trim()).ok_or_else(fail)?),
        T::Boolean => match text.trim() {
            s if s.eq_ignore_ascii_case("true") => PropertyValue::Boolean(true),
            s if s.eq_ignore_ascii_case("false") => PropertyValue::Boolean(false),
            _ => return Err(fail()),
        },
        T::String | T::Text | T::Clob => PropertyValue::String(text.to_owned()),
        T::BigInteger => {
            PropertyValue::BigInteger(BigInt::from_str(text.trim()).map_err(|_| fail())?)
        }
        T::BigDecimal => {
            let t = text.trim();
            if t.is_empty()
                || t.chars()
                    .any(|c| !(c.is_ascii_digit() || "+-.eE".contains(c)))
            {
                return Err(fail());
            }
            PropertyValue::BigDecimal(BigDecimal::from_str(t).map_err(|_| fail())?)
        }
        T::DateTime => PropertyValue::DateTime(CheapDateTime::parse(text).map_err(|_| fail())?),
        T::Uri => {
            check_uri(text)?;
            PropertyValue::Uri(text.to_owned())
        }
        T::Uuid => PropertyValue::Uuid(Uuid::parse_str(text.trim()).map_err(|_| fail())?),
        T::Blob => PropertyValue::Blob(hex_decode(text.trim()).ok_or_else(fail)?),
    })
}

/// Like [`from_text`], and also the reference's SQL forms of a DateTime: its timestamp text
/// (`yyyy-mm-dd hh:mm:ss.f`, read as UTC) and a bare date (midnight UTC).
pub(crate) fn from_sql_text(t: PropertyType, text: &str) -> Result<PropertyValue, String> {
    match t {
        PropertyType::DateTime => CheapDateTime::parse(text)
            .or_else(|_| CheapDateTime::parse_sql_timestamp(text))
            .or_else(|_| CheapDateTime::parse_sql_date(text))
            .map(PropertyValue::DateTime)
            .map_err(|_| format!("'{text}' is not a valid DateTime")),
        t => from_text(t, text),
    }
}

/// Converts a scalar to type `t`: values already of the type pass, text is parsed, and numbers
/// widen (Integer to Float/BigInteger/BigDecimal, BigInteger to BigDecimal, finite Float to
/// BigDecimal). Anything else is a type error.
pub(crate) fn coerce_scalar(v: PropertyValue, t: PropertyType) -> Result<PropertyValue, String> {
    use PropertyType as T;
    use PropertyValue as V;
    if v.fits(t) {
        return match (v, t) {
            (V::Uri(s), T::Uri) => check_uri(&s).map(|_| V::Uri(s)),
            (v, _) => Ok(v),
        };
    }
    match (v, t) {
        (V::String(s), t) => from_text(t, &s),
        (V::Integer(i), T::Float) => Ok(V::Float(i as f64)),
        (V::Integer(i), T::BigInteger) => Ok(V::BigInteger(BigInt::from(i))),
        (V::Integer(i), T::BigDecimal) => Ok(V::BigDecimal(BigDecimal::from(i))),
        (V::BigInteger(i), T::BigDecimal) => Ok(V::BigDecimal(BigDecimal::from(i))),
        (V::Float(f), T::BigDecimal) if f.is_finite() => {
            BigDecimal::from_str(&super::java_double(f))
                .map(V::BigDecimal)
                .map_err(|e| e.to_string())
        }
        (V::Uri(s), t) if t.is_text() => Ok(V::String(s)),
        (v, t) => Err(format!(
            "a {} value cannot be stored as {}",
            v.kind(),
            t.name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_for_every_type() {
        let cases = [
            (PropertyType::Integer, "-42"),
            (PropertyType::Float, "1.0E10"),
            (PropertyType::Float, "NaN"),
            (PropertyType::Boolean, "true"),
            (PropertyType::String, " spaced "),
            (PropertyType::BigInteger, "123456789012345678901234567890"),
            (PropertyType::BigDecimal, "123.4500"),
            (PropertyType::BigDecimal, "1E+3"),
            (
                PropertyType::DateTime,
                "2025-01-15T10:30-05:00[America/New_York]",
            ),
            (PropertyType::Uri, "https://example.com/a?b=c#d"),
            (PropertyType::Uuid, "123e4567-e89b-12d3-a456-426614174000"),
            (PropertyType::Blob, "00ff10"),
        ];
        for (t, s) in cases {
            let v = from_text(t, s).unwrap();
            assert_eq!(v.to_text().unwrap(), s, "{t}");
        }
    }

    #[test]
    fn bad_text_is_rejected() {
        let cases = [
            (PropertyType::Integer, "4.5"),
            (PropertyType::Integer, "99999999999999999999"),
            (PropertyType::Float, "inf"),
            (PropertyType::Boolean, "yes"),
            (PropertyType::BigInteger, "1.5"),
            (PropertyType::BigDecimal, "abc"),
            (PropertyType::DateTime, "2025-01-15"),
            (PropertyType::DateTime, "2025-01-15 10:30:00.0"),
            (PropertyType::Uri, "a b"),
            (PropertyType::Uri, "1x:y"),
            (PropertyType::Uri, "a%2"),
            (PropertyType::Uuid, "not-a-uuid"),
            (PropertyType::Blob, "abc"),
        ];
        for (t, s) in cases {
            assert!(from_text(t, s).is_err(), "{t} {s}");
        }
    }

    #[test]
    fn sql_text_adds_the_reference_date_forms() {
        for (s, want) in [
            ("2025-01-15 10:30:00.0", "2025-01-15T10:30Z"),
            ("2025-01-15", "2025-01-15T00:00Z"),
            ("2025-01-15T10:30+02:00", "2025-01-15T10:30+02:00"),
        ] {
            let v = from_sql_text(PropertyType::DateTime, s).unwrap();
            assert_eq!(v.to_text().unwrap(), want);
        }
        assert!(from_sql_text(PropertyType::DateTime, "soon").is_err());
    }

    #[test]
    fn widening_and_type_errors() {
        assert_eq!(
            coerce_scalar(PropertyValue::Integer(3), PropertyType::Float).unwrap(),
            PropertyValue::Float(3.0)
        );
        assert!(coerce_scalar(PropertyValue::Float(3.5), PropertyType::Integer).is_err());
        assert!(coerce_scalar(PropertyValue::Boolean(true), PropertyType::String).is_err());
        assert!(coerce_scalar(PropertyValue::Integer(1), PropertyType::Uuid).is_err());
    }
}
