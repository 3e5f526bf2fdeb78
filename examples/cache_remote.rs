//! A local SQLite CACHE of a catalog served by a remote `cheap serve`: reads are served from
//! the local file and refreshed when older than a TTL; writes go to the server first.
//!
//! Start a server with `cargo run -p cheap-server -- serve`, then run
//! `cargo run --example cache_remote --features client` (the URL comes from `CHEAP_URL`,
//! default `http://127.0.0.1:8080`).

use std::sync::Arc;
use std::time::Duration;

use cheap::client::RemoteDao;
use cheap::sync::{Replica, SpeciesDao};
use cheap::{
    Aspect, AspectDef, Catalog, CatalogSpecies, CheapDao, PropertyDef, PropertyType, Uuid,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("CHEAP_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    // The server, seen as a store like any other.
    let upstream: Arc<dyn CheapDao> = Arc::new(RemoteDao::connect(&url)?);

    // Something to cache: a catalog of prices on the server.
    let price = AspectDef::builder("com.example.price")
        .property(PropertyDef::new("sku", PropertyType::String).nullable(false))
        .property(PropertyDef::new("cents", PropertyType::Integer))
        .build()?
        .into_arc();
    let mut catalog = Catalog::new();
    let widget = Uuid::new_v4();
    catalog.extend(price.clone())?.put(
        Aspect::builder(price.clone(), widget)
            .set("sku", "W-1")
            .set("cents", 1999)
            .build()?,
    )?;
    upstream.save_catalog(&catalog).await?;
    let id = catalog.id();

    // The local cache: a SQLite file beside this program (removed at the end).
    let dir = std::env::temp_dir().join(format!("cheap-cache-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let local: Arc<dyn CheapDao> = Arc::new(
        cheap::sqlite::SqliteDao::connect(&format!("sqlite://{}/cache.db", dir.display())).await?,
    );
    let report = Replica::new(local.clone(), upstream.clone(), id)
        .checkout(CatalogSpecies::Cache)
        .await?;
    println!("cached catalog {id}: {} aspect(s)", report.aspects_copied);

    // Reads and writes through the species rules: a zero TTL refreshes on every read.
    let cache = SpeciesDao::new(local.clone())
        .with_upstream(upstream.clone())
        .with_ttl(Duration::ZERO);
    upstream
        .upsert_aspects(
            id,
            price.name(),
            &[Aspect::builder(price.clone(), widget)
                .set("sku", "W-1")
                .set("cents", 1799)
                .build()?],
        )
        .await?;
    let seen = cache.query_aspects(id, &[widget], &[]).await?;
    let cents = seen[0].get(widget).and_then(|a| a.get("cents")).cloned();
    println!("after a change on the server, the cache reads {cents:?}");

    let gadget = Uuid::new_v4();
    cache
        .upsert_aspects(
            id,
            price.name(),
            &[Aspect::builder(price.clone(), gadget)
                .set("sku", "G-7")
                .set("cents", 4999)
                .build()?],
        )
        .await?;
    let on_server = upstream.query_aspects(id, &[gadget], &[]).await?;
    println!(
        "a write through the cache reached the server: {}",
        on_server[0].get(gadget).is_some()
    );

    upstream.delete_catalog(id).await?;
    local.close().await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
