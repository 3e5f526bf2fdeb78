//! The shared conformance suite on a file database and on an in-memory one.

use cheap_core::testkit;
use cheap_db_sqlite::{SqliteDao, SqliteOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_database_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let dao = SqliteOptions::path(dir.path().join("cheap.db"))
        .connect()
        .await
        .unwrap();
    testkit::run_all(&dao).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_database_passes_the_suite() {
    let dao = SqliteDao::connect("sqlite::memory:").await.unwrap();
    testkit::run_all(&dao).await;
}
