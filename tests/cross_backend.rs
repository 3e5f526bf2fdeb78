//! The same catalogs written through SQLite, PostgreSQL and MariaDB read back and export as
//! identical cheap-json (what `cheap copy` between backends relies on).
#![cfg(all(feature = "postgres", feature = "mariadb"))]

use cheap::json::ToJson;
use cheap::{testkit, CheapDao};
use mysql_async::prelude::Queryable;

/// The URL in `var`, or `None` with a notice, unless `CHEAP_TEST_REQUIRE_ALL=1`.
fn url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) => Some(u),
        Err(_) => {
            assert!(
                std::env::var("CHEAP_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
                "{var} is not set and CHEAP_TEST_REQUIRE_ALL=1"
            );
            eprintln!("skipping: set {var}");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_postgres_and_mariadb_export_identical_json() {
    let (Some(pg_url), Some(my_url)) = (
        url("CHEAP_TEST_POSTGRES_URL"),
        url("CHEAP_TEST_MARIADB_URL"),
    ) else {
        return;
    };
    let schema = format!("cheap_cross_{}", cheap::Uuid::new_v4().simple());
    let pg = cheap::postgres::PostgresOptions::url(pg_url)
        .schema(&schema)
        .connect()
        .await
        .unwrap();
    let admin = cheap::mariadb::MariaDbOptions::url(&my_url)
        .init_schema(false)
        .connect()
        .await
        .unwrap();
    admin
        .pool()
        .get_conn()
        .await
        .unwrap()
        .query_drop(format!("CREATE DATABASE {schema}"))
        .await
        .unwrap();
    let my = cheap::mariadb::MariaDbOptions::url(&my_url)
        .database(&schema)
        .connect()
        .await
        .unwrap();
    let sqlite = cheap::connect("sqlite::memory:").await.unwrap();
    let catalogs = [
        testkit::every_type_catalog(),
        cheap::json::catalog_from_str(testkit::FULL_CATALOG_JSON).unwrap(),
        cheap::json::catalog_from_str(testkit::MULTIVALUED_JSON).unwrap(),
    ];
    for c in &catalogs {
        let expected = c.to_json();
        for (name, dao) in [
            ("sqlite", &*sqlite as &dyn CheapDao),
            ("postgres", &pg),
            ("mariadb", &my),
        ] {
            dao.save_catalog(c).await.unwrap();
            let back = dao.load_catalog(c.id()).await.unwrap();
            assert_eq!(
                back.to_json(),
                expected,
                "catalog {} through {name}",
                c.id()
            );
            testkit::assert_same(&back, c, name);
        }
    }
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(pg.pool())
        .await
        .unwrap();
    my.close().await.unwrap();
    admin
        .pool()
        .get_conn()
        .await
        .unwrap()
        .query_drop(format!("DROP DATABASE {schema}"))
        .await
        .unwrap();
    admin.close().await.unwrap();
}
