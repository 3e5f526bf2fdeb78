//! Database faults under a real server: a SQLite file locked by another connection, pools
//! smaller than the load, and PostgreSQL/MariaDB connections killed while requests run. The
//! server answers 2xx or 503 (never another 5xx), loses nothing it acknowledged, and recovers
//! by itself.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cheap_core::{Catalog, CheapDao, HierarchyDef, HierarchyType, Uuid};
use cheap_server::ServerConfig;
use common::{start, TestServer};
use serde_json::json;

/// Adds `n` entities to list `queue` of `catalog`, `concurrency` requests at a time, while
/// `fault` runs; returns (acknowledged ids, statuses seen).
async fn load(
    s: &TestServer,
    catalog: Uuid,
    n: usize,
    concurrency: usize,
) -> (Vec<Uuid>, Vec<u16>) {
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = Vec::new();
    for _ in 0..n {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let (http, url) = (
            s.http.clone(),
            s.url(&format!(
                "/api/catalog/{catalog}/hierarchies/queue/entities"
            )),
        );
        tasks.push(tokio::spawn(async move {
            let e = Uuid::new_v4();
            let r = http
                .post(url)
                .json(&json!({ "entityIds": [e] }))
                .send()
                .await;
            drop(permit);
            (e, r.map(|r| r.status().as_u16()).unwrap_or(0))
        }));
    }
    let mut ok = Vec::new();
    let mut statuses = Vec::new();
    for t in tasks {
        let (e, st) = t.await.unwrap();
        if (200..300).contains(&st) {
            ok.push(e);
        }
        statuses.push(st);
    }
    (ok, statuses)
}

async fn new_catalog(dao: &dyn CheapDao) -> Uuid {
    let c = Catalog::new();
    dao.save_catalog(&c).await.unwrap();
    dao.create_hierarchy(
        c.id(),
        &HierarchyDef::new("queue", HierarchyType::EntityList),
    )
    .await
    .unwrap();
    c.id()
}

/// Every acknowledged id is in the list, and nothing else is.
async fn check(dao: &dyn CheapDao, catalog: Uuid, acknowledged: &[Uuid], sent: usize) {
    let list = dao.get_hierarchy(catalog, "queue").await.unwrap();
    let list = &list.as_list().unwrap().0;
    for e in acknowledged {
        assert!(list.contains(e), "an acknowledged write was lost");
    }
    assert!(list.len() <= sent, "phantom entries");
}

fn only_ok_or_503(statuses: &[u16]) {
    let bad: Vec<u16> = statuses
        .iter()
        .copied()
        .filter(|s| !(200..300).contains(s) && *s != 503)
        .collect();
    assert!(bad.is_empty(), "statuses other than 2xx/503: {bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_file_is_503_and_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.db");
    let dao = cheap_db_sqlite::SqliteOptions::path(&path)
        .busy_timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap();
    let s = start(Arc::new(dao.clone()), ServerConfig::default()).await;
    let catalog = new_catalog(&dao).await;
    let before = dao.load_catalog(catalog).await.unwrap();

    // Another connection (as another process would) holds the write lock.
    use sqlx::Connection;
    let mut other = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut other)
        .await
        .unwrap();
    let (ok, statuses) = load(&s, catalog, 8, 4).await;
    assert!(ok.is_empty(), "writes cannot pass an exclusive lock");
    assert!(statuses.iter().all(|s| *s == 503), "{statuses:?}");
    // A client is told the store is busy and when to come back.
    let r = s
        .http
        .post(s.url(&format!(
            "/api/catalog/{catalog}/hierarchies/queue/entities"
        )))
        .json(&serde_json::json!({"entityIds": [uuid::Uuid::new_v4()]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["message"].as_str().is_some_and(|m| m.contains("busy")),
        "{body}"
    );
    cheap_core::testkit::assert_same(
        &dao.load_catalog(catalog).await.unwrap(),
        &before,
        "nothing changed under the lock",
    );
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    other.close().await.unwrap();

    let (ok, statuses) = load(&s, catalog, 8, 4).await;
    assert_eq!(ok.len(), 8, "writes pass again: {statuses:?}");
    check(&dao, catalog, &ok, 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_requests_than_connections_wait_or_get_503() {
    let dir = tempfile::tempdir().unwrap();
    let dao = cheap_db_sqlite::SqliteOptions::path(dir.path().join("pool.db"))
        .max_connections(2)
        .acquire_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let s = start(Arc::new(dao.clone()), ServerConfig::default()).await;
    let catalog = new_catalog(&dao).await;
    let (ok, statuses) = load(&s, catalog, 200, 64).await;
    only_ok_or_503(&statuses);
    assert!(!ok.is_empty());
    check(&dao, catalog, &ok, 200).await;
    eprintln!(
        "sqlite pool of 2, 64 at once: {} of 200 acknowledged, {} answered 503",
        ok.len(),
        statuses.iter().filter(|s| **s == 503).count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_killed_mid_load() {
    let Ok(url) = std::env::var("CHEAP_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CHEAP_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
            "CHEAP_TEST_POSTGRES_URL is not set and CHEAP_TEST_REQUIRE_ALL=1"
        );
        return;
    };
    // The server's connections carry an application name of their own, so only they are killed.
    let tag = format!("cheap_fault_{}", Uuid::new_v4().simple());
    let sep = if url.contains('?') { '&' } else { '?' };
    let pg = cheap_db_postgres::PostgresOptions::url(format!("{url}{sep}application_name={tag}"))
        .schema(&tag)
        .max_connections(4)
        .connect()
        .await
        .unwrap();
    let s = start(Arc::new(pg.clone()), ServerConfig::default()).await;
    let catalog = new_catalog(&*s.dao).await;
    let killer = cheap_db_postgres::PostgresOptions::url(&url)
        .init_schema(false)
        .max_connections(1)
        .connect()
        .await
        .unwrap();
    let schema = (tag.clone(),);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (stop2, kpool, tag2) = (stop.clone(), killer.pool().clone(), tag.clone());
    // Kill the server's connections every 30 ms.
    let kills = tokio::spawn(async move {
        let mut n = 0u64;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            let r: Vec<(bool,)> = sqlx::query_as(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            )
            .bind(&tag2)
            .fetch_all(&kpool)
            .await
            .unwrap_or_default();
            n += r.iter().filter(|x| x.0).count() as u64;
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        n
    });
    let (ok, statuses) = load(&s, catalog, 300, 16).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let killed = kills.await.unwrap();
    only_ok_or_503(&statuses);
    // Recovery: the server answers again without a restart.
    let mut healthy = false;
    for _ in 0..50 {
        if s.http
            .get(s.url("/health"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .ok()
            == Some(200)
        {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "the server did not recover");
    check(&pg, catalog, &ok, 300).await;
    eprintln!(
        "postgres ({}): {killed} connections killed; {} of 300 acknowledged, {} answered 503",
        schema.0,
        ok.len(),
        statuses.iter().filter(|s| **s == 503).count()
    );
    killer.close().await.unwrap();
    common::drop_postgres_schema(&pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_connections_killed_mid_load() {
    use mysql_async::prelude::Queryable;
    let Some((s, my)) = common::mariadb_server().await else {
        return;
    };
    let catalog = new_catalog(&*s.dao).await;
    let mut probe = my.pool().get_conn().await.unwrap();
    let db: Option<String> = probe.query_first("SELECT DATABASE()").await.unwrap();
    let db = db.unwrap();
    drop(probe);
    let url = std::env::var("CHEAP_TEST_MARIADB_URL").unwrap();
    let killer = cheap_db_mariadb::MariaDbOptions::url(&url)
        .init_schema(false)
        .connect()
        .await
        .unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (stop2, kpool, db2) = (stop.clone(), killer.pool().clone(), db.clone());
    let kills = tokio::spawn(async move {
        let mut n = 0u64;
        let mut k = kpool.get_conn().await.unwrap();
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            let ids: Vec<u64> = k
                .exec(
                    "SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()",
                    (db2.as_str(),),
                )
                .await
                .unwrap_or_default();
            for id in ids {
                if k.query_drop(format!("KILL {id}")).await.is_ok() {
                    n += 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        n
    });
    let (ok, statuses) = load(&s, catalog, 300, 16).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let killed = kills.await.unwrap();
    only_ok_or_503(&statuses);
    let mut healthy = false;
    for _ in 0..50 {
        if s.http
            .get(s.url("/health"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .ok()
            == Some(200)
        {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "the server did not recover");
    check(&my, catalog, &ok, 300).await;
    eprintln!(
        "mariadb ({db}): {killed} connections killed; {} of 300 acknowledged, {} answered 503",
        ok.len(),
        statuses.iter().filter(|s| **s == 503).count()
    );
    killer.close().await.unwrap();
    common::drop_mariadb_database(&my).await;
}
