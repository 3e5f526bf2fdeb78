//! A database laid out and encoded the way the Java reference writes it (no cheap-rs tables,
//! Java's DateTime and Float text, NULL rows for null values, a tree with an empty root key)
//! loads correctly, and is upgraded in place.

use std::str::FromStr;

use cheap_core::json::ToJson;
use cheap_core::{CheapDao, CheapDateTime, PropertyValue, Uuid};
use cheap_db_sqlite::SqliteOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::ConnectOptions;

// The reference's SQLite DDL (spec/db.md §1.2), trimmed of indexes and of the foreign keys from
// content rows to their hierarchy, as older reference databases lack some of them.
const JAVA_DDL: &str = r#"
CREATE TABLE aspect_def (aspect_def_id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, hash_version INTEGER,
  is_readable INTEGER NOT NULL DEFAULT 1, is_writable INTEGER NOT NULL DEFAULT 1,
  can_add_properties INTEGER NOT NULL DEFAULT 0, can_remove_properties INTEGER NOT NULL DEFAULT 0);
CREATE TABLE property_def (aspect_def_id TEXT NOT NULL REFERENCES aspect_def(aspect_def_id) ON DELETE CASCADE,
  name TEXT NOT NULL, property_index INTEGER NOT NULL, property_type TEXT NOT NULL, default_value TEXT,
  has_default_value INTEGER NOT NULL DEFAULT 0, is_readable INTEGER NOT NULL DEFAULT 1, is_writable INTEGER NOT NULL DEFAULT 1,
  is_nullable INTEGER NOT NULL DEFAULT 1, is_multivalued INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (aspect_def_id, name));
CREATE TABLE catalog (catalog_id TEXT PRIMARY KEY, species TEXT NOT NULL, uri TEXT, upstream_catalog_id TEXT,
  version_number INTEGER NOT NULL DEFAULT 0);
CREATE TABLE catalog_aspect_def (catalog_id TEXT NOT NULL REFERENCES catalog(catalog_id) ON DELETE CASCADE,
  aspect_def_id TEXT NOT NULL REFERENCES aspect_def(aspect_def_id) ON DELETE CASCADE, PRIMARY KEY (catalog_id, aspect_def_id));
CREATE TABLE hierarchy (catalog_id TEXT NOT NULL REFERENCES catalog(catalog_id) ON DELETE CASCADE, name TEXT NOT NULL,
  hierarchy_type TEXT NOT NULL, version_number INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (catalog_id, name));
CREATE TABLE aspect (entity_id TEXT NOT NULL, aspect_def_id TEXT NOT NULL REFERENCES aspect_def(aspect_def_id) ON DELETE CASCADE,
  catalog_id TEXT NOT NULL REFERENCES catalog(catalog_id) ON DELETE CASCADE, hierarchy_name TEXT NOT NULL,
  PRIMARY KEY (entity_id, aspect_def_id, catalog_id));
CREATE TABLE property_value (entity_id TEXT NOT NULL, aspect_def_id TEXT NOT NULL, catalog_id TEXT NOT NULL,
  property_name TEXT NOT NULL, property_index INTEGER NOT NULL, value_index INTEGER NOT NULL DEFAULT 0,
  value_text TEXT, value_binary BLOB, PRIMARY KEY (entity_id, aspect_def_id, catalog_id, property_name, value_index));
CREATE TABLE hierarchy_entity_list (catalog_id TEXT NOT NULL, hierarchy_name TEXT NOT NULL, entity_id TEXT NOT NULL,
  list_order INTEGER NOT NULL, PRIMARY KEY (catalog_id, hierarchy_name, list_order));
CREATE TABLE hierarchy_entity_set (catalog_id TEXT NOT NULL, hierarchy_name TEXT NOT NULL, entity_id TEXT NOT NULL,
  set_order INTEGER, PRIMARY KEY (catalog_id, hierarchy_name, entity_id));
CREATE TABLE hierarchy_entity_directory (catalog_id TEXT NOT NULL, hierarchy_name TEXT NOT NULL, entity_key TEXT NOT NULL,
  entity_id TEXT NOT NULL, dir_order INTEGER NOT NULL, PRIMARY KEY (catalog_id, hierarchy_name, entity_key));
CREATE TABLE hierarchy_entity_tree_node (node_id TEXT PRIMARY KEY, catalog_id TEXT NOT NULL, hierarchy_name TEXT NOT NULL,
  parent_node_id TEXT REFERENCES hierarchy_entity_tree_node(node_id) ON DELETE CASCADE, node_key TEXT, entity_id TEXT,
  node_path TEXT, tree_order INTEGER NOT NULL, UNIQUE (catalog_id, hierarchy_name, parent_node_id, node_key));
CREATE TABLE hierarchy_aspect_map (catalog_id TEXT NOT NULL, hierarchy_name TEXT NOT NULL, entity_id TEXT NOT NULL,
  aspect_def_id TEXT NOT NULL, map_order INTEGER NOT NULL, PRIMARY KEY (catalog_id, hierarchy_name, entity_id));
"#;

const CAT: &str = "550e8400-e29b-41d4-a716-444444444444";
const DEF: &str = "12348400-e24b-41d4-a716-446644440000";
const E1: &str = "10000000-0000-0000-0000-000000000001";
const E2: &str = "10000000-0000-0000-0000-000000000002";

fn rows() -> String {
    format!(
        r#"
INSERT INTO catalog VALUES ('{CAT}', 'SINK', 'https://example.com/c', NULL, 7);
INSERT INTO aspect_def VALUES ('{DEF}', 'person', -1, 1, 1, 0, 0);
INSERT INTO property_def VALUES
  ('{DEF}', 'name', 0, 'STR', NULL, 0, 1, 1, 0, 0),
  ('{DEF}', 'born', 1, 'DAT', NULL, 0, 1, 1, 1, 0),
  ('{DEF}', 'score', 2, 'FLT', NULL, 0, 1, 1, 1, 0),
  ('{DEF}', 'tags', 3, 'STR', NULL, 0, 1, 1, 1, 1),
  ('{DEF}', 'photo', 4, 'BLB', NULL, 0, 1, 1, 1, 0),
  ('{DEF}', 'level', 5, 'INT', '3', 1, 1, 1, 1, 0);
INSERT INTO catalog_aspect_def VALUES ('{CAT}', '{DEF}');
INSERT INTO hierarchy VALUES ('{CAT}', 'person', 'AM', 0), ('{CAT}', 'queue', 'EL', 2), ('{CAT}', 'files', 'ET', 0),
  ('{CAT}', 'dir', 'ED', 0), ('{CAT}', 'members', 'ES', 0);
INSERT INTO aspect VALUES ('{E1}', '{DEF}', '{CAT}', 'person'), ('{E2}', '{DEF}', '{CAT}', 'person');
INSERT INTO hierarchy_aspect_map VALUES ('{CAT}', 'person', '{E2}', '{DEF}', 0), ('{CAT}', 'person', '{E1}', '{DEF}', 1);
INSERT INTO property_value VALUES
  ('{E1}', '{DEF}', '{CAT}', 'name', 0, 0, 'Ada', NULL),
  ('{E1}', '{DEF}', '{CAT}', 'born', 1, 0, '1815-12-10 00:00:00.0', NULL),
  ('{E1}', '{DEF}', '{CAT}', 'score', 2, 0, '1.0E10', NULL),
  ('{E1}', '{DEF}', '{CAT}', 'tags', 3, 1, 'poetry', NULL),
  ('{E1}', '{DEF}', '{CAT}', 'tags', 3, 0, 'math', NULL),
  ('{E1}', '{DEF}', '{CAT}', 'photo', 4, 0, NULL, X'00FF10'),
  ('{E2}', '{DEF}', '{CAT}', 'name', 0, 0, 'Alan', NULL),
  ('{E2}', '{DEF}', '{CAT}', 'born', 1, 0, NULL, NULL),
  ('{E2}', '{DEF}', '{CAT}', 'score', 2, 0, NULL, NULL);
INSERT INTO hierarchy_entity_list VALUES ('{CAT}', 'queue', '{E1}', 1), ('{CAT}', 'queue', '{E2}', 0), ('{CAT}', 'queue', '{E1}', 2);
INSERT INTO hierarchy_entity_set VALUES ('{CAT}', 'members', '{E2}', 0), ('{CAT}', 'members', '{E1}', 1);
INSERT INTO hierarchy_entity_directory VALUES ('{CAT}', 'dir', 'b', '{E2}', 0), ('{CAT}', 'dir', 'a', '{E1}', 1);
INSERT INTO hierarchy_entity_tree_node VALUES
  ('00000000-0000-0000-0000-0000000000a0', '{CAT}', 'files', NULL, '', '{E1}', '', 0),
  ('00000000-0000-0000-0000-0000000000a2', '{CAT}', 'files', '00000000-0000-0000-0000-0000000000a1', 'reports', '{E2}', '/docs/reports', 0),
  ('00000000-0000-0000-0000-0000000000a1', '{CAT}', 'files', '00000000-0000-0000-0000-0000000000a0', 'docs', NULL, '/docs', 1),
  ('00000000-0000-0000-0000-0000000000a3', '{CAT}', 'files', '00000000-0000-0000-0000-0000000000a0', 'images', '{E2}', '/images', 0);
"#
    )
}

#[tokio::test]
async fn a_java_written_database_loads_and_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("java.db");
    {
        let mut conn = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        sqlx::raw_sql(JAVA_DDL).execute(&mut conn).await.unwrap();
        sqlx::raw_sql(&rows()).execute(&mut conn).await.unwrap();
    }
    let dao = SqliteOptions::path(&path).connect().await.unwrap();
    let cat = dao
        .load_catalog(Uuid::from_str(CAT).unwrap())
        .await
        .unwrap();
    assert_eq!(cat.version, 7);
    assert_eq!(cat.uri.as_deref(), Some("https://example.com/c"));
    let e1 = Uuid::from_str(E1).unwrap();
    let e2 = Uuid::from_str(E2).unwrap();

    let people = cat.aspects("person").unwrap();
    let order: Vec<Uuid> = people.iter().map(|a| a.entity_id()).collect();
    assert_eq!(order, [e2, e1], "map_order is kept");
    let ada = people.get(e1).unwrap();
    assert_eq!(ada.get("name"), Some(&PropertyValue::from("Ada")));
    assert_eq!(
        ada.get("born"),
        Some(&PropertyValue::DateTime(
            CheapDateTime::parse("1815-12-10T00:00Z").unwrap()
        )),
        "Java's SQL timestamp text is read as UTC"
    );
    assert_eq!(ada.get("score"), Some(&PropertyValue::Float(1e10)));
    assert_eq!(
        ada.get("tags"),
        Some(&PropertyValue::from(vec!["math", "poetry"])),
        "value_index order"
    );
    assert_eq!(
        ada.get("photo"),
        Some(&PropertyValue::Blob(vec![0, 255, 16]))
    );
    assert_eq!(
        ada.get("level"),
        Some(&PropertyValue::Integer(3)),
        "default read from text"
    );
    let alan = people.get(e2).unwrap();
    assert_eq!(alan.get("born"), None, "a NULL row is a null value");
    assert_eq!(alan.get("tags"), None);

    assert_eq!(
        cat.hierarchy("queue").unwrap().as_list().unwrap().0,
        [e2, e1, e1]
    );
    assert_eq!(
        cat.hierarchy("members")
            .unwrap()
            .as_set()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        [e2, e1]
    );
    let dir = cat.hierarchy("dir").unwrap().as_directory().unwrap();
    assert_eq!(dir.iter().collect::<Vec<_>>(), [("b", e2), ("a", e1)]);
    let tree = cat.hierarchy("files").unwrap().as_tree().unwrap();
    assert_eq!(tree.root.entity, Some(e1));
    assert_eq!(
        tree.root.children.keys().collect::<Vec<_>>(),
        ["images", "docs"],
        "tree_order"
    );
    assert_eq!(tree.node("/docs/reports").unwrap().entity, Some(e2));

    // The upgraded database takes writes and reads them back.
    dao.add_entities(cat.id(), "queue", &[e2]).await.unwrap();
    let again = dao.load_catalog(cat.id()).await.unwrap();
    assert_eq!(
        again.hierarchy("queue").unwrap().as_list().unwrap().0,
        [e2, e1, e1, e2]
    );
    assert!(again.version > 7);
    dao.save_catalog(&again).await.unwrap();
    assert_eq!(
        dao.load_catalog(cat.id()).await.unwrap().to_json(),
        again.to_json()
    );
}
