//! The one error type of cheap-rs, with backend-neutral kinds.

use std::error::Error as StdError;
use std::fmt;

use uuid::Uuid;

/// Result alias used throughout cheap-rs.
pub type Result<T, E = CheapError> = std::result::Result<T, E>;

/// Every failure cheap-rs reports. Backends map their driver errors onto these kinds so that
/// callers (and the REST server) can react to *what* went wrong without knowing *where*.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheapError {
    /// What was looked for does not exist; [`NotFound`] says which thing it was.
    #[error("not found: {0}")]
    NotFound(NotFound),
    /// The operation collides with what is stored (duplicate name, different def under the same
    /// name, unique constraint).
    #[error("conflict: {message}")]
    Conflict {
        /// What collided.
        message: String,
        /// The database constraint that refused the write, when the driver names it.
        constraint: Option<String>,
        /// The driver's error, when the conflict came from the database.
        #[source]
        source: Option<Box<dyn StdError + Send + Sync>>,
    },
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
    /// The transaction lost a race with a concurrent one (a serialization failure, a deadlock, a
    /// lock wait timeout, a Galera certification failure). The SQL backends re-run such a
    /// transaction a few times before reporting this; the caller may retry later.
    #[error("contention: {0}")]
    Contention(String),
    /// A write made on the condition that the catalog was at `expected` found it at `actual`;
    /// nothing was written.
    #[error("precondition failed: catalog is at version {actual}, not {expected}")]
    PreconditionFailed {
        /// The version the caller expected.
        expected: i64,
        /// The catalog's version.
        actual: i64,
    },
    /// Operation `index` (from 0) of an atomic batch failed with `source`; nothing of the
    /// batch was written.
    #[error("batch operation {index}: {source}")]
    InBatch {
        /// The failing operation's position in the batch.
        index: usize,
        /// Why it failed.
        #[source]
        source: Box<CheapError>,
    },
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

/// What a [`CheapError::NotFound`] was looking for. In JSON (the `missing` key of a 404 body)
/// it is an object tagged by `kind`: `{"kind": "hierarchy", "catalog": "...", "name": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum NotFound {
    /// A catalog.
    Catalog {
        /// The catalog's id.
        id: Uuid,
    },
    /// A hierarchy of a catalog (the catalog exists).
    Hierarchy {
        /// The catalog's id, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        catalog: Option<Uuid>,
        /// The hierarchy's name.
        name: String,
    },
    /// An aspect def of a catalog (the catalog exists), or a def a document refers to.
    AspectDef {
        /// The catalog's id, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        catalog: Option<Uuid>,
        /// The def's name (or id, as the caller gave it).
        name: String,
    },
    /// A node of an entity tree.
    TreePath {
        /// The path that does not lead to a node.
        path: String,
    },
    /// A background task.
    Task {
        /// The task's id.
        id: Uuid,
    },
    /// A database table.
    Table {
        /// The table's name.
        name: String,
    },
    /// Something a remote store reported missing without saying which kind it was.
    Other {
        /// The store's description of it.
        what: String,
    },
}

impl NotFound {
    /// A catalog.
    pub fn catalog(id: Uuid) -> Self {
        NotFound::Catalog { id }
    }

    /// A hierarchy of a catalog.
    pub fn hierarchy(catalog: Uuid, name: impl Into<String>) -> Self {
        NotFound::Hierarchy {
            catalog: Some(catalog),
            name: name.into(),
        }
    }

    /// An aspect def of a catalog.
    pub fn aspect_def(catalog: Uuid, name: impl Into<String>) -> Self {
        NotFound::AspectDef {
            catalog: Some(catalog),
            name: name.into(),
        }
    }

    /// A tree node.
    pub fn tree_path(path: impl Into<String>) -> Self {
        NotFound::TreePath { path: path.into() }
    }
}

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotFound::Catalog { id } => write!(f, "catalog {id}"),
            NotFound::Hierarchy {
                catalog: Some(c),
                name,
            } => write!(f, "hierarchy '{name}' in catalog {c}"),
            NotFound::Hierarchy {
                catalog: None,
                name,
            } => write!(f, "hierarchy '{name}'"),
            NotFound::AspectDef {
                catalog: Some(c),
                name,
            } => write!(f, "aspect def '{name}' in catalog {c}"),
            NotFound::AspectDef {
                catalog: None,
                name,
            } => write!(f, "aspect def '{name}'"),
            NotFound::TreePath { path } => write!(f, "tree path '{path}'"),
            NotFound::Task { id } => write!(f, "task {id}"),
            NotFound::Table { name } => write!(f, "table '{name}'"),
            NotFound::Other { what } => f.write_str(what),
        }
    }
}

impl From<NotFound> for CheapError {
    fn from(m: NotFound) -> Self {
        CheapError::NotFound(m)
    }
}

impl CheapError {
    /// Shorthand for [`CheapError::InvalidInput`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        CheapError::InvalidInput(msg.into())
    }

    /// A [`CheapError::Conflict`] found by cheap-rs itself (no driver error behind it).
    pub fn conflict(msg: impl Into<String>) -> Self {
        CheapError::Conflict {
            message: msg.into(),
            constraint: None,
            source: None,
        }
    }

    /// A [`CheapError::Conflict`] reported by the database: the driver's error is kept as the
    /// source, with the constraint's name when the driver gives one.
    pub fn db_conflict(
        constraint: Option<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        let source = source.into();
        CheapError::Conflict {
            message: source.to_string(),
            constraint,
            source: Some(source),
        }
    }

    /// What is missing, for a [`CheapError::NotFound`].
    pub fn missing(&self) -> Option<&NotFound> {
        match self {
            CheapError::NotFound(m) => Some(m),
            _ => None,
        }
    }

    /// The constraint that refused a write, for a [`CheapError::Conflict`] from the database.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            CheapError::Conflict { constraint, .. } => constraint.as_deref(),
            _ => None,
        }
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

    /// True when the request itself was refused (missing, conflicting, invalid, not allowed,
    /// or made on a version the catalog is no longer at), as opposed to the store failing to
    /// carry it out.
    pub fn is_refusal(&self) -> bool {
        match self {
            CheapError::InBatch { source, .. } => source.is_refusal(),
            e => matches!(
                e,
                CheapError::NotFound(_)
                    | CheapError::Conflict { .. }
                    | CheapError::InvalidInput(_)
                    | CheapError::InvalidValue { .. }
                    | CheapError::NotAllowed(_)
                    | CheapError::PreconditionFailed { .. }
            ),
        }
    }

    /// The error itself, or for a failed batch operation the operation's error.
    pub fn underlying(&self) -> &CheapError {
        match self {
            CheapError::InBatch { source, .. } => source.underlying(),
            e => e,
        }
    }

    /// True for failures worth retrying later (unavailable backend, timeout, contention).
    pub fn is_transient(&self) -> bool {
        matches!(
            self.underlying(),
            CheapError::Unavailable(_) | CheapError::Timeout(_) | CheapError::Contention(_)
        )
    }
}
