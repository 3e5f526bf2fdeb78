//! The accept loop: hyper connections with a header-read deadline, a cap on connections with a
//! graceful refusal beyond it (health still answers), and graceful shutdown.
//!
//! `axum::serve` has none of these: a client that opened a connection and sent half a request
//! held it forever, and enough of them exhausted the process's file descriptors.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// How connections are accepted and bounded.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// A connection must deliver each request's headers within this time, the first one
    /// counted from the accept and the next ones from the end of the previous response (an
    /// idle keep-alive connection is closed after it too). Default 10 s.
    pub header_read_timeout: Duration,
    /// Connections served at once (default 4,096). Beyond it, a few more are answered 503 with
    /// `Retry-After` (and `/health` normally) and closed; the rest are closed at once.
    pub max_connections: usize,
    /// How long in-flight requests may run after shutdown begins (default 30 s).
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

impl ConnectionLimits {
    /// The defaults with another connection cap.
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// The defaults with another header-read timeout.
    pub fn with_header_read_timeout(mut self, t: Duration) -> Self {
        self.header_read_timeout = t;
        self
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes, then lets in-flight
/// requests finish (up to the grace period).
pub async fn serve_with_limits(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let served = Arc::new(Semaphore::new(limits.max_connections));
    // Connections over the cap get a short answer; bounded too, so they cannot pile up.
    let refused = Arc::new(Semaphore::new((limits.max_connections / 8).max(64)));
    let graceful = GracefulShutdown::new();
    // Open event streams would keep their connections busy to the end of the grace period.
    let (closing, closing_rx) = tokio::sync::watch::channel(false);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut refusing = Builder::new(TokioExecutor::new());
    refusing
        .http1()
        .keep_alive(false)
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(1).min(limits.header_read_timeout));
    let (builder, refusing) = (Arc::new(builder), Arc::new(refusing));
    let mut last_accept_error: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: keep serving the
                    // others; say so at most once a second.
                    if last_accept_error.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                        tracing::warn!(error = %e, "accept failed");
                        last_accept_error = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        if let Ok(permit) = served.clone().try_acquire_owned() {
            let conn = serve_one(
                builder.clone(),
                graceful.watcher(),
                tcp,
                peer,
                app.clone(),
                limits.header_read_timeout,
                closing_rx.clone(),
            );
            tokio::spawn(async move {
                conn.await;
                drop(permit);
            });
        } else if let Ok(permit) = refused.clone().try_acquire_owned() {
            let app = app.clone();
            let refusing = refusing.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| refuse(app.clone(), req));
                let conn = refusing.serve_connection(TokioIo::new(tcp), svc);
                let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                drop(permit);
            });
        } else {
            drop(tcp);
        }
    }
    drop(listener);
    let _ = closing.send(true);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; closing the remaining connections");
    }
    Ok(())
}

/// One connection: hyper enforces the header deadline of every request but the first, whose
/// wait also covers the HTTP/2 preface detection, so it is enforced here.
async fn serve_one(
    builder: Arc<Builder<TokioExecutor>>,
    watcher: Watcher,
    tcp: TcpStream,
    peer: std::net::SocketAddr,
    app: Router,
    first_request_within: Duration,
    closing: tokio::sync::watch::Receiver<bool>,
) {
    let seen = Arc::new(AtomicBool::new(false));
    let svc = hyper::service::service_fn({
        let seen = seen.clone();
        move |req: Request<Incoming>| {
            seen.store(true, Ordering::Relaxed);
            let mut req = req.map(Body::new);
            // Who is asking, for per-client limits (axum's ConnectInfo extractor reads this).
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            req.extensions_mut()
                .insert(crate::routes::events::ShuttingDown(closing.clone()));
            app.clone().oneshot(req)
        }
    });
    let conn = watcher.watch(builder.serve_connection_with_upgrades(TokioIo::new(tcp), svc));
    tokio::pin!(conn);
    let deadline = tokio::time::sleep(first_request_within);
    tokio::pin!(deadline);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "connection ended");
            }
            return;
        }
        () = &mut deadline => {
            if !seen.load(Ordering::Relaxed) {
                return;
            }
        }
    }
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "connection ended");
    }
}

/// The answer over the connection cap: health as usual (a load balancer must still see the
/// server), anything else 503 with `Retry-After`.
async fn refuse(app: Router, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path();
    if path == "/health" || path == "/actuator/health" {
        return app.oneshot(req.map(Body::new)).await;
    }
    let mut r = Response::new(Body::from(
        r#"{"status":503,"error":"Service Unavailable","message":"Too many connections; retry shortly","reason":"connections"}"#,
    ));
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    Ok(r)
}
