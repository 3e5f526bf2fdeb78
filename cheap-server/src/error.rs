//! Errors as HTTP responses: one conversion, the reference's error body
//! `{timestamp, status, error, message, path[, errors]}`.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use cheap_core::rest::{ErrorBody, FieldError, UnavailableReason};
use cheap_core::{CheapError, NotFound};

/// An error answer: status, message and optional field errors.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Message for the `message` key.
    pub message: String,
    /// Field errors, for validation failures.
    pub errors: Vec<FieldError>,
    /// What a 404 did not find.
    pub missing: Option<Box<NotFound>>,
    /// Seconds for a `Retry-After` header (503s of a busy or unreachable store).
    pub retry_after: Option<u32>,
    /// Why a 503 happened, for the body's `reason`.
    pub reason: Option<cheap_core::rest::UnavailableReason>,
    /// The failing operation of a refused batch.
    pub operation: Option<usize>,
    /// The catalog's version, for a 412.
    pub current_version: Option<i64>,
    /// The version the request expected, for a 412.
    pub expected_version: Option<i64>,
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with a status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            errors: Vec::new(),
            missing: None,
            retry_after: None,
            reason: None,
            operation: None,
            current_version: None,
            expected_version: None,
        }
    }

    /// The same error, saying why it is a 503.
    pub fn because(mut self, reason: UnavailableReason) -> Self {
        self.reason = Some(reason);
        self
    }

    /// The same error, asking the client to retry after `seconds`.
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    /// 400 with field errors.
    pub fn validation(message: impl Into<String>, errors: Vec<FieldError>) -> Self {
        ApiError {
            errors,
            ..ApiError::bad_request(message)
        }
    }

    /// 404 for something the store does not have, worded as the reference words it.
    pub fn missing(m: &NotFound) -> Self {
        let message = match m {
            NotFound::Catalog { id } => format!("Catalog not found: {id}"),
            NotFound::Hierarchy { name, .. } => format!("Hierarchy not found: {name}"),
            NotFound::AspectDef { name, .. } => format!("AspectDef not found: {name}"),
            NotFound::TreePath { path } => format!("Parent node not found at path: {path}"),
            NotFound::Task { id } => format!("Task not found: {id}"),
            NotFound::Table { name } => format!("Table not found: {name}"),
            other => format!("Not found: {other}"),
        };
        ApiError {
            missing: Some(Box::new(m.clone())),
            ..ApiError::not_found(message)
        }
    }
}

impl From<CheapError> for ApiError {
    fn from(e: CheapError) -> Self {
        match e {
            CheapError::InBatch { index, source } => {
                let inner = ApiError::from(*source);
                ApiError {
                    message: format!("Batch operation {index} failed: {}", inner.message),
                    operation: Some(index),
                    ..inner
                }
            }
            CheapError::PreconditionFailed { expected, actual } => ApiError {
                current_version: Some(actual),
                // A tag that names no version of ours expected none.
                expected_version: (expected != i64::MIN).then_some(expected),
                ..ApiError::new(
                    StatusCode::PRECONDITION_FAILED,
                    if expected == i64::MIN {
                        format!("Precondition failed: If-Match names no version of this catalog (it is at version {actual}); nothing was changed")
                    } else {
                        format!("Precondition failed: the catalog is at version {actual}, not {expected}; nothing was changed")
                    },
                )
            },
            CheapError::NotFound(m) => ApiError::missing(&m),
            CheapError::Conflict { message, .. } => ApiError::conflict(message),
            CheapError::InvalidInput(m) | CheapError::NotAllowed(m) => ApiError::bad_request(m),
            e @ CheapError::InvalidValue { .. } => {
                let field = match &e {
                    CheapError::InvalidValue { property, .. } => property.clone(),
                    _ => String::new(),
                };
                let message = e.to_string();
                ApiError::validation(message.clone(), vec![FieldError { field, message }])
            }
            CheapError::Unavailable(m) => {
                tracing::warn!(error = %m, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Database unavailable: the store is down or busy; retry shortly",
                )
                .retry_after(1)
                .because(UnavailableReason::Store)
            }
            CheapError::Contention(m) => {
                tracing::warn!(error = %m, "write conflict persisted after retries");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The write conflicted with concurrent writes and was not applied; retry shortly",
                )
                .retry_after(1)
                .because(UnavailableReason::Contention)
            }
            CheapError::Timeout(m) => {
                tracing::warn!(error = %m, "database timeout");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The store is busy (it did not answer in time); retry shortly",
                )
                .retry_after(1)
                .because(UnavailableReason::Store)
            }
            other => {
                tracing::error!(error = %other, "database error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Database error occurred")
            }
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request(format!("Invalid path: {}", r.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(format!("Invalid query: {}", r.body_text()))
    }
}

/// Carried from [`ApiError::into_response`] to [`error_body`], which knows the request path.
#[derive(Debug, Clone)]
struct PendingError(ApiError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = self.status.into_response();
        r.extensions_mut().insert(PendingError(self));
        r
    }
}

/// Middleware writing the error body of every [`ApiError`] response, with the request path.
pub async fn error_body(req: Request, next: Next) -> Response {
    let uri = req.uri().clone();
    with_error_body(uri.path(), next.run(req).await)
}

/// `response`, or when it carries an [`ApiError`], the error's JSON body for `path` with the
/// response's other headers.
pub(crate) fn with_error_body(path: &str, mut response: Response) -> Response {
    let Some(PendingError(e)) = response.extensions_mut().remove::<PendingError>() else {
        return response;
    };
    let body = ErrorBody {
        timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        status: e.status.as_u16(),
        error: e.status.canonical_reason().unwrap_or("Error").to_owned(),
        message: e.message,
        path: path.to_owned(),
        errors: e.errors,
        missing: e.missing.map(|m| *m),
        reason: e.reason,
        operation: e.operation,
        current_version: e.current_version,
        expected_version: e.expected_version,
    };
    let mut fresh = (e.status, axum::Json(&body)).into_response();
    if let Some(v) = e.current_version {
        if let Ok(tag) = crate::etag::for_version(v).parse() {
            fresh.headers_mut().insert(axum::http::header::ETAG, tag);
        }
    }
    if let Some(secs) = e.retry_after {
        fresh
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, secs.into());
    }
    for (k, v) in response.headers() {
        if k != axum::http::header::CONTENT_TYPE && k != axum::http::header::CONTENT_LENGTH {
            fresh.headers_mut().insert(k.clone(), v.clone());
        }
    }
    fresh
}
