//! Opening a store from a URL for the `cheap` command, which has every backend compiled in.
//! (The `cheap` facade's `connect` does the same for a library, gated by its features; the
//! command cannot use it, because the facade's `server` feature depends on this crate.)

use std::sync::Arc;

use cheap_core::{CheapDao, CheapError, MemoryDao, Result};

/// What the `cheap` command sets on a store beside its URL.
#[derive(Debug, Clone, Default)]
pub struct StoreSettings {
    /// The page cache of a SQLite store's pool, in bytes (`None`: the store's default,
    /// [`cheap_db_sqlite::DEFAULT_PAGE_CACHE`]). Ignored by other stores.
    pub sqlite_page_cache: Option<u64>,
}

/// Opens `memory:`, `sqlite:...`, `postgres://...`, `mysql://`/`mariadb://...` (creating the
/// schema when missing) or `http(s)://...` (a remote `cheap serve`).
pub async fn open(url: &str, settings: &StoreSettings) -> Result<Arc<dyn CheapDao>> {
    let scheme = url
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    Ok(match scheme.as_str() {
        "memory" | "mem" => Arc::new(MemoryDao::new()),
        "sqlite" => {
            let mut options = cheap_db_sqlite::SqliteDao::builder(url);
            if let Some(bytes) = settings.sqlite_page_cache {
                options = options.page_cache(bytes);
            }
            Arc::new(options.connect().await?)
        }
        "postgres" | "postgresql" => Arc::new(cheap_db_postgres::PostgresDao::connect(url).await?),
        "mysql" | "mariadb" => Arc::new(cheap_db_mariadb::MariaDbDao::connect(url).await?),
        // A `cheap serve` elsewhere, through the REST client.
        "http" | "https" => Arc::new(cheap_client::RemoteDao::connect(url)?),
        _ => {
            return Err(CheapError::invalid(format!(
                "unknown store URL scheme '{scheme}': expected memory:, sqlite:, postgres:, mysql: or http:"
            )))
        }
    })
}
