//! Whole catalogs in and out over real HTTP, streamed, on SQLite, PostgreSQL and MariaDB: an
//! import larger than the body limit lands and exports back byte-identically to the document
//! (and to the buffered writer); a truncated, invalid or oversize document is refused and
//! changes nothing; a background import reports its progress and outcome.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cheap_core::json::ToJson;
use cheap_core::{Aspect, AspectDef, Catalog, PropertyDef, PropertyType, Uuid};
use cheap_server::ServerConfig;
use common::TestServer;
use serde_json::Value;

/// A catalog of `n` aspects with a list, a set and a directory over the same entities.
fn generated(n: usize) -> Catalog {
    let mut cat = Catalog::new();
    let def = Arc::new(
        AspectDef::builder(format!("streamed.item.{}", Uuid::new_v4().simple()))
            .property(PropertyDef::new("name", PropertyType::String))
            .property(PropertyDef::new("n", PropertyType::Integer))
            .property(PropertyDef::new("tags", PropertyType::String).multivalued(true))
            .build()
            .unwrap(),
    );
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
    let map = cat.extend(def.clone()).unwrap();
    for (i, e) in ids.iter().enumerate() {
        let a = Aspect::builder(def.clone(), *e)
            .set("name", format!("item \"{i}\"\n"))
            .set("n", i as i64)
            .set(
                "tags",
                cheap_core::PropertyValue::List(vec![
                    cheap_core::PropertyValue::String("a".into()),
                    cheap_core::PropertyValue::String(format!("t{i}")),
                ]),
            )
            .build()
            .unwrap();
        map.put(a).unwrap();
    }
    let list = cat.create_entity_list("list").unwrap();
    for e in &ids {
        list.add(*e);
    }
    let dir = cat.create_entity_directory("dir").unwrap();
    for (i, e) in ids.iter().enumerate() {
        dir.put(format!("key {i}"), *e);
    }
    let set = cat.create_entity_set("set").unwrap();
    for e in ids.iter().step_by(3) {
        set.add(*e);
    }
    cat
}

async fn post_text(s: &TestServer, path: &str, text: String) -> (u16, Value) {
    let r = s
        .http
        .post(s.url(path))
        .header("content-type", "application/json")
        .body(text)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

async fn streams(s: &TestServer) {
    let cat = generated(3000);
    let text = cat.to_json();
    let (status, body) = post_text(s, "/api/catalog/import", text.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["catalogId"], cat.id().to_string());
    let exported = s.export(cat.id()).await;
    assert_eq!(exported, text, "the export gives back the document");
    let stored = s.dao.load_catalog(cat.id()).await.unwrap();
    assert_eq!(stored.to_json(), exported, "and what a whole load writes");

    // Refused documents change nothing.
    let version = stored.version;
    let mut bad_value = text.replacen("\"n\":2999", "\"n\":\"many\"", 1);
    assert_ne!(bad_value, text);
    let mut twice = text.replacen("\"key 1\":", "\"key 0\":", 1);
    assert_ne!(twice, text);
    for (what, doc) in [
        ("truncated", text[..text.len() * 2 / 3].to_owned()),
        ("a bad value at the end", std::mem::take(&mut bad_value)),
        ("a directory key twice", std::mem::take(&mut twice)),
        ("not a catalog", "[1, 2]".to_owned()),
        ("empty", String::new()),
    ] {
        let (status, body) = post_text(s, "/api/catalog/import", doc).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(s.export(cat.id()).await, text, "{what} changed nothing");
        let v = s.dao.catalog_info(cat.id()).await.unwrap().version;
        assert_eq!(v, version, "{what} kept the version");
    }

    // In the background: 202 once received, then a task that reports done / total.
    let (status, task) = post_text(s, "/api/catalog/import?background=true", text.clone()).await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(task["total"], text.len() as u64);
    let id = task["taskId"].as_str().unwrap().to_owned();
    let mut last = Value::Null;
    for _ in 0..600 {
        let (status, t) = s.get(&format!("/api/tasks/{id}")).await;
        assert_eq!(status, 200, "{t}");
        if t["status"] != "running" {
            last = t;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last["status"], "succeeded", "{last}");
    assert_eq!(last["done"], last["total"], "{last}");
    assert!(last["version"].as_i64().unwrap() > version);
    assert_eq!(s.export(cat.id()).await, text);
    let (status, _) = s.delete(&format!("/api/catalog/{}", cat.id()), None).await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn streams_on_sqlite() {
    let (s, _dir) = common::sqlite_server().await;
    streams(&s).await;
}

#[tokio::test]
async fn streams_on_postgres() {
    let Some((s, dao)) = common::postgres_server().await else {
        return;
    };
    streams(&s).await;
    common::drop_postgres_schema(&dao).await;
}

#[tokio::test]
async fn streams_on_mariadb() {
    let Some((s, dao)) = common::mariadb_server().await else {
        return;
    };
    streams(&s).await;
    common::drop_mariadb_database(&dao).await;
}

/// The import has its own limit, well above the body limit of other routes.
#[tokio::test]
async fn the_import_has_its_own_body_limit() {
    let dir = tempfile::tempdir().unwrap();
    let dao = cheap::connect(&format!("sqlite://{}", dir.path().join("l.db").display()))
        .await
        .unwrap();
    let config = {
        let mut config = ServerConfig::default();
        config.body_limit = 64 * 1024;
        config.import_body_limit = 1024 * 1024;
        config
    };
    let s = common::start(dao, config).await;
    let cat = generated(2000);
    let text = cat.to_json();
    assert!(
        text.len() > 64 * 1024 && text.len() < 1024 * 1024,
        "{}",
        text.len()
    );
    let (status, body) = post_text(&s, "/api/catalog/import", text.clone()).await;
    assert_eq!(status, 201, "{body}");
    // Other routes keep the small limit.
    let (status, _) = post_text(&s, "/api/catalog", "x".repeat(100 * 1024)).await;
    assert_eq!(status, 413);
    // Over the import's limit, declared or not: 413, nothing changes.
    let big = generated(9000).to_json();
    assert!(big.len() > 1024 * 1024);
    let (status, _) = post_text(&s, "/api/catalog/import", big.clone()).await;
    assert_eq!(status, 413);
    // Chunked, with no length declared: counted as it arrives.
    let status = chunked_post(&s, "/api/catalog/import", big.as_bytes()).await;
    assert_eq!(status, Some(413));
    assert_eq!(s.export(cat.id()).await, text);
    assert_eq!(s.dao.catalog_count().await.unwrap(), 1);
}

/// POSTs `body` with `Transfer-Encoding: chunked`; the answer's status, if one came before the
/// server closed the connection.
async fn chunked_post(s: &TestServer, path: &str, body: &[u8]) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = s.base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    for c in body.chunks(64 * 1024) {
        let frame = [format!("{:x}\r\n", c.len()).as_bytes(), c, b"\r\n"].concat();
        if tcp.write_all(&frame).await.is_err() {
            break;
        }
    }
    let _ = tcp.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace().nth(1).and_then(|c| c.parse().ok())
}
