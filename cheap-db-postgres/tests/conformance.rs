//! The shared conformance suite against the machine's PostgreSQL. Each test works in a schema
//! of its own, dropped at the end, so runs never see each other's data.

use cheap_core::{testkit, CheapDao};
use cheap_db_postgres::{PostgresDao, PostgresOptions};

/// A store in a fresh schema, or `None` (with a notice) when `CHEAP_TEST_POSTGRES_URL` is unset,
/// unless `CHEAP_TEST_REQUIRE_ALL=1`, which makes a missing URL a failure.
async fn dao() -> Option<(PostgresDao, String)> {
    let Ok(url) = std::env::var("CHEAP_TEST_POSTGRES_URL") else {
        if std::env::var("CHEAP_TEST_REQUIRE_ALL").as_deref() == Ok("1") {
            panic!("CHEAP_TEST_POSTGRES_URL is not set and CHEAP_TEST_REQUIRE_ALL=1");
        }
        eprintln!("skipping PostgreSQL tests: set CHEAP_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test)");
        return None;
    };
    let schema = format!("cheap_test_{}", uuid::Uuid::new_v4().simple());
    let dao = PostgresOptions::url(url)
        .schema(&schema)
        .connect()
        .await
        .expect("connect to PostgreSQL");
    Some((dao, schema))
}

async fn drop_schema(dao: &PostgresDao, schema: &str) {
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(dao.pool())
        .await
        .expect("drop the test schema");
    dao.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_suite() {
    let Some((dao, schema)) = dao().await else {
        return;
    };
    testkit::run_all(&dao).await;
    // Shared defs stored at once in crossed orders can deadlock; those runs are retried.
    eprintln!(
        "transactions run again after losing a race: {}",
        dao.engine().contention_retries()
    );
    drop_schema(&dao, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_connections_are_unavailable_and_the_pool_recovers() {
    let Some((dao, schema)) = dao().await else {
        return;
    };
    let catalog = cheap_core::Catalog::new();
    dao.save_catalog(&catalog).await.unwrap();
    // Kill the server process serving this test's pool, from a connection of its own.
    let url = std::env::var("CHEAP_TEST_POSTGRES_URL").unwrap();
    let killer = PostgresOptions::url(url)
        .init_schema(false)
        .max_connections(1)
        .connect()
        .await
        .unwrap();
    // The pool's connection (it keeps one): terminate it under the pool's feet.
    let ours: Vec<(i32,)> = sqlx::query_as("SELECT pg_backend_pid()")
        .fetch_all(dao.pool())
        .await
        .unwrap();
    for (pid,) in &ours {
        let _: (bool,) = sqlx::query_as("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(killer.pool())
            .await
            .unwrap();
    }
    // The next calls may fail, but only as Unavailable, and the pool comes back by itself.
    let mut recovered = false;
    for _ in 0..20 {
        match dao.catalog_exists(catalog.id()).await {
            Ok(true) => {
                recovered = true;
                break;
            }
            Ok(false) => panic!("the catalog vanished"),
            Err(cheap_core::CheapError::Unavailable(_)) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await
            }
            Err(e) => panic!("a lost connection must be Unavailable, got {e:?}"),
        }
    }
    assert!(recovered, "the pool did not recover");
    killer.close().await.unwrap();
    drop_schema(&dao, &schema).await;
}
