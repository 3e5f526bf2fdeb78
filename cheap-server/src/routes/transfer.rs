//! Whole catalogs out and in as cheap-json: export streamed from one snapshot, import spooled
//! to a temporary file and then stored part by part (in the foreground, or as a task that any
//! server over the store reports).

use std::io::BufReader;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body as HttpBody;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;

use crate::error::{ApiError, ApiResult};
use crate::extract::{uuid, Params, Query};
use crate::transfer::{export_json, start_import, CountingReader};
use crate::AppState;
use cheap_core::dao::TaskRecord;
use cheap_core::rest::{ImportResponse, TaskStatus};
use cheap_core::NotFound;

/// The whole catalog as cheap-json (an extension), streamed: read page by page from one
/// consistent state of the catalog, so the server holds a page, not the catalog.
#[utoipa::path(get, path = "/api/catalog/{catalog_id}/export", responses((status = 200, description = "cheap-json catalog", body = Object), (status = 404)))]
pub(crate) async fn export(
    State(state): State<AppState>,
    Params(id): Params<String>,
) -> ApiResult<Response> {
    let id = uuid(&id, "catalog id")?;
    let mut text = export_json(state.dao.clone(), id, false);
    // The first piece tells a missing catalog (404) before the answer starts.
    let first = match text.next().await {
        Some(Ok(b)) => b,
        Some(Err(e)) => return Err(e.into()),
        None => bytes::Bytes::new(),
    };
    let body = futures::stream::iter([Ok(first)]).chain(text);
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        HttpBody::from_stream(body),
    )
        .into_response())
}

/// `?background=true` runs an import as a task.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ImportQuery {
    /// Answer 202 once the document is received and import in the background
    /// (`GET /api/tasks/{id}` reports, with the bytes read so far).
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

/// Stores a whole cheap-json catalog, replacing one with the same id (an extension). The body
/// may be as large as `import_body_limit`: it is spooled to a temporary file as it arrives,
/// then read part by part into one transaction of the store, so neither the body nor the
/// catalog is held in memory, and a slow upload holds no lock. A document refused at any point
/// stores nothing. With `?background=true` the answer is 202 with a task to poll.
#[utoipa::path(post, path = "/api/catalog/import", params(ImportQuery), request_body(content = Object, description = "cheap-json catalog"),
    responses((status = 201, body = ImportResponse), (status = 202, body = TaskStatus), (status = 400), (status = 409)))]
pub(crate) async fn import(
    State(state): State<AppState>,
    Query(q): Query<ImportQuery>,
    headers: HeaderMap,
    body: HttpBody,
) -> Response {
    let limit = state.config.import_body_limit;
    if crate::body::declared_length(&headers).is_some_and(|n| n > limit) {
        return crate::body::closing(StatusCode::PAYLOAD_TOO_LARGE, "Request body is too large");
    }
    match crate::body::spool(body, limit, state.config.body_read_timeout).await {
        Err(refused) => refused,
        Ok((file, size)) => store(state, q, file, size)
            .await
            .unwrap_or_else(IntoResponse::into_response),
    }
}

/// The import of a spooled document.
async fn store(
    state: AppState,
    q: ImportQuery,
    file: std::fs::File,
    size: u64,
) -> ApiResult<Response> {
    let read = Arc::new(AtomicU64::new(0));
    let reader = CountingReader::new(BufReader::with_capacity(64 * 1024, file), read.clone());
    // The header is read before answering, so a document that is not a catalog is a 400
    // either way.
    let (header, parts) = start_import(reader).await?;
    if !q.background.unwrap_or(false) {
        let version = state.dao.import_catalog(parts).await?;
        let body = ImportResponse {
            catalog_id: header.id,
            version,
            message: "Catalog imported successfully".into(),
        };
        return Ok((StatusCode::CREATED, Json(body)).into_response());
    }
    let task = TaskStatus {
        task_id: uuid::Uuid::new_v4(),
        status: "running".into(),
        catalog_id: Some(header.id),
        version: None,
        message: "Import running".into(),
        done: Some(read.load(Ordering::Relaxed)),
        total: Some(size),
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
        let import = dao.import_catalog(parts);
        tokio::pin!(import);
        let mut beat = tokio::time::interval(HEARTBEAT);
        beat.tick().await;
        let outcome = loop {
            tokio::select! {
                outcome = &mut import => break outcome,
                _ = beat.tick() => {
                    let mut now = running.clone();
                    now.done = Some(read.load(Ordering::Relaxed));
                    if let Err(e) = dao.put_task(&record(now)).await {
                        tracing::warn!(task = %running.task_id, error = %e, "could not record the task's heartbeat");
                    }
                }
            }
        };
        let mut done = running.clone();
        done.done = Some(read.load(Ordering::Relaxed));
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
