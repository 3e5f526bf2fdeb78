//! The engine's metadata cache and statement budget on a SQLite file: two stores over one file
//! never serve each other stale metadata, and a request's calls cost what DESIGN.md allows.

use cheap_db_sqlite::{SqliteDao, SqliteOptions};
use cheap_sql::testkit;
use sqlx::Connection;

async fn open(path: &std::path::Path) -> SqliteDao {
    SqliteOptions::path(path)
        .connect()
        .await
        .expect("open the database")
}

#[tokio::test]
async fn sqlite_keeps_the_statement_budget() {
    let dir = tempfile::tempdir().unwrap();
    let dao = open(&dir.path().join("b.db")).await;
    let cost = testkit::statement_budget(dao.engine()).await;
    // The catalog row (metadata from the cache); existing positions and the next one in one
    // read; aspect, map and value rows; the catalog's version and the map's stamp; the change
    // row. Replacing an aspect deletes its values instead of writing aspect and map rows.
    assert_eq!(
        cost,
        testkit::Budget {
            upsert: 8,
            replace: 7
        },
        "statements of a one-aspect upsert"
    );
}

#[tokio::test]
async fn sqlite_cursors_stay_exact() {
    let dir = tempfile::tempdir().unwrap();
    let dao = open(&dir.path().join("k.db")).await;
    testkit::cursors_stay_exact(dao.engine()).await;
}

#[tokio::test]
async fn sqlite_keeps_entry_counts() {
    let dir = tempfile::tempdir().unwrap();
    let dao = open(&dir.path().join("c.db")).await;
    testkit::entry_counts_are_kept(dao.engine()).await;
}

#[tokio::test]
async fn two_sqlite_stores_over_one_file_see_each_others_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let a = open(&path).await;
    let b = open(&path).await;
    testkit::metadata_is_never_stale(a.engine(), b.engine()).await;
    testkit::watchers_see_other_stores(a.engine(), b.engine(), false).await;
}

#[tokio::test]
async fn sqlite_pages_by_number_stay_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let (a, b) = (open(&path).await, open(&path).await);
    testkit::pages_by_number_stay_exact(a.engine(), b.engine()).await;
    testkit::reads_are_one_snapshot(a.engine(), b.engine()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upserts_commit_in_groups_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let dao = open(&path).await;
    let free =
        testkit::concurrent_upserts(dao.engine(), std::future::ready(std::future::ready(()))).await;
    eprintln!("64 concurrent upserts, writer free: {free} group(s)");
    // While another connection holds the database's write lock, the writes queue behind the
    // first group's transaction: the next group takes them all.
    let url = format!("sqlite://{}", path.display());
    // The gate takes the lock and hands back the future that releases it.
    #[allow(clippy::async_yields_async)]
    let gate = async {
        let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut holder)
            .await
            .unwrap();
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
        }
    };
    let held = testkit::concurrent_upserts(dao.engine(), gate).await;
    eprintln!("64 concurrent upserts behind a held lock: {held} group(s)");
    assert!(
        held < 63,
        "writes queued behind a lock commit together: {held} groups"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sqlite_group_is_retried_alone() {
    let dir = tempfile::tempdir().unwrap();
    let dao = open(&dir.path().join("r.db")).await;
    testkit::a_failed_group_is_retried_alone(dao.engine()).await;
}

/// Each connection's `cache_size` (negative: KiB), read on one of the pool's connections.
async fn cache_size(dao: &SqliteDao) -> i64 {
    use cheap_sql::SqlBackend;
    let mut conn = dao
        .engine()
        .backend()
        .connect(cheap_sql::TxMode::None)
        .await
        .expect("a connection");
    conn.fetch_int("PRAGMA cache_size", &[])
        .await
        .expect("cache_size")
}

#[tokio::test]
async fn the_page_cache_is_the_pools_shared_out_between_its_connections() {
    let dir = tempfile::tempdir().unwrap();
    let default = open(&dir.path().join("d.db")).await;
    // 64 MiB over 8 connections.
    assert_eq!(cache_size(&default).await, -8192);
    let small = SqliteOptions::path(dir.path().join("s.db"))
        .page_cache(16 << 20)
        .connect()
        .await
        .unwrap();
    assert_eq!(cache_size(&small).await, -2048);
}
