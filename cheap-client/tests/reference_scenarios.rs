//! The Java reference's REST-client integration scenarios (spec/rest.md §5.1, 1-12 and the
//! SQLite custom table mapping), through the async client against the real server.

use std::sync::Arc;

use cheap_client::{CheapClient, ClientError, DirectoryRemoval, HierarchyPage};
use cheap_core::rest::AspectInput;
use cheap_core::sql::AspectTableMapping;
use cheap_core::TableAccess;
use cheap_core::{
    AspectDef, CatalogDef, CatalogSpecies, CheapDao, HierarchyDef, HierarchyType, PropertyDef,
    PropertyType, Uuid,
};
use indexmap::IndexMap;
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

async fn start() -> (CheapClient, cheap_db_sqlite::SqliteDao, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let dao = cheap_db_sqlite::SqliteOptions::path(dir.path().join("s.db"))
        .connect()
        .await
        .unwrap();
    // As the reference's SQLite test server does: order_item aspects live in their own table.
    let order_item = def(
        "order_item",
        &[
            ("product_name", PropertyType::String),
            ("quantity", PropertyType::Integer),
            ("price", PropertyType::Float),
        ],
    );
    let mapping = AspectTableMapping::new(Arc::new(order_item), "order_item");
    dao.create_table(&mapping).await.unwrap();
    dao.add_table_mapping(mapping).unwrap();
    let sqlite = dao.clone();
    let dao: Arc<dyn CheapDao> = Arc::new(dao);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(cheap_server::serve(
        listener,
        cheap_server::router(dao, Default::default()),
        std::future::pending(),
    ));
    (CheapClient::new(base).unwrap(), sqlite, dir)
}

async fn empty_catalog(c: &CheapClient) -> Uuid {
    c.create_catalog_with(CatalogSpecies::Sink, None, None)
        .await
        .unwrap()
        .catalog_id
}

#[tokio::test]
async fn the_twelve_scenarios_and_a_custom_table() {
    let (c, sqlite, _dir) = start().await;

    // 1. catalogLifecycle
    let id = empty_catalog(&c).await;
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
    let h = empty_catalog(&c).await;
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

    // customTableMapping: the client's order_item def (another id than the server's mapping
    // def) is routed to the order_item table by name.
    let order_item = def(
        "order_item",
        &[
            ("product_name", PropertyType::String),
            ("quantity", PropertyType::Integer),
            ("price", PropertyType::Float),
        ],
    );
    let o = c
        .create_catalog_with(
            CatalogSpecies::Sink,
            None,
            Some(&CatalogDef::from_parts([Arc::new(order_item)], [])),
        )
        .await
        .unwrap()
        .catalog_id;
    let r = c
        .upsert_aspects(
            o,
            "order_item",
            &[
                input(
                    1001,
                    json!({"product_name": "Widget Deluxe", "quantity": 5, "price": 49.99}),
                ),
                input(
                    1002,
                    json!({"product_name": "Gadget Pro", "quantity": 3, "price": 89.99}),
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(r.success_count, 2);
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM order_item")
        .fetch_one(sqlite.pool())
        .await
        .unwrap();
    assert_eq!(rows, 2, "the aspects are rows of the custom table");
    let maps = c
        .query_aspect_maps(
            o,
            &[test_uuid(1001), test_uuid(1002)],
            &["order_item".into()],
        )
        .await
        .unwrap();
    let w = maps[0].get(test_uuid(1001)).unwrap();
    assert_eq!(w.get("quantity").and_then(|v| v.as_i64()), Some(5));
    assert!((w.get("price").and_then(|v| v.as_f64()).unwrap() - 49.99).abs() < 0.001);
}
