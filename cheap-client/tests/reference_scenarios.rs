//! The Java reference's REST-client integration scenarios (spec/rest.md §5.1): the twelve shared
//! scenarios and each database's custom table mapping, through the async client against the real
//! server on SQLite, PostgreSQL and MariaDB; and the cross-database consistency scenarios against
//! three servers at once.

use std::sync::Arc;

use cheap_client::{CheapClient, ClientError, DirectoryRemoval, HierarchyPage};
use cheap_core::rest::AspectInput;
use cheap_core::{
    AspectDef, CatalogDef, CatalogSpecies, CheapDao, HierarchyDef, HierarchyType, PropertyDef,
    PropertyType, Uuid,
};
use cheap_sql::{AspectTableMapping, SqlBackend, SqlDao, TableAccess, TxMode};
use indexmap::IndexMap;
use mysql_async::prelude::Queryable;
use serde_json::json;

fn test_uuid(n: u64) -> Uuid {
    Uuid::parse_str(&format!("00000000-0000-0000-0000-{n:012}")).unwrap()
}

fn def(name: &str, props: &[(&str, PropertyType)]) -> AspectDef {
    AspectDef::builder(name)
        .properties(props.iter().map(|(n, t)| PropertyDef::new(*n, *t)))
        .build()
        .unwrap()
}

fn input(e: u64, v: serde_json::Value) -> AspectInput {
    AspectInput {
        entity_id: test_uuid(e),
        properties: v.as_object().unwrap().clone(),
    }
}

/// The custom table each reference test server maps (hasCatalogId=false, hasEntityId=true),
/// and the two rows its scenario upserts.
struct CustomTable {
    name: &'static str,
    props: [(&'static str, PropertyType); 3],
    rows: [serde_json::Value; 2],
}

const SQLITE_TABLE: fn() -> CustomTable = || CustomTable {
    name: "order_item",
    props: [
        ("product_name", PropertyType::String),
        ("quantity", PropertyType::Integer),
        ("price", PropertyType::Float),
    ],
    rows: [
        json!({"product_name": "Widget Deluxe", "quantity": 5, "price": 49.99}),
        json!({"product_name": "Gadget Pro", "quantity": 3, "price": 89.99}),
    ],
};

const POSTGRES_TABLE: fn() -> CustomTable = || CustomTable {
    name: "address",
    props: [
        ("street", PropertyType::String),
        ("city", PropertyType::String),
        ("zip", PropertyType::String),
    ],
    rows: [
        json!({"street": "123 Main St", "city": "Springfield", "zip": "12345"}),
        json!({"street": "456 Oak Ave", "city": "Shelbyville", "zip": "67890"}),
    ],
};

const MARIADB_TABLE: fn() -> CustomTable = || CustomTable {
    name: "inventory",
    props: [
        ("item_code", PropertyType::String),
        ("warehouse", PropertyType::String),
        ("stock_qty", PropertyType::Integer),
    ],
    rows: [
        json!({"item_code": "ITEM-A123", "warehouse": "Main Warehouse", "stock_qty": 150}),
        json!({"item_code": "ITEM-B456", "warehouse": "East Warehouse", "stock_qty": 75}),
    ],
};

/// Serves `dao` on 127.0.0.1 with `table` mapped, as the reference's test servers do.
async fn serve<B: SqlBackend + Clone>(dao: &SqlDao<B>, table: &CustomTable) -> CheapClient {
    let mapping = AspectTableMapping::new(Arc::new(def(table.name, &table.props)), table.name);
    dao.create_table(&mapping).await.unwrap();
    dao.add_table_mapping(mapping).unwrap();
    let dao: Arc<dyn CheapDao> = Arc::new(dao.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(cheap_server::serve(
        listener,
        cheap_server::router(dao, Default::default()),
        std::future::pending(),
    ));
    CheapClient::new(base).unwrap()
}

fn require(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) => Some(u),
        Err(_) => {
            assert!(
                std::env::var("CHEAP_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
                "{var} is not set and CHEAP_TEST_REQUIRE_ALL=1"
            );
            eprintln!("skipping: set {var}");
            None
        }
    }
}

async fn sqlite() -> (cheap_db_sqlite::SqliteDao, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let dao = cheap_db_sqlite::SqliteOptions::path(dir.path().join("s.db"))
        .connect()
        .await
        .unwrap();
    (dao, dir)
}

/// A PostgreSQL store in a schema of its own (dropped by [`drop_postgres`]).
async fn postgres() -> Option<cheap_db_postgres::PostgresDao> {
    let url = require("CHEAP_TEST_POSTGRES_URL")?;
    let schema = format!("cheap_client_{}", Uuid::new_v4().simple());
    Some(
        cheap_db_postgres::PostgresOptions::url(url)
            .schema(schema)
            .connect()
            .await
            .unwrap(),
    )
}

async fn drop_postgres(dao: &cheap_db_postgres::PostgresDao) {
    let mut conn = dao.connect(TxMode::None).await.unwrap();
    let mut r = conn
        .fetch_one("SELECT current_schema()::text", &[])
        .await
        .unwrap();
    let schema = r.string(0).unwrap();
    conn.execute(&format!("DROP SCHEMA {schema} CASCADE"), &[])
        .await
        .unwrap();
}

/// A MariaDB store in a database of its own (dropped by [`drop_mariadb`]).
async fn mariadb() -> Option<cheap_db_mariadb::MariaDbDao> {
    let url = require("CHEAP_TEST_MARIADB_URL")?;
    let db = format!("cheap_client_{}", Uuid::new_v4().simple());
    let admin = cheap_db_mariadb::MariaDbOptions::url(&url)
        .init_schema(false)
        .connect()
        .await
        .unwrap();
    admin
        .pool()
        .get_conn()
        .await
        .unwrap()
        .query_drop(format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    admin.close().await.unwrap();
    Some(
        cheap_db_mariadb::MariaDbOptions::url(&url)
            .database(db)
            .connect()
            .await
            .unwrap(),
    )
}

async fn drop_mariadb(dao: &cheap_db_mariadb::MariaDbDao) {
    let mut conn = dao.pool().get_conn().await.unwrap();
    let db: Option<String> = conn.query_first("SELECT DATABASE()").await.unwrap();
    conn.query_drop(format!("DROP DATABASE {}", db.unwrap()))
        .await
        .unwrap();
}

async fn empty_catalog(c: &CheapClient) -> Uuid {
    c.create_catalog_with(CatalogSpecies::Sink, None, None)
        .await
        .unwrap()
        .catalog_id
}

/// Scenarios 1-12 of spec/rest.md §5.1.
async fn twelve_scenarios(c: &CheapClient) {
    // 1. catalogLifecycle
    let id = empty_catalog(c).await;
    c.get_catalog(id).await.unwrap();
    let list = c.list_catalogs(0, 100).await.unwrap();
    assert!(list.page.total_elements >= 1 && list.catalog_ids.contains(&id));

    // 2. aspectDefCRUD
    let person = def(
        "person",
        &[
            ("name", PropertyType::String),
            ("age", PropertyType::Integer),
        ],
    );
    let contact = def(
        "contact",
        &[
            ("email", PropertyType::String),
            ("phone", PropertyType::String),
        ],
    );
    let p = c.create_aspect_def(id, &person).await.unwrap();
    let k = c.create_aspect_def(id, &contact).await.unwrap();
    assert_eq!(
        c.list_aspect_defs(id, 0, 10)
            .await
            .unwrap()
            .page
            .total_elements,
        2
    );
    assert_eq!(
        c.get_aspect_def(id, &p.aspect_def_id.to_string())
            .await
            .unwrap()
            .name(),
        "person"
    );
    assert_eq!(
        c.get_aspect_def(id, "contact").await.unwrap().id(),
        k.aspect_def_id
    );

    // 3. aspectUpsert
    let product = def(
        "product",
        &[
            ("sku", PropertyType::String),
            ("name", PropertyType::String),
            ("price", PropertyType::Float),
        ],
    );
    c.create_aspect_def(id, &product).await.unwrap();
    let r = c
        .upsert_aspects(
            id,
            "product",
            &[
                input(
                    2001,
                    json!({"sku": "PROD-001", "name": "Widget", "price": 19.99}),
                ),
                input(
                    2002,
                    json!({"sku": "PROD-002", "name": "Gadget", "price": 29.99}),
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(r.success_count, 2);
    let maps = c
        .query_aspect_maps(id, &[test_uuid(2001), test_uuid(2002)], &["product".into()])
        .await
        .unwrap();
    assert_eq!(maps.len(), 1);
    let a = maps[0].get(test_uuid(2001)).unwrap();
    assert_eq!(
        (
            a.get("sku").and_then(|v| v.as_str()),
            a.get("name").and_then(|v| v.as_str())
        ),
        (Some("PROD-001"), Some("Widget"))
    );

    // 4. errorHandling
    assert!(matches!(
        c.get_catalog(Uuid::new_v4()).await,
        Err(ClientError::NotFound { .. })
    ));
    assert!(matches!(
        c.get_aspect_def(id, &Uuid::new_v4().to_string()).await,
        Err(ClientError::NotFound { .. })
    ));
    assert!(matches!(
        c.get_aspect_def(id, "nonexistent").await,
        Err(ClientError::NotFound { .. })
    ));
    assert!(matches!(
        c.get_hierarchy(id, "nonexistent-list", 0, 10).await,
        Err(ClientError::NotFound { .. })
    ));

    // 5-8. createHierarchy of each kind
    let h = empty_catalog(c).await;
    for (name, t) in [
        ("test-entity-set", HierarchyType::EntitySet),
        ("test-entity-list", HierarchyType::EntityList),
        ("test-entity-directory", HierarchyType::EntityDirectory),
        ("test-entity-tree", HierarchyType::EntityTree),
    ] {
        let r = c
            .create_hierarchy(h, &HierarchyDef::new(name, t))
            .await
            .unwrap();
        assert_eq!((r.hierarchy_name.as_str(), r.success), (name, true));
    }

    // 9. entityListAddAndRemove
    c.create_hierarchy(h, &HierarchyDef::new("my-list", HierarchyType::EntityList))
        .await
        .unwrap();
    assert_eq!(
        c.add_entities(
            h,
            "my-list",
            &[test_uuid(3001), test_uuid(3002), test_uuid(3003)]
        )
        .await
        .unwrap()
        .count,
        3
    );
    let HierarchyPage::Entities(l) = c.get_hierarchy(h, "my-list", 0, 10).await.unwrap() else {
        panic!()
    };
    assert_eq!(l.page.total_elements, 3);
    assert_eq!(
        c.remove_entities(h, "my-list", &[test_uuid(3002)])
            .await
            .unwrap()
            .count,
        1
    );
    let HierarchyPage::Entities(l) = c.get_hierarchy(h, "my-list", 0, 10).await.unwrap() else {
        panic!()
    };
    assert_eq!(l.page.total_elements, 2);
    assert!(!l.entity_ids.contains(&test_uuid(3002)));

    // 10. entitySetAddAndRemove
    c.create_hierarchy(h, &HierarchyDef::new("my-set", HierarchyType::EntitySet))
        .await
        .unwrap();
    assert_eq!(
        c.add_entities(
            h,
            "my-set",
            &[test_uuid(4001), test_uuid(4002), test_uuid(4003)]
        )
        .await
        .unwrap()
        .count,
        3
    );
    assert_eq!(
        c.remove_entities(h, "my-set", &[test_uuid(4001), test_uuid(4003)])
            .await
            .unwrap()
            .count,
        2
    );
    let HierarchyPage::Entities(s) = c.get_hierarchy(h, "my-set", 0, 10).await.unwrap() else {
        panic!()
    };
    assert_eq!(s.entity_ids, vec![test_uuid(4002)]);

    // 11. entityDirectoryOperations
    c.create_hierarchy(
        h,
        &HierarchyDef::new("my-directory", HierarchyType::EntityDirectory),
    )
    .await
    .unwrap();
    let entries: IndexMap<String, Uuid> = [
        ("file1.txt", 5001),
        ("file2.txt", 5002),
        ("file3.txt", 5003),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_owned(), test_uuid(n)))
    .collect();
    assert_eq!(
        c.add_directory_entries(h, "my-directory", &entries)
            .await
            .unwrap()
            .count,
        3
    );
    let HierarchyPage::Directory(d) = c.get_hierarchy(h, "my-directory", 0, 10).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(d.content, entries);
    assert_eq!(
        c.remove_directory_entries(
            h,
            "my-directory",
            &DirectoryRemoval::Names(vec!["file2.txt".into()])
        )
        .await
        .unwrap()
        .count,
        1
    );
    assert_eq!(
        c.remove_directory_entries(
            h,
            "my-directory",
            &DirectoryRemoval::Entities(vec![test_uuid(5003)])
        )
        .await
        .unwrap()
        .count,
        1
    );
    let HierarchyPage::Directory(d) = c.get_hierarchy(h, "my-directory", 0, 10).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(
        d.content.into_iter().collect::<Vec<_>>(),
        vec![("file1.txt".to_owned(), test_uuid(5001))]
    );

    // 12. entityTreeOperations
    c.create_hierarchy(h, &HierarchyDef::new("my-tree", HierarchyType::EntityTree))
        .await
        .unwrap();
    let top: IndexMap<String, Option<Uuid>> = [("folder1", 6001), ("folder2", 6002)]
        .into_iter()
        .map(|(k, n)| (k.to_owned(), Some(test_uuid(n))))
        .collect();
    assert_eq!(
        c.add_tree_nodes(h, "my-tree", "/", &top)
            .await
            .unwrap()
            .nodes_affected,
        2
    );
    let files: IndexMap<String, Option<Uuid>> = [("file1.txt", 6003), ("file2.txt", 6004)]
        .into_iter()
        .map(|(k, n)| (k.to_owned(), Some(test_uuid(n))))
        .collect();
    assert_eq!(
        c.add_tree_nodes(h, "my-tree", "/folder1", &files)
            .await
            .unwrap()
            .nodes_affected,
        2
    );
    assert!(matches!(
        c.get_hierarchy(h, "my-tree", 0, 10).await.unwrap(),
        HierarchyPage::Tree(_)
    ));
    assert_eq!(
        c.remove_tree_nodes(h, "my-tree", &["/folder1".into()])
            .await
            .unwrap()
            .nodes_affected,
        3,
        "the folder and its two files"
    );
    let HierarchyPage::Tree(t) = c.get_hierarchy(h, "my-tree", 0, 10).await.unwrap() else {
        panic!()
    };
    assert_eq!(t.root["children"].as_object().unwrap().len(), 1);
}

/// `customTableMapping`: the client's def (another id than the server's mapping def) is routed
/// to the mapped table by name; the rows land there and read back.
async fn custom_table<B: SqlBackend>(c: &CheapClient, dao: &SqlDao<B>, table: &CustomTable) {
    let local = def(table.name, &table.props);
    let o = c
        .create_catalog_with(
            CatalogSpecies::Sink,
            None,
            Some(&CatalogDef::from_parts([Arc::new(local)], [])),
        )
        .await
        .unwrap()
        .catalog_id;
    let r = c
        .upsert_aspects(
            o,
            table.name,
            &[
                input(1001, table.rows[0].clone()),
                input(1002, table.rows[1].clone()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(r.success_count, 2);
    let mut conn = dao.connect(TxMode::None).await.unwrap();
    let rows = conn
        .fetch_int(
            &format!("SELECT COUNT(*) FROM {}", dao.dialect().quote(table.name)),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows, 2, "the aspects are rows of the custom table");
    let maps = c
        .query_aspect_maps(o, &[test_uuid(1001), test_uuid(1002)], &[table.name.into()])
        .await
        .unwrap();
    for (e, expected) in [(1001, &table.rows[0]), (1002, &table.rows[1])] {
        let got = maps[0].get(test_uuid(e)).unwrap();
        for (k, v) in expected.as_object().unwrap() {
            let g = got
                .get(k)
                .unwrap_or_else(|| panic!("{k} of {e} is missing"));
            if let Some(i) = v.as_i64() {
                assert_eq!(g.as_i64(), Some(i), "{k} of {e}");
            } else if let Some(f) = v.as_f64() {
                assert!((g.as_f64().unwrap() - f).abs() < 0.001, "{k} of {e}");
            } else {
                assert_eq!(g.to_text().as_deref(), v.as_str(), "{k} of {e}");
            }
        }
    }
}

#[tokio::test]
async fn sqlite_runs_the_reference_scenarios() {
    let (dao, _dir) = sqlite().await;
    let table = SQLITE_TABLE();
    let c = serve(dao.engine(), &table).await;
    twelve_scenarios(&c).await;
    custom_table(&c, dao.engine(), &table).await;
}

#[tokio::test]
async fn postgres_runs_the_reference_scenarios() {
    let Some(dao) = postgres().await else { return };
    let table = POSTGRES_TABLE();
    let c = serve(dao.engine(), &table).await;
    twelve_scenarios(&c).await;
    custom_table(&c, dao.engine(), &table).await;
    drop_postgres(&dao).await;
}

#[tokio::test]
async fn mariadb_runs_the_reference_scenarios() {
    let Some(dao) = mariadb().await else { return };
    let table = MARIADB_TABLE();
    let c = serve(dao.engine(), &table).await;
    twelve_scenarios(&c).await;
    custom_table(&c, dao.engine(), &table).await;
    // foreignKeyConstraints: an aspect upserted into a catalog whose def exists is stored
    // under the foreign keys and queried back.
    let data = def("test_aspect", &[("value", PropertyType::String)]);
    let cat = c
        .create_catalog_with(
            CatalogSpecies::Sink,
            None,
            Some(&CatalogDef::from_parts([Arc::new(data)], [])),
        )
        .await
        .unwrap()
        .catalog_id;
    let r = c
        .upsert_aspects(cat, "test_aspect", &[input(9001, json!({"value": "test"}))])
        .await
        .unwrap();
    assert_eq!(r.success_count, 1);
    let maps = c
        .query_aspect_maps(cat, &[test_uuid(9001)], &["test_aspect".into()])
        .await
        .unwrap();
    assert_eq!(maps[0].len(), 1);
    drop_mariadb(&dao).await;
}

/// `CrossDatabaseConsistencyTest` and the orchestration test's isolation check: the same
/// requests against servers on SQLite, PostgreSQL and MariaDB give the same answers.
#[tokio::test]
async fn the_three_databases_answer_alike() {
    let (Some(pg), Some(my)) = (postgres().await, mariadb().await) else {
        return;
    };
    let (lite, _dir) = sqlite().await;
    let clients = [
        serve(lite.engine(), &SQLITE_TABLE()).await,
        serve(pg.engine(), &POSTGRES_TABLE()).await,
        serve(my.engine(), &MARIADB_TABLE()).await,
    ];
    let person = def(
        "person",
        &[
            ("name", PropertyType::String),
            ("age", PropertyType::Integer),
            ("email", PropertyType::String),
        ],
    );
    let product = def(
        "product",
        &[
            ("name", PropertyType::String),
            ("price", PropertyType::Float),
            ("stock", PropertyType::Integer),
        ],
    );
    let customer = def(
        "customer",
        &[
            ("name", PropertyType::String),
            ("country", PropertyType::String),
        ],
    );
    let mut hashes = Vec::new();
    let mut answers = Vec::new();
    let mut catalogs = Vec::new();
    for c in &clients {
        // catalogStructureConsistency
        let id = empty_catalog(c).await;
        catalogs.push(id);
        hashes.push(c.get_catalog_def(id).await.unwrap().hash());
        assert!(c.list_catalogs(0, 10).await.unwrap().page.total_elements >= 1);

        // aspectDefConsistency
        c.create_aspect_def(id, &person).await.unwrap();
        let p = c.get_aspect_def(id, "person").await.unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(
            p.property_def("age").map(|d| d.property_type()),
            Some(PropertyType::Integer)
        );

        // upsertConsistency and queryConsistency
        c.create_aspect_def(id, &product).await.unwrap();
        let r = c
            .upsert_aspects(
                id,
                "product",
                &[
                    input(
                        1001,
                        json!({"name": "Laptop", "price": 999.99, "stock": 15}),
                    ),
                    input(1002, json!({"name": "Mouse", "price": 29.99, "stock": 100})),
                ],
            )
            .await
            .unwrap();
        assert_eq!(r.success_count, 2);
        let r = c
            .upsert_aspects(
                id,
                "product",
                &[input(
                    1001,
                    json!({"name": "Laptop Pro", "price": 1299.99, "stock": 10}),
                )],
            )
            .await
            .unwrap();
        assert_eq!(r.success_count, 1);
        c.create_aspect_def(id, &customer).await.unwrap();
        c.upsert_aspects(
            id,
            "customer",
            &[input(2001, json!({"name": "John Doe", "country": "USA"}))],
        )
        .await
        .unwrap();
        let products = c
            .query_aspect_maps(id, &[test_uuid(1001), test_uuid(1002)], &["product".into()])
            .await
            .unwrap();
        let customers = c
            .query_aspect_maps(id, &[test_uuid(2001)], &["customer".into()])
            .await
            .unwrap();
        let text = |maps: &[cheap_core::AspectMap]| -> Vec<String> {
            maps.iter()
                .flat_map(|m| m.iter())
                .map(|a| {
                    format!(
                        "{} {:?}",
                        a.entity_id(),
                        a.values()
                            .map(|(k, v)| (k.to_owned(), v.to_text()))
                            .collect::<Vec<_>>()
                    )
                })
                .collect()
        };
        answers.push((text(&products), text(&customers)));

        // paginationConsistency
        for i in 0..15 {
            c.create_aspect_def(
                id,
                &def(
                    &format!("aspect_{i}"),
                    &[(&format!("field{i}"), PropertyType::String)],
                ),
            )
            .await
            .unwrap();
        }
        let first = c.list_aspect_defs(id, 0, 5).await.unwrap();
        assert_eq!(first.aspect_defs.len(), 5);
        assert!(first.page.total_elements >= 15);
        assert_eq!(
            c.list_aspect_defs(id, 1, 5)
                .await
                .unwrap()
                .aspect_defs
                .len(),
            5
        );
        assert_eq!(
            c.list_aspect_defs(id, 2, 5)
                .await
                .unwrap()
                .aspect_defs
                .len(),
            5
        );
    }
    assert!(
        hashes.windows(2).all(|w| w[0] == w[1]),
        "catalog def hashes differ: {hashes:?}"
    );
    assert_eq!(
        answers[0], answers[1],
        "SQLite and PostgreSQL answer differently"
    );
    assert_eq!(
        answers[0], answers[2],
        "SQLite and MariaDB answer differently"
    );
    assert!(answers[0].0[0].contains("Laptop Pro"), "{:?}", answers[0]);
    // networkIsolation: a catalog of one backend is not found on another.
    for (i, c) in clients.iter().enumerate() {
        let other = catalogs[(i + 1) % catalogs.len()];
        assert!(matches!(
            c.get_catalog(other).await,
            Err(ClientError::NotFound { .. })
        ));
    }
    drop_postgres(&pg).await;
    drop_mariadb(&my).await;
}
