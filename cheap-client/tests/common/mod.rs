//! The real server on 127.0.0.1 over a SQLite file, for the client tests.
#![allow(dead_code)]

use std::sync::Arc;

use cheap_core::CheapDao;
use cheap_server::ServerConfig;

/// Starts the server on its own runtime thread (so blocking tests can be plain `#[test]`);
/// returns its base URL and the directory its database lives in.
pub fn start_server(config: ServerConfig) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let dao: Arc<dyn CheapDao> =
                Arc::new(cheap_db_sqlite::SqliteDao::connect(&url).await.unwrap());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = cheap_server::router(dao, config);
            cheap_server::serve(listener, app, std::future::pending())
                .await
                .unwrap();
        });
    });
    (format!("http://{}", rx.recv().unwrap()), dir)
}
