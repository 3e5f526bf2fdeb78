//! Two servers over one PostgreSQL schema, each with its own store and metadata cache (as two
//! `cheap serve` processes have): what one changes, the other answers at its very next request.

mod common;

use std::sync::Arc;

use cheap_server::ServerConfig;
use common::{fixture, start};

#[tokio::test]
async fn a_def_changed_through_one_server_is_seen_through_the_other() {
    let Some((a, dao)) = common::postgres_server().await else {
        return;
    };
    let (schema,): (String,) = sqlx::query_as("SELECT current_schema()::text")
        .fetch_one(dao.pool())
        .await
        .unwrap();
    let url = std::env::var("CHEAP_TEST_POSTGRES_URL").unwrap();
    let other = cheap::postgres::PostgresOptions::url(url)
        .schema(schema)
        .connect()
        .await
        .unwrap();
    let b = start(Arc::new(other), ServerConfig::default()).await;

    let id = a
        .create_catalog("http/catalog/create-catalog-request.json")
        .await;
    let defs = |body: &serde_json::Value| -> Vec<String> {
        body["aspectDefs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, before) = b.get(&format!("/api/catalog/{id}")).await;
    assert_eq!(status, 200, "{before}");
    assert!(!defs(&before).contains(&"com.example.ProductAspect".to_owned()));

    let def = fixture("http/aspectdef/create-aspectdef-request.json");
    let (status, body) = a
        .post(&format!("/api/catalog/{id}/aspect-defs"), &def)
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, after) = b.get(&format!("/api/catalog/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        defs(&after).contains(&"com.example.ProductAspect".to_owned()),
        "server b missed a def added through a: {after}"
    );
    let (status, _) = b
        .get(&format!(
            "/api/catalog/{id}/aspect-defs/com.example.ProductAspect"
        ))
        .await;
    assert_eq!(status, 200);

    let (status, _) = a
        .delete(
            &format!("/api/catalog/{id}/aspect-defs/com.example.ProductAspect"),
            None,
        )
        .await;
    assert!(status == 204 || status == 200, "delete: {status}");
    let (status, gone) = b
        .get(&format!(
            "/api/catalog/{id}/aspect-defs/com.example.ProductAspect"
        ))
        .await;
    assert_eq!(status, 404, "server b still serves a removed def: {gone}");
    assert_eq!(gone["missing"]["kind"], "aspectDef");
    common::drop_postgres_schema(&dao).await;
}
