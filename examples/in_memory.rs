//! Two in-memory stores: `memory:` (a process-local `MemoryDao`) and `sqlite::memory:` (SQLite
//! without a file). Both vanish when the program ends.
//!
//! `cargo run --example in_memory`

use cheap::Catalog;

#[tokio::main]
async fn main() -> cheap::Result<()> {
    for url in ["memory:", "sqlite::memory:"] {
        let dao = cheap::connect(url).await?;
        let mut catalog = Catalog::new();
        catalog
            .create_entity_set("tags")?
            .add(cheap::Uuid::new_v4());
        dao.save_catalog(&catalog).await?;
        let loaded = dao.load_catalog(catalog.id()).await?;
        println!(
            "{url:<16} {} backend, catalog {} has {} hierarchy",
            dao.backend_name(),
            loaded.id(),
            loaded.hierarchies().count()
        );
        dao.close().await?;
    }
    Ok(())
}
