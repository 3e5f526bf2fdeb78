//! What every API request passes before its handler, in one middleware per route group: the
//! body read whole, the request deadline, the API key, the rate limit and the ETag check.
//!
//! One middleware rather than one layer each: every `from_fn` layer costs a request a boxed
//! future, a boxed copy of the inner service and a copy of the state, and the checks in
//! between are plain functions of the request.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::AppState;

/// Every route but the import: the body read whole within the body limit, then the checks and
/// the handler within the request timeout (503 when it passes).
pub(crate) async fn api(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let req = match crate::body::read_whole(&state, req).await {
        Ok(req) => req,
        Err(refused) => return refused,
    };
    let timeout = state.config.request_timeout;
    match tokio::time::timeout(timeout, admit(&state, req, next)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "The request was not answered within {} ms",
                timeout.as_millis()
            ),
        )
        .into_response(),
    }
}

/// The import: it spools its own body, up to its own limit, and runs as long as the document
/// takes to store.
pub(crate) async fn import(State(state): State<AppState>, req: Request, next: Next) -> Response {
    admit(&state, req, next).await
}

/// The API key, then the client's quota, then the handler under the ETag check.
async fn admit(state: &AppState, req: Request, next: Next) -> Response {
    if let Some(refused) = crate::auth::check(state, &req) {
        return refused;
    }
    if let Some(refused) = crate::rate_limit::check(state, &req) {
        return refused;
    }
    crate::etag::conditional(state, req, next).await
}
