//! Connection options.

use std::str::FromStr;
use std::time::Duration;

use crate::SqliteDriver;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};

use crate::error::map_err;
use crate::SqliteDao;
use cheap_core::{CheapError, Result};
use cheap_sql::sqlx_conn::pool_options;
use cheap_sql::PoolSettings;

/// The default page cache of a pool, in bytes.
pub const DEFAULT_PAGE_CACHE: u64 = 64 << 20;
/// The default memory map of a connection, in bytes: none. Every connection maps the file on
/// its own, so a process's RSS counts each mapped page once per connection (8 connections over
/// a 16 MiB database showed 139 MiB of it).
pub const DEFAULT_MMAP: u64 = 0;

/// How to open a SQLite store. Defaults: create the file if missing, create the schema, WAL,
/// `synchronous=NORMAL`, busy timeout 5 s, 1 to 8 connections, acquire timeout 5 s, idle
/// timeout 10 min, max lifetime 30 min, a page cache of [`DEFAULT_PAGE_CACHE`] for the whole
/// pool and a memory map of [`DEFAULT_MMAP`] per connection. An in-memory database uses one connection kept for the
/// pool's lifetime: its data would vanish with the last connection, and SQLite's shared cache
/// makes concurrent connections fail instead of wait.
#[derive(Debug, Clone)]
#[must_use]
pub struct SqliteOptions {
    target: Target,
    init_schema: bool,
    pool: PoolSettings,
    busy_timeout: Duration,
    page_cache: u64,
    mmap: u64,
}

#[derive(Debug, Clone)]
enum Target {
    Url(String),
    Path(std::path::PathBuf),
    Memory,
}

impl SqliteOptions {
    fn with_target(target: Target) -> Self {
        SqliteOptions {
            target,
            init_schema: true,
            pool: PoolSettings::with_max(8),
            busy_timeout: Duration::from_secs(5),
            page_cache: DEFAULT_PAGE_CACHE,
            mmap: DEFAULT_MMAP,
        }
    }

    /// From a URL: `sqlite://path/to.db`, `sqlite:path.db?mode=rwc`, `sqlite::memory:`.
    pub fn url(url: impl Into<String>) -> Self {
        SqliteOptions::with_target(Target::Url(url.into()))
    }

    /// A database file, created when missing.
    pub fn path(path: impl Into<std::path::PathBuf>) -> Self {
        SqliteOptions::with_target(Target::Path(path.into()))
    }

    /// A private in-memory database shared by the pool's connections.
    pub fn in_memory() -> Self {
        SqliteOptions::with_target(Target::Memory)
    }

    /// Whether to create the schema on connect (default true).
    pub fn init_schema(mut self, yes: bool) -> Self {
        self.init_schema = yes;
        self
    }

    /// Connections kept open (default 1).
    pub fn min_connections(mut self, n: u32) -> Self {
        self.pool = self.pool.min_connections(n);
        self
    }

    /// Most connections open at once (default 8).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.pool = self.pool.max_connections(n);
        self
    }

    /// How long a call waits for a free connection before failing with `Unavailable` (5 s).
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

    /// SQLite's page cache for the whole pool, in bytes (default 64 MiB), shared out evenly
    /// between its connections: more connections do not multiply the memory a store takes.
    pub fn page_cache(mut self, bytes: u64) -> Self {
        self.page_cache = bytes;
        self
    }

    /// How much of the database file each connection reads through a memory map, in bytes
    /// (default 0: off). Mapped pages are the operating system's file cache, given back under
    /// memory pressure, but they count in the process's RSS once per connection that maps
    /// them. A load of a large catalog on a cold connection was about 1.5x faster with 256 MiB
    /// (116,269 -> 183,142 rows/s, `cheap-bench dao`).
    pub fn mmap_size(mut self, bytes: u64) -> Self {
        self.mmap = bytes;
        self
    }

    /// How long a statement waits on a locked database before failing with `Unavailable` (5 s).
    pub fn busy_timeout(mut self, d: Duration) -> Self {
        self.busy_timeout = d;
        self
    }

    /// All pool settings at once.
    pub fn pool_settings(mut self, settings: PoolSettings) -> Self {
        self.pool = settings;
        self
    }

    /// Opens the pool (and creates the schema when asked).
    pub async fn connect(self) -> Result<SqliteDao> {
        let (base, memory) = match &self.target {
            Target::Url(u) => {
                let opts = SqliteConnectOptions::from_str(u)
                    .map_err(|e| CheapError::invalid(format!("bad SQLite URL '{u}': {e}")))?;
                let memory = u.contains(":memory:") || u.contains("mode=memory");
                // A URL without an explicit mode may create the file, as a new user expects.
                let opts = if u.contains("mode=") {
                    opts
                } else {
                    opts.create_if_missing(true)
                };
                (opts, memory)
            }
            Target::Path(p) => (
                SqliteConnectOptions::new()
                    .filename(p)
                    .create_if_missing(true),
                false,
            ),
            Target::Memory => (
                SqliteConnectOptions::from_str("sqlite::memory:").map_err(map_err)?,
                true,
            ),
        };
        let connections = if memory {
            1
        } else {
            u64::from(self.pool.max_connections.max(1))
        };
        let per_connection_kib = (self.page_cache / 1024 / connections).max(256);
        let opts = base
            .foreign_keys(true)
            .busy_timeout(self.busy_timeout)
            .journal_mode(if memory {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            .synchronous(SqliteSynchronous::Normal)
            // The pool's page cache shared out between its connections (a negative cache_size
            // is KiB): big saves and loads otherwise thrash the default 2 MiB on the value
            // table's indexes.
            .pragma("cache_size", format!("-{}", per_connection_kib))
            .pragma("temp_store", "memory")
            // Reads through a memory map: a connection with a cold page cache (a load on another
            // connection than the save) reads pages without a pread and a copy each.
            .pragma("mmap_size", self.mmap.to_string());
        // An in-memory database lives in SQLite's shared cache, whose table locks fail at once
        // ("database is deadlocked") instead of waiting on the busy timeout; one connection,
        // kept for the pool's lifetime, serializes access and keeps the data alive.
        let settings = if memory {
            self.pool.single()
        } else {
            self.pool
        };
        let pool = pool_options::<SqliteDriver>(&settings)
            .connect_with(opts)
            .await
            .map_err(map_err)?;
        let dao = SqliteDao::from_pool(pool);
        if self.init_schema {
            dao.init_schema().await?;
        }
        Ok(dao)
    }
}
