//! The stores the benchmarks run on, each fresh.

use std::path::Path;
use std::sync::Arc;

use cheap_core::CheapDao;

/// A fresh store named `name` on `backend`: a SQLite file in `dir`, or a schema (PostgreSQL) or
/// database (MariaDB) of that name on the machine's servers, dropped first
/// (`CHEAP_TEST_POSTGRES_URL`, `CHEAP_TEST_MARIADB_URL`, or the local defaults).
pub async fn open(backend: &str, name: &str, dir: &Path) -> Arc<dyn CheapDao> {
    match backend {
        "postgres" => {
            let url = pg_url();
            let admin = cheap_db_postgres::PostgresOptions::url(&url)
                .init_schema(false)
                .connect()
                .await
                .expect("postgres");
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .execute(admin.pool())
                .await
                .expect("drop the bench schema");
            let dao = pg_store(name).await;
            // For experiments: what the change feed's notifying trigger costs writers.
            if env_number("CHEAP_BENCH_PG_NO_NOTIFY") == Some(1) {
                sqlx::query("DROP TRIGGER cheap_catalog_notify ON catalog")
                    .execute(dao.pool())
                    .await
                    .expect("drop the notifying trigger");
            }
            Arc::new(dao)
        }
        "mariadb" => {
            use mysql_async::prelude::Queryable;
            let admin = cheap_db_mariadb::MariaDbOptions::url(maria_url())
                .init_schema(false)
                .connect()
                .await
                .expect("mariadb");
            let mut conn = admin.pool().get_conn().await.expect("a connection");
            conn.query_drop(format!("DROP DATABASE IF EXISTS {name}"))
                .await
                .expect("drop the bench database");
            conn.query_drop(format!("CREATE DATABASE {name}"))
                .await
                .expect("create the bench database");
            Arc::new(maria_store(name).await)
        }
        _ => {
            let mut o = cheap_db_sqlite::SqliteOptions::path(dir.join(format!("{name}.db")));
            // For experiments: the pool's page cache and memory map in MiB, its connections.
            if let Some(mib) = env_number("CHEAP_BENCH_PAGE_CACHE_MIB") {
                o = o.page_cache(mib << 20);
            }
            if let Some(mib) = env_number("CHEAP_BENCH_MMAP_MIB") {
                o = o.mmap_size(mib << 20);
            }
            if let Some(n) = env_number("CHEAP_BENCH_CONNECTIONS") {
                o = o.max_connections(u32::try_from(n).unwrap_or(u32::MAX));
            }
            Arc::new(o.connect().await.expect("sqlite"))
        }
    }
}

/// A number from environment variable `name`, if it is set and parses.
fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// A second store over what [`open`] made under `name`, with its own pool and caches, as a
/// second `cheap serve` process over the same database has.
pub async fn open_again(backend: &str, name: &str, dir: &Path) -> Arc<dyn CheapDao> {
    match backend {
        "postgres" => Arc::new(pg_store(name).await),
        "mariadb" => Arc::new(maria_store(name).await),
        _ => Arc::new(
            cheap_db_sqlite::SqliteOptions::path(dir.join(format!("{name}.db")))
                .connect()
                .await
                .expect("sqlite"),
        ),
    }
}

fn pg_url() -> String {
    std::env::var("CHEAP_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn maria_url() -> String {
    std::env::var("CHEAP_TEST_MARIADB_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// The store in PostgreSQL schema `name` (created when missing).
async fn pg_store(name: &str) -> cheap_db_postgres::PostgresDao {
    cheap_db_postgres::PostgresOptions::url(pg_url())
        .schema(name)
        .connect()
        .await
        .expect("postgres")
}

/// The store in MariaDB database `name`.
async fn maria_store(name: &str) -> cheap_db_mariadb::MariaDbDao {
    cheap_db_mariadb::MariaDbOptions::url(maria_url())
        .database(name)
        .connect()
        .await
        .expect("mariadb")
}
