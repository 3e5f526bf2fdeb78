//! # cheap-db-postgres
//!
//! The PostgreSQL backend of cheap-rs: [`PostgresDao`] stores catalogs in the CHEAP reference's
//! schema (native `uuid`, `boolean`, `bytea`) over a sqlx pool, writing rows with multi-row
//! statements in one transaction per operation. Writers of one catalog are serialized with a
//! transaction-scoped advisory lock.
#![deny(missing_docs)]

mod conn;
mod error;
mod options;

use std::ops::Deref;

use sqlx::postgres::PgPool;

pub use cheap_sql::TableAccess;
pub use error::map_err;
pub use options::PostgresOptions;

use cheap_core::Result;
use cheap_sql::schema::SchemaOptions;
use cheap_sql::sqlx_conn::SqlxBackend;
use cheap_sql::SqlDao;
pub use conn::{PgDriver, CHANGES_CHANNEL};

/// A [`CheapDao`](cheap_core::CheapDao) over a PostgreSQL database.
///
/// Every operation is the shared SQL engine's ([`SqlDao`], which this type forwards to); table mappings
/// and table introspection from [`TableAccess`] (mapped columns get native PostgreSQL types;
/// rows of tables without an entity id are numbered in physical order).
#[derive(Debug, Clone)]
pub struct PostgresDao {
    engine: SqlDao<PostgresBackend>,
}

/// What the shared engine needs of PostgreSQL: the shared sqlx layer over [`PgDriver`].
pub type PostgresBackend = SqlxBackend<PgDriver>;

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
            engine: SqlDao::new(SqlxBackend::new(pool)),
        }
    }

    /// The underlying pool, for queries of your own.
    pub fn pool(&self) -> &PgPool {
        self.engine.backend().pool()
    }

    /// The shared engine this DAO forwards to.
    pub fn engine(&self) -> &SqlDao<PostgresBackend> {
        &self.engine
    }

    /// Creates the schema if missing (idempotent).
    pub async fn init_schema(&self) -> Result<()> {
        cheap_sql::schema::init_schema(self.engine.backend(), SchemaOptions::default()).await
    }
}

impl Deref for PostgresDao {
    type Target = SqlDao<PostgresBackend>;

    fn deref(&self) -> &SqlDao<PostgresBackend> {
        &self.engine
    }
}

// Every operation is the shared engine's: see `cheap_sql::SqlDao`.
cheap_core::forward_cheap_dao!([] PostgresDao, this => &this.engine);
