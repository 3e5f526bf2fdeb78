//! Jackson's output layouts: compact, and the default pretty printer (objects one member a
//! line with ` : `, arrays on one line as `[ a, b ]`, `{ }` and `[ ]` when empty, no final
//! newline, upper-case `\u00XX` escapes).

/// A JSON tree that keeps number text exactly as written (serde_json normalizes exponents,
/// which would turn Java's `1.0E10` into `1.0e+10`) and object members in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, as its exact text.
    Number(String),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, members in order.
    Object(Map),
}

/// Object members in insertion order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map(Vec<(String, Json)>);

impl Map {
    /// An empty object.
    pub fn new() -> Self {
        Map(Vec::new())
    }

    /// Appends a member.
    pub fn insert(&mut self, key: String, value: Json) {
        self.0.push((key, value));
    }

    /// Members in order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Json)> + '_ {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// True when there are no members.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<(String, Json)> for Map {
    fn from_iter<I: IntoIterator<Item = (String, Json)>>(iter: I) -> Self {
        Map(iter.into_iter().collect())
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Self {
        Json::String(s.to_owned())
    }
}

impl From<String> for Json {
    fn from(s: String) -> Self {
        Json::String(s)
    }
}

impl From<bool> for Json {
    fn from(b: bool) -> Self {
        Json::Bool(b)
    }
}

impl From<&serde_json::Value> for Json {
    fn from(v: &serde_json::Value) -> Self {
        use serde_json::Value as V;
        match v {
            V::Null => Json::Null,
            V::Bool(b) => Json::Bool(*b),
            V::Number(n) => Json::Number(n.to_string()),
            V::String(s) => Json::String(s.clone()),
            V::Array(a) => Json::Array(a.iter().map(Json::from).collect()),
            V::Object(m) => {
                Json::Object(m.iter().map(|(k, v)| (k.clone(), Json::from(v))).collect())
            }
        }
    }
}

type Value = Json;

/// Prints a value compactly (no whitespace).
pub fn compact(v: &Value) -> String {
    let mut out = String::new();
    write(&mut out, v, None);
    out
}

/// Prints a value with Jackson's default pretty printer.
pub fn pretty(v: &Value) -> String {
    let mut out = String::new();
    write(&mut out, v, Some(0));
    out
}

pub(crate) fn indent(out: &mut String, level: usize) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("  ");
    }
}

// `level` is the number of enclosing objects (Jackson's arrays are inline and do not nest).
pub(crate) fn write(out: &mut String, v: &Value, level: Option<usize>) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str(if level.is_some() { "[ ]" } else { "[]" });
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if level.is_some() {
                    out.push(' ');
                }
                write(out, item, level);
            }
            out.push_str(if level.is_some() { " ]" } else { "]" });
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str(if level.is_some() { "{ }" } else { "{}" });
                return;
            }
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if let Some(l) = level {
                    indent(out, l + 1);
                }
                write_str(out, k);
                out.push_str(if level.is_some() { " : " } else { ":" });
                write(out, item, level.map(|l| l + 1));
            }
            if let Some(l) = level {
                indent(out, l);
            }
            out.push('}');
        }
    }
}

pub(crate) fn write_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let b = c as u32 as usize;
                out.push_str("\\u00");
                out.push(HEX[b >> 4] as char);
                out.push(HEX[b & 15] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"a":[{"b":1},{"c":[]}],"d":{},"e":"x\u0001\n\"","f":[1,2]}"#)
                .unwrap();
        let v = Json::from(&v);
        assert_eq!(
            compact(&v),
            r#"{"a":[{"b":1},{"c":[]}],"d":{},"e":"x\u0001\n\"","f":[1,2]}"#
        );
        assert_eq!(
            pretty(&v),
            "{\n  \"a\" : [ {\n    \"b\" : 1\n  }, {\n    \"c\" : [ ]\n  } ],\n  \"d\" : { },\n  \"e\" : \"x\\u0001\\n\\\"\",\n  \"f\" : [ 1, 2 ]\n}"
        );
    }
}
