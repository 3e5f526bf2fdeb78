//! The one error type of cheap-rs, with backend-neutral kinds.

use std::error::Error as StdError;

/// Result alias used throughout cheap-rs.
pub type Result<T, E = CheapError> = std::result::Result<T, E>;

/// Every failure cheap-rs reports. Backends map their driver errors onto these kinds so that
/// callers (and the REST server) can react to *what* went wrong without knowing *where*.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheapError {
    /// The catalog, hierarchy, aspect def or entity does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The operation collides with what is stored (duplicate name, different def under the same
    /// name, unique constraint).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The input is malformed or violates a model rule.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A property value that does not fit its property definition.
    #[error("invalid value for property '{property}' of aspect def '{aspect_def}' (expected {expected}): {message}")]
    InvalidValue {
        /// Name of the aspect def the property belongs to (empty for a standalone property def).
        aspect_def: String,
        /// Property name.
        property: String,
        /// What the property accepts, such as `Integer` or `non-null String`.
        expected: String,
        /// What was wrong with the value.
        message: String,
    },
    /// The operation is not allowed on this element (read-only property or aspect def, a def that
    /// cannot gain or lose properties, a species that rejects local writes).
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// The backend cannot be reached or is overloaded (pool exhausted, database locked or down).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The operation did not finish in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Any other backend failure, with the driver's error as the source.
    #[error("{backend} backend error: {source}")]
    Backend {
        /// Which backend failed (`sqlite`, `postgres`, `mariadb`, `memory`, `rest`).
        backend: &'static str,
        /// The underlying error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl CheapError {
    /// Shorthand for [`CheapError::InvalidInput`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        CheapError::InvalidInput(msg.into())
    }

    /// Shorthand for [`CheapError::NotFound`].
    pub fn not_found(msg: impl Into<String>) -> Self {
        CheapError::NotFound(msg.into())
    }

    /// Shorthand for [`CheapError::Conflict`].
    pub fn conflict(msg: impl Into<String>) -> Self {
        CheapError::Conflict(msg.into())
    }

    /// Wraps a backend's error.
    pub fn backend(
        backend: &'static str,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        CheapError::Backend {
            backend,
            source: source.into(),
        }
    }

    /// True for failures worth retrying later (unavailable backend, timeout).
    pub fn is_transient(&self) -> bool {
        matches!(self, CheapError::Unavailable(_) | CheapError::Timeout(_))
    }
}
