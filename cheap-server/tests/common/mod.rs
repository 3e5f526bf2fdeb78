//! A real server on 127.0.0.1 for the tests, and small HTTP helpers.
#![allow(dead_code)]

use std::sync::Arc;

use cheap_core::CheapDao;
use cheap_server::ServerConfig;
use serde_json::Value;

pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    pub dao: Arc<dyn CheapDao>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

pub async fn start(dao: Arc<dyn CheapDao>, config: ServerConfig) -> TestServer {
    start_with_limits(dao, config, cheap_server::ConnectionLimits::default()).await
}

pub async fn start_with_limits(
    dao: Arc<dyn CheapDao>,
    config: ServerConfig,
    limits: cheap_server::ConnectionLimits,
) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = cheap_server::router(dao.clone(), config);
    tokio::spawn(async move {
        cheap_server::serve_with_limits(listener, app, limits, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    TestServer {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        dao,
        _shutdown: tx,
    }
}

pub async fn sqlite_server() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let dao = cheap_db_sqlite_for_tests(&dir).await;
    (start(dao, ServerConfig::default()).await, dir)
}

async fn cheap_db_sqlite_for_tests(dir: &tempfile::TempDir) -> Arc<dyn CheapDao> {
    cheap::connect(&format!(
        "sqlite://{}",
        dir.path().join("server.db").display()
    ))
    .await
    .unwrap()
}

pub fn fixture(path: &str) -> Value {
    let text = std::fs::read_to_string(format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            cheap_core::json::from_slice(text.as_bytes()).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.send(reqwest::Method::DELETE, path, body).await
    }

    /// `GET path`: the status and the body as text.
    pub async fn text(&self, path: &str) -> (u16, String) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// `GET /api/catalog/{id}/export` as text; it must answer 200.
    pub async fn export(&self, id: impl std::fmt::Display) -> String {
        let r = self
            .http
            .get(self.url(&format!("/api/catalog/{id}/export")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    }

    /// Creates a catalog from a request fixture and returns its id.
    pub async fn create_catalog(&self, fixture_path: &str) -> String {
        let (status, body) = self.post("/api/catalog", &fixture(fixture_path)).await;
        assert_eq!(status, 201, "{body}");
        body["catalogId"].as_str().unwrap().to_owned()
    }
}

/// A server on a fresh PostgreSQL schema, or `None` (with a notice) without
/// `CHEAP_TEST_POSTGRES_URL`; with `CHEAP_TEST_REQUIRE_ALL=1` a missing URL fails.
pub async fn postgres_server() -> Option<(TestServer, cheap::postgres::PostgresDao)> {
    let Ok(url) = std::env::var("CHEAP_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CHEAP_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
            "CHEAP_TEST_POSTGRES_URL is not set and CHEAP_TEST_REQUIRE_ALL=1"
        );
        eprintln!("skipping the PostgreSQL run: set CHEAP_TEST_POSTGRES_URL");
        return None;
    };
    let schema = format!("cheap_srv_{}", uuid::Uuid::new_v4().simple());
    let dao = cheap::postgres::PostgresOptions::url(url)
        .schema(schema)
        .connect()
        .await
        .unwrap();
    Some((
        start(Arc::new(dao.clone()), ServerConfig::default()).await,
        dao,
    ))
}

/// Another store over the schema `dao` works in, with its own pool and metadata cache, as a
/// second `cheap serve` process has.
pub async fn postgres_peer(dao: &cheap::postgres::PostgresDao) -> cheap::postgres::PostgresDao {
    let (schema,): (String,) = sqlx::query_as("SELECT current_schema()::text")
        .fetch_one(dao.pool())
        .await
        .unwrap();
    let url = std::env::var("CHEAP_TEST_POSTGRES_URL").unwrap();
    cheap::postgres::PostgresOptions::url(url)
        .schema(schema)
        .connect()
        .await
        .unwrap()
}

/// Drops the schema a [`postgres_server`] worked in.
pub async fn drop_postgres_schema(dao: &cheap::postgres::PostgresDao) {
    let (schema,): (String,) = sqlx::query_as("SELECT current_schema()::text")
        .fetch_one(dao.pool())
        .await
        .unwrap();
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(dao.pool())
        .await
        .unwrap();
}

/// A server on a fresh MariaDB database, or `None` (with a notice) without
/// `CHEAP_TEST_MARIADB_URL`; with `CHEAP_TEST_REQUIRE_ALL=1` a missing URL fails.
pub async fn mariadb_server() -> Option<(TestServer, cheap::mariadb::MariaDbDao)> {
    use mysql_async::prelude::Queryable;
    let Ok(url) = std::env::var("CHEAP_TEST_MARIADB_URL") else {
        assert!(
            std::env::var("CHEAP_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
            "CHEAP_TEST_MARIADB_URL is not set and CHEAP_TEST_REQUIRE_ALL=1"
        );
        eprintln!("skipping the MariaDB run: set CHEAP_TEST_MARIADB_URL");
        return None;
    };
    let db = format!("cheap_srv_{}", uuid::Uuid::new_v4().simple());
    let admin = cheap::mariadb::MariaDbOptions::url(&url)
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
    let dao = cheap::mariadb::MariaDbOptions::url(&url)
        .database(db)
        .connect()
        .await
        .unwrap();
    Some((
        start(Arc::new(dao.clone()), ServerConfig::default()).await,
        dao,
    ))
}

/// Drops the database a [`mariadb_server`] worked in.
pub async fn drop_mariadb_database(dao: &cheap::mariadb::MariaDbDao) {
    use mysql_async::prelude::Queryable;
    let mut conn = dao.pool().get_conn().await.unwrap();
    let db: Option<String> = conn.query_first("SELECT DATABASE()").await.unwrap();
    conn.query_drop(format!("DROP DATABASE {}", db.unwrap()))
        .await
        .unwrap();
}
