//! # cheap-db-sqlite
//!
//! The SQLite backend of cheap-rs: [`SqliteDao`] stores catalogs in the CHEAP reference's
//! 12-table schema (so databases move between the Java implementation and this one), over a
//! sqlx pool, with WAL, `BEGIN IMMEDIATE` writes and multi-row batched statements.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> cheap_core::Result<()> {
//! use cheap_core::{Catalog, CheapDao};
//! let dao = cheap_db_sqlite::SqliteDao::connect("sqlite::memory:").await?;
//! let catalog = Catalog::new();
//! dao.save_catalog(&catalog).await?;
//! assert_eq!(dao.load_catalog(catalog.id()).await?.id(), catalog.id());
//! dao.close().await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod conn;
mod error;
mod options;

use std::ops::Deref;

use sqlx::sqlite::SqlitePool;

pub use cheap_sql::TableAccess;
pub use error::map_err;
pub use options::{SqliteOptions, DEFAULT_MMAP, DEFAULT_PAGE_CACHE};

use cheap_core::Result;
use cheap_sql::schema::SchemaOptions;
use cheap_sql::sqlx_conn::SqlxBackend;
use cheap_sql::SqlDao;
pub use conn::SqliteDriver;

/// A [`CheapDao`](cheap_core::CheapDao) over a SQLite database file or in-memory database.
///
/// Every operation is the shared SQL engine's ([`SqlDao`], which this type forwards to); table mappings
/// and table introspection from [`TableAccess`]. Mapped tables without an entity id column
/// identify their rows by `rowid`.
#[derive(Debug, Clone)]
pub struct SqliteDao {
    engine: SqlDao<SqliteBackend>,
}

/// What the shared engine needs of SQLite: the shared sqlx layer over [`SqliteDriver`].
pub type SqliteBackend = SqlxBackend<SqliteDriver>;

impl SqliteDao {
    /// Opens `url` (`sqlite://file.db`, `sqlite:file.db?mode=rwc`, `sqlite::memory:`) with the
    /// default [`SqliteOptions`], creating the file and the schema when missing.
    pub async fn connect(url: &str) -> Result<Self> {
        SqliteOptions::url(url).connect().await
    }

    /// Options to tune before connecting.
    pub fn builder(url: impl Into<String>) -> SqliteOptions {
        SqliteOptions::url(url)
    }

    /// Wraps an existing pool (the schema is not created; call [`init_schema`](Self::init_schema)).
    pub fn from_pool(pool: SqlitePool) -> Self {
        SqliteDao {
            engine: SqlDao::new(SqlxBackend::new(pool)),
        }
    }

    /// The underlying pool, for queries of your own.
    pub fn pool(&self) -> &SqlitePool {
        self.engine.backend().pool()
    }

    /// The shared engine this DAO forwards to.
    pub fn engine(&self) -> &SqlDao<SqliteBackend> {
        &self.engine
    }

    /// Creates the schema if missing (idempotent).
    pub async fn init_schema(&self) -> Result<()> {
        cheap_sql::schema::init_schema(self.engine.backend(), SchemaOptions::default()).await
    }
}

impl Deref for SqliteDao {
    type Target = SqlDao<SqliteBackend>;

    fn deref(&self) -> &SqlDao<SqliteBackend> {
        &self.engine
    }
}

// Every operation is the shared engine's: see `cheap_sql::SqlDao`.
cheap_core::forward_cheap_dao!([] SqliteDao, this => &this.engine);
