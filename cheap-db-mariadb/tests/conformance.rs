//! The shared conformance suite against the machine's MariaDB. Each test works in a database of
//! its own, dropped at the end, so runs never see each other's data.

use cheap_core::{testkit, CheapDao, CheapError};
use cheap_db_mariadb::{MariaDbDao, MariaDbOptions};
use mysql_async::prelude::Queryable;

/// A store in a fresh database, or `None` (with a notice) when `CHEAP_TEST_MARIADB_URL` is
/// unset, unless `CHEAP_TEST_REQUIRE_ALL=1`, which makes a missing URL a failure.
async fn dao() -> Option<(MariaDbDao, String)> {
    let Ok(url) = std::env::var("CHEAP_TEST_MARIADB_URL") else {
        if std::env::var("CHEAP_TEST_REQUIRE_ALL").as_deref() == Ok("1") {
            panic!("CHEAP_TEST_MARIADB_URL is not set and CHEAP_TEST_REQUIRE_ALL=1");
        }
        eprintln!("skipping MariaDB tests: set CHEAP_TEST_MARIADB_URL (e.g. mysql://root@127.0.0.1:3306/test)");
        return None;
    };
    let db = format!("cheap_test_{}", uuid::Uuid::new_v4().simple());
    let admin = MariaDbOptions::url(&url)
        .init_schema(false)
        .connect()
        .await
        .expect("connect to MariaDB");
    let mut conn = admin.pool().get_conn().await.expect("a connection");
    conn.query_drop(format!("CREATE DATABASE {db}"))
        .await
        .expect("create the test database");
    drop(conn);
    admin.close().await.expect("close");
    let dao = MariaDbOptions::url(&url)
        .database(&db)
        .max_connections(8)
        .connect()
        .await
        .expect("connect to the test database");
    Some((dao, db))
}

async fn drop_database(dao: &MariaDbDao, db: &str) {
    let mut conn = dao.pool().get_conn().await.expect("a connection");
    conn.query_drop(format!("DROP DATABASE {db}"))
        .await
        .expect("drop the test database");
    drop(conn);
    dao.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_passes_the_suite() {
    let Some((dao, db)) = dao().await else {
        return;
    };
    testkit::run_all(&dao).await;
    // Shared defs stored at once in crossed orders can deadlock; those runs are retried.
    eprintln!(
        "transactions run again after losing a race: {}",
        dao.engine().contention_retries()
    );
    drop_database(&dao, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_differing_only_in_case_are_two_keys() {
    let Some((dao, db)) = dao().await else {
        return;
    };
    use cheap_core::{EntityDirectory, Hierarchy, HierarchyContent, HierarchyType};
    let mut catalog = cheap_core::Catalog::new();
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let mut d = EntityDirectory::default();
    d.put("Admin", a);
    d.put("admin", b);
    catalog
        .add_hierarchy(Hierarchy::with_content("Users", HierarchyContent::Directory(d)).unwrap())
        .unwrap();
    catalog
        .add_hierarchy(Hierarchy::new("users", HierarchyType::EntitySet).unwrap())
        .unwrap();
    dao.save_catalog(&catalog).await.unwrap();
    let loaded = dao.load_catalog(catalog.id()).await.unwrap();
    let d = loaded.hierarchy("Users").unwrap().as_directory().unwrap();
    assert_eq!(d.get("Admin"), Some(a));
    assert_eq!(d.get("admin"), Some(b));
    assert!(loaded.hierarchy("users").is_some());
    assert_eq!(loaded.hierarchies().count(), 2);
    drop_database(&dao, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connections_are_unavailable_and_the_pool_recovers() {
    let Some((dao, db)) = dao().await else {
        return;
    };
    let catalog = cheap_core::Catalog::new();
    dao.save_catalog(&catalog).await.unwrap();
    // The pool's connections, killed from a connection of another pool.
    let url = std::env::var("CHEAP_TEST_MARIADB_URL").unwrap();
    let killer = MariaDbOptions::url(&url)
        .init_schema(false)
        .connect()
        .await
        .unwrap();
    let mut k = killer.pool().get_conn().await.unwrap();
    let ids: Vec<u64> = k
        .exec(
            "SELECT id FROM information_schema.processlist WHERE db = ?",
            (db.as_str(),),
        )
        .await
        .unwrap();
    assert!(!ids.is_empty(), "the pool holds no connection to kill");
    for id in ids {
        k.query_drop(format!("KILL {id}")).await.unwrap();
    }
    drop(k);
    let mut recovered = false;
    for _ in 0..20 {
        match dao.catalog_exists(catalog.id()).await {
            Ok(true) => {
                recovered = true;
                break;
            }
            Ok(false) => panic!("the catalog vanished"),
            Err(CheapError::Unavailable(_)) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await
            }
            Err(e) => panic!("a lost connection must be Unavailable, got {e:?}"),
        }
    }
    assert!(recovered, "the pool did not recover");
    killer.close().await.unwrap();
    drop_database(&dao, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_passes_the_table_suite() {
    let Some((dao, db)) = dao().await else {
        return;
    };
    cheap_sql::testkit::run_all(
        dao.engine(),
        &[
            "CREATE TABLE test_data (id INTEGER PRIMARY KEY NOT NULL, numeric_col NUMERIC, real_col DOUBLE,
                text_col TEXT, blob_col BLOB, name VARCHAR(20) NOT NULL, day DATE, flag BOOLEAN)",
            "INSERT INTO test_data VALUES (1, 1, 1.5, 'one', x'010101010101010101', 'a', '2025-01-01', true),
                (2, 2, 2.5, 'two', x'020202020202020202', 'b', NULL, false)",
        ],
    )
    .await;
    drop_database(&dao, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_keeps_the_statement_budget() {
    let Some((dao, db)) = dao().await else {
        return;
    };
    let cost = cheap_sql::testkit::statement_budget(dao.engine()).await;
    // SQLite's, and the catalog's lock row.
    assert_eq!(
        cost,
        cheap_sql::testkit::Budget {
            upsert: 9,
            replace: 8
        },
        "statements of a one-aspect upsert"
    );
    drop_database(&dao, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_cursors_stay_exact() {
    let Some((dao, db)) = dao().await else {
        return;
    };
    cheap_sql::testkit::cursors_stay_exact(dao.engine()).await;
    drop_database(&dao, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_keeps_entry_counts() {
    let Some((dao, db)) = dao().await else {
        return;
    };
    cheap_sql::testkit::entry_counts_are_kept(dao.engine()).await;
    drop_database(&dao, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_mariadb_stores_over_one_database_see_each_others_metadata() {
    let Some((a, db)) = dao().await else {
        return;
    };
    let url = std::env::var("CHEAP_TEST_MARIADB_URL").unwrap();
    let b = MariaDbOptions::url(&url)
        .database(&db)
        .connect()
        .await
        .expect("a second store");
    cheap_sql::testkit::metadata_is_never_stale(a.engine(), b.engine()).await;
    cheap_sql::testkit::watchers_see_other_stores(a.engine(), b.engine(), false).await;
    cheap_sql::testkit::pages_by_number_stay_exact(a.engine(), b.engine()).await;
    cheap_sql::testkit::reads_are_one_snapshot(a.engine(), b.engine()).await;
    b.close().await.unwrap();
    drop_database(&a, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upserts_commit_in_groups_on_mariadb() {
    let Some((dao, db)) = dao().await else {
        return;
    };
    let groups = cheap_sql::testkit::concurrent_upserts(
        dao.engine(),
        std::future::ready(std::future::ready(())),
    )
    .await;
    eprintln!("64 concurrent upserts on MariaDB: {groups} group(s)");
    drop_database(&dao, &db).await;
}
