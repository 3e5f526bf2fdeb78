//! Client mistakes are 4xx with the error body, never 500, and change nothing that is stored.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{fixture, sqlite_server, start};
use serde_json::{json, Value};

async fn snapshot(s: &common::TestServer, id: &str) -> String {
    let (status, body) = s.get(&format!("/api/catalog/{id}/export")).await;
    assert_eq!(status, 200);
    body.to_string()
}

#[tokio::test]
async fn malformed_requests_are_4xx_and_lose_nothing() {
    let (s, _dir) = sqlite_server().await;
    let id = s
        .create_catalog("http/hierarchy/create-catalog-with-hierarchies.json")
        .await;
    s.post(
        &format!("/api/catalog/{id}/aspects/person"),
        &fixture("http/aspect/upsert-aspects-request.json"),
    )
    .await;
    let before = snapshot(&s, &id).await;
    let raw = |method: reqwest::Method, path: String, ct: &'static str, body: &'static str| {
        let http = s.http.clone();
        let url = s.url(&path);
        async move {
            let r = http
                .request(method, url)
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };
    use reqwest::Method as M;
    let cases = vec![
        (raw(M::POST, "/api/catalog".into(), "application/json", "{not json").await, 400),
        (raw(M::POST, "/api/catalog".into(), "application/json", r#"{"species":"SINK","surprise":1}"#).await, 400),
        (raw(M::POST, "/api/catalog".into(), "application/json", r#"{"species":"PET"}"#).await, 400),
        (raw(M::POST, "/api/catalog".into(), "application/json", r#"{"species":"MIRROR"}"#).await, 400),
        (raw(M::POST, "/api/catalog".into(), "text/plain", r#"{"species":"SINK"}"#).await, 415),
        (raw(M::GET, "/api/catalog/not-a-uuid".into(), "application/json", "").await, 400),
        (raw(M::GET, "/api/catalog?size=-1".into(), "application/json", "").await, 400),
        (raw(M::GET, "/api/catalog?page=-1".into(), "application/json", "").await, 400),
        (raw(M::GET, "/api/catalog?size=abc".into(), "application/json", "").await, 400),
        (raw(M::POST, format!("/api/catalog/{id}/hierarchies/people/entities"), "application/json", r#"{"entityIds":["nope"]}"#).await, 400),
        (raw(M::POST, format!("/api/catalog/{id}/hierarchies/people/entities"), "application/json", r#"{"entityIds":"x"}"#).await, 400),
        (raw(M::POST, format!("/api/catalog/{id}/hierarchies"), "application/json", r#"{"hierarchyDef":{"name":"x","type":"AM"}}"#).await, 400),
        (raw(M::POST, format!("/api/catalog/{id}/hierarchies"), "application/json", r#"{"hierarchyDef":{"name":"person","type":"EL"}}"#).await, 409),
        (raw(M::POST, format!("/api/catalog/{id}/hierarchies/categories/nodes"), "application/json", r#"{"nodes":{"a/b":null}}"#).await, 400),
        (raw(M::POST, format!("/api/catalog/{id}/aspect-defs"), "application/json", r#"{"name":"x"}"#).await, 400),
        (raw(M::POST, format!("/api/catalog/{id}/aspect-defs"), "application/json", r#"{"name":"x","globalId":"0e000000-0000-0000-0000-000000000001","propertyDefs":[{"name":"a","type":"Integr"}]}"#).await, 400),
        (raw(M::POST, format!("/api/catalog/{id}/aspects/query"), "application/json", r#"{"entityIds":null}"#).await, 400),
        (raw(M::GET, "/api/nowhere".into(), "application/json", "").await, 404),
        (raw(M::PUT, "/api/catalog".into(), "application/json", "{}").await, 405),
        (raw(M::PATCH, format!("/api/catalog/{id}"), "application/json", "{}").await, 405),
    ];
    for (i, ((status, body), want)) in cases.into_iter().enumerate() {
        assert_eq!(status, want, "case {i}: {body}");
        assert_eq!(body["status"], want, "case {i}: error body {body}");
        assert!(
            body["timestamp"].is_string()
                && body["message"].is_string()
                && body["path"].is_string()
                && body["error"].is_string(),
            "case {i}: {body}"
        );
    }
    assert_eq!(snapshot(&s, &id).await, before, "nothing changed");
}

#[tokio::test]
async fn deeply_nested_json_is_400_not_a_crash() {
    let dao: Arc<dyn cheap_core::CheapDao> = Arc::new(cheap_core::MemoryDao::new());
    let s = start(dao, Default::default()).await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000));
    for path in [
        "/api/catalog",
        "/api/catalog/import",
        "/api/catalog/00000000-0000-0000-0000-000000000001/aspects/x",
    ] {
        for body in [&deep, &deep_object] {
            let r = s
                .http
                .post(s.url(path))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert!(
                r.status().is_client_error(),
                "{path}: {} for nested JSON",
                r.status()
            );
        }
    }
    assert_eq!(s.dao.catalog_count().await.unwrap(), 0);
    assert_eq!(s.get("/health").await.0, 200, "the server is still up");
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let dao: Arc<dyn cheap_core::CheapDao> = Arc::new(cheap_core::MemoryDao::new());
    let config = {
        let mut config = cheap_server::ServerConfig::default();
        config.body_limit = 1024;
        config
    };
    let s = start(dao, config).await;
    let big = json!({"species": "SINK", "catalogDef": {"hierarchyDefs": [{"name": "x".repeat(5000), "type": "EL"}]}});
    let (status, body) = s.post("/api/catalog", &big).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(s.dao.catalog_count().await.unwrap(), 0);
}

#[tokio::test]
async fn extensions_delete_export_import_stream_health_metrics_docs() {
    let (s, _dir) = sqlite_server().await;
    let full = fixture("full-catalog.json");
    let (status, body) = s.post("/api/catalog/import", &full).await;
    assert_eq!(status, 201, "{body}");
    let id = body["catalogId"].as_str().unwrap().to_owned();
    let (status, exported) = s.get(&format!("/api/catalog/{id}/export")).await;
    assert_eq!(status, 200);
    assert_eq!(exported, full, "export gives back what was imported");

    let stream = s
        .http
        .get(s.url("/api/catalogs/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.headers()["content-type"], "application/x-ndjson");
    let text = stream.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, vec![full.clone()]);

    for path in ["/health", "/actuator/health"] {
        let (status, body) = s.get(path).await;
        assert_eq!((status, body), (200, json!({"status": "UP"})));
    }
    let (_, metrics) = s.text("/metrics").await;
    assert!(
        metrics.contains("cheap_dao_operations_total{op=\"import_catalog\"} 1"),
        "{metrics}"
    );
    let (status, docs) = s.get("/api-docs").await;
    assert_eq!(status, 200);
    let paths = docs["paths"].as_object().unwrap();
    for p in [
        "/api/catalog",
        "/api/catalog/{catalog_id}/hierarchies/{name}/nodes",
        "/api/catalog/{catalog_id}/aspects/{aspect_def}",
        "/health",
    ] {
        assert!(paths.contains_key(p), "{p} documented");
    }

    let (status, _) = s
        .delete(&format!("/api/catalog/{id}/hierarchies/taskQueue"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = s
        .delete(&format!("/api/catalog/{id}/aspect-defs/document"), None)
        .await;
    assert_eq!(status, 204);
    let (_, def) = s.get(&format!("/api/catalog/{id}")).await;
    assert_eq!(def["aspectDefs"].as_array().unwrap().len(), 1);
    assert_eq!(def["hierarchyDefs"].as_array().unwrap().len(), 3);
    let (status, _) = s.delete(&format!("/api/catalog/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, _) = s.delete(&format!("/api/catalog/{id}"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn api_key_guards_everything_but_health() {
    let dao: Arc<dyn cheap_core::CheapDao> = Arc::new(cheap_core::MemoryDao::new());
    let config = {
        let mut config = cheap_server::ServerConfig::default();
        config.api_key = Some("s3cret".into());
        config
    };
    let s = start(dao, config).await;
    let (status, _) = s.get("/api/catalog").await;
    assert_eq!(status, 401);
    let (status, _) = s.get("/health").await;
    assert_eq!(status, 200);
    let r = s
        .http
        .get(s.url("/api/catalog"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = s
        .http
        .get(s.url("/api/catalog"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    // The scheme is case-insensitive; a 401 says which scheme to use.
    let r = s
        .http
        .get(s.url("/api/catalog"))
        .header("authorization", "bearer s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for auth in [None, Some("Basic s3cret"), Some("Bearer"), Some("Bearer ")] {
        let mut req = s.http.get(s.url("/api/catalog"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        assert_eq!(
            r.headers().get("www-authenticate").map(|v| v.as_bytes()),
            Some(&b"Bearer"[..]),
            "{auth:?}"
        );
    }
}

#[tokio::test]
async fn an_empty_configured_key_lets_nobody_in() {
    let dao: Arc<dyn cheap_core::CheapDao> = Arc::new(cheap_core::MemoryDao::new());
    let config = {
        let mut config = cheap_server::ServerConfig::default();
        config.api_key = Some(String::new());
        config
    };
    let s = start(dao, config).await;
    assert_eq!(s.get("/api/catalog").await.0, 401);
    let r = s
        .http
        .get(s.url("/api/catalog"))
        .header("authorization", "Bearer ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_database_that_is_down_is_503_and_recovers() {
    use cheap_core::CheapDao;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let setup = cheap_db_sqlite::SqliteOptions::path(&db)
        .connect()
        .await
        .unwrap();
    let mut catalog = cheap_core::Catalog::new();
    catalog.create_entity_list("l").unwrap();
    setup.save_catalog(&catalog).await.unwrap();
    setup.close().await.unwrap();
    // mode=rw: a missing file is an error, not a new empty database. Every request opens a
    // fresh connection (max lifetime 1 ms), so the server sees the file go and come back.
    let dao = cheap_db_sqlite::SqliteOptions::url(format!("sqlite://{}?mode=rw", db.display()))
        .init_schema(false)
        .min_connections(0)
        .max_lifetime(Some(Duration::from_millis(1)))
        .acquire_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap();
    let s = start(Arc::new(dao), Default::default()).await;
    let (status, _) = s.get("/health").await;
    assert_eq!(status, 200);

    tokio::time::sleep(Duration::from_millis(20)).await;
    let away = dir.path().join("away.sqlite");
    std::fs::rename(&db, &away).unwrap();
    let (status, body) = s.get("/health").await;
    assert_eq!((status, body), (503, json!({"status": "DOWN"})));
    let (status, body) = s.get(&format!("/api/catalog/{}", catalog.id())).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], 503);

    std::fs::rename(&away, &db).unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (status, _) = s.get("/health").await;
    assert_eq!(status, 200, "recovered without a restart");
    let (status, body) = s
        .get(&format!("/api/catalog/{}/hierarchies/l", catalog.id()))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_bad_host_header_is_400_and_forwarded_headers_need_trust() {
    let dao: Arc<dyn cheap_core::CheapDao> = Arc::new(cheap_core::MemoryDao::new());
    let s = start(dao.clone(), Default::default()).await;
    let create = |host: &'static str, fwd: Option<&'static str>| {
        let mut r = s
            .http
            .post(s.url("/api/catalog"))
            .header("host", host)
            .json(&json!({"species": "sink"}));
        if let Some(f) = fwd {
            r = r
                .header("x-forwarded-host", f)
                .header("x-forwarded-proto", "https");
        }
        r.send()
    };
    let r = create("a\"b<script>", None).await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(dao.catalog_count().await.unwrap(), 0, "nothing stored");
    let r = create("cheap.local:8080", Some("evil.example"))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["uri"]
            .as_str()
            .unwrap()
            .starts_with("http://cheap.local:8080/api/catalog/"),
        "untrusted forwarded headers are ignored: {body}"
    );

    let trusting = start(dao, {
        let mut config = cheap_server::ServerConfig::default();
        config.trust_forwarded = true;
        config
    })
    .await;
    let r = trusting
        .http
        .post(trusting.url("/api/catalog"))
        .header("x-forwarded-host", "api.example.com")
        .header("x-forwarded-proto", "https")
        .json(&json!({"species": "sink"}))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["uri"]
            .as_str()
            .unwrap()
            .starts_with("https://api.example.com/api/catalog/"),
        "{body}"
    );
}
