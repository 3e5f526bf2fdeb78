//! # cheap-server
//!
//! The CHEAP REST API over any [`CheapDao`]: the Java reference's 16 endpoints with their paths,
//! JSON shapes, status codes and error body, plus DELETE for catalogs, aspect defs and
//! hierarchies, whole-catalog export and import, an NDJSON catalog stream, health, Prometheus
//! metrics and the OpenAPI document at `/api-docs`.
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> std::io::Result<()> {
//! use std::sync::Arc;
//! let dao = Arc::new(cheap_core::MemoryDao::new());
//! let app = cheap_server::router(dao, cheap_server::ServerConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! cheap_server::serve(listener, app, std::future::pending()).await
//! # }
//! ```
//!
//! Where the reference answers 500 for a client's mistake (malformed JSON, unknown fields,
//! non-UUID ids, bad species), this server answers 400; other deliberate differences are listed
//! on the handlers.
#![deny(missing_docs)]

mod auth;
mod base_url;
mod body;
pub mod error;
mod etag;
mod extract;
mod guard;
pub mod memory;
mod observe;
mod openapi;
mod rate_limit;
mod routes;
mod serve;
pub mod transfer;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use cheap_core::dao::{DaoMetrics, InstrumentedDao};
use cheap_core::CheapDao;

pub use cheap_core::rest as dto;
pub use error::ApiError;
pub use observe::HttpMetrics;
pub use openapi::openapi_json;
pub use rate_limit::RateLimitConfig;
pub use serve::{serve_with_limits, ConnectionLimits};

/// Server settings; the defaults are the reference's. Start from `ServerConfig::default()`
/// and set the fields you need (new fields may come in any release).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Page size when none is asked for (20).
    pub default_page_size: u64,
    /// Largest page size; larger is 400 (100).
    pub max_page_size: u64,
    /// Most entries in one `/slice` answer; a larger limit is capped (10,000).
    pub max_slice_size: u64,
    /// Most aspects in one upsert; more is 400 (1000).
    pub max_upsert_batch: usize,
    /// Largest request body in bytes; larger is 413 (16 MiB). The import has its own.
    pub body_limit: usize,
    /// Largest document `POST /api/catalog/import` takes, in bytes; larger is 413 (4 GiB). It
    /// is spooled to a temporary file, not held in memory.
    pub import_body_limit: u64,
    /// Handlers taking longer get 503 (30 s); reading the body does not count.
    pub request_timeout: Duration,
    /// A body not received within this time is 408 (20 s).
    pub body_read_timeout: Duration,
    /// When set, every route but health and `/api-docs` needs `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// DAO operations slower than this are logged (1 s).
    pub slow_operation: Duration,
    /// Serve the browsable API (Swagger UI) at `/docs` and `/swagger-ui.html` (true).
    pub docs: bool,
    /// The server's URL as clients reach it (`https://cheap.example.org`), for the URIs of new
    /// catalogs; when unset, the request's checked `Host` (None).
    pub public_url: Option<String>,
    /// Honour `Forwarded` / `X-Forwarded-Host` / `X-Forwarded-Proto` (and `X-Forwarded-For`
    /// for rate limits): only behind a proxy that sets them (false).
    pub trust_forwarded: bool,
    /// Requests per client (per API key, or per IP without one): over it is 429 (off).
    pub rate_limit: Option<RateLimitConfig>,
    /// Most change-event streams (`GET /api/catalog/{id}/events`) open at once; more is 503
    /// (1,000).
    pub max_event_streams: usize,
    /// How often an idle event stream sends a keep-alive comment, so that proxies keep it
    /// open and a client sees a dead connection (15 s).
    pub event_keep_alive: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            default_page_size: 20,
            max_page_size: 100,
            max_slice_size: 10_000,
            max_upsert_batch: 1000,
            body_limit: 16 * 1024 * 1024,
            import_body_limit: 4 * 1024 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(20),
            api_key: None,
            slow_operation: Duration::from_secs(1),
            docs: true,
            public_url: None,
            trust_forwarded: false,
            rate_limit: None,
            max_event_streams: 1000,
            event_keep_alive: Duration::from_secs(15),
        }
    }
}

/// What handlers share: one `Arc`, so each layer and handler that takes the state costs one
/// reference count, not one per field.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

pub(crate) struct Shared {
    /// The store, instrumented.
    pub(crate) dao: Arc<dyn CheapDao>,
    /// Its figures, for `/metrics`.
    pub(crate) metrics: DaoMetrics,
    /// Requests by route and status, for `/metrics`.
    pub(crate) http: HttpMetrics,
    /// Settings.
    pub(crate) config: ServerConfig,
    /// The per-client buckets, when rate limits are on.
    pub(crate) limiter: Option<Arc<rate_limit::Limiter>>,
    /// The open change-event streams.
    pub(crate) streams: routes::events::Streams,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The application: every route over `dao`, with error bodies, limits, timeouts, request ids,
/// tracing and the optional API key.
pub fn router(dao: Arc<dyn CheapDao>, config: ServerConfig) -> Router {
    let instrumented = InstrumentedDao::new(dao, config.slow_operation);
    let state = AppState(Arc::new(Shared {
        metrics: instrumented.metrics().clone(),
        http: HttpMetrics::new(),
        dao: Arc::new(instrumented),
        limiter: config.rate_limit.map(rate_limit::Limiter::new),
        streams: routes::events::Streams::new(config.max_event_streams),
        config,
    }));
    routes::build(state)
}

/// Serves `app` on `listener` with the default [`ConnectionLimits`] until `shutdown`
/// completes; in-flight requests finish first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_limits(listener, app, ConnectionLimits::default(), shutdown).await
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
