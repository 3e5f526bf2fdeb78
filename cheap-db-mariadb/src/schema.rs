//! The reference's 12-table schema in the MariaDB dialect (InnoDB, utf8mb4; spec/db.md §1),
//! plus cheap-rs's additions: a schema-version table, a hierarchy order column, hierarchy
//! tombstones for change tracking and a lock row per catalog for writers. Every statement is
//! idempotent.
//!
//! Where we differ from the reference's MariaDB script, and why:
//! - Every table uses the binary collation `utf8mb4_bin`, so keys compare exactly: `Admin` and
//!   `admin` are two directory keys (the reference's `utf8mb4_unicode_ci` makes them collide).
//! - Ids are `CHAR(36)` in the ascii charset; names are `VARCHAR(255)`, directory keys
//!   `VARCHAR(500)` and tree node keys `VARCHAR(255)` (whole-column keys instead of the
//!   reference's 255-character prefixes, which made two long keys with one prefix collide). A
//!   longer name or key is refused as invalid input.
//! - Values are `LONGTEXT`/`LONGBLOB`, so a value is not cut at 64 KiB.
//! - Foreign keys are created with the tables (optional, on by default), except the tree
//!   node's parent key: InnoDB cascades at most 15 levels deep, and trees go deeper. Subtrees
//!   are removed by path instead.

use crate::error::map_err;
use cheap_core::Result;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

/// The schema version this crate writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

const ID: &str = "CHAR(36) CHARACTER SET ascii COLLATE ascii_bin";
const NAME: &str = "VARCHAR(255)";
const TABLE: &str = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";
const TYPES: &str = "'INT','FLT','BLN','STR','TXT','BGI','BGF','DAT','URI','UID','CLB','BLB'";

/// The DDL, in order; `fk` adds the foreign keys.
pub fn ddl(fk: bool) -> Vec<String> {
    let r = |clause: &str| {
        if fk {
            format!(",\n {clause}")
        } else {
            String::new()
        }
    };
    let mut s = vec![
        format!(
            "CREATE TABLE IF NOT EXISTS aspect_def (
                aspect_def_id {ID} NOT NULL PRIMARY KEY,
                name {NAME} NOT NULL UNIQUE,
                hash_version BIGINT,
                is_readable BOOLEAN NOT NULL DEFAULT TRUE,
                is_writable BOOLEAN NOT NULL DEFAULT TRUE,
                can_add_properties BOOLEAN NOT NULL DEFAULT FALSE,
                can_remove_properties BOOLEAN NOT NULL DEFAULT FALSE) {TABLE}"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS property_def (
                aspect_def_id {ID} NOT NULL,
                name {NAME} NOT NULL,
                property_index INT NOT NULL,
                property_type CHAR(3) NOT NULL CHECK (property_type IN ({TYPES})),
                default_value LONGTEXT,
                has_default_value BOOLEAN NOT NULL DEFAULT FALSE,
                is_readable BOOLEAN NOT NULL DEFAULT TRUE,
                is_writable BOOLEAN NOT NULL DEFAULT TRUE,
                is_nullable BOOLEAN NOT NULL DEFAULT TRUE,
                is_multivalued BOOLEAN NOT NULL DEFAULT FALSE,
                PRIMARY KEY (aspect_def_id, name){}) {TABLE}",
            r("FOREIGN KEY (aspect_def_id) REFERENCES aspect_def(aspect_def_id) ON DELETE CASCADE")
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS catalog (
                catalog_id {ID} NOT NULL PRIMARY KEY,
                species VARCHAR(10) NOT NULL CHECK (species IN ('SOURCE','SINK','MIRROR','CACHE','CLONE','FORK')),
                uri TEXT,
                upstream_catalog_id {ID},
                version_number BIGINT NOT NULL DEFAULT 0) {TABLE}"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS catalog_aspect_def (
                catalog_id {ID} NOT NULL,
                aspect_def_id {ID} NOT NULL,
                PRIMARY KEY (catalog_id, aspect_def_id){}{}) {TABLE}",
            r("FOREIGN KEY (catalog_id) REFERENCES catalog(catalog_id) ON DELETE CASCADE"),
            r("FOREIGN KEY (aspect_def_id) REFERENCES aspect_def(aspect_def_id) ON DELETE CASCADE")
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS hierarchy (
                catalog_id {ID} NOT NULL,
                name {NAME} NOT NULL,
                hierarchy_type CHAR(2) NOT NULL CHECK (hierarchy_type IN ('EL','ES','ED','ET','AM')),
                version_number BIGINT NOT NULL DEFAULT 0,
                hierarchy_order INT,
                PRIMARY KEY (catalog_id, name){}) {TABLE}",
            r("FOREIGN KEY (catalog_id) REFERENCES catalog(catalog_id) ON DELETE CASCADE")
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS aspect (
                entity_id {ID} NOT NULL,
                aspect_def_id {ID} NOT NULL,
                catalog_id {ID} NOT NULL,
                hierarchy_name {NAME} NOT NULL,
                PRIMARY KEY (entity_id, aspect_def_id, catalog_id){}{}) {TABLE}",
            r("FOREIGN KEY (aspect_def_id) REFERENCES aspect_def(aspect_def_id) ON DELETE CASCADE"),
            r("FOREIGN KEY (catalog_id, hierarchy_name) REFERENCES hierarchy(catalog_id, name) ON DELETE CASCADE")
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS property_value (
                entity_id {ID} NOT NULL,
                aspect_def_id {ID} NOT NULL,
                catalog_id {ID} NOT NULL,
                property_name {NAME} NOT NULL,
                property_index INT NOT NULL,
                value_index INT NOT NULL DEFAULT 0,
                value_text LONGTEXT,
                value_binary LONGBLOB,
                PRIMARY KEY (entity_id, aspect_def_id, catalog_id, property_name, value_index){}{}) {TABLE}",
            r("FOREIGN KEY (entity_id, aspect_def_id, catalog_id) REFERENCES aspect(entity_id, aspect_def_id, catalog_id) ON DELETE CASCADE"),
            r("FOREIGN KEY (aspect_def_id, property_name) REFERENCES property_def(aspect_def_id, name)")
        ),
    ];
    let content = |table: &str, cols: &str, key: &str, extra: &str| {
        format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                catalog_id {ID} NOT NULL,
                hierarchy_name {NAME} NOT NULL,
                {cols},
                {key}{}{extra}) {TABLE}",
            r("FOREIGN KEY (catalog_id, hierarchy_name) REFERENCES hierarchy(catalog_id, name) ON DELETE CASCADE")
        )
    };
    s.push(content(
        "hierarchy_entity_list",
        &format!("entity_id {ID} NOT NULL, list_order INT NOT NULL"),
        "PRIMARY KEY (catalog_id, hierarchy_name, list_order)",
        "",
    ));
    s.push(content(
        "hierarchy_entity_set",
        &format!("entity_id {ID} NOT NULL, set_order INT"),
        "PRIMARY KEY (catalog_id, hierarchy_name, entity_id)",
        "",
    ));
    s.push(content(
        "hierarchy_entity_directory",
        &format!(
            "entity_key VARCHAR(500) NOT NULL, entity_id {ID} NOT NULL, dir_order INT NOT NULL"
        ),
        "PRIMARY KEY (catalog_id, hierarchy_name, entity_key)",
        "",
    ));
    s.push(content(
        "hierarchy_entity_tree_node",
        &format!(
            "node_id {ID} NOT NULL PRIMARY KEY, parent_node_id {ID}, node_key VARCHAR(255),
             entity_id {ID}, node_path TEXT, tree_order INT NOT NULL"
        ),
        "UNIQUE (catalog_id, hierarchy_name, parent_node_id, node_key)",
        "",
    ));
    s.push(content(
        "hierarchy_aspect_map",
        &format!("entity_id {ID} NOT NULL, aspect_def_id {ID} NOT NULL, map_order INT NOT NULL"),
        "PRIMARY KEY (catalog_id, hierarchy_name, entity_id)",
        &r("FOREIGN KEY (entity_id, aspect_def_id, catalog_id) REFERENCES aspect(entity_id, aspect_def_id, catalog_id) ON DELETE CASCADE"),
    ));
    for (name, table, cols) in cheap_core::sql::INDEXES {
        // A TEXT column is indexed by a prefix.
        let cols = cols.replace("node_path", "node_path(255)");
        s.push(format!(
            "CREATE INDEX IF NOT EXISTS {name} ON {table}({cols})"
        ));
    }
    s.push(format!(
        "CREATE TABLE IF NOT EXISTS cheap_schema_version (
            id INT NOT NULL PRIMARY KEY CHECK (id = 1),
            version BIGINT NOT NULL) {TABLE}"
    ));
    s.push(format!(
        "CREATE TABLE IF NOT EXISTS cheap_hierarchy_tombstone (
            catalog_id {ID} NOT NULL,
            name {NAME} NOT NULL,
            version_number BIGINT NOT NULL,
            PRIMARY KEY (catalog_id, name){}) {TABLE}",
        r("FOREIGN KEY (catalog_id) REFERENCES catalog(catalog_id) ON DELETE CASCADE")
    ));
    s.push(format!(
        "CREATE TABLE IF NOT EXISTS cheap_hierarchy_rewrite (
            catalog_id {ID} NOT NULL,
            name {NAME} NOT NULL,
            version_number BIGINT NOT NULL,
            PRIMARY KEY (catalog_id, name){}) {TABLE}",
        r("FOREIGN KEY (catalog_id) REFERENCES catalog(catalog_id) ON DELETE CASCADE")
    ));
    s.push(format!(
        "CREATE TABLE IF NOT EXISTS cheap_aspect_change (
            catalog_id {ID} NOT NULL,
            hierarchy_name {NAME} NOT NULL,
            entity_id {ID} NOT NULL,
            version_number BIGINT NOT NULL,
            removed BOOLEAN NOT NULL,
            PRIMARY KEY (catalog_id, hierarchy_name, entity_id){}) {TABLE}",
        r("FOREIGN KEY (catalog_id) REFERENCES catalog(catalog_id) ON DELETE CASCADE")
    ));
    s.push(format!(
        "CREATE TABLE IF NOT EXISTS cheap_sync_mark (
            catalog_id {ID} NOT NULL PRIMARY KEY,
            upstream_version BIGINT NOT NULL,
            local_version BIGINT NOT NULL,
            synced_at_ms BIGINT NOT NULL{}) {TABLE}",
        r("FOREIGN KEY (catalog_id) REFERENCES catalog(catalog_id) ON DELETE CASCADE")
    ));
    s.push(format!(
        "CREATE TABLE IF NOT EXISTS cheap_catalog_lock (
            catalog_id {ID} NOT NULL PRIMARY KEY,
            writes BIGINT NOT NULL DEFAULT 0) {TABLE}"
    ));
    s
}

/// Creates the schema if it is missing (with foreign keys when `foreign_keys`), and records the
/// schema version. Safe to run on every start; concurrent starts are serialized with a named
/// lock.
pub async fn init_schema(conn: &mut Conn, foreign_keys: bool) -> Result<()> {
    conn.query_drop("SELECT GET_LOCK('cheap_init_schema', 60)")
        .await
        .map_err(map_err)?;
    let result = async {
        for stmt in ddl(foreign_keys) {
            conn.query_drop(stmt).await.map_err(map_err)?;
        }
        conn.exec_drop(
            "INSERT INTO cheap_schema_version (id, version) VALUES (1, ?) ON DUPLICATE KEY UPDATE version = VALUES(version)",
            (SCHEMA_VERSION,),
        )
        .await
        .map_err(map_err)
    }
    .await;
    conn.query_drop("SELECT RELEASE_LOCK('cheap_init_schema')")
        .await
        .map_err(map_err)?;
    result
}
