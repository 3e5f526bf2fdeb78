//! Backend-neutral pieces of the relational mapping (spec/db.md): how values, property defs
//! and trees become rows of the reference schema and back. Every SQL backend uses these, so the
//! encodings cannot drift apart between dialects.
//!
//! It also holds the one SQL implementation of [`CheapDao`](crate::CheapDao): a backend crate
//! implements [`SqlBackend`] (connections from its driver's pool, and a [`Dialect`]) and the
//! engine supplies every operation, so SQLite, PostgreSQL and MariaDB behave alike by
//! construction.

mod batch;
mod conn;
mod content;
mod defs;
mod dialect;
mod engine;
mod mapping;
mod tables;

pub use conn::{Arg, Row, SqlBackend, SqlConn, SqlType, TxMode, Value};
pub use dialect::{read_value, Dialect};
pub use tables::TableAccess;

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;
use uuid::Uuid;

use crate::error::{CheapError, Result};
use crate::json;
use crate::model::{
    path_segments, Aspect, AspectDef, AspectMap, Catalog, CatalogSpecies, EntityTree, PropertyDef,
    PropertyType, TreeNode,
};
use crate::value::PropertyValue;

/// `value_index` of the marker row that stores an empty list, so that an empty multivalued
/// value and a null one stay different (the reference stores neither and loads both as empty).
pub const EMPTY_LIST_INDEX: i32 = -1;

/// The secondary indexes of the schema, `(name, table, columns)`, the same in every dialect.
/// The reference creates one index per column (spec/db.md §1.3), many redundant with key
/// prefixes; on the value table they made bulk saves several times slower. These are the ones
/// the backends' queries and the foreign-key checks use. A database created by the reference
/// keeps its own indexes, which stay correct, only slower to write.
pub const INDEXES: &[(&str, &str, &str)] = &[
    ("idx_aspect_def_name", "aspect_def", "name"),
    (
        "idx_property_def_aspect_def_id",
        "property_def",
        "aspect_def_id",
    ),
    ("idx_catalog_species", "catalog", "species"),
    (
        "idx_catalog_upstream_catalog_id",
        "catalog",
        "upstream_catalog_id",
    ),
    (
        "idx_hierarchy_hierarchy_type",
        "hierarchy",
        "hierarchy_type",
    ),
    ("idx_aspect_aspect_def_id", "aspect", "aspect_def_id"),
    (
        "idx_aspect_catalog_hierarchy",
        "aspect",
        "catalog_id, hierarchy_name",
    ),
    (
        "idx_property_value_catalog_order",
        "property_value",
        "catalog_id, aspect_def_id, entity_id, property_index, value_index",
    ),
    (
        "idx_property_value_property_def",
        "property_value",
        "aspect_def_id, property_name",
    ),
    (
        "idx_hierarchy_entity_list_entity_id",
        "hierarchy_entity_list",
        "entity_id",
    ),
    (
        "idx_hierarchy_entity_set_entity_id",
        "hierarchy_entity_set",
        "entity_id",
    ),
    (
        "idx_hierarchy_entity_directory_entity_id",
        "hierarchy_entity_directory",
        "entity_id",
    ),
    (
        "idx_hierarchy_entity_tree_parent_node_id",
        "hierarchy_entity_tree_node",
        "parent_node_id",
    ),
    (
        "idx_hierarchy_entity_tree_node_path",
        "hierarchy_entity_tree_node",
        "catalog_id, hierarchy_name, node_path",
    ),
    (
        "idx_hierarchy_aspect_map_aspect",
        "hierarchy_aspect_map",
        "entity_id, aspect_def_id, catalog_id",
    ),
    (
        "idx_hierarchy_aspect_map_aspect_def_id",
        "hierarchy_aspect_map",
        "aspect_def_id",
    ),
];

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

/// Collects the `property_value` rows of one aspect (in `property_index, value_index` order)
/// and builds the aspect. Rows of properties the def does not have are skipped, as the
/// reference does.
#[derive(Debug)]
pub struct AspectAssembler {
    def: Arc<AspectDef>,
    entity: Uuid,
    values: IndexMap<String, Option<PropertyValue>>,
}

impl AspectAssembler {
    /// Starts an aspect of `def` for `entity`.
    pub fn new(def: Arc<AspectDef>, entity: Uuid) -> Self {
        AspectAssembler {
            def,
            entity,
            values: IndexMap::new(),
        }
    }

    /// Adds one row.
    pub fn push(
        &mut self,
        property_name: &str,
        value_index: i32,
        text: Option<&str>,
        binary: Option<&[u8]>,
    ) -> Result<()> {
        let Some(pd) = self.def.property_def(property_name) else {
            return Ok(());
        };
        if !pd.is_multivalued() {
            let v = decode_scalar(self.def.name(), pd, text, binary)?;
            self.values.insert(property_name.to_owned(), v);
            return Ok(());
        }
        let entry = self
            .values
            .entry(property_name.to_owned())
            .or_insert_with(|| Some(PropertyValue::List(Vec::new())));
        if value_index == EMPTY_LIST_INDEX {
            return Ok(());
        }
        // Java writes NULL elements for nulls inside a list; a list element cannot be null here.
        if let (Some(PropertyValue::List(items)), Some(v)) =
            (entry, decode_scalar(self.def.name(), pd, text, binary)?)
        {
            items.push(v);
        }
        Ok(())
    }

    /// Builds the aspect, checking every value against the def.
    pub fn finish(self) -> Result<Aspect> {
        Aspect::from_values(self.def, self.entity, self.values)
    }
}

/// `property_def.default_value` text: a scalar's canonical text, a list as a JSON array.
pub fn default_to_text(pd: &PropertyDef) -> Option<String> {
    match pd.default()? {
        PropertyValue::List(_) => pd
            .default()
            .map(|v| json::compact(&json::write::value_to_json(v))),
        PropertyValue::Blob(b) => Some(crate::value::coerce::hex_encode(b)),
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

/// Normalizes a tree path to the stored `node_path` form: `""` for the root, else `/a/b`.
pub fn node_path(path: &str) -> String {
    path_segments(path).fold(String::new(), |mut acc, s| {
        acc.push('/');
        acc.push_str(s);
        acc
    })
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
        assert_eq!(node_path("//a/b/"), "/a/b");
        assert_eq!(node_path("/"), "");
    }
}

/// Maps an aspect def onto a plain SQL table (the reference's `AspectTableMapping`): one row per
/// aspect, one column per mapped property, and optionally `catalog_id` and `entity_id` columns.
/// The four shapes (no ids, catalog id, entity id, both) decide how rows are found again; see
/// each backend's documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct AspectTableMapping {
    def: Arc<AspectDef>,
    table: String,
    columns: IndexMap<String, String>,
    has_catalog_id: bool,
    has_entity_id: bool,
}

fn check_identifier(what: &str, s: &str) -> Result<()> {
    let ok = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(CheapError::invalid(format!(
            "{what} '{s}' must be a plain SQL identifier (letters, digits, '_')"
        )))
    }
}

impl AspectTableMapping {
    /// Maps every property of `def` to a column of the same name in `table`, with an
    /// `entity_id` column and no `catalog_id` column (the reference's default).
    pub fn new(def: Arc<AspectDef>, table: impl Into<String>) -> Self {
        let columns = def
            .property_defs()
            .map(|p| (p.name().to_owned(), p.name().to_owned()))
            .collect();
        AspectTableMapping {
            def,
            table: table.into(),
            columns,
            has_catalog_id: false,
            has_entity_id: true,
        }
    }

    /// Maps only the given properties, to the given columns, in this order.
    pub fn with_columns<I, P, C>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = (P, C)>,
        P: Into<String>,
        C: Into<String>,
    {
        self.columns = columns
            .into_iter()
            .map(|(p, c)| (p.into(), c.into()))
            .collect();
        self
    }

    /// Whether the table has a `catalog_id` column.
    pub fn with_catalog_id(mut self, yes: bool) -> Self {
        self.has_catalog_id = yes;
        self
    }

    /// Whether the table has an `entity_id` column.
    pub fn with_entity_id(mut self, yes: bool) -> Self {
        self.has_entity_id = yes;
        self
    }

    /// Checks names (plain identifiers only, since they are written into SQL), that every
    /// mapped property exists and is single-valued.
    pub fn validate(&self) -> Result<()> {
        check_identifier("table name", &self.table)?;
        if self.columns.is_empty() {
            return Err(CheapError::invalid(format!(
                "mapping of '{}' maps no property",
                self.def.name()
            )));
        }
        for (p, c) in &self.columns {
            check_identifier("column name", c)?;
            if matches!(c.as_str(), "catalog_id" | "entity_id") {
                return Err(CheapError::invalid(format!(
                    "column name '{c}' is reserved"
                )));
            }
            let pd = self.def.property_def(p).ok_or_else(|| {
                CheapError::invalid(format!(
                    "aspect def '{}' has no property '{p}'",
                    self.def.name()
                ))
            })?;
            if pd.is_multivalued() {
                return Err(CheapError::invalid(format!(
                    "property '{p}' is multivalued; a table mapping holds single values only"
                )));
            }
        }
        Ok(())
    }

    /// The mapped def.
    pub fn def(&self) -> &Arc<AspectDef> {
        &self.def
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// (property, column) pairs in column order.
    pub fn columns(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.columns.iter().map(|(p, c)| (p.as_str(), c.as_str()))
    }

    /// Whether rows carry `catalog_id`.
    pub fn has_catalog_id(&self) -> bool {
        self.has_catalog_id
    }

    /// Whether rows carry `entity_id`.
    pub fn has_entity_id(&self) -> bool {
        self.has_entity_id
    }
}

/// The property type for a column's declared SQL type (names from SQLite, PostgreSQL and
/// MariaDB; parameters such as `(50)` ignored). Unknown types are Text, as in the reference.
pub fn property_type_for_column(declared: &str) -> PropertyType {
    // MariaDB reports BOOLEAN columns as tinyint(1); the width is what tells them apart.
    if declared
        .trim()
        .to_ascii_uppercase()
        .starts_with("TINYINT(1)")
    {
        return PropertyType::Boolean;
    }
    let base = declared
        .split('(')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_uppercase();
    let base = base.trim_end_matches(" UNSIGNED").trim();
    match base {
        "BOOLEAN" | "BOOL" => PropertyType::Boolean,
        "INTEGER" | "INT" | "BIGINT" | "SMALLINT" | "TINYINT" | "MEDIUMINT" | "INT2" | "INT4"
        | "INT8" | "SERIAL" | "BIGSERIAL" | "SMALLSERIAL" | "OID" | "YEAR" => PropertyType::Integer,
        "REAL" | "DOUBLE" | "DOUBLE PRECISION" | "FLOAT" | "FLOAT4" | "FLOAT8" | "NUMERIC"
        | "DECIMAL" | "MONEY" => PropertyType::Float,
        "CHAR" | "VARCHAR" | "CHARACTER" | "CHARACTER VARYING" | "NCHAR" | "NVARCHAR"
        | "BPCHAR" | "INET" | "BIT" | "ENUM" | "SET" | "INTERVAL" => PropertyType::String,
        "CLOB" => PropertyType::Clob,
        "BLOB" | "BYTEA" | "BINARY" | "VARBINARY" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
            PropertyType::Blob
        }
        "DATE"
        | "TIME"
        | "TIMESTAMP"
        | "TIMESTAMPTZ"
        | "DATETIME"
        | "TIMESTAMP WITH TIME ZONE"
        | "TIMESTAMP WITHOUT TIME ZONE" => PropertyType::DateTime,
        "UUID" => PropertyType::Uuid,
        _ => PropertyType::Text,
    }
}

/// A stable entity id for a row of an external table that has no entity id of its own:
/// derived from the table name and the row's key, so reloading gives the same ids.
pub fn row_entity_id(table: &str, key: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("cheap-table:{table}/{key}").as_bytes(),
    )
}

/// The table mappings a SQL backend holds, by aspect def name (registered in process, as in
/// the reference). Cheap to clone; clones share the registry.
#[derive(Debug, Clone, Default)]
pub struct MappingRegistry {
    inner: Arc<std::sync::RwLock<HashMap<String, Arc<AspectTableMapping>>>>,
}

impl MappingRegistry {
    /// Registers (or replaces) the mapping of its def's name, after validating it.
    pub fn add(&self, mapping: AspectTableMapping) -> Result<()> {
        mapping.validate()?;
        let name = mapping.def().name().to_owned();
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, Arc::new(mapping));
        Ok(())
    }

    /// The mapping of an aspect def name.
    pub fn get(&self, aspect_def: &str) -> Option<Arc<AspectTableMapping>> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(aspect_def)
            .cloned()
    }

    /// Every mapping now, for one operation to use throughout.
    pub fn snapshot(&self) -> HashMap<String, Arc<AspectTableMapping>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A SOURCE catalog caching an external table's rows (as read by a backend's `load_table`);
/// its id is derived from the table name, so caching the same table again gives the same id.
pub fn table_catalog(table: &str, rows: &AspectMap) -> Result<Catalog> {
    let id = row_entity_id(table, "#catalog");
    let mut catalog = Catalog::with_id(id, CatalogSpecies::Source, None)?;
    let target = catalog.extend(rows.def().clone())?;
    for a in rows.iter() {
        target.put(a.clone())?;
    }
    Ok(catalog)
}
