//! The client's one error type.

use cheap_core::rest::{ErrorBody, FieldError};

/// Result alias of the clients.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// What can go wrong talking to a CHEAP server. Errors from answers carry the status and the
/// server's message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// 404: no such catalog, hierarchy, aspect def or route.
    #[error("not found (404): {message}")]
    NotFound {
        /// The server's message.
        message: String,
        /// What was not found, when the server says (cheap-rs servers do).
        missing: Option<cheap_core::NotFound>,
    },
    /// 400 (and other 4xx but 401, 404, 409): the request was refused; `errors` names fields.
    #[error("bad request ({status}): {message}")]
    BadRequest {
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
        /// Field errors of a validation failure.
        errors: Vec<FieldError>,
    },
    /// 401: missing or wrong API key.
    #[error("unauthorized (401): {message}")]
    Unauthorized {
        /// The server's message.
        message: String,
    },
    /// 409: collides with what is stored.
    #[error("conflict (409): {message}")]
    Conflict {
        /// The server's message.
        message: String,
    },
    /// 503: the server or its database is unavailable.
    #[error("unavailable ({status}): {message}")]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// 412: the write was made on a catalog version (`If-Match`, a batch's expected version)
    /// the catalog is no longer at; nothing was applied.
    #[error("precondition failed (412): {message}")]
    PreconditionFailed {
        /// The server's message.
        message: String,
        /// The version the request named.
        expected: Option<i64>,
        /// The catalog's version.
        current: Option<i64>,
    },
    /// 429: over the server's rate limit; nothing was applied. Retried after `Retry-After`
    /// within the retry budget, whatever the method.
    #[error("rate limited (429): {message}")]
    RateLimited {
        /// The server's message.
        message: String,
        /// What `Retry-After` asked for, in seconds.
        retry_after: Option<u64>,
    },
    /// Operation `index` (from 0) of a batch failed with `source`; nothing was applied.
    #[error("batch operation {index}: {source}")]
    InBatch {
        /// The failing operation's index.
        index: usize,
        /// Its error.
        source: Box<ClientError>,
    },
    /// 503 because the write lost races with concurrent writes and was not applied: the server
    /// works, and the request may be sent again (even one that is not idempotent).
    #[error("contention (503): {message}")]
    Contention {
        /// The server's message.
        message: String,
    },
    /// The request or its answer broke off after it was sent (a reset connection, a truncated
    /// body): it may or may not have been applied.
    #[error("transport failed: {0}")]
    Transport(String),
    /// Other 5xx.
    #[error("server error ({status}): {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// No answer within the request timeout.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The connection could not be made.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The circuit breaker is open: recent requests failed, so this one was not sent.
    #[error("circuit open: the server failed repeatedly; not sending until it recovers")]
    CircuitOpen,
    /// The answer could not be read.
    #[error("cannot decode the answer: {0}")]
    Decode(String),
    /// The request could not be built (bad base URL, bad argument).
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl ClientError {
    /// True for a 412: the catalog moved since the version the request named.
    pub fn is_precondition_failed(&self) -> bool {
        matches!(self.innermost(), ClientError::PreconditionFailed { .. })
    }

    /// True for a 429.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, ClientError::RateLimited { .. })
    }

    /// The error itself, or for a failed batch operation the operation's error.
    pub fn innermost(&self) -> &ClientError {
        match self {
            ClientError::InBatch { source, .. } => source.innermost(),
            e => e,
        }
    }

    /// The HTTP status, for errors from an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::NotFound { .. } => Some(404),
            ClientError::Unauthorized { .. } => Some(401),
            ClientError::Conflict { .. } => Some(409),
            ClientError::Contention { .. } => Some(503),
            ClientError::PreconditionFailed { .. } => Some(412),
            ClientError::RateLimited { .. } => Some(429),
            ClientError::InBatch { source, .. } => source.status(),
            ClientError::BadRequest { status, .. }
            | ClientError::Unavailable { status, .. }
            | ClientError::Server { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Builds the error for a non-success answer.
    pub(crate) fn from_answer(status: u16, body: &[u8], retry_after: Option<u64>) -> Self {
        let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
        let operation = parsed.as_ref().and_then(|b| b.operation);
        let err = Self::from_body(status, parsed, body, retry_after);
        match operation {
            Some(index) => ClientError::InBatch {
                index,
                source: Box::new(err),
            },
            None => err,
        }
    }

    fn from_body(
        status: u16,
        parsed: Option<ErrorBody>,
        body: &[u8],
        retry_after: Option<u64>,
    ) -> Self {
        let message = parsed
            .as_ref()
            .map(|b| b.message.clone())
            .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(500).collect());
        let reason = parsed.as_ref().and_then(|b| b.reason);
        let versions = parsed
            .as_ref()
            .map(|b| (b.expected_version, b.current_version))
            .unwrap_or_default();
        let (errors, missing) = parsed.map(|b| (b.errors, b.missing)).unwrap_or_default();
        match status {
            404 => ClientError::NotFound { message, missing },
            401 => ClientError::Unauthorized { message },
            409 => ClientError::Conflict { message },
            412 => ClientError::PreconditionFailed {
                message,
                expected: versions.0,
                current: versions.1,
            },
            429 => ClientError::RateLimited {
                message,
                retry_after,
            },
            503 if reason == Some(cheap_core::rest::UnavailableReason::Contention) => {
                ClientError::Contention { message }
            }
            503 => ClientError::Unavailable { status, message },
            500..=599 => ClientError::Server { status, message },
            _ => ClientError::BadRequest {
                status,
                message,
                errors,
            },
        }
    }

    pub(crate) fn from_reqwest(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            ClientError::Timeout(e.to_string())
        } else if e.is_connect() {
            ClientError::Connect(e.to_string())
        } else if e.is_decode() {
            ClientError::Decode(e.to_string())
        } else if e.is_builder() {
            ClientError::Invalid(e.to_string())
        } else {
            // Sent, then broken off (a body or request error): not a connect error, which is
            // safe to retry, because the server may have applied it.
            ClientError::Transport(e.to_string())
        }
    }
}
