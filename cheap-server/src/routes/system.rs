//! Health, metrics, the OpenAPI document and the NDJSON catalog stream.

use axum::body::Body as HttpBody;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::AppState;
use cheap_core::json::ToJson;
use cheap_core::rest::HealthResponse;
use cheap_core::CheapDao;

/// `{"status":"UP"}`, or `{"status":"DOWN"}` with 503 when the database does not answer or must
/// not be used (a Galera node outside the primary component, or joining); a cluster node adds
/// its state under `details`.
#[utoipa::path(get, path = "/health", responses((status = 200, body = HealthResponse), (status = 503, body = HealthResponse)))]
pub(crate) async fn health(State(state): State<AppState>) -> (StatusCode, Json<HealthResponse>) {
    let (up, details) = match state.dao.health().await {
        Ok(h) => {
            if !h.up {
                tracing::warn!(details = ?h.details, "the store answers but is not ready");
            }
            (h.up, h.details.into_iter().collect())
        }
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            (false, Default::default())
        }
    };
    let (status, word) = if up {
        (StatusCode::OK, "UP")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "DOWN")
    };
    (
        status,
        Json(HealthResponse {
            status: word.into(),
            details,
        }),
    )
}

/// DAO operation counts, errors and latency, HTTP requests by route and status, and process
/// figures (RSS, open files, uptime), in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", responses((status = 200, content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render_prometheus()
            + &state.http.render_prometheus()
            + &rate_limited(&state)
            + &statements(&state),
    )
        .into_response()
}

/// This API's OpenAPI 3 document.
#[utoipa::path(get, path = "/api-docs", responses((status = 200, body = Object)))]
pub(crate) async fn api_docs() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi_json(),
    )
        .into_response()
}

const STREAM_PAGE: u64 = 16;

/// Every catalog as newline-delimited cheap-json, loaded a page at a time.
#[utoipa::path(get, path = "/api/catalogs/stream", responses((status = 200, content_type = "application/x-ndjson", body = String)))]
pub(crate) async fn stream(State(state): State<AppState>) -> Response {
    let dao: std::sync::Arc<dyn CheapDao> = state.dao.clone();
    let lines = futures::stream::try_unfold((dao, 0u64, false), |(dao, offset, done)| async move {
        if done {
            return Ok::<_, cheap_core::CheapError>(None);
        }
        let page = dao.load_catalogs_page(offset, STREAM_PAGE).await?;
        let n = page.len() as u64;
        let mut chunk = String::new();
        for c in &page {
            chunk.push_str(&c.to_json());
            chunk.push('\n');
        }
        Ok(Some((chunk, (dao, offset + n, n < STREAM_PAGE))))
    });
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        HttpBody::from_stream(lines),
    )
        .into_response()
}

/// The rate limiter's refusals, when it is on.
/// The store's statement count, when it keeps one: divided by the requests served, what a
/// request costs the database.
fn statements(state: &AppState) -> String {
    match state.dao.statements_run() {
        Some(n) => format!(
            "# HELP cheap_store_statements_total Database statements run by the store (BEGIN and COMMIT not counted).\n# TYPE cheap_store_statements_total counter\ncheap_store_statements_total {n}\n"
        ),
        None => String::new(),
    }
}

fn rate_limited(state: &AppState) -> String {
    match &state.limiter {
        Some(l) => format!(
            "# HELP cheap_http_rate_limited_total Requests refused with 429 by the rate limiter.\n# TYPE cheap_http_rate_limited_total counter\ncheap_http_rate_limited_total {}\n",
            l.limited()
        ),
        None => String::new(),
    }
}
