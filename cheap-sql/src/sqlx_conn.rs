//! The engine's connections over any sqlx driver (feature `sqlx`): SQLite and PostgreSQL share
//! this layer, and each supplies only a [`SqlxDriver`]: how its arguments are bound, how its
//! columns are read, how its errors map, and how it begins a write.

use std::borrow::Cow;
use std::fmt;

use async_trait::async_trait;
use futures::TryStreamExt;
use sqlx::pool::PoolConnection;
use sqlx::{Database, Executor, IntoArguments, Pool, Transaction};

use crate::conn::{Arg, Row, SqlBackend, SqlConn, TxMode};
use crate::dialect::Dialect;
use crate::pool::PoolSettings;
use crate::table_mapping::MappingRegistry;
use cheap_core::{CheapError, Result};

/// What one sqlx driver supplies to the shared connection layer.
pub trait SqlxDriver: Send + Sync + 'static {
    /// The sqlx database.
    type Db: Database;

    /// The backend's name in errors and metrics.
    const NAME: &'static str;

    /// The statement that begins a write transaction (`None`: sqlx's plain `BEGIN`).
    const BEGIN_WRITE: Option<&'static str> = None;

    /// The statement that begins a [`TxMode::Read`] transaction (`None`: sqlx's plain
    /// `BEGIN`). It must give every statement of the transaction one snapshot: a load or an
    /// export reads the catalog in several statements and promises one state.
    const BEGIN_READ: Option<&'static str> = None;

    /// Whether the pool checks a connection before handing it out. A server's connection can
    /// die while idle (a restart, a terminated backend); SQLite's is an in-process worker that
    /// cannot, and the check would cost a round trip to its thread per operation.
    const CHECK_BEFORE_ACQUIRE: bool = true;

    /// The dialect.
    fn dialect() -> &'static dyn Dialect;

    /// The statement as the driver wants it (the engine writes `?` placeholders).
    fn sql(sql: &str) -> Cow<'_, str> {
        Cow::Borrowed(sql)
    }

    /// The arguments of one statement.
    fn arguments<'q>(args: &'q [Arg<'q>]) -> Result<<Self::Db as Database>::Arguments<'q>>;

    /// One result row as plain values.
    fn row(row: &<Self::Db as Database>::Row) -> Result<Row>;

    /// How many rows a statement changed (sqlx has no driver-neutral accessor).
    fn rows_affected(done: &<Self::Db as Database>::QueryResult) -> u64;

    /// A driver error as a [`CheapError`].
    fn map_err(e: sqlx::Error) -> CheapError;

    /// See [`SqlBackend::notify_changes`]; `None` by default.
    fn notify_changes(
        pool: &Pool<Self::Db>,
        wake: std::sync::Arc<tokio::sync::Notify>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let _ = (pool, wake);
        None
    }
}

/// A pooled sqlx connection, in a transaction or not.
pub enum SqlxConn<D: SqlxDriver> {
    /// Inside a transaction: dropped without commit, it rolls back.
    Tx(Transaction<'static, D::Db>),
    /// Outside one.
    Plain(PoolConnection<D::Db>),
}

impl<D: SqlxDriver> SqlxConn<D> {
    fn conn(&mut self) -> &mut <D::Db as Database>::Connection {
        match self {
            SqlxConn::Tx(tx) => tx,
            SqlxConn::Plain(c) => c,
        }
    }
}

#[async_trait]
impl<D: SqlxDriver> SqlConn for SqlxConn<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db> + Send,
{
    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        let sql = D::sql(sql);
        let a = D::arguments(args)?;
        let done = sqlx::query_with::<D::Db, _>(&sql, a)
            .execute(self.conn())
            .await
            .map_err(D::map_err)?;
        Ok(D::rows_affected(&done))
    }

    async fn for_each(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        f: &mut (dyn FnMut(Row) -> Result<()> + Send),
    ) -> Result<()> {
        let sql = D::sql(sql);
        let a = D::arguments(args)?;
        let mut rows = sqlx::query_with::<D::Db, _>(&sql, a).fetch(self.conn());
        while let Some(r) = rows.try_next().await.map_err(D::map_err)? {
            f(D::row(&r)?)?;
        }
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        match *self {
            SqlxConn::Tx(tx) => tx.commit().await.map_err(D::map_err),
            SqlxConn::Plain(_) => Ok(()),
        }
    }
}

/// The pool, dialect and table mappings of a sqlx database: the [`SqlBackend`] of SQLite and
/// PostgreSQL.
pub struct SqlxBackend<D: SqlxDriver> {
    pool: Pool<D::Db>,
    mappings: MappingRegistry,
}

impl<D: SqlxDriver> SqlxBackend<D> {
    /// The backend over `pool`, with no table mappings.
    pub fn new(pool: Pool<D::Db>) -> Self {
        SqlxBackend {
            pool,
            mappings: MappingRegistry::default(),
        }
    }

    /// The pool.
    pub fn pool(&self) -> &Pool<D::Db> {
        &self.pool
    }
}

impl<D: SqlxDriver> Clone for SqlxBackend<D> {
    fn clone(&self) -> Self {
        SqlxBackend {
            pool: self.pool.clone(),
            mappings: self.mappings.clone(),
        }
    }
}

impl<D: SqlxDriver> fmt::Debug for SqlxBackend<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlxBackend")
            .field("backend", &D::NAME)
            .field("pool_size", &self.pool.size())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<D: SqlxDriver> SqlBackend for SqlxBackend<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db> + Send,
{
    fn name(&self) -> &'static str {
        D::NAME
    }

    fn dialect(&self) -> &dyn Dialect {
        D::dialect()
    }

    fn mapping_registry(&self) -> &MappingRegistry {
        &self.mappings
    }

    async fn connect(&self, mode: TxMode) -> Result<Box<dyn SqlConn>> {
        let begin = match mode {
            TxMode::None => {
                let conn = self.pool.acquire().await.map_err(D::map_err)?;
                return Ok(Box::new(SqlxConn::<D>::Plain(conn)));
            }
            TxMode::Read => D::BEGIN_READ,
            TxMode::Write => D::BEGIN_WRITE,
        };
        let tx = match begin {
            Some(begin) => self.pool.begin_with(begin).await,
            None => self.pool.begin().await,
        };
        let conn = SqlxConn::<D>::Tx(tx.map_err(D::map_err)?);
        Ok(Box::new(conn))
    }

    async fn close_pool(&self) -> Result<()> {
        self.pool.close().await;
        Ok(())
    }

    fn notify_changes(
        &self,
        wake: std::sync::Arc<tokio::sync::Notify>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        D::notify_changes(&self.pool, wake)
    }
}

/// sqlx pool options for driver `D` from the shared [`PoolSettings`].
pub fn pool_options<D: SqlxDriver>(s: &PoolSettings) -> sqlx::pool::PoolOptions<D::Db> {
    sqlx::pool::PoolOptions::new()
        .test_before_acquire(D::CHECK_BEFORE_ACQUIRE)
        .min_connections(s.effective_min())
        .max_connections(s.max_connections)
        .acquire_timeout(s.acquire_timeout)
        .idle_timeout(s.idle_timeout)
        .max_lifetime(s.max_lifetime)
}
