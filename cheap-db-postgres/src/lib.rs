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
mod options;
pub mod schema;

use sqlx::postgres::PgPool;
use sqlx::{Postgres, Transaction};

pub use error::map_err;
pub use options::PostgresOptions;

use cheap_core::Result;

/// A [`CheapDao`](cheap_core::CheapDao) over a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresDao {
    pool: PgPool,
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
        PostgresDao { pool }
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

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(map_err)
    }
}
