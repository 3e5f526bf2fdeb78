//! Typed property values.

pub(crate) mod coerce;
pub(crate) use coerce::coerce_scalar;
pub use coerce::hex_encode;
mod datetime;
pub(crate) mod number;

use std::fmt;

use bigdecimal::BigDecimal;
use num_bigint::BigInt;
use uuid::Uuid;

use crate::model::PropertyType;

pub use datetime::CheapDateTime;
pub use number::{java_big_decimal, java_double};

/// One property value. A multivalued property holds a [`PropertyValue::List`] whose elements are
/// all of the property's type. Null is the absence of a value (`Option<PropertyValue>`).
///
/// String, Text and CLOB properties all hold [`PropertyValue::String`].
#[derive(Debug, Clone)]
pub enum PropertyValue {
    /// Integer: 64-bit signed.
    Integer(i64),
    /// Float: IEEE-754 double, NaN and infinities included.
    Float(f64),
    /// Boolean.
    Boolean(bool),
    /// String, Text or CLOB.
    String(String),
    /// BigInteger, every digit kept.
    BigInteger(BigInt),
    /// BigDecimal, every digit and the scale kept (`123.4500` stays `123.4500`).
    BigDecimal(BigDecimal),
    /// DateTime with offset and optional region id.
    DateTime(CheapDateTime),
    /// URI, checked for RFC 3986 characters; relative references are allowed.
    Uri(String),
    /// UUID.
    Uuid(Uuid),
    /// BLOB bytes.
    Blob(Vec<u8>),
    /// The elements of a multivalued property.
    List(Vec<PropertyValue>),
}

impl PropertyValue {
    /// Whether this value (a scalar) is stored as-is in a property of type `t`.
    pub fn fits(&self, t: PropertyType) -> bool {
        use PropertyType as T;
        matches!(
            (self, t),
            (PropertyValue::Integer(_), T::Integer)
                | (PropertyValue::Float(_), T::Float)
                | (PropertyValue::Boolean(_), T::Boolean)
                | (PropertyValue::String(_), T::String | T::Text | T::Clob)
                | (PropertyValue::BigInteger(_), T::BigInteger)
                | (PropertyValue::BigDecimal(_), T::BigDecimal)
                | (PropertyValue::DateTime(_), T::DateTime)
                | (PropertyValue::Uri(_), T::Uri)
                | (PropertyValue::Uuid(_), T::Uuid)
                | (PropertyValue::Blob(_), T::Blob)
        )
    }

    /// A short name of the value's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            PropertyValue::Integer(_) => "Integer",
            PropertyValue::Float(_) => "Float",
            PropertyValue::Boolean(_) => "Boolean",
            PropertyValue::String(_) => "String",
            PropertyValue::BigInteger(_) => "BigInteger",
            PropertyValue::BigDecimal(_) => "BigDecimal",
            PropertyValue::DateTime(_) => "DateTime",
            PropertyValue::Uri(_) => "URI",
            PropertyValue::Uuid(_) => "UUID",
            PropertyValue::Blob(_) => "BLOB",
            PropertyValue::List(_) => "list",
        }
    }

    /// The canonical text of a scalar, as the SQL backends store it in `value_text`: Java's
    /// number text, `true`/`false`, Java's date-time text, lower-case UUID and hex BLOB.
    /// A list has no text form and gives `None`.
    pub fn to_text(&self) -> Option<String> {
        Some(match self {
            PropertyValue::Integer(i) => i.to_string(),
            PropertyValue::Float(f) => java_double(*f),
            PropertyValue::Boolean(b) => b.to_string(),
            PropertyValue::String(s) | PropertyValue::Uri(s) => s.clone(),
            PropertyValue::BigInteger(i) => i.to_string(),
            PropertyValue::BigDecimal(d) => java_big_decimal(d),
            PropertyValue::DateTime(d) => d.to_string(),
            PropertyValue::Uuid(u) => u.hyphenated().to_string(),
            PropertyValue::Blob(b) => coerce::hex_encode(b),
            PropertyValue::List(_) => return None,
        })
    }

    /// Parses the canonical text of a scalar of type `t` (the inverse of [`to_text`](Self::to_text)).
    pub fn from_text(t: PropertyType, text: &str) -> Result<PropertyValue, String> {
        coerce::from_text(t, text)
    }

    /// Parses text read from SQL: [`from_text`](Self::from_text) plus the reference's DateTime
    /// forms (`yyyy-mm-dd hh:mm:ss.f` and bare dates, read as UTC).
    pub fn from_sql_text(t: PropertyType, text: &str) -> Result<PropertyValue, String> {
        coerce::from_sql_text(t, text)
    }

    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            PropertyValue::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The float, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            PropertyValue::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            PropertyValue::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The text of a String/Text/CLOB or URI value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PropertyValue::String(s) | PropertyValue::Uri(s) => Some(s),
            _ => None,
        }
    }

    /// The UUID, if this is one.
    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            PropertyValue::Uuid(u) => Some(*u),
            _ => None,
        }
    }

    /// The elements of a multivalued value.
    pub fn as_list(&self) -> Option<&[PropertyValue]> {
        match self {
            PropertyValue::List(l) => Some(l),
            _ => None,
        }
    }

    /// The bytes of a BLOB.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            PropertyValue::Blob(b) => Some(b),
            _ => None,
        }
    }

    /// Java's `hashCode()` of this value as a default value, for def hashing. Exact for String,
    /// Integer (Long), Float (Double), Boolean and UUID; for the other types it is the String
    /// hash of the canonical text (implementation-defined, as the spec allows).
    pub fn java_hash_code(&self) -> i32 {
        fn long_hash(v: i64) -> i32 {
            (v ^ ((v as u64) >> 32) as i64) as i32
        }
        match self {
            PropertyValue::Integer(i) => long_hash(*i),
            PropertyValue::Float(f) => {
                let bits = if f.is_nan() {
                    0x7ff8_0000_0000_0000u64
                } else {
                    f.to_bits()
                };
                long_hash(bits as i64)
            }
            PropertyValue::Boolean(b) => {
                if *b {
                    1231
                } else {
                    1237
                }
            }
            PropertyValue::Uuid(u) => {
                let (hi, lo) = u.as_u64_pair();
                let hilo = (hi ^ lo) as i64;
                ((hilo >> 32) as i32) ^ (hilo as i32)
            }
            PropertyValue::List(l) => l.iter().fold(1i32, |h, e| {
                h.wrapping_mul(31).wrapping_add(e.java_hash_code())
            }),
            other => java_string_hash(&other.to_text().unwrap_or_default()),
        }
    }
}

/// Java's `String.hashCode()` over UTF-16 code units.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

impl PartialEq for PropertyValue {
    /// Structural equality; NaN equals NaN so that round trips of NaN compare equal.
    fn eq(&self, other: &Self) -> bool {
        use PropertyValue as V;
        match (self, other) {
            (V::Integer(a), V::Integer(b)) => a == b,
            (V::Float(a), V::Float(b)) => a.to_bits() == b.to_bits() || a == b,
            (V::Boolean(a), V::Boolean(b)) => a == b,
            (V::String(a), V::String(b)) | (V::Uri(a), V::Uri(b)) => a == b,
            (V::BigInteger(a), V::BigInteger(b)) => a == b,
            // Scale matters: 1.0 and 1.00 are different texts.
            (V::BigDecimal(a), V::BigDecimal(b)) => {
                a.as_bigint_and_exponent() == b.as_bigint_and_exponent()
            }
            (V::DateTime(a), V::DateTime(b)) => a == b,
            (V::Uuid(a), V::Uuid(b)) => a == b,
            (V::Blob(a), V::Blob(b)) => a == b,
            (V::List(a), V::List(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for PropertyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropertyValue::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            other => f.write_str(&other.to_text().unwrap_or_default()),
        }
    }
}

macro_rules! from_impls {
    ($($t:ty => $v:ident $(via $conv:expr)?),* $(,)?) => {
        $(impl From<$t> for PropertyValue {
            fn from(x: $t) -> Self {
                $(let x = $conv(x);)?
                PropertyValue::$v(x)
            }
        })*
    };
}

from_impls! {
    i64 => Integer,
    i32 => Integer via i64::from,
    u32 => Integer via i64::from,
    f64 => Float,
    f32 => Float via f64::from,
    bool => Boolean,
    String => String,
    &str => String via str::to_owned,
    &String => String via String::clone,
    BigInt => BigInteger,
    BigDecimal => BigDecimal,
    CheapDateTime => DateTime,
    Uuid => Uuid,
    &[u8] => Blob via <[u8]>::to_vec,
    Vec<PropertyValue> => List,
}

macro_rules! list_impls {
    ($($t:ty),*) => {
        $(impl From<Vec<$t>> for PropertyValue {
            fn from(v: Vec<$t>) -> Self {
                PropertyValue::List(v.into_iter().map(PropertyValue::from).collect())
            }
        })*
    };
}

list_impls!(
    i64,
    i32,
    f64,
    bool,
    String,
    &str,
    Uuid,
    BigInt,
    BigDecimal,
    CheapDateTime
);
