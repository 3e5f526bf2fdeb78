//! The limits every backend honours, checked in core before any SQL runs, so that a catalog one
//! backend accepts is accepted, stored and read back by every other (and `cheap copy` between
//! them works).
//!
//! | what | limit | why |
//! |---|---|---|
//! | names: aspect defs, properties, hierarchies, tree nodes | at most [`MAX_NAME_BYTES`] bytes of UTF-8 | MariaDB's `VARCHAR(255)` key columns; PostgreSQL's index rows |
//! | directory keys | at most [`MAX_DIRECTORY_KEY_CHARS`] characters | MariaDB's `VARCHAR(500)` key column |
//! | tree paths (`/a/b/c`) | at most [`MAX_TREE_PATH_BYTES`] bytes and [`MAX_TREE_DEPTH`] levels | PostgreSQL indexes the path (an index row holds at most 2,704 bytes) |
//! | every name, key, URI and text value | no NUL character (`\0`) | PostgreSQL's text types cannot hold it |
//! | JSON read anywhere | at most [`MAX_JSON_DEPTH`] levels of nesting | deep enough for a tree of [`MAX_TREE_DEPTH`] levels inside a catalog |
//!
//! BLOB values may hold any byte. A name or key that breaks a limit is refused with
//! [`CheapError::InvalidInput`] (a value with [`CheapError::InvalidValue`]), naming the field; so
//! is a lookup by a name holding a NUL (PostgreSQL refuses it even as a query parameter).

use crate::error::{CheapError, Result};
use crate::model::{
    AspectDef, Catalog, Hierarchy, HierarchyContent, PropertyDef, TreeNode, MAX_TREE_DEPTH,
};
use crate::value::PropertyValue;
use crate::Aspect;

/// Longest name in bytes: aspect defs, properties, hierarchies and tree nodes.
pub const MAX_NAME_BYTES: usize = 255;
/// Longest directory key in characters.
pub const MAX_DIRECTORY_KEY_CHARS: usize = 500;
/// Longest tree path in bytes, the `/` separators included.
pub const MAX_TREE_PATH_BYTES: usize = 2048;
/// Deepest JSON nesting any reader accepts: two levels per tree level (a node and its
/// `children` object) plus the catalog, hierarchy and request envelopes around the root.
pub const MAX_JSON_DEPTH: usize = 2 * MAX_TREE_DEPTH + 16;

fn shorten(s: &str) -> String {
    const SHOWN: usize = 40;
    match s.char_indices().nth(SHOWN) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
    .replace('\0', "\\0")
}

/// Refuses a NUL character in `s`, naming `what`.
pub fn check_text(what: &str, s: &str) -> Result<()> {
    if s.contains('\0') {
        return Err(CheapError::invalid(format!(
            "{what} '{}' contains a NUL character, which no backend stores",
            shorten(s)
        )));
    }
    Ok(())
}

/// Checks a name (aspect def, property, hierarchy or tree node): at most [`MAX_NAME_BYTES`]
/// bytes and no NUL.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    check_text(what, name)?;
    if name.len() > MAX_NAME_BYTES {
        return Err(CheapError::invalid(format!(
            "{what} '{}' is {} bytes long; the limit is {MAX_NAME_BYTES}",
            shorten(name),
            name.len()
        )));
    }
    Ok(())
}

/// Checks a directory key: at most [`MAX_DIRECTORY_KEY_CHARS`] characters and no NUL.
pub fn check_directory_key(key: &str) -> Result<()> {
    check_text("directory key", key)?;
    let chars = key.chars().count();
    if chars > MAX_DIRECTORY_KEY_CHARS {
        return Err(CheapError::invalid(format!(
            "directory key '{}' is {chars} characters long; the limit is {MAX_DIRECTORY_KEY_CHARS}",
            shorten(key)
        )));
    }
    Ok(())
}

/// Checks the path of a tree node (normalized or not): at most [`MAX_TREE_DEPTH`] levels,
/// [`MAX_TREE_PATH_BYTES`] bytes, names within [`check_name`].
pub fn check_tree_path(path: &str) -> Result<()> {
    check_text("tree path", path)?;
    let mut depth = 0;
    let mut bytes = 0;
    for seg in crate::model::path_segments(path) {
        check_name("tree node name", seg)?;
        depth += 1;
        bytes += seg.len() + 1;
    }
    if depth > MAX_TREE_DEPTH {
        return Err(CheapError::invalid(format!(
            "tree path '{}' is {depth} levels deep; the limit is {MAX_TREE_DEPTH}",
            shorten(path)
        )));
    }
    if bytes > MAX_TREE_PATH_BYTES {
        return Err(CheapError::invalid(format!(
            "tree path '{}' is {bytes} bytes long; the limit is {MAX_TREE_PATH_BYTES}",
            shorten(path)
        )));
    }
    Ok(())
}

/// Checks a value's text (String, Text, CLOB, URI, and the elements of a list) for NUL.
pub fn check_value(aspect_def: &str, property: &str, v: &PropertyValue) -> Result<()> {
    match v {
        PropertyValue::String(s) | PropertyValue::Uri(s) if s.contains('\0') => {
            Err(CheapError::InvalidValue {
                aspect_def: aspect_def.to_owned(),
                property: property.to_owned(),
                expected: "text without NUL characters".to_owned(),
                message: format!("'{}' contains a NUL character", shorten(s)),
            })
        }
        PropertyValue::List(vs) => vs
            .iter()
            .try_for_each(|v| check_value(aspect_def, property, v)),
        _ => Ok(()),
    }
}

/// Checks a property def: its name and default value.
pub fn check_property_def(aspect_def: &str, p: &PropertyDef) -> Result<()> {
    check_name("property name", p.name())?;
    match p.default() {
        Some(v) => check_value(aspect_def, p.name(), v),
        None => Ok(()),
    }
}

/// Checks an aspect def: its name and every property def.
pub fn check_aspect_def(def: &AspectDef) -> Result<()> {
    check_name("aspect def name", def.name())?;
    def.property_defs()
        .try_for_each(|p| check_property_def(def.name(), p))
}

/// Checks the values of an aspect.
pub fn check_aspect(a: &Aspect) -> Result<()> {
    let def = a.def().name();
    a.stored_values()
        .try_for_each(|(name, v)| check_value(def, name, v))
}

/// Checks a tree without recursion, so a tree built deeper than any limit in memory is refused
/// rather than overflowing the stack.
pub fn check_tree(root: &TreeNode) -> Result<()> {
    // (node, depth, bytes of its path)
    let mut stack: Vec<(&TreeNode, usize, usize)> = vec![(root, 0, 0)];
    while let Some((node, depth, bytes)) = stack.pop() {
        for (name, child) in &node.children {
            if name.is_empty() || name.contains('/') {
                return Err(CheapError::invalid(format!(
                    "tree node name '{}' must be non-empty and contain no '/'",
                    shorten(name)
                )));
            }
            check_name("tree node name", name)?;
            let (d, b) = (depth + 1, bytes + name.len() + 1);
            if d > MAX_TREE_DEPTH {
                return Err(CheapError::invalid(format!(
                    "a tree node named '{}' is {d} levels deep; the limit is {MAX_TREE_DEPTH}",
                    shorten(name)
                )));
            }
            if b > MAX_TREE_PATH_BYTES {
                return Err(CheapError::invalid(format!(
                    "the path of tree node '{}' is {b} bytes long; the limit is {MAX_TREE_PATH_BYTES}",
                    shorten(name)
                )));
            }
            stack.push((child, d, b));
        }
    }
    Ok(())
}

/// Checks a hierarchy: its name and contents.
pub fn check_hierarchy(h: &Hierarchy) -> Result<()> {
    check_name("hierarchy name", h.name())?;
    check_content(&h.content)
}

/// Checks a hierarchy's contents, or a part of them.
pub fn check_content(content: &HierarchyContent) -> Result<()> {
    match content {
        HierarchyContent::Directory(d) => d.iter().try_for_each(|(k, _)| check_directory_key(k)),
        HierarchyContent::Tree(t) => check_tree(&t.root),
        HierarchyContent::AspectMap(m) => {
            check_aspect_def(m.def())?;
            m.iter().try_for_each(check_aspect)
        }
        HierarchyContent::List(_) | HierarchyContent::Set(_) => Ok(()),
    }
}

/// Checks a whole catalog: its URI and every hierarchy.
pub fn check_catalog(c: &Catalog) -> Result<()> {
    if let Some(uri) = &c.uri {
        check_text("catalog uri", uri)?;
    }
    c.hierarchies().try_for_each(check_hierarchy)
}

/// The checks a DAO runs on its arguments before touching its store, one function per kind of
/// argument, so that every backend (the SQL engine, MemoryDao) refuses the same requests.
pub mod args {
    use uuid::Uuid;

    use super::*;
    use crate::dao::AspectPatch;

    /// A name used to look something up (NUL refused: PostgreSQL cannot even compare it).
    pub fn lookup(what: &str, name: &str) -> Result<()> {
        check_text(what, name)
    }

    /// Names used to look things up.
    pub fn lookups(what: &str, names: &[String]) -> Result<()> {
        names.iter().try_for_each(|n| check_text(what, n))
    }

    /// Directory entries to write.
    pub fn directory_entries(entries: &[(String, Uuid)]) -> Result<()> {
        entries.iter().try_for_each(|(k, _)| check_directory_key(k))
    }

    /// Tree nodes to add under `parent_path`.
    pub fn tree_nodes(parent_path: &str, nodes: &[(String, Option<Uuid>)]) -> Result<()> {
        check_text("tree path", parent_path)?;
        let parent = crate::model::node_path(parent_path);
        nodes.iter().try_for_each(|(name, _)| {
            check_name("tree node name", name)?;
            check_tree_path(&format!("{parent}/{name}"))
        })
    }

    /// Aspects to write.
    pub fn aspects(aspects: &[crate::Aspect]) -> Result<()> {
        aspects.iter().try_for_each(check_aspect)
    }

    /// Patches to merge into aspects of `aspect_def`.
    pub fn patches(aspect_def: &str, patches: &[AspectPatch]) -> Result<()> {
        patches.iter().try_for_each(|p| {
            p.values.iter().try_for_each(|(name, v)| {
                check_name("property name", name)?;
                v.as_ref()
                    .map_or(Ok(()), |v| check_value(aspect_def, name, v))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EntityTree;

    #[test]
    fn names_keys_and_paths() {
        assert!(check_name("n", &"x".repeat(MAX_NAME_BYTES)).is_ok());
        assert!(check_name("n", &"x".repeat(MAX_NAME_BYTES + 1)).is_err());
        // Bytes, not characters: 128 two-byte characters are 256 bytes.
        assert!(check_name("n", &"é".repeat(128)).is_err());
        let e = check_name("hierarchy name", "a\0b")
            .unwrap_err()
            .to_string();
        assert!(e.contains("hierarchy name") && e.contains("NUL"), "{e}");
        assert!(check_directory_key(&"é".repeat(MAX_DIRECTORY_KEY_CHARS)).is_ok());
        assert!(check_directory_key(&"é".repeat(MAX_DIRECTORY_KEY_CHARS + 1)).is_err());
        let deep: String = (0..MAX_TREE_DEPTH).map(|_| "/n").collect();
        assert!(check_tree_path(&deep).is_ok());
        assert!(check_tree_path(&format!("{deep}/n")).is_err());
        let long: String = (0..10).map(|_| format!("/{}", "x".repeat(250))).collect();
        assert!(check_tree_path(&long).is_err());
    }

    #[test]
    fn a_tree_deeper_than_the_stack_is_refused() {
        let mut root = TreeNode::default();
        for _ in 0..100_000 {
            let mut parent = TreeNode::default();
            parent.children.insert("n".into(), root);
            root = parent;
        }
        let t = EntityTree { root };
        let e = check_tree(&t.root).unwrap_err().to_string();
        assert!(e.contains("levels deep"), "{e}");
        // Dropping 100,000 nested nodes recurses; leak it so the test checks only the check.
        std::mem::forget(t);
    }
}
