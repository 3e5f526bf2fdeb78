//! Crash consistency: the `cheap` server process is killed (SIGKILL) in the middle of a large
//! import and of concurrent upserts, then restarted on the same database. Every catalog must be
//! wholly old or wholly new, every acknowledged write must be there, and SQLite must pass
//! `PRAGMA integrity_check`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use cheap::json::ToJson;
use cheap::{Aspect, AspectDef, Catalog, CheapDao, PropertyDef, PropertyType, Uuid};
use serde_json::json;

/// A `cheap serve` child process and its base URL.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(database_url: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cheap"))
            .args([
                "serve",
                "--database-url",
                database_url,
                "--bind",
                "127.0.0.1:0",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start cheap serve");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("the server printed its address")
                .expect("a line");
            if let Some(i) = line.find("http://") {
                break line[i..].trim().to_owned();
            }
        };
        // Keep draining stderr so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, url }
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

fn def() -> Arc<AspectDef> {
    AspectDef::builder("crash.item")
        .property(PropertyDef::new("label", PropertyType::String).nullable(false))
        .property(PropertyDef::new("n", PropertyType::Integer))
        .build()
        .unwrap()
        .into_arc()
}

fn catalog(id: Uuid, entities: &[Uuid], label: &str) -> Catalog {
    let d = def();
    let mut c = Catalog::with_id(id, cheap::CatalogSpecies::Sink, None).unwrap();
    let map = c.extend(d.clone()).unwrap();
    for (i, e) in entities.iter().enumerate() {
        map.put(
            Aspect::builder(d.clone(), *e)
                .set("label", label)
                .set("n", i as i64)
                .build()
                .unwrap(),
        )
        .unwrap();
    }
    c.create_entity_list("all").unwrap().0.extend(entities);
    c
}

/// The labels a stored catalog holds, and how many aspects.
fn labels(c: &Catalog) -> (Vec<String>, usize) {
    let m = c.aspects("crash.item").expect("the map");
    let mut l: Vec<String> = m
        .iter()
        .filter_map(|a| a.get("label").and_then(|v| v.as_str()).map(str::to_owned))
        .collect();
    l.sort();
    l.dedup();
    (l, m.len())
}

async fn crash_during_import(database_url: &str, check: impl AsyncFn()) {
    let http = reqwest::Client::new();
    let id = Uuid::new_v4();
    let entities: Vec<Uuid> = (0..20_000).map(|_| Uuid::new_v4()).collect();
    let old = catalog(id, &entities, "old");
    let new = catalog(id, &entities, "new").to_json();
    for delay_ms in [20u64, 80, 250, 600] {
        let server = Server::start(database_url);
        let r = http
            .post(format!("{}/api/catalog/import", server.url))
            .header("content-type", "application/json")
            .body(old.to_json())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        let url = server.url.clone();
        let body = new.clone();
        let http2 = http.clone();
        let import = tokio::spawn(async move {
            http2
                .post(format!("{url}/api/catalog/import"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map(|r| r.status().is_success())
        });
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        server.kill();
        let acknowledged = matches!(import.await.unwrap(), Ok(true));

        let server = Server::start(database_url);
        let dao = cheap_client::RemoteDao::connect(&server.url).unwrap();
        let got = dao.load_catalog(id).await.expect("the catalog survives");
        let (l, n) = labels(&got);
        assert_eq!(
            n,
            entities.len(),
            "killed after {delay_ms} ms: a partial map"
        );
        assert!(
            l == ["old"] || l == ["new"],
            "killed after {delay_ms} ms: mixed contents {l:?}"
        );
        if acknowledged {
            assert_eq!(l, ["new"], "an acknowledged import was lost");
        }
        assert_eq!(
            got.hierarchy("all")
                .and_then(|h| h.as_list())
                .map(|x| x.len()),
            Some(entities.len())
        );
        server.kill();
        check().await;
    }
}

async fn crash_during_upserts(database_url: &str, check: impl AsyncFn()) {
    let server = Server::start(database_url);
    let dao = cheap_client::RemoteDao::connect(&server.url).unwrap();
    let id = Uuid::new_v4();
    dao.save_catalog(&catalog(id, &[], "none")).await.unwrap();
    // Eight writers send batches of 50 new entities until the server dies.
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..8 {
        let url = server.url.clone();
        let acked = acked.clone();
        writers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut sent: Vec<(Vec<Uuid>, bool)> = Vec::new();
            for b in 0.. {
                let batch: Vec<Uuid> = (0..50).map(|_| Uuid::new_v4()).collect();
                let aspects: Vec<_> = batch
                    .iter()
                    .map(|e| json!({"entityId": e, "properties": {"label": format!("w{w}b{b}"), "n": b}}))
                    .collect();
                let r = http
                    .post(format!("{url}/api/catalog/{id}/aspects/crash.item"))
                    .json(&json!({ "aspects": aspects }))
                    .send()
                    .await;
                let ok = matches!(&r, Ok(r) if r.status().is_success());
                if ok {
                    acked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                sent.push((batch, ok));
                if r.is_err() {
                    break;
                }
            }
            sent
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    // Killed mid-run, with at least one write acknowledged (on a loaded machine the first
    // answers can take longer than the pause).
    for _ in 0..200 {
        if acked.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill();
    let mut batches = Vec::new();
    for w in writers {
        batches.extend(w.await.unwrap());
    }

    let server = Server::start(database_url);
    let dao = cheap_client::RemoteDao::connect(&server.url).unwrap();
    let got = dao.load_catalog(id).await.expect("the catalog survives");
    let map = got.aspects("crash.item").expect("the map");
    let mut acknowledged = 0;
    for (batch, ok) in &batches {
        let present = batch.iter().filter(|e| map.get(**e).is_some()).count();
        assert!(
            present == 0 || present == batch.len(),
            "a batch of {} was stored in part ({present})",
            batch.len()
        );
        if *ok {
            acknowledged += 1;
            assert_eq!(present, batch.len(), "an acknowledged batch was lost");
        }
    }
    assert!(
        acknowledged > 0,
        "no write was acknowledged before the kill"
    );
    eprintln!(
        "{database_url}: {} batches sent, {acknowledged} acknowledged, {} aspects stored",
        batches.len(),
        map.len()
    );
    server.kill();
    check().await;
}

async fn sqlite_integrity(path: &std::path::Path) {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let (r,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(r, "ok", "SQLite integrity check");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let url = format!("sqlite://{}", path.display());
    crash_during_import(&url, async || sqlite_integrity(&path).await).await;
    crash_during_upserts(&url, async || sqlite_integrity(&path).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_sigkill() {
    let Ok(base) = std::env::var("CHEAP_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CHEAP_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
            "CHEAP_TEST_POSTGRES_URL is not set and CHEAP_TEST_REQUIRE_ALL=1"
        );
        return;
    };
    // A schema of its own, named in the URL's search path so the child server uses it.
    let schema = format!("cheap_crash_{}", Uuid::new_v4().simple());
    let dao = cheap::postgres::PostgresOptions::url(&base)
        .schema(&schema)
        .connect()
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    crash_during_import(&url, async || {}).await;
    crash_during_upserts(&url, async || {}).await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(dao.pool())
        .await
        .unwrap();
}
