//! A partial update (`?merge=true`) merges over what is stored inside the store's own write: 16 clients each
//! setting a different property of one aspect at the same moment keep all 16 values (the
//! handler used to read, merge and write in separate steps, and lost some of them).

mod common;

use serde_json::{json, Value};

async fn sixteen_concurrent_patches_keep_every_value(s: &common::TestServer) {
    let id = s
        .create_catalog("http/catalog/create-catalog-request.json")
        .await;
    let props: Vec<Value> = (0..16)
        .map(|i| json!({"name": format!("p{i}"), "type": "String", "isNullable": true}))
        .collect();
    let (status, body) = s
        .post(
            &format!("/api/catalog/{id}/aspect-defs"),
            &json!({"name": "test.Wide", "globalId": uuid::Uuid::new_v4(), "propertyDefs": props}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let entity = uuid::Uuid::new_v4();
    let path = format!("/api/catalog/{id}/aspects/test.Wide?merge=true");
    let (status, body) = s
        .post(
            &path,
            &json!({"aspects": [{"entityId": entity, "properties": {}}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let writes = (0..16).map(|i| {
        let body = json!({"aspects": [{"entityId": entity, "properties": {format!("p{i}"): format!("v{i}")}}]});
        let path = path.clone();
        async move { s.post(&path, &body).await }
    });
    for (status, body) in futures::future::join_all(writes).await {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["results"][0]["created"], false, "{body}");
    }

    let (status, got) = s
        .post(
            &format!("/api/catalog/{id}/aspects/query"),
            &json!({"entityIds": [entity], "aspectDefNames": ["test.Wide"]}),
        )
        .await;
    assert_eq!(status, 200, "{got}");
    let text = got.to_string();
    let missing: Vec<usize> = (0..16)
        .filter(|i| !text.contains(&format!("\"v{i}\"")))
        .collect();
    assert!(missing.is_empty(), "lost updates of {missing:?}: {got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_partial_updates_are_not_lost_on_sqlite() {
    let (s, _dir) = common::sqlite_server().await;
    sixteen_concurrent_patches_keep_every_value(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_partial_updates_are_not_lost_on_postgres() {
    let Some((s, dao)) = common::postgres_server().await else {
        return;
    };
    sixteen_concurrent_patches_keep_every_value(&s).await;
    common::drop_postgres_schema(&dao).await;
}
