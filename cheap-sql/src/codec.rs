//! How values, property defs and trees become rows of the reference schema and back
//! (spec/db.md). Every SQL backend uses these, so the encodings cannot drift apart between
//! dialects.

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use cheap_core::json;
use cheap_core::model::{Aspect, AspectDef, EntityTree, PropertyDef, PropertyType, TreeNode};
use cheap_core::value::PropertyValue;
use cheap_core::{CheapError, Result};

/// `value_index` of the marker row that stores an empty list, so that an empty multivalued
/// value and a null one stay different (the reference stores neither and loads both as empty).
pub const EMPTY_LIST_INDEX: i32 = -1;

/// One `property_value` row, without the key columns the caller knows.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueRow {
    /// `property_name`.
    pub property_name: String,
    /// `property_index`: the property's position in its def.
    pub property_index: i32,
    /// `value_index`: 0 for single values, the list position for multivalued ones.
    pub value_index: i32,
    /// `value_text`: every type but BLOB.
    pub text: Option<String>,
    /// `value_binary`: BLOB only.
    pub binary: Option<Vec<u8>>,
}

/// The `value_text` / `value_binary` pair of a scalar: canonical text, raw bytes for BLOB.
pub fn encode_scalar(v: &PropertyValue) -> (Option<String>, Option<Vec<u8>>) {
    match v {
        PropertyValue::Blob(b) => (None, Some(b.clone())),
        other => (other.to_text(), None),
    }
}

/// Reads a scalar of type `t` back from its columns. Accepts the reference's forms (its SQL
/// timestamp text for DateTime, a hex string for a BLOB stored as text).
pub fn decode_scalar(
    aspect_def: &str,
    pd: &PropertyDef,
    text: Option<&str>,
    binary: Option<&[u8]>,
) -> Result<Option<PropertyValue>> {
    let t = pd.property_type();
    let value = match (t, text, binary) {
        (PropertyType::Blob, _, Some(b)) => PropertyValue::Blob(b.to_vec()),
        (_, Some(s), _) => {
            PropertyValue::from_sql_text(t, s).map_err(|m| CheapError::InvalidValue {
                aspect_def: aspect_def.to_owned(),
                property: pd.name().to_owned(),
                expected: t.name().to_owned(),
                message: format!("stored value: {m}"),
            })?
        }
        (_, None, Some(b)) => PropertyValue::Blob(b.to_vec()),
        (_, None, None) => return Ok(None),
    };
    Ok(Some(value))
}

/// The rows of an aspect's stored values, in def order. Null values have no row; an empty list
/// has one [`EMPTY_LIST_INDEX`] marker row.
pub fn encode_aspect(a: &Aspect) -> Vec<ValueRow> {
    let mut rows = Vec::new();
    for (i, pd) in a.def().property_defs().enumerate() {
        let Some(v) = a.stored(pd.name()) else {
            continue;
        };
        let row = |value_index: i32, (text, binary): (Option<String>, Option<Vec<u8>>)| ValueRow {
            property_name: pd.name().to_owned(),
            property_index: i as i32,
            value_index,
            text,
            binary,
        };
        match v {
            PropertyValue::List(items) if items.is_empty() => {
                rows.push(row(EMPTY_LIST_INDEX, (None, None)))
            }
            PropertyValue::List(items) => {
                for (j, item) in items.iter().enumerate() {
                    rows.push(row(j as i32, encode_scalar(item)));
                }
            }
            v => rows.push(row(0, encode_scalar(v))),
        }
    }
    rows
}

/// Collects the `property_value` rows of one aspect, in any order, and builds the aspect.
/// Rows of properties the def does not have are skipped, as the reference does.
#[derive(Debug)]
pub struct AspectAssembler {
    def: Arc<AspectDef>,
    entity: Uuid,
    /// By the property's position in the def: `None` until a row of it comes.
    values: Vec<Option<Option<PropertyValue>>>,
    /// By position, the `value_index` of each list element in the order they came; empty
    /// until a list element comes (most aspects have no list).
    indexes: Vec<Vec<i32>>,
    /// Whether some list's elements came out of `value_index` order.
    unsorted: bool,
}

impl AspectAssembler {
    /// Starts an aspect of `def` for `entity`.
    pub fn new(def: Arc<AspectDef>, entity: Uuid) -> Self {
        let values = (0..def.len()).map(|_| None).collect();
        AspectAssembler {
            def,
            entity,
            values,
            indexes: Vec::new(),
            unsorted: false,
        }
    }

    /// The entity whose aspect this is.
    pub fn entity(&self) -> Uuid {
        self.entity
    }

    /// Adds one row.
    pub fn push(
        &mut self,
        property_name: &str,
        value_index: i32,
        text: Option<&str>,
        binary: Option<&[u8]>,
    ) -> Result<()> {
        let Some((i, pd)) = self.def.property_def_full(property_name) else {
            return Ok(());
        };
        if !pd.is_multivalued() {
            self.values[i] = Some(decode_scalar(self.def.name(), pd, text, binary)?);
            return Ok(());
        }
        let entry = self.values[i].get_or_insert_with(|| Some(PropertyValue::List(Vec::new())));
        if value_index == EMPTY_LIST_INDEX {
            return Ok(());
        }
        // Java writes NULL elements for nulls inside a list; a list element cannot be null here.
        if let (Some(PropertyValue::List(items)), Some(v)) =
            (entry, decode_scalar(self.def.name(), pd, text, binary)?)
        {
            items.push(v);
            if self.indexes.is_empty() {
                self.indexes = vec![Vec::new(); self.values.len()];
            }
            let order = &mut self.indexes[i];
            self.unsorted |= order.last().is_some_and(|&last| last > value_index);
            order.push(value_index);
        }
        Ok(())
    }

    /// Builds the aspect, checking every value against the def.
    pub fn finish(mut self) -> Result<Aspect> {
        if self.unsorted {
            for (value, order) in self.values.iter_mut().zip(&self.indexes) {
                if let Some(Some(PropertyValue::List(items))) = value {
                    let mut by_index: Vec<(i32, PropertyValue)> =
                        order.iter().copied().zip(items.drain(..)).collect();
                    by_index.sort_by_key(|(i, _)| *i);
                    items.extend(by_index.into_iter().map(|(_, v)| v));
                }
            }
        }
        let def = self.def.clone();
        let values = self
            .values
            .into_iter()
            .enumerate()
            .filter_map(|(i, v)| Some((def.property_def_at(i)?.name(), v?)));
        Aspect::from_values(self.def, self.entity, values)
    }
}

/// `property_def.default_value` text: a scalar's canonical text, a list as a JSON array.
pub fn default_to_text(pd: &PropertyDef) -> Option<String> {
    match pd.default()? {
        PropertyValue::List(_) => pd
            .default()
            .map(|v| json::compact(&json::write::value_to_json(v))),
        PropertyValue::Blob(b) => Some(cheap_core::value::hex_encode(b)),
        v => v.to_text(),
    }
}

/// Reads `property_def` columns back into a def.
#[allow(clippy::too_many_arguments)]
pub fn property_def_from_row(
    aspect_def: &str,
    name: &str,
    type_code: &str,
    default_text: Option<&str>,
    has_default: bool,
    readable: bool,
    writable: bool,
    nullable: bool,
    multivalued: bool,
) -> Result<PropertyDef> {
    let t = PropertyType::from_code(type_code)?;
    let mut pd = PropertyDef::new(name, t)
        .readable(readable)
        .writable(writable)
        .nullable(nullable)
        .multivalued(multivalued);
    if has_default {
        pd = match default_text {
            None => pd.null_default(),
            Some(text) if multivalued => {
                let v = json::read::parse(text)?;
                match json::read::value_from_json(aspect_def, &pd, &v)? {
                    Some(d) => pd.default_value(d),
                    None => pd.null_default(),
                }
            }
            Some(text) => {
                let d = PropertyValue::from_sql_text(t, text).map_err(|m| {
                    CheapError::InvalidValue {
                        aspect_def: aspect_def.to_owned(),
                        property: name.to_owned(),
                        expected: t.name().to_owned(),
                        message: format!("stored default: {m}"),
                    }
                })?;
                pd.default_value(d)
            }
        };
    }
    Ok(pd)
}

/// One `hierarchy_entity_tree_node` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeRow {
    /// `node_id`.
    pub node_id: Uuid,
    /// `parent_node_id` (None for the root).
    pub parent: Option<Uuid>,
    /// `node_key`: the name under the parent (`""` for the root).
    pub key: String,
    /// `entity_id`.
    pub entity: Option<Uuid>,
    /// `node_path`: `""` for the root, `/a/b` below it.
    pub path: String,
    /// `tree_order`: position among siblings.
    pub order: i32,
}

/// The rows of a whole tree, parents before children, with fresh node ids.
pub fn flatten_tree(tree: &EntityTree) -> Vec<TreeRow> {
    fn walk(node: &TreeNode, id: Uuid, rows: &mut Vec<TreeRow>, path: &str) {
        for (order, (key, child)) in node.children.iter().enumerate() {
            let child_id = Uuid::new_v4();
            let child_path = format!("{path}/{key}");
            rows.push(TreeRow {
                node_id: child_id,
                parent: Some(id),
                key: key.clone(),
                entity: child.entity,
                path: child_path.clone(),
                order: order as i32,
            });
            walk(child, child_id, rows, &child_path);
        }
    }
    let root_id = Uuid::new_v4();
    let mut rows = vec![TreeRow {
        node_id: root_id,
        parent: None,
        key: String::new(),
        entity: tree.root.entity,
        path: String::new(),
        order: 0,
    }];
    walk(&tree.root, root_id, &mut rows, "");
    rows
}

/// Builds a tree from its rows, in any order; siblings are ordered by `tree_order`. With no
/// root row the tree is empty; orphaned rows are an error.
pub fn build_tree(mut rows: Vec<TreeRow>) -> Result<EntityTree> {
    rows.sort_by_key(|r| r.order);
    let mut children: HashMap<Uuid, Vec<usize>> = HashMap::new();
    let mut root = None;
    for (i, r) in rows.iter().enumerate() {
        match r.parent {
            Some(p) => children.entry(p).or_default().push(i),
            // The reference can leave several roots after re-saves; the last one read wins there
            // too.
            None => root = Some(i),
        }
    }
    fn build(
        i: usize,
        rows: &[TreeRow],
        children: &HashMap<Uuid, Vec<usize>>,
        seen: &mut usize,
    ) -> TreeNode {
        *seen += 1;
        let mut node = TreeNode::new(rows[i].entity);
        for &c in children
            .get(&rows[i].node_id)
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            node.children
                .insert(rows[c].key.clone(), build(c, rows, children, seen));
        }
        node
    }
    let Some(root) = root else {
        return Ok(EntityTree::new());
    };
    let mut seen = 0;
    let tree = EntityTree {
        root: build(root, &rows, &children, &mut seen),
    };
    // With several roots (reference data) the other copies are expected to be unreachable.
    let roots = rows.iter().filter(|r| r.parent.is_none()).count();
    if roots == 1 && seen < rows.len() {
        return Err(CheapError::invalid(format!(
            "tree has {} node rows not reachable from its root",
            rows.len() - seen
        )));
    }
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_elements_take_their_place_by_index_whatever_order_they_come_in() {
        let def = AspectDef::builder("t.Lists")
            .property(PropertyDef::new("tags", PropertyType::String).multivalued(true))
            .property(PropertyDef::new("n", PropertyType::Integer))
            .build()
            .unwrap()
            .into_arc();
        let e = Uuid::new_v4();
        let build = |rows: &[(&str, i32, &str)]| {
            let mut a = super::AspectAssembler::new(def.clone(), e);
            for (name, i, text) in rows {
                a.push(name, *i, Some(text), None).unwrap();
            }
            a.finish().unwrap()
        };
        let tags = |a: &Aspect| a.get("tags").cloned();
        let want = Some(PropertyValue::List(vec![
            PropertyValue::String("a".into()),
            PropertyValue::String("b".into()),
            PropertyValue::String("c".into()),
        ]));
        let ordered = build(&[
            ("tags", 0, "a"),
            ("tags", 1, "b"),
            ("n", 0, "7"),
            ("tags", 2, "c"),
        ]);
        assert_eq!(tags(&ordered), want);
        let shuffled = build(&[
            ("tags", 2, "c"),
            ("n", 0, "7"),
            ("tags", 0, "a"),
            ("tags", 1, "b"),
        ]);
        assert_eq!(tags(&shuffled), want);
        assert_eq!(shuffled, ordered);
    }

    #[test]
    fn trees_flatten_and_build_back() {
        let mut t = EntityTree::new();
        t.root.entity = Some(Uuid::new_v4());
        t.add_node("/", "b", None).unwrap();
        t.add_node("/", "a", Some(Uuid::new_v4())).unwrap();
        t.add_node("/a", "x", None).unwrap();
        let mut rows = flatten_tree(&t);
        assert_eq!(
            rows.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
            ["", "/b", "/a", "/a/x"]
        );
        rows.reverse();
        assert_eq!(build_tree(rows).unwrap(), t);
        assert_eq!(cheap_core::model::node_path("//a/b/"), "/a/b");
        assert_eq!(cheap_core::model::node_path("/"), "");
    }
}
