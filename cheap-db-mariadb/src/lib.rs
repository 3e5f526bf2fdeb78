//! # cheap-db-mariadb
//!
//! The MariaDB backend of cheap-rs: [`MariaDbDao`] stores catalogs in the CHEAP reference's
//! schema (InnoDB, utf8mb4 with binary collation, so keys compare exactly) over a
//! `mysql_async` pool. Every operation runs in one transaction, rows go in multi-row
//! statements, and writers of one catalog are serialized by a lock row.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> cheap_core::Result<()> {
//! use cheap_core::{Catalog, CheapDao};
//! let dao = cheap_db_mariadb::MariaDbDao::connect("mysql://root@127.0.0.1:3306/test").await?;
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

use std::sync::Arc;
use std::time::Duration;

use std::ops::Deref;

use async_trait::async_trait;
use mysql_async::{IsolationLevel, Pool, TxOpts};

pub use cheap_sql::TableAccess;
pub use error::map_err;
pub use options::MariaDbOptions;

use cheap_core::{CheapError, Result};
use cheap_sql::schema::SchemaOptions;
use cheap_sql::{Dialect, MappingRegistry, SqlBackend, SqlConn, SqlDao, TxMode};
use conn::{MariaDbDialect, MyConn};

/// A [`CheapDao`](cheap_core::CheapDao) over a MariaDB (or MySQL) database.
///
/// Every operation is the shared SQL engine's ([`SqlDao`], which this type forwards to); table mappings
/// and table introspection from [`TableAccess`] (mapped DateTime columns are `DATETIME(6)` in
/// UTC; rows of tables without an entity id are numbered in the order the server returns
/// them).
#[derive(Debug, Clone)]
pub struct MariaDbDao {
    engine: SqlDao<MariaDbBackend>,
}

/// What the shared engine needs of MariaDB: the pool (with an acquire timeout, which
/// mysql_async lacks), the dialect and the table mappings.
#[derive(Debug, Clone)]
pub struct MariaDbBackend {
    pool: Pool,
    acquire_timeout: Duration,
    mappings: MappingRegistry,
    /// The server is a Galera node: write transactions carry commit tokens.
    galera: Arc<std::sync::atomic::AtomicBool>,
}

impl MariaDbDao {
    /// Opens `url` (`mysql://user:password@host:3306/database`, or `mariadb://...`) with the
    /// default [`MariaDbOptions`], creating the schema when missing.
    pub async fn connect(url: &str) -> Result<Self> {
        MariaDbOptions::url(url).connect().await
    }

    /// Options to tune before connecting.
    pub fn builder(url: impl AsRef<str>) -> MariaDbOptions {
        MariaDbOptions::url(url)
    }

    /// Wraps an existing pool (the schema is not created; call [`init_schema`](Self::init_schema)).
    pub fn from_pool(pool: Pool) -> Self {
        Self::from_parts(pool, Duration::from_secs(5))
    }

    pub(crate) fn from_parts(pool: Pool, acquire_timeout: Duration) -> Self {
        MariaDbDao {
            engine: SqlDao::new(MariaDbBackend {
                pool,
                acquire_timeout,
                mappings: MappingRegistry::default(),
                galera: Arc::default(),
            }),
        }
    }

    /// The underlying pool, for queries of your own.
    pub fn pool(&self) -> &Pool {
        &self.engine.backend().pool
    }

    /// The shared engine this DAO forwards to.
    pub fn engine(&self) -> &SqlDao<MariaDbBackend> {
        &self.engine
    }

    /// Creates the schema (with foreign keys) if missing (idempotent).
    pub async fn init_schema(&self) -> Result<()> {
        cheap_sql::schema::init_schema(self.engine.backend(), SchemaOptions::default()).await
    }
}

impl Deref for MariaDbDao {
    type Target = SqlDao<MariaDbBackend>;

    fn deref(&self) -> &SqlDao<MariaDbBackend> {
        &self.engine
    }
}

/// Commits whose answer a Galera node got wrong, by their commit token: an OK for a
/// transaction that did not commit (run again) or an error for one that did (not run again).
pub fn commits_misreported() -> u64 {
    conn::MISREPORTED_COMMITS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Write transactions this process found rolled back by MariaDB just before their commit,
/// without an error to any statement (a Galera node's brute-force abort), and ran again. A
/// plain server never does this; on a cluster it counts conflicts the retry absorbed.
pub fn transactions_aborted_before_commit() -> u64 {
    conn::ABORTED_BEFORE_COMMIT.load(std::sync::atomic::Ordering::Relaxed)
}

// Every operation is the shared engine's: see `cheap_sql::SqlDao`.
cheap_core::forward_cheap_dao!([] MariaDbDao, this => &this.engine);

impl MariaDbBackend {
    /// Turns commit tokens on when the server is a Galera node that has the token table.
    pub(crate) async fn detect_galera(&self) -> Result<()> {
        use mysql_async::prelude::Queryable;
        let mut conn = self.get_conn().await?;
        // A server without the variable is no Galera node.
        let on: Option<i64> = conn.query_first("SELECT @@wsrep_on").await.unwrap_or(None);
        let table: Option<i64> = conn
            .query_first(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'cheap_commit'",
            )
            .await
            .map_err(map_err)?;
        let galera = on == Some(1) && table.unwrap_or(0) > 0;
        self.galera
            .store(galera, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// A connection within the acquire timeout.
    pub(crate) async fn get_conn(&self) -> Result<mysql_async::Conn> {
        self.within(self.pool.get_conn()).await
    }

    async fn within<T>(
        &self,
        f: impl std::future::Future<Output = std::result::Result<T, mysql_async::Error>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.acquire_timeout, f).await {
            Ok(r) => r.map_err(map_err),
            Err(_) => Err(CheapError::Unavailable(format!(
                "timed out after {:?} waiting for a MariaDB connection",
                self.acquire_timeout
            ))),
        }
    }
}

#[async_trait]
impl SqlBackend for MariaDbBackend {
    fn name(&self) -> &'static str {
        "mariadb"
    }

    fn dialect(&self) -> &dyn Dialect {
        &MariaDbDialect
    }

    fn mapping_registry(&self) -> &MappingRegistry {
        &self.mappings
    }

    async fn connect(&self, mode: TxMode) -> Result<Box<dyn SqlConn>> {
        let mut opts = TxOpts::default();
        let conn = match mode {
            TxMode::None => MyConn::Plain(self.get_conn().await?),
            TxMode::Read => {
                opts.with_consistent_snapshot(true).with_readonly(true);
                MyConn::Tx(self.within(self.pool.start_transaction(opts)).await?)
            }
            TxMode::Write if self.galera.load(std::sync::atomic::Ordering::Relaxed) => {
                let conn = self.get_conn().await?;
                MyConn::Galera(conn::GaleraWrite::begin(conn, &self.pool).await?)
            }
            TxMode::Write => {
                // Writers of one catalog are serialized by its lock row; read committed keeps
                // InnoDB's gap locks from making writers of different catalogs deadlock.
                opts.with_isolation_level(IsolationLevel::ReadCommitted);
                MyConn::Write(self.within(self.pool.start_transaction(opts)).await?)
            }
        };
        Ok(Box::new(conn))
    }

    async fn close_pool(&self) -> Result<()> {
        self.pool.clone().disconnect().await.map_err(map_err)
    }
}
