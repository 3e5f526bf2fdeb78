//! Aspect defs stored in plain SQL tables of their own, and the registry of those mappings.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;
use uuid::Uuid;

use cheap_core::model::{AspectDef, AspectMap, Catalog, CatalogSpecies, PropertyType};
use cheap_core::{CheapError, Result};

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
