//! `GET /api/catalog/{id}/events`: a catalog's changes as Server-Sent Events, from
//! [`CheapDao::watch`](cheap_core::CheapDao::watch).
//!
//! Each event's `id` is the catalog's version after it, so a client that reconnects with
//! `Last-Event-ID` continues where it stopped and misses nothing. The number of open streams
//! is bounded ([`ServerConfig::max_event_streams`](crate::ServerConfig::max_event_streams));
//! beyond it the answer is 503. A server shutting down ends them.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::Semaphore;

use crate::error::{ApiError, ApiResult};
use crate::extract::{uuid, Params, Query};
use crate::AppState;
use cheap_core::dao::ChangeEvent;
use cheap_core::rest::{ChangeEventBody, UnavailableReason};

/// `?since=N`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// The version the caller has: events tell what changed after it. Default: the catalog's
    /// current version (only what changes from now on). `Last-Event-ID` takes precedence.
    since: Option<i64>,
}

/// Told when the server begins to shut down: open event streams end then, so that the
/// graceful shutdown does not wait on them. Put in each request's extensions by
/// [`serve_with_limits`](crate::serve_with_limits).
#[derive(Debug, Clone)]
pub(crate) struct ShuttingDown(pub tokio::sync::watch::Receiver<bool>);

/// The open event streams of one server.
#[derive(Debug)]
pub(crate) struct Streams {
    open: Arc<Semaphore>,
}

impl Streams {
    pub(crate) fn new(max: usize) -> Self {
        Streams {
            open: Arc::new(Semaphore::new(max)),
        }
    }
}

/// The version in `Last-Event-ID`, when it is one.
fn last_event_id(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(v) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or_default().trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| ApiError::bad_request(format!("Last-Event-ID is not a version: '{text}'")))
}

fn sse_event(e: &ChangeEvent) -> Event {
    let body = ChangeEventBody::from(e);
    let mut event = Event::default().event(body.kind.clone());
    if let Some(v) = e.version() {
        event = event.id(v.to_string());
    }
    // Serializing plain strings, numbers and UUIDs cannot fail.
    event
        .json_data(&body)
        .unwrap_or_else(|_| Event::default().comment("an event that could not be written"))
}

/// What changes in a catalog, as it changes (Server-Sent Events; an extension).
#[utoipa::path(get, path = "/api/catalog/{catalog_id}/events", params(EventsQuery),
    responses(
        (status = 200, description = "`text/event-stream`: events `changed`, `resync` and `deleted`, each with a ChangeEventBody as data and the version as id", body = ChangeEventBody),
        (status = 400), (status = 404)))]
pub(crate) async fn events(
    State(state): State<AppState>,
    Params(id): Params<String>,
    Query(q): Query<EventsQuery>,
    headers: HeaderMap,
    closing: Option<axum::Extension<ShuttingDown>>,
) -> ApiResult<Response> {
    let id = uuid(&id, "catalog id")?;
    // A missing catalog is a 404, not an empty stream.
    let current = state.dao.catalog_info(id).await?.version;
    let since = last_event_id(&headers)?.or(q.since).unwrap_or(current);
    let permit = state
        .streams
        .open
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "As many event streams are open as this server takes; retry shortly",
            )
            .because(UnavailableReason::Streams)
            .retry_after(5)
        })?;
    let dao = state.dao.clone();
    let mut closing = closing.map(|c| c.0 .0);
    let stream = async_stream::stream! {
        let _permit = permit;
        let mut events = dao.watch(id, since);
        loop {
            let next = match &mut closing {
                Some(rx) => tokio::select! {
                    e = events.next() => e,
                    _ = rx.wait_for(|c| *c) => None,
                },
                None => events.next().await,
            };
            match next {
                Some(Ok(e)) => {
                    let done = e == ChangeEvent::Deleted;
                    yield Ok::<_, Infallible>(sse_event(&e));
                    if done {
                        return;
                    }
                }
                // Deleted since the check above.
                Some(Err(cheap_core::CheapError::NotFound(_))) => {
                    yield Ok(sse_event(&ChangeEvent::Deleted));
                    return;
                }
                // A failed look is tried again at the next signal; the client sees nothing.
                Some(Err(e)) => tracing::debug!(error = %e, catalog = %id, "watching failed"),
                None => return,
            }
        }
    };
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(state.config.event_keep_alive))
        .into_response())
}
