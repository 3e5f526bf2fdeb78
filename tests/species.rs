//! Catalog species that behave: the species suite with SQLite local copies against a SQLite
//! upstream and a memory upstream.
#![cfg(feature = "sqlite")]

use std::sync::Arc;

use cheap::{testkit, CheapDao};

async fn sqlite(dir: &tempfile::TempDir, name: &str) -> Arc<dyn CheapDao> {
    Arc::new(
        cheap::sqlite::SqliteOptions::path(dir.path().join(name))
            .connect()
            .await
            .expect("open"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_replicas_of_a_sqlite_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let local = sqlite(&dir, "local.db").await;
    let upstream = sqlite(&dir, "upstream.db").await;
    testkit::sync::run_all(local, upstream, 20_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_replicas_of_a_memory_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let local = sqlite(&dir, "local.db").await;
    let upstream: Arc<dyn CheapDao> = Arc::new(cheap::MemoryDao::new());
    testkit::sync::run_all(local, upstream, 2_000).await;
}

#[tokio::test]
async fn memory_replicas_of_a_memory_upstream() {
    let local: Arc<dyn CheapDao> = Arc::new(cheap::MemoryDao::new());
    let upstream: Arc<dyn CheapDao> = Arc::new(cheap::MemoryDao::new());
    testkit::sync::run_all(local, upstream, 2_000).await;
}

/// SQLite replicas of a PostgreSQL upstream, and MariaDB replicas of a SQLite upstream.
#[cfg(all(feature = "postgres", feature = "mariadb"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_across_postgres_and_mariadb() {
    use mysql_async::prelude::Queryable;
    let urls = (
        std::env::var("CHEAP_TEST_POSTGRES_URL"),
        std::env::var("CHEAP_TEST_MARIADB_URL"),
    );
    let (Ok(pg_url), Ok(my_url)) = urls else {
        assert!(
            std::env::var("CHEAP_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
            "CHEAP_TEST_POSTGRES_URL and CHEAP_TEST_MARIADB_URL must be set with CHEAP_TEST_REQUIRE_ALL=1"
        );
        eprintln!("skipping: set CHEAP_TEST_POSTGRES_URL and CHEAP_TEST_MARIADB_URL");
        return;
    };
    let name = format!("cheap_species_{}", cheap::Uuid::new_v4().simple());
    let pg = cheap::postgres::PostgresOptions::url(pg_url)
        .schema(&name)
        .connect()
        .await
        .unwrap();
    let admin = cheap::mariadb::MariaDbOptions::url(&my_url)
        .init_schema(false)
        .connect()
        .await
        .unwrap();
    let mut conn = admin.pool().get_conn().await.unwrap();
    conn.query_drop(format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let my = cheap::mariadb::MariaDbOptions::url(&my_url)
        .database(&name)
        .connect()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    testkit::sync::run_all(sqlite(&dir, "local.db").await, Arc::new(pg.clone()), 2_000).await;
    testkit::sync::run_all(
        Arc::new(my.clone()),
        sqlite(&dir, "upstream.db").await,
        2_000,
    )
    .await;
    sqlx::query(&format!("DROP SCHEMA {name} CASCADE"))
        .execute(pg.pool())
        .await
        .unwrap();
    my.close().await.unwrap();
    conn.query_drop(format!("DROP DATABASE {name}"))
        .await
        .unwrap();
    drop(conn);
    admin.close().await.unwrap();
}
