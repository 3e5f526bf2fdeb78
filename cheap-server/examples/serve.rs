//! Embed the REST server in an application: your own routes beside CHEAP's, one store.
//!
//! `cargo run -p cheap-server --example serve`, then `curl http://127.0.0.1:<port>/hello`
//! (set `CHEAP_EXAMPLE_ONESHOT=1` to call itself once and stop).

use std::time::Duration;

use axum::routing::get;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dao = cheap::connect("sqlite::memory:").await?;
    let config = {
        let mut config = cheap_server::ServerConfig::default();
        config.request_timeout = Duration::from_secs(10);
        config
    };
    let app = axum::Router::new()
        .route("/hello", get(|| async { "hello from the app" }))
        .merge(cheap_server::router(dao, config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!("serving on http://{addr} (CHEAP API under /api, health at /health)");
    if std::env::var("CHEAP_EXAMPLE_ONESHOT").is_ok() {
        let server = tokio::spawn(cheap_server::serve(listener, app, async {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }));
        let health = reqwest::get(format!("http://{addr}/health"))
            .await?
            .text()
            .await?;
        let hello = reqwest::get(format!("http://{addr}/hello"))
            .await?
            .text()
            .await?;
        println!("health: {health}; hello: {hello}");
        server.await??;
        return Ok(());
    }
    cheap_server::serve(listener, app, cheap_server::shutdown_signal()).await?;
    Ok(())
}
