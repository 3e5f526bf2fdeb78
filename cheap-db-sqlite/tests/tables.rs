//! Aspect defs stored in plain tables (the four shapes), and caching an existing table: the
//! shared table suite on a SQLite file.

use cheap_db_sqlite::{SqliteDao, SqliteOptions};
use cheap_sql::testkit as tables;

async fn dao(dir: &tempfile::TempDir) -> SqliteDao {
    SqliteOptions::path(dir.path().join("t.db"))
        .connect()
        .await
        .expect("open the database")
}

#[tokio::test]
async fn sqlite_passes_the_table_suite() {
    let dir = tempfile::tempdir().unwrap();
    let dao = dao(&dir).await;
    tables::run_all(
        dao.engine(),
        &[
            "CREATE TABLE test_data (id INTEGER PRIMARY KEY NOT NULL, numeric_col NUMERIC, real_col REAL,
                text_col TEXT, blob_col BLOB, name VARCHAR(20) NOT NULL, day DATE, flag BOOLEAN)",
            "INSERT INTO test_data VALUES (1, 1, 1.5, 'one', x'010101010101010101', 'a', '2025-01-01', 1),
                (2, 2, 2.5, 'two', x'020202020202020202', 'b', NULL, 0)",
        ],
    )
    .await;
}
