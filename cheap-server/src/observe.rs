//! One log line and one set of figures per request: method, matched route, status, latency and
//! request id, with every line logged while serving the request inside its span (so each
//! carries the `x-request-id`); and the process's own figures for `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::AppState;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

#[derive(Debug, Clone, Default)]
struct RouteStats {
    seconds: f64,
    buckets: [u64; BUCKETS.len()],
    count: u64,
}

/// By method, then matched route, then status: nested so a request is counted with lookups by
/// `&str`, without allocating a key.
type ByRoute = BTreeMap<String, BTreeMap<String, BTreeMap<u16, RouteStats>>>;

/// Requests by method, matched route and status, with their latency.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    by_route: Arc<Mutex<ByRoute>>,
    started: Instant,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics::new()
    }
}

impl HttpMetrics {
    /// Figures counted from now (the uptime starts here).
    pub fn new() -> Self {
        HttpMetrics {
            by_route: Arc::default(),
            started: Instant::now(),
        }
    }

    fn record(&self, method: &str, route: &str, status: u16, secs: f64) {
        let mut m = self.by_route.lock().unwrap_or_else(|e| e.into_inner());
        if !m.contains_key(method) {
            m.insert(method.to_owned(), BTreeMap::new());
        }
        // Keys are copied only the first time a method or route is seen (the entry API would
        // take an owned key on every request); both are present after the inserts.
        let Some(routes) = m.get_mut(method) else {
            return;
        };
        if !routes.contains_key(route) {
            routes.insert(route.to_owned(), BTreeMap::new());
        }
        let Some(statuses) = routes.get_mut(route) else {
            return;
        };
        let s = statuses.entry(status).or_default();
        s.count += 1;
        s.seconds += secs;
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                s.buckets[i] += 1;
            }
        }
    }

    /// The HTTP and process figures in the Prometheus text format.
    pub fn render_prometheus(&self) -> String {
        let nested = self
            .by_route
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let m: Vec<((&str, &str, u16), &RouteStats)> = nested
            .iter()
            .flat_map(|(method, routes)| {
                routes.iter().flat_map(move |(route, statuses)| {
                    statuses
                        .iter()
                        .map(move |(status, s)| ((method.as_str(), route.as_str(), *status), s))
                })
            })
            .collect();
        let mut out = String::new();
        out.push_str("# HELP cheap_http_requests_total HTTP requests by method, route and status.\n# TYPE cheap_http_requests_total counter\n");
        for &((method, route, status), s) in &m {
            let _ = writeln!(
                out,
                "cheap_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}",
                s.count
            );
        }
        out.push_str("# HELP cheap_http_request_duration_seconds HTTP request latency by method, route and status.\n# TYPE cheap_http_request_duration_seconds histogram\n");
        for &((method, route, status), s) in &m {
            let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
            for (b, n) in BUCKETS.iter().zip(s.buckets) {
                let _ = writeln!(
                    out,
                    "cheap_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "cheap_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "cheap_http_request_duration_seconds_sum{{{labels}}} {}",
                s.seconds
            );
            let _ = writeln!(
                out,
                "cheap_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        if let Some(rss) = resident_bytes() {
            out.push_str("# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\n");
            let _ = writeln!(out, "process_resident_memory_bytes {rss}");
        }
        if let Some(fds) = open_fds() {
            out.push_str(
                "# HELP process_open_fds Open file descriptors.\n# TYPE process_open_fds gauge\n",
            );
            let _ = writeln!(out, "process_open_fds {fds}");
        }
        out.push_str("# HELP cheap_uptime_seconds Seconds since the server started.\n# TYPE cheap_uptime_seconds gauge\n");
        let _ = writeln!(
            out,
            "cheap_uptime_seconds {}",
            self.started.elapsed().as_secs_f64()
        );
        out
    }
}

/// Resident set size from `/proc/self/status` (Linux; `None` elsewhere).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn open_fds() -> Option<u64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

/// The outermost middleware: gives each request an `x-request-id` (its own when it came with
/// one) and the response the same; writes the JSON body of an [`crate::ApiError`] answer; logs
/// and counts the request, 5xx at WARN and everything else at INFO.
pub(crate) async fn observe(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = match req.headers().get(REQUEST_ID) {
        Some(id) => id.clone(),
        None => {
            let fresh = new_request_id();
            req.headers_mut().insert(REQUEST_ID, fresh.clone());
            fresh
        }
    };
    let method = req.method().clone();
    let uri = req.uri().clone();
    // A clone of the matched path is a reference count, not a copy of the text.
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("(unmatched)", MatchedPath::as_str);
    let span = tracing::info_span!(
        "request",
        id = %id.to_str().unwrap_or("-"),
        method = %method,
        route = %route
    );
    let response = next.run(req).instrument(span.clone()).await;
    let mut response = crate::error::with_error_body(uri.path(), response);
    response.headers_mut().entry(REQUEST_ID).or_insert(id);
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    state
        .http
        .record(method.as_str(), route, status, elapsed.as_secs_f64());
    let ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, ms, "request");
        } else {
            tracing::info!(status, ms, "request");
        }
    });
    response
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A random (v4) UUID: unique across the servers behind one balancer without coordination.
fn new_request_id() -> HeaderValue {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    // A hyphenated UUID is visible ASCII, always a valid header value.
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("-"))
}
