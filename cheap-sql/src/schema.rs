//! The schema every SQL backend creates, written once: the reference's 12 tables (spec/db.md
//! §1) plus cheap-rs's own (schema version, hierarchy tombstones, change tracking, sync marks),
//! as a list of [`Table`]s in logical column types. Each [`Dialect`] spells the types, flags and
//! table options of its database; [`ddl`] turns the list into statements and [`init_schema`]
//! runs them. Every statement is idempotent.

use crate::conn::{Arg, SqlBackend, TxMode};
use crate::dialect::Dialect;
use cheap_core::Result;

/// The schema version this crate writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

/// A column's type, as the schema means it; [`Dialect::schema_type`] spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ColumnType {
    /// A UUID.
    Id,
    /// A name: of an aspect def, property, hierarchy.
    Name,
    /// A key of bounded length (a directory key).
    Key(u16),
    /// Text of any length that is never a key (a URI, a tree path).
    Text,
    /// A stored value or default: text of any length.
    LongText,
    /// Bytes of any length.
    Bytes,
    /// A 32-bit integer.
    Int,
    /// A 64-bit integer.
    BigInt,
    /// A boolean flag.
    Flag,
    /// One of a few short codes, checked.
    Code(&'static [&'static str]),
}

/// One column of a [`Table`].
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub ty: ColumnType,
    /// Whether it refuses NULL.
    pub not_null: bool,
    /// Its default, if any.
    pub default: Option<Literal>,
}

/// A column default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Literal {
    /// A flag's default.
    Flag(bool),
    /// An integer.
    Int(i64),
}

/// A foreign key of a [`Table`].
#[derive(Debug, Clone, Copy)]
pub struct ForeignKey {
    /// The referencing columns, comma-separated.
    pub columns: &'static str,
    /// The referenced table and columns, as `table(col, ...)`.
    pub references: &'static str,
    /// Whether deleting the referenced row deletes this one.
    pub cascade: bool,
    /// A key of a table to itself that cascades along chains of any length (tree nodes);
    /// databases that cascade only a few levels deep leave it out.
    pub recursive: bool,
}

/// One table of the schema.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// Its name.
    pub name: &'static str,
    /// Its columns, in order.
    pub columns: &'static [Column],
    /// The primary key's columns, comma-separated.
    pub primary_key: &'static str,
    /// Columns that are unique together, comma-separated, if any.
    pub unique: Option<&'static str>,
    /// The table's foreign keys.
    pub foreign_keys: &'static [ForeignKey],
    /// A check of the whole row, if any.
    pub check: Option<&'static str>,
    /// Whether the rows are stored in the primary key's order, in the key's own tree, where the
    /// dialect can choose (SQLite's `WITHOUT ROWID`): for tables read by key ranges whose key
    /// holds most of the row.
    pub clustered: bool,
}

const fn col(name: &'static str, ty: ColumnType) -> Column {
    Column {
        name,
        ty,
        not_null: true,
        default: None,
    }
}

const fn counter(name: &'static str, ty: ColumnType) -> Column {
    Column {
        name,
        ty,
        not_null: true,
        default: Some(Literal::Int(0)),
    }
}

const fn nullable(name: &'static str, ty: ColumnType) -> Column {
    Column {
        name,
        ty,
        not_null: false,
        default: None,
    }
}

const fn flag(name: &'static str, default: bool) -> Column {
    Column {
        name,
        ty: ColumnType::Flag,
        not_null: true,
        default: Some(Literal::Flag(default)),
    }
}

const fn fk(columns: &'static str, references: &'static str) -> ForeignKey {
    ForeignKey {
        columns,
        references,
        cascade: true,
        recursive: false,
    }
}

const fn fk_keep(columns: &'static str, references: &'static str) -> ForeignKey {
    ForeignKey {
        cascade: false,
        ..fk(columns, references)
    }
}

use ColumnType::{BigInt, Bytes, Code, Id, Int, Key, LongText, Name, Text};

const PROPERTY_TYPES: &[&str] = &[
    "INT", "FLT", "BLN", "STR", "TXT", "BGI", "BGF", "DAT", "URI", "UID", "CLB", "BLB",
];
const SPECIES: &[&str] = &["SOURCE", "SINK", "MIRROR", "CACHE", "CLONE", "FORK"];
const HIERARCHY_TYPES: &[&str] = &["EL", "ES", "ED", "ET", "AM"];

const CATALOG: ForeignKey = fk("catalog_id", "catalog(catalog_id)");
const HIERARCHY: ForeignKey = fk("catalog_id, hierarchy_name", "hierarchy(catalog_id, name)");
// Catalog first, like the primary keys it uses: InnoDB needs the referenced columns as a prefix
// of an index, in this order.
const ASPECT: ForeignKey = fk(
    "catalog_id, aspect_def_id, entity_id",
    "aspect(catalog_id, aspect_def_id, entity_id)",
);

const fn content(
    name: &'static str,
    columns: &'static [Column],
    primary_key: &'static str,
    unique: Option<&'static str>,
    foreign_keys: &'static [ForeignKey],
) -> Table {
    Table {
        name,
        columns,
        primary_key,
        unique,
        foreign_keys,
        check: None,
        clustered: false,
    }
}

/// Every table, parents before children.
pub const TABLES: &[Table] = &[
    Table {
        name: "aspect_def",
        columns: &[
            col("aspect_def_id", Id),
            col("name", Name),
            nullable("hash_version", BigInt),
            flag("is_readable", true),
            flag("is_writable", true),
            flag("can_add_properties", false),
            flag("can_remove_properties", false),
        ],
        primary_key: "aspect_def_id",
        unique: Some("name"),
        foreign_keys: &[],
        check: None,
        clustered: false,
    },
    Table {
        name: "property_def",
        columns: &[
            col("aspect_def_id", Id),
            col("name", Name),
            col("property_index", Int),
            col("property_type", Code(PROPERTY_TYPES)),
            nullable("default_value", LongText),
            flag("has_default_value", false),
            flag("is_readable", true),
            flag("is_writable", true),
            flag("is_nullable", true),
            flag("is_multivalued", false),
        ],
        primary_key: "aspect_def_id, name",
        unique: None,
        foreign_keys: &[fk("aspect_def_id", "aspect_def(aspect_def_id)")],
        check: None,
        clustered: false,
    },
    Table {
        name: "catalog",
        columns: &[
            col("catalog_id", Id),
            col("species", Code(SPECIES)),
            nullable("uri", Text),
            nullable("upstream_catalog_id", Id),
            counter("version_number", BigInt),
            nullable("cheap_epoch", BigInt),
        ],
        primary_key: "catalog_id",
        unique: None,
        foreign_keys: &[],
        check: None,
        clustered: false,
    },
    Table {
        name: "catalog_aspect_def",
        columns: &[col("catalog_id", Id), col("aspect_def_id", Id)],
        primary_key: "catalog_id, aspect_def_id",
        unique: None,
        foreign_keys: &[CATALOG, fk("aspect_def_id", "aspect_def(aspect_def_id)")],
        check: None,
        clustered: false,
    },
    Table {
        name: "hierarchy",
        columns: &[
            col("catalog_id", Id),
            col("name", Name),
            col("hierarchy_type", Code(HIERARCHY_TYPES)),
            counter("version_number", BigInt),
            nullable("hierarchy_order", Int),
            nullable("cheap_entries", BigInt),
        ],
        primary_key: "catalog_id, name",
        unique: None,
        foreign_keys: &[CATALOG],
        check: None,
        clustered: false,
    },
    Table {
        name: "aspect",
        columns: &[
            col("entity_id", Id),
            col("aspect_def_id", Id),
            col("catalog_id", Id),
            col("hierarchy_name", Name),
        ],
        // The reference's key columns, catalog first: an aspect map's aspects are one range.
        primary_key: "catalog_id, aspect_def_id, entity_id",
        unique: None,
        foreign_keys: &[fk("aspect_def_id", "aspect_def(aspect_def_id)"), HIERARCHY],
        check: None,
        clustered: false,
    },
    Table {
        name: "property_value",
        columns: &[
            col("entity_id", Id),
            col("aspect_def_id", Id),
            col("catalog_id", Id),
            col("property_name", Name),
            col("property_index", Int),
            counter("value_index", Int),
            nullable("value_text", LongText),
            nullable("value_binary", Bytes),
        ],
        // The reference's key columns, catalog first: the values of an aspect map, and of one
        // aspect, are one range of the key, in the order loads read them, so no other index
        // is needed for reads (the reference's order, entity first, needed one).
        primary_key: "catalog_id, aspect_def_id, entity_id, property_name, value_index",
        unique: None,
        // No key to `property_def` (the reference has one): values are checked against their
        // def before they are written, and the key needed an index on (def, property) whose
        // entries land at random places, about one page written per value. Dropping both made
        // upserts into a 100k-aspect catalog 20 to 33% faster on SQLite and 61 to 67% on
        // MariaDB (README, Measured).
        foreign_keys: &[ASPECT],
        check: None,
        clustered: true,
    },
    content(
        "hierarchy_entity_list",
        &[
            col("catalog_id", Id),
            col("hierarchy_name", Name),
            col("entity_id", Id),
            col("list_order", Int),
        ],
        "catalog_id, hierarchy_name, list_order",
        None,
        &[HIERARCHY],
    ),
    content(
        "hierarchy_entity_set",
        &[
            col("catalog_id", Id),
            col("hierarchy_name", Name),
            col("entity_id", Id),
            nullable("set_order", Int),
        ],
        "catalog_id, hierarchy_name, entity_id",
        None,
        &[HIERARCHY],
    ),
    content(
        "hierarchy_entity_directory",
        &[
            col("catalog_id", Id),
            col("hierarchy_name", Name),
            col("entity_key", Key(500)),
            col("entity_id", Id),
            col("dir_order", Int),
        ],
        "catalog_id, hierarchy_name, entity_key",
        None,
        &[HIERARCHY],
    ),
    content(
        "hierarchy_entity_tree_node",
        &[
            col("catalog_id", Id),
            col("hierarchy_name", Name),
            col("node_id", Id),
            nullable("parent_node_id", Id),
            nullable("node_key", Name),
            nullable("entity_id", Id),
            nullable("node_path", Text),
            col("tree_order", Int),
        ],
        "node_id",
        Some("catalog_id, hierarchy_name, parent_node_id, node_key"),
        &[
            HIERARCHY,
            ForeignKey {
                recursive: true,
                ..fk("parent_node_id", "hierarchy_entity_tree_node(node_id)")
            },
        ],
    ),
    content(
        "hierarchy_aspect_map",
        &[
            col("catalog_id", Id),
            col("hierarchy_name", Name),
            col("entity_id", Id),
            col("aspect_def_id", Id),
            col("map_order", Int),
        ],
        "catalog_id, hierarchy_name, entity_id",
        None,
        &[
            HIERARCHY,
            fk_keep("aspect_def_id", "aspect_def(aspect_def_id)"),
            ASPECT,
        ],
    ),
    Table {
        name: "cheap_schema_version",
        columns: &[col("id", Int), col("version", BigInt)],
        primary_key: "id",
        unique: None,
        foreign_keys: &[],
        check: Some("id = 1"),
        clustered: false,
    },
    Table {
        name: "cheap_hierarchy_tombstone",
        columns: &[
            col("catalog_id", Id),
            col("name", Name),
            col("version_number", BigInt),
        ],
        primary_key: "catalog_id, name",
        unique: None,
        foreign_keys: &[CATALOG],
        check: None,
        clustered: false,
    },
    Table {
        name: "cheap_hierarchy_rewrite",
        columns: &[
            col("catalog_id", Id),
            col("name", Name),
            col("version_number", BigInt),
        ],
        primary_key: "catalog_id, name",
        unique: None,
        foreign_keys: &[CATALOG],
        check: None,
        clustered: false,
    },
    Table {
        name: "cheap_aspect_change",
        columns: &[
            col("catalog_id", Id),
            col("hierarchy_name", Name),
            col("entity_id", Id),
            col("version_number", BigInt),
            Column {
                default: None,
                ..flag("removed", false)
            },
        ],
        primary_key: "catalog_id, hierarchy_name, entity_id",
        unique: None,
        foreign_keys: &[CATALOG],
        check: None,
        clustered: false,
    },
    // Background tasks (imports), so that every server over the store can report them.
    Table {
        name: "cheap_task",
        columns: &[
            col("task_id", Id),
            col("status", Name),
            nullable("catalog_id", Id),
            nullable("version_number", BigInt),
            nullable("message", LongText),
            col("heartbeat_ms", BigInt),
            nullable("progress_done", BigInt),
            nullable("progress_total", BigInt),
        ],
        primary_key: "task_id",
        unique: None,
        foreign_keys: &[],
        check: None,
        clustered: false,
    },
    Table {
        name: "cheap_sync_mark",
        columns: &[
            col("catalog_id", Id),
            col("upstream_version", BigInt),
            col("local_version", BigInt),
            col("synced_at_ms", BigInt),
        ],
        primary_key: "catalog_id",
        unique: None,
        foreign_keys: &[CATALOG],
        check: None,
        clustered: false,
    },
];

/// Columns cheap-rs added to the reference's tables: a database the reference created gains
/// them in place.
pub const ADDED_COLUMNS: &[(&str, Column)] = &[
    ("hierarchy", nullable("hierarchy_order", Int)),
    // The catalog row's incarnation, for the metadata cache (see `meta`).
    ("catalog", nullable("cheap_epoch", BigInt)),
    // A hierarchy's number of entries (tree: nodes), kept by every write so that a page need
    // not count them; NULL where it is not known (rows the reference wrote), then counted.
    ("hierarchy", nullable("cheap_entries", BigInt)),
    // How far a background task got.
    ("cheap_task", nullable("progress_done", BigInt)),
    ("cheap_task", nullable("progress_total", BigInt)),
];

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
        "idx_hierarchy_entity_list_entity_id",
        "hierarchy_entity_list",
        "entity_id",
    ),
    // Pages of sets and directories are read in order, and each add reads the last order.
    (
        "idx_hierarchy_entity_set_order",
        "hierarchy_entity_set",
        "catalog_id, hierarchy_name, set_order",
    ),
    (
        "idx_hierarchy_entity_directory_order",
        "hierarchy_entity_directory",
        "catalog_id, hierarchy_name, dir_order",
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
    // The map rows of an aspect, for the cascade when it is deleted.
    (
        "idx_hierarchy_aspect_map_aspect",
        "hierarchy_aspect_map",
        "catalog_id, aspect_def_id, entity_id",
    ),
    (
        "idx_hierarchy_aspect_map_aspect_def_id",
        "hierarchy_aspect_map",
        "aspect_def_id",
    ),
    // The last position of a map, which every upsert of a new entity reads: an index lookup
    // instead of a scan of the map.
    (
        "idx_hierarchy_aspect_map_order",
        "hierarchy_aspect_map",
        "catalog_id, hierarchy_name, map_order",
    ),
];

/// What varies between two stores of one dialect.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SchemaOptions {
    /// Whether to create the foreign keys (default true).
    pub foreign_keys: bool,
}

impl Default for SchemaOptions {
    fn default() -> Self {
        SchemaOptions { foreign_keys: true }
    }
}

impl SchemaOptions {
    /// With or without foreign keys.
    pub fn foreign_keys(mut self, yes: bool) -> Self {
        self.foreign_keys = yes;
        self
    }
}

/// A column's definition in `d`.
fn column_sql(d: &dyn Dialect, c: &Column) -> String {
    let mut s = format!("{} {}", c.name, d.schema_type(c.ty));
    if c.not_null {
        s.push_str(" NOT NULL");
    }
    match c.default {
        Some(Literal::Flag(v)) => {
            s.push_str(" DEFAULT ");
            s.push_str(d.flag_literal(v));
        }
        Some(Literal::Int(n)) => s.push_str(&format!(" DEFAULT {n}")),
        None => {}
    }
    match c.ty {
        ColumnType::Code(values) => {
            let list: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
            s.push_str(&format!(" CHECK ({} IN ({}))", c.name, list.join(",")));
        }
        ColumnType::Flag if d.flag_check() => {
            s.push_str(&format!(" CHECK ({} IN (0, 1))", c.name));
        }
        _ => {}
    }
    s
}

/// The statements that create the schema in `d`, in order.
pub fn ddl(d: &dyn Dialect, options: SchemaOptions) -> Vec<String> {
    let mut out = Vec::with_capacity(TABLES.len() + INDEXES.len());
    for t in TABLES {
        let mut parts: Vec<String> = t.columns.iter().map(|c| column_sql(d, c)).collect();
        parts.push(format!("PRIMARY KEY ({})", t.primary_key));
        if let Some(u) = t.unique {
            parts.push(format!("UNIQUE ({u})"));
        }
        if let Some(c) = t.check {
            parts.push(format!("CHECK ({c})"));
        }
        for k in t.foreign_keys {
            if !options.foreign_keys || (k.recursive && !d.deep_cascades()) {
                continue;
            }
            let cascade = if k.cascade { " ON DELETE CASCADE" } else { "" };
            parts.push(format!(
                "FOREIGN KEY ({}) REFERENCES {}{cascade}",
                k.columns, k.references
            ));
        }
        let clustered = if t.clustered {
            d.clustered_table_options()
        } else {
            ""
        };
        out.push(format!(
            "CREATE TABLE IF NOT EXISTS {} (\n    {}){}{clustered}",
            t.name,
            parts.join(",\n    "),
            d.table_options()
        ));
    }
    out.extend(d.extra_ddl().iter().map(|s| s.to_string()));
    for (name, table, cols) in INDEXES {
        let cols: Vec<String> = cols
            .split(", ")
            .map(|c| {
                let ty = TABLES
                    .iter()
                    .find(|t| t.name == *table)
                    .and_then(|t| t.columns.iter().find(|x| x.name == c))
                    .map_or(ColumnType::Name, |x| x.ty);
                d.index_column(c, ty)
            })
            .collect();
        out.push(format!(
            "CREATE INDEX IF NOT EXISTS {name} ON {table}({})",
            cols.join(", ")
        ));
    }
    out
}

/// Creates the schema if it is missing, adds [`ADDED_COLUMNS`] to a database the reference
/// created, and records [`SCHEMA_VERSION`]. Safe to run on every start; concurrent starts are
/// serialized by the dialect's schema lock.
pub async fn init_schema(b: &dyn SqlBackend, options: SchemaOptions) -> Result<()> {
    let d = b.dialect();
    let mut conn = b.connect(TxMode::None).await?;
    let lock = d.schema_lock();
    if let Some((take, _)) = lock {
        conn.execute(take, &[]).await?;
    }
    let result = async {
        for stmt in ddl(d, options) {
            conn.execute(&stmt, &[]).await?;
        }
        for (table, c) in ADDED_COLUMNS {
            let mut present = false;
            conn.for_each(d.table_columns_sql(), &[Arg::text(table)], &mut |r| {
                present |= r.str(0)?.eq_ignore_ascii_case(c.name);
                Ok(())
            })
            .await?;
            if !present {
                conn.execute(
                    &format!("ALTER TABLE {table} ADD COLUMN {}", column_sql(d, c)),
                    &[],
                )
                .await?;
                if c.name == "cheap_entries" {
                    count_entries(&mut *conn).await?;
                }
            }
        }
        let upsert = d.on_conflict(&["id"], &["version"]);
        conn.execute(
            &format!("INSERT INTO cheap_schema_version (id, version) VALUES (1, ?) {upsert}"),
            &[Arg::Int(SCHEMA_VERSION)],
        )
        .await?;
        Ok(())
    }
    .await;
    if let Some((_, release)) = lock {
        conn.execute(release, &[]).await?;
    }
    result
}

/// Stores every hierarchy's number of entries, once, in a database that did not keep them.
async fn count_entries(conn: &mut dyn crate::conn::SqlConn) -> Result<()> {
    for kind in cheap_core::model::HierarchyType::ALL {
        let table = crate::ops::content_table(kind);
        conn.execute(
            &format!(
                "UPDATE hierarchy SET cheap_entries = (SELECT COUNT(*) FROM {table} t WHERE t.catalog_id = hierarchy.catalog_id AND t.hierarchy_name = hierarchy.name) WHERE hierarchy_type = ?"
            ),
            &[Arg::text(kind.code())],
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Plain;
    impl Dialect for Plain {
        fn list_tables_sql(&self) -> &'static str {
            ""
        }
        fn table_columns_sql(&self) -> &'static str {
            ""
        }
    }

    #[test]
    fn every_index_names_columns_of_its_table() {
        for (name, table, cols) in INDEXES {
            let t = TABLES.iter().find(|t| t.name == *table).expect(name);
            for c in cols.split(", ") {
                assert!(t.columns.iter().any(|x| x.name == c), "{name}: {c}");
            }
        }
    }

    #[test]
    fn foreign_keys_follow_the_option() {
        let with = ddl(&Plain, SchemaOptions::default()).join("\n");
        let without = ddl(&Plain, SchemaOptions::default().foreign_keys(false)).join("\n");
        assert!(with.contains("FOREIGN KEY (parent_node_id)"));
        assert!(!without.contains("FOREIGN KEY"));
        assert_eq!(
            ddl(&Plain, SchemaOptions::default()).len(),
            TABLES.len() + INDEXES.len()
        );
    }
}
