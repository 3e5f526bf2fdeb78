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
#![warn(missing_docs)]

mod batch;
mod content;
mod dao;
mod defs;
mod error;
mod options;
pub mod schema;

use sqlx::sqlite::SqlitePool;
use sqlx::{Sqlite, Transaction};

pub use error::map_err;
pub use options::SqliteOptions;

use cheap_core::Result;

/// A [`CheapDao`](cheap_core::CheapDao) over a SQLite database file or in-memory database.
#[derive(Debug, Clone)]
pub struct SqliteDao {
    pool: SqlitePool,
}

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
        SqliteDao { pool }
    }

    /// The underlying pool, for queries of your own.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Creates the schema if missing (idempotent).
    pub async fn init_schema(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        schema::init_schema(&mut conn).await
    }

    /// A write transaction, begun with `BEGIN IMMEDIATE` so that concurrent writers wait on the
    /// busy timeout instead of failing with "database is locked" on lock upgrade.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)
    }
}
