//! `RemoteDao` against the real server on 127.0.0.1: the whole DAO conformance suite through
//! REST (which shows the API covers the DAO contract), and replicas of a remote catalog.

use std::sync::Arc;

use cheap_client::RemoteDao;
use cheap_core::{testkit, CheapDao};

/// A server over a SQLite file; returns its base URL.
async fn server(dir: &tempfile::TempDir) -> String {
    server_with(dir, Default::default()).await
}

async fn server_with(dir: &tempfile::TempDir, config: cheap_server::ServerConfig) -> String {
    let dao = cheap_db_sqlite::SqliteOptions::path(dir.path().join("server.db"))
        .connect()
        .await
        .unwrap();
    let dao: Arc<dyn CheapDao> = Arc::new(dao);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(cheap_server::serve(
        listener,
        cheap_server::router(dao, config),
        std::future::pending(),
    ));
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_passes_through_rest() {
    let dir = tempfile::tempdir().unwrap();
    let remote = RemoteDao::connect(server(&dir).await).unwrap();
    testkit::run_all(&remote).await;
}

/// With slices of 3 entries, every hierarchy of the suite larger than that is read in pages,
/// and the slice endpoint caps what it is asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_passes_through_rest_in_small_slices() {
    let dir = tempfile::tempdir().unwrap();
    let config = {
        let mut config = cheap_server::ServerConfig::default();
        config.max_slice_size = 3;
        config
    };
    let base = server_with(&dir, config).await;
    let remote = RemoteDao::connect(&base).unwrap();
    testkit::run_all(&remote).await;

    let c = cheap_core::Catalog::new();
    let id = c.id();
    remote.save_catalog(&c).await.unwrap();
    remote
        .create_hierarchy(
            id,
            &cheap_core::HierarchyDef::new("l", cheap_core::HierarchyType::EntityList),
        )
        .await
        .unwrap();
    let ids: Vec<uuid::Uuid> = (0..10).map(|_| uuid::Uuid::new_v4()).collect();
    remote.add_entities(id, "l", &ids).await.unwrap();
    let client = cheap_client::CheapClient::new(&base).unwrap();
    let s = client.hierarchy_slice(id, "l", 0, 1_000_000).await.unwrap();
    assert_eq!(
        (s.total, s.hierarchy["contents"].as_array().map(Vec::len)),
        (10, Some(3))
    );
    let whole = remote.get_hierarchy(id, "l").await.unwrap();
    assert_eq!(
        whole.as_list().unwrap().0,
        ids,
        "read in four pages, in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_replicas_of_a_remote_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let upstream: Arc<dyn CheapDao> = Arc::new(RemoteDao::connect(server(&dir).await).unwrap());
    let local: Arc<dyn CheapDao> = Arc::new(
        cheap_db_sqlite::SqliteOptions::path(dir.path().join("local.db"))
            .connect()
            .await
            .unwrap(),
    );
    testkit::sync::run_all(local, upstream, 5_000).await;
}
