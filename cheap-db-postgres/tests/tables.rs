//! Aspect defs stored in plain tables (the four shapes), and caching an existing table: the
//! shared table suite in a PostgreSQL schema of its own.

use cheap_core::{CheapDao, Uuid};
use cheap_db_postgres::{PostgresDao, PostgresOptions};
use cheap_sql::testkit as tables;

/// A store in a fresh schema, or `None` without `CHEAP_TEST_POSTGRES_URL` (a failure with
/// `CHEAP_TEST_REQUIRE_ALL=1`).
async fn pg() -> Option<PostgresDao> {
    let Ok(url) = std::env::var("CHEAP_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CHEAP_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
            "CHEAP_TEST_POSTGRES_URL is not set and CHEAP_TEST_REQUIRE_ALL=1"
        );
        eprintln!("skipping PostgreSQL tests: set CHEAP_TEST_POSTGRES_URL");
        return None;
    };
    let schema = format!("cheap_test_{}", Uuid::new_v4().simple());
    Some(
        PostgresOptions::url(url)
            .schema(schema)
            .connect()
            .await
            .unwrap(),
    )
}

async fn drop_schema(dao: &PostgresDao) {
    let (schema,): (String,) = sqlx::query_as("SELECT current_schema()::text")
        .fetch_one(dao.pool())
        .await
        .unwrap();
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(dao.pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn postgres_passes_the_table_suite() {
    let Some(dao) = pg().await else { return };
    tables::run_all(
        dao.engine(),
        &[
            "CREATE TABLE test_data (id INTEGER PRIMARY KEY NOT NULL, numeric_col NUMERIC, real_col DOUBLE PRECISION,
                text_col TEXT, blob_col BYTEA, name VARCHAR(20) NOT NULL, day DATE, flag BOOLEAN)",
            "INSERT INTO test_data VALUES (1, 1, 1.5, 'one', decode('010101010101010101', 'hex'), 'a', '2025-01-01', true),
                (2, 2, 2.5, 'two', decode('020202020202020202', 'hex'), 'b', NULL, false)",
        ],
    )
    .await;
    drop_schema(&dao).await;
}

#[tokio::test]
async fn postgres_keeps_the_statement_budget() {
    let Some(dao) = pg().await else { return };
    let cost = tables::statement_budget(dao.engine()).await;
    // SQLite's, and the catalog's advisory lock.
    assert_eq!(
        cost,
        tables::Budget {
            upsert: 9,
            replace: 8
        },
        "statements of a one-aspect upsert"
    );
    drop_schema(&dao).await;
}

#[tokio::test]
async fn postgres_cursors_stay_exact() {
    let Some(dao) = pg().await else { return };
    tables::cursors_stay_exact(dao.engine()).await;
    drop_schema(&dao).await;
}

#[tokio::test]
async fn postgres_keeps_entry_counts() {
    let Some(dao) = pg().await else { return };
    tables::entry_counts_are_kept(dao.engine()).await;
    drop_schema(&dao).await;
}

#[tokio::test]
async fn two_postgres_stores_over_one_schema_see_each_others_metadata() {
    let Some(a) = pg().await else { return };
    let (schema,): (String,) = sqlx::query_as("SELECT current_schema()::text")
        .fetch_one(a.pool())
        .await
        .unwrap();
    let url = std::env::var("CHEAP_TEST_POSTGRES_URL").unwrap();
    let b = PostgresOptions::url(url)
        .schema(schema)
        .connect()
        .await
        .unwrap();
    tables::metadata_is_never_stale(a.engine(), b.engine()).await;
    tables::watchers_see_other_stores(a.engine(), b.engine(), true).await;
    tables::pages_by_number_stay_exact(a.engine(), b.engine()).await;
    tables::reads_are_one_snapshot(a.engine(), b.engine()).await;
    b.close().await.unwrap();
    drop_schema(&a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upserts_commit_in_groups_on_postgres() {
    let Some(dao) = pg().await else { return };
    let groups =
        tables::concurrent_upserts(dao.engine(), std::future::ready(std::future::ready(()))).await;
    eprintln!("64 concurrent upserts on PostgreSQL: {groups} group(s)");
    drop_schema(&dao).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_postgres_group_is_retried_alone() {
    let Some(dao) = pg().await else { return };
    tables::a_failed_group_is_retried_alone(dao.engine()).await;
    drop_schema(&dao).await;
}
