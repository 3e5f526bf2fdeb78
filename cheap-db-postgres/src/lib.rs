//! # cheap-db-postgres
//!
//! The PostgreSQL backend of cheap-rs: [`PostgresDao`] stores catalogs in the CHEAP reference's
//! schema (native `uuid`, `boolean`, `bytea`) over a sqlx pool, writing rows with multi-row
//! statements in one transaction per operation. Writers of one catalog are serialized with a
//! transaction-scoped advisory lock.
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

use sqlx::postgres::PgPool;
use sqlx::{Postgres, Transaction};

pub use error::map_err;
pub use options::PostgresOptions;

use cheap_core::sql::{AspectTableMapping, MappingRegistry};
use cheap_core::{AspectMap, Catalog, Result};
use mapping::Mappings;

/// A [`CheapDao`](cheap_core::CheapDao) over a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresDao {
    pool: PgPool,
    mappings: MappingRegistry,
}

impl PostgresDao {
    /// Opens `url` (`postgres://user@host:5432/db`) with the default [`PostgresOptions`],
    /// creating the schema when missing.
    pub async fn connect(url: &str) -> Result<Self> {
        PostgresOptions::url(url).connect().await
    }

    /// Options to tune before connecting.
    pub fn builder(url: impl Into<String>) -> PostgresOptions {
        PostgresOptions::url(url)
    }

    /// Wraps an existing pool (the schema is not created; call [`init_schema`](Self::init_schema)).
    pub fn from_pool(pool: PgPool) -> Self {
        PostgresDao {
            pool,
            mappings: MappingRegistry::default(),
        }
    }

    /// The underlying pool, for queries of your own.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates the schema if missing (idempotent).
    pub async fn init_schema(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        schema::init_schema(&mut conn).await
    }

    /// Stores the aspects of `mapping`'s def in its table from now on, in every catalog of this
    /// store (the registration lives in this process; redo it after a restart). The table must
    /// exist: see [`create_table`](Self::create_table).
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

    /// The tables of the current schema.
    pub async fn list_tables(&self) -> Result<Vec<String>> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        mapping::list_tables(&mut conn).await
    }

    /// An existing table's columns as an aspect def named after the table.
    pub async fn table_def(&self, table: &str) -> Result<cheap_core::AspectDef> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        mapping::table_def(&mut conn, table).await
    }

    /// An existing table's rows (at most `max_rows`) as an aspect map of its def.
    pub async fn load_table(&self, table: &str, max_rows: Option<u64>) -> Result<AspectMap> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        mapping::load_table(&mut tx, table, max_rows).await
    }

    /// A SOURCE catalog caching an existing table (its id derived from the table name).
    pub async fn cache_table(&self, table: &str, max_rows: Option<u64>) -> Result<Catalog> {
        cheap_core::sql::table_catalog(table, &self.load_table(table, max_rows).await?)
    }

    pub(crate) fn mappings(&self) -> Mappings {
        self.mappings.snapshot()
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(map_err)
    }
}
