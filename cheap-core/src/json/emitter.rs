//! Writes one JSON document a piece at a time, in the layouts of [`printer`](super::printer):
//! the bytes are those the printer gives for the whole tree, but no tree is ever whole.

use super::printer::{indent, write, write_str, Json};

/// An object or array opened and not yet closed.
struct Frame {
    array: bool,
    /// The printer's level of the container itself.
    level: usize,
    members: usize,
}

/// A document being written; [`take`](Self::take) hands over what is ready.
pub(crate) struct Emitter {
    pretty: bool,
    out: String,
    stack: Vec<Frame>,
}

impl Emitter {
    pub fn new(pretty: bool) -> Self {
        Emitter {
            pretty,
            out: String::new(),
            stack: Vec::new(),
        }
    }

    /// Separator, indentation and key of the next member of the open object.
    pub fn key(&mut self, key: &str) {
        let Some(f) = self.stack.last_mut() else {
            return;
        };
        if f.members > 0 {
            self.out.push(',');
        }
        f.members += 1;
        let level = f.level;
        if self.pretty {
            indent(&mut self.out, level + 1);
        }
        write_str(&mut self.out, key);
        self.out.push_str(if self.pretty { " : " } else { ":" });
    }

    /// The level a value written next takes: a member's is one deeper than its object, an
    /// element's that of its array. Writes an array element's separator.
    fn value_level(&mut self) -> usize {
        match self.stack.last_mut() {
            None => 0,
            Some(f) if f.array => {
                if f.members > 0 {
                    self.out.push(',');
                }
                f.members += 1;
                if self.pretty {
                    self.out.push(' ');
                }
                f.level
            }
            Some(f) => f.level + 1,
        }
    }

    /// A whole value: after [`key`](Self::key) in an object, or as the next element of an array.
    pub fn value(&mut self, v: &Json) {
        let level = self.value_level();
        write(&mut self.out, v, self.pretty.then_some(level));
    }

    /// `key` and a whole value.
    pub fn member(&mut self, key: &str, v: &Json) {
        self.key(key);
        self.value(v);
    }

    fn open(&mut self, array: bool) {
        let level = self.value_level();
        self.out.push(if array { '[' } else { '{' });
        self.stack.push(Frame {
            array,
            level,
            members: 0,
        });
    }

    /// Opens an object (after [`key`](Self::key), as an element, or as the document).
    pub fn open_object(&mut self) {
        self.open(false);
    }

    /// Opens an array.
    pub fn open_array(&mut self) {
        self.open(true);
    }

    /// Closes the innermost open object or array.
    pub fn close(&mut self) {
        let Some(f) = self.stack.pop() else {
            return;
        };
        match (f.array, f.members, self.pretty) {
            (false, 0, true) => self.out.push_str(" }"),
            (true, _, true) => self.out.push_str(" ]"),
            (false, _, true) => {
                indent(&mut self.out, f.level);
                self.out.push('}');
            }
            (false, _, false) => self.out.push('}'),
            (true, _, false) => self.out.push(']'),
        }
    }

    /// How many containers are open.
    pub fn depth(&self) -> usize {
        self.stack.len()
    }

    /// The text written since the last call.
    pub fn take(&mut self) -> String {
        std::mem::take(&mut self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::printer::{compact, pretty, Map};
    use super::*;

    /// Emits `v` piece by piece (every container opened and closed, scalars whole).
    fn emit(e: &mut Emitter, v: &Json) {
        match v {
            Json::Object(m) => {
                e.open_object();
                for (k, x) in m.iter() {
                    e.key(k);
                    emit(e, x);
                }
                e.close();
            }
            Json::Array(a) => {
                e.open_array();
                for x in a {
                    emit(e, x);
                }
                e.close();
            }
            x => e.value(x),
        }
    }

    #[test]
    fn pieces_print_as_the_whole_tree() {
        let text = r#"{"a":[{"b":1},{"c":[]},[],[{}]],"d":{},"e":"x\u0001\n\"","f":[1,2],"g":{"h":{"i":[{"j":{"k":null}}]}}}"#;
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let v = Json::from(&v);
        for p in [false, true] {
            let mut e = Emitter::new(p);
            emit(&mut e, &v);
            assert_eq!(e.depth(), 0);
            let want = if p { pretty(&v) } else { compact(&v) };
            assert_eq!(e.take(), want);
        }
        // Whole values inside pieces.
        let mut m = Map::new();
        m.insert("x".into(), Json::Array(vec![Json::Object(Map::new())]));
        let inner = Json::Object(m);
        for p in [false, true] {
            let mut e = Emitter::new(p);
            e.open_object();
            e.member("k", &inner);
            e.key("l");
            e.open_array();
            e.value(&inner);
            e.value(&Json::Null);
            e.close();
            e.close();
            let mut all = Map::new();
            all.insert("k".into(), inner.clone());
            all.insert("l".into(), Json::Array(vec![inner.clone(), Json::Null]));
            let all = Json::Object(all);
            assert_eq!(e.take(), if p { pretty(&all) } else { compact(&all) });
        }
    }
}
