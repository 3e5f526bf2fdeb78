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
    let other = common::postgres_peer(&dao).await;
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

/// A background import started through one server is reported by the other (tasks live in the
/// store), and a task whose server stopped answering is reported as interrupted.
#[tokio::test]
async fn tasks_are_seen_by_every_server_and_a_dead_ones_tasks_are_interrupted() {
    use cheap_core::json::ToJson;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    let a = start(cheap::connect(&url).await.unwrap(), ServerConfig::default()).await;
    let b = start(cheap::connect(&url).await.unwrap(), ServerConfig::default()).await;
    let catalog = cheap_core::Catalog::new();
    let r = a
        .http
        .post(a.url("/api/catalog/import?background=true"))
        .header("content-type", "application/json")
        .body(catalog.to_json())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let task: serde_json::Value = r.json().await.unwrap();
    let id = task["taskId"].as_str().unwrap().to_owned();
    let mut status = String::new();
    for _ in 0..100 {
        let (code, body) = b.get(&format!("/api/tasks/{id}")).await;
        assert_eq!(code, 200, "the other server knows the task: {body}");
        status = body["status"].as_str().unwrap_or_default().to_owned();
        if status != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, "succeeded");
    assert!(b.dao.catalog_exists(catalog.id()).await.unwrap());

    // A task left running by a server that is gone: its heartbeat stopped long ago.
    let orphan = uuid::Uuid::new_v4();
    b.dao
        .put_task(&cheap_core::dao::TaskRecord {
            status: cheap_core::rest::TaskStatus {
                task_id: orphan,
                status: "running".into(),
                catalog_id: None,
                version: None,
                message: "Import running".into(),
                done: None,
                total: None,
            },
            heartbeat_ms: 1,
        })
        .await
        .unwrap();
    let (code, body) = a.get(&format!("/api/tasks/{orphan}")).await;
    assert_eq!(code, 200);
    assert_eq!(body["status"], "interrupted", "{body}");
    assert_eq!(
        a.get(&format!("/api/tasks/{}", uuid::Uuid::new_v4()))
            .await
            .0,
        404
    );
}

/// A write through one server reaches a watcher of the other (`GET .../events`) through
/// PostgreSQL's notifications: the watched server's poll interval is an hour, so nothing else
/// could tell it in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_one_server_reaches_a_watcher_of_the_other() {
    use futures::StreamExt;
    let Some((a, dao)) = common::postgres_server().await else {
        return;
    };
    dao.set_watch_interval(std::time::Duration::from_secs(3600));
    let other = common::postgres_peer(&dao).await;
    let b = start(Arc::new(other), ServerConfig::default()).await;
    let id = a
        .create_catalog("http/catalog/create-catalog-request.json")
        .await;
    let client = cheap_client::CheapClient::new(&a.base).unwrap();
    let mut events = client.watch(id.parse().unwrap(), None);
    // The watch is open once its first look found nothing: give it that look.
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(500), events.next()).await;
    assert!(quiet.is_err(), "{quiet:?}");
    let def = fixture("http/aspectdef/create-aspectdef-request.json");
    let (status, body) = b
        .post(&format!("/api/catalog/{id}/aspect-defs"), &def)
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, info) = b.get(&format!("/api/catalog/{id}/info")).await;
    let version = info["version"].as_i64().unwrap();
    match tokio::time::timeout(std::time::Duration::from_secs(20), events.next()).await {
        Ok(Some(Ok(cheap_core::dao::ChangeEvent::Changed(c)))) => assert_eq!(c.version, version),
        other => panic!("the watcher of server a was not told of a write through b: {other:?}"),
    }
    drop(events);
    common::drop_postgres_schema(&dao).await;
}
