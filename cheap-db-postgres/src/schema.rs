//! The reference's 12-table schema in the PostgreSQL dialect (native `uuid`, `boolean`,
//! `bytea`; spec/db.md §1), plus cheap-rs's additions: a schema-version table, a hierarchy order
//! column and hierarchy tombstones. Every statement is idempotent; `uuid-ossp` is not needed
//! because ids are always supplied.

use sqlx::PgConnection;

use crate::error::map_err;
use cheap_core::Result;

/// The schema version this crate writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

const TYPES: &str = "'INT','FLT','BLN','STR','TXT','BGI','BGF','DAT','URI','UID','CLB','BLB'";

fn ddl() -> Vec<String> {
    let mut s = vec![
        "CREATE TABLE IF NOT EXISTS aspect_def (
            aspect_def_id UUID PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            hash_version BIGINT,
            is_readable BOOLEAN NOT NULL DEFAULT TRUE,
            is_writable BOOLEAN NOT NULL DEFAULT TRUE,
            can_add_properties BOOLEAN NOT NULL DEFAULT FALSE,
            can_remove_properties BOOLEAN NOT NULL DEFAULT FALSE)"
            .to_owned(),
        format!(
            "CREATE TABLE IF NOT EXISTS property_def (
                aspect_def_id UUID NOT NULL REFERENCES aspect_def(aspect_def_id) ON DELETE CASCADE,
                name TEXT NOT NULL,
                property_index INTEGER NOT NULL,
                property_type TEXT NOT NULL CHECK (property_type IN ({TYPES})),
                default_value TEXT,
                has_default_value BOOLEAN NOT NULL DEFAULT FALSE,
                is_readable BOOLEAN NOT NULL DEFAULT TRUE,
                is_writable BOOLEAN NOT NULL DEFAULT TRUE,
                is_nullable BOOLEAN NOT NULL DEFAULT TRUE,
                is_multivalued BOOLEAN NOT NULL DEFAULT FALSE,
                PRIMARY KEY (aspect_def_id, name))"
        ),
        "CREATE TABLE IF NOT EXISTS catalog (
            catalog_id UUID PRIMARY KEY,
            species TEXT NOT NULL CHECK (species IN ('SOURCE','SINK','MIRROR','CACHE','CLONE','FORK')),
            uri TEXT,
            upstream_catalog_id UUID,
            version_number BIGINT NOT NULL DEFAULT 0)"
            .into(),
        "CREATE TABLE IF NOT EXISTS catalog_aspect_def (
            catalog_id UUID NOT NULL REFERENCES catalog(catalog_id) ON DELETE CASCADE,
            aspect_def_id UUID NOT NULL REFERENCES aspect_def(aspect_def_id) ON DELETE CASCADE,
            PRIMARY KEY (catalog_id, aspect_def_id))"
            .into(),
        "CREATE TABLE IF NOT EXISTS hierarchy (
            catalog_id UUID NOT NULL REFERENCES catalog(catalog_id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            hierarchy_type TEXT NOT NULL CHECK (hierarchy_type IN ('EL','ES','ED','ET','AM')),
            version_number BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (catalog_id, name))"
            .into(),
        "CREATE TABLE IF NOT EXISTS aspect (
            entity_id UUID NOT NULL,
            aspect_def_id UUID NOT NULL REFERENCES aspect_def(aspect_def_id) ON DELETE CASCADE,
            catalog_id UUID NOT NULL REFERENCES catalog(catalog_id) ON DELETE CASCADE,
            hierarchy_name TEXT NOT NULL,
            PRIMARY KEY (entity_id, aspect_def_id, catalog_id),
            FOREIGN KEY (catalog_id, hierarchy_name) REFERENCES hierarchy(catalog_id, name) ON DELETE CASCADE)"
            .into(),
        "CREATE TABLE IF NOT EXISTS property_value (
            entity_id UUID NOT NULL,
            aspect_def_id UUID NOT NULL,
            catalog_id UUID NOT NULL,
            property_name TEXT NOT NULL,
            property_index INTEGER NOT NULL,
            value_index INTEGER NOT NULL DEFAULT 0,
            value_text TEXT,
            value_binary BYTEA,
            PRIMARY KEY (entity_id, aspect_def_id, catalog_id, property_name, value_index),
            FOREIGN KEY (entity_id, aspect_def_id, catalog_id) REFERENCES aspect(entity_id, aspect_def_id, catalog_id) ON DELETE CASCADE,
            FOREIGN KEY (aspect_def_id, property_name) REFERENCES property_def(aspect_def_id, name))"
            .into(),
    ];
    let content = |table: &str, cols: &str, key: &str| {
        format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                catalog_id UUID NOT NULL REFERENCES catalog(catalog_id) ON DELETE CASCADE,
                hierarchy_name TEXT NOT NULL,
                {cols},
                {key},
                FOREIGN KEY (catalog_id, hierarchy_name) REFERENCES hierarchy(catalog_id, name) ON DELETE CASCADE)"
        )
    };
    s.push(content(
        "hierarchy_entity_list",
        "entity_id UUID NOT NULL, list_order INTEGER NOT NULL",
        "PRIMARY KEY (catalog_id, hierarchy_name, list_order)",
    ));
    s.push(content(
        "hierarchy_entity_set",
        "entity_id UUID NOT NULL, set_order INTEGER",
        "PRIMARY KEY (catalog_id, hierarchy_name, entity_id)",
    ));
    s.push(content(
        "hierarchy_entity_directory",
        "entity_key TEXT NOT NULL, entity_id UUID NOT NULL, dir_order INTEGER NOT NULL",
        "PRIMARY KEY (catalog_id, hierarchy_name, entity_key)",
    ));
    s.push(content(
        "hierarchy_entity_tree_node",
        "node_id UUID PRIMARY KEY,
         parent_node_id UUID REFERENCES hierarchy_entity_tree_node(node_id) ON DELETE CASCADE,
         node_key TEXT, entity_id UUID, node_path TEXT, tree_order INTEGER NOT NULL",
        "UNIQUE (catalog_id, hierarchy_name, parent_node_id, node_key)",
    ));
    s.push(content(
        "hierarchy_aspect_map",
        "entity_id UUID NOT NULL,
         aspect_def_id UUID NOT NULL REFERENCES aspect_def(aspect_def_id),
         map_order INTEGER NOT NULL",
        "PRIMARY KEY (catalog_id, hierarchy_name, entity_id),
         FOREIGN KEY (entity_id, aspect_def_id, catalog_id) REFERENCES aspect(entity_id, aspect_def_id, catalog_id) ON DELETE CASCADE",
    ));
    for (name, table, cols) in cheap_core::sql::INDEXES {
        s.push(format!(
            "CREATE INDEX IF NOT EXISTS {name} ON {table}({cols})"
        ));
    }
    s.push("ALTER TABLE hierarchy ADD COLUMN IF NOT EXISTS hierarchy_order INTEGER".into());
    s.push(
        "CREATE TABLE IF NOT EXISTS cheap_schema_version (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            version BIGINT NOT NULL)"
            .into(),
    );
    s.push(
        "CREATE TABLE IF NOT EXISTS cheap_hierarchy_rewrite (
            catalog_id UUID NOT NULL REFERENCES catalog(catalog_id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            version_number BIGINT NOT NULL,
            PRIMARY KEY (catalog_id, name))"
            .into(),
    );
    s.push(
        "CREATE TABLE IF NOT EXISTS cheap_aspect_change (
            catalog_id UUID NOT NULL REFERENCES catalog(catalog_id) ON DELETE CASCADE,
            hierarchy_name TEXT NOT NULL,
            entity_id UUID NOT NULL,
            version_number BIGINT NOT NULL,
            removed BOOLEAN NOT NULL,
            PRIMARY KEY (catalog_id, hierarchy_name, entity_id))"
            .into(),
    );
    s.push(
        "CREATE TABLE IF NOT EXISTS cheap_sync_mark (
            catalog_id UUID PRIMARY KEY REFERENCES catalog(catalog_id) ON DELETE CASCADE,
            upstream_version BIGINT NOT NULL,
            local_version BIGINT NOT NULL,
            synced_at_ms BIGINT NOT NULL)"
            .into(),
    );
    s.push(
        "CREATE TABLE IF NOT EXISTS cheap_hierarchy_tombstone (
            catalog_id UUID NOT NULL REFERENCES catalog(catalog_id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            version_number BIGINT NOT NULL,
            PRIMARY KEY (catalog_id, name))"
            .into(),
    );
    s
}

/// Creates the schema if it is missing, and upgrades a reference-created database (adds the
/// hierarchy order column). Safe to run on every start; concurrent starts are serialized with
/// an advisory lock.
pub async fn init_schema(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("SELECT pg_advisory_lock(727001)")
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    let result = async {
        for stmt in ddl() {
            sqlx::query(&stmt).execute(&mut *conn).await.map_err(map_err)?;
        }
        sqlx::query("INSERT INTO cheap_schema_version (id, version) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET version = excluded.version")
            .bind(SCHEMA_VERSION)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }
    .await;
    sqlx::query("SELECT pg_advisory_unlock(727001)")
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    result
}
