//! Change events over real HTTP (`GET /api/catalog/{id}/events`): the stream as a raw SSE
//! client sees it, resumption with `Last-Event-ID`, the stream limit, API keys, the blocking
//! iterator, a follower through 500 writes, and a shutdown that ends the streams.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cheap_client::{CheapClient, RemoteDao};
use cheap_core::dao::ChangeEvent;
use cheap_core::{testkit, Catalog, CheapDao, HierarchyDef, HierarchyType};
use futures::StreamExt;
use uuid::Uuid;

const LOST_AFTER: Duration = Duration::from_secs(20);

async fn catalog_with_list(dao: &dyn CheapDao) -> (Uuid, i64) {
    let c = Catalog::new();
    let id = c.id();
    dao.save_catalog(&c).await.unwrap();
    dao.create_hierarchy(id, &HierarchyDef::new("l", HierarchyType::EntityList))
        .await
        .unwrap();
    (id, dao.catalog_info(id).await.unwrap().version)
}

/// Reads raw SSE text from `resp` until it holds `n` events (blank-line separated, comments
/// aside).
async fn raw_events(resp: &mut reqwest::Response, n: usize) -> Vec<String> {
    let mut text = String::new();
    loop {
        let events: Vec<String> = text
            .split("\n\n")
            .filter(|e| e.lines().any(|l| l.starts_with("data:")))
            .map(str::to_owned)
            .collect();
        if events.len() >= n && text.ends_with("\n\n") {
            return events;
        }
        let chunk = tokio::time::timeout(LOST_AFTER, resp.chunk())
            .await
            .expect("an event in time")
            .expect("the stream")
            .expect("more of the stream");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_sse_with_versions_as_ids_and_resume_from_last_event_id() {
    let (base, _dir) = common::start_server(Default::default());
    let dao = RemoteDao::connect(&base).unwrap();
    let (id, v0) = catalog_with_list(&dao).await;
    let http = reqwest::Client::new();
    let url = format!("{base}/api/catalog/{id}/events?since={v0}");
    let mut resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    assert!(
        resp.headers().get("etag").is_none(),
        "a stream has no version"
    );
    let e1 = Uuid::new_v4();
    dao.add_entities(id, "l", &[e1]).await.unwrap();
    let v1 = dao.catalog_info(id).await.unwrap().version;
    let events = raw_events(&mut resp, 1).await;
    let first = &events[0];
    assert!(first.contains("event: changed"), "{first}");
    assert!(first.contains(&format!("id: {v1}")), "{first}");
    assert!(first.contains("\"kind\":\"changed\""), "{first}");
    drop(resp);

    // Two writes while disconnected: a reconnection from the last id is told both.
    dao.add_entities(id, "l", &[Uuid::new_v4()]).await.unwrap();
    dao.delete_hierarchy(id, "l").await.unwrap();
    let v3 = dao.catalog_info(id).await.unwrap().version;
    let mut resp = http
        .get(format!("{base}/api/catalog/{id}/events"))
        .header("Last-Event-ID", v1.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let events = raw_events(&mut resp, 1).await;
    let joined = events.join("\n");
    assert!(joined.contains(&format!("\"since\":{v1}")), "{joined}");
    assert!(joined.contains(&format!("id: {v3}")), "{joined}");
    assert!(joined.contains("\"removed\":[\"l\"]"), "{joined}");

    // A bad Last-Event-ID, a missing catalog and a bad id are 4xx, and nothing changed.
    let r = http
        .get(format!("{base}/api/catalog/{id}/events"))
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .get(format!("{base}/api/catalog/{}/events", Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .get(format!("{base}/api/catalog/not-a-uuid/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(dao.catalog_info(id).await.unwrap().version, v3);

    // The typed client tells the same, and the deletion ends it.
    let client = CheapClient::new(&base).unwrap();
    let mut events = client.watch(id, Some(v0));
    match tokio::time::timeout(LOST_AFTER, events.next()).await {
        Ok(Some(Ok(ChangeEvent::Changed(c)))) => {
            assert_eq!((c.since, c.version), (v0, v3));
            assert_eq!(c.removed, ["l"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(dao.delete_catalog(id).await.unwrap());
    match tokio::time::timeout(LOST_AFTER, events.next()).await {
        Ok(Some(Ok(ChangeEvent::Deleted))) => {}
        other => panic!("{other:?}"),
    }
    assert!(events.next().await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_bounded_and_authenticated() {
    let config = {
        let mut config = cheap_server::ServerConfig::default();
        config.max_event_streams = 2;
        config.api_key = Some("sekrit".into());
        config
    };
    let (base, _dir) = common::start_server(config);
    let dao = RemoteDao::new(
        CheapClient::with_config(cheap_client::ClientConfig::new(&base).api_key("sekrit")).unwrap(),
    );
    let (id, _) = catalog_with_list(&dao).await;
    let http = reqwest::Client::new();
    let url = format!("{base}/api/catalog/{id}/events");
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let open = |_: usize| http.get(&url).bearer_auth("sekrit").send();
    let a = open(0).await.unwrap();
    let b = open(1).await.unwrap();
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let c = open(2).await.unwrap();
    assert_eq!(c.status(), 503);
    assert!(c.headers().get("retry-after").is_some());
    let body: serde_json::Value = c.json().await.unwrap();
    assert_eq!(body["reason"], "streams", "{body}");
    // A closed stream frees its place (the server notices when it next writes or keeps alive;
    // a write makes it write).
    drop(a);
    let mut freed = false;
    for _ in 0..100 {
        dao.add_entities(id, "l", &[Uuid::new_v4()]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let r = open(3).await.unwrap();
        if r.status() == 200 {
            freed = true;
            break;
        }
    }
    assert!(freed, "a closed stream's place was never freed");
    drop(b);
}

#[test]
fn the_blocking_client_iterates_events() {
    let (base, _dir) = common::start_server(Default::default());
    let client = cheap_client::blocking::CheapClient::new(&base).unwrap();
    let created = client
        .create_catalog_with(cheap_core::CatalogSpecies::Sink, None, None)
        .unwrap();
    let id = created.catalog_id;
    let v0 = client.catalog_info(id).unwrap().version;
    let mut events = client.watch(id, Some(v0));
    client
        .create_hierarchy(id, &HierarchyDef::new("l", HierarchyType::EntityList))
        .unwrap();
    match events.next() {
        Some(Ok(ChangeEvent::Changed(c))) => {
            assert_eq!(c.since, v0);
            assert!(c.changed.iter().any(|h| h.name == "l"), "{c:?}");
        }
        other => panic!("{other:?}"),
    }
    client.delete_catalog(id).unwrap();
    assert!(matches!(events.next(), Some(Ok(ChangeEvent::Deleted))));
    assert!(events.next().is_none());
}

/// The test: a SQLite follower of a catalog behind real HTTP stays in step through 500
/// mixed writes, and a follower stopped and started again resumes from its mark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_over_http_stays_in_step_through_500_writes() {
    let (base, dir) = common::start_server(Default::default());
    let upstream: Arc<dyn CheapDao> = Arc::new(RemoteDao::connect(&base).unwrap());
    let local: Arc<dyn CheapDao> = Arc::new(
        cheap_db_sqlite::SqliteOptions::path(dir.path().join("follower.db"))
            .connect()
            .await
            .unwrap(),
    );
    testkit::sync::follower_stays_in_step(local, upstream, 500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_ends_the_streams() {
    let dir = tempfile::tempdir().unwrap();
    let dao: Arc<dyn CheapDao> = Arc::new(
        cheap_db_sqlite::SqliteOptions::path(dir.path().join("s.db"))
            .connect()
            .await
            .unwrap(),
    );
    let (id, _) = catalog_with_list(&*dao).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let limits = cheap_server::ConnectionLimits::default();
    let server = tokio::spawn(cheap_server::serve_with_limits(
        listener,
        cheap_server::router(dao, Default::default()),
        limits,
        async {
            let _ = stopped.await;
        },
    ));
    let mut resp = reqwest::get(format!("{base}/api/catalog/{id}/events"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    stop.send(()).unwrap();
    // The stream ends well within the 30 s grace period, and the server with it.
    let end = tokio::time::timeout(LOST_AFTER, async {
        while let Ok(Some(_)) = resp.chunk().await {}
    })
    .await;
    assert!(end.is_ok(), "the stream outlived the shutdown");
    tokio::time::timeout(LOST_AFTER, server)
        .await
        .expect("the server stopped")
        .unwrap()
        .unwrap();
}

/// `CheapClient::watch` reconnects by itself: the server stops (ending the stream), another
/// starts on the same address over the same database, and the next event starts where the
/// last one ended (the client sent `Last-Event-ID`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_reconnects_from_the_last_event_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let start = |addr: std::net::SocketAddr| {
        let path = path.clone();
        async move {
            let dao: Arc<dyn CheapDao> = Arc::new(
                cheap_db_sqlite::SqliteOptions::path(&path)
                    .connect()
                    .await
                    .unwrap(),
            );
            let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(cheap_server::serve_with_limits(
                listener,
                cheap_server::router(dao.clone(), Default::default()),
                cheap_server::ConnectionLimits::default(),
                async {
                    let _ = stopped.await;
                },
            ));
            (addr, dao, stop, server)
        }
    };
    let (addr, dao, stop, server) = start("127.0.0.1:0".parse().unwrap()).await;
    let (id, v0) = catalog_with_list(&*dao).await;
    let client = CheapClient::new(format!("http://{addr}")).unwrap();
    let mut events = client.watch(id, Some(v0));
    dao.add_entities(id, "l", &[Uuid::new_v4()]).await.unwrap();
    let v1 = match tokio::time::timeout(LOST_AFTER, events.next()).await {
        Ok(Some(Ok(ChangeEvent::Changed(c)))) => c.version,
        other => panic!("{other:?}"),
    };
    // The first server goes; a write lands while no server runs.
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    dao.add_entities(id, "l", &[Uuid::new_v4()]).await.unwrap();
    let v2 = dao.catalog_info(id).await.unwrap().version;
    dao.close().await.unwrap();
    let (_, _dao2, _stop2, _server2) = start(addr).await;
    match tokio::time::timeout(LOST_AFTER, events.next()).await {
        Ok(Some(Ok(ChangeEvent::Changed(c)))) => assert_eq!((c.since, c.version), (v1, v2)),
        other => panic!("after the reconnection: {other:?}"),
    }
}
