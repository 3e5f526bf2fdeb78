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
mod mapping;
mod options;
pub mod schema;

use std::sync::Arc;

use sqlx::sqlite::SqlitePool;
use sqlx::{Sqlite, Transaction};

pub use error::map_err;
pub use options::SqliteOptions;

use cheap_core::sql::{AspectTableMapping, MappingRegistry};
use cheap_core::{AspectMap, Catalog, Result};
use mapping::Mappings;

/// A [`CheapDao`](cheap_core::CheapDao) over a SQLite database file or in-memory database.
#[derive(Debug, Clone)]
pub struct SqliteDao {
    pool: SqlitePool,
    mappings: MappingRegistry,
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
        SqliteDao {
            pool,
            mappings: MappingRegistry::default(),
        }
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

    /// Stores the aspects of `mapping`'s def in its table from now on, in every catalog of this
    /// store (the registration lives in this process; redo it after a restart, before loading).
    /// The table must exist: see [`create_table`](Self::create_table). The shapes and how each
    /// finds a catalog's rows are described in [`AspectTableMapping`] and the crate docs.
    pub fn add_table_mapping(&self, mapping: AspectTableMapping) -> Result<()> {
        self.mappings.add(mapping)
    }

    /// The mapping registered for an aspect def name.
    pub fn table_mapping(&self, aspect_def: &str) -> Option<Arc<AspectTableMapping>> {
        self.mappings.get(aspect_def)
    }

    /// Creates the mapping's table if it does not exist.
    pub async fn create_table(&self, mapping: &AspectTableMapping) -> Result<()> {
        let sql = mapping::create_table_sql(mapping)?;
        sqlx::query(&sql)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    /// The database's tables.
    pub async fn list_tables(&self) -> Result<Vec<String>> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        mapping::list_tables(&mut conn).await
    }

    /// An existing table's columns as an aspect def named after the table (NotFound if the
    /// table does not exist).
    pub async fn table_def(&self, table: &str) -> Result<cheap_core::AspectDef> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        mapping::table_def(&mut conn, table).await
    }

    /// An existing table's rows (at most `max_rows`) as an aspect map of [`table_def`](Self::table_def).
    pub async fn load_table(&self, table: &str, max_rows: Option<u64>) -> Result<AspectMap> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        mapping::load_table(&mut tx, table, max_rows).await
    }

    /// A SOURCE catalog caching an existing table: one aspect map holding its rows. The catalog
    /// id is derived from the table name, so caching the same table again gives the same id.
    pub async fn cache_table(&self, table: &str, max_rows: Option<u64>) -> Result<Catalog> {
        cheap_core::sql::table_catalog(table, &self.load_table(table, max_rows).await?)
    }

    pub(crate) fn mappings(&self) -> Mappings {
        self.mappings.snapshot()
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
