//! The same catalogs written through SQLite and through PostgreSQL read back and export as
//! identical cheap-json (what `cheap copy` between backends relies on).
#![cfg(feature = "postgres")]

use cheap::json::ToJson;
use cheap::{testkit, CheapDao};

#[tokio::test]
async fn sqlite_and_postgres_export_identical_json() {
    let Ok(url) = std::env::var("CHEAP_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CHEAP_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
            "CHEAP_TEST_POSTGRES_URL is not set and CHEAP_TEST_REQUIRE_ALL=1"
        );
        eprintln!("skipping: set CHEAP_TEST_POSTGRES_URL");
        return;
    };
    let schema = format!("cheap_cross_{}", cheap::Uuid::new_v4().simple());
    let pg = cheap::postgres::PostgresOptions::url(url)
        .schema(&schema)
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
        sqlite.save_catalog(c).await.unwrap();
        pg.save_catalog(c).await.unwrap();
        let a = sqlite.load_catalog(c.id()).await.unwrap();
        let b = pg.load_catalog(c.id()).await.unwrap();
        assert_eq!(a.to_json(), b.to_json(), "catalog {}", c.id());
        assert_eq!(a.to_json(), c.to_json());
        testkit::assert_same(&b, c, "postgres copy");
    }
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(pg.pool())
        .await
        .unwrap();
}
