//! The engine's metadata cache and statement budget on a SQLite file: two stores over one file
//! never serve each other stale metadata, and a request's calls cost what DESIGN.md allows.

use cheap_db_sqlite::{SqliteDao, SqliteOptions};
use cheap_sql::testkit;

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
    let upsert = testkit::statement_budget(dao.engine()).await;
    // The catalog row (metadata from the cache); existing positions and the next one in one
    // read; the replaced values deleted; aspect, map and value rows; the catalog's version and
    // the map's stamp; the change row.
    assert_eq!(upsert, 9, "statements of a one-aspect upsert");
}

#[tokio::test]
async fn two_sqlite_stores_over_one_file_see_each_others_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let a = open(&path).await;
    let b = open(&path).await;
    testkit::metadata_is_never_stale(a.engine(), b.engine()).await;
}
