//! The Java reference's REST test scenarios and bodies (conformance/http), over real HTTP
//! against the server on a SQLite file.

mod common;

use common::{fixture, mariadb_server, postgres_server, sqlite_server};
use serde_json::{json, Value};

async fn catalogs_are_created_read_and_listed(s: &common::TestServer) {
    let (status, body) = s
        .post(
            "/api/catalog",
            &fixture("http/catalog/create-catalog-request.json"),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        body["message"],
        fixture("http/catalog/create-catalog-response.json")["message"]
    );
    let id = body["catalogId"].as_str().unwrap().to_owned();
    assert!(body["uri"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/api/catalog/{id}")));

    let (status, got) = s.get(&format!("/api/catalog/{id}")).await;
    assert_eq!(status, 200);
    let expected = serde_json::to_string(&fixture("http/catalog/get-catalog-response.json"))
        .unwrap()
        .replace("$ASPECT_DEF_ID", "550e8400-e29b-41d4-a716-446655440001");
    assert_eq!(got, serde_json::from_str::<Value>(&expected).unwrap());

    let (status, list) = s.get("/api/catalog?page=0&size=20").await;
    assert_eq!(status, 200);
    assert!(list["totalElements"].as_u64().unwrap() >= 1);
    assert!(list["catalogIds"].as_array().unwrap().contains(&json!(id)));

    let (status, err) = s
        .post(
            "/api/catalog",
            &fixture("http/catalog/invalid-catalog-request.json"),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["status"], 400);
    assert_eq!(err["path"], "/api/catalog");
    assert!(!err["errors"].as_array().unwrap().is_empty());
    let (_, after) = s.get("/api/catalog").await;
    assert_eq!(
        after["totalElements"], list["totalElements"],
        "the rejected create stored nothing"
    );

    let (status, _) = s
        .get("/api/catalog/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(status, 404);
}

async fn aspect_defs_are_created_listed_and_found_by_id_or_name(s: &common::TestServer) {
    let id = s
        .create_catalog("http/catalog/create-catalog-request.json")
        .await;
    let def = fixture("http/aspectdef/create-aspectdef-request.json");
    let (status, body) = s
        .post(&format!("/api/catalog/{id}/aspect-defs"), &def)
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["aspectDefName"], "com.example.ProductAspect");
    let def_id = body["aspectDefId"].as_str().unwrap().to_owned();

    let (status, list) = s.get(&format!("/api/catalog/{id}/aspect-defs")).await;
    assert_eq!(status, 200);
    assert_eq!(list["totalElements"], 2);
    let (status, by_id) = s
        .get(&format!("/api/catalog/{id}/aspect-defs/{def_id}"))
        .await;
    assert_eq!(status, 200);
    let (_, by_name) = s
        .get(&format!(
            "/api/catalog/{id}/aspect-defs/com.example.ProductAspect"
        ))
        .await;
    assert_eq!(by_id, by_name);
    assert_eq!(by_id["propertyDefs"].as_array().unwrap().len(), 3);
    let (status, _) = s
        .post(&format!("/api/catalog/{id}/aspect-defs"), &def)
        .await;
    assert_eq!(status, 409, "a duplicate is a conflict");
    let (status, _) = s
        .get(&format!(
            "/api/catalog/{id}/aspect-defs/00000000-0000-0000-0000-000000000000"
        ))
        .await;
    assert_eq!(status, 404);
}

async fn aspects_are_upserted_updated_and_queried(s: &common::TestServer) {
    let id = s
        .create_catalog("http/catalog/create-catalog-request.json")
        .await;
    let (status, body) = s
        .post(
            &format!("/api/catalog/{id}/aspects/person"),
            &fixture("http/aspect/upsert-aspects-request.json"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["successCount"], 2);
    assert!(body["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["created"] == true));

    let (status, body) = s
        .post(
            &format!("/api/catalog/{id}/aspects/person"),
            &fixture("http/aspect/update-aspects-request.json"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["created"], false);

    let (status, q) = s
        .post(
            &format!("/api/catalog/{id}/aspects/query"),
            &fixture("http/aspect/query-aspects-request.json"),
        )
        .await;
    assert_eq!(status, 200, "{q}");
    let results = q["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["aspectDef"], "person");
    let contents = results[0]["contents"].as_object().unwrap();
    assert_eq!(contents.len(), 2);
    let alice = &contents["660e8400-e29b-41d4-a716-446655440001"];
    assert_eq!(alice["firstName"], "Alice");
    assert_eq!(alice["age"], 31);

    // An upsert replaces the aspect, as the reference does; `?merge=true` keeps the properties
    // an item leaves out.
    let partial = json!({"aspects": [{"entityId": "660e8400-e29b-41d4-a716-446655440001", "properties": {"age": 32}}]});
    let (status, _) = s
        .post(
            &format!("/api/catalog/{id}/aspects/person?merge=true"),
            &partial,
        )
        .await;
    assert_eq!(status, 200);
    let (_, q) = s
        .post(
            &format!("/api/catalog/{id}/aspects/query"),
            &fixture("http/aspect/query-aspects-request.json"),
        )
        .await;
    let alice = &q["results"][0]["contents"]["660e8400-e29b-41d4-a716-446655440001"];
    assert_eq!(
        (alice["firstName"].as_str(), alice["age"].as_i64()),
        (Some("Alice"), Some(32))
    );

    let (status, q) = s
        .post(
            &format!("/api/catalog/{id}/aspects/query"),
            &fixture("http/aspect/query-aspects-empty-request.json"),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(q["results"], json!([]));

    // Bad items are refused one by one (207); good ones in the same request are stored.
    let mixed = json!({"aspects": [
        {"entityId": "00000000-0000-0000-0000-000000000101", "properties": {"firstName": "Eve", "lastName": "X", "age": "old"}},
        {"entityId": "00000000-0000-0000-0000-000000000102", "properties": {"firstName": "Mallory"}},
        {"entityId": "00000000-0000-0000-0000-000000000103", "properties": {"firstName": "Trent", "lastName": "Y", "nickname": "t"}},
        {"entityId": "00000000-0000-0000-0000-000000000104", "properties": {"firstName": "Peggy", "lastName": "Z"}}
    ]});
    let (status, body) = s
        .post(&format!("/api/catalog/{id}/aspects/person"), &mixed)
        .await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(
        (body["successCount"].as_u64(), body["failureCount"].as_u64()),
        (Some(1), Some(3))
    );
    assert!(body["results"][1]["message"]
        .as_str()
        .unwrap()
        .contains("lastName"));

    // Over the batch limit: 400 and nothing stored.
    let items: Vec<Value> = (0..1001)
        .map(|i| json!({"entityId": format!("00000000-0000-0000-0000-{:012}", 5000 + i), "properties": {"firstName": "A", "lastName": "B"}}))
        .collect();
    let (status, err) = s
        .post(
            &format!("/api/catalog/{id}/aspects/person"),
            &json!({"aspects": items}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(err["message"].as_str().unwrap().contains("exceeds maximum"));
    let (_, page) = s
        .get(&format!("/api/catalog/{id}/hierarchies/person?size=100"))
        .await;
    assert_eq!(page["totalElements"], 3, "{page}");

    let (status, _) = s
        .post(
            "/api/catalog/00000000-0000-0000-0000-000000000000/aspects/person",
            &fixture("http/aspect/upsert-aspects-request.json"),
        )
        .await;
    assert_eq!(status, 404);
}

async fn hierarchies_of_every_kind(s: &common::TestServer) {
    let id = s
        .create_catalog("http/hierarchy/create-catalog-with-hierarchies.json")
        .await;
    let base = format!("/api/catalog/{id}/hierarchies");
    for f in [
        "create-hierarchy.json",
        "create-hierarchy-set.json",
        "create-hierarchy-tree.json",
        "create-hierarchy-directory.json",
    ] {
        let (status, body) = s
            .post(&base, &fixture(&format!("http/hierarchy/{f}")))
            .await;
        assert_eq!(status, 201, "{f}: {body}");
        assert_eq!(body["message"], "Hierarchy created successfully");
        let name = body["hierarchyName"].as_str().unwrap();
        let (status, _) = s.get(&format!("{base}/{name}")).await;
        assert_eq!(status, 200);
    }
    let ids = fixture("http/hierarchy/add-entity-ids-request.json");
    let (status, body) = s.post(&format!("{base}/people/entities"), &ids).await;
    assert_eq!((status, body["count"].as_u64()), (200, Some(3)));
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("Added 3 entity ID(s)"));
    let (status, body) = s.post(&format!("{base}/users/entities"), &ids).await;
    assert_eq!((status, body["count"].as_u64()), (200, Some(3)));
    let (status, _) = s.post(&format!("{base}/documents/entities"), &ids).await;
    assert_eq!(status, 400);
    let (status, body) = s
        .delete(
            &format!("{base}/people/entities"),
            Some(&fixture("http/hierarchy/remove-entity-ids-request.json")),
        )
        .await;
    assert_eq!((status, body["count"].as_u64()), (200, Some(1)));
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("Removed 1 entity ID(s)"));
    let (_, people) = s.get(&format!("{base}/people")).await;
    assert_eq!(people["entityIds"].as_array().unwrap().len(), 2);
    assert_eq!(
        (people["page"].as_u64(), people["size"].as_u64()),
        (Some(0), Some(20))
    );

    let (status, body) = s
        .post(
            &format!("{base}/documents/entries"),
            &fixture("http/hierarchy/add-directory-entries-request.json"),
        )
        .await;
    assert_eq!((status, body["count"].as_u64()), (200, Some(3)));
    let (status, _) = s
        .post(
            &format!("{base}/people/entries"),
            &fixture("http/hierarchy/add-directory-entries-request.json"),
        )
        .await;
    assert_eq!(status, 400);
    let (status, body) = s
        .delete(
            &format!("{base}/documents/entries"),
            Some(&fixture(
                "http/hierarchy/remove-directory-entries-by-names-request.json",
            )),
        )
        .await;
    assert_eq!((status, body["count"].as_u64()), (200, Some(1)));
    let (status, body) = s
        .delete(
            &format!("{base}/documents/entries"),
            Some(&fixture(
                "http/hierarchy/remove-directory-entries-by-ids-request.json",
            )),
        )
        .await;
    assert_eq!((status, body["count"].as_u64()), (200, Some(2)));
    for bad in [
        json!({"names": ["a"], "entityIds": ["650e8400-e29b-41d4-a716-446655440001"]}),
        json!({"names": null, "entityIds": null}),
    ] {
        let (status, _) = s
            .delete(&format!("{base}/documents/entries"), Some(&bad))
            .await;
        assert_eq!(status, 400);
    }

    let (status, body) = s
        .post(
            &format!("{base}/categories/nodes"),
            &fixture("http/hierarchy/add-tree-nodes-request.json"),
        )
        .await;
    assert_eq!((status, body["nodesAffected"].as_u64()), (200, Some(2)));
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("Added 2 node(s)"));
    let (status, _) = s
        .post(
            &format!("{base}/people/nodes"),
            &fixture("http/hierarchy/add-tree-nodes-request.json"),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = s
        .post(
            &format!("{base}/categories/nodes"),
            &json!({"parentPath": "/nonexistent", "nodes": {"x": null}}),
        )
        .await;
    assert_eq!(status, 404);
    let (_, tree) = s.get(&format!("{base}/categories")).await;
    assert_eq!(
        tree["root"]["children"]["folder1"]["entityId"], "750e8400-e29b-41d4-a716-446655440001",
        "entity ids are kept"
    );
    let (status, body) = s
        .delete(
            &format!("{base}/categories/nodes"),
            Some(&fixture("http/hierarchy/remove-tree-nodes-request.json")),
        )
        .await;
    assert_eq!(status, 200);
    assert!(body["nodesAffected"].as_u64().unwrap() >= 1);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("including descendants"));

    let (_, page) = s.get(&format!("{base}/people?page=1&size=5")).await;
    assert_eq!(page["page"], 1);
    let (status, _) = s.get(&format!("{base}/people?size=200")).await;
    assert_eq!(status, 400);
    let (status, _) = s.get(&format!("{base}/nope")).await;
    assert_eq!(status, 404);
    let (status, _) = s
        .get("/api/catalog/00000000-0000-0000-0000-000000000000/hierarchies/people")
        .await;
    assert_eq!(status, 404);
}

/// Each scenario on a SQLite file and, when configured, on PostgreSQL and MariaDB.
macro_rules! on_every_backend {
    ($($name:ident),*) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (s, _dir) = super::sqlite_server().await;
                    super::$name(&s).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some((s, pg)) = super::postgres_server().await {
                        super::$name(&s).await;
                        super::common::drop_postgres_schema(&pg).await;
                    }
                }
            )*
        }
        mod mariadb {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some((s, my)) = super::mariadb_server().await {
                        super::$name(&s).await;
                        super::common::drop_mariadb_database(&my).await;
                    }
                }
            )*
        }
    };
}

on_every_backend!(
    catalogs_are_created_read_and_listed,
    aspect_defs_are_created_listed_and_found_by_id_or_name,
    aspects_are_upserted_updated_and_queried,
    hierarchies_of_every_kind
);
