//! Opening a store from a URL for the `cheap` command, which has every backend compiled in.
//! (The `cheap` facade's `connect` does the same for a library, gated by its features; the
//! command cannot use it, because the facade's `server` feature depends on this crate.)

use std::sync::Arc;

use cheap_core::{CheapDao, CheapError, MemoryDao, Result};

/// Opens `memory:`, `sqlite:...`, `postgres://...`, `mysql://`/`mariadb://...` (creating the
/// schema when missing) or `http(s)://...` (a remote `cheap serve`).
pub async fn open(url: &str) -> Result<Arc<dyn CheapDao>> {
    let scheme = url
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    Ok(match scheme.as_str() {
        "memory" | "mem" => Arc::new(MemoryDao::new()),
        "sqlite" => Arc::new(cheap_db_sqlite::SqliteDao::connect(url).await?),
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
