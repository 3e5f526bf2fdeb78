//! Health, metrics, the OpenAPI document, whole-catalog export and import, and the NDJSON
//! catalog stream.

use axum::body::Body as HttpBody;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::error::{ApiError, ApiResult};
use crate::extract::{uuid, Body, Params, Query};
use crate::AppState;
use cheap_core::dao::TaskRecord;
use cheap_core::json::{self, ToJson};
use cheap_core::rest::{HealthResponse, ImportResponse, TaskStatus};
use cheap_core::{CheapDao, NotFound};

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
        state.metrics.render_prometheus() + &state.http.render_prometheus() + &rate_limited(&state),
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

/// The whole catalog as cheap-json (an extension).
#[utoipa::path(get, path = "/api/catalog/{catalog_id}/export", responses((status = 200, description = "cheap-json catalog", body = Object), (status = 404)))]
pub(crate) async fn export(
    State(state): State<AppState>,
    Params(id): Params<String>,
) -> ApiResult<Response> {
    let id = uuid(&id, "catalog id")?;
    let catalog = state.dao.load_catalog(id).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        catalog.to_json(),
    )
        .into_response())
}

/// `?background=true` runs an import as a task.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ImportQuery {
    /// Answer 202 at once and import in the background (`GET /api/tasks/{id}` reports).
    background: Option<bool>,
}

/// How often a running task says it is alive, and how long without a word makes it
/// interrupted (its server stopped or lost the store).
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(5);
const INTERRUPTED_AFTER_MS: i64 = 30_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Stores a whole cheap-json catalog, replacing one with the same id (an extension). With
/// `?background=true` the answer is 202 with a task to poll.
#[utoipa::path(post, path = "/api/catalog/import", params(ImportQuery), request_body(content = Object, description = "cheap-json catalog"),
    responses((status = 201, body = ImportResponse), (status = 202, body = TaskStatus), (status = 400), (status = 409)))]
pub(crate) async fn import(
    State(state): State<AppState>,
    Query(q): Query<ImportQuery>,
    Body(json::StrictValue(body)): Body<json::StrictValue>,
) -> ApiResult<Response> {
    // The document is read before answering, so a bad one is a 400 either way.
    let catalog = json::read::catalog_from_json(&body).map_err(ApiError::from)?;
    if !q.background.unwrap_or(false) {
        let version = state.dao.save_catalog(&catalog).await?;
        let body = ImportResponse {
            catalog_id: catalog.id(),
            version,
            message: "Catalog imported successfully".into(),
        };
        return Ok((StatusCode::CREATED, Json(body)).into_response());
    }
    let task = TaskStatus {
        task_id: uuid::Uuid::new_v4(),
        status: "running".into(),
        catalog_id: Some(catalog.id()),
        version: None,
        message: "Import running".into(),
    };
    // In the store, so that every server over it answers for the task.
    let record = |status: TaskStatus| TaskRecord {
        status,
        heartbeat_ms: now_ms(),
    };
    state.dao.put_task(&record(task.clone())).await?;
    let dao = state.dao.clone();
    let running = task.clone();
    tokio::spawn(async move {
        let save = dao.save_catalog(&catalog);
        tokio::pin!(save);
        let mut beat = tokio::time::interval(HEARTBEAT);
        beat.tick().await;
        let outcome = loop {
            tokio::select! {
                outcome = &mut save => break outcome,
                _ = beat.tick() => {
                    if let Err(e) = dao.put_task(&record(running.clone())).await {
                        tracing::warn!(task = %running.task_id, error = %e, "could not record the task's heartbeat");
                    }
                }
            }
        };
        let mut done = running.clone();
        match outcome {
            Ok(v) => {
                done.status = "succeeded".into();
                done.version = Some(v);
                done.message = "Catalog imported successfully".into();
            }
            Err(e) => {
                done.status = "failed".into();
                done.message = e.to_string();
            }
        }
        if let Err(e) = dao.put_task(&record(done)).await {
            tracing::warn!(task = %running.task_id, error = %e, "could not record the task's outcome");
        }
    });
    Ok((StatusCode::ACCEPTED, Json(task)).into_response())
}

/// The state of a background task.
#[utoipa::path(get, path = "/api/tasks/{task_id}", responses((status = 200, body = TaskStatus), (status = 404)))]
pub(crate) async fn task(
    State(state): State<AppState>,
    Params(id): Params<String>,
) -> ApiResult<Json<TaskStatus>> {
    let id = uuid(&id, "task id")?;
    let Some(mut t) = state.dao.get_task(id).await? else {
        return Err(ApiError::missing(&NotFound::Task { id }));
    };
    if t.status.status == "running" && now_ms() - t.heartbeat_ms > INTERRUPTED_AFTER_MS {
        t.status.status = "interrupted".into();
        t.status.message = "The server running the task stopped before it finished".into();
    }
    Ok(Json(t.status))
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
fn rate_limited(state: &AppState) -> String {
    match &state.limiter {
        Some(l) => format!(
            "# HELP cheap_http_rate_limited_total Requests refused with 429 by the rate limiter.\n# TYPE cheap_http_rate_limited_total counter\ncheap_http_rate_limited_total {}\n",
            l.limited()
        ),
        None => String::new(),
    }
}
