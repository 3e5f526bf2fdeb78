//! # cheap
//!
//! CHEAP (Catalog, Hierarchy, Entity, Aspect, Property) for Rust: catalogs of typed aspects
//! attached to entities, organized in hierarchies, stored through an async [`CheapDao`].
//!
//! This facade re-exports [`cheap_core`] and picks a backend by URL with [`connect`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> cheap::Result<()> {
//! use cheap::{Catalog, CheapDao};
//! let dao = cheap::connect("memory:").await?;
//! let catalog = Catalog::new();
//! dao.save_catalog(&catalog).await?;
//! assert!(dao.catalog_exists(catalog.id()).await?);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

use std::sync::Arc;

pub use cheap_core::*;

/// The REST clients (feature `client`).
#[cfg(feature = "client")]
pub use cheap_client as client;

/// The PostgreSQL backend (feature `postgres`).
#[cfg(feature = "postgres")]
pub use cheap_db_postgres as postgres;

/// The MariaDB backend (feature `mariadb`).
#[cfg(feature = "mariadb")]
pub use cheap_db_mariadb as mariadb;

/// The REST server: `cheap::server::router(dao, config)` and `serve` (feature `server`).
#[cfg(feature = "server")]
pub use cheap_server as server;

/// The SQL engine every SQL backend runs on (with any of the features `sqlite`, `postgres`,
/// `mariadb`).
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mariadb"))]
pub use cheap_sql as sql;

/// Table mappings and introspection of the SQL backends.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mariadb"))]
pub use cheap_sql::TableAccess;

/// The SQLite backend (feature `sqlite`).
#[cfg(feature = "sqlite")]
pub use cheap_db_sqlite as sqlite;

/// Opens a store by URL and returns it as `Arc<dyn CheapDao>`.
///
/// Schemes: `memory:` (a process-local [`MemoryDao`]); `sqlite://path.db` or `sqlite::memory:`
/// (feature `sqlite`, on by default; the file and schema are created when missing);
/// `postgres://user@host:5432/db` (feature `postgres`; the schema is created when missing).
/// `mysql://user:password@host:3306/db` or `mariadb://...` (feature `mariadb`; the schema is
/// created when missing). A scheme whose
/// backend is not compiled in is an [`CheapError::InvalidInput`] naming the feature, never a
/// panic.
pub async fn connect(url: &str) -> Result<Arc<dyn CheapDao>> {
    let scheme = url
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match scheme.as_str() {
        "memory" | "mem" => Ok(Arc::new(MemoryDao::new())),
        #[cfg(feature = "sqlite")]
        "sqlite" => Ok(Arc::new(cheap_db_sqlite::SqliteDao::connect(url).await?)),
        #[cfg(not(feature = "sqlite"))]
        "sqlite" => Err(not_compiled("sqlite", "sqlite")),
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => Ok(Arc::new(
            cheap_db_postgres::PostgresDao::connect(url).await?,
        )),
        #[cfg(not(feature = "postgres"))]
        "postgres" | "postgresql" => Err(not_compiled("postgres", "postgres")),
        #[cfg(feature = "mariadb")]
        "mysql" | "mariadb" => Ok(Arc::new(cheap_db_mariadb::MariaDbDao::connect(url).await?)),
        #[cfg(not(feature = "mariadb"))]
        "mysql" | "mariadb" => Err(not_compiled("mariadb", "mariadb")),
        // Only the scheme: the rest of the URL may hold a password.
        _ => Err(CheapError::invalid(format!(
            "unknown store URL scheme '{scheme}': expected memory:, sqlite:, postgres: or mysql:"
        ))),
    }
}

#[cfg(not(all(feature = "sqlite", feature = "postgres", feature = "mariadb")))]
fn not_compiled(backend: &str, feature: &str) -> CheapError {
    CheapError::invalid(format!(
        "the {backend} backend is not compiled in; enable the `{feature}` feature of the cheap crate"
    ))
}
