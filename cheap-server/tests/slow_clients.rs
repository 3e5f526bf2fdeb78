//! The server outlasts slow and abusive clients: half-sent requests time out, connections are
//! capped with a graceful refusal, health answers throughout, slow bodies are 408, declared
//! oversize bodies 413 from the headers, and a GET carrying a body leaves its connection usable.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cheap_core::CheapDao;
use cheap_server::{ConnectionLimits, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn addr(s: &common::TestServer) -> String {
    s.base.trim_start_matches("http://").to_owned()
}

/// Sends `head` (and maybe part of a body) and returns the status line of the answer, or `None`
/// when the server closed without one.
async fn status_line(stream: &mut TcpStream) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    text.lines()
        .next()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_neither_starve_health_nor_outlive_their_deadline() {
    // Client and server share this process: 1,100 sockets each.
    rlimit::increase_nofile_limit(8192).unwrap();
    let dao: Arc<dyn CheapDao> = Arc::new(cheap_core::MemoryDao::new());
    let limits = ConnectionLimits::default()
        .with_max_connections(1000)
        .with_header_read_timeout(Duration::from_secs(3));
    let s = common::start_with_limits(dao, ServerConfig::default(), limits).await;
    let (status, body) = s
        .post("/api/catalog", &serde_json::json!({"species": "sink"}))
        .await;
    assert_eq!(status, 201, "{body}");

    let mut half_open = Vec::new();
    for _ in 0..1100 {
        let mut c = TcpStream::connect(addr(&s)).await.unwrap();
        c.write_all(b"GET /api/catalog HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        half_open.push(c);
    }
    // Health answers within a second throughout, each time on a new connection.
    let fresh = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(1))
            .build()
            .unwrap()
    };
    // Over the cap, anything but health is told to come back: checked first, well before the
    // oldest connections reach their deadline.
    let r = fresh().get(s.url("/api/catalog")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    for i in 0..10 {
        let r = fresh().get(s.url("/health")).send().await;
        match r {
            Ok(r) => assert_eq!(r.status(), 200, "health, round {i}"),
            Err(e) => panic!("health did not answer within a second in round {i}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The deadline closes every half-sent request.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut still_open = 0;
    for c in &mut half_open {
        let mut b = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(50), c.read(&mut b)).await {
            Ok(Ok(_)) | Ok(Err(_)) => {} // closed (with or without an answer)
            Err(_) => still_open += 1,
        }
    }
    assert_eq!(still_open, 0, "half-sent requests past their deadline");
    drop(half_open);

    // Afterwards the server works as before.
    let (status, body) = s.get("/api/catalog").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.dao.catalog_count().await.unwrap(), 1);
    let (status, body) = s
        .post("/api/catalog", &serde_json::json!({"species": "sink"}))
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn a_slow_body_is_408_and_stores_nothing() {
    let dao: Arc<dyn CheapDao> = Arc::new(cheap_core::MemoryDao::new());
    let config = {
        let mut config = ServerConfig::default();
        config.body_read_timeout = Duration::from_secs(1);
        config
    };
    let s = common::start(dao, config).await;
    let mut c = TcpStream::connect(addr(&s)).await.unwrap();
    c.write_all(
        b"POST /api/catalog HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"spec",
    )
    .await
    .unwrap();
    let line = tokio::time::timeout(Duration::from_secs(10), status_line(&mut c))
        .await
        .expect("an answer before the request timeout");
    assert!(
        line.as_deref().is_some_and(|l| l.contains(" 408 ")),
        "{line:?}"
    );
    assert_eq!(s.dao.catalog_count().await.unwrap(), 0);
}

#[tokio::test]
async fn a_declared_oversize_body_is_413_before_it_is_sent() {
    let dao: Arc<dyn CheapDao> = Arc::new(cheap_core::MemoryDao::new());
    let s = common::start(dao, ServerConfig::default()).await;
    // Past the body limit, and past the import's own (larger) limit.
    for (path, length) in [
        ("/api/catalog", 1_000_000_000u64),
        ("/api/catalog/import", 5_000_000_000),
    ] {
        let mut c = TcpStream::connect(addr(&s)).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        );
        c.write_all(head.as_bytes()).await.unwrap();
        let line = tokio::time::timeout(Duration::from_secs(5), status_line(&mut c))
            .await
            .expect("answered from the headers");
        assert!(
            line.as_deref().is_some_and(|l| l.contains(" 413 ")),
            "{path}: {line:?}"
        );
    }
    assert_eq!(s.dao.catalog_count().await.unwrap(), 0);
}

/// A catalog whose export is several megabytes: the reset showed on large answers, which the
/// server was still writing when it closed a connection with an unread body.
fn big_catalog() -> cheap_core::Catalog {
    use cheap_core::{Aspect, AspectDef, Catalog, PropertyDef, PropertyType};
    let def = AspectDef::builder("note")
        .property(PropertyDef::new("text", PropertyType::Text))
        .build()
        .unwrap()
        .into_arc();
    let mut c = Catalog::new();
    let m = c.extend(def.clone()).unwrap();
    for i in 0..20_000 {
        let a = Aspect::builder(def.clone(), uuid::Uuid::new_v4())
            .set("text", format!("{i:0>200}"))
            .build()
            .unwrap();
        m.put(a).unwrap();
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_with_a_body_leaves_the_connection_usable() {
    use cheap_core::json::ToJson;
    let dao: Arc<dyn CheapDao> = Arc::new(cheap_core::MemoryDao::new());
    let s = common::start(dao, ServerConfig::default()).await;
    let cat = big_catalog();
    let id = cat.id();
    let r = s
        .http
        .post(s.url("/api/catalog/import"))
        .header("content-type", "application/json")
        .body(cat.to_json())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let path = s.url(&format!("/api/catalog/{id}/export"));
    let want = client
        .get(&path)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(want.len() > 4_000_000, "{} bytes", want.len());
    let body = vec![b'x'; 8 << 20];
    for i in 0..10 {
        let r = client
            .get(&path)
            .body(body.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(r.status(), 200);
        let got = r.bytes().await.unwrap_or_else(|e| panic!("body {i}: {e}"));
        assert!(
            got == want,
            "request {i}: {} bytes of {}",
            got.len(),
            want.len()
        );
    }
}

#[tokio::test]
async fn a_request_past_its_deadline_is_503_with_an_error_body_and_loses_nothing() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("deadline.db").display());
    let dao = cheap::connect(&url).await.unwrap();
    let config = {
        let mut config = ServerConfig::default();
        config.request_timeout = Duration::from_millis(300);
        config
    };
    let s = common::start(dao, config).await;
    let (status, body) = s
        .post("/api/catalog", &serde_json::json!({"species": "sink"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let stored = body["catalogId"].as_str().unwrap().to_owned();

    // Another process's write transaction holds the file's lock past the deadline (the
    // store waits up to its 5 s busy timeout).
    let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    let response = reqwest::Client::new()
        .post(s.url("/api/catalog"))
        .header("x-request-id", "deadline-1")
        .json(&serde_json::json!({"species": "sink"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["x-request-id"], "deadline-1");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], 503, "{body}");
    assert_eq!(body["path"], "/api/catalog", "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("300 ms")),
        "{body}"
    );
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();
    // The catalog stored before is intact, and the server goes on answering.
    let (status, body) = s.get(&format!("/api/catalog/{stored}")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = s.get("/api/catalog").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.to_string().contains(&stored),
        "the catalog stored before is listed: {body}"
    );
}
