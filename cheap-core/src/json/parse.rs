//! JSON parsing for every reader of the system (the codec, the server's request bodies, the
//! client's responses), with one nesting limit: [`MAX_JSON_DEPTH`].
//!
//! serde_json stops at 128 levels by default, which a tree of 64 levels already exceeds, so a
//! deep tree was stored but could not be read back. Here the nesting is measured first, by a
//! scan that needs no recursion, and refused beyond the limit; what passes is parsed without
//! serde_json's limit, on a stack that grows on the heap when needed (serde_stacker), so
//! neither a deep document nor a hostile one can overflow the thread's stack.

use serde::de::DeserializeOwned;

use crate::error::{CheapError, Result};
use crate::limits::MAX_JSON_DEPTH;

/// How deeply `bytes` nests arrays and objects, ignoring brackets inside strings. Stops counting
/// once `limit` is passed. Malformed text gets some answer; the parser reports its errors.
pub fn nesting_depth(bytes: &[u8], limit: usize) -> usize {
    DepthScan::default().feed(bytes, limit)
}

/// [`nesting_depth`] over text that arrives in pieces.
#[derive(Debug, Default)]
pub(crate) struct DepthScan {
    depth: usize,
    max: usize,
    in_string: bool,
    escaped: bool,
}

impl DepthScan {
    /// Scans the next piece; the deepest nesting so far (stops once past `limit`).
    pub fn feed(&mut self, bytes: &[u8], limit: usize) -> usize {
        for &b in bytes {
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'[' | b'{' => {
                    self.depth += 1;
                    if self.depth > self.max {
                        self.max = self.depth;
                        if self.max > limit {
                            return self.max;
                        }
                    }
                }
                b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
        self.max
    }
}

/// A reader that fails once the JSON passing through nests deeper than [`MAX_JSON_DEPTH`], so a
/// streamed document is held to the limit [`from_slice`] checks up front.
pub(crate) struct DepthGuard<R> {
    inner: R,
    scan: DepthScan,
}

impl<R> DepthGuard<R> {
    pub fn new(inner: R) -> Self {
        DepthGuard {
            inner,
            scan: DepthScan::default(),
        }
    }
}

impl<R: std::io::Read> std::io::Read for DepthGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.scan.feed(&buf[..n], MAX_JSON_DEPTH) > MAX_JSON_DEPTH {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                too_deep(),
            ));
        }
        Ok(n)
    }
}

fn too_deep() -> String {
    format!("nested more than {MAX_JSON_DEPTH} levels deep")
}

fn check_depth(bytes: &[u8]) -> Result<()> {
    if nesting_depth(bytes, MAX_JSON_DEPTH) > MAX_JSON_DEPTH {
        return Err(CheapError::invalid(format!(
            "malformed JSON: {}",
            too_deep()
        )));
    }
    Ok(())
}

/// Parses JSON into `T`, within [`MAX_JSON_DEPTH`]. Errors are [`CheapError::InvalidInput`]
/// starting "malformed JSON".
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    check_depth(bytes)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.disable_recursion_limit();
    let value = T::deserialize(serde_stacker::Deserializer::new(&mut de))
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| CheapError::invalid(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// Converts a parsed JSON value into `T`; like [`from_slice`], safe at any depth the parser
/// accepted.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T> {
    // Converting a value recurses once per level; serde_stacker keeps that off the thread's stack.
    T::deserialize(serde_stacker::Deserializer::new(value))
        .map_err(|e| CheapError::invalid(e.to_string()))
}

/// A JSON value that refuses an object with the same key twice (which `serde_json::Value`
/// resolves silently, the last one winning), so that what a client meant is never guessed.
/// Typed request structs refuse duplicate fields by themselves; this does it for documents read
/// as values: catalogs, defs, aspects.
#[derive(Debug, Clone, PartialEq)]
pub struct StrictValue(pub serde_json::Value);

impl<'de> serde::Deserialize<'de> for StrictValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

const NUMBER_TOKEN: &str = "$serde_json::private::Number";

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // With `arbitrary_precision`, serde_json hands a number over as a one-entry map
            // under this key holding its exact text (its own Value visitor does the same).
            if out.is_empty() && key == NUMBER_TOKEN {
                let text: String = map.next_value()?;
                return text
                    .parse::<serde_json::Number>()
                    .map(serde_json::Value::Number)
                    .map_err(serde::de::Error::custom);
            }
            let StrictValue(v) = map.next_value()?;
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate key '{key}' in an object"
                )));
            }
            out.insert(key, v);
        }
        Ok(serde_json::Value::Object(out))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(serde_json::Value::Array(out))
    }

    // Scalars, numbers included (their exact text under `arbitrary_precision`), are what
    // serde_json's own Value makes of them.
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Self::Value, E> {
        serde_json::Number::from_f64(v)
            .map(serde_json::Value::Number)
            .ok_or_else(|| E::custom("a number JSON cannot hold"))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> std::result::Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_none<E>(self) -> std::result::Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        serde::Deserialize::deserialize(d).map(|StrictValue(v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!("{}{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn depth_is_measured_outside_strings() {
        assert_eq!(nesting_depth(br#"{"a":[1,{"b":"[[[{"}]}"#, 100), 3);
        assert_eq!(nesting_depth(br#"["\"[[", "\\", []]"#, 100), 2);
        assert_eq!(nesting_depth(b"", 100), 0);
    }

    #[test]
    fn up_to_the_limit_parses_and_beyond_is_refused() {
        let v: serde_json::Value = from_slice(nested(MAX_JSON_DEPTH).as_bytes()).unwrap();
        let back: serde_json::Value = from_value(v).unwrap();
        assert!(back.is_array());
        let e = from_slice::<serde_json::Value>(nested(MAX_JSON_DEPTH + 1).as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("nested more than"), "{e}");
        // A hostile document: refused by the scan long before a parser could overflow.
        let e = from_slice::<serde_json::Value>(nested(1_000_000).as_bytes()).unwrap_err();
        assert!(e.to_string().contains("malformed JSON"));
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth_and_numbers_keep_their_text() {
        let e = from_slice::<StrictValue>(br#"{"a":1,"b":{"c":1,"c":2}}"#).unwrap_err();
        assert!(e.to_string().contains("duplicate key 'c'"), "{e}");
        let StrictValue(v) =
            from_slice(br#"{"n":12345678901234567890123,"f":1.50,"a":[{"x":null}]}"#).unwrap();
        let plain: serde_json::Value =
            from_slice(br#"{"n":12345678901234567890123,"f":1.50,"a":[{"x":null}]}"#).unwrap();
        assert_eq!(v, plain);
        assert_eq!(v["n"].to_string(), "12345678901234567890123");
    }

    #[test]
    fn trailing_text_and_syntax_errors_are_refused() {
        assert!(from_slice::<serde_json::Value>(b"{} x").is_err());
        assert!(from_slice::<serde_json::Value>(b"{").is_err());
    }
}
