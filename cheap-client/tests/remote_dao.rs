//! `RemoteDao` against the real server on 127.0.0.1: the whole DAO conformance suite through
//! REST (which shows the API covers the DAO contract), and replicas of a remote catalog.

use std::sync::Arc;

use cheap_client::RemoteDao;
use cheap_core::{testkit, CheapDao};

/// A server over a SQLite file; returns its base URL.
async fn server(dir: &tempfile::TempDir) -> String {
    let dao = cheap_db_sqlite::SqliteOptions::path(dir.path().join("server.db"))
        .connect()
        .await
        .unwrap();
    let dao: Arc<dyn CheapDao> = Arc::new(dao);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(cheap_server::serve(
        listener,
        cheap_server::router(dao, Default::default()),
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
