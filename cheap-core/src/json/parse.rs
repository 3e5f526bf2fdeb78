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
    let (mut depth, mut max) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    max = depth;
                    if max > limit {
                        return max;
                    }
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fn check_depth(bytes: &[u8]) -> Result<()> {
    if nesting_depth(bytes, MAX_JSON_DEPTH) > MAX_JSON_DEPTH {
        return Err(CheapError::invalid(format!(
            "malformed JSON: nested more than {MAX_JSON_DEPTH} levels deep"
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
    fn trailing_text_and_syntax_errors_are_refused() {
        assert!(from_slice::<serde_json::Value>(b"{} x").is_err());
        assert!(from_slice::<serde_json::Value>(b"{").is_err());
    }
}
