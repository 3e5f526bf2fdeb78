//! The reference's 12-table schema in the SQLite dialect (spec/db.md §1), plus cheap-rs's
//! additions: a schema-version table, a hierarchy order column and hierarchy tombstones for
//! change tracking. Every statement is idempotent.

use sqlx::SqliteConnection;

use crate::error::map_err;
use cheap_core::Result;

/// The schema version this crate writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

const TYPES: &str = "'INT','FLT','BLN','STR','TXT','BGI','BGF','DAT','URI','UID','CLB','BLB'";

fn ddl() -> Vec<String> {
    let flag = |name: &str, default: u8| {
        format!("{name} INTEGER NOT NULL DEFAULT {default} CHECK ({name} IN (0, 1))")
    };
    let mut s = vec![
        format!(
            "CREATE TABLE IF NOT EXISTS aspect_def (
                aspect_def_id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                hash_version INTEGER,
                {}, {}, {}, {})",
            flag("is_readable", 1),
            flag("is_writable", 1),
            flag("can_add_properties", 0),
            flag("can_remove_properties", 0)
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS property_def (
                aspect_def_id TEXT NOT NULL REFERENCES aspect_def(aspect_def_id) ON DELETE CASCADE,
                name TEXT NOT NULL,
                property_index INTEGER NOT NULL,
                property_type TEXT NOT NULL CHECK (property_type IN ({TYPES})),
                default_value TEXT,
                {}, {}, {}, {}, {},
                PRIMARY KEY (aspect_def_id, name))",
            flag("has_default_value", 0),
            flag("is_readable", 1),
            flag("is_writable", 1),
            flag("is_nullable", 1),
            flag("is_multivalued", 0)
        ),
        "CREATE TABLE IF NOT EXISTS catalog (
            catalog_id TEXT PRIMARY KEY,
            species TEXT NOT NULL CHECK (species IN ('SOURCE','SINK','MIRROR','CACHE','CLONE','FORK')),
            uri TEXT,
            upstream_catalog_id TEXT,
            version_number INTEGER NOT NULL DEFAULT 0)"
            .into(),
        "CREATE TABLE IF NOT EXISTS catalog_aspect_def (
            catalog_id TEXT NOT NULL REFERENCES catalog(catalog_id) ON DELETE CASCADE,
            aspect_def_id TEXT NOT NULL REFERENCES aspect_def(aspect_def_id) ON DELETE CASCADE,
            PRIMARY KEY (catalog_id, aspect_def_id))"
            .into(),
        "CREATE TABLE IF NOT EXISTS hierarchy (
            catalog_id TEXT NOT NULL REFERENCES catalog(catalog_id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            hierarchy_type TEXT NOT NULL CHECK (hierarchy_type IN ('EL','ES','ED','ET','AM')),
            version_number INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (catalog_id, name))"
            .into(),
        "CREATE TABLE IF NOT EXISTS aspect (
            entity_id TEXT NOT NULL,
            aspect_def_id TEXT NOT NULL REFERENCES aspect_def(aspect_def_id) ON DELETE CASCADE,
            catalog_id TEXT NOT NULL REFERENCES catalog(catalog_id) ON DELETE CASCADE,
            hierarchy_name TEXT NOT NULL,
            PRIMARY KEY (entity_id, aspect_def_id, catalog_id),
            FOREIGN KEY (catalog_id, hierarchy_name) REFERENCES hierarchy(catalog_id, name) ON DELETE CASCADE)"
            .into(),
        "CREATE TABLE IF NOT EXISTS property_value (
            entity_id TEXT NOT NULL,
            aspect_def_id TEXT NOT NULL,
            catalog_id TEXT NOT NULL,
            property_name TEXT NOT NULL,
            property_index INTEGER NOT NULL,
            value_index INTEGER NOT NULL DEFAULT 0,
            value_text TEXT,
            value_binary BLOB,
            PRIMARY KEY (entity_id, aspect_def_id, catalog_id, property_name, value_index),
            FOREIGN KEY (entity_id, aspect_def_id, catalog_id) REFERENCES aspect(entity_id, aspect_def_id, catalog_id) ON DELETE CASCADE,
            FOREIGN KEY (aspect_def_id, property_name) REFERENCES property_def(aspect_def_id, name))"
            .into(),
    ];
    let content = |table: &str, cols: &str, key: &str| {
        format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                catalog_id TEXT NOT NULL REFERENCES catalog(catalog_id) ON DELETE CASCADE,
                hierarchy_name TEXT NOT NULL,
                {cols},
                {key},
                FOREIGN KEY (catalog_id, hierarchy_name) REFERENCES hierarchy(catalog_id, name) ON DELETE CASCADE)"
        )
    };
    s.push(content(
        "hierarchy_entity_list",
        "entity_id TEXT NOT NULL, list_order INTEGER NOT NULL",
        "PRIMARY KEY (catalog_id, hierarchy_name, list_order)",
    ));
    s.push(content(
        "hierarchy_entity_set",
        "entity_id TEXT NOT NULL, set_order INTEGER",
        "PRIMARY KEY (catalog_id, hierarchy_name, entity_id)",
    ));
    s.push(content(
        "hierarchy_entity_directory",
        "entity_key TEXT NOT NULL, entity_id TEXT NOT NULL, dir_order INTEGER NOT NULL",
        "PRIMARY KEY (catalog_id, hierarchy_name, entity_key)",
    ));
    s.push(content(
        "hierarchy_entity_tree_node",
        "node_id TEXT PRIMARY KEY,
         parent_node_id TEXT REFERENCES hierarchy_entity_tree_node(node_id) ON DELETE CASCADE,
         node_key TEXT, entity_id TEXT, node_path TEXT, tree_order INTEGER NOT NULL",
        "UNIQUE (catalog_id, hierarchy_name, parent_node_id, node_key)",
    ));
    s.push(content(
        "hierarchy_aspect_map",
        "entity_id TEXT NOT NULL,
         aspect_def_id TEXT NOT NULL REFERENCES aspect_def(aspect_def_id),
         map_order INTEGER NOT NULL",
        "PRIMARY KEY (catalog_id, hierarchy_name, entity_id),
         FOREIGN KEY (entity_id, aspect_def_id, catalog_id) REFERENCES aspect(entity_id, aspect_def_id, catalog_id) ON DELETE CASCADE",
    ));
    for (name, table, cols) in cheap_core::sql::INDEXES {
        s.push(format!(
            "CREATE INDEX IF NOT EXISTS {name} ON {table}({cols})"
        ));
    }
    s.push(
        "CREATE TABLE IF NOT EXISTS cheap_schema_version (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            version INTEGER NOT NULL)"
            .into(),
    );
    s.push(
        "CREATE TABLE IF NOT EXISTS cheap_hierarchy_rewrite (
            catalog_id TEXT NOT NULL REFERENCES catalog(catalog_id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            version_number INTEGER NOT NULL,
            PRIMARY KEY (catalog_id, name))"
            .into(),
    );
    s.push(
        "CREATE TABLE IF NOT EXISTS cheap_aspect_change (
            catalog_id TEXT NOT NULL REFERENCES catalog(catalog_id) ON DELETE CASCADE,
            hierarchy_name TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            version_number INTEGER NOT NULL,
            removed INTEGER NOT NULL CHECK (removed IN (0, 1)),
            PRIMARY KEY (catalog_id, hierarchy_name, entity_id))"
            .into(),
    );
    s.push(
        "CREATE TABLE IF NOT EXISTS cheap_sync_mark (
            catalog_id TEXT PRIMARY KEY REFERENCES catalog(catalog_id) ON DELETE CASCADE,
            upstream_version INTEGER NOT NULL,
            local_version INTEGER NOT NULL,
            synced_at_ms INTEGER NOT NULL)"
            .into(),
    );
    s.push(
        "CREATE TABLE IF NOT EXISTS cheap_hierarchy_tombstone (
            catalog_id TEXT NOT NULL REFERENCES catalog(catalog_id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            version_number INTEGER NOT NULL,
            PRIMARY KEY (catalog_id, name))"
            .into(),
    );
    s
}

/// Creates the schema if it is missing, and upgrades a reference-created database (adds the
/// hierarchy order column). Safe to run on every start.
pub async fn init_schema(conn: &mut SqliteConnection) -> Result<()> {
    for stmt in ddl() {
        sqlx::query(&stmt)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    let has_order: Option<(String,)> = sqlx::query_as(
        "SELECT name FROM pragma_table_info('hierarchy') WHERE name = 'hierarchy_order'",
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_err)?;
    if has_order.is_none() {
        sqlx::query("ALTER TABLE hierarchy ADD COLUMN hierarchy_order INTEGER")
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    sqlx::query("INSERT INTO cheap_schema_version (id, version) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version")
        .bind(SCHEMA_VERSION)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(())
}
