//! Connection options.

use std::str::FromStr;
use std::time::Duration;

use crate::PgDriver;
use sqlx::postgres::PgConnectOptions;

use crate::error::map_err;
use crate::PostgresDao;
use cheap_core::{CheapError, Result};
use cheap_sql::sqlx_conn::pool_options;
use cheap_sql::PoolSettings;

/// How to open a PostgreSQL store. Defaults: create the schema, 1 to 10 connections, acquire
/// timeout 5 s, idle timeout 10 min, max lifetime 30 min, sqlx's statement cache on.
#[derive(Debug, Clone)]
#[must_use]
pub struct PostgresOptions {
    connect: PgConnectOptions,
    url: Option<String>,
    init_schema: bool,
    schema: Option<String>,
    pool: PoolSettings,
    statement_cache: Option<usize>,
}

impl PostgresOptions {
    fn with(connect: PgConnectOptions, url: Option<String>) -> Self {
        PostgresOptions {
            connect,
            url,
            init_schema: true,
            schema: None,
            pool: PoolSettings::with_max(10),
            statement_cache: None,
        }
    }

    /// From a URL: `postgres://user:password@host:5432/dbname`.
    pub fn url(url: impl Into<String>) -> Self {
        let url = url.into();
        PostgresOptions::with(PgConnectOptions::new(), Some(url))
    }

    /// From parts.
    pub fn new(host: &str, port: u16, dbname: &str, user: &str, password: &str) -> Self {
        let o = PgConnectOptions::new()
            .host(host)
            .port(port)
            .database(dbname)
            .username(user)
            .password(password);
        PostgresOptions::with(o, None)
    }

    /// Whether to create the schema on connect (default true).
    pub fn init_schema(mut self, yes: bool) -> Self {
        self.init_schema = yes;
        self
    }

    /// Keeps the tables in this PostgreSQL schema (created if missing) instead of `public`.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// Connections kept open (default 1).
    pub fn min_connections(mut self, n: u32) -> Self {
        self.pool = self.pool.min_connections(n);
        self
    }

    /// Most connections at once (default 10).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.pool = self.pool.max_connections(n);
        self
    }

    /// How long a call waits for a connection before failing with `Unavailable` (5 s).
    pub fn acquire_timeout(mut self, d: Duration) -> Self {
        self.pool = self.pool.acquire_timeout(d);
        self
    }

    /// Close connections idle this long (10 min; `None` keeps them).
    pub fn idle_timeout(mut self, d: Option<Duration>) -> Self {
        self.pool = self.pool.idle_timeout(d);
        self
    }

    /// Replace connections this old (30 min; `None` keeps them).
    pub fn max_lifetime(mut self, d: Option<Duration>) -> Self {
        self.pool = self.pool.max_lifetime(d);
        self
    }

    /// Prepared statements cached per connection; 0 turns the cache off, as PgBouncer's
    /// transaction mode needs.
    pub fn statement_cache_capacity(mut self, n: usize) -> Self {
        self.statement_cache = Some(n);
        self
    }

    /// All pool settings at once.
    pub fn pool_settings(mut self, settings: PoolSettings) -> Self {
        self.pool = settings;
        self
    }

    /// Opens the pool (and creates the schema when asked).
    pub async fn connect(self) -> Result<PostgresDao> {
        let mut o = match &self.url {
            Some(u) => PgConnectOptions::from_str(u)
                .map_err(|e| CheapError::invalid(format!("bad PostgreSQL URL: {e}")))?,
            None => self.connect.clone(),
        };
        // `CREATE ... IF NOT EXISTS` on an existing schema sends a NOTICE per object, which
        // sqlx logs; an operator wants warnings, not 34 lines of "already exists, skipping".
        o = o.options([("client_min_messages", "warning")]);
        if let Some(n) = self.statement_cache {
            o = o.statement_cache_capacity(n);
        }
        if let Some(schema) = &self.schema {
            if !schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
                || schema.is_empty()
            {
                return Err(CheapError::invalid(format!(
                    "schema name '{schema}' must be a plain identifier"
                )));
            }
            // Create it first, on a connection of its own.
            let mut setup = sqlx::ConnectOptions::connect(&o).await.map_err(map_err)?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(&mut setup)
                .await
                .map_err(map_err)?;
            let _ = sqlx::Connection::close(setup).await;
            o = o.options([("search_path", schema.as_str())]);
        }
        let pool = match pool_options::<PgDriver>(&self.pool)
            .connect_with(o.clone())
            .await
        {
            Ok(pool) => pool,
            // The pool reports only that it timed out; one direct attempt says why (connection
            // refused, authentication failed, no such database).
            Err(sqlx::Error::PoolTimedOut) => {
                return Err(match sqlx::ConnectOptions::connect(&o).await {
                    Err(e) => map_err(e),
                    Ok(_) => map_err(sqlx::Error::PoolTimedOut),
                })
            }
            Err(e) => return Err(map_err(e)),
        };
        let dao = PostgresDao::from_pool(pool);
        if self.init_schema {
            dao.init_schema().await?;
        }
        Ok(dao)
    }
}
