//! The browsable API is served from the binary, reachable without the key, and can be turned
//! off. (CI also drives it in headless Chromium: scripts/browser-test.mjs.)

mod common;

use std::sync::Arc;

use cheap_core::CheapDao;
use cheap_server::ServerConfig;

#[tokio::test]
async fn swagger_ui_is_served_without_the_key_and_points_at_api_docs() {
    let dao: Arc<dyn CheapDao> = Arc::new(cheap_core::MemoryDao::new());
    let config = {
        let mut config = ServerConfig::default();
        config.api_key = Some("k".into());
        config
    };
    let s = common::start(dao, config).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects
        .get(s.url("/swagger-ui.html"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection());
    assert_eq!(r.headers()["location"], "/docs/");
    let (status, page) = s.text("/docs/").await;
    assert_eq!(status, 200);
    assert!(page.contains("swagger-ui"));
    let (_, init) = s.text("/docs/swagger-initializer.js").await;
    assert!(init.contains("\"url\": \"/api-docs\""), "{init}");
    assert!(init.contains("\"validatorUrl\": \"none\""), "{init}");
    assert_eq!(
        s.get("/api-docs").await.0,
        200,
        "the document is public too"
    );
    assert_eq!(s.get("/api/catalog").await.0, 401, "the API is not");
}

#[tokio::test]
async fn no_docs_turns_them_off() {
    let dao: Arc<dyn CheapDao> = Arc::new(cheap_core::MemoryDao::new());
    let config = {
        let mut config = ServerConfig::default();
        config.docs = false;
        config
    };
    let s = common::start(dao, config).await;
    assert_eq!(s.get("/docs/").await.0, 404);
    assert_eq!(s.get("/swagger-ui.html").await.0, 404);
    assert_eq!(s.get("/api-docs").await.0, 200);
}
